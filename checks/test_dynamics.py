"""OD1-OD10: the F(n) dynamics of SGD on associative memories and the training advice of the talks.

Model of impl.dynamics: logits U z, z = W e_x (or LayerNorm(W e_x)), W learned from 0, Zipf(2) tokens
on N = 100, f*(x) = x mod M with M = 5 (the optimiser grid of 001), one pass over T samples.
At ``--scale full`` the long trainings go through the sweep store, one row per configuration and seed, so the
full tier resumes after a stop: the authors' grid (``amemory.sweep`` sweep ``authors_grid``) and OD6/OD7's tuned
comparisons (``tasks.dynamics_train_task``).
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as hst
from plotting import band_panel, figure, tidy_log_axes
from scipy.stats import t as t_dist
from stats import band_margin, control_margin, control_margin_p, holm, mean_ci, paired_less, t_crit

from impl.dynamics import reference_train_autograd, train
from theory import dynamics as th
from theory.zipf import zipf_pmf

N, M, ALPHA = 100, 5, 2.0


# ------------------------------------------------------------------ OD1
@given(gamma=hst.floats(0.01, 4.0), Mm=hst.integers(2, 12), n=hst.integers(1, 3000))
def test_OD1_F_properties(gamma, Mm, n):
    """OD1 properties (theory.dynamics): F increasing and concave in n; the exact orthonormal margin lies in
    the derived sandwich F(n; gamma, M) <= m(n) <= F(n; gamma (1 + 1/M), M) (gamma <= 4); linear regime
    F(1) = gamma M/(M+1) and F(n) / log(gamma M n) -> 1."""
    ns = np.arange(n + 1)
    Fn = th.F(ns, gamma, Mm)
    inc = np.diff(Fn)
    assert np.all(inc > 0) and np.all(np.diff(inc) <= 1e-12)
    lo, hi = th.sandwich_bounds(ns, gamma, Mm)
    m = th.margin_exact(ns, gamma, Mm)
    assert np.all(lo <= m + 1e-9) and np.all(m <= hi + 1e-9)
    assert abs(Fn[1] - gamma * Mm / (Mm + 1)) < 1e-12
    big = th.F([10**7], gamma, Mm)[0]
    assert abs(big / np.log(gamma * Mm * 1e7) - 1) < 0.1


@given(gamma=hst.floats(0.05, 20.0), Mm=hst.integers(2, 8), T=hst.integers(1, 300), seed=hst.integers(0, 2**20))
def test_OD1_orthonormal_sgd_property(gamma, Mm, T, seed):
    """OD1: with exactly orthonormal embeddings, batch-1 SGD margins equal the exact recursion at each
    token's visit count, to 1e-9 (float64), for any step size."""
    n = 12
    r = train(n, Mm, 16, T, [gamma], (seed,), alpha=1.0, embeddings="orthonormal", checkpoints=1, dtype="float64")
    pred = th.margin_exact(r.counts[0].numpy(), gamma, Mm)
    assert np.abs(r.margins[0, 0].numpy() - pred).max() <= 1e-9 * max(1.0, pred.max())


def test_OD1_recursion_and_bound(seeds, record):
    """OD1 (001 'Training dynamics'): q_T(x) = F(#visits of x), F = f o ... o f(0), f(x) = x + gamma/(1 + M^-1 e^x).

    Exact statement derived in theory.dynamics: with orthonormal embeddings the margin follows
    m <- m + gamma M/(e^m + M - 1); the seed's f replaces M - 1 by M (an O(1/M) difference).
    Criterion: over 30 random (gamma in [0.05, 20], M in 2..8, T <= 2000) runs, SGD margins equal the exact
    recursion to 1e-9; for gamma <= 4 the margins lie in the derived sandwich. Negative control: the seed's F
    used as the exact prediction must miss by more than 1e-6 somewhere (it is an approximation). ``margin_se``:
    None (float64 arithmetic of a fixed approximation, no sampling error).
    """
    rng = np.random.default_rng(seeds(1)[0])
    errs, seed_errs, in_band = [], [], []
    for s in seeds(30):
        gamma, Mm, T = float(rng.uniform(0.05, 20)), int(rng.integers(2, 9)), int(rng.integers(50, 2000))
        r = train(12, Mm, 16, T, [gamma], (s,), alpha=1.0, embeddings="orthonormal", checkpoints=1, dtype="float64")
        c, m = r.counts[0].numpy(), r.margins[0, 0].numpy()
        ex = th.margin_exact(c, gamma, Mm)
        errs.append(np.abs(m - ex).max() / max(1, ex.max()))
        seed_errs.append(np.abs(m - th.F(c, gamma, Mm)).max())
        if gamma <= 4:
            lo, hi = th.sandwich_bounds(c, gamma, Mm)
            in_band.append(bool(np.all((lo <= m + 1e-9) & (m <= hi + 1e-9))))
    ok = max(errs) <= 1e-9 and all(in_band)
    nc = max(seed_errs) > 1e-6
    fig, axes = figure(2, 1)
    ns = np.arange(0, 3001)
    for g in (0.1, 1.0, 10.0):
        axes[0].plot(ns[1:], th.F(ns, g, 5)[1:], label=f"seed F, gamma={g}")
        axes[0].plot(ns[1:], th.margin_exact(ns, g, 5)[1:], "--", label=f"exact margin, gamma={g}")
    axes[0].set_xscale("log")
    axes[0].set_xlabel("visits n")
    axes[0].set_ylabel("q = F(n)")
    axes[0].legend(fontsize=6)
    tidy_log_axes(axes[0])
    nn = np.geomspace(1, 1e7, 60).round()
    axes[1].plot(nn, th.F(nn, 1.0, 5), label="F(n), gamma=1, M=5")
    axes[1].plot(nn, th.F_linear(nn, 1.0, 5), ":", label="linear n gamma M/(M+1)")
    axes[1].plot(nn, th.F_log(nn, 1.0, 5), "--", label="log(gamma M n)")
    axes[1].set_xscale("log")
    axes[1].set_xlabel("visits n")
    axes[1].set_ylabel("F(n) and its two regimes")
    axes[1].set_ylim(0, 20)
    axes[1].legend(fontsize=6)
    tidy_log_axes(axes[1])
    record(
        "OD1",
        prediction="orthonormal SGD margin = exact recursion m <- m + gamma M/(e^m + M - 1); "
        "seed F within the derived sandwich",
        measurement=f"max relative |SGD - recursion| {max(errs):.1e} over 30 runs; "
        f"sandwich holds in {sum(in_band)}/{len(in_band)} runs with gamma <= 4",
        interval=None,  # a maximum over runs decides (exact identity), not an interval
        criterion="<= 1e-9 and every sandwich holds",
        verdict="reproduced" if ok else "refuted",
        negative_control={
            "prediction": "the seed's F as the exact margin",
            "max_error": float(max(seed_errs)),
            "rejected": nc,
            "margin_se": None,
            "margin_note": "deterministic: the seed's F differs from the exact recursion by construction (float64 "
            "arithmetic, no sampling error)",
        },
        figure=fig,
        data={"max_error": float(max(errs)), "seed_F_max_error": float(max(seed_errs))},
    )
    assert nc and ok


# ------------------------------------------------------------------ OD2 / OD3 / OD8: q_T(x) against F(count)
GRID = {
    "fast": dict(d=10_000, T=10_000, seeds=30, lrs=[0.01, 0.1, 1.0, 10.0, 100.0]),
    "full": dict(d=20_000, T=100_000, seeds=30, lrs=[0.01, 0.1, 1.0, 10.0, 100.0]),
}


def _qrun(scale, seeds, device):
    """Batch-1 SGD at d = 100 N (fast), all rates and seeds at once."""
    g = GRID[scale]
    return train(N, M, g["d"], g["T"], g["lrs"], seeds(g["seeds"]), alpha=ALPHA, checkpoints=1, device=device), g


def memory_q(res) -> np.ndarray:
    """q_T(x) of a trained memory W = U^T A E: the coefficient of x's own association, A[f*(x), x] minus the
    mean of A[k, x] over the other outputs k (for orthonormal embeddings this is exactly x's margin). (S, L, N)."""
    A = res.coefficients.double().cpu().numpy()  # (S, L, M, N)
    Mm, Nn = A.shape[-2:]
    own = A[..., np.arange(Nn) % Mm, np.arange(Nn)]
    return own - (A.sum(-2) - own) / (Mm - 1)


