"""Metric Learning for Kernel Regression (Weinberger & Tesauro, AISTATS 2007).

"Minimise the distance error": learn L so that leave-one-out Gaussian kernel regression in the space
x -> L x predicts the targets well,

    yhat_i = sum_{j != i} exp(-|L(x_i - x_j)|^2) y_j / sum_{j != i} exp(-|L(x_i - x_j)|^2),
    loss(L) = sum_i (yhat_i - y_i)^2,

minimised with SciPy's L-BFGS-B; ``alpha > 0`` adds the ridge penalty ``alpha * |L|_F^2``. Loss and
gradient come from one C++ call (Z = X L^T, the pair sweep of ``fastmetric.losses.mlkr_loss``, G^T X; memory
O(n * n_components), never n x n beyond a bounded cache; float32 data learned with float32 kernels
and float64 accumulation; bitwise-identical results for any ``n_threads`` in float64).
See ``cpp/include/fastmetric/learn/pair_sweep.hpp``.
"""

from __future__ import annotations


import numpy as np

from .. import _core
from .._validation import check_int, check_real, sample_weights
from ._base import MahalanobisMixin, minimize_lbfgs, with_ridge
from ._dask_fit import fit_dask, is_dask_array, transform_dask  # Dask arrays (issue 14)

__all__ = ["MLKR"]


class MLKR(MahalanobisMixin):
    """Metric Learning for Kernel Regression: minimise the leave-one-out kernel-regression error.

    Parameters
    ----------
    n_components : int or None
        Rows of ``components_`` (None: n_features).
    init : {"auto", "pca", "identity", "random"} or array (n_components, n_features)
        Starting L. "auto": PCA when n_components < min(n_features, n_samples), else identity (the
        targets are not classes, so never LDA), as metric-learn.
    alpha : float, default=0.0
        Ridge penalty: minimise ``loss(L) + alpha * |L|_F^2``. 0 is metric-learn's objective. The
        leave-one-out loss alone rewards ever narrower kernels, which a full-rank L on few points
        can overfit: on ``load_diabetes`` (309 training points, 10 features, X and y standardised)
        alpha=0 reaches leave-one-out MSE 0.23 but test MSE 1.07 (euclidean: 0.59 / 0.61), while
        alpha=10 gives 0.45 / 0.47. The penalty is not scaled by n_samples or the targets' variance.
    tol : float or None
        L-BFGS-B tolerance (SciPy's ``tol``; None keeps SciPy's defaults).
    max_iter : int, default=1000
        Maximum L-BFGS iterations.
    verbose : bool
        Print loss, gradient norm and elapsed time per iteration.
    preprocessor : None, array (n_points, n_features) or callable
        Lets inputs be identifiers of points: 1-D X in ``fit`` / ``transform``, (n_pairs, 2) in
        ``pair_distance`` -- row indices into the array, or anything the callable maps to an array of
        points (strings too); 2-D points are still accepted as they are.
    random_state : int, RandomState or None
        Seed for ``init="random"``.
    n_threads : int or None
        Threads of the C++ sweeps (None: all cores).

    Attributes
    ----------
    components_ : ndarray (n_components, n_features)
        The learned L, in the dtype of the training data.
    n_iter_ : int
        L-BFGS iterations run.

    Examples
    --------
    >>> from sklearn.datasets import load_diabetes
    >>> from fastmetric.learn import MLKR
    >>> X, y = load_diabetes(return_X_y=True)
    >>> mlkr = MLKR(n_components=3, alpha=1.0).fit(X, y)
    >>> mlkr.transform(X).shape
    (442, 3)
    """

    def __init__(
        self,
        n_components=None,
        init="auto",
        alpha=0.0,
        tol=None,
        max_iter=1000,
        verbose=False,
        preprocessor=None,
        random_state=None,
        n_threads=None,
    ):
        self.n_components = n_components
        self.init = init
        self.alpha = alpha
        self.tol = tol
        self.max_iter = max_iter
        self.verbose = verbose
        self.preprocessor = preprocessor
        self.random_state = random_state
        self.n_threads = n_threads

    def _check_params(self):
        check_int(self.max_iter, "max_iter")
        check_real(self.tol, "tol", low=0, allow_none=True)
        check_real(self.alpha, "alpha", low=0, finite=True)
        if isinstance(self.init, str) and self.init == "lda":
            raise ValueError("init='lda' needs class labels; MLKR's targets are real values")

    def fit(self, X, y, sample_weight=None):
        """Learn ``components_`` from samples X (n_samples, n_features) and real targets y (n_samples,).

        ``sample_weight`` (n_samples,), finite and >= 0, weighs each point's squared leave-one-out
        error in the objective: loss = sum_i w_i (yhat_i - y_i)^2 (None: all 1). An integer weight is
        not a repeated sample here: a repeated point would be its own leave-one-out neighbour.
        """
        self._check_params()
        if is_dask_array(X):  # a Dask X (issue 14): the exact gradient distributed over block pairs
            return fit_dask(self, X, y, "mlkr", sample_weight)
        X, y = self._validate_targets(X, y)
        y = np.ascontiguousarray(np.ravel(y), dtype=np.float64)
        if not np.isfinite(y).all():
            raise ValueError("MLKR: the targets y contain NaN or infinity")
        k = self._n_components_checked(X.shape[1])
        L0 = self._initial_components(X, None, k, has_classes=False)
        weights = sample_weights(sample_weight, X.shape[0])
        problem = _core.LinearPairProblem(X, y, "mlkr", sample_weight=weights)
        n_threads = self._threads()
        dtype = X.dtype

        def fun(L):
            return problem.loss_grad(np.ascontiguousarray(L, dtype=dtype), n_threads)

        L, n_iter, _ = minimize_lbfgs(
            with_ridge(fun, self.alpha),
            L0,
            max_iter=self.max_iter,
            tol=self.tol,
            progress=self._progress(),
            dtype=dtype,
        )
        return self._set_components(L, dtype, n_iter=n_iter)

    def transform(self, X):
        """Embed X: ``X @ components_.T``; a Dask X gives a lazy Dask array (one engine call per block)."""
        if is_dask_array(X):  # issue 14
            return transform_dask(self, X)
        return super().transform(X)
