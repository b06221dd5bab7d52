"""cdist / pdist / pairwise_distances against scipy, scikit-learn and float64 numpy."""

import threading

import numpy as np
import pytest
from scipy.spatial import distance as sd

import fastmetric as fm
from conftest import DIMS, DIMS_SHORT, assert_close, atol_for

METRICS = [
    ("euclidean", {}),
    ("sqeuclidean", {}),
    ("cityblock", {}),
    ("chebyshev", {}),
    ("minkowski", {"p": 3.0}),  # integral p: repeated-multiplication micro-kernel
    ("minkowski", {"p": 8}),  # the largest integral p with its own micro-kernel
    ("minkowski", {"p": 9}),  # integral, beyond the table: pow path
    ("minkowski", {"p": 1.5}),
    ("cosine", {}),
    ("correlation", {}),
    ("seuclidean", {}),
    ("mahalanobis", {}),
]
BOUNDED = {"cosine", "correlation"}  # values of order 1: compare with an absolute tolerance


def _data(rng, n, m, d, dtype):
    X = rng.standard_normal((n, d)).astype(dtype)
    Y = rng.standard_normal((m, d)).astype(dtype)
    return X, Y


def _check(actual, expected, metric, dtype, d):
    assert actual.dtype == dtype
    if metric in BOUNDED:
        assert_close(actual, expected, dtype, d, atol=atol_for(dtype, d), rtol=0)
    else:
        assert_close(actual, expected, dtype, d, atol=1e-300)


def _scipy_kwargs(metric, kw, X, Y):
    """scipy computes mahalanobis/seuclidean defaults from the stacked data in float64."""
    kw = dict(kw)
    S = np.vstack([X, Y]).astype(np.float64)
    if metric == "mahalanobis":
        kw["VI"] = np.linalg.inv(np.atleast_2d(np.cov(S.T)))
    if metric == "seuclidean":
        kw["V"] = np.var(S, axis=0, ddof=1)
    return kw


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("metric", "kw"), METRICS, ids=[f"{m}{kw.get('p', '')}" for m, kw in METRICS])
def test_cdist_matches_scipy_all_dims(isa, rng, metric, kw, dtype):
    for d in DIMS:
        n, m = 13, 29  # not multiples of any tile
        if metric in ("mahalanobis", "seuclidean"):
            n, m = 3 * d + 5, 2 * d + 7  # enough rows for a non-singular covariance
        X, Y = _data(rng, n, m, d, dtype)
        if metric == "correlation" and d == 1:
            continue  # a 1-feature row has no variance: correlation undefined (scipy gives nan)
        ref = sd.cdist(X.astype(np.float64), Y.astype(np.float64), metric, **_scipy_kwargs(metric, kw, X, Y))
        got = fm.cdist(X, Y, metric, **kw)
        _check(got, ref, metric, dtype, d)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("metric", "kw"), METRICS, ids=[f"{m}{kw.get('p', '')}" for m, kw in METRICS])
def test_pdist_matches_scipy(isa, rng, metric, kw, dtype):
    for d in DIMS_SHORT:
        n = 3 * d + 11 if metric in ("mahalanobis", "seuclidean") else 41
        X = rng.standard_normal((n, d)).astype(dtype)
        if metric == "correlation" and d == 1:
            continue
        skw = dict(kw)
        if metric == "mahalanobis":
            skw["VI"] = np.linalg.inv(np.atleast_2d(np.cov(X.astype(np.float64).T)))
        if metric == "seuclidean":
            skw["V"] = np.var(X.astype(np.float64), axis=0, ddof=1)
        ref = sd.pdist(X.astype(np.float64), metric, **skw)
        got = fm.pdist(X, metric, **kw)
        assert got.shape == ref.shape
        _check(got, ref, metric, dtype, d)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("metric", ["euclidean", "sqeuclidean", "cosine", "cityblock", "chebyshev", "minkowski"])
