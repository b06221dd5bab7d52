// AVX2 + FMA lanes: 8 x float32 or 4 x float64 in one ymm register.
// Include only from translation units compiled with -mavx2 -mfma.
#pragma once
#include <immintrin.h>

#include "fastmetric/simd/x86_lanes.hpp"

namespace fastmetric {
namespace simd {

template <class T>
struct avx2_ops;

template <>
struct avx2_ops<float> {
    static constexpr int W = 8;
    using reg = __m256;
    using value_type = float;
    FASTMETRIC_X86_LANE_OPS(_mm256, ps, float)
    static reg abs(reg a) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), a); }
    static reg round(reg a) { return _mm256_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
    static unsigned lt_mask(reg a, reg b) { return unsigned(_mm256_movemask_ps(_mm256_cmp_ps(a, b, _CMP_LT_OQ))); }
    static reg select_lt(reg a, reg b, reg x, reg y) { return _mm256_blendv_ps(y, x, _mm256_cmp_ps(a, b, _CMP_LT_OQ)); }
    static reg copysign(reg mag, reg sgn) {
        const reg sm = _mm256_set1_ps(-0.0f);
        return _mm256_or_ps(_mm256_andnot_ps(sm, mag), _mm256_and_ps(sm, sgn));
    }
    static reg pow2i(reg n) {
        __m256i e = _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127));
        return _mm256_castsi256_ps(_mm256_slli_epi32(e, 23));
    }
    // 1/a to ~1 ulp: the 12-bit estimate refined by one Newton step (cheaper than vdivps)
    static reg recip(reg a) {
        const reg r = _mm256_rcp_ps(a);
        return _mm256_mul_ps(r, _mm256_fnmadd_ps(a, r, _mm256_set1_ps(2.0f)));
    }
    static void stream(float* p, reg a) { _mm256_stream_ps(p, a); }
    static void fence() { _mm_sfence(); }
    static float hsum(reg a) {
        __m128 s = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
        s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        s = _mm_add_ss(s, _mm_movehdup_ps(s));
        return _mm_cvtss_f32(s);
    }
    static float hmax(reg a) {
        __m128 s = _mm_max_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
        s = _mm_max_ps(s, _mm_movehl_ps(s, s));
        s = _mm_max_ss(s, _mm_movehdup_ps(s));
        return _mm_cvtss_f32(s);
    }    // ---- issue 16 part 1 (the vector log): x = m 2^e with m in [1, 2), for finite normal x > 0
    static reg split_exp(reg x, reg& e) {
        const __m256i bits = _mm256_castps_si256(x);
        e = _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_srli_epi32(bits, 23), _mm256_set1_epi32(127)));
        const __m256i m = _mm256_or_si256(_mm256_and_si256(bits, _mm256_set1_epi32(0x007fffff)),
                                          _mm256_set1_epi32(0x3f800000));
        return _mm256_castsi256_ps(m);
    }
    static reg recip_nr(reg a) { return recip(a); }  // 12-bit estimate + one Newton step
};

template <>
struct avx2_ops<double> {
    static constexpr int W = 4;
    using reg = __m256d;
    using value_type = double;
    FASTMETRIC_X86_LANE_OPS(_mm256, pd, double)
    static reg abs(reg a) { return _mm256_andnot_pd(_mm256_set1_pd(-0.0), a); }
    static reg round(reg a) { return _mm256_round_pd(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
    static unsigned lt_mask(reg a, reg b) { return unsigned(_mm256_movemask_pd(_mm256_cmp_pd(a, b, _CMP_LT_OQ))); }
    static reg select_lt(reg a, reg b, reg x, reg y) { return _mm256_blendv_pd(y, x, _mm256_cmp_pd(a, b, _CMP_LT_OQ)); }
    static reg copysign(reg mag, reg sgn) {
        const reg sm = _mm256_set1_pd(-0.0);
        return _mm256_or_pd(_mm256_andnot_pd(sm, mag), _mm256_and_pd(sm, sgn));
    }
    static reg pow2i(reg n) {
        __m256i e = _mm256_cvtepi32_epi64(_mm256_cvtpd_epi32(n));
        e = _mm256_add_epi64(e, _mm256_set1_epi64x(1023));
        return _mm256_castsi256_pd(_mm256_slli_epi64(e, 52));
    }
    static reg recip(reg a) { return _mm256_div_pd(_mm256_set1_pd(1.0), a); }
    static void stream(double* p, reg a) { _mm256_stream_pd(p, a); }
    static void fence() { _mm_sfence(); }
    static double hsum(reg a) {
        __m128d s = _mm_add_pd(_mm256_castpd256_pd128(a), _mm256_extractf128_pd(a, 1));
        return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
    }
    static double hmax(reg a) {
        __m128d s = _mm_max_pd(_mm256_castpd256_pd128(a), _mm256_extractf128_pd(a, 1));
        return _mm_cvtsd_f64(_mm_max_sd(s, _mm_unpackhi_pd(s, s)));
    }    // ---- issue 16 part 1 (the vector log): x = m 2^e with m in [1, 2), for finite normal x > 0.
    // The biased exponent (0 .. 2047) goes to double exactly through the 2^52 mantissa trick (AVX2
    // has no int64 -> double conversion).
    static reg split_exp(reg x, reg& e) {
        const __m256i bits = _mm256_castpd_si256(x);
        const __m256i two52 = _mm256_set1_epi64x(0x4330000000000000ll);
        const reg biased = _mm256_castsi256_pd(_mm256_or_si256(_mm256_srli_epi64(bits, 52), two52));
        e = _mm256_sub_pd(biased, _mm256_set1_pd(4503599627370496.0 + 1023.0));
        const __m256i m = _mm256_or_si256(_mm256_and_si256(bits, _mm256_set1_epi64x(0x000fffffffffffffll)),
                                          _mm256_set1_epi64x(0x3ff0000000000000ll));
        return _mm256_castsi256_pd(m);
    }
    static reg recip_nr(reg a) { return recip(a); }  // a division: AVX2 has no double reciprocal estimate
};

}  // namespace simd
}  // namespace fastmetric
