"""Closed forms for full-batch gradient descent on the population cross-entropy (GD1-GD4).

Setting (000, 'Optimization with imbalance and small capacity'): tokens x in [N] with
probabilities p(x), outputs y in [M], embeddings e_x (rows of E, N x d) and u_y (rows of U,
M x d), logits s(x) = U W e_x and

    L(W) = sum_x p(x) l(f*(x), U W e_x),   l(y, s) = -log softmax(s)_y.

Gradient (the GM1 lemma): grad L = sum_x p(x) U^T (sigma(x) - delta_{f*(x)}) e_x^T.

Hessian, with vec(W) the row-major flattening (index i d + j for W[i, j]):

    H(W) = sum_x p(x) (U^T A_x U) kron (e_x e_x^T),   A_x = diag(sigma(x)) - sigma(x) sigma(x)^T.

Orthonormal embeddings (GD1): S_t = U W_t E^T evolves token by token, S_{t+1} = S_t - eta G_t,
so from W_0 = 0 every wrong logit of token x stays equal and the margin m = s_{f*} - s_other
follows the exact recursion

    m_{t+1} = m_t + eta p(x) M / (e^{m_t} + M - 1),   m_0 = 0,

whose gradient flow solves e^m + (M - 1) m = 1 + eta p(x) M t, so m_t = log(eta p(x) M t) + o(1)
and t L(W_t) -> sum_{x : p(x) > 0} (M - 1) / (eta M) = N (M - 1) / (eta M).

Two-token model (GD2, GD3): e_0 = (1, 0), e_1 = (a, sqrt(1 - a^2)), U = I_2, f*(x) = x,
p = (p_0, 1 - p_0). At W = 0, lambda_max(H) = (1 + sqrt(1 - 4 p_0 p_1 (1 - a^2))) / 4, and since
A_x = sigma_0 sigma_1 (1, -1)(1, -1)^T <= A_x(W = 0) in the Loewner order, this is the global
smoothness constant: below eta = 2 / lambda_max(H(0)) the loss never increases.
"""

from __future__ import annotations

import numpy as np

from amemory.validate import MAX_STEPS, check_alloc, check_array, check_broadcast, check_float, check_int, check_map

__all__ = [
    "best_zero_one_binary_2d",
    "edge_of_stability",
    "global_smoothness",
    "orthogonal_loss",
    "orthogonal_loss_limit",
    "orthogonal_margin_asymptotic",
    "orthogonal_margin_flow",
    "orthogonal_margin_trajectory",
    "population_hessian",
    "population_loss",
    "sharpness",
    "two_token_embeddings",
    "two_token_eos",
    "two_token_minority_wrong_first",
    "two_token_sharpness0",
]


# ---------------------------------------------------------------- orthonormal embeddings (GD1)
def _pos_array(name: str, v) -> np.ndarray:
    a = check_array(name, v)
    if np.any(a <= 0):
        raise ValueError(f"{name} must be > 0 everywhere (range (0, inf)), got min {a.min()}")
    return a


def orthogonal_margin_trajectory(p, M: int, eta, T: int) -> np.ndarray:
    """Exact margins m_t, t = 0..T, of GD from W = 0 with orthonormal embeddings.

    m_{t+1} = m_t + eta p M / (e^{m_t} + M - 1), m_0 = 0, for arrays ``p`` and ``eta`` broadcast
    together; returns shape (T + 1, *broadcast(p, eta).shape). Evaluated as
    eta p M e^{-m} / (1 + (M - 1) e^{-m}) so that large margins do not overflow.

    Parameters
    ----------
    p : array_like
        Token probability(ies) p(x), in (0, 1].
    M : int
        Number of outputs, M >= 2.
    eta : array_like
        Step size(s), > 0, broadcasting against ``p``.
    T : int
        Number of GD steps, 0 <= T <= MAX_STEPS (10**8; the trajectory must also fit in memory).

    Returns
    -------
    numpy.ndarray
        Shape (T + 1, *broadcast(p, eta).shape): m_0, ..., m_T.
    """
    p = _pos_array("p", p)
    if np.any(p > 1):
        raise ValueError("p must lie in (0, 1]")
    M = check_int("M", M, 2)
    eta = _pos_array("eta", eta)
    T = check_int("T", T, 0, MAX_STEPS)
    check_broadcast("p and eta", p, eta)
    p, eta = np.broadcast_arrays(p, eta)
    check_alloc("T", 8.0 * (T + 1) * p.size)
    m = np.zeros(p.shape)
    out = np.empty((T + 1,) + p.shape)
    out[0] = m
    c = eta * p * M
    for t in range(T):
        q = np.exp(-m)
        m = m + c * q / (1.0 + (M - 1) * q)
        out[t + 1] = m
    return out


