// SCML's AdaGrad steps and pair distances: see fastmetric/learn/scml.hpp for the formulas.
#include "fastmetric/learn/scml.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <vector>

#include "fastmetric/cpu_features.hpp"
#include "fastmetric/engine.hpp"
#include "fastmetric/kernels.hpp"
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
// the active bases (w_k > 0) enter the slacks and they only leave the active set.
//
// The slacks read the active columns of XB from a compact copy CB (n x cap row-major, columns
// cols[0..nc), a superset of the active set whose other weights are 0): three contiguous runs per
// triplet instead of scattered reads over 10 KB rows. A basis turning active is appended as a
// column; when the copy holds more than twice the active bases (+ 32) or runs out of room it is
// rebuilt from the active set.
}  // namespace

struct ScmlSteps::Impl {
    const double* XB;
    index_t n, K, m, bs;
    const std::int64_t* tri;
    double beta, gamma;
    bool use_simd;
    std::int64_t iter = 0;
    std::vector<double> S, Q, c, g, wc, CB;
    std::vector<double> Sc, cc;  // S and c of the compact columns, in their order
    std::vector<index_t> cols, slot;  // slot[k]: column of basis k in CB, or -1
    index_t nc = 0, cap = 0;

    Impl(const double* XB_, index_t n_, index_t K_, const std::int64_t* tri_, index_t m_, index_t bs_, double beta_,
         double gamma_, bool simd)
        : XB(XB_), n(n_), K(K_), m(m_), bs(bs_), tri(tri_), beta(beta_), gamma(gamma_), use_simd(simd) {
        const auto uK = static_cast<std::size_t>(K);
        S.assign(uK, 0.0);
        Q.assign(uK, 0.0);
        c.assign(uK, 1.0 / (gamma * kDelta));
        g.resize(uK);
        wc.resize(uK);
        Sc.resize(uK);
        cc.resize(uK);
        cols.resize(uK);
        slot.assign(uK, -1);
    }

    bool active(index_t k, double t) const { return -(S[k] + t * beta) * c[k] > 0; }

    FM_SCML_INLINE void rebuild(double t) {  // CB = the active columns at threshold t
        for (index_t i = 0; i < nc; ++i) slot[cols[i]] = -1;
        nc = 0;
        for (index_t k = 0; k < K; ++k)
            if (active(k, t)) {
                slot[k] = nc;
                Sc[nc] = S[k];
                cc[nc] = c[k];
                cols[nc++] = k;
            }
        cap = std::min(K, std::max<index_t>(2 * nc + 32, 8));
        CB.resize(static_cast<std::size_t>(n * cap));
        for (index_t p = 0; p < n; ++p) {
            const double* src = XB + p * K;
            double* dst = CB.data() + p * cap;
            for (index_t i = 0; i < nc; ++i) dst[i] = src[cols[i]];
        }
    }

    FM_SCML_INLINE void append(index_t k, double t) {
        if (nc == cap) {
            rebuild(t);  // the new basis is active: rebuild() includes it
            return;
        }
        slot[k] = nc;
        cols[nc] = k;
        Sc[nc] = S[k];
        cc[nc] = c[k];
        for (index_t p = 0; p < n; ++p) CB[static_cast<std::size_t>(p * cap + nc)] = XB[p * K + k];
        ++nc;
    }

