"""Sparse inputs (scipy.sparse CSR / CSC / COO ..., arrays and matrices) for distances, kernels and k-NN.

The work runs in C++ (cpp/src/sparse.cpp): for each query row its scores against every reference
are accumulated in one dense row (a sparse-times-sparse product through the inverted index of the
references by feature), finished into the metric / kernel value with the engine's cancellation
rule (pairs that lost digits are recomputed exactly by merging the two sorted rows) and written,
or reduced straight into the query's top-k. Nothing denser than one row per thread (or one tile of
query rows for radius search) is built. A dense operand paired with a sparse one is converted to
CSR. Canonicalisation (sorted, duplicate-free indices) happens on a copy: the caller's matrix is
never modified.

This module only validates and converts; scipy is imported lazily (it is needed only when a
sparse input was passed, so scipy is installed).
"""

from __future__ import annotations

import numpy as np

from . import _core
from ._validation import as_float_2d, new_output, resolve_n_threads

__all__ = [
    "is_sparse",
    "SPARSE_DISTANCES",
    "SPARSE_KERNELS",
    "sparse_distances",
    "sparse_kernel",
    "sparse_kneighbors",
    "sparse_radius_neighbors",
]

#: Distance metrics (engine names) that accept sparse input.
SPARSE_DISTANCES = ("cityblock", "cosine", "euclidean", "sqeuclidean")
#: Kernels (fastmetric.kernels names) that accept sparse input.
SPARSE_KERNELS = ("cosine_similarity", "linear", "polynomial", "rbf", "sigmoid")

_OPS = {
    "linear": 0,
    "sqeuclidean": 1,
    "euclidean": 2,
    "cosine": 3,
    "cityblock": 4,
    "polynomial": 5,
    "rbf": 6,
    "sigmoid": 7,
    "cosine_similarity": 8,
}
_INT32_MAX = 2**31 - 1
# query rows per tile of the radius search: about 2^22 scores (32 MiB in float64) at a time
_RADIUS_TILE_SCORES = 1 << 22


def is_sparse(X) -> bool:
    """Whether X is a scipy.sparse matrix or array (checked without importing scipy)."""
    if not (hasattr(X, "nnz") and hasattr(X, "tocsr")):
        return False
    import scipy.sparse

    return scipy.sparse.issparse(X)


def _data_dtype(X, name):
    kind = X.dtype.kind
    if kind == "c":
        raise TypeError(f"{name} is complex ({X.dtype}); distances are defined for real data only")
    if kind not in "fiub":
        raise TypeError(f"{name} has non-numeric dtype {X.dtype}; pass float32, float64, int or bool data")
    return np.dtype(np.float32) if (kind == "f" and X.dtype.itemsize == 4) else np.dtype(np.float64)


def _checked_csr(X, name, check_finite):
    """X as a canonical scipy CSR (a copy whenever anything had to change), with its shapes checked."""
    import scipy.sparse

    if X.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_samples, n_features); got shape {X.shape}")
    n, d = X.shape
    if d == 0:
        raise ValueError(f"{name} has 0 features (shape {X.shape}); at least one column is required")
    if d > _INT32_MAX or n > _INT32_MAX:
        raise ValueError(
            f"{name} has shape {X.shape}: sparse inputs need fewer than 2^31 rows and columns "
            "(indices are stored as int32 in the kernels)"
        )
    _data_dtype(X, name)
    fmt = X.format
    C = X.tocsr()  # a new object unless X is CSR already
    if fmt == "csr":
        ind = C.indices
        if ind.size and (int(ind.min()) < 0 or int(ind.max()) >= d):
            raise ValueError(f"{name}: a column index lies outside [0, {d}) for shape {X.shape}")
        ptr = C.indptr
        if ptr.shape != (n + 1,) or (n and (ptr[0] != 0 or ptr[-1] > ind.size or np.any(np.diff(ptr) < 0))):
            raise ValueError(f"{name}: indptr of shape {ptr.shape} is not a valid row pointer for shape {X.shape}")
        C = C.copy() if not C.has_canonical_format else C
    if not C.has_canonical_format:
        if C is X:
            C = C.copy()
        C.sum_duplicates()  # sorts the indices and adds duplicates, on our copy
    if check_finite and C.data.dtype.kind == "f" and not np.isfinite(C.data).all():
        raise ValueError(f"{name} (sparse, shape {X.shape}) contains NaN or infinity among its stored values")
    if not isinstance(C, (scipy.sparse.csr_matrix, scipy.sparse.csr_array)):  # pragma: no cover
        C = scipy.sparse.csr_matrix(C)
    return C


