"""Glue between the full tier of the claim checks and the sweep store (:mod:`amemory.sweep`, `checks/grids.py`).

A full-tier check does::

    from sweeps import sweep_rows, tuned_error, tuned_error_heatmaps
    rows = sweep_rows("optimizer_grid", scale, config=request.config, device=device)  # runs what is missing
    fig = tuned_error_heatmaps(rows, T=102400)                                          # min over lr, mean over seeds

A long full-tier check whose work is one task per configuration and seed (not a named grid) does::

    from tasks import capacity_curve_task
    runs = stored_runs(capacity_curve_task, configs, seeds, task="capacity_curve", version="1")  # the fixture
    acc = runs[i][j]                                   # configuration i, its seed j; runs.progress: the counts

(the fixture ``stored_runs`` of checks/conftest.py calls :func:`stored_runs` with the run's scale, device and
options): at ``--scale full`` each (configuration, seed) is a row of the store, so a stopped run resumes; at
``--scale fast`` it runs inline without a store.

Where the store, the scheduler and the number of local workers come from (first found): the pytest
options ``--sweep-store``, ``--dask-scheduler`` and ``--sweep-workers`` (when checks/conftest.py
registers them), the environment variables ``AMEMORY_SWEEP_STORE``, ``AMEMORY_DASK_SCHEDULER`` and
``AMEMORY_SWEEP_WORKERS``, else ``.sweeps/store.sqlite`` at the repository root and an in-process Dask
LocalCluster with one worker process per core.
"""

from __future__ import annotations

import itertools
import math
import os
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_STORE = ROOT / ".sweeps" / "store.sqlite"


def _option(config, name: str):
    if config is None:
        return None
    try:
        return config.getoption(name)
    except (ValueError, AttributeError):
        return None


def store_path(config=None) -> Path:
    """The results store of the full tier (its directory is created if needed)."""
    p = _option(config, "--sweep-store") or os.environ.get("AMEMORY_SWEEP_STORE") or DEFAULT_STORE
    p = Path(p)
    p.parent.mkdir(parents=True, exist_ok=True)
    return p


def scheduler(config=None) -> str | None:
    """A Dask scheduler address, ``'inline'``, or None (an in-process LocalCluster)."""
    return _option(config, "--dask-scheduler") or os.environ.get("AMEMORY_DASK_SCHEDULER") or None


def n_workers(config=None) -> int | None:
    """Worker processes of the local cluster (None: one per core); e.g. 1 on a single-GPU machine."""
    v = _option(config, "--sweep-workers") or os.environ.get("AMEMORY_SWEEP_WORKERS")
    if v in (None, ""):
        return None
    try:
        return int(v)
    except ValueError:
        raise ValueError(
            f"sweep workers (--sweep-workers / AMEMORY_SWEEP_WORKERS) must be an integer >= 1, got {v!r}"
        ) from None


class Uncached:
    """A per-test callable (``.fn``) handed through the module cache (the ``shared`` fixture) without being part of
    its key: the ``stored_runs`` fixture is a new closure in every test, but the checks of a family share one set of
    runs (TF2 and TF4; the SL checks' simulations)."""

    def __init__(self, fn):
        self.fn = fn

    def __hash__(self):
        return 0

    def __eq__(self, other):
        return isinstance(other, Uncached)


def stored_runs_mode(config=None) -> str:
    """Where :func:`stored_runs` runs: ``'auto'`` (the store at the full scale, inline at the fast), ``'store'``
    (always the store) or ``'inline'`` (never); from ``--stored-runs``, else ``AMEMORY_STORED_RUNS``, else auto."""
    v = _option(config, "--stored-runs") or os.environ.get("AMEMORY_STORED_RUNS") or "auto"
    if v not in ("auto", "store", "inline"):
        raise ValueError(f"stored runs (--stored-runs / AMEMORY_STORED_RUNS) must be auto, store or inline, got {v!r}")
    return v


