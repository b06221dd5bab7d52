// AVX-512 VPOPCNTDQ popcount tiles: 8 words per step, the tail through a masked load (no scalar loop).
#include <immintrin.h>

#include "fastmetric/binary_impl.hpp"

namespace fastmetric {
namespace {
using namespace binary_detail;

template <int MR, int NR>
struct Avx512Tile {
    static void run(const TileArgs& t) {
        const auto& [a, lda, b, ldb, words, c, ldc] = t;
        __m512i acc[MR][NR];
        fill_tile(acc, _mm512_setzero_si512());
        for (index_t w = 0; w < words; w += 8) {
            const index_t left = words - w;
            const __mmask8 m = left >= 8 ? __mmask8(0xff) : __mmask8((1u << left) - 1u);
            __m512i av[MR];
            for (int i = 0; i < MR; ++i) av[i] = _mm512_maskz_loadu_epi64(m, a + i * lda + w);
            for (int j = 0; j < NR; ++j) {
                const __m512i bv = _mm512_maskz_loadu_epi64(m, b + j * ldb + w);
                for (int i = 0; i < MR; ++i)
                    acc[i][j] = _mm512_add_epi64(acc[i][j], _mm512_popcnt_epi64(_mm512_and_si512(av[i], bv)));
            }
        }
        for (int i = 0; i < MR; ++i)
            for (int j = 0; j < NR; ++j) c[i * ldc + j] = std::uint32_t(_mm512_reduce_add_epi64(acc[i][j]));
    }
};

std::uint64_t popcount_row_avx512(const std::uint64_t* a, index_t words) {
    __m512i acc = _mm512_setzero_si512();
    for (index_t w = 0; w < words; w += 8) {
        const index_t left = words - w;
        const __mmask8 m = left >= 8 ? __mmask8(0xff) : __mmask8((1u << left) - 1u);
        acc = _mm512_add_epi64(acc, _mm512_popcnt_epi64(_mm512_maskz_loadu_epi64(m, a + w)));
    }
    return std::uint64_t(_mm512_reduce_add_epi64(acc));
}
}  // namespace

const BinaryKernels& binary_kernels_avx512() {
    static const BinaryKernels t{"avx512", tile_dispatch<Avx512Tile>, popcount_row_avx512};
    return t;
}

}  // namespace fastmetric
