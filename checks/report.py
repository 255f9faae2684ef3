"""Verdict collection and the written report (``reports/index.md``, ``figures/``, ``results.json``).

A check calls the ``record`` fixture once per measured statement::

    record("AM3", prediction=..., measurement=..., interval=(lo, hi), criterion=...,
           verdict="reproduced", negative_control={"prediction": ..., "rejected": True},
           figure=fig, data={...})

At the end of the session :func:`write_report` merges the new records into ``results.json``
(claims not run this time keep their earlier records), renders ``index.md`` and a terminal table.
"""

from __future__ import annotations

import json
import math
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from registry import CLAIMS, FAMILIES, PAPERS, S000, S001, TALKS, VERDICTS, family

NOT_CHECKED = "not yet checked"


def _round(x, sig: int = 6):
    """Round floats recursively (6 significant digits) so that results.json is stable across runs."""
    if isinstance(x, bool) or x is None or isinstance(x, str):
        return x
    if isinstance(x, (int,)) and not isinstance(x, bool):
        return int(x)
    if hasattr(x, "tolist"):
        return _round(x.tolist(), sig)
    if isinstance(x, float):
        if not math.isfinite(x):
            return str(x)
        return float(f"{x:.{sig}g}")
    if isinstance(x, dict):
        return {str(k): _round(v, sig) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_round(v, sig) for v in x]
    try:
        return _round(float(x), sig)
    except (TypeError, ValueError):
        return str(x)


@dataclass
class Recorder:
    out_dir: Path
    scale: str
    seed_base: int
    fresh: bool
    device: str
    records: dict = field(default_factory=dict)  # claim -> list of dicts
    errors: dict = field(default_factory=dict)  # claim -> list of test ids that failed
    durations: dict = field(default_factory=dict)  # claim -> seconds
    peak_rss: dict = field(default_factory=dict)  # claim -> the process's peak resident memory (MiB) after it ran
    partial: bool = False  # only some claim checks ran (see checks/conftest.py)
    started: float = field(default_factory=time.time)

    def record(
        self,
        claim: str,
        *,
        test: str,
        prediction: str,
        measurement: str,
        criterion: str,
        verdict: str,
        interval=None,
        negative_control: dict | None = None,
        figure=None,
        data: dict | None = None,
        note: str | None = None,
        role: str = "decides",
        model: str | None = None,
        qualifier: str | None = None,
        code: dict | None = None,
        interval_of: str | None = None,
        estimate: float | None = None,
    ) -> None:
        if claim not in CLAIMS:
            raise ValueError(f"claim must be one of the registered ids, got {claim!r}")
        if verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {verdict!r}")
        # an interval must be a 95% interval of a named quantity (interval_of) with its point estimate; a range
        # that is not such an interval goes in the measurement text with interval=None (tests/test_report.py
        # checks the committed results.json)
        if role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}, got {role!r}")
        if negative_control is None or "rejected" not in negative_control:
            raise ValueError("every record needs negative_control={'prediction': ..., 'rejected': bool}")
        recs = self.records.setdefault(claim, [])
        fig_name = None
        if figure is not None:
            fig_dir = self.out_dir / "figures"
            fig_dir.mkdir(parents=True, exist_ok=True)
            fig_name = f"figures/{claim}{'' if not recs else '_' + str(len(recs) + 1)}.png"
            from plotting import finalize

            problems = finalize(figure)
            if problems:
                warnings.warn(f"{claim} ({test}): figure problems: {'; '.join(problems)}", stacklevel=2)
            figure.savefig(self.out_dir / fig_name, dpi=110, bbox_inches="tight", metadata={"Software": None})
            import matplotlib.pyplot as plt

            plt.close(figure)
        recs.append(
            _round(
                {
                    "test": test,
                    "prediction": prediction,
                    "measurement": measurement,
                    "interval": list(interval) if interval is not None else None,
                    "interval_of": interval_of,
                    "estimate": estimate,
                    "criterion": criterion,
                    "verdict": verdict,
                    "negative_control": negative_control,
                    "figure": fig_name,
                    "data": data or {},
                    "note": note,
                    "role": role,
                    "model": model,
                    "qualifier": qualifier,
                    "code": code,
                }
            )
        )


ROLES = ("decides", "sensitivity")