    FM_SCML_INLINE std::int64_t run(const std::int64_t* batches, index_t n_steps, double* w_out) {
        std::int64_t active_total = 0;
        const double inv_bs = 1.0 / double(bs);
        const std::int64_t first_iter = iter;
        if (cap == 0) rebuild(double(first_iter));
        for (index_t s = 0; s < n_steps; ++s) {
            const double it = double(first_iter + s);
            // the weights in force (after step it - 1) on the compact columns; count the active ones
            const double shift = it * beta;
            index_t na = 0;
            for (index_t i = 0; i < nc; ++i) {
                const double wk = -(Sc[i] + shift) * cc[i];
                wc[i] = wk > 0 ? wk : 0.0;
                na += wk > 0 ? 1 : 0;
            }
            if (nc > 2 * na + 32) {
                rebuild(it);
                for (index_t i = 0; i < nc; ++i) wc[i] = -(Sc[i] + shift) * cc[i];
            }
            const std::int64_t* J = batches + s * bs;
            int n_pos = 0;
            for (index_t j = 0; j < bs; ++j) {
                const std::int64_t* t = tri + 3 * J[j];
                const double* ca = CB.data() + t[0] * cap;
                const double* cb = CB.data() + t[1] * cap;
                const double* cc = CB.data() + t[2] * cap;
                double acc[kLanes] = {0, 0, 0, 0, 0, 0, 0, 0};
                index_t i = 0;
                for (; i + kLanes <= nc; i += kLanes)
                    for (int l = 0; l < kLanes; ++l) {
                        const double a = ca[i + l], b = cb[i + l], x = cc[i + l];
                        acc[l] += wc[i + l] * ((x - b) * ((a - b) + (a - x)));
                    }
                for (int l = 0; i < nc; ++i, ++l) {
                    const double a = ca[i], b = cb[i], x = cc[i];
                    acc[l] += wc[i] * ((x - b) * ((a - b) + (a - x)));
                }
                double sum = 0;
                for (int l = 0; l < kLanes; ++l) sum += acc[l];
                if (1.0 + sum > 0) {  // this triplet's full row enters the gradient (in batch order)
                    const double* xa = XB + t[0] * K;
                    const double* xb = XB + t[1] * K;
                    const double* xc = XB + t[2] * K;
                    if (n_pos == 0) {
                        for (index_t k = 0; k < K; ++k) {
                            const double a = xa[k], b = xb[k], x = xc[k];
                            g[k] = (x - b) * ((a - b) + (a - x));
                        }
                    } else {
                        for (index_t k = 0; k < K; ++k) {
                            const double a = xa[k], b = xb[k], x = xc[k];
                            g[k] += (x - b) * ((a - b) + (a - x));
                        }
                    }
                    ++n_pos;
                }
            }
            active_total += n_pos;
            if (n_pos == 0) continue;  // g = 0: S and Q unchanged
            for (index_t k = 0; k < K; ++k) {
                const double gk = g[k] * inv_bs;
                S[k] += gk;
                Q[k] = std::sqrt(Q[k] * Q[k] + gk * gk);
                c[k] = 1.0 / (gamma * (kDelta + Q[k]));
            }
            for (index_t i = 0; i < nc; ++i) {
                Sc[i] = S[cols[i]];
                cc[i] = c[cols[i]];
            }
            const double next = it + 1.0;
            for (index_t k = 0; k < K; ++k)
                if (slot[k] < 0 && active(k, next)) append(k, next);
        }
        iter = first_iter + n_steps;
        const double last = double(iter) * beta;
        for (index_t k = 0; k < K; ++k) w_out[k] = std::max(-(S[k] + last), 0.0) * c[k];
        return active_total;
    }
};

namespace {

std::int64_t steps_generic(ScmlSteps::Impl& st, const std::int64_t* batches, index_t n_steps, double* w) {
    return st.run(batches, n_steps, w);
}

#ifdef FM_SCML_X86
__attribute__((target("avx2,fma"))) std::int64_t steps_avx2(ScmlSteps::Impl& st, const std::int64_t* batches,
                                                             index_t n_steps, double* w) {
    return st.run(batches, n_steps, w);
}
#endif

FM_SCML_INLINE double pair_form_body(const double* X, const double* Y, index_t d, const std::int64_t* p) {
    const double* xi = X + p[0] * d;
    const double* xj = X + p[1] * d;
    const double* yi = Y + p[0] * d;
    const double* yj = Y + p[1] * d;
    double acc[kLanes] = {0, 0, 0, 0, 0, 0, 0, 0};
    index_t k = 0;
    for (; k + kLanes <= d; k += kLanes)
        for (int l = 0; l < kLanes; ++l) acc[l] += (yi[k + l] - yj[k + l]) * (xi[k + l] - xj[k + l]);
    for (int l = 0; k < d; ++k, ++l) acc[l] += (yi[k] - yj[k]) * (xi[k] - xj[k]);
    double s = 0;
    for (int l = 0; l < kLanes; ++l) s += acc[l];
    return s;
}

void pair_forms_generic(const double* X, const double* Y, index_t d, const std::int64_t* pairs, index_t b, index_t e,
                        double* out) {
    for (index_t t = b; t < e; ++t) out[t] = pair_form_body(X, Y, d, pairs + 2 * t);
}

#ifdef FM_SCML_X86
__attribute__((target("avx2,fma"))) void pair_forms_avx2(const double* X, const double* Y, index_t d,
                                                          const std::int64_t* pairs, index_t b, index_t e, double* out) {
    for (index_t t = b; t < e; ++t) out[t] = pair_form_body(X, Y, d, pairs + 2 * t);
}
#endif

void check_pairs(const std::int64_t* pairs, index_t m, index_t n) {
    for (index_t i = 0; i < 2 * m; ++i)
        if (pairs[i] < 0 || pairs[i] >= n) throw std::invalid_argument("scml: pair point index out of range");
}

void check_triplets(const std::int64_t* tri, index_t m, index_t n) {
    for (index_t i = 0; i < 3 * m; ++i)
        if (tri[i] < 0 || tri[i] >= n) throw std::invalid_argument("scml: triplet point index out of range");
}

}  // namespace

