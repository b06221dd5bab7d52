"""Distances, kernels and exact k-NN on Dask arrays (``pip install "fastmetric[dask]"``).

Every function takes ``dask.array`` inputs (X and Y both Dask, or one of them a numpy array), with
any row chunking, and returns lazy Dask arrays whose blocks are fastmetric engine calls, one per
(row block of X, row block of Y) pair; nothing is computed until ``.compute()`` (or
``dask.compute``). Results equal the in-memory calls of :mod:`fastmetric`:

* **The feature axis** is rechunked to one chunk: the engine packs, centres and (for the
  Euclidean family) recomputes cancelling pairs on whole rows. Reducing partial dot products over
  feature chunks instead was measured (``benchmarks/bench_dask.py``, README "Dask (issue 14)") and
  does not pay: each feature chunk materialises an (X block x Y block) partial matrix before the
  sum, multiplying the memory of a task by the number of feature chunks, and the cancellation
  recompute needs whole rows.
* **Parameters that depend on all the data** are computed once and broadcast as one graph key:
  the column shift the engine centres on (the mean of the stacked rows, summed row by row in
  double exactly as the engine sums them, through a chain of one small task per block, so every
  distance is the in-memory one bit for bit), seuclidean's default ``V``, mahalanobis's default
  ``VI`` (both with scipy's / scikit-learn's rules, as the in-memory calls), and ``gamma=None``
  (1 / n_features).
* **Dtypes** as in memory: float32 when every input is float32, else float64 (ints and bools
  computed in float64).
* **k-NN** (:func:`kneighbors`) runs the engine's top-k on each block pair, then merges the
  per-block results with :func:`fastmetric.merge_kneighbors` in a fixed binary tree over the
  reference blocks (ties go to the smaller global index at every merge), so it is exact: equal to
  ``fastmetric.kneighbors`` on the whole arrays, ties included. A task holds one query block, one
  reference block and an (query block x k) result: memory is bounded by the chunk sizes, the
  query-by-reference matrix is never formed.
* **Threads.** Each task runs the engine with ``n_threads`` threads: by default the thread count of
  the Dask worker that runs it (``distributed.get_worker().state.nthreads``), or, on the local
  threaded scheduler, its pool size (``dask.config`` ``num_workers``, else the CPU count). A worker
  running several tasks at once does not oversubscribe: fastmetric's thread team serves one call at
  a time and a concurrent call runs on its own thread.
* **Errors.** Shapes are checked when the graph is built (unknown chunk sizes, empty arrays,
  different feature counts, ``k`` larger than the references); NaN or infinity, found only when a
  block is computed, raises ``ValueError`` from that task naming the array, the block and its rows.

Everything sent to the workers is module-level functions and numpy arrays: graphs pickle.
"""

from __future__ import annotations

import math
import numbers
import operator

import numpy as np

try:
    import dask
    import dask.array as da
    from dask.base import tokenize
    from dask.highlevelgraph import HighLevelGraph
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        'fastmetric.dask needs dask[array] (and distributed for clusters): pip install "fastmetric[dask]"'
    ) from exc

from . import _core
from ._validation import common_dtype, resolve_n_threads
from .distances import metric_map, prepare_metric
from .kernels import pairwise_kernels as memory_pairwise_kernels
from .neighbors import merge_kneighbors

__all__ = [
    "cdist",
    "pairwise_distances",
    "pairwise_kernels",
    "linear_kernel",
    "polynomial_kernel",
    "rbf_kernel",
    "laplacian_kernel",
    "sigmoid_kernel",
    "cosine_similarity",
    "chi2_kernel",
    "additive_chi2_kernel",
    "kneighbors",
    "radius_neighbors",
    "task_threads",
    "check_array",
]

# metrics whose engine setup centres on a column shift (the stacked mean), and kernels likewise
_SHIFTED_DISTANCES = {"sqeuclidean", "euclidean", "seuclidean", "mahalanobis"}
_KERNEL_ENGINE = {
    "linear": "linear",
    "polynomial": "polynomial",
    "poly": "polynomial",
    "rbf": "rbf",
    "laplacian": "laplacian",
    "sigmoid": "sigmoid",
    "cosine": "cosine_similarity",
    "chi2": "chi2",
    "additive_chi2": "additive_chi2",
}
_KERNEL_PARAMS = {
    "linear": (),
    "polynomial": ("degree", "gamma", "coef0"),
    "rbf": ("gamma", "L", "VI"),
    "laplacian": ("gamma", "L", "VI"),
    "sigmoid": ("gamma", "coef0"),
    "cosine_similarity": (),
    "chi2": ("gamma",),
    "additive_chi2": (),
}


