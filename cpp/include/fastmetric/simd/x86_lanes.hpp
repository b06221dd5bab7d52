// The lane operations that are one intrinsic each and spelled alike for every x86 register width
// and element type, written once: P is the width prefix (_mm256, _mm512), S the type suffix (ps, pd),
// V the element type. Each ops struct of simd/avx2.hpp and simd/avx512.hpp expands it after its
// `reg` / `value_type` and adds the operations whose intrinsics differ (abs, round, masks, ...).
#pragma once

#define FASTMETRIC_X86_LANE_OPS(P, S, V)                                   \
    static reg zero() { return P##_setzero_##S(); }                        \
    static reg set1(V x) { return P##_set1_##S(x); }                       \
    static reg load(const V* p) { return P##_loadu_##S(p); }               \
    static void store(V* p, reg a) { P##_storeu_##S(p, a); }               \
    static reg add(reg a, reg b) { return P##_add_##S(a, b); }             \
    static reg sub(reg a, reg b) { return P##_sub_##S(a, b); }             \
    static reg mul(reg a, reg b) { return P##_mul_##S(a, b); }             \
    static reg div(reg a, reg b) { return P##_div_##S(a, b); }             \
    static reg max(reg a, reg b) { return P##_max_##S(a, b); }             \
    static reg min(reg a, reg b) { return P##_min_##S(a, b); }             \
    static reg fma(reg a, reg b, reg c) { return P##_fmadd_##S(a, b, c); } \
    static reg sqrt(reg a) { return P##_sqrt_##S(a); }
