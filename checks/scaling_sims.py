"""The simulations that the scaling checks (SL1-SL8, checks/test_scaling.py) share, one function per kind.

Each simulation takes its grid (a dict of the check's GRID, DGRID, SMALL or BEST at one scale) and the seeds, and
returns a dict of per-seed arrays (leading axis: the seeds, the keys of :data:`PER_SEED`) and of the grids they
were computed on (:func:`grid_info`, no simulation). Every seed draws its own sample (``prefix_counts``) and its
own embeddings, so a seed's arrays do not depend on the other seeds of the call: the full tier stores one row per
(kind, alpha, seed) through ``tasks.scaling_sim_task`` and rebuilds the dict with :func:`assemble`.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from impl.embeddings import Embedding
from impl.sampling import zipf_probs
from impl.scaling import mod_map, population_error, prefix_counts, scheme_weights, unseen_mass
from theory import scaling as ts

M = 5
C = 8.0
T_SCHEMES = ("seen", "top", "counts", "seen_s")
KINDS = ("core", "topT", "dgrid", "best", "small")
# the per-seed entries of each kind's result (leading axis: seeds); "err" of 'core' is a dict over T_SCHEMES
PER_SEED = {
    "core": ("err_p", "err_ones", "err_thr", "err", "unseen"),
    "topT": ("err",),
    "dgrid": ("err_p", "err_ones", "err_counts", "err_ratio"),
    "best": ("err",),
    "small": ("q_p", "ones", "threshold", "seen", "counts", "seen_tokens", "unseen"),
}


def top_T_grid(p: np.ndarray, g: Mapping) -> np.ndarray:
    """SL4's T window at the largest d of the core grid ``g``: the T where the T term is >= 4x the d term
    (theory)."""
    T = np.array(g["T"], float)
    return T[ts.unseen_mass(p, T) >= 4 * ts.tail_mass(p, np.floor(np.array([g["d"][-1]], float) / C))[0]]


def grid_info(kind: str, alpha: float, g: Mapping, n_seeds: int) -> dict:
    """The grids of a kind's result (what is not per seed): N, d, T, ratios, p, f, S as the kind returns them."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if kind == "topT":
        return {"T": top_T_grid(zipf_probs(g["N"], alpha).numpy(), g), "S": n_seeds}
    N = g["N"]
    p = zipf_probs(N, alpha).numpy()
    out: dict = {"N": N, "d": np.array(g["d"], float), "p": p}
    if kind != "small":
        out["f"] = mod_map(N, M).numpy()
    if kind in ("core", "small"):
        out["T"] = np.array(g["T"], float)
    if kind in ("dgrid", "best"):
        out["ratios"] = np.array(g["ratios"])
    if kind == "dgrid":
        out["T"] = np.array([g["T"]], float)
    if kind in ("core", "dgrid"):
        out["S"] = n_seeds
    return out


def core(alpha: float, g: Mapping, seeds: tuple, device: str) -> dict:
    """Population errors of the sample-based schemes on the (d, T) grid, per seed, N = 10^5.

    Returns err_p, err_ones, err_thr (q = 1{x <= d/8}) of shape (S, D); err[scheme] (S, D, nT) for
    seen, top (d/8), counts, seen_s; unseen (S, nT); and the grids.
    """
    N, ds, Ts = g["N"], g["d"], g["T"]
    p = zipf_probs(N, alpha)
    f = mod_map(N, M)
    counts = prefix_counts(p, Ts, seeds)  # (S, nT, N)
    S, nT = len(seeds), len(Ts)
    out = {k: np.empty((S, len(ds))) for k in ("err_p", "err_ones", "err_thr")}
    out["err"] = {k: np.empty((S, len(ds), nT)) for k in T_SCHEMES}
    z = counts[:, 0]
    for i, d in enumerate(ds):
        qs = [scheme_weights(k, z, p, d, c=C).unsqueeze(1) for k in ("p", "ones", "threshold")]
        qs += [scheme_weights(k, counts, p, d, c=C, s=g["s"]) for k in T_SCHEMES]  # (S, nT, N) each
        q = torch.cat(qs, 1).float()
        E, U = Embedding(N, d, seeds, stream="e"), Embedding(M, d, seeds, stream="u")
        err = population_error(q, f, E, U, p, device=device).cpu().numpy()
        out["err_p"][:, i], out["err_ones"][:, i], out["err_thr"][:, i] = err[:, 0], err[:, 1], err[:, 2]
        for j, k in enumerate(T_SCHEMES):
            out["err"][k][:, i] = err[:, 3 + j * nT : 3 + (j + 1) * nT]
    out["unseen"] = unseen_mass(counts, p).numpy()
    out.update(grid_info("core", alpha, g, S))
    return out


def topT(alpha: float, g: Mapping, seeds: tuple, device: str) -> dict:
    """Population error of q = top floor(d/8) seen tokens at the largest d of the core grid ``g``, on SL4's T
    window only (theory-chosen, see :func:`top_T_grid`), for the seeds given: the check adds them to the core's
    seeds, whose own rows at these T are the same numbers (nested samples, per-seed embeddings). err (S, nT), T."""
    N, d = g["N"], g["d"][-1]
    p = zipf_probs(N, alpha)
    f = mod_map(N, M)
    T = top_T_grid(p.numpy(), g)
    counts = prefix_counts(p, [int(t) for t in T], seeds)
    q = scheme_weights("top", counts, p, d, c=C).float()
    E, U = Embedding(N, d, seeds, stream="e"), Embedding(M, d, seeds, stream="u")
    err = population_error(q, f, E, U, p, device=device).cpu().numpy()
    return {"err": err, **grid_info("topT", alpha, g, len(seeds))}


