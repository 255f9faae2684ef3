"""Verdict stability under fresh seeds (issue #19, item 8): rerun the claim checks with K new seed bases and
report, per claim, how often the verdict stays the same and how the deciding measurement spreads.

Usage (from the project root)::

    python checks/stability.py run    --k 5 [--families memory,gd] [--scale fast] [--store .sweeps/stability.sqlite]
                                      [--only-bases 4,5]
    python checks/stability.py report [--k 5] [--out reports/stability.md]

``run`` goes through the sweep store: one row per (family, seed base), so a stopped run resumes where it
stopped and two drivers on one store split the work (by families, or by seed bases with ``--only-bases``).
Each row is one ``pytest checks/test_<family>.py --seed-base B --hypothesis-seed B`` in a subprocess, into a
temporary report directory (the committed report is never touched); the row keeps what that run recorded (every
claim's verdict, every record's estimate, interval and negative control) and pytest's exit status, so a check
that errors under a seed draw is counted, not hidden. The fresh seed bases are 1..K (base 0 is the committed
report's fixed seeds); they were fixed before any rerun was looked at. The configuration holds the commit of
the code, so rows of other code are never mixed in; ``report`` reads the rows of the current commit
(``--commit`` to choose another). One exception, checked, not assumed: a family whose code is byte-identical at
an earlier commit (``git diff --quiet`` over ``amemory/``, ``impl/``, ``theory/``, ``checks/`` and
``pyproject.toml``, the other families' check files excepted: :func:`same_code`) reuses that commit's rows, in
``run`` (it is not rerun) and in ``report`` (which names the commits the rows came from), so that a change to
one family's check reruns that family only.

``report`` writes ``reports/stability.md`` (and ``reports/stability.json``): per claim the committed verdict,
the verdicts of the K reruns, the share that kept the committed verdict against the target (95%), and for the
headline record the estimates' mean and sd across reruns, the mean half-width of its 95% interval, the
coverage of the pooled mean by the reruns' intervals, and whether every negative control rejected.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FAMILIES = ("memory", "gradients", "scaling", "dynamics", "gd", "capacity", "transformer", "factual")
TASK = "checks.stability:family_run"
VERSION = "1"
TARGET = 0.95
POWER = 0.99  # issue #19: every negative control rejects with probability >= 99% under fresh seeds
# Why a claim stays below the target after the remedies (more seeds, larger sizes, calibrated intervals) were
# tried: written from the measurements named in each text, shown in the report only while the claim is below it.
WHY: dict[str, str] = {
    "SL1": "one miss in five of a calibrated 95% containment test of a true prediction (probability 0.23 at a 95% "
    "keep rate). At seed base 4 the slope of the seed-mean unseen mass, -0.485 [-0.498, -0.473], misses the exact "
    "finite-N slope -0.4986 by 0.001; over bases 0-5 the estimates average -0.498 (sd 0.007), so no bias is left "
    "since the estimator was matched to the prediction (the mean per-seed log slope sat 0.9 standard errors off and "
    "failed at the same base). More seeds narrow the interval but leave a containment test's 5% miss rate as it "
    "is; the verdict stays reproduced.",
    "SL3": "one miss in five of a calibrated 95% containment test (probability 0.23 at a 95% keep rate): at seed "
    "base 3 the interval [-0.984, -0.941] ends 0.0002 short of the finite-N slope -0.9838. Over bases 0-5 the "
    "estimates average -0.980 (sd 0.018) against a within-run standard error of about 0.011 (40 seeds of the same "
    "simulation: per-seed slope sd 0.034, so 0.012 for 8 seeds); an sd from six values can be 1.6x its true value "
    "by chance. The verdict stays reproduced.",
}
PREFIX = {"AM": "memory", "GM": "gradients", "SL": "scaling", "OD": "dynamics", "GD": "gd", "CP": "capacity"}
PREFIX |= {"TF": "transformer", "FR": "factual"}


def git_commit(root: Path = ROOT) -> str:
    """The commit of the code under ``root`` (all 40 hex digits), with ``+dirty`` when tracked files outside
    ``reports/`` differ from it: the same rule as the report's commit label (``amemory.provenance``), so a
    checkout whose only changes are regenerated reports is the commit's code and reuses its rows."""
    from amemory.provenance import git_commit as _commit

    return _commit(root, ignore=("reports",))


