// AVX-512 kernels. Compiled with -mavx512f -mavx512dq (this file only); used when the CPU and OS
// report AVX-512F/DQ. Register block 12 x 32 floats (12 x 16 doubles): 24 accumulators of 32 zmm.
#include "fastmetric/kernels_impl.hpp"
#include "fastmetric/simd/avx512.hpp"

namespace fastmetric {
using tables_avx512 = isa_tables<simd::avx512_ops, 12, 2>;
const KernelTable<float>& kernels_avx512_f32() { return tables_avx512::f32("avx512"); }
const KernelTable<double>& kernels_avx512_f64() { return tables_avx512::f64("avx512"); }
}  // namespace fastmetric
