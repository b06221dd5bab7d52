// Templates that fill a KernelTable<T> from a lane type O (simd/generic.hpp, simd/avx2.hpp, ...).
//
// Included only by the per-ISA translation units (cpp/src/isa/*.cpp). Everything here has internal
// linkage (anonymous namespace) so that code compiled with AVX2/AVX-512 flags can never be merged by
// the linker into the baseline build: the classic "one inline function, two instruction sets" trap.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

#include "fastmetric/kernels.hpp"

namespace fastmetric {
namespace {

inline int lowest_bit(unsigned m) {
#if defined(__GNUC__) || defined(__clang__)
    return __builtin_ctz(m);
#else
    int l = 0;
    while (!(m & 1u)) { m >>= 1; ++l; }
    return l;
#endif
}

inline int bit_count(unsigned m) {
#if defined(__GNUC__) || defined(__clang__)
    return __builtin_popcount(m);
#else
    int c = 0;
    for (; m; m &= m - 1) ++c;
    return c;
#endif
}

// Whether the lane type can pack the lanes of a mask to memory (AVX-512's compress-store):
// O::compress_store(T* p, unsigned m, reg a) and O::compress_store_index(std::int32_t* p, unsigned m,
// int base) (the indices base + l of the selected lanes l).
template <class O, class = void>
struct has_compress : std::false_type {};
template <class O>
struct has_compress<O, std::void_t<decltype(O::compress_store)>> : std::true_type {};

template <class T>
struct exp_constants;
template <>
struct exp_constants<float> {
    // inputs in [lo, hi] give normal results; others take the libm path lane by lane
    static constexpr float lo = -87.0f, hi = 88.0f;
    static constexpr float log2e = 1.44269504088896341f;
    static constexpr float ln2_hi = 0.693359375f, ln2_lo = -2.12194440e-4f;  // Cody-Waite split
    static constexpr int degree = 6;                                        // |r|<=ln2/2: error < 1.3e-7
    static constexpr float tanh_small = 0.3f;                               // odd Taylor series below
    static constexpr int tanh_terms = 6;                                    // z .. z^11
};
template <>
struct exp_constants<double> {
    static constexpr double lo = -708.0, hi = 709.0;
    static constexpr double log2e = 1.44269504088896340736;
    static constexpr double ln2_hi = 6.93147180369123816490e-01, ln2_lo = 1.90821492927058770002e-10;
    static constexpr int degree = 13;  // error < 5e-18
    static constexpr double tanh_small = 0.15;
    static constexpr int tanh_terms = 8;  // z .. z^15
};

// 1/k! for k = 0..13 (exp's Taylor coefficients), exact to double rounding
constexpr double kInvFactorial[14] = {1.0,
                                      1.0,
                                      1.0 / 2,
                                      1.0 / 6,
                                      1.0 / 24,
                                      1.0 / 120,
                                      1.0 / 720,
                                      1.0 / 5040,
                                      1.0 / 40320,
                                      1.0 / 362880,
                                      1.0 / 3628800,
                                      1.0 / 39916800,
                                      1.0 / 479001600,
                                      1.0 / 6227020800.0};

template <class O, int MR, int NV>
struct kernels {
    using T = typename O::value_type;
    using R = typename O::reg;
    static constexpr int W = O::W;
    static constexpr int NR = NV * W;

    // ------------------------------------------------------------------ micro-kernels
    // The MR x NV register block of accumulators stays in registers for the whole K loop; each k
    // loads NV vectors of B and broadcasts MR scalars of A (BLIS micro-kernel, outer-product form).
    template <class Op>
    static inline void micro(index_t K, const T* a, const T* b, T* c, index_t ldc, bool accumulate, Op op,
                             bool max_combine) {
        R s[MR][NV];
#pragma GCC unroll 16
        for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
            for (int v = 0; v < NV; ++v) s[i][v] = O::zero();
#pragma GCC unroll 4
        for (index_t k = 0; k < K; ++k) {
            R bv[NV];
#pragma GCC unroll 4
            for (int v = 0; v < NV; ++v) bv[v] = O::load(b + k * NR + v * W);
#pragma GCC unroll 16
            for (int i = 0; i < MR; ++i) {
                const R ai = O::set1(a[k * MR + i]);
#pragma GCC unroll 4
                for (int v = 0; v < NV; ++v) s[i][v] = op(ai, bv[v], s[i][v]);
            }
        }
#pragma GCC unroll 16
        for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
            for (int v = 0; v < NV; ++v) {
                T* p = c + i * ldc + v * W;
                if (!accumulate)
                    O::store(p, s[i][v]);
                else if (max_combine)
                    O::store(p, O::max(O::load(p), s[i][v]));
                else
                    O::store(p, O::add(O::load(p), s[i][v]));
            }
    }
    static void dot(index_t K, const T* a, const T* b, T* c, index_t ldc, bool acc) {
        micro(K, a, b, c, ldc, acc, [](R x, R y, R s) { return O::fma(x, y, s); }, false);
    }
    static void l1(index_t K, const T* a, const T* b, T* c, index_t ldc, bool acc) {
        micro(K, a, b, c, ldc, acc, [](R x, R y, R s) { return O::add(s, O::abs(O::sub(x, y))); }, false);
    }
    static void linf(index_t K, const T* a, const T* b, T* c, index_t ldc, bool acc) {
        micro(K, a, b, c, ldc, acc, [](R x, R y, R s) { return O::max(s, O::abs(O::sub(x, y))); }, true);
    }
    static void sqd(index_t K, const T* a, const T* b, T* c, index_t ldc, bool acc) {
        micro(K, a, b, c, ldc, acc, [](R x, R y, R s) { R d = O::sub(x, y); return O::fma(d, d, s); }, false);
    }
    // |x-y|^P by repeated squaring (P fixed at compile time, 3 <= P <= 8): exact to a few ulp, no pow
    template <int P>
    static inline R pow_abs_diff(R x, R y) {
        const R t = O::abs(O::sub(x, y));
        const R t2 = O::mul(t, t);
        if constexpr (P == 3) return O::mul(t2, t);
        if constexpr (P == 4) return O::mul(t2, t2);
        if constexpr (P == 5) return O::mul(O::mul(t2, t2), t);
        if constexpr (P == 6) return O::mul(O::mul(t2, t2), t2);
        if constexpr (P == 7) return O::mul(O::mul(O::mul(t2, t2), t2), t);
        const R t4 = O::mul(t2, t2);
        return O::mul(t4, t4);
    }
    template <int P>
    static void lp_int(index_t K, const T* a, const T* b, T* c, index_t ldc, bool acc) {
        micro(K, a, b, c, ldc, acc, [](R x, R y, R s) { return O::add(s, pow_abs_diff<P>(x, y)); }, false);
    }
    static void chi2(index_t K, const T* a, const T* b, T* c, index_t ldc, bool acc) {
        // inputs are validated non-negative: a+b == 0 implies a-b == 0, and 0/tiny == 0
        micro(K, a, b, c, ldc, acc,
              [](R x, R y, R s) {
                  const R tiny = O::set1(T(1e-30) * T(1e-8));
                  R d = O::sub(x, y);
                  return O::add(s, O::div(O::mul(d, d), O::max(O::add(x, y), tiny)));
              },
              false);
    }

