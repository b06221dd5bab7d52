"""Exact k-nearest-neighbour and radius search streamed through the engine's tiles.

The n_queries x n_references matrix is never built: each tile is reduced into per-query heaps
(or radius lists) while it is in cache. Every distance metric of :mod:`fastmetric.distances` works,
including ``mahalanobis`` with a learned ``L``.
"""

from __future__ import annotations

import numbers

import numpy as np

from . import _core
from ._validation import plain_threads, resolve_n_threads, validate_pair
from .binary import binary_kneighbors, binary_radius_neighbors, wants_binary
from .distances import plain_metric, prepare_metric
from .scipy_metrics import restore_search_nan  # issue 16 part 1

# sparse inputs (issue 16 part 3): the sparse paths live in _sparse.py
from ._sparse import SPARSE_DISTANCES, is_sparse, sparse_kneighbors, sparse_radius_neighbors

__all__ = ["kneighbors", "radius_neighbors", "merge_kneighbors"]


def _sparse_metric(metric, metric_kwargs):
    """The engine name of a sparse search's metric (sparse inputs, issue 16 part 3)."""
    name = plain_metric(metric.lower()) if isinstance(metric, str) else None
    if name not in SPARSE_DISTANCES:
        raise ValueError(f"metric {metric!r} does not support sparse input; supported: {', '.join(SPARSE_DISTANCES)}")
    if metric_kwargs:
        raise TypeError(f"metric {name!r} takes no parameters; got {', '.join(sorted(metric_kwargs))}")
    return name


def _search_inputs(X, Y, metric, metric_kwargs, check_finite):
    A, B, alias = validate_pair(X, Y, check_finite, ("X", "Y"))
    name, core = prepare_metric(metric, A, None if alias else B, metric_kwargs)
    return A, B, alias, name, core


def kneighbors(
    X,
    Y=None,
    k=5,
    metric="euclidean",
    *,
    return_distance=True,
    include_self=False,
    n_threads=None,
    check_finite=True,
    **metric_kwargs,
):
    """The k nearest references of each query: ``(distances, indices)``, both of shape (n_queries, k).

    ``X`` holds the queries, ``Y`` the references. With ``Y=None`` the queries search themselves and a
    point is not its own neighbour (``include_self=True`` keeps it). Each row is sorted by distance,
    ties broken by the smaller index; indices are int64; float32 inputs give float32 distances.
    ``k`` larger than the number of references available is an error (ValueError), never silently
    capped. ``metric_kwargs`` are the metric's parameters (``p``, ``V``, ``VI``, ``L``; scipy's ``w`` for
    the weighted float metrics and jensenshannon's ``base``, see :mod:`fastmetric.scipy_metrics`).
    The boolean metrics take ``w``, and ``packed=True`` / ``n_bits`` for bit-packed fingerprints
    (:mod:`fastmetric.binary`); their distances are float64, NaN (dice / sokalsneath of all-zero rows) last.

    Sparse X and / or Y (scipy.sparse, any format) work for euclidean, sqeuclidean, cosine and
    cityblock: the scores of each query are reduced into its top-k as they are made.

    Examples
    --------
    >>> import numpy as np
    >>> import fastmetric as fm
    >>> X = np.array([[0., 0.], [3., 4.], [6., 8.]])
    >>> dist, idx = fm.kneighbors(X, k=1)  # each row's nearest other row (ties: smaller index)
    >>> idx.ravel()
    array([1, 0, 1])
    >>> dist.ravel()
    array([5., 5., 5.])
    """
    if wants_binary(metric, metric_kwargs):  # boolean metrics (binary.py)
        return binary_kneighbors(
            X,
            Y,
            k,
            metric,
            return_distance=return_distance,
            include_self=include_self,
            n_threads=n_threads,
            check_finite=check_finite,
            **metric_kwargs,
        )
    if isinstance(k, bool) or not isinstance(k, numbers.Integral):
        raise TypeError(f"k must be an int, got {type(k).__name__}")
    k = int(k)
    if k <= 0:
        raise ValueError(f"k must be >= 1, got {k}")
    if is_sparse(X) or is_sparse(Y):  # sparse inputs (issue 16 part 3)
        name = _sparse_metric(metric, metric_kwargs)
        r = sparse_kneighbors(
            X, Y, k, name, include_self=include_self, check_finite=check_finite, n_threads=n_threads
        )
        return r if return_distance else r[1]
    if not metric_kwargs:  # native float ndarrays: checked and searched in one C++ call
        name, nt = plain_metric(metric), plain_threads(n_threads)
        if name is not None and nt is not None and name != "braycurtis":  # its NaN: restore_search_nan
            r = _core.plain_kneighbors(X, Y, k, name, Y is None and not include_self, bool(check_finite), nt)
            if r is not None:
                return r if return_distance else r[1]
    A, B, alias, name, core = _search_inputs(X, Y, metric, metric_kwargs, check_finite)
    self_search = Y is None
    available = B.shape[0] - (1 if self_search and not include_self else 0)
    if k > available:
        what = "other points" if self_search and not include_self else "references"
        raise ValueError(f"k={k} is larger than the number of {what} ({available}; Y has shape {B.shape})")
    if A.shape[0] == 0:
        dist, ind = np.empty((0, k), A.dtype), np.empty((0, k), np.int64)
    else:
        dist, ind = _core.kneighbors(
            A,
            None if alias else B,
            k,
            name,
            exclude_self=self_search and not include_self,
            n_threads=resolve_n_threads(n_threads),
            **core,
        )
        restore_search_nan(name, A, B, core, dist, ind)  # braycurtis's 0/0 (issue 16 part 1)
    return (dist, ind) if return_distance else ind


