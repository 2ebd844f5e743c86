"""bench/gpu_step.py --quick (JAX backend) runs on CPU and reports throughput, MFU and memory."""
import json
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_gpu_step_quick_reports_throughput_mfu_and_memory(tmp_path):
    pytest.importorskip("jax", reason="bench/gpu_step.py runs on the JAX backend (make venv-jax)")
    out = tmp_path / "gpu_step_quick.json"
    proc = subprocess.run(
        [sys.executable, os.path.join(REPO, "bench", "gpu_step.py"), "--quick", "--models",
         "patch_vgg16", "--precisions", "fp32", "bf16", "--repeats", "1", "--out", str(out)],
        capture_output=True, text=True, timeout=900, env=dict(os.environ, JAX_PLATFORMS="cpu"))
    assert proc.returncode == 0, (proc.stdout[-2000:], proc.stderr[-2000:])
    rows = json.loads(out.read_text())["rows"]
    assert [(r["arch"], r["precision"]) for r in rows] == [("patch_vgg16", "fp32"),
                                                           ("patch_vgg16", "bf16")]
    for row in rows:
        assert row["status"] == "ok" and row["platform"] == "cpu"
        assert row["images_per_s"] > 0 and row["step_s"] > 0
        # CPU: the peak is the fp32 matmul rate measured in the child
        assert row["peak_source"].startswith("measured") and 0 < row["mfu"]
        assert row["train_gflop_per_image"] > 1 and row["peak_rss_gib"] > 0
    assert "JAX training step" in proc.stdout