    // ------------------------------------------------------------------ row epilogues
    static index_t sq_from_dot(const T* dot, index_t n, T nx, const T* ny, T tau, T* out, index_t* flagged) {
        index_t nf = 0, j = 0;
        const R vnx = O::set1(nx), m2 = O::set1(T(-2)), vt = O::set1(tau), z = O::zero();
        for (; j + W <= n; j += W) {
            const R s = O::add(vnx, O::load(ny + j));
            const R v = O::max(O::fma(m2, O::load(dot + j), s), z);
            O::store(out + j, v);
            unsigned m = O::lt_mask(v, O::mul(vt, s));
            while (m) {
                flagged[nf++] = j + lowest_bit(m);
                m &= m - 1;
            }
        }
        for (; j < n; ++j) {
            const T s = nx + ny[j];
            T v = s - T(2) * dot[j];
            v = v > T(0) ? v : T(0);
            out[j] = v;
            if (v < tau * s) flagged[nf++] = j;
        }
        return nf;
    }
    static index_t one_minus(const T* dot, index_t n, T tau, T* out, index_t* flagged) {
        index_t nf = 0, j = 0;
        const R one = O::set1(T(1)), two = O::set1(T(2)), vt = O::set1(tau), z = O::zero();
        for (; j + W <= n; j += W) {
            const R v = O::min(O::max(O::sub(one, O::load(dot + j)), z), two);
            O::store(out + j, v);
            unsigned m = O::lt_mask(v, vt);
            while (m) {
                flagged[nf++] = j + lowest_bit(m);
                m &= m - 1;
            }
        }
        for (; j < n; ++j) {
            T v = T(1) - dot[j];
            v = v > T(0) ? v : T(0);
            v = v < T(2) ? v : T(2);
            out[j] = v;
            if (v < tau) flagged[nf++] = j;
        }
        return nf;
    }
    static void affine(T* v, index_t n, T a, T b) {
        index_t j = 0;
        const R va = O::set1(a), vb = O::set1(b);
        for (; j + W <= n; j += W) O::store(v + j, O::fma(va, O::load(v + j), vb));
        for (; j < n; ++j) v[j] = a * v[j] + b;
    }
    static void sqrt_inplace(T* v, index_t n) {
        index_t j = 0;
        for (; j + W <= n; j += W) O::store(v + j, O::sqrt(O::load(v + j)));
        for (; j < n; ++j) v[j] = std::sqrt(v[j]);
    }

