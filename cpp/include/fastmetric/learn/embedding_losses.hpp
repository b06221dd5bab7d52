// Deep-metric-learning losses on an embedding Z (n x d) with class labels: the loss and dloss/dZ.
//
// The definitions are pytorch-metric-learning 2.9's (PML below), with their default reducers; the
// Python layer (python/fastmetric/losses.py) documents the mapping to PML calls. Every loss is a sum
// over ordered pairs (a, j), a != j, of terms that depend on the pair's distance-like value and on
// per-anchor statistics, so one driver serves them all:
//
//   1. U = Z / max(|z|, 1e-12) row by row (PML's LpDistance / CosineSimilarity normalise by default;
//      normalize=false keeps U = Z). Rows of norm <= 1e-12 are refused when normalising.
//   2. The batch's n x n matrix M of euclidean distances |u_a - u_j| (the engine's sq_dot problem with
//      its exact recompute of cancelling pairs, then sqrt) or of similarities u_a . u_j (cosine), on
//      the engine's micro-kernels in the input's type (float32 batches: float32 products, as
//      fastmetric's float32 cdist; float64: float64), every row in full.
//   3. Per anchor row a (in parallel), in double: the loss's row function reads row a of M and
//      overwrites it with the coefficients dloss_a/dD_aj / D_aj (euclidean; 0 where D = 0) or
//      dloss_a/dS_aj (cosine), unscaled, and returns the row's loss sum and counts. Triplets are
//      never formed: with x = D or -S, the anchor's positives are sorted by x once; for a negative
//      the positives p it forms a used triplet with are a contiguous range of that order, because
//      each condition of the reference -- (x_n - x_p) > 0 (semihard), (x_n - x_p) <= miner margin,
//      ((x_p - x_n) + margin) > 0 (loss above 0) -- is monotone in x_p. The range ends are counts
//      of the positives meeting each condition (branch-free loops over all negatives at once while
//      the class has <= 48 others; binary search per negative beyond), prefix sums of the sorted
//      x_p give the hinge sums, and a difference array the positives' coefficients: O(n_pos n_neg)
//      simple operations per anchor in small classes, O(n log n) in large ones.
//   4. The per-anchor results are added in anchor order (int64 counts: PML's #688 overflows INT_MAX),
//      the reducer's scales fixed, and K = s (M + M^T) formed in place (s per pair: same / different
//      label); dloss/dU = diag(rowsum K) U - K U (euclidean) or K U (cosine), K U on the engine in
//      the input's type, the rest in double.
//   5. The chain rule through the normalisation: dloss/dz = (g - u (u . g)) / |z|.
//
// Memory: one n x n matrix of the input's type (float32: 4 n^2 bytes, 256 MiB at n = 8192) plus
// O(n d) and O(threads n).
// Determinism: the engine's products depend only on the tiling, the rows are independent and their
// sums are added in a fixed order, so results are bitwise identical for any n_threads.
// Exceptions (bad input, allocation) are thrown before any parallel region or kept by the team and
// rethrown after it.
#pragma once
#include <cstdint>

#include "fastmetric/types.hpp"

namespace fastmetric {
namespace learn {

enum class EmbeddingDistance { euclidean, cosine };

// PML TripletMarginMiner(type_of_triplets=all|hard|semihard), BatchHardMiner, or no miner.
enum class TripletMiner { none, all, hard, semihard, batch_hard };

struct EmbeddingLossResult {
    double loss = 0;
    // triplet: [0] triplets with a positive loss (the AvgNonZeroReducer's divisor), [1] triplets the
    //          miner returned (all triplets without a miner);
    // contrastive: [0] positive pairs with a positive loss, [1] negative pairs with a positive loss;
    // multi-similarity: [0] positive pairs, [1] negative pairs.
    std::int64_t count[2] = {0, 0};
};

// labels: n class codes (any int64 values; equal codes = same class). G: n x d row-major output.
template <class T>
EmbeddingLossResult triplet_margin_loss(MatrixView<T> Z, const std::int64_t* labels, EmbeddingDistance dist,
                                        bool normalize, double margin, TripletMiner miner, double miner_margin, T* G,
                                        int n_threads);

template <class T>
EmbeddingLossResult contrastive_loss(MatrixView<T> Z, const std::int64_t* labels, EmbeddingDistance dist,
                                     bool normalize, double pos_margin, double neg_margin, T* G, int n_threads);

template <class T>
EmbeddingLossResult multi_similarity_loss(MatrixView<T> Z, const std::int64_t* labels, EmbeddingDistance dist,
                                          bool normalize, double alpha, double beta, double base, T* G,
                                          int n_threads);

}  // namespace learn
}  // namespace fastmetric
