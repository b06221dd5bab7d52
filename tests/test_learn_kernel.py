"""Kernel learners (issue 13): KernelNCA, KernelLMNN, KernelMLKR, KernelLFDA and their feature map.

References: the linear learners (a linear kernel learns the same metric: the exact kernel features
of the linear kernel are an orthogonal rotation of X), float64 numpy for the feature map (Phi Phi^T =
K, Nystroem -> exact as m -> n), scikit-learn's estimator checks and the bad-input contract.
"""

import pickle
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")
pytest.importorskip("scipy")

from sklearn.metrics.pairwise import pairwise_kernels as sk_kernels  # noqa: E402
from sklearn.neighbors import KNeighborsClassifier  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import fastmetric  # noqa: E402
from fastmetric.learn import (  # noqa: E402
    LFDA,
    LMNN,
    MLKR,
    NCA,
    KernelLFDA,
    KernelLMNN,
    KernelMLKR,
    KernelNCA,
)
from fastmetric.learn._kernel_features import KernelFeatureMap, kernel_params, select_landmarks  # noqa: E402

KERNEL_LEARNERS = [KernelNCA, KernelLMNN, KernelMLKR, KernelLFDA]
QUICK = {KernelNCA: {"max_iter": 5}, KernelLMNN: {"max_iter": 5}, KernelMLKR: {"max_iter": 5}, KernelLFDA: {}}


def _blobs(n=90, d=5, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = (X[:, 0] ** 2 + X[:, 1] ** 2 > 1.4).astype(int) + (X[:, 2] > 1.0)
    return X, y


def _spheres(n, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 10))
    y = (np.sum(X[:, :6] ** 2, axis=1) > 5.348).astype(int)  # median of chi-square(6)
    return X, y


def _pair_dist(Z):
    Z = np.asarray(Z, dtype=np.float64)
    return fastmetric.cdist(Z, Z)


