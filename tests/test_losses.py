"""fastmetric.losses: NCA and MLKR losses on embeddings against scikit-learn, a float64 numpy oracle
and finite differences; dtypes, layouts, threads, bad input."""

import numpy as np
import pytest

import fastmetric
from fastmetric import _core
from fastmetric.losses import mlkr_loss, nca_loss


def _softmax_rows(Z):
    Z = np.asarray(Z, dtype=np.float64)
    D = ((Z[:, None, :] - Z[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(D, np.inf)
    P = np.exp(-(D - D.min(axis=1, keepdims=True)))
    return P / P.sum(axis=1, keepdims=True)


def _nca_oracle(Z, y):
    """-sum_i p_i and its gradient with dense n x n matrices, float64."""
    Z = np.asarray(Z, dtype=np.float64)
    P = _softmax_rows(Z)
    m = (y[:, None] == y[None, :]).astype(np.float64)
    p = (P * m).sum(axis=1)
    W = P * (m - p[:, None])
    S = W + W.T
    return -p.sum(), 2.0 * (S.sum(axis=1)[:, None] * Z - S @ Z)


def _mlkr_oracle(Z, y):
    Z = np.asarray(Z, dtype=np.float64)
    P = _softmax_rows(Z)
    yhat = P @ y
    e = yhat - y
    W = P * e[:, None] * (y[None, :] - yhat[:, None])
    S = W + W.T
    return float(e @ e), -4.0 * (S.sum(axis=1)[:, None] * Z - S @ Z)


def _data(n, k, seed, scale=0.5, n_classes=3):
    rng = np.random.default_rng(seed)
    Z = rng.standard_normal((n, k)) * scale
    labels = rng.integers(0, n_classes, n)
    targets = Z[:, 0] - 0.5 * Z[:, -1] + 0.1 * rng.standard_normal(n)
    return Z, labels, targets


# n not a multiple of any tile; k = 1, 7, 17, 33, 65
SHAPES = [(2, 1), (7, 7), (97, 17), (301, 33), (230, 65), (450, 7)]


@pytest.mark.parametrize(("n", "k"), SHAPES)
def test_nca_matches_sklearn_objective_and_gradient(n, k):
    pytest.importorskip("sklearn")
    from sklearn.neighbors import NeighborhoodComponentsAnalysis

    rng = np.random.default_rng(n + k)
    d = k + 3
    X = rng.standard_normal((n, d))
    y = rng.integers(0, 3, n)
    L = rng.standard_normal((k, d)) * (0.6 / np.sqrt(d))
    sk = NeighborhoodComponentsAnalysis()
    sk.n_iter_ = 1  # skip its verbose header
    ref_loss, ref_grad = sk._loss_grad_lbfgs(L.ravel(), X, y[:, None] == y[None, :], sign=-1.0)
    loss, G = nca_loss(X @ L.T, y)
    assert G.shape == (n, k) and G.dtype == np.float64
    assert loss == pytest.approx(ref_loss, rel=1e-10, abs=1e-12)
    np.testing.assert_allclose(G.T @ X, ref_grad.reshape(L.shape), rtol=0, atol=1e-10 * max(1, np.abs(ref_grad).max()))


@pytest.mark.parametrize(("n", "k"), SHAPES)
@pytest.mark.parametrize("scale", [0.3, 3.0])  # broad kernel (dense mode) / peaked (sparse mode)
def test_against_float64_oracle(n, k, scale):
    Z, labels, targets = _data(n, k, seed=n * k, scale=scale)
    for fn, y, oracle in ((nca_loss, labels, _nca_oracle), (mlkr_loss, targets, _mlkr_oracle)):
        loss0, G0 = oracle(Z, y.astype(np.float64))
        loss, G = fn(Z, y)
        assert loss == pytest.approx(loss0, rel=1e-10, abs=1e-12)
        np.testing.assert_allclose(G, G0, rtol=0, atol=1e-9 * max(1.0, np.abs(G0).max()))


@pytest.mark.parametrize("fn", [nca_loss, mlkr_loss])
def test_finite_differences(fn):
    Z, labels, targets = _data(40, 5, seed=11, scale=0.7)
    y = labels if fn is nca_loss else targets
    _, G = fn(Z, y)
    h = 1e-6
    rng = np.random.default_rng(1)
    for _ in range(6):
        E = rng.standard_normal(Z.shape)
        fd = (fn(Z + h * E, y)[0] - fn(Z - h * E, y)[0]) / (2 * h)
        assert fd == pytest.approx(float((G * E).sum()), rel=1e-6, abs=1e-9)


@pytest.mark.parametrize("fn", [nca_loss, mlkr_loss])
def test_float32_stays_float32_and_is_close(fn):
    Z, labels, targets = _data(300, 12, seed=5, scale=0.4)
    y = labels if fn is nca_loss else targets
    l64, G64 = fn(Z, y)
    l32, G32 = fn(Z.astype(np.float32), y)
    assert G32.dtype == np.float32 and G32.shape == Z.shape
    assert l32 == pytest.approx(l64, rel=1e-4)
    assert np.abs(G32 - G64).max() <= 1e-3 * np.abs(G64).max()


@pytest.mark.parametrize("fn", [nca_loss, mlkr_loss])
def test_views_fortran_order_and_int_input(fn):
    Z, labels, targets = _data(201, 9, seed=6)
    y = labels if fn is nca_loss else targets
    big = np.zeros((2 * Z.shape[0], Z.shape[1] + 1))
    big[::2, 1:] = Z
    base = big[::2, 1:]  # a strided view holding Z
    ref = fn(np.ascontiguousarray(Z), y)
    for Zv in (base, np.asfortranarray(Z), Z[:, ::-1][:, ::-1]):
        loss, G = fn(Zv, y)
        assert loss == ref[0]
        assert np.array_equal(G, ref[1])
    Zi = np.rint(Z * 3).astype(np.int32)
    loss, G = fn(Zi, y)
    assert G.dtype == np.float64
    assert loss == fn(Zi.astype(np.float64), y)[0]


def test_nca_labels_of_any_type():
    Z, labels, _ = _data(60, 4, seed=7)
    names = np.array(["cat", "dog", "emu"])[labels]
    assert nca_loss(Z, names)[0] == nca_loss(Z, labels)[0]
    # the loss is minus the expected leave-one-out hits of the stochastic rule: within [-n, 0]
    loss = nca_loss(Z, labels)[0]
    assert -60 <= loss <= 0


@pytest.mark.parametrize("fn", [nca_loss, mlkr_loss])
@pytest.mark.parametrize("scale", [0.3, 3.0])
def test_bitwise_identical_across_threads(fn, scale):
    Z, labels, targets = _data(900, 10, seed=8, scale=scale)
    y = labels if fn is nca_loss else targets
    ref = fn(Z, y, n_threads=1)
    for nt in (2, 3, 4):
        loss, G = fn(Z, y, n_threads=nt)
        assert loss == ref[0]
        assert np.array_equal(G, ref[1])


@pytest.mark.parametrize("objective", ["nca", "mlkr"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_dense_and_sparse_modes_agree(objective, dtype):
    for scale in (0.3, 1.0, 3.0):
        Z, labels, targets = _data(500, 8, seed=9, scale=scale)
        y = (labels if objective == "nca" else targets).astype(np.float64)
        Z = Z.astype(dtype)
        sweep = _core.PairSweep(y, objective, tile=48)
        out = {}
        for mode in ("dense", "sparse"):
            out[mode] = sweep.evaluate(Z, 2, True, mode)
            assert sweep.last_mode == mode
        tol = 1e-9 if dtype == np.float64 else 1e-3
        (ld, Gd, pd), (ls, Gs, ps) = out["dense"], out["sparse"]
        assert ls == pytest.approx(ld, rel=tol, abs=tol)
        assert np.abs(Gs - Gd).max() <= tol * max(1.0, np.abs(Gd).max())
        assert np.abs(ps - pd).max() <= tol


def test_bad_input():
    Z, labels, targets = _data(10, 3, seed=10)
    for fn, y in ((nca_loss, labels), (mlkr_loss, targets)):
        with pytest.raises(ValueError, match=r"2-D"):
            fn(Z[:, 0], y)
        with pytest.raises(ValueError, match=r"9 entries but Z has 10 rows"):
            fn(Z, y[:-1])
        with pytest.raises(ValueError, match=r"1-D"):
            fn(Z, y[:, None])
        with pytest.raises(ValueError, match="NaN"):
            fn(np.where(Z > 0, np.nan, Z), y)
        with pytest.raises(ValueError, match="infinity"):
            fn(np.where(Z > 0, np.inf, Z), y)
        with pytest.raises(ValueError, match=r"at least 2 rows"):
            fn(Z[:1], y[:1])
        with pytest.raises(ValueError, match=r"at least 2 rows"):
            fn(Z[:0], y[:0])
        with pytest.raises(ValueError, match="0 features"):
            fn(np.empty((10, 0)), y)
        with pytest.raises(ValueError, match="n_threads"):
            fn(Z, y, n_threads=0)
        with pytest.raises(TypeError, match="dtype"):
            fn(Z.astype(object), y)
        with pytest.raises(TypeError, match="complex"):
            fn(Z.astype(complex), y)
    with pytest.raises(ValueError, match="NaN"):
        mlkr_loss(Z, np.where(np.arange(10) == 3, np.nan, targets))
    with pytest.raises(ValueError, match="NaN"):
        nca_loss(Z, np.where(np.arange(10) == 3, np.nan, labels))
    with pytest.raises(TypeError, match="real numbers"):
        mlkr_loss(Z, np.array(["a"] * 10))
    with pytest.raises(ValueError, match="rows"):
        _core.PairSweep(targets, "mlkr").evaluate(np.ones((9, 2)))
    with pytest.raises(ValueError, match="objective"):
        _core.PairSweep(targets, "lmnn")


def test_exported():
    assert fastmetric.losses.nca_loss is nca_loss
    assert "losses" in fastmetric.__all__
