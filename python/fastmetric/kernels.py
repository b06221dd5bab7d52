"""scikit-learn compatible kernel matrices, with the non-linearity fused into the engine's tiles.

Each kernel is one pass of the tiled driver: the dot products (or L1 / chi2 sums) of a tile are
turned into kernel values -- exp, tanh, (.)^degree -- while the tile is in cache, and written once.
"""

from __future__ import annotations

import numbers

import numpy as np

from . import _core
from ._validation import check_out, new_output, plain_threads, resolve_n_threads, validate_pair
from .distances import metric_map

# sparse inputs (issue 16 part 3): the sparse paths live in _sparse.py
from ._sparse import is_sparse, sparse_kernel

__all__ = [
    "pairwise_kernels",
    "linear_kernel",
    "polynomial_kernel",
    "rbf_kernel",
    "laplacian_kernel",
    "sigmoid_kernel",
    "cosine_similarity",
    "chi2_kernel",
    "additive_chi2_kernel",
    "center_kernel",
    "KERNEL_METRICS",
]


def _scalar(value):
    """A 0-d numeric array (as numpy reductions return) as its scalar; anything else unchanged."""
    if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "fiu":
        return value[()]
    return value


def _gamma(gamma, d, name="gamma"):
    if gamma is None:
        return 1.0 / d
    gamma = _scalar(gamma)
    if isinstance(gamma, bool) or not isinstance(gamma, numbers.Real):
        raise TypeError(f"{name} must be a real number or None, got {type(gamma).__name__}")
    g = float(gamma)
    if not np.isfinite(g) or g < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {gamma}")
    return g


def _real(value, name):
    value = _scalar(value)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    v = float(value)
    if not np.isfinite(v):
        raise ValueError(f"{name} must be finite, got {value}")
    return v


def _run(name, X, Y, *, out=None, n_threads=None, check_finite=True, nonneg=False, dense_output=True, **core):
    if is_sparse(X) or is_sparse(Y):  # sparse inputs (issue 16 part 3)
        if out is not None:
            raise TypeError("out= is not supported with sparse input; the result is a new array")
        if core.get("L") is not None:
            raise ValueError(f"{name} kernel with L / VI does not support sparse input")
        kw = {k: v for k, v in core.items() if k in ("gamma", "coef0", "degree") and v is not None}
        return sparse_kernel(
            name, X, Y, dense_output=dense_output, check_finite=check_finite, n_threads=n_threads, **kw
        )
    if out is None and not nonneg and core.get("L") is None:  # native float ndarrays: checked in C++
        nt = plain_threads(n_threads)
        if nt is not None:
            g, c0, deg = core.get("gamma"), core.get("coef0"), core.get("degree")
            K = _core.plain_pairwise(
                X,
                Y,
                name,
                False,
                bool(check_finite),
                1.0 if g is None else g,
                1.0 if c0 is None else c0,
                3.0 if deg is None else deg,
                nt,
            )
            if K is not None:
                return K
    A, B, alias = validate_pair(X, Y, check_finite, ("X", "Y"))
    if out is not None and isinstance(out, np.ndarray) and out.dtype == np.float64 and A.dtype == np.float32:
        A = A.astype(np.float64)
        B = A if alias else B.astype(np.float64)
    if nonneg and ((A < 0).any() or (not alias and (B < 0).any())):
        raise ValueError(f"{name} kernel needs non-negative inputs (it is defined on histograms); got negative values")
    core = {k: v for k, v in core.items() if v is not None}
    if "L" in core:
        core["L"] = np.ascontiguousarray(core["L"], dtype=A.dtype)
    shape = (A.shape[0], B.shape[0])
    if out is None:
        out = new_output(shape, A.dtype)
    else:
        check_out(out, shape, A.dtype, (A, B))
    if out.size:
        _core.pairwise(A, None if alias else B, out, name, n_threads=resolve_n_threads(n_threads), **core)
    return out


def _features(X):
    shape = np.shape(X)
    return shape[1] if len(shape) == 2 and shape[1] > 0 else 1


