"""The plain fast path (_core.plain_pairwise / plain_kneighbors): native float ndarrays, no out= and
no metric parameters are checked and computed in one C++ call. It must give exactly what the full
Python path gives, fall back to that path for everything else (so the error messages stay), and keep
every check: dtype, shape, strides, aliasing, the finite scan."""

import numpy as np
import pytest
from scipy.spatial import distance as sd
from sklearn.metrics.pairwise import rbf_kernel as sk_rbf

import fastmetric as fm
from conftest import DIMS_SHORT, assert_close, atol_for
from fastmetric import _core

NAN = float("nan")
PLAIN = ["euclidean", "sqeuclidean", "cityblock", "chebyshev", "cosine", "correlation"]


def _full(fn, *args, **kwargs):
    """The same call through the full Python path (a negative n_threads is resolved in Python)."""
    return fn(*args, n_threads=-1, **kwargs)


def _layouts(A):
    """A as C-ordered, Fortran-ordered, a strided view, a negative-stride view and read-only."""
    big = np.empty((A.shape[0] * 2, A.shape[1] * 3), A.dtype)
    big[::2, ::3] = A
    ro = A.copy()
    ro.flags.writeable = False
    return [A, np.asfortranarray(A), big[::2, ::3], A[::-1][::-1], ro]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("d", DIMS_SHORT)
@pytest.mark.parametrize("metric", PLAIN)
def test_cdist_fast_path_matches_scipy_and_full_path(rng, metric, d, dtype):
    X = rng.standard_normal((13, d)).astype(dtype)
    Y = rng.standard_normal((7, d)).astype(dtype)
    D = fm.cdist(X, Y, metric)
    ref = sd.cdist(X.astype(np.float64), Y.astype(np.float64), metric)
    assert D.dtype == dtype and D.shape == (13, 7) and D.flags.c_contiguous
    if metric == "correlation" and d == 1:  # every row is constant: distance 1 here, NaN in scipy
        assert (D == 1).all()
    elif metric in ("cosine", "correlation"):
        assert_close(D, ref, dtype, d, atol=atol_for(dtype, d), rtol=0)
    else:
        assert_close(D, ref, dtype, d, atol=1e-300)
    np.testing.assert_array_equal(D, _full(fm.cdist, X, Y, metric))
    P = fm.pdist(X, metric)
    np.testing.assert_array_equal(P, _full(fm.pdist, X, metric))
    full = _full(fm.pairwise_distances, X, metric=metric)
    np.testing.assert_array_equal(fm.pairwise_distances(X, metric=metric), full)
    np.testing.assert_array_equal(fm.pairwise_distances(X, Y, metric=metric), D)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_every_layout_gives_the_same_bits(rng, dtype):
    X = rng.standard_normal((11, 9)).astype(dtype)
    Y = rng.standard_normal((6, 9)).astype(dtype)
    D = fm.cdist(X, Y)
    K = fm.rbf_kernel(X, Y)
    dist, ind = fm.kneighbors(X, Y, 3)
    for A in _layouts(X):
        for B in _layouts(Y):
            np.testing.assert_array_equal(fm.cdist(A, B), D)
            np.testing.assert_array_equal(fm.rbf_kernel(A, B), K)
            da, ia = fm.kneighbors(A, B, 3)
            np.testing.assert_array_equal(da, dist)
            np.testing.assert_array_equal(ia, ind)


def test_same_memory_is_the_symmetric_problem(rng):
    X = rng.standard_normal((10, 8))
    for Y in (X, X.view(), X[:]):
        D = fm.cdist(X, Y)
        assert (np.diag(D) == 0).all()
        np.testing.assert_array_equal(D, D.T)
        K = fm.rbf_kernel(X, Y)
        assert (np.diag(K) == 1).all()
    np.testing.assert_array_equal(fm.cdist(X, X), fm.squareform(fm.pdist(X)))
    # an overlapping but different view is not the same array
    D = fm.cdist(X[1:], X[:-1])
    np.testing.assert_allclose(D, sd.cdist(X[1:], X[:-1]), rtol=1e-12)


@pytest.mark.parametrize("d", DIMS_SHORT)
def test_rbf_and_kernels_fast_path(rng, d):
    X = rng.standard_normal((9, d))
    Y = rng.standard_normal((5, d))
    for gamma in (None, 0.0, 0.3):
        K = fm.rbf_kernel(X, Y, gamma=gamma)
        np.testing.assert_allclose(K, sk_rbf(X, Y, gamma=gamma), rtol=0, atol=atol_for(np.float64, d))
        np.testing.assert_array_equal(K, _full(fm.rbf_kernel, X, Y, gamma=gamma))
    for fn in (fm.linear_kernel, fm.polynomial_kernel, fm.sigmoid_kernel, fm.cosine_similarity, fm.laplacian_kernel):
        np.testing.assert_array_equal(fn(X, Y), _full(fn, X, Y))
        np.testing.assert_array_equal(fn(X), _full(fn, X))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("d", DIMS_SHORT)
