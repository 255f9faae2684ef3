"""Identity of a run: canonical JSON of a configuration and its sha256 hash, and stable task ids.

``config_hash(config, task, version) = sha256(canonical_json({"task": task, "version": version,
"config": config}))``, where ``canonical_json`` sorts keys, has no whitespace, writes floats in their
shortest round-trip form and rejects NaN/inf. ``task`` is the task's *id*: by default the function's
``"module:qualname"``, but a function can carry a stable id (:func:`task_id`) so that moving it to another
module does not change the hashes of its stored runs; a named sweep gives its id explicitly. ``version``
is a code-version string to bump whenever a change of the simulation changes its results (the old rows
then stay in the file but are no longer matched). ``1`` and ``1.0`` are different values.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Mapping
from numbers import Integral, Real
from typing import Any, TypeVar

__all__ = ["canonical_json", "config_hash", "task_id", "task_name"]

F = TypeVar("F", bound=Callable[..., Any])
_TASK_ATTR = "__sweep_task_id__"


def _plain(x: Any, where: str) -> Any:
    """Convert ``x`` to plain JSON types (dict with str keys, list, str, int, float, bool, None)."""
    if x is None or isinstance(x, (bool, str)):
        return x
    if hasattr(x, "tolist") and callable(x.tolist) and not isinstance(x, (list, tuple, dict)):
        return _plain(x.tolist(), where)  # numpy / torch scalars and arrays
    if isinstance(x, Integral):
        return int(x)
    if isinstance(x, Real):
        v = float(x)
        if not math.isfinite(v):
            raise ValueError(f"{where} must be finite (NaN and inf have no canonical JSON form), got {v}")
        return 0.0 if v == 0.0 else v  # -0.0 and 0.0 hash alike
    if isinstance(x, Mapping):
        out = {}
        for k, v in x.items():
            if not isinstance(k, str):
                raise ValueError(f"{where} must have str keys, got key {k!r}")
            out[k] = _plain(v, f"{where}[{k!r}]")
        return out
    if isinstance(x, (list, tuple)):
        return [_plain(v, f"{where}[{i}]") for i, v in enumerate(x)]
    raise ValueError(
        f"{where} must be JSON-serialisable (dict, list, str, int, finite float, bool, None), got {type(x).__name__}"
    )


def canonical_json(obj: Any, *, name: str = "obj") -> str:
    """Canonical JSON text of ``obj``: sorted keys, no whitespace, shortest round-trip floats.

    Two objects that compare equal as JSON values give the same text (tuples are lists, numpy/torch
    scalars are plain numbers, -0.0 is 0.0). Raises ``ValueError`` (naming ``name``) for NaN/inf,
    non-str keys and non-JSON types.

    Parameters
    ----------
    obj : Any
        Dicts with str keys, lists/tuples, str, int, finite float, bool, None, numpy/torch scalars and arrays.
    name : str
        How the object is named in an error message.

    Returns
    -------
    str
        ``json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)``.
    """
    return json.dumps(_plain(obj, name), sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def task_id(name: str) -> Callable[[F], F]:
    """Decorator giving a task function a stable id, used in its configuration hashes.

    Parameters
    ----------
    name : str
        The id (non-empty, at most 200 characters); keep it when the function moves to another module.

    Returns
    -------
    callable
        A decorator that sets ``fn.__sweep_task_id__ = name`` and returns ``fn`` unchanged.
    """
    name = _check_label("name", name)

    def deco(fn: F) -> F:
        setattr(fn, _TASK_ATTR, name)
        return fn

    return deco


def task_name(fn: Callable) -> str:
    """The task id of ``fn``: its :func:`task_id` if it has one, else ``"module:qualname"``.

    Parameters
    ----------
    fn : callable
        The sweep's task function (a ``functools.partial`` is looked through).

    Returns
    -------
    str
    """
    if not callable(fn):
        raise ValueError(f"fn must be callable, got {type(fn).__name__}")
    inner = getattr(fn, "func", fn)  # functools.partial
    if isinstance(getattr(inner, _TASK_ATTR, None), str):
        return getattr(inner, _TASK_ATTR)
    mod = getattr(fn, "__module__", None) or "?"
    qual = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or type(fn).__name__
    return f"{mod}:{qual}"


def _check_label(name: str, value) -> str:
    if not isinstance(value, str) or not value or len(value) > 200:
        raise ValueError(f"{name} must be a non-empty str of at most 200 characters, got {value!r}")
    return value


def config_hash(config: Mapping, task: str, version: str = "1") -> str:
    """sha256 hex digest of ``canonical_json({"task": task, "version": version, "config": config})``.

    Parameters
    ----------
    config : mapping with str keys and JSON values (the parameters of one run, without the seed)
    task : name of the function (``task_name(fn)``)
    version : code-version string of the task; bump it when a change of the code changes results

    Returns
    -------
    str
        64 hexadecimal characters.
    """
    if not isinstance(config, Mapping):
        raise ValueError(f"config must be a mapping with str keys, got {type(config).__name__}")
    task, version = _check_label("task", task), _check_label("version", version)
    text = canonical_json({"task": task, "version": version, "config": config}, name="config")
    return hashlib.sha256(text.encode()).hexdigest()