# ----------------------------------------------------------------------------------- inputs
def _as_dask(X, name):
    """X as a 2-D dask array with known chunks, rows > 0, features > 0 and one feature chunk."""
    if isinstance(X, da.Array):
        arr = X
    else:
        if hasattr(X, "toarray") and hasattr(X, "nnz"):
            raise TypeError(f"{name}: sparse matrices are not supported by fastmetric.dask")
        a = np.asarray(X)
        if a.ndim == 2 and a.size:
            arr = da.from_array(a, chunks=(a.shape[0], a.shape[1]))
        else:
            arr = da.from_array(a) if a.ndim else a
    kind = np.dtype(arr.dtype).kind
    if kind not in "fiub":
        raise TypeError(f"{name} has dtype {arr.dtype}; pass a float32, float64, int or bool array")
    if getattr(arr, "ndim", 0) != 2:
        raise ValueError(f"{name} must be a 2-D array of shape (n_samples, n_features); got shape {arr.shape}")
    if any(math.isnan(c) for axis in arr.chunks for c in axis):
        raise ValueError(
            f"{name} has unknown chunk sizes (shape {arr.shape}, chunks {arr.chunks}); "
            f"call {name}.compute_chunk_sizes() (or pass lengths= to to_dask_array) first"
        )
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape}); fastmetric.dask needs at least one row and one feature")
    if len(arr.chunks[1]) > 1:
        arr = arr.rechunk({1: -1})
    return arr


def check_array(X, name="X"):
    """X as a 2-D Dask array with known chunk sizes, at least one row and one feature, and one chunk
    along the features (numpy input becomes a one-block Dask array); ValueError / TypeError otherwise.

    Examples
    --------
    >>> import numpy as np
    >>> import fastmetric.dask as fmd
    >>> fmd.check_array(np.ones((10, 3))).chunks  # numpy becomes a one-block Dask array
    ((10,), (3,))
    """
    return _as_dask(X, name)


def _pair(X, Y, names=("X", "Y")):
    A = _as_dask(X, names[0])
    if Y is None:
        return A, None, np.dtype(common_dtype(np.empty(0, A.dtype)))
    alias = Y is X
    B = A if alias else _as_dask(Y, names[1])
    if A.shape[1] != B.shape[1]:
        raise ValueError(
            f"{names[0]} and {names[1]} must have the same number of features (columns); got "
            f"{names[0]}.shape={A.shape} (chunks {A.chunks[1]}), {names[1]}.shape={B.shape} (chunks {B.chunks[1]})"
        )
    dtype = common_dtype(np.empty(0, A.dtype), np.empty(0, B.dtype))
    return A, (None if alias or A.name == B.name else B), np.dtype(dtype)


def _starts(chunks):
    return [0, *np.cumsum(chunks).tolist()]


def _block(b, dtype, what, index, start, check_finite):
    """A block as a C-contiguous array of the computing dtype; non-finite values named by block."""
    arr = np.ascontiguousarray(b, dtype=dtype)
    if check_finite and arr.size and not np.isfinite(arr).all():
        bad = "NaN" if np.isnan(arr).any() else "infinity"
        raise ValueError(
            f"{what} block {index} (rows {start}:{start + arr.shape[0]}) contains {bad}; clean the data "
            "or pass check_finite=False"
        )
    return arr


def task_threads(n_threads=None):
    """The engine thread count of a task: ``n_threads`` when given, else the thread count of the Dask
    worker running it (``distributed.get_worker().state.nthreads``), else the local threaded
    scheduler's pool size (``dask.config`` ``num_workers`` or the CPU count).

    Examples
    --------
    >>> import fastmetric.dask as fmd
    >>> fmd.task_threads(3)  # an explicit count wins; else the worker's thread count
    3
    """
    if n_threads is not None:
        return resolve_n_threads(n_threads)
    try:
        from distributed import get_worker

        return max(1, int(get_worker().state.nthreads))
    except (ImportError, ValueError, AttributeError):
        pass
    n = dask.config.get("num_workers", None)
    return max(1, int(n)) if n else max(1, int(dask.system.CPU_COUNT))


# ------------------------------------------------------------------ data-dependent parameters
def _sums_step(acc, block, dtype):
    """acc + column sums of the block (in the computing dtype, row by row in double)."""
    out = np.array(acc, dtype=np.float64, copy=True)
    _core.block_column_sums(np.ascontiguousarray(block, dtype=dtype), out)
    return out


def _mean_of(acc, count, dtype):
    return (acc / float(count)).astype(dtype)


def _mean_graph(arrays, dtype, token):
    """Keys computing the column mean of the stacked arrays as the engine does; returns (dsk, key)."""
    d = arrays[0].shape[1]
    name = "fastmetric-shift-" + token
    dsk = {(name, "acc", 0): np.zeros(d)}
    prev, step, count = (name, "acc", 0), 0, 0
    for A in arrays:
        for i in range(len(A.chunks[0])):
            step += 1
            dsk[(name, "acc", step)] = (_sums_step, prev, (A.name, i, 0), dtype)
            prev = (name, "acc", step)
        count += A.shape[0]
    dsk[(name,)] = (_mean_of, prev, count, dtype)
    return dsk, (name,)


