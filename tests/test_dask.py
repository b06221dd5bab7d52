"""fastmetric.dask (issue 14) on a real 2-process LocalCluster and on dask's threaded scheduler.

Every result is compared with the in-memory call on the same (whole) arrays: distances and kernels
bit for bit where the block pair packs the same values (the shift is the whole problem's mean),
k-NN exactly (distances and indices, ties by index included).
"""

from __future__ import annotations

import pickle
import subprocess
import sys

import numpy as np
import pytest

import fastmetric as fm

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")
distributed = pytest.importorskip("distributed")
fmd = pytest.importorskip("fastmetric.dask")

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(params=["distributed", "threads"])
def run(request, client):
    """compute(*collections) on the 2-worker cluster or on the threaded scheduler."""
    if request.param == "distributed":
        return lambda *objs: dask.compute(*objs, scheduler=client.get)
    return lambda *objs: dask.compute(*objs, scheduler="threads")


def _data(rng, n, d, dtype, offset=0.0):
    return (rng.standard_normal((n, d)) + offset).astype(dtype)


UNEVEN = ((7, 13, 1, 19), (20, 20))  # X rows 40 in four uneven blocks; Y rows 40 in two


def test_import_fastmetric_does_not_import_dask():
    code = "import sys, fastmetric; fastmetric.cdist([[0.0]], [[1.0]]); print('dask' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


