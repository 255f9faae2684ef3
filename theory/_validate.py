"""Argument validation for the closed forms (numpy only; theory never imports torch or impl)."""

from __future__ import annotations

import math
from numbers import Integral, Real

import numpy as np


def _bounds(lo, hi, lo_open=False, hi_open=False) -> str:
    a = "-inf" if lo is None else lo
    b = "inf" if hi is None else hi
    return f"{'(' if lo_open or lo is None else '['}{a}, {b}{')' if hi_open or hi is None else ']'}"


def as_int(name: str, v, lo=None, hi=None) -> int:
    ok = isinstance(v, Integral) and not isinstance(v, bool)
    ok = ok and (lo is None or v >= lo) and (hi is None or v <= hi)
    if not ok:
        raise ValueError(f"{name} must be an integer in {_bounds(lo, hi)}, got {v!r}")
    return int(v)


def as_real(name: str, v, lo=None, hi=None, *, lo_open=False, hi_open=False) -> float:
    ok = isinstance(v, (Real, np.floating)) and not isinstance(v, bool) and math.isfinite(float(v))
    if ok:
        x = float(v)
        ok = (lo is None or (x > lo if lo_open else x >= lo)) and (hi is None or (x < hi if hi_open else x <= hi))
    if not ok:
        raise ValueError(f"{name} must be a finite real in {_bounds(lo, hi, lo_open, hi_open)}, got {v!r}")
    return float(v)


def as_choice(name: str, v, choices) -> str:
    if v not in tuple(choices):
        raise ValueError(f"{name} must be one of {tuple(choices)}, got {v!r}")
    return v


def as_array(name: str, v, *, ndim: int | None = None, nonneg: bool = False, dtype=float) -> np.ndarray:
    """A finite numpy array (of the given number of dimensions, non-negative if asked)."""
    try:
        a = np.asarray(v, dtype=dtype)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an array of numbers") from None
    if ndim is not None and a.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimension(s), got shape {a.shape}")
    if a.size == 0:
        raise ValueError(f"{name} must not be empty")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must be finite (no NaN or inf)")
    if nonneg and np.any(a < 0):
        raise ValueError(f"{name} must be non-negative")
    return a


def as_map(name: str, f, n: int, m: int) -> np.ndarray:
    """A map [n] -> [m] given as an integer array of length n with values in [0, m)."""
    a = np.asarray(f)
    if a.shape != (n,) or not np.issubdtype(a.dtype, np.integer):
        raise ValueError(f"{name} must be an integer array of shape ({n},), got {a.dtype} {a.shape}")
    if a.min() < 0 or a.max() >= m:
        raise ValueError(f"{name} values must lie in [0, {m - 1}]")
    return a