def sweep_rows(
    name: str,
    scale: str,
    *,
    config=None,
    device: str = "cpu",
    progress: bool = True,
    run_missing: bool | None = None,
    complete: bool = True,
) -> list[dict]:
    """Rows ``{**config, "seed", **result}`` of the named sweep at ``scale``, after running what the store lacks
    (``run_missing`` None: unless ``--sweep-stored-only`` was given). When nothing is run and the store lacks some
    of the sweep's (configuration, seed) runs, ``complete`` (default) raises :class:`IncompleteRuns` with the
    counts (a check then skips: a verdict is never decided on part of a grid by accident); ``complete=False``
    returns the rows that are stored."""
    from grids import get_sweep

    sw = get_sweep(name)
    path = store_path(config)
    if run_missing is None:
        run_missing = not _option(config, "--sweep-stored-only")
    if run_missing:
        sw.run(scale, path, scheduler=scheduler(config), progress=progress, device=device, n_workers=n_workers(config))
    elif complete:
        stored, total = _stored_count(sw, scale, path)
        if stored < total:
            raise IncompleteRuns(
                f"sweep {name} ({scale}): {stored} of {total} (configuration, seed) runs stored in {path} and "
                f"nothing is run (--sweep-stored-only); run `python -m amemory.sweep run {name} --scale {scale} "
                f"--store {path}` first",
                dict(store=str(path), total=total, stored=stored, done=0, left=total - stored, by_others=0, seconds=0),
            )
    return sw.rows(scale, path)


class IncompleteRuns(RuntimeError):
    """:func:`stored_runs` was asked to run nothing (``--sweep-stored-only``) and the store lacks some rows.

    Parameters
    ----------
    message : str
        What is missing, and how to fill it.
    progress : dict
        The counts of :attr:`StoredRuns.progress`.
    """

    def __init__(self, message: str, progress: dict):
        super().__init__(message)
        self.progress = progress


class StoredRuns(list):
    """The results of :func:`stored_runs`: ``runs[i][j]`` is the result of configuration i and its seed j.

    ``progress`` holds the counts of the call: ``store`` (its path, None when it ran inline without a store),
    ``total`` (rows asked for), ``stored`` (found in the store before the call), ``done`` (computed now), ``left``
    (neither: failed, or not run under ``--sweep-stored-only``), ``by_others`` (stored meanwhile by another driver
    on the same store) and ``seconds``.
    """

    progress: dict


def _label(name: str, value) -> str:
    if not isinstance(value, str) or not value or len(value) > 200:
        raise ValueError(f"{name} must be a non-empty str of at most 200 characters, got {value!r}")
    return value


def _per_config_seeds(configs, seeds) -> list[tuple[int, ...]]:
    """One tuple of seeds per configuration: ``seeds`` is one sequence of ints for all, or one per configuration."""
    from amemory.validate import check_seeds

    if isinstance(seeds, (str, bytes, Mapping)):
        raise ValueError(f"seeds must be a sequence of ints or one sequence per configuration, got {seeds!r}")
    nested = (
        isinstance(seeds, Sequence)
        and len(seeds) > 0
        and all(isinstance(s, Sequence) or (hasattr(s, "ndim") and s.ndim == 1) for s in seeds)
    )
    if not nested:
        one = check_seeds(seeds)
        per = [one] * len(configs)
    else:
        if len(seeds) != len(configs):
            raise ValueError(f"seeds must hold one sequence per configuration ({len(configs)}), got {len(seeds)}")
        per = [check_seeds(s, f"seeds[{i}]") for i, s in enumerate(seeds)]
    for i, s in enumerate(per):
        if len(set(s)) != len(s):
            raise ValueError(f"seeds of configuration {i} must be distinct, got {s}")
    return per


