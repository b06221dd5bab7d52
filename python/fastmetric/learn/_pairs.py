"""Weak supervision by pairs: input handling, the pair classifier API, metric-matrix helpers.

Used by the learners that take constraints (ITML, MMC) and by the closed-form learners that work on
a metric matrix M rather than on L (Covariance, ITML, MMC).

Pair input (metric-learn 0.7 conventions, so a metric-learn user switches by changing the import)
    ``pairs`` is an array of shape (n_pairs, 2, n_features) -- the two points of each pair -- or,
    when the estimator was given ``preprocessor=X`` (an array of points) or a callable
    ``preprocessor(identifiers) -> points``, an array of shape (n_pairs, 2) of identifiers: row
    indices into X, or anything the callable maps (strings too); see :mod:`._preprocessor`.
    ``y`` holds +1 (similar) or -1 (dissimilar) per pair. Errors name the offending shape, value
    or index: pairs of the wrong shape, labels outside {-1, +1}, indices outside ``X``, NaN/inf.

Pair classifier (:class:`PairsClassifierMixin`)
    ``decision_function(pairs)`` = -learned distance (higher = more similar); ``predict`` returns
    +1 where the distance is <= ``threshold_``, else -1; ``score`` is the ROC AUC of the decision
    function; ``set_threshold`` / ``calibrate_threshold`` (strategies "accuracy", "f_beta",
    "max_tpr", "max_tnr") choose ``threshold_``. ``fit`` calibrates on the training pairs
    (``calibration_params`` are passed to ``calibrate_threshold``).

Subclass contract: list the mixin first (``class ITML(PairsClassifierMixin, _BaseITML)``), call
``P, y = self._validate_pairs(pairs, y)`` in ``fit`` (sets ``n_features_in_``), finish with
``self._set_components(...)`` and ``self._calibrate_after_fit(P, y, calibration_params)``.
"""

from __future__ import annotations

import numbers

import numpy as np

from .._validation import check_real
from ._base import canonical_float, check_magnitude

try:
    from sklearn.base import ClassifierMixin
    from sklearn.utils import check_random_state
    from sklearn.utils.validation import check_is_fitted
except ImportError as exc:  # pragma: no cover - the base module already raised a clear error
    raise ImportError("fastmetric.learn needs scikit-learn: pip install 'fastmetric[learn]'") from exc

__all__ = [
    "PairsMixin",
    "PairsClassifierMixin",
    "components_from_metric",
    "metric_prior",
    "pair_differences",
    "float_dtype_of",
]

_STRATEGIES = ("accuracy", "f_beta", "max_tpr", "max_tnr")


def float_dtype_of(a):
    """float32 for float32 input, float64 for everything else (ints, bools, float16, float64)."""
    return np.float32 if np.asarray(a).dtype == np.float32 else np.float64


def components_from_metric(M, *, tol=None):
    """An L with L^T L = M for a symmetric positive semi-definite M (d x d): ``sqrt(w) V^T`` from
    ``M = V diag(w) V^T``, rows in decreasing order of w, float64 of shape (d, d).

    Eigenvalues below ``tol`` (default: d * eps * max(w)) -- rounding noise or genuinely negative
    parts of a nearly-PSD input -- become 0 rather than NaN. Each row's largest-magnitude entry is made
    positive, so the result is deterministic.
    """
    M = np.asarray(M, dtype=np.float64)
    if M.ndim != 2 or M.shape[0] != M.shape[1]:
        raise ValueError(f"a metric matrix must be square; got shape {M.shape}")
    if not np.isfinite(M).all():
        raise ValueError("the metric matrix contains NaN or infinity")
    d = M.shape[0]
    w, V = np.linalg.eigh(0.5 * (M + M.T))
    order = np.argsort(w)[::-1]
    w, V = w[order], V[:, order]
    top = max(float(w[0]), 0.0) if d else 0.0
    tol = d * np.finfo(np.float64).eps * top if tol is None else tol
    w = np.where(w > tol, w, 0.0)
    L = np.sqrt(w)[:, None] * V.T
    idx = np.argmax(np.abs(L), axis=1)
    sign = np.sign(L[np.arange(d), idx])
    sign[sign == 0] = 1.0
    return np.ascontiguousarray(L * sign[:, None])


