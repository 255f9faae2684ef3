"""checks/stability.py: the stability page counts kept verdicts, errored checks, coverage and the target from
the stored rows (synthetic rows here; the real reruns are in reports/stability.md)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def stability():
    spec = importlib.util.spec_from_file_location("_stability", ROOT / "checks" / "stability.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["_stability"] = mod
    spec.loader.exec_module(mod)
    return mod


def _rec(verdict, est, lo, hi, nc=True):
    return {
        "test": "t",
        "role": "decides",
        "verdict": verdict,
        "estimate": est,
        "interval": [lo, hi],
        "interval_of": "slope",
        "nc_rejected": nc,
    }


def _row(base, claims, rc=0, family="memory"):
    return {"family": family, "seed_base": base, "rc": rc, "seconds": 1.0, "claims": claims, "tail": ""}


def test_counts_kept_errored_and_coverage(stability):
    committed = {
        "AM1": {"verdict": "reproduced", "records": [_rec("reproduced", -0.5, -0.52, -0.48)]},
        "AM2": {"verdict": "refuted", "records": [_rec("refuted", 3.0, 2.0, 4.0)]},
    }
    rows = [
        _row(
            1,
            {
                "AM1": {
                    "verdict": "reproduced",
                    "failed_tests": [],
                    "records": [_rec("reproduced", -0.50, -0.52, -0.48)],
                },
                "AM2": {"verdict": "refuted", "failed_tests": [], "records": [_rec("refuted", 3.0, 2.5, 3.5)]},
            },
        ),
        _row(
            2,
            {
                "AM1": {
                    "verdict": "refuted",
                    "failed_tests": ["test_AM1"],
                    "records": [_rec("refuted", -0.60, -0.62, -0.58, False)],
                }
            },
            rc=1,
        ),
    ]
    text, js = stability.build_report(rows, committed, 2, "abc", "fast")
    a1, a2 = js["claims"]["AM1"], js["claims"]["AM2"]
    assert a1["verdicts"] == {"1": "reproduced", "2": "refuted"} and a1["kept"] == 1 and not a1["meets_target"]
    assert a1["pooled_estimate"] == pytest.approx(-0.55)
    assert a1["p_if_target"] == pytest.approx(1 - 0.95**2)  # binomial P(kept <= 1 of 2 | 95% per rerun)
    assert a1["coverage_of_pooled"] == 0.0  # neither interval holds -0.55
    # the refuted rerun's control (not rejected) is left out: a refuted record's control is often the reverse
    assert a1["negative_controls_rejected"] == "1/1" and a1["failed_tests"] == ["test_AM1"]
    assert a2["verdicts"] == {"1": "refuted", "2": "errored"} and a2["kept"] == 1  # its family ran, it did not record
    assert "Below the target: AM1, AM2." in text and "| AM1 | reproduced | R X | 1/2 |" in text


def test_inconclusive_claims_are_not_held_to_the_target(stability):
    committed = {"AM1": {"verdict": "inconclusive", "records": [_rec("inconclusive", 0.0, -1.0, 1.0)]}}
    rows = [
        _row(b, {"AM1": {"verdict": "reproduced", "failed_tests": [], "records": [_rec("reproduced", 0.0, -1, 1, nc)]}})
        for b, nc in ((1, True), (2, False))
    ]
    _, js = stability.build_report(rows, committed, 2, "abc", "fast")
    assert js["claims"]["AM1"]["meets_target"] and js["claims"]["AM1"]["kept"] == 0
    assert js["claims"]["AM1"]["negative_controls_rejected"] == "1/2"  # a reproduced record's control counts


def test_command_line_errors(stability, capsys):
    for argv in (
        ["run", "--k", "0"],
        ["report", "--families", "nope"],
        ["run", "--k", "5", "--only-bases", "6"],
        ["run", "--k", "5", "--only-bases", "a,b"],
    ):
        with pytest.raises(SystemExit) as e:
            stability.main(argv)
        assert e.value.code == 2
    err = capsys.readouterr().err
    assert "--k must be in [1, 1000]" in err and "--families must be a comma-separated subset" in err
    assert err.count("--only-bases must be a comma-separated subset of 1..5") == 2


def _git(cwd, *args):
    import subprocess

    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def test_rows_of_an_earlier_commit_are_reused_only_for_unchanged_code(stability, tmp_path):
    """A family's rows of commit A serve commit B only when every file its rerun depends on is identical."""
    import subprocess

    (tmp_path / "checks").mkdir()
    (tmp_path / "impl").mkdir()
    for f in ("checks/test_memory.py", "checks/test_gd.py", "checks/conftest.py", "impl/x.py"):
        (tmp_path / f).write_text("x = 1\n")
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "-c", "user.email=a@b", "-c", "user.name=t", "add", ".")
    _git(tmp_path, "-c", "user.email=a@b", "-c", "user.name=t", "commit", "-qm", "a")
    head = lambda: subprocess.run(  # noqa: E731
        ["git", "rev-parse", "HEAD"], cwd=tmp_path, capture_output=True, text=True, check=True
    ).stdout.strip()
    a = head()
    (tmp_path / "checks/test_gd.py").write_text("x = 2\n")  # only gd's check changes
    _git(tmp_path, "-c", "user.email=a@b", "-c", "user.name=t", "commit", "-qam", "b")
    b = head()
    (tmp_path / "impl/x.py").write_text("x = 3\n")  # shared code changes: every family reruns
    _git(tmp_path, "-c", "user.email=a@b", "-c", "user.name=t", "commit", "-qam", "c")
    c = head()
    assert stability.same_code(a, b, "memory", tmp_path) and not stability.same_code(a, b, "gd", tmp_path)
    assert not stability.same_code(b, c, "memory", tmp_path) and not stability.same_code(a, a + "+dirty", "gd")
    table = [
        {"config": {"family": fam, "scale": "fast", "commit": a}, "seed": s, "result": {"base": s, "fam": fam}}
        for fam in ("memory", "gd")
        for s in (1, 2)
    ]
    table.append({"config": {"family": "gd", "scale": "fast", "commit": b}, "seed": 1, "result": {"own": 1}})
    mem = stability.reusable_rows(table, "memory", "fast", b, [1, 2, 3], tmp_path)
    assert mem == {1: (a, {"base": 1, "fam": "memory"}), 2: (a, {"base": 2, "fam": "memory"})}
    gd = stability.reusable_rows(table, "gd", "fast", b, [1, 2], tmp_path)
    assert gd == {1: (b, {"own": 1})}  # base 2 of gd is missing: a's gd rows are of other code
    assert stability.reusable_rows(table, "memory", "fast", c, [1, 2], tmp_path) == {}
    with pytest.raises(ValueError, match="family must be one of"):
        stability.family_paths("nope")


