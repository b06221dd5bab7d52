// The sinks of the dense and condensed outputs: finished tile rows copied (streamed, for outputs far
// larger than the caches) into the result, mirrored for symmetric calls.
#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include "fastmetric/engine.hpp"

namespace fastmetric {

namespace {
// Outputs larger than this are written with non-temporal stores (no read-for-ownership).
constexpr double kStreamBytesDefault = 16e6;
double stream_bytes() {
    static const double v = [] {
        const char* e = std::getenv("FM_STREAM_BYTES");
        return e ? std::atof(e) : kStreamBytesDefault;
    }();
    return v;
}

template <class T>
struct DenseSink final : Sink<T> {
    T* out;
    index_t ldo;
    bool mirror;
    const KernelTable<T>* stream = nullptr;  // non-null: stream rows out
    DenseSink(T* o, index_t l, bool m) : out(o), ldo(l), mirror(m) {}
    void row(int, int, index_t i, index_t j0, T* vals, index_t n) override {
        if (stream)
            stream->stream_copy(out + i * ldo + j0, vals, n);
        else
            std::memcpy(out + i * ldo + j0, vals, size_t(n) * sizeof(T));
        if (mirror)
            for (index_t q = 0; q < n; ++q)
                if (j0 + q != i) out[(j0 + q) * ldo + i] = vals[q];
    }
};
template <class T>
struct CondensedSink final : Sink<T> {
    T* out;
    index_t n;
    const KernelTable<T>* stream = nullptr;
    CondensedSink(T* o, index_t nn) : out(o), n(nn) {}
    void row(int, int, index_t i, index_t j0, T* vals, index_t cnt) override {
        if (j0 == i) {  // skip the diagonal
            ++vals;
            ++j0;
            --cnt;
        }
        if (cnt <= 0) return;
        const index_t base = i * n - i * (i + 1) / 2;  // offset of (i, i+1)
        if (stream)
            stream->stream_copy(out + base + (j0 - i - 1), vals, cnt);
        else
            std::memcpy(out + base + (j0 - i - 1), vals, size_t(cnt) * sizeof(T));
    }
};
}  // namespace

template <class T>
void pairwise_dense(const Problem<T>& pb, T* out, index_t ldo) {
    DenseSink<T> s(out, ldo, pb.symmetric);
    const double bytes = double(pb.x.m.rows) * double(pb.y.m.rows) * sizeof(T);
    if (!pb.symmetric && bytes > stream_bytes()) s.stream = &active_kernels<T>();
    run_pairwise(pb, s);
    if (s.stream) s.stream->stream_fence();
}
template <class T>
void pairwise_condensed(const Problem<T>& pb, T* out) {
    if (!pb.symmetric) throw std::invalid_argument("condensed output needs a symmetric problem");
    CondensedSink<T> s(out, pb.x.m.rows);
    const double bytes = 0.5 * double(pb.x.m.rows) * double(pb.x.m.rows) * sizeof(T);
    if (bytes > stream_bytes()) s.stream = &active_kernels<T>();
    run_pairwise(pb, s);
    if (s.stream) s.stream->stream_fence();
}

#define FM_INSTANTIATE(T)                                            \
    template void pairwise_dense<T>(const Problem<T>&, T*, index_t); \
    template void pairwise_condensed<T>(const Problem<T>&, T*);
FM_INSTANTIATE(float)
FM_INSTANTIATE(double)
#undef FM_INSTANTIATE

}  // namespace fastmetric
