import sys
from pathlib import Path

import matplotlib

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
