"""Exact retrieval metrics for embeddings, streamed through the k-NN engine.

``retrieval_scores(query, query_labels)`` answers "how well does this embedding retrieve items of
the same class?" with the numbers deep metric learning reports: precision@1, R-precision, MAP@R and
mean average precision at k, defined exactly as pytorch-metric-learning 2.x's ``AccuracyCalculator``
(``precision_at_1``, ``r_precision``, ``mean_average_precision_at_r``, ``mean_average_precision``).
The queries are processed in blocks: each block's k nearest references come from
:func:`fastmetric.kneighbors`'s engine and are reduced to per-query scores at once, so memory is
O(block x k + n_queries), never n_queries x n_references, whatever k is (k=None ranks every reference).

Definitions, for a query q with label y_q and its ranked neighbours n_1, n_2, ... (rel_j = 1 when
n_j has label y_q):

- R = the number of references labelled y_q, not counting q itself when the references include the
  queries. Queries with R = 0 ("lone" queries: their label has no other reference) are left out of
  every metric, as pytorch-metric-learning does.
- precision@k = (1/k) sum_{j<=k} rel_j;  recall@k = 1 if some rel_j = 1 for j <= k (the "Recall@K" of
  deep metric learning papers, a hit rate: it is not relevant-retrieved / R).
- R-precision = (1/m) sum_{j<=m} rel_j with m = min(R, k).
- MAP@R = (1/R) sum_{j<=min(R,k)} rel_j P@j, P@j = (1/j) sum_{i<=j} rel_i.
- mean average precision at k = (1/R) sum_{j<=k} rel_j P@j (divided by R, not by min(R, k), as
  pytorch-metric-learning does).
- ``average="micro"``: the mean over the queries; ``"macro"``: the mean over the query classes of each
  class's mean (pytorch-metric-learning's ``avg_of_avgs=True``), the average imbalanced data need.

R-precision and MAP@R are exact only when k >= R for every query: ``k="max_bin_count"`` (the default)
is the largest R, computed as pytorch-metric-learning does (the largest reference count of a query
label, minus one when the references include the queries). A smaller k truncates them as it does there.

The query's own row is excluded from its neighbours by *index*, never by distance: with
``reference=None`` (the queries search themselves) or ``ref_includes_query=True`` (the first
n_queries references are the queries, row for row), query i never retrieves reference i, while an
exact duplicate of it at another index still counts. This is pytorch-metric-learning's rule (it asks
faiss for k + 1 neighbours and drops index i, or the last one when i is not among them), which is the
same thing when neighbours are ranked consistently.

Ties: neighbours are ranked by distance, equal distances by the smaller reference index (the k-NN
engine's order). "Equal" means equal as computed: exact duplicates always tie, but distances equal
only in exact arithmetic (common with integer-valued embeddings) go through the engine's
|x|^2 + |y|^2 - 2 x.y, may be rounded apart, and are then ranked by that rounding. faiss
(pytorch-metric-learning's k-NN) promises no order among equal distances and computes in float32
with its own rounding, so on data with ties or near-ties between differently labelled references the
two libraries can rank differently; elsewhere the scores agree to the rounding of the final means.
Queries are searched in fixed blocks whose size depends only on k, so the scores do not depend on
``n_threads``.
"""

from __future__ import annotations

import numbers

import numpy as np

from . import _core
from ._validation import as_float_2d, check_finite, common_dtype, resolve_n_threads
from .distances import metric_map

__all__ = [
    "map_at_r",
    "mean_average_precision",
    "precision_at_k",
    "r_precision",
    "recall_at_k",
    "retrieval_scores",
]

RETRIEVAL_METRICS = ("euclidean", "sqeuclidean", "cosine", "mahalanobis")

# the per-block working set: about 50 bytes per (query, neighbour) pair (indices, distances, labels,
# float64 temporaries), so 2**21 pairs keep it near 100 MB; blocks of at most 8192 queries
_BLOCK_PAIRS = 1 << 21
_BLOCK_MAX_ROWS = 8192


def _labels(labels, n: int, name: str, rows_name: str) -> np.ndarray:
    a = np.asarray(labels)
    if a.dtype.kind not in "iubUSf":
        raise TypeError(f"{name} must hold integers, strings or real numbers, got dtype {a.dtype}")
    if a.ndim != 1 or a.shape[0] != n:
        raise ValueError(f"{name} must have shape ({n},), one label per row of {rows_name}; got shape {a.shape}")
    if a.dtype.kind == "f" and not np.isfinite(a).all():
        raise ValueError(f"{name} contains NaN or infinity")
    return a


