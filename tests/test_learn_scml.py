"""SCML / SCML_Supervised: the C++ AdaGrad steps and triplet margins against plain float64 numpy
references of metric-learn 0.7's formulas, the bases (LDA directions against scikit-learn's LDA,
the triplet_diffs eigenvectors), the k-NN triplets, metric-learn's parameters and defaults, the
triplet classifier API, scikit-learn machinery, bad input."""

import contextlib
import pickle
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")
pytest.importorskip("scipy")

from fastmetric import _core  # noqa: E402
from fastmetric.learn import SCML, SCML_Supervised  # noqa: E402
from fastmetric.learn.scml import (  # noqa: E402
    lda_directions,
    kmeans_centres,
    knn_triplets,
    lda_bases,
    scml_objective,
    scml_step_reference,
    triplet_diff_bases,
)
from sklearn.base import clone  # noqa: E402
from sklearn.datasets import load_iris  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402


@contextlib.contextmanager
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return (X - X.mean(0)) / X.std(0), y


def _random_problem(rng, n=30, K=13, m=40):
    XB = rng.standard_normal((n, K))
    tri = rng.integers(0, n, size=(m, 3)).astype(np.int64)
    return XB, tri


# ------------------------------------------------------------------ the C++ kernels vs numpy


@pytest.mark.parametrize("K", [1, 7, 13, 17, 33])
@pytest.mark.parametrize("use_simd", [True, False])
def test_steps_match_reference(K, use_simd):
    rng = np.random.default_rng(K)
    XB, tri = _random_problem(rng, K=K)
    bs, n_steps, beta, gamma = 4, 60, 1e-3, 5e-3
    batches = rng.integers(0, tri.shape[0], size=(n_steps, bs)).astype(np.int64)
    steps = _core.ScmlSteps(XB, tri, bs, beta, gamma, use_simd)
    w = np.zeros(K)
    w_ref, avg, ada = np.zeros(K), np.zeros(K), np.zeros(K)
    for it in range(n_steps):  # one step per call: the state is compared after every step
        steps.run(batches[it : it + 1], w)
        w_ref, avg, ada = scml_step_reference(XB, tri, batches[it], it, beta, gamma, w_ref, avg, ada)
        np.testing.assert_allclose(w, w_ref, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(steps.Q, ada, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(steps.S, (it + 1) * avg, rtol=1e-10, atol=1e-12)
    assert steps.iterations == n_steps
    # one call for all steps: the same weights
    w2 = np.zeros(K)
    _core.ScmlSteps(XB, tri, bs, beta, gamma, use_simd).run(batches, w2)
    np.testing.assert_allclose(w2, w_ref, rtol=1e-10, atol=1e-12)


def test_steps_count_positive_slacks():
    rng = np.random.default_rng(0)
    XB, tri = _random_problem(rng)
    K = XB.shape[1]
    batches = np.zeros((1, 5), dtype=np.int64)
    # w = 0: every slack is 1 > 0
    assert _core.ScmlSteps(XB, tri, 5, 1e-5, 5e-3).run(batches, np.zeros(K)) == 5


@pytest.mark.parametrize("d", [1, 7, 17, 33])
def test_margins_give_the_objective(d):
    rng = np.random.default_rng(d)
    n, K, m = 25, 9, 70
    X = rng.standard_normal((n, d))
    B = rng.standard_normal((K, d))
    w = np.abs(rng.standard_normal(K)) * (rng.random(K) > 0.3) * 0.1
    tri = rng.integers(0, n, size=(m, 3)).astype(np.int64)
    M = (B * w[:, None]).T @ B
    Y = np.ascontiguousarray(X @ M)
    pairs = np.ascontiguousarray(np.concatenate((tri[:, [0, 1]], tri[:, [0, 2]])))
    q = _core.scml_pair_forms(X, Y, pairs, 1)
    U = X[pairs[:, 0]] - X[pairs[:, 1]]
    np.testing.assert_allclose(q, np.einsum("ij,jk,ik->i", U, M, U), rtol=1e-9, atol=1e-11)
    r = q[:m] - q[m:]
    XB = X @ B.T
    dd = (XB[tri[:, 0]] - XB[tri[:, 1]]) ** 2 - (XB[tri[:, 0]] - XB[tri[:, 2]]) ** 2
    np.testing.assert_allclose(r, dd @ w, rtol=1e-9, atol=1e-10)
    # the same values for every thread count
    assert np.array_equal(q, _core.scml_pair_forms(X, Y, pairs, 2))
    slack = 1 + r
    obj, count = scml_objective(w, XB, tri, 1e-3)
    assert count == int(np.sum(slack > 0))
    np.testing.assert_allclose(obj, 1e-3 * w.sum() + slack[slack > 0].sum() / m, rtol=1e-10)


def test_kernels_refuse_bad_indices():
    X = np.zeros((4, 2))
    with pytest.raises(ValueError, match="out of range"):
        _core.scml_pair_forms(X, X, np.array([[0, 4]], dtype=np.int64))
    XB = np.zeros((4, 3))
    tri = np.array([[0, 1, 2]], dtype=np.int64)
    with pytest.raises(ValueError, match="triplet point index"):
        _core.ScmlSteps(XB, np.array([[0, 1, 9]], dtype=np.int64), 1, 0.0, 1.0)
    steps = _core.ScmlSteps(XB, tri, 1, 0.0, 1.0)
    with pytest.raises(ValueError, match="batch triplet index"):
        steps.run(np.array([[1]], dtype=np.int64), np.zeros(3))
    with pytest.raises(ValueError, match="w must be"):
        steps.run(np.array([[0]], dtype=np.int64), np.zeros(2))
    with pytest.raises(ValueError, match="gamma"):
        _core.ScmlSteps(XB, tri, 1, 0.0, 0.0)


# ------------------------------------------------------------------ bases and triplets


def test_lda_directions_match_sklearn():
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    from sklearn.preprocessing import normalize

    rng = np.random.default_rng(0)
    d, k, C = 7, 6, 3
    Xs = np.stack([rng.standard_normal((C * k, d)) + np.repeat(np.arange(C), k)[:, None] for _ in range(4)])
    Xs[1, :, 2] = 0.5  # a constant feature (scikit-learn drops it)
    Xs[2, :, 4] = Xs[2, :, 3]  # two equal features (a zero singular value: the eigendecomposition path)
    y = np.repeat(np.arange(C), k)
    got = lda_directions(Xs, [(j * k, j * k + k) for j in range(C)])
    for g in range(4):
        ref = normalize(LinearDiscriminantAnalysis().fit(Xs[g], y).scalings_.T)
        assert got[g].shape == ref.shape
        np.testing.assert_allclose(np.abs(np.sum(got[g] * ref, axis=1)), 1.0, atol=1e-9)


def test_lda_bases_shape_and_norms(iris):
    X, y = iris
    B = lda_bases(X, y, 20, 0)
    assert B.shape == (20, 4)
    np.testing.assert_allclose(np.linalg.norm(B, axis=1), 1.0)


def test_lda_bases_keep_at_most_n_classes_minus_one_directions_per_neighbourhood(iris, monkeypatch):
    # a neighbourhood whose LDA passes the rank rule with n_classes directions (rounding: the between-class
    # scatter has rank <= n_classes - 1) must not add the extra one; here a marker row stands for it
    import fastmetric.learn.scml as scml_module

    X, y = iris
    real = scml_module.lda_directions
    marker = np.full(4, 0.5)

    def with_extra(Xs, blocks, **kw):
        return [np.vstack((D, marker)) for D in real(Xs, blocks, **kw)]

    monkeypatch.setattr(scml_module, "lda_directions", with_extra)
    B = lda_bases(X, y, 40, 0)  # 10 neighbourhoods x 2 scales x r = 2 directions: exactly 40
    assert B.shape == (40, 4)
    assert not np.isclose(B, marker).all(axis=1).any()
    monkeypatch.setattr(scml_module, "lda_directions", real)
    np.testing.assert_array_equal(lda_bases(X, y, 40, 0), B)


def test_triplet_diff_bases_are_eigenvectors():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((30, 5))
    tri = rng.integers(0, 30, size=(50, 3))
    B = triplet_diff_bases(X, tri, 12, 0)
    assert B.shape == (12, 5)
    np.testing.assert_allclose(np.linalg.norm(B, axis=1), 1.0)
    # the first draw (same seed): B[:5] are eigenvectors of S^2
    sel = np.random.RandomState(0).choice(50, size=5, replace=False)
    P = X[tri[sel, 0]] - X[tri[sel, 1]]
    N = X[tri[sel, 0]] - X[tri[sel, 2]]
    S2 = np.linalg.matrix_power(P.T @ P - N.T @ N, 2)
    for b in B[:5]:
        v = S2 @ b
        np.testing.assert_allclose(v, (b @ v) * b, atol=1e-8 * np.abs(S2).max())


def test_knn_triplets_order_and_content():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((14, 3))
    codes = np.array([0] * 6 + [1] * 5 + [2] * 3)
    tri = knn_triplets(X, codes, 2, 3)
    assert tri.shape == (14 * 2 * 3, 3)
    D = ((X[:, None] - X[None]) ** 2).sum(-1)
    rows = []
    for c in range(3):
        for a in np.flatnonzero(codes == c):
            same = [j for j in np.argsort(D[a], kind="stable") if codes[j] == c and j != a][:2]
            other = [j for j in np.argsort(D[a], kind="stable") if codes[j] != c][:3]
            rows += [(a, b, cc) for b in same for cc in other]
    assert np.array_equal(tri, np.array(rows))


def test_knn_triplets_small_class_warns_and_unlabelled_ignored():
    X = np.arange(16, dtype=float).reshape(8, 2)
    codes = np.array([0, 0, 0, 1, 1, -1, -1, 0])
    with pytest.warns(UserWarning, match="k_genuine=3"):
        tri = knn_triplets(X, codes, 3, 1)
    assert not np.isin(tri, [5, 6]).any()
    with pytest.raises(ValueError, match="k_genuine"), _quiet():
        knn_triplets(X[:2], np.array([0, 1]), 1, 1)


# ------------------------------------------------------------------ the learners


def test_defaults_match_metric_learn():
    p = SCML().get_params()
    assert p == {
        "basis": "triplet_diffs",
        "batch_size": 10,
        "beta": 1e-5,
        "gamma": 5e-3,
        "max_iter": 10000,
        "n_basis": None,
        "output_iter": 500,
        "preprocessor": None,
        "random_state": None,
        "verbose": False,
    }
    q = SCML_Supervised().get_params()
    assert q["basis"] == "lda" and q["k_genuine"] == 3 and q["k_impostor"] == 10
    assert q["class_weight"] is None  # fastmetric's addition (issue 17): metric-learn's uniform draws
    assert {k: v for k, v in q.items() if k not in ("basis", "k_genuine", "k_impostor", "class_weight")} == {
        k: v for k, v in p.items() if k != "basis"
    }


def test_supervised_lda_objective_and_attributes(iris):
    X, y = iris
    est = SCML_Supervised(max_iter=600, output_iter=100, random_state=0).fit(X, y)
    assert est.n_basis_ == min(20 * 4, 2 * 150 * 2 - 1)
    assert est.components_.shape[1] == 4 and est.n_iter_ == 600
    assert est.basis_.shape == (80, 4) and est.basis_weights_.shape == (80,)
    assert (est.basis_weights_ >= 0).all() and est.objective_trace_.shape == (6, 3)
    tri = knn_triplets(X, y, 3, 10)
    obj, count = scml_objective(est.basis_weights_, X @ est.basis_.T, tri, 1e-5)
    np.testing.assert_allclose(est.objective_, obj, rtol=1e-10)
    assert est.objective_ == est.objective_trace_[:, 1].min()
    w = est.basis_weights_
    M = (est.basis_ * w[:, None]).T @ est.basis_
    np.testing.assert_allclose(est.get_mahalanobis_matrix(), M, rtol=1e-9, atol=1e-12)
    # a learned metric: the triplets are ordered better than by the Euclidean distance
    d_e = lambda i, j: ((X[i] - X[j]) ** 2).sum(1)  # noqa: E731
    d_m = lambda i, j: np.einsum("ij,jk,ik->i", X[i] - X[j], M, X[i] - X[j])  # noqa: E731
    a, b, c = tri.T
    assert np.mean(d_m(a, b) < d_m(a, c)) > np.mean(d_e(a, b) < d_e(a, c))
    # deterministic for a random_state
    again = SCML_Supervised(max_iter=600, output_iter=100, random_state=0).fit(X, y)
    assert np.array_equal(again.components_, est.components_)


def test_supervised_triplet_diffs_and_array_basis(iris):
    X, y = iris
    est = SCML_Supervised(basis="triplet_diffs", max_iter=200, output_iter=100, random_state=0).fit(X, y)
    assert est.n_basis_ == 80 * 4
    B = np.eye(4)
    with _quiet():
        arr = SCML_Supervised(basis=B, max_iter=200, output_iter=100, random_state=0).fit(X, y)
    assert arr.n_basis_ == 4 and np.array_equal(arr.basis_, B)
    # diagonal bases: the metric is diagonal
    M = arr.get_mahalanobis_matrix()
    np.testing.assert_allclose(M - np.diag(np.diag(M)), 0, atol=1e-12)


def _triplets_by_first_feature(rng, n=40, m=200):
    X = rng.standard_normal((n, 3)) * [1.0, 4.0, 4.0]
    a, b, c = rng.integers(0, n, size=(3, m))
    closer = np.abs(X[a, 0] - X[b, 0]) < np.abs(X[a, 0] - X[c, 0])
    return X, np.where(closer[:, None], np.c_[a, b, c], np.c_[a, c, b])


def test_scml_on_triplets_predict_score_and_preprocessor():
    rng = np.random.default_rng(3)
    X, idx = _triplets_by_first_feature(rng)
    kw = dict(n_basis=30, max_iter=1000, output_iter=100, random_state=0)
    with _quiet():
        pts = SCML(**kw).fit(X[idx])
        ind = SCML(preprocessor=X, **kw).fit(idx)
    np.testing.assert_allclose(pts.get_mahalanobis_matrix(), ind.get_mahalanobis_matrix(), rtol=1e-8, atol=1e-10)
    assert pts.n_basis_ == 30
    assert pts.score(X[idx]) > 0.9 and ind.score(idx) == pts.score(X[idx])
    pred = pts.predict(X[idx])
    assert set(np.unique(pred)) <= {-1, 1}
    np.testing.assert_array_equal(pred, np.where(pts.decision_function(X[idx]) > 0, 1, -1))
    M = pts.get_mahalanobis_matrix()
    assert M[0, 0] > 5 * max(M[1, 1], M[2, 2])
    # the default n_basis: 80 * n_features
    with _quiet():
        assert SCML(max_iter=100, output_iter=100, random_state=0).fit(X[idx]).n_basis_ == 240


@pytest.mark.parametrize("d", [1, 7, 17])
@pytest.mark.parametrize("basis", ["lda", "triplet_diffs"])
def test_awkward_dimensions(d, basis):
    rng = np.random.default_rng(d)
    y = np.repeat(np.arange(3), 15)
    X = rng.standard_normal((45, d)) + y[:, None] * 0.8
    with _quiet():
        est = SCML_Supervised(basis=basis, max_iter=300, output_iter=100, random_state=0).fit(X, y)
    L = est.components_
    assert L.shape[1] == d and 1 <= L.shape[0] <= d
    assert np.isfinite(L).all()
    assert est.transform(X).shape == (45, L.shape[0])


def test_float32_kept_and_close(iris):
    X, y = iris
    kw = dict(max_iter=300, output_iter=100, random_state=0)
    X32 = X.astype(np.float32)
    e32 = SCML_Supervised(**kw).fit(X32, y)
    e64 = SCML_Supervised(**kw).fit(X32.astype(np.float64), y)  # the same points: float64 work inside
    assert e32.components_.dtype == np.float32 and e32.transform(X32).dtype == np.float32
    assert e64.components_.dtype == np.float64
    np.testing.assert_allclose(e32.components_, e64.components_, rtol=1e-6, atol=1e-6 * np.abs(e64.components_).max())


def test_pickle_clone_get_params(iris):
    X, y = iris
    est = SCML_Supervised(max_iter=200, output_iter=100, random_state=0, k_impostor=4).fit(X, y)
    back = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(back.transform(X), est.transform(X))
    c = clone(est)
    assert c.get_params() == est.get_params() and not hasattr(c, "components_")
    c.set_params(beta=1e-3)
    assert c.beta == 1e-3


def test_verbose_prints_the_checks(iris, capsys):
    X, y = iris
    SCML_Supervised(max_iter=200, output_iter=100, random_state=0, verbose=True).fit(X, y)
    out = capsys.readouterr().out
    assert "iter 100" in out and "iter 200" in out and "num_imp" in out


# ------------------------------------------------------------------ bad input


def test_bad_triplets():
    rng = np.random.default_rng(4)
    X, idx = _triplets_by_first_feature(rng)
    T = X[idx]
    with pytest.raises(ValueError, match="shape"):
        SCML().fit(T[:, :2])
    with pytest.raises(ValueError, match="no triplets"):
        SCML().fit(T[:0])
    bad = T.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        SCML().fit(bad)
    with pytest.raises(ValueError, match="preprocessor"):
        SCML().fit(idx)
    with pytest.raises(ValueError, match="at least n_features triplets"):
        SCML().fit(T[:2])


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"basis": "lda"}, "basis='lda'"),
        ({"basis": "pca"}, "basis='pca'"),
        ({"basis": 3}, "basis must be"),
        ({"n_basis": 0}, "n_basis"),
        ({"n_basis": 2.5}, "n_basis"),
        ({"max_iter": 0}, "max_iter"),
        ({"output_iter": 600, "max_iter": 500}, "output_iter"),
        ({"batch_size": 0}, "batch_size"),
        ({"gamma": 0.0}, "gamma"),
        ({"beta": -1.0}, "beta"),
        ({"basis": np.eye(2)}, "basis array"),
    ],
)
def test_bad_parameters_scml(params, match):
    rng = np.random.default_rng(5)
    X, idx = _triplets_by_first_feature(rng)
    with pytest.raises((ValueError, TypeError), match=match):
        SCML(**params).fit(X[idx])


