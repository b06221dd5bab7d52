"""Weak supervision by pairs: constraint drawing, pair input, the pair-classifier API, helpers."""

import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")
pytest.importorskip("scipy")

from fastmetric.learn import ITML, MMC  # noqa: E402
from fastmetric.learn._constraints import chunks, default_n_constraints, max_chunks, positive_negative_pairs  # noqa: E402
from fastmetric.learn._pairs import components_from_metric, metric_prior  # noqa: E402

PAIR_LEARNERS = [ITML, MMC]


def _labels(seed=0, n=60, n_classes=3):
    return np.random.default_rng(seed).integers(0, n_classes, n)


# ------------------------------------------------------------------ constraints from labels
def test_positive_negative_pairs_valid_and_distinct():
    y = _labels()
    a, b, c, d = positive_negative_pairs(y, 200, random_state=0)
    assert a.shape == b.shape == (200,)
    assert c.shape == d.shape == (200,)
    assert np.all(y[a] == y[b])
    assert np.all(a != b)
    assert np.all(y[c] != y[d])
    for u, v in ((a, b), (c, d)):
        key = np.minimum(u, v) * len(y) + np.maximum(u, v)
        assert np.unique(key).size == key.size


def test_positive_negative_pairs_reproducible():
    y = _labels()
    r1 = positive_negative_pairs(y, 50, random_state=3)
    r2 = positive_negative_pairs(y, 50, random_state=3)
    r3 = positive_negative_pairs(y, 50, random_state=4)
    assert all(np.array_equal(u, v) for u, v in zip(r1, r2, strict=False))
    assert not all(np.array_equal(u, v) for u, v in zip(r1, r3, strict=False))


def test_positive_negative_pairs_too_many_warns():
    y = np.array([0, 0, 1, 1])  # 2 similar pairs, 4 dissimilar pairs exist
    with pytest.warns(UserWarning, match="distinct") as record:
        a, b, c, d = positive_negative_pairs(y, 10, random_state=0)
    messages = " ".join(str(w.message) for w in record)
    assert "2 distinct similar pairs" in messages
    assert "4 distinct dissimilar pairs" in messages
    assert a.size == 2
    assert c.size == 4


def test_pairs_ignore_unknown_labels():
    y = np.array([0, 0, -1, 1, 1, -1, 0, 1])
    a, b, c, d = positive_negative_pairs(y, 5, random_state=0)
    for idx in (a, b, c, d):
        assert np.all(y[idx] >= 0)


def test_default_n_constraints():
    assert default_n_constraints(3) == 180
    assert default_n_constraints(3, 100) == 180
    assert default_n_constraints(2, 398) == 398
    assert default_n_constraints(2, 50_000) == 1000
    assert default_n_constraints(10, 50_000) == 2000


def test_itml_supervised_default_draws_one_pair_of_each_kind_per_point():
    from fastmetric.learn import ITML_Supervised

    rng = np.random.default_rng(5)
    X = rng.normal(size=(150, 4))
    y = (X[:, 0] + 0.3 * rng.normal(size=150) > 0).astype(int)  # 2 classes: 80 < 150 pairs
    a = ITML_Supervised(random_state=3, max_iter=50).fit(X, y).components_
    b = ITML_Supervised(n_constraints=150, random_state=3, max_iter=50).fit(X, y).components_
    c = ITML_Supervised(n_constraints=80, random_state=3, max_iter=50).fit(X, y).components_
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_chunks_layout():
    y = np.repeat(np.arange(3), [7, 5, 4])
    ch = chunks(y, None, 2, random_state=0)
    assert max_chunks(y, 2) == 3 + 2 + 2
    ids = np.unique(ch[ch >= 0])
    assert ids.size == 7
    for i in ids:
        members = np.flatnonzero(ch == i)
        assert members.size == 2
        assert np.unique(y[members]).size == 1
    with pytest.warns(UserWarning, match="more than the labels allow"):
        ch2 = chunks(y, 100, 2, random_state=0)
    assert np.unique(ch2[ch2 >= 0]).size == 7
    ch3 = chunks(y, 3, 3, random_state=1)
    assert np.unique(ch3[ch3 >= 0]).size == 3


# ------------------------------------------------------------------ helpers
def test_components_from_metric(rng):
    A = rng.standard_normal((5, 5))
    M = A @ A.T
    L = components_from_metric(M)
    np.testing.assert_allclose(L.T @ L, M, rtol=1e-12, atol=1e-12)
    # rank deficient and slightly indefinite from rounding: no NaN
    v = rng.standard_normal(5)
    M1 = np.outer(v, v) - 1e-17 * np.eye(5)
    L1 = components_from_metric(M1)
    assert np.isfinite(L1).all()
    np.testing.assert_allclose(L1.T @ L1, np.outer(v, v), atol=1e-12)


