"""SL1-SL8: scaling laws of associative memories trained on Zipf data, for every memory scheme.

Common setting (fixed before any run). Tokens x in [N] with p(x) ∝ x^-alpha, f*(x) = x mod M with
M = 5 (the talk's optimiser grid uses M = 5), N(0, 1/d) embeddings, W = sum_x q(x) u_{f*(x)} e_x^T,
exact population error sum_x p(x) 1{wrong} (impl.scaling.population_error). M small is the regime
where "a d x d memory stores about d memories" (AM4) and where q = 1{x <= d/c} makes sense: the
wrong score of x on output y is sum_{f*(z)=y} q(z) e_z^T e_x, of variance ~ ||q||^2/(M d), against
the signal q(x). With c = 8 (the authors' figures) the K = d/8 stored tokens have margin
1 vs sd ~ sqrt(2/(5 * 8)) = 0.22, i.e. 4.5 sd: recall of stored tokens is essentially perfect.
Unstored tokens are still right by chance with probability ~ 1/M, so errors carry a factor ~(1 - 1/M).

Samples: one i.i.d. stream per seed observed at nested sizes T (impl.scaling.prefix_counts); every
scheme of every T is evaluated on the same embeddings (one population_error call per d).
Fits: OLS of log error (per seed) on log d or log T with cluster-robust (by seed) 95% intervals
(t with S - 1 df): points of one seed share the sample and are correlated. Where finite N or
finite d / T bends a slope, the check also fits the finite-size prediction of theory.scaling on the
same grid and says which prediction the interval contains.
"""

from __future__ import annotations

import numpy as np
import pytest
from plotting import figure, loglog_band
from scaling_sims import C, M
from scipy.stats import norm
from scipy.stats import t as t_dist
from stats import (
    Fit,
    bonferroni,
    bootstrap_interval,
    cluster_fit,
    control_margin,
    control_margin_p,
    finite_size_qualifier,
    mean_curve_fit,
    paired_less,
    slope_verdict,
)
from sweeps import Uncached

from impl.sampling import zipf_probs
from impl.scaling import mod_map
from theory import scaling as ts

ALPHAS = {"fast": [2.0], "full": [1.5, 2.0, 3.0]}
GRID = {
    "fast": dict(
        N=10**5,
        d=[16, 32, 64, 128, 256, 512, 1024],
        T=[int(round(10 ** (1 + 5 * k / 8))) for k in range(9)],
        seeds=8,
        s=4,
        seeds_T=24,
    ),
    "full": dict(
        N=10**5,
        d=[16, 32, 64, 128, 256, 512, 1024, 2048],
        T=[int(round(10 ** (1 + 6 * k / 12))) for k in range(13)],
        seeds=20,
        s=4,
        seeds_T=24,
    ),
}
# Schemes without samples (q = p, q = 1, q = 1{x <= r d}) vary a lot from seed to seed at q = p (a handful of
# tokens is stored), so they get more seeds; in the fast tier on N = 10^4 tokens (the mass beyond 10^4 is
# 6e-5 at alpha = 2, under 0.1% of every error measured here), in the full tier on N = 10^5.
DGRID = {
    "fast": dict(
        N=10**4, d=[16, 32, 64, 128, 256, 512, 1024], seeds=40, ratios=[2.0**k for k in range(-6, 3)], T=10**6
    ),
    "full": dict(
        N=10**5,
        d=[16, 32, 64, 128, 256, 512, 1024, 2048],
        seeds=40,
        ratios=[2.0 ** (k / 2) for k in range(-12, 5)],
        T=10**7,
    ),
}
# SL8(a): the best threshold, min over r of the seed-mean error of q = 1{x <= r d}, on the full tier's ratio grid
# (factors of sqrt 2) at d >= 64. Per seed the error at r >= 1/4 is heavy-tailed (in 1-3% of seeds a stored top token
# is not recalled: error ~0.6 against a mean of 0.003 at d = 1024), so the seed-mean curve needs many seeds; these
# seeds are disjoint from the other simulations' (offset BEST_OFFSET). See test_SL8 for how the count was fixed.
BEST = {
    "fast": dict(N=10**4, d=[64, 128, 256, 512, 1024], ratios=[2.0 ** (k / 2) for k in range(-12, 5)], seeds=160),
    "full": dict(N=10**5, d=[64, 128, 256, 512, 1024, 2048], ratios=[2.0 ** (k / 2) for k in range(-12, 5)], seeds=160),
}
BEST_OFFSET = 1000
SL8_BOOT = 2000
SMALL = {
    "fast": dict(N=256, d=[16, 32, 64, 128, 256, 512, 1024, 2048], T=[10, 32, 100, 316, 1000, 3162, 10000], seeds=40),
    "full": dict(
        N=256, d=[16, 32, 64, 128, 256, 512, 1024, 2048, 4096], T=[10, 32, 100, 316, 1000, 3162, 10000, 31623], seeds=40
    ),
}
NC_SHIFT = 0.1


def t_crit(S: int) -> float:
    """The two-sided 95% t quantile with S - 1 df (the clustered intervals'): SE = half-width / t_crit(S)."""
    return float(t_dist.ppf(0.975, S - 1))


def sv_margin(fit: Fit, sv, S: int) -> float | None:
    """``margin_se`` of a slope_verdict control: the nearer of ``sv.used`` +- NC_SHIFT from the slope's 95% interval
    (t with S - 1 df: ``mean_curve_fit`` and ``cluster_fit`` over S seeds), in SEs of the slope; positive iff both
    shifted values are outside (``sv.nc_rejected``), None for a zero-width interval."""
    return control_margin(fit.slope, *fit.slope_ci, [sv.used - NC_SHIFT, sv.used + NC_SHIFT], crit=t_crit(S))


def nc_fields(margin: float | None, note: str) -> dict:
    """The margin keys of a negative control: ``margin_se``, and ``margin_note`` (``note``) only where it is None."""
    return {"margin_se": margin} if margin is not None else {"margin_se": None, "margin_note": note}


ZERO_WIDTH = "zero-width interval (no sampling error): deterministic"


# ------------------------------------------------------------------ shared simulations
SIM_SEEDS_PER_TASK = 4  # seeds per call on the store (a full-tier core call of 4 seeds: about a minute)


def _grid(kind: str, scale: str) -> dict:
    """The grid of a simulation kind at a scale (topT runs on the core's grid)."""
    return {"core": GRID, "topT": GRID, "dgrid": DGRID, "small": SMALL, "best": BEST}[kind][scale]


def _stored_sim(kind: str, alpha: float, scale: str, sd: tuple, runs: Uncached, desc: str) -> dict:
    """One simulation through ``stored_runs`` (``tasks.scaling_sim_task``): inline with all seeds at the fast
    scale (the same call as before the store), at the full scale one store row per (kind, alpha, seed), so a
    stopped full tier resumes. The grid in the row's identity leaves out the seed counts (a seed's row does not
    depend on them)."""
    import scaling_sims
    from tasks import scaling_sim_task

    grid = {k: v for k, v in _grid(kind, scale).items() if k not in ("seeds", "seeds_T")}
    rows = runs.fn(
        scaling_sim_task,
        [{"kind": kind, "alpha": float(alpha), "grid": grid}],
        [sd],
        task="scaling_sim",
        version="1",
        desc=desc,
        seeds_per_task=SIM_SEEDS_PER_TASK,
    )[0]
    return scaling_sims.assemble(kind, alpha, grid, rows)


@pytest.fixture
def sim(shared, seeds, scale, stored_runs):
    """``sim(kind, alpha)``: one of the simulations that the SL checks share (``checks/scaling_sims.py``), run
    once per module (``shared``) through ``stored_runs`` on seeds of the fixed tag 'scaling-core' (new ones under
    --fresh-seeds): 'core' (the (d, T) grid, N = 10^5), 'dgrid' (q = p, 1, thresholds and counts on the d grid),
    'small' (N = 256, d >> N), 'topT' (SL4: q = top d/8 seen at the largest d on its T window, the core's seeds
    plus seeds_T - seeds more) and 'best' (SL8(a): q = 1{x <= r d} on the ratio grid of BEST, its own seeds)."""
    runs = Uncached(stored_runs)

    def get(kind: str, alpha: float) -> dict:
        if kind == "topT":  # the core's seeds and SL4's extra ones (the offsets after the core's)
            g = GRID[scale]
            more = seeds(g["seeds_T"] - g["seeds"], offset=g["seeds"], tag="scaling-core")
            extra = shared(_stored_sim, "topT", alpha, scale, more, runs, f"SL topT alpha={alpha:g}")
            core = get("core", alpha)
            j = np.searchsorted(core["T"], extra["T"])
            return {"err": np.concatenate([core["err"]["top"][:, -1, j], extra["err"]]), "T": extra["T"]}
        offset = {"core": 0, "dgrid": 2, "small": 1, "best": BEST_OFFSET}[kind]
        sd = seeds(_grid(kind, scale)["seeds"], offset=offset, tag="scaling-core")
        return shared(_stored_sim, kind, alpha, scale, sd, runs, f"SL {kind} alpha={alpha:g}")

    return get


