"""Hand-set or corrupted ``components_`` (issue 11, point 5): every use of the learned map --
transform, get_metric, get_mahalanobis_matrix, pair_distance / pair_score / score_pairs, the pair
classifiers' decision_function / predict -- raises a clear ValueError / TypeError naming the shape or
dtype, never an IndexError, a numpy shape error or silent NaN / complex values."""

import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")
pytest.importorskip("scipy")

from fastmetric.learn import ITML, NCA, Covariance  # noqa: E402

BAD = [
    (np.ones(3), ValueError, r"2-D array of shape \(n_components, n_features=3\); got 1-D shape \(3,\).*reshape"),
    (np.ones((2, 4)), ValueError, r"components_ has shape \(2, 4\).*fitted on 3 features"),
    (np.ones((0, 3)), ValueError, r"components_ has shape \(0, 3\)"),
    (np.ones((1, 1, 3)), ValueError, r"got 3-D shape \(1, 1, 3\)"),
    (np.full((3, 3), np.nan), ValueError, r"components_ \(shape \(3, 3\)\) contains NaN"),
    (np.diag([np.inf, 1.0, 1.0]), ValueError, r"contains NaN or infinity"),
    (np.eye(3) * (1 + 1j), TypeError, r"components_ is complex \(complex128\)"),
    (np.array([["a", "b", "c"]]), TypeError, r"non-numeric dtype <U1"),
    ([[1.0, 2.0]], ValueError, r"components_ has shape \(1, 2\)"),
]


def _data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 3))
    y = np.arange(30) % 2
    return X, y


def _uses(est, X):
    pairs = np.stack([X[:4], X[4:8]], axis=1)
    yield "transform", lambda: est.transform(X)
    yield "get_metric", lambda: est.get_metric()(X[0], X[1])
    yield "get_mahalanobis_matrix", est.get_mahalanobis_matrix
    yield "pair_distance", lambda: est.pair_distance(pairs)
    yield "pair_score", lambda: est.pair_score(pairs)
    yield "get_feature_names_out", est.get_feature_names_out

    def score_pairs():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            return est.score_pairs(pairs)

    yield "score_pairs", score_pairs
    if hasattr(est, "decision_function"):
        yield "decision_function", lambda: est.decision_function(pairs)
        yield "predict", lambda: est.predict(pairs)


def _fitted(kind):
    X, y = _data()
    if kind == "NCA":
        return NCA(max_iter=3).fit(X, y), X
    if kind == "Covariance":
        return Covariance().fit(X), X
    pairs = np.stack([X[:10], X[10:20]], axis=1)
    return ITML(max_iter=5).fit(pairs, np.where(np.arange(10) % 2, 1, -1)), X


@pytest.mark.parametrize("kind", ["NCA", "Covariance", "ITML"])
@pytest.mark.parametrize(("L", "exc", "match"), BAD, ids=[f"bad{i}" for i in range(len(BAD))])
def test_bad_hand_set_components_are_clear_errors(kind, L, exc, match):
    est, X = _fitted(kind)
    est.components_ = L
    for name, use in _uses(est, X):
        with pytest.raises(exc, match=match):
            use()
            pytest.fail(f"{name} accepted components_ of shape {np.shape(L)}")


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64])
def test_good_hand_set_components_work(dtype):
    X, y = _data()
    L = np.array([[1, 2, 0], [0, 1, -1]], dtype=dtype)
    est = NCA(max_iter=3).fit(X, y)
    est.components_ = L
    Lf = L.astype(np.float64)
    np.testing.assert_allclose(est.transform(X), X @ Lf.T, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(est.get_mahalanobis_matrix(), Lf.T @ Lf, rtol=1e-6)
    assert est.get_mahalanobis_matrix().dtype == (np.float32 if dtype == np.float32 else np.float64)
    np.testing.assert_allclose(est.get_metric()(X[0], X[1]), np.linalg.norm(Lf @ (X[0] - X[1])), rtol=1e-12)
    pairs = np.stack([X[:4], X[4:8]], axis=1)
    np.testing.assert_allclose(est.pair_distance(pairs), np.linalg.norm((X[:4] - X[4:8]) @ Lf.T, axis=1), rtol=1e-12)
    assert len(est.get_feature_names_out()) == 2


def test_components_on_an_unfitted_estimator():
    """components_ set on a fresh estimator (no n_features_in_): X must match its columns."""
    X, _ = _data()
    est = NCA()
    est.components_ = np.eye(3)[:2]
    np.testing.assert_array_equal(est.transform(X), X[:, :2])
    with pytest.raises(ValueError, match=r"X has 4 features \(shape \(30, 4\)\); components_ has shape \(2, 3\)"):
        est.transform(np.ones((30, 4)))
    est.components_ = np.ones(3)
    with pytest.raises(ValueError, match=r"\(n_components, n_features\); got 1-D shape"):
        est.get_metric()
