"""Running a sweep: only what the store lacks, inline or on Dask, each finished task stored at once.

``scheduler=None``: an in-process Dask ``LocalCluster`` (worker processes, one thread each, at most one
per core; Dask sets ``OMP_NUM_THREADS=1`` in them). ``scheduler="tcp://host:port"``: an existing Dask
scheduler (a cluster started with ``dask scheduler`` / ``dask worker``, dask-jobqueue, ...); the
workers must be able to import the task's module. ``scheduler="inline"``: no Dask, tasks run one after
the other in this process. Only the driver writes to the store; workers just compute. A worker that
dies is replaced by its nanny and its task rescheduled by Dask.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sqlite3
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from amemory.validate import check_float, check_int, check_seeds

from .hashing import _check_label, canonical_json, config_hash, task_name
from .store import Store, renew_claims

__all__ = ["SweepError", "SweepSummary", "load_results", "run_sweep"]

_INLINE = "inline"
_CONNECT_TIMEOUT = "30s"  # to an existing Dask scheduler


class SweepError(RuntimeError):
    """Some tasks of a sweep failed; everything else is stored. ``.summary`` holds the details.

    Parameters
    ----------
    summary : SweepSummary
        The sweep's summary, with at least one entry in ``failed``.
    """

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
    """What a call of :func:`run_sweep` did.

    Attributes
    ----------
    total : int
        (configuration, seed) pairs of the sweep.
    stored_before : int
        Pairs found in the store and skipped.
    done : int
        Pairs computed and stored now.
    failed : list of dict
        Tasks whose function raised or whose worker was lost too often (``hash``, ``seeds``, ``error``).
    seconds : float
        Wall time of the call.
    hashes : list of str
        One configuration hash per configuration, in order.
    by_others : int
        Pairs stored meanwhile by another driver on the same store (they split the work).
    """

    total: int
    stored_before: int
    done: int = 0
    failed: list = field(default_factory=list)
    seconds: float = 0.0
    hashes: list = field(default_factory=list)
    by_others: int = 0

    @property
    def left(self) -> int:
        """Pairs neither stored before nor done now, here or by another driver: failed or not run."""
        return self.total - self.stored_before - self.done - self.by_others


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
    if _is_client(scheduler):
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
    aliases: Sequence[str] = (),
    lease: float = 600.0,
    poll: float = 1.0,
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
    desc : label of the progress bar (default: the task id).
    aliases : earlier ids of the same task (e.g. the ``"module:qualname"`` it had before it moved); runs
        stored under an alias's hashes count as stored, so an old store resumes after a rename.
    lease : seconds a claim on a run lasts without renewal (renewed every lease/3 while this driver runs).
        Two drivers on one store claim runs before computing them, so they split the work; a killed driver's
        claims end at once on its own host (its process is gone) and after ``lease`` seconds elsewhere; a live
        driver of the same host keeps its claims unrenewed (a paused process), so it is never run twice.
    poll : seconds between looks at the store while the runs left are held by another driver.

    Returns
    -------
    SweepSummary with ``total = len(configs) * len(seeds)`` (after removing duplicate configurations),
    ``stored_before``, ``done``, ``failed`` and ``hashes``.
    """
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
    aliases = _check_aliases(aliases, task)
    spt = len(seeds) if seeds_per_task is None else check_int("seeds_per_task", seeds_per_task, 1)
    if n_workers is not None:
        n_workers = check_int("n_workers", n_workers, 1, os.cpu_count() or 1)
    if not isinstance(raise_on_failure, bool):
        raise ValueError(f"raise_on_failure must be a bool, got {raise_on_failure!r}")
    lease = check_float("lease", lease, 1.0, 7 * 86400.0)
    poll = check_float("poll", poll, 0.01, 60.0)

    t0 = time.perf_counter()
    cfg_json = [canonical_json(c, name=f"configs[{i}]") for i, c in enumerate(configs)]
    hashes = [config_hash(c, task, version) for c in configs]
    unique = dict(zip(hashes, cfg_json))  # first occurrence, in order
    with Store(store_path) as store:

        def missing_pairs() -> list[tuple[str, int]]:
            have = _stored_with_aliases(store, unique, aliases, version)
            return [(h, s) for h in unique for s in seeds if s not in have[h]]

        missing = missing_pairs()
        total = len(unique) * len(seeds)
        summary = SweepSummary(total=total, stored_before=total - len(missing), hashes=hashes)
        if missing:  # a store that already holds every run is only read (it may be read-only)
            store.add_configs((h, task, version, cj) for h, cj in unique.items())
        bar = _progress_bar(summary, progress, desc or task.split(":")[-1])
        owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
        failed: set[tuple[str, int]] = set()
        pool = _Pool(scheduler, n_workers, len(missing))
        try:
            # Each task is claimed just before it is computed (one transaction), so that drivers sharing the store
            # split the work; runs another live driver holds are waited for, and taken over if its claim ends
            # without a result (the driver died, or its task failed).
            with _Heartbeat(store.path, owner, lease):
                while missing:
                    todo = [m for m in missing if m not in failed]
                    claimer = _Claimer(store, owner, lease, _jobs(set(todo), unique, seeds, spt))
                    n_failed = len(summary.failed)
                    ran = pool.drive(fn, claimer, store, summary, bar)
                    failed.update((f["hash"], s) for f in summary.failed[n_failed:] for s in f["seeds"])
                    missing = missing_pairs()
                    summary.by_others = total - summary.stored_before - summary.done - len(missing)
                    _update_bar(bar, summary, 0)
                    if all(m in failed for m in missing):
                        break
                    if not ran:
                        time.sleep(poll)  # what is left is held by another driver
        finally:
            pool.close()
            store.release(owner)
            if bar is not None:
                bar.close()
    summary.seconds = time.perf_counter() - t0
    if summary.failed and raise_on_failure:
        raise SweepError(summary)
    return summary