def test_metric_prior_options(rng):
    X = rng.standard_normal((40, 4))
    X[:, 3] = 2.0  # constant feature: covariance singular
    assert np.array_equal(metric_prior("identity", X, 4), np.eye(4))
    M = metric_prior("covariance", X, 4)
    assert np.all(np.linalg.eigvalsh(M) > 0)
    np.testing.assert_allclose(M[:3, :3], np.linalg.inv(np.cov(X[:, :3], rowvar=False)), rtol=1e-8)
    R = metric_prior("random", X, 4, random_state=0)
    assert np.all(np.linalg.eigvalsh(R) > 0)
    with pytest.raises(ValueError, match="positive definite"):
        metric_prior(np.diag([1.0, 1.0, 0.0, 1.0]), X, 4)
    with pytest.raises(ValueError, match="shape"):
        metric_prior(np.eye(3), X, 4)
    with pytest.raises(ValueError, match="symmetric"):
        metric_prior(np.triu(np.ones((4, 4))), X, 4)
    with pytest.raises(ValueError, match="not one of"):
        metric_prior("bogus", X, 4)


# ------------------------------------------------------------------ pair input
def _pairs(seed=0, n=40, d=3):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = (X[:, 0] > 0).astype(int)
    a, b, c, e = positive_negative_pairs(y, 30, random_state=seed)
    idx = np.concatenate([np.stack([a, b], 1), np.stack([c, e], 1)])
    lab = np.r_[np.ones(a.size), -np.ones(c.size)].astype(int)
    return X, idx, lab


