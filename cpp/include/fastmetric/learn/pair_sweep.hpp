// One pair sweep for every row-wise pairwise-softmax objective, on an embedding Z (n x k).
//
// Objective contract. With d_ij = |z_i - z_j|^2 and the leave-one-out softmax of -d over each row,
//     p_ij = exp(-d_ij) / sum_{l != i} exp(-d_il)      (p_ii = 0),
// an objective names a pair weight w(i, j), a per-row prediction q_i = sum_j p_ij w(i, j), a loss
// sum_i loss(q_i, y_i) and two per-row factors (alpha_i, beta_i) such that
//     dloss/dZ = scale * b,   b_i = sum_j S_ij (z_i - z_j),
//     S_ij = p_ij (alpha_i w(i, j) - beta_i) + p_ji (alpha_j w(j, i) - beta_j).
// The sweep never forms the n x n matrices: pass 1 streams the row log-sum-exp and q_i, pass 2
// builds S tile by tile and accumulates rowsum(S) z_i - S Z. The chain rule to any parameters is
// the caller's (linear learner: dloss/dL = G^T X; kernel learner: G^T K; a network: back-propagate G).
//   nca:  y holds class codes; w(i, j) = [y_i == y_j], q_i = p_i (the probability of the own class),
//         loss = -sum_i p_i (scikit-learn's NeighborhoodComponentsAnalysis objective, to minimise),
//         alpha_i = 1, beta_i = p_i, scale = +2;
//   mlkr: y holds regression targets; w(i, j) = y_j, q_i = yhat_i (leave-one-out kernel regression),
//         loss = sum_i (yhat_i - y_i)^2, alpha_i = e_i = yhat_i - y_i, beta_i = e_i yhat_i, scale = -4.
//
// Two modes of the same driver (same tiles, schedule, packing and products; they agree to rounding):
//   dense:  every pair of every tile; pass 1 keeps the tiles' exponentials for pass 2 while
//           n_pad^2 * sizeof(T) fits in cache_bytes; pass 2 skips a tile whose every weight is
//           below tau, and forms S Z pair by pair when at most 2/5 of a tile's S is above 2 tau
//           (the rest through the micro-kernels; 1/10, 3/5, 4/5 and "never" measured no better
//           at 10000 x 16 float32, tile 96, over kernel widths 0.25 .. 1).
//   sparse: screened: pass 1 keeps per tile only the pairs with d_ij <= max(m_i, m_j) + gap (m the
//           running row minima, gap = -log tau: farther pairs weigh below tau = 1e-16 in float64,
//           1e-10 in float32, relative to their row's largest) with their distances, kept for
//           pass 2 when they fit the tile's equal share of cache_bytes (cache_bytes / number of
//           tiles; the choice depends only on the tile's own count), else recomputed there with the
//           final minima. float64 problems choose the pairs on float32 distances with a rounding
//           margin and compute the kept ones exactly.
//   automatic: sparse when the mean squared distance over all pairs, 2/n sum_i |z_i - mean|^2,
//           exceeds 2 gap (most pairs then weigh nothing), else dense. Measured (before the row ops
//           below, which sped both modes up, the dense one more) per evaluation on
//           2 threads, dense / sparse time at mean distance / gap: NCA digits float64 1.1 -> 0.59,
//           3.0 -> 1.47; float32 1.7 -> 0.98, 4.8 -> 1.65; 10000 x 64 (n_components 32) float64
//           0.8 -> 0.71, 2.3 -> 1.22; float32 1.3 -> 0.73, 3.6 -> 1.38; MLKR alike (digits float64
//           1.1 -> 0.68; 10000 x 64 float32 1.3 -> 0.83, 3.6 -> 1.34).
// In both, one exponential per pair serves both sides of a tile when the shifts it meets lie within a
// span (40 in float32, 300 in float64) of each other; exp arguments are floored at -87 / -708.
//
// Per element. This file is compiled for the baseline ISA: every loop over a tile row runs as a
// KernelTable row op at the dispatched ISA (kernels.hpp): the distance rows with pass 1's minima
// (sq_from_dot_min), the exponentials (exp_diff), pass 2's S rows fused with the count of entries
// above 2 tau (s_row), the selections (select_abs_above, select_within_cut: compress-store on
// AVX-512, branchless stores elsewhere), the row / column sums (vsum, vaxpy) and the pair-by-pair
// products, accumulated per tile in T (gather_gemv over a row's kept pairs, scatter_axpy for the
// columns) and added to the double accumulators once per row / tile. Tile side: dense n / 32,
// sparse n / 6, both within [96, 288] (pair_sweep.cpp: tile_width).
// Measured on a loaded 2-core AVX-512 VM (min of 3-4; LinearPairProblem, 64 features, k = 16,
// float32 NCA, 10 classes, L ~ N(0, scale^2)), seconds per evaluation, 1 thread, before / after
// the row ops: 10000 rows scale 1 (dense) 0.81 / 0.19, scale 3 (sparse) 0.13 / 0.060; 20000 rows
// dense 3.2 / 0.80, sparse 0.61 / 0.28. Profile after (dense 10000): distance and product
// micro-kernels 16%, s_row 12%, exp_diff 9%, gather_gemv 9%, sq_from_dot_min 8%, scatter_axpy
// 6%, select_abs_above 6%; (sparse 10000): micro-kernel 20%, sq_from_dot_min 10%,
// select_within_cut 10%, the driver's per-pair loops 15%, exp_diff 7%.
//
// Schedule. Tiles (I, J), I <= J, of side TB (a multiple of the micro-kernels' MR and NR, fixed by
// the instruction set, n and the mode, never by the thread count). Tile (I, J) adds to the row
// accumulators of block I and (I < J) the column accumulators of block J. Threads claim tiles in
// round order (r = J - I = 0, 1, ...) from one counter and wait for the two tiles before it on its
// accumulators, (I, J-1) and (I+1, J): every accumulator receives its terms in the same order for
// any thread count, so results are bitwise identical for any n_threads. An exception inside a tile
// is kept, the remaining tiles skipped, and it is rethrown after the team returns.
// Against one barrier per round (a team call per anti-diagonal), 2 threads, 10000 x 64 NCA (loaded
// machine; before the row ops): dense 0.95 against 1.23 s, sparse 1.00 against 1.04 s; digits
// within noise.
// Where 2 threads lose at small n (digits 1257 x 64 at MLKR's learned L, float64, sparse; per
// phase, best of 30, ms, 1 / 2 threads): serial setup (centring, |z|^2, packing) 0.38 / 0.43,
// pass 1 2.0 / 1.13, pass 1 -> 2 boundary 0.04, pass 2 1.49 / 0.83, G 0.08; dense (tile 96, 14
// tiles a side) setup 0.35, pass 1 3.9 / 2.0, boundary (feature panels) 0.36, pass 2 2.2 / 1.2.
// The wavefront's tail costs each pass about 10% over half its 1-thread time (~0.2 ms of a
// 2.8 ms evaluation), the serial setup about as much: the setup copies are now written in memory
// order and |z|^2 eight rows at a time (same values, same summation order per row). A wait-free
// pass 2 (each tile into its own partial sums, then added in the order above) would take the
// rest of pass 2's tail; pass 1 cannot drop the order: the running minima decide which pairs
// a sparse tile keeps.
//
// Memory. O(n k) for Z's packed copies and the accumulators, O(threads TB^2) scratch, plus the
// bounded caches (each <= cache_bytes, default 64 MiB; a sweep that used both modes holds both;
// the sparse cache's per-tile bookkeeping is O(number of tiles^2) small objects).
// Never n x n. Dtypes: float32 or float64 kernels, per-tile partial sums (<= TB terms) in T,
// everything that crosses tiles (log-sum-exp states, q, b, the loss, G) in double.
// Edge cases: n >= 2 (checked); a row's own term is excluded exactly; its nearest pair is always
// kept, so q_i is always finite, also for outliers.
// Row blocks (pair_block.hpp, NCA / MLKR on Dask): the same driver on the rectangle of tiles between
// two blocks of Z, its two passes run apart with the per-row values merged by the caller.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>

