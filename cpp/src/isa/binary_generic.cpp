// Portable popcount tiles (baseline flags): SWAR popcount per 64-bit word.
#include "fastmetric/binary_impl.hpp"

namespace fastmetric {
namespace {
using namespace binary_detail;

template <int MR, int NR>
struct GenericTile {
    static void run(const TileArgs& t) { tile_scalar<MR, NR>(t, popcount_swar); }
};

std::uint64_t popcount_row_generic(const std::uint64_t* a, index_t words) {
    return popcount_row_with(a, words, popcount_swar);
}
}  // namespace

const BinaryKernels& binary_kernels_generic() {
    static const BinaryKernels t{"generic", tile_dispatch<GenericTile>, popcount_row_generic};
    return t;
}

}  // namespace fastmetric
