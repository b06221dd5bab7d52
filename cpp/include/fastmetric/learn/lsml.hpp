// Least-Squares Metric Learning (Liu, Mu, Wang & Sun, ICDM 2012) as metric-learn 0.7 states it:
// the per-iteration work over the comparisons that the descent in python/fastmetric/learn/lsml.py
// asks for. The d x d algebra (Cholesky, eigenvalues, the LogDet term) stays in LAPACK there.
//
// Problem. Points P (n x d), 2m index pairs: pairs[i] = (a_i, b_i) and pairs[m + i] = (c_i, d_i) for
// comparison i, meaning d_M(a, b) < d_M(c, d), weight w_i >= 0. Comparison i is violated when
// q_i > q_{m+i} for the forms q_p = d_M^2 of the pairs; its residual is
// r_i = sqrt(q_i) - sqrt(q_{m+i}) (forms clamped at 0 first, a rounding guard) and the comparison
// loss is sum over the violated i of w_i r_i^2.
//
// Forms. q_p = (y_a - y_b) . (x_a - x_b) with Y = P M: one GEMM over the n points (2 n d^2 flops)
// and 3 d flops per pair (scml_pair_forms, learn/scml.hpp), instead of 2 d^2 flops per pair from the
// differences (digits: 1,257 points against 4,000 differences).
//
// Gradient. d/dM of w (sqrt(u^T M u) - sqrt(v^T M v))^2 for u = a - b, v = c - d is
//     c_ab u u^T + c_cd v v^T,  c_ab = w (1 - s_cd / s_ab),  c_cd = w (1 - s_ab / s_cd)  (0 when s_cd = 0)
// with s = sqrt(q). Summed over the violated comparisons this is P^T R with the rows
//     R[a] += c (x_a - x_b),  R[b] -= c (x_a - x_b)  for every pair (a, b) and its coefficient c
// (P^T L P for the pairs' weighted graph Laplacian L, R = L P): 4 d flops per pair and one GEMM over
// the points, not an outer product per difference -- or, when fewer pairs than points are active
// (violated), D^T diag(c) D over the active differences D: one GEMM with K = the active pairs.
// Differences given directly are points too: a pair (u, z) with z a zero row of P has q = u^T M u
// and contributes c u u^T.
//
// Step losses. The line search scores candidates M - t G, whose forms are q - t g (g the forms of G),
// with no pass over the points: the comparison loss of q - t_s g for each step t_s.
//
// Descent (descend). metric-learn's loop: at M, the gradient G of the objective, then 10 candidate
// steps M - t_s G (t_s = steps[s] / |G|_F), each projected onto eigenvalues >= floor, the best one
// that lowers the loss kept; stop when |G|_F < tol or no candidate lowers it. Done here with one
// pass over the points per iteration for G and its forms g: with M = R^T R (Cholesky) and the
// eigenvalues mu of K = R^-T G R^-1, M - tG = R^T (I - tK) R, so every candidate's log det is
// log det M + sum log(1 - t mu), and lambda_min(M - tG) >= lambda_min(M) min(1 - t mu) certifies
// that the projection leaves it unchanged; its forms are then q - t g (no pass). The others (large
// steps) are decided by their eigendecomposition, and a projected one gets a forms pass.
//
// Layout and threads. P is kept by pointer (it must outlive the object) and packed at construction
// for both GEMMs (the engine's double micro-kernel, BLIS panels); the gradient's GEMM computes only
// the tiles reaching the upper triangle and mirrors them (P^T R is symmetric). Each output tile is
// one micro-kernel call over the whole contraction and each pair form one dot; the loss sums run
// over the comparisons in order on the calling thread, and each thread adds the gradient rows of
// whole column panels, pair by pair in sorted order. So results do not depend on the thread count.
// Throws std::invalid_argument on bad sizes, weights or indices (checked at construction).
#pragma once
#include <cstdint>
#include <vector>