def test_bad_parameters_supervised(iris):
    X, y = iris
    with pytest.raises(ValueError, match="basis='foo'"):
        SCML_Supervised(basis="foo").fit(X, y)
    with pytest.raises(ValueError, match="k_genuine"):
        SCML_Supervised(k_genuine=0).fit(X, y)
    with pytest.raises(ValueError, match="k_impostor"):
        SCML_Supervised(k_impostor=-1).fit(X, y)
    with pytest.raises(ValueError, match="n_basis=600 is too large"):
        SCML_Supervised(n_basis=600).fit(X, y)
    with pytest.raises(ValueError, match="preprocessor"):
        SCML_Supervised(preprocessor=X).fit(X, y)
    yy = y.copy()
    yy[0] = 7  # a class of one point: too few for k_genuine
    with pytest.warns(UserWarning, match="k_genuine=3"):
        SCML_Supervised(max_iter=100, output_iter=100, random_state=0).fit(X, yy)
    with pytest.raises(ValueError, match="NaN"):
        SCML_Supervised().fit(np.where(np.arange(150)[:, None] == 3, np.nan, X), y)


@parametrize_with_checks([SCML_Supervised(max_iter=100, output_iter=100, n_basis=8, random_state=0)])
def test_sklearn_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check(estimator)


