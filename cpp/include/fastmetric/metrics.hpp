// Metric and kernel names -> a configured Problem for the tiled driver.
//
//  name              reduce   post     per-row / per-column preparation
//  sqeuclidean       sq_dot   -        centre on the mean of X and Y (column shift), squared norms
//  euclidean         sq_dot   sqrt     "
//  seuclidean        sq_dot   sqrt     " + column scale 1/sqrt(V)
//  mahalanobis       sq_dot   sqrt     rows mapped to L(x - c) first (one dot pass against L)
//  cosine            cos_dot  -        unit rows (zero rows: distance 1, similarity 0)
//  correlation       cos_dot  -        rows centred on their own mean, then unit
//  cityblock         l1       -
//  chebyshev         linf     -
//  minkowski         l1 | sq_dot | linf | lp, root_p for general p
//  linear            dot      -
//  polynomial        dot      poly     (gamma x.y + coef0)^degree
//  sigmoid           dot      tanh     tanh(gamma x.y + coef0)
//  rbf               sq_dot   exp_neg  exp(-gamma |x-y|^2), optionally in a metric L (or VI)
//  laplacian         l1       exp_neg  exp(-gamma |x-y|_1), optionally after mapping by L
//  cosine_similarity dot      -        unit rows
//  chi2              chi2     exp_neg  exp(-gamma sum (x-y)^2/(x+y))
//  additive_chi2     chi2     negate
#pragma once
#include <string>
#include <vector>

#include "fastmetric/engine.hpp"

namespace fastmetric {

template <class T>
struct MetricArgs {
    std::string metric;
    double p = 2, gamma = 1, coef0 = 1, degree = 3;
    const T* V = nullptr;  // seuclidean variances, length d
    MatrixView<T> L{};     // optional k x d map (mahalanobis: required)
    int n_threads = 1;
    // Centre on the mean of X only (the queries) instead of X and Y stacked: the search then packs
    // identical values whichever block of references it meets, so split-and-merge searches agree.
    bool centre_on_x = false;
    // issue 16 part 1 (scipy_metrics.cpp): scipy's w= (length d, validated >= 0 and finite by the
    // Python layer) and jensenshannon's base (0: natural log)
    const T* w = nullptr;
    double js_base = 0;
    // fastmetric.dask (issue 14): a given column shift (length n_features, in the input space)
    // replaces the stacked mean, so a block pair of a larger problem packs exactly the values the
    // whole problem would (same distances bit for bit). nullptr: the stacked mean.
    const T* shift = nullptr;
};

// Owns every array the Problem points at.
template <class T>
struct PreparedProblem {
    Problem<T> pb;
    std::vector<T> col_shift, col_scale, x_shift, x_scale, y_shift, y_scale, x_norm, y_norm, xt, yt;
    std::vector<T> x_penalty, y_penalty, kw;  // issue 16 part 1
    bool is_distance = true;
};

// X (n x d), Y (m x d); y_is_x: Y aliases X (symmetric problem, half the work).
template <class T>
void prepare_problem(PreparedProblem<T>& pp, const MetricArgs<T>& args, MatrixView<T> X, MatrixView<T> Y,
                     bool y_is_x);

// issue 16 part 1 (scipy_metrics.cpp), called by prepare_problem: braycurtis / canberra /
// jensenshannon and the weighted cosine / correlation are configured completely (returns true);
// for the other metrics scipy weights, the weights are turned into pp.col_scale (returns false) and
// finish_scipy_weights points the operands at it once the metric's reduction is known.
template <class T>
bool prepare_scipy_metric(PreparedProblem<T>& pp, const MetricArgs<T>& a, MatrixView<T> X, MatrixView<T> Y,
                          bool y_is_x);
template <class T>
void finish_scipy_weights(PreparedProblem<T>& pp, const MetricArgs<T>& a);

// X L^T for an arbitrary k x d L, through the driver's dot path (with an optional column shift).
template <class T>
void linear_map(MatrixView<T> X, const T* shift, MatrixView<T> L, T* out, int n_threads);

}  // namespace fastmetric