def test_tile_edges_and_feature_blocks(isa, rng, metric, dtype):
    # rows straddle the MC=96 / NC=512 task tiles; d=300 > KC=256 exercises the accumulate path
    for n, m, d in [(97, 515, 5), (193, 37, 300), (1, 1, 3), (6, 16, 16)]:
        X, Y = _data(rng, n, m, d, dtype)
        kw = {"p": 2.5} if metric == "minkowski" else {}
        ref = sd.cdist(X.astype(np.float64), Y.astype(np.float64), metric, **kw)
        _check(fm.cdist(X, Y, metric, **kw), ref, metric, dtype, d)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("metric", ["euclidean", "cosine", "cityblock", "correlation", "sqeuclidean"])
def test_symmetric_paths(isa, rng, metric, dtype):
    X = rng.standard_normal((130, 33)).astype(dtype)
    ref = sd.squareform(sd.pdist(X.astype(np.float64), metric))
    for got in (fm.pairwise_distances(X, metric=metric), fm.cdist(X, X, metric), fm.pairwise_distances(X, X, metric)):
        assert np.array_equal(got, got.T), "symmetric result must be exactly symmetric"
        assert np.all(np.diag(got) == 0), "diagonal must be exactly 0"
        _check(got, ref, metric, dtype, 33)
    np.testing.assert_array_equal(fm.squareform(fm.pdist(X, metric)), fm.pairwise_distances(X, metric=metric))


def test_pairwise_distances_matches_sklearn(rng):
    skp = pytest.importorskip("sklearn.metrics.pairwise")
    X, Y = _data(rng, 50, 40, 17, np.float64)
    for metric in ["euclidean", "manhattan", "cosine", "l1", "l2", "cityblock"]:
        np.testing.assert_allclose(
            fm.pairwise_distances(X, Y, metric), skp.pairwise_distances(X, Y, metric=metric), rtol=1e-12, atol=1e-13
        )
        np.testing.assert_allclose(
            fm.pairwise_distances(X, metric=metric), skp.pairwise_distances(X, metric=metric), rtol=1e-12, atol=1e-13
        )


def test_mahalanobis_VI_and_L(rng):
    X, Y = _data(rng, 40, 30, 9, np.float64)
    A = rng.standard_normal((9, 9))
    VI = A @ A.T
    ref = sd.cdist(X, Y, "mahalanobis", VI=VI)
    assert_close(fm.cdist(X, Y, "mahalanobis", VI=VI), ref, np.float64, 9)
    L = rng.standard_normal((4, 9))  # a rank-4 learned map
    ref_L = np.sqrt((((X[:, None, :] - Y[None, :, :]) @ L.T) ** 2).sum(-1))
    assert_close(fm.cdist(X, Y, "mahalanobis", L=L), ref_L, np.float64, 9)
    assert_close(fm.cdist(X.astype(np.float32), Y.astype(np.float32), "mahalanobis", L=L), ref_L, np.float32, 9)
    # semi-definite VI (rank 4) is fine; it equals the L form with L^T L = VI
    assert_close(fm.cdist(X, Y, "mahalanobis", VI=L.T @ L), ref_L, np.float64, 9, rtol=1e-9)


def test_float32_accuracy_near_duplicates_far_from_origin(isa):
    # the case: numpy's GEMM trick has relative error ~8 here; we guarantee <= 1e-5
    rng = np.random.default_rng(0)
    cases = []
    X = (100 + rng.standard_normal((500, 64))).astype(np.float32)
    cases.append((X, (X + 0.01 * rng.standard_normal(X.shape)).astype(np.float32)))
    X = (1e4 + rng.standard_normal((200, 128))).astype(np.float32)
    cases.append((X, (X + 1e-3 * rng.standard_normal(X.shape)).astype(np.float32)))
    centres = rng.standard_normal((2, 33)) * 1000  # two far-apart tight clusters: centring alone fails
    X = (centres[rng.integers(0, 2, 300)] + rng.standard_normal((300, 33))).astype(np.float32)
    cases.append((X, X[::-1].copy()))
    X = (5 + 1e-3 * rng.standard_normal((150, 300))).astype(np.float32)  # d > KC, tiny spread
    cases.append((X, (X + np.float32(1e-4)).astype(np.float32)))
    for A, B in cases:
        ref = sd.cdist(A.astype(np.float64), B.astype(np.float64))
        nz = ref > 0
        for got in (fm.cdist(A, B), np.sqrt(fm.cdist(A, B, "sqeuclidean"))):
            assert np.all(got[~nz] == 0)  # identical points: exactly 0
            rel = np.max(np.abs(got[nz] - ref[nz]) / ref[nz])
            assert rel <= 1e-5, rel
        got64 = fm.cdist(A.astype(np.float64), B.astype(np.float64))
        assert np.all(got64[~nz] == 0)
        assert np.max(np.abs(got64[nz] - ref[nz]) / ref[nz]) <= 1e-12


