"""Unit tests of impl.factual and theory.factual."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as hst

from impl import factual as fi
from impl.factual import FactTask, Sizes
from theory import factual as ft


# ---------------------------------------------------------------- task
def test_facts_shape_range_determinism():
    task = FactTask(S=5, R=3, D=4)
    f = task.facts((1, 2))
    assert f.shape == (2, 5, 3) and f.dtype == torch.int64
    r = torch.arange(3)
    assert bool(((f >= 4 * r) & (f < 4 * (r + 1))).all())
    assert torch.equal(f, task.facts((1, 2)))
    assert torch.equal(f[1], task.facts(2)[0])  # batched == looped over seeds
    assert not torch.equal(f[0], f[1])


def test_prompts_layout():
    task = FactTask(S=6, R=3, D=2, n_noise=5, T=5)
    tok, s, r = task.prompts(3, 7)
    assert tok.shape == (18, 5) and s.shape == r.shape == (18,)
    assert torch.equal(tok[:, -1], 6 + r)
    assert torch.equal(s, torch.arange(18) // 3) and torch.equal(r, torch.arange(18) % 3)
    head = tok[:, :-1]
    assert bool(((head == s[:, None]).sum(1) == 1).all())  # the subject exactly once among the first T - 1
    noise = head[head != s[:, None]]
    assert bool(((noise >= 9) & (noise < 14)).all())
    assert torch.equal(tok, task.prompts(3, 7)[0]) and not torch.equal(tok, task.prompts(3, 8)[0])


@pytest.mark.parametrize(
    "kw, name",
    [
        (dict(S=0, R=2, D=2), "S"),
        (dict(S=2, R=0, D=2), "R"),
        (dict(S=2, R=2, D=1), "D"),
        (dict(S=2, R=2, D=2, n_noise=0), "n_noise"),
        (dict(S=2, R=2, D=2, T=1), "T"),
        (dict(S=2.5, R=2, D=2), "S"),
    ],
)
def test_task_errors(kw, name):
    with pytest.raises(ValueError, match=name):
        FactTask(**kw)


def test_task_method_errors():
    task = FactTask(2, 2, 2)
    with pytest.raises(ValueError, match="seeds"):
        task.facts(-1)
    with pytest.raises(ValueError, match="seed"):
        task.prompts(-1)
    with pytest.raises(ValueError, match="step"):
        task.prompts(0, -1)


def test_relation_marginal_matches_theory():
    task = FactTask(S=9, R=3, D=3)
    f = task.facts((4, 5))
    p = fi.relation_marginal(f, 3)
    assert p.shape == (2, 3, 9)
    assert torch.allclose(p.sum(-1), torch.ones(2, 3, dtype=torch.float64))
    for i in range(2):
        np.testing.assert_allclose(p[i].numpy(), ft.relation_predictor(f[i].numpy(), 3))
    with pytest.raises(ValueError, match="D"):
        fi.relation_marginal(f, 1)
    with pytest.raises(ValueError, match="facts"):
        fi.relation_marginal(f[0], 3)
    with pytest.raises(ValueError, match="facts"):
        fi.relation_marginal(f + 100, 3)


# ---------------------------------------------------------------- transformer
def test_sizes_and_errors():
    sz = Sizes(dims=[4, 8], heads=[1, 2], widths=[0, 3], d_head=2)
    assert sz.K == 2
    np.testing.assert_array_equal(sz.params, [4 * 1 * 2 * 4, 4 * 2 * 2 * 8 + 2 * 3 * 8])
    assert fi.parameter_count(8, 2, 2, 3) == ft.parameter_count(8, 2, 2, 3)
    for kw, name in [
        (dict(dims=[4], heads=[1], widths=[0], d_head=0), "d_head"),
        (dict(dims=[0], heads=[1], widths=[0], d_head=1), "dims"),
        (dict(dims=[4], heads=[0], widths=[0], d_head=1), "heads"),
        (dict(dims=[4], heads=[1], widths=[-1], d_head=1), "widths"),
        (dict(dims=[4], heads=[1, 2], widths=[0], d_head=1), "same length"),
        (dict(dims=[], heads=[], widths=[], d_head=1), "non-empty"),
    ]:
        with pytest.raises(ValueError, match=name):
            Sizes(**kw)


def test_init_params_shapes_and_independence():
    sz = Sizes(dims=[4, 6, 6], heads=[1, 3, 2], widths=[2, 0, 5], d_head=2)
    p = fi.init_params(sz, (1, 2), dtype="float64")
    assert p["WQ"].shape == (6, 3, 2, 6) and p["W1"].shape == (6, 5, 6) and p["WO"].shape == (6, 3, 6, 2)
    assert p["WQ"].dtype == torch.float64
    assert float(p["WO"].abs().sum()) == 0 and float(p["W2"].abs().sum()) == 0
    assert float(p["WQ"][0, :, :, 4:].abs().sum()) == 0  # d = 4 model is zero beyond its dimension
    alone = fi.init_params(Sizes(dims=[6], heads=[2], widths=[5], d_head=2), (2,), dtype="float64")
    assert torch.equal(p["WQ"][5, :2], alone["WQ"][0]) and torch.equal(p["W1"][5], alone["W1"][0])
    with pytest.raises(ValueError, match="sizes"):
        fi.init_params((1, 2), 0)
    with pytest.raises(ValueError, match="seeds"):
        fi.init_params(sz, ())


def _explicit(E, U, tok, WQ, WK, WV, WO, W1, W2):
    """Reference forward of one model, written per head with explicit softmax."""
    x = E[tok]  # (n, T, d)
    h = x[:, -1].clone()
    for i in range(WQ.shape[0]):
        q = x[:, -1] @ WQ[i].T
        k = x @ WK[i].T
        a = torch.softmax(torch.einsum("nk,ntk->nt", q, k) / WQ.shape[1] ** 0.5, -1)
        h = h + (torch.einsum("nt,ntk->nk", a, x @ WV[i].T)) @ WO[i].T
    if W1.shape[0]:
        h = h + torch.relu(h @ W1.T) @ W2.T
    return h @ U.T


def test_masked_batch_equals_small_models():
    torch.manual_seed(0)
    task = FactTask(S=4, R=3, D=2, n_noise=3, T=4)
    tok, _, _ = task.prompts(0)
    sz = Sizes(dims=[6, 4], heads=[3, 2], widths=[5, 3], d_head=2)
    p = {k: torch.randn_like(v) for k, v in fi.init_params(sz, 0, dtype="float64").items()}
    E = fi._padded_embeddings(task.V, sz, (0,), "e", "cpu", torch.float64)
    U = fi._padded_embeddings(task.A, sz, (0,), "u", "cpu", torch.float64)
    hm, um, dm = fi._masks(sz, 1, "cpu", torch.float64)
    lg = fi.transformer_logits(p, E, U, tok, hm, um, dm)
    assert lg.shape == (2, 12, 6)
    for b, (d, H, m) in enumerate(zip(sz.dims, sz.heads, sz.widths)):
        ref = _explicit(
            E[b, :, :d],
            U[b, :, :d],
            tok,
            p["WQ"][b, :H, :, :d],
            p["WK"][b, :H, :, :d],
            p["WV"][b, :H, :, :d],
            p["WO"][b, :H, :d],
            p["W1"][b, :m, :d],
            p["W2"][b, :d, :m],
        )
        torch.testing.assert_close(lg[b], ref)


def test_train_batched_equals_looped_and_deterministic():
    task = FactTask(S=4, R=2, D=2, n_noise=3, T=3)
    sz = Sizes(dims=[4, 6], heads=[1, 2], widths=[0, 3], d_head=2)
    r = fi.train_transformers(task, sz, (1, 2), steps=5, lr=0.05, dtype="float64", eval_every=2, pad="grid")
    assert r.accuracy.shape == (2, 2) and r.loss.shape == (2, 2) and r.history.shape == (3, 2, 2)
    np.testing.assert_array_equal(r.steps_at, [2, 4, 5])
    r2 = fi.train_transformers(task, sz, (1, 2), steps=5, lr=0.05, dtype="float64", eval_every=2, pad="grid")
    np.testing.assert_array_equal(r.loss, r2.loss)
    for i, s in enumerate((1, 2)):
        for k in range(2):
            one = Sizes(dims=[sz.dims[k]], heads=[sz.heads[k]], widths=[sz.widths[k]], d_head=2)
            a = fi.train_transformers(task, one, (s,), steps=5, lr=0.05, dtype="float64", noise_seed=1)
            np.testing.assert_allclose(a.loss[0, 0], r.loss[i, k], rtol=1e-9)


def test_train_learns_small_task():
    task = FactTask(S=4, R=2, D=2, n_noise=3, T=3)
    r = fi.train_transformers(task, Sizes(dims=[16], heads=[4], widths=[16], d_head=4), (0,), steps=150, lr=0.03)
    assert r.accuracy[0, 0] == 1.0


def test_train_errors():
    task = FactTask(2, 2, 2)
    sz = Sizes(dims=[4], heads=[1], widths=[0], d_head=2)
    for kw, name in [
        (dict(steps=0), "steps"),
        (dict(lr=0.0), "lr"),
        (dict(lr=float("nan")), "lr"),
        (dict(eval_every=-1), "eval_every"),
        (dict(noise_seed=-2), "noise_seed"),
        (dict(dtype="int8"), "dtype"),
        (dict(device="tpu"), "device"),
        (dict(pad="padded"), r"pad must be one of \('size', 'grid'\)"),
    ]:
        with pytest.raises(ValueError, match=name):
            fi.train_transformers(task, sz, 0, **kw)
    with pytest.raises(ValueError, match="task"):
        fi.train_transformers("task", sz, 0)
    with pytest.raises(ValueError, match="sizes"):
        fi.train_transformers(task, [4], 0)
    with pytest.raises(ValueError, match="seeds"):
        fi.train_transformers(task, sz, [])


# ---------------------------------------------------------------- linear one-hot model (FR4)
def test_linear_onehot_logits_definition():
    g = torch.Generator().manual_seed(0)
    W, w = torch.randn(2, 5, 7, generator=g), torch.randn(2, 7, generator=g)
    tok = torch.randint(0, 7, (4, 3), generator=g)
    lg = fi.linear_onehot_logits(W, w, tok)
    ref = torch.stack([torch.stack([sum(w[b, z] * W[b, :, z] for z in tok[n]) for n in range(4)]) for b in range(2)])
    torch.testing.assert_close(lg, ref)


def test_population_prompts():
    task = FactTask(S=3, R=2, D=2, n_noise=4, T=3)
    tok, n, z = fi.population_prompts(task)
    assert tok.shape == (24, 3)
    assert len({tuple(t) for t in tok.tolist()}) == 24
    assert torch.equal(tok[:, 0], n // 2) and torch.equal(tok[:, 2], 3 + n % 2) and torch.equal(tok[:, 1], 5 + z)
    with pytest.raises(ValueError, match="T = 3"):
        fi.population_prompts(FactTask(3, 2, 2, T=4))


def test_gradient_flow_shapes_start_and_descent():
    task = FactTask(S=8, R=2, D=2, n_noise=2, T=3)
    r = fi.gradient_flow_linear(task, (0, 1), alpha=0.1, jitter=0.0, lr=0.5, time=20.0, checkpoints=10, dtype="float64")
    C = len(r.t)
    assert r.loss.shape == r.kl_r.shape == r.kl_marg.shape == r.acc.shape == (C, 2)
    assert abs(r.loss[0] - ft.initial_loss(2, 2)).max() < 0.01  # symmetric init: uniform prediction
    assert np.all(np.diff(r.loss, axis=0) <= 1e-12)
    r2 = fi.gradient_flow_linear(task, (1,), alpha=0.1, jitter=0.0, lr=0.5, time=20.0, checkpoints=10, dtype="float64")
    np.testing.assert_allclose(r2.loss[:, 0], r.loss[:, 1], rtol=1e-12)  # batched == looped over seeds
    for kw, name in [
        (dict(alpha=0.0), "alpha"),
        (dict(jitter=-1.0), "jitter"),
        (dict(lr=0.0), "lr"),
        (dict(time=0.1), "time"),
        (dict(checkpoints=1), "checkpoints"),
    ]:
        with pytest.raises(ValueError, match=name):
            fi.gradient_flow_linear(task, 0, **kw)
    with pytest.raises(ValueError, match="task"):
        fi.gradient_flow_linear(None, 0)


# ---------------------------------------------------------------- theory
def test_theory_sizes_and_counts():
    assert ft.fact_count(7, 3) == 21
    assert ft.parameter_count(8, 2, 4, 16) == 4 * 2 * 4 * 8 + 2 * 16 * 8
    assert ft.attention_mlp_sizes(10, 6, 4, 2.0) == (32.0, 30.0)
    assert ft.attention_only_sizes(10, 6, 3, 0.5) == (4.5, 5.0)
    assert ft.initial_loss(4, 4) == pytest.approx(np.log(16))


@pytest.mark.parametrize(
    "fn, args, name",
    [
        (ft.fact_count, (0, 2), "S"),
        (ft.fact_count, (2, 1.5), "R"),
        (ft.parameter_count, (0, 1, 1, 1), "d"),
        (ft.parameter_count, (1, 0, 1, 1), "H"),
        (ft.parameter_count, (1, 1, 0, 1), "d_head"),
        (ft.parameter_count, (1, 1, 1, -1), "m"),
        (ft.attention_mlp_sizes, (0, 1, 1), "S"),
        (ft.attention_mlp_sizes, (1, 0, 1), "R"),
        (ft.attention_mlp_sizes, (1, 1, 0), "d"),
        (ft.attention_mlp_sizes, (1, 1, 1, 0.0), "c"),
        (ft.attention_only_sizes, (0, 1, 1), "S"),
        (ft.attention_only_sizes, (1, 0, 1), "R"),
        (ft.attention_only_sizes, (1, 1, 0), "A_max"),
        (ft.attention_only_sizes, (1, 1, 1, float("nan")), "c"),
        (ft.initial_loss, (0, 2), "R"),
        (ft.initial_loss, (2, 1), "D"),
        (ft.relation_predictor, (np.zeros((2, 2), int), 1), "D"),
        (ft.relation_predictor, (np.zeros(3, int), 2), "facts"),
        (ft.relation_predictor, (np.full((2, 2), 9), 2), "facts"),
        (ft.conditional_entropy, (np.ones((2, 2)),), "p_r"),
        (ft.conditional_entropy, (-np.eye(2),), "p_r"),
        (ft.kl_divergence, (np.ones(2) / 2, np.ones(3) / 3), "last axis"),
        (ft.kl_divergence, (np.array([0.5, 0.5]), np.array([1.0, 0.0])), "q"),
        (ft.kl_divergence, ([np.nan], [1.0]), "p"),
    ],
)
def test_theory_errors(fn, args, name):
    with pytest.raises(ValueError, match=name):
        fn(*args)


@given(hst.integers(1, 12), hst.integers(1, 5), hst.integers(2, 5), hst.integers(0, 2**31))
def test_relation_predictor_properties(S, R, D, seed):
    rng = np.random.default_rng(seed)
    f = rng.integers(0, D, (S, R)) + D * np.arange(R)
    p = ft.relation_predictor(f, D)
    np.testing.assert_allclose(p.sum(1), 1.0)
    H = ft.conditional_entropy(p)
    assert -1e-12 <= H <= np.log(min(D, S)) + 1e-12
    # the p(a|r) predictor's cross-entropy on the facts equals H(A|R)
    ce = -np.mean(np.log(p[np.arange(R)[None], f]))
    assert ce == pytest.approx(H, abs=1e-12)
    assert np.allclose(ft.kl_divergence(p, p), 0.0)


@given(hst.lists(hst.floats(0.01, 1.0), min_size=2, max_size=6), hst.integers(0, 2**31))
def test_kl_nonnegative(w, seed):
    p = np.asarray(w) / np.sum(w)
    q = np.random.default_rng(seed).dirichlet(np.ones(len(w)))
    assert ft.kl_divergence(p, q) >= -1e-12


def test_divergence_is_a_floating_point_error():
    """A diverging trainer raises FloatingPointError (as impl.birth and impl.transformer), never NaN results."""
    task = FactTask(S=3, R=2, D=2, n_noise=2, T=3)
    with pytest.raises(FloatingPointError, match="lr"):
        fi.gradient_flow_linear(task, 0, lr=1e9, time=2e10, checkpoints=3)
    sz = Sizes(dims=(4,), heads=(1,), widths=(2,), d_head=2)
    with pytest.raises(FloatingPointError, match="lr"):
        fi.train_transformers(task, sz, 0, steps=3, lr=2.0**63)
    with pytest.raises(ValueError, match="lr"):  # lr > time: not one Euler step
        fi.gradient_flow_linear(task, 0, lr=10.0, time=5.0)
    with pytest.raises(ValueError, match="time"):  # more than MAX_STEPS steps
        fi.gradient_flow_linear(task, 0, lr=1.0, time=1e12)
    with pytest.raises(ValueError, match="alpha"):  # initial logits beyond float32's range
        fi.gradient_flow_linear(task, 0, alpha=1e19, time=5.0)
