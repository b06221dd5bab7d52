"""The boolean metrics (scipy 1.17's definitions), on unpacked rows of any dtype or on bit-packed fingerprints.

``dice``, ``hamming``, ``jaccard``, ``rogerstanimoto``, ``russellrao``, ``sokalsneath`` and ``yule``.
Rows whose values are all 0/1 (every bool array) are packed to bits once and go through the popcount
kernels (AVX-512 VPOPCNTDQ, AVX2 nibble lookup, portable SWAR); the counts are exact integers, so the
results do not depend on the ISA or the thread count. scipy's rules for other values are kept:

* jaccard, rogerstanimoto, russellrao, sokalsneath, yule: nonzero is True (NaN is nonzero);
* hamming: the (weighted) fraction of positions where the values differ (not a nonzero test);
* dice without ``w``: scipy's arithmetic form sum x(1-y)+y(1-x) / (2 sum xy + that) on the values
  (it can be negative for values outside 0/1, as in scipy); with ``w``: w(x != y) and w(x != 0 & y != 0).

Those value-based cases and every ``w=`` run on a float64 numpy path (correct, not fast). Results are
float64 whatever the input dtype (as scipy). 0/0 cases follow scipy: dice and sokalsneath of two
all-zero rows are NaN, jaccard is 0, yule is 0 whenever ntf * nft == 0.

Packed input: ``packed=True`` with uint8 rows from ``np.packbits(bits, axis=1)`` and ``n_bits`` when the
bit count is not 8 x the width (padding bits are ignored).
"""

from __future__ import annotations

import numbers

import numpy as np

from . import _core
from ._validation import check_finite, check_out, real_vector, resolve_n_threads

__all__ = [
    "BINARY_METRICS",
    "wants_binary",
    "binary_cdist",
    "binary_pdist",
    "binary_pairwise_distances",
    "binary_kneighbors",
    "binary_radius_neighbors",
]

#: The boolean metrics (scipy's names).
BINARY_METRICS = ("dice", "hamming", "jaccard", "rogerstanimoto", "russellrao", "sokalsneath", "yule")
_VALUE_BASED = ("hamming", "dice")  # scipy compares values, not nonzero-ness, for these
_KEYWORDS = {"packed", "n_bits", "w"}
_BLOCK_ELEMS = 1 << 22


def wants_binary(metric, kwargs) -> bool:
    """Whether a call goes to this module: a boolean metric's name, or ``packed`` / ``n_bits`` given."""
    name = metric.lower() if isinstance(metric, str) else None
    return name in BINARY_METRICS or "packed" in kwargs or "n_bits" in kwargs


def _metric(metric, kwargs) -> str:
    name = metric.lower() if isinstance(metric, str) else None
    if name not in BINARY_METRICS:
        raise ValueError(
            f"packed=True / n_bits work only with the boolean metrics ({', '.join(BINARY_METRICS)}); "
            f"got metric={metric!r}"
        )
    stray = sorted(set(kwargs) - _KEYWORDS)
    if stray:
        raise TypeError(
            f"metric {name!r} got unexpected keyword argument(s) {', '.join(stray)} (it accepts w, packed, n_bits)"
        )
    packed = kwargs.get("packed", False)
    if not isinstance(packed, (bool, np.bool_)):
        raise TypeError(f"packed must be True or False, got {packed!r}")
    return name


def _raw_2d(X, name):
    if hasattr(X, "toarray") and hasattr(X, "nnz"):
        raise TypeError(f"{name}: sparse matrices are not supported here; convert with {name}.toarray()")
    arr = np.asarray(X)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be a bool, integer or real array for a boolean metric; got dtype {arr.dtype}")
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (n_samples, n_features); got {arr.ndim}-D shape {arr.shape}")
    if arr.shape[1] == 0:
        raise ValueError(f"{name} has 0 features (shape {arr.shape}); at least one column is required")
    return arr


