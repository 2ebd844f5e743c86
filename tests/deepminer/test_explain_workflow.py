# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""explain.py end to end on phantom images: rank -> dissect -> annotate -> merge -> image."""
import csv
import json
import os
import subprocess
import sys

import h5py
import numpy as np
import pytest

from explain_fixtures import SIZE, gap_dense_model, nested_model, write_phantom_manifest
from mammo_tf.commands.explain import main

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("explain_workflow")
    manifest = write_phantom_manifest(str(root / "data"), n=8, lesions=("calc_malignant",))
    from mammo_tf.runs import RunFolder, RunInfo

    run = RunFolder(root / "run")
    model = nested_model(size=SIZE, units=12, classes=2)
    model.save(run.best_model)
    run.write_info(RunInfo.for_model("whole_top", model, classes=["negative", "positive"],
                                     pixel_mean=100.0, pixel_mean_source="test"))
    return root, manifest, run.path


def _annotation(annotator, units, site_id):
    return {"format": "mammo_tf.explain.annotations/1", "site_id": site_id, "annotator": annotator, "units": units}


def test_full_workflow(workspace):
    root, manifest, run = workspace
    out = lambda name: str(root / name)
    assert main(["rank", "--model", run, "--probe", manifest, "--out", out("rank"), "--select", "3",
                 "--top-per-image", "4", "--quiet"]) == 0
    rankings = json.load(open(out("rank/rankings.json")))
    assert rankings["layer"] == "backbone" and rankings["num_images"] == 8 and rankings["num_units"] == 12
    for info in rankings["classes"].values():
        assert len(info["selected"]) == 3
        counts = sorted((u["count"] for u in info["selected"]), reverse=True)
        assert [u["count"] for u in info["selected"]] == counts
        assert info["coverage"] == pytest.approx(sum(counts) / (8 * 4))
    with open(out("rank/units.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    assert all(r["unit"] == f"unit_{int(r['channel']) + 1:04d}" for r in rows)
    for name in rankings["class_names"]:  # every top-4 slot of every image is counted once
        assert sum(int(r["count"]) for r in rows if r["class"] == name) == 8 * 4

    assert main(["dissect", "--model", run, "--probe", manifest, "--rankings", out("rank/rankings.json"),
                 "--top-k", "3", "--out", out("dis"), "--quiet"]) == 0
    dissection = json.load(open(out("dis/dissection.json")))
    assert sorted(dissection["units"]) == rankings["selected_units"]
    for uid, rec in dissection["units"].items():
        assert len(rec["tiles"]) == 3 and rec["threshold_value"] == pytest.approx(0.2 * rec["top1_max"])
        assert [t["activation"] for t in rec["tiles"]] == sorted((t["activation"] for t in rec["tiles"]), reverse=True)
        assert rec["tiles"][0]["activation"] == pytest.approx(rec["top1_max"])
        assert set(rec["iou"]) == {"mass", "calcification"}  # the manifest has ROI masks
        for t in rec["tiles"]:
            assert os.path.isfile(os.path.join(out("dis"), t["tile"]))
            assert t["tile"].startswith(f"units/{uid}/")
        assert os.path.isfile(os.path.join(out("dis"), rec["gallery"]))

    assert main(["annotate", "--dissection", out("dis"), "--rankings", out("rank/rankings.json"),
                 "--out", out("site")]) == 0
    index = open(out("site/index.html"), encoding="utf-8").read()
    site_id = json.loads(index.split('type="application/json">')[1].split("</script>")[0])["site_id"]
    for uid in rankings["selected_units"]:
        page = open(out(f"site/{uid}.html"), encoding="utf-8").read()
        assert "<script src=" not in page and "<link" not in page  # inline JS/CSS only
        assert 'name="concept" value="calc_fine_pleomorphic"' in page
        for t in dissection["units"][uid]["tiles"]:
            assert os.path.isfile(out(f"site/{t['tile']}")) and os.path.isfile(out(f"site/{t['context']}"))

    # Two annotators label the most influential unit of the image; ids unpadded in one file.
    explained = json.loads(json.dumps(main(["image", "--model", run, os.path.join(root, "data/images/p000.png"),
                                            "--out", out("img0"), "--top-n", "3"])))
    assert explained == 0
    top = json.load(open(out("img0/p000.json")))["units"][0]["unit"]
    assert all(u["label"] == "unlabelled" for u in json.load(open(out("img0/p000.json")))["units"])
    number = int(top.split("_")[1])
    answer = {"recognizable": "yes", "association": "malignant", "multiplicity": "single",
              "concepts": ["calc_fine_pleomorphic"], "free_text": "fine pleomorphic calcs"}
    json.dump(_annotation("A", {top: answer}, site_id), open(out("a.json"), "w"))
    json.dump(_annotation("B", {f"unit_{number}": answer}, site_id), open(out("b.json"), "w"))
    assert main(["merge", out("a.json"), out("b.json"), "--out", out("unit_labels.json")]) == 0
    labels = json.load(open(out("unit_labels.json")))
    assert labels["units"][top]["agreement"] == 1.0 and labels["units"][top]["association"] == "malignant"

    assert main(["image", "--model", run, os.path.join(root, "data/images/p000.png"), "--labels",
                 out("unit_labels.json"), "--out", out("img"), "--top-n", "3"]) == 0
    record = json.load(open(out("img/p000.json")))
    assert record["layer"] == "backbone" and record["class_map"] == "fcn"
    # it leads with the decision of the model given: the whole_top run's P(positive) at its input
    assert next(iter(record)) == "decision" and record["decision"]["model"].startswith("whole_top run")
    assert record["scale"]["rule"] == "model input" and record["explained_classes"] == ["positive"]
    assert sum(record["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
    assert record["units"][0]["unit"] == top
    assert "fine pleomorphic" in record["units"][0]["label"]  # labels of units < 1000 are found
    assert os.path.getsize(out("img/p000.png")) > 1000 and os.path.isfile(out("img/p000.html"))


def test_patch_probe_has_whole_mammogram_context(workspace, tmp_path):
    root, manifest, _ = workspace
    from mammo_tf.datasets.manifest import read_manifest, resolve_path
    from mammo_tf.io.images import load_image

    rows = read_manifest(manifest)[:3]
    patches, ids, cy, cx = [], [], [], []
    for row in rows:
        image = load_image(resolve_path(manifest, row["image_path"]))
        for y, x in ((20, 20), (40, 28)):
            patches.append(image[y - 16:y + 16, x - 16:x + 16])
            ids.append(row["image_id"]), cy.append(y), cx.append(x)
    h5 = str(tmp_path / "patches.h5")
    with h5py.File(h5, "w") as f:
        f["patches"] = np.stack(patches)
        f["labels"] = np.zeros(len(ids), np.int64)
        f["image_id"] = np.array(ids, dtype="S")
        f["center_y"], f["center_x"] = np.array(cy), np.array(cx)
    model_path = str(tmp_path / "patch.keras")
    gap_dense_model(size=(32, 32), units=6, classes=3).save(model_path)
    out = str(tmp_path / "dis")
    assert main(["dissect", "--model", model_path, "--pixel-mean", "90", "--probe", h5, "--manifest", manifest,
                 "--units", "unit_0001,unit_6", "--top-k", "2", "--threshold", "quantile", "--out", out,
                 "--quiet"]) == 0
    dissection = json.load(open(os.path.join(out, "dissection.json")))
    assert sorted(dissection["units"]) == ["unit_0001", "unit_0006"]
    tile = dissection["units"]["unit_0001"]["tiles"][0]
    y, x = cy[tile["index"]], cx[tile["index"]]
    assert tile["box"] == pytest.approx([(y - 16) / SIZE[0], (x - 16) / SIZE[1], (y + 16) / SIZE[0], (x + 16) / SIZE[1]])
    assert os.path.isfile(os.path.join(out, tile["context"]))


def test_cli_errors_exit_2_with_one_line(tmp_path):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    cases = [
        ["rank", "--model", "x.keras"],  # missing --probe/--out
        ["dissect", "--model", "x.keras", "--probe", str(tmp_path / "nope.h5"), "--out", "o"],
        ["image", "--model", str(tmp_path / "missing.keras"), __file__, "--out", str(tmp_path)],
        ["rank", "--model", "m", "--probe", str(tmp_path), "--out", "o", "--top-per-image", "0"],
    ]
    for argv in cases:
        proc = subprocess.run([sys.executable, os.path.join(REPO, "explain.py"), *argv], capture_output=True,
                              text=True, env=env, cwd=REPO)
        assert proc.returncode == 2, (argv, proc.stderr)
        assert proc.stderr.strip().count("\n") == 0 and proc.stderr.startswith("explain.py"), proc.stderr
        assert "error:" in proc.stderr
    help_text = subprocess.run([sys.executable, os.path.join(REPO, "explain.py"), "dissect", "--help"],
                               capture_output=True, text=True, env=env, cwd=REPO).stdout
    for flag in ("--top-k", "--threshold", "--rankings", "--units", "--manifest"):
        assert flag in help_text


def test_mine_and_explain_writes_explanation_and_site(workspace, tmp_path):
    from mammo_tf.deepminer import mine_and_explain

    root, _, run = workspace
    paths = mine_and_explain(run, os.path.join(root, "data", "images", "p001.png"), str(tmp_path / "demo"))
    for key in ("figure", "html", "record", "rankings", "dissection", "site"):
        assert os.path.isfile(paths[key]), key
    record = json.load(open(paths["record"]))
    assert record["layer"] == "backbone" and len(record["units"]) == 5  # up to five shown
    site_pages = [f for f in os.listdir(os.path.dirname(paths["site"])) if f.startswith("unit_")]
    assert site_pages and all(f.endswith(".html") for f in site_pages)


def test_image_explains_a_real_dicom_file(workspace, tmp_path):
    dicom = os.path.join(REPO, "..", "shared", "data", "dicom_mg_headers", "MG-Im-GE-SenDS-scaled.dcm")
    if not os.path.isfile(dicom):
        pytest.skip("../shared/data/dicom_mg_headers is absent (real DICOM test data)")
    _, _, run = workspace
    assert main(["image", "--model", run, dicom, "--out", str(tmp_path), "--class", "positive", "--top-n", "2"]) == 0
    record = json.load(open(tmp_path / "MG-Im-GE-SenDS-scaled.json"))
    assert record["explained_class"] == "positive" and len(record["units"]) == 2
    assert sum(record["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)


def test_annotate_refuses_to_replace_a_folder_that_is_not_a_site(workspace, tmp_path):
    (tmp_path / "precious.txt").write_text("keep me")
    dissection = tmp_path / "dis"
    dissection.mkdir()
    (dissection / "dissection.json").write_text(json.dumps({"layer": "x", "units": {}}))
    assert main(["annotate", "--dissection", str(dissection), "--out", str(tmp_path)]) == 2
    assert (tmp_path / "precious.txt").read_text() == "keep me"
