"""RCA: whitening by the within-chunklet covariance; chunklets from labels; robustness."""

import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")

from fastmetric.learn import RCA, RCA_Supervised  # noqa: E402
from sklearn.datasets import load_iris, load_wine  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402


def _chunklet_problem(seed=0, n_chunks=40, size=4, d=3):
    rng = np.random.default_rng(seed)
    centres = 3 * rng.standard_normal((n_chunks, d))
    noise = rng.standard_normal((n_chunks * size, d)) * np.array([2.0, 0.2, 1.0])[:d]
    X = np.repeat(centres, size, axis=0) + noise
    chunks = np.repeat(np.arange(n_chunks), size)
    return X, chunks


def test_full_rank_is_inverse_inner_covariance():
    X, ch = _chunklet_problem()
    m = RCA(regularization=0.0).fit(X, ch)
    Xc = X - np.stack([X[ch == c].mean(0) for c in ch])
    C = Xc.T @ Xc / len(X)
    np.testing.assert_allclose(m.get_mahalanobis_matrix(), np.linalg.inv(C), rtol=1e-9)
    # the default floor (1e-3 of the largest relative variance) is not reached here: the same metric
    m2 = RCA().fit(X, ch)
    np.testing.assert_allclose(m2.get_mahalanobis_matrix(), np.linalg.inv(C), rtol=1e-9)
    assert np.all(np.diff(m2.relative_variances_) >= 0)  # most relevant first


def test_unchunked_points_and_validation():
    X, ch = _chunklet_problem(1)
    ch2 = ch.copy()
    ch2[::5] = -1
    assert np.isfinite(RCA().fit(X, ch2).components_).all()
    with pytest.raises(ValueError, match="one chunklet id per sample"):
        RCA().fit(X, ch[:-1])
    with pytest.raises(ValueError, match="at least one chunklet of two"):
        RCA().fit(X, np.arange(len(X)))
    with pytest.raises(ValueError, match="at least one chunklet of two"):
        RCA().fit(X, -np.ones(len(X), int))
    with pytest.raises(ValueError, match="integers"):
        RCA().fit(X, ch + 0.5)
    with pytest.raises(ValueError, match="regularization"):
        RCA(regularization=-1).fit(X, ch)


def test_singular_inner_covariance_no_nan():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((40, 10))
    X[:, 3] = 1.0  # constant feature
    ch = -np.ones(40, int)
    ch[:12] = np.repeat(np.arange(4), 3)  # 4 chunklets of 3: inner covariance of rank 8 in 9 dimensions
    m = RCA().fit(X, ch)
    assert m.components_.shape == (9, 10)
    assert np.isfinite(m.components_).all()
    assert np.allclose(m.components_[:, 3], 0.0)
    with pytest.raises(ValueError, match="singular"):
        RCA(regularization=0.0).fit(X, ch)
    with pytest.warns(UserWarning, match="exceeds the rank"):
        m3 = RCA(n_components=10).fit(X, ch)
    assert m3.components_.shape[0] == 9


@pytest.mark.parametrize("loader", [load_iris, load_wine])
def test_supervised_default_chunks_work_where_metric_learn_fails(loader):
    X, y = loader(return_X_y=True)
    X = (X - X.mean(0)) / X.std(0)
    m = RCA_Supervised(random_state=0).fit(X[:100], y[:100])
    assert np.isfinite(m.components_).all()
    with pytest.warns(UserWarning, match="more than the labels allow"):
        RCA_Supervised(n_chunks=1000, random_state=0).fit(X, y)
    a = RCA_Supervised(n_chunks=20, chunk_size=3, random_state=1).fit(X, y).components_
    b = RCA_Supervised(n_chunks=20, chunk_size=3, random_state=1).fit(X, y).components_
    assert np.array_equal(a, b)


def test_supervised_digits_constant_pixels_and_float32():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    m = RCA_Supervised(random_state=0).fit(X[:500].astype(np.float32), y[:500])
    assert m.components_.dtype == np.float32
    assert np.isfinite(m.components_).all()
    with pytest.raises(ValueError, match="chunk_size"):
        RCA_Supervised(chunk_size=1).fit(X[:50], y[:50])