def _summarise(results: dict) -> dict:
    """The part of one run's results.json that the stability report needs."""
    out = {}
    for cid, c in results.get("claims", {}).items():
        if not c.get("records") and not c.get("failed_tests"):
            continue  # a claim of another family (not run here)
        recs = []
        for r in c.get("records", []):
            nc = r.get("negative_control") or {}
            recs.append(
                {
                    "test": r.get("test"),
                    "role": r.get("role"),
                    "verdict": r.get("verdict"),
                    "estimate": r.get("estimate"),
                    "interval": r.get("interval"),
                    "interval_of": r.get("interval_of"),
                    "nc_rejected": nc.get("rejected") if isinstance(nc, dict) else None,
                    "nc_margin": nc.get("margin_se") if isinstance(nc, dict) else None,
                }
            )
        out[cid] = {"verdict": c.get("verdict"), "failed_tests": c.get("failed_tests", []), "records": recs}
    return out


def family_run(config: dict, seeds) -> list[dict]:
    """The sweep task: for each seed base, run one family's checks in a subprocess and summarise the run.

    ``config``: ``{"family": name, "scale": "fast"|"full", "commit": sha}``; the commit must be the code
    under ``ROOT`` (a row is about the code that made it).
    """
    fam, scale = config["family"], config["scale"]
    if fam not in FAMILIES:
        raise ValueError(f"family must be one of {FAMILIES}, got {fam!r}")
    here = git_commit()
    if here != config["commit"]:
        raise ValueError(f"the code under {ROOT} is {here}, not the configuration's commit {config['commit']}")
    out = []
    for base in seeds:
        with tempfile.TemporaryDirectory(prefix=f"stab-{fam}-{base}-") as tmp:
            cmd = [
                sys.executable,
                "-m",
                "pytest",
                f"checks/test_{fam}.py",
                "-q",
                "-p",
                "no:cacheprovider",
                f"--scale={scale}",
                f"--seed-base={base}",
                f"--hypothesis-seed={base}",
                f"--report-dir={tmp}/report",
                f"--sweep-store={tmp}/store.sqlite",
                "--dask-scheduler=inline",
            ]
            t0 = time.perf_counter()
            proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
            secs = time.perf_counter() - t0
            res_path = Path(tmp) / "report" / "results.json"
            results = json.loads(res_path.read_text()) if res_path.exists() else {}
            out.append(
                {
                    "family": fam,
                    "seed_base": base,
                    "rc": proc.returncode,
                    "seconds": round(secs, 1),
                    "claims": _summarise(results),
                    "tail": (proc.stdout + proc.stderr)[-3000:] if proc.returncode != 0 else "",
                }
            )
        print(f"[stability] {fam} seed base {base}: rc {proc.returncode}, {secs:.0f} s", flush=True)
    return out


def _configs(families, scale: str, commit: str) -> list[dict]:
    return [{"family": f, "scale": scale, "commit": commit} for f in families]


def family_paths(family: str) -> list[str]:
    """Git pathspecs of the code a family's rerun depends on: the package, the simulators, the theory, every file
    under ``checks/`` (the shared fixtures, statistics and plotting included) and ``pyproject.toml``; only the
    other families' check files and this driver are left out."""
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {FAMILIES}, got {family!r}")
    others = [f":(exclude)checks/test_{f}.py" for f in FAMILIES if f != family]
    return ["amemory", "impl", "theory", "checks", "pyproject.toml", *others, ":(exclude)checks/stability.py"]


