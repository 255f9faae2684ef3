"""Argument validation shared by :mod:`theory` and :mod:`impl` (one module, one wording).

Every public function of the suite validates its arguments with these helpers, so that an invalid
value raises ``ValueError`` naming the parameter and the allowed range. Conventions:

- booleans are booleans: ``check_bool`` refuses ``0``, ``1``, ``None`` and strings;
- integers are not booleans: ``check_int`` refuses ``True``/``False``; it refuses floats, even
  integer-valued ones (``2.0``), everywhere alike;
- real numbers are finite unless a range says otherwise: NaN and +-inf are refused;
- sizes have upper bounds: a step count at most ``MAX_STEPS``, and the arrays a call allocates at most
  the machine's memory (:func:`check_alloc`, which names every size parameter involved);
- arrays and tensors have a real (or, where asked, integer) dtype, the required dimensions and shape,
  finite entries, and are not empty (:func:`check_array`, :func:`check_tensor`).

The module imports numpy only. The torch helpers (:func:`resolve_device`, :func:`resolve_dtype`,
:func:`check_finite_tensor`) import torch when they are called, so :mod:`theory` (which never imports
torch) and the sweep engine (whose workers need not import torch) can use this module.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from numbers import Integral, Real
from typing import Any

import numpy as np

__all__ = [
    "MAX_STEPS",
    "as_int_tensor",
    "check_alloc",
    "check_array",
    "check_bool",
    "check_broadcast",
    "check_choice",
    "check_finite_tensor",
    "check_float",
    "check_int",
    "check_map",
    "check_prob",
    "check_seeds",
    "check_tensor",
    "resolve_device",
    "resolve_dtype",
]

SEED_MAX = 2**62
MAX_STEPS = 10**8  # the documented maximum of every step count (training steps, samples, iterations)


def memory_bytes() -> int:
    """Physical memory of this machine in bytes (``os.sysconf``; 2**34 where it cannot be read).

    Returns
    -------
    int
    """
    import os

    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return 2**34


def check_alloc(names: str, nbytes: float) -> None:
    """Refuse a call whose arrays would need more than the machine's memory, before allocating them.

    Parameters
    ----------
    names : str
        The size parameters that set the allocation, as the caller wrote them (``"N, d"``).
    nbytes : float
        Bytes the call would allocate (an estimate of its largest arrays).

    Raises
    ------
    ValueError
        Naming ``names``, the memory asked for and the memory available.
    """
    mem = memory_bytes()
    if not nbytes <= mem:
        raise ValueError(
            f"{names}: too large, the arrays would need {float(nbytes) / 2**30:.3g} GiB, more than this machine's "
            f"{mem / 2**30:.3g} GiB of memory; reduce {names}"
        )


def _range(lo: Any = None, hi: Any = None, lo_open: bool = False, hi_open: bool = False) -> str:
    """`` in [lo, hi]`` with open/closed brackets ("" when there are no bounds)."""
    if lo is None and hi is None:
        return ""
    left = "(" if lo_open or lo is None else "["
    right = ")" if hi_open or hi is None else "]"
    return f" in {left}{'-inf' if lo is None else lo}, {'inf' if hi is None else hi}{right}"


def check_int(name: str, value: Any, lo: int | None = None, hi: int | None = None) -> int:
    """Return ``value`` as an ``int``, checking ``lo <= value <= hi``.

    Parameters
    ----------
    name : str
        The parameter's name as the caller wrote it (used in the message).
    value : Any
        An integer (Python or numpy; not a bool, not a float).
    lo, hi : int or None
        Inclusive bounds (None: unbounded on that side).

    Returns
    -------
    int
        ``int(value)``.

    Raises
    ------
    ValueError
        Naming ``name`` and the allowed range.
    """
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise ValueError(f"{name} must be an integer{_range(lo, hi)}, got {value!r}")
    value = int(value)
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise ValueError(f"{name} must be an integer{_range(lo, hi)}, got {value}")
    return value


def check_float(
    name: str,
    value: Any,
    lo: float | None = None,
    hi: float | None = None,
    *,
    lo_open: bool = False,
    hi_open: bool = False,
) -> float:
    """Return ``value`` as a finite ``float`` inside ``[lo, hi]`` (or the open variants).

    Parameters
    ----------
    name : str
        The parameter's name (used in the message).
    value : Any
        A real number (int or float, Python or numpy; not a bool).
    lo, hi : float or None
        Bounds (None: unbounded on that side).
    lo_open, hi_open : bool
        Whether the bound itself is excluded.

    Returns
    -------
    float
        ``float(value)``, finite and in range.
    """
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


def check_bool(name: str, value: Any) -> bool:
    """Return ``value`` if it is a ``bool`` (Python or numpy), else raise ``ValueError`` naming ``name``.

    Parameters
    ----------
    name : str
        The parameter's name.
    value : Any
        ``True`` or ``False``.

    Returns
    -------
    bool
    """
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be a bool (True or False), got {value!r}")
    return bool(value)


def check_choice(name: str, value: Any, choices: Iterable[Any]) -> Any:
    """Return ``value`` if it is one of ``choices``, else raise ``ValueError`` listing them.

    Parameters
    ----------
    name : str
        The parameter's name.
    value : Any
        The value to check (``value in choices``; a bool matches only bool choices).
    choices : iterable
        The allowed values.

    Returns
    -------
    Any
        ``value``.
    """
    choices = tuple(choices)
    try:
        ok = value in choices and (
            not isinstance(value, bool) or any(isinstance(c, bool) for c in choices)
        )  # True == 1: a bool is a valid choice only where bools are
    except Exception:  # an object whose == raises (an array) is not a valid choice
        ok = False
    if not ok:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return value


def check_seeds(seeds: Any, name: str = "seeds") -> tuple[int, ...]:
    """Seeds: a non-negative int, or a non-empty sequence of them (list, tuple, range, 1-D numpy array).

    Parameters
    ----------
    seeds : int or sequence of int
        Each in ``[0, 2**62]``; floats and bools are refused.
    name : str
        The parameter's name as the caller wrote it (``seeds`` or ``seed``).

    Returns
    -------
    tuple of int
    """
    if isinstance(seeds, Integral) and not isinstance(seeds, bool):
        seeds = (int(seeds),)
    if isinstance(seeds, np.ndarray):
        if seeds.ndim != 1:
            raise ValueError(f"{name} must be a 1-D sequence of non-negative ints, got an array of shape {seeds.shape}")
        seeds = seeds.tolist()
    if not isinstance(seeds, Sequence) or isinstance(seeds, (str, bytes)) or len(seeds) == 0:
        raise ValueError(f"{name} must be a non-negative int or a non-empty sequence of them, got {seeds!r}")
    return tuple(check_int(name, s, 0, SEED_MAX) for s in seeds)


def check_array(
    name: str,
    value: Any,
    *,
    ndim: int | None = None,
    nonneg: bool = False,
    dtype: Any = float,
    shape: tuple[int, ...] | None = None,
    allow_empty: bool = False,
) -> np.ndarray:
    """A finite, non-empty numpy array (of ``ndim`` dimensions; non-negative if asked).

    Parameters
    ----------
    name : str
        The parameter's name.
    value : array_like
        Numbers (a list, a numpy array, a CPU tensor).
    ndim : int or None
        Required number of dimensions.
    nonneg : bool
        Whether negative entries are refused.
    dtype : numpy dtype
        dtype of the returned array (``float`` by default); an integer dtype requires integer input
        (an integer array, or integer Python numbers: floats, even integer-valued, are refused, as
        :func:`check_int` does).
    shape : tuple of int or None
        Required shape (-1: any length on that axis).
    allow_empty : bool
        Whether an array with no entries is accepted.

    Returns
    -------
    numpy.ndarray
    """
    if value is None or isinstance(value, (str, bytes)):
        raise ValueError(f"{name} must be an array of numbers, got {value!r}")
    if hasattr(value, "detach") and hasattr(value, "cpu"):
        value = value.detach().cpu().numpy()
    try:
        raw = np.asarray(value)
    except (TypeError, ValueError, RuntimeError):
        raise ValueError(f"{name} must be an array of numbers (not a ragged sequence)") from None
    want_int = np.issubdtype(np.dtype(dtype), np.integer)
    if raw.dtype.kind not in ("iu" if want_int else "iuf") or raw.dtype == np.bool_:
        kind = "integers" if want_int else "real numbers"
        raise ValueError(f"{name} must be an array of {kind}, got dtype {raw.dtype}")
    try:
        a = raw.astype(dtype, copy=False)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{name} must be an array of numbers") from None
    if want_int and raw.dtype.kind == "u" and np.any(raw > np.iinfo(np.int64).max):
        raise ValueError(f"{name} has entries too large for int64")
    if ndim is not None and a.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimension(s), got shape {a.shape}")
    if shape is not None and (a.ndim != len(shape) or any(s != -1 and s != n for s, n in zip(shape, a.shape))):
        want = "(" + ", ".join("n" if s == -1 else str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"
        raise ValueError(f"{name} must have shape {want}, got {a.shape}")
    if a.size == 0 and not allow_empty:
        raise ValueError(f"{name} must not be empty")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must be finite (no NaN or inf)")
    if nonneg and np.any(a < 0):
        raise ValueError(f"{name} must be non-negative")
    return a


def check_prob(
    name: str,
    p: Any,
    *,
    ndim: int = 1,
    shape: tuple[int, ...] | None = None,
    normalized: bool = True,
    atol: float = 1e-8,
) -> np.ndarray:
    """A probability vector (or a stack of them along the last axis).

    Parameters
    ----------
    name : str
        The parameter's name.
    p : array_like
        Finite, non-negative entries (a list, numpy array or tensor; a tensor is read on the CPU).
    ndim : int
        Required number of dimensions (1: one vector).
    shape : tuple of int or None
        Required shape, if any.
    normalized : bool
        True: every vector must sum to 1 within ``atol``. False: weights with a positive sum
        (the caller normalises, e.g. a sampler).
    atol : float
        Absolute tolerance of the sum (``numpy.isclose``, with its default relative tolerance 1e-5).

    Returns
    -------
    numpy.ndarray
        ``p`` as float64, unchanged (not renormalised).
    """
    if hasattr(p, "detach") and hasattr(p, "cpu"):
        p = p.detach().cpu().numpy()
    a = check_array(name, p, ndim=ndim, nonneg=True, dtype=np.float64)
    if shape is not None and a.shape != tuple(shape):
        raise ValueError(f"{name} must be a probability vector of shape {tuple(shape)}, got shape {a.shape}")
    s = a.sum(-1)
    if normalized:
        if not np.all(np.isclose(s, 1.0, atol=atol)):
            raise ValueError(f"{name} must be a probability vector (non-negative, summing to 1), got sum {s}")
    elif not np.all(s > 0):
        raise ValueError(f"{name} must be non-negative weights with a positive sum (a probability vector)")
    return a


def check_map(name: str, f: Any, n: int, m: int) -> np.ndarray:
    """A map ``[n] -> [m]`` given as an integer array of length ``n`` with values in ``[0, m)``.

    Parameters
    ----------
    name : str
        The parameter's name.
    f : array_like of int
        The map's values.
    n, m : int
        Size of the domain and of the codomain.

    Returns
    -------
    numpy.ndarray
        ``f`` as an integer array.
    """
    if f is None or isinstance(f, (str, bytes)):
        raise ValueError(f"{name} must be an integer array of shape ({n},), got {f!r}")
    if hasattr(f, "detach") and hasattr(f, "cpu"):
        f = f.detach().cpu().numpy()
    try:
        a = np.asarray(f)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an integer array of shape ({n},)") from None
    if a.shape != (n,) or not np.issubdtype(a.dtype, np.integer):
        raise ValueError(f"{name} must be an integer array of shape ({n},), got {a.dtype} {a.shape}")
    if a.size == 0:
        raise ValueError(f"{name} must not be empty")
    if a.min() < 0 or a.max() >= m:
        raise ValueError(f"{name} values must lie in [0, {m - 1}]")
    return a


# ---------------------------------------------------------------------------------------------------
# torch helpers (torch is imported when they are called)


def resolve_device(device: Any, name: str = "device") -> Any:
    """``'cpu'`` (default, also for None), ``'cuda'``, ``'cuda:k'``, ``'auto'`` (CUDA when available).

    Parameters
    ----------
    device : str, torch.device or None
        Where to compute.
    name : str
        The parameter's name.

    Returns
    -------
    torch.device
    """
    import torch

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
            raise ValueError(f"{name} must be 'cpu', 'cuda', 'cuda:k' or 'auto', got {device!r}") from None
    else:
        raise ValueError(f"{name} must be 'cpu', 'cuda', 'cuda:k' or 'auto', got {device!r}")
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"{name} must be 'cpu', 'cuda', 'cuda:k' or 'auto', got {device!r}")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"{name}='cuda' was asked for but CUDA is not available; use {name}='cpu'")
    return dev


def resolve_dtype(dtype: Any, name: str = "dtype") -> Any:
    """``torch.float32`` (default, also for None) or ``torch.float64``, or their names.

    Parameters
    ----------
    dtype : torch.dtype, str or None
        The floating-point type of a simulation.
    name : str
        The parameter's name.

    Returns
    -------
    torch.dtype
    """
    import torch

    dtypes = {"float32": torch.float32, "float64": torch.float64}
    if dtype is None:
        return torch.float32
    if isinstance(dtype, str):
        if dtype not in dtypes:
            raise ValueError(f"{name} must be one of {tuple(dtypes)}, got {dtype!r}")
        return dtypes[dtype]
    if dtype not in (torch.float32, torch.float64):
        raise ValueError(f"{name} must be torch.float32 or torch.float64, got {dtype!r}")
    return dtype


def check_finite_tensor(name: str, t: Any, *, nonneg: bool = False) -> Any:
    """Return ``t`` if it is a real tensor (any real dtype, any shape, possibly empty) with finite entries,
    non-negative if asked: :func:`check_tensor` with ``kind='any'`` and ``allow_empty=True``.

    Parameters
    ----------
    name : str
        The parameter's name.
    t : torch.Tensor
        The tensor to check.
    nonneg : bool
        Whether negative entries are refused.

    Returns
    -------
    torch.Tensor
        ``t`` itself.
    """
    return check_tensor(name, t, kind="any", nonneg=nonneg, allow_empty=True)


def check_tensor(
    name: str,
    t: Any,
    *,
    ndim: int | None = None,
    shape: tuple[int, ...] | None = None,
    kind: str = "float",
    nonneg: bool = False,
    allow_empty: bool = False,
) -> Any:
    """Return ``t`` if it is a tensor of the right kind of dtype, dimensions and shape, finite, not empty.

    Parameters
    ----------
    name : str
        The parameter's name.
    t : torch.Tensor
        The tensor to check.
    ndim : int or None
        Required number of dimensions.
    shape : tuple of int or None
        Required shape (-1: any length on that axis).
    kind : {'float', 'int', 'bool', 'any'}
        Required dtype: float32 or float64; an integer dtype (not bool); bool; anything real.
    nonneg : bool
        Whether negative entries are refused.
    allow_empty : bool
        Whether a tensor with no entries is accepted.

    Returns
    -------
    torch.Tensor
        ``t`` itself.
    """
    import torch

    if not torch.is_tensor(t):
        raise ValueError(f"{name} must be a torch tensor, got {type(t).__name__}")
    ok = {
        "float": t.dtype in (torch.float32, torch.float64),
        "int": not t.is_floating_point() and not t.is_complex() and t.dtype != torch.bool,
        "bool": t.dtype == torch.bool,
        "any": not t.is_complex(),
    }[kind]
    if not ok:
        want = {"float": "float32 or float64", "int": "an integer dtype", "bool": "bool", "any": "a real dtype"}[kind]
        raise ValueError(f"{name} must be a tensor of {want}, got {t.dtype}")
    if ndim is not None and t.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimension(s), got shape {tuple(t.shape)}")
    if shape is not None and (t.ndim != len(shape) or any(s != -1 and s != n for s, n in zip(shape, t.shape))):
        want = "(" + ", ".join("n" if s == -1 else str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"
        raise ValueError(f"{name} must have shape {want}, got {tuple(t.shape)}")
    if t.numel() == 0 and not allow_empty:
        raise ValueError(f"{name} must not be empty")
    if t.is_floating_point() and not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name} must be finite (no NaN or inf)")
    if nonneg and t.dtype != torch.bool and bool((t < 0).any()):
        raise ValueError(f"{name} must be non-negative")
    return t


def as_int_tensor(name: str, value: Any, what: str) -> Any:
    """``value`` as a torch tensor of an integer dtype (from a tensor, an array, a range or a nested list).

    Parameters
    ----------
    name : str
        The parameter's name.
    value : Any
        The value to convert.
    what : str
        What the parameter must be, for the message (``"an int64 tensor of shape (S, B, T)"``).

    Returns
    -------
    torch.Tensor
        ``torch.as_tensor(value)``, of an integer dtype (not bool).

    Raises
    ------
    ValueError
        ``"{name} must be {what}, got ..."`` for None, strings, values torch cannot convert, float, complex or
        bool dtypes.
    """
    import torch

    if value is None or isinstance(value, (str, bytes)):
        raise ValueError(f"{name} must be {what}, got {value!r}")
    try:
        t = torch.as_tensor(value)
    except (TypeError, ValueError, RuntimeError, OverflowError):
        raise ValueError(f"{name} must be {what}, got {type(value).__name__}") from None
    if t.is_floating_point() or t.is_complex() or t.dtype == torch.bool:
        raise ValueError(f"{name} must be {what}, got dtype {t.dtype}")
    return t


def check_broadcast(names: str, *arrays: Any) -> tuple[int, ...]:
    """The broadcast shape of ``arrays``, or a ``ValueError`` naming ``names`` when they do not broadcast.

    Parameters
    ----------
    names : str
        The parameters, as the caller wrote them (``"m and d"``).
    *arrays : numpy.ndarray
        The arrays.

    Returns
    -------
    tuple of int
        The broadcast shape.
    """
    try:
        return tuple(np.broadcast_shapes(*(np.shape(a) for a in arrays)))
    except ValueError:
        shapes = ", ".join(str(np.shape(a)) for a in arrays)
        raise ValueError(f"{names} must broadcast against each other, got shapes {shapes}") from None