def test_kneighbors_fast_path(rng, d, dtype):
    X = rng.standard_normal((12, d)).astype(dtype)
    Y = rng.standard_normal((20, d)).astype(dtype)
    dist, ind = fm.kneighbors(X, Y, 3)
    ref = sd.cdist(X.astype(np.float64), Y.astype(np.float64))
    order = np.argsort(ref, axis=1, kind="stable")[:, :3]
    np.testing.assert_array_equal(ind, order)
    assert_close(dist, np.take_along_axis(ref, order, axis=1), dtype, d, atol=1e-300)
    fd, fi = _full(fm.kneighbors, X, Y, 3)
    np.testing.assert_array_equal(dist, fd)
    np.testing.assert_array_equal(ind, fi)
    np.testing.assert_array_equal(fm.kneighbors(X, Y, 3, return_distance=False), ind)
    for include_self in (False, True):  # Y=None: the queries search themselves
        a = fm.kneighbors(X, k=4, include_self=include_self)
        b = _full(fm.kneighbors, X, k=4, include_self=include_self)
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])
    a = fm.kneighbors(X, k=4)
    assert (a[1] != np.arange(12)[:, None]).all()
    sd_self = fm.kneighbors(X, X, 1)  # Y given (the same array): a point is its own nearest neighbour
    np.testing.assert_array_equal(sd_self[1][:, 0], np.arange(12))


class _Sub(np.ndarray):
    pass


def _plain(X, Y=None, metric="euclidean", condensed=False, check_finite=True):
    return _core.plain_pairwise(X, Y, metric, condensed, check_finite, NAN, 1.0, 3.0, 0)


def test_plain_pairwise_declines_what_it_does_not_check(rng):
    X = rng.standard_normal((4, 3))
    assert _plain(X, X) is not None
    declined = [
        (X.tolist(), None),  # not an ndarray
        (X.view(_Sub), None),  # a subclass
        (X.astype(np.int64), None),  # ints are converted by the full path
        (X.astype(np.float16), None),
        (X.astype(">f8"), None),  # non-native byte order
        (X, X.astype(np.float32)),  # mixed dtypes compute in float64 via the full path
        (X.astype(np.float32), X),
        (X[0], None),  # 1-D
        (X[:, :0], None),  # no features
        (X, X[:, :2]),  # feature counts differ
        (X, X.tolist()),
    ]
    for A, B in declined:
        assert _plain(A, B) is None
    packed = np.zeros(4, dtype=[("tag", "u1"), ("v", "f8", 3)])["v"]  # row stride 25 bytes
    assert packed.strides[0] % 8 and _plain(packed) is None
    np.testing.assert_array_equal(fm.cdist(packed, packed), np.zeros((4, 4)))  # full path copies it
    # whole-item strides but data one byte off alignment: the full path copies it (a typed load of a
    # misaligned double is undefined behaviour, seen by UBSan in the fast path before it declined)
    buf = np.zeros(X.nbytes + 1, dtype=np.uint8)
    unaligned = np.frombuffer(buf.data, dtype=X.dtype, count=X.size, offset=1).reshape(X.shape)
    unaligned[...] = X
    assert _plain(unaligned) is None and _plain(X, unaligned) is None
    assert _core.plain_kneighbors(unaligned, X, 2, "euclidean", False, True, 0) is None
    np.testing.assert_array_equal(fm.cdist(unaligned, X), fm.cdist(X, X))
    assert _core.plain_pairwise(X, X, "euclidean", True, True, NAN, 1.0, 3.0, 0) is None  # condensed needs Y None
    assert _core.plain_kneighbors(X, X, 5, "euclidean", False, True, 0) is None  # k > references
    assert _core.plain_kneighbors(X, None, 4, "euclidean", True, True, 0) is None  # k > other points
    assert _core.plain_kneighbors(X, None, 3, "euclidean", True, True, 0) is not None
    assert _core.plain_kneighbors(X[:0], X, 1, "euclidean", False, True, 0) is None  # no queries


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_finite_scan_in_cpp_finds_every_position(rng, dtype, bad, isa):
    X = rng.standard_normal((37, 19)).astype(dtype)
    for i, k in [(0, 0), (36, 18), (17, 5), (36, 0)]:
        A = X.copy()
        A[i, k] = bad
        for view in _layouts(A):
            assert _plain(view) is None
            assert _plain(X, view) is None
            assert _plain(view, check_finite=False) is not None
            assert _core.plain_kneighbors(X, view, 2, "euclidean", False, True, 0) is None
        with pytest.raises(ValueError, match=r"XB \(shape \(37, 19\)\) contains (NaN|infinity)"):
            fm.cdist(X, A)
        with pytest.raises(ValueError, match=r"X \(shape \(37, 19\)\) contains (NaN|infinity)"):
            fm.pdist(A)
        with pytest.raises(ValueError, match=r"Y \(shape \(37, 19\)\) contains (NaN|infinity)"):
            fm.kneighbors(X, A, 2)
        with pytest.raises(ValueError, match=r"Y \(shape \(37, 19\)\) contains (NaN|infinity)"):
            fm.rbf_kernel(X, A)
    # the largest finite values and subnormals are finite
    A = X.copy()
    A[0, 0] = np.finfo(dtype).max
    A[1, 1] = -np.finfo(dtype).max
    A[2, 2] = np.finfo(dtype).smallest_subnormal
    assert _plain(A, metric="cityblock") is not None


