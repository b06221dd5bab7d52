"""Pairwise-softmax losses on embeddings: the loss and its gradient with respect to Z.

``nca_loss(Z, y)`` and ``mlkr_loss(Z, y)`` evaluate the objectives of NCA and MLKR on an embedding
Z (n_samples, n_components) -- the output of a linear map, a kernel map or a neural network -- and
return ``(loss, G)`` with ``G = d loss / d Z`` of Z's shape and dtype. The chain rule to the
parameters is the caller's: for Z = X L^T, ``d loss / d L = G.T @ X``; for a network, back-propagate
G. Both run on the C++ pair sweep (``cpp/include/fastmetric/learn/pair_sweep.hpp``): memory
O(n * n_components) plus bounded caches, never n x n; float32 stays float32 (float64 accumulation);
the GIL released; bitwise-identical results for any ``n_threads``.

With d_ij = |z_i - z_j|^2 and p_ij = exp(-d_ij) / sum_{l != i} exp(-d_il) (p_ii = 0):

- NCA: ``loss = -sum_i p_i``, p_i = sum_{j: y_j = y_i} p_ij, the expected number of points a
  stochastic nearest-neighbour rule classifies correctly, *negated*: it is the objective scikit-learn's
  ``NeighborhoodComponentsAnalysis`` minimises (its ``_loss_grad_lbfgs`` with ``sign=-1``), so
  lower is better and ``-loss / n`` is the leave-one-out accuracy of that rule.
- MLKR: ``loss = sum_i (yhat_i - y_i)^2`` with yhat_i = sum_j p_ij y_j, the leave-one-out error of
  Gaussian kernel regression (metric-learn's MLKR objective).

Deep-metric-learning losses (issue 15): :func:`contrastive_loss`, :func:`triplet_margin_loss` (with
the miners ``"all"``, ``"hard"``, ``"semihard"``, ``"batch_hard"``) and
:func:`multi_similarity_loss`, each ``f(Z, labels, **params) -> (loss, G)`` with the definitions,
parameter names, defaults and default reducers of pytorch-metric-learning 2.9 (PML), on euclidean
distances or cosine similarities of the L2-normalised rows (PML's ``LpDistance()`` and
``CosineSimilarity()``; both normalise by default). They run on a C++ sweep
(``cpp/include/fastmetric/learn/embedding_losses.hpp``) over the batch's n x n distances: no
triplet is ever formed, counts are 64-bit, the memory is one n x n matrix of Z's dtype (4 n^2 bytes in float32).
"""

from __future__ import annotations

import numpy as np

from . import _core
from ._validation import as_float_2d, check_finite, check_real, resolve_n_threads, sample_weights

__all__ = ["contrastive_loss", "mlkr_loss", "multi_similarity_loss", "nca_loss", "triplet_margin_loss"]


def _embedding(Z) -> np.ndarray:
    Z = as_float_2d(Z, "Z")
    if Z.shape[0] < 2:
        raise ValueError(f"Z must have at least 2 rows (samples), got shape {Z.shape}")
    check_finite(Z, "Z")
    return np.ascontiguousarray(Z)


def _targets(y, n: int, name: str) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"{name} must be 1-D with one entry per row of Z, got shape {y.shape}")
    if y.shape[0] != n:
        raise ValueError(f"{name} has {y.shape[0]} entries but Z has {n} rows")
    return y


def _evaluate(Z, yv, objective, n_threads, sample_weight=None):
    sweep = _core.PairSweep(yv, objective, sample_weight=sample_weights(sample_weight, Z.shape[0], "row of Z"))
    return sweep.evaluate(Z, resolve_n_threads(n_threads))


def nca_loss(Z, y, *, sample_weight=None, n_threads=None):
    """NCA loss ``-sum_i p_i`` (scikit-learn's sign) and its gradient on an embedding.

    Parameters
    ----------
    Z : array (n_samples, n_components)
        The embedded points; float32 stays float32, other numeric dtypes become float64.
    y : array (n_samples,)
        Class labels (any hashable values numpy can sort).
    sample_weight : array (n_samples,) or None
        Weights w_i >= 0 of the rows' terms: the loss is sum_i w_i loss_i (None: all 1) -- e.g.
        inverse class frequencies for imbalanced classes.
    n_threads : int or None
        Threads (None: all cores).

    Returns
    -------
    loss : float
        ``-sum_i p_i``: minus the expected number of correctly classified points.
    G : ndarray, Z's shape and dtype
        ``d loss / d Z``.

    Examples
    --------
    >>> import numpy as np
    >>> from fastmetric.losses import nca_loss
    >>> Z = np.array([[0., 0.], [0., 1.], [5., 5.], [5., 6.]])
    >>> loss, G = nca_loss(Z, [0, 0, 1, 1])
    >>> round(loss, 6)  # minus the expected number of correctly classified points
    -4.0
    >>> G.shape
    (4, 2)
    """
    Z = _embedding(Z)
    y = _targets(y, Z.shape[0], "y")
    if y.dtype.kind == "f" and not np.isfinite(y).all():
        raise ValueError("y (class labels) contains NaN or infinity")
    codes = np.unique(y, return_inverse=True)[1].reshape(-1).astype(np.float64)
    return _evaluate(Z, codes, "nca", n_threads, sample_weight)


