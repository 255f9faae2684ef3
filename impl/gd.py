"""Full-batch gradient descent on the population cross-entropy of a linear associative memory.

L(W) = sum_x p(x) l(f*(x), U W e_x) with l the cross-entropy, for a batch of B independent
problems (step sizes, correlations, imbalances, seeds flattened into one leading axis). Each GD
step is a few batched matrix products (no loop over tokens, problems or step sizes):

    logits S = E W^T U^T (B, N, M),  R = p (softmax(S) - onehot(f*)),  grad = U^T R^T E (B, d, d).

The Hessian in row-major vec(W) is H = sum_x p(x) (U^T A_x U) kron (e_x e_x^T) with
A_x = diag(sigma) - sigma sigma^T. Along a run we record the loss, the exact population 0-1 error
(ties count as errors), optionally the margins s_{f*(x)} - max_{y != f*(x)} s_y and the sharpness
lambda_max(H(W_t)).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from amemory.validate import (
    MAX_STEPS,
    check_alloc,
    check_array,
    check_bool,
    check_finite_tensor,
    check_float,
    check_int,
    check_prob,
    check_seeds,
    check_tensor,
    resolve_device,
    resolve_dtype,
)

from .embeddings import Embedding
from .sampling import generator

__all__ = [
    "Problem",
    "Trajectory",
    "ce_optimum",
    "first_hit_step",
    "gradient",
    "hessian",
    "logits",
    "loss",
    "margins",
    "orthogonal_problem",
    "random_problem",
    "run_gd",
    "sharpness",
    "two_token_problem",
    "zero_one_error",
]

_F_STREAM = 0x6D1


def _dtype(dtype) -> torch.dtype:
    return resolve_dtype("float64" if dtype is None else dtype)


@dataclass
class Problem:
    """B population problems: E (B, N, d), U (B, M, d), f (B, N) int64, p (B, N), eta (B,).

    Problem b has the population loss L_b(W) = sum_x p[b, x] l(f[b, x], U[b] W E[b, x]) and the GD step size
    eta[b]. ``grid`` holds the per-problem parameter values (numpy arrays of length B) that built it.
    E, U, p and eta must share one dtype, and all tensors one device.

    Parameters
    ----------
    E : torch.Tensor
        Input embeddings e_x as rows, shape (B, N, d), finite.
    U : torch.Tensor
        Output embeddings u_y as rows, shape (B, M, d) with M >= 2, finite.
    f : torch.Tensor
        The target maps, int64 of shape (B, N), values in [0, M - 1].
    p : torch.Tensor
        Token weights, shape (B, N), finite and non-negative (not renormalised).
    eta : torch.Tensor
        Step sizes, shape (B,), in (0, inf).
    grid : dict, default {}
        Parameter values per problem (name -> numpy array of length B); informational.
    """

    E: torch.Tensor
    U: torch.Tensor
    f: torch.Tensor
    p: torch.Tensor
    eta: torch.Tensor
    grid: dict = field(default_factory=dict)

    def __post_init__(self):
        for name in ("E", "U", "p", "eta"):
            check_tensor(name, getattr(self, name), nonneg=name in ("p", "eta"))
        E, U, f, p, eta = self.E, self.U, self.f, self.p, self.eta
        if E.ndim != 3 or U.ndim != 3 or E.shape[0] != U.shape[0] or E.shape[2] != U.shape[2]:
            raise ValueError(f"E must have shape (B, N, d) and U (B, M, d); got {tuple(E.shape)}, {tuple(U.shape)}")
        B, N, _ = E.shape
        M = U.shape[1]
        if M < 2:
            raise ValueError(f"M (rows of U) must be in [2, inf), got {M}")
        if not torch.is_tensor(f) or f.dtype != torch.int64 or f.shape != (B, N):
            raise ValueError(f"f must be an int64 tensor of shape ({B}, {N})")
        if int(f.min()) < 0 or int(f.max()) >= M:
            raise ValueError(f"f values must lie in [0, {M - 1}]")
        if p.shape != (B, N):
            raise ValueError(f"p must have shape ({B}, {N}), got {tuple(p.shape)}")
        if eta.shape != (B,) or bool((eta <= 0).any()):
            raise ValueError(f"eta must have shape ({B},) with entries in (0, inf)")
        if (
            not (E.dtype == U.dtype == p.dtype == eta.dtype)
            or len({E.device, U.device, f.device, p.device, eta.device}) != 1
        ):
            raise ValueError("E, U, p and eta must share dtype, and all tensors one device")

    @property
    def shape(self) -> tuple[int, int, int, int]:
        """(B, N, M, d).

        Returns
        -------
        tuple of int
            B problems, N tokens, M outputs, dimension d.
        """
        return self.E.shape[0], self.E.shape[1], self.U.shape[1], self.E.shape[2]

    def with_eta(self, eta) -> Problem:
        """The same problems with step sizes ``eta`` (a scalar or a (B,) array).

        eta_b <- eta (broadcast to B); the other fields are shared, not copied.

        Parameters
        ----------
        eta : float or array_like
            A scalar or a (B,) array of step sizes, in (0, inf).

        Returns
        -------
        Problem
            A new problem with the new ``eta`` (``grid`` unchanged).
        """
        B = self.shape[0]
        a = check_array("eta", eta)
        if a.ndim > 1 or (a.ndim == 1 and a.shape[0] not in (1, B)) or bool(np.any(a <= 0)):
            raise ValueError(f"eta must be a scalar or a ({B},) array of step sizes in (0, inf), got shape {a.shape}")
        e = torch.as_tensor(eta, dtype=self.E.dtype, device=self.E.device).expand(self.shape[0]).clone()
        return replace(self, eta=e)


def _as_1d(name: str, v, lo=None, hi=None, lo_open=False, hi_open=False) -> np.ndarray:
    if v is None or isinstance(v, (str, bytes)):
        raise ValueError(f"{name} must be a number or a non-empty 1-D sequence, got {v!r}")
    try:
        raw = np.asarray(v.detach().cpu() if torch.is_tensor(v) else v)
    except (TypeError, ValueError, RuntimeError):
        raise ValueError(f"{name} must be a number or a non-empty 1-D sequence of numbers") from None
    if raw.dtype == np.bool_ or raw.dtype.kind not in "iuf":
        raise ValueError(f"{name} must be a number or a non-empty 1-D sequence of real numbers, got dtype {raw.dtype}")
    a = np.atleast_1d(np.asarray(v, dtype=float))
    if a.ndim != 1 or a.size == 0:
        raise ValueError(f"{name} must be a number or a non-empty 1-D sequence")
    for x in a:
        check_float(name, float(x), lo, hi, lo_open=lo_open, hi_open=hi_open)
    return a


def two_token_problem(a, p0, eta, *, device=None, dtype=None) -> Problem:
    """The two-token model on the product grid a x p0 x eta (flattened in that order).

    e_0 = (1, 0), e_1 = (a, sqrt(1 - a^2)), u_0 = (1, 0), u_1 = (0, 1), f*(x) = x, p = (p0, 1 - p0).

    Parameters
    ----------
    a : float or sequence of float
        Correlations e_0^T e_1, each in [-1, 1].
    p0 : float or sequence of float
        Probabilities of token 0, each in (0, 1).
    eta : float or sequence of float
        GD step sizes, each in (0, inf).
    device : str, torch.device or None, default None
        'cpu' (also for None), 'cuda', 'cuda:k' or 'auto'.
    dtype : torch.dtype, str or None, default None
        torch.float64 (also for None) or torch.float32, or their names.

    Returns
    -------
    Problem
        B = len(a) len(p0) len(eta) problems (N = M = d = 2), ``grid`` keys 'a', 'p0', 'eta'.
    """
    a = _as_1d("a", a, -1.0, 1.0)
    p0 = _as_1d("p0", p0, 0.0, 1.0, lo_open=True, hi_open=True)
    eta = _as_1d("eta", eta, 0.0, lo_open=True)
    dev, dt = resolve_device(device), _dtype(dtype)
    G = np.array(list(itertools.product(a, p0, eta)))
    B = G.shape[0]
    ga, gp, ge = (torch.as_tensor(G[:, i], dtype=dt, device=dev) for i in range(3))
    E = torch.zeros(B, 2, 2, dtype=dt, device=dev)
    E[:, 0, 0] = 1.0
    E[:, 1, 0] = ga
    E[:, 1, 1] = (1.0 - ga**2).clamp_min(0.0).sqrt()
    U = torch.eye(2, dtype=dt, device=dev).expand(B, 2, 2).clone()
    f = torch.arange(2, device=dev).expand(B, 2).clone()
    p = torch.stack([gp, 1.0 - gp], -1)
    return Problem(E, U, f, p, ge, grid={"a": G[:, 0], "p0": G[:, 1], "eta": G[:, 2]})


def orthogonal_problem(p, M: int, d: int, eta, seeds, *, device=None, dtype=None) -> Problem:
    """Orthonormal e_x (N <= d) and u_y (M <= d), f*(x) = x mod M, on the grid eta x seeds.

    Problem b = k S + s has step size eta[k] and the embeddings of seeds[s] (e_x^T e_x' = 1{x = x'},
    u_y^T u_y' = 1{y = y'}).

    Parameters
    ----------
    p : array_like or torch.Tensor
        Token weights, shape (N,), finite, non-negative, with a positive sum (used as given).
    M : int
        Number of outputs, M >= 2.
    d : int
        Dimension, d >= max(N, M).
    eta : float or sequence of float
        GD step sizes, each in (0, inf).
    seeds : int or sequence of int
        One seed or a non-empty sequence of seeds, each in [0, 2**62].
    device : str, torch.device or None, default None
        'cpu' (also for None), 'cuda', 'cuda:k' or 'auto'.
    dtype : torch.dtype, str or None, default None
        torch.float64 (also for None) or torch.float32, or their names.

    Returns
    -------
    Problem
        B = len(eta) len(seeds) problems, ``grid`` keys 'eta' and 'seed'.
    """
    p_t = torch.as_tensor(check_prob("p", p, normalized=False))
    N = p_t.numel()
    M = check_int("M", M, 2)
    if isinstance(d, int) and not isinstance(d, bool) and d >= N:
        check_int("M", M, 2, d)  # d >= max(N, M): a too large M is named as M
    d = check_int("d", d, max(N, M))
    eta = _as_1d("eta", eta, 0.0, lo_open=True)
    seeds = check_seeds(seeds)
    dev, dt = resolve_device(device), _dtype(dtype)
    check_alloc("d", 8.0 * len(seeds) * (eta.size * (N + M) * d + 2 * d * d))
    E = Embedding(N, d, seeds, "orthonormal", "e").full(device=dev, dtype=dt)
    U = Embedding(M, d, seeds, "orthonormal", "u").full(device=dev, dtype=dt)
    S, K = len(seeds), eta.size
    idx = torch.arange(S, device=dev).repeat(K)  # problem b = k S + s
    f = (torch.arange(N, device=dev) % M).expand(K * S, N).clone()
    return Problem(
        E[idx],
        U[idx],
        f,
        p_t.to(device=dev, dtype=dt).expand(K * S, N).clone(),
        torch.as_tensor(np.repeat(eta, S), dtype=dt, device=dev),
        grid={"eta": np.repeat(eta, S), "seed": np.tile(np.array(seeds), K)},
    )


def random_problem(p, M: int, d: int, eta: float, seeds, *, kind: str = "gaussian", device=None, dtype=None) -> Problem:
    """One problem per seed: random embeddings of ``kind`` (N(0, 1/d) entries by default), f* uniform on [M].

    f*(x) ~ Uniform{0, ..., M - 1} i.i.d. over x, drawn from the seed's own generator (stream independent of
    the embeddings).

    Parameters
    ----------
    p : array_like or torch.Tensor
        Token weights, shape (N,), finite, non-negative, with a positive sum (used as given).
    M : int
        Number of outputs, M >= 2.
    d : int
        Dimension, d >= 1 (d >= max(N, M) for 'orthonormal').
    eta : float
        GD step size, in (0, inf), shared by the problems.
    seeds : int or sequence of int
        One seed or a non-empty sequence of seeds, each in [0, 2**62].
    kind : str, default 'gaussian'
        Embedding kind: 'gaussian', 'sphere' or 'orthonormal'.
    device : str, torch.device or None, default None
        'cpu' (also for None), 'cuda', 'cuda:k' or 'auto'.
    dtype : torch.dtype, str or None, default None
        torch.float64 (also for None) or torch.float32, or their names.

    Returns
    -------
    Problem
        B = len(seeds) problems, ``grid`` key 'seed'.
    """
    p_t = torch.as_tensor(check_prob("p", p, normalized=False))
    N = p_t.numel()
    M = check_int("M", M, 2)
    d = check_int("d", d, 1)
    eta = check_float("eta", eta, 0.0, lo_open=True)
    seeds = check_seeds(seeds)
    dev, dt = resolve_device(device), _dtype(dtype)
    check_alloc("M, d", 8.0 * len(seeds) * (N + M) * d)
    E = Embedding(N, d, seeds, kind, "e").full(device=dev, dtype=dt)
    U = Embedding(M, d, seeds, kind, "u").full(device=dev, dtype=dt)
    f = torch.stack([torch.randint(0, M, (N,), generator=generator(s, _F_STREAM)) for s in seeds]).to(dev)
    S = len(seeds)
    return Problem(
        E,
        U,
        f,
        p_t.to(device=dev, dtype=dt).expand(S, N).clone(),
        torch.full((S,), eta, dtype=dt, device=dev),
        grid={"seed": np.array(seeds)},
    )


# ---------------------------------------------------------------- the population quantities
def _check_W(W: torch.Tensor, prob: Problem) -> torch.Tensor:
    if not isinstance(prob, Problem):
        raise ValueError("prob must be an impl.gd.Problem")
    B, _, _, d = prob.shape
    if not torch.is_tensor(W) or W.shape != (B, d, d):
        raise ValueError(f"W must be a tensor of shape ({B}, {d}, {d})")
    return check_tensor("W", W)


def logits(W: torch.Tensor, prob: Problem) -> torch.Tensor:
    """S[b, x, y] = u_y^T W e_x, shape (B, N, M).

    Computed as E W^T U^T, batched over the problems.

    Parameters
    ----------
    W : torch.Tensor
        Memories, shape (B, d, d), finite.
    prob : Problem
        The B problems.

    Returns
    -------
    torch.Tensor
        Shape (B, N, M).
    """
    _check_W(W, prob)
    return prob.E @ W.transpose(-1, -2) @ prob.U.transpose(-1, -2)


def _onehot(prob: Problem) -> torch.Tensor:
    return torch.nn.functional.one_hot(prob.f, prob.shape[2]).to(prob.E.dtype)


def _stats(S: torch.Tensor, prob: Problem, oh: torch.Tensor):
    """(loss (B,), error (B,), margin (B, N), log-softmax (B, N, M)) from logits."""
    ls = torch.log_softmax(S, -1)
    loss_ = -(prob.p * (ls * oh).sum(-1)).sum(-1)
    true = (S * oh).sum(-1)
    other = S.masked_fill(oh.bool(), float("-inf")).amax(-1)
    marg = true - other
    err = (prob.p * (marg <= 0).to(S.dtype)).sum(-1)
    return loss_, err, marg, ls


def loss(W: torch.Tensor, prob: Problem) -> torch.Tensor:
    """L(W) = -sum_x p(x) log softmax(U W e_x)_{f*(x)}, shape (B,).

    Parameters
    ----------
    W : torch.Tensor
        Memories, shape (B, d, d), finite.
    prob : Problem
        The B problems.

    Returns
    -------
    torch.Tensor
        Shape (B,), >= 0.
    """
    return _stats(logits(W, prob), prob, _onehot(prob))[0]


def zero_one_error(W: torch.Tensor, prob: Problem) -> torch.Tensor:
    """sum_x p(x) 1{s_{f*(x)} <= max_{y != f*(x)} s_y} (ties are errors), shape (B,).

    s_y = u_y^T W e_x are the logits of token x.

    Parameters
    ----------
    W : torch.Tensor
        Memories, shape (B, d, d), finite.
    prob : Problem
        The B problems.

    Returns
    -------
    torch.Tensor
        Shape (B,), in [0, sum_x p(x)].
    """
    return _stats(logits(W, prob), prob, _onehot(prob))[1]


def margins(W: torch.Tensor, prob: Problem) -> torch.Tensor:
    """s_{f*(x)}(x) - max_{y != f*(x)} s_y(x), shape (B, N).

    s_y(x) = u_y^T W e_x; a margin <= 0 is an error.

    Parameters
    ----------
    W : torch.Tensor
        Memories, shape (B, d, d), finite.
    prob : Problem
        The B problems.

    Returns
    -------
    torch.Tensor
        Shape (B, N).
    """
    return _stats(logits(W, prob), prob, _onehot(prob))[2]


def gradient(W: torch.Tensor, prob: Problem) -> torch.Tensor:
    """grad L(W) = sum_x p(x) U^T (softmax(U W e_x) - delta_{f*(x)}) e_x^T, shape (B, d, d).

    Computed as U^T R^T E with R = p (softmax(S) - onehot(f*)), S the logits.

    Parameters
    ----------
    W : torch.Tensor
        Memories, shape (B, d, d), finite.
    prob : Problem
        The B problems.

    Returns
    -------
    torch.Tensor
        Shape (B, d, d).
    """
    S = logits(W, prob)
    R = prob.p.unsqueeze(-1) * (torch.softmax(S, -1) - _onehot(prob))
    return prob.U.transpose(-1, -2) @ R.transpose(-1, -2) @ prob.E


def hessian(W: torch.Tensor, prob: Problem) -> torch.Tensor:
    """H(W) = sum_x p(x) (U^T A_x U) kron (e_x e_x^T), shape (B, d^2, d^2), row-major vec(W).

    A_x = diag(sigma_x) - sigma_x sigma_x^T with sigma_x = softmax(U W e_x).

    Parameters
    ----------
    W : torch.Tensor
        Memories, shape (B, d, d), finite.
    prob : Problem
        The B problems.

    Returns
    -------
    torch.Tensor
        Shape (B, d^2, d^2), symmetric positive semi-definite.
    """
    S = logits(W, prob)
    sig = torch.softmax(S, -1)  # (B, N, M)
    A = torch.diag_embed(sig) - sig.unsqueeze(-1) * sig.unsqueeze(-2)
    K = prob.U.transpose(-1, -2).unsqueeze(1) @ A @ prob.U.unsqueeze(1)  # (B, N, d, d)
    B, _, _, d = prob.shape
    H = torch.einsum("bn,bnik,bnj,bnl->bijkl", prob.p, K, prob.E, prob.E)
    return H.reshape(B, d * d, d * d)


def sharpness(W: torch.Tensor, prob: Problem) -> torch.Tensor:
    """lambda_max(H(W)) per problem, shape (B,).

    The largest eigenvalue of the Hessian of :func:`hessian` (``torch.linalg.eigvalsh``).

    Parameters
    ----------
    W : torch.Tensor
        Memories, shape (B, d, d), finite.
    prob : Problem
        The B problems.

    Returns
    -------
    torch.Tensor
        Shape (B,), >= 0.
    """
    return torch.linalg.eigvalsh(hessian(W, prob))[..., -1]


# ---------------------------------------------------------------- gradient descent
@dataclass
class Trajectory:
    """A GD run recorded at ``steps`` (int64 (R,), step 0 is W_0).

    loss[b, r] = L_b(W_{steps[r]}), error[b, r] = 0-1 population error, margin[b, r, x] = margin of token x,
    sharpness[b, r] = lambda_max(H(W_{steps[r]})), all at the recorded steps.

    Parameters
    ----------
    steps : torch.Tensor
        int64 (R,), the recorded steps, strictly increasing, in [0, number of steps].
    loss : torch.Tensor
        (B, R) population cross-entropy.
    error : torch.Tensor
        (B, R) population 0-1 error (ties are errors).
    margin : torch.Tensor or None
        (B, R, N) margins, or None when not recorded.
    sharpness : torch.Tensor or None
        (B, R) lambda_max of the Hessian, or None when not recorded.
    W : torch.Tensor
        Final memories (B, d, d).
    """

    steps: torch.Tensor
    loss: torch.Tensor
    error: torch.Tensor
    margin: torch.Tensor | None
    sharpness: torch.Tensor | None
    W: torch.Tensor


def run_gd(
    prob: Problem,
    steps: int,
    *,
    W0: torch.Tensor | None = None,
    record=None,
    record_margins: bool = False,
    record_sharpness: bool = False,
) -> Trajectory:
    """Full-batch GD W_{t+1} = W_t - eta grad L(W_t), t < ``steps``, for every problem at once.

    record : None (every step 0..steps) or a sorted sequence of steps in [0, steps] to keep.
    The loop runs over steps only; loss, error and the gradient share one logits computation.

    Parameters
    ----------
    prob : Problem
        The B problems (their ``eta`` are the step sizes).
    steps : int
        Number of GD steps, >= 0.
    W0 : torch.Tensor or None, default None
        Initial memories (B, d, d), finite (None: W_0 = 0).
    record : sequence of int or None, default None
        Steps to record: None (every step 0..steps) or a strictly increasing integer sequence in [0, steps].
    record_margins : bool, default False
        Record the margins (B, R, N).
    record_sharpness : bool, default False
        Record lambda_max(H(W_t)) (an eigen-decomposition of a d^2 x d^2 matrix per problem and record).

    Returns
    -------
    Trajectory
        The recorded loss, error (and margins, sharpness) and the final W_steps.
    """
    if not isinstance(prob, Problem):
        raise ValueError("prob must be an impl.gd.Problem")
    steps = check_int("steps", steps, 0, MAX_STEPS)
    check_bool("record_margins", record_margins)
    check_bool("record_sharpness", record_sharpness)
    B, N, _M, d = prob.shape
    if record is None:
        check_alloc("steps", 8.0 * B * (steps + 1) * (3 + (N if record_margins else 0)))
    if W0 is None:
        W = torch.zeros(B, d, d, dtype=prob.E.dtype, device=prob.E.device)
    else:
        W = _check_W(check_finite_tensor("W0", W0), prob).to(dtype=prob.E.dtype, device=prob.E.device).clone()
    if record is None:
        rec = np.arange(steps + 1)
    else:
        rec = np.asarray(record) if not isinstance(record, (str, bytes)) else np.asarray([])
        if (
            rec.ndim != 1
            or rec.size == 0
            or not np.issubdtype(rec.dtype, np.integer)
            or rec.min() < 0
            or rec.max() > steps
            or np.any(np.diff(rec) <= 0)
        ):
            raise ValueError(f"record must be a strictly increasing integer sequence in [0, {steps}]")
    R = rec.size
    out_l = torch.empty(B, R, dtype=W.dtype, device=W.device)
    out_e = torch.empty_like(out_l)
    out_m = torch.empty(B, R, N, dtype=W.dtype, device=W.device) if record_margins else None
    out_s = torch.empty_like(out_l) if record_sharpness else None
    oh = _onehot(prob)
    UT, eta = prob.U.transpose(-1, -2), prob.eta.view(B, 1, 1)
    j = 0
    for t in range(steps + 1):
        S = prob.E @ W.transpose(-1, -2) @ prob.U.transpose(-1, -2)
        if j < R and rec[j] == t:
            l_, e_, m_, _ = _stats(S, prob, oh)
            out_l[:, j], out_e[:, j] = l_, e_
            if out_m is not None:
                out_m[:, j] = m_
            if out_s is not None:
                out_s[:, j] = sharpness(W, prob)
            j += 1
        if t == steps:
            break
        Rg = prob.p.unsqueeze(-1) * (torch.softmax(S, -1) - oh)
        W = W - eta * (UT @ Rg.transpose(-1, -2) @ prob.E)
    return Trajectory(torch.as_tensor(rec, dtype=torch.int64), out_l, out_e, out_m, out_s, W)


def first_hit_step(values: torch.Tensor, steps: torch.Tensor, level: float = 0.0) -> torch.Tensor:
    """First recorded step with values <= level, per row of ``values`` (B, R); -1 where never.

    out[b] = steps[min {r : values[b, r] <= level}], or -1 if the set is empty.

    Parameters
    ----------
    values : torch.Tensor
        Shape (B, R), e.g. ``Trajectory.error``.
    steps : array_like or torch.Tensor
        Shape (R,), the step of each column.
    level : float, default 0.0
        Finite threshold.

    Returns
    -------
    torch.Tensor
        Shape (B,), the steps' dtype (int64 for ``Trajectory.steps``).
    """
    if not torch.is_tensor(values) or values.ndim != 2:
        raise ValueError("values must be a (B, R) tensor")
    check_tensor("values", values, ndim=2, kind="any")
    if steps is None or isinstance(steps, (str, bytes)):
        raise ValueError(f"steps must be an array of integer steps, got {steps!r}")
    try:
        steps = torch.as_tensor(steps)
    except (TypeError, ValueError, RuntimeError):
        raise ValueError("steps must be an array of integer steps") from None
    if steps.is_complex() or steps.dtype == torch.bool:
        raise ValueError(f"steps must be an array of integer steps, got dtype {steps.dtype}")
    if steps.is_floating_point() and not bool((torch.isfinite(steps) & (steps == steps.round())).all()):
        raise ValueError("steps must be integer-valued (finite, no fractions)")
    if steps.shape != (values.shape[1],):
        raise ValueError(f"steps must have shape ({values.shape[1]},), got {tuple(steps.shape)}")
    level = check_float("level", level)
    hit = values <= level
    first = hit.to(torch.int64).argmax(-1)
    return torch.where(hit.any(-1), steps.to(values.device)[first], torch.full_like(first, -1))


def ce_optimum(prob: Problem, *, W0: torch.Tensor | None = None, iters: int = 100, tol: float = 1e-11):
    """Minimise L by damped Newton (Levenberg-Marquardt, backtracking on L), batched over problems.

    Step: W <- W + s Delta with (H + mu I) vec(Delta) = -vec(grad L(W)), mu = 1e-10 tr(H), and s halved
    (at most 40 times) until L(W + s Delta) <= L(W) + 1e-4 s <grad L, Delta>; problems with
    ||grad L|| <= tol stop moving.

    Only for problems with a finite minimiser (not linearly separable). Returns (W (B, d, d), grad
    norm (B,)); directions where H vanishes (e.g. W^T 1 with U^T 1 = 0) are left untouched.

    Parameters
    ----------
    prob : Problem
        The B problems (``eta`` is not used).
    W0 : torch.Tensor or None, default None
        Starting memories (B, d, d), finite (None: 0).
    iters : int, default 100
        Maximum number of Newton steps, >= 1.
    tol : float, default 1e-11
        Gradient-norm tolerance, in (0, inf).

    Returns
    -------
    W : torch.Tensor
        Shape (B, d, d).
    grad_norm : torch.Tensor
        ||grad L(W)||_F per problem, shape (B,).
    """
    if not isinstance(prob, Problem):
        raise ValueError("prob must be an impl.gd.Problem")
    iters = check_int("iters", iters, 1)
    tol = check_float("tol", tol, 0.0, lo_open=True)
    B, _, _, d = prob.shape
    W = (
        torch.zeros(B, d, d, dtype=prob.E.dtype, device=prob.E.device)
        if W0 is None
        else _check_W(check_finite_tensor("W0", W0), prob).clone()
    )
    eye = torch.eye(d * d, dtype=W.dtype, device=W.device)
    for _ in range(iters):
        g = gradient(W, prob).reshape(B, -1)
        gn = g.norm(dim=-1)
        if bool((gn <= tol).all()):
            break
        H = hessian(W, prob)
        mu = 1e-10 * H.diagonal(dim1=-2, dim2=-1).sum(-1).clamp_min(1e-300)
        step = -torch.linalg.solve(H + mu.view(B, 1, 1) * eye, g.unsqueeze(-1)).squeeze(-1).reshape(B, d, d)
        L0 = loss(W, prob)
        s = torch.ones(B, dtype=W.dtype, device=W.device)
        for _ in range(40):  # backtracking, batched: halve s where the loss did not decrease enough
            Wn = W + s.view(B, 1, 1) * step
            ok = loss(Wn, prob) <= L0 + 1e-4 * s * (g * step.reshape(B, -1)).sum(-1)
            if bool(ok.all()):
                break
            s = torch.where(ok, s, s / 2)
        done = (gn <= tol).view(B, 1, 1)
        W = torch.where(done, W, W + s.view(B, 1, 1) * step)
    return W, gradient(W, prob).reshape(B, -1).norm(dim=-1)
