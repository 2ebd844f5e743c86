# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""Shared helpers of the bench scripts: timing, child processes with peak memory, JSON, tables.

Every measurement that needs its own peak memory runs in a child process (``run_child``): the
child prints one ``BENCH_RESULT {json}`` line with its own high-water mark (``VmHWM``), and the
parent may kill it as soon as its resident memory passes a cap (e.g. "does it fit in 8 GB").
"""
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(BENCH_DIR)
RESULTS_DIR = os.path.join(BENCH_DIR, "results")
RESULT_PREFIX = "BENCH_RESULT "
GIB = 1024**3

if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)


def time_steps(step, warmup=1, repeats=3):
    """Run ``step()`` ``warmup`` times untimed, then ``repeats`` times timed.

    Returns ``{"median_s", "min_s", "times_s"}``. ``step`` must block until its work is done
    (return a numpy value, or synchronise) so wall time measures the work.
    """
    for _ in range(warmup):
        step()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return {"median_s": statistics.median(times), "min_s": min(times), "times_s": times}


def _proc_status_kib(field, pid="self"):
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


def peak_rss_bytes():
    """This process's resident-memory high-water mark (``VmHWM``; Linux) in bytes, else None."""
    kib = _proc_status_kib("VmHWM")
    if kib is None:  # not Linux: ru_maxrss is KiB on Linux, bytes on macOS
        import resource

        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return rss if sys.platform == "darwin" else rss * 1024
    return kib * 1024


def emit_result(result):
    """Child side: print the one result line the parent parses (with this process's peak RSS)."""
    result = dict(result)
    result["peak_rss_gib"] = round(peak_rss_bytes() / GIB, 3)
    print(RESULT_PREFIX + json.dumps(result), flush=True)


def run_child(script, payload, rss_cap_bytes=None, timeout_s=1800, env=None, poll_s=0.1):
    """Run ``python <script> --child <json>`` and return its result dict.

    The parent polls the child's resident memory; with ``rss_cap_bytes`` it kills the child as
    soon as it passes the cap and returns ``{"status": "over_cap", ...}``. A child that fails
    returns ``{"status": "failed", "error": <last stderr lines>}``.
    """
    cmd = [sys.executable, os.path.join(BENCH_DIR, script), "--child", json.dumps(payload)]
    child_env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", **(env or {}))
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env, cwd=REPO_ROOT
    )
    max_rss = 0
    start = time.monotonic()
    status = None
    while proc.poll() is None:
        kib = _proc_status_kib("VmRSS", proc.pid)
        if kib:
            max_rss = max(max_rss, kib * 1024)
        if rss_cap_bytes and max_rss > rss_cap_bytes:
            proc.kill()
            status = "over_cap"
            break
        if time.monotonic() - start > timeout_s:
            proc.kill()
            status = "timeout"
            break
        time.sleep(poll_s)
    out, err = proc.communicate()
    base = dict(payload, polled_peak_rss_gib=round(max_rss / GIB, 3))
    if status:
        return dict(base, status=status, seconds=round(time.monotonic() - start, 1))
    for line in reversed(out.splitlines()):
        if line.startswith(RESULT_PREFIX):
            return dict(base, status="ok", **json.loads(line[len(RESULT_PREFIX):]))
    tail = [line for line in err.strip().splitlines() if line.strip()][-3:]
    return dict(base, status="failed", error=" | ".join(tail) or f"exit code {proc.returncode}")


def load_average():
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def machine_info():
    """Machine, versions and date for the results files (imports no framework)."""
    from importlib import metadata

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    versions = {}
    for package in ("tensorflow", "keras", "torch", "numpy"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    mem = None
    try:
        mem = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / GIB, 1)
    except (ValueError, OSError):
        pass
    return {
        "date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": mem,
        "python": platform.python_version(),
        "versions": versions,
        "load_average_start": load_average(),
    }


def write_results(name, payload):
    """Write ``bench/results/<name>.json`` atomically (with machine info and end load) and return its path."""
    from mammo_tf.utils import write_json_atomic

    payload = dict(payload)
    payload.setdefault("machine", machine_info())
    payload["machine"]["load_average_end"] = load_average()
    path = os.path.join(RESULTS_DIR, f"{name}.json")
    write_json_atomic(path, payload)
    return path


def format_table(rows, columns):
    """Plain-text table of dict ``rows``; ``columns`` = [(key, header), ...]; None prints as '-'."""
    def cell(value):
        if value is None:
            return "-"
        if isinstance(value, float):
            return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"
        return str(value)

    body = [[cell(row.get(key)) for key, _ in columns] for row in rows]
    headers = [header for _, header in columns]
    widths = [max(len(h), *(len(r[i]) for r in body)) if body else len(h) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in body]
    return "\n".join(lines)


def print_table(title, rows, columns):
    print(f"\n{title}\n{format_table(rows, columns)}", flush=True)


def torch_available():
    """True when PyTorch imports; the bench then measures the peer, else prints why it skips."""
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


TORCH_MISSING = (
    "PyTorch is not installed: skipping the PyTorch peer (install a CPU build, e.g. "
    "`pip install torch --index-url https://download.pytorch.org/whl/cpu`)."
)