def _embeddings(X, name: str) -> np.ndarray:
    A = as_float_2d(X, name)
    check_finite(A, name)
    return A


class _Problem:
    """The validated inputs of one evaluation: embeddings in a common dtype (mapped by L for
    mahalanobis), integer class codes and each query's R."""

    def __init__(self, query, query_labels, reference, reference_labels, metric, L, ref_includes_query, n_threads):
        if not isinstance(metric, str) or metric.lower() not in RETRIEVAL_METRICS:
            raise ValueError(f"metric must be one of {', '.join(RETRIEVAL_METRICS)}; got {metric!r}")
        metric = metric.lower()
        if L is not None and metric != "mahalanobis":
            raise ValueError(f"L is the map of the mahalanobis metric; metric={metric!r} takes no L")
        if metric == "mahalanobis" and L is None:
            raise ValueError("metric='mahalanobis' needs L, the (k, n_features) map with d(x, y) = |L (x - y)|")
        self.n_threads = resolve_n_threads(n_threads)
        Q = _embeddings(query, "query")
        if Q.shape[0] == 0:
            raise ValueError(f"query has no rows (shape {Q.shape}); there is nothing to evaluate")
        qlab = _labels(query_labels, Q.shape[0], "query_labels", "query")
        if reference is None:
            if reference_labels is not None:
                raise ValueError("reference_labels given without reference")
            if ref_includes_query is False:
                raise ValueError(
                    "reference=None means the queries search themselves, each query excluded from its own "
                    "references; ref_includes_query=False contradicts that (pass reference=query to let a query "
                    "retrieve itself)"
                )
            self.self_search, self.ref_includes_query = True, True
            Rf, rlab = Q, qlab
        else:
            if reference_labels is None:
                raise ValueError("reference given without reference_labels")
            self.self_search = False
            self.ref_includes_query = bool(ref_includes_query)
            Rf = _embeddings(reference, "reference")
            rlab = _labels(reference_labels, Rf.shape[0], "reference_labels", "reference")
            if Rf.shape[1] != Q.shape[1]:
                raise ValueError(
                    f"query and reference must have the same number of features (columns); got query.shape="
                    f"{Q.shape}, reference.shape={Rf.shape}"
                )
            dtype = common_dtype(Q, Rf)
            Q, Rf = Q.astype(dtype, copy=False), Rf.astype(dtype, copy=False)
            if self.ref_includes_query:
                nq = Q.shape[0]
                if Rf.shape[0] < nq or not np.array_equal(Rf[:nq], Q) or not np.array_equal(rlab[:nq], qlab):
                    raise ValueError(
                        "ref_includes_query=True needs the first n_queries rows of reference (and reference_labels) "
                        f"to be the queries (and query_labels), row for row; query.shape={Q.shape}, "
                        f"reference.shape={Rf.shape}"
                    )
        self.n_queries, self.n_ref = Q.shape[0], Rf.shape[0]
        self.self_count = int(self.ref_includes_query)

        # class codes shared by queries and references
        if (qlab.dtype.kind in "US") != (rlab.dtype.kind in "US"):
            raise TypeError(
                f"query_labels (dtype {qlab.dtype}) and reference_labels (dtype {rlab.dtype}) cannot be compared: "
                "use strings for both or numbers for both"
            )
        classes, codes = np.unique(np.concatenate([qlab, rlab]), return_inverse=True)
        codes = codes.astype(np.int64).reshape(-1)
        self.qcodes, self.rcodes = codes[: self.n_queries], codes[self.n_queries :]
        ref_counts = np.bincount(self.rcodes, minlength=classes.shape[0])
        if np.count_nonzero(ref_counts) < 2:
            raise ValueError(
                f"reference_labels hold a single class ({classes[self.rcodes[0]]!r}): every reference would be "
                "relevant to every query; retrieval metrics need at least two classes"
            )
        self.R = ref_counts[self.qcodes] - self.self_count
        self.evaluated = self.R > 0
        if not self.evaluated.any():
            raise ValueError(
                "no query label occurs in the references (other than the query itself): every query is "
                "'lone' and no retrieval metric is defined"
            )
        self.max_bin_count = int(ref_counts[self.qcodes].max()) - self.self_count

        # the search operands: cosine needs no zero rows, mahalanobis is euclidean after the map
        if metric == "cosine":
            for A, name in ((Q, "query"), (Rf, "reference")):
                zero = np.flatnonzero(~np.any(A != 0, axis=1))
                if zero.size:
                    raise ValueError(
                        f"{name} has {zero.size} all-zero row(s) (first: row {zero[0]}); a zero vector has no "
                        "direction, so its cosine distance to everything is 1 and its neighbours would be ranked "
                        "by index alone"
                    )
        if metric == "mahalanobis":
            Lm = metric_map(L, None, Q.shape[1], Q.dtype)
            shift = np.ascontiguousarray(Rf.mean(axis=0, dtype=np.float64).astype(Q.dtype))
            Rm = np.empty((Rf.shape[0], Lm.shape[0]), Q.dtype)
            _core.linear_map(Rf, shift, Lm, Rm, self.n_threads)
            if self.self_search:
                Qm = Rm
            else:
                Qm = np.empty((Q.shape[0], Lm.shape[0]), Q.dtype)
                _core.linear_map(Q, shift, Lm, Qm, self.n_threads)
            Q, Rf, metric = Qm, Rm, "euclidean"
        self.Q, self.Rf = Q, Rf
        self.engine_metric = "sqeuclidean" if metric == "euclidean" else metric  # same ranking, no sqrt

    def resolve_k(self, k, name="k"):
        """The number of neighbours ranked per query (pytorch-metric-learning's ``determine_k``)."""
        available = self.n_ref - self.self_count
        if k is None:
            return available
        if isinstance(k, str):
            if k != "max_bin_count":
                raise ValueError(f"{name} must be an int >= 1, None or 'max_bin_count'; got {k!r}")
            return self.max_bin_count
        if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
            raise ValueError(f"{name} must be an int >= 1, None or 'max_bin_count'; got {k!r}")
        k = int(k)
        if k > available:
            what = "other references" if self.self_count else "references"
            raise ValueError(
                f"{name}={k} is larger than the number of {what} ({available}; reference has {self.n_ref} rows)"
            )
        return k

    def blocks(self, k):
        """(rows, rel) per block of queries: rel[i, j] is True when the j-th neighbour of query rows[i]
        has its label; only evaluated (non-lone) queries are searched."""
        todo = np.flatnonzero(self.evaluated)
        extra = self.self_count
        nn = k + extra
        step = int(max(1, min(_BLOCK_MAX_ROWS, _BLOCK_PAIRS // nn)))
        for s in range(0, todo.shape[0], step):
            rows = todo[s : s + step]
            if rows.shape[0] == rows[-1] - rows[0] + 1:
                A = self.Q[rows[0] : rows[-1] + 1]  # a view: every query of the range is evaluated
            else:
                A = self.Q[rows]
            _, ind = _core.kneighbors(A, self.Rf, nn, self.engine_metric, exclude_self=False, n_threads=self.n_threads)
            if extra:
                if np.array_equal(ind[:, 0], rows):
                    ind = ind[:, 1:]  # the common case: every query is its own nearest (a view, no copy)
                else:
                    own = ind == rows[:, None]
                    own[~own.any(axis=1), -1] = True  # the query is not among them: drop the farthest
                    ind = ind[~own].reshape(rows.shape[0], k)
            yield rows, self.rcodes[ind] == self.qcodes[rows][:, None]

    def average(self, values, rows, average):
        """The micro or macro mean of per-query ``values`` (float64, one per entry of ``rows``)."""
        if average == "micro":
            return float(np.mean(values))
        codes = self.qcodes[rows]
        counts = np.bincount(codes)
        sums = np.bincount(codes, weights=values, minlength=counts.shape[0])
        present = counts > 0
        return float(np.mean(sums[present] / counts[present]))


def _check_average(average):
    if average not in ("micro", "macro"):
        raise ValueError(f"average must be 'micro' or 'macro' (pytorch-metric-learning's avg_of_avgs); got {average!r}")
    return average


def _sweep(pb, k, want, at=None):
    """Stream the blocks and gather the per-query values of the metrics in ``want`` (a subset of
    precision_at_1, precision_at_k, recall_at_k, r_precision, mean_average_precision_at_r,
    mean_average_precision); ``at`` is the cut-off of precision/recall at k."""
    rows_all = []
    out = {w: [] for w in want}
    ranks = np.arange(1, k + 1, dtype=np.float64)
    for rows, rel in pb.blocks(k):
        rows_all.append(rows)
        R = pb.R[rows]
        m = np.minimum(R, k)
        hits = np.cumsum(rel, axis=1, dtype=np.int32)  # hits[:, j] = relevant among the first j + 1
        pick = np.arange(rows.shape[0])
        if "precision_at_1" in want:
            out["precision_at_1"].append(rel[:, 0].astype(np.float64))
        if "precision_at_k" in want:
            out["precision_at_k"].append(hits[:, at - 1] / float(at))
        if "recall_at_k" in want:
            out["recall_at_k"].append((hits[:, at - 1] > 0).astype(np.float64))
        if "r_precision" in want:
            out["r_precision"].append(hits[pick, m - 1] / m)
        if "mean_average_precision_at_r" in want or "mean_average_precision" in want:
            # running sums of rel_j P@j: MAP@k is the last column, MAP@R the one at min(R, k)
            ap = np.cumsum(np.where(rel, hits / ranks, 0.0), axis=1)
            if "mean_average_precision" in want:
                out["mean_average_precision"].append(ap[:, -1] / R)
            if "mean_average_precision_at_r" in want:
                out["mean_average_precision_at_r"].append(ap[pick, m - 1] / R)
    rows = np.concatenate(rows_all)
    return rows, {w: np.concatenate(v) for w, v in out.items()}


def retrieval_scores(
    query,
    query_labels,
    reference=None,
    reference_labels=None,
    *,
    metric="euclidean",
    L=None,
    k="max_bin_count",
    ref_includes_query=None,
    average="micro",
    n_threads=None,
):
    """Precision@1, R-precision, MAP@R and mean average precision at k in one streamed k-NN sweep.

    Parameters
    ----------
    query, query_labels : (n_queries, n_features) float array and (n_queries,) labels (ints, strings
        or finite reals).
    reference, reference_labels : the searched set and its labels; ``None`` (the default) searches the
        queries themselves, each query excluded from its own neighbours.
    metric : ``"euclidean"`` (default), ``"sqeuclidean"`` (the same ranking), ``"cosine"`` (zero rows
        are an error) or ``"mahalanobis"`` with ``L`` the (k, n_features) map, ``d(x, y) = |L (x - y)|``.
    k : neighbours ranked per query: ``"max_bin_count"`` (default; R-precision and MAP@R are then
        exact), an int, or None for every reference. An int larger than the references is an error.
    ref_includes_query : True when the first n_queries rows of ``reference`` are the queries (each
        query then skips its own row); default False with a reference, True without one.
    average : ``"micro"`` (mean over queries) or ``"macro"`` (mean of the per-class means).
    n_threads : threads of the k-NN engine (None: all cores).

    Returns
    -------
    dict with the float scores ``precision_at_1``, ``r_precision``, ``mean_average_precision_at_r``
    and ``mean_average_precision`` (at k), pytorch-metric-learning's keys and definitions (see the
    module docstring), plus ``k`` (the neighbours ranked) and ``n_evaluated`` (the queries counted:
    lone queries are left out).

    float32 inputs are searched in float32, anything else in float64; NaN or infinite embeddings,
    labels of the wrong length, a single reference class, or no query with a relevant reference are
    ValueErrors.

    Examples
    --------
    >>> import numpy as np
    >>> from fastmetric import retrieval
    >>> X = np.array([[0.0], [1.0], [2.0], [4.0], [8.0]])
    >>> y = np.array([0, 0, 1, 0, 1])
    >>> s = retrieval.retrieval_scores(X, y)
    >>> s["k"], s["precision_at_1"], round(s["r_precision"], 4), round(s["mean_average_precision_at_r"], 4)
    (2, 0.4, 0.3, 0.25)
    """
    average = _check_average(average)
    pb = _Problem(query, query_labels, reference, reference_labels, metric, L, ref_includes_query, n_threads)
    kk = pb.resolve_k(k)
    want = ("precision_at_1", "r_precision", "mean_average_precision_at_r", "mean_average_precision")
    rows, vals = _sweep(pb, kk, want)
    scores = {w: pb.average(vals[w], rows, average) for w in want}
    scores["k"] = kk
    scores["n_evaluated"] = int(rows.shape[0])
    return scores


def _one(name, query, query_labels, reference, reference_labels, metric, L, k, ref_includes_query, average,
         n_threads, at=None):
    average = _check_average(average)
    pb = _Problem(query, query_labels, reference, reference_labels, metric, L, ref_includes_query, n_threads)
    if at is not None:
        at = pb.resolve_k(at)
        kk = at
    else:
        kk = pb.resolve_k(k)
    rows, vals = _sweep(pb, kk, (name,), at)
    return pb.average(vals[name], rows, average)


def precision_at_k(query, query_labels, reference=None, reference_labels=None, *, k=1, metric="euclidean", L=None,
                   ref_includes_query=None, average="micro", n_threads=None):
    """The fraction of each query's k nearest references that share its label, averaged over the
    queries (micro) or classes (macro); k=1 is pytorch-metric-learning's ``precision_at_1``.
    The other parameters are those of :func:`retrieval_scores`.

    Examples
    --------
    >>> import numpy as np
    >>> from fastmetric import retrieval
    >>> X = np.array([[0.0], [1.0], [2.0], [4.0], [8.0]])
    >>> y = np.array([0, 0, 1, 0, 1])
    >>> retrieval.precision_at_k(X, y, k=2)
    0.4
    """
    return _one("precision_at_k", query, query_labels, reference, reference_labels, metric, L, None,
                ref_includes_query, average, n_threads, at=k)


def recall_at_k(query, query_labels, reference=None, reference_labels=None, *, k=1, metric="euclidean", L=None,
                ref_includes_query=None, average="micro", n_threads=None):
    """The fraction of queries with at least one same-label reference among their k nearest (the
    "Recall@K" of deep metric learning papers; equal to precision@1 at k=1). The other parameters
    are those of :func:`retrieval_scores`.

    Examples
    --------
    >>> import numpy as np
    >>> from fastmetric import retrieval
    >>> X = np.array([[0.0], [1.0], [2.0], [4.0], [8.0]])
    >>> y = np.array([0, 0, 1, 0, 1])
    >>> retrieval.recall_at_k(X, y, k=2)
    0.8
    """
    return _one("recall_at_k", query, query_labels, reference, reference_labels, metric, L, None,
                ref_includes_query, average, n_threads, at=k)


def r_precision(query, query_labels, reference=None, reference_labels=None, *, metric="euclidean", L=None,
                k="max_bin_count", ref_includes_query=None, average="micro", n_threads=None):
    """R-precision: the fraction of same-label references among each query's R nearest, R the number
    of its same-label references (exact with the default k; see :func:`retrieval_scores`).

    Examples
    --------
    >>> import numpy as np
    >>> from fastmetric import retrieval
    >>> X = np.array([[0.0], [1.0], [2.0], [4.0], [8.0]])
    >>> y = np.array([0, 0, 1, 0, 1])
    >>> round(retrieval.r_precision(X, y), 4)
    0.3
    """
    return _one("r_precision", query, query_labels, reference, reference_labels, metric, L, k,
                ref_includes_query, average, n_threads)


def map_at_r(query, query_labels, reference=None, reference_labels=None, *, metric="euclidean", L=None,
             k="max_bin_count", ref_includes_query=None, average="micro", n_threads=None):
    """MAP@R: mean average precision over each query's R nearest references (pytorch-metric-learning's
    ``mean_average_precision_at_r``; exact with the default k; see :func:`retrieval_scores`).

    Examples
    --------
    >>> import numpy as np
    >>> from fastmetric import retrieval
    >>> X = np.array([[0.0], [1.0], [2.0], [4.0], [8.0]])
    >>> y = np.array([0, 0, 1, 0, 1])
    >>> round(retrieval.map_at_r(X, y), 4)
    0.25
    """
    return _one("mean_average_precision_at_r", query, query_labels, reference, reference_labels, metric, L, k,
                ref_includes_query, average, n_threads)


def mean_average_precision(query, query_labels, reference=None, reference_labels=None, *, k="max_bin_count",
                           metric="euclidean", L=None, ref_includes_query=None, average="micro", n_threads=None):
    """Mean average precision at k: (1/R) sum_{j<=k} rel_j P@j per query (pytorch-metric-learning's
    ``mean_average_precision``, divided by R). The other parameters are those of :func:`retrieval_scores`.

    Examples
    --------
    >>> import numpy as np
    >>> from fastmetric import retrieval
    >>> X = np.array([[0.0], [1.0], [2.0], [4.0], [8.0]])
    >>> y = np.array([0, 0, 1, 0, 1])
    >>> round(retrieval.mean_average_precision(X, y, k=2), 4)
    0.35
    """
    return _one("mean_average_precision", query, query_labels, reference, reference_labels, metric, L, k,
                ref_includes_query, average, n_threads)
