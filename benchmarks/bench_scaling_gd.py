"""asv benchmarks of the scaling-law samplers/weights and of the full-batch GD trajectory (impl.scaling, impl.gd)."""

import numpy as np

from impl.gd import random_problem, run_gd, two_token_problem
from impl.sampling import zipf_probs
from impl.scaling import prefix_counts, scheme_weights


class SchemeWeights:
    params = ([10_000, 100_000],)
    param_names = ["N"]

    def setup(self, N):
        self.p = zipf_probs(N, 2.0)
        self.counts = prefix_counts(self.p, [1000, 100_000], (0, 1, 2, 3))

    def time_prefix_counts(self, N):
        prefix_counts(self.p, [1000, 100_000], (0, 1, 2, 3))

    def time_all_schemes(self, N):
        for s in ("p", "threshold", "ones", "seen", "seen_s", "top", "counts"):
            scheme_weights(s, self.counts, self.p, 256)


class GDTrajectory:
    """Full-batch GD on the population loss, batched over step sizes (loop over steps only)."""

    params = ([16, 256], [1000])
    param_names = ["batch", "steps"]

    def setup(self, batch, steps):
        etas = np.geomspace(0.1, 100, batch)
        self.two = two_token_problem([0.95], [0.75], etas)  # a product grid: 1 x 1 x batch problems
        x = np.arange(1, 31, dtype=float)
        p = x**-1.0 / (x**-1.0).sum()
        self.rand = random_problem(p, 4, 8, 1.0, tuple(range(batch)))

    def time_two_token(self, batch, steps):
        run_gd(self.two, steps, record=np.array([steps]))

    def time_random_problem(self, batch, steps):
        run_gd(self.rand, steps, record=np.array([steps]))

    def peakmem_random_problem(self, batch, steps):
        run_gd(self.rand, steps, record=np.array([steps]))
