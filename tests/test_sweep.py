"""Unit and reliability tests of the sweep engine amemory.sweep (hashing, the SQLite store, run_sweep on Dask,
the command line) and of the named grids of the checks (checks/grids.py).

The reliability tests run a sweep of the cheap deterministic ``sweep_toy.toy_task`` (tests/sweep_toy.py) in a driver
subprocess, SIGKILL the driver (or one of its Dask workers) mid-way, rerun, and compare the store with
the one of an uninterrupted run: same (configuration, seed) pairs, none duplicated, identical results.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as hst
from sweep_toy import toy_configs, toy_task

from amemory.sweep import (
    APPLICATION_ID,
    MAGIC,
    Store,
    SweepError,
    canonical_json,
    config_hash,
    dump_store,
    load_dump,
    load_results,
    run_sweep,
    task_name,
)
from amemory.sweep import cli as sw
from amemory.sweep import runner as sweep_runner

ROOT = Path(__file__).resolve().parent.parent
TESTS = Path(__file__).resolve().parent
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}


def _grid_file(path: Path, configs) -> Path:
    path.write_text(json.dumps({"configs": configs}))
    return path


try:
    import distributed
except ImportError:  # the Dask tests are skipped; the store, hashing and inline tests still run
    distributed = None
needs_dask = pytest.mark.skipif(distributed is None, reason="dask[distributed] is not installed")


def _digest(path: Path) -> tuple[str, int]:
    return hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns


def _integrity(path: Path) -> dict:
    """Row count, duplicates and SQLite integrity of a store, read without the Store class."""
    con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return {
            "rows": con.execute("SELECT COUNT(*) FROM results").fetchone()[0],
            "duplicates": con.execute(
                "SELECT COUNT(*) FROM (SELECT hash, seed FROM results GROUP BY hash, seed HAVING COUNT(*) > 1)"
            ).fetchone()[0],
            "integrity": con.execute("PRAGMA integrity_check").fetchall(),
        }
    finally:
        con.close()


def _rows(path: Path) -> int:
    try:
        con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=5)
        try:
            return con.execute("SELECT COUNT(*) FROM results").fetchone()[0]
        finally:
            con.close()
    except sqlite3.Error:
        return 0


# ---------------------------------------------------------------- canonical JSON and hashing
def test_canonical_json_is_canonical():
    a = {"b": 1, "a": [1.5, (2, 3)], "c": {"y": None, "x": True}}
    b = {"c": {"x": True, "y": None}, "a": [1.5, [2, 3]], "b": 1}
    assert canonical_json(a) == canonical_json(b) == '{"a":[1.5,[2,3]],"b":1,"c":{"x":true,"y":null}}'
    assert canonical_json({"x": np.float64(0.1), "n": np.int64(3), "v": np.arange(2)}) == '{"n":3,"v":[0,1],"x":0.1}'
    assert canonical_json(-0.0) == canonical_json(0.0)
    assert canonical_json(1) != canonical_json(1.0)  # the function receives what the configuration says


@pytest.mark.parametrize("bad", [{"x": float("nan")}, {"x": [float("inf")]}, {1: 2}, {"x": object()}, {"x": {3}}])
def test_canonical_json_rejects(bad):
    with pytest.raises(ValueError, match="cfg"):
        canonical_json(bad, name="cfg")


_json = hst.recursive(
    hst.none()
    | hst.booleans()
    | hst.integers(-(10**12), 10**12)
    | hst.text(max_size=5)
    | hst.floats(allow_nan=False, allow_infinity=False),
    lambda ch: hst.lists(ch, max_size=4) | hst.dictionaries(hst.text(max_size=4), ch, max_size=4),
    max_leaves=12,
)


@given(hst.dictionaries(hst.text(max_size=6), _json, max_size=6), hst.randoms())
def test_canonical_json_properties(d, rnd):
    """Key order never matters; the text round-trips to an equal value (-0.0 read as 0.0)."""
    items = list(d.items())
    rnd.shuffle(items)
    assert canonical_json(dict(items)) == canonical_json(d)
    assert canonical_json(json.loads(canonical_json(d))) == canonical_json(d)
    assert config_hash(dict(items), "t") == config_hash(d, "t")


def test_config_hash():
    h = config_hash({"lr": 0.1, "d": 10}, "mod:fn", "1")
    assert len(h) == 64 and all(c in "0123456789abcdef" for c in h)
    assert h == config_hash({"d": 10, "lr": 0.1}, "mod:fn", "1")
    assert h != config_hash({"d": 10, "lr": 0.1}, "mod:fn", "2")  # code version
    assert h != config_hash({"d": 10, "lr": 0.1}, "mod:other", "1")  # another function
    assert h != config_hash({"d": 10, "lr": 0.2}, "mod:fn", "1")
    assert task_name(toy_task) == "toy"  # its stable id (sweep_toy.toy_task is decorated with task_id)
    assert task_name(_flaky) == f"{_flaky.__module__}:_flaky"  # default: module:qualname
    for kw in (
        {"config": [1]},
        {"config": {"a": 1}, "task": ""},
        {"config": {"a": 1}, "task": 3},
        {"config": {"a": 1}, "version": ""},
        {"config": {"a": float("nan")}},
    ):
        kw = {"task": "t", **kw}
        with pytest.raises(ValueError, match=r"config|task|version"):
            config_hash(**kw)
    with pytest.raises(ValueError, match="fn"):
        task_name(3)


# ---------------------------------------------------------------- the store
def _fill(path: Path, n: int = 6, seeds=(0, 1)) -> dict:
    run_sweep(toy_task, toy_configs(n), seeds, path, "inline", progress=False)
    with Store(path) as st:
        return st.snapshot()


def test_store_header_put_get(tmp_path):
    p = tmp_path / "s.sqlite"
    with Store(p) as st:
        assert st.count() == 0
        h = config_hash({"x": 1}, "t")
        st.add_configs([(h, "t", "1", canonical_json({"x": 1}))])
        assert st.put(h, (3, 4), ['{"v":1}', '{"v":2}']) == 2
        assert st.put(h, (4, 5), ['{"v":99}', '{"v":3}']) == 1  # (h, 4) kept: first write wins
        assert st.get([h, "0" * 64], (3, 4, 5, 6)) == [[{"v": 1}, {"v": 2}, {"v": 3}, None], [None] * 4]
        assert st.stored_seeds([h]) == {h: {3, 4, 5}} and st.count() == 3
        assert st.table("t")[0]["config"] == {"x": 1} and st.summary() == [
            {"task": "t", "version": "1", "configs": 1, "rows": 3}
        ]
        with pytest.raises(ValueError, match="not registered"):
            st.put("f" * 64, (1,), ["{}"])
        with pytest.raises(ValueError, match="results"):
            st.put(h, (1, 2), ["{}"])
        with pytest.raises(ValueError, match="results"):
            st.put(h, (1,), [{"v": 1}])
        with pytest.raises(ValueError, match="seeds"):
            st.put(h, (-1,), ["{}"])
    head = p.read_bytes()[:100]
    assert head[:16] == b"SQLite format 3\x00" and int.from_bytes(head[68:72], "big") == APPLICATION_ID
    con = sqlite3.connect(p)
    assert dict(con.execute("SELECT key, value FROM amemory_store"))["magic"] == MAGIC
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    con.close()
    with pytest.raises(ValueError, match="closed"):
        st.count()
    with Store(p, create=False) as st:  # reopen
        assert st.count() == 3


def test_store_argument_errors(tmp_path):
    for bad in ("", 3, None):
        with pytest.raises(ValueError, match="store_path"):
            Store(bad)
    with pytest.raises(ValueError, match="directory"):
        Store(tmp_path)
    with pytest.raises(ValueError, match="does not exist"):
        Store(tmp_path / "absent.sqlite", create=False)
    with pytest.raises(ValueError, match="directory"):
        Store(tmp_path / "no" / "such" / "dir.sqlite")
    with pytest.raises(ValueError, match="create"):
        Store(tmp_path / "x.sqlite", create=1)
    assert not (tmp_path / "x.sqlite").exists()


def _corruptions(p: Path):
    """(name, function that damages a valid store file in place)."""

    def garbage_page(q):
        b = bytearray(q.read_bytes())
        rng = np.random.default_rng(0)
        b[4096:8192] = rng.integers(0, 256, 4096, dtype=np.uint8).tobytes()  # page 2
        q.write_bytes(bytes(b))

    def truncated(q):
        q.write_bytes(q.read_bytes()[:3000])

    def header(q):
        b = bytearray(q.read_bytes())
        b[0:16] = b"\x00" * 16
        q.write_bytes(bytes(b))

    def newer_schema(q):
        con = sqlite3.connect(q)
        con.execute("UPDATE amemory_store SET value = '99' WHERE key = 'schema_version'")
        con.commit()
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        con.close()

    def no_header_table(q):
        con = sqlite3.connect(q)
        con.execute("DROP TABLE amemory_store")
        con.commit()
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        con.close()

    return [
        ("garbage page", garbage_page, "corrupt"),
        ("truncated", truncated, "corrupt|truncated"),
        ("zeroed header", header, "not an SQLite database"),
        ("newer schema", newer_schema, "newer"),
        ("header table dropped", no_header_table, "corrupt or of another schema"),
    ]


@pytest.mark.parametrize("case", range(5))
def test_corrupt_store_clear_error_and_untouched(tmp_path, case):
    p = tmp_path / "s.sqlite"
    _fill(p)
    name, damage, msg = _corruptions(p)[case]
    damage(p)
    before = _digest(p)
    with pytest.raises(ValueError, match=msg):
        Store(p)
    with pytest.raises(ValueError, match="not a usable amemory sweep store"):
        run_sweep(toy_task, toy_configs(8), (0, 1), p, "inline", progress=False)
    with pytest.raises(ValueError, match="left untouched"):
        load_results(p, toy_task, toy_configs(2), (0,))
    assert _digest(p) == before, f"{name}: the damaged store was modified"


def test_foreign_files_clear_error_and_untouched(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("my notes, not a database\n" * 20)
    empty = tmp_path / "empty.sqlite"
    empty.write_bytes(b"")
    other = tmp_path / "other.sqlite"  # another program's SQLite database
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE results(hash TEXT, seed INTEGER, result TEXT)")
    con.execute("INSERT INTO results VALUES ('a', 1, 'x')")
    con.commit()
    con.close()
    ours_id = tmp_path / "fake.sqlite"  # our application id but someone else's tables
    con = sqlite3.connect(ours_id)
    con.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    con.execute("CREATE TABLE amemory_store(key TEXT PRIMARY KEY, value TEXT)")
    con.execute("INSERT INTO amemory_store VALUES ('magic', 'something-else')")
    con.commit()
    con.close()
    for f, msg in [
        (text, "not an SQLite database"),
        (empty, "not an SQLite database"),
        (other, "another application"),
        (ours_id, "magic"),
    ]:
        before = _digest(f)
        with pytest.raises(ValueError, match=msg):
            Store(f)
        with pytest.raises(ValueError, match="left untouched"):
            run_sweep(toy_task, toy_configs(3), (0,), f, "inline", progress=False)
        assert _digest(f) == before and not Path(f"{f}-wal").exists()


# ---------------------------------------------------------------- run_sweep (inline)
def _counting(calls):
    def fn(config, seeds):
        calls.append((config["x"], tuple(seeds)))
        return toy_task(config, seeds)

    return fn


def test_run_sweep_inline_stores_and_skips(tmp_path, capsys):
    p = tmp_path / "s.sqlite"
    calls = []
    fn = _counting(calls)
    cfgs = toy_configs(5)
    s = run_sweep(fn, cfgs + [dict(cfgs[0])], (3, 1, 2), p, "inline", progress=True, task="toy", version="v")
    assert (s.total, s.stored_before, s.done, s.left, s.failed) == (15, 0, 15, 0, [])
    assert len(calls) == 5 and all(sd == (3, 1, 2) for _, sd in calls)  # duplicate config ran once, seeds batched
    assert len(s.hashes) == 6 and s.hashes[0] == s.hashes[5]
    err = capsys.readouterr().err
    assert "done 15, stored 0, left 0" in err
    calls.clear()
    s = run_sweep(fn, toy_configs(7), (1, 2, 3, 4), p, "inline", progress=True, task="toy", version="v")
    assert (s.total, s.stored_before, s.done) == (28, 15, 13) and len(calls) == 7
    assert sorted(calls) == sorted([(c["x"], (4,)) for c in cfgs] + [(3.0, (1, 2, 3, 4)), (2.5, (1, 2, 3, 4))])
    assert "done 13, stored 15, left 0" in capsys.readouterr().err
    calls.clear()
    s = run_sweep(fn, toy_configs(7), (1, 2, 3, 4), p, "inline", progress=False, task="toy", version="v")
    assert (s.stored_before, s.done, calls) == (28, 0, [])
    s = run_sweep(fn, toy_configs(2), (1,), p, "inline", progress=False, task="toy", version="w")  # new code version
    assert (s.stored_before, s.done) == (0, 2)
    res = load_results(p, "toy", toy_configs(8), (1, 4, 9), version="v")
    assert res[7] == [None] * 3 and res[0][2] is None
    assert res[6][1] == toy_task(toy_configs(7)[6], (4,))[0]


def test_batched_equals_looped_and_order_free(tmp_path):
    """One call per (config, seed) or all seeds in one call, and any seed order: the same store."""
    a, b = tmp_path / "a.sqlite", tmp_path / "b.sqlite"
    run_sweep(toy_task, toy_configs(6), (0, 1, 2, 3), a, "inline", progress=False)
    run_sweep(toy_task, toy_configs(6)[::-1], (3, 1, 0, 2), b, "inline", progress=False, seeds_per_task=1)
    with Store(a) as x, Store(b) as y:
        assert x.snapshot() == y.snapshot() and x.count() == 24
    out = toy_task({"x": 1.0}, (5, 6, 7))
    assert out == [toy_task({"x": 1.0}, (s,))[0] for s in (5, 6, 7)] == toy_task({"x": 1.0}, (5, 6, 7))
    assert out[0]["value"] != toy_task({"x": 1.0, "tag": 1}, (5,))[0]["value"]


def _flaky(config, seeds):
    if config["x"] == 1.0:
        raise RuntimeError("boom")
    if config["x"] == 1.5:
        return [{}]  # wrong length
    return toy_task(config, seeds)


def test_failures_keep_the_rest(tmp_path):
    p = tmp_path / "s.sqlite"
    with pytest.raises(SweepError, match="2 task") as ei:
        run_sweep(_flaky, toy_configs(5), (0, 1), p, "inline", progress=False, task="flaky")
    s = ei.value.summary
    assert (s.done, len(s.failed), s.left) == (6, 2, 4)
    assert {f["error"].split(":")[0] for f in s.failed} == {"RuntimeError", "ValueError"}
    s = run_sweep(_flaky, toy_configs(5), (0, 1), p, "inline", progress=False, task="flaky", raise_on_failure=False)
    assert (s.stored_before, s.done, len(s.failed)) == (6, 0, 2)
    s = run_sweep(
        toy_task, toy_configs(5), (0, 1), p, "inline", progress=False, task="flaky"
    )  # fixed: only the rest runs
    assert (s.stored_before, s.done, s.failed) == (6, 4, [])


def test_run_sweep_argument_errors(tmp_path):
    p = tmp_path / "s.sqlite"
    good = dict(fn=toy_task, configs=toy_configs(2), seeds=(0,), store_path=p, scheduler="inline", progress=False)
    bad = [
        ("fn", 3),
        ("configs", []),
        ("configs", {"x": 1}),
        ("configs", [{"x": 1}, 3]),
        ("configs", [{"x": float("nan")}]),
        ("seeds", -1),
        ("seeds", (0, 0)),
        ("seeds", ()),
        ("seeds", "ab"),
        ("scheduler", ""),
        ("scheduler", 3),
        ("progress", "yes"),
        ("version", ""),
        ("task", ""),
        ("seeds_per_task", 0),
        ("n_workers", 0),
        ("n_workers", (os.cpu_count() or 1) + 1),
        ("raise_on_failure", None),
    ]
    for name, value in bad:
        with pytest.raises(ValueError, match=name.rstrip("s") if name != "configs" else "configs"):
            run_sweep(**{**good, name: value})
    assert not p.exists() or Store(p).count() == 0
    for kw in ({"configs": {"x": 1}}, {"seeds": -1}, {"version": ""}):
        with pytest.raises(ValueError):
            load_results(p, toy_task, **{"configs": toy_configs(1), "seeds": (0,), **kw})
    with pytest.raises(ValueError, match="does not exist"):
        load_results(tmp_path / "none.sqlite", toy_task, toy_configs(1), (0,))


def test_toy_task_and_configs_errors():
    for cfg in ({}, {"x": "a"}, {"x": float("inf")}, {"x": 1, "sleep": -1}, {"x": True}):
        with pytest.raises(ValueError, match="config"):
            toy_task(cfg, (0,))
    for seeds in ((), (-1,), "a", (1.5,)):
        with pytest.raises(ValueError, match="seeds"):
            toy_task({"x": 1}, seeds)
    with pytest.raises(RuntimeError, match="fail"):
        toy_task({"x": 1, "fail": True}, (0,))
    for kw in ({"n": 0}, {"n": 2, "sleep": -1.0}, {"n": 1.5}):
        with pytest.raises(ValueError, match=r"n|sleep"):
            toy_configs(**kw)
    assert toy_configs(2, 0.5) == [{"x": 0.0, "sleep": 0.5}, {"x": 0.5, "sleep": 0.5}]


def test_cli_status_and_function_run(tmp_path, capsys):
    p, g = tmp_path / "s.sqlite", _grid_file(tmp_path / "g.json", toy_configs(3))
    args = ["run", "sweep_toy:toy_task", "--grid", str(g), "--store", str(p), "--scheduler", "inline"]
    assert sw.main([*args, "--seeds", "2", "--no-progress"]) == 0
    assert sw.main(["status", "--store", str(p)]) == 0
    assert "toy (version 1): 3 configurations, 6 rows" in capsys.readouterr().out
    with Store(p) as st:
        assert st.count() == 6
    assert load_results(p, toy_task, toy_configs(3), (0, 1))[2][1] == toy_task(toy_configs(3)[2], (1,))[0]
    # a TOML grid: list values are axes, the others fixed
    t = tmp_path / "g.toml"
    t.write_text("x = [0.0, 0.5, 1.0]\nsleep = 0.0\n")
    assert sw.grid_configs(t) == toy_configs(3)
    assert sw.main([*args[:3], str(t), *args[4:], "--seed-list", "0,1,7", "--no-progress"]) == 0
    with Store(p) as st:
        assert st.count() == 9


@pytest.mark.parametrize(
    "argv, message",
    [
        (["run", "nope", "--store", "{p}"], "unknown sweep 'nope'"),
        (["run", "sweep_toy:toy_task", "--store", "{p}"], "needs --grid"),
        (["run", "sweep_toy:toy_task", "--grid", "{g}", "--store", "{p}", "--workers", "0"], "--workers"),
        (["run", "sweep_toy:toy_task", "--grid", "{g}", "--store", "{p}", "--seeds", "0"], "--seeds"),
        (["run", "sweep_toy:toy_task", "--grid", "{g}", "--store", "{p}", "--seeds-per-task", "0"], "--seeds-per-task"),
        (["run", "sweep_toy:toy_task", "--grid", "{g}", "--store", "{p}", "--scheduler", ""], "--scheduler"),
        (["run", "sweep_toy:toy_task", "--grid", "{g}", "--store", "{p}", "--scheduler", "host"], "--scheduler"),
        (["run", "sweep_toy:toy_task", "--grid", "{g}", "--store", "{p}", "--device", "tpu"], "--device"),
        (["run", "sweep_toy:nothing", "--grid", "{g}", "--store", "{p}"], "no attribute"),
        (["run", "sweep_toy:toy_task", "--grid", "{g}", "--store", "{d}"], "not a regular file"),
        (["status", "--store", "{p}"], "does not exist"),
    ],
)
def test_cli_errors_are_one_line(tmp_path, capsys, argv, message):
    """Every error of the command line is one line on stderr and exit status 2, before any store is made."""
    p, g = tmp_path / "s.sqlite", _grid_file(tmp_path / "g.json", toy_configs(2))
    argv = [a.format(p=p, g=g, d=tmp_path) for a in argv]
    assert sw.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and message in err and "\n" not in err and "Traceback" not in err
    assert not p.exists()


def test_cli_help_lists_named_sweeps(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    with pytest.raises(SystemExit):
        sw.main(["run", "--help"])
    assert "optimizer_grid" in capsys.readouterr().out
    assert sw.main(["list"]) == 0
    assert "optimizer_grid:" in capsys.readouterr().out


# ---------------------------------------------------------------- Dask
CFG_N, SEEDS, SLEEP = 24, (0, 1, 2), 0.15


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict:
    """The store of an uninterrupted inline run of the sweep the reliability tests kill."""
    p = tmp_path_factory.mktemp("ref") / "ref.sqlite"
    run_sweep(toy_task, toy_configs(CFG_N, SLEEP), SEEDS, p, "inline", progress=False, version="toy-1")
    with Store(p) as st:
        return st.snapshot()


@needs_dask
def test_local_cluster_and_existing_scheduler_match_inline(tmp_path, reference):
    cfgs = toy_configs(CFG_N, SLEEP)
    a = tmp_path / "local.sqlite"
    s = run_sweep(toy_task, cfgs, SEEDS, a, None, progress=False, version="toy-1", n_workers=2)
    assert (s.done, s.failed) == (len(reference), [])
    with Store(a) as st:
        assert st.snapshot() == reference
    cluster = distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None)
    try:
        b = tmp_path / "address.sqlite"
        s = run_sweep(toy_task, cfgs[:10], SEEDS, b, cluster.scheduler_address, progress=False, version="toy-1")
        assert s.done == 30
        with distributed.Client(cluster) as client:  # a Client is reused, not closed
            s = run_sweep(toy_task, cfgs, SEEDS, b, client, progress=False, version="toy-1")
            assert (s.stored_before, s.done) == (30, len(reference) - 30)
            assert client.status == "running"
        with Store(b) as st:
            assert st.snapshot() == reference
    finally:
        cluster.close()


@needs_dask
def test_unreachable_scheduler_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(sweep_runner, "_CONNECT_TIMEOUT", "2s")
    with pytest.raises(ValueError, match="cannot connect"):
        run_sweep(toy_task, toy_configs(2), (0,), tmp_path / "s.sqlite", "tcp://127.0.0.1:9", progress=False)


def _toy_cmd(store: Path, grid: Path, *extra: str, version: str = "toy-1") -> list[str]:
    """The command line of a driver of the toy sweep over ``grid`` into ``store``."""
    cmd = [sys.executable, "-m", "amemory.sweep", "run", "sweep_toy:toy_task", "--grid", str(grid)]
    return [*cmd, "--version", version, "--store", str(store), "--no-progress", *extra]


def _driver(store: Path, *extra: str, env=None) -> subprocess.Popen:
    grid = _grid_file(store.with_suffix(".grid.json"), toy_configs(CFG_N, SLEEP))
    cmd = _toy_cmd(store, grid, "--seeds", str(len(SEEDS)), *extra)
    return subprocess.Popen(
        cmd, cwd=ROOT, env={**ENV, **(env or {})}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _wait_rows(store: Path, proc: subprocess.Popen, at_least: int, timeout: float = 120.0) -> int:
    t0 = time.time()
    while time.time() - t0 < timeout:
        n = _rows(store) if store.exists() else 0
        if n >= at_least:
            return n
        if proc.poll() is not None:
            raise AssertionError(f"driver ended early: {proc.communicate()}")
        time.sleep(0.02)
    raise AssertionError(f"no {at_least} rows after {timeout} s")


def _descendants(pid: int) -> list:
    try:
        import psutil
    except ImportError:  # comes with distributed; without it there are no worker processes to track
        return []

    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def _reap(procs) -> None:
    """Kill (by pid) the leftover processes of a killed driver: only processes this test started."""
    if not procs:
        return
    import psutil

    _, alive = psutil.wait_procs(procs, timeout=15)
    for p in alive:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass


def _check_same(store: Path, reference: dict) -> None:
    info = _integrity(store)
    assert info["integrity"] == [("ok",)], info
    assert info["duplicates"] == 0 and info["rows"] == len(reference)
    with Store(store) as st:
        assert st.snapshot() == reference  # no configuration lost, none added, identical results


@pytest.mark.parametrize("scheduler", [pytest.param("local", marks=needs_dask), "inline"])
def test_sigkill_driver_then_resume(tmp_path, reference, scheduler):
    """SIGKILL the driver once a quarter of the runs is stored; the rerun completes the same store."""
    p = tmp_path / "s.sqlite"
    extra = ["--workers", "2"] if scheduler == "local" else ["--scheduler", "inline", "--seeds-per-task", "1"]
    proc = _driver(p, *extra)
    try:
        _wait_rows(p, proc, len(reference) // 4)
        kids = _descendants(proc.pid)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    _reap(kids)
    n_killed = _integrity(p)["rows"]
    assert 0 < n_killed < len(reference), "the driver was not killed mid-way"
    s = run_sweep(
        toy_task,
        toy_configs(CFG_N, SLEEP),
        SEEDS,
        p,
        "inline" if scheduler == "inline" else None,
        progress=False,
        version="toy-1",
        n_workers=2,
    )
    assert (s.stored_before, s.done, s.failed) == (n_killed, len(reference) - n_killed, [])
    _check_same(p, reference)


def test_sigkill_driver_during_writes(tmp_path):
    """Kill an inline driver that commits hundreds of rows a second: no torn or duplicated row."""
    p = tmp_path / "s.sqlite"
    grid = _grid_file(tmp_path / "g.json", toy_configs(3000))
    cmd = _toy_cmd(p, grid, "--seeds", "2", "--scheduler", "inline", "--seeds-per-task", "1")
    proc = subprocess.Popen(cmd, cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _wait_rows(p, proc, 500)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    info = _integrity(p)
    assert info["integrity"] == [("ok",)] and info["duplicates"] == 0 and 0 < info["rows"] < 6000
    s = run_sweep(toy_task, toy_configs(3000), (0, 1), p, "inline", progress=False, version="toy-1")
    assert s.stored_before == info["rows"] and s.done == 6000 - info["rows"]
    ref = tmp_path / "ref.sqlite"
    run_sweep(toy_task, toy_configs(3000), (0, 1), ref, "inline", progress=False, version="toy-1")
    with Store(ref) as r:
        _check_same(p, r.snapshot())


@needs_dask
def test_sigkill_worker_mid_sweep(tmp_path, reference):
    """SIGKILL one Dask worker process while it runs tasks: the nanny restarts it, Dask reruns its task,
    and the driver ends with the complete store (nothing lost, nothing twice, the same results)."""
    import psutil

    p, piddir = tmp_path / "s.sqlite", tmp_path / "pids"
    piddir.mkdir()
    proc = _driver(p, "--workers", "2", env={"AMEMORY_SWEEP_PIDDIR": str(piddir)})
    kids = []
    try:
        _wait_rows(p, proc, len(reference) // 4)
        kids = _descendants(proc.pid)
        workers = sorted(int(f.stem) for f in piddir.glob("*.pid"))
        victim = next(w for w in workers if any(k.pid == w for k in kids))  # a worker of our driver
        n_at_kill = _rows(p)
        os.kill(victim, signal.SIGKILL)
        out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            _reap(kids)
    assert proc.returncode == 0, err[-2000:]
    assert n_at_kill < len(reference), "the worker was killed after the sweep ended"
    assert not psutil.pid_exists(victim) or psutil.Process(victim).status() == psutil.STATUS_ZOMBIE
    assert f"done now {len(reference)}, failed 0" in out
    _check_same(p, reference)


# ---------------------------------------------------------------- named sweeps (checks/grids.py)
def test_named_sweep_registry_and_configs():
    import grids

    sweep = grids.get_sweep("optimizer_grid")
    full = sweep.configs("full")
    keys = {(c["optimizer"], c["layer_norm"], c["d"], c["batch_size"]) for c in full}
    assert len(keys) == len(full) == 2 * 2 * 7 * 7  # no duplicate configuration
    assert {c["optimizer"] for c in full} == {"sgd", "adam"} and {c["layer_norm"] for c in full} == {False, True}
    assert min(c["d"] for c in full) == 10 and max(c["d"] for c in full) == 1000
    assert min(c["batch_size"] for c in full) == 16 and max(c["batch_size"] for c in full) == 1024
    assert all(c["N"] == 100 and c["M"] == 5 and c["alpha"] == 2.0 for c in full)
    assert all(c["T_eval"][0] == 1024 and c["T_eval"][-1] == 102400 for c in full)
    assert sum(len(c["lr"]) for c in full) * len(sweep.seeds("full")) == 25480
    assert len(sweep.seeds("full")) == 10
    for c in full:
        if c["optimizer"] == "adam":
            assert c["betas"] == [0.0, 0.0] and all(math.isclose(a, b / c["d"]) for a, b in zip(c["lr"], c["lr_base"]))
        else:
            assert c["lr"] == c["lr_base"]
    # the fast grid is a sub-grid of the full one: its stored runs are reused (same hashes, seeds a prefix)
    task, ver = sweep.task, sweep.version
    full_h = {config_hash(c, task, ver) for c in full}
    assert {config_hash(c, task, ver) for c in sweep.configs("fast")} < full_h
    assert sweep.seeds("fast") == sweep.seeds("full")[:3]
    with pytest.raises(ValueError, match="name"):
        grids.get_sweep("nope")
    with pytest.raises(ValueError, match="scale"):
        sweep.configs("huge")


def test_named_sweep_run_and_rows(tmp_path):
    from amemory.sweep import NamedSweep

    ns = NamedSweep(
        name="toy",
        task="toy",
        fn="sweep_toy:toy_task",
        version="t1",
        build=lambda scale: toy_configs(3 if scale == "fast" else 5),
        n_seeds={"fast": 2, "full": 3},
        device_kwarg=False,
        seed_base=10,
    )
    p = tmp_path / "s.sqlite"
    s = ns.run("fast", p, scheduler="inline", progress=False)
    assert (s.total, s.done) == (6, 6) and ns.seeds("fast") == (10, 11)
    rows = ns.rows("full", p)  # the fast runs are a subset of the full grid
    assert len(rows) == 6 and {r["seed"] for r in rows} == {10, 11}
    assert rows[0]["value"] == toy_task(toy_configs(1)[0], (10,))[0]["value"]
    s = ns.run("full", p, scheduler="inline", progress=False)
    assert (s.stored_before, s.done) == (6, 9) and len(ns.rows("full", p)) == 15
    with pytest.raises(ValueError, match="device"):
        ns.run("fast", p, device=None)


def test_optimizer_grid_adapter():
    """The adapter runs impl.dynamics.train: per seed an error per (rate, T) in [0, 1], independent of the other
    seeds of the task, equal to a direct call of the trainer; rows() gives one flat row per rate."""
    import grids

    from impl.dynamics import optimizer_grid_task, train

    cfg = {**grids.optimizer_grid_configs("fast")[0], "d": 8, "T_eval": [64, 128]}
    cfg = {**cfg, "lr_base": cfg["lr_base"][5:8], "lr": cfg["lr"][5:8]}
    out = optimizer_grid_task(cfg, (3, 4))
    assert len(out) == 2 and out[0]["T"] == [64, 128] and len(out[0]["error"]) == 3
    assert all(0.0 <= e <= 1.0 for r in out for row in r["error"] for e in row)
    assert optimizer_grid_task(cfg, (4,))[0] == out[1]  # batched over seeds == one seed at a time
    from impl.sampling import sample_tokens, zipf_probs

    tok = sample_tokens(zipf_probs(100, 2.0), 128, (3, 4))
    direct = train(
        100,
        5,
        8,
        128,
        cfg["lr"],
        (3, 4),
        batch=cfg["batch_size"],
        optimizer=cfg["optimizer"],
        checkpoints=1,
        tokens=tok,
    )
    assert [r["error"][j][1] for r in out for j in range(3)] == pytest.approx(
        direct.error[..., -1].flatten().tolist(), abs=1e-12
    )
    rows = grids.optimizer_grid_rows(cfg, 3, out[0])
    assert [r["lr_base"] for r in rows] == cfg["lr_base"] and rows[1]["error"] == out[0]["error"][1]
    assert "lr" in rows[0] and rows[0]["seed"] == 3
    with pytest.raises(ValueError, match="scale"):
        grids.optimizer_grid_configs("medium")


def _synthetic_rows():
    """Rows shaped like the optimiser grid's, with known errors (a unit test of the tuning/plotting code)."""
    rows = []
    for opt in ("sgd", "adam"):
        for d in (10, 100):
            for b in (16, 256):
                for lr in (0.1, 1.0, 10.0):
                    for seed in (0, 1):
                        base = 0.5 / d * (1 + (b == 256)) * (2 if opt == "sgd" else 1)
                        pen = {0.1: 3.0, 1.0: 1.0, 10.0: 2.0}[lr]
                        rows.append(
                            {
                                "optimizer": opt,
                                "layer_norm": False,
                                "d": d,
                                "batch_size": b,
                                "lr_base": lr,
                                "seed": seed,
                                "T": [1024, 2048],
                                "error": [base * pen + 0.001 * seed, base * pen / 2],
                            }
                        )
    return rows


