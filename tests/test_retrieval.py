"""fastmetric.retrieval against a plain-numpy brute force of pytorch-metric-learning's definitions."""

from __future__ import annotations

import numpy as np
import pytest

import fastmetric
from fastmetric import retrieval

KEYS = ("precision_at_1", "r_precision", "mean_average_precision_at_r", "mean_average_precision")


# ---------------------------------------------------------------------------------------------------
# the reference: full float64 distance matrix, neighbours by (distance, index) via np.lexsort, each
# metric written out per query from its definition (AccuracyCalculator of pytorch-metric-learning 2.x)


def _distances(Q, Rf, metric, L=None):
    Q, Rf = np.asarray(Q, np.float64), np.asarray(Rf, np.float64)
    if metric == "mahalanobis":
        Q, Rf = Q @ L.T, Rf @ L.T
    if metric == "cosine":
        Qn = Q / np.linalg.norm(Q, axis=1, keepdims=True)
        Rn = Rf / np.linalg.norm(Rf, axis=1, keepdims=True)
        return 1.0 - Qn @ Rn.T
    return ((Q[:, None, :] - Rf[None, :, :]) ** 2).sum(-1)  # squared: the same ranking as euclidean


def reference_scores(Q, ql, Rf=None, rl=None, *, k="max_bin_count", ref_includes_query=None, average="micro",
                     metric="euclidean", L=None, at=1):
    if Rf is None:
        Rf, rl, own = Q, ql, 1
    else:
        own = int(bool(ref_includes_query))
    ql, rl = np.asarray(ql), np.asarray(rl)
    D = _distances(Q, Rf, metric, L)
    counts = {lab: int(np.sum(rl == lab)) for lab in np.unique(ql)}
    if k == "max_bin_count":
        k = max(counts.values()) - own
    elif k is None:
        k = Rf.shape[0] - own
    per = {key: [] for key in (*KEYS, "precision_at_k", "recall_at_k")}
    labels = []
    for i in range(Q.shape[0]):
        R = counts[ql[i]] - own
        if R <= 0:
            continue  # a lone query
        cand = np.arange(Rf.shape[0])
        if own:
            cand = cand[cand != i]
        order = cand[np.lexsort((cand, D[i, cand]))][:k]
        rel = (rl[order] == ql[i]).astype(np.float64)
        m = min(R, k)
        P = np.cumsum(rel) / np.arange(1, k + 1)
        per["precision_at_1"].append(rel[0])
        per["r_precision"].append(rel[:m].sum() / m)
        per["mean_average_precision_at_r"].append((P[:m] * rel[:m]).sum() / R)
        per["mean_average_precision"].append((P * rel).sum() / R)
        per["precision_at_k"].append(rel[:at].sum() / at)
        per["recall_at_k"].append(float(rel[:at].any()))
        labels.append(ql[i])
    labels = np.asarray(labels)
    out = {}
    for key, v in per.items():
        v = np.asarray(v)
        if average == "micro":
            out[key] = v.mean()
        else:
            out[key] = np.mean([v[labels == c].mean() for c in np.unique(labels)])
    out["k"], out["n_evaluated"] = k, len(labels)
    return out


def assert_scores(got, want, tol=1e-12):
    assert got["k"] == want["k"]
    assert got["n_evaluated"] == want["n_evaluated"]
    for key in KEYS:
        assert abs(got[key] - want[key]) <= tol, (key, got[key], want[key])


# ---------------------------------------------------------------------------------------------------
# awkward data: imbalanced classes, a lone class, exact duplicates (ties) with different labels


def _awkward(rng, n=157, d=7, dtype=np.float64):
    sizes = [60, 41, 30, 17, 8]
    y = np.concatenate([np.full(s, c) for c, s in enumerate(sizes)])
    y = np.concatenate([y, [9]])  # class 9 has one member: a lone query in a self search
    X = rng.normal(size=(y.shape[0], d)) + 0.8 * rng.normal(size=(10, d))[y]
    X[5] = X[70]  # exact duplicates across classes: ties broken by index
    X[6] = X[70]
    X[90] = X[3]
    perm = rng.permutation(y.shape[0])
    return X[perm].astype(dtype), y[perm]


@pytest.fixture
def data(rng):
    return _awkward(rng)


