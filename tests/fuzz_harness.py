"""The machinery of the argument fuzz test (``tests/test_fuzz.py`` holds the table of valid calls).

A *case* is one public callable, called with its valid baseline arguments except one parameter, which is
replaced by one substitution of the catalogue below (NaN, +-inf, 0, -1, 10**12, 2**63, a string, None, a
list, 2.5, True, an integer-valued float, wrong-dtype/wrong-shape/empty/NaN tensors and arrays, ...).
The catalogue a parameter gets depends on its *kind* (``size``, ``pos``, ``seeds``, ``tensor`` ...); the
kind also says which substitutions are valid values of that parameter (0 is a valid ``count``, 2.5 a valid
``pos`` real). An entry of the table may add valid substitutions (``valid=``) or expected exceptions of
valid-but-divergent values (``expect=``).

A case passes when

- an invalid substitution raises ``ValueError`` whose message names the parameter as the caller wrote it;
- a valid substitution (and the baseline) returns, and no float in the result is NaN or inf;
- either happens within ``TIME_LIMIT`` seconds (a SIGALRM watchdog) and under a soft address-space limit
  of ``MEMORY_LIMIT`` bytes above the process's size at the call (``resource.RLIMIT_AS``): a size that is
  not refused before allocating fails as a ``MemoryError``/``RuntimeError`` instead of taking the machine.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import math
import re
import resource
import signal
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

TIME_LIMIT = 10.0  # seconds per case
MEMORY_LIMIT = 3 * 2**30  # bytes of address space a case may add

NAN, INF = float("nan"), float("inf")

# ------------------------------------------------------------------------------------------------ kinds
# label -> value(base); base is the parameter's baseline value
_NUM: dict[str, Callable[[Any], Any]] = {
    "nan": lambda b: NAN,
    "inf": lambda b: INF,
    "-inf": lambda b: -INF,
    "zero": lambda b: 0,
    "neg": lambda b: -1,
    "huge": lambda b: 10**12,
    "i64": lambda b: 2**63,
    "str": lambda b: "ab",
    "none": lambda b: None,
    "list": lambda b: [1],
    "frac": lambda b: 2.5,
    "true": lambda b: True,
}
_INT = {**_NUM, "intfloat": lambda b: float(b) if isinstance(b, int) and not isinstance(b, bool) else 2.0}


def _first_entry(a, v):
    a = a.clone() if torch.is_tensor(a) else np.array(a, dtype=float if np.asarray(a).dtype.kind != "c" else None)
    if torch.is_tensor(a):
        if not a.is_floating_point():
            a = a.double()
        a.view(-1)[0] = v
    else:
        a.reshape(-1)[0] = v
    return a


def _empty(a):
    if torch.is_tensor(a):
        return a[:0]
    a = np.asarray(a)
    return a[:0] if a.ndim else np.zeros(0)


def _short(a):
    if torch.is_tensor(a):
        return a[:-1] if a.ndim and a.shape[0] > 1 else a.reshape(-1)[:0]
    a = np.asarray(a)
    return a[:-1] if a.ndim and a.shape[0] > 1 else np.zeros(0)


def _extra_dim(a):
    if torch.is_tensor(a):
        return torch.stack([a, a, a])
    a = np.asarray(a)
    return np.stack([a, a, a])


def _wrong_dtype(a):
    if torch.is_tensor(a):
        if a.is_floating_point():
            return a.to(torch.complex64)
        if a.dtype == torch.bool:
            return a.double() + 0.5
        return a.double() + 0.5
    a = np.asarray(a)
    if a.dtype.kind == "f":
        return a.astype(complex) + 1j
    return a.astype(float) + 0.5


_ARRAY = {
    "nan_entry": lambda b: _first_entry(b, NAN),
    "inf_entry": lambda b: _first_entry(b, INF),
    "empty": _empty,
    "short": _short,
    "extra_dim": _extra_dim,
    "dtype": _wrong_dtype,
    "str": lambda b: "ab",
    "none": lambda b: None,
    "strarr": lambda b: np.array(["a", "b"]),
}
_TENSOR = {k: v for k, v in _ARRAY.items() if k != "strarr"}

KINDS: dict[str, tuple[dict[str, Callable[[Any], Any]], frozenset[str]]] = {
    # kind: (catalogue, labels that are valid values of this kind)
    "size": (_INT, frozenset()),  # integer >= 1
    "count": (_INT, frozenset({"zero"})),  # integer >= 0
    "int": (_INT, frozenset({"zero", "neg"})),  # any integer
    "seed": (_INT, frozenset({"zero", "huge"})),  # integer in [0, 2**62]
    "pos": (_NUM, frozenset({"frac"})),  # real > 0
    "nonneg": (_NUM, frozenset({"zero", "frac"})),  # real >= 0
    "real": (_NUM, frozenset({"zero", "neg", "frac"})),  # any finite real
    "bounded": (_NUM, frozenset()),  # a real in a bounded range that excludes all of the catalogue
    "bool": (
        {
            "flip": lambda b: not b,
            "str": lambda b: "abc",
            "none": lambda b: None,
            "zero": lambda b: 0,
            "one": lambda b: 1,
            "nan": lambda b: NAN,
            "list": lambda b: [b],
        },
        frozenset({"flip"}),
    ),
    "choice": (
        {
            "bogus": lambda b: "bogus",
            "none": lambda b: None,
            "int": lambda b: 1,
            "true": lambda b: True,
            "nan": lambda b: NAN,
            "list": lambda b: [b],
        },
        frozenset(),
    ),
    "seeds": (
        {
            "zero": lambda b: 0,
            "huge": lambda b: 10**12,
            "list": lambda b: [1],
            "frac": lambda b: 2.5,
            "neg": lambda b: -1,
            "str": lambda b: "ab",
            "none": lambda b: None,
            "empty": lambda b: [],
            "fraclist": lambda b: [1.5],
            "true": lambda b: True,
            "i64": lambda b: 2**63,
            "nan": lambda b: NAN,
            "arr2d": lambda b: np.zeros((1, 1), dtype=int),
        },
        frozenset({"zero", "huge", "list"}),
    ),
    "device": (
        {
            "cpu": lambda b: "cpu",
            "tpu": lambda b: "tpu",
            "bogus": lambda b: "bogus",
            "int": lambda b: 3,
            "list": lambda b: ["cpu"],
        },
        frozenset({"cpu"}),
    ),
    "dtype": (
        {
            "f64": lambda b: torch.float64,
            "int": lambda b: torch.int64,
            "half": lambda b: torch.float16,
            "name": lambda b: "float16",
            "num": lambda b: 1,
        },
        frozenset({"f64"}),
    ),
    "array": (_ARRAY, frozenset()),
    "tensor": (_TENSOR, frozenset()),
    "object": (
        {"str": lambda b: "ab", "none": lambda b: None, "int": lambda b: 1, "list": lambda b: [1]},
        frozenset(),
    ),
}


def infer_kind(name: str, value: Any) -> str:
    """The default kind of a parameter from its name and baseline value."""
    if name in ("seeds", "seed"):
        return "seeds" if name == "seeds" else "seed"
    if name == "device":
        return "device"
    if name == "dtype":
        return "dtype"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "size"
    if isinstance(value, float):
        return "pos"
    if isinstance(value, str):
        return "choice"
    if torch.is_tensor(value):
        return "tensor"
    if isinstance(value, np.ndarray):
        return "array"
    return "object"


# ------------------------------------------------------------------------------------------------ table
@dataclass
class Entry:
    """One public callable, its valid baseline call and what its parameters accept.

    target: dotted path (``impl.memory.recall``, ``impl.embeddings.Embedding.rows``).
    make: () -> (kwargs) for a function/class; () -> (callable, kwargs) when ``bound`` (a method).
    kinds: parameter -> kind (default: :func:`infer_kind` of the baseline value).
    valid: parameter -> extra labels that are valid values of it.
    expect: parameter -> {label: exception type} for valid values whose documented outcome is an
        exception other than ValueError (a divergent rate raises FloatingPointError).
    fixed: parameters that are not substituted, each with the reason.
    nonfinite: why non-finite output is a documented part of the result (None: it is not).
    """

    target: str
    make: Callable[[], Any]
    kinds: Mapping[str, str] = field(default_factory=dict)
    valid: Mapping[str, set[str] | frozenset[str]] = field(default_factory=dict)
    expect: Mapping[str, Mapping[str, type]] = field(default_factory=dict)
    fixed: Mapping[str, str] = field(default_factory=dict)
    nonfinite: str | None = None
    bound: bool = False

    def resolve(self) -> Any:
        parts = self.target.split(".")
        for i in range(len(parts), 0, -1):
            try:
                obj = importlib.import_module(".".join(parts[:i]))
            except ImportError:
                continue
            for p in parts[i:]:
                obj = getattr(obj, p)
            return obj
        raise ImportError(self.target)

    def call_args(self) -> tuple[Callable, dict]:
        if self.bound:
            fn, kw = self.make()
            return fn, dict(kw)
        return self.resolve(), dict(self.make())


# ------------------------------------------------------------------------------------------------ bounds
class Timeout(BaseException):
    """Raised by the watchdog (a BaseException, so that ``except Exception`` in the code under test
    cannot swallow it)."""


def _on_alarm(signum, frame):
    raise Timeout


def _vm_size() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def bounded_call(fn: Callable, kwargs: dict) -> tuple[str, Any, float]:
    """Call ``fn(**kwargs)`` under the time and memory bounds.

    Returns (status, value or exception, seconds) with status 'ok', 'raised' or 'timeout'.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = _vm_size() + MEMORY_LIMIT
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    old = signal.signal(signal.SIGALRM, _on_alarm)
    grad = torch.is_grad_enabled()  # a Timeout raised inside a no_grad block's exit can leave autograd off
    t0 = time.perf_counter()
    try:
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
        signal.setitimer(signal.ITIMER_REAL, TIME_LIMIT)
        try:
            out = fn(**kwargs)
            return "ok", out, time.perf_counter() - t0
        except Timeout:
            return "timeout", None, time.perf_counter() - t0
        except Exception as exc:
            return "raised", exc, time.perf_counter() - t0
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
        signal.signal(signal.SIGALRM, old)
        torch.set_grad_enabled(grad)


