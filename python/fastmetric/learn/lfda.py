"""Local Fisher Discriminant Analysis (Sugiyama, JMLR 2007)."""

from __future__ import annotations

import warnings

import numpy as np

from ._base import MahalanobisMixin, blas_single_thread
from .._validation import check_int

__all__ = ["LFDA"]


class LFDA(MahalanobisMixin):
    """Local Fisher Discriminant Analysis: Fisher's criterion with the within- and between-class
    scatter weighted by a local affinity, so that multimodal classes are not forced together.

    With the local-scaling affinity ``A_ij = exp(-|x_i - x_j|^2 / (s_i s_j))`` (s_i the distance from x_i
    to its k-th nearest neighbour of the same class), for same-class pairs:

        S_w = 1/2 sum_ij W_ij (x_i - x_j)(x_i - x_j)^T,   W_ij = A_ij / n_c
        S_b = 1/2 sum_ij B_ij (x_i - x_j)(x_i - x_j)^T,   B_ij = A_ij (1/n - 1/n_c),  1/n across classes

    and the components solve S_b v = lambda S_w v (largest lambda first). Closed form; O(sum_c n_c^2 d
    + n d^2 + d^3).

    Robustness (metric-learn 0.7 returns complex or NaN components on digits, whose constant pixels
    make S_w singular): the problem is solved on the span of the data (directions in which X does not
    vary -- constant features -- get weight 0); inside it S_w is symmetric and its eigenvalues are
    floored at 1e-10 x the largest, so the generalised problem is definite and real. ``n_components``
    beyond the rank of the data give zero rows. Coincident same-class points (zero local scale) get
    affinity 1, as the limit suggests. (metric-learn 0.7 also adds S_w to S_b where the paper's
    reference code subtracts it; this follows the paper.)

    Parameters
    ----------
    n_components : int or None
        Rows of ``components_`` (None: n_features).
    k : int or None
        Neighbour used for the local scale (None: min(7, n_features - 1), as metric-learn); capped
        per class at n_c - 1.
    embedding_type : {"weighted", "orthonormalized", "plain"}, default="weighted"
        "weighted" scales each component by sqrt(lambda) (metric-learn's default), "orthonormalized"
        makes the components orthonormal, "plain" keeps the S_w-normalised eigenvectors.
    preprocessor : None, array (n_points, n_features) or callable
        Lets inputs be identifiers of points: 1-D X in ``fit`` / ``transform``, (n_pairs, 2) in
        ``pair_distance`` -- row indices into the array, or anything the callable maps to an array of
        points (strings too); 2-D points are still accepted as they are.

    Attributes
    ----------
    components_ : ndarray (n_components, n_features), in the dtype of X.
    eigenvalues_ : ndarray (n_components,)
        The generalised eigenvalues lambda of the components (0 for padding rows).

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from fastmetric.learn import LFDA
    >>> X, y = load_iris(return_X_y=True)
    >>> LFDA(n_components=2, k=5).fit(X, y).transform(X).shape
    (150, 2)
    """

    def __init__(self, n_components=None, k=None, embedding_type="weighted", preprocessor=None):
        self.n_components = n_components
        self.k = k
        self.embedding_type = embedding_type
        self.preprocessor = preprocessor

    def fit(self, X, y):
        """Learn ``components_`` from X (n_samples, n_features) and class labels y."""
        if self.embedding_type not in ("weighted", "orthonormalized", "plain"):
            raise ValueError(
                f"embedding_type must be 'weighted', 'orthonormalized' or 'plain'; got {self.embedding_type!r}"
            )
        X, y = self._validate_supervised(X, y)
        n, d = X.shape
        dim = self._n_components_checked(d)
        if self.k is None:
            k = max(1, min(7, d - 1))
        else:
            k = check_int(self.k, "k")
        Xd = np.asarray(X, dtype=np.float64)
        with blas_single_thread():
            Sw, Sb = self._scatters(Xd, y, k)
            vals, vecs = self._solve(Sb, Sw, Xd, dim)
        if self.embedding_type == "weighted":
            vecs = vecs * np.sqrt(np.maximum(vals, 0.0))[None, :]
        elif self.embedding_type == "orthonormalized":
            q, r = np.linalg.qr(vecs)
            vecs = q * np.where(np.diag(r) < 0, -1.0, 1.0)[None, :]
            vecs[:, vals == 0] = 0.0
        L = vecs.T
        # deterministic signs: each row's largest-magnitude entry positive
        idx = np.argmax(np.abs(L), axis=1)
        sign = np.sign(L[np.arange(L.shape[0]), idx])
        sign[sign == 0] = 1.0
        self.eigenvalues_ = vals
        self.n_iter_ = 1
        return self._set_components(L * sign[:, None], X.dtype)

    @staticmethod
    def _scatters(X, y, k):
        import fastmetric

        n, d = X.shape
        Sw = np.zeros((d, d))
        G_between = np.zeros((d, d))  # sum_c G_c (1/n - 1/n_c)
        within_scatter = np.zeros((d, d))  # sum_c n_c S_c
        for c in np.unique(y):
            Xc = np.ascontiguousarray(X[y == c])
            nc = Xc.shape[0]
            mc = Xc.mean(axis=0)
            Xcc = Xc - mc
            within_scatter += nc * (Xcc.T @ Xcc)
            if nc < 2:
                continue
            D = fastmetric.cdist(Xcc, Xcc, metric="sqeuclidean")
            kc = min(k, nc - 1)
            sigma = np.sqrt(np.partition(D, kc, axis=1)[:, kc])
            positive = sigma[sigma > 0]
            floor = (positive.min() if positive.size else 1.0) * 1e-12
            sigma = np.maximum(sigma, floor)
            A = np.exp(-D / np.outer(sigma, sigma))
            np.fill_diagonal(A, 0.0)
            G = Xcc.T @ (A.sum(axis=1)[:, None] * Xcc) - Xcc.T @ A @ Xcc  # 1/2 sum A_ij dx dx^T
            Sw += G / nc
            G_between += G * (1.0 / n - 1.0 / nc)
        Xt = X - X.mean(axis=0)
        St = Xt.T @ Xt
        Sb = St - within_scatter / n + G_between
        return 0.5 * (Sw + Sw.T), 0.5 * (Sb + Sb.T)

    @staticmethod
    def _solve(Sb, Sw, X, dim):
        """Generalised eigenpairs of (Sb, Sw) on the span of X: vals (dim,), vecs (d, dim)."""
        d = X.shape[1]
        Xt = X - X.mean(axis=0)
        wt, Vt = np.linalg.eigh(Xt.T @ Xt)
        top = float(wt.max()) if wt.size else 0.0
        keep = wt > max(top, 0.0) * d * np.finfo(np.float64).eps * 10 if top > 0 else np.zeros(d, bool)
        P = Vt[:, keep]  # orthonormal basis of the span of the data
        r = P.shape[1]
        vals = np.zeros(dim)
        vecs = np.zeros((d, dim))
        if r == 0:
            warnings.warn("LFDA: the training data do not vary; the components are zero", UserWarning, stacklevel=3)
            return vals, vecs
        Sw_r = P.T @ Sw @ P
        Sb_r = P.T @ Sb @ P
        ww, Vw = np.linalg.eigh(0.5 * (Sw_r + Sw_r.T))
        floor = max(float(ww.max()), np.finfo(np.float64).tiny) * 1e-10
        W = Vw / np.sqrt(np.maximum(ww, floor))[None, :]  # Sw_r^(-1/2) up to a rotation
        lam, U = np.linalg.eigh(W.T @ Sb_r @ W)
        order = np.argsort(lam)[::-1][: min(dim, r)]
        m = order.size
        vals[:m] = lam[order]
        vecs[:, :m] = P @ (W @ U[:, order])
        return vals, vecs
