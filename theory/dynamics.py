"""The F(n) dynamics of SGD on associative memories (OD1-OD10), in closed form (numpy).

With quasi-orthogonal updates the memory trained by SGD (batch 1, step gamma) is
W_T = sum_x q_T(x) u_{f*(x)} e_x^T with q_T(x) = F(#{t : x_t = x}) and (seed 001)

    F(n) = f o ... o f (0)  (n times),   f(x) = x + gamma / (1 + M^-1 e^x) = x + gamma M / (M + e^x).

Exact recursion (derived here). With exactly orthonormal e_x and u_y, an SGD step on (x, y = f*(x))
changes only the logits of x: s_k <- s_k - gamma (p_k - 1{k = y}). From 0 all wrong logits stay equal,
so the margin m = s_y - s_k obeys

    m <- m + gamma M / (e^m + M - 1)                       (exact)

i.e. the seed's f with M + e^x replaced by M - 1 + e^m: the increments differ by
gamma M / ((e^m + M - 1)(e^m + M)) <= g_seed(m) / M, an O(1/M) relative difference. Equivalently
m(n; gamma, M) = F(n; gamma M/(M-1), M-1) exactly. For gamma <= 4 both maps are increasing, which gives
the sandwich (OD1 bound)

    F(n; gamma, M) <= m(n; gamma, M) <= F(n; gamma (1 + 1/M), M).

Regimes: F(n) ~ n gamma M/(M+1) while n gamma << 1 (linear) and F(n) ~ log(gamma M n) for large n
(logarithmic): F solves the ODE dx/dn = gamma M/(M + e^x) up to summable errors, whose solution is
x + e^x/M = gamma n + const.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit

from amemory.validate import check_array, check_bool, check_float, check_int

#: exact iterations before the ODE continuation (the step is then < gamma M e^-x ~ 1/n)
EXACT_STEPS = 20_000


def f_step(x, gamma: float, M: int, exact: bool = False):
    """One step of the F(n) map.

    f(x) = x + gamma M / (M + e^x)       (the seed's map, ``exact=False``)
    f(x) = x + gamma M / (M - 1 + e^x)   (the exact orthonormal margin, ``exact=True``)

    evaluated as x + (gamma M / M') expit(log M' - x), M' = M or M - 1, which is stable for large x.

    Parameters
    ----------
    x : array_like
        Current value(s) (memory weight or margin).
    gamma : float
        Step size, gamma >= 0.
    M : int
        Number of outputs, M >= 2.
    exact : bool, default False
        Whether to use the exact orthonormal recursion (M - 1 + e^x) instead of the seed's (M + e^x).

    Returns
    -------
    numpy.ndarray
        f(x), float64, with the shape of ``x`` (a numpy scalar for a scalar ``x``).
    """
    gamma = check_float("gamma", gamma, 0.0)
    M = check_int("M", M, 2)
    exact = check_bool("exact", exact)
    x = check_array("x", x, allow_empty=True)
    m_eff = M - 1.0 if exact else float(M)
    # gamma M / (m_eff + e^x) = (gamma M / m_eff) * expit(log m_eff - x), stable for large x
    return x + gamma * M / m_eff * expit(np.log(m_eff) - x)


def _continue(xK: float, R: np.ndarray, logM: float) -> np.ndarray:
    """Solve (x - xK) + e^(xK - logM) expm1(x - xK) = R for x >= xK (the ODE continuation, stable)."""
    yK = xK - logM
    if yK > 700:  # increments gamma M e^-x are below 1e-300: F has stopped moving
        return np.full(R.shape, xK)
    A = np.exp(yK)
    dlt = np.log1p(R / (1.0 + A))
    for _ in range(200):
        phi = dlt + A * np.expm1(dlt) - R
        step = phi / (1.0 + A * np.exp(dlt))
        dlt = np.maximum(dlt - step, 0.0)
        if np.all(np.abs(step) <= 1e-14 * np.maximum(1.0, dlt)):
            break
    return xK + dlt


def F(n, gamma: float, M: int, exact: bool = False) -> np.ndarray:
    """F(n) = f^n(0) for an array of counts n >= 0 (the seed's map; ``exact=True``: the orthonormal margin).

    F(n) = f o ... o f (0)  (n times),   f(x) = x + gamma M / (M' + e^x),   M' = M (seed) or M - 1 (exact).

    Iterates exactly for n <= EXACT_STEPS, then continues with the ODE x + e^x/M' = gamma' n + const
    (M' = M or M - 1, gamma' = gamma M / M'), matched at EXACT_STEPS: the continuation's error is
    bounded by the sum of the squared remaining steps, O(1/EXACT_STEPS). Stable for gamma up to 1e3 and
    n up to 1e7 and beyond.

    Parameters
    ----------
    n : array_like
        Counts: a non-empty array of non-negative integers (integer-valued floats are accepted).
    gamma : float
        Step size, gamma >= 0.
    M : int
        Number of outputs, M >= 2.
    exact : bool, default False
        Whether to iterate the exact orthonormal margin recursion (M - 1 + e^x) instead of the seed's map.

    Returns
    -------
    numpy.ndarray
        F(n), float64, with the shape of ``n``.
    """
    gamma = check_float("gamma", gamma, 0.0)
    M = check_int("M", M, 2)
    exact = check_bool("exact", exact)
    n = check_array("n", n, nonneg=True)
    if np.any(n != np.round(n)):
        raise ValueError("n must contain non-negative integers")
    n = n.astype(np.int64)
    out = np.empty(n.shape, dtype=float)
    nmax = int(n.max()) if n.size else 0
    K = min(nmax, EXACT_STEPS)
    traj = np.empty(K + 1)
    x = 0.0
    traj[0] = 0.0
    for k in range(1, K + 1):
        x = float(f_step(x, gamma, M, exact))
        traj[k] = x
    small = n <= K
    out[small] = traj[n[small]]
    if np.any(~small):
        m_eff = M - 1.0 if exact else float(M)
        out[~small] = _continue(traj[K], gamma * M / m_eff * (n[~small] - K).astype(float), np.log(m_eff))
    return out


def margin_exact(n, gamma: float, M: int) -> np.ndarray:
    """Exact margin after n SGD visits with orthonormal embeddings.

    m_0 = 0,   m <- m + gamma M / (e^m + M - 1)   (n times);   equals F(n; gamma M/(M-1), M-1).

    Parameters
    ----------
    n : array_like
        Visit counts: a non-empty array of non-negative integers.
    gamma : float
        Step size, gamma >= 0.
    M : int
        Number of outputs, M >= 2.

    Returns
    -------
    numpy.ndarray
        The margins m(n), float64, with the shape of ``n``.
    """
    return F(n, gamma, M, exact=True)


def sandwich_bounds(n, gamma: float, M: int) -> tuple[np.ndarray, np.ndarray]:
    """The sandwich (OD1 bound) around the exact margin.

    F(n; gamma, M) <= m(n; gamma, M) <= F(n; gamma (1 + 1/M), M)   for gamma <= 4.

    Parameters
    ----------
    n : array_like
        Visit counts: a non-empty array of non-negative integers.
    gamma : float
        Step size, 0 <= gamma <= 4 (where both maps are increasing).
    M : int
        Number of outputs, M >= 2.

    Returns
    -------
    tuple of (numpy.ndarray, numpy.ndarray)
        (lower, upper) = (F(n; gamma, M), F(n; gamma (1 + 1/M), M)), each with the shape of ``n``.
    """
    gamma = check_float("gamma", gamma, 0.0, 4.0)
    return F(n, gamma, M), F(n, gamma * (1 + 1 / check_int("M", M, 2)), M)


def F_linear(n, gamma: float, M: int) -> np.ndarray:
    """Linear regime of F.

    F(n) ~ n gamma M / (M + 1)   while n gamma << 1.

    Parameters
    ----------
    n : array_like
        Counts: a non-empty, finite, non-negative array.
    gamma : float
        Step size, gamma >= 0.
    M : int
        Number of outputs, M >= 2 as elsewhere (not validated by this function).

    Returns
    -------
    numpy.ndarray
        n gamma M / (M + 1), float64, with the shape of ``n``.
    """
    n = check_array("n", n, nonneg=True)
    gamma = check_float("gamma", gamma, 0.0)
    M = check_int("M", M, 2)
    return n * gamma * M / (M + 1.0)


def F_log(n, gamma: float, M: int) -> np.ndarray:
    """Logarithmic regime of F.

    F(n) ~ log(gamma M n)   for gamma M n >> 1   (n = 0 is evaluated at n = 1e-300).

    Parameters
    ----------
    n : array_like
        Counts: a non-empty, finite, non-negative array.
    gamma : float
        Step size, gamma > 0.
    M : int
        Number of outputs, M >= 2.

    Returns
    -------
    numpy.ndarray
        log(gamma M n), float64, with the shape of ``n``.
    """
    n = check_array("n", n, nonneg=True)
    gamma = check_float("gamma", gamma, 0.0, lo_open=True)
    return np.log(gamma * check_int("M", M, 2) * np.maximum(n, 1e-300))


def predicted_q(counts, gamma: float, M: int, exact: bool = False) -> np.ndarray:
    """Predicted memory weights of SGD (batch 1) from the token counts of a sample.

    q_T(x) = F(n_x),   n_x = #{t <= T : x_t = x}.

    Parameters
    ----------
    counts : array_like
        Token counts n_x, any shape: a non-empty array of non-negative integers.
    gamma : float
        Step size, gamma >= 0.
    M : int
        Number of outputs, M >= 2.
    exact : bool, default False
        Whether to use the exact orthonormal margin instead of the seed's map (see :func:`F`).

    Returns
    -------
    numpy.ndarray
        q_T, float64, with the shape of ``counts``.
    """
    c = check_array("counts", counts, nonneg=True)
    return F(c.ravel(), gamma, M, exact).reshape(c.shape)


def batch_margin(batch_counts, gamma: float, M: int) -> np.ndarray:
    """Surrogate of SGD with batch B (orthonormal embeddings): the margin of every token.

    m_0 = 0,   m <- m + gamma (c_t / B_t) M / (e^m + M - 1)   for t = 1..steps,

    with c_t the token's count in the batch of step t and B_t = sum_x c_t(x) that batch's size.

    Parameters
    ----------
    batch_counts : array_like, shape (steps, N)
        Counts per step and token: non-negative, finite, every row with a positive sum B_t.
    gamma : float
        Step size, gamma >= 0.
    M : int
        Number of outputs, M >= 2.

    Returns
    -------
    numpy.ndarray
        Shape (N,): the margins after the last step.
    """
    c = check_array("batch_counts", batch_counts, ndim=2, nonneg=True)
    gamma = check_float("gamma", gamma, 0.0)
    M = check_int("M", M, 2)
    B = c.sum(1, keepdims=True)
    if np.any(B <= 0):
        raise ValueError("batch_counts rows must contain at least one sample")
    m = np.zeros(c.shape[1])
    for t in range(c.shape[0]):
        w = c[t] / B[t]
        m = m + gamma * w * M / (M - 1.0) * expit(np.log(M - 1.0) - m)
    return m


def fitted_rho(q, p, mask=None) -> float:
    """Least-squares slope rho of log q on log p (q ∝ p^rho) over tokens with q > 0 (and ``mask``).

    rho = sum_x (l_x - mean l)(k_x - mean k) / sum_x (l_x - mean l)^2,   l_x = log p(x),   k_x = log q(x),

    over the kept tokens {x : q(x) > 0, p(x) > 0, mask(x)}.

    Parameters
    ----------
    q : array_like, shape (N,)
        Memory weights, finite.
    p : array_like, shape (N,)
        Token probabilities (or any positive weights), finite and non-negative.
    mask : array_like of bool, shape (N,), optional
        Extra selection of tokens; None: all tokens. At least two tokens must be kept.

    Returns
    -------
    float
        rho.
    """
    q = check_array("q", q, ndim=1)
    p = check_array("p", p, ndim=1, nonneg=True)
    if q.shape != p.shape:
        raise ValueError(f"q and p must have the same length, got {q.shape} and {p.shape}")
    keep = (q > 0) & (p > 0)
    if mask is not None:
        m = np.asarray(mask) if not isinstance(mask, (str, bytes)) else None
        if m is None or m.dtype != np.bool_ or m.shape != q.shape:
            raise ValueError(f"mask must be a bool array of shape {q.shape} or None, got {mask!r}")
        keep &= m
    if keep.sum() < 2:
        raise ValueError("q, p, mask: need at least two tokens with q > 0 and p > 0 (and mask)")
    lx, ly = np.log(p[keep]), np.log(q[keep])
    lx = lx - lx.mean()
    if not np.any(lx != 0):
        raise ValueError("p must not be equal on all kept tokens (the slope of log q on log p is undefined)")
    return float(lx @ (ly - ly.mean()) / (lx @ lx))
