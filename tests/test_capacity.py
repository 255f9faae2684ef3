"""Unit tests of theory.capacity and impl.capacity (CP1-CP4)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as hst

from impl import capacity as ic
from impl.embeddings import Embedding
from theory import capacity as tc


# ============================================================================ theory
@given(hst.floats(-0.6, 0.6), hst.sampled_from(tc.ACTIVATIONS))
def test_kernel_is_the_hermite_series(rho, name):
    c = tc.hermite_coefficients(name, 60)
    series = float(np.sum(c**2 * rho ** np.arange(c.size)))
    assert series == pytest.approx(float(tc.kernel(name, rho)), abs=2e-6)


def test_kernel_and_features_normalisation():
    for name in tc.ACTIVATIONS:
        assert float(tc.kernel(name, 1.0)) == pytest.approx(1.0)
        assert float(tc.kernel(name, 0.0)) == pytest.approx(0.0)
        assert np.all(tc.hermite_coefficients(name, 40)[:2] == 0)  # no degree 0 or 1
    assert tc.feature_kurtosis("hermite2") == pytest.approx(14.0, rel=1e-6)
    assert tc.feature_kurtosis("hermite3") == pytest.approx(92.0, rel=1e-6)
    assert tc.feature_kurtosis("odd3") == pytest.approx(0.869, abs=2e-3)
    t = np.linspace(-3, 3, 7)
    assert np.allclose(tc.activation_values("hermite3", t), (t**3 - 3 * t) / np.sqrt(6))
    # kappa_2 = E kappa(rho)^2 ~ c_3^4 E rho^6 = 15 c_3^4 / d^3 for the degree-3 part, decreasing in d
    k = [tc.kernel_second_moment("hermite3", d) for d in (16, 32, 64)]
    assert k[0] > k[1] > k[2]
    assert k[2] == pytest.approx(15 / (64 * 66 * 68), rel=0.02)


def test_rho_tail_sphere():
    d = 9
    r, w = tc._rho_law(d, 1.0, True, 20001)
    for x in (-0.5, 0.0, 0.3, 0.7):
        assert float(tc._rho_tail(x, d, True)) == pytest.approx(float(w[r >= x].sum()), abs=1e-3)
    assert float(tc._rho_tail(0.0, d, True)) == pytest.approx(0.5)
    assert float(tc._rho_tail(1.0, 2 * d, False, 1.0)) == pytest.approx(0.5 * math.erfc(math.sqrt(d)), rel=1e-6)


@pytest.mark.parametrize(
    "construction,m,d", [("lowrank", 32, 64), ("mlp", 128, 32), ("multi", 128, 32), ("relu", None, 12)]
)
def test_predicted_accuracy_decreases_in_N(construction, m, d):
    Ns = [16, 64, 256, 1024]
    acc = [tc.predicted_accuracy(N, construction, m, d) for N in Ns]
    assert all(0 <= a <= 1 for a in acc)
    assert all(a > b for a, b in zip(acc, acc[1:]))


def test_capacity_grows_with_parameters_and_matches_accuracy():
    n1 = tc.capacity("mlp", 64, 64)
    assert tc.capacity("mlp", 256, 64) > 2.5 * n1
    assert tc.capacity("mlp", 64, 256) > 2.5 * n1
    N = int(round(n1))
    assert (
        tc.predicted_accuracy(max(N - N // 10, 2), "mlp", 64, 64)
        > 0.9
        > tc.predicted_accuracy(N + N // 10, "mlp", 64, 64)
    )
    # the rank caps the low-rank memory: N*(4d) / N*(d) well below 4
    assert tc.capacity("lowrank", 256, 64) / tc.capacity("lowrank", 64, 64) < 2.5
    # exponential capacity of the thresholded memory
    assert tc.capacity("relu", None, 16) > 10 * tc.capacity("relu", None, 8)
    assert tc.capacity("multi", 64, 64) > 0 and float(np.sqrt(tc.capacity("multi", 64, 64))) > 0


def test_capacity_law_fixed_point():
    m, d = np.array([64.0, 256.0]), np.array([128.0, 64.0])
    for c in ("mlp", "lowrank"):
        n = tc.capacity_law(m, d, c)
        P = m * d if c == "mlp" else m * d / (1 + m / d)
        assert np.allclose(n * np.log(n), P / 2, rtol=1e-8)
    e = tc.capacity_exponents("mlp", 500.0)
    assert e[0] == e[1] == pytest.approx(1 / (1 + 1 / math.log(500)))
    assert tc.relu_capacity_law(16.0) == pytest.approx(0.1 / (0.5 * math.erfc(4 / math.sqrt(2))))


def test_relu_theory_embeddings():
    a_s = tc.relu_accuracy(64, 12, 0.5, "sphere")
    a_g = tc.relu_accuracy(64, 12, 0.5, "gaussian")
    assert 0 < a_g < a_s <= 1  # gaussian norms: some keys fall under the threshold


@pytest.mark.parametrize(
    "call",
    [
        lambda: tc.activation_values("relu", 0.0),
        lambda: tc.hermite_coefficients("odd3", -1),
        lambda: tc.hermite_coefficients("tanh"),
        lambda: tc.kernel("odd3", 1.5),
        lambda: tc.kernel("x", 0.1),
        lambda: tc.feature_kurtosis("x"),
        lambda: tc.kernel_second_moment("odd3", 1),
        lambda: tc.kernel_second_moment("x", 8),
        lambda: tc.lowrank_accuracy(1, 8, 8),
        lambda: tc.lowrank_accuracy(10, 0, 8),
        lambda: tc.lowrank_accuracy(10, 8, 1),
        lambda: tc.mlp_accuracy(10, 8, 8, "x"),
        lambda: tc.mlp_accuracy(10, 8, 8, pairs=3),
        lambda: tc.mlp_accuracy(10, 8, 8, pairs=-1),
        lambda: tc.mlp_accuracy(10, 0, 8),
        lambda: tc.relu_accuracy(10, 8, eta=1.0),
        lambda: tc.relu_accuracy(10, 8, eta=0.0),
        lambda: tc.relu_accuracy(10, 8, embeddings="cube"),
        lambda: tc.relu_accuracy(1, 8),
        lambda: tc.predicted_accuracy(10, "dense", 4, 8),
        lambda: tc.predicted_accuracy(10, "mlp", None, 8),
        lambda: tc.predicted_accuracy(10, "multi", 4, 8),
        lambda: tc.capacity("mlp", 8, 8, accuracy=1.0),
        lambda: tc.capacity("mlp", 8, 8, accuracy=0.0),
        lambda: tc.capacity("x", 8, 8),
        lambda: tc.capacity("relu", None, 40, n_max=1e3),
        lambda: tc.capacity_law(0, 8),
        lambda: tc.capacity_law(8, 8, "relu"),
        lambda: tc.capacity_exponents("mlp", 1.0),
        lambda: tc.capacity_exponents("relu"),
        lambda: tc.relu_capacity_law(0.5),
        lambda: tc.relu_capacity_law(8, eta=2.0),
        lambda: tc.relu_capacity_law(8, accuracy=1.5),
    ],
)
def test_theory_value_errors(call):
    with pytest.raises(ValueError):
        call()


# ============================================================================ impl
def test_activation_matches_theory_and_is_normalised():
    t = torch.linspace(-3, 3, 13, dtype=torch.float64)
    for name in ic.ACTIVATIONS:
        assert np.allclose(ic.activation(name, t).numpy(), tc.activation_values(name, t.numpy()))
    g = torch.randn(400_000, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    for name in ic.ACTIVATIONS:
        assert float((ic.activation(name, g) ** 2).mean()) == pytest.approx(1.0, abs=0.02)


def test_recall_correct_against_brute_force_and_ties():
    g = torch.Generator().manual_seed(1)
    H, V = torch.randn(3, 7, 5, generator=g), torch.randn(3, 9, 5, generator=g)
    out = ic.recall_correct(H, V, offset=2, chunk=2)
    ref = (H @ V.transpose(1, 2)).argmax(-1) == torch.arange(2, 9)
    assert out.shape == (3, 7) and out.dtype == torch.bool and torch.equal(out, ref)
    Ht = torch.ones(1, 2, 1)
    Vt = torch.ones(1, 2, 1)  # all scores tie: counted as errors
    assert not ic.recall_correct(Ht, Vt).any()


def _population_ce(W_fn, param, N):
    """Population cross-entropy (z uniform, y = z) as a function of one weight matrix."""
    logits = W_fn(param)  # (N, M)
    return torch.nn.functional.cross_entropy(logits, torch.arange(N))


@given(hst.integers(3, 12), hst.integers(2, 6), hst.integers(4, 9), hst.floats(0.1, 5.0))
def test_lowrank_one_step_is_minus_eta_gradient(N, m, d, eta):
    W1, W2 = ic.lowrank_weights(N, m, d, 3, eta=eta, dtype=torch.float64)
    E = Embedding(N, d, 3, "gaussian", "e").full(dtype=torch.float64)[0]
    U = Embedding(N, d, 3, "gaussian", "u").full(dtype=torch.float64)[0]
    P = torch.zeros(m, d, dtype=torch.float64, requires_grad=True)
    loss = _population_ce(lambda X: E @ X.T @ W1[0] @ U.T, P, N)  # logits[z, y] = u_y^T W1^T X e_z
    (grad,) = torch.autograd.grad(loss, P)
    assert torch.allclose(W2[0], -eta * grad, atol=1e-12)


@given(hst.integers(3, 10), hst.integers(2, 8), hst.integers(4, 9), hst.sampled_from(ic.ACTIVATIONS))
def test_mlp_one_step_is_minus_eta_gradient(N, m, d, act):
    W1, W2 = ic.mlp_weights(N, m, d, 5, activation=act, eta=2.0, dtype=torch.float64)
    X = Embedding(N, d, 5, "sphere", "e").full(dtype=torch.float64)
    phi = ic.mlp_features(X, W2, act)[0]
    U = Embedding(N, d, 5, "gaussian", "u").full(dtype=torch.float64)[0]
    P = torch.zeros(d, m, dtype=torch.float64, requires_grad=True)
    loss = _population_ce(lambda A: phi @ A.T @ U.T, P, N)
    (grad,) = torch.autograd.grad(loss, P)
    assert torch.allclose(W1[0], -2.0 * grad, atol=1e-12)


def test_lowrank_accuracy_matches_explicit_scores():
    N, m, d, seeds = 40, 6, 16, (3, 4)
    W1, W2 = ic.lowrank_weights(N, m, d, seeds, dtype=torch.float64)
    E = Embedding(N, d, seeds, "gaussian", "e").full(dtype=torch.float64)
    U = Embedding(N, d, seeds, "gaussian", "u").full(dtype=torch.float64)
    scores = E @ (W1.transpose(1, 2) @ W2).transpose(1, 2) @ U.transpose(1, 2)  # u_y^T W1^T W2 e_z
    ref = (scores.argmax(-1) == torch.arange(N)).double().mean(1)
    acc = ic.lowrank_accuracy(N, m, d, seeds, dtype=torch.float64)
    assert acc.shape == (2,) and acc.dtype == torch.float64
    assert torch.allclose(acc, ref)


def test_mlp_accuracy_matches_explicit_scores():
    N, m, d, seeds = 30, 24, 8, (1, 2)
    W1, W2 = ic.mlp_weights(N, m, d, seeds, dtype=torch.float64)
    X = Embedding(N, d, seeds, "sphere", "e").full(dtype=torch.float64)
    U = Embedding(N, d, seeds, "gaussian", "u").full(dtype=torch.float64)
    scores = ic.mlp_features(X, W2) @ W1.transpose(1, 2) @ U.transpose(1, 2)
    ref = (scores.argmax(-1) == torch.arange(N)).double().mean(1)
    assert torch.allclose(ic.mlp_accuracy(N, m, d, seeds, dtype=torch.float64), ref)


def test_multi_inputs_and_accuracy():
    n, m, d, seeds = 5, 32, 8, (2,)
    x = ic._pair_inputs(n, d, seeds, torch.device("cpu"), torch.float64)
    E1 = Embedding(n, d, seeds, "gaussian", "e").full(dtype=torch.float64)[0]
    E2 = Embedding(n, d, seeds, "gaussian", "e2").full(dtype=torch.float64)[0]
    s = E1[1] + E2[3]
    assert torch.allclose(x[0, 1 * n + 3], s / s.norm())
    W1, W2 = ic.mlp_weights(n * n, m, d, seeds, pairs=n, dtype=torch.float64)
    U = Embedding(n * n, d, seeds, "gaussian", "u").full(dtype=torch.float64)
    ref = (
        ((ic.mlp_features(x, W2) @ W1.transpose(1, 2) @ U.transpose(1, 2)).argmax(-1) == torch.arange(n * n))
        .double()
        .mean(1)
    )
    assert torch.allclose(ic.multi_accuracy(n, m, d, seeds, dtype=torch.float64), ref)
    assert ic.multi_accuracy([4, 5], m, d, seeds, dtype=torch.float64).shape == (2, 1)


def test_relu_scores_brute_force():
    g = torch.Generator().manual_seed(3)
    E, U = (
        torch.randn(1, 6, 4, generator=g, dtype=torch.float64),
        torch.randn(1, 6, 4, generator=g, dtype=torch.float64),
    )
    out = ic.relu_scores(E[:, :2], E, U, 0.3)
    for i in range(2):
        for y in range(6):
            ref = sum(float(U[0, y] @ U[0, x]) * max(float(E[0, x] @ E[0, i]) - 0.3, 0.0) for x in range(6))
            assert float(out[0, i, y]) == pytest.approx(ref)


@pytest.mark.parametrize(
    "fn",
    [
        lambda N, s, **k: ic.lowrank_accuracy(N, 8, 16, s, **k),
        lambda N, s, **k: ic.mlp_accuracy(N, 32, 16, s, **k),
        lambda N, s, **k: ic.relu_accuracy(N, 10, s, **k),
    ],
)
def test_sweep_equals_single_batched_equals_looped_deterministic(fn):
    Ns = [20, 50]
    sweep = fn(Ns, (5, 6), dtype=torch.float64)
    assert sweep.shape == (2, 2) and sweep.dtype == torch.float64
    for i, N in enumerate(Ns):
        single = fn(N, (5, 6), dtype=torch.float64)
        assert torch.allclose(sweep[i], single)
        for j, s in enumerate((5, 6)):
            assert torch.allclose(fn(N, s, dtype=torch.float64)[0], single[j])  # batched == looped over seeds
    assert torch.equal(fn(Ns, (5, 6), dtype=torch.float64), sweep)  # deterministic
    assert fn(30, 5).dtype == torch.float64  # accuracy is float64 whatever the compute dtype
    # n_eval >= N is exact; n_eval < N is an estimate on the first tokens
    assert torch.allclose(fn(20, 5, n_eval=100, dtype=torch.float64), fn(20, 5, dtype=torch.float64))
    assert fn(50, 5, n_eval=10).shape == (1,)


def test_kernel_of_features_matches_theory():
    # (1/m) sum_j sigma(w_j.x) sigma(w_j.x') -> kappa(x.x') for many features
    d, m = 8, 200_000
    g = torch.Generator().manual_seed(5)
    x = torch.randn(2, d, generator=g, dtype=torch.float64)
    x = x / x.norm(dim=1, keepdim=True)
    rho = float(x[0] @ x[1])
    W2 = torch.randn(1, m, d, generator=g, dtype=torch.float64)
    phi = ic.mlp_features(x[None], W2, "odd3")[0]
    assert float(phi[0] @ phi[1]) == pytest.approx(float(tc.kernel("odd3", rho)), abs=0.01)
    assert float(phi[0] @ phi[0]) == pytest.approx(1.0, abs=0.01)


def test_lowrank_embedding_scales():
    W1, _ = ic.lowrank_weights(10, 64, 32, 0)
    assert W1.shape == (1, 64, 32)
    assert float(W1.var()) == pytest.approx(1 / 64, rel=0.1)
    W1m, W2m = ic.mlp_weights(9, 16, 8, (0, 1), pairs=3)
    assert W1m.shape == (2, 8, 16) and W2m.shape == (2, 16, 8)


@pytest.mark.parametrize(
    "call",
    [
        lambda: ic.activation("relu", torch.zeros(2)),
        lambda: ic.activation("odd3", [0.0]),
        lambda: ic.recall_correct(torch.zeros(2, 3), torch.zeros(2, 3, 4)),
        lambda: ic.recall_correct(torch.zeros(1, 3, 4), torch.zeros(1, 3, 5)),
        lambda: ic.recall_correct(torch.zeros(1, 3, 4), torch.zeros(1, 3, 4), offset=1),
        lambda: ic.recall_correct(torch.zeros(1, 3, 4), torch.zeros(1, 3, 4), chunk=0),
        lambda: ic.lowrank_weights(1, 4, 8, 0),
        lambda: ic.lowrank_weights(10, 0, 8, 0),
        lambda: ic.lowrank_weights(10, 4, 1, 0),
        lambda: ic.lowrank_weights(10, 4, 8, -1),
        lambda: ic.lowrank_weights(10, 4, 8, 0, eta=0.0),
        lambda: ic.lowrank_weights(10, 4, 8, 0, device="tpu"),
        lambda: ic.lowrank_weights(10, 4, 8, 0, dtype="float16"),
        lambda: ic.lowrank_accuracy([], 4, 8, 0),
        lambda: ic.lowrank_accuracy([10, 1], 4, 8, 0),
        lambda: ic.lowrank_accuracy(10, 4, 8, 0, n_eval=0),
        lambda: ic.lowrank_accuracy(10, 4, 8, 0, eta=-1.0),
        lambda: ic.mlp_weights(10, 4, 8, 0, activation="tanh"),
        lambda: ic.mlp_weights(10, 4, 8, 0, pairs=3),
        lambda: ic.mlp_weights(10, 0, 8, 0),
        lambda: ic.mlp_accuracy(10, 4, 8, 0, pairs=-1),
        lambda: ic.mlp_accuracy([9, 16], 4, 8, 0, pairs=3),
        lambda: ic.mlp_accuracy(10, 4, 8, 0, eta=0.0),
        lambda: ic.mlp_features(torch.zeros(1, 3, 4), torch.zeros(1, 5, 3)),
        lambda: ic.multi_accuracy(1, 4, 8, 0),
        lambda: ic.multi_accuracy(3, 4, 8, []),
        lambda: ic.relu_scores(torch.zeros(1, 2, 3), torch.zeros(1, 4, 3), torch.zeros(1, 5, 3), 0.5),
        lambda: ic.relu_scores(torch.zeros(1, 2, 3), torch.zeros(1, 4, 3), torch.zeros(1, 4, 3), float("nan")),
        lambda: ic.relu_accuracy(10, 8, 0, eta=1.0),
        lambda: ic.relu_accuracy(10, 8, 0, kind="orthonormal"),
        lambda: ic.relu_accuracy(10, 1, 0),
        lambda: ic.relu_accuracy(10, 8, 0, chunk=0),
    ],
)
def test_impl_value_errors(call):
    with pytest.raises(ValueError):
        call()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA not available")
def test_cuda_matches_cpu():
    for fn in (
        lambda dev: ic.lowrank_accuracy([20, 40], 8, 16, (1, 2), device=dev, dtype=torch.float64),
        lambda dev: ic.mlp_accuracy([20, 40], 32, 16, (1, 2), device=dev, dtype=torch.float64),
        lambda dev: ic.multi_accuracy([4, 6], 32, 16, (1, 2), device=dev, dtype=torch.float64),
        lambda dev: ic.relu_accuracy([20, 40], 10, (1, 2), device=dev, dtype=torch.float64),
    ):
        assert torch.allclose(fn("cuda").cpu(), fn("cpu"))
