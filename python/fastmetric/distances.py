"""scipy / scikit-learn compatible pairwise distances on the tiled C++ engine."""

from __future__ import annotations

import numbers

import numpy as np

from . import _core
from ._validation import (
    real_vector,
    as_float_2d,
    check_finite as _require_finite,
    check_out,
    new_output,
    plain_threads,
    resolve_n_threads,
    same_array,
    validate_pair,
)
from .binary import (  # the boolean metrics and packed fingerprints
    BINARY_METRICS,
    binary_cdist,
    binary_pairwise_distances,
    binary_pdist,
    wants_binary,
)

# sparse inputs (issue 16 part 3): the sparse paths live in _sparse.py
from ._sparse import is_sparse, sparse_distances

# scipy's remaining float metrics and w= (issue 16 part 1): their checks live in scipy_metrics.py
from .scipy_metrics import SCIPY_FLOAT_METRICS, scipy_core_kwargs, scipy_keywords, zero_diagonal_needed

__all__ = ["cdist", "pdist", "pairwise_distances", "squareform", "DISTANCE_METRICS"]

_ALIASES = {
    "euclidean": "euclidean",
    "l2": "euclidean",
    "sqeuclidean": "sqeuclidean",
    "cosine": "cosine",
    "correlation": "correlation",
    "cityblock": "cityblock",
    "manhattan": "cityblock",
    "l1": "cityblock",
    "chebyshev": "chebyshev",
    "minkowski": "minkowski",
    "seuclidean": "seuclidean",
    "mahalanobis": "mahalanobis",
}
_ALIASES.update({name: name for name in SCIPY_FLOAT_METRICS})  # issue 16 part 1
#: Metric names accepted by :func:`cdist`, :func:`pdist` and :func:`pairwise_distances`.
DISTANCE_METRICS = tuple(sorted(set(_ALIASES) | set(BINARY_METRICS)))  # + the boolean metrics (binary.py)

# keyword arguments each metric accepts (beyond out / n_threads / check_finite)
_METRIC_KWARGS = {
    "minkowski": {"p"},
    "seuclidean": {"V"},
    "mahalanobis": {"VI", "L"},
    "jensenshannon": {"base"},  # issue 16 part 1
}


# Names of the metrics that take no parameters (every spelling of _ALIASES): with native float
# ndarrays and no out= they go straight to _core.plain_pairwise, which makes the checks of the full
# path in C++ and returns None whenever that path is needed (other inputs, errors).
_PLAIN = {alias: name for alias, name in _ALIASES.items() if name not in _METRIC_KWARGS}
_NAN = float("nan")


def plain_metric(metric):
    """The engine's name of a parameter-free metric spelt exactly as in the table, else None."""
    return _PLAIN.get(metric) if type(metric) is str else None


def _plain_call(X, Y, metric, condensed, out, kwargs, check_finite, n_threads):
    """The fast path of a parameter-free metric on plain arrays, in one C++ call; None: take the full path."""
    if out is not None or kwargs:
        return None
    name, nt = plain_metric(metric), plain_threads(n_threads)
    if name is None or nt is None:
        return None
    return _core.plain_pairwise(X, Y, name, condensed, bool(check_finite), _NAN, 1.0, 3.0, nt)


def _metric_name(metric) -> str:
    if callable(metric):
        raise TypeError(
            "callable metrics are not supported (they cannot run inside the C++ kernels); "
            f"use one of {', '.join(DISTANCE_METRICS)} or scipy.spatial.distance.cdist"
        )
    if not isinstance(metric, str):
        raise TypeError(f"metric must be a string, got {type(metric).__name__}")
    name = _ALIASES.get(metric.lower())
    if name is None:
        raise ValueError(f"unknown metric {metric!r}; supported: {', '.join(DISTANCE_METRICS)}")
    return name


def _check_kwargs(name: str, kwargs: dict) -> None:
    allowed = _METRIC_KWARGS.get(name, set()) | scipy_keywords(name)  # + w= (issue 16 part 1)
    stray = sorted(set(kwargs) - allowed)
    if stray:
        hint = f" (it accepts {', '.join(sorted(allowed))})" if allowed else " (it takes no parameters)"
        raise TypeError(f"metric {name!r} got unexpected keyword argument(s) {', '.join(stray)}{hint}")


