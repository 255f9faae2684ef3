"""AM1-AM4: random embeddings, score statistics and the capacity of associative memories."""

from __future__ import annotations

import numpy as np
import torch
from plotting import figure, loglog_panel
from scipy.stats import t as t_dist
from stats import (
    all_margin,
    any_margin,
    band_margin,
    bootstrap_interval,
    control_margin,
    crossing,
    finite_size_qualifier,
    loglog_fit,
    slope_verdict,
    widened_margin,
)

from impl.embeddings import Embedding, random_matrix

AM1_GRID = {
    "fast": dict(d=[16, 32, 64, 128, 256, 512], n=256, seeds=32),
    "full": dict(d=[16, 32, 64, 128, 256, 512, 1024, 2048], n=1024, seeds=20),
}


def test_AM1_near_orthonormal(scale, seeds, device, record, finding):
    """AM1 (000, 'Random embeddings in high dimension'): with i.i.d. N(0, 1/d) entries,
    ||e||^2 - 1, e^T e', ||W u||^2 - 1 and u^T W u all have standard deviation of order 1/sqrt(d).

    Exact values for Gaussian vectors: sd(||e||^2) = sqrt(2/d), sd(e^T e') = 1/sqrt(d),
    sd(||W u||^2) = sqrt((1 + 2/d)^2 - 1), sd(u^T W u) = sqrt((1 + 2/d)/d).
    Criterion (fixed before running): for each of the four quantities the OLS slope of log sd on log d
    over d in the grid has an interval containing -1/2 or, failing that, the slope of the exact finite-d
    sd over the same grid (``stats.slope_verdict``; then the headline says "finite-size prediction only");
    the four intervals are simultaneous 95% intervals (Bonferroni: each at level 1 - 0.05/4), since four tests
    decide one verdict; and every measured sd is within 10% of the exact one.
    Why 10% is a safe bound: the draws of one seed share its W (and its E), so the sampling error of an sd is set
    by the number of seeds, not the number of draws. Measured by simulation (200 replications of the fast grid):
    with 6 seeds of n = 256 the relative sd of the estimated sd of ||W u||^2 - 1 is 5.1% at d = 16 (u^T W u 4.0%,
    2-3% at d >= 32), so 10% was a 2-sd bound that failed in 6% of draws; with 32 seeds it is about 2.2%, and 10%
    is more than 4 sd at every d.
    Negative control: the prediction used, shifted by 0.1 either way, must fall outside every interval.
    ``margin_se``: distance of the nearest shifted slope from its interval, in SEs of the slope (Bonferroni t_{n-2}),
    the smallest over the four quantities.
    History (issue #19, item 8): with 6 seeds the check was refuted at seed base 3 of the stability reruns by the
    sd of ||W u||^2 - 1 at d = 16 being 14.8% off (a 3-sd draw of a 5%-noisy estimate; the slopes were inside);
    the seeds went from 6 to 32 and the four slope intervals became simultaneous (they were four separate 95%
    intervals, a family-wise error of up to 19%). The 10% bound and the predictions are unchanged.
    History (issue #20): the criterion first asked for -1/2 only. At full scale (d = 16..2048, 20 seeds) the
    slope of sd(u^T W u) was -0.506 [-0.511, -0.501], which is the exact finite-d slope of sqrt((1 + 2/d)/d)
    on that grid (about -0.51): more data made a true statement fail. The finite-size prediction is the
    exact sd, not a fitted one, and the 10% bound on every sd is unchanged.
    """
    g = AM1_GRID[scale]
    ds, n, S = g["d"], g["n"], g["seeds"]
    names = ["||e||^2 - 1", "e^T e'", "||W u||^2 - 1", "u^T W u"]
    exact = {
        names[0]: lambda d: np.sqrt(2 / d),
        names[1]: lambda d: 1 / np.sqrt(d),
        names[2]: lambda d: np.sqrt((1 + 2 / d) ** 2 - 1),
        names[3]: lambda d: np.sqrt((1 + 2 / d) / d),
    }
    sds = {k: [] for k in names}
    for d in ds:
        sd_ = seeds(S, offset=d)
        E = Embedding(n, d, sd_, stream="e").full(device=device, dtype=torch.float64)
        U = Embedding(n, d, sd_, stream="u").full(device=device, dtype=torch.float64)
        W = random_matrix(d, sd_, device=device, dtype=torch.float64)
        G = E @ E.transpose(-1, -2)
        iu = torch.triu_indices(n, n, 1)
        WU = U @ W.transpose(-1, -2)
        vals = [torch.diagonal(G, dim1=-2, dim2=-1) - 1, G[:, iu[0], iu[1]], (WU**2).sum(-1) - 1, (WU * U).sum(-1)]
        for k, v in zip(names, vals):
            sds[k].append(float(v.std()))
    level = 1 - 0.05 / len(names)  # simultaneous 95% intervals over the four quantities (Bonferroni)
    fits = {k: loglog_fit(ds, sds[k], level=level) for k in names}
    ratios = {k: float(np.max(np.abs(np.array(sds[k]) / exact[k](np.array(ds, float)) - 1))) for k in names}
    dsf = np.array(ds, float)
    finite = {k: loglog_fit(dsf, exact[k](dsf)).slope for k in names}  # exact finite-d slope on this grid
    svs = {k: slope_verdict(fits[k], -0.5, finite[k], 0.1) for k in names}
    ok = all(v.ok for v in svs.values()) and all(r < 0.10 for r in ratios.values())
    nc_rejected = all(v.nc_rejected for v in svs.values())
    # margin: both shifted values of every quantity must be outside its interval (t_{n-2} at the Bonferroni level)
    margins = {
        k: control_margin(
            f.slope,
            *f.slope_ci,
            [svs[k].used - 0.1, svs[k].used + 0.1],
            crit=float(t_dist.ppf(0.5 + level / 2, f.n - 2)),
        )
        for k, f in fits.items()
    }
    margin = None if any(v is None for v in margins.values()) else min(margins.values())
    fig, axes = figure(2, 1, w=4.8)
    dd = np.geomspace(ds[0], ds[-1], 50)
    for i, k in enumerate(names):
        ax = axes[0] if i < 2 else axes[1]
        loglog_panel(
            ax,
            ds,
            sds[k],
            label=f"{k}: slope {fits[k]}",
            pred_x=dd,
            pred_y=exact[k](dd),
            pred_label=f"exact sd of {k}",
            xlabel="d",
            ylabel="standard deviation",
            title="embeddings" if i < 2 else "remapped by W ~ N(0,1/d)",
        )
    worst = min(fits.values(), key=lambda f: -abs(f.slope + 0.5))
    record(
        "AM1",
        prediction="slope -1/2 of log sd vs log d for ||e||^2, e^T e', ||Wu||^2, u^T W u (finite-d slopes of the "
        "exact sd on this grid: " + ", ".join(f"{finite[k]:.3f}" for k in names) + "); "
        "sd within 10% of the exact Gaussian value",
        measurement="slopes "
        + ", ".join(f"{k}: {fits[k]}" for k in names)
        + "; max relative sd error "
        + f"{max(ratios.values()):.3f}",
        interval=worst.slope_ci,
        interval_of="log-log slope of the sd on d, the quantity farthest from -1/2 (simultaneous 95% interval, "
        "Bonferroni over the 4 quantities)",
        estimate=worst.slope,
        criterion="every slope interval (simultaneous 95%, Bonferroni over 4) contains -0.5 (or the exact finite-d "
        "slope) and every sd within 10% of exact",
        verdict="reproduced" if ok else "refuted",
        qualifier=finite_size_qualifier(*svs.values()),
        negative_control={
            "prediction": "the slope used shifted by +-0.1",
            "rejected": nc_rejected,
            "margin_se": margin,
            "margins_se": margins,
        },
        figure=fig,
        data={"d": ds, "sd": sds, "fits": {k: f.as_dict() for k, f in fits.items()}, "max_rel_error": ratios},
    )
    assert nc_rejected, "negative control: a slope shifted by 0.1 was not rejected"
    assert margin is None or (margin > 0) == nc_rejected, f"negative control margin {margin} disagrees"
    finding(ok, f"AM1 not reproduced: {fits}, {ratios}")


