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

// Sparse steps. State: S_k = sum of the gradients so far, Q_k = ada_k; the weights after step i are
// w_k = max(-(S_k + (i + 1) beta), 0) / (gamma (delta + Q_k)) (metric-learn's formula with
// avg_k = S_k / (i + 1)). Between two steps with a nonzero gradient S and Q do not change, so only
// the active bases (w_k > 0) enter the slacks and they only leave the active set; a step whose batch
// has no positive slack costs s |active| dd terms and nothing over all K.
FM_SCML_INLINE std::int64_t steps_body(const double* XB, index_t K, const std::int64_t* tri, const std::int64_t* batches,
                                       index_t n_steps, index_t bs, std::int64_t first_iter, double beta, double gamma,
                                       double* S, double* Q, double* w_out, double* buf, double* g, double* c,
                                       index_t* act, double* wa) {
    std::int64_t active_total = 0;
    const double inv_bs = 1.0 / double(bs);
    for (index_t k = 0; k < K; ++k) c[k] = 1.0 / (gamma * (kDelta + Q[k]));
    // active set for the weights in force at step first_iter: w_k = max(-(S_k + first_iter beta), 0) c_k
    index_t na = 0;
    for (index_t k = 0; k < K; ++k)
        if (-(S[k] + double(first_iter) * beta) * c[k] > 0) act[na++] = k;
    for (index_t s = 0; s < n_steps; ++s) {
        const double it = double(first_iter + s);
        // the weights in force (after step it - 1), dropping the bases that reached 0
        index_t kept = 0;
        for (index_t i = 0; i < na; ++i) {
            const index_t k = act[i];
            const double wk = -(S[k] + it * beta) * c[k];
            if (wk > 0) {
                act[kept] = k;
                wa[kept] = wk;
                ++kept;
            }
        }
        na = kept;
        const std::int64_t* J = batches + s * bs;
        int n_pos = 0;
        for (index_t j = 0; j < bs; ++j) {
            const std::int64_t* t = tri + 3 * J[j];
            const double* xa = XB + t[0] * K;
            const double* xb = XB + t[1] * K;
            const double* xc = XB + t[2] * K;
            double acc[kLanes] = {0, 0, 0, 0, 0, 0, 0, 0};
            index_t i = 0;
            for (; i + kLanes <= na; i += kLanes)
                for (int l = 0; l < kLanes; ++l) {
                    const index_t k = act[i + l];
                    const double a = xa[k], b = xb[k], cc = xc[k];
                    acc[l] += wa[i + l] * ((cc - b) * ((a - b) + (a - cc)));
                }
            for (int l = 0; i < na; ++i, ++l) {
                const index_t k = act[i];
                const double a = xa[k], b = xb[k], cc = xc[k];
                acc[l] += wa[i] * ((cc - b) * ((a - b) + (a - cc)));
            }
            double slack = 1.0;
            double sum = 0;
            for (int l = 0; l < kLanes; ++l) sum += acc[l];
            slack += sum;
            if (slack > 0) {  // this triplet's full row enters the gradient
                double* r = buf + index_t(n_pos) * K;
                for (index_t k = 0; k < K; ++k) {
                    const double a = xa[k], b = xb[k], cc = xc[k];
                    r[k] = (cc - b) * ((a - b) + (a - cc));
                }
                ++n_pos;
            }
        }
        active_total += n_pos;
        if (n_pos == 0) continue;  // g = 0: S and Q unchanged
        for (index_t k = 0; k < K; ++k) g[k] = 0.0;
        for (int j = 0; j < n_pos; ++j) {
            const double* r = buf + index_t(j) * K;
            for (index_t k = 0; k < K; ++k) g[k] += r[k];
        }
        const double next = (it + 1.0) * beta;
        na = 0;
        for (index_t k = 0; k < K; ++k) {
            const double gk = g[k] * inv_bs;
            S[k] += gk;
            Q[k] = std::sqrt(Q[k] * Q[k] + gk * gk);
            c[k] = 1.0 / (gamma * (kDelta + Q[k]));
            if (-(S[k] + next) * c[k] > 0) act[na++] = k;
        }
    }
    const double last = double(first_iter + n_steps) * beta;
    for (index_t k = 0; k < K; ++k) w_out[k] = std::max(-(S[k] + last), 0.0) * c[k];
    return active_total;
}

#define FM_SCML_STEPS_ARGS                                                                                            \
    const double *XB, index_t K, const std::int64_t *tri, const std::int64_t *batches, index_t n_steps, index_t bs, \
        std::int64_t first_iter, double beta, double gamma, double *S, double *Q, double *w_out, double *buf,     \
        double *g, double *c, index_t *act, double *wa
#define FM_SCML_STEPS_CALL XB, K, tri, batches, n_steps, bs, first_iter, beta, gamma, S, Q, w_out, buf, g, c, act, wa

std::int64_t steps_generic(FM_SCML_STEPS_ARGS) { return steps_body(FM_SCML_STEPS_CALL); }

#ifdef FM_SCML_X86
__attribute__((target("avx2,fma"))) std::int64_t steps_avx2(FM_SCML_STEPS_ARGS) {
    return steps_body(FM_SCML_STEPS_CALL);
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
                        double beta, double gamma, double* S, double* Q, double* w, bool use_simd) {
    if (K < 1) throw std::invalid_argument("scml: need at least one basis");
    if (m < 1) throw std::invalid_argument("scml: need at least one triplet");
    if (batch_size < 1) throw std::invalid_argument("scml: batch_size must be >= 1");
    if (n_steps < 0 || first_iter < 0) throw std::invalid_argument("scml: negative step count or iteration");
    if (!(gamma > 0)) throw std::invalid_argument("scml: gamma must be > 0");
    check_triplets(triplets, m, n);
    for (index_t i = 0; i < n_steps * batch_size; ++i)
        if (batches[i] < 0 || batches[i] >= m) throw std::invalid_argument("scml: batch triplet index out of range");
    const auto uK = static_cast<std::size_t>(K);
    std::vector<double> buf(static_cast<std::size_t>(batch_size) * uK), g(uK), c(uK), wa(uK);
    std::vector<index_t> act(uK);
#ifdef FM_SCML_X86
    if (use_simd && cpu_has_avx2())
        return steps_avx2(XB, K, triplets, batches, n_steps, batch_size, first_iter, beta, gamma, S, Q, w, buf.data(),
                          g.data(), c.data(), act.data(), wa.data());
#endif
    return steps_generic(XB, K, triplets, batches, n_steps, batch_size, first_iter, beta, gamma, S, Q, w, buf.data(),
                         g.data(), c.data(), act.data(), wa.data());
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
