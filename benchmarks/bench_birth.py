"""asv benchmarks of the paper's model (impl.birth): SGD steps of the authors' simplified 2-layer transformer on
the Shakespeare bigram task, several seeds in one batch. The side-by-side comparison with the authors' code at
their sizes is in reports/performance.md, section transformer-birth (it needs their clone, so it is not an
asv benchmark)."""

import torch

from impl.birth import BirthTask, init_birth, train_birth

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


class BirthStep:
    """3 SGD steps (and the two evaluations of train_birth) of the 2-layer paper model, batch 32, 2 seeds."""

    params = ([64, 128], [64, 128], DEVICES)
    param_names = ["d", "T", "device"]
    timeout = 600

    def setup(self, d, T, device):
        self.task = BirthTask(T=T)
        self.model = init_birth(65, T, d, (0, 1), device=device)

    def time_train_3_steps(self, d, T, device):
        train_birth(self.model, self.task, steps=3, batch=32, eval_every=10, eval_batch=8)
