"""Kernel metric learning: KernelNCA, KernelLMNN, KernelMLKR and KernelLFDA.

Each learner maps the samples into the feature space of a kernel (``rbf``, ``poly``, ``laplacian``,
...) and learns its linear counterpart's metric there, so that classes that no linear map separates
(rings, spheres, manifolds) come apart. The map is z = A k(x): ``components_`` A (n_components,
n_landmarks) combines the kernel values k(x) = (k(x, l_1), ..., k(x, l_m)) of x against the
landmarks ``landmarks_`` (every training point when ``n_landmarks=None``, the exact learner; m of
them otherwise, a Nystroem approximation). How it is learned: the kernel features Phi of the training
points (Phi Phi^T = K; see ``_kernel_features.py`` for the factorisation, the eigenvalue cut that
regularises singular or indefinite kernels and the landmark rule) are given to the linear learner
(``fastmetric.learn.NCA``, ``LMNN``, ``MLKR``, ``LFDA``), whose objective is a function of the
embedding Z = Phi L^T evaluated by the same pair sweeps; A = L diag(lambda)^(-1/2) V^T.

Cost: exact, O(n^2 d) for the kernel, O(n^3) for its eigendecomposition and n x n memory: a few
thousand training points. Nystroem with m landmarks: n x m kernel tiles by row blocks, O(m^3) and
features of n x r (r <= m) -- never n x n --, then the linear learner on r features.
"""

from __future__ import annotations

import numbers

import numpy as np

from ._base import MahalanobisMixin
from ._dask_fit import is_dask_array
from ._dask_kernel import fit_kernel_dask, transform_kernel_dask  # Dask arrays (issue 14)
from ._kernel_features import KERNELS, KernelFeatureMap, kernel_params
from .lfda import LFDA
from .lmnn import LMNN
from .mlkr import MLKR
from .nca import NCA

__all__ = ["KernelLFDA", "KernelLMNN", "KernelMLKR", "KernelNCA", "KernelMetricMixin"]

_KERNEL_DOC = """
    kernel : {"rbf", "poly", "laplacian", "sigmoid", "cosine", "chi2", "linear", "precomputed"}, default="rbf"
        The kernel (``fastmetric.pairwise_kernels``' definitions, as scikit-learn's). "precomputed":
        ``fit`` takes the square training kernel matrix and ``transform`` the kernel of new points
        against the training points, shape (n_new, n_train). Indefinite kernels ("sigmoid") are used
        through the positive semi-definite part of their landmark matrix.
    gamma : float > 0 or None
        Kernel coefficient of "rbf", "laplacian", "poly", "sigmoid" and "chi2"; None: 1 / n_features
        (1.0 for "chi2"), scikit-learn's defaults, meant for standardised data.
    degree : int, default=3
        Degree of "poly".
    coef0 : float, default=1
        Independent term of "poly" and "sigmoid".
    n_landmarks : int or None
        None: the exact learner (every training point is a landmark; O(n^2) memory, O(n^3) time).
        An int m: a Nystroem approximation with m landmarks drawn with ``random_state`` (stratified by
        class for the classification learners); m >= n_samples is the exact learner (with a warning
        when larger).
    preprocessor : None, array (n_points, n_features) or callable
        Lets X in ``fit`` / ``transform`` be 1-D identifiers of points (row indices into the array, or
        anything the callable maps to an array of points); not with ``kernel="precomputed"``.
"""

_ATTR_DOC = """
    Attributes
    ----------
    components_ : ndarray (n_components, n_landmarks)
        A of the learned map z = A k(x), k(x) the kernel values of x against ``landmarks_``; in the
        dtype of the training data.
    landmarks_ : ndarray (n_landmarks, n_features) or None
        The reference points (None for ``kernel="precomputed"``).
    landmark_indices_ : ndarray of int64 (n_landmarks,)
        Their rows in the training data.
    feature_components_ : ndarray (n_components, ``rank_``)
        The linear map L learned on the kernel features.
    feature_eigenvalues_ : ndarray (``rank_``,)
        The eigenvalues of the landmark kernel matrix kept for the features (descending).
    rank_ : int
        The number of kernel features r (the eigenvalues kept).
    kernel_params_ : dict
        The kernel parameters used (gamma resolved).
    n_iter_ : int
"""


