"""The shared estimator API of fastmetric.learn (MahalanobisMixin): validation, init, the learned metric."""

import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")
pytest.importorskip("scipy")

import fastmetric  # noqa: E402
from fastmetric.learn import MahalanobisMixin, Progress  # noqa: E402


class Plain(MahalanobisMixin):
    """The smallest learner following the base's contract: L = the initial components."""

    def __init__(self, n_components=None, init="auto", random_state=None, n_threads=None, verbose=False):
        self.n_components = n_components
        self.init = init
        self.random_state = random_state
        self.n_threads = n_threads
        self.verbose = verbose

    def fit(self, X, y):
        X, y = self._validate_supervised(X, y)
        k = self._n_components_checked(X.shape[1])
        L = self._initial_components(X, y, k)
        return self._set_components(L, X.dtype, n_iter=1)


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 5))
    y = np.repeat([0, 1, 2], 20)
    X[y == 1] += 2.0
    return X, y


def _run(code):
    env = dict(os.environ)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)


def test_import_fastmetric_needs_only_numpy():
    out = _run(
        "import sys, fastmetric\n"
        "bad = [m for m in ('sklearn', 'scipy') if m in sys.modules]\n"
        "assert not bad, bad\n"
        "import fastmetric.learn\n"
        "print('ok')"
    )
    assert out.returncode == 0, out.stderr
    assert "ok" in out.stdout


def test_missing_extra_gives_clear_import_error():
    out = _run(
        "import sys\n"
        "sys.modules['sklearn'] = None\n"
        "try:\n"
        "    from fastmetric.learn import NCA\n"
        "except ImportError as e:\n"
        "    print('MSG', e)\n"
    )
    assert out.returncode == 0, out.stderr
    assert "fastmetric[learn]" in out.stdout
    assert "scikit-learn" in out.stdout


@pytest.mark.parametrize(
    ("X", "y", "match"),
    [
        ([[0.0, 1.0], [np.nan, 1.0], [1.0, 2.0]], [0, 1, 1], "NaN"),
        ([[0.0, 1.0], [np.inf, 1.0], [1.0, 2.0]], [0, 1, 1], "infinity"),
        ([[0.0, 1.0], [1.0, 1.0], [1.0, 2.0]], [0, 0, 0], "1 class"),
        ([[0.0, 1.0], [1.0, 1.0], [1.0, 2.0]], [0, 1, 2], "fewer samples than classes"),
        ([[0.0, 1.0], [1.0, 1.0], [1.0, 2.0]], [0, 1], "different numbers of samples"),
        ([[0.0, 1.0], [1.0, 1.0], [1.0, 2.0]], None, "requires y"),
    ],
)
def test_bad_input_is_a_clear_error(X, y, match):
    with pytest.raises(ValueError, match=match):
        Plain().fit(np.array(X), None if y is None else np.array(y))


def test_continuous_labels_rejected(data):
    X, _ = data
    with pytest.raises(ValueError, match="Unknown label type"):
        Plain().fit(X, np.linspace(0, 1, len(X)))


def test_n_components_checks(data):
    X, y = data
    with pytest.raises(ValueError, match="larger than n_features=5"):
        Plain(n_components=6).fit(X, y)
    with pytest.raises(ValueError, match=">= 1"):
        Plain(n_components=0).fit(X, y)
    with pytest.raises(TypeError, match="n_components"):
        Plain(n_components=2.5).fit(X, y)
    assert Plain(n_components=3, init="identity").fit(X, y).components_.shape == (3, 5)


def test_init_checks(data):
    X, y = data
    with pytest.raises(ValueError, match=r"expected \(n_components, n_features\) = \(2, 5\)"):
        Plain(n_components=2, init=np.eye(3, 5)).fit(X, y)
    with pytest.raises(ValueError, match=r"\(5, 5\)"):
        Plain(init=np.eye(5, 4)).fit(X, y)
    with pytest.raises(ValueError, match="is not one of"):
        Plain(init="svd").fit(X, y)
    with pytest.raises(ValueError, match="at most min"):
        Plain(n_components=3, init="lda").fit(X, y)  # 3 classes: at most 2 LDA directions
    with pytest.raises(ValueError, match="NaN"):
        Plain(n_components=2, init=np.full((2, 5), np.nan)).fit(X, y)


def test_init_options(data):
    X, y = data
    assert np.array_equal(Plain(init="identity").fit(X, y).components_, np.eye(5))
    pca = Plain(n_components=3, init="pca").fit(X, y).components_
    np.testing.assert_allclose(pca @ pca.T, np.eye(3), atol=1e-12)
    r1 = Plain(init="random", random_state=3).fit(X, y).components_
    r2 = Plain(init="random", random_state=3).fit(X, y).components_
    assert np.array_equal(r1, r2)
    A = np.arange(10.0).reshape(2, 5)
    assert np.array_equal(Plain(init=A).fit(X, y).components_, A)  # n_components taken from the array
    # auto: LDA when n_components <= n_classes - 1, PCA when below min(n_features, n_samples), else identity
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

    lda = LinearDiscriminantAnalysis(n_components=2).fit(X, y).scalings_.T[:2]
    np.testing.assert_allclose(Plain(n_components=2).fit(X, y).components_, lda)
    pca4 = Plain(n_components=4, init="pca").fit(X, y).components_
    np.testing.assert_allclose(Plain(n_components=4).fit(X, y).components_, pca4)
    assert np.array_equal(Plain().fit(X, y).components_, np.eye(5))


