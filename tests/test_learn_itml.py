"""ITML: the C++ Bregman sweep against a numpy oracle, the estimators, bad input."""

import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")
pytest.importorskip("scipy")

from fastmetric import _core  # noqa: E402
from fastmetric.learn import ITML, ITML_Supervised  # noqa: E402
from sklearn.datasets import load_iris  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402


def _ref_sweep(A, U, sign, lam, bhat, gamma):
    """Davis et al.'s Algorithm 1, one pass, as in the reference MATLAB code."""
    gp = 1.0 if np.isinf(gamma) else gamma / (gamma + 1.0)
    for c in range(U.shape[0]):
        v = U[c]
        p = v @ A @ v
        if sign[c] > 0:
            alpha = min(lam[c], gp * (1 / p - 1 / bhat[c]))
            beta = alpha / (1 - alpha * p)
            bhat[c] = 1 / (1 / bhat[c] + alpha / gamma)
        else:
            alpha = min(lam[c], gp * (1 / bhat[c] - 1 / p))
            beta = -alpha / (1 + alpha * p)
            bhat[c] = 1 / (1 / bhat[c] - alpha / gamma)
        lam[c] -= alpha
        Av = A @ v
        A += beta * np.outer(Av, Av)


@pytest.mark.parametrize("d", [1, 3, 4, 7, 16, 17, 33, 65])
@pytest.mark.parametrize("gamma", [1.0, 0.3, np.inf])
def test_sweep_matches_reference(d, gamma, isa, rng):
    m = 30
    U = rng.standard_normal((m, d))
    sign = np.where(rng.random(m) < 0.5, 1, -1).astype(np.int8)
    b0 = np.where(sign > 0, 0.5 * d, 2.0 * d)
    A, lam, bh = np.eye(d), np.zeros(m), b0.copy()
    Ar, lr, br = np.eye(d), np.zeros(m), b0.copy()
    for _ in range(4):
        l1, nb, na, skipped = _core.itml_sweep(A, U, sign, lam, bh, gamma)
        lam_before = lr.copy()
        _ref_sweep(Ar, U, sign, lr, br, gamma)
    np.testing.assert_allclose(A, Ar, rtol=1e-11, atol=1e-12 * np.abs(Ar).max())
    np.testing.assert_allclose(lam, lr, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(bh, br, rtol=1e-10)
    assert np.array_equal(A, A.T)  # the update keeps A exactly symmetric
    assert skipped == 0
    assert l1 == pytest.approx(np.abs(lr - lam_before).sum(), rel=1e-9, abs=1e-12)
    assert na == pytest.approx(np.linalg.norm(lr), rel=1e-12)


def test_sweep_skips_zero_differences_and_checks_input():
    U = np.array([[0.0, 0.0], [1.0, 0.0]])
    sign = np.array([-1, 1], np.int8)
    A, lam, bh = np.eye(2), np.zeros(2), np.array([1.0, 0.5])
    l1, nb, na, skipped = _core.itml_sweep(A, U, sign, lam, bh, 1.0)
    assert skipped == 1
    assert np.isfinite(A).all()
    with pytest.raises(ValueError, match="signs"):
        _core.itml_sweep(A, U, np.array([0, 1], np.int8), lam, bh, 1.0)
    with pytest.raises(ValueError, match="bounds"):
        _core.itml_sweep(A, U, sign, lam, np.array([1.0, 0.0]), 1.0)
    with pytest.raises(ValueError, match="gamma"):
        _core.itml_sweep(A, U, sign, lam, bh, 0.0)
    ro = np.eye(2)
    ro.setflags(write=False)
    with pytest.raises(ValueError, match="writable"):
        _core.itml_sweep(ro, U, sign, lam, bh, 1.0)


def _iris():
    X, y = load_iris(return_X_y=True)
    X = (X - X.mean(0)) / X.std(0)
    return X, y


def test_supervised_learns_and_is_reproducible():
    X, y = _iris()
    m1 = ITML_Supervised(random_state=0).fit(X, y)
    m2 = ITML_Supervised(random_state=0).fit(X, y)
    assert np.array_equal(m1.components_, m2.components_)
    assert m1.components_.shape == (4, 4)
    assert np.isfinite(m1.components_).all()
    M = m1.get_mahalanobis_matrix()
    assert np.all(np.linalg.eigvalsh(M) > 0)  # ITML keeps the metric positive definite
    assert m1.bounds_.shape == (2,)
    assert m1.bounds_[0] < m1.bounds_[1]
    # similar pairs end up closer than dissimilar ones
    Z = m1.transform(X)
    same = y[:, None] == y[None, :]
    D = ((Z[:, None] - Z[None]) ** 2).sum(-1)
    assert D[same].mean() < 0.5 * D[~same].mean()
    m3 = ITML_Supervised(random_state=1).fit(X, y)
    assert not np.array_equal(m1.components_, m3.components_)


def test_itml_constraints_are_met(rng):
    # pairs labelled by a hidden metric with a gap: a metric meeting the bounds exists
    X = rng.standard_normal((60, 3))
    idx = rng.integers(0, 60, (300, 2))
    idx = idx[idx[:, 0] != idx[:, 1]]
    diff = X[idx[:, 0]] - X[idx[:, 1]]
    true = (diff**2) @ np.array([4.0, 0.01, 1.0])
    lo, hi = np.percentile(true, [30, 70])
    keep = (true < lo) | (true > hi)
    idx, lab = idx[keep], np.where(true[keep] < lo, 1, -1)
    m = ITML(gamma=1e6, max_iter=5000, tol=1e-5)
    m.fit(X[idx], lab, bounds=(1.0, 2.0))
    d2 = m.pair_distance(X[idx]) ** 2
    assert np.all(d2[lab == 1] <= 1.0 * 1.01)
    assert np.all(d2[lab == -1] >= 2.0 / 1.01)
    assert np.array_equal(m.bounds_, [1.0, 2.0])
    assert m.converged_


def test_priors_and_bounds_validation():
    X, y = _iris()
    for prior in ("identity", "covariance", "random", np.eye(4) * 2):
        m = ITML_Supervised(prior=prior, random_state=0, max_iter=50).fit(X, y)
        assert np.isfinite(m.components_).all()
    with pytest.raises(ValueError, match="positive definite"):
        ITML_Supervised(prior=np.diag([1.0, 1.0, 1.0, 0.0])).fit(X, y)
    with pytest.raises(ValueError, match="two numbers"):
        ITML_Supervised().fit(X, y, bounds=(1.0,))
    with pytest.raises(ValueError, match="gamma"):
        ITML_Supervised(gamma=-1).fit(X, y)
    with pytest.raises(ValueError, match="max_iter"):
        ITML_Supervised(max_iter=0).fit(X, y)
    # a constant feature: the covariance prior is completed, no NaN
    Xc = X.copy()
    Xc[:, 2] = 1.0
    m = ITML_Supervised(prior="covariance", random_state=0, max_iter=50).fit(Xc, y)
    assert np.isfinite(m.components_).all()


def test_identical_point_pairs_are_ignored_with_warning():
    X, y = _iris()
    P = np.stack([X[:20], X[20:40]], axis=1)
    P[0, 1] = P[0, 0]
    lab = np.where(y[:20] == y[20:40], 1, -1)
    lab[:3] = [1, -1, 1]
    with pytest.warns(UserWarning, match="point to itself"):
        m = ITML(max_iter=50).fit(P, lab)
    assert np.isfinite(m.components_).all()


def test_bad_labels_single_class_nan():
    X, y = _iris()
    with pytest.raises(ValueError, match="at least 2 classes"):
        ITML_Supervised().fit(X, np.zeros(len(X)))
    Xn = X.copy()
    Xn[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        ITML_Supervised().fit(Xn, y)
    with pytest.raises(ValueError, match="different numbers of samples"):
        ITML_Supervised().fit(X, y[:-1])


def test_float32_kept_and_verbose(capsys):
    X, y = _iris()
    m32 = ITML_Supervised(random_state=0, verbose=True, max_iter=30).fit(X.astype(np.float32), y)
    out = capsys.readouterr().out
    assert "[ITML_Supervised]" in out
    assert out.count("\n") >= 3
    m64 = ITML_Supervised(random_state=0, max_iter=30).fit(X, y)
    assert m32.components_.dtype == np.float32
    assert m32.transform(X.astype(np.float32)).dtype == np.float32
    np.testing.assert_allclose(m32.components_, m64.components_, rtol=1e-4, atol=1e-5)


@parametrize_with_checks([ITML_Supervised(max_iter=30)])
def test_sklearn_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check(estimator)