def orthogonal_margin_flow(t, p, M: int, eta) -> np.ndarray:
    """Gradient-flow margin: the root m of e^m + (M - 1) m = 1 + eta p M t (m = 0 at t = 0).

    Newton from m = log(1 + eta p M t) (an upper bound, the function is convex increasing), so the
    iterates decrease monotonically to the root.

    Parameters
    ----------
    t : array_like
        Time(s) (continuous step count), finite and >= 0.
    p : array_like
        Token probability(ies) p(x), > 0.
    M : int
        Number of outputs, M >= 2.
    eta : array_like
        Step size(s), > 0.

    Returns
    -------
    numpy.ndarray
        The margins m(t), with the broadcast shape of ``t``, ``p`` and ``eta``.
    """
    t = check_array("t", t, nonneg=True)
    p = _pos_array("p", p)
    M = check_int("M", M, 2)
    eta = _pos_array("eta", eta)
    c = 1.0 + eta * p * M * t
    m = np.log(c)
    for _ in range(100):
        g = np.exp(m) + (M - 1) * m - c
        m_new = m - g / (np.exp(m) + M - 1)
        if np.all(np.abs(m_new - m) <= 1e-14 * np.maximum(1.0, np.abs(m))):
            m = m_new
            break
        m = m_new
    return m


def orthogonal_margin_asymptotic(t, p, M: int, eta) -> np.ndarray:
    """The slide's asymptotic law of the margin with orthonormal embeddings.

    m_t(x) ~ log(eta p(x) M t)   (t > 0).

    Parameters
    ----------
    t : array_like
        Time(s) (step count), > 0.
    p : array_like
        Token probability(ies) p(x), > 0.
    M : int
        Number of outputs, M >= 2.
    eta : array_like
        Step size(s), > 0.

    Returns
    -------
    numpy.ndarray
        log(eta p M t), with the broadcast shape of ``t``, ``p`` and ``eta``.
    """
    t = _pos_array("t", t)
    p = _pos_array("p", p)
    M = check_int("M", M, 2)
    eta = _pos_array("eta", eta)
    check_broadcast("t, p and eta", t, p, eta)
    return np.log(eta * p * M * t)


def orthogonal_loss(m, p, M: int) -> np.ndarray:
    """Population loss of the orthonormal memory as a function of the margins.

    L = sum_x p(x) log(1 + (M - 1) e^{-m(x)})   (all M - 1 wrong logits equal, margin m(x) below the right one).

    Parameters
    ----------
    m : array_like, shape (..., N)
        Margins m(x), finite.
    p : array_like, shape (N,)
        Token weights p(x), finite and non-negative.
    M : int
        Number of outputs, M >= 2.

    Returns
    -------
    numpy.ndarray
        L, shape (...) (a numpy scalar for 1-D ``m``).
    """
    m = check_array("m", m)
    p = check_array("p", p, ndim=1, nonneg=True)
    M = check_int("M", M, 2)
    if m.shape[-1] != p.size:
        raise ValueError(f"m and p: m must have last axis of length N = len(p) = {p.size}, got shape {m.shape}")
    return (p * np.log1p((M - 1) * np.exp(-m))).sum(-1)


def orthogonal_loss_limit(N: int, M: int, eta: float) -> float:
    """Limit of t L(W_t) for GD with orthonormal embeddings.

    lim_t t L(W_t) = N (M - 1) / (eta M)   for N tokens of positive probability.

    Parameters
    ----------
    N : int
        Number of tokens of positive probability, N >= 1.
    M : int
        Number of outputs, M >= 2.
    eta : float
        Step size, eta > 0.

    Returns
    -------
    float
        N (M - 1) / (eta M).
    """
    N = check_int("N", N, 1)
    M = check_int("M", M, 2)
    eta = check_float("eta", eta, 0.0, lo_open=True)
    return N * (M - 1) / (eta * M)


