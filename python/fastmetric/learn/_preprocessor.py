"""Inputs given as identifiers of points: metric-learn 0.7's ``preprocessor`` semantics, in one place.

Every learner takes ``preprocessor`` (None, an array of points, or a callable). With one, the
learner's inputs may be *identifiers* of points instead of the points themselves, so a large set of
pairs never materialises as an (n_pairs, 2, n_features) array:

* points (``fit(X, y)`` of the supervised learners, ``transform(X)``): a 1-D array of n identifiers
  stands for the (n, n_features) points; a 2-D array is taken as the points themselves, with or
  without a preprocessor (as in metric-learn);
* tuples (pairs, triplets, quadruplets: ``fit``, ``predict``, ``pair_distance`` ...): a 2-D array
  (n, size) of identifiers stands for the (n, size, n_features) tuples; a 3-D array is taken as the
  tuples themselves without a preprocessor, and refused with one (metric-learn 0.7 accepts it and
  silently skips the preprocessor: a change of meaning the caller does not see).

An array preprocessor ``A`` (n_points, n_features) maps integer identifiers i to rows ``A[i]``
(whole-valued floats are accepted as integers; booleans, strings and negative or too large indices
are refused). A callable maps a 1-D array of identifiers of any dtype (strings too) to an array of
points (len(identifiers), n_features); for tuples it is called once on the identifiers of all the
tuples, row by row.

Where metric-learn 0.7 differs (its behaviour is a bug or a crash there): negative indices wrap
around silently, a boolean identifier array is taken as a mask (then a shape crash), a callable that
returns the wrong number of rows gives a broadcasting error deep in the fit or an IndexError, and a
preprocessor's own exception is re-raised as ``PreprocessorError``. Here those are a ValueError /
TypeError naming the argument and shapes, and the preprocessor's own exception keeps its type with a
note saying which input it was mapping.

Use from a learner (``SCML`` and any new learner need nothing else): the base class resolves the
preprocessor at fit (``self.preprocessor_``) and converts its inputs through
:func:`points_from_identifiers` / :func:`tuples_from_identifiers` in ``_validate_supervised``,
``_validate_unsupervised``, ``_validate_targets``, ``transform`` and the pair / tuple validation of
:mod:`._pairs` / :mod:`._tuples`.
"""

from __future__ import annotations

import numpy as np

__all__ = ["check_preprocessor", "ArrayPreprocessor", "points_from_identifiers", "tuples_from_identifiers"]


def _is_sparse(a):
    return hasattr(a, "toarray") and (hasattr(a, "tocsr") or hasattr(a, "nnz"))


class ArrayPreprocessor:
    """Integer row indices -> rows of a 2-D array of points (checked: no negative, no too large)."""

    def __init__(self, points):
        self.points = points

    def __call__(self, identifiers, *, learner="the learner", what="X"):
        ids = np.asarray(identifiers)
        n = self.points.shape[0]
        if ids.dtype.kind == "b":
            raise TypeError(
                f"{learner}: {what} holds booleans (dtype bool, shape {ids.shape}); with an array preprocessor "
                "the identifiers are integer row indices into it, not a mask"
            )
        if ids.dtype.kind == "f" and (ids.size == 0 or (np.isfinite(ids).all() and np.array_equal(ids, np.round(ids)))):
            ids = ids.astype(np.int64)
        if ids.dtype.kind not in "iu":
            raise TypeError(
                f"{learner}: {what} must hold integer row indices into the preprocessor array ({n} points); got "
                f"dtype {ids.dtype} (shape {ids.shape}). Other identifiers (strings ...) need a callable "
                "preprocessor mapping them to points"
            )
        ids = ids.astype(np.int64, copy=False)
        bad = (ids < 0) | (ids >= n)
        if bad.any():
            first = int(ids.ravel()[np.argmax(bad.ravel())])
            raise ValueError(
                f"{learner}: {what} refers to a missing point: index {first} is outside the preprocessor's {n} "
                f"points (valid indices 0..{n - 1}); {int(bad.sum())} bad index(es) in all"
            )
        return self.points[ids]

    def __repr__(self):
        return f"ArrayPreprocessor(<{self.points.shape[0]} x {self.points.shape[1]} {self.points.dtype}>)"


def check_preprocessor(preprocessor, learner="the learner"):
    """The usable form of a learner's ``preprocessor`` parameter: None, an :class:`ArrayPreprocessor`
    or the callable itself. TypeError for anything else (metric-learn: ValueError); ValueError for an
    array that is not 2-D points."""
    if preprocessor is None:
        return None
    if isinstance(preprocessor, ArrayPreprocessor):
        return preprocessor
    if _is_sparse(preprocessor):
        raise TypeError(f"{learner}: preprocessor is a sparse matrix; pass a dense array of points or a callable")
    if callable(preprocessor) and not hasattr(preprocessor, "__array__"):
        return preprocessor
    if isinstance(preprocessor, (str, bytes)) or not (
        hasattr(preprocessor, "__array__") or hasattr(preprocessor, "shape") or isinstance(preprocessor, (list, tuple))
    ):
        raise TypeError(
            f"{learner}: preprocessor must be None, an array of points (n_points, n_features) or a callable "
            f"mapping identifiers to points; got {type(preprocessor).__name__}"
        )
    A = np.asarray(preprocessor)
    if A.ndim != 2:
        raise ValueError(
            f"{learner}: an array preprocessor must be 2-D points (n_points, n_features); got {A.ndim}-D shape "
            f"{A.shape}" + (" (use preprocessor=A.reshape(-1, 1) for one feature)" if A.ndim == 1 else "")
        )
    if A.dtype == object:
        raise TypeError(f"{learner}: the preprocessor array must be numeric; got an object array of shape {A.shape}")
    return ArrayPreprocessor(A)


