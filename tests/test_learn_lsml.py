"""LSML: the objective against a plain numpy reference of metric-learn 0.7's formula, the gradient
by finite differences (weights included), the line search against a naive replay, the quadruplet
classifier API, the estimators in scikit-learn machinery, bad input."""

import pickle
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")
pytest.importorskip("scipy")

from fastmetric.learn import LSML, LSML_Supervised  # noqa: E402
from fastmetric.learn.lsml import lsml_gradient, lsml_loss  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.datasets import load_iris  # noqa: E402
from sklearn.neighbors import KNeighborsClassifier  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402


def _ref_loss(M, Vab, Vcd, w, prior_inv):
    """metric-learn 0.7's _total_loss, one quadruplet at a time."""
    comp = 0.0
    for vab, vcd, wi in zip(Vab, Vcd, w, strict=True):
        dab = vab @ M @ vab
        dcd = vcd @ M @ vcd
        if dab > dcd:
            comp += wi * (np.sqrt(dab) - np.sqrt(dcd)) ** 2
    sign, logdet = np.linalg.slogdet(M)
    return comp + np.trace(M @ prior_inv) - sign * logdet


def _problem(rng, n=40, d=5):
    Vab = rng.standard_normal((n, d)) * 1.5
    Vcd = rng.standard_normal((n, d))
    w = rng.random(n) + 0.1
    w /= w.sum()
    A = rng.standard_normal((d, d))
    M = A @ A.T / d + np.eye(d)
    B = rng.standard_normal((d, d))
    prior_inv = B @ B.T / d + 0.5 * np.eye(d)
    return M, Vab, Vcd, w, prior_inv


@pytest.mark.parametrize("d", [1, 3, 7, 17])
def test_loss_matches_reference(d, rng):
    M, Vab, Vcd, w, P = _problem(rng, d=d)
    ref = _ref_loss(M, Vab, Vcd, w, P)
    assert lsml_loss(M, Vab, Vcd, w, P) == pytest.approx(ref, rel=1e-12)


@pytest.mark.parametrize("d", [1, 4, 9])
def test_gradient_matches_finite_differences_with_weights(d, rng):
    M, Vab, Vcd, w, P = _problem(rng, d=d)
    w = w * np.linspace(0.1, 3.0, w.size)  # far from uniform: an unweighted gradient fails here
    w /= w.sum()
    G = lsml_gradient(M, Vab, Vcd, w, P)
    assert np.allclose(G, G.T)
    h = 1e-6
    for _ in range(5):
        D = rng.standard_normal((d, d))
        D = 0.5 * (D + D.T)
        fd = (lsml_loss(M + h * D, Vab, Vcd, w, P) - lsml_loss(M - h * D, Vab, Vcd, w, P)) / (2 * h)
        assert np.sum(G * D) == pytest.approx(fd, rel=1e-5, abs=1e-8)
    G_unweighted = lsml_gradient(M, Vab, Vcd, np.full(w.size, 1.0 / w.size), P)
    assert not np.allclose(G, G_unweighted)


def test_gradient_of_a_zero_difference_is_zero(rng):
    M, Vab, Vcd, w, P = _problem(rng, d=3)
    Vcd[0] = 0.0  # c = d: distance 0 for every M, violated whenever a != b
    G = lsml_gradient(M, Vab, Vcd, w, P)
    assert np.isfinite(G).all()
    h = 1e-6
    D = np.eye(3)
    fd = (lsml_loss(M + h * D, Vab, Vcd, w, P) - lsml_loss(M - h * D, Vab, Vcd, w, P)) / (2 * h)
    assert np.sum(G * D) == pytest.approx(fd, rel=1e-5)


def _naive_descent(M, Vab, Vcd, w, tol, max_iter):
    """metric-learn 0.7's loop (with the weighted gradient): every candidate projected and scored
    from scratch."""
    P = np.linalg.inv(M)
    best = _ref_loss(M, Vab, Vcd, w, P)
    it = 0
    for step in range(1, max_iter + 1):
        it = step
        G = lsml_gradient(M, Vab, Vcd, w, P)
        gn = np.linalg.norm(G)
        if gn < tol:
            break
        M_best = None
        for s in np.logspace(-10, 0, 10):
            lam, V = np.linalg.eigh(M - s / gn * G)
            cand = V @ np.diag(np.maximum(lam, 1e-8)) @ V.T
            loss = _ref_loss(cand, Vab, Vcd, w, P)
            if loss < best:
                best, M_best = loss, cand
        if M_best is None:
            break
        M = M_best
    return M, it, best


