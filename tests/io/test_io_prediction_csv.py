"""The one prediction-CSV schema (mammo_tf.io.prediction_csv): what the writers write is what the
screening report reads."""
import csv

import numpy as np

from mammo_tf.io import prediction_csv as schema


def test_headers_of_image_and_exam_predictions():
    assert schema.image_header(["negative", "positive"], with_label=True, info=["patient_id"]) == [
        "image_id", "path", "prob_negative", "prob_positive", "n_models", "tta", "label", "patient_id"]
    assert schema.image_header(["a"]) == ["image_id", "path", "prob_a", "n_models", "tta"]
    assert schema.POSITIVE == schema.prob_column("positive") == "prob_positive"
    assert schema.exam_header(["left_malignant", "right_malignant"]) == \
        ["exam_id", "left_malignant", "right_malignant"]
    assert schema.breast_column("right", "benign") == "right_benign"


def test_predict_writer_output_is_read_by_the_screening_report(tmp_path):
    from mammo_tf.datasets.manifest import ImageItem
    from mammo_tf.inference.predict import PredictionResult, write_predictions_csv
    from mammo_tf.screening.report import load_predictions

    items = [ImageItem(f"i{k}", f"/x/i{k}.png", label=k % 2, info={"patient_id": f"p{k // 2}"})
             for k in range(4)]
    p = np.array([0.1, 0.8, 0.3, 0.6])
    result = PredictionResult(items, np.stack([1 - p, p], axis=1), None, ["negative", "positive"],
                              ["m"], False, [])
    path = write_predictions_csv(tmp_path / "p.csv", result)
    with open(path, newline="") as f:
        header = next(csv.reader(f))
    assert header == schema.image_header(["negative", "positive"], True, ["patient_id"])
    units = load_predictions(path)
    np.testing.assert_allclose(units.score, p, atol=1e-6)
    np.testing.assert_array_equal(units.label, [0, 1, 0, 1])
    assert list(units.patient) == ["p0", "p0", "p1", "p1"]
