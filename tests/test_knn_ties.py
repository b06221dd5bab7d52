"""kneighbors breaks ties by the smaller index on the *reported* distance, at the k-th boundary too.

The search keeps its candidates in an internal unit (a squared, centred, rescaled distance) and
reports a finished one (sqrt, ^(1/p), the scale put back). Two internal values an ulp apart can
finish to one reported distance; the smaller index must then win even when its internal value is the
larger. The data below make such ties on purpose: integer grids (every distance a tie class) shifted
by a base that is not exact in binary, so the centred values, and the internal distances, differ in
their last bits while the finished ones coincide.

The reference is the definition: every pair's reported distance, each row ordered by (distance,
index) with a lexsort. For the boolean metrics the reported distances are fastmetric's cdist (exact
counts). The dense searches filter on the Gram expansion and recompute cancelling pairs, so their
distances may differ from cdist's by rounding (checked with a tolerance); their reported distance of
a pair is the one a search with k = all references returns (nothing is dropped there), ordered again
here with a lexsort in float64.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import fastmetric as fm

pytestmark = pytest.mark.timeout(300)


BINARY = ["hamming", "jaccard", "dice", "rogerstanimoto", "russellrao", "sokalsneath", "yule"]


def _grid(d, lo, hi):
    return np.array(list(itertools.product(range(lo, hi + 1), repeat=d)), dtype=np.float64)


def _tied_data(d, dtype, base, seed, n_query=9):
    """References: an integer grid shifted by a non-dyadic base, in a random order; queries: grid points."""
    rng = np.random.default_rng(seed)
    G = _grid(d, -3, 3) if d <= 4 else rng.integers(-3, 4, size=(3000, d)).astype(np.float64)
    shift = base * (1.0 + 0.37 * np.arange(d))
    R = (G[rng.permutation(len(G))] + shift).astype(dtype)
    Q = (G[rng.choice(len(G), n_query, replace=False)] + shift).astype(dtype)
    return Q, R


def _lexsorted(D, k):
    idx = np.arange(D.shape[1])
    order = np.array([np.lexsort((idx, row))[:k] for row in D])
    return np.take_along_axis(D, order, axis=1), order


def _reference(Q, R, k, metric, kw, self_search=False):
    """(distance, index) order of fastmetric's reported distances, the k first of each row."""
    D = fm.cdist(Q, Q if R is None else R, metric, **kw).astype(np.float64)
    if self_search:
        np.fill_diagonal(D, np.inf)
    if metric in BINARY:
        return _lexsorted(D, k)
    # the search's own distance of every pair: k = all references keeps every pair
    m = D.shape[1] - (1 if self_search else 0)
    fd, fi = fm.kneighbors(Q, R, m, metric, n_threads=1, **kw)
    S = np.full(D.shape, np.inf)
    np.put_along_axis(S, fi, fd.astype(np.float64), axis=1)
    tol = 2e-6 if Q.dtype == np.float32 else 1e-13
    np.testing.assert_allclose(S[np.isfinite(D)], D[np.isfinite(D)], rtol=tol, atol=tol)
    return _lexsorted(S, k)


def _boundary_ks(D_sorted, k_max):
    """k values at, just below and just past the ends of the tie classes of the first query row."""
    row = D_sorted[0]
    ends = [i + 1 for i in range(len(row) - 1) if row[i] != row[i + 1]]
    ks = {1, 2, 3, 63, 64, 65, 200}
    for e in ends[:6] + ends[-3:]:
        ks.update({e - 1, e, e + 1})
    return sorted(x for x in ks if 1 <= x <= k_max)


def _check(Q, R, metric, kw, ks, threads=(1, 2, 3)):
    dtype = Q.dtype
    full_d, _ = _reference(Q, R, R.shape[0], metric, kw)
    for k in ks or _boundary_ks(full_d, R.shape[0]):
        ref_d, ref_i = _reference(Q, R, k, metric, kw)
        first = None
        for nt in threads:
            dist, ind = fm.kneighbors(Q, R, k, metric, n_threads=nt, **kw)
            assert dist.dtype == dtype
            np.testing.assert_array_equal(ind, ref_i, err_msg=f"{metric} k={k} threads={nt}")
            np.testing.assert_array_equal(dist, ref_d.astype(dtype), err_msg=f"{metric} k={k} threads={nt}")
            if first is None:
                first = (dist, ind)
            else:  # identical for every thread count
                np.testing.assert_array_equal(dist, first[0])
                np.testing.assert_array_equal(ind, first[1])