CDIST_CASES = [
    ("euclidean", {}),
    ("sqeuclidean", {}),
    ("cosine", {}),
    ("correlation", {}),
    ("cityblock", {}),
    ("chebyshev", {}),
    ("minkowski", {"p": 3}),
    ("minkowski", {"p": 2}),
    ("seuclidean", {"V": np.linspace(0.5, 2.0, 9)}),
    ("mahalanobis", {"L": np.arange(27.0).reshape(3, 9) % 5 - 2}),
    ("mahalanobis", {"VI": np.diag(np.linspace(1.0, 3.0, 9))}),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cdist_equals_memory_bit_for_bit(run, rng, dtype):
    X = _data(rng, 40, 9, dtype, offset=30.0)  # far from the origin: the shift matters
    Y = _data(rng, 40, 9, dtype, offset=30.0)
    Xd = da.from_array(X, chunks=(UNEVEN[0], (4, 5)))  # feature chunks too: rechunked to one
    Yd = da.from_array(Y, chunks=(UNEVEN[1], 9))
    lazy = [fmd.cdist(Xd, Yd, metric, **kw) for metric, kw in CDIST_CASES]
    for D in lazy:
        assert D.chunks == (UNEVEN[0], UNEVEN[1]) and D.dtype == dtype
    for got, (metric, kw) in zip(run(*lazy), CDIST_CASES, strict=True):
        np.testing.assert_array_equal(got, fm.cdist(X, Y, metric, **kw), err_msg=metric)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("metric", ["seuclidean", "mahalanobis"])
def test_defaults_estimated_once_from_all_rows(run, rng, dtype, metric):
    X = _data(rng, 40, 5, dtype)
    Y = _data(rng, 23, 5, dtype)
    Xd, Yd = da.from_array(X, chunks=(UNEVEN[0], 5)), da.from_array(Y, chunks=((11, 12), 5))
    (got_c, got_p) = run(fmd.cdist(Xd, Yd, metric), fmd.pairwise_distances(Xd, metric=metric))
    rtol = 1e-5 if dtype == np.float32 else 1e-11
    np.testing.assert_allclose(got_c, fm.cdist(X, Y, metric), rtol=rtol)  # scipy's rule: stacked rows
    np.testing.assert_allclose(got_p, fm.pairwise_distances(X, metric=metric), rtol=rtol, atol=rtol)  # X alone
    with pytest.raises(ValueError, match="required"):  # scikit-learn's rule with Y given
        fmd.pairwise_distances(Xd, Yd, metric=metric)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pairwise_distances_symmetric(run, rng, dtype):
    X = _data(rng, 40, 17, dtype, offset=5.0)
    Xd = da.from_array(X, chunks=(UNEVEN[0], 17))
    (got,) = run(fmd.pairwise_distances(Xd))
    ref = fm.pairwise_distances(X)
    np.testing.assert_array_equal(got, got.T)
    assert (np.diag(got) == 0).all()
    np.testing.assert_allclose(got, ref, rtol=1e-12 if dtype == np.float64 else 1e-6)


KERNEL_CASES = [
    ("linear_kernel", {}),
    ("polynomial_kernel", {"degree": 2, "coef0": 0.5}),
    ("polynomial_kernel", {"degree": 2.5, "coef0": 1.0}),
    ("rbf_kernel", {}),
    ("rbf_kernel", {"gamma": 0.3, "L": np.eye(7)[:3] * 0.5}),
    ("laplacian_kernel", {"gamma": 0.2}),
    ("sigmoid_kernel", {"gamma": 0.05}),
    ("cosine_similarity", {}),
    ("chi2_kernel", {"gamma": 0.5}),
    ("additive_chi2_kernel", {}),
]
EXACT_KERNELS = ("linear_kernel", "polynomial_kernel", "cosine_similarity", "additive_chi2_kernel")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_named_kernels_equal_memory(run, rng, dtype):
    X = np.abs(_data(rng, 40, 7, dtype))
    Y = np.abs(_data(rng, 40, 7, dtype))
    Xd, Yd = da.from_array(X, chunks=(UNEVEN[0], 7)), da.from_array(Y, chunks=(UNEVEN[1], 7))
    lazy = [getattr(fmd, name)(Xd, Yd, **kw) for name, kw in KERNEL_CASES]
    lazy += [getattr(fmd, name)(Xd, **kw) for name, kw in KERNEL_CASES]
    results = run(*lazy)
    n = len(KERNEL_CASES)
    for c, (name, kw) in enumerate(KERNEL_CASES):
        got, got_sym = results[c], results[n + c]
        ref = getattr(fm, name)(X, Y, **kw)
        if name in EXACT_KERNELS:
            np.testing.assert_array_equal(got, ref, err_msg=name)
        else:  # a vectorised exp / tanh epilogue: the lanes of a row's tail may round differently (1 ulp)
            np.testing.assert_allclose(got, ref, rtol=4e-7 if dtype == np.float32 else 1e-15, atol=0, err_msg=name)
        ref_sym = getattr(fm, name)(X, **kw)
        np.testing.assert_allclose(got_sym, ref_sym, rtol=1e-12 if dtype == np.float64 else 2e-6, atol=1e-7)
        np.testing.assert_array_equal(got_sym, got_sym.T)


def test_pairwise_kernels_names_and_mixed_inputs(run, rng):
    X = rng.integers(0, 5, (30, 6))  # ints compute in float64, as in memory
    Y = rng.standard_normal((11, 6)).astype(np.float32)
    Xd = da.from_array(X, chunks=((10, 20), 6))
    K1, K2, K3 = run(
        fmd.pairwise_kernels(Xd, Y, "poly", degree=2), fmd.pairwise_kernels(Y, Xd, "rbf"), fmd.cdist(Y, Xd)
    )
    assert K1.dtype == np.float64 and K2.dtype == np.float64
    np.testing.assert_array_equal(K1, fm.pairwise_kernels(X, Y, "poly", degree=2))
    np.testing.assert_allclose(K2, fm.pairwise_kernels(Y, X, "rbf"), rtol=1e-15)  # exp lanes: 1 ulp
    np.testing.assert_array_equal(K3, fm.cdist(Y, X))
    with pytest.raises(TypeError, match="unexpected"):
        fmd.pairwise_kernels(Xd, Y, "linear", gamma=1.0)
    with pytest.raises(ValueError, match="unknown kernel"):
        fmd.pairwise_kernels(Xd, Y, "nope")


# ------------------------------------------------------------------------------------------ k-NN
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    ("xchunks", "ychunks", "k"),
    [
        ((7, 13, 1, 19), (3, 2, 29, 5, 3, 1), 4),  # uneven, reference chunks smaller than k
        ((40,), (43,), 10),  # single chunks
        ((20, 20), (1,) * 43, 7),  # one-row reference blocks: a deep merge tree
    ],
)
def test_kneighbors_exact(run, rng, dtype, xchunks, ychunks, k):
    X = _data(rng, 40, 6, dtype, offset=10.0)
    Y = _data(rng, 43, 6, dtype, offset=10.0)
    Xd, Yd = da.from_array(X, chunks=(xchunks, 6)), da.from_array(Y, chunks=(ychunks, (3, 3)))
    dist, ind = run(*fmd.kneighbors(Xd, Yd, k))
    ref_d, ref_i = fm.kneighbors(X, Y, k)
    np.testing.assert_array_equal(ind, ref_i)
    np.testing.assert_array_equal(dist, ref_d)
    assert dist.dtype == dtype and ind.dtype == np.int64


