"""Gradients of the cross-entropy as associative memories (GM1-GM4), in closed form (numpy).

Model: logits F_W(x)_k = u_k^T W x for inputs x (embeddings e_z, or noisy points), outputs u_k.
Loss L(W) = E_{(x,y)~p}[-log softmax(F_W(x))_y] for a joint distribution p over a finite set of
inputs and M outputs.

GM1 (lemma):  grad L(W) = sum_k E_z[(p_W(k|z) - p(k|z)) u_k e_z^T].
GM3 (noisy):  grad L(W) = sum_k p(y=k) u_k (mu_hat_k - mu_k)^T, mu_k = E[x | y=k],
              mu_hat_k = E_x[p_W(k|x) x] / p(y=k).
GM2 (one step from W = 0, z uniform on [N], y = f*(z), M outputs): p_W(k|z) = 1/M, so
              W_1 = (eta/N) sum_{z,k} (1{f*(z)=k} - 1/M) u_k e_z^T and
              u_k^T W_1 e_z ~ (eta/N)(1{f*(z)=k} - 1/M) for near-orthonormal embeddings
              (the slide writes 1/N, taking M = N outputs).
GM4 (one SGD step, batch of B samples): the same with p replaced by the empirical frequencies, so
              W_1 = eta sum_z (n_z/B) (u_{f*(z)} - mean_k u_k) e_z^T: q(z) = eta n_z / B -> eta p(z).
"""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp

from amemory.validate import check_alloc, check_array, check_float, check_int, check_map


def _check(W, X, U, P, xname="X"):
    X = check_array(xname, X, ndim=2)
    U = check_array("U", U, ndim=2)
    W = check_array("W", W, ndim=2)
    P = check_array("p_joint", P, ndim=2, nonneg=True)
    n, d = X.shape
    M = U.shape[0]
    if U.shape[1] != d or W.shape != (d, d):
        raise ValueError(f"shapes must be {xname} (n, d), U (M, d), W (d, d); got {X.shape}, {U.shape}, {W.shape}")
    if P.shape != (n, M):
        raise ValueError(
            f"p_joint must have shape (n, M) = ({n}, {M}) (n = rows of {xname}, M = rows of U), got {P.shape}"
        )
    if not np.isclose(P.sum(), 1.0, atol=1e-9):
        raise ValueError(f"p_joint must sum to 1, got {P.sum()}")
    return W, X, U, P


def model_probs(W, X, U) -> np.ndarray:
    """Model probabilities of the linear associative memory.

    p_W(k|x) = softmax_k(u_k^T W x) = exp(u_k^T W x - logsumexp_j u_j^T W x).

    Parameters
    ----------
    W : array_like, shape (d, d)
        The memory matrix.
    X : array_like, shape (n, d)
        The inputs x (rows), e.g. the embeddings e_z.
    U : array_like, shape (M, d)
        The output embeddings u_k (rows).

    Returns
    -------
    numpy.ndarray
        Shape (n, M): p_W(k|x) for input row x and output k; rows sum to one.
    """
    X = check_array("X", X, ndim=2)
    U = check_array("U", U, ndim=2)
    W = check_array("W", W, ndim=2)
    d = X.shape[1]
    if W.shape != (d, d) or U.shape[1] != d:
        raise ValueError(f"shapes must be X (n, d), U (M, d), W (d, d); got {X.shape}, {U.shape}, {W.shape}")
    logits = X @ W.T @ U.T
    return np.exp(logits - logsumexp(logits, axis=1, keepdims=True))


def cross_entropy(W, X, U, p_joint) -> float:
    """Population cross-entropy of the linear associative memory.

    L(W) = -sum_{x,k} p(x, k) log p_W(k|x),   p_W(k|x) = softmax_k(u_k^T W x).

    Parameters
    ----------
    W : array_like, shape (d, d)
        The memory matrix.
    X : array_like, shape (n, d)
        The inputs x (rows).
    U : array_like, shape (M, d)
        The output embeddings u_k (rows).
    p_joint : array_like, shape (n, M)
        The joint distribution p(x, k): non-negative, summing to one.

    Returns
    -------
    float
        L(W) in nats.
    """
    W, X, U, P = _check(W, X, U, p_joint)
    logits = X @ W.T @ U.T
    logp = logits - logsumexp(logits, axis=1, keepdims=True)
    return float(-(P * logp).sum())


def gradient_lemma(W, E, U, p_joint) -> np.ndarray:
    """Gradient of the cross-entropy as an associative memory (GM1, the lemma).

    grad L(W) = sum_k sum_z p(z) (p_W(k|z) - p(k|z)) u_k e_z^T = sum_{z,k} (p(z) p_W(k|z) - p(z, k)) u_k e_z^T.

    Inputs z with p(z) = 0 do not contribute.

    Parameters
    ----------
    W : array_like, shape (d, d)
        The memory matrix at which the gradient is taken.
    E : array_like, shape (N, d)
        The input embeddings e_z (rows).
    U : array_like, shape (M, d)
        The output embeddings u_k (rows).
    p_joint : array_like, shape (N, M)
        The joint distribution p(z, k): non-negative, summing to one.

    Returns
    -------
    numpy.ndarray
        Shape (d, d): grad L(W).
    """
    W, E, U, P = _check(W, E, U, p_joint, "E")
    pz = P.sum(1)
    D = pz[:, None] * model_probs(W, E, U) - P  # p(z)(p_W(k|z) - p(k|z)); rows with p(z) = 0 vanish
    return U.T @ D.T @ E