def stored_runs(
    fn,
    configs: Sequence[Mapping],
    seeds,
    *,
    config=None,
    scale: str,
    task: str,
    version: str,
    device: str | None = None,
    desc: str | None = None,
    use_store: bool | None = None,
    run_missing: bool | None = None,
    seeds_per_task: int = 1,
    progress: bool = True,
    report=None,
) -> StoredRuns:
    """``fn(configs[i], seeds_i)`` for every configuration and seed, one row per (configuration, seed), through
    the sweep store at the full scale (what the store holds is read, only what it lacks runs), inline at the fast.

    A long full-tier check hands its per-(configuration, seed) work to this helper, so that the full tier resumes
    after a stop, runs across several sessions (dump and load the store) or on a Dask cluster, and says how much is
    stored and what is left. At ``scale='fast'`` it calls ``fn`` once per configuration with all its seeds, in this
    process and without a store (the fast tier and CI need none), unless the store is asked for (``use_store=True``,
    ``--stored-runs store`` or ``AMEMORY_STORED_RUNS=store``; naming a store alone does not, so the stability runs,
    which name a temporary one, stay inline). Either way every result passes through the store's canonical JSON, so
    both paths hand the check the same values.

    Parameters
    ----------
    fn : callable
        Module-level task ``fn(config, seeds) -> [result per seed]`` (``fn(config, seeds, device=...)`` when
        ``device`` is given), importable by Dask workers (``impl.*`` or a checks module such as ``tasks``); a
        seed's result must not depend on the other seeds of the call; results JSON-serialisable (lists of floats).
    configs : sequence of mappings
        The configurations (str keys, JSON values); part of each row's hash, with ``task`` and ``version``.
    seeds : sequence of int, or one sequence of ints per configuration
        The seeds of every configuration, or of each.
    config : pytest.Config or None
        Where the store, the scheduler, the workers and ``--sweep-stored-only`` come from (see :func:`store_path`,
        :func:`scheduler`, :func:`n_workers`); None: the environment variables and the defaults.
    scale : str
        'fast' (inline, no store unless asked for) or 'full' (the store).
    task : str
        The task's stable id (the one of ``@task_id`` on ``fn``).
    version : str
        Code version of the task; bump it when a change of the code changes results (old rows are then not matched).
    device : str or None
        Passed to ``fn`` as ``device=`` (not part of the hash); None: not passed.
    desc : str or None
        Label of the progress line and bar (default: ``task``).
    use_store : bool or None
        Force the store on or off; None: as :func:`stored_runs_mode` says (by default: at the full scale only).
    run_missing : bool or None
        Run what the store lacks; None: unless ``--sweep-stored-only`` (then a missing row raises
        :class:`IncompleteRuns`).
    seeds_per_task : int
        Seeds per call of ``fn`` on the store (default 1: one task per row, the finest grain to resume and spread).
    progress : bool
        Show the runner's tqdm bar (stderr).
    report : callable or None
        Called with each progress line (``"[sweep] desc: ..."``); None: ``print``.

    Returns
    -------
    StoredRuns
        A list over the configurations of lists over their seeds of results, with the counts in ``.progress``.
    """
    import functools
    import json
    import time

    from amemory.sweep import canonical_json, config_hash, load_results, run_sweep
    from amemory.sweep.runner import _dask_client
    from amemory.sweep.store import Store

    if not callable(fn):
        raise ValueError(f"fn must be callable, got {type(fn).__name__}")
    if scale not in ("fast", "full"):
        raise ValueError(f"scale must be 'fast' or 'full', got {scale!r}")
    if isinstance(configs, Mapping) or not isinstance(configs, Sequence) or not configs:
        raise ValueError("configs must be a non-empty sequence of mappings")
    for i, c in enumerate(configs):
        if not isinstance(c, Mapping):
            raise ValueError(f"configs[{i}] must be a mapping, got {type(c).__name__}")
    task, version = _label("task", task), _label("version", version)
    desc = task if desc is None else _label("desc", desc)
    per = _per_config_seeds(configs, seeds)
    for name, v in (("use_store", use_store), ("run_missing", run_missing)):
        if v is not None and not isinstance(v, bool):
            raise ValueError(f"{name} must be None or a bool, got {v!r}")
    if isinstance(seeds_per_task, bool) or not isinstance(seeds_per_task, int) or seeds_per_task < 1:
        raise ValueError(f"seeds_per_task must be an int >= 1, got {seeds_per_task!r}")
    say = print if report is None else report
    call = fn if device is None else functools.partial(fn, device=device)
    if use_store is None:
        mode = stored_runs_mode(config)
        use_store = mode == "store" or (mode == "auto" and scale == "full")
    total = sum(len(s) for s in per)
    t0 = time.perf_counter()

    if not use_store:
        out = StoredRuns()
        for i, (c, sd) in enumerate(zip(configs, per)):
            cfg = json.loads(canonical_json(c, name=f"configs[{i}]"))  # what the task gets from the store
            res = call(cfg, sd)
            if isinstance(res, (str, bytes, Mapping)) or not hasattr(res, "__len__") or len(res) != len(sd):
                raise ValueError(f"fn must return one result per seed ({len(sd)}) for configs[{i}]")
            out.append([json.loads(canonical_json(r, name="result")) for r in res])
        out.progress = dict(
            store=None, total=total, stored=0, done=total, left=0, by_others=0, seconds=time.perf_counter() - t0
        )
        return out

    path = store_path(config)
    if run_missing is None:
        run_missing = not _option(config, "--sweep-stored-only")
    hashes = [config_hash(c, task, version) for c in configs]
    have: dict = {}
    if path.exists():
        with Store(path, create=False) as st:
            have = st.stored_seeds(hashes)
    stored = sum(len(have.get(h, set()) & set(sd)) for h, sd in zip(hashes, per))
    counts = dict(store=str(path), total=total, stored=stored, done=0, left=total - stored, by_others=0)
    say(f"[sweep] {desc}: {total} runs, {stored} stored, {total - stored} left ({path})")
    if counts["left"] and not run_missing:
        counts["seconds"] = time.perf_counter() - t0
        raise IncompleteRuns(
            f"{desc}: {counts['left']} of {total} runs are not in the store {path} and --sweep-stored-only was given; "
            "run without it (or load a dump of the runs) to fill them",
            counts,
        )

    # configurations that share their seeds run in one call of the runner; one Dask cluster serves all calls
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, sd in enumerate(per):
        groups.setdefault(sd, []).append(i)
    todo = {sd for sd, g in groups.items() if any(set(sd) - have.get(hashes[i], set()) for i in g)}
    sched, client, cluster = scheduler(config), None, None
    if sched is None and len(todo) > 1:
        workers = n_workers(config)
        if workers is not None and workers < 1:
            raise ValueError(f"sweep workers (--sweep-workers / AMEMORY_SWEEP_WORKERS) must be >= 1, got {workers}")
        client, cluster = _dask_client(None, workers, counts["left"])  # the runner's own LocalCluster, shared
        sched = client
    try:
        for sd, g in groups.items():
            if sd not in todo:
                continue
            summ = run_sweep(
                call,
                [configs[i] for i in g],
                sd,
                path,
                sched,
                progress,
                version=version,
                task=task,
                seeds_per_task=seeds_per_task,
                n_workers=n_workers(config),
                desc=desc,
            )
            counts["done"] += summ.done
            counts["by_others"] += summ.by_others
    finally:
        if client is not None:
            client.close()
            cluster.close()
    results: list = [None] * len(configs)
    for sd, g in groups.items():
        for i, r in zip(g, load_results(path, task, [configs[i] for i in g], sd, version=version)):
            results[i] = r
    out = StoredRuns(results)
    counts["left"] = sum(r is None for rs in out for r in rs)
    counts["seconds"] = time.perf_counter() - t0
    out.progress = counts
    say(
        f"[sweep] {desc}: done {counts['done']} now, {stored} stored before"
        + (f", {counts['by_others']} by others" if counts["by_others"] else "")
        + f", {counts['left']} left ({counts['seconds']:.1f} s)"
    )
    if counts["left"]:
        raise IncompleteRuns(f"{desc}: {counts['left']} of {total} runs are missing from the store {path}", counts)
    return out


