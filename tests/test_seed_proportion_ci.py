"""amemory.stats.seed_proportion_ci: the accuracy interval of TF3 at the ceiling (issue #19, item 7)."""

from __future__ import annotations

import numpy as np
import pytest

from amemory.stats import mean_ci, seed_proportion_ci


def test_all_perfect_gives_the_binomial_interval_not_a_point():
    m, lo, hi = seed_proportion_ci([500] * 6, [500] * 6)
    assert m == 1.0 and hi == 1.0
    assert lo == pytest.approx(0.025 ** (1 / 3000), rel=1e-12)  # Clopper-Pearson, 0 errors in 3000
    assert lo < 1.0


def test_never_narrower_than_the_seed_interval():
    k = np.array([90, 95, 99, 80, 97])
    n = np.array([100] * 5)
    m, lo, hi = seed_proportion_ci(k, n)
    mm, tlo, thi = mean_ci(k / n)
    assert m == pytest.approx(mm)
    assert lo <= tlo and hi >= min(1.0, thi)


def test_coverage_at_the_ceiling():
    """Clustered errors near the ceiling (what TF3 measures): each seed has a per-position error rate drawn from a
    heavy-tailed law (most seeds 0, a few larger). The hull covers the true mean accuracy in >= 90% of 400 draws;
    the seed t-interval alone covers it far less often (it collapses at the ceiling), which is why it is not used
    alone. Negative control: a wrong accuracy, 0.995 (an error rate 50 times the true one, still above TF3's 0.98 bar),
    is excluded in >= 90% of draws."""
    rng = np.random.default_rng(0)
    S, n = 6, 600
    rates = np.where(rng.random((400, S)) < 0.2, rng.exponential(5e-4, (400, S)), 0.0)
    true_err = 0.2 * 5e-4
    cover = cover_t = wrong_out = 0
    for r in rates:
        k = n - rng.binomial(n, r)
        _, lo, hi = seed_proportion_ci(k, np.full(S, n))
        _, tlo, thi = mean_ci(k / n)
        cover += lo <= 1 - true_err <= hi
        cover_t += tlo <= 1 - true_err <= thi
        wrong_out += not (lo <= 0.995 <= hi)
    assert cover / 400 >= 0.90
    assert cover_t / 400 < cover / 400
    assert wrong_out / 400 >= 0.9


@pytest.mark.parametrize(
    "k, n",
    [([1, 2], [2]), ([3], [2]), ([-1], [2]), ([1], [0]), ([0.5], [2]), ([], [])],
)
def test_bad_counts_raise(k, n):
    with pytest.raises(ValueError):
        seed_proportion_ci(k, n)


def test_bad_level_raises():
    with pytest.raises(ValueError, match="level"):
        seed_proportion_ci([1], [2], level=1.0)