@parametrize_with_checks([RCA_Supervised(), RCA_Supervised(n_components=1, chunk_size=3)])
def test_sklearn_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check(estimator)


# ------------------------------------------------------------------ class_weight (issue 17, part 3)


def _one_chunk_per_class(seed=0, sizes=(8, 8, 24), d=3):
    """Classes of ``sizes`` points, each with its own scales. With ``chunk_size`` equal to a class's size
    that class forms exactly one chunklet, so the drawn chunklets are known."""
    rng = np.random.default_rng(seed)
    scales = rng.uniform(0.3, 2.0, size=(len(sizes), d))
    X = np.concatenate(
        [rng.standard_normal((n, d)) * s + 4 * c for c, (n, s) in enumerate(zip(sizes, scales, strict=True))]
    )
    y = np.repeat(np.arange(len(sizes)), sizes)
    return X, y


def test_class_weight_weights_the_inner_covariance():
    X, y = _one_chunk_per_class(sizes=(8, 8, 8))
    X[16:] = X[16:] * [1.0, 5.0, 0.5]  # class 2 varies differently from classes 0 and 1
    weights = {0: 1.0, 1: 0.5, 2: 3.0}
    est = RCA_Supervised(chunk_size=8, regularization=0.0, class_weight=weights, random_state=0).fit(X, y)
    w = np.array([weights[c] for c in y])
    Xc = X - np.stack([X[y == c].mean(0) for c in y])
    C = (Xc * w[:, None]).T @ Xc / w.sum()
    np.testing.assert_allclose(est.get_mahalanobis_matrix(), np.linalg.inv(C), rtol=1e-9)
    plain = RCA_Supervised(chunk_size=8, regularization=0.0, random_state=0).fit(X, y)
    assert not np.allclose(plain.get_mahalanobis_matrix(), est.get_mahalanobis_matrix(), rtol=1e-3)


def test_class_weight_equal_weights_and_balanced():
    X, y = load_iris(return_X_y=True)
    keep = np.r_[np.flatnonzero(y == 0)[:10], np.flatnonzero(y != 0)]
    X, y = X[keep], y[keep]
    plain = RCA_Supervised(random_state=0).fit(X, y).components_
    equal = RCA_Supervised(random_state=0, class_weight={0: 3.0, 1: 3.0, 2: 3.0}).fit(X, y).components_
    np.testing.assert_allclose(equal, plain, rtol=1e-10, atol=1e-12)
    counts = np.bincount(y)
    explicit = {c: y.size / (3 * n) for c, n in enumerate(counts)}
    bal = RCA_Supervised(random_state=0, class_weight="balanced").fit(X, y).components_
    np.testing.assert_allclose(RCA_Supervised(random_state=0, class_weight=explicit).fit(X, y).components_, bal)
    assert not np.allclose(bal, plain, rtol=1e-3)
    # a zero weight drops the class from the inner covariance
    X3, y3 = _one_chunk_per_class(sizes=(8, 8, 8))
    dropped = RCA_Supervised(chunk_size=8, regularization=0.0, class_weight={2: 0.0}, random_state=0).fit(X3, y3)
    kept = RCA(regularization=0.0).fit(X3[y3 < 2], y3[y3 < 2])
    np.testing.assert_allclose(dropped.get_mahalanobis_matrix(), kept.get_mahalanobis_matrix(), rtol=1e-9)


@pytest.mark.parametrize(
    ("cw", "exc", "match"),
    [
        ({7: 1.0}, ValueError, "not a class"),
        ({0: -2.0}, ValueError, ">= 0"),
        ({0: float("inf")}, ValueError, ">= 0"),
        ("Balanced", ValueError, "balanced"),
        ({0: 0.0, 1: 0.0}, ValueError, "weight 0 to every class that forms a chunklet"),
    ],
)
def test_class_weight_bad_input(cw, exc, match):
    X, y = _one_chunk_per_class(sizes=(8, 8, 3))  # class 2 too small for a chunklet of 8
    with pytest.raises(exc, match=match):
        RCA_Supervised(chunk_size=8, class_weight=cw).fit(X, y)