def test_kmeans_centres_deterministic_and_fitted():
    rng = np.random.default_rng(6)
    X = np.concatenate([rng.standard_normal((20, 2)) * 0.1 + c for c in ([0, 0], [5, 0], [0, 5])])
    C = kmeans_centres(X, 3, 0)
    assert np.array_equal(C, kmeans_centres(X, 3, 0))
    found = sorted(map(tuple, np.round(C)))
    assert found == [(0.0, 0.0), (0.0, 5.0), (5.0, 0.0)]


def test_fit_independent_of_thread_count(iris, monkeypatch):
    from threadpoolctl import threadpool_limits

    import fastmetric.learn.scml as scml_module

    monkeypatch.setattr(scml_module, "_SMALL", 0)  # the threaded paths even on iris
    X, y = iris
    kw = dict(max_iter=300, output_iter=100, random_state=0)
    many = SCML_Supervised(**kw).fit(X, y).components_
    with threadpool_limits(1, user_api="openmp"):
        one = SCML_Supervised(**kw).fit(X, y).components_
    assert np.array_equal(many, one)


def test_string_identifier_triplets_through_a_callable():
    """Identifier triplets of strings, mapped by a callable preprocessor, give the fit of the points."""
    rng = np.random.default_rng(3)
    X = rng.standard_normal((40, 3))
    X[:, 0] *= 3
    a, b, c = rng.integers(0, 40, (3, 300))
    closer = np.abs(X[a, 0] - X[b, 0]) < np.abs(X[a, 0] - X[c, 0])
    T = np.where(closer[:, None], np.c_[a, b, c], np.c_[a, c, b])
    names = np.array([f"p{i}" for i in range(40)])
    lookup = dict(zip(names, X, strict=True))
    kw = dict(n_basis=20, max_iter=500, random_state=0)
    ref = SCML(**kw).fit(X[T])
    got = SCML(preprocessor=lambda ids: np.array([lookup[i] for i in ids]), **kw).fit(names[T])
    np.testing.assert_allclose(got.get_mahalanobis_matrix(), ref.get_mahalanobis_matrix(), rtol=1e-12, atol=1e-14)
    assert got.score(names[T]) == ref.score(X[T])


