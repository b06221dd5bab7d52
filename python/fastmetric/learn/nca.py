"""Neighbourhood Components Analysis (Goldberger, Roweis, Hinton & Salakhutdinov, 2004)."""

from __future__ import annotations


import numpy as np

from .. import _core
from .._validation import check_int, check_real
from ._base import MahalanobisMixin, minimize_lbfgs, with_ridge
from ._weights import class_weight_vector
from ._dask_fit import fit_dask, is_dask_array, transform_dask  # Dask arrays (issue 14)

__all__ = ["NCA", "NeighborhoodComponentsAnalysis"]


class NCA(MahalanobisMixin):
    """Neighbourhood Components Analysis: maximise the expected leave-one-out accuracy of a
    stochastic (softmax) nearest-neighbour classifier in the space ``x -> L x``.

    The objective and gradient are exactly scikit-learn's ``NeighborhoodComponentsAnalysis``
    (minus the sum over points of the probability of picking a same-class neighbour; see
    ``fastmetric.losses.nca_loss``), evaluated on Z = X L^T by the C++ pair sweep with a streaming
    log-sum-exp, then d/dL = G^T X: memory O(n * n_components), never n x n, the GIL released,
    float32 data learned with float32 kernels (float64 accumulation), and bitwise-identical results
    for any ``n_threads``. Optimised with SciPy's L-BFGS-B.

    Parameters
    ----------
    n_components : int or None
        Rows of ``components_`` (None: n_features).
    init : {"auto", "pca", "lda", "identity", "random"} or array (n_components, n_features)
        Starting L; "auto" picks LDA, PCA or identity as scikit-learn and metric-learn do.
    max_iter : int
        Maximum L-BFGS iterations.
    tol : float or None
        L-BFGS-B tolerance (SciPy's ``tol``; None keeps SciPy's defaults).
    verbose : bool
        Print loss, gradient norm and elapsed time per iteration.
    random_state : int, RandomState or None
        Seed for ``init="random"``.
    n_threads : int or None
        Threads of the C++ sweeps (None: all cores).
    class_weight : None, "balanced" or dict
        Weights of the points' terms in the objective by their class (scikit-learn's convention:
        "balanced" is n_samples / (n_classes * count(class)); a dict {label: weight}, other classes 1):
        the loss becomes -sum_i w_i p_i, so a minority class counts as much as a majority one.
    alpha : float, default=0.0
        Ridge penalty: minimise ``-sum_i w_i p_i + alpha * |L|_F^2`` (not scaled by n_samples, as
        in :class:`MLKR`). 0 is scikit-learn's objective. Without it the fit drives almost every p_i to
        0 or 1 (digits with classes 0-4 cut to 10 %: 95 % of the minority training points above 0.99,
        the rest below 0.01), where a class weight multiplies terms with no gradient left; a penalty
        keeps the softmax unsaturated, so ``class_weight`` acts (README, "Class imbalance").
    preprocessor : None, array (n_points, n_features) or callable
        Lets inputs be identifiers of points: 1-D X in ``fit`` / ``transform``, (n_pairs, 2) in
        ``pair_distance`` -- row indices into the array, or anything the callable maps to an array of
        points (strings too); 2-D points are still accepted as they are.

    Attributes
    ----------
    components_ : ndarray (n_components, n_features)
        The learned L, in the dtype of the training data.
    n_iter_ : int
        L-BFGS iterations run.
    classes_ : ndarray
        Labels seen in fit.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> import fastmetric as fm
    >>> from fastmetric.learn import NCA
    >>> X, y = load_iris(return_X_y=True)
    >>> nca = NCA(n_components=2, random_state=0).fit(X, y)
    >>> nca.components_.shape
    (2, 4)
    >>> nca.transform(X).shape
    (150, 2)
    >>> dist, idx = fm.kneighbors(X, k=3, metric="mahalanobis", L=nca.components_)  # search in it
    >>> idx.shape
    (150, 3)
    >>> import numpy as np  # identifiers of points instead of points: rows of the preprocessor array
    >>> NCA(n_components=2, preprocessor=X, random_state=0).fit(np.arange(150), y).transform([0, 50]).shape
    (2, 2)
    """

    def __init__(
        self,
        n_components=None,
        init="auto",
        max_iter=100,
        tol=None,
        verbose=False,
        random_state=None,
        n_threads=None,
        class_weight=None,
        preprocessor=None,
        alpha=0.0,
    ):
        self.n_components = n_components
        self.init = init
        self.max_iter = max_iter
        self.tol = tol
        self.verbose = verbose
        self.random_state = random_state
        self.n_threads = n_threads
        self.class_weight = class_weight
        self.preprocessor = preprocessor
        self.alpha = alpha

    def _check_params(self):
        check_int(self.max_iter, "max_iter")
        check_real(self.tol, "tol", low=0, allow_none=True)
        check_real(self.alpha, "alpha", low=0, finite=True)

    def fit(self, X, y):
        """Learn ``components_`` from samples X (n_samples, n_features) and class labels y."""
        self._check_params()
        if is_dask_array(X):  # a Dask X (issue 14): the exact gradient distributed over block pairs
            return fit_dask(self, X, y, "nca")
        X, y = self._validate_supervised(X, y)
        k = self._n_components_checked(X.shape[1])
        L0 = self._initial_components(X, y, k)
        # class codes 0 .. n_classes-1 (y is already encoded by _validate_supervised)
        codes = np.ascontiguousarray(y, dtype=np.float64)
        weights = class_weight_vector(self.class_weight, y, self.classes_)
        problem = _core.LinearPairProblem(np.ascontiguousarray(X), codes, "nca", sample_weight=weights)
        n_threads = self._threads()
        dtype = X.dtype

        def fun(L):
            # scikit-learn's objective -sum_i p_i and its gradient, straight from the sweep
            return problem.loss_grad(np.ascontiguousarray(L, dtype=dtype), n_threads)

        progress = self._progress()
        L, n_iter, _ = minimize_lbfgs(
            with_ridge(fun, self.alpha), L0, max_iter=self.max_iter, tol=self.tol, progress=progress
        )
        return self._set_components(L, dtype, n_iter=n_iter)

    def transform(self, X):
        """Embed X: ``X @ components_.T``; a Dask X gives a lazy Dask array (one engine call per block)."""
        if is_dask_array(X):  # issue 14
            return transform_dask(self, X)
        return super().transform(X)


#: scikit-learn's name for the same estimator
NeighborhoodComponentsAnalysis = NCA
