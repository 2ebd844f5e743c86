# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""`make demo` at toy size: every step runs, the report carries the patch baseline beside each
whole-image model, so the README's numbers come from tested code."""
import json
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "examples"))


@pytest.fixture(scope="module")
def toy_demo(tmp_path_factory):
    pytest.importorskip("tensorflow", reason="the demo predicts through the exported SavedModel "
                                             "(TensorFlow backend; make demo uses .venv)")
    import demo

    out = tmp_path_factory.mktemp("demo")
    assert demo.main(["--out", str(out), "--toy", "--patients", "40", "--transfer-patients", "40"]) == 0
    with open(out / "demo_report.json") as f:
        return out, json.load(f)


def test_demo_steps_and_report(toy_demo):
    out, report = toy_demo
    for step in ("phantom (ddsm profile)", "patch sampling", "patch classifier",
                 "whole-image classifier", "phantom (inbreast profile)", "transfer",
                 "predict with TTA", "pointing game", "explanation"):
        assert step in report["seconds"], step
    summary = report["summary"]
    for key in ("whole", "transfer"):
        model = summary[key]
        assert "baseline_test_auc" in model and "baseline_val_auc" in model
        baseline = report[key]["patch_baseline"]["test"]
        assert baseline["window"] == [32, 32] and baseline["stride"] == 16
        assert report[key]["initial_val_auc"] is not None or model["best_val_auc"] is None
    pg = report["pointing_game"]
    assert pg["images"] >= 0 and (pg["pointing_game"] is None or 0.0 <= pg["pointing_game"] <= 1.0)
    assert os.path.isfile(report["explanation"]["figure"])
    explained = report["explanation"]
    assert explained["correct"] == (explained["probability"] >= 0.5)
    # the explanation leads with the final model's decision; its class map's own pointing game
    # is reported beside the window rule's, over the same images
    assert 0.0 <= explained["decision"]["probability"] <= 1.0
    assert report["explanation_pointing_game"]["images"] == pg["images"]
    assert "explanation pointing game" in report["seconds"]
    assert os.path.isdir(os.path.join(out, "runs", "transfer", "saved_model"))


def test_merge_gives_mean_range_and_checks_same_seed_repeats(toy_demo, tmp_path, capsys):
    """README numbers are the mean and range over --seed 0/1/2; a seed run twice must agree."""
    import demo

    out, report = toy_demo
    paths = []
    for name, seed, shift in (("a", 0, 0.0), ("b", 0, 0.0), ("c", 1, 0.1), ("d", 2, -0.1)):
        r = json.loads(json.dumps(report))
        r["seed"] = seed
        if r["summary"]["whole"]["test_auc"] is None:
            r["summary"]["whole"]["test_auc"] = 0.5
        r["summary"]["whole"]["test_auc"] += shift
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(r))
        paths.append(str(path))
    assert demo.main(["--out", str(tmp_path), "--merge", *paths]) == 0
    table = json.loads((tmp_path / "demo_seeds.json").read_text())
    assert table["seeds"] == [0, 1, 2]
    row = next(r for r in table["rows"] if r["label"] == "whole image (ddsm): test AUC")
    base = report["summary"]["whole"]["test_auc"] or 0.5
    assert row["mean"] == pytest.approx(base) and row["max"] - row["min"] == pytest.approx(0.2)
    assert table["repeats"] == [{"seed": 0, "reports": paths[:2], "same_to_3_decimals": True,
                                 "differing": []}]
    assert "seed 0 run twice: identical to 3 decimals" in capsys.readouterr().out


def test_seed_table_is_written_to_the_readme_block(toy_demo, tmp_path):
    """`--seeds` / `--merge` with --table / --readme: the per-seed markdown table goes to the
    table file and replaces the README's block between the demo-table markers."""
    import demo

    _, report = toy_demo
    paths = []
    for seed in (0, 1, 2):
        r = json.loads(json.dumps(report))
        r["seed"] = seed
        r["summary"]["whole"]["test_auc"] = 0.95 - 0.1 * seed
        r["summary"]["transfer"]["test_auc"] = 0.9
        path = tmp_path / f"r{seed}.json"
        path.write_text(json.dumps(r))
        paths.append(str(path))
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{demo.TABLE_BEGIN}\nold\n{demo.TABLE_END}\nafter\n")
    table = tmp_path / "table.md"
    assert demo.main(["--out", str(tmp_path), "--merge", *paths, "--table", str(table),
                      "--readme", str(readme)]) == 0
    markdown = table.read_text()
    assert "| number | seed 0 | seed 1 | seed 2 | mean |" in markdown
    assert "| whole image (ddsm): test AUC | 0.950 | 0.850 | 0.750 | 0.850 |" in markdown
    assert "test AUC >= 0.90 (no TTA): NOT met by seeds 1, 2 (met by 0)" in markdown
    assert "after transfer (inbreast): test AUC >= 0.85 (no TTA): met by every seed" in markdown
    assert readme.read_text() == f"intro\n{demo.TABLE_BEGIN}\n{markdown}{demo.TABLE_END}\nafter\n"


def test_readme_demo_table_is_the_regenerated_one():
    """The README includes docs/demo_table.md verbatim (both written by --seeds)."""
    repo = os.path.join(os.path.dirname(__file__), "..", "..")
    with open(os.path.join(repo, "README.md"), encoding="utf-8") as f:
        text = f.read()
    begin = "<!-- demo-table: written by python examples/demo.py --seeds 0 1 2 -->"
    assert begin in text and "<!-- demo-table end -->" in text
    block = text.split(begin, 1)[1].split("<!-- demo-table end -->", 1)[0]
    with open(os.path.join(repo, "docs", "demo_table.md"), encoding="utf-8") as f:
        assert block == "\n" + f.read()
