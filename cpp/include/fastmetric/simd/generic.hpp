// Portable "vector" of a few lanes held in a plain array: builds on every target (x86-64 baseline,
// aarch64, ...). Compilers turn these fixed-trip loops into SSE2/NEON code; this is also the
// reference path selected by FASTMETRIC_ISA=generic.
#pragma once
#include <cmath>
#include <cstring>
#include <type_traits>

namespace fastmetric {
namespace simd {

#if defined(__GNUC__) || defined(__clang__)
// GCC / Clang vector extensions: 128-bit vectors that compile to SSE2 on x86-64 and NEON on
// aarch64 (both baseline). Plain arrays would be scalarised by the compiler.
template <class T>
struct vec_traits;
template <>
struct vec_traits<float> {
    typedef float vec __attribute__((vector_size(16)));
    typedef int ivec __attribute__((vector_size(16)));
    static constexpr float magic = 12582912.0f;  // 1.5 * 2^23: x + magic - magic rounds to nearest
    static constexpr int mant = 23, bias = 127;
};
template <>
struct vec_traits<double> {
    typedef double vec __attribute__((vector_size(16)));
    typedef long long ivec __attribute__((vector_size(16)));
    static constexpr double magic = 6755399441055744.0;  // 1.5 * 2^52
    static constexpr int mant = 52, bias = 1023;
};

template <class T>
struct generic_ops {
    static constexpr int W = 16 / sizeof(T);
    using reg = typename vec_traits<T>::vec;
    using ireg = typename vec_traits<T>::ivec;
    using value_type = T;

    static reg zero() { return reg{} ; }
    static reg set1(T x) { return reg{} + x; }
    static reg load(const T* p) { reg r; std::memcpy(&r, p, sizeof(r)); return r; }
    static void store(T* p, reg a) { std::memcpy(p, &a, sizeof(a)); }
    static void stream(T* p, reg a) { store(p, a); }  // no portable non-temporal store
    static void fence() {}
    static reg recip(reg a) { return set1(T(1)) / a; }
    static reg add(reg a, reg b) { return a + b; }
    static reg sub(reg a, reg b) { return a - b; }
    static reg mul(reg a, reg b) { return a * b; }
    static reg div(reg a, reg b) { return a / b; }
    static reg max(reg a, reg b) { return a > b ? a : b; }
    static reg min(reg a, reg b) { return a < b ? a : b; }
    // a*b + c, rounded twice (no FMA in the x86-64 baseline)
    static reg fma(reg a, reg b, reg c) { return a * b + c; }
    static reg abs(reg a) { return a < zero() ? -a : a; }
    static reg sqrt(reg a) {
        for (int l = 0; l < W; ++l) a[l] = std::sqrt(a[l]);
        return a;
    }
    // round to nearest even, valid for |a| < 2^(mant-1): enough for exp's range reduction
    static reg round(reg a) {
        const reg m = set1(vec_traits<T>::magic);
        return (a + m) - m;
    }
    static unsigned lt_mask(reg a, reg b) {
        const auto c = a < b;
        unsigned m = 0;
        for (int l = 0; l < W; ++l) m |= (c[l] ? 1u : 0u) << l;
        return m;
    }
    static reg select_lt(reg a, reg b, reg x, reg y) { return a < b ? x : y; }
    static reg copysign(reg mag, reg sgn) {
        const reg s = sgn < zero() ? -abs(mag) : abs(mag);
        return s;
    }
    static reg pow2i(reg n) {
        const ireg e = __builtin_convertvector(n, ireg) + ireg{} + vec_traits<T>::bias;
        const ireg bits = e << vec_traits<T>::mant;
        reg r;
        std::memcpy(&r, &bits, sizeof(r));
        return r;
    }
    static T hsum(reg a) { T s = 0; for (int l = 0; l < W; ++l) s += a[l]; return s; }
    static T hmax(reg a) { T s = a[0]; for (int l = 1; l < W; ++l) s = a[l] > s ? a[l] : s; return s; }
    // ---- issue 16 part 1 (the vector log): x = m 2^e with m in [1, 2), for finite normal x > 0
    static reg split_exp(reg x, reg& e) {
        ireg bits;
        std::memcpy(&bits, &x, sizeof(x));
        constexpr int mb = vec_traits<T>::mant;
        using I = typename std::conditional<sizeof(T) == 4, int, long long>::type;
        const ireg mant_mask = ireg{} + ((I(1) << mb) - 1);
        const ireg one_bits = ireg{} + (I(vec_traits<T>::bias) << mb);
        e = __builtin_convertvector((bits >> mb) - vec_traits<T>::bias, reg);
        const ireg mbits = (bits & mant_mask) | one_bits;
        reg m;
        std::memcpy(&m, &mbits, sizeof(m));
        return m;
    }
    // 1/a (correctly rounded here; the SIMD tables use a refined estimate)
    static reg recip_nr(reg a) { return set1(T(1)) / a; }
};

#else  // portable fallback: a few lanes in a plain array

template <class T>
struct generic_ops {
    static constexpr int W = 16 / sizeof(T);
    struct reg {
        T v[W];
    };
    using value_type = T;