def _stored_count(sw, scale: str, path) -> tuple[int, int]:
    """(configuration-seed runs of the sweep ``sw`` at ``scale`` that the store at ``path`` holds, runs of the whole
    grid), read from the store by the grid's own hashes (``amemory.sweep.load_results``)."""
    from amemory.sweep import load_results

    cfgs, seeds = sw.configs(scale), sw.seeds(scale)
    total = len(cfgs) * len(seeds)
    if not Path(path).exists():
        return 0, total
    res = load_results(path, sw.task, cfgs, seeds, version=sw.version, aliases=sw.aliases)
    return sum(r is not None for rs in res for r in rs), total


def stored_fraction(name: str, scale: str, config=None) -> tuple[int, int]:
    """(configuration-seed runs stored, runs of the whole grid) of the named sweep at ``scale`` in the run's store
    (``--sweep-store``, ``AMEMORY_SWEEP_STORE``, else the default): counted by configuration hash and seed, so a
    grid whose rows hold several rates or sample counts per run is counted by its runs, not by its rows."""
    from grids import get_sweep

    return _stored_count(get_sweep(name), scale, store_path(config))


# ----------------------------------------------------------------------------------------------------
# tuned error (min over learning rates of the mean over seeds) and its heat maps


def grid_frame(rows, T: int | None = None):
    """The long table of a grid's results: one row per (configuration, seed, rate, T), a column per parameter.

    Parameters
    ----------
    rows : sequence of mappings or pandas.DataFrame
        Results of :func:`sweep_rows` (each with lists ``T`` and ``error`` of the same length), or a frame with
        scalar ``T`` and ``error`` columns already.
    T : int or None
        Keep only this number of samples (None: all).

    Returns
    -------
    pandas.DataFrame
        Columns: the configuration's parameters, ``seed``, the rate, ``T`` and ``error`` (NaN where a run diverged).
    """
    import pandas as pd

    if isinstance(rows, pd.DataFrame):
        df = rows.copy()
    else:
        for i, r in enumerate(rows):
            if "T" not in r or "error" not in r or len(r["T"]) != len(r["error"]):
                raise ValueError(f"rows[{i}] must have lists 'T' and 'error' of the same length")
        df = pd.DataFrame([dict(r) for r in rows])
        if len(df):
            df = df.explode(["T", "error"], ignore_index=True)
    if len(df):
        df["T"] = df["T"].astype(int)
        df["error"] = pd.to_numeric(df["error"], errors="coerce").astype(float)  # None (diverged) -> NaN
        if T is not None:
            df = df[df["T"] == T]
    return df.reset_index(drop=True)