def _moment_step(acc, block, dtype):
    """Column sums and Gram matrix of one block (float64), for the default V / VI."""
    b = np.asarray(block, dtype=dtype).astype(np.float64)
    return acc[0] + b.sum(axis=0), acc[1] + b.T @ b, acc[2] + b.shape[0]


def _centred_moments(arrays, dtype, token, d):
    """Keys of (count, covariance) of the stacked arrays, two passes (mean, then centred Gram)."""
    name = "fastmetric-cov-" + token
    dsk = {}
    sums = []
    for A in arrays:
        for i in range(len(A.chunks[0])):
            key = (name, "sum", len(sums))
            dsk[key] = (_block_sum, (A.name, i, 0), dtype)
            sums.append(key)
    dsk[(name, "mean")] = (_sum_parts, sums)
    grams = []
    for A in arrays:
        for i in range(len(A.chunks[0])):
            key = (name, "gram", len(grams))
            dsk[key] = (_block_gram, (A.name, i, 0), dtype, (name, "mean"))
            grams.append(key)
    dsk[(name,)] = (_covariance, grams, (name, "mean"))
    return dsk, (name,)


def _block_sum(block, dtype):
    b = np.asarray(block, dtype=dtype).astype(np.float64)
    return b.sum(axis=0), b.shape[0]


def _sum_parts(parts):
    total = sum(p[0] for p in parts)
    n = sum(p[1] for p in parts)
    return total / max(n, 1), n


def _block_gram(block, dtype, mean):
    c = np.asarray(block, dtype=dtype).astype(np.float64) - mean[0]
    return c.T @ c, (c * c).sum(axis=0)


def _covariance(grams, mean):
    n = mean[1]
    G = sum(g[0] for g in grams)
    sq = sum(g[1] for g in grams)
    return G, sq, n


def _resolved_params(name, static, moments, kind, d, dtype):
    """The core keyword arguments, with seuclidean's V / mahalanobis's L estimated from the moments."""
    core = dict(static)
    if kind == "V":
        _, sq, n = moments
        if n < 2:
            raise ValueError("seuclidean without V needs at least 2 samples to estimate variances")
        V = sq / (n - 1)
        _, core = prepare_metric(name, np.zeros((2, d), dtype), None, {"V": V})
    elif kind == "VI":
        G, _, n = moments
        if n < 2:
            raise ValueError("mahalanobis without VI needs at least 2 samples to estimate a covariance")
        L = _core.inverse_factor(G / (n - 1))
        if L is None:
            raise ValueError(
                f"the covariance of the stacked inputs ({n} rows) is singular, so scipy's default "
                "VI = inv(cov) does not exist; pass VI or L explicitly"
            )
        core["L"] = np.ascontiguousarray(L, dtype=dtype)
    return core


def _params_key(name, core, estimate, arrays, dtype, token, d):
    """Graph of the parameters every block needs: returns (dsk, key of the core kwargs dict)."""
    pname = "fastmetric-params-" + token
    if estimate is None:
        return {(pname,): core}, (pname,)
    dsk, mkey = _centred_moments(arrays, dtype, token, d)
    dsk[(pname,)] = (_resolved_params, name, core, mkey, estimate, d, dtype)
    return dsk, (pname,)


def _distance_setup(metric, kwargs, d, dtype, rule):
    """Validate the metric eagerly (on a tiny stand-in) and say which parameter must be estimated."""
    probe = dict(kwargs)
    estimate = None
    if not isinstance(metric, str):
        raise TypeError(f"metric must be a string naming a fastmetric metric, got {type(metric).__name__}")
    name0 = metric.lower()
    if name0 == "seuclidean" and kwargs.get("V") is None:
        estimate, probe["V"] = "V", np.ones(d)
    if name0 == "mahalanobis" and kwargs.get("VI") is None and kwargs.get("L") is None:
        estimate, probe["L"] = "VI", np.eye(d)
    if estimate is not None and rule == "given":
        raise ValueError(
            f"The '{'V' if estimate == 'V' else 'VI'}' parameter is required for the {name0} metric when Y is passed."
        )
    name, core = prepare_metric(metric, np.zeros((2, d), dtype), None, probe)
    if estimate is not None:
        core = {k: v for k, v in core.items() if k not in ("V", "L")}
    return name, core, estimate


