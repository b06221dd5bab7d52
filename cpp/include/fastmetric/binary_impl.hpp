// The popcount tile kernels, one template per ISA family; included by the per-ISA files
// cpp/src/isa/binary_{generic,avx2,avx512}.cpp, each compiled with that ISA's flags only.
#pragma once
#include <cstdint>
#include <cstring>

#include "fastmetric/binary.hpp"

namespace fastmetric {
namespace binary_detail {

inline std::uint64_t load_word(const std::uint64_t* p) {
    std::uint64_t v;
    std::memcpy(&v, p, sizeof v);
    return v;
}

// Portable popcount (SWAR): the generic table has no POPCNT instruction to rely on.
inline std::uint64_t popcount_swar(std::uint64_t v) {
    v = v - ((v >> 1) & 0x5555555555555555ULL);
    v = (v & 0x3333333333333333ULL) + ((v >> 2) & 0x3333333333333333ULL);
    v = (v + (v >> 4)) & 0x0F0F0F0F0F0F0F0FULL;
    return (v * 0x0101010101010101ULL) >> 56;
}

// One tile's operands: rows a (stride lda) and b (stride ldb) of `words` words each; counts out to c.
struct TileArgs {
    const std::uint64_t* a;
    index_t lda;
    const std::uint64_t* b;
    index_t ldb;
    index_t words;
    std::uint32_t* c;
    index_t ldc;
};

// Every accumulator of a register tile set to v.
template <class V, int MR, int NR>
void fill_tile(V (&acc)[MR][NR], V v) {
    for (int i = 0; i < MR; ++i)
        for (int j = 0; j < NR; ++j) acc[i][j] = v;
}

// sum_w pop(a[w]) with a per-word popcount Pop.
template <class Pop>
std::uint64_t popcount_row_with(const std::uint64_t* a, index_t words, Pop pop) {
    std::uint64_t s = 0;
    for (index_t w = 0; w < words; ++w) s += pop(load_word(a + w));
    return s;
}

// Register-blocked MR x NR tile over whole words with a per-word popcount Pop.
template <int MR, int NR, class Pop>
void tile_scalar(const TileArgs& t, Pop pop) {
    const auto& [a, lda, b, ldb, words, c, ldc] = t;
    std::uint64_t acc[MR][NR] = {};
    for (index_t w = 0; w < words; ++w) {
        std::uint64_t av[MR], bv[NR];
        for (int i = 0; i < MR; ++i) av[i] = load_word(a + i * lda + w);
        for (int j = 0; j < NR; ++j) bv[j] = load_word(b + j * ldb + w);
        for (int i = 0; i < MR; ++i)
            for (int j = 0; j < NR; ++j) acc[i][j] += pop(av[i] & bv[j]);
    }
    for (int i = 0; i < MR; ++i)
        for (int j = 0; j < NR; ++j) c[i * ldc + j] = std::uint32_t(acc[i][j]);
}

// Edge dispatch: a fixed-size instantiation for every (mr, nr) up to 4 x 4.
template <template <int, int> class K>
void tile_dispatch(const std::uint64_t* a, index_t lda, int mr, const std::uint64_t* b, index_t ldb, int nr,
                   index_t words, std::uint32_t* c, index_t ldc) {
    const TileArgs t{a, lda, b, ldb, words, c, ldc};
#define FM_BT(M, N) \
    case (M) * 8 + (N): K<M, N>::run(t); return;
    switch (mr * 8 + nr) {
        FM_BT(1, 1) FM_BT(1, 2) FM_BT(1, 3) FM_BT(1, 4)
        FM_BT(2, 1) FM_BT(2, 2) FM_BT(2, 3) FM_BT(2, 4)
        FM_BT(3, 1) FM_BT(3, 2) FM_BT(3, 3) FM_BT(3, 4)
        FM_BT(4, 1) FM_BT(4, 2) FM_BT(4, 3) FM_BT(4, 4)
        default: return;
    }
#undef FM_BT
}

}  // namespace binary_detail
}  // namespace fastmetric