#include "fastmetric/kernels.hpp"
#include "fastmetric/learn/bt_x.hpp"
#include "fastmetric/types.hpp"

namespace fastmetric {
namespace learn {

class LsmlProblem {
public:
    struct Active {  // a pair of a violated comparison and its gradient coefficient
        std::int64_t a, b;
        double coef;
    };
    LsmlProblem(const double* P, index_t n, index_t d, const std::int64_t* pairs, index_t m, const double* w,
                int n_threads = 0);
    // q (2m) = d_M^2 of every pair for the symmetric M (d x d, row-major).
    void forms(const double* M, double* q);
    // G (d x d) = gradient of the comparison loss with respect to M at the forms q (2m), up to
    // rounding symmetric; returns the comparison loss at q.
    double gradient(const double* q, double* G);
    // One iteration's passes: G (d x d) = the symmetrised H + gradient(q) -- H the rest of the
    // objective's gradient --, and g (2m) = the forms of G. Returns the comparison loss at q.
    double descent_direction(const double* q, const double* H, double* G, double* g);
    // out[s] = comparison loss of the forms q - ts[s] g (q, g: 2m), s < n_steps.
    void step_losses(const double* q, const double* g, const double* ts, index_t n_steps, double* out) const;

    struct Descent {
        std::vector<double> M;          // d x d, the metric reached
        index_t n_iter = 0;             // metric-learn's count: the iteration that stopped, or max_iter
        bool converged = false;         // stopped by tol or by no lowering step (false: max_iter ran out)
        std::vector<double> losses;     // the best loss after iteration 0 (start), 1, 2, ...; the last: at M
        std::vector<double> grad_norms; // |G|_F of those iterations (NaN for the start)
    };
    // The descent from M0 (symmetric positive definite) with prior_inv = M0_prior^-1 (symmetric) in
    // the LogDet term tr(M prior_inv) - log det M; steps (n_steps): the step lengths times |G|_F.
    // Throws std::runtime_error if M loses positive definiteness to rounding (never seen).
    Descent descend(const double* M0, const double* prior_inv, const double* steps, index_t n_steps, double floor,
                    double tol, index_t max_iter);
    index_t n_points() const { return n_; }
    index_t n_features() const { return d_; }
    index_t n_comparisons() const { return m_; }

private:
    index_t n_, d_, m_;
    int threads_;
    int mr_, nr_;
    const KernelTable<double>* kd_;     // the instruction set the panels were packed for
    const double* P_;                   // n x d, the caller's
    std::vector<std::int64_t> pairs_;   // 2m x 2: (min, max) of each pair, sorted
    std::vector<double> w_;             // m
    std::vector<double> p_rows_;        // P in MR-row panels, k over the d features  (Y = P M)
    std::vector<double> p_cols_;        // P^T in MR-row panels, k over the n points   (G = P^T R)
    std::vector<double> b_pack_;        // M or R in NR-column panels
    std::vector<double> diff_rows_;     // the active pairs' differences D in MR-row panels (G = D^T diag(c) D)
    std::vector<double> diff_cols_;     // diag(c) D in NR-column panels
    std::vector<double> tiles_, Y_;     // the forms' GEMM output (Y = P M) and its copy when padded
    std::vector<double> grad_tiles_;    // the gradient GEMM's output (kept apart: no re-zeroing on resize)
    std::vector<index_t> order_;        // pair indices in the sorted order of pairs_
    std::vector<double> qs_, cp_;       // forms in sorted order; gradient coefficient per pair
    std::vector<index_t> upper_;        // the gradient GEMM's tiles that reach the upper triangle
    std::vector<Active> active_;        // the pairs with a coefficient, sorted
    BtXWorkspace small_ws_;             // the descent's d x d products
    // out (d x d) = B^T X for B (d x d, row-major) and the d x d view X: learn/bt_x.hpp, one thread
    void bt_x(const double* B, MatrixView<double> X, double* out);
};

}  // namespace learn
}  // namespace fastmetric
