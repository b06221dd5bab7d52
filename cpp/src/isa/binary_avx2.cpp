// AVX2 popcount tiles: the nibble lookup (pshufb on the low and high 4 bits of each byte, then
// psadbw to 64-bit sums) over 4 words per step; the last words % 4 with the POPCNT instruction.
#include <immintrin.h>

#include "fastmetric/binary_impl.hpp"

namespace fastmetric {
namespace {
using namespace binary_detail;

inline __m256i popcount_bytes(__m256i v) {
    const __m256i lut = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1, 2, 1, 2, 2, 3, 1, 2,
                                         2, 3, 2, 3, 3, 4);
    const __m256i low4 = _mm256_set1_epi8(0x0f);
    const __m256i lo = _mm256_and_si256(v, low4);
    const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), low4);
    return _mm256_add_epi8(_mm256_shuffle_epi8(lut, lo), _mm256_shuffle_epi8(lut, hi));
}

inline std::uint64_t pop64(std::uint64_t v) { return std::uint64_t(_mm_popcnt_u64(v)); }

template <int MR, int NR>
struct Avx2Tile {
    static void run(const TileArgs& t) {
        const auto& [a, lda, b, ldb, words, c, ldc] = t;
        __m256i acc[MR][NR];
        fill_tile(acc, _mm256_setzero_si256());
        const __m256i zero = _mm256_setzero_si256();
        index_t w = 0;
        for (; w + 4 <= words; w += 4) {
            __m256i av[MR];
            for (int i = 0; i < MR; ++i) av[i] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + i * lda + w));
            for (int j = 0; j < NR; ++j) {
                const __m256i bv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + j * ldb + w));
                for (int i = 0; i < MR; ++i)
                    acc[i][j] = _mm256_add_epi64(
                        acc[i][j], _mm256_sad_epu8(popcount_bytes(_mm256_and_si256(av[i], bv)), zero));
            }
        }
        for (int i = 0; i < MR; ++i)
            for (int j = 0; j < NR; ++j) {
                alignas(32) std::uint64_t lanes[4];
                _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), acc[i][j]);
                std::uint64_t s = lanes[0] + lanes[1] + lanes[2] + lanes[3];
                for (index_t u = w; u < words; ++u) s += pop64(load_word(a + i * lda + u) & load_word(b + j * ldb + u));
                c[i * ldc + j] = std::uint32_t(s);
            }
    }
};

std::uint64_t popcount_row_avx2(const std::uint64_t* a, index_t words) { return popcount_row_with(a, words, pop64); }
}  // namespace

const BinaryKernels& binary_kernels_avx2() {
    static const BinaryKernels t{"avx2", tile_dispatch<Avx2Tile>, popcount_row_avx2};
    return t;
}

}  // namespace fastmetric
