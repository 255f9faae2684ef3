"""``tasks.icl_train_task``: the suite-model runs of TF4 (joint and layer by layer) and TF6 as rows of the sweep
store (one per configuration and seed), and TF4's runs through ``stored_runs`` (inline at the fast tier, the
store at the full)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from check_helpers import check_module, close_results, store_runs
from sweeps import Uncached
from tasks import ICL_TRAIN_KEYS, icl_train_task

from amemory.sweep import Store, canonical_json
from impl.transformer import BigramTask, init_model, train

TINY = dict(
    N=12,
    T=10,
    K=2,
    alpha=1.5,
    source="synthetic",
    d=8,
    ff=False,
    ov_init="zero",
    trainable=["WKQ1", "WKQ2", "WOV2"],
    loss_on="icl",
    stages=None,
    stage_level=0.9,
    steps=4,
    batch=4,
    lr=0.5,
    eval_every=2,
    eval_at=None,
    eval_batch=6,
    keep_probes=True,
)
STAGED = {**TINY, "stages": [["WOV2"], ["WKQ2"], ["WKQ1"]], "stage_level": 0.05}
FF = {**TINY, "ff": True, "trainable": ["WKQ1", "WKQ2", "WOV2", "WF"], "loss_on": "all", "eval_at": [1, 3]}


def test_rows_are_plain_json_with_the_documented_fields():
    out = icl_train_task(TINY, (3, 4))
    assert len(out) == 2
    for r in out:
        assert json.loads(canonical_json(r)) == r  # what the store keeps is what the check reads
        assert r["steps"] == [0, 2, 4]
        assert set(r["metrics"]) == {"icl", "icl_inner", "global", "first", "loss_icl"}
        assert all(len(v) == 3 for v in r["metrics"].values())
        assert set(r["probes"]) == {"WOV2", "WKQ2", "WKQ1"}
        assert all(len(v) == 5 for v in r["probes"].values())  # steps 0..4
    ff = icl_train_task({**FF, "keep_probes": False}, (3,))[0]
    assert ff["steps"] == [0, 1, 3, 4] and ff["probes"] == {}


@pytest.mark.parametrize("cfg", [TINY, STAGED, FF], ids=["joint", "staged", "feed-forward"])
def test_matches_the_simulator_called_directly(cfg):
    sd = (5, 6)
    task = BigramTask(N=12, T=10, K=2, alpha=1.5, source="synthetic")
    model = init_model(12, 10, 8, sd, layers=2, ff=cfg["ff"], ov_init="zero")
    log = train(
        model,
        task,
        steps=4,
        batch=4,
        lr=0.5,
        trainable=tuple(cfg["trainable"]),
        loss_on=cfg["loss_on"],
        stages=None if cfg["stages"] is None else [tuple(g) for g in cfg["stages"]],
        stage_level=cfg["stage_level"],
        eval_every=2,
        eval_at=cfg["eval_at"],
        eval_batch=6,
    )
    got = icl_train_task(cfg, sd)
    for j in range(2):
        assert got[j]["steps"] == log.steps.tolist()
        assert got[j]["metrics"]["icl"] == log.metrics["icl"][j].tolist()
        assert got[j]["probes"]["WKQ1"] == log.probes["WKQ1"][j].tolist()
    if cfg is STAGED:  # the staged run is not the joint run: the stages were used
        assert got != icl_train_task(TINY, sd)


def test_a_seed_does_not_depend_on_the_other_seeds():
    for cfg in (TINY, STAGED):
        batched = icl_train_task(cfg, (11, 12, 13))
        for j, s in enumerate((11, 12, 13)):
            close_results(batched[j], icl_train_task(cfg, (s,))[0])


@pytest.mark.parametrize(
    "change, match",
    [
        ({"keep_probes": 1}, "keep_probes"),
        ({"extra": 1}, "keys"),
        ({"steps": 0}, "steps"),
        ({"source": "tolstoy"}, "source"),
    ],
)
def test_bad_configs_name_the_parameter(change, match):
    with pytest.raises(ValueError, match=match):
        icl_train_task({**TINY, **change}, (1,))
    with pytest.raises(ValueError, match="keys"):
        icl_train_task({k: v for k, v in TINY.items() if k != "lr"}, (1,))
    with pytest.raises(ValueError, match="keys"):
        icl_train_task([1, 2], (1,))
    assert set(ICL_TRAIN_KEYS) == set(TINY)


def test_tf4_runs_at_full_scale_go_through_the_store(tmp_path, monkeypatch):
    path, runs, got = store_runs(tmp_path, monkeypatch)
    tm = check_module(monkeypatch, "transformer", "checks_test_transformer_icl")
    task = dict(N=12, T=10, K=2, alpha=1.5, d=8, source="synthetic")
    train_ = dict(seeds=2, steps=3, batch=4, lr=0.5, eval_every=1, eval_batch=4, final_batch=4)
    for scale in ("fast", "full"):
        monkeypatch.setitem(tm.TASK, scale, task)
        monkeypatch.setitem(tm.TRAIN, scale, train_)

    sd = (21, 22)
    first = tm._train_icl("full", sd, "cpu", Uncached(runs("full")))
    assert got[0]["total"] == 4 and got[0]["done"] == 4 and got[0]["stored"] == 0  # 2 schedules x 2 seeds
    with Store(path) as st:
        assert st.count() == 4 and {r["task"] for r in st.table()} == {"icl_train"}
    second = tm._train_icl("full", sd, "cpu", Uncached(runs("full")))
    assert got[1]["done"] == 0 and got[1]["stored"] == 4 and got[1]["left"] == 0
    inline = tm._train_icl("fast", sd, "cpu", Uncached(runs("fast")))
    assert got[2]["store"] is None
    for key in ("joint", "staged"):
        a, b, c = first[key], second[key], inline[key]
        assert np.array_equal(a.metrics["icl"], b.metrics["icl"])
        np.testing.assert_allclose(a.metrics["icl"], c.metrics["icl"], rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(a.probes["WKQ1"], c.probes["WKQ1"], rtol=1e-4, atol=1e-6)
        assert a.metrics["icl"].shape == (2, 4) and list(a.steps) == [0, 1, 2, 3]
        assert list(a.probe_steps) == [0, 1, 2, 3]