def _jobs(mine, unique: Mapping[str, str], seeds: tuple[int, ...], spt: int) -> list:
    """Tasks (hash, config, seeds) of the claimed pairs, in configuration and seed order, spt seeds at most."""
    jobs = []
    for h, cj in unique.items():
        sd = [s for s in seeds if (h, s) in mine]
        for i in range(0, len(sd), spt):
            jobs.append((h, json.loads(cj), tuple(sd[i : i + spt])))
    return jobs


class _Heartbeat:
    """Renews a driver's claims every lease/3 seconds from a thread with its own connection."""

    def __init__(self, path, owner: str, lease: float):
        self.path, self.owner, self.lease = path, owner, lease
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True)

    def _beat(self) -> None:
        while not self._stop.wait(self.lease / 3):
            try:
                con = sqlite3.connect(self.path, timeout=60)
                try:
                    renew_claims(con, self.owner, self.lease)
                finally:
                    con.close()
            except sqlite3.Error:
                pass  # the next beat tries again; at worst a claim expires and another driver also runs it

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def _check_aliases(aliases, task: str) -> tuple[str, ...]:
    if isinstance(aliases, str) or not isinstance(aliases, Sequence):
        raise ValueError(f"aliases must be a sequence of task ids (str), got {aliases!r}")
    out = tuple(_check_label("aliases", a) for a in aliases)
    return tuple(a for a in dict.fromkeys(out) if a != task)


def _alias_hashes(unique: Mapping[str, str], aliases: Sequence[str], version: str) -> dict[str, list[str]]:
    """For each configuration hash, the hashes of the same configuration under each alias."""
    return {h: [config_hash(json.loads(cj), a, version) for a in aliases] for h, cj in unique.items()}


def _stored_with_aliases(store: Store, unique: Mapping[str, str], aliases, version: str) -> dict[str, set[int]]:
    if not aliases:
        return store.stored_seeds(unique)
    alias = _alias_hashes(unique, aliases, version)
    have = store.stored_seeds([*unique, *(a for hs in alias.values() for a in hs)])
    return {h: set().union(have[h], *(have[a] for a in alias[h])) for h in unique}


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
        + (f", by others {summary.by_others}" if summary.by_others else "")
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


class _Claimer:
    """Hands out tasks one at a time, each claimed in the store just before it is computed (None: no more now)."""

    def __init__(self, store: Store, owner: str, lease: float, jobs: list):
        self.store, self.owner, self.lease, self._jobs = store, owner, lease, iter(jobs)

    def next(self):
        for h, cfg, sd in self._jobs:
            got = self.store.claim([(h, s) for s in sd], self.owner, self.lease)
            mine = tuple(s for s in sd if (h, s) in got)
            if mine:
                return h, cfg, mine
        return None


