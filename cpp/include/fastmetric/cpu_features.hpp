// What the CPU supports (cpu_features.cpp): asked once by the ISA choice (isa_dispatch.cpp).
#pragma once

namespace fastmetric {

bool cpu_has_avx2();    // AVX2 + FMA, and the OS saves the ymm state
bool cpu_has_avx512();  // AVX-512 F/DQ/VL/BW, and the OS saves the zmm state
bool cpu_is_amd();
// --- boolean metrics (binary.cpp): AVX-512 VPOPCNTDQ on top of cpu_has_avx512()
bool cpu_has_avx512_vpopcntdq();

}  // namespace fastmetric