# ------------------------------------------------------------------ class_weight (issue 17, part 3)


def _imbalanced_iris(iris):
    X, y = iris
    keep = np.r_[np.flatnonzero(y == 0)[:10], np.flatnonzero(y != 0)]  # class 0: 10 of 50 points
    return X[keep], y[keep]


def test_class_weight_equal_weights_are_the_unweighted_fit(iris):
    X, y = _imbalanced_iris(iris)
    kw = dict(max_iter=400, output_iter=100, random_state=0)
    a = SCML_Supervised(**kw).fit(X, y)
    b = SCML_Supervised(class_weight={0: 2.5, 1: 2.5, 2: 2.5}, **kw).fit(X, y)
    np.testing.assert_array_equal(a.basis_weights_, b.basis_weights_)
    assert a.objective_ == b.objective_


def test_class_weight_objective_is_the_weighted_mean_of_the_slacks(iris):
    X, y = _imbalanced_iris(iris)
    est = SCML_Supervised(class_weight="balanced", max_iter=600, output_iter=100, random_state=0).fit(X, y)
    tri = knn_triplets(X, y, 3, 10)
    counts = np.bincount(y)
    w = (y.size / (3 * counts))[y[tri[:, 0]]]
    XB = X @ est.basis_.T
    dd = (XB[tri[:, 0]] - XB[tri[:, 1]]) ** 2 - (XB[tri[:, 0]] - XB[tri[:, 2]]) ** 2
    slack = np.maximum(1.0 + dd @ est.basis_weights_, 0.0)
    ref = 1e-5 * est.basis_weights_.sum() + (w * slack).sum() / w.sum()
    np.testing.assert_allclose(est.objective_, ref, rtol=1e-10)
    unweighted, _ = scml_objective(est.basis_weights_, XB, tri, 1e-5)
    assert abs(unweighted - ref) > 1e-3 * ref  # the weights change the objective on this set
    # "balanced" is its explicit per-class weights
    explicit = {c: y.size / (3 * n) for c, n in enumerate(counts)}
    same = SCML_Supervised(class_weight=explicit, max_iter=600, output_iter=100, random_state=0).fit(X, y)
    np.testing.assert_allclose(same.basis_weights_, est.basis_weights_, rtol=1e-12, atol=1e-15)


