// ITML Bregman projections: see fastmetric/learn/itml.hpp for the formulas and the guarantees.
#include "fastmetric/learn/itml.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "fastmetric/engine.hpp"

#if defined(FASTMETRIC_HAVE_X86_ISAS) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define FM_ITML_AVX2 1
#endif

namespace fastmetric {
namespace learn {
namespace {

// ---------------------------------------------------------------------------- portable kernels
double dot_portable(const double* a, const double* b, index_t d) {
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    index_t j = 0;
    for (; j + 4 <= d; j += 4) {
        s0 += a[j] * b[j];
        s1 += a[j + 1] * b[j + 1];
        s2 += a[j + 2] * b[j + 2];
        s3 += a[j + 3] * b[j + 3];
    }
    for (; j < d; ++j) s0 += a[j] * b[j];
    return (s0 + s1) + (s2 + s3);
}

// A += beta v v^T (skipped when beta == 0); then, when u is given, out = A u (A symmetric).
void update_and_apply_portable(double* A, index_t d, double beta, const double* v, const double* u, double* out) {
    if (u) std::fill(out, out + d, 0.0);
    for (index_t j = 0; j < d; ++j) {
        double* row = A + j * d;
        if (beta != 0.0) {
            const double vj = v[j];
            for (index_t c = 0; c < d; ++c) row[c] += beta * (vj * v[c]);
        }
        if (u) {
            const double uj = u[j];
            for (index_t c = 0; c < d; ++c) out[c] += uj * row[c];
        }
    }
}

#if defined(FM_ITML_AVX2)
__attribute__((target("avx2,fma"))) double dot_avx2(const double* a, const double* b, index_t d) {
    __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
    index_t j = 0;
    for (; j + 8 <= d; j += 8) {
        s0 = _mm256_fmadd_pd(_mm256_loadu_pd(a + j), _mm256_loadu_pd(b + j), s0);
        s1 = _mm256_fmadd_pd(_mm256_loadu_pd(a + j + 4), _mm256_loadu_pd(b + j + 4), s1);
    }
    for (; j + 4 <= d; j += 4) s0 = _mm256_fmadd_pd(_mm256_loadu_pd(a + j), _mm256_loadu_pd(b + j), s0);
    alignas(32) double t[4];
    _mm256_store_pd(t, _mm256_add_pd(s0, s1));
    double s = (t[0] + t[1]) + (t[2] + t[3]);
    for (; j < d; ++j) s = std::fma(a[j], b[j], s);
    return s;
}

// Column blocks of 16: the four accumulators of out (and v's block) live in registers while the
// rows of A stream by; one load and one store of A per element.
__attribute__((target("avx2,fma"))) void update_and_apply_avx2(double* A, index_t d, double beta, const double* v,
                                                               const double* u, double* out) {
    const __m256d vb = _mm256_set1_pd(beta);
    const bool upd = beta != 0.0;
    index_t c0 = 0;
    for (; c0 + 16 <= d; c0 += 16) {
        const __m256d v0 = _mm256_loadu_pd(v + c0), v1 = _mm256_loadu_pd(v + c0 + 4);
        const __m256d v2 = _mm256_loadu_pd(v + c0 + 8), v3 = _mm256_loadu_pd(v + c0 + 12);
        __m256d o0 = _mm256_setzero_pd(), o1 = o0, o2 = o0, o3 = o0;
        for (index_t j = 0; j < d; ++j) {
            double* a = A + j * d + c0;
            __m256d a0 = _mm256_loadu_pd(a), a1 = _mm256_loadu_pd(a + 4);
            __m256d a2 = _mm256_loadu_pd(a + 8), a3 = _mm256_loadu_pd(a + 12);
            if (upd) {
                const __m256d vj = _mm256_set1_pd(v[j]);
                a0 = _mm256_fmadd_pd(vb, _mm256_mul_pd(vj, v0), a0);
                a1 = _mm256_fmadd_pd(vb, _mm256_mul_pd(vj, v1), a1);
                a2 = _mm256_fmadd_pd(vb, _mm256_mul_pd(vj, v2), a2);
                a3 = _mm256_fmadd_pd(vb, _mm256_mul_pd(vj, v3), a3);
                _mm256_storeu_pd(a, a0);
                _mm256_storeu_pd(a + 4, a1);
                _mm256_storeu_pd(a + 8, a2);
                _mm256_storeu_pd(a + 12, a3);
            }
            if (u) {
                const __m256d uj = _mm256_set1_pd(u[j]);
                o0 = _mm256_fmadd_pd(uj, a0, o0);
                o1 = _mm256_fmadd_pd(uj, a1, o1);
                o2 = _mm256_fmadd_pd(uj, a2, o2);
                o3 = _mm256_fmadd_pd(uj, a3, o3);
            }
        }
        if (u) {
            _mm256_storeu_pd(out + c0, o0);
            _mm256_storeu_pd(out + c0 + 4, o1);
            _mm256_storeu_pd(out + c0 + 8, o2);
            _mm256_storeu_pd(out + c0 + 12, o3);
        }
    }
    for (; c0 + 4 <= d; c0 += 4) {
        const __m256d v0 = _mm256_loadu_pd(v + c0);
        __m256d o0 = _mm256_setzero_pd();
        for (index_t j = 0; j < d; ++j) {
            double* a = A + j * d + c0;
            __m256d a0 = _mm256_loadu_pd(a);
            if (upd) {
                a0 = _mm256_fmadd_pd(vb, _mm256_mul_pd(_mm256_set1_pd(v[j]), v0), a0);
                _mm256_storeu_pd(a, a0);
            }
            if (u) o0 = _mm256_fmadd_pd(_mm256_set1_pd(u[j]), a0, o0);
        }
        if (u) _mm256_storeu_pd(out + c0, o0);
    }
    for (; c0 < d; ++c0) {  // last columns (d % 4), one at a time
        const double vc = v[c0];
        double o = 0;
        for (index_t j = 0; j < d; ++j) {
            double& a = A[j * d + c0];
            if (upd) a = std::fma(beta, v[j] * vc, a);
            if (u) o = std::fma(u[j], a, o);
        }
        if (u) out[c0] = o;
    }
}
#endif

struct Kernels {
    double (*dot)(const double*, const double*, index_t);
    void (*update_and_apply)(double*, index_t, double, const double*, const double*, double*);
};

Kernels pick_kernels(bool use_simd) {
#if defined(FM_ITML_AVX2)
    if (use_simd) {
        const std::string isa = isa_name();
        if (isa == "avx2" || isa == "avx512") return {&dot_avx2, &update_and_apply_avx2};
    }
#endif
    (void)use_simd;
    return {&dot_portable, &update_and_apply_portable};
}

}  // namespace

ItmlSweepStats itml_sweep(double* A, std::int64_t d, const double* U, std::int64_t m, const std::int8_t* sign,
                          double* lambda, double* bhat, double gamma, bool use_simd) {
    if (d < 1) throw std::invalid_argument("itml: d must be >= 1");
    if (m < 0) throw std::invalid_argument("itml: negative number of constraints");
    if (!(gamma > 0)) throw std::invalid_argument("itml: gamma must be > 0");
    for (std::int64_t c = 0; c < m; ++c) {
        if (sign[c] != 1 && sign[c] != -1) throw std::invalid_argument("itml: constraint signs must be +1 or -1");
        if (!(bhat[c] > 0) || !std::isfinite(bhat[c]))
            throw std::invalid_argument("itml: bounds must be positive and finite");
    }
    const Kernels kern = pick_kernels(use_simd);
    const bool hard = std::isinf(gamma);
    const double gp = hard ? 1.0 : gamma / (gamma + 1.0);
    ItmlSweepStats st;
    double nb = 0, na = 0, l1 = 0;
    std::vector<double> v(static_cast<std::size_t>(d)), vnext(static_cast<std::size_t>(d));
    if (m > 0) {  // v = A u_0
        kern.update_and_apply(A, d, 0.0, v.data(), U, vnext.data());
        v.swap(vnext);
    }
    for (std::int64_t c = 0; c < m; ++c) {
        const double* u = U + c * d;
        const double lam = lambda[c];
        nb += lam * lam;
        const double p = kern.dot(u, v.data(), d);
        double beta = 0.0;
        if (p > 0 && std::isfinite(p)) {
            const double inv_b = 1.0 / bhat[c];
            double alpha;
            if (sign[c] > 0) {
                alpha = std::min(lam, gp * (1.0 / p - inv_b));
                beta = alpha / (1.0 - alpha * p);
                if (!hard) bhat[c] = 1.0 / (inv_b + alpha / gamma);
            } else {
                alpha = std::min(lam, gp * (inv_b - 1.0 / p));
                beta = -alpha / (1.0 + alpha * p);
                if (!hard) bhat[c] = 1.0 / (inv_b - alpha / gamma);
            }
            lambda[c] = lam - alpha;
            if (!std::isfinite(beta)) beta = 0.0;  // cannot happen in exact arithmetic; keeps A finite
        } else {
            ++st.skipped;
        }
        na += lambda[c] * lambda[c];
        l1 += std::fabs(lambda[c] - lam);
        const double* unext = c + 1 < m ? U + (c + 1) * d : nullptr;
        kern.update_and_apply(A, d, beta, v.data(), unext, vnext.data());
        v.swap(vnext);
    }
    st.l1_change = l1;
    st.norm_before = std::sqrt(nb);
    st.norm_after = std::sqrt(na);
    return st;
}

}  // namespace learn
}  // namespace fastmetric