def linear_kernel(X, Y=None, dense_output=True, *, out=None, n_threads=None, check_finite=True):
    """K[i, j] = <x_i, y_j> (scikit-learn's ``linear_kernel``).

    Sparse X and / or Y are accepted (as are they by the polynomial, rbf, sigmoid and cosine kernels);
    ``dense_output=False`` with both sparse returns a sparse CSR result, as in scikit-learn.
    """
    return _run("linear", X, Y, out=out, n_threads=n_threads, check_finite=check_finite, dense_output=dense_output)


def polynomial_kernel(X, Y=None, degree=3, gamma=None, coef0=1, *, out=None, n_threads=None, check_finite=True):
    """K = (gamma <x, y> + coef0) ** degree; gamma=None means 1/n_features."""
    deg = _real(degree, "degree")
    if deg < 0:
        raise ValueError(f"degree must be >= 0, got {degree}")
    g = _gamma(gamma, _features(X))
    c0 = _real(coef0, "coef0")
    K = _run("polynomial", X, Y, out=out, n_threads=n_threads, check_finite=check_finite, gamma=g, coef0=c0, degree=deg)
    if deg != int(deg) and np.isnan(K).any():
        raise ValueError(
            f"non-integer degree={degree} with a negative base gamma*<x,y>+coef0 is undefined (NaN); "
            "use an integer degree or a larger coef0"
        )
    return K


def sigmoid_kernel(X, Y=None, gamma=None, coef0=1, *, out=None, n_threads=None, check_finite=True):
    """K = tanh(gamma <x, y> + coef0); gamma=None means 1/n_features."""
    g = _gamma(gamma, _features(X))
    return _run(
        "sigmoid", X, Y, out=out, n_threads=n_threads, check_finite=check_finite, gamma=g, coef0=_real(coef0, "coef0")
    )


def rbf_kernel(X, Y=None, gamma=None, *, L=None, VI=None, out=None, n_threads=None, check_finite=True):
    """K = exp(-gamma ||x - y||^2); gamma=None means 1/n_features.

    With ``L`` (k x d) or ``VI`` (d x d, PSD) the distance is the learned Mahalanobis one,
    ||L (x - y)||^2 = (x - y)^T VI (x - y): the Gaussian kernel in a learned metric.
    """
    d = _features(X)
    g = _gamma(gamma, d)
    Lm = metric_map(L, VI, d, np.float64)
    return _run("rbf", X, Y, out=out, n_threads=n_threads, check_finite=check_finite, gamma=g, L=Lm)


def laplacian_kernel(X, Y=None, gamma=None, *, L=None, VI=None, out=None, n_threads=None, check_finite=True):
    """K = exp(-gamma ||x - y||_1); gamma=None means 1/n_features. ``L``/``VI`` map the inputs first."""
    d = _features(X)
    g = _gamma(gamma, d)
    Lm = metric_map(L, VI, d, np.float64)
    return _run("laplacian", X, Y, out=out, n_threads=n_threads, check_finite=check_finite, gamma=g, L=Lm)


def cosine_similarity(X, Y=None, dense_output=True, *, out=None, n_threads=None, check_finite=True):
    """K = <x, y> / (||x|| ||y||); a zero row has similarity 0 with everything (scikit-learn's rule).

    Sparse X and / or Y are accepted; ``dense_output=False`` with both sparse returns sparse CSR.
    """
    return _run(
        "cosine_similarity", X, Y, out=out, n_threads=n_threads, check_finite=check_finite, dense_output=dense_output
    )


def chi2_kernel(X, Y=None, gamma=1.0, *, out=None, n_threads=None, check_finite=True):
    """K = exp(-gamma sum_k (x_k - y_k)^2 / (x_k + y_k)) for non-negative inputs (0/0 counts as 0)."""
    g = _gamma(gamma, _features(X))
    return _run("chi2", X, Y, out=out, n_threads=n_threads, check_finite=check_finite, nonneg=True, gamma=g)


def additive_chi2_kernel(X, Y=None, *, out=None, n_threads=None, check_finite=True):
    """K = -sum_k (x_k - y_k)^2 / (x_k + y_k) for non-negative inputs."""
    return _run("additive_chi2", X, Y, out=out, n_threads=n_threads, check_finite=check_finite, nonneg=True)


