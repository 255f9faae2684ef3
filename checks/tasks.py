"""Task functions of the checks' stored runs (``sweeps.stored_runs``): one row per configuration and seed.

A long full-tier check hands its per-(configuration, seed) work to :func:`sweeps.stored_runs`, which runs it
through the sweep store (:mod:`amemory.sweep`). The work must then be a module-level function that a Dask
worker can import by name; a task that needs ``theory`` (which ``impl`` may not import) lives here, a task that
only calls a simulator lives beside it in ``impl/``. Each task has a stable id (:func:`amemory.sweep.task_id`),
part of the hash of every row it stores, so moving the function keeps its rows.

Dask workers import this module as ``tasks`` (``checks/`` is on ``sys.path``): a local cluster started by pytest
inherits the path; workers of a remote cluster need ``PYTHONPATH=checks`` (from the repository root).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from amemory.sweep import task_id

__all__ = ["capacity_curve_task"]


@task_id("capacity_curve")
def capacity_curve_task(config: Mapping, seeds: Sequence[int], *, device: str = "cpu") -> list[list[float]]:
    """Accuracy of the memory ``W = sum_z u_{f*(z)} e_z^T`` at each N of a grid, per seed (AM3, AM4).

    ``accuracy[s][i] = 1 - error`` of ``impl.memory.recall`` with uniform weights q = 1 and uniform p, for
    ``N = config["N"][i]`` tokens, the target map ``theory.memory.target_map(N, kind)`` and Gaussian embeddings
    ``E = Embedding(N, d, seeds, stream="e")``, ``U = Embedding(M, d, seeds, stream="u")``. Every seed draws from
    its own generators, so a seed's accuracies do not depend on the other seeds of the call.

    Parameters
    ----------
    config : mapping
        ``kind`` ('injective' or 'mod'), ``d`` (the dimension, int >= 1), ``N`` (list of ints >= 2).
    seeds : sequence of int
        The seeds of this call.
    device : str
        Where ``recall`` runs ('cpu', 'cuda', 'auto'); not part of the row's identity.

    Returns
    -------
    list of list of float
        ``out[j][i]``: the accuracy of seed ``seeds[j]`` at ``N = config["N"][i]``.
    """
    import numpy as np
    import torch

    from impl.embeddings import Embedding
    from impl.memory import recall
    from theory.memory import target_map

    if not isinstance(config, Mapping) or not {"kind", "d", "N"} <= set(config):
        raise ValueError(f"config must be a mapping with keys 'kind', 'd' and 'N', got {config!r}")
    d, Ns, seeds = int(config["d"]), [int(n) for n in config["N"]], tuple(int(s) for s in seeds)
    acc = np.empty((len(Ns), len(seeds)))
    for i, N in enumerate(Ns):
        f, M = target_map(N, config["kind"])
        E = Embedding(N, d, seeds, stream="e")
        U = Embedding(M, d, seeds, stream="u")
        acc[i] = 1 - recall(torch.ones(N), torch.as_tensor(f), E, U, device=device).error[:, 0].cpu().numpy()
    return acc.T.tolist()
