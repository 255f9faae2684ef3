"""Toy model of factual recall (000, 'Toy model of factual recall') and the one-layer transformers
that store it, batched over seeds and over model sizes.

Task
----
``S`` subjects, ``R`` relations, ``D`` attributes per relation (A_r = {r D, ..., r D + D - 1}, so
``A = R D`` attributes in all and A_max = D), ``n_noise`` noise tokens. The fact table
a*(s, r) = r D + j with j uniform in [D], drawn per seed. A prompt has ``T`` tokens: the subject at a
uniform position among the first T - 1, noise tokens (uniform) elsewhere, the relation last; the
target is a*(s, r). Vocabulary ids: subject s -> s, relation r -> S + r, noise k -> S + R + k.

Models
------
:func:`transformer_logits`: one layer, fixed random embeddings e_z in R^d (N(0, 1/d)), unembeddings
u_a, H softmax heads of dimension d_h attending from the last position,
    h = e_{x_T} + sum_h W_O^h W_V^h sum_i softmax_i(<W_Q^h e_{x_T}, W_K^h e_{x_i}> / sqrt(d_h)) e_{x_i},
    h <- h + W_2 relu(W_1 h)   (MLP of width m, absent when m = 0),
    logits_a = u_a^T h.
:func:`train_transformers` batches over seeds and, by default, trains each distinct size of a grid unpadded
(``pad='size'``). With ``pad='grid'`` sizes are batched by masks: a batch holds ``H_max`` heads and ``m_max``
hidden units, and model k uses only the first ``H_k`` heads and ``m_k`` units (a masked unit has exactly zero
effect and zero gradient), so a grid of sizes trains as one set of batched matrix products, at K times the
largest model's work.

:func:`linear_onehot_logits` (FR4): one-hot embeddings and linear attention with a key-query weight
per token, logits_a = sum_i w_KQ(x_i) W_OV(a, x_i).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from amemory.validate import (
    MAX_STEPS,
    check_alloc,
    check_array,
    check_bool,
    check_choice,
    check_float,
    check_int,
    check_seeds,
    check_tensor,
    resolve_device,
    resolve_dtype,
)

from .embeddings import Embedding
from .sampling import generator

_FACT_STREAM = 0xFAC7
_NOISE_STREAM = 0xFAC8
_INIT_STREAM = 0xFAC9
#: largest ``step`` of :meth:`FactTask.prompts` (its noise stream _NOISE_STREAM + 7919 step stays below 2**62)
MAX_PROMPT_STEP = (2**62 - _NOISE_STREAM) // 7919


# ----------------------------------------------------------------------------------------- task
@dataclass(frozen=True)
class FactTask:
    """The factual-recall task; see the module docstring.

    a*(s, r) = r D + j with j ~ Uniform[D] per seed; a prompt is T tokens: the subject s at a uniform position
    among the first T - 1, uniform noise tokens elsewhere, the relation r last; the target is a*(s, r).
    Vocabulary ids: subject s -> s, relation r -> S + r, noise k -> S + R + k.

    Parameters
    ----------
    S : int
        Number of subjects, >= 1.
    R : int
        Number of relations, >= 1.
    D : int
        Attributes per relation |A_r|, >= 2, so A_max = D and A = R D.
    n_noise : int, default 8
        Number of noise tokens, >= 1.
    T : int, default 4
        Prompt length, >= 2 (T - 2 noise tokens per prompt).
    """

    S: int
    R: int
    D: int
    n_noise: int = 8
    T: int = 4

    def __post_init__(self):
        check_int("S", self.S, 1)
        check_int("R", self.R, 1)
        check_int("D", self.D, 2)
        check_int("n_noise", self.n_noise, 1)
        check_int("T", self.T, 2)

    @property
    def V(self) -> int:
        """Vocabulary size S + R + n_noise.

        Returns
        -------
        int
            V = S + R + n_noise.
        """
        return self.S + self.R + self.n_noise

    @property
    def A(self) -> int:
        """Number of attributes R D.

        Returns
        -------
        int
            A = R D.
        """
        return self.R * self.D

    @property
    def n_facts(self) -> int:
        """Number of facts S R (one per (subject, relation) pair).

        Returns
        -------
        int
            S R.
        """
        return self.S * self.R

    def facts(self, seeds) -> torch.Tensor:
        """a*(s, r) per seed, shape (num_seeds, S, R), int64 attribute ids in A_r = [r D, (r+1) D).

        a*(s, r) = r D + j, j ~ Uniform{0, ..., D - 1} i.i.d., from the seed's fact stream.

        Parameters
        ----------
        seeds : int or sequence of int
            One seed or a non-empty sequence of seeds, each in [0, 2**62].

        Returns
        -------
        torch.Tensor
            int64 tensor (num_seeds, S, R), on the CPU.
        """
        seeds = check_seeds(seeds)
        out = torch.empty(len(seeds), self.S, self.R, dtype=torch.long)
        for i, s in enumerate(seeds):
            out[i] = torch.randint(0, self.D, (self.S, self.R), generator=generator(s, _FACT_STREAM))
        return out + self.D * torch.arange(self.R)

    def prompts(self, seed: int, step: int = 0, *, device=None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Every fact once, with fresh noise: ``(tokens (S R, T), subject (S R,), relation (S R,))``.

        Fact n is (s, r) = (n // R, n % R). The draw depends only on (seed, step).
        tokens[n, t] = S + R + k_{n,t} (k uniform in [n_noise]) except tokens[n, pos_n] = s (pos_n uniform in
        [0, T - 2]) and tokens[n, T - 1] = S + r.

        Parameters
        ----------
        seed : int
            Noise seed, in [0, 2**62].
        step : int, default 0
            Training step (selects the noise draw), in [0, MAX_PROMPT_STEP] (about 5.8e14).
        device : str, torch.device or None, default None
            'cpu' (also for None), 'cuda', 'cuda:k' or 'auto'.

        Returns
        -------
        tokens : torch.Tensor
            int64 (S R, T).
        subject : torch.Tensor
            int64 (S R,), s of each prompt.
        relation : torch.Tensor
            int64 (S R,), r of each prompt (its token is S + r).
        """
        seed = check_int("seed", seed, 0, 2**62)
        step = check_int("step", step, 0, MAX_PROMPT_STEP)
        g = generator(seed, _NOISE_STREAM + 7919 * step)
        n = self.n_facts
        s = torch.arange(self.S).repeat_interleave(self.R)
        r = torch.arange(self.R).repeat(self.S)
        tok = self.S + self.R + torch.randint(0, self.n_noise, (n, self.T), generator=g)
        pos = torch.randint(0, self.T - 1, (n,), generator=g)
        tok[torch.arange(n), pos] = s
        tok[:, -1] = self.S + r
        dev = resolve_device(device)
        return tok.to(dev), s.to(dev), r.to(dev)


