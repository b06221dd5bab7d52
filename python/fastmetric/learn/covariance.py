"""The plain Mahalanobis metric: the inverse covariance of the data (no supervision)."""

from __future__ import annotations

import numpy as np

from ._base import MahalanobisMixin, blas_single_thread
from ._pairs import components_from_metric

__all__ = ["Covariance"]


class Covariance(MahalanobisMixin):
    """Mahalanobis distance with M = Cov(X)^+ , the (pseudo-)inverse of the sample covariance.

    The baseline every learned metric should beat. Needs no labels (``y`` is ignored).

    Singular covariance (constant features, collinear features, fewer samples than features): the
    Moore-Penrose pseudo-inverse is used -- directions in which the training data do not vary get
    weight 0, so they do not contribute to distances (rather than an infinite weight, or NaN).
    Eigenvalues below ``d * eps * max`` count as zero.

    Parameters
    ----------
    preprocessor : None, array (n_points, n_features) or callable
        Lets inputs be identifiers of points: 1-D X in ``fit`` / ``transform``, (n_pairs, 2) in
        ``pair_distance`` -- row indices into the array, or anything the callable maps to an array of
        points (strings too); 2-D points are still accepted as they are.

    Attributes
    ----------
    components_ : ndarray (n_features, n_features)
        L with L^T L = M (rows for the null directions are zero), in the dtype of X.

    Examples
    --------
    >>> import numpy as np
    >>> from fastmetric.learn import Covariance
    >>> X = np.random.default_rng(0).normal(size=(500, 3)) * [1.0, 10.0, 0.1]
    >>> Z = Covariance().fit(X).transform(X)  # whitened: unit variance along every direction
    >>> bool(np.allclose(np.cov(Z.T), np.eye(3)))
    True
    """

    _requires_y = False

    def __init__(self, preprocessor=None):
        self.preprocessor = preprocessor

    def fit(self, X, y=None):
        """Learn M = Cov(X)^+ from X (n_samples >= 2, n_features), or 1-D identifiers of points with a
        preprocessor; y is ignored."""
        X = self._validate_unsupervised(X)
        Xd = np.asarray(X, dtype=np.float64)
        with blas_single_thread():
            Xc = Xd - Xd.mean(axis=0)
            C = (Xc.T @ Xc) / (Xd.shape[0] - 1)
            w, V = np.linalg.eigh(0.5 * (C + C.T))
            top = float(w.max()) if w.size else 0.0
            keep = w > C.shape[0] * np.finfo(np.float64).eps * top if top > 0 else np.zeros_like(w, bool)
            inv = np.zeros_like(w)
            inv[keep] = 1.0 / w[keep]
            M = (V * inv) @ V.T
            L = components_from_metric(M)
        self.n_iter_ = 1
        return self._set_components(L, X.dtype)