def _centred_slope(x, y) -> np.ndarray:
    """OLS slope of y on x along y's last axis (y of any leading shape, x of length y.shape[-1]):
    sum (x - mean x) y / sum (x - mean x)^2; one value per leading index."""
    xc = np.asarray(x, dtype=float) - np.mean(x)
    return y @ xc / (xc @ xc)


def _envelope(d, err) -> tuple[float, np.ndarray, np.ndarray]:
    """The best-threshold curve E*(d) = min_r mean_s err[s, d, r] (err (S, D, R)), the slope of log E* on log d
    (OLS) and the index of the minimising ratio at each d."""
    m = err.mean(0)
    j = m.argmin(1)
    e = m[np.arange(len(d)), j]
    return float(_centred_slope(np.log(d), np.log(e))), e, j


def envelope_fit(d, err, n_boot: int, seed: int, level: float = 0.95) -> tuple[Fit, np.ndarray, np.ndarray]:
    """Slope of the log best-threshold curve (see :func:`_envelope`) with a percentile bootstrap over seeds that
    chooses the best ratio again in every replicate (the choice is part of the estimate). Returns the Fit (the
    intercept is that of the log curve, its interval the bootstrap's too), E* and the ratio indices."""
    S = err.shape[0]
    slope, e, j = _envelope(d, err)
    lx = np.log(d)
    rng = np.random.default_rng(seed)
    w = rng.multinomial(S, np.full(S, 1.0 / S), size=n_boot) / S  # (B, S) resampling weights
    means = (w @ err.reshape(S, -1)).reshape(n_boot, *err.shape[1:])  # (B, D, R)
    best = np.log(means.min(2))  # (B, D)
    slopes = _centred_slope(lx, best)
    icpts = best.mean(1) - slopes * lx.mean()
    a = (1 - level) / 2
    lo, hi = np.quantile(slopes, [a, 1 - a])
    ilo, ihi = np.quantile(icpts, [a, 1 - a])
    icpt = float(np.log(e).mean() - slope * lx.mean())
    r2 = float(np.corrcoef(lx, np.log(e))[0, 1] ** 2)
    return Fit(slope, (float(lo), float(hi)), icpt, (float(ilo), float(ihi)), int(err[:, :, 0].size), r2), e, j


def _envelope_theory(N: int, alpha: float, d, ratios) -> np.ndarray:
    """Theory's best threshold on the same grids: min over r of the finite-d predicted error (Gaussian recall with
    interference, theory.scaling.predicted_error) of q = 1{x <= floor(r d)} at each d."""
    p = zipf_probs(N, alpha).numpy()
    f = mod_map(N, M).numpy()
    out = []
    for dd in d:
        best = 1.0
        for K in sorted({int(np.floor(dd * r)) for r in ratios}):
            if K >= 1:
                q = np.zeros(N)
                q[:K] = 1.0
                best = min(best, ts.predicted_error(q, f, M, int(dd), p))
        out.append(best)
    return np.array(out)


def _alphas(scale):
    return ALPHAS[scale]


# ------------------------------------------------------------------ SL1
def test_SL1_hutter_finite_sample(scale, sim, record, finding):
    """SL1 (000 'Setup with heavy-tailed data'; 001 'Finite-sample complexity'): an infinite memory
    (every seen token recalled) has error <~ T^-(alpha-1)/alpha, and the finite-sample term is
    E(q_T) - E(q_inf) = sum_x p(x) e^{-T p(x)}.

    Measured: the unseen mass sum_x p(x) 1{n_T(x) = 0} of nested samples (the error of a perfect memory
    of the seen tokens), T = 10 .. 10^6 (10^7 full), N = 10^5. Theory: E = sum_x p(x)(1 - p(x))^T
    exactly; the slide's e^{-T p(x)} is its Poisson approximation; asymptotically
    Gamma(1 - 1/alpha)/(alpha H^{1/alpha}) T^{-(alpha-1)/alpha}.
    Criteria (fixed in advance): (i) the 95% interval of the slope of the seed-mean curve (jackknife over seeds,
    ``mean_curve_fit``) over the whole T grid
    contains -(alpha-1)/alpha or the slope of the exact finite-N curve on the same grid (finite N
    removes mass only beyond T ~ N^alpha, far outside the grid); (ii) the mean unseen mass agrees with
    the exact sum at every T: |t| < 4 (S - 1 df; Bonferroni-safe over <= 13 points).
    Negative control: the prediction used, shifted by +-0.1, is outside the interval. ``margin_se``: distance of the
    nearer shifted slope from the interval, in SEs of the slope (jackknife, t_{S-1}).
    History (issue #19, item 8): the slope was the clustered mean of per-seed log-log slopes, i.e. of E[log U], not
    of log E[U] as predicted; the Jensen gap (0.9 of its standard error) refuted the claim at seed base 4 of the
    stability reruns (-0.483 [-0.494, -0.472] against -0.4986). The estimator now matches the prediction; the
    criterion and the shift of the control are unchanged.
    """
    for alpha in _alphas(scale):
        r = sim("core", alpha)
        T, U, p = r["T"], r["unseen"], r["p"]
        fit = mean_curve_fit(T, U)
        exact = ts.unseen_mass(p, T, "exact")
        pois = ts.unseen_mass(p, T, "poisson")
        asym = ts.error_exponent("infinite", alpha, "T")
        finite = ts.loglog_slope(T, exact)
        sv = slope_verdict(fit, asym, finite, shift=NC_SHIFT)
        m = U.mean(0)
        se = U.std(0, ddof=1) / np.sqrt(U.shape[0])
        t = (m - exact) / se
        ok_exact = bool(np.all(np.abs(t) < 4))
        rel_pois = np.abs(pois - exact) / exact
        fig, axes = figure(2, 1)
        TT = np.geomspace(T[0], T[-1], 60)
        loglog_band(
            axes[0],
            T,
            U,
            f"unseen mass, slope {fit}",
            pred_x=TT,
            pred_y=ts.unseen_mass(p, TT),
            pred_label="exact sum p(1-p)^T",
            xlabel="T",
            ylabel="error of an infinite memory",
            title=f"SL1 alpha={alpha}, N={r['N']}",
        )
        axes[0].plot(TT, ts.hutter_asymptote(TT, alpha, r["N"]), "--", lw=1, label=f"asymptote T^{asym:.3f}")
        axes[0].plot(TT, ts.unseen_mass(p, TT, "poisson"), ":", lw=1, label="sum p e^{-Tp}")
        axes[0].legend(fontsize=7)
        axes[1].plot(T, t, "o-")
        axes[1].axhspan(-4, 4, alpha=0.15)
        axes[1].set_xscale("log")
        axes[1].set_xlabel("T")
        axes[1].set_ylabel("t-statistic vs exact sum")
        ok = sv.ok and ok_exact
        margin = sv_margin(fit, sv, U.shape[0])
        record(
            "SL1",
            qualifier=finite_size_qualifier(sv),
            prediction=f"alpha={alpha}: slope {asym:.3f} (finite-N curve {finite:.3f}); E[unseen] = sum p(1-p)^T",
            measurement=f"slope {fit} ({sv.how}); max |t| vs exact = {np.max(np.abs(t)):.2f}; "
            f"Poisson form off the exact sum by at most {rel_pois.max():.2%} (T >= {T[0]:.0f})",
            interval=fit.slope_ci,
            interval_of="log-log slope of the seed-mean error of an infinite memory on T (jackknife over seeds)",
            estimate=fit.slope,
            criterion="slope CI contains the asymptotic or finite-N slope; all |t| < 4 against the exact sum",
            verdict="reproduced" if ok else "refuted",
            negative_control={
                "prediction": f"slope {sv.used:.3f} +- {NC_SHIFT}",
                "rejected": sv.nc_rejected,
                **nc_fields(margin, ZERO_WIDTH),
            },
            figure=fig,
            data={"alpha": alpha, "T": T, "mean": m, "exact": exact, "poisson": pois, "t": t, "fit": fit.as_dict()},
        )
        assert sv.nc_rejected, f"negative control not rejected: {fit}"
        assert margin is None or (margin > 0) == sv.nc_rejected, (margin, fit, sv.used)
        finding(ok, (fit, asym, finite, t))