def deciding(records: list[dict]) -> list[dict]:
    """The records that decide a claim's verdict: every record except those marked ``role='sensitivity'``.

    A sensitivity record measures the same claim on a variant (another model, another data set) beside the
    deciding one; the report shows it, labelled, and it never changes the verdict (the closing note and the
    report say when a variant's verdict differs).
    """
    return [r for r in records if r.get("role", "decides") == "decides"]


def headline_order(records: list[dict], verdict: str) -> list[dict]:
    """Records in the report's order: first the headline (the first deciding record whose own verdict is the
    claim's, i.e. one that decided it), then the other deciding records, then the sensitivity rows."""
    dec = deciding(records)
    head = next((r for r in dec if r["verdict"] == verdict), dec[0] if dec else None)
    rest = [r for r in dec if r is not head]
    return ([head] if head is not None else []) + rest + [r for r in records if r not in dec]


def combine(verdicts: list[str]) -> str:
    """A claim's verdict from its deciding records: refuted if any is refuted, reproduced if all are, else
    inconclusive."""
    if not verdicts:
        return NOT_CHECKED
    if "refuted" in verdicts:
        return "refuted"
    if all(v == "reproduced" for v in verdicts):
        return "reproduced"
    return "inconclusive"


EARLIER_RUN = {"commit": "unknown", "written": "an earlier run, before runs were recorded", "partial": None}


def _git_commit(root: Path | None = None) -> str:
    """The checkout's commit (12 hex digits, ``+dirty`` with uncommitted changes to tracked files outside
    ``reports/``, which a run writes itself: its figures are saved before its record), or 'unknown'."""
    import subprocess

    from amemory.provenance import git_commit

    root = Path(__file__).resolve().parent.parent if root is None else Path(root)
    try:
        return git_commit(root, ignore=("reports",), length=12)
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def carried_over(result: dict) -> list[str]:
    """The claims of a merged report that an earlier run wrote (not this one), by the runs in its timings."""
    t = result.get("timings", {})
    this, runs = t.get("this_run"), t.get("runs", {})
    if this is None:
        return []
    return [cid for cid, r in runs.items() if r != this and result["claims"].get(cid, {}).get("records")]


def write_report(rec: Recorder, terminal=None) -> dict:
    out = rec.out_dir
    out.mkdir(parents=True, exist_ok=True)
    path = out / "results.json"
    old_claims, old_timings, old_rss, old_runs = {}, {}, {}, {}
    fresh_partial = rec.partial and out.name == "partial"  # a partial run's own directory: nothing merged
    if path.exists() and not fresh_partial:
        try:
            old = json.loads(path.read_text())
            if old.get("scale") == rec.scale:
                old_claims = old.get("claims", {})
                old_timings = old.get("timings", {}).get("claims", {})
                old_rss = old.get("timings", {}).get("peak_rss_mib", {})
                old_runs = old.get("timings", {}).get("runs", {})
        except (json.JSONDecodeError, OSError):
            pass
    claims, timings, rss, runs = {}, {}, {}, {}
    this_run = {"commit": _git_commit(), "written": time.strftime("%Y-%m-%d %H:%M:%S"), "partial": rec.partial}
    for cid, (statement, source) in CLAIMS.items():
        if cid in rec.records or cid in rec.errors:
            recs = rec.records.get(cid, [])
            verdicts = [r["verdict"] for r in deciding(recs)]
            if cid in rec.errors:
                verdicts.append("inconclusive")
            entry = {
                "statement": statement,
                "source": source,
                "verdict": combine(verdicts),
                "records": recs,
                "failed_tests": sorted(rec.errors.get(cid, [])),
            }
            timings[cid] = round(rec.durations.get(cid, 0.0), 2)
            runs[cid] = this_run
            if cid in rec.peak_rss:
                rss[cid] = rec.peak_rss[cid]
        elif cid in old_claims:
            entry = old_claims[cid]
            runs[cid] = old_runs.get(cid, EARLIER_RUN)
            if cid in old_timings:
                timings[cid] = old_timings[cid]
            if cid in old_rss:
                rss[cid] = old_rss[cid]
        elif fresh_partial:
            continue  # a partial run reports the claims it ran, and only those
        else:
            entry = {
                "statement": statement,
                "source": source,
                "verdict": NOT_CHECKED,
                "records": [],
                "failed_tests": [],
            }
        claims[cid] = entry
    result = {
        "partial": rec.partial,
        "scale": rec.scale,
        "seed_base": rec.seed_base,
        "fresh_seeds": rec.fresh,
        "device": rec.device,
        "claims": claims,
        "timings": {
            "claims": timings,
            "peak_rss_mib": rss,
            "runs": runs,
            "this_run": this_run,
            "session_seconds": round(time.time() - rec.started, 1),
            "written": time.strftime("%Y-%m-%d %H:%M:%S"),
        },
    }
    path.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
    _write_index(out, result)
    if terminal is not None:
        what = "partial run, the claims it ran" if fresh_partial else "report"
        terminal.write_sep("=", f"claim verdicts ({rec.scale} scale, {what} in {out})")
        for line in summary_lines(result):
            terminal.write_line(line)
    return result