def dgrid(alpha: float, g: Mapping, seeds: tuple, device: str) -> dict:
    """Population errors of q = p, q = 1, q = 1{x <= r d} (ratios r) and q = counts at one large T on the
    d grid: err_p, err_ones, err_counts (S, D), err_ratio (S, D, R)."""
    N, ds, R = g["N"], g["d"], g["ratios"]
    p = zipf_probs(N, alpha)
    f = mod_map(N, M)
    counts = prefix_counts(p, [g["T"]], seeds)[:, 0]
    S = len(seeds)
    out = {k: np.empty((S, len(ds))) for k in ("err_p", "err_ones", "err_counts")}
    out["err_ratio"] = np.empty((S, len(ds), len(R)))
    for i, d in enumerate(ds):
        q = torch.stack(
            [
                scheme_weights("p", counts, p, d),
                scheme_weights("ones", counts, p, d),
                scheme_weights("counts", counts, p, d),
            ]
            + [scheme_weights("threshold", counts, p, d, c=1.0 / r) for r in R],
            1,
        ).float()
        E, U = Embedding(N, d, seeds, stream="e"), Embedding(M, d, seeds, stream="u")
        err = population_error(q, f, E, U, p, device=device).cpu().numpy()
        out["err_p"][:, i], out["err_ones"][:, i], out["err_counts"][:, i] = err[:, 0], err[:, 1], err[:, 2]
        out["err_ratio"][:, i] = err[:, 3:]
    out.update(grid_info("dgrid", alpha, g, S))
    return out


def best(alpha: float, g: Mapping, seeds: tuple, device: str) -> dict:
    """Population errors of q = 1{x <= r d} for every ratio r of the grid at each d: err (S, D, R), d, ratios.

    No sample is drawn (the threshold scheme stores the first floor(r d) tokens by rank)."""
    N, ds, R = g["N"], g["d"], g["ratios"]
    p = zipf_probs(N, alpha)
    f = mod_map(N, M)
    z = torch.zeros(len(seeds), N, dtype=torch.float64)
    err = np.empty((len(seeds), len(ds), len(R)))
    for i, d in enumerate(ds):
        q = torch.stack([scheme_weights("threshold", z, p, d, c=1.0 / r) for r in R], 1).float()
        E, U = Embedding(N, d, seeds, stream="e"), Embedding(M, d, seeds, stream="u")
        err[:, i] = population_error(q, f, E, U, p, device=device).cpu().numpy()
    return {"err": err, **grid_info("best", alpha, g, len(seeds))}


def small(alpha: float, g: Mapping, seeds: tuple, device: str) -> dict:
    """The d >> N regime: N = 256 tokens, schemes p, ones, threshold (c = 8), seen and counts at each T.

    Also the error restricted to seen tokens, sum_{n(x) >= 1} p(x) 1{wrong}, of q = 1{seen}.
    """
    N, ds, Ts = g["N"], g["d"], g["T"]
    p = zipf_probs(N, alpha)
    f = mod_map(N, M)
    counts = prefix_counts(p, Ts, seeds)
    S, nT = len(seeds), len(Ts)
    res = {k: np.empty((S, len(ds))) for k in ("q_p", "ones", "threshold")}
    res.update({k: np.empty((S, len(ds), nT)) for k in ("seen", "counts", "seen_tokens")})
    seen = (counts >= 1).numpy()
    for i, d in enumerate(ds):
        z = counts[:, 0]
        q = torch.cat(
            [
                torch.stack([scheme_weights(k, z, p, d) for k in ("p", "ones", "threshold")], 1),
                scheme_weights("seen", counts, p, d),
                scheme_weights("counts", counts, p, d),
            ],
            1,
        ).float()
        E, U = Embedding(N, d, seeds, stream="e"), Embedding(M, d, seeds, stream="u")
        err, correct = population_error(q, f, E, U, p, return_correct=True, device=device)
        err, correct = err.cpu().numpy(), correct.cpu().numpy()
        res["q_p"][:, i], res["ones"][:, i], res["threshold"][:, i] = err[:, 0], err[:, 1], err[:, 2]
        res["seen"][:, i], res["counts"][:, i] = err[:, 3 : 3 + nT], err[:, 3 + nT :]
        res["seen_tokens"][:, i] = ((~correct[:, 3 : 3 + nT]) & seen).astype(float) @ p.numpy()
    res["unseen"] = unseen_mass(counts, p).numpy()
    res.update(grid_info("small", alpha, g, S))
    return res


SIMULATE = {"core": core, "topT": topT, "dgrid": dgrid, "best": best, "small": small}


def per_seed_rows(kind: str, res: Mapping) -> list[dict]:
    """A kind's result split into one JSON-ready dict per seed (its :data:`PER_SEED` entries, as lists)."""
    n = len(res["err"]["seen"]) if kind == "core" else len(res[PER_SEED[kind][0]])
    rows = []
    for j in range(n):
        row = {}
        for k in PER_SEED[kind]:
            v = res[k]
            row[k] = (
                {s: np.asarray(a[j]).tolist() for s, a in v.items()}
                if isinstance(v, dict)
                else np.asarray(v[j]).tolist()
            )
        rows.append(row)
    return rows


def assemble(kind: str, alpha: float, g: Mapping, rows: list) -> dict:
    """The kind's result rebuilt from per-seed rows (:func:`per_seed_rows`, in seed order) and its grids: the same
    dict the simulation returns, per-seed arrays float64."""
    out = {}
    for k in PER_SEED[kind]:
        if isinstance(rows[0][k], dict):
            out[k] = {s: np.array([r[k][s] for r in rows], dtype=float) for s in rows[0][k]}
        else:
            out[k] = np.array([r[k] for r in rows], dtype=float)
    out.update(grid_info(kind, alpha, g, len(rows)))
    return out