def test_OD2_q_matches_F(scale, seeds, device, record):
    """OD2 (001 'Training dynamic'): the approximation q_T(x) = F(count) matches practice for several rates.

    Measurement: batch-1 SGD with random N(0, 1/d) embeddings at d = 100 N (d >> N), 5 rates; q_T(x) is the
    coefficient SGD wrote into x's own association (:func:`memory_q`; W = U^T A E exactly, since every SGD
    update is a sum of u_k e_x^T), over seen tokens and seeds, against the exact recursion m(n_x)
    (theory.dynamics.margin_exact) and the seed's F(n_x).
    Criterion (fixed in advance): for every rate the median relative error |q - m(n)|/m(n) is <= 0.1: the
    interference of the other memories in the logits during training is ~ sqrt(N/d) = 0.1 of a score, and it
    enters q only through the softmax's error term, averaged over the visits.
    Negative control: the prediction without saturation, q = n gamma M/(M+1) (F's linear regime), must fail
    the same criterion at some rate. ``margin_se``: None (a point criterion on medians, which carry no standard
    error).
    History: a first version measured the readout margin (which adds the interference sqrt(N/d) q_max to a
    token's own q) at d = 10 N; it failed for rare tokens at small rates (median relative errors 2.40, 0.49,
    0.12, 0.16, 0.27), which says the readout is noisy, not that q differs from F; the claim is about q.
    Finding (fast tier, d = 100 N): q follows the recursion within 0.4-3.5% up to lr 10 and misses by 24% at
    lr 100: during training the other memories shift x's logits by ~ lr sqrt(N/d) (~ 10 at lr 100), which
    changes the softmax error term, so "quasi-orthogonal" needs d >> N lr^2, not only d >> N. The verdict says
    refuted at lr 100, as the criterion demands; the test asserts the negative control.
    """
    r, g = _qrun(scale, seeds, device)
    c = r.counts.cpu().numpy()
    q = memory_q(r)
    seen = c > 0
    med, med_seed, med_lin = [], [], []
    fig, axes = figure(len(g["lrs"]), 1, w=3.2)
    for j, lr in enumerate(g["lrs"]):
        m = q[:, j]
        ex = th.margin_exact(c, lr, M)
        fs = th.F(c, lr, M)
        lin = th.F_linear(c, lr, M)
        med.append(float(np.median(np.abs(m[seen] - ex[seen]) / ex[seen])))
        med_seed.append(float(np.median(np.abs(m[seen] - fs[seen]) / fs[seen])))
        med_lin.append(float(np.median(np.abs(m[seen] - lin[seen]) / lin[seen])))
        ax = axes[j]
        ax.plot(c[seen], np.maximum(m[seen], 1e-6), ".", ms=2, alpha=0.4, label="SGD q_T(x)")
        nn = np.unique(c[seen])
        ax.plot(nn, th.margin_exact(nn, lr, M), "k-", lw=1, label="exact recursion m(n)")
        ax.plot(nn, th.F(nn, lr, M), "r--", lw=1, label="seed F(n)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        tidy_log_axes(ax)
        ax.set_title(f"lr {lr}: median rel. err {med[-1]:.3f}", fontsize=8)
        ax.set_xlabel("visits n")
        ax.set_ylabel("margin q_T(x)")
    axes[0].legend(fontsize=6)
    ok = max(med) <= 0.1
    nc = max(med_lin) > 0.1
    record(
        "OD2",
        prediction="q_T(x) = F(visits of x) (exact recursion; the seed's F within O(1/M)), every rate",
        measurement=f"d={g['d']}, T={g['T']}: median relative error per rate "
        + ", ".join(f"{lr}: {e:.3f}" for lr, e in zip(g["lrs"], med))
        + "; against the seed's F: "
        + ", ".join(f"{e:.3f}" for e in med_seed),
        interval=None,  # the median error at each rate decides, listed in the measurement
        criterion="median relative error <= 0.1 at every rate",
        verdict="reproduced" if ok else "refuted",
        negative_control={
            "prediction": "q = n gamma M/(M+1) (no saturation)",
            "median_errors": med_lin,
            "rejected": nc,
            "margin_se": None,
            "margin_note": "a point criterion (largest median relative error > 0.1): the medians carry no "
            "standard error",
        },
        figure=fig,
        data={"lrs": g["lrs"], "median_rel_error": med, "median_rel_error_seed_F": med_seed, "d": g["d"], "T": g["T"]},
    )
    assert nc, med_lin


def test_OD3_OD8_flattening(scale, seeds, device, record):
    """OD3 (001 'Training dynamic'): small gamma gives q ∝ p, large gamma a flatter q (towards thresholding).
    OD8 (000 'Scaling laws with optimization algorithms'): batch 1 + large step, d >> N: q(z) ~ 1.

    Measurement: rho = slope of log q_T(x) on log p over seen tokens, per seed and rate (same runs as OD2).
    Prediction: rho of the exact recursion m(counts) on the same counts (theory.dynamics.fitted_rho).
    Criteria: OD3, "rho decreases with gamma", decided by tests with a stated error rate: (a) the decrease
    over the whole range is significant (one-sided paired t-test over seeds, rho(largest rate) < rho(smallest),
    p < 0.05), and (b) no step between consecutive rates is a significant increase (one-sided paired t-tests over
    seeds, Holm-corrected over the steps at family-wise level 0.05); and agreement with the theory: the 95% interval
    over seeds of the mean of rho - rho_F lies inside [-0.1, 0.1] at every rate. OD8: at the largest rate the 95%
    interval of rho lies below 0.3 (q ∝ p has rho = 1; a log-saturated memory log(gamma M T p) has rho ~ 1/log(gamma
    M T p) ~ 0.1-0.2).
    History (issue #19, item 3): the first criterion asked for strictly decreasing means and |mean - rho_F| <= 0.1,
    point comparisons inside their own noise; its refutation rested on a step of +0.023 whose interval was [-0.034,
    0.112]. The criterion above was written before the rerun; the tolerance 0.1 is unchanged.
    History (issue #19, item 8): with 10 seeds the verdict was reproduced at seed base 0 but refuted at 2 of 5 fresh
    seed bases (1 and 5): the step from rate 10 to 100 rose by +0.03 to +0.04, Holm p = 0.069 at base 0 and 0.012 at
    base 1, so the verdict hung on the power of that one test. A run of 40 seeds at rates 10 and 100 only (seeds
    1000-1039) gave rho 0.015 -> 0.061, paired difference 0.047 [0.031, 0.062], p = 3e-7: the rise is real, not
    noise, and with 10 seeds the test found it about 3 times in 4. The seeds went from 10 to 30 (power about 99% at
    that effect after Holm over the 4 steps), and the verdict is now refuted at bases 0, 1 and 5. What rises: at
    rate 100 a few seen tokens keep a tiny own coefficient (down to 1e-3 against about 125 for the rest), because
    the cross-talk of the other, large memories through e_x^T e_y ~ 1/sqrt(d) already predicts their output when
    they are first seen, so their update is small; F(counts), which assumes orthogonal embeddings, has no such
    tokens (rho_F ~ 0), and the spread of log q that they add is what lifts rho. The flattening itself (0.82 ->
    0.015 over rates 0.01 -> 10) matches F(counts) within 0.003 at every rate up to 10.
    Negative controls: OD3: rho = 1 at every rate (q ∝ p regardless of gamma) must be outside the interval at
    the largest rate, and the reverse of (a) (an increase over the range) must not be significant; OD8: the same
    interval must exclude rho = 1. ``margin_se`` (both records): the smaller of rho = 1's distance beyond that
    interval in SEs of the mean rho (t_{S-1}) and z(0.05) - z(p) of the reverse test.
    """
    r, g = _qrun(scale, seeds, device)
    p = zipf_pmf(N, ALPHA)
    c = r.counts.cpu().numpy()
    q = memory_q(r)
    rho, rho_th = np.zeros((c.shape[0], len(g["lrs"]))), np.zeros((c.shape[0], len(g["lrs"])))
    for s in range(c.shape[0]):
        seen = c[s] > 0
        for j, lr in enumerate(g["lrs"]):
            rho[s, j] = th.fitted_rho(np.maximum(q[s, j], 1e-12), p, seen)
            rho_th[s, j] = th.fitted_rho(th.margin_exact(c[s], lr, M), p, seen)
    mean, lo, hi = mean_ci(rho)
    overall = paired_less(rho[:, -1], rho[:, 0])  # (a) the decrease over the whole range
    overall_rev = paired_less(rho[:, 0], rho[:, -1])
    ups = [paired_less(rho[:, j], rho[:, j + 1]) for j in range(rho.shape[1] - 1)]  # H1: rho rises at step j
    rises = holm([u.p_value for u in ups])
    _, dlo, dhi = mean_ci(rho - rho_th)
    agree = bool(np.all((dlo >= -0.1) & (dhi <= 0.1)))
    decreasing = overall.significant() and not rises.any()
    ok3 = bool(decreasing and agree)
    # refuted only when the data contradict the claim: a significant rise (overall or at a step), or a rate whose
    # interval of rho - rho_F lies entirely outside [-0.1, 0.1]; otherwise not established = inconclusive
    bad3 = bool(overall_rev.significant() or rises.any() or np.any((dhi < -0.1) | (dlo > 0.1)))
    verdict3 = "reproduced" if ok3 else "refuted" if bad3 else "inconclusive"
    nc3 = not (lo[-1] <= 1.0 <= hi[-1]) and not overall_rev.significant()
    # its margin: both parts must reject, so the smaller margin (a part without spread gives None and drops out)
    parts3 = [
        control_margin(mean[-1], lo[-1], hi[-1], 1.0, crit=float(t_dist.ppf(0.975, rho.shape[0] - 1))),
        _not_significant_margin(overall, overall_rev, rho[:, 0], rho[:, -1])[0],
    ]
    margin3 = min((x for x in parts3 if x is not None), default=None)
    note3 = {} if margin3 is not None else {"margin_note": "zero-width interval and constant paired differences"}
    ok8 = hi[-1] < 0.3
    fig, axes = figure(1, 1)
    axes[0].errorbar(g["lrs"], mean, yerr=[mean - lo, hi - mean], fmt="o", label="measured rho (95% CI over seeds)")
    axes[0].plot(g["lrs"], rho_th.mean(0), "-", label="rho of F(counts)")
    axes[0].axhline(1.0, color="gray", lw=0.6)
    axes[0].set_xscale("log")
    axes[0].set_xlabel("learning rate gamma")
    axes[0].set_ylabel("rho in q ∝ p^rho")
    axes[0].legend(fontsize=7)
    if rises.any():  # the deciding quantity of a refutation: the largest Holm-significant rise, rho[j+1] - rho[j]
        j = max(np.flatnonzero(rises), key=lambda k: -ups[k].mean_diff)
        head_ci = (-ups[j].ci[1], -ups[j].ci[0])
        head_of = f"mean change of rho from rate {g['lrs'][j]} to {g['lrs'][j + 1]} (the significant rise)"
        head_est = -ups[j].mean_diff
    else:
        head_ci, head_of = overall.ci, "mean change of rho from the smallest to the largest rate"
        head_est = overall.mean_diff
    record(
        "OD3",
        prediction="rho decreasing with gamma, equal to rho of F(counts) within 0.1: "
        + ", ".join(f"{x:.3f}" for x in rho_th.mean(0)),
        measurement="rho " + ", ".join(f"{lr}: {x:.3f}" for lr, x in zip(g["lrs"], mean)),
        interval=head_ci,
        interval_of=head_of,
        estimate=head_est,
        criterion="decrease over the range significant (one-sided paired t, p < 0.05), no significant rise between "
        "consecutive rates (one-sided paired t, Holm, family-wise 0.05); 95% CI of rho - rho_F inside [-0.1, 0.1] at "
        "every rate (refuted: a significant rise, or an interval entirely outside; else inconclusive)",
        verdict=verdict3,
        note=f"mean change of rho from the smallest to the largest rate {overall.mean_diff:+.3f}, 95% CI "
        f"[{overall.ci[0]:+.3f}, {overall.ci[1]:+.3f}] (p = {overall.p_value:.2g}); steps of the mean "
        f"{', '.join(f'{x:+.3f}' for x in np.diff(mean))}, Holm-significant "
        f"rises: {int(rises.sum())} (step p-values {', '.join(f'{u.p_value:.2g}' for u in ups)}); 95% CI of rho - "
        f"rho_F per rate: {', '.join(f'[{a:+.3f}, {b:+.3f}]' for a, b in zip(dlo, dhi))}",
        negative_control={"prediction": "rho = 1 at every rate", "rejected": nc3, "margin_se": margin3, **note3},
        figure=fig,
        data={"lrs": g["lrs"], "rho": mean, "rho_theory": rho_th.mean(0)},
    )
    fig8, ax8 = figure(1, 1)
    for j in (0, len(g["lrs"]) - 1):
        seen = c[0] > 0
        qj = q[0, j][seen]
        ax8[0].plot(p[seen], qj / qj.max(), ".", ms=4, label=f"lr {g['lrs'][j]}: rho {mean[j]:.2f}")
    ax8[0].plot(p, p / p.max(), "k:", lw=0.8, label="q ∝ p (rho = 1)")
    ax8[0].set_xscale("log")
    ax8[0].set_yscale("log")
    tidy_log_axes(ax8[0])
    ax8[0].set_xlabel("p(x)")
    ax8[0].set_ylabel("q_T(x) / max q_T (first seed)")
    ax8[0].legend(fontsize=7)
    record(
        "OD8",
        prediction="q nearly flat at batch 1, large step, d = 100 N: rho < 0.3 (rho of F: %.3f)" % rho_th.mean(0)[-1],
        measurement=f"rho at lr {g['lrs'][-1]}: {mean[-1]:.3f}",
        interval=(float(lo[-1]), float(hi[-1])),
        interval_of=f"mean rho at lr {g['lrs'][-1]}",
        estimate=float(mean[-1]),
        criterion="95% interval of rho below 0.3",
        verdict="reproduced" if ok8 else "refuted",
        negative_control={"prediction": "rho = 1 (q ∝ p)", "rejected": nc3, "margin_se": margin3, **note3},
        figure=fig8,
        data={"rho": float(mean[-1])},
    )
    assert nc3
    assert margin3 is None or (margin3 > 0) == nc3 or (margin3 == 0 and nc3)  # the reverse test rejects at p = 0.05


# ------------------------------------------------------------------ surrogate at batch 1000 (OD2, second record)
def test_OD2_batch_surrogate(scale, seeds, device, record):
    """OD2 / theory.dynamics.batch_margin: the surrogate of SGD with batch B (each token's margin follows
    m <- m + gamma (c_t/B) M/(e^m + M - 1) with its batch counts c_t) against real SGD at B = 1000.

    With orthonormal embeddings (N = 100 <= d = 128) the surrogate is exact; the measurement is the mean gap of
    the population errors over seeds and the largest margin gap. Criterion: |mean error gap| <= 1e-9 and margins
    equal to 1e-9 (float64). Negative control: the batch-1 prediction F(total count) (which ignores that a token
    seen c times in one batch gets one step of weight c/B) must miss the margins by > 1e-3. ``margin_se``: None
    (float64 arithmetic of a fixed approximation, no sampling error).
    """
    T, B, lr = 100_000, 1000, 100.0
    S = seeds(4)
    r = train(
        N,
        M,
        128,
        T,
        [lr],
        S,
        alpha=ALPHA,
        batch=B,
        embeddings="orthonormal",
        checkpoints=1,
        dtype="float64",
        device=device,
    )
    from impl.sampling import sample_tokens, zipf_probs

    tok = sample_tokens(zipf_probs(N, ALPHA), T, S).numpy()
    p = zipf_pmf(N, ALPHA)
    gaps, mgaps, nc_gaps = [], [], []
    for s in range(len(S)):
        bc = np.stack([np.bincount(tok[s, t * B : (t + 1) * B], minlength=N) for t in range(T // B)])
        m_sur = th.batch_margin(bc, lr, M)
        m = r.margins[s, 0].cpu().numpy()
        mgaps.append(np.abs(m - m_sur).max())
        err_sur = float(p @ (m_sur <= 0))
        gaps.append(float(r.error[s, 0, -1]) - err_sur)
        nc_gaps.append(np.abs(m - th.margin_exact(r.counts[s].cpu().numpy(), lr, M)).max())
    ok = abs(np.mean(gaps)) <= 1e-9 and max(mgaps) <= 1e-9
    nc = min(nc_gaps) > 1e-3
    record(
        "OD2",
        prediction="batch-B surrogate = SGD (orthonormal embeddings, B = 1000, T = 1e5)",
        measurement=f"mean population-error gap {np.mean(gaps):.2e}; max margin gap {max(mgaps):.1e}",
        interval=None,  # exact agreement: the largest gap decides
        criterion="|mean gap| <= 1e-9 and margins within 1e-9",
        verdict="reproduced" if ok else "refuted",
        negative_control={
            "prediction": "batch-1 F(total count)",
            "min_margin_gap": float(min(nc_gaps)),
            "rejected": nc,
            "margin_se": None,
            "margin_note": "deterministic: the batch-1 recursion ignores the batching by construction (float64 "
            "arithmetic, no sampling error)",
        },
        data={"gaps": gaps, "margin_gaps": mgaps},
    )
    assert nc and ok


def test_OD2_batch_surrogate_random_embeddings(scale, seeds, device, record):
    """OD2 / theory.dynamics.batch_margin with random embeddings: the surrogate's population error (every token
    whose surrogate margin is positive is recalled) against real SGD at B = 1000, lr 100, T = 10^5, with
    N(0, 1/d) embeddings at d = 10 N, where the surrogate is an approximation.

    Criterion (fixed in advance): the 95% interval of the mean gap error(SGD) - error(surrogate) over seeds lies
    inside [-0.01, 0.01]. Reasoning: only tokens whose own memory is below the interference of the others,
    ~ sqrt(N/d) q_max ~ 0.3 q_max, can be lost; with q ~ log-saturated these are the tokens seen a handful of
    times, p(x) < ~1e-4 at T = 1e5, whose total Zipf(2) mass on N = 100 is below ~0.01.
    Negative control: the same interval test must reject a prediction off by 0.02 (the surrogate's error + 0.02).
    ``margin_se``: how far the farther end of its interval lies beyond [-0.01, 0.01], in SEs of the mean (t_{S-1}).
    """
    T, B, lr = 100_000, 1000, 100.0
    S = seeds(6)
    r = train(N, M, 10 * N, T, [lr], S, alpha=ALPHA, batch=B, checkpoints=1, device=device)
    from impl.sampling import sample_tokens, zipf_probs

    tok = sample_tokens(zipf_probs(N, ALPHA), T, S).numpy()
    p = zipf_pmf(N, ALPHA)
    err_sur = np.array(
        [
            p
            @ (
                th.batch_margin(
                    np.stack([np.bincount(tok[s, t * B : (t + 1) * B], minlength=N) for t in range(T // B)]), lr, M
                )
                <= 0
            )
            for s in range(len(S))
        ]
    )
    err_sgd = r.error[:, 0, -1].double().cpu().numpy()
    m, lo, hi = mean_ci(err_sgd - err_sur)
    ok = -0.01 <= lo and hi <= 0.01
    _mo, loo, hio = mean_ci(err_sgd - (err_sur + 0.02))
    nc = not (-0.01 <= loo and hio <= 0.01)
    nc_margin = band_margin(_mo, loo, hio, -0.01, 0.01, crit=t_crit(len(S)))
    record(
        "OD2",
        prediction="batch-B surrogate predicts SGD's population error with random embeddings (d = 10 N, B = 1000)",
        measurement=f"SGD error {err_sgd.mean():.4f}, surrogate {err_sur.mean():.4f}; "
        f"mean gap {m:+.4f} over {len(S)} seeds",
        interval=(lo, hi),
        interval_of="mean gap, SGD error minus surrogate error",
        estimate=float(m),
        criterion="95% interval of the mean gap inside [-0.01, 0.01]",
        verdict="reproduced" if ok else "refuted",
        negative_control={
            "prediction": "surrogate error + 0.02",
            "interval": [loo, hio],
            "rejected": nc,
            "margin_se": nc_margin,
            **({} if nc_margin is not None else {"margin_note": "zero-width interval"}),
        },
        data={"err_sgd": err_sgd, "err_surrogate": err_sur},
    )
    assert nc
    assert nc_margin is None or (nc_margin > 0) == nc


# ------------------------------------------------------------------ OD4-OD7, OD9, OD10: paired comparisons
CMP = {
    "fast": dict(seeds=10, T=8192, d=200, d_small=20, seeds_small=40),
    "full": dict(seeds=30, T=102_400, d=1000, d_small=50, seeds_small=40),
}


def _final(res):
    return res.error[:, :, -1].cpu().numpy()  # (S, L)


def _one_sided_upper(a, b) -> float:
    """The one-sided 95% upper bound of mean(a - b) (t over the pairs): below 0 exactly when the one-sided paired
    t-test has p < 0.05."""
    from scipy import stats as sst

    d = np.asarray(a, float) - np.asarray(b, float)
    se = d.std(ddof=1) / np.sqrt(d.size)
    return float(d.mean() + sst.t.ppf(0.95, d.size - 1) * se) if se > 0 else float(d.mean())


def _not_significant_margin(fwd, rev, a, b, alpha: float = 0.05) -> tuple[float | None, str | None]:
    """Margin (in SEs) of a control that rejects when the reverse one-sided test ``rev`` = ``paired_less(a, b)`` is
    not significant (p >= ``alpha``): z(alpha) - z(p), z the upper normal quantile (minus ``control_margin_p``),
    positive iff it rejected, 0 at p = alpha (where it still rejects). For p > 1/2 it is read from the forward
    test ``fwd`` (same t statistic, other tail: p = 1 - p_fwd, z(p) = -z(p_fwd)), which keeps its precision where
    p rounds to 1. Constant paired differences (the p-values are 0 or 1 by rule): (None, why)."""
    d = np.ravel(np.asarray(a, float) - np.asarray(b, float))
    if np.allclose(d, d[0]):  # paired_less's rule for constant differences
        return None, "constant paired differences: the p-value is 0 or 1 by rule, no spread to measure a margin by"
    if rev.p_value <= 0.5:
        return -control_margin_p(rev.p_value, alpha=alpha), None
    return control_margin_p(fwd.p_value, alpha=1 - alpha), None


def _paired_record(
    claim, label, a, b, name_a, name_b, record, fig=None, extra="", unit="seeds", untuned=(), role="decides", model=None
):
    """H1: error(a) < error(b) over paired ``unit``s. Reproduced if p < 0.05; negative control: the reverse H1
    must not be significant. ``margin_se``: z(0.05) - z(p) of the reverse test (:func:`_not_significant_margin`).
    ``untuned``: names among (name_a, name_b) whose tuned rate is an end of its grid:
    a verdict against such a method is inconclusive (a rate beyond the grid might reverse it)."""
    t = paired_less(a, b)
    rev = paired_less(b, a)
    nc_margin, nc_note = _not_significant_margin(t, rev, b, a)
    verdict = "reproduced" if t.significant() else ("refuted" if rev.significant() else "inconclusive")
    note = None
    loser = name_b if verdict == "reproduced" else name_a if verdict == "refuted" else None
    if loser in untuned:
        note = (
            f"{loser}'s tuned rate is an end of its grid: its error is an upper bound, "
            f"so the test's {verdict} is not decisive"
        )
        verdict = "inconclusive"
    record(
        claim,
        note=note,
        prediction=f"{name_a} has a lower final population error than {name_b}",
        measurement=f"{label}: mean difference {t.mean_diff:+.4f}, one-sided paired t p = {t.p_value:.2g}, "
        f"{t.wins}/{t.n} {unit} better{extra}",
        interval=(float("-inf"), _one_sided_upper(a, b)),
        interval_of=f"mean difference {name_a} - {name_b} (one-sided 95% interval, the test's)",
        estimate=t.mean_diff,
        criterion=f"one-sided paired t-test over {unit}, p < 0.05",
        verdict=verdict,
        role=role,
        model=model,
        negative_control={
            "prediction": f"{name_b} better than {name_a} (reverse)",
            "p_value": rev.p_value,
            "rejected": not rev.significant(),
            "margin_se": nc_margin,
            **({"margin_note": nc_note} if nc_note else {}),
        },
        figure=fig,
        data={"a": a, "b": b, "p": t.p_value, "p_reverse": rev.p_value},
    )
    nc = not rev.significant()
    assert nc_margin is None or (nc_margin > 0) == nc or (nc_margin == 0 and nc)  # rejects at p = 0.05 too
    return t, rev, verdict


def _err(res, j=0):
    return res.checkpoints, res.error[:, j].cpu().numpy()


def test_OD4_larger_rates_better(scale, seeds, device, record, finding):
    """OD4 (001, final slides): large learning rates are better (they saturate memory faster).

    Batch-1 SGD, d = 2 N (enough capacity), T samples, rates 0.1, 1, 10 on the same seeds and samples.
    Criterion: one-sided paired t-tests over seeds, error(10) < error(1) and error(1) < error(0.1), p < 0.05 each.
    Negative control: the reverse orderings, each recorded; a significant reverse makes the comparison refuted
    (a measurement: at the full scale it is reported, not asserted against the fast tier's finding).
    ``margin_se``: z(0.05) - z(p) of the reverse test, p its one-sided p-value.
    """
    g = CMP[scale]
    res = train(N, M, g["d"], g["T"], [0.1, 1.0, 10.0], seeds(g["seeds"]), alpha=ALPHA, checkpoints=12, device=device)
    e = _final(res)
    fig = band_panel(
        [(*_err(res, j), lab) for j, lab in enumerate(["lr 0.1", "lr 1", "lr 10"])], f"OD4: SGD batch 1, d={g['d']}"
    )
    t1, r1, v1 = _paired_record("OD4", "lr 10 vs lr 1", e[:, 2], e[:, 1], "lr 10", "lr 1", record, fig)
    t2, r2, v2 = _paired_record("OD4", "lr 1 vs lr 0.1", e[:, 1], e[:, 0], "lr 1", "lr 0.1", record)
    for rev, v in ((r1, v1), (r2, v2)):  # an invariant: a reproduced ordering's reverse cannot be significant
        if v == "reproduced":
            assert not rev.significant()
    finding(v1 == "reproduced" and v2 == "reproduced", (t1, t2))


def test_OD5_smaller_batches_better(scale, seeds, device, record, finding):
    """OD5 (001, final slides): small batches are better at a fixed number of samples.

    SGD with the batch-mean gradient, rate 10 (large, OD4), d = 2 N, T samples, batches 1, 16 and 128 (so
    T, T/16 and T/128 steps). Criterion: error(1) < error(16) and error(16) < error(128), one-sided paired
    t-tests, p < 0.05. Negative control: the reverse orderings, each recorded; a significant reverse makes the
    comparison refuted. ``margin_se``: z(0.05) - z(p) of the reverse test, p its one-sided p-value.
    """
    g = CMP[scale]
    S = seeds(g["seeds"])
    errs = [
        _final(train(N, M, g["d"], g["T"], [10.0], S, alpha=ALPHA, batch=B, checkpoints=1, device=device))[:, 0]
        for B in (1, 16, 128)
    ]
    fig, axes = figure(1, 1)
    m, lo, hi = mean_ci(np.stack(errs, 1))
    axes[0].errorbar([1, 16, 128], m, yerr=[m - lo, hi - m], fmt="o-")
    axes[0].set_xscale("log")
    axes[0].set_xlabel("batch size (same samples)")
    axes[0].set_ylabel("final population error")
    axes[0].set_title("OD5: SGD lr 10", fontsize=9)
    t1, r1, v1 = _paired_record("OD5", "batch 1 vs 16", errs[0], errs[1], "batch 1", "batch 16", record, fig)
    t2, r2, v2 = _paired_record("OD5", "batch 16 vs 128", errs[1], errs[2], "batch 16", "batch 128", record)
    for rev, v in ((r1, v1), (r2, v2)):  # an invariant: a reproduced ordering's reverse cannot be significant
        if v == "reproduced":
            assert not rev.significant()
    finding(v1 == "reproduced" and v2 == "reproduced", (t1, t2))


MODELS = {
    "authors": "the authors' model (W from N(0,1/d), L2 normalisation, argmax ties to the first index)",
    "suite": "the suite's variant (W from 0, centred LayerNorm, ties count as errors)",
}


def _tuned(opt, lrs, g, S_tune, S_test, runs, batch=16, layer_norm=False, d=None, model="suite"):
    """Tune the rate on separate seeds (lowest mean final error), then run the test seeds at that rate.

    ``model='authors'``: W from N(0, 1/d) (``init='gaussian'``), the L2 normalisation for ``layer_norm``, argmax
    ties to the first index; ``'suite'``: W from 0, the centred LayerNorm, ties count as errors. Both trainings go
    through ``runs`` (the ``stored_runs`` fixture, ``tasks.dynamics_train_task``): inline with all seeds at the
    fast scale (the same two ``train`` calls as before the store), at the full scale one store row per
    (configuration, seed), the tuning row of a seed holding every rate of the grid, so the full tier (about 44
    hours of one core for the two models, ``reports/performance.md`` section 6) resumes after a stop."""
    from tasks import dynamics_train_task

    cfg = dict(N=N, M=M, d=d or g["d"], T=g["T"], alpha=ALPHA, batch=batch, optimizer=opt, betas=[0.9, 0.999])
    cfg.update(layer_norm=layer_norm, norm=None, init="zero", ties="error", checkpoints=1)
    if model == "authors":
        cfg.update(layer_norm=False, norm="l2" if layer_norm else None, init="gaussian", ties="first")
    if opt == "adam0":
        cfg.update(optimizer="adam", betas=[0.0, 0.0])
    lrs = [float(x) for x in lrs]
    name = f"OD6/OD7 {model} {opt}{' + norm' if layer_norm else ''}"

    def result(config, seeds, desc):
        rows = runs(dynamics_train_task, [config], seeds, task="dynamics_train", version="1", desc=desc)[0]
        error = torch.tensor([r["error"] for r in rows], dtype=torch.float32)  # (S, L, R), train's values
        return SimpleNamespace(checkpoints=np.array(rows[0]["checkpoints"]), error=error)

    tune = _final(result({**cfg, "lrs": lrs}, S_tune, f"{name} tuning")).mean(0)
    k = int(np.argmin(tune))
    res = result({**cfg, "lrs": [lrs[k]], "checkpoints": 10}, S_test, f"{name} at lr {lrs[k]:.3g}")
    return lrs[k], res, k in (0, len(lrs) - 1)


@pytest.mark.parametrize("model", ["authors", "suite"])
def test_OD6_OD7_adaptive_methods(model, scale, seeds, record, stored_runs):
    """OD6 (001, final slides): Adam works best; sign and normalised GD also beat SGD.
    OD7: layer norm helps (Adam with layer norm beats Adam).

    Decided on the authors' model (``model='authors'``: W from N(0, 1/d), their L2 normalisation as the "layer
    norm", ties to the first index); the suite's variant (W from 0, centred LayerNorm) is a sensitivity row with the
    same seeds, rates and criterion. The authors' grid (``test_OD6_OD7_authors_grid``) decides Adam vs SGD and
    Adam + norm vs Adam on their grid; this check adds sign GD, normalised GD and Adam with default betas, which
    their grid lacks.

    Setting of the talk's practical regime: batch 16, d = 2 N, T samples. Each method's rate is tuned on 3
    separate seeds over an 11-point log grid (SGD and normalised GD 0.1..1e4, Adam, Adam (0, 0) and sign GD
    1e-5..1), then the test seeds are compared at the tuned rates. A comparison lost by a method whose tuned
    rate is an end of its grid is inconclusive (its error is only an upper bound).
    History: the first run used 7-point grids (0.1..100 and 1e-3..1); SGD (lr 100) and Adam + layer norm
    (lr 1e-3) were tuned at an end of their grids, so the grids were widened and the end-of-grid rule added.
    Criterion: one-sided paired t-tests, p < 0.05, for
    Adam < SGD, sign < SGD, normalised < SGD, Adam+LN < Adam. Negative control: the reverse orderings are not
    significant. ``margin_se``: z(0.05) - z(p) of the reverse test, p its one-sided p-value. A comparison that is
    not significant is recorded as inconclusive.
    """
    g = CMP[scale]
    S_tune, S_test = seeds(3, offset=100), seeds(g["seeds"])
    m = dict(model=model)
    runs = {}
    runs["SGD"] = _tuned("sgd", np.geomspace(0.1, 1e4, 11), g, S_tune, S_test, stored_runs, **m)
    runs["Adam"] = _tuned("adam", np.geomspace(1e-5, 1, 11), g, S_tune, S_test, stored_runs, **m)
    runs["Adam betas (0,0)"] = _tuned("adam0", np.geomspace(1e-5, 1, 11), g, S_tune, S_test, stored_runs, **m)
    runs["sign GD"] = _tuned("sign", np.geomspace(1e-5, 1, 11), g, S_tune, S_test, stored_runs, **m)
    runs["normalised GD"] = _tuned("normalized", np.geomspace(0.1, 1e4, 11), g, S_tune, S_test, stored_runs, **m)
    runs["Adam + layer norm"] = _tuned(
        "adam", np.geomspace(1e-5, 1, 11), g, S_tune, S_test, stored_runs, layer_norm=True, **m
    )
    untuned = tuple(k for k, v in runs.items() if v[2])
    fig = band_panel(
        [(*_err(res), f"{name} (lr {lr:.3g})") for name, (lr, res, _) in runs.items()],
        f"OD6/OD7 ({model}'s model): batch 16, d={g['d']}, tuned rates",
        w=5.5,
    )
    role = dict(role="decides" if model == "authors" else "sensitivity", model=MODELS[model])
    fin = {k: _final(v[1])[:, 0] for k, v in runs.items()}
    out = []
    out.append(
        _paired_record(
            "OD6", "Adam vs SGD", fin["Adam"], fin["SGD"], "Adam", "SGD", record, fig, untuned=untuned, **role
        )
    )
    out.append(
        _paired_record(
            "OD6", "sign GD vs SGD", fin["sign GD"], fin["SGD"], "sign GD", "SGD", record, untuned=untuned, **role
        )
    )
    out.append(
        _paired_record(
            "OD6",
            "normalised GD vs SGD",
            fin["normalised GD"],
            fin["SGD"],
            "normalised GD",
            "SGD",
            record,
            untuned=untuned,
            **role,
        )
    )
    out.append(
        _paired_record(
            "OD6",
            "Adam betas (0,0) vs SGD",
            fin["Adam betas (0,0)"],
            fin["SGD"],
            "Adam betas (0,0)",
            "SGD",
            record,
            untuned=untuned,
            **role,
        )
    )
    fig7 = band_panel(
        [(*_err(runs[k][1]), f"{k} (lr {runs[k][0]:.3g})") for k in ("Adam", "Adam + layer norm")],
        f"OD7 ({model}'s model): batch 16, d={g['d']}, tuned rates",
    )
    out.append(
        _paired_record(
            "OD7",
            "Adam + layer norm vs Adam",
            fin["Adam + layer norm"],
            fin["Adam"],
            "Adam + layer norm",
            "Adam",
            record,
            fig7,
            untuned=untuned,
            **role,
        )
    )
    for _t, rev, v in out:
        assert v in ("reproduced", "inconclusive", "refuted")
        if v == "reproduced":
            assert not rev.significant()


def test_OD9_OD10_decay_at_small_capacity(scale, seeds, device, record):
    """OD9 (000): for d <= N, smaller step sizes can help later in training.
    OD10 (001): large rates risk erasing past memories; small ones are too conservative.

    d = N/5 (capacity-limited), batch-1 SGD, T samples, 12 log-spaced evaluations plus 41 evenly spaced over
    the second half of training; rates: large constant (10), the same with cosine decay, small constant (0.1).
    Criteria: OD9: decay < constant large at the end (one-sided paired t, p < 0.05) and the late oscillation
    (the total upward movement of the error, sum of its increases between consecutive evaluations over the
    second half) smaller with decay (paired, p < 0.05).
    History: the first version measured the oscillation as the sd of the error over the last 4 log-spaced
    evaluations (T/8 .. T); with decay the error still falls there, so that sd measured the downward trend
    (mean difference +0.0020, p = 1 against decay) rather than oscillation; replaced by the upward movement,
    which a monotone trend does not inflate. OD10: erasing: the
    fraction of tokens recalled at some evaluation but not at the end is larger for the large constant rate
    than for the small one (paired, p < 0.05); conservative: the small rate ends worse than the decayed large
    one (paired, p < 0.05). Negative controls: the reverse orderings are not significant. ``margin_se``:
    z(0.05) - z(p) of the reverse test, p its one-sided p-value.
    """
    g = CMP[scale]
    S = seeds(g["seeds_small"])
    d = g["d_small"]
    T = g["T"]
    ck = np.unique(np.concatenate([np.round(np.geomspace(1, T, 12)), np.round(np.linspace(T // 2, T, 41))]).astype(int))
    const = train(N, M, d, T, [10.0, 0.1], S, alpha=ALPHA, checkpoints=ck, device=device)
    decay = train(N, M, d, T, [10.0], S, alpha=ALPHA, checkpoints=ck, schedule="cosine", device=device)
    e_big, e_small, e_dec = _final(const)[:, 0], _final(const)[:, 1], _final(decay)[:, 0]
    late = ck >= T // 2

    def upward(e):  # (S, R) -> total increase of the error over the second half
        return np.clip(np.diff(e[:, late], axis=-1), 0, None).sum(-1)

    osc_big = upward(const.error[:, 0].cpu().numpy())
    osc_dec = upward(decay.error[:, 0].cpu().numpy())
    fig = band_panel(
        [
            (*_err(res, j), lab)
            for res, j, lab in (
                (const, 0, "lr 10 constant"),
                (const, 1, "lr 0.1 constant"),
                (decay, 0, "lr 10 cosine decay"),
            )
        ],
        f"OD9/OD10: d={d} < N={N}, batch 1",
    )
    _paired_record(
        "OD9", "cosine decay vs constant lr 10 (final error)", e_dec, e_big, "decay", "constant lr 10", record, fig
    )
    _paired_record(
        "OD9",
        "late oscillation (upward movement of the error over the second half)",
        osc_dec,
        osc_big,
        "decay",
        "constant lr 10",
        record,
    )
    # erasing: fraction of probability mass recalled at some checkpoint but lost at the end needs per-token
    # history; the final-vs-best gap of the error curve measures the mass that was recalled and then erased
    erase_big = (const.error[:, 0, -1] - const.error[:, 0].min(-1).values).cpu().numpy()
    erase_small = (const.error[:, 1, -1] - const.error[:, 1].min(-1).values).cpu().numpy()
    erased = [
        (x, e - np.minimum.accumulate(e, axis=-1), lab)
        for (x, e), lab in ((_err(const, 0), "lr 10"), (_err(const, 1), "lr 0.1"))
    ]
    fig10 = band_panel(
        erased,
        f"OD10: d={d} < N={N}, batch 1, constant rates",
        ylabel="error minus best error so far (erased mass)",
        logy=False,
    )
    _paired_record(
        "OD10",
        "erasing: final minus best error, lr 0.1 vs lr 10",
        erase_small,
        erase_big,
        "lr 0.1 (less erasing)",
        "lr 10",
        record,
        fig10,
    )
    _paired_record(
        "OD10",
        "conservative: decayed lr 10 vs constant lr 0.1 (final error)",
        e_dec,
        e_small,
        "decayed lr 10",
        "lr 0.1",
        record,
    )


def test_OD2_trainer_matches_autograd(record):
    """The trainer that OD2-OD10 rely on, against the practice it stands for (issue requirement, recorded with
    OD2): impl.dynamics.train against the plain per-step autograd loop (torch.optim.SGD), N = 100, M = 5,
    d = 100, T = 10^4, 10 seeds, batch 1, one process.
    Criterion: the memories agree (max |W difference| < 1e-3 in float32, rounding over 10^4 steps). The speed
    ratio is not timed here: it is a performance target (>= 20x), measured on the performance page
    (reports/performance.md, written by benchmarks/perf_report.py).
    Negative control: the same autograd loop at a rate 10% off must disagree by more than 1e-3 (the comparison
    can tell trainers apart). ``margin_se``: None (one deterministic run, no sampling error)."""
    d, T, lr, seeds = 100, 10_000, 1.0, tuple(range(10))
    W = train(N, M, d, T, [lr], seeds, checkpoints=1).W  # (seeds, 1, d, d)
    diff = max(float((W[i, 0] - reference_train_autograd(N, M, d, T, lr, s)).abs().max()) for i, s in enumerate(seeds))
    config = f"N={N}, M={M}, d={d}, T={T}, {len(seeds)} seeds, batch 1, lr {lr}"
    off = reference_train_autograd(N, M, 100, 10_000, 1.1, 0)
    fast = train(N, M, 100, 10_000, [1.0], (0,), checkpoints=1).W[0, 0]
    nc_diff = float((off - fast).abs().max())
    ok = diff < 1e-3
    record(
        "OD2",
        prediction="the batched trainer writes the same memory as per-step autograd SGD",
        measurement=f"max |W difference| {diff:.1e} ({config})",
        interval=None,  # exact agreement: the largest difference decides
        criterion="max |W difference| < 1e-3",
        verdict="reproduced" if ok else "refuted",
        negative_control={
            "prediction": "autograd SGD at lr 1.1 instead of 1.0",
            "max_abs_W_difference": nc_diff,
            "rejected": nc_diff > 1e-3,
            "margin_se": None,
            "margin_note": "deterministic: one fixed run per trainer, no sampling error",
        },
        data={"config": config, "max_abs_W_difference": diff},
    )
    assert ok and nc_diff > 1e-3


# ------------------------------------------------------------------ the optimiser grid (full tier, sweep store)
def test_OD6_OD7_optimizer_grid(scale, device, request, record):
    """OD6 / OD7 on the optimiser grid of 001 (issue: paper-scale sweeps): SGD against Adam with betas (0, 0)
    and rate lr/d, layer norm off/on, d 10..1000, batch 16..1024, T up to 102400, N = 100, M = 5, alpha = 2,
    10 seeds (checks/grids.py OPTIMIZER_GRID), run through the resumable sweep store (checks/sweeps.py): only the
    (configuration, seed) pairs the store lacks are run.

    Measurement: per (d, batch) cell at the largest T, the tuned error (min over the 13 rates of the mean over
    seeds); heat maps of it. Criterion (fixed in advance): a one-sided paired t-test over cells, p < 0.05, for
    Adam (0, 0) < SGD (OD6) and Adam + layer norm < Adam (OD7). Negative control: the reverse orderings are not
    significant. ``margin_se``: z(0.05) - z(p) of the reverse test, p its one-sided p-value. Full tier only (the
    grid is 25,480 runs); ``--sweep-grid fast`` runs its 3-seed sub-grid.
    The suite's variant of the model (W from 0, centred LayerNorm): sensitivity rows beside the authors' grid
    (``test_OD6_OD7_authors_grid``), which decides.
    """
    import sweeps

    if scale != "full":
        pytest.skip("the optimiser grid runs in the full tier (pytest checks/ --scale full)")
    grid = request.config.getoption("--sweep-grid") or scale
    try:
        rows = sweeps.sweep_rows("optimizer_grid", grid, config=request.config, device=device)
    except sweeps.IncompleteRuns as e:
        pytest.skip(str(e))
    T = max(max(r["T"]) for r in rows)
    te = sweeps.tuned_error(rows, keys=("optimizer", "layer_norm", "d", "batch_size"), T=T)
    cells = sorted({k[2:] for k in te})
    tuned = {
        (o, ln): np.array([te[(o, ln, *c)]["error"] for c in cells], float)
        for o in ("sgd", "adam")
        for ln in (False, True)
    }
    figs = sweeps.optimizer_grid_heatmaps(rows)
    n_seeds = len({r["seed"] for r in rows})
    scale_txt = f"grid '{grid}': {len(cells)} (d, batch) cells, {n_seeds} seeds, T={T}"
    out = [
        _paired_record(
            "OD6",
            f"optimiser grid ({scale_txt}), tuned Adam (0,0) vs tuned SGD",
            tuned[("adam", False)],
            tuned[("sgd", False)],
            "Adam (0,0)",
            "SGD",
            record,
            figs["d_batch"],
            unit="cells",
            role="sensitivity",
            model=MODELS["suite"] + ", the suite's finer grid (13 rates, 7 T, 7 batch sizes)",
        ),
        _paired_record(
            "OD7",
            f"optimiser grid ({scale_txt}), tuned Adam + layer norm vs tuned Adam",
            tuned[("adam", True)],
            tuned[("adam", False)],
            "Adam + LN",
            "Adam",
            record,
            figs["d_T"],
            unit="cells",
            role="sensitivity",
            model=MODELS["suite"] + ", the suite's finer grid (13 rates, 7 T, 7 batch sizes)",
        ),
    ]
    for _t, rev, v in out:
        if v == "reproduced":
            assert not rev.significant()


# ------------------------------------------------------------------ the authors' grid (both tiers, sweep store)
AUTHORS_MODEL = "the authors' model 'matrix' (W from N(0,1/d), E and U fixed N(0,1/d), their L2 normalisation)"
MODEL_LABEL = {
    "matrix": AUTHORS_MODEL,
    "exponential": "the authors' model 'exponential' (ReLU memory, E and U learned, no W)",
    "learnable": "the authors' model 'learnable' (W, E and U learned)",
}
VARIANT_LABEL = {
    ("zero", "none"): "variant: W from 0, no normalisation",
    ("zero", "l2"): "variant: W from 0, L2 normalisation",
    ("zero", "layernorm"): "variant: W from 0, centred LayerNorm (the suite's model)",
    ("gaussian", "layernorm"): "variant: W from N(0,1/d), centred LayerNorm",
}


def test_OD6_OD7_authors_grid(scale, device, request, record, report_file):
    """OD6 (Adam beats SGD) and OD7 (the layer norm helps Adam) on the authors' grid, as they ran it.

    Grid (checks/grids.py ``authors_grid``; impl/authors_grid.py): their three models, SGD and Adam (betas (0, 0),
    rate lr/d for W, lr/sqrt(d) for E and U), their L2 normalisation off/on, lr in {0.1, 1, 10, 100}, error after
    T = 1024, 10240, 102400 samples, N = 100, M = 5, alpha = 2, their seeds 42...; full tier: d 10..1000, batch
    16..1024, 10 seeds (40,320 runs); fast tier: d 10..100, batch 16 and 256, 3 seeds. Run through the sweep store
    (only what it lacks is run).

    Measurement (fixed before the grid was run): per (d, batch) cell at the largest T, the tuned error with the
    authors' rule (each seed its best rate, then the mean over seeds). Criterion: a one-sided paired t-test over the
    cells, p < 0.05: OD6 tuned Adam < tuned SGD without normalisation; OD7 tuned Adam with L2 normalisation < tuned
    Adam without, both on model 'matrix' (the talk's model); reproduced if significant, refuted if the reverse is
    significant, else inconclusive. Negative control: the reverse ordering, which must not be significant when the
    claim is reproduced. ``margin_se``: z(0.05) - z(p) of the reverse test, p its one-sided p-value. Sensitivity
    rows (shown, not deciding): the same tests with the suite's tuning rule (the best mean over seeds), on the
    models 'exponential' and 'learnable', Adam vs SGD with the normalisation on, and on the suite's variants of
    'matrix' on the same draws (W from 0; the centred LayerNorm), which answer whether a verdict depends on the start
    of W or on the kind of normalisation.
    """
    import sweeps

    grid = request.config.getoption("--sweep-grid") or scale
    try:
        rows = sweeps.sweep_rows("authors_grid", grid, config=request.config, device=device)
    except sweeps.IncompleteRuns as e:
        pytest.skip(str(e))
    # the variants are sensitivity rows: under --sweep-stored-only the cells stored are used (counted in the label)
    vrows = sweeps.sweep_rows("authors_grid_variants", grid, config=request.config, device=device, complete=False)
    T = max(max(r["T"]) for r in rows)
    n_seeds = len({r["seed"] for r in rows})
    keys = ("model", "optimizer", "norm", "d", "batch_size")
    te = {rule: sweeps.tuned_error(rows, keys=keys, T=T, rule=rule) for rule in ("per_seed", "mean")}
    for r in vrows:
        r.setdefault("init", "zero")
    vkeys = ("init", "optimizer", "norm", "d", "batch_size")
    vte = sweeps.tuned_error(vrows, keys=vkeys, T=T, rule="per_seed") if vrows else {}
    # the authors' 'matrix' runs are the (gaussian, none/l2) cells of the variants' table (the same draws)
    for (mod, o, n, d, b), v in te["per_seed"].items():
        if mod == "matrix":
            vte[("gaussian", o, n, d, b)] = v

    # cells (d, batch) complete for every (model, optimizer, norm) (all seeds, all rates), and those also complete for
    # every variant: with --sweep-stored-only a partly run grid is decided on these, and the record says so
    def complete(rs, head_keys):
        n = {}
        for r in rs:
            k = (*(r[h] for h in head_keys), r["d"], r["batch_size"])
            n[k] = n.get(k, 0) + 1
        full = n_seeds * len({r["lr_base"] for r in rows})
        heads = {k[:-2] for k in n}
        return {c for c in {k[-2:] for k in n} if all(n.get((*h, *c), 0) == full for h in heads)}

    cells = sorted(complete(rows, ("model", "optimizer", "norm")))
    vcells = sorted(set(cells) & complete(vrows, ("init", "optimizer", "norm")))
    have, total = sweeps.stored_fraction("authors_grid", grid, request.config)
    vhave, vtotal = sweeps.stored_fraction("authors_grid_variants", grid, request.config)
    if have < total:
        partial = (
            f" PARTIAL: {have} of {total} (configuration, seed) pairs of the grid stored ({have / total:.0%}), "
            f"variants {vhave} of {vtotal}; decided on the {len(cells)} complete (d, batch) cells, d in "
            f"{sorted({c[0] for c in cells})}"
        )
    elif vhave < vtotal:  # the whole grid decides; only the variants' sensitivity rows are partial
        partial = (
            f" (whole grid: {have} of {total} pairs; the variants' sensitivity rows: {vhave} of {vtotal} pairs "
            f"stored, {len(vcells)} complete cells)"
        )
    else:
        partial = ""

    def vec(table, *head, on=None):
        on = cells if on is None else on
        out = np.array([np.nan if table[(*head, *c)]["error"] is None else table[(*head, *c)]["error"] for c in on])
        if np.isnan(out).any():  # a cell where every rate diverged for some seed: counts as error 1 (worst)
            out = np.nan_to_num(out, nan=1.0)
        return out

    figs, tables = sweeps.authors_grid_figures(rows, "matrix")
    extra_figs = {m: sweeps.authors_grid_figures(rows, m)[0]["tuned_vs_batch"] for m in ("exponential", "learnable")}
    txt = [f"# The authors' grid ({grid} grid, {len(cells)} (d, batch) cells, {n_seeds} seeds, T up to {T})", ""]
    for m in ("matrix", "exponential", "learnable"):
        _, tab = sweeps.authors_grid_figures(rows, m) if m != "matrix" else (None, tables)
        for name, t in tab.items():
            txt += [f"## {m}: {name}", "", t, ""]
    tab_file = report_file(f"authors_grid_{grid}.md", "\n".join(txt))
    scale_txt = (
        f"authors' grid '{grid}': {len(cells)} (d, batch) cells, {n_seeds} seeds, T={T}; tables: {tab_file}{partial}"
    )
    ps, mn = te["per_seed"], te["mean"]
    out = [
        _paired_record(
            "OD6",
            f"{scale_txt}; tuned Adam (0,0) vs tuned SGD, no normalisation (each seed its best rate)",
            vec(ps, "matrix", "adam", "none"),
            vec(ps, "matrix", "sgd", "none"),
            "Adam (0,0)",
            "SGD",
            record,
            figs["tuned_vs_batch"],
            unit="cells",
            model=AUTHORS_MODEL,
        ),
        _paired_record(
            "OD7",
            f"{scale_txt}; tuned Adam + L2 norm vs tuned Adam (each seed its best rate)",
            vec(ps, "matrix", "adam", "l2"),
            vec(ps, "matrix", "adam", "none"),
            "Adam + L2 norm",
            "Adam",
            record,
            figs["error_vs_d"],
            unit="cells",
            model=AUTHORS_MODEL,
        ),
    ]
    # sensitivity rows: (claim, label, a, b, name a, name b, figure, model)
    rows_s = [
        (
            "OD6",
            "tuned Adam vs SGD, no norm, the suite's tuning rule (best mean over seeds)",
            vec(mn, "matrix", "adam", "none"),
            vec(mn, "matrix", "sgd", "none"),
            "Adam (0,0)",
            "SGD",
            figs["tuned_vs_T"],
            AUTHORS_MODEL,
        ),
        (
            "OD7",
            "tuned Adam + L2 norm vs Adam, the suite's tuning rule (best mean over seeds)",
            vec(mn, "matrix", "adam", "l2"),
            vec(mn, "matrix", "adam", "none"),
            "Adam + L2 norm",
            "Adam",
            None,
            AUTHORS_MODEL,
        ),
        (
            "OD6",
            "tuned Adam vs SGD, both with the L2 normalisation",
            vec(ps, "matrix", "adam", "l2"),
            vec(ps, "matrix", "sgd", "l2"),
            "Adam (0,0) + L2",
            "SGD + L2",
            None,
            AUTHORS_MODEL,
        ),
    ]
    for m in ("exponential", "learnable"):
        rows_s += [
            (
                "OD6",
                f"model '{m}': tuned Adam vs SGD, no norm",
                vec(ps, m, "adam", "none"),
                vec(ps, m, "sgd", "none"),
                "Adam (0,0)",
                "SGD",
                extra_figs[m],
                MODEL_LABEL[m],
            ),
            (
                "OD7",
                f"model '{m}': tuned Adam + L2 norm vs Adam",
                vec(ps, m, "adam", "l2"),
                vec(ps, m, "adam", "none"),
                "Adam + L2 norm",
                "Adam",
                None,
                MODEL_LABEL[m],
            ),
        ]
    variant_rows = []
    variant_rows.append(
        (
            "OD6",
            "W from 0, no norm: tuned Adam vs SGD",
            vec(vte, "zero", "adam", "none", on=vcells),
            vec(vte, "zero", "sgd", "none", on=vcells),
            "Adam (0,0)",
            "SGD",
            None,
            VARIANT_LABEL[("zero", "none")],
        )
    )
    for init, norm in (("zero", "l2"), ("zero", "layernorm"), ("gaussian", "layernorm")):
        variant_rows.append(
            (
                "OD7",
                f"{VARIANT_LABEL[(init, norm)]}: tuned Adam + norm vs Adam",
                vec(vte, init, "adam", norm, on=vcells),
                vec(vte, init, "adam", "none", on=vcells),
                "Adam + norm",
                "Adam",
                None,
                VARIANT_LABEL[(init, norm)],
            )
        )
    if len(vcells) >= 2:  # the variants' grid may be stored only in part (--sweep-stored-only)
        rows_s += [(c, f"{lab} ({len(vcells)} cells)", *rest) for c, lab, *rest in variant_rows]
    for claim, label, a, b, na, nb, fig, model in rows_s:
        _paired_record(claim, label, a, b, na, nb, record, fig, unit="cells", role="sensitivity", model=model)
    for _t, rev, v in out:
        if v == "reproduced":
            assert not rev.significant()
        if v == "refuted":
            assert rev.significant()