def _plain(v):
    """numpy scalars of a frame back to Python values (group keys as the rows had them)."""
    return v.item() if hasattr(v, "item") else v


def tuned_error(
    rows: Sequence[Mapping],
    *,
    keys: Sequence[str] = ("optimizer", "layer_norm", "d", "batch_size", "T"),
    tune: str = "lr_base",
    T: int | None = None,
    where: Mapping | None = None,
    rule: str = "mean",
) -> dict[tuple, dict]:
    """Tuned error per group: ``min over tune of mean over seeds of error`` (``rule='mean'``, the suite's) or
    ``mean over seeds of min over tune of error`` (``rule='per_seed'``, the authors' plots: each seed its best rate).

    Parameters
    ----------
    rows : results of :func:`sweep_rows` (each with ``T`` and ``error`` lists and a ``seed``), or their
        :func:`grid_frame` (a pandas DataFrame)
    keys : grouping keys (configuration keys, or ``"T"``)
    tune : the key minimised over (the learning rate)
    T : keep only this number of samples (None: all)
    where : keep only rows whose values match this mapping
    rule : 'mean' or 'per_seed'. The per-seed rule is biased low by the choice of the rate on the same seed; the
        mean rule by at most about one standard error; both are reported where it matters.

    Returns
    -------
    ``{group: {"error": min mean, "se": standard error over seeds at the argmin, "tuned": argmin value,
    "n_seeds": seeds at the argmin, "edge": whether the argmin is the smallest or largest value tried}}``;
    a learning rate at which a seed diverged (error None) is skipped, and a group where every learning rate
    diverged gets ``error=None``. The minimum of noisy means is biased low by at most about one standard
    error when the best learning rates are close.
    """
    if not isinstance(tune, str) or not keys:
        raise ValueError("tune must be a key and keys a non-empty sequence of keys")
    if rule not in ("mean", "per_seed"):
        raise ValueError(f"rule must be 'mean' or 'per_seed', got {rule!r}")
    data = grid_frame(rows, T)
    if where:
        for k, v in where.items():
            if k not in data.columns:
                raise ValueError(f"where: {k!r} is not a column of the rows (have {sorted(data.columns)})")
            data = data[data[k] == v]
    if not len(data):
        raise ValueError(f"rows has no result for T={T} and where={dict(where or {})}")
    for k in (*keys, tune):
        if k not in data.columns:
            raise ValueError(f"keys/tune: {k!r} is not a key of the rows (have {sorted(data.columns)})")
    if rule == "per_seed":
        if "seed" not in data.columns:
            raise ValueError("rule='per_seed' needs a 'seed' column in the rows")
        per: dict[tuple, dict] = defaultdict(lambda: defaultdict(dict))
        for vals in data[[*keys, "seed", tune, "error"]].itertuples(index=False, name=None):
            g = tuple(_plain(v) for v in vals[: len(keys)])
            if not math.isnan(vals[-1]):  # a diverged run is not a candidate for its seed
                per[g][_plain(vals[-3])][_plain(vals[-2])] = float(vals[-1])
        out = {}
        for g, by_seed in per.items():
            best = {s: min(v.items(), key=lambda kv: (kv[1], kv[0])) for s, v in by_seed.items() if v}
            errs = np.array([b[1] for b in best.values()], float)
            lrs = [b[0] for b in best.values()]
            all_lrs = sorted({lr for v in by_seed.values() for lr in v})
            edge = len(all_lrs) > 1 and np.mean([lr in (all_lrs[0], all_lrs[-1]) for lr in lrs]) > 0.5
            out[g] = {
                "error": float(errs.mean()) if errs.size else None,
                "se": float(errs.std(ddof=1) / math.sqrt(errs.size)) if errs.size > 1 else math.nan,
                "tuned": max(set(lrs), key=lrs.count) if lrs else None,
                "n_seeds": int(errs.size),
                "edge": bool(edge),
                "per_seed": errs.tolist(),
            }
        return out
    acc: dict[tuple, dict] = defaultdict(lambda: defaultdict(list))
    for vals in data[[*keys, tune, "error"]].itertuples(index=False, name=None):
        e = vals[-1]
        acc[tuple(_plain(v) for v in vals[: len(keys)])][_plain(vals[-2])].append(None if math.isnan(e) else float(e))
    out = {}
    for g, by_lr in acc.items():
        # a learning rate at which some seed diverged (error None) is not a candidate
        stats = {
            lr: (float(np.mean(v)), float(np.std(v, ddof=1) / math.sqrt(len(v))) if len(v) > 1 else math.nan, len(v))
            for lr, v in by_lr.items()
            if all(e is not None for e in v)
        }
        if not stats:
            out[g] = {"error": None, "se": None, "tuned": None, "n_seeds": 0, "edge": False}
            continue
        best = min(stats, key=lambda lr: (stats[lr][0], lr))
        # the best rate at an end of the grid: the error is not tuned (a wider grid might do better)
        edge = len(by_lr) > 1 and best in (min(by_lr), max(by_lr))
        out[g] = {"error": stats[best][0], "se": stats[best][1], "tuned": best, "n_seeds": stats[best][2], "edge": edge}
    return out


