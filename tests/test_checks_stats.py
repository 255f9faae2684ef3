"""Unit tests of checks/stats.py (the statistics of the claim checks) and of the seed derivation of checks/.

Each helper's interval (or test) is compared with the scipy / statsmodels reference it is built on, and each
has a negative case: invalid arguments raise ``ValueError``, or a wrong value is rejected.
"""

from __future__ import annotations

import importlib.util
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
import statsmodels.api as sm
from scipy import stats as st
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint

CHECKS = Path(__file__).resolve().parent.parent / "checks"
if str(CHECKS) not in sys.path:
    sys.path.insert(0, str(CHECKS))

import stats as cs  # noqa: E402  (checks/stats.py, importable once checks/ is on the path)


def _rng(seed=0):
    return np.random.default_rng(seed)


# ------------------------------------------------------------------ fits
def test_linear_fit_matches_scipy_linregress():
    rng = _rng(1)
    x = np.linspace(0, 3, 12)
    y = 0.5 + 2.0 * x + rng.normal(0, 0.3, x.size)
    fit = cs.linear_fit(x, y)
    ref = st.linregress(x, y)
    h = st.t.ppf(0.975, x.size - 2) * ref.stderr
    assert fit.slope == pytest.approx(ref.slope, rel=1e-12)
    assert fit.slope_ci == pytest.approx((ref.slope - h, ref.slope + h), rel=1e-10)
    assert fit.intercept == pytest.approx(ref.intercept, rel=1e-12)
    assert fit.contains(2.0) and not fit.contains(3.0)


def test_linear_and_loglog_fit_reject_bad_input():
    with pytest.raises(ValueError):
        cs.linear_fit([1.0, 2.0], [1.0, 2.0])  # fewer than 3 points
    with pytest.raises(ValueError):
        cs.loglog_fit([1.0, 2.0, 0.0], [1.0, 2.0, 3.0])  # x <= 0


def test_loglog_fit_recovers_a_power_law():
    x = np.geomspace(1, 1000, 10)
    y = 3.0 * x**-0.5 * np.exp(_rng(2).normal(0, 0.01, x.size))
    fit = cs.loglog_fit(x, y)
    assert fit.contains(-0.5) and not fit.contains(-0.6)
    assert fit.within(-0.5, 0.05) and not fit.within(-0.4, 0.05)


def test_cluster_fit_matches_statsmodels_cluster_ols():
    rng = _rng(3)
    x = np.geomspace(16, 1024, 7)
    S = 6
    Y = np.exp(1.0 - 0.7 * np.log(x)[None, :] + rng.normal(0, 0.1, (S, 1)) + rng.normal(0, 0.05, (S, x.size)))
    fit = cs.cluster_fit(x, Y)
    X = sm.add_constant(np.tile(np.log(x), S))
    res = sm.OLS(np.log(Y).ravel(), X).fit(
        cov_type="cluster", cov_kwds={"groups": np.repeat(np.arange(S), x.size)}, use_t=True
    )
    ci = res.conf_int(0.05)
    assert fit.slope == pytest.approx(res.params[1], rel=1e-12)
    assert fit.slope_ci == pytest.approx((ci[1, 0], ci[1, 1]), rel=1e-12)
    assert fit.n == S * x.size
    assert abs(fit.slope + 0.7) < 0.05 and not fit.contains(-0.7 + 0.3)


def test_cluster_fit_flat_curve_and_bad_input():
    x = np.array([1.0, 2.0, 4.0])
    flat = cs.cluster_fit(x, np.full((3, 3), 0.5))
    assert flat.slope == pytest.approx(0.0, abs=1e-12)
    assert flat.slope_ci[0] == flat.slope_ci[1] == pytest.approx(flat.slope, abs=1e-12)
    with pytest.raises(ValueError):
        cs.cluster_fit(x, np.zeros((3, 3)))  # errors must be positive
    with pytest.raises(ValueError):
        cs.cluster_fit(x, np.ones((3, 4)))  # shape mismatch


def _fit(lo, hi):
    return cs.Fit((lo + hi) / 2, (lo, hi), 0.0, (0.0, 0.0), 10, 0.9)