    // exp on lanes known to lie in [lo, hi]: x = n*ln2 + r, |r| <= ln2/2, Taylor polynomial in r.
    static inline R exp_in_range(R x) {
        using C = exp_constants<T>;
        const R n = O::round(O::mul(x, O::set1(C::log2e)));
        R r = O::fma(n, O::set1(-C::ln2_hi), x);
        r = O::fma(n, O::set1(-C::ln2_lo), r);
        // Horner on the 1/k! coefficients, highest first (compile-time constants)
        R p = O::set1(T(kInvFactorial[C::degree]));
#pragma GCC unroll 16
        for (int k = C::degree - 1; k >= 0; --k) p = O::fma(p, r, O::set1(T(kInvFactorial[k])));
        return O::mul(p, O::pow2i(n));
    }
    // exp of a register; lanes outside [lo, hi] (overflow, subnormal results, NaN) go through libm
    static inline R exp_reg(R x) {
        using C = exp_constants<T>;
        const unsigned out_of_range = O::lt_mask(x, O::set1(C::lo)) | O::lt_mask(O::set1(C::hi), x);
        if (!out_of_range) return exp_in_range(x);
        alignas(64) T buf[W];
        O::store(buf, x);
        for (int l = 0; l < W; ++l) buf[l] = std::exp(buf[l]);
        return O::load(buf);
    }
    static void exp_scaled(T* v, index_t n, T s) {
        index_t j = 0;
        const R vs = O::set1(s);
        for (; j + W <= n; j += W) O::store(v + j, exp_reg(O::mul(vs, O::load(v + j))));
        for (; j < n; ++j) v[j] = std::exp(s * v[j]);
    }
    // tanh(z): odd Taylor series for |z| < small (no cancellation), else 1 - 2/(exp(2|z|)+1)
    static inline R tanh_reg(R z) {
        using C = exp_constants<T>;
        static constexpr double series[8] = {1.0,
                                             -1.0 / 3.0,
                                             2.0 / 15.0,
                                             -17.0 / 315.0,
                                             62.0 / 2835.0,
                                             -1382.0 / 155925.0,
                                             21844.0 / 6081075.0,
                                             -929569.0 / 638512875.0};
        const R az = O::min(O::abs(z), O::set1(T(20)));
        // e = exp(-2|z|) in (0, 1]: no overflow; (1 - e)/(1 + e) cancels only below tanh_small
        const R e = exp_in_range(O::mul(az, O::set1(T(-2))));
        const R one = O::set1(T(1));
        R t = O::mul(O::sub(one, e), O::recip(O::add(one, e)));
        const R small_limit = O::set1(C::tanh_small);
        if (O::lt_mask(az, small_limit)) {  // some lane near 0: odd Taylor series there
            const R z2 = O::mul(az, az);
            R p = O::set1(T(series[C::tanh_terms - 1]));
            for (int k = C::tanh_terms - 2; k >= 0; --k) p = O::fma(p, z2, O::set1(T(series[k])));
            t = O::select_lt(az, small_limit, O::mul(p, az), t);
        }
        return O::copysign(t, z);
    }
    static void tanh_affine(T* v, index_t n, T a, T b) {
        index_t j = 0;
        const R va = O::set1(a), vb = O::set1(b);
        for (; j + W <= n; j += W) O::store(v + j, tanh_reg(O::fma(va, O::load(v + j), vb)));
        for (; j < n; ++j) v[j] = std::tanh(a * v[j] + b);
    }
    static void powi_affine(T* v, index_t n, T a, T b, int degree) {
        index_t j = 0;
        const R va = O::set1(a), vb = O::set1(b);
        for (; j + W <= n; j += W) {
            R base = O::fma(va, O::load(v + j), vb), r = O::set1(T(1));
            for (int e = degree; e > 0; e >>= 1) {
                if (e & 1) r = O::mul(r, base);
                if (e > 1) base = O::mul(base, base);
            }
            O::store(v + j, r);
        }
        for (; j < n; ++j) {
            T base = a * v[j] + b, r = T(1);
            for (int e = degree; e > 0; e >>= 1) {
                if (e & 1) r *= base;
                if (e > 1) base *= base;
            }
            v[j] = r;
        }
    }
    static index_t select_below(const T* v, index_t n, T thr, bool inclusive, index_t* idx) {
        index_t c = 0, j = 0;
        const R vt = O::set1(thr);
        const unsigned full = (W >= 32) ? ~0u : ((1u << W) - 1u);
        for (; j + W <= n; j += W) {
            const R x = O::load(v + j);
            unsigned m = inclusive ? (~O::lt_mask(vt, x) & full) : O::lt_mask(x, vt);
            while (m) {
                idx[c++] = j + lowest_bit(m);
                m &= m - 1;
            }
        }
        for (; j < n; ++j)
            if (inclusive ? !(thr < v[j]) : (v[j] < thr)) idx[c++] = j;
        return c;
    }
    using Bits = std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>;
    static constexpr Bits kExpBits = sizeof(T) == 4 ? Bits(0x7f800000u) : Bits(0x7ff0000000000000ull);
    static Bits nonfinite_bit(const T* p) {
        Bits bits;
        std::memcpy(&bits, p, sizeof(bits));
        return Bits((bits & kExpBits) == kExpBits);
    }
    static bool any_nonfinite(const T* v, index_t n, index_t s) {
        Bits bad = 0;
        if (s == 1) {  // OR-reduced without early exit, so the loop vectorises at the table's width
            for (index_t k = 0; k < n; ++k) bad |= nonfinite_bit(v + k);
            return bad != 0;
        }
        Bits b1 = 0, b2 = 0, b3 = 0;  // four independent chains over a strided run
        index_t k = 0;
        for (; k + 4 <= n; k += 4, v += 4 * s) {
            bad |= nonfinite_bit(v);
            b1 |= nonfinite_bit(v + s);
            b2 |= nonfinite_bit(v + 2 * s);
            b3 |= nonfinite_bit(v + 3 * s);
        }
        for (; k < n; ++k, v += s) bad |= nonfinite_bit(v);
        return (bad | b1 | b2 | b3) != 0;
    }
    static index_t count_le(const T* v, index_t n, T x) {
        index_t c = 0, j = 0;
        const R vx = O::set1(x);
        const unsigned full = (W >= 32) ? ~0u : ((1u << W) - 1u);
        for (; j + W <= n; j += W) c += bit_count(~O::lt_mask(vx, O::load(v + j)) & full);
        for (; j < n; ++j) c += index_t(!(x < v[j]));
        return c;
    }
    static index_t sq_candidates(const T* dot, index_t n, T nx, const T* ny, T tau, T thr, bool inclusive,
                                 index_t* idx) {
        index_t c = 0, j = 0;
        const R vnx = O::set1(nx), m2 = O::set1(T(-2)), vt = O::set1(tau), vthr = O::set1(thr);
        const unsigned full = (W >= 32) ? ~0u : ((1u << W) - 1u);
        for (; j + W <= n; j += W) {
            const R s = O::add(vnx, O::load(ny + j));
            const R v = O::fma(m2, O::load(dot + j), s);
            unsigned m = inclusive ? (~O::lt_mask(vthr, v) & full) : O::lt_mask(v, vthr);
            m |= O::lt_mask(v, O::mul(vt, s));
            while (m) {
                idx[c++] = j + lowest_bit(m);
                m &= m - 1;
            }
        }
        for (; j < n; ++j) {
            const T s = nx + ny[j];
            const T v = s - T(2) * dot[j];
            if ((inclusive ? !(thr < v) : (v < thr)) || v < tau * s) idx[c++] = j;
        }
        return c;
    }
    static index_t sq_below(const T* dot, index_t n, const T* ny, T t, index_t* idx) {
        index_t c = 0, j = 0;
        const R m2 = O::set1(T(-2)), vt = O::set1(t);
        for (; j + W <= n; j += W) {
            unsigned m = O::lt_mask(O::fma(m2, O::load(dot + j), O::load(ny + j)), vt);
            while (m) {
                idx[c++] = j + lowest_bit(m);
                m &= m - 1;
            }
        }
        for (; j < n; ++j)
            if (ny[j] - T(2) * dot[j] < t) idx[c++] = j;
        return c;
    }
    static void stream_copy(T* dst, const T* src, index_t n) {
        index_t j = 0;
        while (j < n && (reinterpret_cast<std::uintptr_t>(dst + j) % (W * sizeof(T))) != 0) {
            dst[j] = src[j];
            ++j;
        }
        for (; j + W <= n; j += W) O::stream(dst + j, O::load(src + j));
        for (; j < n; ++j) dst[j] = src[j];
    }
    static void stream_fence() { O::fence(); }
    static T sqdist(const T* x, const T* y, index_t d) {
        R s0 = O::zero(), s1 = O::zero();
        index_t k = 0;
        for (; k + 2 * W <= d; k += 2 * W) {
            const R d0 = O::sub(O::load(x + k), O::load(y + k));
            const R d1 = O::sub(O::load(x + k + W), O::load(y + k + W));
            s0 = O::fma(d0, d0, s0);
            s1 = O::fma(d1, d1, s1);
        }
        for (; k + W <= d; k += W) {
            const R d0 = O::sub(O::load(x + k), O::load(y + k));
            s0 = O::fma(d0, d0, s0);
        }
        T s = O::hsum(O::add(s0, s1));
        for (; k < d; ++k) {
            const T t = x[k] - y[k];
            s += t * t;
        }
        return s;
    }

