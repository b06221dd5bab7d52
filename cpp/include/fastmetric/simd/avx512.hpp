// AVX-512F lanes: 16 x float32 or 8 x float64 in one zmm register, 32 registers.
// Include only from translation units compiled with -mavx512f -mavx512dq.
#pragma once
#include <immintrin.h>

#include "fastmetric/simd/x86_lanes.hpp"

#include <cstdint>

namespace fastmetric {
namespace simd {

template <class T>
struct avx512_ops;

template <>
struct avx512_ops<float> {
    static constexpr int W = 16;
    using reg = __m512;
    using value_type = float;
    FASTMETRIC_X86_LANE_OPS(_mm512, ps, float)
    static reg abs(reg a) { return _mm512_abs_ps(a); }
    static reg round(reg a) { return _mm512_roundscale_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
    static unsigned lt_mask(reg a, reg b) { return unsigned(_mm512_cmp_ps_mask(a, b, _CMP_LT_OQ)); }
    static reg select_lt(reg a, reg b, reg x, reg y) { return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, b, _CMP_LT_OQ), y, x); }
    static reg copysign(reg mag, reg sgn) {
        const __m512i sm = _mm512_set1_epi32(int(0x80000000u));
        __m512i r = _mm512_or_si512(_mm512_andnot_si512(sm, _mm512_castps_si512(mag)),
                                    _mm512_and_si512(sm, _mm512_castps_si512(sgn)));
        return _mm512_castsi512_ps(r);
    }
    static reg pow2i(reg n) {
        __m512i e = _mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127));
        return _mm512_castsi512_ps(_mm512_slli_epi32(e, 23));
    }
    static reg recip(reg a) {  // 14-bit estimate + one Newton step
        const reg r = _mm512_rcp14_ps(a);
        return _mm512_mul_ps(r, _mm512_fnmadd_ps(a, r, _mm512_set1_ps(2.0f)));
    }
    static void stream(float* p, reg a) { _mm512_stream_ps(p, a); }
    static void fence() { _mm_sfence(); }
    // the lanes of a where m is set, packed to p; their indices base + l packed to idx
    static void compress_store(float* p, unsigned m, reg a) { _mm512_mask_compressstoreu_ps(p, __mmask16(m), a); }
    static void compress_store_index(std::int32_t* idx, unsigned m, int base) {
        const __m512i l = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        _mm512_mask_compressstoreu_epi32(idx, __mmask16(m), _mm512_add_epi32(_mm512_set1_epi32(base), l));
    }
    static float hsum(reg a) { return _mm512_reduce_add_ps(a); }
    static float hmax(reg a) { return _mm512_reduce_max_ps(a); }    // ---- issue 16 part 1 (the vector log): x = m 2^e with m in [1, 2), for finite x > 0
    static reg split_exp(reg x, reg& e) {
        e = _mm512_getexp_ps(x);
        return _mm512_getmant_ps(x, _MM_MANT_NORM_1_2, _MM_MANT_SIGN_zero);
    }
    static reg recip_nr(reg a) { return recip(a); }  // 14-bit estimate + one Newton step
};

template <>
struct avx512_ops<double> {
    static constexpr int W = 8;
    using reg = __m512d;
    using value_type = double;
    FASTMETRIC_X86_LANE_OPS(_mm512, pd, double)
    static reg abs(reg a) { return _mm512_abs_pd(a); }
    static reg round(reg a) { return _mm512_roundscale_pd(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
    static unsigned lt_mask(reg a, reg b) { return unsigned(_mm512_cmp_pd_mask(a, b, _CMP_LT_OQ)); }
    static reg select_lt(reg a, reg b, reg x, reg y) { return _mm512_mask_blend_pd(_mm512_cmp_pd_mask(a, b, _CMP_LT_OQ), y, x); }
    static reg copysign(reg mag, reg sgn) {
        const __m512i sm = _mm512_set1_epi64(static_cast<long long>(0x8000000000000000ull));
        __m512i r = _mm512_or_si512(_mm512_andnot_si512(sm, _mm512_castpd_si512(mag)),
                                    _mm512_and_si512(sm, _mm512_castpd_si512(sgn)));
        return _mm512_castsi512_pd(r);
    }
    static reg pow2i(reg n) {
        __m512i e = _mm512_add_epi64(_mm512_cvtpd_epi64(n), _mm512_set1_epi64(1023));
        return _mm512_castsi512_pd(_mm512_slli_epi64(e, 52));
    }
    static reg recip(reg a) { return _mm512_div_pd(_mm512_set1_pd(1.0), a); }
    static void stream(double* p, reg a) { _mm512_stream_pd(p, a); }
    static void fence() { _mm_sfence(); }
    static void compress_store(double* p, unsigned m, reg a) { _mm512_mask_compressstoreu_pd(p, __mmask8(m), a); }
    static void compress_store_index(std::int32_t* idx, unsigned m, int base) {
        const __m512i l = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        _mm512_mask_compressstoreu_epi32(idx, __mmask16(m & 0xffu), _mm512_add_epi32(_mm512_set1_epi32(base), l));
    }
    static double hsum(reg a) { return _mm512_reduce_add_pd(a); }
    static double hmax(reg a) { return _mm512_reduce_max_pd(a); }    // ---- issue 16 part 1 (the vector log): x = m 2^e with m in [1, 2), for finite x > 0
    static reg split_exp(reg x, reg& e) {
        e = _mm512_getexp_pd(x);
        return _mm512_getmant_pd(x, _MM_MANT_NORM_1_2, _MM_MANT_SIGN_zero);
    }
    // 1/a to ~1 ulp for a in [2^-1022, 2^1021]: the 14-bit estimate and two Newton steps (14 -> 28 ->
    // 56 bits), a third of vdivpd's cost
    static reg recip_nr(reg a) {
        const reg one = _mm512_set1_pd(1.0);
        reg r = _mm512_rcp14_pd(a);
        r = _mm512_fmadd_pd(r, _mm512_fnmadd_pd(a, r, one), r);
        return _mm512_fmadd_pd(r, _mm512_fnmadd_pd(a, r, one), r);
    }
};

}  // namespace simd
}  // namespace fastmetric
