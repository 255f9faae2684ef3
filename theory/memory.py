"""Closed forms for associative memories W = sum_z q(z) u_{f*(z)} e_z^T with N(0, I/d) embeddings.

Scores gamma_{z,y} = u_y^T W e_z = sum_{z'} q(z') (u_y^T u_{f*(z')}) (e_{z'}^T e_z).

Exact moments (derived from E||e||^2 = 1, E||e||^4 = 1 + 2/d, E(e^T e')^2 = 1/d, and the
independence of the embeddings; all cross covariances vanish):

    E gamma_{z,y} = q(z) 1{y = f*(z)}
    Var gamma_{z,f*(z)} = q(z)^2 (4/d + 4/d^2) + (1 + 2/d)/d (S_{f*(z)} - q(z)^2) + (Q2 - S_{f*(z)})/d^2
    Var gamma_{z,y}     = q(z)^2 (1 + 2/d)/d   + (1 + 2/d)/d S_y                   + (Q2 - S_y - q(z)^2)/d^2,
                          for y != f*(z)

with S_y = sum_{z' : f*(z') = y} q(z')^2 and Q2 = sum_z q(z)^2. With q = 1 this is the slide's
bound |{f*(z') = y}|/d + |{f*(z') != y}|/d^2 (AM2) plus the self term.

Gaussian approximation of recall: treat the scores of one token as independent Gaussians with
these moments, so  P(recall z) = E_t[ prod_{y != f*(z)} Phi((q(z) + sqrt(v_c) t) / sqrt(v_y)) ].
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import log_ndtr, ndtri

from amemory.validate import (
    check_alloc,
    check_array,
    check_broadcast,
    check_choice,
    check_float,
    check_int,
    check_map,
    check_prob,
)

_T = np.linspace(-9.0, 9.0, 721)
_PHI_T = np.exp(-0.5 * _T**2) / np.sqrt(2 * np.pi) * (_T[1] - _T[0])


@dataclass(frozen=True)
class ScoreMoments:
    """Exact first two moments of the scores gamma_{z,y} = u_y^T W e_z (see the module docstring).

    E gamma_{z,f*(z)} = q(z),   Var gamma_{z,y} = B_y + a_z for y != f*(z), with
    B_y = (1 + 2/d)/d S_y + (Q2 - S_y)/d^2 and a_z = q(z)^2 ((1 + 2/d)/d - 1/d^2).

    Parameters
    ----------
    mean_correct : numpy.ndarray, shape (N,)
        E gamma_{z,f*(z)} = q(z).
    var_correct : numpy.ndarray, shape (N,)
        Var gamma_{z,f*(z)} = q(z)^2 (4/d + 4/d^2) + (1 + 2/d)/d (S_{f*(z)} - q(z)^2) + (Q2 - S_{f*(z)})/d^2.
    wrong_base : numpy.ndarray, shape (M,)
        B_y = (1 + 2/d)/d S_y + (Q2 - S_y)/d^2.
    wrong_self : numpy.ndarray, shape (N,)
        a_z = q(z)^2 ((1 + 2/d)/d - 1/d^2).
    """

    mean_correct: np.ndarray
    var_correct: np.ndarray
    wrong_base: np.ndarray
    wrong_self: np.ndarray

    def __post_init__(self):
        for name in ("mean_correct", "var_correct", "wrong_base", "wrong_self"):
            object.__setattr__(self, name, check_array(name, getattr(self, name), ndim=1))
        N = self.mean_correct.size
        for name in ("var_correct", "wrong_self"):
            if getattr(self, name).size != N:
                raise ValueError(f"{name} must have the shape of mean_correct, ({N},), got {getattr(self, name).shape}")
        for name in ("var_correct", "wrong_base", "wrong_self"):
            if np.any(getattr(self, name) < 0):
                raise ValueError(f"{name} must be non-negative (a variance)")

    def var_wrong(self, z, y) -> np.ndarray:
        """Variance of the wrong scores: Var gamma_{z,y} = B_y + a_z for y != f*(z).

        Parameters
        ----------
        z : array_like of int
            Token indices in [0, N).
        y : array_like of int
            Output indices in [0, M), broadcasting against ``z``; meaningful for y != f*(z) only.

        Returns
        -------
        numpy.ndarray
            wrong_base[y] + wrong_self[z], with the broadcast shape of ``z`` and ``y``.
        """
        z = check_array("z", z, dtype=np.int64)
        y = check_array("y", y, dtype=np.int64)
        check_broadcast("z and y", z, y)
        if z.min() < 0 or z.max() >= self.wrong_self.size:
            raise ValueError(f"z must index tokens in [0, {self.wrong_self.size - 1}]")
        if y.min() < 0 or y.max() >= self.wrong_base.size:
            raise ValueError(f"y must index outputs in [0, {self.wrong_base.size - 1}]")
        return self.wrong_base[y] + self.wrong_self[z]


def _check_memory(q, f, M, d):
    d = check_int("d", d, 1)
    M = check_int("M", M, 1)
    q = check_array("q", q, ndim=1)
    check_alloc("M", 8.0 * (M + q.size))
    f = check_map("f (of the length of q)", f, q.size, M)
    return q, f, M, d


def score_moments(q, f, M: int, d: int) -> ScoreMoments:
    """Exact mean and variance of the scores gamma_{z,y} of W = sum_z q(z) u_{f*(z)} e_z^T.

    E gamma_{z,y} = q(z) 1{y = f*(z)}
    Var gamma_{z,f*(z)} = q(z)^2 (4/d + 4/d^2) + (1 + 2/d)/d (S_{f*(z)} - q(z)^2) + (Q2 - S_{f*(z)})/d^2
    Var gamma_{z,y} = q(z)^2 (1 + 2/d)/d + (1 + 2/d)/d S_y + (Q2 - S_y - q(z)^2)/d^2,   y != f*(z),

    with S_y = sum_{z' : f*(z') = y} q(z')^2 and Q2 = sum_z q(z)^2 (N(0, I/d) embeddings).

    Parameters
    ----------
    q : array_like, shape (N,)
        Memory weights q(z), finite.
    f : array_like of int, shape (N,)
        The map f*: [N] -> [M], values in [0, M).
    M : int
        Number of outputs, M >= 1.
    d : int
        Embedding dimension, d >= 1.

    Returns
    -------
    ScoreMoments
        The moments (correct-score mean and variance per token, wrong-score variance as B_y + a_z).
    """
    q, f, M, d = _check_memory(q, f, M, d)
    q2 = q**2
    S = np.bincount(f, weights=q2, minlength=M)
    Q2 = q2.sum()
    k = (1 + 2 / d) / d
    base = k * S + (Q2 - S) / d**2
    Sc = S[f]
    var_c = q2 * (4 / d + 4 / d**2) + k * (Sc - q2) + (Q2 - Sc) / d**2
    return ScoreMoments(mean_correct=q.copy(), var_correct=var_c, wrong_base=base, wrong_self=q2 * (k - 1 / d**2))


def score_variance(q, f, M: int, d: int, z, y) -> np.ndarray:
    """Exact Var gamma_{z,y} for arrays of token indices ``z`` and outputs ``y``.

    Var gamma_{z,y} = var_correct[z] if y = f*(z), else B_y + a_z (see :class:`ScoreMoments`).

    Parameters
    ----------
    q : array_like, shape (N,)
        Memory weights q(z), finite.
    f : array_like of int, shape (N,)
        The map f*: [N] -> [M], values in [0, M).
    M : int
        Number of outputs, M >= 1.
    d : int
        Embedding dimension, d >= 1.
    z : array_like of int
        Token indices in [0, N).
    y : array_like of int
        Output indices in [0, M), same shape as ``z``.

    Returns
    -------
    numpy.ndarray
        Var gamma_{z,y}, with the shape of ``z``.
    """
    mom = score_moments(q, f, M, d)
    z = check_array("z", z, dtype=np.int64)
    y = check_array("y", y, dtype=np.int64)
    q_arr = np.asarray(q, dtype=float)
    f_arr = np.asarray(f)
    if z.shape != y.shape:
        raise ValueError(f"z and y must have the same shape, got {z.shape} and {y.shape}")
    if z.min() < 0 or z.max() >= q_arr.size:
        raise ValueError(f"z must index tokens in [0, {q_arr.size - 1}]")
    if y.min() < 0 or y.max() >= M:
        raise ValueError(f"y must index outputs in [0, {M - 1}]")
    return np.where(f_arr[z] == y, mom.var_correct[z], mom.var_wrong(z, y))


def score_variance_bound(n_same: np.ndarray, n_other: np.ndarray, d: int) -> np.ndarray:
    """The slide's order of magnitude of the score variance (AM2, q = 1).

    Var gamma_{z,y} ~ |{z' : f*(z') = y}|/d + |{z' : f*(z') != y}|/d^2.

    Parameters
    ----------
    n_same : array_like
        |{z' : f*(z') = y}|, the number of tokens mapped to y (>= 0).
    n_other : array_like
        |{z' : f*(z') != y}|, the number of the other tokens (>= 0), broadcasting against ``n_same``.
    d : int
        Embedding dimension, d >= 1.

    Returns
    -------
    numpy.ndarray
        n_same/d + n_other/d^2, float64, with the broadcast shape.
    """
    d = check_int("d", d, 1)
    n_same = check_array("n_same", n_same, nonneg=True)
    n_other = check_array("n_other", n_other, nonneg=True)
    check_broadcast("n_same and n_other", n_same, n_other)
    return n_same / d + n_other / d**2


def _norm_nodes(d: int, k: int):
    """Quantile nodes of ||x||^2 ~ chi2_d / d (equal weights), or the point 1 when k == 0."""
    from scipy.stats import chi2

    if k == 0:
        return np.ones(1), np.ones(1)
    return chi2.ppf((np.arange(k) + 0.5) / k, d) / d, np.full(k, 1.0 / k)


def recall_probability(q, f, M: int, d: int, norms: int = 0, resolution: float = 0.0) -> np.ndarray:
    """Gaussian approximation of P(argmax_y gamma_{z,y} = f*(z)) for every token, shape (N,).

    norms = 0: the scores of token z are independent Gaussians with the exact moments of
    :func:`score_moments`.
    norms = k > 0: the same, conditionally on a = ||e_z||^2 and b = ||u_{f*(z)}||^2 (k quantile
    nodes each of chi2_d/d), then averaged over (a, b). Conditioning keeps the common scaling of the
    correct score (mean q a b) and of the self-interference a q u_y^T u_c, which the unconditional
    version treats as independent noise; it is the better prediction at small d. Given (a, b):

        Var gamma_c = a b^2 (S_c - q^2)/d + a b (Q2 - S_c)/d^2
        Var gamma_y = q^2 a^2 b/d + (1 + 2/d) a S_y/d + a b (S_c - q^2)/d^2 + a (Q2 - S_y - S_c)/d^2.

    Tokens sharing (q(z), S_{f*(z)}) share the answer. ``resolution`` > 0 also groups tokens whose q
    differ by less than resolution x (the smallest wrong-score sd), which moves each probability by about
    that much and makes Zipf weightings cheap. Cost O(#groups x #distinct S_y x 721 x max(1, k^2)).

    P(recall z) = E_t[ prod_{y != f*(z)} Phi((mu_c + sqrt(v_c) t) / sqrt(v_y)) ],   t ~ N(0, 1),

    with mu_c = q(z) (norms = 0) or q(z) a b (norms > 0), v_c = Var gamma_{z,f*(z)}, v_y = Var gamma_{z,y}
    (given (a, b) when norms > 0, then averaged over the k^2 nodes). With M = 1 every token is recalled.

    Parameters
    ----------
    q : array_like, shape (N,)
        Memory weights q(z), finite.
    f : array_like of int, shape (N,)
        The map f*: [N] -> [M], values in [0, M).
    M : int
        Number of outputs, M >= 1.
    d : int
        Embedding dimension, d >= 1.
    norms : int, default 0
        Number k of chi2_d/d quantile nodes per norm, 0 <= norms <= 64 (0: unconditional moments).
    resolution : float, default 0.0
        Grouping resolution of q in units of the smallest wrong-score sd, 0 <= resolution <= 0.1
        (0: tokens are grouped only when their q and S_{f*(z)} agree exactly).

    Returns
    -------
    numpy.ndarray
        Shape (N,): P(recall z) in [0, 1].
    """
    q, f, M, d = _check_memory(q, f, M, d)
    norms = check_int("norms", norms, 0, 64)
    resolution = check_float("resolution", resolution, 0.0, 0.1)
    if M == 1:
        return np.ones_like(q)
    q2 = q**2
    S = np.bincount(f, weights=q2, minlength=M)
    Q2 = q2.sum()
    s_vals, s_idx = np.unique(np.round(S, 14), return_inverse=True)
    s_idx = s_idx.reshape(-1)
    if s_vals.size > 512:  # compress the outputs into 256 quantile bins of S_y
        edges = np.quantile(S, np.linspace(0, 1, 257))
        s_idx = np.clip(np.searchsorted(edges, S, side="right") - 1, 0, 255)
        s_vals = np.array([S[s_idx == i].mean() if np.any(s_idx == i) else 0.0 for i in range(256)])
    counts = np.bincount(s_idx, minlength=s_vals.size).astype(float)
    k1 = (1 + 2 / d) / d
    if resolution > 0:
        sd_ref = np.sqrt(max(float((k1 * s_vals + (Q2 - s_vals) / d**2).min()), 1e-300))
        qkey = np.round(q / (resolution * sd_ref))
    else:
        qkey = q
    keys = np.stack([qkey, s_idx[f].astype(float)], 1)
    _, inv = np.unique(keys, axis=0, return_inverse=True)
    inv = inv.reshape(-1)
    G = inv.max() + 1
    gcount = np.bincount(inv).astype(float)
    qg = np.bincount(inv, weights=q) / gcount  # (G,) group means of q
    cb = np.zeros(G, dtype=int)
    cb[inv] = s_idx[f]  # the S-bin of the right output of each group
    Sc = s_vals[cb]
    a_n, w_n = _norm_nodes(d, norms)
    a = np.repeat(a_n, a_n.size)[None, :]  # (1, K2): ||e_z||^2
    b = np.tile(a_n, a_n.size)[None, :]  # ||u_c||^2
    w = np.outer(w_n, w_n).ravel()
    qq, Scc = qg[:, None], Sc[:, None]
    if norms == 0:
        mean_c = qq
        var_c = qq**2 * (4 / d + 4 / d**2) + k1 * (Scc - qq**2) + (Q2 - Scc) / d**2  # (G, 1)
        var_w = (
            (qq**2 * k1)[..., None] + (k1 * s_vals + (Q2 - s_vals) / d**2)[None, None, :] - (qq**2 / d**2)[..., None]
        )
    else:
        mean_c = qq * a * b  # (G, K2)
        var_c = a * b**2 * (Scc - qq**2) / d + a * b * (Q2 - Scc) / d**2
        base = (qq**2 * a**2 * b / d + a * b * (Scc - qq**2) / d**2 + a * (Q2 - Scc) / d**2)[..., None]
        var_w = base + (k1 * a)[..., None] * s_vals + (a / d**2)[..., None] * (-s_vals)  # (G, K2, K)
    cnt = np.broadcast_to(counts, (G, counts.size)).copy()
    cnt[np.arange(G), cb] -= 1  # y ranges over the outputs other than f*(z)
    out = np.empty(G)
    per = var_w.shape[1] * _T.size * s_vals.size
    step = max(1, (1 << 23) // per)
    for i in range(0, G, step):
        j = min(i + step, G)
        m = mean_c[i:j, :, None] + np.sqrt(np.maximum(var_c[i:j], 0.0))[:, :, None] * _T  # (g, K2, T)
        sd_w = np.sqrt(np.maximum(var_w[i:j], 1e-300))  # (g, K2, K)
        logphi = log_ndtr(m[..., None] / sd_w[:, :, None, :])  # (g, K2, T, K)
        inner = np.exp(np.einsum("gatk,gk->gat", logphi, cnt[i:j])) @ _PHI_T  # (g, K2)
        out[i:j] = inner @ w if norms else inner[:, 0]
    return np.clip(out[inv], 0.0, 1.0)


def predicted_accuracy(q, f, M: int, d: int, p=None, norms: int = 0, resolution: float = 0.0) -> float:
    """Predicted population accuracy of the memory under the Gaussian approximation.

    A = sum_z p(z) P(recall z)   (p uniform, i.e. the mean of P(recall z), when p is None);
    P(recall z) is :func:`recall_probability`.

    Parameters
    ----------
    q : array_like, shape (N,)
        Memory weights q(z), finite.
    f : array_like of int, shape (N,)
        The map f*: [N] -> [M], values in [0, M).
    M : int
        Number of outputs, M >= 1.
    d : int
        Embedding dimension, d >= 1.
    p : array_like, shape (N,), optional
        Token distribution: non-negative, summing to one; None: uniform.
    norms : int, default 0
        Quantile nodes per norm, 0 <= norms <= 64 (see :func:`recall_probability`).
    resolution : float, default 0.0
        Grouping resolution, 0 <= resolution <= 0.1 (see :func:`recall_probability`).

    Returns
    -------
    float
        The predicted accuracy, in [0, 1].
    """
    pr = recall_probability(q, f, M, d, norms, resolution)
    if p is None:
        return float(pr.mean())
    p = check_prob("p", p, shape=pr.shape)
    return float(p @ pr)


def target_map(N: int, kind: str, M: int | None = None) -> tuple[np.ndarray, int]:
    """The target map f* and the number of outputs M of the capacity experiments.

    injective: f*(z) = z, M = N;   mod: f*(z) = z mod M, M = 2 by default.

    Parameters
    ----------
    N : int
        Number of tokens, N >= 1.
    kind : {'injective', 'mod'}
        The kind of map.
    M : int, optional
        Number of outputs for 'mod', M >= 1 (default 2); ignored for 'injective'.

    Returns
    -------
    tuple of (numpy.ndarray, int)
        (f*, M): f* an integer array of shape (N,) with values in [0, M).
    """
    N = check_int("N", N, 1)
    check_choice("kind", kind, ("injective", "mod"))
    check_alloc("N", 8.0 * N)
    if M is not None:
        M = check_int("M", M, 1, 2**62)
    if kind == "injective":
        return np.arange(N), N
    M = 2 if M is None else check_int("M", M, 1)
    return np.arange(N) % M, M


#: norm nodes used by the capacity predictions (conditioning on ||e_z||^2 and ||u_c||^2)
CAPACITY_NORMS = 12


def capacity_accuracy(N: int, d: int, kind: str, M: int | None = None) -> float:
    """Gaussian-predicted accuracy of the memory with q = 1 storing N associations of the given kind.

    A(N, d) = (1/N) sum_z P(recall z),   q = 1,   f*, M = :func:`target_map` (N, kind, M),

    conditioned on the embedding norms with CAPACITY_NORMS nodes (see :func:`recall_probability`).

    Parameters
    ----------
    N : int
        Number of associations, N >= 1.
    d : int
        Embedding dimension, d >= 1.
    kind : {'injective', 'mod'}
        The kind of map (see :func:`target_map`).
    M : int, optional
        Number of outputs for 'mod', M >= 1 (default 2); ignored for 'injective'.

    Returns
    -------
    float
        The predicted accuracy, in [0, 1].
    """
    f, M_ = target_map(N, kind, M)
    return predicted_accuracy(np.ones(N), f, M_, d, norms=CAPACITY_NORMS)


def capacity_threshold(d: int, kind: str, accuracy: float = 0.9, M: int | None = None) -> float:
    """N*(d): the number of associations at which the Gaussian-predicted accuracy falls to ``accuracy``.

    Solved by bisection in log N over integers (accuracy decreases with N):

    N*(d) solves A(N*, d) = accuracy, A = :func:`capacity_accuracy`, log-linearly interpolated between the
    last two integers of the bisection.

    Parameters
    ----------
    d : int
        Embedding dimension, 1 <= d <= 20000 (N* then stays below the search's 1e8).
    kind : {'injective', 'mod'}
        The kind of map (see :func:`target_map`).
    accuracy : float, default 0.9
        Target accuracy, 0 < accuracy < 1.
    M : int, optional
        Number of outputs for 'mod', M >= 1 (default 2); ignored for 'injective'.

    Returns
    -------
    float
        N*(d) (searched below N = 1e8; ValueError beyond).
    """
    d = check_int("d", d, 1, 20_000)
    accuracy = check_float("accuracy", accuracy, 0.0, 1.0, lo_open=True, hi_open=True)
    check_choice("kind", kind, ("injective", "mod"))
    if M is not None:
        M = check_int("M", M, 1)
    lo, hi = 2, 4
    while capacity_accuracy(hi, d, kind, M) > accuracy:
        lo, hi = hi, hi * 2
        if hi > 1e8:
            raise ValueError(f"no threshold below N=1e8 for d={d}, accuracy={accuracy}")
    while hi - lo > 1 and hi / lo > 1.002:
        mid = int(round(np.sqrt(lo * hi)))
        mid = min(max(mid, lo + 1), hi - 1)
        if capacity_accuracy(mid, d, kind, M) > accuracy:
            lo = mid
        else:
            hi = mid
    a_lo, a_hi = capacity_accuracy(lo, d, kind, M), capacity_accuracy(hi, d, kind, M)
    t = (a_lo - accuracy) / max(a_lo - a_hi, 1e-300)
    return float(np.exp(np.log(lo) + t * (np.log(hi) - np.log(lo))))


def capacity_asymptotic(d, kind: str, accuracy: float = 0.9) -> np.ndarray:
    """Leading-order capacity.

    injective: the wrong scores have sd ~ sqrt(N)/d and their max over N outputs ~ sqrt(2 log N) sd,
        so recall holds while N * 2 log N <= d^2: N* log N* = d^2 / 2 (exponent 2 up to the log).
    mod (M = 2): the margin is 1 + N(0, N/d), so accuracy = Phi(sqrt(d/N)) and
        N* = d / Phi^{-1}(accuracy)^2 (exponent exactly 1).

    Parameters
    ----------
    d : array_like
        Embedding dimension(s), finite, d >= 1 (a scalar or a 1-D array).
    kind : {'injective', 'mod'}
        The kind of map.
    accuracy : float, default 0.9
        Target accuracy, 0 < accuracy < 1 (used by 'mod' only).

    Returns
    -------
    numpy.ndarray
        Shape (n_d,): N* for each d (injective: the fixed point of N = d^2 / (2 log N)).
    """
    check_choice("kind", kind, ("injective", "mod"))
    accuracy = check_float("accuracy", accuracy, 0.0, 1.0, lo_open=True, hi_open=True)
    d = check_array("d", np.atleast_1d(d), ndim=1)
    if np.any(d < 1):
        raise ValueError("d must be >= 1")
    if kind == "mod":
        return d / ndtri(accuracy) ** 2
    target = d**2 / 2.0
    n = np.maximum(target / np.log(np.maximum(target, 3.0)), 2.0)
    for _ in range(60):  # fixed point of n = target / log n
        n = target / np.log(np.maximum(n, 2.0))
    return n


def capacity_exponent(d, kind: str) -> np.ndarray:
    """Local exponent of the leading-order capacity law (:func:`capacity_asymptotic`).

    d log N* / d log d = 2 / (1 + 1/log N*)   (injective, from N* log N* = d^2/2),   = 1   (mod).

    Parameters
    ----------
    d : array_like
        Embedding dimension(s), d >= 1 (a scalar or a 1-D array).
    kind : {'injective', 'mod'}
        The kind of map.

    Returns
    -------
    numpy.ndarray
        Shape (n_d,): the local exponent at each d.
    """
    check_choice("kind", kind, ("injective", "mod"))
    if kind == "mod":
        d = check_array("d", np.atleast_1d(d) if np.ndim(d) == 0 else d, ndim=1)
        if np.any(d < 1):
            raise ValueError("d must be >= 1")
        return np.ones_like(d)
    n = capacity_asymptotic(d, "injective")
    return 2.0 / (1.0 + 1.0 / np.log(n))


def gaussian_accuracy(q, f, M: int, d: int, p=None, norms: int = 0, resolution: float = 0.0) -> float:
    """Deprecated alias of :func:`predicted_accuracy` (kept for one release).

    Parameters
    ----------
    q, f, M, d, p, norms, resolution
        As in :func:`predicted_accuracy`.

    Returns
    -------
    float
        ``predicted_accuracy(q, f, M, d, p, norms, resolution)``.
    """
    import warnings

    warnings.warn(
        "theory.memory.gaussian_accuracy is deprecated; use theory.memory.predicted_accuracy",
        DeprecationWarning,
        stacklevel=2,
    )
    return predicted_accuracy(q, f, M, d, p, norms, resolution)