    // plain loops: each instruction set's file compiles them with its own flags (vectorised there)
    static void axpy_acc(index_t k, double a, const T* x, double* y) {
        for (index_t c = 0; c < k; ++c) y[c] += a * double(x[c]);
    }
    static void axpy2_acc(index_t k, double a, const T* x, double* y, const T* x2, double* y2) {
        for (index_t c = 0; c < k; ++c) y[c] += a * double(x[c]);
        for (index_t c = 0; c < k; ++c) y2[c] += a * double(x2[c]);
    }
    static T vdot(const T* a, const T* b, index_t d) {
        R s0 = O::zero(), s1 = O::zero();
        index_t k = 0;
        for (; k + 2 * W <= d; k += 2 * W) {
            s0 = O::fma(O::load(a + k), O::load(b + k), s0);
            s1 = O::fma(O::load(a + k + W), O::load(b + k + W), s1);
        }
        for (; k + W <= d; k += W) s0 = O::fma(O::load(a + k), O::load(b + k), s0);
        T s = O::hsum(O::add(s0, s1));
        for (; k < d; ++k) s += a[k] * b[k];
        return s;
    }
    // Column blocks of 4 W: the accumulators of out and v's block stay in registers while the rows
    // of A stream by; one load and (when updating) one store of A per element.
    static void rank1_apply(T* A, index_t d, T beta, const T* v, const T* u, T* out) {
        const R vb = O::set1(beta);
        const bool upd = beta != T(0);
        index_t c0 = 0;
        for (; c0 + 4 * W <= d; c0 += 4 * W) {
            R vv[4], o[4], a[4];
            for (int q = 0; q < 4; ++q) {
                vv[q] = O::load(v + c0 + q * W);
                o[q] = O::zero();
            }
            for (index_t j = 0; j < d; ++j) {
                T* row = A + j * d + c0;
                for (int q = 0; q < 4; ++q) a[q] = O::load(row + q * W);
                if (upd) {
                    const R vj = O::set1(v[j]);
                    for (int q = 0; q < 4; ++q) {
                        a[q] = O::fma(vb, O::mul(vj, vv[q]), a[q]);
                        O::store(row + q * W, a[q]);
                    }
                }
                if (u) {
                    const R uj = O::set1(u[j]);
                    for (int q = 0; q < 4; ++q) o[q] = O::fma(uj, a[q], o[q]);
                }
            }
            if (u)
                for (int q = 0; q < 4; ++q) O::store(out + c0 + q * W, o[q]);
        }
        // The same fused (or, generic, twice-rounded) multiply-add as the vector columns, lane by
        // lane: A[i][j] and A[j][i] may be updated one in a vector column and one here, and must
        // round alike for A to stay exactly symmetric (a compiler's own contraction of a scalar
        // a + b * c depends on the optimisation level: it broke symmetry in the -O1 sanitizer build).
        auto fma1 = [](T x, T y, T z) {
            alignas(64) T t[W];
            O::store(t, O::fma(O::set1(x), O::set1(y), O::set1(z)));
            return t[0];
        };
        for (; c0 < d; ++c0) {  // the last columns (d % 4W), one at a time
            const T vc = v[c0];
            T o = 0;
            for (index_t j = 0; j < d; ++j) {
                T& a = A[j * d + c0];
                if (upd) a = fma1(beta, v[j] * vc, a);
                if (u) o = fma1(u[j], a, o);
            }
            if (u) out[c0] = o;
        }
    }

