// scale * B^T X for the learners' gradients: see fastmetric/learn/bt_x.hpp.
#include "fastmetric/learn/bt_x.hpp"

#include "fastmetric/engine.hpp"
#include "fastmetric/kernels.hpp"

namespace fastmetric {
namespace learn {

template <class T>
void scaled_bt_x(const double* B, index_t k, MatrixView<T> X, double scale, double* out, int n_threads,
                 BtXWorkspace& ws) {
    const KernelTable<double>& kd = active_kernels<double>();
    const index_t n = X.rows, d = X.cols, mr = kd.mr, nr = kd.nr;
    const index_t kp = (k + mr - 1) / mr, dp = (d + nr - 1) / nr;
    if (ws.x_nr != kd.nr || ws.x_rows != n || ws.x_data != static_cast<const void*>(X.data)) {
        // X (K = n) in NR-column panels of doubles, kept for the next calls on the same X
        ws.xpack.assign(size_t(dp * nr * n), 0.0);
        for (index_t q = 0; q < dp; ++q)
            for (index_t i = 0; i < n; ++i) {
                const T* xi = X.row(i);
                double* dst = ws.xpack.data() + (q * n + i) * nr;
                for (index_t c = 0; c < nr && q * nr + c < d; ++c) dst[c] = double(xi[(q * nr + c) * X.col_stride]);
            }
        ws.x_nr = kd.nr;
        ws.x_rows = n;
        ws.x_data = X.data;
    }
    ws.bpack.assign(size_t(kp * mr * n), 0.0);
    for (index_t pp = 0; pp < kp; ++pp)
        for (index_t i = 0; i < n; ++i) {
            double* dst = ws.bpack.data() + (pp * n + i) * mr;
            for (index_t r = 0; r < mr && pp * mr + r < k; ++r) dst[r] = B[i * k + pp * mr + r];
        }
    const index_t ldg = dp * nr;
    ws.gbuf.assign(size_t(kp * mr * ldg), 0.0);
    // each output tile is one micro-kernel call over all n rows: no cross-thread reduction
    auto tile = [&](index_t t) {
        const index_t pp = t / dp, q = t % dp;
        kd.dot(n, ws.bpack.data() + pp * n * mr, ws.xpack.data() + q * n * nr, ws.gbuf.data() + pp * mr * ldg + q * nr,
               ldg, false);
    };
    const index_t ntile = kp * dp;
    const int nt = resolve_threads(n_threads);
    parallel_for_dynamic(n * k * d > 500000 ? nt : 1, ntile, 1, [&](int, index_t t) { tile(t); });
    for (index_t r = 0; r < k; ++r)
        for (index_t c = 0; c < d; ++c) out[r * d + c] = scale * ws.gbuf[size_t(r * ldg + c)];
}

template void scaled_bt_x<float>(const double*, index_t, MatrixView<float>, double, double*, int, BtXWorkspace&);
template void scaled_bt_x<double>(const double*, index_t, MatrixView<double>, double, double*, int, BtXWorkspace&);

}  // namespace learn
}  // namespace fastmetric