def nonfinite_paths(out: Any, path: str = "result", depth: int = 0) -> list[str]:
    """Where the result holds a NaN or inf float (tensors, arrays, numbers, containers, dataclasses)."""
    if depth > 6:
        return []
    if torch.is_tensor(out):
        if (out.is_floating_point() or out.is_complex()) and not bool(torch.isfinite(out).all()):
            return [path]
        return []
    if isinstance(out, np.ndarray):
        if out.dtype.kind in "fc" and not np.all(np.isfinite(out)):
            return [path]
        return []
    if isinstance(out, (float, np.floating)):
        return [] if math.isfinite(out) else [path]
    if isinstance(out, Mapping):
        return [p for k, v in out.items() for p in nonfinite_paths(v, f"{path}[{k!r}]", depth + 1)]
    if isinstance(out, (list, tuple)):
        return [p for i, v in enumerate(out[:64]) for p in nonfinite_paths(v, f"{path}[{i}]", depth + 1)]
    if dataclasses.is_dataclass(out) and not isinstance(out, type):
        return [
            p
            for f in dataclasses.fields(out)
            for p in nonfinite_paths(getattr(out, f.name), f"{path}.{f.name}", depth + 1)
        ]
    return []


def names_param(msg: str, name: str) -> bool:
    """Whether an error message names the parameter ``name`` (as a whole word; 'a' not as the article)."""
    pat = rf"(?<![\w.]){re.escape(name)}(?!\w)"
    if len(name) == 1 and name.islower():
        # a one-letter name must be used as a name: 'a must', 'a=', 'a (', 'a[', 'len(a)', "'a'"
        n = re.escape(name)
        pat = rf"(?<![\w.])(?:{n}(?=\s+must|\s*=|\s*\[|\s*\(|\s+has|\s+and|\s+values|\s*:|\s*,|\)|')|'{n}')"
    return re.search(pat, msg) is not None


