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
"""

from __future__ import annotations

import numpy as np

from . import _core
from ._validation import as_float_2d, check_finite, resolve_n_threads, sample_weights

__all__ = ["mlkr_loss", "nca_loss"]


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
