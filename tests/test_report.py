"""The report's rule for combining a claim's records (checks/report.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

CHECKS = Path(__file__).resolve().parent.parent / "checks"
if str(CHECKS) not in sys.path:
    sys.path.insert(0, str(CHECKS))

import report  # noqa: E402


def _rec(tmp_path):
    return report.Recorder(tmp_path, "fast", 0, False, "cpu")


def _add(rec, verdict, role="decides", model=None, qualifier=None):
    rec.record(
        "OD6",
        test="t",
        prediction="p",
        measurement="m",
        criterion="c",
        verdict=verdict,
        negative_control={"prediction": "n", "rejected": True},
        role=role,
        model=model,
        qualifier=qualifier,
    )


def test_sensitivity_rows_do_not_decide(tmp_path):
    rec = _rec(tmp_path)
    _add(rec, "reproduced", model="the authors' model")
    _add(rec, "refuted", role="sensitivity", model="a variant")
    out = report.write_report(rec)
    c = out["claims"]["OD6"]
    assert c["verdict"] == "reproduced"
    assert [r["role"] for r in c["records"]] == ["decides", "sensitivity"]
    md = (tmp_path / "index.md").read_text()
    assert "(sensitivity: refuted)" in md and "[the authors' model]" in md
    assert json.loads((tmp_path / "results.json").read_text())["claims"]["OD6"]["verdict"] == "reproduced"


def test_deciding_records_combine(tmp_path):
    rec = _rec(tmp_path)
    _add(rec, "reproduced")
    _add(rec, "refuted")  # negative control of the rule: a deciding refutation decides
    assert report.write_report(rec)["claims"]["OD6"]["verdict"] == "refuted"


def test_bad_role(tmp_path):
    with pytest.raises(ValueError, match="role"):
        _add(_rec(tmp_path), "reproduced", role="optional")


def test_headline_is_a_deciding_record(tmp_path):
    """The table's first row of a claim is a deciding record whose own verdict is the claim's (not a sub-check
    that disagrees with it)."""
    rec = _rec(tmp_path)
    _add(rec, "inconclusive", model="first")
    _add(rec, "refuted", model="second")
    _add(rec, "refuted", role="sensitivity", model="third")
    out = report.write_report(rec)
    order = report.headline_order(out["claims"]["OD6"]["records"], out["claims"]["OD6"]["verdict"])
    assert [r["model"] for r in order] == ["second", "first", "third"]
    md = (tmp_path / "index.md").read_text()
    row = next(line for line in md.splitlines() if line.startswith("| [OD6]"))
    assert "[second]" in row and "| refuted |" in row


def test_finite_size_qualifier_in_headline(tmp_path):
    rec = _rec(tmp_path)
    _add(rec, "reproduced", qualifier="finite-size prediction only: the asymptotic exponent is outside the interval")
    report.write_report(rec)
    row = next(line for line in (tmp_path / "index.md").read_text().splitlines() if line.startswith("| [OD6]"))
    assert "reproduced (finite-size prediction only)" in row


def test_code_refs_resolve_to_files_and_lines():
    """Traceability: a check's record links to the check and to the theory/impl callables it uses."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("checks_test_gradients", CHECKS / "test_gradients.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    refs = report.code_refs(mod.test_GM1_lemma_identity)
    root = CHECKS.parent
    assert refs["check"].startswith("checks/test_gradients.py#L")
    assert refs["theory"] and refs["impl"]
    for entry in refs["theory"] + refs["impl"]:
        name, where = entry.split(" ")
        path, line = where.split("#L")
        assert (root / path).is_file() and name.split(".")[0] in ("theory", "impl")
        assert name.rsplit(".", 1)[1] in (root / path).read_text().splitlines()[int(line) - 1]


REPORTS = CHECKS.parent / "reports"


