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

import math

import numpy as np

from amemory.validate import check_alloc, check_array, check_float, check_int


def fact_count(S: int, R: int) -> int:
    """Number of facts of the factual-recall task (FR3).

    #facts = S R   (one attribute a*(s, r) per subject s and relation r).

    Parameters
    ----------
    S : int
        Number of subjects, S >= 1.
    R : int
        Number of relations, R >= 1.

    Returns
    -------
    int
        S R.
    """
    return check_int("S", S, 1) * check_int("R", R, 1)


def parameter_count(d: int, H: int, d_head: int, m: int) -> int:
    """Number of trained parameters of the one-layer attention + MLP model (FR3).

    P = 4 H d_h d + 2 m d   (W_Q, W_K, W_V, W_O: H d_h d each; W_1, W_2: m d each).

    Parameters
    ----------
    d : int
        Embedding dimension, d >= 1.
    H : int
        Number of attention heads, H >= 1.
    d_head : int
        Head dimension d_h, d_head >= 1.
    m : int
        MLP width, m >= 0 (0: attention only).

    Returns
    -------
    int
        P.
    """
    d, H, d_head, m = check_int("d", d, 1), check_int("H", H, 1), check_int("d_head", d_head, 1), check_int("m", m, 0)
    return 4 * H * d_head * d + 2 * m * d


def attention_mlp_sizes(S: int, R: int, d: int, c: float = 1.0) -> tuple[float, float]:
    """Sufficient sizes of the attention + MLP model (FR1), at the constant c.

    H d_h = c (S + R),   m = c S R / d   (from H d_h >= c (S + R) and m d >= c S R).

    Parameters
    ----------
    S : int
        Number of subjects, S >= 1.
    R : int
        Number of relations, R >= 1.
    d : int
        Embedding dimension, d >= 1.
    c : float, default 1.0
        The constant of the bounds, c > 0.

    Returns
    -------
    tuple of (float, float)
        (H d_h, m) = (c (S + R), c S R / d).
    """
    S, R, d = check_int("S", S, 1), check_int("R", R, 1), check_int("d", d, 1)
    c = check_float("c", c, 0.0, lo_open=True)
    return c * (S + R), c * S * R / d


def attention_only_sizes(S: int, R: int, A_max: int, c: float = 1.0) -> tuple[float, float]:
    """Sufficient sizes of the attention-only model (FR2), at the constant c.

    d = c (R + A_max),   H d_h = c S   (from d >= c (R + A_max) and H d_h >= c S).

    Parameters
    ----------
    S : int
        Number of subjects, S >= 1.
    R : int
        Number of relations, R >= 1.
    A_max : int
        Largest number of attributes of one relation, A_max >= 1.
    c : float, default 1.0
        The constant of the bounds, c > 0.

    Returns
    -------
    tuple of (float, float)
        (d, H d_h) = (c (R + A_max), c S).
    """
    S, R, A_max = check_int("S", S, 1), check_int("R", R, 1), check_int("A_max", A_max, 1)
    c = check_float("c", c, 0.0, lo_open=True)
    return c * (R + A_max), c * S


def relation_predictor(facts, D: int) -> np.ndarray:
    """The 'hallucinating' predictor p(a|r) that ignores the subject (FR4).

    p(a|r) = #{s : a*(s, r) = a} / S,   r in [0, R),   a in [0, R D).

    Parameters
    ----------
    facts : array_like of int, shape (S, R)
        The facts a*(s, r): the attribute of subject s for relation r, values in [0, R D).
    D : int
        Number of attributes per relation, D >= 2 (R D attributes in all).

    Returns
    -------
    numpy.ndarray
        Shape (R, R D), float64; row r is p(.|r) and sums to one.
    """
    D = check_int("D", D, 2)
    f = check_array("facts", facts, ndim=2, dtype=np.int64)
    check_alloc("D", 8.0 * f.shape[1] * D)
    S, R = f.shape
    if f.min() < 0 or f.max() >= R * D:
        raise ValueError(f"facts values must lie in [0, {R * D - 1}]")
    p = np.zeros((R, R * D))
    np.add.at(p, (np.broadcast_to(np.arange(R), (S, R)), f), 1.0)
    return p / S


def conditional_entropy(p_r) -> float:
    """Conditional entropy H(A|R), the cross-entropy of the p(a|r) predictor on the facts (FR4).

    H(A|R) = (1/R) sum_r sum_a -p(a|r) log p(a|r)   (nats; relations uniform; 0 log 0 = 0).

    Parameters
    ----------
    p_r : array_like, shape (R, A)
        Conditional distributions p(a|r): non-negative, finite, each row summing to one.

    Returns
    -------
    float
        H(A|R) in nats.
    """
    p = check_array("p_r", p_r, ndim=2, nonneg=True)
    if not np.allclose(p.sum(1), 1.0):
        raise ValueError("p_r rows must sum to one")
    return float(-np.mean(np.sum(np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0), 1)))


def initial_loss(R: int, D: int) -> float:
    """Initial loss: the cross-entropy of the uniform prediction over the R D attributes.

    L_0 = log(R D)   (the symmetric initialisation W_OV = w_KQ = alpha predicts uniformly).

    Parameters
    ----------
    R : int
        Number of relations, R >= 1.
    D : int
        Number of attributes per relation, D >= 2.

    Returns
    -------
    float
        log(R D) in nats.
    """
    return math.log(check_int("R", R, 1)) + math.log(check_int("D", D, 2))


def kl_divergence(p, q) -> np.ndarray:
    """Kullback-Leibler divergence along the last axis.

    KL(p || q) = sum_a p(a) log(p(a) / q(a))   (0 log 0 = 0).

    Parameters
    ----------
    p : array_like, shape (..., A)
        Non-negative, finite weights (usually distributions).
    q : array_like, shape (..., A)
        Non-negative, finite weights with the last axis of ``p``, positive wherever ``p`` is; the leading
        axes broadcast against those of ``p``.

    Returns
    -------
    numpy.ndarray
        KL(p || q) in nats over the broadcast leading axes (a numpy scalar for 1-D inputs).
    """
    p = check_array("p", p, nonneg=True)
    q = check_array("q", q, nonneg=True)
    if p.shape[-1] != q.shape[-1]:
        raise ValueError(f"p and q must share the last axis, got {p.shape} and {q.shape}")
    if np.any((p > 0) & (q <= 0)):
        raise ValueError("q must be positive wherever p is")
    ratio = np.where(p > 0, p / np.where(q > 0, q, 1.0), 1.0)
    return np.sum(np.where(p > 0, p * np.log(ratio), 0.0), -1)
