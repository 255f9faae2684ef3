"""Timed comparisons of the trainers of impl.dynamics, for the performance page (benchmarks/perf_report.py).

Not asv benchmarks (asv collects ``time_*``/``peakmem_*``/``mem_*``/``track_*`` functions and classes with
such methods; this module defines none): each helper times two ways of computing the same memories in one
process and checks that they agree.
"""

from __future__ import annotations

import time

from impl.dynamics import reference_train_autograd, train

__all__ = ["benchmark_batch1_speedup", "benchmark_seed_batching"]


def benchmark_batch1_speedup(
    N: int = 100, M: int = 5, d: int = 100, T: int = 10_000, n_seeds: int = 10, lr: float = 1.0
) -> dict:
    """Batch-1 SGD: the batched trainer against the per-step autograd loop, same configuration, one process.

    Times :func:`impl.dynamics.train` (all seeds, one rate, the final W formed) against
    :func:`impl.dynamics.reference_train_autograd` run once per seed, and compares the memories:
    speedup = t_autograd_loop / t_batched, max_abs_W_difference = max_s max_ij |W_batched[s] - W_ref[s]|_ij.

    Parameters
    ----------
    N : int, default 100
        Number of tokens, >= 1.
    M : int, default 5
        Number of outputs (f*(x) = x mod M), >= 2.
    d : int, default 100
        Embedding dimension, >= 1.
    T : int, default 10_000
        Samples of the one pass (batch 1, so T steps), >= 1.
    n_seeds : int, default 10
        Seeds 0..n_seeds-1, >= 1.
    lr : float, default 1.0
        SGD learning rate, in (0, inf).

    Returns
    -------
    dict
        ``config`` (str), ``batched_s`` and ``autograd_loop_s`` (wall-clock seconds), ``speedup``
        (their ratio), ``target`` (20.0, the speedup asked for) and ``max_abs_W_difference`` (float).
    """
    seeds = tuple(range(n_seeds))
    t0 = time.perf_counter()
    res = train(N, M, d, T, [lr], seeds, checkpoints=1)
    W = res.W  # the memory itself, as the reference returns it (formed inside the timed region)
    t_fast = time.perf_counter() - t0
    t0 = time.perf_counter()
    ref = [reference_train_autograd(N, M, d, T, lr, s) for s in seeds]
    t_ref = time.perf_counter() - t0
    diff = max(float((W[i, 0] - ref[i]).abs().max()) for i in range(n_seeds))
    return {
        "config": f"N={N}, M={M}, d={d}, T={T}, {n_seeds} seeds, batch 1, lr {lr}",
        "batched_s": t_fast,
        "autograd_loop_s": t_ref,
        "speedup": t_ref / t_fast,
        "target": 20.0,
        "max_abs_W_difference": diff,
    }


def benchmark_seed_batching(
    N: int = 100, M: int = 5, d: int = 100, T: int = 10_000, n_seeds: int = 10, batch: int = 1
) -> dict:
    """A 10-seed learning-rate sweep (SGD, batch 1, 5 rates): all seeds in one call against one call per seed.

    Times one :func:`impl.dynamics.train` call over all seeds and the rates (0.1, 0.3, 1, 3, 10) against
    one call per seed (final W formed in both), and compares the memories:
    speedup = t_one_by_one / t_batched, max_abs_W_difference = max_s max |W_batched[s] - W_alone(s)|.

    Parameters
    ----------
    N : int, default 100
        Number of tokens, >= 1.
    M : int, default 5
        Number of outputs (f*(x) = x mod M), >= 2.
    d : int, default 100
        Embedding dimension, >= 1.
    T : int, default 10_000
        Samples of the one pass, >= 1 and a multiple of ``batch``.
    n_seeds : int, default 10
        Seeds 0..n_seeds-1, >= 1.
    batch : int, default 1
        Minibatch size, >= 1.

    Returns
    -------
    dict
        ``config`` (str), ``batched_s`` and ``one_by_one_s`` (wall-clock seconds), ``speedup`` (their
        ratio), ``target`` (5.0, the speedup asked for) and ``max_abs_W_difference`` (float).
    """
    seeds, lrs = tuple(range(n_seeds)), [0.1, 0.3, 1.0, 3.0, 10.0]
    t0 = time.perf_counter()
    a = train(N, M, d, T, lrs, seeds, batch=batch, checkpoints=1)
    W_all = a.W  # formed inside the timed region
    t_b = time.perf_counter() - t0
    t0 = time.perf_counter()
    b = [train(N, M, d, T, lrs, (s,), batch=batch, checkpoints=1) for s in seeds]
    W_one = [r.W for r in b]  # formed inside the timed region
    t_l = time.perf_counter() - t0
    diff = max(float((W_all[i] - W_one[i][0]).abs().max()) for i in range(n_seeds))
    return {
        "config": f"N={N}, M={M}, d={d}, T={T}, batch {batch}, SGD, 5 rates",
        "batched_s": t_b,
        "one_by_one_s": t_l,
        "speedup": t_l / t_b,
        "target": 5.0,
        "max_abs_W_difference": diff,
    }