@pytest.mark.parametrize("which", ["results.json", "full/results.json"])
def test_committed_intervals_are_named_intervals(which):
    """Every interval in the committed report is a 95% interval of a named quantity that holds its estimate, and
    each claim's headline record (the first row of its table) is a deciding record with the claim's verdict."""
    path = REPORTS / which
    if not path.exists():
        pytest.skip(f"no {which}")
    res = json.loads(path.read_text())
    bad = []
    for cid, c in res["claims"].items():
        for r in c["records"]:
            iv = r.get("interval")
            if iv is None:
                continue
            lo, hi = (report._num(v) for v in iv)
            est = report._num(r.get("estimate"))
            if not r.get("interval_of") or est is None or lo is None or hi is None or not lo <= est <= hi:
                bad.append((cid, r["test"], iv, r.get("interval_of"), r.get("estimate")))
        if c["records"] and report.deciding(c["records"]):
            head = report.headline_order(c["records"], c["verdict"])[0]
            if c["verdict"] in ("reproduced", "refuted") and head["verdict"] != c["verdict"]:
                bad.append((cid, "headline", head["verdict"], c["verdict"]))
    assert not bad, bad


def test_fast_versus_full_table():
    """The fast-versus-full table: both verdicts, 'changed with scale' and the reason from registry.SCALE_NOTES;
    a claim the full tier has not run says so, and a change without a note says it is not yet explained."""
    from report import scale_table

    fast = {c: {"verdict": v} for c, v in (("AM1", "reproduced"), ("OD6", "refuted"), ("SL1", "reproduced"))}
    full = {"AM1": {"verdict": "reproduced"}, "OD6": {"verdict": "reproduced"}, "SL1": {"verdict": "refuted"}}
    rows = {line.split(" | ")[0].strip("| "): line for line in scale_table(fast, full)[2:]}
    assert rows["AM1"].startswith("| AM1 | reproduced | reproduced | no |")
    assert rows["OD6"].startswith("| OD6 | refuted | reproduced | **yes** | different sub-checks decide")
    assert "| SL1 | reproduced | refuted | **yes** | not yet explained |" == rows["SL1"]
    rows = {line.split(" | ")[0].strip("| "): line for line in scale_table(fast, {})[2:]}
    assert rows["AM1"].endswith(
        "| - | the full tier has not run this claim yet (its stored rows and cost: performance.md section 6) |"
    )


def test_a_merged_report_marks_the_claims_carried_over(tmp_path):
    """Issue #19 item 5: a partial run merged into a report directory keeps the other claims, and marks each one
    with the run it came from (in results.json's timings, so the claim records stay deterministic)."""
    first = report.Recorder(tmp_path, "full", 0, False, "cpu", partial=True)
    _add(first, "reproduced")  # OD6
    first.record(
        "AM1",
        test="t",
        prediction="p",
        measurement="m",
        criterion="c",
        verdict="refuted",
        negative_control={"prediction": "n", "rejected": True, "margin_se": 3.5},
    )
    report.write_report(first)
    res = json.loads((tmp_path / "results.json").read_text())
    assert res["timings"]["runs"]["OD6"] == res["timings"]["this_run"]
    assert report.carried_over(res) == []
    md = (tmp_path / "index.md").read_text()
    assert "A partial run" in md and "Merged report" not in md and "margin +3.50 SE" in md
    # a second partial run: only OD6 again; AM1 is carried over and says so
    res["timings"]["this_run"]["written"] = "2026-01-01 00:00:00"  # a run of another time
    res["timings"]["runs"]["AM1"] = dict(res["timings"]["this_run"])
    res["timings"]["runs"]["OD6"] = dict(res["timings"]["this_run"])
    (tmp_path / "results.json").write_text(json.dumps(res))
    second = report.Recorder(tmp_path, "full", 0, False, "cpu", partial=True)
    _add(second, "refuted")
    out = report.write_report(second)
    assert out["claims"]["AM1"]["verdict"] == "refuted" and out["claims"]["OD6"]["verdict"] == "refuted"
    assert report.carried_over(out) == ["AM1"]
    assert out["timings"]["runs"]["AM1"]["written"] == "2026-01-01 00:00:00"
    md = (tmp_path / "index.md").read_text()
    assert "**Merged report**: 1 claims (AM1) were carried over" in md
    assert "Carried over from an earlier run: commit" in md and "written 2026-01-01 00:00:00" in md
    # a report written before runs were recorded: its claims are carried over from an unknown run
    res = json.loads((tmp_path / "results.json").read_text())
    del res["timings"]["runs"]
    (tmp_path / "results.json").write_text(json.dumps(res))
    third = report.Recorder(tmp_path, "full", 0, False, "cpu", partial=True)
    _add(third, "reproduced")
    out = report.write_report(third)
    assert out["timings"]["runs"]["AM1"] == report.EARLIER_RUN and report.carried_over(out) == ["AM1"]


