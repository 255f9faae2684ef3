"""Unit tests of impl.transformer and theory.transformer: shapes, dtypes, determinism, batched == looped,
exact identities of the data model and the construction, and ValueError for every invalid argument."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as hst

from impl import transformer as it
from theory import transformer as tt


def _task(**kw):
    base = dict(N=12, T=16, K=2, alpha=1.5)
    base.update(kw)
    return it.BigramTask(**base)


# ---------------------------------------------------------------- data
def test_bigram_table_rows_and_law():
    pi = it.bigram_table(10, 1.5, 3)
    assert pi.shape == (10, 10) and pi.dtype == torch.float64
    assert torch.allclose(pi.sum(1), torch.ones(10, dtype=torch.float64))
    w = torch.arange(1, 11, dtype=torch.float64) ** -1.5
    assert torch.allclose(torch.sort(pi, 1, descending=True).values, (w / w.sum()).expand(10, 10))
    assert torch.allclose(it.bigram_table(7, 0.0), torch.full((7, 7), 1 / 7, dtype=torch.float64))
    assert torch.equal(pi, it.bigram_table(10, 1.5, 3)) and not torch.equal(pi, it.bigram_table(10, 1.5, 4))


def test_stationary_is_fixed_point():
    pi = it.bigram_table(9, 1.0, 1)
    mu = it.stationary(pi)
    assert torch.allclose(mu @ pi, mu, atol=1e-12) and mu.sum().item() == pytest.approx(1.0)


def test_task_fields():
    t = _task(K=3, outputs="bigram")
    assert t.triggers.shape == (3,) and torch.all(t.triggers[1:] > t.triggers[:-1])
    assert torch.all(t.pi_o[:, t.triggers] == 0) and torch.allclose(t.pi_o.sum(1), torch.ones(3, dtype=torch.float64))
    top = torch.argsort(-t.pi_1, stable=True)[:3]
    assert set(top.tolist()) == set(t.triggers.tolist())
    assert t.trigger_index()[t.triggers].tolist() == [0, 1, 2]
    u = _task(outputs="uniform")
    assert torch.allclose(u.pi_o[0, u.pi_o[0] > 0], torch.full((10,), 0.1, dtype=torch.float64))


def test_sample_shapes_determinism_batched_equals_looped():
    t = _task()
    b = t.sample(5, (3, 4, 5), step=2)
    assert b.tokens.shape == (3, 5, 16) and b.tokens.dtype == torch.long and b.outputs.shape == (3, 5, 2)
    assert torch.equal(b.tokens, t.sample(5, (3, 4, 5), step=2).tokens)
    one = t.sample(5, 4, step=2)
    assert torch.equal(b.tokens[1], one.tokens[0]) and torch.equal(b.outputs[1], one.outputs[0])
    assert not torch.equal(b.tokens, t.sample(5, (3, 4, 5), step=3).tokens)


@given(seed=hst.integers(0, 10_000), K=hst.integers(1, 3), outputs=hst.sampled_from(["uniform", "bigram"]))
def test_sample_follows_trigger_rule(seed, K, outputs):
    t = _task(K=K, outputs=outputs)
    b = t.sample(8, seed)
    z, o = b.tokens[0], b.outputs[0]
    k = t.trigger_index()[z[:, :-1]]
    rows = torch.arange(8).unsqueeze(1).expand_as(k)
    nxt = z[:, 1:]
    assert torch.equal(nxt[k >= 0], o[rows[k >= 0], k[k >= 0]])
    assert not torch.isin(o, t.triggers).any()
    assert int(z.min()) >= 0 and int(z.max()) < t.N
    assert bool((t.pi_b[z[:, :-1][k < 0], nxt[k < 0]] > 0).all())


def test_position_masks():
    trig = torch.tensor([0, 1])
    z = torch.tensor([[[0, 5, 2, 0, 5, 1, 7, 1, 7]]])
    m = it.position_masks(z, trig)
    assert m["icl"].shape == (1, 1, 8)
    assert m["icl"][0, 0].nonzero().squeeze(-1).tolist() == [3, 7]
    assert m["first"][0, 0].nonzero().squeeze(-1).tolist() == [0, 5]
    assert m["global"][0, 0].tolist() == [False, True, True, False, True, False, True, False]
    assert m["icl_inner"][0, 0].nonzero().squeeze(-1).tolist() == [7]  # trigger 0 was the first token


@given(seed=hst.integers(0, 10_000))
def test_induction_queries_structure(seed):
    z = it.induction_queries(20, 10, 3, 16, (seed, seed + 1))
    assert z.shape == (2, 16, 10) and z.dtype == torch.long
    q, o = z[..., 8], z[..., 9]
    assert bool((q < 3).all()) and bool((o >= 3).all())
    early = z[..., :7]
    pos = (early < 3).float().argmax(-1)
    assert bool(((early < 3).sum(-1) == 1).all())
    assert torch.equal(torch.gather(early, -1, pos.unsqueeze(-1)).squeeze(-1), q)
    assert torch.equal(torch.gather(z, -1, (pos + 1).unsqueeze(-1)).squeeze(-1), o)
    assert torch.equal(z[1], it.induction_queries(20, 10, 3, 16, seed + 1)[0])


# ---------------------------------------------------------------- model
def test_init_and_forward_shapes_dtypes():
    m = it.init_model(12, 16, 8, (0, 1), layers=2, ff=True)
    assert set(m.W) == {"WKQ1", "WOV1", "WKQ2", "WOV2", "WF"} and m.W["WKQ1"].shape == (2, 8, 8)
    z = _task().sample(3, (0, 1)).tokens
    logits, maps = it.forward(m, z, return_attention=True)
    assert logits.shape == (2, 3, 16, 12) and logits.dtype == torch.float32 and len(maps) == 2
    assert torch.allclose(maps[0].sum(-1), torch.ones(2, 3, 16))
    assert torch.all(maps[0].triu(1) == 0)  # causal
    m64 = it.init_model(12, 16, 8, 0, layers=1, dtype="float64")
    assert set(m64.W) == {"WKQ1", "WOV1"} and it.forward(m64, z[:1]).dtype == torch.float64
    ms = it.init_model(12, 16, 8, (0, 1), simplified=True)
    assert it.forward(ms, z).shape == (2, 3, 16, 12)


def test_forward_batched_equals_looped_and_causal():
    m = it.init_model(12, 16, 8, (0, 1), layers=2, ov_init="random", dtype="float64")
    for k in ("WKQ1", "WKQ2"):
        m.W[k] = torch.randn(2, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    z = _task().sample(3, (0, 1)).tokens
    full = it.forward(m, z)
    m1 = it.init_model(12, 16, 8, 1, layers=2, ov_init="random", dtype="float64")
    m1.W.update({k: v[1:] for k, v in m.W.items()})
    assert torch.allclose(full[1:], it.forward(m1, z[1:]), atol=1e-12)
    z2 = z.clone()
    z2[..., 10:] = (z2[..., 10:] + 1) % 12
    assert torch.allclose(full[..., :10, :], it.forward(m, z2)[..., :10, :], atol=1e-12)


def test_forward_matches_explicit_formula():
    g = torch.Generator().manual_seed(0)
    m = it.init_model(6, 5, 4, 0, layers=1, dtype="float64")
    m.W["WKQ1"] = torch.randn(1, 4, 4, generator=g, dtype=torch.float64)
    z = torch.tensor([[[1, 3, 3, 0, 5]]])
    x = m.E[0, z[0, 0]] + m.P[0]
    out = []
    for t in range(5):
        s = torch.stack([x[t] @ m.W["WKQ1"][0] @ x[r] for r in range(t + 1)])
        beta = torch.softmax(s, 0)
        h = x[t] + m.W["WOV1"][0] @ (beta @ x[: t + 1])
        out.append(m.U[0] @ h)
    assert torch.allclose(it.forward(m, z)[0, 0], torch.stack(out), atol=1e-12)


def test_construction_in_model_solves_clean_positions():
    t = _task(N=16, T=24, K=2)
    m = it.init_model(16, 24, 256, (0,), dtype="float64")
    C = tt.construction(m.E.numpy(), m.P.numpy(), m.U.numpy(), m.W["WOV1"].numpy(), t.triggers.numpy())
    m.W.update({k: torch.as_tensor(v) for k, v in C.items()})
    res = it.evaluate(m, t, t.sample(64, 0, step=1).tokens)
    assert res["icl_inner"][0] > 0.97


# ---------------------------------------------------------------- probes
def test_probe_impl_matches_theory_and_targets_are_perfect():
    m = it.init_model(20, 10, 64, (0, 1), dtype="float64")
    E, P, U, W1 = m.E.numpy(), m.P.numpy(), m.U.numpy(), m.W["WOV1"].numpy()
    trig = np.array([2, 5, 7])
    m.W["WOV2"] = torch.as_tensor(tt.target_wov2(U, E))
    m.W["WKQ2"] = torch.as_tensor(tt.target_wkq2(E, W1, trig))
    m.W["WKQ1"] = torch.as_tensor(tt.target_wkq1(P))
    pr = it.induction_probes(m, torch.as_tensor(trig))
    assert all(np.allclose(v.numpy(), 1.0) for v in pr.values())
    rnd = torch.randn(2, 64, 64, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    a = it.probe(rnd, m.E, m.U, torch.arange(20)).numpy()
    b = tt.probe(rnd.numpy(), E, U)
    assert np.allclose(a, b)
    assert it.probe(torch.zeros(2, 64, 64, dtype=torch.float64), m.E, m.U, torch.arange(20)).sum() == 0  # ties fail
    assert tt.probe(np.zeros((64, 64)), E[0], U[0]) == 0.0


def test_theory_targets_definitions_and_batching():
    rng = np.random.default_rng(0)
    P, E, U, W1 = rng.normal(size=(5, 3)), rng.normal(size=(4, 3)), rng.normal(size=(4, 3)), rng.normal(size=(3, 3))
    assert np.allclose(tt.target_wkq1(P), sum(np.outer(P[t], P[t - 1]) for t in range(1, 5)))
    assert np.allclose(tt.target_wkq2(E, W1, [1, 3]), sum(np.outer(E[k], W1 @ E[k]) for k in (1, 3)))
    assert np.allclose(tt.target_wov2(U, E), sum(np.outer(U[k], E[k]) for k in range(4)))
    assert np.allclose(tt.target_wov2(U, E, [0, 2]), np.outer(U[0], E[0]) + np.outer(U[2], E[2]))
    PP = np.stack([P, 2 * P])
    assert np.allclose(tt.target_wkq1(PP)[1], tt.target_wkq1(2 * P))
    s = tt.construction_scales(64)
    assert s["WKQ1"] == pytest.approx(3 * np.log(64)) and s["WOV2"] == 3.0
    C = tt.construction(E, P, U, W1, [1], remap=False)
    assert np.allclose(C["WKQ2"], s["WKQ1"] * 0 + tt.construction_scales(5)["WKQ2"] * np.outer(E[1], E[1]))
    assert tt.probe_chance(8) == 0.125


@given(c=hst.floats(0.01, 100.0), seed=hst.integers(0, 1000))
def test_probe_scale_invariant(c, seed):
    rng = np.random.default_rng(seed)
    W, K, C = rng.normal(size=(6, 6)), rng.normal(size=(5, 6)), rng.normal(size=(7, 6))
    assert tt.probe(c * W, K, C) == tt.probe(W, K, C)
    assert tt.probe(np.outer(C[:5].sum(0), K.sum(0)) * 0 + C[:5].T @ K, K, C[:5]) >= 0.0


# ---------------------------------------------------------------- training and gradients
def test_population_gradient_matches_autograd_and_chunking():
    m = it.init_model(12, 16, 8, (0, 1), layers=2, ov_init="random", dtype="float64")
    z = _task().sample(6, (0, 1)).tokens
    mask = it.position_masks(z, _task().triggers)["global"]
    g1 = it.population_gradient(m, z, mask, ("WOV2", "WKQ1"), chunk=2)
    g2 = it.population_gradient(m, z, mask, ("WOV2", "WKQ1"), chunk=100)
    W = {k: m.W[k].clone().requires_grad_(True) for k in ("WOV2", "WKQ1")}
    loss = it.masked_loss(it.forward(m, z, W), z, mask)
    ref = torch.autograd.grad(loss.sum(), [W["WOV2"], W["WKQ1"]])
    for a, b, r in zip(g1.values(), g2.values(), ref):
        assert torch.allclose(a, b, atol=1e-12) and torch.allclose(a, r, atol=1e-10)


def test_train_runs_deterministic_and_batched_equals_looped():
    t = _task()
    kw = dict(steps=4, batch=4, lr=0.5, loss_on="icl", eval_every=2, eval_batch=8, progress=False)
    m = it.init_model(12, 16, 8, (0, 1), ov_init="zero", dtype="float64")
    a = it.train(m, t, **kw)
    b = it.train(m, t, **kw)
    assert a.steps.tolist() == [0, 2, 4] and a.metrics["icl"].shape == (2, 3)
    assert a.probes["WKQ1"].shape == (2, 5) and a.stage.shape == (2, 5)
    assert all(torch.equal(a.model.W[k], b.model.W[k]) for k in a.model.W)
    m1 = it.init_model(12, 16, 8, 1, ov_init="zero", dtype="float64")
    c = it.train(m1, t, **kw)
    assert all(torch.allclose(a.model.W[k][1:], c.model.W[k], atol=1e-10) for k in a.model.W)
    assert torch.equal(m.W["WKQ1"], torch.zeros_like(m.W["WKQ1"]))  # the input model is not modified
    ad = it.train(m, t, optimizer="adam", **kw)
    assert not torch.equal(ad.model.W["WKQ1"], a.model.W["WKQ1"])


def test_train_stages_freeze_other_groups():
    t = _task()
    m = it.init_model(12, 16, 8, (0, 1), ov_init="zero", dtype="float64")
    log = it.train(
        m,
        t,
        steps=3,
        batch=4,
        lr=0.5,
        loss_on="all",
        stages=[("WOV2",), ("WKQ2",), ("WKQ1",)],
        stage_level=1.0,
        eval_every=3,
        eval_batch=4,
        progress=False,
    )
    assert torch.equal(log.model.W["WKQ1"], m.W["WKQ1"]) and torch.equal(log.model.W["WKQ2"], m.W["WKQ2"])
    assert not torch.equal(log.model.W["WOV2"], m.W["WOV2"])
    assert (log.stage == 0).all()


def test_first_crossing():
    v = np.array([[0.0, 0.2, 0.6, 0.9], [0.0, 0.1, 0.1, 0.2]])
    out = it.first_crossing([0, 10, 20, 30], v, 0.5)
    assert out[0] == 20 and np.isnan(out[1])


# ---------------------------------------------------------------- argument validation
@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: it.bigram_table(1), "N"),
        (lambda: it.bigram_table(5, -1.0), "alpha"),
        (lambda: it.bigram_table(5, float("nan")), "alpha"),
        (lambda: it.bigram_table(5, 1.0, -2), "task_seed"),
        (lambda: it.stationary(torch.ones(2, 3)), "pi"),
        (lambda: it.stationary(torch.eye(2), iters=0), "iters"),
        (lambda: it.stationary(torch.eye(2), tol=0.0), "tol"),
        (lambda: it.BigramTask(N=3, T=5, K=2), "N"),
        (lambda: it.BigramTask(N=8, T=1), "T"),
        (lambda: it.BigramTask(N=8, T=5, K=0), "K"),
        (lambda: it.BigramTask(N=8, T=5, outputs="zipf"), "outputs"),
        (lambda: it.BigramTask(N=8, T=5, alpha=-1), "alpha"),
        (lambda: _task().sample(0, 1), "B"),
        (lambda: _task().sample(2, -1), "seeds"),
        (lambda: _task().sample(2, 1, step=-1), "step"),
        (lambda: _task().sample(2, 1, device="tpu"), "device"),
        (lambda: it.induction_queries(4, 10, 3, 2, 0), "N"),
        (lambda: it.induction_queries(20, 3, 3, 2, 0), "T"),
        (lambda: it.induction_queries(20, 10, 0, 2, 0), "K"),
        (lambda: it.induction_queries(20, 10, 3, 0, 0), "B"),
        (lambda: it.induction_queries(20, 10, 3, 2, ()), "seeds"),
        (lambda: it.induction_queries(20, 10, 3, 2, 0, step=-1), "step"),
        (lambda: it.position_masks(torch.zeros(2, 3), torch.tensor([0])), "tokens"),
        (lambda: it.position_masks(torch.zeros(1, 2, 3, dtype=torch.long), torch.tensor([])), "triggers"),
        (lambda: it.init_model(1, 5, 4, 0), "N"),
        (lambda: it.init_model(5, 1, 4, 0), "T"),
        (lambda: it.init_model(5, 5, 0, 0), "d"),
        (lambda: it.init_model(5, 5, 4, 0, layers=3), "layers"),
        (lambda: it.init_model(5, 5, 4, 0, ff=1), "ff"),
        (lambda: it.init_model(5, 5, 4, 0, ov_init="ones"), "ov_init"),
        (lambda: it.init_model(5, 5, 4, 0, simplified="yes"), "simplified"),
        (lambda: it.init_model(5, 5, 4, 0, layers=1, simplified=True), "simplified"),
        (lambda: it.init_model(5, 5, 4, 0, dtype="float16"), "dtype"),
        (lambda: it.init_model(5, 5, 4, ()), "seeds"),
        (lambda: it.first_crossing([0, 1], [[0.1, 0.2, 0.3]], 0.5), "values"),
        (lambda: it.first_crossing([0, 1], [[0.1, 0.2]], float("nan")), "level"),
    ],
)
def test_impl_errors(call, name):
    with pytest.raises(ValueError, match=name):
        call()


def test_model_function_errors():
    m = it.init_model(12, 16, 8, (0, 1))
    z = _task().sample(2, (0, 1)).tokens
    t = _task()
    with pytest.raises(ValueError, match="tokens"):
        it.forward(m, z[:1])
    with pytest.raises(ValueError, match="tokens"):
        it.forward(m, z + 100)
    with pytest.raises(ValueError, match="return_attention"):
        it.forward(m, z, return_attention=1)
    with pytest.raises(ValueError, match="W keys"):
        it.forward(m, z, {"WQ": m.W["WKQ1"]})
    with pytest.raises(ValueError, match="W"):
        it.probe(torch.full((2, 8, 8), float("nan")), m.E, m.U, torch.arange(12))
    with pytest.raises(ValueError, match="keys"):
        it.probe(m.W["WOV1"], m.E[0], m.U, torch.arange(12))
    with pytest.raises(ValueError, match="targets"):
        it.probe(m.W["WOV1"], m.E, m.U, torch.arange(5))
    with pytest.raises(ValueError, match="layers"):
        it.induction_probes(it.init_model(12, 16, 8, 0, layers=1), t.triggers)
    with pytest.raises(ValueError, match="T"):
        it.induction_probes(m, t.triggers, T=40)
    with pytest.raises(ValueError, match="kq1_queries"):
        it.induction_probes(m, t.triggers, kq1_queries=[0])
    mask = it.position_masks(z, t.triggers)["icl"]
    with pytest.raises(ValueError, match="mask"):
        it.masked_loss(it.forward(m, z), z, mask[..., :-1])
    with pytest.raises(ValueError, match="chunk"):
        it.evaluate(m, t, z, chunk=0)
    with pytest.raises(ValueError, match="names"):
        it.population_gradient(m, z, mask, ("WF",))
    with pytest.raises(ValueError, match="mask"):
        it.population_gradient(m, z, mask[..., :-1], ("WOV2",))
    with pytest.raises(ValueError, match="chunk"):
        it.population_gradient(m, z, mask, ("WOV2",), chunk=0)
    kw = dict(steps=1, batch=2, lr=0.1, progress=False)
    for bad, name in [
        (dict(steps=0), "steps"),
        (dict(batch=0), "batch"),
        (dict(lr=0.0), "lr"),
        (dict(lr=float("inf")), "lr"),
        (dict(momentum=1.0), "momentum"),
        (dict(optimizer="lbfgs"), "optimizer"),
        (dict(loss_on="first"), "loss_on"),
        (dict(stage_level=2.0), "stage_level"),
        (dict(eval_every=0), "eval_every"),
        (dict(eval_batch=0), "eval_batch"),
        (dict(eval_at=[0]), "eval_at"),
        (dict(trainable=("WX",)), "trainable"),
        (dict(stages=[("WF",)]), "stages"),
    ]:
        with pytest.raises(ValueError, match=name):
            it.train(m, t, **{**kw, **bad})
    with pytest.raises(ValueError, match="task"):
        it.train(m, _task(N=13), **kw)


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: tt.target_wkq1(np.ones((1, 3))), "P"),
        (lambda: tt.target_wkq1(np.ones(3)), "P"),
        (lambda: tt.target_wkq1(np.array([[np.nan, 1.0], [1.0, 1.0]])), "P"),
        (lambda: tt.target_wkq2(np.ones((4, 3)), np.ones((3, 2)), [0]), "WOV1"),
        (lambda: tt.target_wkq2(np.ones((4, 3)), np.eye(3), [4]), "triggers"),
        (lambda: tt.target_wkq2(np.ones((4, 3)), np.eye(3), []), "triggers"),
        (lambda: tt.target_wov2(np.ones((4, 2)), np.ones((4, 3))), "U"),
        (lambda: tt.target_wov2(np.ones((5, 3)), np.ones((4, 3))), "U"),
        (lambda: tt.target_wov2(np.ones((4, 3)), np.ones((4, 3)), [0.5]), "tokens"),
        (lambda: tt.probe(np.eye(3), np.ones((4, 3)), np.ones((2, 3))), "targets"),
        (lambda: tt.probe(np.eye(2), np.ones((4, 3)), np.ones((5, 3))), "W"),
        (lambda: tt.probe(np.eye(3), np.ones((4, 3)), np.ones((5, 2))), "cands"),
        (lambda: tt.probe(np.eye(3), np.ones((2, 3)), np.ones((5, 3)), [0]), "targets"),
        (lambda: tt.probe_chance(0), "J"),
        (lambda: tt.construction_scales(1), "T"),
        (lambda: tt.construction_scales(8, c=0.0), "c"),
        (
            lambda: tt.construction(np.ones((4, 3)), np.ones((5, 3)), np.ones((4, 3)), np.eye(3), [0], {"WKQ1": 1.0}),
            "scales",
        ),
        (
            lambda: tt.construction(
                np.ones((4, 3)),
                np.ones((5, 3)),
                np.ones((4, 3)),
                np.eye(3),
                [0],
                {"WKQ1": 1.0, "WKQ2": -1.0, "WOV2": 1.0},
            ),
            "scales",
        ),
    ],
)
def test_theory_errors(call, name):
    with pytest.raises(ValueError, match=name):
        call()


# ---------------------------------------------------------------- impl.birth (the paper's model)
from impl import birth as ib  # noqa: E402


def test_birth_task_defaults_are_the_authors():
    t = ib.BirthTask()
    assert (t.source, t.T, t.K, t.triggers, t.outputs, t.N) == ("shakespeare", 256, 5, "fixed", "uniform", 65)
    assert torch.allclose(t.pi_u.sum(), torch.tensor(1.0, dtype=torch.float64))
    assert set(t.fixed.tolist()) == set(torch.argsort(-t.pi_u, stable=True)[:5].tolist())
    assert ib.AUTHORS["d"] == 256 and ib.AUTHORS["batch"] == 512 and ib.AUTHORS["lr"] == 0.03
    s = ib.BirthTask(source="synthetic", N=12, T=8, K=2)
    assert s.pi_b.shape == (12, 12) and torch.allclose(s.pi_u @ s.pi_b, s.pi_u, atol=1e-10)


@pytest.mark.parametrize("triggers", ["fixed", "random"])
def test_birth_sample_chain_batched_equals_looped(triggers):
    t = ib.BirthTask(T=40, K=3, triggers=triggers)
    b = t.sample(6, (2, 5), step=3)
    assert b.tokens.shape == (2, 6, 41) and b.triggers.shape == (2, 6, 3) and b.outputs.shape == (2, 6, 3)
    one = t.sample(6, 5, step=3)
    assert torch.equal(b.tokens[1], one.tokens[0]) and torch.equal(b.triggers[1], one.triggers[0])
    assert not torch.equal(b.tokens, t.sample(6, (2, 5), step=4).tokens)
    for s in range(2):
        for i in range(6):
            trig, outs = b.triggers[s, i].tolist(), b.outputs[s, i].tolist()
            assert len(set(trig)) == 3
            z = b.tokens[s, i].tolist()
            for a, c in zip(z[:-1], z[1:]):
                if a in trig:
                    assert c == outs[trig.index(a)]


def test_birth_counters_small_example():
    z = torch.tensor([[[3, 1, 3, 2, 3, 1]]])
    c = ib.birth_counters(z, torch.tensor([3, 1]))
    assert c.tolist() == [[[1, 1, 2, 0, 3, 2]]]


@pytest.mark.parametrize("layers", [1, 2])
def test_birth_fast_loss_equals_reference(layers):
    t = ib.BirthTask(T=24, K=3)
    m = ib.init_birth(65, 24, 12, (0, 1), layers=layers, dtype=torch.float64)
    b = t.sample(5, m.seeds, step=1)
    x, y = b.tokens[..., :-1], b.tokens[..., 1:]
    mask = ib.birth_counters(b.tokens, b.triggers)[..., :-1] >= 2
    names = ("K1", "K2", "O2") if layers == 2 else ("K1", "O1")
    W = dict(m.W)
    W.update({n: m.W[n].clone().requires_grad_(True) for n in names})
    fast = ib._masked_loss_fast(m, x, y, mask, W)
    logits = ib.birth_forward(m, x, W)
    nll = torch.nn.functional.cross_entropy(logits.flatten(0, 2), y.flatten(), reduction="none").view_as(y)
    ref = (nll * mask).sum((1, 2)) / mask.sum((1, 2))
    assert torch.allclose(fast, ref, atol=1e-12)
    g1 = torch.autograd.grad(fast.sum(), [W[n] for n in names])
    g2 = torch.autograd.grad(ref.sum(), [W[n] for n in names])
    assert all(torch.allclose(a, c, atol=1e-12) for a, c in zip(g1, g2))


def test_birth_init_forward_probes_train():
    m = ib.init_birth(65, 16, 8, (0, 3))
    one = ib.init_birth(65, 16, 8, 3)
    assert torch.equal(m.E[1], one.E[0]) and torch.equal(m.W["O2"][1], one.W["O2"][0])
    assert m.E.std().item() == pytest.approx(1.0, abs=0.2) and m.W["K1"].abs().max() <= 8**-0.5
    t = ib.BirthTask(T=16, K=3)
    b = t.sample(3, m.seeds)
    logits, maps = ib.birth_forward(m, b.tokens[..., :-1], return_attention=True)
    assert logits.shape == (2, 3, 16, 65) and len(maps) == 2
    assert torch.allclose(maps[0].sum(-1), torch.ones(2, 3, 16))
    pr = ib.birth_probes(m, t.fixed)
    assert set(pr) == {"WOV2", "WKQ1", "WKQ2"} and all(((v >= 0) & (v <= 1)).all() for v in pr.values())
    log = ib.train_birth(m, t, steps=3, batch=4, eval_every=2, eval_batch=4)
    assert log.steps.tolist() == [0, 2, 3] and log.metrics["icl"].shape == (2, 3)
    assert log.probes["WKQ1"].shape == (2, 3) and not torch.equal(log.model.W["K1"], m.W["K1"])
    assert torch.equal(log.model.W["V2"], m.W["V2"])  # frozen


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: ib.BirthTask(source="tiny"), "source"),
        (lambda: ib.BirthTask(T=1), "T"),
        (lambda: ib.BirthTask(K=0), "K"),
        (lambda: ib.BirthTask(triggers="any"), "triggers"),
        (lambda: ib.BirthTask(outputs="zipf"), "outputs"),
        (lambda: ib.BirthTask(N=64), "N"),
        (lambda: ib.BirthTask(T=8).sample(0, 1), "B"),
        (lambda: ib.init_birth(65, 8, 1, 0), "d"),
        (lambda: ib.init_birth(65, 8, 4, 0, layers=3), "layers"),
        (lambda: ib.train_birth(ib.init_birth(65, 8, 4, 0), ib.BirthTask(T=8), steps=1, lr=0.0), "lr"),
        (
            lambda: ib.train_birth(ib.init_birth(65, 8, 4, 0), ib.BirthTask(T=8), steps=1, weight_decay=-1),
            "weight_decay",
        ),
        (lambda: ib.train_birth(ib.init_birth(65, 8, 4, 0), ib.BirthTask(T=8), steps=1, loss_on="x"), "loss_on"),
        (lambda: ib.birth_counters(torch.zeros(2, 3), torch.tensor([1])), "tokens"),
        (lambda: ib.birth_evaluate(None, None, chunk=0), "chunk"),
    ],
)
def test_birth_invalid_arguments(call, name):
    with pytest.raises(ValueError, match=name):
        call()
