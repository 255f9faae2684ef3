"""``sweeps.stored_runs``: a check's per-(configuration, seed) work through the sweep store at the full scale
(resumable, one row per configuration and seed), inline and storeless at the fast scale; and the capacity
check (AM3/AM4), the factual-recall trainings (FR1-FR3), the scaling simulations (SL1-SL8) and OD6/OD7's tuned
trainings converted to it."""

from __future__ import annotations

import functools
import importlib.util
import json
from pathlib import Path

import pytest
import sweeps
import torch
from sweep_toy import toy_configs, toy_task
from sweeps import Uncached
from tasks import capacity_curve_task

from amemory.sweep import Store

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def store_env(tmp_path, monkeypatch):
    """A store in tmp_path, run inline (no Dask), no other store option of the environment."""
    path = tmp_path / "runs.sqlite"
    monkeypatch.delenv("AMEMORY_STORED_RUNS", raising=False)
    monkeypatch.setenv("AMEMORY_SWEEP_STORE", str(path))
    monkeypatch.setenv("AMEMORY_DASK_SCHEDULER", "inline")
    monkeypatch.delenv("AMEMORY_SWEEP_WORKERS", raising=False)
    return path


def _counting(calls: list, stop_after: int | None = None):
    """The toy task, recording each (x, seeds) it is called with; raises KeyboardInterrupt (a stop) after
    ``stop_after`` calls."""

    def fn(config, seeds):
        if stop_after is not None and len(calls) >= stop_after:
            raise KeyboardInterrupt
        calls.append((config["x"], tuple(seeds)))
        return toy_task(config, seeds)

    return fn


def test_fast_scale_runs_inline_without_a_store(tmp_path, monkeypatch):
    monkeypatch.delenv("AMEMORY_SWEEP_STORE", raising=False)
    monkeypatch.delenv("AMEMORY_STORED_RUNS", raising=False)
    monkeypatch.setattr(sweeps, "DEFAULT_STORE", tmp_path / "never" / "store.sqlite")
    cfgs, calls, lines = toy_configs(3), [], []
    out = sweeps.stored_runs(_counting(calls), cfgs, (0, 1), scale="fast", task="toy", version="1", report=lines.append)
    assert not (tmp_path / "never").exists() and lines == []
    assert calls == [(c["x"], (0, 1)) for c in cfgs]  # one batched call per configuration
    assert out == [toy_task(c, (0, 1)) for c in cfgs]
    assert out.progress["store"] is None and out.progress["done"] == 6 and out.progress["left"] == 0


def test_full_scale_resumes_after_a_stop(store_env):
    cfgs, seeds = toy_configs(3), (0, 1, 2)
    calls, lines = [], []
    kw = dict(scale="full", task="toy", version="1", report=lines.append, progress=False)
    with pytest.raises(KeyboardInterrupt):  # stopped after 4 rows: they are stored, the rest is not
        sweeps.stored_runs(_counting(calls, stop_after=4), cfgs, seeds, **kw)
    with Store(store_env) as st:
        assert st.count() == 4
    done_before = set(calls)
    calls.clear()
    out = sweeps.stored_runs(_counting(calls), cfgs, seeds, **kw)
    want = {(c["x"], (s,)) for c in cfgs for s in seeds}
    assert set(calls) == want - done_before and len(calls) == 5  # only the missing rows, one task per row
    assert out.progress | {"seconds": 0} == dict(
        store=str(store_env), total=9, stored=4, done=5, left=0, by_others=0, seconds=0
    )
    assert lines[-2] == f"[sweep] toy: 9 runs, 4 stored, 5 left ({store_env})"
    assert lines[-1].startswith("[sweep] toy: done 5 now, 4 stored before, 0 left")
    fast = sweeps.stored_runs(toy_task, cfgs, seeds, scale="fast", task="toy", version="1", use_store=False)
    assert out == fast  # the same values through the store and inline
    calls.clear()
    again = sweeps.stored_runs(_counting(calls), cfgs, seeds, **kw)
    assert calls == [] and again == out and again.progress["done"] == 0 and again.progress["stored"] == 9


