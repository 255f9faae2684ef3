"""Capacity beyond one d x d matrix (CP1-CP4): predicted capacities and the constructions' recall.

All memories store an injective map f*: [N] -> [N] (M = N outputs), the case where a single d x d
matrix stores N ~ d^2 associations (AM3): "capacity ~ number of parameters" is then testable as
N* ~ (number of parameters) = m d.  Embeddings: u_y ~ N(0, I/d); e_z ~ N(0, I/d) (CP1, CP4) or on the
unit sphere (CP2, CP3, see below).  Scores are predicted with the same device as theory.memory: the
scores of one token are treated as independent Gaussians with their leading-order moments, conditioned
on the few random scalars that scale the signal (norms, the feature self-product), and

    P(recall z) = E_nodes E_t [ prod_{groups g} Phi((mu_c + sqrt(v_c) t - mu_g) / sqrt(v_g))^{n_g} ].

Constructions (fixed here; impl.capacity builds exactly these):

CP1  low rank W = W1^T W2, W1, W2 in R^{m x d}, W1 with i.i.d. N(0, 1/m) entries (so v_y = W1 u_y has
     ||v_y|| ~ 1), W2 = one population gradient step on the cross-entropy from W2 = 0 (z uniform):
         W2 = (eta/N) sum_z (v_{f*(z)} - vbar) e_z^T,    vbar = (1/M) sum_k v_k,
     so gamma_{z,y} = (eta/N) sum_{z'} (v_y^T v_{f*(z')} - v_y^T vbar) e_{z'}^T e_z.  With A = W1^T W1,
     E (v_y^T v_y')^2 = tr(A^2)/d^2 ~ 1/m + 1/d: the wrong score has variance ~ (1/m + 1/d) N/d, so
         N* log N* ~ (1/2) / ((1/m + 1/d)/d)  =  m d / (2 (1 + m/d)),   i.e. ~ m d / 2 for m << d,
     and ~ d^2/2 (the full matrix, AM3) for m >> d: the rank caps the capacity at m = d.
CP2  MLP  f(z) = argmax_y u_y^T W1 sigma(W2^T x_z), W1, W2 in R^{d x m}: the kernel-regime construction
     (not a trained MLP: training to convergence for every (N, m, d, seed) is out of a CPU budget, and
     the talk's statement is about this construction).  W2 has i.i.d. N(0, 1) entries (so w_j^T x ~ N(0, 1)
     for unit x), sigma has a Hermite expansion with degrees >= 3 only, and W1 is one population gradient
     step from W1 = 0:  W1 = (eta/N) sum_z (u_{f*(z)} - ubar) phi_z^T,  phi_z = sigma(W2^T x_z)/sqrt(m).
     Then phi_z'^T phi_z = K(z', z) = kappa(x_z'^T x_z) + O(1/sqrt m) with kappa(rho) = sum_j c_j^2 rho^j:
     the kernel part is O(d^{-3/2}) (the Hermite degree >= 3 ~ log N / log d for N up to d^3) and the
     random-feature part has variance K(z, z)/m.  The wrong score's variance is ~ N (1/m + kappa_2)/d:
         N* log N* ~ m d / 2   for any width m (as long as m kappa_2 << 1, i.e. m << d^3).
     Inputs: x_z on the unit sphere (the Gaussian e_z normalised, i.e. a layer norm before the MLP as in
     pre-LN transformers); with raw Gaussian inputs the degree->=3 features rescale by ||e_z||^3, an
     O(3 sqrt(2/d)) fluctuation of the signal that has nothing to do with capacity.
     Default sigma = 'odd3': sigma(t) = (sign t - sqrt(2/pi) t) / sqrt(1 - 2/pi), the sign with its
     linear Hermite component removed (degrees 3, 5, 7, ...; Var(sigma^2) = 0.86).  'hermite3' (He_3/sqrt 6)
     is also available but Var(He_3^2/6) = 92 makes K(z, z) fluctuate by sqrt(92/m) at small m.
CP3  multi-input MLP: the same construction on x = (e_{z1} + e~_{z2}) / ||e_{z1} + e~_{z2}||, pairs
     (z1, z2) in [n]^2, N = n^2 associations with an injective f*.  Pairs sharing z1 or z2 have
     rho ~ 1/2 and kernel kappa(1/2) (~0.045 for 'odd3'); the 2(n - 1) outputs of those pairs get that
     mean shift.  Same law N* ~ m d.  A linear map of e_{z1} + e~_{z2} cannot store it at all (scores are
     additive in z1 and z2).
CP4  thresholded memory (001, last slide; the slide's formula read as
         g(x)_y = u_y^T sum_{x'} q(x') u_{f*(x')} ReLU(e_{x'}^T e_x - eta),  q = 1):
     only keys with e_{x'}^T e_x > eta contribute.  With a = ||e_x||^2 and c = ||u_{f*(x)}||^2 the correct
     score is (a - eta)_+ c + noise, a wrong score (a - eta)_+ u_y^T u_{f*(x)} + [the key x' = y if it
     passes, (rho - eta)_+ ||u_y||^2] + Gaussian noise from the other passing keys, of variance
     N m2(a)/d with m2(a) = E (rho - eta)_+^2, rho ~ N(0, a/d).  As long as few keys pass, recall fails
     only when max_y u_y^T u_x > ||u_x||^2: P(fail) ~ N Q(sqrt d), so N* ~ exp(d/2) (up to poly factors):
     exponential in d, against N* ~ d^2 / (2 log N*) for the linear memory (theory.memory).
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np
from scipy.special import betainc, log_ndtr, ndtr
from scipy.stats import chi2, gamma

from amemory.validate import check_array, check_broadcast, check_choice, check_float, check_int

ACTIVATIONS = ("odd3", "hermite3", "hermite2")
CONSTRUCTIONS = ("lowrank", "mlp", "multi", "relu")
_T = np.linspace(-8.0, 8.0, 321)
_W_T = np.exp(-0.5 * _T**2) / np.sqrt(2 * np.pi) * (_T[1] - _T[0])
NODES = 8  # quantile nodes per conditioning scalar


# ----------------------------------------------------------------------------- activations
def _grid():
    t = np.linspace(-14.0, 14.0, 280001)
    w = np.exp(-0.5 * t**2) / np.sqrt(2 * np.pi) * (t[1] - t[0])
    return t, w


def activation_values(name: str, t) -> np.ndarray:
    """sigma(t) of the named activation, normalised so that E sigma(g)^2 = 1 for g ~ N(0, 1).

    odd3:     (sign t - sqrt(2/pi) t) / sqrt(1 - 2/pi)   (Hermite degrees 3, 5, 7, ...)
    hermite3: (t^3 - 3 t) / sqrt(6)                      (degree 3 only)
    hermite2: (t^2 - 1) / sqrt(2)                        (degree 2 only)

    Parameters
    ----------
    name : {'odd3', 'hermite3', 'hermite2'}
        The activation (:data:`ACTIVATIONS`).
    t : array_like
        Pre-activations (any shape).

    Returns
    -------
    numpy.ndarray
        sigma(t), float64, with the shape of ``t``.
    """
    check_choice("name", name, ACTIVATIONS)
    t = check_array("t", t, allow_empty=True)
    if name == "odd3":
        return (np.sign(t) - np.sqrt(2 / np.pi) * t) / np.sqrt(1 - 2 / np.pi)
    if name == "hermite3":
        return (t**3 - 3 * t) / np.sqrt(6.0)
    return (t**2 - 1) / np.sqrt(2.0)


def hermite_coefficients(name: str, degree: int = 25) -> np.ndarray:
    """Normalised Hermite coefficients of the named activation.

    c_j = E[sigma(g) He_j(g)] / sqrt(j!), j = 0..degree, so that E sigma(g) sigma(g') = sum_j c_j^2 rho^j
    for standard Gaussians of correlation rho (sum_j c_j^2 = 1 by the normalisation). For odd3,
    c_j = 2 phi(0) He_{j-1}(0) / (sqrt(1 - 2/pi) sqrt(j!)) for odd j >= 3 (He_{2i}(0) = (-1)^i (2i-1)!!), else 0.

    Parameters
    ----------
    name : {'odd3', 'hermite3', 'hermite2'}
        The activation (:data:`ACTIVATIONS`).
    degree : int, default 25
        Highest degree, 0 <= degree <= 60.

    Returns
    -------
    numpy.ndarray
        Shape (degree + 1,): c_0, ..., c_degree.
    """
    check_choice("name", name, ACTIVATIONS)
    degree = check_int("degree", degree, 0, 60)
    c = np.zeros(degree + 1)
    if name == "hermite3":
        c[3] = 1.0 if degree >= 3 else 0.0
        return c
    if name == "hermite2":
        c[2] = 1.0 if degree >= 2 else 0.0
        return c
    # sign: E[sign(g) He_j(g)] = 2 phi(0) He_{j-1}(0) for odd j; He_{2i}(0) = (-1)^i (2i-1)!!
    s = 1.0 / np.sqrt(1 - 2 / np.pi)
    for j in range(3, degree + 1, 2):
        i = (j - 1) // 2
        dfact = float(np.prod(np.arange(2 * i - 1, 0, -2))) if i > 0 else 1.0
        c[j] = s * 2 / np.sqrt(2 * np.pi) * (-1) ** i * dfact / math.sqrt(math.factorial(j))
    return c


def kernel(name: str, rho) -> np.ndarray:
    """kappa(rho) = E sigma(g) sigma(g') = sum_j c_j^2 rho^j for unit-variance g, g' of correlation rho.

    For odd3 the closed form is (2/pi arcsin(rho) - 2/pi rho)/(1 - 2/pi) (the sign kernel minus its linear part);
    rho^3 for hermite3 and rho^2 for hermite2.

    Parameters
    ----------
    name : {'odd3', 'hermite3', 'hermite2'}
        The activation (:data:`ACTIVATIONS`).
    rho : array_like
        Correlation(s), in [-1, 1] (any shape).

    Returns
    -------
    numpy.ndarray
        kappa(rho), float64, with the shape of ``rho``.
    """
    check_choice("name", name, ACTIVATIONS)
    rho = check_array("rho", rho, allow_empty=True)
    if np.any(np.abs(rho) > 1):
        raise ValueError("rho must lie in [-1, 1]")
    if name == "odd3":
        return (2 / np.pi) * (np.arcsin(rho) - rho) / (1 - 2 / np.pi)
    return rho ** (3 if name == "hermite3" else 2)


def feature_kurtosis(name: str) -> float:
    """Var(sigma(g)^2) for g ~ N(0, 1) (E sigma^2 = 1): the variance of K(z, z) is this over m.

    Var(sigma^2) = E sigma(g)^4 - (E sigma(g)^2)^2, by quadrature on a fine grid of [-14, 14] (cached).

    Parameters
    ----------
    name : {'odd3', 'hermite3', 'hermite2'}
        The activation (:data:`ACTIVATIONS`).

    Returns
    -------
    float
        Var(sigma(g)^2) (about 0.86 for 'odd3', 92 for 'hermite3').
    """
    check_choice("name", name, ACTIVATIONS)
    return _feature_kurtosis(name)


@cache
def _feature_kurtosis(name: str) -> float:
    t, w = _grid()
    s2 = activation_values(name, t) ** 2
    return float(np.sum(w * s2**2) - np.sum(w * s2) ** 2)


def kernel_second_moment(name: str, d: int) -> float:
    """kappa_2 = E kappa(rho)^2 for rho = x^T x' of two independent uniform unit vectors in R^d.

    kappa_2 = int_{-1}^{1} kappa(rho)^2 (1 - rho^2)^((d-3)/2) drho / int_{-1}^{1} (1 - rho^2)^((d-3)/2) drho,

    by quadrature (cached).

    Parameters
    ----------
    name : {'odd3', 'hermite3', 'hermite2'}
        The activation (:data:`ACTIVATIONS`).
    d : int
        Dimension, d >= 2.

    Returns
    -------
    float
        kappa_2.
    """
    d = check_int("d", d, 2)
    check_choice("name", name, ACTIVATIONS)
    return _kernel_second_moment(name, d)


@cache
def _kernel_second_moment(name: str, d: int) -> float:
    # rho has density prop. to (1 - rho^2)^((d - 3)/2) on [-1, 1]
    r = np.linspace(-1, 1, 20001)[1:-1]
    dens = np.exp((d - 3) / 2 * np.log1p(-(r**2)))
    dens /= dens.sum()
    return float(np.sum(dens * kernel(name, r) ** 2))


# ----------------------------------------------------------------------------- Gaussian max
def _recall_given(mu_c, v_c, groups) -> np.ndarray:
    """P(mu_c + sqrt(v_c) T > every wrong score) with wrong scores in groups (mu_g, v_g, n_g) of independent
    Gaussians; all arrays broadcast over the conditioning nodes (leading axes)."""
    mu_c, v_c = np.asarray(mu_c, float), np.asarray(v_c, float)
    s = mu_c[..., None] + np.sqrt(np.maximum(v_c, 0.0))[..., None] * _T  # (..., T)
    logp = np.zeros_like(s)
    for mu_g, v_g, n_g in groups:
        if np.all(np.asarray(n_g) == 0):
            continue
        sd = np.sqrt(np.maximum(np.asarray(v_g, float), 1e-300))[..., None]
        logp = logp + np.asarray(n_g, float)[..., None] * log_ndtr((s - np.asarray(mu_g, float)[..., None]) / sd)
    return np.exp(logp) @ _W_T


def _gamma_nodes(mean: float, var: float, k: int = NODES):
    """k equal-weight quantile nodes of a Gamma law with the given mean and variance."""
    shape = mean**2 / var
    return gamma.ppf((np.arange(k) + 0.5) / k, shape, scale=var / mean)


def _chi2_nodes(d: int, k: int = NODES):
    """k equal-weight quantile nodes of chi2_d / d (the squared norm of an N(0, I/d) vector)."""
    return chi2.ppf((np.arange(k) + 0.5) / k, d) / d


# ----------------------------------------------------------------------------- predicted accuracy
def lowrank_accuracy(N: int, m: int, d: int) -> float:
    """CP1: predicted accuracy of the one-step low-rank memory (injective f*, M = N).

    Given a = ||e_z||^2 (chi2_d/d) and c = ||v_z||^2 (Gamma, mean 1, variance 2 r), r = 1/m + 1/d:
        correct ~ N(a c, a c r (N - 1)/d),
        wrong   ~ N(0, a^2 c r + (1 + 2 r) a/d + a r (N - 2)/d)   (N - 1 outputs),
    and P(recall) = E_{a,c} E_t[Phi((mu_c + sqrt(v_c) t) / sqrt(v_w))^(N - 1)], t ~ N(0, 1)
    (8 quantile nodes for each of a and c).

    Parameters
    ----------
    N : int
        Number of associations, N >= 2.
    m : int
        Rank (inner dimension of W1, W2), m >= 1.
    d : int
        Embedding dimension, d >= 2.

    Returns
    -------
    float
        The predicted accuracy, in [0, 1].
    """
    N, m, d = check_int("N", N, 2), check_int("m", m, 1), check_int("d", d, 2)
    r = 1 / m + 1 / d
    a = _chi2_nodes(d)[:, None]
    c = _gamma_nodes(1.0, 2 * r)[None, :]
    mu_c = a * c
    v_c = a * c * r * (N - 1) / d
    v_w = a**2 * c * r + (1 + 2 * r) * a / d + a * r * (N - 2) / d
    return float(_recall_given(mu_c, v_c, [(0.0 * a, v_w, N - 1)]).mean())


def mlp_accuracy(N: int, m: int, d: int, activation: str = "odd3", pairs: int = 0) -> float:
    """CP2 (pairs = 0) / CP3 (pairs = n, N = n^2): predicted accuracy of the one-step kernel MLP memory.

    Given K = K(z, z) (Gamma, mean 1, variance Var(sigma^2)/m) and c = ||u_{f*(z)}||^2 (chi2_d/d), with
    s = K/m + kappa_2 the second moment of an off-diagonal K(z', z):
        correct ~ N(K c, c s (N - 1)/d),
        wrong   ~ N(mu_g, K^2 c/d + s (N - 2)/d + (1 + 2/d) s)  (the last term: the key of y itself).
    CP3: the 2(n - 1) outputs of pairs sharing z1 or z2 get mu_g = kappa(1/2) (and the others 0);
    their kernel values add 2(n - 1) kappa(1/2)^2 / d to every wrong variance.
    P(recall) = E_{K,c} E_t[prod_g Phi((mu_c + sqrt(v_c) t - mu_g) / sqrt(v_g))^{n_g}], t ~ N(0, 1).

    Parameters
    ----------
    N : int
        Number of associations, N >= 2 (N = pairs^2 when pairs > 0).
    m : int
        MLP width, m >= 1.
    d : int
        Embedding dimension, d >= 2.
    activation : {'odd3', 'hermite3', 'hermite2'}, default 'odd3'
        The activation sigma (:data:`ACTIVATIONS`).
    pairs : int, default 0
        0: single inputs (CP2); n >= 1 with n^2 = N: pairs (z1, z2) in [n]^2 (CP3).

    Returns
    -------
    float
        The predicted accuracy, in [0, 1].
    """
    N, m, d = check_int("N", N, 2), check_int("m", m, 1), check_int("d", d, 2)
    check_choice("activation", activation, ACTIVATIONS)
    pairs = check_int("pairs", pairs, 0)
    if pairs and pairs * pairs != N:
        raise ValueError(f"pairs must be 0 or sqrt(N) (N = pairs^2), got pairs={pairs}, N={N}")
    K = _gamma_nodes(1.0, feature_kurtosis(activation) / m)[:, None]
    c = _chi2_nodes(d)[None, :]
    s = K / m + kernel_second_moment(activation, d)
    mu_c = K * c
    v_c = c * s * (N - 1) / d
    v_w = K**2 * c / d + s * (N - 2) / d + (1 + 2 / d) * s
    zero = 0.0 * mu_c
    if not pairs:
        return float(_recall_given(mu_c, v_c, [(zero, v_w, N - 1)]).mean())
    kh = float(kernel(activation, 0.5))
    nb = 2 * (pairs - 1)
    extra = nb * kh**2 / d
    groups = [(zero + kh, v_w + extra, nb), (zero, v_w + extra, N - 1 - nb)]
    return float(_recall_given(mu_c, v_c + extra, groups).mean())


def _rho_law(d: int, scale: float, sphere: bool, k: int = 1201):
    """Quadrature nodes and weights of rho = x^T x': exact for unit vectors in R^d (density prop. to
    (1 - rho^2)^((d - 3)/2) on [-1, 1]), else N(0, scale/d)."""
    if sphere:
        r = np.linspace(-1.0, 1.0, k + 2)[1:-1]
        w = np.exp((d - 3) / 2 * np.log1p(-(r**2)))
    else:
        sd = np.sqrt(scale / d)
        r = np.linspace(-12 * sd, 12 * sd, k)
        w = np.exp(-0.5 * (r / sd) ** 2)
    return r, w / w.sum()


def _rho_tail(x, d: int, sphere: bool, scale: float = 1.0):
    """P(rho >= x): rho = u^T w / ||w|| for u uniform on the unit sphere of R^d (sphere), else N(0, scale/d)."""
    x = np.asarray(x, float)
    if not sphere:
        return ndtr(-x * np.sqrt(d / scale))
    xc = np.clip(np.abs(x), 0.0, 1.0)
    half = 0.5 * betainc((d - 1) / 2, 0.5, 1.0 - xc**2)  # P(rho >= |x|)
    return np.where(x >= 0, half, 1.0 - half)


def relu_accuracy(N: int, d: int, eta: float = 0.5, embeddings: str = "sphere") -> float:
    """CP4: predicted accuracy of the thresholded memory g(x)_y = sum_x' u_y^T u_{f*(x')} ReLU(e_x'^T e_x - eta).

    With a = ||e_x||^2, c = ||u_{f*(x)}||^2, r = (a - eta)_+ and v = sum_{x' != x} (e_x'^T e_x - eta)_+ u_{x'}
    (the keys that pass the threshold), the scores are
        correct = r c + u_x^T v,   with u_x^T v ~ N(0, c (N - 1) m2/d),
        wrong_y = u_y^T w + (e_y^T e_x - eta)_+ ||u_y||^2,   w = r u_x + v,
        ||w||^2 = r^2 c + 2 r u_x^T v + ||v||^2 ~ r^2 c + 2 r (correct - r c) + (N - 1) m2,
    m2 = E (rho - eta)_+^2, rho = e_x'^T e_x.  u_y^T w / ||w|| has the exact law of one coordinate of a
    uniform unit vector (sphere; its tail beyond ~3 sd is far lighter than a Gaussian's) or N(0, 1/d)
    (gaussian), independently over y, so
        P(wrong_y >= t) = E_rho P(u^T w >= t - (rho - eta)_+),   P(recall) = E_t (1 - P(wrong >= t))^(N - 1).
    embeddings = 'sphere': unit-norm e and u, a = c = 1; 'gaussian': N(0, I/d) rows, a and c on chi2_d/d
    quantile nodes (then P(chi2_d < eta d) of the tokens have no signal at all).

    Parameters
    ----------
    N : int
        Number of associations, N >= 2.
    d : int
        Embedding dimension, d >= 3.
    eta : float, default 0.5
        ReLU threshold, 0 < eta < 1.
    embeddings : {'sphere', 'gaussian'}, default 'sphere'
        Unit-norm embeddings or N(0, I/d) rows.

    Returns
    -------
    float
        The predicted accuracy, in [0, 1].
    """
    N, d = check_int("N", N, 2), check_int("d", d, 3)
    eta = check_float("eta", eta, 0.0, 1.0, lo_open=True, hi_open=True)
    check_choice("embeddings", embeddings, ("sphere", "gaussian"))
    sphere = embeddings == "sphere"
    nodes = [(1.0, 1.0)] if sphere else [(a, c) for a in _chi2_nodes(d) for c in _chi2_nodes(d)]
    out = []
    for a, c in nodes:
        r = max(a - eta, 0.0)
        re, we = _rho_law(d, a, sphere)  # rho = e_x'^T e_x given ||e_x||^2 = a
        ex = np.maximum(re - eta, 0.0)
        m2 = float(we @ ex**2)
        delta = np.sqrt(c * (N - 1) * m2 / d) * _T  # u_x^T v on its nodes
        t = r * c + delta  # correct score (T,)
        # ||w||^2 = r^2 c + 2 r u_x^T v + ||v||^2: a low correct score comes with a shorter w
        wn = np.sqrt(np.maximum(r**2 * c + 2 * r * delta + (N - 1) * m2, 1e-30))[:, None]
        below = ex <= 0  # the key of y does not pass: one evaluation per t
        sel = (~below) & (we > 1e-15)
        fail = _rho_tail(t[:, None] / wn, d, sphere)[:, 0] * we[below].sum()
        fail = fail + _rho_tail((t[:, None] - ex[sel][None, :]) / wn, d, sphere) @ we[sel]  # P(wrong_y >= t), (T,)
        logp = (N - 1) * np.log1p(-np.clip(fail, 0.0, 1.0 - 1e-16))
        out.append(float(np.exp(logp) @ _W_T))
    return float(np.mean(out))


# ----------------------------------------------------------------------------- thresholds and laws
def predicted_accuracy(
    N: int,
    construction: str,
    m: int | None = None,
    d: int = 16,
    *,
    activation: str = "odd3",
    eta: float = 0.5,
    embeddings: str = "sphere",
) -> float:
    """Predicted accuracy of the named construction (a dispatcher).

    'lowrank': :func:`lowrank_accuracy` (N, m, d);  'mlp': :func:`mlp_accuracy` (N, m, d, activation);
    'multi': :func:`mlp_accuracy` (N, m, d, activation, pairs=sqrt(N));  'relu': :func:`relu_accuracy`
    (N, d, eta, embeddings).

    Parameters
    ----------
    N : int
        Number of associations, N >= 2 (a perfect square for 'multi').
    construction : {'lowrank', 'mlp', 'multi', 'relu'}
        The construction (:data:`CONSTRUCTIONS`).
    m : int, optional
        Rank or width, m >= 1; required except for 'relu' (where it is ignored).
    d : int, default 16
        Embedding dimension, d >= 2 (d >= 3 for 'relu').
    activation : {'odd3', 'hermite3', 'hermite2'}, default 'odd3'
        The MLP activation ('mlp', 'multi'); ignored otherwise.
    eta : float, default 0.5
        ReLU threshold, 0 < eta < 1 ('relu'); ignored otherwise.
    embeddings : {'sphere', 'gaussian'}, default 'sphere'
        Embeddings of 'relu'; ignored otherwise.

    Returns
    -------
    float
        The predicted accuracy, in [0, 1].
    """
    check_choice("construction", construction, CONSTRUCTIONS)
    if construction == "relu":
        return relu_accuracy(N, d, eta, embeddings)
    if m is None:
        raise ValueError(f"m must be a positive integer for construction={construction!r}")
    if construction == "lowrank":
        return lowrank_accuracy(N, m, d)
    if construction == "mlp":
        return mlp_accuracy(N, m, d, activation)
    n = int(round(math.sqrt(N)))
    if n * n != N:
        raise ValueError(f"N must be a perfect square for construction='multi', got N={N}")
    return mlp_accuracy(N, m, d, activation, pairs=n)


def capacity(
    construction: str,
    m: int | None = None,
    d: int = 16,
    accuracy: float = 0.9,
    *,
    activation: str = "odd3",
    eta: float = 0.5,
    embeddings: str = "sphere",
    n_max: float = 1e9,
) -> float:
    """N*: the number of associations at which the predicted accuracy falls to ``accuracy``.

    N* solves A(N*) = accuracy, A = :func:`predicted_accuracy`, by bisection in log N (for 'multi' over
    N = n^2), log-linearly interpolated between the last two points; 2 (4 for 'multi') if A(2) <= accuracy.

    Parameters
    ----------
    construction : {'lowrank', 'mlp', 'multi', 'relu'}
        The construction (:data:`CONSTRUCTIONS`).
    m : int, optional
        Rank or width, m >= 1; required except for 'relu'.
    d : int, default 16
        Embedding dimension, d >= 2 (d >= 3 for 'relu').
    accuracy : float, default 0.9
        Target accuracy, 0 < accuracy < 1.
    activation : {'odd3', 'hermite3', 'hermite2'}, default 'odd3'
        The MLP activation ('mlp', 'multi').
    eta : float, default 0.5
        ReLU threshold, 0 < eta < 1 ('relu').
    embeddings : {'sphere', 'gaussian'}, default 'sphere'
        Embeddings of 'relu'.
    n_max : float, default 1e9
        Largest N searched (> 4 to be useful); ValueError when the accuracy is still above ``accuracy``
        beyond it.

    Returns
    -------
    float
        N*.
    """
    check_choice("construction", construction, CONSTRUCTIONS)
    accuracy = check_float("accuracy", accuracy, 0.0, 1.0, lo_open=True, hi_open=True)
    sq = construction == "multi"

    def acc(x: int) -> float:
        N = x * x if sq else x
        return predicted_accuracy(N, construction, m, d, activation=activation, eta=eta, embeddings=embeddings)

    lo, hi = 2, 4
    if acc(lo) <= accuracy:
        return float(lo * lo if sq else lo)
    while acc(hi) > accuracy:
        lo, hi = hi, hi * 2
        if (hi * hi if sq else hi) > n_max:
            raise ValueError(f"no threshold below N={n_max:g} for {construction}, m={m}, d={d}")
    while hi - lo > 1 and hi / lo > 1.002:
        mid = min(max(int(round(math.sqrt(lo * hi))), lo + 1), hi - 1)
        if acc(mid) > accuracy:
            lo = mid
        else:
            hi = mid
    a_lo, a_hi = acc(lo), acc(hi)
    t = (a_lo - accuracy) / max(a_lo - a_hi, 1e-300)
    x = math.exp(math.log(lo) + t * (math.log(hi) - math.log(lo)))
    return float(x * x if sq else x)


def capacity_law(m, d, construction: str = "mlp") -> np.ndarray:
    """Leading-order capacity law of the constructions CP1-CP3.

    N* log N* = P / 2 with P = m d (mlp, multi) or m d / (1 + m/d) (lowrank, which
    is ~ m d for m << d and ~ d^2 for m >> d).  Returns N* (fixed point of N = P / (2 log N), N >= 2).

    Parameters
    ----------
    m : array_like
        Rank or width(s), m >= 1.
    d : array_like
        Embedding dimension(s), d >= 1, broadcasting against ``m``.
    construction : {'lowrank', 'mlp', 'multi'}, default 'mlp'
        The construction.

    Returns
    -------
    numpy.ndarray
        N*, with the broadcast shape of ``m`` and ``d``.
    """
    check_choice("construction", construction, ("lowrank", "mlp", "multi"))
    m = check_array("m", m)
    d = check_array("d", d)
    check_broadcast("m and d", m, d)
    if np.any(m < 1):
        raise ValueError("m must be >= 1")
    if np.any(d < 1):
        raise ValueError("d must be >= 1")
    P = m * d / (1 + m / d) if construction == "lowrank" else m * d
    target = P / 2.0
    n = np.maximum(target / np.log(np.maximum(target, 3.0)), 2.0)
    for _ in range(80):
        n = np.maximum(target / np.log(np.maximum(n, 2.0)), 2.0)
    return n


def capacity_exponents(construction: str = "mlp", N: float = 500.0) -> tuple[float, float]:
    """Local exponents (d log N*/d log m, d log N*/d log d) of the leading-order law at capacity N* = N.

    For m << d both are 1/(1 + 1/log N) (the log factor of N* log N* ~ m d).

    Parameters
    ----------
    construction : {'lowrank', 'mlp', 'multi'}, default 'mlp'
        The construction (validated; the exponents are the same for all three when m << d).
    N : float, default 500.0
        The capacity N* at which the exponents are taken, N > 2.

    Returns
    -------
    tuple of (float, float)
        (d log N*/d log m, d log N*/d log d), both 1/(1 + 1/log N).
    """
    check_choice("construction", construction, ("lowrank", "mlp", "multi"))
    N = check_float("N", N, 2.0, lo_open=True)
    e = 1.0 / (1.0 + 1.0 / math.log(N))
    return e, e


def relu_capacity_law(d, eta: float = 0.5, accuracy: float = 0.9) -> np.ndarray:
    """Leading order of the capacity of the thresholded memory (CP4).

    Ignoring the passing cross keys and the norm fluctuations:
    1 - accuracy = N Q(sqrt d)  =>  N* = (1 - accuracy) / Q(sqrt d) ~ exp(d/2) poly(d),   Q(x) = 1 - Phi(x).

    Parameters
    ----------
    d : array_like
        Embedding dimension(s), 1 <= d <= 1400 (N* stays in the float range).
    eta : float, default 0.5
        ReLU threshold, 0 < eta < 1 (validated; the leading order does not depend on it).
    accuracy : float, default 0.9
        Target accuracy, 0 < accuracy < 1.

    Returns
    -------
    numpy.ndarray
        N*, with the shape of ``d``.
    """
    check_float("eta", eta, 0.0, 1.0, lo_open=True, hi_open=True)
    accuracy = check_float("accuracy", accuracy, 0.0, 1.0, lo_open=True, hi_open=True)
    d = check_array("d", d)
    if np.any(d < 1) or np.any(d > 1400):
        raise ValueError("d must lie in [1, 1400] (beyond, N* exceeds the float range)")
    return (1 - accuracy) / ndtr(-np.sqrt(d))