def relation_marginal(facts: torch.Tensor, D: int) -> torch.Tensor:
    """p(a|r) = #{s : a*(s, r) = a} / S, shape (num_seeds, R, R D), from facts of shape (num_seeds, S, R).

    Parameters
    ----------
    facts : torch.Tensor or array_like
        Integers of shape (num_seeds, S, R), non-empty, values in [0, R D - 1] (e.g. :meth:`FactTask.facts`).
    D : int
        Attributes per relation, >= 2.

    Returns
    -------
    torch.Tensor
        float64 tensor (num_seeds, R, R D), rows summing to 1, on the CPU.
    """
    D = check_int("D", D, 2)
    if torch.is_tensor(facts):
        check_tensor("facts", facts, ndim=3, kind="int")
        facts = facts.long()
    else:
        facts = torch.as_tensor(check_array("facts", facts, ndim=3, dtype=np.int64))
    B, S, R = facts.shape
    if int(facts.min()) < 0 or int(facts.max()) >= R * D:
        raise ValueError(f"facts values must lie in [0, R D - 1] = [0, {R * D - 1}] (D={D})")
    check_alloc("D", 8.0 * B * R * R * D)
    p = torch.zeros(B, R, R * D, dtype=torch.float64)
    p.scatter_add_(2, facts.transpose(1, 2), torch.ones(B, R, S, dtype=torch.float64))
    return p / S


# ------------------------------------------------------------------------- softmax transformer
@dataclass
class Sizes:
    """A grid of model sizes trained together.

    Model k has embedding dimension ``dims[k]``, ``heads[k]`` heads of dimension ``d_head`` and an MLP of
    width ``widths[k]`` (0: attention only); it has 4 heads[k] d_head dims[k] + 2 widths[k] dims[k] trained
    parameters (:func:`parameter_count`).

    Parameters
    ----------
    dims : sequence of int
        Embedding dimensions d_k, each >= 1 (a list, tuple, range or 1-D array; stored as a tuple).
    heads : sequence of int
        Numbers of heads H_k, each >= 1, same length as ``dims``.
    widths : sequence of int
        MLP widths m_k, each >= 0 (0: attention only), same length as ``dims``.
    d_head : int
        Head dimension, >= 1.
    """

    dims: tuple
    heads: tuple
    widths: tuple
    d_head: int

    def __post_init__(self):
        self.d_head = check_int("d_head", self.d_head, 1)
        for name in ("dims", "heads", "widths"):
            v = getattr(self, name)
            if not isinstance(v, (list, tuple, range, np.ndarray)):
                raise ValueError(f"{name} must be a sequence of ints (list, tuple, range or 1-D array), got {v!r}")
        n = len(self.dims)
        if n == 0 or len(self.heads) != n or len(self.widths) != n:
            raise ValueError("dims, heads and widths must be non-empty sequences of the same length")
        self.dims = tuple(check_int("dims", v, 1) for v in self.dims)
        self.heads = tuple(check_int("heads", h, 1) for h in self.heads)
        self.widths = tuple(check_int("widths", m, 0) for m in self.widths)

    @property
    def K(self) -> int:
        """Number of models K = len(heads) in the grid.

        Returns
        -------
        int
            K >= 1.
        """
        return len(self.heads)

    @property
    def params(self) -> np.ndarray:
        """Trained parameters of each model, see :func:`parameter_count`.

        params[k] = 4 heads[k] d_head dims[k] + 2 widths[k] dims[k].

        Returns
        -------
        numpy.ndarray
            int (K,).
        """
        return np.array([parameter_count(d, h, self.d_head, m) for d, h, m in zip(self.dims, self.heads, self.widths)])


def init_params(sizes: Sizes, seeds, *, device=None, dtype=None) -> dict:
    """Initial weights of every (seed, size) model, stacked seed-major: leading axis num_seeds * K.

    Model k of seed s has W_Q^h, W_K^h, W_V^h ~ N(0, 1/d_k) (d_head x d_k), W_1 ~ N(0, 1/d_k) (m_k x d_k),
    W_O = 0, W_2 = 0, zero-padded to (H_max, d_max, m_max). Each table is an :class:`Embedding` of
    (seed, stream, d_k) whose row i does not depend on the number of rows, so a model's initial weights
    do not depend on the other sizes of the batch (batched == looped), and sizes of one seed share
    them (common random numbers along a size grid).

    Parameters
    ----------
    sizes : Sizes
        The size grid (K models).
    seeds : int or sequence of int
        One seed or a non-empty sequence of seeds, each in [0, 2**62].
    device : str, torch.device or None, default None
        'cpu' (also for None), 'cuda', 'cuda:k' or 'auto'.
    dtype : torch.dtype, str or None, default None
        torch.float32 (also for None) or torch.float64, or their names.

    Returns
    -------
    dict
        'WQ', 'WK', 'WV' (B, H_max, d_head, d_max), 'WO' (B, H_max, d_max, d_head), 'W1' (B, m_max, d_max),
        'W2' (B, d_max, m_max), B = num_seeds * K, model index b = seed index * K + k.
    """
    if not isinstance(sizes, Sizes):
        raise ValueError(f"sizes must be a Sizes, got {type(sizes).__name__}")
    seeds = check_seeds(seeds)
    dev, dt = resolve_device(device), resolve_dtype(dtype)
    nS, K, dh = len(seeds), sizes.K, sizes.d_head
    H, m, dmax = max(sizes.heads), max(sizes.widths), max(sizes.dims)
    check_alloc("sizes, seeds", float(dt.itemsize) * 2 * nS * K * dmax * (4 * H * dh + 2 * m))
    p = {k: torch.zeros(nS, K, H, dh, dmax, dtype=dt) for k in ("WQ", "WK", "WV")}
    p["WO"] = torch.zeros(nS * K, H, dmax, dh, dtype=dt)
    p["W1"] = torch.zeros(nS, K, m, dmax, dtype=dt)
    p["W2"] = torch.zeros(nS * K, dmax, m, dtype=dt)
    for dk in sorted(set(sizes.dims)):
        idx = [k for k, v in enumerate(sizes.dims) if v == dk]
        hk = max(sizes.heads[k] for k in idx)
        for j, name in enumerate(("WQ", "WK", "WV")):
            for h in range(hk):
                w = Embedding(dh, dk, seeds, stream=_INIT_STREAM + 8 * h + j).full(dtype=dt)  # (nS, dh, dk)
                p[name][:, idx, h, :, :dk] = w[:, None]
        mk = max(sizes.widths[k] for k in idx)
        if mk:
            p["W1"][:, idx, :mk, :dk] = Embedding(mk, dk, seeds, stream=_INIT_STREAM + 7).full(dtype=dt)[:, None]
    for name in ("WQ", "WK", "WV"):
        p[name] = p[name].reshape(nS * K, H, dh, dmax)
    p["W1"] = p["W1"].reshape(nS * K, m, dmax)
    return {k: v.to(dev) for k, v in p.items()}


