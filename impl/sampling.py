"""Samplers: Zipf token distributions, i.i.d. samples and their counts, batched over seeds."""

from __future__ import annotations

import torch

from amemory.validate import (
    MAX_STEPS,
    check_alloc,
    check_float,
    check_int,
    check_prob,
    check_seeds,
    resolve_device,
    resolve_dtype,
)

_SAMPLE_STREAM = 0x5A3


def zipf_probs(N: int, alpha: float, *, dtype=torch.float64, device=None) -> torch.Tensor:
    """Zipf(alpha) probabilities of N tokens, as a tensor.

    p(x) = x^-alpha / sum_{k<=N} k^-alpha for x = 1..N (index 0 is the most frequent token),
    computed in log space (log p(x) = -alpha log x - logsumexp_k(-alpha log k)).

    Parameters
    ----------
    N : int
        Number of tokens, N >= 1.
    alpha : float
        Zipf exponent, finite, alpha >= 0 (alpha = 0 is the uniform law).
    dtype : torch.dtype, default torch.float64
        dtype of the result (computed in float64, then cast).
    device : str, torch.device or None, default None
        'cpu' (also for None), 'cuda', 'cuda:k' or 'auto'.

    Returns
    -------
    torch.Tensor
        Shape (N,), summing to one; entry i is p(i + 1).
    """
    N = check_int("N", N, 1)
    alpha = check_float("alpha", alpha, 0.0)
    if dtype is not None:
        dtype = resolve_dtype(dtype)
    check_alloc("N", 3 * 8.0 * N)
    x = torch.arange(1, N + 1, dtype=torch.float64)
    logw = -alpha * torch.log(x)
    p = torch.exp(logw - torch.logsumexp(logw, 0))
    return p.to(dtype=dtype, device=resolve_device(device))


def generator(seed: int, stream: int = _SAMPLE_STREAM) -> torch.Generator:
    """CPU generator of a (seed, stream) pair, independent of the embeddings' streams.

    The generator is seeded with SplitMix64(seed, stream) (the hash of :mod:`impl.embeddings`), so every
    (seed, stream) pair has its own reproducible random stream.

    Parameters
    ----------
    seed : int
        Seed, an integer in [0, 2**62].
    stream : int, default 0x5A3 (the token-sampling stream)
        Stream id, an integer in [0, 2**62]; different streams of one seed are independent.

    Returns
    -------
    torch.Generator
        A new CPU generator.
    """
    from .embeddings import _mix

    seed = check_int("seed", seed, 0, 2**62)
    stream = check_int("stream", stream, 0, 2**62)
    g = torch.Generator(device="cpu")
    g.manual_seed(_mix(seed, stream))
    return g


def sample_tokens(p: torch.Tensor, T: int, seeds, *, device=None) -> torch.Tensor:
    """T i.i.d. tokens from ``p`` per seed, shape (S, T), int64 (drawn on the CPU for reproducibility).

    x_1, ..., x_T ~ p i.i.d. (sampling with replacement, p normalised by its sum), from the seed's own
    generator :func:`generator` (seed, 0x5A3).

    Parameters
    ----------
    p : array_like or torch.Tensor
        Token weights, shape (N,), finite, non-negative, with a positive sum (normalised here).
    T : int
        Number of samples per seed, T >= 0.
    seeds : int or sequence of int
        One seed or a non-empty sequence of seeds, each in [0, 2**62].
    device : str, torch.device or None, default None
        Device of the result: 'cpu' (also for None), 'cuda', 'cuda:k' or 'auto'.

    Returns
    -------
    torch.Tensor
        int64 tensor of shape (S, T), S = number of seeds, values in [0, N - 1].
    """
    T = check_int("T", T, 0, MAX_STEPS)
    seeds = check_seeds(seeds)
    check_prob("p", p, normalized=False)
    check_alloc("T", 8.0 * len(seeds) * T)
    p = torch.as_tensor(p, dtype=torch.float64).cpu()
    out = torch.empty(len(seeds), T, dtype=torch.long)
    for i, s in enumerate(seeds):
        if T:
            out[i] = torch.multinomial(p, T, replacement=True, generator=generator(s))
    return out.to(resolve_device(device))


def token_counts(tokens: torch.Tensor, N: int) -> torch.Tensor:
    """Counts n(x) of every token, shape (S, N) (float64) for samples of shape (S, T).

    n_s(x) = sum_{t=1}^T 1{tokens[s, t] = x}.

    Parameters
    ----------
    tokens : array_like or torch.Tensor
        Integer samples of shape (S, T), values in [0, N - 1].
    N : int
        Number of tokens, N >= 1.

    Returns
    -------
    torch.Tensor
        float64 tensor of shape (S, N), on the device of ``tokens``; each row sums to T.
    """
    N = check_int("N", N, 1)
    if tokens is None or isinstance(tokens, (str, bytes)):
        raise ValueError(f"tokens must be an integer array of shape (S, T), got {tokens!r}")
    try:
        tokens = torch.as_tensor(tokens)
    except (TypeError, ValueError, RuntimeError):
        raise ValueError("tokens must be an integer array of shape (S, T)") from None
    if tokens.is_floating_point() or tokens.is_complex() or tokens.dtype == torch.bool:
        raise ValueError(f"tokens must be an integer array of shape (S, T), got dtype {tokens.dtype}")
    if tokens.ndim != 2 or tokens.shape[0] == 0:
        raise ValueError(f"tokens must have shape (S, T) with S >= 1, got {tuple(tokens.shape)}")
    check_alloc("N", 8.0 * tokens.shape[0] * N)
    if tokens.numel() and (int(tokens.min()) < 0 or int(tokens.max()) >= N):
        raise ValueError(f"tokens must lie in [0, {N - 1}]")
    c = torch.zeros(tokens.shape[0], N, dtype=torch.float64, device=tokens.device)
    c.scatter_add_(1, tokens, torch.ones_like(tokens, dtype=torch.float64))
    return c


def sample_counts(p: torch.Tensor, T: int, seeds, *, device=None) -> torch.Tensor:
    """Counts of T i.i.d. draws from p per seed, shape (S, N): a multinomial draw, O(N) per seed.

    n_s ~ Multinomial(T, p / sum p), drawn in pieces of at most 10^6 samples from the seed's generator
    (stream 0x5A4, independent of :func:`sample_tokens`).

    Parameters
    ----------
    p : array_like or torch.Tensor
        Token weights, shape (N,), finite, non-negative, with a positive sum (normalised here).
    T : int
        Number of draws per seed, T >= 0.
    seeds : int or sequence of int
        One seed or a non-empty sequence of seeds, each in [0, 2**62].
    device : str, torch.device or None, default None
        Device of the result: 'cpu' (also for None), 'cuda', 'cuda:k' or 'auto'.

    Returns
    -------
    torch.Tensor
        float64 tensor of shape (S, N); each row sums to T.
    """
    T = check_int("T", T, 0, MAX_STEPS)
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
