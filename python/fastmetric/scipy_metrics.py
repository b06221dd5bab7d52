"""scipy's remaining float metrics and its ``w=`` weights (issue 16, part 1): the checks and keywords.

``braycurtis``, ``canberra`` and ``jensenshannon`` run on the engine's micro-kernels like the other
float metrics (float32 in, float32 out); this module only validates their keywords and scipy's
weights and says what the C++ core gets. scipy 1.17's definitions and edge cases:

* braycurtis: sum |x-y| / sum |x+y|; two all-zero rows give NaN (0/0, also a zero row and itself in
  ``cdist(X, X)``), x = -y gives inf. k-NN ranks those NaN last (reported as NaN); a radius search
  never returns them.
* canberra: sum |x-y| / (|x|+|y|) with 0/0 terms counted as 0.
* jensenshannon: sqrt(JSD(p, q) / log(base)) with p = x / sum x, q = y / sum y (each row normalised
  by its sum) and 0 log 0 = 0; a row with a negative entry or a zero sum is at distance inf from
  every row (scipy's cdist / pdist). ``base`` (an extension: scipy's cdist rejects it, its
  ``jensenshannon`` function takes it) must be a finite number > 1. Where rounding makes scipy's
  sum slightly negative (near-identical rows) scipy's cdist returns NaN; fastmetric returns 0 there.

``w`` (scipy's weights, for euclidean, sqeuclidean, cityblock, chebyshev, minkowski, cosine,
correlation, braycurtis and canberra): a 1-D real vector of length n_features, non-negative, as in
scipy; fastmetric also rejects NaN / inf weights, which scipy lets through into NaN / inf results.
"""

from __future__ import annotations

import numbers

import numpy as np

from ._validation import real_vector

__all__ = [
    "SCIPY_FLOAT_METRICS",
    "WEIGHTED_METRICS",
    "scipy_keywords",
    "scipy_core_kwargs",
    "zero_diagonal_needed",
    "restore_search_nan",
]

#: scipy's float metrics added by issue 16 part 1.
SCIPY_FLOAT_METRICS = ("braycurtis", "canberra", "jensenshannon")
#: The float metrics that take scipy's ``w=``.
WEIGHTED_METRICS = frozenset(
    {"euclidean", "sqeuclidean", "cityblock", "chebyshev", "minkowski", "cosine", "correlation"}
    | {"braycurtis", "canberra"}
)


def scipy_keywords(name: str) -> set:
    """The keywords this module adds to metric ``name``: ``w`` for the weighted ones, ``base`` for jensenshannon."""
    extra = {"w"} if name in WEIGHTED_METRICS else set()
    if name == "jensenshannon":
        extra.add("base")
    return extra


def _weights(w, name: str, d: int, dtype) -> np.ndarray:
    arr = real_vector(w, "w", d)
    if (arr < 0).any():
        raise ValueError(
            f"w must be non-negative (as in scipy); w < 0 at index {int(np.flatnonzero(arr < 0)[0])} (metric {name!r})"
        )
    if name == "correlation" and not arr.sum() > 0:
        raise ValueError("correlation with w needs a positive sum of weights (the weighted mean is undefined)")
    return np.ascontiguousarray(arr, dtype=dtype)


def _base(base) -> float:
    if base is None:
        return 0.0  # the core's natural log
    if isinstance(base, np.ndarray) and base.ndim == 0 and base.dtype.kind in "fiu":
        base = base[()]
    if isinstance(base, bool) or not isinstance(base, numbers.Real):
        raise TypeError(f"jensenshannon's base must be a real number, got {type(base).__name__} {base!r}")
    b = float(base)
    if not (b > 1 and np.isfinite(b)):
        raise ValueError(f"jensenshannon's base must be a finite number > 1 (log(base) > 0); got base={base!r}")
    return b


def scipy_core_kwargs(name: str, kwargs: dict, d: int, dtype) -> dict:
    """The C++ core's ``w`` / ``base`` for metric ``name`` from the caller's keywords (validated)."""
    core = {}
    w = kwargs.get("w")
    if w is not None and "w" in scipy_keywords(name):
        core["w"] = _weights(w, name, d, dtype)
    if name == "jensenshannon":
        core["base"] = _base(kwargs.get("base"))
    return core


def restore_search_nan(name: str, A, B, core: dict, dist, ind) -> None:
    """braycurtis's k-NN ranks 0/0 pairs (two all-zero rows, under the weights) last as +inf; put
    scipy's NaN back into those entries of ``dist`` (in place). Other infinities (x = -y) stay."""
    if name != "braycurtis" or dist.size == 0:
        return
    rows, cols = np.nonzero(np.isinf(dist))
    if rows.size == 0:
        return
    w = core.get("w")
    def mass(M, r):
        V = np.abs(np.asarray(M[r], dtype=np.float64))
        return (V if w is None else V * w).sum(axis=1)
    zero = (mass(A, rows) == 0) & (mass(B, ind[rows, cols]) == 0)
    dist[rows[zero], cols[zero]] = np.nan


def zero_diagonal_needed(name: str) -> bool:
    """Whether ``pairwise_distances(X)`` must zero the diagonal itself (scikit-learn's squareform(pdist)
    gives 0 there; the engine keeps scipy's cdist(X, X) values: NaN for an all-zero row's braycurtis,
    inf for a jensenshannon row without a distribution)."""
    return name in ("braycurtis", "jensenshannon")
