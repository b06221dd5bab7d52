"""fastmetric: fast, exact pairwise distances, kernel matrices, k-NN and metric learning.

C++17 SIMD + OpenMP kernels behind scipy / scikit-learn shaped functions. ``import fastmetric``
needs only numpy; the learners (``fastmetric.learn``) and the scikit-learn plug-ins need the
``learn`` / ``sklearn`` extras.
"""

__version__ = "0.1.0"

from ._config import get_config, set_isa, show_config
from .distances import DISTANCE_METRICS, cdist, pairwise_distances, pdist, squareform

__all__ = [
    "__version__",
    "DISTANCE_METRICS",
    "cdist",
    "get_config",
    "pairwise_distances",
    "pdist",
    "set_isa",
    "show_config",
    "squareform",
]
