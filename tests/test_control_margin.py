"""``amemory.stats.control_margin``, ``control_margin_p`` and the margin helpers (``band_margin``, ``widened_margin``,
``all_margin``, ``any_margin``, ``t_crit``): the margin of a negative control in standard errors,
positive iff it rejected, and about Phi^-1 of the probability that it keeps rejecting under fresh seeds."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as st

from amemory.stats import (
    all_margin,
    any_margin,
    band_margin,
    control_margin,
    control_margin_p,
    mean_ci,
    t_crit,
    widened_margin,
)

Z = float(st.norm.isf(0.025))  # the default critical value, 1.95996...


def test_sign_follows_rejection_and_units_are_standard_errors():
    # estimate 0, 95% interval [-Z, Z]: SE 1
    assert control_margin(0.0, -Z, Z, 5.0) == pytest.approx(5.0 - Z)
    assert control_margin(0.0, -Z, Z, -5.0) == pytest.approx(5.0 - Z)
    assert control_margin(0.0, -Z, Z, 1.0) == pytest.approx(1.0 - Z)  # inside: not rejected, < 0
    assert control_margin(0.0, -Z, Z, Z) == pytest.approx(0.0)
    # +-delta: the nearer one decides
    assert control_margin(0.3, 0.3 - Z, 0.3 + Z, [4.0, -4.0]) == pytest.approx(min(3.7, 4.3) - Z)


def test_asymmetric_interval_uses_the_side_of_the_wrong_value():
    # below: SE = (1 - 0) / Z; above: SE = (4 - 1) / Z
    assert control_margin(1.0, 0.0, 4.0, -1.0) == pytest.approx((0.0 - -1.0) / (1 / Z))
    assert control_margin(1.0, 0.0, 4.0, 7.0) == pytest.approx((7.0 - 4.0) / (3 / Z))


def test_other_critical_values():
    # a t interval: half-width t * SE
    t = st.t.ppf(0.975, 4)
    assert control_margin(0.0, -t * 0.5, t * 0.5, 3.0, crit=t) == pytest.approx(3.0 / 0.5 - t)


def test_probability_to_keep_rejecting_is_about_phi_of_the_margin():
    """Calibration: draws of 10 seeds from N(mu, 1), 95% t-intervals, the control 'mean = 0': the share of draws
    that reject agrees with Phi(mean margin) within a few points (the t interval's extra width and the margin's own
    spread make Phi(mean margin) approximate; the test bounds the gap, it does not fit it)."""
    rng = np.random.default_rng(7)
    n, mu = 10, 1.0
    crit = st.t.ppf(0.975, n - 1)
    margins, rejected = [], []
    for _ in range(4000):
        x = rng.normal(mu, 1.0, n)
        m, lo, hi = mean_ci(x)
        margins.append(control_margin(m, lo, hi, 0.0, crit=crit))
        rejected.append(lo > 0 or hi < 0)
    share = float(np.mean(rejected))
    assert all((mg > 0) == r for mg, r in zip(margins, rejected))
    assert abs(share - st.norm.cdf(np.mean(margins) / np.std(margins))) < 0.05


def test_an_estimate_outside_its_interval_uses_the_symmetric_se():
    # percentile bootstrap [1, 3] around an estimate of 0.5: SE = (3 - 1) / (2 Z) = 1 / Z on both sides
    assert control_margin(0.5, 1.0, 3.0, 5.0) == pytest.approx((5.0 - 3.0) * Z)
    assert control_margin(0.5, 1.0, 3.0, 0.0) == pytest.approx((1.0 - 0.0) * Z)
    assert control_margin(0.5, 1.0, 3.0, 2.0) < 0


def test_degenerate_interval_has_no_margin():
    assert control_margin(1.0, 1.0, 1.0, 2.0) is None


@pytest.mark.parametrize(
    "args, kw, match",
    [
        ((0.0, 2.0, 1.0, 3.0), {}, "lo <= hi"),
        ((float("nan"), 1.0, 2.0, 3.0), {}, "finite"),
        ((0.0, -1.0, 1.0, []), {}, "wrong"),
        ((0.0, -1.0, 1.0, float("nan")), {}, "wrong"),
        ((0.0, -1.0, 1.0, 3.0), {"crit": 0.0}, "crit"),
        ((0.0, -1.0, 1.0, 3.0), {"side": "left"}, "side"),
    ],
)
def test_bad_input_names_the_parameter(args, kw, match):
    with pytest.raises(ValueError, match=match):
        control_margin(*args, **kw)


def test_p_value_margin():
    assert control_margin_p(0.05) == pytest.approx(0.0)
    assert control_margin_p(0.01) > 0 > control_margin_p(0.2)
    assert control_margin_p(0.05, two_sided=True) == pytest.approx(0.0)
    assert control_margin_p(st.norm.sf(5.0)) == pytest.approx(5.0 - st.norm.isf(0.05))
    assert np.isfinite(control_margin_p(0.0))
    for bad in ({"p": 1.5}, {"p": float("nan")}, {"p": 0.1, "alpha": 0.0}):
        name = "alpha" if "alpha" in bad else "p"
        with pytest.raises(ValueError, match=name):
            control_margin_p(**bad)


def test_one_sided_side_reads_the_named_side_even_when_the_wrong_value_is_beyond_the_estimate():
    # the control needs 0.5 below the interval [0, 2] of 1 (SE 1/Z on the lower side)
    assert control_margin(1.0, 0.0, 2.0, 0.5, side="below") == pytest.approx(-0.5 * Z)
    assert control_margin(1.0, 0.0, 2.0, 0.5) == pytest.approx(-0.5 * Z)  # the nearer side is the same here
    # 1.5 lies above the estimate: "below" still measures lo - wrong on the lower side (negative), the default
    # would measure it against hi
    assert control_margin(1.0, 0.0, 2.0, 1.5, side="below") == pytest.approx(-1.5 * Z)
    assert control_margin(1.0, 0.0, 2.0, 1.5) == pytest.approx(-0.5 * Z)
    assert control_margin(1.0, 0.0, 2.0, 3.0, side="above") == pytest.approx(Z)
    assert control_margin(1.0, 0.0, 2.0, -1.0, side="above") == pytest.approx(-3.0 * Z)


def test_band_margin():
    # interval [0.8, 1.2] of 1 (SE 0.2 / Z): band [0.75, 1.25] holds it (negative), band [0.9, 1.5] does not
    assert band_margin(1.0, 0.8, 1.2, 0.75, 1.25) == pytest.approx(-0.05 / (0.2 / Z))
    assert band_margin(1.0, 0.8, 1.2, 0.9, 1.5) == pytest.approx(0.1 / (0.2 / Z))
    assert band_margin(1.0, 0.8, 1.6, 0.5, 1.5) == pytest.approx(0.1 / (0.6 / Z))  # the upper side's own SE
    assert band_margin(1.0, 1.0, 1.2, 0.0, 2.0) is None
    for kw, name in (({"band_lo": 2.0}, "band_lo"), ({"crit": -1.0}, "crit"), ({"lo": 3.0}, "lo")):
        args = {"estimate": 1.0, "lo": 0.8, "hi": 1.2, "band_lo": 0.5, "band_hi": 1.5} | kw
        with pytest.raises(ValueError, match=name):
            band_margin(**args)


def test_widened_margin():
    # interval [8, 12] of 10 (SE 2 / Z each side), widened by 1.1 to [7.27, 13.2]
    assert widened_margin(10.0, 8.0, 12.0, 20.0, 1.1) == pytest.approx((20.0 / 1.1 - 12.0) / (2 / Z))
    assert widened_margin(10.0, 8.0, 12.0, 5.0, 1.1) == pytest.approx((8.0 - 5.0 * 1.1) / (2 / Z))
    assert widened_margin(10.0, 8.0, 12.0, 12.5, 1.1) < 0  # inside the widened interval: not rejected
    assert widened_margin(10.0, 10.0, 12.0, 20.0, 1.1) is None
    for kw, name in (({"tol": 0.5}, "tol"), ({"wrong": -1.0}, "wrong"), ({"hi": 1.0}, "lo")):
        args = {"estimate": 10.0, "lo": 8.0, "hi": 12.0, "wrong": 20.0, "tol": 1.1} | kw
        with pytest.raises(ValueError, match=name):
            widened_margin(**args)


def test_combinators_and_t_crit():
    assert all_margin(1.0, -2.0, 3.0) == -2.0 and any_margin(1.0, -2.0, 3.0) == 3.0
    assert all_margin(1.0, None) is None and any_margin(None, 2.0) is None
    x = np.array([0.1, 0.4, 0.35, 0.8, 0.5])
    m, _lo, hi = mean_ci(x)
    assert (hi - m) / t_crit(x.size) == pytest.approx(x.std(ddof=1) / np.sqrt(x.size))
    assert t_crit(10, 0.9) == pytest.approx(st.t.ppf(0.95, 9))
    for bad in ({"n": 1}, {"n": 2.5}, {"n": 5, "level": 1.0}):
        with pytest.raises(ValueError, match="level" if "level" in bad else "n"):
            t_crit(**bad)
