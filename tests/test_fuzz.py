"""The README's promise, enforced: every public callable of ``theory/`` and ``impl/`` refuses bad arguments
with a ``ValueError`` naming the parameter, within a time and memory bound, and gives no NaN/inf for valid
input (issue #18).

``TABLE`` holds one valid, small baseline call per public callable (function, class, public method and
property); ``test_table_covers_every_public_callable`` fails when a new public callable has no entry, so the
guarantee cannot rot. For every parameter of the baseline, ``test_catalogue`` substitutes each value of the
catalogue of its kind (``tests/fuzz_harness.py``: NaN, +-inf, 0, -1, 10**12, 2**63, a string, None, a list,
2.5, True, an integer-valued float, wrong-dtype/wrong-shape/empty/NaN tensors and arrays, mismatched lengths)
and ``test_property`` draws further invalid values with Hypothesis (derandomised, see ``conftest.py``). The
kind of a parameter says which substitutions are valid values (0 is a valid ``count``; 2.5 a valid ``pos``
real); an entry lists any further valid ones explicitly (``valid=``).

``RECORDS`` are the plain result records (dataclasses the simulators fill; their constructors are not an
entry point for user input): only their baseline construction is checked, not substitutions. ``PENDING``
lists the callables whose failures are known, each with the reason; they are xfailed (strictly in
``test_catalogue``: an entry that starts passing must leave the list). ``UNTABLED`` lists the public callables
that have no baseline yet (a module another change is writing); the coverage test accepts no other gap.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from fuzz_harness import Entry, baseline_failure, cases, params_of, public_callables, run_case, run_value
from hypothesis import given, settings
from hypothesis import strategies as st

_rng = np.random.default_rng(0)
_P5 = np.array([0.4, 0.25, 0.15, 0.12, 0.08])
_F5 = np.array([0, 1, 0, 1, 0])


def _emb(n=5, d=4, seeds=(0,), kind="gaussian", stream="e"):
    from impl.embeddings import Embedding

    return Embedding(n, d, seeds, kind, stream)


def _prob():
    from impl.gd import orthogonal_problem

    return orthogonal_problem(_P5, 2, 6, 0.5, 0, dtype="float64")


def _task():
    from impl.factual import FactTask

    return FactTask(S=3, R=2, D=2, n_noise=2, T=3)


def _sizes():
    from impl.factual import Sizes

    return Sizes(dims=(4,), heads=(1,), widths=(2,), d_head=2)


def _bigram():
    from impl.transformer import BigramTask

    return BigramTask(N=8, T=6, K=2)


def _model():
    from impl.transformer import init_model

    return init_model(8, 6, 8, 0, dtype="float64")


def _tokens():
    return _bigram().sample(2, 0).tokens


def _btask():
    from impl.birth import BirthTask

    return BirthTask(source="synthetic", T=6, K=2, N=8)


def _bmodel():
    from impl.birth import init_birth

    return init_birth(8, 6, 8, 0, dtype="float64")


def _bbatch():
    return _btask().sample(2, 0)


def _mat(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape) / np.sqrt(shape[-1])


def _t(*shape, seed=0):
    return torch.as_tensor(_mat(*shape, seed=seed))


def _pj(n, m):
    a = np.random.default_rng(1).random((n, m))
    return a / a.sum()


def _opt_config():
    return {
        "N": 6,
        "M": 2,
        "d": 4,
        "alpha": 1.5,
        "lr": [0.5],
        "lr_base": [0.5],
        "T_eval": [4, 8],
        "batch_size": 2,
        "optimizer": "sgd",
        "betas": [0.9, 0.999],
        "layer_norm": False,
        "embeddings": "gaussian",
        "schedule": "constant",
    }


def _authors_config():
    return {
        "model": "matrix",
        "optimizer": "sgd",
        "norm": "none",
        "N": 6,
        "M": 2,
        "d": 4,
        "alpha": 1.5,
        "batch_size": 2,
        "lr_base": [0.1],
        "T_eval": [4, 8],
    }


E = Entry

# common parameter kinds
ARR = "array"
_dev = {"device": "device"}
_dd = {"device": "device", "dtype": "dtype"}

TABLE: list[Entry] = [
    # ------------------------------------------------------------------------------------ theory.capacity
    E(
        "theory.capacity.activation_values",
        lambda: dict(name="odd3", t=np.linspace(-2, 2, 5)),
        valid={"t": {"empty", "short", "extra_dim"}},
    ),
    E("theory.capacity.hermite_coefficients", lambda: dict(name="odd3", degree=5), kinds={"degree": "count"}),
    E(
        "theory.capacity.kernel",
        lambda: dict(name="odd3", rho=np.linspace(-1, 1, 5)),
        valid={"rho": {"empty", "short", "extra_dim"}},
    ),
    E("theory.capacity.feature_kurtosis", lambda: dict(name="odd3")),
    E("theory.capacity.kernel_second_moment", lambda: dict(name="odd3", d=16)),
    E("theory.capacity.lowrank_accuracy", lambda: dict(N=100, m=8, d=16)),
    E(
        "theory.capacity.mlp_accuracy",
        lambda: dict(N=100, m=8, d=16, activation="odd3", pairs=0),
        kinds={"pairs": "count"},
    ),
    E(
        "theory.capacity.relu_accuracy",
        lambda: dict(N=100, d=16, eta=0.5, embeddings="sphere"),
        kinds={"eta": "bounded"},
    ),
    E("theory.capacity.predicted_accuracy", lambda: dict(N=100, construction="lowrank", m=8, d=16)),
    E(
        "theory.capacity.capacity",
        lambda: dict(construction="lowrank", m=8, d=16, accuracy=0.9),
        kinds={"accuracy": "bounded"},
    ),
    E(
        "theory.capacity.capacity_law",
        lambda: dict(m=np.array([4.0, 8.0]), d=np.array([16.0, 32.0]), construction="mlp"),
        valid={"m": {"extra_dim", "short"}, "d": {"extra_dim", "short"}},
    ),
    E("theory.capacity.capacity_exponents", lambda: dict(construction="mlp", N=500.0)),
    E(
        "theory.capacity.relu_capacity_law",
        lambda: dict(d=np.array([16.0, 32.0]), eta=0.5, accuracy=0.9),
        kinds={"eta": "bounded", "accuracy": "bounded"},
        valid={"d": {"short", "extra_dim"}},
    ),
    # ------------------------------------------------------------------------------------ theory.dynamics
    E(
        "theory.dynamics.f_step",
        lambda: dict(x=np.array([0.0, 1.0, 2.0]), gamma=0.5, M=3, exact=False),
        kinds={"x": ARR, "gamma": "nonneg"},
        valid={"x": {"short", "extra_dim", "empty"}},
    ),
    E(
        "theory.dynamics.F",
        lambda: dict(n=np.array([0.0, 1.0, 5.0]), gamma=0.5, M=3, exact=False),
        kinds={"gamma": "nonneg"},
        valid={"n": {"short", "extra_dim"}},
    ),
    E(
        "theory.dynamics.margin_exact",
        lambda: dict(n=np.array([0.0, 1.0, 5.0]), gamma=0.5, M=3),
        kinds={"gamma": "nonneg"},
        valid={"n": {"short", "extra_dim"}},
    ),
    E(
        "theory.dynamics.sandwich_bounds",
        lambda: dict(n=np.array([0.0, 1.0, 5.0]), gamma=0.5, M=3),
        kinds={"gamma": "bounded"},
        valid={"n": {"short", "extra_dim"}, "gamma": {"zero", "frac"}},
    ),
    E(
        "theory.dynamics.F_linear",
        lambda: dict(n=np.array([0.0, 1.0, 5.0]), gamma=0.5, M=3),
        kinds={"gamma": "nonneg"},
        valid={"n": {"short", "extra_dim"}},
    ),
    E(
        "theory.dynamics.F_log",
        lambda: dict(n=np.array([0.0, 1.0, 5.0]), gamma=0.5, M=3),
        valid={"n": {"short", "extra_dim"}},
    ),
    E(
        "theory.dynamics.predicted_q",
        lambda: dict(counts=np.array([0.0, 1.0, 5.0]), gamma=0.5, M=3),
        kinds={"gamma": "nonneg"},
        valid={"counts": {"short", "extra_dim"}},
    ),
    E(
        "theory.dynamics.batch_margin",
        lambda: dict(batch_counts=np.array([[1.0, 0.0, 2.0], [0.0, 1.0, 1.0]]), gamma=0.5, M=3),
        kinds={"gamma": "nonneg"},
        valid={"batch_counts": {"short"}},
    ),
    E(
        "theory.dynamics.fitted_rho",
        lambda: dict(q=np.array([0.5, 0.3, 0.2, 0.1]), p=np.array([0.4, 0.3, 0.2, 0.1]), mask=None),
        kinds={"mask": "object"},
        valid={"mask": {"none"}},
    ),
    # ------------------------------------------------------------------------------------ theory.factual
    E("theory.factual.fact_count", lambda: dict(S=4, R=3)),
    E("theory.factual.parameter_count", lambda: dict(d=4, H=2, d_head=2, m=3), kinds={"m": "count"}),
    E("theory.factual.attention_mlp_sizes", lambda: dict(S=100, R=3, d=8, c=1.0)),
    E("theory.factual.attention_only_sizes", lambda: dict(S=100, R=3, A_max=4, c=1.0)),
    E(
        "theory.factual.relation_predictor",
        lambda: dict(facts=np.array([[0, 1], [1, 0], [1, 1]]), D=2),
        valid={"facts": {"short"}},
    ),
    E(
        "theory.factual.conditional_entropy",
        lambda: dict(p_r=np.array([[0.5, 0.5], [0.9, 0.1]])),
        valid={"p_r": {"short"}},
    ),
    E("theory.factual.initial_loss", lambda: dict(R=3, D=4)),
    E(
        "theory.factual.kl_divergence",
        lambda: dict(p=np.array([0.5, 0.5]), q=np.array([0.9, 0.1])),
        valid={"p": {"extra_dim"}, "q": {"extra_dim"}},
    ),
    # ------------------------------------------------------------------------------------ theory.gd
    E(
        "theory.gd.orthogonal_margin_trajectory",
        lambda: dict(p=_P5, M=2, eta=0.5, T=10),
        kinds={"eta": "pos", "T": "count"},
        valid={"p": {"short", "extra_dim"}, "eta": {"list"}},
    ),
    E(
        "theory.gd.orthogonal_margin_flow",
        lambda: dict(t=np.array([[0.0], [1.0], [10.0]]), p=_P5, M=2, eta=0.5),
        kinds={"eta": "pos"},
        valid={"t": {"short", "extra_dim"}, "p": {"short", "extra_dim"}, "eta": {"list"}},
    ),
    E(
        "theory.gd.orthogonal_margin_asymptotic",
        lambda: dict(t=np.array([[1.0], [10.0]]), p=_P5, M=2, eta=0.5),
        kinds={"eta": "pos"},
        valid={"t": {"short", "extra_dim"}, "p": {"short"}, "eta": {"list"}},
    ),
    E(
        "theory.gd.orthogonal_loss",
        lambda: dict(m=np.array([0.0, 1.0, -1.0, 2.0, 0.5]), p=_P5, M=2),
        valid={"m": {"extra_dim"}},
    ),
    E("theory.gd.orthogonal_loss_limit", lambda: dict(N=5, M=2, eta=0.5)),
    E(
        "theory.gd.population_loss",
        lambda: dict(W=_mat(4, 4), E=_mat(5, 4), U=_mat(2, 4, seed=1), f=_F5, p=_P5),
        valid={"W": {"none"}},
    ),
    E(
        "theory.gd.population_hessian",
        lambda: dict(W=_mat(4, 4), E=_mat(5, 4), U=_mat(2, 4, seed=1), f=_F5, p=_P5),
        valid={"W": {"none"}},
    ),
    E(
        "theory.gd.sharpness",
        lambda: dict(W=_mat(4, 4), E=_mat(5, 4), U=_mat(2, 4, seed=1), f=_F5, p=_P5),
        valid={"W": {"none"}},
    ),
    E(
        "theory.gd.edge_of_stability",
        lambda: dict(E=_mat(5, 4), U=_mat(2, 4, seed=1), f=_F5, p=_P5, W=None),
        kinds={"W": "object"},
        valid={"W": {"none"}},
    ),
    E("theory.gd.global_smoothness", lambda: dict(E=_mat(5, 4), U=_mat(2, 4, seed=1), p=_P5)),
    E("theory.gd.two_token_embeddings", lambda: dict(a=0.5), kinds={"a": "bounded"}, valid={"a": {"zero", "neg"}}),
    E(
        "theory.gd.two_token_sharpness0",
        lambda: dict(a=0.5, p0=0.7),
        kinds={"a": "bounded", "p0": "bounded"},
        valid={"a": {"zero", "neg"}, "p0": {"zero"}},
    ),
    E(
        "theory.gd.two_token_eos",
        lambda: dict(a=0.5, p0=0.7),
        kinds={"a": "bounded", "p0": "bounded"},
        valid={"a": {"zero", "neg"}, "p0": {"zero"}},
    ),
    E(
        "theory.gd.two_token_minority_wrong_first",
        lambda: dict(a=0.5, p0=0.7),
        kinds={"a": "bounded", "p0": "bounded"},
        valid={"a": {"zero", "neg"}},
    ),
    E(
        "theory.gd.best_zero_one_binary_2d",
        lambda: dict(E=_mat(3, 2), U=_mat(2, 2, seed=1), f=np.array([0, 1, 0]), p=np.array([0.5, 0.3, 0.2])),
    ),
    E(
        "theory.gd.two_token_large_step_time",
        lambda: dict(a=0.5, p0=0.7, T=100),
        kinds={"a": "bounded", "p0": "bounded"},
        valid={"a": {"zero", "neg"}},
    ),
    # ------------------------------------------------------------------------------------ theory.gradients
    E(
        "theory.gradients.model_probs",
        lambda: dict(W=_mat(4, 4), X=_mat(5, 4), U=_mat(3, 4, seed=1)),
        valid={"X": {"short"}, "U": {"short"}},
    ),
    E(
        "theory.gradients.cross_entropy",
        lambda: dict(W=_mat(4, 4), X=_mat(5, 4), U=_mat(3, 4, seed=1), p_joint=_pj(5, 3)),
    ),
    E(
        "theory.gradients.gradient_lemma",
        lambda: dict(W=_mat(4, 4), E=_mat(5, 4), U=_mat(3, 4, seed=1), p_joint=_pj(5, 3)),
    ),
    E(
        "theory.gradients.gradient_noisy",
        lambda: dict(W=_mat(4, 4), X=_mat(5, 4), U=_mat(3, 4, seed=1), p_joint=_pj(5, 3)),
    ),
    E(
        "theory.gradients.one_step_scores",
        lambda: dict(f=_F5, M=2, eta=0.5, p=None),
        kinds={"p": "object"},
        valid={"p": {"none"}, "f": {"short"}},
    ),
    E(
        "theory.gradients.one_step_sgd_weights",
        lambda: dict(counts=np.array([0.0, 1.0, 3.0]), eta=0.5),
        valid={"counts": {"short"}},
    ),
    E("theory.gradients.noisy_one_step_scores", lambda: dict(N=5, eta=0.5)),
    # ------------------------------------------------------------------------------------ theory.memory
    E(
        "theory.memory.ScoreMoments",
        lambda: dict(mean_correct=np.ones(3), var_correct=np.ones(3), wrong_base=np.ones(2), wrong_self=np.ones(3)),
        valid={"wrong_base": {"short"}},
    ),
    E(
        "theory.memory.ScoreMoments.var_wrong",
        lambda: (
            __import__("theory.memory", fromlist=["x"]).score_moments(_P5, _F5, 2, 8).var_wrong,
            dict(z=np.array([0, 1]), y=np.array([1, 0])),
        ),
        bound=True,
        valid={"z": {"short", "extra_dim"}, "y": {"short", "extra_dim"}},
    ),
    E("theory.memory.score_moments", lambda: dict(q=_P5, f=_F5, M=2, d=8)),
    E("theory.memory.score_variance", lambda: dict(q=_P5, f=_F5, M=2, d=8, z=np.array([0, 1]), y=np.array([1, 0]))),
    E(
        "theory.memory.score_variance_bound",
        lambda: dict(n_same=np.array([1.0, 2.0]), n_other=np.array([3.0, 1.0]), d=8),
        valid={"n_same": {"short", "extra_dim"}, "n_other": {"short", "extra_dim"}},
    ),
    E(
        "theory.memory.recall_probability",
        lambda: dict(q=_P5, f=_F5, M=2, d=8, norms=0, resolution=0.0),
        kinds={"norms": "count", "resolution": "bounded"},
        valid={"resolution": {"zero"}},
    ),
    E(
        "theory.memory.predicted_accuracy",
        lambda: dict(q=_P5, f=_F5, M=2, d=8, p=_P5, norms=0, resolution=0.0),
        kinds={"norms": "count", "resolution": "bounded"},
        valid={"resolution": {"zero"}, "p": {"none"}},
    ),
    E("theory.memory.target_map", lambda: dict(N=6, kind="mod", M=2), valid={"M": {"none"}}),
    E(
        "theory.memory.capacity_accuracy",
        lambda: dict(N=20, d=8, kind="injective", M=None),
        kinds={"M": "size"},
        valid={"M": {"none"}},
    ),
    E(
        "theory.memory.capacity_threshold",
        lambda: dict(d=8, kind="injective", accuracy=0.9, M=None),
        kinds={"accuracy": "bounded", "M": "size"},
        valid={"M": {"none"}},
    ),
    E(
        "theory.memory.capacity_asymptotic",
        lambda: dict(d=np.array([8.0, 16.0]), kind="injective", accuracy=0.9),
        kinds={"accuracy": "bounded"},
        valid={"d": {"short"}},
    ),
    E(
        "theory.memory.capacity_exponent",
        lambda: dict(d=np.array([8.0, 16.0]), kind="injective"),
        valid={"d": {"short"}},
    ),
    E(
        "theory.memory.gaussian_accuracy",
        lambda: dict(q=_P5, f=_F5, M=2, d=8, p=_P5, norms=0, resolution=0.0),
        kinds={"norms": "count", "resolution": "bounded"},
        valid={"resolution": {"zero"}, "p": {"none"}},
    ),
    # ------------------------------------------------------------------------------------ theory.scaling
    E("theory.scaling.error_exponent", lambda: dict(scheme="p", alpha=1.5, variable="d")),
    E(
        "theory.scaling.unseen_mass",
        lambda: dict(p=_P5, T=np.array([1.0, 10.0]), kind="exact"),
        valid={"T": {"short", "zero_entry"}},
    ),
    E(
        "theory.scaling.hutter_asymptote",
        lambda: dict(T=np.array([1.0, 10.0]), alpha=1.5, N=None),
        kinds={"N": "size"},
        valid={"N": {"none"}, "T": {"short"}},
    ),
    E("theory.scaling.tail_mass", lambda: dict(p=_P5, K=np.array([1, 2])), valid={"K": {"short", "dtype"}}),
    E(
        "theory.scaling.threshold_error",
        lambda: dict(N=20, alpha=1.5, d=np.array([4.0, 8.0]), c=8.0, M=None),
        kinds={"M": "size", "alpha": "nonneg"},
        valid={"M": {"none"}, "d": {"short"}},
    ),
    E("theory.scaling.failing_set", lambda: dict(q=_P5, d=4.0, c=8.0, reading="square"), valid={"q": {"short"}}),
    E(
        "theory.scaling.approximation_error",
        lambda: dict(q=_P5, p=_P5, d=np.array([4.0, 8.0]), c=8.0, reading="square", M=None),
        kinds={"M": "size"},
        valid={"M": {"none"}, "d": {"short"}},
    ),
    E(
        "theory.scaling.top_seen_error",
        lambda: dict(p=_P5, T=np.array([5.0, 10.0]), K=np.array([1.0, 2.0]), M=None),
        kinds={"M": "size"},
        valid={"M": {"none"}},
    ),
    E(
        "theory.scaling.top_seen_lower",
        lambda: dict(p=_P5, T=np.array([5.0, 10.0]), K=np.array([1.0, 2.0]), M=None),
        kinds={"M": "size"},
        valid={"M": {"none"}},
    ),
    E(
        "theory.scaling.predicted_error",
        lambda: dict(q=_P5, f=_F5, M=2, d=8, p=_P5, resolution=1e-3, norms=2),
        kinds={"resolution": "bounded", "norms": "count"},
    ),
    E("theory.scaling.loglog_slope", lambda: dict(x=np.array([1.0, 2.0, 4.0]), y=np.array([1.0, 0.5, 0.25]))),
    E(
        "theory.scaling.gaussian_error",
        lambda: dict(q=_P5, f=_F5, M=2, d=8, p=_P5, resolution=1e-3, norms=2),
        kinds={"resolution": "bounded", "norms": "count"},
    ),
    # ------------------------------------------------------------------------------------ theory.transformer
    E("theory.transformer.target_wkq1", lambda: dict(P=_mat(6, 8)), valid={"P": {"extra_dim", "short"}}),
    E(
        "theory.transformer.target_wkq2",
        lambda: dict(E=_mat(5, 8), WOV1=_mat(8, 8, seed=1), triggers=np.array([0, 2])),
        valid={"E": {"short", "extra_dim"}, "WOV1": {"extra_dim"}, "triggers": {"short"}},
    ),
    E(
        "theory.transformer.target_wov2",
        lambda: dict(U=_mat(5, 8), E=_mat(5, 8, seed=1), tokens=None),
        kinds={"tokens": "object"},
        valid={"U": {"extra_dim"}, "E": {"extra_dim"}, "tokens": {"none", "list"}},
    ),
    E(
        "theory.transformer.probe",
        lambda: dict(W=_mat(8, 8), keys=_mat(3, 8, seed=1), cands=_mat(5, 8, seed=2), targets=None),
        kinds={"targets": "object"},
        valid={
            "W": {"extra_dim"},
            "keys": {"short", "extra_dim"},
            "cands": {"short", "extra_dim"},
            "targets": {"none"},
        },
    ),
    E("theory.transformer.probe_chance", lambda: dict(J=5)),
    E("theory.transformer.construction_scales", lambda: dict(T=16, c=3.0)),
    E(
        "theory.transformer.construction",
        lambda: dict(
            E=_mat(5, 8),
            P=_mat(6, 8, seed=1),
            U=_mat(5, 8, seed=2),
            WOV1=_mat(8, 8, seed=3),
            triggers=np.array([0, 2]),
            scales=None,
            remap=True,
        ),
        kinds={"scales": "object"},
        valid={
            "E": {"extra_dim"},
            "P": {"short", "extra_dim"},
            "U": {"extra_dim"},
            "WOV1": {"extra_dim"},
            "triggers": {"short"},
            "scales": {"none"},
        },
    ),
    E("theory.zipf.zipf_pmf", lambda: dict(N=10, alpha=1.5), kinds={"alpha": "nonneg"}),
    # ------------------------------------------------------------------------------------ impl.capacity
    E("impl.capacity.activation", lambda: dict(name="odd3", t=_t(3, 4)), valid={"t": {"short", "extra_dim", "empty"}}),
    E(
        "impl.capacity.recall_correct",
        lambda: dict(H=_t(1, 5, 4), V=_t(1, 5, 4, seed=1), offset=0, chunk=None),
        kinds={"offset": "count", "chunk": "size"},
        valid={"chunk": {"none"}},
    ),
    E("impl.capacity.lowrank_weights", lambda: dict(N=10, m=4, d=6, seeds=0, eta=1.0, **{}), kinds=_dd),
    E(
        "impl.capacity.lowrank_accuracy",
        lambda: dict(N=10, m=4, d=6, seeds=0, n_eval=None, eta=1.0, chunk=None),
        kinds={**_dd, "n_eval": "size", "chunk": "size"},
        valid={"n_eval": {"none"}, "chunk": {"none"}},
    ),
    E(
        "impl.capacity.mlp_weights",
        lambda: dict(N=10, m=4, d=6, seeds=0, activation="odd3", pairs=0, eta=1.0),
        kinds={**_dd, "pairs": "count"},
    ),
    E("impl.capacity.mlp_features", lambda: dict(x=_t(1, 5, 6), W2=_t(1, 4, 6, seed=1), activation_name="odd3")),
    E(
        "impl.capacity.mlp_accuracy",
        lambda: dict(N=10, m=4, d=6, seeds=0, activation="odd3", pairs=0, n_eval=None, eta=1.0, chunk=None),
        kinds={**_dd, "pairs": "count", "n_eval": "size", "chunk": "size"},
        valid={"n_eval": {"none"}, "chunk": {"none"}},
    ),
    E(
        "impl.capacity.multi_accuracy",
        lambda: dict(n=3, m=4, d=6, seeds=0, activation="odd3", n_eval=None, eta=1.0, chunk=None),
        kinds={**_dd, "n_eval": "size", "chunk": "size"},
        valid={"n_eval": {"none"}, "chunk": {"none"}},
    ),
    E(
        "impl.capacity.relu_scores",
        lambda: dict(Eq=_t(1, 3, 6), E=_t(1, 5, 6, seed=1), U=_t(1, 5, 6, seed=2), eta=0.5),
        kinds={"eta": "real"},
    ),
    E(
        "impl.capacity.relu_accuracy",
        lambda: dict(N=10, d=6, seeds=0, eta=0.5, kind="sphere", n_eval=None, chunk=None),
        kinds={**_dd, "eta": "bounded", "n_eval": "size", "chunk": "size"},  # eta in (0, 1)
        valid={"n_eval": {"none"}, "chunk": {"none"}},
    ),
    # ------------------------------------------------------------------------------------ impl.dynamics
    E("impl.dynamics.schedule_factor", lambda: dict(name="cosine", t=2, steps=10), kinds={"t": "count"}),
    E(
        "impl.dynamics.population_error",
        lambda: dict(
            W=_t(1, 1, 4, 4),
            E=_t(1, 5, 4, seed=1),
            U=_t(1, 2, 4, seed=2),
            p=torch.as_tensor(_P5),
            f=torch.as_tensor(_F5),
            layer_norm=False,
            norm=None,
            ties="error",
        ),
        kinds={"norm": "choice"},
        # W (S, L, d, d) as documented; a non-finite W is a diverged run whose margins count as errors
        valid={"norm": {"none"}, "W": {"nan_entry", "inf_entry"}},
        nonfinite="the margins of a non-finite (diverged) W are non-finite by definition",
    ),
    E(
        "impl.dynamics.train",
        lambda: dict(N=6, M=2, d=4, T=4, lrs=0.5, seeds=0, batch=2, checkpoints=2),
        kinds={"lrs": "pos"},
        valid={"lrs": {"list"}},  # a list of rates
    ),
    E(
        "impl.dynamics.reference_train_autograd",
        lambda: dict(N=6, M=2, d=4, T=4, lr=0.5, seed=0, batch=2),
        kinds={"T": "count", "lr": "nonneg"},  # T >= 0 samples, lr >= 0 (torch.optim's range)
    ),
    E("impl.dynamics.optimizer_grid_task", lambda: dict(config=_opt_config(), seeds=(0,), device="cpu")),
    # ------------------------------------------------------------------------------------ impl.embeddings
    E(
        "impl.embeddings.gaussian_block",
        lambda: dict(seed=0, stream=1, block=0, d=4, dtype=torch.float32),
        kinds={"stream": "seed", "block": "count"},
    ),
    E(
        "impl.embeddings.Embedding",
        lambda: dict(n=5, d=4, seeds=(0,), kind="gaussian", stream="e"),
        kinds={"stream": "object"},
        valid={"stream": {"int"}},
    ),
    E("impl.embeddings.Embedding.num_seeds", lambda: (lambda: _emb().num_seeds, {}), bound=True),
    E(
        "impl.embeddings.Embedding.rows",
        lambda: (_emb().rows, dict(start=1, stop=3)),
        kinds={"start": "count"},
        bound=True,
    ),
    E("impl.embeddings.Embedding.full", lambda: (_emb().full, dict(device=None, dtype=None)), kinds=_dd, bound=True),
    E("impl.embeddings.Embedding.chunks", lambda: (lambda **k: list(_emb().chunks(**k)), dict(chunk=2)), bound=True),
    E(
        "impl.embeddings.random_matrix",
        lambda: dict(d=4, seeds=0, stream="w"),
        kinds={**_dd, "stream": "object"},
        valid={"stream": {"int"}},
    ),
    # ------------------------------------------------------------------------------------ impl.factual
    # n_noise >= 1: the baseline's T = 3 prompts hold a noise token drawn from [n_noise] (the docstring's range)
    E("impl.factual.FactTask", lambda: dict(S=3, R=2, D=2, n_noise=2, T=3), kinds={"n_noise": "size"}),
    E("impl.factual.FactTask.V", lambda: (lambda: _task().V, {}), bound=True),
    E("impl.factual.FactTask.A", lambda: (lambda: _task().A, {}), bound=True),
    E("impl.factual.FactTask.n_facts", lambda: (lambda: _task().n_facts, {}), bound=True),
    E("impl.factual.FactTask.facts", lambda: (_task().facts, dict(seeds=(0, 1))), bound=True),
    E(
        "impl.factual.FactTask.prompts",
        lambda: (_task().prompts, dict(seed=0, step=0)),
        kinds={**_dev, "step": "count"},
        bound=True,
    ),
    E("impl.factual.relation_marginal", lambda: dict(facts=_task().facts((0,)), D=2)),
    E(
        "impl.factual.Sizes",
        lambda: dict(dims=(4,), heads=(1,), widths=(2,), d_head=2),
        kinds={"dims": "object", "heads": "object", "widths": "object"},
        valid={"dims": {"list"}, "heads": {"list"}, "widths": {"list"}},
    ),
    E("impl.factual.Sizes.K", lambda: (lambda: _sizes().K, {}), bound=True),
    E("impl.factual.Sizes.params", lambda: (lambda: _sizes().params, {}), bound=True),
    E("impl.factual.init_params", lambda: dict(sizes=_sizes(), seeds=0), kinds=_dd),
    E(
        "impl.factual.transformer_logits",
        lambda: _factual_logits_args(),
        kinds={"head_mask": "object", "unit_mask": "object", "dim_mask": "object"},
        # None (the default) switches nothing off; any number n >= 1 of prompts
        valid={"head_mask": {"none"}, "unit_mask": {"none"}, "dim_mask": {"none"}, "tokens": {"short"}},
    ),
    E("impl.factual.parameter_count", lambda: dict(d=4, H=2, d_head=2, m=3), kinds={"m": "count"}),
    E(
        "impl.factual.train_transformers",
        lambda: dict(task=_task(), sizes=_sizes(), seeds=0, steps=3, lr=0.05, eval_every=0, noise_seed=None),
        kinds={**_dd, "eval_every": "count", "noise_seed": "seed", "pad": "choice"},
        valid={"noise_seed": {"none"}},
        # Adam moves a weight by about lr per step: at lr = 1e12 the 3 steps leave finite weights (~1e12) and
        # loss (~1e24), a finite result (EITHER); at 2**63 the logits overflow: divergence, FloatingPointError
        expect={"lr": {"i64": FloatingPointError}},
    ),
    E("impl.factual.linear_onehot_logits", lambda: _onehot_args(), valid={"tokens": {"short"}}),  # any n >= 1 prompts
    E("impl.factual.population_prompts", lambda: dict(task=_task()), kinds=_dev),
    E(
        "impl.factual.gradient_flow_linear",
        lambda: dict(task=_task(), seeds=0, alpha=0.1, jitter=0.01, lr=1.0, time=5.0, checkpoints=3),
        # no divergence expected at the baseline: a huge lr exceeds time = 5 (no Euler step: refused by name), a
        # huge time is more than MAX_STEPS steps of lr = 1 (refused by name); a diverging flow raises
        # FloatingPointError (tests/test_factual.py)
        kinds={**_dd, "jitter": "nonneg"},
    ),
    # ------------------------------------------------------------------------------------ impl.gd
    E("impl.gd.Problem", lambda: {k: getattr(_prob(), k) for k in ("E", "U", "f", "p", "eta")}),
    E("impl.gd.Problem.shape", lambda: (lambda: _prob().shape, {}), bound=True),
    E(
        "impl.gd.Problem.with_eta",
        lambda: (_prob().with_eta, dict(eta=0.25)),
        kinds={"eta": "pos"},
        valid={"eta": {"list"}},  # a (B,) array, B = 1
        bound=True,
    ),
    E(
        "impl.gd.two_token_problem",
        lambda: dict(a=0.5, p0=0.7, eta=0.5),
        kinds={**_dd, "a": "bounded", "p0": "bounded", "eta": "pos"},
        valid={"a": {"zero", "neg", "list"}, "eta": {"list"}},  # a in [-1, 1]; sequences are grids
    ),
    E(
        "impl.gd.orthogonal_problem",
        lambda: dict(p=_P5, M=2, d=6, eta=0.5, seeds=0),
        kinds={**_dd, "eta": "pos"},
        valid={"p": {"short"}, "eta": {"list"}},
    ),
    E(
        "impl.gd.random_problem",
        lambda: dict(p=_P5, M=2, d=4, eta=0.5, seeds=0, kind="gaussian"),
        kinds=_dd,
        valid={"p": {"short"}},
    ),
    *[
        E(f"impl.gd.{fn}", lambda: dict(W=torch.zeros(1, 6, 6, dtype=torch.float64), prob=_prob()))
        for fn in ("logits", "loss", "zero_one_error", "margins", "gradient", "hessian", "sharpness")
    ],
    E(
        "impl.gd.run_gd",
        lambda: dict(prob=_prob(), steps=5, W0=None, record=None, record_margins=False, record_sharpness=False),
        kinds={"steps": "count", "W0": "object", "record": "object"},
        valid={"W0": {"none"}, "record": {"none", "list"}},
    ),
    E(
        "impl.gd.first_hit_step",
        lambda: dict(values=torch.tensor([[1.0, 0.5, -0.2]]), steps=torch.tensor([0, 1, 2]), level=0.0),
        kinds={"level": "real"},
        nonfinite="steps never hit are inf by definition",
    ),
    E(
        "impl.gd.ce_optimum",
        lambda: dict(prob=_prob(), W0=None, iters=5, tol=1e-11),
        kinds={"W0": "object"},
        valid={"W0": {"none"}},
    ),
    # ------------------------------------------------------------------------------------ impl.gradients
    E(
        "impl.gradients.cross_entropy",
        lambda: dict(W=_t(4, 4), X=_t(5, 4, seed=1), U=_t(3, 4, seed=2), p_joint=torch.as_tensor(_pj(5, 3))),
        # batched over any leading axes: an extra leading axis is a valid batch
        valid={k: {"extra_dim"} for k in ("W", "X", "U", "p_joint")},
    ),
    E(
        "impl.gradients.autograd_gradient",
        lambda: dict(W=_t(4, 4), X=_t(5, 4, seed=1), U=_t(3, 4, seed=2), p_joint=torch.as_tensor(_pj(5, 3))),
        valid={k: {"extra_dim"} for k in ("W", "X", "U", "p_joint")},  # as cross_entropy: any leading axes
    ),
    E(
        "impl.gradients.one_step_memory",
        lambda: dict(f=_F5, M=2, d=4, seeds=0, eta=1.0, p=None, kind="gaussian"),
        kinds={**_dd, "p": "object"},
        valid={"f": {"short"}, "p": {"none"}},  # any N >= 1; p=None is the uniform law
    ),
    E(
        "impl.gradients.one_sgd_step",
        lambda: dict(f=_F5, M=2, d=4, p=_P5, batch=3, seeds=0, eta=1.0, kind="gaussian"),
        kinds=_dd,
    ),
    # ------------------------------------------------------------------------------------ impl.memory
    E("impl.memory.as_map", lambda: dict(f=_F5, n=5, m=2, device="cpu"), kinds=_dev),
    E(
        "impl.memory.as_weights",
        lambda: dict(q=_P5, num_seeds=1, n=5, device="cpu", dtype=torch.float32),
        kinds=_dd,
        valid={"q": {"extra_dim"}},  # a (Q, N) stack of weightings is documented
    ),
    E(
        "impl.memory.aggregate_keys",
        lambda: dict(q=_P5, f=_F5, E=_emb(), M=2, chunk=None),
        kinds={**_dd, "chunk": "size"},
        valid={"chunk": {"none"}, "q": {"extra_dim"}},  # q (Q, N): Q weightings
    ),
    E(
        "impl.memory.memory_matrix",
        lambda: dict(q=_P5, f=_F5, E=_emb(), U=_emb(2, stream="u"), chunk=None),
        kinds={**_dd, "chunk": "size"},
        valid={"chunk": {"none"}, "q": {"extra_dim"}},  # q (Q, N): Q weightings
    ),
    E(
        "impl.memory.recall",
        lambda: dict(q=_P5, f=_F5, E=_emb(), U=_emb(2, stream="u"), p=_P5, W=None, chunk=None, return_margin=False),
        kinds={**_dd, "chunk": "size", "W": "object"},
        # q (Q, N): Q weightings; W=None (the default) builds W from q
        valid={"chunk": {"none"}, "p": {"none"}, "q": {"extra_dim"}, "W": {"none"}},
    ),
    E(
        "impl.memory.Recall.accuracy",
        lambda: (
            lambda: __import__("impl.memory", fromlist=["x"]).recall(_P5, _F5, _emb(), _emb(2, stream="u")).accuracy,
            {},
        ),
        bound=True,
    ),
    E(
        "impl.memory.scores",
        lambda: dict(W=_t(1, 4, 4), E=_t(1, 5, 4, seed=1), U=_t(1, 2, 4, seed=2)),
        valid={k: {"extra_dim"} for k in ("W", "E", "U")},  # leading axes broadcast (documented)
    ),
    # ------------------------------------------------------------------------------------ impl.sampling
    E("impl.sampling.zipf_probs", lambda: dict(N=10, alpha=1.5), kinds={**_dd, "alpha": "nonneg"}),
    E("impl.sampling.generator", lambda: dict(seed=0, stream=3), kinds={"stream": "seed"}),
    E(
        "impl.sampling.sample_tokens",
        lambda: dict(p=torch.as_tensor(_P5), T=8, seeds=0),
        kinds={**_dev, "T": "count"},  # T >= 0 samples
        valid={"p": {"short"}},  # any N >= 1
    ),
    E(
        "impl.sampling.token_counts",
        lambda: dict(tokens=torch.tensor([[0, 1, 1, 4]]), N=5),
    ),
    E(
        "impl.sampling.sample_counts",
        lambda: dict(p=torch.as_tensor(_P5), T=8, seeds=0),
        kinds={**_dev, "T": "count"},  # T >= 0 samples
        valid={"p": {"short"}},  # any N >= 1
    ),
    # ------------------------------------------------------------------------------------ impl.scaling
    E("impl.scaling.mod_map", lambda: dict(N=6, M=2), kinds=_dev),
    E(
        "impl.scaling.scheme_weights",
        lambda: dict(scheme="p", counts=torch.tensor([[3.0, 2, 1, 0, 0]]), p=torch.as_tensor(_P5), d=4, c=8.0, s=1),
        valid={"counts": {"extra_dim"}},  # counts (..., N): any leading axes (documented)
    ),
    E(
        "impl.scaling.scheme_error",
        lambda: dict(scheme="p", N=10, alpha=1.5, d=4, seeds=0, M=2, T=None, c=8.0, s=1),
        # alpha >= 0 (a Zipf exponent, as zipf_probs); T >= 0 samples (T = 0 is the empty sample, as prefix_counts)
        kinds={**_dd, "T": "count", "alpha": "nonneg", "d": "size"},
        valid={"T": {"none"}, "d": {"list"}},
    ),
    E(
        "impl.scaling.prefix_counts",
        lambda: dict(p=torch.as_tensor(_P5), Ts=[2, 4], seeds=0),
        kinds={**_dev, "Ts": "object"},
        valid={"Ts": {"list"}, "p": {"short"}},  # any N >= 1 (weights, as sample_tokens)
    ),
    E(
        "impl.scaling.unseen_mass",
        lambda: dict(counts=torch.tensor([[3.0, 2, 1, 0, 0]]), p=torch.as_tensor(_P5)),
        valid={"counts": {"extra_dim"}},  # counts (..., N): any leading axes (documented)
    ),
    E(
        "impl.scaling.population_error",
        lambda: dict(q=_P5, f=_F5, E=_emb(), U=_emb(2, stream="u"), p=_P5, return_correct=False),
        kinds=_dd,
        valid={"q": {"extra_dim"}},  # q (Q, N): Q weightings
    ),
    # ------------------------------------------------------------------------------------ impl.transformer
    E(
        "impl.transformer.bigram_table",
        lambda: dict(N=8, alpha=1.5, task_seed=0, source="synthetic"),
        kinds={"task_seed": "seed", "alpha": "nonneg"},  # a Zipf exponent, documented in [0, 10]
    ),
    E(
        "impl.transformer.stationary",
        lambda: dict(pi=__import__("impl.transformer", fromlist=["x"]).bigram_table(5, 1.5, 0), iters=100, tol=1e-10),
        kinds={"tol": "bounded"},
    ),
    E(
        "impl.transformer.BigramTask",
        lambda: dict(N=8, T=6, K=2, alpha=1.5, outputs="uniform", task_seed=0),
        kinds={"task_seed": "seed", "alpha": "nonneg"},  # a Zipf exponent, documented in [0, 10]
    ),
    E("impl.transformer.BigramTask.bayes_global", lambda: (lambda: _bigram().bayes_global, {}), bound=True),
    E("impl.transformer.BigramTask.trigger_index", lambda: (_bigram().trigger_index, {}), bound=True),
    E(
        "impl.transformer.BigramTask.sample",
        lambda: (_bigram().sample, dict(B=2, seeds=0, step=0)),
        kinds={**_dev, "step": "count"},
        bound=True,
    ),
    E(
        "impl.transformer.induction_queries",
        lambda: dict(N=8, T=6, K=2, B=2, seeds=0, step=0),
        kinds={**_dev, "step": "count"},
    ),
    E(
        "impl.transformer.position_masks",
        lambda: dict(tokens=_tokens(), triggers=torch.tensor([0, 1])),
        valid={"triggers": {"short"}},  # one trigger (K = 1) is a valid set
    ),
    E(
        "impl.transformer.Model",
        lambda: {k: getattr(_model(), k) for k in ("E", "P", "U", "W", "layers", "seeds", "simplified")},
        kinds={"W": "object", "seeds": "seeds"},
    ),
    E("impl.transformer.Model.d", lambda: (lambda: _model().d, {}), bound=True),
    E("impl.transformer.Model.clone", lambda: (_model().clone, {}), bound=True),
    E(
        "impl.transformer.init_model",
        lambda: dict(N=8, T=6, d=8, seeds=0, layers=2, ff=False, ov_init="random", simplified=False),
        kinds=_dd,
    ),
    E(
        "impl.transformer.forward",
        lambda: dict(model=_model(), tokens=_tokens(), W=None, return_attention=False),
        kinds={"W": "object"},
        valid={"W": {"none"}},  # the default: no override
    ),
    E(
        "impl.transformer.probe",
        lambda: dict(W=_t(1, 8, 8), keys=_t(1, 5, 8, seed=1), cands=_t(1, 5, 8, seed=2), targets=torch.arange(5)),
    ),
    E(
        "impl.transformer.induction_probes",
        lambda: dict(model=_model(), triggers=torch.tensor([0, 1]), T=None, kq1_queries=None),
        kinds={"T": "size", "kq1_queries": "object"},
        # None: the defaults; one trigger (K = 1) and one query position ([1]) are valid sets
        valid={"T": {"none"}, "triggers": {"short"}, "kq1_queries": {"none", "list"}},
    ),
    E(
        "impl.transformer.masked_loss",
        lambda: dict(logits=_t(1, 2, 6, 8), tokens=_tokens(), mask=torch.ones(1, 2, 5, dtype=torch.bool)),
    ),
    E("impl.transformer.evaluate", lambda: dict(model=_model(), task=_bigram(), tokens=_tokens(), chunk=4)),
    E(
        "impl.transformer.population_gradient",
        lambda: dict(
            model=_model(), tokens=_tokens(), mask=torch.ones(1, 2, 5, dtype=torch.bool), names=("WKQ1",), chunk=4
        ),
        kinds={"names": "object"},
    ),
    E(
        "impl.transformer.train",
        lambda: dict(model=_model(), task=_bigram(), steps=3, batch=2, lr=0.1, eval_every=1, eval_batch=4),
        # lr = 1e12 or 2**63 for 3 float64 steps keeps every matrix finite (|W| ~ 1e18 at most): the documented
        # outcome is a finite result, not FloatingPointError (raised only when a matrix becomes non-finite)
    ),
    E(
        "impl.transformer.first_crossing",
        lambda: dict(steps=np.array([0, 1, 2]), values=np.array([[0.1, 0.5, 0.99]]), level=0.9),
        kinds={"level": "real"},
        nonfinite="never crossing is NaN by definition",
    ),
    # ------------------------------------------------------------------------------------ impl.authors_grid
    E("impl.authors_grid.grid_rates", lambda: dict(model="matrix", optimizer="sgd", lr=0.1, d=4)),
    E(
        "impl.authors_grid.draw_run",
        lambda: dict(model="matrix", N=6, M=2, d=4, T=4, seed=0, alpha=1.5),
        kinds={"alpha": "nonneg"},  # p_x ~ (x + 1)^-alpha is a law for every alpha >= 0 (0: uniform), as zipf_probs
    ),
    E(
        "impl.authors_grid.train_grid_model",
        lambda: dict(
            model="matrix", N=6, M=2, d=4, T=4, lrs=0.1, seeds=0, alpha=1.5, batch=2, optimizer="sgd", norm="none"
        ),
        kinds={**_dd, "lrs": "pos", "alpha": "nonneg"},  # alpha >= 0 (0: uniform tokens)
        valid={"lrs": {"list"}},  # lrs: a rate or a list of rates (the grid's L rates)
    ),
    E(
        "impl.authors_grid.reference_grid_autograd",
        lambda: dict(
            model="matrix", N=6, M=2, d=4, T=4, lr=0.1, seed=0, alpha=1.5, batch=2, optimizer="sgd", norm="none"
        ),
        kinds={"alpha": "nonneg"},  # alpha >= 0 (0: uniform tokens)
    ),
    E("impl.authors_grid.authors_grid_task", lambda: dict(config=_authors_config(), seeds=(0,), device="cpu")),
    # ------------------------------------------------------------------------------------ impl.birth
    E(
        "impl.birth.BirthTask",
        lambda: dict(source="synthetic", T=6, K=2, triggers="fixed", outputs="uniform", N=8, alpha=1.5, task_seed=0),
        kinds={"N": "size", "alpha": "nonneg", "task_seed": "seed"},
        valid={"N": {"none"}},
    ),
    E(
        "impl.birth.BirthTask.sample",
        lambda: (_btask().sample, dict(B=2, seeds=0, step=0, device=None)),
        kinds={**_dev, "step": "count"},
        bound=True,
    ),
    E("impl.birth.birth_counters", lambda: dict(tokens=_bbatch().tokens, triggers=_bbatch().triggers)),
    E(
        "impl.birth.BirthModel",
        lambda: {k: getattr(_bmodel(), k) for k in ("E", "P", "Wout", "W", "layers", "seeds")},
        kinds={"W": "object", "seeds": "seeds"},
    ),
    E("impl.birth.BirthModel.clone", lambda: (_bmodel().clone, {}), bound=True),
    E("impl.birth.init_birth", lambda: dict(N=8, T=6, d=8, seeds=0, layers=2, device=None, dtype=None), kinds=_dd),
    E(
        "impl.birth.birth_forward",
        lambda: dict(model=_bmodel(), tokens=_bbatch().tokens[..., :-1], W=None, return_attention=False),
        kinds={"W": "object"},
        valid={"W": {"none"}},
    ),
    E(
        "impl.birth.birth_probes",
        lambda: dict(model=_bmodel(), triggers=_btask().fixed),
        valid={"triggers": {"short"}},  # one trigger (K = 1) is a valid set
    ),
    E("impl.birth.birth_evaluate", lambda: dict(model=_bmodel(), batch=_bbatch(), chunk=64)),
    E(
        "impl.birth.train_birth",
        lambda: dict(
            model=_bmodel(),
            task=_btask(),
            steps=2,
            batch=2,
            lr=0.03,
            momentum=0.9,
            weight_decay=1e-4,
            trainable=None,
            loss_on="icl",
            eval_every=1,
            eval_at=None,
            eval_batch=4,
        ),
        kinds={"momentum": "bounded", "weight_decay": "nonneg", "trainable": "object", "eval_at": "object"},
        valid={"momentum": {"zero"}, "trainable": {"none"}, "eval_at": {"none", "list"}},
    ),
]


def _factual_logits_args():
    import impl.factual as fi

    sz = _sizes()
    task = _task()
    tok, _, _ = task.prompts(0)
    p = fi.init_params(sz, 0, dtype="float64")
    E_ = fi._padded_embeddings(task.V, sz, (0,), "e", "cpu", torch.float64)
    U_ = fi._padded_embeddings(task.A, sz, (0,), "u", "cpu", torch.float64)
    return dict(params=p, E=E_, U=U_, tokens=tok, head_mask=None, unit_mask=None, dim_mask=None)


def _onehot_args():
    task = _task()
    tok, _, _ = task.prompts(0)
    return dict(W_OV=_t(1, task.A, task.V), w_KQ=_t(1, task.V), tokens=tok)


# plain result records: only the baseline construction is checked
RECORDS = {
    "impl.authors_grid.GridResult": "result record filled by train_grid_model",
    "impl.dynamics.TrainResult": "result record filled by impl.dynamics.train",
    "impl.dynamics.TrainResult.W": "property of the result record (the final W)",
    "impl.factual.TrainResult": "result record filled by train_transformers",
    "impl.factual.FlowResult": "result record filled by gradient_flow_linear",
    "impl.gd.Trajectory": "result record filled by run_gd",
    "impl.memory.Recall": "result record filled by recall",
    "impl.scaling.ScalingCurve": "result record filled by scheme_error",
    "impl.transformer.Batch": "result record filled by BigramTask.sample",
    "impl.transformer.TrainLog": "result record filled by impl.transformer.train",
    "impl.birth.BirthBatch": "result record filled by BirthTask.sample",
    "impl.birth.BirthLog": "result record filled by train_birth",
}

# Known failures, xfailed with the reason (see the module docstring): the counts are the failing cases of
# test_catalogue. Empty: every public callable passes. A callable that regresses fails the run; listing it here
# (with the reason) is a visible, reviewed exception, never a silent one.
PENDING: dict[str, str] = {}

# Public callables without a baseline in TABLE yet, with the reason (the coverage test accepts only these).
UNTABLED: dict[str, str] = {}

BY_TARGET = {e.target: e for e in TABLE}


def test_table_covers_every_public_callable():
    have = set(BY_TARGET) | set(RECORDS) | set(UNTABLED)
    missing = [c for c in public_callables() if c not in have]
    assert not missing, f"public callables without an entry in tests/test_fuzz.py TABLE: {missing}"
    stale = sorted(have - set(public_callables()))
    assert not stale, f"entries for callables that no longer exist: {stale}"


def _maybe_pending(target):
    if target in PENDING:
        pytest.xfail(PENDING[target])


def _strict_pending(targets):
    return [
        pytest.param(t, marks=pytest.mark.xfail(reason=PENDING[t], strict=True)) if t in PENDING else t for t in targets
    ]


@pytest.mark.parametrize("target", _strict_pending(sorted(BY_TARGET)))
def test_catalogue(target):
    entry = BY_TARGET[target]
    base = baseline_failure(entry)
    assert base is None, base
    failures = [f for c in cases(entry) if (f := run_case(c)) is not None]
    assert not failures, f"{len(failures)} failing cases:\n" + "\n".join(failures)


# ------------------------------------------------------------------------------------------ Hypothesis
_BAD_REAL = st.one_of(
    st.sampled_from([float("nan"), float("inf"), float("-inf")]),
    st.text(max_size=3),
    st.none(),
    st.booleans(),
    st.lists(st.floats(allow_nan=False), min_size=1, max_size=2),
)
_NOT_INT = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=3),
    st.none(),
    st.booleans(),
    st.lists(st.integers(0, 3), min_size=1, max_size=2),
)
_HUGE_INT = st.integers(min_value=10**15, max_value=2**80)
# invalid values per kind (every draw is outside the kind's domain); huge sizes are checked as EITHER
# (a ValueError naming the parameter, or a finite result), as in the catalogue
BAD: dict[str, st.SearchStrategy] = {
    "size": st.one_of(_NOT_INT, st.integers(max_value=0)),
    "count": st.one_of(_NOT_INT, st.integers(max_value=-1)),
    "int": _NOT_INT,
    "seed": st.one_of(_NOT_INT, st.integers(max_value=-1), st.integers(min_value=2**62 + 1, max_value=2**80)),
    "pos": st.one_of(_BAD_REAL, st.floats(max_value=0.0, allow_nan=False, allow_infinity=False)),
    "nonneg": st.one_of(_BAD_REAL, st.floats(max_value=-1e-300, allow_nan=False, allow_infinity=False)),
    "real": _BAD_REAL,
    "bounded": _BAD_REAL,
    "bool": st.one_of(st.integers(), st.text(max_size=3), st.none(), st.floats()),
    "choice": st.one_of(st.text(alphabet="xyzQ_", min_size=4, max_size=6), st.none(), st.integers(), st.floats()),
    "seeds": st.one_of(
        st.floats(),
        st.integers(max_value=-1),
        st.text(max_size=3),
        st.none(),
        st.booleans(),
        st.lists(
            st.floats(allow_nan=False, allow_infinity=False).filter(lambda v: v != int(v)), min_size=1, max_size=2
        ),
        st.lists(st.integers(max_value=-1), min_size=1, max_size=2),
    ),
    "device": st.one_of(st.text(alphabet="xyzq", min_size=1, max_size=4), st.integers(), st.floats()),
    "dtype": st.one_of(
        st.sampled_from([torch.int32, torch.int64, torch.float16, torch.bfloat16, torch.bool]),
        st.text(alphabet="xyzq", max_size=4),
        st.integers(),
    ),
    "array": st.one_of(st.text(max_size=3), st.sampled_from([np.array(["x"]), np.array([1 + 1j])])),
    "tensor": st.one_of(st.text(max_size=3), st.sampled_from([torch.tensor([1 + 1j])])),
    "object": st.text(max_size=3),
}


@pytest.mark.parametrize("target", sorted(BY_TARGET))
@settings(max_examples=12)
@given(data=st.data())
def test_property(target, data):
    """Hypothesis draws a parameter and an invalid value of its kind; the call must refuse it by name."""
    _maybe_pending(target)
    entry = BY_TARGET[target]
    kinds = params_of(entry)
    if not kinds:
        return
    param = data.draw(st.sampled_from(sorted(kinds)), label="parameter")
    kind = kinds[param]
    strategy = BAD[kind]
    if kind in ("size", "count", "int"):
        strategy = st.one_of(strategy, _HUGE_INT)
    value = data.draw(strategy, label=f"{param} ({kind})")
    huge = isinstance(value, int) and not isinstance(value, bool) and value >= 10**15 and kind != "seed"
    extra = entry.valid.get(param, set())
    if (value is None and "none" in extra) or (isinstance(value, str) and "str" in extra):
        return  # a value the table lists as valid for this parameter
    if isinstance(value, list) and "list" in extra:
        return
    failure = run_value(entry, param, value, valid=None if huge else False)
    assert failure is None, failure


def _summary():  # pragma: no cover - a report for humans: python tests/test_fuzz.py
    import collections
    import time

    counts = collections.Counter()
    per = collections.Counter()
    t0 = time.time()
    for e in TABLE:
        b = baseline_failure(e)
        if b:
            print(b)
            counts["baseline"] += 1
            continue
        for c in cases(e):
            f = run_case(c)
            cat = "ok" if f is None else f.split(": ", 1)[1].split(" ")[0]
            counts[cat] += 1
            if f is not None:
                per[e.target] += 1
                print(f)
    n = sum(v for k, v in counts.items() if k != "baseline")
    print(dict(counts), "cases", n, "ok fraction", counts["ok"] / max(n, 1), f"{time.time() - t0:.1f} s")
    print(per.most_common())


if __name__ == "__main__":  # pragma: no cover
    import sys

    sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent))
    _summary()
