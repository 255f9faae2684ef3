"""Scaling laws of associative memories trained on Zipf data (claims SL1-SL8).

Setting: tokens x in [N] with p(x) ∝ x^-alpha, a map f*: [N] -> [M], Gaussian embeddings in R^d
and the memory W = sum_x q(x) u_{f*(x)} e_x^T built from T samples. The population error is
E(q) = sum_x p(x) 1{argmax_y u_y^T W e_x != f*(x)}.

Exponents (error ~ d^{-a} + T^{-b}, 000 'Scaling laws with finite capacity', 001 'Instantiation'):

    scheme        a (in d)                 b (in T)
    p             (alpha-1)/(2 alpha)      (alpha-1)/alpha   (q = p, one large-batch step)
    threshold     alpha-1                  (alpha-1)/alpha   (q = 1{x <= d/c})
    top / seen_s  alpha-1                  (alpha-1)/alpha   (top d/c seen tokens, seen >= s times)
    counts        (alpha-1)/(2 alpha)      (alpha-1)/alpha
    seen          inf (d^-k for all k,     (alpha-1)/alpha   (q = 1{x seen}, only when d >> N)
                  when d >> N)
    infinite      0 (no d)                 (alpha-1)/alpha   (Hutter: unseen mass)

Derivation of a (the 'approximation guarantee', SL7). For a map into few outputs (M small) the
wrong score of x on output y is sum_{z: f*(z)=y} q(z) e_z^T e_x + O(1/d), a Gaussian of variance
~ S_y/d with S_y ~ ||q||^2/M, against the signal q(x). Recall fails when q(x) < c' ||q||/sqrt(d):

    reading 2:  E = p({x : q(x)^2 d < c ||q||_2^2})     (scale-invariant in q, like the argmax)
    reading 1:  E = p({x : q(x) d < c ||q||_2^2})       (as written on the 001 slide)

For q = p, ||p||^2 = O(1): reading 2 keeps x < (d/c)^{1/(2 alpha)} and gives a = (alpha-1)/(2 alpha)
(the SL2 exponent); reading 1 keeps x < (d/c)^{1/alpha} and gives a = (alpha-1)/alpha. For
indicators q = 1{x in A} both readings say: all of A is recalled iff |A| < d/c.

Finite samples (SL1): the expected unseen mass is exactly sum_x p(x)(1 - p(x))^T, approximated by
sum_x p(x) e^{-T p(x)} ~ Gamma(1 - 1/alpha) / (alpha H^{1/alpha}) T^{-(alpha-1)/alpha}.

Tokens that the memory does not store (q(x) = 0) still get an argmax over pure noise, which is
right with probability about 1/M: the functions take ``M`` to include this chance factor (1 - 1/M).
"""

from __future__ import annotations

import numpy as np

from amemory.validate import check_alloc, check_array, check_choice, check_float, check_int, check_prob

from .memory import recall_probability
from .zipf import zipf_pmf

SCHEMES = ("p", "threshold", "top", "seen_s", "counts", "seen", "infinite")
READINGS = ("linear", "square")  # reading 1 (as written: q d < c||q||^2), reading 2 (q^2 d < c||q||^2)


def error_exponent(scheme: str, alpha: float, variable: str = "d") -> float:
    """Asymptotic exponent a of E ~ variable^{-a}, returned as the slope -a of log E vs log variable.

    See the table in the module docstring. ``variable`` is 'd' or 'T'. ``seen`` in d returns -inf
    (faster than any power when d >> N); ``infinite`` in d returns 0.

    slope in T = -(alpha - 1)/alpha (every scheme);   slope in d = -(alpha - 1)/(2 alpha) (p, counts),
    -(alpha - 1) (threshold, top, seen_s), -inf (seen), 0 (infinite).

    Parameters
    ----------
    scheme : {'p', 'threshold', 'top', 'seen_s', 'counts', 'seen', 'infinite'}
        The memory scheme (rows of the table, :data:`SCHEMES`).
    alpha : float
        Zipf exponent, alpha > 1.
    variable : {'d', 'T'}, default 'd'
        The variable of the power law: the dimension d or the number of samples T.

    Returns
    -------
    float
        The slope -a (<= 0; -inf for 'seen' in d).
    """
    check_choice("scheme", scheme, SCHEMES)
    alpha = check_float("alpha", alpha, 1.0, lo_open=True)
    check_choice("variable", variable, ("d", "T"))
    if variable == "T":
        return -(alpha - 1) / alpha
    return {
        "p": -(alpha - 1) / (2 * alpha),
        "counts": -(alpha - 1) / (2 * alpha),
        "threshold": -(alpha - 1),
        "top": -(alpha - 1),
        "seen_s": -(alpha - 1),
        "seen": -np.inf,
        "infinite": 0.0,
    }[scheme]


