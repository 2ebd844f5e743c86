# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Skip-and-report bookkeeping shared by the loaders and the converter (``--strict`` stops)."""
import dataclasses
import glob
import os

from mammo_tf.errors import DataError, MissingFileError


class PrepareError(DataError, RuntimeError):
    """Raised at the first problem when a dataset is prepared with ``strict=True``."""


@dataclasses.dataclass
class PrepareReport:
    """What happened while preparing a dataset: counts plus every skipped item and why.

    ``bad_items``: images or table rows that could not be used (unreadable file, missing
    DICOM, malformed row); ``skipped_rois``: ROIs dropped from an otherwise good image (empty
    mask, size mismatch, ...); ``excluded``: items left out on purpose by a labelling rule
    (e.g. INbreast BI-RADS 3) - not errors, never fatal.
    """

    strict: bool = False
    converted: int = 0
    resumed: int = 0
    bad_items: list = dataclasses.field(default_factory=list)
    skipped_rois: list = dataclasses.field(default_factory=list)
    excluded: list = dataclasses.field(default_factory=list)
    notes: list = dataclasses.field(default_factory=list)

    def bad(self, item, reason):
        """Record an unusable item; raises :class:`PrepareError` when strict."""
        self.bad_items.append({"item": str(item), "reason": str(reason)})
        if self.strict:
            raise PrepareError(f"{item}: {reason}")

    def skip_roi(self, image_id, roi_index, reason):
        """Record a dropped ROI; raises :class:`PrepareError` when strict."""
        self.skipped_rois.append({"image_id": str(image_id), "roi_index": int(roi_index), "reason": str(reason)})
        if self.strict:
            raise PrepareError(f"{image_id} ROI {roi_index}: {reason}")

    def exclude(self, item, reason):
        self.excluded.append({"item": str(item), "reason": str(reason)})

    def note(self, text):
        self.notes.append(str(text))

    def to_dict(self):
        return dataclasses.asdict(self)

    def summary(self, max_lines=20):
        """Human-readable closing summary (first ``max_lines`` problems of each kind)."""
        lines = [
            f"images converted: {self.converted}, already converted (skipped): {self.resumed}, "
            f"bad items skipped: {len(self.bad_items)}, ROIs skipped: {len(self.skipped_rois)}, "
            f"excluded by label rule: {len(self.excluded)}"
        ]
        for title, entries, fmt in (
            ("bad items", self.bad_items, lambda e: f"  {e['item']}: {e['reason']}"),
            ("skipped ROIs", self.skipped_rois, lambda e: f"  {e['image_id']} ROI {e['roi_index']}: {e['reason']}"),
        ):
            if entries:
                lines.append(f"{title}:")
                lines.extend(fmt(e) for e in entries[:max_lines])
                if len(entries) > max_lines:
                    lines.append(f"  ... and {len(entries) - max_lines} more (see the JSON report)")
        lines.extend(self.notes)
        return "\n".join(lines)


def find_source_file(src, filename, expected):
    """``src`` itself when it is a file, else the shallowest ``filename`` below it.

    ``expected`` names what the folder should be, for the error message.
    """
    src = os.fspath(src)
    if os.path.isfile(src):
        return src
    matches = sorted(glob.glob(os.path.join(src, "**", filename), recursive=True), key=len)
    if not matches:
        raise MissingFileError(f"{src}: no {filename} found (expected {expected})")
    return matches[0]
