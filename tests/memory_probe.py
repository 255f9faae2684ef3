"""Peak memory of a piece of code in a fresh Python process: the one probe of tests/test_full_tier_memory.py and
tests/test_memory_budget.py (issue #20)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = """
import json, resource, sys
sys.path[:0] = [{root!r}, {checks!r}]
import numpy as np, torch
{imports}
def _vm():
    for line in open("/proc/self/status"):
        if line.startswith("VmSize"):
            return int(line.split()[1]) * 1024
if {cap} is not None:
    cap = _vm() + {cap}
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
extra = {{}}
{run}
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({{"base": base, "peak": peak, **extra}}))
"""


def probe(imports: str, run: str, *, cap: int | None = None, timeout: int = 600):
    """Run ``imports`` then ``run`` in a fresh interpreter (repository root and ``checks/`` on the path).

    The baseline is the peak resident set after ``imports``; ``run`` may put JSON values into ``extra``. With
    ``cap`` (bytes), the address space is limited to its size after the imports plus ``cap``, so code that does not
    chunk fails at its first allocation over the limit instead of filling the machine.

    Returns ``(completed_process, result)``: result is ``{"base", "peak", "grown", **extra}`` in bytes, or None when
    the process failed (its stderr says why).
    """
    code = SCRIPT.format(root=str(ROOT), checks=str(ROOT / "checks"), imports=imports, run=run, cap=cap)
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        return r, None
    got = json.loads(r.stdout.strip().splitlines()[-1])
    got["grown"] = got["peak"] - got["base"]
    return r, got