def _as_T(T) -> np.ndarray:
    T = check_array("T", np.atleast_1d(T), ndim=1, nonneg=True)
    return T


def unseen_mass(p, T, kind: str = "exact") -> np.ndarray:
    """Expected mass of the tokens never seen in T i.i.d. draws, one value per entry of ``T``.

    kind='exact':   sum_x p(x) (1 - p(x))^T  (computed as exp(T log1p(-p)))
    kind='poisson': sum_x p(x) e^{-T p(x)}   (the finite-sample term of the 001 slide)

    Parameters
    ----------
    p : array_like, shape (N,)
        Token distribution: non-negative, summing to one.
    T : array_like
        Number(s) of draws, finite and >= 0 (a scalar or a 1-D array; non-integers are allowed).
    kind : {'exact', 'poisson'}, default 'exact'
        Exact binomial expression or its Poisson approximation.

    Returns
    -------
    numpy.ndarray
        Shape (n_T,): the expected unseen mass for each T.
    """
    p = _as_prob(p)
    T = _as_T(T)
    check_choice("kind", kind, ("exact", "poisson"))
    if kind == "exact":
        lg = np.log1p(-np.minimum(p, 1.0 - 1e-16))  # finite for p == 1: (1-p)^T ~ 1e-16^T
        terms = np.exp(np.outer(T, lg))
    else:
        terms = np.exp(-np.outer(T, p))
    return terms @ p


def hutter_asymptote(T, alpha: float, N: int | None = None) -> np.ndarray:
    """Leading term of the unseen mass of a Zipf law (Hutter's asymptote, SL1).

    U(T) ~ Gamma(1 - 1/alpha) / (alpha H^{1/alpha}) T^{-(alpha-1)/alpha}.

    H = sum_{x <= N} x^-alpha (zeta(alpha) when N is None) normalises p(x) = x^-alpha / H.

    Parameters
    ----------
    T : array_like
        Number(s) of samples, finite and >= 0 (a scalar or a 1-D array).
    alpha : float
        Zipf exponent, alpha > 1.
    N : int, optional
        Number of tokens of the normalisation, N >= 1; None: the infinite law (H = zeta(alpha)).

    Returns
    -------
    numpy.ndarray
        Shape (n_T,): the asymptote at each T (inf at T = 0).
    """
    from scipy.special import gamma, zeta

    alpha = check_float("alpha", alpha, 1.0, lo_open=True)
    T = _as_T(T)
    if N is not None:
        N = check_int("N", N, 1)
        check_alloc("N", 8.0 * N)
    H = zeta(alpha) if N is None else float(np.sum(np.arange(1, N + 1, dtype=float) ** -alpha))
    return gamma(1 - 1 / alpha) / (alpha * H ** (1 / alpha)) * T ** (-(alpha - 1) / alpha)


def tail_mass(p, K) -> np.ndarray:
    """Mass of the tokens beyond the first K, one value per entry of ``K``.

    tail(K) = sum_{x > floor(K)} p(x)   (tokens x = 1..N in order, x = 1 the first; 0 when K >= N).

    Parameters
    ----------
    p : array_like, shape (N,)
        Token distribution: non-negative, summing to one.
    K : array_like
        Number(s) of leading tokens, finite and >= 0 (a scalar or a 1-D array; floored).

    Returns
    -------
    numpy.ndarray
        Shape (n_K,): the tail mass for each K.
    """
    p = _as_prob(p)
    K = check_array("K", np.atleast_1d(K), ndim=1, nonneg=True)
    cum = np.concatenate([[0.0], np.cumsum(p)])
    k = np.minimum(np.floor(K).astype(int), p.size)
    return np.maximum(cum[-1] - cum[k], 0.0)