def test_control_power_from_the_margins_of_base_0_and_the_reruns(stability):
    from scipy.stats import norm

    def rec(margin):
        return {**_rec("reproduced", -0.5, -0.52, -0.48), "nc_margin": margin}

    # base 0 from a results.json record (negative_control.margin_se), the reruns from summarised rows
    committed = {
        "AM1": {
            "verdict": "reproduced",
            "records": [{**_rec("reproduced", -0.5, -0.52, -0.48), "negative_control": {"margin_se": 3.0}}],
        },
        "AM2": {"verdict": "reproduced", "records": [_rec("reproduced", 1.0, 0.0, 2.0)]},  # no margins
    }
    rows = [
        _row(b, {"AM1": {"verdict": "reproduced", "failed_tests": [], "records": [rec(m)]}})
        for b, m in ((1, 1.0), (2, 2.0))
    ]
    text, js = stability.build_report(rows, committed, 2, "abc", "fast")
    a1 = js["claims"]["AM1"]
    assert a1["control_margins"] == {"0": [3.0, 1.0, 2.0]}
    assert a1["control_power"] == pytest.approx(norm.cdf(2.0))  # Phi(mean margin)
    assert a1["control_power"] < stability.POWER and "below it: AM1." in text
    assert js["claims"]["AM2"]["control_power"] is None
    assert stability.control_power([5.0, 5.0]) == pytest.approx(norm.cdf(5.0))
    assert stability.control_power([-1.0, -1.0]) == pytest.approx(norm.cdf(-1.0))
    assert stability.control_power([68.0, 261.0]) == 1.0  # far controls are certain, however spread their margins
    assert stability.control_power([4.0]) is None and stability.control_power([None, 3.0, 6.0]) is not None


