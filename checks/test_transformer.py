"""TF1-TF6: transformers with frozen random embeddings on the bigram task (000, 'The bigram data model for
in-context reasoning' to 'Global vs in-context associations').

The global bigrams pi_b are the talk's: character-level Shakespeare, N = 65
(impl.transformer.bigram_table(source='shakespeare')); the synthetic Zipf law is a sensitivity row of TF2.
TF2 runs the paper's model and training (impl.birth, from the authors' public code); TF1, TF3, TF4 and TF6 the
suite's model (impl.transformer: N(0, 1/d) tables, W_KQ = 0 start, K = 3 triggers), a labelled variant; TF5 the
talk's uniform setting. The fast tier shrinks the sizes (T = 64, d = 64, small batches, a few hundred steps); the
full tier uses the paper's sizes and is meant for a GPU (``--scale full --device cuda``).
"""

from __future__ import annotations

import numpy as np
import torch
from conftest import need_memory
from plotting import band, figure
from scipy.stats import norm
from stats import (
    bootstrap_interval,
    chi2_rows,
    control_margin,
    control_margin_p,
    crossing,
    mean_ci,
    paired_less,
    seed_proportion_ci,
    sign_order,
    t_crit,
)
from sweeps import Uncached

from impl.transformer import (
    BigramTask,
    evaluate,
    first_crossing,
    init_model,
    position_masks,
)

TASK = {
    "fast": dict(N=65, T=64, K=3, alpha=1.5, d=64, source="shakespeare"),
    "full": dict(N=65, T=256, K=3, alpha=1.5, d=128, source="shakespeare"),
}
TRAIN = {
    # 30 seeds: the power of TF4's sign test (TF4's docstring, History)
    "fast": dict(seeds=30, steps=600, batch=32, lr=1.0, eval_every=20, eval_batch=256, final_batch=512),
    "full": dict(seeds=30, steps=4000, batch=64, lr=1.0, eval_every=50, eval_batch=512, final_batch=2048),
}


def _task(scale) -> BigramTask:
    g = TASK[scale]
    return BigramTask(N=g["N"], T=g["T"], K=g["K"], alpha=g["alpha"], source=g["source"])


def _margin_keys(margin: float | None, why: str) -> dict:
    """The margin entries of a negative control: ``margin_se``, and ``margin_note`` (``why``) when it is None."""
    return {"margin_se": margin} if margin is not None else {"margin_se": None, "margin_note": why}


def _icl_runs(shared, seeds, scale, device, stored_runs):
    """TF4's runs of the suite's model, once per module (``shared``), on the seeds of the fixed tag 'tf-icl-runs'
    (new ones under --fresh-seeds)."""
    return shared(_train_icl, scale, seeds(TRAIN[scale]["seeds"], tag="tf-icl-runs"), device, Uncached(stored_runs))


def _icl_config(g: dict, **kw) -> dict:
    """A configuration of ``tasks.icl_train_task`` on the task ``g`` (TASK[scale]), the rest from ``kw``."""
    from tasks import ICL_TRAIN_KEYS

    base = dict(
        N=g["N"],
        T=g["T"],
        K=g["K"],
        alpha=g["alpha"],
        source=g["source"],
        d=g["d"],
        ff=False,
        ov_init="zero",
        stages=None,
        stage_level=0.99,
        eval_every=10,
        eval_at=None,
        keep_probes=False,
    )
    cfg = {**base, **kw}
    return {k: cfg[k] for k in ICL_TRAIN_KEYS}


def _train_icl(scale, sd, device, runs):
    """The suite's model (TF4): runs with the loss on the in-context output tokens (000 'Empirically probing the
    dynamics'): 2 layers trained jointly (W_KQ^1, W_KQ^2, W_OV^2; W_OV^1 frozen random) and layer by layer
    (W_OV^2, then W_KQ^2, then W_KQ^1, each until its probe reaches 0.9).

    The runs go through ``stored_runs`` (``tasks.icl_train_task``, one row per (schedule, seed)): at the full tier
    each row is one seed's run in the sweep store (about 0.15 s a step for one seed on one core of the CI
    machine, 4,000 steps and 81 evaluations: roughly 15 minutes a row, 60 rows), so the runs resume after a stop
    and spread over sessions and workers; at the fast tier both schedules run inline, all seeds batched, as
    before the store."""
    g, tr = TASK[scale], TRAIN[scale]
    kw = dict(
        trainable=["WKQ1", "WKQ2", "WOV2"],
        loss_on="icl",
        steps=tr["steps"],
        batch=tr["batch"],
        lr=tr["lr"],
        eval_every=tr["eval_every"],
        eval_batch=tr["eval_batch"],
        keep_probes=True,
    )
    from tasks import icl_train_task

    configs = [_icl_config(g, **kw), _icl_config(g, stages=[["WOV2"], ["WKQ2"], ["WKQ1"]], stage_level=0.9, **kw)]
    joint, staged = runs.fn(icl_train_task, configs, sd, task="icl_train", version="1", desc="TF4 runs")
    return dict(task=_task(scale), seeds=sd, joint=_TrainRows(joint), staged=_TrainRows(staged))


# ---------------------------------------------------------------- TF1
TF1_GRID = {"fast": dict(B=2000), "full": dict(B=4000)}


