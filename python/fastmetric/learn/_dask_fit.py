"""NCA and MLKR on Dask arrays (issue 14): the exact gradient distributed over block pairs.

The objective of both learners is a row-wise leave-one-out softmax over Z = X L^T
(``cpp/include/fastmetric/learn/pair_sweep.hpp`` has the formulas). With X in row blocks
X_1 .. X_B, one evaluation is two passes over the block pairs (I, J), I <= J, each pair computed
once by the pair sweep's block-pair entry points (``cpp/include/fastmetric/learn/pair_block.hpp``:
the sweep's float32-screened tiles and SIMD row ops on the rectangle of the two blocks):

1. task (I, J) returns the streaming log-sum-exp states -- row minimum m, s = sum_j exp(m - d_ij)
   and the weighted sum w (NCA: same-class terms, MLKR: sum exp(m - d_ij) y_j) -- of block I's rows
   over block J's columns and of J's rows over I's (I = J: the block's rows over its other rows);
   one task per row block merges its B states, J = 1 .. B, in a fixed binary tree (the merge of
   ``learn/streaming_lse.hpp``), giving each row its prediction q_i and its factors
   (alpha_i, beta_i), row weights included;
2. task (I, J) computes block I's and block J's shares of b_i = sum_j S_ij (z_i - z_j), with
   S_ij = p_ij (alpha_i w(i, j) - beta_i) + p_ji (alpha_j w(j, i) - beta_j), screened with the
   merged row minima of pass 1, and returns its term of dloss/dL = scale * sum_I b_I^T X_I,
   scale * (b_I^T X_I + b_J^T X_J) (k x d: little to move); the terms are summed over the pairs in
   a fixed tree.

Screening: a pass-1 block pair only sees part of a row, so it cuts at its own running minima (at
least the row's true minimum: a correct, looser cut); pass 2 cuts at the merged minima, as the
in-memory sweep's pass 2. So the gradient is the in-memory one to the sweep's tolerance (weights
below 1e-16 -- float32 data 1e-10 -- of their row are dropped) and identical from run to run: no
merge order depends on the scheduler, and each task's sweep has results independent of its thread
count (``fastmetric.dask.task_threads``; the GIL released). Memory per task: the two blocks of Z
(pass 2 also of X), the sweep's per-thread tile scratch and O(block rows x k) accumulators, which
each worker thread keeps for its next block pair. Z is in the data's dtype
(float32 Z for float32 data, as in memory); the states, factors and b are float64.
(benchmarks/README.md, "Dask (issue 14)", has the per-evaluation times.)
"""

from __future__ import annotations

import numpy as np

from .. import _core
from ._base import blas_single_thread, minimize_lbfgs, with_ridge

__all__ = ["is_dask_array", "pair_loss_grad", "fit_dask", "transform_dask", "embed_rows", "delayed_tree"]

_SCALE = {"nca": 2.0, "mlkr": -4.0}


def is_dask_array(X) -> bool:
    """True for a ``dask.array.Array`` (checked without importing dask)."""
    return type(X).__module__.split(".")[0] == "dask" and hasattr(X, "chunks") and hasattr(X, "dask")


# ------------------------------------------------------------------------------ block tasks
def _embed(block, L, dtype):
    A = np.ascontiguousarray(block, dtype=dtype)
    if not np.isfinite(A).all():
        raise ValueError(f"X block of shape {A.shape} contains NaN or infinity")
    Z = np.empty((A.shape[0], L.shape[0]), dtype)
    _core.linear_map(A, None, np.ascontiguousarray(L, dtype=dtype), Z, 1)
    return Z


def _lse_task(ZI, ZJ, yI, yJ, diag, objective):
    """Pass 1 of block pair (I, J): (3, rows) states of I's rows over J and of J's over I (None if diag)."""
    from ..dask import task_threads

    if diag:
        return _core.pair_block_lse(objective, ZI, yI, None, None, True, task_threads())
    return _core.pair_block_lse(objective, ZI, yI, ZJ, yJ, False, task_threads())


