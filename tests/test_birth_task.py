"""``tasks.birth_run_task``: the paper-model runs of TF2/TF4 as rows of the sweep store (one per source, number of
layers and seed), and the TF2 check's runs through ``stored_runs`` (inline at the fast tier, the store at the full)."""

from __future__ import annotations

import functools
import json

import numpy as np
import pytest
import sweeps
from check_helpers import check_module, close_results
from sweeps import Uncached
from tasks import BIRTH_RUN_KEYS, birth_run_task

from amemory.sweep import Store, canonical_json
from impl.birth import BirthTask, birth_evaluate, init_birth, train_birth

TINY = dict(
    source="shakespeare",
    layers=2,
    T=8,
    d=8,
    K=2,
    steps=3,
    batch=4,
    lr=0.1,
    eval_every=1,
    eval_batch=4,
    final_batch=6,
    max_bytes=2**20,
    attention=5,
)


def test_rows_are_plain_json_with_the_documented_fields():
    out = birth_run_task(TINY, (3, 4))
    assert len(out) == 2
    for r in out:
        assert json.loads(canonical_json(r)) == r  # what the store keeps is what the check reads
        assert r["steps"] == [0, 1, 2, 3]
        assert set(r["metrics"]) == {"icl", "first", "global", "loss_icl"}
        assert all(len(v) == 4 for v in r["metrics"].values())
        assert set(r["probes"]) == {"WOV2", "WKQ1", "WKQ2"}
        assert set(r["final"]) == {"icl", "first", "global", "loss_icl"}
        assert len(r["attention"]) == 2 and np.array(r["attention"]).shape == (2, 5, 5)
        assert len(r["tokens"]) == 5 and all(0 <= t < 65 for t in r["tokens"])
    one = birth_run_task({**TINY, "layers": 1}, (3,))[0]
    assert set(one["probes"]) == {"WOV2"} and len(one["attention"]) == 1


def test_matches_the_simulator_called_directly():
    sd = (5, 6)
    task = BirthTask(source="shakespeare", T=8, K=2)
    final = task.sample(6, sd, step=2**40 + 1)
    log = train_birth(
        init_birth(task.N, 8, 8, sd, layers=2), task, steps=3, batch=4, lr=0.1, eval_every=1, eval_batch=4
    )
    ev = birth_evaluate(log.model, final)
    got = birth_run_task(TINY, sd)
    for j in range(2):
        assert got[j]["final"]["icl"] == float(ev["icl"][j])
        assert got[j]["metrics"]["icl"] == log.metrics["icl"][j].tolist()
        assert got[j]["probes"]["WKQ1"] == log.probes["WKQ1"][j].tolist()
        assert got[j]["tokens"] == final.tokens[j, 0, :5].tolist()


def test_a_seed_does_not_depend_on_the_other_seeds():
    batched = birth_run_task(TINY, (11, 12, 13))
    for j, s in enumerate((11, 12, 13)):
        close_results(batched[j], birth_run_task(TINY, (s,))[0])


@pytest.mark.parametrize(
    "change, match",
    [
        ({"layers": 3}, "layers"),
        ({"attention": 0}, "attention"),
        ({"attention": True}, "attention"),
        ({"extra": 1}, "keys"),
    ],
)
def test_bad_configs_name_the_parameter(change, match):
    with pytest.raises(ValueError, match=match):
        birth_run_task({**TINY, **change}, (1,))
    with pytest.raises(ValueError, match="keys"):
        birth_run_task({k: v for k, v in TINY.items() if k != "lr"}, (1,))
    with pytest.raises(ValueError, match="keys"):
        birth_run_task([1, 2], (1,))
    assert set(BIRTH_RUN_KEYS) == set(TINY)


def test_tf2_runs_at_full_scale_go_through_the_store(tmp_path, monkeypatch):
    path = tmp_path / "runs.sqlite"
    monkeypatch.delenv("AMEMORY_STORED_RUNS", raising=False)
    monkeypatch.setenv("AMEMORY_SWEEP_STORE", str(path))
    monkeypatch.setenv("AMEMORY_DASK_SCHEDULER", "inline")
    tm = check_module(monkeypatch, "transformer", "checks_test_transformer")
    tiny = dict(T=8, d=8, K=2, seeds=2, steps=2, batch=4, lr=0.1, eval_every=1, eval_batch=4, final_batch=6)
    monkeypatch.setitem(tm.BIRTH, "full", tiny)
    monkeypatch.setitem(tm.BIRTH, "fast", tiny)
    got, lines = [], []

    def runs(scale, *a, **kw):
        out = sweeps.stored_runs(*a, config=None, scale=scale, device="cpu", report=lines.append, **kw)
        got.append(out.progress)
        return out

    sd = (21, 22)
    first = tm._train_birth("full", sd, "cpu", 2**30, Uncached(functools.partial(runs, "full")))
    assert got[0]["total"] == 8 and got[0]["done"] == 8 and got[0]["stored"] == 0  # 2 sources x 2 layers x 2 seeds
    with Store(path) as st:
        assert st.count() == 8 and {r["task"] for r in st.table()} == {"birth_run"}
    second = tm._train_birth("full", sd, "cpu", 2**30, Uncached(functools.partial(runs, "full")))
    assert got[1]["done"] == 0 and got[1]["stored"] == 8 and got[1]["left"] == 0
    inline = tm._train_birth("fast", sd, "cpu", 2**30, Uncached(functools.partial(runs, "fast")))
    assert got[2]["store"] is None
    for key in [("shakespeare", 2), ("shakespeare", 1), ("synthetic", 2), ("synthetic", 1)]:
        a, b, c = first[key], second[key], inline[key]
        assert np.array_equal(a["final"]["icl"], b["final"]["icl"])
        np.testing.assert_allclose(a["final"]["icl"], c["final"]["icl"], rtol=1e-4)
        np.testing.assert_allclose(a["log"].metrics["icl"], c["log"].metrics["icl"], rtol=1e-4, atol=1e-6)
        assert a["log"].metrics["icl"].shape == (2, 3) and list(a["log"].steps) == [0, 1, 2]
        assert a["tokens"] == c["tokens"] and a["attention"][0].shape == (8, 8)  # the 32-position crop of T = 8


def test_the_module_cache_shares_runs_across_tests():
    assert Uncached(print) == Uncached(len) and hash(Uncached(print)) == hash(Uncached(len))
    assert Uncached(print) != print
