// Large Margin Nearest Neighbour (Weinberger & Saul 2009): loss and gradient from active triplets.
//
// Formula. With z_i = L x_i, d_ij = |z_i - z_j|^2, target neighbours N(i) (same class, fixed) and a
// pull weight mu (metric-learn's `regularization`):
//     f(L) = mu * sum_{i, j in N(i)} d_ij
//          + (1 - mu) * sum_{i, j in N(i), l: y_l != y_i} [1 + d_ij - d_il]_+
// Every term is a weighted squared distance, so with w_pq the total weight of pair (p, q)
//     w_ij = mu + (1 - mu) * #{l : triplet (i, j, l) active},   w_il = -(1 - mu) * #{j : (i, j, l) active}
//     grad f = 2 sum_pairs w_pq (z_p - z_q)(x_p - x_q)^T = 2 U^T X,
//     u_r = sum_{pairs (r, q)} w_rq (z_r - z_q) + sum_{pairs (p, r)} w_pr (z_r - z_p).
// The caller supplies, per row, the impostor candidates (different class, within the largest
// margin sqrt(max_j d_ij + 1) of the current space -- found by the radius search); distances are
// recomputed here exactly in double from Z, and only truly active triplets count.
//
// Determinism: rows are independent (parallel over rows); the incoming pairs of each row are
// gathered by a stable counting sort in row order, so every sum has a fixed order; U^T X is one
// micro-kernel call per output tile. Bitwise identical for any n_threads.
// Memory: O(n * (n_targets + n_components) + n_candidates). Never n x n.
// Edge cases: target entries < 0 are absent (classes with fewer than k + 1 members); a triplet on
// the hinge (1 + d_ij - d_il == 0) is inactive (the subgradient 0 is used there).
#pragma once
#include <cstdint>
#include <vector>

#include "fastmetric/learn/bt_x.hpp"
#include "fastmetric/types.hpp"

namespace fastmetric {
namespace learn {

struct LmnnResult {
    double loss = 0, pull = 0, push = 0;
    std::int64_t n_active = 0;  // active triplets
};

// X (n x d), Z = X L^T (n x k), targets (n x n_targets, row-major, -1 = none), candidates in CSR form
// (cand_offsets length n + 1, cand_idx). Writes grad (k x d, row-major, double) = d f / d L.
// row_weight (length n, or nullptr for all 1) weighs anchor i's pull and push terms (class_weight).
// coef (n x k, row-major, double, or nullptr): also writes U with grad = 2 U^T X (a caller that holds
// X elsewhere, e.g. in row blocks on a cluster, forms the product itself); grad may then be nullptr.
template <class T>
LmnnResult lmnn_loss_grad(MatrixView<T> X, MatrixView<T> Z, const std::int64_t* targets, std::int64_t n_targets,
                          const std::int64_t* cand_offsets, const std::int64_t* cand_idx, double pull_weight,
                          double* grad, int n_threads, BtXWorkspace& ws, const double* row_weight = nullptr,
                          double* coef = nullptr);

// Squared margin of every row: max_j d_ij + 1 over its target neighbours (-inf when it has none).
template <class T>
void lmnn_margins(MatrixView<T> Z, const std::int64_t* targets, std::int64_t n_targets, double* margin,
                  int n_threads);

// Impostor candidates from search hits given as pairs (rows[e], hits[e]) in any order: pairs of the
// same label are dropped, the rest sorted by row by a stable counting sort (hits keep their order).
// Fills cand_offsets (n + 1) and cand_idx.
void lmnn_candidates_csr(std::int64_t n, const std::int64_t* rows, const std::int64_t* hits, std::int64_t n_pairs,
                         const std::int64_t* labels, std::vector<std::int64_t>& cand_offsets,
                         std::vector<std::int64_t>& cand_idx);

}  // namespace learn
}  // namespace fastmetric
