"""Mahalanobis Metric for Clustering (Xing, Ng, Jordan & Russell, NIPS 2002).

"Maximise the distance between classes while keeping each class compact": Xing et al. maximise
the sum of learned distances over dissimilar pairs D subject to sum_{S} d_A^2 <= 1 over similar
pairs S and A positive semi-definite. Since scaling A scales both sides, that problem is the
scale-free

    max_A  J_0(A) = log sum_{D} d_A(x, y) - 1/2 log sum_{S} d_A(x, y)^2.

Its optimum is usually of rank 1 or 2 -- the metric keeps the one or two directions that best
separate the dissimilar pairs and forgets every other one -- which is why metric-learn's MMC falls
to 0.84 3-NN accuracy on digits (euclidean: 0.98). fastmetric adds a pull towards the initial
metric A0 (``init``, the identity by default), in the affine-invariant way of a LogDet prior:

    J(A) = J_0(A) + (mu / d) (log det(A0^-1 A) - d log(tr(A0^-1 A) / d)),

mu = ``regularization`` (default 2; 0 gives Xing et al.'s problem exactly). The added term is 0 at
A = A0 and -> -inf as A loses rank; it only depends on the shape of A0^-1 A, not its scale.

Solver: with A = R B R (R = A0^1/2, tr B = 1), matrix exponentiated gradient ascent on B
(log B <- log B + eta grad J; B stays symmetric positive definite, no projection is needed) with a
backtracking step; each step costs two (n_pairs x d) @ (d x d) products and a d x d eigh. The
diagonal variant does the same on diag(B). Stops when J rises by less than ``tol`` in a step or after
``max_iter`` steps. The result is scaled as in metric-learn: full -- sum over similar pairs of d_A^2
equals that of A0 divided by 100; diagonal -- it equals ``diagonal_c / 2`` (the scale of metric-learn's
diagonal optimum). Distance rankings, and so k-NN results, do not depend on that scale.
"""

from __future__ import annotations

import warnings

import numpy as np

from ._base import MahalanobisMixin, blas_single_thread
from .._validation import check_int, check_real
from ._constraints import pairs_for
from ._pairs import PairsClassifierMixin, components_from_metric, metric_prior, pair_differences

__all__ = ["MMC", "MMC_Supervised"]


def _sym_sqrt(A):
    w, V = np.linalg.eigh(A)
    return (V * np.sqrt(w)) @ V.T