def _doc(text):
    return text.replace("%(kernel)s", _KERNEL_DOC.strip("\n")).replace("%(attributes)s", _ATTR_DOC.strip("\n"))


class KernelMetricMixin(MahalanobisMixin):
    """Base of the kernel learners: the kernel feature map around a linear learner of this package.

    Subclasses set ``_linear`` (the linear learner class), ``_forward`` (its parameters taken from
    the kernel learner) and ``_targets`` ("classes" or "real").
    """

    _linear = None
    _forward = ()
    _targets = "classes"

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.pairwise = self.kernel == "precomputed"
        return tags

    def _more_tags(self):  # scikit-learn < 1.6
        return {**super()._more_tags(), "pairwise": self.kernel == "precomputed"}

    # ------------------------------------------------------------------ parameters
    def _check_kernel_learner_params(self):
        m = self.n_landmarks
        if m is not None and (isinstance(m, bool) or not isinstance(m, numbers.Integral) or m < 1):
            raise ValueError(f"n_landmarks must be None or a positive int, got {m!r}")
        init = getattr(self, "init", "auto")
        if not isinstance(init, str):
            raise TypeError(
                f"{self._name()}: init must be a string ('auto', 'pca', 'lda', 'identity' or 'random'); an init "
                "array cannot be given because the kernel feature space is built during fit"
            )
        if not isinstance(self.kernel, str) or self.kernel not in KERNELS:
            raise ValueError(f"unknown kernel {self.kernel!r}; supported: {', '.join(KERNELS)}")

    def _resolved_n_components(self, n_features, rank):
        def too_many(k, r):
            return (
                f"n_components={k} is larger than the rank {r} of the {self.kernel} kernel features of this "
                f"training data (the eigenvalues of its kernel matrix above rounding): use n_components <= {r}"
            )

        return self._n_components_checked(n_features, limit=rank, too_many=too_many)

    # ------------------------------------------------------------------ fit
    def fit(self, X, y):
        """Learn the kernel map from X (n_samples, n_features; for ``kernel="precomputed"`` the square
        training kernel matrix) and y (class labels, or real targets for KernelMLKR). KernelNCA,
        KernelMLKR and KernelLMNN with ``n_landmarks=m`` also fit a Dask X (issue 14; ``_dask_kernel.py``)."""
        self._check_kernel_learner_params()
        if is_dask_array(X):
            return fit_kernel_dask(self, X, y)
        if self.kernel == "precomputed" and getattr(self, "preprocessor", None) is not None:
            raise ValueError(
                f"{self._name()}: kernel='precomputed' takes the kernel matrix itself; preprocessor must be None"
            )
        if self._targets == "classes":
            X, codes = self._validate_supervised(X, y)
            strata, target = codes, codes
        else:
            X, target = self._validate_targets(X, y)
            target = np.ravel(target)
            strata = None
        params = kernel_params(self.kernel, self.gamma, self.degree, self.coef0, X.shape[1])
        fmap = KernelFeatureMap(self.kernel, params, getattr(self, "n_threads", None))
        Phi = fmap.fit(X, self.n_landmarks, strata, getattr(self, "random_state", None))
        k = self._resolved_n_components(X.shape[1], Phi.shape[1])
        inner = self._linear(**{p: getattr(self, p) for p in self._forward}, n_components=k)
        inner.fit(Phi, target)
        return self._adopt_inner(fmap, params, inner, X.dtype)

    def _adopt_inner(self, fmap, params, inner, dtype):
        """The fitted attributes from the feature map and the inner linear learner fitted on its
        features (in memory or on Dask): A = L diag(lambda)^(-1/2) V^T in ``dtype``."""
        self.kernel_params_ = params
        self.landmark_indices_ = fmap.indices
        self.landmarks_ = fmap.landmarks
        self.feature_eigenvalues_ = fmap.eigenvalues
        self.rank_ = int(fmap.eigenvalues.size)
        self.feature_components_ = inner.components_
        self._keep_inner_attributes(inner)
        A = fmap.coefficients(inner.components_, dtype)
        return self._set_components(A, dtype, n_iter=getattr(inner, "n_iter_", 1))

    def _keep_inner_attributes(self, inner):
        """Copy learner-specific fitted attributes of the linear learner (subclasses)."""

    def _feature_map(self):
        fmap = KernelFeatureMap(self.kernel, self.kernel_params_, getattr(self, "n_threads", None))
        fmap.indices = self.landmark_indices_
        fmap.landmarks = self.landmarks_
        fmap.eigenvalues = self.feature_eigenvalues_
        return fmap

    # ------------------------------------------------------------------ the learned map
    def _component_columns(self):
        idx = getattr(self, "landmark_indices_", None)
        return (None if idx is None else int(idx.size)), "n_landmarks"

    def transform(self, X):
        """Embed X: ``A k(x)`` for every row (float32 in -> float32 out). For ``kernel="precomputed"``,
        X is the kernel of the new points against the training points, (n_new, n_train). A Dask X gives
        a lazy Dask array (one task per row block)."""
        if is_dask_array(X):  # issue 14
            return transform_kernel_dask(self, X)
        A = self._components()
        X = self._validate_unsupervised(X, reset=False, ensure_min_samples=1)
        if self.kernel == "chi2" and (X < 0).any():
            raise ValueError("the chi2 kernel is defined on non-negative data (histograms); X has negative values")
        return self._feature_map().embed(X, A)

    def get_mahalanobis_matrix(self):
        """M = A^T A (n_landmarks, n_landmarks): the learned metric on the kernel values k(x) against
        ``landmarks_``, d(x, y)^2 = (k(x) - k(y))^T M (k(x) - k(y))."""
        return super().get_mahalanobis_matrix()

    def get_metric(self):
        """A function ``metric(u, v, squared=False)``: the learned distance ``|A (k(u) - k(v))|`` of two
        points (for many points, embed them with ``transform`` and use ``fastmetric.cdist``)."""
        self._components()
        d = self.n_features_in_

        def metric_fun(u, v, squared=False):
            u = np.asarray(u, dtype=np.float64).ravel()
            v = np.asarray(v, dtype=np.float64).ravel()
            if u.shape != v.shape or u.shape[0] != d:
                raise ValueError(f"points must have {d} features; got shapes {u.shape} and {v.shape}")
            Z = self.transform(np.stack([u, v]))
            s = float(np.sum((Z[0] - Z[1]) ** 2))
            return s if squared else float(np.sqrt(s))

        return metric_fun

    def _input_width(self):
        self._components()
        return int(self.n_features_in_)

    def pair_distance(self, pairs):
        """Learned distance of each pair; ``pairs`` has shape (n_pairs, 2, n_features)."""
        P = self._pairs_array(pairs)
        if P.shape[0] == 0:
            return np.zeros(0, dtype=P.dtype)
        diff = self.transform(P[:, 0, :]) - self.transform(P[:, 1, :])
        return np.sqrt(np.einsum("ij,ij->i", diff, diff))


