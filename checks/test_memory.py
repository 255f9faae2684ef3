"""AM1-AM4: random embeddings, score statistics and the capacity of associative memories."""
from __future__ import annotations

import numpy as np
import torch

from impl.embeddings import Embedding, random_matrix
from plotting import figure, loglog_panel
from stats import loglog_fit

AM1_GRID = {"fast": dict(d=[16, 32, 64, 128, 256, 512], n=256, seeds=6),
            "full": dict(d=[16, 32, 64, 128, 256, 512, 1024, 2048], n=1024, seeds=20)}


def test_AM1_near_orthonormal(scale, seeds, device, record):
    """AM1 (000, 'Random embeddings in high dimension'): with i.i.d. N(0, 1/d) entries,
    ||e||^2 - 1, e^T e', ||W u||^2 - 1 and u^T W u all have standard deviation of order 1/sqrt(d).

    Exact values for Gaussian vectors: sd(||e||^2) = sqrt(2/d), sd(e^T e') = 1/sqrt(d),
    sd(||W u||^2) = sqrt((1 + 2/d)^2 - 1), sd(u^T W u) = sqrt((1 + 2/d)/d).
    Criterion (fixed before running): for each of the four quantities the OLS slope of log sd on log d
    over d in the grid has a 95% interval containing -1/2, and every measured sd is within 10% of the
    exact one (the sampling error of an sd from >= 1500 draws is about 2%).
    Negative control: a slope of -0.6 (off by 0.1) must fall outside every interval.
    """
    g = AM1_GRID[scale]
    ds, n, S = g["d"], g["n"], g["seeds"]
    names = ["||e||^2 - 1", "e^T e'", "||W u||^2 - 1", "u^T W u"]
    exact = {names[0]: lambda d: np.sqrt(2 / d), names[1]: lambda d: 1 / np.sqrt(d),
             names[2]: lambda d: np.sqrt((1 + 2 / d) ** 2 - 1), names[3]: lambda d: np.sqrt((1 + 2 / d) / d)}
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
    fits = {k: loglog_fit(ds, sds[k]) for k in names}
    ratios = {k: float(np.max(np.abs(np.array(sds[k]) / exact[k](np.array(ds, float)) - 1))) for k in names}
    ok = all(f.contains(-0.5) for f in fits.values()) and all(r < 0.10 for r in ratios.values())
    nc_rejected = all(not f.contains(-0.6) for f in fits.values())
    fig, axes = figure(2, 1, w=4.8)
    dd = np.geomspace(ds[0], ds[-1], 50)
    for i, k in enumerate(names):
        ax = axes[0] if i < 2 else axes[1]
        loglog_panel(ax, ds, sds[k], label=f"{k}: slope {fits[k]}", pred_x=dd, pred_y=exact[k](dd), pred_label=f"exact sd of {k}",
                     xlabel="d", ylabel="standard deviation", title="embeddings" if i < 2 else "remapped by W ~ N(0,1/d)")
    worst = min(fits.values(), key=lambda f: -abs(f.slope + 0.5))
    record("AM1", prediction="slope -1/2 of log sd vs log d for ||e||^2, e^T e', ||Wu||^2, u^T W u; sd within 10% of the exact Gaussian value",
           measurement="slopes " + ", ".join(f"{k}: {fits[k]}" for k in names) + "; max relative sd error " + f"{max(ratios.values()):.3f}",
           interval=worst.slope_ci, criterion="every 95% slope interval contains -0.5 and every sd within 10% of exact",
           verdict="reproduced" if ok else "refuted",
           negative_control={"prediction": "slope -0.6", "rejected": nc_rejected},
           figure=fig, data={"d": ds, "sd": sds, "fits": {k: f.as_dict() for k, f in fits.items()}, "max_rel_error": ratios})
    assert nc_rejected, "negative control: slope -0.6 was not rejected"
    assert ok, f"AM1 not reproduced: {fits}, {ratios}"
