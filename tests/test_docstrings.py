"""Every public function and class of theory/, impl/ and amemory/ has a numpydoc docstring that lists every
parameter of its signature in a ``Parameters`` section and has a ``Returns`` section (functions).

Public: a name defined in the module itself, not starting with ``_``; for classes, their public methods and the
class docstring (dataclasses may list their fields under ``Attributes``). A new public function without such a
docstring fails this test, so the documentation cannot fall behind the signatures.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re

import pytest

PACKAGES = ("theory", "impl", "amemory")
_SECTION = re.compile(r"^\s*([A-Z][A-Za-z ]+)\n\s*-{3,}\s*$", re.M)


def _modules():
    for pkg in PACKAGES:
        mod = importlib.import_module(pkg)
        yield mod
        for info in pkgutil.walk_packages(mod.__path__, prefix=f"{pkg}."):
            if info.name.endswith("__main__"):
                continue
            yield importlib.import_module(info.name)


def _public():
    seen = set()
    for mod in _modules():
        for name, obj in vars(mod).items():
            if name.startswith("_") or getattr(obj, "__module__", None) != mod.__name__:
                continue
            if inspect.isfunction(obj) and id(obj) not in seen:
                seen.add(id(obj))
                yield f"{mod.__name__}.{name}", obj, "function"
            elif inspect.isclass(obj) and id(obj) not in seen:
                seen.add(id(obj))
                yield f"{mod.__name__}.{name}", obj, "class"
                for mname, m in vars(obj).items():
                    if mname.startswith("_") or not inspect.isfunction(m):
                        continue
                    yield f"{mod.__name__}.{name}.{mname}", m, "method"


def _sections(doc: str) -> dict[str, str]:
    """Section name -> body of a numpydoc docstring."""
    doc = inspect.cleandoc(doc)
    marks = [(m.group(1).strip(), m.start(), m.end()) for m in _SECTION.finditer(doc)]
    out = {}
    for i, (name, _, end) in enumerate(marks):
        stop = marks[i + 1][1] if i + 1 < len(marks) else len(doc)
        out[name] = doc[end:stop]
    return out


def _documented(body: str) -> set[str]:
    """Parameter names of a numpydoc Parameters/Attributes body (``a, b : type`` lines at the left margin)."""
    names = set()
    for line in body.splitlines():
        if line and not line[0].isspace():
            head = line.split(" : ")[0] if " : " in line else line
            for n in head.split(","):
                names.add(n.strip().lstrip("*"))
    return names


CALLABLES = sorted(_public(), key=lambda t: t[0])


@pytest.mark.parametrize("qualname, obj, kind", CALLABLES, ids=[c[0] for c in CALLABLES])
def test_numpydoc(qualname, obj, kind):
    doc = inspect.getdoc(obj) if kind != "method" else obj.__doc__
    assert doc and doc.strip(), f"{qualname} has no docstring"
    sec = _sections(doc)
    if kind == "class":
        init = obj.__dict__.get("__init__")
        target = init if init is not None and inspect.isfunction(init) else None
        if target is None and not hasattr(obj, "__dataclass_fields__"):
            return
        params = (
            [p for p in inspect.signature(obj).parameters if p not in ("self", "args", "kwargs")]
            if target is not None or hasattr(obj, "__dataclass_fields__")
            else []
        )
        listed = _documented(sec.get("Parameters", "")) | _documented(sec.get("Attributes", ""))
        missing = [p for p in params if p not in listed]
        assert not missing, f"{qualname}: parameters/attributes not documented: {missing}"
        return
    sig = inspect.signature(obj)
    params = [p for p in sig.parameters if p not in ("self", "cls")]
    params = [p for p in params if sig.parameters[p].kind not in (inspect.Parameter.VAR_KEYWORD,)]
    if params:
        assert "Parameters" in sec, f"{qualname}: no Parameters section"
        listed = _documented(sec["Parameters"])
        missing = [p for p in params if p not in listed and f"*{p}" not in listed]
        assert not missing, f"{qualname}: parameters not documented: {missing}"
    returns_none = sig.return_annotation in (None, "None")
    if not returns_none and not isinstance(obj, property):
        assert "Returns" in sec or "Yields" in sec, f"{qualname}: no Returns section"
