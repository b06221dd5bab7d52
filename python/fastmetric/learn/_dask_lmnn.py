"""The distributed pieces of LMNN on a Dask X (issue 14); ``LMNN.fit`` puts them together.

LMNN's objective is a sum over triplets (i, j, l) of squared distances in Z = X L^T, and its gradient
is 2 U^T X, where row u_r of U (n x k) sums w_pq (z_r - z_q) over the target pairs and impostor pairs
(p, q) that row r belongs to (``cpp/include/fastmetric/learn/lmnn.hpp``). What each piece does and
where its data lives:

* target neighbours: ``fastmetric.dask.kneighbors`` within each class on X itself (the expensive
  n x d search, distributed; the same neighbours as in memory);
* Z = X L^T: one task per row block, gathered to the client (n x k, k = n_components: the triplet
  sums and the impostor search need every row's embedding at once, and n x k is small next to X);
* the loss, the margins, the active triplets and U: the in-memory engine (``LmnnProblem``, its
  ``loss_coefficients``) on the gathered Z, so they are the in-memory fit's bit for bit;
* the impostor search: the in-memory ``_ImpostorSearch`` on the gathered Z (radius / top-k searches
  of n x k points; the same candidates as in memory), except for its reuse bound, whose shift norms
  ||(x_p - c) E^T|| need X: :func:`shift_norms`, one task per row block;
* dL = 2 U^T X: U's row blocks travel to X's blocks, each task returns 2 U_I^T X_I (k x d), summed
  in a fixed binary tree (:func:`gradient`): identical from run to run.

So the client holds y, Z, U and the candidate lists (O(n (k + n_neighbors) + candidates)), never X
(n x d) or anything n x n; each evaluation moves n x k floats each way.
"""

from __future__ import annotations

import operator

import numpy as np

from .. import _core
from ._base import blas_single_thread
from ._dask_fit import delayed_tree

__all__ = ["check_finite", "column_mean", "gradient", "shift_norms"]


def _finite_block(block):
    return np.array([np.isfinite(block).all()])


def check_finite(X):
    """ValueError naming the first row block of a Dask X with NaN or infinity (one pass over X, before
    the class-wise target search, whose own check would name blocks of a class's rows)."""
    ok = X.map_blocks(_finite_block, dtype=bool, drop_axis=1, chunks=((1,) * len(X.chunks[0]),)).compute()
    if not ok.all():
        b = int(np.flatnonzero(~ok)[0])
        s = int(np.sum(X.chunks[0][:b]))
        raise ValueError(f"X block {b} (rows {s}:{s + X.chunks[0][b]}) contains NaN or infinity")


def _norms_block(block, center, E, dtype):
    from ..dask import task_threads

    A = np.ascontiguousarray(block, dtype=dtype)  # checked finite once, before the fit
    W = np.empty((A.shape[0], E.shape[0]), dtype)
    if A.shape[0]:
        _core.linear_map(A, center, E, W, task_threads())
    return np.sqrt(np.einsum("ij,ij->i", W, W, dtype=np.float64))


def shift_norms(X, center, E, dtype):
    """Lazy ||E (x_p - c)|| of every row (float64, n): the reuse bound of the impostor search."""
    E = np.ascontiguousarray(E, dtype=dtype)
    center = np.ascontiguousarray(center, dtype=dtype)
    return X.map_blocks(_norms_block, center, E, dtype, dtype=np.float64, drop_axis=1, chunks=(X.chunks[0],))


def column_mean(X, dtype):
    """The column mean of X in float64, cast to ``dtype`` (the search's centre c), computed on Dask."""
    return np.ascontiguousarray(X.astype(np.float64).mean(axis=0).compute(), dtype=dtype)


def _grad_block(U, block, dtype):
    with blas_single_thread():
        return 2.0 * (U.T @ np.asarray(block, dtype=dtype).astype(np.float64))


def gradient(X, U, dtype):
    """2 U^T X (k x d, float64) for a Dask X and U (n x k) on the client, summed over the row blocks
    in a fixed binary tree (adjacent pairs, level by level)."""
    import dask

    starts = np.concatenate([[0], np.cumsum(X.chunks[0])]).astype(int)
    blocks = X.to_delayed().ravel().tolist()
    parts = [
        dask.delayed(_grad_block, pure=True)(np.ascontiguousarray(U[starts[i] : starts[i + 1]]), b, dtype)
        for i, b in enumerate(blocks)
    ]
    return np.asarray(dask.compute(delayed_tree(parts, operator.add))[0], dtype=np.float64)
