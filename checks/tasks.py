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

__all__ = [
    "BIRTH_RUN_KEYS",
    "DYNAMICS_TRAIN_KEYS",
    "FACTUAL_TRAIN_KEYS",
    "ICL_TRAIN_KEYS",
    "THREE_STEPS_KEYS",
    "birth_run_task",
    "capacity_curve_task",
    "dynamics_train_task",
    "factual_train_task",
    "icl_train_task",
    "scaling_sim_task",
    "three_steps_task",
]


def _check_keys(config, keys) -> None:
    """A task's configuration must be a mapping with exactly ``keys`` (ValueError naming them otherwise)."""
    if not isinstance(config, Mapping) or set(config) != set(keys):
        got = sorted(config) if isinstance(config, Mapping) else type(config).__name__
        raise ValueError(f"config must be a mapping with exactly the keys {list(keys)}, got {got}")


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


BIRTH_RUN_KEYS = (
    "source",
    "layers",
    "T",
    "d",
    "K",
    "steps",
    "batch",
    "lr",
    "eval_every",
    "eval_batch",
    "final_batch",
    "max_bytes",
    "attention",
)


def _finite(values) -> list:
    """A float array as a list for the store: non-finite entries (which JSON cannot hold) become None."""
    import numpy as np

    a = np.asarray(values, dtype=float)
    return [float(v) if np.isfinite(v) else None for v in a.ravel()]


@task_id("birth_run")
def birth_run_task(config: Mapping, seeds: Sequence[int], *, device: str = "cpu") -> list[dict]:
    """One run of the paper's model (``impl.birth``) per seed: training curves, probes, final accuracies and the
    attention maps of one evaluation sequence (TF2, and the paper-model record of TF4).

    Per seed: ``init_birth`` (layers 1 or 2), ``train_birth`` on ``BirthTask(source, T, K)`` with the given steps,
    batch, rate, evaluation grid and chunk budget ``max_bytes``; then ``birth_evaluate`` on ``final_batch`` fresh
    sequences (the draw ``step = 2**40 + 1``, the same for every number of layers, so the 1- and 2-layer models of
    a seed are scored on the same sequences) and ``birth_forward``'s attention on the first of them, cropped to
    its first ``attention`` positions. Every seed draws from its own generators, so a seed's results do not
    depend on the other seeds of the call up to float round-off of the batched products (the store's rows are
    one seed each; the fast tier calls all seeds at once, as before the store).

    Parameters
    ----------
    config : mapping
        The keys of ``BIRTH_RUN_KEYS``: ``source`` ('shakespeare' or 'synthetic'), ``layers`` (1 or 2), ``T``,
        ``d``, ``K``, ``steps``, ``batch``, ``lr``, ``eval_every``, ``eval_batch``, ``final_batch``, ``max_bytes``
        (the step's chunk budget in bytes) and ``attention`` (positions of the attention maps kept, >= 1).
    seeds : sequence of int
        The seeds of this call.
    device : str
        Where the model trains ('cpu', 'cuda', 'auto'); not part of the row's identity.

    Returns
    -------
    list of dict
        Per seed: ``steps`` (the evaluated steps), ``metrics`` ('icl', 'first', 'global', 'loss_icl': one value
        per evaluated step), ``probes`` ('WOV2', and 'WKQ1', 'WKQ2' for two layers), ``final`` ('icl', 'first',
        'global', 'loss_icl' on the final sequences), ``attention`` (per layer an ``attention x attention`` map)
        and ``tokens`` (the first ``attention`` input tokens of that sequence). Non-finite values are None.
    """
    import torch

    from impl.birth import BirthTask, birth_evaluate, birth_forward, init_birth, train_birth

    _check_keys(config, BIRTH_RUN_KEYS)
    if config["layers"] not in (1, 2):
        raise ValueError(f"config['layers'] must be 1 or 2, got {config['layers']!r}")
    n_att = config["attention"]
    if isinstance(n_att, bool) or not isinstance(n_att, int) or n_att < 1:
        raise ValueError(f"config['attention'] must be an int >= 1, got {n_att!r}")
    seeds = tuple(int(s) for s in seeds)
    task = BirthTask(source=config["source"], T=config["T"], K=config["K"])
    final = task.sample(config["final_batch"], seeds, step=2**40 + 1, device=device)
    model = init_birth(task.N, config["T"], config["d"], seeds, layers=config["layers"], device=device)
    log = train_birth(
        model,
        task,
        steps=config["steps"],
        batch=config["batch"],
        lr=config["lr"],
        eval_every=config["eval_every"],
        eval_batch=config["eval_batch"],
        max_bytes=config["max_bytes"],
    )
    ev = birth_evaluate(log.model, final)
    z = final.tokens[:, :1, :-1]
    with torch.no_grad():
        _, maps = birth_forward(log.model, z, return_attention=True)
    n = min(n_att, z.shape[-1])
    out = []
    for j in range(len(seeds)):
        out.append(
            {
                "steps": [int(s) for s in log.steps],
                "metrics": {k: _finite(v[j]) for k, v in log.metrics.items()},
                "probes": {k: _finite(v[j]) for k, v in log.probes.items()},
                "final": {k: _finite(v[j : j + 1])[0] for k, v in ev.items()},
                "attention": [
                    [_finite(row) for row in mp[j, 0, :n, :n].detach().cpu().double().numpy()] for mp in maps
                ],
                "tokens": [int(t) for t in z[j, 0, :n].tolist()],
            }
        )
    return out


