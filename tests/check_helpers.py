"""Helpers of the unit tests of the checks' task functions: load a claim-check module of ``checks/`` under a name
of its own (``tests/`` has modules of the same names, e.g. ``test_transformer.py``), and compare two task results
up to float32 round-off."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def load_module(name: str, path: Path):
    """The module at ``path``, imported as ``name``."""
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def check_module(monkeypatch, family: str, name: str | None = None):
    """checks/test_<family>.py as ``name`` (default ``checks_test_<family>``), its ``from conftest import ...``
    pointed at checks/conftest.py for the time of the test (``monkeypatch`` undoes it)."""
    monkeypatch.setitem(sys.modules, "conftest", load_module("checks_conftest", ROOT / "checks" / "conftest.py"))
    return load_module(name or f"checks_test_{family}", ROOT / "checks" / f"test_{family}.py")


def close_results(a, b) -> None:
    """Assert two task results equal up to float32 round-off of batched products (None where either is
    non-finite): dicts key by key, lists as float arrays (rtol 1e-4, atol 1e-6), anything else exactly."""
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            close_results(a[k], b[k])
    elif isinstance(a, list):
        x = np.array(a, dtype=float)
        y = np.array(b, dtype=float)
        assert x.shape == y.shape
        np.testing.assert_allclose(x, y, rtol=1e-4, atol=1e-6)
    else:
        assert a == b
