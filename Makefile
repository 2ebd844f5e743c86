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

clean:
	rm -rf $(VENV) .pytest_cache build dist *.egg-info
