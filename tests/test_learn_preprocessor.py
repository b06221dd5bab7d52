"""metric-learn's ``preprocessor`` semantics for every learner (issue 17, part 2).

With ``preprocessor=A`` (an array of points) or a callable mapping identifiers to points, a learner
takes identifiers instead of points: 1-D X for ``fit`` / ``transform``, (n, 2/3/4) tuples for the
pair / triplet / quadruplet APIs. Formed points X (2-D) are still accepted, as in metric-learn 0.7;
formed tuples (3-D) with a preprocessor are refused, where metric-learn 0.7 skips the preprocessor
without a word. The metric-learn 0.7.0 behaviours quoted below were recorded by running the same
cases in its own environment (``benchmarks/peers/metric_learn_preprocessor_cases.py``); they are
not a runtime dependency.
"""

import pickle
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import cross_val_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline

from fastmetric import learn

N, D = 45, 4


def _data():
    rng = np.random.default_rng(3)
    y = np.arange(N) % 3
    X = rng.standard_normal((N, D)) + 1.5 * y[:, None] * np.array([1.0, -0.5, 0.0, 0.3])
    return X, y


NAMES = np.array([f"pt-{i:03d}" for i in range(N)])  # string identifiers (dtype <U6)


class Lookup:
    """A picklable callable preprocessor: string identifiers -> rows of X."""

    def __init__(self, X):
        self.X = X
        self.row = {s: i for i, s in enumerate(NAMES)}

    def __call__(self, ids):
        return self.X[[self.row[s] for s in np.asarray(ids).ravel()]]


# learners taking points: name -> (constructor kwargs, kind of y)
SUPERVISED = {
    "NCA": ({"max_iter": 5, "random_state": 0}, "classes"),
    "LMNN": ({"max_iter": 5, "n_neighbors": 2, "random_state": 0}, "classes"),
    "MLKR": ({"max_iter": 5, "random_state": 0}, "real"),
    "LFDA": ({"k": 2}, "classes"),
    "Covariance": ({}, "none"),
    "RCA": ({}, "chunks"),
    "RCA_Supervised": ({"random_state": 0}, "classes"),
    "ITML_Supervised": ({"max_iter": 20, "random_state": 0}, "classes"),
    "MMC_Supervised": ({"max_iter": 5, "random_state": 0}, "classes"),
    "SDML_Supervised": ({"balance_param": 0.01, "random_state": 0}, "classes"),
    "LSML_Supervised": ({"max_iter": 20, "random_state": 0}, "classes"),
    "KernelNCA": ({"max_iter": 5, "random_state": 0}, "classes"),
    "KernelLMNN": ({"max_iter": 5, "n_neighbors": 2, "random_state": 0}, "classes"),
    "KernelMLKR": ({"max_iter": 5, "random_state": 0}, "real"),
    "KernelLFDA": ({"k": 2}, "classes"),
}


def _target(kind, X, y):
    if kind == "real":
        return X[:, 0] + 0.1 * y
    if kind == "chunks":
        return np.where(np.arange(N) < 30, np.arange(N) % 10, -1)  # 10 chunklets of 3 points
    return y


def _fit(name, X_in, y, **extra):
    kwargs, kind = SUPERVISED[name]
    est = getattr(learn, name)(**kwargs, **extra)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if kind == "none":
            return est.fit(X_in)
        return est.fit(X_in, _target(kind, *_data()) if kind != "classes" else y)


