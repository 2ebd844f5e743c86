"""The commands: one console script (``mammo-tf``), fast ``--help`` everywhere (no TensorFlow),
and one error style for bad input (one line ``<prog>: error: ...``, exit code 2)."""
import importlib.metadata
import os
import pathlib
import subprocess
import sys
import time

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
HELP_BOUND_S = 3.0  # the promise is 1 s; the bound is generous for a loaded CI machine

# The commands the project documents for `mammo-tf` (written out here, not read from the code,
# so that a command dropped from mammo_tf.cli fails the test).
COMMANDS = ("train-patch", "train-whole", "transfer", "train-multiview", "predict", "evaluate", "explain",
            "prepare", "subset", "patches", "exams", "heatmap-rf", "export")
SCRIPTS = ("train_patch.py", "train_whole.py", "transfer_inbreast.py", "train_multiview.py",
           "predict.py", "explain.py")
MODULES = ("mammo_tf.datasets", "mammo_tf.shen.patches", "mammo_tf.nyu", "mammo_tf.shen.heatmap_rf")

# Runs one entry point in a fresh interpreter, then reports which heavy frameworks it imported:
# the help must come from parsers alone, whatever the machine's speed.
DRIVER = r"""
import runpy, sys
kind, target, *args = sys.argv[1:]
try:
    if kind == "script":
        sys.argv = [target, *args]
        runpy.run_path(target, run_name="__main__")
    elif kind == "module":
        sys.argv = [target, *args]
        runpy.run_module(target, run_name="__main__", alter_sys=True)
    else:
        from mammo_tf.cli import main
        sys.exit(main(args))
    code = 0
except SystemExit as exc:
    code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
sys.stdout.flush()
sys.stderr.write("IMPORTED:" + ",".join(m for m in ("tensorflow", "keras", "jax", "torch")
                                          if m in sys.modules) + "\n")
sys.exit(code)
"""


def _run(kind, target, *args, cwd=None):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", DRIVER, kind, str(target), *args],
                          capture_output=True, text=True, env=env, cwd=cwd or REPO)
    elapsed = time.perf_counter() - start
    *err_lines, imported = proc.stderr.rstrip("\n").split("\n")
    assert imported.startswith("IMPORTED:"), proc.stderr
    return proc.returncode, proc.stdout, [line for line in err_lines if line], \
        imported[len("IMPORTED:"):], elapsed


ENTRY_POINTS = ([("script", REPO / s) for s in SCRIPTS] + [("module", m) for m in MODULES]
                + [("console", None)] + [("console", c) for c in COMMANDS]
                + [("console", "explain rank"), ("module", "mammo_tf.datasets prepare")])


@pytest.mark.parametrize("kind, target", ENTRY_POINTS,
                         ids=[f"{k}:{getattr(t, 'name', t) or 'mammo-tf'}" for k, t in ENTRY_POINTS])
def test_help_is_fast_and_imports_no_framework(kind, target):
    words = [] if target is None else str(target).split(" ") if kind != "script" else [str(target)]
    if kind == "console":
        code, out, err, imported, elapsed = _run("console", "-", *words, "--help")
    else:
        code, out, err, imported, elapsed = _run(kind, words[0], *words[1:], "--help")
    assert code == 0, err
    assert out.startswith("usage:"), out[:200]
    assert imported == "", f"--help imported {imported}"
    assert elapsed < HELP_BOUND_S, f"--help took {elapsed:.2f} s"


def test_console_help_lists_every_command_with_a_summary():
    code, out, _, _, _ = _run("console", "-", "--help")
    assert code == 0
    listed = {}
    for line in out.splitlines():
        parts = line.split(None, 1)
        if line.startswith("  ") and len(parts) == 2 and not parts[0].startswith("-"):
            listed[parts[0]] = parts[1]
    assert set(COMMANDS) <= set(listed), sorted(set(COMMANDS) - set(listed))
    assert all(len(summary) > 10 for summary in listed.values())


def test_console_entry_point_resolves():
    scripts = [e for e in importlib.metadata.entry_points(group="console_scripts") if e.name == "mammo-tf"]
    assert len(scripts) == 1, "mammo-tf not installed: run pip install -e ."
    from mammo_tf import cli

    assert scripts[0].value == "mammo_tf.cli:main" and scripts[0].load() is cli.main
    installed = pathlib.Path(sys.executable).parent / "mammo-tf"
    if installed.exists():  # the wrapper pip wrote runs the same main
        proc = subprocess.run([str(installed), "frobnicate"], capture_output=True, text=True)
        assert proc.returncode == 2
        assert proc.stderr.splitlines() == [
            "mammo-tf: error: unknown command 'frobnicate' (choose from " + ", ".join(COMMANDS) + ")"]


def test_console_forwards_the_exit_code_and_names_the_command(tmp_path):
    code, _, err, _, _ = _run("console", "-", "predict", "x.png", "-m", str(tmp_path / "m.keras"))
    assert code == 2
    assert err == [f"mammo-tf predict: error: model {str(tmp_path / 'm.keras')!r} does not exist"]
    code, out, _, _, _ = _run("console", "-", "--version")
    assert code == 0 and out.startswith("mammo-tf ")


