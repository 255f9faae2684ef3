"""The three models of the authors' optimiser grid (scaling-law talk, 001 "Training dynamic(s)"), trained at once.

The authors' grid (GitHub facebookresearch/pal, ``projects/scaling_law/grid_experiments``, grid ``finer_dim``)
trains three associative memories on x ~ Zipf(alpha) on [N], y = f*(x) = x mod M (N = 100, M = 5, alpha = 2),
with cross-entropy on the batch mean, one pass over T samples, and reports the population error
sum_x p(x) 1{argmax_y logit_y(x) != f*(x)} (argmax: the first index on ties). In row convention (a token's
embedding is a row e_x of E, as in their code):

- ``matrix``: logits(x) = n(e_x W) U^T, W (d, d) learned from W0 with N(0, 1/d) entries; E (N, d) and U^T (d, M)
  fixed with N(0, 1/d) entries (not unit-normalised). e_x W is W^T e_x in the talk's column convention; W and W^T
  have the same law, so this is the talk's model.
- ``exponential``: logits(x) = n(relu(e_x)) U^T with E and U^T learned (no W): the ReLU memory of 001 whose
  capacity grows exponentially with d.
- ``learnable``: logits(x) = n(e_x W) U^T with W, E and U^T all learned.

n is the identity (``norm='none'``) or the authors' "layer norm" (``norm='l2'``): z / sqrt(sum_i z_i^2 + 1e-6),
no centring, no affine parameters. Optimisers, as theirs: SGD at rate lr for every parameter; Adam with betas
(0, 0), eps 1e-8 (no moments: the step is lr' g / (|g| + eps) per entry) at rate lr' = lr / d for W (``matrix``,
``learnable``) and lr' = lr / sqrt(d) for E and U^T (``exponential``, ``learnable``); no weight decay.

Random draws (per seed, as theirs): one generator seeded with the seed draws, in order, W0 = randn(d, d) / sqrt(d)
(not for ``exponential``), E = randn(N, d) / sqrt(d), U^T = randn(d, M) / sqrt(d) and then the T tokens by
``torch.multinomial(p, T, replacement=True)`` with p in float32, so a seed here is a seed of their runs (whether the
draws agree bit for bit also depends on torch's CPU random-number code, which is stable across recent versions).
Differences, on purpose: one run of T_max samples is evaluated after each T in ``checkpoints`` (their runs at
T = 1024, 10240, 102400 are separate runs; with a constant rate the state after T samples has the same law), and
every seed and rate is trained at once.

:func:`train_grid_model` writes the gradients out by hand (no autograd) for every seed and rate at once;
:func:`reference_grid_autograd` is the plain per-step autograd loop with ``torch.optim`` (one seed, one rate),
kept as the reference for correctness and speed. Cost per step: O(B d^2) for the models with W (the d x d
gradient is dense, so Adam touches every entry), except SGD on ``matrix``, which is run in the token space
H = E W (N x d, O(N B d) per step, identical up to rounding) because only the rows e_x W of the N tokens matter.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from amemory.validate import check_choice, check_float, check_int, check_seeds, resolve_device, resolve_dtype

__all__ = [
    "ADAM_EPS",
    "GRID_NORMS",
    "GRID_OPTIMIZERS",
    "INITS",
    "L2_EPS",
    "MAX_GRID_SAMPLES",
    "MODELS",
    "GridResult",
    "authors_grid_task",
    "draw_run",
    "grid_rates",
    "reference_grid_autograd",
    "train_grid_model",
]

MODELS = ("matrix", "exponential", "learnable")
GRID_OPTIMIZERS = ("sgd", "adam")
GRID_NORMS = ("none", "l2", "layernorm")
INITS = ("gaussian", "zero")
ADAM_EPS = 1e-8
L2_EPS = 1e-6
LN_EPS = 1e-5  # norm='layernorm' (the suite's variant), as torch.nn.functional.layer_norm
MAX_GRID_SAMPLES = 10**8  # documented maximum of T (a run of 10^8 samples at batch 1 is 10^8 Python steps)
_MAX_D = 1 << 15
_MAX_VOCAB = 1 << 20
_PAIR_BYTES = 8 << 20  # above this size of the stacked W, the W step is done one (seed, rate) at a time


def _check_sizes(model, N, M, d, optimizer, norm):
    model = check_choice("model", model, MODELS)
    N = check_int("N", N, 1, _MAX_VOCAB)
    M = check_int("M", M, 2, _MAX_VOCAB)
    d = check_int("d", d, 1, _MAX_D)
    optimizer = check_choice("optimizer", optimizer, GRID_OPTIMIZERS)
    norm = check_choice("norm", norm, GRID_NORMS)
    return model, N, M, d, optimizer, norm


def grid_rates(model: str, optimizer: str, lr: float, d: int) -> dict[str, float]:
    """The per-parameter rates of the authors' grid: the rate each learned parameter is stepped with.

    SGD: lr for every parameter. Adam (betas (0, 0)): lr / d for W, lr / sqrt(d) for E and U^T.

    Parameters
    ----------
    model : str
        'matrix', 'exponential' or 'learnable'.
    optimizer : str
        'sgd' or 'adam'.
    lr : float
        The grid's rate, finite and > 0.
    d : int
        Dimension, in [1, 32768].

    Returns
    -------
    dict
        {parameter name: rate} for the learned parameters of ``model`` ('W', 'E', 'UT').
    """
    model = check_choice("model", model, MODELS)
    optimizer = check_choice("optimizer", optimizer, GRID_OPTIMIZERS)
    lr = check_float("lr", lr, 0.0, None, lo_open=True)
    d = check_int("d", d, 1, _MAX_D)
    names = {"matrix": ("W",), "exponential": ("E", "UT"), "learnable": ("W", "E", "UT")}[model]
    if optimizer == "sgd":
        return {k: lr for k in names}
    return {k: lr / d if k == "W" else lr / math.sqrt(d) for k in names}


def _zipf32(N: int, alpha: float) -> torch.Tensor:
    p = (torch.arange(N, dtype=torch.float32) + 1.0) ** (-alpha)
    return p / p.sum()


def draw_run(model: str, N: int, M: int, d: int, T: int, seed: int, *, alpha: float = 2.0) -> dict[str, torch.Tensor]:
    """The random draws of one seed, in the authors' order, on one generator seeded with ``seed`` (float32, CPU).

    W0 = randn(d, d) / sqrt(d) (models with W), E = randn(N, d) / sqrt(d), U^T = randn(d, M) / sqrt(d), then
    x_1..x_T ~ multinomial(p, T, replacement=True) with p_x = (x + 1)^(-alpha) / sum (float32).

    Parameters
    ----------
    model : str
        'matrix', 'exponential' or 'learnable'.
    N : int
        Number of tokens, in [1, 2**20].
    M : int
        Number of outputs, in [2, 2**20].
    d : int
        Dimension, in [1, 32768].
    T : int
        Samples, in [1, 10**8].
    seed : int
        Seed, in [0, 2**62].
    alpha : float, default 2.0
        Zipf exponent, in [0, 1000] (0: uniform tokens).

    Returns
    -------
    dict
        {'W0': (d, d) or None, 'E': (N, d), 'UT': (d, M), 'tokens': int64 (T,), 'p': float32 (N,)}.
    """
    model, N, M, d, _, _ = _check_sizes(model, N, M, d, "sgd", "none")
    T = check_int("T", T, 1, MAX_GRID_SAMPLES)
    seed = check_int("seed", seed, 0, 2**62)  # one seed: a list is refused, not read as its first entry
    alpha = check_float("alpha", alpha, 0.0, 1e3)
    g = torch.Generator().manual_seed(seed)
    s = math.sqrt(d)
    W0 = torch.randn(d, d, generator=g) / s if model != "exponential" else None
    E = torch.randn(N, d, generator=g) / s
    UT = torch.randn(d, M, generator=g) / s
    p = _zipf32(N, alpha)
    tokens = torch.multinomial(p, T, replacement=True, generator=g)
    return {"W0": W0, "E": E, "UT": UT, "tokens": tokens, "p": p}


@dataclass
class GridResult:
    """Result of :func:`train_grid_model`.

    checkpoints (R,): samples seen at each evaluation; error (S, L, R): population error
    sum_x p(x) 1{argmax_y logit_y(x) != f*(x)} (first index on ties) after checkpoints[r] samples; finite (S, L, R):
    whether every learned parameter was finite then (False: diverged; the error there is 1 by convention);
    params: the final learned parameters {'W': (S, L, d, d), 'E': (S, L, N, d), 'UT': (S, L, d, M)} (those the
    model learns), with ``H`` = E W (S, L, N, d) in place of W for SGD on ``matrix``.

    Parameters
    ----------
    checkpoints : numpy.ndarray
        int (R,), increasing, in [batch, T].
    error : torch.Tensor
        float64 (S, L, R), in [0, 1].
    finite : torch.Tensor
        bool (S, L, R).
    params : dict
        Final learned parameters.
    """

    checkpoints: np.ndarray
    error: torch.Tensor
    finite: torch.Tensor
    params: dict


def _checkpoints(checkpoints, T: int, batch: int) -> np.ndarray:
    if checkpoints is None:
        return np.array([T], dtype=np.int64)
    try:
        ck = np.asarray(checkpoints)
        if ck.ndim != 1 or ck.size == 0 or (ck.dtype.kind not in "iu" and not np.all(np.mod(ck, 1) == 0)):
            raise TypeError
        ck = ck.astype(np.int64)
    except (TypeError, ValueError):
        raise ValueError(
            f"checkpoints must be a non-empty list of sample counts, multiples of batch={batch} in [batch, T={T}], "
            f"got {checkpoints!r}"
        ) from None
    if np.any(np.diff(ck) <= 0) or ck[0] < batch or ck[-1] > T or np.any(ck % batch):
        raise ValueError(
            f"checkpoints must be increasing multiples of batch={batch} in [batch, T={T}], got {ck.tolist()}"
        )
    return ck


def _normalise(h: torch.Tensor, norm: str):
    """z = n(h) and the factor its backward pass needs (None, the L2 factor r, or the LayerNorm's 1/std)."""
    if norm == "none":
        return h, None
    if norm == "layernorm":  # centred, unit variance, no affine parameters (the suite's model)
        c = h - h.mean(-1, keepdim=True)
        inv = torch.rsqrt((c * c).mean(-1, keepdim=True) + LN_EPS)
        return c * inv, inv
    r = torch.rsqrt((h * h).sum(-1, keepdim=True) + L2_EPS)
    return h * r, r


def _norm_back(gz: torch.Tensor, z: torch.Tensor, r, norm: str) -> torch.Tensor:
    """Gradient in h: L2 (z = r h, r = (sum h^2 + eps)^(-1/2)) r (gz - z (gz . z)); LayerNorm (z = (h - mean) inv)
    inv (gz - mean(gz) - z mean(gz z))."""
    if norm == "none":
        return gz
    if norm == "layernorm":
        return r * (gz - gz.mean(-1, keepdim=True) - z * (gz * z).mean(-1, keepdim=True))
    return r * (gz - z * (gz * z).sum(-1, keepdim=True))


def _step(P: torch.Tensor, G: torch.Tensor, rate: torch.Tensor, optimizer: str) -> None:
    """P -= rate G (SGD) or P -= rate G / (|G| + eps) (Adam with betas (0, 0)); rate broadcasts over P."""
    if optimizer == "adam":
        G = G / (G.abs() + ADAM_EPS)
    P.sub_(G * rate)


def _w_step(W, ExT, Gh, rate, optimizer, GEx=None):
    """Gradient ExT @ Gh (S, L, d, d) of W and its step; with GEx, also writes Gh W^T (before the step) into it.

    Small stacks are done in one batched product; large ones one (seed, rate) at a time with reused buffers, so
    the d x d gradient of one pair stays in cache (a stack of 40 gradients at d = 1000 is 160 MB per pass).
    """
    S, L, d, _ = W.shape
    if GEx is not None:
        torch.matmul(Gh, W.transpose(-1, -2), out=GEx)
    if W.numel() * W.element_size() <= _PAIR_BYTES:
        _step(W, (ExT.unsqueeze(1) if ExT.dim() == 3 else ExT) @ Gh, rate.reshape(S, L, 1, 1), optimizer)
        return
    g = torch.empty(d, d, dtype=W.dtype, device=W.device)
    den = torch.empty_like(g) if optimizer == "adam" else None
    single = ExT.dim() == 3  # (S, d, B): shared by the rates of a seed
    for s in range(S):
        for l in range(L):
            torch.mm(ExT[s] if single else ExT[s, l], Gh[s, l], out=g)
            if den is None:
                W[s, l].sub_(g, alpha=float(rate[s, l]))
            else:
                torch.abs(g, out=den)
                W[s, l].addcdiv_(g, den.add_(ADAM_EPS), value=-float(rate[s, l]))


def train_grid_model(
    model: str,
    N: int,
    M: int,
    d: int,
    T: int,
    lrs,
    seeds,
    *,
    alpha: float = 2.0,
    batch: int = 16,
    optimizer: str = "adam",
    norm: str = "none",
    init: str = "gaussian",
    checkpoints=None,
    draws: Sequence[Mapping] | None = None,
    device=None,
    dtype=None,
) -> GridResult:
    """Train one of the authors' three models for every seed and rate at once, with hand-written gradients.

    Step t on batch x_{tB+1..(t+1)B}: loss (1/B) sum_i CE(logits(x_i), f*(x_i)), D_i = (softmax - onehot(y_i)) / B,
    gradients dU^T = z^T D, dz = D U, dh = dz (``norm='none'``) or r (dz - z (dz . z)) (``norm='l2'``);
    ``matrix``/``learnable``: dW = E_x^T dh, dE_x = dh W^T; ``exponential``: dE_x = dh * 1{e_x > 0}; the rows of dE
    are summed over repeats of a token. Every parameter then takes its step at once (the gradients of step t are
    all taken at the parameters of step t): SGD P -= lr_P g; Adam (betas (0, 0)) P -= lr_P g / (|g| + 1e-8), with
    lr_P from :func:`grid_rates`. See the module docstring for the models and the draws.

    Parameters
    ----------
    model : str
        'matrix', 'exponential' or 'learnable'.
    N : int
        Number of tokens, in [1, 2**20].
    M : int
        Number of outputs (f*(x) = x mod M), in [2, 2**20].
    d : int
        Dimension, in [1, 32768].
    T : int
        Samples, a multiple of ``batch``, in [batch, 10**8].
    lrs : float or sequence of float
        The grid's rates (L,), finite and > 0 (the parameters' rates follow from :func:`grid_rates`).
    seeds : int or sequence of int
        Seeds (S,), each in [0, 2**62] (the authors used 42..51).
    alpha : float, default 2.0
        Zipf exponent, in [0, 1000] (0: uniform tokens).
    batch : int, default 16
        Batch size, in [1, T].
    optimizer : str, default 'adam'
        'sgd' or 'adam' (betas (0, 0), eps 1e-8).
    norm : str, default 'none'
        'none', 'l2' (the authors' "layer norm") or 'layernorm' (the suite's variant: centred, unit variance,
        eps 1e-5, no affine parameters).
    init : str, default 'gaussian'
        Start of W (models with W): 'gaussian' (the authors' W0) or 'zero' (the suite's variant; the draws of E, U
        and the tokens stay those of the seed, so a variant is paired with the authors' run of that seed).
    checkpoints : sequence of int, optional
        Sample counts after which the population error is measured, increasing multiples of ``batch`` in
        [batch, T] (default: [T]).
    draws : sequence of dict, optional
        One :func:`draw_run` result per seed (default: drawn here); tokens must hold at least T samples.
    device : str or torch.device, optional
        'cpu' (default), 'cuda', 'cuda:k' or 'auto'.
    dtype : torch.dtype, optional
        torch.float32 (default, as the authors) or torch.float64.

    Returns
    -------
    GridResult
        Errors (S, L, R) after each checkpoint, finiteness and the final parameters.
    """
    model, N, M, d, optimizer, norm = _check_sizes(model, N, M, d, optimizer, norm)
    init = check_choice("init", init, INITS)
    T = check_int("T", T, 1, MAX_GRID_SAMPLES)
    batch = check_int("batch", batch, 1, T)
    if T % batch:
        raise ValueError(f"T must be a multiple of batch={batch}, got T={T}")
    lr_list = [lrs] if isinstance(lrs, (int, float)) and not isinstance(lrs, bool) else lrs
    try:
        lr_list = [check_float("lrs", v, 0.0, 1e12, lo_open=True) for v in lr_list]
    except TypeError:
        raise ValueError(f"lrs must be a rate > 0 or a non-empty list of them, got {lrs!r}") from None
    if not lr_list:
        raise ValueError("lrs must be a non-empty list of rates > 0, got []")
    seeds = check_seeds(seeds)
    alpha = check_float("alpha", alpha, 0.0, 1e3)
    ck = _checkpoints(checkpoints, T, batch)
    dev = resolve_device(device)
    dt = resolve_dtype(dtype) if dtype is not None else torch.float32
    if dt not in (torch.float32, torch.float64):
        raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype!r}")
    S, L = len(seeds), len(lr_list)
    need = S * L * (d * d * (3 if model != "exponential" else 0) + 3 * N * d) * (4 if dt == torch.float32 else 8)
    if need > 64 << 30:
        raise ValueError(f"d={d} with {S} seeds and {L} rates needs about {need / 2**30:.0f} GiB; at most 64 GiB")
    if draws is None:
        draws = [draw_run(model, N, M, d, T, s, alpha=alpha) for s in seeds]
    elif len(draws) != S or any(len(dr["tokens"]) < T for dr in draws):
        raise ValueError(f"draws must hold one draw_run result per seed ({S}) with at least T={T} tokens")

    def stack(key):
        return torch.stack([dr[key] for dr in draws]).to(dev, dt)

    E0, UT0 = stack("E"), stack("UT")  # (S, N, d), (S, d, M)
    tokens = torch.stack([dr["tokens"][:T] for dr in draws]).to(dev)  # (S, T)
    p = draws[0]["p"].to(dev, torch.float64)
    f = torch.arange(N, device=dev) % M
    onehot = torch.nn.functional.one_hot(f, M).to(dt)
    rates = [grid_rates(model, optimizer, lr, d) for lr in lr_list]
    rate = {k: torch.tensor([r[k] for r in rates], device=dev, dtype=dt) for k in rates[0]}

    def rate_of(k, extra):  # (1, L, 1, ...) or (S, L) for the pair loop
        return rate[k].view(1, L, *([1] * extra))

    learn_E = model != "matrix"
    learn_W = model != "exponential"
    token_space = model == "matrix" and optimizer == "sgd"  # H = E W (S, L, N, d)
    P: dict[str, torch.Tensor] = {}
    if learn_W:
        W0 = stack("W0").unsqueeze(1)  # (S, 1, d, d)
        if init == "zero":
            W0 = torch.zeros_like(W0)
        if token_space:
            P["H"] = (E0.unsqueeze(1) @ W0).repeat(1, L, 1, 1)
            gram = E0 @ E0.transpose(-1, -2)  # (S, N, N)
        else:
            P["W"] = W0.repeat(1, L, 1, 1)
    if learn_E:
        P["E"] = E0.unsqueeze(1).repeat(1, L, 1, 1)
        P["UT"] = UT0.unsqueeze(1).repeat(1, L, 1, 1)
    UT_fixed = UT0.unsqueeze(1)  # (S, 1, d, M)
    E_fixed = E0

    def logits_all():
        if token_space:
            h = P["H"]
        elif model == "matrix":
            h = E_fixed.unsqueeze(1) @ P["W"]
        elif model == "learnable":
            h = P["E"] @ P["W"]
        else:
            h = torch.relu(P["E"])
        z, _ = _normalise(h, norm)
        return z @ (P["UT"] if learn_E else UT_fixed)  # (S, L, N, M)

    errs = torch.zeros(S, L, len(ck), dtype=torch.float64, device=dev)
    fin = torch.zeros(S, L, len(ck), dtype=torch.bool, device=dev)
    arS = torch.arange(S, device=dev).view(S, 1)
    arS3, arL3 = arS.view(S, 1, 1), torch.arange(L, device=dev).view(1, L, 1)
    rW = rate["W"].view(1, L).expand(S, L) if learn_W else None
    # Samples of one token in a batch share h, z, the softmax and the label, so a batch acts through its distinct
    # tokens u with weights c_u / B (c_u: repeats): per step the present tokens first (by id), padded to the largest
    # count over seeds with absent tokens of weight 0 (their gradients are 0, so they do not move).
    steps = T // batch
    counts = torch.zeros(S, steps, N, device=dev, dtype=dt)
    counts.scatter_add_(2, tokens.view(S, steps, batch), torch.ones(S, steps, batch, device=dev, dtype=dt))
    present = counts > 0
    order = torch.argsort((~present).to(torch.int8), dim=-1, stable=True)  # (S, steps, N)
    n_t = present.sum(-1).amax(0).tolist()  # (steps,)
    weight = counts.gather(2, order).div_(batch)  # (S, steps, N): c_u / B in the order of ``order``
    ci = 0
    for t in range(steps):
        n = n_t[t]
        U = order[:, t, :n]  # (S, n) distinct tokens (then absent ones)
        w = weight[:, t, :n].view(S, 1, n, 1)
        Y = onehot[U].unsqueeze(1)  # (S, 1, n, M)
        if learn_E:
            Ex = P["E"][arS3, arL3, U.unsqueeze(1)]  # (S, L, n, d)
        else:
            Ex = E_fixed[arS, U]  # (S, n, d)
        if token_space:
            h = P["H"][arS3, arL3, U.unsqueeze(1)]
        elif learn_W:
            h = (Ex if learn_E else Ex.unsqueeze(1)) @ P["W"]
        else:
            h = torch.relu(Ex)
        z, r = _normalise(h, norm)
        UT = P["UT"] if learn_E else UT_fixed
        D = torch.softmax(z @ UT, -1).sub_(Y).mul_(w)  # (S, L, n, M): (softmax - onehot) c_u / B
        gh = _norm_back(D @ UT.transpose(-1, -2), z, r, norm)  # (S, L, n, d)
        gUT = z.transpose(-1, -2) @ D if learn_E else None
        gEx = None
        if token_space:  # H -= lr E E_u^T dh: every token's row moves
            P["H"].sub_((gram[arS, :, U].transpose(1, 2).unsqueeze(1) @ gh) * rate_of("W", 2))
        elif learn_W:
            gEx = torch.empty_like(gh) if learn_E else None
            _w_step(P["W"], Ex.transpose(-1, -2), gh, rW, optimizer, gEx)
        else:
            gEx = gh * (Ex > 0)
        if learn_E:  # only the rows of the batch's tokens have a gradient (the others' step is 0 with SGD and Adam)
            G = gEx / (gEx.abs() + ADAM_EPS) if optimizer == "adam" else gEx
            P["E"][arS3, arL3, U.unsqueeze(1)] = Ex - G * rate_of("E", 2)
            _step(P["UT"], gUT, rate_of("UT", 2), optimizer)
        if ci < ck.size and (t + 1) * batch == ck[ci]:
            lg = logits_all()
            wrong = lg.argmax(-1) != f  # (S, L, N), argmax takes the first index on ties
            ok = torch.ones(S, L, dtype=torch.bool, device=dev)
            for v in P.values():
                ok &= torch.isfinite(v).flatten(2).all(-1)
            errs[..., ci] = torch.where(ok, (wrong.double() * p).sum(-1), torch.ones_like(errs[..., ci]))
            fin[..., ci] = ok
            ci += 1
    return GridResult(checkpoints=ck, error=errs.cpu(), finite=fin.cpu(), params=P)


