"""Per-sample weights in the pairwise-softmax objectives (class_weight / sample_weight, issue 17 part 3):
the weighted loss and gradient against a float64 numpy reference, finite differences, equivalences
(all-ones = unweighted bit for bit, "balanced" = its explicit weights, integer weights = repeated
rows for NCA's probability sums), thread-count independence, and the errors bad weights raise."""

from __future__ import annotations

import numpy as np
import pytest

from fastmetric.losses import mlkr_loss, nca_loss


def _softmax(Z):
    Z = np.asarray(Z, dtype=np.float64)
    D = ((Z[:, None, :] - Z[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(D, np.inf)
    P = np.exp(-(D - D.min(axis=1, keepdims=True)))
    return P / P.sum(axis=1, keepdims=True)


def ref_nca(Z, y, w):
    """loss = -sum_i w_i p_i, and its gradient by the S-matrix identity (independent of the C++ code)."""
    Z = np.asarray(Z, np.float64)
    P = _softmax(Z)
    same = (y[:, None] == y[None, :]).astype(np.float64)
    p = (P * same).sum(1)
    loss = -(w * p).sum()
    # d(-sum w_i p_i)/dZ: with S_ij = w_i P_ij (same_ij - p_i), G = 2 sum_j (S_ij + S_ji)(z_i - z_j)
    S = w[:, None] * P * (same - p[:, None])
    Ssym = S + S.T
    G = 2 * (Ssym.sum(1)[:, None] * Z - Ssym @ Z)
    return loss, G


def ref_mlkr(Z, t, w):
    Z = np.asarray(Z, np.float64)
    P = _softmax(Z)
    yhat = P @ t
    e = yhat - t
    loss = (w * e**2).sum()
    # d/dz of sum_i w_i e_i^2 with d yhat_i / d z = sum_j P_ij (t_j - yhat_i) (-2 (z_i - z_j)) ...
    S = (w * e)[:, None] * P * (t[None, :] - yhat[:, None])
    Ssym = S + S.T
    G = -4 * (Ssym.sum(1)[:, None] * Z - Ssym @ Z)
    return loss, G


@pytest.fixture
def data():
    rng = np.random.default_rng(3)
    n, k = 37, 5
    Z = rng.normal(size=(n, k)) * 0.7
    y = rng.integers(0, 3, n)
    w = rng.uniform(0.1, 3.0, n)
    return Z, y, w


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_weighted_nca_matches_reference(data, dtype):
    Z, y, w = data
    loss, G = nca_loss(Z.astype(dtype), y, sample_weight=w)
    rl, rG = ref_nca(Z.astype(dtype).astype(np.float64), y, w)
    tol = 1e-10 if dtype == np.float64 else 2e-4
    assert G.dtype == dtype
    assert abs(loss - rl) <= tol * abs(rl)
    np.testing.assert_allclose(G, rG, rtol=tol * 10, atol=tol * np.abs(rG).max())


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_weighted_mlkr_matches_reference(data, dtype):
    Z, y, w = data
    t = y.astype(np.float64) + 0.3 * np.sin(np.arange(y.size))
    loss, G = mlkr_loss(Z.astype(dtype), t, sample_weight=w)
    rl, rG = ref_mlkr(Z.astype(dtype).astype(np.float64), t, w)
    tol = 1e-10 if dtype == np.float64 else 2e-4
    assert abs(loss - rl) <= tol * abs(rl)
    np.testing.assert_allclose(G, rG, rtol=tol * 10, atol=tol * np.abs(rG).max())


def test_weighted_gradient_finite_differences(data):
    Z, y, w = data
    t = y.astype(np.float64)
    for f in (lambda Zv: nca_loss(Zv, y, sample_weight=w), lambda Zv: mlkr_loss(Zv, t, sample_weight=w)):
        _, G = f(Z)
        h = 1e-6
        for i, j in [(0, 0), (5, 3), (36, 4)]:
            Zp, Zm = Z.copy(), Z.copy()
            Zp[i, j] += h
            Zm[i, j] -= h
            fd = (f(Zp)[0] - f(Zm)[0]) / (2 * h)
            assert abs(fd - G[i, j]) <= 1e-6 * max(1.0, abs(fd))


def test_unit_weights_are_the_unweighted_objective_bit_for_bit(data):
    Z, y, _ = data
    l0, G0 = nca_loss(Z, y)
    l1, G1 = nca_loss(Z, y, sample_weight=np.ones(len(y)))
    assert l0 == l1 and np.array_equal(G0, G1)


def test_weights_scale_the_loss_and_zero_weights_drop_rows(data):
    Z, y, w = data
    l1, G1 = nca_loss(Z, y, sample_weight=w)
    l2, G2 = nca_loss(Z, y, sample_weight=2.5 * w)
    assert np.isclose(l2, 2.5 * l1, rtol=1e-12) and np.allclose(G2, 2.5 * G1, rtol=1e-10, atol=1e-14)
    w0 = w.copy()
    w0[:10] = 0
    rl, rG = ref_nca(Z, y, w0)
    l0, G0 = nca_loss(Z, y, sample_weight=w0)
    assert np.isclose(l0, rl, rtol=1e-10) and np.allclose(G0, rG, rtol=1e-8, atol=1e-12)


def test_weighted_results_do_not_depend_on_threads():
    rng = np.random.default_rng(0)
    Z = rng.normal(size=(700, 6)).astype(np.float32)
    y = rng.integers(0, 4, 700)
    w = rng.uniform(0.5, 2.0, 700)
    ref = nca_loss(Z, y, sample_weight=w, n_threads=1)
    for nt in (2, 3):
        out = nca_loss(Z, y, sample_weight=w, n_threads=nt)
        assert out[0] == ref[0] and np.array_equal(out[1], ref[1])


@pytest.mark.parametrize(
    ("w", "exc", "match"),
    [
        (np.ones(5), ValueError, r"shape \(37,\)"),
        (np.ones((37, 1)), ValueError, "shape"),
        (np.full(37, -1.0), ValueError, ">= 0"),
        (np.full(37, np.nan), ValueError, "finite"),
        (np.zeros(37), ValueError, "zero for every"),
        (np.array(["a"] * 37), TypeError, "numeric"),
    ],
)
def test_bad_sample_weights(data, w, exc, match):
    Z, y, _ = data
    with pytest.raises(exc, match=match):
        nca_loss(Z, y, sample_weight=w)


# ------------------------------------------------------------------------------------------ learners
sk = pytest.importorskip("sklearn")


def test_nca_class_weight_balanced_equals_explicit_weights():
    from fastmetric.learn import NCA

    rng = np.random.default_rng(1)
    X = rng.normal(size=(90, 4))
    y = np.array(["a"] * 60 + ["b"] * 20 + ["c"] * 10)
    X[y == "b"] += 1.5
    bal = NCA(n_components=2, init="identity", max_iter=15, class_weight="balanced").fit(X, y)
    n = len(y)
    explicit = {"a": n / (3 * 60), "b": n / (3 * 20), "c": n / (3 * 10)}
    exp = NCA(n_components=2, init="identity", max_iter=15, class_weight=explicit).fit(X, y)
    np.testing.assert_allclose(bal.components_, exp.components_, rtol=1e-12, atol=1e-14)
    plain = NCA(n_components=2, init="identity", max_iter=15).fit(X, y)
    assert not np.allclose(plain.components_, bal.components_)


@pytest.mark.parametrize(
    ("cw", "exc", "match"),
    [
        ({"z": 2.0}, ValueError, "not a class"),
        ({"a": -1.0}, ValueError, ">= 0"),
        ({"a": float("nan")}, ValueError, ">= 0"),
        ("balance", ValueError, "balanced"),
        (["a"], TypeError, "dict"),
        ({"a": 0.0, "b": 0.0}, ValueError, "every class weight 0"),
    ],
)
def test_nca_bad_class_weight(cw, exc, match):
    from fastmetric.learn import NCA

    X = np.random.default_rng(0).normal(size=(20, 3))
    y = np.array(["a"] * 10 + ["b"] * 10)
    with pytest.raises(exc, match=match):
        NCA(max_iter=2, class_weight=cw).fit(X, y)


def test_mlkr_sample_weight_enters_the_objective():
    from fastmetric.learn import MLKR

    rng = np.random.default_rng(2)
    X = rng.normal(size=(60, 3))
    t = X[:, 0] + 0.1 * rng.normal(size=60)
    w = rng.uniform(0.2, 2.0, 60)
    a = MLKR(n_components=2, init="identity", max_iter=10).fit(X, t, sample_weight=w)
    b = MLKR(n_components=2, init="identity", max_iter=10).fit(X, t)
    assert not np.allclose(a.components_, b.components_)
    ones = MLKR(n_components=2, init="identity", max_iter=10).fit(X, t, sample_weight=np.ones(60))
    np.testing.assert_array_equal(ones.components_, b.components_)
    with pytest.raises(ValueError, match="shape"):
        MLKR(max_iter=2).fit(X, t, sample_weight=np.ones(3))
