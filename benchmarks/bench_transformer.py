"""asv benchmarks of a transformer training step: the two-layer induction-head model of impl.transformer on
the bigram task, and the one-layer factual-recall models of impl.factual (a grid of sizes, each size its own
unpadded batch (``pad='size'``, the default) or all sizes padded to the grid's maxima in one batch ('grid'))."""

import torch

from impl.factual import FactTask, Sizes, train_transformers
from impl.transformer import BigramTask, init_model, train

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


class InductionHeadStep:
    """20 SGD steps of the 2-layer model (train W_KQ^1, W_KQ^2, W_OV^2), batch 32, sequences of 64, 3 seeds."""

    params = ([64, 128], DEVICES)
    param_names = ["d", "device"]
    timeout = 300

    def setup(self, d, device):
        self.task = BigramTask(N=64, T=64, K=3)
        self.model = init_model(64, 64, d, (0, 1, 2), device=device)

    def time_train_20_steps(self, d, device):
        train(self.model, self.task, steps=20, batch=32, lr=0.1, eval_every=20, eval_batch=32, progress=False)


class FactualStep:
    """20 full-batch Adam steps of 4 one-layer transformers of different sizes x 2 seeds (S = R = 16)."""

    params = (["size", "grid"], DEVICES)
    param_names = ["pad", "device"]
    timeout = 300

    def setup(self, pad, device):
        self.task = FactTask(S=16, R=16, D=8)
        self.sizes = Sizes(dims=(16, 32, 16, 32), heads=(2, 2, 4, 4), widths=(32, 32, 64, 64), d_head=8)

    def time_train_20_steps(self, pad, device):
        train_transformers(self.task, self.sizes, (0, 1), steps=20, pad=pad, device=device, progress=False)


class FactualFullGridStep:
    """3 full-batch Adam steps of one seed on the full tier's FR1 grid at (S, R, D, d) = (64, 32, 4, 32): 10 sizes,
    H d_h and m from k (S + R) and k S R / d, k = 1/16 .. 4 (checks/test_factual.py, FR1_GRID). 'grid' pads all 10
    to the largest (96 heads of 4, m = 256); 'size' trains each unpadded (measured on one thread, 6 steps: 1.3
    against 7.1 s)."""

    params = (["size", "grid"], DEVICES)
    param_names = ["pad", "device"]
    timeout = 300

    def setup(self, pad, device):
        self.task = FactTask(S=64, R=32, D=4, T=3)
        heads = (2, 3, 6, 8, 12, 17, 24, 34, 48, 96)
        widths = (4, 8, 16, 23, 32, 45, 64, 91, 128, 256)
        self.sizes = Sizes(dims=[32] * 10, heads=heads, widths=widths, d_head=4)

    def time_train_3_steps(self, pad, device):
        train_transformers(self.task, self.sizes, (7,), steps=3, lr=0.01, pad=pad, device=device, progress=False)