@pytest.mark.parametrize("include_self", [False, True])
def test_kneighbors_self_search_and_ties_by_index(run, include_self):
    # integer points with many exact duplicates and a dyadic mean (7/8, 9/8): every centred value,
    # norm and distance is exact, so ties are exact everywhere
    base = np.array([[0, 0], [1, 0], [0, 1], [1, 1], [2, 2], [2, 1], [1, 2], [0, 2]], dtype=np.float64)
    X = np.tile(base, (6, 1))[np.random.default_rng(3).permutation(48)]
    Xd = da.from_array(X, chunks=((4, 11, 2, 20, 8, 3), 2))
    D = np.sqrt(((X[:, None, :] - X[None, :, :]) ** 2).sum(-1))
    if not include_self:
        np.fill_diagonal(D, np.inf)
    for k in (1, 5, 12):
        dist, ind = run(*fmd.kneighbors(Xd, k=k, include_self=include_self))
        oracle = np.array([np.lexsort((np.arange(48), row))[:k] for row in D])  # (distance, index)
        np.testing.assert_array_equal(ind, oracle)
        ref_d, ref_i = fm.kneighbors(X, k=k, include_self=include_self)
        np.testing.assert_array_equal(ind, ref_i)
        np.testing.assert_array_equal(dist, ref_d)
    (ind_only,) = run(fmd.kneighbors(Xd, Xd, k=3, return_distance=False, metric="cityblock"))
    np.testing.assert_array_equal(ind_only, fm.kneighbors(X, X, k=3, return_distance=False, metric="cityblock"))


@pytest.mark.parametrize(
    ("metric", "kw"),
    [
        ("cosine", {}),
        ("minkowski", {"p": 1.5}),
        ("chebyshev", {}),
        ("seuclidean", {"V": np.arange(1.0, 6.0)}),
        ("mahalanobis", {"L": np.triu(np.ones((5, 5)))}),
    ],
)
def test_kneighbors_other_metrics(run, rng, metric, kw):
    X, Y = _data(rng, 30, 5, np.float64), _data(rng, 50, 5, np.float64)
    Xd, Yd = da.from_array(X, chunks=((10, 20), 5)), da.from_array(Y, chunks=((17, 16, 17), 5))
    dist, ind = run(*fmd.kneighbors(Xd, Yd, 6, metric, **kw))
    ref_d, ref_i = fm.kneighbors(X, Y, 6, metric, **kw)
    np.testing.assert_array_equal(ind, ref_i)
    np.testing.assert_array_equal(dist, ref_d)


@pytest.mark.parametrize("sort_results", [False, True])
def test_radius_neighbors_equal_memory(run, rng, sort_results):
    X, Y = _data(rng, 30, 3, np.float32), _data(rng, 41, 3, np.float32)
    Xd, Yd = da.from_array(X, chunks=((9, 21), 3)), da.from_array(Y, chunks=((2, 20, 19), 3))
    radii = np.linspace(0.5, 1.5, 30)
    for r, Yin in ((1.2, Yd), (radii, Yd), (1.0, None)):
        dist, ind = run(*fmd.radius_neighbors(Xd, Yin, r, sort_results=sort_results))
        ref_d, ref_i = fm.radius_neighbors(X, None if Yin is None else Y, r, sort_results=sort_results)
        assert len(ind) == 30
        for a, b, c, e in zip(dist, ref_d, ind, ref_i, strict=True):
            np.testing.assert_array_equal(c, e)
            np.testing.assert_array_equal(a, b)


def test_task_threads_follow_the_scheduler(client):
    assert client.submit(fmd.task_threads, pure=False).result() == 1  # threads_per_worker=1
    with dask.config.set(num_workers=3):
        assert dask.delayed(fmd.task_threads)().compute(scheduler="threads") == 3
    assert fmd.task_threads(2) == 2


# ------------------------------------------------------------------------------------- bad input
def test_bad_inputs_raise_clear_errors(run, rng):
    X = da.from_array(_data(rng, 20, 4, np.float64), chunks=(7, 4))
    with pytest.raises(ValueError, match="same number of features"):
        fmd.cdist(X, da.ones((5, 3), chunks=(5, 3)))
    with pytest.raises(ValueError, match="same number of features"):
        fmd.kneighbors(X, da.ones((5, 5), chunks=(5, 2)), k=2)
    unknown = X[X[:, 0] > 0]  # boolean mask: nan chunk sizes
    with pytest.raises(ValueError, match="unknown chunk sizes"):
        fmd.cdist(unknown, X)
    with pytest.raises(ValueError, match="unknown chunk sizes"):
        fmd.kneighbors(X, unknown, k=1)
    with pytest.raises(ValueError, match="empty"):
        fmd.cdist(X, da.zeros((0, 4), chunks=(1, 4)))
    with pytest.raises(ValueError, match="empty"):
        fmd.kneighbors(da.zeros((0, 4), chunks=(1, 4)), X, k=1)
    with pytest.raises(ValueError, match="k=21 is larger than the number of references"):
        fmd.kneighbors(X, X, k=21)
    with pytest.raises(ValueError, match="k=20 is larger than the number of other points"):
        fmd.kneighbors(X, k=20)
    with pytest.raises(TypeError, match="dtype"):
        fmd.cdist(X, da.from_array(np.array([["a"] * 4]), chunks=1))
    with pytest.raises(ValueError, match="unknown metric"):
        fmd.cdist(X, X, "nope")


