"""Weak supervision by triplets and quadruplets: input handling and metric-learn's classifier API.

Used by the learners that take relative comparisons (LSML: quadruplets, SCML: triplets).

Tuple input (metric-learn 0.7 conventions)
    ``quadruplets`` is an array of shape (n, 4, n_features) -- points (a, b, c, d) meaning
    d(a, b) < d(c, d) -- and ``triplets`` one of shape (n, 3, n_features) -- points (a, b, c)
    meaning d(a, b) < d(a, c). With ``preprocessor=X`` (an array of points) or a callable
    ``preprocessor(identifiers) -> points`` they may instead be arrays of shape (n, 4) / (n, 3) of
    identifiers (row indices into X, or anything the callable maps); 3-D tuples are taken as points
    with or without a preprocessor (metric-learn's rule). Errors name the offending shape, index or value.

Classifier API (:class:`QuadrupletsClassifierMixin`, :class:`TripletsClassifierMixin`)
    ``decision_function`` = learned distance of the second pair minus that of the first
    ((c, d) - (a, b) for quadruplets, (a, c) - (a, b) for triplets): positive when the tuple is in
    the right order. ``predict`` gives +1 / -1 from its sign (metric-learn: ``np.sign`` for
    quadruplets, so an exact tie predicts 0; ``> 0`` for triplets, so a tie predicts -1);
    ``score`` is the fraction of tuples in the right order (ties count half for quadruplets, as in
    metric-learn).

Subclass contract: list the mixin first, call ``T = self._validate_tuples(tuples)`` in ``fit``
(sets ``n_features_in_`` and remembers an array preprocessor), finish with ``_set_components``.
"""

from __future__ import annotations

import numpy as np

from ._base import canonical_float, check_magnitude
from ._pairs import PairsMixin, float_dtype_of

try:
    from sklearn.base import ClassifierMixin
    from sklearn.utils.validation import check_is_fitted
except ImportError as exc:  # pragma: no cover - the base module already raised a clear error
    raise ImportError("fastmetric.learn needs scikit-learn: pip install 'fastmetric[learn]'") from exc

__all__ = ["TuplesMixin", "QuadrupletsClassifierMixin", "TripletsClassifierMixin"]

_NAMES = {3: "triplets", 4: "quadruplets"}


class TuplesMixin(PairsMixin):
    """Triplet / quadruplet input handling (3-D tuples or index tuples through ``preprocessor``).
    ``pair_distance`` / ``pair_score`` take pairs as for the pair learners."""

    _tuple_size = 4

    def _tuple_kind(self):
        return _NAMES[self._tuple_size]

    def _tuple_points(self, tuples, *, fitting=False):
        """tuples -> float array (n, size, n_features): float32 kept, other numbers -> float64.
        (n, size) identifiers go through the preprocessor (see :mod:`._preprocessor`)."""
        kind = self._tuple_kind()
        T = self._tuples_input(tuples, self._tuple_size, fitting=fitting, what=kind)
        if T.dtype.kind not in "fiub":
            raise TypeError(f"{kind} must be numeric, got dtype {T.dtype}")
        T = canonical_float(np.ascontiguousarray(T, dtype=float_dtype_of(T)))
        if T.size and not np.isfinite(T).all():
            raise ValueError(f"{kind} contain NaN or infinity")
        return T

    def _validate_tuples(self, tuples, *, reset=True):
        """tuples -> float (n, size, d); on reset sets ``n_features_in_``, else checks it."""
        kind = self._tuple_kind()
        T = self._tuple_points(tuples, fitting=reset)
        if T.shape[0] == 0:
            raise ValueError(f"no {kind} given (0 {kind}, shape {T.shape})")
        if T.shape[2] == 0:
            raise ValueError(f"{kind} have 0 features")
        check_magnitude(T, type(self).__name__)
        if reset:
            self.n_features_in_ = int(T.shape[2])
        elif T.shape[2] != self.n_features_in_:
            raise ValueError(
                f"{kind} have {T.shape[2]} features (shape {T.shape}), but {type(self).__name__} was fitted with "
                f"{self.n_features_in_} features"
            )
        return T

    def _tuple_pair_distances(self, tuples, first, second):
        """Learned distances of the pairs (T[:, first]) and (T[:, second]) of validated tuples."""
        check_is_fitted(self, "components_")
        T = self._validate_tuples(tuples, reset=False)
        d1 = self._formed_pair_distance(T[:, list(first), :])
        d2 = self._formed_pair_distance(T[:, list(second), :])
        return d1, d2


class QuadrupletsClassifierMixin(TuplesMixin, ClassifierMixin):
    """Quadruplet classifier: (a, b, c, d) is in the right order when d(a, b) < d(c, d)."""

    _tuple_size = 4
    classes_ = np.array([0, 1])  # metric-learn's class attribute

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = False
        return tags

    def decision_function(self, quadruplets):
        """d(c, d) - d(a, b) for each quadruplet (positive: in the right order)."""
        d_ab, d_cd = self._tuple_pair_distances(quadruplets, (0, 1), (2, 3))
        return d_cd - d_ab

    def predict(self, quadruplets):
        """sign of :meth:`decision_function`: +1 right order, -1 wrong order (0 for an exact tie)."""
        return np.sign(self.decision_function(quadruplets))

    def score(self, quadruplets, y=None):
        """Fraction of quadruplets in the right order (a tie counts half); ``y`` is ignored."""
        return float(np.mean(self.predict(quadruplets)) / 2 + 0.5)


class TripletsClassifierMixin(TuplesMixin, ClassifierMixin):
    """Triplet classifier: (a, b, c) is in the right order when d(a, b) < d(a, c)."""

    _tuple_size = 3
    classes_ = np.array([0, 1])  # metric-learn's class attribute

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = False
        return tags

    def decision_function(self, triplets):
        """d(a, c) - d(a, b) for each triplet (positive: in the right order)."""
        d_ab, d_ac = self._tuple_pair_distances(triplets, (0, 1), (0, 2))
        return d_ac - d_ab

    def predict(self, triplets):
        """+1 where d(a, b) < d(a, c), else -1."""
        return np.where(self.decision_function(triplets) > 0, 1, -1)

    def score(self, triplets, y=None):
        """Fraction of triplets in the right order; ``y`` is ignored."""
        return float(np.mean(self.predict(triplets) == 1))