def _operand(C, dtype):
    """The (indptr int64, indices int32, data, rows, cols) tuple the C++ core reads."""
    n, d = C.shape
    ptr = np.ascontiguousarray(C.indptr, dtype=np.int64)
    nnz = int(ptr[-1]) if n else 0
    ind = np.ascontiguousarray(C.indices[:nnz], dtype=np.int32)
    data = np.ascontiguousarray(C.data[:nnz], dtype=dtype)
    return (ptr, ind, data, n, d)


def _dense_as_csr(A, name, check_finite):
    import scipy.sparse

    arr = as_float_2d(A, name)
    if check_finite and not np.isfinite(arr).all():
        raise ValueError(f"{name} (shape {arr.shape}) contains NaN or infinity")
    return scipy.sparse.csr_matrix(arr)


def _pair(X, Y, check_finite, names=("X", "Y")):
    """(X CSR, Y CSR, self): at least one of X / Y is sparse; Y None or Y is X means self."""
    alias = Y is None or Y is X
    Xs = _checked_csr(X, names[0], check_finite) if is_sparse(X) else _dense_as_csr(X, names[0], check_finite)
    if alias:
        Ys = Xs
    else:
        Ys = _checked_csr(Y, names[1], check_finite) if is_sparse(Y) else _dense_as_csr(Y, names[1], check_finite)
        if Xs.shape[1] != Ys.shape[1]:
            raise ValueError(
                f"{names[0]} and {names[1]} must have the same number of features; got {names[0]} shape "
                f"{Xs.shape} and {names[1]} shape {Ys.shape}"
            )
    return Xs, Ys, alias


def _dtype_of(*mats):
    return np.dtype(np.float32) if all(_data_dtype(M, "X") == np.float32 for M in mats) else np.dtype(np.float64)


def _call(Xs, Ys, op, out_or_k, *, gamma=1.0, coef0=1.0, degree=3.0, zero_diagonal=False, exclude_self=False, nt=1):
    dtype = _dtype_of(Xs, Ys)
    Xo = _operand(Xs, dtype)
    Yo = Xo if Ys is Xs else _operand(Ys, dtype)
    # the inverted index (for each feature, the rows that have it) of the references, or -- for a
    # dense result when the queries have fewer nonzeros (cheaper to transpose) and an n x 16 tile fits
    # in 1 MiB -- of the queries, the result then computed by tiles of references (same bits)
    by_refs = not isinstance(out_or_k, int) and Xs.nnz < Ys.nnz and Xs.shape[0] * 16 * dtype.itemsize <= 1 << 20
    T = _operand((Xs if by_refs else Ys).T.tocsr(), dtype)
    fn = _core.sparse_pairwise_f32 if dtype == np.float32 else _core.sparse_pairwise_f64
    params = (float(gamma), float(coef0), float(degree))
    return fn(Xo, Yo, T, _OPS[op], *params, zero_diagonal, out_or_k, exclude_self, nt, by_refs)


def sparse_distances(X, Y, metric, *, zero_diagonal, check_finite=True, n_threads=None):
    """The dense (n, m) distance matrix of a pair with a sparse operand; ``metric`` is an engine name."""
    if metric not in SPARSE_DISTANCES:
        raise ValueError(f"metric {metric!r} does not support sparse input; supported: {', '.join(SPARSE_DISTANCES)}")
    Xs, Ys, alias = _pair(X, Y, check_finite)
    out = new_output((Xs.shape[0], Ys.shape[0]), _dtype_of(Xs, Ys))
    if out.size:
        _call(Xs, Ys, metric, out, zero_diagonal=zero_diagonal and alias, nt=resolve_n_threads(n_threads))
    return out


def sparse_kernel(
    name, X, Y, *, dense_output=True, gamma=1.0, coef0=1.0, degree=3.0, check_finite=True, n_threads=None
):
    """A kernel matrix with a sparse operand; with ``dense_output=False`` and both operands sparse,
    ``linear`` and ``cosine_similarity`` return a sparse CSR result (scikit-learn's rule)."""
    if name not in SPARSE_KERNELS:
        raise ValueError(f"kernel {name!r} does not support sparse input; supported: {', '.join(SPARSE_KERNELS)}")
    both = is_sparse(X) and (Y is None or is_sparse(Y))
    Xs, Ys, _ = _pair(X, Y, check_finite)
    dtype = _dtype_of(Xs, Ys)
    if not dense_output and both and name in ("linear", "cosine_similarity"):
        A, B = Xs.astype(dtype), Ys.astype(dtype)
        if name == "cosine_similarity":
            A, B = _unit_rows(A), _unit_rows(B)
        return (A @ B.T).tocsr()
    out = new_output((Xs.shape[0], Ys.shape[0]), dtype)
    if out.size:
        _call(Xs, Ys, name, out, gamma=gamma, coef0=coef0, degree=degree, nt=resolve_n_threads(n_threads))
    return out


