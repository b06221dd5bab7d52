"""class_weight in the constraint drawing of the ``*_Supervised`` learners (issue 17, part 3).

A class's share of the drawn constraints is proportional to its weight x its count: "balanced"
gives every class an equal share, None draws uniformly over the points exactly as before.
"""

import warnings

import numpy as np
import pytest

from fastmetric.learn import ITML_Supervised, LSML_Supervised, MMC_Supervised, SDML_Supervised
from fastmetric.learn._constraints import (
    class_draw_weights,
    positive_negative_pairs,
    supervised_pair_constraints,
    supervised_quadruplet_constraints,
)

COUNTS = (300, 60, 30)


def _labels(unlabelled=False):
    y = np.repeat(np.arange(3), COUNTS)
    if unlabelled:
        y[::17] = -1
    return y


def _shares(idx, y, n_classes=3):
    """Fraction of the pair endpoints falling in each class."""
    return np.bincount(y[idx].ravel(), minlength=n_classes) / idx.size


def _weighted_sum(a):
    w = np.arange(a.size).reshape(a.shape) % 97 + 1
    return int((a * w).sum())


# Draws of the code before class_weight existed (main at 0d0d84c), seeds 0 and 7 on _labels(True):
# (pairs shape, weighted checksum, first pairs) -- class_weight=None must reproduce them bit for bit.
RECORDED = {
    (0, 200, True): ((400, 2), 8580095, [[88, 109], [124, 86], [307, 311]], 835),
    (0, None, False): ((360, 2), 7755185, [[88, 40], [124, 50], [307, 335]], None),
    (7, 200, True): ((400, 2), 8679642, [[134, 181], [300, 329], [66, 123]], 579),
    (7, None, False): ((360, 2), 7747720, [[134, 78], [300, 301], [66, 16]], None),
}
RECORDED_QUADS = {
    0: ((180, 4), 7876355, [[88, 40, 188, 353], [124, 50, 91, 327]]),
    7: ((180, 4), 7657027, [[134, 78, 201, 308], [300, 301, 292, 347]]),
}


@pytest.mark.parametrize("key", sorted(RECORDED, key=str))
def test_none_keeps_the_previous_draws(key):
    seed, n, per_sample = key
    shape, checksum, first, next_int = RECORDED[key]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        idx, labels, rs = supervised_pair_constraints(
            _labels(True), 3, n, seed, "T", per_sample=per_sample, class_weight=None, classes=np.arange(3)
        )
    assert idx.shape == shape
    assert _weighted_sum(idx) == checksum
    assert idx[:3].tolist() == first
    if next_int is not None:  # the RandomState handed back continues the same stream
        assert rs.randint(1000) == next_int


@pytest.mark.parametrize("seed", [0, 7])
def test_none_keeps_the_previous_quadruplets(seed):
    shape, checksum, first = RECORDED_QUADS[seed]
    idx, _ = supervised_quadruplet_constraints(_labels(True), 3, 180, seed, "T")
    assert idx.shape == shape
    assert _weighted_sum(idx) == checksum
    assert idx[:2].tolist() == first


def test_balanced_gives_every_class_an_equal_share():
    y = _labels()
    uniform, _, _ = supervised_pair_constraints(y, 3, 300, 0, "T")
    balanced, labels, _ = supervised_pair_constraints(y, 3, 300, 0, "T", class_weight="balanced", classes=np.arange(3))
    sim, dis = balanced[labels == 1], balanced[labels == -1]
    assert sim.shape == (300, 2) and dis.shape == (300, 2)
    assert (y[sim[:, 0]] == y[sim[:, 1]]).all() and (y[dis[:, 0]] != y[dis[:, 1]]).all()
    # uniform draws follow the counts (300 : 60 : 30), balanced ones are even
    np.testing.assert_allclose(_shares(uniform[:300], y), np.array(COUNTS) / sum(COUNTS), atol=0.05)
    np.testing.assert_allclose(_shares(sim, y), [1 / 3] * 3, atol=0.04)
    np.testing.assert_allclose(_shares(dis, y), [1 / 3] * 3, atol=0.04)
    # the first point of each pair too (the anchor)
    np.testing.assert_allclose(np.bincount(y[dis[:, 0]], minlength=3) / 300, [1 / 3] * 3, atol=0.06)


def test_dict_weights_give_shares_proportional_to_weight_times_count():
    y = _labels()
    w = {0: 1.0, 1: 2.0, 2: 4.0}  # weight x count: 300, 120, 120
    idx, labels, _ = supervised_pair_constraints(y, 3, 400, 1, "T", class_weight=w, classes=np.arange(3))
    expect = np.array([300.0, 120.0, 120.0]) / 540.0
    np.testing.assert_allclose(_shares(idx[labels == 1], y), expect, atol=0.04)
    np.testing.assert_allclose(np.bincount(y[idx[labels == -1][:, 0]], minlength=3) / 400, expect, atol=0.05)
    # a class of weight 0 is never drawn
    idx, labels, _ = supervised_pair_constraints(y, 3, 200, 1, "T", class_weight={2: 0}, classes=np.arange(3))
    assert not (y[idx] == 2).any()


