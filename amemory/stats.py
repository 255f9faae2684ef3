"""Statistics of the suite (installed with it, so your own analyses can use them): fits with intervals,
paired tests, bootstrap intervals, binomial
bounds, multiple-testing corrections, rank correlations and goodness-of-fit tests.

The claim checks import this module as ``stats`` (``checks/stats.py``). A claim check reads: simulate (impl),
fit (here), decide (here: ``contains``, ``within``, ``slope_verdict``,
``bonferroni``), record. The helpers are built on statsmodels and scipy where they provide the method:

- ``linear_fit``, ``loglog_fit``: statsmodels OLS / WLS with t-intervals (``conf_int``);
- ``cluster_fit``: statsmodels OLS with a cluster-robust (by seed) covariance, t with S - 1 df;
- ``mean_curve_fit``: OLS of the log of the seed-mean curve, jackknife-over-seeds t-interval (S - 1 df);
- ``mean_ci``: the t-interval of ``scipy.stats.ttest_1samp(...).confidence_interval()``;
- ``paired_less``: ``scipy.stats.ttest_rel`` (one-sided p-value) with a two-sided interval on the mean difference;
- ``bootstrap_interval``: the percentile bootstrap of ``scipy.stats.bootstrap`` (same resamples), skipping
  undefined (nan) replicates;
- ``clopper_pearson_lower``: ``statsmodels.stats.proportion.proportion_confint(method="beta")``;
- ``sign_order``: the exact sign test of a per-seed order, ``scipy.stats.binomtest`` on the signs;
- ``bonferroni``, ``holm``: ``statsmodels.stats.multitest.multipletests(method="bonferroni" / "holm")``;
- ``spearman``: ``scipy.stats.spearmanr``; ``chi2_rows``: ``scipy.stats.chi2`` (Pearson chi-square pooled over
  the rows of a table); ``crossing``: the log-interpolated point where a curve crosses a level.

Every fit returns a small dataclass with the numbers the report shows and says whether a prediction is
inside its 95% interval (``contains``), so that the same fit also serves the negative control
(``contains(wrong) is False``).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import statsmodels.api as sm
from scipy import stats as st
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint

__all__ = [
    "Fit",
    "Paired",
    "SlopeVerdict",
    "all_margin",
    "any_margin",
    "band_margin",
    "bonferroni",
    "bootstrap_interval",
    "chi2_rows",
    "clopper_pearson_lower",
    "cluster_fit",
    "control_margin",
    "control_margin_p",
    "crossing",
    "finite_size_qualifier",
    "holm",
    "linear_fit",
    "loglog_fit",
    "mean_ci",
    "mean_curve_fit",
    "paired_less",
    "seed_proportion_ci",
    "sign_order",
    "slope_verdict",
    "spearman",
    "t_crit",
    "widened_margin",
    "within",
]


# ------------------------------------------------------------------ fits
@dataclass
class Fit:
    """Slope and intercept of y = a + b x with 95% intervals (OLS or WLS).

    Attributes
    ----------
    slope : float
        The fitted slope b.
    slope_ci : tuple of float
        The (lo, hi) interval of the slope.
    intercept : float
        The fitted intercept a.
    intercept_ci : tuple of float
        The (lo, hi) interval of the intercept.
    n : int
        The number of points fitted.
    r2 : float
        The coefficient of determination R^2 of the fit.
    """

    slope: float
    slope_ci: tuple[float, float]
    intercept: float
    intercept_ci: tuple[float, float]
    n: int
    r2: float

    def contains(self, value: float) -> bool:
        """Is ``value`` inside the interval of the slope (the prediction is not rejected)?

        Parameters
        ----------
        value : float
            The predicted slope.

        Returns
        -------
        bool
            ``slope_ci[0] <= value <= slope_ci[1]``.
        """
        return self.slope_ci[0] <= value <= self.slope_ci[1]

    def within(self, target: float, margin: float) -> bool:
        """Equivalence test: the whole interval of the slope lies in [target - margin, target + margin].

        Parameters
        ----------
        target : float
            The predicted slope.
        margin : float
            The half-width of the equivalence region around ``target``.

        Returns
        -------
        bool
            Whether ``slope_ci`` lies inside [target - margin, target + margin] (:func:`within`).
        """
        return within(self.slope_ci, target, margin)

    def as_dict(self) -> dict:
        """The fields of the fit as a dict (``dataclasses.asdict``).

        Returns
        -------
        dict
            Field name -> value (the intervals as tuples).
        """
        return asdict(self)

    def __str__(self) -> str:
        return f"{self.slope:.3f} [{self.slope_ci[0]:.3f}, {self.slope_ci[1]:.3f}]"


def _fit_from(res, ci, n: int) -> Fit:
    return Fit(
        float(res.params[1]),
        (float(ci[1, 0]), float(ci[1, 1])),
        float(res.params[0]),
        (float(ci[0, 0]), float(ci[0, 1])),
        int(n),
        float(res.rsquared),
    )


def linear_fit(x, y, weights=None, level: float = 0.95) -> Fit:
    """OLS (or WLS with ``weights`` = 1/variance) of y on x with a t-interval on the slope.

    Parameters
    ----------
    x : array_like
        The regressor, 1-D with at least 3 points.
    y : array_like
        The response, same shape as ``x``.
    weights : array_like or None
        Inverse variances of ``y`` (WLS); None: OLS.
    level : float
        The confidence level of the t-intervals.

    Returns
    -------
    Fit
        Slope, intercept, their ``level`` intervals (statsmodels ``conf_int``), n and R^2.
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    if x.shape != y.shape or x.ndim != 1 or x.size < 3:
        raise ValueError("x and y must be 1-D arrays of the same length >= 3")
    X = sm.add_constant(x)
    res = sm.WLS(y, X, weights=np.asarray(weights, float)).fit() if weights is not None else sm.OLS(y, X).fit()
    return _fit_from(res, res.conf_int(alpha=1 - level), x.size)