# ------------------------------------------------------------------------------ dense blocks
def _pair_block(x, y, params, shift, meta):
    """One (X block, Y block) result of the engine; y None: the diagonal block of a symmetric call."""
    engine, dtype, check_finite, n_threads, what, (i, xs), (j, ys), post = meta
    A = _block(x, dtype, what[0], i, xs, check_finite)
    B = None if y is None else _block(y, dtype, what[1], j, ys, check_finite)
    if post == "nonneg" and ((A < 0).any() or (B is not None and (B < 0).any())):
        bad = what[0] if (A < 0).any() else what[1]
        raise ValueError(f"{engine} kernel needs non-negative inputs; {bad} block has negative values")
    out = np.empty((A.shape[0], A.shape[0] if B is None else B.shape[0]), dtype)
    _core.block_pairwise(A, B, out, engine, shift, n_threads=task_threads(n_threads), **params)
    if post == "nan_check" and np.isnan(out).any():
        raise ValueError(
            "non-integer degree with a negative base gamma*<x,y>+coef0 is undefined (NaN) "
            f"in block ({i}, {j}); use an integer degree or a larger coef0"
        )
    return out


def _transposed(b):
    return np.ascontiguousarray(b.T)


def _dense(engine, A, B, dtype, core, estimate, shifted, check_finite, n_threads, what, post=None, cross_shift=True):
    """The lazy (n, m) result of engine over every block pair (B None: the symmetric call on A)."""
    token = tokenize(engine, A, B, dtype, sorted((k, tokenize(v)) for k, v in core.items()), estimate, shifted,
                     check_finite, n_threads, post)
    sources = [A] if B is None else [A, B]
    d = A.shape[1]
    dsk, pkey = _params_key(engine, core, estimate, sources, dtype, token, d)
    skey = None
    if shifted:
        sdsk, skey = _mean_graph(sources if cross_shift else [A], dtype, token)
        dsk.update(sdsk)
    name = f"fastmetric-{engine}-" + token
    Bm = A if B is None else B
    xs, ys = _starts(A.chunks[0]), _starts(Bm.chunks[0])
    for i in range(len(A.chunks[0])):
        for j in range(len(Bm.chunks[0])):
            meta = (engine, dtype, check_finite, n_threads, what, (i, xs[i]), (j, ys[j]), post)
            if B is None and j < i:
                dsk[(name, i, j)] = (_transposed, (name, j, i))
            elif B is None and j == i:
                dsk[(name, i, j)] = (_pair_block, (A.name, i, 0), None, pkey, skey, meta)
            else:
                dsk[(name, i, j)] = (_pair_block, (A.name, i, 0), (Bm.name, j, 0), pkey, skey, meta)
    graph = HighLevelGraph.from_collections(name, dsk, dependencies=sources)
    return da.Array(graph, name, chunks=(A.chunks[0], Bm.chunks[0]), dtype=dtype)


def cdist(XA, XB, metric="euclidean", *, n_threads=None, check_finite=True, **kwargs):
    """:func:`fastmetric.cdist` on Dask arrays: a lazy (n, m) array chunked like XA's rows x XB's rows.

    Same metrics and keywords (``p``, ``V``, ``VI``, ``L``) and scipy's defaults: ``V`` / ``VI``
    estimated from the stacked rows of XA and XB (once, as one graph key). ``n_threads`` per task
    (None: the worker's thread count, see :func:`task_threads`).

    Examples
    --------
    >>> import numpy as np
    >>> import dask.array as da
    >>> import fastmetric as fm
    >>> import fastmetric.dask as fmd
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(1000, 8))
    >>> dX = da.from_array(X, chunks=(300, 8))  # 4 row blocks
    >>> D = fmd.cdist(dX, dX[:500], "euclidean")  # lazy (1000, 500), blocks like dX's rows
    >>> D
    dask.array<...>
    >>> bool(np.array_equal(D.compute(), fm.cdist(X, X[:500])))  # bit for bit the in-memory result
    True
    """
    A, B, dtype = _pair(XA, XB, ("XA", "XB"))
    name, core, estimate = _distance_setup(metric, kwargs, A.shape[1], dtype, "stacked")
    shifted = name in _SHIFTED_DISTANCES or (name == "minkowski" and core.get("p") == 2.0)
    if B is None:  # cdist(X, X): the same symmetric computation as in memory
        return _dense(name, A, None, dtype, core, estimate, shifted, check_finite, n_threads, ("XA", "XA"))
    return _dense(name, A, B, dtype, core, estimate, shifted, check_finite, n_threads, ("XA", "XB"))


