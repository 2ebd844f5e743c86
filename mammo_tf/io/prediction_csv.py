# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""The prediction-CSV schema: the column names every writer and reader of prediction CSVs uses.

Image predictions (``mammo-tf predict`` / ``predict.py``, ``make demo``; read by the screening
report): ``image_id, path, prob_<class>..., n_models, tta[, label][, manifest facts]``; a binary
model's score is ``prob_positive`` (a ``score`` column is accepted instead; with exactly two
``prob_`` columns the second).
NYU exam predictions (``train_multiview.py``): ``exam_id`` and one column per output, e.g.
``left_benign, right_benign, left_malignant, right_malignant`` (``birads_0..2`` for BI-RADS).
"""
IMAGE_ID = "image_id"
PATH = "path"
LABEL = "label"
N_MODELS = "n_models"
TTA = "tta"
PROB_PREFIX = "prob_"
POSITIVE = PROB_PREFIX + "positive"
SCORE = "score"
EXAM_ID = "exam_id"
# columns of an image prediction CSV that are neither probabilities nor manifest facts
BOOKKEEPING = (N_MODELS, TTA)


def prob_column(class_name):
    """Column of one class's probability: ``prob_<class>``."""
    return PROB_PREFIX + str(class_name)


def is_prob_column(name):
    return str(name).startswith(PROB_PREFIX)


def image_header(class_names, with_label=False, info=()):
    """Header of an image prediction CSV."""
    header = [IMAGE_ID, PATH] + [prob_column(c) for c in class_names] + list(BOOKKEEPING)
    if with_label:
        header.append(LABEL)
    return header + list(info)


def breast_column(side, task):
    """Column of an NYU exam prediction for one breast: ``left_malignant``, ``right_benign``."""
    return f"{side}_{task}"


def exam_header(output_names):
    """Header of an NYU exam prediction CSV: ``exam_id`` + the model's output names."""
    return [EXAM_ID] + list(output_names)
