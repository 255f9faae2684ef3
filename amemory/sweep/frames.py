"""Sweep results as tables: one row per (configuration, seed[, rate ...]), a column per parameter and metric.

pandas is imported when a frame is made, so the engine itself does not need it. Results that are dicts
are spread into columns (nested dicts as ``outer.inner``); any other result is one column ``result``.
Parquet export needs ``pyarrow`` (``pip install 'amemory[parquet]'``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .runner import load_results
from .store import Store

__all__ = ["export_frame", "results_frame", "rows_frame", "store_frame"]


def _flat(row: Mapping, prefix: str = "") -> dict:
    out: dict[str, Any] = {}
    for k, v in row.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(_flat(v, f"{key}."))
        else:
            out[key] = v
    return out


def rows_frame(rows: Sequence[Mapping]) -> Any:
    """A pandas DataFrame of flat rows (dict values spread into ``outer.inner`` columns).

    Parameters
    ----------
    rows : sequence of mappings
        One mapping per row (e.g. ``NamedSweep.rows``).

    Returns
    -------
    pandas.DataFrame
    """
    import pandas as pd

    if isinstance(rows, (str, bytes, Mapping)) or not isinstance(rows, Sequence):
        raise ValueError(f"rows must be a sequence of mappings, got {type(rows).__name__}")
    for i, r in enumerate(rows):
        if not isinstance(r, Mapping):
            raise ValueError(f"rows[{i}] must be a mapping, got {type(r).__name__}")
    return pd.DataFrame([_flat(r) for r in rows])


def _row(config: Mapping, seed: int, result: Any) -> dict:
    res = dict(result) if isinstance(result, Mapping) else {"result": result}
    return {**config, "seed": seed, **res}


def results_frame(
    store_path: str | os.PathLike,
    fn_or_task: Callable | str,
    configs: Sequence[Mapping],
    seeds: Any,
    *,
    version: str = "1",
    aliases: Sequence[str] = (),
    explode: Callable[[Mapping, int, Any], list] | None = None,
    missing: bool = False,
) -> Any:
    """Stored results of ``configs`` x ``seeds`` as a DataFrame (see :func:`amemory.sweep.load_results`).

    Parameters
    ----------
    store_path : str or os.PathLike
        An existing store.
    fn_or_task : callable or str
        The sweep's function or its task id.
    configs : sequence of mappings
        The configurations.
    seeds : int or sequence of int
        The seeds.
    version : str
        The code version given to ``run_sweep``.
    aliases : sequence of str
        Earlier ids of the task.
    explode : callable or None
        ``explode(config, seed, result) -> list of flat rows`` (e.g. one row per learning rate); default one
        row ``{**config, "seed": seed, **result}``.
    missing : bool
        Also give a row (with ``stored = False``) for each (configuration, seed) not stored yet.

    Returns
    -------
    pandas.DataFrame
        One row per stored (configuration, seed) (or per exploded row), a column per parameter and metric.
    """
    if not isinstance(missing, bool):
        raise ValueError(f"missing must be a bool, got {missing!r}")
    from amemory.validate import check_seeds

    seeds = check_seeds(seeds)
    res = load_results(store_path, fn_or_task, configs, seeds, version=version, aliases=aliases)
    rows: list[dict] = []
    for c, rs in zip(configs, res):
        for s, r in zip(seeds, rs):
            if r is None:
                if missing:
                    rows.append({**c, "seed": s, "stored": False})
                continue
            new = explode(c, s, r) if explode is not None else [_row(c, s, r)]
            rows.extend({**x, "stored": True} if missing else x for x in new)
    return rows_frame(rows)


def store_frame(store_path: str | os.PathLike, task: str | None = None, version: str | None = None) -> Any:
    """Every stored row of a store (of one task and version if given) as a DataFrame.

    Parameters
    ----------
    store_path : str or os.PathLike
        An existing store.
    task : str or None
        Only this task id.
    version : str or None
        Only this code version.

    Returns
    -------
    pandas.DataFrame
        Columns ``task``, ``version``, ``hash``, the configuration's parameters, ``seed`` and the result's metrics.
    """
    with Store(store_path, create=False) as st:
        table = st.table(task, version)
    return rows_frame(
        [
            {"task": r["task"], "version": r["version"], "hash": r["hash"], **_row(r["config"], r["seed"], r["result"])}
            for r in table
        ]
    )


def export_frame(frame: Any, path: str | os.PathLike) -> Path:
    """Write a DataFrame as CSV (``.csv``) or Parquet (``.parquet``, needs pyarrow).

    Parameters
    ----------
    frame : pandas.DataFrame
        The table.
    path : str or os.PathLike
        The file to write; its suffix chooses the format.

    Returns
    -------
    pathlib.Path
        The path written.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise ValueError(f"path must end in .csv or .parquet, got {str(p)!r}")
    if not p.parent.is_dir():
        raise ValueError(f"path {str(p)!r}: the directory {str(p.parent)!r} does not exist")
    if suffix == ".csv":
        frame.to_csv(p, index=False)
    else:
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise ValueError("Parquet export needs pyarrow: pip install 'amemory[parquet]' (or write a .csv)") from None
        frame.to_parquet(p, index=False)
    return p
