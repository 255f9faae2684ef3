"""Resumable parameter sweeps: hashed configurations, an embedded SQLite results store, Dask execution.

A sweep runs ``fn(config, seeds) -> [result per seed]`` over a list of configurations and a tuple of
seeds, and keeps one row per (configuration, seed) in an SQLite file. Each finished task is written in
one transaction as soon as it comes back, so a sweep can be stopped at any moment (Ctrl-C, SIGKILL of
the driver, a lost worker) and rerun with the same command: what is stored is skipped, only the missing
(configuration, seed) pairs run.

Identity of a run
-----------------
``config_hash(config, task, version) = sha256(canonical_json({"task": task, "version": version,
"config": config}))``, where ``canonical_json`` sorts keys, has no whitespace, writes floats in their
shortest round-trip form and rejects NaN/inf. ``task`` names the function (``"module:qualname"`` by
default) and ``version`` is a code-version string to bump whenever a change of the simulation changes
its results (the old rows then stay in the file but are no longer matched). ``1`` and ``1.0`` are
different values (the function receives what the configuration says).

The store
---------
One SQLite file in WAL mode (readers never block the writer), identified by ``PRAGMA application_id``
and a header table (``amemory_store``: magic string and schema version). Opening a file that is not
such a store (another program's SQLite database, any other file, a corrupt or truncated store) raises
``ValueError`` naming the file and the reason, and the file is never written to. Tables: ``configs``
(hash, task, version, canonical JSON of the configuration) and ``results`` (hash, seed, canonical JSON
of the result, seconds, host, time), primary key (hash, seed), so a pair can never be stored twice.

Execution
---------
``scheduler=None``: an in-process Dask ``LocalCluster`` (worker processes, one thread each, at most one
per core; Dask sets ``OMP_NUM_THREADS=1`` in them). ``scheduler="tcp://host:port"``: an existing Dask
scheduler (a cluster started with ``dask scheduler`` / ``dask worker``, dask-jobqueue, ...); the
workers must be able to import this package. ``scheduler="inline"``: no Dask, tasks run one after the
other in this process (debugging, or where Dask is not installed). Only the driver writes to the store;
workers just compute. A worker that dies is replaced by its nanny and its task rescheduled by Dask.

Contract of ``fn``: a picklable (module-level) function; ``fn(config, seeds)`` returns a sequence of
``len(seeds)`` JSON-serialisable results (dicts, lists, str, finite floats, ints, bools, None; numpy
and torch scalars and arrays are converted), and the result for one seed must not depend on which other
seeds are in the batch (the sweep batches the missing seeds of a configuration into one call). ``fn``
receives the configuration as decoded from its canonical JSON (tuples become lists), the same on every
scheduler and on a resumed run.

Example::

    from impl.sweep import run_sweep, load_results, toy_task
    cfgs = [{"x": x} for x in range(10)]
    run_sweep(toy_task, cfgs, seeds=(0, 1, 2), store_path="runs.sqlite")     # LocalCluster
    res = load_results("runs.sqlite", toy_task, cfgs, (0, 1, 2))             # res[i][j]: config i, seed j
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import socket
import sqlite3
import sys
import time
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from numbers import Integral, Real
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1
MAGIC = "amemory-sweep-store"
APPLICATION_ID = 0x616D656D  # b"amem", stored in the SQLite header (offset 68)
_SQLITE_HEADER = b"SQLite format 3\x00"
_INLINE = "inline"
_CONNECT_TIMEOUT = "30s"  # to an existing Dask scheduler

__all__ = [
    "APPLICATION_ID",
    "MAGIC",
    "SCHEMA_VERSION",
    "Store",
    "SweepError",
    "SweepSummary",
    "canonical_json",
    "config_hash",
    "load_results",
    "run_sweep",
    "task_name",
    "toy_configs",
    "toy_task",
]


# ----------------------------------------------------------------------------------------------------
# canonical JSON and hashing


def _plain(x: Any, where: str) -> Any:
    """Convert ``x`` to plain JSON types (dict with str keys, list, str, int, float, bool, None)."""
    if x is None or isinstance(x, (bool, str)):
        return x
    if hasattr(x, "tolist") and callable(x.tolist) and not isinstance(x, (list, tuple, dict)):
        return _plain(x.tolist(), where)  # numpy / torch scalars and arrays
    if isinstance(x, Integral):
        return int(x)
    if isinstance(x, Real):
        v = float(x)
        if not math.isfinite(v):
            raise ValueError(f"{where} must be finite (NaN and inf have no canonical JSON form), got {v}")
        return 0.0 if v == 0.0 else v  # -0.0 and 0.0 hash alike
    if isinstance(x, Mapping):
        out = {}
        for k, v in x.items():
            if not isinstance(k, str):
                raise ValueError(f"{where} must have str keys, got key {k!r}")
            out[k] = _plain(v, f"{where}[{k!r}]")
        return out
    if isinstance(x, (list, tuple)):
        return [_plain(v, f"{where}[{i}]") for i, v in enumerate(x)]
    raise ValueError(
        f"{where} must be JSON-serialisable (dict, list, str, int, finite float, bool, None), got {type(x).__name__}"
    )


def canonical_json(obj: Any, *, name: str = "obj") -> str:
    """Canonical JSON text of ``obj``: sorted keys, no whitespace, shortest round-trip floats.

    Two objects that compare equal as JSON values give the same text (tuples are lists, numpy/torch
    scalars are plain numbers, -0.0 is 0.0). Raises ``ValueError`` (naming ``name``) for NaN/inf,
    non-str keys and non-JSON types.
    """
    return json.dumps(_plain(obj, name), sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def task_name(fn: Callable) -> str:
    """``"module:qualname"`` of a function, the default ``task`` of its sweep."""
    if not callable(fn):
        raise ValueError(f"fn must be callable, got {type(fn).__name__}")
    mod = getattr(fn, "__module__", None) or "?"
    qual = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or type(fn).__name__
    return f"{mod}:{qual}"


def _check_label(name: str, value) -> str:
    if not isinstance(value, str) or not value or len(value) > 200:
        raise ValueError(f"{name} must be a non-empty str of at most 200 characters, got {value!r}")
    return value


def config_hash(config: Mapping, task: str, version: str = "1") -> str:
    """sha256 hex digest of ``canonical_json({"task": task, "version": version, "config": config})``.

    Parameters
    ----------
    config : mapping with str keys and JSON values (the parameters of one run, without the seed)
    task : name of the function (``task_name(fn)``)
    version : code-version string of the task; bump it when a change of the code changes results
    """
    if not isinstance(config, Mapping):
        raise ValueError(f"config must be a mapping with str keys, got {type(config).__name__}")
    task, version = _check_label("task", task), _check_label("version", version)
    text = canonical_json({"task": task, "version": version, "config": config}, name="config")
    return hashlib.sha256(text.encode()).hexdigest()


# ----------------------------------------------------------------------------------------------------
# the store

_SCHEMA = [
    "CREATE TABLE amemory_store(key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE configs(hash TEXT PRIMARY KEY, task TEXT NOT NULL, version TEXT NOT NULL, config TEXT NOT NULL)",
    "CREATE TABLE results(hash TEXT NOT NULL REFERENCES configs(hash), seed INTEGER NOT NULL, result TEXT NOT NULL,"
    " seconds REAL, host TEXT, finished TEXT, PRIMARY KEY(hash, seed)) WITHOUT ROWID",
    "CREATE INDEX configs_task ON configs(task, version)",
]


def _foreign(path: Path, why: str) -> ValueError:
    return ValueError(
        f"store_path {str(path)!r} is not a usable amemory sweep store: {why}. The file was left "
        "untouched; give another store_path, or move the file away if it is yours."
    )


def _check_existing(path: Path) -> None:
    """Validate an existing file as a store without writing to it (raw header, then a read-only open)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(100)
    except OSError as e:
        raise ValueError(f"store_path {str(path)!r} cannot be read: {e}") from None
    if len(head) < 100 or head[:16] != _SQLITE_HEADER:
        raise _foreign(path, "not an SQLite database (a foreign file, or a corrupt/truncated store)")
    app_id = int.from_bytes(head[68:72], "big")
    if app_id != APPLICATION_ID:
        raise _foreign(
            path,
            f"an SQLite database of another application (application_id {app_id:#x}, expected {APPLICATION_ID:#x})",
        )
    try:
        con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=60)
    except sqlite3.Error as e:
        raise _foreign(path, f"SQLite cannot open it ({e})") from None
    try:
        check = [r[0] for r in con.execute("PRAGMA quick_check").fetchall()]
        if check != ["ok"]:
            raise _foreign(path, "corrupt (SQLite quick_check: " + "; ".join(map(str, check[:3])) + ")")
        header = dict(con.execute("SELECT key, value FROM amemory_store").fetchall())
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.Error as e:
        raise _foreign(path, f"corrupt or of another schema ({e})") from None
    finally:
        con.close()
    if header.get("magic") != MAGIC:
        raise _foreign(path, f"its header has magic {header.get('magic')!r}, expected {MAGIC!r}")
    try:
        schema = int(header.get("schema_version", ""))
    except ValueError:
        raise _foreign(path, f"invalid schema_version {header.get('schema_version')!r}") from None
    if schema > SCHEMA_VERSION:
        raise _foreign(
            path, f"written by a newer version of amemory (schema {schema}, this code reads <= {SCHEMA_VERSION})"
        )
    if not {"configs", "results"} <= tables:
        raise _foreign(path, f"tables configs/results missing (found {sorted(tables)})")


