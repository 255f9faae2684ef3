"""asv benchmarks of the associative-memory kernels (impl.memory, impl.embeddings, theory.memory)."""

import numpy as np
import torch

from impl.embeddings import Embedding
from impl.memory import aggregate_keys, recall

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


class Recall:
    """Exact population error of W = sum_z u_{f(z)} e_z^T (build + score), injective map (M = N)."""

    params = ([1024, 4096], [64, 256], DEVICES)
    param_names = ["N", "d", "device"]
    timeout = 300

    def setup(self, N, d, device):
        self.E = Embedding(N, d, (0,), stream="e")
        self.U = Embedding(N, d, (0,), stream="u")
        self.f = torch.arange(N)
        self.q = torch.ones(N)

    def time_recall(self, N, d, device):
        recall(self.q, self.f, self.E, self.U, device=device)

    def peakmem_recall(self, N, d, device):
        recall(self.q, self.f, self.E, self.U, device=device)


class RecallZipfSchemes:
    """Population error of 4 weightings at once, Zipf tokens, few outputs (the scaling-law workload)."""

    params = ([10_000, 100_000], [128, 1024])
    param_names = ["N", "d"]
    timeout = 300

    def setup(self, N, d):
        x = np.arange(1, N + 1, dtype=float)
        p = x**-2.0
        p /= p.sum()
        self.p = torch.as_tensor(p)
        self.q = torch.stack([self.p, (torch.arange(N) < d // 8).double(), torch.ones(N), self.p.sqrt()])
        self.E = Embedding(N, d, (0, 1), stream="e")
        self.U = Embedding(5, d, (0, 1), stream="u")
        self.f = torch.arange(N) % 5

    def time_recall_schemes(self, N, d):
        recall(self.q, self.f, self.E, self.U, self.p)

    def peakmem_recall_schemes(self, N, d):
        recall(self.q, self.f, self.E, self.U, self.p)


class Embeddings:
    params = ([4096, 65536], [256, 1024])
    param_names = ["n", "d"]

    def time_generate(self, n, d):
        Embedding(n, d, (0,)).full()


class AggregateKeys:
    params = ([10_000, 100_000], [256])
    param_names = ["N", "d"]

    def setup(self, N, d):
        self.E = Embedding(N, d, (0,), stream="e")
        self.f = torch.arange(N) % 5

    def time_aggregate(self, N, d):
        aggregate_keys(torch.ones(N), self.f, self.E, 5)


class GaussianTheory:
    params = ([64, 256],)
    param_names = ["d"]

    def time_capacity_threshold(self, d):
        from theory.memory import capacity_threshold

        capacity_threshold(d, "injective")