# ---------------------------------------------------------------- population loss and Hessian
def _check_problem(W, E, U, f, p):
    E = check_array("E", E, ndim=2)
    U = check_array("U", U, ndim=2)
    N, d = E.shape
    M = U.shape[0]
    if U.shape[1] != d:
        raise ValueError(f"U must have shape (M, d) with d={d} (the columns of E), got {U.shape}")
    W = np.zeros((d, d)) if W is None else check_array("W", W, ndim=2)
    if W.shape != (d, d):
        raise ValueError(f"W must have shape ({d}, {d}), got {W.shape}")
    f = check_map("f (a map from the N rows of E to the M rows of U)", f, N, M)
    p = check_array("p", p, ndim=1, nonneg=True)
    if p.size != N:
        raise ValueError(f"p must have shape ({N},), got {p.shape}")
    return W, E, U, f, p


def _softmax(s):
    s = s - s.max(-1, keepdims=True)
    e = np.exp(s)
    return e / e.sum(-1, keepdims=True)


def population_loss(W, E, U, f, p) -> float:
    """Population cross-entropy of the linear memory.

    L(W) = -sum_x p(x) log softmax(U W e_x)_{f*(x)}.

    Parameters
    ----------
    W : array_like, shape (d, d), or None
        The memory matrix; None: W = 0.
    E : array_like, shape (N, d)
        Input embeddings e_x (rows), finite.
    U : array_like, shape (M, d)
        Output embeddings u_y (rows), finite.
    f : array_like of int, shape (N,)
        The map f*: [N] -> [M], values in [0, M).
    p : array_like, shape (N,)
        Token weights p(x), finite and non-negative (a distribution for the population loss).

    Returns
    -------
    float
        L(W) in nats.
    """
    W, E, U, f, p = _check_problem(W, E, U, f, p)
    s = E @ W.T @ U.T
    smax = s.max(-1, keepdims=True)
    lse = (smax + np.log(np.exp(s - smax).sum(-1, keepdims=True)))[:, 0]
    return float((p * (lse - s[np.arange(s.shape[0]), f])).sum())


def population_hessian(W, E, U, f, p) -> np.ndarray:
    """H(W) = sum_x p(x) (U^T A_x U) kron (e_x e_x^T), shape (d^2, d^2), row-major vec(W).

    A_x = diag(sigma(x)) - sigma(x) sigma(x)^T with sigma(x) = softmax(U W e_x). ``W=None`` is W = 0.
    (f* does not enter the Hessian of the cross-entropy; it is validated for consistency.)

    Parameters
    ----------
    W : array_like, shape (d, d), or None
        The memory matrix; None: W = 0.
    E : array_like, shape (N, d)
        Input embeddings e_x (rows), finite.
    U : array_like, shape (M, d)
        Output embeddings u_y (rows), finite.
    f : array_like of int, shape (N,)
        The map f*: [N] -> [M], values in [0, M).
    p : array_like, shape (N,)
        Token weights p(x), finite and non-negative.

    Returns
    -------
    numpy.ndarray
        Shape (d^2, d^2): H(W) for the row-major vec(W) (index i d + j for W[i, j]).
    """
    W, E, U, f, p = _check_problem(W, E, U, f, p)
    d = E.shape[1]
    sig = _softmax(E @ W.T @ U.T)  # (N, M)
    A = np.einsum("nk,kl->nkl", sig, np.eye(U.shape[0])) - sig[:, :, None] * sig[:, None, :]
    K = np.einsum("ki,nkl,lj->nij", U, A, U)  # U^T A_x U, (N, d, d)
    H = np.einsum("n,nik,nj,nl->ijkl", p, K, E, E)
    return H.reshape(d * d, d * d)