def loglog_fit(x, y, weights=None, level: float = 0.95) -> Fit:
    """Fit log y = a + b log x (natural logs); ``weights`` are inverse variances of log y.

    Parameters
    ----------
    x : array_like
        Positive regressor, 1-D with at least 3 points.
    y : array_like
        Positive response, same shape as ``x``.
    weights : array_like or None
        Inverse variances of log y (WLS); None: OLS.
    level : float
        The confidence level of the t-intervals.

    Returns
    -------
    Fit
        The :func:`linear_fit` of log y on log x (slope: the exponent b).
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    if np.any(x <= 0) or np.any(y <= 0):
        raise ValueError("log-log fit needs positive x and y")
    return linear_fit(np.log(x), np.log(y), weights, level)


def cluster_fit(x, Y, alpha: float = 0.05) -> Fit:
    """OLS of log Y[s, i] on log x[i] over every (seed s, point i), interval clustered by seed.

    The points of one seed share its sample and are correlated, so the covariance is cluster-robust by seed
    (statsmodels ``cov_type="cluster"``) and the (1 - ``alpha``) interval uses t with S - 1 degrees of freedom.
    A flat curve (zero residuals) has a degenerate interval: it is returned as [b, b].

    Parameters
    ----------
    x : array_like
        Positive grid, shape (n,) with n >= 2.
    Y : array_like
        Positive values (errors), shape (S, n): one row per seed, S >= 2.
    alpha : float
        One minus the confidence level of the intervals.

    Returns
    -------
    Fit
        Slope and intercept of the pooled log-log fit with cluster-robust intervals; n = S * n points.
    """
    x, Y = np.asarray(x, float), np.asarray(Y, float)
    if Y.ndim != 2 or x.ndim != 1 or Y.shape[1] != x.size or Y.shape[0] < 2 or x.size < 2:
        raise ValueError("cluster_fit needs x of shape (n,) and Y of shape (S, n) with S >= 2 and n >= 2")
    if np.any(x <= 0) or np.any(Y <= 0):
        raise ValueError("cluster_fit needs positive x and Y (errors)")
    S = Y.shape[0]
    lx = np.tile(np.log(x), S)
    X = sm.add_constant(lx)
    groups = np.repeat(np.arange(S), x.size)
    with warnings.catch_warnings():  # a flat curve (zero residuals) makes statsmodels warn; its interval is then [b, b]
        warnings.simplefilter("ignore", RuntimeWarning)
        res = sm.OLS(np.log(Y).ravel(), X).fit(cov_type="cluster", cov_kwds={"groups": groups}, use_t=True)
        ci = np.asarray(res.conf_int(alpha), float)
        ci = np.where(np.isnan(ci), np.asarray(res.params, float)[:, None], ci)
        return _fit_from(res, ci, lx.size)


def mean_curve_fit(x, Y, level: float = 0.95) -> Fit:
    """Slope of log(mean over seeds of Y) on log x, with a jackknife-over-seeds t-interval (S - 1 df).

    The predictions of SL1-SL5 are slopes of the log of an *expected* error, log E[Y(x)]. The mean of per-seed
    log-log slopes (what ``cluster_fit`` estimates) is the slope of E[log Y], which differs by Jensen's gap where
    Y spreads between seeds (SL1: at T = 10 the mean log is 0.09 below the log of the mean; over 160 seeds the
    mean per-seed slope was -0.4925 against the exact finite-N slope -0.4986, 0.9 of an 8-seed standard error, so
    a calibrated interval of the wrong quantity refuted a true prediction in about 10% of draws). Here the point
    estimate is the OLS slope of the log of the seed-mean curve; its standard error is the jackknife over seeds
    (leave one seed out, refit; sqrt((S - 1)/S sum (b_i - b_mean)^2)), and the interval uses t with S - 1 df.
    Checked on SL1's simulation: in 20 groups of 8 seeds of SL1 the interval covered -0.4986 in 19
    (the clustered per-seed slope: 18).

    Parameters
    ----------
    x : array_like
        Positive grid, shape (n,) with n >= 3.
    Y : array_like
        Positive values (errors), shape (S, n): one row per seed, S >= 3.
    level : float
        The confidence level of the intervals.

    Returns
    -------
    Fit
        Slope and intercept of the log of the seed-mean curve with jackknife t-intervals; ``n`` is the number of
        (seed, x) values, ``r2`` that of the mean curve.
    """
    x, Y = np.asarray(x, float), np.asarray(Y, float)
    S = Y.shape[0]
    if Y.ndim != 2 or Y.shape[1] != x.size or S < 3 or x.size < 3:
        raise ValueError("mean_curve_fit needs x of shape (n,) and Y of shape (S, n) with S >= 3 and n >= 3")
    full = loglog_fit(x, Y.mean(0))
    loo = np.array([loglog_fit(x, np.delete(Y, i, axis=0).mean(0)) for i in range(S)], dtype=object)
    b = np.array([f.slope for f in loo])
    a = np.array([f.intercept for f in loo])
    tq = float(st.t.ppf(0.5 + level / 2, S - 1))
    se_b = float(np.sqrt((S - 1) / S * np.sum((b - b.mean()) ** 2)))
    se_a = float(np.sqrt((S - 1) / S * np.sum((a - a.mean()) ** 2)))
    return Fit(
        full.slope,
        (full.slope - tq * se_b, full.slope + tq * se_b),
        full.intercept,
        (full.intercept - tq * se_a, full.intercept + tq * se_a),
        int(Y.size),
        full.r2,
    )


# ------------------------------------------------------------------ decisions on intervals
def within(ci, target: float, margin: float) -> bool:
    """Equivalence test: the interval ``ci`` = (lo, hi) lies inside [target - margin, target + margin].

    Parameters
    ----------
    ci : sequence of float
        The interval (lo, hi).
    target : float
        The predicted value.
    margin : float
        The half-width of the equivalence region around ``target``.

    Returns
    -------
    bool
        ``target - margin <= lo and hi <= target + margin``.
    """
    return bool(target - margin <= ci[0] and ci[1] <= target + margin)


@dataclass(frozen=True)
class SlopeVerdict:
    """Verdict of a fitted slope against an asymptotic exponent and its finite-size prediction.

    ``used`` is the prediction the negative control shifts, ``how`` says which prediction the interval
    contains, ``nc_rejected`` whether both shifted predictions fall outside the interval.

    Attributes
    ----------
    verdict : str
        "reproduced", "inconclusive" or "refuted".
    used : float
        The prediction the negative control shifts.
    how : str
        Which prediction the interval contains (or "neither...").
    nc_rejected : bool
        Whether both shifted predictions fall outside the interval (the negative control is rejected).
    """

    verdict: str
    used: float
    how: str
    nc_rejected: bool

    @property
    def ok(self) -> bool:
        """Whether the verdict is "reproduced".

        Returns
        -------
        bool
            ``verdict == "reproduced"``.
        """
        return self.verdict == "reproduced"


def finite_size_qualifier(*verdicts: SlopeVerdict) -> str | None:
    """The headline qualifier of slope verdicts of which one holds only against the finite-size prediction.

    Parameters
    ----------
    *verdicts : SlopeVerdict
        The slope verdicts that decide one record.

    Returns
    -------
    str or None
        ``"finite-size prediction only: the asymptotic exponent is outside the interval"``, or None when every
        verdict holds against the asymptotic exponent (or none holds).
    """
    if any(v.how == "finite-size prediction" for v in verdicts):
        return "finite-size prediction only: the asymptotic exponent is outside the interval"
    return None


def slope_verdict(fit: Fit, asym: float, finite: float, shift: float) -> SlopeVerdict:
    """Verdict of a slope against the asymptotic exponent and the finite-size prediction on the same grid.

    reproduced: the 95% interval contains the asymptotic exponent, or the finite-size prediction;
    inconclusive: the interval lies strictly between the two (finite-size bending in the predicted
    direction, but not of the predicted size: the grid cannot decide);
    refuted: otherwise. The negative control shifts the prediction used (the one contained, else the
    nearer one) by +-``shift``; both shifted values must be outside the interval.

    Parameters
    ----------
    fit : Fit
        The fitted slope and its interval.
    asym : float
        The asymptotic exponent.
    finite : float
        The finite-size prediction of the slope on the same grid.
    shift : float
        The shift of the negative control (> 0).

    Returns
    -------
    SlopeVerdict
        The verdict, the prediction used, which one the interval contains, and the negative control.
    """
    if not shift > 0:
        raise ValueError(f"shift must be > 0, got {shift}")
    lo, hi = fit.slope_ci
    if fit.contains(asym):
        used, verdict, how = asym, "reproduced", "asymptotic exponent"
    elif fit.contains(finite):
        used, verdict, how = finite, "reproduced", "finite-size prediction"
    else:
        a, b = sorted((asym, finite))
        between = a < lo and hi < b
        used = asym if abs(fit.slope - asym) < abs(fit.slope - finite) else finite
        verdict = "inconclusive" if between else "refuted"
        how = "neither: between the asymptote and the finite-size prediction" if between else "neither"
    nc = (not fit.contains(used - shift)) and (not fit.contains(used + shift))
    return SlopeVerdict(verdict, used, how, nc)


def _multitest(p_values, alpha: float, method: str) -> np.ndarray:
    p = np.asarray(p_values, float).ravel()
    if np.any(np.isnan(p)) or np.any((p < 0) | (p > 1)):
        raise ValueError("p_values must lie in [0, 1]")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if p.size == 0:
        return np.zeros(0, bool)
    return np.asarray(multipletests(p, alpha=alpha, method=method)[0], bool)


def bonferroni(p_values, alpha: float = 0.05) -> np.ndarray:
    """Which of the hypotheses are rejected at family-wise level ``alpha`` (Bonferroni: p <= alpha / m).

    statsmodels ``multipletests(method="bonferroni")``; returns a boolean array (empty input: empty array).

    Parameters
    ----------
    p_values : array_like
        The p-values of the m hypotheses, in [0, 1] (flattened).
    alpha : float
        The family-wise level, in (0, 1).

    Returns
    -------
    numpy.ndarray
        Boolean, one entry per p-value: rejected.
    """
    return _multitest(p_values, alpha, "bonferroni")


def holm(p_values, alpha: float = 0.05) -> np.ndarray:
    """Which of the hypotheses are rejected at family-wise level ``alpha`` by Holm's step-down procedure.

    statsmodels ``multipletests(method="holm")`` (uniformly more powerful than Bonferroni, same guarantee).

    Parameters
    ----------
    p_values : array_like
        The p-values of the m hypotheses, in [0, 1] (flattened).
    alpha : float
        The family-wise level, in (0, 1).

    Returns
    -------
    numpy.ndarray
        Boolean, one entry per p-value: rejected.
    """
    return _multitest(p_values, alpha, "holm")


# ------------------------------------------------------------------ means and paired comparisons
def mean_ci(x, level: float = 0.95, axis: int = 0):
    """Mean and t-interval along ``axis``: returns (mean, lo, hi) arrays.

    The interval of ``scipy.stats.ttest_1samp(x, 0, axis).confidence_interval(level)`` (equal up to rounding),
    written out so that it is vectorised without warnings on constant data and degenerate ([m, m]) for n < 2.

    Parameters
    ----------
    x : array_like
        The samples.
    level : float
        The confidence level of the two-sided t-interval.
    axis : int
        The axis of the samples (n = ``x.shape[axis]``).

    Returns
    -------
    mean, lo, hi : numpy.ndarray or float
        The mean along ``axis`` and the ends of its interval m -+ t_{(1 + level)/2, n - 1} s / sqrt(n).
    """
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
    """One-sided paired comparison: is ``a`` smaller than ``b`` (e.g. a lower error)?

    Attributes
    ----------
    mean_diff : float
        The mean of the differences a - b.
    ci : tuple of float
        The two-sided (lo, hi) t-interval of the mean difference.
    p_value : float
        The one-sided p-value of H1: mean(a - b) < 0.
    n : int
        The number of pairs.
    wins : int
        The number of pairs with a < b.
    """

    mean_diff: float
    ci: tuple[float, float]
    p_value: float
    n: int
    wins: int

    def significant(self, level: float = 0.05) -> bool:
        """Is the one-sided p-value below ``level``?

        Parameters
        ----------
        level : float
            The significance level.

        Returns
        -------
        bool
            ``p_value < level``.
        """
        return self.p_value < level


def paired_less(a, b, level: float = 0.95) -> Paired:
    """Paired one-sided t-test of H1: mean(a - b) < 0 (``scipy.stats.ttest_rel(a, b, alternative="less")``),
    with a two-sided ``level`` t-interval on the mean difference (:func:`mean_ci`).

    Constant differences (zero variance, where the t statistic is undefined) give p = 0 if a < b, else 1.

    Parameters
    ----------
    a : array_like
        The first values of the pairs (flattened), at least 2.
    b : array_like
        The second values of the pairs, same shape as ``a``.
    level : float
        The confidence level of the interval on the mean difference.

    Returns
    -------
    Paired
        Mean difference, its interval, the one-sided p-value, the number of pairs and of pairs with a < b.
    """
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.shape != b.shape or a.size < 2:
        raise ValueError("a and b must have the same shape with at least 2 pairs")
    a, b = a.ravel(), b.ravel()
    diff = a - b
    m, lo, hi = mean_ci(diff, level)
    if np.allclose(diff, diff[0]):
        p = 0.0 if diff[0] < 0 else 1.0
    else:
        p = float(st.ttest_rel(a, b, alternative="less").pvalue)
    return Paired(float(m), (float(lo), float(hi)), p, int(diff.size), int(np.sum(diff < 0)))


# ------------------------------------------------------------------ thresholds and their bootstrap intervals
def crossing(x, y, level: float, rising: bool = False) -> float:
    """First x (log-interpolated) at which the curve y(x) crosses ``level``; nan if never or already at x[0].

    Falling (default): the first point with y < level. Rising (``rising=True``): the first point with
    y >= level (the curve reaches the level).

    Parameters
    ----------
    x : array_like
        Positive, increasing grid.
    y : array_like
        The curve on ``x``.
    level : float
        The level crossed.
    rising : bool
        Look for the first y >= level (True) instead of the first y < level (False).

    Returns
    -------
    float
        x[i-1] * (x[i] / x[i-1]) ** t, with t the linear interpolation of y between the points around the
        crossing; nan if there is none or it is at x[0].
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    hit = np.nonzero(y >= level if rising else y < level)[0]
    if hit.size == 0 or hit[0] == 0:
        return float("nan")
    i = hit[0]
    t = (level - y[i - 1]) / (y[i] - y[i - 1]) if rising else (y[i - 1] - level) / (y[i - 1] - y[i])
    return float(np.exp(np.log(x[i - 1]) + t * (np.log(x[i]) - np.log(x[i - 1]))))


