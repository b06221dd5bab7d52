// AVX2 + FMA kernels. Compiled with -mavx2 -mfma (this file only); used when the CPU reports both.
// Register block 6 x 16 floats (6 x 8 doubles): 12 accumulators + 2 B vectors + 1 broadcast = 15 ymm.
#include "fastmetric/kernels_impl.hpp"
#include "fastmetric/simd/avx2.hpp"

namespace fastmetric {
const KernelTable<float>& kernels_avx2_f32() {
    static const KernelTable<float> t = kernels<simd::avx2_ops<float>, 6, 2>::table("avx2");
    return t;
}
const KernelTable<double>& kernels_avx2_f64() {
    static const KernelTable<double> t = kernels<simd::avx2_ops<double>, 6, 2>::table("avx2");
    return t;
}
}  // namespace fastmetric