def test_seeds_per_configuration_and_the_store_asked_for_at_fast_scale(store_env, monkeypatch):
    cfgs = toy_configs(3)
    per = [(0, 1), (5,), (0, 1)]
    out = sweeps.stored_runs(toy_task, cfgs, per, scale="fast", task="toy", version="1")
    assert out.progress["store"] is None and not store_env.exists()  # naming a store alone does not use it
    monkeypatch.setenv("AMEMORY_STORED_RUNS", "store")
    out = sweeps.stored_runs(toy_task, cfgs, per, scale="fast", task="toy", version="1", report=lambda _: None)
    assert out.progress["store"] == str(store_env)
    assert [len(r) for r in out] == [2, 1, 2]
    assert out == [toy_task(c, s) for c, s in zip(cfgs, per)]
    with Store(store_env) as st:
        assert st.count() == 5
    with pytest.raises(ValueError, match="one sequence per configuration"):
        sweeps.stored_runs(toy_task, cfgs, [(0,), (1,)], scale="fast", task="toy", version="1")
    with pytest.raises(ValueError, match="scale"):
        sweeps.stored_runs(toy_task, cfgs, (0,), scale="huge", task="toy", version="1")
    monkeypatch.setenv("AMEMORY_STORED_RUNS", "sometimes")
    with pytest.raises(ValueError, match="auto, store or inline"):
        sweeps.stored_runs(toy_task, cfgs, (0,), scale="full", task="toy", version="1")


def test_stored_only_refuses_missing_rows(store_env):
    cfgs = toy_configs(2)
    with pytest.raises(sweeps.IncompleteRuns, match="2 of 2 runs are not in the store") as e:
        sweeps.stored_runs(
            toy_task, cfgs, (0,), scale="full", task="toy", version="1", run_missing=False, report=lambda _: None
        )
    assert e.value.progress["left"] == 2 and not store_env.exists()