@pytest.mark.parametrize("cls", PAIR_LEARNERS)
def test_index_pairs_with_preprocessor_equal_point_pairs(cls):
    X, idx, lab = _pairs()
    m1 = cls(preprocessor=X).fit(idx, lab)
    m2 = cls().fit(X[idx], lab)
    np.testing.assert_allclose(m1.components_, m2.components_, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(m1.decision_function(idx), m2.decision_function(X[idx]), rtol=1e-12)
    assert m1.threshold_ == m2.threshold_
    # a callable preprocessor too
    m3 = cls(preprocessor=lambda i: X[i]).fit(idx, lab)
    np.testing.assert_allclose(m3.components_, m2.components_, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("cls", PAIR_LEARNERS)
def test_bad_pair_input(cls):
    X, idx, lab = _pairs()
    P = X[idx]
    with pytest.raises(ValueError, match=r"shape \(n_pairs, 2, n_features\)"):
        cls().fit(P[:, :1, :], lab)
    with pytest.raises(ValueError, match=r"shape \(n_pairs, 2, n_features\)"):
        cls().fit(P.reshape(len(P), -1), lab)
    with pytest.raises(ValueError, match="need preprocessor"):
        cls().fit(idx, lab)
    with pytest.raises(ValueError, match=r"\+1 \(similar\) or -1"):
        cls().fit(P, np.where(lab > 0, 1, 0))
    with pytest.raises(ValueError, match="both similar"):
        cls().fit(P, np.ones(len(P), int))
    with pytest.raises(ValueError, match="one label per pair"):
        cls().fit(P, lab[:-1])
    bad = P.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN or infinity"):
        cls().fit(bad, lab)
    bad[0, 0, 0] = np.inf
    with pytest.raises(ValueError, match="NaN or infinity"):
        cls().fit(bad, lab)
    missing = idx.copy()
    missing[3, 1] = len(X) + 5
    with pytest.raises(ValueError, match="missing point: index 45"):
        cls(preprocessor=X).fit(missing, lab)
    missing[3, 1] = -1
    with pytest.raises(ValueError, match="missing point"):
        cls(preprocessor=X).fit(missing, lab)
    m = cls().fit(P, lab)
    with pytest.raises(ValueError, match="fitted with 3 features"):
        m.predict(np.zeros((2, 2, 4)))


def _cut_key(pred, y, strategy, min_rate=None, beta=1.0):
    """The quantity a strategy maximises for the partition pred (True = predicted similar)."""
    pos, neg = y == 1, y == -1
    tp, fp = (pred & pos).sum(), (pred & neg).sum()
    tn, fn = (~pred & neg).sum(), (~pred & pos).sum()
    tpr, tnr = tp / pos.sum(), tn / neg.sum()
    if strategy == "accuracy":
        return (tp + tn,)
    if strategy == "f_beta":
        denom = (1 + beta**2) * tp + beta**2 * fn + fp
        return ((1 + beta**2) * tp / denom if tp else 0.0,)
    if strategy == "max_tpr":
        return (bool(tnr >= min_rate), tpr, tnr)
    return (bool(tpr >= min_rate), tnr, tpr)


@pytest.mark.parametrize(
    ("strategy", "kw"),
    [
        ("accuracy", {}),
        ("f_beta", {"beta": 1.0}),
        ("f_beta", {"beta": 0.5}),
        ("max_tpr", {"min_rate": 0.8}),
        ("max_tnr", {"min_rate": 0.6}),
    ],
)
def test_calibrate_threshold_matches_brute_force(strategy, kw):
    X, idx, lab = _pairs(seed=1, n=60, d=4)
    rng = np.random.default_rng(2)
    noisy = np.where(rng.random(lab.size) < 0.15, -lab, lab)  # make the problem non-separable
    m = ITML(max_iter=20).fit(X[idx], noisy)
    m.calibrate_threshold(X[idx], noisy, strategy=strategy, **kw)
    dist = m.pair_distance(X[idx])
    pred = m.predict(X[idx])
    assert np.array_equal(pred, np.where(dist <= m.threshold_, 1, -1))
    args = (noisy, strategy, kw.get("min_rate"), kw.get("beta", 1.0))
    cuts = np.concatenate(([dist.min() - 1], np.unique(dist)))
    best = max(_cut_key(dist <= t, *args) for t in cuts)
    assert _cut_key(pred == 1, *args) == pytest.approx(best)


def test_calibrate_threshold_extremes_and_errors():
    X, idx, lab = _pairs()
    m = ITML(max_iter=20).fit(X[idx], lab)
    P = X[idx]
    d = m.pair_distance(P)
    m.calibrate_threshold(P, np.ones(len(P), int))  # all similar: accept everything
    assert m.threshold_ >= d.max()
    assert np.all(m.predict(P) == 1)
    m.calibrate_threshold(P, -np.ones(len(P), int))  # all dissimilar: reject everything
    assert m.threshold_ < d.min()
    assert np.all(m.predict(P) == -1)
    with pytest.raises(ValueError, match="strategy must be one of"):
        m.calibrate_threshold(P, lab, strategy="bogus")
    with pytest.raises(ValueError, match="min_rate"):
        m.calibrate_threshold(P, lab, strategy="max_tpr")
    with pytest.raises(ValueError, match="min_rate"):
        m.calibrate_threshold(P, lab, strategy="max_tnr", min_rate=1.5)
    with pytest.raises(ValueError, match="strategy must be one of"):
        ITML().fit(P, lab, calibration_params={"strategy": "nope"})
    m.set_threshold(0.5)
    assert m.threshold_ == 0.5
    with pytest.raises(ValueError, match="real number"):
        m.set_threshold("a")


@pytest.mark.parametrize("cls", PAIR_LEARNERS)
def test_pair_classifier_api(cls):
    X, idx, lab = _pairs(seed=3, n=80, d=3)
    P = X[idx]
    m = cls().fit(P, lab)
    assert m.components_.shape == (3, 3)
    assert np.array_equal(m.classes_, [-1, 1])
    s = m.decision_function(P)
    np.testing.assert_allclose(s, -m.pair_distance(P))
    np.testing.assert_allclose(m.pair_score(P), s)
    assert set(np.unique(m.predict(P))) <= {-1, 1}
    assert 0.5 < m.score(P, lab) <= 1.0
    Z = m.transform(X)
    np.testing.assert_allclose(Z, X @ m.components_.T, rtol=1e-12, atol=1e-12)
    metric = m.get_metric()
    assert metric(P[0, 0], P[0, 1]) == pytest.approx(m.pair_distance(P[:1])[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        np.testing.assert_allclose(m.score_pairs(P), m.pair_distance(P))


@pytest.mark.parametrize("cls", PAIR_LEARNERS)
def test_pairs_float32_kept(cls):
    X, idx, lab = _pairs(seed=4)
    m32 = cls().fit(X[idx].astype(np.float32), lab)
    m64 = cls().fit(X[idx], lab)
    assert m32.components_.dtype == np.float32
    assert m32.transform(X.astype(np.float32)).dtype == np.float32
    assert m32.pair_distance(X[idx].astype(np.float32)).dtype == np.float32
    np.testing.assert_allclose(m32.components_, m64.components_, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("cls", PAIR_LEARNERS)
def test_unfitted_and_pickle(cls):
    import pickle

    from sklearn.exceptions import NotFittedError

    X, idx, lab = _pairs(seed=5)
    P = X[idx]
    for method in ("predict", "decision_function", "pair_distance"):
        with pytest.raises(NotFittedError):
            getattr(cls(), method)(P)
    with pytest.raises(NotFittedError):
        cls().score(P, lab)
    m = cls(preprocessor=X).fit(idx, lab)
    m2 = pickle.loads(pickle.dumps(m))
    np.testing.assert_array_equal(m2.predict(idx), m.predict(idx))
    np.testing.assert_allclose(m2.decision_function(idx), m.decision_function(idx))
