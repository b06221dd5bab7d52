// Which instruction set runs: chosen once from the CPU (or FASTMETRIC_ISA / set_isa), then the
// kernel table every call uses. Nothing here computes; engine.cpp and the learners ask active_kernels.
#include <atomic>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

#include "fastmetric/cpu_features.hpp"
#include "fastmetric/engine.hpp"
#include "fastmetric/kernels.hpp"

namespace fastmetric {

// ----------------------------------------------------------------------------- ISA dispatch

namespace {
enum Isa { isa_generic = 0, isa_avx2 = 1, isa_avx512 = 2 };
std::atomic<int> g_isa{-1};

// AVX-512 is the default only where it is measured to pay: on AMD Zen 4 the 512-bit units are
// double-pumped 256-bit ones, and the AVX2 kernels ran 5-30% faster there (README, "Benchmarks").
int best_isa() {
#if defined(FASTMETRIC_HAVE_X86_ISAS)
    if (cpu_has_avx512() && !cpu_is_amd()) return isa_avx512;
    if (cpu_has_avx2()) return isa_avx2;
#endif
    return isa_generic;
}
bool isa_available(int isa) {
    if (isa == isa_generic) return true;
#if defined(FASTMETRIC_HAVE_X86_ISAS)
    if (isa == isa_avx2) return cpu_has_avx2();
    if (isa == isa_avx512) return cpu_has_avx512();
#endif
    return false;
}
int parse_isa(const std::string& s) {
    if (s == "generic" || s == "scalar") return isa_generic;
    if (s == "avx2") return isa_avx2;
    if (s == "avx512") return isa_avx512;
    return -1;
}
int current_isa() {
    int isa = g_isa.load(std::memory_order_relaxed);
    if (isa >= 0) return isa;
    isa = best_isa();
    if (const char* env = std::getenv("FASTMETRIC_ISA")) {
        // An unknown or unavailable request falls back to the best ISA below it, never above.
        int req = parse_isa(env);
        if (req >= 0) {
            while (req > 0 && !isa_available(req)) --req;
            isa = std::min(isa, req);
        }
    }
    g_isa.store(isa);
    return isa;
}
const char* isa_names[] = {"generic", "avx2", "avx512"};
}  // namespace

const char* isa_name() { return isa_names[current_isa()]; }

std::vector<std::string> available_isas() {
    std::vector<std::string> r;
    for (int i = 0; i < 3; ++i)
        if (isa_available(i)) r.push_back(isa_names[i]);
    return r;
}

void set_isa(const std::string& name) {
    int isa = parse_isa(name);
    if (name == "best") isa = best_isa();
    if (isa < 0) throw std::invalid_argument("unknown ISA '" + name + "' (expected generic, avx2, avx512 or best)");
    if (!isa_available(isa)) throw std::invalid_argument("ISA '" + name + "' is not available on this CPU/build");
    g_isa.store(isa);
}

template <>
const KernelTable<float>& active_kernels<float>() {
    switch (current_isa()) {
#if defined(FASTMETRIC_HAVE_X86_ISAS)
        case isa_avx512: return kernels_avx512_f32();
        case isa_avx2: return kernels_avx2_f32();
#endif
        default: return kernels_generic_f32();
    }
}
template <>
const KernelTable<double>& active_kernels<double>() {
    switch (current_isa()) {
#if defined(FASTMETRIC_HAVE_X86_ISAS)
        case isa_avx512: return kernels_avx512_f64();
        case isa_avx2: return kernels_avx2_f64();
#endif
        default: return kernels_generic_f64();
    }
}

}  // namespace fastmetric