def merge_reports(source: Path, into: Path) -> list[str]:
    """Merge into the report directory ``into`` the claims that another run of the same scale wrote in
    ``source`` (a family run in another clone, on another machine or in another session).

    Each claim that ``source/results.json`` holds with a verdict (not 'not yet checked') and whose run (its
    ``timings.runs`` entry) was written no earlier than the one ``into`` holds replaces ``into``'s entry, with
    its duration, peak memory and run; the files its records name (``figure``) are copied. Both files must be of
    the same scale. ``into/index.md`` is rendered again: the merged claims are marked as carried over from their
    run, as for any merged report. Returns the merged claim ids.
    """
    import shutil

    source, into = Path(source), Path(into)
    try:
        src = json.loads((source / "results.json").read_text())
        dst = json.loads((into / "results.json").read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"source and into must be report directories with a results.json: {e}") from None
    if src.get("scale") != dst.get("scale"):
        raise ValueError(f"source and into must be of the same scale: {src.get('scale')!r} and {dst.get('scale')!r}")

    def when(res: dict, cid: str) -> str:
        w = res.get("timings", {}).get("runs", {}).get(cid, EARLIER_RUN).get("written", "")
        return w if w[:1].isdigit() else ""  # a run before runs were recorded is the oldest

    merged = []
    for cid, entry in src["claims"].items():
        if entry.get("verdict") == NOT_CHECKED or when(src, cid) < when(dst, cid):
            continue
        dst["claims"][cid] = entry
        for key in ("claims", "peak_rss_mib", "runs"):
            value = src.get("timings", {}).get(key, {}).get(cid)
            if value is not None:
                dst.setdefault("timings", {}).setdefault(key, {})[cid] = value
        for rec in entry.get("records", []):
            figs = rec.get("figure")
            for f in [figs] if isinstance(figs, str) else figs or []:
                if (source / f).is_file():
                    (into / f).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(source / f, into / f)
        merged.append(cid)
    (into / "results.json").write_text(json.dumps(dst, indent=1, sort_keys=True) + "\n")
    render_index(into)
    return merged


def render_index(out: Path) -> None:
    """Write ``out/index.md`` again from ``out/results.json`` (and the other tier's report beside it, for the
    fast-versus-full table): after a merge, or after the other tier changed."""
    out = Path(out)
    res = json.loads((out / "results.json").read_text())

    def ordered(d: dict) -> dict:  # results.json sorts its keys: back to the registry's order, as write_report has
        return {c: d[c] for c in CLAIMS if c in d} | {c: v for c, v in d.items() if c not in CLAIMS}

    res["claims"] = ordered(res["claims"])
    for key in ("claims", "peak_rss_mib", "runs"):
        if key in res.get("timings", {}):
            res["timings"][key] = ordered(res["timings"][key])
    _write_index(out, res)


def _write_index(out: Path, result: dict) -> None:
    """Write ``out/index.md`` from ``result`` (the report's results.json, claims in the registry's order), with
    links relative to the repository root and the other tier's report beside it for the fast-versus-full table."""
    import os

    root = Path(__file__).resolve().parent.parent
    prefix = os.path.relpath(root, out.resolve()).replace(os.sep, "/") + "/"
    (out / "index.md").write_text(render_markdown(result, prefix, other_tier=_other_tier(out, result["scale"])))