class KernelNCA(KernelMetricMixin):
    _doc_ = """Kernel Neighbourhood Components Analysis: NCA's objective (the expected leave-one-out
    accuracy of a stochastic nearest-neighbour rule) in the feature space of a kernel.

    The exact learner with ``kernel="linear"`` learns the same metric as ``NCA``; with a non-linear
    kernel the learned distance ``|A (k(x) - k(y))|`` separates classes that no linear map can. See the
    module docstring for the method; NCA's pair sweep does the work on the embedding.

    Parameters
    ----------
    n_components : int or None
        Dimension of the embedding (None: n_features of the input -- the training size for a
        precomputed kernel --, at most the rank of the kernel features).
%(kernel)s
    init : {"auto", "pca", "lda", "identity", "random"}
        Starting map on the kernel features, as ``NCA``'s (arrays are not accepted: the feature space
        is built during fit).
    max_iter : int, default=100
    tol : float or None
    verbose : bool
    random_state : int, RandomState or None
        Seeds the landmark draw and ``init="random"``.
    n_threads : int or None
        Threads of the kernel tiles and the sweeps (None: all cores).
    class_weight : None, "balanced" or dict
        Weights of the points' terms in the objective by their class, as ``NCA``'s.

%(attributes)s
    classes_ : ndarray

    Examples
    --------
    >>> from sklearn.datasets import make_circles
    >>> from fastmetric.learn import KernelNCA
    >>> X, y = make_circles(n_samples=200, noise=0.05, factor=0.5, random_state=0)
    >>> knca = KernelNCA(n_components=1, kernel="rbf", random_state=0).fit(X, y)
    >>> knca.transform(X).shape  # one coordinate separates the rings (no linear map can)
    (200, 1)
    """
    __doc__ = _doc(_doc_)
    _linear = NCA
    _forward = ("init", "max_iter", "tol", "verbose", "random_state", "n_threads", "class_weight")

    def __init__(
        self,
        n_components=None,
        kernel="rbf",
        gamma=None,
        degree=3,
        coef0=1,
        n_landmarks=None,
        init="auto",
        max_iter=100,
        tol=None,
        verbose=False,
        random_state=None,
        n_threads=None,
        class_weight=None,
        preprocessor=None,
    ):
        self.preprocessor = preprocessor
        self.class_weight = class_weight
        self.n_components = n_components
        self.kernel = kernel
        self.gamma = gamma
        self.degree = degree
        self.coef0 = coef0
        self.n_landmarks = n_landmarks
        self.init = init
        self.max_iter = max_iter
        self.tol = tol
        self.verbose = verbose
        self.random_state = random_state
        self.n_threads = n_threads


