"""Induction head as associative memories (TF3-TF5): target matrices and the memory-recall probe (numpy).

Convention (000 'Transformer setup'): attention logit of query x_t on key x_s is x_t^T W_KQ x_s, so a
key-query memory maps the key embedding (input) to the query embedding (output) and a value-output
memory maps the attended embedding to an output embedding. The talk's construction
(000 'Induction head with associative memories'):

    W_KQ^1 = sum_{t=2}^T p_t p_{t-1}^T             (previous-token head: query t attends to key t-1)
    W_KQ^2 = sum_{k in Q} e_k (W_OV^1 e_k)^T       (query trigger q attends to the key holding e~_q)
    W_OV^2 = sum_k u_k e_k^T                       (copies the attended token to the output)

The memory-recall probe of a target W_* = sum_{i<=M} u_i e_i^T (000 'Empirically probing the dynamics'):

    R(W_hat, W_*) = (1/M) sum_i 1{i = argmax_j u_j^T W_hat e_i},

the argmax running over all candidate outputs j (so a random W_hat scores about 1/J for J candidates).
R only depends on the direction of W_hat (R(c W) = R(W) for c > 0).
"""

from __future__ import annotations

import numpy as np

from amemory.validate import check_array, check_bool, check_float, check_int

__all__ = ["construction", "construction_scales", "probe", "probe_chance", "target_wkq1", "target_wkq2", "target_wov2"]


def _table(name: str, a, d: int | None = None) -> np.ndarray:
    """A (..., n, d) array (leading axes, e.g. seeds, are batched over)."""
    a = check_array(name, a)
    if a.ndim < 2:
        raise ValueError(f"{name} must have at least 2 dimensions (..., n, d), got shape {a.shape}")
    if d is not None and a.shape[-1] != d:
        raise ValueError(f"{name} must have {d} columns (the dimension d), got shape {a.shape}")
    return a


def _T(a: np.ndarray) -> np.ndarray:
    return np.swapaxes(a, -1, -2)


def target_wkq1(P) -> np.ndarray:
    """Target key-query matrix of the previous-token head (first layer of the induction head).

    W_KQ^1 = sum_{t=2}^T p_t p_{t-1}^T   (query at position t attends to the key at position t - 1).

    Parameters
    ----------
    P : array_like, shape (..., T, d)
        Positional embeddings p_t (rows), T >= 2, finite; leading axes (e.g. seeds) are batched over.

    Returns
    -------
    numpy.ndarray
        Shape (..., d, d): W_KQ^1.
    """
    P = _table("P", P)
    if P.shape[-2] < 2:
        raise ValueError(f"P must have at least 2 rows (T >= 2), got {P.shape[-2]}")
    return _T(P[..., 1:, :]) @ P[..., :-1, :]


def target_wkq2(E, WOV1, triggers) -> np.ndarray:
    """Target key-query matrix of the induction head (second layer).

    W_KQ^2 = sum_{k in Q} e_k (W_OV^1 e_k)^T   (query trigger q attends to the key holding e~_q = W_OV^1 e_q).

    Parameters
    ----------
    E : array_like, shape (..., N, d)
        Token embeddings e_k (rows), finite; leading axes are batched over.
    WOV1 : array_like, shape (..., d, d)
        The value-output matrix W_OV^1 of the first layer (leading axes broadcast against those of ``E``).
    triggers : array_like of int, shape (n_Q,)
        The trigger tokens Q: a non-empty 1-D integer array with values in [0, N).

    Returns
    -------
    numpy.ndarray
        Shape (..., d, d): W_KQ^2.
    """
    E = _table("E", E)
    d = E.shape[-1]
    WOV1 = _table("WOV1", WOV1, d)
    if WOV1.shape[-2] != d:
        raise ValueError(f"WOV1 must have shape (..., {d}, {d}), got {WOV1.shape}")
    q = _indices("triggers", triggers, E.shape[-2])
    Eq = E[..., q, :]
    return _T(Eq) @ (Eq @ _T(WOV1))


def target_wov2(U, E, tokens=None) -> np.ndarray:
    """Target value-output matrix of the induction head (copies the attended token to the output).

    W_OV^2 = sum_{k in tokens} u_k e_k^T   (all N tokens by default).

    Parameters
    ----------
    U : array_like, shape (..., N, d)
        Output embeddings u_k (rows), finite, as many rows as ``E``.
    E : array_like, shape (..., N, d)
        Token embeddings e_k (rows), finite; leading axes are batched over.
    tokens : array_like of int, shape (n,), optional
        The tokens k to store: a non-empty 1-D integer array with values in [0, N); None: all tokens.

    Returns
    -------
    numpy.ndarray
        Shape (..., d, d): W_OV^2.
    """
    E = _table("E", E)
    U = _table("U", U, E.shape[-1])
    if U.shape[-2] != E.shape[-2]:
        raise ValueError(f"U must have as many rows as E ({E.shape[-2]}), got {U.shape[-2]}")
    k = np.arange(E.shape[-2]) if tokens is None else _indices("tokens", tokens, E.shape[-2])
    return _T(U[..., k, :]) @ E[..., k, :]


def _indices(name: str, idx, n: int) -> np.ndarray:
    a = np.asarray(idx)
    if a.ndim != 1 or a.size == 0 or not np.issubdtype(a.dtype, np.integer) or a.min() < 0 or a.max() >= n:
        raise ValueError(f"{name} must be a non-empty 1-D integer array with values in [0, {n - 1}]")
    return a