@pytest.mark.parametrize("average", ["micro", "macro"])
@pytest.mark.parametrize("k", ["max_bin_count", 4, 130, None])
def test_self_search_matches_reference(isa, data, k, average):
    X, y = data
    got = retrieval.retrieval_scores(X, y, k=k, average=average)
    want = reference_scores(X, y, k=k, average=average)
    assert want["n_evaluated"] == X.shape[0] - 1  # the lone query is left out
    assert_scores(got, want)
    if k == "max_bin_count":
        assert got["k"] == 59


@pytest.mark.parametrize("average", ["micro", "macro"])
@pytest.mark.parametrize("k", ["max_bin_count", 3, 50])
def test_separate_reference_with_absent_classes(isa, rng, k, average):
    X, y = _awkward(rng, n=0)
    Q, ql = X[:61], y[:61].copy()
    Rf, rl = X[61:], y[61:].copy()
    ql[:4] = 42  # a class no reference has: excluded
    rl[rl == 9] = 3
    got = retrieval.retrieval_scores(Q, ql, Rf, rl, k=k, average=average)
    want = reference_scores(Q, ql, Rf, rl, k=k, average=average)
    assert want["n_evaluated"] == 57
    assert_scores(got, want)


def test_ref_includes_query_equals_self_search_on_the_queries(isa, data):
    X, y = data
    Q, ql = X[:80], y[:80]
    got = retrieval.retrieval_scores(Q, ql, X, y, ref_includes_query=True)
    want = reference_scores(Q, ql, X, y, ref_includes_query=True)
    assert_scores(got, want)
    # reference=None is ref_includes_query=True with reference = query
    assert retrieval.retrieval_scores(Q, ql) == retrieval.retrieval_scores(Q, ql, Q, ql, ref_includes_query=True)
    # without the flag a query finds itself first: precision@1 counts it
    with_self = retrieval.retrieval_scores(Q, ql, Q, ql)
    assert with_self["precision_at_1"] == 1.0
    assert_scores(with_self, reference_scores(Q, ql, Q, ql))


def test_duplicate_of_a_query_still_counts(isa):
    # rows 0 and 1 are the same point with different labels: query 0 excludes index 0 only, so its
    # nearest neighbour is row 1 (distance 0, wrong label); by distance alone both would be dropped
    X = np.array([[0.0], [0.0], [0.1], [5.0], [5.1]])
    y = np.array([0, 1, 0, 1, 1])
    s = retrieval.retrieval_scores(X, y, k=1)
    p1 = [0.0, 0.0, 1.0, 1.0, 1.0]  # per query: 0 -> 1 (no), 1 -> 0 (no), 2 -> 0 (yes), 3 -> 4, 4 -> 3
    assert s["precision_at_1"] == pytest.approx(np.mean(p1), abs=1e-15)
    assert_scores(s, reference_scores(X, y, k=1))


def test_hand_computed_example():
    # 1-D, queries search themselves; labels a a b a b at 0, 1, 2, 4, 8
    X = np.array([[0.0], [1.0], [2.0], [4.0], [8.0]])
    y = np.array(["a", "a", "b", "a", "b"])
    s = retrieval.retrieval_scores(X, y)  # max_bin_count: 3 a's -> k = 2
    # neighbours (k=2): 0: 1(a) 2(b); 1: 0(a) 2(b) [0 and 2 tie at 1: smaller index first];
    # 2: 1(a) 0(a) [0 and 3 tie at 2]; 3: 2(b) 1(a); 4: 3(a) 2(b)
    # R: a -> 2, b -> 1
    p1 = np.array([1, 1, 0, 0, 0], float)
    rp = np.array([1 / 2, 1 / 2, 0 / 1, 1 / 2, 0 / 1])
    mapr = np.array([1 / 2, 1 / 2, 0, 1 / 2 * (1 / 2), 0])
    mapk = np.array([1 / 2, 1 / 2, 0, 1 / 2 * (1 / 2), (1 / 2) / 1])
    assert s["k"] == 2
    assert s["precision_at_1"] == pytest.approx(p1.mean(), abs=1e-15)
    assert s["r_precision"] == pytest.approx(rp.mean(), abs=1e-15)
    assert s["mean_average_precision_at_r"] == pytest.approx(mapr.mean(), abs=1e-15)
    assert s["mean_average_precision"] == pytest.approx(mapk.mean(), abs=1e-15)
    macro = retrieval.retrieval_scores(X, y, average="macro")
    a, b = y == "a", y == "b"
    assert macro["r_precision"] == pytest.approx((rp[a].mean() + rp[b].mean()) / 2, abs=1e-15)


