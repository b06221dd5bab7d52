"""The boolean metrics against scipy 1.17: unpacked (bool / int / float) and bit-packed rows, w=,
k-NN / radius against a brute-force ranking, every ISA, thread independence, bad input."""

import os
import signal
import threading
import time

import numpy as np
import pytest
from scipy.spatial import distance as sd

import fastmetric
from fastmetric import _core
from fastmetric.distances import cdist, pairwise_distances, pdist
from fastmetric.neighbors import kneighbors, radius_neighbors

METRICS = ("dice", "hamming", "jaccard", "rogerstanimoto", "russellrao", "sokalsneath", "yule")
WIDTHS = (1, 7, 63, 64, 65, 1000)


def bits(rng, n, d, p=0.4):
    X = rng.random((n, d)) < p
    if n > 2:
        X[0] = False  # an all-zero row: the 0/0 cases
        X[1] = True
    return X


def close(a, b, rtol=1e-13):
    np.testing.assert_allclose(a, b, rtol=rtol, atol=1e-15, equal_nan=True)


def brute_knn(D, k, exclude_self=False):
    """(distance, index) order, NaN after every number, self pairs excluded."""
    D = D.copy()
    tier = np.isnan(D).astype(np.int8)
    if exclude_self:
        np.fill_diagonal(tier, 2)
    key = np.where(np.isnan(D), 0.0, D)
    idx = np.broadcast_to(np.arange(D.shape[1]), D.shape)
    order = np.lexsort((idx, key, tier), axis=1)[:, :k]
    return np.take_along_axis(D, order, axis=1), order


def test_metric_list():
    for m in METRICS:
        assert m in fastmetric.distances.DISTANCE_METRICS


@pytest.mark.parametrize("d", WIDTHS)
def test_bool_vs_scipy_every_isa(isa, rng, d):
    X, Y = bits(rng, 23, d), bits(rng, 19, d, 0.6)
    for m in METRICS:
        close(cdist(X, Y, m), sd.cdist(X, Y, m))
        close(pdist(X, m), sd.pdist(X, m))
        P, Q = np.packbits(X, axis=1), np.packbits(Y, axis=1)
        close(cdist(P, Q, m, packed=True, n_bits=d), sd.cdist(X, Y, m))
        close(pdist(P, m, packed=True, n_bits=d), sd.pdist(X, m))


def test_kernel_table_follows_isa(isa):
    assert _core.binary_isa() in ("generic", "avx2", "avx512")
    if isa == "generic":
        assert _core.binary_isa() == "generic"


@pytest.mark.parametrize("dtype", [np.int8, np.int64, np.uint8, np.float32, np.float64])
def test_numeric_inputs_follow_scipy(rng, dtype):
    # values outside 0/1: nonzero rule for five metrics, value comparisons for hamming / dice (scipy's)
    vals = np.array([0, 1, 2, 3] if np.dtype(dtype).kind == "u" else [0, 1, 2, -1], dtype=dtype)
    X = rng.choice(vals, size=(17, 9))
    Y = rng.choice(vals, size=(13, 9))
    X[0] = 0
    Y[0] = 0
    Y[3] = X[3]
    for m in METRICS:
        close(cdist(X, Y, m), sd.cdist(X, Y, m), rtol=1e-12)
        close(pdist(X, m), sd.pdist(X, m), rtol=1e-12)
    # 0/1 values in a numeric dtype take the packed path and still agree
    Z = (X != 0).astype(dtype)
    for m in METRICS:
        close(cdist(Z, Y, m), sd.cdist(Z, Y, m), rtol=1e-12)


def test_float_fractions_and_nan(rng):
    X = rng.choice([0.0, 0.5, 1.0, np.nan], size=(11, 6))
    Y = rng.choice([0.0, 0.5, 1.0, np.nan], size=(7, 6))
    for m in METRICS:
        close(cdist(X, Y, m, check_finite=False), sd.cdist(X, Y, m), rtol=1e-12)
    with pytest.raises(ValueError, match="NaN"):
        cdist(X, Y, "jaccard")


def test_all_zero_rows_and_x_is_y(rng):
    X = np.zeros((4, 70), bool)
    X[2, 3] = True
    for m in METRICS:
        close(cdist(X, X, m), sd.cdist(X, X, m))
        close(pdist(X, m), sd.pdist(X, m))
        D = pairwise_distances(X, metric=m)
        assert np.all(np.diag(D) == 0)
        close(D, sd.squareform(sd.pdist(X, m)))
    assert np.isnan(cdist(X, X, "dice")[0, 0]) and cdist(X, X, "jaccard")[0, 0] == 0


