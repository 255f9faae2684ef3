"""The three models of the authors' grid (impl/authors_grid.py) against a per-step autograd loop, and their inputs."""

import itertools
import math

import pytest
import torch

import impl.authors_grid as ag

COMBOS = [(*c, "gaussian") for c in itertools.product(ag.MODELS, ag.GRID_OPTIMIZERS, ag.GRID_NORMS)] + [
    ("matrix", o, n, "zero") for o in ag.GRID_OPTIMIZERS for n in ag.GRID_NORMS
]


def _max_diff(r, refs):
    out = 0.0
    for (i, j), ref in refs.items():
        for k in ("W", "E", "UT"):
            if k in r.params:
                out = max(out, (r.params[k][i, j] - ref[k]).abs().max().item())
        if "H" in r.params:  # SGD on 'matrix' runs in the token space H = E W
            out = max(out, (r.params["H"][i, j] - ref["E"] @ ref["W"]).abs().max().item())
    return out


@pytest.mark.parametrize("pair_bytes", [ag._PAIR_BYTES, 0], ids=["batched", "per-pair"])
@pytest.mark.parametrize("model,optimizer,norm,init", COMBOS)
def test_matches_autograd(model, optimizer, norm, init, pair_bytes, monkeypatch):
    """Every (model, optimizer, norm) path, in both layouts of the W step, equals torch.optim on autograd gradients.

    float64, two seeds x two rates, batches with repeated tokens (B = 8 of N = 12 Zipf tokens). Tolerance 1e-8:
    the Adam step g / (|g| + 1e-8) has slope up to 1e8 at g ~ 0, so a rounding difference of 1e-17 in a tiny
    gradient entry can move a parameter by ~1e-9; everything else agrees to ~1e-12.
    """
    monkeypatch.setattr(ag, "_PAIR_BYTES", pair_bytes)
    N, M, d, T, B = 12, 3, 6, 96, 8
    lrs, seeds = [0.3, 2.0], [42, 43]
    r = ag.train_grid_model(
        model,
        N,
        M,
        d,
        T,
        lrs,
        seeds,
        batch=B,
        optimizer=optimizer,
        norm=norm,
        init=init,
        checkpoints=[48, 96],
        dtype=torch.float64,
    )
    refs = {
        (i, j): ag.reference_grid_autograd(
            model, N, M, d, T, lr, s, batch=B, optimizer=optimizer, norm=norm, init=init, dtype=torch.float64
        )
        for i, s in enumerate(seeds)
        for j, lr in enumerate(lrs)
    }
    assert _max_diff(r, refs) < 1e-8
    for (i, j), ref in refs.items():
        assert r.error[i, j, -1].item() == pytest.approx(ref["error"], abs=1e-12)
    assert r.finite.all()
    # negative control: a different rate moves the parameters measurably
    wrong = {
        (0, 0): ag.reference_grid_autograd(
            model, N, M, d, T, 0.3 * 1.1, 42, batch=B, optimizer=optimizer, norm=norm, init=init, dtype=torch.float64
        )
    }
    assert _max_diff(r, wrong) > 1e-6


def test_float32_default_matches_autograd_loosely():
    """The default float32 trainer agrees with float32 autograd to float32 rounding over a short run."""
    r = ag.train_grid_model("learnable", 20, 5, 16, 160, [1.0], [42], batch=16, optimizer="adam", norm="l2")
    ref = ag.reference_grid_autograd("learnable", 20, 5, 16, 160, 1.0, 42, batch=16, optimizer="adam", norm="l2")
    assert r.params["W"].dtype == torch.float32
    assert (r.params["W"][0, 0] - ref["W"]).abs().max().item() < 1e-3


