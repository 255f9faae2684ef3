"""Unit tests of theory.gd and impl.gd: exact identities, shapes, dtypes, determinism, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as hst

from impl import gd
from theory import gd as tg
from theory.zipf import zipf_pmf

F64 = torch.float64


def _random_problem(B=3, N=4, M=3, d=3, seed=0, eta=0.5):
    g = torch.Generator().manual_seed(seed)
    E = torch.randn(B, N, d, generator=g, dtype=F64)
    U = torch.randn(B, M, d, generator=g, dtype=F64)
    f = torch.randint(0, M, (B, N), generator=g)
    p = torch.rand(B, N, generator=g, dtype=F64) + 0.1
    p = p / p.sum(-1, keepdim=True)
    return gd.Problem(E, U, f, p, torch.full((B,), eta, dtype=F64))


# ---------------------------------------------------------------- theory: orthonormal recursion
def test_margin_trajectory_shape_monotone_and_limits():
    p = zipf_pmf(5, 1.0)
    m = tg.orthogonal_margin_trajectory(p, 3, np.array([[0.5], [2.0]]), 200)
    assert m.shape == (201, 2, 5)
    assert np.all(m[0] == 0) and np.all(np.diff(m, axis=0) > 0)
    flow = tg.orthogonal_margin_flow(1e6, p, 3, 2.0)
    assert np.allclose(np.exp(flow) + 2 * flow, 1 + 2.0 * p * 3 * 1e6, rtol=1e-12)
    assert np.allclose(flow, tg.orthogonal_margin_asymptotic(1e6, p, 3, 2.0), atol=1e-3)
    assert tg.orthogonal_margin_flow(0.0, 0.3, 4, 1.0) == pytest.approx(0.0, abs=1e-12)
    assert tg.orthogonal_loss_limit(8, 4, 2.0) == pytest.approx(8 * 3 / 8)
    assert tg.orthogonal_loss(np.zeros(3), np.ones(3) / 3, 4) == pytest.approx(np.log(4))


def test_margin_recursion_no_overflow_for_huge_steps():
    m = tg.orthogonal_margin_trajectory(0.5, 2, 1e4, 50)
    assert np.all(np.isfinite(m)) and m[1] == pytest.approx(0.5 * 1e4)


@given(
    N=hst.integers(1, 6),
    M=hst.integers(2, 5),
    eta=hst.floats(0.05, 20.0),
    alpha=hst.floats(0.0, 2.0),
    seed=hst.integers(0, 1000),
)
def test_simulation_equals_exact_recursion(N, M, eta, alpha, seed):
    p = zipf_pmf(N, alpha)
    prob = gd.orthogonal_problem(p, M, max(N, M) + 1, [eta], (seed,))
    traj = gd.run_gd(prob, 40, record_margins=True)
    exact = tg.orthogonal_margin_trajectory(p, M, eta, 40)
    assert np.allclose(traj.margin[0].numpy(), exact, atol=1e-9)


# ---------------------------------------------------------------- theory: Hessian and edge of stability
@given(
    d=hst.integers(1, 3),
    N=hst.integers(1, 4),
    M=hst.integers(2, 4),
    scale=hst.floats(0.0, 2.0),
    seed=hst.integers(0, 10**6),
)
def test_hessian_closed_form_matches_autograd(d, N, M, scale, seed):
    prob = _random_problem(1, N, M, d, seed)
    W = scale * torch.randn(1, d, d, generator=torch.Generator().manual_seed(seed + 1), dtype=F64)
    Ha = torch.autograd.functional.hessian(lambda w: gd.loss(w.reshape(1, d, d), prob).sum(), W.reshape(-1))
    Ht = tg.population_hessian(W[0].numpy(), prob.E[0].numpy(), prob.U[0].numpy(), prob.f[0].numpy(), prob.p[0].numpy())
    assert np.allclose(Ht, Ha.numpy(), atol=1e-12)
    assert torch.allclose(gd.hessian(W, prob)[0], Ha, atol=1e-12)
    L = tg.population_loss(W[0].numpy(), prob.E[0].numpy(), prob.U[0].numpy(), prob.f[0].numpy(), prob.p[0].numpy())
    assert L == pytest.approx(float(gd.loss(W, prob)[0]), rel=1e-12)


@given(a=hst.floats(-1.0, 1.0), p0=hst.floats(0.01, 0.99), scale=hst.floats(0.0, 5.0), seed=hst.integers(0, 10**6))
def test_two_token_sharpness_is_global_max(a, p0, scale, seed):
    E = tg.two_token_embeddings(a)
    U, f, p = np.eye(2), np.arange(2), np.array([p0, 1 - p0])
    lam0 = tg.sharpness(None, E, U, f, p)
    assert lam0 == pytest.approx(tg.two_token_sharpness0(a, p0), abs=1e-12)
    assert tg.global_smoothness(E, U, p) == pytest.approx(lam0, abs=1e-12)
    W = scale * np.random.default_rng(seed).normal(size=(2, 2))
    assert tg.sharpness(W, E, U, f, p) <= lam0 + 1e-12
    assert 4.0 - 1e-9 <= tg.two_token_eos(a, p0) <= 8.0 + 1e-9
    assert tg.edge_of_stability(E, U, f, p) == pytest.approx(tg.two_token_eos(a, p0))


@given(seed=hst.integers(0, 10**6), M=hst.integers(3, 5))
def test_global_smoothness_bounds_sharpness(seed, M):
    rng = np.random.default_rng(seed)
    E, U = rng.normal(size=(4, 3)), rng.normal(size=(M, 3))
    p = rng.dirichlet(np.ones(4))
    f = rng.integers(0, M, 4)
    L = tg.global_smoothness(E, U, p)
    for s in (0.0, 0.5, 3.0):
        assert tg.sharpness(s * rng.normal(size=(3, 3)), E, U, f, p) <= L + 1e-12


def test_two_token_first_step_and_large_step_limit():
    assert tg.two_token_minority_wrong_first(0.95, 0.75) and not tg.two_token_minority_wrong_first(0.5, 0.6)
    for a, p0 in [(0.9, 0.75), (0.95, 0.9), (0.8, 0.6)]:
        prob = gd.two_token_problem([a], [p0], [1e7])
        tr = gd.run_gd(prob, 200)
        assert int(gd.first_hit_step(tr.error, tr.steps)[0]) == tg.two_token_large_step_time(a, p0)
    assert tg.two_token_large_step_time(1.0, 0.7, 100) == -1


def test_best_zero_one_matches_brute_force():
    rng = np.random.default_rng(3)
    E, U = rng.normal(size=(4, 12, 2)), rng.normal(size=(4, 2, 2))
    f, p = rng.integers(0, 2, (4, 12)), rng.dirichlet(np.ones(12))
    best = tg.best_zero_one_binary_2d(E, U, f, p)
    th = np.linspace(0, 2 * np.pi, 100_001)
    V = np.stack([np.cos(th), np.sin(th)], 1)
    for b in range(4):
        y = np.where(f[b] == 0, 1, -1)
        assert best[b] == pytest.approx((((y * (V @ E[b].T)) <= 0) * p).sum(1).min(), abs=1e-12)
    assert float(tg.best_zero_one_binary_2d(E[0], np.ones((2, 2)), f[0], p)) == pytest.approx(1.0)


# ---------------------------------------------------------------- impl
def test_problem_builders_shapes_dtypes_determinism():
    pr = gd.two_token_problem([0.5, 0.9], [0.6, 0.75, 0.9], [1.0, 10.0])
    assert pr.shape == (12, 2, 2, 2) and pr.E.dtype == F64
    assert np.allclose(pr.grid["a"][:6], 0.5) and np.allclose(pr.grid["eta"][:2], [1.0, 10.0])
    assert torch.allclose(pr.E[5, 1], torch.tensor([0.5, np.sqrt(0.75)], dtype=F64))
    assert gd.two_token_problem(0.5, 0.6, 1.0, dtype="float32").E.dtype == torch.float32
    po = gd.orthogonal_problem(zipf_pmf(4, 1.0), 2, 5, [0.5, 2.0], (1, 2, 3))
    assert po.shape == (6, 4, 2, 5)
    assert torch.allclose(po.E[0] @ po.E[0].T, torch.eye(4, dtype=F64), atol=1e-12)
    assert torch.equal(po.E[0], po.E[3]) and torch.equal(po.eta, torch.tensor([0.5] * 3 + [2.0] * 3, dtype=F64))
    r1 = gd.random_problem(np.ones(6) / 6, 3, 2, 0.1, (4, 5))
    r2 = gd.random_problem(np.ones(6) / 6, 3, 2, 0.1, (5,))
    assert torch.equal(r1.E[1], r2.E[0]) and torch.equal(r1.f[1], r2.f[0])
    assert torch.equal(r1.with_eta([1.0, 2.0]).eta, torch.tensor([1.0, 2.0], dtype=F64))


def test_gradient_matches_autograd_and_loss_error_margins():
    prob = _random_problem()
    W = torch.randn(3, 3, 3, dtype=F64)
    Wg = W.clone().requires_grad_(True)
    gd.loss(Wg, prob).sum().backward()
    assert torch.allclose(gd.gradient(W, prob), Wg.grad, atol=1e-12)
    m = gd.margins(W, prob)
    assert m.shape == (3, 4)
    assert torch.allclose(gd.zero_one_error(W, prob), (prob.p * (m <= 0)).sum(-1))
    Z = torch.zeros(3, 3, 3, dtype=F64)
    assert torch.allclose(gd.zero_one_error(Z, prob), torch.ones(3, dtype=F64))  # all ties are errors
    assert torch.allclose(gd.loss(Z, prob), torch.full((3,), np.log(3), dtype=F64))
    assert gd.sharpness(W, prob).shape == (3,)


def test_run_gd_batched_equals_looped_and_records():
    prob = _random_problem(B=3)
    rec = [0, 1, 5, 20]
    tr = gd.run_gd(prob, 20, record=rec, record_margins=True, record_sharpness=True)
    assert tr.loss.shape == (3, 4) and tr.margin.shape == (3, 4, 4) and tr.sharpness.shape == (3, 4)
    for b in range(3):
        one = gd.Problem(
            prob.E[b : b + 1], prob.U[b : b + 1], prob.f[b : b + 1], prob.p[b : b + 1], prob.eta[b : b + 1]
        )
        t1 = gd.run_gd(one, 20, record=rec, record_margins=True)
        assert torch.allclose(t1.loss[0], tr.loss[b], atol=1e-14) and torch.allclose(t1.W[0], tr.W[b], atol=1e-14)
    W = torch.zeros(3, 3, 3, dtype=F64)
    for _ in range(20):
        W = W - prob.eta.view(3, 1, 1) * gd.gradient(W, prob)
    assert torch.allclose(W, tr.W, atol=1e-13)
    assert torch.equal(gd.run_gd(prob, 20).W, gd.run_gd(prob, 20).W)  # deterministic
    full = gd.run_gd(prob, 5, W0=torch.ones(3, 3, 3, dtype=F64))
    assert full.loss.shape == (3, 6) and full.margin is None and full.sharpness is None


def test_first_hit_step_and_ce_optimum():
    v = torch.tensor([[1.0, 0.5, 0.0, 0.2], [1.0, 1.0, 1.0, 1.0]])
    assert gd.first_hit_step(v, torch.tensor([0, 1, 2, 10])).tolist() == [2, -1]
    assert gd.first_hit_step(v, torch.tensor([0, 1, 2, 10]), 0.5).tolist() == [1, -1]
    prob = gd.two_token_problem([1.0], [0.7], [1.0])  # not separable: finite optimum, margin log(p0/p1)
    W, gn = gd.ce_optimum(prob)
    assert float(gn[0]) < 1e-10
    assert float(gd.margins(W, prob)[0, 0]) == pytest.approx(np.log(0.7 / 0.3), abs=1e-8)


# ---------------------------------------------------------------- ValueErrors
P1 = np.array([0.5, 0.5])


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: tg.orthogonal_margin_trajectory([0.0, 1.0], 2, 1.0, 5), "p"),
        (lambda: tg.orthogonal_margin_trajectory([1.5], 2, 1.0, 5), "p"),
        (lambda: tg.orthogonal_margin_trajectory(P1, 1, 1.0, 5), "M"),
        (lambda: tg.orthogonal_margin_trajectory(P1, 2, -1.0, 5), "eta"),
        (lambda: tg.orthogonal_margin_trajectory(P1, 2, 1.0, -1), "T"),
        (lambda: tg.orthogonal_margin_trajectory([np.nan], 2, 1.0, 5), "p"),
        (lambda: tg.orthogonal_margin_flow(-1.0, P1, 2, 1.0), "t"),
        (lambda: tg.orthogonal_margin_flow(1.0, P1, 0, 1.0), "M"),
        (lambda: tg.orthogonal_margin_flow(1.0, P1, 2, 0.0), "eta"),
        (lambda: tg.orthogonal_margin_flow(1.0, [-0.1], 2, 1.0), "p"),
        (lambda: tg.orthogonal_margin_asymptotic(0.0, P1, 2, 1.0), "t"),
        (lambda: tg.orthogonal_margin_asymptotic(1.0, P1, 2, np.inf), "eta"),
        (lambda: tg.orthogonal_loss(np.zeros(3), P1, 2), "m"),
        (lambda: tg.orthogonal_loss(np.zeros(2), [-1.0, 2.0], 2), "p"),
        (lambda: tg.orthogonal_loss(np.zeros(2), P1, 1), "M"),
        (lambda: tg.orthogonal_loss_limit(0, 2, 1.0), "N"),
        (lambda: tg.orthogonal_loss_limit(2, 1, 1.0), "M"),
        (lambda: tg.orthogonal_loss_limit(2, 2, 0.0), "eta"),
        (lambda: tg.population_hessian(np.zeros((3, 3)), np.eye(2), np.eye(2), [0, 1], P1), "W"),
        (lambda: tg.population_hessian(None, np.eye(2), np.eye(3), [0, 1], P1), "U"),
        (lambda: tg.population_hessian(None, np.eye(2), np.eye(2), [0, 2], P1), "f"),
        (lambda: tg.population_hessian(None, np.eye(2), np.eye(2), [0, 1], [1.0]), "p"),
        (lambda: tg.population_hessian(None, np.ones(2), np.eye(2), [0, 1], P1), "E"),
        (lambda: tg.population_loss(None, np.eye(2), np.eye(2), [0, 1], [0.5, np.nan]), "p"),
        (lambda: tg.sharpness(None, np.eye(2), np.eye(2), [0, 1], [-0.5, 1.5]), "p"),
        (lambda: tg.edge_of_stability(np.eye(2), np.eye(2), [0, 1], [0.0, 0.0]), "Hessian"),
        (lambda: tg.global_smoothness(np.eye(2), np.eye(2)[:1], P1), "M"),
        (lambda: tg.global_smoothness(np.eye(2), np.eye(3), P1), "shapes"),
        (lambda: tg.two_token_embeddings(1.5), "a"),
        (lambda: tg.two_token_sharpness0(0.5, 1.5), "p0"),
        (lambda: tg.two_token_eos(-2.0, 0.5), "a"),
        (lambda: tg.two_token_minority_wrong_first(0.5, 0.4), "p0"),
        (lambda: tg.two_token_large_step_time(0.5, 0.0), "p0"),
        (lambda: tg.two_token_large_step_time(0.5, 0.7, 0), "T"),
        (lambda: tg.best_zero_one_binary_2d(np.ones((3, 3)), np.eye(2), [0, 1, 0], np.ones(3)), "E"),
        (lambda: tg.best_zero_one_binary_2d(np.ones((3, 2)), np.eye(2), [0, 2, 0], np.ones(3)), "f"),
        (lambda: tg.best_zero_one_binary_2d(np.ones((3, 2)), np.eye(2), [0, 1, 0], np.ones(2)), "p"),
    ],
)
def test_theory_errors(call, name):
    with pytest.raises(ValueError, match=name):
        call()


def _pb():
    return _random_problem()


@pytest.mark.parametrize(
    "call, name",
    [
        (
            lambda: gd.Problem(
                torch.zeros(2, 3),
                torch.zeros(2, 2, 3),
                torch.zeros(2, 3, dtype=torch.long),
                torch.ones(2, 3),
                torch.ones(2),
            ),
            "E",
        ),
        (
            lambda: gd.Problem(
                torch.zeros(1, 3, 2, dtype=F64),
                torch.zeros(1, 1, 2, dtype=F64),
                torch.zeros(1, 3, dtype=torch.long),
                torch.ones(1, 3, dtype=F64),
                torch.ones(1, dtype=F64),
            ),
            "M",
        ),
        (lambda: gd.Problem(_pb().E, _pb().U, _pb().f.int(), _pb().p, _pb().eta), "f"),
        (lambda: gd.Problem(_pb().E, _pb().U, _pb().f + 5, _pb().p, _pb().eta), "f"),
        (lambda: gd.Problem(_pb().E, _pb().U, _pb().f, _pb().p[:, :2], _pb().eta), "p"),
        (lambda: gd.Problem(_pb().E, _pb().U, _pb().f, -_pb().p, _pb().eta), "p"),
        (lambda: gd.Problem(_pb().E, _pb().U, _pb().f, _pb().p, torch.zeros(3, dtype=F64)), "eta"),
        (lambda: gd.Problem(_pb().E * np.nan, _pb().U, _pb().f, _pb().p, _pb().eta), "E"),
        (lambda: gd.Problem(_pb().E, _pb().U, _pb().f, _pb().p, _pb().eta.float()), "dtype"),
        (lambda: _pb().with_eta(-1.0), "eta"),
        (lambda: gd.two_token_problem(1.5, 0.6, 1.0), "a"),
        (lambda: gd.two_token_problem(0.5, 1.0, 1.0), "p0"),
        (lambda: gd.two_token_problem(0.5, 0.6, 0.0), "eta"),
        (lambda: gd.two_token_problem(0.5, 0.6, []), "eta"),
        (lambda: gd.two_token_problem(0.5, 0.6, 1.0, dtype="float16"), "dtype"),
        (lambda: gd.two_token_problem(0.5, 0.6, 1.0, device="tpu"), "device"),
        (lambda: gd.orthogonal_problem(np.ones((2, 2)), 2, 4, 1.0, 0), "p"),
        (lambda: gd.orthogonal_problem(P1, 1, 4, 1.0, 0), "M"),
        (lambda: gd.orthogonal_problem(np.ones(5) / 5, 2, 4, 1.0, 0), "d"),
        (lambda: gd.orthogonal_problem(P1, 2, 4, -1.0, 0), "eta"),
        (lambda: gd.orthogonal_problem(P1, 2, 4, 1.0, -3), "seeds"),
        (lambda: gd.random_problem(P1, 1, 2, 1.0, 0), "M"),
        (lambda: gd.random_problem(P1, 2, 0, 1.0, 0), "d"),
        (lambda: gd.random_problem(P1, 2, 2, np.nan, 0), "eta"),
        (lambda: gd.random_problem(P1, 2, 2, 1.0, ()), "seeds"),
        (lambda: gd.random_problem(P1, 2, 2, 1.0, 0, kind="cubic"), "kind"),
        (lambda: gd.random_problem([-1.0, 2.0], 2, 2, 1.0, 0), "p"),
        (lambda: gd.logits(torch.zeros(3, 2, 2, dtype=F64), _pb()), "W"),
        (lambda: gd.loss(torch.full((3, 3, 3), np.nan, dtype=F64), _pb()), "W"),
        (lambda: gd.gradient(torch.zeros(3, 3, 3, dtype=F64), "problem"), "prob"),
        (lambda: gd.hessian(torch.zeros(2, 3, 3, dtype=F64), _pb()), "W"),
        (lambda: gd.sharpness(np.zeros((3, 3, 3)), _pb()), "W"),
        (lambda: gd.zero_one_error(torch.zeros(3, 3, dtype=F64), _pb()), "W"),
        (lambda: gd.margins(torch.zeros(3, 3, 4, dtype=F64), _pb()), "W"),
        (lambda: gd.run_gd(_pb(), -1), "steps"),
        (lambda: gd.run_gd("p", 3), "prob"),
        (lambda: gd.run_gd(_pb(), 3, record=[0, 0, 1]), "record"),
        (lambda: gd.run_gd(_pb(), 3, record=[0, 4]), "record"),
        (lambda: gd.run_gd(_pb(), 3, record=[0.5]), "record"),
        (lambda: gd.run_gd(_pb(), 3, W0=torch.zeros(3, 2, 2, dtype=F64)), "W"),
        (lambda: gd.run_gd(_pb(), 3, W0=torch.full((3, 3, 3), np.inf, dtype=F64)), "W0"),
        (lambda: gd.first_hit_step(torch.zeros(3), torch.zeros(3)), "values"),
        (lambda: gd.first_hit_step(torch.zeros(2, 3), torch.zeros(2)), "steps"),
        (lambda: gd.first_hit_step(torch.zeros(2, 3), torch.zeros(3), np.nan), "level"),
        (lambda: gd.ce_optimum(_pb(), iters=0), "iters"),
        (lambda: gd.ce_optimum(_pb(), tol=0.0), "tol"),
        (lambda: gd.ce_optimum("p"), "prob"),
    ],
)
def test_impl_errors(call, name):
    with pytest.raises(ValueError, match=name):
        call()