def test_tuned_error_and_heatmaps(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "checks"))
    import sweeps

    rows = _synthetic_rows()
    te = sweeps.tuned_error(rows, T=1024)
    frame = sweeps.grid_frame(rows)  # the long table the report's figures are drawn from
    assert len(frame) == sum(len(r["T"]) for r in rows) and {"T", "error", "seed", "lr_base"} <= set(frame.columns)
    assert sweeps.tuned_error(frame, T=1024) == te
    g = te[("adam", False, 100, 16, 1024)]
    assert g["tuned"] == 1.0 and g["n_seeds"] == 2 and g["edge"] is False
    assert math.isclose(g["error"], 0.005 + 0.0005) and math.isclose(g["se"], 0.0005)
    assert len(te) == 8
    te2 = sweeps.tuned_error(rows, keys=("optimizer", "T"), where={"d": 10, "batch_size": 16})
    assert math.isclose(te2[("sgd", 2048)]["error"], 0.1 / 2)
    fig = sweeps.tuned_error_heatmaps(rows, T=1024, title="synthetic")
    assert len([a for a in fig.axes if a.get_title()]) == 2  # one panel per (optimizer, layer_norm)
    fig2 = sweeps.tuned_error_heatmaps(rows, x="d", y="T", panels=("optimizer",), where={"batch_size": 16})
    assert len(fig2.axes) == 3  # two panels and the colour bar
    import matplotlib.pyplot as plt

    plt.close("all")
    for kw, msg in [
        ({"T": 999}, "no result"),
        ({"T": 1024, "tune": "lr"}, "not a key"),
        ({}, "T must be given"),
        ({"T": 1024, "floor": 0}, "floor"),
    ]:
        with pytest.raises(ValueError, match=msg):
            sweeps.tuned_error_heatmaps(rows, **kw)
    with pytest.raises(ValueError, match="rows"):
        sweeps.tuned_error([{"T": [1], "error": []}])
    # a learning rate at which one seed diverged (error None) is not a candidate, even with a lower mean
    div = [dict(r) for r in rows]
    for r in div:
        if (r["optimizer"], r["d"], r["batch_size"], r["lr_base"], r["seed"]) == ("adam", 100, 16, 1.0, 1):
            r["error"] = [None, None]
    g = sweeps.tuned_error(div, T=1024)[("adam", False, 100, 16, 1024)]
    assert g["tuned"] == 10.0 and math.isclose(g["error"], 0.01 + 0.0005) and g["edge"] is True
    for r in div:
        if (r["optimizer"], r["d"], r["batch_size"]) == ("adam", 100, 16):
            r["error"] = [None, None]
    assert sweeps.tuned_error(div, T=1024)[("adam", False, 100, 16, 1024)]["error"] is None
    sweeps.tuned_error_heatmaps(div, T=1024)
    figs = sweeps.optimizer_grid_heatmaps(rows)
    assert set(figs) == {"d_batch", "d_T"}
    with pytest.raises(ValueError, match="rows"):
        sweeps.optimizer_grid_heatmaps([])
    plt.close("all")


