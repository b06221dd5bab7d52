"""Relevant Component Analysis (Bar-Hillel, Hertz, Shental & Weinshall, ICML 2003 / JMLR 2005)."""

from __future__ import annotations

import warnings

import numpy as np

from ._base import MahalanobisMixin, blas_single_thread
from .._validation import check_int, check_real
from ._constraints import chunks as draw_chunks
from ._constraints import class_draw_weights

__all__ = ["RCA", "RCA_Supervised"]


def _chunklet_centred(X, chunks):
    """Rows of X that belong to a chunklet, each minus its chunklet's mean; also the chunklet count."""
    mask = chunks >= 0
    ids, inv = np.unique(chunks[mask], return_inverse=True)
    Xm = np.asarray(X[mask], dtype=np.float64)
    counts = np.bincount(inv, minlength=ids.size).astype(np.float64)
    sums = np.zeros((ids.size, X.shape[1]))
    np.add.at(sums, inv, Xm)
    return Xm - (sums / counts[:, None])[inv], mask, ids.size, counts


class RCA(MahalanobisMixin):
    """Relevant Component Analysis: whiten the data by the covariance *inside* chunklets -- small
    groups of points known to be equivalent -- so that the variability chunklets show (irrelevant to
    the labels) is scaled down.

    ``fit(X, chunks)``: ``chunks[i]`` is the chunklet of point i, -1 for none. The inner covariance
    C = (1/m) sum over chunklet points of (x - chunklet mean)(x - chunklet mean)^T; the metric is
    M = C^-1, restricted to the span of the chunklet points.

    Robustness (metric-learn 0.7 returns NaN on digits: constant pixels make C singular): the
    problem is solved on the span of the chunklet points (directions in which they do not vary get
    weight 0), in the coordinates whitened by their total covariance T, where the inner covariance
    has eigenvalues mu in [0, 1] (mu = within-chunklet / total variance of a direction). The
    components are mu^-1/2 along those eigenvectors, most relevant (smallest mu) first -- exactly
    C^-1/2 on the span -- except that mu below ``regularization * max(mu)`` is raised to that floor,
    so directions no chunklet varies in (too few chunklets for the dimension) get a large but finite
    weight instead of an infinite one.

    Parameters
    ----------
    n_components : int or None
        Rows of ``components_`` (None: the rank of the chunklet points' covariance, as metric-learn).
    regularization : float, default=1e-3
        Floor of the relative inner variances mu, as a fraction of the largest (see above); 0 gives
        plain C^-1 where C is invertible on the span (and an error where it is not).
    preprocessor : None, array (n_points, n_features) or callable
        Lets inputs be identifiers of points: 1-D X in ``fit`` / ``transform``, (n_pairs, 2) in
        ``pair_distance`` -- row indices into the array, or anything the callable maps to an array of
        points (strings too); 2-D points are still accepted as they are.

    Attributes
    ----------
    components_ : ndarray (n_components, n_features), in the dtype of X.
    relative_variances_ : ndarray (n_components,)
        mu of each component (0: no chunklet varies along it).

    Examples
    --------
    >>> import numpy as np
    >>> from fastmetric.learn import RCA
    >>> X = np.array([[0., 0.], [1., 0.1], [0., 2.], [1., 2.1], [0., 4.], [1., 3.9]])
    >>> chunks = [0, 0, 1, 1, 2, 2]  # points known to share a class
    >>> RCA().fit(X, chunks).transform(X).shape
    (6, 2)
    """

    _requires_y = True

    def __init__(self, n_components=None, regularization=1e-3, preprocessor=None):
        self.n_components = n_components
        self.regularization = regularization
        self.preprocessor = preprocessor

    def _check_params(self):
        check_real(self.regularization, "regularization", low=0, finite=True)

    def fit(self, X, chunks):
        """Learn the metric from X (n_samples, n_features) and chunklet ids (-1: in no chunklet)."""
        self._check_params()
        if chunks is None:
            raise ValueError("RCA needs chunklet ids (chunks[i] = chunklet of point i, -1 for none)")
        X = self._validate_unsupervised(X)
        ch = np.asarray(chunks)
        if ch.ndim != 1 or ch.shape[0] != X.shape[0]:
            raise ValueError(
                f"chunks must hold one chunklet id per sample: X has {X.shape[0]} rows, chunks has shape {ch.shape}"
            )
        if ch.dtype.kind not in "iu":
            if ch.dtype.kind == "f" and np.isfinite(ch).all() and np.array_equal(ch, np.round(ch)):
                ch = ch.astype(np.int64)
            else:
                raise ValueError(f"chunks must be integers (-1: in no chunklet); got dtype {ch.dtype}")
        ch = ch.astype(np.int64)
        return self._fit_chunks(X, ch)

    def _fit_chunks(self, X, ch, sample_weight=None):
        """The metric from X and chunklet ids ch; ``sample_weight`` (one weight >= 0 per row, equal
        within a chunklet, or None) weights each point's term of the inner and total covariances."""
        d = X.shape[1]
        with blas_single_thread():
            Xc, mask, n_chunks, counts = _chunklet_centred(X, ch)
            if n_chunks == 0 or not (counts >= 2).any():
                raise ValueError(
                    "RCA needs at least one chunklet of two or more points (all chunk ids are -1 or singletons)"
                )
            m = Xc.shape[0]
            Xm = np.asarray(X[mask], dtype=np.float64)
            if sample_weight is None:
                C = (Xc.T @ Xc) / m
                Xt = Xm - Xm.mean(axis=0)
                T = (Xt.T @ Xt) / max(m - 1, 1)
            else:
                w = np.asarray(sample_weight, dtype=np.float64)[mask]
                total = float(w.sum())
                if not total > 0:
                    raise ValueError("RCA_Supervised: class_weight gives weight 0 to every class that forms a chunklet")
                C = (Xc.T @ (Xc * w[:, None])) / total
                Xt = Xm - (w @ Xm) / total
                T = (Xt.T @ (Xt * w[:, None])) / total
            wt, Vt = np.linalg.eigh(0.5 * (T + T.T))
            top = float(wt.max()) if wt.size else 0.0
            keep = wt > top * d * np.finfo(np.float64).eps * 10 if top > 0 else np.zeros(d, bool)
            r = int(keep.sum())
            if r == 0:
                raise ValueError("RCA: the chunklet points do not vary (their covariance is zero)")
            # coordinates whitened by T on its span: x -> T^-1/2 P^T x
            Wt = Vt[:, keep] / np.sqrt(wt[keep])[None, :]  # d x r
            Cw = Wt.T @ C @ Wt
            mu, U = np.linalg.eigh(0.5 * (Cw + Cw.T))
            mu = np.clip(mu, 0.0, None)
            k = self._n_components_rca(r, d)
            order = np.argsort(mu, kind="stable")[:k]  # most relevant (least inner variance) first
            reg = float(self.regularization)
            if reg == 0 and (mu[order] <= 1e-12 * float(mu.max())).any():
                raise ValueError(
                    "RCA: the inner covariance is singular on the span of the data (more dimensions than the "
                    "chunklets constrain); use regularization > 0, larger / more chunklets or fewer n_components"
                )
            floor = reg * float(mu.max())
            scale = 1.0 / np.sqrt(np.maximum(mu[order], floor))
            L = (scale[:, None] * U[:, order].T) @ Wt.T  # k x d
        idx = np.argmax(np.abs(L), axis=1)
        sign = np.sign(L[np.arange(k), idx])
        sign[sign == 0] = 1.0
        self.relative_variances_ = mu[order]
        self.n_iter_ = 1
        return self._set_components(L * sign[:, None], X.dtype)

    def _n_components_rca(self, rank, d):
        k = self.n_components
        if k is None:
            return rank
        k = self._n_components_checked(d)
        if k > rank:
            warnings.warn(
                f"n_components={k} exceeds the rank of the chunklet points' covariance ({rank}); using {rank}",
                UserWarning,
                stacklevel=4,
            )
            k = rank
        return k