def test_unlabelled_points_are_never_drawn_and_balanced_counts_labelled_points():
    y = _labels(unlabelled=True)
    w = class_draw_weights("balanced", np.where(y >= 0, y, -1), np.arange(3))
    assert (w[y < 0] == 0).all()
    labelled = np.bincount(y[y >= 0])
    np.testing.assert_allclose(w[y == 0][0], labelled.sum() / (3 * labelled[0]))
    idx, _, _ = supervised_pair_constraints(y, 3, 150, 3, "T", class_weight="balanced", classes=np.arange(3))
    assert (y[idx] >= 0).all()


def test_weighted_draws_are_distinct_and_reproducible():
    y = _labels()
    weights = class_draw_weights("balanced", y, np.arange(3))
    a, b, c, d = positive_negative_pairs(y, 250, 5, weights=weights)
    for u, v in ((a, b), (c, d)):
        keys = np.minimum(u, v) * y.size + np.maximum(u, v)
        assert np.unique(keys).size == keys.size
        assert (u != v).all()
    again = positive_negative_pairs(y, 250, 5, weights=weights)
    for x1, x2 in zip((a, b, c, d), again, strict=True):
        np.testing.assert_array_equal(x1, x2)


def test_too_few_distinct_pairs_warns():
    y = np.array([0, 0, 1, 1, 1])
    weights = class_draw_weights("balanced", y, np.arange(2))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        a, b, c, d = positive_negative_pairs(y, 20, 0, weights=weights)
    messages = [str(w.message) for w in caught]
    assert any("only 4 distinct similar pairs" in m for m in messages)
    assert any("only 6 distinct dissimilar pairs" in m for m in messages)
    assert a.size == 4 and c.size == 6  # every similar / dissimilar pair there is


def test_quadruplets_balanced():
    y = _labels()
    idx, _ = supervised_quadruplet_constraints(y, 3, 300, 0, "T", class_weight="balanced", classes=np.arange(3))
    assert idx.shape == (300, 4)
    assert (y[idx[:, 0]] == y[idx[:, 1]]).all() and (y[idx[:, 2]] != y[idx[:, 3]]).all()
    np.testing.assert_allclose(_shares(idx[:, :2], y), [1 / 3] * 3, atol=0.04)


def _data():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), (60, 12, 8))
    X = rng.standard_normal((y.size, 3)) + y[:, None]
    return X, y


LEARNERS = [
    lambda **kw: ITML_Supervised(max_iter=20, random_state=0, **kw),
    lambda **kw: MMC_Supervised(max_iter=5, random_state=0, **kw),
    lambda **kw: SDML_Supervised(balance_param=0.01, prior="identity", random_state=0, **kw),
    lambda **kw: LSML_Supervised(max_iter=20, random_state=0, **kw),
]
IDS = ["ITML_Supervised", "MMC_Supervised", "SDML_Supervised", "LSML_Supervised"]


@pytest.mark.parametrize("make", LEARNERS, ids=IDS)
def test_learners_take_class_weight(make):
    X, y = _data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain = make().fit(X, y)
        none = make(class_weight=None).fit(X, y)
        bal = make(class_weight="balanced").fit(X, y)
        dct = make(class_weight={0: 0.5, 2: 3}).fit(X, y)
    np.testing.assert_array_equal(plain.components_, none.components_)  # None: the same draws
    for m in (bal, dct):
        assert m.components_.shape == (3, 3) and np.isfinite(m.components_).all()
    assert make(class_weight="balanced").get_params()["class_weight"] == "balanced"


@pytest.mark.parametrize("make", LEARNERS, ids=IDS)
@pytest.mark.parametrize(
    ("cw", "err", "match"),
    [
        ({7: 1.0}, ValueError, "not a class of y"),
        ({0: -1.0}, ValueError, "finite number >= 0"),
        ({0: float("nan")}, ValueError, "finite number >= 0"),
        ({0: float("inf")}, ValueError, "finite number >= 0"),
        ({0: 0, 1: 0, 2: 0}, ValueError, "every class weight 0"),
        ("bogus", ValueError, "balanced"),
        ([1, 2, 3], TypeError, "class_weight must be"),
    ],
)
def test_bad_class_weight(make, cw, err, match):
    X, y = _data()
    with pytest.raises(err, match=match):
        make(class_weight=cw).fit(X, y)