def _fit(est, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return est.fit(X, y)


# ---------------------------------------------------------------------------- scikit-learn contract
@parametrize_with_checks([cls(**QUICK[cls]) for cls in KERNEL_LEARNERS])
def test_sklearn_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check(estimator)


# ---------------------------------------------------------------------------- the feature map
@pytest.mark.parametrize("kernel", ["rbf", "poly", "laplacian", "cosine", "chi2", "linear"])
@pytest.mark.parametrize("d", [1, 7, 17])
def test_exact_features_reproduce_the_kernel(kernel, d):
    rng = np.random.default_rng(d)
    X = rng.random((37, d)) if kernel == "chi2" else rng.standard_normal((37, d))
    params = kernel_params(kernel, None, 3, 1, d)
    fmap = KernelFeatureMap(kernel, params)
    Phi = fmap.fit(X)
    K = sk_kernels(X, metric=kernel, **params)
    assert Phi.dtype == np.float64 and Phi.shape == (37, fmap.eigenvalues.size)
    # dropped eigenvalues are below m * eps * lambda_max
    tol = 37 * np.finfo(np.float64).eps * np.abs(K).sum(axis=1).max() * 20
    np.testing.assert_allclose(Phi @ Phi.T, K, atol=tol + 1e-12)
    # new points through (1) equal the kernel against the training points: phi(x)^T phi(x_i) = k(x, x_i)
    Xn = rng.random((5, d)) if kernel == "chi2" else rng.standard_normal((5, d))
    Phin = fmap.map_rows(Xn, np.ascontiguousarray(fmap.projection.T))
    np.testing.assert_allclose(Phin @ Phi.T, sk_kernels(Xn, X, metric=kernel, **params), atol=1e-8)


def test_nystroem_converges_to_the_exact_map():
    X, _ = _blobs(120, 4)
    params = kernel_params("rbf", None, 3, 1, 4)
    K = sk_kernels(X, metric="rbf", **params)
    errors = []
    for m in (8, 30, 60, 119):
        fmap = KernelFeatureMap("rbf", params)
        Phi = fmap.fit(X, n_landmarks=m, random_state=0)
        assert fmap.indices.size == m and Phi.shape[1] <= m
        errors.append(np.linalg.norm(Phi @ Phi.T - K) / np.linalg.norm(K))
    assert errors == sorted(errors, reverse=True), errors
    assert errors[0] > 0.1 and errors[-1] < 0.01, errors  # one point short of the exact map
    # m = n is the exact map itself, bit for bit
    exact = KernelFeatureMap("rbf", params).fit(X)
    same = KernelFeatureMap("rbf", params).fit(X, n_landmarks=120)
    np.testing.assert_array_equal(exact, same)


def test_nystroem_learner_agrees_with_exact_as_m_grows():
    X, y = _blobs(100, 4)
    exact = KernelNCA(n_components=2, init="pca", max_iter=3).fit(X, y)
    D0 = _pair_dist(exact.transform(X))
    gaps = []
    for m in (20, 60, 90, 99):
        est = KernelNCA(n_components=2, init="pca", max_iter=3, n_landmarks=m, random_state=0).fit(X, y)
        gaps.append(np.abs(_pair_dist(est.transform(X)) - D0).max() / D0.max())
    assert gaps == sorted(gaps, reverse=True) and gaps[0] > 0.1 and gaps[-1] < 1e-3, gaps


def test_transform_of_training_points_matches_the_features_learned_on():
    X, y = _blobs()
    for m in (None, 40):
        est = KernelNCA(n_components=3, n_landmarks=m, random_state=0, max_iter=20).fit(X, y)
        fmap = KernelFeatureMap("rbf", est.kernel_params_)
        Phi = fmap.fit(X, n_landmarks=m, codes=np.unique(y, return_inverse=True)[1], random_state=0)
        np.testing.assert_allclose(est.transform(X), Phi @ est.feature_components_.T, atol=1e-9)
        assert est.components_.shape == (3, est.landmark_indices_.size)
        assert est.landmarks_.shape == (est.landmark_indices_.size, X.shape[1])


@pytest.mark.parametrize(
    ("kernel", "X", "rank"),
    [
        ("linear", np.random.default_rng(0).standard_normal((40, 3)), 3),  # K of rank 3 < 40 landmarks
        ("poly", np.random.default_rng(1).standard_normal((40, 1)), 4),  # (g x y + 1)^3 on one feature
        ("rbf", np.repeat(np.random.default_rng(2).standard_normal((10, 4)), 4, axis=0), 10),  # duplicates
        ("sigmoid", np.random.default_rng(3).standard_normal((40, 5)), None),  # indefinite
    ],
)
def test_singular_and_indefinite_kernels_give_finite_features(kernel, X, rank):
    y = np.arange(X.shape[0]) % 2
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no overflow / invalid value on the way
        est = KernelNCA(kernel=kernel, n_components=1, max_iter=10).fit(X, y)
    assert np.isfinite(est.components_).all() and np.isfinite(est.transform(X)).all()
    if rank is not None:
        assert est.rank_ == rank
    assert (est.feature_eigenvalues_ > 0).all()


def test_landmark_rule_is_seeded_and_stratified():
    codes = np.array([0] * 90 + [1] * 9 + [2] * 1)
    idx = select_landmarks(100, 10, codes, random_state=3)
    assert idx.size == 10 and np.unique(idx).size == 10 and (np.diff(idx) > 0).all()
    counts = np.bincount(codes[idx], minlength=3)
    assert counts.tolist() == [8, 1, 1]  # every class represented, the rest by share
    np.testing.assert_array_equal(idx, select_landmarks(100, 10, codes, random_state=3))
    assert not np.array_equal(idx, select_landmarks(100, 10, codes, random_state=4))
    assert select_landmarks(100, 2, codes, random_state=0).size == 2  # fewer landmarks than classes
    np.testing.assert_array_equal(select_landmarks(5, 9, None), np.arange(5))


# ---------------------------------------------------------------------------- against the linear learners
@pytest.mark.parametrize(
    ("kernel_cls", "linear_cls", "kw"),
    [
        (KernelNCA, NCA, {"n_components": 3, "init": "pca", "max_iter": 30}),
        (KernelMLKR, MLKR, {"n_components": 3, "init": "pca", "max_iter": 30}),
        (KernelLMNN, LMNN, {"n_components": 3, "init": "pca", "max_iter": 30}),
        (KernelLFDA, LFDA, {"n_components": 3, "k": 4}),
    ],
)
def test_linear_kernel_learns_the_linear_learners_metric(kernel_cls, linear_cls, kw):
    X, y = _blobs(80, 6)
    lin = _fit(linear_cls(**kw), X, y)
    ker = _fit(kernel_cls(kernel="linear", **kw), X, y)
    assert ker.rank_ == 6
    D_lin, D_ker = _pair_dist(lin.transform(X)), _pair_dist(ker.transform(X))
    np.testing.assert_allclose(D_ker, D_lin, atol=1e-6 * D_lin.max())


def test_kernel_learners_separate_what_linear_maps_cannot():
    X, y = _spheres(400)
    Xtr, ytr, Xte, yte = X[:280], y[:280], X[280:], y[280:]

    def acc(est):
        _fit(est, Xtr, ytr)
        knn = KNeighborsClassifier(3).fit(est.transform(Xtr), ytr)
        return knn.score(est.transform(Xte), yte)

    linear = acc(NCA(max_iter=50))
    kernel = acc(KernelNCA(max_iter=50))
    nystroem = acc(KernelNCA(max_iter=50, n_landmarks=100, random_state=0))
    assert linear < 0.75 and kernel > linear + 0.1 and nystroem > linear + 0.1, (linear, kernel, nystroem)


def test_precomputed_kernel_equals_the_named_kernel():
    X, y = _blobs()
    Xn = np.random.default_rng(9).standard_normal((7, X.shape[1]))
    g = 0.3
    for m in (None, 30):
        named = KernelNCA(gamma=g, n_components=2, max_iter=15, n_landmarks=m, random_state=0).fit(X, y)
        pre = KernelNCA(kernel="precomputed", n_components=2, max_iter=15, n_landmarks=m, random_state=0)
        pre.fit(fastmetric.rbf_kernel(X, gamma=g), y)
        assert pre.landmarks_ is None
        np.testing.assert_array_equal(pre.landmark_indices_, named.landmark_indices_)
        np.testing.assert_allclose(pre.transform(fastmetric.rbf_kernel(Xn, X, gamma=g)), named.transform(Xn), atol=1e-9)
    assert pre.__sklearn_tags__().input_tags.pairwise


@pytest.mark.parametrize("cls", KERNEL_LEARNERS)
def test_float32_stays_float32(cls):
    X, y = _blobs()
    e64 = _fit(cls(n_components=2, **QUICK[cls]), X, y)
    e32 = _fit(cls(n_components=2, **QUICK[cls]), X.astype(np.float32), y)
    assert e32.components_.dtype == np.float32 and e32.landmarks_.dtype == np.float32
    Z32 = e32.transform(X.astype(np.float32))
    assert Z32.dtype == np.float32 and e64.transform(X).dtype == np.float64
    assert np.isfinite(Z32).all()


def test_results_do_not_depend_on_the_thread_count():
    X, y = _blobs(150, 5)
    for m in (None, 60):
        a = KernelNCA(n_components=2, max_iter=20, n_landmarks=m, random_state=0, n_threads=1).fit(X, y)
        b = KernelNCA(n_components=2, max_iter=20, n_landmarks=m, random_state=0, n_threads=2).fit(X, y)
        np.testing.assert_array_equal(a.components_, b.components_)
        np.testing.assert_array_equal(a.transform(X), b.transform(X))


def test_pickle_metric_and_neighbours():
    X, y = _blobs()
    est = KernelLMNN(n_components=2, max_iter=20, n_landmarks=40, random_state=0).fit(X, y)
    clone = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(clone.transform(X), est.transform(X))
    Z = est.transform(X)
    f = est.get_metric()
    assert f(X[0], X[1]) == pytest.approx(np.linalg.norm(Z[0] - Z[1]), rel=1e-12)
    assert f(X[0], X[1], squared=True) == pytest.approx(np.sum((Z[0] - Z[1]) ** 2), rel=1e-12)
    pairs = np.stack([X[:5], X[5:10]], axis=1)
    np.testing.assert_allclose(est.pair_distance(pairs), np.linalg.norm(Z[:5] - Z[5:10], axis=1), rtol=1e-12)
    np.testing.assert_allclose(est.pair_score(pairs), -est.pair_distance(pairs))
    M = est.get_mahalanobis_matrix()
    assert M.shape == (40, 40)
    ind = fastmetric.kneighbors(Z[:3], Z, k=2, return_distance=False)
    assert (ind[:, 0] == np.arange(3)).all()


# ---------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("cls", KERNEL_LEARNERS)
@pytest.mark.parametrize(
    ("kw", "exc", "match"),
    [
        ({"kernel": "gauss"}, ValueError, r"unknown kernel 'gauss'"),
        ({"gamma": -1.0}, ValueError, r"gamma must be > 0"),
        ({"gamma": "big"}, TypeError, r"gamma must be a real number"),
        ({"kernel": "poly", "degree": 2.5}, ValueError, r"degree must be a whole number"),
        ({"n_landmarks": 0}, ValueError, r"n_landmarks must be None or a positive int"),
        ({"n_landmarks": 2.5}, ValueError, r"n_landmarks must be None or a positive int"),
        ({"n_components": 9, "kernel": "linear"}, ValueError, r"n_components=9 is larger than the rank 5"),
    ],
)
def test_bad_parameters(cls, kw, exc, match):
    X, y = _blobs()
    with pytest.raises(exc, match=match):
        cls(**kw).fit(X, y)


@pytest.mark.parametrize("cls", [KernelNCA, KernelLMNN, KernelMLKR])
def test_init_array_refused(cls):
    X, y = _blobs()
    with pytest.raises(TypeError, match="init array cannot be given"):
        cls(init=np.eye(2, 5)).fit(X, y)


@pytest.mark.parametrize("cls", KERNEL_LEARNERS)
def test_bad_data(cls):
    X, y = _blobs()
    Xnan = X.copy()
    Xnan[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        cls().fit(Xnan, y)
    with pytest.raises(ValueError, match="different numbers of samples"):
        cls().fit(X, y[:-1])
    if cls is not KernelMLKR:
        with pytest.raises(ValueError, match="at least 2 classes"):
            cls().fit(X, np.zeros(X.shape[0]))
    with pytest.raises(ValueError, match="chi2 kernel is defined on non-negative data"):
        cls(kernel="chi2").fit(X, y)
    est = _fit(cls(n_components=2, **QUICK[cls]), X, y)
    with pytest.raises(ValueError, match="X has 4 features, but .* is expecting 5 features"):
        est.transform(X[:, :4])
    with pytest.raises(ValueError, match="pairs must have shape"):
        est.pair_distance(X[:4])
    with pytest.raises(ValueError, match="points must have 5 features"):
        est.get_metric()(X[0, :3], X[1, :3])
    est = _fit(cls(kernel="chi2", n_components=2, **QUICK[cls]), np.abs(X), y)
    with pytest.raises(ValueError, match="chi2 kernel is defined on non-negative data"):
        est.transform(X)


def test_precomputed_bad_shapes():
    X, y = _blobs()
    K = fastmetric.rbf_kernel(X)
    with pytest.raises(ValueError, match=r"square training kernel matrix .* got shape \(90, 89\)"):
        KernelNCA(kernel="precomputed").fit(K[:, :89], y)
    est = KernelNCA(kernel="precomputed", n_components=2, max_iter=5).fit(K, y)
    with pytest.raises(ValueError, match="X has 80 features, but KernelNCA is expecting 90"):
        est.transform(K[:5, :80])


def test_more_landmarks_than_samples_is_the_exact_learner():
    X, y = _blobs(40)
    with pytest.warns(UserWarning, match="n_landmarks=100 is larger than n_samples=40"):
        clamped = KernelNCA(n_components=2, max_iter=10, n_landmarks=100).fit(X, y)
    exact = KernelNCA(n_components=2, max_iter=10).fit(X, y)
    np.testing.assert_array_equal(clamped.components_, exact.components_)


def test_hand_set_components_are_checked():
    X, y = _blobs()
    est = KernelNCA(n_components=2, max_iter=5).fit(X, y)
    est.components_ = np.ones((2, 7))
    with pytest.raises(ValueError, match=r"shape \(2, 7\); expected \(n_components >= 1, n_landmarks=90"):
        est.transform(X)
