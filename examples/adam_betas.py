"""Adam's betas swept on the matrix model: is betas = (0, 0) (sign descent, the talk's reading of Adam) the best?

Research question (open in the talks, OD6): the talk explains Adam's advantage by its rescaling of updates, i.e.
sign descent (betas (0, 0)). Does momentum (beta1) or a second-moment average (beta2) help or hurt on the
associative memory? Each beta pair is tuned over the same rates (lr / d, as the authors scale Adam), then the
tuned errors are compared, paired over seeds.

    python examples/adam_betas.py [--small] [--out fig.png]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from amemory.stats import paired_less
from impl.dynamics import train


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--small", action="store_true", help="a small run (the test suite's size)")
    ap.add_argument("--out", default="adam_betas.png")
    a = ap.parse_args(argv)
    N, M, d, T, B = (100, 5, 20, 2048, 16) if a.small else (100, 5, 50, 20480, 16)
    lrs = [x / d for x in (0.1, 1.0, 10.0)]
    seeds = tuple(range(3 if a.small else 10))
    betas = [(0.0, 0.0), (0.9, 0.0), (0.0, 0.999), (0.9, 0.999)]
    final = {}
    for b in betas:  # the variation itself: one call per beta pair, every rate and seed batched
        r = train(N, M, d, T, lrs, seeds, batch=B, optimizer="adam", betas=b, checkpoints=1)
        final[b] = r.error[..., -1].double().numpy()  # (seeds, rates)
    tuned = {b: e[:, int(e.mean(0).argmin())] for b, e in final.items()}
    for b, e in tuned.items():
        print(f"betas {b}: tuned final error {e.mean():.4f} +- {e.std(ddof=1):.4f}")
    ref = tuned[(0.0, 0.0)]
    tests = {b: paired_less(ref, e) for b, e in tuned.items() if b != (0.0, 0.0)}
    for b, t in tests.items():
        print(f"(0, 0) better than {b}? mean difference {t.mean_diff:+.4f}, one-sided p = {t.p_value:.3g}")

    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5), layout="constrained")
    labels = [str(b) for b in betas]
    m = np.array([tuned[b].mean() for b in betas])
    s = np.array([tuned[b].std(ddof=1) for b in betas])
    ax.bar(labels, m, yerr=s, capsize=3)
    ax.set(xlabel="Adam betas", ylabel="tuned final error (mean +- sd)", title=f"N={N}, d={d}, batch {B}, T={T}")
    fig.savefig(a.out, dpi=120)
    print(f"figure: {Path(a.out).resolve()}")
    return {"tuned": tuned, "tests": tests}


if __name__ == "__main__":
    main()
