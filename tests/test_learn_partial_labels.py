"""Partial labels (issue 11, point 5): for the *_Supervised constraint learners (RCA, ITML, MMC) a label
< 0 -- metric-learn's -1 -- means "unlabelled", as in metric-learn 0.7's Constraints(partial_labels):
such points are never drawn into a chunklet or a pair, yet stay in X. Fully supervised learners (NCA,
LMNN, LFDA) keep -1 as an ordinary class, as metric-learn does."""

import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")
pytest.importorskip("scipy")

from fastmetric.learn import ITML_Supervised, MMC_Supervised, NCA, RCA_Supervised  # noqa: E402
from sklearn.datasets import load_iris  # noqa: E402


class SpyRCA(RCA_Supervised):
    def _fit_chunks(self, X, ch, sample_weight=None):
        self.seen_ = (X.copy(), ch.copy())
        return super()._fit_chunks(X, ch, sample_weight=sample_weight)


class SpyITML(ITML_Supervised):
    def _fit_pairs(self, P, y, bounds, points, *args, **kwargs):
        self.seen_ = (P.copy(), y.copy(), points.copy())
        return super()._fit_pairs(P, y, bounds, points, *args, **kwargs)


class SpyMMC(MMC_Supervised):
    def _fit_pairs(self, P, y, points, *args, **kwargs):
        self.seen_ = (P.copy(), y.copy(), points.copy())
        return super()._fit_pairs(P, y, points, *args, **kwargs)


def _iris_half_unlabelled(seed=0, unknown=-1, dtype=np.int64):
    """metric-learn's semi-supervised test set-up: iris with half of the labels replaced by -1."""
    X, y = load_iris(return_X_y=True)
    X = X + 1e-9 * np.arange(X.shape[0])[:, None]  # every row distinct, so pair points identify their rows
    rng = np.random.default_rng(seed)
    y = y.astype(dtype)
    y[rng.choice(y.shape[0], y.shape[0] // 2, replace=False)] = unknown
    return X, y


def _rows_of(points, X):
    index = {X[i].tobytes(): i for i in range(X.shape[0])}
    return np.array([index[p.tobytes()] for p in points.reshape(-1, X.shape[1])])


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("n_chunks", [None, 30])
def test_rca_supervised_never_chunks_unlabelled_points(seed, n_chunks):
    X, y = _iris_half_unlabelled(seed)
    est = SpyRCA(n_chunks=n_chunks, random_state=seed).fit(X, y)
    Xseen, ch = est.seen_
    np.testing.assert_array_equal(Xseen, X)  # the unlabelled points stay in X
    assert (ch[y < 0] == -1).all()
    labelled = ch[y >= 0]
    ids = np.unique(labelled[labelled >= 0])
    assert ids.size == (30 if n_chunks else sum(np.count_nonzero(y == c) // 2 for c in range(3)))
    for c in ids:  # each chunklet: chunk_size points of one class
        members = np.flatnonzero(ch == c)
        assert members.size == 2 and np.unique(y[members]).size == 1
    np.testing.assert_array_equal(est.classes_, [0, 1, 2])
    assert np.isfinite(est.components_).all()


@pytest.mark.parametrize("spy", [SpyITML, SpyMMC])
@pytest.mark.parametrize("unknown", [-1, -7])
def test_pair_supervised_never_pairs_unlabelled_points(spy, unknown):
    X, y = _iris_half_unlabelled(3, unknown=unknown)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = spy(max_iter=5, random_state=0).fit(X, y)
    P, lab, points = est.seen_
    np.testing.assert_array_equal(points, X)  # the unlabelled points stay in X
    rows = _rows_of(P, X).reshape(-1, 2)
    assert (y[rows] >= 0).all()
    same = y[rows[:, 0]] == y[rows[:, 1]]
    np.testing.assert_array_equal(np.where(same, 1, -1), lab)
    assert (lab == 1).any() and (lab == -1).any()
    np.testing.assert_array_equal(est.classes_, [0, 1, 2])


@pytest.mark.parametrize("cls", [RCA_Supervised, ITML_Supervised, MMC_Supervised])
def test_float_labels_minus_one_are_unlabelled(cls):
    X, y = _iris_half_unlabelled(4, dtype=np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = cls(random_state=0).fit(X, y)
    np.testing.assert_array_equal(est.classes_, [0.0, 1.0, 2.0])


@pytest.mark.parametrize("cls", [RCA_Supervised, ITML_Supervised, MMC_Supervised])
def test_all_unlabelled_or_one_labelled_class_is_a_clear_error(cls):
    X, _ = load_iris(return_X_y=True)
    with pytest.raises(ValueError, match=r"0 labelled classes over 150 samples, 150 unlabelled \(label < 0\)"):
        cls().fit(X, -np.ones(150, dtype=int))
    y = -np.ones(150, dtype=int)
    y[:40] = 2
    with pytest.raises(ValueError, match=r"1 labelled class over 150 samples, 110 unlabelled"):
        cls().fit(X, y)
    y[40] = 0  # two classes, but one labelled point of the second: still pairs / chunklets of class 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cls().fit(X, y)


def test_strings_and_fully_supervised_learners_keep_minus_one_as_a_class():
    X, y = _iris_half_unlabelled(5)
    est = NCA(max_iter=3).fit(X, y)
    np.testing.assert_array_equal(est.classes_, [-1, 0, 1, 2])
    ys = np.array(["a", "b", "c"])[np.arange(150) % 3]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        np.testing.assert_array_equal(RCA_Supervised().fit(X, ys).classes_, ["a", "b", "c"])