def _num(v):
    """A number of results.json (non-finite floats are stored as strings)."""
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return float(v)
    if isinstance(v, str) and v in ("inf", "-inf"):
        return float(v)
    return None


def _interval(r) -> str:
    """' (quantity estimate, 95% CI [lo, hi])' for a record whose interval is a 95% interval of a named quantity."""
    iv = r.get("interval")
    if not iv or len(iv) != 2 or any(_num(v) is None for v in iv):
        return ""
    lo, hi = (_num(v) for v in iv)
    fmt = lambda v: f"{v:.4g}"  # noqa: E731
    est = _num(r.get("estimate"))
    name = r.get("interval_of")
    head = f"{name} {fmt(est)}, " if name and est is not None else ""
    return f" ({head}95% CI [{fmt(lo)}, {fmt(hi)}])"


def summary_lines(result: dict) -> list[str]:
    lines = [f"{'id':5} {'verdict':16} measurement"]
    for cid, c in result["claims"].items():
        meas = "; ".join(r["measurement"] + _interval(r) for r in c["records"])[:100]
        lines.append(f"{cid:5} {c['verdict']:16} {meas}")
    counts = {v: sum(c["verdict"] == v for c in result["claims"].values()) for v in (*VERDICTS, NOT_CHECKED)}
    lines.append(", ".join(f"{n} {v}" for v, n in counts.items()))
    return lines


def _md(s) -> str:
    return str(s).replace("|", "\\|").replace("\n", " ")


def _source_line(source: str, fam: str) -> str:
    """The claim's source with the talks named in full, and the papers behind its family."""
    for sid, short in (("000", S000), ("001", S001)):
        source = source.replace(short, TALKS[sid])
    papers = "; ".join(PAPERS.get(fam, ()))
    return f"Source: {source}." + (f" Papers: {papers}." if papers else "")


def _margin_text(nc: dict) -> str:
    """The control's margin, when it has one: how many standard errors beyond its rejection threshold it lies."""
    m = nc.get("margin_se")
    if isinstance(m, (int, float)) and not isinstance(m, bool):
        return f" (margin {m:+.2f} SE beyond the threshold)"
    if nc.get("margin_note"):
        return f" (no margin: {nc['margin_note']})"
    return ""


def _code_lines(code: dict | None, prefix: str) -> list[str]:
    """Links to the check, the theory/ functions that made the prediction and the impl/ ones that measured."""
    if not code:
        return []

    def link(entry: str) -> str:
        name, _, where = entry.partition(" ")
        return f"[`{name}`]({prefix}{where})"

    out = []
    if code.get("theory"):
        out.append("- prediction code: " + ", ".join(link(e) for e in code["theory"]))
    if code.get("impl"):
        out.append("- measurement code: " + ", ".join(link(e) for e in code["impl"]))
    return out


