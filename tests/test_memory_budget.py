"""The full tier under a memory budget (issue #20): a full-tier configuration runs in chunks whose peak memory
stays under ``--memory-budget``, measured in a fresh subprocess (peak resident set minus the interpreter's own
after imports), and a configuration whose smallest chunk cannot fit stops up front with the sizes and the memory
it would need."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# AM2 at its full-tier sizes (d = 64, N = M = 1024), with fewer seeds than the full tier's 2000 so that the test
# takes seconds: one seed's score tensor is 8 MiB, 200 seeds at once would hold about 5 GiB.
SCRIPT = """
import json, resource, sys
sys.path[:0] = [{root!r}, {checks!r}]
import numpy as np, torch
import impl.memory, impl.embeddings  # imports before the baseline
from test_memory import _per_seed_score_stats
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
N, d = 1024, 64
out = _per_seed_score_stats(np.ones(N), np.arange(N), N, d, tuple(range(200)), "cpu", int({budget}))
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({{"base": base, "peak": peak, "n": len(out[0])}}))
"""


def _run(budget: float) -> subprocess.CompletedProcess:
    code = SCRIPT.format(root=str(ROOT), checks=str(ROOT / "checks"), budget=budget)
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_am2_full_configuration_stays_under_the_budget():
    budget = 256 * 2**20
    r = _run(budget)
    assert r.returncode == 0, r.stderr[-3000:]
    got = json.loads(r.stdout.strip().splitlines()[-1])
    assert got["n"] == 200
    grown = got["peak"] - got["base"]
    assert grown <= budget, f"peak grew by {grown / 2**20:.0f} MiB over a budget of {budget / 2**20:.0f} MiB"


def test_a_chunk_over_the_budget_stops_up_front():
    r = _run(1 * 2**20)  # one seed needs about 25 MiB
    assert r.returncode != 0
    assert "over the memory budget" in r.stderr and "AM2 at d=64, N=1024" in r.stderr, r.stderr[-2000:]


@pytest.mark.parametrize("bad", ["0", "-1", "1e9"])
def test_memory_budget_option_is_checked(bad, tmp_path):
    cmd = [sys.executable, "-m", "pytest", "checks/test_memory.py", "-k", "AM2", "-p", "no:cacheprovider", "-q"]
    r = subprocess.run(
        [*cmd, f"--memory-budget={bad}", f"--report-dir={tmp_path}"], cwd=ROOT, capture_output=True, text=True
    )
    assert r.returncode != 0 and "--memory-budget must be in (0, " in r.stdout + r.stderr
