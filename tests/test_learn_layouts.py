"""Odd memory layouts (issue 11, point 5): fields of structured arrays, views of interleaved buffers and
unaligned buffers are accepted by copying -- by every learner and by the public functions -- and give
the results of their contiguous copies."""

import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")
pytest.importorskip("scipy")

import fastmetric as fm  # noqa: E402
from fastmetric import learn  # noqa: E402


def _field(A):
    """A as the field of a structured array: row stride 8 * d + 4 bytes, not a multiple of 8."""
    s = np.zeros(A.shape[0], dtype=[("a", A.dtype, (A.shape[1],)), ("pad", "i1", (4,))])
    s["a"] = A
    return s["a"]


def _unaligned(A):
    """A in a buffer one byte off alignment (np.frombuffer at an odd offset)."""
    buf = b"\0" + np.ascontiguousarray(A).tobytes()
    return np.frombuffer(buf, dtype=A.dtype, offset=1).reshape(A.shape)


def _interleaved(A):
    """A as a view of a byte buffer whose items sit 3 bytes apart from the next row (odd byte strides)."""
    n, d = A.shape
    item = A.dtype.itemsize
    raw = np.zeros(n * (d * item + 3) + 1, dtype=np.uint8)
    V = np.ndarray(A.shape, dtype=A.dtype, buffer=raw, offset=1, strides=(d * item + 3, item))
    V[...] = A
    return V


LAYOUTS = {"field": _field, "unaligned": _unaligned, "interleaved": _interleaved}


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_layouts_are_odd(layout):
    A = LAYOUTS[layout](np.ones((5, 3)))
    assert not A.flags.aligned or any(s % A.itemsize for s in A.strides)


def _data(n=45, d=7, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    X = rng.standard_normal((n, d)) + y[:, None]
    return X.astype(dtype), y


def _learners():
    return [
        ("NCA", lambda: learn.NCA(max_iter=5, random_state=0), "labels"),
        ("LMNN", lambda: learn.LMNN(n_neighbors=2, max_iter=5, random_state=0), "labels"),
        ("ITML_Supervised", lambda: learn.ITML_Supervised(max_iter=5, random_state=0), "labels"),
        ("MMC_Supervised", lambda: learn.MMC_Supervised(max_iter=5, random_state=0), "labels"),
        ("RCA_Supervised", lambda: learn.RCA_Supervised(random_state=0), "labels"),
        ("LFDA", lambda: learn.LFDA(k=2), "labels"),
        ("MLKR", lambda: learn.MLKR(max_iter=5, random_state=0), "targets"),
        ("Covariance", lambda: learn.Covariance(), "none"),
    ]


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(("name", "make", "kind"), _learners(), ids=[n for n, _, _ in _learners()])
def test_learners_accept_odd_layouts(name, make, kind, dtype, layout):
    X, y = _data(dtype=dtype)
    target = y.astype(np.float64) if kind == "targets" else y
    Xo = LAYOUTS[layout](X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = make().fit(X, None if kind == "none" else target)
        est = make().fit(Xo, None if kind == "none" else target)
    np.testing.assert_array_equal(est.components_, ref.components_)
    np.testing.assert_array_equal(est.transform(Xo), ref.transform(X))
    pairs = np.stack([X[:10], X[10:20]], axis=1)
    np.testing.assert_array_equal(est.pair_distance(LAYOUTS[layout](pairs.reshape(10, -1)).reshape(pairs.shape)),
                                  ref.pair_distance(pairs))


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_hand_set_components_in_odd_layout(layout):
    X, y = _data()
    est = learn.NCA(max_iter=3).fit(X, y)
    L = est.components_.copy()
    est.components_ = LAYOUTS[layout](L)
    np.testing.assert_allclose(est.transform(X), X @ L.T, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(est.get_mahalanobis_matrix(), L.T @ L, rtol=1e-12, atol=1e-12)
    d = est.get_metric()(X[0], X[1])
    np.testing.assert_allclose(d, np.linalg.norm(L @ (X[0] - X[1])), rtol=1e-12)


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("d", [1, 7, 17, 33, 65])
def test_public_functions_accept_odd_layouts(layout, dtype, d):
    rng = np.random.default_rng(d)
    X = rng.standard_normal((23, d)).astype(dtype)
    Y = rng.standard_normal((19, d)).astype(dtype)
    L = rng.standard_normal((3, d)).astype(dtype)
    Xo, Yo, Lo = (LAYOUTS[layout](A) for A in (X, Y, L))
    eq = np.testing.assert_array_equal
    eq(fm.cdist(Xo, Yo), fm.cdist(X, Y))
    eq(fm.cdist(Xo, Yo, "cityblock"), fm.cdist(X, Y, "cityblock"))
    eq(fm.pdist(Xo), fm.pdist(X))
    eq(fm.pairwise_distances(Xo), fm.pairwise_distances(X))
    eq(fm.cdist(Xo, Yo, "mahalanobis", L=Lo), fm.cdist(X, Y, "mahalanobis", L=L))
    V = np.var(np.vstack([X, Y]), axis=0).astype(np.float64) + 0.5
    eq(fm.cdist(Xo, Yo, "seuclidean", V=_unaligned(V[None, :])[0]), fm.cdist(X, Y, "seuclidean", V=V))
    eq(fm.rbf_kernel(Xo, Yo, gamma=0.1), fm.rbf_kernel(X, Y, gamma=0.1))
    eq(fm.linear_kernel(Xo), fm.linear_kernel(X))
    _eq_nested(fm.kneighbors(Xo, Yo, k=4), fm.kneighbors(X, Y, k=4))
    _eq_nested(fm.kneighbors(Xo, k=3, metric="mahalanobis", L=Lo), fm.kneighbors(X, k=3, metric="mahalanobis", L=L))
    r = float(np.median(fm.cdist(X, Y)))
    _eq_nested(fm.radius_neighbors(Xo, Yo, radius=r), fm.radius_neighbors(X, Y, radius=r))


def _eq_nested(a, b):
    if isinstance(a, (tuple, list)) or (isinstance(a, np.ndarray) and a.dtype == object):
        assert len(a) == len(b)
        for u, v in zip(a, b, strict=True):
            _eq_nested(u, v)
    else:
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_core_copies_odd_layouts(layout):
    """The binding itself copies such arrays once (callers that skip the Python checks get the same)."""
    from fastmetric import _core

    rng = np.random.default_rng(1)
    X = rng.standard_normal((11, 5))
    L = rng.standard_normal((2, 5))
    out = np.empty((11, 11))
    _core.pairwise(LAYOUTS[layout](X), None, out, "sqeuclidean")
    ref = np.empty((11, 11))
    _core.pairwise(X, None, ref, "sqeuclidean")
    np.testing.assert_array_equal(out, ref)
    Z = np.empty((11, 2))
    _core.linear_map(LAYOUTS[layout](X), None, LAYOUTS[layout](L), Z)
    np.testing.assert_allclose(Z, X @ L.T, rtol=1e-12, atol=1e-12)