def test_full_path_errors_are_unchanged(rng):
    X = rng.standard_normal((4, 3))
    with pytest.raises(ValueError, match=r"XA and XB must have the same number of features"):
        fm.cdist(X, X[:, :2])
    with pytest.raises(ValueError, match=r"0 features"):
        fm.cdist(X[:, :0], X[:, :0])
    with pytest.raises(ValueError, match=r"must be a 2-D array"):
        fm.pdist(X[0])
    with pytest.raises(TypeError, match=r"complex"):
        fm.cdist(X.astype(complex), X)
    with pytest.raises(ValueError, match=r"n_threads=0"):
        fm.cdist(X, X, n_threads=0)
    with pytest.raises(ValueError, match=r"k=5 is larger than the number of references"):
        fm.kneighbors(X, X, 5)
    with pytest.raises(ValueError, match=r"unknown metric"):
        fm.cdist(X, X, "nope")
    # mixed dtypes, ints and lists still work, through the full path
    np.testing.assert_allclose(fm.cdist(X.astype(np.float32), X), sd.cdist(X.astype(np.float32), X), rtol=1e-6)
    np.testing.assert_array_equal(fm.cdist(X.tolist(), X), fm.cdist(X, X.copy()))


def test_empty_inputs(rng):
    X = rng.standard_normal((5, 3))
    assert fm.cdist(X[:0], X).shape == (0, 5)
    assert fm.cdist(X, X[:0]).shape == (5, 0)
    assert fm.pdist(X[:1]).shape == (0,)
    assert fm.pdist(X[:0]).shape == (0,)
    assert fm.pairwise_distances(X[:0]).shape == (0, 0)
    assert fm.rbf_kernel(X[:0], X).shape == (0, 5)
    d, i = fm.kneighbors(X[:0], X, 2)
    assert d.shape == (0, 2) and i.shape == (0, 2) and i.dtype == np.int64


def test_thread_count_does_not_change_the_result(rng):
    for n, m, d in [(10, 8, 8), (300, 200, 40)]:  # below and above the serial threshold
        X = rng.standard_normal((n, d))
        Y = rng.standard_normal((m, d))
        np.testing.assert_array_equal(fm.cdist(X, Y, n_threads=1), fm.cdist(X, Y, n_threads=2))
        np.testing.assert_array_equal(fm.pdist(X, n_threads=1), fm.pdist(X, n_threads=2))
        a, b = fm.kneighbors(X, Y, 3, n_threads=1), fm.kneighbors(X, Y, 3, n_threads=2)
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])


def test_large_fast_path_results_come_from_the_pool(rng):
    X = rng.standard_normal((1100, 4)).astype(np.float32)
    Y = rng.standard_normal((1000, 4)).astype(np.float32)  # 4.4 MB result: pooled
    before = fm.get_config()["output_pool"]
    D = fm.cdist(X, Y)
    del D
    D = fm.cdist(X, Y)
    after = fm.get_config()["output_pool"]
    if before["max_bytes"] > 0:
        assert after["hits"] > before["hits"]
    np.testing.assert_allclose(D[:3, :3], sd.cdist(X[:3], Y[:3]), rtol=1e-5)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_finite_scan_of_many_runs(rng, dtype, isa):
    """More rows than one early-exit chunk, in every layout; a single row or column."""
    X = rng.standard_normal((9000, 3)).astype(dtype)
    probe = X[:1]
    assert _core.plain_kneighbors(probe, X, 1, "euclidean", False, True, 0) is not None
    for i, k in [(8999, 2), (4096, 0), (0, 1)]:
        A = X.copy()
        A[i, k] = np.nan
        for view in _layouts(A) + [A[:, 1:2] if k == 1 else A[:, k : k + 1], A[i : i + 1]]:
            assert _plain(view) is None
            assert (
                _core.plain_kneighbors(
                    view[:1] if view.shape[0] > 1 else probe[:, : view.shape[1]], view, 1, "euclidean", False, True, 0
                )
                is None
            )