    // ------------------------------------------------------------------ pair sweep rows
    static void exp_diff(const T* d, index_t n, T s, T* out) {
        const R vs = O::set1(s), lo = O::set1(exp_constants<T>::lo);
        index_t j = 0;
        for (; j + W <= n; j += W) O::store(out + j, exp_reg(O::max(O::sub(vs, O::load(d + j)), lo)));
        if (j < n) {  // the tail through the same vector exp, in a padded register
            alignas(64) T buf[W];
            for (int l = 0; l < W; ++l) buf[l] = j + l < n ? d[j + l] : s;
            O::store(buf, exp_reg(O::max(O::sub(vs, O::load(buf)), lo)));
            for (index_t l = 0; j + l < n; ++l) out[j + l] = buf[l];
        }
    }
    template <bool DoExp>
    static index_t s_row_impl(const T* d, index_t n, T s, T a, T ab, const T* v, T r, const T* u, const T* w, T thr,
                              T* out) {
        const R vs = O::set1(s), lo = O::set1(exp_constants<T>::lo), va = O::set1(a), nab = O::set1(-ab),
                vr = O::set1(r), vt = O::set1(thr);
        index_t c = 0, j = 0;
        for (; j + W <= n; j += W) {
            R e = O::load(d + j);
            if constexpr (DoExp) e = exp_reg(O::max(O::sub(vs, e), lo));
            const R f = O::add(O::fma(va, O::load(v + j), nab),
                               O::fma(vr, O::load(u + j), O::sub(O::zero(), O::load(w + j))));
            const R x = O::mul(e, f);
            O::store(out + j, x);
            c += bit_count(O::lt_mask(vt, O::abs(x)));
        }
        if (j < n) {  // the tail through the same vector code, in padded registers (padding: 0)
            alignas(64) T bd[W], bv[W], bu[W], bw[W];
            for (int l = 0; l < W; ++l) {
                const bool in = j + l < n;
                bd[l] = in ? d[j + l] : (DoExp ? s : T(0));
                bv[l] = in ? v[j + l] : T(0);
                bu[l] = in ? u[j + l] : T(0);
                bw[l] = in ? w[j + l] : T(0);
            }
            R e = O::load(bd);
            if constexpr (DoExp) e = exp_reg(O::max(O::sub(vs, e), lo));
            const R f = O::add(O::fma(va, O::load(bv), nab), O::fma(vr, O::load(bu), O::sub(O::zero(), O::load(bw))));
            const R x = O::mul(e, f);
            const unsigned tail = (1u << unsigned(n - j)) - 1u;
            c += bit_count(O::lt_mask(vt, O::abs(x)) & tail);
            O::store(bd, x);
            for (index_t l = 0; j + l < n; ++l) out[j + l] = bd[l];
        }
        return c;
    }
    static index_t s_row(const T* d, index_t n, bool do_exp, T s, T a, T ab, const T* v, T r, const T* u, const T* w,
                         T thr, T* out) {
        return do_exp ? s_row_impl<true>(d, n, s, a, ab, v, r, u, w, thr, out)
                      : s_row_impl<false>(d, n, s, a, ab, v, r, u, w, thr, out);
    }
    static index_t count_abs_above(const T* v, index_t n, T thr) {
        const R vt = O::set1(thr);
        index_t c = 0, j = 0;
        for (; j + W <= n; j += W) c += bit_count(O::lt_mask(vt, O::abs(O::load(v + j))));
        for (; j < n; ++j) c += index_t(v[j] > thr || v[j] < -thr);
        return c;
    }
    static index_t select_abs_above(T* v, index_t n, T thr, std::int32_t* col, T* val) {
        const R vt = O::set1(thr), z = O::zero();
        index_t c = 0, j = 0;
        for (; j + W <= n; j += W) {
            const R x = O::load(v + j);
            c = pack_lanes(O::lt_mask(vt, O::abs(x)), x, v + j, j, c, col, val);
            O::store(v + j, O::select_lt(vt, O::abs(x), x, z));
        }
        for (; j < n; ++j) {
            const bool keep = v[j] > thr || v[j] < -thr;
            col[c] = std::int32_t(j);
            val[c] = v[j];
            c += index_t(keep);
            v[j] = keep ? v[j] : T(0);
        }
        return c;
    }
    // the lanes of x selected by m packed to val + c, their indices j + l to col + c; returns the new c
    static index_t pack_lanes(unsigned m, R x, const T* xs, index_t j, index_t c, std::int32_t* col, T* val) {
        if constexpr (has_compress<O>::value) {
            (void)xs;
            O::compress_store(val + c, m, x);
            O::compress_store_index(col + c, m, int(j));
            return c + bit_count(m);
        } else {  // branchless: every lane written, the count advanced by its bit
            (void)x;
            for (int l = 0; l < W; ++l) {
                col[c] = std::int32_t(j + l);
                val[c] = xs[l];
                c += index_t((m >> l) & 1u);
            }
            return c;
        }
    }
    static index_t select_within_cut(const T* d, index_t n, T rc, const T* cc, std::int32_t* col, T* val) {
        const R vr = O::set1(rc);
        const unsigned full = (W >= 32) ? ~0u : ((1u << W) - 1u);
        index_t c = 0, j = 0;
        for (; j + W <= n; j += W) {
            const R x = O::load(d + j);
            c = pack_lanes(~O::lt_mask(O::max(vr, O::load(cc + j)), x) & full, x, d + j, j, c, col, val);
        }
        for (; j < n; ++j) {
            col[c] = std::int32_t(j);
            val[c] = d[j];
            c += index_t(!(d[j] > (rc > cc[j] ? rc : cc[j])));
        }
        return c;
    }
    static T gather_gemv(index_t cnt, const std::int32_t* col, const T* val, const T* Z, index_t ldz, index_t k,
                         T* out) {
        index_t c0 = 0;
        for (; c0 + W <= k; c0 += W) {
            R a0 = O::zero(), a1 = O::zero(), a2 = O::zero(), a3 = O::zero();
            const T* zc = Z + c0;
            index_t t = 0;
            for (; t + 4 <= cnt; t += 4) {
                a0 = O::fma(O::set1(val[t]), O::load(zc + col[t] * ldz), a0);
                a1 = O::fma(O::set1(val[t + 1]), O::load(zc + col[t + 1] * ldz), a1);
                a2 = O::fma(O::set1(val[t + 2]), O::load(zc + col[t + 2] * ldz), a2);
                a3 = O::fma(O::set1(val[t + 3]), O::load(zc + col[t + 3] * ldz), a3);
            }
            for (; t < cnt; ++t) a0 = O::fma(O::set1(val[t]), O::load(zc + col[t] * ldz), a0);
            O::store(out + c0, O::add(O::add(a0, a1), O::add(a2, a3)));
        }
        for (; c0 < k; ++c0) {  // the last k % W columns, lane by lane in the same order
            T a0 = 0, a1 = 0, a2 = 0, a3 = 0;
            const T* zc = Z + c0;
            index_t t = 0;
            for (; t + 4 <= cnt; t += 4) {
                a0 += val[t] * zc[col[t] * ldz];
                a1 += val[t + 1] * zc[col[t + 1] * ldz];
                a2 += val[t + 2] * zc[col[t + 2] * ldz];
                a3 += val[t + 3] * zc[col[t + 3] * ldz];
            }
            for (; t < cnt; ++t) a0 += val[t] * zc[col[t] * ldz];
            out[c0] = (a0 + a1) + (a2 + a3);
        }
        R s = O::zero();
        index_t t = 0;
        for (; t + W <= cnt; t += W) s = O::add(s, O::load(val + t));
        T rs = O::hsum(s);
        for (; t < cnt; ++t) rs += val[t];
        return rs;
    }
    static void scatter_axpy(index_t cnt, const std::int32_t* col, const T* val, const T* x, index_t k, T* C,
                             index_t ldc, T* csum) {
        // chunk by chunk of W columns, x's chunk held in a register over the pairs (the stores to C
        // could alias x for the compiler); every C entry still receives its terms in pair order
        index_t c0 = 0;
        for (; c0 + W <= k; c0 += W) {
            const R xv = O::load(x + c0);
            T* cc = C + c0;
            index_t t = 0;
            for (; t + 2 <= cnt; t += 2) {
                T* c1 = cc + col[t] * ldc;
                T* c2 = cc + col[t + 1] * ldc;
                const R r1 = O::fma(O::set1(val[t]), xv, O::load(c1));
                const R r2 = O::fma(O::set1(val[t + 1]), xv, O::load(c2));
                O::store(c1, r1);
                O::store(c2, r2);
            }
            for (; t < cnt; ++t) {
                T* c1 = cc + col[t] * ldc;
                O::store(c1, O::fma(O::set1(val[t]), xv, O::load(c1)));
            }
        }
        for (; c0 < k; ++c0)
            for (index_t t = 0; t < cnt; ++t) C[col[t] * ldc + c0] += val[t] * x[c0];
        if (csum)
            for (index_t t = 0; t < cnt; ++t) csum[col[t]] += val[t];
    }