def test_nan_found_at_compute_time_names_the_block(run, rng):
    A = _data(rng, 20, 4, np.float64)
    A[13, 2] = np.nan
    X = da.from_array(A, chunks=(7, 4))
    Y = da.from_array(_data(rng, 9, 4, np.float64), chunks=(5, 4))
    with pytest.raises(ValueError, match=r"Y block 1 \(rows 7:14\) contains NaN"):
        run(fmd.kneighbors(Y, X, k=2))
    with pytest.raises(ValueError, match=r"XA block 1 \(rows 7:14\) contains NaN"):
        run(fmd.cdist(X, Y))
    negative = da.from_array(-np.ones((4, 4)), chunks=(2, 4))
    with pytest.raises(ValueError, match="non-negative"):
        run(fmd.chi2_kernel(negative, Y))


def test_results_compose_with_dask_operations(rng):
    X = _data(rng, 50, 4, np.float64)
    Xd = da.from_array(X, chunks=(13, 4))
    dist, ind = fmd.kneighbors(Xd, k=3)
    ref_d, ref_i = fm.kneighbors(X, k=3)
    got_i, got_d, got_D = dask.compute(ind[20:30], (dist + 1)[:5], fmd.cdist(Xd, Xd[:20])[3:40, 2:7], scheduler="sync")
    np.testing.assert_array_equal(got_i, ref_i[20:30])
    np.testing.assert_array_equal(got_d, ref_d[:5] + 1)
    np.testing.assert_array_equal(got_D, fm.cdist(X, X[:20])[3:40, 2:7])


# -------------------------------------------------------------------------------------- pickling
def test_graphs_pickle(rng):
    X = da.from_array(_data(rng, 20, 4, np.float32), chunks=(7, 4))
    for obj in (fmd.cdist(X, X, "mahalanobis"), fmd.kneighbors(X, k=3)[1], fmd.rbf_kernel(X)):
        graph = dict(obj.__dask_graph__())
        again = pickle.loads(pickle.dumps(graph))
        assert set(again) == set(graph)
        got = dask.compute(obj, scheduler="sync")[0]
        np.testing.assert_array_equal(dask.array.Array(obj.dask, obj.name, obj.chunks, obj.dtype).compute(), got)


# ------------------------------------------------------------------------------------- learners
@pytest.fixture(params=["distributed", "threads"])
def scheduler(request, client):
    """A dask.config scheduler setting: the 2-worker cluster or the threaded scheduler."""
    return client.get if request.param == "distributed" else "threads"


@pytest.mark.parametrize("objective", ["nca", "mlkr"])
def test_learner_gradient_equals_memory(scheduler, rng, objective):
    learn_dask = pytest.importorskip("fastmetric.learn._dask_fit")
    X = rng.standard_normal((200, 6))
    t = rng.integers(0, 4, 200).astype(np.float64) if objective == "nca" else rng.standard_normal(200)
    L = rng.standard_normal((3, 6)) * 0.7
    w = rng.uniform(0.0, 2.0, 200)
    Xd = da.from_array(X, chunks=((50, 3, 147), 6))
    loss0, grad0 = fm._core.LinearPairProblem(X, t, objective).loss_grad(L, 1)
    lossw0, gradw0 = fm._core.LinearPairProblem(X, t, objective, sample_weight=w).loss_grad(L, 1)
    with dask.config.set(scheduler=scheduler):
        loss1, grad1 = learn_dask.pair_loss_grad(Xd, t, L, objective)
        loss2, grad2 = learn_dask.pair_loss_grad(Xd, t, L, objective)
        lossw1, gradw1 = learn_dask.pair_loss_grad(Xd, t, L, objective, sample_weight=w)
    assert abs(loss1 - loss0) <= 1e-12 * abs(loss0)
    assert np.abs(grad1 - grad0).max() <= 1e-10 * np.abs(grad0).max()
    np.testing.assert_array_equal(grad1, grad2)  # identical run to run
    assert abs(lossw1 - lossw0) <= 1e-12 * abs(lossw0)  # weighted rows (class_weight / sample_weight)
    assert np.abs(gradw1 - gradw0).max() <= 1e-10 * np.abs(gradw0).max()