def sharpness(W, E, U, f, p) -> float:
    """Sharpness: the top eigenvalue of the population Hessian.

    S(W) = lambda_max(H(W)),   H(W) = sum_x p(x) (U^T A_x U) kron (e_x e_x^T)   (see :func:`population_hessian`).

    Parameters
    ----------
    W : array_like, shape (d, d), or None
        The memory matrix; None: W = 0.
    E : array_like, shape (N, d)
        Input embeddings e_x (rows), finite.
    U : array_like, shape (M, d)
        Output embeddings u_y (rows), finite.
    f : array_like of int, shape (N,)
        The map f*: [N] -> [M], values in [0, M).
    p : array_like, shape (N,)
        Token weights p(x), finite and non-negative.

    Returns
    -------
    float
        lambda_max(H(W)).
    """
    return float(np.linalg.eigvalsh(population_hessian(W, E, U, f, p))[-1])


def edge_of_stability(E, U, f, p, W=None) -> float:
    """Edge of stability: the largest step size stable at W.

    eta_EoS = 2 / lambda_max(H(W))   (W = 0 by default).

    Parameters
    ----------
    E : array_like, shape (N, d)
        Input embeddings e_x (rows), finite.
    U : array_like, shape (M, d)
        Output embeddings u_y (rows), finite.
    f : array_like of int, shape (N,)
        The map f*: [N] -> [M], values in [0, M).
    p : array_like, shape (N,)
        Token weights p(x), finite and non-negative (not all zero where the embeddings are non-zero).
    W : array_like, shape (d, d), optional
        The memory matrix; None: W = 0.

    Returns
    -------
    float
        2 / lambda_max(H(W)) (ValueError when the Hessian is zero).
    """
    lam = sharpness(W, E, U, f, p)
    if lam <= 0:
        raise ValueError("the Hessian is zero (p or the embeddings vanish): no edge of stability")
    return 2.0 / lam


def global_smoothness(E, U, p) -> float:
    """A constant L with H(W) <= L I for every W; exact (= lambda_max(H(0))) when M = 2.

    M = 2: A_x = s_0 s_1 (1, -1)(1, -1)^T <= A_x(0), so sup_W lambda_max H(W) = lambda_max H(0)
    = ||u_0 - u_1||^2 lambda_max(C) / 4 with C = sum_x p(x) e_x e_x^T.
    M > 2: lambda_max(A_x) <= 1/2, so L = lambda_max(U^T U) lambda_max(C) / 2 (an upper bound).
    GD with eta < 2 / L never increases the loss (descent lemma).

    Parameters
    ----------
    E : array_like, shape (N, d)
        Input embeddings e_x (rows), finite.
    U : array_like, shape (M, d)
        Output embeddings u_y (rows), finite, M >= 2.
    p : array_like, shape (N,)
        Token weights p(x), finite and non-negative.

    Returns
    -------
    float
        L: ||u_0 - u_1||^2 lambda_max(C) / 4 (M = 2) or lambda_max(U^T U) lambda_max(C) / 2 (M > 2).
    """
    E = check_array("E", E, ndim=2)
    U = check_array("U", U, ndim=2)
    p = check_array("p", p, ndim=1, nonneg=True)
    if p.size != E.shape[0] or U.shape[1] != E.shape[1]:
        raise ValueError(f"shapes must be E (N, d), U (M, d), p (N,); got {E.shape}, {U.shape}, {p.shape}")
    if U.shape[0] < 2:
        raise ValueError(f"U must have M >= 2 rows (range [2, inf)), got {U.shape[0]}")
    C = (E * p[:, None]).T @ E
    lc = float(np.linalg.eigvalsh(C)[-1])
    if U.shape[0] == 2:
        return float(np.sum((U[0] - U[1]) ** 2)) * lc / 4.0
    return float(np.linalg.eigvalsh(U.T @ U)[-1]) * lc / 2.0


# ---------------------------------------------------------------- the two-token model (GD2, GD3)
def two_token_embeddings(a: float) -> np.ndarray:
    """Embeddings of the two-token model (GD2, GD3).

    E = [[1, 0], [a, sqrt(1 - a^2)]]   (rows e_0, e_1, unit norm, correlation e_0^T e_1 = a).

    Parameters
    ----------
    a : float
        Correlation of the two embeddings, -1 <= a <= 1.

    Returns
    -------
    numpy.ndarray
        Shape (2, 2): the rows e_0, e_1.
    """
    a = check_float("a", a, -1.0, 1.0)
    return np.array([[1.0, 0.0], [a, np.sqrt(max(1.0 - a * a, 0.0))]])


