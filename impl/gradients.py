"""Cross-entropy of linear associative memories and real gradient steps (torch, autograd).

The simulations behind GM1-GM4: the population loss and its autograd gradient, one population
gradient step from W = 0, and one SGD step on a sampled batch. All functions batch over a leading
seed axis: W (S, d, d), X (S, n, d), U (S, M, d).
"""

from __future__ import annotations

import torch

from amemory.validate import check_finite_tensor, check_float, check_int, check_seeds, resolve_device, resolve_dtype

from .embeddings import Embedding
from .sampling import sample_counts


def cross_entropy(W: torch.Tensor, X: torch.Tensor, U: torch.Tensor, p_joint: torch.Tensor) -> torch.Tensor:
    """L(W) = -sum_{x,k} p(x, k) log softmax_k(u_k^T W x), batched over leading axes; returns (S,)."""
    check_finite_tensor("W", W)
    check_finite_tensor("X", X)
    check_finite_tensor("U", U)
    check_finite_tensor("p_joint", p_joint, nonneg=True)
    if W.shape[-1] != X.shape[-1] or W.shape[-2] != U.shape[-1] or p_joint.shape[-2:] != (X.shape[-2], U.shape[-2]):
        raise ValueError(
            f"shapes must be W (.., d, d), X (.., n, d), U (.., M, d), p_joint (.., n, M); got "
            f"{tuple(W.shape)}, {tuple(X.shape)}, {tuple(U.shape)}, {tuple(p_joint.shape)}"
        )
    logits = X @ W.transpose(-1, -2) @ U.transpose(-1, -2)
    return -(p_joint * torch.log_softmax(logits, dim=-1)).sum((-2, -1))


def autograd_gradient(W: torch.Tensor, X: torch.Tensor, U: torch.Tensor, p_joint: torch.Tensor) -> torch.Tensor:
    """grad_W L(W) by automatic differentiation, same shape as W."""
    W = W.detach().clone().requires_grad_(True)
    loss = cross_entropy(W, X, U, p_joint).sum()
    (g,) = torch.autograd.grad(loss, W)
    return g


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

    Returns (W_1 (S, d, d), E (S, N, d), U (S, M, d)).
    """
    M = check_int("M", M, 1)
    d = check_int("d", d, 1)
    eta = check_float("eta", eta, 0.0, lo_open=True)
    seeds = check_seeds(seeds)
    dev, dt = resolve_device(device), resolve_dtype(dtype)
    f = torch.as_tensor(f, device=dev).long()
    N = f.numel()
    if N < 1 or int(f.min()) < 0 or int(f.max()) >= M:
        raise ValueError(f"f must be a non-empty integer map with values in [0, {M - 1}]")
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
    empirical joint distribution of the sampled batch, by autograd.
    Returns (W_1 (S, d, d), E (S, N, d), U (S, M, d), counts (S, N)).
    """
    batch = check_int("batch", batch, 1)
    seeds = check_seeds(seeds)
    dev, dt = resolve_device(device), resolve_dtype(dtype)
    f = torch.as_tensor(f, device=dev).long()
    counts = sample_counts(p, batch, seeds, device=dev)
    N = f.numel()
    if counts.shape[-1] != N:
        raise ValueError(f"p must have one entry per token (N={N}), got {counts.shape[-1]}")
    E = Embedding(N, d, seeds, kind, "e").full(device=dev, dtype=dt)
    U = Embedding(M, d, seeds, kind, "u").full(device=dev, dtype=dt)
    P = torch.zeros(len(seeds), N, M, device=dev, dtype=dt)
    P[:, torch.arange(N, device=dev), f] = (counts / batch).to(dt)
    W0 = torch.zeros(len(seeds), d, d, device=dev, dtype=dt)
    return -eta * autograd_gradient(W0, E, U, P), E, U, counts