    static reg zero() { reg r; for (int l = 0; l < W; ++l) r.v[l] = T(0); return r; }
    static reg set1(T x) { reg r; for (int l = 0; l < W; ++l) r.v[l] = x; return r; }
    static reg load(const T* p) { reg r; std::memcpy(r.v, p, sizeof(r.v)); return r; }
    static void store(T* p, reg a) { std::memcpy(p, a.v, sizeof(a.v)); }
#define FM_GEN_BINOP(name, expr)                                    \
    static reg name(reg a, reg b) {                                 \
        reg r;                                                      \
        for (int l = 0; l < W; ++l) { T x = a.v[l], y = b.v[l]; r.v[l] = (expr); } \
        return r;                                                   \
    }
    FM_GEN_BINOP(add, x + y)
    FM_GEN_BINOP(sub, x - y)
    FM_GEN_BINOP(mul, x * y)
    FM_GEN_BINOP(div, x / y)
    FM_GEN_BINOP(max, x > y ? x : y)
    FM_GEN_BINOP(min, x < y ? x : y)
#undef FM_GEN_BINOP
    // a*b + c, rounded twice: std::fma would be a slow library call on targets without FMA.
    static reg fma(reg a, reg b, reg c) {
        reg r;
        for (int l = 0; l < W; ++l) r.v[l] = a.v[l] * b.v[l] + c.v[l];
        return r;
    }
    static reg abs(reg a) { reg r; for (int l = 0; l < W; ++l) r.v[l] = std::fabs(a.v[l]); return r; }
    static reg sqrt(reg a) { reg r; for (int l = 0; l < W; ++l) r.v[l] = std::sqrt(a.v[l]); return r; }
    static reg round(reg a) { reg r; for (int l = 0; l < W; ++l) r.v[l] = std::nearbyint(a.v[l]); return r; }
    // bit l set where a[l] < b[l]
    static unsigned lt_mask(reg a, reg b) {
        unsigned m = 0;
        for (int l = 0; l < W; ++l) m |= (a.v[l] < b.v[l] ? 1u : 0u) << l;
        return m;
    }
    // a < b ? x : y, lane by lane
    static reg select_lt(reg a, reg b, reg x, reg y) {
        reg r;
        for (int l = 0; l < W; ++l) r.v[l] = a.v[l] < b.v[l] ? x.v[l] : y.v[l];
        return r;
    }
    static reg copysign(reg mag, reg sgn) {
        reg r;
        for (int l = 0; l < W; ++l) r.v[l] = std::copysign(mag.v[l], sgn.v[l]);
        return r;
    }
    // 2^n for integral n inside the normal exponent range
    static reg pow2i(reg n) {
        reg r;
        for (int l = 0; l < W; ++l) r.v[l] = std::ldexp(T(1), static_cast<int>(n.v[l]));
        return r;
    }
    static void stream(T* p, reg a) { store(p, a); }  // no portable non-temporal store
    static void fence() {}
    static reg recip(reg a) { return div(set1(T(1)), a); }
    static T hsum(reg a) { T s = 0; for (int l = 0; l < W; ++l) s += a.v[l]; return s; }
    static T hmax(reg a) { T s = a.v[0]; for (int l = 1; l < W; ++l) s = a.v[l] > s ? a.v[l] : s; return s; }
    // ---- issue 16 part 1 (the vector log): x = m 2^e with m in [1, 2), for finite normal x > 0
    static reg split_exp(reg x, reg& e) {
        reg m;
        for (int l = 0; l < W; ++l) {
            int ex = 0;
            m.v[l] = T(2) * std::frexp(x.v[l], &ex);  // frexp: [0.5, 1)
            e.v[l] = T(ex - 1);
        }
        return m;
    }
    static reg recip_nr(reg a) { return recip(a); }
};
#endif

}  // namespace simd
}  // namespace fastmetric