def test_float32_preserved(data):
    X, y = data
    est = Plain(init="random", random_state=0).fit(X.astype(np.float32), y)
    assert est.components_.dtype == np.float32
    assert est.transform(X.astype(np.float32)).dtype == np.float32
    assert est.transform(X).dtype == np.float64
    est64 = Plain(init="random", random_state=0).fit(X, y)
    assert est64.components_.dtype == np.float64
    assert est64.transform(X.astype(np.int64)).dtype == np.float64


def test_learned_metric_api(data):
    X, y = data
    est = Plain(init="random", random_state=1).fit(X, y)
    L = est.components_
    np.testing.assert_allclose(est.transform(X), X @ L.T, rtol=1e-12, atol=1e-12)
    M = est.get_mahalanobis_matrix()
    np.testing.assert_allclose(M, L.T @ L, rtol=1e-12)
    metric = est.get_metric()
    u, v = X[0], X[7]
    ref = np.sqrt((u - v) @ M @ (u - v))
    assert metric(u, v) == pytest.approx(ref, rel=1e-12)
    assert metric(u, v, squared=True) == pytest.approx(ref**2, rel=1e-12)
    pairs = np.stack([X[:10], X[10:20]], axis=1)
    d = est.pair_distance(pairs)
    np.testing.assert_allclose(d, np.linalg.norm((X[:10] - X[10:20]) @ L.T, axis=1), rtol=1e-12)
    np.testing.assert_allclose(est.pair_score(pairs), -d)
    with pytest.warns(FutureWarning):
        np.testing.assert_allclose(est.score_pairs(pairs), d)
    # the fast paths take the learned L directly
    D = fastmetric.cdist(X[:10], X[10:20], metric="mahalanobis", L=L)
    np.testing.assert_allclose(np.diag(D), d, rtol=1e-10)
    with pytest.raises(ValueError, match=r"\(n_pairs, 2, n_features=5\)"):
        est.pair_distance(X[:10])
    with pytest.raises(ValueError, match="5 features"):
        metric(u[:3], v[:3])
    with pytest.raises(ValueError, match="features"):
        est.transform(X[:, :3])
    assert list(est.get_feature_names_out()) == [f"plain{i}" for i in range(5)]


def test_unfitted_raises():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        Plain().transform(np.zeros((2, 2)))


def test_progress_prints(capsys):
    p = Progress("X", True)
    p(1, 2.5, 0.1, active=3)
    p.message("done")
    out = capsys.readouterr().out
    assert "[X]" in out
    assert "2.5" in out
    assert "active 3" in out
    assert "done" in out
    Progress("X", False)(1, 1.0)
    assert capsys.readouterr().out == ""


def test_check_estimator_on_minimal_subclass():
    from sklearn.utils.estimator_checks import check_estimator

    check_estimator(Plain())


def test_blas_single_thread_limits_every_blas_and_restores():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    import scipy.linalg  # noqa: F401  (a second BLAS in the process, loaded before the first scan)

    from fastmetric.learn._base import blas_single_thread

    def blas_threads():
        return [i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]

    before = blas_threads()
    for _ in range(2):  # the second time through the kept controller
        with blas_single_thread():
            assert all(t == 1 for t in blas_threads())
        assert blas_threads() == before


def test_inputs_whose_squares_overflow_get_a_value_error():
    from fastmetric.learn import (
        ITML,
        LFDA,
        LMNN,
        MLKR,
        MMC,
        NCA,
        RCA,
        Covariance,
        ITML_Supervised,
        MMC_Supervised,
        RCA_Supervised,
    )

    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 5))
    y = np.repeat([0, 1], 20)
    pairs = rng.normal(size=(10, 2, 5))
    py = np.repeat([1, -1], 5)
    fits = {
        "NCA": lambda s: NCA(max_iter=5).fit(X * s, y),
        "LMNN": lambda s: LMNN(max_iter=5).fit(X * s, y),
        "MLKR": lambda s: MLKR(max_iter=5).fit(X * s, X[:, 0]),
        "ITML_Supervised": lambda s: ITML_Supervised(max_iter=5).fit(X * s, y),
        "MMC_Supervised": lambda s: MMC_Supervised(max_iter=5).fit(X * s, y),
        "RCA_Supervised": lambda s: RCA_Supervised().fit(X * s, y),
        "LFDA": lambda s: LFDA().fit(X * s, y),
        "Covariance": lambda s: Covariance().fit(X * s),
        "RCA": lambda s: RCA().fit(X * s, np.repeat(np.arange(20), 2)),
        "ITML": lambda s: ITML(max_iter=5).fit(pairs * s, py),
        "MMC": lambda s: MMC(max_iter=5).fit(pairs * s, py),
    }
    for name, fit in fits.items():
        with pytest.raises(ValueError, match="standardise"):
            fit(1e200)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est = fit(1e150)  # large but representable: a fit with finite components
        assert np.isfinite(est.components_).all(), name
    with pytest.raises(ValueError, match="float32"):
        NCA().fit((X * 1e19).astype(np.float32), y)


def test_check_real_names_the_parameter_and_its_range():
    from fastmetric._validation import check_real

    assert check_real(None, "tol", low=0, allow_none=True) is None
    assert check_real(np.inf, "gamma", low=0, low_open=True) == np.inf
    assert check_real(np.float32(0.5), "r", low=0, high=1) == 0.5
    for value, kw, msg in [
        (-1, {"low": 0}, "tol must be a number >= 0"),
        (0, {"low": 0, "low_open": True}, "tol must be a number > 0"),
        (2, {"low": 0, "high": 1}, "<= 1"),
        (np.inf, {"low": 0, "finite": True}, "finite number"),
        (np.nan, {}, "tol must be a number"),
        (True, {}, "tol must be a number"),
        ("1", {}, "tol must be a number"),
        (None, {}, "tol must be a number"),
    ]:
        with pytest.raises(ValueError, match=msg):
            check_real(value, "tol", **kw)
