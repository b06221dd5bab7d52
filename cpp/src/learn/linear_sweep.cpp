// Z = X L^T, the pair sweep, G^T X: see fastmetric/learn/linear_sweep.hpp.
#include "fastmetric/learn/linear_sweep.hpp"

#include <stdexcept>
#include <string>

#include "fastmetric/metrics.hpp"  // linear_map: Z = X L^T through the engine

namespace fastmetric {
namespace learn {

template <class T>
LinearSweep<T>::LinearSweep(MatrixView<T> X, const double* y, PairObjective objective, std::size_t cache_bytes)
    : X_(X), sweep_(y, X.rows, objective, cache_bytes) {
    if (X.cols < 1) throw std::invalid_argument("at least 1 feature is needed");
}

template <class T>
double LinearSweep<T>::loss_grad(MatrixView<T> L, double* grad, double* pred, int n_threads, SweepMode mode) {
    if (L.cols != X_.cols)
        throw std::invalid_argument("L has " + std::to_string(L.cols) + " columns; X has " + std::to_string(X_.cols) +
                                    " features");
    if (L.rows < 1) throw std::invalid_argument("L must have at least one row");
    const index_t n = X_.rows, k = L.rows;
    z_.resize(size_t(n * k));
    linear_map<T>(X_, nullptr, L, z_.data(), n_threads);
    const MatrixView<T> Z{z_.data(), n, k, k, 1};
    g_.resize(size_t(n * k));
    const double loss = sweep_.evaluate(Z, g_.data(), pred, n_threads, mode);
    scaled_bt_x<T>(g_.data(), k, X_, 1.0, grad, n_threads, btx_);
    return loss;
}

template class LinearSweep<float>;
template class LinearSweep<double>;

}  // namespace learn
}  // namespace fastmetric
