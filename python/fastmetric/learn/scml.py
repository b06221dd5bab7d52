"""Sparse Compositional Metric Learning (Shi, Bellet & Sha, AAAI 2014), as metric-learn 0.7 runs it.

The metric is a sparse non-negative combination of rank-one bases, M = sum_k w_k b_k b_k^T, learned
from triplets (a, b, c) meaning d(a, b) < d(a, c). The weights minimise

    beta * sum_k w_k + (1 / m) sum_t max(0, 1 + d_M(a_t, b_t) - d_M(a_t, c_t)),   w >= 0

(d_M squared) by metric-learn's stochastic composite scheme: AdaGrad steps with dual averaging on
random batches of triplets, the l1 term and w >= 0 by the proximal operator; every ``output_iter``
steps the full objective is evaluated and the best weights seen are kept. The steps run in C++
(``_core.ScmlSteps``, GIL released) on XB = X B^T, the points in basis coordinates; the objective
uses M itself (one d x d matrix, one quadratic form per distinct pair of the triplets, in C++).

Bases: "triplet_diffs" (eigenvectors of (sum of positive-pair outer products - negative ones)^2 over
random groups of n_features triplets), "lda" (supervised: LDA directions of the points near k-means
centres, at two neighbourhood sizes) or an array (n_basis, n_features).

Where fastmetric departs from metric-learn 0.7 (each on purpose, see the class docstrings): the
"triplet_diffs" bases are the eigenvectors (metric-learn takes rows of the eigenvector matrix), only
eigenvalues above rounding count as positive; the "lda" regions come from one k-means++ run rather
than the best of ten; SCML_Supervised indexes unlabelled points correctly; an array basis works.
"""

from __future__ import annotations

import warnings

import numpy as np

from .. import _core
from .._validation import check_int, check_real
from ..neighbors import kneighbors
from ._base import MahalanobisMixin, blas_single_thread
from ._pairs import components_from_metric
from ._constraints import class_draw_weights
from ._tuples import TripletsClassifierMixin

__all__ = [
    "SCML",
    "SCML_Supervised",
    "scml_objective",
    "scml_step_reference",
    "knn_triplets",
    "lda_bases",
    "lda_directions",
    "kmeans_centres",
    "triplet_diff_bases",
]

#: metric-learn's slack against dividing by zero in the AdaGrad scale
_DELTA = 1e-3
#: sklearn LinearDiscriminantAnalysis' default rank tolerance (its svd solver)
_LDA_TOL = 1e-4
#: work (rows x features) below which the k-NN searches and pair distances run on one thread:
#: on digits (1257 x 64) two threads took the same wall time and twice the CPU time
_SMALL = 1 << 20


# ---------------------------------------------------------------------------------------------
# float64 references (tests) and the objective


def scml_objective(w, XB, triplets, beta):
    """metric-learn's objective of weights w: beta sum(w) + mean over triplets of max(0, slack),
    slack_t = 1 + sum_k w_k ((XB_ak - XB_bk)^2 - (XB_ak - XB_ck)^2). Returns (objective, n_slack>0).
    Plain numpy in float64 (the reference; the learner computes the same through M)."""
    XB = np.asarray(XB, dtype=np.float64)
    a, b, c = np.asarray(triplets, dtype=np.int64).T
    dd = (XB[a] - XB[b]) ** 2 - (XB[a] - XB[c]) ** 2
    slack = 1.0 + dd @ np.asarray(w, dtype=np.float64)
    pos = slack > 0
    return float(beta * np.sum(w) + np.sum(slack[pos]) / slack.shape[0]), int(np.count_nonzero(pos))


def scml_step_reference(XB, triplets, batch, it, beta, gamma, w, avg, ada):
    """One AdaGrad step of metric-learn 0.7's SCML in float64 numpy (the C++ kernel's reference).

    ``batch``: triplet indices of iteration ``it`` (0-based). Returns new (w, avg, ada)."""
    XB = np.asarray(XB, dtype=np.float64)
    t = np.asarray(triplets, dtype=np.int64)[np.asarray(batch, dtype=np.int64)]
    dd = (XB[t[:, 0]] - XB[t[:, 1]]) ** 2 - (XB[t[:, 0]] - XB[t[:, 2]]) ** 2
    slack = 1.0 + dd @ w
    g = dd[slack > 0].sum(axis=0) / t.shape[0]
    avg = (it * avg + g) / (it + 1)
    ada = np.sqrt(ada**2 + g**2)
    w = -(it + 1) / (gamma * (_DELTA + ada)) * np.minimum(avg + beta, 0.0)
    return w, avg, ada


# ---------------------------------------------------------------------------------------------
# triplets from labels