DENSE = [
    ("euclidean", {}),
    ("sqeuclidean", {}),
    ("cityblock", {}),
    ("minkowski", {"p": 3}),
    ("minkowski", {"p": 1.5}),
    ("cosine", {}),
    ("chebyshev", {}),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("metric", "kw"), DENSE, ids=[f"{m}-{kw}" for m, kw in DENSE])
@pytest.mark.parametrize("base", [0.1, 1 / 3, 1000.3])
def test_grid_ties_at_the_boundary(metric, kw, dtype, base):
    Q, R = _tied_data(3, dtype, base, seed=7)  # 343 references, many exact tie classes
    _check(Q, R, metric, kw, None)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("metric", ["euclidean", "minkowski"])
def test_larger_grid_buffer_mode(metric, dtype):
    # 2401 references, k past the sorted-insertion limit (64): the buffered selection
    kw = {"p": 3} if metric == "minkowski" else {}
    Q, R = _tied_data(4, dtype, 0.1, seed=11, n_query=5)
    _check(Q, R, metric, kw, [1, 10, 65, 100, 500, 1000])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("d", [1, 7, 17])
def test_duplicates_at_offsets_from_a_non_binary_mean(dtype, d):
    # each point duplicated at several positions in Y: exact copies (ties in every unit) next to
    # permuted / sign-flipped integer offsets (ties only after finishing)
    rng = np.random.default_rng(d)
    shift = 0.1 + rng.random(d)
    offsets = rng.integers(-2, 3, size=(40, d)).astype(np.float64)
    variants = [offsets, -offsets, offsets[:, ::-1], offsets]
    R = (np.concatenate(variants)[rng.permutation(160)] + shift).astype(dtype)
    Q = (rng.integers(-1, 2, size=(6, d)) + shift).astype(dtype)
    for metric, kw in [("euclidean", {}), ("sqeuclidean", {}), ("cityblock", {}), ("minkowski", {"p": 3})]:
        _check(Q, R, metric, kw, [1, 2, 5, 17, 40, 79, 80, 81, 159, 160])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("metric", ["euclidean", "sqeuclidean", "cityblock"])
def test_self_search(metric, dtype):
    _, R = _tied_data(3, dtype, 0.1, seed=5)
    X = R[:200]
    for k in (1, 4, 6, 7, 26, 64, 65, 199):
        ref_d, ref_i = _reference(X, None, k, metric, {}, self_search=True)
        for nt in (1, 2):
            dist, ind = fm.kneighbors(X, k=k, metric=metric, n_threads=nt)
            np.testing.assert_array_equal(ind, ref_i, err_msg=f"k={k}")
            np.testing.assert_array_equal(dist, ref_d.astype(dtype), err_msg=f"k={k}")


def test_many_query_tiles_and_split_references():
    # enough queries for several row tiles (no reference split) and one query (references split
    # into parts, merged at the end): both must give the reference order
    Q, R = _tied_data(4, np.float32, 1 / 3, seed=3, n_query=300)
    for q in (Q, Q[:1]):
        for k in (1, 9, 80):
            ref_d, ref_i = _reference(q, R, k, "euclidean", {})
            for nt in (1, 2):
                dist, ind = fm.kneighbors(q, R, k, n_threads=nt)
                np.testing.assert_array_equal(ind, ref_i)
                np.testing.assert_array_equal(dist, ref_d.astype(np.float32))


def test_small_k_is_the_head_of_a_larger_k():
    Q, R = _tied_data(3, np.float32, 0.1, seed=2)
    big_d, big_i = fm.kneighbors(Q, R, 300)
    for k in (1, 5, 33, 64, 65, 150):
        dist, ind = fm.kneighbors(Q, R, k)
        np.testing.assert_array_equal(ind, big_i[:, :k])
        np.testing.assert_array_equal(dist, big_d[:, :k])