def test_readme_table_shows_the_deciding_record_first(tmp_path):
    """README's claim table (``update_readme``) starts each row with the headline record, as the report does:
    OD6's refuted verdict is not shown beside an inconclusive comparison's measurement."""
    res = json.loads((CHECKS.parent / "reports" / "results.json").read_text())
    c = res["claims"]["OD6"]
    c["records"] = [
        {**c["records"][0], "measurement": "first, inconclusive", "verdict": "inconclusive"},
        {**c["records"][0], "measurement": "second, refuted", "verdict": "refuted"},
    ]
    c["verdict"] = "refuted"
    results = tmp_path / "results.json"
    results.write_text(json.dumps(res))
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- claims -->\nold\n<!-- /claims -->\nend\n")
    report.update_readme(readme, results)
    row = next(line for line in readme.read_text().splitlines() if line.startswith("| [OD6]"))
    assert "| refuted | second, refuted" in row and row.index("second") < row.index("first")


def test_merging_another_runs_report(tmp_path):
    """A family run elsewhere (another clone or machine) merges into a report directory: its claims replace older
    entries, with their run and figures; claims it did not check, and older runs, do not; scales must agree."""
    a, b = tmp_path / "a", tmp_path / "b"
    one = report.Recorder(a, "full", 0, False, "cpu", partial=True)
    _add(one, "refuted")  # OD6, the older run
    report.write_report(one)
    res = json.loads((a / "results.json").read_text())
    res["timings"]["runs"]["OD6"]["written"] = "2026-01-01 00:00:00"
    (a / "results.json").write_text(json.dumps(res))
    two = report.Recorder(b, "full", 0, False, "cpu", partial=True)
    _add(two, "reproduced")
    two.record(
        "AM1",
        test="t",
        prediction="p",
        measurement="m",
        criterion="c",
        verdict="reproduced",
        negative_control={"prediction": "n", "rejected": True},
    )
    report.write_report(two)
    res_b = json.loads((b / "results.json").read_text())
    res_b["claims"]["AM1"]["records"][0]["figure"] = "figures/AM1.png"
    for cid in ("AM1", "OD6"):  # a run of another time than the one that wrote a/
        res_b["timings"]["runs"][cid]["written"] = "2026-02-01 00:00:00"
    (b / "figures").mkdir()
    (b / "figures" / "AM1.png").write_bytes(b"png")
    (b / "results.json").write_text(json.dumps(res_b))
    assert sorted(report.merge_reports(b, a)) == ["AM1", "OD6"]
    out = json.loads((a / "results.json").read_text())
    assert out["claims"]["OD6"]["verdict"] == "reproduced" and out["claims"]["AM1"]["verdict"] == "reproduced"
    assert out["timings"]["runs"]["AM1"] == res_b["timings"]["runs"]["AM1"]
    assert out["claims"]["GM1"]["verdict"] == report.NOT_CHECKED  # not checked by either run
    assert (a / "figures" / "AM1.png").read_bytes() == b"png"
    assert "**Merged report**" in (a / "index.md").read_text()
    (a / "index.md").unlink()
    report.render_index(a)
    assert "**Merged report**" in (a / "index.md").read_text()
    # merging the older run back changes nothing
    res["claims"]["OD6"]["verdict"] = "refuted"
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "results.json").write_text(json.dumps(res))
    assert report.merge_reports(tmp_path / "c", a) == []
    res["scale"] = "fast"
    (tmp_path / "c" / "results.json").write_text(json.dumps(res))
    with pytest.raises(ValueError, match="scale"):
        report.merge_reports(tmp_path / "c", a)
    with pytest.raises(ValueError, match=r"results\.json"):
        report.merge_reports(tmp_path / "nowhere", a)