def mlkr_loss(Z, y, *, sample_weight=None, n_threads=None):
    """MLKR loss ``sum_i (yhat_i - y_i)^2`` and its gradient on an embedding.

    ``Z``, ``sample_weight`` and ``n_threads`` as in :func:`nca_loss` (with weights the loss is
    ``sum_i w_i (yhat_i - y_i)^2``); ``y`` (n_samples,) holds the real, finite regression targets.
    Returns ``(loss, G)``: the leave-one-out squared error of Gaussian kernel regression in the
    space of Z, and ``G = d loss / d Z`` of Z's shape and dtype.

    Examples
    --------
    >>> import numpy as np
    >>> from fastmetric.losses import mlkr_loss
    >>> Z = np.array([[0., 0.], [0., 1.], [5., 5.], [5., 6.]])
    >>> loss, G = mlkr_loss(Z, [0., 0., 1., 1.])
    >>> round(loss, 6)  # the leave-one-out kernel-regression error
    0.0
    >>> G.shape
    (4, 2)
    """
    Z = _embedding(Z)
    y = _targets(y, Z.shape[0], "y")
    if y.dtype.kind not in "biuf":
        raise TypeError(f"y must hold real numbers, got dtype {y.dtype}")
    y = np.ascontiguousarray(y, dtype=np.float64)
    if not np.isfinite(y).all():
        raise ValueError("y (regression targets) contains NaN or infinity")
    return _evaluate(Z, y, "mlkr", n_threads, sample_weight)


# ---- deep-metric-learning losses on a labelled batch (issue 15 part 2) ----
#
# Notation of the docstrings below. u_i = z_i / max(|z_i|, 1e-12) (torch.nn.functional.normalize,
# as PML's distances apply it; ``normalize_embeddings=False`` keeps u_i = z_i). "euclidean":
# D_ij = |u_i - u_j| (PML ``LpDistance(normalize_embeddings=...)``); "cosine": S_ij = u_i . u_j (PML
# ``CosineSimilarity()``; with ``normalize_embeddings=False``, ``DotProductSimilarity(
# normalize_embeddings=False)``). Pairs are ordered, (a, j) with a != j; positive pairs share a
# label, negative pairs do not. For the gradient, d|u_i - u_j| / du is taken as 0 where u_i = u_j,
# and the hinges' derivative as 0 at the kink (torch's relu).

_DISTANCES = ("euclidean", "cosine")
_MINERS = (None, "all", "hard", "semihard", "batch_hard")


def _batch(Z, labels):
    Z = as_float_2d(Z, "Z")
    n = Z.shape[0]
    if n < 2:
        raise ValueError(f"Z must have at least 2 rows (a batch of embeddings), got shape {Z.shape}")
    check_finite(Z, "Z")
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.shape[0] != n:
        raise ValueError(
            f"labels must be 1-D with one entry per row of Z: got shape {labels.shape}, Z has shape {Z.shape}"
        )
    if labels.dtype.kind == "f" and not np.isfinite(labels).all():
        raise ValueError("labels contains NaN or infinity")
    if labels.dtype.kind not in "biuf" and labels.dtype.kind not in "USO":
        raise TypeError(f"labels must hold class labels (integers or strings), got dtype {labels.dtype}")
    codes = np.unique(labels, return_inverse=True)[1].reshape(-1).astype(np.int64)
    if codes.max() == 0:
        raise ValueError(f"labels must hold at least 2 classes, got a single class ({labels[0]!r}) for {n} rows")
    return np.ascontiguousarray(Z), codes


def _distance(distance, normalize_embeddings):
    if distance not in _DISTANCES:
        raise ValueError(f"distance must be 'euclidean' or 'cosine', got {distance!r}")
    if not isinstance(normalize_embeddings, (bool, np.bool_)):
        raise TypeError(f"normalize_embeddings must be a bool, got {type(normalize_embeddings).__name__}")
    return distance, bool(normalize_embeddings)