def _check_radius(radius, n_queries):
    if isinstance(radius, np.ndarray) and radius.ndim == 0 and radius.dtype.kind in "fiu":
        radius = radius[()]  # a 0-d array is one radius
    if isinstance(radius, (np.ndarray, list, tuple)):
        r = np.asarray(radius)
        if r.dtype.kind not in "iuf" or r.ndim != 1 or r.shape[0] != n_queries:
            raise ValueError(
                f"radius must be a number or a real vector with one entry per query ({n_queries}); "
                f"got shape {r.shape} dtype {r.dtype}"
            )
        r = np.ascontiguousarray(r, dtype=np.float64)
        if not np.all(np.isfinite(r) & (r >= 0)):
            raise ValueError("every radius must be finite and >= 0")
        return r
    if isinstance(radius, bool) or not isinstance(radius, numbers.Real):
        raise TypeError(f"radius must be a real number or a vector of them, got {type(radius).__name__}")
    r = float(radius)
    if not (r >= 0) or not np.isfinite(r):
        raise ValueError(f"radius must be a finite number >= 0, got {radius}")
    return r


def _check_labels(labels, n_x, n_y, self_search):
    """``labels`` of :func:`radius_neighbors` -> (query labels, reference labels) as contiguous int64,
    or (None, None)."""
    if labels is None:
        return None, None
    if self_search:
        parts = (labels, labels)
        names = ("labels", "labels")
    else:
        if not (isinstance(labels, (tuple, list)) and len(labels) == 2):
            raise ValueError("with Y given, labels must be a pair (labels_X, labels_Y)")
        parts = tuple(labels)
        names = ("labels_X", "labels_Y")
    out = []
    for lab, n, name in zip(parts, (n_x, n_y), names, strict=True):
        a = np.asarray(lab)
        if a.dtype.kind not in "iub":
            raise TypeError(f"{name} must hold integers, got dtype {a.dtype}")
        if a.shape != (n,):
            raise ValueError(f"{name} must have shape ({n},) (one label per row), got {a.shape}")
        out.append(np.ascontiguousarray(a, dtype=np.int64))
    return out[0], out[1]


def _radius_search(X, Y, radius, metric, labels, include_self, sort_results, n_threads, check_finite, metric_kwargs):
    """The engine's radius search: the CSR triple (distances, indices, offsets)."""
    A, B, alias, name, core = _search_inputs(X, Y, metric, metric_kwargs, check_finite)
    r = _check_radius(radius, A.shape[0])
    self_search = Y is None
    qlab, rlab = _check_labels(labels, A.shape[0], B.shape[0], self_search)
    if A.shape[0] == 0 or B.shape[0] == 0:
        dist = np.empty(0, A.dtype)
        ind = np.empty(0, np.int64)
        offsets = np.zeros(A.shape[0] + 1, np.int64)
    else:
        dist, ind, offsets = _core.radius_neighbors(
            A,
            None if alias else B,
            r,
            name,
            exclude_self=self_search and not include_self,
            sort_results=bool(sort_results),
            n_threads=resolve_n_threads(n_threads),
            query_labels=qlab,
            ref_labels=rlab,
            **core,
        )
    return dist, ind, offsets


