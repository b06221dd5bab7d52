// Sparse Compositional Metric Learning (Shi, Bellet & Sha, AAAI 2014) as metric-learn 0.7 runs it:
// the stochastic composite (AdaGrad + dual averaging) steps over triplets, and the pair distances
// d_M of the objective.
//
// Model. K rank-one bases b_k (rows of B, K x d) and weights w >= 0 give M = sum_k w_k b_k b_k^T.
// For a triplet t = (a, b, c) (wanted: d_M(a, b) < d_M(a, c)) and basis k let
//     dd_tk = (b_k . (x_a - x_b))^2 - (b_k . (x_a - x_c))^2 = (XB_ck - XB_bk)(2 XB_ak - XB_bk - XB_ck)
// with XB = X B^T (n x K), so that d_M(a, b) - d_M(a, c) = sum_k w_k dd_tk.
//
// Step (iteration i = 0, 1, ..., batch J_i of triplet indices, |J_i| = s, delta = 1e-3):
//     slack_j = 1 + sum_k w_k dd_jk                                   j in J_i
//     g_k     = sum_{j in J_i, slack_j > 0} dd_jk / s                  (hinge subgradient)
//     avg_k   = (i avg_k + g_k) / (i + 1)                              (dual average)
//     ada_k   = sqrt(ada_k^2 + g_k^2)                                  (AdaGrad norm)
//     w_k     = -(i + 1) / (gamma (delta + ada_k)) min(avg_k + beta, 0)   (prox of beta |w|_1, w >= 0)
// (metric-learn 0.7's step). A repeated index in a batch counts as often as it occurs. The state
// kept is S_k = (i + 1) avg_k, the sum of the gradients, and Q_k = ada_k, so that
//     w_k = max(-(S_k + (i + 1) beta), 0) / (gamma (delta + Q_k))
// (the same number up to rounding). Between two steps with a nonzero gradient S and Q stay put and
// the weights only shrink (beta >= 0): a step sums dd over the active bases (w_k > 0) only, and
// touches all K bases only for a batch triplet with positive slack (its dd row) and the update.
//
// Layout and cost. The slacks read a compact copy of the active columns of XB (n x cap row-major, a
// superset of the active set, inactive entries weighted 0): three contiguous runs of |C| doubles per
// batch triplet, ~7 flops each. A basis turning active is appended as a column; the copy is rebuilt
// from the active set when it holds more than twice the active bases + 32 or is full. A triplet
// with positive slack reads its three full XB rows (3 K doubles) and the update costs ~10 K flops
// with K square roots and divisions. The steps run on the calling thread (a step depends on the
// previous one), so results never depend on a thread count; sums over the bases use 8 fixed lanes.
// An AVX2 + FMA version (function-level target attribute) is used when the CPU has it.
//
// Pair forms: q_p = (y_i - y_j) . (x_i - x_j) = d_M(x_i, x_j) with Y = X M (n x d) (M symmetric),
// for the distinct pairs of the triplets (the objective's slacks are 1 + q_ab - q_ac): 3 d flops per
// pair; one independent value per pair, parallel over pairs, the same for every thread count.
#pragma once
#include <cstdint>
#include <memory>

#include "fastmetric/types.hpp"

namespace fastmetric {
namespace learn {

// The steps over triplets (m x 3 point indices < n) and XB (n x K row-major), both kept by pointer
// (they must outlive the object). The state -- gradient sums S, AdaGrad norms Q, the compact
// columns -- persists between run() calls, which continue the iterations. Throws
// std::invalid_argument on bad sizes, parameters or indices (checked before any step).
class ScmlSteps {
public:
    struct Impl;
    ScmlSteps(const double* XB, index_t n, index_t K, const std::int64_t* triplets, index_t m, index_t batch_size,
              double beta, double gamma, bool use_simd = true);
    ~ScmlSteps();
    ScmlSteps(const ScmlSteps&) = delete;
    ScmlSteps& operator=(const ScmlSteps&) = delete;
    // n_steps steps on batches[s * batch_size ..] (triplet indices); w (K) receives the weights after
    // the last one. Returns the number of batch triplets with positive slack.
    std::int64_t run(const std::int64_t* batches, index_t n_steps, double* w);
    index_t n_bases() const;
    index_t batch_size() const;
    std::int64_t iterations() const;
    const double* gradient_sums() const;  // S (K)
    const double* ada_norms() const;      // Q (K)

private:
    std::unique_ptr<Impl> impl_;
};

// out[p] = (Y[i] - Y[j]) . (X[i] - X[j]) for each pair (i, j) (m x 2); X, Y n x d row-major.
void scml_pair_forms(const double* X, const double* Y, index_t n, index_t d, const std::int64_t* pairs, index_t m,
                     double* out, int n_threads);

}  // namespace learn
}  // namespace fastmetric