def _grad_task(ZI, ZJ, XI, XJ, rI, rJ, yI, yJ, diag, objective, dtype):
    """Pass 2 of block pair (I, J): its term scale * (b_I^T X_I + b_J^T X_J) of dloss/dL, b_I and b_J
    the two blocks' shares of b over the pair (diag: b_I^T X_I)."""
    from ..dask import task_threads

    if diag:
        bI, _ = _core.pair_block_grad(objective, ZI, yI, rI[0], None, None, None, True, task_threads())
    else:
        bI, bJ = _core.pair_block_grad(objective, ZI, yI, rI[0], ZJ, yJ, rJ[0], False, task_threads())
    with blas_single_thread():
        g = bI.T @ np.asarray(XI, dtype=dtype).astype(np.float64)
        if not diag:
            g += bJ.T @ np.asarray(XJ, dtype=dtype).astype(np.float64)
    return _SCALE[objective] * g


def _sides(I, results):
    """Block I's parts of the results of its block pairs (min(I, J), max(I, J)), J = 0 .. B-1."""
    return [r[1] if J < I else r[0] for J, r in enumerate(results)]


def _fold(items, combine):
    """Combine items in a fixed binary tree (adjacent pairs, level by level)."""
    items = list(items)
    while len(items) > 1:
        nxt = [combine(items[t], items[t + 1]) for t in range(0, len(items) - 1, 2)]
        if len(items) % 2:
            nxt.append(items[-1])
        items = nxt
    return items[0]


def _lse_merge(a, b):
    """Merge two streaming log-sum-exp states of the same rows over disjoint columns."""
    m = np.minimum(a[0], b[0])
    fa = np.where(np.isfinite(a[0]), np.exp(np.where(np.isfinite(a[0]), m - a[0], 0.0)), 0.0)
    fb = np.where(np.isfinite(b[0]), np.exp(np.where(np.isfinite(b[0]), m - b[0], 0.0)), 0.0)
    return m, a[1] * fa + b[1] * fb, a[2] * fa + b[2] * fb


def _rows(I, y, objective, weight, *results):
    """Row block I's (4, rows) factors (merged minimum m, log s - m, alpha, beta) and loss terms from
    the pass-1 results of its block pairs (``_pairs_of``), merged over J = 0 .. B-1 in a fixed tree;
    ``weight`` (None or the rows' sample weights) scales a row's loss term and with it its factors
    (loss = sum_i w_i loss_i)."""
    m, s, w = _fold(_sides(I, results), _lse_merge)
    q = w / s
    if objective == "nca":
        alpha, beta, loss = np.ones_like(q), q, -q
    else:
        e = q - y
        alpha, beta, loss = e, e * q, e * e
    if weight is not None:
        alpha, beta, loss = alpha * weight, beta * weight, loss * weight
    return np.stack([m, np.log(s) - m, alpha, beta]), loss


def _add(a, b):
    return a + b


def _sum_terms(*terms):
    return _fold(terms, _add)


def _loss_block(r):
    return float(np.sum(r[1]))


def _pair_keys(B):
    """The block pairs (I, J), I <= J."""
    return [(I, J) for I in range(B) for J in range(I, B)]


def _pairs_of(tasks, I, B):
    """The tasks of block pairs (min(I, J), max(I, J)), J = 0 .. B-1."""
    return [tasks[(min(I, J), max(I, J))] for J in range(B)]


def delayed_tree(items, combine):
    """A fixed binary tree of delayed combines over items (adjacent pairs, level by level)."""
    import dask

    items = list(items)
    while len(items) > 1:
        nxt = [dask.delayed(combine, pure=True)(items[t], items[t + 1]) for t in range(0, len(items) - 1, 2)]
        if len(items) % 2:
            nxt.append(items[-1])
        items = nxt
    return items[0]


