"""fastmetric: fast, exact pairwise distances, kernel matrices, k-NN and metric learning.

C++17 SIMD + OpenMP kernels behind scipy / scikit-learn shaped functions. ``import fastmetric``
needs only numpy; the learners (``fastmetric.learn``) and the scikit-learn plug-ins need the
``learn`` / ``sklearn`` extras.
"""

__version__ = "0.1.0"

from ._config import get_config, set_isa, set_output_pool, show_config
from .distances import DISTANCE_METRICS, cdist, pairwise_distances, pdist, squareform
from .neighbors import kneighbors, merge_kneighbors, radius_neighbors
from . import losses

# retrieval metrics (issue 15, part 1)
from . import retrieval
from .kernels import (
    KERNEL_METRICS,
    additive_chi2_kernel,
    center_kernel,
    chi2_kernel,
    cosine_similarity,
    laplacian_kernel,
    linear_kernel,
    pairwise_kernels,
    polynomial_kernel,
    rbf_kernel,
    sigmoid_kernel,
)

__all__ = [
    "set_output_pool",
    "__version__",
    "DISTANCE_METRICS",
    "KERNEL_METRICS",
    "additive_chi2_kernel",
    "center_kernel",
    "chi2_kernel",
    "cosine_similarity",
    "KNeighborsTransformer",
    "kneighbors",
    "laplacian_kernel",
    "merge_kneighbors",
    "radius_neighbors",
    "retrieval",
    "linear_kernel",
    "losses",
    "pairwise_kernels",
    "polynomial_kernel",
    "rbf_kernel",
    "sigmoid_kernel",
    "cdist",
    "get_config",
    "pairwise_distances",
    "pdist",
    "set_isa",
    "show_config",
    "squareform",
]


def __getattr__(name):
    # scikit-learn plug-ins are created on first use: `import fastmetric` needs only numpy
    if name == "KNeighborsTransformer":
        from ._knn_transformer import KNeighborsTransformer

        return KNeighborsTransformer
    raise AttributeError(f"module 'fastmetric' has no attribute {name!r}")