def knn_triplets(X, codes, k_genuine, k_impostor, *, n_threads=None):
    """metric-learn's ``Constraints.generate_knntriplets``: for every labelled point a, each of its
    k_genuine nearest same-class points b and each of its k_impostor nearest other-class points c
    give (a, b, c). Ordered by class, then a, then b's rank, then c's rank (metric-learn's order).

    ``codes``: class codes 0..C-1, -1 for unlabelled points (never used). A class with too few
    points uses as many neighbours as it has, with a warning naming k_genuine / k_impostor (as
    metric-learn). Returns int64 (m, 3) indices into X."""
    codes = np.asarray(codes)
    labelled = np.flatnonzero(codes >= 0)
    n_lab = labelled.size
    parts = []
    for c in np.unique(codes[labelled]):
        members = np.flatnonzero(codes == c)
        others = labelled[codes[labelled] != c]
        n_c = members.size
        kg = min(k_genuine, n_c - 1)
        ki = min(k_impostor, n_lab - n_c)
        if kg < k_genuine:
            warnings.warn(
                f"class {c} has {n_c} points, too few for k_genuine={k_genuine} same-class neighbours; using {kg}",
                UserWarning,
                stacklevel=3,
            )
        if ki < k_impostor:
            warnings.warn(
                f"class {c} has {ki} points of other classes, too few for k_impostor={k_impostor} "
                f"neighbours; using {ki}",
                UserWarning,
                stacklevel=3,
            )
        if kg < 1 or ki < 1:
            continue
        Xc = X[members]
        gen = members[kneighbors(Xc, k=kg, return_distance=False, n_threads=n_threads)]
        imp = others[kneighbors(Xc, X[others], k=ki, return_distance=False, n_threads=n_threads)]
        T = np.empty((n_c, kg, ki, 3), dtype=np.int64)
        T[..., 0] = members[:, None, None]
        T[..., 1] = gen[:, :, None]
        T[..., 2] = imp[:, None, :]
        parts.append(T.reshape(-1, 3))
    if not parts:
        raise ValueError(
            f"no triplet can be formed from the labels with k_genuine={k_genuine}, k_impostor={k_impostor}: "
            "every class needs at least two points and some points of other classes"
        )
    return np.concatenate(parts)


# ---------------------------------------------------------------------------------------------
# bases


def triplet_diff_bases(X, triplets, n_basis, random_state):
    """The "triplet_diffs" basis set: repeatedly draw n_features triplets (without replacement),
    form S = sum (a - b)(a - b)^T - sum (a - c)(a - c)^T and keep the eigenvectors of S^2 with an
    eigenvalue above rounding (d eps max), until n_basis rows. float64 (n_basis, n_features)."""
    from sklearn.utils import check_random_state

    X = np.asarray(X, dtype=np.float64)
    d = X.shape[1]
    m = triplets.shape[0]
    if d > m:
        raise ValueError(
            f"basis='triplet_diffs' needs at least n_features triplets: {m} triplets, {d} features; use "
            "basis='lda' (supervised), a basis array, or reduce the dimension"
        )
    rs = check_random_state(random_state)
    Dp = X[triplets[:, 0]] - X[triplets[:, 1]]
    Dn = X[triplets[:, 0]] - X[triplets[:, 2]]
    basis = np.empty((n_basis, d))
    filled, empty_draws = 0, 0
    while filled < n_basis:
        sel = rs.choice(m, size=d, replace=False)
        P, N = Dp[sel], Dn[sel]
        S = P.T @ P - N.T @ N
        ev, V = np.linalg.eigh(S @ S)
        keep = ev > d * np.finfo(np.float64).eps * max(float(np.max(np.abs(ev))), np.finfo(np.float64).tiny)
        new = V[:, keep].T
        if new.shape[0] == 0:
            empty_draws += 1
            if empty_draws >= 100:
                raise ValueError(
                    "basis='triplet_diffs' found no basis in 100 draws: the triplets' pairs are all equal "
                    "(every difference zero?)"
                )
            continue
        take = min(new.shape[0], n_basis - filled)
        basis[filled : filled + take] = new[:take]
        filled += take
    return basis