    static T sq_from_dot_min(const T* dot, index_t n, T nx, const T* ny, index_t self, T* out, T* cm) {
        const T inf = std::numeric_limits<T>::infinity();
        const R vnx = O::set1(nx), m2 = O::set1(T(-2)), z = O::zero();
        R m0 = O::set1(inf);
        index_t j = 0;
        for (; j + W <= n; j += W) {
            R v = O::max(O::fma(m2, O::load(dot + j), O::add(vnx, O::load(ny + j))), z);
            if (self >= j && self < j + W) {
                O::store(out + j, v);
                out[self] = inf;
                v = O::load(out + j);
            } else {
                O::store(out + j, v);
            }
            m0 = O::min(v, m0);
            if (cm) O::store(cm + j, O::min(v, O::load(cm + j)));
        }
        alignas(64) T buf[W];
        O::store(buf, m0);
        T m = inf;
        for (int l = 0; l < W; ++l) m = buf[l] < m ? buf[l] : m;
        for (; j < n; ++j) {
            T v = (nx + ny[j]) - T(2) * dot[j];
            v = v > T(0) ? v : T(0);
            if (j == self) v = inf;
            out[j] = v;
            m = v < m ? v : m;
            if (cm) cm[j] = v < cm[j] ? v : cm[j];
        }
        return m;
    }
    static T vsum(const T* v, index_t n) {
        R s0 = O::zero(), s1 = O::zero();
        index_t j = 0;
        for (; j + 2 * W <= n; j += 2 * W) {
            s0 = O::add(s0, O::load(v + j));
            s1 = O::add(s1, O::load(v + j + W));
        }
        for (; j + W <= n; j += W) s0 = O::add(s0, O::load(v + j));
        T s = O::hsum(O::add(s0, s1));
        for (; j < n; ++j) s += v[j];
        return s;
    }
    static void vaxpy(T* y, T a, const T* x, index_t n) {
        const R va = O::set1(a);
        index_t j = 0;
        for (; j + W <= n; j += W) O::store(y + j, O::fma(va, O::load(x + j), O::load(y + j)));
        for (; j < n; ++j) y[j] += a * x[j];
    }

    // ------------------------------------------------------------------ issue 16 part 1
    // braycurtis's denominator
    static void l1_sum(index_t K, const T* a, const T* b, T* c, index_t ldc, bool acc) {
        micro(K, a, b, c, ldc, acc, [](R x, R y, R s) { return O::add(s, O::abs(O::add(x, y))); }, false);
    }
    // 1/s to ~1 ulp for s in the normal range below 2^(emax-2) (the reciprocal estimate's domain)
    static constexpr T kMinNormal = std::numeric_limits<T>::min();
    static constexpr T kRecipMax = T(std::numeric_limits<T>::max() / 8);

