// Metric Learning for Kernel Regression (Weinberger & Tesauro 2007): loss and gradient in one call.
//
// Formula. With z_i = L x_i, d_ij = |z_i - z_j|^2 and a Gaussian kernel in the learned space,
//     p_ij    = exp(-d_ij) / sum_{k != i} exp(-d_ik)          (p_ii = 0)
//     yhat_i  = sum_j p_ij y_j                                 (leave-one-out kernel regression)
//     e_i     = yhat_i - y_i,        loss = sum_i e_i^2        (to minimise)
//     W_ij    = p_ij e_i (y_j - yhat_i),   S = W + W^T
//     grad    = d loss / d L = -4 sum_i b_i x_i^T,   b_i = sum_j S_ij (z_i - z_j)
// (sum_j W_ij = e_i (yhat_i - yhat_i) = 0, so this equals metric-learn's 4 Z^T W_sym X.)
//
// Sweeps. Z = X L^T is centred first (distances and b do not change; the expansion loses fewer
// digits). The n x n distances come tile by tile (TB x TB; TB = n / 6 within [96, 192], a multiple
// of the micro-kernel's MR and NR) from the packed Z through the engine's dot micro-kernel and are
// never stored:
//   pass 1: per row a streaming log-sum-exp state (running minimum distance m_i, sum_j exp(m_i - d_ij)
//           and sum_j exp(m_i - d_ij) y_j) -> off_i = log(sum) - m_i, yhat_i, e_i, the loss;
//   pass 2: S_ij from p_ij = exp(-(d_ij + off_i)) and p_ji = exp(-(d_ij + off_j)); b accumulates
//           rowsum(S) z_i - S Z; grad = -4 B^T X.
// Only tiles (I, J) with I <= J are visited; each serves rows I and columns J.
//
// Sparsity. The Gaussian kernel is peaked: a pair further than m_i + 36.8 (float64; 23.0 in float32)
// from row i's nearest distance weighs below tau = 1e-16 (1e-10) times the row's largest weight.
// Pass 1 keeps, per tile, only the pairs with d_ij <= max(m_i, m_j) + that gap (m the running
// minima) -- typically 5-15% -- with their distances (kept for pass 2 while n_pad^2 / 2 of them fit
// in cache_bytes, default 64 MiB; recomputed otherwise). float64 problems choose the pairs on
// float32 distances with a rounding margin, then compute the kept ones exactly (pair by pair, or
// through the float64 micro-kernel for a tile that keeps at least half of its pairs). Exponentials, S and the products run over
// the kept pairs only: S Z pair by pair (AXPYs of length k), or through the dense micro-kernel when
// a tile keeps more than 40% of its pairs. Pairs with p_ij < tau and p_ji < tau are dropped: what is
// lost is below n * tau relative to a row -- in practice far less -- under the rounding of its sums.
//
// One exponential per pair. When the shifts met in a tile lie within a span (40 in float32, 300 in
// float64) of their extreme, exp(m_i - d) = exp(c - d) exp(m_i - c) with factors in [1, e^span]
// and exp(c - d) <= 1: one exp serves both the row and the column side. Otherwise (outliers whose
// nearest neighbour is very far) the tile computes row and column exponentials separately.
//
// Determinism. Tiles run in rounds r = 0 .. T-1 (tiles (I, I + r)); inside a round a row block is
// the row side of one tile and the column side of at most one other, writing separate row / column
// accumulators, so each accumulator receives its terms in round order whatever the thread count:
// results are bitwise identical for any n_threads.
//
// Dtypes. float32 or float64 kernels; per-tile partial sums (<= TB terms) in T; everything that
// crosses tiles (log-sum-exp states, yhat, b, loss, gradient; the pair-by-pair products) in double.
// Memory O(n * k) plus O(threads * TB^2) plus the bounded cache of kept pairs; never n x n.
// Edge cases: n >= 2 (checked); a row's own term is excluded exactly; sum_j exp(m_i - d_ij) >= 1
// (its nearest pair is always kept), so yhat is always finite, also for outliers.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>

#include "fastmetric/types.hpp"

namespace fastmetric {
namespace learn {

// The objective the sweeps evaluate. Both are sums over a row-wise softmax of -d_ij; they differ in
// the weight of a pair in pass 1 and in S:
//   mlkr: pass 1 sums p_ij y_j -> yhat_i; loss = sum_i (yhat_i - y_i)^2, grad = -4 B^T X with
//         S_ij = p_ij e_i (y_j - yhat_i) + p_ji e_j (y_i - yhat_j);
//   nca:  y holds class codes; pass 1 sums p_ij [y_i == y_j] -> p_i; f = sum_i p_i (to maximise),
//         grad = -2 B^T X with S_ij = p_ij (m_ij - p_i) + p_ji (m_ij - p_j), m_ij = [y_i == y_j]
//         (scikit-learn's NeighborhoodComponentsAnalysis; see nca.hpp).
enum class PairSoftmaxObjective { mlkr, nca };

// Kernel weights below tau relative to their row's largest are dropped: 1e-16 in float64, 1e-10 in
// float32 (at most n * tau of a row goes, under the rounding of the row's sum; in practice far less,
// most dropped weights being many orders of magnitude below tau).
template <class T>
constexpr double pair_softmax_drop_tau() { return sizeof(T) == 4 ? 1e-10 : 1e-16; }
// -log(tau): a pair further than this beyond a row's nearest distance weighs less than tau there.
template <class T>
constexpr double pair_softmax_drop_gap() { return sizeof(T) == 4 ? 23.025850929940457 : 36.841361487904734; }

// One MLKR (or NCA) problem: the training data X (n x d, not copied: it must outlive the problem),
// the regression targets or class codes y (n, copied) and the buffers reused by every evaluation.
template <class T>
class MlkrProblem {
  public:
    MlkrProblem(MatrixView<T> X, const double* y, std::size_t cache_bytes = std::size_t(64) << 20,
                PairSoftmaxObjective objective = PairSoftmaxObjective::mlkr);
    ~MlkrProblem();
    MlkrProblem(const MlkrProblem&) = delete;
    MlkrProblem& operator=(const MlkrProblem&) = delete;

    // loss = sum_i (yhat_i - y_i)^2 for L (k x d); grad (k x d, row-major) = d loss / d L;
    // yhat_out (length n, optional) receives the leave-one-out predictions (NCA: f, d f / d L and
    // p_i). Throws
    // std::invalid_argument before any thread starts.
    double loss_grad(MatrixView<T> L, double* grad, double* yhat_out, int n_threads);

    std::int64_t n_samples() const;
    std::int64_t n_features() const;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace learn
}  // namespace fastmetric
