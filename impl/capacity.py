"""Memories beyond one d x d matrix (CP1-CP4): construction and recall accuracy, batched over seeds.

Every memory stores the injective map f*(z) = z (M = N outputs; with i.i.d. embeddings any injective map
is equivalent to the identity).  Recall of token z: argmax_y score(z, y) == z, ties counted as errors.

lowrank (CP1)  score = u_y^T W1^T W2 e_z, W1 (m x d) i.i.d. N(0, 1/m), W2 one population gradient step
               from 0:  W2 = (eta/N) sum_z (W1 u_z - vbar) e_z^T,  vbar = mean_k W1 u_k.
mlp (CP2)      score = u_y^T W1 phi(x_z), phi(x) = sigma(W2^T x)/sqrt(m), W2 (d x m) i.i.d. N(0, 1),
               x_z = e_z/||e_z|| (unit sphere), W1 one population gradient step from 0:
               W1 = (eta/N) sum_z (u_z - ubar) phi(x_z)^T.
multi (CP3)    the mlp on x_{(z1, z2)} = (e_{z1} + e~_{z2})/||e_{z1} + e~_{z2}||, pairs in [n]^2, N = n^2.
relu (CP4)     score = sum_{x'} (u_y^T u_{x'}) ReLU(e_{x'}^T e_x - eta).

The one-step matrices are the exact negative gradients (times eta) of the population cross-entropy at
0, where the softmax is uniform: grad = (1/N) sum_z sum_k (1/M - 1{k = z}) (backward vector of k) (input of z)^T.

Accuracy is evaluated on the first ``n_eval`` tokens (all when None); the tokens are exchangeable (i.i.d.
embeddings), so this is an unbiased estimate of the population accuracy, exact when n_eval >= N.
Costs per seed and size: lowrank N d m + n_eval N m; mlp 2 N d m + n_eval N d; relu 3 n_eval N d.
The accuracy functions take one size N or a sweep of sizes that share the embedding tables (the memory of
size N uses the first N rows, exactly as a table drawn with that N: rows do not depend on the length).

Memory: the accuracy functions run the seeds in groups whose working memory (the per-seed tables and
temporaries, estimated from their shapes) stays under ``max_bytes`` (default :data:`MAX_BYTES`, 1 GiB).
Every seed draws its own generators and the row chunks are sized from the call's total number of seeds, so
the per-seed results are bit-identical whatever the grouping.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from amemory.validate import (
    check_alloc,
    check_choice,
    check_float,
    check_int,
    check_seeds,
    check_tensor,
    memory_bytes,
    resolve_device,
    resolve_dtype,
)

from .embeddings import Embedding

ACTIVATIONS = ("odd3", "hermite3", "hermite2")
#: elements of the largest temporary a chunk may create
CHUNK_ELEMENTS = 1 << 24
#: default working-memory budget in bytes of one seed group of the accuracy functions (``max_bytes=None``):
#: 1 GiB worth of per-seed tables and temporaries; with the default, a seed that alone needs more runs alone
MAX_BYTES = 1 << 30


def activation(name: str, t: torch.Tensor) -> torch.Tensor:
    """sigma(t), normalised to E sigma(g)^2 = 1 for g ~ N(0, 1).

    odd3: (sign t - sqrt(2/pi) t)/sqrt(1 - 2/pi) (Hermite degrees 3, 5, ...); hermite3: (t^3 - 3t)/sqrt 6;
    hermite2: (t^2 - 1)/sqrt 2.

    Parameters
    ----------
    name : str
        'odd3', 'hermite3' or 'hermite2'.
    t : torch.Tensor
        Pre-activations, any shape.

    Returns
    -------
    torch.Tensor
        sigma(t), same shape as ``t``.
    """
    check_choice("name", name, ACTIVATIONS)
    if not torch.is_tensor(t):
        raise ValueError("t must be a tensor")
    check_tensor("t", t, kind="any", allow_empty=True)
    return _activation(name, t)


def _activation(name: str, t: torch.Tensor) -> torch.Tensor:
    if name == "odd3":
        return (torch.sign(t) - math.sqrt(2 / math.pi) * t) / math.sqrt(1 - 2 / math.pi)
    if name == "hermite3":
        return (t**3 - 3 * t) / math.sqrt(6.0)
    return (t**2 - 1) / math.sqrt(2.0)


def _rows(per_row: int, chunk: int | None) -> int:
    if chunk is not None:
        return check_int("chunk", chunk, 1)
    return max(1, CHUNK_ELEMENTS // max(per_row, 1))


def _n_eval(n_eval, N: int) -> int:
    if n_eval is None:
        return N
    return min(check_int("n_eval", n_eval, 1), N)


def recall_correct(H: torch.Tensor, V: torch.Tensor, *, offset: int = 0, chunk: int | None = None) -> torch.Tensor:
    """correct[s, i] = (argmax_y H[s, i] . V[s, y] == offset + i) with ties counted as errors.

    H : (S, n, k) query codes of tokens offset..offset+n-1; V : (S, M, k) output codes.  Returns bool (S, n).
    Precisely, correct[s, i] = 1{H[s, i] . V[s, offset + i] > max_{y != offset + i} H[s, i] . V[s, y]},
    scored in chunks of rows.

    Parameters
    ----------
    H : torch.Tensor
        Query codes, shape (S, n, k).
    V : torch.Tensor
        Output codes, shape (S, M, k), with M >= offset + n.
    offset : int, default 0
        Index of the first query's target, >= 0 (offset + n <= M).
    chunk : int or None, default None
        Query rows scored per chunk, >= 1 (None: sized so that a temporary holds at most CHUNK_ELEMENTS elements).

    Returns
    -------
    torch.Tensor
        bool tensor (S, n).
    """
    if (
        not (torch.is_tensor(H) and torch.is_tensor(V))
        or H.ndim != 3
        or V.ndim != 3
        or H.shape[0] != V.shape[0]
        or H.shape[2] != V.shape[2]
    ):
        raise ValueError("H must be (S, n, k) and V (S, M, k) tensors with the same S and k")
    check_tensor("H", H, kind="any")
    check_tensor("V", V, kind="any")
    offset = check_int("offset", offset, 0)
    S, n, _ = H.shape
    M = V.shape[1]
    if offset + n > M:
        raise ValueError(f"offset + n must be <= M (targets are outputs offset..offset+n-1 < {M})")
    out = torch.empty(S, n, dtype=torch.bool, device=H.device)
    c = _rows(S * M, chunk)
    Vt = V.transpose(1, 2)
    for a in range(0, n, c):
        b = min(a + c, n)
        out[:, a:b] = _correct_rows(H[:, a:b] @ Vt, offset + a)
    return out


def _correct_rows(scores: torch.Tensor, first: int) -> torch.Tensor:
    """scores (S, c, M) of targets first..first+c-1: true score > best other score."""
    _S, c, M = scores.shape
    idx = torch.arange(first, first + c, device=scores.device)
    true = scores[:, torch.arange(c, device=scores.device), idx]  # (S, c)
    other = scores.clone()
    other[:, torch.arange(c, device=scores.device), idx] = float("-inf")
    best = other.amax(-1) if M > 1 else torch.full_like(true, float("-inf"))
    return true > best


def _common(N, d, seeds, device, dtype, alloc_seeds: int | None = None):
    """Checked N, d, seeds, device, dtype; the tables of ``alloc_seeds`` seeds (default all) must fit in memory."""
    N = check_int("N", N, 2)
    d = check_int("d", d, 2)
    seeds = check_seeds(seeds)
    dev, dt = resolve_device(device), resolve_dtype(dtype)
    S = len(seeds) if alloc_seeds is None else alloc_seeds
    check_alloc("N, d", 2.0 * (torch.finfo(dt).bits // 8) * S * N * d)  # the tables e, u (S, N, d)
    return N, d, seeds, dev, dt


def _check_m(m, N: int, d: int, seeds, dt, alloc_seeds: int | None = None) -> int:
    m = check_int("m", m, 1)
    S = len(seeds) if alloc_seeds is None else alloc_seeds
    check_alloc("m", (torch.finfo(dt).bits // 8) * S * m * (2.0 * d + N))  # W1, W2 (S, m, d), (S, N, m)
    return m


def _check_max_bytes(max_bytes) -> int | None:
    if max_bytes is None:
        return None
    return check_int("max_bytes", max_bytes, 1)


def _seed_groups(seeds: tuple, per_seed: int, max_bytes: int | None, what: str, names: str) -> list[tuple]:
    """Split ``seeds`` into consecutive groups of at most max(1, budget // per_seed) seeds.

    budget = ``max_bytes`` (ValueError up front when one seed needs more), or :data:`MAX_BYTES` when None (then a
    seed that alone needs more runs alone); never more than this machine's memory (one seed over it: ValueError
    naming ``names``, the size parameters).  ``what`` describes the sizes in the message ("lowrank_accuracy at
    N = ..., ...").
    """
    check_alloc(names, per_seed)
    if max_bytes is None:
        budget = MAX_BYTES
    else:
        if per_seed > max_bytes:
            raise ValueError(
                f"max_bytes: one seed of {what} needs {per_seed} bytes ({per_seed / 2**30:.3g} GiB) of working memory, "
                f"more than max_bytes = {max_bytes} bytes ({max_bytes / 2**30:.3g} GiB); give max_bytes >= {per_seed} "
                "or reduce the sizes"
            )
        budget = max_bytes
    g = max(1, min(len(seeds), min(budget, memory_bytes()) // per_seed))
    return [seeds[a : a + g] for a in range(0, len(seeds), g)]


def _score_bytes(Ns: list[int], n_eval, itemsize: int, rows, per_row) -> int:
    """Per-seed bytes of the scoring temporaries: the max over the sizes n of min(rows(n), n_eval) query rows of
    per_row(n) elements each (rows(n): the row chunk of size n, per_row(n): elements a row holds at once)."""
    return itemsize * max(min(rows(n), _n_eval(n_eval, n)) * per_row(n) for n in Ns)


def _sizes(N, name: str = "N") -> tuple[list[int], bool]:
    """N as an int (single) or a non-empty 1-D sequence of ints >= 2: (list, was_scalar)."""
    if isinstance(N, (list, tuple, np.ndarray)) or (torch.is_tensor(N) and N.ndim == 1):
        Ns = [check_int(name, x.item() if hasattr(x, "item") else x, 2) for x in N]
        if not Ns:
            raise ValueError(f"{name} must be an integer >= 2 or a non-empty sequence of them")
        return Ns, False
    return [check_int(name, N, 2)], True


def _shape(out: torch.Tensor, scalar: bool) -> torch.Tensor:
    return out[0] if scalar else out


# ----------------------------------------------------------------------------- CP1: low rank
def lowrank_weights(N: int, m: int, d: int, seeds, *, eta: float = 1.0, device=None, dtype=None):
    """CP1 weights: the random W1 and the one-step W2 of the low-rank memory.

    W1 (S, m, d) with i.i.d. N(0, 1/m) entries and the one-step W2 = (eta/N) sum_z (W1 u_z - vbar) e_z^T,
    streamed over the N tokens in chunks.

    vbar = (1/N) sum_k W1 u_k; the score of the CP1 memory is u_y^T W1^T W2 e_z.

    Parameters
    ----------
    N : int
        Number of tokens (f* = identity, M = N), N >= 2.
    m : int
        Inner (low-rank) dimension, m >= 1.
    d : int
        Embedding dimension, d >= 2.
    seeds : int or sequence of int
        One seed or a non-empty sequence of seeds, each in [0, 2**62].
    eta : float, default 1.0
        Step size, in (0, inf).
    device : str, torch.device or None, default None
        'cpu' (also for None), 'cuda', 'cuda:k' or 'auto'.
    dtype : torch.dtype, str or None, default None
        torch.float32 (also for None) or torch.float64, or their names.

    Returns
    -------
    W1 : torch.Tensor
        Shape (S, m, d).
    W2 : torch.Tensor
        Shape (S, m, d).
    """
    N, d, seeds, dev, dt = _common(N, d, seeds, device, dtype)
    m = _check_m(m, N, d, seeds, dt)
    eta = check_float("eta", eta, 0.0, lo_open=True)
    W1 = Embedding(m, d, seeds, "gaussian", "w").full(device=dev, dtype=dt) * math.sqrt(d / m)
    E = Embedding(N, d, seeds, "gaussian", "e")
    U = Embedding(N, d, seeds, "gaussian", "u")
    W2 = torch.zeros(len(seeds), m, d, device=dev, dtype=dt)
    vbar = torch.zeros(len(seeds), m, device=dev, dtype=dt)
    esum = torch.zeros(len(seeds), d, device=dev, dtype=dt)
    c = _rows(len(seeds) * (2 * d + m), None)
    for a in range(0, N, c):
        b = min(a + c, N)
        Vc = U.rows(a, b, device=dev, dtype=dt) @ W1.transpose(1, 2)  # (S, c, m)
        Ec = E.rows(a, b, device=dev, dtype=dt)
        W2 += Vc.transpose(1, 2) @ Ec
        vbar += Vc.sum(1)
        esum += Ec.sum(1)
    W2 = (W2 - (vbar / N).unsqueeze(-1) * esum.unsqueeze(1)) * (eta / N)
    return W1, W2


def _one_step(B: torch.Tensor, X: torch.Tensor, eta: float) -> torch.Tensor:
    """(eta/N) sum_z (b_z - bbar) x_z^T for backward vectors B (S, N, k) and inputs X (S, N, l): (S, k, l)."""
    N = B.shape[1]
    return (B - B.mean(1, keepdim=True)).transpose(1, 2) @ X * (eta / N)


def lowrank_accuracy(
    N,
    m: int,
    d: int,
    seeds,
    *,
    n_eval: int | None = None,
    eta: float = 1.0,
    chunk: int | None = None,
    max_bytes: int | None = None,
    device=None,
    dtype=None,
) -> torch.Tensor:
    """CP1 recall accuracy per seed: score(z, y) = (W1 u_y)^T (W2 e_z).

    W2 = (eta/N) sum_z (W1 u_z - vbar) e_z^T (see :func:`lowrank_weights`); accuracy = (1/n_eval)
    sum_{z < n_eval} 1{argmax_y score(z, y) = z} (ties are errors).

    N : an int (returns shape (S,)) or a sequence of sizes (returns (len(N), S)); the sizes share the
    embedding tables (memory of size N uses the first N rows), so a sweep costs one draw.

    Parameters
    ----------
    N : int or sequence of int
        Number of tokens (each >= 2), or a non-empty sequence of sizes.
    m : int
        Inner (low-rank) dimension, m >= 1.
    d : int
        Embedding dimension, d >= 2.
    seeds : int or sequence of int
        One seed or a non-empty sequence of seeds, each in [0, 2**62].
    n_eval : int or None, default None
        Evaluate on the first min(n_eval, N) tokens, n_eval >= 1 (None: all N).
    eta : float, default 1.0
        Step size, in (0, inf) (the argmax does not depend on it).
    chunk : int or None, default None
        Query rows scored per chunk, >= 1 (None: sized so that a temporary holds at most CHUNK_ELEMENTS elements).
    max_bytes : int or None, default None
        Working-memory budget in bytes, an integer >= 1: the seeds run in groups whose tables and temporaries
        (estimated from their shapes) fit in it, each seed's result unchanged; ValueError up front when one seed
        alone needs more.  None: :data:`MAX_BYTES` (1 GiB), a seed that alone needs more running alone.
    device : str, torch.device or None, default None
        'cpu' (also for None), 'cuda', 'cuda:k' or 'auto'.
    dtype : torch.dtype, str or None, default None
        torch.float32 (also for None) or torch.float64, or their names.

    Returns
    -------
    torch.Tensor
        float64 accuracies in [0, 1]: shape (S,) for one size, (len(N), S) for a sequence of sizes.
    """
    Ns, scalar = _sizes(N)
    max_bytes = _check_max_bytes(max_bytes)
    n_max, d, seeds, dev, dt = _common(max(Ns), d, seeds, device, dtype, alloc_seeds=1)
    m = _check_m(m, n_max, d, seeds, dt, alloc_seeds=1)
    eta = check_float("eta", eta, 0.0, lo_open=True)
    S, it = len(seeds), torch.finfo(dt).bits // 8
    per_seed = _lowrank_seed_bytes(Ns, m, d, S, n_eval, chunk, it)
    what = f"lowrank_accuracy at N = {n_max}, m = {m}, d = {d}, n_eval = {_n_eval(n_eval, n_max)}, {dt}"
    groups = _seed_groups(seeds, per_seed, max_bytes, what, "N, m, d")
    out = torch.cat([_lowrank_group(Ns, m, d, g, S, n_eval, eta, chunk, dev, dt) for g in groups], dim=1)
    return _shape(out, scalar)


def _lowrank_seed_bytes(Ns: list[int], m: int, d: int, S: int, n_eval, chunk, itemsize: int) -> int:
    """Bytes one seed of :func:`lowrank_accuracy` holds at once: E and U (N, d), V and its centred copy (N, m),
    W1 and W2 with its scaled copy (m, d), H (n_eval, m), and the scoring temporaries."""
    n = max(Ns)
    tables = 2 * n * d + 2 * n * m + 3 * m * d + _n_eval(n_eval, n) * m
    return itemsize * tables + _score_bytes(Ns, n_eval, itemsize, lambda k: _rows(S * k, chunk), lambda k: 2 * k)


def _lowrank_group(Ns: list[int], m: int, d: int, seeds, S: int, n_eval, eta: float, chunk, dev, dt) -> torch.Tensor:
    """Accuracies (len(Ns), len(seeds)) of one seed group; S, the call's number of seeds, sizes the row chunks
    (as when every seed runs at once, so the results do not depend on the grouping)."""
    n_max = max(Ns)
    W1 = Embedding(m, d, seeds, "gaussian", "w").full(device=dev, dtype=dt) * math.sqrt(d / m)
    E = Embedding(n_max, d, seeds, "gaussian", "e").full(device=dev, dtype=dt)
    V = Embedding(n_max, d, seeds, "gaussian", "u").full(device=dev, dtype=dt) @ W1.transpose(1, 2)  # (S, N, m)
    out = torch.empty(len(Ns), len(seeds), dtype=torch.float64, device=dev)
    for i, n_tok in enumerate(Ns):
        W2 = _one_step(V[:, :n_tok], E[:, :n_tok], eta)  # (S, m, d)
        H = E[:, : _n_eval(n_eval, n_tok)] @ W2.transpose(1, 2)
        out[i] = recall_correct(H, V[:, :n_tok], chunk=_rows(S * n_tok, chunk)).to(torch.float64).mean(1)
    return out


# ----------------------------------------------------------------------------- CP2 / CP3: MLP
def _pair_inputs(n: int, d: int, seeds, dev, dt) -> torch.Tensor:
    """x_{(z1, z2)} = (e_{z1} + e~_{z2}) / ||.||, pairs in row-major order (index z1 n + z2): (S, n^2, d)."""
    E1 = Embedding(n, d, seeds, "gaussian", "e").full(device=dev, dtype=dt)
    E2 = Embedding(n, d, seeds, "gaussian", "e2").full(device=dev, dtype=dt)
    x = (E1[:, :, None, :] + E2[:, None, :, :]).reshape(len(seeds), n * n, d)
    return x / x.norm(dim=-1, keepdim=True).clamp_min(torch.finfo(dt).tiny)


def _inputs(N: int, d: int, seeds, pairs: int, dev, dt) -> torch.Tensor:
    if pairs:
        return _pair_inputs(pairs, d, seeds, dev, dt)
    return Embedding(N, d, seeds, "sphere", "e").full(device=dev, dtype=dt)


def _mlp_check(N, m, d, seeds, act, pairs, eta, device, dtype, alloc_seeds: int | None = None):
    N, d, seeds, dev, dt = _common(N, d, seeds, device, dtype, alloc_seeds)
    m = _check_m(m, N, d, seeds, dt, alloc_seeds)
    eta = check_float("eta", eta, 0.0, lo_open=True)
    check_choice("activation", act, ACTIVATIONS)
    pairs = check_int("pairs", pairs, 0)
    if pairs and pairs * pairs != N:
        raise ValueError(f"pairs must be 0 or sqrt(N) (N = pairs^2), got pairs={pairs}, N={N}")
    return N, m, d, seeds, eta, pairs, dev, dt


def _hidden_weights(m: int, d: int, seeds, dev, dt) -> torch.Tensor:
    """W2 as (S, m, d): rows w_j with i.i.d. N(0, 1) entries (so w_j^T x ~ N(0, 1) for unit x)."""
    return Embedding(m, d, seeds, "gaussian", "w").full(device=dev, dtype=dt) * math.sqrt(d)


def mlp_weights(
    N: int,
    m: int,
    d: int,
    seeds,
    *,
    activation: str = "odd3",
    pairs: int = 0,
    eta: float = 1.0,
    device=None,
    dtype=None,
):
    """W1 (S, d, m) (one step: (eta/N) sum_z (u_z - ubar) phi_z^T) and W2 (S, m, d) of the kernel MLP memory.

    phi_z = sigma(W2 x_z)/sqrt(m) (:func:`mlp_features`), ubar = (1/N) sum_k u_k, W2 with i.i.d. N(0, 1) entries.

    pairs = 0: inputs are the N sphere embeddings; pairs = n: inputs are the N = n^2 normalised sums.

    Parameters
    ----------
    N : int
        Number of tokens (f* = identity), N >= 2 (N = pairs^2 when pairs > 0).
    m : int
        Hidden width, m >= 1.
    d : int
        Embedding dimension, d >= 2.
    seeds : int or sequence of int
        One seed or a non-empty sequence of seeds, each in [0, 2**62].
    activation : str, default 'odd3'
        'odd3', 'hermite3' or 'hermite2' (see :func:`activation`).
    pairs : int, default 0
        0, or n >= 1 with N = n^2 (inputs (e_{z1} + e~_{z2}) / ||.||).
    eta : float, default 1.0
        Step size, in (0, inf).
    device : str, torch.device or None, default None
        'cpu' (also for None), 'cuda', 'cuda:k' or 'auto'.
    dtype : torch.dtype, str or None, default None
        torch.float32 (also for None) or torch.float64, or their names.

    Returns
    -------
    W1 : torch.Tensor
        Shape (S, d, m).
    W2 : torch.Tensor
        Shape (S, m, d).
    """
    N, m, d, seeds, eta, pairs, dev, dt = _mlp_check(N, m, d, seeds, activation, pairs, eta, device, dtype)
    W2 = _hidden_weights(m, d, seeds, dev, dt)
    phi = _mlp_features(_inputs(N, d, seeds, pairs, dev, dt), W2, activation)
    U = Embedding(N, d, seeds, "gaussian", "u").full(device=dev, dtype=dt)
    return _one_step(U, phi, eta), W2


def mlp_features(x: torch.Tensor, W2: torch.Tensor, activation_name: str = "odd3") -> torch.Tensor:
    """phi(x) = sigma(W2 x)/sqrt(m) for x (S, n, d), W2 (S, m, d): shape (S, n, m).

    Parameters
    ----------
    x : torch.Tensor
        Inputs, shape (S, n, d).
    W2 : torch.Tensor
        Hidden weights, shape (S, m, d) (same d).
    activation_name : str, default 'odd3'
        'odd3', 'hermite3' or 'hermite2' (see :func:`activation`).

    Returns
    -------
    torch.Tensor
        Shape (S, n, m).
    """
    check_choice("activation_name", activation_name, ACTIVATIONS)
    if not (torch.is_tensor(x) and torch.is_tensor(W2)) or x.ndim != 3 or W2.ndim != 3 or x.shape[2] != W2.shape[2]:
        raise ValueError("x must be (S, n, d) and W2 (S, m, d) tensors with the same d")
    check_tensor("x", x, kind="any")
    check_tensor("W2", W2, kind="any")
    return _mlp_features(x, W2, activation_name)


def _mlp_features(x: torch.Tensor, W2: torch.Tensor, activation_name: str) -> torch.Tensor:
    return _activation(activation_name, x @ W2.transpose(1, 2)) / math.sqrt(W2.shape[1])


def mlp_accuracy(
    N,
    m: int,
    d: int,
    seeds,
    *,
    activation: str = "odd3",
    pairs: int = 0,
    n_eval: int | None = None,
    eta: float = 1.0,
    chunk: int | None = None,
    max_bytes: int | None = None,
    device=None,
    dtype=None,
) -> torch.Tensor:
    """CP2 recall accuracy per seed: score(z, y) = u_y^T W1 phi(x_z), x_z the unit-sphere embeddings.

    W1 = (eta/N) sum_z (u_z - ubar) phi(x_z)^T (see :func:`mlp_weights`); accuracy = (1/n_eval)
    sum_{z < n_eval} 1{argmax_y score(z, y) = z} (ties are errors).

    N : an int (shape (S,)) or a sequence of sizes sharing the tables (shape (len(N), S)).
    pairs = n (CP3, N = n^2 only): inputs are the normalised sums of :func:`multi_accuracy`.

    Parameters
    ----------
    N : int or sequence of int
        Number of tokens (each >= 2), or a non-empty sequence of sizes (only with pairs = 0).
    m : int
        Hidden width, m >= 1.
    d : int
        Embedding dimension, d >= 2.
    seeds : int or sequence of int
        One seed or a non-empty sequence of seeds, each in [0, 2**62].
    activation : str, default 'odd3'
        'odd3', 'hermite3' or 'hermite2'.
    pairs : int, default 0
        0, or n >= 1 with a single N = n^2.
    n_eval : int or None, default None
        Evaluate on the first min(n_eval, N) tokens, n_eval >= 1 (None: all N).
    eta : float, default 1.0
        Step size, in (0, inf) (the argmax does not depend on it).
    chunk : int or None, default None
        Query rows scored per chunk, >= 1 (None: sized so that a temporary holds at most CHUNK_ELEMENTS elements).
    max_bytes : int or None, default None
        Working-memory budget in bytes, an integer >= 1: the seeds run in groups whose tables and temporaries
        (estimated from their shapes) fit in it, each seed's result unchanged; ValueError up front when one seed
        alone needs more.  None: :data:`MAX_BYTES` (1 GiB), a seed that alone needs more running alone.
    device : str, torch.device or None, default None
        'cpu' (also for None), 'cuda', 'cuda:k' or 'auto'.
    dtype : torch.dtype, str or None, default None
        torch.float32 (also for None) or torch.float64, or their names.

    Returns
    -------
    torch.Tensor
        float64 accuracies in [0, 1]: shape (S,) for one size, (len(N), S) for a sequence of sizes.
    """
    Ns, scalar = _sizes(N)
    if pairs:
        if len(Ns) != 1:
            raise ValueError("pairs needs a single N = pairs^2; use multi_accuracy for a sweep")
    max_bytes = _check_max_bytes(max_bytes)
    n_max, m, d, seeds, eta, pairs, dev, dt = _mlp_check(
        max(Ns), m, d, seeds, activation, pairs, eta, device, dtype, alloc_seeds=1
    )
    S, it = len(seeds), torch.finfo(dt).bits // 8
    per_seed = _mlp_seed_bytes(Ns, m, d, S, n_eval, chunk, it)
    what = f"mlp_accuracy at N = {n_max}, m = {m}, d = {d}, n_eval = {_n_eval(n_eval, n_max)}, {dt}"
    groups = _seed_groups(seeds, per_seed, max_bytes, what, "N, m, d")
    out = torch.cat([_mlp_group(Ns, m, d, g, S, activation, pairs, n_eval, eta, chunk, dev, dt) for g in groups], dim=1)
    return _shape(out, scalar)


def _mlp_seed_bytes(Ns: list[int], m: int, d: int, S: int, n_eval, chunk, itemsize: int) -> int:
    """Bytes one seed of :func:`mlp_accuracy` holds at once (an upper bound), the larger of its two phases plus the
    scoring temporaries: the features (the inputs (N, d), for pairs the sums and their normalised copy; the
    pre-activations (N, m) and the activation's temporaries, 4 such) and the one step (phi (N, m), U and its centred
    copy (N, d), W2 and W1 with its scaled copy (m, d), H (n_eval, d))."""
    n = max(Ns)
    tables = max(2 * n * d + 4 * n * m, n * m + 2 * n * d + 3 * m * d + _n_eval(n_eval, n) * d)
    return itemsize * tables + _score_bytes(Ns, n_eval, itemsize, lambda k: _rows(S * k, chunk), lambda k: 2 * k)


def _mlp_group(
    Ns: list[int], m: int, d: int, seeds, S: int, act: str, pairs: int, n_eval, eta: float, chunk, dev, dt
) -> torch.Tensor:
    """Accuracies (len(Ns), len(seeds)) of one seed group; S, the call's number of seeds, sizes the row chunks."""
    n_max = max(Ns)
    W2 = _hidden_weights(m, d, seeds, dev, dt)
    phi = _mlp_features(_inputs(n_max, d, seeds, pairs, dev, dt), W2, act)  # (S, N, m)
    U = Embedding(n_max, d, seeds, "gaussian", "u").full(device=dev, dtype=dt)
    out = torch.empty(len(Ns), len(seeds), dtype=torch.float64, device=dev)
    for i, n_tok in enumerate(Ns):
        W1 = _one_step(U[:, :n_tok], phi[:, :n_tok], eta)  # (S, d, m)
        H = phi[:, : _n_eval(n_eval, n_tok)] @ W1.transpose(1, 2)
        out[i] = recall_correct(H, U[:, :n_tok], chunk=_rows(S * n_tok, chunk)).to(torch.float64).mean(1)
    return out


def multi_accuracy(
    n,
    m: int,
    d: int,
    seeds,
    *,
    activation: str = "odd3",
    n_eval: int | None = None,
    eta: float = 1.0,
    chunk: int | None = None,
    max_bytes: int | None = None,
    device=None,
    dtype=None,
) -> torch.Tensor:
    """CP3: the kernel MLP on the n^2 pairs (z1, z2) with inputs (e_{z1} + e~_{z2}) normalised, f* injective.

    score((z1, z2), y) = u_y^T W1 phi(x_{(z1, z2)}), x_{(z1, z2)} = (e_{z1} + e~_{z2}) / ||e_{z1} + e~_{z2}||
    (:func:`mlp_accuracy` with N = n^2 and pairs = n).

    n : an int (shape (S,)) or a sequence (shape (len(n), S)); each n rebuilds its n^2 inputs.

    Parameters
    ----------
    n : int or sequence of int
        Tokens per slot (N = n^2 pairs), each n >= 2, or a non-empty sequence of them.
    m : int
        Hidden width, m >= 1.
    d : int
        Embedding dimension, d >= 2.
    seeds : int or sequence of int
        One seed or a non-empty sequence of seeds, each in [0, 2**62].
    activation : str, default 'odd3'
        'odd3', 'hermite3' or 'hermite2'.
    n_eval : int or None, default None
        Evaluate on the first min(n_eval, N) tokens, n_eval >= 1 (None: all N).
    eta : float, default 1.0
        Step size, in (0, inf).
    chunk : int or None, default None
        Query rows scored per chunk, >= 1 (None: sized so that a temporary holds at most CHUNK_ELEMENTS elements).
    max_bytes : int or None, default None
        Working-memory budget in bytes, an integer >= 1: the seeds run in groups whose tables and temporaries
        (estimated from their shapes) fit in it, each seed's result unchanged; ValueError up front when one seed
        alone needs more.  None: :data:`MAX_BYTES` (1 GiB), a seed that alone needs more running alone.
    device : str, torch.device or None, default None
        'cpu' (also for None), 'cuda', 'cuda:k' or 'auto'.
    dtype : torch.dtype, str or None, default None
        torch.float32 (also for None) or torch.float64, or their names.

    Returns
    -------
    torch.Tensor
        float64 accuracies in [0, 1]: shape (S,) for one n, (len(n), S) for a sequence.
    """
    ns, scalar = _sizes(n, "n")
    seeds = check_seeds(seeds)
    d_ = check_int("d", d, 2)
    check_alloc("n, d", 4.0 * max(ns) ** 2 * d_)  # one seed's n^2 pair inputs (n^2, d)
    max_bytes = _check_max_bytes(max_bytes)
    # one seed of the largest n must fit (max_bytes, this machine): refuse up front, not after the smaller n ran
    N, m_, d_, _, _, _, _, dt = _mlp_check(max(ns) ** 2, m, d_, seeds, activation, max(ns), eta, device, dtype, 1)
    per_seed = _mlp_seed_bytes([N], m_, d_, len(seeds), n_eval, chunk, torch.finfo(dt).bits // 8)
    what = f"multi_accuracy at n = {max(ns)} (N = {N}), m = {m_}, d = {d_}, n_eval = {_n_eval(n_eval, N)}, {dt}"
    _seed_groups(seeds, per_seed, max_bytes, what, "n, m, d")
    out = torch.stack(
        [
            mlp_accuracy(
                k * k,
                m,
                d,
                seeds,
                activation=activation,
                pairs=k,
                n_eval=n_eval,
                eta=eta,
                chunk=chunk,
                max_bytes=max_bytes,
                device=device,
                dtype=dtype,
            )
            for k in ns
        ]
    )
    return _shape(out, scalar)


# ----------------------------------------------------------------------------- CP4: thresholded memory
def relu_scores(Eq: torch.Tensor, E: torch.Tensor, U: torch.Tensor, eta: float) -> torch.Tensor:
    """Scores of the thresholded (ReLU) memory for a chunk of queries, shape (S, c, N).

    g[s, i, y] = sum_x' (u_y^T u_x') ReLU(e_x'^T e_{q_i} - eta) for queries Eq (S, c, d), keys E (S, N, d),
    outputs U (S, N, d) (f* = identity): shape (S, c, N).

    Computed as (ReLU(Eq E^T - eta) U) U^T.

    Parameters
    ----------
    Eq : torch.Tensor
        Query embeddings e_{q_i}, shape (S, c, d).
    E : torch.Tensor
        Key embeddings e_x', shape (S, N, d).
    U : torch.Tensor
        Output embeddings u_x', shape (S, N, d) (same shape as E).
    eta : float
        Threshold, a finite real number.

    Returns
    -------
    torch.Tensor
        Shape (S, c, N).
    """
    eta = check_float("eta", eta)
    if (
        any(not torch.is_tensor(t) or t.ndim != 3 for t in (Eq, E, U))
        or E.shape != U.shape
        or Eq.shape[2] != E.shape[2]
        or Eq.shape[0] != E.shape[0]
    ):
        raise ValueError("Eq must be (S, c, d) and E, U (S, N, d) tensors")
    for name, t in (("Eq", Eq), ("E", E), ("U", U)):
        check_tensor(name, t, kind="any")
    return _relu_scores(Eq, E, U, eta)


def _relu_scores(Eq: torch.Tensor, E: torch.Tensor, U: torch.Tensor, eta: float) -> torch.Tensor:
    R = torch.relu(Eq @ E.transpose(1, 2) - eta)  # (S, c, N)
    return (R @ U) @ U.transpose(1, 2)


def relu_accuracy(
    N,
    d: int,
    seeds,
    *,
    eta: float = 0.5,
    kind: str = "sphere",
    n_eval: int | None = None,
    chunk: int | None = None,
    max_bytes: int | None = None,
    device=None,
    dtype=None,
) -> torch.Tensor:
    """CP4 recall accuracy per seed of the thresholded memory.

    Embeddings: Embedding(N, d, seeds, kind, 'e') and (..., 'u'), the tables of the linear memory with these
    seeds.  N : an int (shape (S,)) or a sequence of sizes sharing the tables (shape (len(N), S)).

    score(z, y) = sum_{x' < N} (u_y^T u_x') ReLU(e_x'^T e_z - eta) (:func:`relu_scores`); accuracy = (1/n_eval)
    sum_{z < n_eval} 1{argmax_y score(z, y) = z} (ties are errors).

    Parameters
    ----------
    N : int or sequence of int
        Number of tokens (each >= 2), or a non-empty sequence of sizes.
    d : int
        Embedding dimension, d >= 2.
    seeds : int or sequence of int
        One seed or a non-empty sequence of seeds, each in [0, 2**62].
    eta : float, default 0.5
        Threshold, in (0, 1).
    kind : str, default 'sphere'
        Embedding kind, 'sphere' or 'gaussian'.
    n_eval : int or None, default None
        Evaluate on the first min(n_eval, N) tokens, n_eval >= 1 (None: all N).
    chunk : int or None, default None
        Query rows scored per chunk, >= 1 (None: sized so that a temporary holds at most CHUNK_ELEMENTS elements).
    max_bytes : int or None, default None
        Working-memory budget in bytes, an integer >= 1: the seeds run in groups whose tables and temporaries
        (estimated from their shapes) fit in it, each seed's result unchanged; ValueError up front when one seed
        alone needs more.  None: :data:`MAX_BYTES` (1 GiB), a seed that alone needs more running alone.
    device : str, torch.device or None, default None
        'cpu' (also for None), 'cuda', 'cuda:k' or 'auto'.
    dtype : torch.dtype, str or None, default None
        torch.float32 (also for None) or torch.float64, or their names.

    Returns
    -------
    torch.Tensor
        float64 accuracies in [0, 1]: shape (S,) for one size, (len(N), S) for a sequence of sizes.
    """
    Ns, scalar = _sizes(N)
    max_bytes = _check_max_bytes(max_bytes)
    n_max, d, seeds, dev, dt = _common(max(Ns), d, seeds, device, dtype, alloc_seeds=1)
    eta = check_float("eta", eta, 0.0, 1.0, lo_open=True, hi_open=True)
    check_choice("kind", kind, ("sphere", "gaussian"))
    S, it = len(seeds), torch.finfo(dt).bits // 8
    # E and U (N, d); per query row: E_q E^T and its ReLU, the scores and their masked copy (N each), R U (d)
    scoring = _score_bytes(Ns, n_eval, it, lambda k: _rows(3 * S * k, chunk), lambda k: 4 * k + d)
    per_seed = it * 2 * n_max * d + scoring
    what = f"relu_accuracy at N = {n_max}, d = {d}, n_eval = {_n_eval(n_eval, n_max)}, {dt}"
    groups = _seed_groups(seeds, per_seed, max_bytes, what, "N, d")
    out = torch.cat([_relu_group(Ns, d, g, S, eta, kind, n_eval, chunk, dev, dt) for g in groups], dim=1)
    return _shape(out, scalar)


def _relu_group(Ns: list[int], d: int, seeds, S: int, eta: float, kind: str, n_eval, chunk, dev, dt) -> torch.Tensor:
    """Accuracies (len(Ns), len(seeds)) of one seed group; S, the call's number of seeds, sizes the row chunks."""
    n_max = max(Ns)
    E = Embedding(n_max, d, seeds, kind, "e").full(device=dev, dtype=dt)
    U = Embedding(n_max, d, seeds, kind, "u").full(device=dev, dtype=dt)
    out = torch.empty(len(Ns), len(seeds), dtype=torch.float64, device=dev)
    for i, n_tok in enumerate(Ns):
        n = _n_eval(n_eval, n_tok)
        ok = torch.empty(len(seeds), n, dtype=torch.bool, device=dev)
        c = _rows(3 * S * n_tok, chunk)
        for a in range(0, n, c):
            b = min(a + c, n)
            ok[:, a:b] = _correct_rows(_relu_scores(E[:, a:b], E[:, :n_tok], U[:, :n_tok], eta), a)
        out[i] = ok.to(torch.float64).mean(1)
    return out