def _packed_2d(X, name):
    arr = np.asarray(X)
    if arr.dtype != np.uint8:
        raise TypeError(f"packed=True needs uint8 rows from np.packbits(..., axis=1); {name} has dtype {arr.dtype}")
    if arr.ndim != 2 or arr.shape[1] == 0:
        raise ValueError(
            f"packed {name} must be a 2-D uint8 array with at least one byte per row; got shape {arr.shape}"
        )
    return np.ascontiguousarray(arr)


def _n_bits(n_bits, width, names, shapes):
    if n_bits is None:
        return 8 * width
    if isinstance(n_bits, bool) or not isinstance(n_bits, numbers.Integral) or n_bits < 1:
        raise ValueError(f"n_bits must be a positive int, got {n_bits!r}")
    n_bits = int(n_bits)
    if (n_bits + 7) // 8 != width:
        raise ValueError(
            f"n_bits={n_bits} needs {(n_bits + 7) // 8} packed bytes per row but {' and '.join(names)} have "
            f"{width} (shape{'s' if len(shapes) > 1 else ''} {', '.join(map(str, shapes))})"
        )
    return n_bits


def _weights(w, d):
    arr = real_vector(w, "w", d)
    if (arr < 0).any():
        raise ValueError(f"w must be non-negative (as in scipy); w < 0 at index {int(np.flatnonzero(arr < 0)[0])}")
    return arr


def _zero_one(a) -> bool:
    return a.dtype == bool or bool(((a == 0) | (a == 1)).all())


class _Prepared:
    """Both sides ready for one of two paths: packed bits (``bits``) or float64 values (``vals``)."""

    def __init__(self, name, A, B, alias, n_bits, bits, w):
        self.name, self.A, self.B, self.alias, self.n_bits, self.bits, self.w = name, A, B, alias, n_bits, bits, w


def _prepare(XA, XB, metric, kwargs, names, check_finite_):
    name = _metric(metric, kwargs)
    packed = bool(kwargs.get("packed", False))
    alias = XB is None or XB is XA
    w = kwargs.get("w")
    if packed:
        if w is not None:
            raise ValueError("w= is not supported with packed=True; pass the unpacked rows to weight them")
        A = _packed_2d(XA, names[0])
        B = A if alias else _packed_2d(XB, names[1])
        if A.shape[1] != B.shape[1]:
            raise ValueError(
                f"packed {names[0]} and {names[1]} have different widths: "
                f"{names[0]}.shape={A.shape}, {names[1]}.shape={B.shape}"
            )
        n_bits = _n_bits(
            kwargs.get("n_bits"),
            A.shape[1],
            names if not alias else names[:1],
            [A.shape] if alias else [A.shape, B.shape],
        )
        return _Prepared(name, A, B, alias, n_bits, True, None)
    if kwargs.get("n_bits") is not None:
        raise ValueError("n_bits is only meaningful with packed=True")
    A = _raw_2d(XA, names[0])
    B = A if alias else _raw_2d(XB, names[1])
    if A.shape[1] != B.shape[1]:
        raise ValueError(
            f"{names[0]} and {names[1]} must have the same number of features; got {names[0]}.shape={A.shape}, "
            f"{names[1]}.shape={B.shape}"
        )
    if check_finite_:
        for arr, nm in ((A, names[0]), (B, names[1])):
            if arr.dtype.kind == "f":
                check_finite(arr, nm)
    d = A.shape[1]
    if w is not None:
        w = _weights(w, d)
    if w is None and (name not in _VALUE_BASED or (_zero_one(A) and (alias or _zero_one(B)))):
        pa = np.packbits(A if A.dtype == bool else A != 0, axis=1)
        pb = pa if alias else np.packbits(B if B.dtype == bool else B != 0, axis=1)
        return _Prepared(name, pa, pb, alias, d, True, None)
    fa = np.ascontiguousarray(A, dtype=np.float64)
    fb = fa if alias else np.ascontiguousarray(B, dtype=np.float64)
    return _Prepared(name, fa, fb, alias, d, False, w)


# ---- the float64 value path (w=, and hamming / dice on values other than 0/1) --------------------------


