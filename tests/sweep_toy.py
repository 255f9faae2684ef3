"""A cheap deterministic sweep task for the tests of the sweep engine (not part of the package).

The reliability tests import it by name (``sweep_toy:toy_task``) in driver subprocesses and Dask workers,
with this directory on ``PYTHONPATH``.
"""

from __future__ import annotations

import math
import os
import time
import zlib
from collections.abc import Mapping, Sequence
from numbers import Integral, Real
from pathlib import Path

import numpy as np

from amemory.sweep import canonical_json, task_id
from amemory.validate import check_float, check_int


@task_id("toy")
def toy_task(config: Mapping, seeds: Sequence[int]) -> list[dict]:
    """Cheap deterministic task: ``value = x + mean of 1000 N(0,1) draws of generator(seed, crc32(config))``.

    Config keys: ``x`` (a real number, required), ``sleep`` (seconds per call, default 0, in [0, 60]),
    ``fail`` (bool: raise ``RuntimeError``, to test failure handling). If the environment variable
    ``AMEMORY_SWEEP_PIDDIR`` is set, the worker's pid is written to a file there (the reliability tests
    use it to SIGKILL a worker); this does not change the results.
    """
    if not isinstance(config, Mapping) or "x" not in config:
        raise ValueError("config must be a mapping with a key 'x'")
    x, sleep = config["x"], config.get("sleep", 0.0)
    if isinstance(x, bool) or not isinstance(x, Real) or not math.isfinite(x):
        raise ValueError(f"config['x'] must be a finite real number, got {x!r}")
    if isinstance(sleep, bool) or not isinstance(sleep, Real) or not 0.0 <= sleep <= 60.0:
        raise ValueError(f"config['sleep'] must be a real number in [0, 60], got {sleep!r}")
    if (
        isinstance(seeds, (str, bytes))
        or not isinstance(seeds, Sequence)
        or len(seeds) == 0
        or any(isinstance(s, bool) or not isinstance(s, Integral) or s < 0 for s in seeds)
    ):
        raise ValueError(f"seeds must be a non-empty sequence of non-negative ints, got {seeds!r}")
    x, seeds = float(x), tuple(int(s) for s in seeds)
    piddir = os.environ.get("AMEMORY_SWEEP_PIDDIR")
    if piddir:
        Path(piddir, f"{os.getpid()}.pid").write_text(str(os.getpid()))
    if sleep:
        time.sleep(sleep)
    if config.get("fail", False):
        raise RuntimeError(f"toy_task asked to fail (x={x})")
    tag = zlib.crc32(canonical_json(config).encode())
    out = []
    for s in seeds:
        z = np.random.default_rng([s, tag]).standard_normal(1000)
        out.append({"x": x, "seed": s, "value": float(x + z.mean()), "sd": float(z.std())})
    return out


def toy_configs(n: int, sleep: float = 0.0) -> list[dict]:
    """``[{"x": 0.5 * i, "sleep": sleep} for i in range(n)]``: the configurations of the toy sweep."""
    n = check_int("n", n, 1)
    sleep = check_float("sleep", sleep, 0.0, 60.0)
    return [{"x": 0.5 * i, "sleep": sleep} for i in range(n)]
