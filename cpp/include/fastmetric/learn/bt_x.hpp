// out = scale * B^T X, shared by the learners' gradients (the chain rule from dloss/dZ to dloss/dL).
// Internal: not part of the library's interface.
#pragma once
#include <cstdint>
#include <vector>

#include "fastmetric/types.hpp"

namespace fastmetric {
namespace learn {

// out (k x d, row-major) = scale * B^T X for B (n x k, double, row-major) and X (n x d), through the
// double dot micro-kernel. X is packed into ws on first use and reused while the same X is passed.
// Each output tile is one call over all n rows, so the result does not depend on n_threads.
struct BtXWorkspace {
    std::vector<double> xpack, bpack, gbuf;
    int x_nr = 0;
    std::int64_t x_rows = -1;
    const void* x_data = nullptr;
};
template <class T>
void scaled_bt_x(const double* B, std::int64_t k, MatrixView<T> X, double scale, double* out, int n_threads,
                 BtXWorkspace& ws);

}  // namespace learn
}  // namespace fastmetric
