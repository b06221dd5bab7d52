"""SDML: the pair-weighted covariance against a loop of metric-learn 0.7's formula, the graphical
lasso's optimality conditions, a finite positive definite metric on the four bundled data sets,
the pair classifier API, scikit-learn machinery, bad input."""

import pickle
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")
pytest.importorskip("scipy")

from fastmetric.learn import SDML, SDML_Supervised  # noqa: E402
from fastmetric.learn.sdml import sdml_covariance, shift_target  # noqa: E402
from sklearn import datasets  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.neighbors import KNeighborsClassifier  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402


@pytest.mark.parametrize("d", [1, 3, 7, 17])
def test_covariance_matches_reference(d, rng):
    n = 25
    diff = rng.standard_normal((n, d))
    y = np.where(rng.random(n) < 0.5, 1, -1)
    B = rng.standard_normal((d, d))
    P = B @ B.T + np.eye(d)
    ref = P.copy()
    for u, yi in zip(diff, y, strict=True):
        ref += 0.3 * yi * np.outer(u, u)
    np.testing.assert_allclose(sdml_covariance(P, diff, y, 0.3), ref, rtol=1e-12, atol=1e-12)


def _check_glasso_optimality(M, S, alpha, tol):
    """Subgradient conditions of min tr(S M) - log det M + alpha sum_{i != j} |M_ij|:
    (M^-1 - S)_ii = 0; (M^-1 - S)_ij = alpha sign(M_ij) where M_ij != 0, |.| <= alpha where 0."""
    R = np.linalg.inv(M) - S
    scale = np.abs(S).max()
    assert np.abs(np.diag(R)).max() <= tol * scale
    off = ~np.eye(M.shape[0], dtype=bool)
    nz = off & (np.abs(M) > 1e-12 * np.abs(M).max())
    assert np.abs(R[nz] - alpha * np.sign(M[nz])).max() <= tol * scale + 1e-3 * alpha
    assert np.abs(R[off & ~nz]).max(initial=0) <= alpha * (1 + 1e-3) + tol * scale


def _pairs(rng, n=60, d=4):
    X = rng.standard_normal((n, d))
    X[:, 0] *= 3.0
    idx = rng.integers(0, n, size=(80, 2))
    idx = idx[idx[:, 0] != idx[:, 1]]
    y = np.where(np.abs(X[idx[:, 0], 0] - X[idx[:, 1], 0]) < 2.0, 1, -1)
    return X, idx, y


def test_metric_solves_the_graphical_lasso(rng):
    X, idx, y = _pairs(rng)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = SDML(balance_param=0.05, sparsity_param=0.1, preprocessor=X).fit(idx, y)
    diff = X[idx[:, 0]] - X[idx[:, 1]]
    S = sdml_covariance(np.eye(4), diff, y, 0.05) + est.shift_ * np.eye(4)
    _check_glasso_optimality(est.metric_, S, 0.1, 2e-3)
    assert np.linalg.eigvalsh(est.metric_)[0] > 0
    np.testing.assert_allclose(est.get_mahalanobis_matrix(), est.metric_, rtol=1e-7, atol=1e-10)


def test_indefinite_covariance_is_shifted_with_a_warning(rng):
    X, idx, y = _pairs(rng)
    diff = X[idx[:, 0]] - X[idx[:, 1]]
    S = sdml_covariance(np.eye(4), diff, y, 0.5)
    lam_min, target = shift_target(S)
    assert lam_min < 0  # the dissimilar pairs dominate
    with pytest.warns(UserWarning, match="shifted by"):
        est = SDML(preprocessor=X).fit(idx, y)
    assert est.shift_ == pytest.approx(target - lam_min)
    assert np.linalg.eigvalsh(S + est.shift_ * np.eye(4))[0] == pytest.approx(target)
    _check_glasso_optimality(est.metric_, S + est.shift_ * np.eye(4), 0.01, 2e-3)
    # the feature that separates the classes of pairs gets the largest weight
    assert np.argmax(np.diag(est.metric_)) == 0


@pytest.mark.parametrize("name", ["iris", "wine", "breast_cancer", "digits"])
def test_finite_positive_definite_on_bundled_data(name):
    X, y = getattr(datasets, f"load_{name}")(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = SDML_Supervised(random_state=0).fit(X, y)
    assert np.isfinite(est.components_).all()
    w = np.linalg.eigvalsh(est.metric_)
    assert w[0] > 0 and np.isfinite(w).all()
    Z = est.transform(X)
    assert np.isfinite(Z).all()


def test_pair_api_preprocessor_float32(rng):
    X, idx, y = _pairs(rng)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = SDML(preprocessor=X).fit(idx, y)
        b = SDML().fit(X[idx], y)
        c = SDML().fit(X[idx].astype(np.float32), y)
    np.testing.assert_allclose(a.components_, b.components_)
    assert c.components_.dtype == np.float32
    assert a.score(idx, y) > 0.8  # ROC AUC of the learned distance on its training pairs
    assert set(np.unique(a.predict(idx))) <= {-1, 1}
    np.testing.assert_allclose(a.decision_function(idx), -b.pair_distance(X[idx]))


def test_clone_pickle_pipeline():
    X, y = datasets.load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    est = SDML_Supervised(random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipe = make_pipeline(clone(est), KNeighborsClassifier(n_neighbors=3)).fit(X, y)
        fitted = est.fit(X, y)
    assert pipe.score(X, y) > 0.9
    again = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(again.transform(X), fitted.transform(X))
    assert clone(fitted).get_params() == est.get_params()


def test_bad_input(rng):
    X, idx, y = _pairs(rng)
    with pytest.raises(ValueError, match="balance_param"):
        SDML(balance_param=-1.0, preprocessor=X).fit(idx, y)
    with pytest.raises(ValueError, match="sparsity_param"):
        SDML(sparsity_param=np.nan, preprocessor=X).fit(idx, y)
    with pytest.raises(ValueError, match="outside the preprocessor's 60 points"):
        SDML(preprocessor=X).fit(np.array([[0, 60], [1, 2]]), [1, -1])
    with pytest.raises(ValueError, match="pairs must have shape"):
        SDML().fit(X[idx][:, :, None], y)
    with pytest.raises(ValueError, match="no pairs"):
        SDML().fit(np.zeros((0, 2, 4)), [])
    with pytest.raises(ValueError, match="pair labels must be"):
        SDML(preprocessor=X).fit(idx, np.zeros(len(y)))
    with pytest.raises(ValueError, match="outside the preprocessor's 60 points"):
        SDML_Supervised(preprocessor=X).fit(np.arange(60) - 1, np.arange(60) % 2)
    with pytest.raises(ValueError, match="at least 2 classes"):
        SDML_Supervised().fit(X, np.zeros(60))


@parametrize_with_checks([SDML_Supervised()])
def test_sklearn_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check(estimator)