class RCA_Supervised(RCA):
    """RCA on chunklets drawn from class labels: ``n_chunks`` groups of ``chunk_size`` same-class
    points (each point in at most one), drawn with ``random_state``.

    Default ``n_chunks=None``: as many chunklets as the labels allow (every point of a class in some
    chunklet, up to the remainder of its class size by ``chunk_size``) -- metric-learn's fixed 100
    fails on iris and wine (too few points) and under-uses larger sets. An explicit ``n_chunks`` larger
    than available is clipped with a warning.

    Parameters: those of :class:`RCA`, plus ``n_chunks``, ``chunk_size`` (default 2),
    ``random_state`` and ``class_weight``. ``fit(X, y)`` with class labels y.

    ``class_weight`` (None, "balanced" or a dict {label: weight}, scikit-learn's convention; not in
    metric-learn): each chunklet point's term of the inner covariance C (and of the total covariance
    that sets the span and the floor) is weighted by its class weight, C = sum_i w_i (x_i - m_i)(x_i -
    m_i)^T / sum_i w_i, so "balanced" gives every class an equal share of C instead of a share
    proportional to its size; the chunklets are drawn as without weights.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from fastmetric.learn import RCA_Supervised
    >>> X, y = load_iris(return_X_y=True)
    >>> RCA_Supervised(random_state=0).fit(X, y).components_.shape
    (4, 4)
    """

    def __init__(
        self,
        n_components=None,
        n_chunks=None,
        chunk_size=2,
        regularization=1e-3,
        preprocessor=None,
        random_state=None,
        class_weight=None,
    ):
        super().__init__(n_components=n_components, regularization=regularization, preprocessor=preprocessor)
        self.n_chunks = n_chunks
        self.chunk_size = chunk_size
        self.random_state = random_state
        self.class_weight = class_weight

    def fit(self, X, y):
        """Draw chunklets from the labels y and learn the metric on X (n_samples, n_features)."""
        self._check_params()
        X, codes = self._validate_supervised(X, y, partial=True)
        size = self.chunk_size
        check_int(size, "chunk_size", 2)
        ch = draw_chunks(codes, self.n_chunks, self.chunk_size, self.random_state)
        if (ch < 0).all():
            raise ValueError(
                f"no class has {self.chunk_size} points: RCA_Supervised cannot form chunklets of chunk_size="
                f"{self.chunk_size}"
            )
        # per-point class weights, 0 for unlabelled points (never in a chunklet); None for None
        weights = class_draw_weights(self.class_weight, codes, self.classes_)
        return self._fit_chunks(X, ch, sample_weight=weights)
