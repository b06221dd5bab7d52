"""NCA: objective and gradient against scikit-learn, finite differences, determinism, the estimator."""

import io
import warnings
from contextlib import redirect_stdout

import numpy as np
import pytest

pytest.importorskip("sklearn")
pytest.importorskip("scipy")

import fastmetric  # noqa: E402
from fastmetric import _core  # noqa: E402
from fastmetric.learn import NCA  # noqa: E402
from sklearn.neighbors import NeighborhoodComponentsAnalysis  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402


def _problem(n, d, n_classes, seed):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = rng.integers(0, n_classes, n)  # rows in any order: the sweep needs no sorting by class
    return X, y, rng


def _sklearn_loss_grad(X, y, L):
    sk = NeighborhoodComponentsAnalysis()
    sk.n_iter_ = 1  # skip its verbose header
    # sign=-1: the objective scikit-learn minimises, -sum_i p_i (the sweep's loss)
    loss, grad = sk._loss_grad_lbfgs(L.ravel(), X, y[:, None] == y[None, :], sign=-1.0)
    return loss, grad.reshape(L.shape)


def _rel(a, b):
    return np.abs(np.asarray(a) - b).max() / np.abs(b).max()


@pytest.fixture(params=["auto", "dense", "sparse"])
def sweep(request):
    """Each C++ check runs in the mode the sweep picks and in each of its two modes forced."""
    return request.param


def _nca(X, y, cache=64 << 20, tile=0):
    return _core.LinearPairProblem(X, np.asarray(y, dtype=np.float64), "nca", cache, tile)


# n, d, k, classes, scale of L: 1 row; tails of tiles; several tiles; far-apart points (wide offset span)
CASES = [
    (7, 3, 2, 2, 0.5),
    (50, 5, 1, 3, 1.0),
    (301, 17, 9, 4, 0.5),
    (400, 33, 33, 6, 0.7),
    (250, 8, 8, 3, 4.0),
    (260, 3, 3, 3, 12.0),
]


@pytest.mark.parametrize(("n", "d", "k", "ncls", "scale"), CASES)
@pytest.mark.parametrize("cache", [True, False])
def test_loss_and_gradient_match_sklearn(n, d, k, ncls, scale, cache, sweep):
    X, y, rng = _problem(n, d, ncls, n + d)
    L = rng.standard_normal((k, d)) * scale
    ref_loss, ref_grad = _sklearn_loss_grad(X, y, L)
    prob = _nca(X, y, (64 << 20) if cache else 0)
    assert prob.dense_cache_fits == cache
    loss, grad = prob.loss_grad(L, 2, False, sweep)
    assert abs(loss - ref_loss) <= 1e-10 * abs(ref_loss)
    assert _rel(grad, ref_grad) <= 1e-10


def test_finite_differences(sweep):
    X, y, rng = _problem(40, 4, 3, 1)
    L = rng.standard_normal((3, 4)) * 0.7
    prob = _nca(X, y)
    f0, g = prob.loss_grad(L, 1, False, sweep)
    h = 1e-6
    fd = np.empty_like(L)
    for idx in np.ndindex(L.shape):
        Lp, Lm = L.copy(), L.copy()
        Lp[idx] += h
        Lm[idx] -= h
        fd[idx] = (prob.loss_grad(Lp, 1, False, sweep)[0] - prob.loss_grad(Lm, 1, False, sweep)[0]) / (2 * h)
    np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-8 * np.abs(g).max())


def test_float32_kernels_close_to_float64(sweep):
    X, y, rng = _problem(300, 12, 4, 5)
    L = rng.standard_normal((6, 12)) * 0.4
    l64, g64 = _nca(X, y).loss_grad(L, 0, False, sweep)
    l32, g32 = _nca(X.astype(np.float32), y).loss_grad(L.astype(np.float32), 0, False, sweep)
    assert abs(l32 - l64) <= 1e-5 * abs(l64)
    assert _rel(g32, g64) <= 1e-4


@pytest.mark.parametrize("cache", [True, False])
@pytest.mark.parametrize("tile", [0, 48])  # 48: many tiles and rounds
def test_sweep_bitwise_identical_across_threads(cache, tile, sweep):
    X, y, rng = _problem(700, 10, 5, 2)
    L = rng.standard_normal((10, 10)) * 0.5
    prob = _nca(X, y, (64 << 20) if cache else 0, tile)
    f1, g1, p1 = prob.loss_grad(L, 1, True, sweep)
    for nt in (2, 4):
        f, g, p = prob.loss_grad(L, nt, True, sweep)
        assert f == f1
        assert np.array_equal(g, g1)
        assert np.array_equal(p, p1)


def test_fit_bitwise_identical_across_threads():
    X, y, _ = _problem(400, 8, 4, 7)
    comps = [NCA(max_iter=15, n_threads=t).fit(X, y).components_ for t in (1, 2, 4)]
    assert np.array_equal(comps[0], comps[1])
    assert np.array_equal(comps[0], comps[2])