# ------------------------------------------------------------------ SL2 / SL3 / SL5 (slopes in d)
def _scheme_q(scheme: str, r: dict, d: int) -> np.ndarray:
    """The weights q of ``scheme`` at width d on the tokens of simulation ``r`` (q = counts ~ T p: q = p)."""
    if scheme == "threshold":
        return (np.arange(r["N"]) < d // C).astype(float)
    return r["p"]


def _d_slope_check(claim, scheme, scale, sim, record, d_min):
    for alpha in _alphas(scale):
        r = sim("dgrid" if scheme in ("p", "counts") else "core", alpha)
        d, p, f = r["d"], r["p"], r["f"]
        sel = d >= d_min
        Y = r[{"p": "err_p", "threshold": "err_thr", "counts": "err_counts"}[scheme]]
        fit = mean_curve_fit(d[sel], Y[:, sel])  # the slope of log E[error], as predicted (see mean_curve_fit)
        gauss = np.array([ts.predicted_error(_scheme_q(scheme, r, int(dd)), f, M, int(dd), p) for dd in d])
        asym = ts.error_exponent(scheme, alpha, "d")
        finite = ts.loglog_slope(d[sel], gauss[sel])
        sv = slope_verdict(fit, asym, finite, shift=NC_SHIFT)
        margin = sv_margin(fit, sv, Y.shape[0])
        fig, axes = figure(1, 1, w=5.2)
        loglog_band(
            axes[0],
            d,
            Y,
            f"{scheme}: slope {fit} (d >= {d_min})",
            pred_x=d,
            pred_y=gauss,
            pred_label=f"Gaussian theory, finite N (slope {finite:.3f})",
            xlabel="d",
            ylabel="population error",
            title=f"{claim}: q = {scheme}, alpha={alpha}, N={r['N']}, M={M}",
        )
        k = np.argmax(sel)
        axes[0].plot(d[sel], Y[:, k].mean() * (d[sel] / d[k]) ** asym, "--", lw=1, label=f"asymptote d^{asym:.3f}")
        if scheme == "threshold":
            axes[0].plot(d, ts.threshold_error(r["N"], alpha, d, C, M), ":", lw=1, label="(1-1/M) tail beyond d/c")
        axes[0].legend(fontsize=7)
        T_note = "" if scheme != "counts" else f" at T = {r['T'][-1]:.0f}"
        record(
            claim,
            qualifier=finite_size_qualifier(sv),
            prediction=f"alpha={alpha}: slope in d {asym:.3f}{T_note} (finite-N Gaussian theory {finite:.3f})",
            measurement=f"slope {fit} over d in [{d[sel][0]:.0f}, {d[sel][-1]:.0f}], "
            f"{r['S']} seeds: contains " + ("the " if sv.verdict == "reproduced" else "") + sv.how,
            interval=fit.slope_ci,
            interval_of="log-log slope of the seed-mean error on d (jackknife over seeds)",
            estimate=fit.slope,
            criterion="95% CI (jackknife over seeds) of the slope of the seed-mean error contains the asymptotic "
            "exponent or the slope of the finite-N prediction on the same grid",
            verdict=sv.verdict,
            negative_control={
                "prediction": f"slope {sv.used:.3f} +- {NC_SHIFT}",
                "rejected": sv.nc_rejected,
                **nc_fields(margin, ZERO_WIDTH),
            },
            figure=fig,
            data={
                "alpha": alpha,
                "d": d,
                "mean": Y.mean(0),
                "gaussian": gauss,
                "fit": fit.as_dict(),
                "asymptote": asym,
                "finite": finite,
            },
            note=None
            if fit.contains(asym)
            else f"finite size: the slope differs from the asymptote {asym:.3f}; theory on the same grid gives "
            f"{finite:.3f}",
        )
        assert sv.nc_rejected, f"negative control not rejected: {fit} vs {sv.used}"
        assert margin is None or (margin > 0) == sv.nc_rejected, (margin, fit, sv.used)
        yield sv.verdict, fit, asym, finite


def test_SL2_q_equals_p_in_d(scale, sim, record, finding):
    """SL2 (001 'Instantiation for heavy tailed data'): q = p gives error ~ d^-(alpha-1)/(2 alpha) (+ T term).

    Theory: recall fails iff p(x)^2 d < c ||p||^2 (theory.scaling, reading 2), so the stored tokens are
    x < (d/c)^{1/(2 alpha)} and the error is the tail beyond: d^-(alpha-1)/(2 alpha). Only a handful of
    tokens are stored (about (d/c)^{1/4} at alpha = 2), so the curve is a smoothed staircase: the fit
    uses the whole grid d = 16..1024 (2048 full) and the finite-N prediction is the Gaussian theory
    (theory.scaling.predicted_error) on the same grid. q = p is the population (T = infinity) weighting;
    its T term is that of q = counts (SL5).
    Criterion: 95% CI of the seed-mean curve's slope (jackknife over seeds) contains -(alpha-1)/(2 alpha) or the
    Gaussian curve's slope
    (reproduced); strictly between the two: inconclusive; else refuted (see slope_verdict).
    Negative control: that prediction +-0.1 must be rejected. ``margin_se``: distance of the nearer shifted slope
    from the interval, in SEs of the slope (jackknife, t_{S-1}).
    History: with 8 seeds on N = 10^5 the interval was +-0.09 wide and could not reject +-0.1; the q = p
    run now uses 40 seeds (on N = 10^4 in the fast tier, see DGRID). Finding (fast tier, alpha = 2):
    the slope lies strictly between the asymptote -0.25 and the unconditional Gaussian finite-d curve
    (-0.345 on this grid), so the verdict was 'inconclusive'. The unconditional approximation
    over-predicts the error at d = 16 (0.265 vs 0.223 measured), as it over-predicted the injective
    capacity error at small d in AM3; the finite-d prediction is now the norm-conditioned Gaussian
    theory (theory.memory.recall_probability, norms = 8), derived for AM3 before this comparison was
    rerun; the criterion is unchanged. The test asserts 'not refuted'.
    """
    for verdict, fit, asym, finite in _d_slope_check("SL2", "p", scale, sim, record, d_min=16):
        finding(verdict != "refuted", (fit, asym, finite))


def test_SL3_threshold_in_d(scale, sim, record, finding):
    """SL3 (001 'Instantiation for heavy tailed data'): q = 1{x <= d/c} gives error ~ d^-(alpha-1).

    Theory: the K = floor(d/8) stored tokens are recalled (margin 4.5 sd, see the module docstring), so
    E = (1 - 1/M) sum_{x > K} p(x) ~ K^-(alpha-1). Range d >= 64 (K >= 8: below, the floor and the
    discreteness of the first tokens dominate). The finite-N curve (N = 10^5 truncates the tail; at
    alpha = 1.5, N^-(1/2) is not small against K^-(1/2), which steepens the slope) is the Gaussian
    theory of the same weights.
    Criterion: 95% CI of the seed-mean curve's slope (jackknife over seeds; it was the clustered per-seed slope,
    whose Jensen gap is described in ``mean_curve_fit``) contains -(alpha-1) or the finite-N slope. Negative
    control: +-0.1. ``margin_se``: distance of the nearer shifted slope from the interval, in SEs of the slope
    (jackknife, t_{S-1}).
    """
    for verdict, fit, asym, finite in _d_slope_check("SL3", "threshold", scale, sim, record, d_min=64):
        finding(verdict == "reproduced", (fit, asym, finite))


def test_SL5_counts(scale, sim, record, finding):
    """SL5 (000 'Scaling laws with finite capacity'): q = counts gives error
    <~ n^-(alpha-1)/alpha + d^-(alpha-1)/(2 alpha).

    Theory: counts = T p_hat, scale-invariant, so for T large the memory is q = p and the d term is
    SL2's. The T term is an upper bound: a token unseen in the sample costs error only if q_inf would
    have recalled it, so E(q_T) - E(q_inf) <= (1 - 1/M) sum_x p(x)(1 - p(x))^T.
    Criteria: (i) the d-slope at the largest T (whole d grid) as in SL2; (ii) at every (d, T) the excess
    error over q = p on the same embeddings is not significantly above the bound (one-sided paired
    t-test, p > 0.001 at every point).
    Negative control: the d-slope prediction +-0.1 is rejected (``margin_se``: distance of the nearer shifted slope
    from the interval, in SEs of the slope, jackknife, t_{S-1}); in the T-term record, the bound divided by 10 is
    exceeded by the mean excess at some (d, T) (``margin_se``: the largest (mean excess - bound/10) / SE of the mean
    over the points; no critical value: any mean above it rejects).
    Finding (fast tier, alpha = 2): the d-slope of counts at T = 10^6 is that of q = p (-0.284 vs
    -0.287), between the asymptote and the Gaussian finite-d curve: 'inconclusive' as for SL2; the T
    bound holds everywhere (the excess is far below it).
    """
    results = list(_d_slope_check("SL5", "counts", scale, sim, record, d_min=16))
    for alpha, (verdict, fit, asym, finite) in zip(_alphas(scale), results):
        r = sim("core", alpha)
        bound = (1 - 1 / M) * ts.unseen_mass(r["p"], r["T"])
        excess = r["err"]["counts"] - r["err_p"][:, :, None]  # (S, D, nT)
        pv = np.array(
            [
                [
                    paired_less(bound[j] * np.ones(excess.shape[0]), excess[:, i, j]).p_value
                    if not np.allclose(excess[:, i, j], excess[0, i, j])
                    else float(excess[0, i, j] <= bound[j])
                    for j in range(len(r["T"]))
                ]
                for i in range(len(r["d"]))
            ]
        )
        ok_bound = bool(np.all(pv > 1e-3))
        # the control: the mean excess above bound / 10 at some (d, T) (any point suffices: the largest margin)
        nc_T = bool(np.any(excess.mean(0) > bound / 10))
        gap = excess.mean(0) - bound / 10
        se_x = excess.std(0, ddof=1) / np.sqrt(excess.shape[0])
        z = np.where(se_x > 0, gap / np.where(se_x > 0, se_x, 1.0), np.where(gap > 0, np.inf, -np.inf))  # se 0: fixed
        margin_T = float(z.max()) if np.isfinite(z.max()) else None
        fig, axes = figure(1, 1, w=5.2)
        for i in range(0, len(r["d"]), 2):
            m = np.maximum(excess[:, i].mean(0), 1e-6)
            axes[0].plot(r["T"], m, "o-", ms=3, label=f"d={r['d'][i]:.0f}")
        axes[0].plot(r["T"], bound, "k--", label="bound (1-1/M) sum p(1-p)^T")
        axes[0].set_xscale("log")
        axes[0].set_yscale("log")
        axes[0].set_xlabel("T")
        axes[0].set_ylabel("E(counts_T) - E(p), same embeddings (floored at 1e-6)")
        axes[0].legend(fontsize=6)
        axes[0].set_title(f"SL5 finite-sample term, alpha={alpha}", fontsize=9)
        record(
            "SL5",
            prediction=f"alpha={alpha}: E(q_T) - E(q_inf) <= (1-1/M) sum p(1-p)^T (the n^-(alpha-1)/alpha term)",
            measurement=f"smallest one-sided p-value of 'excess > bound' = {pv.min():.3g}; "
            "the excess decays much faster than the bound "
            f"(at d={r['d'][-1]:.0f}, T={r['T'][2]:.0f}: {excess[:, -1, 2].mean():.2e} vs bound {bound[2]:.2e})",
            interval=None,  # the smallest p-value over the (d, T) points decides (in the measurement)
            criterion="no (d, T) point with the excess significantly above the bound (p > 1e-3 everywhere)",
            verdict="reproduced" if ok_bound else "refuted",
            negative_control={
                "prediction": "bound divided by 10 at small T (must be violated somewhere)",
                "rejected": nc_T,
                **nc_fields(margin_T, "a point with no seed-to-seed variation decides: deterministic"),
            },
            figure=fig,
            data={
                "alpha": alpha,
                "T": r["T"],
                "d": r["d"],
                "excess_mean": excess.mean(0),
                "bound": bound,
                "p_values": pv,
            },
            note="as an upper bound the T term holds; "
            "it is not tight for counts: unseen rare tokens would not be recalled by q = p anyway",
        )
        assert np.any(excess.mean(0) > bound / 10), "negative control: a 10x smaller bound was never violated"
        assert margin_T is None or (margin_T > 0) == nc_T, (margin_T, nc_T)
        finding(verdict != "refuted" and ok_bound, (fit, asym, finite, pv.min()))


# ------------------------------------------------------------------ SL4
def test_SL4_top_seen_joint(scale, sim, record, finding):
    """SL4 (000 'Scaling laws with finite capacity'): q = 1{seen >= s} (or the top d/c seen tokens) gives
    error <~ n^-(alpha-1)/alpha + d^-(alpha-1).

    Scheme: the top floor(d/8) seen tokens ('top'). Theory (theory.scaling): the error lies between
    max(U_T, tail_K) and U_T + tail_K - (overlap) (top_seen_lower / top_seen_error, times 1 - 1/M), with
    U_T the unseen mass and tail_K the mass beyond K = d/8, hence ≍ T^-(alpha-1)/alpha + d^-(alpha-1).
    Criteria (fixed in advance): (i) slope in T at the largest d over the T where theory says the T term
    is >= 4x the d term: CI contains -(alpha-1)/alpha or the slope of top_seen_error there;
    (ii) slope in d at the largest T over the d >= 64 where the d term is >= 4x the T term: CI contains
    -(alpha-1) or the finite-N slope; (iii) joint, the content of "≍ n^-a + d^-b": ONE constant
    explains the whole (d, T) grid, i.e. the ratio of the mean error to U_T + tail_K varies by at most
    a factor 2 over the grid (while the error itself varies by ~100x).
    Negative controls: slopes +-0.1 rejected; and the other scheme's surface (q = counts) violates (iii).
    ``margin_se``: the smallest of T_margin_se and d_margin_se (the nearer shifted slope from the slope's interval, in
    SEs of the slope, t_{S-1}) and counts_margin_se ((counts spread - 2) / its jackknife-over-seeds SE).
    History: the first run used for (iii) the band [0.85 x lower, 1.15 x upper] with the chance factor
    1 - 1/M; it failed at d <= 32 and at T = 42 (ratios to the upper curve up to 1.46), because with a
    few unstored tokens their chance recall depends on their outputs (with K = 2 stored tokens of
    outputs 0 and 1, the noise lives on those two outputs and the next tokens, of outputs 2, 3, 4, are
    never recalled by chance) and at d = 16 the stored tokens themselves fail. That band tested my
    chance-factor approximation rather than the claim; the band is still computed and reported
    (data 'band_inside'), and (iii) now tests the claim's statement.
    Finding (fast tier, alpha = 2): (i) and (ii) hold; (iii) fails: error/(U_T + tail_K) spans
    [0.45, 1.16] (spread 2.56 > 2; q = counts 22.6). The low ratios sit on the diagonal U_T ~ tail_K,
    where the error is close to the max of the two terms, not their sum (sum <= 2 max), times the
    chance factor: a spread up to ~2.5 was to be expected from theory, and the factor 2 was set too
    tight. The one-sided form of the 000 slide (error <~ U_T + tail_K) holds with constant 1.16. Not
    re-tuned after the fact: the verdict is 'inconclusive' (both exponents reproduced, the two-sided
    joint criterion as fixed fails), and the test asserts the slopes and the negative controls.
    q = 1{seen >= s} (s = 4) is shown in the figure: it follows the same law while its stored set is
    below d/c and overflows beyond (as SL6).
    Sizing of (i): the T window (T = 10..750 at alpha = 2, fast) is set by theory; on it the per-seed T-slope
    has sd 0.084 (40 seeds: 8 at each of seed bases 0..4), so 8 seeds give SE 0.030 and the +-0.1 control
    needs SE <= 0.1 / (t_{S-1} + 2.33) (rejected with probability >= 99%): S >= 16. The T-slope uses
    GRID's seeds_T = 24 seeds (SE ~0.017, 0.1 = ~5.9 SE with t_23 + 2.33 = 4.40 needed): the core's 8 and 16
    more, simulated at the largest d on the window only ('topT').
    History: with the core's 8 seeds the T-slope control failed at seed bases 3 (-0.500 [-0.607, -0.394])
    and 4 (-0.461 [-0.525, -0.398]) and the test errored; 8 -> 24 seeds for (i), criterion unchanged.
    """
    for alpha in _alphas(scale):
        r = sim("core", alpha)
        d, T, p = r["d"], r["T"], r["p"]
        Y = r["err"]["top"]  # (S, D, nT)
        K = np.floor(d / C)
        DD, TT = np.meshgrid(d, T, indexing="ij")
        upper = ts.top_seen_error(p, TT, np.floor(DD / C), M)
        lower = ts.top_seen_lower(p, TT, np.floor(DD / C), M)
        Uterm, Dterm = ts.unseen_mass(p, T), ts.tail_mass(p, K)
        # (i) T slope at the largest d
        selT = Uterm >= 4 * Dterm[-1]
        rT = sim("topT", alpha)  # the core's seeds and more, on the same window (theory-chosen)
        assert np.array_equal(rT["T"], T[selT])
        fitT = cluster_fit(T[selT], rT["err"])
        asymT = ts.error_exponent("top", alpha, "T")
        finT = ts.loglog_slope(T[selT], upper[-1, selT])
        svT = slope_verdict(fitT, asymT, finT, shift=NC_SHIFT)
        # (ii) d slope at the largest T
        selD = (Dterm >= 4 * Uterm[-1]) & (K >= 8)
        fitD = cluster_fit(d[selD], Y[:, selD, -1])
        asymD = ts.error_exponent("top", alpha, "d")
        finD = ts.loglog_slope(d[selD], upper[selD, -1])
        svD = slope_verdict(fitD, asymD, finD, shift=NC_SHIFT)
        # (iii) joint surface
        m = Y.mean(0)
        inside = (m >= 0.85 * lower) & (m <= 1.15 * upper)
        law = Uterm[None, :] + Dterm[:, None]  # U_T + tail_K
        ratio = m / law
        spread = float(ratio.max() / ratio.min())
        mc = r["err"]["counts"].mean(0)
        spread_c = float((mc / law).max() / (mc / law).min())
        nc_joint = spread_c > 2
        # margins: the shifted slopes from their intervals; the counts spread from 2 in its jackknife-over-seeds SE
        S_c = r["err"]["counts"].shape[0]
        jk = []
        for i in range(S_c):
            q = np.delete(r["err"]["counts"], i, axis=0).mean(0) / law
            jk.append(q.max() / q.min())
        se_c = float(np.sqrt((S_c - 1) / S_c * np.sum((np.array(jk) - np.mean(jk)) ** 2)))
        margins = {
            "T_margin_se": sv_margin(fitT, svT, rT["err"].shape[0]),
            "d_margin_se": sv_margin(fitD, svD, Y.shape[0]),
            "counts_margin_se": (spread_c - 2) / se_c if se_c > 0 else None,
        }
        parts = [v for v in margins.values() if v is not None]
        margin = min(parts) if parts else None
        ok = svT.ok and svD.ok and spread <= 2
        verdict = "reproduced" if ok else ("inconclusive" if svT.ok and svD.ok else "refuted")
        nc = svT.nc_rejected and svD.nc_rejected and nc_joint
        fig, axes = figure(3, 1, w=4.4)
        loglog_band(
            axes[0],
            T,
            Y[:, -1],
            f"top d/c, d={d[-1]:.0f}: slope {fitT}",
            pred_x=T,
            pred_y=upper[-1],
            pred_label="theory (upper)",
            xlabel="T",
            ylabel="population error",
            title=f"SL4 alpha={alpha}: error vs T",
        )
        axes[0].plot(T, r["err"]["seen_s"][:, -1].mean(0), "s:", ms=3, label=f"seen >= {GRID[scale]['s']}")
        axes[0].legend(fontsize=6)
        loglog_band(
            axes[1],
            d,
            Y[:, :, -1],
            f"top d/c, T={T[-1]:.0f}: slope {fitD}",
            pred_x=d,
            pred_y=upper[:, -1],
            pred_label="theory (upper)",
            xlabel="d",
            ylabel="population error",
            title="error vs d",
        )
        cm = __import__("matplotlib").colormaps["viridis"]
        for i in range(len(d)):
            col = cm(i / max(len(d) - 1, 1))
            axes[2].plot(T, m[i], "o", ms=3, color=col, label=f"d={d[i]:.0f}")
            axes[2].fill_between(
                T, lower[i], upper[i], color=col, alpha=0.2, label="shaded: theory [lower, upper]" if i == 0 else None
            )
        axes[2].set_xscale("log")
        axes[2].set_yscale("log")
        axes[2].set_xlabel("T")
        axes[2].set_ylabel("population error")
        axes[2].set_title("joint (d, T): points vs theory band [lower, upper]", fontsize=8)
        axes[2].legend(fontsize=5)
        record(
            "SL4",
            qualifier=finite_size_qualifier(svT, svD),
            prediction=f"alpha={alpha}: slope in T {asymT:.3f} (finite {finT:.3f}), slope in d {asymD:.3f} "
            f"(finite {finD:.3f}); "
            "error within the theory band at every (d, T)",
            measurement=f"T-slope {fitT} ({rT['err'].shape[0]} seeds) at d={d[-1]:.0f} "
            f"over T in [{T[selT][0]:.0f}, {T[selT][-1]:.0f}] ({svT.how}); "
            f"d-slope {fitD} at T={T[-1]:.0f} over d in [{d[selD][0]:.0f}, {d[selD][-1]:.0f}] ({svD.how}); "
            "error / (U_T + tail_K) in "
            f"[{ratio.min():.2f}, {ratio.max():.2f}] (spread {spread:.2f}; q = counts: {spread_c:.1f}); "
            f"{int(inside.sum())}/{inside.size} points inside the chance-factor band",
            interval=fitT.slope_ci,
            interval_of="log-log slope of the error on T (the d-slope's interval in the text)",
            estimate=fitT.slope,
            criterion="both slope CIs contain the asymptotic or finite-size slope; "
            "max/min of error/(U_T + tail_K) <= 2 over the grid",
            verdict=verdict,
            negative_control={
                "prediction": f"T-slope {svT.used:.3f} +- 0.1, d-slope {svD.used:.3f} +- 0.1, "
                "q = counts surface in the band",
                "rejected": nc,
                "T": svT.nc_rejected,
                "d": svD.nc_rejected,
                "counts_surface": nc_joint,
                **margins,
                **nc_fields(margin, "every part without sampling error (zero-width intervals): deterministic"),
            },
            figure=fig,
            data={
                "alpha": alpha,
                "d": d,
                "T": T,
                "mean": m,
                "upper": upper,
                "lower": lower,
                "fitT": fitT.as_dict(),
                "fitD": fitD.as_dict(),
                "seen_s_mean": r["err"]["seen_s"].mean(0),
                "ratio_to_sum": ratio,
                "spread": spread,
                "spread_counts": spread_c,
                "band_inside": inside,
            },
        )
        assert nc, (svT, svD, nc_joint)
        assert margin is None or (margin > 0) == nc, margins
        for key, rej in (
            ("T_margin_se", svT.nc_rejected),
            ("d_margin_se", svD.nc_rejected),
            ("counts_margin_se", nc_joint),
        ):
            assert margins[key] is None or (margins[key] > 0) == rej, (key, margins)
        # finding asserted: both exponents reproduced (the joint two-sided factor-2 criterion is reported, see
        # the docstring)
        finding(svT.ok and svD.ok, (fitT, asymT, finT, fitD, asymD, finD, ratio))


# ------------------------------------------------------------------ SL6
def _no_rise_margin(Y: np.ndarray, j: int, fit: Fit | None) -> float | None:
    """``margin_se`` of SL6's control "q = top d/c rises too" (Y: per-seed errors (S, nT) at the smallest d, j: the T
    of the seed-mean minimum, fit: the clustered slope after it). The rise test passes iff the paired p-value of
    'error at T_j < error at the largest T' is < 0.01, a fit exists (>= 3 T) and the slope's lower bound is > 0; the
    control rejects when ANY of these fails, so its margin is the largest of: z(0.01) - z(p) (``control_margin_p`` of
    the opposite tail 1 - p at level 0.99, precise where p rounds to 1) and -lo / SE of the slope (t_{S-1}).
    None when a failing part has no sampling error (constant paired differences, no fit, a zero-width interval): the
    control then rejects at every draw that keeps it so."""
    diff = Y[:, j] - Y[:, -1]
    if fit is None:
        return None
    parts = []
    if np.allclose(diff, diff[0]):  # paired_less is deterministic here: p = 0 (a rise) or 1 (no rise)
        if diff[0] >= 0:
            return None
    else:
        parts.append(control_margin_p(paired_less(Y[:, -1], Y[:, j]).p_value, alpha=0.99))
    lo = fit.slope_ci[0]
    se = (fit.slope - lo) / t_crit(Y.shape[0])
    if se > 0:
        parts.append(-lo / se)
    elif lo <= 0:
        return None
    return max(parts) if parts else None


def test_SL6_seen_overflow(scale, sim, record, finding):
    """SL6 (000 'Scaling laws with finite capacity'): q = 1{z in S_n} with d >> N gives n^-(alpha-1)/alpha + d^-k
    for any k; with d small, storing every seen token overflows the memory (error grows with n).

    (a) Overflow, N = 10^5: at the smallest d of the grid the stored set |S_T| ~ T^{1/alpha} outgrows
    d/c, so the error must rise: the error at the largest T is significantly above its minimum over T
    (paired one-sided t-test, p < 0.01) and the clustered slope over the T after the minimum is > 0.
    Negative control: the same test on q = top d/c seen tokens (same embeddings), which cannot overflow,
    must find no rise.
    (b) d >> N, N = 256, d = 8N: the seen tokens are all recalled (their error mass < 10^-3 at every T:
    the d^-k term is negligible) and the error follows (1 - 1/M) sum p(1-p)^T: its T-slope over
    T <= 1000 (before the finite-N cut-off at T ~ N^alpha) has a CI containing -(alpha-1)/alpha or the
    exact finite-N slope. Negative control: +-0.1.
    ``margin_se``: both controls must reject, so the smaller of top_margin_se (see ``_no_rise_margin``: how far the
    rise test on q = top fails, in SEs; None when it fails with no sampling error) and slope_margin_se (the nearer
    shifted slope from the interval, in SEs of the slope, t_{S-1}).
    """
    for alpha in _alphas(scale):
        r = sim("core", alpha)
        T = r["T"]
        rise = {}
        for k in ("seen", "top"):
            Y = r["err"][k][:, 0]  # smallest d
            j = int(np.argmin(Y.mean(0)))
            test = paired_less(Y[:, j], Y[:, -1])
            fit = cluster_fit(T[j:], Y[:, j:]) if len(T) - j >= 3 else None
            rise[k] = dict(
                p=test.p_value, j=j, fit=fit, ok=test.p_value < 0.01 and fit is not None and fit.slope_ci[0] > 0
            )
        s = sim("small", alpha)
        i8 = int(np.nonzero(s["d"] >= 8 * s["N"])[0][0])
        seen_tok = s["seen_tokens"][:, i8]
        selT = s["T"] <= 1000
        fitb = cluster_fit(s["T"][selT], s["seen"][:, i8, selT])
        exact = (1 - 1 / M) * ts.unseen_mass(s["p"], s["T"])
        asym = ts.error_exponent("seen", alpha, "T")
        fin = ts.loglog_slope(s["T"][selT], exact[selT])
        svb = slope_verdict(fitb, asym, fin, shift=NC_SHIFT)
        ok_tok = bool(seen_tok.mean(0).max() < 1e-3)
        ok = rise["seen"]["ok"] and svb.ok and ok_tok
        nc = (not rise["top"]["ok"]) and svb.nc_rejected
        top = r["err"]["top"][:, 0]
        m_top = _no_rise_margin(top, rise["top"]["j"], rise["top"]["fit"])
        m_slope = sv_margin(fitb, svb, s["seen"].shape[0])
        parts = [v for v in (m_top, m_slope) if v is not None]
        margin = min(parts) if parts else None
        fig, axes = figure(3, 1, w=4.4)
        for i in range(len(r["d"])):
            axes[0].plot(T, r["err"]["seen"][:, i].mean(0), "o-", ms=3, label=f"seen, d={r['d'][i]:.0f}")
        axes[0].plot(T, r["err"]["top"][:, 0].mean(0), "k--", label=f"top d/c, d={r['d'][0]:.0f}")
        axes[0].set_xscale("log")
        axes[0].set_yscale("log")
        axes[0].set_xlabel("T")
        axes[0].set_ylabel("population error")
        axes[0].set_title(f"SL6 overflow, N={r['N']}, alpha={alpha}", fontsize=8)
        axes[0].legend(fontsize=5)
        loglog_band(
            axes[1],
            s["T"],
            s["seen"][:, i8],
            f"seen, d={s['d'][i8]:.0f}=8N: slope {fitb}",
            pred_x=s["T"],
            pred_y=exact,
            pred_label="(1-1/M) sum p(1-p)^T",
            xlabel="T",
            ylabel="population error",
            title=f"d >> N (N={s['N']})",
        )
        for i in range(len(s["d"])):
            axes[2].plot(
                s["T"], np.maximum(s["seen_tokens"][:, i].mean(0), 1e-7), "o-", ms=3, label=f"d={s['d'][i]:.0f}"
            )
        axes[2].set_xscale("log")
        axes[2].set_yscale("log")
        axes[2].set_xlabel("T")
        axes[2].set_ylabel("error mass on seen tokens (floored 1e-7)")
        axes[2].legend(fontsize=5)
        fs = rise["seen"]["fit"]
        record(
            "SL6",
            qualifier=finite_size_qualifier(svb),
            prediction=f"alpha={alpha}: small d: error rises with T (overflow); "
            f"d = 8N: seen tokens all recalled, T-slope {asym:.3f} "
            f"(finite-N {fin:.3f})",
            measurement=f"d={r['d'][0]:.0f}: min at T={T[rise['seen']['j']]:.0f}, rise p={rise['seen']['p']:.2g}, "
            "slope after the min "
            f"{fs if fs is not None else 'n/a'}; d=8N: seen-token error <= {seen_tok.mean(0).max():.1e}, "
            f"T-slope {fitb} ({svb.how})",
            interval=fitb.slope_ci,
            interval_of="log-log slope of the error on T at d = 8N (seen tokens all recalled)",
            estimate=fitb.slope,
            criterion="significant rise (p < 0.01, slope CI > 0) at small d; seen-token error < 1e-3 and slope CI "
            "contains the asymptotic or finite-N slope at d = 8N",
            verdict="reproduced" if ok else "refuted",
            negative_control={
                "prediction": "q = top d/c seen tokens rises too; T-slope +- 0.1",
                "rejected": nc,
                "top_rise_p": rise["top"]["p"],
                "slope": svb.nc_rejected,
                "top_margin_se": m_top,
                "slope_margin_se": m_slope,
                **nc_fields(margin, "both parts without sampling error: deterministic"),
                **(
                    {
                        "top_margin_note": "the rise test on q = top fails with no sampling error (constant paired "
                        "differences, no fit or a zero-width interval): deterministic"
                    }
                    if m_top is None
                    else {}
                ),
            },
            figure=fig,
            data={
                "alpha": alpha,
                "T": T,
                "d": r["d"],
                "seen_mean": r["err"]["seen"].mean(0),
                "small_T": s["T"],
                "small_seen": s["seen"].mean(0),
                "seen_tokens": s["seen_tokens"].mean(0),
                "fit_b": fitb.as_dict(),
            },
        )
        assert nc, (rise["top"], fitb, svb.used)
        assert margin is None or (margin > 0) == nc, (m_top, m_slope)
        assert m_top is None or (m_top > 0) == (not rise["top"]["ok"]), (m_top, rise["top"])
        assert m_slope is None or (m_slope > 0) == svb.nc_rejected, (m_slope, fitb, svb.used)
        finding(ok, (rise["seen"], fitb, asym, fin, seen_tok.mean(0)))


# ------------------------------------------------------------------ SL7
def _fit_c(d, y, q, p, reading):
    """The constant c minimising the squared log error between the measured mean curve and the reading's curve."""
    cs, preds = _c_table(d, q, p, reading)
    loss = np.sum((np.log(y) - np.log(preds)) ** 2, 1)
    k = int(np.argmin(loss))  # the first minimum, as a scan of the c grid in increasing order
    return float(cs[k]), float(loss[k])


def _c_table(d, q, p, reading):
    """The reading's curves on the grid of constants c = 10^-3 .. 10^3 (241 values; curves with a zero dropped):
    (cs, preds) with preds of shape (len(cs), len(d)). Theory only, so a bootstrap over seeds refits c cheaply."""
    cs = np.geomspace(1e-3, 1e3, 241)
    preds = np.array([ts.approximation_error(q, p, d, c, reading, M) for c in cs])
    keep = np.all(preds > 0, 1)
    return cs[keep], preds[keep]


SL7_BOOT = 1000


def test_SL7_which_reading(scale, sim, seeds, record, finding):
    """SL7 (001 'Approximation guarantees'): E_{e,u}[error] = p({x : q(x) d < c ||q||_2^2}) as written.

    Derivation (theory.scaling): with M small the noise on the score of x is ~ ||q||/sqrt(d) against the
    signal q(x), so failure is q(x)^2 d < c ||q||^2 ('square'); the written form q(x) d < c ||q||^2
    ('linear') is not even invariant to rescaling q, which leaves the argmax unchanged. For q = p the
    two readings predict slopes -(alpha-1)/(2 alpha) and -(alpha-1)/alpha in d.
    Test: q = p over the whole d grid; for each reading ONE constant c is fitted (least squares in log
    error over d, on the grid of 241 constants, to the log of the seed-mean error: the prediction is about
    E[error]); D = (slope of the log seed-mean error) - (slope of the fitted curve on the same grid). Both terms
    of D come from the same seeds, so its 95% interval resamples seeds (1000 percentile-bootstrap replicates,
    each refitting c and both slopes). A reading is supported iff D's interval contains 0.
    Verdict (on the claim as written, the written reading only; one test, so no multiplicity correction):
    'refuted' iff D's interval for the written reading excludes 0, 'reproduced' iff it contains 0 (and the
    control rejects). The square reading is the suite's derivation, not the claim: its D is a second record
    (shown, not deciding), supported or not.
    Negative control: the same test must reject the written reading's fitted slope shifted by +-0.1 (D's interval
    excludes +-0.1). Power: D's bootstrap SE was about 0.015 before this change (40 seeds, seed base 0: 97.5%
    interval [0.157, 0.224] for the written reading's D = 0.192); a prediction 0.1 away is then rejected unless D
    lies within 0.1 - 1.96 SE = 0.071 of it (4.7 SE): P(reject both) >= 0.9999 when the tested reading is right
    (D = 0), and P(reject +0.1) = Phi((0.19 - 0.129) / 0.015), about 0.99998, at the written reading's D.
    ``margin_se``: distance of the nearer shifted value (+-0.1) from D's interval, in SEs of D read off the interval
    on that side (percentile bootstrap, crit 1.96); rejection needs > 0.
    History: (1) the interval of the measured slope alone (clustered, 95%) was compared with the fitted
    curve's slope as if that were fixed; with q = p only (d/c)^(1/4) tokens are stored, the fitted curve is
    a staircase and its slope jumps with c (-0.255, -0.261 or -0.276 over seed bases 0..9, 40 seeds each),
    so at seed base 1 the square reading was rejected and the verdict flipped to 'inconclusive'; D's interval
    then carried the variation of both terms. (2) D took the slope of the seed mean of log error, E[log error],
    while c is fitted to (and the prediction is about) log E[error]; aligned here, which moves the square
    reading's D by -0.01 to -0.02 (about 1 SE), and the verdict rule, which asked for the square reading to be
    supported as well (refuted iff written rejected and square supported, Bonferroni over both), now decides
    on the claim as written alone: the square reading's fit is a separate question (with the aligned estimator
    it was rejected at 2 of 6 draws of 40 seeds, D = -0.046 [-0.080, -0.008]), reported, not deciding. The
    rule was changed on the principle every other check uses (a claim is refuted when its own prediction is
    rejected), before the aligned verdict was computed; the written reading's D (about +0.19) was rejected at
    every draw under both estimators.
    """
    for alpha in _alphas(scale):
        r = sim("dgrid", alpha)
        d, p = r["d"], r["p"]
        Y = r["err_p"]
        fit = cluster_fit(d, Y)
        m = Y.mean(0)
        ld = np.log(d)
        boot_seed = seeds(1, tag="SL7-bootstrap")[0]
        res = {}
        for reading in ts.READINGS:
            c, loss = _fit_c(d, m, p, p, reading)
            pred = ts.approximation_error(p, p, d, c, reading, M)
            sl = ts.loglog_slope(d, pred)
            _, preds = _c_table(d, p, p, reading)
            lpred = np.log(preds)
            slopes = _centred_slope(ld, lpred)

            def D(mean, lpred=lpred, slopes=slopes, ld=ld):  # mean: the seed-mean error curve over d
                lm = np.log(mean)
                k = np.argmin(np.sum((lm - lpred) ** 2, 1))
                return float(_centred_slope(ld, lm) - slopes[k])

            ci = bootstrap_interval(D, Y, axis=0, n_boot=SL7_BOOT, rng=np.random.default_rng(boot_seed), level=0.95)
            res[reading] = dict(
                c=c,
                loss=loss,
                pred=pred,
                slope=sl,
                D=D(m),
                D_ci=(float(ci[0]), float(ci[1])),
                se=float((ci[1] - ci[0]) / (2 * norm.ppf(0.975))),
                supported=bool(ci[0] <= 0 <= ci[1]),
            )
        sq, li = res["square"], res["linear"]
        mean_slope = float(_centred_slope(ld, np.log(m)))
        nc = not (li["D_ci"][0] <= NC_SHIFT <= li["D_ci"][1]) and not (li["D_ci"][0] <= -NC_SHIFT <= li["D_ci"][1])
        # the nearer shifted value's distance from D's interval, in bootstrap SEs of D (rejection needs > 0)
        nc_margin = control_margin(li["D"], *li["D_ci"], [-NC_SHIFT, NC_SHIFT], crit=float(norm.ppf(0.975)))
        verdict = "reproduced" if li["supported"] and nc else ("refuted" if not li["supported"] else "inconclusive")
        fig, axes = figure(1, 1, w=5.4)
        loglog_band(
            axes[0],
            d,
            Y,
            f"q = p: slope {fit}",
            xlabel="d",
            ylabel="population error",
            title=f"SL7 readings, alpha={alpha}, N={r['N']}",
        )
        for reading, st in (("square", "-"), ("linear", "--")):
            axes[0].plot(
                d,
                res[reading]["pred"],
                st,
                lw=1.2,
                label=f"{reading}: c={res[reading]['c']:.3g}, slope {res[reading]['slope']:.3f}",
            )
        axes[0].legend(fontsize=7)

        def said(x):
            return (
                f"{'supported' if x['supported'] else 'rejected'} (D = {x['D']:.3f} [{x['D_ci'][0]:.3f}, "
                f"{x['D_ci'][1]:.3f}], log-SSE {x['loss']:.3f})"
            )

        data = {
            "alpha": alpha,
            "d": d,
            "mean": m,
            "fit": fit.as_dict(),
            "readings": {k: {kk: vv for kk, vv in v.items()} for k, v in res.items()},
        }
        record(
            "SL7",
            prediction=f"as written (q d < c||q||^2): slope {li['slope']:.3f} with fitted c={li['c']:.3g}",
            measurement=f"alpha={alpha}: slope of the log seed-mean error {mean_slope:.3f}; written reading "
            f"{said(li)}; D = slope of the log seed-mean error - slope of the fitted curve, 95% seed-bootstrap "
            f"interval (c refitted per replicate); the square reading (q^2 d < c||q||^2, the suite's derivation): "
            f"{said(sq)}, next record",
            interval=li["D_ci"],
            interval_of="D = measured slope - slope of the written reading's fitted curve",
            estimate=li["D"],
            criterion="the written reading is supported iff the 95% seed-bootstrap interval of D (c refitted per "
            "replicate) contains 0: reproduced if supported, refuted if not",
            verdict=verdict,
            negative_control={
                "prediction": f"written-reading slope {li['slope']:.3f} +- {NC_SHIFT}",
                "rejected": nc,
                **nc_fields(nc_margin, ZERO_WIDTH),
            },
            figure=fig,
            data=data,
            note="the formula as written on the slide does not fit the data; the square reading "
            "q(x)^2 d < c ||q||^2 gives the SL2 exponent (its own fit: next record)",
        )
        record(
            "SL7",
            prediction=f"the square reading (q^2 d < c||q||^2): slope {sq['slope']:.3f} with fitted c={sq['c']:.3g}",
            measurement=f"alpha={alpha}: square reading {said(sq)}",
            interval=sq["D_ci"],
            interval_of="D = measured slope - slope of the square reading's fitted curve",
            estimate=sq["D"],
            role="sensitivity",
            criterion="shown, not deciding: supported iff the 95% seed-bootstrap interval of D contains 0",
            verdict=verdict,
            negative_control={
                "prediction": "as the first SL7 record",
                "rejected": nc,
                **nc_fields(nc_margin, ZERO_WIDTH),
            },
        )
        assert nc, (li["D"], li["D_ci"])
        assert nc_margin is None or (nc_margin > 0) == nc, (nc_margin, li["D"], li["D_ci"])
        # what was measured decides the verdict; on the fixed seeds the finding is that the written reading fails
        assert verdict == ("refuted" if not li["supported"] else "reproduced")
        finding(not li["supported"], (fit, res))


# ------------------------------------------------------------------ SL8
def _ones_best(s: dict, i: int) -> tuple[bool, float, float | None]:
    """Is q = 1 better than q = p, q = seen and q = counts (every T) at width index i of the small-N simulation
    ``s``: one-sided paired tests, all rejected after Bonferroni? Also the largest p-value, and the margin of
    'not best' (some test not significant at 0.05/m, m tests; any suffices: the largest of z(0.05/m) - z(p)), from
    the opposite tails 1 - p (``control_margin_p`` at level 1 - 0.05/m), precise where p rounds to 1; None where
    a scheme equals q = 1 in every seed (paired_less gives p = 1 both ways: not best, with no sampling error)."""
    others = [s["q_p"][:, i]] + [s[k][:, i, j] for k in ("seen", "counts") for j in range(len(s["T"]))]
    pv = [paired_less(s["ones"][:, i], o).p_value for o in others]
    opp = [paired_less(o, s["ones"][:, i]).p_value for o in others]
    tied = any(a == 1.0 and b == 1.0 for a, b in zip(pv, opp))
    not_best = None if tied else control_margin_p(min(opp), alpha=1 - 0.05 / len(others))
    return bool(bonferroni(pv).all()), float(np.max(pv)), not_best


def test_SL8_capacity_and_orderings(scale, sim, seeds, record, finding):
    """SL8 (000 'Scaling laws with finite capacity'): "can store at most d memories (approximation error
    d^-alpha+1)"; "q = 1 is best if we have enough capacity". Plus the ordering of 001's table:
    the threshold scheme beats q = p.

    (a) Best threshold: over q = 1{x <= r d} on a grid of ratios r (factors of sqrt 2, 2^-6..4), the best error
    E*(d) = min_r E[error(r d)] should fall as d^-(alpha-1) (K* ∝ d: about d memories), not d^-2(alpha-1)
    (the injective capacity d^2 would give). Estimate: the seed-mean error at each (d, r), its minimum over r at
    each d, and the OLS slope of log E* on log d over d >= 64 (simulation 'best', its own seeds). Interval: 95%
    percentile bootstrap over seeds (SL8_BOOT replicates) that chooses the best ratio again in every replicate.
    Predictions: the asymptotic -(alpha-1), and the finite-size slope of theory's own best threshold on the same
    grids (min over r of theory.scaling.predicted_error, the Gaussian recall with interference: -0.925 in the fast
    tier, where the optimal ratio is 1/4 and slowly falls with d, a log factor). Verdict: slope_verdict (the
    interval contains either). Negative control: the law of d^2 memories, slope -2(alpha-1), must be rejected (the
    alternative the claim rules out). The suite's generic +-0.1 control is recorded but does not decide: see Seeds.
    Seeds (fixed before this verdict was read, from 14 draws of 40 seeds on the same grids): at r >= 1/4 the
    per-seed error is heavy-tailed (in 1-3% of seeds a stored top token is lost: error ~0.6 against a mean of 0.003
    at d = 1024), and the minimum of the seed means follows whichever ratio the lost tokens spare. Over 14 draws of
    40 seeds the estimate's sd was 0.059 and the mean bootstrap SE 0.046 (about 20% short: its 95% interval
    covers about 88%); pooled, 560 seeds gave -0.964, SE 0.026, and 120 seeds SE 0.035-0.051: the SE falls slower
    than 1/sqrt(S), because more seeds hold more lost tokens.
    Rejecting +-0.1 with 99% power needs SE <= 0.013 (the estimate, -0.96, lies 0.06 from -0.9), thousands of
    seeds; so +-0.1 cannot be the control here, and the record states whether it was rejected. 160 seeds (SE about
    0.04, half-width about 0.08; 4 times the dgrid's seeds, about a minute of the fast tier) keep the interval far
    from -2(alpha-1), and an estimate near -0.96 misses both predictions only beyond 3 SE.
    First run (seed base 0, 160 seeds): -0.880 [-0.996, -0.815], theory's -0.925 inside, -1 just outside.
    History: the check chose the ratio minimising the mean of 40 seeds on the dgrid's coarse grid (factors of 2)
    and fitted the clustered per-seed slope at that ratio, as if the choice were fixed: over 5 reruns the slope's sd
    was 0.057 against a within-run SE of 0.015 (coverage of the pooled estimate 60%), and seed base 2 refuted
    (-1.064 [-1.088, -1.041]). The per-seed best ratio (each seed its own minimum) was calibrated (sd 0.018, SE
    0.023) but estimates another quantity, E[min] (slope -0.87, shallower: the gain of choosing per seed grows as d
    falls), so it was not used.
    (b) Threshold (c = 8) beats q = p at every d >= 50: one-sided paired t-tests, each p < 0.05/#d
    (Bonferroni). Negative control: the reversed ordering is significant at no such d.
    (c) q = 1 is best only with enough capacity: N = 256, d = 8N: q = 1 has a lower error than q = p,
    q = seen and q = counts (at every T) (paired, Bonferroni), and the threshold scheme stores the same
    tokens (K >= N); at N = 10^4 (fast; 10^5 full; d <= 1024 << N) q = 1 is worse than the threshold at every d
    (paired, p < 0.05/#d). Negative control: at N = 256, d = 16 the 'q = 1 best' test must fail.
    ``margin_se``: all three controls must reject, so the smallest of a_margin_se (-2(alpha-1) from the bootstrap
    interval, in SEs of the slope read off its lower side, crit 1.96), b_margin_se (the smallest z(0.05/#d) - z(p) of
    the reversed tests) and c_margin_se (the largest z(0.05/m) - z(p) of the 'q = 1 best' tests at d = 16), the
    p-values' z from their opposite tails (precise where p rounds to 1); a_pm01_margin_se (+-0.1) is shown only.
    """
    for alpha in _alphas(scale):
        r = sim("dgrid", alpha)
        d, R = r["d"], r["ratios"]
        # (a) the best threshold on its own seeds, the ratio chosen again in every bootstrap replicate
        b = sim("best", alpha)
        dB, RB = b["d"], b["ratios"]
        fit, Estar, jbest = envelope_fit(dB, b["err"], SL8_BOOT, seeds(1, tag="SL8-bootstrap")[0])
        asym = -(alpha - 1)
        fin_curve = _envelope_theory(b["N"], alpha, dB, RB)
        fin = ts.loglog_slope(dB, fin_curve)
        sv_a = slope_verdict(fit, asym, fin, shift=NC_SHIFT)
        ok_a = sv_a.ok
        nc_a = not fit.contains(-2 * (alpha - 1))  # the d^2 law; +-0.1 (sv_a.nc_rejected) recorded, not deciding
        # (b) the threshold c = 8 against q = p, paired by seed at every d, Bonferroni over d >= 50
        big = d >= 50
        jc = int(np.argmin(np.abs(R - 1 / C)))
        pb = np.array([paired_less(r["err_ratio"][:, i, jc], r["err_p"][:, i]).p_value for i in range(len(d))])
        pb_rev = np.array([paired_less(r["err_p"][:, i], r["err_ratio"][:, i, jc]).p_value for i in range(len(d))])
        ok_b = bool(bonferroni(pb[big]).all())
        nc_b = not bonferroni(pb_rev[big]).any()
        # (c)
        s = sim("small", alpha)
        i8 = int(np.nonzero(s["d"] >= 8 * s["N"])[0][0])
        best_big, pmax_big, _ = _ones_best(s, i8)
        best_small, pmax_small, margin_c = _ones_best(s, 0)
        same_thr = bool(np.floor(s["d"][i8] / C) >= s["N"])
        pw = np.array([paired_less(r["err_ratio"][:, i, jc], r["err_ones"][:, i]).p_value for i in range(len(d))])
        worse_big_N = bool(bonferroni(pw).all())
        ok_c = best_big and same_thr and worse_big_N
        nc_c = not best_small
        ok = ok_a and ok_b and ok_c
        nc = nc_a and nc_b and nc_c
        # margins (a) from the bootstrap interval (percentile, 95%: crit 1.96); (b) from the reversed tests' opposite
        # tails, pb = 1 - pb_rev (precise where pb_rev rounds to 1), all d >= 50 non-significant: the smallest; a d
        # whose schemes tie in every seed (p = 1 both ways) is non-significant with no sampling error
        z95 = float(norm.ppf(0.975))
        margin_a = control_margin(fit.slope, *fit.slope_ci, -2 * (alpha - 1), crit=z95)
        margin_a01 = control_margin(fit.slope, *fit.slope_ci, [sv_a.used - NC_SHIFT, sv_a.used + NC_SHIFT], crit=z95)
        untied = ~((pb[big] == 1.0) & (pb_rev[big] == 1.0))
        mb = [control_margin_p(x, alpha=1 - 0.05 / int(big.sum())) for x in pb[big][untied]]
        margins = {"a_margin_se": margin_a, "b_margin_se": min(mb) if mb else None, "c_margin_se": margin_c}
        parts = [v for v in margins.values() if v is not None]
        margin = min(parts) if parts else None
        fig, axes = figure(3, 1, w=4.4)
        ax = axes[0]
        ax.plot(dB, Estar, "o-", ms=4, label=f"best threshold E*(d) = min_r mean: slope {fit}")
        ax.plot(dB, fin_curve, "--", c="k", lw=1, label=f"theory's best threshold (slope {fin:.3f})")
        ax.plot(dB, Estar[0] * (dB / dB[0]) ** asym, ":", c="gray", label=f"d^{asym:g} (about d memories)")
        ax.plot(dB, Estar[0] * (dB / dB[0]) ** (-2 * (alpha - 1)), ":", label="d^-2(alpha-1) (d^2 memories)")
        ax.set(xscale="log", yscale="log", xlabel="d", ylabel="population error")
        ax.set_title(f"SL8(a) alpha={alpha}: at most ~d memories ({b['err'].shape[0]} seeds)", fontsize=9)
        axes[0].legend(fontsize=6)
        loglog_band(
            axes[1],
            d,
            r["err_ratio"][:, :, jc],
            "threshold c=8",
            xlabel="d",
            ylabel="population error",
            title=f"SL8(b) N={r['N']}",
        )
        loglog_band(axes[1], d, r["err_p"], "q = p", marker="s")
        loglog_band(axes[1], d, r["err_ones"], "q = 1", marker="^")
        loglog_band(
            axes[2],
            s["d"],
            s["ones"],
            "q = 1",
            xlabel="d",
            ylabel="population error",
            title=f"SL8(c) N={s['N']}, T={s['T'][-1]:.0f}",
        )
        loglog_band(axes[2], s["d"], s["q_p"], "q = p", marker="s")
        loglog_band(axes[2], s["d"], np.maximum(s["seen"][:, :, -1], 1e-6), "q = seen", marker="v")
        loglog_band(axes[2], s["d"], np.maximum(s["threshold"], 1e-6), "threshold c=8", marker="x")
        record(
            "SL8",
            qualifier=finite_size_qualifier(sv_a),
            prediction=f"alpha={alpha}: best-threshold error slope {asym:.3f} (finite {fin:.3f}), "
            "optimal K*/d constant; "
            "threshold < q=p for d >= 50; q = 1 best iff d >> N",
            measurement=f"(a) slope {fit} ({sv_a.how}; bootstrap over {b['err'].shape[0]} seeds, r* chosen again in "
            f"each replicate; theory's best threshold {fin:.3f}; the d^2 law {-2 * (alpha - 1):g} "
            f"{'rejected' if nc_a else 'NOT rejected'}, the prediction +-0.1 "
            f"{'rejected' if sv_a.nc_rejected else 'not rejected (resolution, see the docstring)'}), "
            f"optimal r* = K*/d per d: {', '.join(f'{x:.3g}' for x in RB[jbest])}; "
            f"(b) max p-value over d >= 50: {pb[big].max():.2g}; "
            f"(c) N={s['N']}, d={s['d'][i8]:.0f}: q=1 best (max p {pmax_big:.2g}); "
            f"N={r['N']}: q=1 worse than threshold at every d (max p {pw.max():.2g})",
            interval=fit.slope_ci,
            interval_of="log-log slope of the best-threshold error (min over r of the seed mean) on d",
            estimate=fit.slope,
            criterion="(a) slope CI (seed bootstrap, ratio re-chosen) contains -(alpha-1) or theory's finite slope, "
            "excludes -2(alpha-1); (b) all Bonferroni paired tests; "
            "(c) q=1 best at d=8N, "
            "worse than threshold at N=1e5",
            verdict="reproduced" if ok else "refuted",
            negative_control={
                "prediction": "(a) slope -2(alpha-1) (d^2 memories); (b) reversed ordering; "
                "(c) q=1 best at d=16, N=256",
                "a_pm01_rejected": sv_a.nc_rejected,
                "rejected": nc,
                "a": nc_a,
                "b": nc_b,
                "c": nc_c,
                "small_d_max_p": pmax_small,
                "a_pm01_margin_se": margin_a01,
                **margins,
                **nc_fields(margin, "no part with sampling error: deterministic"),
            },
            figure=fig,
            data={
                "alpha": alpha,
                "d": dB,
                "Estar": Estar,
                "Estar_theory": fin_curve,
                "r_star": RB[jbest],
                "p_b": pb,
                "p_b_rev": pb_rev,
                "p_ones_worse": pw,
                "small_d": s["d"],
                "small_ones": s["ones"].mean(0),
                "small_p": s["q_p"].mean(0),
            },
        )
        assert nc, (nc_a, nc_b, nc_c)
        assert margin is None or (margin > 0) == nc, margins
        for key, rej in (("a_margin_se", nc_a), ("b_margin_se", nc_b), ("c_margin_se", nc_c)):
            assert margins[key] is None or (margins[key] > 0) == rej, (key, margins)
        assert margin_a01 is None or (margin_a01 > 0) == sv_a.nc_rejected, (margin_a01, fit, sv_a.used)
        finding(ok, (fit, asym, fin, pb, best_big, same_thr, pw))