def same_code(old: str, new: str, family: str, root: Path = ROOT) -> bool:
    """Is the code a family's rerun depends on (:func:`family_paths`) byte-identical at commits ``old`` and
    ``new``? A commit with uncommitted changes (``+dirty``) is never the same code."""
    if old.endswith("+dirty") or new.endswith("+dirty"):
        return False
    if old == new:
        return True
    proc = subprocess.run(["git", "diff", "--quiet", old, new, "--", *family_paths(family)], cwd=root)
    return proc.returncode == 0


def reusable_rows(store_rows: list[dict], family: str, scale: str, commit: str, bases, root: Path = ROOT):
    """The stored rows to use for ``family`` at ``commit``: its own rows, else, base by base, the rows of an
    earlier commit whose code for this family is byte-identical (:func:`same_code`).

    ``store_rows``: the store's rows of this task (``Store.table``). Returns ``{base: (commit_of_row, result)}``.
    """
    by_commit: dict[str, dict[int, dict]] = {}
    for r in store_rows:
        c = r["config"]
        if c.get("family") == family and c.get("scale") == scale:
            by_commit.setdefault(c["commit"], {})[int(r["seed"])] = r["result"]
    out = {b: (commit, res) for b, res in by_commit.get(commit, {}).items() if b in bases}
    others = [c for c in by_commit if c != commit]
    for c in others:
        need = [b for b in bases if b not in out and b in by_commit[c]]
        if need and same_code(c, commit, family, root):
            out.update({b: (c, by_commit[c][b]) for b in need})
    return out


def _headline(c: dict) -> dict | None:
    """The claim's headline record: the first deciding record whose own verdict is the claim's."""
    dec = [r for r in c["records"] if r["role"] == "decides"]
    for r in dec:
        if r["verdict"] == c["verdict"]:
            return r
    return dec[0] if dec else (c["records"][0] if c["records"] else None)


def _num(x) -> bool:
    """A finite number (JSON keeps -inf as a string in some records)."""
    try:
        return x is not None and not isinstance(x, bool) and abs(float(x)) < float("inf")
    except (TypeError, ValueError):
        return False


def _finite_iv(iv) -> bool:
    """A two-sided interval with finite ends (a one-sided interval has no coverage to count)."""
    return isinstance(iv, (list, tuple)) and len(iv) == 2 and all(_num(v) for v in iv)


def _margin(r: dict):
    """A record's negative-control margin in SEs (``margin_se``), from a summarised or a results.json record."""
    if "nc_margin" in r:
        return r["nc_margin"]
    nc = r.get("negative_control")
    return nc.get("margin_se") if isinstance(nc, dict) else None


def control_power(margins) -> float | None:
    """Estimated probability that a negative control rejects under fresh seeds, from its margins over the committed
    run and the reruns: Phi(mean margin).

    A margin (``amemory.stats.control_margin``) is the control's statistic minus its threshold in units of the
    statistic's own standard error, so under a calibrated interval the statistic has sd about 1 in those units and
    P(reject) = Phi(E[margin]); the mean over runs estimates E[margin]. The runs' sd of the margins is not used as
    the scale: it also carries the noise of each run's SE estimate, which grows with the margin (a noncentral t) and
    would make a control 100 SEs away look uncertain, while such a control never fails (e.g. AM4's margins 68-261).
    Caveat: with few degrees of freedom (a t interval from a handful of seeds or points) the statistic's sd is above
    1 SE and Phi(mean) is optimistic where it matters: a margin of 2.33 means a power of 0.961 at 4 df, 0.983 at 10,
    0.989 at 39 (noncentral t), and 99% needs a margin of about 3.2 at 4 df, 2.6 at 10.

    Parameters
    ----------
    margins : sequence of float
        The control's margins, one per run (base 0 and the reruns); non-numbers are skipped.

    Returns
    -------
    float or None
        The estimated power, in [0, 1]; None with fewer than two margins.
    """
    import numpy as np
    from scipy.stats import norm

    m = np.asarray([float(x) for x in margins if _num(x)])
    if m.size < 2:
        return None
    return float(norm.cdf(m.mean()))


