"""Two runs of the same claim checks give the same results.json apart from timings (README promise).

A cheap subset with the causes of drift seen before: Hypothesis-driven maxima (GM1, GM3's lemma part), seeded
draws and reductions (GM2, GM4). Each run is a fresh interpreter with another hash seed and its own Hypothesis
database directory, so neither an example database nor dict/set ordering can carry over between runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run(tmp: Path, hashseed: str) -> dict:
    out = tmp / f"report_{hashseed}"
    env = {**os.environ, "PYTHONHASHSEED": hashseed}
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "checks/test_gradients.py",
        "-q",
        "-p",
        "no:cacheprovider",
        "--report-dir",
        str(out),
        "-o",
        f"cache_dir={tmp / ('cache_' + hashseed)}",
    ]
    r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    res = json.loads((out / "results.json").read_text())
    res.pop("timings")
    return res


def test_two_runs_identical(tmp_path):
    a, b = _run(tmp_path, "1"), _run(tmp_path, "2")
    assert a == b
