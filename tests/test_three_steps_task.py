"""``tasks.three_steps_task``: TF5's three normalised population-gradient steps as rows of the sweep store (one per
configuration and seed), and TF5's steps through ``stored_runs`` (inline at the fast tier, the store at the full)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from check_helpers import check_module, close_results, store_runs
from tasks import THREE_STEPS_KEYS, three_steps_task

from amemory.sweep import Store, canonical_json

TINY = dict(N=10, T=6, K=2, B=64, d=16, simplified=True, order=["WOV2", "WKQ2", "WKQ1"], lam=5.0)


def test_rows_are_plain_json_with_a_probe_set_per_step():
    out = three_steps_task(TINY, (3, 4))
    assert len(out) == 2
    for r in out:
        assert json.loads(canonical_json(r)) == r
        assert len(r) == 3 and all(set(st) == {"WOV2", "WKQ2", "WKQ1"} for st in r)
        assert all(0 <= v <= 1 for st in r for v in st.values())
    # a step in another order is another computation
    rev = three_steps_task({**TINY, "order": ["WKQ1", "WKQ2", "WOV2"]}, (3,))[0]
    assert rev != out[0]


def test_a_seed_does_not_depend_on_the_other_seeds():
    for simplified in (True, False):
        cfg = {**TINY, "simplified": simplified}
        batched = three_steps_task(cfg, (11, 12, 13))
        for j, s in enumerate((11, 12, 13)):
            close_results(batched[j], three_steps_task(cfg, (s,))[0])


@pytest.mark.parametrize(
    "change, match",
    [
        ({"order": ["WOV2", "WOV2", "WKQ1"]}, "order"),
        ({"order": "WOV2"}, "order"),
        ({"simplified": 1}, "simplified"),
        ({"lam": 0.0}, "lam"),
        ({"lam": True}, "lam"),
        ({"extra": 1}, "keys"),
    ],
)
def test_bad_configs_name_the_parameter(change, match):
    with pytest.raises(ValueError, match=match):
        three_steps_task({**TINY, **change}, (1,))
    assert set(THREE_STEPS_KEYS) == set(TINY)


def test_tf5_steps_at_full_scale_go_through_the_store(tmp_path, monkeypatch):
    path, runs, got = store_runs(tmp_path, monkeypatch)
    tm = check_module(monkeypatch, "transformer", "checks_test_transformer_tf5")
    G = dict(N=10, T=6, K=2, d=[8, 16], d_full_arch=16, B=64, seeds=2, lam=5.0)

    sd = (21, 22)
    first = tm._three_steps(G, sd, "cpu", runs("full"))
    assert got[0]["total"] == 8 and got[0]["done"] == 8  # 2 simplified d + full residual + reverse, x 2 seeds
    with Store(path) as st:
        assert st.count() == 8 and {r["task"] for r in st.table()} == {"three_steps"}
    second = tm._three_steps(G, sd, "cpu", runs("full"))
    assert got[1]["done"] == 0 and got[1]["stored"] == 8
    inline = tm._three_steps(G, sd, "cpu", runs("fast"))
    assert got[2]["store"] is None
    for a, b, c in zip(first, second, inline):
        a, b, c = (list(x.values()) if isinstance(x, dict) else [x] for x in (a, b, c))
        for ra, rb, rc in zip(a, b, c):
            for sa, sb, sc in zip(ra, rb, rc):
                assert sa.keys() == {"WOV2", "WKQ2", "WKQ1"} and sa["WOV2"].shape == (2,)
                for k in sa:
                    assert np.array_equal(sa[k], sb[k])
                    np.testing.assert_allclose(sa[k], sc[k], rtol=1e-4, atol=1e-6)