class _Pool:
    """Where tasks run: inline, or one Dask client (a LocalCluster or a scheduler) kept for the whole sweep."""

    def __init__(self, scheduler, n_workers: int | None, n_tasks: int):
        self.scheduler, self.n_workers, self.n_tasks = scheduler, n_workers, n_tasks
        self.client: Any = None
        self.cluster: Any = None

    def drive(self, fn, claimer: _Claimer, store: Store, summary: SweepSummary, bar) -> int:
        """Run claimed tasks until the claimer has none; returns how many tasks ran."""
        if self.scheduler == _INLINE:
            n = 0
            while (job := claimer.next()) is not None:
                h, cfg, sd = job
                n += 1
                try:
                    out = _run_task(fn, cfg, sd)
                except Exception as e:  # a failing task must not lose the others
                    _fail(summary, bar, h, sd, e)
                    continue
                _record(store, summary, bar, h, sd, out)
            return n
        return self._drive_dask(fn, claimer, store, summary, bar)

    def _drive_dask(self, fn, claimer: _Claimer, store: Store, summary: SweepSummary, bar) -> int:
        from distributed import as_completed

        job = claimer.next()
        if job is None:
            return 0
        if self.client is None:
            self.client, self.cluster = _dask_client(self.scheduler, self.n_workers, self.n_tasks)
        cap = max(2, 2 * sum(self.client.nthreads().values()))
        pending: dict = {}
        ac = as_completed()
        n = 0

        def submit(job) -> None:
            h, cfg, sd = job
            key = f"amemory-sweep-{h[:24]}-{hashlib.sha1(repr(sd).encode()).hexdigest()[:12]}"
            fut = self.client.submit(_run_task, fn, cfg, sd, key=key, pure=False)
            pending[fut.key] = (h, sd)
            ac.add(fut)

        while job is not None and len(pending) < cap:
            submit(job)
            n += 1
            job = claimer.next() if len(pending) < cap else None
        for fut in ac:
            h, sd = pending.pop(fut.key)
            try:
                out = fut.result()
            except Exception as e:
                _fail(summary, bar, h, sd, e)
            else:
                _record(store, summary, bar, h, sd, out)
            fut.release()
            nxt = claimer.next()
            if nxt is not None:
                submit(nxt)
                n += 1
        return n

    def close(self) -> None:
        if self.client is None:
            return
        if self.cluster is not None:
            self.client.close()
            self.cluster.close()
        elif not _is_client(self.scheduler):
            self.client.close()


def _is_client(x) -> bool:
    try:
        from distributed import Client
    except ImportError:
        return False
    return isinstance(x, Client)


def load_results(
    store_path, fn_or_task, configs: Sequence[Mapping], seeds, *, version: str = "1", aliases: Sequence[str] = ()
) -> list[list[Any]]:
    """Stored results ``out[i][j]`` of ``configs[i]`` and ``seeds[j]`` (None where not stored); read-only use.

    Parameters
    ----------
    store_path : str or os.PathLike
        An existing store.
    fn_or_task : callable or str
        The sweep's function or its task id.
    configs : sequence of mappings
        The configurations to read.
    seeds : int or sequence of int
        The seeds to read.
    version : str
        The code version given to :func:`run_sweep`.
    aliases : sequence of str
        Earlier ids of the task (a result stored under the current id wins over one under an alias).

    Returns
    -------
    list of lists
        ``out[i][j]``: the decoded result of configuration i and seed j, or None.
    """
    task = _check_label("fn_or_task", fn_or_task) if isinstance(fn_or_task, str) else task_name(fn_or_task)
    if isinstance(configs, Mapping) or not isinstance(configs, Sequence):
        raise ValueError("configs must be a sequence of mappings")
    seeds = check_seeds(seeds)
    version = _check_label("version", version)
    aliases = _check_aliases(aliases, task)
    hashes = [config_hash(c, task, version) for c in configs]
    with Store(store_path, create=False) as store:
        out = store.get(hashes, seeds)
        for a in aliases:
            if all(r is not None for row in out for r in row):
                break
            old = store.get([config_hash(c, a, version) for c in configs], seeds)
            out = [[r if r is not None else o for r, o in zip(row, orow)] for row, orow in zip(out, old)]
        return out