LEARNER_CHUNKS = [(1, 199), (1, 1, 1, 197), (64, 64, 64, 8), (200,), (13, 120, 67)]


@pytest.mark.parametrize("objective", ["nca", "mlkr"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("chunks", LEARNER_CHUNKS)
@pytest.mark.parametrize("scale", [0.3, 2.5])
def test_learner_gradient_awkward_blocks(rng, objective, dtype, chunks, scale):
    """Blocks of 1 row, unequal chunks, float32, row weights; scale 2.5: most pairs screened away."""
    learn_dask = pytest.importorskip("fastmetric.learn._dask_fit")
    X = rng.standard_normal((200, 7)).astype(dtype)
    t = rng.integers(0, 4, 200).astype(np.float64) if objective == "nca" else rng.standard_normal(200)
    L = rng.standard_normal((5, 7)) * scale
    w = rng.uniform(0.0, 2.0, 200)
    prob = fm._core.LinearPairProblem(X, t, objective, sample_weight=w)
    lossw0, gradw0 = prob.loss_grad(L.astype(dtype), 1)
    with dask.config.set(scheduler="threads"):
        Xd = da.from_array(X, chunks=(chunks, 7))
        lossw1, gradw1 = learn_dask.pair_loss_grad(Xd, t, L, objective, sample_weight=w)
    tol = 1e-10 if dtype == np.float64 else 2e-4
    assert abs(lossw1 - lossw0) <= tol * abs(lossw0)
    assert np.abs(gradw1 - gradw0).max() <= tol * np.abs(gradw0).max()


@pytest.mark.parametrize("objective", ["nca", "mlkr"])
def test_learner_gradient_block_pair_screened_away(scheduler, rng, objective):
    """Two clusters 60 apart, one per block: their block pair keeps no pair (its shares are 0)."""
    learn_dask = pytest.importorskip("fastmetric.learn._dask_fit")
    X = rng.standard_normal((90, 4))
    X[50:] += 60.0
    t = rng.integers(0, 3, 90).astype(np.float64) if objective == "nca" else rng.standard_normal(90)
    L = np.eye(4)[:3] * 0.9
    loss0, grad0 = fm._core.LinearPairProblem(X, t, objective).loss_grad(L, 1)
    with dask.config.set(scheduler=scheduler):
        loss1, grad1 = learn_dask.pair_loss_grad(da.from_array(X, chunks=((50, 40), 4)), t, L, objective)
    assert abs(loss1 - loss0) <= 1e-12 * abs(loss0)
    assert np.abs(grad1 - grad0).max() <= 1e-10 * np.abs(grad0).max()


@pytest.mark.parametrize("name", ["NCA", "MLKR"])
def test_learner_fit_transform_and_pickle(scheduler, rng, name):
    learn = pytest.importorskip("fastmetric.learn")
    X = rng.standard_normal((120, 5))
    y = rng.integers(0, 3, 120) if name == "NCA" else X[:, 0] + 0.1 * rng.standard_normal(120)
    Xd = da.from_array(X, chunks=((70, 50), 5))
    kw = {"n_components": 3, "init": "pca", "max_iter": 5}
    if name == "NCA":
        kw["class_weight"] = "balanced"
    ref = getattr(learn, name)(**kw).fit(X, y)
    with dask.config.set(scheduler=scheduler):
        est = getattr(learn, name)(**kw).fit(Xd, da.from_array(y, chunks=50))  # y may be Dask too
        Z = est.transform(Xd)  # lazy
        assert isinstance(Z, da.Array) and Z.chunks == (Xd.chunks[0], (3,))
        restored = pickle.loads(pickle.dumps(est))
        (Zc, Zr) = dask.compute(Z, restored.transform(Xd))
    np.testing.assert_allclose(est.components_, ref.components_, rtol=1e-6, atol=1e-8)
    np.testing.assert_array_equal(Zc, est.transform(X))
    np.testing.assert_array_equal(Zr, Zc)
    assert est.n_iter_ == ref.n_iter_


def test_learner_dask_errors(rng):
    learn = pytest.importorskip("fastmetric.learn")
    Xd = da.from_array(rng.standard_normal((40, 5)), chunks=(20, 5))
    with pytest.raises(ValueError, match="init='lda'"):
        learn.NCA(n_components=2).fit(Xd, rng.integers(0, 3, 40))  # auto -> lda
    with pytest.raises(ValueError, match="different numbers of samples"):
        learn.NCA(init="identity").fit(Xd, np.zeros(39))