def _power_cell(p) -> str:
    if p is None:
        return "-"
    return ">0.9999" if p > 0.9999 else (f"**{p:.3g}**" if p < POWER else f"{p:.4f}")


def _fmt(x, nd=4) -> str:
    return "-" if x is None else f"{x:.{nd}g}"


def build_report(rows: list[dict], committed: dict, k: int, commit: str, scale: str) -> tuple[str, dict]:
    """The stability page and its JSON from the stored rows (one per family and seed base)."""
    import numpy as np
    from scipy.stats import binom

    claims: dict[str, dict] = {}
    runs: dict[int, dict] = {}
    ran = {(row["family"], row["seed_base"]) for row in rows}
    for row in rows:
        runs.setdefault(row["seed_base"], {"rc": 0, "seconds": 0.0, "families": 0})
        runs[row["seed_base"]]["rc"] = max(runs[row["seed_base"]]["rc"], row["rc"])
        runs[row["seed_base"]]["seconds"] += row["seconds"]
        runs[row["seed_base"]]["families"] += 1
        for cid, c in row["claims"].items():
            claims.setdefault(cid, {})[row["seed_base"]] = c
    bases = sorted(runs)
    table = []
    out_json: dict = {"commit": commit, "scale": scale, "seed_bases": bases, "target": TARGET, "claims": {}}
    below: list[str] = []
    low_power: list[str] = []
    fams_ran = {row["family"] for row in rows}
    for cid in sorted(committed, key=lambda s: (s[:2], int(s[2:]))):
        if PREFIX[cid[:2]] not in fams_ran:
            continue  # a family not rerun (a partial report): its claims are not counted or shown
        ref = committed[cid]["verdict"]
        per = claims.get(cid, {})
        verdicts = [
            per[b]["verdict"] if b in per else ("errored" if (PREFIX[cid[:2]], b) in ran else "missing") for b in bases
        ]
        kept = sum(v == ref for v in verdicts)
        share = kept / len(bases) if bases else float("nan")
        heads = [_headline(per[b]) for b in bases if b in per]
        ref_head = _headline(committed[cid])
        est = [float(h["estimate"]) for h in heads if h and _num(h.get("estimate"))]
        ivs = [
            [float(v) for v in h["interval"]] for h in heads if h and h.get("interval") and _finite_iv(h["interval"])
        ]
        pooled = float(np.mean(est)) if est else None
        cover = sum(lo <= pooled <= hi for lo, hi in ivs) / len(ivs) if pooled is not None and ivs else None
        halfw = float(np.mean([(hi - lo) / 2 for lo, hi in ivs])) if ivs else None
        sd = float(np.std(est, ddof=1)) if len(est) > 1 else None
        ncs = [  # a refuted record's control is often the reverse prediction, which its refutation confirms
            r["nc_rejected"]
            for b in bases
            if b in per
            for r in per[b]["records"]
            if r["nc_rejected"] is not None and r["verdict"] != "refuted"
        ]
        # control power: per record (by its place in the claim's records), its margins at base 0 and the reruns;
        # only records that decide, carry the claim's own verdict at base 0 and are not refuted: a refuted record's
        # control is often the reverse prediction, which cannot reject by design (its verdict rests on the
        # rejection of the claim itself), and a deciding record whose verdict is not the claim's (OD6's inconclusive
        # comparisons under a refuted claim, whose control 'the reverse is not significant' is the definition of
        # inconclusive) does not carry the verdict the control guards
        base0 = committed[cid].get("records", [])
        claim_v = committed[cid].get("verdict")
        held = {
            i
            for i, r in enumerate(base0)
            if r.get("role", "decides") == "decides" and r.get("verdict") == claim_v and claim_v != "refuted"
        }
        margins: dict[int, list] = {}
        for recs in [base0] + [per[b]["records"] for b in bases if b in per]:
            for i, r in enumerate(recs):
                if i in held and _num(_margin(r)):
                    margins.setdefault(i, []).append(float(_margin(r)))
        powers = {i: control_power(v) for i, v in margins.items()}
        known = [v for v in powers.values() if v is not None]
        power = min(known) if known else None
        if power is not None and power < POWER:
            low_power.append(cid)
        failed = sorted({t for b in bases if b in per for t in per[b]["failed_tests"]})
        meets = ref == "inconclusive" or share >= TARGET
        # how likely a count this low is if the claim did keep its verdict with probability TARGET per rerun
        p_target = float(binom.cdf(kept, len(bases), TARGET)) if bases else None
        if not meets:
            below.append(cid)
        out_json["claims"][cid] = {
            "committed": ref,
            "verdicts": dict(zip(map(str, bases), verdicts)),
            "kept": kept,
            "share": share,
            "headline_interval_of": ref_head.get("interval_of") if ref_head else None,
            "estimates": est,
            "intervals": ivs,
            "pooled_estimate": pooled,
            "estimate_sd": sd,
            "mean_half_width": halfw,
            "coverage_of_pooled": cover,
            "negative_controls_rejected": f"{sum(bool(x) for x in ncs)}/{len(ncs)}",
            "control_margins": {str(i): v for i, v in sorted(margins.items())},
            "control_power": power,
            "failed_tests": failed,
            "meets_target": meets,
            "p_if_target": p_target,
        }
        table.append(
            f"| {cid} | {ref} | {' '.join(_abbr(v) for v in verdicts)} | {kept}/{len(bases)} | "
            f"{'yes' if meets else '**no**'} | {_fmt(pooled)} | {_fmt(sd, 2)} | {_fmt(halfw, 2)} | "
            f"{'-' if ref == 'inconclusive' or p_target is None else f'{p_target:.2g}'} | "
            f"{'-' if cover is None else f'{cover:.0%}'} | {sum(bool(x) for x in ncs)}/{len(ncs)} | "
            f"{_power_cell(power)} | "
            f"{', '.join(failed) if failed else ''} |"
        )
    n_dec = sum(1 for c in out_json["claims"].values() if c["committed"] != "inconclusive")
    n_ok = sum(1 for c in out_json["claims"].values() if c["committed"] != "inconclusive" and c["meets_target"])
    lines = [
        "# Verdict stability under fresh seeds",
        "",
        f"Written by `python checks/stability.py report` from the sweep store's rows of commit `{commit[:12]}` "
        f"({scale} tier). Reruns: seed bases {', '.join(map(str, bases))} (K = {len(bases)}; base 0 is the "
        "committed report). Each rerun is `pytest checks/test_<family>.py --seed-base B --hypothesis-seed B`, "
        "family by family, into a temporary directory.",
        "",
        f"Target: every reproduced or refuted claim keeps its verdict in at least {TARGET:.0%} of reruns. "
        f"Met by {n_ok} of {n_dec} such claims; with K = {len(bases)} the target means every rerun keeps it. "
        + (f"Below the target: {', '.join(below)}." if below else ""),
        "",
        "Verdicts: R reproduced, X refuted, I inconclusive, E the check errored before recording, - missing. "
        "Estimate, sd and half-width are of the headline record's named quantity (`results.json`, "
        "`interval_of`); coverage is the share of reruns whose 95% interval holds the pooled mean of the "
        "reruns' estimates (about 95% when the intervals account for seed-to-seed variation; with K = "
        f"{len(bases)} each rerun moves it by {1 / max(len(bases), 1):.0%}). Negative controls: records whose "
        "control rejected, of the reproduced or inconclusive records that ran one (a refuted record's control is "
        "often the reverse prediction, which the refutation itself confirms). Failed tests: checks that failed "
        "(errored or asserted) in some "
        "rerun.",
        "",
        f"Reading the count: with K = {len(bases)}, a claim that keeps its verdict with probability exactly 95% per "
        f"rerun keeps it in all {len(bases)} with probability {TARGET ** len(bases):.2f}; a verdict decided by a "
        "calibrated 95% test of a true prediction (an interval that must contain it) is such a claim, since the "
        "interval misses the truth in 5% of draws however many seeds it has. 'p if 95% kept' is the binomial "
        "probability of keeping the verdict this few times or fewer if the true rate were 95%: a small value "
        "(below 0.05) says the claim is below the target beyond chance; a claim with one change in K is not.",
        "",
        f"Control power: the estimated probability that the claim's weakest negative control rejects under fresh "
        f"seeds, Phi(mean margin) over its margins (`margin_se`: the wrong prediction's distance beyond the rejection "
        f"threshold, in standard errors; `amemory.stats.control_margin`) over base 0 and the reruns, of the records "
        f"that decide and carry the claim's verdict at base 0, for claims not refuted there (a refuted record's "
        f"control is often the reverse prediction, and a deciding record with another verdict does not carry the "
        f"claim's); '-' where none carries margins. Phi(mean margin) takes the "
        f"statistic's sd as 1 SE; with few degrees of freedom it is larger and the power lower (a margin of 2.33 is "
        f"0.961 at 4 df, 0.983 at 10), so a value just above the target is not yet enough there. Target {POWER:.0%}: "
        + (
            f"below it: {', '.join(low_power)}."
            if low_power
            else (
                "met by every claim with margins."
                if any(c["control_power"] is not None for c in out_json["claims"].values())
                else "no margins recorded yet."
            )
        ),
        "",
        "| claim | committed | reruns | kept | target | mean estimate | sd | mean half-width | p if 95% kept | "
        "coverage | controls rejected | control power | failed tests |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        *table,
        "",
        *(
            ["## Below the target: why", "", *(f"- **{c}**: {WHY.get(c, 'not yet explained.')}" for c in below), ""]
            if below
            else []
        ),
        "## Reruns",
        "",
        "| seed base | families | seconds | worst pytest exit status |",
        "|---|---|---|---|",
        *(f"| {b} | {runs[b]['families']} | {runs[b]['seconds']:.0f} | {runs[b]['rc']} |" for b in bases),
        "",
    ]
    return "\n".join(lines), out_json


