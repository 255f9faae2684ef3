"""Unit tests of theory.gradients and impl.gradients."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from impl.gradients import autograd_gradient, cross_entropy, one_sgd_step, one_step_memory
from theory import gradients as tg


def _problem(n=5, M=3, d=4, seed=0):
    rng = np.random.default_rng(seed)
    P = rng.random((n, M))
    return rng.normal(size=(d, d)), rng.normal(size=(n, d)), rng.normal(size=(M, d)), P / P.sum()


def test_cross_entropy_theory_equals_impl():
    W, X, U, P = _problem()
    t = lambda a: torch.tensor(a)  # noqa: E731
    assert abs(tg.cross_entropy(W, X, U, P) - float(cross_entropy(t(W), t(X), t(U), t(P)))) < 1e-12
    pw = tg.model_probs(W, X, U)
    assert pw.shape == (5, 3) and np.allclose(pw.sum(1), 1)


def test_cross_entropy_stable_for_huge_logits():
    W, X, U, P = _problem()
    assert np.isfinite(tg.cross_entropy(W * 1e6, X, U, P))
    assert torch.isfinite(cross_entropy(torch.tensor(W * 1e6), torch.tensor(X), torch.tensor(U), torch.tensor(P)))


def test_one_step_memory_shapes_and_batched_equals_looped():
    f = torch.arange(10) % 4
    W1, E, U = one_step_memory(f, 4, 8, (0, 1), eta=2.0, dtype="float64")
    assert W1.shape == (2, 8, 8) and E.shape == (2, 10, 8) and U.shape == (2, 4, 8) and W1.dtype == torch.float64
    W1b, _, _ = one_step_memory(f, 4, 8, (1,), eta=2.0, dtype="float64")
    assert torch.allclose(W1[1], W1b[0], atol=1e-14)
    # closed form of the step (GM2): W_1 = eta/N sum_z (u_f(z) - mean u) e_z^T
    ref = 2.0 / 10 * torch.einsum("szi,szj->sij", U[:, f] - U.mean(1, keepdim=True), E)
    assert torch.allclose(W1, ref, atol=1e-12)


def test_one_sgd_step_counts_and_closed_form():
    f = torch.arange(6) % 2
    p = torch.tensor([0.4, 0.2, 0.15, 0.1, 0.1, 0.05], dtype=torch.float64)
    W1, E, U, c = one_sgd_step(f, 2, 5, p, 1000, (3,), eta=1.0, dtype="float64")
    assert c.shape == (1, 6) and float(c.sum()) == 1000
    ref = torch.einsum("sz,szi,szj->sij", c / 1000, U[:, f] - U.mean(1, keepdim=True), E)
    assert torch.allclose(W1, ref, atol=1e-12)


def test_theory_one_step_predictions():
    s = tg.one_step_scores(np.arange(4), 4, 2.0)
    assert np.allclose(s, 0.5 * (np.eye(4) - 0.25))
    assert np.allclose(tg.one_step_sgd_weights(np.array([3.0, 1.0]), 2.0), [1.5, 0.5])
    assert np.allclose(tg.noisy_one_step_scores(3, 3.0), np.eye(3) - 1 / 3)


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: tg.gradient_lemma(*_problem()[:3], np.ones((5, 3))), "p_joint"),
        (lambda: tg.gradient_lemma(np.ones((3, 3)), *_problem()[1:]), "shapes"),
        (lambda: tg.gradient_noisy(_problem()[0], _problem()[1][:, :2], *_problem()[2:]), "shapes"),
        (lambda: tg.cross_entropy(*_problem()[:3], -_problem()[3]), "p_joint"),
        (lambda: tg.one_step_scores(np.arange(3), 3, -1.0), "eta"),
        (lambda: tg.one_step_scores(np.arange(3), 2, 1.0), "f"),
        (lambda: tg.one_step_scores(np.arange(3), 3, 1.0, p=np.ones(2)), "p"),
        (lambda: tg.one_step_sgd_weights(np.zeros(3), 1.0), "counts"),
        (lambda: tg.one_step_sgd_weights(np.ones(3), 0.0), "eta"),
        (lambda: tg.noisy_one_step_scores(0, 1.0), "N"),
        (lambda: one_step_memory(torch.arange(3), 2, 4, 0), "f"),
        (lambda: one_step_memory(torch.arange(3), 3, 0, 0), "d"),
        (lambda: one_step_memory(torch.arange(3), 3, 4, 0, eta=-1.0), "eta"),
        (lambda: one_sgd_step(torch.arange(3), 3, 4, torch.ones(3) / 3, 0, 0), "batch"),
        (lambda: one_sgd_step(torch.arange(3), 3, 4, torch.ones(2) / 2, 5, 0), "p"),
        (lambda: cross_entropy(torch.zeros(3, 3), torch.zeros(2, 4), torch.zeros(2, 3), torch.zeros(2, 2)), "shapes"),
        (lambda: cross_entropy(torch.zeros(3, 3), torch.zeros(2, 3), torch.zeros(2, 3), -torch.ones(2, 2)), "p_joint"),
    ],
)
def test_gradient_errors(call, name):
    with pytest.raises(ValueError, match=name):
        call()


def test_autograd_gradient_does_not_touch_input():
    W = torch.zeros(3, 3, dtype=torch.float64)
    g = autograd_gradient(
        W, torch.eye(3, dtype=torch.float64), torch.eye(3, dtype=torch.float64), torch.eye(3, dtype=torch.float64) / 3
    )
    assert not W.requires_grad and g.shape == (3, 3)