class _BaseMMC(MahalanobisMixin):
    def __init__(
        self,
        max_iter=100,
        max_proj=10000,
        tol=1e-3,
        init="identity",
        diagonal=False,
        diagonal_c=1.0,
        verbose=False,
        preprocessor=None,
        random_state=None,
        regularization=2.0,
    ):
        self.max_iter = max_iter
        self.max_proj = max_proj
        self.tol = tol
        self.init = init
        self.diagonal = diagonal
        self.diagonal_c = diagonal_c
        self.verbose = verbose
        self.preprocessor = preprocessor
        self.random_state = random_state
        self.regularization = regularization

    def _check_params(self):
        check_int(self.max_iter, "max_iter")
        check_int(self.max_proj, "max_proj")
        check_real(self.tol, "tol", low=0)
        check_real(self.regularization, "regularization", low=0, finite=True)
        check_real(self.diagonal_c, "diagonal_c", low=0, low_open=True, finite=True)

    # ------------------------------------------------------------------ the solver
    def _fit_pairs(self, P, y, points, random_state):
        self._check_params()
        d = P.shape[2]
        U = pair_differences(P)
        S = U[y == 1]
        D = U[y == -1]
        zero_d = ~np.any(D != 0, axis=1)
        if zero_d.any():
            warnings.warn(
                f"{int(zero_d.sum())} dissimilar pair(s) join a point to itself (zero difference): no metric "
                "can separate them; they are ignored",
                UserWarning,
                stacklevel=3,
            )
            D = D[~zero_d]
        if D.shape[0] == 0:
            raise ValueError("MMC needs at least one dissimilar pair of distinct points")
        if not np.any(S != 0):
            raise ValueError(
                "every similar pair joins a point to itself (zero differences): the similar-pair constraint "
                "fixes no scale"
            )
        with blas_single_thread():
            A0 = metric_prior(self.init, points, d, random_state, name="init")
            if self.diagonal:
                A0 = np.diag(np.diag(A0).copy())
                A, it, conv = self._solve_diagonal(S, D, A0)
                target = float(self.diagonal_c) / 2.0
            else:
                A, it, conv = self._solve_full(S, D, A0)
                target = float(((S @ A0) * S).sum()) / 100.0
            scale = float(((S @ A) * S).sum())
            A = A * (target / scale)
        self.converged_ = bool(conv)
        self.A_ = A
        return self._set_components(components_from_metric(A), P.dtype, n_iter=it)

    def _solve_full(self, S, D, A0):
        d = A0.shape[0]
        mu = float(self.regularization)
        R = _sym_sqrt(A0)
        Dw = D @ R
        Sw = S @ R
        W = Sw.T @ Sw  # sum over similar pairs of u u^T, in the coordinates whitened by A0

        def objective(lam, V):
            Dv = Dw @ V
            s = np.sqrt(np.maximum((Dv * Dv) @ lam, 0.0))  # learned distances of the dissimilar pairs
            f = float(np.einsum("ij,ij->j", W @ V, V) @ lam)  # sum over similar pairs of d^2
            return self._J(s, f, lam, mu), (s, f, Dv)

        def gradient(lam, V, cache):
            s, f, Dv = cache
            w = 0.5 / (np.maximum(s, _TINY) * s.sum())
            G = (Dv.T * w) @ Dv - (V.T @ W @ V) / (2.0 * f) + np.diag(mu / d / lam)
            return 0.5 * (G + G.T)  # V^T grad V: the gradient in the eigenbasis of B

        def step(lam, V, G, eta):
            kappa, Q = np.linalg.eigh(np.diag(np.log(lam)) + eta * G)
            return kappa, V @ Q

        lam, V, it, conv = self._ascend(objective, gradient, step, np.full(d, 1.0 / d), np.eye(d))
        return R @ ((V * lam) @ V.T) @ R, it, conv

    def _solve_diagonal(self, S, D, A0):
        d = A0.shape[0]
        mu = float(self.regularization)
        r = np.sqrt(np.diag(A0))
        s2 = ((S * r) ** 2).sum(axis=0)  # sum over similar pairs of u_k^2
        D2 = (D * r) ** 2

        def objective(lam, V):
            s = np.sqrt(np.maximum(D2 @ lam, 0.0))
            f = float(s2 @ lam)
            return self._J(s, f, lam, mu), (s, f)

        def gradient(lam, V, cache):
            s, f = cache
            w = 0.5 / (np.maximum(s, _TINY) * s.sum())
            return w @ D2 - s2 / (2.0 * f) + mu / d / lam

        def step(lam, V, G, eta):
            return np.log(lam) + eta * G, None

        lam, _, it, conv = self._ascend(objective, gradient, step, np.full(d, 1.0 / d), None)
        return np.diag(r * lam * r), it, conv

    @staticmethod
    def _J(s, f, lam, mu):
        d = lam.shape[0]
        g = float(s.sum())
        if not (g > 0 and f > 0):
            return -np.inf
        return np.log(g) - 0.5 * np.log(f) + mu / d * (float(np.log(lam).sum()) - d * np.log(float(lam.sum()) / d))

    def _ascend(self, objective, gradient, step, lam, V):
        """Exponentiated-gradient ascent of J over {B sym. pos. def., tr B = 1} (or the simplex):
        log B <- log B + eta grad J, then normalise; eta halves until J rises, grows 1.5x after."""
        progress = self._progress()
        tol = float(self.tol)
        J, cache = objective(lam, V)
        if not np.isfinite(J):
            raise ValueError("MMC: the initial metric gives zero distance to every dissimilar or similar pair")
        eta = 1.0
        it = 0
        conv = False
        for it in range(1, int(self.max_iter) + 1):
            G = gradient(lam, V, cache)
            accepted = False
            while eta > 1e-12:
                kappa, V_new = step(lam, V, G, eta)
                lam_new = np.exp(kappa - kappa.max())
                lam_new = np.maximum(lam_new / lam_new.sum(), _TINY)
                J_new, cache_new = objective(lam_new, V_new)
                if J_new >= J:
                    accepted = True
                    break
                eta *= 0.5
            if not accepted:  # no ascent left at working precision: a stationary point
                conv = True
                break
            gain = J_new - J
            lam, V, J, cache = lam_new, V_new, J_new, cache_new
            progress(it, -J, float(np.linalg.norm(G)), step=f"{eta:.3g}")
            eta *= 1.5
            if gain < tol:
                conv = True
                break
        if not conv:
            progress.message(f"did not converge in {it} steps (last gain >= tol={tol})")
        return lam, V, it, conv


_TINY = np.finfo(np.float64).tiny


