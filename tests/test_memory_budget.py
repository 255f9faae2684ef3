"""The full tier under a memory budget (issue #20): a full-tier configuration runs in chunks whose peak memory
stays under ``--memory-budget``, measured in a fresh subprocess (peak resident set minus the interpreter's own
after imports), and a configuration whose smallest chunk cannot fit stops up front with the sizes and the memory
it would need."""

from __future__ import annotations

import subprocess
import sys

import pytest
from memory_probe import ROOT, probe

# AM2 at its full-tier sizes (d = 64, N = M = 1024), with fewer seeds than the full tier's 2000 so that the test
# takes seconds: one seed's score tensor is 8 MiB, 200 seeds at once would hold about 5 GiB.
IMPORTS = "import impl.memory, impl.embeddings\nfrom test_memory import _per_seed_score_stats"
RUN = """
N, d = 1024, 64
out = _per_seed_score_stats(np.ones(N), np.arange(N), N, d, tuple(range(200)), "cpu", int({budget}))
extra["n"] = len(out[0])
"""


def _run(budget: float):
    return probe(IMPORTS, RUN.format(budget=budget))


def test_am2_full_configuration_stays_under_the_budget():
    budget = 256 * 2**20
    r, got = _run(budget)
    assert got is not None, r.stderr[-3000:]
    assert got["n"] == 200
    assert got["grown"] <= budget, (
        f"peak grew by {got['grown'] / 2**20:.0f} MiB over a budget of {budget / 2**20:.0f} MiB"
    )


def test_a_chunk_over_the_budget_stops_up_front():
    r, _ = _run(1 * 2**20)  # one seed needs about 25 MiB
    assert r.returncode != 0
    assert "over the memory budget" in r.stderr and "AM2 at d=64, N=1024" in r.stderr, r.stderr[-2000:]


@pytest.mark.parametrize("bad", ["0", "-1", "1e9"])
def test_memory_budget_option_is_checked(bad, tmp_path):
    cmd = [sys.executable, "-m", "pytest", "checks/test_memory.py", "-k", "AM2", "-p", "no:cacheprovider", "-q"]
    r = subprocess.run(
        [*cmd, f"--memory-budget={bad}", f"--report-dir={tmp_path}"], cwd=ROOT, capture_output=True, text=True
    )
    assert r.returncode != 0 and "--memory-budget must be in (0, " in r.stdout + r.stderr