def tuned_error_heatmaps(
    rows: Sequence[Mapping],
    *,
    T: int | None = None,
    x: str = "d",
    y: str = "batch_size",
    panels: Sequence[str] = ("optimizer", "layer_norm"),
    tune: str = "lr_base",
    where: Mapping | None = None,
    floor: float = 1e-4,
    title: str = "",
):
    """One heat map per value of ``panels`` of the tuned error (colour: log10, shared scale) over ``x`` x ``y``.

    Each cell is annotated with the tuned error; the best ``tune`` value is written under it, marked
    "*" when it is an end of the grid (the error there is an upper bound of the tuned one). ``T`` picks
    the number of samples (needed unless ``x`` or ``y`` is ``"T"``). Errors below ``floor`` are drawn at it.
    """
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    if not (isinstance(floor, (int, float)) and 0 < floor < 1):
        raise ValueError(f"floor must be in (0, 1), got {floor!r}")
    if T is None and "T" not in (x, y):
        raise ValueError("T must be given unless x or y is 'T'")
    te = tuned_error(rows, keys=(*panels, x, y), tune=tune, T=T, where=where)
    pvals = sorted({g[: len(panels)] for g in te}, key=repr)
    xs = sorted({g[len(panels)] for g in te})
    ys = sorted({g[len(panels) + 1] for g in te})
    n = len(pvals)
    fig, axes = plt.subplots(
        1,
        n,
        figsize=(max(0.85 * len(xs), 2.8) * n + 1.4, max(0.5 * len(ys), 1.8) + 1.4),
        squeeze=False,
        sharey=True,
        gridspec_kw={"wspace": 0.08},
    )
    vmax = max([v["error"] for v in te.values() if v["error"] is not None] + [floor * 10])
    norm = LogNorm(vmin=floor, vmax=vmax)
    im = None
    for k, (ax, pv) in enumerate(zip(axes[0], pvals)):
        Z = np.full((len(ys), len(xs)), np.nan)
        for i, yy in enumerate(ys):
            for j, xx in enumerate(xs):
                v = te.get((*pv, xx, yy))
                if v is None:
                    continue
                if v["error"] is None:
                    ax.text(j, i, "diverged", ha="center", va="center", fontsize=5.5)
                    continue
                Z[i, j] = max(v["error"], floor)
                ax.text(
                    j,
                    i,
                    f"{v['error']:.2g}\n{v['tuned']:.2g}{'*' if v['edge'] else ''}",
                    ha="center",
                    va="center",
                    fontsize=5.5,
                    color="white" if Z[i, j] < math.sqrt(floor * vmax) else "black",
                )
        im = ax.imshow(Z, origin="lower", aspect="auto", cmap="viridis", norm=norm)
        ax.set_xticks(range(len(xs)), [str(v) for v in xs], fontsize=7)
        ax.set_yticks(range(len(ys)), [str(v) for v in ys], fontsize=7)
        ax.set_xlabel(x)
        if k == 0:
            ax.set_ylabel(y)
        ax.set_title(", ".join(f"{k}={v}" for k, v in zip(panels, pv)), fontsize=7)
    cb = fig.colorbar(im, ax=list(axes[0]), shrink=0.9)
    cb.set_label(f"tuned error (min over {tune} of mean over seeds)" + (f", T={T}" if T else ""), fontsize=7)
    fig.text(
        0.01,
        -0.02,
        f"cell: tuned error, then the best {tune} (* = an end of the grid: the error is an upper bound)",
        fontsize=7,
        ha="left",
        va="top",
    )
    if title:
        fig.suptitle(title, fontsize=9, y=1.02)
    return fig


