"""Weak supervision drawn from class labels: similar / dissimilar pairs and chunklets.

Vectorised replacements for metric-learn 0.7's ``Constraints`` (which loops over constraints in
Python). Labels ``< 0`` mean "unknown" (semi-supervised use, as in metric-learn): such points are
never drawn.

``positive_negative_pairs(y, n_constraints, random_state)``
    ``n_constraints`` similar pairs (same label, two distinct points) and ``n_constraints``
    dissimilar pairs (different labels), each pair distinct as an unordered pair. The first point of
    a pair is drawn uniformly among the points that have a partner, the second uniformly among its
    partners. When fewer distinct pairs exist than requested, all that can be found in a few rounds
    are returned with a warning.
``chunks(y, n_chunks, chunk_size, random_state)``
    Chunklets of ``chunk_size`` same-label points, every point in at most one chunklet. ``n_chunks``
    None takes as many as the labels allow; more than that is clipped with a warning.
"""

from __future__ import annotations

import warnings

import numpy as np

from .._validation import check_int
from ._weights import class_weight_vector

__all__ = [
    "positive_negative_pairs",
    "chunks",
    "max_chunks",
    "default_n_constraints",
    "class_draw_weights",
    "supervised_pair_constraints",
    "supervised_quadruplet_constraints",
    "pairs_for",
    "quadruplets_for",
]


def default_n_constraints(n_classes: int, n_samples: int = 0) -> int:
    """Default number of constraints of each kind: metric-learn's 20 * n_classes ** 2, raised to
    min(n_samples, 1000) -- one pair of each kind per training point, up to 1000 -- when that is
    larger.

    Pass ``n_samples=0`` for metric-learn's count alone. The floor matters for few classes and many
    points: metric-learn's 80 pairs for a binary problem leave ITML's metric on breast_cancer (398
    training points) to the luck of the draw (3-NN accuracy 0.924-0.953 over ten seeds, 3 of 10 below
    euclidean), where 398 pairs give 0.942-0.953 (none below). The cap bounds the cost of an ITML
    sweep (O(n_constraints d^2)) on large sets.
    """
    return max(20 * int(n_classes) ** 2, min(int(n_samples), 1000))


def _known(y):
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"labels must be 1-D, got shape {y.shape}")
    if y.dtype.kind in "iu":
        known = np.flatnonzero(y >= 0)
    else:
        known = np.arange(y.shape[0])
    _, codes = np.unique(y[known], return_inverse=True)
    return known, codes.ravel()


def _draw_pairs(codes, n_wanted, same, rng, max_rounds=10, weights=None):
    """Distinct unordered pairs (positions into codes) of same / different labels.

    ``weights`` (None, or one number >= 0 per position, equal within a label): a label's share of
    the pairs (by their first point) is proportional to its weight x its count, and a dissimilar
    partner is drawn by weight among the other labels' points; see :func:`_draw_pairs_weighted`.
    None draws uniformly (the random stream of the unweighted draws, unchanged).
    """
    if weights is not None:
        return _draw_pairs_weighted(codes, n_wanted, same, rng, max_rounds, weights)
    n = codes.shape[0]
    order = np.argsort(codes, kind="stable")  # positions grouped by label
    counts = np.bincount(codes)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    rank = np.empty(n, dtype=np.int64)  # rank of each position inside its label group
    rank[order] = np.arange(n) - starts[codes[order]]
    partners = counts[codes] - 1 if same else n - counts[codes]
    anchors = np.flatnonzero(partners > 0)
    if anchors.size == 0 or n_wanted == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    seen = np.zeros(0, dtype=np.int64)
    found_a = []
    found_b = []
    total = 0
    for _ in range(max_rounds):
        need = n_wanted - total
        if need <= 0:
            break
        m = need + need // 4 + 8  # a few extra draws absorb duplicates
        a = anchors[rng.integers(0, anchors.size, size=m)]
        c = codes[a]
        r = (rng.random(m) * partners[a]).astype(np.int64)
        r = np.minimum(r, partners[a] - 1)
        if same:
            r += r >= rank[a]  # skip the anchor itself inside its group
            b = order[starts[c] + r]
        else:
            b = order[np.where(r < starts[c], r, r + counts[c])]  # skip the anchor's whole group
        lo = np.minimum(a, b)
        hi = np.maximum(a, b)
        key = lo.astype(np.int64) * n + hi
        _, first = np.unique(key, return_index=True)
        first.sort()  # keep draw order (reproducible, no bias)
        key, a, b = key[first], a[first], b[first]
        fresh = ~np.isin(key, seen)
        key, a, b = key[fresh], a[fresh], b[fresh]
        take = min(need, key.size)
        found_a.append(a[:take])
        found_b.append(b[:take])
        seen = np.concatenate((seen, key[:take]))
        total += take
    a = np.concatenate(found_a) if found_a else np.zeros(0, np.int64)
    b = np.concatenate(found_b) if found_b else np.zeros(0, np.int64)
    return a.astype(np.int64), b.astype(np.int64)