def pairwise_distances(X, Y=None, metric="euclidean", *, n_threads=None, check_finite=True, **kwargs):
    """:func:`fastmetric.pairwise_distances` on Dask arrays (scikit-learn's rules for V / VI:
    estimated from X when Y is None, required when Y is given). With Y None only the upper block
    pairs are computed; the lower ones are their transposes, so the result is exactly symmetric
    with a zero diagonal.

    Examples
    --------
    >>> import numpy as np
    >>> import dask.array as da
    >>> import fastmetric as fm
    >>> import fastmetric.dask as fmd
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(1000, 8))
    >>> dX = da.from_array(X, chunks=(300, 8))  # 4 row blocks
    >>> D = fmd.pairwise_distances(dX, metric="cityblock")  # upper block pairs computed, the rest transposed
    >>> bool(np.array_equal(D.compute(), fm.pairwise_distances(X, metric="cityblock")))
    True
    """
    if Y is not None and Y is not X:
        if isinstance(metric, str) and metric.lower() in ("seuclidean", "mahalanobis"):
            _distance_setup(metric, kwargs, np.shape(X)[1] if np.ndim(X) == 2 else 1, np.float64, "given")
        return cdist(X, Y, metric, n_threads=n_threads, check_finite=check_finite, **kwargs)
    A, _, dtype = _pair(X, None)
    name, core, estimate = _distance_setup(metric, kwargs, A.shape[1], dtype, "own")
    shifted = name in _SHIFTED_DISTANCES or (name == "minkowski" and core.get("p") == 2.0)
    return _dense(name, A, None, dtype, core, estimate, shifted, check_finite, n_threads, ("X", "X"))


def pairwise_kernels(X, Y=None, metric="linear", *, filter_params=False, n_threads=None, check_finite=True, **kwds):
    """:func:`fastmetric.pairwise_kernels` on Dask arrays: linear, polynomial (poly), rbf, laplacian,
    sigmoid, cosine, chi2, additive_chi2, with the same parameters and defaults (gamma=None is
    1 / n_features; ``L`` / ``VI`` for rbf and laplacian).

    Examples
    --------
    >>> import numpy as np
    >>> import dask.array as da
    >>> import fastmetric as fm
    >>> import fastmetric.dask as fmd
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(1000, 8))
    >>> dX = da.from_array(X, chunks=(300, 8))  # 4 row blocks
    >>> K = fmd.pairwise_kernels(dX, metric="rbf", gamma=0.1)
    >>> bool(np.allclose(K.compute(), fm.pairwise_kernels(X, metric="rbf", gamma=0.1), rtol=1e-12, atol=1e-15))
    True
    """
    if not isinstance(metric, str) or metric not in _KERNEL_ENGINE:
        raise ValueError(f"unknown kernel {metric!r}; supported: {', '.join(sorted(_KERNEL_ENGINE))}")
    engine = _KERNEL_ENGINE[metric]
    A, B, dtype = _pair(X, Y)
    d = A.shape[1]
    allowed = _KERNEL_PARAMS[engine]
    stray = set(kwds) - set(allowed)
    if stray and not filter_params:
        raise TypeError(f"kernel {metric!r} got unexpected keyword argument(s) {', '.join(sorted(stray))}")
    kw = {k: v for k, v in kwds.items() if k in allowed}
    probe = np.ones((1, d), dtype)  # the in-memory kernel validates every parameter with its own messages
    memory_pairwise_kernels(probe, None, metric, **kw)
    core = {}
    if "gamma" in allowed:
        g = kw.get("gamma", 1.0 if engine == "chi2" else None)
        core["gamma"] = 1.0 / d if g is None else float(np.asarray(g))
    if "coef0" in allowed:
        core["coef0"] = float(np.asarray(kw.get("coef0", 1)))
    post = None
    if "degree" in allowed:
        core["degree"] = float(np.asarray(kw.get("degree", 3)))
        if core["degree"] != int(core["degree"]):
            post = "nan_check"
    if engine in ("chi2", "additive_chi2"):
        post = "nonneg"
    mapped = False
    if kw.get("L") is not None or kw.get("VI") is not None:
        core["L"] = metric_map(kw.get("L"), kw.get("VI"), d, dtype)
        mapped = True
    shifted = engine == "rbf" or (mapped and engine == "laplacian")
    return _dense(engine, A, B, dtype, core, None, shifted, check_finite, n_threads, ("X", "X" if B is None else "Y"),
                  post=post)


def linear_kernel(X, Y=None, *, n_threads=None, check_finite=True):
    """K = X Y^T on Dask arrays (:func:`fastmetric.linear_kernel`).

    """
    return pairwise_kernels(X, Y, "linear", n_threads=n_threads, check_finite=check_finite)


def polynomial_kernel(X, Y=None, degree=3, gamma=None, coef0=1, *, n_threads=None, check_finite=True):
    """K = (gamma <x, y> + coef0) ** degree on Dask arrays (gamma=None: 1 / n_features).

    """
    return pairwise_kernels(X, Y, "polynomial", degree=degree, gamma=gamma, coef0=coef0, n_threads=n_threads,
                            check_finite=check_finite)


def rbf_kernel(X, Y=None, gamma=None, *, L=None, VI=None, n_threads=None, check_finite=True):
    """``K = exp(-gamma |x - y|^2)`` on Dask arrays (optionally in the metric of ``L`` / ``VI``).

    """
    return pairwise_kernels(X, Y, "rbf", gamma=gamma, L=L, VI=VI, n_threads=n_threads, check_finite=check_finite)