def _weighted_ne(A, B, W):
    """sum_k W[k] [A[i,k] != B[j,k]] for every pair, in row blocks (bounded memory)."""
    out = np.empty((A.shape[0], B.shape[0]))
    step = max(1, _BLOCK_ELEMS // max(1, B.shape[0] * A.shape[1]))
    for s in range(0, A.shape[0], step):
        out[s : s + step] = (A[s : s + step, None, :] != B[None, :, :]) @ W
    return out


def _values_block(name, A, B, w):
    """scipy 1.17's formulas on float64 values (rows of A against rows of B)."""
    W = np.ones(A.shape[1]) if w is None else w
    total = W.sum()
    na, nb = (A != 0).astype(np.float64), (B != 0).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        if name == "hamming":
            return _weighted_ne(A, B, W) / total
        if name == "dice":
            if w is None:
                xy = A @ B.T
                nm = A.sum(axis=1)[:, None] + B.sum(axis=1)[None, :] - 2 * xy
                return nm / (2 * xy + nm)
            nm = _weighted_ne(A, B, W)
            return nm / (2 * ((na * W) @ nb.T) + nm)
        # each count by its own product (no differences of sums: a count that is 0 must come out 0)
        tt, tf = (na * W) @ nb.T, (na * W) @ (1 - nb).T
        ft, ff = ((1 - na) * W) @ nb.T, ((1 - na) * W) @ (1 - nb).T
        diff = tf + ft
        if name == "jaccard":
            den = tt + diff
            return np.where(den != 0, diff / np.where(den != 0, den, 1), 0.0)
        if name == "rogerstanimoto":
            return 2 * diff / (total + diff)
        if name == "russellrao":
            return (total - tt) / total
        if name == "sokalsneath":
            return 2 * diff / (2 * diff + tt)
        half_r = tf * ft
        return 2 * half_r / (tt * ff + half_r + (half_r == 0))


def _dense(p, n_threads):
    n, m = p.A.shape[0], p.B.shape[0]
    if p.bits:
        out = np.empty((n, m))
        if out.size:
            _core.binary_pairwise(p.A, None if p.alias else p.B, p.name, p.n_bits, out, False, n_threads)
        return out
    return _values_block(p.name, p.A, p.B, p.w) if n and m else np.empty((n, m))


def binary_cdist(XA, XB, metric, *, out=None, n_threads=None, check_finite=True, **kwargs):
    """cdist for a boolean metric (see the module docstring); float64 (n, m)."""
    nt = resolve_n_threads(n_threads)
    p = _prepare(XA, XB, metric, kwargs, ("XA", "XB"), check_finite)
    if p.alias and not p.bits:
        p.B = p.A
    D = _dense(p, nt)
    if out is None:
        return D
    check_out(out, D.shape, np.float64, (XA, XB))
    out[...] = D
    return out


def binary_pdist(X, metric, *, out=None, n_threads=None, check_finite=True, **kwargs):
    """pdist for a boolean metric: the condensed float64 vector, scipy's order."""
    nt = resolve_n_threads(n_threads)
    p = _prepare(X, None, metric, kwargs, ("X", "X"), check_finite)
    n = p.A.shape[0]
    shape = (n * (n - 1) // 2,)
    if out is not None:
        check_out(out, shape, np.float64, (X,))
    res = out if out is not None else np.empty(shape)
    if res.size:
        if p.bits:
            if res.flags.c_contiguous:
                _core.binary_pairwise(p.A, None, p.name, p.n_bits, res, True, nt)
            else:
                tmp = np.empty(shape)
                _core.binary_pairwise(p.A, None, p.name, p.n_bits, tmp, True, nt)
                res[...] = tmp
        else:
            iu = np.triu_indices(n, 1)
            res[...] = _values_block(p.name, p.A, p.A, p.w)[iu]
    return res


def binary_pairwise_distances(X, Y, metric, *, n_threads=None, check_finite=True, **kwargs):
    """pairwise_distances for a boolean metric; with Y None the diagonal is 0 (scikit-learn's squareform)."""
    if Y is None:
        D = binary_cdist(X, None, metric, n_threads=n_threads, check_finite=check_finite, **kwargs)
        np.fill_diagonal(D, 0.0)
        return D
    return binary_cdist(X, Y, metric, n_threads=n_threads, check_finite=check_finite, **kwargs)


def _check_k(k, available, self_search, include_self, shape):
    if isinstance(k, bool) or not isinstance(k, numbers.Integral):
        raise TypeError(f"k must be an int, got {type(k).__name__}")
    k = int(k)
    if k <= 0:
        raise ValueError(f"k must be >= 1, got {k}")
    if k > available:
        what = "other points" if self_search and not include_self else "references"
        raise ValueError(f"k={k} is larger than the number of {what} ({available}; Y has shape {shape})")
    return k


def binary_kneighbors(X, Y, k, metric, *, return_distance, include_self, n_threads, check_finite, **kwargs):
    """kneighbors for a boolean metric: float64 distances, int64 indices, (distance, index) order, NaN last."""
    nt = resolve_n_threads(n_threads)
    p = _prepare(X, Y, metric, kwargs, ("X", "Y"), check_finite)
    self_search = Y is None
    exclude = self_search and not include_self
    k = _check_k(k, p.B.shape[0] - (1 if exclude else 0), self_search, include_self, p.B.shape)
    n = p.A.shape[0]
    if n == 0:
        dist, ind = np.empty((0, k)), np.empty((0, k), np.int64)
    elif p.bits:
        dist, ind = _core.binary_kneighbors(p.A, None if p.alias else p.B, p.name, p.n_bits, k, exclude, nt)
    else:
        dist, ind = np.empty((n, k)), np.empty((n, k), np.int64)
        step = max(1, _BLOCK_ELEMS // max(1, p.B.shape[0]))
        idx = np.arange(p.B.shape[0])
        for s in range(0, n, step):
            D = _values_block(p.name, p.A[s : s + step], p.B, p.w)
            tier = np.isnan(D).astype(np.int8)  # numbers, then NaN, then the excluded self pair
            if exclude:
                rows = np.arange(D.shape[0])
                tier[rows, s + rows] = 2
            key = np.where(np.isnan(D), 0.0, D)
            order = np.lexsort((np.broadcast_to(idx, D.shape), key, tier), axis=1)[:, :k]
            dist[s : s + step] = np.take_along_axis(D, order, axis=1)
            ind[s : s + step] = order
    return (dist, ind) if return_distance else ind


def binary_radius_neighbors(X, Y, radius, metric, *, include_self, sort_results, n_threads, check_finite, **kwargs):
    """radius_neighbors for a boolean metric: the CSR triple (distances, indices, offsets), d <= radius."""
    nt = resolve_n_threads(n_threads)
    p = _prepare(X, Y, metric, kwargs, ("X", "Y"), check_finite)
    exclude = Y is None and not include_self
    n = p.A.shape[0]
    r = np.atleast_1d(np.asarray(radius, dtype=np.float64))
    if n == 0 or p.B.shape[0] == 0:
        return np.empty(0), np.empty(0, np.int64), np.zeros(n + 1, np.int64)
    if p.bits:
        return _core.binary_radius_neighbors(
            p.A, None if p.alias else p.B, p.name, p.n_bits, r, exclude, bool(sort_results), nt
        )
    D = _values_block(p.name, p.A, p.B, p.w)
    rr = r if r.shape[0] == n else np.full(n, r[0])
    keep = D <= rr[:, None]
    if exclude:
        np.fill_diagonal(keep, False)
    dists, inds, offsets = [], [], [0]
    for i in range(n):
        j = np.flatnonzero(keep[i])
        d = D[i, j]
        if sort_results:
            o = np.lexsort((j, d))
            j, d = j[o], d[o]
        dists.append(d)
        inds.append(j.astype(np.int64))
        offsets.append(offsets[-1] + j.size)
    return np.concatenate(dists), np.concatenate(inds), np.asarray(offsets, np.int64)
