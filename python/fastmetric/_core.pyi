"""Type stubs for the compiled extension ``fastmetric._core`` (cpp/bindings/module.cpp).

The Python layer validates and converts inputs before calling these; the functions themselves
only check ndim, dtype (native float32/float64), strides and shapes, and raise ValueError /
TypeError / MemoryError otherwise; input arrays whose strides are not whole items or whose data is
unaligned (structured-array fields, np.frombuffer at an odd offset) are copied once, not refused.
Every function releases the GIL while it computes.
``n_threads=0`` means "all available threads"; problems under 2e5 multiply-adds (n * m * d) run on
the calling thread whatever ``n_threads`` says (the result does not depend on it).
"""

from typing import Literal

import numpy as np
import numpy.typing as npt

_Float = np.float32 | np.float64
_FloatArray = npt.NDArray[np.float32] | npt.NDArray[np.float64]

# --- configuration -------------------------------------------------------------------------------
def isa() -> str:
    """Instruction set in use: "generic", "avx2" or "avx512"."""

def set_isa(name: Literal["generic", "avx2", "avx512", "best"] | str) -> None:
    """Force an instruction set; ValueError if the CPU lacks it."""

def available_isas() -> list[str]: ...
def empty_output(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """Uninitialised C-ordered array from the output-buffer pool (returned to it when freed)."""

def output_pool(max_bytes: int | None = None) -> dict[str, int]:
    """Pool statistics (held_bytes, held_buffers, max_bytes, hits, misses); with max_bytes, set the
    bound first (0 disables the pool and frees what it holds)."""

def have_openmp() -> bool: ...
def max_threads() -> int: ...
def team_workers() -> int: ...
def team_resets_after_fork() -> int: ...
def team_selftest(nt: int, throw_tid: int = -1, nested: bool = False) -> tuple[list[int], str]: ...

# --- the tiled engine ----------------------------------------------------------------------------
def pairwise(
    X: _FloatArray,
    Y: _FloatArray | None,
    out: _FloatArray,
    metric: str,
    condensed: bool = False,
    p: float = 2.0,
    gamma: float = 1.0,
    coef0: float = 1.0,
    degree: float = 3.0,
    V: _FloatArray | None = None,
    L: _FloatArray | None = None,
    n_threads: int = 0,
    w: _FloatArray | None = None,
    base: float = 0.0,
) -> None:
    """Fill ``out`` with metric(X[i], Y[j]) (dense) or the condensed upper triangle (Y None).
    ``w``: scipy's weights (contiguous, n_features long, the inputs' dtype); ``base``: jensenshannon's
    log base (0: natural log) -- issue 16 part 1."""

def plain_pairwise(
    X: object,
    Y: object | None,
    metric: str,
    condensed: bool,
    check_finite: bool,
    gamma: float,
    coef0: float,
    degree: float,
    n_threads: int,
) -> _FloatArray | None:
    """The fast path of ``pairwise`` for plain inputs -- numpy.ndarray (exactly), 2-D, native float32 or
    float64, one dtype, >= 1 feature, equal feature counts, whole-item strides, finite when
    ``check_finite`` -- checked here in one call: a new (n, m) result (condensed: n*(n-1)/2, Y None),
    or None when the inputs need the Python layer's full path (which raises the documented errors).
    Y is X (or the same view) computes the symmetric half. ``gamma`` NaN means 1 / n_features."""

def plain_kneighbors(
    X: object, Y: object | None, k: int, metric: str, exclude_self: bool, check_finite: bool, n_threads: int
) -> tuple[_FloatArray, npt.NDArray[np.int64]] | None:
    """The fast path of ``kneighbors`` for plain inputs (as ``plain_pairwise``); None also when k is not
    in 1 .. available references, or X has no rows."""

def linear_map(X: _FloatArray, shift: _FloatArray | None, L: _FloatArray, out: _FloatArray, n_threads: int = 0) -> None:
    """out = (X - shift) @ L.T"""

def kneighbors(
    X: _FloatArray,
    Y: _FloatArray | None,
    k: int,
    metric: str,
    exclude_self: bool = False,
    p: float = 2.0,
    V: _FloatArray | None = None,
    L: _FloatArray | None = None,
    n_threads: int = 0,
    w: _FloatArray | None = None,
    base: float = 0.0,
) -> tuple[_FloatArray, npt.NDArray[np.int64]]:
    """(distances, indices), each (n_queries, k), rows sorted by distance then index (``w`` / ``base``
    as in ``pairwise``)."""

def radius_neighbors(
    X: _FloatArray,
    Y: _FloatArray | None,
    radius: float | npt.NDArray[np.float64],
    metric: str,
    exclude_self: bool = False,
    sort_results: bool = False,
    p: float = 2.0,
    V: _FloatArray | None = None,
    L: _FloatArray | None = None,
    n_threads: int = 0,
    query_labels: npt.NDArray[np.int64] | None = None,
    ref_labels: npt.NDArray[np.int64] | None = None,
    w: _FloatArray | None = None,
    base: float = 0.0,
) -> tuple[_FloatArray, npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """(distances, indices, offsets): CSR lists of the rows of Y within radius of each query
    (radius: a number, or one float64 radius per query); with both label vectors (contiguous
    int64, one per query / reference row) only the references of a different label."""

# --- issue 16 part 1 (scipy's remaining float metrics) -------------------------------------------
def vector_log(x: _FloatArray) -> _FloatArray:
    """Natural log of a 1-D float32 / float64 array with the active ISA's vector log (for tests)."""

# --- small dense linear algebra (no LAPACK: avoids BLAS thread pools spinning beside OpenMP) -------
def cholesky_upper(A: npt.ArrayLike) -> npt.NDArray[np.float64] | None:
    """R (upper triangular) with R.T @ R = A for symmetric positive-definite A, else None."""

def inverse_factor(A: npt.ArrayLike) -> npt.NDArray[np.float64] | None:
    """L with L.T @ L = inv(A) for symmetric positive-definite A, else None."""

def symmetric_eigen(
    A: npt.ArrayLike, vectors: bool = False
) -> npt.NDArray[np.float64] | tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Eigenvalues (ascending) of the symmetric A (upper triangle read), and with vectors=True (w, V) with
    A = V diag(w) V.T (fastmetric's own Householder + implicit QL solver)."""

# --- metric learners' sweeps ---------------------------------------------------------------------
class LmnnProblem:
    """LMNN data (X, target neighbours (n, k) int64, labels int64) for many evaluations."""

    def __init__(
        self,
        X: _FloatArray,
        targets: npt.NDArray[np.int64],
        labels: npt.NDArray[np.int64],
        sample_weight: npt.NDArray[np.float64] | None = None,
    ) -> None:
        """sample_weight (n, finite, >= 0): each anchor's pull and push terms weighted (None: all 1)."""
    def set_hits(self, rows: npt.NDArray[np.int64], hits: npt.NDArray[np.int64]) -> int:
        """Impostor candidates from search hits (same-label hits dropped); returns their count."""

    def margins(self, Z: _FloatArray, n_threads: int = 0) -> npt.NDArray[np.float64]:
        """Squared margin max_j d_ij + 1 of every row (-inf without target neighbours)."""

    def loss_grad(
        self, Z: _FloatArray, pull_weight: float, n_threads: int = 0
    ) -> tuple[float, npt.NDArray[np.float64], int, float, float, int]:
        """(loss, grad, n_active_triplets, pull, push, n_candidates) for Z = X L^T."""

    def loss_coefficients(
        self, Z: _FloatArray, pull_weight: float, n_threads: int = 0
    ) -> tuple[float, npt.NDArray[np.float64], int, float, float, int]:
        """As loss_grad with U (n x k, float64; grad = 2 U^T X) in place of grad."""

_Objective = Literal["nca", "mlkr"]
_SweepMode = Literal["auto", "dense", "sparse"]

class PairSweep:
    """Pairwise-softmax objective (nca, mlkr) on embeddings Z for many evaluations (y copied)."""

    def __init__(
        self,
        y: npt.NDArray[np.float64],
        objective: _Objective,
        cache_bytes: int = 67108864,
        tile: int = 0,
        sample_weight: npt.NDArray[np.float64] | None = None,
    ) -> None:
        """sample_weight (n, finite, >= 0): loss = sum_i w_i loss_i (None: all 1)."""
    def evaluate(
        self, Z: _FloatArray, n_threads: int = 0, return_pred: bool = False, mode: _SweepMode = "auto"
    ) -> tuple[float, _FloatArray] | tuple[float, _FloatArray, npt.NDArray[np.float64]]:
        """(loss, G = dloss/dZ in Z's dtype[, pred]); nca: loss = -sum_i p_i, pred = p_i; mlkr: loss =
        sum_i (yhat_i - y_i)^2, pred = yhat."""

    @property
    def last_mode(self) -> str: ...

class LinearPairProblem:
    """NCA / MLKR loss of the linear map x -> L x (X referenced, y copied) for many evaluations."""

    def __init__(
        self,
        X: _FloatArray,
        y: npt.NDArray[np.float64],
        objective: _Objective,
        cache_bytes: int = 67108864,
        tile: int = 0,
        sample_weight: npt.NDArray[np.float64] | None = None,
    ) -> None: ...
    def loss_grad(
        self, L: _FloatArray, n_threads: int = 0, return_pred: bool = False, mode: _SweepMode = "auto"
    ) -> tuple[float, npt.NDArray[np.float64]] | tuple[float, npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """(loss, dloss/dL (float64, k x d)[, pred]) for Z = X L^T."""

    @property
    def last_mode(self) -> str: ...
    @property
    def dense_cache_fits(self) -> bool: ...

def itml_sweep(
    A: npt.NDArray[np.float64],
    U: npt.NDArray[np.float64],
    sign: npt.NDArray[np.int8],
    lam: npt.NDArray[np.float64],
    bhat: npt.NDArray[np.float64],
    gamma: float,
    use_simd: bool = True,
) -> tuple[float, float, float, int]:
    """One pass of ITML's Bregman projections (A, lam, bhat updated in place).

    Returns (sum |delta lambda|, |lambda_before|, |lambda_after|, n_skipped).
    """

# --- boolean metrics on bit-packed rows (cpp/bindings/binary_bindings.cpp) ------------------------
# X / Y: 2-D uint8 rows as np.packbits(..., axis=1) makes them (same width); bits past n_bits are
# ignored; Y=None: X against itself. Distances are float64 (scipy 1.17's definitions, binary.hpp).
def binary_pairwise(
    X: npt.NDArray[np.uint8],
    Y: npt.NDArray[np.uint8] | None,
    metric: str,
    n_bits: int,
    out: npt.NDArray[np.float64],
    condensed: bool = False,
    n_threads: int = 0,
) -> None:
    """Fill out (n x m, or the condensed n(n-1)/2 vector when Y is None and condensed) with distances."""

def binary_kneighbors(
    X: npt.NDArray[np.uint8],
    Y: npt.NDArray[np.uint8] | None,
    metric: str,
    n_bits: int,
    k: int,
    exclude_self: bool = False,
    n_threads: int = 0,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """The k nearest rows of Y per row of X, by (distance, index), NaN last."""

def binary_radius_neighbors(
    X: npt.NDArray[np.uint8],
    Y: npt.NDArray[np.uint8] | None,
    metric: str,
    n_bits: int,
    radius: npt.NDArray[np.float64],
    exclude_self: bool = False,
    sort_results: bool = False,
    n_threads: int = 0,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Every row of Y with d <= radius (one radius, or one per query): CSR (distances, indices, offsets)."""

def binary_isa() -> str:
    """The popcount table in use: "generic", "avx2" or "avx512" (AVX-512 VPOPCNTDQ)."""
# sparse inputs (issue 16 part 3): cpp/bindings/sparse_bindings.cpp
# A sparse operand: (indptr int64, indices int32, data, rows, cols), canonical CSR.
_SparseOperand = tuple[np.ndarray, np.ndarray, np.ndarray, int, int]

def sparse_pairwise_f32(
    X: _SparseOperand,
    Y: _SparseOperand,
    Yt: _SparseOperand,
    op: int,
    gamma: float,
    coef0: float,
    degree: float,
    zero_diagonal: bool,
    out_or_k: np.ndarray | int,
    exclude_self: bool,
    n_threads: int,
    by_references: bool = False,
) -> tuple[np.ndarray] | tuple[np.ndarray, np.ndarray]:
    """Sparse (CSR) metric / kernel / k-NN, float32: fills out_or_k (an (n, m) array) and returns
    (out,), or returns (distances, indices) of the out_or_k nearest. Yt is Y transposed, as CSR; with
    by_references (dense outputs only) it is X transposed and the result is computed by tiles of
    references, bit for bit the same."""

def sparse_pairwise_f64(
    X: _SparseOperand,
    Y: _SparseOperand,
    Yt: _SparseOperand,
    op: int,
    gamma: float,
    coef0: float,
    degree: float,
    zero_diagonal: bool,
    out_or_k: np.ndarray | int,
    exclude_self: bool,
    n_threads: int,
    by_references: bool = False,
) -> tuple[np.ndarray] | tuple[np.ndarray, np.ndarray]:
    """As sparse_pairwise_f32, float64."""

# ---- embedding losses (issue 15 part 2): cpp/bindings/losses_bindings.cpp ----
# Z: C-contiguous native float32 / float64 (n, d); labels: int64 class codes (n,). Each returns
# (loss, G = dloss/dZ in Z's dtype, count0, count1).
_EmbeddingDistance = Literal["euclidean", "cosine"]
_TripletMiner = Literal["none", "all", "hard", "semihard", "batch_hard"]

def embedding_triplet_loss(
    Z: _FloatArray,
    labels: npt.NDArray[np.int64],
    distance: _EmbeddingDistance,
    normalize: bool,
    margin: float,
    miner: _TripletMiner,
    miner_margin: float,
    n_threads: int,
) -> tuple[float, _FloatArray, int, int]:
    """Triplet margin loss with a miner: (loss, G, n_positive_triplets, n_mined_triplets)."""

def embedding_contrastive_loss(
    Z: _FloatArray,
    labels: npt.NDArray[np.int64],
    distance: _EmbeddingDistance,
    normalize: bool,
    pos_margin: float,
    neg_margin: float,
    n_threads: int,
) -> tuple[float, _FloatArray, int, int]:
    """Contrastive loss: (loss, G, n_positive_pairs_with_loss, n_negative_pairs_with_loss)."""

def embedding_multi_similarity_loss(
    Z: _FloatArray,
    labels: npt.NDArray[np.int64],
    distance: _EmbeddingDistance,
    normalize: bool,
    alpha: float,
    beta: float,
    base: float,
    n_threads: int,
) -> tuple[float, _FloatArray, int, int]:
    """Multi-similarity loss: (loss, G, n_positive_pairs, n_negative_pairs)."""

# --- fastmetric.dask block-pair calls (issue 14): cpp/bindings/dask_bindings.cpp. C-contiguous float32 /
# float64 blocks of one dtype; `shift` (length n_features, the dtype of X) replaces the stacked mean the
# engine centres on, so a block pair packs the values of the whole problem.
def block_pairwise(
    X: np.ndarray,
    Y: np.ndarray | None,
    out: np.ndarray,
    metric: str,
    shift: np.ndarray | None = None,
    p: float = 2.0,
    gamma: float = 1.0,
    coef0: float = 1.0,
    degree: float = 3.0,
    V: np.ndarray | None = None,
    L: np.ndarray | None = None,
    n_threads: int = 0,
) -> None:
    """pairwise of one block pair (Y None: the symmetric call on X), centred on `shift` when given."""

def block_kneighbors(
    X: np.ndarray,
    Y: np.ndarray | None,
    k: int,
    metric: str,
    shift: np.ndarray | None = None,
    exclude_self: bool = False,
    p: float = 2.0,
    V: np.ndarray | None = None,
    L: np.ndarray | None = None,
    n_threads: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """(distances, block-local int64 indices) of the k nearest rows of Y (X when None); k <= rows of Y."""

def block_radius_neighbors(
    X: np.ndarray,
    Y: np.ndarray | None,
    radius: float | np.ndarray,
    metric: str,
    shift: np.ndarray | None = None,
    exclude_self: bool = False,
    sort_results: bool = False,
    p: float = 2.0,
    V: np.ndarray | None = None,
    L: np.ndarray | None = None,
    n_threads: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(distances, block-local indices, offsets): CSR lists of the rows of Y within radius."""

def block_column_sums(X: np.ndarray, acc: np.ndarray) -> None:
    """acc (float64, length n_features) += the column sums of X, row by row in double (the engine's
    stacked-mean order)."""

# --- SCML, LSML (issue 17): cpp/bindings/tuple_learners_bindings.cpp

class ScmlSteps:
    """SCML's AdaGrad steps (metric-learn 0.7) over index triplets (m, 3) on XB = X B^T (n x K, float64),
    with their state (gradient sums S, AdaGrad norms Q, the compact active columns) kept between run()
    calls. XB and the triplets are referenced, not copied."""

    def __init__(
        self,
        XB: npt.NDArray[np.float64],
        triplets: npt.NDArray[np.int64],
        batch_size: int,
        beta: float,
        gamma: float,
        use_simd: bool = True,
    ) -> None: ...
    def run(self, batches: npt.NDArray[np.int64], w: npt.NDArray[np.float64]) -> int:
        """The next len(batches) steps (rows of batch_size triplet indices); w (K) receives the weights after
        the last one. Returns the number of batch triplets with positive slack."""

    @property
    def S(self) -> npt.NDArray[np.float64]:
        """Gradient sums (K), a copy."""

    @property
    def Q(self) -> npt.NDArray[np.float64]:
        """AdaGrad norms (K), a copy."""

    @property
    def iterations(self) -> int:
        """Steps run so far."""

def scml_pair_forms(
    X: npt.NDArray[np.float64], Y: npt.NDArray[np.float64], pairs: npt.NDArray[np.int64], n_threads: int = 0
) -> npt.NDArray[np.float64]:
    """(Y[i] - Y[j]) . (X[i] - X[j]) per pair (i, j) (m x 2 int64): the squared distance d_M when Y = X M."""
class LsmlProblem:
    """LSML's comparisons d(a_i, b_i) < d(c_i, d_i) as index pairs into points P (n x d float64): pairs
    (2m x 2 int64) holds the (a, b) pairs, then the (c, d) pairs; w (m float64) the weights."""

    def __init__(
        self, P: npt.NDArray[np.float64], pairs: npt.NDArray[np.int64], w: npt.NDArray[np.float64], n_threads: int = 0
    ) -> None: ...
    def forms(self, M: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """d_M^2 of every pair (2m) for the symmetric M (d x d)."""
    def gradient(self, q: npt.NDArray[np.float64]) -> tuple[npt.NDArray[np.float64], float]:
        """(G (d x d), loss): the gradient of the comparison loss with respect to M at the forms q (2m), and
        its value."""
    def descent_direction(
        self, q: npt.NDArray[np.float64], H: npt.NDArray[np.float64]
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], float]:
        """(G, g, loss): G = the symmetrised H + the gradient at the forms q, g = the forms of G, loss the
        comparison loss at q."""
    def step_losses(
        self, q: npt.NDArray[np.float64], g: npt.NDArray[np.float64] | None, ts: npt.NDArray[np.float64]
    ) -> npt.NDArray[np.float64]:
        """The comparison loss of the forms q - t g for each step t of ts (g None: of q)."""
    def descend(
        self,
        M0: npt.NDArray[np.float64],
        prior_inv: npt.NDArray[np.float64],
        steps: npt.NDArray[np.float64],
        floor: float,
        tol: float,
        max_iter: int,
    ) -> tuple[npt.NDArray[np.float64], int, bool, float, npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """(M, n_iter, converged, loss, losses, grad_norms): metric-learn's projected gradient descent from M0
        with the LogDet prior prior_inv, the step lengths steps / |G|_F and the eigenvalue floor, stopping at
        |G|_F < tol, no lowering step or max_iter; losses / grad_norms per iteration (0: the start, NaN norm)."""

# --- NCA / MLKR on Dask (issue 14): the pair sweep's block-pair entry points,
# cpp/bindings/dask_learn_bindings.cpp (cpp/include/fastmetric/learn/pair_block.hpp). ZA / ZB C-contiguous
# float32 / float64 of one dtype; yA / yB and the factors float64. diag: ZB, yB, factors_B None.
def pair_block_lse(
    objective: str,
    ZA: np.ndarray,
    yA: npt.NDArray[np.float64],
    ZB: np.ndarray | None,
    yB: npt.NDArray[np.float64] | None,
    diag: bool,
    n_threads: int = 1,
    mode: str = "auto",
    tile: int = 0,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64] | None]:
    """Pass 1 on a block pair: the (3, rows) states (m, s, w) of A's rows over B's and of B's over A's
    (diag: A's rows over A's other rows, and None)."""

def pair_block_grad(
    objective: str,
    ZA: np.ndarray,
    yA: npt.NDArray[np.float64],
    factors_A: npt.NDArray[np.float64],
    ZB: np.ndarray | None,
    yB: npt.NDArray[np.float64] | None,
    factors_B: npt.NDArray[np.float64] | None,
    diag: bool,
    n_threads: int = 1,
    mode: str = "auto",
    tile: int = 0,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64] | None]:
    """Pass 2 on a block pair: A's and B's (rows, k) float64 shares of b_i = sum_j S_ij (z_i - z_j), from
    each block's (4, rows) merged m, log s - m, alpha, beta (diag: A's share within A, and None)."""