def _graph(X, y_blocks, L, objective, dtype, w_blocks=None):
    """Delayed (loss, grad) of one evaluation at L."""
    import dask

    blocks = X.to_delayed().ravel().tolist()
    Ld = dask.delayed(np.ascontiguousarray(L, dtype=np.float64))
    Z = [dask.delayed(_embed, pure=True)(b, Ld, dtype) for b in blocks]
    B = len(blocks)
    keys = _pair_keys(B)
    lse = {
        (I, J): dask.delayed(_lse_task, pure=True)(Z[I], Z[J], y_blocks[I], y_blocks[J], I == J, objective)
        for I, J in keys
    }
    rows = [
        dask.delayed(_rows, pure=True)(
            I, y_blocks[I], objective, None if w_blocks is None else w_blocks[I], *_pairs_of(lse, I, B)
        )
        for I in range(B)
    ]
    grads = {
        (I, J): dask.delayed(_grad_task, pure=True)(
            Z[I], Z[J], blocks[I], blocks[J], rows[I], rows[J], y_blocks[I], y_blocks[J], I == J, objective, dtype
        )
        for I, J in keys
    }
    # the pair terms summed per I over J = I .. B-1, then over I, each in a fixed tree
    per_row = [dask.delayed(_sum_terms, pure=True)(*[grads[(I, J)] for J in range(I, B)]) for I in range(B)]
    losses = [dask.delayed(_loss_block, pure=True)(rows[I]) for I in range(B)]
    return delayed_tree(losses, _add), delayed_tree(per_row, _add)


def _prepared(X, y, objective):
    from ..dask import check_array

    X = check_array(X, "X")
    dtype = np.float32 if X.dtype == np.float32 else np.float64
    if X.shape[0] < 2:
        raise ValueError(f"X needs at least 2 samples, got shape {X.shape}")
    if is_dask_array(y):
        y = y.compute()
    y = np.ravel(np.asarray(y))
    if y.shape[0] != X.shape[0]:
        raise ValueError(f"X and y have different numbers of samples: X has shape {X.shape}, y has shape {y.shape}")
    starts = np.concatenate([[0], np.cumsum(X.chunks[0])]).astype(int)
    return X, y, dtype, starts


def _split(v, starts):
    return None if v is None else [np.ascontiguousarray(v[starts[i]:starts[i + 1]]) for i in range(len(starts) - 1)]


def pair_loss_grad(X, y, L, objective, sample_weight=None):
    """(loss, dloss/dL) of NCA (``y`` class codes 0..c-1) or MLKR (``y`` real targets) at L for a Dask
    X, computed on the current Dask scheduler over X's row block pairs (see the module docstring);
    ``sample_weight`` (None or one weight per row): loss = sum_i w_i loss_i, as the in-memory sweep."""
    import dask

    X, y, dtype, starts = _prepared(X, y, objective)
    yb = _split(np.asarray(y, dtype=np.float64), starts)
    wb = _split(None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64), starts)
    loss, grad = dask.compute(*_graph(X, yb, L, objective, dtype, wb))
    return float(loss), np.asarray(grad)


def _pca_init(X, dtype, k):
    """init='pca' of ``_initial_components`` on a Dask X: eigenvectors of the scatter matrix."""
    import dask.array as da

    X64 = X.astype(np.float64)
    mean = X64.mean(axis=0)
    C = X64 - mean
    S = da.compute(C.T @ C)[0]
    with blas_single_thread():
        w, V = np.linalg.eigh(S)
    order = np.argsort(w)[::-1][:k]
    comp = V[:, order].T
    idx = np.argmax(np.abs(comp), axis=1)
    comp *= np.sign(comp[np.arange(k), idx])[:, None]
    return np.ascontiguousarray(comp)