def laplacian_kernel(X, Y=None, gamma=None, *, L=None, VI=None, n_threads=None, check_finite=True):
    """``K = exp(-gamma |x - y|_1)`` on Dask arrays (``L`` / ``VI`` map the inputs first).

    """
    return pairwise_kernels(X, Y, "laplacian", gamma=gamma, L=L, VI=VI, n_threads=n_threads,
                            check_finite=check_finite)


def sigmoid_kernel(X, Y=None, gamma=None, coef0=1, *, n_threads=None, check_finite=True):
    """K = tanh(gamma <x, y> + coef0) on Dask arrays.

    """
    return pairwise_kernels(X, Y, "sigmoid", gamma=gamma, coef0=coef0, n_threads=n_threads, check_finite=check_finite)


def cosine_similarity(X, Y=None, *, n_threads=None, check_finite=True):
    """``K = <x, y> / (|x| |y|)`` on Dask arrays (zero rows: similarity 0).

    """
    return pairwise_kernels(X, Y, "cosine", n_threads=n_threads, check_finite=check_finite)


def chi2_kernel(X, Y=None, gamma=1.0, *, n_threads=None, check_finite=True):
    """K = exp(-gamma sum (x - y)^2 / (x + y)) on non-negative Dask arrays.

    """
    return pairwise_kernels(X, Y, "chi2", gamma=gamma, n_threads=n_threads, check_finite=check_finite)


def additive_chi2_kernel(X, Y=None, *, n_threads=None, check_finite=True):
    """K = -sum (x - y)^2 / (x + y) on non-negative Dask arrays.

    """
    return pairwise_kernels(X, Y, "additive_chi2", n_threads=n_threads, check_finite=check_finite)


# ------------------------------------------------------------------------------------- k-NN
def _knn_pair(x, y, params, shift, meta):
    """Top-k of one (query block, reference block) pair, indices global; y None: the diagonal block
    of a self-search (the query itself excluded unless include_self)."""
    name, dtype, check_finite, n_threads, k, exclude, (i, xs), (j, ys), what = meta
    A = _block(x, dtype, what[0], i, xs, check_finite)
    B = None if y is None else _block(y, dtype, what[1], j, ys, check_finite)
    m = A.shape[0] if B is None else B.shape[0]
    kk = min(k, m - (1 if exclude else 0))
    if kk <= 0:
        return np.empty((A.shape[0], 0), dtype), np.empty((A.shape[0], 0), np.int64)
    dist, idx = _core.block_kneighbors(A, B, kk, name, shift, exclude, n_threads=task_threads(n_threads), **params)
    idx += ys
    return dist, idx


def _knn_merge(a, b, k):
    kk = min(k, a[0].shape[1] + b[0].shape[1])
    if a[0].shape[1] == 0:
        return b
    if b[0].shape[1] == 0:
        return a
    return merge_kneighbors(a, b, kk)


