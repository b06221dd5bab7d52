// Block-pair partials of the pair sweep (pair_sweep.hpp) for an embedding Z held in row blocks
// Z_1 .. Z_B (fastmetric.dask, issue 14): the sweep's tiles, row ops, screening and merge order on
// the pairs between two blocks, so that a Dask task computes one block pair (I, J), I <= J, once.
//
// Pass 1, pair_block_lse: the streaming log-sum-exp states (m, s, w) (streaming_lse.hpp) of block
// A's rows over block B's columns and of B's rows over A's columns; diag: A alone (B unused), the
// state of A's rows over A's other rows. A row's states over the blocks merge (in the caller's
// fixed order) into its state over all rows. Screening: a pass-1 tile keeps the pairs with
// d_ij <= max(m_i, m_j) + gap where m are the running minima over this block pair only -- at least
// the row's true minimum, so the cut is a correct (looser) one: a dropped pair weighs below tau
// relative to the row's largest weight in this block, hence below tau relative to its largest.
// Pass 2, pair_block_grad: with every row's merged minimum m, offset off = log s - m and factors
// (alpha, beta) (row weights included), block A's and B's shares of b_i = sum_j S_ij (z_i - z_j)
// (pair_sweep.hpp) over the pairs between A and B (diag: within A). Its screen uses the merged
// minima: the cut of the in-memory sweep's pass 2.
// Tiles: a rectangle (I in A's tiles, J in B's) swept by the whole-Z sweep's wavefront, each
// accumulator receiving its terms in a fixed order: results independent of n_threads. The tile side
// follows the sweep's rule for nA + nB rows, adjusted so that A's and B's rows fill their tiles.
// Mode (SweepMode::automatic): from the mean squared distance over the two blocks' rows.
// Z's of A and B: any strides, k >= 1 columns, finite (std::invalid_argument otherwise).
// Memory: each calling thread keeps one sweep driver per dtype and objective, its buffers (the two
// blocks' packed Z, O((nA + nB) k) accumulators, O(tile^2) scratch) reused by its next call, so
// that a worker's tasks do not fault fresh pages in every call.
#pragma once
#include <cstdint>

#include "fastmetric/learn/pair_sweep.hpp"
#include "fastmetric/types.hpp"

namespace fastmetric {
namespace learn {

// One row block's per-row values, in the block's own row order.
struct PairBlockRows {
    const double* y = nullptr;  // class codes (nca) / targets (mlkr)
    // pass 2 only: the merged minima, offsets log s - m and factors (alpha, beta) of the rows
    const double* m = nullptr;
    const double* off = nullptr;
    const double* alpha = nullptr;
    const double* beta = nullptr;
};

// state_a (3 x nA, row-major: m, s, w), state_b (3 x nB; unused when diag).
template <class T>
void pair_block_lse(PairObjective objective, MatrixView<T> za, const PairBlockRows& a, MatrixView<T> zb,
                    const PairBlockRows& b, bool diag, double* state_a, double* state_b, int n_threads,
                    SweepMode mode = SweepMode::automatic, std::int64_t tile = 0);

// b_a (nA x k), b_b (nB x k; unused when diag), row-major double: b_i = rowsum(S)_i z_i - (S Z)_i
// over the block pair (dloss/dZ = scale * b once summed over the blocks).
template <class T>
void pair_block_grad(PairObjective objective, MatrixView<T> za, const PairBlockRows& a, MatrixView<T> zb,
                     const PairBlockRows& b, bool diag, double* b_a, double* b_b, int n_threads,
                     SweepMode mode = SweepMode::automatic, std::int64_t tile = 0);

}  // namespace learn
}  // namespace fastmetric
