"""Command line of the sweep engine: ``python -m amemory.sweep {run, list, status, export, dump, load}``.

``run NAME``          a named sweep (from the grids module, default ``checks/grids.py`` of the current
                      directory or ``$AMEMORY_GRIDS``), only what the store lacks;
``run pkg.mod:fn``    any importable task function over the configurations of ``--grid FILE`` (JSON or
                      TOML) and the seeds of ``--seeds N`` (0..N-1) or ``--seed-list 3,5,8``;
``list``              the named sweeps;
``status``            what a store holds;
``export``            a store's rows as a table (``--out runs.csv`` or ``runs.parquet``);
``dump``              a store's finished rows as a portable, deterministic file (``--out runs.jsonl.gz``,
                      ``--task ID ...`` to keep only some tasks), fit to commit;
``load``              merge such a dump into a store (``--from runs.jsonl.gz --store S``, created if absent):
                      all or nothing, every hash recomputed, a conflicting result refused.

A grid file is either ``{"configs": [{...}, ...]}`` (a list of configurations) or a table whose list
values are axes and whose other values are fixed: ``{"x": [1, 2, 3], "y": [0.1, 1.0], "n": 100}`` gives
the 6 configurations of the product. Every error is one line on stderr and a non-zero exit status (2 for
bad arguments, 1 when tasks failed); ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType

from .named import SCALES, NamedSweep, import_function
from .runner import SweepError, run_sweep
from .store import Store, dump_store, load_dump

__all__ = ["grid_configs", "load_grids", "main"]

DEFAULT_GRIDS = "checks/grids.py"


def load_grids(spec: str | None = None) -> ModuleType | None:
    """The module that defines the named sweeps (``SWEEPS: dict[str, NamedSweep]``).

    Parameters
    ----------
    spec : str or None
        A file path (``checks/grids.py``) or a module name (``mypkg.grids``); None: ``$AMEMORY_GRIDS``,
        else ``checks/grids.py`` under the current directory (None if that file does not exist).

    Returns
    -------
    module or None
    """
    if spec is None:
        spec = os.environ.get("AMEMORY_GRIDS") or None
        if spec is None:
            if not Path(DEFAULT_GRIDS).is_file():
                return None
            spec = DEFAULT_GRIDS
    if spec.endswith(".py") or os.sep in spec:
        path = Path(spec)
        if not path.is_file():
            raise ValueError(f"--grids: no such file {spec!r}")
        sys.path.insert(0, str(path.resolve().parent))  # its sibling modules (and the project root) importable
        sys.path.insert(0, str(path.resolve().parent.parent))
        s = importlib.util.spec_from_file_location(f"_amemory_grids_{path.stem}", path)
        if s is None or s.loader is None:
            raise ValueError(f"--grids: cannot load {spec!r}")
        mod = importlib.util.module_from_spec(s)
        s.loader.exec_module(mod)
    else:
        try:
            mod = importlib.import_module(spec)
        except ImportError as e:
            raise ValueError(f"--grids: cannot import {spec!r} ({e})") from None
    if not isinstance(getattr(mod, "SWEEPS", None), Mapping):
        raise ValueError(f"--grids: {spec!r} defines no SWEEPS mapping of named sweeps")
    return mod


def _named(grids: ModuleType | None) -> dict[str, NamedSweep]:
    return dict(grids.SWEEPS) if grids is not None else {}


def grid_configs(path: str | os.PathLike) -> list[dict]:
    """The configurations of a grid file (JSON or TOML), see the module docstring.

    Parameters
    ----------
    path : str or os.PathLike
        A ``.json`` or ``.toml`` file.

    Returns
    -------
    list of dict
    """
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"--grid: no such file {str(p)!r}")
    text = p.read_text()
    try:
        if p.suffix.lower() == ".toml":
            import tomllib

            data = tomllib.loads(text)
        else:
            data = json.loads(text)
    except (ValueError, ImportError) as e:
        raise ValueError(f"--grid: {str(p)!r} is not valid {p.suffix.lstrip('.').upper() or 'JSON'} ({e})") from None
    if isinstance(data, Mapping) and "configs" in data:
        cfgs = data["configs"]
        if not isinstance(cfgs, list) or not cfgs or not all(isinstance(c, Mapping) for c in cfgs):
            raise ValueError(f"--grid: 'configs' of {str(p)!r} must be a non-empty list of tables")
        return [dict(c) for c in cfgs]
    if not isinstance(data, Mapping) or not data:
        raise ValueError(f"--grid: {str(p)!r} must hold a table of parameters or a list 'configs'")
    axes = {k: v for k, v in data.items() if isinstance(v, list)}
    if any(len(v) == 0 for v in axes.values()):
        raise ValueError(f"--grid: an axis of {str(p)!r} is empty")
    fixed = {k: v for k, v in data.items() if k not in axes}
    return [{**fixed, **dict(zip(axes, combo))} for combo in itertools.product(*axes.values())]


def _seed_list(a: argparse.Namespace, named: NamedSweep | None) -> tuple[int, ...] | None:
    if a.seed_list is not None:
        try:
            seeds = tuple(int(s) for s in a.seed_list.split(",") if s.strip())
        except ValueError:
            raise ValueError(
                f"--seed-list must be comma-separated non-negative integers, got {a.seed_list!r}"
            ) from None
        if not seeds or min(seeds) < 0:
            raise ValueError(f"--seed-list must be comma-separated non-negative integers, got {a.seed_list!r}")
        return seeds
    if a.seeds is not None:
        if a.seeds < 1:
            raise ValueError(f"--seeds must be an integer >= 1, got {a.seeds}")
        return tuple(range(a.seeds))
    return None if named is not None else (0,)


def _check_args(a: argparse.Namespace) -> None:
    """Validate what can be validated before any store is created or any task dispatched."""
    cores = os.cpu_count() or 1
    if a.workers is not None and not 1 <= a.workers <= cores:
        raise ValueError(f"--workers must be an integer in [1, {cores}], got {a.workers}")
    if a.seeds_per_task is not None and a.seeds_per_task < 1:
        raise ValueError(f"--seeds-per-task must be an integer >= 1, got {a.seeds_per_task}")
    if a.scheduler is not None:
        s = a.scheduler.strip()
        if s != "inline" and ("://" not in s or not s.split("://", 1)[1]):
            raise ValueError(f"--scheduler must be 'inline' or an address such as tcp://host:8786, got {a.scheduler!r}")
    dev = a.device
    if dev not in ("cpu", "auto") and not (dev == "cuda" or (dev.startswith("cuda:") and dev[5:].isdigit())):
        raise ValueError(f"--device must be cpu, cuda, cuda:k or auto, got {dev!r}")
    if dev.startswith("cuda"):
        try:
            import torch
        except ImportError:
            raise ValueError("--device cuda needs torch") from None
        if not torch.cuda.is_available():
            raise ValueError(f"--device {dev}: CUDA is not available on this machine; use --device cpu")
    store = Path(a.store)
    if store.exists() and not store.is_file():
        raise ValueError(f"--store {a.store!r} is not a regular file")


def _parser(names: Sequence[str]) -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m amemory.sweep", description="Resumable parameter sweeps (hashed configurations, SQLite store)."
    )
    ap.add_argument("--debug", action="store_true", help="show the traceback of an error")
    sub = ap.add_subparsers(dest="cmd", required=True)
    listed = ", ".join(names) if names else "(none found: give --grids)"
    p = sub.add_parser(
        "run",
        help="run a named sweep or a task function (only what the store lacks)",
        description=f"Named sweeps: {listed}. Or give a task function as pkg.module:function with --grid FILE.",
    )
    p.add_argument("target", help=f"a named sweep ({listed}) or pkg.module:function")
    p.add_argument("--store", required=True, help="the SQLite results store (created if absent)")
    p.add_argument("--grid", default=None, help="JSON or TOML file of configurations (for pkg.module:function)")
    p.add_argument("--grids", default=None, help=f"module or file of named sweeps (default {DEFAULT_GRIDS})")
    p.add_argument("--scale", choices=SCALES, default="full", help="grid of a named sweep (default full)")
    p.add_argument("--seeds", type=int, default=None, help="run seeds 0..N-1 (default: the named sweep's; else 1)")
    p.add_argument("--seed-list", default=None, help="comma-separated seeds, e.g. 3,5,8")
    p.add_argument("--version", default="1", help="code version of a task function (part of the hash)")
    p.add_argument("--task-id", default=None, help="stable task id of a task function (default module:qualname)")
    p.add_argument("--scheduler", default=None, help="Dask scheduler address (tcp://host:8786), or 'inline'")
    p.add_argument("--workers", type=int, default=None, help="worker processes of the local cluster")
    p.add_argument("--seeds-per-task", type=int, default=None, help="at most this many seeds per call")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda, cuda:k, auto (named sweeps)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--debug", action="store_true", help="show the traceback of an error")
    p = sub.add_parser("list", help="the named sweeps")
    p.add_argument("--grids", default=None, help=f"module or file of named sweeps (default {DEFAULT_GRIDS})")
    p = sub.add_parser("export", help="write a store's rows as a CSV or Parquet table")
    p.add_argument("--store", required=True)
    p.add_argument("--out", required=True, help="the table to write: a .csv or .parquet file")
    p.add_argument("--task", default=None, help="only this task id")
    p.add_argument("--version", default=None, help="only this code version")
    p.add_argument("--debug", action="store_true", help="show the traceback of an error")
    p = sub.add_parser(
        "dump",
        help="write a store's finished rows to a portable, deterministic .jsonl.gz",
        description="One gzipped JSON line per stored (configuration, seed), sorted, byte-identical for the same "
        "store contents: commit it, and 'load' it in another session or clone to resume.",
    )
    p.add_argument("--store", required=True, help="the SQLite results store (must exist; only read)")
    p.add_argument("--out", required=True, help="the dump to write, e.g. reports/full/store/NAME.jsonl.gz")
    p.add_argument(
        "--task",
        nargs="+",
        action="extend",
        default=None,
        metavar="ID",
        help="only these task ids (a named sweep's id is its name); repeatable",
    )
    p.add_argument("--debug", action="store_true", help="show the traceback of an error")
    p = sub.add_parser(
        "load",
        help="merge a dump into a store (created if absent), all or nothing",
        description="Every row's hash is recomputed; rows already stored with an equal result are skipped, a "
        "different result is a conflict that refuses the whole file.",
    )
    p.add_argument("--from", dest="source", required=True, help="the dump, a .jsonl.gz written by 'dump'")
    p.add_argument("--store", required=True, help="the SQLite results store (created if absent)")
    p.add_argument("--debug", action="store_true", help="show the traceback of an error")
    p = sub.add_parser("status", help="what a store holds")
    p.add_argument("--store", required=True)
    p.add_argument("--debug", action="store_true", help="show the traceback of an error")
    return ap


def _run(a: argparse.Namespace) -> int:
    if a.cmd == "list":
        for name, sw in _named(load_grids(a.grids)).items():
            print(f"{name}: {sw.description}")
        return 0
    if a.cmd == "export":
        from .frames import export_frame, store_frame

        df = store_frame(a.store, a.task, a.version)
        out = export_frame(df, a.out)
        print(f"{len(df)} rows, {len(df.columns)} columns -> {out}")
        return 0
    if a.cmd == "dump":
        n = dump_store(a.store, a.out, a.task)
        print(f"{n} rows -> {a.out}")
        return 0
    if a.cmd == "load":
        store = Path(a.store)
        if store.exists() and not store.is_file():
            raise ValueError(f"--store {a.store!r} is not a regular file")
        added, present = load_dump(a.source, a.store)
        print(f"added {added} rows, already present {present} -> {a.store}")
        return 0
    if a.cmd == "status":
        with Store(a.store, create=False) as st:
            rows = st.summary()
        for row in rows:
            print(f"{row['task']} (version {row['version']}): {row['configs']} configurations, {row['rows']} rows")
        if not rows:
            print("empty store")
        return 0
    _check_args(a)
    if ":" in a.target:
        if a.grid is None:
            raise ValueError("run pkg.module:function needs --grid FILE (JSON or TOML configurations)")
        fn = import_function(a.target, "target")
        configs, seeds = grid_configs(a.grid), _seed_list(a, None)
        if a.scheduler not in (None, "inline"):
            _ping(a.scheduler)
        s = run_sweep(
            fn,
            configs,
            seeds,
            a.store,
            a.scheduler,
            not a.no_progress,
            version=a.version,
            task=a.task_id,
            seeds_per_task=a.seeds_per_task,
            n_workers=a.workers,
            raise_on_failure=False,
        )
    else:
        named = _named(load_grids(a.grids))
        if a.target not in named:
            raise ValueError(
                f"unknown sweep {a.target!r}: the named sweeps are {sorted(named) or 'none (give --grids)'}"
            )
        sw = named[a.target]
        if a.grid is not None or a.seeds is not None or a.seed_list is not None:
            raise ValueError("--grid, --seeds and --seed-list apply to a task function, not to a named sweep")
        if a.scheduler not in (None, "inline"):
            _ping(a.scheduler)
        s = sw.run(
            a.scale,
            a.store,
            scheduler=a.scheduler,
            progress=not a.no_progress,
            n_workers=a.workers,
            device=a.device,
            seeds_per_task=a.seeds_per_task,
            raise_on_failure=False,
        )
    print(
        f"total {s.total}, stored before {s.stored_before}, done now {s.done}, failed {len(s.failed)}, "
        f"{s.seconds:.1f} s" + (f", done by another driver {s.by_others}" if s.by_others else "")
    )
    if s.failed:
        raise SweepError(s)
    return 0


def _ping(address: str) -> None:
    """Contact the scheduler before the store is touched (a clear error instead of a half-made store)."""
    try:
        import distributed
    except ImportError:
        raise ValueError("--scheduler needs Dask: pip install 'dask[distributed]'") from None
    try:
        with distributed.Client(address, timeout="10s"):
            pass
    except (OSError, TimeoutError, ValueError) as e:
        raise ValueError(f"--scheduler: cannot connect to the Dask scheduler at {address!r} ({e})") from None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 1 failed tasks, 2 bad arguments).

    Parameters
    ----------
    argv : sequence of str or None
        The arguments (default ``sys.argv[1:]``).

    Returns
    -------
    int
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    try:
        names = list(_named(load_grids(_grids_arg(argv))))
    except Exception:
        names = []
    a = _parser(names).parse_args(argv)
    try:
        return _run(a)
    except SweepError as e:
        if debug:
            raise
        print(f"error: {e}", file=sys.stderr)
        return 1
    except (ValueError, OSError) as e:
        if debug:
            raise
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: what finished is stored; rerun the same command to resume", file=sys.stderr)
        return 130


def _grids_arg(argv: Sequence[str]) -> str | None:
    for i, x in enumerate(argv):
        if x == "--grids" and i + 1 < len(argv):
            return argv[i + 1]
        if x.startswith("--grids="):
            return x.split("=", 1)[1]
    return None
