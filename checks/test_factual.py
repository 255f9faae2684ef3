"""FR1-FR4: factual recall in one-layer transformers (000, 'Toy model of factual recall',
'How many parameters do we need?', 'Training dynamics').

FR1-FR3 train one-layer transformers (impl.factual.train_transformers: random N(0, 1/d) embeddings,
softmax heads from the last position, optional ReLU MLP, full-batch Adam, 400 cosine-decayed steps)
on every fact (s, r) of a random fact table with noise tokens, and measure the accuracy over all S R
facts (argmax over all R D attributes, fresh noise) along a size grid. The sizes of one (S, R) are one call:
each distinct size trains unpadded as its own batch over the seeds (``pad='size'``, since 2026-12-05; before, all
sizes were one batch padded to the grid's maxima, about 4 times the work on the full tier's grids, the same
models up to float round-off); its models train in groups whose memory fits the check's ``memory_budget``
(``--memory-budget``; the grouping does not change any value). At ``--scale full`` each (config, seed) of FR1-FR3
is a row of the sweep store (``tasks.factual_train_task``, version 2: the unpadded training; version 1 rows, the
padded one, stay in the store and its dump), so the full tier resumes.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from plotting import figure, loglog_panel
from scipy import stats as st
from stats import bootstrap_interval, control_margin, crossing, linear_fit, loglog_fit, paired_less

from impl.factual import FactTask, Sizes, gradient_flow_linear
from theory.factual import (
    attention_mlp_sizes,
    attention_only_sizes,
    conditional_entropy,
    fact_count,
    initial_loss,
    relation_predictor,
)


@pytest.fixture(autouse=True)
def _one_thread():
    """The kernels here are small batched products: one intra-op thread is faster than two contending ones
    (measured: FR4 15 s with 1 thread vs 113 s with 2 on the loaded 2-core machine). Restored afterwards."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


LEVEL = 0.9  # accuracy that defines the boundary
C_SUFF = 2.0  # constant of the '>~': sizes c times the bare bounds must succeed
SUCCESS, MARGIN, NC_SLOPE = 0.95, 0.25, 0.5
# sqrt(2) steps around the boundary (a factor-2 grid put k* on one of two interpolation values)
KS_FAST = [1 / 8, 1 / 4, 2**-1.5, 1 / 2, 2**-0.5, 1, 2**0.5, 2]
T_PROMPT = (
    3  # subject, one noise token, relation (noise is 'negligible (log factors)'; T = 3 keeps the fast tier cheap)
)
TRAIN = {"fast": dict(steps=400, lr=0.02, seeds=3, d_head=4), "full": dict(steps=1500, lr=0.01, seeds=8, d_head=4)}


def _threshold(ks, acc):
    """k at which the accuracy curve (mean over seeds) first reaches LEVEL (log-interpolated)."""
    return crossing(ks, 1.0 - acc, 1.0 - LEVEL)


def _boot(ks, acc, rng, n=200):
    """Bootstrap (seeds resampled) 95% interval of the threshold; acc has shape (seeds, K)."""
    return bootstrap_interval(lambda m: _threshold(ks, m), acc, axis=0, n_boot=n, rng=rng)


def _sweep(configs, make_sizes, ks, tr, seeds, memory_budget, stored_runs, desc, device="cpu"):
    """Train every config over the grid ``ks``: per config the (seeds, K) accuracy and its threshold k*, with a
    bootstrap interval over seeds.

    Each config is one task of ``stored_runs`` (``tasks.factual_train_task``: one call for all its sizes, each
    distinct size an unpadded batch over the call's seeds, models in groups that fit in ``memory_budget`` bytes):
    inline at the fast scale, at the full scale one row of the sweep store per (config, seed), so a stopped full
    tier resumes. The task's version is 2 since the unpadded training (``train_transformers(pad='size')``,
    2026-12-05; version 1, padded to the grid's maxima, gave the same models up to float round-off at about 4
    times the work: measured on one thread, 6 steps of one seed, 4.9 against 20.8 s at (S, R, D, d) =
    (64, 64, 4, 64) and 1.3 against 7.1 s at (64, 32, 4, 32)). The prompts' noise is drawn from the
    config's first seed whichever seeds a call holds (``noise_seed``), so the rows do not depend on how the seeds
    are split into calls and the fast tier gives the values it gave before the store.

    On the store, a call trains one seed on the CPU and all the config's seeds on CUDA. Measured on this 2-core
    machine (one thread, 2026-12-05): one seed alone takes 0.12 s per seed-step at (S, R, D, d) = (32, 32, 4, 16)
    against 0.27 s for 8 seeds batched, and 0.59 against 1.12 s at (64, 32, 4, 32); so on the CPU a row per call
    is twice as fast, and a stop loses at most one seed's training (about 15 min at (64, 32, 4, 32)) instead of a
    whole configuration's (over 3 hours there, more than a session). On a GPU the batch fills the device."""
    import functools

    from tasks import factual_train_task

    kx = np.asarray(ks, float)
    plan, cfgs = [], []
    for i, cfg in enumerate(configs):
        task, sizes = make_sizes(cfg, ks, tr["d_head"])
        sd = seeds(tr["seeds"], offset=100 * i)
        plan.append((cfg, sizes, sd))
        cfgs.append(
            dict(
                S=task.S,
                R=task.R,
                D=task.D,
                n_noise=task.n_noise,
                T=task.T,
                dims=list(sizes.dims),
                heads=list(sizes.heads),
                widths=list(sizes.widths),
                d_head=sizes.d_head,
                steps=tr["steps"],
                lr=tr["lr"],
                noise_seed=int(sd[0]),
            )
        )
    res = stored_runs(
        functools.partial(factual_train_task, max_bytes=memory_budget),
        cfgs,
        [sd for *_, sd in plan],
        task="factual_train",
        version="2",  # 2: each size unpadded (pad='size'); 1: all sizes padded to the grid's maxima
        desc=desc,
        seeds_per_task=tr["seeds"] if device == "cuda" else 1,  # a seed's values do not depend on it
    )
    out = []
    for i, ((cfg, sizes, _), r) in enumerate(zip(plan, res)):
        acc = np.array(r, dtype=float)  # (seeds, K)
        out.append(
            dict(
                cfg=cfg,
                acc=acc,
                k_star=_threshold(kx, acc.mean(0)),
                k_ci=_boot(kx, acc, np.random.default_rng(i)),
                sizes=sizes,
                params=sizes.params,
            )
        )
    return out