def _stored(store: str, fams, scale: str, commit: str, bases) -> dict[str, dict]:
    """Per family, the rows to use (:func:`reusable_rows`) from the store at ``store`` (none if it does not exist)."""
    if not Path(store).exists():
        return {f: {} for f in fams}
    from amemory.sweep.store import Store

    with Store(store, create=False) as st:
        table = st.table(TASK, VERSION)
    return {f: reusable_rows(table, f, scale, commit, bases) for f in fams}


def _abbr(v: str) -> str:
    return {"reproduced": "R", "refuted": "X", "inconclusive": "I", "missing": "-"}.get(v, "E")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python checks/stability.py", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("run", "report"):
        p = sub.add_parser(name)
        p.add_argument("--k", type=int, default=5, help="number of fresh seed bases (1..K); default 5")
        p.add_argument("--families", default=",".join(FAMILIES), help="comma-separated families (default all)")
        p.add_argument("--scale", choices=("fast", "full"), default="fast")
        p.add_argument("--store", default=".sweeps/stability.sqlite")
        p.add_argument("--commit", default=None, help="the code's commit (default: the checkout's HEAD)")
    sub.choices["run"].add_argument(
        "--only-bases",
        default=None,
        help="comma-separated subset of the bases 1..K to run now (e.g. 4,5 in a second driver); default all",
    )
    sub.choices["report"].add_argument("--out", default="reports/stability.md")
    a = ap.parse_args(argv)
    if not 1 <= a.k <= 1000:
        ap.error(f"--k must be in [1, 1000], got {a.k}")
    fams = [f for f in a.families.split(",") if f]
    bad = [f for f in fams if f not in FAMILIES]
    if bad or not fams:
        ap.error(f"--families must be a comma-separated subset of {','.join(FAMILIES)}, got {a.families!r}")
    os.chdir(ROOT)
    sys.path.insert(0, str(ROOT))
    from amemory.sweep.runner import run_sweep

    commit = a.commit or git_commit()
    configs = _configs(fams, a.scale, commit)
    bases = list(range(1, a.k + 1))
    if a.cmd == "run":
        if a.only_bases:
            try:
                only = sorted({int(x) for x in a.only_bases.split(",") if x})
            except ValueError:
                only = []
            if not only or not set(only) <= set(bases):
                ap.error(f"--only-bases must be a comma-separated subset of 1..{a.k}, got {a.only_bases!r}")
            bases = only
        if commit.endswith("+dirty"):
            ap.error("the checkout has uncommitted changes: commit first (a row is about the code of one commit)")
        Path(a.store).parent.mkdir(parents=True, exist_ok=True)
        reuse = _stored(a.store, fams, a.scale, commit, bases)
        for b in bases:  # seed base by seed base, so that a stopped run leaves whole reruns behind
            todo = [c for c in configs if b not in reuse[c["family"]] or reuse[c["family"]][b][0] == commit]
            for c in configs:
                if c not in todo:
                    print(
                        f"[stability] {c['family']} seed base {b}: reusing the row of commit "
                        f"{reuse[c['family']][b][0][:12]} (same code)",
                        flush=True,
                    )
            if todo:
                run_sweep(
                    family_run, todo, [b], a.store, scheduler="inline", task=TASK, version=VERSION, desc=f"base {b}"
                )
        return 0
    reuse = _stored(a.store, fams, a.scale, commit, bases)
    rows = [res for f in fams for b, (_, res) in sorted(reuse[f].items())]
    missing = sum(b not in reuse[f] for f in fams for b in bases)
    if not rows:
        ap.error(f"the store {a.store} holds no stability rows of commit {commit[:12]}")
    borrowed = sorted({(f, c) for f in fams for b, (c, _) in reuse[f].items() if c != commit})
    ref = ROOT / "reports" / ("results.json" if a.scale == "fast" else "full/results.json")
    committed = json.loads(ref.read_text())
    text, js = build_report(rows, committed["claims"], a.k, commit, a.scale)
    if borrowed:
        src = "; ".join(f"{f}: commit `{c[:12]}`" for f, c in borrowed)
        note = (
            "Rows of earlier commits whose code for the family is byte-identical to this commit's (`git diff "
            "--quiet` over `amemory/ impl/ theory/ checks/ pyproject.toml`, other families' check files excepted): "
            f"{src}."
        )
        text = text.replace("\n\nTarget:", f"\n\n{note}\n\nTarget:", 1)
    if missing:
        absent = sorted(f for f in fams if not reuse[f])
        part = f"**Partial**: {len(rows)} of {len(rows) + missing} (family, seed base) runs stored" + (
            f"; not rerun on this code, so not in the table: {', '.join(absent)}." if absent else "."
        )
        text = text.replace("\n\nTarget:", f"\n\n{part}\n\nTarget:", 1)
    js["borrowed_rows"] = [{"family": f, "commit": c} for f, c in borrowed]
    js["partial"] = {"stored": len(rows), "missing": missing}
    out = Path(a.out)
    out.write_text(text)
    out.with_suffix(".json").write_text(json.dumps(js, indent=1, sort_keys=True) + "\n")
    print(f"wrote {out} ({len(rows)} runs; {missing} missing)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