@pytest.mark.parametrize("d", [2, 6])
def test_descent_matches_a_naive_replay(d, rng):
    n = 60
    X = rng.standard_normal((4 * n, d))
    X[:, 0] *= 4.0  # the first feature should be shrunk
    T = X.reshape(n, 4, d)
    T[:, 1, 1:] = T[:, 0, 1:] + 0.1 * rng.standard_normal((n, d - 1))  # (a, b) close except feature 0
    w = rng.random(n) + 0.5
    est = LSML(max_iter=25, tol=1e-6).fit(T, weights=w)
    Vab = T[:, 0] - T[:, 1]
    Vcd = T[:, 2] - T[:, 3]
    M_ref, it_ref, loss_ref = _naive_descent(np.eye(d), Vab, Vcd, w / w.sum(), 1e-6, 25)
    assert est.n_iter_ == it_ref
    np.testing.assert_allclose(est.metric_, M_ref, rtol=1e-7, atol=1e-9)
    assert est.loss_ == pytest.approx(loss_ref, rel=1e-9)
    assert est.loss_ < _ref_loss(np.eye(d), Vab, Vcd, w / w.sum(), np.eye(d))
    np.testing.assert_allclose(est.w_, w / w.sum())


def test_supervised_points_path_matches_a_naive_replay(rng):
    """LSML_Supervised runs on the training points and index pairs; replay its drawn quadruplets
    as differences through metric-learn's loop."""
    from fastmetric.learn._constraints import quadruplets_for

    n, d = 90, 6
    X = rng.standard_normal((n, d))
    y = rng.integers(0, 3, n)
    X[:, 0] += 3.0 * y  # feature 0 carries the classes
    est = LSML_Supervised(random_state=3, max_iter=15, tol=1e-6).fit(X, y)
    idx, _ = quadruplets_for(est, np.unique(y, return_inverse=True)[1])
    Vab = X[idx[:, 0]] - X[idx[:, 1]]
    Vcd = X[idx[:, 2]] - X[idx[:, 3]]
    w = np.full(idx.shape[0], 1.0 / idx.shape[0])
    M_ref, it_ref, loss_ref = _naive_descent(np.eye(d), Vab, Vcd, w, 1e-6, 15)
    assert est.n_iter_ == it_ref
    np.testing.assert_allclose(est.metric_, M_ref, rtol=1e-7, atol=1e-9)
    assert est.loss_ == pytest.approx(loss_ref, rel=1e-9)
    # the same quadruplets as points (the differences path) give the same metric
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tup = LSML(max_iter=15, tol=1e-6).fit(X[idx])
    np.testing.assert_allclose(tup.metric_, est.metric_, rtol=1e-9, atol=1e-11)


def _iris():
    X, y = load_iris(return_X_y=True)
    return (X - X.mean(0)) / X.std(0), y


def test_supervised_learns_psd_and_is_reproducible():
    X, y = _iris()
    a = LSML_Supervised(random_state=0).fit(X, y)
    b = LSML_Supervised(random_state=0).fit(X, y)
    np.testing.assert_array_equal(a.components_, b.components_)
    assert np.isfinite(a.components_).all()
    assert np.linalg.eigvalsh(a.metric_)[0] > 0
    np.testing.assert_allclose(a.get_mahalanobis_matrix(), a.metric_, rtol=1e-8, atol=1e-10)
    assert a.n_iter_ >= 1 and a.w_.size == 20 * 3**2


