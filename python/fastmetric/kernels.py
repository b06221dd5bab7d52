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


# numpydoc sections the kernels share (appended to each kernel's own summary and parameters)
_XY_DOC = """
    X : array-like (n_samples_X, n_features)
        float32 stays float32; other numeric dtypes compute in float64.
    Y : array-like (n_samples_Y, n_features) or None
        None: Y = X, each pair computed once and the result exactly symmetric."""
_TAIL_DOC = """
    out : ndarray or None
        A C-contiguous array of the result's shape and dtype to write into (float64 is also
        accepted for float32 inputs).
    n_threads : int or None
        Threads (None: every core OpenMP allows). The result does not depend on it.
    check_finite : bool, default=True
        Scan the inputs for NaN / infinity first (ValueError); False skips the scan.

    Returns
    -------
    K : ndarray (n_samples_X, n_samples_Y)
        float32 for float32 inputs, else float64.
"""


def _kernel_doc(summary, params="", examples="", sparse=False):
    """The numpydoc docstring of one kernel: summary, X / Y, its own parameters, the shared tail."""
    xy = _XY_DOC
    if sparse:
        xy = xy.replace("(n_samples_X, n_features)\n", "(n_samples_X, n_features) or sparse matrix\n", 1)
        xy = xy.replace("(n_samples_Y, n_features) or None", "(n_samples_Y, n_features), sparse matrix or None")
    return f"{summary}\n\n    Parameters\n    ----------{xy}{params}{_TAIL_DOC}\n    Examples\n    --------\n{examples}"


_EX = """    >>> import numpy as np
    >>> import fastmetric as fm
    >>> X = np.array([[0., 1.], [1., 1.], [2., 0.]])
    >>> Y = np.array([[1., 0.]])
"""


def _features(X):
    shape = np.shape(X)
    return shape[1] if len(shape) == 2 and shape[1] > 0 else 1


def linear_kernel(X, Y=None, dense_output=True, *, out=None, n_threads=None, check_finite=True):
    return _run("linear", X, Y, out=out, n_threads=n_threads, check_finite=check_finite, dense_output=dense_output)


def polynomial_kernel(X, Y=None, degree=3, gamma=None, coef0=1, *, out=None, n_threads=None, check_finite=True):
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
    g = _gamma(gamma, _features(X))
    return _run(
        "sigmoid", X, Y, out=out, n_threads=n_threads, check_finite=check_finite, gamma=g, coef0=_real(coef0, "coef0")
    )


def rbf_kernel(X, Y=None, gamma=None, *, L=None, VI=None, out=None, n_threads=None, check_finite=True):
    d = _features(X)
    g = _gamma(gamma, d)
    Lm = metric_map(L, VI, d, np.float64)
    return _run("rbf", X, Y, out=out, n_threads=n_threads, check_finite=check_finite, gamma=g, L=Lm)


def laplacian_kernel(X, Y=None, gamma=None, *, L=None, VI=None, out=None, n_threads=None, check_finite=True):
    d = _features(X)
    g = _gamma(gamma, d)
    Lm = metric_map(L, VI, d, np.float64)
    return _run("laplacian", X, Y, out=out, n_threads=n_threads, check_finite=check_finite, gamma=g, L=Lm)


def cosine_similarity(X, Y=None, dense_output=True, *, out=None, n_threads=None, check_finite=True):
    return _run(
        "cosine_similarity", X, Y, out=out, n_threads=n_threads, check_finite=check_finite, dense_output=dense_output
    )


def chi2_kernel(X, Y=None, gamma=1.0, *, out=None, n_threads=None, check_finite=True):
    g = _gamma(gamma, _features(X))
    return _run("chi2", X, Y, out=out, n_threads=n_threads, check_finite=check_finite, nonneg=True, gamma=g)


def additive_chi2_kernel(X, Y=None, *, out=None, n_threads=None, check_finite=True):
    return _run("additive_chi2", X, Y, out=out, n_threads=n_threads, check_finite=check_finite, nonneg=True)


_GAMMA_DOC = """
    gamma : float or None
        None: 1 / n_features (scikit-learn's default)."""
_DENSE_DOC = """
    dense_output : bool, default=True
        False with both inputs sparse returns a sparse CSR result (scikit-learn's rule)."""
_LVI_DOC = """
    L : array (k, n_features) or None
        A learned linear map (a learner's ``components_``): the distance is ``|L (x - y)|``.
    VI : array (n_features, n_features) or None
        A positive semi-definite matrix: the distance is ``sqrt((x - y)^T VI (x - y))``."""

