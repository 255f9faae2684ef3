"""The rooms of the repository and the direction of their imports (CONTRIBUTING.md, "Rooms").

- ``amemory`` (the validation module and the sweep engine) imports nothing of ``theory``, ``impl`` or
  the checks;
- ``theory`` imports no torch and no ``impl``; ``impl`` imports no ``theory``;
- there is no import cycle among the modules of ``amemory``, ``theory``, ``impl`` and ``checks``.

Static checks read every module's import statements (with the AST, including imports inside functions);
the runtime checks import the packages in a fresh interpreter and look at ``sys.modules``.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("amemory", "theory", "impl")


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[0] == "checks":  # the checks import each other as top-level modules (checks/ is on sys.path)
        parts = parts[1:]
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Absolute names of every module ``path`` imports (relative imports resolved)."""
    tree = ast.parse(path.read_text(), str(path))
    me = _module_name(path)
    pkg = me if path.name == "__init__.py" else me.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split(".")
                base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
                mod = ".".join([*base, node.module] if node.module else base)
            else:
                mod = node.module or ""
            out.add(mod)
            out.update(f"{mod}.{a.name}" for a in node.names)  # `from pkg import module`
    return out


def _files(*rooms: str) -> list[Path]:
    return sorted(p for r in rooms for p in (ROOT / r).rglob("*.py"))


def _top(names: set[str]) -> set[str]:
    return {n.split(".")[0] for n in names}


def test_rooms_exist():
    for room in (*PACKAGES, "checks", "tests", "benchmarks", "reports"):
        assert (ROOT / room).is_dir(), room


@pytest.mark.parametrize("path", _files("amemory"), ids=lambda p: str(p.relative_to(ROOT)))
def test_amemory_imports_no_simulator_or_check(path):
    # torch is imported inside the few functions that need it (device/dtype helpers, --device cuda):
    # that importing the engine loads no torch is checked at runtime below
    bad = _top(_imports(path)) & {"impl", "theory", "checks", "grids", "sweeps", "stats"}
    assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


@pytest.mark.parametrize("path", _files("theory"), ids=lambda p: str(p.relative_to(ROOT)))
def test_theory_imports_no_torch_or_impl(path):
    bad = _top(_imports(path)) & {"torch", "impl", "checks"}
    assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


@pytest.mark.parametrize("path", _files("impl"), ids=lambda p: str(p.relative_to(ROOT)))
def test_impl_imports_no_theory(path):
    bad = _top(_imports(path)) & {"theory", "checks"}
    assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


def test_no_import_cycle():
    files = _files(*PACKAGES, "checks")
    names = {_module_name(p): p for p in files}
    graph = {m: {i for i in _imports(p) if i in names and i != m} for m, p in names.items()}
    # a package's __init__ is imported before its modules: importing `pkg.mod` means importing `pkg` too
    for m in list(graph):
        graph[m] |= {".".join(m.split(".")[:k]) for k in range(1, m.count(".") + 1)} & set(names) - {m}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                # an __init__ that imports its own submodules is not a cycle of rooms: only report real cycles
                cyc = stack[stack.index(n) :] + [n]
                if not all(c.startswith(n + ".") or c == n for c in cyc):
                    raise AssertionError("import cycle: " + " -> ".join(cyc))
            elif n not in state:
                visit(n)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)


def _fresh(code: str) -> str:
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_packages_import_and_layers_at_runtime():
    _fresh("import impl, theory, amemory")
    out = _fresh(
        "import sys, pkgutil, importlib, theory\n"
        "for m in pkgutil.iter_modules(theory.__path__): importlib.import_module('theory.' + m.name)\n"
        "print(sorted(k for k in sys.modules if k.split('.')[0] in ('torch', 'impl')))"
    )
    assert out.strip() == "[]", f"importing theory loads {out}"
    out = _fresh(
        "import sys, amemory.sweep, amemory.sweep.cli, amemory.validate\n"
        "print(sorted({k.split('.')[0] for k in sys.modules} & {'torch', 'impl', 'theory'}))"
    )
    assert out.strip() == "[]", f"importing the sweep engine loads {out}"


@pytest.mark.parametrize("path", _files("benchmarks", "examples"), ids=lambda p: str(p.relative_to(ROOT)))
def test_benchmarks_and_examples_use_the_installed_packages_only(path):
    bad = _top(_imports(path)) & {"checks", "grids", "sweeps", "stats", "plotting", "report", "registry", "conftest"}
    assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"