def _result(out, return_counts, names):
    loss, G, c0, c1 = out
    if not np.isfinite(loss) or not np.isfinite(G).all():
        raise ValueError(
            "the loss or its gradient overflowed (embeddings too large for normalize_embeddings=False?)"
        )
    if return_counts:
        return float(loss), G, {names[0]: int(c0), names[1]: int(c1)}
    return float(loss), G


def contrastive_loss(
    Z,
    labels,
    *,
    pos_margin=0.0,
    neg_margin=1.0,
    distance="euclidean",
    normalize_embeddings=True,
    return_counts=False,
    n_threads=None,
):
    """Contrastive loss (PML ``ContrastiveLoss(pos_margin=0, neg_margin=1)``) and its gradient.

    Per pair: positives ``relu(D_ap - pos_margin)``, negatives ``relu(neg_margin - D_an)``
    (cosine: ``relu(pos_margin - S_ap)`` and ``relu(S_an - neg_margin)``), over every ordered pair of
    the batch. Reducer: PML's default ``AvgNonZeroReducer`` applied to each sub-loss, summed:
    ``loss = mean of the positive-pair losses that are > 0 + mean of the negative-pair losses that
    are > 0`` (a sub-loss with no pair above 0 contributes 0).

    PML equivalent: ``ContrastiveLoss(pos_margin, neg_margin, distance=LpDistance(
    normalize_embeddings=...))(Z, labels)`` or ``distance=CosineSimilarity()``.

    Parameters
    ----------
    Z : array (n, d), n >= 2
        The batch of embeddings; float32 stays float32 (the batch's products on float32
        micro-kernels, as fastmetric's float32 cdist; every per-pair term and every sum in float64),
        other dtypes become float64.
    labels : array (n,)
        Class labels (at least 2 classes).
    pos_margin, neg_margin : float
    distance : "euclidean" or "cosine"
    normalize_embeddings : bool
        L2-normalise the rows first (PML's default); rows of norm <= 1e-12 are then refused.
    return_counts : bool
        Also return ``{"pos_pairs": ..., "neg_pairs": ...}``: the pairs with a positive loss.
    n_threads : int or None

    Returns
    -------
    loss : float
    G : ndarray of Z's shape and dtype, ``d loss / d Z``.

    Examples
    --------
    >>> import numpy as np
    >>> from fastmetric.losses import contrastive_loss
    >>> Z = np.array([[1.0, 0.0], [1.0, 0.2], [0.0, 1.0], [0.3, 1.0]])
    >>> loss, G, counts = contrastive_loss(Z, [0, 0, 1, 1], return_counts=True)
    >>> round(loss, 6), counts  # no negative pair is closer than neg_margin = 1
    (0.243751, {'pos_pairs': 4, 'neg_pairs': 0})
    """
    Z, codes = _batch(Z, labels)
    distance, norm = _distance(distance, normalize_embeddings)
    pm = check_real(pos_margin, "pos_margin", finite=True)
    nm = check_real(neg_margin, "neg_margin", finite=True)
    out = _core.embedding_contrastive_loss(Z, codes, distance, norm, pm, nm, resolve_n_threads(n_threads))
    return _result(out, return_counts, ("pos_pairs", "neg_pairs"))


