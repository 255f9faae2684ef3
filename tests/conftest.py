import sys
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")
from hypothesis import settings

# tests/ (sweep_toy, the toy task of the sweep engine) and checks/ (grids, sweeps, stats) importable by name
_HERE = Path(__file__).resolve().parent
for _p in (_HERE.parent / "checks", _HERE):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

from determinism import no_local_constants  # noqa: E402  (checks/ is on sys.path now)

no_local_constants()
settings.register_profile("unit", derandomize=True, deadline=None, max_examples=40, print_blob=True, database=None)
settings.load_profile("unit")


@pytest.fixture
def git_checkout(tmp_path):
    """A one-commit git work tree with a tracked report file (reports/out.txt) and a tracked code file (code.py);
    returns (root, edit), edit(relative path, text) changing a file without committing."""
    import subprocess

    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "out.txt").write_text("a")
    (tmp_path / "code.py").write_text("x = 1\n")
    for args in (("init", "-q"), ("add", "."), ("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "c")):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)
    return tmp_path, lambda rel, text: (tmp_path / rel).write_text(text)
