// AVX-512 kernels. Compiled with -mavx512f -mavx512dq (this file only); used when the CPU and OS
// report AVX-512F/DQ. Register block 12 x 32 floats (12 x 16 doubles): 24 accumulators of 32 zmm.
#include "fastmetric/kernels_impl.hpp"
#include "fastmetric/simd/avx512.hpp"

namespace fastmetric {
const KernelTable<float>& kernels_avx512_f32() {
    static const KernelTable<float> t = kernels<simd::avx512_ops<float>, 12, 2>::table("avx512");
    return t;
}
const KernelTable<double>& kernels_avx512_f64() {
    static const KernelTable<double> t = kernels<simd::avx512_ops<double>, 12, 2>::table("avx512");
    return t;
}
}  // namespace fastmetric
