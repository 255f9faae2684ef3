"""The capacity simulators run the seeds in groups under a byte budget (``max_bytes``, issue #20): every seed draws
its own generators and the row chunks are sized from the call's total number of seeds, so a grouped run gives
exactly (torch.equal) the values of the ungrouped one; a bad budget, or one that a single seed does not fit in, is
refused up front with a ValueError."""

from __future__ import annotations

import pytest
import torch

from impl import capacity as ic

SEEDS = (3, 5, 8, 13, 21)
BIG = 1 << 40  # every seed in one group

# (name, call with max_bytes; sizes chosen so that one seed needs a few hundred KiB at most)
CASES = {
    "lowrank": lambda mb, **k: ic.lowrank_accuracy([40, 90], 8, 24, SEEDS, max_bytes=mb, **k),
    "mlp": lambda mb, **k: ic.mlp_accuracy([40, 90], 16, 12, SEEDS, max_bytes=mb, **k),
    "mlp_pairs": lambda mb, **k: ic.mlp_accuracy(49, 16, 12, SEEDS, pairs=7, max_bytes=mb, **k),
    "multi": lambda mb, **k: ic.multi_accuracy([5, 8], 16, 12, SEEDS, max_bytes=mb, **k),
    "relu": lambda mb, **k: ic.relu_accuracy([40, 90], 10, SEEDS, max_bytes=mb, **k),
}


def _one_seed_bytes(name: str, **k) -> int:
    """Bytes one seed needs: read from the refusal of max_bytes = 1."""
    with pytest.raises(ValueError, match=r"max_bytes: one seed of .* needs (\d+) bytes") as e:
        CASES[name](1, **k)
    return int(str(e.value).split(" needs ")[1].split(" bytes")[0])


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize(
    "kw", [{}, dict(n_eval=17, chunk=5), dict(dtype=torch.float64)], ids=["default", "chunk", "f64"]
)
def test_seed_groups_give_the_ungrouped_values_exactly(name, kw):
    whole = CASES[name](BIG, **kw)
    assert torch.equal(CASES[name](None, **kw), whole)  # the default budget (1 GiB) holds every seed here
    per_seed = _one_seed_bytes(name, **kw)
    for g in (1, 2, 3):  # groups of g seeds: 5, 3 and 2 groups
        grouped = CASES[name](g * per_seed + per_seed // 2, **kw)
        assert grouped.shape == whole.shape and grouped.dtype == torch.float64
        assert torch.equal(grouped, whole), (name, g)


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("bad", [0, -1, 2.5, 1e9, "1GiB", True, [1024]])
def test_bad_max_bytes_is_refused(name, bad):
    with pytest.raises(ValueError, match=r"max_bytes must be an integer in \[1, inf\)"):
        CASES[name](bad)


@pytest.mark.parametrize("name", list(CASES))
def test_a_seed_over_the_budget_is_refused_up_front_with_its_size(name):
    per_seed = _one_seed_bytes(name)
    with pytest.raises(ValueError) as e:
        CASES[name](per_seed - 1)
    msg = str(e.value)
    assert f"needs {per_seed} bytes" in msg and f"max_bytes = {per_seed - 1} bytes" in msg
    assert "d = " in msg  # the sizes
    assert torch.equal(CASES[name](per_seed), CASES[name](BIG))  # exactly one seed's worth is enough


def test_full_tier_seed_is_refused_before_allocating():
    """CP1 at m = 512, d = 2048, N = 44153 (the full tier's largest cell) needs about 0.86 GiB per seed: a budget of
    256 MiB is refused at once (no table is drawn: this returns in well under a second)."""
    with pytest.raises(ValueError, match=r"lowrank_accuracy at N = 44153, m = 512, d = 2048, n_eval = 2048"):
        ic.lowrank_accuracy(44153, 512, 2048, tuple(range(10)), n_eval=2048, max_bytes=256 << 20)


def test_default_budget_groups_seeds():
    """max_bytes=None: MAX_BYTES (1 GiB) per group, and a seed that alone needs more runs alone (no refusal)."""
    assert ic.MAX_BYTES == 1 << 30
    per_seed = ic._lowrank_seed_bytes([44153], 512, 2048, 10, 2048, None, 4)
    assert 0.5 * 2**30 < per_seed < ic.MAX_BYTES  # so the full tier's CP1 runs one seed at a time by default
    assert [len(g) for g in ic._seed_groups(tuple(range(10)), per_seed, None, "x", "N")] == [1] * 10
    assert [len(g) for g in ic._seed_groups(tuple(range(10)), 2 * ic.MAX_BYTES, None, "x", "N")] == [1] * 10
    assert [len(g) for g in ic._seed_groups(tuple(range(10)), ic.MAX_BYTES // 4, None, "x", "N")] == [4, 4, 2]