    // The K loop of the canberra / jensen-shannon micro-kernels: the MR x NV accumulators stay in
    // registers, term(ai, bv, k) is one lane-wise term.
    template <class Term>
    static inline void micro_terms(index_t K, const T* a, const T* b, T* c, index_t ldc, bool accumulate, Term term) {
        R s[MR][NV];
#pragma GCC unroll 16
        for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
            for (int v = 0; v < NV; ++v) s[i][v] = O::zero();
        for (index_t k = 0; k < K; ++k) {
            R bv[NV];
#pragma GCC unroll 4
            for (int v = 0; v < NV; ++v) bv[v] = O::load(b + k * NR + v * W);
#pragma GCC unroll 16
            for (int i = 0; i < MR; ++i) {
                const R ai = O::set1(a[k * MR + i]);
#pragma GCC unroll 4
                for (int v = 0; v < NV; ++v) s[i][v] = O::add(s[i][v], term(ai, bv[v], k));
            }
        }
#pragma GCC unroll 16
        for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
            for (int v = 0; v < NV; ++v) {
                T* p = c + i * ldc + v * W;
                O::store(p, accumulate ? O::add(O::load(p), s[i][v]) : s[i][v]);
            }
    }
    // The K loop for expensive terms (tens of operations, e.g. two logs): one row of A at a time
    // against the NV vectors of B, so that the temporaries of NV terms fit in the registers beside
    // NV accumulators (the MR x NV block above spilled: 3x slower for jensen-shannon). The loads,
    // one broadcast and NV vectors per k, stay negligible beside the terms.
    template <class Term>
    static inline void micro_terms_rowwise(index_t K, const T* a, const T* b, T* c, index_t ldc, bool accumulate,
                                           Term term) {
        for (int i = 0; i < MR; ++i) {
            R s[NV];
#pragma GCC unroll 4
            for (int v = 0; v < NV; ++v) s[v] = O::zero();
            for (index_t k = 0; k < K; ++k) {
                const R ai = O::set1(a[k * MR + i]);
#pragma GCC unroll 4
                for (int v = 0; v < NV; ++v) s[v] = O::add(s[v], term(ai, O::load(b + k * NR + v * W), k));
            }
#pragma GCC unroll 4
            for (int v = 0; v < NV; ++v) {
                T* p = c + i * ldc + v * W;
                O::store(p, accumulate ? O::add(O::load(p), s[v]) : s[v]);
            }
        }
    }
    // |x-y| / (|x|+|y|), 0 where both are 0. When every |x|, |y| of the panels is 0 or in
    // [min normal, max/16] (checked: the driver tests the packed panels with in_recip_range), every
    // sum is 0 or in [min normal, max/8]: |x-y| times the refined reciprocal of max(|x|+|y|, min
    // normal), a zero sum giving 0 / min = 0. Otherwise (subnormal or huge values in the panels) each
    // register whose sums leave that range takes the exact division.
    template <bool Checked>
    static inline R canberra_term(R x, R y) {
        const R d = O::abs(O::sub(x, y)), s = O::add(O::abs(x), O::abs(y)), z = O::zero();
        const R lo = O::set1(kMinNormal);
        if (!Checked && ((O::lt_mask(z, s) & O::lt_mask(s, lo)) | O::lt_mask(O::set1(kRecipMax), s)))
            return O::select_lt(z, s, O::div(d, s), z);  // 0/0 lanes (NaN) dropped by the select
        return O::mul(d, O::recip_nr(O::max(s, lo)));
    }
    template <bool Checked>
    static void canberra_impl(index_t K, const T* a, const T* b, const T* w, T* c, index_t ldc, bool acc) {
        if (w)
            micro_terms(K, a, b, c, ldc, acc,
                        [w](R x, R y, index_t k) { return O::mul(O::set1(w[k]), canberra_term<Checked>(x, y)); });
        else
            micro_terms(K, a, b, c, ldc, acc, [](R x, R y, index_t) { return canberra_term<Checked>(x, y); });
    }
    static void canberra(index_t K, const T* a, const T* b, const T* w, T* c, index_t ldc, bool acc, bool checked) {
        if (checked)
            canberra_impl<true>(K, a, b, w, c, ldc, acc);
        else
            canberra_impl<false>(K, a, b, w, c, ldc, acc);
    }
    // every v[j] is 0 or |v[j]| in [min normal, max/16] (NaN: false)
    static bool in_recip_range(const T* v, index_t n) {
        const R lo = O::set1(kMinNormal), hi = O::set1(T(std::numeric_limits<T>::max() / 16)), z = O::zero();
        const unsigned full = (W >= 32) ? ~0u : ((1u << W) - 1u);
        unsigned bad = 0;
        index_t j = 0;
        for (; j + W <= n; j += W) {
            const R x = O::abs(O::load(v + j));
            // ok lanes: x == 0 (x < lo and not 0 < x) or lo <= x < hi; NaN fails both
            const unsigned zero = O::lt_mask(x, lo) & ~O::lt_mask(z, x);
            const unsigned normal = ~O::lt_mask(x, lo) & O::lt_mask(x, hi);
            bad |= ~(zero | normal) & full;
        }
        for (; j < n; ++j) {
            const T x = std::fabs(v[j]);
            bad |= unsigned(!(x == T(0) || (x >= kMinNormal && x <= std::numeric_limits<T>::max() / 16)));
        }
        return bad == 0;
    }

