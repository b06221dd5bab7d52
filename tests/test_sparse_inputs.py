"""Sparse inputs (scipy.sparse, issue 16 part 3): results equal scikit-learn's on the dense data."""

from __future__ import annotations

import numpy as np
import pytest

sp = pytest.importorskip("scipy.sparse")
skp = pytest.importorskip("sklearn.metrics.pairwise")
from sklearn.neighbors import KNeighborsTransformer as SkKNT  # noqa: E402

import fastmetric as fm  # noqa: E402

DISTANCES = ["euclidean", "sqeuclidean", "cosine", "cityblock"]
KERNELS = ["linear_kernel", "polynomial_kernel", "rbf_kernel", "sigmoid_kernel", "cosine_similarity"]
TOL = {np.float32: dict(rtol=2e-5, atol=2e-5), np.float64: dict(rtol=1e-12, atol=1e-12)}


def _rand(n, d, density, seed, dtype=np.float64, fmt="csr"):
    M = sp.random(n, d, density=density, random_state=seed, format="csr", dtype=np.float64)
    M.data = (M.data * 2 - 1).astype(dtype)  # signed values
    M = M.astype(dtype)
    if n > 2:
        M = sp.vstack([M[:1], sp.csr_matrix((1, d), dtype=dtype), M[1:]], format="csr")  # an empty row
    return M.asformat(fmt)


def _sk_dist(A, B, metric):
    A = A.toarray() if sp.issparse(A) else A
    B = None if B is None else (B.toarray() if sp.issparse(B) else B)
    return skp.pairwise_distances(A.astype(np.float64), None if B is None else B.astype(np.float64), metric=metric)


def _close(a, b, dtype):
    np.testing.assert_allclose(a, b, **TOL[dtype])


