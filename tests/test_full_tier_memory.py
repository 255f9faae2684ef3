"""Issue #20: one full-tier configuration of each family runs under a stated memory budget.

Each case runs, in a fresh subprocess, the simulation that dominates its family's memory at the full tier's sizes
of the large dimensions (N, d, T, model width), and asserts that the peak resident set minus the one after imports
stays under a budget: what the configuration needs by its tensor shapes, rounded up generously (the arithmetic is
beside each case), never above 4 GiB. Where seeds, steps or rates only multiply the time they are cut, and said so;
where the simulation holds all seeds at once, the seed count multiplies the memory and is kept.

The subprocess also gets an address-space limit of its budget plus 1 GiB above its size after imports, so a
configuration that does not chunk fails at its first allocation over that limit instead of filling this machine.
Every family's simulation now chunks (seeds, models or sequences in groups under a byte budget); the memory
family's case is tests/test_memory_budget.py.
"""

from __future__ import annotations

import pytest
from memory_probe import probe

MiB, GiB = 2**20, 2**30

CASES = {
    # GM4 (the gradients family's largest): one SGD step at N = 256, M = 4, d = 2048, B = 2e6, float64, all seeds at
    # once. 10 seeds here (the full tier: 20; the memory is linear in them, measured 2274 MiB at 20 seeds, 17 s).
    # Shapes: W_0, its gradient and W_1 (S, d, d) float64 = 3 x 10 x 2048^2 x 8 B = 960 MiB; E, U, pinv(E) (S, 256, d)
    # 3 x 40 MiB; the batch is counted in pieces of 1e6 draws (8 MiB): about 1.1 GiB, budget 2 GiB.
    "gradients": dict(
        imports="from impl.gradients import one_sgd_step\nfrom theory.zipf import zipf_pmf",
        run="""
N, M, d, B, S = 256, 4, 2048, 2_000_000, 10
p, f = zipf_pmf(N, 1.5), np.arange(N) % M
W1, E, U, _ = one_sgd_step(torch.as_tensor(f), M, d, torch.as_tensor(p), B, tuple(range(S)), dtype=torch.float64)
C = torch.linalg.pinv(U.transpose(-1, -2)) @ W1 @ torch.linalg.pinv(E)
""",
        budget=2 * GiB,
    ),
    # SL6's d >> N simulation (checks/scaling_sims.py small) at the full tier's largest d = 4096, N = 256, its 40
    # seeds and 8 sample sizes (Q = 3 + 2 x 8 = 19 weightings). It holds the tables (S, N, d) float32 = 40 x 256 x
    # 4096 x 4 B = 160 MiB, V and A = U W (S, Q, M, d) 2 x 59 MiB, correct (S, Q, N) and the counts (under 1 MiB),
    # and the d x d memories W = U^T V of at most impl.memory.W_SLICE_ELEMENTS = 2^26 float32 (256 MiB) at once:
    # about 540 MiB, budget 1 GiB. (Before the memories were sliced, impl.memory._recall_group formed W for the whole
    # seed group at once, (S, Q, d, d) = 40 x 19 x 4096^2 x 4 B = 47.5 GiB here; the fast tier's 11.9 GB after SL6 was
    # that W at d = 2048.)
    "scaling": dict(
        imports="import scaling_sims\nimport test_scaling",
        run="""
scaling_sims.small(1.5, dict(test_scaling.SMALL["full"], d=[4096]), tuple(range(40)), "cpu")
""",
        budget=GiB,
    ),
    # OD6's rate tuning (the dynamics family's largest: the explicit W of Adam): N = 100, M = 5, d = 1000 (the full
    # tier's CMP d), batch 16, the 11 rates and 3 tuning seeds at once, the authors' model (W from N(0, 1/d), L2 norm).
    # 3 steps here (the full tier: T = 102400, i.e. 6400 steps; the steps only multiply the time). W (S, L, d, d)
    # float32 = 3 x 11 x 1000^2 x 4 B = 126 MiB; W, Adam's two moments, the gradient and the update's temporaries:
    # about 10 such tensors, 1.26 GiB (measured 1258 MiB); budget 2 GiB. (OD2's d = 20000 runs hold the tables
    # (30, 100, 20000) float32 = 229 MiB and the coefficients (S, L, M, N): less.)
    "dynamics": dict(
        imports="from impl.dynamics import train",
        run="""
train(100, 5, 1000, 16 * 3, np.geomspace(1e-5, 1, 11), (0, 1, 2), alpha=2.0, batch=16, optimizer="adam",
      norm="l2", init="gaussian", ties="first", checkpoints=1)
""",
        budget=2 * GiB,
    ),
    # GD3 (the gd family's largest): the full tier's 6 x 9 x 25 = 1350 two-token problems, every step recorded.
    # T = 10000 here (the full tier: 40000; the loss and error records are linear in T, measured 837 MiB at T = 40000,
    # 23 s). Records: loss and error (1350, T + 1) float64 = 2 x 1350 x 10001 x 8 B = 206 MiB; the problems (1350, 2, 2)
    # are KiB. Budget 512 MiB.
    "gd": dict(
        imports="from impl import gd",
        run="""
prob = gd.two_token_problem([0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 0.97, 0.99, 1.0], [0.6, 0.7, 0.75, 0.8, 0.9, 0.95],
                            np.logspace(-1, 3, 25))
gd.run_gd(prob, 10_000)
""",
        budget=512 * MiB,
    ),
    # CP1 (the capacity family's largest): the low-rank memory at m = 512, d = 2048, its 10 seeds and the N grid
    # around N* = 25973 (up to 44153 tokens), n_eval = 2048. One seed at a time needs E and U (N, d) float32 =
    # 2 x 44153 x 2048 x 4 B = 690 MiB, V (N, m) 86 MiB: about 0.8 GiB, budget 1.5 GiB. impl.capacity.lowrank_accuracy
    # runs the seeds in groups that fit its max_bytes (default impl.capacity.MAX_BYTES = 1 GiB: one seed here;
    # measured 832 MiB with all 10 seeds, 216 s); so 2 seeds here, two groups (the seeds now only multiply the
    # time). Before, it held every seed's tables at once, (10, 44153, 2048) float32 = 3.4 GiB each for E and U:
    # 7.6 GiB with V. (CP2's mlp_accuracy, which held phi (S, N, m), groups its seeds likewise.)
    "capacity": dict(
        imports="from impl import capacity as ic\nfrom theory import capacity as tc",
        run="""
n = tc.capacity("lowrank", 512, 2048, 0.9, eta=0.5)
Ns = [int(x) for x in np.unique(np.round(np.geomspace(n / 1.7, n * 1.7, 5)).astype(int))]
ic.lowrank_accuracy(Ns, 512, 2048, tuple(range(2)), n_eval=2048)
""",
        budget=3 * GiB // 2,
    ),
    # TF2 (the transformer family's largest): one training step of the 2-layer birth model at the full tier's T = 256,
    # d = 256, batch 512, its 5 seeds (Shakespeare, N = 65). Per layer a step keeps (S, B, T, T) attention scores and
    # (S, B, T, d) hidden states for the backward pass, 5 x 512 x 256 x 256 x 4 B = 640 MiB each for the whole batch
    # (3944 MiB measured in one piece). impl.birth.train_birth accumulates the gradient over chunks of the batch under
    # max_bytes (default 256 MiB: 12 sequences per seed here; measured 332 MiB); budget 1 GiB.
    "transformer": dict(
        imports="from impl.birth import BirthTask, init_birth, train_birth",
        run="""
task = BirthTask(source="shakespeare", T=256, K=5)
m = init_birth(task.N, 256, 256, tuple(range(5)), layers=2)
train_birth(m, task, steps=1, batch=512, lr=0.03, eval_every=1, eval_batch=8, progress=False)
""",
        budget=GiB,
    ),
    # FR1 (the factual family's largest): one Adam step of the (S, R, A, d) = (64, 64, 4, 64) models on the ray
    # k in 1/16 .. 4 (10 sizes, H up to 128 heads, MLP width up to 256), its 8 seeds, every S R = 4096 prompt.
    # 1 step here (the full tier: 1500; the steps only multiply the time). impl.factual.train_transformers trains the
    # 80 models in groups under max_bytes (default impl.factual.TRAIN_MAX_BYTES = 1 GiB). With its default
    # pad='size' (since 2026-12-05) each of the 10 sizes is its own unpadded batch of the 8 seeds, 14 groups here,
    # measured 640 MiB grown; with pad='grid' (every model padded to the largest) 40 groups of 2 models, measured
    # 614-765 MiB. Before the groups, all 8 x 10 models ran as one padded batch: (B, n, T, 3 H d_h) =
    # 4096 x 80 x 3 x 1536 x 4 B = 5.6 GiB for the attention projections alone. Budget 2 GiB.
    "factual": dict(
        imports="from impl.factual import train_transformers\nimport test_factual",
        run="""
task, sizes = test_factual._fr1_sizes((64, 64, 4, 64), test_factual.FR1_GRID["full"]["ks"], 4)
train_transformers(task, sizes, tuple(range(8)), steps=1, lr=0.01, progress=False)
""",
        budget=2 * GiB,
    ),
}


@pytest.mark.parametrize("family", list(CASES))
def test_full_tier_configuration_stays_under_the_budget(family):
    c = CASES[family]
    assert c["budget"] <= 4 * GiB
    r, got = probe(c["imports"], c["run"], cap=c["budget"] + GiB)
    assert got is not None, r.stderr[-3000:]
    assert got["grown"] <= c["budget"], (
        f"{family}: peak grew by {got['grown'] / MiB:.0f} MiB over a budget of {c['budget'] / MiB:.0f} MiB"
    )