class KernelLMNN(KernelMetricMixin):
    _doc_ = """Kernel Large Margin Nearest Neighbour: LMNN's pull / push objective in the feature space of
    a kernel. Target neighbours are the nearest same-class points in the kernel space (the kernel-induced
    distance); impostors are searched in the current embedding, as ``LMNN`` does.

    Parameters
    ----------
    n_neighbors : int, default=3
        Target neighbours per point.
    n_components : int or None
        Dimension of the embedding (None: n_features of the input, at most the rank of the features).
%(kernel)s
    init : {"auto", "pca", "lda", "identity", "random"}
    max_iter : int, default=1000
    regularization : float in [0, 1], default=0.5
        Weight of the pull term (the push term has 1 - regularization).
    convergence_tol : float, default=1e-5
    max_impostors : int or "auto"
        As ``LMNN``'s.
    verbose : bool
    random_state : int, RandomState or None
        Seeds the landmark draw and ``init="random"``.
    n_threads : int or None
    class_weight : None, "balanced" or dict
        Weights of the points' terms in the objective by their class, as ``LMNN``'s.

%(attributes)s
    classes_ : ndarray
    n_impostor_searches_ : int

    Examples
    --------
    >>> from sklearn.datasets import make_circles
    >>> from fastmetric.learn import KernelLMNN
    >>> X, y = make_circles(n_samples=200, noise=0.05, factor=0.5, random_state=0)
    >>> KernelLMNN(n_components=2, n_landmarks=50, random_state=0).fit(X, y).components_.shape
    (2, 50)
    """
    __doc__ = _doc(_doc_)
    _linear = LMNN
    _forward = (
        "n_neighbors",
        "init",
        "max_iter",
        "regularization",
        "convergence_tol",
        "max_impostors",
        "verbose",
        "random_state",
        "n_threads",
        "class_weight",
    )

    def __init__(
        self,
        n_neighbors=3,
        n_components=None,
        kernel="rbf",
        gamma=None,
        degree=3,
        coef0=1,
        n_landmarks=None,
        init="auto",
        max_iter=1000,
        regularization=0.5,
        convergence_tol=1e-5,
        max_impostors="auto",
        verbose=False,
        random_state=None,
        n_threads=None,
        class_weight=None,
        preprocessor=None,
    ):
        self.preprocessor = preprocessor
        self.class_weight = class_weight
        self.n_neighbors = n_neighbors
        self.n_components = n_components
        self.kernel = kernel
        self.gamma = gamma
        self.degree = degree
        self.coef0 = coef0
        self.n_landmarks = n_landmarks
        self.init = init
        self.max_iter = max_iter
        self.regularization = regularization
        self.convergence_tol = convergence_tol
        self.max_impostors = max_impostors
        self.verbose = verbose
        self.random_state = random_state
        self.n_threads = n_threads

    def _keep_inner_attributes(self, inner):
        self.n_impostor_searches_ = inner.n_impostor_searches_
        self.n_saturated_ = inner.n_saturated_


