"""Zipf law p(x) ∝ x^-alpha on x = 1..N (index 0 is the most frequent token)."""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp

from amemory.validate import check_float, check_int


def zipf_pmf(N: int, alpha: float) -> np.ndarray:
    """p(x) = x^-alpha / H_{N,alpha}, shape (N,), computed in log space."""
    N = check_int("N", N, 1)
    alpha = check_float("alpha", alpha, 0.0)
    logw = -alpha * np.log(np.arange(1, N + 1, dtype=float))
    return np.exp(logw - logsumexp(logw))