def _bad_cases(tmp):
    """(entry point words, bad arguments, text the error must contain) per command: a missing
    file, a bad choice, a bad number, an unknown flag."""
    exists = tmp / "exists.csv"
    exists.write_text("image_id\n")
    missing = str(tmp / "missing.csv")
    return [
        ([], [], "a command is required"),
        (["frobnicate"], [], "unknown command"),
        (["train-patch"], ["--train-h5", "a.h5", "--val-h5", "b.h5", "--backbone", "alexnet"], "invalid choice"),
        (["train-patch"], ["--train-h5", "a.h5", "--val-h5", "b.h5", "--batch-size", "many"], "invalid int"),
        (["train-whole"], ["--frobnicate"], "unrecognized arguments"),
        (["transfer"], ["--config", str(tmp / "missing.json")], "not found"),
        (["train-multiview"], ["--frobnicate"], "unrecognized arguments"),
        (["predict"], ["x.png", "-m", str(tmp / "m.keras")], "does not exist"),
        (["predict"], [str(exists), "-m", str(tmp), "--batch-size", "0"], "--batch-size must be >= 1"),
        (["evaluate"], [missing], "does not exist"),
        (["explain", "rank"], ["--model", "x.keras"], "required"),
        (["explain", "image"], ["--model", str(tmp / "m.keras"), str(exists), "--out", str(tmp)], "does not exist"),
        (["explain", "dissect"], ["--model", str(exists), "--probe", str(exists), "--out", str(tmp),
                                  "--quantile", "2"], "--quantile"),
        (["prepare"], ["frobnicate", "--out", str(tmp)], "invalid choice"),
        (["prepare"], ["mini-mias", "--src", missing, "--out", str(tmp)], "does not exist"),
        (["prepare"], ["phantom", "--out", str(tmp), "--n-patients", "0"], "--n-patients must be at least 1"),
        (["subset"], ["--manifest", missing, "--patients", "3", "--out", str(tmp / "s.csv")], "does not exist"),
        (["subset"], ["--manifest", str(exists), "--patients", "0", "--out", str(tmp / "s.csv")], "at least 1"),
        (["patches"], ["--manifest", missing, "--out", str(tmp)], "does not exist"),
        (["patches"], ["--manifest", str(exists), "--out", str(tmp), "--set", "t5"], "t5"),
        (["patches"], ["--manifest", str(exists), "--out", str(tmp), "--cutoff", "1.5"], "--cutoff"),
        (["exams"], ["--phantom", "0", "--out", str(tmp)], "--phantom must be at least 1"),
        (["exams"], ["--from-images", missing, "--out", str(tmp / "e.csv")], "file not found"),
        (["heatmap-rf"], ["--patch-model", missing, "--manifest", str(exists), "--out", str(tmp)], "does not exist"),
        (["heatmap-rf"], ["--patch-model", str(exists), "--manifest", str(exists), "--out", str(tmp),
                          "--cutoffs", "1.5"], "--cutoffs"),
        (["export"], [str(tmp / "no_run")], "does not exist"),
        (["export"], [str(tmp), "--format", "tflite"], "invalid choice"),
    ]


def test_bad_input_exits_2_with_one_line_for_every_command(tmp_path):
    cases = _bad_cases(tmp_path)
    assert {words[0] for words, _, _ in cases if words} >= set(COMMANDS)
    for words, args, message in cases:
        code, out, err, _, _ = _run("console", "-", *words, *args)
        prog = " ".join(["mammo-tf", *words]) if words[:1] != ["frobnicate"] else "mammo-tf"
        assert code == 2, (words, args, err)
        assert len(err) == 1 and err[0].startswith(f"{prog}: error: ") and message in err[0], (words, err)
        assert "Traceback" not in out


@pytest.mark.parametrize("kind, target, args, prog", [
    ("script", "train_patch.py", ["--backbone", "alexnet"], "train_patch.py"),
    ("script", "train_whole.py", ["--tta", "x"], "train_whole.py"),
    ("script", "transfer_inbreast.py", ["--config", "/nonexistent/c.json"], "transfer_inbreast.py"),
    ("script", "train_multiview.py", ["--frobnicate"], "train_multiview.py"),
    ("script", "predict.py", ["x.png", "-m", "/nonexistent.keras"], "predict.py"),
    ("script", "explain.py", ["merge", "/nonexistent.json", "--out", "x.json"], "explain.py merge"),
    ("module", "mammo_tf.datasets", ["prepare", "phantom", "--out", "x", "--workers", "0"],
     "python -m mammo_tf.datasets prepare"),
    ("module", "mammo_tf.shen.patches", ["--manifest", "/nonexistent.csv", "--out", "x"],
     "python -m mammo_tf.shen.patches"),
    ("module", "mammo_tf.nyu", ["exams", "--phantom", "0", "--out", "x"], "python -m mammo_tf.nyu exams"),
])
def test_scripts_and_modules_share_the_error_style(kind, target, args, prog):
    code, _, err, imported, _ = _run(kind, REPO / target if kind == "script" else target, *args)
    assert code == 2 and len(err) == 1 and err[0].startswith(f"{prog}: error: "), err
    assert imported == ""  # caught before TensorFlow is imported


def test_setup_logging_routes_library_messages(capsys):
    import logging

    from mammo_tf.utils import setup_logging

    package = logging.getLogger("mammo_tf")
    saved = (package.level, list(package.handlers))
    try:
        setup_logging()
        setup_logging()  # idempotent: one handler pair, each message printed once
        log = logging.getLogger("mammo_tf.some.module")
        log.info("epoch 3 done")
        log.debug("not shown at INFO")
        log.warning("disk almost full")
        captured = capsys.readouterr()
    finally:  # leave the logger as the other tests expect it
        package.setLevel(saved[0])
        package.handlers[:] = saved[1]
    assert captured.out == "epoch 3 done\n"
    assert captured.err == "warning: disk almost full\n"
