"""scipy / scikit-learn semantics at the edges (issue 11, points 3 and 4): minkowski 0 < p < 1,
numeric-parameter types, extreme magnitudes, and scikit-learn's V / VI defaults."""

import numpy as np
import pytest
from scipy.spatial import distance as sd

import fastmetric as fm

DIMS = [1, 7, 17, 33, 65]


def _data(n, m, d, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)).astype(dtype), rng.standard_normal((m, d)).astype(dtype)


def _minkowski_ref(X, Y, p):
    """Minkowski distances in float64 with exact per-pair scaling (no intermediate overflows)."""
    D = np.abs(X.astype(np.float64)[:, None, :] - Y.astype(np.float64)[None, :, :])
    m = D.max(axis=-1)
    safe = np.where(m > 0, m, 1.0)
    with np.errstate(under="ignore"):
        s = ((D / safe[..., None]) ** p).sum(axis=-1)
    return np.where(m > 0, m * s ** (1.0 / p), 0.0)


def _cosine_ref(X, Y, centre=False):
    """Cosine (correlation) distances of rows scaled to max-abs 1 first: exact for any magnitude."""
    X = X.astype(np.float64)
    Y = Y.astype(np.float64)
    if centre:
        X = X - X.mean(axis=1, keepdims=True)
        Y = Y - Y.mean(axis=1, keepdims=True)
    X = X / np.abs(X).max(axis=1, keepdims=True)
    Y = Y / np.abs(Y).max(axis=1, keepdims=True)
    return np.clip(1 - (X / np.linalg.norm(X, axis=1)[:, None]) @ (Y / np.linalg.norm(Y, axis=1)[:, None]).T, 0, 2)


# ----------------------------------------------------------------------------- minkowski 0 < p < 1