def probe(W, keys, cands, targets=None):
    """Memory-recall probe of a matrix W against a target association (see the module docstring).

    R(W) = (1/M) sum_{i<M} 1{targets_i = argmax_j cands_j^T W keys_i}   (j over all J candidates).

    Ties of the argmax count as failures. R depends only on the direction of W (R(c W) = R(W), c > 0).

    Parameters
    ----------
    W : array_like, shape (..., d, d)
        The matrix probed (e.g. a trained W_hat), finite.
    keys : array_like, shape (..., M, d)
        The inputs e_i (rows), finite.
    cands : array_like, shape (..., J, d)
        The candidate outputs u_j (rows), finite.
    targets : array_like of int, shape (M,), optional
        The index in [0, J) of the right candidate of each key; None: key i expects candidate i
        (needs J >= M).

    Returns
    -------
    float or numpy.ndarray
        R in [0, 1]: a float when there are no leading axes, else an array over the leading axes.
    """
    keys = _table("keys", keys)
    d = keys.shape[-1]
    cands = _table("cands", cands, d)
    W = _table("W", W, d)
    if W.shape[-2] != d:
        raise ValueError(f"W must have shape (..., {d}, {d}), got {W.shape}")
    M, J = keys.shape[-2], cands.shape[-2]
    if targets is None:
        if J < M:
            raise ValueError(f"targets must be given when there are fewer candidates ({J}) than keys ({M})")
        targets = np.arange(M)
    targets = _indices("targets", targets, J)
    if targets.size != M:
        raise ValueError(f"targets must have one entry per key ({M}), got {targets.size}")
    sc = cands @ W @ _T(keys)  # (..., J, M)
    best = sc.argmax(-2)
    unique = (sc == sc.max(-2, keepdims=True)).sum(-2) == 1
    r = np.mean((best == targets) & unique, axis=-1)
    return float(r) if np.ndim(r) == 0 else r


def probe_chance(J: int) -> float:
    """Chance level of the probe: the expected R of a W_hat unrelated to the target.

    R_chance = 1/J   (J exchangeable candidates).

    Parameters
    ----------
    J : int
        Number of candidates, J >= 1.

    Returns
    -------
    float
        1/J.
    """
    return 1.0 / check_int("J", J, 1)


def construction_scales(T: int, c: float = 3.0) -> dict:
    """Inverse temperatures of the construction: beta_KQ = c log T for both heads, beta_OV = c.

    An attention head with logit margin beta over t <= T keys puts weight >= 1 - T e^{-beta} on the
    right key in the orthonormal limit, so beta = 3 log T leaves at most T^-2 elsewhere.

    Parameters
    ----------
    T : int
        Sequence length (number of keys), T >= 2.
    c : float, default 3.0
        Scale factor, c > 0.

    Returns
    -------
    dict
        {'WKQ1': c log T, 'WKQ2': c log T, 'WOV2': c}.
    """
    T = check_int("T", T, 2)
    c = check_float("c", c, 0.0, lo_open=True)
    return {"WKQ1": c * np.log(T), "WKQ2": c * np.log(T), "WOV2": c}


def construction(E, P, U, WOV1, triggers, scales: dict | None = None, *, remap: bool = True) -> dict:
    """The induction-head construction, each target matrix scaled by its inverse temperature.

    WKQ1 = beta_1 sum_{t=2}^T p_t p_{t-1}^T,   WKQ2 = beta_2 sum_{k in Q} e_k (W_OV^1 e_k)^T,
    WOV2 = beta_3 sum_k u_k e_k^T,   (beta_1, beta_2, beta_3) = scales['WKQ1'], scales['WKQ2'], scales['WOV2'].

    ``remap=False`` gives the control W_KQ^2 = sum_{k in Q} e_k e_k^T that ignores the remapping by W_OV^1
    (the key then does not hold e~_q).

    Parameters
    ----------
    E : array_like, shape (..., N, d)
        Token embeddings e_k (rows), finite; leading axes are batched over.
    P : array_like, shape (..., T, d)
        Positional embeddings p_t (rows), T >= 2, finite.
    U : array_like, shape (..., N, d)
        Output embeddings u_k (rows), finite.
    WOV1 : array_like, shape (..., d, d)
        The value-output matrix W_OV^1 of the first layer.
    triggers : array_like of int, shape (n_Q,)
        The trigger tokens Q: a non-empty 1-D integer array with values in [0, N).
    scales : dict, optional
        Inverse temperatures with exactly the keys 'WKQ1', 'WKQ2', 'WOV2', each a finite float > 0;
        None: :func:`construction_scales` (T) with its default c = 3.
    remap : bool, default True
        True: W_KQ^2 uses W_OV^1 e_k; False: the control that uses e_k (W_OV^1 = I).

    Returns
    -------
    dict
        {'WKQ1', 'WKQ2', 'WOV2'}: numpy arrays of shape (..., d, d).
    """
    E = _table("E", E)
    P = _table("P", P, E.shape[-1])
    remap = check_bool("remap", remap)
    if scales is not None and not isinstance(scales, dict):
        raise ValueError(f"scales must be a dict with the keys WKQ1, WKQ2, WOV2 or None, got {scales!r}")
    s = construction_scales(P.shape[-2]) if scales is None else scales
    if set(s) != {"WKQ1", "WKQ2", "WOV2"}:
        raise ValueError(f"scales must have the keys WKQ1, WKQ2, WOV2, got {sorted(s)}")
    for k, v in s.items():
        check_float(f"scales[{k}]", v, 0.0, lo_open=True)
    kq2 = target_wkq2(E, WOV1, triggers) if remap else target_wkq2(E, np.eye(E.shape[-1]), triggers)
    return {"WKQ1": s["WKQ1"] * target_wkq1(P), "WKQ2": s["WKQ2"] * kq2, "WOV2": s["WOV2"] * target_wov2(U, E)}
