// Neighbourhood Components Analysis (Goldberger et al. 2004): loss and gradient in two tiled sweeps.
//
// Formula. With z_i = L x_i and d_ij = |z_i - z_j|^2,
//     p_ij = exp(-d_ij) / sum_{k != i} exp(-d_ik)        (p_ii = 0)
//     p_i  = sum_{j in class(i)} p_ij                     f(L) = sum_i p_i   (to maximise)
//     grad f = -2 sum_i b_i x_i^T,   b_i = sum_j S_ij (z_i - z_j),
//     S_ij = W_ij + W_ji,            W_ij = p_ij (m_ij - p_i),   m_ij = [y_i == y_j]
// which is scikit-learn's NeighborhoodComponentsAnalysis objective and gradient (its
// 2 Z^T (W + W^T - diag(colsum W)) X, written without the n x n matrix).
//
// Two sweeps compute this: the dense one described here, and -- when the mean squared distance of
// the pairs in the learned space, 2 tr(L Cov(X) L^T), exceeds 2.5x the drop gap of mlkr.hpp, i.e.
// when most pairs weigh nothing -- the sparse sweep of mlkr.hpp in its NCA mode (float32 screening,
// work only on the pairs within exp's reach of a row's nearest neighbour; 1.2-2.8x faster there,
// about 1.5x slower on broad kernels, measured in nca.cpp). Both agree to rounding and are each
// bitwise independent of the thread count; the choice depends on L and X only.
//
// Dense sweep. Rows are sorted by class by the caller (class_offsets), so "same class" is a contiguous
// column range. The n x n distances are computed tile by tile (TB x TB) from the packed Z through the
// engine's dot micro-kernel (d = |z_i|^2 + |z_j|^2 - 2 z_i.z_j: the softmax only needs absolute
// accuracy in d, which the expansion gives) and never stored:
//   pass 1: per row, a streaming log-sum-exp (running min distance m_i, sum of exp(m_i - d_ij),
//           same-class part) -> off_i = log(sum) - m_i, p_i;
//   pass 2: S_ij from p_ij = exp(-(d_ij + off_i)) and p_ji = exp(-(d_ij + off_j)); b accumulates
//           rowsum(S) z_i - S Z through the dot micro-kernel.
// Both passes visit only tiles (I, J) with I <= J and use each tile for rows I and columns J.
//
// Determinism. Tiles are processed in rounds r = 0 .. T-1 (tiles (I, I + r)); inside a round every
// row block is the row side of one tile and the column side of one tile, which write to separate
// row / column accumulators. Each accumulator thus receives its contributions in round order,
// whatever the number of threads: results are bitwise identical for any n_threads.
//
// Dtypes. float32 or float64 kernels; per-tile partial sums (<= TB terms) in T, everything that
// crosses tiles (the log-sum-exp state, b, the loss, the gradient) in double.
// Memory: O(n * n_components) plus O(threads * TB^2); never n x n.
// Edge cases: a row's own term is excluded exactly; exponents are clamped at the bottom of exp's
// normal range (terms < 1e-38 relative in float32, 1e-307 in float64, are not exactly zero).
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "fastmetric/types.hpp"

namespace fastmetric {
namespace learn {

// One NCA problem: the training data (rows sorted by class; class c occupies rows
// [class_offsets[c], class_offsets[c+1])) and the buffers reused by every evaluation of an
// optimisation. X is not copied: it must outlive the problem.
//
// Pass-1 cache of the dense sweep: when n^2 * sizeof(T) <= cache_bytes, the exponentials of pass 1
// are kept so pass 2 needs neither distances nor exp again (about 1.7x faster per evaluation). The
// cache is bounded by cache_bytes (default 64 MiB, i.e. n <= ~2,900 in float64); above it, pass 2
// recomputes and memory stays O(n * n_components + threads * TB^2). The sparse sweep keeps its kept
// pairs under the same bound (see mlkr.hpp); a fit that uses both sweeps holds both caches.
template <class T>
class NcaProblem {
  public:
    NcaProblem(MatrixView<T> X, const std::int64_t* class_offsets, std::int64_t n_classes,
               std::size_t cache_bytes = std::size_t(64) << 20);
    ~NcaProblem();
    NcaProblem(const NcaProblem&) = delete;
    NcaProblem& operator=(const NcaProblem&) = delete;

    // f = sum_i p_i for L (k x n_features); grad (k x n_features, row-major) = d f / d L.
    // p_out (length n, optional) receives p_i. Throws std::invalid_argument before any thread starts.
    double loss_grad(MatrixView<T> L, double* grad, double* p_out, int n_threads);

    std::int64_t n_samples() const;
    std::int64_t n_features() const;
    bool uses_cache(std::int64_t n_components) const;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// Shared by the learners' gradients: out (k x d, row-major) = scale * B^T X for B (n x k, double,
// row-major) and X (n x d), through the double dot micro-kernel. X is packed into ws on first use
// and reused while the same X is passed. Each output tile is one call over all n rows, so the result
// does not depend on n_threads.
struct BtXWorkspace {
    std::vector<double> xpack, bpack, gbuf;
    int x_nr = 0;
    std::int64_t x_rows = -1;
    const void* x_data = nullptr;
};
template <class T>
void scaled_bt_x(const double* B, std::int64_t k, MatrixView<T> X, double scale, double* out, int n_threads,
                 BtXWorkspace& ws);

// One-shot convenience: builds an NcaProblem and evaluates it once.
template <class T>
double nca_loss_grad(MatrixView<T> X, MatrixView<T> L, const std::int64_t* class_offsets, std::int64_t n_classes,
                     double* grad, double* p_out, int n_threads);

}  // namespace learn
}  // namespace fastmetric