def _minkowski_p(p) -> float:
    """scipy's rule: any real p > 0 (0 < p < 1 is computed although it is not a metric), inf allowed."""
    if p is None:
        return 2.0
    if isinstance(p, np.ndarray) and p.ndim == 0 and p.dtype.kind in "fiub":
        p = p[()]  # a 0-d array, as scipy accepts
    if not isinstance(p, (numbers.Real, np.bool_)):
        raise TypeError(f"minkowski p must be a real number, got {type(p).__name__} {p!r}")
    p = float(p)
    if not p > 0:  # also rejects NaN
        raise ValueError(f"minkowski p must be greater than 0 (as in scipy); got p={p}")
    return p


def _stacked(XA, XB):
    """The rows scipy estimates default V / VI from: XA alone (pdist) or XA on top of XB (cdist)."""
    return XA if XB is None else np.vstack([XA, XB])


def metric_map_from_VI(VI, d: int) -> np.ndarray:
    """L (k x d) with L^T L = VI, from the symmetric eigendecomposition; checks VI is PSD."""
    arr = np.asarray(VI)
    if arr.dtype.kind not in "fiub":
        raise TypeError(f"VI must be a real numeric matrix, got dtype {arr.dtype}")
    arr = np.array(arr, dtype=np.float64)
    if arr.shape != (d, d):
        raise ValueError(f"VI must have shape ({d}, {d}) to match n_features={d}; got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError("VI contains NaN or infinity")
    scale = max(np.abs(arr).max(), np.finfo(np.float64).tiny)
    if np.abs(arr - arr.T).max() > 1e-8 * scale:
        raise ValueError("VI must be symmetric (VI and VI.T differ)")
    R = _core.cholesky_upper((arr + arr.T) / 2)  # positive definite: the common case, no LAPACK call
    if R is not None:
        return R
    w, vecs = np.linalg.eigh((arr + arr.T) / 2)  # semi-definite (or not PSD at all): decide here
    if w.size and w.min() < -1e-10 * max(abs(w).max(), np.finfo(np.float64).tiny) * d:
        raise ValueError(f"VI is not positive semi-definite (smallest eigenvalue {w.min():.3g})")
    keep = w > 0
    return np.ascontiguousarray((vecs[:, keep] * np.sqrt(w[keep])).T)


def _metric_map_default(XA, XB, d: int) -> np.ndarray:
    """scipy's default VI = inverse covariance of the stacked inputs, as its factor L."""
    S = _stacked(XA, XB).astype(np.float64)
    if S.shape[0] < 2:
        raise ValueError("mahalanobis without VI needs at least 2 samples to estimate a covariance")
    S -= S.mean(axis=0)
    cov = np.empty((d, d))
    _core.pairwise(S.T, None, cov, "linear")  # the Gram matrix of the centred columns, on the engine
    cov /= S.shape[0] - 1
    L = _core.inverse_factor(cov)
    if L is None:
        raise ValueError(
            f"the covariance of the stacked inputs (shape {S.shape}) is singular, so scipy's default "
            "VI = inv(cov) does not exist; pass VI or L explicitly"
        )
    return L


def prepare_metric(metric, XA, XB, kwargs):
    """Resolve the metric and its parameters; returns (name, core kwargs, arrays)."""
    name = _metric_name(metric)
    _check_kwargs(name, kwargs)
    d = XA.shape[1]
    dtype = XA.dtype
    core = scipy_core_kwargs(name, kwargs, d, dtype)  # scipy's w= and jensenshannon's base= (issue 16 part 1)
    if name == "minkowski":
        p = _minkowski_p(kwargs.get("p", 2))
        core["p"] = p
    elif name == "seuclidean":
        V = kwargs.get("V")
        if V is None:
            S = _stacked(XA, XB).astype(np.float64)
            if S.shape[0] < 2:
                raise ValueError("seuclidean without V needs at least 2 samples to estimate variances")
            with np.errstate(over="ignore", invalid="ignore"):
                V = np.var(S, axis=0, ddof=1)
            if not np.isfinite(V).all():
                raise ValueError(
                    f"seuclidean's default V (the column variances of the inputs, shape {S.shape}) overflows "
                    "float64; pass V explicitly"
                )
        V = real_vector(V, "V", d)
        if (V <= 0).any():
            cols = np.flatnonzero(V <= 0)[:5].tolist()
            raise ValueError(f"seuclidean needs positive variances V; V <= 0 in column(s) {cols}")
        core["V"] = V.astype(dtype)
    elif name == "mahalanobis":
        Lm = metric_map(kwargs.get("L"), kwargs.get("VI"), d, dtype)
        core["L"] = Lm if Lm is not None else _metric_map_default(XA, XB, d).astype(dtype)
    return name, core


def metric_map(L, VI, d, dtype):
    """The k x d map of a Mahalanobis metric given as ``L`` (validated) or ``VI`` (factored); None if neither."""
    if L is not None and VI is not None:
        raise ValueError("pass either L or VI, not both")
    if VI is not None:
        Lm = metric_map_from_VI(VI, d)
        if Lm.shape[0] == 0:  # VI == 0: every distance is 0
            Lm = np.zeros((1, d))
    elif L is not None:
        Lm = np.asarray(L)
        if Lm.dtype.kind not in "fiub":
            raise TypeError(f"L must be a real numeric matrix, got dtype {Lm.dtype}")
        if Lm.ndim != 2 or Lm.shape[1] != d or Lm.shape[0] < 1:
            raise ValueError(f"L must have shape (k, {d}) to match n_features={d}; got shape {Lm.shape}")
        if not np.isfinite(Lm).all():
            raise ValueError("L contains NaN or infinity")
    else:
        return None
    return np.ascontiguousarray(Lm, dtype=dtype)


def _require_given(metric, kwargs) -> None:
    """scikit-learn's pairwise_distances with a separate Y needs V / VI: it estimates them from X only."""
    name = _metric_name(metric) if isinstance(metric, str) else None
    if name == "seuclidean" and kwargs.get("V") is None:
        raise ValueError("The 'V' parameter is required for the seuclidean metric when Y is passed.")
    if name == "mahalanobis" and kwargs.get("VI") is None and kwargs.get("L") is None:
        raise ValueError("The 'VI' parameter is required for the mahalanobis metric when Y is passed.")


def _inputs(XA, XB, check_finite_, names=("XA", "XB")):
    return validate_pair(XA, XB, check_finite_, names)


def _sparse_call(XA, XB, metric, out, kwargs, check_finite, n_threads, zero_diagonal):
    """A pair with a scipy.sparse operand (sparse inputs, issue 16 part 3)."""
    name = _metric_name(metric)
    _check_kwargs(name, kwargs)
    if out is not None:
        raise TypeError("out= is not supported with sparse input; the result is a new dense array")
    return sparse_distances(XA, XB, name, zero_diagonal=zero_diagonal, check_finite=check_finite, n_threads=n_threads)


def cdist(XA, XB, metric="euclidean", *, out=None, n_threads=None, check_finite=True, **kwargs):
    """Distances between each pair of rows of XA (n x d) and XB (m x d): an (n, m) array.

    Same metrics, keywords (``p``, ``V``, ``VI``) and defaults as :func:`scipy.spatial.distance.cdist`:
    without ``V`` / ``VI`` they are estimated from the stacked rows [XA; XB] (scipy's rule; see
    :func:`pairwise_distances` for scikit-learn's). ``minkowski`` takes any ``p > 0``; for p < 1 it is
    computed as scipy does but is not a metric (the triangle inequality fails).
    ``mahalanobis`` also accepts ``L`` (k x d) so that d(x, y) = ||L (x - y)||. float32 inputs give
    float32 results (computed natively, with the accuracy bound in the README); anything else float64.
    ``out`` may be a preallocated array of that shape and dtype (or float64 to upcast).
    When ``XB`` is ``XA`` only the upper triangle is computed and the diagonal is exactly 0.

    The boolean metrics (``dice``, ``hamming``, ``jaccard``, ``rogerstanimoto``, ``russellrao``,
    ``sokalsneath``, ``yule``) take any bool / int / float rows with scipy 1.17's rules, ``w=`` weights,
    and bit-packed rows with ``packed=True`` (uint8 from ``np.packbits(..., axis=1)``, ``n_bits=`` when
    the bit count is not a multiple of 8); they return float64 (see :mod:`fastmetric.binary`; their
    0/0 cases, e.g. dice of two all-zero rows, give scipy's NaN also on the diagonal).

    Sparse ``XA`` and / or ``XB`` (any scipy.sparse format) work for euclidean, sqeuclidean, cosine
    and cityblock (a dense result; float32 data stays float32, int data computes in float64).

    ``braycurtis``, ``canberra`` and ``jensenshannon`` (with ``base=``) follow scipy 1.17, edge cases
    included; scipy's ``w=`` weights work for euclidean, sqeuclidean, cityblock, chebyshev, minkowski,
    cosine, correlation, braycurtis and canberra (see :mod:`fastmetric.scipy_metrics`).

    Examples
    --------
    >>> import numpy as np
    >>> import fastmetric as fm
    >>> X = np.array([[0., 0.], [3., 4.], [6., 8.]])
    >>> fm.cdist(X, X[:2])
    array([[ 0.,  5.],
           [ 5.,  0.],
           [10.,  5.]])
    >>> fm.cdist(X, X[:2], "cityblock")
    array([[ 0.,  7.],
           [ 7.,  0.],
           [14.,  7.]])
    >>> fm.cdist(X + 1, X[:2] + 1, "braycurtis", w=[1.0, 0.0])  # weighted: only the first feature
    array([[0.        , 0.6       ],
           [0.6       , 0.        ],
           [0.75      , 0.27272727]])
    """
    if is_sparse(XA) or is_sparse(XB):  # sparse inputs (issue 16 part 3)
        return _sparse_call(XA, XB, metric, out, kwargs, check_finite, n_threads, False)
    if wants_binary(metric, kwargs):  # boolean metrics (binary.py)
        return binary_cdist(XA, XB, metric, out=out, n_threads=n_threads, check_finite=check_finite, **kwargs)
    D = _plain_call(XA, XB, metric, False, out, kwargs, check_finite, n_threads)
    if D is not None:
        return D
    A, B, alias = _inputs(XA, XB, False)
    if out is not None and isinstance(out, np.ndarray) and out.dtype == np.float64 and A.dtype == np.float32:
        A = A.astype(np.float64)
        B = A if alias else B.astype(np.float64)
    if check_finite:
        _require_finite(A, "XA")
        if not alias:
            _require_finite(B, "XB")
    name, core = prepare_metric(metric, A, B, kwargs)  # cdist(X, X): scipy's defaults stack X twice
    shape = (A.shape[0], B.shape[0])
    if out is None:
        out = new_output(shape, A.dtype)
    else:
        check_out(out, shape, A.dtype, (A, B))
    if out.size:
        _core.pairwise(A, None if alias else B, out, name, n_threads=resolve_n_threads(n_threads), **core)
    return out


def pdist(X, metric="euclidean", *, out=None, n_threads=None, check_finite=True, **kwargs):
    """Condensed distance vector of X (n x d), as :func:`scipy.spatial.distance.pdist`.

    Entry ``n*i - i*(i+1)/2 + (j-i-1)`` holds d(X[i], X[j]) for i < j; only that upper triangle is
    computed, written straight into the result (no n x n temporary); 64-bit offsets.
    float32 input gives a float32 vector (scipy always returns float64).
    The boolean metrics (and ``packed=True``) are as in :func:`cdist` and return float64.

    Examples
    --------
    >>> import numpy as np
    >>> import fastmetric as fm
    >>> X = np.array([[0., 0.], [3., 4.], [6., 8.]])
    >>> fm.pdist(X)  # condensed: pairs (0, 1), (0, 2), (1, 2)
    array([ 5., 10.,  5.])
    """
    if wants_binary(metric, kwargs):  # boolean metrics (binary.py)
        return binary_pdist(X, metric, out=out, n_threads=n_threads, check_finite=check_finite, **kwargs)
    D = _plain_call(X, None, metric, True, out, kwargs, check_finite, n_threads)
    if D is not None:
        return D
    A = as_float_2d(X, "X")
    if out is not None and isinstance(out, np.ndarray) and out.dtype == np.float64 and A.dtype == np.float32:
        A = A.astype(np.float64)
    if check_finite:
        _require_finite(A, "X")
    name, core = prepare_metric(metric, A, None, kwargs)
    n = A.shape[0]
    shape = (n * (n - 1) // 2,)
    if out is None:
        out = new_output(shape, A.dtype)
    else:
        check_out(out, shape, A.dtype, (A,))
    if out.size:
        _core.pairwise(A, None, out, name, condensed=True, n_threads=resolve_n_threads(n_threads), **core)
    return out


def pairwise_distances(X, Y=None, metric="euclidean", *, n_threads=None, n_jobs=None, check_finite=True, **kwargs):
    """scikit-learn's ``pairwise_distances`` (dense inputs): an (n, m) array, or (n, n) when Y is None.

    With ``Y=None`` the result is exactly symmetric, only half is computed and the diagonal is 0.
    float32 stays float32. ``n_jobs`` is accepted as an alias of ``n_threads``.

    scikit-learn's defaults, not scipy's: ``seuclidean`` without ``V`` and ``mahalanobis`` without
    ``VI`` (or ``L``) estimate them from X alone, so ``pairwise_distances(X)`` and
    ``pairwise_distances(X, X)`` agree; with a different Y they raise ValueError (scikit-learn's rule).
    :func:`cdist` keeps scipy's estimate from the stacked rows of XA and XB.

    Sparse X and / or Y (scipy.sparse matrices or arrays, any format) work for euclidean,
    sqeuclidean, cosine and cityblock, as in scikit-learn; with Y None (or Y is X) the diagonal is 0.

    Examples
    --------
    >>> import numpy as np
    >>> import fastmetric as fm
    >>> X = np.array([[0., 0.], [3., 4.], [6., 8.]])
    >>> fm.pairwise_distances(X, metric="cosine")  # a zero row is at distance 1 from everything
    array([[0., 1., 1.],
           [1., 0., 0.],
           [1., 0., 0.]])
    """
    if n_threads is None and n_jobs is not None:
        n_threads = n_jobs
    if is_sparse(X) or is_sparse(Y):  # sparse inputs (issue 16 part 3)
        return _sparse_call(X, Y, metric, None, kwargs, check_finite, n_threads, Y is None or Y is X)
    if wants_binary(metric, kwargs):  # boolean metrics (binary.py): float64, zero diagonal when Y is None
        if Y is not None and (Y is X or same_array(X, Y)):
            Y = None
        return binary_pairwise_distances(X, Y, metric, n_threads=n_threads, check_finite=check_finite, **kwargs)
    D = _plain_call(X, Y, metric, False, None, kwargs, check_finite, n_threads)
    if D is not None:
        if zero_diagonal_needed(plain_metric(metric)) and (Y is None or Y is X or same_array(X, Y)):
            np.fill_diagonal(D, 0)  # issue 16 part 1: scikit-learn's zero diagonal
        return D
    if Y is not None and (Y is X or same_array(X, Y)):
        Y = None  # scikit-learn's X is Y: the symmetric computation, defaults estimated from X
    if Y is not None:
        _require_given(metric, kwargs)
    A = as_float_2d(X, "X")
    if Y is None:  # scikit-learn computes this case with scipy's pdist (defaults from X alone)
        if check_finite:
            _require_finite(A, "X")
        name, core = prepare_metric(metric, A, None, kwargs)
        out = new_output((A.shape[0], A.shape[0]), A.dtype)
        if out.size:
            _core.pairwise(A, None, out, name, n_threads=resolve_n_threads(n_threads), **core)
            if zero_diagonal_needed(name):  # scikit-learn's squareform(pdist): 0 also where scipy's cdist is not
                np.fill_diagonal(out, 0)
        return out
    return cdist(A, Y, metric, n_threads=n_threads, check_finite=check_finite, **kwargs)


def squareform(X, force="no", checks=True):
    """Convert between a condensed distance vector and a square symmetric matrix (scipy's rules).

    Examples
    --------
    >>> import numpy as np
    >>> import fastmetric as fm
    >>> X = np.array([[0., 0.], [3., 4.], [6., 8.]])
    >>> fm.squareform(fm.pdist(X))
    array([[ 0.,  5., 10.],
           [ 5.,  0.,  5.],
           [10.,  5.,  0.]])
    """
    arr = np.asarray(X)
    if force not in ("no", "tovector", "tomatrix"):
        raise ValueError(f"force must be 'no', 'tovector' or 'tomatrix'; got {force!r}")
    if arr.ndim == 1 and force != "tovector":
        k = arr.shape[0]
        n = int(np.ceil(np.sqrt(k * 2)))
        if n * (n - 1) // 2 != k:
            raise ValueError(f"a condensed vector must have length n*(n-1)/2; got {k}")
        M = np.zeros((n, n), dtype=arr.dtype)
        iu = np.triu_indices(n, 1)
        M[iu] = arr
        M.T[iu] = arr
        return M
    if arr.ndim == 2 and force != "tomatrix":
        if arr.shape[0] != arr.shape[1]:
            raise ValueError(f"a distance matrix must be square; got shape {arr.shape}")
        if checks:
            if np.any(np.diag(arr) != 0):
                raise ValueError("the distance matrix has a non-zero diagonal")
            if not np.allclose(arr, arr.T):
                raise ValueError("the distance matrix is not symmetric")
        return np.ascontiguousarray(arr[np.triu_indices(arr.shape[0], 1)])
    raise ValueError(f"squareform needs a 1-D condensed vector or a 2-D square matrix; got shape {arr.shape}")