def _slope_margin(fit):
    """The negative control's margin: NC_SLOPE outside the slope's 95% OLS t-interval (n - 2 df), in SEs of the
    slope (``control_margin`` with crit t_{n-2})."""
    return control_margin(fit.slope, *fit.slope_ci, NC_SLOPE, crit=float(st.t.ppf(0.975, fit.n - 2)))


def _verdict(suff_ok, fail_ok, fit, target=1.0):
    """The one rule of FR1-FR3. refuted: (i) fails or the slope interval excludes the target (the suite's rule for
    a law, as ``stats.slope_verdict``); reproduced: (i), (ii), and the interval contains the target and lies inside
    target +- MARGIN (precise enough to tell the law from one bent by a log factor, about 0.2 on these grids);
    inconclusive otherwise (an interval that holds the target but is too wide, or (ii) fails).
    History (issue #19, item 3): before, 'reproduced' needed only the interval inside the band and was tested
    first, so an interval inside the band that excludes the target (e.g. [0.76, 0.99]) was reproduced while a
    wider one that also excludes it ([0.70, 0.98]) was refuted: more precise evidence against the law read as
    support. No verdict at seed base 0 or in the stability reruns (FR1-FR3, bases 1-3) changes with the fix."""
    if not suff_ok or not fit.contains(target):
        return "refuted"
    if fail_ok and fit.within(target, MARGIN):
        return "reproduced"
    return "inconclusive"


