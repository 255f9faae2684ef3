"""impl.factual.train_transformers trains its num_seeds * K models in groups under ``max_bytes``: every grouping
gives the values of one batch (bit for bit on one thread when the groups keep each model's 64-byte alignment,
float round-off otherwise), and a budget that holds no model is refused up front, naming the sizes.

The grouping tests run with ``pad='grid'`` (every model padded to the grid's maxima, one batch); the tests at the
end compare it with ``pad='size'`` (the default: each distinct size its own unpadded batch over the seeds)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import impl.factual as fi
from impl.factual import FactTask, Sizes

FIELDS = ("accuracy", "loss", "history", "steps_at", "params")


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _budget(task, sizes, seeds, models, dtype=None):
    """max_bytes that holds exactly ``models`` models per group."""
    shared, per_model = fi._train_memory(task, sizes, len(seeds), dtype=dtype)
    return shared + models * per_model


def _train(task, sizes, seeds, max_bytes, dtype="float32", pad="grid"):
    return fi.train_transformers(
        task, sizes, seeds, steps=6, lr=0.05, eval_every=2, max_bytes=max_bytes, dtype=dtype, progress=False, pad=pad
    )


# S R = 16 prompts and d_max = 16: every model's slice of every tensor spans a multiple of 64 bytes (align 1)
ALIGNED = (
    FactTask(S=4, R=4, D=2, n_noise=3, T=3),
    Sizes(dims=[16, 8, 16], heads=[1, 2, 3], widths=[0, 3, 5], d_head=2),
)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("models", [1, 2, 4, 5, 8])
def test_groups_equal_one_batch_bit_for_bit(models, dtype):
    task, sizes = ALIGNED
    seeds = (3, 4, 5)
    assert fi._group_align(task, sizes, torch.finfo(getattr(torch, dtype)).bits // 8) == 1
    whole = _train(task, sizes, seeds, None, dtype)
    assert whole.info["groups"] == 1
    grouped = _train(task, sizes, seeds, _budget(task, sizes, seeds, models, dtype), dtype)
    assert grouped.info["groups"] == math.ceil(9 / models)
    for f in FIELDS:
        np.testing.assert_array_equal(getattr(grouped, f), getattr(whole, f), err_msg=f)
    assert grouped.accuracy.shape == (3, 3) and grouped.history.shape == (3, 3, 3)


def test_default_budget_groups_and_equals_one_batch():
    """The default (TRAIN_MAX_BYTES) is what a call without max_bytes gets; here everything fits in one group,
    and a budget of one model per group gives the same values."""
    task, sizes = ALIGNED
    seeds = (0, 1)
    default = fi.train_transformers(task, sizes, seeds, steps=4, lr=0.05, progress=False, pad="grid")
    assert default.info["groups"] == 1
    one = fi.train_transformers(
        task, sizes, seeds, steps=4, lr=0.05, progress=False, max_bytes=_budget(task, sizes, seeds, 1), pad="grid"
    )
    assert one.info["groups"] == 6
    for f in FIELDS:
        np.testing.assert_array_equal(getattr(one, f), getattr(default, f), err_msg=f)


def test_full_tier_fr1_default_groups():
    """The full tier's FR1 (64, 64, 4, 64) grid, 8 seeds: the default 1 GiB budget splits the 80 models (one batch
    was ~11.6 GiB per step) into groups whose estimate stays under it (measured peak: 758 MiB)."""
    S, R, D, d = 64, 64, 4, 64
    heads = [2, 4, 8, 11, 16, 23, 32, 45, 64, 128]  # test_factual._fr1_sizes over the full tier's 10 ks
    widths = [4, 8, 16, 23, 32, 45, 64, 91, 128, 256]
    task, sizes = FactTask(S, R, D, T=3), Sizes(dims=[d] * 10, heads=heads, widths=widths, d_head=4)
    shared, per_model = fi._train_memory(task, sizes, 8)
    fit = int((fi.TRAIN_MAX_BYTES - shared) // per_model)
    assert fi._group_align(task, sizes, 4) == 1
    group = fi._group_size(80, fit, 1)
    assert 1 <= group < 80 and shared + group * per_model <= fi.TRAIN_MAX_BYTES


# S R = 15 and odd widths: groups of fewer than 16 models shift some models' 64-byte alignment
UNALIGNED = (
    FactTask(S=5, R=3, D=2, n_noise=3, T=3),
    Sizes(dims=[4, 6, 5], heads=[1, 3, 2], widths=[0, 3, 7], d_head=3),
)


@pytest.mark.parametrize("models", [1, 2, 5])
def test_unaligned_groups_differ_by_round_off_only(models):
    """MKL's batched products round depending on the operands' alignment, so here the grouping may move the
    float32 results by round-off (measured: at most 2.4e-7 in the loss after 12 steps)."""
    task, sizes = UNALIGNED
    seeds = (3, 4, 5)
    assert fi._group_align(task, sizes, 4) == 16
    whole = _train(task, sizes, seeds, None)
    grouped = _train(task, sizes, seeds, _budget(task, sizes, seeds, models))
    assert grouped.info["groups"] == math.ceil(9 / models)
    np.testing.assert_allclose(grouped.loss, whole.loss, rtol=1e-5, atol=1e-6)
    assert np.abs(grouped.accuracy - whole.accuracy).max() <= 1 / task.n_facts  # at most a near-tie flips
    np.testing.assert_array_equal(grouped.steps_at, whole.steps_at)


def test_group_size_rule():
    for B in range(1, 40):
        for fit in range(1, 45):
            for align in (1, 2, 4, 8, 16):
                g = fi._group_size(B, fit, align)
                assert 1 <= g <= min(B, fit)
                usable = B if fit >= B else fit - fit % align if fit >= align else fit  # aligned starts if possible
                assert math.ceil(B / g) == math.ceil(B / min(B, usable))  # the fewest such groups
                if align <= fit < B:
                    assert g % align == 0


@pytest.mark.parametrize("bad", [0, -1, 0.0, float("nan"), float("inf"), "1e9", True, [2**30]])
def test_max_bytes_invalid(bad):
    task, sizes = ALIGNED
    with pytest.raises(ValueError, match=r"max_bytes must be a (finite )?real number in \(0\.0, inf\)"):
        fi.train_transformers(task, sizes, 0, steps=1, max_bytes=bad, progress=False)


def test_max_bytes_too_small_for_one_model_is_refused_up_front():
    task, sizes = ALIGNED
    seeds = (0, 1)
    need = _budget(task, sizes, seeds, 1)
    with pytest.raises(ValueError, match=r"max_bytes must be at least .* GiB \(%d bytes\) for one model" % need) as e:
        fi.train_transformers(task, sizes, seeds, steps=10**8, max_bytes=need - 1, progress=False, pad="grid")
    msg = str(e.value)
    assert "(d_max, H_max, d_head, m_max) = (16, 3, 2, 5)" in msg and "S R = 16 prompts of T = 3 tokens" in msg
    assert "2 x 3 models" in msg
    r = fi.train_transformers(task, sizes, seeds, steps=1, max_bytes=need, progress=False, pad="grid")
    assert r.info["groups"] == 6


def _one(sizes, k):
    return Sizes(dims=[sizes.dims[k]], heads=[sizes.heads[k]], widths=[sizes.widths[k]], d_head=sizes.d_head)


def test_size_mode_refuses_a_budget_below_its_largest_model_up_front():
    """With pad='size' one model of the largest distinct size (and its seeds' weights) must fit: the refusal names
    that size, and exactly that budget trains every size, each one model per group."""
    task, sizes = ALIGNED
    seeds = (0, 1)
    need = max(_budget(task, _one(sizes, k), seeds, 1) for k in range(sizes.K))
    assert need == _budget(task, _one(sizes, 2), seeds, 1)  # (d, H, m) = (16, 3, 5), the largest
    with pytest.raises(ValueError, match=r"max_bytes must be at least .* GiB \(%d bytes\) for one model" % need) as e:
        fi.train_transformers(task, sizes, seeds, steps=10**8, max_bytes=need - 1, progress=False)
    msg = str(e.value)
    assert "(d_max, H_max, d_head, m_max) = (16, 3, 2, 5)" in msg and "the 2 models' (one per seed)" in msg
    r = fi.train_transformers(task, sizes, seeds, steps=1, max_bytes=need, progress=False)
    assert r.info["pad"] == "size" and r.info["groups"] >= 3


@pytest.mark.parametrize("dtype, rtol", [("float64", 1e-12), ("float32", 1e-5)])
@pytest.mark.parametrize("case", ["aligned", "unaligned"])
def test_size_mode_equals_grid_up_to_round_off(case, dtype, rtol):
    """pad='size' trains the same models as pad='grid' (a padded unit, head or coordinate adds exact zeros and gets
    zero gradient, so Adam leaves it at its start): the values agree up to float round-off. The bounds are round-off
    bounds fixed before measuring (rtol 1e-12 in float64, 1e-5 in float32 after 6 steps; measured: 0 and at most a
    few float32 ulps), and the accuracy moves by at most one near-tie fact (1 / (S R))."""
    task, sizes = ALIGNED if case == "aligned" else UNALIGNED
    seeds = (3, 4, 5)
    grid = _train(task, sizes, seeds, None, dtype, pad="grid")
    size = _train(task, sizes, seeds, None, dtype, pad="size")
    assert size.info["pad"] == "size" and size.info["groups"] == sizes.K  # 3 distinct sizes, all seeds a batch
    np.testing.assert_allclose(size.loss, grid.loss, rtol=rtol, atol=0)
    assert np.abs(size.accuracy - grid.accuracy).max() <= 1 / task.n_facts
    assert np.abs(size.history - grid.history).max() <= 1 / task.n_facts
    for f in ("steps_at", "params"):
        np.testing.assert_array_equal(getattr(size, f), getattr(grid, f), err_msg=f)


# d = 16 and S R = 16: every distinct size's slices span multiples of 64 bytes (align 1); the 2nd and 4th sizes repeat
REPEATED = Sizes(dims=[16, 16, 16, 16], heads=[1, 2, 3, 2], widths=[0, 3, 5, 3], d_head=2)


@pytest.mark.parametrize("models", [1, 2])
def test_size_mode_groups_and_repeats_bit_for_bit(models):
    """pad='size': a size that repeats in the grid trains once and fills each of its columns; groups of seeds give
    the values of one batch per size bit for bit (each model keeps its alignment), and each model equals the same
    model trained alone (one seed, one size)."""
    task = ALIGNED[0]
    seeds = (3, 4, 5)
    assert all(fi._group_align(task, _one(REPEATED, k), 4) == 1 for k in range(4))
    whole = _train(task, REPEATED, seeds, None, pad="size")
    assert whole.info["groups"] == 3  # 3 distinct sizes
    np.testing.assert_array_equal(whole.loss[:, 1], whole.loss[:, 3])
    np.testing.assert_array_equal(whole.history[:, :, 1], whole.history[:, :, 3])
    budget = max(_budget(task, _one(REPEATED, k), seeds, models) for k in range(4))
    grouped = _train(task, REPEATED, seeds, budget, pad="size")
    assert grouped.info["groups"] > 3
    for f in FIELDS:
        np.testing.assert_array_equal(getattr(grouped, f), getattr(whole, f), err_msg=f)
    for i, s in enumerate(seeds):
        for k in (0, 2):
            alone = fi.train_transformers(
                task, _one(REPEATED, k), (s,), steps=6, lr=0.05, eval_every=2, noise_seed=seeds[0], progress=False
            )
            assert alone.info["groups"] == 1
            np.testing.assert_array_equal(alone.loss[0, 0], whole.loss[i, k])
            np.testing.assert_array_equal(alone.history[:, 0, 0], whole.history[:, i, k])