def test_control_power_leaves_out_refuted_sensitivity_and_other_verdict_records(stability):
    """Only deciding records that carry the claim's own (non-refuted) verdict at base 0 count: OD6-like inconclusive
    comparisons under another verdict, refuted records and sensitivity rows do not; a refuted claim has none."""

    def rec(verdict, margin, role="decides"):
        return {**_rec(verdict, 0.0, -1.0, 1.0), "role": role, "nc_margin": margin}

    def recs(m, v="reproduced"):
        return [rec("refuted", -3.0), rec(v, m), rec("inconclusive", -0.5), rec("reproduced", -2.0, "sensitivity")]

    committed = {
        "OD6": {"verdict": "reproduced", "records": recs(5.0)},
        "OD7": {"verdict": "refuted", "records": recs(5.0, "refuted")},
    }
    rows = [
        _row(
            b,
            {
                "OD6": {"verdict": "reproduced", "failed_tests": [], "records": recs(m)},
                "OD7": {"verdict": "refuted", "failed_tests": [], "records": recs(m, "refuted")},
            },
            family="dynamics",
        )
        for b, m in ((1, 6.0), (2, 4.0))
    ]
    _, js = stability.build_report(rows, committed, 2, "abc", "fast")
    assert js["claims"]["OD6"]["control_margins"] == {"1": [5.0, 6.0, 4.0]}
    assert js["claims"]["OD6"]["control_power"] > 0.99
    assert js["claims"]["OD7"]["control_power"] is None


def test_a_partial_report_shows_only_the_families_rerun(stability):
    committed = {
        "AM1": {"verdict": "reproduced", "records": [_rec("reproduced", -0.5, -0.52, -0.48)]},
        "OD1": {"verdict": "reproduced", "records": [_rec("reproduced", 1.0, 0.9, 1.1)]},
    }
    rows = [
        _row(
            1,
            {"AM1": {"verdict": "reproduced", "failed_tests": [], "records": [_rec("reproduced", -0.5, -0.52, -0.48)]}},
        )
    ]
    text, js = stability.build_report(rows, committed, 1, "abc", "fast")
    assert set(js["claims"]) == {"AM1"} and "| OD1 |" not in text and "Met by 1 of 1" in text


def test_git_commit_agrees_with_the_report(stability, git_checkout):
    """The stability rows' commit and the report's commit label use one rule (amemory.provenance): a change under
    reports/ alone is not '+dirty', a change to code is (negative case); the stability label keeps all 40 hex
    digits and the report's is its first 12."""
    import report

    root, edit = git_checkout
    full = stability.git_commit(root)
    assert len(full) == 40 and report._git_commit(root) == full[:12]
    edit("reports/out.txt", "b")
    assert stability.git_commit(root) == full and report._git_commit(root) == full[:12]
    edit("code.py", "x = 2\n")
    assert stability.git_commit(root) == full + "+dirty"
    assert report._git_commit(root) == full[:12] + "+dirty"


@pytest.mark.parametrize("length", [0, 6, 41, 7.5, True, "12"])
def test_provenance_rejects_a_bad_length(length, tmp_path):
    from amemory.provenance import git_commit

    with pytest.raises(ValueError, match="length must be"):
        git_commit(tmp_path, length=length)
