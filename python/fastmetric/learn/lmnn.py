"""Large Margin Nearest Neighbour metric learning (Weinberger & Saul, 2009)."""

from __future__ import annotations

import numbers
import warnings

import numpy as np

from .. import _core
from .._validation import check_int, check_real
from ..neighbors import kneighbors, radius_neighbors
from ._base import MahalanobisMixin, minimize_lbfgs
from ._dask_fit import embed_rows, is_dask_array, transform_dask
from ._weights import class_weight_vector

__all__ = ["LMNN", "LargeMarginNearestNeighbor"]


class LMNN(MahalanobisMixin):
    """Large Margin Nearest Neighbour: pull each point's k same-class target neighbours close and
    push differently labelled points ("impostors") out of a unit margin around them.

    Objective, for d_ij = ||L (x_i - x_j)||^2, target neighbours N(i) and ``mu = regularization``::

        mu * sum_{i, j in N(i)} d_ij + (1 - mu) * sum_{i, j in N(i), y_l != y_i} max(0, 1 + d_ij - d_il)

    Target neighbours are the ``n_neighbors`` nearest same-class points in the input space (found
    with :func:`fastmetric.kneighbors`). Impostors are found by radius searches
    (:func:`fastmetric.radius_neighbors`, radius = each point's largest target margin) or, for points
    with more than ``max_impostors`` of them, top-k searches (:func:`fastmetric.kneighbors`) in the
    current space, never through an n x n matrix, and a search is reused across evaluations only when a bound proves it
    still holds every impostor (see ``_ImpostorSearch``); the hinge loss and its
    gradient are accumulated in C++ from the truly active triplets (exact double-precision distances,
    fixed-order sums: bitwise-identical results for any ``n_threads``). The loss is piecewise
    quadratic in L and is minimised with SciPy's L-BFGS-B, which is far faster than metric-learn's
    fixed-step gradient descent.

    Classes with fewer than ``n_neighbors + 1`` members (documented fallback, with a warning): their
    points use the ``n_c - 1`` other members as target neighbours; a single-member class has no target
    neighbours (its point is never pulled, but still counts as an impostor for the others).

    A Dask X (issue 14; ``_dask_lmnn.py``): X stays distributed -- the target neighbours
    (``fastmetric.dask.kneighbors`` within each class), Z = X L^T, the bound that lets a search be reused
    and the gradient 2 U^T X (a fixed-order sum over row blocks) run on its blocks --, while the
    embedding Z (n x n_components) is gathered to the client at every evaluation: the loss, the
    impostor search and the active triplets need every row's embedding at once, and n x k is small next
    to X. They are then the in-memory fit's; the gradient agrees to rounding, which L-BFGS amplifies over
    many iterations as for any perturbation of this piecewise quadratic loss. ``init="lda"`` (and
    "auto" where it picks LDA) needs the data in memory.

    Parameters
    ----------
    n_neighbors : int
        Target neighbours per point (metric-learn's name; ``k`` in the paper).
    n_components : int or None
        Rows of ``components_`` (None: n_features).
    init : {"auto", "pca", "lda", "identity", "random"} or array (n_components, n_features)
    max_iter : int
        Maximum L-BFGS iterations.
    regularization : float in [0, 1]
        Weight of the pull term; the push (hinge) term has weight ``1 - regularization``.
    convergence_tol : float
        L-BFGS-B tolerance (relative decrease of the objective and projected-gradient size).
    max_impostors : int or "auto"
        Impostor candidates kept per point: at most its ``max_impostors`` nearest differently labelled
        points in the current space. The loss is exact whenever no point has more impostors than that;
        for heavily overlapping classes, where impostors grow like n^2, the farthest ones (smallest
        hinge terms) are ignored and memory stays O(n * max_impostors). "auto":
        ``max(64, 2**21 // n_samples)``: candidate lists of at most ~2 million pairs (or 64 per point),
        and no effective cap on small data sets (digits, 1,257 samples: 1,668), which are learned
        exactly.
        ``n_saturated_`` reports how many points hit the cap at the last search.
    verbose : bool
        Print loss, gradient norm, active triplets and elapsed time per iteration.
    random_state : int, RandomState or None
        Seed for ``init="random"``.
    n_threads : int or None
        Threads of the searches and sweeps (None: all cores).
    class_weight : None, "balanced" or dict
        Weights of each point's pull and push terms by its class (scikit-learn's convention:
        "balanced" is n_samples / (n_classes * count(class)); a dict {label: weight}, other classes 1).
    learn_rate, min_iter : ignored
        Accepted so that metric-learn code runs unchanged; the L-BFGS solver chooses its own steps
        and stops on ``convergence_tol`` / ``max_iter``.
    preprocessor : None, array (n_points, n_features) or callable
        Lets inputs be identifiers of points: 1-D X in ``fit`` / ``transform``, (n_pairs, 2) in
        ``pair_distance`` -- row indices into the array, or anything the callable maps to an array of
        points (strings too); 2-D points are still accepted as they are.

    Attributes
    ----------
    components_ : ndarray (n_components, n_features)
    n_iter_ : int
    classes_ : ndarray

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.neighbors import KNeighborsClassifier
    >>> from sklearn.pipeline import make_pipeline
    >>> from fastmetric.learn import LMNN
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = make_pipeline(LMNN(n_neighbors=3), KNeighborsClassifier(3)).fit(X, y)
    >>> clf.score(X, y) > 0.95
    True
    """

    def __init__(
        self,
        n_neighbors=3,
        n_components=None,
        init="auto",
        max_iter=1000,
        regularization=0.5,
        convergence_tol=1e-5,
        max_impostors="auto",
        verbose=False,
        random_state=None,
        n_threads=None,
        learn_rate=None,
        min_iter=None,
        class_weight=None,
        preprocessor=None,
    ):
        self.class_weight = class_weight
        self.n_neighbors = n_neighbors
        self.max_impostors = max_impostors
        self.n_components = n_components
        self.init = init
        self.max_iter = max_iter
        self.regularization = regularization
        self.convergence_tol = convergence_tol
        self.verbose = verbose
        self.random_state = random_state
        self.n_threads = n_threads
        self.learn_rate = learn_rate
        self.min_iter = min_iter
        self.preprocessor = preprocessor

    # ------------------------------------------------------------------ parameters
    def _check_params(self):
        check_int(self.n_neighbors, "n_neighbors")
        check_int(self.max_iter, "max_iter")
        check_real(self.regularization, "regularization", low=0, high=1)
        check_real(self.convergence_tol, "convergence_tol", low=0)
        m = self.max_impostors
        if not (isinstance(m, str) and m == "auto") and (
            isinstance(m, bool) or not isinstance(m, numbers.Integral) or m < 1
        ):
            raise ValueError(f"max_impostors must be 'auto' or a positive int, got {m!r}")

    # ------------------------------------------------------------------ target neighbours
    def _select_targets(self, X, offsets, n_threads, class_search=None):
        """(n, n_neighbors) int64 indices of each point's nearest same-class points (-1: none).

        ``n_threads`` follows the public convention (None = all cores). ``class_search(s, e, kc)``
        (the Dask fit) returns the kc neighbours of rows s:e among themselves instead of X's search."""
        n = X.shape[0]
        k = int(self.n_neighbors)
        targets = np.full((n, k), -1, dtype=np.int64)
        small = []
        for c in range(len(offsets) - 1):
            s, e = int(offsets[c]), int(offsets[c + 1])
            m = e - s
            kc = min(k, m - 1)
            if kc < k:
                small.append((self.classes_[c], m))
            if kc <= 0:
                continue
            if class_search is None:
                ind = kneighbors(X[s:e], None, k=kc, return_distance=False, n_threads=n_threads)
            else:
                ind = class_search(s, e, kc)
            targets[s:e, :kc] = ind + s
        if small:
            desc = ", ".join(f"{lab!r} ({m} sample{'s' if m != 1 else ''})" for lab, m in small[:10])
            warnings.warn(
                f"LMNN: {len(small)} class(es) have fewer than n_neighbors + 1 = {k + 1} samples: {desc}"
                f"{' ...' if len(small) > 10 else ''}. Their points use the other members of their class as "
                "target neighbours (a single-member class has none).",
                UserWarning,
                stacklevel=3,
            )
        if not (targets >= 0).any():
            raise ValueError("LMNN: no class has two or more samples, so there are no target neighbours to learn from")
        return targets

    # ------------------------------------------------------------------ impostor candidates
    # ------------------------------------------------------------------ fit
    def fit(self, X, y):
        """Learn ``components_`` from samples X (n_samples, n_features) and class labels y."""
        self._check_params()
        if is_dask_array(X):  # issue 14: X stays distributed, the embedding is gathered (see _fit_dask)
            return self._fit_dask(X, y)
        X, y = self._validate_supervised(X, y)
        kc = self._n_components_checked(X.shape[1])
        n_threads = self._threads()
        dtype = X.dtype
        order = np.argsort(y, kind="stable")
        Xs = np.ascontiguousarray(X[order])
        ys = y[order]
        offsets = np.searchsorted(ys, np.arange(len(self.classes_) + 1))
        L0 = self._initial_components(X, y, kc)
        targets = self._select_targets(Xs, offsets, self.n_threads)
        weights = class_weight_vector(self.class_weight, y, self.classes_)
        problem = _core.LmnnProblem(
            Xs,
            targets,
            np.ascontiguousarray(ys, dtype=np.int64),
            sample_weight=None if weights is None else np.ascontiguousarray(weights[order]),
        )
        cap = max(64, (1 << 21) // Xs.shape[0]) if isinstance(self.max_impostors, str) else int(self.max_impostors)
        search = _ImpostorSearch(Xs, ys, offsets, cap, self.n_threads, n_threads)
        reg = float(self.regularization)

        def fun(L, state):
            Lt = np.ascontiguousarray(L, dtype=dtype)
            Z = np.empty((Xs.shape[0], Lt.shape[0]), dtype=dtype)
            _core.linear_map(Xs, None, Lt, Z, n_threads)
            margin = problem.margins(Z, n_threads)
            if search.update(L, Z, margin):
                problem.set_hits(search.rows, search.hits_)
            loss, grad, n_active, _, _, _ = problem.loss_grad(Z, reg, n_threads)
            state["active"] = n_active
            return loss, grad

        return self._minimize(fun, L0, search, dtype)

    def _fit_dask(self, X, y):
        """LMNN on a Dask X (issue 14), the pieces of ``_dask_lmnn.py``: X stays distributed (target
        search, Z = X L^T, the reuse bound's norms and dL = 2 U^T X run on its row blocks); the
        embedding Z (n x k) is gathered each evaluation for the in-memory loss, impostor search and
        triplets, so they are the in-memory fit's; only the gradient's sums differ (by rounding)."""
        import dask

        from ..dask import check_array
        from ..dask import kneighbors as dask_kneighbors
        from ._dask_fit import initial_components_dask
        from ._dask_kernel import dask_targets
        from ._dask_lmnn import check_finite, column_mean, gradient, shift_norms

        if self.preprocessor is not None:
            raise ValueError(f"{self._name()}: a Dask X holds the points themselves; preprocessor must be None")
        X = check_array(X, "X")
        n, d = X.shape
        if n < 2:
            raise ValueError(f"X needs at least 2 samples, got shape {X.shape}")
        dtype = np.dtype(np.float32 if X.dtype == np.float32 else np.float64)
        _, codes = dask_targets(self, y, n)  # sets classes_
        check_finite(X)
        self.n_features_in_ = d
        kc = self._n_components_checked(d)
        n_threads = self._threads()
        order = np.argsort(codes, kind="stable")
        ys = codes[order]
        offsets = np.searchsorted(ys, np.arange(len(self.classes_) + 1))
        L0 = initial_components_dask(self, X, codes, kc, has_classes=True)

        # every class's search in one computation (rows s:e of the class-sorted order; order[s:e] is
        # increasing, so a class's rows keep X's order, as in memory)
        k_nb = int(self.n_neighbors)
        spans = [(int(s), int(e)) for s, e in zip(offsets[:-1], offsets[1:], strict=True) if e - s >= 2]
        lazy = [dask_kneighbors(X[order[s:e]], k=min(k_nb, e - s - 1), return_distance=False) for s, e in spans]
        found = dict(zip(spans, dask.compute(*lazy), strict=True))

        def class_search(s, e, k):
            return np.asarray(found[(s, e)])

        stand_in = np.broadcast_to(np.zeros((), dtype), (n, d))  # _select_targets reads the shape only
        targets = self._select_targets(stand_in, offsets, self.n_threads, class_search)
        weights = class_weight_vector(self.class_weight, codes, self.classes_)
        ws = None if weights is None else np.ascontiguousarray(weights[order])
        labels = np.ascontiguousarray(ys, dtype=np.int64)
        # the engine's loss, margins, candidates and gradient coefficients U on the gathered Z (X is
        # not needed for them: a one-column stand-in); grad = 2 U^T X over X's row blocks
        problem = _core.LmnnProblem(np.zeros((n, 1), dtype), targets, labels, sample_weight=ws)
        cap = max(64, (1 << 21) // n) if isinstance(self.max_impostors, str) else int(self.max_impostors)
        search = _DaskImpostorSearch(n, ys, offsets, cap, self.n_threads, n_threads)
        center = column_mean(X, dtype)
        reg = float(self.regularization)

        def fun(L, state):
            Lt = np.ascontiguousarray(L, dtype=dtype)
            lazy = [embed_rows(X, Lt, dtype)]  # X checked finite once, before the fit
            if search.L0 is not None:
                lazy.append(shift_norms(X, center, L - search.L0, dtype))
            got = dask.compute(*lazy)
            Z = np.ascontiguousarray(got[0][order])
            if len(got) > 1:
                search.norms = got[1][order]
            margin = problem.margins(Z, n_threads)
            if search.update(L, Z, margin):
                problem.set_hits(search.rows, search.hits_)
            loss, U_sorted, n_active, _, _, _ = problem.loss_coefficients(Z, reg, n_threads)
            U = np.empty_like(U_sorted)
            U[order] = U_sorted
            state["active"] = n_active
            return loss, gradient(X, U, dtype)

        return self._minimize(fun, L0, search, dtype)

    def _minimize(self, fun, L0, search, dtype):
        """L-BFGS of ``fun(L, state)`` from L0 with LMNN's progress lines; sets the fitted attributes."""
        progress = self._progress()
        state = {}

        class _LmnnProgress:
            verbose = progress.verbose

            def __call__(self, it, loss, grad_norm=None):
                progress(
                    it,
                    loss,
                    grad_norm,
                    active=state.get("active", "?"),
                    searches=search.n_searches,
                    saturated=search.n_saturated,
                )

            def message(self, text):
                progress.message(text)

        L, n_iter, _ = minimize_lbfgs(
            lambda L: fun(L, state), L0, max_iter=self.max_iter, tol=self.convergence_tol, progress=_LmnnProgress()
        )
        self.n_impostor_searches_ = search.n_searches
        self.n_saturated_ = search.n_saturated
        progress.message(f"{search.n_searches} impostor searches, {search.n_reused} evaluations reused one")
        return self._set_components(L, dtype, n_iter=n_iter)

    def transform(self, X):
        """Embed X: ``X @ components_.T``; a Dask X gives a lazy Dask array (one engine call per block)."""
        if is_dask_array(X):  # issue 14
            return transform_dask(self, X)
        return super().transform(X)


class _ImpostorSearch:
    """Impostor candidates for the current L, reusing the previous search when that is provably exact.

    Point i needs every differently labelled l with d_il < m_i, m_i = max_j d_ij + 1 its squared
    margin, but keeps at most ``cap`` of them: its ``cap`` nearest differently labelled points.
    Point i is *complete* when the radius r_i up to which its list is known to hold every differently
    labelled point reaches sqrt(m_i); otherwise it is *saturated*: the farther impostors, whose hinge
    terms are the smallest, are ignored. Memory stays O(n * cap) even when classes overlap so much
    that impostors grow like n^2, and the loss is exact whenever no point is saturated.

    Two searches, both on the engine (never an n x n matrix), both in float32 even for float64 data
    (the hits are only candidates: the C++ sweep recomputes their distances exactly in double; radii
    carry a 0.1 % allowance for float32's ~1e-5 distance error):

    * radius (n <= ``radius_max_n`` = 2,000): one :func:`fastmetric.radius_neighbors` call with a
      radius per point, ``grow * sqrt(m_i)``, against all points (chunks of at most ``2**24``
      query x reference pairs); the cheapest for small data sets. (It used one call per geometric
      bucket of m_i; the per-query radius made the search 1 call instead of ~8.)
    * top-k (larger n): :func:`fastmetric.kneighbors` of each class against the other classes, k
      starting at twice the class's largest impostor count of the previous search (at least 32) and
      raised to the cap for the points whose list falls short of their margin. Its output is bounded
      by n * cap, whereas a radius search also returns every same-class point inside the margin,
      which explodes when classes overlap.

    Reuse: after a search at L0, a differently labelled l missing from i's list has
    ||L0 (x_i - x_l)|| >= r_i. With E = L - L0 and w_p = ||E (x_p - c)|| (c the mean of X),
    ||L (x_i - x_l)|| >= r_i - w_i - max_l w_l. So when r_i - w_i - max w >= sqrt(m_i(L)) for every i,
    the old lists still hold every impostor of L, and no search is needed: one n x k x d product
    instead of an n x n search.
    """

    grow = 1.1
    slack = 1e-3
    max_pairs_per_call = 1 << 24
    radius_max_n = 2000
    serial_below = 1 << 19

    def __init__(self, X, labels, offsets, cap, n_threads, core_threads):  # n_threads: public; core: _core's
        self.X = X
        self.labels = labels
        self.offsets = offsets
        self.cap = int(cap)
        self.center = np.ascontiguousarray(X.mean(axis=0, dtype=np.float64), dtype=X.dtype)
        self.n_threads = n_threads
        self.core_threads = core_threads
        self.L0 = None
        self.radius = None
        self.use_topk = np.full(X.shape[0], X.shape[0] > self.radius_max_n)
        self.count = np.zeros(X.shape[0], dtype=np.int64)
        self.rows = self.hits_ = None
        self.n_searches = 0
        self.n_reused = 0
        self.n_saturated = 0

    def _threads_for(self, pairs):
        # the engine's threaded search costs ~1 ms of start-up per call on this kind of machine; small
        # searches (a few hundred queries) finish sooner on one thread
        return 1 if pairs < self.serial_below else self.n_threads

    def update(self, L, Z, margin):
        """Make ``rows`` / ``hits_`` valid for L; True when a new search was run."""
        finite = np.isfinite(margin)
        need = np.sqrt(np.maximum(margin, 0.0))
        if self.L0 is not None:
            w = self._shift_norms(L - self.L0) * (1.0 + self.slack)
            if bool(np.all(self.radius[finite] - w[finite] - w.max() >= need[finite])):
                self.n_reused += 1
                return False
        self._search(L, Z, margin, need, finite)
        return True

    def _shift_norms(self, E):
        """||E (x_p - c)|| of every point (float64)."""
        E = np.ascontiguousarray(E, dtype=self.X.dtype)
        W = np.empty((self.X.shape[0], E.shape[0]), dtype=self.X.dtype)
        _core.linear_map(self.X, self.center, E, W, self.core_threads)
        return np.sqrt(np.einsum("ij,ij->i", W, W, dtype=np.float64))

    def _search(self, L, Z, margin, need, finite):
        self.n_searches += 1
        n = Z.shape[0]
        # float32 search (twice the rate; the slack covers its rounding) unless the learned space
        # leaves float32's range, where squared distances would overflow
        small = Z.dtype == np.float64 and float(np.max(np.abs(Z), initial=0.0)) < 1e15
        Zs = Z.astype(np.float32) if small else Z
        radius = np.full(n, np.inf)
        count = np.zeros(n, dtype=np.int64)  # differently labelled points found within the margin
        rows_parts, hit_parts = [], []
        # radius search for the points expected to have few impostors
        q = np.flatnonzero(finite & ~self.use_topk)
        if q.size:
            per_call = max(1, self.max_pairs_per_call // n)
            for c0 in range(0, q.size, per_call):
                chunk = q[c0 : c0 + per_call]
                r = np.sqrt(margin[chunk]) * self.grow  # each query its own radius: one call per chunk
                rad = r * (1.0 + self.slack) + self.slack
                Zq = np.ascontiguousarray(Zs[chunk])
                # only differently labelled points come back: the label filter runs in the search
                ind, off = radius_neighbors(
                    Zq,
                    Zs,
                    radius=rad,
                    return_distance=False,
                    return_csr=True,
                    labels=(self.labels[chunk], self.labels),
                    n_threads=self._threads_for(chunk.size * n),
                )
                counts = np.diff(off)
                rows = np.repeat(chunk, counts)
                count[chunk] = counts
                radius[chunk] = r
                full = counts > self.cap
                if full.any():  # saturated points keep their cap nearest differently labelled points
                    keep_rows = ~np.isin(rows, chunk[full])
                    rows_parts.append(rows[keep_rows])
                    hit_parts.append(ind[keep_rows])
                    sat = chunk[full]
                    dist2, ind2, off2 = radius_neighbors(
                        np.ascontiguousarray(Zs[sat]),
                        Zs,
                        radius=rad[full],
                        return_csr=True,
                        labels=(self.labels[sat], self.labels),
                        n_threads=self.n_threads,
                    )
                    rows2 = np.repeat(sat, np.diff(off2))
                    o = np.lexsort((dist2, rows2))
                    rows2, ind2, dist2 = rows2[o], ind2[o], dist2[o]
                    per_row = np.bincount(rows2, minlength=n)
                    pos = np.arange(rows2.size) - (np.cumsum(per_row) - per_row)[rows2]
                    last = np.flatnonzero(pos == self.cap - 1)
                    # every dropped point is at least as far as the cap-th kept one
                    radius[rows2[last]] = dist2[last].astype(np.float64) * (1.0 - self.slack) - self.slack
                    rows_parts.append(rows2[pos < self.cap])
                    hit_parts.append(ind2[pos < self.cap])
                else:
                    rows_parts.append(rows)
                    hit_parts.append(ind)
        # top-k search for the others: each class against the other classes. k starts at twice the
        # largest impostor count of the members at the previous search and grows to the cap for the
        # members whose list then falls short of their margin.
        for c in range(len(self.offsets) - 1):
            s, e = int(self.offsets[c]), int(self.offsets[c + 1])
            members = np.arange(s, e)[finite[s:e] & self.use_topk[s:e]]
            n_ref = n - (e - s)
            if members.size == 0 or n_ref == 0:
                continue
            k_max = min(self.cap, n_ref)
            k = min(k_max, max(32, 2 * int(self.count[members].max(initial=0))))
            ref = np.concatenate([Zs[:s], Zs[e:]])
            while members.size:
                dist, ind = kneighbors(np.ascontiguousarray(Zs[members]), ref, k=k, n_threads=self.n_threads)
                r_m = np.full(members.size, np.inf)
                if k < n_ref:
                    r_m = dist[:, -1].astype(np.float64) * (1.0 - self.slack) - self.slack
                short = (r_m < need[members]) & (k < k_max)
                done = ~short
                ind = np.where(ind < s, ind, ind + (e - s))
                radius[members[done]] = r_m[done]
                count[members[done]] = np.count_nonzero(dist[done] < need[members[done], None], axis=1)
                rows_parts.append(np.repeat(members[done], k))
                hit_parts.append(ind[done].ravel())
                members = members[short]
                k = k_max
        if rows_parts:
            self.rows = np.ascontiguousarray(np.concatenate(rows_parts), dtype=np.int64)
            self.hits_ = np.ascontiguousarray(np.concatenate(hit_parts), dtype=np.int64)
        else:
            self.rows = np.zeros(0, dtype=np.int64)
            self.hits_ = np.zeros(0, dtype=np.int64)
        saturated = finite & (radius < need)
        self.n_saturated = int(np.count_nonzero(saturated))
        # next time, points with many impostors use the top-k search (its output is bounded by the cap;
        # a radius search would also return every same-class point inside the margin)
        # radius searches only for small problems: on large ones a radius search also returns every
        # same-class point inside the margin, which explodes when classes overlap
        self.use_topk[:] = n > self.radius_max_n
        self.count = count
        self.radius = radius
        self.L0 = np.array(L, dtype=np.float64, copy=True)


class _DaskImpostorSearch(_ImpostorSearch):
    """The impostor search of the Dask fit: the same searches on the gathered embedding, the reuse
    bound's norms ||(x_p - c) E^T|| computed on the Dask X by the caller (``norms``, class-sorted)."""

    def __init__(self, n, labels, offsets, cap, n_threads, core_threads):
        self.X = self.center = None
        self.norms = None
        self.labels = labels
        self.offsets = offsets
        self.cap = int(cap)
        self.n_threads = n_threads
        self.core_threads = core_threads
        self.L0 = None
        self.radius = None
        self.use_topk = np.full(n, n > self.radius_max_n)
        self.count = np.zeros(n, dtype=np.int64)
        self.rows = self.hits_ = None
        self.n_searches = 0
        self.n_reused = 0
        self.n_saturated = 0

    def _shift_norms(self, E):
        return self.norms


#: the long name used by scikit-learn-contrib's pylmnn
LargeMarginNearestNeighbor = LMNN