#include "fastmetric/types.hpp"

namespace fastmetric {
namespace learn {

enum class PairObjective { nca, mlkr };
enum class SweepMode { automatic, dense, sparse };

// Kernel weights below tau relative to their row's largest are dropped.
template <class T>
constexpr double pair_softmax_drop_tau() { return sizeof(T) == 4 ? 1e-10 : 1e-16; }
// -log(tau): a pair further than this beyond a row's nearest distance weighs less than tau there.
template <class T>
constexpr double pair_softmax_drop_gap() { return sizeof(T) == 4 ? 23.025850929940457 : 36.841361487904734; }

// The targets (class codes for nca, regression targets for mlkr; n, copied) and the buffers reused by
// every evaluation of an optimisation.
template <class T>
class PairSweep {
  public:
    PairSweep(const double* y, std::int64_t n, PairObjective objective, std::size_t cache_bytes = std::size_t(64) << 20);
    ~PairSweep();
    PairSweep(const PairSweep&) = delete;
    PairSweep& operator=(const PairSweep&) = delete;

    // The loss for Z (n x k, any strides); G (n x k, row-major, double) = dloss/dZ; pred (length n,
    // optional) receives q_i. Throws std::invalid_argument before any thread starts.
    double evaluate(MatrixView<T> Z, double* G, double* pred, int n_threads, SweepMode mode = SweepMode::automatic);

    // Per-row weights w (length n, the caller's row order; nullptr: all 1) for the next evaluations:
    // loss = sum_i w_i loss_i and G its gradient (the learners' class_weight / sample_weight).
    void set_row_weights(const double* w);

    // Tile side for the next evaluations (rounded to the micro-kernels' multiple; 0: the rule of the
    // mode). For tests that want many tiles at small n.
    void set_tile(std::int64_t rows);

    std::int64_t n_samples() const;
    // The mode the last evaluation ran (dense or sparse; automatic before the first).
    SweepMode last_mode() const;
    // Whether the dense mode keeps pass 1's exponentials for pass 2 at this n.
    bool dense_cache_fits() const;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace learn
}  // namespace fastmetric
