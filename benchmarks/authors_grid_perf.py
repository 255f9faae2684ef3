"""Cost of the authors' optimiser grid on this machine: a section of reports/performance.md.

Run:  .venv/bin/python benchmarks/authors_grid_perf.py --store .sweeps/store.sqlite   (about 2 minutes)
      [--wall-s S --workers 2 --alone --note TEXT]   (the measured wall time of the grid's run, and how it ran)

1. The wall time of the whole grid as the sweep store recorded it (first to last stored run of the full grid), what
   fraction of the 40,320 runs is stored, and the cost of each (model, optimizer, norm, d, batch) cell: the seconds
   the store recorded for its 10 seeds (the sum over its tasks; the store keeps per-seed shares of each task).
2. The heaviest cells (the d x d memory at d = 1000, batch 16: 6,400 steps per seed and rate), timed here over a
   number of steps, with the machine's memory bandwidth and matmul throughput measured in the same process: the
   fraction of each that the W step achieves, from the bytes it moves and the FLOPs it does (counted below).
3. Optionally (``--theirs all.jsonl.gz``), run for run agreement with the authors' published results of their grid
   (facebookresearch/pal, projects/scaling_law/grid_experiments/res/finer_dim/all.jsonl.gz; not part of this
   repository: pass a local copy).

The section is written between ``<!-- section:authors-grid -->`` markers, which ``benchmarks/perf_report.py``
keeps when it rewrites the rest of the page.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sqlite3
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script
    sys.path.insert(0, str(ROOT))

from benchmarks.full_tier import write_section  # noqa: E402

SECTION = "authors-grid"


def machine_peaks(threads: int) -> dict:
    """Memory bandwidth (GB/s, a + b -> a on 256 MB arrays: 3 x 4 bytes per element) and float32 matmul throughput
    (GFLOP/s, 2048 x 2048) with ``threads`` threads, best of 5."""
    torch.set_num_threads(threads)
    n = 64 << 20
    a, b = torch.randn(n), torch.randn(n)
    ts = []
    for _ in range(5):
        t = time.perf_counter()
        a.add_(b)
        ts.append(time.perf_counter() - t)
    bw = 12 * n / min(ts) / 1e9
    x = torch.randn(2048, 2048)
    x @ x
    ts = []
    for _ in range(5):
        t = time.perf_counter()
        x @ x
        ts.append(time.perf_counter() - t)
    return {"threads": threads, "bandwidth_GBs": bw, "matmul_GFLOPs": 2 * 2048**3 / min(ts) / 1e9}


def heavy_cell(model: str, optimizer: str, norm: str, threads: int, steps: int = 200) -> dict:
    """Time ``steps`` steps of one heaviest cell (d = 1000, batch 16, 10 seeds x 4 rates) and count its traffic.

    Per (seed, rate) and step, the W step (impl.authors_grid._w_step) writes the gradient g = E_u^T dh (d x d), and
    for Adam reads g to write |g| + eps, then reads W, g and the denominator to write W: 4 d^2 + 8 d^2 + 8 d^2 +
    16 d^2 = 36 d^2 bytes (SGD: 4 d^2 + 12 d^2 = 16 d^2); the forward pass reads W once more (4 d^2). FLOPs: 2 n d^2
    for the gradient and 2 n d^2 for the forward pass (n distinct tokens in the batch, padded over seeds; 'learnable'
    adds 2 n d^2 for dh W^T).
    """
    import impl.authors_grid as ag

    torch.set_num_threads(threads)
    seeds, lrs, d, B = list(range(42, 52)), [0.1, 1.0, 10.0, 100.0], 1000, 16
    T = B * steps
    draws = [ag.draw_run(model, 100, 5, d, T, s) for s in seeds]
    # distinct tokens per step, padded to the largest over seeds (as the trainer does)
    tok = torch.stack([dr["tokens"] for dr in draws]).view(len(seeds), steps, B)
    n_pad = np.array([max(len(torch.unique(tok[s, t])) for s in range(len(seeds))) for t in range(steps)])
    ag.train_grid_model(model, 100, 5, d, B * 4, lrs, seeds, batch=B, optimizer=optimizer, norm=norm, draws=draws)
    t0 = time.perf_counter()
    ag.train_grid_model(model, 100, 5, d, T, lrs, seeds, batch=B, optimizer=optimizer, norm=norm, draws=draws)
    dt = time.perf_counter() - t0
    pairs = len(seeds) * len(lrs)
    bytes_step = pairs * ((36 if optimizer == "adam" else 16) + 4) * d * d
    flops_step = pairs * (3 if model == "learnable" else 2) * 2 * float(n_pad.mean()) * d * d
    return {
        "cell": f"{model}, {optimizer}, {norm}, d={d}, batch {B}",
        "threads": threads,
        "steps": steps,
        "s_per_step": dt / steps,
        "s_per_run": dt / steps * (102400 // B),  # one (seed-batch x rates) task of the grid
        "GB_per_s": bytes_step * steps / dt / 1e9,
        "GFLOP_per_s": flops_step * steps / dt / 1e9,
        "mean_distinct_tokens": float(n_pad.mean()),
    }


def _sweep(name: str):
    """The named sweep, from the grids file the command line uses (``checks/grids.py``, loaded by path)."""
    from amemory.sweep.cli import load_grids

    return load_grids(str(ROOT / "checks" / "grids.py")).get_sweep(name)


def store_costs(store: str) -> dict:
    """Per-cell seconds and the wall time of the full authors' grid from the store's rows."""
    sw = _sweep("authors_grid")
    con = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
    rows = con.execute(
        "SELECT c.config, r.seed, r.seconds, r.finished FROM results r JOIN configs c ON c.hash = r.hash "
        "WHERE c.task IN (?, ?) AND c.version = ?",
        (sw.task, *sw.aliases[:1], sw.version) if sw.aliases else (sw.task, sw.task, sw.version),
    ).fetchall()
    full = {json.dumps(c, sort_keys=True) for c in sw.configs("full")}
    seeds = set(sw.seeds("full"))
    cells: dict[tuple, float] = defaultdict(float)
    n, times = 0, []
    for cfg, seed, secs, fin in rows:
        c = json.loads(cfg)
        if json.dumps(c, sort_keys=True) not in full or seed not in seeds:
            continue
        n += 1
        cells[(c["model"], c["optimizer"], c["norm"], c["d"], c["batch_size"])] += secs or 0.0
        times.append(fin)
    total_runs = len(full) * len(seeds)
    return {
        "stored": n,
        "total": total_runs,
        "cells": cells,
        "first": min(times) if times else None,
        "last": max(times) if times else None,
    }


def compare_published(theirs: str) -> dict:
    """Run-for-run agreement of the stored full grid with the authors' published errors (same seeds, same draws)."""
    pub = {}
    with gzip.open(theirs, "rt") as f:
        for line in f:
            r = json.loads(line)
            key = (
                r["model"],
                r["optimizer"].lower(),
                "l2" if r["layernorm"] else "none",
                r["d"],
                r["batch_size"],
                float(r["lr"]),
                r["ntrain"],
                r["seed"],
            )
            pub[key] = r["error"]
    rows = _sweep("authors_grid").rows("full", str(ARGS.store))
    by = defaultdict(lambda: [0, 0, 0, []])  # compared, equal, ours diverged, signed differences
    for r in rows:
        for T, e in zip(r["T"], r["error"]):
            k = (r["model"], r["optimizer"], r["norm"], r["d"], r["batch_size"], float(r["lr_base"]), T, r["seed"])
            if k not in pub:
                continue
            g = by[(r["model"], r["optimizer"])]
            g[0] += 1
            if e is None:
                g[2] += 1
                continue
            g[1] += abs(e - pub[k]) <= 1e-6
            g[3].append(e - pub[k])
    return {
        k: {
            "compared": v[0],
            "equal": v[1],
            "diverged_here": v[2],
            "mean_signed_diff": float(np.mean(v[3])) if v[3] else 0.0,
        }
        for k, v in by.items()
    }