@pytest.mark.parametrize("metric", ["euclidean", "sqeuclidean", "cosine", "mahalanobis"])
def test_metrics_match_reference(isa, data, rng, metric):
    X, y = data
    X = X + 0.5  # cosine: no zero rows, and not centred
    L = rng.normal(size=(4, X.shape[1])) if metric == "mahalanobis" else None
    got = retrieval.retrieval_scores(X, y, metric=metric, L=L, average="macro")
    want = reference_scores(X, y, metric=metric, L=L, average="macro")
    assert_scores(got, want)


@pytest.mark.parametrize("average", ["micro", "macro"])
def test_single_metric_functions(data, average):
    X, y = data
    Q, ql, Rf, rl = X[:50], y[:50], X[50:], y[50:]
    for kw in ({}, {"reference": Rf, "reference_labels": rl}):
        want = reference_scores(Q, ql, kw.get("reference"), kw.get("reference_labels"), average=average, at=5)
        both = reference_scores(Q, ql, kw.get("reference"), kw.get("reference_labels"), average=average, k=5)
        args = (Q, ql, kw.get("reference"), kw.get("reference_labels"))
        assert abs(retrieval.precision_at_k(*args, k=5, average=average) - want["precision_at_k"]) <= 1e-12
        assert abs(retrieval.recall_at_k(*args, k=5, average=average) - want["recall_at_k"]) <= 1e-12
        assert abs(retrieval.r_precision(*args, average=average) - want["r_precision"]) <= 1e-12
        assert abs(retrieval.map_at_r(*args, average=average) - want["mean_average_precision_at_r"]) <= 1e-12
        got = retrieval.mean_average_precision(*args, k=5, average=average)
        assert abs(got - both["mean_average_precision"]) <= 1e-12
    # precision@1 is recall@1
    assert retrieval.precision_at_k(X, y) == retrieval.recall_at_k(X, y)


def test_float32_searched_in_float32(isa, rng):
    # no near-ties between differently labelled candidates, so float32 ranks as float64 does:
    # choose the first seed whose float64 gaps between consecutive neighbours are all > 1e-4
    for seed in range(200):
        r = np.random.default_rng(seed)
        y = r.integers(0, 4, size=30)
        X = (r.normal(size=(30, 3)) + 1.5 * r.normal(size=(4, 3))[y]).astype(np.float32)
        D = np.sqrt(_distances(X, X, "euclidean"))
        np.fill_diagonal(D, np.inf)
        S = np.sort(D, axis=1)[:, :-1]
        if np.all(np.diff(S, axis=1) > 1e-4 * S[:, 1:]):
            break
    else:
        pytest.fail("no seed without near ties")
    got = retrieval.retrieval_scores(X, y, k=None, average="macro")
    want = reference_scores(X.astype(np.float64), y, k=None, average="macro")
    assert_scores(got, want)
    Q, R = X[:10], X[10:]
    got = retrieval.retrieval_scores(Q, y[:10], R, y[10:], k=4)
    assert_scores(got, reference_scores(Q.astype(np.float64), y[:10], R.astype(np.float64), y[10:], k=4))
    # float64 of the same values: the same ranking, so the same scores
    assert retrieval.retrieval_scores(X, y) == retrieval.retrieval_scores(X.astype(np.float64), y)


def test_threads_and_blocks_do_not_change_scores(data, monkeypatch):
    X, y = data
    base = [retrieval.retrieval_scores(X, y, k=k, n_threads=1) for k in ("max_bin_count", 7)]
    for nt in (2, 3):
        assert [retrieval.retrieval_scores(X, y, k=k, n_threads=nt) for k in ("max_bin_count", 7)] == base
    # small blocks (several per call, the lone query inside one): the same scores to rounding
    monkeypatch.setattr(retrieval, "_BLOCK_PAIRS", 64)
    for k, want in zip(("max_bin_count", 7), base, strict=True):
        assert_scores(retrieval.retrieval_scores(X, y, k=k), want)


