// Run-time CPU feature detection, done once and cached (baseline flags).
#include "fastmetric/cpu_features.hpp"

#include <atomic>

namespace fastmetric {

#if (defined(__x86_64__) || defined(__i386__) || defined(_M_X64)) && (defined(__GNUC__) || defined(__clang__))
// __builtin_cpu_supports also checks that the OS saves the wide registers (XGETBV).
bool cpu_has_avx2() {
    static const bool v = [] {
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    }();
    return v;
}
bool cpu_has_avx512() {
    static const bool v = [] {
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
               __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw") && cpu_has_avx2();
    }();
    return v;
}
// --- boolean metrics (binary.cpp)
bool cpu_has_avx512_vpopcntdq() {
    static const bool v = [] {
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx512vpopcntdq") && cpu_has_avx512();
    }();
    return v;
}
bool cpu_is_amd() {
    static const bool v = [] {
        __builtin_cpu_init();
        return __builtin_cpu_is("amd") != 0;
    }();
    return v;
}
#else
bool cpu_is_amd() { return false; }
bool cpu_has_avx2() { return false; }
bool cpu_has_avx512() { return false; }
bool cpu_has_avx512_vpopcntdq() { return false; }
#endif

}  // namespace fastmetric