# Substitutions where both outcomes keep the promise: a ValueError naming the parameter (a documented upper
# bound) or a finite result within the time and memory bounds (a closed form that handles the value).
EITHER: dict[str, frozenset[str]] = {
    k: frozenset({"huge", "i64"}) for k in ("size", "count", "int", "pos", "nonneg", "real")
}


@dataclass
class Case:
    entry: Entry
    param: str
    label: str
    valid: bool | None  # None: either outcome (see EITHER)
    expect: type | None = None


def params_of(entry: Entry) -> dict[str, str]:
    """Parameter -> kind of each substituted parameter of the entry's baseline call."""
    _, kw = entry.call_args()
    return {p: entry.kinds.get(p) or infer_kind(p, v) for p, v in kw.items() if p not in entry.fixed} | {
        p: k for p, k in entry.kinds.items() if p not in kw and p not in entry.fixed
    }


def cases(entry: Entry) -> list[Case]:
    """Every (parameter, substitution) case of an entry."""
    out = []
    for p, kind in params_of(entry).items():
        catalogue, valid = KINDS[kind]
        extra = set(entry.valid.get(p, ()))
        for label in catalogue:
            exp = entry.expect.get(p, {}).get(label)
            ok: bool | None = label in valid or label in extra or exp is not None
            if not ok and label in EITHER.get(kind, ()):
                ok = None
            out.append(Case(entry, p, label, ok, exp))
    return out