def two_token_sharpness0(a: float, p0: float) -> float:
    """Sharpness at W = 0 of the two-token model (U = I_2).

    lambda_max(H(0)) = (1 + sqrt(1 - 4 p_0 (1 - p_0) (1 - a^2))) / 4.

    Parameters
    ----------
    a : float
        Correlation e_0^T e_1, -1 <= a <= 1.
    p0 : float
        Probability p_0 of token 0, 0 <= p0 <= 1 (p_1 = 1 - p_0).

    Returns
    -------
    float
        lambda_max(H(0)), in [1/4, 1/2].
    """
    a = check_float("a", a, -1.0, 1.0)
    p0 = check_float("p0", p0, 0.0, 1.0)
    return (1.0 + np.sqrt(max(1.0 - 4.0 * p0 * (1.0 - p0) * (1.0 - a * a), 0.0))) / 4.0


def two_token_eos(a: float, p0: float) -> float:
    """Edge of stability of the two-token model at W = 0.

    eta_EoS = 2 / lambda_max(H(0)) = 8 / (1 + sqrt(1 - 4 p_0 p_1 (1 - a^2))), in [4, 8].

    Parameters
    ----------
    a : float
        Correlation e_0^T e_1, -1 <= a <= 1.
    p0 : float
        Probability p_0 of token 0, 0 <= p0 <= 1 (p_1 = 1 - p_0).

    Returns
    -------
    float
        eta_EoS.
    """
    return 2.0 / two_token_sharpness0(a, p0)


def two_token_minority_wrong_first(a: float, p0: float) -> bool:
    """True iff after the first GD step from W = 0 token 1 is misclassified, whatever eta > 0.

    W_1 = eta (p_0 (u_0 - u_1) e_0^T - p_1 (u_0 - u_1) e_1^T) / 2, so the margin of token 1 is
    eta (p_1 - p_0 a) and that of token 0 is eta (p_0 - p_1 a): with p_0 > 1/2, perfect accuracy
    needs more than one step iff p_0 a >= p_1 (ties count as errors); otherwise it takes one step
    for every eta, and the time to perfect accuracy cannot depend on eta.

    Criterion: p_0 a >= p_1 = 1 - p_0.

    Parameters
    ----------
    a : float
        Correlation e_0^T e_1, -1 <= a <= 1.
    p0 : float
        Probability p_0 of the majority token 0, 1/2 < p0 < 1.

    Returns
    -------
    bool
        True iff p_0 a >= 1 - p_0.
    """
    a = check_float("a", a, -1.0, 1.0)
    p0 = check_float("p0", p0, 0.5, 1.0, lo_open=True, hi_open=True)
    return bool(p0 * a >= 1.0 - p0)


