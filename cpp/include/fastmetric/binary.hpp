// Boolean metrics on bit-packed rows: popcount micro-kernels and the drivers around them.
//
// Every boolean metric of a pair (u, v) of n-bit rows is a function of the four counts
// ntt = |u & v|, ntf = |u| - ntt, nft = |v| - ntt, nff = n - ntt - ntf - nft, so the only per-pair work is
// popcount(u & v) over the packed 64-bit words; |u| and |v| are counted once per row. The counts are
// exact integers, so results are bit-identical for any thread count and ISA. Definitions (scipy 1.17):
//   hamming         (ntf + nft) / n
//   dice            (ntf + nft) / (2 ntt + ntf + nft)            0/0 -> NaN (as scipy)
//   jaccard         (ntf + nft) / (ntt + ntf + nft)              0/0 -> 0 (as scipy)
//   rogerstanimoto  2 (ntf + nft) / (n + ntf + nft)
//   russellrao      (n - ntt) / n
//   sokalsneath     2 (ntf + nft) / (2 (ntf + nft) + ntt)        0/0 -> NaN (as scipy)
//   yule            2 R / (ntt nff + R + [R == 0]),  R = ntf nft  (0 when R == 0, as scipy)
// Rows: `words` 64-bit words each, `ld` words apart, bits past n_bits zero (the caller masks them).
#pragma once
#include <cstdint>
#include <vector>

#include "fastmetric/types.hpp"

namespace fastmetric {

enum class BinaryMetric { hamming, dice, jaccard, rogerstanimoto, russellrao, sokalsneath, yule };
BinaryMetric binary_metric_from_name(const char* name);  // throws std::invalid_argument

struct BinaryKernels {
    const char* name;
    // c[i*ldc + j] = sum_w popcount(a[i*lda + w] & b[j*ldb + w]) for i < mr, j < nr; mr, nr <= 4
    void (*and_popcount_tile)(const std::uint64_t* a, index_t lda, int mr, const std::uint64_t* b, index_t ldb,
                              int nr, index_t words, std::uint32_t* c, index_t ldc);
    // sum_w popcount(a[w])
    std::uint64_t (*popcount_row)(const std::uint64_t* a, index_t words);
};

const BinaryKernels& binary_kernels_generic();
#if defined(FASTMETRIC_HAVE_X86_ISAS)
const BinaryKernels& binary_kernels_avx2();
const BinaryKernels& binary_kernels_avx512();  // needs AVX-512 VPOPCNTDQ
#endif
// The table for the ISA in use (isa_name()); AVX-512 without VPOPCNTDQ runs the AVX2 table.
const BinaryKernels& active_binary_kernels();

struct PackedRows {
    const std::uint64_t* data = nullptr;
    index_t rows = 0, words = 0, ld = 0;
};

// Dense (rows_x x rows_y, stride ldo) or condensed (symmetric only, scipy's order) float64 distances.
// symmetric: y is x; dense output then gets both triangles (diagonal computed by the formula).
void binary_pairwise(const PackedRows& x, const PackedRows& y, bool symmetric, BinaryMetric metric, index_t n_bits,
                     bool condensed, double* out, index_t ldo, int n_threads);

// k smallest per query, sorted by (distance, index), NaN last; exclude_self skips j == i.
void binary_kneighbors(const PackedRows& x, const PackedRows& y, BinaryMetric metric, index_t n_bits, index_t k,
                       bool exclude_self, double* dist, std::int64_t* ind, int n_threads);

// every j with d(i, j) <= r[i] (r[0] when r_len == 1), in index order or by (distance, index)
void binary_radius(const PackedRows& x, const PackedRows& y, BinaryMetric metric, index_t n_bits, const double* r,
                   index_t r_len, bool exclude_self, bool sort_results, std::vector<double>& dist,
                   std::vector<std::int64_t>& ind, std::vector<std::int64_t>& offsets, int n_threads);

}  // namespace fastmetric
