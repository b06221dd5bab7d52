"""The base shared by every metric learner of :mod:`fastmetric.learn`.

A learner finds a linear map L (``components_``, shape ``(n_components, n_features)``) so that the
learned distance is d(x, y) = ||L (x - y)||, i.e. a Mahalanobis distance with M = L^T L. Names follow
metric-learn 0.7 so that users switch by changing the import.

Contract for subclasses (read this before writing a learner)
-----------------------------------------------------------
Subclass :class:`MahalanobisMixin` (already a scikit-learn ``BaseEstimator`` + ``TransformerMixin``).

``__init__``
    Store the parameters exactly as given, nothing else (scikit-learn rule). The helpers expect the
    usual names when they exist: ``n_components``, ``init``, ``max_iter``, ``tol``, ``verbose``,
    ``random_state``, ``n_threads``.

``fit(X, y)`` must
    1. validate: ``X, y = self._validate_supervised(X, y)`` (labels: returns X as float32 if it was
       float32, else float64, C-contiguous, finite; y as integer codes 0..n_classes-1, and sets
       ``self.classes_``; clear errors for NaN/inf, one class, every class a singleton, mismatched
       lengths; ``partial=True`` for learners that draw constraints from labels: labels < 0 are then
       unlabelled points, code -1) -- or ``X = self._validate_unsupervised(X)`` for learners without labels, or
       ``self._validate_targets(X, y)`` for regression targets (MLKR);
    2. ``k = self._n_components_checked(X.shape[1])`` and, for gradient learners,
       ``L0 = self._initial_components(X, y, k)`` (handles ``init`` = "auto", "pca", "lda",
       "identity", "random" or an array; returns float64 of shape (k, n_features));
    3. optimise. For smooth objectives ``minimize_lbfgs(fun, L0, ...)`` runs SciPy's L-BFGS-B with
       verbose progress; otherwise use ``self._progress()`` to report each iteration
       (``progress(it, loss, grad_norm)``) -- ``verbose=True`` must show something per iteration;
    4. finish with ``self._set_components(L, X.dtype, n_iter=...)``: stores ``components_`` in the
       dtype of X (float32 in -> float32 out), ``n_iter_``, and refuses NaN/inf components.
    5. ``return self``.

Threads: pass ``self._threads()`` (0 = all cores) as ``n_threads`` to the C++ sweeps; every sweep
must give bitwise-identical results for any thread count in float64 (fixed-order reductions).

Everything else -- ``transform``, ``get_mahalanobis_matrix``, ``get_metric``, ``pair_distance``,
``pair_score``, feature names, scikit-learn tags (y required, float32 preserved) -- comes from the
base. Weakly supervised learners (pairs) override ``__sklearn_tags__`` / ``fit`` as they need but keep
``components_``.
"""

from __future__ import annotations

import numbers
import sys
import time
import warnings

import numpy as np

from .. import _core
from .._validation import resolve_n_threads
from ._preprocessor import check_preprocessor, points_from_identifiers, tuples_from_identifiers

try:  # the `learn` extra
    import scipy.optimize  # noqa: F401
    from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
    from sklearn.utils import check_random_state
    from sklearn.utils.multiclass import check_classification_targets
    from sklearn.utils.validation import check_is_fitted
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "fastmetric.learn needs scikit-learn and SciPy, which are not installed "
        f"({exc}). Install the 'learn' extra: pip install 'fastmetric[learn]'"
    ) from exc

try:  # scikit-learn >= 1.6
    from sklearn.utils.validation import validate_data as _sk_validate_data
except ImportError:  # pragma: no cover - older scikit-learn
    _sk_validate_data = None

__all__ = ["MahalanobisMixin", "minimize_lbfgs", "Progress", "blas_single_thread", "canonical_float"]

_FLOATS = [np.float64, np.float32]


def _validate_data(est, X="no_validation", y="no_validation", **kwargs):
    if _sk_validate_data is not None:
        out = _sk_validate_data(est, X, y, **kwargs)
    else:  # pragma: no cover
        out = est._validate_data(X, y, **kwargs)
    if isinstance(out, tuple):
        return (canonical_float(out[0]), *out[1:])
    return canonical_float(out)


