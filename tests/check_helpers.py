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
    non-finite): dicts key by key, lists of dicts or lists item by item, other lists as float arrays (rtol 1e-4,
    atol 1e-6), anything else exactly."""
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            close_results(a[k], b[k])
    elif isinstance(a, list) and any(isinstance(v, (dict, list)) for v in a):
        assert isinstance(b, list) and len(a) == len(b)
        for u, v in zip(a, b):
            close_results(u, v)
    elif isinstance(a, list):
        x = np.array(a, dtype=float)
        y = np.array(b, dtype=float)
        assert x.shape == y.shape
        np.testing.assert_allclose(x, y, rtol=1e-4, atol=1e-6)
    else:
        assert a == b


def store_runs(tmp_path, monkeypatch):
    """A sweep store in ``tmp_path`` run inline (no Dask, no other store option of the environment): returns
    ``(path, runs, progress)``, where ``runs(scale)`` is a ``stored_runs`` at that scale (what a check's
    ``stored_runs`` fixture hands it) and ``progress`` collects the counts of each call."""
    import functools

    import sweeps

    path = tmp_path / "runs.sqlite"
    monkeypatch.delenv("AMEMORY_STORED_RUNS", raising=False)
    monkeypatch.setenv("AMEMORY_SWEEP_STORE", str(path))
    monkeypatch.setenv("AMEMORY_DASK_SCHEDULER", "inline")
    progress: list[dict] = []

    def run(scale, *a, **kw):
        out = sweeps.stored_runs(*a, config=None, scale=scale, device="cpu", report=lambda line: None, **kw)
        progress.append(out.progress)
        return out

    return path, lambda scale: functools.partial(run, scale), progress
