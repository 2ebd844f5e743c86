# mammo_tf — the two commands a user needs are `make test` and `make demo`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: venv test test-slow demo bench clean

$(VENV)/.installed: setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e '.[dev]'
	touch $@

venv: $(VENV)/.installed

# Fast suite: CPU only, tiny inputs, weights=None. Slow tests are marked and excluded.
test: venv
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS) tests

test-slow: venv
	$(PY) -m pytest -m slow $(PYTEST_ARGS) tests

# The whole pipeline on the embedded phantom dataset, on CPU (see docs/pipelines.md).
DEMO_OUT ?= demo_output
demo: venv
	TF_CPP_MIN_LOG_LEVEL=2 $(PY) examples/demo.py --out $(DEMO_OUT)

# Benchmarks, NOT part of `make test` (tens of minutes on 2 cores): tables printed, JSON in
# bench/results/, summary in bench/README.md. `make bench BENCH_ARGS=--quick` is a smoke run.
# PyTorch is optional: without it the peer columns are skipped with a message.
BENCH_ARGS ?=
bench: venv
	@$(PY) -c "import torch" 2>/dev/null || echo "bench: PyTorch is not installed; the PyTorch peer will be skipped."
	$(PY) bench/limit.py $(BENCH_ARGS)
	$(PY) bench/train_step.py $(BENCH_ARGS)
	$(PY) bench/memory.py $(BENCH_ARGS)
	$(PY) bench/data_pipeline.py $(if $(findstring --quick,$(BENCH_ARGS)),--images 8 --repeats 1 --out bench/results/data_pipeline_quick.json,)
	$(PY) bench/explain.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache build dist *.egg-info
