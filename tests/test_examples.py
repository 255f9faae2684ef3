"""Every script of examples/ runs at its small size and prints its answer, so the examples cannot rot.

Each example is run as a user would run it (``python examples/NAME.py --small``) in a fresh interpreter, in a
temporary directory (the figures and stores it writes land there).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).resolve().parent.parent / "examples").glob("*.py"))


def test_there_are_examples():
    assert len(EXAMPLES) >= 4


@pytest.mark.parametrize("script", EXAMPLES, ids=lambda p: p.stem)
def test_example_runs(script, tmp_path):
    r = subprocess.run(
        [sys.executable, str(script), "--small", "--out", str(tmp_path / "fig.png")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert "figure:" in r.stdout and (tmp_path / "fig.png").stat().st_size > 1000
    assert "Traceback" not in r.stderr