def triplet_margin_loss(
    Z,
    labels,
    *,
    margin=0.05,
    miner=None,
    miner_margin=0.2,
    distance="euclidean",
    normalize_embeddings=True,
    return_counts=False,
    n_threads=None,
):
    """Triplet margin loss with an optional miner (PML ``TripletMarginLoss`` + miner) and its gradient.

    With x = D (euclidean) or x = -S (cosine), a triplet (a, p, n) (p != a a positive of a, n a
    negative) has the loss ``relu((x_ap - x_an) + margin)`` (PML ``TripletMarginLoss(margin,
    swap=False, smooth_loss=False)``) and the miner's margin ``m = x_an - x_ap``. The triplets used:

    - ``miner=None``: every triplet of the batch (PML: the loss called without a miner);
    - ``"all"``: ``m <= miner_margin`` (PML ``TripletMarginMiner(margin=miner_margin,
      type_of_triplets="all")``);
    - ``"hard"``: ``m <= miner_margin`` and ``m <= 0`` (``type_of_triplets="hard"``);
    - ``"semihard"``: ``0 < m <= miner_margin``, i.e. ``d_ap < d_an <= d_ap + miner_margin``
      (``type_of_triplets="semihard"``);
    - ``"batch_hard"``: one triplet per anchor that has a positive and a negative: its farthest
      positive and its closest negative (PML ``BatchHardMiner()``; ``miner_margin`` unused; ties go
      to the lowest index).

    PML's call is ``loss_fn(Z, labels, miner(Z, labels))`` with both objects given the same
    ``distance``. Reducer: PML's default ``AvgNonZeroReducer``: the mean over the used triplets whose
    loss is > 0. When there is none (the miner found no triplet, or none violates the margin) the
    result is ``loss = 0`` and ``G = 0`` (PML's zero loss), not an error.

    The sweep never forms the triplets: per anchor, its negatives are sorted once and each positive
    finds its window of negatives by binary search on the predicates above; prefix sums give the
    hinge sums (O(n log n) per anchor, int64 counts).

    Parameters as in :func:`contrastive_loss`, plus ``margin``, ``miner`` and ``miner_margin``;
    ``return_counts`` returns ``{"triplets": ..., "mined": ...}``: the triplets with a positive loss
    (the reducer's divisor) and the triplets the miner returned (all triplets without a miner).

    Examples
    --------
    >>> import numpy as np
    >>> from fastmetric.losses import triplet_margin_loss
    >>> Z = np.array([[1.0, 0.0], [1.0, 0.2], [0.0, 1.0], [0.3, 1.0]])
    >>> loss, G, counts = triplet_margin_loss(Z, [0, 0, 1, 1], margin=1.0, return_counts=True)
    >>> round(loss, 6), counts  # 5 of the 8 triplets violate the margin
    (0.10997, {'triplets': 5, 'mined': 8})
    >>> triplet_margin_loss(Z, [0, 0, 1, 1], miner="semihard")[0]  # nothing mined: loss 0, G = 0
    0.0
    """
    Z, codes = _batch(Z, labels)
    distance, norm = _distance(distance, normalize_embeddings)
    if miner not in _MINERS:
        raise ValueError(f"miner must be None, 'all', 'hard', 'semihard' or 'batch_hard', got {miner!r}")
    mg = check_real(margin, "margin", finite=True)
    mm = check_real(miner_margin, "miner_margin", finite=True)
    out = _core.embedding_triplet_loss(
        Z, codes, distance, norm, mg, "none" if miner is None else miner, mm, resolve_n_threads(n_threads)
    )
    return _result(out, return_counts, ("triplets", "mined"))


def multi_similarity_loss(
    Z,
    labels,
    *,
    alpha=2.0,
    beta=50.0,
    base=0.5,
    distance="cosine",
    normalize_embeddings=True,
    return_counts=False,
    n_threads=None,
):
    """Multi-similarity loss (PML ``MultiSimilarityLoss(alpha=2, beta=50, base=0.5)``) and its gradient.

    Per anchor a, with P_a its positives and N_a its negatives (cosine, PML's default distance):
    ``l_a = 1/alpha log(1 + sum_{p in P_a} exp(-alpha (S_ap - base)))
    + 1/beta log(1 + sum_{n in N_a} exp(beta (S_an - base)))`` (an empty sum gives 0); euclidean:
    ``exp(alpha (D_ap - base))`` and ``exp(-beta (D_an - base))``. Reducer: PML's default
    ``MeanReducer``: ``loss = sum_a l_a / n`` over all n rows. No pair is mined away.

    PML equivalent: ``MultiSimilarityLoss(alpha, beta, base)(Z, labels)`` (cosine), or with
    ``distance=LpDistance(normalize_embeddings=...)``. Parameters as in :func:`contrastive_loss`,
    plus ``alpha > 0``, ``beta > 0`` and ``base``; ``return_counts`` returns
    ``{"pos_pairs": ..., "neg_pairs": ...}``.

    Examples
    --------
    >>> import numpy as np
    >>> from fastmetric.losses import multi_similarity_loss
    >>> Z = np.array([[1.0, 0.0], [1.0, 0.2], [0.0, 1.0], [0.3, 1.0]])
    >>> loss, G = multi_similarity_loss(Z, [0, 0, 1, 1])
    >>> round(loss, 6), G.shape
    (0.167107, (4, 2))
    """
    Z, codes = _batch(Z, labels)
    distance, norm = _distance(distance, normalize_embeddings)
    a = check_real(alpha, "alpha", low=0, low_open=True, finite=True)
    b = check_real(beta, "beta", low=0, low_open=True, finite=True)
    c = check_real(base, "base", finite=True)
    out = _core.embedding_multi_similarity_loss(Z, codes, distance, norm, a, b, c, resolve_n_threads(n_threads))
    return _result(out, return_counts, ("pos_pairs", "neg_pairs"))
