"""Argument validation shared by the simulators.

Every public function of :mod:`impl` validates its arguments with these helpers, so that an
invalid value raises ``ValueError`` naming the parameter and the allowed range.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from numbers import Integral, Real

import torch

_DTYPES = {"float32": torch.float32, "float64": torch.float64}


def check_int(name: str, value, lo: int | None = None, hi: int | None = None) -> int:
    """Return ``value`` as an int, raising ``ValueError`` unless ``lo <= value <= hi``."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise ValueError(f"{name} must be an integer{_range(lo, hi)}, got {value!r}")
    value = int(value)
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise ValueError(f"{name} must be an integer{_range(lo, hi)}, got {value}")
    return value


def check_float(
    name: str, value, lo: float | None = None, hi: float | None = None, *, lo_open: bool = False, hi_open: bool = False
) -> float:
    """Return ``value`` as a finite float inside the given (open or closed) range."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ValueError(f"{name} must be a real number{_range(lo, hi, lo_open, hi_open)}, got {value!r}")
    value = float(value)
    bad = not math.isfinite(value)
    if lo is not None:
        bad |= value <= lo if lo_open else value < lo
    if hi is not None:
        bad |= value >= hi if hi_open else value > hi
    if bad:
        raise ValueError(f"{name} must be a finite real number{_range(lo, hi, lo_open, hi_open)}, got {value}")
    return value


def check_choice(name: str, value, choices: Iterable[str]) -> str:
    choices = tuple(choices)
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return value


def check_seeds(seeds) -> tuple[int, ...]:
    """Seeds: an int or a non-empty sequence of non-negative ints."""
    if isinstance(seeds, Integral) and not isinstance(seeds, bool):
        seeds = (int(seeds),)
    if not isinstance(seeds, Sequence) or isinstance(seeds, str) or len(seeds) == 0:
        raise ValueError(f"seeds must be a non-negative int or a non-empty sequence of them, got {seeds!r}")
    return tuple(check_int("seeds", s, 0, 2**62) for s in seeds)


def resolve_device(device) -> torch.device:
    """``'cpu'`` (default), ``'cuda'``, ``'cuda:k'`` or ``'auto'`` (CUDA when available)."""
    if device is None:
        device = "cpu"
    if isinstance(device, torch.device):
        dev = device
    elif isinstance(device, str):
        if device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        try:
            dev = torch.device(device)
        except RuntimeError:
            raise ValueError(f"device must be 'cpu', 'cuda', 'cuda:k' or 'auto', got {device!r}") from None
    else:
        raise ValueError(f"device must be 'cpu', 'cuda', 'cuda:k' or 'auto', got {device!r}")
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'cpu', 'cuda', 'cuda:k' or 'auto', got {device!r}")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' was asked for but CUDA is not available; use device='cpu'")
    return dev


def resolve_dtype(dtype) -> torch.dtype:
    """``torch.float32`` (default) or ``torch.float64`` (or their names)."""
    if dtype is None:
        return torch.float32
    if isinstance(dtype, str):
        if dtype not in _DTYPES:
            raise ValueError(f"dtype must be one of {tuple(_DTYPES)}, got {dtype!r}")
        return _DTYPES[dtype]
    if dtype not in (torch.float32, torch.float64):
        raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype!r}")
    return dtype


def check_finite_tensor(name: str, t: torch.Tensor, *, nonneg: bool = False) -> torch.Tensor:
    if not torch.is_tensor(t):
        raise ValueError(f"{name} must be a tensor, got {type(t).__name__}")
    if t.is_floating_point() and not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name} must be finite (no NaN or inf)")
    if nonneg and bool((t < 0).any()):
        raise ValueError(f"{name} must be non-negative")
    return t


def _range(lo, hi, lo_open: bool = False, hi_open: bool = False) -> str:
    if lo is None and hi is None:
        return ""
    left = "(" if lo_open or lo is None else "["
    right = ")" if hi_open or hi is None else "]"
    return f" in {left}{'-inf' if lo is None else lo}, {'inf' if hi is None else hi}{right}"
