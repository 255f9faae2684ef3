"""Benchmarks cannot rot: every asv benchmark runs once at its smallest parameters, and `asv check` passes."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _benchmark_cases():
    import benchmarks

    for mod in pkgutil.iter_modules(benchmarks.__path__):
        m = importlib.import_module(f"benchmarks.{mod.name}")
        for name, obj in inspect.getmembers(m, inspect.isclass):
            if obj.__module__ != m.__name__:
                continue
            methods = [k for k in dir(obj) if k.startswith(("time_", "peakmem_", "mem_", "track_"))]
            if methods:
                yield pytest.param(obj, methods, id=f"{mod.name}.{name}")


def _smallest(params):
    if not params:
        return ()
    if not isinstance(params[0], (list, tuple)):
        params = (params,)
    return tuple(min(p, key=lambda v: (isinstance(v, str), v if not isinstance(v, str) else 0)) for p in params)


@pytest.mark.parametrize("cls, methods", list(_benchmark_cases()))
def test_benchmark_runs_once(cls, methods):
    args = _smallest(getattr(cls, "params", ()))
    if "cuda" in args:
        args = tuple("cpu" if a == "cuda" else a for a in args)
    obj = cls()
    if hasattr(obj, "setup"):
        obj.setup(*args)
    for meth in methods:
        out = getattr(obj, meth)(*args)
        if meth.startswith("track_"):
            assert out is not None


def test_asv_check():
    asv = shutil.which("asv") or str(Path(sys.executable).parent / "asv")
    if not Path(asv).exists():
        pytest.skip("asv is not installed")
    r = subprocess.run([asv, "check", "--python=same"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "No problems found" in r.stdout