def test_class_weight_batches_are_drawn_by_anchor_weight(iris, monkeypatch):
    X, y = _imbalanced_iris(iris)
    drawn = []
    real = _core.ScmlSteps

    class Recording:
        def __init__(self, *args):
            self._steps = real(*args)

        def run(self, batches, w):
            drawn.append(np.array(batches))
            return self._steps.run(batches, w)

    monkeypatch.setattr(_core, "ScmlSteps", Recording)
    tri = knn_triplets(X, y, 3, 10)
    anchor_class = y[tri[:, 0]]
    for cw, share0 in ((None, 10 / 110), ("balanced", 1 / 3), ({0: 0.0}, 0.0)):
        drawn.clear()
        SCML_Supervised(class_weight=cw, max_iter=3000, output_iter=500, random_state=0).fit(X, y)
        got = np.mean(anchor_class[np.concatenate(drawn).ravel()] == 0)
        assert abs(got - share0) < 0.02, (cw, got, share0)


@pytest.mark.parametrize(
    ("cw", "exc", "match"),
    [
        ({5: 1.0}, ValueError, "not a class"),
        ({0: -1.0}, ValueError, ">= 0"),
        ({0: float("nan")}, ValueError, ">= 0"),
        ("balance", ValueError, "balanced"),
        ([1.0, 2.0, 3.0], TypeError, "class_weight"),
        ({0: 0.0, 1: 0.0, 2: 0.0}, ValueError, "every class weight 0"),
    ],
)
def test_class_weight_bad_input(iris, cw, exc, match):
    X, y = iris
    with pytest.raises(exc, match=match):
        SCML_Supervised(class_weight=cw, max_iter=100, output_iter=100).fit(X, y)


def test_collapsed_metric_is_reported():
    # bases that are copies of two axes: the metric can only see 2 of the 10 directions the data vary in
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 20)
    X = rng.standard_normal((60, 10))
    X[:, 0] += 3 * y
    basis = np.zeros((40, 10))
    basis[:20, 0] = 1.0
    basis[20:, 1] = 1.0
    with pytest.warns(UserWarning, match="sees only 2 of the 10 directions"):
        est = SCML_Supervised(basis=basis, max_iter=500, output_iter=100, random_state=0).fit(X, y)
    assert np.count_nonzero(est.basis_weights_) >= 10  # not the "fewer bases than features" case
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        SCML_Supervised(basis="triplet_diffs", max_iter=500, output_iter=100, random_state=0).fit(X, y)  # full: silent
