"""Least-Squares Metric Learning from relative comparisons (Liu, Mu, Wang & Sun, ICDM 2012)."""

from __future__ import annotations

import numpy as np

from .. import _core
from .._validation import check_int, check_real
from ._base import MahalanobisMixin, blas_single_thread
from ._constraints import quadruplets_for
from ._pairs import components_from_metric, metric_prior
from ._tuples import QuadrupletsClassifierMixin

__all__ = ["LSML", "LSML_Supervised", "lsml_loss", "lsml_gradient"]

#: metric-learn's line search: these step lengths, divided by the gradient's Frobenius norm
_STEPS = np.logspace(-10, 0, 10)
#: eigenvalue floor of every candidate metric (metric-learn's projection onto the PD cone)
_EIG_FLOOR = 1e-8


def _quadratic_forms(V, M):
    """v_i^T M v_i for every row of V."""
    return np.einsum("ij,ij->i", V @ M, V)


def lsml_loss(M, Vab, Vcd, w, prior_inv):
    """LSML's objective (metric-learn 0.7's formula): sum over violated quadruplets
    (d_M(a, b) > d_M(c, d)) of w_i (d_M(a, b) - d_M(c, d))^2, plus the LogDet divergence to the prior
    tr(M M0^-1) - log det M (up to a constant). d_M is the Mahalanobis distance (not squared)."""
    dab = _quadratic_forms(Vab, M)
    dcd = _quadratic_forms(Vcd, M)
    viol = dab > dcd
    comp = float(w[viol] @ (np.sqrt(dab[viol]) - np.sqrt(dcd[viol])) ** 2)
    sign, logdet = np.linalg.slogdet(M)
    return comp + float(np.sum(M * prior_inv)) - sign * logdet


def lsml_gradient(M, Vab, Vcd, w, prior_inv, M_inv=None, dab=None, dcd=None):
    """Gradient of :func:`lsml_loss` with respect to M, weights included (metric-learn 0.7's
    gradient drops them: its issue #83).

    For a violated quadruplet, d/dM w (sqrt(v^T M v) - sqrt(u^T M u))^2 =
    w (1 - sqrt(du / dv)) v v^T + w (1 - sqrt(dv / du)) u u^T with v = a - b, u = c - d. A zero
    difference u (c = d) contributes nothing (its distance is 0 for every M)."""
    if M_inv is None:
        M_inv = np.linalg.inv(M)
    if dab is None:
        dab = _quadratic_forms(Vab, M)
    if dcd is None:
        dcd = _quadratic_forms(Vcd, M)
    G = prior_inv - M_inv
    viol = np.flatnonzero(dab > dcd)
    if viol.size:
        sab = np.sqrt(dab[viol])
        scd = np.sqrt(dcd[viol])
        wv = w[viol]
        c_ab = wv * (1.0 - scd / sab)  # sab > scd >= 0
        with np.errstate(divide="ignore", invalid="ignore"):
            c_cd = np.where(scd > 0, wv * (1.0 - sab / np.where(scd > 0, scd, 1.0)), 0.0)
        A = Vab[viol]
        C = Vcd[viol]
        G = G + (A * c_ab[:, None]).T @ A + (C * c_cd[:, None]).T @ C
    return 0.5 * (G + G.T)


def _check_weights(weights, n, what):
    if weights is None:
        return np.full(n, 1.0 / n)
    w = np.asarray(weights)
    if w.dtype.kind not in "fiub":
        raise TypeError(f"weights must be real numbers, got dtype {w.dtype}")
    w = w.astype(np.float64).ravel() if w.ndim <= 1 else None
    if w is None or w.shape[0] != n:
        raise ValueError(
            f"weights must hold one number per quadruplet: {n} {what}, weights has shape {np.shape(weights)}"
        )
    if not np.isfinite(w).all() or (w < 0).any():
        raise ValueError("weights must be finite and non-negative")
    total = float(w.sum())
    if not total > 0:
        raise ValueError("weights sum to 0: at least one quadruplet needs a positive weight")
    return w / total  # metric-learn normalises the weights to sum 1


