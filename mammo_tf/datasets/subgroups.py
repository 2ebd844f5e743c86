# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Subgroup columns of the manifest (``mammo_tf.datasets.manifest.SUBGROUP_COLUMNS``), filled
by the loaders where the data has them, for the screening report's subgroup tables
(``mammo-tf evaluate --subgroup density`` ...):

- ``density``: ACR BI-RADS breast density as a letter A-D (a: almost entirely fatty, b:
  scattered fibroglandular, c: heterogeneously dense, d: extremely dense). The 4th-edition
  numbers 1-4 (CBIS-DDSM ``breast_density`` / ``breast density``, INbreast ``ACR``, EMBED
  ``tissueden``) are the same four categories and become A-D; letters (RSNA ``density``,
  VinDr-Mammo ``breast_density`` "DENSITY C") are kept. Anything else (CBIS-DDSM's few 0s,
  EMBED's 5 = male) is left empty.
- ``age`` (whole years) and ``age_band`` (:data:`AGE_BANDS`): from a table's age column
  (RSNA ``age``, CMMD ``Age``, EMBED ``age_at_study``, INbreast ``Patient age`` where not
  "removed") or else the DICOM PatientAge (``"055Y"``; ages in days, weeks or months, such
  as the ``"001D"`` some anonymisers write, are left empty).
- ``manufacturer`` / ``manufacturer_model``: DICOM Manufacturer (0008,0070) and
  ManufacturerModelName (0008,1090), read from every DICOM source while it is converted.

A value a table gives wins over the DICOM header's.
"""
import re

AGE_BANDS = ("<40", "40-49", "50-59", "60-69", "70+")
_DENSITY_NUMBERS = {"1": "A", "2": "B", "3": "C", "4": "D"}
_DICOM_AGE_RE = re.compile(r"^\s*(\d{1,3})\s*([DWMY]?)\s*$", re.I)


def density_category(value):
    """ACR BI-RADS density letter ``"A"``-``"D"`` from ``1``-``4``, ``"a"``-``"d"``,
    ``"DENSITY C"``, ``"2.0"``; ``""`` for empty or unknown values."""
    text = str(value if value is not None else "").strip().upper().replace("DENSITY", "").strip()
    if text.endswith(".0"):
        text = text[:-2]
    if text in _DENSITY_NUMBERS:
        return _DENSITY_NUMBERS[text]
    return text if text in ("A", "B", "C", "D") else ""


def parse_age(value):
    """Age in whole years from a number (``"61"``, ``"61.0"``) or a DICOM Age String
    (``"061Y"``); ``None`` when unknown, and for ages in days / weeks / months (``"001D"``)."""
    text = str(value if value is not None else "").strip()
    if not text:
        return None
    match = _DICOM_AGE_RE.match(text)
    if match:
        number, unit = int(match.group(1)), match.group(2).upper()
        if unit not in ("", "Y"):
            return None
        years = number
    else:
        try:
            years = int(float(text))
        except ValueError:
            return None
    return years if 0 <= years < 130 else None


def age_band(years):
    """``"<40"``, ``"40-49"``, ``"50-59"``, ``"60-69"`` or ``"70+"``; ``""`` when unknown."""
    if years is None:
        return ""
    if years < 40:
        return AGE_BANDS[0]
    if years >= 70:
        return AGE_BANDS[-1]
    low = years // 10 * 10
    return f"{low}-{low + 9}"


def subgroup_values(density=None, age=None, manufacturer=None, manufacturer_model=None):
    """The subgroup columns a loader knows (empty ones left out): density letter, age and its
    band, manufacturer and model."""
    values = {"density": density_category(density)}
    years = parse_age(age)
    if years is not None:
        values.update(age=str(years), age_band=age_band(years))
    values["manufacturer"] = str(manufacturer or "").strip()
    values["manufacturer_model"] = str(manufacturer_model or "").strip()
    return {k: v for k, v in values.items() if v}


def from_dicom_facts(facts):
    """Subgroup values from ``MammogramMetadata`` fields (``manufacturer``,
    ``manufacturer_model``, ``patient_age``) of a DICOM source; empty for PNG / PGM."""
    facts = facts or {}
    return subgroup_values(age=facts.get("patient_age"), manufacturer=facts.get("manufacturer"),
                           manufacturer_model=facts.get("manufacturer_model"))


def merged(table_values, dicom_values):
    """A table's values win over the DICOM header's; age and its band travel together."""
    out = dict(dicom_values or {})
    table_values = {k: v for k, v in (table_values or {}).items() if v}
    if "age" in table_values:
        out.pop("age_band", None)
    out.update(table_values)
    return out
