// Information-Theoretic Metric Learning (Davis, Kulis, Jain, Sra & Dhillon 2007): one sweep of
// Bregman projections with slack over the pair constraints.
//
// Formula. For constraint c with difference u_c = x_a - x_b, sign delta_c = +1 (similar: wants
// u^T A u <= bhat_c) or -1 (dissimilar: wants u^T A u >= bhat_c), dual variable lambda_c >= 0,
// slack parameter gamma > 0 (+inf: hard constraints), gp = gamma / (gamma + 1) (1 when gamma = inf):
//     p     = u^T A u
//     alpha = min(lambda_c, gp (1/p - 1/bhat_c))                  similar
//             min(lambda_c, gp (1/bhat_c - 1/p))                  dissimilar
//     beta  = alpha / (1 - alpha p)  |  -alpha / (1 + alpha p)
//     bhat_c <- 1 / (1/bhat_c + alpha/gamma)  |  1 / (1/bhat_c - alpha/gamma)
//     lambda_c <- lambda_c - alpha
//     A <- A + beta (A u)(A u)^T
// (Davis et al.'s Algorithm 1 as in their reference MATLAB code and metric-learn 0.7.) The updates
// keep A positive definite in exact arithmetic: 1 - alpha p > 0 and 1 + alpha p > 1 - gp >= 0.
//
// Cost and layout. A is d x d row-major double and exactly symmetric: the rank-one update adds
// beta * (v_i v_j), a product that is bitwise the same for (i, j) and (j, i). Constraint c's update
// is fused with constraint c+1's product A u_{c+1} = sum_j u_{c+1, j} A_j (A symmetric): one pass
// over A per constraint, in column blocks of 16 so the accumulators stay in registers.
// The sweep is sequential by nature (each projection depends on the previous one); it runs on the
// calling thread, so results never depend on a thread count. An AVX2+FMA version is selected at
// run time when the engine's instruction set is AVX2 or AVX-512 (function-level target attribute,
// no global flags); the portable version is the oracle.
//
// Edge cases: a constraint whose current p is not a positive finite number (zero difference, or a
// direction the metric has collapsed) is skipped for this sweep; its lambda and bhat are unchanged.
#pragma once
#include <cstdint>

#include "fastmetric/types.hpp"

namespace fastmetric {
namespace learn {

struct ItmlSweepStats {
    double l1_change = 0;   // sum_c |lambda_c(after) - lambda_c(before)|
    double norm_before = 0; // |lambda(before)|_2
    double norm_after = 0;  // |lambda(after)|_2
    std::int64_t skipped = 0;
};

// One pass over the m constraints in order. A (d x d, in/out), U (m x d, row-major differences),
// sign (m, +1 / -1), lambda and bhat (m, in/out). Throws std::invalid_argument on bad sizes. The vector
// loops are the engine's double KernelTable entries (vdot, rank1_apply): its instruction set, or the
// portable table when use_simd is false.
ItmlSweepStats itml_sweep(double* A, std::int64_t d, const double* U, std::int64_t m, const std::int8_t* sign,
                          double* lambda, double* bhat, double gamma, bool use_simd = true);

}  // namespace learn
}  // namespace fastmetric