def threshold_error(N: int, alpha: float, d, c: float = 8.0, M: int | None = None) -> np.ndarray:
    """Finite-N error of q = 1{x <= d/c} when every stored token is recalled (SL3):

    E(d) = (1 - 1/M) sum_{x > floor(d/c)} p(x)      (factor 1 when M is None)

    with p = :func:`~theory.zipf.zipf_pmf` (N, alpha).

    Parameters
    ----------
    N : int
        Number of tokens, N >= 1.
    alpha : float
        Zipf exponent, alpha >= 0.
    d : array_like
        Embedding dimension(s), finite, d >= 1 (a scalar or a 1-D array).
    c : float, default 8.0
        Capacity constant (d/c tokens are stored), c > 0.
    M : int, optional
        Number of outputs, M >= 1, for the chance factor (1 - 1/M); None: factor 1.

    Returns
    -------
    numpy.ndarray
        Shape (n_d,): E(d) for each d.
    """
    N = check_int("N", N, 1)
    check_alloc("N", 8.0 * N)
    c = check_float("c", c, 0.0, lo_open=True)
    d = check_array("d", np.atleast_1d(d), ndim=1)
    if np.any(d < 1):
        raise ValueError("d must be >= 1")
    return _chance(M) * tail_mass(zipf_pmf(N, alpha), np.floor(d / c))


def failing_set(q, d: float, c: float, reading: str = "square") -> np.ndarray:
    """Tokens predicted to fail by the approximation guarantee (SL7), a boolean array (N,):

    reading='square': q(x)^2 d < c ||q||_2^2 ;  reading='linear' (as written in 001): q(x) d < c ||q||_2^2.
    Tokens with q(x) <= 0 always fail.

    Parameters
    ----------
    q : array_like, shape (N,)
        Memory weights q(x), finite.
    d : float
        Embedding dimension, d > 0.
    c : float
        Capacity constant, c > 0.
    reading : {'square', 'linear'}, default 'square'
        Reading 2 ('square', scale-invariant in q) or reading 1 ('linear', as written on the slide).

    Returns
    -------
    numpy.ndarray
        Boolean, shape (N,): True for the tokens predicted to fail.
    """
    q = check_array("q", q, ndim=1)
    d = check_float("d", d, 0.0, lo_open=True)
    c = check_float("c", c, 0.0, lo_open=True)
    check_choice("reading", reading, READINGS)
    n2 = float(np.sum(q**2))
    lhs = np.sign(q) * q**2 * d if reading == "square" else q * d
    return (q <= 0) | (lhs < c * n2)


def approximation_error(q, p, d, c: float, reading: str = "square", M: int | None = None) -> np.ndarray:
    """Predicted error curve of the approximation guarantee, one value per entry of ``d``:

        E(d) = (1 - 1/M) p({x : q(x)^2 d < c ||q||^2})   (reading 'square')
        E(d) = (1 - 1/M) p({x : q(x) d < c ||q||^2})     (reading 'linear', as written)

    The factor (1 - 1/M) (1 when M is None) counts the failing tokens' chance recalls.

    Parameters
    ----------
    q : array_like, shape (N,)
        Memory weights q(x), finite.
    p : array_like, shape (N,)
        Token distribution: non-negative, summing to one.
    d : array_like
        Embedding dimension(s), finite, d > 0 (a scalar or a 1-D array).
    c : float
        Capacity constant, c > 0.
    reading : {'square', 'linear'}, default 'square'
        Reading 2 ('square') or reading 1 ('linear'), see :func:`failing_set`.
    M : int, optional
        Number of outputs, M >= 1, for the chance factor (1 - 1/M); None: factor 1.

    Returns
    -------
    numpy.ndarray
        Shape (n_d,): E(d) for each d.
    """
    q = check_array("q", q, ndim=1)
    p = _as_prob(p)
    if p.shape != q.shape:
        raise ValueError(f"p must have the shape of q {q.shape}, got {p.shape}")
    d = check_array("d", np.atleast_1d(d), ndim=1)
    if np.any(d <= 0):
        raise ValueError("d must be > 0")
    c = check_float("c", c, 0.0, lo_open=True)
    check_choice("reading", reading, READINGS)
    # sort once: the failing set is {q < t(d)} for a threshold t(d)
    n2 = float(np.sum(q**2))
    t = np.sqrt(c * n2 / d) if reading == "square" else c * n2 / d
    order = np.argsort(q, kind="stable")
    qs, cum = q[order], np.concatenate([[0.0], np.cumsum(p[order])])
    k = np.searchsorted(qs, t, side="left")  # number of tokens with q < t
    k0 = np.searchsorted(qs, 0.0, side="right")  # q <= 0 always fail
    return _chance(M) * cum[np.maximum(k, k0)]


