"""The full tier, family by family: run it, measure its cost, and write the cost table of reports/performance.md.

Run (from the repository root; resumable: a family's stored runs are kept in the sweep store, and a family that
finished is skipped unless ``--again``):

    .venv/bin/python benchmarks/full_tier.py run [--families memory gradients ...] [--threads 2] [--device cpu]
    .venv/bin/python benchmarks/full_tier.py section        # rewrite the table in reports/performance.md

``run`` starts ``python -m pytest checks/test_<family>.py --scale full --report-dir reports/full`` in a child
process per family (so each family's report merges into ``reports/full/``, every record marked with its run),
measures its wall time and peak resident memory (``os.wait4``: the child's maximum RSS) and appends them to
``reports/full/costs.json``. ``section`` renders that file into the ``full-tier`` section of
``reports/performance.md``: per family the wall time, the peak memory, the claims it decided, and a projection of
the time on one GPU (see :func:`render`), with the one command that runs the whole full tier on a CUDA machine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FAMILIES = ("memory", "gradients", "scaling", "dynamics", "gd", "capacity", "transformer", "factual")
COSTS = ROOT / "reports" / "full" / "costs.json"
PAGE = ROOT / "reports" / "performance.md"
SECTION = "full-tier"

# The GPU projection's assumptions (not measured here: this machine has no GPU). The simulators' heavy kernels are
# bound by memory traffic (benchmarks/authors_grid_perf.py measures 64-90% of this machine's bandwidth in the heaviest
# cells, 19-23% of its matmul peak), so the projection scales the measured CPU time by the ratio of memory
# bandwidths: this machine's measured 50.6 GB/s (2 threads, reports/performance.md section 5) against 4,800 GB/s
# (the HBM3e bandwidth of one H200) at the same 60% efficiency. Steps too small to fill a GPU do not speed up that
# much, so the table also gives the measured time divided by 10 as a pessimistic bound.
CPU_GBS = 50.6
GPU_GBS = 4800.0


def _git(*args: str) -> str:
    r = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
    return r.stdout.strip() if r.returncode == 0 else "unknown"


def _load() -> dict:
    return json.loads(COSTS.read_text()) if COSTS.exists() else {"families": {}}


def _claims(family: str) -> dict:
    """Verdicts of the family's claims in reports/full/results.json (whatever run wrote them)."""
    path = ROOT / "reports" / "full" / "results.json"
    if not path.exists():
        return {}
    prefix = {
        "memory": "AM",
        "gradients": "GM",
        "scaling": "SL",
        "dynamics": "OD",
        "gd": "GD",
        "capacity": "CP",
        "transformer": "TF",
        "factual": "FR",
    }[family]
    claims = json.loads(path.read_text()).get("claims", {})
    return {k: v.get("verdict") for k, v in claims.items() if k.startswith(prefix)}


def run_family(family: str, threads: int, device: str, extra: list[str]) -> dict:
    """Run one family's full tier in a child process; its wall time, peak RSS, exit status and pytest summary."""
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        f"checks/test_{family}.py",
        "--scale",
        "full",
        "--device",
        device,
        "--report-dir",
        "reports/full",
        "-q",
        "-p",
        "no:cacheprovider",
        *extra,
    ]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    log = ROOT / "reports" / "full" / "logs" / f"{family}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    t0, started = time.perf_counter(), dt.datetime.now().isoformat(timespec="seconds")
    with open(log, "w") as fh:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
    rc = os.waitstatus_to_exitcode(status)
    summary = [ln for ln in log.read_text().splitlines() if " in " in ln and ("passed" in ln or "failed" in ln)]
    return {
        "family": family,
        "command": " ".join(cmd[2:]),
        "threads": threads,
        "device": device,
        "commit": _git("rev-parse", "--short", "HEAD"),
        "started": started,
        "wall_s": round(time.perf_counter() - t0, 1),
        "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
        "rc": rc,
        "pytest": summary[-1].strip("= ") if summary else "",
        "claims": _claims(family),
    }


def cmd_run(args) -> None:
    for f in args.families:
        if f not in FAMILIES:
            raise SystemExit(f"--families: {f!r} is not one of {', '.join(FAMILIES)}")
    if args.threads < 1:
        raise SystemExit(f"--threads must be >= 1, got {args.threads}")
    for family in args.families:
        costs = _load()
        done = costs["families"].get(family)
        if done and done.get("rc") == 0 and not args.again:
            print(f"[full-tier] {family}: done at {done['commit']} ({done['wall_s']} s), skipped (--again reruns)")
            continue
        print(f"[full-tier] {family}: running (log reports/full/logs/{family}.log)", flush=True)
        res = run_family(family, args.threads, args.device, args.pytest_args)
        costs = _load()  # another driver may have written meanwhile
        costs["families"][family] = res
        COSTS.parent.mkdir(parents=True, exist_ok=True)
        COSTS.write_text(json.dumps(costs, indent=1, sort_keys=True) + "\n")
        print(
            f"[full-tier] {family}: rc {res['rc']}, {res['wall_s']} s, peak {res['peak_rss_mib']} MiB; {res['pytest']}",
            flush=True,
        )


