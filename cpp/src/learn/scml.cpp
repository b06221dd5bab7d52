// SCML's AdaGrad steps and triplet margins: see fastmetric/learn/scml.hpp for the formulas.
#include "fastmetric/learn/scml.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <vector>

#include "fastmetric/cpu_features.hpp"
#include "fastmetric/parallel.hpp"

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define FM_SCML_X86 1
#define FM_SCML_INLINE inline __attribute__((always_inline))
#else
#define FM_SCML_INLINE inline
#endif

namespace fastmetric {
namespace learn {
namespace {

constexpr int kLanes = 8;
constexpr double kDelta = 1e-3;  // metric-learn's slack against dividing by zero

// dd_k for one triplet into out (K), returns sum_k w_k dd_k (8 lanes, then lanes 0..7 in order).
FM_SCML_INLINE double dd_row(const double* xa, const double* xb, const double* xc, const double* w, index_t K,
                             double* out) {
    double acc[kLanes] = {0, 0, 0, 0, 0, 0, 0, 0};
    index_t k = 0;
    for (; k + kLanes <= K; k += kLanes) {
        for (int l = 0; l < kLanes; ++l) {
            const double a = xa[k + l], b = xb[k + l], c = xc[k + l];
            const double v = (c - b) * ((a - b) + (a - c));
            out[k + l] = v;
            acc[l] += w[k + l] * v;
        }
    }
    for (int l = 0; k < K; ++k, ++l) {
        const double a = xa[k], b = xb[k], c = xc[k];
        const double v = (c - b) * ((a - b) + (a - c));
        out[k] = v;
        acc[l] += w[k] * v;
    }
    double s = 0;
    for (int l = 0; l < kLanes; ++l) s += acc[l];
    return s;
}

FM_SCML_INLINE std::int64_t steps_body(const double* XB, index_t K, const std::int64_t* tri, const std::int64_t* batches,
                                       index_t n_steps, index_t bs, std::int64_t first_iter, double beta, double gamma,
                                       double* w, double* avg, double* ada, double* buf, double* g) {
    std::int64_t active_total = 0;
    const double inv_bs = 1.0 / double(bs);
    for (index_t s = 0; s < n_steps; ++s) {
        const double it = double(first_iter + s);
        const std::int64_t* J = batches + s * bs;
        int n_active = 0;
        for (index_t j = 0; j < bs; ++j) {
            const std::int64_t* t = tri + 3 * J[j];
            const double slack = 1.0 + dd_row(XB + t[0] * K, XB + t[1] * K, XB + t[2] * K, w, K, buf + n_active * K);
            if (slack > 0) ++n_active;  // keep this row: the next one is written after it
        }
        active_total += n_active;
        for (index_t k = 0; k < K; ++k) g[k] = 0.0;
        for (int j = 0; j < n_active; ++j) {
            const double* r = buf + j * K;
            for (index_t k = 0; k < K; ++k) g[k] += r[k];
        }
        const double inv_next = 1.0 / (it + 1.0);
        for (index_t k = 0; k < K; ++k) {
            const double gk = g[k] * inv_bs;
            const double a = (it * avg[k] + gk) * inv_next;
            const double q = std::sqrt(ada[k] * ada[k] + gk * gk);
            avg[k] = a;
            ada[k] = q;
            const double scale = -(it + 1.0) / (gamma * (kDelta + q));
            w[k] = scale * std::min(a + beta, 0.0);
        }
    }
    return active_total;
}

std::int64_t steps_generic(const double* XB, index_t K, const std::int64_t* tri, const std::int64_t* batches,
                           index_t n_steps, index_t bs, std::int64_t first_iter, double beta, double gamma, double* w,
                           double* avg, double* ada, double* buf, double* g) {
    return steps_body(XB, K, tri, batches, n_steps, bs, first_iter, beta, gamma, w, avg, ada, buf, g);
}

#ifdef FM_SCML_X86
__attribute__((target("avx2,fma"))) std::int64_t steps_avx2(const double* XB, index_t K, const std::int64_t* tri,
                                                             const std::int64_t* batches, index_t n_steps, index_t bs,
                                                             std::int64_t first_iter, double beta, double gamma,
                                                             double* w, double* avg, double* ada, double* buf,
                                                             double* g) {
    return steps_body(XB, K, tri, batches, n_steps, bs, first_iter, beta, gamma, w, avg, ada, buf, g);
}
#endif

FM_SCML_INLINE void margins_body(const double* X, const double* Y, index_t d, const std::int64_t* t, double* out) {
    const double* xa = X + t[0] * d;
    const double* xb = X + t[1] * d;
    const double* xc = X + t[2] * d;
    const double* yb = Y + t[1] * d;
    const double* yc = Y + t[2] * d;
    double acc[kLanes] = {0, 0, 0, 0, 0, 0, 0, 0};
    index_t k = 0;
    for (; k + kLanes <= d; k += kLanes)
        for (int l = 0; l < kLanes; ++l)
            acc[l] += (yc[k + l] - yb[k + l]) * ((xa[k + l] - xb[k + l]) + (xa[k + l] - xc[k + l]));
    for (int l = 0; k < d; ++k, ++l) acc[l] += (yc[k] - yb[k]) * ((xa[k] - xb[k]) + (xa[k] - xc[k]));
    double s = 0;
    for (int l = 0; l < kLanes; ++l) s += acc[l];
    *out = s;
}

void margins_generic(const double* X, const double* Y, index_t d, const std::int64_t* t, double* out) {
    margins_body(X, Y, d, t, out);
}

#ifdef FM_SCML_X86
__attribute__((target("avx2,fma"))) void margins_avx2(const double* X, const double* Y, index_t d,
                                                       const std::int64_t* t, double* out) {
    margins_body(X, Y, d, t, out);
}
#endif

void check_triplets(const std::int64_t* tri, index_t m, index_t n) {
    for (index_t i = 0; i < 3 * m; ++i)
        if (tri[i] < 0 || tri[i] >= n) throw std::invalid_argument("scml: triplet point index out of range");
}

}  // namespace

std::int64_t scml_steps(const double* XB, index_t n, index_t K, const std::int64_t* triplets, index_t m,
                        const std::int64_t* batches, index_t n_steps, index_t batch_size, std::int64_t first_iter,
                        double beta, double gamma, double* w, double* avg, double* ada, bool use_simd) {
    if (K < 1) throw std::invalid_argument("scml: need at least one basis");
    if (m < 1) throw std::invalid_argument("scml: need at least one triplet");
    if (batch_size < 1) throw std::invalid_argument("scml: batch_size must be >= 1");
    if (n_steps < 0 || first_iter < 0) throw std::invalid_argument("scml: negative step count or iteration");
    if (!(gamma > 0)) throw std::invalid_argument("scml: gamma must be > 0");
    check_triplets(triplets, m, n);
    for (index_t i = 0; i < n_steps * batch_size; ++i)
        if (batches[i] < 0 || batches[i] >= m) throw std::invalid_argument("scml: batch triplet index out of range");
    std::vector<double> buf(static_cast<std::size_t>(batch_size * K)), g(static_cast<std::size_t>(K));
#ifdef FM_SCML_X86
    if (use_simd && cpu_has_avx2())
        return steps_avx2(XB, K, triplets, batches, n_steps, batch_size, first_iter, beta, gamma, w, avg, ada,
                          buf.data(), g.data());
#endif
    return steps_generic(XB, K, triplets, batches, n_steps, batch_size, first_iter, beta, gamma, w, avg, ada,
                         buf.data(), g.data());
}

void scml_margins(const double* X, const double* Y, index_t n, index_t d, const std::int64_t* triplets, index_t m,
                  double* out, int n_threads) {
    if (d < 1) throw std::invalid_argument("scml: d must be >= 1");
    check_triplets(triplets, m, n);
    auto fn = &margins_generic;
#ifdef FM_SCML_X86
    if (cpu_has_avx2()) fn = &margins_avx2;
#endif
    const int nt = resolve_threads(n_threads);
    const index_t chunk = 1024;
    const index_t nchunks = (m + chunk - 1) / chunk;
    parallel_for_dynamic(nt, nchunks, 1, [&](int, index_t c) {
        const index_t e = std::min(m, (c + 1) * chunk);
        for (index_t t = c * chunk; t < e; ++t) fn(X, Y, d, triplets + 3 * t, out + t);
    });
}

}  // namespace learn
}  // namespace fastmetric
