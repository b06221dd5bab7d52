"""PyTorch adapter: fastmetric's embedding losses as differentiable functions of CPU tensors.

``import fastmetric.torch`` needs PyTorch (the ``torch`` extra); ``import fastmetric`` never
imports it. Each function takes an embedding tensor ``Z`` (n, d) -- float32 or float64, on the CPU,
typically a network's output -- and labels (a tensor without ``requires_grad``, or an array), and
returns the loss as a 0-d tensor of Z's dtype whose backward pass multiplies the incoming gradient
by fastmetric's ``G = d loss / d Z``:

- :func:`contrastive_loss`, :func:`triplet_margin_loss`, :func:`multi_similarity_loss`: the losses
  of :mod:`fastmetric.losses` (pytorch-metric-learning's definitions and default reducers; see
  there), same keyword parameters;
- :func:`nca_loss`, :func:`mlkr_loss`: the pair-sweep objectives of :mod:`fastmetric.losses`.

``torch.nn.Module`` wrappers (:class:`ContrastiveLoss`, :class:`TripletMarginLoss`,
:class:`MultiSimilarityLoss`, :class:`NCALoss`, :class:`MLKRLoss`) keep the parameters:
``loss_fn = TripletMarginLoss(miner="semihard"); loss = loss_fn(model(x), labels)``.

The loss and G are computed in one C++ call during the forward pass (the GIL released); backward
only scales G. Second derivatives are not available (``once_differentiable``). ``n_threads=None``
uses ``torch.get_num_threads()``. A batch in which the miner finds no triplet gives a loss of 0 and
a zero gradient. Errors (ValueError / TypeError): Z not a tensor, not 2-D, not float32/float64, on
a device other than the CPU; labels requiring grad, on another device, or of the wrong length; and
everything :mod:`fastmetric.losses` refuses (a single class, NaN, fewer than 2 rows, ...).
"""

from __future__ import annotations

import numpy as np
import torch
from torch.autograd.function import once_differentiable

from . import losses

__all__ = [
    "ContrastiveLoss",
    "MLKRLoss",
    "MultiSimilarityLoss",
    "NCALoss",
    "TripletMarginLoss",
    "contrastive_loss",
    "mlkr_loss",
    "multi_similarity_loss",
    "nca_loss",
    "triplet_margin_loss",
]


def _embedding(Z) -> np.ndarray:
    if not isinstance(Z, torch.Tensor):
        raise TypeError(f"Z must be a torch.Tensor, got {type(Z).__name__}")
    if Z.device.type != "cpu":
        raise ValueError(f"Z is on device {Z.device}; fastmetric.torch runs on CPU tensors only (use Z.cpu())")
    if Z.dtype not in (torch.float32, torch.float64):
        raise TypeError(f"Z must be float32 or float64, got {Z.dtype}")
    if Z.dim() != 2:
        raise ValueError(f"Z must be 2-D (n_samples, n_components), got shape {tuple(Z.shape)}")
    return Z.detach().numpy()


def _labels(labels, n: int, name: str) -> np.ndarray:
    if isinstance(labels, torch.Tensor):
        if labels.requires_grad:
            raise ValueError(f"{name} requires grad; labels are not differentiable (pass {name}.detach())")
        if labels.device.type != "cpu":
            raise ValueError(f"{name} is on device {labels.device}; pass CPU labels")
        labels = labels.numpy()
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.shape[0] != n:
        raise ValueError(f"{name} must be 1-D with one entry per row of Z ({n}), got shape {labels.shape}")
    return labels


class _LossFunction(torch.autograd.Function):
    """loss = fn(Z, labels, **params)[0]; dloss/dZ = fn(...)[1], computed in the forward pass."""

    @staticmethod
    def forward(ctx, Z, fn, labels, params):
        loss, G = fn(_embedding(Z), labels, **params)
        ctx.save_for_backward(torch.from_numpy(G))
        return torch.tensor(loss, dtype=Z.dtype)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_loss):
        (G,) = ctx.saved_tensors
        return grad_loss * G, None, None, None


def _call(fn, Z, labels, params, name="labels"):
    _embedding(Z)
    labels = _labels(labels, Z.shape[0], name)
    params = dict(params)
    if params.get("n_threads") is None:
        params["n_threads"] = torch.get_num_threads()
    return _LossFunction.apply(Z, fn, labels, params)


def contrastive_loss(Z, labels, **params):
    """:func:`fastmetric.losses.contrastive_loss` on a CPU tensor: a differentiable 0-d tensor."""
    return _call(losses.contrastive_loss, Z, labels, params)


def triplet_margin_loss(Z, labels, **params):
    """:func:`fastmetric.losses.triplet_margin_loss` on a CPU tensor: a differentiable 0-d tensor."""
    return _call(losses.triplet_margin_loss, Z, labels, params)


def multi_similarity_loss(Z, labels, **params):
    """:func:`fastmetric.losses.multi_similarity_loss` on a CPU tensor: a differentiable 0-d tensor."""
    return _call(losses.multi_similarity_loss, Z, labels, params)


def nca_loss(Z, y, **params):
    """:func:`fastmetric.losses.nca_loss` (``-sum_i p_i``) on a CPU tensor: a differentiable 0-d tensor."""
    return _call(losses.nca_loss, Z, y, params, "y")


def mlkr_loss(Z, y, **params):
    """:func:`fastmetric.losses.mlkr_loss` on a CPU tensor (y: regression targets)."""
    return _call(losses.mlkr_loss, Z, y, params, "y")


class _Wrapper(torch.nn.Module):
    _fn = None

    def __init__(self, **params):
        super().__init__()
        self.params = params

    def forward(self, Z, labels):
        return type(self)._fn(Z, labels, **self.params)

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.params.items())


class ContrastiveLoss(_Wrapper):
    """Module form of :func:`contrastive_loss`: ``ContrastiveLoss(**params)(Z, labels)``."""

    _fn = staticmethod(contrastive_loss)


class TripletMarginLoss(_Wrapper):
    """Module form of :func:`triplet_margin_loss`: ``TripletMarginLoss(miner="semihard")(Z, labels)``."""

    _fn = staticmethod(triplet_margin_loss)


class MultiSimilarityLoss(_Wrapper):
    """Module form of :func:`multi_similarity_loss`."""

    _fn = staticmethod(multi_similarity_loss)


class NCALoss(_Wrapper):
    """Module form of :func:`nca_loss`."""

    _fn = staticmethod(nca_loss)


class MLKRLoss(_Wrapper):
    """Module form of :func:`mlkr_loss`."""

    _fn = staticmethod(mlkr_loss)
