"""Covariance: M = Cov(X)^+ , singular covariance handled by the pseudo-inverse."""

import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")

from fastmetric.learn import Covariance  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402


def test_inverse_covariance(rng):
    X = rng.standard_normal((50, 4)) @ rng.standard_normal((4, 4))
    m = Covariance().fit(X)
    np.testing.assert_allclose(m.get_mahalanobis_matrix(), np.linalg.inv(np.cov(X, rowvar=False)), rtol=1e-9)
    Z = m.transform(X)
    np.testing.assert_allclose(np.cov(Z, rowvar=False), np.eye(4), atol=1e-9)  # whitening


def test_singular_covariance_uses_pseudo_inverse(rng):
    X = rng.standard_normal((30, 3))
    X = np.c_[X, X[:, 0] + X[:, 1], np.full(30, 5.0)]  # collinear and constant columns
    m = Covariance().fit(X)
    assert np.isfinite(m.components_).all()
    np.testing.assert_allclose(m.get_mahalanobis_matrix(), np.linalg.pinv(np.cov(X, rowvar=False)), atol=1e-9)
    Xt = X.copy()
    Xt[:, 4] = 99.0  # the constant direction does not count
    np.testing.assert_allclose(m.transform(Xt), m.transform(X), atol=1e-9)


def test_one_feature_dtype_and_y_ignored(rng):
    X = rng.standard_normal((20, 1)) * 3
    m = Covariance().fit(X, np.arange(20))
    assert m.components_[0, 0] == pytest.approx(1 / np.std(X, ddof=1))
    m32 = Covariance().fit(X.astype(np.float32))
    assert m32.components_.dtype == np.float32
    assert m32.transform(X.astype(np.float32)).dtype == np.float32
    with pytest.raises(ValueError, match="NaN"):
        Covariance().fit(np.array([[1.0, np.nan], [2.0, 3.0]]))
    # identifiers of points through a preprocessor (issue 17; tests/test_learn_preprocessor.py)
    np.testing.assert_array_equal(Covariance(preprocessor=X).fit(np.arange(len(X))).components_, m.components_)


@parametrize_with_checks([Covariance()])
def test_sklearn_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check(estimator)
