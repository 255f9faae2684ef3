"""The resumable sweep engine: hashed configurations, an embedded SQLite store, Dask execution.

A sweep runs ``fn(config, seeds) -> [result per seed]`` over a list of configurations and a tuple of
seeds, and keeps one row per (configuration, seed) in an SQLite file. Each finished task is written in
one transaction as soon as it comes back, so a sweep can be stopped at any moment (Ctrl-C, SIGKILL of
the driver, a lost worker) and rerun with the same command: what is stored is skipped, only the missing
(configuration, seed) pairs run.

Modules: :mod:`~amemory.sweep.hashing` (canonical JSON, configuration hashes, stable task ids),
:mod:`~amemory.sweep.store` (the SQLite store; portable dumps of its rows,
:func:`dump_store` and :func:`load_dump`), :mod:`~amemory.sweep.runner` (:func:`run_sweep`,
:func:`load_results`, the inline and Dask executors), :mod:`~amemory.sweep.named` (:class:`NamedSweep`),
:mod:`~amemory.sweep.frames` (results as pandas DataFrames, CSV/Parquet export),
:mod:`~amemory.sweep.cli` (``python -m amemory.sweep``). The engine imports nothing from
:mod:`impl`, :mod:`theory` or the checks: task functions are passed in, or imported by name.

Contract of ``fn``: a picklable (module-level) function; ``fn(config, seeds)`` returns a sequence of
``len(seeds)`` JSON-serialisable results (dicts, lists, str, finite floats, ints, bools, None; numpy
and torch scalars and arrays are converted), and the result for one seed must not depend on which other
seeds are in the batch (the sweep batches the missing seeds of a configuration into one call). ``fn``
receives the configuration as decoded from its canonical JSON (tuples become lists), the same on every
scheduler and on a resumed run.

Example::

    from amemory.sweep import run_sweep, load_results, task_id

    @task_id("my-sweep")                       # a stable id: moving the function keeps its stored runs
    def my_task(config, seeds):
        return [{"y": config["x"] * s} for s in seeds]

    cfgs = [{"x": x} for x in range(10)]
    run_sweep(my_task, cfgs, seeds=(0, 1, 2), store_path="runs.sqlite")    # a local Dask cluster
    res = load_results("runs.sqlite", my_task, cfgs, (0, 1, 2))            # res[i][j]: config i, seed j
    df = results_frame("runs.sqlite", my_task, cfgs, (0, 1, 2))            # a DataFrame: x, seed, y
"""

from .frames import export_frame, results_frame, rows_frame, store_frame
from .hashing import canonical_json, config_hash, task_id, task_name
from .named import SCALES, NamedSweep, import_function
from .runner import SweepError, SweepSummary, load_results, run_sweep
from .store import APPLICATION_ID, MAGIC, SCHEMA_VERSION, Store, dump_store, load_dump

__all__ = [
    "APPLICATION_ID",
    "MAGIC",
    "SCALES",
    "SCHEMA_VERSION",
    "NamedSweep",
    "Store",
    "SweepError",
    "SweepSummary",
    "canonical_json",
    "config_hash",
    "dump_store",
    "export_frame",
    "import_function",
    "load_dump",
    "load_results",
    "results_frame",
    "rows_frame",
    "run_sweep",
    "store_frame",
    "task_id",
    "task_name",
]
