"""Gradient accumulation over chunks of the batch in :func:`impl.birth.train_birth` (the full tier's memory budget).

A step whose batch is cut into chunks must move the parameters as the whole batch does: each chunk's summed
cross-entropy is divided by the whole batch's count of loss positions, so the chunks' gradients add up to the
batch's gradient; only the order of the float sums differs. A batch that fits in one chunk runs the unchunked
computation, bit for bit.

Tolerances: the chunked and whole-batch sums of a few hundred terms differ in their last bits, and three SGD
steps with momentum carry that difference forward. float32: rtol 1e-5, atol 1e-6, i.e. about 100 float32 ulps
(2**-23 = 1.2e-7) of the entries' size (at most 0.31 here); measured differences at most 4.5e-8. float64:
rtol 1e-12, atol 1e-14; measured at most 1.1e-16. A chunking that normalised each chunk by its own count, or
stepped the optimiser per chunk, misses these by orders of magnitude.
"""

from __future__ import annotations

import pytest
import torch

import impl.birth as ib

NAMES = ("K1", "K2", "O2")
KW = dict(steps=3, batch=10, lr=0.2, eval_every=1, eval_batch=4, progress=False)


def _tiny(dtype=torch.float32, layers=2, seeds=(0, 1)):
    task = ib.BirthTask(T=24, K=3)
    return ib.init_birth(task.N, 24, 12, seeds, layers=layers, dtype=dtype), task


def _reference(model, task, *, steps, batch, lr, momentum=0.9, weight_decay=1e-4, loss_on="icl", **_):
    """The optimiser loop written out: the whole batch's per-seed mean loss through birth_forward (the plain
    model, not the fast loss) and one autograd call per step, then SGD with momentum and weight decay."""
    names = NAMES if model.layers == 2 else ("K1", "O1")
    W = {n: model.W[n].clone() for n in names}
    bufs = {n: torch.zeros_like(W[n]) for n in names}
    for it in range(1, steps + 1):
        b = task.sample(batch, model.seeds, step=it)
        x, y = b.tokens[..., :-1], b.tokens[..., 1:]
        m = ib.birth_counters(b.tokens, b.triggers)[..., :-1] >= 2 if loss_on == "icl" else torch.ones_like(x).bool()
        Wg = {n: W[n].clone().requires_grad_(True) for n in names}
        logits = ib.birth_forward(model, x, Wg)
        nll = torch.nn.functional.cross_entropy(logits.flatten(0, 2), y.flatten(), reduction="none").view_as(y)
        loss = ((nll * m).sum((1, 2)) / m.sum((1, 2)).clamp_min(1)).sum()
        gs = torch.autograd.grad(loss, [Wg[n] for n in names])
        for n, g in zip(names, gs):
            bufs[n] = momentum * bufs[n] + g + weight_decay * W[n]
            W[n] = W[n] - lr * bufs[n]
    return W


def _close(a, b, dtype):
    tol = dict(rtol=1e-12, atol=1e-14) if dtype == torch.float64 else dict(rtol=1e-5, atol=1e-6)
    return torch.allclose(a, b, **tol)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("chunk", [1, 3, 4, 9])
def test_chunked_steps_equal_whole_batch_steps(dtype, chunk):
    m, task = _tiny(dtype)
    whole = ib.train_birth(m, task, chunk=KW["batch"], **KW)
    part = ib.train_birth(m, task, chunk=chunk, **KW)
    ref = _reference(m, task, **KW)
    for n in NAMES:
        assert not torch.equal(whole.model.W[n], m.W[n])  # trained
        assert _close(part.model.W[n], whole.model.W[n], dtype), (n, (part.model.W[n] - whole.model.W[n]).abs().max())
        assert _close(whole.model.W[n], ref[n], dtype), (n, (whole.model.W[n] - ref[n]).abs().max())
        assert _close(part.model.W[n], ref[n], dtype), (n, (part.model.W[n] - ref[n]).abs().max())
    for k in whole.metrics:
        assert whole.metrics[k].shape == part.metrics[k].shape == (2, KW["steps"] + 1)


def test_chunked_one_layer_and_all_positions():
    m, task = _tiny(torch.float64, layers=1)
    kw = dict(KW, loss_on="all")
    whole = ib.train_birth(m, task, chunk=KW["batch"], **kw)
    part = ib.train_birth(m, task, chunk=4, **kw)
    ref = _reference(m, task, **kw)
    for n in ("K1", "O1"):
        assert _close(part.model.W[n], whole.model.W[n], torch.float64)
        assert _close(part.model.W[n], ref[n], torch.float64)