def top_seen_error(p, T, K, M: int | None = None) -> np.ndarray:
    """Reference curve of the 'top K seen tokens' scheme (SL4).

    The error of storing the seen tokens among the K most frequent ones,
    sum_x p(x) [1 - 1{x <= K} (1 - (1 - p(x))^T)], times (1 - 1/M).

    It is an upper bound of the expected error of the top-K seen tokens (which may also store seen
    tokens beyond K) and is within a factor 2 of the lower bound max(unseen mass, tail beyond K).
    Broadcasts over arrays ``T`` and ``K`` of the same shape.

    E(T, K) = (1 - 1/M) sum_x p(x) [1 - 1{x <= K} (1 - (1 - p(x))^T)]
            = (1 - 1/M) [unseen mass(T) + tail(K) - sum_{x > K} p(x) (1 - p(x))^T].

    Parameters
    ----------
    p : array_like, shape (N,)
        Token distribution: non-negative, summing to one.
    T : array_like
        Number(s) of samples, finite and >= 0, same shape as ``K``.
    K : array_like
        Number(s) of stored top tokens, finite and >= 0 (floored), same shape as ``T``.
    M : int, optional
        Number of outputs, M >= 1, for the chance factor (1 - 1/M); None: factor 1.

    Returns
    -------
    numpy.ndarray
        E(T, K), with the shape of ``T``.
    """
    p = _as_prob(p)
    T = check_array("T", T, nonneg=True)
    K = check_array("K", K, nonneg=True)
    if T.shape != K.shape:
        raise ValueError(f"T and K must have the same shape, got {T.shape} and {K.shape}")
    Tf, Kf = _as_T(T.ravel()), check_array("K", K.ravel(), nonneg=True)
    unseen = unseen_mass(p, Tf)
    seen_beyond = tail_mass(p, Kf) - np.array([_unseen_beyond(p, t, k) for t, k in zip(Tf, Kf)])
    return (_chance(M) * (unseen + seen_beyond)).reshape(T.shape)


def top_seen_lower(p, T, K, M: int | None = None) -> np.ndarray:
    """Lower bound of the error of any scheme storing at most K seen tokens.

    E_low(T, K) = (1 - 1/M) max(sum_x p(x) (1 - p(x))^T, sum_{x > K} p(x))   (factor 1 when M is None).

    Parameters
    ----------
    p : array_like, shape (N,)
        Token distribution: non-negative, summing to one.
    T : array_like
        Number(s) of samples, finite and >= 0, same shape as ``K``.
    K : array_like
        Number(s) of stored tokens, finite and >= 0 (floored), same shape as ``T``.
    M : int, optional
        Number of outputs, M >= 1, for the chance factor (1 - 1/M); None: factor 1.

    Returns
    -------
    numpy.ndarray
        E_low(T, K), with the shape of ``T``.
    """
    p = _as_prob(p)
    T, K = check_array("T", T, nonneg=True), check_array("K", K, nonneg=True)
    if T.shape != K.shape:
        raise ValueError(f"T and K must have the same shape, got {T.shape} and {K.shape}")
    u = unseen_mass(p, _as_T(T.ravel()))
    t = tail_mass(p, check_array("K", K.ravel(), nonneg=True))
    return (_chance(M) * np.maximum(u, t)).reshape(T.shape)