def transformer_logits(
    params: dict,
    E: torch.Tensor,
    U: torch.Tensor,
    tokens: torch.Tensor,
    head_mask: torch.Tensor | None = None,
    unit_mask: torch.Tensor | None = None,
    dim_mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Logits (B, n, A) of B one-layer transformers on prompts ``tokens`` (n, T) (shared by all models).

    h = e_{x_T} + sum_h W_O^h W_V^h sum_i softmax_i(<W_Q^h e_{x_T}, W_K^h e_{x_i}> / sqrt(d_h)) e_{x_i},
    h <- h + W_2 relu(W_1 h) (when m > 0), logits_a = u_a^T h (masks applied as below).

    E : (B, V, d) token embeddings; U : (B, A, d) attribute unembeddings; params from :func:`init_params`;
    head_mask (B, H), unit_mask (B, m) and dim_mask (B, d) switch heads / hidden units / residual
    coordinates off (1 = on): a model of dimension d_k < d has zero embeddings beyond d_k and its
    writes there (W_O, W_2) are masked, so it is exactly a d_k-dimensional model.
    Cost O(B n T H d_h d): keys, values and queries as batched products over all positions.

    Parameters
    ----------
    params : dict
        'WQ', 'WK', 'WV' (B, H, d_h, d), 'WO' (B, H, d, d_h), 'W1' (B, m, d), 'W2' (B, d, m) (m may be 0).
    E : torch.Tensor
        Token embeddings, shape (B, V, d).
    U : torch.Tensor
        Attribute unembeddings, shape (B, A, d).
    tokens : torch.Tensor
        int64 prompts, shape (n, T), values in [0, V - 1].
    head_mask : torch.Tensor or None, default None
        (B, H), 1 = head on, 0 = off (None: all on).
    unit_mask : torch.Tensor or None, default None
        (B, m), 1 = hidden unit on (None: all on).
    dim_mask : torch.Tensor or None, default None
        (B, d), 1 = residual coordinate written by W_O and W_2 (None: all).

    Returns
    -------
    torch.Tensor
        Shape (B, n, A).

    Raises
    ------
    ValueError
        Naming the argument whose type, dtype, shape or entries do not fit the others (all float tensors of
        one dtype; ``tokens`` integers in [0, V - 1]; masks None or real tensors of the shapes above).
    """
    E = check_tensor("E", E, ndim=3)
    B, V, d = E.shape
    if not isinstance(params, dict):
        raise ValueError(f"params must be a dict of tensors (see init_params), got {type(params).__name__}")
    missing = [k for k in _PARAM_KEYS if k not in params]
    if missing:
        raise ValueError(f"params must have the keys {_PARAM_KEYS}, missing {missing}")
    WQ = check_tensor("params['WQ']", params["WQ"], ndim=4)
    H, dh = WQ.shape[1], WQ.shape[2]
    m = params["W1"].shape[1] if torch.is_tensor(params["W1"]) and params["W1"].ndim == 3 else -1
    want: dict[str, tuple[int, ...]] = {"WQ": (B, H, dh, d), "WK": (B, H, dh, d), "WV": (B, H, dh, d)}
    want |= {"WO": (B, H, d, dh)}
    want |= {"W1": (B, m, d), "W2": (B, d, m)}
    for k in _PARAM_KEYS:
        t = check_tensor(f"params[{k!r}]", params[k], shape=want[k], allow_empty=k in ("W1", "W2"))
        if t.dtype != E.dtype:
            raise ValueError(f"params[{k!r}] must have the dtype of E ({E.dtype}), got {t.dtype}")
    check_tensor("U", U, shape=(B, -1, d))
    if U.dtype != E.dtype:
        raise ValueError(f"U must have the dtype of E ({E.dtype}), got {U.dtype}")
    check_tensor("tokens", tokens, ndim=2, kind="int")
    if int(tokens.min()) < 0 or int(tokens.max()) >= V:
        raise ValueError(f"tokens must lie in [0, V - 1] = [0, {V - 1}] (V = E.shape[1])")
    for name, mask, n_ in (("head_mask", head_mask, H), ("unit_mask", unit_mask, m), ("dim_mask", dim_mask, d)):
        if mask is not None:
            check_tensor(name, mask, shape=(B, n_), kind="any", allow_empty=n_ == 0)
    n, T = tokens.shape
    check_alloc("tokens", float(E.dtype.itemsize) * B * n * T * (d + 3 * H * dh + 2))
    return _transformer_logits(params, E, U, tokens.long(), head_mask, unit_mask, dim_mask)


_PARAM_KEYS = ("WQ", "WK", "WV", "WO", "W1", "W2")


def _transformer_logits(params, E, U, tokens, head_mask=None, unit_mask=None, dim_mask=None) -> torch.Tensor:
    """The kernel of :func:`transformer_logits`, without argument checks (the trainer's inner loop)."""
    B, _V, d = E.shape
    WQ, WK, WV, WO, W1, W2 = (params[k] for k in ("WQ", "WK", "WV", "WO", "W1", "W2"))
    H, dh = WQ.shape[1], WQ.shape[2]
    n, T = tokens.shape
    X = E[:, tokens.reshape(-1)]  # (B, n T, d)
    Hd = H * dh
    k = torch.bmm(X, WK.reshape(B, Hd, d).transpose(1, 2)).view(B, n, T, H, dh)
    v = torch.bmm(X, WV.reshape(B, Hd, d).transpose(1, 2)).view(B, n, T, H, dh)
    q = torch.bmm(E[:, tokens[:, -1]], WQ.reshape(B, Hd, d).transpose(1, 2)).view(B, n, 1, H, dh)
    att = torch.softmax((k * q).sum(-1) / math.sqrt(dh), dim=2)  # (B, n, T, H)
    o = (att.unsqueeze(-1) * v).sum(2)  # (B, n, H, dh)
    if head_mask is not None:
        o = o * head_mask[:, None, :, None]
    last = tokens[:, -1]
    att_out = torch.bmm(
        o.reshape(B, n, Hd), WO.permute(0, 2, 1, 3).reshape(B, d, Hd).transpose(1, 2)
    )  # sum_h W_O^h o_h
    if dim_mask is not None:
        att_out = att_out * dim_mask[:, None, :]
    h = E[:, last] + att_out  # (B, n, d)
    if W1.shape[1] > 0:
        a = torch.relu(h @ W1.transpose(1, 2))  # (B, n, m)
        if unit_mask is not None:
            a = a * unit_mask[:, None, :]
        mlp_out = a @ W2.transpose(1, 2)
        if dim_mask is not None:
            mlp_out = mlp_out * dim_mask[:, None, :]
        h = h + mlp_out
    return h @ U.transpose(1, 2)


def parameter_count(d: int, H: int, d_head: int, m: int) -> int:
    """Trained parameters of one model: 4 H d_h d (W_Q, W_K, W_V, W_O) + 2 m d (W_1, W_2).

    Parameters
    ----------
    d : int
        Embedding dimension, >= 1.
    H : int
        Number of heads, >= 0.
    d_head : int
        Head dimension, >= 1.
    m : int
        MLP width, >= 0.

    Returns
    -------
    int
        4 H d_head d + 2 m d.
    """
    d, H, d_head, m = check_int("d", d, 1), check_int("H", H, 1), check_int("d_head", d_head, 1), check_int("m", m, 0)
    return 4 * H * d_head * d + 2 * m * d


@dataclass
class TrainResult:
    """Result of :func:`train_transformers`.

    accuracy, loss : (num_seeds, K) final accuracy (argmax over all R D attributes, all S R facts, fresh
    noise) and cross-entropy; params : (K,) trained-parameter counts; history : (checkpoints, num_seeds, K)
    accuracy along training at ``steps_at``.
    accuracy = (1/(S R)) sum_{s,r} 1{argmax_a logits_a = a*(s, r)},
    loss = -(1/(S R)) sum_{s,r} log softmax(logits)_{a*(s,r)}.

    Parameters
    ----------
    accuracy : numpy.ndarray
        (num_seeds, K) final accuracy, in [0, 1].
    loss : numpy.ndarray
        (num_seeds, K) final cross-entropy, >= 0.
    params : numpy.ndarray
        (K,) trained-parameter counts.
    history : numpy.ndarray
        (checkpoints, num_seeds, K) accuracy at ``steps_at``.
    steps_at : numpy.ndarray
        (checkpoints,) steps of the evaluations (the last one is ``steps``).
    info : dict, default {}
        Run settings ('steps', 'lr').
    """

    accuracy: np.ndarray
    loss: np.ndarray
    params: np.ndarray
    history: np.ndarray
    steps_at: np.ndarray
    info: dict = field(default_factory=dict)


def _masks(sizes: Sizes, n_seeds: int, device, dtype):
    """(B, H_max), (B, m_max), (B, d_max) masks for the models (seed-major, size-minor)."""

    def mask(vals, n):
        return (torch.arange(n)[None] < torch.tensor(vals)[:, None]).to(dtype).repeat(n_seeds, 1).to(device)

    return (
        mask(sizes.heads, max(sizes.heads)),
        mask(sizes.widths, max(sizes.widths)),
        mask(sizes.dims, max(sizes.dims)),
    )


def _padded_embeddings(n: int, sizes: Sizes, seeds: tuple, stream: str, device, dtype) -> torch.Tensor:
    """N(0, 1/d_k) tables of every model, zero-padded to d_max: shape (num_seeds * K, n, d_max)."""
    dmax = max(sizes.dims)
    out = torch.zeros(len(seeds), sizes.K, n, dmax, dtype=dtype)
    for dk in sorted(set(sizes.dims)):
        idx = [k for k, v in enumerate(sizes.dims) if v == dk]
        out[:, idx, :, :dk] = Embedding(n, dk, seeds, stream=stream).full(dtype=dtype)[:, None]
    return out.reshape(-1, n, dmax).to(device)


#: default ``max_bytes`` of :func:`train_transformers` (1 GiB): all models' weights plus one group's working memory
TRAIN_MAX_BYTES = 2**30


def _train_memory(task: FactTask, sizes: Sizes, num_seeds: int, *, dtype=None) -> tuple[int, int]:
    """Estimated memory of :func:`train_transformers`: bytes held for all models, and working bytes per model.

    Every model is padded to the grid's (H_max, d_max, m_max) (:func:`init_params`), so all num_seeds * K models
    need the same working memory (``train_transformers(pad='size')`` calls it once per distinct size, K = 1).
    With n = S R prompts of T tokens, Hd = H_max d_head, P = 4 Hd d_max + 2 m_max d_max padded weights per model
    and b bytes per element of ``dtype``:

        per_model = b (8 n T Hd + 2 n T d_max + 4 n T H_max + n (6 Hd + 8 d_max + 6 m_max + 4 A) + 6 P) + 8 n,
        shared = b num_seeds K (3 P + (V + A) d_max + H_max + m_max + d_max).

    per_model counts a training step's largest tensors (keys and values (n, T, Hd), their products and
    gradients) with a margin, and the weights, gradients and Adam moments; shared counts the initial weights
    of every model (and init_params's temporaries), their embeddings and masks.

    Parameters
    ----------
    task : FactTask
        The task (n = S R prompts of T tokens, V tokens, A attributes).
    sizes : Sizes
        The K model sizes (padded to their maxima).
    num_seeds : int
        Number of seeds, >= 1.
    dtype : torch.dtype, str or None, default None
        torch.float32 (also for None) or torch.float64, or their names.

    Returns
    -------
    shared : int
        Bytes held for all num_seeds * K models at once (initial weights, embeddings, masks).
    per_model : int
        Bytes of working memory per model trained together (activations, gradients, Adam's state).
    """
    if not isinstance(task, FactTask):
        raise ValueError(f"task must be a FactTask, got {type(task).__name__}")
    if not isinstance(sizes, Sizes):
        raise ValueError(f"sizes must be a Sizes, got {type(sizes).__name__}")
    num_seeds = check_int("num_seeds", num_seeds, 1)
    b = resolve_dtype(dtype).itemsize
    n, T, A, V = task.n_facts, task.T, task.A, task.V
    H, m, d = max(sizes.heads), max(sizes.widths), max(sizes.dims)
    Hd = H * sizes.d_head
    P = 4 * Hd * d + 2 * m * d
    per_model = b * (8 * n * T * Hd + 2 * n * T * d + 4 * n * T * H + n * (6 * Hd + 8 * d + 6 * m + 4 * A) + 6 * P)
    per_model += 8 * n  # int64 targets
    shared = b * num_seeds * sizes.K * (3 * P + (V + A) * d + H + m + d)
    return int(shared), int(per_model)


def _group_align(task: FactTask, sizes: Sizes, itemsize: int) -> int:
    """Smallest a such that a models' slice of every weight and activation tensor of a step spans a multiple of
    64 bytes. MKL's batched products round differently at other alignments (measured), so groups that start at
    multiples of a place every model at its one-batch address modulo 64 bytes: bit-identical values."""
    n, T, A = task.n_facts, task.T, task.A
    H, m, d, dh = max(sizes.heads), max(sizes.widths), max(sizes.dims), sizes.d_head
    spans = (H * dh * d, m * d, n * T * d, n * d, n * T * H * dh, n * H * dh, n * T * H, n * m, n * A)
    return max(64 // math.gcd(itemsize * s, 64) if s else 1 for s in spans)


def _group_size(B: int, fit: int, align: int) -> int:
    """Models per group: at most ``fit`` (>= 1), a multiple of ``align`` where ``fit`` allows, near-equal groups."""
    if fit >= B:
        return B
    if fit >= align:
        fit -= fit % align
    n_groups = -(-B // fit)
    even = -(-B // n_groups)
    return min(fit, -(-even // align) * align) if fit >= align else even


def train_transformers(
    task: FactTask,
    sizes: Sizes,
    seeds,
    *,
    steps: int = 1000,
    lr: float = 1e-2,
    eval_every: int = 0,
    noise_seed: int | None = None,
    max_bytes: float | None = TRAIN_MAX_BYTES,
    pad: str = "size",
    device=None,
    dtype=None,
    progress: bool | None = None,
) -> TrainResult:
    """Train one-layer transformers of every size in ``sizes`` for every seed with full-batch Adam.

    Each step sees every fact once (S R prompts) with fresh noise; the learning rate decays as a
    cosine from ``lr`` to ``lr/100``. Per seed: its own facts, embeddings (streams 'e', 'u') and
    initialisation; the sizes of one seed share them (common random numbers along the size grid).

    ``pad`` says how the sizes share a batch (the model and its training are the same; only float round-off
    differs, see below):

    - 'size' (default): the models of one distinct size (d_k, H_k, m_k), one per seed, train unpadded as their
      own batch, one distinct size after the other (sizes that repeat in the grid train once). The work is the
      sum of the sizes', not K times the largest's: on the full tier's FR1 grids about 4 times less (measured on
      one thread, 6 steps of one seed: 4.9 s against 20.8 s with 'grid' at (S, R, D, d) = (64, 64, 4, 64), 1.3
      against 7.1 s at (64, 32, 4, 32); 30 steps of two seeds at (16, 8, 4, 32): 0.55 against 1.57 s).
    - 'grid': all models in one batch, every model padded to the grid's (H_max, d_max, m_max) with masks (the
      suite's only mode before 2026-12-05; the full tier's FR1 store rows of version 1 were trained so).

    The two modes agree up to float round-off (the padded zeros add exact zeros, but MKL's products may order a
    sum differently at other shapes; measured: at most a few float32 ulps in the loss after 30 steps, and
    tests/test_factual_chunks.py bounds it), which can grow over a long training like any round-off, as between
    devices or thread counts.

    Within a mode, the models (model b = seed index * K + k) train in consecutive groups, each group one
    batch with its own Adam; the results are put back in model order. The loss of a group is the sum of its
    models' mean cross-entropies, so Adam (element-wise) updates each model exactly as if it were trained alone.
    Groups hold as many models as fit in ``max_bytes`` (the fewest groups, near-equal; with 'size', per
    distinct size, and H_max, d_max, m_max below are that size's): with n = S R
    prompts of T tokens, Hd = H_max d_head, P = 4 Hd d_max + 2 m_max d_max and b bytes per element, a model
    is counted as b (8 n T Hd + 2 n T d_max + 4 n T H_max + n (6 Hd + 8 d_max + 6 m_max + 4 A) + 6 P) + 8 n
    bytes, and all models' initial weights, embeddings and masks as b num_seeds K (3 P + (V + A) d_max +
    H_max + m_max + d_max), a margin over what is measured (a full-tier FR1 model, (S, R, A, d) =
    (64, 64, 4, 64), H_max = 128, d_head = 4, m_max = 256, float32: counted 322 MiB, measured 130-190 MiB).
    Grouping does not change any value when each group starts at a multiple of the smallest number of
    models whose slice of every weight and activation spans a multiple of 64 bytes (then every model sits at
    its one-batch address modulo 64 bytes; always 1 model when S R and d_max are multiples of 16, as in the
    checks), and groups are made so whenever ``max_bytes`` holds that many models: bit for bit equal to one
    batch (tests/test_factual_chunks.py). Otherwise MKL's batched products may round differently (float
    round-off, measured below 1e-7 relative in the loss in float32).
    The noise of the prompts is shared by all models and drawn from ``noise_seed`` (default: the first
    seed), so a batch over seeds equals the runs of each seed alone with the same ``noise_seed``.
    Rate at step t: lr (0.01 + 0.99 (1 + cos(pi min(t/steps, 1))) / 2); loss = sum_b (1/(S R)) sum_n CE_b(n).

    Parameters
    ----------
    task : FactTask
        The task (S subjects, R relations, D attributes per relation).
    sizes : Sizes
        The K model sizes.
    seeds : int or sequence of int
        One seed or a non-empty sequence of seeds, each in [0, 2**62].
    steps : int, default 1000
        Adam steps, in [1, MAX_STEPS].
    lr : float, default 1e-2
        Initial learning rate, in (0, inf).
    eval_every : int, default 0
        Record the accuracy every ``eval_every`` steps, >= 0 (0: only at the end).
    noise_seed : int or None, default None
        Seed of the prompt noise, in [0, 2**62] (None: the first seed).
    max_bytes : float or None, default TRAIN_MAX_BYTES (1 GiB)
        Memory budget in bytes, in (0, inf): the estimated memory of all models' initial weights and
        embeddings (with ``pad='size'``: of one distinct size's models) plus one group's working memory stays
        under it. None: all models in one group (with ``pad='size'``: one group per distinct size; no budget).
    pad : {'size', 'grid'}, default 'size'
        'size': every distinct size trains unpadded, as its own batch over the seeds; 'grid': one batch of
        all sizes padded to the grid's maxima (see above).
    device : str, torch.device or None, default None
        'cpu' (also for None), 'cuda', 'cuda:k' or 'auto'.
    dtype : torch.dtype, str or None, default None
        torch.float32 (also for None) or torch.float64, or their names.
    progress : bool or None, default None
        Show a tqdm progress bar over the steps of every group: True, False, or None (shown on a terminal only).

    Returns
    -------
    TrainResult
        Final accuracy and loss per (seed, size), parameter counts and the accuracy history; ``info`` has
        'steps', 'lr', 'pad' and 'groups' (the number of model groups trained, over all distinct sizes).

    Raises
    ------
    ValueError
        Naming the argument out of its range; for ``max_bytes`` too small to hold one model, with the sizes and
        the bytes one model needs (before any training).
    FloatingPointError
        When training diverged: a training or evaluation loss became non-finite (lower ``lr``).
    """
    if not isinstance(task, FactTask):
        raise ValueError(f"task must be a FactTask, got {type(task).__name__}")
    if not isinstance(sizes, Sizes):
        raise ValueError(f"sizes must be a Sizes, got {type(sizes).__name__}")
    seeds = check_seeds(seeds)
    steps = check_int("steps", steps, 1, MAX_STEPS)
    lr = check_float("lr", lr, 0.0, lo_open=True)
    eval_every = check_int("eval_every", eval_every, 0)
    if progress is not None:
        check_bool("progress", progress)
    noise_seed = seeds[0] if noise_seed is None else check_int("noise_seed", noise_seed, 0, 2**62)
    if max_bytes is not None:
        max_bytes = check_float("max_bytes", max_bytes, 0.0, lo_open=True)
    pad = check_choice("pad", pad, ("size", "grid"))
    dev, dt = resolve_device(device), resolve_dtype(dtype)
    nS, K = len(seeds), sizes.K
    # the batches: (sub-grid, the grid's columns k it gives); 'grid': the whole grid once
    if pad == "grid":
        parts = [(sizes, list(range(K)))]
    else:
        by_size: dict[tuple, list[int]] = {}
        for k, dhm in enumerate(zip(sizes.dims, sizes.heads, sizes.widths)):
            by_size.setdefault(dhm, []).append(k)
        parts = [(Sizes(dims=[d], heads=[h], widths=[m], d_head=sizes.d_head), c) for (d, h, m), c in by_size.items()]
    plans = []  # (sub-grid, its columns, models per group), all checked before any training
    for sub, cols in parts:
        shared, per_model = _train_memory(task, sub, nS, dtype=dt)
        B = nS * sub.K
        if max_bytes is None:
            group = B
        else:
            group = int((max_bytes - shared) // per_model)
            if group < 1:
                who = f"the {nS} x {sub.K} models'" if pad == "grid" else f"the {nS} models' (one per seed)"
                raise ValueError(
                    f"max_bytes must be at least {(shared + per_model) / 2**30:.3g} GiB ({shared + per_model} bytes) "
                    f"for one model, got {max_bytes / 2**30:.3g} GiB: one model of (d_max, H_max, d_head, m_max) = "
                    f"({max(sub.dims)}, {max(sub.heads)}, {sub.d_head}, {max(sub.widths)}) on S R = "
                    f"{task.n_facts} prompts of T = {task.T} tokens needs {per_model / 2**30:.3g} GiB of working "
                    f"memory, and {who} weights and embeddings {shared / 2**30:.3g} GiB"
                )
            group = _group_size(B, group, _group_align(task, sub, dt.itemsize))
        check_alloc("task, sizes", shared + min(group, B) * per_model)
        plans.append((sub, cols, group))
    facts = task.facts(seeds).to(dev).reshape(nS, -1)  # (nS, S R), fact n = (n // R, n % R)

    from tqdm.auto import tqdm

    n_groups = sum(-(-(nS * sub.K) // g) for sub, _, g in plans)
    bar = tqdm(
        total=steps * n_groups,
        desc="train_transformers",
        unit="step",
        disable=None if progress is None else not progress,
        mininterval=1.0,
    )
    acc = np.zeros((nS, K))
    loss = np.zeros((nS, K))
    history = None
    at: list[int] = []
    try:
        for sub, cols, group in plans:
            Ks = sub.K
            B = nS * Ks
            # a single size: every mask is all ones, and x * 1 == x, so no masks (the same values, less work)
            hm, um, dm = _masks(sub, nS, dev, dt) if Ks > 1 else (None, None, None)
            E = _padded_embeddings(task.V, sub, seeds, "e", dev, dt)
            U = _padded_embeddings(task.A, sub, seeds, "u", dev, dt)
            init = init_params(sub, seeds, device=dev, dtype=dt)
            accs, losses, hists = [], [], []
            for lo in range(0, B, group):
                hi = min(lo + group, B)
                weights = {k: v[lo:hi] for k, v in init.items()}
                target = facts[torch.arange(lo, hi, device=dev) // Ks]  # (G, S R)
                masks = tuple(None if mk is None else mk[lo:hi] for mk in (hm, um, dm))
                a, ls, hist, at = _train_group(
                    task, weights, E[lo:hi], U[lo:hi], target, masks, steps, lr, eval_every, noise_seed, dev, bar
                )
                accs.append(a)
                losses.append(ls)
                hists.append(hist)
            a = np.concatenate(accs).reshape(nS, Ks)
            ls = np.concatenate(losses).reshape(nS, Ks)
            hist = np.concatenate(hists, axis=1).reshape(len(at), nS, Ks)
            if history is None:
                history = np.zeros((len(at), nS, K))
            # 'grid': cols are all K columns, in order; 'size': one column (Ks = 1), broadcast to every column of
            # the grid that has this size
            acc[:, cols] = a
            loss[:, cols] = ls
            history[:, :, cols] = hist
    finally:
        bar.close()
    info = {"steps": steps, "lr": lr, "pad": pad, "groups": n_groups}
    return TrainResult(acc, loss, sizes.params, history, np.array(at), info=info)


def _train_group(task, init, E, U, target, masks, steps, lr, eval_every, noise_seed, dev, bar):
    """Train the models of one group (weights ``init``, leading axis the group's models) from scratch: final
    accuracy and loss (G,), the accuracy history (checkpoints, G) and its steps."""
    hm, um, dm = masks
    params = {k: v.detach().clone().requires_grad_(True) for k, v in init.items()}
    opt = torch.optim.Adam(params.values(), lr=lr)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda t: 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * min(t / steps, 1.0)))
    )
    history, at = [], []
    finite = torch.ones((), dtype=torch.bool, device=dev)  # every training loss so far finite (no sync per step)

    def evaluate(tag: int):
        with torch.no_grad():
            tok, _, _ = task.prompts(noise_seed, 10**6 + tag, device=dev)
            lg = _transformer_logits(params, E, U, tok, hm, um, dm)
            acc = (lg.argmax(-1) == target).to(torch.float64).mean(-1)
            loss = torch.nn.functional.cross_entropy(lg.transpose(1, 2), target, reduction="none").mean(-1)
        if not bool(finite & torch.isfinite(loss).all()):
            raise FloatingPointError(f"training diverged (non-finite loss by step {tag}); lower lr (got {lr})")
        return acc.cpu().numpy(), loss.double().cpu().numpy()

    for t in range(steps):
        tok, _, _ = task.prompts(noise_seed, t, device=dev)
        lg = _transformer_logits(params, E, U, tok, hm, um, dm)
        loss = torch.nn.functional.cross_entropy(lg.transpose(1, 2), target, reduction="none").mean(-1).sum()
        finite &= torch.isfinite(loss.detach())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        bar.update(1)
        if eval_every and (t + 1) % eval_every == 0 and t + 1 < steps:
            history.append(evaluate(t)[0])
            at.append(t + 1)
    acc, loss = evaluate(steps)
    history.append(acc)
    at.append(steps)
    return acc, loss, np.stack(history), at


# ------------------------------------------------------------------- linear attention, one-hot
def linear_onehot_logits(W_OV: torch.Tensor, w_KQ: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """logits_a = sum_i w_KQ(x_i) W_OV(a, x_i) for W_OV (B, A, V), w_KQ (B, V), tokens (n, T): (B, n, A).

    Parameters
    ----------
    W_OV : torch.Tensor
        Output-value weights, shape (B, A, V).
    w_KQ : torch.Tensor
        Key-query weight of every token, shape (B, V).
    tokens : torch.Tensor
        int64 prompts, shape (n, T), values in [0, V - 1].

    Returns
    -------
    torch.Tensor
        Shape (B, n, A).

    Raises
    ------
    ValueError
        Naming the argument whose type, dtype, shape or entries do not fit (``W_OV`` and ``w_KQ`` finite float
        tensors of one dtype, ``tokens`` integers in [0, V - 1]).
    """
    check_tensor("W_OV", W_OV, ndim=3)
    B, _A, V = W_OV.shape
    check_tensor("w_KQ", w_KQ, shape=(B, V))
    if w_KQ.dtype != W_OV.dtype:
        raise ValueError(f"w_KQ must have the dtype of W_OV ({W_OV.dtype}), got {w_KQ.dtype}")
    check_tensor("tokens", tokens, ndim=2, kind="int")
    if int(tokens.min()) < 0 or int(tokens.max()) >= V:
        raise ValueError(f"tokens must lie in [0, V - 1] = [0, {V - 1}] (V = W_OV.shape[2])")
    check_alloc("tokens", float(W_OV.dtype.itemsize) * W_OV.shape[1] * B * tokens.numel() * 2)
    return _linear_onehot_logits(W_OV, w_KQ, tokens.long())


def _linear_onehot_logits(W_OV: torch.Tensor, w_KQ: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """The kernel of :func:`linear_onehot_logits`, without argument checks (the flow's inner loop)."""
    cols = W_OV[:, :, tokens]  # (B, A, n, T)
    return torch.einsum("bant,bnt->bna", cols, w_KQ[:, tokens])


def population_prompts(task: FactTask, *, device=None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Every (s, r, noise) prompt once for T = 3 (s, z, r): ``(tokens (S R N, 3), fact index (S R N,), noise)``.

    Without positions the linear one-hot model only sees the multiset of tokens, so these S R N
    prompts, equally weighted, are the whole population: their mean loss is the population loss.
    Prompt i = n N + z has tokens (n // R, S + R + z, S + n % R) for fact n and noise token z.

    Parameters
    ----------
    task : FactTask
        A task with T = 3 (S subjects, R relations, N = n_noise noise tokens).
    device : str, torch.device or None, default None
        'cpu' (also for None), 'cuda', 'cuda:k' or 'auto'.

    Returns
    -------
    tokens : torch.Tensor
        int64 (S R N, 3).
    fact : torch.Tensor
        int64 (S R N,), the fact index n = s R + r.
    noise : torch.Tensor
        int64 (S R N,), the noise index z in [0, N - 1].
    """
    if not isinstance(task, FactTask) or task.T != 3:
        raise ValueError("task must be a FactTask with T = 3 for the enumerated population")
    S, R, N = task.S, task.R, task.n_noise
    n = torch.arange(S * R).repeat_interleave(N)
    z = torch.arange(N).repeat(S * R)
    tok = torch.stack([n // R, S + R + z, S + n % R], 1)
    dev = resolve_device(device)
    return tok.to(dev), n.to(dev), z.to(dev)


@dataclass
class FlowResult:
    """Trajectory of :func:`gradient_flow_linear`.

    Times (C,), and per checkpoint and seed (C, num_seeds):
    ``loss`` = E KL(p(.|s,r) || q) (the cross-entropy: p(a|s,r) is a point mass), ``kl_r`` =
    E KL(p(.|r) || q), ``kl_marg`` = E KL(p(.) || q), ``acc``; ``H_r`` (num_seeds,) = H(a|r) in nats.
    KL(p || q) = sum_a p(a) log(p(a) / q(a)) (0 log 0 = 0), E the mean over the S R N prompts.

    Parameters
    ----------
    t : numpy.ndarray
        (C,) flow times of the checkpoints, in [lr, time].
    loss : numpy.ndarray
        (C, num_seeds) cross-entropy, >= 0.
    kl_r : numpy.ndarray
        (C, num_seeds) E KL(p(.|r) || q), >= 0.
    kl_marg : numpy.ndarray
        (C, num_seeds) E KL(p(.) || q), >= 0.
    acc : numpy.ndarray
        (C, num_seeds) accuracy, in [0, 1].
    H_r : numpy.ndarray
        (num_seeds,) conditional entropy H(a|r) in nats, in [0, log D].
    """

    t: np.ndarray
    loss: np.ndarray
    kl_r: np.ndarray
    kl_marg: np.ndarray
    acc: np.ndarray
    H_r: np.ndarray


def _kl_rows(p: torch.Tensor, logq: torch.Tensor) -> torch.Tensor:
    """sum_a p log(p / q) over the last axis, with 0 log 0 = 0 and 0 log(0 / q) = 0 also where q underflows to 0."""
    plq = p * logq
    plq = torch.where(p == 0, torch.nan_to_num(plq, nan=0.0), plq)
    return (torch.xlogy(p, p) - plq).sum(-1)


def gradient_flow_linear(
    task: FactTask,
    seeds,
    *,
    alpha: float = 0.1,
    jitter: float = 0.01,
    lr: float = 1.0,
    time: float = 2000.0,
    checkpoints: int = 200,
    device=None,
    dtype=None,
) -> FlowResult:
    """Gradient flow (Euler steps of size ``lr``) of the linear one-hot model on the population loss.

    Init: W_OV(a, z) = alpha (1 + jitter xi), w_KQ(z) = alpha (1 + jitter xi'), xi ~ N(0, 1) per seed.
    Population: all S R N prompts (s, z, r) of a T = 3 task, equally weighted (exact expectation).
    Records on a geometric grid of ``checkpoints`` times in [lr, time] the cross-entropy, the KL
    divergences from p(a|r) and from p(a) to the model's prediction (averaged over prompts) and accuracy.
    Step: (W_OV, w_KQ) <- (W_OV, w_KQ) - lr grad L, L = -(1/n) sum_prompts log softmax(logits)_{a*(s, r)},
    for round(time / lr) steps.

    Parameters
    ----------
    task : FactTask
        A task with T = 3.
    seeds : int or sequence of int
        One seed or a non-empty sequence of seeds, each in [0, 2**62].
    alpha : float, default 0.1
        Initial scale, in (0, inf), with ``jitter`` small enough that the initial logits
        3 max|W_OV| max|w_KQ| stay below ``torch.finfo(dtype).max / 64``.
    jitter : float, default 0.01
        Relative noise of the initialisation, >= 0 (bounded with ``alpha``, see there).
    lr : float, default 1.0
        Euler step size, in (0, time] (at least one step).
    time : float, default 2000.0
        Flow time, in [lr, MAX_STEPS lr] (round(time / lr) steps, at most MAX_STEPS).
    checkpoints : int, default 200
        Number of geometric recording times (before removing duplicate steps), in [2, MAX_STEPS].
    device : str, torch.device or None, default None
        'cpu' (also for None), 'cuda', 'cuda:k' or 'auto'.
    dtype : torch.dtype, str or None, default None
        torch.float32 (also for None) or torch.float64, or their names.

    Returns
    -------
    FlowResult
        Times (C,) and the loss, KL divergences and accuracy (C, num_seeds) at them, and H(a|r) per seed.

    Raises
    ------
    ValueError
        Naming the argument out of its range.
    FloatingPointError
        When the flow diverged: the weights or the recorded loss became non-finite (lower ``lr``).
    """
    if not isinstance(task, FactTask):
        raise ValueError(f"task must be a FactTask, got {type(task).__name__}")
    seeds = check_seeds(seeds)
    alpha = check_float("alpha", alpha, 0.0, lo_open=True)
    jitter = check_float("jitter", jitter, 0.0)
    lr = check_float("lr", lr, 0.0, lo_open=True)
    time = check_float("time", time, 0.0, lo_open=True)
    if lr > time:
        raise ValueError(f"lr must be at most time (at least one Euler step) and time >= lr; got lr={lr}, time={time}")
    if not time / lr <= MAX_STEPS:
        raise ValueError(
            f"time must be at most MAX_STEPS * lr = {MAX_STEPS * lr:g} (round(time / lr) steps), got {time}"
        )
    checkpoints = check_int("checkpoints", checkpoints, 2, MAX_STEPS)
    dev, dt = resolve_device(device), resolve_dtype(dtype)
    tok, fidx, _ = population_prompts(task, device=dev)
    nS, A, V = len(seeds), task.A, task.V
    facts = task.facts(seeds).to(dev).reshape(nS, -1)  # (nS, S R)
    target = facts[:, fidx]  # (nS, n)
    p_r = relation_marginal(task.facts(seeds), task.D).to(device=dev, dtype=dt)  # (nS, R, A)
    p_rel = p_r[:, tok[:, 2] - task.S]  # (nS, n, A)
    p_marg = p_r.mean(1, keepdim=True)  # (nS, 1, A): relations are uniform
    H_r = -(torch.xlogy(p_r, p_r).sum(-1)).mean(-1)  # (nS,)
    W = torch.empty(nS, A, V, dtype=torch.float64)
    w = torch.empty(nS, V, dtype=torch.float64)
    for i, s in enumerate(seeds):
        g = generator(s, _INIT_STREAM + 1)
        W[i] = alpha * (1 + jitter * torch.randn(A, V, generator=g, dtype=torch.float64))
        w[i] = alpha * (1 + jitter * torch.randn(V, generator=g, dtype=torch.float64))
    # |logit| <= T max|W_OV| max|w_KQ| (T = 3): refuse an initial scale whose logits (and the log-probabilities
    # and KL divergences recorded from them, up to twice as large) are not far inside the dtype's range
    top = 3.0 * float(W.abs().max()) * float(w.abs().max())
    if not top <= torch.finfo(dt).max / 64:
        raise ValueError(
            f"alpha and jitter too large for {dt}: the initial logits reach 3 max|W_OV| max|w_KQ| = {top:.3g} "
            f"(alpha={alpha}, jitter={jitter}); at most finfo.max / 64 = {torch.finfo(dt).max / 64:.3g}"
        )
    W = W.to(device=dev, dtype=dt).requires_grad_(True)
    w = w.to(device=dev, dtype=dt).requires_grad_(True)
    n_steps = int(round(time / lr))
    marks = np.unique(np.round(np.geomspace(1, n_steps, checkpoints)).astype(int))
    rec: dict[str, list[torch.Tensor]] = {k: [] for k in ("loss", "kl_r", "kl_marg", "acc")}
    mi = 0
    for t in range(1, n_steps + 1):
        logq = torch.log_softmax(_linear_onehot_logits(W, w, tok), -1)
        loss = -logq.gather(-1, target.unsqueeze(-1)).squeeze(-1).mean(-1)  # (nS,)
        gW, gw = torch.autograd.grad(loss.sum(), (W, w))
        with torch.no_grad():
            W -= lr * gW
            w -= lr * gw
        if mi < len(marks) and t == marks[mi]:
            with torch.no_grad():
                if not bool(torch.isfinite(W).all() & torch.isfinite(w).all()):
                    raise FloatingPointError(
                        f"gradient flow diverged (non-finite weights by step {t}); lower lr (got {lr})"
                    )
                logq = torch.log_softmax(_linear_onehot_logits(W, w, tok), -1)
                rec["loss"].append((-logq.gather(-1, target.unsqueeze(-1)).squeeze(-1)).mean(-1))
                rec["kl_r"].append(_kl_rows(p_rel, logq).mean(-1))
                rec["kl_marg"].append(_kl_rows(p_marg, logq).mean(-1))
                rec["acc"].append((logq.argmax(-1) == target).to(dt).mean(-1))
                if not all(bool(torch.isfinite(v[-1]).all()) for v in rec.values()):
                    raise FloatingPointError(
                        f"gradient flow diverged (non-finite loss or KL at step {t}); lower lr (got {lr})"
                    )
            mi += 1
    out = {k: torch.stack(v).double().cpu().numpy() for k, v in rec.items()}
    return FlowResult(marks * lr, out["loss"], out["kl_r"], out["kl_marg"], out["acc"], H_r.double().cpu().numpy())
