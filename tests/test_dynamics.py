"""Unit tests of theory.dynamics and impl.dynamics: closed forms, trainers against autograd, batching, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as hst

from impl import dynamics as dyn
from impl.sampling import sample_tokens, zipf_probs
from theory import dynamics as th

F64 = torch.float64


# ---------------------------------------------------------------- theory
def test_F_iterates_f_exactly_and_is_vectorised():
    x, traj = 0.0, [0.0]
    for _ in range(50):
        x = float(th.f_step(x, 0.7, 4))
        traj.append(x)
    assert np.allclose(th.F(np.arange(51), 0.7, 4), traj, rtol=0, atol=1e-13)
    n = np.array([[0, 3], [10, 50]])
    assert th.F(n, 0.7, 4).shape == (2, 2)
    assert th.predicted_q(n, 0.7, 4).shape == (2, 2)


@pytest.mark.parametrize("gamma", [1e-3, 1.0, 1e3])
def test_F_stable_for_large_gamma_and_n(gamma):
    n = np.array([0, 1, 10, 10**4, 2 * 10**4, 2 * 10**4 + 1, 10**6, 10**7])
    v = th.F(n, gamma, 5)
    assert np.all(np.isfinite(v)) and np.all(np.diff(v) >= 0)
    if gamma <= 1:  # the logarithmic regime: F(n) / log(gamma M n) -> 1 (the ODE's x + e^x/M = gamma n)
        assert abs(v[-1] - np.log(gamma * 5 * 1e7)) < 0.05 * v[-1]
    else:  # one step overshoots to gamma M/(M+1) >> log(gamma M n): later steps ~ gamma M e^-833 vanish
        assert np.allclose(v[1:], gamma * 5 / 6, rtol=1e-12)


def test_F_continuation_matches_iteration_across_the_switch():
    """The ODE continuation after EXACT_STEPS agrees with plain iteration (checked 5000 steps beyond) within
    its documented bound, the sum of the squared remaining steps (here ~ 8e-6 on a value of 12.4)."""
    K = th.EXACT_STEPS
    x = float(th.F([K], 2.0, 5)[0])
    bound = 0.0
    for _ in range(5000):
        x_new = float(th.f_step(x, 2.0, 5))
        bound += (x_new - x) ** 2
        x = x_new
    assert abs(th.F([K + 5000], 2.0, 5)[0] - x) < bound


def test_exact_margin_is_seed_F_with_shifted_constants():
    n = np.arange(200)
    a = th.margin_exact(n, 1.3, 6)
    b = th.F(n, 1.3 * 6 / 5, 5)  # m(n; gamma, M) = F(n; gamma M/(M-1), M-1)
    assert np.allclose(a, b, atol=1e-12)


@given(gamma=hst.floats(0.01, 4.0), M=hst.integers(2, 20))
def test_sandwich_contains_exact_margin(gamma, M):
    n = np.arange(500)
    lo, hi = th.sandwich_bounds(n, gamma, M)
    m = th.margin_exact(n, gamma, M)
    assert np.all(lo <= m + 1e-12) and np.all(m <= hi + 1e-12)


def test_regimes():
    n = np.array([1.0, 2.0])
    assert np.allclose(th.F_linear(n, 1e-3, 5), n * 1e-3 * 5 / 6)
    assert np.allclose(th.F([1, 2], 1e-3, 5), th.F_linear(n, 1e-3, 5), rtol=1e-3)
    assert th.F_log([1e6], 1.0, 5)[0] == pytest.approx(np.log(5e6))


def test_batch_margin_reduces_to_batch_one_recursion():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 7, 300)
    bc = np.eye(7)[x]  # batch 1: one token per step
    m = th.batch_margin(bc, 0.8, 4)
    assert np.allclose(m, th.margin_exact(bc.sum(0), 0.8, 4), atol=1e-12)


def test_fitted_rho_recovers_power():
    p = np.geomspace(1e-4, 0.3, 40)
    assert th.fitted_rho(3 * p**0.4, p) == pytest.approx(0.4)
    mask = np.arange(40) < 20
    assert th.fitted_rho(3 * p**0.4, p, mask) == pytest.approx(0.4)


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: th.F([1], -1.0, 5), "gamma"),
        (lambda: th.F([1], 1.0, 1), "M"),
        (lambda: th.F([-1], 1.0, 5), "n"),
        (lambda: th.F([1.5], 1.0, 5), "n"),
        (lambda: th.f_step(0.0, float("nan"), 5), "gamma"),
        (lambda: th.sandwich_bounds([1], 5.0, 5), "gamma"),
        (lambda: th.F_log([1], 0.0, 5), "gamma"),
        (lambda: th.F_linear([-1], 1.0, 5), "n"),
        (lambda: th.predicted_q([[-1]], 1.0, 5), "counts"),
        (lambda: th.batch_margin(np.zeros((3, 2)), 1.0, 5), "batch_counts"),
        (lambda: th.batch_margin(np.ones(3), 1.0, 5), "batch_counts"),
        (lambda: th.fitted_rho([1.0], [0.5]), "two tokens"),
        (lambda: th.fitted_rho([[1.0]], [0.5]), "q"),
    ],
)
def test_theory_errors(call, name):
    with pytest.raises(ValueError, match=name):
        call()


# ---------------------------------------------------------------- impl: shapes, determinism, batching
def test_train_shapes_dtypes_determinism():
    r = dyn.train(20, 3, 8, 64, [0.5, 2.0], (0, 1, 2), checkpoints=4)
    assert r.W.shape == (3, 2, 8, 8) and r.W.dtype == torch.float32
    assert r.error.shape == (3, 2, r.checkpoints.size) and r.checkpoints[-1] == 64
    assert r.margins.shape == (3, 2, 20) and r.counts.shape == (3, 20) and r.finite.all()
    assert torch.all(r.counts.sum(1) == 64)
    r2 = dyn.train(20, 3, 8, 64, [0.5, 2.0], (0, 1, 2), checkpoints=4)
    assert torch.equal(r.W, r2.W) and torch.equal(r.error, r2.error)
    r64 = dyn.train(20, 3, 8, 64, [0.5], (0,), dtype="float64")
    assert r64.W.dtype == F64


@pytest.mark.parametrize(
    "kw",
    [
        dict(),
        dict(batch=4),
        dict(optimizer="adam", batch=2),
        dict(optimizer="sign"),
        dict(optimizer="normalized", batch=4),
        dict(layer_norm=True, optimizer="adam"),
        dict(schedule="cosine"),
        dict(learn_embeddings=True),
        dict(init="gaussian"),
        dict(init="gaussian", norm="l2", optimizer="adam", ties="first"),
    ],
)
def test_batched_equals_looped(kw):
    """All seeds and rates at once == each (seed, rate) alone."""
    lrs, seeds = [0.05, 0.5], (3, 4)
    a = dyn.train(16, 3, 8, 32, lrs, seeds, dtype="float64", checkpoints=3, **kw)
    for i, s in enumerate(seeds):
        for j, lr in enumerate(lrs):
            b = dyn.train(16, 3, 8, 32, [lr], (s,), dtype="float64", checkpoints=3, **kw)
            assert torch.allclose(a.W[i, j], b.W[0, 0], atol=1e-12)
            assert torch.allclose(a.error[i, j], b.error[0, 0], atol=1e-12)


@pytest.mark.parametrize(
    "kw",
    [
        dict(),
        dict(batch=4),
        dict(optimizer="adam"),
        dict(optimizer="adam", betas=(0.0, 0.0)),
        dict(optimizer="adam", layer_norm=True, batch=2),
        dict(layer_norm=True),
        dict(learn_embeddings=True, batch=2),
        dict(embeddings="orthonormal"),
    ],
)
def test_train_equals_autograd_reference(kw):
    """The hand-written gradients (and the SGD coefficient path) == torch.optim with autograd, float64."""
    lr = 0.3 if kw.get("optimizer") != "adam" else 0.01
    r = dyn.train(12, 3, 16, 40, [lr], (7,), dtype="float64", checkpoints=1, **kw)
    ref = dyn.reference_train_autograd(12, 3, 16, 40, lr, 7, dtype="float64", **kw)
    assert torch.allclose(r.W[0, 0], ref, atol=1e-10)


AUTHORS_KW = [
    dict(init="gaussian"),
    dict(init="gaussian", batch=4),
    dict(init="gaussian", optimizer="adam", betas=(0.0, 0.0)),
    dict(norm="l2"),
    dict(norm="l2", batch=4),
    dict(norm="l2", optimizer="adam", betas=(0.0, 0.0)),
    dict(init="gaussian", norm="l2"),
    dict(init="gaussian", norm="l2", optimizer="adam", betas=(0.0, 0.0), batch=2),
    dict(init="gaussian", norm="l2", optimizer="adam"),
    dict(init="gaussian", layer_norm=True, optimizer="adam", betas=(0.0, 0.0)),
    dict(init="gaussian", norm="layernorm", batch=2),
    dict(init="gaussian", norm="l2", learn_embeddings=True, batch=2),
    dict(init="gaussian", embeddings="orthonormal"),
]


@pytest.mark.parametrize("kw", AUTHORS_KW)
def test_authors_options_equal_autograd_reference(kw):
    """The new paths (random N(0, 1/d) start, L2 normalisation z = h / sqrt(sum h^2 + 1e-6)) == torch.optim with
    autograd at the same seed, float64; the largest |W difference| is ~1e-15 (bound 1e-10, the bound of the
    default paths' test above)."""
    lr = 0.3 if kw.get("optimizer") != "adam" else 0.01
    r = dyn.train(12, 3, 16, 40, [lr], (7,), dtype="float64", checkpoints=1, **kw)
    ref = dyn.reference_train_autograd(12, 3, 16, 40, lr, 7, dtype="float64", **kw)
    assert float((r.W[0, 0] - ref).abs().max()) < 1e-10


def test_gaussian_init_is_the_seeded_n01d_matrix():
    """init='gaussian': W0 = random_matrix(d, seed, stream 'w') (variance 1/d), the same for every rate, one per
    seed; a vanishing rate leaves W at W0."""
    from impl.embeddings import Embedding, random_matrix

    d = 64
    W0 = random_matrix(d, (0, 1), stream="w", dtype=F64)
    assert abs(float(W0.var()) * d - 1.0) < 0.05 and abs(float(W0.mean())) < 0.01
    assert not torch.equal(W0[0], W0[1])
    assert not torch.equal(W0[0], Embedding(d, d, (0,), stream="e").full(dtype=F64)[0])
    r = dyn.train(20, 3, d, 8, [1e-30, 1e-29], (0, 1), init="gaussian", dtype="float64", checkpoints=1)
    assert torch.allclose(r.W, W0.unsqueeze(1).expand(2, 2, d, d), rtol=0, atol=1e-25)
    assert r.coefficients is None  # the explicit loop, not the coefficient path


def test_norm_layernorm_is_layer_norm_and_defaults_unchanged():
    """norm='layernorm' is layer_norm=True, norm='none' and init='zero', ties='error' are the defaults, bit for
    bit (both trainer paths)."""
    kw = dict(batch=2, checkpoints=3)
    for extra in (dict(), dict(optimizer="adam")):
        a = dyn.train(16, 3, 8, 32, [0.1, 1.0], (0, 1), layer_norm=True, **kw, **extra)
        b = dyn.train(16, 3, 8, 32, [0.1, 1.0], (0, 1), norm="layernorm", **kw, **extra)
        assert torch.equal(a.W, b.W) and torch.equal(a.error, b.error)
        c = dyn.train(16, 3, 8, 32, [0.1, 1.0], (0, 1), **kw, **extra)
        e = dyn.train(16, 3, 8, 32, [0.1, 1.0], (0, 1), norm="none", init="zero", ties="error", **kw, **extra)
        assert torch.equal(c.W, e.W) and torch.equal(c.error, e.error) and torch.equal(c.margins, e.margins)
    ref = dyn.reference_train_autograd(12, 3, 16, 40, 0.3, 7, layer_norm=True, dtype="float64")
    assert torch.equal(ref, dyn.reference_train_autograd(12, 3, 16, 40, 0.3, 7, norm="layernorm", dtype="float64"))


def test_l2_norm_has_unit_norm_and_is_scale_invariant():
    """norm='l2': z = h / sqrt(||h||^2 + 1e-6) has norm ~1, so the error of W and of 10 W agree."""
    E = torch.randn(1, 30, 8, dtype=F64, generator=torch.Generator().manual_seed(0))
    U = torch.randn(1, 4, 8, dtype=F64, generator=torch.Generator().manual_seed(1))
    W = torch.randn(1, 1, 8, 8, dtype=F64, generator=torch.Generator().manual_seed(2))
    p, f = torch.full((30,), 1 / 30, dtype=F64), torch.arange(30) % 4
    e1, m1 = dyn.population_error(W, E, U, p, f, norm="l2")
    e2, m2 = dyn.population_error(10 * W, E, U, p, f, norm="l2")
    assert torch.equal(e1, e2) and torch.allclose(m1, m2, atol=1e-9)
    _e0, m0 = dyn.population_error(W, E, U, p, f)
    h = E[0] @ W[0, 0].T
    z = h / torch.sqrt((h**2).sum(-1, keepdim=True) + 1e-6)
    assert torch.allclose(m1[0, 0] / m0[0, 0], (z / h)[:, 0], atol=1e-12)  # margins scale by 1 / ||h||


def test_ties_first_is_argmax():
    """ties='first' counts x right iff argmax (first index on ties, torch.argmax) is f*(x); 'error' counts a tie
    as an error. One-hot embeddings make the logits of unseen tokens exactly 0 (an M-way tie)."""
    N, M, d = 12, 3, 12
    E, U = torch.eye(N, d, dtype=F64), torch.eye(M, d, dtype=F64)
    p, f = zipf_probs(N, 1.0, dtype=F64), torch.arange(N) % M
    tokens = torch.tensor([[0, 1, 2, 4, 5, 7, 0, 1]])  # 3, 6, 8, 9, 10, 11 unseen; 3, 6, 9 have f* = 0
    kw = dict(alpha=1.0, embeddings=(E, U), tokens=tokens, dtype="float64", checkpoints=[4, 8])
    for extra in (dict(), dict(optimizer="adam", init="zero"), dict(norm="l2")):
        a = dyn.train(N, M, d, 8, [0.5], (0,), ties="error", **kw, **extra)
        b = dyn.train(N, M, d, 8, [0.5], (0,), ties="first", **kw, **extra)
        assert torch.equal(a.margins, b.margins)
        logits = (E @ a.W[0, 0].T) @ U.T
        if extra.get("norm") == "l2":
            h = E @ a.W[0, 0].T
            logits = (h / torch.sqrt((h**2).sum(-1, keepdim=True) + 1e-6)) @ U.T
        wrong = logits.argmax(-1) != f
        assert float(b.error[0, 0, -1]) == pytest.approx(float(p[wrong].sum()), abs=1e-15)
        tie = a.margins[0, 0] == 0
        assert int(tie.sum()) == 6
        assert float(a.error[0, 0, -1]) == pytest.approx(float(p[wrong | tie].sum()), abs=1e-15)
        assert float(a.error[0, 0, -1] - b.error[0, 0, -1]) == pytest.approx(float(p[[3, 6, 9]].sum()), abs=1e-15)
    W = torch.zeros(1, 1, d, d, dtype=F64)  # every logit 0: first index wins
    assert float(dyn.population_error(W, E[None], U[None], p, f)[0]) == pytest.approx(1.0)
    e = dyn.population_error(W, E[None], U[None], p, f, ties="first")[0]
    assert float(e) == pytest.approx(1.0 - float(p[f == 0].sum()))
    nan = torch.full_like(W, float("nan"))
    assert float(dyn.population_error(nan, E[None], U[None], p, f, ties="first")[0]) == pytest.approx(1.0)


def test_optimizer_grid_task_reads_the_authors_options():
    cfg = dict(N=20, M=3, d=8, alpha=1.5, lr=[0.1, 1.0], lr_base=[0.1, 1.0], T_eval=[8, 32], batch_size=4)
    cfg.update(optimizer="adam", betas=[0.0, 0.0], layer_norm=False, embeddings="gaussian", schedule="constant")
    base = dyn.optimizer_grid_task(cfg, (1,))
    assert base == dyn.optimizer_grid_task({**cfg, "init": "zero", "norm": None, "ties": "error"}, (1,))
    rows = dyn.optimizer_grid_task({**cfg, "init": "gaussian", "norm": "l2", "ties": "first"}, (1,))
    kw = dict(alpha=1.5, batch=4, optimizer="adam", betas=(0.0, 0.0), checkpoints=[8, 32])
    r = dyn.train(20, 3, 8, 32, [0.1, 1.0], (1,), init="gaussian", norm="l2", ties="first", **kw)
    assert rows[0]["error"] == [[float(v) for v in r.error[0, j]] for j in range(2)]


def test_explicit_checkpoints_equal_separate_runs():
    r = dyn.train(20, 3, 8, 96, [1.0, 10.0], (0, 1), batch=4, checkpoints=[16, 48, 96])
    assert list(r.checkpoints) == [16, 48, 96]
    tokens = sample_tokens(zipf_probs(20, 2.0), 96, (0, 1))
    for k, T in enumerate((16, 48, 96)):
        s = dyn.train(20, 3, 8, T, [1.0, 10.0], (0, 1), batch=4, checkpoints=1, tokens=tokens[:, :T])
        assert torch.equal(s.error[..., 0], r.error[..., k])


def test_diverged_runs_count_as_errors():
    """A rate so large that W overflows: finite is False and every token counts as wrong (NaN margins)."""
    r = dyn.train(10, 3, 4, 64, [1e38], (0,), optimizer="sign", layer_norm=False, checkpoints=2)
    assert not bool(r.finite[0, 0, -1])
    assert float(r.error[0, 0, -1]) == pytest.approx(1.0)


def test_population_error_nan_is_error():
    W = torch.full((1, 1, 4, 4), float("nan"))
    E, U = torch.eye(4)[None], torch.eye(4)[:2][None]
    p = torch.full((4,), 0.25)
    err, _m = dyn.population_error(W, E, U, p, torch.arange(4) % 2)
    assert float(err) == pytest.approx(1.0)


def test_relu_model_stores_more_than_linear_at_small_d():
    """The ReLU-thresholded memory of 001 (kernel ReLU(e_x'^T e_x - eta)) trained by SGD recalls more than
    the linear memory of the same d."""
    kw = dict(alpha=0.0, checkpoints=1)
    lin = dyn.train(200, 2, 16, 4000, [10.0], (0, 1), **kw)
    relu = dyn.train(200, 2, 16, 4000, [10.0], (0, 1), model="relu", relu_threshold=0.5, **kw)
    assert float(relu.error.mean()) < 0.5 * float(lin.error.mean())


def test_schedule_factor():
    assert dyn.schedule_factor("constant", 5, 10) == 1.0
    assert dyn.schedule_factor("cosine", 0, 10) == 1.0 and dyn.schedule_factor("cosine", 5, 10) == pytest.approx(0.5)
    assert dyn.schedule_factor("linear", 5, 10) == pytest.approx(0.5)
    assert dyn.schedule_factor("inv_sqrt", 3, 10) == pytest.approx(0.5)


@pytest.mark.parametrize(
    "kw, name",
    [
        (dict(N=0), "N"),
        (dict(M=1), "M"),
        (dict(d=0), "d"),
        (dict(T=0), "T"),
        (dict(batch=0), "batch"),
        (dict(T=10, batch=3), "T must be a multiple"),
        (dict(lrs=[]), "lrs"),
        (dict(lrs=[-1.0]), "lrs"),
        (dict(lrs=[float("inf")]), "lrs"),
        (dict(seeds=()), "seeds"),
        (dict(optimizer="rmsprop"), "optimizer"),
        (dict(schedule="step"), "schedule"),
        (dict(embeddings="uniform"), "embeddings"),
        (dict(alpha=-1.0), "alpha"),
        (dict(eps=-1.0), "eps"),
        (dict(betas=(1.0, 0.9)), "betas"),
        (dict(checkpoints=0), "checkpoints"),
        (dict(checkpoints=[5]), "checkpoints"),
        (dict(checkpoints=[8, 4]), "checkpoints"),
        (dict(checkpoints=[64]), "checkpoints"),
        (dict(tokens=torch.zeros(1, 5, dtype=torch.long)), "tokens"),
        (dict(model="mlp"), "model"),
        (dict(model="relu", optimizer="adam"), "model"),
        (dict(model="relu", relu_threshold=1.5), "relu_threshold"),
        (dict(learn_embeddings=True, optimizer="sign"), "learn_embeddings"),
        (dict(embeddings="orthonormal", d=4), "orthonormal"),
        (dict(init="random"), "init"),
        (dict(init=None), "init"),
        (dict(norm="rms"), "norm"),
        (dict(norm=True), "norm"),
        (dict(layer_norm=True, norm="l2"), "norm"),
        (dict(ties="last"), "ties"),
        (dict(ties=None), "ties"),
        (dict(model="relu", init="gaussian"), "model"),
        (dict(model="relu", norm="l2"), "model"),
    ],
)
def test_train_errors(kw, name):
    args = dict(N=8, M=3, d=8, T=32, lrs=[1.0], seeds=(0,), batch=4)
    args.update(kw)
    pos = [args.pop(k) for k in ("N", "M", "d", "T", "lrs", "seeds")]
    with pytest.raises(ValueError, match=name):
        dyn.train(*pos, **args)


@pytest.mark.parametrize(
    "kw, name",
    [(dict(init="ones"), "init"), (dict(norm="batchnorm"), "norm"), (dict(layer_norm=True, norm="l2"), "norm")],
)
def test_reference_and_population_error_errors(kw, name):
    with pytest.raises(ValueError, match=name):
        dyn.reference_train_autograd(8, 3, 8, 8, 0.1, 0, **kw)
    W, E, U = torch.zeros(1, 1, 4, 4), torch.eye(4)[None], torch.eye(4)[:2][None]
    if "init" not in kw:
        with pytest.raises(ValueError, match=name):
            dyn.population_error(W, E, U, torch.full((4,), 0.25), torch.arange(4) % 2, **kw)
    with pytest.raises(ValueError, match="ties"):
        dyn.population_error(W, E, U, torch.full((4,), 0.25), torch.arange(4) % 2, ties="last")


def test_schedule_errors():
    with pytest.raises(ValueError, match="schedule"):
        dyn.schedule_factor("step", 1, 10)


def test_callable_schedule_and_user_embeddings():
    """A schedule given as a callable (step, steps) and embeddings given as arrays reproduce the built-in ones
    exactly; bad callables and arrays raise ValueError naming the parameter."""
    import math

    from impl.embeddings import Embedding

    kw = dict(batch=4, checkpoints=[40, 80])
    ref = dyn.train(20, 3, 16, 80, [0.5, 2.0], (1, 2), schedule="cosine", **kw)
    mine = dyn.train(
        20, 3, 16, 80, [0.5, 2.0], (1, 2), schedule=lambda t, n: 0.5 * (1 + math.cos(math.pi * t / n)), **kw
    )
    assert torch.equal(ref.error, mine.error)
    E = Embedding(20, 16, (1, 2), stream="e").full(dtype=torch.float32)
    U = Embedding(3, 16, (1, 2), stream="u").full(dtype=torch.float32)
    own = dyn.train(20, 3, 16, 80, [0.5, 2.0], (1, 2), schedule="cosine", embeddings=(E, U), **kw)
    assert torch.allclose(ref.error, own.error, atol=1e-12)
    shared = dyn.train(20, 3, 16, 80, [1.0], (1, 2), embeddings=(E[0].numpy(), U[0].numpy()), **kw)
    assert shared.error.shape == (2, 1, 2)
    step = dyn.train(20, 3, 16, 80, [1.0], (1,), schedule=lambda t, n: 0.1 ** (t // (n // 2)), **kw)
    assert step.error.shape == (1, 1, 2)
    assert dyn.schedule_factor(lambda t, n: 0.5, 3, 10) == 0.5
    for bad in (lambda t, n: float("nan"), lambda t, n: -1.0, lambda t, n: "x", lambda t: 1.0):
        with pytest.raises(ValueError, match="schedule"):
            dyn.train(20, 3, 16, 80, [1.0], (1,), schedule=bad, **kw)
    for bad in ((E,), (E[:, :5], U), (E, U[..., :8]), ("a", U), (E * float("nan"), U)):
        with pytest.raises(ValueError, match="embeddings"):
            dyn.train(20, 3, 16, 80, [1.0], (1, 2), embeddings=bad, **kw)
    with pytest.raises(ValueError, match="steps"):
        dyn.schedule_factor("cosine", 0, 0)