def _map(prep, ids, learner, what):
    """Points (len(ids), n_features) of the 1-D identifiers ``ids`` through a resolved preprocessor."""
    if isinstance(prep, ArrayPreprocessor):
        return prep(ids, learner=learner, what=what)
    if ids.size == 0:  # nothing to call the preprocessor on; the number of features is unknown
        raise ValueError(f"{learner}: {what} holds no identifiers (shape {ids.shape})")
    try:
        pts = prep(ids)
    except Exception as exc:
        if hasattr(exc, "add_note"):  # Python >= 3.11
            exc.add_note(f"(raised by the preprocessor of {learner} mapping the {ids.size} identifiers of {what})")
        raise
    if _is_sparse(pts):
        raise TypeError(f"{learner}: the preprocessor returned a sparse matrix for {what}; return a dense array")
    pts = np.asarray(pts)
    if pts.ndim != 2 or pts.shape[0] != ids.shape[0]:
        raise ValueError(
            f"{learner}: the preprocessor returned shape {pts.shape} for the {ids.shape[0]} identifiers of {what}; "
            f"expected points of shape ({ids.shape[0]}, n_features)"
        )
    return pts


def points_from_identifiers(X, preprocessor, learner="the learner", what="X"):
    """Points of a learner's point input X: 1-D identifiers through ``preprocessor`` (a value of
    :func:`check_preprocessor`), anything else unchanged (2-D points go to the usual validation)."""
    if _is_sparse(X):
        return X
    ndim = getattr(X, "ndim", None)
    if ndim is None:
        X = np.asarray(X)
        ndim = X.ndim
    if ndim != 1:
        if ndim >= 3:
            raise ValueError(
                f"{learner}: {what} must be 2-D points (n_samples, n_features)"
                + (", or 1-D identifiers of points with the preprocessor" if preprocessor is not None else "")
                + f"; got a {ndim}-D array of shape {np.shape(X)}"
            )
        return X
    ids = np.asarray(X)
    if preprocessor is None:
        raise ValueError(
            f"{learner}: {what} is 1-D (shape {ids.shape}). Reshape your data to 2-D points (n_samples, "
            "n_features) -- X.reshape(-1, 1) for a single feature --, or give the learner preprocessor= (an array "
            "of points or a callable) to pass identifiers of points"
        )
    return _map(preprocessor, ids, learner, what)


def tuples_from_identifiers(T, preprocessor, size, learner="the learner", what="pairs", n_features=None):
    """Tuples (n, size, n_features) of a learner's tuple input: 2-D (n, size) identifiers through
    ``preprocessor``; 3-D tuples unchanged without one, refused with one. ValueError / TypeError
    naming ``what`` and the shapes for anything else (``n_features``, when known, goes into the messages)."""
    if _is_sparse(T):
        raise TypeError(f"sparse input is not supported for {what}; pass a dense array")
    T = np.asarray(T)
    d_txt = "n_features" if n_features is None else f"n_features={n_features}"
    shape_txt = (
        f"{what} must have shape (n_{what}, {size}, {d_txt}) (or (n_{what}, {size}) identifiers of points with "
        "a preprocessor)"
    )
    if T.ndim == 2:
        if preprocessor is None:
            raise ValueError(
                f"{shape_txt}; got shape {T.shape}: identifiers need preprocessor=X (an array of points) or a "
                "callable at construction"
            )
        if T.shape[1] != size:
            raise ValueError(f"{learner}: {what} of identifiers must have {size} per row; got shape {T.shape}")
        if T.shape[0] == 0:
            raise ValueError(f"no {what} given (0 {what}, shape {T.shape})")
        pts = _map(preprocessor, T.ravel(), learner, what)
        return pts.reshape(T.shape[0], size, pts.shape[1])
    if T.ndim != 3 or T.shape[1] != size:
        raise ValueError(f"{shape_txt}; got shape {T.shape}")
    if preprocessor is not None:
        raise ValueError(
            f"{learner}: {what} are formed points (shape {T.shape}), but the learner has a preprocessor, which "
            f"would not be applied to them; give (n_{what}, {size}) identifiers, or preprocessor=None for formed "
            f"{what}"
        )
    if T.dtype == object:
        raise TypeError(f"{what} must be a numeric array (got an object array: ragged or mixed input?)")
    return T
