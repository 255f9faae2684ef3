"""Random embeddings, generated deterministically in blocks so that huge tables never need to
sit in memory at once.

An :class:`Embedding` is a recipe: ``n`` vectors in ``R^d`` of a given ``kind`` for each seed of
``seeds``. Row ``i`` of seed ``s`` depends only on ``(s, stream, i // BLOCK)``, so reading rows
``[a, b)`` gives the same numbers whatever the chunking, the device or the batch of seeds.

Kinds
-----
``gaussian``    i.i.d. N(0, 1/d) entries: ||e|| ~ 1, e^T e' = O(1/sqrt d).
``sphere``      the gaussian rows normalised to unit norm.
``orthonormal`` exactly orthonormal rows (needs n <= d): the Q factor of a gaussian d x n matrix.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from amemory.validate import check_alloc, check_choice, check_int, check_seeds, resolve_device, resolve_dtype

BLOCK = 4096
KINDS = ("gaussian", "sphere", "orthonormal")
# Named streams keep e (inputs), u (outputs), p (positions) ... independent for one seed.
STREAMS = {"e": 1, "u": 2, "p": 3, "w": 4, "e2": 5, "misc": 9}

_MASK = (1 << 63) - 1


def _mix(*parts: int) -> int:
    """SplitMix64-style hash of integers into a 63-bit torch seed."""
    h = 0x9E3779B97F4A7C15
    for x in parts:
        h = (h ^ (x & 0xFFFFFFFFFFFFFFFF)) * 0xBF58476D1CE4E5B9 & 0xFFFFFFFFFFFFFFFF
        h ^= h >> 31
        h = (h * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
        h ^= h >> 29
    return h & _MASK


def _stream_id(stream) -> int:
    if isinstance(stream, str):
        if stream not in STREAMS:
            raise ValueError(f"stream must be one of {tuple(STREAMS)} or a non-negative int, got {stream!r}")
        return STREAMS[stream]
    return check_int("stream", stream, 0, 2**31)


def _fill_block(buf: torch.Tensor, seed: int, stream: int, block: int, d: int) -> torch.Tensor:
    g = torch.Generator(device="cpu")
    g.manual_seed(_mix(seed, stream, block, d))
    return buf.normal_(0.0, d**-0.5, generator=g)


def gaussian_block(seed: int, stream: int, block: int, d: int, dtype: torch.dtype) -> torch.Tensor:
    """Block ``block`` (BLOCK rows) of the N(0, 1/d) table of (seed, stream), on the CPU.

    G[i, j] ~ N(0, 1/d) i.i.d. for the rows block * BLOCK .. (block + 1) * BLOCK - 1 of the table, drawn from a
    CPU generator seeded with SplitMix64(seed, stream, block, d): the block depends on nothing else.

    Parameters
    ----------
    seed : int
        Seed, an integer in [0, 2**62].
    stream : int
        Stream id, an integer in [0, 2**62] (the values of ``STREAMS`` name the standard tables).
    block : int
        Block index, in [0, 2**62 / BLOCK].
    d : int
        Dimension, d >= 1.
    dtype : torch.dtype
        Floating-point type of the block (torch.float32 or torch.float64).

    Returns
    -------
    torch.Tensor
        Shape (BLOCK, d) = (4096, d), on the CPU.
    """
    seed = check_int("seed", seed, 0, 2**62)
    stream = check_int("stream", stream, 0, 2**62)
    block = check_int("block", block, 0, 2**62 // BLOCK)
    d = check_int("d", d, 1)
    check_alloc("d", 8.0 * BLOCK * d)
    if dtype is None:
        raise ValueError("dtype must be torch.float32 or torch.float64, got None")
    dtype = resolve_dtype(dtype)
    return _fill_block(torch.empty(BLOCK, d, dtype=dtype), seed, stream, block, d)


@dataclass(frozen=True)
class Embedding:
    """``n`` random vectors in ``R^d`` for each seed: call :meth:`rows` or :meth:`full`.

    Row i of seed s is e_i = g_i with g_i ~ N(0, I_d / d) (kind 'gaussian'), e_i = g_i / ||g_i|| ('sphere'),
    or row i of Q^T where G^T = Q R is the QR factorisation of the first n rows of the d x d gaussian table with
    sign(diag R) > 0 ('orthonormal', e_i^T e_j = 1{i = j}). For 'gaussian' and 'sphere', row i depends only on
    (seed, stream, i // BLOCK, d), not on n.

    Parameters
    ----------
    n : int
        Number of vectors, n >= 1 (n <= d for 'orthonormal').
    d : int
        Dimension, d >= 1.
    seeds : int or sequence of int
        One seed or a non-empty sequence of seeds, each in [0, 2**62]; the leading axis of every output
        runs over them (stored as a tuple).
    kind : str, default 'gaussian'
        'gaussian' (N(0, 1/d) entries), 'sphere' (unit norm) or 'orthonormal' (n <= d).
    stream : str or int, default 'e'
        'e', 'u', 'p', 'w', 'e2', 'misc' or an int in [0, 2**31]; separates tables drawn with one seed.
    """

    n: int
    d: int
    seeds: tuple
    kind: str = "gaussian"
    stream: object = "e"

    def __post_init__(self):
        object.__setattr__(self, "n", check_int("n", self.n, 1))
        object.__setattr__(self, "d", check_int("d", self.d, 1))
        object.__setattr__(self, "seeds", check_seeds(self.seeds))
        check_choice("kind", self.kind, KINDS)
        _stream_id(self.stream)
        if self.kind == "orthonormal" and self.n > self.d:
            raise ValueError(f"n must be <= d for orthonormal embeddings (n in [1, {self.d}]), got n={self.n}")

    @property
    def num_seeds(self) -> int:
        """Number of seeds S = len(seeds), the leading axis of every table.

        Returns
        -------
        int
            S >= 1.
        """
        return len(self.seeds)

    def rows(self, start: int, stop: int, *, device=None, dtype=None) -> torch.Tensor:
        """Rows ``[start, stop)`` for every seed, shape ``(num_seeds, stop - start, d)``.

        out[s, i - start] = e_i of seed s for start <= i < stop (see the class docstring); the same numbers
        whatever the chunking, the device or the batch of seeds.

        Parameters
        ----------
        start : int
            First row, in [0, n].
        stop : int
            One past the last row, in [start, n].
        device : str, torch.device or None, default None
            'cpu' (also for None), 'cuda', 'cuda:k' or 'auto' (the rows are drawn on the CPU, then moved).
        dtype : torch.dtype, str or None, default None
            torch.float32 (also for None) or torch.float64, or their names.

        Returns
        -------
        torch.Tensor
            Shape (num_seeds, stop - start, d).
        """
        start = check_int("start", start, 0, self.n)
        stop = check_int("stop", stop, start, self.n)
        dev, dt = resolve_device(device), resolve_dtype(dtype)
        if self.kind == "orthonormal":
            return self.full(device=dev, dtype=dt)[:, start:stop]
        sid = _stream_id(self.stream)
        out = torch.empty(self.num_seeds, stop - start, self.d, dtype=dt)
        if stop > start:
            b0, b1 = start // BLOCK, (stop - 1) // BLOCK
            for si, s in enumerate(self.seeds):
                for b in range(b0, b1 + 1):
                    lo, hi = max(start, b * BLOCK), min(stop, (b + 1) * BLOCK)
                    if hi - lo == BLOCK:  # whole block: draw in place, no copy
                        _fill_block(out[si, lo - start : hi - start], s, sid, b, self.d)
                    else:
                        out[si, lo - start : hi - start] = gaussian_block(s, sid, b, self.d, dt)[
                            lo - b * BLOCK : hi - b * BLOCK
                        ]
        if self.kind == "sphere":
            out = out / out.norm(dim=-1, keepdim=True).clamp_min(torch.finfo(dt).tiny)
        return out.to(dev)

    def full(self, *, device=None, dtype=None) -> torch.Tensor:
        """All rows, shape ``(num_seeds, n, d)``.

        The table E[s] = (e_0, ..., e_{n-1}) of every seed; for 'orthonormal', the rows of Q^T with G^T = Q R
        (computed in float64, sign(diag R) > 0), so E[s] E[s]^T = I_n.

        Parameters
        ----------
        device : str, torch.device or None, default None
            'cpu' (also for None), 'cuda', 'cuda:k' or 'auto'.
        dtype : torch.dtype, str or None, default None
            torch.float32 (also for None) or torch.float64, or their names.

        Returns
        -------
        torch.Tensor
            Shape (num_seeds, n, d), contiguous.
        """
        dev, dt = resolve_device(device), resolve_dtype(dtype)
        if self.kind != "orthonormal":
            return self.rows(0, self.n, device=dev, dtype=dt)
        g = Embedding(self.d, self.d, self.seeds, "gaussian", self.stream).rows(0, self.d, dtype=torch.float64)
        q, r = torch.linalg.qr(g.transpose(-1, -2)[..., : self.n])  # (S, d, n)
        q = q * torch.sign(torch.diagonal(r, dim1=-2, dim2=-1)).unsqueeze(-2)
        return q.transpose(-1, -2).to(device=dev, dtype=dt).contiguous()

    def chunks(self, chunk: int, *, device=None, dtype=None):
        """Iterate ``(start, stop, rows)`` over the table in pieces of ``chunk`` rows.

        Yields (a, min(a + chunk, n), E[:, a:b]) for a = 0, chunk, 2 chunk, ... < n; the pieces concatenate to
        :meth:`full` (an orthonormal table is built once and sliced).

        Parameters
        ----------
        chunk : int
            Rows per piece, chunk >= 1.
        device : str, torch.device or None, default None
            'cpu' (also for None), 'cuda', 'cuda:k' or 'auto'.
        dtype : torch.dtype, str or None, default None
            torch.float32 (also for None) or torch.float64, or their names.

        Yields
        ------
        start : int
            First row of the piece.
        stop : int
            One past its last row.
        rows : torch.Tensor
            Shape (num_seeds, stop - start, d).
        """
        chunk = check_int("chunk", chunk, 1)
        table = self.full(device=device, dtype=dtype) if self.kind == "orthonormal" else None
        for a in range(0, self.n, chunk):
            b = min(a + chunk, self.n)
            yield a, b, (table[:, a:b] if table is not None else self.rows(a, b, device=device, dtype=dtype))


def random_matrix(d: int, seeds, *, stream="w", device=None, dtype=None) -> torch.Tensor:
    """A d x d matrix with i.i.d. N(0, 1/d) entries per seed, shape ``(num_seeds, d, d)``.

    W[s, i, j] ~ N(0, 1/d): the d x d gaussian table ``Embedding(d, d, seeds, 'gaussian', stream)``.

    Parameters
    ----------
    d : int
        Dimension, d >= 1.
    seeds : int or sequence of int
        One seed or a non-empty sequence of seeds, each in [0, 2**62].
    stream : str or int, default 'w'
        'e', 'u', 'p', 'w', 'e2', 'misc' or an int in [0, 2**31].
    device : str, torch.device or None, default None
        'cpu' (also for None), 'cuda', 'cuda:k' or 'auto'.
    dtype : torch.dtype, str or None, default None
        torch.float32 (also for None) or torch.float64, or their names.

    Returns
    -------
    torch.Tensor
        Shape (num_seeds, d, d).
    """
    check_int("d", d, 1)
    check_alloc("d", 4.0 * len(check_seeds(seeds)) * d * d)
    return Embedding(d, d, seeds, "gaussian", stream).full(device=device, dtype=dtype)