ICL_TRAIN_KEYS = (
    "N",
    "T",
    "K",
    "alpha",
    "source",
    "d",
    "ff",
    "ov_init",
    "trainable",
    "loss_on",
    "stages",
    "stage_level",
    "steps",
    "batch",
    "lr",
    "eval_every",
    "eval_at",
    "eval_batch",
    "keep_probes",
)


@task_id("icl_train")
def icl_train_task(config: Mapping, seeds: Sequence[int], *, device: str = "cpu") -> list[dict]:
    """One training run of the suite's 2-layer model (``impl.transformer``) per seed: its evaluations along
    training and, if asked, its probes after every step (TF4's joint and layer-by-layer runs, TF6's run).

    Per seed: ``init_model(N, T, d, layers=2, ff, ov_init)`` and ``train`` on ``BigramTask(N, T, K, alpha,
    source)`` with the given trained matrices, loss positions, stages (None: joint training; else a list of
    groups of names, trained one group at a time, a seed moving on when its probes reach ``stage_level``), steps,
    batch, rate and evaluation grid (``eval_at``, a list of steps, else every ``eval_every`` steps). The batch of
    step t and the evaluation sequences come from each seed's own generators and the loss is a sum over seeds, so a
    seed's results do not depend on the other seeds of the call up to float round-off of the batched products (the
    store's rows are one seed each; the fast tier calls all seeds at once, as before the store).

    Parameters
    ----------
    config : mapping
        The keys of ``ICL_TRAIN_KEYS``: the task (``N``, ``T``, ``K``, ``alpha``, ``source``), the model (``d``,
        ``ff``, ``ov_init``), the training (``trainable``, ``loss_on``, ``stages``, ``stage_level``, ``steps``,
        ``batch``, ``lr``), the evaluations (``eval_every``, ``eval_at``, ``eval_batch``) and ``keep_probes``
        (bool: whether the row keeps the probe curves, one value per step).
    seeds : sequence of int
        The seeds of this call.
    device : str
        Where the model trains ('cpu', 'cuda', 'auto'); not part of the row's identity.

    Returns
    -------
    list of dict
        Per seed: ``steps`` (the evaluated steps), ``metrics`` ('icl', 'icl_inner', 'global', 'first',
        'loss_icl': one value per evaluated step) and ``probes`` ('WOV2', 'WKQ2', 'WKQ1': one value per step
        0..steps; empty unless ``keep_probes``). Non-finite values are None.
    """
    from impl.transformer import BigramTask, init_model, train

    _check_keys(config, ICL_TRAIN_KEYS)
    if not isinstance(config["keep_probes"], bool):
        raise ValueError(f"config['keep_probes'] must be a bool, got {config['keep_probes']!r}")
    seeds = tuple(int(s) for s in seeds)
    task = BigramTask(N=config["N"], T=config["T"], K=config["K"], alpha=config["alpha"], source=config["source"])
    model = init_model(
        config["N"],
        config["T"],
        config["d"],
        seeds,
        layers=2,
        ff=config["ff"],
        ov_init=config["ov_init"],
        device=device,
    )
    stages = config["stages"]
    log = train(
        model,
        task,
        steps=config["steps"],
        batch=config["batch"],
        lr=config["lr"],
        trainable=tuple(config["trainable"]),
        loss_on=config["loss_on"],
        stages=None if stages is None else [tuple(g) for g in stages],
        stage_level=config["stage_level"],
        eval_every=config["eval_every"],
        eval_at=None if config["eval_at"] is None else list(config["eval_at"]),
        eval_batch=config["eval_batch"],
    )
    return [
        {
            "steps": [int(s) for s in log.steps],
            "metrics": {k: _finite(v[j]) for k, v in log.metrics.items()},
            "probes": {k: _finite(v[j]) for k, v in log.probes.items()} if config["keep_probes"] else {},
        }
        for j in range(len(seeds))
    ]


