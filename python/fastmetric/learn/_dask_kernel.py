"""KernelNCA, KernelMLKR and KernelLMNN on Dask arrays (issue 14): Nystroem features as a Dask array.

The kernel learners fit their linear learner on the kernel features Phi (``_kernel_features.py``).
With a Dask X and ``n_landmarks=m`` the fit is the in-memory one, step for step:

1. the landmark rows are drawn by ``select_landmarks`` with the same n, m, class codes and
   ``random_state`` as in memory (so the same indices), and only those m rows are gathered to the
   client (m x d);
2. the client factors their m x m kernel matrix once (``KernelFeatureMap.fit_landmarks``: the same
   eigenvalue cut and projection V_r diag(lambda_r)^(-1/2));
3. Phi = X.map_blocks(features of a block): each task computes its rows' kernel values against the
   landmarks and their product with the projection (n x r in all, chunked like X's rows); Phi is
   persisted once, since every L-BFGS evaluation reads it (on the workers when a distributed Client
   is the default scheduler; a local scheduler, or ``scheduler=client.get``, holds it in the client
   and ships its blocks with every evaluation);
4. the inner ``NCA`` / ``MLKR`` / ``LMNN`` fits on that Dask Phi (NCA / MLKR: ``fit_dask``, the exact
   loss and gradient over the block pairs; LMNN: its Dask fit, ``_dask_lmnn.py``), and
   A = L diag(lambda_r)^(-1/2) V_r^T as in memory.

What reaches the client: y, the m landmark rows, the m x m factorisation and the small r x r / k x r
results of each evaluation; never an n x m or n x n matrix. The features differ from the in-memory ones
only by the rounding of kernel values computed on other row blocks, so the fitted map agrees with the
in-memory fit to rounding.

Refused with a ValueError: ``n_landmarks=None`` (or >= n_samples: the exact learner factors the n x n
kernel matrix in memory), ``kernel="precomputed"`` (the n x n matrix itself), a ``preprocessor``, and
KernelLFDA (no distributed fit). ``transform`` of a Dask X is lazy for
every kernel learner, however fitted: z = A k(x), one task per row block.
"""

from __future__ import annotations

import numpy as np

from ._kernel_features import KernelFeatureMap, kernel_params, select_landmarks

__all__ = ["dask_targets", "fit_kernel_dask", "transform_kernel_dask"]

_DASK_LEARNERS = ("NCA", "MLKR", "LMNN")


def _checked_block(block, dtype, kernel, what):
    A = np.ascontiguousarray(block, dtype=dtype)
    if not np.isfinite(A).all():
        raise ValueError(f"{what} block of shape {A.shape} contains NaN or infinity")
    if kernel == "chi2" and (A < 0).any():
        raise ValueError("the chi2 kernel is defined on non-negative data (histograms); X has negative values")
    return A


def _map_block(block, kernel, params, landmarks, indices, B, dtype):
    """k(x) B^T of a row block (one task): kernel values against the landmarks (or, for a precomputed
    kernel, the block's landmark columns), then the product, with the task's engine threads."""
    from ..dask import task_threads

    A = _checked_block(block, dtype, kernel, "X")
    fmap = KernelFeatureMap(kernel, params, task_threads())
    fmap.indices, fmap.landmarks = indices, landmarks
    if A.shape[0] == 0:
        return np.empty((0, B.shape[0]), dtype)
    return fmap.map_rows(A, B)


def _dtype(X):
    return np.dtype(np.float32 if X.dtype == np.float32 else np.float64)


def dask_targets(est, y, n):
    """(strata, target) of the in-memory fit for a learner's y (numpy or Dask): class codes twice for
    the classification learners (sets ``classes_``), (None, float64 targets) for the regressors."""
    from sklearn.utils.multiclass import check_classification_targets

    from ._dask_fit import is_dask_array

    if y is None:
        raise ValueError(f"{est._name()} requires y to be passed, but the target y is None")
    if is_dask_array(y):
        y = y.compute()
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1 or y.shape[0] != n:
        raise ValueError(f"X and y have different numbers of samples: X has {n} rows, y has shape {y.shape}")
    if getattr(est, "_targets", "classes") != "classes":  # the kernel learners say; LMNN: classes
        target = np.asarray(y, dtype=np.float64)
        if not np.isfinite(target).all():
            raise ValueError(f"{est._name()}: the targets y contain NaN or infinity")
        return None, target
    check_classification_targets(y)
    classes, codes = np.unique(y, return_inverse=True)
    codes = codes.ravel().astype(np.intp)
    if classes.shape[0] < 2:
        raise ValueError(f"{est._name()} needs labels of at least 2 classes; y has {classes.shape[0]}")
    if classes.shape[0] >= n:
        raise ValueError(f"{est._name()}: fewer samples than classes is not learnable")
    est.classes_ = classes
    return codes, codes