def optimizer_grid_heatmaps(rows: Sequence[Mapping]) -> dict:
    """The report's heat maps of the optimiser grid (tuned error = min over lr_base of the mean over seeds).

    ``"d_batch"``: d x batch size at the largest T, one panel per (optimizer, layer_norm);
    ``"d_T"``: d x T at the smallest batch size, one panel per (optimizer, layer_norm).
    """
    if not rows:
        raise ValueError("rows must hold at least one result of the optimiser grid")
    T_max = max(max(r["T"]) for r in rows)
    b_min = min(r["batch_size"] for r in rows)
    return {
        "d_batch": tuned_error_heatmaps(
            rows, T=T_max, x="d", y="batch_size", title=f"optimiser grid: tuned error after T={T_max} samples"
        ),
        "d_T": tuned_error_heatmaps(
            rows, x="d", y="T", where={"batch_size": b_min}, title=f"optimiser grid: tuned error, batch size {b_min}"
        ),
    }


# ----------------------------------------------------------------------------------------------------
# the authors' grid: figures in the shape of their own, and the tables behind them

OPT_NAMES = {"sgd": "SGD", "adam": "Adam (0,0)"}
NORM_NAMES = {"none": "no norm", "l2": "L2 norm", "layernorm": "LayerNorm"}


def _panel_ds(ds: Sequence[int], k: int = 4) -> list[int]:
    ds = sorted(ds)
    if len(ds) <= k:
        return ds
    idx = np.unique(np.round(np.linspace(0, len(ds) - 1, k)).astype(int))
    return [ds[i] for i in idx]