def test_chunk_gradient_equals_batch_gradient_with_empty_chunks():
    """Per-chunk normalisation by the whole batch's count: counts differ between chunks (some have none)."""
    m, task = _tiny(torch.float64, seeds=(0, 1, 2))
    b = task.sample(16, m.seeds, step=1)
    x, y = b.tokens[..., :-1], b.tokens[..., 1:]
    mask = ib.birth_counters(b.tokens, b.triggers)[..., :-1] >= 2
    mask[0, ::2] = False  # seed 0: half of its sequences out of the loss, so its last chunks are empty
    mask[2] = False  # seed 2: no position at all (its loss is 0 and its gradient 0)
    mask[2, 5, 20] = True  # ... but one
    W = dict(m.W)
    W.update({n: m.W[n].clone().requires_grad_(True) for n in NAMES})
    full = torch.autograd.grad(ib._masked_loss_fast(m, x, y, mask, W).sum(), [W[n] for n in NAMES])
    for chunk in (1, 5, 16):
        got = ib._chunked_grad(m, x, y, mask, W, NAMES, chunk)
        assert all(torch.allclose(a, c, rtol=1e-12, atol=1e-14) for a, c in zip(got, full)), chunk


def test_one_chunk_is_the_unchunked_computation():
    """chunk >= batch, and the default on a small batch, run the one-piece step: bit-identical parameters."""
    m, task = _tiny()
    a = ib.train_birth(m, task, **KW)
    b = ib.train_birth(m, task, chunk=KW["batch"], **KW)
    c = ib.train_birth(m, task, chunk=10**6, **KW)
    d = ib.train_birth(m, task, max_bytes=ib._step_bytes(2, KW["batch"], 24, 12, 4), **KW)
    for n in NAMES:
        assert torch.equal(a.model.W[n], b.model.W[n])
        assert torch.equal(a.model.W[n], c.model.W[n])
        assert torch.equal(a.model.W[n], d.model.W[n])
    for k in a.metrics:
        assert (a.metrics[k] == b.metrics[k]).all()


def test_max_bytes_sets_the_chunk():
    m, task = _tiny()
    by_bytes = ib.train_birth(m, task, max_bytes=ib._step_bytes(2, 3, 24, 12, 4), **KW)
    by_chunk = ib.train_birth(m, task, chunk=3, **KW)
    tiny = ib.train_birth(m, task, max_bytes=1, **KW)  # below one sequence: one sequence per seed at a time
    one = ib.train_birth(m, task, chunk=1, **KW)
    for n in NAMES:
        assert torch.equal(by_bytes.model.W[n], by_chunk.model.W[n])
        assert torch.equal(tiny.model.W[n], one.model.W[n])


def test_default_chunks_the_full_tier_and_not_the_fast_tier():
    # the full tier (5 seeds, T = d = 256, batch 512, float32): chunks of 12 sequences per seed
    assert ib._STEP_BYTES // ib._step_bytes(5, 1, 256, 256, 4) == 12
    # the fast tier of checks/test_transformer.py (5 seeds, T = d = 64, batch 32): one chunk
    assert ib._STEP_BYTES // ib._step_bytes(5, 1, 64, 64, 4) >= 32


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(chunk=0), r"chunk must be an integer in \[1, inf\)"),
        (dict(chunk=-3), r"chunk must be an integer in \[1, inf\)"),
        (dict(chunk=2.5), r"chunk must be an integer in \[1, inf\)"),
        (dict(chunk=True), r"chunk must be an integer in \[1, inf\)"),
        (dict(chunk="4"), r"chunk must be an integer in \[1, inf\)"),
        (dict(max_bytes=0), r"max_bytes must be an integer in \[1, inf\)"),
        (dict(max_bytes=1.5e9), r"max_bytes must be an integer in \[1, inf\)"),
        (dict(chunk=4, max_bytes=2**20), r"chunk or max_bytes, not both"),
    ],
)
def test_invalid_chunk_arguments(kw, match):
    m, task = _tiny()
    with pytest.raises(ValueError, match=match):
        ib.train_birth(m, task, steps=1, batch=4, eval_batch=4, progress=False, **kw)
