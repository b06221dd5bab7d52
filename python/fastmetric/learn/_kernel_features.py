"""The kernel feature map of the kernel learners: features Phi with Phi Phi^T = K, exact or Nystroem.

A positive semi-definite kernel matrix on m reference points ("landmarks") factors as
K_mm = V diag(lambda) V^T. Mapping a point x to

    phi(x) = diag(lambda_r)^(-1/2) V_r^T k(x),   k(x) = (k(x, l_1), ..., k(x, l_m)),      (1)

(r the eigenvalues kept, below) gives phi(l_i)^T phi(l_j) = K_mm[i, j] on the landmarks and, for
other points, the Nystroem approximation phi(x)^T phi(x') = k(x)^T K_mm^+ k(x'). With every training
point a landmark (``n_landmarks=None``) the training features are exactly Phi = V_r diag(lambda_r)^(1/2),
Phi Phi^T = K (up to the dropped eigenvalues), and (1) is the exact extension to new points: the
exact learner is the Nystroem learner at m = n, so the two agree as m approaches n.

A linear map L (n_components x r) on phi is the map A = L diag(lambda_r)^(-1/2) V_r^T
(n_components x m) on the empirical kernel map, z = A k(x): the kernel learners fit the linear
learners on Phi and store A, so ``transform`` is one kernel tile against the landmarks and a product.

Regularisation: eigenvalues at or below ``lambda_max * m * eps(dtype)`` are dropped (a pseudo-inverse
square root). m * eps * lambda_max bounds the rounding error of the kernel values in the eigenvalues
(Weyl), so the dropped directions are the ones rounding cannot tell from zero; keeping them would
multiply that rounding by lambda^(-1/2) in (1). Singular and ill-conditioned K_mm (duplicate points,
a low-rank kernel such as "linear" or "poly" on few features) therefore give finite features of a
smaller rank r, never NaN. Negative eigenvalues -- indefinite kernels such as "sigmoid", or a
precomputed matrix that is not positive semi-definite -- are dropped the same way: the features are
those of the nearest positive semi-definite kernel on the landmarks.

Landmarks: ``n_landmarks=m < n_samples`` draws m training rows without replacement with
``random_state``; with class labels the draw is stratified (each class gets its share of m by
largest remainders, at least one landmark per class while m allows), so that small classes are
represented. ``m >= n_samples`` uses every training row (the exact map) after a warning when m > n.
Memory: the training features (n x r) and one row block of kernel values (at most 2^22 entries);
never n x n on the Nystroem path.
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np

from .. import _core
from .._validation import resolve_n_threads
from ..kernels import pairwise_kernels
from ._base import blas_single_thread

__all__ = ["KERNELS", "KernelFeatureMap", "kernel_params", "select_landmarks"]

#: kernel names of the kernel learners (``poly`` and ``polynomial`` are the same kernel)
KERNELS = ("linear", "poly", "polynomial", "rbf", "laplacian", "sigmoid", "cosine", "chi2", "precomputed")
#: the parameters each kernel takes
_TAKES = {
    "linear": (),
    "poly": ("gamma", "degree", "coef0"),
    "polynomial": ("gamma", "degree", "coef0"),
    "rbf": ("gamma",),
    "laplacian": ("gamma",),
    "sigmoid": ("gamma", "coef0"),
    "cosine": (),
    "chi2": ("gamma",),
    "precomputed": (),
}
#: kernel values per block of rows evaluated at once (16 MiB in float32)
BLOCK_ENTRIES = 1 << 22
#: above this many training rows the exact map warns (its n x n kernel is 3.2 GB at 20,000)
EXACT_WARN_ROWS = 20000


def _real(value, name, *, positive=False, nonneg=False):
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    v = float(value)
    if not np.isfinite(v):
        raise ValueError(f"{name} must be finite, got {value}")
    if positive and v <= 0:
        raise ValueError(f"{name} must be > 0, got {value}")
    if nonneg and v < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return v


def kernel_params(kernel, gamma, degree, coef0, n_features):
    """Check the kernel and its parameters; returns the keyword arguments of ``pairwise_kernels``.

    ``gamma=None`` is the kernel's scikit-learn default: 1 / n_features for "rbf", "laplacian",
    "poly" and "sigmoid", 1.0 for "chi2". Parameters a kernel does not take are ignored, as in
    scikit-learn's ``KernelPCA``.
    """
    if not isinstance(kernel, str) or kernel not in KERNELS:
        raise ValueError(f"unknown kernel {kernel!r}; supported: {', '.join(KERNELS)}")
    takes = _TAKES[kernel]
    out = {}
    if "gamma" in takes:
        if gamma is None:
            out["gamma"] = 1.0 if kernel == "chi2" else 1.0 / max(int(n_features), 1)
        else:
            out["gamma"] = _real(gamma, "gamma", positive=True)
    if "degree" in takes:
        d = _real(degree, "degree", positive=True)
        if d != int(d):
            raise ValueError(f"degree must be a whole number, got {degree}")
        out["degree"] = int(d)
    if "coef0" in takes:
        out["coef0"] = _real(coef0, "coef0")
    return out


def select_landmarks(n, m, codes=None, random_state=None):
    """Indices (sorted, int64) of m of the n training rows; all of them when m >= n.

    Seeded uniform draw without replacement; stratified by ``codes`` (class codes >= 0) when given.
    """
    if m >= n:
        return np.arange(n, dtype=np.int64)
    from sklearn.utils import check_random_state

    rng = check_random_state(random_state)
    if codes is None:
        return np.sort(rng.choice(n, size=m, replace=False)).astype(np.int64)
    codes = np.asarray(codes)
    classes, counts = np.unique(codes, return_counts=True)
    share = m * counts / n
    take = np.floor(share).astype(np.int64)
    if m >= classes.size:
        take = np.maximum(take, 1)
    take = np.minimum(take, counts)
    left = m - int(take.sum())
    if left > 0:  # largest remainders first, ties by class order; never beyond a class's size
        order = np.lexsort((np.arange(classes.size), -(share - np.floor(share))))
        while left > 0:
            for c in order:
                if left == 0:
                    break
                if take[c] < counts[c]:
                    take[c] += 1
                    left -= 1
    elif left < 0:  # the "at least one" rule overshot: trim the largest shares
        for c in np.argsort(-take, kind="stable"):
            while left < 0 and take[c] > 1:
                take[c] -= 1
                left += 1
    picked = [
        rng.choice(np.flatnonzero(codes == c), size=int(t), replace=False)
        for c, t in zip(classes, take, strict=True)
        if t
    ]
    return np.sort(np.concatenate(picked)).astype(np.int64)


class KernelFeatureMap:
    """The fitted map (1): landmarks, kernel parameters, V_r diag(lambda_r)^(-1/2)."""

    def __init__(self, kernel, params, n_threads=None):
        self.kernel = kernel
        self.params = dict(params)
        self.n_threads = n_threads
        self.indices = None  # landmark rows of the training data
        self.landmarks = None  # their features (None for a precomputed kernel)
        self.eigenvalues = None  # lambda_r, float64, descending
        self.projection = None  # V_r diag(lambda_r)^(-1/2): (m, r) float64

    # ------------------------------------------------------------------ kernel values
    def _kernel(self, A, B):
        return pairwise_kernels(A, B, metric=self.kernel, n_threads=self.n_threads, **self.params)

    def kernel_columns(self, X, rows=slice(None)):
        """k(x) for the rows ``rows`` of X: (n_rows, m) in X's dtype. X is the raw input (for a
        precomputed kernel: the kernel against the training rows)."""
        if self.kernel == "precomputed":
            return np.ascontiguousarray(X[rows][:, self.indices])
        return self._kernel(X[rows], self.landmarks)

    def row_blocks(self, n):
        step = max(1, BLOCK_ENTRIES // max(1, self.indices.size))
        return [slice(s, min(n, s + step)) for s in range(0, n, step)]

    # ------------------------------------------------------------------ fit
    def fit(self, X, n_landmarks=None, codes=None, random_state=None, stacklevel=4):
        """Choose the landmarks, factor K_mm and return the training features Phi (n, r) in X's dtype."""
        n = X.shape[0]
        if self.kernel == "precomputed" and X.shape[0] != X.shape[1]:
            raise ValueError(
                f"kernel='precomputed' needs the square training kernel matrix K(X_train, X_train); got shape {X.shape}"
            )
        if self.kernel == "chi2" and (X < 0).any():
            raise ValueError("the chi2 kernel is defined on non-negative data (histograms); X has negative values")
        m = n if n_landmarks is None else int(n_landmarks)
        if n_landmarks is not None and m > n:
            warnings.warn(
                f"n_landmarks={m} is larger than n_samples={n}: every training row is a landmark (the exact map)",
                UserWarning,
                stacklevel=stacklevel,
            )
        self.indices = select_landmarks(n, m, codes, random_state)
        exact = self.indices.size == n
        if exact and n > EXACT_WARN_ROWS:
            warnings.warn(
                f"the exact kernel learner on {n} samples factors an {n} x {n} float64 kernel matrix "
                f"({8 * n * n / 2**30:.1f} GiB, O(n^3) time); n_landmarks=m (e.g. 1000) learns on a Nystroem "
                "approximation in O(n m) memory",
                UserWarning,
                stacklevel=stacklevel,
            )
        if self.kernel == "precomputed":
            self.landmarks = None
            V = self.factor(np.asarray(X[np.ix_(self.indices, self.indices)], dtype=np.float64), X.dtype)
        else:
            V = self.fit_landmarks(X[self.indices], self.indices, X.dtype)
        if exact:  # the training features themselves, without the product K V: Phi = V sqrt(lambda)
            return np.ascontiguousarray(V * np.sqrt(self.eigenvalues)[None, :], dtype=X.dtype)
        return self.map_rows(X, np.ascontiguousarray(self.projection.T, dtype=X.dtype))

    def fit_landmarks(self, landmarks, indices, dtype):
        """Set the landmarks (rows ``indices`` of the training data, in its dtype) and factor their
        kernel matrix (returns the kept eigenvectors V_r); what ``fit`` does once the rows are drawn (the
        Dask fit gathers them itself)."""
        self.indices = np.asarray(indices, dtype=np.int64)
        self.landmarks = np.ascontiguousarray(landmarks, dtype=dtype)
        return self.factor(np.asarray(self._kernel(self.landmarks.astype(np.float64), None), dtype=np.float64), dtype)

    def factor(self, Kmm, dtype):
        """Eigenvalues kept and projection V_r diag(lambda_r)^(-1/2) of the landmark kernel matrix
        (the cut of the module docstring at the precision of ``dtype``); returns the kept eigenvectors V_r."""
        Kmm = 0.5 * (Kmm + Kmm.T)
        with blas_single_thread():  # OpenBLAS's threads beside ours: 1.3 s instead of 0.1 s at m = 700, loaded
            lam, V = np.linalg.eigh(Kmm)
        lam, V = lam[::-1], V[:, ::-1]
        top = float(lam[0]) if lam.size else 0.0
        cut = max(top, 0.0) * self.indices.size * float(np.finfo(dtype).eps)
        keep = lam > cut
        if not keep.any():
            raise ValueError(
                f"the {self.kernel} kernel matrix of the training data is zero (largest eigenvalue {top:.3g}): "
                "no feature can be learned; check the kernel parameters and the data"
            )
        lam, V = lam[keep], V[:, keep]
        self.eigenvalues = lam
        self.projection = V / np.sqrt(lam)[None, :]
        return V

    def map_rows(self, X, B):
        """k(x) B^T for every row of X, B (p, m): (n, p) in X's dtype, one row block of kernel values at
        a time, the products on the engine (thread-count independent)."""
        n = X.shape[0]
        out = np.empty((n, B.shape[0]), dtype=X.dtype)
        nt = resolve_n_threads(self.n_threads)
        for rows in self.row_blocks(n):
            _core.linear_map(self.kernel_columns(X, rows), None, B, out[rows], nt)
        return out

    # ------------------------------------------------------------------ the learned map
    def coefficients(self, L, dtype):
        """A = L diag(lambda)^(-1/2) V^T (n_components, m) for a map L (n_components, r) on the features."""
        return np.ascontiguousarray(np.asarray(L, dtype=np.float64) @ self.projection.T, dtype=dtype)

    def embed(self, X, A):
        """z = A k(x) for every row of X: (n, n_components) in X's dtype, by row blocks."""
        return self.map_rows(X, np.ascontiguousarray(A, dtype=X.dtype))