def test_integer_and_view_inputs(data):
    # integer embeddings become float64. (Integer data have many pairs at equal distance in exact
    # arithmetic; the engine's |x|^2 + |y|^2 - 2 x.y rounds them apart, so such ties follow rounding,
    # not the index: only equal computed distances, e.g. duplicates, are ordered by index.)
    X, y = data
    Xi = np.round(X * 4).astype(np.int32)
    F = np.asfortranarray(Xi)
    want = retrieval.retrieval_scores(Xi.astype(np.float64), y)
    assert retrieval.retrieval_scores(F, y.astype(np.int8)) == want
    big = np.zeros((X.shape[0], 2 * X.shape[1]))
    big[:, ::2] = X
    view = big[:, ::2]  # a strided view
    assert_scores(retrieval.retrieval_scores(view, y), reference_scores(X, y))


def test_module_is_exported():
    assert fastmetric.retrieval is retrieval
    assert "retrieval" in fastmetric.__all__


# ---------------------------------------------------------------------------------------------------
# bad input


def test_bad_input(data):
    X, y = data
    with pytest.raises(ValueError, match=r"query_labels must have shape \(157,\)"):
        retrieval.retrieval_scores(X, y[:-1])
    with pytest.raises(ValueError, match=r"reference_labels must have shape \(10,\)"):
        retrieval.retrieval_scores(X, y, X[:10], y[:9])
    with pytest.raises(ValueError, match="single class"):
        retrieval.retrieval_scores(X, np.zeros(X.shape[0], int))
    Xn = X.copy()
    Xn[3, 2] = np.nan
    with pytest.raises(ValueError, match="query .* contains NaN"):
        retrieval.retrieval_scores(Xn, y)
    with pytest.raises(ValueError, match="reference .* contains NaN"):
        retrieval.retrieval_scores(X, y, Xn, y)
    with pytest.raises(ValueError, match=r"k=157 is larger than the number of other references \(156"):
        retrieval.retrieval_scores(X, y, k=157)
    with pytest.raises(ValueError, match=r"k=11 is larger than the number of references \(10"):
        retrieval.precision_at_k(X, y, X[:10], y[:10], k=11)
    with pytest.raises(ValueError, match="k must be an int"):
        retrieval.retrieval_scores(X, y, k=0)
    with pytest.raises(ValueError, match="k must be an int"):
        retrieval.retrieval_scores(X, y, k="all")
    Xz = X.copy()
    Xz[4] = 0
    with pytest.raises(ValueError, match=r"query has 1 all-zero row\(s\) \(first: row 4\)"):
        retrieval.retrieval_scores(Xz, y, metric="cosine")
    retrieval.retrieval_scores(Xz, y)  # euclidean has no trouble with zero rows
    with pytest.raises(ValueError, match="query has no rows"):
        retrieval.retrieval_scores(X[:0], y[:0], X, y)
    with pytest.raises(ValueError, match="every query is 'lone'"):
        retrieval.retrieval_scores(X[:5], np.full(5, 77), X, y)
    with pytest.raises(ValueError, match="average must be"):
        retrieval.retrieval_scores(X, y, average="weighted")
    with pytest.raises(ValueError, match="metric must be one of"):
        retrieval.retrieval_scores(X, y, metric="cityblock")
    with pytest.raises(ValueError, match="needs L"):
        retrieval.retrieval_scores(X, y, metric="mahalanobis")
    with pytest.raises(ValueError, match=r"L must have shape \(k, 7\)"):
        retrieval.retrieval_scores(X, y, metric="mahalanobis", L=np.eye(3))
    with pytest.raises(ValueError, match="takes no L"):
        retrieval.retrieval_scores(X, y, L=np.eye(7))
    with pytest.raises(ValueError, match="ref_includes_query=True needs the first n_queries rows"):
        retrieval.retrieval_scores(X[:10], y[:10], X[1:], y[1:], ref_includes_query=True)
    with pytest.raises(ValueError, match="contradicts"):
        retrieval.retrieval_scores(X, y, ref_includes_query=False)
    with pytest.raises(ValueError, match="same number of features"):
        retrieval.retrieval_scores(X, y, X[:, :3], y)
    with pytest.raises(ValueError, match="reference given without reference_labels"):
        retrieval.retrieval_scores(X, y, X)
    with pytest.raises(TypeError, match="cannot be compared"):
        retrieval.retrieval_scores(X, y, X, y.astype(str))
    s = retrieval.retrieval_scores(X, y.astype(str), X, y.astype(str), ref_includes_query=True)
    assert s == retrieval.retrieval_scores(X, y)  # string labels work as the integers do
    with pytest.raises(TypeError, match="query_labels must hold"):
        retrieval.retrieval_scores(X, np.array([object()] * X.shape[0]))