AM2_GRID = {"fast": dict(d=32, N=256, seeds=400), "full": dict(d=64, N=1024, seeds=2000)}


def _per_seed_score_stats(q, f, M, d, seeds, device, budget):
    """Per seed: mean over tokens of (gamma_{z,f(z)} - q_z), of (gamma_{z,f(z)} - q_z)^2 and of gamma_{z,y}^2
    (y != f(z)). Seeds run in chunks whose score tensors (S_chunk, N, M) fit in ``budget`` bytes (each seed's
    embeddings come from its own generator, so the chunking does not change any value)."""
    from conftest import need_memory

    from impl.memory import memory_matrix, scores

    N = len(f)
    # G, its masked copy, that copy squared, and working space (measured: tests/test_memory_budget.py); E, U, W
    per_seed = 8 * (5 * N * M + 2 * (N + M) * d + 2 * d * d)
    # shared by every chunk: the masks (N, M) bool and the int64 (row, column) indices that the boolean indexing
    # of G builds, 16 N M bytes (without them the 256 MiB case of tests/test_memory_budget.py grew 258 MiB)
    fixed = 18 * N * M
    need_memory(f"AM2 at d={d}, N={N}, M={M}", per_seed + fixed, budget)
    chunk = max(1, min(len(seeds), (budget - fixed) // per_seed))
    onehot = torch.nn.functional.one_hot(torch.as_tensor(f), M).bool()
    out = [], [], []
    for i in range(0, len(seeds), chunk):
        sd_ = seeds[i : i + chunk]
        E = Embedding(N, d, sd_, stream="e")
        U = Embedding(M, d, sd_, stream="u")
        W = memory_matrix(torch.as_tensor(q), torch.as_tensor(f), E, U, device=device, dtype=torch.float64)[:, 0]
        G = scores(W, E.full(device=device, dtype=torch.float64), U.full(device=device, dtype=torch.float64))
        oh = onehot.to(G.device)
        qt = torch.as_tensor(q, dtype=torch.float64, device=G.device)
        dev_c = G[:, oh] - qt  # (S_chunk, N)
        wrong = G[:, ~oh]  # (S_chunk, N*(M-1))
        del G
        for acc, v in zip(out, (dev_c.mean(-1), (dev_c**2).mean(-1), (wrong**2).mean(-1))):
            acc.append(v.cpu().numpy())
    return tuple(np.concatenate(a) for a in out)


def test_AM2_score_statistics(scale, seeds, device, record, finding, memory_budget):
    """AM2 (000, 'Capacity: Intuition'): E gamma_{z,y} = 1{y = f*(z)} and
    Var gamma_{z,y} <~ |{f*(z') = y}|/d + |{f*(z') != y}|/d^2 for W = sum_z u_{f*(z)} e_z^T.

    theory.memory.score_moments gives the exact moments for Gaussian embeddings (the slide's bound
    plus the self term q(z)^2 (1+2/d)/d and the (1+2/d) factors). Measurement: for an injective map and
    for z mod 2, the per-seed averages over tokens of gamma_{z,f(z)} - 1, of its square and of the
    squared wrong scores; seeds are independent, so their t-statistics against the exact moments are
    approximately standard normal.
    Criterion (fixed in advance): all 6 |t| < 4 (a Bonferroni-safe bound: P(|Z| > 4) ~ 6e-5 each).
    Negative control: the same test fed the variance without the cross-output term |{f*(z') != y}|/d^2
    (i.e. ignoring interference from the other outputs) must give |t| > 4 on the injective map.
    ``margin_se``: |t| - 4, the distance of that t-statistic beyond the threshold 4, in SEs.
    """
    from theory.memory import score_moments

    g = AM2_GRID[scale]
    d, N, S = g["d"], g["N"], g["seeds"]
    rows, tvals, nc_t = [], [], None
    for kind, f, M in [("injective", np.arange(N), N), ("mod 2", np.arange(N) % 2, 2)]:
        q = np.ones(N)
        mean_c, var_c, var_w = _per_seed_score_stats(q, f, M, d, seeds(S, offset=M), device, memory_budget)
        mom = score_moments(q, f, M, d)
        zz, yy = np.nonzero(np.eye(M)[f] == 0)
        pred = {
            "mean(gamma_correct) - 1": 0.0,
            "Var gamma_correct": mom.var_correct.mean(),
            "Var gamma_wrong": mom.var_wrong(zz, yy).mean(),
        }
        meas = {"mean(gamma_correct) - 1": mean_c, "Var gamma_correct": var_c, "Var gamma_wrong": var_w}
        for name in pred:
            x = meas[name]
            t = (x.mean() - pred[name]) / (x.std(ddof=1) / np.sqrt(S))
            tvals.append(float(t))
            rows.append(
                dict(
                    map=kind,
                    quantity=name,
                    predicted=float(pred[name]),
                    measured=float(x.mean()),
                    se=float(x.std(ddof=1) / np.sqrt(S)),
                    t=float(t),
                )
            )
        if kind == "injective":
            n_same = np.bincount(f, minlength=M)[yy]  # tokens mapping to y (here 1)
            no_cross = ((1 + 2 / d) / d * (n_same + 1)).mean()  # same-output and self terms only
            nc_t = float((var_w.mean() - no_cross) / (var_w.std(ddof=1) / np.sqrt(S)))
    ok = all(abs(t) < 4 for t in tvals)
    nc_rejected = abs(nc_t) > 4
    nc_margin = abs(nc_t) - 4.0  # the t-statistic is already in SEs; the threshold is 4
    fig, axes = figure(1, 1, w=6.0)
    ax = axes[0]
    lab = [f"{r['map']}\n{r['quantity']}" for r in rows if r["quantity"] != "mean(gamma_correct) - 1"]
    sel = [r for r in rows if r["quantity"] != "mean(gamma_correct) - 1"]
    xs = np.arange(len(sel))
    ax.errorbar(
        xs, [r["measured"] for r in sel], yerr=[1.96 * r["se"] for r in sel], fmt="o", label="measured (95% CI)"
    )
    ax.plot(xs, [r["predicted"] for r in sel], "x", ms=9, label="exact moment (theory)")
    ax.set_xticks(xs, lab, fontsize=7)
    ax.set_yscale("log")
    ax.set_xlabel("output map, score statistic")
    ax.set_ylabel("variance of the score")
    ax.set_title(f"score variances, d={d}, N={N}, {S} seeds", fontsize=9)
    ax.legend(fontsize=7)
    record(
        "AM2",
        prediction="mean 1{y=f*(z)}; exact variances "
        + ", ".join(f"{r['map']} {r['quantity']}={r['predicted']:.4g}" for r in rows if "Var" in r["quantity"]),
        measurement="t-statistics " + ", ".join(f"{t:+.2f}" for t in tvals),
        interval=None,  # every t-statistic decides (listed in the measurement)
        criterion="all |t| < 4 against the exact moments",
        verdict="reproduced" if ok else "refuted",
        negative_control={
            "prediction": "variance without the |{f*(z') != y}|/d^2 term (injective map)",
            "t": nc_t,
            "rejected": nc_rejected,
            "margin_se": nc_margin,
        },
        figure=fig,
        data={"rows": rows, "d": d, "N": N, "seeds": S},
    )
    assert abs(nc_t) > 4, f"negative control not rejected: t={nc_t}"
    assert (nc_margin > 0) == nc_rejected, f"negative control margin {nc_margin} disagrees"
    finding(ok, rows)


CAP_GRID = {
    "fast": dict(
        injective=[24, 32, 48, 64, 96, 128, 192, 256],
        mod=[32, 64, 128, 256, 512, 1024],
        seeds=8,
        tokens=4000,
        points=11,
    ),
    "full": dict(
        injective=[32, 64, 128, 256, 512, 1024],
        mod=[32, 64, 128, 256, 512, 1024, 2048, 4096],
        seeds=20,
        tokens=20000,
        points=17,
    ),
}
LEVEL = 0.9


def _capacity_curves(kind, ds, S_min, tokens, points, seeds, runs):
    """For each d: accuracy(N) on a geometric grid around the predicted threshold, per seed.

    The number of seeds is max(S_min, tokens / N*) so that every threshold rests on about ``tokens``
    recalled tokens: at small d (N* ~ 10-20) one seed's accuracy moves in steps of 1/N. Each (d, seed) is one
    task of ``runs`` (the ``stored_runs`` fixture): a row of the sweep store at the full scale.
    """
    from tasks import capacity_curve_task

    from theory.memory import capacity_accuracy, capacity_threshold

    plan = []
    for d in ds:
        n_pred = capacity_threshold(d, kind, LEVEL)
        S = max(S_min, int(np.ceil(tokens / n_pred)))
        Ns = np.unique(np.round(np.geomspace(max(n_pred / 2.5, 2), n_pred * 2.5, points)).astype(int))
        plan.append((d, n_pred, Ns, seeds(S, offset=d)))
    res = runs(
        capacity_curve_task,
        [{"kind": kind, "d": d, "N": Ns.tolist()} for d, _, Ns, _ in plan],
        [sd_ for *_, sd_ in plan],
        task="capacity_curve",
        version="1",
        desc=f"capacity ({kind})",
        seeds_per_task=16,  # batched calls (a seed's values do not depend on its batch); still one row per seed
    )
    out = []
    for (d, n_pred, Ns, _), r in zip(plan, res):
        acc = np.ascontiguousarray(np.array(r, dtype=float).T)  # (N, seed), as the batched loop filled it
        gauss = np.array([capacity_accuracy(int(N), d, kind) for N in Ns])
        n_star = crossing(Ns, acc.mean(1), LEVEL)
        n_star_boot = bootstrap_interval(
            lambda m, Ns=Ns: crossing(Ns, m, LEVEL), acc, axis=1, n_boot=200, rng=np.random.default_rng(d)
        )
        out.append(dict(d=d, N=Ns, acc=acc, gauss=gauss, n_star=n_star, n_star_boot=n_star_boot, n_pred=n_pred))
    return out


def _capacity_check(kind, claim, scale, seeds, stored_runs, record, law_slope, margin, wrong_slope, law, finding):
    from theory.memory import capacity_asymptotic, capacity_threshold

    g = CAP_GRID[scale]
    curves = _capacity_curves(kind, g[kind], g["seeds"], g["tokens"], g["points"], seeds, stored_runs)
    ds = np.array([c["d"] for c in curves], float)
    n_star = np.array([c["n_star"] for c in curves])
    n_pred = np.array([c["n_pred"] for c in curves])
    lo = np.array([c["n_star_boot"][0] for c in curves])
    hi = np.array([c["n_star_boot"][1] for c in curves])
    fit = loglog_fit(ds, n_star)
    pred_fit = loglog_fit(ds, n_pred)
    big = ds >= 32
    curve_dev = np.array([np.mean(np.abs(c["acc"].mean(1) - c["gauss"])) for c in curves])
    other = "mod" if kind == "injective" else "injective"
    other_pred = np.array([capacity_threshold(int(d), other, LEVEL) for d in ds])

    def law_holds(exponent):  # equivalence: the whole 95% interval within exponent +- margin
        return fit.within(exponent, margin)

    def theory_holds(pred):  # theory error (15%) on top of the sampling error of N* (bootstrap over seeds)
        return bool(np.all((pred >= lo / 1.15) & (pred <= hi * 1.15)))

    ok = law_holds(law_slope) and theory_holds(n_pred) and bool(np.all(curve_dev[big] < 0.05))
    nc_slope = not law_holds(wrong_slope)
    nc_curve = not theory_holds(other_pred)
    # margins: the slope interval outside the wrong law's band; the other map's N* outside the widened interval at
    # some d (any suffices); both parts must reject
    slope_margin = band_margin(
        fit.slope, *fit.slope_ci, wrong_slope - margin, wrong_slope + margin, crit=float(t_dist.ppf(0.975, fit.n - 2))
    )
    curve_margin = any_margin(*(widened_margin(*v, 1.15) for v in zip(n_star, lo, hi, other_pred)))
    nc_margin = all_margin(slope_margin, curve_margin)
    fig, axes = figure(3, 1, w=4.4)
    cm = __import__("matplotlib").colormaps["viridis"]
    for i, c in enumerate(curves):
        col = cm(i / max(len(curves) - 1, 1))
        x = c["N"] / (c["d"] ** 2 if kind == "injective" else c["d"])
        m = c["acc"].mean(1)
        axes[0].errorbar(x, m, yerr=c["acc"].std(1), fmt="o", ms=3, color=col, label=f"d={c['d']}")
        axes[0].plot(x, c["gauss"], "-", color=col, lw=1)
        if kind == "injective":
            axes[1].plot(c["N"] * np.log(c["N"]) / c["d"] ** 2, m, "o-", ms=3, color=col)
    axes[0].set_xscale("log")
    axes[0].set_xlabel("N / d^2" if kind == "injective" else "N / d")
    axes[0].set_ylabel("accuracy (points: simulation; lines: Gaussian theory)")
    axes[0].axhline(LEVEL, color="gray", lw=0.5)
    axes[0].legend(fontsize=6)
    if kind == "injective":
        axes[1].set_xscale("log")
        axes[1].set_xlabel("N log N / d^2 (log-corrected collapse)")
        axes[1].set_ylabel("accuracy")
        axes[1].axhline(LEVEL, color="gray", lw=0.5)
    else:
        axes[1].plot(ds, curve_dev, "o-")
        axes[1].set_xscale("log")
        axes[1].set_xlabel("d")
        axes[1].set_ylabel("mean |simulated - Gaussian| accuracy")
    dd = np.geomspace(ds[0], ds[-1], 40)
    loglog_panel(
        axes[2],
        ds,
        n_star,
        lo,
        hi,
        label=f"N* at {LEVEL:.0%}: slope {fit}",
        pred_x=ds,
        pred_y=n_pred,
        pred_label=f"Gaussian theory: slope {pred_fit.slope:.3f}",
        xlabel="d",
        ylabel="N*",
        title=f"{claim}: capacity",
    )
    axes[2].plot(dd, capacity_asymptotic(dd, kind, LEVEL), "--", lw=1, label=law)
    axes[2].legend(fontsize=6)
    record(
        claim,
        prediction=f"exponent {law_slope} +- {margin} ({law}); finite-d Gaussian theory N*(d) (slope "
        f"{pred_fit.slope:.3f} on this grid)",
        measurement=f"slope {fit}; N*/N*_theory in [{(n_star / n_pred).min():.3f}, {(n_star / n_pred).max():.3f}]; "
        f"mean |acc - Gaussian| <= {curve_dev[big].max():.3f} (d >= 32)",
        interval=fit.slope_ci,
        interval_of="log-log slope of N* on d",
        estimate=fit.slope,
        criterion=f"95% CI of the slope inside [{law_slope - margin}, {law_slope + margin}]; "
        "N*_theory inside the bootstrap 95% CI "
        "of N* widened by 15% at every d; whole accuracy curves within 0.05 of the Gaussian theory (d >= 32)",
        verdict="reproduced" if ok else "refuted",
        negative_control={
            "prediction": f"exponent {wrong_slope} (the other map's law) and the other map's N*(d) curve",
            "rejected": nc_slope and nc_curve,
            "slope_rejected": nc_slope,
            "curve_rejected": nc_curve,
            "margin_se": nc_margin,
            "slope_margin_se": slope_margin,
            "curve_margin_se": curve_margin,
        },
        figure=fig,
        data={
            "d": ds,
            "n_star": n_star,
            "n_star_ci": np.stack([lo, hi], 1),
            "n_star_theory": n_pred,
            "fit": fit.as_dict(),
            "theory_fit": pred_fit.as_dict(),
            "curve_deviation": curve_dev,
            "level": LEVEL,
        },
    )
    assert nc_slope and nc_curve, "negative control not rejected"
    assert nc_margin is None or (nc_margin > 0) == (nc_slope and nc_curve), f"control margin {nc_margin} disagrees"
    finding(ok, (fit, pred_fit, n_star / n_pred, curve_dev))


def test_AM3_injective_capacity(scale, seeds, stored_runs, record, finding):
    """AM3 (000, 'Capacity: Intuition'): with f* injective, W = sum_z u_{f*(z)} e_z^T recalls up to N ~ d^2
    associations, up to log factors.

    Theory (theory.memory): each wrong score has sd ~ sqrt(2/d + N/d^2) and there are N of them, so recall
    needs about 2 log N (2/d + N/d^2) < 1: N* log N* ~ d^2/2 asymptotically (exponent 2 with a log that
    flattens the local exponent towards 2/(1 + 1/log N*)), with a -O(d) correction that steepens it at small
    d. The Gaussian approximation conditioned on the norms (theory.memory.capacity_threshold) gives N*(d) at
    90% accuracy for finite d.
    Criterion: (i) "d^2 up to log factors": the 95% interval of the slope of log N* on log d lies inside
    [1.75, 2.25]; the margin 0.25 is the size of the log correction 2/(1 + 1/log N*) - 2 at N* ~ 500;
    (ii) the finite-d theory explains the points: its N* lies inside the bootstrap 95% interval of the
    measured N* (seeds resampled) widened by 15% (the approximation's error), at every d; (iii) whole
    accuracy curves within 0.05 of the theory on average (d >= 32).
    Negative control: exponent 1 (AM4's law) fails (i) and the mod-2 N*(d) curve fails (ii).
    ``margin_se``: the smaller of (i)'s (how far the slope interval sticks out of [0.75, 1.25], in SEs of the slope,
    t_{n-2}) and (ii)'s (the largest over d of the mod-2 N*'s distance beyond the widened interval, in bootstrap SEs).
    History: a first run on d = 16..128 gave slope 2.149 [2.048, 2.250], at the edge of (i); the theory's
    -O(d) finite-size term steepens the local slope at small d, so the fast grid now runs to d = 256 and
    leaves out d = 16 (N* ~ 7, where the 1/N granularity of the accuracy dominates), and small d get more
    seeds (about 4000 recalled tokens per threshold). Criteria unchanged.
    """
    _capacity_check(
        "injective", "AM3", scale, seeds, stored_runs, record, 2.0, 0.25, 1.0, "asymptotic N log N = d^2/2", finding
    )


def test_AM4_mod2_capacity(scale, seeds, stored_runs, record, finding):
    """AM4 (000, 'Capacity: Intuition'): with f*(z) = z mod 2, the memory stores up to N ~ d associations.

    Theory: with two outputs the margin is 1 + N(0, ~N/d), so accuracy ~ Phi(sqrt(d/N)) and
    N* = d / Phi^{-1}(0.9)^2 ~ 0.61 d: exponent exactly 1, no log factor, curves collapse in N/d.
    Criterion: (i) the 95% interval of the slope lies inside [0.9, 1.1] (no log factor is expected, and the
    finite-d theory's local slope differs from 1 by < 0.05 on this grid); (ii) and (iii) as for AM3.
    Negative control: exponent 2 (AM3's law) fails (i) and the injective N*(d) curve fails (ii).
    ``margin_se``: as AM3's ((i): the slope interval outside [1.9, 2.1]; (ii): the injective N* beyond it).
    """
    _capacity_check(
        "mod", "AM4", scale, seeds, stored_runs, record, 1.0, 0.1, 2.0, "asymptotic N* = d / Phi^-1(0.9)^2", finding
    )
