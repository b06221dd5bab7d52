// Portable "vector" of a few lanes held in a plain array: builds on every target (x86-64 baseline,
// aarch64, ...). Compilers turn these fixed-trip loops into SSE2/NEON code; this is also the
// reference path selected by FASTMETRIC_ISA=generic.
#pragma once
#include <cmath>
#include <cstring>

namespace fastmetric {
namespace simd {

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
    static T hsum(reg a) { T s = 0; for (int l = 0; l < W; ++l) s += a.v[l]; return s; }
    static T hmax(reg a) { T s = a.v[0]; for (int l = 1; l < W; ++l) s = a.v[l] > s ? a.v[l] : s; return s; }
};

}  // namespace simd
}  // namespace fastmetric