def _tree(dsk, name, i, keys, combine, *extra):
    """A fixed binary tree over keys (adjacent pairs, level by level): the final key."""
    level = 0
    while len(keys) > 1:
        nxt = []
        for t in range(0, len(keys) - 1, 2):
            key = (name, i, level, t // 2)
            dsk[key] = (combine, keys[t], keys[t + 1], *extra)
            nxt.append(key)
        if len(keys) % 2:
            nxt.append(keys[-1])
        keys, level = nxt, level + 1
    return keys[0]


def _search_setup(X, Y, metric, kwargs, include_self):
    Q, R, dtype = _pair(X, Y, ("X", "Y"))
    self_search = Y is None
    refs = Q if R is None else R
    d = Q.shape[1]
    name, core, estimate = _distance_setup(metric, kwargs, d, dtype, "stacked")
    shifted = name in _SHIFTED_DISTANCES or (name == "minkowski" and core.get("p") == 2.0)
    token = tokenize("search", Q, R, self_search, dtype, metric, sorted((k, tokenize(v)) for k, v in kwargs.items()))
    sources = [Q] if R is None else [Q, R]
    dsk, pkey = _params_key(name, core, estimate, sources, dtype, token, d)
    skey = None
    if shifted:  # the search centres on the queries alone (centre_on_x), as in memory
        sdsk, skey = _mean_graph([Q], dtype, token)
        dsk.update(sdsk)
    return Q, refs, self_search and not include_self, self_search, name, dtype, dsk, pkey, skey, token, sources


def kneighbors(X, Y=None, k=5, metric="euclidean", *, return_distance=True, include_self=False, n_threads=None,
               check_finite=True, **metric_kwargs):
    """Exact k-NN of Dask (or numpy) queries X among Dask (or numpy) references Y: lazy
    ``(distances, indices)``, each (n_queries, k) chunked like X's rows, equal to
    :func:`fastmetric.kneighbors` on the whole arrays (sorted by (distance, global index)).

    ``Y=None`` searches X against itself, the point itself excluded unless ``include_self``. Each
    (query block, reference block) task runs the engine's top-k (``min(k, block rows)``); the
    per-block results are merged with :func:`fastmetric.merge_kneighbors` in a fixed binary tree
    over the reference blocks. Memory per task: the two blocks and (query rows x k) results.

    Examples
    --------
    >>> import numpy as np
    >>> import dask.array as da
    >>> import fastmetric as fm
    >>> import fastmetric.dask as fmd
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(1000, 8))
    >>> dX = da.from_array(X, chunks=(300, 8))  # 4 row blocks
    >>> dist, idx = fmd.kneighbors(dX, k=5)  # each row's 5 nearest other rows, lazy
    >>> d_mem, i_mem = fm.kneighbors(X, k=5)
    >>> bool(np.array_equal(idx.compute(), i_mem)), bool(np.array_equal(dist.compute(), d_mem))
    (True, True)
    """
    if isinstance(k, bool) or not isinstance(k, numbers.Integral):
        raise TypeError(f"k must be an int, got {type(k).__name__}")
    k = int(k)
    if k <= 0:
        raise ValueError(f"k must be >= 1, got {k}")
    Q, refs, exclude, self_search, name, dtype, dsk, pkey, skey, token, sources = _search_setup(
        X, Y, metric, metric_kwargs, include_self
    )
    available = refs.shape[0] - (1 if exclude else 0)
    if k > available:
        what = "other points" if exclude else "references"
        raise ValueError(f"k={k} is larger than the number of {what} ({available}; Y has shape {refs.shape})")
    base = f"fastmetric-knn-{k}-" + token + tokenize(k, check_finite, n_threads, include_self)
    xs, ys = _starts(Q.chunks[0]), _starts(refs.chunks[0])
    what = ("X", "X" if refs is Q else "Y")
    dname, iname = base + "-dist", base + "-ind"
    for i in range(len(Q.chunks[0])):
        keys = []
        for j in range(len(refs.chunks[0])):
            diag = self_search and i == j
            meta = (name, dtype, check_finite, n_threads, k, exclude and diag, (i, xs[i]), (j, ys[j]), what)
            key = (base + "-pair", i, j)
            dsk[key] = (_knn_pair, (Q.name, i, 0), None if diag else (refs.name, j, 0), pkey, skey, meta)
            keys.append(key)
        top = _tree(dsk, base + "-merge", i, keys, _knn_merge, k)
        dsk[(dname, i, 0)] = (operator.getitem, top, 0)
        dsk[(iname, i, 0)] = (operator.getitem, top, 1)
    chunks = (Q.chunks[0], (k,))  # one layer per output array, each named like its array
    ind = da.Array(HighLevelGraph.from_collections(iname, dsk, dependencies=sources), iname, chunks, dtype=np.int64)
    if not return_distance:
        return ind
    return da.Array(HighLevelGraph.from_collections(dname, dsk, dependencies=sources), dname, chunks, dtype=dtype), ind


def _radius_pair(x, y, params, shift, meta):
    name, dtype, check_finite, n_threads, radius, exclude, (i, xs), (j, ys), what = meta
    A = _block(x, dtype, what[0], i, xs, check_finite)
    B = None if y is None else _block(y, dtype, what[1], j, ys, check_finite)
    dist, idx, off = _core.block_radius_neighbors(A, B, radius, name, shift, exclude, False,
                                                  n_threads=task_threads(n_threads), **params)
    idx += ys
    return dist, idx, off


def _radius_merge(a, b):
    """Row-wise concatenation of two CSR results over adjacent reference ranges (a's indices first)."""
    ca, cb = np.diff(a[2]), np.diff(b[2])
    rows = np.concatenate([np.repeat(np.arange(ca.size), ca), np.repeat(np.arange(cb.size), cb)])
    order = np.argsort(rows, kind="stable")
    off = np.zeros(ca.size + 1, np.int64)
    np.cumsum(ca + cb, out=off[1:])
    return np.concatenate([a[0], b[0]])[order], np.concatenate([a[1], b[1]])[order], off


def _radius_rows(res, sort_results, part):
    dist, idx, off = res
    n = off.shape[0] - 1
    if sort_results and idx.size:
        rows = np.repeat(np.arange(n), np.diff(off))
        order = np.lexsort((idx, dist, rows))
        dist, idx = dist[order], idx[order]
    out = np.empty(n, dtype=object)
    src = dist if part == 0 else idx
    for r in range(n):
        out[r] = src[off[r]:off[r + 1]]
    return out


def radius_neighbors(X, Y=None, radius=1.0, metric="euclidean", *, return_distance=True, sort_results=False,
                     include_self=False, n_threads=None, check_finite=True, **metric_kwargs):
    """Every reference within ``radius`` (inclusive) of each query, on Dask arrays: lazy object arrays
    ``(distances, indices)`` of per-query arrays (chunked like X's rows), equal to
    :func:`fastmetric.radius_neighbors`: indices global, each row in increasing index order or by
    (distance, index) with ``sort_results``. ``radius``: a number or a numpy vector with one radius
    per query.

    Examples
    --------
    >>> import numpy as np
    >>> import dask.array as da
    >>> import fastmetric as fm
    >>> import fastmetric.dask as fmd
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(1000, 8))
    >>> dX = da.from_array(X, chunks=(300, 8))  # 4 row blocks
    >>> dist, idx = fmd.radius_neighbors(dX, radius=2.0)  # lazy object arrays of per-query arrays
    >>> d_mem, i_mem = fm.radius_neighbors(X, radius=2.0)
    >>> all(np.array_equal(a, b) for a, b in zip(idx.compute(), i_mem))
    True
    """
    if isinstance(radius, (list, tuple, np.ndarray)) and np.ndim(radius) == 1:
        r = np.asarray(radius)
        if r.dtype.kind not in "iuf" or r.shape[0] != np.shape(X)[0]:
            raise ValueError(f"radius must be a number or a real vector with one entry per query; got shape {r.shape}")
        r = np.ascontiguousarray(r, dtype=np.float64)
        if not np.all(np.isfinite(r) & (r >= 0)):
            raise ValueError("every radius must be finite and >= 0")
    elif isinstance(radius, da.Array):
        raise TypeError("radius must be a number or a numpy vector (compute a dask radius first)")
    else:
        if isinstance(radius, bool) or not isinstance(radius, numbers.Real):
            raise TypeError(f"radius must be a real number or a vector of them, got {type(radius).__name__}")
        r = float(radius)
        if not (r >= 0) or not np.isfinite(r):
            raise ValueError(f"radius must be a finite number >= 0, got {radius}")
    Q, refs, exclude, self_search, name, dtype, dsk, pkey, skey, token, sources = _search_setup(
        X, Y, metric, metric_kwargs, include_self
    )
    base = "fastmetric-radius-" + token + tokenize(r, check_finite, n_threads, include_self, sort_results)
    xs, ys = _starts(Q.chunks[0]), _starts(refs.chunks[0])
    what = ("X", "X" if refs is Q else "Y")
    dname, iname = base + "-dist", base + "-ind"
    for i in range(len(Q.chunks[0])):
        ri = r if isinstance(r, float) else r[xs[i]:xs[i + 1]]
        keys = []
        for j in range(len(refs.chunks[0])):
            diag = self_search and i == j
            meta = (name, dtype, check_finite, n_threads, ri, exclude and diag, (i, xs[i]), (j, ys[j]), what)
            key = (base + "-pair", i, j)
            dsk[key] = (_radius_pair, (Q.name, i, 0), None if diag else (refs.name, j, 0), pkey, skey, meta)
            keys.append(key)
        top = _tree(dsk, base + "-merge", i, keys, _radius_merge)
        dsk[(dname, i)] = (_radius_rows, top, bool(sort_results), 0)
        dsk[(iname, i)] = (_radius_rows, top, bool(sort_results), 1)
    chunks = (Q.chunks[0],)
    ind = da.Array(HighLevelGraph.from_collections(iname, dsk, dependencies=sources), iname, chunks, dtype=object)
    if not return_distance:
        return ind
    return da.Array(HighLevelGraph.from_collections(dname, dsk, dependencies=sources), dname, chunks, dtype=object), ind


def _kernel_example(name, args, data="normal(size=(1000, 8))"):
    """The Examples section the named kernels share: the lazy result equals the in-memory kernel."""
    return f"""

    Examples
    --------
    >>> import numpy as np
    >>> import dask.array as da
    >>> import fastmetric as fm
    >>> import fastmetric.dask as fmd
    >>> X = np.random.default_rng(0).{data}
    >>> dX = da.from_array(X, chunks=(300, 8))  # 4 row blocks
    >>> K = fmd.{name}(dX, dX[:500]{args})  # lazy, one engine call per block pair
    >>> K.shape, K.chunks[0]
    ((1000, 500), (300, 300, 300, 100))
    >>> bool(np.allclose(K.compute(), fm.{name}(X, X[:500]{args}), rtol=1e-12, atol=1e-15))
    True
    """


for _kernel, _args in (
    (linear_kernel, ""),
    (polynomial_kernel, ", degree=2"),
    (rbf_kernel, ", gamma=0.1"),
    (laplacian_kernel, ", gamma=0.1"),
    (sigmoid_kernel, ", gamma=0.1"),
    (cosine_similarity, ""),
):
    _kernel.__doc__ = _kernel.__doc__.rstrip() + _kernel_example(_kernel.__name__, _args)
for _kernel, _args in ((chi2_kernel, ", gamma=0.5"), (additive_chi2_kernel, "")):  # non-negative data
    _kernel.__doc__ = _kernel.__doc__.rstrip() + _kernel_example(_kernel.__name__, _args, "random((1000, 8))")