@pytest.mark.parametrize("metric", DISTANCES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
def test_pairwise_distances_match_sklearn(metric, dtype, fmt):
    X = _rand(37, 65, 0.1, 0, dtype, fmt)
    Y = _rand(23, 65, 0.2, 1, dtype, fmt)
    D = fm.pairwise_distances(X, Y, metric=metric)
    assert D.dtype == dtype and D.shape == (38, 24)
    _close(D, _sk_dist(X, Y, metric), dtype)
    S = fm.pairwise_distances(X, metric=metric)
    _close(S, _sk_dist(X, None, metric), dtype)
    assert np.all(np.diag(S) == 0)
    _close(fm.cdist(X, Y, metric), _sk_dist(X, Y, metric), dtype)


@pytest.mark.parametrize("metric", DISTANCES)
def test_mixed_sparse_dense_and_arrays(metric):
    X = _rand(17, 7, 0.4, 2)
    Yd = np.random.default_rng(3).normal(size=(9, 7))
    expect = _sk_dist(X, Yd, metric)
    _close(fm.pairwise_distances(X, Yd, metric=metric), expect, np.float64)
    _close(fm.pairwise_distances(Yd, X, metric=metric), expect.T, np.float64)
    _close(fm.pairwise_distances(sp.csr_array(X), sp.csr_array(Yd), metric=metric), expect, np.float64)
    _close(fm.pairwise_distances(X, X, metric=metric), _sk_dist(X, None, metric), np.float64)


@pytest.mark.parametrize("name", KERNELS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kernels_match_sklearn(name, dtype):
    X = _rand(33, 17, 0.3, 4, dtype)
    Y = _rand(20, 17, 0.3, 5, dtype, "csc")
    K = getattr(fm, name)(X, Y)
    assert isinstance(K, np.ndarray) and K.dtype == dtype
    ref = getattr(skp, name)(X.toarray().astype(np.float64), Y.toarray().astype(np.float64))
    _close(K, ref, dtype)
    _close(getattr(fm, name)(X), getattr(skp, name)(X.toarray().astype(np.float64)), dtype)
    _close(getattr(fm, name)(X.toarray(), Y), ref, dtype)


def test_kernel_parameters_and_pairwise_kernels():
    X, Y = _rand(12, 9, 0.4, 6), _rand(8, 9, 0.4, 7)
    Xd, Yd = X.toarray(), Y.toarray()
    _close(
        fm.polynomial_kernel(X, Y, degree=2, gamma=0.3, coef0=0.5),
        skp.polynomial_kernel(Xd, Yd, 2, 0.3, 0.5),
        np.float64,
    )
    _close(fm.rbf_kernel(X, Y, gamma=0.7), skp.rbf_kernel(Xd, Yd, gamma=0.7), np.float64)
    _close(fm.sigmoid_kernel(X, Y, gamma=0.2, coef0=-1), skp.sigmoid_kernel(Xd, Yd, 0.2, -1), np.float64)
    _close(fm.pairwise_kernels(X, Y, metric="rbf", gamma=0.1), skp.rbf_kernel(Xd, Yd, gamma=0.1), np.float64)


def test_dense_output_semantics():
    X, Y = _rand(12, 9, 0.4, 8), _rand(8, 9, 0.4, 9)
    for name in ("linear_kernel", "cosine_similarity"):
        ours = getattr(fm, name)(X, Y, dense_output=False)
        theirs = getattr(skp, name)(X, Y, dense_output=False)
        assert sp.issparse(ours) and sp.issparse(theirs)
        np.testing.assert_allclose(ours.toarray(), theirs.toarray(), rtol=1e-12, atol=1e-14)
        arr = getattr(fm, name)(sp.csr_array(X), sp.csr_array(Y), dense_output=False)
        assert isinstance(arr, sp.csr_array)
        # one dense operand: a dense result whatever dense_output says (scikit-learn's rule)
        assert isinstance(getattr(fm, name)(X, Y.toarray(), dense_output=False), np.ndarray)


def test_int_data_computes_in_float64_and_zero_matrices():
    X = sp.csr_matrix(np.array([[0, 2, 0], [1, 0, 3], [0, 0, 0]], dtype=np.int64))
    D = fm.pairwise_distances(X, metric="euclidean")
    assert D.dtype == np.float64
    _close(D, _sk_dist(X, None, "euclidean"), np.float64)
    Z = sp.csr_matrix((5, 4))
    _close(fm.pairwise_distances(Z, metric="cosine"), _sk_dist(Z, None, "cosine"), np.float64)
    _close(fm.cosine_similarity(Z), np.zeros((5, 5)), np.float64)
    _close(
        fm.pairwise_distances(Z, _rand(3, 4, 0.5, 1), metric="cityblock"),
        _sk_dist(Z, _rand(3, 4, 0.5, 1), "cityblock"),
        np.float64,
    )


def test_non_canonical_input_is_not_mutated():
    # duplicates (added) and unsorted indices within a row
    data = np.array([1.0, 2.0, 3.0, -1.0, 4.0])
    indices = np.array([2, 0, 2, 1, 0])
    indptr = np.array([0, 3, 5])
    X = sp.csr_matrix((data, indices, indptr), shape=(2, 3))
    X.has_canonical_format = False
    before = (X.data.copy(), X.indices.copy(), X.indptr.copy())
    dense = np.array([[2.0, 0, 4.0], [4.0, -1.0, 0]])
    for metric in DISTANCES:
        _close(fm.pairwise_distances(X, metric=metric), skp.pairwise_distances(dense, metric=metric), np.float64)
    _close(fm.linear_kernel(X), dense @ dense.T, np.float64)
    np.testing.assert_array_equal(X.data, before[0])
    np.testing.assert_array_equal(X.indices, before[1])
    np.testing.assert_array_equal(X.indptr, before[2])


def test_int64_indices_that_fit_and_that_do_not():
    X = _rand(10, 20, 0.3, 11)
    X64 = X.copy()
    X64.indices = X64.indices.astype(np.int64)  # scipy would pick int32 itself: force int64
    X64.indptr = X64.indptr.astype(np.int64)
    assert X64.indices.dtype == np.int64
    _close(fm.pairwise_distances(X64, metric="euclidean"), _sk_dist(X, None, "euclidean"), np.float64)
    big = sp.csr_matrix(
        (np.ones(1), np.array([2**31 + 5], dtype=np.int64), np.array([0, 1], dtype=np.int64)), shape=(1, 2**31 + 10)
    )
    assert big.indices.dtype == np.int64
    with pytest.raises(ValueError, match=r"X has shape \(1, 2147483658\).*2\^31"):
        fm.pairwise_distances(big, metric="euclidean")


def test_bad_inputs():
    X = _rand(5, 4, 0.5, 12)
    bad = X.copy()
    bad.data[0] = np.nan
    with pytest.raises(ValueError, match=r"X \(sparse, shape \(6, 4\)\) contains NaN"):
        fm.pairwise_distances(bad, metric="euclidean")
    with pytest.raises(ValueError, match=r"Y \(sparse, shape \(6, 4\)\) contains NaN"):
        fm.rbf_kernel(X, bad)
    with pytest.raises(ValueError, match=r"same number of features.*\(6, 4\).*\(4, 5\)"):
        fm.pairwise_distances(X, _rand(3, 5, 0.5, 1), metric="cosine")
    with pytest.raises(ValueError, match="does not support sparse input; supported: cityblock, cosine, euclidean"):
        fm.pairwise_distances(X, metric="chebyshev")
    with pytest.raises(ValueError, match="does not support sparse input"):
        fm.kneighbors(X, None, 2, metric="minkowski", p=3)
    with pytest.raises(ValueError, match="does not support sparse input; supported: cosine_similarity"):
        fm.laplacian_kernel(X)
    with pytest.raises(ValueError, match="k=9 is larger"):
        fm.kneighbors(X, None, 9)
    with pytest.raises(TypeError, match="complex"):
        fm.pairwise_distances(sp.csr_matrix(np.ones((2, 2), dtype=complex)))
    with pytest.raises(ValueError, match="0 features"):
        fm.pairwise_distances(sp.csr_matrix((3, 0)))


def _brute_knn(D, k):
    order = np.lexsort((np.broadcast_to(np.arange(D.shape[1]), D.shape), D), axis=1)[:, :k]
    return np.take_along_axis(D, order, axis=1), order


@pytest.mark.parametrize("metric", DISTANCES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kneighbors_vs_brute_force_with_ties(metric, dtype):
    # few features and small integer values: many exactly tied distances
    rng = np.random.default_rng(13)
    Xd = (rng.integers(0, 3, size=(41, 5)) * (rng.random((41, 5)) < 0.4)).astype(dtype)
    Yd = (rng.integers(0, 3, size=(70, 5)) * (rng.random((70, 5)) < 0.4)).astype(dtype)
    X, Y = sp.csr_matrix(Xd), sp.csc_matrix(Yd)
    D = fm.pairwise_distances(X, Y, metric=metric)
    _close(D, _sk_dist(Xd, Yd, metric), dtype)
    d, i = fm.kneighbors(X, Y, 7, metric)
    bd, bi = _brute_knn(D, 7)
    np.testing.assert_array_equal(i, bi)
    np.testing.assert_array_equal(d, bd)
    # self search excludes the point itself unless include_self
    S = fm.pairwise_distances(X, metric=metric)
    np.fill_diagonal(S, np.inf)
    d, i = fm.kneighbors(X, None, 4, metric)
    bd, bi = _brute_knn(S, 4)
    np.testing.assert_array_equal(i, bi)
    d2, i2 = fm.kneighbors(X, None, 4, metric, include_self=True)
    np.fill_diagonal(S, 0)
    bd, bi = _brute_knn(S, 4)
    np.testing.assert_array_equal(i2, bi)
    assert np.all(d2[:, 0] == 0)


@pytest.mark.parametrize("metric", ["euclidean", "cosine", "cityblock"])
def test_radius_neighbors_vs_brute_force(metric):
    X, Y = _rand(30, 12, 0.3, 14), _rand(50, 12, 0.3, 15)
    D = _sk_dist(X, Y, metric)
    r = float(np.median(D))
    dist, ind, off = fm.radius_neighbors(X, Y, r, metric, return_csr=True)
    for q in range(D.shape[0]):
        expect = np.flatnonzero(D[q] <= r)
        np.testing.assert_array_equal(ind[off[q] : off[q + 1]], expect)
        np.testing.assert_allclose(dist[off[q] : off[q + 1]], D[q, expect], rtol=1e-12, atol=1e-12)
    dists, inds = fm.radius_neighbors(X, None, r, metric, sort_results=True)
    S = _sk_dist(X, None, metric)
    for q in range(S.shape[0]):
        expect = [j for j in np.lexsort((np.arange(S.shape[1]), S[q])) if S[q, j] <= r and j != q]
        np.testing.assert_array_equal(inds[q], expect)


def test_kneighbors_transformer_matches_sklearn():
    X = _rand(60, 30, 0.2, 16)
    for mode in ("distance", "connectivity"):
        ours = fm.KNeighborsTransformer(n_neighbors=4, mode=mode, metric="euclidean").fit_transform(X)
        theirs = SkKNT(n_neighbors=4, mode=mode, metric="euclidean", algorithm="brute").fit_transform(X)
        np.testing.assert_allclose(ours.toarray(), theirs.toarray(), rtol=1e-10, atol=1e-12)


def test_thread_independence_and_tile_remainders():
    X = _rand(133, 200, 0.05, 17, np.float32)
    Y = _rand(257, 200, 0.05, 18, np.float32)
    for metric in DISTANCES:
        outs = [fm.pairwise_distances(X, Y, metric=metric, n_threads=t) for t in (1, 2, 3)]
        assert outs[0].tobytes() == outs[1].tobytes() == outs[2].tobytes()
        knn = [fm.kneighbors(X, Y, 5, metric, n_threads=t) for t in (1, 2, 3)]
        for d, i in knn[1:]:
            assert d.tobytes() == knn[0][0].tobytes() and np.array_equal(i, knn[0][1])


# ---- the dense result by tiles of references (when the queries have fewer nonzeros): the same bits
_OP_CODES = {"linear": 0, "sqeuclidean": 1, "euclidean": 2, "cosine": 3, "cityblock": 4, "polynomial": 5,
             "rbf": 6, "sigmoid": 7, "cosine_similarity": 8}


def _csr_operand(C, dtype):
    C = C.tocsr()
    C.sum_duplicates()
    return (C.indptr.astype(np.int64), C.indices.astype(np.int32), C.data.astype(dtype), C.shape[0], C.shape[1])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("op", sorted(_OP_CODES))
@pytest.mark.parametrize(("n", "m", "d"), [(1, 5, 3), (7, 33, 17), (40, 70, 65)])
def test_reference_tiles_give_the_same_bits(dtype, op, n, m, d):
    from fastmetric import _core

    X = sp.random(n, d, density=0.3, random_state=n, format="csr", dtype=np.float64)
    Y = sp.random(m, d, density=0.5, random_state=m, format="csr", dtype=np.float64)
    Y = Y.tocsr()
    Y.data -= 0.3  # signs mixed: cityblock's overlap terms differ from the products
    if m > 1:  # a cancelling pair: the exact recompute runs on both paths
        Y = sp.vstack([Y[:1], X[:1], Y[2:]]).tocsr()
    Xo, Yo = _csr_operand(X, dtype), _csr_operand(Y, dtype)
    fn = _core.sparse_pairwise_f32 if dtype == np.float32 else _core.sparse_pairwise_f64
    args = (_OP_CODES[op], 0.7, 1.0, 2.0, False)
    for nt in (1, 2, 3):
        a = np.empty((n, m), dtype)
        b = np.empty((n, m), dtype)
        fn(Xo, Yo, _csr_operand(Y.T, dtype), *args, a, False, nt, False)
        fn(Xo, Yo, _csr_operand(X.T, dtype), *args, b, False, nt, True)
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="dense outputs only"):
        fn(Xo, Yo, _csr_operand(X.T, dtype), *args, 2, False, 1, True)