def _unit_rows(C):
    """C with each nonzero row scaled to unit L2 norm (zero rows stay zero), on a copy."""
    C = C.copy()
    norms = np.sqrt(np.add.reduceat(C.data.astype(np.float64) ** 2, C.indptr[:-1])) if C.nnz else np.zeros(0)
    counts = np.diff(C.indptr)
    if C.nnz:
        norms = np.where(counts > 0, norms, 1.0)
        scale = np.repeat(np.where(norms > 0, 1.0 / np.where(norms > 0, norms, 1.0), 0.0), counts)
        C.data = (C.data * scale).astype(C.dtype)
    return C


def _check_search_metric(metric):
    if metric not in SPARSE_DISTANCES:
        raise ValueError(f"metric {metric!r} does not support sparse input; supported: {', '.join(SPARSE_DISTANCES)}")


def sparse_kneighbors(X, Y, k, metric, *, include_self=False, check_finite=True, n_threads=None):
    """``(distances, indices)`` of the k nearest rows of Y (or of X itself when Y is None)."""
    _check_search_metric(metric)
    self_search = Y is None
    Xs, Ys, _ = _pair(X, Y, check_finite)
    exclude = self_search and not include_self
    available = Ys.shape[0] - (1 if exclude else 0)
    if k > available:
        what = "other points" if exclude else "references"
        raise ValueError(f"k={k} is larger than the number of {what} ({available}; Y has shape {Ys.shape})")
    dtype = _dtype_of(Xs, Ys)
    if Xs.shape[0] == 0:
        return np.empty((0, k), dtype), np.empty((0, k), np.int64)
    return _call(
        Xs, Ys, metric, int(k), zero_diagonal=self_search, exclude_self=exclude, nt=resolve_n_threads(n_threads)
    )


def sparse_radius_neighbors(
    X,
    Y,
    radius,
    metric,
    *,
    include_self=False,
    sort_results=False,
    labels=(None, None),
    check_finite=True,
    n_threads=None,
):
    """Flat CSR triple ``(distances, indices, offsets)`` of the references within ``radius`` (inclusive).

    ``radius`` is a float or one float64 per query; ``labels`` a pair of int64 label vectors (or Nones)
    keeping only references whose label differs from the query's.
    """
    _check_search_metric(metric)
    self_search = Y is None
    Xs, Ys, _ = _pair(X, Y, check_finite)
    n, m = Xs.shape[0], Ys.shape[0]
    dtype = _dtype_of(Xs, Ys)
    r = np.broadcast_to(np.asarray(radius, dtype=np.float64), (n,))
    qlab, rlab = labels
    exclude = self_search and not include_self
    nt = resolve_n_threads(n_threads)
    step = max(1, _RADIUS_TILE_SCORES // max(m, 1))
    dists, inds, counts = [], [], []
    for lo in range(0, n if m else 0, step):
        hi = min(n, lo + step)
        D = np.empty((hi - lo, m), dtype)
        _call(Xs[lo:hi], Ys, metric, D, nt=nt)
        if self_search:
            D[np.arange(hi - lo), np.arange(lo, hi)] = 0  # d(x, x) = 0 exactly
        keep = D <= r[lo:hi, None]
        if exclude:
            keep[np.arange(hi - lo), np.arange(lo, hi)] = False
        if qlab is not None:
            keep &= qlab[lo:hi, None] != rlab[None, :]
        rows, cols = np.nonzero(keep)  # row-major: increasing index within each query
        dd = D[rows, cols]
        if sort_results:
            order = np.lexsort((cols, dd, rows))
            rows, cols, dd = rows[order], cols[order], dd[order]
        dists.append(dd)
        inds.append(cols.astype(np.int64))
        counts.append(np.bincount(rows, minlength=hi - lo))
    offsets = np.zeros(n + 1, np.int64)
    if counts:
        np.cumsum(np.concatenate(counts), out=offsets[1:])
    dist = np.concatenate(dists) if dists else np.empty(0, dtype)
    ind = np.concatenate(inds) if inds else np.empty(0, np.int64)
    return dist.astype(dtype, copy=False), ind, offsets
