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
        (np.full(37, np.nan), ValueError, "NaN or infinity"),
        (np.zeros(37), ValueError, "zero for every"),
        (np.array(["a"] * 37), TypeError, "real numeric"),
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


def _lmnn_problem(weights):
    from fastmetric import _core

    rng = np.random.default_rng(5)
    n, d = 40, 4
    X = rng.normal(size=(n, d))
    y = np.repeat([0, 1], n // 2)
    targets = np.array([[(i + 1) % 20 + 20 * (i // 20), (i + 2) % 20 + 20 * (i // 20)] for i in range(n)], np.int64)
    prob = _core.LmnnProblem(X, targets, y.astype(np.int64), sample_weight=weights)
    rows = np.repeat(np.arange(n), n).astype(np.int64)
    hits = np.tile(np.arange(n), n).astype(np.int64)
    prob.set_hits(rows, hits)  # every pair a candidate (same-label ones dropped): the exact loss
    return X, prob


def test_weighted_lmnn_gradient_finite_differences():
    w = np.random.default_rng(1).uniform(0.2, 3.0, 40)
    X, prob = _lmnn_problem(w)
    L = np.random.default_rng(2).normal(size=(3, 4)) * 0.6

    def f(Lv):
        Z = np.ascontiguousarray(X @ Lv.T)
        return prob.loss_grad(Z, 0.5)[:2]

    loss, G = f(L)
    h = 1e-6
    for i, j in [(0, 0), (1, 3), (2, 2)]:
        Lp, Lm = L.copy(), L.copy()
        Lp[i, j] += h
        Lm[i, j] -= h
        fd = (f(Lp)[0] - f(Lm)[0]) / (2 * h)
        assert abs(fd - G[i, j]) <= 1e-5 * max(1.0, abs(fd))
    # constant weights scale the loss and the gradient; unit weights are the unweighted problem exactly
    _, p2 = _lmnn_problem(np.full(40, 2.0))
    _, p1 = _lmnn_problem(None)
    Z = np.ascontiguousarray(X @ L.T)
    l2, g2 = p2.loss_grad(Z, 0.5)[:2]
    l1, g1 = p1.loss_grad(Z, 0.5)[:2]
    assert np.isclose(l2, 2 * l1, rtol=1e-12) and np.allclose(g2, 2 * g1, rtol=1e-12, atol=1e-14)
    _, pu = _lmnn_problem(np.ones(40))
    lu, gu = pu.loss_grad(Z, 0.5)[:2]
    assert lu == l1 and np.array_equal(gu, g1)


def test_lmnn_and_kernel_learners_take_class_weight():
    from fastmetric.learn import LMNN, KernelNCA

    rng = np.random.default_rng(4)
    X = rng.normal(size=(80, 3))
    y = np.array([0] * 60 + [1] * 20)
    X[y == 1] += 1.0
    a = LMNN(n_neighbors=2, max_iter=10, class_weight="balanced").fit(X, y)
    b = LMNN(n_neighbors=2, max_iter=10).fit(X, y)
    assert not np.allclose(a.components_, b.components_)
    c = LMNN(n_neighbors=2, max_iter=10, class_weight={0: 80 / 120, 1: 80 / 40}).fit(X, y)
    np.testing.assert_allclose(a.components_, c.components_, rtol=1e-12, atol=1e-14)
    with pytest.raises(ValueError, match="not a class"):
        LMNN(max_iter=2, class_weight={7: 1.0}).fit(X, y)
    k1 = KernelNCA(n_components=2, max_iter=5, class_weight="balanced", random_state=0).fit(X, y)
    k0 = KernelNCA(n_components=2, max_iter=5, random_state=0).fit(X, y)
    assert not np.allclose(k1.components_, k0.components_)