def kmeans_centres(X, k, random_state, max_iter=300, tol=1e-4):
    """k-means++ seeding then Lloyd's iterations (stop when the centres move by less than
    tol * mean feature variance, scikit-learn's rule). Deterministic for a random_state."""
    from sklearn.utils import check_random_state

    rs = check_random_state(random_state)
    n = X.shape[0]
    k = min(k, n)
    C = np.empty((k, X.shape[1]))
    C[0] = X[rs.randint(n)]
    sq = np.einsum("ij,ij->i", X, X)
    closest = np.maximum(sq - 2.0 * (X @ C[0]) + C[0] @ C[0], 0.0)
    for j in range(1, k):
        total = float(closest.sum())
        if total > 0:
            i = int(np.searchsorted(np.cumsum(closest), rs.uniform() * total))
            i = min(i, n - 1)
        else:
            i = int(rs.randint(n))
        C[j] = X[i]
        closest = np.minimum(closest, np.maximum(sq - 2.0 * (X @ C[j]) + C[j] @ C[j], 0.0))
    thresh = tol * float(np.mean(np.var(X, axis=0)))
    rows = np.arange(n)
    for _ in range(max_iter):
        # nearest centre by ||c||^2 - 2 x.c (one GEMM; argmin: the smaller index on ties)
        lab = np.argmin(np.sum(C * C, axis=1)[None, :] - 2.0 * (X @ C.T), axis=1)
        onehot = np.zeros((n, k))
        onehot[rows, lab] = 1.0
        counts = onehot.sum(axis=0)
        new = onehot.T @ X
        nonempty = counts > 0
        new[nonempty] /= counts[nonempty, None]
        new[~nonempty] = C[~nonempty]  # an empty cluster keeps its centre
        shift = float(np.sum((new - C) ** 2))
        C = new
        if shift <= thresh:
            break
    return C


def _whitening(Gram, const, tol):
    """Whitening maps of many Gram matrices Z^T Z as scikit-learn's LDA svd solver builds them: the
    directions with a singular value of Z above ``tol`` kept, W^T (Z^T Z) W = I on them.

    A Cholesky factor Gram = L L^T gives W = L^-T, the same map up to a rotation (which the LDA
    directions do not see), when no singular value of Z is at or below tol: checked by
    ||L^-1||_F^2 < 1 / tol^2 (>= ||Gram^-1||_2). Exactly constant features (zero columns of Z,
    singular value 0, dropped by scikit-learn) get a unit diagonal and a zero column of W. Any other
    Gram goes through the eigendecomposition (scikit-learn's rule itself)."""
    G, d, _ = Gram.shape
    A = Gram.copy()
    A[:, np.arange(d), np.arange(d)] += const  # constant features: a unit pivot, dropped below
    from scipy.linalg import lapack

    W = np.empty_like(A)
    limit = 1.0 / tol**2
    for g in range(G):
        c, info = lapack.dpotrf(A[g], lower=1, clean=1)
        if info == 0:
            Linv, info = lapack.dtrtri(c, lower=1)
            if info == 0 and np.isfinite(Linv).all() and float(np.sum(Linv * Linv)) < limit:
                W[g] = Linv.T
                continue
        ev, V = np.linalg.eigh(Gram[g])
        sv = np.sqrt(np.maximum(ev, 0.0))
        keep = sv > tol
        W[g] = V * np.where(keep, 1.0 / np.where(keep, sv, 1.0), 0.0)
    W[np.broadcast_to(const[:, :, None], W.shape)] = 0.0  # zero rows for the constant features
    return W


def lda_directions(Xs, blocks, tol=_LDA_TOL, overwrite=False):
    """LDA directions (scikit-learn's svd solver, its rank rules) of many neighbourhoods at once.

    Xs: (G, s, d) points of G neighbourhoods whose members come in the same class blocks
    (``blocks``: list of (start, stop) per class). Returns a list of G arrays (r_g, d), rows of unit
    norm: the normalised columns of LinearDiscriminantAnalysis().fit(...).scalings_. ``overwrite``:
    Xs may be used as scratch space."""
    G, s, d = Xs.shape
    n_cls = len(blocks)
    sizes = np.array([b - a for a, b in blocks], dtype=np.float64)
    means = np.stack([Xs[:, a:b].mean(axis=1) for a, b in blocks], axis=1)  # (G, C, d)
    Xc = Xs if overwrite else Xs.copy()
    for j, (a, b) in enumerate(blocks):
        Xc[:, a:b] -= means[:, j : j + 1]
    # scikit-learn divides the class-centred features by their std (1 where it is 0); the directions
    # do not depend on that scaling, only the rank rule does, so the std comes from the Gram matrix
    # (the centred features have mean 0) and "constant" means every centred value equal
    Gram = np.matmul(Xc.transpose(0, 2, 1), Xc)
    diag = np.arange(d)
    std = np.sqrt(Gram[:, diag, diag] / s)
    # every centred value equal: only where the column's sum of squares is at rounding level
    const = np.zeros((G, d), dtype=bool)
    scale = np.einsum("gii->g", Gram)[:, None] / d
    tiny = Gram[:, diag, diag] <= 1e-20 * np.maximum(scale, np.finfo(np.float64).tiny)
    for g, j in zip(*np.nonzero(tiny), strict=True):
        col = Xc[g, :, j]
        const[g, j] = col.max() == col.min()
    std[const] = 1.0
    Gram /= std[:, :, None] * std[:, None, :] * (s - n_cls)  # Z^T Z, Z = Xc / std / sqrt(s - C)
    W = _whitening(Gram, const, tol)  # (G, d, d): W^T Gram W = I on the kept directions, 0 columns elsewhere
    W /= std[:, :, None]
    priors = sizes / s
    xbar = np.einsum("c,gcd->gd", priors, means)
    fac = 1.0 if n_cls == 1 else 1.0 / (n_cls - 1)
    Mb = np.sqrt(s * priors * fac)[None, :, None] * (means - xbar[:, None, :])
    Xb = np.matmul(Mb, W)  # (G, C, d)
    _, S2, Vt2 = np.linalg.svd(Xb, full_matrices=False)
    out = []
    for g in range(G):
        r = int(np.count_nonzero(S2[g] > tol * S2[g, 0])) if S2[g, 0] > 0 else 0
        D = (W[g] @ Vt2[g, :r].T).T  # (r, d)
        norms = np.linalg.norm(D, axis=1)
        norms[norms == 0] = 1.0
        out.append(D / norms[:, None])
    return out


