// Streaming (online) log-sum-exp state of one row, shared by the NCA and MLKR sweeps.
//
// Holds s = sum_j exp(m - d_j) and a weighted sum w = sum_j exp(m - d_j) * weight_j (NCA: the
// same-class indicator; MLKR: the regression target y_j), with m the smallest distance met so far.
// Lowering m rescales both sums by exp(m_new - m_old) <= 1, so nothing overflows and the terms of the
// nearest pairs never underflow. merge() combines the states of two disjoint column ranges; callers
// merge in a fixed order so results do not depend on the thread count.
#pragma once
#include <cmath>
#include <limits>

namespace fastmetric {
namespace learn {

struct StreamingLse {
    double m = std::numeric_limits<double>::infinity();
    double s = 0, w = 0;
    void lower_to(double new_m) {
        if (new_m < m) {
            const double f = std::isinf(m) ? 0.0 : std::exp(new_m - m);
            s *= f;
            w *= f;
            m = new_m;
        }
    }
    void merge(const StreamingLse& o) {
        if (std::isinf(o.m)) return;
        lower_to(o.m);
        const double f = std::exp(m - o.m);
        s += o.s * f;
        w += o.w * f;
    }
};

}  // namespace learn
}  // namespace fastmetric