THREE_STEPS_KEYS = ("N", "T", "K", "B", "d", "simplified", "order", "lam")


@task_id("three_steps")
def three_steps_task(config: Mapping, seeds: Sequence[int], *, device: str = "cpu") -> list[list[dict]]:
    """TF5's three normalised population-gradient steps, per seed: the probes after each step.

    From ``init_model(N, T, d, layers=2, ov_init='zero', simplified)`` (W_KQ = W_OV^2 = 0), one step per matrix
    in ``order``: W <- W - lam sqrt(M) G / ||G||_F, G the gradient of the last-position loss of
    ``induction_queries(N, T, K, B)`` (``population_gradient``; M = N - K for W_OV^2, K for W_KQ^2, T - 1 for
    W_KQ^1); after each step ``induction_probes`` with the triggers 0..K-1 and the W_KQ^1 queries 1..T-3. Every seed
    draws its own sequences and model and the loss is a sum over seeds, so a seed's probes do not depend on the
    other seeds of the call up to float round-off (the store's rows are one seed each; the fast tier calls all
    seeds at once, as before the store).

    Parameters
    ----------
    config : mapping
        The keys of ``THREE_STEPS_KEYS``: ``N``, ``T``, ``K``, ``B`` (sequences per seed), ``d``, ``simplified``
        (bool: the disentangled architecture), ``order`` (the three names 'WOV2', 'WKQ2', 'WKQ1' in the order of
        the steps) and ``lam`` (the step's scale, > 0).
    seeds : sequence of int
        The seeds of this call.
    device : str
        Where the steps run ('cpu', 'cuda', 'auto'); not part of the row's identity.

    Returns
    -------
    list of list of dict
        ``out[j][i]``: the probes ('WOV2', 'WKQ2', 'WKQ1' -> float) of seed ``seeds[j]`` after step i.
    """
    import numpy as np
    import torch

    from impl.transformer import induction_probes, induction_queries, init_model, population_gradient

    _check_keys(config, THREE_STEPS_KEYS)
    order = config["order"]
    if not isinstance(order, Sequence) or isinstance(order, str) or sorted(order) != ["WKQ1", "WKQ2", "WOV2"]:
        raise ValueError(f"config['order'] must hold 'WOV2', 'WKQ2' and 'WKQ1' once each, got {order!r}")
    if not isinstance(config["simplified"], bool):
        raise ValueError(f"config['simplified'] must be a bool, got {config['simplified']!r}")
    lam = config["lam"]
    if isinstance(lam, bool) or not isinstance(lam, (int, float)) or not lam > 0:
        raise ValueError(f"config['lam'] must be a number > 0, got {lam!r}")
    N, T, K, B, d = (config[k] for k in ("N", "T", "K", "B", "d"))
    seeds = tuple(int(s) for s in seeds)
    z = induction_queries(N, T, K, B, seeds, device=device)
    mask = torch.zeros(z[..., :-1].shape, dtype=torch.bool, device=z.device)
    mask[..., T - 2] = True
    model = init_model(N, T, d, seeds, layers=2, ov_init="zero", simplified=config["simplified"], device=device)
    M = {"WOV2": N - K, "WKQ2": K, "WKQ1": T - 1}
    steps = []
    for name in order:
        gr = population_gradient(model, z, mask, (name,))[name]
        nrm = gr.flatten(1).norm(dim=1).clamp_min(1e-30).view(-1, 1, 1)
        model.W[name] = model.W[name] - lam * np.sqrt(M[name]) * gr / nrm
        pr = induction_probes(model, torch.arange(K), T, kq1_queries=range(1, T - 2))
        steps.append({k: v.cpu().numpy() for k, v in pr.items()})
    return [[{k: float(v[j]) for k, v in st.items()} for st in steps] for j in range(len(seeds))]