def lda_bases(X, codes, n_basis, random_state, *, n_threads=None):
    """The "lda" basis set: LDA directions of the points near ceil(n_basis / (2 r)) k-means centres
    (r = min(n_classes - 1, n_features) directions each), at two neighbourhood sizes per class (10 and
    20 points, 20 and 50 above 50 features; fewer when a class is smaller), the smaller scale first.
    float64 (n_basis, n_features)."""
    lab = np.flatnonzero(codes >= 0)
    Xl, yl = X[lab], codes[lab]
    classes, counts = np.unique(yl, return_counts=True)
    d = X.shape[1]
    r = min(len(classes) - 1, d)
    n_clusters = int(np.ceil(n_basis / (2 * r)))
    centres = kmeans_centres(Xl, n_clusters, random_state)
    scales = (20, 50) if d > 50 else (10, 20)
    k_class = np.minimum(counts[None, :], np.array(scales)[:, None])  # (2, C)
    neigh = []
    for j, c in enumerate(classes):
        members = np.flatnonzero(yl == c)
        idx = kneighbors(centres, Xl[members], k=int(k_class[1, j]), return_distance=False, n_threads=n_threads)
        neigh.append(members[idx])  # (n_clusters, k_max_c)
    rows = []
    for s in range(2):
        cols, blocks, start = [], [], 0
        for j in range(len(classes)):
            kk = int(k_class[s, j])
            cols.append(neigh[j][:, :kk])
            blocks.append((start, start + kk))
            start += kk
        idx = np.concatenate(cols, axis=1)  # (n_clusters, sum_c k)
        # at most r per neighbourhood: the between-class scatter has rank <= n_classes - 1, a further
        # direction is rounding (metric-learn's layout holds r, and it raises on more)
        rows.extend(D[:r] for D in lda_directions(Xl[idx], blocks, overwrite=True))
    basis = np.concatenate(rows, axis=0)[:n_basis]
    if basis.shape[0] < n_basis:
        warnings.warn(
            f"basis='lda' gave {basis.shape[0]} directions, fewer than n_basis={n_basis} (rank-deficient "
            "neighbourhoods); using those",
            UserWarning,
            stacklevel=3,
        )
    return basis


# ---------------------------------------------------------------------------------------------
# the learners


