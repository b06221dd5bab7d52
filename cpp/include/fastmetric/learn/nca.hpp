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
    // S_ij from one exponential E shared by both sides, with a = F alpha, ab = F beta of row i and
    // column j: E ((a_i w_ij - ab_i) + (a_j w_ji - ab_j)), here with w_ij = w_ji = [y_i == y_j]
    template <class T>
    static T s_shared(T E, T ai, T abi, T yi, T aj, T abj, T yj) {
        return E * ((yi == yj ? ai + aj : T(0)) - (abi + abj));
    }
    // rows swept sorted by class: the pairs that weigh something gather in blocks near the diagonal,
    // and the weights of a row are 1 on one contiguous range of columns (its class), 0 elsewhere
    static constexpr bool sort_rows = true;
    static constexpr bool class_weights = true;
};

}  // namespace learn
}  // namespace fastmetric