@pytest.mark.parametrize("name", sorted(SUPERVISED))
def test_identifiers_give_the_points_result(name):
    X, y = _data()
    ref = _fit(name, X, y)
    by_index = _fit(name, np.arange(N), y, preprocessor=X)
    by_name = _fit(name, NAMES, y, preprocessor=Lookup(X))
    for m in (by_index, by_name):
        np.testing.assert_allclose(m.components_, ref.components_, rtol=1e-12, atol=1e-12)
        assert m.n_features_in_ == D
    Z = ref.transform(X[:7])
    np.testing.assert_allclose(by_index.transform(np.arange(7)), Z, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(by_name.transform(NAMES[:7]), Z, rtol=1e-12, atol=1e-12)
    # formed points are still accepted with a preprocessor (metric-learn 0.7: the same)
    np.testing.assert_allclose(by_index.transform(X[:7]), Z, rtol=1e-12, atol=1e-12)
    assert _fit(name, X, y, preprocessor=X).components_.shape == ref.components_.shape
    # pair distances from identifier pairs
    pairs = np.array([[0, 1], [2, 9], [4, 4]])
    d_ref = ref.pair_distance(X[pairs])
    np.testing.assert_allclose(by_index.pair_distance(pairs), d_ref, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(by_name.pair_score(NAMES[pairs]), -d_ref, rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match=r"pairs are formed points \(shape \(3, 2, \d+\)\), but the learner has"):
        by_index.pair_distance(X[pairs])  # formed pairs with a preprocessor (metric-learn skips it)
    assert by_index.preprocessor is X  # the parameter is stored as given


def _pair_data():
    X, y = _data()
    rng = np.random.default_rng(1)
    a, b = rng.integers(0, N, size=(2, 80))
    keep = a != b
    pairs = np.stack([a[keep], b[keep]], axis=1)
    labels = np.where(y[pairs[:, 0]] == y[pairs[:, 1]], 1, -1)
    return X, pairs, labels


PAIRS = {
    "ITML": {"max_iter": 20, "random_state": 0},
    "MMC": {"max_iter": 5, "random_state": 0},
    "SDML": {"balance_param": 0.01, "random_state": 0},
}


@pytest.mark.parametrize("name", sorted(PAIRS))
def test_pair_learners_identifiers(name):
    X, pairs, labels = _pair_data()
    cls = getattr(learn, name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = cls(**PAIRS[name]).fit(X[pairs], labels)
        by_index = cls(**PAIRS[name], preprocessor=X).fit(pairs, labels)
        by_name = cls(**PAIRS[name], preprocessor=Lookup(X)).fit(NAMES[pairs], labels)
    # 3-D pairs with a preprocessor: refused (metric-learn 0.7 fits them and skips the preprocessor)
    with pytest.raises(ValueError, match=rf"{name}: pairs are formed points \(shape \({len(pairs)}, 2, {D}\)\)"):
        cls(**PAIRS[name], preprocessor=X).fit(X[pairs], labels)
    for m in (by_index, by_name):
        np.testing.assert_allclose(m.components_, ref.components_, rtol=1e-12, atol=1e-12)
    rows = np.r_[np.flatnonzero(labels == 1)[:5], np.flatnonzero(labels == -1)[:5]]
    test, test_labels = pairs[rows], labels[rows]
    for method in ("decision_function", "predict", "pair_distance", "pair_score"):
        with pytest.raises(ValueError, match="pairs are formed points"):
            getattr(by_index, method)(X[test])
    with pytest.raises(ValueError, match="pairs are formed points"):
        by_index.score(X[test], test_labels)
    with pytest.raises(ValueError, match="pairs are formed points"):
        by_index.calibrate_threshold(X[test], test_labels)
    for m, t in ((by_index, test), (by_name, NAMES[test])):
        np.testing.assert_allclose(m.decision_function(t), ref.decision_function(X[test]), rtol=1e-12)
        np.testing.assert_array_equal(m.predict(t), ref.predict(X[test]))
        assert m.score(t, test_labels) == ref.score(X[test], test_labels)
        np.testing.assert_allclose(m.pair_distance(t), ref.pair_distance(X[test]), rtol=1e-12)
    # transform takes identifiers of points (metric-learn: the same)
    np.testing.assert_allclose(by_index.transform(np.arange(5)), ref.transform(X[:5]), rtol=1e-12)
    np.testing.assert_allclose(by_name.transform(NAMES[:5]), ref.transform(X[:5]), rtol=1e-12)
    by_index.calibrate_threshold(pairs, labels)
    assert by_index.threshold_ == pytest.approx(ref.calibrate_threshold(X[pairs], labels).threshold_)


def test_quadruplet_learner_identifiers():
    X, y = _data()
    rng = np.random.default_rng(2)
    q = rng.integers(0, N, size=(60, 4))
    ref = learn.LSML(max_iter=20).fit(X[q])
    by_index = learn.LSML(max_iter=20, preprocessor=X).fit(q)
    by_name = learn.LSML(max_iter=20, preprocessor=Lookup(X)).fit(NAMES[q])
    with pytest.raises(ValueError, match=r"quadruplets are formed points \(shape \(60, 4, \d+\)\)"):
        learn.LSML(max_iter=20, preprocessor=X).fit(X[q])
    with pytest.raises(ValueError, match="quadruplets are formed points"):
        by_index.decision_function(X[q])
    for m in (by_index, by_name):
        np.testing.assert_allclose(m.components_, ref.components_, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(by_name.decision_function(NAMES[q]), ref.decision_function(X[q]), rtol=1e-12)
    np.testing.assert_array_equal(by_index.predict(q), ref.predict(X[q]))
    assert by_index.score(q) == ref.score(X[q])
    np.testing.assert_allclose(by_index.transform(np.arange(3)), ref.transform(X[:3]), rtol=1e-12)


# ---------------------------------------------------------------------- errors
def test_errors_on_identifiers_of_points():
    X, y = _data()
    ids = np.arange(N)
    NCA = learn.NCA
    # metric-learn: PreprocessorError(IndexError ...); here a ValueError naming the index
    with pytest.raises(ValueError, match=r"X refers to a missing point: index 45 is outside the preprocessor's 45"):
        NCA(preprocessor=X).fit(np.r_[ids[:-1], 45], y)
    # metric-learn: wraps around silently (X[-1]); here refused
    with pytest.raises(ValueError, match="index -1 is outside"):
        NCA(preprocessor=X).fit(np.r_[ids[:-1], -1], y)
    # metric-learn: taken as a mask, then a broadcasting crash
    with pytest.raises(TypeError, match="not a mask"):
        NCA(preprocessor=X).fit(ids % 2 == 0, y)
    # metric-learn: PreprocessorError(IndexError); here the dtype is named
    with pytest.raises(TypeError, match=r"integer row indices .* dtype <U6"):
        NCA(preprocessor=X).fit(NAMES, y)
    with pytest.raises(TypeError, match="integer row indices"):
        NCA(preprocessor=X).fit(ids + 0.5, y)
    # whole-valued floats are taken as indices (metric-learn refuses them)
    assert NCA(max_iter=2, preprocessor=X).fit(ids.astype(float), y).components_.shape == (D, D)
    # metric-learn: "2D array of formed points expected ... Found 1D array"
    with pytest.raises(ValueError, match=r"X is 1-D \(shape \(45,\)\). Reshape your data.*preprocessor="):
        NCA().fit(ids, y)
    with pytest.raises(ValueError, match="X must be 2-D points"):
        NCA(preprocessor=X).fit(X[None], y)
    fitted = NCA(max_iter=2).fit(X, y)
    with pytest.raises(ValueError, match="X is 1-D"):
        fitted.transform(ids)
    with pytest.raises(ValueError, match="different numbers of samples"):
        NCA(preprocessor=X).fit(ids[:10], y)


def test_errors_of_the_preprocessor_itself():
    X, y = _data()
    ids = np.arange(N)
    NCA = learn.NCA
    # metric-learn: ValueError "Invalid type for the preprocessor"
    with pytest.raises(TypeError, match="preprocessor must be None, an array of points"):
        NCA(preprocessor=3).fit(ids, y)
    with pytest.raises(TypeError, match="preprocessor must be None"):
        NCA(preprocessor="X.npy").fit(ids, y)
    # metric-learn: "2D array of formed points expected ... after the preprocessor has been applied"
    with pytest.raises(ValueError, match=r"array preprocessor must be 2-D points .* shape \(45,\)"):
        NCA(preprocessor=X[:, 0]).fit(ids, y)
    with pytest.raises(ValueError, match=r"returned shape \(180,\) for the 45 identifiers of X"):
        NCA(preprocessor=lambda i: X[i].ravel()).fit(ids, y)
    # metric-learn: a broadcasting crash inside the fit
    with pytest.raises(ValueError, match=r"returned shape \(44, 4\) for the 45 identifiers"):
        NCA(preprocessor=lambda i: X[i][:-1]).fit(ids, y)

    def broken(i):
        raise KeyError("no such point")

    # metric-learn: PreprocessorError; here the preprocessor's own error, with a note
    with pytest.raises(KeyError) as info:
        NCA(preprocessor=broken).fit(NAMES, y)
    assert any("preprocessor of NCA" in n for n in getattr(info.value, "__notes__", ["preprocessor of NCA"]))
    import scipy.sparse

    with pytest.raises(TypeError, match="sparse"):
        NCA(preprocessor=scipy.sparse.csr_matrix(X)).fit(ids, y)


def test_errors_on_tuples():
    X, pairs, labels = _pair_data()
    ITML, LSML = learn.ITML, learn.LSML
    with pytest.raises(ValueError, match="pairs refers to a missing point: index 45"):
        ITML(preprocessor=X).fit(np.vstack([pairs, [[0, 45]]]), np.r_[labels, 1])
    # metric-learn: "Tuples of 2 element(s) expected by ITML. Got tuples of 3"
    with pytest.raises(ValueError, match=r"pairs of identifiers must have 2 per row; got shape \(\d+, 3\)"):
        ITML(preprocessor=X).fit(np.c_[pairs, pairs[:, :1]], labels)
    with pytest.raises(ValueError, match=r"pairs must have shape \(n_pairs, 2, n_features\)"):
        ITML(preprocessor=X).fit(pairs[:, 0], labels)
    with pytest.raises(ValueError, match=r"pairs must have shape \(n_pairs, 2, n_features\)"):
        ITML(preprocessor=X).fit(X[pairs][None], labels)
    with pytest.raises(ValueError, match="need preprocessor=X"):
        ITML().fit(pairs, labels)
    # a preprocessor and formed 3-D tuples together (metric-learn 0.7 ignores the preprocessor)
    with pytest.raises(ValueError, match=r"SCML: triplets are formed points \(shape \(\d+, 3, \d+\)\), but the"):
        learn.SCML(preprocessor=X).fit(X[pairs[:, [0, 1, 1]]])
    triplets = np.c_[pairs, pairs[::-1, 1]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the fitted metric does not matter here, only the input checks
        scml = learn.SCML(preprocessor=X, n_basis=8, max_iter=50, output_iter=10, random_state=0).fit(triplets)
    for method in ("predict", "decision_function", "score"):
        with pytest.raises(ValueError, match="triplets are formed points"):
            getattr(scml, method)(X[triplets])
    # an empty constraint set (metric-learn: "Found array with 0 sample(s)")
    with pytest.raises(ValueError, match="no pairs given"):
        ITML(preprocessor=X).fit(np.zeros((0, 2), int), np.zeros(0))
    with pytest.raises(ValueError, match="no quadruplets given"):
        LSML(preprocessor=X).fit(np.zeros((0, 4), int))
    with pytest.raises(ValueError, match="no pairs given"):
        ITML(preprocessor=Lookup(X)).fit(np.zeros((0, 2), "<U6"), np.zeros(0))
    with pytest.raises(ValueError, match=r"X holds no identifiers \(shape \(0,\)\)"):
        learn.NCA(preprocessor=Lookup(X)).fit(np.zeros(0, "<U6"), np.zeros(0))
    with pytest.raises(ValueError, match=r"quadruplets of identifiers must have 4 per row"):
        LSML(preprocessor=X).fit(pairs)
    # metric-learn: IndexError from its column stacking
    with pytest.raises(ValueError, match=r"returned shape \(\d+,\) for the \d+ identifiers of pairs"):
        ITML(preprocessor=lambda i: X[i, 0]).fit(pairs, labels)
    with pytest.raises(TypeError, match="integer row indices"):
        ITML(preprocessor=X).fit(NAMES[pairs], labels)
    fitted = ITML(max_iter=5, preprocessor=X).fit(pairs, labels)
    with pytest.raises(ValueError, match="pairs refers to a missing point: index 99"):
        fitted.predict(np.array([[0, 99]]))
    with pytest.raises(ValueError, match=r"pairs must have shape"):
        learn.NCA(max_iter=2).fit(X, np.arange(N) % 3).pair_distance(pairs)  # no preprocessor


# ---------------------------------------------------------------------- scikit-learn integration
def test_pipeline_on_identifiers():
    X, y = _data()
    ids = np.arange(N)
    on_ids = make_pipeline(learn.NCA(max_iter=10, preprocessor=X), KNeighborsClassifier(3))
    on_points = make_pipeline(learn.NCA(max_iter=10), KNeighborsClassifier(3))
    s_ids = cross_val_score(on_ids, ids, y, cv=3)
    s_pts = cross_val_score(on_points, X, y, cv=3)
    np.testing.assert_array_equal(s_ids, s_pts)
    named = make_pipeline(learn.LMNN(max_iter=5, n_neighbors=2, preprocessor=Lookup(X)), KNeighborsClassifier(3))
    assert named.fit(NAMES, y).predict(NAMES[:5]).shape == (5,)


def test_pair_classifier_in_model_selection_on_identifiers():
    from sklearn.model_selection import GridSearchCV

    X, pairs, labels = _pair_data()
    on_ids = cross_val_score(learn.ITML(max_iter=20, preprocessor=X), pairs, labels, cv=3)
    on_points = cross_val_score(learn.ITML(max_iter=20), X[pairs], labels, cv=3)
    np.testing.assert_allclose(on_ids, on_points, rtol=1e-12)
    grid = GridSearchCV(learn.MMC(max_iter=5, preprocessor=Lookup(X)), {"diagonal": [False, True]}, cv=3)
    assert grid.fit(NAMES[pairs], labels).best_estimator_.decision_function(NAMES[pairs[:3]]).shape == (3,)


def test_clone_get_params_pickle():
    X, y = _data()
    est = learn.NCA(max_iter=5, preprocessor=X)
    assert est.get_params()["preprocessor"] is X
    c = clone(est)
    np.testing.assert_array_equal(c.get_params()["preprocessor"], X)
    assert not hasattr(c, "preprocessor_")
    _, pairs, labels = _pair_data()
    fitted = learn.ITML(max_iter=5, preprocessor=Lookup(X)).fit(NAMES[pairs], labels)
    back = pickle.loads(pickle.dumps(fitted))
    pairs = pairs[:5]
    np.testing.assert_array_equal(back.decision_function(NAMES[pairs]), fitted.decision_function(NAMES[pairs]))
    f2 = pickle.loads(pickle.dumps(est.fit(np.arange(N), y)))
    np.testing.assert_array_equal(f2.transform(np.arange(4)), est.transform(np.arange(4)))


def test_precomputed_kernel_refuses_a_preprocessor():
    X, y = _data()
    K = X @ X.T
    with pytest.raises(ValueError, match="precomputed.*preprocessor must be None"):
        learn.KernelNCA(kernel="precomputed", preprocessor=K).fit(np.arange(N), y)


def test_the_helper_module_directly():
    from fastmetric.learn._preprocessor import check_preprocessor, points_from_identifiers, tuples_from_identifiers

    X, _ = _data()
    p = check_preprocessor(X, "T")
    assert check_preprocessor(p) is p and check_preprocessor(None) is None
    np.testing.assert_array_equal(points_from_identifiers([3, 1], p), X[[3, 1]])
    assert points_from_identifiers(X, p) is X  # formed points pass through
    T = tuples_from_identifiers(np.array([[0, 1, 2]]), lambda i: X[i], 3, "T", "triplets")
    assert T.shape == (1, 3, D)
    np.testing.assert_array_equal(tuples_from_identifiers(NAMES[[[0, 1, 2]]], Lookup(X), 3), X[[[0, 1, 2]]])
    assert "45 x 4" in repr(p)


def test_float32_preprocessor_and_list_identifiers():
    X, y = _data()
    X32 = X.astype(np.float32)
    m = learn.NCA(max_iter=3, preprocessor=X32).fit(list(range(N)), y)
    assert m.components_.dtype == np.float32
    assert m.transform([0, 1]).dtype == np.float32
    ref = learn.NCA(max_iter=3).fit(X32, y)
    np.testing.assert_array_equal(m.components_, ref.components_)
    _, pairs, labels = _pair_data()
    itml = learn.ITML(max_iter=5, preprocessor=X32).fit(pairs.tolist(), labels)
    assert itml.components_.dtype == np.float32
