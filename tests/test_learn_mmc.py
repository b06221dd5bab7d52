"""MMC: the regularised Xing et al. objective, its solver, the estimators, bad input."""

import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")
pytest.importorskip("scipy")

from fastmetric.learn import MMC, MMC_Supervised  # noqa: E402
from sklearn.datasets import load_wine  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402


def _objective(A, S, D, mu, A0=None):
    """J(A) = log sum_D d_A - 1/2 log sum_S d_A^2 + mu/d (log det A0^-1 A - d log tr(A0^-1 A)/d)."""
    d = A.shape[0]
    A0 = np.eye(d) if A0 is None else A0
    g = np.sqrt(np.einsum("ij,jk,ik->i", D, A, D)).sum()
    f = np.einsum("ij,jk,ik->", S, A, S)
    J = np.log(g) - 0.5 * np.log(f)
    if mu == 0:
        return J
    ev = np.linalg.eigvals(np.linalg.solve(A0, A)).real
    return J + mu / d * (np.log(ev).sum() - d * np.log(ev.sum() / d))


def _axis_pairs(rng, n=80):
    """Similar pairs differ along y only, dissimilar pairs along x only (plus a little noise)."""
    x = rng.standard_normal((n, 2))
    S = np.stack([x, x + np.c_[0.05 * rng.standard_normal(n), rng.standard_normal(n)]], axis=1)
    D = np.stack([x, x + np.c_[rng.standard_normal(n) + 3, 0.05 * rng.standard_normal(n)]], axis=1)
    P = np.concatenate([S, D])
    y = np.r_[np.ones(n), -np.ones(n)].astype(int)
    return P, y


def test_unregularised_collapses_regularised_does_not(rng):
    P, y = _axis_pairs(rng)
    A0 = MMC(regularization=0.0, max_iter=500, tol=1e-10).fit(P, y).A_
    assert A0[1, 1] / A0[0, 0] < 1e-3  # Xing et al.'s optimum: all weight on the separating axis
    A2 = MMC(max_iter=500, tol=1e-10).fit(P, y).A_
    assert 1e-3 < A2[1, 1] / A2[0, 0] < 1.0  # pulled towards the identity: both axes kept
    assert np.all(np.linalg.eigvalsh(A2) > 0)


@pytest.mark.parametrize("mu", [0.0, 0.5, 2.0])
def test_solution_is_a_maximum(mu, rng):
    P, y = _axis_pairs(rng, 60)
    P = P + 0.3 * rng.standard_normal(P.shape)
    m = MMC(regularization=mu, max_iter=1000, tol=1e-12).fit(P, y)
    U = P[:, 0] - P[:, 1]
    S, D = U[y == 1], U[y == -1]
    J = _objective(m.A_, S, D, mu)
    assert J > _objective(np.eye(2), S, D, mu)
    # no symmetric positive definite perturbation does better (first-order optimality)
    for _ in range(20):
        E = rng.standard_normal((2, 2))
        E = 0.5 * (E + E.T)
        for t in (1e-3, 1e-2):
            At = m.A_ + t * E * np.abs(m.A_).max()
            if np.all(np.linalg.eigvalsh(At) > 0):
                assert _objective(At, S, D, mu) <= J + 1e-9


def test_scale_conventions(rng):
    P, y = _axis_pairs(rng)
    U = P[:, 0] - P[:, 1]
    S = U[y == 1]
    full = MMC().fit(P, y).A_
    assert np.einsum("ij,jk,ik->", S, full, S) == pytest.approx((S**2).sum() / 100.0, rel=1e-10)
    diag = MMC(diagonal=True, diagonal_c=3.0).fit(P, y).A_
    assert np.count_nonzero(diag - np.diag(np.diag(diag))) == 0
    assert np.all(np.diag(diag) > 0)
    assert np.einsum("ij,jk,ik->", S, diag, S) == pytest.approx(1.5, rel=1e-10)


def _wine():
    X, y = load_wine(return_X_y=True)
    return (X - X.mean(0)) / X.std(0), y


@pytest.mark.parametrize("diagonal", [False, True])
def test_supervised_beats_euclidean_on_wine(diagonal):
    from sklearn.model_selection import train_test_split
    from sklearn.neighbors import KNeighborsClassifier

    X, y = _wine()
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.3, stratify=y, random_state=0)
    base = KNeighborsClassifier(3).fit(Xtr, ytr).score(Xte, yte)
    m = MMC_Supervised(diagonal=diagonal, random_state=0).fit(Xtr, ytr)
    acc = KNeighborsClassifier(3).fit(m.transform(Xtr), ytr).score(m.transform(Xte), yte)
    assert acc >= base
    m2 = MMC_Supervised(diagonal=diagonal, random_state=0).fit(Xtr, ytr)
    assert np.array_equal(m.components_, m2.components_)


def test_init_options_and_bad_params():
    X, y = _wine()
    for init in ("identity", "covariance", "random", np.eye(13) * 3):
        m = MMC_Supervised(init=init, random_state=0).fit(X, y)
        assert np.isfinite(m.components_).all()
    for kw, msg in [
        ({"regularization": -1}, "regularization"),
        ({"max_iter": 0}, "max_iter"),
        ({"tol": -1.0}, "tol"),
        ({"diagonal_c": 0}, "diagonal_c"),
        ({"max_proj": 0}, "max_proj"),
    ]:
        with pytest.raises(ValueError, match=msg):
            MMC_Supervised(**kw).fit(X, y)


def test_degenerate_pairs(rng):
    P, y = _axis_pairs(rng, 20)
    Q = P.copy()
    Q[-1, 1] = Q[-1, 0]  # a dissimilar pair of one point twice
    with pytest.warns(UserWarning, match="dissimilar pair"):
        m = MMC().fit(Q, y)
    assert np.isfinite(m.components_).all()
    Q = P.copy()
    Q[y == 1, 1] = Q[y == 1, 0]  # every similar pair degenerate: no scale
    with pytest.raises(ValueError, match="similar pair"):
        MMC().fit(Q, y)


def test_constant_feature_no_nan():
    X, y = _wine()
    X = np.c_[X, np.full(len(X), 7.0)]
    m = MMC_Supervised(random_state=0).fit(X, y)
    assert np.isfinite(m.components_).all()
    assert np.isfinite(m.transform(X)).all()


def test_float32_and_verbose(capsys):
    X, y = _wine()
    m32 = MMC_Supervised(random_state=0, verbose=True).fit(X.astype(np.float32), y)
    assert "[MMC_Supervised]" in capsys.readouterr().out
    assert m32.components_.dtype == np.float32
    assert m32.transform(X.astype(np.float32)).dtype == np.float32
    m64 = MMC_Supervised(random_state=0).fit(X, y)
    np.testing.assert_allclose(m32.components_, m64.components_, rtol=1e-3, atol=1e-4 * np.abs(m64.components_).max())


@parametrize_with_checks([MMC_Supervised(), MMC_Supervised(diagonal=True)])
def test_sklearn_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check(estimator)