def authors_grid_figures(rows: Sequence[Mapping], model: str) -> tuple[dict, dict]:
    """Figures of one model of the authors' grid, in the shape of their plots, and the tables behind them.

    ``"error_vs_d"``: mean error over seeds (95% t-band) against d at each fixed rate, one panel per (optimizer,
    norm), at the smallest batch size and the largest T. ``"tuned_vs_batch"``: tuned error against the batch size at
    the largest T, one panel per d (up to four), a line per (optimizer, norm), solid the authors' rule (each seed its
    best rate), dashed the suite's (the best mean over seeds). ``"tuned_vs_T"``: tuned error against T at the
    smallest batch size, the same panels and lines.

    Parameters
    ----------
    rows : sequence of mappings
        Rows of the sweep ``authors_grid`` (:func:`sweep_rows`).
    model : str
        'matrix', 'exponential' or 'learnable'.

    Returns
    -------
    (dict, dict)
        {name: matplotlib figure}, {name: markdown table of the numbers plotted}.
    """
    from plotting import band, figure, style

    df = grid_frame([r for r in rows if r.get("model") == model])
    if not len(df):
        raise ValueError(f"rows hold no result of model {model!r}")
    T_max, b_min = int(df["T"].max()), int(df["batch_size"].min())
    opts = [o for o in OPT_NAMES if o in set(df["optimizer"])]
    norms = [n for n in NORM_NAMES if n in set(df["norm"])]
    ds, lrs = sorted(set(df["d"])), sorted(set(df["lr_base"]))
    figs, tables = {}, {}

    # error against d at each fixed rate
    fig, axes = figure(len(norms), len(opts), w=4.2, h=3.3)
    fig.set_layout_engine("constrained")
    lines = ["| optimizer | norm | lr | " + " | ".join(f"d={d}" for d in ds) + " |", "|---|---|---|" + "---|" * len(ds)]
    sub = df[(df["batch_size"] == b_min) & (df["T"] == T_max)]
    for i, (o, n) in enumerate(itertools.product(opts, norms)):
        ax = axes[i]
        for lr in lrs:
            piv = sub[(sub["optimizer"] == o) & (sub["norm"] == n) & (sub["lr_base"] == lr)].pivot_table(
                index="seed", columns="d", values="error"
            )
            piv = piv.reindex(columns=ds)
            band(ax, np.array(ds, float), piv.to_numpy(), f"lr {lr:g}", clip=(0, 1))
            lines.append(
                f"| {OPT_NAMES[o]} | {NORM_NAMES[n]} | {lr:g} | "
                + " | ".join("diverged" if np.isnan(v) else f"{v:.4f}" for v in piv.mean(0).to_numpy())
                + " |"
            )
        style(ax, title=f"{model}: {OPT_NAMES[o]}, {NORM_NAMES[n]}", xlabel="d", ylabel="population error", logx=True)
    fig.suptitle(f"error against d at fixed rates (batch {b_min}, T={T_max}; mean over seeds, 95% t-band)")
    figs["error_vs_d"], tables["error_vs_d"] = fig, "\n".join(lines)

    # tuned error against batch size / T, both tuning rules
    pds = _panel_ds(ds)
    for name, xkey, where, xlabel in (
        ("tuned_vs_batch", "batch_size", {"T": T_max}, "batch size"),
        ("tuned_vs_T", "T", {"batch_size": b_min}, "samples T"),
    ):
        fig, axes = figure(len(pds), 1, w=4.2, h=3.6)
        fig.set_layout_engine("constrained")
        ((wk, wv),) = where.items()
        sub = df[df[wk] == wv]
        xs = sorted(set(sub[xkey]))
        hdr = "| d | optimizer | norm | rule | " + " | ".join(f"{xkey}={x}" for x in xs) + " |"
        lines = [hdr, "|---|---|---|---|" + "---|" * len(xs)]
        te = {rule: tuned_error(sub, keys=("d", "optimizer", "norm", xkey), rule=rule) for rule in ("per_seed", "mean")}
        for ax, d in zip(axes, pds):
            for k, (o, n) in enumerate(itertools.product(opts, norms)):
                color = f"C{k}"
                for rule, ls in (("per_seed", "-"), ("mean", "--")):
                    ys = [te[rule].get((d, o, n, x), {}).get("error") for x in xs]
                    y = np.array([np.nan if v is None else v for v in ys], float)
                    lab = f"{OPT_NAMES[o]}, {NORM_NAMES[n]}" if rule == "per_seed" else None
                    ax.plot(xs, y, ls, color=color, marker="o", ms=3, label=lab)
                    lines.append(
                        f"| {d} | {OPT_NAMES[o]} | {NORM_NAMES[n]} | {rule} | "
                        + " | ".join("diverged" if np.isnan(v) else f"{v:.4f}" for v in y)
                        + " |"
                    )
            style(ax, title=f"{model}, d={d}", xlabel=xlabel, ylabel="tuned population error", logx=True)
        fig.suptitle(
            f"tuned error against {xlabel} ({', '.join(f'{k}={v}' for k, v in where.items())}); solid: each seed its "
            "best rate (the authors' rule), dashed: the best mean over seeds (the suite's)"
        )
        figs[name], tables[name] = fig, "\n".join(lines)
    return figs, tables