def fit_kernel_dask(est, X, y):
    """Fit a kernel learner (KernelNCA / KernelMLKR / KernelLMNN) on a Dask X with ``n_landmarks=m``: the module
    docstring's steps. Returns ``est``."""
    from ..dask import check_array

    name = est._name()
    if est._linear is None or est._linear.__name__ not in _DASK_LEARNERS:
        raise ValueError(
            f"{name} does not fit on a Dask X (KernelNCA, KernelMLKR and KernelLMNN do, through the "
            "distributed NCA / MLKR / LMNN fits); pass a numpy X (X.compute()), or use KernelNCA"
        )
    if est.kernel == "precomputed":
        raise ValueError(
            f"{name}: kernel='precomputed' with a Dask X is not supported: the square n x n training kernel "
            "matrix is what the Dask fit avoids; pass the data X with a kernel name (e.g. kernel='rbf') and "
            "n_landmarks=m, or a numpy kernel matrix"
        )
    if getattr(est, "preprocessor", None) is not None:
        raise ValueError(f"{name}: a Dask X holds the points themselves; preprocessor must be None")
    X = check_array(X, "X")
    n, d = X.shape
    m = est.n_landmarks
    if m is None or m >= n:
        raise ValueError(
            f"{name}: n_landmarks={m} with a Dask X of {n} rows is the exact kernel learner, which factors the "
            f"{n} x {n} kernel matrix in memory (O(n^2) memory, O(n^3) time); pass n_landmarks=m < {n} "
            "(a Nystroem approximation, e.g. 1000) or a numpy X"
        )
    if n < 2:
        raise ValueError(f"X needs at least 2 samples, got shape {X.shape}")
    dtype = _dtype(X)
    strata, target = dask_targets(est, y, n)
    params = kernel_params(est.kernel, est.gamma, est.degree, est.coef0, d)
    indices = select_landmarks(n, int(m), strata, getattr(est, "random_state", None))
    landmarks = _checked_block(X[indices].compute(), dtype, est.kernel, "the landmark rows of X")
    fmap = KernelFeatureMap(est.kernel, params, getattr(est, "n_threads", None))
    fmap.fit_landmarks(landmarks, indices, dtype)
    B = np.ascontiguousarray(fmap.projection.T, dtype=dtype)
    r = B.shape[0]
    Phi = X.map_blocks(
        _map_block, est.kernel, params, fmap.landmarks, fmap.indices, B, dtype, dtype=dtype, chunks=(X.chunks[0], (r,))
    ).persist()
    est.n_features_in_ = d
    k = est._resolved_n_components(d, r)
    inner = est._linear(**{p: getattr(est, p) for p in est._forward}, n_components=k)
    inner.fit(Phi, target)
    del Phi
    return est._adopt_inner(fmap, params, inner, dtype)


def transform_kernel_dask(est, X):
    """Lazy z = A k(x) of a Dask X (any fitted kernel learner): one task per row block. For
    ``kernel="precomputed"`` X is the kernel against the training points, (n_new, n_train)."""
    from ..dask import check_array

    A = est._components()
    X = check_array(X, "X")
    if X.shape[1] != est.n_features_in_:
        raise ValueError(
            f"X has {X.shape[1]} features (shape {X.shape}); {est._name()} was fitted on {est.n_features_in_}"
        )
    dtype = _dtype(X)
    A = np.ascontiguousarray(A, dtype=dtype)
    landmarks = est.landmarks_
    return X.map_blocks(
        _map_block,
        est.kernel,
        dict(est.kernel_params_),
        landmarks,
        np.asarray(est.landmark_indices_, dtype=np.int64),
        A,
        dtype,
        dtype=dtype,
        chunks=(X.chunks[0], (A.shape[0],)),
    )
