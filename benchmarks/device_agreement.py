"""CPU against CUDA on the same full-tier work: the stored rows and the verdicts, side by side.

Run (from the repository root) after a full-tier run on each device (``benchmarks/full_tier.py run`` and
``benchmarks/full_tier.py run --device cuda``, the CUDA rows dumped with ``python -m amemory.sweep dump``):

    .venv/bin/python benchmarks/device_agreement.py        # rewrite the section in reports/performance.md

It compares (a) every stored row the two devices have in common (the same configuration hash and seed: the device
is not part of a row's identity, so the rows are the same simulation), value by value, and (b) every claim
decided in both ``reports/full/results.json`` and ``reports/full-cuda/results.json``: verdict and measurement.
The stated tolerance (README, 'Devices') is what this measures, not an assumption.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script
    sys.path.insert(0, str(ROOT))

from benchmarks.full_tier import write_section  # noqa: E402

PAGE = ROOT / "reports" / "performance.md"
SECTION = "device-agreement"
CPU_ROWS = ROOT / "reports" / "full" / "store" / "capacity_curve.jsonl.gz"
GPU_ROWS = ROOT / "reports" / "full-cuda" / "store" / "capacity_curve.jsonl.gz"
CPU_RESULTS = ROOT / "reports" / "full" / "results.json"
GPU_RESULTS = ROOT / "reports" / "full-cuda" / "results.json"
# claims whose full-tier rows were computed on the H200 only: this machine's report reads the same stored rows, so
# its records agree by construction and say nothing about the devices (shown apart, not counted)
SAME_ROWS = {"TF2": "birth_run"}


def read_rows(path: Path) -> dict[tuple[str, int], dict]:
    """The rows of a sweep dump (``amemory-sweep-dump`` format), keyed by (configuration hash, seed)."""
    with gzip.open(path, "rt") as fh:
        head = json.loads(fh.readline())
        if head.get("format") != "amemory-sweep-dump":
            raise ValueError(f"path must be an amemory sweep dump, got a header {head!r} in {path}")
        rows = [json.loads(line) for line in fh if line.strip()]
    return {(r["hash"], int(r["seed"])): r for r in rows}


def compare_rows(cpu: dict, gpu: dict) -> dict:
    """Value-by-value comparison of the rows two devices have in common, overall and per dimension ``d``.

    Rows present in both because one dump took them from the other (the same finish time and seconds: one
    computation) are left out and counted in ``copied``.

    Returns ``common``, ``copied``, ``identical`` (rows equal in every value), ``values``, ``values_differ``, ``flips``
    (values that differ by more than 1e-9: a recall decision, not the rounding of the fraction), ``max_abs``
    (the largest absolute difference of a value), and ``by_d``: per ``config["d"]`` the rows, the largest
    difference and the summed seconds of the rows on each device."""
    common = sorted(set(cpu) & set(gpu))
    # a row copied from one dump into the other (the same run: same finish time and seconds) is not a comparison
    copied = [
        k
        for k in common
        if cpu[k].get("finished") is not None
        and (cpu[k]["finished"], cpu[k]["seconds"]) == (gpu[k].get("finished"), gpu[k]["seconds"])
    ]
    common = [k for k in common if k not in set(copied)]
    if not common:
        raise ValueError("cpu and gpu have no row in common: nothing to compare")
    out = {
        "common": len(common),
        "copied": len(copied),
        "identical": 0,
        "values": 0,
        "values_differ": 0,
        "flips": 0,
        "max_abs": 0.0,
    }
    by_d: dict[int, dict] = defaultdict(lambda: {"rows": 0, "max_abs": 0.0, "cpu_s": 0.0, "gpu_s": 0.0})
    for k in common:
        a = np.asarray(cpu[k]["result"], dtype=float)
        b = np.asarray(gpu[k]["result"], dtype=float)
        if a.shape != b.shape:
            raise ValueError(f"row {k} has shape {a.shape} on the CPU and {b.shape} on the GPU")
        gap = np.abs(a - b)
        diff = float(gap.max()) if a.size else 0.0
        out["identical"] += int(diff == 0.0)
        out["values"] += a.size
        out["values_differ"] += int((a != b).sum())
        out["flips"] += int((gap > 1e-9).sum())
        out["max_abs"] = max(out["max_abs"], diff)
        g = by_d[int(cpu[k]["config"]["d"])]
        g["rows"] += 1
        g["max_abs"] = max(g["max_abs"], diff)
        g["cpu_s"] += float(cpu[k]["seconds"])
        g["gpu_s"] += float(gpu[k]["seconds"])
    out["by_d"] = dict(sorted(by_d.items()))
    return out


_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?")


def differing_numbers(a: str, b: str) -> list[tuple[str, str]]:
    """The numbers that differ between two measurement texts of the same shape, in order (here, there)."""
    na, nb = _NUMBER.findall(a), _NUMBER.findall(b)
    if len(na) != len(nb):
        return [(a, b)]
    return [(x, y) for x, y in zip(na, nb) if x != y]


def compare_claims(cpu: dict, gpu: dict) -> list[tuple[str, str, str, list]]:
    """(claim, CPU verdict, GPU verdict, the numbers that differ in its records' measurements) for every claim
    decided on both devices."""
    rows = []
    for cid, c in cpu["claims"].items():
        if cid in SAME_ROWS:
            continue
        g = gpu["claims"].get(cid)
        if not g or not c.get("records") or not g.get("records"):
            continue
        diff = [
            d for r, q in zip(c["records"], g["records"]) for d in differing_numbers(r["measurement"], q["measurement"])
        ]
        if len(c["records"]) != len(g["records"]):
            diff.append(("records", "records"))
        rows.append((cid, c["verdict"], g["verdict"], diff))
    return rows


def render(rows: dict, claims: list) -> str:
    """The section of reports/performance.md."""
    L = [
        f"<!-- section:{SECTION} -->",
        "## 7. CPU against CUDA",
        "",
        "Written by `benchmarks/device_agreement.py` from the committed rows and reports of both devices (this "
        "machine's full tier and one H200's, section 6).",
        "",
        f"**Stored rows** (AM3's and AM4's capacity curves, float32 recall, the same embeddings on both devices): "
        f"{rows['common']} (d, seed) rows computed on both, {rows['identical']} identical in every value "
        f"({rows['copied']} more are in both dumps because this machine's took them from the H200's: not compared); "
        f"{rows['values_differ']} of {rows['values']} accuracies differ, most in the rounding of the fraction "
        f"(1e-16); {rows['flips']} differ by more than 1e-9, by at most {rows['max_abs']:.3g}, i.e. one recalled "
        "token of a curve's largest N: float32 scores whose two best values lie within rounding of each other can "
        "be ordered differently on the two devices (matrix products sum in another order).",
        "",
        "| d | rows | largest difference | row seconds here | row seconds on the H200 | here / H200 |",
        "|---|---|---|---|---|---|",
    ]
    for d, g in rows["by_d"].items():
        L.append(
            f"| {d} | {g['rows']} | {g['max_abs']:.3g} | {g['cpu_s']:.1f} | {g['gpu_s']:.1f} | "
            f"{g['cpu_s'] / g['gpu_s']:.2g}x |"
        )
    same_v = sum(1 for _, a, b, _ in claims if a == b)
    same_m = sum(1 for *_, m in claims if not m)
    L += [
        "",
        f"**Verdicts**: {len(claims)} claims decided on both devices; {same_v} have the same verdict, {same_m} the "
        "same measurements in every record to the printed digits.",
        "",
        "| claim | here | on the H200 | measurements (numbers that differ: here / H200) |",
        "|---|---|---|---|",
    ]
    L += [
        f"| {cid} | {a} | {b} | " + ("identical" if not m else ", ".join(f"{x} / {y}" for x, y in m)) + " |"
        for cid, a, b, m in claims
    ]
    L += [
        "",
        "Not compared: "
        + ", ".join(
            f"{cid} (its `{task}` rows were computed on the H200 only; here they are read from the store)"
            for cid, task in SAME_ROWS.items()
        )
        + ".",
        "",
        f"<!-- /section:{SECTION} -->",
    ]
    return "\n".join(L) + "\n"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--print", action="store_true", help="print the section instead of writing it")
    args = ap.parse_args(argv)
    rows = compare_rows(read_rows(CPU_ROWS), read_rows(GPU_ROWS))
    claims = compare_claims(json.loads(CPU_RESULTS.read_text()), json.loads(GPU_RESULTS.read_text()))
    text = render(rows, claims)
    if args.print:
        print(text)
    else:
        write_section(text, SECTION, PAGE)


if __name__ == "__main__":
    main()