def _legend_texts(ax):
    return [t.get_text() for t in ax.get_legend().get_texts()]


def test_finalize_names_only_its_own_bands():
    """finalize() adds 'shaded: 95% band over seeds' only to a panel whose bands all come from plotting.band (the
    95% t-interval); a band drawn with fill_between directly (min-max over seeds, a theory range) and left unnamed
    is reported as a problem instead of being labelled 95% (negative case); a band its panel names is left alone."""
    import numpy as np
    from plotting import band, figure, finalize

    x = np.arange(5.0)
    vals = np.random.default_rng(0).normal(size=(4, 5))
    fig, axes = figure(3, 1)
    band(axes[0], x, vals, "mean")
    axes[1].plot(x, vals.mean(0), label="mean")
    axes[1].fill_between(x, vals.min(0), vals.max(0), alpha=0.25)
    axes[2].plot(x, vals.mean(0), label="mean")
    axes[2].fill_between(x, vals.min(0), vals.max(0), alpha=0.25, label="shaded: min-max over seeds")
    for ax in axes:
        ax.set_xlabel("x")
        ax.set_ylabel("y")
        ax.legend()
    problems = finalize(fig)
    assert "shaded: 95% band over seeds" in _legend_texts(axes[0])
    assert "shaded: 95% band over seeds" not in _legend_texts(axes[1])
    assert len(problems) == 1 and problems[0].startswith("panel 1 ") and "band not drawn by band()" in problems[0]
    assert _legend_texts(axes[2]) == ["mean", "shaded: min-max over seeds"]
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_finalize_band_words_are_whole_words():
    """A legend names its band only with the whole words band(s), CI, interval(s) or shaded: a label that merely
    contains those letters ("specific", "bandwidth") does not, so the 95% entry is still added (the old substring
    test skipped it: negative case); "95% CI" does name it, and then nothing is added."""
    import numpy as np
    from plotting import band, figure, finalize

    x = np.arange(5.0)
    vals = np.random.default_rng(0).normal(size=(4, 5))
    fig, axes = figure(2, 1)
    band(axes[0], x, vals, "specific bandwidth, mean")
    band(axes[1], x, vals, "mean (95% CI)")
    for ax in axes:
        ax.set_xlabel("x")
        ax.set_ylabel("y")
        ax.legend()
    assert finalize(fig) == []
    assert _legend_texts(axes[0]) == ["specific bandwidth, mean", "shaded: 95% band over seeds"]
    assert _legend_texts(axes[1]) == ["mean (95% CI)"]
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_git_commit_is_dirty_only_for_changes_outside_reports(git_checkout):
    """A run writes its figures (tracked files under reports/) before its record: that alone is not '+dirty';
    a change to any other tracked file is (negative case)."""
    root, edit = git_checkout
    clean = report._git_commit(root)
    assert len(clean) == 12 and not clean.endswith("+dirty")
    edit("reports/out.txt", "b")
    assert report._git_commit(root) == clean
    edit("code.py", "x = 2\n")
    assert report._git_commit(root) == clean + "+dirty"