def _other_tier(out: Path, scale: str) -> dict | None:
    """The other tier's results.json beside this report (``reports/full`` for the fast one, ``reports`` for the
    full one), or None."""
    other = out / "full" / "results.json" if scale == "fast" else out.parent / "results.json"
    if scale == "full" and out.name != "full":
        return None
    try:
        res = json.loads(other.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return res if res.get("scale") != scale else None  # a merged report (built by partial runs) counts too


def scale_table(fast: dict, full: dict) -> list[str]:
    """Lines of the fast-versus-full table: per claim both verdicts, whether the verdict changed with scale and
    why (``registry.SCALE_NOTES``)."""
    from registry import CLAIMS, SCALE_NOTES

    rank = {c: i for i, c in enumerate(CLAIMS)}

    L = [
        "| id | fast tier | full tier | changed with scale | why |",
        "|---|---|---|---|---|",
    ]
    for cid in sorted(fast, key=lambda c: rank.get(c, len(rank))):  # the registry's order (JSON sorts keys)
        vf = fast[cid]["verdict"]
        vF = full.get(cid, {}).get("verdict", NOT_CHECKED)
        if vF == NOT_CHECKED:
            why = "the full tier has not run this claim yet (its stored rows and cost: performance.md section 6)"
            changed, why = "-", why + (f"; {SCALE_NOTES[cid]}" if cid in SCALE_NOTES else "")
        elif vF == vf:
            changed, why = "no", SCALE_NOTES.get(cid, "")
        else:
            changed, why = "**yes**", SCALE_NOTES.get(cid, "not yet explained")
        L.append(f"| {cid} | {vf} | {vF} | {changed} | {_md(why)} |")
    return L


def _run_text(run: dict) -> str:
    return f"commit {run.get('commit', 'unknown')}, written {run.get('written', '?')}"


def _partial_text(result: dict) -> str:
    """What the header says of a partial run: the claims it ran, and the claims merged from earlier runs."""
    old = carried_over(result)
    if old:
        commits = sorted({result["timings"]["runs"][c]["commit"] for c in old})
        return (
            f" **Merged report**: {len(old)} claims ({', '.join(old)}) were carried over from earlier runs (commits "
            f"{', '.join(commits)}; each such claim's section names its run), the others come from this run"
            + (f" (commit {result['timings']['this_run']['commit']})." if result["timings"].get("this_run") else ".")
        )
    if result.get("partial"):
        return (
            " **A partial run** (only some claim checks): this file holds the claims it ran; the full report is "
            "written by a run of every check."
        )
    return ""


def render_markdown(result: dict, prefix: str = "../", other_tier: dict | None = None) -> str:
    """The report page; ``prefix`` is the path from the report's directory to the repository root (for links);
    ``other_tier`` (the other scale's results) adds the fast-versus-full table."""
    cl = result["claims"]
    old_runs = set(carried_over(result))
    counts = {v: sum(c["verdict"] == v for c in cl.values()) for v in (*VERDICTS, NOT_CHECKED)}
    L = [
        f"# Claim verdicts ({result['scale']} scale)",
        "",
        f"Written by `pytest checks/ --scale {result['scale']}`; seed base {result['seed_base']}"
        f"{' (fresh seeds)' if result['fresh_seeds'] else ''}; device {result['device']}." + _partial_text(result),
        "",
        "Counts: " + ", ".join(f"**{n}** {v}" for v, n in counts.items()) + ".",
        "",
        "How to read a verdict: **reproduced** means the measurement met the criterion fixed in the check's docstring "
        "before the run and the negative control (a deliberately wrong prediction) was rejected by the same test; "
        "**refuted** means the data contradict the claim as stated (the numbers say how); **inconclusive** means "
        "neither (too noisy, or a check failed to run). Intervals are 95%.",
        "",
        "Contents: "
        + " · ".join(f"[{fam}: {title}](#family-{fam.lower()})" for fam, title in FAMILIES.items())
        + (" · [fast vs full tier](#scales)" if other_tier else "")
        + " · [timings](#timings)",
        "",
        '<a id="table"></a>',
        "",
        "| id | verdict | prediction | measurement (the deciding quantity, its 95% interval) | figure |",
        "|---|---|---|---|---|",
    ]
    for cid, c in cl.items():
        if not c["records"]:
            L.append(f"| [{cid}](#{cid.lower()}) | {c['verdict']} | | | |")
            continue
        for i, r in enumerate(headline_order(c["records"], c["verdict"])):
            fig = f"[fig]({r['figure']})" if r.get("figure") else ""
            head = f"[{cid}](#{cid.lower()})" if i == 0 else ""
            verdict = c["verdict"] if i == 0 else f"({r['verdict']})"
            if r.get("qualifier") and r["verdict"] == "reproduced":
                verdict += f" ({r['qualifier'].split(':')[0]})"
            if r.get("role") == "sensitivity":
                verdict = f"(sensitivity: {r['verdict']})"
            meas = (f"[{r['model']}] " if r.get("model") else "") + _md(r["measurement"])
            L.append(f"| {head} | {verdict} | {_md(r['prediction'])} | {meas}{_interval(r)} | {fig} |")
    for fam, title in FAMILIES.items():
        L += ["", f'<a id="family-{fam.lower()}"></a>', "", f"## {fam}: {title}", "", "[back to the table](#table)"]
        for cid, c in cl.items():
            if family(cid) != fam:
                continue
            L += [
                "",
                f"### {cid}",
                "",
                f"> {c['statement']}",
                "",
                _source_line(c["source"], fam),
                "",
                *(
                    [f"Carried over from an earlier run: {_run_text(result['timings']['runs'][cid])}.", ""]
                    if cid in old_runs
                    else []
                ),
                f"**Verdict: {c['verdict']}**",
            ]
            if c.get("failed_tests"):
                L += [
                    "",
                    "Checks that failed to run to their verdict: " + ", ".join(f"`{t}`" for t in c["failed_tests"]),
                ]
            for r in headline_order(c["records"], c["verdict"]):
                nc = r["negative_control"]
                chk = (r.get("code") or {}).get("check")
                L += [
                    "",
                    (f"- check: [`{r['test']}`]({prefix}{chk})" if chk else f"- check: `{r['test']}`")
                    + (
                        " (sensitivity row: shown, does not decide the verdict)"
                        if r.get("role") == "sensitivity"
                        else ""
                    ),
                    *([f"- model: {r['model']}"] if r.get("model") else []),
                    *_code_lines(r.get("code"), prefix),
                    f"- prediction: {r['prediction']}",
                    f"- measurement: {r['measurement']}{_interval(r)}",
                    f"- criterion: {r['criterion']}",
                    f"- negative control: {nc.get('prediction', '')} -> "
                    f"{'rejected' if nc['rejected'] else 'NOT rejected'}" + _margin_text(nc),
                    f"- verdict of this check: {r['verdict']}" + (f" ({r['qualifier']})" if r.get("qualifier") else ""),
                ]
                if r.get("note"):
                    L.append(f"- note: {r['note']}")
                if r.get("figure"):
                    L += ["", f"![{cid}]({r['figure']})"]
    if other_tier:
        fast, full = (cl, other_tier["claims"]) if result["scale"] == "fast" else (other_tier["claims"], cl)
        L += [
            "",
            '<a id="scales"></a>',
            "",
            "## Fast tier versus full tier",
            "",
            "The verdict of every claim at the fast tier's sizes (`reports/`) beside its verdict at the papers' sizes "
            "(`reports/full/`), and why a verdict changed with scale (more power, a finite-size effect, a real "
            "change, or different sub-checks deciding).",
            "",
            *scale_table(fast, full),
        ]
    t = result["timings"]["claims"]
    rss = result["timings"].get("peak_rss_mib", {})
    if t:
        L += [
            "",
            '<a id="timings"></a>',
            "",
            "## Timings (seconds, this machine)",
            "",
            "Peak memory: the test process's peak resident memory after the claim's checks ran (it only grows "
            "within a run, so it bounds the claim's own peak from above; a family run alone gives its peak). "
            "Seconds: the run that wrote the claim's verdict; for a store-backed claim that counts only the rows "
            "computed in that run (rows stored by earlier runs are read, not recomputed; their costs are in "
            "performance.md).",
            "",
            "| id | s | peak memory (MiB) |",
            "|---|---|---|",
        ]
        L += [f"| {k} | {v} | {rss.get(k, '-')} |" for k, v in t.items()]
    return "\n".join(L) + "\n"


def update_readme(readme: Path, results: Path) -> None:
    """Rewrite the claim table between the <!-- claims --> markers of README.md from results.json: each row shows
    the claim's records in the report's order (:func:`headline_order`), so the deciding record whose verdict is the
    claim's comes first, as in the report's table (issue #19, item 2)."""
    res = json.loads(results.read_text())
    rows = ["| id | claim | verdict | measurement [95% CI] (the deciding record first) |", "|---|---|---|---|"]
    for cid in CLAIMS:
        c = res["claims"][cid]
        meas = "; ".join(r["measurement"] + _interval(r) for r in headline_order(c["records"], c["verdict"]))
        if len(meas) > 160:
            meas = meas[:157] + "..."
        rows.append(
            f"| [{cid}](reports/index.md#{cid.lower()}) | {_md(c['statement'])} | {c['verdict']} | {_md(meas)} |"
        )
    text = readme.read_text()
    a, b = "<!-- claims -->", "<!-- /claims -->"
    i, j = text.index(a) + len(a), text.index(b)
    readme.write_text(text[:i] + "\n" + "\n".join(rows) + "\n" + text[j:])


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description="report utilities")
    ap.add_argument("--readme", action="store_true", help="update README.md's claim table from reports/results.json")
    ap.add_argument(
        "--merge",
        nargs=2,
        metavar=("SOURCE", "INTO"),
        help="merge the claims another run wrote in the report directory SOURCE into the report directory INTO",
    )
    ap.add_argument("--render", metavar="DIR", help="write DIR/index.md again from DIR/results.json")
    args = ap.parse_args()
    root = Path(__file__).resolve().parent.parent
    if args.render:
        render_index(Path(args.render))
    if args.readme:
        update_readme(root / "README.md", root / "reports" / "results.json")
    if args.merge:
        ids = merge_reports(Path(args.merge[0]), Path(args.merge[1]))
        print(f"merged {len(ids)} claims ({', '.join(ids) or 'none'}) into {args.merge[1]}")


