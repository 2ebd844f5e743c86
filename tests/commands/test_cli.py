"""The commands (``mammo_tf.commands``): one console script (``mammo-tf``), fast ``--help``
everywhere (no TensorFlow), and one error policy: bad input (a bad argument, or an error of the
``MammoTfError`` family) is one line ``<prog>: error: ...`` and exit code 2; any other exception
is a bug and shows its traceback."""
import importlib.metadata
import os
import pathlib
import subprocess
import sys
import time

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
HELP_BOUND_S = 3.0  # the promise is 1 s; the bound is generous for a loaded CI machine

# The commands the project documents for `mammo-tf` (written out here, not read from the code,
# so that a command dropped from mammo_tf.commands fails the test).
COMMANDS = ("train-patch", "train-whole", "transfer", "train-multiview", "predict", "evaluate", "explain",
            "prepare", "subset", "patches", "exams", "heatmap-rf", "export", "pacs")
SCRIPTS = ("train_patch.py", "train_whole.py", "transfer_inbreast.py", "train_multiview.py",
           "predict.py", "explain.py")
# Every `python -m` entry point: the __main__ shims (checked against the package's files below),
# the run-folder tools and the heatmap baseline's module.
MODULES = ("mammo_tf.datasets", "mammo_tf.shen.patches", "mammo_tf.nyu", "mammo_tf.shen.heatmap_rf",
           "mammo_tf.runs")

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
        from mammo_tf.commands import main
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
                + [("console", "explain rank"), ("module", "mammo_tf.datasets prepare"),
                   ("module", "mammo_tf.datasets subset"), ("module", "mammo_tf.nyu exams")])


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
    import mammo_tf.commands

    assert 'mammo-tf=mammo_tf.commands:main' in (REPO / "setup.py").read_text()
    assert scripts[0].value == "mammo_tf.commands:main", (
        f"installed entry point {scripts[0].value}: reinstall with pip install -e .")
    assert scripts[0].load() is mammo_tf.commands.main
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
        (["pacs"], ["--url", "http://127.0.0.1:1/dicom-web", "--study", "1.2.3", "-m", str(tmp / "m.keras")],
         "does not exist"),
        (["pacs"], ["--url", "ftp://x", "--study", "1.2.3", "-m", str(exists)], "--url must be an http(s)"),
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
    ("module", "mammo_tf.datasets", ["subset", "--manifest", "/nonexistent.csv", "--patients", "2",
                                     "--out", "s.csv"], "python -m mammo_tf.datasets subset"),
    ("module", "mammo_tf.shen.heatmap_rf", ["--patch-model", "/nonexistent", "--manifest", "/x.csv",
                                            "--out", "x"], "python -m mammo_tf.shen.heatmap_rf"),
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


def test_every_main_shim_is_a_tested_entry_point_and_calls_its_command():
    """Each ``__main__.py`` is a shim of a commands module (the command itself lives in
    ``mammo_tf.commands``) and is among the entry points whose --help is checked above."""
    package = REPO / "mammo_tf"
    shims = sorted(package.rglob("__main__.py"))
    assert shims, "no __main__ shims found"
    for shim in shims:
        module = ".".join(shim.relative_to(REPO).parent.parts)
        assert module in MODULES, f"{module}: a python -m entry point without a --help test"
        code = [line for line in shim.read_text().splitlines()
                if line.strip() and not line.startswith("#") and not line.startswith('"""')]
        assert any(line.startswith("from mammo_tf.commands") for line in code), shim
        assert len(code) <= 5, f"{shim}: a shim should only call its commands module"



def test_nothing_outside_the_commands_imports_them():
    """The commands are the top layer: the library never imports them (only the ``__main__``
    shims, the top-level scripts and a module's own ``if __name__ == "__main__":`` block)."""
    import ast

    offenders = []
    for path in sorted((REPO / "mammo_tf").rglob("*.py")):
        rel = path.relative_to(REPO)
        if rel.parts[1] == "commands" or path.name == "__main__.py":
            continue
        tree = ast.parse(path.read_text(), str(path))
        main_blocks = [node for node in tree.body if isinstance(node, ast.If)
                       and "__main__" in ast.unparse(node.test)]
        allowed = {id(n) for block in main_blocks for n in ast.walk(block)}
        for node in ast.walk(tree):
            if id(node) in allowed:
                continue
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(n == "mammo_tf.commands" or n.startswith("mammo_tf.commands.")
                   for n in names):
                offenders.append(f"{rel}:{node.lineno}")
    assert offenders == []


# --------------------------------------------------------------------------- the error policy

def _policy_cases(tmp):
    """(command words, arguments that pass the command's own checks, the library function the
    command then calls: "module:attribute")."""
    from mammo_tf.commands.train import PATCH

    exists = tmp / "exists.csv"
    exists.write_text("image_id\n")
    annotations = tmp / "a.json"
    annotations.write_text("{}")
    return [
        (["evaluate"], [str(exists)], "mammo_tf.screening.report:write_report"),
        (["prepare"], ["phantom", "--out", str(tmp / "prep")], "mammo_tf.datasets.prepare:prepare"),
        (["prepare"], ["--merge", "--out", str(tmp / "prep")], "mammo_tf.datasets.prepare:merge_shards"),
        (["subset"], ["--manifest", str(exists), "--patients", "3", "--out", str(tmp / "s.csv")],
         "mammo_tf.datasets.splits:draw_patient_subset"),
        (["patches"], ["--manifest", str(exists), "--out", str(tmp / "p")],
         "mammo_tf.shen.patches.patch_set:make_patch_set"),
        (["exams"], ["--from-images", str(exists), "--out", str(tmp / "e.csv")],
         "mammo_tf.nyu.exams:exams_from_image_manifest"),
        (["explain"], ["merge", str(annotations), "--out", str(tmp / "u.json")],
         "mammo_tf.deepminer.merge:merge_annotations"),
        (["export"], [str(tmp)], "mammo_tf.runs:locate_run"),
        (["heatmap-rf"], ["--patch-model", str(exists), "--manifest", str(exists), "--out", str(tmp)],
         "mammo_tf.runs:load_run"),
        (["predict"], [str(exists), "-m", str(tmp), "--no-progress"], "mammo_tf.inference.predict:collect_inputs"),
        (["train-patch"], ["--train-h5", str(exists), "--val-h5", str(exists)], PATCH[1]),
        (["pacs"], ["--url", "http://127.0.0.1:1/dicom-web", "--study", "1.2.3", "-m", str(tmp)],
         "mammo_tf.commands.pacs:_load"),
    ]