@pytest.mark.parametrize("loader", ["load_iris", "load_wine"])
def test_same_solution_as_sklearn(loader):
    from sklearn import datasets
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.preprocessing import StandardScaler

    X, y = getattr(datasets, loader)(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    sk = NeighborhoodComponentsAnalysis(max_iter=30, random_state=0).fit(X, y)
    fm = NCA(max_iter=30, tol=1e-5).fit(X, y)
    acc = [KNeighborsClassifier(3).fit(e.transform(X), y).score(e.transform(X), y) for e in (sk, fm)]
    assert acc[1] >= acc[0] - 1e-12
    np.testing.assert_allclose(fm.components_, sk.components_, rtol=1e-3, atol=1e-3 * np.abs(sk.components_).max())


def test_float32_fit_keeps_float32():
    X, y, _ = _problem(120, 6, 3, 3)
    est = NCA(n_components=3, max_iter=10).fit(X.astype(np.float32), y)
    assert est.components_.dtype == np.float32
    assert est.transform(X.astype(np.float32)).dtype == np.float32
    assert np.isfinite(est.components_).all()


def test_constant_features_and_singletons_no_nan():
    X, y, rng = _problem(90, 6, 3, 4)
    X[:, 2] = 3.0  # a constant feature
    y = y.copy()
    y[0] = 99  # a single-member class
    for init in ("auto", "pca", "lda", "identity", "random"):
        k = 2 if init == "lda" else None
        est = NCA(n_components=k, init=init, max_iter=10, random_state=0).fit(X, y)
        assert np.isfinite(est.components_).all()


def test_bad_input():
    X, y, _ = _problem(30, 4, 3, 0)
    with pytest.raises(ValueError, match="NaN"):
        NCA().fit(np.where(X > 2, np.nan, X), y)
    with pytest.raises(ValueError, match="1 class"):
        NCA().fit(X, np.zeros(30, int))
    with pytest.raises(ValueError, match="larger than n_features"):
        NCA(n_components=5).fit(X, y)
    with pytest.raises(ValueError, match=r"\(2, 4\)"):
        NCA(n_components=2, init=np.eye(3, 4)).fit(X, y)
    with pytest.raises(ValueError, match="max_iter"):
        NCA(max_iter=0).fit(X, y)


def test_verbose_prints_progress():
    X, y, _ = _problem(60, 4, 3, 0)
    buf = io.StringIO()
    with redirect_stdout(buf):
        NCA(max_iter=3, verbose=True).fit(X, y)
    out = buf.getvalue()
    assert "[NCA]" in out
    assert "|grad|" in out
    assert "L-BFGS stopped" in out


def test_plugs_into_pipeline_and_fast_paths():
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline

    X, y, _ = _problem(120, 5, 3, 9)
    pipe = make_pipeline(NCA(max_iter=10), KNeighborsClassifier(3)).fit(X, y)
    assert pipe.score(X, y) > 0.3
    est = pipe[0]
    Z = est.transform(X)
    D = fastmetric.cdist(X[:5], X[5:9], metric="mahalanobis", L=est.components_)
    np.testing.assert_allclose(D, np.linalg.norm(Z[:5, None] - Z[None, 5:9], axis=-1), rtol=1e-10)
    if hasattr(fastmetric, "kneighbors"):
        _, ind = fastmetric.kneighbors(X, k=3, metric="mahalanobis", L=est.components_)
        _, ind_z = fastmetric.kneighbors(Z, k=3)
        assert (ind == ind_z).mean() > 0.99


@parametrize_with_checks([NCA(max_iter=20)])
def test_sklearn_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check(estimator)


def test_ridge_penalty_alpha():
    """alpha adds alpha * |L|_F^2 to -sum_i w_i p_i: 0 is the unpenalised fit bit for bit, and a
    positive alpha returns an L that is optimal for the penalised objective (its gradient ~ 0) and
    shorter than the unpenalised one."""
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    X = (X - X.mean(0)) / X.std(0)
    base = NCA(random_state=0, max_iter=200).fit(X, y)
    np.testing.assert_array_equal(NCA(random_state=0, max_iter=200, alpha=0.0).fit(X, y).components_, base.components_)
    alpha = 2.0
    est = NCA(random_state=0, max_iter=500, tol=1e-10, alpha=alpha, class_weight="balanced").fit(X, y)
    L = est.components_
    assert np.linalg.norm(L) < np.linalg.norm(base.components_)
    codes = np.unique(y, return_inverse=True)[1].astype(np.float64)
    problem = _core.LinearPairProblem(np.ascontiguousarray(X), codes, "nca", sample_weight=np.ones(150))
    _, grad = problem.loss_grad(np.ascontiguousarray(L), 1)
    total = np.asarray(grad) + 2 * alpha * L
    assert np.linalg.norm(total) < 1e-4 * (1 + np.linalg.norm(2 * alpha * L))
    for bad in (-1.0, np.nan, np.inf):
        with pytest.raises(ValueError, match="alpha"):
            NCA(alpha=bad).fit(X, y)