_PARAMS_DOC = """
    max_iter : int, default=100
        Maximum ascent steps.
    max_proj : int, default=10000
        Accepted for metric-learn compatibility; unused (no alternating projections are needed).
    tol : float
        Stop when a step raises the objective J by less than tol (J is a log-ratio, so tol is a
        relative change of the separation).
    init : {"identity", "covariance", "random"} or array (d, d), default="identity"
        The starting metric A0, which the regularisation also pulls towards ("covariance": the
        inverse covariance of the points, completed on constant directions).
    diagonal : bool, default=False
        Learn a diagonal metric (feature weights) instead of a full one.
    diagonal_c : float, default=1.0
        Diagonal variant: sets the scale, sum over similar pairs of d^2 = diagonal_c / 2 (where
        metric-learn's diagonal optimum lies); rankings do not depend on it.
    verbose : bool
        Print -J, the gradient norm and the step per iteration.
    preprocessor : None, array (n_points, n_features) or callable
        Lets ``pairs`` be (n_pairs, 2) identifiers of points -- row indices into the array, or anything
        the callable maps to an array of points (strings too) --, and X in ``transform`` 1-D identifiers.
    random_state : int, RandomState or None
        Seed for ``init="random"`` (and, for MMC_Supervised, the drawing of the constraints).
    regularization : float, default=2.0
        mu, the weight of the pull towards ``init`` (see the module notes). 0 reproduces Xing et al.'s
        problem, whose optimum usually has rank 1 or 2.
"""


class MMC(PairsClassifierMixin, _BaseMMC):
    __doc__ = (
        """Mahalanobis Metric for Clustering from similar / dissimilar pairs (Xing et al. 2002), with a
    pull towards the initial metric so that it does not collapse to rank 1 or 2.

    Parameters
    ----------"""
        + _PARAMS_DOC
        + """
    Attributes
    ----------
    components_ : ndarray (d, d)
        L with ``L^T L = A_``, in the dtype of the pairs (float32 kept).
    A_ : ndarray (d, d)
        The learned metric matrix (float64).
    threshold_ : float
        Distance below which ``predict`` calls a pair similar (calibrated in fit).
    n_iter_, converged_ : int, bool

    Examples
    --------
    >>> import numpy as np
    >>> from fastmetric.learn import MMC
    >>> X = np.array([[0., 0.], [0.2, 1.], [3., 0.], [3.2, 1.]])
    >>> pairs = np.array([[0, 1], [2, 3], [0, 2], [1, 3]])
    >>> mmc = MMC(preprocessor=X).fit(pairs, [1, 1, -1, -1])
    >>> mmc.predict(pairs)
    array([ 1,  1, -1, -1])
    """
    )

    def fit(self, pairs, y, calibration_params=None):
        """Learn the metric from ``pairs`` (n_pairs, 2, n_features) or index pairs, labels y (+1 / -1);
        both kinds of pairs are needed."""
        self._check_calibration(**({} if calibration_params is None else calibration_params))
        P, y = self._validate_pairs(pairs, y)
        self._fit_pairs(P, y, P.reshape(-1, P.shape[2]), self.random_state)
        return self._calibrate_after_fit(P, y, calibration_params)


class MMC_Supervised(_BaseMMC):
    __doc__ = (
        """MMC on constraints drawn from class labels: ``n_constraints`` similar pairs (same class) and
    as many dissimilar pairs (different classes), drawn with ``random_state``.

    Parameters
    ----------"""
        + _PARAMS_DOC.replace("tol : float\n", "tol : float, default=1e-6\n")
        + """    n_constraints : int or None
        Pairs of each kind (None: 20 * n_classes^2, as metric-learn).
    class_weight : None, "balanced" or dict
        Weights of the classes in the drawing of the constraints (scikit-learn's convention): a
        class's share of the drawn pairs is proportional to its weight x its count, so "balanced"
        gives every class an equal share; None (default) draws uniformly over the points, as
        metric-learn does (majority classes dominate).

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from fastmetric.learn import MMC_Supervised
    >>> X, y = load_iris(return_X_y=True)
    >>> MMC_Supervised(random_state=0).fit(X, y).get_mahalanobis_matrix().shape
    (4, 4)
    """
    )

    def __init__(
        self,
        max_iter=100,
        max_proj=10000,
        tol=1e-6,
        n_constraints=None,
        init="identity",
        diagonal=False,
        diagonal_c=1.0,
        verbose=False,
        preprocessor=None,
        random_state=None,
        regularization=2.0,
        class_weight=None,
    ):
        super().__init__(
            max_iter=max_iter,
            max_proj=max_proj,
            tol=tol,
            init=init,
            diagonal=diagonal,
            diagonal_c=diagonal_c,
            verbose=verbose,
            preprocessor=preprocessor,
            random_state=random_state,
            regularization=regularization,
        )
        self.n_constraints = n_constraints
        self.class_weight = class_weight

    def fit(self, X, y):
        """Draw constraints from the labels y and learn the metric on X (n_samples, n_features)."""
        self._check_params()
        X, codes = self._validate_supervised(X, y, partial=True)
        idx, labels, rs = pairs_for(self, codes)
        return self._fit_pairs(X[idx], labels, X, rs)