linear_kernel.__doc__ = _kernel_doc(
    "K[i, j] = <x_i, y_j> (scikit-learn's ``linear_kernel``); sparse inputs accepted.",
    _DENSE_DOC,
    _EX + """    >>> fm.linear_kernel(X, Y)
    array([[0.],
           [1.],
           [2.]])
""",
    sparse=True,
)
polynomial_kernel.__doc__ = _kernel_doc(
    "K = (gamma <x, y> + coef0) ** degree (scikit-learn's ``polynomial_kernel``); sparse inputs accepted.",
    """
    degree : float, default=3
        A non-integer degree with a negative base is a ValueError (it would be NaN)."""
    + _GAMMA_DOC
    + """
    coef0 : float, default=1""",
    _EX + """    >>> fm.polynomial_kernel(X, Y, degree=2, gamma=1.0, coef0=1)
    array([[1.],
           [4.],
           [9.]])
""",
    sparse=True,
)
sigmoid_kernel.__doc__ = _kernel_doc(
    "K = tanh(gamma <x, y> + coef0) (scikit-learn's ``sigmoid_kernel``); sparse inputs accepted.",
    _GAMMA_DOC
    + """
    coef0 : float, default=1""",
    _EX + """    >>> fm.sigmoid_kernel(X, Y, gamma=0.5, coef0=0)
    array([[0.        ],
           [0.46211716],
           [0.76159416]])
""",
    sparse=True,
)
rbf_kernel.__doc__ = _kernel_doc(
    "``K = exp(-gamma |x - y|^2)`` (scikit-learn's ``rbf_kernel``), optionally in a learned metric.\n\n"
    "    With ``L`` or ``VI`` the distance is the Mahalanobis one, ``|L (x - y)|^2 = (x - y)^T VI (x - y)``:\n"
    "    the Gaussian kernel in a learned metric. Sparse inputs are accepted (without ``L`` / ``VI``).",
    _GAMMA_DOC + _LVI_DOC,
    _EX + """    >>> fm.rbf_kernel(X, gamma=0.5)
    array([[1.        , 0.60653066, 0.082085  ],
           [0.60653066, 1.        , 0.36787944],
           [0.082085  , 0.36787944, 1.        ]])
    >>> fm.rbf_kernel(X, Y, gamma=1.0, L=np.array([[1., 0.]]))  # only the first feature counts
    array([[0.36787944],
           [1.        ],
           [0.36787944]])
""",
    sparse=True,
)
laplacian_kernel.__doc__ = _kernel_doc(
    "``K = exp(-gamma |x - y|_1)`` (scikit-learn's ``laplacian_kernel``); ``L`` / ``VI`` map the inputs first.",
    _GAMMA_DOC + _LVI_DOC,
    _EX + """    >>> fm.laplacian_kernel(X, Y, gamma=0.5)
    array([[0.36787944],
           [0.60653066],
           [0.60653066]])
""",
)
cosine_similarity.__doc__ = _kernel_doc(
    "``K = <x, y> / (|x| |y|)`` (scikit-learn's ``cosine_similarity``); sparse inputs accepted.\n\n"
    "    A zero row has similarity 0 with everything (scikit-learn's rule), never NaN.",
    _DENSE_DOC,
    _EX + """    >>> fm.cosine_similarity(X, Y)
    array([[0.        ],
           [0.70710678],
           [1.        ]])
""",
    sparse=True,
)
chi2_kernel.__doc__ = _kernel_doc(
    "K = exp(-gamma sum_k (x_k - y_k)^2 / (x_k + y_k)) for non-negative inputs, 0/0 terms counting 0\n"
    "    (scikit-learn's ``chi2_kernel``). A negative input is a ValueError.",
    """
    gamma : float, default=1.0""",
    _EX + """    >>> fm.chi2_kernel(X, Y, gamma=1.0)
    array([[0.13533528],
           [0.36787944],
           [0.71653131]])
""",
)
additive_chi2_kernel.__doc__ = _kernel_doc(
    "K = -sum_k (x_k - y_k)^2 / (x_k + y_k) for non-negative inputs, 0/0 terms counting 0\n"
    "    (scikit-learn's ``additive_chi2_kernel``). A negative input is a ValueError.",
    "",
    _EX + """    >>> fm.additive_chi2_kernel(X, Y)
    array([[-2.        ],
           [-1.        ],
           [-0.33333333]])
""",
)

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
    """scikit-learn's ``pairwise_kernels`` for the kernels of this module.

    Parameters
    ----------
    X : array-like (n_samples_X, n_features)
        The first operand (for ``metric="precomputed"``, the kernel matrix itself, returned as it is).
    Y : array-like (n_samples_Y, n_features) or None
        None: Y = X.
    metric : str, default="linear"
        One of :data:`KERNEL_METRICS` (linear, polynomial / poly, rbf, laplacian, sigmoid, cosine, chi2,
        additive_chi2) or "precomputed".
    filter_params : bool, default=False
        Drop keyword arguments the chosen kernel does not take, instead of raising TypeError.
    n_jobs : int or None
        scikit-learn's name for ``n_threads`` (used when ``n_threads`` is None).
    n_threads, out, check_finite
        As in the kernel functions.
    **kwds
        The kernel's parameters (``gamma``, ``degree``, ``coef0``, ``L``, ``VI``).

    Returns
    -------
    K : ndarray (n_samples_X, n_samples_Y)

    Examples
    --------
    >>> import numpy as np
    >>> import fastmetric as fm
    >>> X = np.array([[0., 1.], [1., 1.], [2., 0.]])
    >>> fm.pairwise_kernels(X, np.array([[1., 0.]]), metric="rbf", gamma=0.5)
    array([[0.36787944],
           [0.60653066],
           [0.60653066]])
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

    Parameters
    ----------
    K : array (n, n) or (n_test, n)
        The training Gram matrix, or a test kernel against the training set.
    K_train : array (n, n) or None
        The training Gram matrix whose statistics centre a test kernel.
    copy : bool, default=True
        False centres K in place (a writeable float ndarray).

    Returns
    -------
    Kc : ndarray, K's shape

    Examples
    --------
    >>> import numpy as np
    >>> import fastmetric as fm
    >>> X = np.array([[0., 1.], [1., 1.], [2., 0.]])
    >>> fm.center_kernel(fm.linear_kernel(X))
    array([[ 1.11111111,  0.11111111, -1.22222222],
           [ 0.11111111,  0.11111111, -0.22222222],
           [-1.22222222, -0.22222222,  1.44444444]])
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