def test_slope_verdict_cases():
    sv = cs.slope_verdict(_fit(-1.05, -0.95), asym=-1.0, finite=-0.8, shift=0.1)
    assert sv.ok and sv.used == -1.0 and sv.how == "asymptotic exponent" and sv.nc_rejected
    sv = cs.slope_verdict(_fit(-0.85, -0.75), asym=-1.0, finite=-0.8, shift=0.1)
    assert sv.verdict == "reproduced" and sv.used == -0.8 and sv.how == "finite-size prediction"
    sv = cs.slope_verdict(_fit(-0.95, -0.85), asym=-1.0, finite=-0.8, shift=0.1)
    assert sv.verdict == "inconclusive" and not sv.ok
    # negative cases: far from both predictions; an interval too wide to reject the shifted prediction
    assert cs.slope_verdict(_fit(-0.4, -0.3), asym=-1.0, finite=-0.8, shift=0.1).verdict == "refuted"
    assert not cs.slope_verdict(_fit(-1.5, -0.5), asym=-1.0, finite=-0.8, shift=0.1).nc_rejected
    with pytest.raises(ValueError):
        cs.slope_verdict(_fit(-1.05, -0.95), asym=-1.0, finite=-0.8, shift=0.0)


def test_within():
    assert cs.within((0.8, 1.2), 1.0, 0.25)
    assert not cs.within((0.7, 1.2), 1.0, 0.25)


# ------------------------------------------------------------------ t-intervals and paired tests
def test_mean_ci_matches_scipy_ttest_interval():
    rng = _rng(4)
    for _ in range(20):
        x = rng.normal(rng.normal(), rng.uniform(0.1, 2), rng.integers(2, 30))
        m, lo, hi = cs.mean_ci(x)
        ref = st.ttest_1samp(x, 0.0).confidence_interval(0.95)
        assert m == pytest.approx(x.mean(), rel=1e-14)
        assert (lo, hi) == pytest.approx((ref.low, ref.high), rel=1e-12, abs=1e-14)
    X = rng.normal(size=(5, 7))
    m, lo, hi = cs.mean_ci(X, axis=1)
    ref = st.ttest_1samp(X, 0.0, axis=1).confidence_interval(0.9)
    _, lo9, hi9 = cs.mean_ci(X, level=0.9, axis=1)
    assert np.allclose(lo9, ref.low, rtol=1e-12) and np.allclose(hi9, ref.high, rtol=1e-12)
    assert m.shape == (5,) and np.all(lo < m) and np.all(m < hi)


def test_mean_ci_degenerate_cases():
    m, lo, hi = cs.mean_ci([3.0])  # one seed: no interval
    assert m == lo == hi == 3.0
    m, lo, hi = cs.mean_ci([2.0, 2.0, 2.0])  # constant data: zero width, no warning, no nan
    assert lo == hi == 2.0


def test_paired_less_matches_scipy_ttest_rel():
    rng = _rng(5)
    b = rng.normal(1.0, 0.2, 12)
    a = b - 0.1 + rng.normal(0, 0.05, 12)
    t = cs.paired_less(a, b)
    ref = st.ttest_rel(a, b, alternative="less")
    ci = st.ttest_rel(a, b).confidence_interval(0.95)
    assert t.p_value == ref.pvalue
    assert t.ci == pytest.approx((ci.low, ci.high), rel=1e-12)
    assert t.mean_diff == pytest.approx(np.mean(a - b), rel=1e-14)
    assert t.n == 12 and t.wins == int(np.sum(a < b)) and t.significant()
    # negative: the reverse ordering is not significant
    assert not cs.paired_less(b, a).significant()


def test_paired_less_constant_difference_and_bad_input():
    assert cs.paired_less([1.0, 2.0, 3.0], [2.0, 3.0, 4.0]).p_value == 0.0
    assert cs.paired_less([2.0, 3.0, 4.0], [1.0, 2.0, 3.0]).p_value == 1.0
    with pytest.raises(ValueError):
        cs.paired_less([1.0, 2.0], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError):
        cs.paired_less([1.0], [2.0])


