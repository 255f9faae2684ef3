"""benchmarks/full_tier.py: the full tier's per-family driver and its cost table (issue #20)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks import full_tier  # noqa: E402

COSTS = {
    "families": {
        "gd": dict(
            family="gd",
            threads=1,
            commit="abc1234",
            wall_s=70.4,
            peak_rss_mib=1854.0,
            rc=0,
            pytest="5 passed",
            claims={"GD1": "reproduced", "GD2": "refuted"},
            device="cpu",
        ),
        "scaling": dict(
            family="scaling",
            threads=2,
            commit="abc1234",
            wall_s=5000.0,
            peak_rss_mib=9000.0,
            rc=1,
            pytest="1 failed, 7 passed",
            claims={},
            device="cpu",
        ),
    }
}


def test_table_has_every_family_and_says_what_ran(monkeypatch):
    monkeypatch.setattr(full_tier, "_claims", lambda family, device="cpu": {})  # no report: the runs' own verdicts
    text = full_tier.render(COSTS)
    rows = [ln for ln in text.splitlines() if ln.startswith("| ") and not ln.startswith("| family")]
    assert [r.split("|")[1].strip() for r in rows] == list(full_tier.FAMILIES)
    gd = next(r for r in rows if r.startswith("| gd "))
    assert "finished" in gd and "0:01:10" in gd and "1854" in gd and "GD1 reproduced, GD2 refuted" in gd
    sc = next(r for r in rows if r.startswith("| scaling "))
    assert "exit 1 (1 failed, 7 passed)" in sc
    assert "| memory | not run here yet |" in text
    # a family without a timed run whose checks ran one by one shows the report's verdicts, not "not run"
    monkeypatch.setattr(
        full_tier, "_claims", lambda family, device="cpu": {"AM1": "reproduced"} if family == "memory" else {}
    )
    mem = next(ln for ln in full_tier.render(COSTS).splitlines() if ln.startswith("| memory "))
    assert (
        "| memory | no timed run of the whole family (its checks ran one by one) |" in mem
        and "| AM1 reproduced |" in mem
    )
    # the projection divides by the bandwidth ratio; only finished families count; no GPU run: "not run"
    assert f"{full_tier.GPU_GBS / full_tier.CPU_GBS:.0f} times faster" in text
    assert "| not run |  | 0:00:01 |" in gd  # 70.4 s x 50.6 / 4800
    assert "No family has been timed on a GPU yet" in text
    assert "Finished families: 0:01:10" in text
    assert "--scale full --device cuda" in text
    # a finished family's note (what its wall time leaves out) follows its status
    noted = full_tier.render(dict(COSTS, notes={"gd": "GD3 read its rows from the store"}))
    gd = next(r for r in noted.splitlines() if r.startswith("| gd "))
    assert "| finished (GD3 read its rows from the store) | 0:01:10 |" in gd


def test_measured_gpu_column_ratio_and_verdict_agreement():
    """A finished GPU run gives the measured time, the ratio here / there and whether the verdicts agree; a
    failed one shows its hand-written note; the text then reports the measured range, not the projection alone."""
    g = dict(COSTS["families"]["gd"], wall_s=35.2, threads=8, device="cuda")
    bad = dict(g, family="scaling", rc=1)
    cuda = {"families": {"gd": g, "scaling": bad}, "notes": {"scaling": "stopped: see its log"}}
    text = full_tier.render(COSTS, cuda)
    gd = next(r for r in text.splitlines() if r.startswith("| gd "))
    assert "0:00:35 (8 CPU threads, abc1234); same verdicts | 2.0x |" in gd
    sc = next(r for r in text.splitlines() if r.startswith("| scaling "))
    assert "stopped: see its log" in sc
    assert "ran 2.0 to 2.0 times faster than here" in text
    g2 = dict(g, claims={"GD1": "reproduced", "GD2": "reproduced"})
    gd2 = next(r for r in full_tier.render(COSTS, {"families": {"gd": g2}}).splitlines() if r.startswith("| gd "))
    assert "verdicts differ" in gd2


def test_costs_and_reports_of_devices_are_kept_apart():
    assert full_tier.costs_path("cpu").name == "costs.json"
    assert full_tier.costs_path("cuda").name == "costs_cuda.json"
    assert full_tier.report_dir("cpu") == "reports/full" and full_tier.report_dir("cuda") == "reports/full-cuda"
    with pytest.raises(ValueError, match="device"):
        full_tier.costs_path("tpu")


def test_section_replaces_itself(tmp_path, monkeypatch):
    page = tmp_path / "performance.md"
    page.write_text("# Performance\n\n## 1. something\n")
    monkeypatch.setattr(full_tier, "PAGE", page)
    full_tier.write_section(full_tier.render(COSTS))
    full_tier.write_section(full_tier.render(COSTS))
    text = page.read_text()
    assert text.count(f"<!-- section:{full_tier.SECTION} -->") == 1 and text.startswith("# Performance")


@pytest.mark.parametrize("argv", [["run", "--families", "nosuch"], ["run", "--threads", "0", "--families", "gd"]])
def test_bad_arguments_stop(argv):
    with pytest.raises(SystemExit):
        full_tier.main(argv)


def test_a_stopped_family_shows_the_verdicts_its_claims_have_now(monkeypatch):
    """A family whose timed run stopped (rc != 0) lists its claims' verdicts as the report has them now (resumed
    store-backed runs decide them later); a finished family keeps its timed run's verdicts where the report agrees
    (GD2) and shows the report's beside them where a later rerun changed one (GD1)."""
    now = {"gd": {"GD1": "refuted"}, "scaling": {"SL1": "reproduced"}}
    monkeypatch.setattr(full_tier, "_claims", lambda family, device="cpu": now.get(family, {}))
    costs = {"families": dict(COSTS["families"])}
    costs["families"]["scaling"] = dict(COSTS["families"]["scaling"], claims={"SL1": "not yet checked"})
    rows = full_tier.render(costs).splitlines()
    sc = next(r for r in rows if r.startswith("| scaling "))
    gd = next(r for r in rows if r.startswith("| gd "))
    assert "| SL1 reproduced |" in sc and "not yet checked" not in sc
    assert "GD1 refuted (timed run: reproduced), GD2 refuted" in gd


def test_run_records_are_labelled_with_the_shared_commit_helper(tmp_path, monkeypatch):
    """The commit of a cost record comes from amemory.provenance (7 hex digits, +dirty only for code changes);
    outside a git work tree it is "unknown" rather than an error."""
    import re

    assert re.fullmatch(r"[0-9a-f]{7}(\+dirty)?", full_tier._commit())
    monkeypatch.setattr(full_tier, "ROOT", tmp_path)
    assert full_tier._commit() == "unknown"