def render(peaks, heavy, costs, published) -> str:
    L = [f"<!-- section:{SECTION} -->", "## 5. The authors' optimiser grid (impl/authors_grid.py)", ""]
    frac = costs["stored"] / costs["total"]
    L.append(
        f"Stored: **{costs['stored']} of {costs['total']}** (configuration, seed) runs of the full grid "
        f"({frac:.1%}; each holds 4 rates x 3 T, so {costs['stored'] * 12} of 40,320 runs)."
    )
    run = costs.get("run") or {}
    alone = run.get("alone", False)
    if costs["first"]:
        L.append(
            f"First and last stored: {costs['first']} and {costs['last']} (wall clock of the run(s), "
            + (
                "with nothing else running on this 2-core machine)."
                if alone
                else "which shared this 2-core machine with other jobs; the per-cell seconds below are the tasks' "
                "own times)."
            )
        )
    if run.get("wall_s") is not None:
        w = run["wall_s"]
        L.append(
            f"\nWall time of the whole grid, one `python -m amemory.sweep run authors_grid` with {run['workers']} "
            f"workers from an empty store: **{w:.0f} s ({w / 3600:.2f} h)**"
            + (", nothing else running" if alone else ", sharing the machine with other jobs")
            + f". The target is at most 2 hours (7,200 s): **{'met' if w <= 7200 else 'missed'}**."
        )
    if run.get("note"):
        L.append(f"\n{run['note']}")
    tot = sum(costs["cells"].values())
    L += [
        "",
        f"Sum of the tasks' seconds: {tot:.0f} s ({tot / 3600:.2f} h of one worker; two workers ran at once).",
        "",
    ]
    L += [
        "Machine peaks, measured in the same process as the heaviest cells:",
        "",
        "| threads | memory bandwidth (GB/s) | float32 matmul (GFLOP/s) |",
        "|---|---|---|",
    ]
    L += [f"| {p['threads']} | {p['bandwidth_GBs']:.1f} | {p['matmul_GFLOPs']:.1f} |" for p in peaks]
    L += [
        "",
        "Heaviest cells (d = 1000, batch 16, 10 seeds x 4 rates at once, 6,400 steps per run):",
        "",
        "| cell | threads | s/step | s per task (6,400 steps) | GB/s (fraction of bandwidth) | GFLOP/s (fraction of "
        "matmul) | distinct tokens/step |",
        "|---|---|---|---|---|---|---|",
    ]
    pk = {p["threads"]: p for p in peaks}
    for h in heavy:
        p = pk[h["threads"]]
        L.append(
            f"| {h['cell']} | {h['threads']} | {h['s_per_step'] * 1e3:.1f} ms | {h['s_per_run']:.0f} | "
            f"{h['GB_per_s']:.1f} ({h['GB_per_s'] / p['bandwidth_GBs']:.0%}) | {h['GFLOP_per_s']:.1f} "
            f"({h['GFLOP_per_s'] / p['matmul_GFLOPs']:.0%}) | {h['mean_distinct_tokens']:.1f} |"
        )
    L += [
        "",
        "The W step moves most of its bytes through the last-level cache (one (seed, rate) pair's 4 MB gradient "
        "at a time), so the GB/s column can exceed what main memory alone would give; it is the traffic the step "
        "needs, not a DRAM measurement.",
        "",
    ]
    L += [
        "Cost of each cell (seconds the store recorded for all its seeds, summed over batch sizes in the last column):",
        "",
        "| model | optimizer | norm | d | batch 16 | 64 | 256 | 1024 | all |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    keys = sorted({k[:4] for k in costs["cells"]}, key=lambda k: (k[0], k[1], k[2], k[3]))
    for k in keys:
        vals = [costs["cells"].get((*k, b)) for b in (16, 64, 256, 1024)]
        L.append(
            f"| {' | '.join(map(str, k))} | "
            + " | ".join("-" if v is None else f"{v:.1f}" for v in vals)
            + f" | {sum(v or 0 for v in vals):.1f} |"
        )
    if published:
        L += [
            "",
            "Run for run against the authors' published errors (their finer_dim results; same seeds, same "
            "draws): a run counts as equal when the two errors agree to 1e-6.",
            "",
            "| model | optimizer | compared | equal | diverged here (their error 0.3586: NaN argmax) | mean signed "
            "difference |",
            "|---|---|---|---|---|---|",
        ]
        for (m, o), v in sorted(published.items()):
            L.append(
                f"| {m} | {o} | {v['compared']} | {v['equal']} ({v['equal'] / max(v['compared'], 1):.0%}) | "
                f"{v['diverged_here']} | {v['mean_signed_diff']:+.5f} |"
            )
    L += ["", f"<!-- /section:{SECTION} -->"]
    return "\n".join(L) + "\n"


def main(argv=None):
    global ARGS
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", default=str(ROOT / ".sweeps" / "store.sqlite"))
    ap.add_argument("--out", default=str(ROOT / "reports" / "performance.md"))
    ap.add_argument("--theirs", default=None, help="a local copy of the authors' finer_dim/all.jsonl.gz")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--wall-s", type=float, default=None, help="measured wall time of the grid's run, seconds")
    ap.add_argument("--workers", type=int, default=2, help="workers of that run")
    ap.add_argument("--alone", action="store_true", help="that run had the machine to itself")
    ap.add_argument("--note", default=None, help="a sentence added under the wall time (e.g. an earlier run)")
    ARGS = ap.parse_args(argv)
    peaks = [machine_peaks(t) for t in (1, 2)]
    heavy = [
        heavy_cell(m, o, n, t, ARGS.steps)
        for (m, o, n) in (("matrix", "adam", "l2"), ("learnable", "adam", "l2"))
        for t in (1, 2)
    ]
    costs = store_costs(ARGS.store)
    costs["run"] = {"wall_s": ARGS.wall_s, "workers": ARGS.workers, "alone": ARGS.alone, "note": ARGS.note}
    published = compare_published(ARGS.theirs) if ARGS.theirs else None
    write_section(render(peaks, heavy, costs, published), SECTION, Path(ARGS.out))  # in place, where it stands
    print(render(peaks, heavy, costs, published))


ARGS = None

if __name__ == "__main__":
    main()
