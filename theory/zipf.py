"""Zipf law p(x) ∝ x^-alpha on x = 1..N (index 0 is the most frequent token)."""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp

from amemory.validate import check_alloc, check_float, check_int


def zipf_pmf(N: int, alpha: float) -> np.ndarray:
    """Probability mass function of the Zipf law on N tokens.

    p(x) = x^-alpha / H_{N,alpha},   H_{N,alpha} = sum_{x'=1}^N x'^-alpha,   x = 1..N,

    computed in log space (log p(x) = -alpha log x - logsumexp_{x'}(-alpha log x')).

    Parameters
    ----------
    N : int
        Number of tokens, N >= 1.
    alpha : float
        Zipf exponent, alpha >= 0 (alpha = 0 is the uniform law).

    Returns
    -------
    numpy.ndarray
        Shape (N,), float64, summing to one; entry i is p(i + 1) (index 0 is the most frequent token).
    """
    N = check_int("N", N, 1)
    check_alloc("N", 8.0 * N)
    alpha = check_float("alpha", alpha, 0.0)
    logw = -alpha * np.log(np.arange(1, N + 1, dtype=float))
    return np.exp(logw - logsumexp(logw))