def test_cosine_zero_vectors_and_correlation_constant_rows():
    X = np.array([[0.0, 0.0, 0.0], [1.0, 2.0, 3.0], [2.0, 2.0, 2.0]])
    D = fm.cdist(X, X[[1, 0]], "cosine")
    # a zero vector has cosine similarity 0 with everything (scikit-learn's convention): distance 1
    np.testing.assert_allclose(D[:, 1], [1.0, 1.0, 1.0])
    np.testing.assert_allclose(D[1, 0], 0.0, atol=1e-15)
    C = fm.cdist(X, X, "correlation")  # constant rows: correlation undefined -> distance 1, diagonal 0
    assert np.all(np.isfinite(C))
    assert C[0, 2] == 1.0 and C[0, 0] == 0.0


@pytest.mark.parametrize("metric", ["euclidean", "cityblock", "cosine"])
def test_layouts_give_identical_results(rng, metric):
    base = rng.standard_normal((60, 40))
    Y = rng.standard_normal((25, 17)).astype(np.float32)
    C = np.ascontiguousarray(base[::2, 5:22]).astype(np.float32)
    ref = fm.cdist(C, Y, metric)
    big = base.astype(np.float32)
    F = np.asfortranarray(C)
    ro = C.copy()
    ro.flags.writeable = False
    neg = np.ascontiguousarray(C[::-1])[::-1]
    be = C.astype(">f4")
    for variant in (big[::2, 5:22], F, ro, neg, be):
        got = fm.cdist(variant, Y, metric)
        np.testing.assert_array_equal(got, ref)
        assert got.dtype == np.float32


def test_dtypes_and_promotion(rng):
    X = rng.integers(-5, 5, (10, 4))
    Y = rng.integers(-5, 5, (7, 4))
    got = fm.cdist(X, Y)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, sd.cdist(X.astype(float), Y.astype(float)), rtol=1e-12)
    assert fm.cdist(X.astype(bool), Y.astype(bool), "cityblock").dtype == np.float64
    assert fm.cdist(X.astype(np.float32), Y.astype(np.float32)).dtype == np.float32
    assert fm.cdist(X.astype(np.float32), Y.astype(np.float64)).dtype == np.float64
    assert fm.pdist(X.astype(np.float32)).dtype == np.float32
    assert fm.cdist(X.tolist(), Y.tolist()).dtype == np.float64


def test_empty_inputs():
    assert fm.cdist(np.zeros((0, 3)), np.ones((4, 3))).shape == (0, 4)
    assert fm.cdist(np.ones((2, 3)), np.zeros((0, 3))).shape == (2, 0)
    assert fm.pdist(np.ones((1, 3))).shape == (0,)
    assert fm.pdist(np.ones((0, 3))).shape == (0,)
    assert fm.pairwise_distances(np.zeros((0, 5), np.float32)).shape == (0, 0)


