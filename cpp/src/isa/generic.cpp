// Portable kernels: baseline flags, every architecture. Also the oracle path (FASTMETRIC_ISA=generic).
#include "fastmetric/kernels_impl.hpp"
#include "fastmetric/simd/generic.hpp"

namespace fastmetric {
using tables_generic = isa_tables<simd::generic_ops, 4, 2>;
const KernelTable<float>& kernels_generic_f32() { return tables_generic::f32("generic"); }
const KernelTable<double>& kernels_generic_f64() { return tables_generic::f64("generic"); }
}  // namespace fastmetric