def test_TF1_bigram_data_model(scale, seeds, device, record, finding):
    """TF1 (000, 'The bigram data model for in-context reasoning'): triggers q_1..q_K, outputs o_k ~ pi_o(.|q_k)
    per sequence, z_1 ~ pi_1, z_t | z_{t-1} ~ 1{. = o_k} after q_k and pi_b(.|z_{t-1}) otherwise.

    Measured on B sequences of the sampler: (a) after every trigger occurrence the next token is o_k (an exact
    identity: zero violations); (b) the transitions out of non-trigger tokens follow pi_b: Pearson chi-square
    summed over rows (cells with expected count >= 5); (c) o_k follows pi_o; (d) z_1 follows pi_1.
    Criterion (fixed in advance): zero violations of (a) and p > 0.001 for (b), (c), (d) (the sampler is
    exact, so p is uniform; a 0.001 level makes a false alarm over three tests < 0.3%).
    Negative control: the same chi-square of (b) against the bigrams of another corpus (task_seed + 1), and of
    the trigger rows against pi_b (the chain without in-context outputs), must give p < 1e-6.
    ``margin_se``: z(p) - z(1e-6) of the larger p-value (upper normal quantiles; p = 0 is read as 1e-300).
    """
    g = TASK[scale]
    task = _task(scale)
    B = TF1_GRID[scale]["B"]
    sd = seeds(1)
    b = task.sample(B, sd)
    z, o = b.tokens[0].cpu(), b.outputs[0].cpu()
    N, K = task.N, task.K
    prev, nxt = z[:, :-1].reshape(-1), z[:, 1:].reshape(-1)
    tidx = task.trigger_index()
    k_prev = tidx[prev]
    seq = torch.arange(B).repeat_interleave(g["T"] - 1)
    trig = k_prev >= 0
    violations = int((nxt[trig] != o[seq[trig], k_prev[trig]]).sum())
    counts = torch.zeros(N, N, dtype=torch.float64)
    counts.index_put_((prev[~trig], nxt[~trig]), torch.ones(int((~trig).sum()), dtype=torch.float64), accumulate=True)

    nontrig = torch.ones(N, dtype=torch.bool)
    nontrig[task.triggers] = False
    ch_b = chi2_rows(counts[nontrig], task.pi_b[nontrig])
    oc = torch.zeros(K, N, dtype=torch.float64)
    oc.index_put_((torch.arange(K).repeat(B), o.reshape(-1)), torch.ones(B * K, dtype=torch.float64), accumulate=True)
    ch_o = chi2_rows(oc, task.pi_o)
    fc = torch.bincount(z[:, 0], minlength=N).double().unsqueeze(0)
    ch_1 = chi2_rows(fc, task.pi_1.unsqueeze(0))
    other = BigramTask(N=task.N, T=task.T, K=task.K, alpha=task.alpha, source="synthetic")
    nc_other = chi2_rows(counts[nontrig], other.pi_b[nontrig])
    tc = torch.zeros(K, N, dtype=torch.float64)
    tc.index_put_((k_prev[trig], nxt[trig]), torch.ones(int(trig.sum()), dtype=torch.float64), accumulate=True)
    nc_trig = chi2_rows(tc, task.pi_b[task.triggers])
    ok = violations == 0 and min(ch_b[2], ch_o[2], ch_1[2]) > 1e-3
    nc_rejected = nc_other[2] < 1e-6 and nc_trig[2] < 1e-6
    nc_margin = min(control_margin_p(nc_other[2], alpha=1e-6), control_margin_p(nc_trig[2], alpha=1e-6))
    fig, axes = figure(2, 1, w=4.8)
    emp = counts[nontrig] / counts[nontrig].sum(1, keepdim=True)
    pb = task.pi_b[nontrig]
    sel = pb > 0
    axes[0].loglog(
        pb[sel].numpy(), emp[sel].clamp_min(1e-5).numpy(), ".", ms=3, label="empirical vs pi_b (0 drawn at 1e-5)"
    )
    axes[0].plot([1e-4, 1], [1e-4, 1], "k-", lw=0.8, label="identity")
    axes[0].set_xlabel("pi_b(j|i)")
    axes[0].set_ylabel("empirical frequency")
    axes[0].set_title(f"non-trigger transitions, chi2 p={ch_b[2]:.3g}", fontsize=9)
    axes[0].legend(fontsize=7)
    show = z[:6, :24].numpy()
    is_t = np.isin(show, task.triggers.numpy())
    im = axes[1].imshow(is_t, cmap="Greys", aspect="auto", vmin=0, vmax=1.5)
    fig.set_layout_engine("constrained")
    cb = fig.colorbar(im, ax=axes[1], shrink=0.85, ticks=[0, 1])
    cb.ax.set_yticklabels(["other", "trigger"])
    for i in range(show.shape[0]):
        for t in range(show.shape[1]):
            axes[1].text(
                t, i, str(show[i, t]), fontsize=6, ha="center", va="center", color="white" if is_t[i, t] else "black"
            )
    axes[1].set_yticks(range(show.shape[0]))
    axes[1].set_title(f"first 24 tokens of 6 sequences (triggers {task.triggers.tolist()} shaded)", fontsize=9)
    axes[1].set_xlabel("position t")
    axes[1].set_ylabel("sequence")
    record(
        "TF1",
        prediction="next token = o_k after q_k (always); pi_b elsewhere; o_k ~ pi_o; z_1 ~ pi_1",
        measurement=f"{violations} violations over {int(trig.sum())} trigger transitions; chi2 p-values: "
        f"pi_b {ch_b[2]:.3g} (df {ch_b[1]}), pi_o {ch_o[2]:.3g}, pi_1 {ch_1[2]:.3g}",
        criterion="0 violations and every chi-square p > 0.001",
        verdict="reproduced" if ok else "refuted",
        negative_control={
            "prediction": "bigrams of another corpus (the synthetic Zipf law, N = 65); trigger rows following pi_b",
            "p_values": [nc_other[2], nc_trig[2]],
            "rejected": nc_rejected,
            "margin_se": nc_margin,
        },
        figure=fig,
        data={
            "B": B,
            "N": N,
            "T": g["T"],
            "K": K,
            "triggers": task.triggers.tolist(),
            "chi2": {"pi_b": ch_b, "pi_o": ch_o, "pi_1": ch_1},
        },
        note="pi_b: the Shakespeare character bigrams (impl.transformer.bigram_table(source='shakespeare'), 65 "
        "characters) with the suite's sampler (K = 3 triggers, the most frequent under the stationary law).",
    )
    assert nc_rejected, (nc_other, nc_trig)
    assert (nc_margin > 0) == nc_rejected, nc_margin
    finding(ok, (violations, ch_b, ch_o, ch_1))


# ---------------------------------------------------------------- TF2
# The paper's model and training (impl.birth: the authors' simplified transformer, their data and SGD; every choice
# and its source file in their repository is in impl.birth's docstring). Full tier: their sizes (README command of
# github.com/albietz/transformer-birth: d = 256, T = 256, K = 5 fixed triggers, batch 512, lr 0.03, 1000 steps).
# Fast tier: the same model and data, shrunk for 2 CPU cores (d = T = 64, batch 32, 600 steps, lr 0.2 = their
# OptimArgs default, to make up for the 27x fewer steps x batch); its verdict is about those sizes. The step count
# was raised from 200 after a first run: at 200 steps the 2-layer accuracy was still rising (0.480 [0.293, 0.667]);
# a 1000-step run (seeds 11-15, outside the check) levels off at 0.86 by step 600 (0.856 at 700, 0.865 at 1000),
# and a d = 128 run (600 steps) reached 0.959: at these sizes the 2-layer plateau grows with d, so the fast tier
# cannot speak for the paper's d = 256 (the full tier, about 5 h per seed and model on this CPU: not run here).
BIRTH = {
    "fast": dict(T=64, d=64, K=5, seeds=8, steps=600, batch=32, lr=0.2, eval_every=30, eval_batch=128, final_batch=256),
    "full": dict(
        T=256, d=256, K=5, seeds=5, steps=1000, batch=512, lr=0.03, eval_every=20, eval_batch=512, final_batch=512
    ),
}
TALK = {"1 layer": (0.55, 0.05), "2 layers": (0.99, 0.01)}  # the talk's numbers and their closeness, fixed in advance


def _birth_runs(shared, seeds, scale, device, memory_budget, stored_runs):
    """The runs of TF2 (and the probes of TF4's paper-model record), once per module, seeds of tag 'tf-birth'."""
    sd = seeds(BIRTH[scale]["seeds"], tag="tf-birth")
    return shared(_train_birth, scale, sd, device, memory_budget, Uncached(stored_runs))


class _BirthLog:
    """The parts of ``impl.birth.BirthLog`` that the checks read, rebuilt from the stored rows (seeds stacked)."""

    def __init__(self, rows):
        self.steps = np.array(rows[0]["steps"])
        self.metrics = {k: np.array([r["metrics"][k] for r in rows], dtype=float) for k in rows[0]["metrics"]}
        self.probes = {k: np.array([r["probes"][k] for r in rows], dtype=float) for k in rows[0]["probes"]}


class _TrainRows(_BirthLog):
    """The parts of ``impl.transformer.TrainLog`` that the checks read, rebuilt from ``tasks.icl_train_task``'s
    rows (seeds stacked; a stored None, a non-finite value, is NaN again): ``_BirthLog``'s fields and the steps of
    the probes, which are recorded after every step (0..steps; empty when the rows keep none)."""

    def __init__(self, rows):
        super().__init__(rows)
        self.probe_steps = np.arange(len(next(iter(self.probes.values()))[0]) if self.probes else 0)


