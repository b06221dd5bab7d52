"""Kernel learners and LMNN on Dask arrays (issue 14), on a real 2-process LocalCluster and on the
threaded scheduler.

KernelNCA / KernelMLKR / KernelLMNN with ``n_landmarks=m`` fit a Dask X through Nystroem features
computed per row block and the distributed NCA / MLKR / LMNN fits; LMNN keeps X distributed and gathers
its embedding. Every fit is compared with the in-memory fit of the same (whole) data: same landmark
rows, target neighbours and searches, components and embeddings to rounding (over a few L-BFGS
iterations: the iterations amplify rounding, most for LMNN's piecewise quadratic loss).
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import fastmetric as fm

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")
distributed = pytest.importorskip("distributed")
learn = pytest.importorskip("fastmetric.learn")

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(params=["distributed", "threads"])
def scheduler(request, client):
    """A dask.config scheduler setting: the 2-worker cluster or the threaded scheduler."""
    return client.get if request.param == "distributed" else "threads"


def _rel(a, b):
    return float(np.abs(np.asarray(a) - np.asarray(b)).max() / max(np.abs(np.asarray(b)).max(), 1e-300))


def _rings(rng, n):
    r = rng.integers(0, 3, n)
    t = rng.uniform(0, 2 * np.pi, n)
    X = np.c_[(1 + r) * np.cos(t), (1 + r) * np.sin(t), rng.standard_normal((n, 3)) * 0.3]
    return X + 0.05 * rng.standard_normal(X.shape), r


CASES = [
    ("KernelNCA", {"kernel": "rbf", "init": "pca", "class_weight": "balanced"}),
    ("KernelNCA", {"kernel": "laplacian", "init": "identity", "gamma": 0.3}),
    ("KernelMLKR", {"kernel": "rbf", "init": "pca"}),
    ("KernelMLKR", {"kernel": "poly", "degree": 2, "init": "identity", "alpha": 0.01}),
    ("KernelLMNN", {"kernel": "rbf", "init": "pca", "n_neighbors": 2}),
]


@pytest.mark.parametrize(("name", "kw"), CASES)
def test_kernel_learner_dask_fit_equals_memory(scheduler, rng, name, kw):
    X, r = _rings(rng, 260)
    y = np.sin(X[:, 0]) + 0.1 * X[:, 1] ** 2 if name == "KernelMLKR" else r
    kw = {"n_components": 2, "n_landmarks": 37, "max_iter": 8, "random_state": 3, **kw}
    ref = getattr(learn, name)(**kw).fit(X, y)
    Xd = da.from_array(X, chunks=((90, 7, 163), 5))
    with dask.config.set(scheduler=scheduler):
        est = getattr(learn, name)(**kw).fit(Xd, da.from_array(y, chunks=100))  # y may be Dask too
        Z = est.transform(Xd)  # lazy
        assert isinstance(Z, da.Array) and Z.chunks == (Xd.chunks[0], (2,))
        restored = pickle.loads(pickle.dumps(est))
        Zc, Zr = dask.compute(Z, restored.transform(Xd))
    np.testing.assert_array_equal(est.landmark_indices_, ref.landmark_indices_)
    np.testing.assert_array_equal(est.landmarks_, ref.landmarks_)
    np.testing.assert_array_equal(est.feature_eigenvalues_, ref.feature_eigenvalues_)
    assert est.rank_ == ref.rank_ and est.n_iter_ == ref.n_iter_ and est.n_features_in_ == 5
    assert _rel(est.feature_components_, ref.feature_components_) <= 1e-8
    assert _rel(est.components_, ref.components_) <= 1e-8
    assert _rel(Zc, ref.transform(X)) <= 1e-8
    np.testing.assert_allclose(Zc, est.transform(X), rtol=1e-12, atol=1e-12 * np.abs(Zc).max())
    np.testing.assert_array_equal(Zr, Zc)
    if name != "KernelMLKR":
        np.testing.assert_array_equal(est.classes_, ref.classes_)
    if name == "KernelLMNN":
        assert est.n_impostor_searches_ == ref.n_impostor_searches_ and est.n_saturated_ == ref.n_saturated_


def test_kernel_learner_dask_float32_and_string_labels(rng):
    X, r = _rings(rng, 150)
    X = X.astype(np.float32)
    y = np.array(["inner", "middle", "outer"])[r]
    kw = {"n_components": 2, "n_landmarks": 20, "init": "identity", "max_iter": 4, "random_state": 0}
    ref = learn.KernelNCA(**kw).fit(X, y)
    with dask.config.set(scheduler="threads"):
        est = learn.KernelNCA(**kw).fit(da.from_array(X, chunks=(64, 5)), y)
        Z = est.transform(da.from_array(X, chunks=(50, 5))).compute()
    assert est.components_.dtype == np.float32 and Z.dtype == np.float32
    np.testing.assert_array_equal(est.classes_, ref.classes_)
    np.testing.assert_array_equal(est.landmark_indices_, ref.landmark_indices_)
    assert _rel(est.components_, ref.components_) <= 1e-3
    assert _rel(Z, est.transform(X)) <= 1e-5


@pytest.mark.parametrize("name", ["KernelLMNN", "KernelLFDA", "KernelNCA"])
def test_lazy_transform_of_memory_fitted_kernel_learners(rng, name):
    X, r = _rings(rng, 90)
    est = getattr(learn, name)(n_components=2, n_landmarks=30, random_state=0).fit(X, r)
    Xd = da.from_array(X[:50], chunks=((20, 30), 5))
    Z = est.transform(Xd)
    assert isinstance(Z, da.Array)
    got = Z.compute(scheduler="threads")
    np.testing.assert_allclose(got, est.transform(X[:50]), rtol=1e-12, atol=1e-12 * np.abs(got).max())


def test_lazy_transform_precomputed_kernel(rng):
    X, r = _rings(rng, 60)
    K = np.exp(-0.5 * ((X[:, None, :] - X[None, :, :]) ** 2).sum(-1))
    est = learn.KernelNCA(n_components=2, kernel="precomputed", n_landmarks=25, random_state=0, max_iter=5).fit(K, r)
    Kd = da.from_array(K[:40], chunks=(15, 20))  # feature chunks are joined
    got = est.transform(Kd).compute(scheduler="threads")
    np.testing.assert_array_equal(got, est.transform(K[:40]))


def test_kernel_learner_dask_errors(rng):
    X, r = _rings(rng, 40)
    Xd = da.from_array(X, chunks=(20, 5))
    with pytest.raises(ValueError, match=r"n_landmarks=None .*exact kernel learner.*n_landmarks=m"):
        learn.KernelNCA().fit(Xd, r)
    with pytest.raises(ValueError, match=r"n_landmarks=40 .*exact kernel learner"):
        learn.KernelMLKR(n_landmarks=40).fit(Xd, X[:, 0])
    K = da.from_array(np.eye(40), chunks=(20, 40))
    with pytest.raises(ValueError, match="kernel='precomputed' with a Dask X is not supported"):
        learn.KernelNCA(kernel="precomputed", n_landmarks=10).fit(K, r)
    with pytest.raises(ValueError, match="KernelLFDA does not fit on a Dask X"):
        learn.KernelLFDA(n_landmarks=10).fit(Xd, r)
    with pytest.raises(ValueError, match="preprocessor must be None"):
        learn.KernelNCA(n_landmarks=10, preprocessor=X).fit(Xd, r)
    with pytest.raises(ValueError, match="init='lda'"):
        learn.KernelNCA(n_components=2, n_landmarks=10).fit(Xd, r)  # auto -> lda on the features
    with pytest.raises(ValueError, match="different numbers of samples"):
        learn.KernelNCA(n_landmarks=10, init="pca").fit(Xd, r[:39])
    with pytest.raises(ValueError, match="at least 2 classes"):
        learn.KernelNCA(n_landmarks=10, init="pca").fit(Xd, np.zeros(40))
    with pytest.raises(ValueError, match="must be None or a positive int"):
        learn.KernelNCA(n_landmarks=0).fit(Xd, r)
    bad = X.copy()
    bad[33, 1] = np.nan  # not a landmark row: raised from the feature task at compute time
    est = learn.KernelNCA(n_landmarks=10, init="pca", random_state=0)
    with dask.config.set(scheduler="threads"), pytest.raises(ValueError, match="NaN or infinity"):
        est.fit(da.from_array(bad, chunks=(20, 5)), r)
    fitted = learn.KernelNCA(n_components=2, n_landmarks=10, random_state=0, max_iter=3).fit(X, r)
    with pytest.raises(ValueError, match="X has 4 features"):
        fitted.transform(Xd[:, :4])


# ------------------------------------------------------------------------------------------ LMNN
def test_lmnn_coefficients_give_the_engine_gradient(rng):
    n, d, k = 90, 7, 3
    X = rng.standard_normal((n, d))
    labels = np.sort(rng.integers(0, 3, n)).astype(np.int64)
    targets = np.full((n, 3), -1, dtype=np.int64)
    for i in range(n):
        same = np.flatnonzero(labels == labels[i])
        same = same[same != i]
        targets[i, : min(3, same.size)] = rng.choice(same, min(3, same.size), replace=False)
    targets[4, 2] = -1  # absent entries
    Z = X @ (rng.standard_normal((k, d)) * 0.5).T
    w = rng.uniform(0.2, 2.0, n)
    rows, hits = np.repeat(np.arange(n), 40), rng.integers(0, n, n * 40)  # same-label hits included
    for weight in (None, w):
        problem = fm._core.LmnnProblem(X, targets, labels, sample_weight=weight)
        problem.set_hits(rows, hits)
        loss, grad, n_active, _, _, _ = problem.loss_grad(np.ascontiguousarray(Z), 0.3, 1)
        # what the Dask fit calls: the same evaluation with U (grad = 2 U^T X) in place of grad, on a
        # problem whose X is a one-column stand-in
        stand_in = fm._core.LmnnProblem(np.zeros((n, 1)), targets, labels, sample_weight=weight)
        stand_in.set_hits(rows, hits)
        loss_u, U, n_active_u, _, _, _ = stand_in.loss_coefficients(np.ascontiguousarray(Z), 0.3, 1)
        assert n_active > 100 and U.shape == (n, k)
        assert loss_u == loss and n_active_u == n_active
        assert _rel(2.0 * U.T @ X, grad) <= 1e-13


LMNN_CASES = [
    {"n_components": 3, "init": "pca", "max_iter": 6},
    {"init": "identity", "max_iter": 6, "class_weight": "balanced", "n_neighbors": 2, "regularization": 0.3},
    {"n_components": 2, "init": "random", "random_state": 1, "max_iter": 5, "max_impostors": 4},  # saturated
]


@pytest.mark.parametrize("kw", LMNN_CASES)
def test_lmnn_dask_fit_equals_memory(scheduler, rng, kw):
    X = rng.standard_normal((160, 6)) + np.repeat(rng.standard_normal((4, 6)), 40, axis=0)
    y = np.repeat(np.array([2, 0, 1, 0]), 40)  # class 0 in two clusters
    perm = rng.permutation(160)
    X, y = X[perm], y[perm]
    ref = learn.LMNN(**kw).fit(X, y)
    Xd = da.from_array(X, chunks=((70, 9, 81), 6))
    with dask.config.set(scheduler=scheduler):
        est = learn.LMNN(**kw).fit(Xd, da.from_array(y, chunks=80))
        Z = est.transform(Xd)  # lazy
        assert isinstance(Z, da.Array) and Z.chunks == (Xd.chunks[0], (est.components_.shape[0],))
        restored = pickle.loads(pickle.dumps(est))
        Zc, Zr = dask.compute(Z, restored.transform(Xd))
    assert est.n_iter_ == ref.n_iter_
    assert est.n_impostor_searches_ == ref.n_impostor_searches_ and est.n_saturated_ == ref.n_saturated_
    if kw.get("max_impostors") == 4:
        assert est.n_saturated_ > 0
    np.testing.assert_array_equal(est.classes_, ref.classes_)
    assert _rel(est.components_, ref.components_) <= 1e-8
    np.testing.assert_array_equal(Zc, est.transform(X))
    np.testing.assert_array_equal(Zr, Zc)


def test_lmnn_dask_small_class_warns_and_float32(rng):
    X = rng.standard_normal((62, 4)).astype(np.float32)
    y = np.r_[np.zeros(30, int), np.ones(30, int), [2, 2]]  # class 2: 2 members < n_neighbors + 1
    kw = {"n_neighbors": 3, "init": "identity", "max_iter": 4}
    with pytest.warns(UserWarning, match="fewer than n_neighbors"):
        ref = learn.LMNN(**kw).fit(X, y)
    with dask.config.set(scheduler="threads"), pytest.warns(UserWarning, match="fewer than n_neighbors"):
        est = learn.LMNN(**kw).fit(da.from_array(X, chunks=(25, 4)), y)
    assert est.components_.dtype == np.float32 and est.n_iter_ == ref.n_iter_
    assert _rel(est.components_, ref.components_) <= 1e-5


def test_lmnn_dask_errors(rng):
    X = rng.standard_normal((40, 5))
    Xd = da.from_array(X, chunks=(20, 5))
    y = rng.integers(0, 3, 40)
    with pytest.raises(ValueError, match="init='lda'"):
        learn.LMNN(n_components=2).fit(Xd, y)  # auto -> lda
    with pytest.raises(ValueError, match="preprocessor must be None"):
        learn.LMNN(init="pca", preprocessor=X).fit(Xd, y)
    with pytest.raises(ValueError, match="different numbers of samples"):
        learn.LMNN(init="pca").fit(Xd, y[:30])
    with pytest.raises(ValueError, match="at least 2 classes"):
        learn.LMNN(init="pca").fit(Xd, np.zeros(40))
    bad = X.copy()
    bad[25, 0] = np.inf
    bad_d = da.from_array(bad, chunks=(20, 5))
    with dask.config.set(scheduler="threads"), pytest.raises(ValueError, match=r"X block 1 \(rows 20:40\) contains"):
        learn.LMNN(init="identity").fit(bad_d, y)
