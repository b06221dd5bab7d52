// A linear learner's loss on the pair sweep: Z = X L^T through the engine, the sweep on Z
// (pair_sweep.hpp), then dloss/dL = G^T X. NCA and MLKR differ only in the objective.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "fastmetric/learn/bt_x.hpp"
#include "fastmetric/learn/pair_sweep.hpp"
#include "fastmetric/types.hpp"

namespace fastmetric {
namespace learn {

// X (n x d) is not copied: it must outlive the problem. y: class codes (nca) or targets (mlkr).
template <class T>
class LinearSweep {
  public:
    LinearSweep(MatrixView<T> X, const double* y, PairObjective objective,
                std::size_t cache_bytes = std::size_t(64) << 20);

    // The objective's loss for L (k x d); grad (k x d, row-major) = dloss/dL; pred (n, optional)
    // the sweep's per-row predictions. Throws std::invalid_argument before any thread starts.
    double loss_grad(MatrixView<T> L, double* grad, double* pred, int n_threads,
                     SweepMode mode = SweepMode::automatic);

    PairSweep<T>& sweep() { return sweep_; }
    std::int64_t n_samples() const { return X_.rows; }
    std::int64_t n_features() const { return X_.cols; }

  private:
    MatrixView<T> X_;
    PairSweep<T> sweep_;
    std::vector<T> z_;
    std::vector<double> g_;
    BtXWorkspace btx_;
};

}  // namespace learn
}  // namespace fastmetric
