// Metric Learning for Kernel Regression (Weinberger & Tesauro 2007) as an objective of the pair sweep
// (pair_sweep.hpp): with p_ij the leave-one-out softmax of -|z_i - z_j|^2 over row i,
//     yhat_i = sum_j p_ij y_j,   e_i = yhat_i - y_i,   loss = sum_i e_i^2   (minimised),
//     dloss/dZ = -4 b,   S_ij = p_ij e_i (y_j - yhat_i) + p_ji e_j (y_i - yhat_j)
// (sum_j W_ij = 0 for W_ij = p_ij e_i (y_j - yhat_i), so this equals metric-learn's 4 W_sym form).
#pragma once

namespace fastmetric {
namespace learn {

struct MlkrObjective {
    // pair weight w(i, j) in the prediction q_i = sum_j p_ij w(i, j): the other point's target
    template <class T>
    static T weight(T /*yi*/, T yj) { return yj; }
    // from row i's prediction q_i = yhat_i: its loss term and its factors in S (alpha_i w_ij - beta_i)
    static void finish(double q, double y, double& loss_term, double& alpha, double& beta) {
        const double e = q - y;
        loss_term = e * e;
        alpha = e;
        beta = e * q;
    }
    static constexpr double scale = -4.0;  // dloss/dZ = scale * b
    // S_ij from one exponential E shared by both sides (see NcaObjective), w_ij = y_j, w_ji = y_i
    template <class T>
    static T s_shared(T E, T ai, T abi, T yi, T aj, T abj, T yj) {
        return E * ((ai * yj - abi) + (yi * aj - abj));
    }
    // rows swept in the caller's order (measured: sorting by target did not pay)
    static constexpr bool sort_rows = false;
    static constexpr bool class_weights = false;
};

}  // namespace learn
}  // namespace fastmetric