class _BaseSCML(MahalanobisMixin):
    """Shared fit: parameters, the AdaGrad loop (C++) and the components."""

    _authorized_basis = ("triplet_diffs",)

    def __init__(
        self,
        beta=1e-5,
        basis="triplet_diffs",
        n_basis=None,
        gamma=5e-3,
        max_iter=10000,
        output_iter=500,
        batch_size=10,
        verbose=False,
        preprocessor=None,
        random_state=None,
    ):
        self.beta = beta
        self.basis = basis
        self.n_basis = n_basis
        self.gamma = gamma
        self.max_iter = max_iter
        self.output_iter = output_iter
        self.batch_size = batch_size
        self.verbose = verbose
        self.preprocessor = preprocessor
        self.random_state = random_state

    def _check_params(self):
        check_real(self.beta, "beta", low=0, finite=True)
        check_real(self.gamma, "gamma", low=0, low_open=True, finite=True)
        max_iter = check_int(self.max_iter, "max_iter")
        output_iter = check_int(self.output_iter, "output_iter")
        check_int(self.batch_size, "batch_size")
        if output_iter > max_iter:
            raise ValueError(f"output_iter={output_iter} must be <= max_iter={max_iter}")
        if self.n_basis is not None:
            check_int(self.n_basis, "n_basis")
        basis = self.basis
        if isinstance(basis, str):
            if basis not in self._authorized_basis:
                raise ValueError(
                    f"basis={basis!r} is not one of {', '.join(map(repr, self._authorized_basis))} or an array "
                    "of shape (n_basis, n_features)"
                )
        elif not isinstance(basis, (np.ndarray, list, tuple)):
            raise TypeError(
                f"basis must be one of {', '.join(map(repr, self._authorized_basis))} or an array of shape "
                f"(n_basis, n_features), got {type(basis).__name__}"
            )

    def _array_basis(self, d):
        B = np.asarray(self.basis)
        if B.dtype.kind not in "fiub":
            raise TypeError(f"basis array must be real numbers, got dtype {B.dtype}")
        if B.ndim != 2 or B.shape[0] < 1 or B.shape[1] != d:
            raise ValueError(f"basis array must have shape (n_basis >= 1, n_features={d}); got shape {B.shape}")
        B = np.array(B, dtype=np.float64)
        if not np.isfinite(B).all():
            raise ValueError("basis array contains NaN or infinity")
        if self.n_basis is not None and int(self.n_basis) != B.shape[0]:
            raise ValueError(f"n_basis={self.n_basis} but the basis array has {B.shape[0]} rows")
        return B

    def _triplet_diffs(self, X, tri):
        n_basis = 80 * X.shape[1] if self.n_basis is None else int(self.n_basis)  # metric-learn's default
        return triplet_diff_bases(X, tri, n_basis, self.random_state)

    def _fit_index_triplets(self, X, tri, B, dtype, triplet_weights=None):
        """AdaGrad on index triplets tri (m, 3) into the points X (n, d), bases B (K, d).

        ``triplet_weights`` (m,) >= 0 or None: the objective's hinge term becomes the weighted mean
        sum_t w_t slack_t / sum_t w_t, and the batches are drawn with probability w_t / sum w (each
        step's mean gradient is then an unbiased estimate of the weighted one); None, or equal weights,
        draws uniformly (metric-learn's stream)."""
        from sklearn.utils import check_random_state

        X = np.ascontiguousarray(X, dtype=np.float64)
        tri = np.ascontiguousarray(tri, dtype=np.int64)
        B = np.ascontiguousarray(B, dtype=np.float64)
        m, K = tri.shape[0], B.shape[0]
        max_iter, out_iter, bs = int(self.max_iter), int(self.output_iter), int(self.batch_size)
        beta, gamma = float(self.beta), float(self.gamma)
        rs = check_random_state(self.random_state)
        if triplet_weights is None or np.ptp(triplet_weights) == 0:  # equal weights: the unweighted fit
            batches = rs.randint(low=0, high=m, size=(max_iter, bs))
            share = None
        else:
            share = np.asarray(triplet_weights, dtype=np.float64) / float(np.sum(triplet_weights))
            batches = rs.choice(m, size=(max_iter, bs), p=share)
        batches = np.ascontiguousarray(batches, dtype=np.int64)
        threads = self._threads()
        name = self._name()
        # the distinct pairs (a, b) and (a, c) of the triplets: the objective's slacks are
        # 1 + d_M(a, b) - d_M(a, c), one quadratic form per distinct pair
        keys = np.concatenate((tri[:, 0] * X.shape[0] + tri[:, 1], tri[:, 0] * X.shape[0] + tri[:, 2]))
        ukeys, inv = np.unique(keys, return_inverse=True)
        pairs = np.ascontiguousarray(np.stack(np.divmod(ukeys, X.shape[0]), axis=1), dtype=np.int64)
        i_ab, i_ac = inv[:m], inv[m:]
        with blas_single_thread():
            XB = np.ascontiguousarray(X @ B.T)
            steps = _core.ScmlSteps(XB, tri, bs, beta, gamma)
            w = np.zeros(K)
            best_obj, best_w, trace = np.inf, None, []
            for start in range(0, max_iter - max_iter % out_iter, out_iter):
                steps.run(batches[start : start + out_iter], w)
                act = np.flatnonzero(w > 0)
                Ba = B[act]
                M = (Ba * w[act, None]).T @ Ba
                Y = np.ascontiguousarray(X @ M)
                q = _core.scml_pair_forms(X, Y, pairs, threads if pairs.shape[0] * X.shape[1] > _SMALL else 1)
                slack = 1.0 + (q[i_ab] - q[i_ac])
                pos = slack > 0
                if share is None:
                    hinge = float(np.sum(slack[pos])) / m
                else:
                    hinge = float(np.dot(share[pos], slack[pos]))
                obj = beta * float(np.sum(w)) + hinge
                count = int(np.count_nonzero(pos))
                trace.append((start + out_iter, obj, count))
                if self.verbose:
                    print(f"[{name}] iter {start + out_iter}\t obj {obj:.6f}\t num_imp {count}", flush=True)
                if obj < best_obj:
                    best_obj, best_w = obj, w.copy()
            if self.verbose:
                print(f"[{name}] max iteration reached.", flush=True)
            L = self._components_from_weights(B, best_w, X.shape[1])
            self._warn_collapsed(X, L)
        self.n_basis_ = K
        self.basis_ = B
        self.basis_weights_ = best_w
        self.objective_ = float(best_obj)
        self.objective_trace_ = np.array(trace, dtype=np.float64).reshape(-1, 3)
        return self._set_components(L, dtype, n_iter=max_iter)

    def _warn_collapsed(self, X, L, rel_tol=1e-9):
        """Warn when the metric L^T L sees at most half of the directions the points X vary in (weights
        concentrated on a few, or on collinear, bases: a collapsed metric, not a slightly low rank):
        eigenvalues of the covariance of X and of the embedded covariance above ``rel_tol`` times the
        largest."""
        if not L.any() or L.shape[0] < X.shape[1]:
            return  # reported by _components_from_weights
        Xc = X - X.mean(axis=0)
        C = Xc.T @ Xc
        ev = np.linalg.eigvalsh(C)
        r_data = int(np.count_nonzero(ev > rel_tol * max(float(ev[-1]), 0.0)))
        ez = np.linalg.eigvalsh(L @ C @ L.T)
        r_emb = int(np.count_nonzero(ez > rel_tol * max(float(ez[-1]), 0.0)))
        if 2 * r_emb <= r_data:
            warnings.warn(
                f"{self._name()}: the learned metric sees only {r_emb} of the {r_data} directions the training "
                "points vary in (the nonzero basis weights lie on few or collinear bases), so distances ignore "
                "the rest. With basis='lda' this happens on standardised data with rare features; try "
                "basis='triplet_diffs', or features that are not rescaled",
                UserWarning,
                stacklevel=3,
            )

    def _components_from_weights(self, B, w, d):
        act = np.flatnonzero(w > 0)
        if act.size == 0:
            warnings.warn(
                f"{self._name()}: every basis weight is 0 (no basis lowers the objective); the learned metric "
                "is 0. Try a smaller beta or another basis",
                UserWarning,
                stacklevel=3,
            )
            return np.zeros((1, d))
        Ba, wa = B[act], w[act]
        if act.size < d:
            warnings.warn(
                f"{self._name()}: {act.size} bases have a nonzero weight, fewer than the {d} features: the "
                f"learned transformation reduces the dimension to {act.size}",
                UserWarning,
                stacklevel=3,
            )
            return np.sqrt(wa)[:, None] * Ba
        return components_from_metric((Ba * wa[:, None]).T @ Ba)


