"""Associative memories W = sum_z q(z) u_{f*(z)} e_z^T and their exact recall error.

The hot kernel is :func:`recall`: for every seed and every weighting ``q`` it returns which tokens
are recalled (``argmax_y u_y^T W e_z == f*(z)``, ties counted as errors) and the exact population
error ``sum_z p(z) 1{wrong}``. The input table is streamed in chunks, never stored whole, so
``N = 10**6`` tokens with ``d = 1024`` evaluate in well under 4 GiB.

Shapes: ``S`` seeds, ``Q`` weightings evaluated on the same embeddings, ``N`` tokens, ``M``
outputs, ``d`` the dimension. Costs: building ``V`` is ``O(S Q N d)``, ``A = U W`` is
``O(S Q M d^2)`` and scoring is ``O(S Q N M d)``, all as batched matrix products.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from amemory.validate import (
    check_alloc,
    check_array,
    check_bool,
    check_broadcast,
    check_int,
    check_tensor,
    resolve_device,
    resolve_dtype,
)

from .embeddings import Embedding

#: elements of the largest temporary a chunk may create (about 256 MiB in float32)
CHUNK_ELEMENTS = 1 << 26


@dataclass
class Recall:
    """Result of :func:`recall`.

    correct[s, k, z] = 1{u_{f*(z)}^T W_{s,k} e_z > max_{y != f*(z)} u_y^T W_{s,k} e_z} (ties are errors),
    error[s, k] = sum_z p(z) (1 - correct[s, k, z]), margin[s, k, z] = u_{f*(z)}^T W e_z - max_{y != f*(z)} u_y^T W e_z.

    Parameters
    ----------
    correct : torch.Tensor
        bool tensor (S, Q, N), token z recalled by the memory of seed s and weighting k.
    error : torch.Tensor
        float64 tensor (S, Q), population error sum_z p(z) 1{z not recalled}, in [0, 1] for a normalised p.
    margin : torch.Tensor or None, default None
        tensor (S, Q, N) or None, score of f*(z) minus the best other score (-inf ... inf; +inf when M = 1).
    """

    correct: torch.Tensor
    error: torch.Tensor
    margin: torch.Tensor | None = None

    @property
    def accuracy(self) -> torch.Tensor:
        """Population accuracy 1 - error, shape (S, Q).

        accuracy[s, k] = 1 - sum_z p(z) 1{z not recalled} = sum_z p(z) correct[s, k, z] (for p summing to one).

        Returns
        -------
        torch.Tensor
            float64 tensor (S, Q).
        """
        return 1.0 - self.error


def as_map(f, n: int, m: int, device) -> torch.Tensor:
    """Validate ``f*`` given as integers of shape (n,) with values in [0, m).

    The map f*: [n] -> [m], z -> f[z], returned as an int64 tensor.

    Parameters
    ----------
    f : array_like or torch.Tensor
        Integers (int64, int32, int16 or uint8) of shape (n,), values in [0, m - 1].
    n : int
        Number of inputs (length of ``f``), n >= 0.
    m : int
        Number of outputs, m >= 1.
    device : str, torch.device or None
        Device of the result (passed to ``torch.as_tensor``).

    Returns
    -------
    torch.Tensor
        int64 tensor of shape (n,) on ``device``.
    """
    n = check_int("n", n, 0)
    m = check_int("m", m, 1)
    dev = resolve_device(device)
    if f is None or isinstance(f, (str, bytes)):
        raise ValueError(f"f must be an integer tensor of shape ({n},), got {f!r}")
    try:
        f = torch.as_tensor(f, device=dev)
    except (TypeError, ValueError, RuntimeError):
        raise ValueError(f"f must be an integer tensor of shape ({n},)") from None
    if f.shape != (n,) or f.dtype not in (torch.int64, torch.int32, torch.int16, torch.uint8):
        raise ValueError(f"f must be an integer tensor of shape (n,) with n={n}, got {f.dtype} {tuple(f.shape)}")
    if n and (int(f.min()) < 0 or int(f.max()) >= m):
        raise ValueError(f"f values must lie in [0, {m - 1}] (M={m})")
    return f.long()


def as_weights(q, num_seeds: int, n: int, device, dtype) -> torch.Tensor:
    """Bring ``q`` of shape (N,), (Q, N) or (S, Q, N) to (S, Q, N).

    q[s, k, z] = q[z] (1-D), q[k, z] (2-D) or q[s, k, z] (3-D), broadcast over seeds (a view, no copy).

    Parameters
    ----------
    q : array_like or torch.Tensor
        Finite weights of shape (N,), (Q, N), (1, Q, N) or (S, Q, N), N = ``n``, S = ``num_seeds``.
    num_seeds : int
        Number of seeds S, >= 1.
    n : int
        Number of tokens N, >= 1.
    device : str, torch.device or None
        Device of the result (passed to ``torch.as_tensor``).
    dtype : torch.dtype or None
        dtype of the result (passed to ``torch.as_tensor``).

    Returns
    -------
    torch.Tensor
        Shape (S, Q, N).

    Raises
    ------
    ValueError
        If ``q`` is not a non-empty finite real array of one of these shapes, or the (S, Q, N) weights
        would not fit in memory (``num_seeds`` too large).
    """
    num_seeds = check_int("num_seeds", num_seeds, 1)
    n = check_int("n", n, 1)
    dev, dt = resolve_device(device), resolve_dtype(dtype)
    _check_real("q", q)
    q = torch.as_tensor(q, device=dev, dtype=dt)
    if q.ndim == 1:
        q = q[None, None]
    elif q.ndim == 2:
        q = q[None]
    if q.ndim != 3 or q.shape[-1] != n or q.shape[0] not in (1, num_seeds):
        raise ValueError(
            f"q must have shape (N,), (Q, N) or (S, Q, N) with N = n = {n}, S = num_seeds = {num_seeds}; "
            f"got {tuple(q.shape)}"
        )
    check_alloc("num_seeds, n", float(dt.itemsize) * num_seeds * q.shape[1] * n)
    return q.expand(num_seeds, -1, -1)


def _check_real(name: str, x, *, nonneg: bool = False) -> None:
    """Refuse ``x`` unless it is a non-empty array or tensor of finite real numbers (not bools, not complex)."""
    if torch.is_tensor(x):
        check_tensor(name, x, kind="any", nonneg=nonneg)
        if x.dtype == torch.bool:
            raise ValueError(f"{name} must be an array of real numbers, got dtype {x.dtype}")
    else:
        check_array(name, x, nonneg=nonneg)


def _chunk_rows(per_row: int, requested: int | None) -> int:
    if requested is not None:
        return check_int("chunk", requested, 1)
    return max(1, min(1 << 16, CHUNK_ELEMENTS // max(per_row, 1)))


def aggregate_keys(q, f, E: Embedding, M: int, *, chunk: int | None = None, device=None, dtype=None) -> torch.Tensor:
    """V[s, k, y] = sum_{z : f*(z) = y} q[s, k, z] e_z, shape (S, Q, M, d); then W = U^T V.

    Streams the input table E in chunks (one-hot products for M <= 256, ``index_add_`` otherwise), so
    W = sum_z q(z) u_{f*(z)} e_z^T = sum_y u_y V[y]^T never needs the whole table at once. Cost O(S Q N d).

    Parameters
    ----------
    q : array_like or torch.Tensor
        Finite weights of shape (N,), (Q, N) or (S, Q, N), see :func:`as_weights`.
    f : array_like or torch.Tensor
        The target map f*, integers of shape (N,) with values in [0, M - 1].
    E : Embedding
        Input embeddings (N vectors of dimension d, S seeds).
    M : int
        Number of outputs, M >= 1.
    chunk : int or None, default None
        Rows of E per chunk, >= 1 (None: sized so that a temporary holds at most CHUNK_ELEMENTS elements).
    device : str, torch.device or None, default None
        'cpu' (also for None), 'cuda', 'cuda:k' or 'auto'.
    dtype : torch.dtype, str or None, default None
        torch.float32 (also for None) or torch.float64, or their names.

    Returns
    -------
    torch.Tensor
        Shape (S, Q, M, d).
    """
    M = check_int("M", M, 1)
    dev, dt = resolve_device(device), resolve_dtype(dtype)
    if not isinstance(E, (Embedding, _Table)):
        raise ValueError(f"E must be an impl.embeddings.Embedding, got {type(E).__name__}")
    S, N, d = E.num_seeds, E.n, E.d
    f = as_map(f, N, M, dev)
    q = as_weights(q, S, N, dev, dt)
    Q = q.shape[1]
    check_alloc("M", float(dt.itemsize) * S * Q * M * d)
    V = torch.zeros(S, Q, M, d, device=dev, dtype=dt)
    E = _materialize_if_small(E, dev, dt)
    onehot = M <= 256
    c = _chunk_rows(S * Q * (M if onehot else d) + S * d, chunk)
    for a, b, Ec in E.chunks(c, device=dev, dtype=dt):
        qc, fc = q[..., a:b], f[a:b]
        if onehot:
            oh = torch.nn.functional.one_hot(fc, M).to(dt)  # (c, M)
            # (S, Q*M, c) @ (S, c, d): one product per seed, no copy of the table per weighting
            coef = (qc.unsqueeze(-1) * oh).transpose(-1, -2).reshape(S, Q * M, -1)
            V += (coef @ Ec).view(S, Q, M, d)
        else:
            V.index_add_(2, fc, qc.unsqueeze(-1) * Ec.unsqueeze(1))
    return V


def memory_matrix(
    q, f, E: Embedding, U: Embedding, *, chunk: int | None = None, device=None, dtype=None
) -> torch.Tensor:
    """W = sum_z q(z) u_{f*(z)} e_z^T, shape (S, Q, d, d).

    Computed as W = U^T V with V from :func:`aggregate_keys`.

    Parameters
    ----------
    q : array_like or torch.Tensor
        Finite weights of shape (N,), (Q, N) or (S, Q, N).
    f : array_like or torch.Tensor
        The target map f*, integers of shape (N,) with values in [0, M - 1], M = U.n.
    E : Embedding
        Input embeddings (N vectors).
    U : Embedding
        Output embeddings (M vectors), same seeds and d as ``E``, a different stream.
    chunk : int or None, default None
        Rows of E per chunk, >= 1 (None: automatic).
    device : str, torch.device or None, default None
        'cpu' (also for None), 'cuda', 'cuda:k' or 'auto'.
    dtype : torch.dtype, str or None, default None
        torch.float32 (also for None) or torch.float64, or their names.

    Returns
    -------
    torch.Tensor
        Shape (S, Q, d, d).
    """
    _same_seeds(E, U)
    dev, dt = resolve_device(device), resolve_dtype(dtype)
    V = aggregate_keys(q, f, E, U.n, chunk=chunk, device=dev, dtype=dt)
    Uf = U.full(device=dev, dtype=dt)  # (S, M, d)
    return Uf.transpose(-1, -2).unsqueeze(1) @ V


def recall(
    q,
    f,
    E: Embedding,
    U: Embedding,
    p=None,
    *,
    W: torch.Tensor | None = None,
    chunk: int | None = None,
    return_margin: bool = False,
    device=None,
    dtype=None,
) -> Recall:
    """Which tokens the memory recalls, and the exact population error.

    correct[s, k, z] = 1{u_{f*(z)}^T W_{s,k} e_z > max_{y != f*(z)} u_y^T W_{s,k} e_z} (ties count as errors),
    error[s, k] = sum_z p(z) 1{not correct[s, k, z]}, with W_{s,k} = sum_z q[s, k, z] u_{f*(z)} e_z^T unless
    ``W`` is given.

    Seeds are processed in groups whose input table fits in MATERIALIZE_ELEMENTS, so each table is drawn
    once and used by both passes (building V, then scoring); larger tables are streamed in chunks.

    Parameters
    ----------
    q : array_like, torch.Tensor or None
        Finite weights, shape (N,), (Q, N) or (S, Q, N); ignored (may be None) when ``W`` is given.
    f : array_like or torch.Tensor
        The target map f*, integers of shape (N,) with values in [0, M).
    E : Embedding
        Input embeddings (N vectors).
    U : Embedding
        Output embeddings (M vectors) with the same seeds and d as ``E`` and a different stream.
    p : array_like, torch.Tensor or None, default None
        Token distribution (N,) for the population error, finite and non-negative (not renormalised);
        uniform 1/N when None.
    W : torch.Tensor or None, default None
        Optional memory matrices (S, Q, d, d) (or (S, d, d)) to evaluate instead of building one.
    chunk : int or None, default None
        Rows of E scored per chunk, >= 1 (None: sized so that a temporary holds at most CHUNK_ELEMENTS elements).
    return_margin : bool, default False
        Also return the margins (score of f*(z) minus the best other score).
    device : str, torch.device or None, default None
        'cpu' (also for None), 'cuda', 'cuda:k' or 'auto'.
    dtype : torch.dtype, str or None, default None
        torch.float32 (also for None) or torch.float64, or their names: the dtype of W and of the scores.

    Returns
    -------
    Recall
        ``correct`` bool (S, Q, N), ``error`` float64 (S, Q) and ``margin`` (S, Q, N) (None unless
        ``return_margin``).
    """
    _same_seeds(E, U)
    return_margin = check_bool("return_margin", return_margin)
    if W is not None:
        _check_real("W", W)
    elif q is None:
        raise ValueError("q must be an array of finite weights when W is None, got None")
    else:
        _check_real("q", q)
    if p is not None:
        _check_real("p", p)
    S, N = E.num_seeds, E.n
    group = max(1, MATERIALIZE_ELEMENTS // (N * E.d))
    if S <= group:
        return _recall_group(q, f, E, U, p, W=W, chunk=chunk, return_margin=return_margin, device=device, dtype=dtype)
    dev = resolve_device(device)
    q_t = None if q is None else torch.as_tensor(q, device=dev)
    parts = []
    for g0 in range(0, S, group):
        gs = E.seeds[g0 : g0 + group]
        qg = q_t if q_t is None or q_t.ndim < 3 or q_t.shape[0] == 1 else q_t[g0 : g0 + len(gs)]
        Wg = None if W is None else torch.as_tensor(W)[g0 : g0 + len(gs)]
        parts.append(
            _recall_group(
                qg,
                f,
                Embedding(N, E.d, gs, E.kind, E.stream),
                Embedding(U.n, U.d, gs, U.kind, U.stream),
                p,
                W=Wg,
                chunk=chunk,
                return_margin=return_margin,
                device=device,
                dtype=dtype,
            )
        )
    return Recall(
        correct=torch.cat([r.correct for r in parts]),
        error=torch.cat([r.error for r in parts]),
        margin=torch.cat([r.margin for r in parts]) if return_margin else None,
    )


def _recall_group(
    q, f, E: Embedding, U: Embedding, p=None, *, W=None, chunk=None, return_margin=False, device=None, dtype=None
) -> Recall:
    dev, dt = resolve_device(device), resolve_dtype(dtype)
    S, N, M, d = E.num_seeds, E.n, U.n, E.d
    f_t = as_map(f, N, M, dev)
    if p is None:
        p_t = torch.full((N,), 1.0 / N, device=dev, dtype=torch.float64)
    else:
        p_t = torch.as_tensor(p, device=dev, dtype=torch.float64)
        if p_t.shape != (N,):
            raise ValueError(f"p must have shape ({N},), got {tuple(p_t.shape)}")
        if bool((p_t < 0).any()):
            raise ValueError("p must be non-negative")
    Uf = U.full(device=dev, dtype=dt)
    E = _materialize_if_small(E, dev, dt)  # generated once, used by both passes
    if W is None:
        V = aggregate_keys(q, f_t, E, M, chunk=chunk, device=dev, dtype=dt)  # (S, Q, M, d)
        Q = V.shape[1]
        # A = U W with W = U^T V (S, Q, d, d), built a slice of (seed, weighting) pairs at a time so that the d x d
        # memories held at once stay under W_SLICE_ELEMENTS (all at once: S Q d^2, 47.5 GiB for SL6's full tier);
        # each (seed, weighting) product is the same matrix product as in one batch: on one thread the values are
        # bit-identical to forming W at once; on several, BLAS may split a lone product differently (last bits)
        A = torch.empty(S, Q, M, d, device=dev, dtype=dt)
        per = max(1, W_SLICE_ELEMENTS // (d * d))  # (seed, weighting) pairs per slice
        s_step, q_step = max(1, per // Q), min(Q, per)  # whole seeds when they fit, else part of one seed's Q
        for s0 in range(0, S, s_step):
            s1 = min(S, s0 + s_step)
            Ut = Uf[s0:s1].transpose(-1, -2).unsqueeze(1)
            for q0 in range(0, Q, q_step):
                q1 = min(Q, q0 + q_step)
                A[s0:s1, q0:q1] = Uf[s0:s1].unsqueeze(1) @ (Ut @ V[s0:s1, q0:q1])
    else:
        W = torch.as_tensor(W, device=dev, dtype=dt)
        if W.ndim == 3:
            W = W.unsqueeze(1)
        if W.ndim != 4 or W.shape[0] != S or W.shape[-2:] != (d, d):
            raise ValueError(f"W must have shape (S, d, d) or (S, Q, d, d) with S={S}, d={d}; got {tuple(W.shape)}")
        Q = W.shape[1]
        A = Uf.unsqueeze(1) @ W  # (S, Q, M, d): row y is u_y^T W
    At = A.reshape(S, Q * M, d).transpose(-1, -2)  # (S, d, Q*M)
    correct = torch.empty(S, Q, N, dtype=torch.bool, device=dev)
    margin = torch.empty(S, Q, N, dtype=dt, device=dev) if return_margin else None
    c = _chunk_rows(S * Q * M + S * d, chunk)
    for a, b, Ec in E.chunks(c, device=dev, dtype=dt):
        scores = (Ec @ At).view(S, -1, Q, M)  # (S, c, Q, M): one product per seed
        idx = f_t[a:b].view(1, -1, 1, 1).expand(S, -1, Q, 1)
        true = scores.gather(-1, idx).squeeze(-1)  # (S, c, Q)
        # the right score is masked in place (no copy, no one-hot): one more pass over the scores, the amax
        best_other = scores.scatter_(-1, idx, float("-inf")).amax(-1) if M > 1 else torch.full_like(true, float("-inf"))
        correct[..., a:b] = (true > best_other).transpose(1, 2)
        if margin is not None:
            margin[..., a:b] = (true - best_other).transpose(1, 2)
    error = ((~correct).to(torch.float64) * p_t).sum(-1)
    return Recall(correct=correct, error=error, margin=margin)


class _Table:
    """An embedding table already in memory, with the chunks() interface of Embedding."""

    def __init__(self, full: torch.Tensor):
        self.full_ = full
        self.num_seeds, self.n, self.d = full.shape

    def chunks(self, chunk: int, *, device=None, dtype=None):
        n = self.full_.shape[1]
        for a in range(0, n, chunk):
            yield a, min(a + chunk, n), self.full_[:, a : a + chunk]


#: tables up to this many elements (512 MiB in float32) are generated once and kept for both passes
MATERIALIZE_ELEMENTS = 1 << 27

#: the d x d memories W = U^T V that recall holds at once (256 MiB in float32)
W_SLICE_ELEMENTS = 1 << 26


def _materialize_if_small(E, dev, dt):
    if isinstance(E, _Table) or E.num_seeds * E.n * E.d > MATERIALIZE_ELEMENTS:
        return E
    return _Table(E.full(device=dev, dtype=dt))


def scores(W: torch.Tensor, E: torch.Tensor, U: torch.Tensor) -> torch.Tensor:
    """gamma[..., z, y] = u_y^T W e_z for explicit tensors W (..., d, d), E (..., N, d), U (..., M, d).

    Computed as E W^T U^T (leading axes broadcast).

    Parameters
    ----------
    W : torch.Tensor
        Memory matrices, shape (..., d, d).
    E : torch.Tensor
        Input embeddings e_z as rows, shape (..., N, d).
    U : torch.Tensor
        Output embeddings u_y as rows, shape (..., M, d).

    Returns
    -------
    torch.Tensor
        Shape (..., N, M).
    """
    W = check_tensor("W", W)
    E = check_tensor("E", E)
    U = check_tensor("U", U)
    if W.ndim < 2 or E.ndim < 2 or U.ndim < 2:
        raise ValueError("W, E and U must have at least 2 dimensions: (..., d, d), (..., N, d), (..., M, d)")
    d = W.shape[-1]
    if W.shape[-2] != d or E.shape[-1] != d or U.shape[-1] != d:
        raise ValueError(
            f"W, E and U must have shapes (..., d, d), (..., N, d), (..., M, d); got {tuple(W.shape)}, "
            f"{tuple(E.shape)}, {tuple(U.shape)}"
        )
    if not (W.dtype == E.dtype == U.dtype):
        raise ValueError(f"W, E and U must share one dtype, got {W.dtype}, {E.dtype}, {U.dtype}")
    check_broadcast("W, E and U (leading axes)", W[..., 0, 0], E[..., 0, 0], U[..., 0, 0])
    return E @ W.transpose(-1, -2) @ U.transpose(-1, -2)


def _same_seeds(E: Embedding, U: Embedding) -> None:
    if not isinstance(E, Embedding) or not isinstance(U, Embedding):
        raise ValueError("E and U must be impl.embeddings.Embedding instances")
    if E.seeds != U.seeds or E.d != U.d:
        raise ValueError(f"E and U must share seeds and d; got seeds {E.seeds} vs {U.seeds}, d {E.d} vs {U.d}")
    if E.stream == U.stream:
        raise ValueError("E and U must use different streams, else u_y and e_z would coincide")