def gradient_noisy(W, X, U, p_joint) -> np.ndarray:
    """Gradient of the cross-entropy for noisy inputs, in class-mean form (GM3).

    grad L(W) = sum_k p(y=k) u_k (mu_hat_k - mu_k)^T,
    mu_k = E[x | y=k] = sum_x p(x, k) x / p(y=k),   mu_hat_k = E_x[p_W(k|x) x] / p(y=k).

    Classes with p(y=k) = 0 have no mu_k; their term is p(y=k) mu_hat_k = E_x[p_W(k|x) x].

    Parameters
    ----------
    W : array_like, shape (d, d)
        The memory matrix at which the gradient is taken.
    X : array_like, shape (n, d)
        The (noisy) inputs x (rows).
    U : array_like, shape (M, d)
        The output embeddings u_k (rows).
    p_joint : array_like, shape (n, M)
        The joint distribution p(x, k): non-negative, summing to one.

    Returns
    -------
    numpy.ndarray
        Shape (d, d): grad L(W) (equal to :func:`gradient_lemma` with E = X).
    """
    W, X, U, P = _check(W, X, U, p_joint)
    px = P.sum(1)
    py = P.sum(0)
    pw = model_probs(W, X, U)
    G = np.zeros((U.shape[1], X.shape[1]))
    for k in range(U.shape[0]):
        weighted_hat = (px * pw[:, k]) @ X  # p(y=k) mu_hat_k
        if py[k] > 0:
            mu_hat = weighted_hat / py[k]
            mu = (P[:, k] @ X) / py[k]
            G += py[k] * np.outer(U[k], mu_hat - mu)
        else:
            G += np.outer(U[k], weighted_hat)
    return G


def one_step_scores(f, M: int, eta: float, p=None) -> np.ndarray:
    """Predicted scores after one gradient step from W = 0 (GM2).

    u_k^T W_1 e_z = eta p(z) (1{f*(z) = k} - 1/M)   (near-orthonormal embeddings; p(z) = 1/N by default).

    Parameters
    ----------
    f : array_like of int, shape (N,)
        The target map f*: [N] -> [M], values in [0, M).
    M : int
        Number of outputs, M >= 1.
    eta : float
        Step size, eta > 0.
    p : array_like, shape (N,), optional
        Input weights p(z) >= 0 (finite); None: uniform, p(z) = 1/N.

    Returns
    -------
    numpy.ndarray
        Shape (N, M): the predicted score of input z on output k.
    """
    f = np.asarray(f)
    N = f.size
    M = check_int("M", M, 1)
    check_alloc("M", 8.0 * N * M)
    f = check_map("f", f, N, M)
    eta = check_float("eta", eta, 0.0, lo_open=True)
    pz = np.full(N, 1.0 / N) if p is None else check_array("p", p, ndim=1, nonneg=True)
    if pz.shape != (N,):
        raise ValueError(f"p must have shape ({N},)")
    onehot = np.eye(M)[f]
    return eta * pz[:, None] * (onehot - 1.0 / M)


def one_step_sgd_weights(counts, eta: float) -> np.ndarray:
    """Memory weights written by one SGD step on a batch (GM4).

    q(z) = eta n_z / B,   B = sum_z n_z   (its expectation over batches is eta p(z)).

    Parameters
    ----------
    counts : array_like, shape (N,)
        The counts n_z of each input in the batch: non-negative, finite, with a positive sum.
    eta : float
        Step size, eta > 0.

    Returns
    -------
    numpy.ndarray
        Shape (N,): q(z).
    """
    c = check_array("counts", counts, ndim=1, nonneg=True)
    eta = check_float("eta", eta, 0.0, lo_open=True)
    if c.sum() <= 0:
        raise ValueError("counts must contain at least one sample")
    return eta * c / c.sum()


def noisy_one_step_scores(N: int, eta: float) -> np.ndarray:
    """Scores after one gradient step from W = 0 on noisy inputs x = e_y + p_t (the GM3 example).

    u_k^T W_1 (e_y + p_t) = (eta/N) (1{y = k} - 1/N),   y ~ Unif[N], t ~ Unif[T].

    With orthonormal e's and p's (p's orthogonal to the e's) the step is exactly
    W_1 = (eta/N) sum_k u_k (e_k - e_bar)^T, whence the formula; the O(1/N^2) term is -eta/N^2.

    Parameters
    ----------
    N : int
        Number of tokens (= number of outputs), N >= 1.
    eta : float
        Step size, eta > 0.

    Returns
    -------
    numpy.ndarray
        Shape (N, N): entry [y, k] is the score of an input of class y on output k (independent of t).
    """
    N = check_int("N", N, 1)
    check_alloc("N", 8.0 * N * N)
    eta = check_float("eta", eta, 0.0, lo_open=True)
    return (eta / N) * (np.eye(N) - 1.0 / N)