class _Comparisons:
    """The comparisons d(a_i, b_i) < d(c_i, d_i) as index pairs into points (``_core.LsmlProblem``,
    ``learn/lsml.hpp``): the forms of M and the gradient each cost one GEMM over the points and O(d)
    per pair -- digits: 1,257 points against 4,000 differences, a third of the flops of working on
    the differences."""

    def __init__(self, P, pairs, w):
        P = np.ascontiguousarray(P, dtype=np.float64)
        self._problem = _core.LsmlProblem(P, np.ascontiguousarray(pairs, dtype=np.int64), w)

    @classmethod
    def from_points(cls, X, idx, w):
        """Index quadruplets idx (m x 4) into the points X."""
        idx = np.asarray(idx, dtype=np.int64)
        return cls(X, np.concatenate((idx[:, 0:2], idx[:, 2:4])), w)

    @classmethod
    def from_tuples(cls, T, w):
        """Quadruplets of points T (m x 4 x d): the points are the 2m differences and a zero row, and
        pair i is (difference i, zero row)."""
        m, d = T.shape[0], T.shape[2]
        P = np.empty((2 * m + 1, d))
        np.subtract(T[:, 0], T[:, 1], out=P[:m])
        np.subtract(T[:, 2], T[:, 3], out=P[m : 2 * m])
        P[2 * m] = 0.0
        pairs = np.empty((2 * m, 2), dtype=np.int64)
        pairs[:, 0] = np.arange(2 * m)
        pairs[:, 1] = 2 * m
        return cls(P, pairs, w)

    def descend(self, M0, prior_inv, steps, floor, tol, max_iter):
        """metric-learn's projected gradient descent from M0 (``LsmlProblem.descend``)."""
        M0, prior_inv = np.ascontiguousarray(M0), np.ascontiguousarray(prior_inv)
        return self._problem.descend(M0, prior_inv, steps, floor, tol, max_iter)


class _BaseLSML(MahalanobisMixin):
    """LSML: M minimising the weighted squared residuals of the violated comparisons
    d(a, b) < d(c, d) plus the LogDet divergence to the prior M0, by projected gradient descent
    with metric-learn's line search (10 step lengths 1e-10 .. 1 over the gradient norm, each
    candidate projected onto eigenvalues >= 1e-8, the best one that lowers the loss kept; stop
    when the gradient norm is below ``tol`` or no step lowers the loss).

    The whole descent runs in C++ (``LsmlProblem.descend``, ``learn/lsml.hpp``): every iteration is
    two passes over the comparisons' points (:class:`_Comparisons`), the gradient G and its forms. A
    candidate M - t G that stays positive definite has forms q - t g and costs no pass over the
    points, its LogDet term comes from the eigenvalues of R^-T G R^-1 (M = R^T R); only candidates
    the projection changes are recomputed.
    """

    def __init__(self, tol=1e-3, max_iter=1000, prior="identity", verbose=False, preprocessor=None, random_state=None):
        self.tol = tol
        self.max_iter = max_iter
        self.prior = prior
        self.verbose = verbose
        self.preprocessor = preprocessor
        self.random_state = random_state

    def _check_params(self):
        check_real(self.tol, "tol", low=0)
        check_int(self.max_iter, "max_iter")

    def _fit_comparisons(self, make, n, d, dtype, weights, points, what="quadruplets"):
        """``make(w)`` -> :class:`_Comparisons` for the normalised weights w of the n comparisons."""
        w = _check_weights(weights, n, what)
        self.w_ = w
        problem = make(w)
        # every LAPACK call on one thread, the final eigendecomposition too: on 2 busy cores a
        # multi-threaded 64 x 64 eigh takes 100 ms instead of 0.3 ms
        with blas_single_thread():
            M = metric_prior(self.prior, points, d, self.random_state, name="prior")
            M, n_iter = self._descend(M, problem)
            L = components_from_metric(M)
        self.metric_ = M
        return self._set_components(L, dtype, n_iter=n_iter)

    def _descend(self, M, problem):
        prior_inv = np.linalg.inv(M)
        prior_inv = 0.5 * (prior_inv + prior_inv.T)
        M, n_iter, converged, loss, losses, norms = problem.descend(
            M, prior_inv, _STEPS, _EIG_FLOOR, float(self.tol), int(self.max_iter)
        )
        progress = self._progress()
        for it, (value, g_norm) in enumerate(zip(losses, norms, strict=True)):
            progress(it, float(value), None if it == 0 else float(g_norm))
        if not converged:
            progress.message(f"did not converge in {n_iter} iterations (loss {loss:.6g})")
        self.loss_ = float(loss)
        return M, n_iter