def test_out_argument(rng):
    X, Y = _data(rng, 20, 30, 5, np.float64)
    out = np.empty((20, 30))
    r = fm.cdist(X, Y, out=out)
    assert r is out
    np.testing.assert_allclose(out, sd.cdist(X, Y), rtol=1e-12)
    # float32 inputs into a float64 out: computed in float64
    out2 = np.empty((20, 30))
    fm.cdist(X.astype(np.float32), Y.astype(np.float32), out=out2)
    np.testing.assert_allclose(out2, sd.cdist(X.astype(np.float32), Y.astype(np.float32)), rtol=1e-12)
    # rows of a wider buffer are fine
    wide = np.zeros((20, 40))
    fm.cdist(X, Y, out=wide[:, :30])
    np.testing.assert_allclose(wide[:, :30], out, rtol=0)
    assert np.all(wide[:, 30:] == 0)
    with pytest.raises(ValueError, match="shape"):
        fm.cdist(X, Y, out=np.empty((30, 20)))
    with pytest.raises(ValueError, match="dtype"):
        fm.cdist(X, Y, out=np.empty((20, 30), np.float32))
    with pytest.raises(ValueError, match="contiguous"):
        fm.cdist(X, Y, out=np.empty((30, 20)).T)
    with pytest.raises(TypeError):
        fm.cdist(X, Y, out=[[0.0] * 30] * 20)
    pd_out = np.empty(190)
    assert fm.pdist(X, out=pd_out) is pd_out
    # an out one byte off alignment cannot be copied into place: refused, never written through
    raw = np.zeros(20 * 30 * 8 + 1, dtype=np.uint8)
    unaligned = np.frombuffer(raw.data, dtype=np.float64, count=600, offset=1).reshape(20, 30)
    assert not unaligned.flags.aligned
    with pytest.raises(ValueError, match="aligned"):
        fm.cdist(X, Y, out=unaligned)
    with pytest.raises(ValueError, match="aligned"):
        fm.pdist(X, out=np.frombuffer(raw.data, dtype=np.float64, count=190, offset=1))
    from fastmetric import _core

    with pytest.raises(ValueError, match="aligned"):
        _core.pairwise(X, Y, unaligned, "euclidean")
    with pytest.raises(ValueError, match="overlap"):
        buf = np.zeros((20, 30))
        fm.cdist(buf[:, :5], Y, out=buf)


BAD_INPUTS = [
    (lambda: fm.cdist(np.ones(3), np.ones((2, 3))), ValueError, "2-D"),
    (lambda: fm.cdist(np.ones((2, 3, 1)), np.ones((2, 3))), ValueError, "2-D"),
    (lambda: fm.cdist(np.ones((2, 3)), np.ones((2, 4))), ValueError, r"\(2, 3\).*\(2, 4\)"),
    (lambda: fm.cdist(np.ones((2, 0)), np.ones((2, 0))), ValueError, "0 features"),
    (lambda: fm.cdist(np.array([[np.nan, 1.0]]), np.ones((2, 2))), ValueError, "NaN"),
    (lambda: fm.cdist(np.ones((2, 2)), np.array([[np.inf, 1.0]])), ValueError, "infinity"),
    (lambda: fm.cdist(np.ones((2, 2), complex), np.ones((2, 2))), TypeError, "complex"),
    (lambda: fm.cdist(np.array([["a", "b"]]), np.ones((2, 2))), TypeError, "dtype"),
    (lambda: fm.cdist(np.array([[1, 2]], dtype=object), np.ones((2, 2))), TypeError, "object"),
    (lambda: fm.cdist(np.ones((2, 2)), np.ones((2, 2)), "kulczynski1"), ValueError, "unknown metric"),
    (lambda: fm.cdist(np.ones((2, 2)), np.ones((2, 2)), "euclidean", p=3), TypeError, "unexpected keyword"),
    (lambda: fm.cdist(np.ones((2, 2)), np.ones((2, 2)), "minkowski", p=0), ValueError, "greater than 0"),
    (lambda: fm.cdist(np.ones((2, 2)), np.ones((2, 2)), "minkowski", p=np.nan), ValueError, "greater than 0"),
    (lambda: fm.cdist(np.ones((2, 2)), np.ones((2, 2)), "mahalanobis", VI=np.eye(3)), ValueError, r"\(2, 2\)"),
    (lambda: fm.cdist(np.ones((2, 2)), np.ones((2, 2)), "mahalanobis", VI=-np.eye(2)), ValueError, "semi-definite"),
    (lambda: fm.cdist(np.ones((2, 2)), np.ones((2, 2)), "mahalanobis", VI=[[1, 2], [0, 1]]), ValueError, "symmetric"),
    (lambda: fm.cdist(np.ones((2, 2)), np.ones((2, 2)), "mahalanobis", L=np.eye(3)), ValueError, r"\(k, 2\)"),
    (lambda: fm.cdist(np.ones((2, 2)), np.ones((2, 2)), "mahalanobis"), ValueError, "singular"),
    (lambda: fm.cdist(np.ones((2, 2)), np.ones((2, 2)), "seuclidean", V=[1.0]), ValueError, r"\(2,\)"),
    (lambda: fm.cdist(np.ones((2, 2)), np.ones((2, 2)), "seuclidean", V=[1.0, 0.0]), ValueError, "positive"),
    (lambda: fm.cdist(np.ones((3, 2)), np.ones((3, 2)), "seuclidean"), ValueError, "positive"),
    (lambda: fm.cdist(np.ones((2, 2)), np.ones((2, 2)), n_threads=0), ValueError, "n_threads"),
    (lambda: fm.cdist(np.ones((2, 2)), np.ones((2, 2)), n_threads=1.5), TypeError, "n_threads"),
    (lambda: fm.cdist(np.ones((2, 2)), np.ones((2, 2)), metric=lambda a, b: 0.0), TypeError, "callable"),
    (lambda: fm.pdist(np.ones(5)), ValueError, "2-D"),
    (lambda: fm.squareform(np.ones(4)), ValueError, "n\\*\\(n-1\\)/2"),
]