def check_magnitude(X, learner):
    """Refuse inputs so large that squared differences overflow the dtype.

    Every learner squares differences of (transformed) points; with d features and values up to m,
    d (2 m)^2 must stay finite with room to spare, else every distance is infinite and the fit is
    meaningless (LFDA / RCA's eigensolvers fail, ITML's bounds become inf, NCA / MLKR stay at their
    start). The bound, sqrt(max / (16 d)), is ~1e153 in float64 and ~1e18 in float32 for 5 features.
    """
    X = np.asarray(X)
    if X.size == 0 or X.dtype.kind != "f":
        return
    top = max(float(X.max()), -float(X.min()))  # NaN propagates; no |X| temporary (0.3 ms on digits)
    d = max(int(X.shape[-1]), 1)
    limit = float(np.sqrt(np.finfo(X.dtype).max / (16.0 * d)))
    if top > limit:
        raise ValueError(
            f"{learner}: the input has values up to {top:.3g} (shape {X.shape}, {X.dtype}); squared "
            f"distances of {d} features overflow {X.dtype} above about {limit:.3g}: standardise the data "
            "(e.g. sklearn.preprocessing.StandardScaler)"
        )


def canonical_float(a):
    """The same memory with numpy's canonical float32/float64 dtype object.

    Arrays that went through pickle or joblib memmaps carry an equal but distinct dtype instance,
    which the C++ binding's dtype check does not accept; a zero-copy view fixes that.
    """
    if isinstance(a, np.ndarray) and a.dtype.kind == "f" and a.dtype.isnative:
        canon = {4: np.dtype(np.float32), 8: np.dtype(np.float64)}.get(a.dtype.itemsize)
        if canon is not None and a.dtype is not canon:
            return a.view(canon)
    return a


class Progress:
    """Per-iteration progress printer used when ``verbose`` is true.

    ``progress(it, loss, grad_norm=None, **extra)`` prints one line with the elapsed time; it prints
    nothing when verbose is false, so learners may call it unconditionally.
    """

    def __init__(self, name: str, verbose, stream=None):
        self.name = name
        self.verbose = bool(verbose)
        self.stream = stream
        self.t0 = time.perf_counter()
        self.header_done = False

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def __call__(self, it: int, loss: float, grad_norm=None, **extra) -> None:
        if not self.verbose:
            return
        out = self.stream if self.stream is not None else sys.stdout
        if not self.header_done:
            print(f"[{self.name}] {'iter':>5}  {'loss':>14}  {'|grad|':>10}  {'elapsed':>9}", file=out)
            self.header_done = True
        g = "" if grad_norm is None else f"{grad_norm:10.3e}"
        tail = "".join(f"  {k} {v}" for k, v in extra.items())
        print(f"[{self.name}] {it:5d}  {loss:14.6e}  {g:>10}  {self.elapsed():8.2f}s{tail}", file=out, flush=True)

    def message(self, text: str) -> None:
        if self.verbose:
            out = self.stream if self.stream is not None else sys.stdout
            print(f"[{self.name}] {text}", file=out, flush=True)


def minimize_lbfgs(fun, L0, *, max_iter, tol, progress=None, dtype=None):
    """Minimise ``fun(L) -> (loss, grad)`` over L (shape of L0) with SciPy's L-BFGS-B.

    ``fun`` receives a float64 array shaped like L0 and returns a float loss and a gradient of the
    same shape (any float dtype). Returns ``(L, n_iter, scipy_result)``. Progress (when given) is
    printed once per L-BFGS iteration with the loss and gradient norm of the accepted point.

    ``dtype=float32`` with ``tol=None``: the loss comes from float32 sweeps, whose rounding (~1e-7
    relative) is above SciPy's default relative-reduction test (2.2e-9); L-BFGS-B then ends in a
    failed line search ("ABNORMAL") after steps that only chase rounding. The test is set to
    10 eps(float32) = 1.2e-6 instead. MLKR on float32 digits: 74 -> 65 iterations, 0.45 -> 0.33 s,
    same loss and accuracy, a converged stop.
    """
    from scipy.optimize import minimize

    shape = L0.shape
    last = {}
    with blas_single_thread():
        f32 = dtype is not None and np.dtype(dtype) == np.float32
        ftol = 10 * float(np.finfo(np.float32).eps) if (tol is None and f32) else None
        return _minimize_lbfgs(fun, L0, shape, last, max_iter, tol, progress, minimize, ftol)