class LSML(QuadrupletsClassifierMixin, _BaseLSML):
    """Least-Squares Metric Learning from quadruplets (a, b, c, d) meaning d(a, b) < d(c, d).

    Minimises sum_i w_i (d_M(a_i, b_i) - d_M(c_i, d_i))^2 over the violated quadruplets plus
    the LogDet divergence tr(M M0^-1) - log det M to the prior M0 (metric-learn 0.7's objective),
    by projected gradient descent with metric-learn's line search. Unlike metric-learn 0.7 (its
    issue #83) the gradient includes the weights, so it is the gradient of the objective.

    Parameters
    ----------
    tol : float, default=1e-3
        Stop when the Frobenius norm of the gradient is below ``tol``.
    max_iter : int, default=1000
        Maximum gradient steps.
    prior : {"identity", "covariance", "random"} or array (d, d), default="identity"
        M0, the starting metric and the prior of the LogDet term (must be positive definite;
        "covariance" is the inverse covariance of the points, completed on constant directions).
    verbose : bool, default=False
        Print the loss and gradient norm per iteration.
    preprocessor : None, array (n_points, n_features) or callable
        Lets ``quadruplets`` be (n, 4) identifiers of points -- row indices into the array, or anything
        the callable maps to an array of points (strings too) --, and X in ``transform`` 1-D identifiers.
    random_state : int, RandomState or None
        Seed for ``prior="random"``.

    Attributes
    ----------
    components_ : ndarray (d, d)
        L with L^T L = M, in the dtype of the quadruplets (float32 kept).
    metric_ : ndarray (d, d)
        The learned M (float64).
    w_ : ndarray (n_quadruplets,)
        The weights used, normalised to sum 1.
    loss_ : float
        Objective at the learned M.
    n_iter_ : int
        Iterations run.

    Examples
    --------
    >>> import numpy as np
    >>> from fastmetric.learn import LSML
    >>> X = np.array([[0., 0.], [1., 10.], [8., 0.], [9., 10.]])
    >>> # pairs sharing their first feature should be closer than pairs sharing the second
    >>> quadruplets = np.array([[0, 1, 0, 2], [2, 3, 1, 3], [0, 1, 1, 3], [2, 3, 0, 2]])
    >>> lsml = LSML(preprocessor=X).fit(quadruplets)  # index quadruplets into X
    >>> M = lsml.get_mahalanobis_matrix()
    >>> bool(M[1, 1] < M[0, 0])  # the second feature counts less
    True
    >>> # a new comparison that the Euclidean distance gets wrong (3 > 2.5), given as points
    >>> LSML().fit(X[quadruplets]).predict([[[0., 0.], [0., 3.], [0., 0.], [2.5, 0.]]])
    array([1.])
    """

    def fit(self, quadruplets, weights=None):
        """Learn M from ``quadruplets`` (n, 4, n_features), or index quadruplets with a preprocessor.

        ``weights``: one non-negative number per quadruplet (default: equal), normalised to sum 1.
        """
        self._check_params()
        T = self._validate_tuples(quadruplets)
        points = T.reshape(-1, T.shape[2])
        if isinstance(self.prior, str) and self.prior == "covariance":
            points = np.unique(points, axis=0)
        return self._fit_comparisons(
            lambda w: _Comparisons.from_tuples(T, w), T.shape[0], T.shape[2], T.dtype, weights, points
        )


class LSML_Supervised(_BaseLSML):
    """LSML on quadruplets drawn from class labels: (a, b) from one class, (c, d) from two
    different classes, so that d(a, b) < d(c, d) is asked for.

    Parameters are those of :class:`LSML` plus ``n_constraints`` (default None: metric-learn's
    20 * n_classes^2 quadruplets; fewer, with a warning, when the labels do not allow that many
    distinct pairs) and ``weights`` (one number per drawn quadruplet, or None for equal weights).
    Labels < 0 mark unlabelled points, never drawn (metric-learn's partial labels). X may be 1-D
    identifiers of points with a ``preprocessor``.

    Parameters
    ----------
    class_weight : None, "balanced" or dict
        Weights of the classes in the drawing of the constraints (scikit-learn's convention): a
        class's share of the drawn quadruplets' pairs is proportional to its weight x its count, so "balanced"
        gives every class an equal share; None (default) draws uniformly over the points, as
        metric-learn does (majority classes dominate).

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from fastmetric.learn import LSML_Supervised
    >>> X, y = load_iris(return_X_y=True)
    >>> LSML_Supervised(random_state=0).fit(X, y).components_.shape
    (4, 4)
    """

    def __init__(
        self,
        tol=1e-3,
        max_iter=1000,
        prior="identity",
        n_constraints=None,
        weights=None,
        verbose=False,
        preprocessor=None,
        random_state=None,
        class_weight=None,
    ):
        super().__init__(
            tol=tol,
            max_iter=max_iter,
            prior=prior,
            verbose=verbose,
            preprocessor=preprocessor,
            random_state=random_state,
        )
        self.n_constraints = n_constraints
        self.weights = weights
        self.class_weight = class_weight

    def fit(self, X, y):
        """Draw quadruplets from the labels y and learn M on X (n_samples, n_features)."""

        self._check_params()
        X, codes = self._validate_supervised(X, y, partial=True)
        idx, _ = quadruplets_for(self, codes)
        return self._fit_comparisons(
            lambda w: _Comparisons.from_points(X, idx, w),
            idx.shape[0],
            X.shape[1],
            X.dtype,
            self.weights,
            X,
            what="quadruplets drawn from the labels",
        )
