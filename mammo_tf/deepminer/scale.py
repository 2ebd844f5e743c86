# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""DeepMiner's scale step: the size a whole mammogram is resized to before its patch
classifier (or the whole-image model) sees it, so lesions are at the scale it was trained on.

DeepMiner, section 2.1: the training patches are "25% of the width of the original
mammogram"; the authors' code resizes the short side of every whole mammogram to 4x the patch
size before the fully convolutional pass. A mammogram at the file's own resolution can be 2-4x
off that scale, which changes every unit's activation, the ranked units and the class map.

Rules (``resolve_scale``; the record of the one used goes into every explanation):

* ``model input`` (a whole-image run: ``whole_top`` / ``whole_heatmap``, transfers included):
  the image is resized to the run's recorded input size, as its training and predict did
  (aspect ratio not kept, the paper's 1152x896); the patch classifier inside then sees the
  lesions as it does inside the whole-image model's decision.
* ``pixel spacing`` (a patch run): image spacing (DICOM header, or stated) / the spacing of the
  images the run's patches were cut from (run.json ``details.pixel_spacing_mm``).
* ``paper``: short side = 4 x the patch size (DeepMiner; the patch is 25% of the width).
* ``native``: the image as it is (the user states it is at the training scale).
* ``factor``: a stated resize factor.

Anything else is unknown and ``resolve_scale`` refuses (``UsageError`` naming the flags).
"""
import dataclasses
import os

from mammo_tf.errors import UsageError

PAPER_PATCHES_PER_SHORT_SIDE = 4  # DeepMiner: window = 25% of the width; code: short side 4x
WHOLE_IMAGE_KINDS = ("whole_top", "whole_heatmap")
SCALE_CHOICES = "auto, paper, native or a factor"
STATE_IT = ("state it: --scale paper (DeepMiner's rule: short side = %d x the patch size), "
            "--scale native (the image is already at the training scale), --scale FACTOR, or "
            "--pixel-spacing MM (the image's pixel spacing, with a patch run that records its "
            "own)" % PAPER_PATCHES_PER_SHORT_SIDE)


@dataclasses.dataclass
class Scale:
    """How a whole mammogram is resized for the explained network (see the module docstring)."""

    rule: str  # "model input", "pixel spacing", "paper", "native", "factor"
    size: tuple | None = None  # model input: the fixed (height, width)
    factor: float | None = None  # factor, pixel spacing: output / input size
    patch_size: int | None = None  # paper: short side = 4 x patch_size
    train_spacing: float | None = None  # pixel spacing: mm of the training images
    pixel_spacing: float | None = None  # pixel spacing: the stated spacing of the image
    source: str = ""

    def target_size(self, shape, path=None):
        """(height, width) an image of ``shape`` (from ``path``) is resized to."""
        height, width = int(shape[0]), int(shape[1])
        if self.rule == "model input":
            return tuple(int(s) for s in self.size)
        if self.rule == "native":
            return height, width
        if self.rule == "paper":
            factor = PAPER_PATCHES_PER_SHORT_SIDE * self.patch_size / min(height, width)
        elif self.rule == "pixel spacing":
            spacing = self.pixel_spacing or _file_spacing(path)
            if spacing is None:
                raise UsageError(f"{path or 'the image'}: no pixel spacing in the file; the patch "
                                 f"classifier was trained on {self.train_spacing} mm pixels: " + STATE_IT)
            factor = spacing / self.train_spacing
        else:
            factor = self.factor
        return max(1, round(height * factor)), max(1, round(width * factor))

    def record(self, shape, path=None):
        """JSON-ready description of the resize of one image."""
        target = self.target_size(shape, path)
        out = {"rule": self.rule, "source": self.source, "from_size": [int(shape[0]), int(shape[1])],
               "to_size": list(target),
               "factor": [target[0] / int(shape[0]), target[1] / int(shape[1])]}
        if self.rule == "pixel spacing":
            out["image_pixel_spacing_mm"] = self.pixel_spacing or _file_spacing(path)
            out["training_pixel_spacing_mm"] = self.train_spacing
        if self.rule == "paper":
            out["patch_size"] = self.patch_size
        return out


def _file_spacing(path):
    if path is None:
        return None
    from mammo_tf.io.dicom import image_pixel_spacing

    return image_pixel_spacing(os.fspath(path))


def resolve_scale(info=None, patch_size=None, scale=None, pixel_spacing=None):
    """The ``Scale`` for a run (``info``: its ``RunInfo``, None for a model without run.json).

    ``scale``: None / "auto" (from the run), "paper", "native" or a factor (float or its
    string); ``pixel_spacing``: the image's spacing in mm where its file does not record it
    (a patch run). ``patch_size``: the patch classifier's input side (the paper rule). Raises
    ``UsageError`` when the scale cannot be known, naming how to state it."""
    if scale not in (None, "auto"):
        if scale == "native":
            return Scale("native", source="stated (--scale native)")
        if scale == "paper":
            if not patch_size:
                raise UsageError("--scale paper needs the patch size (a model with a fixed input size)")
            return Scale("paper", patch_size=int(patch_size),
                         source="DeepMiner: short side = %d x the %d px patch" % (
                             PAPER_PATCHES_PER_SHORT_SIDE, int(patch_size)))
        try:
            factor = float(scale)
        except (TypeError, ValueError):
            raise UsageError(f"--scale must be {SCALE_CHOICES}, got {scale!r}") from None
        if not factor > 0:
            raise UsageError(f"--scale factor must be positive, got {scale!r}")
        return Scale("factor", factor=factor, source=f"stated (--scale {factor:g})")
    if info is None:
        raise UsageError("the model has no run.json (an in-memory model or a .keras file outside a "
                         "run folder), so the scale its patch classifier was trained at is unknown: "
                         + STATE_IT)
    if info.kind in WHOLE_IMAGE_KINDS and info.input_size and None not in info.input_size:
        return Scale("model input", size=tuple(info.input_size),
                     source=f"the {info.kind} run's input size {info.input_size[0]}x{info.input_size[1]}")
    train_spacing = (info.details or {}).get("pixel_spacing_mm")
    if info.kind == "patch" and train_spacing:
        return Scale("pixel spacing", train_spacing=float(train_spacing),
                     pixel_spacing=None if pixel_spacing is None else float(pixel_spacing),
                     source=f"the patch run's training pixel spacing {float(train_spacing):g} mm")
    raise UsageError(f"the {info.kind} run records no pixel spacing of its training images, so the "
                     "scale of a whole mammogram for its patch classifier is unknown: " + STATE_IT)
