"""Subgroup columns the loaders fill (issue 14, "Subgroups": "columns that the loaders know are
filled in by them (INbreast ACR, CBIS-DDSM breast density, DICOM Manufacturer)"), and their way
from the manifest through predict's CSV into the screening report's subgroup table."""
import csv
import json
import os

import numpy as np
import pytest

from data_layer_fixtures import make_dicom, write_inbreast
from mammo_tf.datasets import subgroups as S
from mammo_tf.datasets.cmmd import load_cmmd
from mammo_tf.datasets.convert import ImageRecord, convert_records
from mammo_tf.datasets.embed import load_embed
from mammo_tf.datasets.manifest import SUBGROUP_COLUMNS, items_from_manifest, read_manifest
from mammo_tf.datasets.prepare import prepare
from mammo_tf.datasets.rsna import load_rsna
from mammo_tf.datasets.vindr_mammo import load_vindr_mammo
from test_datasets_screening import write_cmmd, write_embed, write_rsna, write_vindr


def _header(path):
    with open(path, newline="") as f:
        return next(csv.reader(f))


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_value_rules_by_hand():
    assert [S.density_category(v) for v in (1, "2", "3.0", "4", "0", "DENSITY C", "b", "5", "", None)] == \
        ["A", "B", "C", "D", "", "C", "B", "", "", ""]
    assert [S.parse_age(v) for v in ("055Y", "61", "61.0", "001D", "003M", "removed", "", "100Y")] == \
        [55, 61, 61, None, None, None, None, 100]
    assert [S.age_band(v) for v in (None, 0, 39, 40, 49, 50, 59, 60, 69, 70, 100)] == \
        ["", "<40", "<40", "40-49", "40-49", "50-59", "50-59", "60-69", "60-69", "70+", "70+"]
    assert S.subgroup_values(density="3", age="47") == {"density": "C", "age": "47", "age_band": "40-49"}
    # a table's value wins over the DICOM header's; age and band move together
    assert S.merged({"age": "47", "age_band": "40-49"}, {"age": "50", "age_band": "50-59", "manufacturer": "X"}) == \
        {"age": "47", "age_band": "40-49", "manufacturer": "X"}


def test_real_cbis_csv_densities_map_to_letters(shared_data):
    from mammo_tf.datasets.cbis_ddsm import read_case_csv

    cases, problems = read_case_csv(shared_data / "cbis_ddsm_csv" / "calc_case_description_test_set.csv")
    assert problems == []
    letters = [S.density_category(c.density) for c in cases]
    # the file's 'breast density' column: 24 x 1, 115 x 2, 115 x 3, 70 x 4 and 2 x 0 (unknown)
    assert {k: letters.count(k) for k in "ABCD"} == {"A": 24, "B": 115, "C": 115, "D": 70}
    assert letters.count("") == 2


# ---------------------------------------------------------------- INbreast ACR


def write_inbreast_with_acr(root, n_patients=8):
    """INbreast layout; ACR 1 or 3 by patient, Bi-Rads mixed so each density has both labels."""
    images, lines = [], ["Patient ID;Patient age;Laterality;View;Acquisition date;File Name;ACR;Bi-Rads"]
    for p in range(n_patients):
        for k, (side, view) in enumerate([("L", "CC"), ("L", "MLO"), ("R", "CC"), ("R", "MLO")]):
            file_name = str(50000000 + 10 * p + k)
            birads = "5" if (side == "L") == (p % 4 < 2) else "1"
            images.append((file_name, f"hash{p:02d}", side, view, birads, None))
            age = "removed" if p == 0 else str(42 + 5 * p)
            lines.append(f"removed;{age};{side};{view};201001;{file_name};{1 if p % 2 else 3};{birads}")
    write_inbreast(root, images)
    with open(os.path.join(root, "INbreast.csv"), "w", newline="", encoding="utf-8") as f:
        f.write("\r\n".join(lines) + "\r\n")
    return images


def test_inbreast_acr_and_age_fill_the_manifest(tmp_path):
    write_inbreast_with_acr(tmp_path / "inb")
    manifest, _ = prepare("inbreast", tmp_path / "inb", tmp_path / "out", size=(32, 32), progress=False)
    header = _header(manifest)
    assert {"density", "age", "age_band"} <= set(header)
    assert "manufacturer" not in header  # the fixture's DICOMs name no manufacturer
    rows = _rows(manifest)
    assert len(rows) == 32
    for row in rows:
        p = int(row["patient_id"][-2:])
        assert row["density"] == ("A" if p % 2 else "C")
        assert (row["age"], row["age_band"]) == (("", "") if p == 0 else (str(42 + 5 * p), S.age_band(42 + 5 * p)))
    kept = read_manifest(manifest)  # the documented reader keeps the subgroup columns
    assert {r["density"] for r in kept} == {"A", "C"}