def with_ridge(fun, alpha):
    """``fun(L) -> (loss, grad)`` plus the ridge penalty ``alpha * |L|_F^2`` (NCA's and MLKR's
    ``alpha``, in memory and on Dask); ``fun`` itself when alpha is 0."""
    alpha = float(alpha or 0.0)
    if not alpha > 0:
        return fun

    def penalised(L):
        loss, grad = fun(L)
        return float(loss) + alpha * float(np.sum(L * L)), np.asarray(grad, dtype=np.float64) + (2.0 * alpha) * L

    return penalised


def blas_single_thread():
    """Context manager limiting BLAS to one thread while a learner's C++ sweeps run.

    Between two sweeps the OpenMP threads of the sweeps and OpenBLAS's own worker threads would spin
    on the same cores; measured on 2 cores, NCA on digits took 2x longer with both pools active.
    The learners' own numpy work is small, so BLAS loses nothing by staying serial meanwhile.

    threadpoolctl finds the BLAS libraries by scanning the process's loaded libraries, ~1 ms a time
    (as long as a whole Covariance fit), so the scan is kept and redone only when modules were
    imported since (a new BLAS arrives with an import).
    """
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover - threadpoolctl ships with scikit-learn
        import contextlib

        return contextlib.nullcontext()
    n_modules = len(sys.modules)
    if _BLAS_CONTROLLER[0] is None or _BLAS_CONTROLLER[1] != n_modules:
        _BLAS_CONTROLLER[:] = [ThreadpoolController(), n_modules]
    return _BLAS_CONTROLLER[0].limit(limits=1, user_api="blas")


#: [ThreadpoolController or None, len(sys.modules) when it scanned]
_BLAS_CONTROLLER: list = [None, -1]


def _minimize_lbfgs(fun, L0, shape, last, max_iter, tol, progress, minimize, ftol=None):
    def f(x):
        loss, grad = fun(x.reshape(shape))
        loss = float(loss)
        grad = np.asarray(grad, dtype=np.float64).ravel()
        last["x"], last["loss"], last["grad"] = x.copy(), loss, grad
        return loss, grad

    it = [0]

    def callback(xk, *args):
        it[0] += 1
        if progress is not None and progress.verbose:
            if "x" in last and np.array_equal(last["x"], xk):
                progress(it[0], last["loss"], float(np.linalg.norm(last["grad"])))
            else:
                progress(it[0], float("nan"))

    res = minimize(
        f,
        np.ascontiguousarray(L0, dtype=np.float64).ravel(),
        jac=True,
        method="L-BFGS-B",
        tol=tol,
        callback=callback,
        options={"maxiter": int(max_iter), **({} if ftol is None else {"ftol": ftol})},
    )
    if progress is not None:
        progress.message(f"L-BFGS stopped after {res.nit} iterations: {res.message}")
    return res.x.reshape(shape), max(int(res.nit), 1), res


def _scatter(X, rows_per_block=8192):
    """sum_i (x_i - mean)(x_i - mean)^T in float64, by row blocks of X."""
    mean = np.mean(X, axis=0, dtype=np.float64)
    d = X.shape[1]
    C = np.zeros((d, d))
    for s in range(0, X.shape[0], rows_per_block):
        B = np.asarray(X[s : s + rows_per_block], dtype=np.float64) - mean
        C += B.T @ B
    return C


