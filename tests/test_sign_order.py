"""TF4's order test (``amemory.stats.sign_order``): an exact sign test of a per-seed order.

Compared with scipy's exact binomial test on hand-counted signs, with the negative cases: a wrong order is not
reported as significant, ties are left out, and bad input raises ``ValueError``.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binomtest

from amemory.stats import sign_order


def test_counts_and_p_values_match_binomtest():
    a = np.array([1, 2, 3, 4, 5, 6, 7, 8, 9, 50.0])
    b = np.array([5, 5, 5, 5, 5, 9, 9, 9, 9, 9.0])  # a < b in 7 seeds, a > b in 1, two ties (5 = 5, 9 = 9)
    r = sign_order(a, b)
    assert (r["before"], r["after"], r["ties"]) == (7, 1, 2)
    assert r["p_before"] == pytest.approx(binomtest(7, 8, 0.5, alternative="greater").pvalue, rel=1e-12)
    assert r["p_after"] == pytest.approx(binomtest(1, 8, 0.5, alternative="greater").pvalue, rel=1e-12)
    assert r["p_before"] < 0.05 < r["p_after"]


def test_a_few_late_seeds_do_not_overturn_the_order():
    """The case the sign test was chosen for: 27 of 30 seeds in one order, 3 far out the other way, whose mean
    difference a paired t-test would read as no order; and the reverse order is rejected (negative control)."""
    rng = np.random.default_rng(0)
    a = rng.integers(1, 10, 30).astype(float)
    b = a + rng.integers(5, 30, 30)
    b[:3] = a[:3] - 120.0
    r = sign_order(a, b)
    assert (r["before"], r["after"]) == (27, 3)
    assert r["p_before"] < 1e-4
    assert r["p_after"] > 0.99  # the wrong order is not supported
    assert sign_order(b, a)["p_before"] > 0.99


def test_all_ties_and_too_few_seeds_decide_nothing():
    r = sign_order(np.ones(6), np.ones(6))
    assert (r["before"], r["after"], r["ties"], r["p_before"], r["p_after"]) == (0, 0, 6, 1.0, 1.0)
    # 4 seeds all in one order: p = 1/16 > 0.05, so 4 seeds can never decide
    assert sign_order(np.arange(4.0), np.arange(4.0) + 1)["p_before"] == pytest.approx(1 / 16)


@pytest.mark.parametrize(
    "a, b, match",
    [
        (np.ones(3), np.ones(4), "paired"),
        (np.ones((2, 2)), np.ones((2, 2)), "paired"),
        (np.array([]), np.array([]), "paired"),
        (np.array([1.0, np.nan]), np.array([1.0, 2.0]), "finite"),
    ],
)
def test_bad_input_is_a_value_error(a, b, match):
    with pytest.raises(ValueError, match=match):
        sign_order(a, b)
