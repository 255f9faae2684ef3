"""A learning-rate schedule of your own: step decay against cosine, for SGD on the associative memory.

Research question (left open in the talks, OD9): at d <= N a decaying rate helps late in training; does the
shape of the decay matter? Step decay (x0.1 at 1/3 and 2/3 of training) against cosine, both tuned over the same
rates, paired over seeds (same embeddings and samples per seed).

    python examples/step_decay_vs_cosine.py [--small] [--out fig.png]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from amemory.stats import paired_less
from impl.dynamics import train


def step_decay(step: int, steps: int) -> float:
    """0.1^(number of thirds of training done): 1, 0.1, 0.01."""
    return 0.1 ** (3 * step // steps)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--small", action="store_true", help="a small run (the test suite's size)")
    ap.add_argument("--out", default="step_decay.png")
    a = ap.parse_args(argv)
    N, M, d, T = (100, 5, 20, 3000) if a.small else (100, 5, 20, 30000)
    lrs, seeds = [1.0, 10.0, 100.0, 1000.0], tuple(range(4 if a.small else 10))
    common = dict(batch=1, checkpoints=10, alpha=2.0)
    # the variation itself: a schedule is any callable (step, steps) -> factor
    runs = {
        name: train(N, M, d, T, lrs, seeds, schedule=s, **common)
        for name, s in (("step decay", step_decay), ("cosine", "cosine"))
    }
    final = {k: r.error[..., -1].double().numpy() for k, r in runs.items()}  # (seeds, rates)
    best = {k: int(v.mean(0).argmin()) for k, v in final.items()}
    for k in runs:
        print(f"{k}: best rate {lrs[best[k]]}, final error {final[k][:, best[k]].mean():.4f}")
    test = paired_less(final["step decay"][:, best["step decay"]], final["cosine"][:, best["cosine"]])
    print(
        f"step decay - cosine: mean difference {test.mean_diff:+.4f}, 95% CI [{test.ci[0]:.4f}, {test.ci[1]:.4f}], "
        f"one-sided p = {test.p_value:.3g} ({test.wins}/{test.n} seeds better)"
    )

    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5), layout="constrained")
    for k, r in runs.items():
        e = r.error[:, best[k]].double()
        ax.plot(r.checkpoints, e.mean(0), label=f"{k} (lr {lrs[best[k]]})")
        ax.fill_between(r.checkpoints, e.min(0).values, e.max(0).values, alpha=0.2)
    ax.set(xscale="log", xlabel="samples T", ylabel="population error", title=f"SGD, N={N}, d={d} (band: min-max)")
    ax.xaxis.set_minor_formatter(plt.NullFormatter())
    ax.legend()
    fig.savefig(a.out, dpi=120)
    print(f"figure: {Path(a.out).resolve()}")
    return {"final": final, "test": test}


if __name__ == "__main__":
    main()
