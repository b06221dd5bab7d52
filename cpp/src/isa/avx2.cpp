// AVX2 + FMA kernels. Compiled with -mavx2 -mfma (this file only); used when the CPU reports both.
// Register block 6 x 16 floats (6 x 8 doubles): 12 accumulators + 2 B vectors + 1 broadcast = 15 ymm.
#include "fastmetric/kernels_impl.hpp"
#include "fastmetric/simd/avx2.hpp"

namespace fastmetric {
using tables_avx2 = isa_tables<simd::avx2_ops, 6, 2>;
const KernelTable<float>& kernels_avx2_f32() { return tables_avx2::f32("avx2"); }
const KernelTable<double>& kernels_avx2_f64() { return tables_avx2::f64("avx2"); }
}  // namespace fastmetric