def _train_birth(scale, sd, device, memory_budget, runs):
    """1 and 2 layers of the paper's model on Shakespeare (the talk's data) and on the synthetic Zipf law (N = 65,
    alpha = 1.5: the sensitivity row), same seeds, steps, batch and rate; final accuracies on fresh sequences.

    The runs go through ``stored_runs`` (``tasks.birth_run_task``, one row per (source, layers, seed)): at the full
    tier each row is one seed's run in the sweep store, so the about 8 h of the four full-tier models (1 thread;
    about 2 s per seed-iteration at the paper's sizes, 1000 steps) resume after a stop and spread over sessions;
    at the fast tier the four models run inline, all seeds batched, as before the store.

    Memory: a training step accumulates its gradient over chunks of the batch that fit in ``max_bytes`` (half the
    budget, at most train_birth's default 256 MiB: larger chunks were not faster, a full-tier step measured 74 s in
    one piece against 38 s in chunks of 12 sequences per seed; the gradient is the same up to float round-off, and
    at the fast tier the batch is one chunk, the same computation as without chunking). Steps and evaluations do
    not overlap; the evaluation passes (birth_evaluate's 64 sequences per seed) hold about 4 S 64 T (T + d) float32
    values (582 MiB measured at the full tier with 5 seeds), the smallest unit of this check's memory. S is the
    seeds of one call: all of them at the fast tier, one per row at the full tier (times the store's workers).
    """
    from tasks import BIRTH_RUN_KEYS, birth_run_task

    from impl.birth import _step_bytes

    G = BIRTH[scale]
    T, d = G["T"], G["d"]
    S = len(sd) if scale == "fast" else 1
    one = _step_bytes(S, 1, T, d, 4)  # one training sequence per seed (train_birth's estimate, float32)
    evaluation = 4 * S * 64 * T * (T + d) * 4
    need_memory(f"TF2 (S={S}, T={T}, d={d})", max(one, evaluation), memory_budget)
    max_bytes = min(memory_budget // 2, 256 * 2**20)
    keys = [("shakespeare", 2), ("shakespeare", 1), ("synthetic", 2), ("synthetic", 1)]
    fixed = {**G, "max_bytes": int(max_bytes), "attention": 32}
    configs = [{k: {**fixed, "source": src, "layers": L}[k] for k in BIRTH_RUN_KEYS} for src, L in keys]
    res = runs.fn(birth_run_task, configs, sd, task="birth_run", version="1", desc="TF2 birth runs")
    out = {"seeds": sd}
    for key, rows in zip(keys, res):
        out[key] = dict(
            log=_BirthLog(rows),
            final={k: np.array([r["final"][k] for r in rows], dtype=float) for k in rows[0]["final"]},
            attention=[np.array(m, dtype=float) for m in rows[0]["attention"]],  # the first seed's
            tokens=rows[0]["tokens"],
        )
    return out


def _closeness(lo, hi, talk):
    """'consistent' when the measured interval meets the talk's band [v - delta, v + delta], else 'inconsistent'."""
    v, delta = talk
    return "consistent" if (hi >= v - delta and lo <= v + delta) else "inconsistent"


def _attention_panel(fig, ax, beta, chars, title):
    im = ax.imshow(beta, cmap="viridis", vmin=0, vmax=1)
    ticks = range(len(chars))
    ax.set_xticks(ticks, chars, fontsize=6)
    ax.set_yticks(ticks, chars, fontsize=6)
    ax.set_xlabel("key position s (character)", fontsize=8)
    ax.set_ylabel("query position t (character)", fontsize=8)
    ax.set_title(title, fontsize=8)
    if fig.get_layout_engine() is None:  # the report's layout, set before the colorbar is placed
        fig.set_layout_engine("constrained")
    fig.colorbar(im, ax=ax, shrink=0.85, label="attention beta(t, s)")


def test_TF2_one_layer_fails_two_layers_succeed(scale, seeds, shared, device, record, memory_budget, stored_runs):
    """TF2 (000, 'Transformers on the bigram task'): on the bigram task with Karpathy's character-level Shakespeare
    bigrams, a 1-layer transformer fails (~55% accuracy on in-context output predictions), a 2-layer transformer
    succeeds (~99%).

    Model and training: the paper's (impl.birth, from the authors' public code): frozen N(0, 1) embeddings,
    trained W_K^1, W_K^2, W_O^2, SGD momentum 0.9, weight decay 1e-4, loss on the in-context outputs; the 1-layer
    model is their second block alone (W_K, W_O trained). Accuracy: argmax prediction at the positions whose trigger
    occurred before (their ``outs >= 2``), on fresh sequences, one value per seed; mean and 95% t-interval over
    seeds.
    Criterion (fixed in advance, before any run of this model): the talk's number v is *consistent* with a
    measurement when the 95% interval [lo, hi] meets [v - delta, v + delta], *inconsistent* when it lies outside.
    delta: the talk writes '~55%' and '~99%', i.e. numbers given to 5 points (55) and to 1 point (99); we take
    delta = 0.05 for 1 layer and 0.01 for 2 layers. Seed-to-seed variance: on this task family the per-seed
    accuracies had standard deviations of about 0.011 (1 layer) and 0.009 (2 layers) (the synthetic-law report),
    so 5 seeds give intervals of half-width about 0.014 and 0.011, narrow enough for the test to decide at either
    delta (an interval can lie inside or outside the band); the fast tier runs 8 seeds since TF4's paper-model
    control needed them (TF4's History), the full tier 5. Qualitative part: 1 layer < 2 layers by the paired
    one-sided t-test at p < 0.01.
    Verdict: reproduced when both numbers are consistent and the qualitative part holds; refuted when either number
    is inconsistent or the qualitative part fails. The fast tier runs smaller sizes than the paper's (BIRTH); its
    verdict is about those sizes. Sensitivity (recorded, not part of the verdict): the same runs on the synthetic
    Zipf bigrams (N = 65), to see whether the 1-layer plateau depends on the data.
    Negative control: the same closeness test fed the wrong prediction 'the 1-layer model reaches the 2-layer
    number (0.99 +- 0.01)' must call it inconsistent. ``margin_se``: how far the 1-layer interval misses the band
    [0.98, 1.00], in SEs of the 1-layer mean (t_{S-1}); the same value on all three records.
    """
    r = _birth_runs(shared, seeds, scale, device, memory_budget, stored_runs)
    G = BIRTH[scale]
    acc = {("2 layers", s): r[(s, 2)]["final"]["icl"] for s in ("shakespeare", "synthetic")}
    acc.update({("1 layer", s): r[(s, 1)]["final"]["icl"] for s in ("shakespeare", "synthetic")})
    ci = {k: mean_ci(v) for k, v in acc.items()}
    test = paired_less(acc[("1 layer", "shakespeare")], acc[("2 layers", "shakespeare")])
    close = {k: _closeness(ci[(k, "shakespeare")][1], ci[(k, "shakespeare")][2], TALK[k]) for k in TALK}
    qual = test.p_value < 0.01
    ok = qual and all(v == "consistent" for v in close.values())
    verdict = "reproduced" if ok else "refuted"
    m1, lo1, hi1 = ci[("1 layer", "shakespeare")]
    m2, lo2, hi2 = ci[("2 layers", "shakespeare")]
    nc_rejected = _closeness(lo1, hi1, TALK["2 layers"]) == "inconsistent"
    # inconsistent: hi1 < v - delta or lo1 > v + delta (either suffices: the larger margin)
    v2, delta2 = TALK["2 layers"]
    crit1 = t_crit(len(acc[("1 layer", "shakespeare")]))
    nc_parts = [
        control_margin(m1, lo1, hi1, v2 - delta2, side="above", crit=crit1),
        control_margin(m1, lo1, hi1, v2 + delta2, side="below", crit=crit1),
    ]
    nc_margin = None if None in nc_parts else max(nc_parts)
    nc_keys = _margin_keys(nc_margin, "zero-width interval: the 1-layer accuracies are equal at every seed")
    sens = paired_less(acc[("1 layer", "synthetic")], acc[("1 layer", "shakespeare")])

    fig, axes = figure(2, 1, w=5.0)
    for src, L in (("shakespeare", 2), ("shakespeare", 1), ("synthetic", 2), ("synthetic", 1)):
        log = r[(src, L)]["log"]
        ax = axes[0] if src == "shakespeare" else axes[1]
        band(ax, log.steps, log.metrics["icl"], f"{L} layer{'s' if L == 2 else ''}", clip=(0, 1))
    for ax, src in zip(axes, ("Shakespeare bigrams (talk's data)", "synthetic Zipf bigrams (sensitivity)")):
        ax.axhspan(0.50, 0.60, color="gray", alpha=0.15, label="talk: ~55% (+-0.05)")
        ax.axhspan(0.98, 1.00, color="green", alpha=0.15, label="talk: ~99% (+-0.01)")
        ax.set_xlabel("training step")
        ax.set_ylabel("in-context accuracy (eval batch)")
        ax.set_ylim(0, 1.02)
        ax.set_title(f"{src}: {len(r['seeds'])} seeds, 95% band", fontsize=9)
        ax.legend(fontsize=7)
    # attention maps of the first seed on one evaluation sequence (the same for both models): the first 32 characters
    run2, run1 = r[("shakespeare", 2)], r[("shakespeare", 1)]
    from impl.birth import BirthTask
    from impl.data.shakespeare import ALPHABET

    maps2, maps1 = run2["attention"], run1["attention"]
    n = maps2[0].shape[-1]
    trig = set(BirthTask(source="shakespeare", T=G["T"], K=G["K"]).fixed.tolist())
    chars = [
        (repr(ALPHABET[t])[1:-1] if ALPHABET[t] != " " else "_") + ("*" if t in trig else "")
        for t in run2["tokens"][:n]
    ]
    fig2, axes2 = figure(3, 1, w=5.2)
    for ax, mp, title in (
        (axes2[0], maps2[0], "2 layers, layer 1 (previous-token head?)"),
        (axes2[1], maps2[1], "2 layers, layer 2 (induction head?)"),
        (axes2[2], maps1[0], "1 layer"),
    ):
        _attention_panel(fig2, ax, mp, chars, title + " (*: trigger, _: space)")
    sizes = f"d={G['d']}, T={G['T']}, K={G['K']}, batch {G['batch']}, {G['steps']} steps, lr {G['lr']}"
    record(
        "TF2",
        prediction="Shakespeare bigrams, the paper's model: 2 layers ~99% on in-context outputs (1 layer: next record)",
        measurement=f"({scale} tier: {sizes}) 2 layers {m2:.3f} [{lo2:.3f}, {hi2:.3f}] vs talk 0.99 +- 0.01: "
        f"{close['2 layers']}; 1 layer {m1:.3f} [{lo1:.3f}, {hi1:.3f}] vs talk 0.55 +- 0.05: {close['1 layer']}; "
        f"paired 1L-2L {test.mean_diff:+.3f}, p={test.p_value:.2g}",
        interval=(lo2, hi2),
        interval_of="2-layer in-context accuracy, mean over seeds",
        estimate=m2,
        criterion="each talk number's band [v - delta, v + delta] (delta 0.05 / 0.01) meets the 95% interval; "
        "paired 1L < 2L p < 0.01",
        verdict=verdict,
        negative_control={
            "prediction": "1 layer reaches the 2-layer number (0.99 +- 0.01)",
            "interval_1layer": [lo1, hi1],
            "rejected": nc_rejected,
            **nc_keys,
        },
        figure=fig,
        data={
            "acc": {f"{k[0]}, {k[1]}": v for k, v in acc.items()},
            "ci": {f"{k[0]}, {k[1]}": list(v) for k, v in ci.items()},
            "closeness": close,
            "seeds": r["seeds"],
            "sizes": G,
            "first_occurrence_acc": {f"{L}L": r[("shakespeare", L)]["final"]["first"] for L in (1, 2)},
        },
        note="Model, data and training of the authors' public code (impl.birth); the talk's numbers are compared "
        "at the sizes run. The suite's own model (impl.transformer, N(0, 1/d) tables, W_KQ = 0 start) is the "
        "variant of TF4/TF6.",
    )
    record(
        "TF2",
        prediction="Shakespeare bigrams, the paper's model: 1 layer ~55% on in-context outputs, below 2 layers",
        measurement=f"({scale} tier: {sizes}) 1 layer {m1:.3f} [{lo1:.3f}, {hi1:.3f}] vs talk 0.55 +- 0.05: "
        f"{close['1 layer']}; paired 1L-2L {test.mean_diff:+.3f}, p={test.p_value:.2g}",
        interval=(lo1, hi1),
        interval_of="1-layer in-context accuracy, mean over seeds",
        estimate=m1,
        criterion="as the first TF2 record (one verdict for both talk numbers)",
        verdict=verdict,
        negative_control={
            "prediction": "1 layer reaches the 2-layer number (0.99 +- 0.01)",
            "interval_1layer": [lo1, hi1],
            "rejected": nc_rejected,
            **nc_keys,
        },
    )
    ms, los, his = ci[("1 layer", "synthetic")]
    m2s, lo2s, hi2s = ci[("2 layers", "synthetic")]
    record(
        "TF2",
        prediction="sensitivity: does the 1-layer plateau depend on the data (synthetic Zipf vs Shakespeare)?",
        measurement=f"synthetic Zipf(1.5), N=65: 1 layer {ms:.3f} [{los:.3f}, {his:.3f}], 2 layers {m2s:.3f} "
        f"[{lo2s:.3f}, {hi2s:.3f}]; 1L synthetic - Shakespeare {sens.mean_diff:+.3f} "
        f"[{sens.ci[0]:+.3f}, {sens.ci[1]:+.3f}]",
        interval=(float(sens.ci[0]), float(sens.ci[1])),
        interval_of="1-layer accuracy, synthetic minus Shakespeare (paired t-interval)",
        estimate=float(sens.mean_diff),
        role="sensitivity",
        criterion="sensitivity row (the verdict is the first TF2 record's)",
        verdict=verdict,
        negative_control={"prediction": "as the first TF2 record", "rejected": nc_rejected, **nc_keys},
        figure=fig2,
    )
    assert nc_rejected, (lo1, hi1)
    assert nc_margin is None or (nc_margin > 0) == nc_rejected, nc_margin
    for v in acc.values():
        assert np.all((v >= 0) & (v <= 1))
    # what was measured decides the verdict; assert it (a refutation names the number outside its band)
    assert (verdict == "reproduced") == (qual and close["1 layer"] == close["2 layers"] == "consistent"), close


# ---------------------------------------------------------------- TF3
TF3_GRID = {
    "fast": dict(d=[16, 24, 32, 48, 64, 96, 128, 192, 256], seeds=6, B=96),
    "full": dict(d=[32, 48, 64, 96, 128, 192, 256, 384, 512, 768], seeds=10, B=256),
}


def test_TF3_construction_solves_task(scale, seeds, device, record, finding):
    """TF3 (000, 'Induction head with associative memories'): with frozen random e, p, u and W_OV^1, the
    untrained model W_KQ^1 = b sum_t p_t p_{t-1}^T, W_KQ^2 = b sum_{k in Q} e_k (W_OV^1 e_k)^T,
    W_OV^2 = c sum_k u_k e_k^T (b = 3 log T, c = 3: theory.transformer.construction_scales) solves the task.

    Measured: in-context accuracy per seed over a grid of d, and d* where the mean accuracy crosses 0.99
    (log-interpolated, bootstrap over seeds). Two accuracies: all in-context positions, and the positions whose
    trigger was not the first token of the sequence ('inner'): at t = 1 the previous-token head can only attend
    to itself, so the key after a trigger in first position does not hold e~_q; this boundary case is reported
    separately (found while building the check, before the criterion was fixed on the inner positions).
    Criterion: at the largest d the inner accuracy has mean >= 0.99 and lower 95% bound >= 0.98.
    Negative control: the same construction without the remapping (W_KQ^2 = sum_k e_k e_k^T) must have inner
    accuracy with upper 95% bound < 0.5 at the largest d. ``margin_se``: how far that upper bound lies below 0.5, in SEs
    read off the upper side of the interval (crit: t_{S-1} where the t-interval made that bound, else 1.96).
    Interval: stats.seed_proportion_ci, the hull of the t-interval over seeds and the Clopper-Pearson interval of
    the pooled (correct, positions) counts. History: it was the t-interval alone, which collapses to [1, 1] when
    every seed is perfect: over 5 reruns it was [1, 1] three times while the pooled accuracy of the 30 seeds was
    0.99978, so it covered that value in 2 of 5 (the verdict, reproduced, held in 5 of 5).
    """
    from theory.transformer import construction

    g, G = TASK[scale], TF3_GRID[scale]
    task = _task(scale)
    sd = seeds(G["seeds"])
    toks = task.sample(G["B"], sd, step=3, device=device).tokens
    masks = position_masks(toks, task.triggers)
    n_pos = {k: masks[m].sum((1, 2)).cpu().numpy() for k, m in (("inner", "icl_inner"), ("all", "icl"))}
    n_pos["no remap"] = n_pos["inner"]
    acc = {"inner": [], "all": [], "no remap": []}
    for d in G["d"]:
        m = init_model(g["N"], g["T"], d, sd, layers=2, device=device, dtype=torch.float64)
        for remap in (True, False):
            C = construction(
                m.E.cpu().numpy(),
                m.P.cpu().numpy(),
                m.U.cpu().numpy(),
                m.W["WOV1"].cpu().numpy(),
                task.triggers.numpy(),
                remap=remap,
            )
            mc = m.clone()
            mc.W.update({k: torch.as_tensor(v, device=m.E.device) for k, v in C.items()})
            res = evaluate(mc, task, toks)
            if remap:
                acc["inner"].append(res["icl_inner"])
                acc["all"].append(res["icl"])
            else:
                acc["no remap"].append(res["icl_inner"])
    A = {k: np.array(v) for k, v in acc.items()}  # (n_d, S)
    ds = np.array(G["d"], float)

    # d*: where the mean inner accuracy first reaches 0.99 (log-interpolated), bootstrap over seeds
    d_star = crossing(ds, A["inner"].mean(1), 0.99, rising=True)
    d_ci = tuple(
        bootstrap_interval(
            lambda m: crossing(ds, m, 0.99, rising=True), A["inner"], axis=1, n_boot=300, rng=np.random.default_rng(0)
        )
    )

    def prop_ci(k):  # the last d's accuracies as counts of the positions per seed
        return seed_proportion_ci(np.round(A[k][-1] * n_pos[k]), n_pos[k])

    m_in, lo_in, hi_in = prop_ci("inner")
    m_all, lo_all, hi_all = prop_ci("all")
    m_nc, lo_nc, hi_nc = prop_ci("no remap")
    # the control's upper bound is the larger of the t-interval's (t_{S-1}) and the Clopper-Pearson one's (95%: z)
    hi_nc_t = mean_ci(np.round(A["no remap"][-1] * n_pos["no remap"]) / n_pos["no remap"])[2]
    crit_nc = t_crit(len(sd)) if hi_nc_t >= hi_nc else float(norm.isf(0.025))
    ok = m_in >= 0.99 and lo_in >= 0.98
    nc_rejected = hi_nc < 0.5
    nc_margin = control_margin(m_nc, lo_nc, hi_nc, 0.5, side="above", crit=crit_nc)
    fig, axes = figure(1, 1, w=5.5)
    ax = axes[0]
    for k, mk in (("inner", "o-"), ("all", "s--"), ("no remap", "x:")):
        m, lo, hi = mean_ci(A[k], axis=1)
        ax.errorbar(
            ds,
            m,
            yerr=[m - lo, hi - m],
            fmt=mk,
            ms=4,
            capsize=2,
            label={
                "inner": "construction (trigger not first token)",
                "all": "construction (all positions)",
                "no remap": "control: W_KQ^2 without W_OV^1 remap",
            }[k],
        )
    ax.axhline(0.99, c="k", lw=0.8, ls=":")
    if np.isfinite(d_star):
        ax.axvline(d_star, c="gray", lw=0.8, label=f"d* (0.99) = {d_star:.0f}")
    ax.set_xscale("log")
    ax.set_xlabel("d")
    ax.set_ylabel("in-context accuracy (no training)")
    ax.set_title(f"TF3 construction, N={g['N']}, T={g['T']}, K={g['K']}, {G['seeds']} seeds", fontsize=9)
    ax.legend(fontsize=7)
    record(
        "TF3",
        prediction="the associative-memory construction solves the task once d is large enough",
        measurement=f"d={int(ds[-1])}: inner accuracy {m_in:.4f} [{lo_in:.4f}, {hi_in:.4f}], all positions "
        f"{m_all:.4f} [{lo_all:.4f}, {hi_all:.4f}]; d* (inner, 0.99) = {d_star:.1f} "
        f"[{d_ci[0]:.1f}, {d_ci[1]:.1f}]",
        interval=(lo_in, hi_in),
        interval_of=f"inner in-context accuracy at d = {int(ds[-1])}, mean over seeds",
        estimate=m_in,
        criterion="largest d: inner mean >= 0.99 and lower bound >= 0.98",
        verdict="reproduced" if ok else "refuted",
        negative_control={
            "prediction": "W_KQ^2 = sum_k e_k e_k^T (no remapping)",
            "accuracy": [m_nc, lo_nc, hi_nc],
            "rejected": nc_rejected,
            **_margin_keys(nc_margin, "zero-width upper side: the no-remap accuracy interval ends at its mean"),
        },
        figure=fig,
        data={"d": G["d"], "acc": A, "d_star": d_star, "d_star_ci": d_ci},
        note="The literal construction fails when the trigger is the first token (its key holds e~ of itself); "
        "the 'all positions' curve shows the cost of that boundary case.",
    )
    assert nc_rejected, (m_nc, hi_nc)
    assert nc_margin is None or (nc_margin > 0) == nc_rejected, nc_margin
    finding(ok, (m_in, lo_in))


# ---------------------------------------------------------------- TF4
def test_TF4_probe_order_and_joint_learning(scale, seeds, shared, device, record, memory_budget, stored_runs):
    """TF4 (000, 'Empirically probing the dynamics'): training only W_KQ^1, W_KQ^2, W_OV^2 with the loss on the
    in-context output tokens, the memory-recall probes R(W_hat, W_*) rise in the order W_OV^2, then W_KQ^2,
    then W_KQ^1; joint learning is faster than learning layer by layer.

    Two records, both on Shakespeare bigrams: the suite's model (below) and the paper's model (the TF2 runs,
    probes of the authors' code evaluated every ``eval_every`` steps; the same order test and negative control;
    the layer-by-layer comparison is not run on it).

    Probes are computed after every step (impl.transformer.induction_probes). Per seed, the first step at which
    each probe reaches 0.5 (half of the memory recalled; the coarse W_KQ^2 probe has K = 3 triggers; a probe that
    never reaches it counts as the budget, steps + 1).
    Criterion (fixed in advance, see History): the order is a per-seed order, so it is decided by exact sign tests
    (``stats.sign_order``; ties left out): 'W_OV^2 before W_KQ^2' and 'W_KQ^2 before W_KQ^1' in more than half of the
    seeds, each one-sided p < 0.05 (order reproduced); and the steps to reach in-context accuracy 0.9 (eval every
    ``eval_every`` steps; a run that never reaches it counts as the budget, which favours the slower schedule)
    are smaller for joint than for layer-by-layer training (paired one-sided t-test on log steps, p < 0.05).
    The layer-by-layer schedule trains W_OV^2, then W_KQ^2, then W_KQ^1, moving on as soon as the current
    probe reaches 0.9 (an oracle switch, the most favourable to it).
    Negative control: the reverse order ('W_KQ^1 first': c(W_KQ^1) - c(W_OV^2) < 0) must be rejected: the 95%
    interval of that mean difference must lie above 0. ``margin_se``: the interval's lower bound over 0, in SEs of the
    mean difference (t_{S-1}), on each record.
    Verdict: reproduced when all three tests pass; refuted when one of them is significant in the reverse
    direction (the reverse sign test p < 0.05; for the t-test p > 0.95); inconclusive otherwise. The test asserts
    the parts that the data decide.
    History: the paper-model record's control (the TF2 runs) had a margin of 1.85 SE at seed base 0 with 5 seeds
    (committed 2-thread run; 2.41 at one thread), a power of about Phi(1.85) = 0.97, so about 3% of fresh draws
    would fail its assertion; the TF2 runs went from 5 to 8 seeds at the fast tier (sqrt(8/5) smaller SE and
    t_7 for t_4: an expected margin of about (1.85 + 2.78) 1.26 - 2.36 = 3.5, a power of 0.9998).
    Until 2026-12-04 the order was decided by paired t-tests on the crossing steps with 5 seeds. Over seed bases
    0-5 the suite-model record was refuted in 3 draws and inconclusive in 3 (reports/stability.md): the step
    difference is heavy-tailed (a few seeds reach the W_KQ^2 probe's 0.5 late, e.g. at step 127 against a median
    of 4), and one such seed cancels the mean; with 10 and 20 seeds the t-test still flipped (p(OV2 < KQ2) 0.49
    and 0.93 at seed base 1). A per-seed order is what the claim states, so the test became the sign test, which
    a few late seeds cannot overturn. Its size came from a pilot at seed base 100 (used by no report, nor by
    the stability reruns 1-5): W_KQ^2 reached 0.5 before W_OV^2 in 27 of 30 seeds, a share of 0.90 (95%
    Clopper-Pearson [0.73, 0.98]). With 30 seeds the exact one-sided sign test at 0.05 needs 20 of 30; it rejects
    with probability 0.9999 at a share of 0.9 and 0.974 at 0.8 (0.89 at the interval's bottom, 0.75), so both
    records' verdicts are powered for the target of 95% stability; the full tier runs 30 seeds too. The rule and
    the 30 seeds were fixed after the pilot and before any of the seed bases 0-5 was run with them.
    """
    r = _icl_runs(shared, seeds, scale, device, stored_runs)
    tr = TRAIN[scale]
    j, s = r["joint"], r["staged"]
    lev = 0.5
    cross = {k: first_crossing(j.probe_steps, j.probes[k], lev) for k in ("WOV2", "WKQ2", "WKQ1")}
    budget = tr["steps"] + 1
    cc = {k: np.where(np.isnan(v), budget, v) for k, v in cross.items()}
    t1 = sign_order(cc["WOV2"], cc["WKQ2"])
    t2 = sign_order(cc["WKQ2"], cc["WKQ1"])
    order_ok = t1["p_before"] < 0.05 and t2["p_before"] < 0.05
    order_rev = t1["p_after"] < 0.05 or t2["p_after"] < 0.05
    tj = first_crossing(j.steps, j.metrics["icl"], 0.9)
    ts = first_crossing(s.steps, s.metrics["icl"], 0.9)
    tjc, tsc = np.where(np.isnan(tj), budget, tj), np.where(np.isnan(ts), budget, ts)
    tj_test = paired_less(np.log(tjc), np.log(tsc))
    joint_ok = tj_test.p_value < 0.05
    rev = cc["WKQ1"] - cc["WOV2"]
    mrev, lorev, hirev = mean_ci(rev)
    nc_rejected = lorev > 0
    nc_margin = control_margin(mrev, lorev, hirev, 0.0, side="below", crit=t_crit(rev.size))
    ok = order_ok and joint_ok
    med = {k: float(np.median(v)) for k, v in cc.items()}
    fig, axes = figure(3, 1, w=4.4)
    for k in ("WOV2", "WKQ2", "WKQ1"):
        band(axes[0], j.probe_steps, j.probes[k], f"{k} (reaches 0.5: median step {med[k]:.0f})", clip=(0, 1))
        band(axes[1], s.probe_steps, s.probes[k], k, clip=(0, 1))
    for ax, t in ((axes[0], "joint training: probes"), (axes[1], "layer by layer (OV2 -> KQ2 -> KQ1): probes")):
        ax.axhline(lev, c="k", lw=0.6, ls=":")
        ax.set_xlabel("step")
        ax.set_ylabel("R(W_hat, W_*)")
        ax.set_title(t, fontsize=9)
        ax.legend(fontsize=7)
    band(axes[2], j.steps, j.metrics["icl"], "joint", clip=(0, 1))
    band(axes[2], s.steps, s.metrics["icl"], "layer by layer", clip=(0, 1))
    axes[2].axhline(0.9, c="k", lw=0.6, ls=":")
    axes[2].set_xlabel("step")
    axes[2].set_ylabel("in-context accuracy")
    axes[2].set_title("joint vs layer-by-layer", fontsize=9)
    axes[2].legend(fontsize=7)
    record(
        "TF4",
        prediction="probe order W_OV^2 < W_KQ^2 < W_KQ^1; joint learning faster than layer by layer",
        measurement=f"steps to probe 0.5 (median over {cc['WOV2'].size} seeds): OV2 {med['WOV2']:.0f}, "
        f"KQ2 {med['WKQ2']:.0f}, KQ1 {med['WKQ1']:.0f}; OV2 before KQ2 in {t1['before']}, after in {t1['after']} "
        f"(sign test p(before)={t1['p_before']:.2g}, p(after)={t1['p_after']:.2g}); KQ2 before KQ1 in "
        f"{t2['before']}, after in {t2['after']} (p(before)={t2['p_before']:.2g}, p(after)={t2['p_after']:.2g}); "
        f"steps to accuracy 0.9: joint {np.nanmean(tj) if np.isfinite(tj).any() else float('nan'):.0f} "
        f"(reached by {int(np.isfinite(tj).sum())}/{tj.size}), layer by layer reached by "
        f"{int(np.isfinite(ts).sum())}/{ts.size} within {tr['steps']} steps; p(joint faster)={tj_test.p_value:.2g}",
        criterion="both order sign tests (exact, one-sided, per-seed order) p < 0.05 and joint faster p < 0.05 "
        "(paired one-sided t-test on log steps); refuted when a reverse sign test has p < 0.05 or the t-test "
        "p > 0.95",
        verdict="reproduced" if ok else ("refuted" if (order_rev or tj_test.p_value > 0.95) else "inconclusive"),
        negative_control={
            "prediction": "reverse order: W_KQ^1 before W_OV^2",
            "diff_ci": [lorev, hirev],
            "rejected": nc_rejected,
            **_margin_keys(nc_margin, "zero-width interval: the step difference is equal at every seed"),
        },
        figure=fig,
        data={"cross_steps": cc, "t_joint": tj, "t_staged": ts, "order_tests": [t1, t2]},
    )

    # the paper's model (impl.birth, the TF2 runs): the authors' probes along their training, same order test
    b = _birth_runs(shared, seeds, scale, device, memory_budget, stored_runs)[("shakespeare", 2)]["log"]
    bud_b = int(b.steps[-1]) + BIRTH[scale]["eval_every"]
    cb = {k: first_crossing(b.steps, b.probes[k], lev) for k in ("WOV2", "WKQ2", "WKQ1")}
    cbc = {k: np.where(np.isnan(v), bud_b, v) for k, v in cb.items()}
    u1 = sign_order(cbc["WOV2"], cbc["WKQ2"])
    u2 = sign_order(cbc["WKQ2"], cbc["WKQ1"])
    ok_b = u1["p_before"] < 0.05 and u2["p_before"] < 0.05
    rev_b = mean_ci(cbc["WKQ1"] - cbc["WOV2"])
    # a probe that some seed never brings to 0.5 within the run leaves the order undecided: inconclusive
    all_reached = all(np.isfinite(v).all() for v in cb.values())
    if ok_b:
        verdict_b = "reproduced"
    elif all_reached and (u1["p_after"] < 0.05 or u2["p_after"] < 0.05):
        verdict_b = "refuted"
    else:
        verdict_b = "inconclusive"
    nc_b = rev_b[1] > 0
    nc_b_margin = control_margin(*rev_b, 0.0, side="below", crit=t_crit(cbc["WKQ1"].size))
    fig_b, ax_b = figure(1, 1, w=5.0)
    for k in ("WOV2", "WKQ2", "WKQ1"):
        band(ax_b[0], b.steps, b.probes[k], f"{k} (reached 0.5 by {int(np.isfinite(cb[k]).sum())}/{cb[k].size})")
    ax_b[0].axhline(lev, c="k", lw=0.6, ls=":")
    ax_b[0].set_xlabel("step")
    ax_b[0].set_ylabel("probe R (authors' definitions)")
    ax_b[0].set_ylim(-0.02, 1.02)
    ax_b[0].set_title("paper's model, Shakespeare, 95% band over seeds", fontsize=9)
    ax_b[0].legend(fontsize=7)
    record(
        "TF4",
        prediction="paper's model on Shakespeare: probe order W_OV^2 < W_KQ^2 < W_KQ^1",
        measurement=f"({scale} tier, sizes of TF2) steps to probe 0.5, mean over seeds (never reached = "
        f"{bud_b}): OV2 {cbc['WOV2'].mean():.0f}, KQ2 {cbc['WKQ2'].mean():.0f}, KQ1 {cbc['WKQ1'].mean():.0f}; "
        f"reached by {int(np.isfinite(cb['WOV2']).sum())}, {int(np.isfinite(cb['WKQ2']).sum())}, "
        f"{int(np.isfinite(cb['WKQ1']).sum())} of {cb['WOV2'].size}; OV2 before KQ2 in {u1['before']}, after in "
        f"{u1['after']} (sign test p(before)={u1['p_before']:.2g}, p(after)={u1['p_after']:.2g}); KQ2 before KQ1 in "
        f"{u2['before']}, after in {u2['after']} (p(before)={u2['p_before']:.2g}, p(after)={u2['p_after']:.2g})",
        criterion="both order sign tests (exact, one-sided, per-seed order) p < 0.05 (evaluation grid of TF2); "
        "refuted when every probe reaches 0.5 in every seed and a reverse sign test has p < 0.05; else "
        "inconclusive; joint vs layer by layer is tested on the suite's model only",
        verdict=verdict_b,
        negative_control={
            "prediction": "reverse order: W_KQ^1 before W_OV^2",
            "diff_ci": list(rev_b[1:]),
            "rejected": nc_b,
            **_margin_keys(nc_b_margin, "zero-width interval: the step difference is equal at every seed"),
        },
        figure=fig_b,
        data={"cross_steps": cbc, "order_tests": [u1, u2]},
    )
    # both records are written before anything is asserted
    assert nc_rejected, (lorev, hirev)
    assert nc_b, rev_b
    assert nc_margin is None or (nc_margin > 0) == nc_rejected, nc_margin
    assert nc_b_margin is None or (nc_b_margin > 0) == nc_b, nc_b_margin
    # the verdict follows from the three tests (recorded above); assert that, not the outcome (Shakespeare data)
    assert ok == (t1["p_before"] < 0.05 and t2["p_before"] < 0.05 and joint_ok)


# ---------------------------------------------------------------- TF5
TF5_GRID = {
    "fast": dict(N=64, T=12, K=4, d=[32, 128], d_full_arch=128, B=2048, seeds=4, lam=5.0),
    "full": dict(N=256, T=16, K=8, d=[64, 128, 256, 512], d_full_arch=512, B=16384, seeds=8, lam=5.0),
}


def _three_steps(G, sd, device, stored_runs):
    """TF5's normalised population-gradient steps (``tasks.three_steps_task``; one store row per configuration and
    seed at the full tier, inline with all seeds at the fast): the simplified architecture at each d, the full
    residual one at ``d_full_arch`` and the reverse order at the largest d. Returns (by d, full residual, reverse),
    each a list over the steps of probe -> array over seeds."""
    from tasks import THREE_STEPS_KEYS, three_steps_task

    order, reverse = ["WOV2", "WKQ2", "WKQ1"], ["WKQ1", "WKQ2", "WOV2"]
    runs = [(d, True, order) for d in G["d"]] + [(G["d_full_arch"], False, order), (G["d"][-1], True, reverse)]
    configs = [
        {**{k: G[k] for k in ("N", "T", "K", "B", "lam")}, "d": d, "simplified": simp, "order": o}
        for d, simp, o in runs
    ]
    configs = [{k: c[k] for k in THREE_STEPS_KEYS} for c in configs]
    out = stored_runs(three_steps_task, configs, sd, task="three_steps", version="1", desc="TF5 gradient steps")
    steps = [[{k: np.array([seed[i][k] for seed in rows]) for k in rows[0][i]} for i in range(3)] for rows in out]
    return {d: steps[i] for i, d in enumerate(G["d"])}, steps[-2], steps[-1]


def test_TF5_three_gradient_steps(scale, seeds, device, record, finding, stored_runs):
    """TF5 (000, 'Gradient steps for the bigram task'): with uniform distributions, N >> T, large width and the
    population loss on the second output token, three gradient steps (W_OV^2, then W_KQ^2, then W_KQ^1)
    recover the three memories, under 'some simplifications to architecture'.

    Setting: impl.transformer.induction_queries (uniform tokens, one trigger q at a uniform position followed by
    o, q again at T-2; loss on predicting o), the population loss approximated by B sequences per seed, the
    disentangled architecture (layer 1 keys/queries read p, values e; layer 2 queries read e, keys read the layer-1
    output; init_model(simplified=True)); normalised steps (the probe is invariant to the step's scale).
    Probes: W_OV^2 over the N-K output tokens, W_KQ^2 over the K triggers, W_KQ^1 over the positions that can
    hold the output (1..T-3). Criterion (fixed in advance): at the largest d, after the three steps each probe
    has mean >= 0.9. Also reported: the same steps in the full residual architecture.
    Negative control: the reverse order (W_KQ^1, W_KQ^2, W_OV^2): at zero W_OV^2 the gradient of the logits in
    W_KQ^2 vanishes and the one in W_KQ^1 carries no previous-token signal, so the W_KQ^1 and W_KQ^2 probes must
    stay below 0.5. ``margin_se``: (0.5 - mean) / SE of the mean over seeds (no interval: the threshold is on the
    mean), the smaller over the two probes; a probe equal at every seed (W_KQ^2: exactly 0) has no SE and drops out.
    The steps go through ``stored_runs`` (``tasks.three_steps_task``): inline at the fast tier, a store row per
    (configuration, seed) at the full tier, so it resumes: its 48 rows took 1,702 s on one core of the CI machine
    (at most 66 s a row), far less than the seeds batched, which took 62 s per 1,024 sequences of 8 seeds at
    d = 512 (about 2.6 hours projected for the check).
    """
    G = TF5_GRID[scale]
    sd = seeds(G["seeds"])
    order = ("WOV2", "WKQ2", "WKQ1")
    res, full_arch, rev = _three_steps(G, sd, device, stored_runs)
    final = {k: res[G["d"][-1]][i][k] for i, k in enumerate(order)}  # each probe right after its own step
    ok = all(final[k].mean() >= 0.9 for k in order)
    nc_rejected = rev[-1]["WKQ1"].mean() < 0.5 and rev[-1]["WKQ2"].mean() < 0.5
    # each probe's mean against 0.5 in SEs of that mean; both must reject (the smaller); a probe with no spread over
    # seeds has no SE: it drops out when below 0.5 (deterministic at these seeds), else the control has no margin
    nc_parts, nc_flat = [], []
    for k in ("WKQ1", "WKQ2"):
        v = rev[-1][k]
        if np.ptp(v) > 0:
            nc_parts.append(float((0.5 - v.mean()) / (v.std(ddof=1) / np.sqrt(v.size))))
        else:
            nc_flat.append(bool(v.mean() < 0.5))
    nc_margin = min(nc_parts) if nc_parts and all(nc_flat) else None
    fig, axes = figure(1, 1, w=6.0)
    ax = axes[0]
    xs = np.arange(3)
    rows = [(f"simplified, d={d}", res[d]) for d in G["d"]] + [(f"full residual, d={G['d_full_arch']}", full_arch)]
    for i, (lab, r) in enumerate(rows):
        vals = np.array([r[-1][k] for k in order])  # after all three steps
        m, lo, hi = mean_ci(vals, axis=1)
        ax.errorbar(xs + 0.1 * i, m, yerr=[m - lo, hi - m], fmt="o", capsize=2, label=lab)
    m, lo, hi = mean_ci(np.array([rev[-1][k] for k in order]), axis=1)
    ax.errorbar(xs + 0.1 * len(rows), m, yerr=[m - lo, hi - m], fmt="x", capsize=2, label="control: reverse order")
    ax.set_xticks(xs, ["W_OV^2", "W_KQ^2", "W_KQ^1"])
    ax.set_xlabel("matrix probed")
    ax.set_ylabel("probe R after the three steps")
    ax.set_ylim(-0.05, 1.05)
    ax.set_title(f"TF5: N={G['N']}, T={G['T']}, K={G['K']}, {G['B']} sequences/seed", fontsize=9)
    ax.legend(fontsize=7)
    fmt = lambda r: ", ".join(f"{k} {r[-1][k].mean():.2f}" for k in order)  # noqa: E731
    record(
        "TF5",
        prediction="3 population steps (W_OV^2, W_KQ^2, W_KQ^1) recover the three memories",
        measurement="simplified architecture: "
        + "; ".join(f"d={d}: {fmt(res[d])}" for d in G["d"])
        + f"; full residual d={G['d_full_arch']}: {fmt(full_arch)}",
        criterion="largest d, simplified architecture: every probe mean >= 0.9 after its step",
        verdict="reproduced" if ok else "refuted",
        negative_control={
            "prediction": "reverse order recovers W_KQ^1 and W_KQ^2",
            "probes": {k: float(rev[-1][k].mean()) for k in order},
            "rejected": nc_rejected,
            **_margin_keys(
                nc_margin,
                "no SE: the reverse-order probes are equal at every seed"
                if all(nc_flat)
                else "a probe with no spread over seeds is >= 0.5 (deterministic at these seeds)",
            ),
        },
        figure=fig,
        data={"simplified": {str(d): res[d] for d in G["d"]}, "full_residual": full_arch, "reverse": rev, "grid": G},
        note="The seed states the theorem with 'some simplifications to architecture'; we read them as heads that "
        "each read one part of the residual stream. The full residual stream adds cross terms that the "
        "steps only partly overcome at these widths (reported, not part of the verdict).",
    )
    assert nc_rejected, rev
    assert nc_margin is None or (nc_margin > 0) == nc_rejected, nc_margin
    finding(ok, final)


# ---------------------------------------------------------------- TF6
# lr: 6.0 was set on the synthetic law (N = 32); on the Shakespeare task it diverges (FloatingPointError, non-finite
# W_KQ^1, first fast run), so TF6 uses lr 1.0, the rate of the suite model's other Shakespeare runs (TRAIN).
TF6_GRID = {
    "fast": dict(seeds=8, steps=2400, batch=32, lr=1.0, eval_batch=192),
    "full": dict(seeds=8, steps=8000, batch=64, lr=1.0, eval_batch=512),
}


def test_TF6_global_bigrams_before_induction(scale, seeds, device, record, finding, stored_runs):
    """TF6 (000, 'Global vs in-context associations'): global bigrams are learned much faster than the induction
    head (feed-forward after O(1) samples, attention after O(N) samples).

    A 2-layer model with a linear feed-forward W_F (x <- x + W_F x before the output), trained on the loss of
    all next tokens (W_KQ^1, W_KQ^2, W_OV^2, W_F; W_OV^1 frozen random), SGD with momentum. Global accuracy:
    agreement with the Bayes bigram prediction argmax_j pi_b(j|z_t) at non-trigger positions; in-context
    accuracy as in TF2. For each, the samples (steps x batch) needed to first reach 90% of its final value (mean
    of the last three evaluations, on a geometric grid of steps), per seed.
    Criterion (fixed in advance): the geometric mean of the ratio samples(in-context) / samples(global) has a
    lower 95% bound >= 5 ('far fewer': the theory's O(N) vs O(1), N = 65 characters).
    Negative control: equal speeds (ratio 1) must lie below the interval. ``margin_se``: the lower bound's log over
    log 1 = 0, in SEs of the mean log ratio (t_{S-1}).
    Seeds (fast): the interval is the t-interval of the mean per-seed log ratio, so the lower bound is
    exp(m - t_{n-1} s / sqrt(n)). Stability reruns with 4 seeds (seed bases 0-5): per-seed sd of the log ratio s
    0.27-0.50 (pooled 0.38), mean log ratio ln 10.8; the lower bound then reaches 5 with probability (noncentral
    t) 0.77 at n = 4, 0.97 at n = 6, 0.998 at n = 8 (0.96 at n = 8 if s = 0.5, about the upper 95% bound of the
    pooled s). The training is batched over seeds but costs linearly in them (~15 s a seed on the CI machine).
    The run goes through ``stored_runs`` (``tasks.icl_train_task``, one row per seed): inline at the fast tier, all
    seeds batched as before the store; a row of the sweep store per seed at the full tier (8,000 steps: the first
    row took 1,986 s on one core of the CI machine, sharing it), so it resumes after a stop.
    History: fast seeds 4 -> 8 (inconclusive at seed bases 2, 4: [3.9, 19.1], [4.3, 20.7]); base 0
    11.6 [6.4, 21.0] -> 12.4 [9.7, 15.9].
    """
    from tasks import icl_train_task

    g, G = TASK[scale], TF6_GRID[scale]
    sd = seeds(G["seeds"])
    eval_at = np.unique(np.round(np.geomspace(1, G["steps"], 28)).astype(int))
    cfg = _icl_config(
        g,
        ff=True,
        trainable=["WKQ1", "WKQ2", "WOV2", "WF"],
        loss_on="all",
        steps=G["steps"],
        batch=G["batch"],
        lr=G["lr"],
        eval_at=eval_at.tolist(),
        eval_batch=G["eval_batch"],
    )
    (rows,) = stored_runs(icl_train_task, [cfg], sd, task="icl_train", version="1", desc="TF6 runs")
    log = _TrainRows(rows)
    steps = log.steps
    t = {}
    fin = {}
    for k in ("global", "icl"):
        v = log.metrics[k]
        fin[k] = v[:, -3:].mean(1)
        t[k] = np.array([first_crossing(steps, v[i : i + 1], 0.9 * fin[k][i])[0] for i in range(v.shape[0])])
    t = {k: np.maximum(v, 1) * G["batch"] for k, v in t.items()}  # samples; a metric at step 0 counts as 1 step
    lr_ = np.log(t["icl"] / t["global"])
    mlr, lo, hi = mean_ci(lr_)
    ratio, rlo, rhi = float(np.exp(mlr)), float(np.exp(lo)), float(np.exp(hi))
    ok = rlo >= 5
    nc_rejected = rlo > 1
    nc_margin = control_margin(mlr, lo, hi, 0.0, side="below", crit=t_crit(lr_.size))
    fig, axes = figure(1, 1, w=5.5)
    ax = axes[0]
    xs = np.maximum(steps, 1) * G["batch"]
    band(ax, xs, log.metrics["global"], "global bigrams (vs Bayes argmax)", clip=(0, 1), logx=True)
    band(ax, xs, log.metrics["icl"], "in-context outputs", clip=(0, 1), logx=True)
    for k, c in (("global", "C0"), ("icl", "C1")):
        ax.axvline(np.exp(np.mean(np.log(t[k]))), c=c, ls=":", lw=0.8)
    ax.set_xlabel("training sequences seen (steps x batch)")
    ax.set_ylabel("accuracy")
    ax.set_title(f"TF6: samples to 90% of final, ratio {ratio:.1f} [{rlo:.1f}, {rhi:.1f}]", fontsize=9)
    ax.legend(fontsize=7)
    record(
        "TF6",
        prediction="global bigrams reach their final accuracy in far fewer samples than in-context outputs",
        measurement=f"samples to 90% of final: global {np.exp(np.log(t['global']).mean()):.0f}, in-context "
        f"{np.exp(np.log(t['icl']).mean()):.0f} (geometric means); ratio {ratio:.1f} [{rlo:.1f}, {rhi:.1f}]; "
        f"final accuracies global {fin['global'].mean():.3f}, in-context {fin['icl'].mean():.3f}",
        interval=(rlo, rhi),
        interval_of="ratio of samples to 90% of final, in-context over global (geometric mean)",
        estimate=ratio,
        criterion="lower 95% bound of the geometric-mean ratio >= 5",
        verdict="reproduced" if ok else ("refuted" if rhi < 5 else "inconclusive"),
        negative_control={
            "prediction": "equal speed (ratio 1)",
            "rejected": nc_rejected,
            **_margin_keys(nc_margin, "zero-width interval: the log ratio is equal at every seed"),
        },
        figure=fig,
        data={
            "steps": steps,
            "global": log.metrics["global"],
            "icl": log.metrics["icl"],
            "samples": t,
            "final": fin,
            "grid": G,
        },
    )
    assert nc_rejected, (rlo, rhi)
    assert nc_margin is None or (nc_margin > 0) == nc_rejected, nc_margin
    finding(ok, (ratio, rlo, rhi))
