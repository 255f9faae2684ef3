"""Memory schemes built from Zipf samples and their exact population error (claims SL1-SL8).

A scheme turns the token counts n(x) of T samples into weights q(x) of the memory
W = sum_x q(x) u_{f*(x)} e_x^T (see :func:`scheme_weights`); :func:`population_error` returns the
exact error sum_x p(x) 1{argmax_y u_y^T W e_x != f*(x)} for many schemes, sample sizes and seeds in
one pass over the embeddings.

Cost of :func:`population_error` per seed: generating the N x d input table once, then two matrix
products of 2 N d Q M flops (Q weightings, M outputs). It computes the same thing as
:func:`impl.memory.recall` (ties count as errors) but keeps one seed's table in memory and works
with (N, d) @ (d, Q M) products instead of broadcast batched ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from amemory.validate import (
    MAX_STEPS,
    check_alloc,
    check_bool,
    check_choice,
    check_finite_tensor,
    check_float,
    check_int,
    check_prob,
    check_seeds,
    resolve_device,
    resolve_dtype,
)

from .embeddings import Embedding
from .memory import MATERIALIZE_ELEMENTS, _check_real, recall
from .sampling import sample_tokens

SCHEMES = ("p", "threshold", "ones", "seen", "seen_s", "top", "counts")


def mod_map(N: int, M: int, *, device=None) -> torch.Tensor:
    """The target map f*(x) = x mod M on tokens 0..N-1 (token 0 is the most frequent), int64 (N,).

    Parameters
    ----------
    N : int
        Number of tokens, N >= 1.
    M : int
        Number of outputs, M >= 1.
    device : str, torch.device or None, default None
        'cpu' (also for None), 'cuda', 'cuda:k' or 'auto'.

    Returns
    -------
    torch.Tensor
        int64 tensor (N,), entry x equal to x mod M, values in [0, M - 1].
    """
    N = check_int("N", N, 1)
    M = check_int("M", M, 1)
    check_alloc("N", 16.0 * N)  # the arange and its remainder, int64
    return torch.arange(N, device=resolve_device(device)) % M


def scheme_weights(scheme, counts, p, d: int, c: float = 8.0, s: int = 1, *, dtype=torch.float64) -> torch.Tensor:
    """Weights q of a memory scheme, shape ``counts.shape`` (..., N).

    The memory is W = sum_x q(x) u_{f*(x)} e_x^T ('threshold' and 'top' store at most min(floor(d/c), N)
    tokens); by scheme:

      'p'          q(x) = p(x)                          (one large-batch gradient step, SL2)
      'threshold'  q(x) = 1{x <= d/c}                   (first floor(d/c) tokens, SL3)
      'ones'       q(x) = 1                             (store everything, SL8)
      'seen'       q(x) = 1{n(x) >= 1}                  (SL6)
      'seen_s'     q(x) = 1{n(x) >= s}                  (SL4)
      'top'        q(x) = 1{x among the floor(d/c) most counted seen tokens}, ties to the smaller
                   index (SL4)
      'counts'     q(x) = n(x) = sum_i 1{x_i = x}       (SL5)

    Parameters
    ----------
    scheme : str, array_like or callable
        One of 'p', 'threshold', 'ones', 'seen', 'seen_s', 'top', 'counts'; or your own scheme: a finite
        weight array q of shape (N,) or ``counts.shape``, or a callable ``scheme(p, counts, d) -> q``
        (p a float64 tensor (N,), counts the float64 counts, d the int dimension; it returns finite weights
        of shape (N,) or ``counts.shape``), e.g. ``lambda p, counts, d: p ** 0.5``.
    counts : array_like or torch.Tensor
        Token counts n(x), finite and non-negative, shape (..., N) with at least one axis (e.g. (S, N) or
        (S, len(T), N)); for 'p', 'threshold' and 'ones' only its shape is used.
    p : array_like or torch.Tensor
        The distribution, shape (N,), finite and non-negative.
    d : int
        Dimension, d >= 1 (sets K = floor(d/c) for 'threshold' and 'top').
    c : float, default 8.0
        Capacity constant: 'threshold' and 'top' store floor(d/c) tokens; in (0, inf).
    s : int, default 1
        Count threshold of 'seen_s', s >= 1.
    dtype : torch.dtype, str or None, default torch.float64
        torch.float32 or torch.float64 (or their names); None means float64.

    Returns
    -------
    torch.Tensor
        Shape ``counts.shape``, contiguous, of ``dtype``, on the device of ``counts``.
    """
    if isinstance(scheme, str):
        check_choice("scheme", scheme, SCHEMES)
    elif not callable(scheme):
        scheme = _as_weights(scheme)
    _check_real("counts", counts, nonneg=True)
    counts = torch.as_tensor(counts)
    if counts.ndim < 1:
        raise ValueError("counts must have shape (..., N)")
    N = counts.shape[-1]
    _check_real("p", p, nonneg=True)
    p = torch.as_tensor(p, dtype=torch.float64, device=counts.device)
    if p.shape != (N,):
        raise ValueError(f"p must have shape (N,) with N = counts.shape[-1] = {N}, got {tuple(p.shape)}")
    d = check_int("d", d, 1)
    c = check_float("c", c, 0.0, lo_open=True)
    s = check_int("s", s, 1)
    dt = resolve_dtype(dtype) if dtype is not None else torch.float64
    K = min(int(d // c), N)
    shape = counts.shape
    if isinstance(scheme, torch.Tensor):  # a weight array, shape (N,) or broadcastable to counts
        try:
            q = scheme.to(counts.device).expand(shape)
        except RuntimeError:
            raise ValueError(f"scheme weights must have shape (N,) = ({N},) or {tuple(shape)}") from None
    elif callable(scheme):  # q = scheme(p, counts, d)
        try:
            out = scheme(p, counts.to(torch.float64), d)
        except Exception as e:
            raise ValueError(f"scheme(p, counts, d) raised {type(e).__name__}: {e}") from None
        q = _as_weights(out, "scheme(p, counts, d)").to(counts.device)
        try:
            q = q.expand(shape)
        except RuntimeError:
            raise ValueError(f"scheme(p, counts, d) must return weights of shape ({N},) or {tuple(shape)}") from None
    elif scheme == "p":
        q = p.expand(shape)
    elif scheme == "threshold":
        q = (torch.arange(N, device=counts.device) < K).expand(shape)
    elif scheme == "ones":
        q = torch.ones(shape, device=counts.device)
    elif scheme == "seen":
        q = counts >= 1
    elif scheme == "seen_s":
        q = counts >= s
    elif scheme == "counts":
        q = counts
    else:  # top
        q = torch.zeros(shape, dtype=torch.bool, device=counts.device)
        if K > 0:
            order = torch.sort(counts, dim=-1, descending=True, stable=True).indices[..., :K]
            q.scatter_(-1, order, True)
        q &= counts >= 1
    return q.to(dt).contiguous()


def _as_weights(w, name: str = "scheme") -> torch.Tensor:
    """Finite float64 weights from an array, list or tensor."""
    try:
        t = torch.as_tensor(w.detach().cpu() if torch.is_tensor(w) else np.asarray(w, dtype=np.float64))
    except (TypeError, ValueError):
        raise ValueError(
            f"{name} must be a scheme name {SCHEMES}, a weight array or a callable (p, counts, d)"
        ) from None
    if t.ndim < 1 or t.numel() == 0:
        raise ValueError(f"{name} weights must be a non-empty array of shape (..., N)")
    t = t.to(torch.float64)
    check_finite_tensor(name, t)
    return t


def scheme_error(
    scheme,
    N: int,
    alpha: float,
    d,
    seeds,
    *,
    M: int = 2,
    T: int | None = None,
    c: float = 8.0,
    s: int = 1,
    device=None,
    dtype=None,
) -> ScalingCurve:
    """Exact population error of a memory scheme under Zipf(alpha) data, over dimensions d, for every seed.

    Data: x ~ p(x) = x^-alpha / sum_x' x'^-alpha on [N] (token 0 the most frequent), f*(x) = x mod M,
    random N(0, 1/d) embeddings per seed; the memory is W = sum_x q(x) u_{f*(x)} e_x^T with q from
    :func:`scheme_weights` (counts of T samples per seed; T = None: no sample, counts are 0, for schemes that
    use only p and d). error[s, k] = sum_x p(x) 1{x is not recalled} at d[k] for seed s.

    Parameters
    ----------
    scheme : str, array_like or callable
        A scheme name of :data:`SCHEMES`, a weight array q of shape (N,), or a callable
        ``scheme(p, counts, d) -> q`` (torch float64 p (N,), counts (S, N), int d; weights (N,) or (S, N)).
    N : int
        Number of tokens, N >= 1.
    alpha : float
        Zipf exponent, alpha >= 0.
    d : int or sequence of int
        Dimensions, each >= 1.
    seeds : int or sequence of int
        Seeds (embeddings and samples per seed).
    M : int, default 2
        Number of outputs, M >= 2.
    T : int or None, default None
        Samples per seed for the counts, 0 <= T <= MAX_STEPS (None: no samples, as T = 0).
    c : float, default 8.0
        Capacity constant of 'threshold' and 'top'.
    s : int, default 1
        Count threshold of 'seen_s'.
    device : str, torch.device or None, default None
        'cpu' (also for None), 'cuda', 'cuda:k' or 'auto'.
    dtype : torch.dtype, str or None, default None
        torch.float32 (also for None) or torch.float64.

    Returns
    -------
    ScalingCurve
        ``d`` (K,), ``error`` (S, K) float64 tensor, ``p`` (N,), ``f`` (N,), ``weights`` (one (S, N) tensor per d).
    """
    from .sampling import zipf_probs

    N = check_int("N", N, 1)
    alpha = check_float("alpha", alpha, 0.0)
    M = check_int("M", M, 2)
    seeds = check_seeds(seeds)
    ds = [check_int("d", x, 1) for x in (d if isinstance(d, (list, tuple, range, np.ndarray)) else [d])]
    if not ds:
        raise ValueError("d must be an int >= 1 or a non-empty sequence of them")
    item = 8.0 if resolve_dtype(dtype) == torch.float64 else 4.0
    check_alloc("N, M", 8.0 * len(seeds) * (N + M))
    for dk in ds:  # per group of seeds recall holds: W and U W (S, d, d + M), the embedding tables (S, N + M, d)
        group = min(len(seeds), max(1, MATERIALIZE_ELEMENTS // (N * dk)))
        check_alloc("d", item * group * dk * (2 * dk + 2 * M + min(N, MATERIALIZE_ELEMENTS // dk + 1)))
    p = zipf_probs(N, alpha, dtype=torch.float64)
    f = mod_map(N, M)
    if T is None:
        counts = torch.zeros(len(seeds), N, dtype=torch.float64)
    else:
        T = check_int("T", T, 0, MAX_STEPS)
        counts = prefix_counts(p, [T], seeds)[:, 0]
    errors, weights = [], []
    for dk in ds:
        q = scheme_weights(scheme, counts, p, dk, c, s)  # (S, N)
        E, U = Embedding(N, dk, seeds, stream="e"), Embedding(M, dk, seeds, stream="u")
        errors.append(population_error(q.unsqueeze(1), f, E, U, p, device=device, dtype=dtype)[:, 0].cpu())
        weights.append(q)
    return ScalingCurve(np.array(ds), torch.stack(errors, 1), p, f, weights)


@dataclass
class ScalingCurve:
    """The result of :func:`scheme_error`.

    Parameters
    ----------
    d : numpy.ndarray
        The dimensions (K,).
    error : torch.Tensor
        Population error per seed and dimension, float64 (S, K).
    p : torch.Tensor
        The Zipf distribution (N,), float64.
    f : torch.Tensor
        The target map x mod M (N,), int64.
    weights : list of torch.Tensor
        The weights q of each dimension, (S, N) each.
    """

    d: np.ndarray
    error: torch.Tensor
    p: torch.Tensor
    f: torch.Tensor
    weights: list


def prefix_counts(p, Ts, seeds, *, device=None) -> torch.Tensor:
    """Counts n_T(x) of the first T tokens of one i.i.d. stream per seed, for every T of ``Ts``.

    n_T(x) = sum_{t <= T} 1{x_t = x} with x_1, x_2, ... ~ p i.i.d. (the stream of
    :func:`impl.sampling.sample_tokens` for the seed).

    The samples are nested (the stream for T = 100 starts with the one for T = 10), so a seed's
    curve over T is one training run observed at several times. Shape (S, len(Ts), N), float64.
    Tokens are drawn with :func:`impl.sampling.sample_tokens` (per seed, in groups of seeds so that
    at most about 2 * 10^7 tokens are held at once).

    Parameters
    ----------
    p : array_like or torch.Tensor
        Token weights, shape (N,), finite, non-negative, with a positive sum (normalised by the sampler).
    Ts : sequence of int
        Sample sizes, a non-empty non-decreasing sequence (list, tuple, range or 1-D array) of integers in
        [0, MAX_STEPS].
    seeds : int or sequence of int
        One seed or a non-empty sequence of seeds, each in [0, 2**62].
    device : str, torch.device or None, default None
        'cpu' (also for None), 'cuda', 'cuda:k' or 'auto'.

    Returns
    -------
    torch.Tensor
        float64 tensor (S, len(Ts), N); out[s, k] sums to Ts[k].
    """
    seeds = check_seeds(seeds)
    check_prob("p", p, normalized=False)
    p = torch.as_tensor(p, dtype=torch.float64)
    if not isinstance(Ts, (list, tuple, range, np.ndarray)):
        raise ValueError(f"Ts must be a non-empty non-decreasing sequence of ints in [0, {MAX_STEPS}], got {Ts!r}")
    Ts = [check_int("Ts", t, 0, MAX_STEPS) for t in (Ts if isinstance(Ts, (list, tuple)) else list(Ts))]
    if not Ts or any(b < a for a, b in zip(Ts, Ts[1:])):
        raise ValueError("Ts must be a non-empty non-decreasing sequence of non-negative ints")
    dev = resolve_device(device)
    N, Tmax = p.numel(), Ts[-1]
    check_alloc(
        "Ts", 8.0 * len(seeds) * len(Ts) * N + 16.0 * min(len(seeds), max(1, (2 * 10**7) // max(Tmax, 1))) * Tmax
    )
    out = torch.empty(len(seeds), len(Ts), N, dtype=torch.float64)
    group = max(1, (2 * 10**7) // max(Tmax, 1))
    for g0 in range(0, len(seeds), group):
        gs = seeds[g0 : g0 + group]
        tok = sample_tokens(p, Tmax, gs)
        c = torch.zeros(len(gs), N, dtype=torch.float64)
        prev = 0
        for k, T in enumerate(Ts):
            if T > prev:
                c.scatter_add_(1, tok[:, prev:T], torch.ones(len(gs), T - prev, dtype=torch.float64))
            out[g0 : g0 + len(gs), k] = c
            prev = T
    return out.to(dev)


def unseen_mass(counts, p) -> torch.Tensor:
    """Mass of the unseen tokens sum_x p(x) 1{n(x) = 0}, shape ``counts.shape[:-1]`` (float64).

    Parameters
    ----------
    counts : array_like or torch.Tensor
        Token counts n(x), finite and non-negative, shape (..., N) with at least one axis.
    p : array_like or torch.Tensor
        The distribution, shape (N,), finite and non-negative.

    Returns
    -------
    torch.Tensor
        float64 tensor of shape ``counts.shape[:-1]``, in [0, sum p].
    """
    _check_real("counts", counts, nonneg=True)
    counts = torch.as_tensor(counts)
    _check_real("p", p, nonneg=True)
    p = torch.as_tensor(p, dtype=torch.float64, device=counts.device)
    if counts.ndim < 1 or p.shape != (counts.shape[-1],):
        raise ValueError(
            f"p must have shape (N,) with N = counts.shape[-1]; got {tuple(p.shape)} and {tuple(counts.shape)}"
        )
    return ((counts == 0).to(torch.float64) * p).sum(-1)


def population_error(q, f, E: Embedding, U: Embedding, p, *, return_correct: bool = False, device=None, dtype=None):
    """Exact population error of W = sum_x q(x) u_{f*(x)} e_x^T for every seed and weighting.

        error[s, k] = sum_x p(x) 1{ max_{y != f*(x)} u_y^T W_{s,k} e_x >= u_{f*(x)}^T W_{s,k} e_x }

    A thin front of :func:`impl.memory.recall` (the one kernel): q of shape (N,), (Q, N) or (S, Q, N);
    f* integers (N,) in [0, M); E, U with the same seeds and different streams; p the token distribution.
    Returns the error (S, Q) in float64 (and the bool tensor ``correct`` (S, Q, N) if asked).

    Parameters
    ----------
    q : array_like or torch.Tensor
        Finite weights, shape (N,), (Q, N) or (S, Q, N).
    f : array_like or torch.Tensor
        The target map f*, integers of shape (N,) with values in [0, M - 1], M = U.n.
    E : Embedding
        Input embeddings (N vectors).
    U : Embedding
        Output embeddings (M vectors), same seeds and d as ``E``, a different stream.
    p : array_like or torch.Tensor
        Token distribution, shape (N,), finite and non-negative (not None).
    return_correct : bool, default False
        Also return which tokens are recalled.
    device : str, torch.device or None, default None
        'cpu' (also for None), 'cuda', 'cuda:k' or 'auto'.
    dtype : torch.dtype, str or None, default None
        torch.float32 (also for None) or torch.float64, or their names.

    Returns
    -------
    error : torch.Tensor
        float64 tensor (S, Q).
    correct : torch.Tensor
        bool tensor (S, Q, N); returned (as ``(error, correct)``) only when ``return_correct``.
    """
    if p is None:
        raise ValueError("p must be a probability vector of shape (N,)")
    return_correct = check_bool("return_correct", return_correct)
    r = recall(q, f, E, U, p, device=device, dtype=dtype)
    return (r.error, r.correct) if return_correct else r.error