def _raising(exc):
    def raise_it(*args, **kwargs):
        raise exc
    return raise_it


def _patch(monkeypatch, target, exc):
    import importlib

    module, name = target.split(":")
    monkeypatch.setattr(importlib.import_module(module), name, _raising(exc))


def test_the_policy_covers_every_command_with_a_library_call(tmp_path):
    """Every command whose work is a library call is in the error-policy tests below
    (train-whole, transfer and train-multiview share train-patch's path, run_pipeline /
    exit_on_bad_input)."""
    covered = {words[0] for words, _, _ in _policy_cases(tmp_path)}
    assert set(COMMANDS) - covered == {"train-whole", "transfer", "train-multiview"}


@pytest.mark.parametrize("family", ["UsageError", "DataError", "RunError", "MissingFileError"])
def test_each_error_of_the_family_is_one_line_and_exit_2(family, tmp_path, monkeypatch, capsys):
    """An error of the MammoTfError family raised by the library inside any command: exit 2
    and exactly one line ``<prog>: error: <message>`` (its later lines go to stdout)."""
    import mammo_tf.errors
    from mammo_tf.commands import main

    error_class = getattr(mammo_tf.errors, family)
    for words, args, target in _policy_cases(tmp_path):
        _patch(monkeypatch, target, error_class(f"{family} from {target}\nsecond line"))
        try:
            code = main([*words, *args])
        except SystemExit as exc:
            code = exc.code
        out, err = capsys.readouterr()
        prog = "mammo-tf " + words[0] + (" " + args[0] if words == ["explain"] else "")
        assert code == 2, (words, err)
        assert err.splitlines() == [f"{prog}: error: {family} from {target}"], (words, err)
        assert "second line" in out  # the message's details are printed, not dropped


@pytest.mark.parametrize("bug", [ValueError("a bug"), OSError("a bug"), RuntimeError("a bug"),
                                 KeyError("a bug"), NotImplementedError("a bug")],
                         ids=lambda e: type(e).__name__)
def test_any_other_exception_propagates_with_its_traceback(bug, tmp_path, monkeypatch, capsys):
    """Anything outside the MammoTfError family is a bug: never turned into exit 2."""
    from mammo_tf.commands import main

    for words, args, target in _policy_cases(tmp_path):
        _patch(monkeypatch, target, bug)
        with pytest.raises(type(bug)) as raised:
            main([*words, *args])
        assert raised.value is bug, words
        assert "error:" not in capsys.readouterr().err, words


def test_a_bug_in_a_command_prints_a_traceback_not_exit_2(tmp_path):
    """The same through the console script's process: Python's traceback and exit code 1."""
    exists = tmp_path / "exists.csv"
    exists.write_text("image_id\n")
    driver = ("import sys, mammo_tf.screening.report as r\n"
              "def boom(*a, **k):\n    raise ValueError('a bug, not bad input')\n"
              "r.write_report = boom\n"
              "from mammo_tf.commands import main\n"
              "sys.exit(main(sys.argv[1:]))\n")
    proc = subprocess.run([sys.executable, "-c", driver, "evaluate", str(exists)], capture_output=True,
                          text=True, cwd=REPO, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert proc.returncode == 1, proc.stderr
    assert "Traceback (most recent call last)" in proc.stderr
    assert proc.stderr.rstrip().splitlines()[-1] == "ValueError: a bug, not bad input"
    assert "error:" not in proc.stderr.split("Traceback")[0]


def test_report_error_prints_one_line_and_keeps_the_details(capsys):
    from mammo_tf.commands.common import report_error

    assert report_error("prog", "first line\nreport line 1\nreport line 2") == 2
    out, err = capsys.readouterr()
    assert err == "prog: error: first line\n"
    assert out == "report line 1\nreport line 2\n"


def test_one_parser_class():
    """The commands, the dataclass-config bridge and the scripts share one parser class."""
    import argparse

    from mammo_tf.commands.common import CommandParser
    from mammo_tf.training.config import CommonConfig, build_parser
    from mammo_tf.utils import CommandParser as base

    assert CommandParser is base
    assert type(build_parser(CommonConfig, "prog", "")) is CommandParser
    subclasses = {cls.__module__ + "." + cls.__qualname__ for cls in _all_subclasses(argparse.ArgumentParser)
                  if cls.__module__.startswith("mammo_tf")}
    assert subclasses == {"mammo_tf.utils.CommandParser"}


def _all_subclasses(cls):
    import mammo_tf.commands.explain  # noqa: F401  (the command modules define their parsers)
    import mammo_tf.commands.heatmap_rf  # noqa: F401
    import mammo_tf.commands.prepare  # noqa: F401
    import mammo_tf.commands.predict  # noqa: F401

    seen, todo = set(), [cls]
    while todo:
        for sub in todo.pop().__subclasses__():
            if sub not in seen:
                seen.add(sub)
                todo.append(sub)
    return seen
