"""Shared pytest setup: quiet TensorFlow, fixed seeds, the real-data folder."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import importlib.abc
import pathlib
import random
import sys

import numpy as np
import pytest

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
SEED = 1234


@pytest.fixture
def shared_data():
    """``../shared/data`` beside the repository; tests using it skip where it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is absent (only on the project's machines)")
    return SHARED_DATA


def _seed_backend(name):
    """What ``keras.utils.set_random_seed(SEED)`` does beyond Python and NumPy (the Keras
    seed generator, TensorFlow, torch), for a framework imported in the middle of a test;
    Python's and NumPy's generators are left where the test has them."""
    state = random.getstate(), np.random.get_state()
    if name == "keras":
        sys.modules["keras"].utils.set_random_seed(SEED)
    else:
        sys.modules["tensorflow"].random.set_seed(SEED)
    random.setstate(state[0])
    np.random.set_state(state[1])


class _SeedOnImport(importlib.abc.MetaPathFinder):
    """Seeds Keras / TensorFlow right after a test imports them for the first time, leaving
    Python's and NumPy's generators as they were before the import (importing TensorFlow draws
    from Python's ``random``): the same seeds as seeding everything at the test's start."""

    NAMES = ("keras", "tensorflow")

    def find_spec(self, name, path, target=None):
        if name not in self.NAMES:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                break
        else:
            return None
        loader = spec.loader
        exec_module = loader.exec_module

        def exec_and_seed(module):
            del loader.exec_module  # back to the loader's own method
            state = random.getstate(), np.random.get_state()
            exec_module(module)
            random.setstate(state[0])
            np.random.set_state(state[1])
            _seed_backend(name)

        loader.exec_module = exec_and_seed
        return spec


@pytest.fixture(autouse=True)
def _seed():
    """Every test starts from seed 1234 (Python, NumPy, Keras, TensorFlow) without importing
    Keras for the tests that never use it: numpy-only tests stay fast when run alone."""
    random.seed(SEED)
    np.random.seed(SEED)
    if "keras" in sys.modules:
        sys.modules["keras"].utils.set_random_seed(SEED)
        yield
        return
    if "tensorflow" in sys.modules:
        sys.modules["tensorflow"].random.set_seed(SEED)
    hook = _SeedOnImport()
    sys.meta_path.insert(0, hook)
    try:
        yield
    finally:
        sys.meta_path.remove(hook)