def substitute(entry: Entry, param: str, value_fn: Callable[[Any], Any]) -> tuple[Callable, dict]:
    fn, kw = entry.call_args()
    kw[param] = value_fn(kw.get(param))
    return fn, kw


def run_value(entry: Entry, param: str, value: Any, valid: bool | None, expect: type | None = None) -> str | None:
    """Run one substitution; None when the outcome is the promised one, else a one-line failure."""
    fn, kw = entry.call_args()
    kw[param] = value
    return judge(entry, param, fn, kw, valid, expect, repr_value=_short_repr(value))


def _short_repr(v: Any) -> str:
    if torch.is_tensor(v) or isinstance(v, np.ndarray):
        return f"{type(v).__name__}{tuple(v.shape)} {v.dtype}"
    r = repr(v)
    return r if len(r) < 40 else r[:37] + "..."


def judge(entry, param, fn, kw, valid, expect, repr_value="") -> str | None:
    status, out, _secs = bounded_call(fn, kw)
    where = f"{entry.target}({param}={repr_value})"
    if status == "timeout":
        return f"{where}: TIMEOUT (> {TIME_LIMIT:g} s)"
    if valid is None:  # either a ValueError naming the parameter or a finite result
        if status == "raised" and isinstance(out, ValueError) and names_param(str(out), param):
            return None
        valid = True
        if status == "raised":
            return f"{where}: CRASH {type(out).__name__}: {str(out)[:160]}"
    if valid:
        if expect is not None:
            if status == "raised" and isinstance(out, expect):
                return None
            return f"{where}: expected {expect.__name__}, got " + (
                f"{type(out).__name__}: {out}" if status == "raised" else "a result"
            )
        if status == "raised":
            return f"{where}: valid value refused: {type(out).__name__}: {str(out)[:160]}"
        try:
            bad = [] if entry.nonfinite else nonfinite_paths(out)
        except (RuntimeError, MemoryError) as exc:
            return f"{where}: CRASH reading the result: {type(exc).__name__}: {str(exc)[:100]}"
        if bad:
            return f"{where}: NaN/inf in {', '.join(bad[:3])}"
        return None
    if status == "ok":
        return f"{where}: invalid value ACCEPTED"
    if not isinstance(out, ValueError):
        return f"{where}: CRASH {type(out).__name__}: {str(out)[:160]}"
    if not names_param(str(out), param):
        return f"{where}: ValueError does not name {param!r}: {str(out)[:160]}"
    return None


def run_case(case: Case) -> str | None:
    catalogue, _ = KINDS[params_of(case.entry)[case.param]]
    fn, kw = substitute(case.entry, case.param, catalogue[case.label])
    return judge(case.entry, case.param, fn, kw, case.valid, case.expect, repr_value=case.label)


def baseline_failure(entry: Entry) -> str | None:
    fn, kw = entry.call_args()
    status, out, _secs = bounded_call(fn, kw)
    if status != "ok":
        return f"{entry.target}: baseline call failed: {status} {type(out).__name__}: {str(out)[:200]}"
    bad = [] if entry.nonfinite else nonfinite_paths(out)
    if bad:
        return f"{entry.target}: baseline result has NaN/inf in {', '.join(bad[:3])}"
    return None


def public_callables() -> list[str]:
    """Dotted paths of every public function, class and public method/property of theory/ and impl/."""
    import pkgutil

    import impl
    import theory

    out = []
    for pkg in (theory, impl):
        for m in pkgutil.iter_modules(pkg.__path__):
            if m.ispkg or m.name.startswith("_"):
                continue
            mod = importlib.import_module(f"{pkg.__name__}.{m.name}")
            for name, obj in vars(mod).items():
                if name.startswith("_") or getattr(obj, "__module__", None) != mod.__name__:
                    continue
                if inspect.isfunction(obj):
                    out.append(f"{mod.__name__}.{name}")
                elif inspect.isclass(obj):
                    out.append(f"{mod.__name__}.{name}")
                    for mn, mo in vars(obj).items():
                        if not mn.startswith("_") and (inspect.isfunction(mo) or isinstance(mo, property)):
                            out.append(f"{mod.__name__}.{name}.{mn}")
    return sorted(out)
