"""Per-sample weights of the learners' objectives: scikit-learn's ``class_weight`` and ``sample_weight``.

The weights enter the objective itself -- the pair sweep's loss is sum_i w_i loss_i and its gradient
follows (``_core.LinearPairProblem(..., sample_weight=w)``) -- never a resampling of the data.
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = ["class_weight_vector"]


def class_weight_vector(class_weight, codes, classes):
    """Per-row weights from ``class_weight`` (None, "balanced" or {label: weight}); None for None.

    ``codes`` are the rows' class indices into ``classes`` (the labels seen in fit). "balanced" is
    scikit-learn's n_samples / (n_classes * count(c)); a dict gives its classes their weights and the
    others 1, and must name only classes of y, with finite weights >= 0.
    """
    if class_weight is None:
        return None
    codes = np.asarray(codes, dtype=np.int64)
    n_classes = len(classes)
    if isinstance(class_weight, str):
        if class_weight != "balanced":
            raise ValueError(f'class_weight must be None, "balanced" or a dict; got {class_weight!r}')
        counts = np.bincount(codes, minlength=n_classes).astype(np.float64)
        per_class = codes.size / (n_classes * np.where(counts > 0, counts, 1.0))
        return np.ascontiguousarray(per_class[codes])
    if not isinstance(class_weight, dict):
        raise TypeError(f'class_weight must be None, "balanced" or a dict; got {type(class_weight).__name__}')
    per_class = np.ones(n_classes)
    lookup = {_key(c): i for i, c in enumerate(classes)}
    for label, weight in class_weight.items():
        idx = lookup.get(_key(label))
        if idx is None:
            known = np.asarray(classes).tolist()
            raise ValueError(f"class_weight names {label!r}, which is not a class of y (classes: {known})")
        if not isinstance(weight, numbers.Real) or isinstance(weight, bool) or not np.isfinite(weight) or weight < 0:
            raise ValueError(f"class_weight[{label!r}] must be a finite number >= 0; got {weight!r}")
        per_class[idx] = float(weight)
    if not per_class.any():
        raise ValueError("class_weight gives every class weight 0")
    return np.ascontiguousarray(per_class[codes])


def _key(label):
    """A dict key for a label whether it comes as a numpy scalar or a Python one."""
    return label.item() if isinstance(label, np.generic) else label