def fit_dask(est, X, y, objective, sample_weight=None):
    """Fit NCA (objective 'nca') or MLKR ('mlkr') on a Dask X: L-BFGS as in memory, each evaluation a
    Dask computation of the exact loss and gradient over the block pairs. NCA's ``class_weight`` and
    MLKR's ``sample_weight`` weigh the rows' loss terms as in memory."""
    from .._validation import sample_weights
    from ._weights import class_weight_vector

    X, y, dtype, starts = _prepared(X, y, objective)
    n, d = X.shape
    if objective == "nca":
        classes, codes = np.unique(y, return_inverse=True)
        if classes.shape[0] < 2:
            raise ValueError(f"{type(est).__name__} needs labels of at least 2 classes; y has {classes.shape[0]}")
        if classes.shape[0] >= n:
            raise ValueError(f"{type(est).__name__}: fewer samples than classes is not learnable")
        est.classes_ = classes
        target = codes.astype(np.float64)
        weights = class_weight_vector(getattr(est, "class_weight", None), codes, classes)
    else:
        target = np.asarray(y, dtype=np.float64)
        if not np.isfinite(target).all():
            raise ValueError("MLKR: the targets y contain NaN or infinity")
        weights = sample_weights(sample_weight, n)
    est.n_features_in_ = d
    k = est._n_components_checked(d)
    L0 = initial_components_dask(est, X, target, k, has_classes=objective == "nca")
    yb, wb = _split(target, starts), _split(weights, starts)
    def fun(L):
        import dask

        loss, grad = dask.compute(*_graph(X, yb, L, objective, dtype, wb))
        return float(loss), np.asarray(grad, dtype=np.float64)

    fun = with_ridge(fun, getattr(est, "alpha", 0.0))
    L, n_iter, _ = minimize_lbfgs(fun, L0, max_iter=est.max_iter, tol=est.tol, progress=est._progress(), dtype=dtype)
    return est._set_components(L, dtype, n_iter=n_iter)


def _transform_block(block, L, dtype):
    A = np.ascontiguousarray(block, dtype=dtype)
    out = np.empty((A.shape[0], L.shape[0]), dtype)
    if A.shape[0]:
        from ..dask import task_threads

        _core.linear_map(A, None, L, out, task_threads())
    return out


def transform_dask(est, X):
    """Lazy ``X @ components_.T`` of a Dask X (one engine call per row block, map_blocks)."""
    from ..dask import check_array

    L = est._components()
    X = check_array(X, "X")
    if X.shape[1] != L.shape[1]:
        raise ValueError(f"X has {X.shape[1]} features (shape {X.shape}); components_ has shape {L.shape}")
    return embed_rows(X, L, np.dtype(np.float32 if X.dtype == np.float32 else np.float64))


def embed_rows(X, L, dtype):
    """Lazy Z = X L^T (n x k, ``dtype``) of a Dask X: one engine call per row block (map_blocks)."""
    L = np.ascontiguousarray(L, dtype=dtype)
    return X.map_blocks(_transform_block, L, dtype, dtype=dtype, chunks=(X.chunks[0], (L.shape[0],)))


# ------------------------------------------------------------------------------ other learners' Dask fits
def initial_components_dask(est, X, target, k, *, has_classes):
    """The starting L (k x d, float64) of ``est.init`` for a Dask X, the in-memory rule of
    ``_initial_components``: "pca" from the distributed scatter matrix, "identity", "random" or an
    array from X's shape only; "lda" (and "auto" where it picks LDA) is refused (it needs the data)."""
    n, d = X.shape
    dtype = np.float32 if X.dtype == np.float32 else np.float64
    init = est.init
    if isinstance(init, str) and init == "auto":
        n_classes = len(np.unique(target)) if has_classes else 0
        if has_classes and k <= min(d, n_classes - 1):
            init = "lda"
        elif k < min(d, n):
            init = "pca"
        else:
            init = "identity"
    if isinstance(init, str) and init == "lda":
        raise ValueError(
            "init='lda' (also what init='auto' picks here) needs the data in memory; with a Dask X pass "
            "init='pca', 'identity', 'random' or an array"
        )
    if isinstance(init, str) and init == "pca":
        return _pca_init(X, dtype, k)
    stand_in = np.broadcast_to(np.zeros((), dtype), (n, d))
    return est._initial_components(stand_in, target, k, init, has_classes=has_classes)


__all__ += ["initial_components_dask"]