def _unique_rows(P):
    """(unique rows of P, inverse indices): by their bytes (exact), float64 C-contiguous P."""
    P = np.ascontiguousarray(P)
    keys = P.view(np.dtype((np.void, P.dtype.itemsize * P.shape[1]))).ravel()
    _, first, inv = np.unique(keys, return_index=True, return_inverse=True)
    return P[first], inv.ravel()


class SCML(TripletsClassifierMixin, _BaseSCML):
    """Sparse Compositional Metric Learning from triplets (a, b, c) meaning d(a, b) < d(a, c).

    Learns M = sum_k w_k b_k b_k^T over ``n_basis`` rank-one bases b_k with sparse weights w >= 0
    minimising ``beta * sum(w)`` plus the mean hinge loss max(0, 1 + d_M(a, b) - d_M(a, c)) of the
    triplets, by metric-learn 0.7's stochastic composite scheme (AdaGrad with dual averaging on
    random batches, the best weights of the objective checks every ``output_iter`` steps kept).

    Parameters
    ----------
    beta : float, default=1e-5
        l1 regularisation of the weights.
    basis : "triplet_diffs" or array (n_basis, n_features), default="triplet_diffs"
        The bases. "triplet_diffs": eigenvectors of (sum over n_features random triplets of
        (a - b)(a - b)^T - (a - c)(a - c)^T)^2 with a positive eigenvalue, drawn until ``n_basis``;
        needs at least n_features triplets. metric-learn 0.7 takes the rows of the eigenvector matrix
        and counts rounding-level eigenvalues as positive; fastmetric takes the eigenvectors and only
        eigenvalues above d * eps * max.
    n_basis : int or None, default=None
        Number of bases; None: 80 * n_features (metric-learn's default). Ignored for an array basis
        (must then be None or its row count).
    gamma : float, default=5e-3
        Learning rate.
    max_iter : int, default=10000
        AdaGrad steps.
    output_iter : int, default=500
        Evaluate the objective (and print it when verbose) every ``output_iter`` steps; the best
        weights among these checks are the result. Must be <= max_iter.
    batch_size : int, default=10
        Triplets per step (drawn uniformly with replacement).
    verbose : bool, default=False
        Print the objective and the number of triplets with positive slack at each check.
    preprocessor : array (n_points, n_features), callable or None
        Lets ``triplets`` be (n, 3) index triplets into these points.
    random_state : int, RandomState or None
        Seed of the basis draws and of the batches.

    Attributes
    ----------
    components_ : ndarray (n_components, n_features)
        L with L^T L = M, in the dtype of the triplets (float32 kept); fewer rows than features when
        fewer bases than features have a nonzero weight (with a warning, as metric-learn). A warning
        also reports a collapsed metric, one that sees at most half of the directions the training
        points vary in (weights on few or collinear bases).
    n_iter_ : int
        Steps run (max_iter; metric-learn 0.7 stores max_iter - 1).
    basis_ : ndarray (``n_basis_``, n_features)
        The bases (float64).
    basis_weights_ : ndarray (``n_basis_``,)
        The learned weights w >= 0.
    n_basis_ : int
        Number of bases used.
    objective_ : float
        Objective at the returned weights.
    objective_trace_ : ndarray (n_checks, 3)
        (iteration, objective, triplets with positive slack) of every check.

    Examples
    --------
    >>> import numpy as np
    >>> from fastmetric.learn import SCML
    >>> rng = np.random.RandomState(0)
    >>> X = rng.randn(60, 2) * [1.0, 5.0]  # the second feature is noise
    >>> a, b, c = rng.randint(60, size=(3, 300))
    >>> closer = np.abs(X[a, 0] - X[b, 0]) < np.abs(X[a, 0] - X[c, 0])
    >>> triplets = np.where(closer[:, None], np.c_[a, b, c], np.c_[a, c, b])  # by the first feature
    >>> scml = SCML(n_basis=20, max_iter=2000, random_state=0, preprocessor=X).fit(triplets)
    >>> M = scml.get_mahalanobis_matrix()
    >>> bool(M[0, 0] > 10 * M[1, 1])  # the noise feature is down-weighted
    True
    >>> bool(scml.score(triplets) > 0.9)
    True
    """

    def fit(self, triplets):
        """Learn M from ``triplets`` (n, 3, n_features), or (n, 3) index triplets with a preprocessor."""
        self._check_params()
        T = self._validate_tuples(triplets)
        d = T.shape[2]
        raw = np.asarray(triplets)
        if getattr(self, "preprocessor_", None) is not None and raw.ndim == 2:
            # identifier triplets (indices, or anything the callable maps): one point per identifier
            _, first, inv = np.unique(raw.ravel(), return_index=True, return_inverse=True)
            X = T.reshape(-1, d)[first]
        else:
            X, inv = _unique_rows(np.asarray(T, dtype=np.float64).reshape(-1, d))
        tri = inv.reshape(-1, 3).astype(np.int64)
        with blas_single_thread():
            B = self._triplet_diffs(X, tri) if isinstance(self.basis, str) else self._array_basis(d)
        return self._fit_index_triplets(X, tri, B, T.dtype)


