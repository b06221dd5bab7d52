// Neighbourhood Components Analysis (Goldberger et al. 2004) as an objective of the pair sweep
// (pair_sweep.hpp): with p_ij the leave-one-out softmax of -|z_i - z_j|^2 over row i,
//     p_i = sum_{j: y_j = y_i} p_ij,    loss = -sum_i p_i   (scikit-learn's objective, minimised),
//     dloss/dZ = 2 b,   S_ij = p_ij (m_ij - p_i) + p_ji (m_ij - p_j),   m_ij = [y_i == y_j]
// (scikit-learn writes the same gradient as 2 (W + W^T - diag(colsum W)) Z, W_ij = p_ij (m_ij - p_i)).
#pragma once

namespace fastmetric {
namespace learn {

struct NcaObjective {
    // pair weight w(i, j) in the prediction q_i = sum_j p_ij w(i, j): the same-class indicator
    template <class T>
    static T weight(T yi, T yj) { return yi == yj ? T(1) : T(0); }
    // from row i's prediction q_i = p_i: its loss term and its factors in S (alpha_i w_ij - beta_i)
    static void finish(double q, double /*y*/, double& loss_term, double& alpha, double& beta) {
        loss_term = -q;
        alpha = 1.0;
        beta = q;
    }
    static constexpr double scale = 2.0;  // dloss/dZ = scale * b
};

}  // namespace learn
}  // namespace fastmetric