@pytest.mark.parametrize("metric", BINARY)
def test_binary_metrics_ties(metric):
    rng = np.random.default_rng(1)
    R = rng.random((300, 9)) < 0.5  # 9 bits: many exact duplicates and tied counts
    R[0] = True  # no all-zero row problems for dice / sokalsneath at the head
    Q = rng.random((7, 9)) < 0.5
    for k in (1, 2, 5, 30, 64, 65, 299):
        ref_d, ref_i = _reference(Q, R, k, metric, {})
        for nt in (1, 2):
            dist, ind = fm.kneighbors(Q, R, k, metric, n_threads=nt)
            np.testing.assert_array_equal(ind, ref_i, err_msg=f"k={k}")
            np.testing.assert_array_equal(dist, ref_d, err_msg=f"k={k}")


@pytest.mark.parametrize("metric", ["euclidean", "sqeuclidean", "cityblock", "cosine"])
def test_sparse_ties(metric):
    sp = pytest.importorskip("scipy.sparse")
    Q, R = _tied_data(3, np.float64, 0.0, seed=4)  # sparse: integer grids (zeros stay zeros)
    Rs, Qs = sp.csr_matrix(R), sp.csr_matrix(Q + 0.5)
    ref_full = fm.cdist(Qs.toarray(), R, metric)
    for k in (1, 7, 27, 65):
        dist, ind = fm.kneighbors(Qs, Rs, k, metric)
        # the sparse path's reported distances are its own: order them by (distance, index)
        order = np.lexsort((ind, dist), axis=1)
        np.testing.assert_array_equal(np.take_along_axis(ind, order, 1), ind)
        np.testing.assert_allclose(dist, np.take_along_axis(ref_full, ind, 1), rtol=1e-12, atol=1e-12)


def test_merge_kneighbors_breaks_ties_by_index():
    d1 = np.array([[1.0, 2.0, 2.0]])
    i1 = np.array([[4, 6, 9]])
    d2 = np.array([[2.0, 2.0]])
    i2 = np.array([[1, 7]])
    dist, ind = fm.merge_kneighbors((d1, i1), (d2, i2), 3)
    np.testing.assert_array_equal(ind, [[4, 1, 6]])
    np.testing.assert_array_equal(dist, [[1.0, 2.0, 2.0]])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dask_kneighbors_equals_in_memory_on_ties(dtype):
    da = pytest.importorskip("dask.array")
    dask = pytest.importorskip("dask")
    fmd = pytest.importorskip("fastmetric.dask")
    Q, R = _tied_data(3, dtype, 0.1, seed=9, n_query=40)
    Qd = da.from_array(Q, chunks=((7, 13, 20), 3))
    Rd = da.from_array(R, chunks=((50, 113, 1, 179), 3))
    with dask.config.set(scheduler="threads", num_workers=2):
        for k in (1, 6, 7, 33, 65):
            dist, ind = dask.compute(*fmd.kneighbors(Qd, Rd, k=k))
            ref_d, ref_i = fm.kneighbors(Q, R, k)
            np.testing.assert_array_equal(ind, ref_i, err_msg=f"k={k}")
            np.testing.assert_array_equal(dist, ref_d, err_msg=f"k={k}")
            oracle_d, oracle_i = _reference(Q, R, k, "euclidean", {})
            np.testing.assert_array_equal(ind, oracle_i)
            dist, ind = dask.compute(*fmd.kneighbors(Rd, k=k))  # Y=None: self search
            ref_d, ref_i = fm.kneighbors(R, k=k)
            np.testing.assert_array_equal(ind, ref_i, err_msg=f"self k={k}")
            np.testing.assert_array_equal(dist, ref_d, err_msg=f"self k={k}")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("metric", "kw"), DENSE, ids=[f"{m}-{kw}" for m, kw in DENSE])
def test_radius_boundary_on_the_reported_distance(metric, kw, dtype):
    # a radius equal to a tie class's reported distance keeps the whole class (also the members whose
    # value in the search's units is an ulp above the rounded inverse of the radius), sorted by
    # (distance, index); the membership test is on the reported distance
    Q, R = _tied_data(3, dtype, 0.1, seed=7)
    full_d, full_i = fm.kneighbors(Q, R, R.shape[0], metric, n_threads=1, **kw)
    for radius in np.unique(full_d[0])[:8].tolist() + [2.0, 3.0]:
        dist, ind = fm.radius_neighbors(Q, R, radius, metric, sort_results=True, **kw)
        for q in range(Q.shape[0]):
            keep = full_d[q] <= dtype(radius)
            np.testing.assert_array_equal(ind[q], full_i[q][keep], err_msg=f"radius={radius!r} query {q}")
            np.testing.assert_array_equal(dist[q], full_d[q][keep])
