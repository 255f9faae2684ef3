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


def _row(base, claims, rc=0):
    return {"family": "memory", "seed_base": base, "rc": rc, "seconds": 1.0, "claims": claims, "tail": ""}


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
    for argv in (["run", "--k", "0"], ["report", "--families", "nope"]):
        with pytest.raises(SystemExit) as e:
            stability.main(argv)
        assert e.value.code == 2
    err = capsys.readouterr().err
    assert "--k must be in [1, 1000]" in err and "--families must be a comma-separated subset" in err