FACTUAL_TRAIN_KEYS = ("S", "R", "D", "n_noise", "T", "dims", "heads", "widths", "d_head", "steps", "lr", "noise_seed")


@task_id("factual_train")
def factual_train_task(
    config: Mapping, seeds: Sequence[int], *, device: str = "cpu", max_bytes: float | None = None
) -> list[list[float]]:
    """Final accuracies of one-layer transformers of every size of a grid, per seed (FR1-FR3).

    One call of ``impl.factual.train_transformers`` on ``FactTask(S, R, D, n_noise, T)`` and
    ``Sizes(dims, heads, widths, d_head)`` for the given seeds, ``steps`` and ``lr``, with the prompts' noise
    drawn from ``noise_seed`` (the first seed of the configuration's whole seed list, fixed in the configuration),
    each distinct size an unpadded batch over the seeds (its default ``pad='size'``; the check's store rows of
    version 2; version 1 rows were trained with ``pad='grid'``): every model trains exactly as if it were trained
    alone, so a seed's accuracies do not depend on the other
    seeds of the call (and the check's fast tier, one call with all seeds, gives the values it gave before the
    store).

    Parameters
    ----------
    config : mapping
        Exactly the keys of ``FACTUAL_TRAIN_KEYS``.
    seeds : sequence of int
        The seeds of this call.
    device : str
        Where the models train ('cpu', 'cuda', 'auto'); not part of the row's identity.
    max_bytes : float or None
        The training's memory budget (how many models train at once); not part of the row's identity (grouping
        changes no value, see ``train_transformers``); None: its default.

    Returns
    -------
    list of list of float
        ``out[j][k]``: the final accuracy of seed ``seeds[j]`` at size ``k`` of the grid.
    """
    from impl.factual import TRAIN_MAX_BYTES, FactTask, Sizes, train_transformers

    _check_keys(config, FACTUAL_TRAIN_KEYS)
    task = FactTask(config["S"], config["R"], config["D"], n_noise=config["n_noise"], T=config["T"])
    sizes = Sizes(dims=config["dims"], heads=config["heads"], widths=config["widths"], d_head=config["d_head"])
    res = train_transformers(
        task,
        sizes,
        tuple(int(s) for s in seeds),
        steps=config["steps"],
        lr=config["lr"],
        noise_seed=config["noise_seed"],
        max_bytes=TRAIN_MAX_BYTES if max_bytes is None else max_bytes,
        device=device,
    )
    return [[float(a) for a in row] for row in res.accuracy]


