"""Statistics shared by the checks: log-log fits with intervals, paired one-sided tests, t-intervals.

Every helper returns a small dataclass with the numbers the report shows, and says whether a given
prediction is inside the 95% interval (``contains``) so that the same fit also serves the
negative control (``contains(wrong) is False``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import statsmodels.api as sm
from scipy import stats as st


@dataclass
class Fit:
    """Slope and intercept of y = a + b x with 95% intervals (OLS or WLS)."""

    slope: float
    slope_ci: tuple[float, float]
    intercept: float
    intercept_ci: tuple[float, float]
    n: int
    r2: float

    def contains(self, value: float) -> bool:
        return self.slope_ci[0] <= value <= self.slope_ci[1]

    def as_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        return f"{self.slope:.3f} [{self.slope_ci[0]:.3f}, {self.slope_ci[1]:.3f}]"


def linear_fit(x, y, weights=None, level: float = 0.95) -> Fit:
    """OLS (or WLS with ``weights`` = 1/variance) of y on x with a t-interval on the slope."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if x.shape != y.shape or x.ndim != 1 or x.size < 3:
        raise ValueError("x and y must be 1-D arrays of the same length >= 3")
    X = sm.add_constant(x)
    res = sm.WLS(y, X, weights=np.asarray(weights, float)).fit() if weights is not None else sm.OLS(y, X).fit()
    ci = res.conf_int(alpha=1 - level)
    return Fit(
        float(res.params[1]),
        (float(ci[1, 0]), float(ci[1, 1])),
        float(res.params[0]),
        (float(ci[0, 0]), float(ci[0, 1])),
        int(x.size),
        float(res.rsquared),
    )


def loglog_fit(x, y, weights=None, level: float = 0.95) -> Fit:
    """Fit log y = a + b log x (natural logs); ``weights`` are inverse variances of log y."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if np.any(x <= 0) or np.any(y <= 0):
        raise ValueError("log-log fit needs positive x and y")
    return linear_fit(np.log(x), np.log(y), weights, level)


def mean_ci(x, level: float = 0.95, axis: int = 0):
    """Mean and t-interval along ``axis``: returns (mean, lo, hi) arrays."""
    x = np.asarray(x, float)
    n = x.shape[axis]
    m = x.mean(axis)
    if n < 2:
        return m, m, m
    se = x.std(axis, ddof=1) / np.sqrt(n)
    h = st.t.ppf(0.5 + level / 2, n - 1) * se
    return m, m - h, m + h


@dataclass
class Paired:
    """One-sided paired comparison: is ``a`` smaller than ``b`` (e.g. a lower error)?"""

    mean_diff: float
    ci: tuple[float, float]
    p_value: float
    n: int
    wins: int

    def significant(self, level: float = 0.05) -> bool:
        return self.p_value < level


def paired_less(a, b, level: float = 0.95) -> Paired:
    """Paired one-sided t-test of H1: mean(a - b) < 0, with a two-sided interval on the mean difference."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.shape != b.shape or a.size < 2:
        raise ValueError("a and b must have the same shape with at least 2 pairs")
    diff = (a - b).ravel()
    m, lo, hi = mean_ci(diff, level)
    if np.allclose(diff, diff[0]):
        p = 0.0 if diff[0] < 0 else 1.0
    else:
        p = float(st.ttest_1samp(diff, 0.0, alternative="less").pvalue)
    return Paired(float(m), (float(lo), float(hi)), p, int(diff.size), int(np.sum(diff < 0)))


def crossing(x, y, level: float) -> float:
    """First x (log-interpolated) at which a decreasing curve y(x) falls below ``level``; nan if never."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    below = np.nonzero(y < level)[0]
    if below.size == 0 or below[0] == 0:
        return float("nan")
    i = below[0]
    t = (y[i - 1] - level) / (y[i - 1] - y[i])
    return float(np.exp(np.log(x[i - 1]) + t * (np.log(x[i]) - np.log(x[i - 1]))))
