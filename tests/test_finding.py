"""The ``finding`` fixture of the claim checks (checks/conftest.py): a check's finding is asserted on the fixed
seeds and is a warning under another seed base, so that a check never errors because of the draw of seeds
(issue #19, item 7), while an invariant (a plain assert) fails under every seed base."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

FAKE = """
NC = {"prediction": "fake", "rejected": True}

def test_AM1_fake(record, finding):
    record("AM1", prediction="p", measurement="m", criterion="c", verdict="refuted", negative_control=NC)
    finding(False, "the fixed seeds' verdict was reproduced")


def test_AM2_invariant(record, finding):
    record("AM2", prediction="p", measurement="m", criterion="c", verdict="reproduced", negative_control=NC)
    finding(True)
    assert False, "a negative control that did not reject"


def test_AM3_live(record):
    import sys
    from conftest import live

    record("AM3", prediction="p", measurement="m", criterion="c", verdict="reproduced", negative_control=NC)
    with live():
        sys.stderr.write("LIVE-PROGRESS-LINE\\n")
"""


@pytest.fixture(scope="module")
def fake_checks(tmp_path_factory):
    d = tmp_path_factory.mktemp("fake") / "checks"
    d.mkdir()
    for p in (ROOT / "checks").glob("*.py"):
        if not p.name.startswith("test_"):
            shutil.copy(p, d / p.name)
    (d / "test_fake.py").write_text(FAKE)
    return d


def _run(d: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "pytest", str(d / "test_fake.py"), "-p", "no:cacheprovider", "-q", "-rA", *args]
    return subprocess.run(cmd, cwd=d.parent, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("base,scale", [("0", "fast"), ("3", "fast"), ("0", "full")])
def test_finding_asserts_only_on_the_fixed_seeds(fake_checks, base, scale, tmp_path):
    """Asserted on the fast tier's fixed seeds only: under another seed base, or at the full scale (a verdict
    that moves with scale is a measurement), a warning; an invariant fails everywhere."""
    r = _run(fake_checks, f"--seed-base={base}", f"--scale={scale}", f"--report-dir={tmp_path}")
    out = r.stdout + r.stderr
    summary = out.split("short test summary info", 1)[-1]
    assert "FAILED checks/test_fake.py::test_AM2_invariant - AssertionError" in summary, out[-3000:]
    if base == "0" and scale == "fast":
        assert "FAILED checks/test_fake.py::test_AM1_fake - AssertionError" in summary, out[-3000:]
    else:
        assert "PASSED checks/test_fake.py::test_AM1_fake" in summary, out[-3000:]
        assert "FindingChanged" in out, out[-3000:]


def test_seed_base_option_is_checked(fake_checks, tmp_path):
    r = _run(fake_checks, "--seed-base=-1", f"--report-dir={tmp_path}")
    assert r.returncode != 0 and "--seed-base must be in [0, 2**32)" in r.stdout + r.stderr
    r = _run(fake_checks, "--seed-base=2", "--fresh-seeds", f"--report-dir={tmp_path}")
    assert r.returncode != 0 and "exclude each other" in r.stdout + r.stderr


def test_live_shows_output_on_a_terminal_only(fake_checks, tmp_path):
    """Inside ``live()`` a passing check's output reaches a terminal (pytest's capture suspended), and is
    captured as usual when the output is not a terminal (CI)."""
    import shlex
    import shutil as sh

    if sh.which("script") is None:
        pytest.skip("util-linux 'script' (a pseudo-terminal) is not available")
    args = [
        sys.executable,
        "-m",
        "pytest",
        str(fake_checks / "test_fake.py"),
        "-p",
        "no:cacheprovider",
        "-q",
        "-k",
        "live",
        f"--report-dir={tmp_path}",
    ]
    tty = subprocess.run(
        ["script", "-qec", shlex.join(args), "/dev/null"],
        cwd=fake_checks.parent,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "1 passed" in tty.stdout and "LIVE-PROGRESS-LINE" in tty.stdout, tty.stdout[-2000:]
    pipe = subprocess.run(args, cwd=fake_checks.parent, capture_output=True, text=True, timeout=300)
    assert "1 passed" in pipe.stdout and "LIVE-PROGRESS-LINE" not in pipe.stdout + pipe.stderr, pipe.stdout[-2000:]
