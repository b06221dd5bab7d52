"""Sparse Determinant Metric Learning (Qi, Tang, Zha, Chua & Zhang, ICML 2009)."""

from __future__ import annotations

import warnings

import numpy as np

from .._validation import check_real
from ._base import MahalanobisMixin, blas_single_thread
from ._constraints import pairs_for
from ._pairs import PairsClassifierMixin, components_from_metric, metric_prior, pair_differences

try:
    from sklearn.covariance import graphical_lasso
    from sklearn.exceptions import ConvergenceWarning
except ImportError as exc:  # pragma: no cover - the base module already raised a clear error
    raise ImportError("fastmetric.learn needs scikit-learn: pip install 'fastmetric[learn]'") from exc

__all__ = ["SDML", "SDML_Supervised", "sdml_covariance", "shift_target"]


def sdml_covariance(prior_inv, diff, y, balance_param):
    """The matrix SDML hands to the graphical lasso (metric-learn 0.7's formula):
    S = M0^-1 + balance_param * sum_i y_i (x_i - x'_i)(x_i - x'_i)^T, y_i = +1 similar / -1
    dissimilar."""
    yy = np.asarray(y, dtype=np.float64)
    return prior_inv + balance_param * ((diff.T * yy) @ diff)


def shift_target(S):
    """The smallest eigenvalue an indefinite S is shifted to: the mean absolute eigenvalue of S.

    The graphical lasso of an indefinite S has no minimum, and scikit-learn's solver fails on a
    shifted S whose condition number is large: with the shift that only lifts the smallest
    eigenvalue to that of M0^-1 it raises "Non SPD result" on iris, wine, breast_cancer and
    digits (metric-learn's defaults, identity prior, standardised data); with this target it
    converges on all four in 2-17 iterations. Returns (lambda_min(S), target)."""
    lam = np.linalg.eigvalsh(S)
    return float(lam[0]), float(np.mean(np.abs(lam)))


class _BaseSDML(MahalanobisMixin):
    """SDML: ``M = argmin tr(S M) - log det M + sparsity_param * sum_{i != j} |M_ij|`` (the graphical
    lasso of S, :func:`sdml_covariance`), solved by scikit-learn's ``graphical_lasso``.

    S is indefinite whenever the dissimilar pairs outweigh the similar ones in some direction (the
    usual case: on standardised digits metric-learn's defaults give an S with eigenvalues down to
    about -13,000), and the graphical lasso of an indefinite S has no minimum: metric-learn 0.7
    warns and its solver then fails or returns a non-PSD matrix (its #154; with scikit-learn >= 1.3
    it fails at once on a removed argument). Here such an S -- or a positive definite one on which
    the solver fails -- is shifted by a multiple of the identity so that its smallest eigenvalue
    is the mean absolute eigenvalue of S (:func:`shift_target`; a ``UserWarning`` says by how
    much, ``shift_`` keeps it): the eigenvectors and the order of the eigenvalues -- which
    directions separate the dissimilar pairs best -- are kept, the problem is well posed and M is
    finite and positive definite.
    """

    def __init__(
        self,
        balance_param=0.5,
        sparsity_param=0.01,
        prior="identity",
        verbose=False,
        preprocessor=None,
        random_state=None,
    ):
        self.balance_param = balance_param
        self.sparsity_param = sparsity_param
        self.prior = prior
        self.verbose = verbose
        self.preprocessor = preprocessor
        self.random_state = random_state

    def _check_params(self):
        check_real(self.balance_param, "balance_param", low=0, finite=True)
        check_real(self.sparsity_param, "sparsity_param", low=0, finite=True)

    def _fit_pairs(self, P, y, points, random_state):
        self._check_params()
        d = P.shape[2]
        progress = self._progress()
        with blas_single_thread():
            M0 = metric_prior(self.prior, points, d, random_state, name="prior")
            prior_inv = np.linalg.inv(M0)
            prior_inv = 0.5 * (prior_inv + prior_inv.T)
            S = sdml_covariance(prior_inv, pair_differences(P), y, float(self.balance_param))
            S = 0.5 * (S + S.T)
            lam_min, target = shift_target(S)
            shift = 0.0 if lam_min > 0 else target - lam_min
            try:
                M = self._graphical_lasso(S + shift * np.eye(d), progress)
            except FloatingPointError:
                if shift > 0:
                    raise
                shift = target - lam_min
                M = self._graphical_lasso(S + shift * np.eye(d), progress)
            self.shift_ = shift
            if shift > 0:
                warnings.warn(
                    f"{self._name()}: the graphical lasso needs a better conditioned pair-weighted covariance "
                    f"(smallest eigenvalue {lam_min:.4g}); it is shifted by {shift:.4g} * I (lower balance_param "
                    "to need less)",
                    UserWarning,
                    stacklevel=3,
                )
            M = 0.5 * (M + M.T)
            ok = bool(np.isfinite(M).all()) and float(np.linalg.eigvalsh(M)[0]) > 0
            L = components_from_metric(M) if ok else None
        if not ok:
            raise FloatingPointError(
                f"{self._name()}: the graphical lasso returned a metric that is not finite and positive definite"
            )
        self.metric_ = M
        return self._set_components(L, P.dtype)

    def _graphical_lasso(self, S, progress):
        alpha = float(self.sparsity_param)
        d = S.shape[0]
        if d == 1 or alpha == 0:
            progress.message("no off-diagonal penalty: the metric is the inverse of S")
            self.n_iter_ = 0
            return np.linalg.inv(S)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            _, M, n_iter = graphical_lasso(S, alpha=alpha, verbose=bool(self.verbose), return_n_iter=True)
        for w in caught:
            if issubclass(w.category, ConvergenceWarning):
                warnings.warn(f"{self._name()}: {w.message}", ConvergenceWarning, stacklevel=4)
        self.n_iter_ = int(n_iter)
        progress.message(f"graphical lasso: {n_iter} iterations")
        return M