def _check_module(family: str = "memory"):
    """checks/test_<family>.py under a name of its own (tests/ has a test_memory.py too)."""
    spec = importlib.util.spec_from_file_location(f"checks_test_{family}", ROOT / "checks" / f"test_{family}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _full_runs():
    """A ``stored_runs`` at the full scale (the store of ``store_env``), its progress counts and its lines."""
    got, lines = [], []

    def runs(*a, **kw):
        out = sweeps.stored_runs(*a, config=None, scale="full", device="cpu", report=lines.append, **kw)
        got.append(out.progress)
        return out

    return runs, got, lines


def _seeds(n, offset=0):
    return tuple(range(offset, offset + n))


def test_capacity_task_does_not_depend_on_the_other_seeds():
    cfg = {"kind": "injective", "d": 8, "N": [3, 6, 12]}
    batched = capacity_curve_task(cfg, (11, 12, 13))
    assert batched == [capacity_curve_task(cfg, (s,))[0] for s in (11, 12, 13)]  # float equality
    assert len(batched) == 3 and all(len(r) == 3 and all(0 <= a <= 1 for a in r) for r in batched)


def test_am3_capacity_at_full_scale_goes_through_the_store(store_env):
    tm = _check_module()
    runs, got, lines = _full_runs()
    curves = functools.partial(tm._capacity_curves, "injective", [8, 12], 2, 10, 3, _seeds)
    first = curves(runs)
    total = got[0]["total"]
    assert total == sum(c["acc"].shape[1] for c in first) and got[0]["done"] == total and got[0]["stored"] == 0
    with Store(store_env) as st:
        assert st.count() == total  # one row per (d, seed)
        assert {r["task"] for r in st.table()} == {"capacity_curve"}
    second = curves(runs)
    assert got[1]["done"] == 0 and got[1]["stored"] == total and got[1]["left"] == 0
    assert any("done 0 now" in line for line in lines)
    inline = curves(functools.partial(sweeps.stored_runs, scale="fast", use_store=False, device="cpu"))
    for a, b, c in zip(first, second, inline):
        assert a["acc"].flags.c_contiguous
        assert json.dumps(a["acc"].tolist()) == json.dumps(b["acc"].tolist()) == json.dumps(c["acc"].tolist())
        assert a["n_star"] == b["n_star"] == c["n_star"]


def _factual_module():
    return _check_module("factual")


FR_TINY = dict(steps=6, lr=0.02, seeds=3, d_head=4)


def test_factual_task_does_not_depend_on_the_other_seeds():
    from tasks import FACTUAL_TRAIN_KEYS, factual_train_task

    tf = _factual_module()
    task, sizes = tf._fr1_sizes((4, 4, 2, 16), [0.5, 1.0], 4)
    cfg = dict(S=task.S, R=task.R, D=task.D, n_noise=task.n_noise, T=task.T, dims=list(sizes.dims))
    cfg.update(heads=list(sizes.heads), widths=list(sizes.widths), d_head=4, steps=6, lr=0.02, noise_seed=7)
    assert set(cfg) == set(FACTUAL_TRAIN_KEYS)
    batched = factual_train_task(cfg, (7, 8, 9))
    assert batched == [factual_train_task(cfg, (s,))[0] for s in (7, 8, 9)]  # float equality
    assert len(batched) == 3 and all(len(r) == 2 and all(0 <= a <= 1 for a in r) for r in batched)
    with pytest.raises(ValueError, match="exactly the keys"):
        factual_train_task({k: v for k, v in cfg.items() if k != "noise_seed"}, (7,))


def test_factual_sizes_at_full_scale_go_through_the_store(store_env):
    """FR1-FR3's trainings (``_sweep``): one row per (config, seed) at the full scale; a second run reads them all;
    the inline (fast) path gives the same accuracies; and both equal a direct ``train_transformers`` call with all
    seeds (the values the fast tier gave before the store)."""
    import numpy as np

    from impl.factual import train_transformers

    tf = _factual_module()
    runs, got, _ = _full_runs()
    configs, ks = [(4, 4, 2, 16), (8, 4, 2, 16)], [0.5, 1.0, 2.0]
    sweep = functools.partial(tf._sweep, configs, tf._fr1_sizes, ks, FR_TINY, _seeds, 2**30)
    first = sweep(runs, "FR1 sizes")
    assert got[0]["total"] == 6 and got[0]["done"] == 6 and got[0]["stored"] == 0
    with Store(store_env) as st:
        assert st.count() == 6 and {r["task"] for r in st.table()} == {"factual_train"}
    second = sweep(runs, "FR1 sizes")
    assert got[1]["done"] == 0 and got[1]["stored"] == 6
    inline = sweep(functools.partial(sweeps.stored_runs, scale="fast", use_store=False, device="cpu"), "FR1 sizes")
    for i, (a, b, c) in enumerate(zip(first, second, inline)):
        assert np.array_equal(a["acc"], b["acc"]) and np.array_equal(a["acc"], c["acc"])
        assert a["k_star"] == b["k_star"] == c["k_star"] or np.isnan(a["k_star"])
        task, sizes = tf._fr1_sizes(configs[i], ks, 4)
        direct = train_transformers(task, sizes, _seeds(3, offset=100 * i), steps=6, lr=0.02, max_bytes=2**30)
        assert np.array_equal(a["acc"], direct.accuracy.astype(float))
        assert np.array_equal(a["params"], direct.params)


SL_TINY = dict(N=300, d=[8, 16], T=[10, 100, 1000, 3000], s=4, seeds=3, seeds_T=4)


def test_scaling_rows_do_not_depend_on_the_other_seeds_and_rebuild_the_simulation():
    import numpy as np
    import scaling_sims
    from tasks import scaling_sim_task

    grid = {k: v for k, v in SL_TINY.items() if k not in ("seeds", "seeds_T")}
    cfg = {"kind": "core", "alpha": 2.0, "grid": grid}
    batched = scaling_sim_task(cfg, (5, 6, 7))
    assert batched == [scaling_sim_task(cfg, (s,))[0] for s in (5, 6, 7)]  # float equality
    direct = scaling_sims.core(2.0, grid, (5, 6, 7), "cpu")
    rebuilt = scaling_sims.assemble("core", 2.0, grid, json.loads(json.dumps(batched)))
    assert set(rebuilt) == set(direct)
    for k, v in direct.items():
        if isinstance(v, dict):
            assert all(np.array_equal(v[s], rebuilt[k][s]) for s in v)
        else:
            assert np.array_equal(v, rebuilt[k]) and type(v) is type(rebuilt[k])
    with pytest.raises(ValueError, match="kind"):
        scaling_sim_task({"kind": "nope", "alpha": 2.0, "grid": grid}, (5,))
    with pytest.raises(ValueError, match="exactly the keys"):
        scaling_sim_task({"kind": "core", "alpha": 2.0}, (5,))


def test_scaling_simulations_at_full_scale_go_through_the_store(store_env):
    """The SL checks' shared simulations (``_stored_sim``): one row per (kind, alpha, seed) at the full scale, read
    back by a second run, equal to the inline (fast) path and to the simulation called directly."""
    import numpy as np
    import scaling_sims

    ts_mod = _check_module("scaling")
    ts_mod.GRID["tiny"] = SL_TINY
    ts_mod.BEST["tiny"] = dict(N=300, d=[8, 16], ratios=[0.5, 1.0], seeds=3)
    runs, got, _ = _full_runs()
    sd = _seeds(3, offset=40)
    for kind in ("core", "best"):
        first = ts_mod._stored_sim(kind, 2.0, "tiny", sd, Uncached(runs), kind)
        second = ts_mod._stored_sim(kind, 2.0, "tiny", sd, Uncached(runs), kind)
        inline_runs = functools.partial(sweeps.stored_runs, scale="fast", use_store=False, device="cpu")
        inline = ts_mod._stored_sim(kind, 2.0, "tiny", sd, Uncached(inline_runs), kind)
        grid = {k: v for k, v in ts_mod._grid(kind, "tiny").items() if k not in ("seeds", "seeds_T")}
        direct = scaling_sims.SIMULATE[kind](2.0, grid, sd, "cpu")
        err = (lambda r: r["err"]["top"]) if kind == "core" else (lambda r: r["err"])
        assert np.array_equal(err(first), err(direct)) and np.array_equal(err(second), err(direct))
        assert np.array_equal(err(inline), err(direct))
    assert [p["done"] for p in got] == [3, 0, 3, 0] and got[1]["stored"] == 3
    with Store(store_env) as st:
        assert st.count() == 6 and {r["task"] for r in st.table()} == {"scaling_sim"}


OD_TINY = dict(seeds=3, T=256, d=24)


def test_dynamics_task_does_not_depend_on_the_other_seeds():
    from tasks import DYNAMICS_TRAIN_KEYS, dynamics_train_task

    cfg = dict(N=12, M=3, d=24, T=128, lrs=[0.01, 0.1], alpha=2.0, batch=16, optimizer="adam", betas=[0.9, 0.999])
    cfg.update(layer_norm=False, norm="l2", init="gaussian", ties="first", checkpoints=2)
    assert set(cfg) == set(DYNAMICS_TRAIN_KEYS)
    batched = dynamics_train_task(cfg, (4, 5, 6))
    assert batched == [dynamics_train_task(cfg, (s,))[0] for s in (4, 5, 6)]  # float equality
    assert all(r["checkpoints"][-1] == 128 and len(r["error"]) == 2 for r in batched)
    with pytest.raises(ValueError, match="exactly the keys"):
        dynamics_train_task({k: v for k, v in cfg.items() if k != "ties"}, (4,))


@pytest.mark.parametrize("model", ["authors", "suite"])
def test_od6_tuned_trainings_at_full_scale_go_through_the_store(store_env, model):
    """OD6/OD7's tuned trainings (``_tuned``): one row per (configuration, seed) at the full scale (the tuning row
    of a seed holds every rate), read back by a second run, equal to the inline (fast) path and to the two direct
    ``train`` calls the check made before the store."""
    import numpy as np

    from impl.dynamics import train

    td = _check_module("dynamics")
    runs, got, _ = _full_runs()
    lrs = np.geomspace(1e-3, 1, 4)
    S_tune, S_test = _seeds(2, offset=100), _seeds(3)
    tuned = functools.partial(td._tuned, "adam", lrs, OD_TINY, S_tune, S_test, layer_norm=True, model=model)
    first = tuned(runs)
    assert [g["total"] for g in got] == [2, 3] and all(g["done"] == g["total"] for g in got)
    second = tuned(runs)
    assert [g["stored"] for g in got[2:]] == [2, 3] and all(g["done"] == 0 for g in got[2:])
    inline = tuned(functools.partial(sweeps.stored_runs, scale="fast", use_store=False, device="cpu"))
    kw = dict(alpha=td.ALPHA, batch=16, optimizer="adam", layer_norm=True, checkpoints=1)
    if model == "authors":
        kw.update(layer_norm=False, norm="l2", init="gaussian", ties="first")
    tune = train(td.N, td.M, 24, 256, lrs, S_tune, **kw).error[:, :, -1].numpy().mean(0)
    k = int(np.argmin(tune))
    direct = train(td.N, td.M, 24, 256, [float(lrs[k])], S_test, **{**kw, "checkpoints": 10})
    for lr, res, end in (first, second, inline):
        assert lr == float(lrs[k]) and end == (k in (0, 3))
        assert res.error.dtype == direct.error.dtype and torch.equal(res.error, direct.error)
        assert np.array_equal(res.checkpoints, direct.checkpoints)


def test_sweep_rows_refuses_a_partial_grid_when_nothing_runs(store_env):
    """``sweep_rows`` with nothing to run (``--sweep-stored-only``): a grid the store lacks in part raises
    IncompleteRuns with the counts (the optimiser-grid checks then skip), unless ``complete=False``."""
    from grids import get_sweep

    sw = get_sweep("authors_grid")
    n = len(sw.configs("fast")) * len(sw.seeds("fast"))
    with pytest.raises(sweeps.IncompleteRuns, match=rf"0 of {n} \(configuration, seed\) runs stored") as e:
        sweeps.sweep_rows("authors_grid", "fast", run_missing=False)
    assert e.value.progress["left"] == n and e.value.progress["stored"] == 0


def test_stored_fraction_counts_runs_not_rows(store_env):
    """``stored_fraction`` counts a grid's (configuration, seed) runs in the store by their hashes: the optimiser
    grid stores one row per run but each holds several rates and sample counts, which a count over loaded rows
    took for runs (10,920 of 1,960 before the fix)."""
    from grids import get_sweep

    from amemory.sweep import run_sweep

    sw = get_sweep("optimizer_grid")
    cfgs, seeds = sw.configs("fast"), sw.seeds("fast")
    total = len(cfgs) * len(seeds)
    assert sweeps.stored_fraction("optimizer_grid", "fast") == (0, total)  # no store yet
    first = min(cfgs, key=lambda c: (c["d"], c["batch_size"]))
    run_sweep(sw.function(), [first], seeds, store_env, "inline", False, version=sw.version, task=sw.task)
    assert sweeps.stored_fraction("optimizer_grid", "fast") == (len(seeds), total)
    assert sweeps.stored_fraction("authors_grid", "fast")[0] == 0  # another grid's runs are not counted
