"""braycurtis / canberra / jensenshannon and scipy's w= (issue 16 part 1) against scipy 1.17."""

import warnings

import numpy as np
import pytest
from conftest import DIMS_SHORT, assert_close, rtol_for
from scipy.spatial import distance as sd

import fastmetric as fm
from fastmetric import _core

NEW = ("braycurtis", "canberra", "jensenshannon")
DTYPES = (np.float64, np.float32)


def _data(metric, n, d, rng, dtype=np.float64):
    """Rows scipy and fastmetric both define: non-negative with zeros for jensenshannon (sums > 0),
    mixed signs with exact zeros for the other two."""
    if metric == "jensenshannon":
        X = rng.random((n, d))
        X[rng.random((n, d)) < 0.2] = 0
        X[:, 0] += 0.1  # every row has a positive sum
    else:
        X = rng.standard_normal((n, d))
        X[rng.random((n, d)) < 0.2] = 0
    return X.astype(dtype)


def _ref_cdist(A, B, metric, **kw):
    A, B = np.asarray(A, np.float64), np.asarray(B, np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        D = sd.cdist(A, B, metric, **kw)
        if metric == "jensenshannon":
            # scipy's cdist returns NaN where rounding makes its sum slightly negative (near-identical
            # distributions, e.g. every pair at d = 1); its jensenshannon function gives 0 there
            for i, j in zip(*np.nonzero(np.isnan(D)), strict=True):
                D[i, j] = sd.jensenshannon(A[i], B[j])
    return D


def _tol(dtype, d):
    # float64: the repo-wide 1e-12; float32: conftest's sum-shaped bound, plus the float32 rounding
    # of the normalised rows (jensenshannon) -- measured up to 3e-7 relative at d = 65
    return rtol_for(dtype, d) if dtype == np.float64 else max(rtol_for(dtype, d), 2e-5)


# ------------------------------------------------------------------ the three metrics against scipy


@pytest.mark.parametrize("metric", NEW)
@pytest.mark.parametrize("d", DIMS_SHORT)
@pytest.mark.parametrize("dtype", DTYPES)
def test_cdist_matches_scipy(isa, metric, d, dtype, rng):
    A, B = _data(metric, 13, d, rng, dtype), _data(metric, 29, d, rng, dtype)
    D = fm.cdist(A, B, metric)
    assert D.dtype == dtype and D.shape == (13, 29)
    atol = 1e-13 if dtype == np.float64 else 1e-6
    assert_close(D, _ref_cdist(A, B, metric), dtype, d, rtol=_tol(dtype, d), atol=atol)


@pytest.mark.parametrize("metric", NEW)
@pytest.mark.parametrize("dtype", DTYPES)
def test_pdist_pairwise_and_symmetric(isa, metric, dtype, rng):
    d = 17
    X = _data(metric, 41, d, rng, dtype)
    ref = _ref_cdist(X, X, metric)
    tol = dict(rtol=_tol(dtype, d), atol=1e-13 if dtype == np.float64 else 1e-6)
    P = fm.pdist(X, metric)
    assert P.dtype == dtype
    assert_close(P, sd.squareform(ref, checks=False), dtype, d, **tol)
    full = (fm.cdist(X, X, metric), fm.pairwise_distances(X, metric=metric), fm.pairwise_distances(X, X, metric=metric))
    for D in full:
        assert_close(D, ref, dtype, d, **tol)
        np.testing.assert_array_equal(D, D.T)  # the symmetric path mirrors: exactly symmetric
        np.testing.assert_array_equal(np.diag(D), 0)


@pytest.mark.parametrize("metric", NEW)
def test_layouts_and_empty(metric, rng):
    A, B = _data(metric, 23, 33, rng), _data(metric, 31, 33, rng)
    ref = _ref_cdist(A, B, metric)
    F = np.asfortranarray(A)
    strided = np.repeat(B, 2, axis=1)[:, ::2]  # a non-contiguous view with the same values
    rev = B[::-1]
    assert_close(fm.cdist(F, B, metric), ref, np.float64, 33, atol=1e-13)
    assert_close(fm.cdist(A, strided, metric), ref, np.float64, 33, atol=1e-13)
    assert_close(fm.cdist(A, rev, metric), ref[:, ::-1], np.float64, 33, atol=1e-13)
    assert fm.cdist(A[:0], B, metric).shape == (0, 31)
    assert fm.cdist(A, B[:0], metric).shape == (23, 0)
    assert fm.pdist(A[:1], metric).shape == (0,)
    # ints compute in float64, as scipy
    Ai = np.round(np.abs(A) * 10).astype(np.int64) + 1
    assert_close(fm.cdist(Ai, Ai[:5], metric), _ref_cdist(Ai, Ai[:5], metric), np.float64, 33, atol=1e-13)


@pytest.mark.parametrize("metric", NEW)
@pytest.mark.parametrize("dtype", DTYPES)
def test_thread_count_does_not_change_bits(metric, dtype, rng):
    A, B = _data(metric, 403, 65, rng, dtype), _data(metric, 300, 65, rng, dtype)
    w = rng.random(65).astype(dtype) if metric != "jensenshannon" else None
    kw = {} if w is None else {"w": w}
    runs = [fm.cdist(A, B, metric, n_threads=t, **kw) for t in (1, 2, 3)]
    sym = [fm.pdist(A, metric, n_threads=t, **kw) for t in (1, 2, 3)]
    for r in runs[1:]:
        np.testing.assert_array_equal(r, runs[0])
    for r in sym[1:]:
        np.testing.assert_array_equal(r, sym[0])


# ------------------------------------------------------------------ scipy's edge cases


def test_braycurtis_edge_cases(isa):
    X = np.array([[0.0, 0, 0], [1, 2, 0], [-1, -2, 0], [1, -1, 0]])
    Y = np.array([[0.0, 0, 0], [-1, 1, 0]])
    D = fm.cdist(X, Y, "braycurtis")
    np.testing.assert_array_equal(D, _ref_cdist(X, Y, "braycurtis"))  # exact: two sums and one division
    assert np.isnan(D[0, 0])  # 0/0, as scipy
    assert np.isinf(D[3, 1])  # x = -y: sum |x+y| = 0
    C = fm.cdist(X, X, "braycurtis")  # scipy's cdist(X, X): NaN on the diagonal of the zero row
    assert np.isnan(C[0, 0]) and np.all(np.diag(C)[1:] == 0)
    assert fm.pairwise_distances(X, metric="braycurtis")[0, 0] == 0  # scikit-learn: squareform(pdist)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("weighted", [False, True])
def test_braycurtis_non_negative_path(isa, dtype, weighted, rng):
    # non-negative data take the row-sum denominator (one micro-kernel): same results as scipy's
    d = 33
    X, Y = np.abs(_data("braycurtis", 40, d, rng, dtype)), np.abs(_data("braycurtis", 23, d, rng, dtype))
    X[3] = 0
    Y[5] = 0
    kw = {"w": rng.random(d).astype(dtype)} if weighted else {}
    ref = _ref_cdist(X, Y, "braycurtis", **kw)
    D = fm.cdist(X, Y, "braycurtis", **kw)
    assert np.isnan(D[3, 5]) and np.isnan(ref[3, 5])
    assert_close(D, ref, dtype, d, rtol=_tol(dtype, d), atol=1e-13 if dtype == np.float64 else 1e-6)
    P = fm.pdist(X, "braycurtis", **kw)
    assert_close(P, sd.squareform(_ref_cdist(X, X, "braycurtis", **kw), checks=False), dtype, d, rtol=_tol(dtype, d))
    mixed = Y.copy()
    mixed[0, 0] = -1  # one negative entry: the two-tile path for the whole call
    assert_close(fm.cdist(X, mixed, "braycurtis", **kw), _ref_cdist(X, mixed, "braycurtis", **kw), dtype, d,
                 rtol=_tol(dtype, d), atol=1e-13 if dtype == np.float64 else 1e-6)


def test_canberra_edge_cases(isa):
    X = np.array([[0.0, -0.0, 1.0], [1e-310, 0, 3e-310], [1e308, 0, 1], [2.0, 0, -2]])
    Y = np.array([[0.0, 0, 1], [2e-310, 0, 1e-310], [-1e308, 0, 1], [1e308, 5, 1]])
    with np.errstate(all="ignore"):
        D = fm.cdist(X, Y, "canberra")
    ref = _ref_cdist(X, Y, "canberra")
    np.testing.assert_allclose(D, ref, rtol=1e-15)  # NaN where scipy has NaN (inf/inf), subnormals exact
    assert D[0, 0] == 0  # all three terms 0/0 -> 0
    assert D[1, 1] == pytest.approx(1 / 3 + 2 / 4)  # subnormal sums take the exact division
    assert np.isnan(D[2, 2])  # |1e308 - -1e308| overflows: inf / inf, as scipy
    X32 = np.array([[1e-40, 0.0], [3e-39, 1.0]], np.float32)
    ref32 = _ref_cdist(X32, X32[::-1], "canberra")
    np.testing.assert_allclose(fm.cdist(X32, X32[::-1], "canberra"), ref32, rtol=1e-6)


def test_jensenshannon_edge_cases(isa):
    X = np.array([[0.0, 0, 0], [1, 2, 0], [0, 3, 0], [-1, 2, 0.5], [1, 0, 0], [2.0, 4, 0]])
    D = fm.cdist(X, X, "jensenshannon")
    ref = _ref_cdist(X, X, "jensenshannon")
    bad = [0, 3]  # a zero sum, a negative entry: scipy's cdist says inf, also on the diagonal
    assert np.all(np.isinf(D[bad])) and np.all(np.isinf(D[:, bad]))
    np.testing.assert_allclose(D, ref, rtol=1e-14, atol=1e-15)
    assert D[1, 5] == 0 and D[5, 1] == 0  # rows that normalise to the same distribution: exactly 0
    assert D[1, 2] == pytest.approx(sd.jensenshannon(X[1], X[2]), rel=1e-14)
    assert np.isinf(fm.pdist(X, "jensenshannon")[0])
    assert fm.pairwise_distances(X, metric="jensenshannon")[0, 0] == 0
    # scipy's cdist gives NaN where rounding makes its sum negative (a tiny row against its
    # distribution); its jensenshannon function and fastmetric give 0
    T = np.array([[1e-300, 0, 0]])
    assert fm.cdist(T, X[4:5], "jensenshannon")[0, 0] == 0 == sd.jensenshannon(T[0], X[4])
    # rows of subnormal values (1 / sum overflows): still the distribution they describe
    S = np.array([[1e-310, 3e-310, 0]])
    assert fm.cdist(S, X[1:2], "jensenshannon")[0, 0] == pytest.approx(sd.jensenshannon(S[0], X[1]), rel=1e-6)
    # float32 with subnormal sums
    S32 = np.array([[1e-40, 3e-40, 0], [1, 2, 0]], np.float32)
    ref32 = [sd.jensenshannon([1e-40, 3e-40, 0], [1, 2, 0])]
    np.testing.assert_allclose(fm.pdist(S32, "jensenshannon"), ref32, rtol=1e-3)


@pytest.mark.parametrize("base", [2, 10.0, np.e, np.float32(3)])
def test_jensenshannon_base(isa, base, rng):
    X, Y = _data("jensenshannon", 9, 7, rng), _data("jensenshannon", 5, 7, rng)
    ref = np.array([[sd.jensenshannon(x, y, base=float(base)) for y in Y] for x in X])
    assert_close(fm.cdist(X, Y, "jensenshannon", base=base), ref, np.float64, 7, atol=1e-15)
    ref_p = sd.pdist(X, lambda u, v: sd.jensenshannon(u, v, float(base)))
    assert_close(fm.pdist(X, "jensenshannon", base=base), ref_p, np.float64, 7)
    dist, ind = fm.kneighbors(X, Y, 3, "jensenshannon", base=base)
    np.testing.assert_allclose(dist, np.sort(ref, axis=1)[:, :3], rtol=1e-12)


@pytest.mark.parametrize("base", [1, 1.0, 0.5, -2, 0, np.nan, np.inf])
def test_jensenshannon_bad_base(base):
    X = np.ones((2, 3))
    with pytest.raises(ValueError, match="base"):
        fm.cdist(X, X, "jensenshannon", base=base)


def test_keyword_errors():
    X = np.ones((2, 3))
    with pytest.raises(TypeError, match="base"):
        fm.cdist(X, X, "canberra", base=2)
    with pytest.raises(TypeError, match="base"):
        fm.cdist(X, X, "jensenshannon", base="2")
    for metric in ("jensenshannon", "seuclidean", "mahalanobis"):  # scipy: unexpected keyword 'w'
        with pytest.raises(TypeError, match="w"):
            fm.cdist(X + np.arange(3), X * 2 + np.arange(3) ** 2, metric, w=np.ones(3))


# ------------------------------------------------------------------ w=

WEIGHTED = [
    ("euclidean", {}),
    ("sqeuclidean", {}),
    ("cityblock", {}),
    ("chebyshev", {}),
    ("minkowski", {"p": 1}),
    ("minkowski", {"p": 2}),
    ("minkowski", {"p": 3}),
    ("minkowski", {"p": 0.5}),
    ("minkowski", {"p": 11.5}),
    ("minkowski", {"p": np.inf}),
    ("cosine", {}),
    ("correlation", {}),
    ("braycurtis", {}),
    ("canberra", {}),
]


@pytest.mark.parametrize(("metric", "kw"), WEIGHTED, ids=[f"{m}-{k.get('p', '')}" for m, k in WEIGHTED])
@pytest.mark.parametrize("dtype", DTYPES)
def test_weights_match_scipy(isa, metric, kw, dtype, rng):
    d = 17
    A, B = _data(metric, 11, d, rng, dtype), _data(metric, 19, d, rng, dtype)
    w = rng.random(d) * 3
    w[[2, 5]] = 0  # scipy's zero weights: the feature drops out (chebyshev: out of the max)
    ref = _ref_cdist(A, B, metric, w=w, **kw)
    f64 = dtype == np.float64
    tol = dict(rtol=max(_tol(dtype, d), 1e-11 if f64 else 0), atol=1e-12 if f64 else 2e-5)
    D = fm.cdist(A, B, metric, w=w, **kw)
    assert D.dtype == dtype
    assert_close(D, ref, dtype, d, **tol)
    assert_close(fm.pdist(A, metric, w=w, **kw), sd.pdist(A.astype(np.float64), metric, w=w, **kw), dtype, d, **tol)
    assert_close(fm.pairwise_distances(A, B, metric=metric, w=w, **kw), ref, dtype, d, **tol)
    assert_close(fm.cdist(A, B, metric, w=np.ones(d), **kw), _ref_cdist(A, B, metric, **kw), dtype, d, **tol)


def test_weights_through_the_gram_path_keep_precision(rng):
    # euclidean / sqeuclidean / cosine take w as a column scale sqrt(w) (one extra rounding per value):
    # weights over twelve decades still agree with scipy's direct sum to 1e-11
    A, B = rng.standard_normal((30, 33)), rng.standard_normal((20, 33))
    w = 10.0 ** rng.uniform(-6, 6, 33)
    for metric in ("euclidean", "sqeuclidean", "cosine", "correlation"):
        np.testing.assert_allclose(fm.cdist(A, B, metric, w=w), _ref_cdist(A, B, metric, w=w), rtol=1e-11, atol=1e-14)
    near = A[:5] + 1e-9 * rng.standard_normal((5, 33))  # close pairs take the exact recompute
    np.testing.assert_allclose(
        fm.cdist(A[:5], near, "euclidean", w=w), _ref_cdist(A[:5], near, "euclidean", w=w), rtol=1e-9
    )


@pytest.mark.parametrize("metric", ["euclidean", "cityblock", "minkowski", "cosine", "braycurtis", "canberra"])
def test_bad_weights(metric):
    X = np.arange(6.0).reshape(2, 3) + 1
    with pytest.raises(ValueError, match=r"w must have shape \(3,\).*got shape \(2,\)"):
        fm.cdist(X, X, metric, w=[1.0, 2])
    with pytest.raises(ValueError, match="non-negative"):
        fm.cdist(X, X, metric, w=[1.0, -1, 2])
    with pytest.raises(ValueError, match=r"shape \(3,\).*\(1, 3\)"):
        fm.pdist(X, metric, w=[[1.0, 1, 1]])
    with pytest.raises(ValueError, match="NaN"):
        fm.cdist(X, X, metric, w=[1.0, np.nan, 1])
    with pytest.raises(ValueError, match="NaN or inf"):
        fm.kneighbors(X, X, 1, metric, w=[1.0, np.inf, 1])
    with pytest.raises(TypeError, match="w must be a real"):
        fm.cdist(X, X, metric, w=["a", "b", "c"])


def test_weighted_cosine_of_a_row_the_weights_zero():
    # scipy: 0/0 = NaN; fastmetric keeps its zero-row rule (distance 1, README "Cosine / correlation of a
    # zero (constant) row"), also when the weights make the row zero
    X = np.array([[1.0, 0, 0], [3.0, 4, 0], [0, 2, 5]])
    w = np.array([0.0, 1, 1])
    D = fm.cdist(X, X[1:], "cosine", w=w)
    assert np.all(D[0] == 1)
    np.testing.assert_allclose(D[1:], _ref_cdist(X[1:], X[1:], "cosine", w=w), rtol=1e-14, atol=1e-15)
    assert np.isnan(_ref_cdist(X[:1], X[1:], "cosine", w=w)).all()


def test_correlation_needs_a_positive_weight_sum():
    X = np.arange(6.0).reshape(2, 3)
    with pytest.raises(ValueError, match="sum of weights"):
        fm.cdist(X, X, "correlation", w=np.zeros(3))


# ------------------------------------------------------------------ k-NN and radius search


SEARCH = [("braycurtis", {}), ("canberra", {}), ("jensenshannon", {}), ("canberra", {"w": True}),
          ("braycurtis", {"w": True}), ("cityblock", {"w": True}), ("euclidean", {"w": True}),
          ("minkowski", {"w": True, "p": 3}), ("chebyshev", {"w": True})]


@pytest.mark.parametrize(("metric", "kw"), SEARCH, ids=[f"{m}-{'w' if k else ''}" for m, k in SEARCH])
@pytest.mark.parametrize("dtype", DTYPES)
def test_search_matches_brute_force(isa, metric, kw, dtype, rng):
    d = 17
    X, Y = _data(metric, 37, d, rng, dtype), _data(metric, 301, d, rng, dtype)
    kw = dict(kw)
    if kw.pop("w", False):
        kw["w"] = rng.random(d) + 0.1
    ref = _ref_cdist(X, Y, metric, **kw)
    k = 7
    dist, ind = fm.kneighbors(X, Y, k, metric, **kw)
    assert dist.dtype == dtype
    order = np.argsort(ref, axis=1, kind="stable")[:, :k]
    tol = _tol(dtype, d) * 10
    np.testing.assert_allclose(dist, np.take_along_axis(ref, order, axis=1), rtol=tol)
    np.testing.assert_allclose(np.take_along_axis(ref, ind, axis=1), np.take_along_axis(ref, order, axis=1), rtol=tol)
    # self search: a point is not its own neighbour
    _, ind_self = fm.kneighbors(Y, None, 3, metric, **kw)
    assert not np.any(ind_self == np.arange(Y.shape[0])[:, None])
    # radius: the median distance; entries closer to it than the rounding are not compared
    r = float(np.median(ref))
    rd, ri = fm.radius_neighbors(X, Y, r, metric, **kw)
    for i in range(X.shape[0]):
        inside = set(np.flatnonzero(ref[i] <= r * (1 - 10 * tol)))
        maybe = set(np.flatnonzero(ref[i] <= r * (1 + 10 * tol)))
        got = set(ri[i].tolist())
        assert inside <= got <= maybe
        np.testing.assert_allclose(rd[i], ref[i, ri[i]], rtol=tol)


def test_search_with_undefined_jensenshannon_rows():
    X = np.array([[1.0, 2, 0], [0, 0, 0], [1, -1, 3], [2, 1, 1]])
    dist, ind = fm.kneighbors(X, None, 3, "jensenshannon")
    assert np.all(np.isinf(dist[1])) and np.all(np.isinf(dist[2]))  # inf from every row, as scipy
    assert np.all(np.isfinite(dist[[0, 3], 0])) and np.all(np.isinf(dist[[0, 3], 1:]))
    _, ri = fm.radius_neighbors(X, None, 10.0, "jensenshannon")
    assert [r.tolist() for r in ri] == [[3], [], [], [0]]


@pytest.mark.parametrize("weighted", [False, True])
def test_search_braycurtis_nan_last(weighted):
    X = np.array([[0.0, 0, 0], [1, 2, 0], [0, 3, 0], [0, 0, 0], [2, 2, 2], [0, 0, 5], [-1, -2, 0]])
    kw = {"w": np.array([1.0, 1, 0])} if weighted else {}  # the weights also zero the row [0, 0, 5]
    ref = _ref_cdist(X, X, "braycurtis", **kw)
    dist, ind = fm.kneighbors(X, X, X.shape[0], "braycurtis", **kw)
    key = np.where(np.isnan(ref), np.inf, ref)  # NaN last; ties (and inf vs NaN) by index
    order = np.lexsort((np.broadcast_to(np.arange(7), ref.shape), np.isnan(ref), key), axis=1)
    np.testing.assert_array_equal(ind, order)
    np.testing.assert_array_equal(dist, np.take_along_axis(ref, order, axis=1))  # NaN where scipy has NaN
    _, ri = fm.radius_neighbors(X, X, 1.0, "braycurtis", **kw)
    for i in range(7):
        assert ri[i].tolist() == np.flatnonzero(ref[i] <= 1.0).tolist()  # NaN never within a radius


# ------------------------------------------------------------------ the vector log


@pytest.mark.parametrize("dtype", DTYPES)
def test_vector_log_against_numpy(isa, dtype, rng):
    fi = np.finfo(dtype)
    lo = np.log10(float(fi.smallest_subnormal)) + 0.01
    x = np.concatenate([
        np.logspace(lo, np.log10(float(fi.max)) - 0.01, 40001),
        1 + rng.uniform(-0.3, 0.42, 20000),  # m near 1: log(1 + f) ~ f must keep f's digits
        1 + np.ldexp(1.0, -np.arange(1, fi.nmant + 2)),
        1 - np.ldexp(1.0, -np.arange(1, fi.nmant + 2)),
        np.sqrt([0.5, 2.0]) * np.array([1, 1]),
        rng.random(4001),
    ]).astype(dtype)
    got = _core.vector_log(x)
    assert got.dtype == dtype
    ref = np.log(x.astype(np.float64))
    ulp = np.spacing(np.abs(ref).astype(dtype)).astype(np.float64)
    err = np.abs(got.astype(np.float64) - ref) / ulp
    assert err.max() <= 1.0, float(err.max())  # measured: 1.0 (float64), 0.71 (float32)
    specials = np.array([0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, np.nan, fi.smallest_subnormal], dtype)
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(_core.vector_log(specials), np.log(specials))
    assert _core.vector_log(np.array([1.0], dtype))[0] == 0  # exactly, also in the vector tail
    assert _core.vector_log(np.ones(37, dtype)).tolist() == [0.0] * 37