def test_quadruplet_api_preprocessor_and_float32(rng):
    X = rng.standard_normal((30, 3))
    X[:, 2] *= 5.0
    q = rng.integers(0, 30, size=(80, 4))
    # right order where (a, b) is closer in features 0-1 than (c, d)
    dd = lambda i, j: np.linalg.norm(X[q[:, i], :2] - X[q[:, j], :2], axis=1)  # noqa: E731
    q = np.where((dd(0, 1) < dd(2, 3))[:, None], q, q[:, [2, 3, 0, 1]])
    est = LSML(preprocessor=X).fit(q)
    T = X[q]
    est3 = LSML().fit(T)
    np.testing.assert_allclose(est.components_, est3.components_)
    dec = est.decision_function(q)
    np.testing.assert_allclose(dec, est3.pair_distance(T[:, 2:]) - est3.pair_distance(T[:, :2]))
    np.testing.assert_array_equal(est.predict(q), np.sign(dec))
    assert est.score(q) == pytest.approx(np.mean(dec > 0) + 0.5 * np.mean(dec == 0))
    np.testing.assert_allclose(est.pair_distance(q[:, :2]), est3.pair_distance(T[:, :2]))
    e32 = LSML().fit(T.astype(np.float32))
    assert e32.components_.dtype == np.float32
    assert e32.transform(X.astype(np.float32)).dtype == np.float32


def test_clone_pickle_pipeline():
    X, y = _iris()
    est = LSML_Supervised(random_state=0, max_iter=20)
    pipe = make_pipeline(clone(est), KNeighborsClassifier(n_neighbors=3)).fit(X, y)
    assert pipe.score(X, y) > 0.9
    fitted = est.fit(X, y)
    again = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(again.transform(X), fitted.transform(X))
    assert clone(fitted).get_params() == est.get_params()


def test_bad_input(rng):
    X = rng.standard_normal((10, 3))
    T = X[rng.integers(0, 10, size=(6, 4))]
    with pytest.raises(ValueError, match=r"quadruplets must have shape \(n_quadruplets, 4, n_features\)"):
        LSML().fit(T[:, :3])
    with pytest.raises(ValueError, match="0 quadruplets"):
        LSML().fit(np.zeros((0, 4, 3)))
    with pytest.raises(ValueError, match="outside the preprocessor's 10 points"):
        LSML(preprocessor=X).fit(np.array([[0, 1, 2, 10]]))
    # 3-D quadruplets with a preprocessor: refused (metric-learn 0.7 skips the preprocessor silently)
    with pytest.raises(ValueError, match=r"quadruplets are formed points \(shape \(6, 4, 3\)\), but the learner has"):
        LSML(preprocessor=X, max_iter=3).fit(T)
    with pytest.raises(ValueError, match="need preprocessor=X"):
        LSML().fit(np.array([[0, 1, 2, 3]]))
    with pytest.raises(ValueError, match="NaN"):
        bad = T.copy()
        bad[0, 0, 0] = np.nan
        LSML().fit(bad)
    with pytest.raises(ValueError, match="weights must hold one number per quadruplet: 6"):
        LSML().fit(T, weights=np.ones(5))
    with pytest.raises(ValueError, match="non-negative"):
        LSML().fit(T, weights=-np.ones(6))
    with pytest.raises(ValueError, match="sum to 0"):
        LSML().fit(T, weights=np.zeros(6))
    with pytest.raises(ValueError, match="positive definite"):
        LSML(prior=np.zeros((3, 3))).fit(T)
    with pytest.raises(ValueError, match="max_iter"):
        LSML(max_iter=0).fit(T)
    fitted = LSML(max_iter=3).fit(T)
    with pytest.raises(ValueError, match="fitted with 3 features"):
        fitted.decision_function(T[:, :, :2])
    Xi, yi = _iris()
    with pytest.raises(ValueError, match="weights must hold one number per quadruplet: 180"):
        LSML_Supervised(weights=np.ones(3)).fit(Xi, yi)
    with pytest.raises(ValueError, match="at least 2 classes"):
        LSML_Supervised().fit(Xi, np.zeros(150))
    with pytest.raises(ValueError, match="outside the preprocessor's 150 points"):
        LSML_Supervised(preprocessor=Xi).fit(np.arange(150) + 1, yi)


def test_verbose_prints_per_iteration(capsys):
    X, y = _iris()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        LSML_Supervised(random_state=0, max_iter=3, verbose=True).fit(X, y)
    out = capsys.readouterr().out
    assert "[LSML_Supervised]" in out and "loss" in out


@parametrize_with_checks([LSML_Supervised(max_iter=10)])
def test_sklearn_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check(estimator)