def _create(path: Path) -> None:
    """Create a new store atomically: build it under a temporary name, then hard-link it into place
    (fails if a file appeared meanwhile), so ``path`` is either absent or a complete store."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{time.time_ns()}.tmp")
    try:
        con = sqlite3.connect(tmp, isolation_level=None)
        try:
            con.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            con.execute("PRAGMA journal_mode = WAL")
            con.execute("BEGIN")
            for stmt in _SCHEMA:
                con.execute(stmt)
            from importlib import metadata

            try:
                pkg = metadata.version("amemory")
            except metadata.PackageNotFoundError:
                pkg = "unknown"
            con.executemany(
                "INSERT INTO amemory_store(key, value) VALUES (?, ?)",
                [
                    ("magic", MAGIC),
                    ("schema_version", str(SCHEMA_VERSION)),
                    ("created", time.strftime("%Y-%m-%dT%H:%M:%S%z")),
                    ("amemory_version", pkg),
                ],
            )
            con.execute("COMMIT")
            con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            con.close()
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # another process created it first: validated by the caller
        except OSError:  # a filesystem without hard links: a plain rename, unless the file appeared meanwhile
            if not path.exists():
                os.replace(tmp, path)
    finally:
        for p in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
            try:
                p.unlink()
            except FileNotFoundError:
                pass


class Store:
    """An amemory sweep store: one SQLite file, one row per (configuration hash, seed).

    ``Store(path)`` opens an existing store (after checking it is one, without writing to it) or creates
    a new one (``create=True``). Raises ``ValueError`` for a foreign, corrupt or newer-schema file.
    Use as a context manager or call :meth:`close`.
    """

    def __init__(self, path, *, create: bool = True):
        if not isinstance(path, (str, os.PathLike)) or str(path) == "":
            raise ValueError(f"store_path must be a non-empty path (str or os.PathLike), got {path!r}")
        if not isinstance(create, bool):
            raise ValueError(f"create must be a bool, got {create!r}")
        self.path = Path(path)
        if self.path.is_dir():
            raise ValueError(
                f"store_path {str(self.path)!r} is a directory; give a file name, e.g. {str(self.path / 'sweeps.sqlite')!r}"
            )
        if not self.path.exists():
            if not create:
                raise ValueError(f"store_path {str(self.path)!r} does not exist (and create=False)")
            if not self.path.parent.is_dir():
                raise ValueError(
                    f"store_path {str(self.path)!r}: the directory {str(self.path.parent)!r} does not exist"
                )
            _create(self.path)
        _check_existing(self.path)
        self._con = sqlite3.connect(self.path, isolation_level=None, timeout=60)
        self._con.execute("PRAGMA journal_mode = WAL")
        # In WAL mode, synchronous=NORMAL loses no committed transaction when the process is killed
        # (only on power loss), and avoids an fsync per finished task.
        self._con.execute("PRAGMA synchronous = NORMAL")
        self._host = socket.gethostname()

    # -- context manager
    def close(self) -> None:
        if getattr(self, "_con", None) is not None:
            self._con.close()
            self._con = None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _c(self) -> sqlite3.Connection:
        if self._con is None:
            raise ValueError("the store is closed")
        return self._con

    # -- writing
    def add_configs(self, items: Iterable[tuple[str, str, str, str]]) -> None:
        """Register configurations ``(hash, task, version, config_json)`` (existing ones are kept)."""
        con = self._c()
        con.execute("BEGIN IMMEDIATE")
        try:
            con.executemany(
                "INSERT OR IGNORE INTO configs(hash, task, version, config) VALUES (?, ?, ?, ?)", list(items)
            )
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise

    def put(
        self,
        h: str,
        seeds: Sequence[int],
        results: Sequence[str],
        *,
        seconds: float | None = None,
        host: str | None = None,
    ) -> int:
        """Store the canonical-JSON ``results`` of ``seeds`` of configuration ``h`` in one transaction.

        Pairs already stored are kept as they are (first write wins). Returns the number of new rows.
        """
        if len(seeds) != len(results):
            raise ValueError(f"results must have one entry per seed ({len(seeds)}), got {len(results)}")
        if not all(isinstance(r, str) for r in results):
            raise ValueError("results must be canonical JSON strings (see canonical_json)")
        if any(isinstance(x, bool) or not isinstance(x, Integral) or x < 0 for x in seeds):
            raise ValueError(f"seeds must be non-negative ints, got {list(seeds)}")
        con = self._c()
        per = None if seconds is None else float(seconds) / max(len(seeds), 1)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
        con.execute("BEGIN IMMEDIATE")
        try:
            if con.execute("SELECT 1 FROM configs WHERE hash = ?", (h,)).fetchone() is None:
                raise ValueError(f"configuration {h[:12]} is not registered in the store (add_configs first)")
            before = con.total_changes
            con.executemany(
                "INSERT OR IGNORE INTO results(hash, seed, result, seconds, host, finished) VALUES (?, ?, ?, ?, ?, ?)",
                [(h, int(s), r, per, host or self._host, stamp) for s, r in zip(seeds, results)],
            )
            n = con.total_changes - before
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        return n

    # -- reading
    def stored_seeds(self, hashes: Iterable[str]) -> dict[str, set[int]]:
        """For each hash, the set of seeds already stored."""
        hashes = list(dict.fromkeys(hashes))
        out: dict[str, set[int]] = {h: set() for h in hashes}
        con = self._c()
        for i in range(0, len(hashes), 500):
            part = hashes[i : i + 500]
            q = f"SELECT hash, seed FROM results WHERE hash IN ({','.join('?' * len(part))})"
            for h, s in con.execute(q, part):
                out[h].add(int(s))
        return out

    def get(self, hashes: Sequence[str], seeds: Sequence[int]) -> list[list[Any]]:
        """Decoded results ``out[i][j]`` of configuration ``hashes[i]`` and seed ``seeds[j]`` (None if missing)."""
        want = list(dict.fromkeys(hashes))
        rows: dict[tuple[str, int], str] = {}
        con = self._c()
        for i in range(0, len(want), 500):
            part = want[i : i + 500]
            q = f"SELECT hash, seed, result FROM results WHERE hash IN ({','.join('?' * len(part))})"
            for h, s, r in con.execute(q, part):
                rows[(h, int(s))] = r
        return [[json.loads(rows[(h, int(s))]) if (h, int(s)) in rows else None for s in seeds] for h in hashes]

    def snapshot(self) -> dict[tuple[str, int], str]:
        """Every stored row as ``{(hash, seed): result_json}`` (to compare two stores)."""
        return {(h, int(s)): r for h, s, r in self._c().execute("SELECT hash, seed, result FROM results")}

    def count(self) -> int:
        """Number of stored (configuration, seed) rows."""
        return int(self._c().execute("SELECT COUNT(*) FROM results").fetchone()[0])

    def table(self, task: str | None = None, version: str | None = None) -> list[dict]:
        """Rows ``{"hash", "task", "version", "config", "seed", "result"}`` (decoded), optionally of one task/version."""
        q = "SELECT c.hash, c.task, c.version, c.config, r.seed, r.result FROM results r JOIN configs c ON c.hash = r.hash"
        cond, args = [], []
        if task is not None:
            cond.append("c.task = ?")
            args.append(task)
        if version is not None:
            cond.append("c.version = ?")
            args.append(version)
        if cond:
            q += " WHERE " + " AND ".join(cond)
        q += " ORDER BY c.hash, r.seed"
        return [
            {"hash": h, "task": t, "version": v, "config": json.loads(c), "seed": int(s), "result": json.loads(r)}
            for h, t, v, c, s, r in self._c().execute(q, args)
        ]

    def summary(self) -> list[dict]:
        """Per (task, version): number of configurations and of stored rows."""
        q = (
            "SELECT c.task, c.version, COUNT(DISTINCT c.hash), COUNT(r.seed) FROM configs c "
            "LEFT JOIN results r ON r.hash = c.hash GROUP BY c.task, c.version ORDER BY c.task, c.version"
        )
        return [{"task": t, "version": v, "configs": int(n), "rows": int(m)} for t, v, n, m in self._c().execute(q)]


# ----------------------------------------------------------------------------------------------------
# running a sweep


class SweepError(RuntimeError):
    """Some tasks of a sweep failed; everything else is stored. ``.summary`` holds the details."""

    def __init__(self, summary: SweepSummary):
        self.summary = summary
        first = summary.failed[0]
        super().__init__(
            f"{len(summary.failed)} task(s) of the sweep failed (the {summary.done} runs that finished are "
            f"stored; rerun to retry the rest). First failure, config {first['hash'][:12]} seeds "
            f"{first['seeds']}: {first['error']}"
        )


@dataclass
class SweepSummary:
    """What a call of :func:`run_sweep` did: ``total`` (configuration, seed) pairs, ``stored_before``
    (found in the store and skipped), ``done`` (computed and stored now), ``failed`` (tasks whose function
    raised or whose worker was lost too often), ``hashes`` (one per configuration, in order)."""

    total: int
    stored_before: int
    done: int = 0
    failed: list = field(default_factory=list)
    seconds: float = 0.0
    hashes: list = field(default_factory=list)

    @property
    def left(self) -> int:
        return self.total - self.stored_before - self.done


def _run_task(fn: Callable, config: dict, seeds: tuple[int, ...]) -> tuple[list[str], float, str]:
    """Worker side: call ``fn`` and turn its results into canonical JSON (so workers do the conversion)."""
    t0 = time.perf_counter()
    res = fn(config, seeds)
    if isinstance(res, (str, bytes, Mapping)) or not hasattr(res, "__len__"):
        raise ValueError(f"fn must return a sequence with one result per seed, got {type(res).__name__}")
    res = list(res)
    if len(res) != len(seeds):
        raise ValueError(f"fn must return one result per seed ({len(seeds)}), got {len(res)}")
    out = [canonical_json(r, name="result") for r in res]
    return out, time.perf_counter() - t0, socket.gethostname()


def _check_scheduler(scheduler):
    if scheduler is None or scheduler == _INLINE:
        return scheduler
    if isinstance(scheduler, str):
        if not scheduler.strip():
            raise ValueError("scheduler must be None (local cluster), 'inline' or a Dask scheduler address, got ''")
        return scheduler.strip()
    try:
        from distributed import Client
    except ImportError:
        Client = None
    if Client is not None and isinstance(scheduler, Client):
        return scheduler
    raise ValueError(
        "scheduler must be None (an in-process LocalCluster), 'inline' (no Dask), a Dask scheduler "
        f"address such as 'tcp://10.0.0.1:8786', or a distributed.Client; got {scheduler!r}"
    )


def _dask_client(scheduler, n_workers: int | None, n_tasks: int):
    """(client, cluster) for ``scheduler`` (None -> a new LocalCluster; str -> connect; Client -> reuse)."""
    try:
        import distributed
    except ImportError:
        raise ValueError(
            "scheduler=None or an address needs Dask: pip install 'dask[distributed]' "
            "(or pass scheduler='inline' to run without Dask)"
        ) from None
    import logging

    if isinstance(scheduler, distributed.Client):
        return scheduler, None
    if isinstance(scheduler, str):
        try:
            return distributed.Client(scheduler, timeout=_CONNECT_TIMEOUT), None
        except (OSError, TimeoutError) as e:
            raise ValueError(f"scheduler: cannot connect to the Dask scheduler at {scheduler!r} ({e})") from None
    cores = os.cpu_count() or 1
    n = min(cores, max(n_tasks, 1)) if n_workers is None else min(n_workers, cores)
    cluster = distributed.LocalCluster(
        n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=logging.ERROR
    )
    return distributed.Client(cluster), cluster


def run_sweep(
    fn: Callable,
    configs: Sequence[Mapping],
    seeds,
    store_path,
    scheduler=None,
    progress: bool = True,
    *,
    version: str = "1",
    task: str | None = None,
    seeds_per_task: int | None = None,
    n_workers: int | None = None,
    raise_on_failure: bool = True,
    desc: str | None = None,
) -> SweepSummary:
    """Run ``fn(config, seeds)`` for every configuration and seed not yet in the store; store each result.

    Parameters
    ----------
    fn : module-level function ``fn(config: dict, seeds: tuple[int, ...]) -> sequence of len(seeds)``
        JSON-serialisable results (see the module docstring for the contract).
    configs : sequence of mappings (str keys, JSON values); duplicates are run once.
    seeds : non-negative int or sequence of them; every configuration runs with every seed.
    store_path : the SQLite store (created if absent; a foreign or corrupt file raises ``ValueError``).
    scheduler : None (a LocalCluster of ``n_workers`` processes, default one per core), ``'inline'``
        (no Dask), a Dask scheduler address (``'tcp://host:8786'``) or a ``distributed.Client``.
    progress : show a tqdm bar: done (now) / stored (before) / left.
    version, task : parts of the configuration hash (task defaults to ``task_name(fn)``).
    seeds_per_task : at most this many seeds per call of ``fn`` (default: all the missing seeds of a
        configuration in one call, so simulators batched over seeds stay batched).
    n_workers : worker processes of the LocalCluster, in [1, cores] (ignored for other schedulers).
    raise_on_failure : raise :class:`SweepError` at the end when a task failed (the others are stored).

    Returns
    -------
    SweepSummary with ``total = len(configs) * len(seeds)`` (after removing duplicate configurations),
    ``stored_before``, ``done``, ``failed`` and ``hashes``.
    """
    from amemory.validate import check_int, check_seeds  # imported here: workers need not import torch

    if not callable(fn):
        raise ValueError(f"fn must be callable, got {type(fn).__name__}")
    if isinstance(configs, Mapping) or not isinstance(configs, Sequence) or len(configs) == 0:
        raise ValueError("configs must be a non-empty sequence of mappings")
    for i, c in enumerate(configs):
        if not isinstance(c, Mapping):
            raise ValueError(f"configs[{i}] must be a mapping with str keys, got {type(c).__name__}")
    seeds = check_seeds(seeds)
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be distinct, got {seeds}")
    scheduler = _check_scheduler(scheduler)
    if not isinstance(progress, bool):
        raise ValueError(f"progress must be a bool, got {progress!r}")
    version = _check_label("version", version)
    task = task_name(fn) if task is None else _check_label("task", task)
    spt = len(seeds) if seeds_per_task is None else check_int("seeds_per_task", seeds_per_task, 1)
    if n_workers is not None:
        n_workers = check_int("n_workers", n_workers, 1, os.cpu_count() or 1)
    if not isinstance(raise_on_failure, bool):
        raise ValueError(f"raise_on_failure must be a bool, got {raise_on_failure!r}")

    t0 = time.perf_counter()
    cfg_json = [canonical_json(c, name=f"configs[{i}]") for i, c in enumerate(configs)]
    hashes = [config_hash(c, task, version) for c in configs]
    unique = dict(zip(hashes, cfg_json))  # first occurrence, in order
    with Store(store_path) as store:
        store.add_configs((h, task, version, cj) for h, cj in unique.items())
        have = store.stored_seeds(unique)
        jobs = []
        for h, cj in unique.items():
            missing = [s for s in seeds if s not in have[h]]
            for i in range(0, len(missing), spt):
                jobs.append((h, json.loads(cj), tuple(missing[i : i + spt])))
        total = len(unique) * len(seeds)
        summary = SweepSummary(total=total, stored_before=total - sum(len(j[2]) for j in jobs), hashes=hashes)
        bar = _progress_bar(summary, progress, desc or task.split(":")[-1])
        try:
            if jobs:
                runner = _run_inline if scheduler == _INLINE else _run_dask
                runner(fn, jobs, store, summary, bar, scheduler, n_workers)
        finally:
            if bar is not None:
                bar.close()
    summary.seconds = time.perf_counter() - t0
    if summary.failed and raise_on_failure:
        raise SweepError(summary)
    return summary


def _progress_bar(summary: SweepSummary, show: bool, desc: str):
    if not show:
        return None
    from tqdm.auto import tqdm

    bar = tqdm(
        total=summary.total, initial=summary.stored_before, desc=desc, unit="run", dynamic_ncols=True, file=sys.stderr
    )
    _update_bar(bar, summary, 0)
    return bar


def _update_bar(bar, summary: SweepSummary, n: int) -> None:
    if bar is None:
        return
    bar.set_postfix_str(
        f"done {summary.done}, stored {summary.stored_before}, left {summary.left}"
        + (f", failed {len(summary.failed)}" if summary.failed else ""),
        refresh=not n,
    )
    if n:
        bar.update(n)  # refreshes with the new counts


def _record(store: Store, summary: SweepSummary, bar, h: str, seeds: tuple, out) -> None:
    res, secs, host = out
    summary.done += store.put(h, seeds, res, seconds=secs, host=host)
    _update_bar(bar, summary, len(seeds))


def _fail(summary: SweepSummary, bar, h: str, seeds: tuple, exc: BaseException) -> None:
    summary.failed.append({"hash": h, "seeds": list(seeds), "error": f"{type(exc).__name__}: {exc}"})
    _update_bar(bar, summary, 0)


def _run_inline(fn, jobs, store, summary, bar, scheduler, n_workers) -> None:
    for h, cfg, sd in jobs:
        try:
            out = _run_task(fn, cfg, sd)
        except Exception as e:  # a failing task must not lose the others
            _fail(summary, bar, h, sd, e)
            continue
        _record(store, summary, bar, h, sd, out)


def _run_dask(fn, jobs, store, summary, bar, scheduler, n_workers) -> None:
    from distributed import as_completed

    client, cluster = _dask_client(scheduler, n_workers, len(jobs))
    try:
        pending = {}
        for h, cfg, sd in jobs:
            key = f"amemory-sweep-{h[:24]}-{hashlib.sha1(repr(sd).encode()).hexdigest()[:12]}"
            fut = client.submit(_run_task, fn, cfg, sd, key=key, pure=False)
            pending[fut.key] = (h, sd, fut)
        for fut in as_completed([v[2] for v in pending.values()]):
            h, sd, _ = pending.pop(fut.key)
            try:
                out = fut.result()
            except Exception as e:
                _fail(summary, bar, h, sd, e)
            else:
                _record(store, summary, bar, h, sd, out)
            fut.release()
    finally:
        if cluster is not None:
            client.close()
            cluster.close()
        elif not _is_client(scheduler):
            client.close()


def _is_client(x) -> bool:
    try:
        from distributed import Client
    except ImportError:
        return False
    return isinstance(x, Client)


def load_results(store_path, fn_or_task, configs: Sequence[Mapping], seeds, *, version: str = "1") -> list[list[Any]]:
    """Stored results ``out[i][j]`` of ``configs[i]`` and ``seeds[j]`` (None where not stored); read-only use.

    ``fn_or_task`` is the sweep's function or its task name; ``version`` as given to :func:`run_sweep`.
    """
    from amemory.validate import check_seeds

    task = _check_label("fn_or_task", fn_or_task) if isinstance(fn_or_task, str) else task_name(fn_or_task)
    if isinstance(configs, Mapping) or not isinstance(configs, Sequence):
        raise ValueError("configs must be a sequence of mappings")
    seeds = check_seeds(seeds)
    version = _check_label("version", version)
    hashes = [config_hash(c, task, version) for c in configs]
    with Store(store_path, create=False) as store:
        return store.get(hashes, seeds)


# ----------------------------------------------------------------------------------------------------
# a cheap deterministic task (tests, demos, the reliability checks of the sweep layer)


def toy_task(config: Mapping, seeds: Sequence[int]) -> list[dict]:
    """Cheap deterministic task: ``value = x + mean of 1000 N(0,1) draws of generator(seed, crc32(config))``.

    Config keys: ``x`` (a real number, required), ``sleep`` (seconds per call, default 0, in [0, 60]),
    ``fail`` (bool: raise ``RuntimeError``, to test failure handling). If the environment variable
    ``AMEMORY_SWEEP_PIDDIR`` is set, the worker's pid is written to a file there (the reliability tests
    use it to SIGKILL a worker); this does not change the results.
    """
    import numpy as np

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
    from amemory.validate import check_float, check_int

    n = check_int("n", n, 1)
    sleep = check_float("sleep", sleep, 0.0, 60.0)
    return [{"x": 0.5 * i, "sleep": sleep} for i in range(n)]


# ----------------------------------------------------------------------------------------------------
# command line: python -m impl.sweep {toy, run, status}


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``toy`` (the toy sweep), ``run NAME`` (a named sweep of impl.grids), ``status``."""
    import argparse

    ap = argparse.ArgumentParser(prog="python -m impl.sweep", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)

    def common(p):
        p.add_argument("--store", required=True, help="the SQLite results store (created if absent)")
        p.add_argument(
            "--scheduler",
            default=None,
            help="Dask scheduler address (tcp://host:8786), or 'inline'; default: a local cluster",
        )
        p.add_argument("--workers", type=int, default=None, help="worker processes of the local cluster")
        p.add_argument("--no-progress", action="store_true", help="no progress bar")

    p = sub.add_parser("toy", help="run the toy sweep (tests and demos)")
    common(p)
    p.add_argument("--configs", type=int, default=20)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--sleep", type=float, default=0.0)
    p.add_argument("--seeds-per-task", type=int, default=None)
    p = sub.add_parser("run", help="run a named sweep of impl.grids (only what the store lacks)")
    common(p)
    p.add_argument("name", help="name of the sweep (see impl.grids.SWEEPS)")
    p.add_argument("--scale", choices=("fast", "full"), default="full")
    p.add_argument("--device", default="cpu", help="device of the simulations: cpu (default), cuda, auto")
    p = sub.add_parser("status", help="what a store holds")
    p.add_argument("--store", required=True)
    a = ap.parse_args(argv)

    if a.cmd == "status":
        with Store(a.store, create=False) as st:
            for row in st.summary():
                print(
                    f"{row['task']} (version {row['version']}): {row['configs']} configurations, {row['rows']} rows stored"
                )
        return 0
    if a.cmd == "toy":
        s = run_sweep(
            toy_task,
            toy_configs(a.configs, a.sleep),
            tuple(range(a.seeds)),
            a.store,
            a.scheduler,
            not a.no_progress,
            version="toy-1",
            seeds_per_task=a.seeds_per_task,
            n_workers=a.workers,
        )
    else:
        from .grids import get_sweep

        sw = get_sweep(a.name)
        s = sw.run(
            a.scale, a.store, scheduler=a.scheduler, progress=not a.no_progress, n_workers=a.workers, device=a.device
        )
    print(
        f"total {s.total}, stored before {s.stored_before}, done now {s.done}, failed {len(s.failed)}, "
        f"{s.seconds:.1f} s"
    )
    return 0


if __name__ == "__main__":  # pragma: no cover
    from impl.sweep import main as _main  # the functions must be impl.sweep.*, not __main__.*, for their task names

    raise SystemExit(_main())