class SDML(PairsClassifierMixin, _BaseSDML):
    """Sparse Determinant Metric Learning from similar / dissimilar pairs.

    The metric is the graphical lasso of S = M0^-1 + balance_param * sum_i y_i u_i u_i^T (u_i the
    difference of pair i, y_i = +1 similar / -1 dissimilar): minimise tr(S M) - log det M +
    ``sparsity_param * sum_{i != j} |M_ij|`` over positive definite M (metric-learn 0.7's formulation).
    An indefinite S is shifted to positive definite first (see Notes), so the result is always a
    finite, positive definite metric; metric-learn 0.7 fails there.

    Parameters
    ----------
    balance_param : float, default=0.5
        Weight of the pair term against the prior.
    sparsity_param : float, default=0.01
        L1 penalty on the off-diagonal entries of M.
    prior : {"identity", "covariance", "random"} or array (d, d), default="identity"
        M0 (positive definite).
    verbose : bool, default=False
        Print the graphical lasso's progress.
    preprocessor : None, array (n_points, n_features) or callable
        Lets ``pairs`` be (n_pairs, 2) identifiers of points -- row indices into the array, or anything
        the callable maps to an array of points (strings too) --, and X in ``transform`` 1-D identifiers.
    random_state : int, RandomState or None
        Seed for ``prior="random"``.

    Attributes
    ----------
    components_ : ndarray (d, d)
        L with L^T L = M, in the dtype of the pairs (float32 kept).
    metric_ : ndarray (d, d)
        The learned M (float64, positive definite).
    shift_ : float
        How much S was shifted (0 when it was positive definite enough).
    threshold_ : float
        Distance below which ``predict`` calls a pair similar (calibrated in fit).
    n_iter_ : int
        Graphical lasso iterations.

    Notes
    -----
    When S is not positive definite (or the solver fails on it), S + shift * I is used, the shift
    making its smallest eigenvalue the mean absolute eigenvalue of S, with a ``UserWarning``: the
    eigenvectors and eigenvalue gaps of S are kept.

    Examples
    --------
    >>> import numpy as np
    >>> from fastmetric.learn import SDML
    >>> X = np.array([[0., 0.], [0.2, 1.], [3., 0.], [3.2, 1.]])
    >>> pairs = np.array([[0, 1], [2, 3], [0, 2], [1, 3]])  # indices into X (the preprocessor)
    >>> sdml = SDML(balance_param=0.05, preprocessor=X).fit(pairs, [1, 1, -1, -1])
    >>> sdml.predict(pairs)
    array([ 1,  1, -1, -1])
    >>> bool(np.all(np.linalg.eigvalsh(sdml.metric_) > 0))
    True
    """

    def fit(self, pairs, y, calibration_params=None):
        """Learn M from ``pairs`` (n_pairs, 2, n_features) or index pairs, labels y (+1 / -1)."""
        self._check_params()
        self._check_calibration(**({} if calibration_params is None else calibration_params))
        P, y = self._validate_pairs(pairs, y)
        points = P.reshape(-1, P.shape[2])
        if isinstance(self.prior, str) and self.prior == "covariance":
            points = np.unique(points, axis=0)
        self._fit_pairs(P, y, points, self.random_state)
        return self._calibrate_after_fit(P, y, calibration_params)


class SDML_Supervised(_BaseSDML):
    """SDML on pairs drawn from class labels: ``n_constraints`` similar pairs (same class) and as
    many dissimilar pairs (different classes), drawn with ``random_state``.

    Parameters are those of :class:`SDML` plus ``n_constraints`` (default None: metric-learn's
    20 * n_classes^2) and ``class_weight``. Labels < 0 mark unlabelled points, never drawn. X may be 1-D
    identifiers of points with a ``preprocessor``.

    Parameters
    ----------
    class_weight : None, "balanced" or dict
        How the pairs are drawn, as for :class:`ITML_Supervised`: each class gets a share of them
        proportional to weight x count ("balanced": equal shares; None: uniform over the points,
        metric-learn's draw).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_iris
    >>> from fastmetric.learn import SDML_Supervised
    >>> X, y = load_iris(return_X_y=True)
    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")  # the pair covariance of iris needs a shift
    ...     sdml = SDML_Supervised(random_state=0).fit(X, y)
    >>> sdml.components_.shape, bool(np.all(np.linalg.eigvalsh(sdml.metric_) > 0))
    ((4, 4), True)
    """

    def __init__(
        self,
        balance_param=0.5,
        sparsity_param=0.01,
        prior="identity",
        n_constraints=None,
        verbose=False,
        preprocessor=None,
        random_state=None,
        class_weight=None,
    ):
        super().__init__(
            balance_param=balance_param,
            sparsity_param=sparsity_param,
            prior=prior,
            verbose=verbose,
            preprocessor=preprocessor,
            random_state=random_state,
        )
        self.n_constraints = n_constraints
        self.class_weight = class_weight

    def fit(self, X, y):
        """Draw pairs from the labels y and learn M on X (n_samples, n_features)."""
        self._check_params()
        X, codes = self._validate_supervised(X, y, partial=True)
        idx, labels, rs = pairs_for(self, codes)
        return self._fit_pairs(X[idx], labels, X, rs)
