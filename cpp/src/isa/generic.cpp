// Portable kernels: baseline flags, every architecture. Also the oracle path (FASTMETRIC_ISA=generic).
#include "fastmetric/kernels_impl.hpp"
#include "fastmetric/simd/generic.hpp"

namespace fastmetric {
const KernelTable<float>& kernels_generic_f32() {
    static const KernelTable<float> t = kernels<simd::generic_ops<float>, 4, 2>::table("generic");
    return t;
}
const KernelTable<double>& kernels_generic_f64() {
    static const KernelTable<double> t = kernels<simd::generic_ops<double>, 4, 2>::table("generic");
    return t;
}
}  // namespace fastmetric
