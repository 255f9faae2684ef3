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


def sweep_rows(
    name: str, scale: str, *, config=None, device: str = "cpu", progress: bool = True, run_missing: bool | None = None
) -> list[dict]:
    """Rows ``{**config, "seed", **result}`` of the named sweep at ``scale``, after running what the store lacks
    (``run_missing`` None: unless ``--sweep-stored-only`` was given)."""
    from grids import get_sweep

    sw = get_sweep(name)
    path = store_path(config)
    if run_missing is None:
        run_missing = not _option(config, "--sweep-stored-only")
    if run_missing:
        sw.run(scale, path, scheduler=scheduler(config), progress=progress, device=device, n_workers=n_workers(config))
    return sw.rows(scale, path)


def stored_fraction(name: str, scale: str, rows: Sequence[Mapping]) -> tuple[int, int]:
    """(configuration-seed pairs present in ``rows``, pairs of the whole grid) of the named sweep at ``scale``."""
    from grids import get_sweep

    sw = get_sweep(name)
    have = {
        (
            tuple(
                sorted(
                    (k, str(v))
                    for k, v in r.items()
                    if k in sw.configs(scale)[0] and k not in ("lr_base", "error", "T")
                )
            ),
            r["seed"],
        )
        for r in rows
    }
    return len(have), len(sw.configs(scale)) * len(sw.seeds(scale))


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