# ---------------------------------------------------------------- best 0-1 error (GD4)
def best_zero_one_binary_2d(E, U, f, p) -> np.ndarray:
    """Exact min over W in R^{2x2} of the 0-1 error sum_x p(x) 1{margin_x <= 0}, for d = 2, M = 2.

    The margin of x is y_x v^T e_x with v = W^T (u_0 - u_1) and y_x = +1 if f*(x) = 0 else -1;
    every v in R^2 is reachable when u_0 != u_1, and the error only changes where v is orthogonal
    to some e_x, so it is enough to evaluate it at the midpoints of the 2N critical angles.
    Batched over leading axes: E (..., N, 2), U (..., 2, 2), f (..., N) or (N,), p (..., N) or (N,);
    returns an array of shape (...) (a 0-d array for one problem). If u_0 = u_1 every logit ties
    and the answer is sum_x p(x).

    min_W sum_x p(x) 1{y_x v^T e_x <= 0} = min_{v in V} sum_x p(x) 1{y_x v^T e_x <= 0},
    V = the directions at the midpoints between consecutive angles of +-(pi/2) + arg(e_x).

    Parameters
    ----------
    E : array_like, shape (..., N, 2)
        Input embeddings e_x (rows), finite.
    U : array_like, shape (..., 2, 2)
        Output embeddings u_0, u_1 (rows), finite, with the leading axes of ``E``.
    f : array_like of int, shape (..., N) or (N,)
        The map f*: values in {0, 1}.
    p : array_like, shape (..., N) or (N,)
        Token weights p(x), finite and non-negative.

    Returns
    -------
    numpy.ndarray
        Shape (...): the minimal 0-1 error.
    """
    E = check_array("E", E)
    U = check_array("U", U)
    if E.ndim < 2 or E.shape[-1] != 2 or U.shape[-2:] != (2, 2) or U.shape[:-2] != E.shape[:-2]:
        raise ValueError(
            f"E must have shape (..., N, 2) and U (..., 2, 2) with the same leading axes; got {E.shape}, {U.shape}"
        )
    N = E.shape[-2]
    f = check_array("f", f, dtype=np.int64)
    if f.shape[-1:] != (N,) or f.min() < 0 or f.max() > 1:
        raise ValueError(f"f must be an integer array (..., {N}) with values in [0, 1] (N = the rows of E)")
    p = check_array("p", p, nonneg=True)
    if p.shape[-1:] != (N,):
        raise ValueError(f"p must have last axis of length {N} (the rows of E), got {p.shape}")
    lead = E.shape[:-2]
    if check_broadcast("E, f and p", E[..., 0], f, p) != lead + (N,):
        raise ValueError(f"f and p must broadcast to the leading axes of E, {lead + (N,)}; got {f.shape}, {p.shape}")
    f = np.broadcast_to(f, lead + (N,))
    p = np.broadcast_to(p, lead + (N,))
    y = np.where(f == 0, 1.0, -1.0)
    ang = np.arctan2(E[..., 1], E[..., 0])
    crit = np.sort(np.mod(np.concatenate([ang + np.pi / 2, ang - np.pi / 2], -1), 2 * np.pi), -1)
    gaps = np.diff(np.concatenate([crit, crit[..., :1] + 2 * np.pi], -1), axis=-1)
    mids = crit + gaps / 2
    V = np.stack([np.cos(mids), np.sin(mids)], -1)  # (..., 2N, 2)
    marg = y[..., None, :] * (V @ np.swapaxes(E, -1, -2))  # (..., 2N, N)
    err = ((marg <= 0) * p[..., None, :]).sum(-1).min(-1)
    tie = np.all(np.isclose(U[..., 0, :], U[..., 1, :]), -1)
    return np.where(tie, p.sum(-1), err)


def two_token_large_step_time(a: float, p0: float, T: int = 10_000) -> int:
    """Limit of the time to perfect accuracy as eta -> infinity (-1 if not reached within T steps).

    With W_t = eta V_t and eta -> infinity the sigmoids saturate and v_t = (1, -1) V_t follows a
    batch perceptron: v_{t+1} = v_t + 2 p_0 h(v_t^T e_0) e_0 - 2 p_1 h(-v_t^T e_1) e_1, v_0 = 0,
    with h(m) = 1{m < 0} + 1{m = 0}/2; it is scale-free, so tau(eta) tends to a constant.
    Returns the first t with v_t^T e_0 > 0 and v_t^T e_1 < 0 (margins are computed exactly as
    floating-point numbers; 0 counts as an error, as in the simulations).

    Parameters
    ----------
    a : float
        Correlation e_0^T e_1, -1 <= a <= 1.
    p0 : float
        Probability p_0 of token 0, 0 < p0 < 1.
    T : int, default 10_000
        Largest number of steps simulated, 1 <= T <= MAX_STEPS (10**8).

    Returns
    -------
    int
        The first t in [1, T] at which both tokens are classified correctly, or -1.
    """
    p0 = check_float("p0", p0, 0.0, 1.0, lo_open=True, hi_open=True)
    E = two_token_embeddings(a)
    T = check_int("T", T, 1, MAX_STEPS)
    p1 = 1.0 - p0
    v = np.zeros(2)

    def h(m):
        return 1.0 if m < 0 else (0.5 if m == 0 else 0.0)

    for t in range(1, T + 1):
        m0, m1 = v @ E[0], -(v @ E[1])
        v = v + 2 * p0 * h(m0) * E[0] - 2 * p1 * h(m1) * E[1]
        if v @ E[0] > 0 and v @ E[1] < 0:
            return t
    return -1
