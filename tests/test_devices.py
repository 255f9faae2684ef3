"""CPU/CUDA parity: the same seeds give the same embeddings and, up to float rounding, the same results.

These tests run where CUDA is present and are skipped cleanly elsewhere. Tolerance: float64 on both sides,
so differences come from summation order only (relative 1e-10 on scores and margins); recall decisions
may differ only for tokens whose margin is within that tolerance of 0.
"""

from __future__ import annotations

import pytest
import torch

from impl.embeddings import Embedding
from impl.gradients import one_step_memory
from impl.memory import recall

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA not available")


@cuda
def test_embeddings_identical_on_cpu_and_cuda():
    E = Embedding(5000, 64, (0, 1), stream="e")
    assert torch.equal(E.full(device="cpu"), E.full(device="cuda").cpu())


@cuda
def test_recall_parity():
    N, d = 3000, 48
    E, U = Embedding(N, d, (0, 1), stream="e"), Embedding(N, d, (0, 1), stream="u")
    q = torch.rand(2, N, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    f = torch.arange(N)
    rc = recall(q, f, E, U, dtype="float64", return_margin=True)
    rg = recall(q, f, E, U, dtype="float64", return_margin=True, device="cuda")
    assert torch.allclose(rc.margin, rg.margin.cpu(), rtol=1e-10, atol=1e-10)
    differ = rc.correct != rg.correct.cpu()
    assert bool((rc.margin[differ].abs() < 1e-9).all())


@cuda
def test_one_step_memory_parity():
    f = torch.arange(64) % 4
    a, _, _ = one_step_memory(f, 4, 32, (0,), dtype="float64")
    b, _, _ = one_step_memory(f, 4, 32, (0,), dtype="float64", device="cuda")
    assert torch.allclose(a, b.cpu(), rtol=1e-10, atol=1e-12)


def test_cuda_request_without_cuda_is_a_clear_error():
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    with pytest.raises(ValueError, match="CUDA"):
        recall(
            torch.ones(4),
            torch.arange(4),
            Embedding(4, 4, 0, stream="e"),
            Embedding(4, 4, 0, stream="u"),
            device="cuda",
        )
