"""Samplers: Zipf token distributions, i.i.d. samples and their counts, batched over seeds."""

from __future__ import annotations

import torch

from amemory.validate import check_float, check_int, check_prob, check_seeds, resolve_device

_SAMPLE_STREAM = 0x5A3


def zipf_probs(N: int, alpha: float, *, dtype=torch.float64, device=None) -> torch.Tensor:
    """p(x) = x^-alpha / sum_{k<=N} k^-alpha for x = 1..N (index 0 is the most frequent token)."""
    N = check_int("N", N, 1)
    alpha = check_float("alpha", alpha, 0.0)
    x = torch.arange(1, N + 1, dtype=torch.float64)
    logw = -alpha * torch.log(x)
    p = torch.exp(logw - torch.logsumexp(logw, 0))
    return p.to(dtype=dtype, device=resolve_device(device))


def generator(seed: int, stream: int = _SAMPLE_STREAM) -> torch.Generator:
    """CPU generator of a (seed, stream) pair, independent of the embeddings' streams."""
    from .embeddings import _mix

    g = torch.Generator(device="cpu")
    g.manual_seed(_mix(seed, stream))
    return g


def sample_tokens(p: torch.Tensor, T: int, seeds, *, device=None) -> torch.Tensor:
    """T i.i.d. tokens from ``p`` per seed, shape (S, T), int64 (drawn on the CPU for reproducibility)."""
    T = check_int("T", T, 0)
    seeds = check_seeds(seeds)
    check_prob("p", p, normalized=False)
    p = torch.as_tensor(p, dtype=torch.float64).cpu()
    out = torch.empty(len(seeds), T, dtype=torch.long)
    for i, s in enumerate(seeds):
        if T:
            out[i] = torch.multinomial(p, T, replacement=True, generator=generator(s))
    return out.to(resolve_device(device))


def token_counts(tokens: torch.Tensor, N: int) -> torch.Tensor:
    """Counts n(x) of every token, shape (S, N) (float64) for samples of shape (S, T)."""
    N = check_int("N", N, 1)
    tokens = torch.as_tensor(tokens)
    if tokens.ndim != 2:
        raise ValueError(f"tokens must have shape (S, T), got {tuple(tokens.shape)}")
    if tokens.numel() and (int(tokens.min()) < 0 or int(tokens.max()) >= N):
        raise ValueError(f"tokens must lie in [0, {N - 1}]")
    c = torch.zeros(tokens.shape[0], N, dtype=torch.float64, device=tokens.device)
    c.scatter_add_(1, tokens, torch.ones_like(tokens, dtype=torch.float64))
    return c


def sample_counts(p: torch.Tensor, T: int, seeds, *, device=None) -> torch.Tensor:
    """Counts of T i.i.d. draws from p per seed, shape (S, N): a multinomial draw, O(N) per seed."""
    T = check_int("T", T, 0)
    seeds = check_seeds(seeds)
    check_prob("p", p, normalized=False)
    p = torch.as_tensor(p, dtype=torch.float64).cpu()
    p = p / p.sum()
    out = torch.empty(len(seeds), p.numel(), dtype=torch.float64)
    for i, s in enumerate(seeds):
        g = generator(s, _SAMPLE_STREAM + 1)
        out[i] = _multinomial_counts(p, T, g)
    return out.to(resolve_device(device))


def _multinomial_counts(p: torch.Tensor, T: int, g: torch.Generator) -> torch.Tensor:
    """Counts of T draws, drawn in pieces of at most 10**6 so memory stays bounded."""
    counts = torch.zeros_like(p)
    done = 0
    while done < T:
        k = min(10**6, T - done)
        idx = torch.multinomial(p, k, replacement=True, generator=g)
        counts += torch.bincount(idx, minlength=p.numel()).to(torch.float64)
        done += k
    return counts