def _inverse_on_range(C, rel_tol=1e-10):
    """Pseudo-inverse of a symmetric PSD C, completed to a positive definite matrix: directions in
    which C vanishes (constant features, collinear directions) get the mean of the other inverse
    eigenvalues instead of infinity."""
    w, V = np.linalg.eigh(0.5 * (C + C.T))
    top = float(w.max()) if w.size else 0.0
    if top <= 0:
        return np.eye(C.shape[0])
    keep = w > rel_tol * top
    inv = np.zeros_like(w)
    inv[keep] = 1.0 / w[keep]
    inv[~keep] = inv[keep].mean()
    return (V * inv) @ V.T


def metric_prior(prior, points, n_features, random_state=None, *, name="prior"):
    """The starting / prior metric matrix M0 (float64, d x d, symmetric positive definite).

    ``prior``: "identity"; "covariance" (inverse covariance of ``points``, completed on the
    directions where the points do not vary so that M0 stays positive definite); "random" (a random
    SPD matrix from ``random_state``); or an array (n_features, n_features), which must be symmetric
    positive definite.
    """
    d = int(n_features)
    if isinstance(prior, (list, tuple)):
        prior = np.asarray(prior)
    if isinstance(prior, np.ndarray):
        if prior.shape != (d, d):
            raise ValueError(f"{name} array has shape {prior.shape}; expected (n_features, n_features) = ({d}, {d})")
        if prior.dtype.kind not in "fiub":
            raise TypeError(f"{name} array must be real-valued, got dtype {prior.dtype}")
        M = np.array(prior, dtype=np.float64)
        if not np.isfinite(M).all():
            raise ValueError(f"{name} array contains NaN or infinity")
        if not np.allclose(M, M.T, rtol=1e-8, atol=1e-12 * max(1.0, float(np.abs(M).max()))):
            raise ValueError(f"{name} array must be symmetric")
        M = 0.5 * (M + M.T)
        w = np.linalg.eigvalsh(M)
        if w[0] <= max(abs(w[-1]), 1e-300) * d * np.finfo(np.float64).eps:
            raise ValueError(
                f"{name} array must be positive definite; its smallest eigenvalue is {w[0]:.3g} (largest {w[-1]:.3g})"
            )
        return M
    if not isinstance(prior, str):
        raise TypeError(f"{name} must be a string or an array, got {type(prior).__name__}")
    if prior == "identity":
        return np.eye(d)
    if prior == "covariance":
        P = np.asarray(points, dtype=np.float64)
        if P.shape[0] < 2:
            raise ValueError(f"{name}='covariance' needs at least 2 distinct points")
        C = np.atleast_2d(np.cov(P, rowvar=False))
        return _inverse_on_range(C)
    if prior == "random":
        from sklearn.datasets import make_spd_matrix

        return np.asarray(make_spd_matrix(d, random_state=check_random_state(random_state)), dtype=np.float64)
    raise ValueError(f"{name}={prior!r} is not one of 'identity', 'covariance', 'random' or an array")


def pair_differences(P):
    """(n_pairs, n_features) differences of the two points of each pair, float64, C-contiguous."""
    return np.ascontiguousarray(np.asarray(P[:, 0, :], dtype=np.float64) - np.asarray(P[:, 1, :], dtype=np.float64))