# ---------------------------------------------------------------- CBIS-DDSM breast density


def test_cbis_breast_density_of_both_csv_spellings_fills_the_manifest(tmp_path):
    """The phantom writes CBIS-DDSM's four CSVs (``breast_density`` in the mass files, ``breast
    density`` in the calc files) and DICOM tree; the CBIS-DDSM loader reads them."""
    from mammo_tf.datasets.cbis_ddsm import find_case_csvs, read_case_csv

    manifest, _ = prepare("phantom", None, tmp_path / "out", size=(32, 24), n_patients=6,
                          phantom_size=(96, 64), progress=False)
    expected = {}
    for path in find_case_csvs(tmp_path / "out" / "source"):
        for case in read_case_csv(path)[0]:
            expected.setdefault(case.image_id, set()).add(S.density_category(case.density))
    rows = _rows(manifest)
    with_findings = [r for r in rows if r["image_id"] in expected]
    assert with_findings and "density" in _header(manifest)
    for row in with_findings:
        assert {row["density"]} == expected[row["image_id"]]
    assert all(r["density"] == "" for r in rows if r["image_id"] not in expected)  # normals: no CSV row
    assert {r["density"] for r in with_findings} <= set("ABCD")


# ---------------------------------------------------------------- DICOM Manufacturer


def test_dicom_manufacturer_model_and_age_also_on_resume(tmp_path):
    rng = np.random.default_rng(0)
    records = []
    for i, (maker, model, age) in enumerate([("HOLOGIC, Inc.", "Selenia Dimensions", "058Y"),
                                             ("GE MEDICAL SYSTEMS", "Senographe Essential", "071Y")]):
        path = tmp_path / "src" / f"{i}.dcm"
        make_dicom(path, rng.integers(0, 4096, (40, 30)).astype(np.uint16), bits_stored=12,
                   Manufacturer=maker, ManufacturerModelName=model, PatientAge=age)
        records.append(ImageRecord(f"im{i}", f"p{i}", "L", "CC", i, "BENIGN", [], str(path),
                                   subgroups={"density": "B"} if i else {}))
    first = convert_records(records, tmp_path / "out", size=(16, 12), progress=False)
    assert [(r["manufacturer"], r["manufacturer_model"], r["age"], r["age_band"]) for r in first] == [
        ("HOLOGIC, Inc.", "Selenia Dimensions", "58", "50-59"),
        ("GE MEDICAL SYSTEMS", "Senographe Essential", "71", "70+")]
    assert "density" not in first[0] and first[1]["density"] == "B"
    assert convert_records(records, tmp_path / "out", size=(16, 12), progress=False) == first  # resumed
    sidecar = tmp_path / "out" / "records" / "im0.json"
    done = json.loads(sidecar.read_text())
    for key in ("manufacturer", "manufacturer_model", "patient_age"):
        del done["source_metadata"][key]  # a sidecar written before these facts were recorded
    sidecar.write_text(json.dumps(done))
    assert convert_records(records, tmp_path / "out", size=(16, 12), progress=False) == first
    # a table's age wins over PatientAge
    records[0].subgroups = S.subgroup_values(age="45")
    again = convert_records(records[:1], tmp_path / "out", size=(16, 12), progress=False)[0]
    assert (again["age"], again["age_band"], again["manufacturer"]) == ("45", "40-49", "HOLOGIC, Inc.")


def test_real_vendor_headers_give_manufacturer(shared_data, tmp_path):
    folder = shared_data / "dicom_mg_headers"
    records = [ImageRecord(name[:-4], "p", "L", "CC", 0, "NORMAL", [], str(folder / name))
               for name in ("MG-Im-GE_Seno_1_ForPresentation.dcm", "MG-Im-GE-SenDS-scaled.dcm")]
    rows = convert_records(records, tmp_path / "out", size=(8, 8), progress=False)
    assert len(rows) == 2
    for row in rows:
        assert (row["manufacturer"], row["manufacturer_model"]) == ("GE MEDICAL SYSTEMS", "Senograph DS ADS_43.10.1")
        assert "age" not in row  # PatientAge "001D" (anonymised): no adult age