def bootstrap_interval(
    statistic: Callable[[np.ndarray], float],
    values,
    *,
    axis: int,
    n_boot: int,
    rng: np.random.Generator,
    level: float = 0.95,
) -> np.ndarray:
    """Percentile bootstrap over seeds of a statistic of the seed-mean curve: (lo, hi) as an array.

    Each of ``n_boot`` replicates draws S seeds with replacement along ``axis`` of ``values`` (``rng.integers(0,
    S, S)``), averages them and applies ``statistic`` (e.g. a :func:`crossing`); the interval is the
    ((1 - level)/2, (1 + level)/2) percentiles of the replicates that are defined (not nan); [nan, nan] if none.

    The resamples and percentiles are those of ``scipy.stats.bootstrap(..., method="percentile")`` with the
    same generator. The replicates are kept here, not delegated to scipy, because a threshold statistic is
    undefined (nan) on the resamples whose mean curve never crosses: scipy propagates those nans into the
    interval, this interval skips them (``np.nanpercentile``), as the checks always did.

    Parameters
    ----------
    statistic : callable
        Maps a seed-mean curve (``values`` averaged along ``axis``) to a float (nan: undefined).
    values : array_like
        The per-seed data, seeds along ``axis`` (dtype kept).
    axis : int
        The axis of the seeds.
    n_boot : int
        The number of bootstrap replicates (>= 1).
    rng : numpy.random.Generator
        The generator of the resamples.
    level : float
        The confidence level, in (0, 1).

    Returns
    -------
    numpy.ndarray
        The (lo, hi) percentile interval of the defined replicates; [nan, nan] if none is defined.
    """
    values = np.asarray(values)  # dtype kept: the seed means are those of the data as given (float32 stays float32)
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    S = values.shape[axis]
    if S < 1:
        raise ValueError("values need at least one seed along axis")
    index: list = [slice(None)] * values.ndim

    def replicate() -> float:
        # fancy indexing values[:, idx] (not np.take): its memory layout fixes the order of the float sums of the
        # mean, which the recorded intervals of float32 accuracies depend on in the last digits
        index[axis] = rng.integers(0, S, S)
        return statistic(values[tuple(index)].mean(axis))

    reps = [replicate() for _ in range(n_boot)]
    if not np.isfinite(reps).any():
        return np.array([np.nan, np.nan])
    tail = round(50 * (1 - level), 10)  # 2.5 for level 0.95 (no float noise in the percentile)
    return np.nanpercentile(reps, [tail, 100 - tail])


