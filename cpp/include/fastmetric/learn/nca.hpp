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
// Sweeps. Rows are sorted by class by the caller (class_offsets), so "same class" is a contiguous
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

#include "fastmetric/types.hpp"

namespace fastmetric {
namespace learn {

// X (n x d, rows sorted by class; class c occupies rows [class_offsets[c], class_offsets[c+1]))),
// L (k x d). Writes grad (k x d, row-major, double) = d f / d L and returns f = sum_i p_i.
// If p_out is not null it receives p_i (length n). Throws std::invalid_argument on bad shapes,
// before any thread starts.
template <class T>
double nca_loss_grad(MatrixView<T> X, MatrixView<T> L, const std::int64_t* class_offsets, std::int64_t n_classes,
                     double* grad, double* p_out, int n_threads);

}  // namespace learn
}  // namespace fastmetric