@pytest.mark.parametrize("p", [0.1, 0.25, 0.5, 0.9])
@pytest.mark.parametrize("d", DIMS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_minkowski_p_below_one_as_scipy(p, d, dtype):
    X, Y = _data(23, 19, d, seed=d, dtype=dtype)
    ref = sd.cdist(X.astype(np.float64), Y.astype(np.float64), "minkowski", p=p)
    rtol = 2e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(fm.cdist(X, Y, "minkowski", p=p), ref, rtol=rtol)
    np.testing.assert_allclose(
        fm.pdist(X, "minkowski", p=p), sd.pdist(X.astype(np.float64), "minkowski", p=p), rtol=rtol
    )
    np.testing.assert_allclose(fm.pairwise_distances(X, Y, "minkowski", p=p), ref, rtol=rtol)


@pytest.mark.parametrize("p", [0.25, 0.5])
def test_minkowski_p_below_one_neighbours_match_cdist(p):
    X, Y = _data(31, 57, 7, seed=3)
    D = fm.cdist(X, Y, "minkowski", p=p)
    dist, idx = fm.kneighbors(X, Y, k=5, metric="minkowski", p=p)
    order = np.lexsort((np.broadcast_to(np.arange(57), D.shape), D), axis=1)[:, :5]
    np.testing.assert_array_equal(idx, order)
    np.testing.assert_allclose(dist, np.take_along_axis(D, order, axis=1), rtol=1e-13)
    r = float(np.median(D))
    dr, ir, off = fm.radius_neighbors(X, Y, radius=r, metric="minkowski", p=p, return_csr=True)
    for i in range(X.shape[0]):
        np.testing.assert_array_equal(ir[off[i] : off[i + 1]], np.flatnonzero(D[i] <= r))


@pytest.mark.parametrize("p", [0, -1, -0.5, np.nan, -np.inf])
def test_minkowski_p_not_positive_is_value_error(p):
    X, Y = _data(3, 4, 2)
    with pytest.raises(ValueError, match="greater than 0"):
        fm.cdist(X, Y, "minkowski", p=p)
    with pytest.raises(ValueError, match="greater than 0"):
        fm.kneighbors(X, Y, k=1, metric="minkowski", p=p)


# ----------------------------------------------------------------------------- parameter types


@pytest.mark.parametrize("bad", ["2", b"2", [2], 2 + 0j, object()])
def test_minkowski_p_non_numeric_is_type_error(bad):
    X, Y = _data(3, 4, 2)
    for call in (
        lambda: fm.cdist(X, Y, "minkowski", p=bad),
        lambda: fm.pdist(X, "minkowski", p=bad),
        lambda: fm.pairwise_distances(X, Y, "minkowski", p=bad),
        lambda: fm.kneighbors(X, Y, k=1, metric="minkowski", p=bad),
        lambda: fm.radius_neighbors(X, Y, radius=1.0, metric="minkowski", p=bad),
    ):
        with pytest.raises(TypeError, match="p must be a real number"):
            call()


@pytest.mark.parametrize("good", [3, 3.0, np.int64(3), np.float32(3), np.float64(3), np.array(3.0), np.inf])
def test_minkowski_p_numpy_scalars_accepted(good):
    X, Y = _data(5, 6, 7)
    np.testing.assert_allclose(
        fm.cdist(X, Y, "minkowski", p=good), sd.cdist(X, Y, "minkowski", p=float(good)), rtol=1e-13
    )


def test_kernel_and_search_parameters_take_0d_arrays():
    X, Y = _data(5, 6, 7)
    np.testing.assert_allclose(fm.rbf_kernel(X, Y, gamma=np.array(0.3)), fm.rbf_kernel(X, Y, gamma=0.3))
    np.testing.assert_allclose(
        fm.polynomial_kernel(X, Y, degree=np.array(2), coef0=np.array(0.5)),
        fm.polynomial_kernel(X, Y, degree=2, coef0=0.5),
    )
    a = fm.radius_neighbors(X, Y, radius=np.array(3.0), return_csr=True)
    b = fm.radius_neighbors(X, Y, radius=3.0, return_csr=True)
    for u, v in zip(a, b, strict=True):
        np.testing.assert_array_equal(u, v)


@pytest.mark.parametrize("bad", ["2", b"2", None, True, 2.0])
def test_merge_kneighbors_k_type(bad):
    X, Y = _data(4, 6, 3)
    part = fm.kneighbors(X, Y, k=2)
    with pytest.raises(TypeError, match="k must be an int"):
        fm.merge_kneighbors(part, part, bad)


@pytest.mark.parametrize(
    "call",
    [
        lambda X, v: fm.rbf_kernel(X, gamma=v),
        lambda X, v: fm.laplacian_kernel(X, gamma=v),
        lambda X, v: fm.chi2_kernel(np.abs(X), gamma=v),
        lambda X, v: fm.sigmoid_kernel(X, coef0=v),
        lambda X, v: fm.polynomial_kernel(X, degree=v),
        lambda X, v: fm.pairwise_kernels(X, metric="poly", gamma=v),
        lambda X, v: fm.radius_neighbors(X, radius=v),
        lambda X, v: fm.kneighbors(X, k=v),
        lambda X, v: fm.cdist(X, X, n_threads=v),
    ],
)
def test_numeric_parameters_refuse_strings(call):
    X, _ = _data(4, 1, 3)
    with pytest.raises(TypeError):
        call(X, "2")


# ----------------------------------------------------------------------------- extreme magnitudes


@pytest.mark.parametrize("scale", [1e160, 1e-170, 1e300, 1e-300])
@pytest.mark.parametrize("metric", ["cosine", "correlation"])
@pytest.mark.parametrize("d", DIMS)
def test_cosine_extreme_magnitudes_float64(scale, metric, d):
    if metric == "correlation" and d == 1:
        pytest.skip("a 1-feature row is constant after centring")
    X, Y = _data(13, 11, d, seed=d)
    X, Y = X * scale, Y * scale
    ref = _cosine_ref(X, Y, centre=metric == "correlation")
    np.testing.assert_allclose(fm.cdist(X, Y, metric), ref, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(
        fm.pdist(X, metric), sd.squareform(_cosine_ref(X, X, metric == "correlation"), checks=False), atol=1e-12
    )
    if metric == "cosine":
        np.testing.assert_allclose(fm.cosine_similarity(X, Y), 1 - ref, atol=1e-12)
        dist, idx = fm.kneighbors(X, Y, k=4, metric="cosine")
        np.testing.assert_allclose(dist, np.sort(ref, axis=1)[:, :4], atol=1e-12)


def test_cosine_tiny_row_is_not_a_zero_row():
    X = np.array([[1e-170, 2e-170, 0.0], [3e-170, -1e-170, 5e-170], [0.0, 0.0, 0.0]])
    D = fm.cdist(X, X[:2], "cosine")
    ref = sd.cdist(X[:2] * 1e170, X[:2] * 1e170, "cosine")
    np.testing.assert_allclose(D[:2], ref, atol=1e-15)
    np.testing.assert_array_equal(D[2], [1.0, 1.0])  # the true zero row keeps scikit-learn's rule


@pytest.mark.parametrize("scale", [1e20, 1e-20, 1e35])
@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_float32_extreme_magnitudes(scale, metric):
    X, Y = _data(37, 29, 17, seed=5)
    X32, Y32 = (X * scale).astype(np.float32), (Y * scale).astype(np.float32)
    X64, Y64 = X32.astype(np.float64), Y32.astype(np.float64)
    if metric == "cosine":
        ref = _cosine_ref(X64, Y64)
        np.testing.assert_allclose(fm.cdist(X32, Y32, metric), ref, atol=2e-6)
    else:
        ref = sd.cdist(X64 / scale, Y64 / scale) * scale
        np.testing.assert_allclose(fm.cdist(X32, Y32, metric), ref, rtol=2e-6)
        np.testing.assert_allclose(fm.pdist(X32, metric), sd.pdist(X64 / scale) * scale, rtol=2e-6)


@pytest.mark.parametrize("scale", [1e160, 1e-170, 1e-300])
@pytest.mark.parametrize("d", DIMS)
def test_euclidean_finite_result_of_huge_or_tiny_rows(scale, d):
    """The squares overflow (underflow) but the distance itself is finite (non-zero): it is returned."""
    X, Y = _data(15, 22, d, seed=d)
    ref = sd.cdist(X, Y) * scale  # exact: distances scale linearly
    np.testing.assert_allclose(fm.cdist(X * scale, Y * scale), ref, rtol=1e-12)
    np.testing.assert_allclose(fm.pdist(X * scale), sd.pdist(X) * scale, rtol=1e-12)
    np.testing.assert_allclose(fm.cdist(X * scale, Y * scale, "seuclidean", V=np.ones(d)), ref, rtol=1e-12)
    np.testing.assert_allclose(fm.cdist(X * scale, Y * scale, "minkowski", p=2), ref, rtol=1e-12)
    L = np.eye(d)[: max(1, d - 1)]
    np.testing.assert_allclose(
        fm.cdist(X * scale, Y * scale, "mahalanobis", L=L), sd.cdist(X @ L.T, Y @ L.T) * scale, rtol=1e-12
    )
    dist, idx = fm.kneighbors(X * scale, Y * scale, k=3)
    np.testing.assert_array_equal(idx, np.argsort(ref, axis=1, kind="stable")[:, :3])
    np.testing.assert_allclose(dist, np.sort(ref, axis=1)[:, :3], rtol=1e-12)
    r = float(np.median(ref))
    _, ir, off = fm.radius_neighbors(X * scale, Y * scale, radius=r, return_csr=True)
    assert off[-1] == int((ref <= r).sum())


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_euclidean_of_rows_that_agree_to_their_last_bits(dtype, isa):
    """Equal tiny rows (hypothesis found 1e-303): after centring they differ by subnormal amounts,
    whose rescaling to [1, 2) would need a scale beyond the dtype's range; the distances are 0 / tiny
    and finite, never NaN."""
    tiny = 4.27424112e-303 if dtype == np.float64 else 1e-40
    for X in (np.full((7, 1), tiny, dtype), np.full((9, 4), tiny, dtype), np.array([[tiny], [3 * tiny]], dtype)):
        X64 = X.astype(np.float64) / float(tiny)  # scipy's squares would underflow: exact rescaled reference
        ref = sd.cdist(X64, X64) * float(tiny)
        for D in (fm.cdist(X, X.copy()), fm.pairwise_distances(X), sd.squareform(fm.pdist(X))):
            assert np.isfinite(D).all()
            np.testing.assert_allclose(np.asarray(D, np.float64), ref, rtol=1e-6, atol=0)


def test_sqeuclidean_and_rbf_of_huge_rows():
    X, Y = _data(9, 8, 7)
    with np.errstate(over="ignore"):
        ref = sd.cdist(X, Y, "sqeuclidean") * 1e160 * 1e160  # overflows: the true value is not representable
    np.testing.assert_array_equal(fm.cdist(X * 1e160, Y * 1e160, "sqeuclidean"), ref)
    np.testing.assert_allclose(
        fm.cdist(X * 1e100, Y * 1e100, "sqeuclidean"), sd.cdist(X, Y, "sqeuclidean") * 1e200, rtol=1e-12
    )
    K = fm.rbf_kernel(X * 1e160)
    np.testing.assert_array_equal(K, np.eye(9))  # exp(-huge) = 0 off the diagonal, never NaN


@pytest.mark.parametrize("p", [1000, 300, 9.5, 3, 8, 0.3])
@pytest.mark.parametrize("scale", [1.0, 1e150, 1e-150])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_minkowski_no_overflow_in_terms(p, scale, dtype):
    if dtype == np.float32:
        scale = {1.0: 1.0, 1e150: 1e15, 1e-150: 1e-15}[scale]
    X, Y = _data(21, 17, 7, seed=int(p))
    X, Y = (X * scale).astype(dtype), (Y * scale).astype(dtype)
    ref = _minkowski_ref(X, Y, p)
    rtol = 3e-5 if dtype == np.float32 else 1e-12
    D = fm.cdist(X, Y, "minkowski", p=p)
    assert np.isfinite(D).all() and (D > 0).all()
    np.testing.assert_allclose(D, ref, rtol=rtol)
    np.testing.assert_allclose(
        fm.pdist(X, "minkowski", p=p), sd.squareform(_minkowski_ref(X, X, p), checks=False), rtol=rtol
    )
    dist, idx = fm.kneighbors(X, Y, k=4, metric="minkowski", p=p)
    np.testing.assert_allclose(dist, np.sort(ref, axis=1)[:, :4], rtol=rtol)
    r = float(np.median(ref))
    _, ir, off = fm.radius_neighbors(X, Y, radius=r, metric="minkowski", p=p, return_csr=True)
    near = np.abs(ref - r) <= 4 * rtol * r  # pairs on the boundary may go either way
    assert abs(off[-1] - int((ref <= r).sum())) <= int(near.sum())


def test_minkowski_large_p_identical_rows_are_zero():
    X, _ = _data(6, 1, 5)
    X = np.vstack([X, X])
    D = fm.cdist(X, X[::-1].copy(), "minkowski", p=1000)
    np.testing.assert_array_equal(np.diag(D[:, ::-1])[:6], 0.0)


# ----------------------------------------------------------------------------- scikit-learn's V / VI


@pytest.mark.parametrize("metric", ["seuclidean", "mahalanobis"])
def test_pairwise_distances_X_X_estimates_from_X_alone(metric):
    X, _ = _data(30, 1, 4, seed=1)
    a = fm.pairwise_distances(X, metric=metric)
    b = fm.pairwise_distances(X, X, metric=metric)
    np.testing.assert_array_equal(a, b)
    if metric == "seuclidean":
        ref = sd.cdist(X, X, "seuclidean", V=np.var(X, axis=0, ddof=1))
    else:
        ref = sd.cdist(X, X, "mahalanobis", VI=np.linalg.inv(np.cov(X.T)).T)
    np.testing.assert_allclose(a, ref, rtol=1e-10, atol=1e-12)
    # cdist keeps scipy's estimate from the stacked [X; X] (ddof=1 on 2n rows): a different value
    np.testing.assert_allclose(fm.cdist(X, X, metric), sd.cdist(X, X, metric), rtol=1e-10, atol=1e-12)
    assert not np.allclose(fm.cdist(X, X, metric), a)


def test_pairwise_distances_matches_sklearn_seuclidean_example():
    # the pair of the issue: 3.0 from [X; X], 2.828 from X alone
    X = np.array([[1.0, 0.0], [0.0, 2.0], [2.0, 1.0]])
    np.testing.assert_allclose(
        fm.pairwise_distances(X, X, metric="seuclidean"), fm.pairwise_distances(X, metric="seuclidean")
    )
    sklearn = pytest.importorskip("sklearn.metrics.pairwise")
    np.testing.assert_allclose(
        fm.pairwise_distances(X, X, metric="seuclidean"),
        sklearn.pairwise_distances(X, X, metric="seuclidean"),
        rtol=1e-12,
    )


@pytest.mark.parametrize(("metric", "param"), [("seuclidean", "V"), ("mahalanobis", "VI")])
def test_pairwise_distances_with_Y_needs_the_parameter(metric, param):
    X, Y = _data(10, 8, 3)
    with pytest.raises(
        ValueError, match=f"The '{param}' parameter is required for the {metric} metric when Y is passed"
    ):
        fm.pairwise_distances(X, Y, metric=metric)
    with pytest.raises(ValueError, match="is required"):
        fm.pairwise_distances(X, X.copy(), metric=metric)  # an equal copy is not X (scikit-learn's rule)
    kw = {"V": np.var(X, axis=0, ddof=1)} if metric == "seuclidean" else {"VI": np.linalg.inv(np.cov(X.T))}
    np.testing.assert_allclose(
        fm.pairwise_distances(X, Y, metric=metric, **kw), sd.cdist(X, Y, metric, **kw), rtol=1e-12
    )
    if metric == "mahalanobis":
        L = np.linalg.cholesky(kw["VI"]).T
        np.testing.assert_allclose(
            fm.pairwise_distances(X, Y, metric=metric, L=L), sd.cdist(X, Y, metric, **kw), rtol=1e-10
        )
    # cdist (scipy) estimates from the stacked inputs, no error
    np.testing.assert_allclose(fm.cdist(X, Y, metric), sd.cdist(X, Y, metric), rtol=1e-10)


def test_seuclidean_default_V_overflow_is_a_clear_error():
    X, Y = _data(5, 4, 3)
    with pytest.raises(ValueError, match="overflows"):
        fm.cdist(X * 1e160, Y * 1e160, "seuclidean")


@pytest.mark.parametrize(
    ("metric", "kw", "scale"),
    [
        ("euclidean", {}, 1e160),
        ("euclidean", {}, 1e-170),
        ("cosine", {}, 1e160),
        ("correlation", {}, 1e-170),
        ("minkowski", {"p": 1000}, 1.0),
        ("minkowski", {"p": 3}, 1e150),
    ],
)
def test_rescaled_paths_do_not_depend_on_threads(metric, kw, scale):
    X, Y = _data(301, 257, 33, seed=9)
    X, Y = X * scale, Y * scale
    ref = fm.cdist(X, Y, metric, n_threads=1, **kw)
    np.testing.assert_array_equal(fm.cdist(X, Y, metric, n_threads=2, **kw), ref)
    np.testing.assert_array_equal(fm.pdist(X, metric, n_threads=1, **kw), fm.pdist(X, metric, n_threads=2, **kw))
    d1, i1 = fm.kneighbors(X, Y, k=7, metric=metric, n_threads=1, **kw)
    d2, i2 = fm.kneighbors(X, Y, k=7, metric=metric, n_threads=2, **kw)
    np.testing.assert_array_equal(d1, d2)
    np.testing.assert_array_equal(i1, i2)