@task_id("scaling_sim")
def scaling_sim_task(config: Mapping, seeds: Sequence[int], *, device: str = "cpu") -> list[dict]:
    """One of the simulations that the scaling checks share (``checks/scaling_sims.py``), per seed (SL1-SL8).

    Runs ``scaling_sims.SIMULATE[kind](alpha, grid, seeds, device)`` and splits its per-seed arrays into one row
    per seed (``scaling_sims.per_seed_rows``); the grids are not stored (the check rebuilds them, no simulation).
    Every seed draws its own sample and embeddings, so a seed's row does not depend on the other seeds of the call.

    Parameters
    ----------
    config : mapping
        ``kind`` (one of ``scaling_sims.KINDS``), ``alpha`` (the Zipf exponent, > 1) and ``grid`` (the grid of
        that kind at one scale, without its seed counts).
    seeds : sequence of int
        The seeds of this call.
    device : str
        Where the memories are evaluated ('cpu', 'cuda', 'auto'); not part of the row's identity.

    Returns
    -------
    list of dict
        Per seed: the kind's per-seed entries (``scaling_sims.PER_SEED``) as (nested) lists of floats.
    """
    import scaling_sims

    _check_keys(config, ("alpha", "grid", "kind"))
    kind = config["kind"]
    if kind not in scaling_sims.KINDS:
        raise ValueError(f"config['kind'] must be one of {scaling_sims.KINDS}, got {kind!r}")
    res = scaling_sims.SIMULATE[kind](float(config["alpha"]), config["grid"], tuple(int(s) for s in seeds), device)
    return scaling_sims.per_seed_rows(kind, res)


DYNAMICS_TRAIN_KEYS = (
    "N",
    "M",
    "d",
    "T",
    "lrs",
    "alpha",
    "batch",
    "optimizer",
    "betas",
    "layer_norm",
    "norm",
    "init",
    "ties",
    "checkpoints",
)


@task_id("dynamics_train")
def dynamics_train_task(config: Mapping, seeds: Sequence[int], *, device: str = "cpu") -> list[dict]:
    """Population-error curves of ``impl.dynamics.train`` for every rate of a grid, per seed (OD6/OD7's tuned
    comparisons of optimisers).

    One call of ``train(N, M, d, T, lrs, seeds, alpha=, batch=, optimizer=, betas=, layer_norm=, norm=, init=,
    ties=, checkpoints=)``. Every seed draws its own embeddings, initial memory and samples (its streams of
    ``impl.dynamics``) and trains independently, so a seed's curves do not depend on the other seeds of the call.

    Parameters
    ----------
    config : mapping
        Exactly the keys of ``DYNAMICS_TRAIN_KEYS`` (``betas`` a pair, ``norm`` None or a name of ``train``).
    seeds : sequence of int
        The seeds of this call.
    device : str
        Where the training runs ('cpu', 'cuda', 'auto'); not part of the row's identity.

    Returns
    -------
    list of dict
        Per seed: ``checkpoints`` (samples seen at each evaluation) and ``error`` (one list per rate of the
        population error at each checkpoint).
    """
    from impl.dynamics import train

    _check_keys(config, DYNAMICS_TRAIN_KEYS)
    res = train(
        config["N"],
        config["M"],
        config["d"],
        config["T"],
        list(config["lrs"]),
        tuple(int(s) for s in seeds),
        alpha=config["alpha"],
        batch=config["batch"],
        optimizer=config["optimizer"],
        betas=tuple(config["betas"]),
        layer_norm=config["layer_norm"],
        norm=config["norm"],
        init=config["init"],
        ties=config["ties"],
        checkpoints=config["checkpoints"],
        device=device,
    )
    ck = [int(c) for c in res.checkpoints]
    err = res.error.double().cpu().tolist()
    return [{"checkpoints": ck, "error": e} for e in err]
