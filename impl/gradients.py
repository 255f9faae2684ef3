"""Cross-entropy of linear associative memories and real gradient steps (torch, autograd).

The simulations behind GM1-GM4: the population loss and its autograd gradient, one population
gradient step from W = 0, and one SGD step on a sampled batch. All functions batch over a leading
seed axis: W (S, d, d), X (S, n, d), U (S, M, d).
"""

from __future__ import annotations

import numpy as np
import torch

from amemory.validate import (
    MAX_STEPS,
    check_alloc,
    check_array,
    check_float,
    check_int,
    check_seeds,
    check_tensor,
    resolve_device,
    resolve_dtype,
)

from .embeddings import Embedding
from .sampling import sample_counts


def cross_entropy(W: torch.Tensor, X: torch.Tensor, U: torch.Tensor, p_joint: torch.Tensor) -> torch.Tensor:
    """L(W) = -sum_{x,k} p(x, k) log softmax_k(u_k^T W x), batched over leading axes; returns (S,).

    The logits of input x are u_k^T W x for every output k, i.e. X W^T U^T of shape (..., n, M).

    Parameters
    ----------
    W : torch.Tensor
        Memories, shape (S, d, d) (any leading axes), finite.
    X : torch.Tensor
        Inputs x as rows, shape (S, n, d), finite.
    U : torch.Tensor
        Output embeddings u_k as rows, shape (S, M, d), finite.
    p_joint : torch.Tensor
        Joint weights p(x, k), shape (S, n, M), finite and non-negative (a probability table for the
        population loss; not renormalised).

    Returns
    -------
    torch.Tensor
        Shape (S,) (the leading axes), differentiable in W.
    """
    check_tensor("W", W)
    check_tensor("X", X)
    check_tensor("U", U)
    check_tensor("p_joint", p_joint, nonneg=True)
    if W.shape[-1] != X.shape[-1] or W.shape[-2] != U.shape[-1] or p_joint.shape[-2:] != (X.shape[-2], U.shape[-2]):
        raise ValueError(
            f"shapes must be W (.., d, d), X (.., n, d), U (.., M, d), p_joint (.., n, M); got "
            f"{tuple(W.shape)}, {tuple(X.shape)}, {tuple(U.shape)}, {tuple(p_joint.shape)}"
        )
    logits = X @ W.transpose(-1, -2) @ U.transpose(-1, -2)
    return -(p_joint * torch.log_softmax(logits, dim=-1)).sum((-2, -1))


def autograd_gradient(W: torch.Tensor, X: torch.Tensor, U: torch.Tensor, p_joint: torch.Tensor) -> torch.Tensor:
    """grad_W L(W) by automatic differentiation, same shape as W.

    g = d/dW sum_s L_s(W_s) with L the cross-entropy of :func:`cross_entropy` (the seeds do not mix, so
    g[s] = grad L_s(W_s)); W itself is not modified.

    Parameters
    ----------
    W : torch.Tensor
        Memories, shape (S, d, d), finite.
    X : torch.Tensor
        Inputs as rows, shape (S, n, d), finite.
    U : torch.Tensor
        Output embeddings as rows, shape (S, M, d), finite.
    p_joint : torch.Tensor
        Joint weights p(x, k), shape (S, n, M), finite and non-negative.

    Returns
    -------
    torch.Tensor
        Shape (S, d, d).
    """
    for name, t in (("W", W), ("X", X), ("U", U), ("p_joint", p_joint)):
        check_tensor(name, t, nonneg=name == "p_joint")
    W = W.detach().clone().requires_grad_(True)
    loss = cross_entropy(W, X, U, p_joint).sum()
    (g,) = torch.autograd.grad(loss, W)
    return g


def _check_map(f, M: int | None = None) -> np.ndarray:
    """The target map f* as a 1-D integer array (values in [0, M - 1] when M is given)."""
    a = check_array("f", f, ndim=1, dtype=np.int64)
    if M is not None and (int(a.min()) < 0 or int(a.max()) >= M):
        raise ValueError(f"f must be a non-empty integer map with values in [0, {M - 1}]")
    return a


def _uniform_joint(f: torch.Tensor, M: int, p=None, dtype=torch.float64, device=None) -> torch.Tensor:
    N = f.numel()
    pz = (
        torch.full((N,), 1.0 / N, dtype=dtype, device=device)
        if p is None
        else torch.as_tensor(p, dtype=dtype, device=device)
    )
    P = torch.zeros(N, M, dtype=dtype, device=device)
    P[torch.arange(N, device=device), f] = pz
    return P