class MahalanobisMixin(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Base of the learners of a Mahalanobis distance d(x, y) = ||L (x - y)||, M = L^T L.

    Fitted attributes: ``components_`` (L, shape ``(n_components, n_features)``, in the dtype of the
    training data), ``n_features_in_``, ``n_iter_`` (iterative learners).
    """

    #: scikit-learn tag: fit needs y
    _requires_y = True

    # ------------------------------------------------------------------ scikit-learn tags
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = self._requires_y
        if tags.transformer_tags is not None:
            tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

    def _more_tags(self):  # scikit-learn < 1.6
        return {"requires_y": self._requires_y, "preserves_dtype": [np.float64, np.float32]}

    @property
    def _n_features_out(self):
        return self._components().shape[0]

    # ------------------------------------------------------------------ validation helpers
    def _name(self) -> str:
        return type(self).__name__

    def _threads(self) -> int:
        """n_threads for the C++ sweeps (0 = every core)."""
        return resolve_n_threads(getattr(self, "n_threads", None))

    def _progress(self) -> Progress:
        return Progress(self._name(), getattr(self, "verbose", False))

    def _check_y_length(self, X, y):
        n_x = X.shape[0] if hasattr(X, "shape") else len(X)
        n_y = len(y) if not hasattr(y, "shape") or y.ndim > 0 else 1
        if n_x != n_y:
            raise ValueError(
                f"{self._name()}: X and y have different numbers of samples: X has {n_x} rows "
                f"(shape {getattr(X, 'shape', '?')}), y has {n_y} labels (shape {np.shape(y)})"
            )

    # ------------------------------------------------------------------ identifiers (preprocessor)
    def _preprocessor_in_use(self, fitting):
        """The resolved preprocessor: checked from ``self.preprocessor`` and stored as ``preprocessor_``
        when fitting, the stored one afterwards (None when the learner has none). Learners that validate
        their own inputs (e.g. SCML) get identifiers handled by calling ``_points_input`` /
        ``_tuples_input`` with ``fitting=True`` in ``fit``, ``False`` elsewhere."""
        if fitting:
            self.preprocessor_ = check_preprocessor(getattr(self, "preprocessor", None), self._name())
            return self.preprocessor_
        if "preprocessor_" in vars(self):
            return self.preprocessor_
        # fitted without resolving it (a Dask fit, a pickle of an older version): the parameter itself
        return check_preprocessor(getattr(self, "preprocessor", None), self._name())

    def _points_input(self, X, *, fitting, what="X"):
        """Point input: 1-D identifiers -> points through the preprocessor; 2-D points unchanged."""
        return points_from_identifiers(X, self._preprocessor_in_use(fitting), self._name(), what)

    def _tuples_input(self, T, size, *, fitting, what, n_features=None):
        """Tuple input: (n, size) identifiers -> (n, size, n_features) points; 3-D only without preprocessor."""
        return tuples_from_identifiers(T, self._preprocessor_in_use(fitting), size, self._name(), what, n_features)

    def _validate_unsupervised(self, X, *, reset=True, ensure_min_samples=2):
        """X -> C-contiguous float32 (if given float32) or float64, finite, 2-D, >= 2 rows.
        X may be 1-D identifiers of points with a preprocessor (resolved here when ``reset``)."""
        X = self._points_input(X, fitting=reset)
        X = _validate_data(self, X, reset=reset, dtype=_FLOATS, order="C", ensure_min_samples=ensure_min_samples)
        check_magnitude(X, self._name())
        return X

    def _validate_supervised(self, X, y, *, min_classes=2, partial=False):
        """Validate (X, labels). Returns (X, y_codes) and sets ``classes_``.

        ``partial``: numeric labels < 0 (metric-learn's -1) mean "unlabelled", as in metric-learn's
        ``Constraints(partial_labels)`` used by its ``*_Supervised`` constraint learners: such points
        keep code -1 (they stay in X but are never drawn into a constraint) and are not a class of
        ``classes_``. Otherwise every label is a class, codes 0..n_classes-1.

        Errors: y None, NaN/inf in X, non-classification targets, mismatched lengths, fewer than
        ``min_classes`` (labelled) classes -- e.g. every label -1 --, every class a single sample (no pair
        of same-class points).
        """
        if y is None:
            raise ValueError(f"{self._name()} requires y to be passed, but the target y is None")
        X = self._points_input(X, fitting=True)
        if hasattr(X, "shape") and hasattr(y, "__len__"):
            self._check_y_length(X, y)
        X, y = _validate_data(
            self, X, y, dtype=_FLOATS, order="C", ensure_min_samples=2, y_numeric=False, multi_output=False
        )
        check_classification_targets(y)
        check_magnitude(X, self._name())
        y = np.ravel(y)
        known = np.ones(y.shape[0], dtype=bool)
        if partial and y.dtype.kind in "iuf":
            known = ~(y < 0)
        n_unknown = int(y.shape[0] - np.count_nonzero(known))
        classes, codes_known = np.unique(y[known], return_inverse=True)
        codes = np.full(y.shape[0], -1, dtype=np.intp)
        codes[known] = codes_known.ravel()
        n_classes = classes.shape[0]
        n_known = y.shape[0] - n_unknown
        unl = f", {n_unknown} unlabelled (label < 0)" if n_unknown else ""
        if n_classes < min_classes:
            raise ValueError(
                f"{self._name()} needs labels of at least {min_classes} classes; y has {n_classes} "
                f"{'labelled ' if partial else ''}class{'' if n_classes == 1 else 'es'} over {X.shape[0]} "
                f"samples{unl}"
            )
        if n_classes >= n_known:
            raise ValueError(
                f"{self._name()}: fewer samples than classes is not learnable: {n_known} labelled samples, "
                f"{n_classes} classes (every class has a single sample){unl}"
            )
        self.classes_ = classes
        return X, codes

    def _validate_targets(self, X, y):
        """Validate (X, real-valued y) for regression learners; returns (X, y float64)."""
        if y is None:
            raise ValueError(f"{self._name()} requires y to be passed, but the target y is None")
        X = self._points_input(X, fitting=True)
        if hasattr(X, "shape") and hasattr(y, "__len__"):
            self._check_y_length(X, y)
        X, y = _validate_data(self, X, y, dtype=_FLOATS, order="C", ensure_min_samples=2, y_numeric=True)
        check_magnitude(X, self._name())
        return X, np.asarray(y, dtype=np.float64)

    def _n_components_checked(self, n_features: int, *, limit=None, too_many=None) -> int:
        """Resolve ``n_components`` (None -> n_features, or the rows of an init array) and check
        1 <= n_components <= limit (default n_features); ``too_many(k, limit)`` words the error."""
        k = getattr(self, "n_components", None)
        limit = int(n_features if limit is None else limit)
        if k is None:
            init = getattr(self, "init", None)
            if isinstance(init, np.ndarray) and init.ndim == 2:
                return int(init.shape[0])
            return min(int(n_features), limit)
        if isinstance(k, bool) or not isinstance(k, numbers.Integral):
            raise TypeError(f"n_components must be an int or None, got {type(k).__name__}")
        if k < 1:
            raise ValueError(f"n_components must be >= 1, got {k}")
        if k > limit:
            raise ValueError(
                too_many(k, limit)
                if too_many is not None
                else f"n_components={k} is larger than n_features={n_features}: a learned linear map cannot "
                "add dimensions; use n_components <= n_features or None"
            )
        return int(k)

    def _initial_components(self, X, y, n_components, init=None, *, has_classes=True, random_state=None):
        """The starting L, float64 of shape (n_components, n_features).

        init: "auto" (LDA when n_components <= min(n_features, n_classes - 1) and labels are classes,
        else PCA when n_components < min(n_features, n_samples), else identity -- metric-learn and
        scikit-learn's rule), "pca", "lda", "identity", "random" (standard normal) or an array of shape
        (n_components, n_features). Defaults to ``self.init`` and ``self.random_state``.
        """
        init = getattr(self, "init", "auto") if init is None else init
        if random_state is None:
            random_state = getattr(self, "random_state", None)
        n, d = X.shape
        k = int(n_components)
        if isinstance(init, (list, tuple)):
            init = np.asarray(init)
        if isinstance(init, np.ndarray):
            if init.ndim != 2 or init.shape[1] != d or init.shape[0] != k:
                raise ValueError(f"init array has shape {init.shape}; expected (n_components, n_features) = ({k}, {d})")
            if init.dtype.kind not in "fiub":
                raise TypeError(f"init array must be real-valued, got dtype {init.dtype}")
            A = np.array(init, dtype=np.float64)
            if not np.isfinite(A).all():
                raise ValueError("init array contains NaN or infinity")
            return A
        if not isinstance(init, str):
            raise TypeError(f"init must be a string or an array, got {type(init).__name__}")
        allowed = ("auto", "pca", "lda", "identity", "random")
        if init not in allowed:
            raise ValueError(f"init={init!r} is not one of {', '.join(map(repr, allowed))} or an array")
        if init == "auto":
            n_classes = len(np.unique(y)) if (has_classes and y is not None) else 0
            if has_classes and y is not None and k <= min(d, n_classes - 1):
                init = "lda"
            elif k < min(d, n):
                init = "pca"
            else:
                init = "identity"
        if init == "identity":
            return np.eye(k, d)
        if init == "random":
            return check_random_state(random_state).standard_normal((k, d))
        if init == "pca":
            # eigenvectors of the d x d scatter matrix: deterministic and O(n d^2), accumulated in
            # float64 by row blocks (no float64 copy of X: the kernel learners' features are 400 MB
            # of float32 at 100,000 x 1,000)
            with blas_single_thread():
                w, V = np.linalg.eigh(_scatter(X))
            order = np.argsort(w)[::-1][:k]
            comp = V[:, order].T
            # sign convention: largest |entry| of each component positive (like svd_flip)
            idx = np.argmax(np.abs(comp), axis=1)
            comp *= np.sign(comp[np.arange(k), idx])[:, None]
            return np.ascontiguousarray(comp)
        # lda
        if not has_classes or y is None:
            raise ValueError("init='lda' needs class labels")
        n_classes = len(np.unique(y))
        if k > min(d, n_classes - 1):
            raise ValueError(
                f"init='lda' gives at most min(n_features, n_classes - 1) = {min(d, n_classes - 1)} "
                f"components; n_components={k}. Use init='pca' or a smaller n_components"
            )
        from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

        Xd = np.asarray(X, dtype=np.float64)

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # collinear / constant features are expected (digits)
            lda = LinearDiscriminantAnalysis(n_components=k).fit(Xd, y)
        A = np.ascontiguousarray(lda.scalings_.T[:k], dtype=np.float64)
        if A.shape[0] < k:  # rank-deficient data: pad with PCA directions
            A = np.vstack([A, self._initial_components(X, y, k, "pca")[: k - A.shape[0]]])
        return A

    def _set_components(self, L, dtype, *, n_iter=None):
        L = np.asarray(L)
        if not np.isfinite(L).all():
            raise FloatingPointError(
                f"{self._name()}: the learned components contain NaN or infinity (diverged); "
                "try standardising the data, a smaller learning rate or another init"
            )
        self.components_ = np.ascontiguousarray(L, dtype=dtype)
        if n_iter is not None:
            self.n_iter_ = int(n_iter)
        return self

    # ------------------------------------------------------------------ the learned metric
    def _components(self):
        """``components_`` checked before use: a finite real 2-D array (n_components >= 1, n_features)
        with ``n_features_in_`` columns when that is set, as float32 (if float32) or float64.

        ``components_`` may have been set by hand (metric-learn users do); a 1-D vector, the wrong
        shape, NaN / inf, complex or non-numeric values raise a ValueError / TypeError naming the
        shape or dtype instead of an IndexError, a shape error deep in numpy or silent NaN.
        metric-learn 0.7 does not check (a 1-D components_ gives a scalar "matrix", complex ones give
        complex distances).
        """
        check_is_fitted(self, "components_")
        L = self.components_
        if hasattr(L, "toarray") and hasattr(L, "nnz"):
            raise TypeError("components_ is a sparse matrix; set a dense array (components_.toarray())")
        L = np.asarray(L)
        if L.dtype.kind == "c":
            raise TypeError(f"components_ is complex ({L.dtype}); a learned metric needs a real-valued map")
        if L.dtype.kind not in "fiub":
            raise TypeError(f"components_ has non-numeric dtype {L.dtype}; expected a float array")
        d_fit, what = self._component_columns()
        d_txt = what if d_fit is None else f"{what}={d_fit}"
        if L.ndim != 2:
            hint = " (use components_.reshape(1, -1) for a single component)" if L.ndim == 1 else ""
            raise ValueError(
                f"components_ must be a 2-D array of shape (n_components, {d_txt}); got {L.ndim}-D shape "
                f"{L.shape}{hint}"
            )
        if L.shape[0] == 0 or L.shape[1] == 0 or (d_fit is not None and L.shape[1] != d_fit):
            raise ValueError(
                f"components_ has shape {L.shape}; expected (n_components >= 1, {d_txt})"
                + ("" if d_fit is None else f": the estimator was fitted on {d_fit} {what.replace('n_', '')}")
            )
        L = canonical_float(L.astype(np.float32 if L.dtype == np.float32 else np.float64, copy=False))
        if not np.isfinite(L).all():
            raise ValueError(f"components_ (shape {L.shape}) contains NaN or infinity")
        return L

    def _component_columns(self):
        """(columns components_ must have or None when unknown, their name for messages)."""
        return getattr(self, "n_features_in_", None), "n_features"

    def transform(self, X):
        """Embed X: ``X @ components_.T`` (float32 in -> float32 out; other dtypes -> float64).

        X is (n_samples, n_features) points, or 1-D identifiers of points when the learner was fitted
        with a preprocessor."""
        L = self._components()
        X = self._points_input(X, fitting=False)
        X = _validate_data(self, X, reset=False, dtype=_FLOATS, ensure_min_samples=1)
        if X.shape[1] != L.shape[1]:
            raise ValueError(f"X has {X.shape[1]} features (shape {X.shape}); components_ has shape {L.shape}")
        if L.dtype != X.dtype:
            L = np.ascontiguousarray(L, dtype=X.dtype)
        out = np.empty((X.shape[0], L.shape[0]), dtype=X.dtype)
        if X.shape[0]:
            _core.linear_map(X, None, L, out, self._threads())
        return out

    def get_mahalanobis_matrix(self):
        """M = L^T L, shape (n_features, n_features)."""
        L = self._components()
        L64 = L.astype(np.float64)
        return (L64.T @ L64).astype(L.dtype)

    def get_metric(self):
        """A function ``metric(u, v, squared=False)`` giving the learned distance of two points.

        It is a plain Python callable (usable by scikit-learn's ``metric=``); for many points use
        ``fastmetric.cdist(XA, XB, metric="mahalanobis", L=est.components_)`` instead.
        """
        L = np.array(self._components(), dtype=np.float64)

        def metric_fun(u, v, squared=False):
            u = np.asarray(u, dtype=np.float64).ravel()
            v = np.asarray(v, dtype=np.float64).ravel()
            if u.shape != v.shape or u.shape[0] != L.shape[1]:
                raise ValueError(f"points must have {L.shape[1]} features; got shapes {u.shape} and {v.shape}")
            z = L @ (u - v)
            s = float(z @ z)
            return s if squared else float(np.sqrt(s))

        return metric_fun

    def _input_width(self):
        """Features of the points the learned map takes (checks the fitted map first)."""
        return self._components().shape[1]

    def _pairs_array(self, pairs):
        d = self._input_width()
        P = self._tuples_input(pairs, 2, fitting=False, what="pairs", n_features=d)
        if P.dtype.kind not in "fiub":
            raise TypeError(f"pairs must be numeric, got dtype {P.dtype}")
        if P.ndim != 3 or P.shape[1] != 2 or P.shape[2] != d:
            raise ValueError(f"pairs must have shape (n_pairs, 2, n_features={d}); got shape {P.shape}")
        P = P.astype(np.float32 if P.dtype == np.float32 else np.float64, copy=False)
        if P.size and not np.isfinite(P).all():
            raise ValueError("pairs contain NaN or infinity")
        return P

    def pair_distance(self, pairs):
        """Learned distance of each pair; ``pairs`` has shape (n_pairs, 2, n_features), or (n_pairs, 2)
        identifiers of points when the learner was fitted with a preprocessor."""
        return self._formed_pair_distance(self._pairs_array(pairs))

    def _formed_pair_distance(self, P):
        """:meth:`pair_distance` of validated formed pairs P (n_pairs, 2, n_features): no preprocessor
        step, so the learners' own calls on points they formed go through here."""
        diff = np.ascontiguousarray(P[:, 0, :] - P[:, 1, :])
        if diff.shape[0] == 0:
            return np.zeros(0, dtype=diff.dtype)
        L = np.ascontiguousarray(self._components(), dtype=diff.dtype)
        Z = np.empty((diff.shape[0], L.shape[0]), dtype=diff.dtype)
        _core.linear_map(diff, None, L, Z, self._threads())
        return np.sqrt(np.einsum("ij,ij->i", Z, Z))

    def pair_score(self, pairs):
        """Similarity of each pair: the opposite of :meth:`pair_distance` (higher = more similar)."""
        return -self.pair_distance(pairs)

    def score_pairs(self, pairs):
        """Deprecated in metric-learn 0.7: use :meth:`pair_distance` (same values)."""
        warnings.warn(
            "score_pairs is deprecated (as in metric-learn 0.7); use pair_distance for distances or "
            "pair_score for similarities",
            FutureWarning,
            stacklevel=2,
        )
        return self.pair_distance(pairs)