def test_empty_inputs():
    X = np.zeros((0, 10), bool)
    Y = np.ones((3, 10), bool)
    assert cdist(X, Y, "jaccard").shape == (0, 3)
    assert cdist(Y, X, "jaccard").shape == (3, 0)
    assert pdist(Y[:1], "dice").shape == (0,)
    assert cdist(np.packbits(X, axis=1), np.packbits(Y, axis=1), "hamming", packed=True, n_bits=10).shape == (0, 3)
    d, i = kneighbors(X, Y, 2, "jaccard")
    assert d.shape == (0, 2) and i.shape == (0, 2)


@pytest.mark.parametrize("d", [5, 13, 67])
def test_padding_bits_ignored(rng, d):
    X, Y = bits(rng, 9, d), bits(rng, 8, d)
    P, Q = np.packbits(X, axis=1), np.packbits(Y, axis=1)
    P[:, -1] |= np.uint8(0xFF >> (d % 8))  # garbage in the padding bits
    Q[:, -1] |= np.uint8(0xFF >> (d % 8))
    for m in METRICS:
        close(cdist(P, Q, m, packed=True, n_bits=d), cdist(X, Y, m))


def test_non_contiguous_and_views(rng):
    X = bits(rng, 30, 130)
    V = X[::2, ::-1]
    F = np.asfortranarray(X)
    for m in ("jaccard", "hamming", "yule"):
        close(cdist(V, F, m), sd.cdist(V, F, m))
        P = np.packbits(X, axis=1)
        close(cdist(P[::3], P, m, packed=True, n_bits=130), sd.cdist(X[::3], X, m))


def test_thread_independence(rng):
    X, Y = bits(rng, 300, 200), bits(rng, 257, 200)
    for m in ("jaccard", "yule"):
        ref = cdist(X, Y, m, n_threads=1)
        for nt in (2, 3):
            assert np.array_equal(cdist(X, Y, m, n_threads=nt), ref, equal_nan=True)
            assert np.array_equal(pdist(X, m, n_threads=nt), pdist(X, m, n_threads=1), equal_nan=True)
        d1, i1 = kneighbors(X, Y, 7, m, n_threads=1)
        d3, i3 = kneighbors(X, Y, 7, m, n_threads=3)
        assert np.array_equal(i1, i3) and np.array_equal(d1, d3)


def test_weights_vs_scipy(rng):
    X = rng.choice([0, 1, 2, -1], size=(12, 8)).astype(float)
    Y = rng.choice([0, 1, 2, -1], size=(9, 8)).astype(float)
    X[0] = 0
    Y[0] = 0
    w = rng.uniform(0, 3, 8)
    w[2] = 0
    for m in METRICS:
        close(cdist(X, Y, m, w=w), sd.cdist(X, Y, m, w=w), rtol=1e-12)
        close(pdist(X, m, w=w), sd.pdist(X, m, w=w), rtol=1e-12)
        B = X != 0
        close(cdist(B, Y != 0, m, w=w), sd.cdist(B, Y != 0, m, w=w), rtol=1e-12)


@pytest.mark.parametrize("metric", METRICS)
def test_kneighbors_vs_brute_force_with_ties(isa, rng, metric):
    X = rng.random((40, 12)) < 0.3  # 12 bits: many exact ties
    Y = rng.random((90, 12)) < 0.3
    X[0] = False
    Y[:3] = False
    D = sd.cdist(X, Y, metric)
    dref, iref = brute_knn(D, 9)
    d, i = kneighbors(X, Y, 9, metric)
    assert np.array_equal(i, iref)
    close(d, dref)
    dp, ip = kneighbors(np.packbits(X, axis=1), np.packbits(Y, axis=1), 9, metric, packed=True, n_bits=12)
    assert np.array_equal(ip, iref)
    # self search: a point is not its own neighbour unless include_self
    S = sd.cdist(Y, Y, metric)
    _, iself = kneighbors(Y, None, 5, metric)
    assert np.array_equal(iself, brute_knn(S, 5, exclude_self=True)[1])
    _, iinc = kneighbors(Y, None, 5, metric, include_self=True)
    assert np.array_equal(iinc, brute_knn(S, 5)[1])


def test_kneighbors_value_path_and_weights(rng):
    X = rng.choice([0, 1, 2], size=(15, 6)).astype(float)
    Y = rng.choice([0, 1, 2], size=(20, 6)).astype(float)
    w = rng.uniform(0.5, 2, 6)
    for m, kw in (("hamming", {}), ("dice", {}), ("jaccard", {"w": w}), ("hamming", {"w": w})):
        D = sd.cdist(X, Y, m, **kw)
        dref, iref = brute_knn(D, 4)
        d, i = kneighbors(X, Y, 4, m, **kw)
        assert np.array_equal(i, iref)
        close(d, dref, rtol=1e-12)
        _, iself = kneighbors(Y, None, 3, m, **kw)
        assert np.array_equal(iself, brute_knn(sd.cdist(Y, Y, m, **kw), 3, exclude_self=True)[1])