def test_checkpoints_equal_separate_runs():
    """The error after T1 samples of a longer run equals that of a run stopped at T1 (the same draws, constant rate)."""
    kw = dict(batch=8, optimizer="sgd", norm="none")
    long = ag.train_grid_model("exponential", 10, 5, 8, 160, [1.0, 10.0], [42], checkpoints=[80, 160], **kw)
    dr = [ag.draw_run("exponential", 10, 5, 8, 160, 42)]
    short = ag.train_grid_model("exponential", 10, 5, 8, 80, [1.0, 10.0], [42], draws=dr, **kw)
    assert torch.equal(long.error[..., 0], short.error[..., 0])


def test_draws_in_the_authors_order():
    """One generator seeded with the seed: W0, E, U^T (each randn / sqrt(d)), then multinomial tokens."""
    N, M, d, T, seed = 7, 3, 5, 50, 44
    dr = ag.draw_run("matrix", N, M, d, T, seed)
    g = torch.Generator().manual_seed(seed)
    W0 = torch.randn(d, d, generator=g) / math.sqrt(d)
    E = torch.randn(N, d, generator=g) / math.sqrt(d)
    UT = torch.randn(d, M, generator=g) / math.sqrt(d)
    p = (torch.arange(N, dtype=torch.float32) + 1.0) ** -2.0
    tok = torch.multinomial(p / p.sum(), T, replacement=True, generator=g)
    assert torch.equal(dr["W0"], W0) and torch.equal(dr["E"], E) and torch.equal(dr["UT"], UT)
    assert torch.equal(dr["tokens"], tok)
    ex = ag.draw_run("exponential", N, M, d, T, seed)  # no W: E is the first draw
    g = torch.Generator().manual_seed(seed)
    assert ex["W0"] is None and torch.equal(ex["E"], torch.randn(N, d, generator=g) / math.sqrt(d))


def test_rates():
    assert ag.grid_rates("matrix", "sgd", 2.0, 100) == {"W": 2.0}
    assert ag.grid_rates("matrix", "adam", 2.0, 100) == {"W": 0.02}
    assert ag.grid_rates("exponential", "adam", 2.0, 100) == {"E": 0.2, "UT": 0.2}
    assert ag.grid_rates("learnable", "adam", 2.0, 100) == {"W": 0.02, "E": 0.2, "UT": 0.2}


def test_task_rows():
    cfg = dict(
        model="matrix",
        optimizer="adam",
        norm="l2",
        N=20,
        M=5,
        d=8,
        alpha=2.0,
        batch_size=16,
        lr_base=[0.1, 1.0],
        T_eval=[32, 64],
    )
    out = ag.authors_grid_task(cfg, [42, 43])
    assert len(out) == 2 and out[0]["T"] == [32, 64] and len(out[0]["error"]) == 2
    assert all(0.0 <= e <= 1.0 for res in out for row in res["error"] for e in row)


def test_divergence_is_marked():
    """A huge SGD rate without normalisation overflows: the run is marked not finite and its error counts as 1."""
    r = ag.train_grid_model("learnable", 10, 5, 8, 64, [1e12], [42], batch=16, optimizer="sgd", norm="none")
    assert not r.finite.all()
    assert r.error[~r.finite].eq(1.0).all()


@pytest.mark.parametrize(
    "kw,name",
    [
        (dict(model="mlp"), "model"),
        (dict(optimizer="sign"), "optimizer"),
        (dict(norm="batchnorm"), "norm"),
        (dict(init="ones"), "init"),
        (dict(d=0), "d"),
        (dict(M=1), "M"),
        (dict(T=100), "T"),
        (dict(batch=0), "batch"),
        (dict(lrs=[0.0]), "lrs"),
        (dict(lrs=[float("nan")]), "lrs"),
        (dict(seeds=[1.5]), "seeds"),
        (dict(checkpoints=[8]), "checkpoints"),
        (dict(alpha=float("inf")), "alpha"),
        (dict(dtype=torch.int64), "dtype"),
    ],
)
def test_bad_arguments(kw, name):
    args = dict(model="matrix", N=10, M=5, d=8, T=64, lrs=[1.0], seeds=[42], batch=16)
    args.update(kw)
    with pytest.raises(ValueError, match=name):
        ag.train_grid_model(**args)