def _quotas(n_wanted, mass, cap):
    """Integers q_c <= cap_c summing to n_wanted (or to sum(cap) when smaller), proportional to
    ``mass`` by largest remainders; what a full class cannot take goes to the others."""
    q = np.zeros(mass.size, dtype=np.int64)
    active = (mass > 0) & (cap > 0)
    left = int(n_wanted)
    while left > 0 and active.any():
        idx = np.flatnonzero(active)
        share = left * mass[idx] / mass[idx].sum()
        add = np.floor(share).astype(np.int64)
        extra = left - int(add.sum())
        if extra > 0:  # largest remainders first, ties by class order
            add[np.argsort(-(share - add), kind="stable")[:extra]] += 1
        add = np.minimum(add, cap[idx] - q[idx])
        if add.sum() == 0:
            break
        q[idx] += add
        left -= int(add.sum())
        active &= q < cap
    return q


def _draw_pairs_weighted(codes, n_wanted, same, rng, max_rounds, weights):
    """:func:`_draw_pairs` with drawing weights (see there).

    Each label c first gets its quota of the pairs, proportional to its weight x its count (similar
    pairs: at most the n_c (n_c - 1) / 2 distinct pairs it has; the rest goes to the other labels).
    Rounds then draw first points uniformly inside the labels still short of their quota, in
    proportion to the shortfall, and partners as in the unweighted draw (dissimilar: by weight among
    the other labels' points), de-duplicating as they go; so the shares hold exactly even where small
    labels run into duplicates.
    """
    n = codes.shape[0]
    w = np.asarray(weights, dtype=np.float64)
    order = np.argsort(codes, kind="stable")
    counts = np.bincount(codes)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n) - starts[codes[order]]
    cum = np.concatenate(([0.0], np.cumsum(w[order])))  # mass of the first j points in label order
    total = cum[-1]
    group_lo = cum[starts]
    group_mass = cum[starts + counts] - group_lo
    if same:
        cap = counts * (counts - 1) // 2
        mass = np.where(counts > 1, group_mass, 0.0)
    else:
        cap = np.full(counts.size, np.iinfo(np.int64).max // 4)
        mass = np.where(total - group_mass > 1e-12 * total, group_mass, 0.0)
    quota = _quotas(n_wanted, mass, cap)
    if quota.sum() == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    got = np.zeros(counts.size, dtype=np.int64)
    seen = np.zeros(0, dtype=np.int64)
    found_a, found_b = [], []
    for _ in range(max_rounds):
        short = quota - got
        need = int(short.sum())
        if need <= 0:
            break
        m = need + need // 4 + 8
        short_cum = np.cumsum(short)
        c = np.minimum(np.searchsorted(short_cum, rng.random(m) * need, side="right"), counts.size - 1)
        a = order[starts[c] + np.minimum((rng.random(m) * counts[c]).astype(np.int64), counts[c] - 1)]
        if same:  # uniform among the other members of the label
            r = np.minimum((rng.random(m) * (counts[c] - 1)).astype(np.int64), counts[c] - 2)
            r += r >= rank[a]
            b = order[starts[c] + r]
        else:  # by weight among the other labels' points: skip the anchor label's mass
            v = rng.random(m) * (total - group_mass[c])
            v = np.where(v >= group_lo[c], v + group_mass[c], v)
            pos = np.clip(np.searchsorted(cum, v, side="right") - 1, 0, n - 1)
            b = order[pos]
            keep = codes[b] != c  # rounding at a label boundary: drop, the next round redraws
            a, b, c = a[keep], b[keep], c[keep]
        key = np.minimum(a, b).astype(np.int64) * n + np.maximum(a, b)
        _, first = np.unique(key, return_index=True)
        first.sort()  # keep draw order (reproducible, no bias)
        fresh = first[~np.isin(key[first], seen)]
        key, a, b, c = key[fresh], a[fresh], b[fresh], c[fresh]
        # at most the shortfall of each label, in draw order
        by_label = np.argsort(c, kind="stable")
        first_of = np.searchsorted(c[by_label], c[by_label], side="left")
        within = np.empty(c.size, dtype=np.int64)
        within[by_label] = np.arange(c.size) - first_of
        take = within < short[c]
        found_a.append(a[take])
        found_b.append(b[take])
        seen = np.concatenate((seen, key[take]))
        got += np.bincount(c[take], minlength=counts.size)
    a = np.concatenate(found_a) if found_a else np.zeros(0, np.int64)
    b = np.concatenate(found_b) if found_b else np.zeros(0, np.int64)
    return a.astype(np.int64), b.astype(np.int64)


def class_draw_weights(class_weight, codes, classes):
    """Per-point drawing weights from ``class_weight`` (None, "balanced" or {label: weight}, validated
    by :func:`~fastmetric.learn._weights.class_weight_vector`); None for None. ``codes`` are class
    indices into ``classes``, -1 for unlabelled points (weight 0, never drawn); "balanced" counts the
    labelled points only."""
    if class_weight is None:
        return None
    codes = np.asarray(codes)
    labelled = codes >= 0
    w = np.zeros(codes.shape[0])
    w[labelled] = class_weight_vector(class_weight, codes[labelled], classes)
    return w


def positive_negative_pairs(y, n_constraints, random_state=None, weights=None):
    """Index pairs ``(a, b, c, d)``: (a[i], b[i]) share a label, (c[i], d[i]) do not.

    Each array has at most ``n_constraints`` entries (fewer, with a warning, when the labels do not
    allow that many distinct pairs). Indices refer to positions in ``y``. ``weights`` (one number
    >= 0 per entry of ``y``, equal within a label, or None for uniform draws): a label's share of
    the drawn pairs is proportional to its weight x its count (see :func:`class_draw_weights`).
    """
    from sklearn.utils import check_random_state

    n_constraints = check_int(n_constraints, "n_constraints")
    rs = check_random_state(random_state)
    # one Generator seeded from the RandomState: reproducible for an int / RandomState random_state
    rng = np.random.default_rng(rs.randint(0, 2**31 - 1, size=4))
    known, codes = _known(y)
    w = None if weights is None else np.asarray(weights, dtype=np.float64)[known]
    out = []
    for same, kind in ((True, "similar"), (False, "dissimilar")):
        a, b = _draw_pairs(codes, n_constraints, same, rng, weights=w)
        if a.size < n_constraints:
            warnings.warn(
                f"only {a.size} distinct {kind} pairs could be drawn from the labels "
                f"(n_constraints={n_constraints} requested)",
                UserWarning,
                stacklevel=3,
            )
        out += [known[a], known[b]]
    return tuple(out)


def supervised_pair_constraints(
    codes, n_classes, n_constraints, random_state, learner, per_sample=False, class_weight=None, classes=None
):
    """Pairs drawn from class labels for a ``*_Supervised`` learner.

    Returns ``(idx, labels, rs)``: ``idx`` (n_pairs, 2) indices into the training points, ``labels``
    +1 (same class) / -1 (different classes) as int8, and the RandomState used, so the learner can
    keep drawing from it. ``n_constraints=None`` uses :func:`default_n_constraints` (with the number of
    labelled points as its floor when ``per_sample``). ``class_weight`` (None, "balanced" or a dict
    over ``classes``) weights the draws: a class's share is proportional to weight x count.
    """
    from sklearn.utils import check_random_state

    weights = class_draw_weights(class_weight, codes, classes)
    if n_constraints is None:
        n_labelled = int(np.count_nonzero(np.asarray(codes) >= 0)) if per_sample else 0
        n_constraints = default_n_constraints(n_classes, n_labelled)
    rs = check_random_state(random_state)
    a, b, c, d = positive_negative_pairs(codes, n_constraints, rs, weights=weights)
    if a.size == 0:
        raise ValueError(f"no two training points share a class: {learner} cannot draw similar pairs")
    idx = np.concatenate((np.stack([a, b], axis=1), np.stack([c, d], axis=1)))
    labels = np.concatenate((np.ones(a.size, np.int8), -np.ones(c.size, np.int8)))
    return idx, labels, rs


def supervised_quadruplet_constraints(
    codes, n_classes, n_constraints, random_state, learner, class_weight=None, classes=None
):
    """Quadruplets (a, b, c, d) drawn from class labels: (a, b) of one class, (c, d) of two classes.

    Returns ``(idx, rs)``: ``idx`` (m, 4) indices into the training points -- as many similar as
    dissimilar pairs, metric-learn's ``same_length`` -- and the RandomState used.
    ``n_constraints=None`` draws metric-learn's 20 * n_classes^2; ``class_weight`` as in
    :func:`supervised_pair_constraints`.
    """
    from sklearn.utils import check_random_state

    weights = class_draw_weights(class_weight, codes, classes)
    if n_constraints is None:
        n_constraints = default_n_constraints(n_classes)
    else:
        n_constraints = check_int(n_constraints, "n_constraints", minimum=1)
    rs = check_random_state(random_state)
    a, b, c, d = positive_negative_pairs(codes, n_constraints, rs, weights=weights)
    m = min(a.size, c.size)
    if m == 0:
        raise ValueError(
            f"{learner} cannot draw a quadruplet: it needs two points of one class and two of different classes"
        )
    return np.stack((a[:m], b[:m], c[:m], d[:m]), axis=1), rs


def pairs_for(learner, codes, *, per_sample=False):
    """:func:`supervised_pair_constraints` with a fitted-on-labels ``*_Supervised`` learner's own
    ``n_constraints``, ``random_state``, ``class_weight`` (None when it has none) and ``classes_``."""
    return supervised_pair_constraints(
        codes,
        len(learner.classes_),
        learner.n_constraints,
        learner.random_state,
        type(learner).__name__,
        per_sample=per_sample,
        class_weight=getattr(learner, "class_weight", None),
        classes=learner.classes_,
    )


def quadruplets_for(learner, codes):
    """:func:`supervised_quadruplet_constraints` with the learner's own parameters (see :func:`pairs_for`)."""
    return supervised_quadruplet_constraints(
        codes,
        len(learner.classes_),
        learner.n_constraints,
        learner.random_state,
        type(learner).__name__,
        class_weight=getattr(learner, "class_weight", None),
        classes=learner.classes_,
    )


def max_chunks(y, chunk_size):
    """How many disjoint chunklets of ``chunk_size`` same-label points the labels allow."""
    _, codes = _known(y)
    if codes.size == 0:
        return 0
    return int((np.bincount(codes) // int(chunk_size)).sum())


def chunks(y, n_chunks=None, chunk_size=2, random_state=None):
    """Chunklet index of each point (-1: in no chunklet), metric-learn's ``Constraints.chunks`` layout.

    Chunklets are drawn uniformly among all the disjoint same-label groups of ``chunk_size`` points
    a random partition of each class offers, so larger classes give proportionally more chunklets.
    ``n_chunks=None`` uses every such group; a larger ``n_chunks`` than available is clipped with a
    warning (metric-learn raises).
    """
    from sklearn.utils import check_random_state

    chunk_size = check_int(chunk_size, "chunk_size", minimum=2)
    rs = check_random_state(random_state)
    rng = np.random.default_rng(rs.randint(0, 2**31 - 1, size=4))
    y_arr = np.asarray(y)
    known, codes = _known(y_arr)
    available = max_chunks(y_arr, chunk_size)
    if n_chunks is None:
        n_chunks = available
    else:
        n_chunks = check_int(n_chunks, "n_chunks")
        if n_chunks > available:
            warnings.warn(
                f"n_chunks={n_chunks} chunklets of {chunk_size} same-label points are more than the labels "
                f"allow ({available}); using {available}",
                UserWarning,
                stacklevel=3,
            )
            n_chunks = available
    result = -np.ones(y_arr.shape[0], dtype=np.int64)
    if n_chunks == 0:
        return result
    # random order inside each class, then consecutive groups of chunk_size
    perm = rng.permutation(codes.size)
    perm = perm[np.argsort(codes[perm], kind="stable")]
    counts = np.bincount(codes)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    per_class = counts // chunk_size
    slot_class = np.repeat(np.arange(counts.size), per_class)
    slot_rank = np.arange(slot_class.size) - np.repeat(np.cumsum(per_class) - per_class, per_class)
    chosen = np.sort(rng.choice(slot_class.size, size=n_chunks, replace=False))
    for j in range(chunk_size):
        pos = starts[slot_class[chosen]] + slot_rank[chosen] * chunk_size + j
        result[known[perm[pos]]] = np.arange(n_chunks)
    return result