class KernelMLKR(KernelMetricMixin):
    _doc_ = """Kernel Metric Learning for Kernel Regression: MLKR's leave-one-out Gaussian kernel-regression
    error, minimised over maps of the kernel features of the samples.

    Parameters
    ----------
    n_components : int or None
        Dimension of the embedding (None: n_features of the input, at most the rank of the features).
%(kernel)s
    init : {"auto", "pca", "identity", "random"}
    alpha : float >= 0, default=0.0
        Ridge penalty on the map of the features, as ``MLKR``'s.
    tol : float or None
    max_iter : int, default=1000
    verbose : bool
    random_state : int, RandomState or None
        Seeds the landmark draw (uniform: the targets are not classes) and ``init="random"``.
    n_threads : int or None

%(attributes)s

    Examples
    --------
    >>> import numpy as np
    >>> from fastmetric.learn import KernelMLKR
    >>> X = np.random.default_rng(0).uniform(-1, 1, (200, 2))
    >>> t = np.sin(3 * X[:, 0]) + X[:, 1] ** 2
    >>> KernelMLKR(n_components=2, random_state=0).fit(X, t).transform(X).shape
    (200, 2)
    """
    __doc__ = _doc(_doc_)
    _linear = MLKR
    _targets = "real"
    _forward = ("init", "alpha", "tol", "max_iter", "verbose", "random_state", "n_threads")

    def __init__(
        self,
        n_components=None,
        kernel="rbf",
        gamma=None,
        degree=3,
        coef0=1,
        n_landmarks=None,
        init="auto",
        alpha=0.0,
        tol=None,
        max_iter=1000,
        verbose=False,
        random_state=None,
        n_threads=None,
        preprocessor=None,
    ):
        self.preprocessor = preprocessor
        self.n_components = n_components
        self.kernel = kernel
        self.gamma = gamma
        self.degree = degree
        self.coef0 = coef0
        self.n_landmarks = n_landmarks
        self.init = init
        self.alpha = alpha
        self.tol = tol
        self.max_iter = max_iter
        self.verbose = verbose
        self.random_state = random_state
        self.n_threads = n_threads


class KernelLFDA(KernelMetricMixin):
    _doc_ = """Kernel Local Fisher Discriminant Analysis (Sugiyama 2007, section 5): LFDA's locally weighted
    Fisher criterion in the feature space of a kernel, solved in closed form on the kernel features
    (local scales and affinities from the kernel-induced distances). Unlike the R package ``lfda``'s
    kernel version, the result maps new data (``transform``).

    Parameters
    ----------
    n_components : int or None
        Dimension of the embedding (None: n_features of the input, at most the rank of the features).
%(kernel)s
    k : int or None
        Neighbour of the local scale (None: 7, LFDA's rule on the kernel features).
    embedding_type : {"weighted", "orthonormalized", "plain"}, default="weighted"
    random_state : int, RandomState or None
        Seeds the landmark draw.
    n_threads : int or None

%(attributes)s
    eigenvalues_ : ndarray (n_components,)
        The generalised eigenvalues of the components.

    Examples
    --------
    >>> from sklearn.datasets import make_moons
    >>> from fastmetric.learn import KernelLFDA
    >>> X, y = make_moons(n_samples=200, noise=0.1, random_state=0)
    >>> KernelLFDA(n_components=2, random_state=0).fit(X, y).transform(X).shape
    (200, 2)
    """
    __doc__ = _doc(_doc_)
    _linear = LFDA
    _forward = ("k", "embedding_type")

    def __init__(
        self,
        n_components=None,
        kernel="rbf",
        gamma=None,
        degree=3,
        coef0=1,
        n_landmarks=None,
        k=None,
        embedding_type="weighted",
        random_state=None,
        n_threads=None,
        preprocessor=None,
    ):
        self.preprocessor = preprocessor
        self.n_components = n_components
        self.kernel = kernel
        self.gamma = gamma
        self.degree = degree
        self.coef0 = coef0
        self.n_landmarks = n_landmarks
        self.k = k
        self.embedding_type = embedding_type
        self.random_state = random_state
        self.n_threads = n_threads

    def _keep_inner_attributes(self, inner):
        self.eigenvalues_ = inner.eigenvalues_