ScmlSteps::ScmlSteps(const double* XB, index_t n, index_t K, const std::int64_t* triplets, index_t m,
                     index_t batch_size, double beta, double gamma, bool use_simd) {
    if (K < 1) throw std::invalid_argument("scml: need at least one basis");
    if (m < 1) throw std::invalid_argument("scml: need at least one triplet");
    if (batch_size < 1) throw std::invalid_argument("scml: batch_size must be >= 1");
    if (!(gamma > 0) || !std::isfinite(gamma)) throw std::invalid_argument("scml: gamma must be > 0 and finite");
    if (!(beta >= 0) || !std::isfinite(beta)) throw std::invalid_argument("scml: beta must be >= 0 and finite");
    check_triplets(triplets, m, n);
    impl_ = std::make_unique<Impl>(XB, n, K, triplets, m, batch_size, beta, gamma, use_simd);
}

ScmlSteps::~ScmlSteps() = default;

std::int64_t ScmlSteps::run(const std::int64_t* batches, index_t n_steps, double* w) {
    Impl& st = *impl_;
    if (n_steps < 0) throw std::invalid_argument("scml: negative step count");
    for (index_t i = 0; i < n_steps * st.bs; ++i)
        if (batches[i] < 0 || batches[i] >= st.m) throw std::invalid_argument("scml: batch triplet index out of range");
#ifdef FM_SCML_X86
    if (st.use_simd && cpu_has_avx2()) return steps_avx2(st, batches, n_steps, w);
#endif
    return steps_generic(st, batches, n_steps, w);
}

index_t ScmlSteps::n_bases() const { return impl_->K; }
index_t ScmlSteps::batch_size() const { return impl_->bs; }
std::int64_t ScmlSteps::iterations() const { return impl_->iter; }
const double* ScmlSteps::gradient_sums() const { return impl_->S.data(); }
const double* ScmlSteps::ada_norms() const { return impl_->Q.data(); }

void scml_pair_forms(const double* X, const double* Y, index_t n, index_t d, const std::int64_t* pairs, index_t m,
                     double* out, int n_threads) {
    if (d < 1) throw std::invalid_argument("scml: d must be >= 1");
    check_pairs(pairs, m, n);
    auto fn = &pair_forms_generic;
#ifdef FM_SCML_X86
    // AVX2 when the engine's instruction set is AVX2 or AVX-512 (FASTMETRIC_ISA=generic keeps it portable)
    if (std::strcmp(active_kernels<double>().name, "generic") != 0 && cpu_has_avx2()) fn = &pair_forms_avx2;
#endif
    const int nt = resolve_threads(n_threads);
    const index_t chunk = 2048;
    const index_t nchunks = (m + chunk - 1) / chunk;
    parallel_for_dynamic(nt, nchunks, 1, [&](int, index_t c) { fn(X, Y, d, pairs, c * chunk, std::min(m, (c + 1) * chunk), out); });
}

}  // namespace learn
}  // namespace fastmetric
