"""Kernel matrices against scikit-learn for every kernel x dtype x ISA, plus Gram-matrix properties."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import fastmetric as fm
from conftest import DIMS_SHORT, atol_for

skp = pytest.importorskip("sklearn.metrics.pairwise")

KERNELS = [
    ("linear", {}),
    ("polynomial", {}),
    ("polynomial", {"degree": 2, "gamma": 0.3, "coef0": 0.5}),
    ("polynomial", {"degree": 0}),
    ("rbf", {}),
    ("rbf", {"gamma": 2.5}),
    ("laplacian", {}),
    ("sigmoid", {}),
    ("sigmoid", {"gamma": 0.7, "coef0": -0.3}),
    ("cosine", {}),
    ("chi2", {}),
    ("chi2", {"gamma": 0.2}),
    ("additive_chi2", {}),
]
IDS = [f"{k}-{'-'.join(f'{a}{b}' for a, b in kw.items())}" for k, kw in KERNELS]


def _tol(dtype, d):
    # kernel values are O(1) (or scaled by |x||y| for linear/polynomial): relative + small absolute
    return (1e-5, atol_for(dtype, d)) if dtype == np.float32 else (1e-12, 1e-14 * max(1.0, d))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("kernel", "kw"), KERNELS, ids=IDS)
def test_matches_sklearn(isa, rng, kernel, kw, dtype):
    for d in DIMS_SHORT + (128,):
        X = rng.random((23, d)).astype(dtype)  # non-negative: valid for the chi2 kernels too
        Y = rng.random((31, d)).astype(dtype)
        if kernel not in ("chi2", "additive_chi2"):
            X -= dtype(0.5)
            Y -= dtype(0.5)
        rtol, atol = _tol(dtype, d)
        for YY in (Y, None):
            ref = skp.pairwise_kernels(
                X.astype(np.float64), None if YY is None else YY.astype(np.float64), metric=kernel, **kw
            )
            got = fm.pairwise_kernels(X, YY, metric=kernel, **kw)
            assert got.dtype == dtype
            np.testing.assert_allclose(got, ref, rtol=rtol, atol=atol * max(1.0, np.abs(ref).max()))
            if YY is None:
                assert np.array_equal(got, got.T)


def test_named_functions_and_defaults(rng):
    X = rng.standard_normal((30, 6))
    Y = rng.standard_normal((20, 6))
    pairs = [
        (fm.linear_kernel, skp.linear_kernel, {}),
        (fm.polynomial_kernel, skp.polynomial_kernel, {"degree": 4}),
        (fm.rbf_kernel, skp.rbf_kernel, {"gamma": 0.2}),
        (fm.laplacian_kernel, skp.laplacian_kernel, {}),
        (fm.sigmoid_kernel, skp.sigmoid_kernel, {"coef0": 0.0}),
        (fm.cosine_similarity, skp.cosine_similarity, {}),
    ]
    for ours, theirs, kw in pairs:
        np.testing.assert_allclose(ours(X, Y, **kw), theirs(X, Y, **kw), rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(ours(X, **kw), theirs(X, **kw), rtol=1e-12, atol=1e-14)
    P = np.abs(X)
    np.testing.assert_allclose(fm.chi2_kernel(P, gamma=0.5), skp.chi2_kernel(P, gamma=0.5), rtol=1e-12)
    np.testing.assert_allclose(
        fm.additive_chi2_kernel(P, np.abs(Y)), skp.additive_chi2_kernel(P, np.abs(Y)), rtol=1e-12
    )
    # the default of pairwise_kernels is scikit-learn's: linear
    np.testing.assert_allclose(fm.pairwise_kernels(X, Y), skp.pairwise_kernels(X, Y), rtol=1e-12)


def test_rbf_and_laplacian_in_a_learned_metric(rng):
    X = rng.standard_normal((40, 9))
    Y = rng.standard_normal((25, 9))
    L = rng.standard_normal((5, 9)) * 0.3
    ref = skp.rbf_kernel(X @ L.T, Y @ L.T, gamma=0.7)
    np.testing.assert_allclose(fm.rbf_kernel(X, Y, gamma=0.7, L=L), ref, rtol=1e-11, atol=1e-15)
    np.testing.assert_allclose(fm.rbf_kernel(X, Y, gamma=0.7, VI=L.T @ L), ref, rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(
        fm.rbf_kernel(X.astype(np.float32), Y.astype(np.float32), gamma=0.7, L=L), ref, rtol=1e-5, atol=1e-6
    )
    ref_l = skp.laplacian_kernel(X @ L.T, Y @ L.T, gamma=0.3)
    np.testing.assert_allclose(fm.laplacian_kernel(X, Y, gamma=0.3, L=L), ref_l, rtol=1e-11, atol=1e-15)
    # symmetric form: exact ones on the diagonal, exactly symmetric
    K = fm.rbf_kernel(X, L=L)
    assert np.all(np.diag(K) == 1.0) and np.array_equal(K, K.T)


def test_float32_rbf_on_offset_near_duplicates():
    # exp(-g d^2) inherits the BLAS trick's cancellation; the engine's exact recompute keeps 1e-5
    rng = np.random.default_rng(0)
    X = (100 + rng.standard_normal((500, 64))).astype(np.float32)
    Y = (X + 0.01 * rng.standard_normal(X.shape)).astype(np.float32)
    for gamma in (1.0, 30.0, 1.0 / 64):
        ref = skp.rbf_kernel(X.astype(np.float64), Y.astype(np.float64), gamma=gamma)
        got = fm.rbf_kernel(X, Y, gamma=gamma)
        # exp(-x) amplifies a relative error of x by x itself: the 1e-5 contract holds where
        # x = gamma*d^2 <= 20; beyond, the bound grows as 1e-5 * x / 20 (float32 rounding of x alone
        # contributes x * 6e-8)
        x = -np.log(np.maximum(ref, 1e-300))
        rel = np.abs(got - ref) / np.maximum(ref, 1e-300)
        mask = x <= 20
        assert np.max(rel[mask]) <= 1e-5
        tail = (~mask) & (ref > 1e-37)
        assert np.all(rel[tail] <= 1e-5 * x[tail] / 20)


def test_underflow_and_overflow_like_sklearn():
    X = np.array([[0.0, 0.0], [100.0, 100.0]])
    for dtype in (np.float32, np.float64):
        K = fm.rbf_kernel(X.astype(dtype), gamma=10.0)
        assert K[0, 1] == 0.0 and K[0, 0] == 1.0 and not np.isnan(K).any()
        # subnormal results are produced, not flushed (values near the float64 limit)
    Kd = fm.rbf_kernel(np.array([[0.0], [26.0]]), gamma=1.0)
    np.testing.assert_allclose(Kd[0, 1], np.exp(-676.0), rtol=1e-12)
    Kp = fm.polynomial_kernel(np.full((2, 3), 1e3), degree=50, gamma=1.0)
    assert np.isinf(Kp).all() and not np.isnan(Kp).any()
    Kp32 = fm.polynomial_kernel(np.full((2, 3), 1e3, np.float32), degree=20, gamma=1.0)
    assert np.isinf(Kp32).all()
    np.testing.assert_array_equal(fm.sigmoid_kernel(np.full((2, 3), 1e3), gamma=1.0), 1.0)


def test_center_kernel_matches_sklearn(rng):
    KernelCenterer = pytest.importorskip("sklearn.preprocessing").KernelCenterer
    X = rng.standard_normal((30, 5))
    Xt = rng.standard_normal((12, 5))
    K = fm.rbf_kernel(X)
    Kt = fm.rbf_kernel(Xt, X)
    kc = KernelCenterer().fit(K)
    np.testing.assert_allclose(fm.center_kernel(K), kc.transform(K), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(fm.center_kernel(Kt, K), kc.transform(Kt), rtol=1e-12, atol=1e-14)
    K2 = K.copy()
    r = fm.center_kernel(K2, copy=False)
    assert r is K2
    np.testing.assert_allclose(K2, kc.transform(K), rtol=1e-12, atol=1e-14)
    K32 = K.astype(np.float32)
    assert fm.center_kernel(K32).dtype == np.float32
    with pytest.raises(ValueError, match="square"):
        fm.center_kernel(Kt)
    with pytest.raises(ValueError, match="columns"):
        fm.center_kernel(Kt.T, K)


def test_empty_and_out(rng):
    assert fm.rbf_kernel(np.zeros((0, 3)), np.ones((4, 3))).shape == (0, 4)
    assert fm.linear_kernel(np.zeros((0, 3))).shape == (0, 0)
    X = rng.standard_normal((10, 4)).astype(np.float32)
    out = np.empty((10, 10), np.float32)
    assert fm.rbf_kernel(X, out=out) is out
    np.testing.assert_allclose(out, skp.rbf_kernel(X.astype(np.float64)), rtol=1e-5)


BAD = [
    (lambda: fm.rbf_kernel(np.ones((2, 2)), gamma=-1.0), ValueError, "gamma"),
    (lambda: fm.rbf_kernel(np.ones((2, 2)), gamma=np.nan), ValueError, "gamma"),
    (lambda: fm.rbf_kernel(np.ones((2, 2)), gamma=np.inf), ValueError, "gamma"),
    (lambda: fm.rbf_kernel(np.ones((2, 2)), gamma="a"), TypeError, "gamma"),
    (lambda: fm.polynomial_kernel(np.ones((2, 2)), degree=-1), ValueError, "degree"),
    (lambda: fm.polynomial_kernel(np.array([[1.0, 0.0], [-1.0, 0.0]]), degree=2.5, coef0=0), ValueError, "degree"),
    (lambda: fm.chi2_kernel(-np.ones((2, 2))), ValueError, "non-negative"),
    (lambda: fm.additive_chi2_kernel(np.ones((2, 2)), -np.ones((2, 2))), ValueError, "non-negative"),
    (lambda: fm.rbf_kernel(np.ones((2, 2)), L=np.ones((3, 3))), ValueError, r"\(k, 2\)"),
    (lambda: fm.rbf_kernel(np.ones((2, 2)), VI=np.ones((3, 3))), ValueError, r"\(2, 2\)"),
    (lambda: fm.rbf_kernel(np.ones((2, 2)), VI=-np.eye(2)), ValueError, "semi-definite"),
    (lambda: fm.rbf_kernel(np.ones((2, 2)), np.ones((2, 3))), ValueError, r"\(2, 2\).*\(2, 3\)"),
    (lambda: fm.rbf_kernel(np.array([[np.nan, 1.0]])), ValueError, "NaN"),
    (lambda: fm.pairwise_kernels(np.ones((2, 2)), metric="nope"), ValueError, "unknown kernel"),
    (lambda: fm.pairwise_kernels(np.ones((2, 2)), metric="linear", gamma=1.0), TypeError, "unexpected"),
    (lambda: fm.linear_kernel(np.ones(3)), ValueError, "2-D"),
]


@pytest.mark.parametrize(("call", "exc", "match"), BAD, ids=[str(i) for i in range(len(BAD))])
def test_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_filter_params():
    X = np.ones((3, 2))
    np.testing.assert_array_equal(fm.pairwise_kernels(X, metric="linear", gamma=1.0, filter_params=True), X @ X.T)


gram_inputs = st.integers(2, 25).flatmap(
    lambda n: st.integers(1, 8).flatmap(
        lambda d: arrays(np.float64, (n, d), elements=st.floats(-10, 10, allow_nan=False, width=64))
    )
)


@settings(max_examples=40, deadline=None)
@given(
    X=gram_inputs,
    kernel=st.sampled_from(["rbf", "laplacian", "linear", "polynomial"]),
    dtype=st.sampled_from([np.float32, np.float64]),
)
def test_gram_matrices_are_symmetric_psd(X, kernel, dtype):
    Xd = X.astype(dtype)
    kw = {"gamma": 0.1} if kernel in ("rbf", "laplacian") else {}
    if kernel == "polynomial":
        kw = {"degree": 2, "gamma": 0.05, "coef0": 1.0}
    K = fm.pairwise_kernels(Xd, metric=kernel, **kw)
    assert np.array_equal(K, K.T)
    if kernel in ("rbf", "laplacian"):
        assert np.all(np.diag(K) == 1.0)
        assert np.all((K >= 0) & (K <= 1))
    K64 = K.astype(np.float64)
    scale = max(1.0, float(np.abs(K64).max()))
    eps = 1e-5 if dtype == np.float32 else 1e-10
    assert np.linalg.eigvalsh(K64).min() >= -eps * scale * len(K)