    // log of lanes in [min normal, max]: x = m 2^e with m in [sqrt(1/2), sqrt 2), f = m - 1 (exact),
    // s = f / (2 + f), log(1 + f) = 2 atanh(s) = f - f^2/2 + s (f^2/2 + R(s^2)) with
    // R(z) = sum_k 2 z^k / (2k + 1) (|s| <= 0.1716, z <= 0.0295: 9 terms reach 2e-17 in float64, 4
    // terms 2e-9 in float32). Only the small correction term carries the reciprocal's error; e ln 2
    // is added in two parts (Cody-Waite) so that e ln2_hi is exact.
    static inline R log_in_range(R x) {
        using C = exp_constants<T>;
        constexpr int terms = sizeof(T) == 4 ? 4 : 9;
        R e;
        R m = O::split_exp(x, e);
        const R sqrt2 = O::set1(T(1.41421356237309504880));
        e = O::add(e, O::select_lt(sqrt2, m, O::set1(T(1)), O::zero()));
        m = O::select_lt(sqrt2, m, O::mul(m, O::set1(T(0.5))), m);
        const R one = O::set1(T(1));
        const R f = O::sub(m, one);
        const R s = O::mul(f, O::recip_nr(O::add(O::set1(T(2)), f)));
        const R z = O::mul(s, s);
        // P(z) = sum_{k=1..terms} c_k z^(k-1), c_k = 2/(2k+1), by Estrin's scheme (pairs, then z^2,
        // z^4): a dependency chain of 4 multiply-adds instead of Horner's 8 (the kernel is latency-bound)
        auto c = [](int k) { return O::set1(T(2.0 / (2 * k + 1))); };
        const R z2 = O::mul(z, z);
        R r;
        if constexpr (terms == 4) {
            r = O::fma(O::fma(c(4), z, c(3)), z2, O::fma(c(2), z, c(1)));
        } else {
            static_assert(terms == 9, "Estrin's scheme below is written out for 9 terms");
            const R z4 = O::mul(z2, z2);
            const R r0 = O::fma(O::fma(c(4), z, c(3)), z2, O::fma(c(2), z, c(1)));
            const R r1 = O::fma(O::fma(c(8), z, c(7)), z2, O::fma(c(6), z, c(5)));
            r = O::fma(O::fma(c(9), z4, r1), z4, r0);
        }
        r = O::mul(r, z);
        const R hfsq = O::mul(O::set1(T(0.5)), O::mul(f, f));
        const R corr = O::fma(s, O::add(hfsq, r), O::mul(e, O::set1(C::ln2_lo)));
        return O::fma(e, O::set1(C::ln2_hi), O::sub(f, O::sub(hfsq, corr)));
    }
    static inline R log_reg(R x) {
        const unsigned out = O::lt_mask(x, O::set1(kMinNormal)) | O::lt_mask(O::set1(std::numeric_limits<T>::max()), x) |
                             ~O::lt_mask(x, O::set1(std::numeric_limits<T>::infinity())) & ((W >= 32) ? ~0u : ((1u << W) - 1u));
        if (!out) return log_in_range(x);
        alignas(64) T buf[W];
        alignas(64) T res[W];
        O::store(buf, x);
        O::store(res, log_in_range(O::max(x, O::set1(kMinNormal))));
        for (int l = 0; l < W; ++l)
            if (!(buf[l] >= kMinNormal && buf[l] <= std::numeric_limits<T>::max())) res[l] = std::log(buf[l]);
        return O::load(res);
    }
    static void vlog(const T* v, index_t n, T* out) {
        index_t j = 0;
        for (; j + W <= n; j += W) O::store(out + j, log_reg(O::load(v + j)));
        if (j < n) {  // the tail through the same vector code, padded with ones
            alignas(64) T buf[W];
            for (int l = 0; l < W; ++l) buf[l] = j + l < n ? v[j + l] : T(1);
            O::store(buf, log_reg(O::load(buf)));
            for (index_t l = 0; j + l < n; ++l) out[j + l] = buf[l];
        }
    }
    // p log(2p/(p+q)) + q log(2q/(p+q)) for p, q >= 0 (rows normalised to sum 1, so p, q <= 1 and the
    // ratios lie in [0, 2]). Ratios below the smallest normal are raised to it: a zero p then gives
    // 0 * log(min) = 0 (0 log 0 = 0), and a p that small contributes below 1e-300 (1e-36 in float32)
    // anyway. Where p == q the term is exactly 0 (identical rows give exactly 0, as scipy).
    static inline R js_term(R p, R q) {
        const R lo = O::set1(kMinNormal), z = O::zero();
        const R inv = O::recip_nr(O::max(O::add(p, q), lo));
        const R rp = O::max(O::mul(O::add(p, p), inv), lo);
        const R rq = O::max(O::mul(O::add(q, q), inv), lo);
        const R t = O::fma(p, log_in_range(rp), O::mul(q, log_in_range(rq)));
        return O::select_lt(z, O::abs(O::sub(p, q)), t, z);
    }
    static void js(index_t K, const T* a, const T* b, T* c, index_t ldc, bool acc) {
        micro_terms_rowwise(K, a, b, c, ldc, acc, [](R x, R y, index_t) { return js_term(x, y); });
    }

    static KernelTable<T> table(const char* name) {
        KernelTable<T> t{};
        t.name = name;
        t.mr = MR;
        t.nr = NR;
        t.dot = &dot;
        t.l1 = &l1;
        t.linf = &linf;
        t.sqd = &sqd;
        t.chi2 = &chi2;
        static_assert(KernelTable<T>::kMaxIntegralP == 8, "lp_int table below lists p = 3 .. 8");
        t.lp_int[3] = &lp_int<3>;
        t.lp_int[4] = &lp_int<4>;
        t.lp_int[5] = &lp_int<5>;
        t.lp_int[6] = &lp_int<6>;
        t.lp_int[7] = &lp_int<7>;
        t.lp_int[8] = &lp_int<8>;
        t.sq_from_dot = &sq_from_dot;
        t.one_minus = &one_minus;
        t.affine = &affine;
        t.sqrt_inplace = &sqrt_inplace;
        t.exp_scaled = &exp_scaled;
        t.tanh_affine = &tanh_affine;
        t.powi_affine = &powi_affine;
        t.select_below = &select_below;
        t.count_le = &count_le;
        t.sq_candidates = &sq_candidates;
        t.sq_below = &sq_below;
        t.stream_copy = &stream_copy;
        t.stream_fence = &stream_fence;
        t.sqdist = &sqdist;
        t.any_nonfinite = &any_nonfinite;
        t.axpy_acc = &axpy_acc;
        t.axpy2_acc = &axpy2_acc;
        t.vdot = &vdot;
        t.rank1_apply = &rank1_apply;
        t.exp_diff = &exp_diff;
        t.s_row = &s_row;
        t.count_abs_above = &count_abs_above;
        t.select_abs_above = &select_abs_above;
        t.gather_gemv = &gather_gemv;
        t.scatter_axpy = &scatter_axpy;
        t.select_within_cut = &select_within_cut;
        t.sq_from_dot_min = &sq_from_dot_min;
        t.vsum = &vsum;
        t.vaxpy = &vaxpy;
        // issue 16 part 1
        t.l1_sum = &l1_sum;
        t.canberra = &canberra;
        t.in_recip_range = &in_recip_range;
        t.js = &js;
        t.vlog = &vlog;
        return t;
    }
};

// One ISA's pair of tables (float, double), each built once on first use: what each ISA's
// translation unit returns from its kernels_<isa>_f32 / _f64.
template <template <class> class Ops, int MR, int NV>
struct isa_tables {
    static const KernelTable<float>& f32(const char* name) {
        static const KernelTable<float> t = kernels<Ops<float>, MR, NV>::table(name);
        return t;
    }
    static const KernelTable<double>& f64(const char* name) {
        static const KernelTable<double> t = kernels<Ops<double>, MR, NV>::table(name);
        return t;
    }
};

}  // namespace
}  // namespace fastmetric