class SCML_Supervised(_BaseSCML):
    """SCML on triplets made from class labels: each point a with each of its ``k_genuine`` nearest
    same-class points b and each of its ``k_impostor`` nearest other-class points c (metric-learn 0.7's
    ``generate_knntriplets``, exact Euclidean neighbours).

    Parameters are those of :class:`SCML` plus ``k_genuine`` (default 3), ``k_impostor`` (default 10)
    and ``class_weight`` (default None, below), with ``basis`` one of "lda" (default),
    "triplet_diffs" or an array. A class with too few points uses as many neighbours as it has, with a
    warning naming k_genuine / k_impostor (as metric-learn); labels < 0 mark unlabelled points, never
    used.

    "lda": LDA directions (min(n_classes - 1, n_features) each, scikit-learn's svd solver) of the
    points nearest to ceil(n_basis / (2 min(n_classes - 1, n_features))) k-means centres, per class
    the 10 and the 20 nearest (20 and 50 above 50 features; all of a smaller class). ``n_basis``
    default: min(20 n_features, 2 n_samples min(n_classes - 1, n_features) - 1) (metric-learn's rule);
    n_basis must be below 2 n_samples min(n_classes - 1, n_features). The centres come from one
    k-means++ run of Lloyd's algorithm (metric-learn: the best of 10 scikit-learn runs); they only
    choose the local regions. On standardised data with rare features (a pixel nonzero in a few
    images) the LDA directions can align with those features and the metric collapse onto them (a
    warning says so); "triplet_diffs" is then the robust choice. "triplet_diffs": as for
    :class:`SCML`, default 80 n_features bases.

    ``class_weight`` (None, "balanced" or a dict {label: weight}, scikit-learn's convention; not in
    metric-learn): each triplet weighs its anchor a's class weight in the objective, whose hinge term
    becomes the weighted mean of the slacks (also in ``objective_`` and in the choice of the best
    check), and AdaGrad draws its batches with probability proportional to the triplet weights, so
    every step estimates the weighted gradient without bias. "balanced" gives each class an equal
    share of the hinge term (when each of its points anchors k_genuine x k_impostor triplets). The
    bases are chosen from the data as without weights. None (default), or equal weights, keeps
    metric-learn's uniform draws.

    Attributes are those of :class:`SCML` plus ``classes_``.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from fastmetric.learn import SCML_Supervised
    >>> X, y = load_iris(return_X_y=True)
    >>> scml = SCML_Supervised(random_state=33).fit(X, y)
    >>> scml.components_.shape
    (4, 4)
    >>> scml.n_basis_  # min(20 * 4, 2 * 150 * 2 - 1)
    80
    """

    _authorized_basis = ("triplet_diffs", "lda")

    def __init__(
        self,
        k_genuine=3,
        k_impostor=10,
        beta=1e-5,
        basis="lda",
        n_basis=None,
        gamma=5e-3,
        max_iter=10000,
        output_iter=500,
        batch_size=10,
        verbose=False,
        preprocessor=None,
        random_state=None,
        class_weight=None,
    ):
        super().__init__(
            beta=beta,
            basis=basis,
            n_basis=n_basis,
            gamma=gamma,
            max_iter=max_iter,
            output_iter=output_iter,
            batch_size=batch_size,
            verbose=verbose,
            preprocessor=preprocessor,
            random_state=random_state,
        )
        self.k_genuine = k_genuine
        self.k_impostor = k_impostor
        self.class_weight = class_weight

    def fit(self, X, y):
        """Make triplets from the labels y and learn M on X (n_samples, n_features)."""
        self._check_params()
        kg = check_int(self.k_genuine, "k_genuine")
        ki = check_int(self.k_impostor, "k_impostor")
        if self.preprocessor is not None:
            raise ValueError("SCML_Supervised.fit takes the points X themselves; preprocessor must be None")
        X, codes = self._validate_supervised(X, y, partial=True)
        X64 = np.asarray(X, dtype=np.float64)
        # kneighbors: None = every core; below ~10 Mflop per search a second thread only waits
        threads = (self._threads() or None) if X.shape[0] * X.shape[1] > _SMALL else 1
        tri = knn_triplets(X64, codes, kg, ki, n_threads=threads)
        weights = self._triplet_weights(codes, tri)
        d = X.shape[1]
        with blas_single_thread():  # many small LAPACK calls: threads only contend
            if isinstance(self.basis, str) and self.basis == "lda":
                B = lda_bases(X64, codes, self._lda_n_basis(X64, codes), self.random_state, n_threads=threads)
            elif isinstance(self.basis, str):
                B = self._triplet_diffs(X64, tri)
            else:
                B = self._array_basis(d)
        return self._fit_index_triplets(X64, tri, B, X.dtype, triplet_weights=weights)

    def _triplet_weights(self, codes, tri):
        """Each triplet's anchor class weight from ``class_weight`` (None for None); the triplets'
        anchors are labelled points, so their codes index ``classes_``."""
        per_point = class_draw_weights(self.class_weight, codes, self.classes_)
        if per_point is None:
            return None
        w = per_point[tri[:, 0]]
        if not (w > 0).any():
            raise ValueError(
                "SCML_Supervised: class_weight gives weight 0 to the class of every triplet's anchor; no "
                "triplet is left to learn from"
            )
        return w

    def _lda_n_basis(self, X, codes):
        n = int(np.count_nonzero(codes >= 0))
        n_classes = len(self.classes_)
        r = min(n_classes - 1, X.shape[1])
        limit = n * 2 * r
        if self.n_basis is None:
            return min(20 * X.shape[1], limit - 1)
        k = int(self.n_basis)
        if k >= limit:
            raise ValueError(
                f"n_basis={k} is too large for basis='lda': {n} labelled samples give fewer than "
                f"2 * n_samples * min(n_classes - 1, n_features) = {limit} bases"
            )
        if k < n_classes:
            warnings.warn(
                f"n_basis={k} is less than the number of classes ({n_classes}), which may lead to poor "
                "discriminative performance",
                UserWarning,
                stacklevel=3,
            )
        return k
