"""LFDA: against a dense reference of Sugiyama's definition, robustness on constant features."""

import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")
scipy_linalg = pytest.importorskip("scipy.linalg")

from fastmetric.learn import LFDA  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402


def _reference_scatters(X, y, k):
    """S_w and S_b straight from the definition with n x n weight matrices."""
    n = X.shape[0]
    D = ((X[:, None] - X[None]) ** 2).sum(-1)
    Wlw = np.zeros((n, n))
    Wlb = np.full((n, n), 1.0 / n)
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        nc = idx.size
        Dc = D[np.ix_(idx, idx)]
        sigma = np.sqrt(np.sort(Dc, axis=1)[:, min(k, nc - 1)])
        A = np.exp(-Dc / np.outer(sigma, sigma))
        Wlw[np.ix_(idx, idx)] = A / nc
        Wlb[np.ix_(idx, idx)] = A * (1.0 / n - 1.0 / nc)

    def scatter(W):
        Lap = np.diag(W.sum(1)) - W
        return X.T @ Lap @ X  # = 1/2 sum_ij W_ij (x_i - x_j)(x_i - x_j)^T

    return scatter(Wlw), scatter(Wlb)


def _blobs(seed=0, n=90, d=5):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    X = rng.standard_normal((n, d)) + 2.0 * np.eye(3, d)[y]
    return X, y


def test_scatters_match_definition():
    X, y = _blobs()
    Sw, Sb = LFDA._scatters(X, y, 4)
    Sw0, Sb0 = _reference_scatters(X, y, 4)
    np.testing.assert_allclose(Sw, Sw0, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(Sb, Sb0, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("embedding_type", ["weighted", "orthonormalized", "plain"])
def test_components_solve_the_generalised_problem(embedding_type):
    X, y = _blobs(1)
    m = LFDA(n_components=3, k=4, embedding_type=embedding_type).fit(X, y)
    Sw, Sb = _reference_scatters(X, y, 4)
    vals = scipy_linalg.eigh(Sb, Sw, eigvals_only=True)[::-1][:3]
    np.testing.assert_allclose(m.eigenvalues_, vals, rtol=1e-8)
    L = m.components_
    if embedding_type == "plain":
        # eigenvectors, S_w-normalised
        for i in range(3):
            v = L[i]
            np.testing.assert_allclose(Sb @ v, vals[i] * (Sw @ v), rtol=1e-7, atol=1e-9 * np.abs(Sb @ v).max())
        np.testing.assert_allclose(L @ Sw @ L.T, np.eye(3), atol=1e-8)
    elif embedding_type == "weighted":
        np.testing.assert_allclose(L @ Sw @ L.T, np.diag(vals), rtol=1e-7, atol=1e-8)
    else:
        np.testing.assert_allclose(L @ L.T, np.eye(3), atol=1e-10)


def test_constant_and_duplicate_features_no_nan():
    X, y = _blobs(2, n=120, d=6)
    X[:, 2] = 3.0  # a constant pixel (metric-learn 0.7: complex eigenvectors / NaN)
    X[:, 4] = X[:, 0]  # collinear
    X[5] = X[6]
    y[5] = y[6]  # coincident same-class points
    m = LFDA().fit(X, y)
    assert np.isfinite(m.components_).all()
    assert np.isrealobj(m.components_)
    assert np.allclose(m.components_[:, 2], 0.0)  # no weight on a direction the data do not vary in
    assert np.isfinite(m.transform(X)).all()


def test_digits_like_and_float32():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X, y = X[:400], y[:400]
    m = LFDA(n_components=20).fit(X.astype(np.float32), y)
    assert m.components_.dtype == np.float32
    assert np.isfinite(m.components_).all()
    m64 = LFDA(n_components=20).fit(X, y)
    assert np.isfinite(m64.components_).all()


def test_bad_input():
    X, y = _blobs()
    with pytest.raises(ValueError, match="embedding_type"):
        LFDA(embedding_type="bogus").fit(X, y)
    with pytest.raises(ValueError, match="k must"):
        LFDA(k=0).fit(X, y)
    with pytest.raises(ValueError, match="at least 2 classes"):
        LFDA().fit(X, np.zeros(len(X)))
    with pytest.raises(TypeError, match="preprocessor must be None, an array"):
        LFDA(preprocessor=3).fit(X, y)
    with pytest.raises(ValueError, match="larger than n_features"):
        LFDA(n_components=9).fit(X, y)


@parametrize_with_checks([LFDA(), LFDA(n_components=2, embedding_type="orthonormalized")])
def test_sklearn_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check(estimator)
