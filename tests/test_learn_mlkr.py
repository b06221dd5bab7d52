"""MLKR: the C++ loss / gradient sweep against a float64 numpy oracle, threads, the estimator."""

import inspect
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")
pytest.importorskip("scipy")

from fastmetric import _core  # noqa: E402
from fastmetric.learn import MLKR  # noqa: E402
from scipy.special import logsumexp  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402


def _oracle(L, X, y):
    """metric-learn's formulation with dense n x n matrices, float64."""
    Z = X @ L.T
    D = ((Z[:, None, :] - Z[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(D, np.inf)
    P = np.exp(-D - logsumexp(-D, axis=1)[:, None])
    yhat = P @ y
    e = yhat - y
    W = P * e[:, None] * (y[None, :] - yhat[:, None])
    Ws = W + W.T
    np.fill_diagonal(Ws, -W.sum(axis=0))
    return float(e @ e), 4 * (Z.T @ Ws) @ X, yhat


def _data(n, d, k, seed, scale=0.5):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = X[:, 0] - 0.5 * X[:, -1] + 0.1 * rng.standard_normal(n)
    L = scale * rng.standard_normal((k, d))
    return X, y, L


def _mlkr(X, y, cache=64 << 20, tile=0):
    return _core.LinearPairProblem(X, y, "mlkr", cache, tile)


@pytest.mark.parametrize("mode", ["auto", "dense", "sparse"])
@pytest.mark.parametrize("tile", [0, 48])  # 48: many tiles and rounds at small n
@pytest.mark.parametrize(("n", "d", "k"), [(2, 1, 1), (5, 3, 2), (37, 7, 7), (97, 17, 5), (250, 33, 9), (301, 65, 16)])
def test_loss_grad_match_oracle(n, d, k, tile, mode, isa):
    X, y, L = _data(n, d, k, seed=n)
    f0, g0, yh0 = _oracle(L, X, y)
    for cache in (64 << 20, 0):  # kept pairs cached between the passes, or recomputed
        f, g, yh = _mlkr(X, y, cache, tile).loss_grad(L, 2, True, mode)
        assert f == pytest.approx(f0, rel=1e-11, abs=1e-300)
        np.testing.assert_allclose(g, g0, rtol=1e-9, atol=1e-11 * max(1.0, np.abs(g0).max()))
        np.testing.assert_allclose(yh, yh0, rtol=1e-11, atol=1e-12)


def test_float32_close_to_oracle(isa):
    X, y, L = _data(300, 20, 6, seed=1)
    f0, g0, _ = _oracle(L, X, y)
    f, g = _mlkr(X.astype(np.float32), y).loss_grad(L.astype(np.float32), 2)
    assert f == pytest.approx(f0, rel=1e-5)
    np.testing.assert_allclose(g, g0, rtol=0, atol=1e-4 * np.abs(g0).max())


@pytest.mark.parametrize("mode", ["auto", "dense", "sparse"])
@pytest.mark.parametrize("tile", [0, 48])
def test_outliers_and_a_peaked_kernel(tile, mode):
    # far-away points: a tile's shifts span more than one exponential can serve (separate exps);
    # a large scale makes almost every pair negligible (the sparse path)
    X, y, L = _data(400, 6, 6, seed=2, scale=3.0)
    X[:40] *= 40.0
    f0, g0, _ = _oracle(L, X, y)
    for cache in (64 << 20, 0):
        f, g = _mlkr(X, y, cache, tile).loss_grad(L, 2, False, mode)
        assert f == pytest.approx(f0, rel=1e-10)
        np.testing.assert_allclose(g, g0, rtol=1e-7, atol=1e-9 * np.abs(g0).max())


def test_gradient_finite_differences():
    X, y, L = _data(60, 5, 3, seed=3)
    p = _mlkr(X, y)
    _, g = p.loss_grad(L, 1)
    rng = np.random.default_rng(0)
    for _ in range(5):
        E = rng.standard_normal(L.shape)
        h = 1e-6
        fd = (p.loss_grad(L + h * E, 1)[0] - p.loss_grad(L - h * E, 1)[0]) / (2 * h)
        assert fd == pytest.approx(float((g * E).sum()), rel=1e-6)


@pytest.mark.parametrize("mode", ["dense", "sparse"])
@pytest.mark.parametrize("tile", [0, 48])
def test_bitwise_identical_across_threads(tile, mode):
    X, y, L = _data(700, 12, 8, seed=4)
    p = _mlkr(X, y, 64 << 20, tile)
    ref = p.loss_grad(L, 1, False, mode)
    for nt in (2, 4):
        f, g = p.loss_grad(L, nt, False, mode)
        assert f == ref[0]
        assert np.array_equal(g, ref[1])
    comps = [MLKR(max_iter=8, n_threads=nt).fit(X, y).components_ for nt in (1, 2, 4)]
    assert all(np.array_equal(comps[0], c) for c in comps[1:])


def test_binding_checks():
    X, y, L = _data(10, 3, 2, seed=5)
    with pytest.raises(ValueError, match="dtype of X"):
        _mlkr(X, y).loss_grad(L.astype(np.float32))
    with pytest.raises(ValueError, match="columns"):
        _mlkr(X, y).loss_grad(np.ones((2, 4)))
    with pytest.raises(ValueError, match="elements"):
        _mlkr(X, y[:-1])
    with pytest.raises(ValueError, match="finite"):
        _mlkr(X, np.where(np.arange(10) == 3, np.nan, y))
    with pytest.raises(ValueError, match="2 samples"):
        _mlkr(X[:1], y[:1])
    with pytest.raises(ValueError, match="objective"):
        _core.LinearPairProblem(X, y, "lmnn")
    # byte-swapped arrays are refused, not read as garbage
    with pytest.raises(TypeError, match="native-order"):
        _mlkr(X.astype(">f8"), y)
    with pytest.raises(ValueError, match="float64"):
        _mlkr(X, y.astype(">f8"))
    with pytest.raises(ValueError, match="native-order"):
        _mlkr(X, y).loss_grad(L.astype(">f8"))
    with pytest.raises(TypeError, match="native-order"):
        _core.PairSweep(y, "mlkr").evaluate((X @ L.T).astype(">f8"))
    with pytest.raises(ValueError, match="mode"):
        _mlkr(X, y).loss_grad(L, 1, False, "fast")


def test_diabetes_leave_one_out_error_improves():
    # the objective MLKR minimises: leave-one-out kernel regression error on the training set
    # (on held-out data full-rank MLKR overfits diabetes, as metric-learn's does: see the benchmark)
    from sklearn.datasets import load_diabetes

    X, y = load_diabetes(return_X_y=True)
    X = (X - X.mean(0)) / X.std(0)
    y = (y - y.mean()) / y.std()
    p = _mlkr(X, y)
    before = p.loss_grad(np.eye(X.shape[1]))[0]
    m = MLKR(max_iter=50).fit(X, y)
    after = p.loss_grad(np.ascontiguousarray(m.components_))[0]
    assert after < 0.7 * before


def test_alpha_penalises_the_norm_and_keeps_the_gradient_exact(monkeypatch):
    from fastmetric.learn import _base

    X, y, _ = _data(60, 4, 4, seed=8)
    seen = {}
    real = _base.minimize_lbfgs

    def spy(fun, L0, **kw):
        seen["fun"] = fun
        return real(fun, L0, **kw)

    monkeypatch.setattr("fastmetric.learn.mlkr.minimize_lbfgs", spy)
    free = MLKR(max_iter=60).fit(X, y)
    ridge = MLKR(alpha=5.0, max_iter=60).fit(X, y)
    assert np.linalg.norm(ridge.components_) < np.linalg.norm(free.components_)
    # the penalised objective's gradient against central differences
    fun = seen["fun"]
    L = np.random.default_rng(0).normal(size=(4, 4))
    loss, grad = fun(L)
    plain = _mlkr(X, y).loss_grad(L)[0]
    assert loss == pytest.approx(plain + 5.0 * np.sum(L * L), rel=1e-12)
    h, E = 1e-6, np.zeros_like(L)
    E[1, 2] = 1.0
    fd = (fun(L + h * E)[0] - fun(L - h * E)[0]) / (2 * h)
    assert grad[1, 2] == pytest.approx(fd, rel=1e-5, abs=1e-7)
    for bad in (-1.0, np.nan, np.inf, "1", True):
        with pytest.raises(ValueError, match="alpha"):
            MLKR(alpha=bad).fit(X, y)


def test_alpha_lowers_the_diabetes_test_error_below_euclidean():
    from sklearn.datasets import load_diabetes
    from sklearn.model_selection import train_test_split

    X, y = load_diabetes(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.3, random_state=0)
    mu, sd = Xtr.mean(0), Xtr.std(0)
    Xtr, Xte = (Xtr - mu) / sd, (Xte - mu) / sd
    ym, ys = ytr.mean(), ytr.std()
    ytr, yte = (ytr - ym) / ys, (yte - ym) / ys

    def test_mse(Ztr, Zte):
        D = ((Zte[:, None, :] - Ztr[None, :, :]) ** 2).sum(-1)
        W = np.exp(-(D - D.min(1, keepdims=True)))
        return float(np.mean((W @ ytr / W.sum(1) - yte) ** 2))

    m = MLKR(alpha=10.0).fit(Xtr, ytr)
    assert test_mse(m.transform(Xtr), m.transform(Xte)) < test_mse(Xtr, Xte)


def test_estimator_dtypes_verbose_and_bad_input(capsys):
    X, y, _ = _data(80, 5, 5, seed=6)
    m32 = MLKR(max_iter=15, verbose=True).fit(X.astype(np.float32), y)
    assert "[MLKR]" in capsys.readouterr().out
    assert m32.components_.dtype == np.float32
    assert m32.transform(X.astype(np.float32)).dtype == np.float32
    m = MLKR(n_components=2, init="pca", max_iter=15).fit(X, y)
    assert m.components_.shape == (2, 5)
    with pytest.raises(ValueError, match="NaN|infinity"):
        MLKR().fit(X, np.where(np.arange(80) == 2, np.inf, y))
    with pytest.raises(ValueError, match="different numbers of samples"):
        MLKR().fit(X, y[:-1])
    with pytest.raises(ValueError, match="class labels"):
        MLKR(init="lda").fit(X, y)
    with pytest.raises(ValueError, match="outside the preprocessor's 80 points"):
        MLKR(preprocessor=X).fit(np.arange(80) + 1, y)
    with pytest.raises(ValueError, match="n_components=7 is larger"):
        MLKR(n_components=7).fit(X, y)


# integer sample weights are not repeated samples for a leave-one-out objective: a repeated point would
# be its own nearest neighbour (so scikit-learn's equivalence check cannot hold; documented in fit)
_NOT_EQUIVALENT = {"check_sample_weight_equivalence_on_dense_data": "leave-one-out objective"}
_CHECK_KW = (
    {"expected_failed_checks": lambda est: _NOT_EQUIVALENT}
    if "expected_failed_checks" in inspect.signature(parametrize_with_checks).parameters
    else {}
)


@parametrize_with_checks([MLKR(max_iter=20)], **_CHECK_KW)
def test_sklearn_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check(estimator)


def test_float32_fit_stops_on_its_own_precision(capsys):
    # float32 sweeps round at ~1e-7 relative: SciPy's default relative-reduction test (2.2e-9) made
    # L-BFGS-B chase rounding until a failed line search ("ABNORMAL") on this problem
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    X, y = load_digits(return_X_y=True)
    X, _, y, _ = train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)
    X = StandardScaler().fit_transform(X).astype(np.float32)
    m = MLKR(verbose=True, max_iter=300).fit(X, y.astype(float))
    out = capsys.readouterr().out
    assert "CONVERGENCE" in out and "ABNORMAL" not in out
    assert m.components_.dtype == np.float32 and np.isfinite(m.components_).all()