# ---------------------------------------------------------------- the table-driven loaders


def test_rsna_cmmd_vindr_embed_table_columns(tmp_path):
    write_rsna(tmp_path / "rsna", n_patients=3)
    assert {(r.subgroups["density"], r.subgroups["age"], r.subgroups["age_band"])
            for r in load_rsna(tmp_path / "rsna")} == {("B", "55", "50-59")}
    write_cmmd(tmp_path / "cmmd", n_patients=2)
    assert {tuple(sorted(r.subgroups.items())) for r in load_cmmd(tmp_path / "cmmd")} == \
        {(("age", "50"), ("age_band", "50-59"))}
    write_vindr(tmp_path / "vindr", n_studies=4)
    assert {r.subgroups.get("density") for r in load_vindr_mammo(tmp_path / "vindr")} == {"C"}
    write_embed(tmp_path / "embed", n_patients=4)
    clinical = tmp_path / "embed" / "tables" / "EMBED_OpenData_clinical.csv"
    rows = _rows(clinical)
    columns = list(rows[0]) + ["age_at_study"]
    for row in rows:
        row.update(tissueden="4", age_at_study="63.0")
    with open(clinical, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    records = load_embed(tmp_path / "embed")
    assert records and {(r.subgroups["density"], r.subgroups["age_band"]) for r in records} == {("D", "60-69")}


def test_rsna_manifest_has_the_columns(tmp_path):
    write_rsna(tmp_path / "rsna", n_patients=4)
    manifest, _ = prepare("rsna", tmp_path / "rsna", tmp_path / "out", size=(20, 16), progress=False)
    header = _header(manifest)
    assert [c for c in SUBGROUP_COLUMNS if c in header] == ["density", "age", "age_band"]
    assert {(r["density"], r["age_band"]) for r in _rows(manifest)} == {("B", "50-59")}
    items = items_from_manifest(manifest)  # what predict carries into its CSV
    assert {tuple(sorted(i.info)) for i in items} == {("age", "age_band", "density", "patient_id", "side", "view")}


# ---------------------------------------------------------------- manifest -> predict CSV -> evaluate


def test_density_flows_from_manifest_through_predict_csv_into_the_report(tmp_path, capsys):
    from mammo_tf.commands import main as cli
    from predict_fixtures import load_predict_script as _load_script, position_sensitive_model, save_in_run

    write_inbreast_with_acr(tmp_path / "inb")
    manifest, _ = prepare("inbreast", tmp_path / "inb", tmp_path / "data", size=(32, 32), progress=False)
    model = save_in_run(position_sensitive_model(), tmp_path / "run")
    preds = tmp_path / "preds.csv"
    assert _load_script().main([str(manifest), "--model", str(model), "--out", str(preds), "--n-boot", "20",
                                "--no-progress"]) == 0
    rows = _rows(preds)
    assert len(rows) == 32
    assert {"patient_id", "side", "view", "density", "age_band"} <= set(rows[0])
    by_id = {r["image_id"]: r for r in _rows(manifest)}
    assert all(r["density"] == by_id[r["image_id"]]["density"] for r in rows)
    # the prediction CSV alone (no --manifest) and with the manifest give the same subgroup table
    for extra, out in (([], tmp_path / "rep"), (["--manifest", str(manifest)], tmp_path / "rep_m")):
        assert cli(["evaluate", str(preds), *extra, "--subgroup", "density", "--subgroup", "age_band",
                    "--n-boot", "20", "--out", str(out)]) == 0
    capsys.readouterr()
    reports = [json.loads((tmp_path / d / "report.json").read_text()) for d in ("rep", "rep_m")]
    for report in reports:
        levels = report["models"]["preds"]["levels"]
        assert set(levels) == {"image", "breast", "exam"}  # side and patient came along
        for level in levels:
            table = levels[level]["subgroups"]["density"]
            assert [r["value"] for r in table] == ["A", "C"]
            assert sum(r["n"] for r in table) == levels[level]["n"]
        image_rows = levels["image"]["subgroups"]["density"]
        assert [r["n"] for r in image_rows] == [16, 16] and all(r["auc"] is not None for r in image_rows)
        assert "subgroups_preds_image" in report["images"]
    assert reports[0]["models"]["preds"]["levels"]["breast"]["subgroups"] == \
        reports[1]["models"]["preds"]["levels"]["breast"]["subgroups"]
    html = (tmp_path / "rep" / "report.html").read_text()
    assert "<h2>Subgroups</h2>" in html and "density" in html
