"""Named sweeps: a grid per scale, a task function, a stable task id, a code version, seeds per scale.

A :class:`NamedSweep` is defined next to the check that reads it (``checks/grids.py``); its task
function lives with the simulator it calls (e.g. ``impl.dynamics:optimizer_grid_task``) and is imported
by name when the sweep runs, so this module imports neither. ``sweep.run(scale, store)`` runs what the
store lacks; ``sweep.rows(scale, store)`` reads what it holds (flat rows, one per configuration and seed,
or more through ``explode``).
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from amemory.validate import check_bool, check_int

from .runner import SweepSummary, load_results, run_sweep

__all__ = ["SCALES", "NamedSweep", "import_function"]

SCALES = ("fast", "full")


def import_function(path: str, name: str = "fn") -> Callable:
    """Import ``"package.module:function"`` (attributes may be dotted: ``"mod:Class.method"``).

    Parameters
    ----------
    path : str
        ``"module:qualname"`` of an importable callable.
    name : str
        The parameter's name, for the error message.

    Returns
    -------
    callable
    """
    if not isinstance(path, str) or path.count(":") != 1 or not all(path.split(":")):
        raise ValueError(f"{name} must be 'package.module:function', got {path!r}")
    mod, _, qual = path.partition(":")
    try:
        obj = importlib.import_module(mod)
    except ImportError as e:
        raise ValueError(f"{name}: cannot import module {mod!r} ({e})") from None
    for part in qual.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ValueError(f"{name}: module {mod!r} has no attribute {qual!r}") from None
    if not callable(obj):
        raise ValueError(f"{name}: {path!r} is not callable")
    return obj


@dataclass(frozen=True)
class NamedSweep:
    """A named grid of configurations run by :func:`amemory.sweep.run_sweep`.

    Attributes
    ----------
    name : str
        Registry name (``python -m amemory.sweep run NAME``).
    task : str
        Stable task id, part of every configuration hash; never changes when the function moves.
    fn : str
        ``"module:function"`` of ``fn(config, seeds, *, device=...) -> [result per seed]``.
    version : str
        Code version of the task (part of every configuration hash; bump it when results change).
    build : callable
        ``build(scale) -> list of configurations``.
    n_seeds : mapping
        Seeds per scale; the seeds are ``seed_base + 0, 1, ...``.
    description : str
        One line for the report.
    seed_base : int
        First seed.
    device_kwarg : bool
        Whether the task takes ``device=`` (passed by :meth:`run`).
    explode : callable or None
        ``explode(config, seed, result) -> list of flat rows`` used by :meth:`rows` (default: one row
        ``{**config, "seed": seed, **result}``).
    aliases : tuple of str
        Earlier task ids whose stored runs count as this sweep's (see :func:`run_sweep`).
    """

    name: str
    task: str
    fn: str
    version: str
    build: Callable[[str], list]
    n_seeds: Mapping[str, int]
    description: str = ""
    seed_base: int = 0
    device_kwarg: bool = True
    explode: Callable[[Mapping, int, Mapping], list] | None = None
    aliases: tuple[str, ...] = ()

    def _scale(self, scale: str) -> str:
        if scale not in SCALES:
            raise ValueError(f"scale must be one of {SCALES}, got {scale!r}")
        return scale

    def configs(self, scale: str) -> list[dict]:
        """The configurations of the grid at ``scale`` ('fast' or 'full').

        Parameters
        ----------
        scale : str
            'fast' or 'full'.

        Returns
        -------
        list of dict
        """
        return self.build(self._scale(scale))

    def seeds(self, scale: str) -> tuple[int, ...]:
        """``(seed_base, ..., seed_base + n_seeds[scale] - 1)``.

        Parameters
        ----------
        scale : str
            'fast' or 'full'.

        Returns
        -------
        tuple of int
        """
        return tuple(self.seed_base + i for i in range(self.n_seeds[self._scale(scale)]))

    def function(self) -> Callable:
        """Import and return the task function (``fn``).

        Returns
        -------
        callable
        """
        return import_function(self.fn, "fn")

    def run(
        self,
        scale: str,
        store_path,
        *,
        scheduler=None,
        progress: bool = True,
        n_workers: int | None = None,
        device: str = "cpu",
        seeds_per_task: int | None = None,
        raise_on_failure: bool = True,
    ) -> SweepSummary:
        """Run the configurations and seeds of ``scale`` that ``store_path`` lacks (see :func:`run_sweep`).

        Parameters
        ----------
        scale : str
            'fast' or 'full'.
        store_path : str or os.PathLike
            The SQLite store.
        scheduler, progress, n_workers, seeds_per_task, raise_on_failure
            As in :func:`run_sweep`.
        device : str
            Passed to the task ('cpu', 'cuda', 'auto'); not part of the configuration hash (CPU and CUDA
            results agree up to rounding).

        Returns
        -------
        SweepSummary
        """
        if not isinstance(device, str) or device.split(":")[0] not in ("cpu", "cuda", "auto"):
            raise ValueError(f"device must be 'cpu', 'cuda', 'cuda:k' or 'auto', got {device!r}")
        check_bool("progress", progress)
        if n_workers is not None:
            check_int("n_workers", n_workers, 1)
        fn = functools.partial(self.function(), device=device) if self.device_kwarg else self.function()
        return run_sweep(
            fn,
            self.configs(scale),
            self.seeds(scale),
            store_path,
            scheduler,
            progress,
            version=self.version,
            task=self.task,
            seeds_per_task=seeds_per_task,
            n_workers=n_workers,
            raise_on_failure=raise_on_failure,
            desc=self.name,
            aliases=self.aliases,
        )

    def frame(self, scale: str, store_path) -> Any:
        """Stored results of ``scale`` as a pandas DataFrame: the rows of :meth:`rows`, a column per field.

        Parameters
        ----------
        scale : str
            'fast' or 'full'.
        store_path : str or os.PathLike
            An existing store.

        Returns
        -------
        pandas.DataFrame
        """
        from .frames import rows_frame

        return rows_frame(self.rows(scale, store_path))

    def rows(self, scale: str, store_path) -> list[dict]:
        """Stored results of ``scale``: flat rows (see ``explode``) of every stored (config, seed).

        Parameters
        ----------
        scale : str
            'fast' or 'full'.
        store_path : str or os.PathLike
            An existing store.

        Returns
        -------
        list of dict
        """
        cfgs, seeds = self.configs(scale), self.seeds(scale)
        res = load_results(store_path, self.task, cfgs, seeds, version=self.version, aliases=self.aliases)
        out: list[dict] = []
        for c, rs in zip(cfgs, res):
            for s, r in zip(seeds, rs):
                if r is not None:
                    out.extend(self.explode(c, s, r) if self.explode is not None else [{**c, "seed": s, **r}])
        return out