# ------------------------------------------------------------------ thresholds and bootstrap
def test_crossing_falling_and_rising():
    x = np.array([1.0, 10.0, 100.0])
    # falling: y crosses 0.5 halfway (in log x) between 10 and 100
    assert cs.crossing(x, [1.0, 0.75, 0.25], 0.5) == pytest.approx(np.sqrt(10 * 100))
    assert cs.crossing(x, [0.25, 0.5, 0.75], 0.5, rising=True) == pytest.approx(10.0)
    assert cs.crossing(x, [0.0, 0.25, 0.75], 0.5, rising=True) == pytest.approx(np.sqrt(10 * 100))
    # negative: never crossing, or already past the level at the first point
    assert np.isnan(cs.crossing(x, [1.0, 0.9, 0.8], 0.5))
    assert np.isnan(cs.crossing(x, [0.4, 0.3, 0.2], 0.5))
    assert np.isnan(cs.crossing(x, [0.9, 0.95, 1.0], 0.5, rising=True))


def test_bootstrap_interval_matches_scipy_percentile_bootstrap():
    x = _rng(6).normal(size=9)
    ours = cs.bootstrap_interval(float, x, axis=0, n_boot=400, rng=np.random.default_rng(11))
    ref = st.bootstrap(
        (x,), np.mean, n_resamples=400, method="percentile", rng=np.random.default_rng(11)
    ).confidence_interval
    assert ours == pytest.approx((ref.low, ref.high), rel=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_bootstrap_interval_is_the_checks_resampling_of_a_threshold(dtype):
    """Bit for bit the loop the checks used (seeds on axis 1, nan replicates skipped), also for float32 data,
    whose seed means depend on the memory layout of acc[:, idx]."""
    Ns = np.array([10.0, 20.0, 40.0, 80.0])
    # four seeds fall below 0.9, six never do: resamples of those six have no crossing (nan); 10 >= 8 seeds, where
    # numpy's float sums of a mean depend on the memory layout
    r = _rng(7)
    falling = 1.0 - 0.25 * np.log2(Ns / 10)[:, None] + r.normal(0, 0.02, (4, 4))
    acc = np.hstack([falling, 0.95 + r.normal(0, 0.01, (4, 6))]).astype(dtype)
    ours = cs.bootstrap_interval(lambda m: cs.crossing(Ns, m, 0.9), acc, axis=1, n_boot=300, rng=_rng(8))
    rng = _rng(8)
    boot = [cs.crossing(Ns, acc[:, rng.integers(0, 10, 10)].mean(1), 0.9) for _ in range(300)]
    assert np.isnan(boot).any() and np.isfinite(boot).any()  # the case scipy.stats.bootstrap would turn into nan
    assert np.array_equal(ours, np.nanpercentile(boot, [2.5, 97.5]))
    # along axis 0 (seeds first, as in the factual-recall checks)
    ours0 = cs.bootstrap_interval(lambda m: cs.crossing(Ns, m, 0.9), acc.T, axis=0, n_boot=300, rng=_rng(8))
    rng = _rng(8)
    boot0 = [cs.crossing(Ns, acc.T[rng.integers(0, 10, 10)].mean(0), 0.9) for _ in range(300)]
    assert np.array_equal(ours0, np.nanpercentile(boot0, [2.5, 97.5]))


def test_bootstrap_interval_undefined_and_bad_input():
    never = cs.bootstrap_interval(lambda m: float("nan"), np.ones((3, 4)), axis=1, n_boot=10, rng=_rng(0))
    assert np.all(np.isnan(never))
    with pytest.raises(ValueError):
        cs.bootstrap_interval(float, np.ones(4), axis=0, n_boot=0, rng=_rng(0))
    with pytest.raises(ValueError):
        cs.bootstrap_interval(float, np.ones(4), axis=0, n_boot=10, rng=_rng(0), level=1.5)


# ------------------------------------------------------------------ counts, ranks, tables
@pytest.mark.parametrize("n", [10, 40, 200])
def test_clopper_pearson_lower_matches_statsmodels_and_beta(n):
    for k in range(n + 1):
        lb = cs.clopper_pearson_lower(k, n)
        # bit for bit the quantile the checks computed before (at 1 - level), and statsmodels' exact interval
        assert lb == (0.0 if k == 0 else float(st.beta.ppf(1 - 0.95, k, n - k + 1)))
        assert lb == float(proportion_confint(k, n, alpha=2 * (1 - 0.95), method="beta")[0])
        assert lb == pytest.approx(float(proportion_confint(k, n, alpha=0.1, method="beta")[0]), rel=1e-12)
    # it is a lower bound: the point estimate lies above it
    assert cs.clopper_pearson_lower(n // 2, n) < 0.5


def test_clopper_pearson_lower_bad_input():
    with pytest.raises(ValueError):
        cs.clopper_pearson_lower(5, 4)
    with pytest.raises(ValueError):
        cs.clopper_pearson_lower(1, 4, level=1.0)


def test_bonferroni_matches_multipletests():
    p = np.array([0.001, 0.012, 0.02, 0.3])
    assert np.array_equal(cs.bonferroni(p), multipletests(p, alpha=0.05, method="bonferroni")[0])
    assert cs.bonferroni(p).tolist() == [True, True, False, False]
    assert cs.bonferroni([]).size == 0
    with pytest.raises(ValueError):
        cs.bonferroni([0.5, 1.5])


def test_spearman_matches_scipy():
    x = np.arange(10.0)
    y = _rng(9).normal(size=10) - x
    assert cs.spearman(x, y) == float(st.spearmanr(x, y)[0])
    assert cs.spearman(x, np.full(10, 3.0)) == 0.0  # constant: no trend (scipy would give nan)
    with pytest.raises(ValueError):
        cs.spearman(x, y[:5])


def test_chi2_rows_matches_scipy_chisquare():
    probs = np.array([[0.5, 0.3, 0.2]])
    obs = np.array([[52.0, 27.0, 21.0]])
    stat, df, p = cs.chi2_rows(obs, probs)
    ref = st.chisquare(obs[0], obs[0].sum() * probs[0])
    assert (stat, df) == (pytest.approx(ref.statistic, rel=1e-12), 2)
    assert p == pytest.approx(ref.pvalue, rel=1e-10)
    # pooled over rows: statistics and degrees of freedom add up
    s2, df2, _ = cs.chi2_rows(np.vstack([obs, obs]), np.vstack([probs, probs]))
    assert s2 == pytest.approx(2 * stat) and df2 == 4
    # negative: counts drawn from another distribution are rejected
    _, _, p_bad = cs.chi2_rows(np.array([[20.0, 30.0, 50.0]]), probs)
    assert p_bad < 1e-6
    with pytest.raises(ValueError):
        cs.chi2_rows(obs, probs[:, :2])


# ------------------------------------------------------------------ the one seed derivation of checks/
def _checks_conftest():
    spec = importlib.util.spec_from_file_location("_checks_conftest", CHECKS / "conftest.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_derive_seeds_reproduces_the_three_former_derivations():
    derive = _checks_conftest()._derive_seeds
    for base in (0, 12345):
        # the seeds fixture (per test name)
        tag = zlib.crc32(b"test_AM1_near_orthonormal")
        old = tuple((base * 1_000_003 + tag + 7919 * (3 + i)) % (2**31) for i in range(4))
        assert derive(base, "test_AM1_near_orthonormal", 4, offset=3) == old
        # the scaling checks' shared seeds
        tag = zlib.crc32(b"scaling-core")
        old = tuple((base * 1_000_003 + tag + 7919 * (2 + i)) % (2**31) for i in range(40))
        assert derive(base, "scaling-core", 40, offset=2) == old
        # the transformer checks' shared seeds (base recovered from the first seed of the test)
        s0 = derive(base, "test_TF2_x", 1)[0]
        b = (s0 - zlib.crc32(b"test_TF2_x")) % 2**31
        old = tuple((b + zlib.crc32(b"tf-icl-runs") + 7919 * i) % 2**31 for i in range(5))
        assert derive(base, "tf-icl-runs", 5) == old
    # negative: another tag gives other seeds
    assert derive(0, "scaling-core", 3) != derive(0, "tf-icl-runs", 3)


def test_holm_matches_statsmodels():
    p = [0.01, 0.04, 0.03, 0.2]
    assert cs.holm(p).tolist() == multipletests(p, alpha=0.05, method="holm")[0].tolist()
    assert cs.holm(p).sum() >= cs.bonferroni(p).sum()  # Holm is never less powerful
    with pytest.raises(ValueError, match="p_values"):
        cs.holm([1.5])