@pytest.mark.parametrize(("call", "exc", "match"), BAD_INPUTS, ids=[str(i) for i in range(len(BAD_INPUTS))])
def test_bad_input_errors(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_unallocatable_output_is_an_error_not_a_crash():
    X = np.ones((2, 1))
    huge = np.lib.stride_tricks.as_strided(X, shape=(10**10, 1), strides=(0, 8))
    with pytest.raises((MemoryError, ValueError)):
        fm.cdist(huge, huge, check_finite=False)
    with pytest.raises(MemoryError, match=r"allocate .* GiB for the \(10000000000, 10000000\) float64 result"):
        fm.cdist(huge, huge[: 10**7], check_finite=False)


def test_check_finite_false_skips_the_scan(rng):
    X, Y = _data(rng, 5, 6, 3, np.float64)
    np.testing.assert_allclose(fm.cdist(X, Y, check_finite=False), sd.cdist(X, Y), rtol=1e-12)


@pytest.mark.parametrize("metric", ["euclidean", "cityblock", "cosine", "minkowski"])
def test_results_independent_of_thread_count(rng, metric):
    X, Y = _data(rng, 301, 777, 33, np.float32)
    kw = {"p": 3} if metric == "minkowski" else {}
    ref = fm.cdist(X, Y, metric, n_threads=1, **kw)
    for nt in (2, 3, 4, -1, None):
        np.testing.assert_array_equal(fm.cdist(X, Y, metric, n_threads=nt, **kw), ref)
    refp = fm.pdist(X, metric, n_threads=1, **kw)
    np.testing.assert_array_equal(fm.pdist(X, metric, n_threads=4, **kw), refp)


def test_concurrent_calls_from_python_threads(rng):
    X, Y = _data(rng, 400, 300, 24, np.float32)
    ref = fm.cdist(X, Y)
    results, errors = [None] * 8, []

    def work(i):
        try:
            for _ in range(3):
                results[i] = fm.cdist(X, Y, n_threads=2)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for r in results:
        np.testing.assert_array_equal(r, ref)


def test_pdist_condensed_index_layout(rng):
    X = rng.standard_normal((700, 3))  # several tiles: checks the 64-bit offset arithmetic per row
    D = fm.pdist(X)
    n = 700
    for i, j in [(0, 1), (0, 699), (5, 6), (96, 97), (95, 600), (698, 699)]:
        k = n * i - i * (i + 1) // 2 + (j - i - 1)
        assert D[k] == pytest.approx(np.linalg.norm(X[i] - X[j]), rel=1e-12)


def test_scipy_defaults_for_aliased_inputs(rng):
    # scipy estimates VI / V from the stacked inputs: cdist(X, X) stacks X twice, pdist uses X once
    X = rng.standard_normal((30, 4))
    for metric in ("mahalanobis", "seuclidean"):
        np.testing.assert_allclose(fm.cdist(X, X, metric), sd.cdist(X, X, metric), rtol=1e-11, atol=1e-13)
        np.testing.assert_allclose(fm.pdist(X, metric), sd.pdist(X, metric), rtol=1e-11)
        np.testing.assert_allclose(
            fm.pairwise_distances(X, metric=metric), sd.squareform(sd.pdist(X, metric)), rtol=1e-11, atol=1e-13
        )


def test_small_linalg_helpers(rng):
    from fastmetric import _core

    for d in (1, 2, 7, 33):
        A = rng.standard_normal((d, d))
        S = A @ A.T + d * np.eye(d)
        R = _core.cholesky_upper(S)
        assert np.allclose(np.tril(R, -1), 0)
        np.testing.assert_allclose(R.T @ R, S, rtol=1e-12, atol=1e-12 * d)
        L = _core.inverse_factor(S)
        np.testing.assert_allclose(L.T @ L, np.linalg.inv(S), rtol=1e-10, atol=1e-12)
    assert _core.cholesky_upper(-np.eye(3)) is None
    assert _core.cholesky_upper(np.diag([1.0, 0.0, 1.0])) is None  # semi-definite: not a Cholesky factor
    assert _core.inverse_factor(np.ones((3, 3))) is None
    # the semi-definite VI still works, through the eigendecomposition
    X = rng.standard_normal((5, 3))
    VI = np.diag([1.0, 0.0, 2.0])
    np.testing.assert_allclose(
        fm.cdist(X, X[::-1], "mahalanobis", VI=VI), sd.cdist(X, X[::-1], "mahalanobis", VI=VI), rtol=1e-12, atol=1e-14
    )


def test_output_pool_reuses_freed_results_and_stays_correct():
    X = np.random.default_rng(0).standard_normal((1100, 9)).astype(np.float32)  # 4.8 MB result: pooled
    previous = fm.get_config()["output_pool"]["max_bytes"]
    assert fm.set_output_pool(64 << 20)["max_bytes"] == 64 << 20
    try:
        ref = fm.cdist(X, X[:1000]).copy()
        before = fm.get_config()["output_pool"]
        for _ in range(3):
            D = fm.cdist(X, X[:1000])
            np.testing.assert_array_equal(D, ref)  # recycled memory, same result
            assert D.flags.c_contiguous and D.flags.writeable
            del D
        after = fm.get_config()["output_pool"]
        assert after["hits"] >= before["hits"] + 3
        view = fm.cdist(X, X[:1000])[5:10]  # a view keeps its buffer out of the pool
        held = fm.get_config()["output_pool"]["held_buffers"]
        E = fm.cdist(X, X[:1000])
        assert not np.shares_memory(view, E)
        assert fm.get_config()["output_pool"]["held_buffers"] <= held
        np.testing.assert_array_equal(view, ref[5:10])
        assert fm.set_output_pool(0)["held_bytes"] == 0  # disabled: everything freed
        np.testing.assert_array_equal(fm.cdist(X, X[:1000]), ref)
    finally:
        fm.set_output_pool(previous)
    with pytest.raises(ValueError, match="max_bytes"):
        fm.set_output_pool(-1)


def test_output_pool_under_concurrent_threads():
    import threading

    rng = np.random.default_rng(3)
    X = rng.standard_normal((1100, 16)).astype(np.float32)  # 4.4 MB results: pooled
    Y = rng.standard_normal((1000, 16)).astype(np.float32)
    ref = fm.cdist(X, Y).copy()
    bad = []

    def work(seed):
        r = np.random.default_rng(seed)
        keep = []
        for it in range(12):
            D = fm.cdist(X, Y, n_threads=int(r.integers(1, 3)))
            if not np.array_equal(D, ref):
                bad.append((seed, it))
            if r.random() < 0.3:  # some results stay alive while others are recycled
                keep.append(D)
                keep = keep[-3:]

    threads = [threading.Thread(target=work, args=(s,)) for s in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert bad == []