def _success_panel(ax, ks, rows, labels, title, xlabel):
    for r, lab in zip(rows, labels):
        m, s = r["acc"].mean(0), r["acc"].std(0)
        ax.errorbar(ks, m, yerr=s, fmt="o-", ms=3, capsize=2, label=lab)
    ax.axvline(C_SUFF, color="k", ls="--", lw=0.8, label=f"predicted sufficient (c = {C_SUFF:g})")
    ax.axvline(1.0, color="gray", ls=":", lw=0.8, label="bare bound (c = 1)")
    ax.axhline(LEVEL, color="gray", lw=0.5)
    ax.set_xscale("log", base=2)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("accuracy over all facts (mean +- sd over seeds)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=6)


# ------------------------------------------------------------------------------------------ FR1
FR1_GRID = {
    "fast": dict(
        # the first six are the grid before the control's margin was measured (a config's seeds follow its
        # position); six more split S R differently (S < R and S > R) and vary d, at the same sizes (S R <= 512)
        configs=[(8, 8, 4, 16), (16, 8, 4, 16), (16, 16, 4, 16), (32, 16, 4, 16), (16, 8, 4, 32), (32, 16, 4, 32)]
        + [(8, 16, 4, 16), (32, 8, 4, 16), (8, 32, 4, 16), (64, 8, 4, 16), (8, 8, 4, 32), (16, 16, 4, 32)],
        ks=KS_FAST,
    ),
    "full": dict(
        configs=[
            (8, 8, 4, 16),
            (16, 8, 4, 16),
            (16, 16, 4, 16),
            (32, 16, 4, 16),
            (64, 16, 4, 16),
            (32, 32, 4, 16),
            (16, 8, 4, 32),
            (32, 16, 4, 32),
            (64, 32, 4, 32),
            (64, 64, 4, 64),
        ],
        ks=[1 / 16, 1 / 8, 1 / 4, 2**-1.5, 1 / 2, 2**-0.5, 1, 2**0.5, 2, 4],
    ),
}


def _fr1_sizes(cfg, ks, d_head):
    S, R, D, d = cfg
    hd, m = zip(*(attention_mlp_sizes(S, R, d, k) for k in ks))
    heads = [max(1, round(h / d_head)) for h in hd]
    widths = [max(1, round(w)) for w in m]
    return FactTask(S, R, D, T=T_PROMPT), Sizes(dims=[d] * len(ks), heads=heads, widths=widths, d_head=d_head)


def test_FR1_attention_mlp_sizes(scale, seeds, record, finding, memory_budget, stored_runs, device):
    """FR1 (000, 'How many parameters do we need?'): a one-layer transformer with attention and MLP and
    random embeddings succeeds with H d_h >~ S + R and m d >~ S R.

    Measurement: for each (S, R, A_max = D, d) of the grid, models on the ray
    (H d_h, m) = k (S + R, S R / d), k in {1/8, ..., 2} (fast), trained with Adam; k* = where the mean accuracy over
    seeds crosses 90% (log-interpolated), i.e. the measured boundary m* = k* S R / d, (H d_h)* = k* (S + R).
    Criterion (fixed in advance): '>~' hides a constant, fixed once for all configs at c = 2:
    (i) sufficiency: mean accuracy >= 0.95 at every k >= 2 of the grid, for every config;
    (ii) failure well below: mean accuracy < 0.9 at k = 1/8 (16 times below) for every config;
    (iii) the boundary follows the predicted one: the OLS slope of log m* on log(S R / d) over the configs
    has a 95% interval inside [0.75, 1.25] (margin 0.25: a log(S R) factor changes the local slope by about
    1/log(S R) ~ 0.2 on this grid). The configs vary S, R and d, so m* ~ S R (d-independent) or
    m* ~ S + R would bend the fit.
    Negative control: the same fit must exclude slope 0.5 (a boundary growing like sqrt(S R / d)).
    ``margin_se``: distance of 0.5 below the slope interval, in SEs of the slope (t_{n-2}, n configs).
    Verdict: refuted if (i) fails or the interval excludes 1; inconclusive if only (ii) or the margin fails.
    History: the constant c = 2 was fixed after one pilot (S, R, A_max) = (16, 8, 4) with other seeds, where
    attention-only models at k = 1 reached 0.84 and at k = 2 1.00 (attention + MLP: 1.00 at k = 1); the
    claim's '>~' leaves the constant open, and it is the same for FR1 and FR2 and every config.
    A first run with a factor-2 grid k in {1/8, ..., 2} gave (i) and (ii) but too coarse a boundary (FR2's
    negative control was not rejected), so both grids now have sqrt(2) steps around the boundary; criteria
    unchanged. The test asserts the measured facts: (i), (ii), slope 1 inside the interval and the control.
    History (issue #19, item 7): the control's margin was 1.37 SE at seed base 0 (6 configs, t_4), a power of
    about Phi(1.37) = 0.91, so about 9% of fresh draws would fail its assertion; the fast grid went from 6 to 12
    configs (FR2 likewise, margin 2.23), which should shrink the slope's SE by about sqrt(4/10) and its t from
    t_4 to t_10 (expected margin about (1.37 + 2.78) / 0.63 - 2.23 = 4.4). Base 0 before: inconclusive, slope
    1.267 [0.754, 1.780] (2 threads).
    """
    g, tr = FR1_GRID[scale], TRAIN[scale]
    ks = np.array(g["ks"])
    rows = _sweep(g["configs"], _fr1_sizes, ks, tr, seeds, memory_budget, stored_runs, "FR1 sizes", device)
    x = np.array([S * R / d for S, R, D, d in g["configs"]], float)
    xh = np.array([S + R for S, R, D, d in g["configs"]], float)
    kst = np.array([r["k_star"] for r in rows])
    kci = np.array([r["k_ci"] for r in rows])
    mean_acc = np.array([r["acc"].mean(0) for r in rows])
    suff_ok = bool(np.all(mean_acc[:, ks >= C_SUFF] >= SUCCESS))
    fail_ok = bool(np.all(mean_acc[:, ks == ks.min()] < LEVEL))
    assert np.all(np.isfinite(kst)), f"a success curve never crossed {LEVEL}: {mean_acc}"
    fit = loglog_fit(x, kst * x)
    fit_h = loglog_fit(xh, kst * xh)
    verdict = _verdict(suff_ok, fail_ok, fit)
    nc_rejected = not fit.contains(NC_SLOPE)
    nc_margin = _slope_margin(fit)
    fig, axes = figure(2, 1, w=5.0)
    labels = [f"S={S} R={R} d={d}" for S, R, D, d in g["configs"]]
    _success_panel(axes[0], ks, rows, labels, "FR1: attention + MLP on the ray k (S+R, SR/d)", "k (sizes / bare bound)")
    xx = np.geomspace(x.min(), x.max(), 20)
    loglog_panel(
        axes[1],
        x,
        kst * x,
        kci[:, 0] * x,
        kci[:, 1] * x,
        label=f"measured m* at {LEVEL:.0%}: slope {fit}",
        pred_x=xx,
        pred_y=np.median(kst) * xx,
        pred_label="m* = c S R / d (slope 1)",
        xlabel="S R / d",
        ylabel="MLP width at the boundary m*",
        title="FR1: measured boundary vs predicted",
    )
    record(
        "FR1",
        prediction=f"success for H d_h >= {C_SUFF:g}(S+R), m d >= {C_SUFF:g} S R; boundary m* proportional to S R / d",
        measurement=f"min mean acc at k>={C_SUFF:g}: {mean_acc[:, ks >= C_SUFF].min():.3f}; "
        f"max mean acc at k={ks.min():g}: "
        f"{mean_acc[:, ks == ks.min()].max():.3f}; k* in [{kst.min():.3f}, {kst.max():.3f}]; "
        f"slope of log m* vs log(SR/d) {fit}; of log (H d_h)* vs log(S+R) {fit_h}",
        interval=fit.slope_ci,
        interval_of="slope of log m* on log(SR/d)",
        estimate=fit.slope,
        criterion=f"mean acc >= {SUCCESS} at k >= {C_SUFF:g}, < {LEVEL} at k = {ks.min():g}, slope CI inside "
        f"[{1 - MARGIN}, {1 + MARGIN}]",
        verdict=verdict,
        negative_control={"prediction": f"boundary slope {NC_SLOPE}", "rejected": nc_rejected, "margin_se": nc_margin},
        figure=fig,
        data={
            "configs": g["configs"],
            "k": ks,
            "acc_mean": mean_acc,
            "k_star": kst,
            "k_star_ci": kci,
            "fit_m": fit.as_dict(),
            "fit_hd": fit_h.as_dict(),
            "train": tr,
        },
    )
    assert nc_rejected, f"negative control: slope {NC_SLOPE} not rejected by {fit}"
    assert nc_margin is None or (nc_margin > 0) == nc_rejected
    finding(suff_ok and fail_ok and fit.contains(1.0), (verdict, mean_acc, kst, fit))


# ------------------------------------------------------------------------------------------ FR2
FR2_GRID = {
    # the first six as before the control's margin was measured; six more vary S and R + A_max (S (R + A_max) <= 768)
    "fast": dict(
        configs=[(8, 4, 4), (16, 4, 4), (16, 8, 4), (32, 8, 4), (16, 16, 8), (32, 16, 8)]
        + [(8, 8, 4), (32, 4, 4), (64, 4, 4), (8, 16, 8), (32, 12, 4), (64, 8, 4)],
        ks=KS_FAST,
    ),
    "full": dict(
        configs=[(8, 4, 4), (16, 4, 4), (16, 8, 4), (32, 8, 4), (16, 16, 8), (32, 16, 8), (64, 16, 8), (64, 32, 16)],
        ks=[1 / 16, 1 / 8, 1 / 4, 2**-1.5, 1 / 2, 2**-0.5, 1, 2**0.5, 2, 4],
    ),
}


def _fr2_sizes(cfg, ks, d_head):
    S, R, D = cfg
    dd, hd = zip(*(attention_only_sizes(S, R, D, k) for k in ks))
    return FactTask(S, R, D, T=T_PROMPT), Sizes(
        dims=[max(2, round(v)) for v in dd],
        heads=[max(1, round(h / d_head)) for h in hd],
        widths=[0] * len(ks),
        d_head=d_head,
    )


def test_FR2_attention_only_sizes(scale, seeds, record, finding, memory_budget, stored_runs, device):
    """FR2 (000, 'How many parameters do we need?'): attention only (no MLP) succeeds with
    d >~ R + A_max and H d_h >~ S.

    Measurement: per (S, R, A_max = D), models on the ray (d, H d_h) = k (R + A_max, S), k in {1/8, ..., 2} (fast);
    k* where the mean accuracy crosses 90%; the boundary d* (H d_h)* = k*^2 S (R + A_max) (both sizes scale).
    Criterion (fixed in advance, same constants as FR1): (i) mean accuracy >= 0.95 at every k >= 2 for every
    config; (ii) < 0.9 at k = 1/8; (iii) the slope of log(d* (H d_h)*) on log(S (R + A_max)) has its 95%
    interval inside [0.75, 1.25] (k* the same for all configs). The configs vary S at fixed R + A_max and
    R + A_max at fixed S, so a boundary set by only one of the two bounds bends the fit.
    Negative control: slope 0.5 must be excluded. Grid history and assertions: as FR1.
    ``margin_se``: distance of 0.5 below the slope interval, in SEs of the slope (t_{n-2}, n configs).
    History (issue #19, item 7): margin 2.23 SE with 6 configs (power about 0.987); 12 configs since, as FR1.
    Base 0 before: inconclusive, slope 0.904 [0.680, 1.128] (2 threads); after (12 configs, 1 thread): refuted,
    slope 0.839 [0.702, 0.977], margin 3.26: the product of the two bounds over-predicts how the boundary grows
    (k* from 0.99 to 1.32 over the grid, not constant). The interval's upper end is only about 0.4 SE below 1, so
    this verdict may not be stable under fresh seeds; the stability reruns will say.
    Fast tier: the slope test does not decide (issue #19, item 8: a claim whose verdict is not stable under fresh
    seeds gets more seeds or sizes, or becomes inconclusive with the reason). Measured: with 12 configs the slope
    test gave refuted at seed base 0 (0.839 [0.702, 0.977]) and reproduced at bases 1-3 (0.921 [0.773, 1.069],
    0.990 [0.815, 1.165], 0.946 [0.795, 1.098]); with 24 configs (12 more, S (R + A_max) 128 to 768) it gave
    0.841 [0.737, 0.945], 0.877 [0.758, 0.995], 0.940 [0.814, 1.066], 0.920 [0.800, 1.040] at bases 0-3: a slope
    near 0.9 whose distance from 1 is about one interval half-width, so the test's answer is a coin toss at any
    grid this tier can afford (about 6 times the configs would be needed to keep 1 outside the interval in 95% of
    draws). So at the fast tier the verdict is refuted if (i) fails (that part is stable: min accuracy at k >= 2 is
    0.995-1.000 in every draw) and inconclusive otherwise; the slope test's own verdict is in the record's note.
    The full tier (larger S (R + A_max), 8 seeds) decides by the slope test.
    """
    g, tr = FR2_GRID[scale], TRAIN[scale]
    ks = np.array(g["ks"])
    rows = _sweep(g["configs"], _fr2_sizes, ks, tr, seeds, memory_budget, stored_runs, "FR2 sizes", device)
    x = np.array([S * (R + D) for S, R, D in g["configs"]], float)
    kst = np.array([r["k_star"] for r in rows])
    kci = np.array([r["k_ci"] for r in rows])
    mean_acc = np.array([r["acc"].mean(0) for r in rows])
    suff_ok = bool(np.all(mean_acc[:, ks >= C_SUFF] >= SUCCESS))
    fail_ok = bool(np.all(mean_acc[:, ks == ks.min()] < LEVEL))
    assert np.all(np.isfinite(kst)), f"a success curve never crossed {LEVEL}: {mean_acc}"
    fit = loglog_fit(x, kst**2 * x)
    verdict = test_verdict = _verdict(suff_ok, fail_ok, fit)
    note = None
    if scale == "fast" and suff_ok:  # the slope test flips under fresh seeds here (docstring): it does not decide
        verdict = "inconclusive"
        note = (
            f"The slope test alone gives {test_verdict} (slope {fit}); at the fast tier it flips under fresh seeds "
            "(the slope is about 0.9, one interval half-width from 1: see the check's docstring and "
            "reports/stability.md), so it does not decide here; the full tier decides by it."
        )
    nc_rejected = not fit.contains(NC_SLOPE)
    nc_margin = _slope_margin(fit)
    fig, axes = figure(2, 1, w=5.0)
    labels = [f"S={S} R={R} A_max={D}" for S, R, D in g["configs"]]
    _success_panel(axes[0], ks, rows, labels, "FR2: attention only on the ray k (R+A_max, S)", "k (sizes / bare bound)")
    xx = np.geomspace(x.min(), x.max(), 20)
    loglog_panel(
        axes[1],
        x,
        kst**2 * x,
        kci[:, 0] ** 2 * x,
        kci[:, 1] ** 2 * x,
        label=f"measured d* (H d_h)*: slope {fit}",
        pred_x=xx,
        pred_y=np.median(kst) ** 2 * xx,
        pred_label="c^2 S (R + A_max) (slope 1)",
        xlabel="S (R + A_max)",
        ylabel="d* (H d_h)* at the boundary",
        title="FR2: measured boundary vs predicted",
    )
    record(
        "FR2",
        note=note,
        prediction=f"success for d >= {C_SUFF:g}(R+A_max), H d_h >= {C_SUFF:g} S; boundary proportional to the bounds",
        measurement=f"min mean acc at k>={C_SUFF:g}: {mean_acc[:, ks >= C_SUFF].min():.3f}; "
        f"max mean acc at k={ks.min():g}: "
        f"{mean_acc[:, ks == ks.min()].max():.3f}; k* in [{kst.min():.3f}, {kst.max():.3f}]; "
        f"slope of log d*(H d_h)* vs log S(R+A_max) {fit}",
        interval=fit.slope_ci,
        interval_of="slope of log d*(H d_h)* on log S(R+A_max)",
        estimate=fit.slope,
        criterion=f"mean acc >= {SUCCESS} at k >= {C_SUFF:g}, < {LEVEL} at k = {ks.min():g}, slope CI inside "
        f"[{1 - MARGIN}, {1 + MARGIN}]",
        verdict=verdict,
        negative_control={"prediction": f"boundary slope {NC_SLOPE}", "rejected": nc_rejected, "margin_se": nc_margin},
        figure=fig,
        data={
            "configs": g["configs"],
            "k": ks,
            "acc_mean": mean_acc,
            "k_star": kst,
            "k_star_ci": kci,
            "fit": fit.as_dict(),
            "train": tr,
        },
    )
    assert nc_rejected, f"negative control: slope {NC_SLOPE} not rejected by {fit}"
    assert nc_margin is None or (nc_margin > 0) == nc_rejected
    # the finding of the fixed seeds (12 configs): the boundary grows more slowly than S (R + A_max), slope below 1
    finding(suff_ok and fail_ok and fit.slope_ci[1] < 1.0, (verdict, mean_acc, kst, fit))


# ------------------------------------------------------------------------------------------ FR3
FR3_GRID = {
    "fast": dict(
        # three (S, R) splits of each S R in {64, 128, 256, 512}, S < R and S > R at every level (S/R 1/4 to 8);
        # the first five are the grid before the stability reruns (a config's seeds follow its position)
        configs=[(8, 8), (16, 8), (16, 16), (32, 16), (64, 8)]
        + [(16, 4), (4, 16), (8, 16), (32, 4), (32, 8), (8, 32), (16, 32)],
        D=4,
        d=16,
        rel=[1 / 4, 2**-1.5, 1 / 2, 2**-0.5, 1, 2**0.5, 2],
    ),
    "full": dict(
        configs=[(8, 8), (16, 8), (16, 16), (32, 16), (64, 8), (32, 32), (64, 32), (128, 16)],
        D=4,
        d=16,
        rel=[1 / 8, 1 / 4, 2**-1.5, 1 / 2, 2**-0.5, 1, 2**0.5, 2, 4],
    ),
}


def test_FR3_parameters_scale_with_facts(scale, seeds, record, finding, memory_budget, stored_runs, device):
    """FR3 (000, 'How many parameters do we need?'): the total number of parameters needed scales with the
    number of facts S R (up to A_max, fixed here).

    Measurement: at fixed d = 16 and A_max = 4, one width knob w sets H d_h = w (w heads, d_h = 1) and m = w, so the
    trained parameters are P = 4 H d_h d + 2 m d = 6 w d, whichever of attention or MLP stores the facts;
    w runs over (S R / 16) x {1/4, ..., 4}. P* = the parameter count at which the mean accuracy crosses 90%.
    Criterion (fixed in advance): the OLS slope of log P* on log(S R) has its 95% interval inside
    [0.75, 1.25] (log factors of S R change the local slope by ~0.2). Configs vary S and R separately
    (S R from 64 to 512 with S + R from 16 to 72), so P* ~ S + R would give slope ~0.5.
    Negative control: slope 0.5 (parameters scaling like the number of tokens S + R ~ sqrt(S R)) must be
    excluded by the same interval. ``margin_se``: distance of 0.5 below the slope interval, in SEs of the slope
    (t_{n-2}, n configs).
    Verdict (``_verdict``, the rule of FR1-FR3): refuted if the interval excludes 1; reproduced if it holds 1 and
    lies inside the margin; inconclusive otherwise; the test asserts the measured
    outcome (reproduction or a slope significantly below 1). A first run with a factor-2 width grid gave
    slope 0.752 [0.542, 0.962] (refuted); the grid now has sqrt(2) steps, criterion unchanged.
    Sizing (fast): the interval is the OLS t-interval over configurations (n - 2 df), so its width is set by how
    P* scatters between configurations (the bend of an affine P0 + c S R, and S and R not entering alike), not by
    the seeds: P* of one config moves by ~5% between seed bases. With 5 configs (t_3 = 3.18) the lower bound
    sat 0.02-0.19 above the control's 0.5 and fell below it at seed base 3 ([0.498, 0.892]). With 12 configs
    (t_10 = 2.23; all 12 splits simulated, none dropped) at seed bases 0-5: slope sd 0.013 between bases, OLS SE
    0.067, lower bound 0.106-0.169 above 0.5 (sd 0.022 between bases, so the control is rejected with
    probability ~1); cost about 1.9x.
    History: fast configs 5 -> 12 (stability reruns: NC not rejected at seed base 3); slope at base 0
    0.732 [0.523, 0.942] -> 0.795 [0.654, 0.936].
    """
    g, tr = FR3_GRID[scale], TRAIN[scale]
    d, D = g["d"], g["D"]
    rel = np.array(g["rel"])

    def sizes(cfg, rel_, d_head):  # d_head = 1 here so that H d_h = w takes every integer value
        S, R = cfg
        w = [max(1, int(round(fact_count(S, R) / 16 * r))) for r in rel_]
        return FactTask(S, R, D, T=T_PROMPT), Sizes(dims=[d] * len(w), heads=w, widths=w, d_head=1)

    rows = _sweep(g["configs"], sizes, rel, tr, seeds, memory_budget, stored_runs, "FR3 sizes", device)
    facts = np.array([fact_count(S, R) for S, R in g["configs"]], float)
    pstar, pci = [], []
    for r in rows:
        P = r["params"].astype(float)
        pstar.append(_threshold(P, r["acc"].mean(0)))
        pci.append(_boot(P, r["acc"], np.random.default_rng(7)))
    pstar, pci = np.array(pstar), np.array(pci)
    assert np.all(np.isfinite(pstar)), f"a success curve never crossed {LEVEL}"
    fit = loglog_fit(facts, pstar)
    affine = linear_fit(facts, pstar)  # post-hoc reading: P* = P0 + c S R (a fixed cost plus a cost per fact)
    verdict = _verdict(True, True, fit)
    nc_rejected = not fit.contains(NC_SLOPE)
    nc_margin = _slope_margin(fit)
    fig, axes = figure(2, 1, w=5.0)
    for r in rows:
        S, R = r["cfg"]
        axes[0].errorbar(
            r["params"],
            r["acc"].mean(0),
            yerr=r["acc"].std(0),
            fmt="o-",
            ms=3,
            capsize=2,
            label=f"S={S} R={R} (SR={S * R})",
        )
    axes[0].axhline(LEVEL, color="gray", lw=0.5)
    axes[0].set_xscale("log")
    axes[0].set_xlabel("trained parameters P = 6 w d")
    axes[0].set_ylabel("accuracy over all facts")
    axes[0].legend(fontsize=6)
    axes[0].set_title("FR3: accuracy vs parameters", fontsize=9)
    ff = np.geomspace(facts.min(), facts.max(), 20)
    loglog_panel(
        axes[1],
        facts,
        pstar,
        pci[:, 0],
        pci[:, 1],
        label=f"P* at {LEVEL:.0%}: slope {fit}",
        pred_x=ff,
        pred_y=np.exp(np.mean(np.log(pstar / facts))) * ff,
        pred_label="P* proportional to S R (slope 1)",
        xlabel="facts S R",
        ylabel="parameters P*",
        title="FR3: parameters at the boundary vs facts",
    )
    record(
        "FR3",
        prediction="log-log slope 1 of the parameters needed against S R",
        measurement=f"slope {fit}; P*/SR in [{(pstar / facts).min():.2f}, {(pstar / facts).max():.2f}]; affine fit "
        f"P* = {affine.intercept:.0f} [{affine.intercept_ci[0]:.0f}, {affine.intercept_ci[1]:.0f}] + "
        f"{affine.slope:.2f} [{affine.slope_ci[0]:.2f}, {affine.slope_ci[1]:.2f}] S R",
        interval=fit.slope_ci,
        interval_of="log-log slope of P* on S R",
        estimate=fit.slope,
        criterion=f"95% CI of the slope inside [{1 - MARGIN}, {1 + MARGIN}]",
        verdict=verdict,
        negative_control={
            "prediction": f"slope {NC_SLOPE} (P ~ S + R)",
            "rejected": nc_rejected,
            "margin_se": nc_margin,
        },
        figure=fig,
        note="The affine fit is a post-hoc reading, not the criterion: a positive intercept P0 "
        "(a size-independent cost, "
        "e.g. the attention that finds the subject among the noise) bends the log-log slope below 1 at small S R, "
        "while the marginal cost per fact c stays constant.",
        data={
            "configs": g["configs"],
            "facts": facts,
            "P_star": pstar,
            "P_star_ci": pci,
            "fit": fit.as_dict(),
            "affine": affine.as_dict(),
            "acc": [r["acc"].mean(0) for r in rows],
            "params": [r["params"] for r in rows],
            "train": tr,
        },
    )
    assert nc_rejected, f"negative control: slope {NC_SLOPE} not rejected by {fit}"
    assert nc_margin is None or (nc_margin > 0) == nc_rejected
    # assert what was measured: either the reproduction, or the refutation (slope significantly below 1)
    finding(verdict == "reproduced" or fit.slope_ci[1] < 1.0, (verdict, fit, pstar))


# ------------------------------------------------------------------------------------------ FR4
FR4_GRID = {
    "fast": dict(configs=[(32, 4, 4, 8)], seeds=4, lr=1.0, time=1500.0, alpha=0.1),
    "full": dict(configs=[(32, 4, 4, 8), (64, 8, 4, 8), (32, 8, 8, 16)], seeds=10, lr=0.5, time=4000.0, alpha=0.1),
}
KL_SMALL, PLATEAU_TOL, LOSS_END, T_CROSS = 0.05, 0.1, 0.02, 0.1


def _phase(res, kl):
    """Per seed: is there a checkpoint where the loss is within 10% of H(a|r) and the given KL < 0.05 nats?"""
    near = np.abs(res.loss / res.H_r[None] - 1) <= PLATEAU_TOL
    return np.any(near & (kl < KL_SMALL), axis=0), np.where(near, kl, np.inf).min(0)


def _first_time(t, y, level):
    """First checkpoint time at which y < level, per seed (inf if never)."""
    below = y < level
    return np.where(below.any(0), t[np.argmax(below, 0)], np.inf)


def test_FR4_hallucination_phase(scale, seeds, device, record, finding):
    """FR4 (000, 'Training dynamics'): linear attention, one-hot embeddings, gradient flow from
    W_OV(a, z), w_KQ(z) ~ alpha > 0: global convergence to zero loss, with an intermediate phase in which the
    model predicts p(a|r) instead of p(a|s, r) (hallucination over A_r, ignoring s).

    Measurement: impl.factual.gradient_flow_linear (Euler steps of size lr on the exact population loss of
    all (s, noise, r) prompts, init alpha (1 + 0.01 xi)); along training, the cross-entropy
    E KL(p(.|s,r) || q) and E KL(p(.|r) || q) (and, for the control, E KL(p(.) || q)).
    Theory (theory.factual): the p(a|r) predictor has loss H(a|r); the uniform init has loss log(R D).
    Criterion (fixed in advance), for every seed: (i) hallucination: some checkpoint has loss within 10% of
    H(a|r) and KL(p(.|r) || q) < 0.05 nats; (ii) order: KL to p(a|r) falls below 0.1 nats before the loss
    (the KL to p(a|s,r)) does, with a one-sided paired t-test of log times at p < 0.01; (iii) the loss is
    non-increasing along the flow and ends below 0.02 nats (from log(R D) ~ 2.8), all facts recalled.
    Negative control: the same phase test (i) with the subject-and-relation-blind predictor p(a) instead
    of p(a|r) must fail for every seed. ``margin_se``: distance of the smallest per-seed KL(p(a)||q) on the plateau
    above 0.05, in sds of that KL over the seeds of its config (every seed must reject: the smallest margin).
    """
    g = FR4_GRID[scale]
    res_all, rows = [], []
    ok = True
    nc_all = True
    nc_parts = []  # per config: its smallest margin (None: no sd to measure it by)
    for i, (S, R, D, N) in enumerate(g["configs"]):
        task = FactTask(S, R, D, n_noise=N, T=3)
        sd = seeds(g["seeds"], offset=i)
        res = gradient_flow_linear(
            task, sd, alpha=g["alpha"], lr=g["lr"], time=g["time"], checkpoints=120, device=device
        )
        H_theory = np.array([conditional_entropy(relation_predictor(f.numpy(), D)) for f in task.facts(sd)])
        assert np.allclose(H_theory, res.H_r, rtol=1e-6), "impl and theory disagree on H(a|r)"
        phase, kl_at = _phase(res, res.kl_r)
        nc_phase, nc_kl = _phase(res, res.kl_marg)
        t_r = _first_time(res.t, res.kl_r, T_CROSS)
        t_sr = _first_time(res.t, res.loss, T_CROSS)
        finite = np.isfinite(t_r) & np.isfinite(t_sr)
        order = paired_less(np.log(np.where(finite, t_r, 1e12)), np.log(np.where(finite, t_sr, 1e12)))
        monotone = bool(np.all(np.diff(res.loss, axis=0) <= 1e-9))
        end = res.loss[-1]
        conv = monotone and bool(np.all(end < LOSS_END)) and bool(np.all(res.acc[-1] == 1.0))
        cfg_ok = bool(phase.all()) and bool(finite.all()) and order.p_value < 0.01 and conv
        ok &= cfg_ok
        nc_all &= not bool(nc_phase.any())
        # a seed rejects iff its smallest KL to p(a) on the plateau is >= 0.05 (inf: no plateau checkpoint at all)
        kl_fin = nc_kl[np.isfinite(nc_kl)]
        sd_kl = float(np.std(kl_fin, ddof=1)) if kl_fin.size >= 2 else 0.0
        if kl_fin.size:
            nc_parts.append(float((kl_fin.min() - KL_SMALL) / sd_kl) if sd_kl > 0 else None)
        rows.append(
            dict(
                cfg=(S, R, D, N),
                H_r=res.H_r,
                init_loss=initial_loss(R, D),
                min_kl_r_on_plateau=kl_at,
                min_kl_marg_on_plateau=nc_kl,
                t_r=t_r,
                t_sr=t_sr,
                p_order=order.p_value,
                final_loss=end,
                monotone=monotone,
                ok=cfg_ok,
            )
        )
        res_all.append(res)
    fig, axes = figure(len(res_all), 1, w=5.2)
    for ax, res, r in zip(axes, res_all, rows):
        for j, (y, lab) in enumerate(
            [
                (res.loss, "KL(p(.|s,r) || q) = loss"),
                (res.kl_r, "KL(p(.|r) || q)"),
                (res.kl_marg, "KL(p(.) || q) (control)"),
            ]
        ):
            m = y.mean(1)
            line = ax.plot(res.t, m, label=lab)[0]
            ax.fill_between(
                res.t,
                y.min(1),
                y.max(1),
                color=line.get_color(),
                alpha=0.25,
                label="shaded: min-max over seeds" if j == 0 else None,
            )
        ax.axhline(res.H_r.mean(), color="k", ls=":", lw=0.8, label="H(a|r): loss of the p(a|r) predictor")
        ax.set_xscale("log")
        ax.set_yscale("log")
        S, R, D, N = r["cfg"]
        ax.set_title(f"FR4: S={S} R={R} |A_r|={D} noise={N} (band: min-max over seeds)", fontsize=9)
        ax.set_xlabel("time t (gradient flow)")
        ax.set_ylabel("nats")
        ax.legend(fontsize=6)
    nc_margin = None if not nc_parts or None in nc_parts else min(nc_parts)
    meas = "; ".join(
        f"S={r['cfg'][0]} R={r['cfg'][1]}: min KL(p(a|r)||q) on the plateau {np.max(r['min_kl_r_on_plateau']):.4f} "
        f"(H(a|r)={r['H_r'].mean():.3f}), t(KL_r<0.1)={np.median(r['t_r']):.0f} vs "
        f"t(loss<0.1)={np.median(r['t_sr']):.0f} "
        f"(p={r['p_order']:.2g}), final loss <= {np.max(r['final_loss']):.4f}"
        for r in rows
    )
    record(
        "FR4",
        prediction="plateau at loss H(a|r) with q = p(a|r) (KL -> 0) before the loss falls to 0",
        measurement=meas,
        interval=None,  # step counts (listed in the measurement), not an interval of one quantity
        criterion=f"every seed: KL(p(a|r)||q) < {KL_SMALL} while loss within {PLATEAU_TOL:.0%} of H(a|r); "
        f"KL_r < {T_CROSS} before "
        f"loss < {T_CROSS} (paired p < 0.01); loss non-increasing, final < {LOSS_END}, accuracy 1",
        verdict="reproduced" if ok else "refuted",
        negative_control={
            "prediction": "plateau predictor p(a) (ignoring s and r)",
            "rejected": nc_all,
            "min_kl_marg_on_plateau": [r["min_kl_marg_on_plateau"] for r in rows],
            "margin_se": nc_margin,
            **(
                {"margin_note": "no spread over seeds of the KL on the plateau to measure the margin by"}
                if nc_margin is None
                else {}
            ),
        },
        figure=fig,
        data={
            "rows": rows,
            "t": [r.t for r in res_all],
            "loss": [r.loss.mean(1) for r in res_all],
            "kl_r": [r.kl_r.mean(1) for r in res_all],
            "kl_marg": [r.kl_marg.mean(1) for r in res_all],
        },
    )
    assert nc_all, "negative control: p(a) plateau not rejected"
    assert nc_margin is None or (nc_margin > 0) == nc_all or (nc_margin == 0 and nc_all)  # >= 0.05 rejects
    finding(ok, rows)