def test_sweeps_glue_store_and_scheduler(monkeypatch, tmp_path):
    monkeypatch.syspath_prepend(str(ROOT / "checks"))
    import sweeps

    monkeypatch.setenv("AMEMORY_SWEEP_STORE", str(tmp_path / "x" / "s.sqlite"))
    monkeypatch.setenv("AMEMORY_DASK_SCHEDULER", "inline")
    assert sweeps.store_path() == tmp_path / "x" / "s.sqlite" and (tmp_path / "x").is_dir()
    assert sweeps.scheduler() == "inline"

    class Cfg:
        def getoption(self, name):
            return {"--sweep-store": str(tmp_path / "o.sqlite"), "--dask-scheduler": "tcp://h:1"}[name]

    assert sweeps.store_path(Cfg()) == tmp_path / "o.sqlite" and sweeps.scheduler(Cfg()) == "tcp://h:1"
    assert sweeps.n_workers() is None
    monkeypatch.setenv("AMEMORY_SWEEP_WORKERS", "1")
    assert sweeps.n_workers() == 1
    monkeypatch.setenv("AMEMORY_SWEEP_WORKERS", "one")
    with pytest.raises(ValueError, match="workers"):
        sweeps.n_workers()


def test_store_of_the_old_layout_resumes(tmp_path):
    """A store written before the sweep engine moved (task id ``impl.grids:optimizer_grid_task``, hashed with the
    old rule sha256 of the sorted, compact JSON of {task, version, config}) resumes under the new layout: its runs
    count as stored, only the missing ones run, and rows() returns the old results unchanged."""
    import dataclasses

    import grids

    from impl.dynamics import optimizer_grid_task

    sweep = grids.get_sweep("optimizer_grid")
    assert sweep.task == "optimizer_grid" and "impl.grids:optimizer_grid_task" in sweep.aliases
    assert sweep.version == "optimizer-grid-2 (impl.dynamics.train, coefficient layout)"  # unchanged by the move
    base = grids.optimizer_grid_configs("fast")[0]
    small = [
        {**base, "d": d, "T_eval": [32, 64], "lr_base": base["lr_base"][6:8], "lr": base["lr"][6:8]} for d in (6, 8)
    ]
    tiny = dataclasses.replace(sweep, build=lambda scale: small, n_seeds={"fast": 2, "full": 2})

    def old_hash(config: dict) -> str:  # the old layout's rule, written out here independently of amemory.sweep
        text = json.dumps(
            {"task": "impl.grids:optimizer_grid_task", "version": sweep.version, "config": config},
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=True,
            allow_nan=False,
        )
        return hashlib.sha256(text.encode()).hexdigest()

    p = tmp_path / "old.sqlite"
    old = optimizer_grid_task(small[0], (0, 1))
    with Store(p) as st:  # what the old code wrote: the configuration under its old task id, then its results
        h = old_hash(small[0])
        st.add_configs([(h, "impl.grids:optimizer_grid_task", sweep.version, canonical_json(small[0]))])
        assert st.put(h, (0, 1), [canonical_json(r) for r in old]) == 2
    s = tiny.run("fast", p, scheduler="inline", progress=False, device="cpu")
    assert (s.total, s.stored_before, s.done) == (4, 2, 2)  # the old runs are reused, the new config runs
    rows = tiny.rows("fast", p)
    assert len(rows) == 2 * 2 * 2  # 2 configs x 2 seeds x 2 rates
    first = [r["error"] for r in rows if r["d"] == 6 and r["seed"] == 0]
    assert first == old[0]["error"]
    s = tiny.run("fast", p, scheduler="inline", progress=False)
    assert (s.stored_before, s.done) == (4, 0)  # a rerun computes nothing
    # without the alias the old runs would not be found (the negative control of this test)
    bare = dataclasses.replace(tiny, aliases=())
    assert len(bare.rows("fast", p)) == 4


