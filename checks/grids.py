"""Named sweeps of the claim checks: grids too large for one pytest process, run through the sweep store.

Each grid lives here, next to the checks that read it (``checks/test_dynamics.py`` reads the optimiser
grid through ``checks/sweeps.py``); its task function lives with the simulator it calls
(``impl.dynamics:optimizer_grid_task``). Run one without pytest::

    python -m amemory.sweep run optimizer_grid --scale full --store runs.sqlite

``optimizer_grid``: the optimiser grid of the scaling-law talk (001, "Training dynamic(s)"; 000,
"Scaling laws with optimization algorithms"): a learned d x d matrix W (from W = 0) with fixed random
embeddings e_x, u_y ~ N(0, I/d), logits u_y^T W e_x (optionally through a layer norm), cross-entropy,
trained on T samples x ~ Zipf(alpha) on [N], y = f*(x) = x mod M, N = 100, M = 5, alpha = 2, with
SGD or Adam with betas (0, 0) (so Adam is sign descent with a per-entry step ``lr``), layer norm off/on,
d from 10 to 1000, batch size 16 to 1024 (mean gradient over the batch), the population error measured
at T = 1024 ... 102400 samples, over 13 learning rates (half decades from 1e-3 to 1e3), 10 seeds:
196 configurations x 13 rates x 10 seeds = 25,480 runs. Adam's learning rate is the grid value divided
by d (a sign step of size s moves u^T W e by about 2 s d / pi, an SGD step of size s by about s), so
``lr = lr_base / d`` for Adam and ``lr = lr_base`` for SGD; both are in the configuration. A
configuration holds the whole rate grid, which the trainer (``impl.dynamics.train``) runs at once with
all the seeds of a task. The report shows the tuned error: min over ``lr_base`` of the mean over seeds.
Its stable task id is ``optimizer_grid``; runs stored under its former id
(``impl.grids:optimizer_grid_task``) count as stored.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping

from amemory.sweep import NamedSweep

__all__ = [
    "AUTHORS_GRID",
    "OPTIMIZER_GRID",
    "SWEEPS",
    "authors_grid_configs",
    "authors_grid_rows",
    "authors_variant_configs",
    "get_sweep",
    "optimizer_grid_configs",
    "optimizer_grid_rows",
]

LR_BASE = tuple(round(10 ** (k / 2), 6) for k in range(-6, 7))  # 1e-3 ... 1e3 in half decades (13 rates)
T_EVAL = (1024, 2048, 5120, 10240, 20480, 51200, 102400)

OPTIMIZER_GRID = {
    "full": dict(
        optimizer=("sgd", "adam"),
        layer_norm=(False, True),
        d=(10, 20, 50, 100, 200, 500, 1000),
        batch_size=(16, 32, 64, 128, 256, 512, 1024),
        lr_base=LR_BASE,
        T_eval=T_EVAL,
        N=100,
        M=5,
        alpha=2.0,
        seeds=10,
    ),
    # a sub-grid of the full one (same rates, same T_eval, seeds 0-2): its runs are reused by the full sweep
    "fast": dict(
        optimizer=("sgd", "adam"),
        layer_norm=(False, True),
        d=(10, 20, 50, 100),
        batch_size=(16, 64, 256, 1024),
        lr_base=LR_BASE,
        T_eval=T_EVAL,
        N=100,
        M=5,
        alpha=2.0,
        seeds=3,
    ),
}


def optimizer_grid_configs(scale: str) -> list[dict]:
    """Configurations of the optimiser grid: one per (optimizer, layer_norm, d, batch_size).

    Every configuration holds the whole learning-rate grid (``lr_base`` and the rates actually used,
    ``lr = lr_base / d`` for Adam, ``lr_base`` for SGD): the trainer runs all rates (and all seeds) at once.
    """
    if scale not in OPTIMIZER_GRID:
        raise ValueError(f"scale must be one of {tuple(OPTIMIZER_GRID)}, got {scale!r}")
    g = OPTIMIZER_GRID[scale]
    out = []
    for opt, ln, d, b in itertools.product(g["optimizer"], g["layer_norm"], g["d"], g["batch_size"]):
        lrs = [lr / d if opt == "adam" else lr for lr in g["lr_base"]]
        out.append(
            {
                "optimizer": opt,
                "layer_norm": ln,
                "d": d,
                "batch_size": b,
                "lr_base": list(g["lr_base"]),
                "lr": lrs,
                "betas": [0.0, 0.0] if opt == "adam" else None,
                "N": g["N"],
                "M": g["M"],
                "alpha": g["alpha"],
                "T_eval": list(g["T_eval"]),
                "init": "zero",
                "f": "x mod M",
                "embeddings": "gaussian",
                "schedule": "constant",
            }
        )
    return out


def optimizer_grid_rows(config: Mapping, seed: int, result: Mapping) -> list[dict]:
    """One flat row per learning rate: ``{**config, "lr_base": v, "lr": v', "seed", "T", "error"}``."""
    base = {k: v for k, v in config.items() if k not in ("lr_base", "lr")}
    return [
        {**base, "lr_base": lb, "lr": lr, "seed": seed, "T": result["T"], "error": err}
        for lb, lr, err in zip(config["lr_base"], config["lr"], result["error"])
    ]


# ----------------------------------------------------------------------------------------------------
# the authors' grid (facebookresearch/pal, projects/scaling_law/grid_experiments: their model and values)

AUTHORS_LR = (0.1, 1.0, 10.0, 100.0)
AUTHORS_T = (1024, 10240, 102400)
AUTHORS_SEED_BASE = 42  # their seeds are 42..51: with the same draws (impl.authors_grid.draw_run) a seed is theirs
AUTHORS_GRID = {
    # their grid 'finer_dim': 3 models x 2 optimizers x 2 norms x 7 d x 4 batch sizes x 4 rates x 3 T x 10 seeds
    # = 40,320 runs (here: 336 configurations, each holding its 4 rates and 3 T, x 10 seeds)
    "full": dict(
        model=("matrix", "exponential", "learnable"),
        optimizer=("sgd", "adam"),
        norm=("none", "l2"),
        d=(10, 20, 50, 100, 200, 500, 1000),
        batch_size=(16, 64, 256, 1024),
        seeds=10,
    ),
    # a sub-grid of the full one for the fast tier, whose runs the full sweep reuses (same hashes, seeds a prefix)
    "fast": dict(
        model=("matrix", "exponential", "learnable"),
        optimizer=("sgd", "adam"),
        norm=("none", "l2"),
        d=(10, 20, 50, 100),
        batch_size=(16, 256),
        seeds=3,
    ),
}


def authors_grid_configs(scale: str) -> list[dict]:
    """Configurations of the authors' grid: one per (model, optimizer, norm, d, batch_size), all rates and T.

    Their three models (``impl.authors_grid``): ``matrix`` (W learned from N(0, 1/d) entries, E and U fixed with
    N(0, 1/d) entries), ``exponential`` (the ReLU memory: E and U learned, no W), ``learnable`` (W, E and U
    learned); the normalisation before U a plain L2 normalisation z / sqrt(|z|^2 + 1e-6) (``norm='l2'``, their
    ``--layernorm``) or none; argmax ties to the first index; N = 100, M = 5, alpha = 2; SGD at rate lr, Adam with
    betas (0, 0), eps 1e-8 at rate lr / d for W and lr / sqrt(d) for E and U; lr in {0.1, 1, 10, 100}; error after
    T in {1024, 10240, 102400} samples; seeds 42, 43, ... (theirs: 42..51).

    Parameters
    ----------
    scale : str
        'fast' (a sub-grid for a CPU) or 'full' (their values).

    Returns
    -------
    list of dict
    """
    if scale not in AUTHORS_GRID:
        raise ValueError(f"scale must be one of {tuple(AUTHORS_GRID)}, got {scale!r}")
    g = AUTHORS_GRID[scale]
    # cheapest first (by d, then larger batches: fewer steps), so that a run stopped early holds whole small-d grids
    # of every model; the order does not change the configurations' hashes
    return [
        _authors_config(model=model, optimizer=opt, norm=norm, d=d, batch_size=b)
        for d, b, model, opt, norm in itertools.product(
            g["d"], sorted(g["batch_size"], reverse=True), g["model"], g["optimizer"], g["norm"]
        )
    ]


def _authors_config(**kw) -> dict:
    """One configuration of the authors' grid: ``kw`` (model, optimizer, norm, d, batch_size, ...) and their fixed
    values (the four rates, the three T, N = 100, M = 5, alpha = 2)."""
    return {**kw, "lr_base": list(AUTHORS_LR), "N": 100, "M": 5, "alpha": 2.0, "T_eval": list(AUTHORS_T)}


def authors_grid_rows(config: Mapping, seed: int, result: Mapping) -> list[dict]:
    """One flat row per rate: ``{**config, "lr_base": v, "seed", "T", "error"}`` (``error`` a list over T)."""
    base = {k: v for k, v in config.items() if k != "lr_base"}
    return [
        {**base, "lr_base": lb, "seed": seed, "T": result["T"], "error": err}
        for lb, err in zip(config["lr_base"], result["error"])
    ]


# the suite's variants of the authors' 'matrix' model, on the authors' draws (paired with their runs by seed): does a
# verdict depend on the start of W (zero instead of N(0, 1/d)) or on the kind of normalisation (the suite's centred
# LayerNorm instead of their L2 normalisation)?
VARIANTS = (("zero", "none"), ("zero", "l2"), ("zero", "layernorm"), ("gaussian", "layernorm"))
VARIANT_GRID = {
    "full": dict(optimizer=("sgd", "adam"), d=AUTHORS_GRID["full"]["d"], batch_size=(16, 64, 256, 1024), seeds=10),
    "fast": dict(optimizer=("sgd", "adam"), d=AUTHORS_GRID["fast"]["d"], batch_size=(16, 256), seeds=3),
}


def authors_variant_configs(scale: str) -> list[dict]:
    """Configurations of the variants of the authors' 'matrix' model: (init, norm) in ``VARIANTS``, their grid.

    Parameters
    ----------
    scale : str
        'fast' or 'full'.

    Returns
    -------
    list of dict
    """
    if scale not in VARIANT_GRID:
        raise ValueError(f"scale must be one of {tuple(VARIANT_GRID)}, got {scale!r}")
    g = VARIANT_GRID[scale]
    return [
        _authors_config(model="matrix", init=init, optimizer=opt, norm=norm, d=d, batch_size=b)
        for d, b, (init, norm), opt in itertools.product(
            g["d"], sorted(g["batch_size"], reverse=True), VARIANTS, g["optimizer"]
        )
    ]


SWEEPS: dict[str, NamedSweep] = {
    "optimizer_grid": NamedSweep(
        name="optimizer_grid",
        task="optimizer_grid",
        fn="impl.dynamics:optimizer_grid_task",
        aliases=("impl.grids:optimizer_grid_task",),  # its id before the task moved out of impl/grids.py
        version="optimizer-grid-2 (impl.dynamics.train, coefficient layout)",
        build=optimizer_grid_configs,
        n_seeds={k: v["seeds"] for k, v in OPTIMIZER_GRID.items()},
        explode=optimizer_grid_rows,
        description="SGD vs Adam (betas (0,0), lr/d), layer norm off/on, d 10..1000, batch 16..1024, T 1024..102400, "
        "N=100, M=5, alpha=2 (001 'Training dynamic'; 000 'Scaling laws with optimization algorithms'); the suite's "
        "variant: W from 0, centred LayerNorm, ties count as errors, 13 rates",
    ),
    "authors_grid": NamedSweep(
        name="authors_grid",
        task="authors_grid",
        fn="impl.authors_grid:authors_grid_task",
        version="authors-grid-2 (impl.authors_grid: three models, the authors' draws)",
        build=authors_grid_configs,
        n_seeds={k: v["seeds"] for k, v in AUTHORS_GRID.items()},
        seed_base=AUTHORS_SEED_BASE,
        explode=authors_grid_rows,
        description="the authors' grid 'finer_dim' (facebookresearch/pal): models matrix/exponential/learnable, SGD vs "
        "Adam (betas (0,0), lr/d for W, lr/sqrt(d) for E and U), L2 normalisation off/on, d 10..1000, batch 16..1024, "
        "lr 0.1..100, T 1024/10240/102400, N=100, M=5, alpha=2, seeds 42..51 (40,320 runs)",
    ),
    "authors_grid_variants": NamedSweep(
        name="authors_grid_variants",
        task="authors_grid_variants",
        fn="impl.authors_grid:authors_grid_task",
        version="authors-grid-2 (impl.authors_grid: three models, the authors' draws)",
        build=authors_variant_configs,
        n_seeds={k: v["seeds"] for k, v in VARIANT_GRID.items()},
        seed_base=AUTHORS_SEED_BASE,
        explode=authors_grid_rows,
        description="the suite's variants of the authors' 'matrix' model on their draws and grid: W from 0 (norm none, "
        "L2 or centred LayerNorm) and W from N(0,1/d) with the centred LayerNorm; SGD vs Adam, d 10..1000, batch "
        "16..1024, lr 0.1..100, T 1024/10240/102400, seeds 42..51",
    ),
}


def get_sweep(name: str) -> NamedSweep:
    """The named sweep ``name`` (one of ``SWEEPS``)."""
    if name not in SWEEPS:
        raise ValueError(f"name must be one of {tuple(SWEEPS)}, got {name!r}")
    return SWEEPS[name]