def one_step_memory(
    f, M: int, d: int, seeds, *, eta: float = 1.0, p=None, kind: str = "gaussian", device=None, dtype=None
):
    """One population gradient step from W = 0 (GM2): W_1 = -eta grad L(0), by autograd.

    With p(z, k) = p(z) 1{k = f*(z)}: W_1 = eta sum_z p(z) sum_k (1{k = f*(z)} - 1/M) u_k e_z^T
    (the softmax is uniform at W = 0).

    Parameters
    ----------
    f : array_like or torch.Tensor
        The target map f*, a non-empty integer sequence of length N with values in [0, M - 1].
    M : int
        Number of outputs, M >= 1.
    d : int
        Dimension, d >= 1.
    seeds : int or sequence of int
        One seed or a non-empty sequence of seeds, each in [0, 2**62].
    eta : float, default 1.0
        Step size, in (0, inf).
    p : array_like, torch.Tensor or None, default None
        Token distribution p(z), shape (N,) (used as given; uniform 1/N when None).
    kind : str, default 'gaussian'
        Embedding kind: 'gaussian', 'sphere' or 'orthonormal' (N, M <= d).
    device : str, torch.device or None, default None
        'cpu' (also for None), 'cuda', 'cuda:k' or 'auto'.
    dtype : torch.dtype, str or None, default None
        torch.float32 (also for None) or torch.float64, or their names.

    Returns
    -------
    W_1 : torch.Tensor
        Shape (S, d, d).
    E : torch.Tensor
        Input embeddings, shape (S, N, d) (stream 'e').
    U : torch.Tensor
        Output embeddings, shape (S, M, d) (stream 'u').
    """
    M = check_int("M", M, 1)
    d = check_int("d", d, 1)
    eta = check_float("eta", eta, 0.0, lo_open=True)
    seeds = check_seeds(seeds)
    dev, dt = resolve_device(device), resolve_dtype(dtype)
    _check_map(f, M)
    f = torch.as_tensor(f, device=dev).long()
    N = f.numel()
    if N < 1 or int(f.min()) < 0 or int(f.max()) >= M:
        raise ValueError(f"f must be a non-empty integer map with values in [0, {M - 1}]")
    if p is not None:
        check_array("p", p, shape=(N,), nonneg=True)
    check_alloc("M, d", 8.0 * len(seeds) * ((N + M) * d + d * d + N * M))
    E = Embedding(N, d, seeds, kind, "e").full(device=dev, dtype=dt)
    U = Embedding(M, d, seeds, kind, "u").full(device=dev, dtype=dt)
    P = _uniform_joint(f, M, p, dt, dev).expand(len(seeds), -1, -1)
    W0 = torch.zeros(len(seeds), d, d, device=dev, dtype=dt)
    return -eta * autograd_gradient(W0, E, U, P), E, U


def one_sgd_step(
    f, M: int, d: int, p, batch: int, seeds, *, eta: float = 1.0, kind: str = "gaussian", device=None, dtype=None
):
    """One SGD step from W = 0 on a batch of ``batch`` i.i.d. tokens z ~ p with labels f*(z) (GM4).

    The batch loss (1/B) sum_i l(z_i) equals sum_z (n_z/B) l(z), so the step is taken on the
    empirical joint distribution of the sampled batch, by autograd:
    W_1 = -eta grad L_batch(0) = eta sum_z (n_z/B) sum_k (1{k = f*(z)} - 1/M) u_k e_z^T.

    Parameters
    ----------
    f : array_like or torch.Tensor
        The target map f*, integers of shape (N,) with values in [0, M - 1].
    M : int
        Number of outputs, M >= 1.
    d : int
        Dimension, d >= 1.
    p : array_like or torch.Tensor
        Token weights, shape (N,), finite, non-negative, with a positive sum (normalised by the sampler).
    batch : int
        Batch size B, >= 1.
    seeds : int or sequence of int
        One seed or a non-empty sequence of seeds, each in [0, 2**62]; each seed draws its own batch.
    eta : float, default 1.0
        Step size, in (0, inf).
    kind : str, default 'gaussian'
        Embedding kind: 'gaussian', 'sphere' or 'orthonormal' (N, M <= d).
    device : str, torch.device or None, default None
        'cpu' (also for None), 'cuda', 'cuda:k' or 'auto'.
    dtype : torch.dtype, str or None, default None
        torch.float32 (also for None) or torch.float64, or their names.

    Returns
    -------
    W_1 : torch.Tensor
        Shape (S, d, d).
    E : torch.Tensor
        Input embeddings, shape (S, N, d).
    U : torch.Tensor
        Output embeddings, shape (S, M, d).
    counts : torch.Tensor
        Batch counts n_z, float64, shape (S, N), each row summing to B.
    """
    batch = check_int("batch", batch, 1, MAX_STEPS)
    seeds = check_seeds(seeds)
    M = check_int("M", M, 1)
    d = check_int("d", d, 1)
    eta = check_float("eta", eta, 0.0, lo_open=True)
    dev, dt = resolve_device(device), resolve_dtype(dtype)
    _check_map(f, M)
    f = torch.as_tensor(f, device=dev).long()
    N = f.numel()
    if isinstance(p, (list, tuple, np.ndarray)) or torch.is_tensor(p):
        if np.shape(p)[-1:] != (N,):
            raise ValueError(f"p must have one entry per token of f (N={N}), got shape {tuple(np.shape(p))}")
    check_alloc("M, d", 8.0 * len(seeds) * ((N + M) * d + d * d + N * M))
    counts = sample_counts(p, batch, seeds, device=dev)
    if counts.shape[-1] != N:
        raise ValueError(f"p must have one entry per token (N={N}), got {counts.shape[-1]}")
    E = Embedding(N, d, seeds, kind, "e").full(device=dev, dtype=dt)
    U = Embedding(M, d, seeds, kind, "u").full(device=dev, dtype=dt)
    P = torch.zeros(len(seeds), N, M, device=dev, dtype=dt)
    P[:, torch.arange(N, device=dev), f] = (counts / batch).to(dt)
    W0 = torch.zeros(len(seeds), d, d, device=dev, dtype=dt)
    return -eta * autograd_gradient(W0, E, U, P), E, U, counts
