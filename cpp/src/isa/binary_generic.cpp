// Portable popcount tiles (baseline flags): SWAR popcount per 64-bit word.
#include "fastmetric/binary_impl.hpp"

namespace fastmetric {
namespace {
using namespace binary_detail;

template <int MR, int NR>
struct GenericTile {
    static void run(const std::uint64_t* a, index_t lda, const std::uint64_t* b, index_t ldb, index_t words,
                    std::uint32_t* c, index_t ldc) {
        tile_scalar<MR, NR>(a, lda, b, ldb, words, c, ldc, popcount_swar);
    }
};

std::uint64_t popcount_row_generic(const std::uint64_t* a, index_t words) {
    std::uint64_t s = 0;
    for (index_t w = 0; w < words; ++w) s += popcount_swar(load_word(a + w));
    return s;
}
}  // namespace

const BinaryKernels& binary_kernels_generic() {
    static const BinaryKernels t{"generic", tile_dispatch<GenericTile>, popcount_row_generic};
    return t;
}

}  // namespace fastmetric