def reference_grid_autograd(
    model: str,
    N: int,
    M: int,
    d: int,
    T: int,
    lr: float,
    seed: int,
    *,
    alpha: float = 2.0,
    batch: int = 16,
    optimizer: str = "adam",
    norm: str = "none",
    init: str = "gaussian",
    dtype=None,
) -> dict:
    """The per-step autograd loop (one seed, one rate) with ``torch.optim.SGD`` / ``torch.optim.Adam``.

    The same draws (:func:`draw_run`), forward pass, loss and parameter groups as :func:`train_grid_model`;
    gradients by autograd, steps by ``torch.optim`` (Adam with betas (0, 0), eps 1e-8, the rates of
    :func:`grid_rates` per parameter group). The reference of the batched trainer in ``tests/``.

    Parameters
    ----------
    model : str
        'matrix', 'exponential' or 'learnable'.
    N : int
        Number of tokens, in [1, 2**20].
    M : int
        Number of outputs, in [2, 2**20].
    d : int
        Dimension, in [1, 32768].
    T : int
        Samples, a multiple of ``batch``, in [batch, 10**8].
    lr : float
        The grid's rate, finite and > 0.
    seed : int
        Seed, in [0, 2**62].
    alpha : float, default 2.0
        Zipf exponent, in [0, 1000] (0: uniform tokens).
    batch : int, default 16
        Batch size, in [1, T].
    optimizer : str, default 'adam'
        'sgd' or 'adam'.
    norm : str, default 'none'
        'none', 'l2' or 'layernorm'.
    init : str, default 'gaussian'
        'gaussian' or 'zero' (start of W).
    dtype : torch.dtype, optional
        torch.float32 (default) or torch.float64.

    Returns
    -------
    dict
        {'W': (d, d) or None, 'E': (N, d), 'UT': (d, M), 'error': float}: the final parameters and the final
        population error.
    """
    model, N, M, d, optimizer, norm = _check_sizes(model, N, M, d, optimizer, norm)
    T = check_int("T", T, 1, MAX_GRID_SAMPLES)
    batch = check_int("batch", batch, 1, T)
    if T % batch:
        raise ValueError(f"T must be a multiple of batch={batch}, got T={T}")
    lr = check_float("lr", lr, 0.0, 1e12, lo_open=True)
    init = check_choice("init", init, INITS)
    dt = resolve_dtype(dtype) if dtype is not None else torch.float32
    dr = draw_run(model, N, M, d, T, seed, alpha=alpha)
    if dr["W0"] is not None and init == "zero":
        dr["W0"] = torch.zeros_like(dr["W0"])
    W = dr["W0"].to(dt).requires_grad_(model != "exponential") if dr["W0"] is not None else None
    E = dr["E"].to(dt).requires_grad_(model != "matrix")
    UT = dr["UT"].to(dt).requires_grad_(model != "matrix")
    rates = grid_rates(model, optimizer, lr, d)
    named = {"W": W, "E": E, "UT": UT}
    groups = [{"params": [named[k]], "lr": v} for k, v in rates.items()]
    opt = (
        torch.optim.SGD(groups, lr=lr)
        if optimizer == "sgd"
        else torch.optim.Adam(groups, betas=(0.0, 0.0), eps=ADAM_EPS)
    )
    y_all = torch.arange(N) % M

    def forward(x):
        h = torch.relu(E[x]) if model == "exponential" else E[x] @ W
        if norm == "l2":
            h = h / torch.sqrt((h**2).sum(-1, keepdim=True) + L2_EPS)
        elif norm == "layernorm":
            h = torch.nn.functional.layer_norm(h, (d,), eps=LN_EPS)
        return h @ UT

    tok = dr["tokens"]
    for t in range(T // batch):
        x = tok[t * batch : (t + 1) * batch]
        loss = torch.nn.functional.cross_entropy(forward(x), y_all[x])
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        wrong = forward(torch.arange(N)).argmax(-1) != y_all
        error = float((dr["p"].double() * wrong.double()).sum())
    return {
        "W": W.detach() if W is not None else None,
        "E": E.detach(),
        "UT": UT.detach(),
        "error": error,
    }


def authors_grid_task(config: Mapping, seeds: Sequence[int], *, device: str = "cpu") -> list[dict]:
    """Task of the authors'-grid sweep: one (model, optimizer, norm, d, batch) cell, every rate and seed at once.

    One run of max(T_eval) samples per seed and rate (:func:`train_grid_model`), its population error read after
    each T in T_eval. Returns, per seed, ``{"T": T_eval, "lr_base": [...], "error": [[error after T for T in
    T_eval] for each rate]}``, with None where the run had diverged.

    Parameters
    ----------
    config : Mapping
        Keys 'model', 'optimizer', 'norm', 'N', 'M', 'd', 'alpha', 'batch_size', 'lr_base' (the grid's rates) and
        'T_eval' (increasing multiples of 'batch_size'), and optionally 'init' (default 'gaussian'), with the
        ranges of :func:`train_grid_model`.
    seeds : int or sequence of int
        Seeds, each in [0, 2**62].
    device : str, default 'cpu'
        'cpu', 'cuda', 'cuda:k' or 'auto'.

    Returns
    -------
    list of dict
        One JSON-serialisable dict per seed.
    """
    if not isinstance(config, Mapping):
        raise ValueError(f"config must be a mapping, got {type(config).__name__}")
    missing = [
        k
        for k in ("model", "optimizer", "norm", "N", "M", "d", "alpha", "batch_size", "lr_base", "T_eval")
        if k not in config
    ]
    if missing:
        raise ValueError(f"config lacks the keys {missing}")
    seeds = check_seeds(seeds)
    T_eval = [int(t) for t in config["T_eval"]]
    r = train_grid_model(
        config["model"],
        config["N"],
        config["M"],
        config["d"],
        max(T_eval),
        list(config["lr_base"]),
        seeds,
        alpha=config["alpha"],
        batch=config["batch_size"],
        optimizer=config["optimizer"],
        norm=config["norm"],
        init=config.get("init", "gaussian"),
        checkpoints=T_eval,
        device=device,
    )
    return [
        {
            "T": T_eval,
            "lr_base": list(config["lr_base"]),
            "error": [
                [float(r.error[i, j, k]) if bool(r.finite[i, j, k]) else None for k in range(len(T_eval))]
                for j in range(len(config["lr_base"]))
            ],
        }
        for i in range(len(seeds))
    ]