def _unseen_beyond(p, T, K) -> float:
    k = int(min(np.floor(K), p.size))
    tail = p[k:]
    if tail.size == 0:
        return 0.0
    return float(np.exp(T * np.log1p(-np.minimum(tail, 1 - 1e-16))) @ tail)


def predicted_error(q, f, M: int, d: int, p, resolution: float = 1e-3, norms: int = 8) -> float:
    """Finite-N predicted error of the memory with weights q: E = sum_x p(x) (1 - P(recall x)).

    P(recall x) is the Gaussian approximation of theory.memory.recall_probability, conditioned on the
    embedding norms (``norms`` quantile nodes of chi2_d/d each; 0 = unconditional), which is the
    better prediction at small d (see AM3). Tokens are grouped by (output class, q rounded to
    ``resolution`` times the smallest wrong-score sd), which moves each P(recall) by about
    ``resolution``. With M = 1 the error is 0.

    Parameters
    ----------
    q : array_like, shape (N,)
        Memory weights q(x), finite.
    f : array_like of int, shape (N,)
        The map f*: [N] -> [M], values in [0, M).
    M : int
        Number of outputs, M >= 1.
    d : int
        Embedding dimension, d >= 1.
    p : array_like, shape (N,)
        Token distribution: non-negative, summing to one.
    resolution : float, default 1e-3
        Grouping resolution, 0 < resolution <= 0.1.
    norms : int, default 8
        Quantile nodes per norm, 0 <= norms <= 64 (0: unconditional moments).

    Returns
    -------
    float
        The predicted error E, in [0, 1].
    """
    q = check_array("q", q, ndim=1)
    p = _as_prob(p)
    if p.shape != q.shape:
        raise ValueError(f"p must have the shape of q {q.shape}, got {p.shape}")
    resolution = check_float("resolution", resolution, 0.0, 0.1, lo_open=True)
    M = check_int("M", M, 1)
    if M == 1:
        return 0.0
    return float(p @ (1.0 - recall_probability(q, f, M, d, norms=norms, resolution=resolution)))


def loglog_slope(x, y) -> float:
    """OLS slope of log y on log x (the slope a predicted curve has on a grid).

    slope = sum_i (lx_i - mean lx)(ly_i - mean ly) / sum_i (lx_i - mean lx)^2,   lx = log x,   ly = log y.

    Parameters
    ----------
    x : array_like, shape (n,)
        Abscissae, finite and > 0, n >= 2.
    y : array_like, shape (n,)
        Ordinates, finite and > 0.

    Returns
    -------
    float
        The slope.
    """
    x = check_array("x", x, ndim=1)
    y = check_array("y", y, ndim=1)
    if x.shape != y.shape or x.size < 2 or np.any(x <= 0) or np.any(y <= 0):
        raise ValueError("x and y must be positive 1-D arrays of the same length >= 2")
    lx, ly = np.log(x), np.log(y)
    lx = lx - lx.mean()
    return float(lx @ (ly - ly.mean()) / (lx @ lx))


def _chance(M) -> float:
    if M is None:
        return 1.0
    M = check_int("M", M, 1)
    return 1.0 - 1.0 / M


def _as_prob(p) -> np.ndarray:
    p = check_prob("p", p)
    return p


def gaussian_error(q, f, M: int, d: int, p, resolution: float = 1e-3, norms: int = 8) -> float:
    """Deprecated alias of :func:`predicted_error` (kept for one release).

    Parameters
    ----------
    q, f, M, d, p, resolution, norms
        As in :func:`predicted_error`.

    Returns
    -------
    float
        ``predicted_error(q, f, M, d, p, resolution, norms)``.
    """
    import warnings

    warnings.warn(
        "theory.scaling.gaussian_error is deprecated; use theory.scaling.predicted_error",
        DeprecationWarning,
        stacklevel=2,
    )
    return predicted_error(q, f, M, d, p, resolution, norms)