_KERNELS = {
    "linear": (linear_kernel, set()),
    "polynomial": (polynomial_kernel, {"degree", "gamma", "coef0"}),
    "poly": (polynomial_kernel, {"degree", "gamma", "coef0"}),
    "rbf": (rbf_kernel, {"gamma", "L", "VI"}),
    "laplacian": (laplacian_kernel, {"gamma", "L", "VI"}),
    "sigmoid": (sigmoid_kernel, {"gamma", "coef0"}),
    "cosine": (cosine_similarity, set()),
    "chi2": (chi2_kernel, {"gamma"}),
    "additive_chi2": (additive_chi2_kernel, set()),
}
#: Kernel names accepted by :func:`pairwise_kernels`.
KERNEL_METRICS = tuple(sorted(_KERNELS))


def pairwise_kernels(
    X, Y=None, metric="linear", *, filter_params=False, n_jobs=None, n_threads=None, out=None, check_finite=True, **kwds
):
    """scikit-learn's ``pairwise_kernels`` for the kernels above (``metric="precomputed"`` passes X through).

    Parameters not taken by the chosen kernel raise TypeError, unless ``filter_params=True`` drops them.
    """
    if n_threads is None:
        n_threads = n_jobs
    if metric == "precomputed":
        A = np.asarray(X)
        if Y is not None and A.shape[1] != np.shape(Y)[0]:
            raise ValueError(f"precomputed kernel of shape {A.shape} does not match Y with {np.shape(Y)[0]} rows")
        return A
    if callable(metric) or not isinstance(metric, str) or metric not in _KERNELS:
        raise ValueError(f"unknown kernel {metric!r}; supported: {', '.join(KERNEL_METRICS)}, precomputed")
    func, allowed = _KERNELS[metric]
    stray = set(kwds) - allowed
    if stray and not filter_params:
        raise TypeError(f"kernel {metric!r} got unexpected keyword argument(s) {', '.join(sorted(stray))}")
    kw = {k: v for k, v in kwds.items() if k in allowed}
    return func(X, Y, out=out, n_threads=n_threads, check_finite=check_finite, **kw)


def center_kernel(K, K_train=None, *, copy=True):
    """Centre a kernel matrix in feature space (what kernel PCA and kernel metric learning need).

    ``center_kernel(K)``: K is the (n, n) training Gram matrix; returns H K H with H = I - 1/n.
    ``center_kernel(K_test, K_train)``: K_test is (n_test, n_train) against the same training set;
    centred with the training statistics (scikit-learn's ``KernelCenterer.transform``).
    ``copy=False`` centres a float ndarray in place and returns it.
    """
    Kt = np.asarray(K_train) if K_train is not None else None
    if copy or not isinstance(K, np.ndarray) or K.dtype.kind != "f" or not K.flags.writeable:
        if not copy:
            raise ValueError("copy=False needs a writeable floating-point ndarray")
        arr = np.array(
            K, dtype=np.result_type(np.asarray(K).dtype, np.float32) if np.asarray(K).dtype.kind == "f" else np.float64
        )
    else:
        arr = K
    if arr.ndim != 2:
        raise ValueError(f"a kernel matrix must be 2-D; got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError("the kernel matrix contains NaN or infinity")
    if Kt is None:
        if arr.shape[0] != arr.shape[1]:
            raise ValueError(f"center_kernel(K) needs a square training Gram matrix; got shape {arr.shape}")
        if arr.size == 0:
            return arr
        col = arr.mean(axis=0, dtype=np.float64)
        total = col.mean()
        row = arr.mean(axis=1, dtype=np.float64)
    else:
        if Kt.ndim != 2 or Kt.shape[0] != Kt.shape[1]:
            raise ValueError(f"K_train must be the square training Gram matrix; got shape {Kt.shape}")
        if arr.shape[1] != Kt.shape[0]:
            raise ValueError(f"K_test has shape {arr.shape}; its columns must match K_train's {Kt.shape[0]} rows")
        if Kt.size == 0:
            return arr
        col = Kt.mean(axis=0, dtype=np.float64)
        total = col.mean()
        row = arr.mean(axis=1, dtype=np.float64) if arr.size else np.zeros(arr.shape[0])
    arr -= row[:, None].astype(arr.dtype)
    arr -= col[None, :].astype(arr.dtype)
    arr += arr.dtype.type(total)
    return arr