# ------------------------------------------------------------------ counts, ranks, tables
def clopper_pearson_lower(k: int, n: int, level: float = 0.95) -> float:
    """One-sided ``level`` Clopper-Pearson lower bound on a binomial proportion from k successes in n trials.

    The lower end of the two-sided (1 - 2 (1 - level)) exact interval of statsmodels
    ``proportion_confint(k, n, method="beta")``: the (1 - level) quantile of Beta(k, n - k + 1); 0 when k = 0.

    Parameters
    ----------
    k : int
        The number of successes, 0 <= k <= n.
    n : int
        The number of trials, >= 1.
    level : float
        The one-sided confidence level, in (0, 1).

    Returns
    -------
    float
        The lower confidence bound on the proportion.
    """
    if not (0 <= k <= n and n >= 1):
        raise ValueError(f"need 0 <= k <= n and n >= 1, got k={k}, n={n}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    lo, _ = proportion_confint(k, n, alpha=2 * (1 - level), method="beta")
    return float(lo)


def sign_order(a, b) -> dict:
    """Exact sign test of a per-seed order: does ``a`` come before ``b`` (``a < b``) in most seeds?

    ``a``, ``b``: paired per-seed values (e.g. the steps at which two probes reach a level). Seeds with ``a == b``
    are left out (the usual sign test). The one-sided p-values are ``scipy.stats.binomtest(k, n, 0.5,
    alternative="greater")`` with n the untied seeds and k those in the order tested; unlike a paired t-test, a
    few seeds far out in the other order cannot overturn an order that most seeds show.

    Parameters
    ----------
    a : array_like
        Per-seed values, 1-d, finite (count a value never reached as the budget).
    b : array_like
        The paired per-seed values, the same shape as ``a``.

    Returns
    -------
    dict
        ``before`` (seeds with a < b), ``after`` (a > b), ``ties``, ``p_before`` (one-sided exact binomial p-value
        of 'a before b in more than half of the seeds') and ``p_after`` (the same for the reverse order); both
        p-values are 1.0 when every seed ties.
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape or a.ndim != 1 or a.size == 0:
        raise ValueError(f"a and b must be paired 1-d arrays of equal, non-zero length, got {a.shape} and {b.shape}")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("a and b must be finite (count a value never reached as the budget)")
    before, after = int((a < b).sum()), int((a > b).sum())
    n = before + after
    p_before = float(st.binomtest(before, n, 0.5, alternative="greater").pvalue) if n else 1.0
    p_after = float(st.binomtest(after, n, 0.5, alternative="greater").pvalue) if n else 1.0
    return {"before": before, "after": after, "ties": int(a.size - n), "p_before": p_before, "p_after": p_after}


def seed_proportion_ci(correct, total, level: float = 0.95) -> tuple[float, float, float]:
    """Mean over seeds of per-seed accuracies ``correct / total``, with an interval that stays honest at the ceiling.

    The t-interval over seeds (:func:`mean_ci`) carries the seed-to-seed variation but collapses to [1, 1] when
    every seed is perfect (TF3: in 3 of 5 reruns all 6 seeds scored 1.0 while the pooled accuracy over 30 seeds was
    0.9998, so the interval missed it); the Clopper-Pearson interval of the pooled counts (sum of ``correct`` out of
    sum of ``total``, exact binomial) still bounds the error rate then (0 errors in n positions: lower end
    (alpha/2)^(1/n)), but treats positions as independent where seeds share embeddings. The interval returned is
    the hull of the two, clipped to [0, 1]: it is never narrower than either, so it claims no more precision than
    the seeds or the binomial count allows.

    Parameters
    ----------
    correct : array_like
        Correct predictions per seed, integers >= 0, shape (S,).
    total : array_like
        Predictions per seed, integers >= 1 and >= ``correct``, shape (S,).
    level : float
        The two-sided confidence level, in (0, 1).

    Returns
    -------
    mean, lo, hi : float
        The mean of the per-seed accuracies and the ends of the interval.
    """
    k, n = np.asarray(correct), np.asarray(total)
    if k.ndim != 1 or k.shape != n.shape or k.size < 1:
        raise ValueError(f"correct and total must be 1-D of one length >= 1, got shapes {k.shape} and {n.shape}")
    if not (np.all(k == np.round(k)) and np.all(n == np.round(n))):
        raise ValueError("correct and total must hold whole counts")
    if np.any(n < 1) or np.any(k < 0) or np.any(k > n):
        raise ValueError("need 0 <= correct <= total and total >= 1 for every seed")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    acc = k / n
    m, lo, hi = mean_ci(acc, level)
    blo, bhi = proportion_confint(int(k.sum()), int(n.sum()), alpha=1 - level, method="beta")
    return float(m), float(max(0.0, min(lo, blo))), float(min(1.0, max(hi, bhi)))


def spearman(x, y) -> float:
    """Spearman rank correlation of (x, y) (``scipy.stats.spearmanr``); 0 when y is constant (no trend), which
    includes a single point.

    Parameters
    ----------
    x : array_like
        Non-empty 1-D values.
    y : array_like
        Non-empty 1-D values, same length as ``x``.

    Returns
    -------
    float
        The rank correlation rho (nan where scipy gives nan, e.g. a constant x).
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    if x.shape != y.shape or x.ndim != 1 or x.size < 1:
        raise ValueError("x and y must be non-empty 1-D arrays of the same length")
    if np.all(y == y[0]):
        return 0.0
    return float(st.spearmanr(x, y)[0])


def chi2_rows(obs, probs, min_expected: float = 5.0) -> tuple[float, int, float]:
    """Pearson chi-square of the rows of a count table against their predicted distributions, pooled.

    Row r of ``obs`` (counts) is compared with ``obs[r].sum() * probs[r]``; only cells with expected count
    >= ``min_expected`` enter; degrees of freedom: the cells used minus one per row that has any.
    Returns (statistic, df, p-value of ``scipy.stats.chi2``).

    Parameters
    ----------
    obs : array_like
        The observed counts, 2-D (one row per distribution).
    probs : array_like
        The predicted probabilities of the cells, same shape as ``obs``.
    min_expected : float
        The smallest expected count of a cell that enters the statistic.

    Returns
    -------
    statistic : float
        sum over the kept cells of (obs - exp)^2 / exp.
    df : int
        The kept cells minus one per row with any kept cell.
    p_value : float
        The upper tail ``scipy.stats.chi2.sf(statistic, df)``.
    """
    obs, probs = np.asarray(obs, float), np.asarray(probs, float)
    if obs.ndim != 2 or obs.shape != probs.shape:
        raise ValueError("obs and probs must be 2-D arrays of the same shape")
    exp = obs.sum(1, keepdims=True) * probs
    keep = exp >= min_expected
    stat = float((((obs - exp) ** 2 / np.maximum(exp, 1e-300))[keep]).sum())
    df = int(keep.sum()) - int((keep.sum(1) > 0).sum())
    return stat, df, float(st.chi2.sf(stat, df))


# ------------------------------------------------------------------ negative controls: their margin
_Z95 = float(st.norm.isf(0.025))


def control_margin(
    estimate: float, lo: float, hi: float, wrong, *, crit: float = _Z95, side: str = "nearer"
) -> float | None:
    """Margin of a negative control that must find each ``wrong`` value outside the interval [lo, hi] of an
    estimate: the distance from the wrong value to the nearer bound, in standard errors, positive iff it lies
    outside (the control rejected it), 0 on the bound.

    The standard error is read off the interval on the wrong value's side: ``(hi - estimate) / crit`` above the
    estimate, ``(estimate - lo) / crit`` below (so a percentile-bootstrap interval keeps its asymmetry). With a
    calibrated interval the margin is about ``|estimate - wrong| / SE - crit``; over fresh seeds it varies with sd
    about 1, so a control keeps rejecting with probability about ``Phi(margin)``: a margin of 2.33 is 99%.
    Several wrong values that must all be rejected (e.g. a prediction shifted by +-delta) give the smallest margin.

    Parameters
    ----------
    estimate : float
        The point estimate at the centre of the interval.
    lo, hi : float
        The interval, lo <= hi; when the estimate lies outside it (a percentile bootstrap can do that), the
        standard error is the symmetric (hi - lo) / (2 crit) on both sides.
    wrong : float or sequence of float
        The wrong prediction(s) the control must reject.
    crit : float, default 1.96
        The critical value that made the interval (1.96 for 95%; a t quantile, a Bonferroni z, ...), > 0.
    side : {"nearer", "below", "above"}, default "nearer"
        Where the control needs the wrong value: outside the interval on the side it lies on ("nearer"), or
        strictly below it (``lo > wrong``: a one-sided control, "below") or above it (``hi < wrong``, "above"),
        whichever side of the estimate the wrong value lies on; a one-sided margin is negative while the wrong
        value is on the estimate's far side.

    Returns
    -------
    float or None
        The smallest margin; None when a side of the interval has zero width (no sampling error to measure it by).
    """
    vals = np.atleast_1d(np.asarray(wrong, dtype=float))
    if vals.size == 0 or not np.all(np.isfinite(vals)):
        raise ValueError(f"wrong must be one or more finite values, got {wrong!r}")
    if not (np.isfinite(estimate) and np.isfinite(lo) and np.isfinite(hi)) or not lo <= hi:
        raise ValueError(f"need finite estimate, lo and hi with lo <= hi, got lo={lo}, estimate={estimate}, hi={hi}")
    if not np.isfinite(crit) or crit <= 0:
        raise ValueError(f"crit must be a finite number > 0, got {crit}")
    if side not in ("nearer", "below", "above"):
        raise ValueError(f"side must be one of 'nearer', 'below', 'above', got {side!r}")
    inside = lo <= estimate <= hi
    out = []
    for w in vals:
        above = w >= estimate if side == "nearer" else side == "above"
        if not inside:  # a percentile-bootstrap interval can miss its own estimate: the symmetric SE
            se = (hi - lo) / (2 * crit)
        else:
            se = (hi - estimate) / crit if above else (estimate - lo) / crit
        if se <= 0:
            return None
        out.append((w - hi) / se if above else (lo - w) / se)
    return float(min(out))


def band_margin(estimate: float, lo: float, hi: float, band_lo: float, band_hi: float, *, crit: float = _Z95):
    """Margin of a negative control that must find the interval [lo, hi] of an estimate *not* inside the band
    [band_lo, band_hi] (an equivalence test that must fail: either end outside suffices): the larger of
    ``(band_lo - lo) / SE_lo`` and ``(hi - band_hi) / SE_hi``, each SE read off its own side of the interval
    (``(estimate - lo) / crit``, ``(hi - estimate) / crit``, as in :func:`control_margin`). Positive iff an end
    lies strictly outside (the control rejected); None when a side has zero width.

    Parameters
    ----------
    estimate : float
        The point estimate (a side on which it lies outside [lo, hi] has no SE: None).
    lo, hi : float
        The interval, lo <= hi.
    band_lo, band_hi : float
        The band, band_lo <= band_hi.
    crit : float, default 1.96
        The critical value that made the interval, > 0.

    Returns
    -------
    float or None
        The margin; None when a side of the interval has zero width.
    """
    if not all(np.isfinite(v) for v in (estimate, lo, hi, band_lo, band_hi)) or not lo <= hi:
        raise ValueError(f"need finite estimate, lo and hi with lo <= hi, got lo={lo}, estimate={estimate}, hi={hi}")
    if not band_lo <= band_hi:
        raise ValueError(f"band_lo must be <= band_hi, got [{band_lo}, {band_hi}]")
    if not np.isfinite(crit) or crit <= 0:
        raise ValueError(f"crit must be a finite number > 0, got {crit}")
    se_lo, se_hi = (estimate - lo) / crit, (hi - estimate) / crit
    if not (se_lo > 0 and se_hi > 0):
        return None
    return float(max((band_lo - lo) / se_lo, (hi - band_hi) / se_hi))


def widened_margin(estimate: float, lo: float, hi: float, wrong: float, tol: float, *, crit: float = _Z95):
    """Margin of a negative control that must find ``wrong`` outside the interval [lo, hi] of a positive estimate
    widened by the factor ``tol`` to [lo / tol, hi * tol] (a prediction's own error allowed for): how far
    ``wrong / tol`` lies above ``hi``, or ``wrong * tol`` below ``lo``, in SEs of the estimate read off that side
    of the unwidened interval (as in :func:`control_margin`); positive iff outside, None for a zero-width side.

    Parameters
    ----------
    estimate, lo, hi : float
        The estimate and its interval, lo <= hi (a side on which the estimate lies outside has no SE: None).
    wrong : float
        The wrong prediction, > 0.
    tol : float
        The widening factor, >= 1.
    crit : float, default 1.96
        The critical value that made the interval, > 0.

    Returns
    -------
    float or None
        The margin; None when a side of the interval has zero width.
    """
    if not all(np.isfinite(v) for v in (estimate, lo, hi, wrong, tol)) or not lo <= hi:
        raise ValueError(f"need finite estimate, lo and hi with lo <= hi, got lo={lo}, estimate={estimate}, hi={hi}")
    if not wrong > 0:
        raise ValueError(f"wrong must be > 0, got {wrong}")
    if not tol >= 1:
        raise ValueError(f"tol must be >= 1, got {tol}")
    if not np.isfinite(crit) or crit <= 0:
        raise ValueError(f"crit must be a finite number > 0, got {crit}")
    se_hi, se_lo = (hi - estimate) / crit, (estimate - lo) / crit
    if not (se_hi > 0 and se_lo > 0):
        return None
    return float(max((wrong / tol - hi) / se_hi, (lo - wrong * tol) / se_lo))


def all_margin(*margins) -> float | None:
    """Margin of a control whose parts must all reject: the smallest.

    Parameters
    ----------
    *margins : float or None
        The parts' margins.

    Returns
    -------
    float or None
        The smallest margin; None if any part has none.
    """
    return None if any(m is None for m in margins) else float(min(margins))


def any_margin(*margins) -> float | None:
    """Margin of a control of which any one part rejecting suffices: the largest.

    Parameters
    ----------
    *margins : float or None
        The parts' margins.

    Returns
    -------
    float or None
        The largest margin; None if any part has none.
    """
    return None if any(m is None for m in margins) else float(max(margins))


def t_crit(n: int, level: float = 0.95) -> float:
    """The critical value of :func:`mean_ci`'s two-sided t-interval over ``n`` values (n - 1 df).

    Parameters
    ----------
    n : int
        The number of values, >= 2.
    level : float, default 0.95
        The interval's level, in (0, 1).

    Returns
    -------
    float
        The t quantile of order (1 + level) / 2 with n - 1 degrees of freedom.
    """
    if int(n) != n or n < 2:
        raise ValueError(f"n must be an integer >= 2, got {n}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    return float(st.t.ppf(0.5 + level / 2, int(n) - 1))


def control_margin_p(p: float, *, alpha: float = 0.05, two_sided: bool = False) -> float:
    """Margin of a negative control decided by a test's p-value (it rejects when p < alpha), in standard errors:
    ``z(p) - z(alpha)`` with z the upper normal quantile (of p/2 and alpha/2 when two-sided). Positive iff the
    control rejected; like :func:`control_margin`, about ``Phi^-1`` of the probability to keep rejecting.

    Parameters
    ----------
    p : float
        The p-value, in [0, 1] (0 is read as 1e-300).
    alpha : float, default 0.05
        The level of the control's test, in (0, 1).
    two_sided : bool, default False
        Whether p is two-sided.

    Returns
    -------
    float
        The margin (finite: at most about 37 one-sided).
    """
    if not np.isfinite(p) or not 0 <= p <= 1:
        raise ValueError(f"p must be in [0, 1], got {p}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    k = 2.0 if two_sided else 1.0
    return float(st.norm.isf(max(p, 1e-300) / k) - st.norm.isf(alpha / k))
