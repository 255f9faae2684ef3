"""asv benchmarks of the optimisation-dynamics kernels: F over a range of n (theory.dynamics) and the batched
trainers of impl.dynamics (batch-1 SGD in coefficient form, batched Adam with layer norm)."""

import numpy as np
import torch

from impl.dynamics import train
from theory.dynamics import F

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


class FOverN:
    """F(n) = f^n(0) for 10^4 counts spread over [0, n_max] (exact iteration to 2 10^4, then the ODE)."""

    params = ([10**4, 10**7], [0.1, 1000.0])
    param_names = ["n_max", "gamma"]

    def setup(self, n_max, gamma):
        self.n = np.unique(np.round(np.geomspace(1, n_max, 10**4)))

    def time_F(self, n_max, gamma):
        F(self.n, gamma, 5)


class TrainBatch1:
    """Batch-1 SGD, N = 100, M = 5, T = 10^4, 10 seeds x 5 rates in one call (the OD configuration)."""

    params = ([100, 1000], DEVICES)
    param_names = ["d", "device"]
    timeout = 300

    def time_sgd_batch1(self, d, device):
        train(100, 5, d, 10_000, [0.1, 0.3, 1.0, 3.0, 10.0], tuple(range(10)), checkpoints=1, device=device)

    def peakmem_sgd_batch1(self, d, device):
        train(100, 5, d, 10_000, [0.1, 0.3, 1.0, 3.0, 10.0], tuple(range(10)), checkpoints=1, device=device)


class TrainAdamLayerNorm:
    """The explicit (S, L, d, d) update: Adam with betas (0, 0) and layer norm, batch 16, 3 seeds x 13 rates
    (one configuration of the optimiser grid), T = 16384."""

    params = ([20, 100], DEVICES)
    param_names = ["d", "device"]
    timeout = 300

    def time_adam_layer_norm(self, d, device):
        train(
            100,
            5,
            d,
            16_384,
            np.geomspace(1e-3, 1e3, 13) / d,
            (0, 1, 2),
            batch=16,
            optimizer="adam",
            betas=(0.0, 0.0),
            layer_norm=True,
            checkpoints=1,
            device=device,
        )


class AuthorsGridCell:
    """One cell of the authors' grid (impl.authors_grid): 10 seeds x 4 rates at once, batch 16, T = 1600 (100 steps
    of the 6,400 of a full run), each model with Adam (0, 0) and the L2 normalisation."""

    params = (["matrix", "exponential", "learnable"], [100, 500])
    param_names = ["model", "d"]
    timeout = 300

    def setup(self, model, d):
        from impl.authors_grid import draw_run

        self.draws = [draw_run(model, 100, 5, d, 1600, s) for s in range(42, 52)]

    def time_cell(self, model, d):
        from impl.authors_grid import train_grid_model

        train_grid_model(
            model,
            100,
            5,
            d,
            1600,
            [0.1, 1.0, 10.0, 100.0],
            list(range(42, 52)),
            batch=16,
            optimizer="adam",
            norm="l2",
            draws=self.draws,
        )
