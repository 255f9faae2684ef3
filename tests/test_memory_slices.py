"""impl.memory's recall forms the d x d memories W = U^T V a slice of (seed, weighting) pairs at a time, under
``W_SLICE_ELEMENTS``: any slicing gives the values of forming them all at once (bit for bit on one thread)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import impl.memory as im
from impl.embeddings import Embedding


@pytest.mark.parametrize("pairs", [1, 3, 7, 1000])
def test_sliced_memories_equal_the_whole(pairs, monkeypatch):
    N, M, d, S = 300, 7, 64, 5
    q = torch.rand(6, N, generator=torch.Generator().manual_seed(0))
    f = np.arange(N) % M
    E = Embedding(N, d, tuple(range(S)), stream="e")
    U = Embedding(M, d, tuple(range(S)), stream="u")
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        whole = im._recall_group(q, f, E, U, return_margin=True)  # 2^26 elements: every pair in one slice here
        monkeypatch.setattr(im, "W_SLICE_ELEMENTS", pairs * d * d)
        sliced = im._recall_group(q, f, E, U, return_margin=True)
    finally:
        torch.set_num_threads(n)
    assert torch.equal(whole.margin, sliced.margin) and torch.equal(whole.error, sliced.error)
    assert torch.equal(whole.correct, sliced.correct)