class PairsMixin:
    """Pair input handling (3-D pairs or index pairs through ``preprocessor``) for learners whose
    ``fit`` takes pairs. Must come before :class:`MahalanobisMixin` in the bases."""

    _tuple_size = 2

    # ------------------------------------------------------------------ points of the pairs
    def _pair_points(self, pairs, *, fitting=False):
        """pairs -> float array (n_pairs, 2, n_features): float32 kept, other numbers -> float64.
        (n_pairs, 2) identifiers go through the preprocessor (see :mod:`._preprocessor`)."""
        P = self._tuples_input(pairs, 2, fitting=fitting, what="pairs")
        if P.dtype.kind not in "fiub":
            raise TypeError(f"pairs must be numeric, got dtype {P.dtype}")
        P = canonical_float(np.ascontiguousarray(P, dtype=float_dtype_of(P)))
        if P.size and not np.isfinite(P).all():
            raise ValueError("pairs contain NaN or infinity")
        return P

    def _validate_pairs(self, pairs, y=None, *, reset=True, need_both=True):
        """(pairs, y) -> (P float (n_pairs, 2, d), y int8 in {-1, +1}). On reset sets n_features_in_."""
        if y is None and reset:
            raise ValueError(f"{type(self).__name__}.fit needs pair labels y (+1 similar, -1 dissimilar)")
        P = self._pair_points(pairs, fitting=reset)
        if P.shape[0] == 0:
            raise ValueError("no pairs given (0 pairs)")
        if P.shape[2] == 0:
            raise ValueError("pairs have 0 features")
        check_magnitude(P, type(self).__name__)
        if reset:
            self.n_features_in_ = int(P.shape[2])
        elif P.shape[2] != self.n_features_in_:
            raise ValueError(
                f"pairs have {P.shape[2]} features, but {type(self).__name__} was fitted with "
                f"{self.n_features_in_} features"
            )
        if y is None:
            return P, None
        yy = np.asarray(y)
        if yy.ndim != 1 or yy.shape[0] != P.shape[0]:
            raise ValueError(
                f"y must hold one label per pair: pairs has {P.shape[0]} pairs (shape {P.shape}), y has shape "
                f"{yy.shape}"
            )
        if yy.dtype.kind not in "iufb":
            raise ValueError(f"pair labels must be +1 (similar) or -1 (dissimilar); got dtype {yy.dtype}")
        values = np.unique(yy)
        if not np.isin(values, (-1, 1)).all():
            raise ValueError(
                f"pair labels must be +1 (similar) or -1 (dissimilar); got values {sorted(values.tolist())[:10]}"
            )
        yy = yy.astype(np.int8)
        if need_both and values.size < 2:
            kind = "similar (+1)" if values[0] == 1 else "dissimilar (-1)"
            raise ValueError(
                f"{type(self).__name__} needs both similar (+1) and dissimilar (-1) pairs; all {yy.size} pairs "
                f"are {kind}"
            )
        return P, yy

    # ------------------------------------------------------------------ distances of pairs
    def pair_distance(self, pairs):
        """Learned distance of each pair: (n_pairs, 2, n_features), or index pairs with a preprocessor."""
        check_is_fitted(self, "components_")
        P, _ = self._validate_pairs(pairs, None, reset=False)
        return self._formed_pair_distance(P)

    def pair_score(self, pairs):
        """Similarity of each pair: the opposite of :meth:`pair_distance` (higher = more similar)."""
        return -self.pair_distance(pairs)


