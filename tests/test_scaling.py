"""Unit tests of theory.scaling and impl.scaling."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as hst

from impl import scaling as isc
from impl.embeddings import Embedding
from impl.memory import recall
from impl.sampling import zipf_probs
from theory import scaling as ts
from theory.memory import predicted_accuracy
from theory.zipf import zipf_pmf


# ---------------------------------------------------------------- theory
def test_error_exponents():
    assert ts.error_exponent("p", 2.0, "d") == pytest.approx(-0.25)
    assert ts.error_exponent("threshold", 2.0, "d") == pytest.approx(-1.0)
    assert ts.error_exponent("top", 3.0, "d") == pytest.approx(-2.0)
    assert ts.error_exponent("counts", 1.5, "d") == pytest.approx(-1 / 6)
    assert ts.error_exponent("seen", 2.0, "d") == -np.inf
    assert ts.error_exponent("infinite", 2.0, "d") == 0.0
    for s in ts.SCHEMES:
        assert ts.error_exponent(s, 2.0, "T") == pytest.approx(-0.5)


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: ts.error_exponent("nope", 2.0), "scheme"),
        (lambda: ts.error_exponent("p", 1.0), "alpha"),
        (lambda: ts.error_exponent("p", float("nan")), "alpha"),
        (lambda: ts.error_exponent("p", 2.0, "N"), "variable"),
        (lambda: ts.unseen_mass([0.5, 0.5], [-1]), "T"),
        (lambda: ts.unseen_mass([0.5, 0.6], [1]), "p"),
        (lambda: ts.unseen_mass([0.5, 0.5], [1], "gauss"), "kind"),
        (lambda: ts.unseen_mass([[0.5, 0.5]], [1]), "p"),
        (lambda: ts.hutter_asymptote([10], 0.5), "alpha"),
        (lambda: ts.hutter_asymptote([10], 2.0, 0), "N"),
        (lambda: ts.tail_mass([1.0], [-1]), "K"),
        (lambda: ts.threshold_error(0, 2.0, [16]), "N"),
        (lambda: ts.threshold_error(10, 2.0, [0]), "d"),
        (lambda: ts.threshold_error(10, 2.0, [16], c=0), "c"),
        (lambda: ts.threshold_error(10, 2.0, [16], M=0), "M"),
        (lambda: ts.failing_set([1.0], 0, 1.0), "d"),
        (lambda: ts.failing_set([1.0], 1, -1.0), "c"),
        (lambda: ts.failing_set([1.0], 1, 1.0, "cube"), "reading"),
        (lambda: ts.approximation_error([1.0, 0.0], [1.0], [4], 1.0), "p"),
        (lambda: ts.approximation_error([1.0], [1.0], [0], 1.0), "d"),
        (lambda: ts.approximation_error([1.0], [1.0], [4], 0.0), "c"),
        (lambda: ts.approximation_error([np.nan], [1.0], [4], 1.0), "q"),
        (lambda: ts.top_seen_error([1.0], [1, 2], [1]), "T and K"),
        (lambda: ts.top_seen_lower([1.0], [1], [1, 2]), "T and K"),
        (lambda: ts.predicted_error([1.0, 1.0], [0, 1], 2, 0, [0.5, 0.5]), "d"),
        (lambda: ts.predicted_error([1.0, 1.0], [0, 2], 2, 4, [0.5, 0.5]), "f"),
        (lambda: ts.predicted_error([1.0, 1.0], [0, 1], 2, 4, [0.5, 0.5], resolution=0), "resolution"),
        (lambda: ts.predicted_error([1.0, 1.0], [0, 1], 2, 4, [1.0]), "p"),
        (lambda: ts.loglog_slope([1, 2], [1, -1]), "x and y"),
    ],
)
def test_theory_errors(call, name):
    with pytest.raises(ValueError, match=name):
        call()


def test_unseen_mass_identities():
    p = zipf_pmf(50, 2.0)
    assert ts.unseen_mass(p, [0])[0] == pytest.approx(1.0)
    assert ts.unseen_mass(p, [1])[0] == pytest.approx(1 - np.sum(p**2))
    assert ts.unseen_mass([1.0], [0, 1, 5]).tolist() == pytest.approx([1.0, 0.0, 0.0], abs=1e-12)
    T = np.array([3, 10, 100])
    looped = [float(np.sum(p * (1 - p) ** t)) for t in T]
    assert ts.unseen_mass(p, T) == pytest.approx(looped, rel=1e-12)  # batched == looped


@given(alpha=hst.floats(1.1, 3.0), T=hst.integers(0, 10**6))
def test_unseen_mass_exact_below_poisson(alpha, T):
    p = zipf_pmf(200, alpha)
    ex, po = ts.unseen_mass(p, [T, T + 1]), ts.unseen_mass(p, [T], "poisson")
    assert ex[0] <= po[0] + 1e-15 and ex[1] <= ex[0] + 1e-15


def test_hutter_asymptote_matches_large_N():
    p = zipf_pmf(10**6, 2.0)
    T = np.array([1e3, 1e4])
    assert ts.unseen_mass(p, T) / ts.hutter_asymptote(T, 2.0, 10**6) == pytest.approx([1.0, 1.0], rel=0.05)


def test_tail_and_threshold_error():
    p = zipf_pmf(100, 2.0)
    assert ts.tail_mass(p, [0, 100, 1000]).tolist() == pytest.approx([1.0, 0.0, 0.0], abs=1e-12)
    assert ts.tail_mass(p, [3])[0] == pytest.approx(p[3:].sum())
    assert ts.threshold_error(100, 2.0, [32], 8.0, 5)[0] == pytest.approx(0.8 * p[4:].sum())


@given(K=hst.integers(1, 40), d=hst.integers(1, 500), c=hst.floats(0.1, 20.0))
def test_readings_agree_on_indicators(K, d, c):
    q = (np.arange(60) < K).astype(float)
    assert np.array_equal(ts.failing_set(q, d, c, "square"), ts.failing_set(q, d, c, "linear"))


def test_approximation_error_matches_failing_set():
    p = zipf_pmf(300, 1.5)
    ds = np.array([4.0, 64.0, 1024.0])
    for reading in ts.READINGS:
        batched = ts.approximation_error(p, p, ds, 0.7, reading, 5)
        looped = [0.8 * p[ts.failing_set(p, d, 0.7, reading)].sum() for d in ds]
        assert batched == pytest.approx(looped, rel=1e-12)
    # q = p: the square reading gives the SL2 exponent -(alpha-1)/(2 alpha), the linear one -(alpha-1)/alpha
    p = zipf_pmf(10**6, 2.0)
    ds = np.geomspace(1e6, 1e10, 9)
    assert ts.loglog_slope(ds, ts.approximation_error(p, p, ds, 1.0, "square")) == pytest.approx(-0.25, abs=0.02)
    assert ts.loglog_slope(ds, ts.approximation_error(p, p, ds, 1.0, "linear")) == pytest.approx(-0.5, abs=0.02)


@given(T=hst.integers(0, 10**5), K=hst.integers(0, 400))
def test_top_seen_bounds_ordered(T, K):
    p = zipf_pmf(300, 2.0)
    lo = ts.top_seen_lower(p, np.array([T]), np.array([K]))
    up = ts.top_seen_error(p, np.array([T]), np.array([K]))
    assert lo[0] <= up[0] + 1e-12 and up[0] <= 2 * lo[0] + 1e-12


def test_gaussian_error_matches_theory_memory():
    p = zipf_pmf(60, 2.0)
    f = np.arange(60) % 5
    for q in (p, (np.arange(60) < 10).astype(float), np.ones(60)):
        ref = 1 - predicted_accuracy(q, f, 5, 32, p)
        assert ts.predicted_error(q, f, 5, 32, p, resolution=1e-6, norms=0) == pytest.approx(ref, abs=2e-3)
    assert ts.predicted_error(p, np.zeros(60, int), 1, 32, p) == 0.0


def test_loglog_slope_exact():
    x = np.array([1.0, 10.0, 100.0])
    assert ts.loglog_slope(x, 3 * x**-0.7) == pytest.approx(-0.7)


# ---------------------------------------------------------------- impl
def test_mod_map():
    assert isc.mod_map(7, 3).tolist() == [0, 1, 2, 0, 1, 2, 0]
    with pytest.raises(ValueError, match="N"):
        isc.mod_map(0, 3)
    with pytest.raises(ValueError, match="M"):
        isc.mod_map(3, 0)


def test_scheme_weights():
    p = zipf_probs(10, 2.0)
    counts = torch.tensor([[5.0, 0, 3, 3, 1, 0, 0, 2, 0, 0], [0, 1, 0, 0, 0, 0, 0, 0, 0, 4]])
    w = {s: isc.scheme_weights(s, counts, p, d=16, c=8.0, s=2) for s in isc.SCHEMES}
    for s, q in w.items():
        assert q.shape == (2, 10) and q.dtype == torch.float64, s
    assert torch.equal(w["threshold"][0], (torch.arange(10) < 2).double())
    assert torch.equal(w["seen"][0], (counts[0] > 0).double())
    assert torch.equal(w["seen_s"][0], (counts[0] >= 2).double())
    assert torch.equal(w["counts"], counts.double())
    assert torch.equal(w["ones"], torch.ones(2, 10, dtype=torch.float64))
    assert torch.allclose(w["p"][1], p)
    # top floor(16/8) = 2 most counted seen tokens; ties go to the smaller index
    assert torch.nonzero(w["top"][0]).squeeze(-1).tolist() == [0, 2]
    assert torch.nonzero(w["top"][1]).squeeze(-1).tolist() == [1, 9]
    assert isc.scheme_weights("top", counts, p, d=100, c=1.0).sum().item() == int(
        (counts > 0).sum()
    )  # only seen tokens
    nested = isc.scheme_weights("top", counts.unsqueeze(1).expand(2, 3, 10), p, d=16)
    assert nested.shape == (2, 3, 10) and torch.equal(nested[:, 1], w["top"])  # batched == looped
    assert isc.scheme_weights("seen", counts, p, 16, dtype="float32").dtype == torch.float32


@pytest.mark.parametrize(
    "kw, name",
    [
        (dict(scheme="best"), "scheme"),
        (dict(counts=-torch.ones(1, 4)), "counts"),
        (dict(p=torch.ones(3) / 3), "p"),
        (dict(d=0), "d"),
        (dict(c=0.0), "c"),
        (dict(s=0), "s"),
        (dict(dtype="float16"), "dtype"),
        (dict(counts=torch.tensor(1.0)), "counts"),
    ],
)
def test_scheme_weights_errors(kw, name):
    args = dict(scheme="top", counts=torch.ones(1, 4), p=torch.ones(4) / 4, d=8)
    args.update(kw)
    with pytest.raises(ValueError, match=name):
        isc.scheme_weights(**args)


def test_prefix_counts_nested_and_deterministic():
    p = zipf_probs(50, 1.5)
    c = isc.prefix_counts(p, [0, 10, 100], (3, 4))
    assert c.shape == (2, 3, 50) and c.dtype == torch.float64
    assert c.sum(-1).tolist() == [[0, 10, 100], [0, 10, 100]]
    assert bool((c[:, 2] >= c[:, 1]).all())
    assert torch.equal(c, isc.prefix_counts(p, [0, 10, 100], (3, 4)))
    assert torch.equal(c[1], isc.prefix_counts(p, [0, 10, 100], (4,))[0])  # batched == looped over seeds
    assert torch.equal(isc.prefix_counts(p, [10], (3,))[0, 0], c[0, 1])  # prefixes of one stream


@pytest.mark.parametrize(
    "kw, name",
    [
        (dict(Ts=[10, 5]), "Ts"),
        (dict(Ts=[]), "Ts"),
        (dict(Ts=[-1]), "Ts"),
        (dict(seeds=()), "seeds"),
        (dict(p=torch.ones(2, 2)), "p"),
        (dict(p=torch.tensor([0.5, float("nan")])), "p"),
        (dict(device="tpu"), "device"),
    ],
)
def test_prefix_counts_errors(kw, name):
    args = dict(p=torch.ones(4) / 4, Ts=[1, 2], seeds=(0,))
    args.update(kw)
    with pytest.raises(ValueError, match=name):
        isc.prefix_counts(**args)


def test_unseen_mass_impl():
    p = torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64)
    assert isc.unseen_mass(torch.tensor([[1.0, 0, 0], [0, 2, 1]]), p).tolist() == pytest.approx([0.5, 0.5])
    with pytest.raises(ValueError, match="p"):
        isc.unseen_mass(torch.zeros(1, 3), torch.ones(2))
    with pytest.raises(ValueError, match="counts"):
        isc.unseen_mass(-torch.ones(1, 3), p)


def _memory(N=300, M=5, d=24, seeds=(0, 1, 2)):
    return Embedding(N, d, seeds, stream="e"), Embedding(M, d, seeds, stream="u"), isc.mod_map(N, M), zipf_probs(N, 2.0)


def test_population_error_matches_recall_and_is_batched():
    E, U, f, p = _memory()
    counts = isc.prefix_counts(p, [30, 300], E.seeds)
    q = torch.cat(
        [
            torch.stack([isc.scheme_weights(s, counts[:, 0], p, 24) for s in ("p", "threshold", "ones")], 1),
            isc.scheme_weights("counts", counts, p, 24),
        ],
        1,
    )
    err, correct = isc.population_error(q, f, E, U, p, return_correct=True, dtype="float64")
    ref = recall(q, f, E, U, p, dtype="float64")
    assert err.shape == (3, 5) and err.dtype == torch.float64 and correct.shape == (3, 5, 300)
    assert torch.allclose(err, ref.error, atol=1e-12) and torch.equal(correct, ref.correct)
    one = isc.population_error(
        q[1:2], f, Embedding(300, 24, (1,), stream="e"), Embedding(5, 24, (1,), stream="u"), p, dtype="float64"
    )
    assert torch.allclose(one[0], err[1], atol=1e-12)  # batched == looped over seeds
    import impl.memory as imem

    old = imem.MATERIALIZE_ELEMENTS, imem.CHUNK_ELEMENTS
    try:  # seed groups of one, streamed tables and tiny row chunks give the same answer
        imem.MATERIALIZE_ELEMENTS, imem.CHUNK_ELEMENTS = 1, 7
        assert torch.allclose(isc.population_error(q, f, E, U, p, dtype="float64"), err, atol=1e-12)
    finally:
        imem.MATERIALIZE_ELEMENTS, imem.CHUNK_ELEMENTS = old
    assert torch.equal(isc.population_error(q, f, E, U, p, dtype="float64"), err)  # deterministic
    assert isc.population_error(q[0, 0], f, E, U, p).shape == (3, 1)


def test_population_error_single_output_and_zero_memory():
    E, U, f, p = _memory(N=20, M=1, d=8, seeds=(0,))
    assert isc.population_error(torch.ones(20), f, E, U, p).item() == 0.0
    E, U, f, p = _memory(N=20, M=3, d=8, seeds=(0,))
    assert isc.population_error(torch.zeros(20), f, E, U, p).item() == pytest.approx(1.0)  # ties count as errors


@pytest.mark.parametrize(
    "kw, name",
    [
        (dict(q=torch.ones(7)), "q"),
        (dict(f=torch.arange(30) % 9), "f"),
        (dict(p=torch.ones(29)), "p"),
        (dict(U=Embedding(5, 8, (0,), stream="e")), "streams"),
        (dict(U=Embedding(5, 8, (1,), stream="u")), "seeds"),
        (dict(E="table"), "Embedding"),
        (dict(q=torch.full((30,), float("nan"))), "q"),
        (dict(dtype="int8"), "dtype"),
        (dict(device="tpu"), "device"),
    ],
)
def test_population_error_errors(kw, name):
    args = dict(
        q=torch.ones(30),
        f=torch.arange(30) % 5,
        E=Embedding(30, 8, (0,), stream="e"),
        U=Embedding(5, 8, (0,), stream="u"),
        p=torch.ones(30) / 30,
    )
    args.update(kw)
    with pytest.raises(ValueError, match=name):
        isc.population_error(**args)


def test_custom_schemes_and_scheme_error():
    """A scheme given as weights or as a callable (p, counts, d) equals the named scheme it reproduces; scheme_error
    matches assembling the memory by hand; bad schemes raise ValueError naming 'scheme'."""
    import numpy as np
    import torch

    from impl.embeddings import Embedding
    from impl.sampling import zipf_probs
    from impl.scaling import mod_map, population_error, scheme_error, scheme_weights

    p = zipf_probs(300, 1.5, dtype=torch.float64)
    counts = torch.zeros(2, 300, dtype=torch.float64)
    named = scheme_weights("p", counts, p, 32)
    assert torch.equal(scheme_weights(lambda p_, n, d: p_, counts, p, 32), named)
    assert torch.equal(scheme_weights(p.numpy(), counts, p, 32), named)
    assert torch.equal(
        scheme_weights(lambda p_, n, d: (torch.arange(300) < d // 8).double(), counts, p, 32),
        scheme_weights("threshold", counts, p, 32),
    )
    r = scheme_error(lambda p_, n, d: p_**0.5, 300, 1.5, [16, 32], (3, 4), M=3)
    assert r.error.shape == (2, 2) and list(r.d) == [16, 32]
    E, U = Embedding(300, 32, (3, 4), stream="e"), Embedding(3, 32, (3, 4), stream="u")
    by_hand = population_error(p**0.5, mod_map(300, 3), E, U, p)[:, 0]
    assert torch.allclose(r.error[:, 1], by_hand)
    for bad in (
        lambda p_, n, d: p_[:10],
        lambda p_, n, d: p_ * float("nan"),
        lambda p_, n, d: 1 / 0,
        np.ones(7),
        "bogus",
        [[float("inf")] * 300],
    ):
        with pytest.raises(ValueError, match="scheme"):
            scheme_weights(bad, counts, p, 32)
    with pytest.raises(ValueError, match="d"):
        scheme_error("p", 300, 1.5, [], (0,))
