"""Sweep your own function on a local Dask cluster, resumably, and read the results back as a DataFrame.

Research question: how does the recall accuracy of a random-embedding memory with f*(z) = z mod 2 fall
with the number of stored associations N at fixed d, and where does it cross 90%? (The talk says
N ~ d for this map; here for d = 32 over a grid of N, 5 seeds.) Rerunning the script computes nothing
new: every (configuration, seed) is already in the store.

    python examples/own_sweep_to_dataframe.py [--small] [--store runs.sqlite] [--out fig.png]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from amemory.sweep import results_frame, run_sweep, task_id
from impl.embeddings import Embedding
from impl.memory import recall


@task_id("example-mod2-accuracy")  # a stable id: the stored runs survive a rename of this module
def accuracy(config: dict, seeds: tuple[int, ...]) -> list[dict]:
    """Accuracy of W = sum_z u_{z mod 2} e_z^T for N = config['N'] tokens in dimension config['d'], per seed."""
    N, d = config["N"], config["d"]
    E, U = Embedding(N, d, seeds, stream="e"), Embedding(2, d, seeds, stream="u")
    r = recall(torch.ones(N), torch.arange(N) % 2, E, U)
    return [{"accuracy": 1.0 - float(e)} for e in r.error[:, 0]]


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--small", action="store_true", help="a small grid run inline (the test suite's size)")
    ap.add_argument("--store", default="example_runs.sqlite")
    ap.add_argument("--out", default="own_sweep.png")
    a = ap.parse_args(argv)
    Ns = [16, 64, 256] if a.small else [16, 32, 64, 128, 256, 512, 1024, 2048]
    configs = [{"N": N, "d": 32} for N in Ns]
    seeds = range(2 if a.small else 5)
    run_sweep(accuracy, configs, seeds, a.store, scheduler="inline" if a.small else None, progress=False)
    df = results_frame(a.store, accuracy, configs, seeds)  # one row per (N, seed): N, d, seed, accuracy
    table = df.groupby("N")["accuracy"].agg(["mean", "std"])
    print(table.to_string(float_format="{:.3f}".format))
    above = table.index[table["mean"] >= 0.9]
    n90 = int(above.max()) if len(above) else None
    print(f"largest N with mean accuracy >= 0.9 at d = 32: {n90}")

    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5), layout="constrained")
    ax.errorbar(table.index, table["mean"], yerr=table["std"], marker="o", capsize=3, label="mean +- sd over seeds")
    ax.axhline(0.9, color="grey", ls=":", label="90%")
    ax.set(xscale="log", xlabel="stored associations N", ylabel="recall accuracy", title="z mod 2, d = 32")
    ax.set_xticks(list(table.index), [str(n) for n in table.index])
    ax.xaxis.set_minor_formatter(plt.NullFormatter())
    ax.legend()
    fig.savefig(a.out, dpi=120)
    print(f"figure: {Path(a.out).resolve()}")
    return {"table": table, "n90": n90}


if __name__ == "__main__":
    main()