# ----------------------------------------------------------------------------------------------------
# traceability: where a record's check, prediction and measurement live in the code


def _module_imports(tree) -> tuple[dict, dict]:
    """Names a check module binds from theory/impl: {name: 'module:qualname'} and {alias: 'module'}."""
    import ast

    names, mods = {}, {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in ("theory", "impl"):
            for a in node.names:
                full = f"{node.module}.{a.name}"
                if full.count(".") == 1 and a.name[0].islower() and _is_module(full):  # from theory import dynamics
                    mods[a.asname or a.name] = full
                else:
                    names[a.asname or a.name] = f"{node.module}:{a.name}"
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] in ("theory", "impl"):
                    mods[a.asname or a.name] = a.name
    return names, mods


TASK_MODULES = ("tasks",)  # checks modules holding the task functions that checks run through the sweep store


def _task_imports(tree) -> dict:
    """Names a check module binds from the checks' task modules (:data:`TASK_MODULES`): {name: module}."""
    import ast

    return {
        a.asname or a.name: node.module
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module in TASK_MODULES
        for a in node.names
    }


def _is_module(name: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def code_refs(func) -> dict:
    """The check function's location and the theory/ and impl/ callables it (or a helper of its module) uses.

    Static: the names the check module imports from ``theory``/``impl`` (``from impl.x import f``, ``import
    theory.y as ty`` + ``ty.g``) that occur in the function or in the module's helpers it calls, recursively, and
    in the task functions it imports from ``checks/tasks.py`` (the work it runs through the sweep store); each
    resolved with :mod:`inspect` to ``path#Lline`` relative to the repository root.

    Parameters
    ----------
    func : function
        A claim check.

    Returns
    -------
    dict
        {"check": "checks/test_x.py#Lnn", "theory": [...], "impl": [...]} (each entry "qualname path#Lnn").
    """
    import ast
    import importlib
    import inspect

    root = Path(__file__).resolve().parent.parent
    src_file = Path(inspect.getsourcefile(func)).resolve()
    _, line = inspect.getsourcelines(func)
    out = {"check": f"{src_file.relative_to(root).as_posix()}#L{line}", "theory": [], "impl": []}
    seen: set = set()
    used: set = set()

    def visit(path: Path, start: str) -> None:
        tree = ast.parse(path.read_text())
        names, mods = _module_imports(tree)
        tasks = _task_imports(tree)
        defs = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
        todo = [start]
        while todo:
            fn = todo.pop()
            if (path, fn) in seen or fn not in defs:
                continue
            seen.add((path, fn))
            for node in ast.walk(defs[fn]):
                if isinstance(node, ast.Name):
                    if node.id in names:
                        used.add(names[node.id])
                    elif node.id in defs:
                        todo.append(node.id)
                    elif node.id in tasks:  # a task function run through the sweep store (checks/tasks.py)
                        visit(Path(__file__).resolve().parent / f"{tasks[node.id]}.py", node.id)
                elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in mods:
                    used.add(f"{mods[node.value.id]}:{node.attr}")

    visit(src_file, func.__name__)
    for ref in sorted(used):
        mod, qual = ref.split(":")
        try:
            obj = getattr(importlib.import_module(mod), qual)
            path = Path(inspect.getsourcefile(obj)).resolve().relative_to(root).as_posix()
            _, ln = inspect.getsourcelines(obj)
        except (AttributeError, TypeError, OSError, ValueError, ImportError):
            continue  # a constant, or not defined in this repository
        out[mod.split(".")[0]].append(f"{mod}.{qual} {path}#L{ln}")
    return out