class PairsClassifierMixin(PairsMixin, ClassifierMixin):
    """Pair classifier: similar (+1) when the learned distance is <= ``threshold_``."""

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags

    def decision_function(self, pairs):
        """-learned distance of each pair (higher = more likely similar)."""
        return self.pair_score(pairs)

    def predict(self, pairs):
        """+1 (similar) where the learned distance is <= ``threshold_``, else -1."""
        check_is_fitted(self, "components_")
        if "threshold_" not in vars(self):
            raise AttributeError(
                "no threshold is set for this estimator; call set_threshold or calibrate_threshold first"
            )
        return np.where(self.pair_distance(pairs) <= self.threshold_, 1, -1)

    def score(self, pairs, y):
        """ROC AUC of :meth:`decision_function` against the pair labels (+1 / -1)."""
        from sklearn.metrics import roc_auc_score

        check_is_fitted(self, "components_")
        P, yy = self._validate_pairs(pairs, y, reset=False)
        return float(roc_auc_score(yy, -self._formed_pair_distance(P)))

    def set_threshold(self, threshold):
        """Pairs at learned distance <= ``threshold`` are predicted similar."""
        check_is_fitted(self, "components_")
        if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real):
            raise ValueError(f"threshold must be a real number, got {threshold!r}")
        threshold = float(threshold)
        if np.isnan(threshold):
            raise ValueError("threshold must not be NaN")
        self.threshold_ = threshold
        return self

    @staticmethod
    def _check_calibration(strategy="accuracy", min_rate=None, beta=1.0):
        if strategy not in _STRATEGIES:
            raise ValueError(f"strategy must be one of {', '.join(map(repr, _STRATEGIES))}; got {strategy!r}")
        if strategy in ("max_tpr", "max_tnr"):
            check_real(min_rate, f"min_rate (needed by strategy={strategy!r})", low=0, high=1)
        if strategy == "f_beta":
            check_real(beta, "beta", low=0)

    def calibrate_threshold(self, pairs_valid, y_valid, strategy="accuracy", min_rate=None, beta=1.0):
        """Choose ``threshold_`` on validation pairs.

        Strategies: "accuracy" (maximise accuracy), "f_beta" (maximise the F-beta score of the
        similar class), "max_tpr" (highest true-positive rate with true-negative rate >= min_rate),
        "max_tnr" (highest true-negative rate with true-positive rate >= min_rate). Cut points lie
        between distinct distances, so tied pairs are always classified together. When no cut point
        satisfies a ``min_rate`` the one closest to it is used.
        """
        check_is_fitted(self, "components_")
        self._check_calibration(strategy, min_rate, beta)
        P, yy = self._validate_pairs(pairs_valid, y_valid, reset=False, need_both=False)
        return self._calibrate_formed(P, yy, strategy, min_rate, beta)

    def _calibrate_formed(self, P, yy, strategy="accuracy", min_rate=None, beta=1.0):
        """:meth:`calibrate_threshold` on validated formed pairs and labels (checked strategy)."""
        dist = np.asarray(self._formed_pair_distance(P), dtype=np.float64)
        order = np.argsort(dist, kind="stable")
        ds = dist[order]
        pos = (yy[order] == 1).astype(np.float64)
        n_pos = pos.sum()
        n_neg = pos.size - n_pos
        # cut c accepts the c nearest pairs; only cuts at the end of a run of equal distances
        cuts = np.concatenate(([0], np.flatnonzero(np.diff(ds) > 0) + 1, [ds.size]))
        tp = np.concatenate(([0.0], np.cumsum(pos)))[cuts]
        fp = cuts - tp
        tn = n_neg - fp
        tpr = tp / n_pos if n_pos else np.ones_like(tp)
        tnr = tn / n_neg if n_neg else np.ones_like(tn)
        if strategy == "accuracy":
            best = int(np.argmax(tp + tn))
        elif strategy == "f_beta":
            b2 = float(beta) ** 2
            denom = (1 + b2) * tp + b2 * (n_pos - tp) + fp
            with np.errstate(divide="ignore", invalid="ignore"):
                f = np.where(denom > 0, (1 + b2) * tp / denom, 0.0)
            f[0] = -1.0  # accepting nothing has no precision
            best = int(np.argmax(f))
        else:
            rate, other = (tpr, tnr) if strategy == "max_tpr" else (tnr, tpr)
            ok = other >= min_rate - 1e-12
            if not ok.any():
                ok = other == other.max()
            cand = np.flatnonzero(ok)
            # highest rate; among ties the best value of the other rate
            key = np.lexsort((-other[cand], -rate[cand]))
            best = int(cand[key[0]])
        c = int(cuts[best])
        if c == 0:
            self.threshold_ = float(np.nextafter(ds[0], -np.inf)) if ds[0] > -np.inf else -np.inf
        else:
            self.threshold_ = float(ds[c - 1])
        return self

    def _calibrate_after_fit(self, P, y, calibration_params):
        params = {} if calibration_params is None else dict(calibration_params)
        self._calibrate_formed(P, y, **params)
        self.classes_ = np.array([-1, 1])
        return self