@pytest.mark.parametrize("metric", ["jaccard", "hamming", "dice"])
def test_radius_vs_brute_force(isa, rng, metric):
    X, Y = bits(rng, 25, 20), bits(rng, 60, 20)
    D = sd.cdist(X, Y, metric)
    r = float(np.nanmedian(D))
    for packed in (False, True):
        A, B = (np.packbits(X, axis=1), np.packbits(Y, axis=1)) if packed else (X, Y)
        kw = {"packed": True, "n_bits": 20} if packed else {}
        dist, ind = radius_neighbors(A, B, r, metric, **kw)
        for q in range(X.shape[0]):
            expect = np.flatnonzero(D[q] <= r)  # inclusive; NaN never within
            assert np.array_equal(ind[q], expect)
            close(dist[q], D[q, expect])
        ds, js, off = radius_neighbors(A, B, r, metric, sort_results=True, return_csr=True, **kw)
        for q in range(X.shape[0]):
            seg = slice(off[q], off[q + 1])
            expect = np.flatnonzero(D[q] <= r)
            expect = expect[np.lexsort((expect, D[q, expect]))]  # by (distance, index)
            assert np.array_equal(js[seg], expect)
            close(ds[seg], D[q, expect])
    _, iself = radius_neighbors(Y, None, r, metric)
    S = sd.cdist(Y, Y, metric)
    for q in range(Y.shape[0]):
        expect = np.flatnonzero(S[q] <= r)
        assert np.array_equal(iself[q], expect[expect != q])


def test_bad_input():
    X = np.packbits(np.ones((3, 16), bool), axis=1)
    Y = np.packbits(np.ones((3, 24), bool), axis=1)
    with pytest.raises(ValueError, match=r"different widths.*\(3, 2\).*\(3, 3\)"):
        cdist(X, Y, "jaccard", packed=True)
    with pytest.raises(ValueError, match="n_bits=17 needs 3 packed bytes"):
        cdist(X, X, "jaccard", packed=True, n_bits=17)
    with pytest.raises(ValueError, match="n_bits=8 needs 1 packed bytes"):
        cdist(X, X, "jaccard", packed=True, n_bits=8)
    with pytest.raises(ValueError, match="n_bits must be a positive int"):
        pdist(X, "jaccard", packed=True, n_bits=0)
    with pytest.raises(TypeError, match="uint8.*float64"):
        cdist(X.astype(float), X.astype(float), "jaccard", packed=True)
    with pytest.raises(ValueError, match="boolean metrics.*euclidean"):
        cdist(X, X, "euclidean", packed=True)
    with pytest.raises(ValueError, match="boolean metrics"):
        kneighbors(X, X, 1, "cosine", packed=True)
    with pytest.raises(ValueError, match="only meaningful with packed=True"):
        cdist(X, X, "jaccard", n_bits=16)
    with pytest.raises(ValueError, match="not supported with packed=True"):
        cdist(X, X, "jaccard", packed=True, w=np.ones(16))
    B = np.ones((3, 5), bool)
    with pytest.raises(ValueError, match=r"w must have shape \(5,\).*\(4,\)"):
        cdist(B, B, "dice", w=np.ones(4))
    with pytest.raises(ValueError, match="non-negative"):
        pdist(B, "yule", w=np.array([1, 1, -1, 1, 1.0]))
    with pytest.raises(ValueError, match="same number of features"):
        cdist(B, np.ones((2, 4), bool), "hamming")
    with pytest.raises(TypeError, match="unexpected keyword"):
        cdist(B, B, "hamming", p=3)
    with pytest.raises(ValueError, match="k=4 is larger"):
        kneighbors(B, None, 4, "jaccard")
    with pytest.raises(TypeError, match="packed must be True or False"):
        cdist(X, X, "jaccard", packed="yes")


@pytest.mark.skipif(not hasattr(signal, "SIGINT") or os.name != "posix", reason="POSIX signals")
def test_keyboard_interrupt_stops_the_packed_search():
    assert threading.current_thread() is threading.main_thread()
    P = np.random.default_rng(0).integers(0, 256, (400_000, 256), dtype=np.uint8)  # seconds of work
    timer = threading.Timer(0.3, lambda: os.kill(os.getpid(), signal.SIGINT))
    start = time.perf_counter()
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            kneighbors(P[:2000], P, 5, "jaccard", packed=True)
    finally:
        timer.cancel()
    assert time.perf_counter() - start < 3.0
    close(cdist(P[:2], P[:3], "jaccard", packed=True), cdist(P[:2].copy(), P[:3], "jaccard", packed=True))
