"""Factual recall (000, 'Toy model of factual recall', 'How many parameters do we need?', 'Training
dynamics'): the sufficient sizes of a one-layer transformer, the fact count, and the p(a|r) predictor.

Sizes (Nichani et al., 2024, as stated in the talk, up to constants and log factors):

    attention + MLP (FR1):  H d_h >= c (S + R)  and  m d >= c S R
    attention only  (FR2):  d >= c (R + A_max)  and  H d_h >= c S
    facts (FR3):            S R;  trained parameters P = 4 H d_h d + 2 m d

Hallucination phase (FR4): a model that ignores the subject and answers with
p(a|r) = #{s : a*(s, r) = a} / S has cross-entropy E_r H(p(.|r)) = H(A|R) on the facts, and
KL(p(.|r) || p(.|r)) = 0; the uniform initial prediction over the R D attributes has loss log(R D).
"""

from __future__ import annotations

import numpy as np

from amemory.validate import check_array, check_float, check_int


def fact_count(S: int, R: int) -> int:
    """Number of facts S R."""
    return check_int("S", S, 1) * check_int("R", R, 1)


def parameter_count(d: int, H: int, d_head: int, m: int) -> int:
    """Trained parameters of the one-layer model: P = 4 H d_h d + 2 m d (W_Q, W_K, W_V, W_O, W_1, W_2)."""
    d, H, d_head, m = check_int("d", d, 1), check_int("H", H, 1), check_int("d_head", d_head, 1), check_int("m", m, 0)
    return 4 * H * d_head * d + 2 * m * d


def attention_mlp_sizes(S: int, R: int, d: int, c: float = 1.0) -> tuple[float, float]:
    """FR1 sufficient sizes at constant c: (H d_h, m) = (c (S + R), c S R / d)."""
    S, R, d = check_int("S", S, 1), check_int("R", R, 1), check_int("d", d, 1)
    c = check_float("c", c, 0.0, lo_open=True)
    return c * (S + R), c * S * R / d


def attention_only_sizes(S: int, R: int, A_max: int, c: float = 1.0) -> tuple[float, float]:
    """FR2 sufficient sizes at constant c: (d, H d_h) = (c (R + A_max), c S)."""
    S, R, A_max = check_int("S", S, 1), check_int("R", R, 1), check_int("A_max", A_max, 1)
    c = check_float("c", c, 0.0, lo_open=True)
    return c * (R + A_max), c * S


def relation_predictor(facts, D: int) -> np.ndarray:
    """p(a|r) = #{s : a*(s, r) = a} / S for facts a*(s, r) of shape (S, R) with values in [0, R D):
    shape (R, R D), rows sum to one (the 'hallucinating' predictor that ignores the subject)."""
    D = check_int("D", D, 2)
    f = check_array("facts", facts, ndim=2, dtype=np.int64)
    S, R = f.shape
    if f.min() < 0 or f.max() >= R * D:
        raise ValueError(f"facts values must lie in [0, {R * D - 1}]")
    p = np.zeros((R, R * D))
    np.add.at(p, (np.broadcast_to(np.arange(R), (S, R)), f), 1.0)
    return p / S


def conditional_entropy(p_r) -> float:
    """H(A|R) = mean_r sum_a -p(a|r) log p(a|r) (nats; relations uniform), the loss of the p(a|r) predictor."""
    p = check_array("p_r", p_r, ndim=2, nonneg=True)
    if not np.allclose(p.sum(1), 1.0):
        raise ValueError("p_r rows must sum to one")
    return float(-np.mean(np.sum(np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0), 1)))


def initial_loss(R: int, D: int) -> float:
    """Cross-entropy log(R D) of the uniform prediction (the symmetric initialisation W_OV = w_KQ = alpha)."""
    return float(np.log(check_int("R", R, 1) * check_int("D", D, 2)))


def kl_divergence(p, q) -> np.ndarray:
    """KL(p || q) = sum_a p log(p / q) over the last axis (0 log 0 = 0); q must be positive where p is."""
    p = check_array("p", p, nonneg=True)
    q = check_array("q", q, nonneg=True)
    if p.shape[-1] != q.shape[-1]:
        raise ValueError(f"p and q must share the last axis, got {p.shape} and {q.shape}")
    if np.any((p > 0) & (q <= 0)):
        raise ValueError("q must be positive wherever p is")
    ratio = np.where(p > 0, p / np.where(q > 0, q, 1.0), 1.0)
    return np.sum(np.where(p > 0, p * np.log(ratio), 0.0), -1)
