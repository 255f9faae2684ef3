"""Trainers of the associative memory of the scaling-law talk (OD1-OD10).

Model: logits(x) = U z(x), z(x) = W e_x (or LayerNorm(W e_x) with ``layer_norm=True``), with fixed
random (or orthonormal) embeddings e_x (N of them), u_y (M of them) in R^d and W learned from 0.
Data: x ~ Zipf(alpha) on [N], y = f*(x) = x mod M; one pass over T samples in batches of B.

The defaults are the suite's model: W starts at 0 (``init='zero'``), no normalisation or the centred
LayerNorm with unit RMS (``layer_norm=True``, i.e. ``norm='layernorm'``), and a tie for the largest logit
counts as an error (``ties='error'``). The authors' optimiser grid (facebookresearch/pal,
projects/scaling_law/grid_experiments) differs in three ways, each a keyword option of :func:`train` and
:func:`reference_train_autograd`: W starts at random N(0, 1/d) entries drawn per seed (``init='gaussian'``),
their "layer norm" is the plain L2 normalisation z = h / sqrt(sum_i h_i^2 + 1e-6) of h = W e_x, no centring
and no affine parameters (``norm='l2'``), and their prediction is argmax with the first index on ties
(``ties='first'``, an option of :func:`train` and :func:`population_error`). ``init='gaussian', norm='l2',
ties='first'`` reproduces the authors' model (their ``--layernorm`` runs; without it, ``norm=None``).

:func:`train` runs every seed and every learning rate at once: W has shape (S, L, d, d), the gradient
of the batch cross-entropy is written out by hand (no autograd), and the only Python loop is over the
T/B steps. :func:`reference_train_autograd` is the plain per-step autograd loop (one seed, one rate at a
time), kept as the reference for correctness and speed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from amemory.validate import (
    MAX_STEPS,
    check_alloc,
    check_bool,
    check_choice,
    check_finite_tensor,
    check_float,
    check_int,
    check_seeds,
    check_tensor,
    resolve_device,
    resolve_dtype,
)

from .embeddings import Embedding, random_matrix
from .sampling import sample_tokens, zipf_probs

OPTIMIZERS = ("sgd", "adam", "sign", "normalized")
SCHEDULES = ("constant", "cosine", "linear", "inv_sqrt")
LN_EPS = 1e-5
L2_EPS = 1e-6  # eps_norm of norm='l2': z = h / sqrt(sum_i h_i^2 + L2_EPS), as in the authors' grid
INITS = ("zero", "gaussian")
NORMS = (None, "none", "layernorm", "l2")
TIES = ("error", "first")


@dataclass
class TrainResult:
    """Result of :func:`train`: population error along training, final margins, visit counts and the memory.

    checkpoints (R,): samples seen; error (S, L, R): exact population error at each checkpoint;
    margins (S, L, N): final margin of every token (right logit minus the best other); counts (S, N):
    visits of every token; lrs (L,); finite (S, L, R): whether the memory was finite at each checkpoint
    (False: the run diverged, and its error there counts every token wrong).

    error[s, l, r] = sum_x p(x) 1{margin_x <= 0 or not finite} after checkpoints[r] samples (``ties='error'``;
    with ``ties='first'`` a tie won by the right output's lower index is right, see :func:`population_error`),
    margins[s, l, x] = logit_{f*(x)}(x) - max_{y != f*(x)} logit_y(x), counts[s, x] = sum_t 1{x_t = x}.

    ``W`` (S, L, d, d), the final memory, is formed on first access when the trainer kept it in factored
    form W = U^T A E (SGD from W = 0 without normalisation): at d = 10^4 it is 400 MB per seed and rate.
    ``coefficients`` (S, L, M, N) is A where the trainer works with it (SGD from W = 0 without normalisation,
    and the ReLU model, whose memory is only defined through A), else None.

    Parameters
    ----------
    checkpoints : numpy.ndarray
        int (R,), samples seen at each evaluation, increasing, in [batch, T].
    error : torch.Tensor
        (S, L, R) exact population error, in [0, 1].
    margins : torch.Tensor
        (S, L, N) final margins.
    counts : torch.Tensor
        float64 (S, N) visits of every token.
    lrs : numpy.ndarray
        float (L,) learning rates.
    finite : torch.Tensor
        bool (S, L, R), whether the memory was finite at each checkpoint.
    coefficients : torch.Tensor or None, default None
        (S, L, M, N) coefficients A of W = U^T A E, or None.
    _W : torch.Tensor or None, default None
        Internal: the memory (S, L, d, d) when the trainer formed it (read it through ``W``).
    _factors : tuple or None, default None
        Internal: (U (S, M, d), E (S, N, d)) to form W = U^T A E on first access; None for the ReLU model.
    """

    checkpoints: np.ndarray
    error: torch.Tensor
    margins: torch.Tensor
    counts: torch.Tensor
    lrs: np.ndarray
    finite: torch.Tensor
    coefficients: torch.Tensor | None = None
    _W: torch.Tensor | None = field(default=None, repr=False)
    _factors: tuple | None = field(default=None, repr=False)

    @property
    def W(self) -> torch.Tensor:
        """The final memory W (S, L, d, d), formed on first access from W = U^T A E when kept in factored form.

        W[s, l] = U_s^T A[s, l] E_s (SGD from W = 0 without normalisation), or the matrix the explicit loop
        trained; cached.

        Returns
        -------
        torch.Tensor
            Shape (S, L, d, d).

        Raises
        ------
        ValueError
            For the ReLU model, whose memory is only defined through the coefficients A.
        """
        if self._W is None:
            if self._factors is None:
                raise ValueError("W: the ReLU model has no matrix W (its memory is the coefficients A)")
            U, E = self._factors
            self._W = U.transpose(-1, -2).unsqueeze(1) @ self.coefficients @ E.unsqueeze(1)
        return self._W


def schedule_factor(name, t: int, steps: int) -> float:
    """Learning-rate multiplier at step t of ``steps``: constant, cosine, linear, inv_sqrt, or your own.

    constant: 1; cosine: (1 + cos(pi t / steps)) / 2; linear: 1 - t / steps; inv_sqrt: 1 / sqrt(1 + t);
    a callable ``schedule(t, steps)``: its value (e.g. a step decay ``0.1 ** (t // (steps // 3))``).

    Parameters
    ----------
    name : str or callable
        'constant', 'cosine', 'linear' or 'inv_sqrt', or a callable ``(step, steps) -> factor`` returning a
        finite real number >= 0.
    t : int
        Step, 0 <= t < steps.
    steps : int
        Number of steps, >= 1.

    Returns
    -------
    float
        The factor (in (0, 1] for the named schedules).
    """
    steps = check_int("steps", steps, 1)
    t = check_int("t", t, 0, steps - 1)
    if callable(name):
        try:
            v = name(t, steps)
        except Exception as e:
            raise ValueError(f"schedule({t}, {steps}) raised {type(e).__name__}: {e}") from None
        return check_float(f"schedule({t}, {steps})", v, 0.0)
    if not isinstance(name, str) or name not in SCHEDULES:
        raise ValueError(f"name (the schedule) must be one of {SCHEDULES} or a callable, got {name!r}")
    if name == "constant":
        return 1.0
    if name == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * t / steps))
    if name == "linear":
        return 1.0 - t / steps
    return 1.0 / math.sqrt(1.0 + t)


def _norm_mode(layer_norm, norm) -> str:
    """The normalisation of z as 'none', 'layernorm' or 'l2', from ``layer_norm`` and ``norm`` (checked)."""
    check_choice("norm", norm, NORMS)
    if norm in (None, "none"):
        return "layernorm" if layer_norm else "none"
    if layer_norm and norm != "layernorm":
        raise ValueError(
            f"norm={norm!r} conflicts with layer_norm=True (which is norm='layernorm'): pass only one of them"
        )
    return norm


def _forward(W, X, U, norm):
    """X (S, B, d) or (S, L, B, d) -> (z (S, L, B, d), inv_std or None, logits (S, L, B, M)).

    ``norm``: a bool (``layer_norm``) or a mode of :func:`_norm_mode` ('none', 'layernorm', 'l2').
    """
    h = (X if X.dim() == 4 else X.unsqueeze(1)) @ W.transpose(-1, -2)  # (S, L, B, d)
    inv = None
    if norm is True or norm == "layernorm":
        h = h - h.mean(-1, keepdim=True)
        inv = torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + LN_EPS)
        h = h * inv
    elif norm == "l2":
        inv = torch.rsqrt(h.pow(2).sum(-1, keepdim=True) + L2_EPS)
        h = h * inv
    return h, inv, h @ U.transpose(-1, -2).unsqueeze(1)


def _margins(logits, y):
    """Right logit minus the best other, logits (..., n, M), y (n,)."""
    oh = torch.nn.functional.one_hot(y, logits.shape[-1]).bool()
    true = logits.masked_fill(~oh, 0.0).sum(-1)
    other = logits.masked_fill(oh, float("-inf")).amax(-1)
    return true - other


def _error(margins, p):
    """sum_x p(x) 1{margin(x) <= 0}: ties and non-finite margins (a diverged run) count as errors."""
    return (~(margins > 0)).to(p.dtype).mul(p).sum(-1)


def _score(margins, logits, y, p, ties):
    """Population error under the tie rule: 'error' (:func:`_error`) or 'first' (argmax takes the first index).

    'first': x is right iff margin(x) > 0, or margin(x) == 0 and logit_{f*(x)}(x) > logit_y(x) for every
    y < f*(x) (the right output is the first of the tied maxima); a non-finite margin is still an error.
    """
    if ties == "error":
        return _error(margins, p)
    M = logits.shape[-1]
    oh = torch.nn.functional.one_hot(y, M).bool()
    true = logits.masked_fill(~oh, 0.0).sum(-1)
    before = torch.arange(M, device=logits.device) < y.unsqueeze(-1)  # (n, M): outputs of lower index
    first = true > logits.masked_fill(~before, float("-inf")).amax(-1)
    ok = (margins > 0) | ((margins == 0) & first)
    return (~ok).to(p.dtype).mul(p).sum(-1)


def _population_error(W, E, U, p, f, mode, ties):
    """:func:`population_error` without the argument checks; ``mode`` as returned by :func:`_norm_mode`."""
    _, _, logits = _forward(W, E, U, mode)
    m = _margins(logits, f)
    return _score(m, logits, f, p, ties), m


def population_error(W, E, U, p, f, layer_norm=False, *, norm=None, ties="error"):
    """Exact population error sum_x p(x) 1{argmax_y logits(x) != f*(x)}, (S, L), and the margins (S, L, N).

    Ties count as errors (``ties='error'``) or argmax takes the first index (``ties='first'``: x is right iff
    margin(x) > 0, or margin(x) = 0 and logit_y(x) < logit_{f*(x)}(x) for every y < f*(x)); non-finite
    margins (a diverged run) count as errors.
    logits(x) = U z(x) with z(x) = h = W e_x, or z(x) = (h - mean(h)) / sqrt(var(h) + 1e-5) when
    ``layer_norm`` (``norm='layernorm'``), or z(x) = h / sqrt(sum_i h_i^2 + 1e-6) with ``norm='l2'``;
    margin(x) = logit_{f*(x)}(x) - max_{y != f*(x)} logit_y(x).

    Parameters
    ----------
    W : torch.Tensor
        Memories, shape (S, L, d, d).
    E : torch.Tensor
        Input embeddings, shape (S, N, d), or (S, L, N, d) (learned embeddings, one table per rate).
    U : torch.Tensor
        Output embeddings, shape (S, M, d).
    p : torch.Tensor
        Token distribution, shape (N,), non-negative (not renormalised).
    f : torch.Tensor
        The target map f*, int64 of shape (N,), values in [0, M - 1].
    layer_norm : bool, default False
        Apply LayerNorm (no affine, eps 1e-5) to W e_x before U.
    norm : str or None, default None
        None or 'none' (``layer_norm`` decides), 'layernorm' (as ``layer_norm=True``) or 'l2' (z = h /
        sqrt(sum_i h_i^2 + 1e-6)); 'l2' with ``layer_norm=True`` raises ValueError.
    ties : str, default 'error'
        'error' (a tie for the largest logit is an error) or 'first' (argmax takes the first index, as
        torch.argmax and numpy.argmax).

    Returns
    -------
    error : torch.Tensor
        Shape (S, L), in [0, sum p].
    margins : torch.Tensor
        Shape (S, L, N).
    """
    check_bool("layer_norm", layer_norm)
    mode = _norm_mode(layer_norm, norm)
    check_choice("ties", ties, TIES)
    # a non-finite W is a diverged run (its margins count as errors), so W is not checked for NaN/inf
    if not torch.is_tensor(W) or W.dtype not in (torch.float32, torch.float64):
        raise ValueError(f"W must be a float32 or float64 tensor (S, L, d, d), got {getattr(W, 'dtype', type(W))}")
    if W.ndim != 4 or W.shape[2] != W.shape[3] or W.numel() == 0:
        raise ValueError(f"W must have shape (S, L, d, d), not empty, got {tuple(W.shape)}")
    S, L, d = W.shape[0], W.shape[1], W.shape[2]
    check_tensor("E", E)
    if E.ndim not in (3, 4) or E.shape[0] != S or E.shape[-1] != d or (E.ndim == 4 and E.shape[1] != L):
        raise ValueError(f"E must have shape (S={S}, N, d={d}) or (S={S}, L={L}, N, d={d}), got {tuple(E.shape)}")
    N = E.shape[-2]
    check_tensor("U", U, shape=(S, -1, d))
    M = U.shape[1]
    check_tensor("p", p, shape=(N,), nonneg=True)
    check_tensor("f", f, shape=(N,), kind="int")
    if int(f.min()) < 0 or int(f.max()) >= M:
        raise ValueError(f"f values must lie in [0, {M - 1}]")
    return _population_error(W, E, U, p, f, mode, ties)


def train(
    N: int,
    M: int,
    d: int,
    T: int,
    lrs,
    seeds,
    *,
    alpha: float = 2.0,
    batch: int = 1,
    optimizer: str = "sgd",
    betas=(0.9, 0.999),
    eps: float = 1e-8,
    layer_norm: bool = False,
    init: str = "zero",
    norm: str | None = None,
    ties: str = "error",
    schedule="constant",
    embeddings="gaussian",
    model: str = "linear",
    relu_threshold: float = 0.5,
    learn_embeddings: bool = False,
    checkpoints=10,
    tokens: torch.Tensor | None = None,
    progress: bool = False,
    device=None,
    dtype=None,
) -> TrainResult:
    """One pass of minibatch training over T Zipf samples, for every seed and learning rate at once.

    Batch t (t = 0 .. T/B - 1) holds samples x_{tB+1}, ..., x_{(t+1)B}; the loss is
    (1/B) sum_i CE(U z(x_i), f*(x_i)), with gradient g = (1/B) sum_i dh_i e_{x_i}^T in W, dz_i = U^T
    (softmax(U z(x_i)) - onehot(f*(x_i))) and dh_i = dz_i, or dz_i through the normalisation: LayerNorm
    (``layer_norm`` or ``norm='layernorm'``) dh = r (dz - mean(dz) - z mean(dz z)), r = 1 / sqrt(var(h) + 1e-5);
    L2 (``norm='l2'``, z = r h, r = 1 / sqrt(sum_i h_i^2 + 1e-6)) dh = r (dz - z sum_i(dz_i z_i)). With
    lr_t = lr schedule_factor(schedule, t, T/B), the step is: sgd W -= lr_t g; sign W -= lr_t sign(g);
    normalized W -= lr_t g / ||g||_F; adam m1 = b1 m1 + (1 - b1) g, m2 = b2 m2 + (1 - b2) g^2,
    W -= lr_t (m1 / (1 - b1^(t+1))) / (sqrt(m2 / (1 - b2^(t+1))) + eps). W starts at 0 (``init='zero'``) or
    at W0 with i.i.d. N(0, 1/d) entries per seed (``init='gaussian'``, stream 'w' of the seed, independent
    of E and U; the same W0 for every rate). The defaults are the suite's model; ``init='gaussian',
    norm='l2', ties='first'`` is the authors' (see the module docstring).

    Parameters
    ----------
    N : int
        Number of tokens, N >= 1 (N <= d for orthonormal embeddings).
    M : int
        Number of outputs (f*(x) = x mod M), M >= 2 (M <= d for orthonormal embeddings).
    d : int
        Dimension, d >= 1.
    T : int
        Samples (a multiple of ``batch``), T >= 1.
    lrs : float or sequence of float
        Learning rates (L,), a non-empty list of finite rates > 0.
    seeds : int or sequence of int
        Seeds (S,), each in [0, 2**62]: embeddings and samples per seed.
    alpha : float, default 2.0
        Zipf exponent of the token law, finite, >= 0.
    batch : int, default 1
        Minibatch size B, >= 1.
    optimizer : str, default 'sgd'
        'sgd', 'adam' (``betas``; (0, 0) is sign-like), 'sign' (W -= lr sign(g)),
        'normalized' (W -= lr g / ||g||_F).
    betas : pair of float, default (0.9, 0.999)
        Adam's (beta1, beta2), each in [0, 1) (checked for every optimizer, used by 'adam').
    eps : float, default 1e-8
        Adam's denominator offset, finite, >= 0.
    layer_norm : bool, default False
        LayerNorm (no affine, eps 1e-5) before U.
    init : str, default 'zero'
        'zero' (W starts at 0) or 'gaussian' (W0 with i.i.d. N(0, 1/d) entries drawn per seed, as the
        authors' grid). With 'gaussian', SGD runs the explicit d x d loop instead of the coefficient path
        (W is no longer in the span of U^T A E), and ``model='relu'`` is not available.
    norm : str or None, default None
        Normalisation of h = W e_x before U: None or 'none' (``layer_norm`` decides, today's behaviour),
        'layernorm' (the same as ``layer_norm=True``) or 'l2' (z = h / sqrt(sum_i h_i^2 + 1e-6): no centring,
        no affine parameters, the authors' "layer norm"). 'l2' with ``layer_norm=True`` raises ValueError.
    ties : str, default 'error'
        Rule of the population error for a tie for the largest logit: 'error' (the tie is an error) or
        'first' (argmax takes the first index, as torch.argmax and numpy.argmax); see
        :func:`population_error`. The margins do not depend on it.
    schedule : str or callable, default 'constant'
        'constant', 'cosine', 'linear' or 'inv_sqrt' decay of the rate over the T/B steps, or a callable
        ``schedule(step, steps) -> factor`` (finite, >= 0) multiplying the rate at each step (see
        :func:`schedule_factor`).
    embeddings : str or (E, U), default 'gaussian'
        'gaussian' (N(0, 1/d)), 'orthonormal' (needs N, M <= d), or your own embeddings: a pair of finite
        arrays ``E`` of shape (N, d) or (S, N, d) (inputs e_x) and ``U`` of shape (M, d) or (S, M, d)
        (outputs u_y), the same for every seed when 2-D.
    model : str, default 'linear'
        'linear' (logits U W e_x) or 'relu', the thresholded memory of 001 ("exponential storage"):
        logits_y(x) = u_y^T sum_x' (U^T A)[:, x'] ReLU(e_x'^T e_x - relu_threshold), whose coefficients A are
        written by the rule SGD follows in the linear model (GM1): a sample (x, y) adds
        -lr (softmax - onehot(y)) / B to A[:, x]. With the kernel e_x'^T e_x instead of the ReLU this is
        exactly batch SGD on W = U^T A E. Only with optimizer 'sgd', no normalisation, ``init='zero'`` and no
        learned embeddings.
    relu_threshold : float, default 0.5
        eta in [0, 1) of the ReLU model.
    learn_embeddings : bool, default False
        Train the input embeddings e_x too (SGD on (W, E), same rate; optimizer 'sgd' only).
    checkpoints : int or sequence of int, default 10
        Number of evaluations of the exact population error (an int >= 1: log-spaced steps, T included), or
        a sequence of sample counts (multiples of ``batch``, increasing, in [batch, T]) at which to evaluate.
    tokens : torch.Tensor or None, default None
        Optional (S, T) integer samples in [0, N - 1] to use instead of drawing them.
    progress : bool, default False
        Show a tqdm progress bar over the T/B steps.
    device : str, torch.device or None, default None
        'cpu' (also for None), 'cuda', 'cuda:k' or 'auto'.
    dtype : torch.dtype, str or None, default None
        torch.float32 (also for None) or torch.float64, or their names.

    Returns
    -------
    TrainResult
        Errors at the checkpoints, final margins, counts, and the memory (``W``, ``coefficients``).
    """
    N, M, d = check_int("N", N, 1), check_int("M", M, 2), check_int("d", d, 1)
    T, batch = check_int("T", T, 1, MAX_STEPS), check_int("batch", batch, 1)
    if T % batch:
        raise ValueError(f"T must be a multiple of batch (batch={batch}), got T={T}")
    seeds = check_seeds(seeds)
    if lrs is None or isinstance(lrs, (str, bytes, bool, np.bool_)):
        raise ValueError(f"lrs must be a non-empty list of finite rates in (0, inf), got {lrs!r}")
    try:
        _raw = np.asarray(lrs.detach().cpu() if torch.is_tensor(lrs) else lrs)
    except (TypeError, ValueError, RuntimeError):
        raise ValueError("lrs must be a non-empty list of finite rates in (0, inf)") from None
    if _raw.dtype.kind not in "iuf":
        raise ValueError(f"lrs must be a non-empty list of finite rates in (0, inf), got dtype {_raw.dtype}")
    lrs = np.atleast_1d(np.asarray(lrs, dtype=float))
    if lrs.ndim != 1 or lrs.size == 0 or not np.all(np.isfinite(lrs)) or np.any(lrs <= 0):
        raise ValueError(f"lrs must be a non-empty list of finite rates in (0, inf), got {lrs}")
    check_choice("optimizer", optimizer, OPTIMIZERS)
    if not callable(schedule):
        check_choice("schedule", schedule, SCHEDULES)
    if isinstance(embeddings, str) or not isinstance(embeddings, (tuple, list)):
        check_choice("embeddings", embeddings, ("gaussian", "orthonormal"))
    check_choice("model", model, ("linear", "relu"))
    check_choice("init", init, INITS)
    mode = _norm_mode(layer_norm, norm)
    check_choice("ties", ties, TIES)
    if model == "relu" and (optimizer != "sgd" or mode != "none" or learn_embeddings or init != "zero"):
        raise ValueError(
            "model='relu' is trained by the SGD memory-writing rule only: it needs optimizer='sgd', "
            "layer_norm=False, norm=None, init='zero', learn_embeddings=False"
        )
    relu_threshold = check_float("relu_threshold", relu_threshold, 0.0, 1.0, hi_open=True)
    if learn_embeddings and optimizer != "sgd":
        raise ValueError(f"learn_embeddings=True is implemented for optimizer='sgd' only, got optimizer={optimizer!r}")
    alpha = check_float("alpha", alpha, 0.0)
    eps = check_float("eps", eps, 0.0)
    b1, b2 = (check_float("betas", b, 0.0, 1.0, hi_open=True) for b in betas)
    ck = _checkpoint_steps(checkpoints, T, batch)
    dev, dt = resolve_device(device), resolve_dtype(dtype)
    S, L, steps = len(seeds), lrs.size, T // batch
    kernel = optimizer == "sgd" and mode == "none" and not learn_embeddings and init == "zero"
    check_alloc("N, M, d", 8.0 * S * ((N + M) * d + (N * N if kernel else L * d * d)))
    check_alloc("T", 8.0 * S * (T + steps))
    if isinstance(embeddings, str):
        E = Embedding(N, d, seeds, embeddings, "e").full(device=dev, dtype=dt)
        U = Embedding(M, d, seeds, embeddings, "u").full(device=dev, dtype=dt)
    else:
        E, U = _user_embeddings(embeddings, N, M, d, S, dev, dt)
    p = zipf_probs(N, alpha, dtype=dt, device=dev)
    f = torch.arange(N, device=dev) % M
    if tokens is None:
        tokens = sample_tokens(p, T, seeds, device=dev)
    else:
        tokens = torch.as_tensor(tokens, device=dev).long()
        if tokens.shape != (S, T) or int(tokens.min()) < 0 or int(tokens.max()) >= N:
            raise ValueError(f"tokens must have shape ({S}, {T}) with values in [0, {N - 1}]")
    lr_t = torch.as_tensor(lrs, device=dev, dtype=dt).view(1, L, 1, 1)
    errs = torch.empty(S, L, ck.size, device=dev, dtype=dt)
    fin = torch.empty(S, L, ck.size, device=dev, dtype=torch.bool)
    it = range(steps)
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(it, desc=f"{optimizer} B={batch}", unit="step", mininterval=1.0)
    fac = torch.tensor([schedule_factor(schedule, t, steps) for t in range(steps)], device=dev, dtype=dt)
    run = _Run(tokens, batch, E, U, f, p, M, S, L, dev, dt, lr_t, fac, steps, ck, errs, fin, ties)
    # per-step tensors this small are slower with several threads (synchronisation dominates)
    n_threads = torch.get_num_threads()
    if dev.type == "cpu" and S * L * d * d * batch < (1 << 26):
        torch.set_num_threads(1)
    try:
        if optimizer == "sgd" and mode == "none" and not learn_embeddings and init == "zero":
            K = E @ E.transpose(-1, -2)  # (S, N, N)
            if model == "relu":
                K = torch.relu(K - relu_threshold)
            A, marg = _coefficient_sgd(run, it, K)
            factors = (U, E) if model == "linear" else None
            res = dict(coefficients=A, _factors=factors)
        else:
            W0 = random_matrix(d, seeds, stream="w", device=dev, dtype=dt) if init == "gaussian" else None
            W = _loop(run, it, mode, optimizer, b1, b2, eps, learn_embeddings, W0)
            marg = _population_error(W, run.E, U, p, f, mode, ties)[1]
            res = dict(_W=W)
    finally:
        torch.set_num_threads(n_threads)
    counts = torch.zeros(S, N, device=dev, dtype=torch.float64).scatter_add_(
        1, tokens, torch.ones_like(tokens, dtype=torch.float64)
    )
    return TrainResult(checkpoints=ck * batch, error=errs, margins=marg, counts=counts, lrs=lrs, finite=fin, **res)


def _user_embeddings(embeddings, N: int, M: int, d: int, S: int, dev, dt) -> tuple[torch.Tensor, torch.Tensor]:
    """User embeddings (E, U) as (S, N, d) and (S, M, d) tensors, checked."""
    if len(embeddings) != 2:
        raise ValueError("embeddings must be 'gaussian', 'orthonormal' or a pair (E, U) of arrays")
    out = []
    for name, a, n in (("embeddings[0] (E)", embeddings[0], N), ("embeddings[1] (U)", embeddings[1], M)):
        try:
            t = torch.as_tensor(np.asarray(a.detach().cpu() if torch.is_tensor(a) else a, dtype=np.float64))
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be an array of numbers") from None
        if t.shape not in ((n, d), (S, n, d)):
            raise ValueError(f"{name} must have shape ({n}, {d}) or ({S}, {n}, {d}), got {tuple(t.shape)}")
        check_finite_tensor(name, t)
        out.append(t.to(device=dev, dtype=dt).expand(S, n, d).contiguous())
    return out[0], out[1]


def _checkpoint_steps(checkpoints, T: int, batch: int) -> np.ndarray:
    """Steps (1-based) after which the population error is evaluated."""
    steps = T // batch
    if np.ndim(checkpoints) == 0:
        n = check_int("checkpoints", checkpoints, 1, MAX_STEPS)
        return np.unique(np.round(np.geomspace(1, steps, n)).astype(int)) if n > 1 else np.array([steps])
    c = np.asarray(checkpoints)
    if (
        c.ndim != 1
        or c.size == 0
        or not np.issubdtype(c.dtype, np.integer)
        or np.any(c <= 0)
        or np.any(c > T)
        or np.any(c % batch)
        or np.any(np.diff(c) <= 0)
    ):
        raise ValueError(
            f"checkpoints must be an int >= 1 or an increasing sequence of sample counts in [batch, T] "
            f"that are multiples of batch (batch={batch}, T={T}), got {checkpoints!r}"
        )
    return c // batch


@dataclass
class _Run:
    """What every training loop needs (data, embeddings, rates, checkpoint buffers)."""

    tokens: torch.Tensor
    batch: int
    E: torch.Tensor
    U: torch.Tensor
    f: torch.Tensor
    p: torch.Tensor
    M: int
    S: int
    L: int
    dev: torch.device
    dt: torch.dtype
    lr_t: torch.Tensor
    fac: torch.Tensor  # (steps,) schedule factor of every step
    steps: int
    ck: np.ndarray
    errs: torch.Tensor
    fin: torch.Tensor
    ties: str = "error"

    def lr(self, t: int) -> torch.Tensor:
        return self.lr_t * self.fac[t]

    def xb(self, t: int) -> torch.Tensor:
        return self.tokens[:, t * self.batch : (t + 1) * self.batch]  # (S, B)


def _coefficient_sgd(run: _Run, it, K):
    """SGD from W = 0 without layer norm: W stays in span{u_k e_x^T}, W = U^T A E with A (S, L, M, N).

    The logits of x are G_U A K[:, x] (G_U = U U^T, K = G_E = E E^T), and a step on a batch only changes
    the columns of A of the batch's tokens: A[:, x_i] -= lr (p_i - onehot(y_i)) / B. Cost O(M N) per
    configuration and step instead of O(d^2); identical to the explicit update up to rounding. Any other
    kernel K (the ReLU model) gives the same memory-writing rule on that kernel's memory.

    Layout: A^T and C^T = (G_U A)^T are kept as (S, N, L, M), so a step is two batched products without
    broadcasting copies (logits^T = K[x_i, :] C^T, and the update of C^T is the update of A^T times G_U).
    Returns A (S, L, M, N) and the final margins (S, L, N).
    """
    S, L, M, B = run.S, run.L, run.M, run.batch
    N = K.shape[-1]
    GU = run.U @ run.U.transpose(-1, -2)  # (S, M, M), symmetric
    At = torch.zeros(S, N, L, M, device=run.dev, dtype=run.dt)
    Ct = torch.zeros_like(At)
    ar = torch.arange(S, device=run.dev).view(S, 1, 1)
    oh_all = torch.nn.functional.one_hot(run.f, M).to(run.dt)  # (N, M)
    step_lr = -run.lr_t.view(1, 1, L, 1) * run.fac.view(-1, 1, 1, 1, 1) / B  # (steps, 1, 1, L, 1)
    # per-step inputs are gathered for blocks of steps at once (a few ops per step remain in the loop)
    blk = max(1, min(run.steps, (1 << 22) // max(1, S * B * (N + M))))
    ci, b0 = 0, -1
    for t in it:
        if t // blk != b0:
            b0 = t // blk
            tok = run.tokens[:, b0 * blk * B : (b0 + 1) * blk * B].reshape(S, -1, B)  # (S, blk', B)
            Gb = K[ar, tok].transpose(0, 1).contiguous()  # (blk', S, B, N): rows K[x_i, :]
            Yb = oh_all[tok].transpose(0, 1).unsqueeze(3).contiguous()  # (blk', S, B, 1, M)
            Ib = tok.transpose(0, 1).reshape(-1, S, B, 1, 1).expand(-1, S, B, L, M)
        i = t - b0 * blk
        logits = torch.bmm(Gb[i], Ct.view(S, N, L * M)).view(S, B, L, M)
        D = torch.softmax(logits, -1).sub_(Yb[i]).mul_(step_lr[t])  # -lr (p_i - onehot(y_i)) / B
        At.scatter_add_(1, Ib[i], D)
        Ct.scatter_add_(1, Ib[i], torch.bmm(D.view(S, B * L, M), GU).view(S, B, L, M))
        if ci < run.ck.size and t + 1 == run.ck[ci]:
            logits = _coef_logits(Ct, K)
            run.errs[..., ci] = _score(_margins(logits, run.f), logits, run.f, run.p, run.ties)
            run.fin[..., ci] = torch.isfinite(At).all(-1).all(1)  # (S, L)
            ci += 1
    return At.permute(0, 2, 3, 1).contiguous(), _margins(_coef_logits(Ct, K), run.f)


def _coef_logits(Ct, K):
    """Logits (S, L, N, M) of every token from C^T = (G_U A)^T (S, N, L, M): logits of x = C K[:, x]."""
    S, N, L, M = Ct.shape
    return torch.bmm(K, Ct.view(S, N, L * M)).view(S, N, L, M).transpose(1, 2)  # (S, L, N, M)


def _loop(run: _Run, it, mode, optimizer, b1, b2, eps, learn_embeddings, W0=None):
    """The explicit update of W (S, L, d, d) (and of E when learned): any optimizer, normalisation, start W0.

    ``mode``: 'none', 'layernorm' or 'l2' (:func:`_norm_mode`); W0 (S, d, d) or None (W starts at 0).
    """
    S, L, B, M, dt = run.S, run.L, run.batch, run.M, run.dt
    d = run.E.shape[-1]
    if W0 is None:
        W = torch.zeros(S, L, d, d, device=run.dev, dtype=dt)
    else:
        W = W0.unsqueeze(1).repeat(1, L, 1, 1)
    m1 = torch.zeros_like(W) if optimizer == "adam" else None
    m2 = torch.zeros_like(W) if optimizer == "adam" else None
    ar = torch.arange(S, device=run.dev).view(S, 1)
    if learn_embeddings:  # one copy of the embeddings per (seed, rate)
        run.E = run.E.unsqueeze(1).repeat(1, L, 1, 1)  # (S, L, N, d)
        arS, arL = ar.view(S, 1, 1), torch.arange(L, device=run.dev).view(1, L, 1)
    ci = 0
    for t in it:
        xb = run.xb(t)  # (S, B)
        X = run.E[arS, arL, xb.unsqueeze(1)] if learn_embeddings else run.E[ar, xb]  # (S, L, B, d) or (S, B, d)
        z, inv, logits = _forward(W, X, run.U, mode)
        D = torch.softmax(logits, -1)
        D = D - torch.nn.functional.one_hot(run.f[xb], M).to(dt).unsqueeze(1)  # (S, L, B, M)
        dz = D @ run.U.unsqueeze(1)  # (S, L, B, d)
        if mode == "layernorm":
            dz = inv * (dz - dz.mean(-1, keepdim=True) - z * (dz * z).mean(-1, keepdim=True))
        elif mode == "l2":  # z = r h, r = (sum h^2 + eps)^(-1/2): dh = r (dz - z (dz . z))
            dz = inv * (dz - z * (dz * z).sum(-1, keepdim=True))
        Xb = X if X.dim() == 4 else X.unsqueeze(1)
        g = dz.transpose(-1, -2) @ Xb / B  # (S, L, d, d)
        lr = run.lr(t)
        if learn_embeddings:  # gradient of the batch loss in e_x: W^T dz / B, summed over repeats of x
            gX = dz @ W / B  # (S, L, B, d)
            run.E.index_put_(
                (arS.expand(S, L, B), arL.expand(S, L, B), xb.unsqueeze(1).expand(S, L, B)), -lr * gX, accumulate=True
            )
        if optimizer == "sgd":
            W -= lr * g
        elif optimizer == "sign":
            W -= lr * torch.sign(g)
        elif optimizer == "normalized":
            W -= lr * g / g.flatten(-2).norm(dim=-1).clamp_min(1e-30).view(S, L, 1, 1)
        else:
            m1.mul_(b1).add_(g, alpha=1 - b1)
            m2.mul_(b2).addcmul_(g, g, value=1 - b2)
            mh = m1 / (1 - b1 ** (t + 1))
            vh = m2 / (1 - b2 ** (t + 1))
            W -= lr * mh / (vh.sqrt() + eps)
        if ci < run.ck.size and t + 1 == run.ck[ci]:
            run.errs[..., ci] = _population_error(W, run.E, run.U, run.p, run.f, mode, run.ties)[0]
            run.fin[..., ci] = torch.isfinite(W).flatten(-2).all(-1)
            ci += 1
    return W


def reference_train_autograd(
    N: int,
    M: int,
    d: int,
    T: int,
    lr: float,
    seed: int,
    *,
    alpha: float = 2.0,
    batch: int = 1,
    optimizer: str = "sgd",
    betas=(0.9, 0.999),
    eps: float = 1e-8,
    layer_norm: bool = False,
    init: str = "zero",
    norm: str | None = None,
    embeddings: str = "gaussian",
    learn_embeddings: bool = False,
    device=None,
    dtype=None,
) -> torch.Tensor:
    """The plain implementation: one seed, one rate, torch.optim and autograd at every step. Returns W (d, d).

    ``learn_embeddings``: the input embeddings are a parameter too (same optimizer).
    Step t = 0 .. T // B - 1 minimises (1/B) sum_i CE(U z(x_i), f*(x_i)), z(x) = W e_x (or
    LayerNorm(W e_x), eps 1e-5, or with ``norm='l2'`` h / sqrt(sum_i h_i^2 + 1e-6), h = W e_x), f*(x) = x
    mod M, with torch.optim.SGD (W -= lr g) or torch.optim.Adam; W starts at 0 (or at the N(0, 1/d) matrix
    W0 of :func:`train` with ``init='gaussian'``), and the samples are those :func:`train` draws for the seed.
    The gradients are autograd's (torch.nn.functional.layer_norm; the L2 normalisation written as
    h / torch.sqrt(...)). :func:`train`'s ``ties`` has no counterpart: this function returns W only.

    Parameters
    ----------
    N : int
        Number of tokens, N >= 1 (N <= d for orthonormal embeddings).
    M : int
        Number of outputs, M >= 1 (M <= d for orthonormal embeddings).
    d : int
        Dimension, d >= 1.
    T : int
        Samples, T >= 0 (T // batch steps; a remainder is not used).
    lr : float
        Learning rate, >= 0 (torch.optim's range; > 0 to train).
    seed : int
        Seed, in [0, 2**62].
    alpha : float, default 2.0
        Zipf exponent, finite, >= 0.
    batch : int, default 1
        Minibatch size, >= 1.
    optimizer : str, default 'sgd'
        'sgd' or 'adam'.
    betas : pair of float, default (0.9, 0.999)
        Adam's (beta1, beta2), each in [0, 1).
    eps : float, default 1e-8
        Adam's denominator offset, >= 0.
    layer_norm : bool, default False
        LayerNorm (no affine) before U.
    init : str, default 'zero'
        'zero' or 'gaussian' (W0 with N(0, 1/d) entries from stream 'w' of the seed, as :func:`train`).
    norm : str or None, default None
        None or 'none' (``layer_norm`` decides), 'layernorm' (as ``layer_norm=True``) or 'l2' (z = h /
        sqrt(sum_i h_i^2 + 1e-6)); 'l2' with ``layer_norm=True`` raises ValueError.
    embeddings : str, default 'gaussian'
        'gaussian' or 'orthonormal' (an Embedding kind; 'sphere' is accepted too).
    learn_embeddings : bool, default False
        Make the input embeddings a parameter too (same optimizer).
    device : str, torch.device or None, default None
        'cpu' (also for None), 'cuda', 'cuda:k' or 'auto'.
    dtype : torch.dtype, str or None, default None
        torch.float32 (also for None) or torch.float64, or their names.

    Returns
    -------
    torch.Tensor
        The final W, shape (d, d), detached.
    """
    check_int("N", N, 1)
    check_int("M", M, 1)
    check_int("d", d, 1)
    check_int("T", T, 0, MAX_STEPS)
    check_float("lr", lr, 0.0)
    check_int("seed", seed, 0, 2**62)
    check_int("batch", batch, 1)
    check_float("alpha", alpha, 0.0)
    check_bool("learn_embeddings", learn_embeddings)
    check_choice("optimizer", optimizer, ("sgd", "adam"))
    check_choice("init", init, INITS)
    mode = _norm_mode(layer_norm, norm)
    dev, dt = resolve_device(device), resolve_dtype(dtype)
    check_alloc("N, M, d", 8.0 * ((N + M) * d + 2 * d * d))
    check_alloc("T", 8.0 * T)
    E = Embedding(N, d, (seed,), embeddings, "e").full(device=dev, dtype=dt)[0]
    U = Embedding(M, d, (seed,), embeddings, "u").full(device=dev, dtype=dt)[0]
    p = zipf_probs(N, alpha, dtype=dt, device=dev)
    tokens = sample_tokens(p, T, (seed,), device=dev)[0]
    f = torch.arange(N, device=dev) % M
    if init == "gaussian":
        W = random_matrix(d, (seed,), stream="w", device=dev, dtype=dt)[0].clone().requires_grad_(True)
    else:
        W = torch.zeros(d, d, device=dev, dtype=dt, requires_grad=True)
    params = [W]
    if learn_embeddings:
        E = E.clone().requires_grad_(True)
        params.append(E)
    opt = (
        torch.optim.SGD(params, lr=lr) if optimizer == "sgd" else torch.optim.Adam(params, lr=lr, betas=betas, eps=eps)
    )
    for t in range(T // batch):
        xb = tokens[t * batch : (t + 1) * batch]
        h = E[xb] @ W.T
        if mode == "layernorm":
            h = torch.nn.functional.layer_norm(h, (d,), eps=LN_EPS)
        elif mode == "l2":
            h = h / torch.sqrt((h**2).sum(-1, keepdim=True) + L2_EPS)
        loss = torch.nn.functional.cross_entropy(h @ U.T, f[xb])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return W.detach()


# ----------------------------------------------------------------------------------------------------
# the task function of the optimiser-grid sweep (its grid lives in checks/grids.py)


def optimizer_grid_task(config: Mapping, seeds: Sequence[int], *, device: str = "cpu") -> list[dict]:
    """Task of the optimiser-grid sweep: one configuration of the grid, every rate and seed in one :func:`train` call.

    For the seeds given, draws T_max = max(T_eval) Zipf tokens per seed once and trains on them once
    (every learning rate and seed at once, W from 0, constant rate), evaluating the exact population error
    after each T in T_eval samples: with a constant rate this is the error of a run stopped after T
    samples. Returns, per seed, ``{"T": T_eval, "lr_base": [...], "error": [[error after T
    samples for T in T_eval] for each rate]}``; where W is not finite after T samples the error is stored
    as None (diverged).
    error[j][k] = sum_x p(x) 1{margin_x <= 0} of rate config["lr"][j] after T_eval[k] samples (see :func:`train`).

    Parameters
    ----------
    config : Mapping
        One configuration of the grid, with keys 'N', 'M', 'd', 'alpha', 'lr' (the rates, > 0),
        'lr_base' (their labels), 'T_eval' (increasing sample counts, multiples of 'batch_size'),
        'batch_size', 'optimizer', 'betas' (used when 'optimizer' is 'adam'), 'layer_norm', 'embeddings'
        and 'schedule', and optionally 'init', 'norm' and 'ties' (absent: 'zero', None, 'error', the
        suite's model), with the ranges of :func:`train`.
    seeds : int or sequence of int
        One seed or a non-empty sequence of seeds, each in [0, 2**62].
    device : str, default 'cpu'
        'cpu', 'cuda', 'cuda:k' or 'auto'.

    Returns
    -------
    list of dict
        One JSON-serialisable dict per seed: {"T": list of int, "lr_base": list, "error": list of lists of
        float or None (None: diverged)}.
    """
    if not isinstance(config, Mapping):
        raise ValueError(f"config must be a mapping of the grid's keys, got {type(config).__name__}")
    need = ("N", "M", "d", "alpha", "lr", "lr_base", "T_eval", "batch_size", "optimizer", "layer_norm")
    missing = [k for k in (*need, "embeddings", "schedule") if k not in config]
    if missing or (config["optimizer"] == "adam" and "betas" not in config):
        raise ValueError(f"config lacks the keys {missing or ['betas']}")
    seeds = check_seeds(seeds)
    T_eval = [int(t) for t in config["T_eval"]]
    p = zipf_probs(config["N"], config["alpha"])
    tokens = sample_tokens(p, max(T_eval), seeds)
    adam = config["optimizer"] == "adam"
    r = train(
        config["N"],
        config["M"],
        config["d"],
        max(T_eval),
        config["lr"],
        seeds,
        alpha=config["alpha"],
        batch=config["batch_size"],
        optimizer=config["optimizer"],
        betas=tuple(config["betas"]) if adam else (0.9, 0.999),
        layer_norm=config["layer_norm"],
        embeddings=config["embeddings"],
        schedule=config["schedule"],
        init=config.get("init", "zero"),
        norm=config.get("norm"),
        ties=config.get("ties", "error"),
        checkpoints=T_eval,
        tokens=tokens,
        device=device,
    )
    e, ok = r.error.double().cpu(), r.finite.cpu()  # (S, L, len(T_eval))
    return [
        {
            "T": T_eval,
            "lr_base": list(config["lr_base"]),
            "error": [
                [float(e[i, j, k]) if bool(ok[i, j, k]) else None for k in range(len(T_eval))]
                for j in range(len(config["lr"]))
            ],
        }
        for i in range(len(seeds))
    ]