def radius_neighbors(
    X,
    Y=None,
    radius=1.0,
    metric="euclidean",
    *,
    return_distance=True,
    sort_results=False,
    return_csr=False,
    include_self=False,
    labels=None,
    n_threads=None,
    check_finite=True,
    **metric_kwargs,
):
    """All references within ``radius`` (inclusive) of each query.

    Returns, like scikit-learn, object arrays of per-query arrays ``(distances, indices)`` (or only
    the indices when ``return_distance=False``). With ``return_csr=True`` it returns the flat CSR
    triple ``(distances, indices, offsets)`` instead: query i owns entries offsets[i]:offsets[i+1].
    Each query's entries are in increasing index order, or by (distance, index) when ``sort_results``.
    ``radius`` may also be an array with one radius per query (an extension of scikit-learn's API:
    one call instead of one per radius).

    ``labels`` keeps only the references whose label differs from the query's (the impostors of
    metric learning): one integer label per row of X when searching X against itself (``Y=None``),
    else a pair ``(labels_X, labels_Y)``. The filter runs inside the search, so same-label points
    never reach the output.

    Sparse X and / or Y work for euclidean, sqeuclidean, cosine and cityblock (one tile of query rows
    is scored at a time).

    Examples
    --------
    >>> import numpy as np
    >>> import fastmetric as fm
    >>> X = np.array([[0., 0.], [3., 4.], [6., 8.]])
    >>> dist, idx = fm.radius_neighbors(X, radius=5.0)  # ragged: one array per query
    >>> [i.tolist() for i in idx]
    [[1], [0, 2], [1]]
    """
    if is_sparse(X) or is_sparse(Y):  # sparse inputs (issue 16 part 3)
        name = _sparse_metric(metric, metric_kwargs)
        n_x, n_y = X.shape[0], (X if Y is None else Y).shape[0]
        r = _check_radius(radius, n_x)
        qlab, rlab = _check_labels(labels, n_x, n_y, Y is None)
        dist, ind, offsets = sparse_radius_neighbors(
            X,
            Y,
            r,
            name,
            include_self=include_self,
            sort_results=bool(sort_results),
            labels=(qlab, rlab),
            check_finite=check_finite,
            n_threads=n_threads,
        )
    elif wants_binary(metric, metric_kwargs):  # boolean metrics (binary.py)
        if labels is not None:
            raise ValueError("labels= is not supported with the boolean metrics")
        n_q = np.shape(X)[0] if np.ndim(X) == 2 else 0
        dist, ind, offsets = binary_radius_neighbors(
            X,
            Y,
            _check_radius(radius, n_q),
            metric,
            include_self=include_self,
            sort_results=sort_results,
            n_threads=n_threads,
            check_finite=check_finite,
            **metric_kwargs,
        )
    else:
        dist, ind, offsets = _radius_search(X, Y, radius, metric, labels, include_self, sort_results, n_threads,
                                            check_finite, metric_kwargs)
    if return_csr:
        return (dist, ind, offsets) if return_distance else (ind, offsets)
    n = offsets.shape[0] - 1
    ind_rows = np.empty(n, dtype=object)
    dist_rows = np.empty(n, dtype=object)
    for i in range(n):
        lo, hi = offsets[i], offsets[i + 1]
        ind_rows[i] = ind[lo:hi]
        dist_rows[i] = dist[lo:hi]
    return (dist_rows, ind_rows) if return_distance else ind_rows


def merge_kneighbors(first, second, k):
    """Merge the k-NN results of two reference blocks into the k best of their union.

    ``first`` and ``second`` are ``(distances, indices)`` pairs of shape (n_queries, k1) and
    (n_queries, k2), with indices already in the global numbering (offset the second block's indices
    by the size of the first). Order is (distance, index), exactly as :func:`kneighbors` orders, so
    searching blocks and merging gives the same answer as one search.

    Examples
    --------
    >>> import numpy as np
    >>> import fastmetric as fm
    >>> X = np.array([[0., 0.], [3., 4.], [6., 8.]])
    >>> first = fm.kneighbors(X[:1], X[:2], k=1)  # query 0 against references 0-1
    >>> d2, i2 = fm.kneighbors(X[:1], X[2:], k=1)  # ... and against reference 2
    >>> dist, idx = fm.merge_kneighbors(first, (d2, i2 + 2), k=2)  # global indices
    >>> idx
    array([[0, 2]])
    """
    d1, i1 = (np.asarray(a) for a in first)
    d2, i2 = (np.asarray(a) for a in second)
    if d1.shape != i1.shape or d2.shape != i2.shape or d1.ndim != 2 or d2.ndim != 2:
        raise ValueError(
            f"each part must be a (distances, indices) pair of equal 2-D shapes; got {d1.shape}/{i1.shape} "
            f"and {d2.shape}/{i2.shape}"
        )
    if d1.shape[0] != d2.shape[0]:
        raise ValueError(f"the parts have different numbers of queries: {d1.shape[0]} and {d2.shape[0]}")
    if isinstance(k, bool) or not isinstance(k, numbers.Integral):
        raise TypeError(f"k must be an int, got {type(k).__name__} {k!r}")
    if k <= 0:
        raise ValueError(f"k must be a positive int, got {k!r}")
    if k > d1.shape[1] + d2.shape[1]:
        raise ValueError(f"k={k} is larger than the {d1.shape[1] + d2.shape[1]} candidates of the two parts")
    D = np.concatenate([d1, d2], axis=1)
    I = np.concatenate([i1.astype(np.int64), i2.astype(np.int64)], axis=1)
    order = np.lexsort((I, D), axis=1)[:, :k]
    return np.take_along_axis(D, order, axis=1), np.take_along_axis(I, order, axis=1)
