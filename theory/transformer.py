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

from amemory.validate import check_array, check_float, check_int

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
    """W_KQ^1 = sum_{t=2}^T p_t p_{t-1}^T for positional embeddings P (..., T, d), T >= 2; shape (..., d, d)."""
    P = _table("P", P)
    if P.shape[-2] < 2:
        raise ValueError(f"P must have at least 2 rows (T >= 2), got {P.shape[-2]}")
    return _T(P[..., 1:, :]) @ P[..., :-1, :]


def target_wkq2(E, WOV1, triggers) -> np.ndarray:
    """W_KQ^2 = sum_{k in Q} e_k (W_OV^1 e_k)^T for token embeddings E (..., N, d), W_OV^1 (..., d, d),
    Q = ``triggers``; shape (..., d, d)."""
    E = _table("E", E)
    d = E.shape[-1]
    WOV1 = _table("WOV1", WOV1, d)
    if WOV1.shape[-2] != d:
        raise ValueError(f"WOV1 must have shape (..., {d}, {d}), got {WOV1.shape}")
    q = _indices("triggers", triggers, E.shape[-2])
    Eq = E[..., q, :]
    return _T(Eq) @ (Eq @ _T(WOV1))


def target_wov2(U, E, tokens=None) -> np.ndarray:
    """W_OV^2 = sum_{k in tokens} u_k e_k^T (all tokens by default) for E, U (..., N, d); shape (..., d, d)."""
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
    """R = (1/M) sum_i 1{targets_i = argmax_j cands_j^T W keys_i}; W (..., d, d), keys (..., M, d),
    cands (..., J, d), targets (M,) (default: i itself, which needs J >= M). Ties count as failures.
    Returns a float, or an array over the leading axes."""
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
    """Expected probe value of a W_hat unrelated to the target: 1/J for J exchangeable candidates."""
    return 1.0 / check_int("J", J, 1)


def construction_scales(T: int, c: float = 3.0) -> dict:
    """Inverse temperatures of the construction: beta_KQ = c log T for both heads, beta_OV = c.

    An attention head with logit margin beta over t <= T keys puts weight >= 1 - T e^{-beta} on the
    right key in the orthonormal limit, so beta = 3 log T leaves at most T^-2 elsewhere.
    """
    T = check_int("T", T, 2)
    c = check_float("c", c, 0.0, lo_open=True)
    return {"WKQ1": c * np.log(T), "WKQ2": c * np.log(T), "WOV2": c}


def construction(E, P, U, WOV1, triggers, scales: dict | None = None, *, remap: bool = True) -> dict:
    """The induction-head construction {'WKQ1', 'WKQ2', 'WOV2'} (each (..., d, d)) scaled by ``scales``
    (default :func:`construction_scales`). ``remap=False`` gives the control W_KQ^2 = sum_k e_k e_k^T
    that ignores the remapping by W_OV^1 (the key then does not hold e~_q)."""
    E = _table("E", E)
    P = _table("P", P, E.shape[-1])
    s = construction_scales(P.shape[-2]) if scales is None else scales
    if set(s) != {"WKQ1", "WKQ2", "WOV2"}:
        raise ValueError(f"scales must have the keys WKQ1, WKQ2, WOV2, got {sorted(s)}")
    for k, v in s.items():
        check_float(f"scales[{k}]", v, 0.0, lo_open=True)
    kq2 = target_wkq2(E, WOV1, triggers) if remap else target_wkq2(E, np.eye(E.shape[-1]), triggers)
    return {"WKQ1": s["WKQ1"] * target_wkq1(P), "WKQ2": s["WKQ2"] * kq2, "WOV2": s["WOV2"] * target_wov2(U, E)}
