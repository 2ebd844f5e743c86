"""Sharded preparation (issue 15): ``prepare ... --shard I/N`` then ``prepare --merge`` gives the
same manifest as one unsharded run."""
import json

import numpy as np
import pytest

from mammo_tf.commands.prepare import main
from mammo_tf.datasets.manifest import read_manifest
from mammo_tf.datasets.prepare import merge_shards, parse_shard, prepare, shard_of_records
from mammo_tf.errors import UsageError
from mammo_tf.io import read_png16

KW = dict(size=(40, 32), n_patients=8, phantom_size=(96, 72), progress=False)


@pytest.fixture(scope="module")
def unsharded(tmp_path_factory):
    root = tmp_path_factory.mktemp("unsharded")
    manifest, report = prepare("phantom", None, root, **KW)
    return root, manifest


def test_three_shards_merge_into_the_unsharded_manifest(unsharded, tmp_path):
    root, manifest = unsharded
    source = root / "source"  # the same phantom download for both runs
    partial_rows = []
    for i in (1, 2, 3):
        partial, report = prepare("phantom", source, tmp_path, shard=f"{i}/3", **KW)
        assert partial.endswith(f"manifest.shard-{i:04d}-of-0003.csv") and report.converted > 0
        partial_rows.append(read_manifest(partial))
        assert not (tmp_path / "manifest.csv").exists()
    # Shards hold whole patients and partition the images.
    patients = [{r["patient_id"] for r in rows} for rows in partial_rows]
    assert not (patients[0] & patients[1] or patients[0] & patients[2] or patients[1] & patients[2])
    merged, report = merge_shards(tmp_path)
    assert open(merged, encoding="utf-8").read() == open(manifest, encoding="utf-8").read()
    rows = read_manifest(merged)
    assert sum(len(r) for r in partial_rows) == len(rows) == report.converted
    for row in rows[:3]:
        np.testing.assert_array_equal(read_png16(tmp_path / row["image_path"]), read_png16(root / row["image_path"]))
    info = json.loads((tmp_path / "dataset.json").read_text())
    assert info["shards"] == 3 and info["counts"] == json.loads((root / "dataset.json").read_text())["counts"]


def test_merge_names_missing_shards(unsharded, tmp_path):
    root, _ = unsharded
    prepare("phantom", root / "source", tmp_path, shard="2/3", **KW)
    with pytest.raises(ValueError, match="shards 1/3, 3/3 not prepared"):
        merge_shards(tmp_path)
    with pytest.raises(FileNotFoundError, match="no shards"):
        merge_shards(tmp_path / "elsewhere")


def test_shard_assignment_is_by_patient_and_covers_all():
    class R:
        def __init__(self, p):
            self.patient_id = p

    records = [R(p) for p in "aabbbcdeefg"]
    parts = [shard_of_records(records, (i, 4)) for i in range(1, 5)]
    assert sorted(sum(parts, [])) == list(range(len(records)))
    for part in parts:
        assert all(records[j].patient_id != records[k].patient_id for j in part
                   for other in parts if other is not part for k in other)
    assert parse_shard("2/8") == (2, 8)
    for bad in ("0/3", "4/3", "x", "1/0"):
        with pytest.raises(UsageError, match="I/N"):  # a bad --shard value: a usage error
            parse_shard(bad)


def test_cli_shard_and_merge(unsharded, tmp_path, capsys):
    root, manifest = unsharded
    common = ["--src", str(root / "source"), "--out", str(tmp_path), "--size", "40", "32", "--n-patients", "8",
              "--phantom-size", "96", "72", "--no-progress"]
    assert main(["prepare", "phantom", *common, "--shard", "1/2"]) == 0
    assert main(["prepare", "--merge", "--out", str(tmp_path)]) == 2  # shard 2/2 missing
    assert "2/2 not prepared" in capsys.readouterr().err
    assert main(["prepare", "phantom", *common, "--shard", "2/2"]) == 0
    assert main(["prepare", "--merge", "--out", str(tmp_path)]) == 0
    assert open(tmp_path / "manifest.csv").read() == open(manifest).read()
    with pytest.raises(SystemExit):
        main(["prepare", "phantom", *common, "--shard", "3/2"])
