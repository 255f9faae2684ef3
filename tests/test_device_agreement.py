"""benchmarks/device_agreement.py: the CPU-versus-CUDA comparison of stored rows and verdicts.

Checked on hand-made rows and reports: equal rows count as identical, a changed value is found with its size,
a recall decision (> 1e-9) is told apart from the rounding of a fraction, and bad input raises ``ValueError``.
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import device_agreement as da


def _row(h, seed, d, result, seconds=1.0, finished=None):
    return {"hash": h, "seed": seed, "config": {"d": d}, "result": result, "seconds": seconds, "finished": finished}


def test_compare_rows_counts_identical_rounding_and_flips():
    cpu = {("a", 0): _row("a", 0, 32, [1.0, 0.5]), ("b", 0): _row("b", 0, 64, [1.0, 0.75], 4.0)}
    gpu = {
        ("a", 0): _row("a", 0, 32, [1.0, 0.5], 2.0),
        ("b", 0): _row("b", 0, 64, [1.0 - 1e-16, 0.75 + 1e-4], 1.0),
        ("c", 0): _row("c", 0, 64, [0.0]),  # only on one device: not compared
    }
    out = da.compare_rows(cpu, gpu)
    assert (out["common"], out["identical"], out["values"]) == (2, 1, 4)
    assert (out["values_differ"], out["flips"]) == (2, 1)
    assert out["max_abs"] == pytest.approx(1e-4)
    assert out["by_d"][64]["cpu_s"] == 4.0 and out["by_d"][64]["gpu_s"] == 1.0
    assert out["by_d"][32]["max_abs"] == 0.0


def test_compare_rows_refuses_nothing_in_common_and_shape_mismatch():
    with pytest.raises(ValueError, match="no row in common"):
        da.compare_rows({("a", 0): _row("a", 0, 8, [1.0])}, {("b", 0): _row("b", 0, 8, [1.0])})
    with pytest.raises(ValueError, match="shape"):
        da.compare_rows({("a", 0): _row("a", 0, 8, [1.0])}, {("a", 0): _row("a", 0, 8, [1.0, 1.0])})


def test_read_rows_refuses_a_file_that_is_not_a_dump(tmp_path):
    p = tmp_path / "x.jsonl.gz"
    with gzip.open(p, "wt") as fh:
        fh.write(json.dumps({"format": "something else"}) + "\n")
    with pytest.raises(ValueError, match="amemory sweep dump"):
        da.read_rows(p)


def test_compare_claims_names_the_numbers_that_differ():
    rec = lambda m: {"records": [{"measurement": m}], "verdict": "reproduced"}  # noqa: E731
    cpu = {"claims": {"X1": rec("slope 1.0084; diff 5.2e-15"), "X2": rec("p = 0.01"), "X3": rec("a")}}
    gpu = {"claims": {"X1": rec("slope 1.0084; diff 5.1e-15"), "X2": rec("p = 0.01"), "X9": rec("a")}}
    out = {cid: (a, b, d) for cid, a, b, d in da.compare_claims(cpu, gpu)}
    assert set(out) == {"X1", "X2"}
    assert out["X1"][2] == [("5.2e-15", "5.1e-15")]
    assert out["X2"][2] == []


def test_rows_copied_from_one_dump_into_the_other_are_not_compared():
    """A row of the other device's dump taken over (same finish time and seconds: one computation) is counted
    apart, not as agreement."""
    cpu = {("a", 0): _row("a", 0, 32, [1.0], 3.0, "t1"), ("b", 0): _row("b", 0, 32, [0.5], 2.0, "t2")}
    gpu = {("a", 0): _row("a", 0, 32, [1.0], 3.0, "t1"), ("b", 0): _row("b", 0, 32, [0.5], 1.0, "t3")}
    out = da.compare_rows(cpu, gpu)
    assert (out["common"], out["copied"], out["identical"]) == (1, 1, 1)
    with pytest.raises(ValueError, match="no row in common"):  # nothing left once the copies are out
        da.compare_rows({("a", 0): cpu[("a", 0)]}, {("a", 0): gpu[("a", 0)]})


def test_claims_decided_on_the_same_rows_are_not_compared():
    rec = {"records": [{"measurement": "0.447"}], "verdict": "refuted"}
    cid = next(iter(da.SAME_ROWS))
    out = da.compare_claims({"claims": {cid: rec, "X1": rec}}, {"claims": {cid: rec, "X1": rec}})
    assert [c for c, *_ in out] == ["X1"]
    assert f"Not compared: {cid}" in da.render(
        {
            "common": 1,
            "copied": 0,
            "identical": 1,
            "values": 1,
            "values_differ": 0,
            "flips": 0,
            "max_abs": 0.0,
            "by_d": {},
        },
        out,
    )