def _hms(s: float) -> str:
    s = int(round(s))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def render(costs: dict) -> str:
    """The section: per family the measured wall time and peak memory on this machine, the claims decided, and
    the projected time on one GPU (bandwidth ratio; the pessimistic bound is the time / 10). ``costs["notes"]``
    (family -> text, written by hand) says what happened to a family that has no finished run."""
    speed = GPU_GBS / CPU_GBS
    L = [
        f"<!-- section:{SECTION} -->",
        "## 6. The full tier, family by family",
        "",
        "Measured by `benchmarks/full_tier.py run` (one child process per family: "
        "`pytest checks/test_<family>.py --scale full`); peak memory is the child's maximum resident set.",
        "",
        "| family | status | wall time (h:mm:ss) | peak memory (MiB) | threads | commit | claims decided | "
        "projected on one H200 | pessimistic |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    total = 0.0
    for family in FAMILIES:
        r = costs["families"].get(family)
        note = costs.get("notes", {}).get(family)
        if r is None:
            L.append(f"| {family} | not run here yet{': ' + note if note else ''} | | | | | | | |")
            continue
        status = "finished" if r["rc"] == 0 else f"exit {r['rc']} ({r['pytest'] or 'see its log'})"
        claims = ", ".join(f"{k} {v}" for k, v in sorted(r["claims"].items())) or "none"
        total += r["wall_s"] if r["rc"] == 0 else 0.0
        L.append(
            f"| {family} | {status} | {_hms(r['wall_s'])} | {r['peak_rss_mib']:.0f} | {r['threads']} | "
            f"{r['commit']} | {claims} | {_hms(r['wall_s'] / speed)} | {_hms(r['wall_s'] / 10)} |"
        )
    L += [
        "",
        f"Finished families: {_hms(total)} of wall time on this machine.",
        "",
        f"Projection: the heavy kernels are bound by memory traffic (section 5 measures 64-90% of this machine's "
        f"bandwidth in the optimiser grid's heaviest cells, about 20% of its matmul peak), so the projected GPU time "
        f"is the measured time x {CPU_GBS} / {GPU_GBS:.0f} (this machine's measured GB/s against one H200's HBM "
        f"bandwidth, the same efficiency on both): about {speed:.0f} times faster. Small steps do not fill a GPU, so "
        "the pessimistic column assumes only 10 times. Neither is measured: no GPU was available.",
        "",
        "The whole full tier on a CUDA machine, in one go (resumable: rerun the same command after a stop):",
        "",
        "```",
        "python -m venv .venv && .venv/bin/pip install torch==2.13.0 -e '.[dev]'",
        "OMP_NUM_THREADS=8 .venv/bin/python -m pytest checks/ --scale full --device cuda",
        "```",
        "",
        "or family by family with the costs recorded here: "
        "`.venv/bin/python benchmarks/full_tier.py run --device cuda --threads 8`.",
        "",
        f"<!-- /section:{SECTION} -->",
    ]
    return "\n".join(L) + "\n"


def write_section(text: str) -> None:
    page = PAGE.read_text() if PAGE.exists() else "# Performance\n"
    a, b = f"<!-- section:{SECTION} -->", f"<!-- /section:{SECTION} -->"
    if a in page:
        page = page[: page.index(a)] + text.rstrip("\n") + page[page.index(b) + len(b) :]
    else:
        page = page.rstrip("\n") + "\n\n" + text
    PAGE.write_text(page)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="run families' full tier and record their cost")
    r.add_argument("--families", nargs="+", default=list(FAMILIES), help="families, in order (default all)")
    r.add_argument("--threads", type=int, default=2, help="torch/OpenMP threads of the child (default 2)")
    r.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    r.add_argument("--again", action="store_true", help="rerun families that already finished")
    r.add_argument("pytest_args", nargs="*", help="more pytest arguments (after --)")
    sub.add_parser("section", help="write the cost table into reports/performance.md")
    args = ap.parse_args(argv)
    if args.cmd == "run":
        cmd_run(args)
    else:
        write_section(render(_load()))


if __name__ == "__main__":
    main()
