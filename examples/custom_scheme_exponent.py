"""A memory scheme of your own: q(x) = p(x)^0.5 under Zipf(1.5) data. Its error exponent in d, measured,
against the Gaussian theory's prediction of the whole curve.

Research question (open in the talks): the talks give exponents for q = p (SL2) and q = 1{x <= d/c} (SL3).
Where does a scheme in between, q = p^0.5, land, and does the Gaussian recall theory predict its curve?

    python examples/custom_scheme_exponent.py [--small] [--out fig.png]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from amemory.stats import loglog_fit
from impl.scaling import scheme_error
from theory.scaling import predicted_error


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--small", action="store_true", help="a small run (the test suite's size)")
    ap.add_argument("--out", default="custom_scheme.png")
    a = ap.parse_args(argv)
    N, alpha, M = (2000, 1.5, 5) if a.small else (20000, 1.5, 5)
    ds = [32, 64, 128] if a.small else [32, 64, 128, 256, 512]
    seeds = range(3 if a.small else 10)

    # the variation itself: a scheme is any callable (p, counts, d) -> weights
    r = scheme_error(lambda p, counts, d: p**0.5, N, alpha, ds, seeds, M=M)
    mean = r.error.mean(0).numpy()
    f, p = r.f.numpy(), r.p.numpy()
    pred = np.array([predicted_error(r.weights[k][0].numpy(), f, M, d, p) for k, d in enumerate(ds)])
    fit = loglog_fit(ds, mean)
    fit_pred = loglog_fit(ds, pred)
    for d, m, q in zip(ds, mean, pred):
        print(f"d = {d:4d}: error {m:.4f} (mean of {len(seeds)} seeds), Gaussian theory {q:.4f}")
    print(f"measured exponent {fit}; predicted by the theory's curve {fit_pred.slope:.3f}")
    print(f"theory's exponent inside the measured 95% interval: {fit.contains(fit_pred.slope)}")

    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5), layout="constrained")
    sd = r.error.std(0).numpy()
    ax.errorbar(ds, mean, yerr=sd, marker="o", capsize=3, label="measured (mean +- sd over seeds)")
    ax.plot(ds, pred, "k--", label="Gaussian theory")
    ax.set(xscale="log", yscale="log", xlabel="d", ylabel="population error", title=f"q = p^0.5, alpha = {alpha}")
    ax.set_xticks(ds, [str(d) for d in ds])
    ax.xaxis.set_minor_formatter(plt.NullFormatter())
    ax.legend()
    fig.savefig(a.out, dpi=120)
    print(f"figure: {Path(a.out).resolve()}")
    return {"fit": fit, "predicted_slope": fit_pred.slope, "error": mean, "predicted": pred}


if __name__ == "__main__":
    main()