# ---------------------------------------------------------------- results as tables
def test_results_frame_and_export(tmp_path, capsys):
    import pandas as pd

    from amemory.sweep import export_frame, results_frame, rows_frame, store_frame

    p = tmp_path / "s.sqlite"
    cfgs = toy_configs(3)
    run_sweep(toy_task, cfgs, (0, 1), p, "inline", progress=False)
    df = results_frame(p, toy_task, cfgs, (0, 1, 2), missing=True)
    assert len(df) == 3 * 3 and int(df["stored"].sum()) == 6  # seed 2 is not stored
    assert {"x", "sleep", "seed", "value", "sd", "stored"} <= set(df.columns)
    row = df[(df["x"] == 0.5) & (df["seed"] == 1)].iloc[0]
    assert row["value"] == toy_task(cfgs[1], (1,))[0]["value"]
    assert len(results_frame(p, toy_task, cfgs, (0, 1, 2))) == 6
    full = store_frame(p)
    assert len(full) == 6 and set(full["task"]) == {"toy"}
    for suffix in (".csv", ".parquet"):
        out = export_frame(df, tmp_path / f"t{suffix}")
        back = pd.read_csv(out) if suffix == ".csv" else pd.read_parquet(out)
        assert len(back) == len(df) and list(back.columns) == list(df.columns)
        assert sw.main(["export", "--store", str(p), "--out", str(tmp_path / f"cli{suffix}")]) == 0
        assert "6 rows" in capsys.readouterr().out
    nested = rows_frame([{"a": 1, "m": {"err": 0.5, "acc": 0.5}}])
    assert list(nested.columns) == ["a", "m.err", "m.acc"]
    for bad in ({"a": 1}, [1, 2], "rows"):
        with pytest.raises(ValueError, match="rows"):
            rows_frame(bad)
    with pytest.raises(ValueError, match="path"):
        export_frame(df, tmp_path / "t.xlsx")
    assert sw.main(["export", "--store", str(p), "--out", str(tmp_path / "t.txt")]) == 2


