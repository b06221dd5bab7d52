"""Learned Mahalanobis metrics: d(x, y) = ||L (x - y)||, learned from labels or constraints.

    from fastmetric.learn import NCA, LMNN

Needs the ``learn`` extra (scikit-learn and SciPy): ``pip install 'fastmetric[learn]'``. The
estimators follow metric-learn 0.7's names (``components_``, ``transform``, ``get_metric``,
``pair_distance`` ...), so a metric-learn user switches by changing the import; the learned
``components_`` plug into ``fastmetric.cdist(..., metric="mahalanobis", L=est.components_)`` and
``fastmetric.kneighbors``.
"""

from __future__ import annotations

import importlib

from ._base import MahalanobisMixin, Progress, minimize_lbfgs

# public name -> module of this package. Learners are imported on first use, so one missing or
# broken learner module never breaks the others.
_LEARNERS = {
    "NCA": "nca",
    "NeighborhoodComponentsAnalysis": "nca",
    "LMNN": "lmnn",
    "LargeMarginNearestNeighbor": "lmnn",
    # learners of the second group (weak supervision, regression, closed forms)
    "ITML": "itml",
    "ITML_Supervised": "itml",
    "MMC": "mmc",
    "MMC_Supervised": "mmc",
    "MLKR": "mlkr",
    "LFDA": "lfda",
    "RCA": "rca",
    "RCA_Supervised": "rca",
    "Covariance": "covariance",
    # kernel learners: the linear learners on kernel features (exact or Nystroem)
    "KernelNCA": "kernel",
    "KernelLMNN": "kernel",
    "KernelMLKR": "kernel",
    "KernelLFDA": "kernel",
    # learners of issue 17 (relative comparisons, graphical lasso)
    "LSML": "lsml",
    "LSML_Supervised": "lsml",
    "SDML": "sdml",
    "SDML_Supervised": "sdml",
    "SCML": "scml",
    "SCML_Supervised": "scml",
}

__all__ = ["MahalanobisMixin", "Progress", "minimize_lbfgs", *_LEARNERS]


def __getattr__(name):
    mod = _LEARNERS.get(name)
    if mod is None:
        raise AttributeError(f"module 'fastmetric.learn' has no attribute {name!r}")
    try:
        module = importlib.import_module(f".{mod}", __name__)
    except ModuleNotFoundError as exc:
        if exc.name == f"{__name__}.{mod}":
            raise AttributeError(f"fastmetric.learn.{name} is not available in this build") from None
        raise
    value = getattr(module, name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LEARNERS))
