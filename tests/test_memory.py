"""Unit tests of impl.embeddings, impl.memory, impl.sampling and theory.memory / theory.zipf."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as hst

from impl.embeddings import BLOCK, Embedding, random_matrix
from impl.memory import aggregate_keys, memory_matrix, recall, scores
from impl.sampling import sample_counts, sample_tokens, token_counts, zipf_probs
from theory import memory as tm
from theory.zipf import zipf_pmf


# ---------------------------------------------------------------- embeddings
def test_embedding_shapes_dtypes_and_determinism():
    E = Embedding(10, 8, (1, 2, 3))
    a = E.full()
    assert a.shape == (3, 10, 8) and a.dtype == torch.float32
    assert E.full(dtype="float64").dtype == torch.float64
    assert torch.equal(a, Embedding(10, 8, (1, 2, 3)).full())
    assert torch.equal(a[1], Embedding(10, 8, 2).full()[0])  # batched == looped over seeds


def test_embedding_rows_independent_of_chunking():
    E = Embedding(BLOCK + 50, 4, (7,))
    full = E.full()
    parts = torch.cat([r for _, _, r in E.chunks(333)], 1)
    assert torch.equal(full, parts)
    assert torch.equal(E.rows(BLOCK - 3, BLOCK + 5), full[:, BLOCK - 3 : BLOCK + 5])


def test_embedding_kinds():
    s = Embedding(50, 16, 0, "sphere").full(dtype="float64")
    assert torch.allclose(s.norm(dim=-1), torch.ones(1, 50, dtype=torch.float64))
    o = Embedding(16, 16, 0, "orthonormal").full(dtype="float64")[0]
    assert torch.allclose(o @ o.T, torch.eye(16, dtype=torch.float64), atol=1e-12)
    assert not torch.equal(Embedding(5, 4, 0, stream="e").full(), Embedding(5, 4, 0, stream="u").full())
    assert random_matrix(6, (0, 1)).shape == (2, 6, 6)


@pytest.mark.parametrize(
    "kw, name",
    [
        (dict(n=0, d=4, seeds=0), "n"),
        (dict(n=3, d=0, seeds=0), "d"),
        (dict(n=3, d=4, seeds=-1), "seeds"),
        (dict(n=3, d=4, seeds=()), "seeds"),
        (dict(n=3, d=4, seeds=0, kind="cubic"), "kind"),
        (dict(n=5, d=4, seeds=0, kind="orthonormal"), "n"),
        (dict(n=3, d=4, seeds=0, stream="zz"), "stream"),
        (dict(n=2.5, d=4, seeds=0), "n"),
    ],
)
def test_embedding_errors(kw, name):
    with pytest.raises(ValueError, match=name):
        Embedding(**kw)


def test_embedding_device_dtype_errors():
    E = Embedding(3, 4, 0)
    with pytest.raises(ValueError, match="dtype"):
        E.full(dtype="float16")
    with pytest.raises(ValueError, match="device"):
        E.full(device="tpu")
    with pytest.raises(ValueError, match="stop"):
        E.rows(2, 1)
    with pytest.raises(ValueError, match="chunk"):
        next(E.chunks(0))
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA"):
            E.full(device="cuda")


# ---------------------------------------------------------------- memory
def _setup(N=40, M=5, d=12, seeds=(0, 1)):
    return Embedding(N, d, seeds, stream="e"), Embedding(M, d, seeds, stream="u"), torch.arange(N) % M


def test_memory_matrix_matches_definition():
    E, U, f = _setup()
    q = torch.rand(40, dtype=torch.float64)
    W = memory_matrix(q, f, E, U, dtype="float64")[:, 0]
    e, u = E.full(dtype="float64"), U.full(dtype="float64")
    W_ref = torch.einsum("z,szi,szj->sij", q, u[:, f], e)
    assert torch.allclose(W, W_ref, atol=1e-12)
    V = aggregate_keys(q, f, E, 5, dtype="float64")
    assert V.shape == (2, 1, 5, 12)


@pytest.mark.parametrize("M", [3, 300])  # one-hot path and index_add path
def test_recall_matches_explicit_argmax_and_is_chunk_invariant(M):
    N = 300
    E, U, _ = _setup(N, M, 16)
    f = torch.randint(0, M, (N,), generator=torch.Generator().manual_seed(0))
    q = torch.rand(2, N, dtype=torch.float64)
    p = torch.rand(N, dtype=torch.float64)
    p /= p.sum()
    r = recall(q, f, E, U, p, dtype="float64", return_margin=True)
    r2 = recall(q, f, E, U, p, dtype="float64", chunk=37)
    assert torch.equal(r.correct, r2.correct)
    W = memory_matrix(q, f, E, U, dtype="float64")
    G = scores(W, E.full(dtype="float64").unsqueeze(1), U.full(dtype="float64").unsqueeze(1))
    ref = G.argmax(-1) == f
    assert torch.equal(r.correct, ref)
    assert torch.allclose(r.error, ((~ref).double() * p).sum(-1))
    assert r.correct.shape == (2, 2, N) and r.error.dtype == torch.float64
    assert torch.equal(r.correct, r.margin > 0)


def test_recall_batched_equals_looped_over_seeds():
    E, U, f = _setup(seeds=(3, 4, 5))
    r = recall(torch.ones(40), f, E, U)
    for i, s in enumerate((3, 4, 5)):
        Ei, Ui, _ = _setup(seeds=(s,))
        assert torch.equal(r.correct[i], recall(torch.ones(40), f, Ei, Ui).correct[0])


def test_recall_ties_count_as_errors_and_orthonormal_exact():
    E = Embedding(8, 8, 0, "orthonormal", "e")
    U = Embedding(4, 8, 0, "orthonormal", "u")
    f = torch.arange(8) % 4
    q = torch.ones(8)
    q[3] = 0.0  # token 3 not stored: all its scores are 0 -> a tie -> an error
    r = recall(q, f, E, U, dtype="float64")
    assert r.correct[0, 0].tolist() == [True, True, True, False, True, True, True, True]
    assert abs(float(r.error[0, 0]) - 1 / 8) < 1e-15


def test_recall_given_W():
    E, U, f = _setup()
    W = memory_matrix(torch.ones(40), f, E, U)
    assert torch.equal(recall(None, f, E, U, W=W[:, 0]).correct, recall(torch.ones(40), f, E, U).correct)


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda E, U, f: recall(torch.ones(39), f, E, U), "q"),
        (lambda E, U, f: recall(torch.ones(40), f[:-1], E, U), "f"),
        (lambda E, U, f: recall(torch.ones(40), f + 5, E, U), "f"),
        (lambda E, U, f: recall(torch.ones(40), f, E, U, p=torch.ones(3)), "p"),
        (lambda E, U, f: recall(torch.ones(40), f, E, U, p=-torch.ones(40)), "p"),
        (lambda E, U, f: recall(torch.full((40,), float("nan")), f, E, U), "q"),
        (lambda E, U, f: recall(torch.ones(40), f, E, E), "stream"),
        (lambda E, U, f: recall(torch.ones(40), f, E, Embedding(5, 12, (9,), stream="u")), "seeds"),
        (lambda E, U, f: recall(torch.ones(40), f, E, U, chunk=0), "chunk"),
        (lambda E, U, f: recall(None, f, E, U, W=torch.zeros(2, 3, 3)), "W"),
        (lambda E, U, f: aggregate_keys(torch.ones(40), f, E, 0), "M"),
    ],
)
def test_memory_errors(call, name):
    E, U, f = _setup()
    with pytest.raises(ValueError, match=name):
        call(E, U, f)


# ---------------------------------------------------------------- sampling
def test_zipf_and_sampling():
    p = zipf_probs(100, 1.5)
    assert p.shape == (100,) and abs(float(p.sum()) - 1) < 1e-12 and bool((p[:-1] >= p[1:]).all())
    assert np.allclose(p.numpy(), zipf_pmf(100, 1.5))
    t = sample_tokens(p, 1000, (0, 1))
    assert t.shape == (2, 1000) and t.dtype == torch.int64
    assert torch.equal(t, sample_tokens(p, 1000, (0, 1)))
    assert torch.equal(t[1], sample_tokens(p, 1000, 1)[0])
    c = token_counts(t, 100)
    assert c.shape == (2, 100) and float(c.sum()) == 2000
    sc = sample_counts(p, 2_500_000, (0,))
    assert float(sc.sum()) == 2_500_000
    assert abs(float(sc[0, 0]) / 2.5e6 - float(p[0])) < 0.002


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: zipf_probs(0, 1.0), "N"),
        (lambda: zipf_probs(5, -1.0), "alpha"),
        (lambda: zipf_probs(5, float("nan")), "alpha"),
        (lambda: sample_tokens(torch.ones(3) / 3, -1, 0), "T"),
        (lambda: sample_tokens(-torch.ones(3), 5, 0), "p"),
        (lambda: token_counts(torch.zeros(3, dtype=torch.long), 4), "tokens"),
        (lambda: token_counts(torch.full((1, 2), 7), 4), "tokens"),
        (lambda: sample_counts(torch.ones(3), 5, ()), "seeds"),
        (lambda: zipf_pmf(0, 1.0), "N"),
        (lambda: zipf_pmf(3, -2.0), "alpha"),
    ],
)
def test_sampling_errors(call, name):
    with pytest.raises(ValueError, match=name):
        call()


# ---------------------------------------------------------------- theory.memory
def test_score_moments_reduce_to_the_slide_bound():
    N, M, d = 20, 4, 50
    f = np.arange(N) % M
    mom = tm.score_moments(np.ones(N), f, M, d)
    bound = tm.score_variance_bound(np.full(M, N // M), np.full(M, N - N // M), d)
    # wrong-output variance = (1+2/d) * same/d + other/d^2 + self-term
    assert np.allclose(mom.wrong_base, (1 + 2 / d) * (N // M) / d + (N - N // M) / d**2)
    assert np.all(mom.var_wrong(np.zeros(M, int), np.arange(M)) >= bound * 0.99)
    assert np.allclose(mom.mean_correct, 1.0)
    v = tm.score_variance(np.ones(N), f, M, d, np.array([0, 0]), np.array([0, 1]))
    assert v[0] == mom.var_correct[0] and v[1] == mom.var_wrong(0, 1)


@given(d=hst.integers(8, 256), N=hst.integers(4, 400))
def test_capacity_accuracy_limits_and_monotone(d, N):
    a1 = tm.capacity_accuracy(N, d, "mod")
    a2 = tm.capacity_accuracy(2 * N, d, "mod")
    assert 0.0 <= a2 <= a1 + 1e-9 <= 1.0 + 1e-9
    assert tm.capacity_accuracy(N, 10 * d, "injective") >= tm.capacity_accuracy(N, d, "injective") - 1e-9


def test_recall_probability_limits():
    assert tm.predicted_accuracy(np.ones(3), np.arange(3), 3, 10_000) > 0.999
    assert tm.predicted_accuracy(np.ones(400), np.arange(400) % 2, 2, 4) < 0.7
    r0 = tm.recall_probability(np.ones(50), np.arange(50) % 2, 2, 64)
    r1 = tm.recall_probability(np.ones(50), np.arange(50) % 2, 2, 64, norms=8)
    assert r0.shape == r1.shape == (50,) and abs(r0.mean() - r1.mean()) < 0.05


def test_capacity_threshold_and_asymptotics():
    n = tm.capacity_threshold(64, "mod", 0.9)
    assert abs(tm.capacity_accuracy(int(round(n)), 64, "mod") - 0.9) < 0.02
    assert np.allclose(tm.capacity_asymptotic([100.0], "mod", 0.9), 100 / 1.2815515655446004**2)
    n_inj = tm.capacity_asymptotic([64.0, 1024.0], "injective")
    assert np.allclose(n_inj * np.log(n_inj), np.array([64.0, 1024.0]) ** 2 / 2)
    e = tm.capacity_exponent([1e6], "injective")
    assert 1.8 < e[0] < 2.0


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: tm.score_moments(np.ones(3), np.arange(3), 3, 0), "d"),
        (lambda: tm.score_moments(np.ones(3), np.arange(3), 0, 4), "M"),
        (lambda: tm.score_moments(np.ones(3), np.arange(3) + 1, 3, 4), "f"),
        (lambda: tm.score_moments(np.array([1.0, np.nan, 1.0]), np.arange(3), 3, 4), "q"),
        (lambda: tm.score_moments(np.ones(3), np.arange(4), 4, 4), "f"),
        (lambda: tm.score_variance(np.ones(3), np.arange(3), 3, 4, np.array([5]), np.array([0])), "z"),
        (lambda: tm.recall_probability(np.ones(3), np.arange(3), 3, 4, norms=-1), "norms"),
        (lambda: tm.predicted_accuracy(np.ones(3), np.arange(3), 3, 4, p=np.ones(3)), "p"),
        (lambda: tm.target_map(0, "mod"), "N"),
        (lambda: tm.target_map(5, "surjective"), "kind"),
        (lambda: tm.capacity_threshold(32, "mod", 1.5), "accuracy"),
        (lambda: tm.capacity_threshold(0, "mod"), "d"),
        (lambda: tm.capacity_asymptotic([0.0], "mod"), "d"),
        (lambda: tm.capacity_asymptotic([8.0], "mod", 0.0), "accuracy"),
        (lambda: tm.score_variance_bound(np.ones(2), np.ones(2), 0), "d"),
    ],
)
def test_theory_memory_errors(call, name):
    with pytest.raises(ValueError, match=name):
        call()


def test_deprecated_prediction_names_warn_and_agree():
    """gaussian_accuracy / gaussian_error are deprecated aliases of predicted_accuracy / predicted_error."""
    import numpy as np

    from theory.memory import gaussian_accuracy, predicted_accuracy
    from theory.scaling import gaussian_error, predicted_error

    q, f, p = np.ones(50), np.arange(50) % 2, np.full(50, 1 / 50)
    with pytest.warns(DeprecationWarning, match="predicted_accuracy"):
        assert gaussian_accuracy(q, f, 2, 16, p) == predicted_accuracy(q, f, 2, 16, p)
    with pytest.warns(DeprecationWarning, match="predicted_error"):
        assert gaussian_error(q, f, 2, 16, p) == predicted_error(q, f, 2, 16, p)
