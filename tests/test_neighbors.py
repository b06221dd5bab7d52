"""Exact k-NN and radius search against brute force (scipy cdist + stable argsort)."""

import numpy as np
import pytest
from scipy.spatial import distance as sd

import fastmetric as fm

METRICS = [
    ("euclidean", {}),
    ("sqeuclidean", {}),
    ("cityblock", {}),
    ("chebyshev", {}),
    ("minkowski", {"p": 3.0}),
    ("cosine", {}),
    ("correlation", {}),
    ("seuclidean", {"V": None}),
    ("mahalanobis", {"L": None}),
]


def _kw(metric, kw, d, rng):
    kw = dict(kw)
    if metric == "seuclidean":
        kw["V"] = rng.uniform(0.5, 2.0, d)
    if metric == "mahalanobis":
        kw["L"] = rng.standard_normal((max(1, d // 2), d))
    return kw


def _brute(X, Y, metric, kw, k, exclude_self=False):
    skw = dict(kw)
    if metric == "mahalanobis":
        L = skw.pop("L")
        D = sd.cdist(X.astype(np.float64) @ L.T, Y.astype(np.float64) @ L.T)
    else:
        D = sd.cdist(X.astype(np.float64), Y.astype(np.float64), metric, **skw)
    if exclude_self:
        np.fill_diagonal(D, np.inf)
    idx = np.argsort(D, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(D, idx, axis=1), idx, D


def _check(dist, ind, ref_d, ref_i, D, dtype):
    assert ind.dtype == np.int64 and dist.dtype == dtype
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    scale = max(1.0, float(np.abs(ref_d).max()))
    # distances reported are the true distances of the reported indices
    true_of_reported = np.take_along_axis(D, ind, axis=1)
    np.testing.assert_allclose(dist, true_of_reported, rtol=rtol, atol=rtol * scale * 1e-3)
    # the k-th distances agree; identical index sets except where rounding makes candidates tie
    np.testing.assert_allclose(dist, ref_d, rtol=rtol, atol=rtol * scale * 1e-3)
    mismatch = ind != ref_i
    if dtype == np.float64:
        assert not mismatch.any()
    else:
        assert np.all(np.abs(true_of_reported[mismatch] - ref_d[mismatch]) <= 4 * rtol * np.abs(ref_d[mismatch]) + 1e-7)
    assert np.all(np.diff(dist, axis=1) >= 0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("metric", "kw"), METRICS, ids=[m for m, _ in METRICS])
def test_kneighbors_matches_brute_force(isa, rng, metric, kw, dtype):
    for n, m, d, k in [(37, 211, 7, 5), (5, 600, 33, 1), (130, 97, 17, 97), (1, 3, 1, 2), (400, 530, 65, 10)]:
        X = rng.standard_normal((n, d)).astype(dtype)
        Y = rng.standard_normal((m, d)).astype(dtype)
        if metric == "correlation" and d == 1:
            continue
        kwd = _kw(metric, kw, d, rng)
        ref_d, ref_i, D = _brute(X, Y, metric, kwd, k)
        dist, ind = fm.kneighbors(X, Y, k, metric, **kwd)
        _check(dist, ind, ref_d, ref_i, D, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_self_search_excludes_self_and_include_self(isa, rng, dtype):
    X = rng.standard_normal((300, 12)).astype(dtype)
    ref_d, ref_i, D = _brute(X, X, "euclidean", {}, 6, exclude_self=True)
    dist, ind = fm.kneighbors(X, k=6)
    _check(dist, ind, ref_d, ref_i, D, dtype)
    assert not np.any(ind == np.arange(300)[:, None])
    d2, i2 = fm.kneighbors(X, k=6, include_self=True)
    np.testing.assert_array_equal(i2[:, 0], np.arange(300))
    assert np.all(d2[:, 0] == 0)


def test_large_k_uses_the_buffer_path(rng):
    X = rng.standard_normal((50, 8))
    Y = rng.standard_normal((3000, 8))
    for k in (63, 64, 65, 500, 2999, 3000):
        ref_d, ref_i, D = _brute(X, Y, "euclidean", {}, k)
        dist, ind = fm.kneighbors(X, Y, k)
        _check(dist, ind, ref_d, ref_i, D, np.float64)


def test_ties_broken_by_smaller_index():
    Y = np.array([[1.0], [-1.0], [1.0], [2.0], [-1.0], [0.0]])
    X = np.array([[0.0]])
    d, i = fm.kneighbors(X, Y, 5)
    np.testing.assert_array_equal(i[0], [5, 0, 1, 2, 4])
    np.testing.assert_array_equal(d[0], [0, 1, 1, 1, 1])
    # and across reference blocks / thread counts
    rng = np.random.default_rng(3)
    Yb = np.round(rng.standard_normal((5000, 2)))  # many exact ties
    Xb = np.round(rng.standard_normal((40, 2)))
    ref = fm.kneighbors(Xb, Yb, 20, n_threads=1)
    for nt in (2, 3, 4):
        got = fm.kneighbors(Xb, Yb, 20, n_threads=nt)
        np.testing.assert_array_equal(got[1], ref[1])
        np.testing.assert_array_equal(got[0], ref[0])
    _, ref_i, _ = _brute(Xb, Yb, "euclidean", {}, 20)
    np.testing.assert_array_equal(ref[1], ref_i)


def test_float32_near_duplicates_found_and_ranked(isa):
    rng = np.random.default_rng(0)
    Y = (100 + rng.standard_normal((2000, 64))).astype(np.float32)
    X = (Y[:300] + 0.01 * rng.standard_normal((300, 64))).astype(np.float32)
    ref_d, ref_i, D = _brute(X, Y, "euclidean", {}, 3)
    dist, ind = fm.kneighbors(X, Y, 3)
    np.testing.assert_array_equal(ind[:, 0], np.arange(300))  # the duplicate is always first
    _check(dist, ind, ref_d, ref_i, D, np.float32)


def test_split_and_merge_equals_single_search(rng):
    X = rng.standard_normal((200, 16)).astype(np.float32)
    Y = rng.standard_normal((5000, 16)).astype(np.float32)
    full = fm.kneighbors(X, Y, 10)
    a = fm.kneighbors(X, Y[:2100], 10)
    b = fm.kneighbors(X, Y[2100:], 10)
    b = (b[0], b[1] + 2100)
    merged = fm.merge_kneighbors(a, b, 10)
    np.testing.assert_array_equal(merged[1], full[1])
    np.testing.assert_array_equal(merged[0], full[0])
    L = rng.standard_normal((8, 16)).astype(np.float32)
    full = fm.kneighbors(X, Y, 7, "mahalanobis", L=L)
    a = fm.kneighbors(X, Y[:777], 7, "mahalanobis", L=L)
    b = fm.kneighbors(X, Y[777:], 7, "mahalanobis", L=L)
    merged = fm.merge_kneighbors(a, (b[0], b[1] + 777), 7)
    np.testing.assert_array_equal(merged[1], full[1])
    np.testing.assert_array_equal(merged[0], full[0])


def test_results_independent_of_threads_and_query_count(rng):
    X = rng.standard_normal((700, 20)).astype(np.float32)
    Y = rng.standard_normal((4000, 20)).astype(np.float32)
    ref = fm.kneighbors(X, Y, 8, n_threads=1)
    for nt in (2, 4, None):
        got = fm.kneighbors(X, Y, 8, n_threads=nt)
        np.testing.assert_array_equal(got[0], ref[0])
        np.testing.assert_array_equal(got[1], ref[1])
    few = fm.kneighbors(X[:3], Y, 8, n_threads=4)  # few queries: the references are split across threads
    np.testing.assert_array_equal(few[1], ref[1][:3])
    # the centring shift is the queries' mean, so a different query set rounds differently
    np.testing.assert_allclose(few[0], ref[0][:3], rtol=1e-6)
    again = fm.kneighbors(X[:3], Y, 8, n_threads=1)
    np.testing.assert_array_equal(few[0], again[0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("metric", ["euclidean", "cityblock", "cosine", "minkowski"])
def test_radius_neighbors(isa, rng, metric, dtype):
    X = rng.standard_normal((60, 5)).astype(dtype)
    Y = rng.standard_normal((900, 5)).astype(dtype)
    kw = {"p": 3.0} if metric == "minkowski" else {}
    D = sd.cdist(X.astype(np.float64), Y.astype(np.float64), metric, **kw)
    r = float(np.quantile(D, 0.1))
    dist, ind = fm.radius_neighbors(X, Y, r, metric, **kw)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for q in range(60):
        want = np.flatnonzero(D[q] <= r)
        sure = np.flatnonzero(D[q] <= r * (1 - tol))
        got = ind[q]
        assert np.all(np.diff(got) > 0)  # increasing index order by default
        assert set(sure) <= set(got) <= set(np.flatnonzero(D[q] <= r * (1 + tol)))
        np.testing.assert_allclose(dist[q], D[q, got], rtol=tol)
        assert len(want) - len(got) <= len(set(want) - set(sure))
    dsort, isort = fm.radius_neighbors(X, Y, r, metric, sort_results=True, **kw)
    for q in range(60):
        assert np.all(np.diff(dsort[q]) >= 0)
        assert set(isort[q]) == set(ind[q])
    flat_d, flat_i, off = fm.radius_neighbors(X, Y, r, metric, return_csr=True, **kw)
    assert off[0] == 0 and off[-1] == len(flat_i) == sum(len(a) for a in ind)
    np.testing.assert_array_equal(flat_i[off[5] : off[6]], ind[5])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("metric", ["euclidean", "cityblock", "minkowski"])
def test_radius_per_query_equals_one_call_per_radius(isa, rng, metric, dtype):
    X = rng.standard_normal((70, 6)).astype(dtype)
    Y = rng.standard_normal((500, 6)).astype(dtype)
    kw = {"p": 3.0} if metric == "minkowski" else {}
    D = sd.cdist(X.astype(np.float64), Y.astype(np.float64), metric, **kw)
    radii = np.quantile(D, rng.uniform(0.0, 0.3, size=70), axis=1).diagonal().copy()
    radii[3] = 0.0  # nothing (or an exact duplicate) within a zero radius
    dist, ind = fm.radius_neighbors(X, Y, radii, metric, sort_results=True, **kw)
    for q in range(70):
        d1, i1 = fm.radius_neighbors(X[q : q + 1], Y, float(radii[q]), metric, sort_results=True, **kw)
        np.testing.assert_array_equal(ind[q], i1[0])  # radii fall between distances: no boundary ties
        # a one-row call centres on that row, not on all queries: equal up to rounding
        np.testing.assert_allclose(dist[q], d1[0], rtol=2e-6 if dtype == np.float32 else 1e-13)
    d_self, i_self = fm.radius_neighbors(X, radius=np.full(70, 2.0))
    d_ref, i_ref = fm.radius_neighbors(X, radius=2.0)
    for q in range(70):
        np.testing.assert_array_equal(i_self[q], i_ref[q])
    with pytest.raises(ValueError, match="one entry per query"):
        fm.radius_neighbors(X, Y, radii[:5])
    with pytest.raises(ValueError, match="finite and >= 0"):
        fm.radius_neighbors(X, Y, np.where(np.arange(70) == 2, -1.0, radii))
    with pytest.raises(ValueError, match="finite and >= 0"):
        fm.radius_neighbors(X, Y, np.where(np.arange(70) == 2, np.nan, radii))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_radius_labels_keep_only_other_labels(isa, rng, dtype):
    X = rng.standard_normal((150, 7)).astype(dtype)
    Y = rng.standard_normal((230, 7)).astype(dtype)
    lx, ly = rng.integers(0, 4, 150), rng.integers(0, 4, 230).astype(np.int32)
    radii = rng.uniform(1.0, 3.0, 150)
    for args, ql, rl, lab in (((X, Y), lx, ly, (lx, ly)), ((X,), lx, lx, lx)):
        d0, i0, o0 = fm.radius_neighbors(*args, radius=radii, sort_results=True, return_csr=True)
        d1, i1, o1 = fm.radius_neighbors(*args, radius=radii, sort_results=True, return_csr=True, labels=lab)
        rows = np.repeat(np.arange(150), np.diff(o0))
        keep = ql[rows] != rl[i0]
        assert keep.sum() < keep.size  # the filter removes something
        np.testing.assert_array_equal(i1, i0[keep])
        np.testing.assert_array_equal(d1, d0[keep])
        np.testing.assert_array_equal(o1, np.r_[0, np.cumsum(np.bincount(rows[keep], minlength=150))])
    assert fm.radius_neighbors(X[:0], Y, 1.0, labels=(lx[:0], ly))[1].shape == (0,)
    with pytest.raises(ValueError, match="pair"):
        fm.radius_neighbors(X, Y, 1.0, labels=lx)
    with pytest.raises(ValueError, match=r"shape \(230,\)"):
        fm.radius_neighbors(X, Y, 1.0, labels=(lx, ly[:-1]))
    with pytest.raises(TypeError, match="integers"):
        fm.radius_neighbors(X, radius=1.0, labels=lx.astype(float))
    with pytest.raises(ValueError, match="go together"):
        fm._core.radius_neighbors(X, None, 1.0, "euclidean", query_labels=lx)


def test_radius_self_search_and_sklearn_agreement(rng):
    NearestNeighbors = pytest.importorskip("sklearn.neighbors").NearestNeighbors
    X = rng.standard_normal((200, 4))
    nn = NearestNeighbors(radius=1.0).fit(X)
    sk_d, sk_i = nn.radius_neighbors(X, sort_results=True)
    d, i = fm.radius_neighbors(X, X, 1.0, sort_results=True)
    for q in range(200):
        np.testing.assert_array_equal(i[q], sk_i[q])
        np.testing.assert_allclose(d[q], sk_d[q], rtol=1e-12, atol=1e-14)
    d_self, i_self = fm.radius_neighbors(X, radius=1.0)
    for q in range(200):
        assert q not in set(i_self[q])
        assert set(i_self[q]) == set(i[q]) - {q}


def test_matches_sklearn_kneighbors(rng):
    NearestNeighbors = pytest.importorskip("sklearn.neighbors").NearestNeighbors
    X = rng.standard_normal((300, 10))
    Q = rng.standard_normal((50, 10))
    nn = NearestNeighbors(n_neighbors=7, algorithm="brute").fit(X)
    sk_d, sk_i = nn.kneighbors(Q)
    d, i = fm.kneighbors(Q, X, 7)
    np.testing.assert_array_equal(i, sk_i)
    np.testing.assert_allclose(d, sk_d, rtol=1e-12)
    sk_d, sk_i = nn.kneighbors()  # self search excludes the point itself
    d, i = fm.kneighbors(X, k=7)
    np.testing.assert_array_equal(i, sk_i)


def test_empty_queries():
    d, i = fm.kneighbors(np.zeros((0, 3)), np.ones((5, 3)), 2)
    assert d.shape == (0, 2) and i.shape == (0, 2) and i.dtype == np.int64
    dist, ind = fm.radius_neighbors(np.zeros((0, 3)), np.ones((5, 3)), 1.0)
    assert len(dist) == 0 and len(ind) == 0
    dist, ind = fm.radius_neighbors(np.zeros((2, 3)), np.zeros((0, 3)), 1.0)
    assert len(ind) == 2 and all(len(a) == 0 for a in ind)


BAD = [
    (lambda: fm.kneighbors(np.ones((2, 2)), np.ones((5, 2)), 0), ValueError, "k must be >= 1"),
    (lambda: fm.kneighbors(np.ones((2, 2)), np.ones((5, 2)), -3), ValueError, "k must be >= 1"),
    (lambda: fm.kneighbors(np.ones((2, 2)), np.ones((5, 2)), 6), ValueError, "larger than the number of references"),
    (lambda: fm.kneighbors(np.ones((5, 2)), k=5), ValueError, "other points"),
    (lambda: fm.kneighbors(np.ones((2, 2)), np.ones((5, 2)), 2.5), TypeError, "k must be an int"),
    (lambda: fm.kneighbors(np.ones((2, 2)), np.ones((5, 3)), 2), ValueError, r"\(2, 2\).*\(5, 3\)"),
    (lambda: fm.kneighbors(np.array([[np.nan, 0.0]]), np.ones((5, 2)), 2), ValueError, "NaN"),
    (lambda: fm.kneighbors(np.ones((2, 2)), np.ones((5, 2)), 2, "rbf"), ValueError, "unknown metric"),
    (lambda: fm.kneighbors(np.ones((2, 2)), np.ones((5, 2)), 2, "mahalanobis", L=np.eye(3)), ValueError, r"\(k, 2\)"),
    (lambda: fm.radius_neighbors(np.ones((2, 2)), np.ones((5, 2)), -1.0), ValueError, "radius"),
    (lambda: fm.radius_neighbors(np.ones((2, 2)), np.ones((5, 2)), np.nan), ValueError, "radius"),
    (
        lambda: fm.merge_kneighbors((np.ones((2, 3)), np.ones((2, 3))), (np.ones((3, 3)), np.ones((3, 3))), 2),
        ValueError,
        "different numbers of queries",
    ),
    (
        lambda: fm.merge_kneighbors((np.ones((2, 3)), np.ones((2, 3))), (np.ones((2, 3)), np.ones((2, 3))), 7),
        ValueError,
        "larger than",
    ),
]


@pytest.mark.parametrize(("call", "exc", "match"), BAD, ids=[str(i) for i in range(len(BAD))])
def test_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_kneighbors_transformer_in_pipelines(rng):
    sklearn = pytest.importorskip("sklearn")
    from sklearn.datasets import load_iris
    from sklearn.manifold import Isomap
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.neighbors import KNeighborsTransformer as SkKNT
    from sklearn.pipeline import make_pipeline

    X, y = load_iris(return_X_y=True)
    ours = fm.KNeighborsTransformer(n_neighbors=5, mode="distance").fit_transform(X)
    theirs = SkKNT(n_neighbors=5, mode="distance").fit_transform(X)
    assert ours.shape == theirs.shape and ours.nnz == theirs.nnz
    # iris has duplicate rows and tied distances: scikit-learn breaks ties arbitrarily, we by index,
    # so compare each row's sorted distances
    np.testing.assert_allclose(
        np.sort(ours.data.reshape(150, 6), axis=1), np.sort(theirs.data.reshape(150, 6), axis=1), rtol=1e-12, atol=1e-14
    )
    conn = fm.KNeighborsTransformer(n_neighbors=4, mode="connectivity").fit_transform(X)
    assert conn.nnz == 600 and np.all(conn.data == 1)
    pipe = make_pipeline(
        fm.KNeighborsTransformer(n_neighbors=5), KNeighborsClassifier(n_neighbors=5, metric="precomputed")
    )
    ref = make_pipeline(SkKNT(n_neighbors=5), KNeighborsClassifier(n_neighbors=5, metric="precomputed"))
    np.testing.assert_array_equal(pipe.fit(X, y).predict(X), ref.fit(X, y).predict(X))
    emb = make_pipeline(fm.KNeighborsTransformer(n_neighbors=31), Isomap(n_neighbors=30, metric="precomputed"))
    assert emb.fit_transform(X).shape == (150, 2)
    from sklearn.cluster import DBSCAN

    graph = fm.KNeighborsTransformer(n_neighbors=10).fit_transform(X)
    ref_graph = SkKNT(n_neighbors=10).fit_transform(X)
    np.testing.assert_array_equal(
        DBSCAN(eps=0.5, metric="precomputed").fit(graph).labels_,
        DBSCAN(eps=0.5, metric="precomputed").fit(ref_graph).labels_,
    )
    # learned metric via metric_params
    L = rng.standard_normal((2, 4))
    g = fm.KNeighborsTransformer(n_neighbors=3, metric="mahalanobis", metric_params={"L": L}).fit_transform(X)
    d, i = fm.kneighbors(X, X, 4, "mahalanobis", L=L)
    np.testing.assert_array_equal(np.sort(g.indices.reshape(150, 4), axis=1), np.sort(i, axis=1))
    assert sklearn.__version__
    with pytest.raises(ValueError, match="mode"):
        fm.KNeighborsTransformer(mode="bad").fit(X)


def test_kneighbors_transformer_estimator_checks():
    pytest.importorskip("sklearn")
    import warnings

    from sklearn.exceptions import SkipTestWarning
    from sklearn.utils.estimator_checks import check_estimator

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=SkipTestWarning)
        check_estimator(fm.KNeighborsTransformer())


def test_kneighbors_ties_ordered_by_index_in_every_mode(rng):
    # integer data under cityblock: distances are exact, so ties are real; k spans the sorted-array
    # mode (k <= 64) and the buffer mode, n_threads > 1 with few queries splits the references
    for _ in range(12):
        nq, nr, d = int(rng.integers(1, 30)), int(rng.integers(70, 2500)), int(rng.integers(1, 5))
        X = rng.integers(0, 3, size=(nq, d)).astype(np.float32)
        Y = rng.integers(0, 3, size=(nr, d)).astype(np.float32)
        D = np.abs(X[:, None, :] - Y[None, :, :]).sum(-1)
        for k in (1, 7, 64, 65):
            ref = np.array([np.lexsort((np.arange(nr), D[i]))[:k] for i in range(nq)])
            for nt in (1, 2, 3):
                dist, idx = fm.kneighbors(X, Y, k=k, metric="cityblock", n_threads=nt)
                np.testing.assert_array_equal(idx, ref)
                np.testing.assert_array_equal(dist, np.take_along_axis(D, ref, axis=1))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kneighbors_small_k_is_the_head_of_a_large_k(isa, rng, dtype):
    # tie-heavy data: many distances within an ulp of each other. The vector filters round
    # differently from the kept values (fused multiply-add), so without slack in the filter a column
    # an ulp below the threshold could be dropped; each k must give the head of the larger search
    for _ in range(10):
        nq, nr, d = int(rng.integers(1, 30)), int(rng.integers(200, 2500)), int(rng.integers(1, 5))
        X = rng.integers(0, 3, size=(nq, d)).astype(dtype)
        Y = rng.integers(0, 3, size=(nr, d)).astype(dtype)
        dref, iref = fm.kneighbors(X, Y, k=150, metric="sqeuclidean", n_threads=1)
        for k in (1, 7, 30, 64):
            for nt in (1, 3):
                dist, idx = fm.kneighbors(X, Y, k=k, metric="sqeuclidean", n_threads=nt)
                np.testing.assert_array_equal(idx, iref[:, :k])
                np.testing.assert_array_equal(dist, dref[:, :k])
