"""Glue between the full tier of the claim checks and the sweep store (:mod:`amemory.sweep`, `checks/grids.py`).

A full-tier check does::

    from sweeps import sweep_rows, tuned_error, tuned_error_heatmaps
    rows = sweep_rows("optimizer_grid", scale, config=request.config, device=device)  # runs what is missing
    fig = tuned_error_heatmaps(rows, T=102400)                                          # min over lr, mean over seeds

Where the store, the scheduler and the number of local workers come from (first found): the pytest
options ``--sweep-store``, ``--dask-scheduler`` and ``--sweep-workers`` (when checks/conftest.py
registers them), the environment variables ``AMEMORY_SWEEP_STORE``, ``AMEMORY_DASK_SCHEDULER`` and
``AMEMORY_SWEEP_WORKERS``, else ``.sweeps/store.sqlite`` at the repository root and an in-process Dask
LocalCluster with one worker process per core.
"""

from __future__ import annotations

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


def sweep_rows(
    name: str, scale: str, *, config=None, device: str = "cpu", progress: bool = True, run_missing: bool = True
) -> list[dict]:
    """Rows ``{**config, "seed", **result}`` of the named sweep at ``scale``, after running what the store lacks."""
    from grids import get_sweep

    sw = get_sweep(name)
    path = store_path(config)
    if run_missing:
        sw.run(scale, path, scheduler=scheduler(config), progress=progress, device=device, n_workers=n_workers(config))
    return sw.rows(scale, path)


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
) -> dict[tuple, dict]:
    """Tuned error per group: ``min over tune of mean over seeds of error``.

    Parameters
    ----------
    rows : results of :func:`sweep_rows` (each with ``T`` and ``error`` lists and a ``seed``), or their
        :func:`grid_frame` (a pandas DataFrame)
    keys : grouping keys (configuration keys, or ``"T"``)
    tune : the key minimised over (the learning rate)
    T : keep only this number of samples (None: all)
    where : keep only rows whose values match this mapping

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
