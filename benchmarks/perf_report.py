"""Performance page: measured side by side in one process, written to reports/performance.md.

Run:  .venv/bin/python benchmarks/perf_report.py            (about 3 minutes on 2 CPU cores)

1. Population-error kernel (impl.memory.recall, injective map, M = N) throughput as a fraction of a plain
   torch.matmul with the same total FLOPs (target >= 0.6 at d >= 256).
2. Batch-1 SGD trainer of impl.dynamics against a plain per-step autograd loop (target >= 20x).
3. A 10-seed sweep batched against the same seeds run one by one (target >= 5x).
4. Peak resident memory of evaluating N = 10^6 tokens at d = 1024 (target <= 4 GiB), in a fresh process.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent


def best_of(fn, *args, repeat: int = 3) -> float:
    """Best wall-clock time in seconds of ``fn(*args)`` over ``repeat`` calls, after one warm-up call."""
    fn(*args)  # warm-up
    ts = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn(*args)
        ts.append(time.perf_counter() - t)
    return min(ts)


def kernel_throughput(N: int = 8192, ds=(256, 512, 1024)) -> list[dict]:
    from impl.embeddings import Embedding
    from impl.memory import recall

    rows = []
    for d in ds:
        E, U = Embedding(N, d, (0,), stream="e"), Embedding(N, d, (0,), stream="u")
        q, f = torch.ones(N), torch.arange(N)
        t_k = best_of(recall, q, f, E, U)
        flops = 2 * N * N * d + 4 * N * d * d  # scores E A^T, plus W = U^T V and A = U W
        a = torch.randn(N, d)
        b = torch.randn(d, N)
        t_m = best_of(torch.matmul, a, b)
        mm_flops = 2 * N * N * d
        frac = (flops / t_k) / (mm_flops / t_m)
        rows.append(
            dict(
                N=N,
                d=d,
                kernel_s=t_k,
                matmul_s=t_m,
                kernel_gflops=flops / t_k / 1e9,
                matmul_gflops=mm_flops / t_m / 1e9,
                fraction=frac,
                target=0.6,
                ok=frac >= 0.6,
            )
        )
    return rows


def trainer_speedup() -> dict:
    from benchmarks.helpers import benchmark_batch1_speedup

    return benchmark_batch1_speedup()


def sweep_speedup() -> dict:
    from benchmarks.helpers import benchmark_seed_batching

    return benchmark_seed_batching()


_PEAK_CHILD = r"""
import resource, sys, time, torch
from impl.embeddings import Embedding
from impl.memory import recall
N, d, M = 10**6, 1024, 5
x = torch.arange(1, N + 1, dtype=torch.float64)
p = x**-2.0
p /= p.sum()
t = time.perf_counter()
r = recall(p, torch.arange(N) % M, Embedding(N, d, (0,), stream="e"), Embedding(M, d, (0,), stream="u"), p)
el = time.perf_counter() - t
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, el, float(r.error[0, 0]))
"""


def peak_memory() -> dict:
    out = subprocess.run([sys.executable, "-c", _PEAK_CHILD], capture_output=True, text=True, cwd=ROOT, check=True)
    kib, secs, err = out.stdout.split()
    gib = int(kib) / 2**20
    return dict(
        N=10**6, d=1024, M=5, peak_rss_gib=gib, seconds=float(secs), error=float(err), target_gib=4.0, ok=gib <= 4.0
    )


def kept_sections(path: Path) -> str:
    """The sections other scripts wrote into the page (between ``<!-- section:NAME -->`` and
    ``<!-- /section:NAME -->``, e.g. benchmarks/authors_grid_perf.py), kept when this script rewrites it."""
    import re

    if not path.exists():
        return ""
    blocks = re.findall(r"<!-- section:([\w-]+) -->.*?<!-- /section:\1 -->\n?", path.read_text(), flags=re.S)
    text = path.read_text()
    out = []
    for name in dict.fromkeys(blocks):
        a, b = f"<!-- section:{name} -->", f"<!-- /section:{name} -->"
        out.append(text[text.index(a) : text.index(b) + len(b)])
    return "".join("\n" + o + "\n" for o in out)


def render(res: dict) -> str:
    L = [
        "# Performance",
        "",
        f"Measured by `python benchmarks/perf_report.py` on {res['machine']} "
        f"({res['threads']} torch threads, torch {res['torch']}), {res['date']}.",
        "",
        "## 1. Population-error kernel vs a plain matmul of the same FLOPs",
        "",
        "| N = M | d | kernel s | matmul s | kernel GFLOP/s | matmul GFLOP/s | fraction | target |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in res["kernel"]:
        L.append(
            f"| {r['N']} | {r['d']} | {r['kernel_s']:.3f} | {r['matmul_s']:.3f} | {r['kernel_gflops']:.1f} | "
            f"{r['matmul_gflops']:.1f} | **{r['fraction']:.2f}** | >= 0.6 {'ok' if r['ok'] else 'MISSED'} |"
        )
    L += [
        "",
        "The kernel generates the embeddings, builds W = U^T V, A = U W, scores every token in chunks and takes the "
        "strict argmax; the matmul is one product of the same shape as the scoring step.",
        "",
    ]
    for key, title in (
        ("trainer", "2. Batch-1 trainer vs a per-step autograd loop"),
        ("sweep", "3. 10-seed sweep: batched vs one by one"),
    ):
        L += [f"## {title}", ""]
        r = res[key]
        verdict = "ok" if r["speedup"] >= r["target"] else "MISSED"
        L += [f"**{r['speedup']:.1f}x** (target >= {r['target']:.0f}x: {verdict})", ""]
        L += (
            ["| quantity | value |", "|---|---|"]
            + [f"| {k} | {v:.4g} |" if isinstance(v, float) else f"| {k} | {v} |" for k, v in r.items()]
            + [""]
        )
    m = res["memory"]
    L += [
        "## 4. Peak memory of one evaluation at N = 10^6, d = 1024",
        "",
        f"Peak resident set of a fresh process (Python + torch included): **{m['peak_rss_gib']:.2f} GiB** "
        f"(target <= 4 GiB: {'ok' if m['ok'] else 'MISSED'}); time {m['seconds']:.1f} s; M = {m['M']}, q = p Zipf(2), "
        f"population error {m['error']:.4f}.",
        "",
    ]
    return "\n".join(L) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "reports" / "performance.md"))
    ap.add_argument("--skip-memory", action="store_true", help="skip the N = 10^6 peak-memory measurement")
    a = ap.parse_args(argv)
    res = {
        "machine": platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }
    res["kernel"] = kernel_throughput()
    res["trainer"] = trainer_speedup()
    res["sweep"] = sweep_speedup()
    res["memory"] = (
        peak_memory()
        if not a.skip_memory
        else {"peak_rss_gib": float("nan"), "ok": False, "seconds": 0.0, "M": 5, "error": float("nan")}
    )
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(res) + kept_sections(out))
    out.with_suffix(".json").write_text(json.dumps(res, indent=1, default=str) + "\n")
    print(render(res))


if __name__ == "__main__":
    if str(ROOT) not in sys.path:  # run as a script: make the `benchmarks` package importable
        sys.path.insert(0, str(ROOT))
    main()
