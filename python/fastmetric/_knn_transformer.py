"""scikit-learn plug-in: a KNeighborsTransformer whose neighbour search runs on fastmetric."""

from __future__ import annotations

import numbers

import numpy as np

try:
    from scipy.sparse import csr_matrix
    from sklearn.base import BaseEstimator, TransformerMixin
    from sklearn.utils.validation import check_is_fitted
except ImportError as exc:  # pragma: no cover - exercised only without scikit-learn
    raise ImportError(
        "fastmetric.KNeighborsTransformer needs scikit-learn >= 1.2 and SciPy: pip install 'fastmetric[sklearn]'"
    ) from exc

try:  # scikit-learn >= 1.6
    from sklearn.utils.validation import validate_data
except ImportError:  # pragma: no cover - older scikit-learn

    def validate_data(estimator, X, reset=True, **kwargs):
        return estimator._validate_data(X, reset=reset, **kwargs)


from .neighbors import kneighbors

__all__ = ["KNeighborsTransformer"]


class KNeighborsTransformer(TransformerMixin, BaseEstimator):
    """Drop-in for ``sklearn.neighbors.KNeighborsTransformer``: X -> sparse k-NN graph, on fastmetric.

    ``make_pipeline(KNeighborsTransformer(n_neighbors=k, mode="distance"),
    KNeighborsClassifier(metric="precomputed"))`` -- or Isomap, TSNE, DBSCAN, SpectralClustering
    with precomputed graphs -- then run their neighbour search here. Parameters as in
    scikit-learn; the metric's parameters go in ``metric_params`` (e.g. ``{"L": est.components_}``).
    As in scikit-learn, mode="distance" returns n_neighbors + 1 neighbours per training sample
    (each sample is its own first neighbour, stored as an explicit 0).

    Examples
    --------
    >>> import numpy as np
    >>> import fastmetric as fm
    >>> X = np.array([[0., 0.], [3., 4.], [6., 8.]])
    >>> from fastmetric import KNeighborsTransformer
    >>> KNeighborsTransformer(n_neighbors=1).fit_transform(X).toarray()
    array([[0., 5., 0.],
           [5., 0., 0.],
           [0., 5., 0.]])
    """

    def __init__(
        self, *, mode="distance", n_neighbors=5, metric="euclidean", metric_params=None, n_threads=None, n_jobs=None
    ):
        self.mode = mode
        self.n_neighbors = n_neighbors
        self.metric = metric
        self.metric_params = metric_params
        self.n_threads = n_threads
        self.n_jobs = n_jobs

    def fit(self, X, y=None):
        from sklearn.utils.validation import validate_data

        if self.mode not in ("distance", "connectivity"):
            raise ValueError(f"mode must be 'distance' or 'connectivity', got {self.mode!r}")
        if (
            isinstance(self.n_neighbors, bool)
            or not isinstance(self.n_neighbors, numbers.Integral)
            or self.n_neighbors < 1
        ):
            raise ValueError(f"n_neighbors must be a positive int, got {self.n_neighbors!r}")
        X = validate_data(self, X, dtype=[np.float64, np.float32], accept_sparse=["csr", "csc", "coo"])
        self._fit_X = X
        self.n_samples_fit_ = X.shape[0]
        self.effective_metric_ = self.metric
        self.effective_metric_params_ = dict(self.metric_params or {})
        return self

    def transform(self, X):
        from sklearn.utils.validation import validate_data

        check_is_fitted(self)
        X = validate_data(self, X, dtype=[np.float64, np.float32], accept_sparse=["csr", "csc", "coo"], reset=False)
        k = self.n_neighbors + (1 if self.mode == "distance" else 0)
        k = min(k, self.n_samples_fit_)
        threads = self.n_threads if self.n_threads is not None else self.n_jobs
        dist, ind = kneighbors(X, self._fit_X, k, self.metric, n_threads=threads, **self.effective_metric_params_)
        n = X.shape[0]
        data = dist.ravel() if self.mode == "distance" else np.ones(n * k)
        indptr = np.arange(0, n * k + 1, k)
        return csr_matrix((data, ind.ravel(), indptr), shape=(n, self.n_samples_fit_))

    def fit_transform(self, X, y=None):
        return self.fit(X).transform(X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        tags.input_tags.sparse = True  # sparse inputs (issue 16 part 3)
        return tags