# ---------------------------------------------------------------- damaged, odd and read-only stores
def _full_store(tmp_path: Path, n: int = 40) -> Path:
    p = tmp_path / "s.sqlite"
    run_sweep(toy_task, toy_configs(n), (0, 1), p, "inline", progress=False)
    return p


@pytest.mark.parametrize("cut", [1, 7, 38, 100, 1000])
def test_truncated_store_is_refused_untouched_and_nothing_left_beside(tmp_path, cut):
    """A store cut short by a few bytes (a partial last page, which SQLite's quick_check misses) is refused before
    any task runs, the file is not written to, and no -wal/-shm file is created beside it."""
    p = _full_store(tmp_path)
    data = p.read_bytes()
    p.write_bytes(data[:-cut])
    before = _digest(p)
    calls = []

    def task(config, seeds):
        calls.append(seeds)
        return toy_task(config, seeds)

    with pytest.raises(ValueError, match=r"truncated|corrupt"):
        run_sweep(task, toy_configs(41), (0, 1), p, "inline", progress=False, task="toy")
    assert not calls and _digest(p) == before
    assert not Path(f"{p}-wal").exists() and not Path(f"{p}-shm").exists()


def test_non_regular_store_path_is_refused_at_once(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    t0 = time.time()
    with pytest.raises(ValueError, match="not a regular file"):
        run_sweep(toy_task, toy_configs(2), (0,), fifo, "inline", progress=False)
    with pytest.raises(ValueError, match="not a regular file"):
        Store(fifo)
    assert time.time() - t0 < 5


def test_store_missing_columns_is_refused_before_any_task(tmp_path):
    p = _full_store(tmp_path, 3)
    con = sqlite3.connect(p)
    con.execute("ALTER TABLE results DROP COLUMN host")
    con.commit()
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    calls = []

    def task(config, seeds):
        calls.append(seeds)
        return toy_task(config, seeds)

    with pytest.raises(ValueError, match=r"lacks the columns.*host"):
        run_sweep(task, toy_configs(5), (0, 1), p, "inline", progress=False, task="toy")
    assert not calls


def test_read_only_store_is_read_and_a_complete_run_needs_no_write(tmp_path, monkeypatch):
    """A store that cannot be written (the file or its directory; simulated through os.access, since the tests may
    run as root) opens read-only: results are read, a run with nothing to do succeeds, and a run that would need
    writes says so in one clear ValueError (not a raw sqlite3 error), leaving the file untouched."""
    p = _full_store(tmp_path, 4)
    before = _digest(p)
    real = os.access

    def deny(path, mode, *a, **k):
        if Path(path).resolve() in (p.resolve(), tmp_path.resolve()) and mode & os.W_OK:
            return False
        return real(path, mode, *a, **k)

    monkeypatch.setattr(os, "access", deny)
    with Store(p) as st:
        assert st.readonly and st.count() == 8
    assert load_results(p, toy_task, toy_configs(4), (0, 1))[3][1] == toy_task(toy_configs(4)[3], (1,))[0]
    s = run_sweep(toy_task, toy_configs(4), (0, 1), p, "inline", progress=False)
    assert (s.stored_before, s.done) == (8, 0)
    with pytest.raises(ValueError, match="read-only"):
        run_sweep(toy_task, toy_configs(5), (0, 1), p, "inline", progress=False)
    assert _digest(p)[0] == before[0]
    with pytest.raises(ValueError, match="not writable"):
        Store(tmp_path / "new.sqlite")
    assert not (tmp_path / "new.sqlite").exists()
    assert (
        sw.main(
            [
                "run",
                "sweep_toy:toy_task",
                "--grid",
                str(_grid_file(tmp_path / "g.json", toy_configs(5))),
                "--store",
                str(p),
                "--scheduler",
                "inline",
                "--seeds",
                "2",
                "--no-progress",
            ]
        )
        == 2
    )


@needs_dask
def test_cli_unreachable_scheduler_before_the_store(tmp_path, capsys):
    """The scheduler is contacted before the store is touched: an unreachable one is one line, exit 2, no store."""
    p, g = tmp_path / "s.sqlite", _grid_file(tmp_path / "g.json", toy_configs(2))
    argv = ["run", "sweep_toy:toy_task", "--grid", str(g), "--store", str(p), "--scheduler", "tcp://127.0.0.1:9"]
    assert sw.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --scheduler") and "\n" not in err and not p.exists()


def test_two_drivers_split_the_work(tmp_path):
    """Two drivers started together on one store claim tasks before computing them: they split the work (each
    computes a part, none twice), and both end with the complete store."""
    import re

    p = tmp_path / "s.sqlite"
    grid = _grid_file(tmp_path / "g.json", toy_configs(20, 0.1))
    run_sweep(toy_task, toy_configs(1), (0,), tmp_path / "warm.sqlite", "inline", progress=False)  # imports warm
    cmd = _toy_cmd(p, grid, "--seeds", "2", "--seeds-per-task", "1", "--scheduler", "inline", version="split")
    Store(p).close()  # created before, so that neither driver waits on the creation of the other
    procs = [
        subprocess.Popen(cmd, cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outs = [pr.communicate(timeout=120) for pr in procs]
    assert all(pr.returncode == 0 for pr in procs), [o[1][-2000:] for o in outs]
    done = [int(re.search(r"done now (\d+)", o[0]).group(1)) for o in outs]
    assert sum(done) == 40 and min(done) >= 5, done  # each computed a share, nothing twice
    info = _integrity(p)
    assert info == {"rows": 40, "duplicates": 0, "integrity": [("ok",)]}
    with Store(p) as st:
        assert st._c().execute("SELECT COUNT(*) FROM claims").fetchone()[0] == 0  # every claim released
    ref = tmp_path / "ref.sqlite"
    run_sweep(toy_task, toy_configs(20, 0.1), (0, 1), ref, "inline", progress=False, version="split")
    with Store(ref) as r:
        _check_same(p, r.snapshot())


def test_claims_of_a_live_driver_are_respected_and_dead_ones_taken_over(tmp_path):
    p = tmp_path / "s.sqlite"
    cfgs = toy_configs(3)
    hashes = [config_hash(c, "toy", "1") for c in cfgs]
    with Store(p) as st:
        st.add_configs((h, "toy", "1", canonical_json(c)) for h, c in zip(hashes, cfgs))
        alive = f"{os.uname().nodename}:{os.getpid()}:other"  # this very process: alive
        dead = f"{os.uname().nodename}:999999999:gone"  # no such process
        assert st.claim([(hashes[0], 0)], alive, 600) == {(hashes[0], 0)}
        assert st.claim([(hashes[1], 0)], dead, 600) == {(hashes[1], 0)}
        mine = st.claim([(h, 0) for h in hashes], "me:1:x", 600)
        assert mine == {(hashes[1], 0), (hashes[2], 0)}  # the dead driver's claim is taken over, the live one kept
        assert st.claimed_by_others([(h, 0) for h in hashes], "me:1:x") == 1
        st.release("me:1:x")
        assert st.claim([(hashes[0], 0)], "third:1:y", 0.0) == set()  # still held (600 s lease)


def test_an_expired_claim_of_a_paused_driver_of_this_host_is_kept(tmp_path):
    """A driver paused (SIGSTOP) past its lease stops renewing; while its process lives on this host its claims
    stand, so a second driver does not compute the same run (it did before: both drivers trained one TF4 row).
    An expired claim of a driver of another host is taken over (negative case: its liveness cannot be seen)."""
    p = tmp_path / "s.sqlite"
    cfgs = toy_configs(2)
    hashes = [config_hash(c, "toy", "1") for c in cfgs]
    with Store(p) as st:
        st.add_configs((h, "toy", "1", canonical_json(c)) for h, c in zip(hashes, cfgs))
        paused = f"{os.uname().nodename}:{os.getpid()}:paused"  # this very process: alive, its lease over
        assert st.claim([(hashes[0], 0)], paused, 0.0) == {(hashes[0], 0)}
        assert st.claim([(hashes[1], 0)], "elsewhere:1:z", 0.0) == {(hashes[1], 0)}
        time.sleep(0.01)
        mine = st.claim([(h, 0) for h in hashes], f"{os.uname().nodename}:1:me", 600)
        assert mine == {(hashes[1], 0)}
        # an id that is not host:pid:tag names no process to look at, even when it starts with this host's
        # name: its expired claim goes, as the liveness test and the keep-rule read the id the same way
        st.release(f"{os.uname().nodename}:1:me")
        assert st.claim([(hashes[1], 0)], os.uname().nodename, 0.0) == {(hashes[1], 0)}
        time.sleep(0.01)
        assert st.claim([(hashes[1], 0)], f"{os.uname().nodename}:1:me", 600) == {(hashes[1], 0)}


def test_owner_ids_are_read_one_way():
    from amemory.sweep.store import _owner_alive, _owner_host

    assert _owner_host("vm:12:abc") == "vm" and _owner_host("vm") is None and _owner_host("vm:12") is None
    assert _owner_alive("elsewhere:1:z", "vm")  # another host: cannot be seen, assumed alive
    assert _owner_alive(f"vm:{os.getpid()}:t", "vm")
    assert not _owner_alive("vm:999999999:t", "vm")


def test_authors_grid_configs_and_task():
    """The authors' grid: their three models and values, 40,320 runs, seeds 42..51; the fast grid is a sub-grid
    (same hashes); the variants' grid holds the suite's variants of 'matrix'; a tiny config runs through the task
    function and equals a direct call of the trainer."""
    import grids

    from impl.authors_grid import authors_grid_task, train_grid_model

    sweep = grids.get_sweep("authors_grid")
    full = sweep.configs("full")
    assert len(full) == 3 * 2 * 2 * 7 * 4 and sweep.seeds("full") == tuple(range(42, 52))
    assert sum(len(c["lr_base"]) * len(c["T_eval"]) for c in full) * 10 == 40320
    assert all(c["lr_base"] == [0.1, 1.0, 10.0, 100.0] and c["T_eval"] == [1024, 10240, 102400] for c in full)
    assert {c["model"] for c in full} == {"matrix", "exponential", "learnable"}
    assert {c["norm"] for c in full} == {"none", "l2"} and {c["optimizer"] for c in full} == {"sgd", "adam"}
    fast = {config_hash(c, sweep.task, sweep.version) for c in sweep.configs("fast")}
    assert fast < {config_hash(c, sweep.task, sweep.version) for c in full}
    variants = grids.get_sweep("authors_grid_variants").configs("full")
    assert {(c["init"], c["norm"]) for c in variants} == set(grids.VARIANTS)
    cfg = {
        **full[0],
        "model": "learnable",
        "d": 8,
        "batch_size": 16,
        "T_eval": [64, 128],
        "norm": "l2",
        "optimizer": "adam",
    }
    out = authors_grid_task(cfg, (42,))
    r = train_grid_model(
        "learnable",
        100,
        5,
        8,
        128,
        cfg["lr_base"],
        (42,),
        batch=cfg["batch_size"],
        optimizer="adam",
        norm="l2",
        checkpoints=[64, 128],
    )
    assert [row[1] for row in out[0]["error"]] == pytest.approx(r.error[0, :, 1].tolist(), abs=1e-12)


def test_cli_foreign_database_and_cuda_one_line(tmp_path, capsys):
    """Issue #18's command-line cases not covered above: a foreign SQLite database given as the store (one-line
    error, file untouched) and --device cuda on a machine without CUDA (refused up front, no store made)."""
    import torch

    g = _grid_file(tmp_path / "g.json", toy_configs(2))
    foreign = tmp_path / "other.sqlite"
    con = sqlite3.connect(foreign)
    con.execute("CREATE TABLE t (a INTEGER)")
    con.commit()
    con.close()
    before = foreign.read_bytes()
    for sub in (
        ["run", "sweep_toy:toy_task", "--grid", str(g), "--store", str(foreign)],
        ["status", "--store", str(foreign)],
    ):
        assert sw.main(sub) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error:") and "\n" not in err and "Traceback" not in err
    assert foreign.read_bytes() == before
    if not torch.cuda.is_available():
        p = tmp_path / "s.sqlite"
        assert sw.main(["run", "sweep_toy:toy_task", "--grid", str(g), "--store", str(p), "--device", "cuda"]) == 2
        err = capsys.readouterr().err.strip()
        assert "--device" in err and "\n" not in err and not p.exists()


# ---------------------------------------------------------------- portable dumps: dump, load, resume
def _toy_run_args(store: Path, grid: Path) -> list[str]:
    return ["run", "sweep_toy:toy_task", "--grid", str(grid), "--store", str(store), "--scheduler", "inline"]


def _dump_objects(path: Path) -> list[dict]:
    import gzip

    with gzip.open(path, "rt") as fh:
        return [json.loads(line) for line in fh]


def _write_objects(path: Path, objs: list) -> Path:
    import gzip

    with gzip.open(path, "wt") as fh:
        fh.writelines(json.dumps(o) + "\n" for o in objs)
    return path


def _results_table(path: Path) -> list[tuple]:
    """Every column of every stored row, read without the Store class."""
    con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return con.execute(
            "SELECT r.hash, r.seed, r.result, r.seconds, r.host, r.finished, c.task, c.version, c.config "
            "FROM results r JOIN configs c ON c.hash = r.hash ORDER BY r.hash, r.seed"
        ).fetchall()
    finally:
        con.close()


def _one_line_error(capsys, *needles: str) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err and "Traceback" not in err, err
    for s in needles:
        assert s in err, err
    return err


def test_dump_load_round_trip_then_run_computes_nothing(tmp_path, capsys):
    """run -> dump -> load into a fresh store: the same rows (results, seconds, host, time) and the same status,
    and the same run command on the loaded store computes nothing (the resume of a fresh clone)."""
    a, b, g = tmp_path / "a.sqlite", tmp_path / "b.sqlite", _grid_file(tmp_path / "g.json", toy_configs(3))
    assert sw.main([*_toy_run_args(a, g), "--seeds", "2", "--no-progress"]) == 0
    capsys.readouterr()
    out = tmp_path / "reports" / "store" / "toy.jsonl.gz"  # its directory is created
    assert sw.main(["dump", "--store", str(a), "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == f"6 rows -> {out}"
    objs = _dump_objects(out)
    assert objs[0] == {"format": "amemory-sweep-dump", "version": 1, "rows": 6} and len(objs) == 7
    assert set(objs[1]) == {"hash", "task", "version", "config", "seed", "result", "seconds", "host", "finished"}
    assert sw.main(["load", "--from", str(out), "--store", str(b)]) == 0  # b is created
    assert capsys.readouterr().out.strip() == f"added 6 rows, already present 0 -> {b}"
    assert _results_table(b) == _results_table(a) and len(_results_table(a)) == 6
    for p in (a, b):
        assert sw.main(["status", "--store", str(p)]) == 0
    status_a, status_b = capsys.readouterr().out.strip().split("\n")
    assert status_a == status_b == "toy (version 1): 3 configurations, 6 rows"
    assert sw.main([*_toy_run_args(b, g), "--seeds", "2", "--no-progress"]) == 0
    assert "total 6, stored before 6, done now 0" in capsys.readouterr().out
    assert _results_table(b) == _results_table(a)
    # loading again adds nothing; a store holding part of the rows gets the rest
    assert sw.main(["load", "--from", str(out), "--store", str(b)]) == 0
    assert "added 0 rows, already present 6" in capsys.readouterr().out
    c = tmp_path / "c.sqlite"
    assert sw.main([*_toy_run_args(c, g), "--seeds", "1", "--no-progress"]) == 0
    assert load_dump(out, c) == (3, 3)
    with Store(c) as st, Store(a) as sa:
        assert st.snapshot() == sa.snapshot()


def test_dump_is_byte_identical_for_the_same_contents(tmp_path):
    a, b = tmp_path / "a.sqlite", tmp_path / "b.sqlite"
    run_sweep(toy_task, toy_configs(4), (0, 1, 2), a, "inline", progress=False)
    d1, d2, d3 = tmp_path / "1.jsonl.gz", tmp_path / "2.jsonl.gz", tmp_path / "3.jsonl.gz"
    assert dump_store(a, d1) == 12
    time.sleep(1.1)  # a gzip time stamp would differ now
    assert dump_store(a, d2) == 12
    assert d1.read_bytes() == d2.read_bytes()
    assert d1.read_bytes()[4:8] == b"\x00" * 4  # gzip mtime 0
    load_dump(d1, b)  # the same contents written in another order: the same file
    assert dump_store(b, d3) == 12 and d3.read_bytes() == d1.read_bytes()
    keys = [(o["task"], o["hash"], o["seed"]) for o in _dump_objects(d1)[1:]]
    assert keys == sorted(keys) and len(set(keys)) == 12
    run_sweep(toy_task, toy_configs(4), (3,), a, "inline", progress=False)  # new contents: another file
    assert dump_store(a, d2) == 16 and d2.read_bytes() != d1.read_bytes()


def test_load_refuses_a_tampered_hash_and_leaves_the_store_untouched(tmp_path, capsys):
    a, c = tmp_path / "a.sqlite", tmp_path / "c.sqlite"
    run_sweep(toy_task, toy_configs(3), (0, 1), a, "inline", progress=False)
    run_sweep(toy_task, toy_configs(1), (0,), c, "inline", progress=False)
    good = tmp_path / "good.jsonl.gz"
    dump_store(a, good)
    objs = _dump_objects(good)
    objs[3]["config"]["x"] += 1.0  # line 4: its configuration altered, its hash kept
    bad = _write_objects(tmp_path / "bad.jsonl.gz", objs)
    before, rows = _digest(c), _results_table(c)
    assert sw.main(["load", "--from", str(bad), "--store", str(c)]) == 2
    _one_line_error(capsys, "line 4", "does not recompute")
    with pytest.raises(ValueError, match="line 4"):
        load_dump(bad, c)
    assert _digest(c) == before and _results_table(c) == rows  # the file's bytes and mtime, and what it holds
    fresh = tmp_path / "fresh.sqlite"
    assert sw.main(["load", "--from", str(bad), "--store", str(fresh)]) == 2
    assert not fresh.exists()  # nothing is created for a refused file
    capsys.readouterr()
    objs = _dump_objects(good)
    assert objs[0]["rows"] == 6
    cut = _write_objects(tmp_path / "cut.jsonl.gz", objs[:1] + objs[2:])  # a row cut out of the file
    assert sw.main(["load", "--from", str(cut), "--store", str(c)]) == 2
    _one_line_error(capsys, "header says 6 rows but it holds 5")
    assert _digest(c) == before
    assert load_dump(good, c) == (5, 1)  # the untampered file loads


def test_load_refuses_a_conflicting_result_and_writes_nothing(tmp_path, capsys):
    a = tmp_path / "a.sqlite"
    run_sweep(toy_task, toy_configs(3), (0, 1), a, "inline", progress=False)
    good = tmp_path / "good.jsonl.gz"
    dump_store(a, good)
    objs = _dump_objects(good)
    objs[5]["result"]["value"] += 1e-9  # another result for a stored (configuration, seed)
    objs.insert(1, {**objs[1], "seed": 7})  # line 2: a new row, before the conflict: it must not be written
    objs[0]["rows"] = 7
    other = _write_objects(tmp_path / "other.jsonl.gz", objs)
    before, rows = _digest(a), _results_table(a)
    assert sw.main(["load", "--from", str(other), "--store", str(a)]) == 2
    _one_line_error(capsys, "line 7", "different result")
    with pytest.raises(ValueError, match="conflict"):
        load_dump(other, a)
    assert _digest(a) == before and _results_table(a) == rows
    assert load_dump(other, tmp_path / "b.sqlite") == (7, 0)  # no conflict in an empty store


@pytest.mark.parametrize(
    "case, message",
    [
        ("text", "not a readable gzip file"),
        ("empty", "no header"),
        ("gzip of text", "line 1 is not JSON"),
        ("no header", "line 1 is not a header"),
        ("newer version", "dump version 2"),
        ("truncated", "truncated"),
        ("bad line", "line 3: not a JSON line"),
        ("NaN result", "line 2"),
        ("missing key", "line 2: the row lacks the keys ['seed']"),
        ("directory", "not a regular file"),
    ],
)
def test_load_refuses_a_file_that_is_not_a_dump(tmp_path, capsys, case, message):
    import gzip

    a = tmp_path / "a.sqlite"
    run_sweep(toy_task, toy_configs(2), (0, 1), a, "inline", progress=False)
    good = tmp_path / "good.jsonl.gz"
    dump_store(a, good)
    lines = gzip.decompress(good.read_bytes()).split(b"\n")
    f = tmp_path / "f.jsonl.gz"
    if case == "text":
        f.write_text("hash,seed\nab,1\n")
    elif case == "empty":
        f.write_bytes(gzip.compress(b""))
    elif case == "gzip of text":
        f.write_bytes(gzip.compress(b"hash,seed\n"))
    elif case == "no header":
        f.write_bytes(gzip.compress(b"\n".join(lines[1:])))
    elif case == "newer version":
        f.write_bytes(gzip.compress(b"\n".join([lines[0].replace(b'"version":1', b'"version":2'), *lines[1:]])))
    elif case == "truncated":
        f.write_bytes(good.read_bytes()[:-12])
    elif case == "bad line":
        f.write_bytes(gzip.compress(b"\n".join([*lines[:2], b"{not json", *lines[3:]])))
    elif case == "NaN result":
        f.write_bytes(gzip.compress(b"\n".join([lines[0], lines[1].replace(b'"sd":', b'"sd":NaN,"z":'), *lines[2:]])))
    elif case == "missing key":
        f.write_bytes(gzip.compress(b"\n".join([lines[0], re.sub(rb'"seed":\d+,', b"", lines[1]), *lines[2:]])))
    else:
        f.mkdir()
    s = tmp_path / "s.sqlite"
    assert sw.main(["load", "--from", str(f), "--store", str(s)]) == 2
    _one_line_error(capsys, message)
    assert not s.exists()
    with pytest.raises(ValueError, match="path"):
        load_dump(f, s)


def test_dump_task_filter(tmp_path, capsys):
    a = tmp_path / "a.sqlite"
    run_sweep(toy_task, toy_configs(3), (0, 1), a, "inline", progress=False)  # task "toy"
    run_sweep(toy_task, toy_configs(2), (0,), a, "inline", progress=False, task="other")
    only, both = tmp_path / "toy.jsonl.gz", tmp_path / "both.jsonl.gz"
    assert sw.main(["dump", "--store", str(a), "--out", str(only), "--task", "toy"]) == 0
    assert "6 rows" in capsys.readouterr().out
    assert {o["task"] for o in _dump_objects(only)[1:]} == {"toy"} and _dump_objects(only)[0]["rows"] == 6
    assert sw.main(["dump", "--store", str(a), "--out", str(both), "--task", "toy", "--task", "other"]) == 0
    assert "8 rows" in capsys.readouterr().out
    assert dump_store(a, tmp_path / "all.jsonl.gz") == 8
    assert (tmp_path / "all.jsonl.gz").read_bytes() == both.read_bytes()
    assert dump_store(a, tmp_path / "two.jsonl.gz", ["other", "toy"]) == 8  # the filter's order does not matter
    assert (tmp_path / "two.jsonl.gz").read_bytes() == both.read_bytes()
    b = tmp_path / "b.sqlite"
    assert load_dump(only, b) == (6, 0)
    with Store(b) as st:
        assert st.summary() == [{"task": "toy", "version": "1", "configs": 3, "rows": 6}]
    assert sw.main(["dump", "--store", str(a), "--out", str(tmp_path / "x.jsonl.gz"), "--task", "toyy"]) == 2
    _one_line_error(capsys, "no task 'toyy'", "'other'")
    assert not (tmp_path / "x.jsonl.gz").exists()


def test_dump_and_load_argument_errors(tmp_path, capsys):
    a = tmp_path / "a.sqlite"
    run_sweep(toy_task, toy_configs(1), (0,), a, "inline", progress=False)
    d = tmp_path / "d.jsonl.gz"
    for kw, name in [
        ({"store": 3, "out": d}, "store"),
        ({"store": tmp_path / "absent.sqlite", "out": d}, "does not exist"),
        ({"store": a, "out": tmp_path / "d.jsonl"}, "out"),
        ({"store": a, "out": ""}, "out"),
        ({"store": a, "out": tmp_path}, "out"),
        ({"store": a, "out": d, "tasks": "toy"}, "tasks"),
        ({"store": a, "out": d, "tasks": []}, "tasks"),
        ({"store": a, "out": d, "tasks": [""]}, "tasks"),
    ]:
        with pytest.raises(ValueError, match=name):
            dump_store(**kw)
    assert not d.exists() and list(tmp_path.glob(".*tmp")) == []
    dump_store(a, d)
    for kw, name in [
        ({"path": 3, "store": a}, "path"),
        ({"path": tmp_path / "absent.jsonl.gz", "store": a}, "path"),
        ({"path": d, "store": 3}, "store"),
        ({"path": d, "store": ""}, "store"),
    ]:
        with pytest.raises(ValueError, match=name):
            load_dump(**kw)
    assert sw.main(["dump", "--store", str(tmp_path / "absent.sqlite"), "--out", str(d)]) == 2
    _one_line_error(capsys, "does not exist")
    assert not (tmp_path / "absent.sqlite").exists()
