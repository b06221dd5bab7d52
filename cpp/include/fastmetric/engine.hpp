// The tiled pairwise driver: one blocked loop nest for every metric, kernel and reduction.
//
//   for each task (MC rows of X) x (NC rows of Y)        <- thread team, dynamic, one task per tile pair
//     for each KC slice of the features                   <- pack A (MC x KC) and B (KC x NC) panels,
//       for each NR column panel, each MR row panel       <- applying centring / scaling while packing
//         micro-kernel (MR x NR, registers)               <- KernelTable: dot / l1 / linf / chi2 ...
//     epilogue on each tile row while it is in cache      <- sq-from-dot + exact recompute of the
//       -> sink                                              cancelling pairs, sqrt / exp / tanh ...
//                                                            -> dense, condensed, top-k, radius
//
// Numerics (the accuracy contract, see README "Accuracy"):
//  * Dot-shaped Euclidean metrics use d2 = |x-c|^2 + |y-c|^2 - 2 (x-c).(y-c) with c the mean of the
//    references (centring is applied while packing, so no copy of the input is made). Wherever the
//    result is smaller than tau*(|x-c|^2 + |y-c|^2) -- where the expansion may have lost more digits
//    than the contract allows -- the pair is recomputed directly as sum (x-y)^2, which has no
//    cancellation. tau is chosen from the dtype and d (engine.cpp: cancellation_threshold).
//  * Cosine / correlation pack unit rows; 1 - cos below tau is recomputed as |x^ - y^|^2 / 2.
//  * Results depend only on the tile decomposition, never on which thread ran a tile.
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>
#include <stdexcept>
#include <vector>

#include "fastmetric/kernels.hpp"
#include "fastmetric/parallel.hpp"
#include "fastmetric/types.hpp"

namespace fastmetric {

enum class Reduce {
    dot,      // sum x*y                                       (linear / polynomial / sigmoid)
    sq_dot,   // |x|^2 + |y|^2 - 2 x.y with exact recompute    (euclidean family, rbf)
    cos_dot,  // 1 - x^.y^ with exact recompute                (cosine, correlation)
    l1,       // sum |x-y|                                     (cityblock, laplacian)
    linf,     // max |x-y|                                     (chebyshev)
    lp,       // sum |x-y|^p                                   (minkowski, general p)
    chi2,     // sum (x-y)^2/(x+y)                             (chi2 kernels)
    // issue 16 part 1: scipy's remaining float metrics
    braycurtis,  // sum |x-y| / sum |x+y| (two accumulators; 0/0 -> NaN, x/0 -> inf, as scipy)
    canberra,    // sum w |x-y| / (|x|+|y|), 0/0 terms -> 0 (Problem::kw: the weights w, or null)
    js,          // sum p log(2p/(p+q)) + q log(2q/(p+q)), rows packed normalised (row_scale = 1/sum)
};

enum class Post {
    none,
    sqrt,      // euclidean
    root_p,    // minkowski: v^(1/p)
    exp_neg,   // exp(-gamma*v): rbf, laplacian, chi2
    poly,      // (gamma*v + coef0)^degree
    tanh,      // tanh(gamma*v + coef0)
    negate,    // -v: additive chi2
    js_root,   // sqrt(max(v, 0) * gamma): jensenshannon, gamma = 1 / (2 log(base))  (issue 16 part 1)
};

// An input as the driver reads it. The value packed for row i, feature k is
//   ((m(i,k) - col_shift[k]) * col_scale[k] - row_shift[i]) * row_scale[i]
// with null pointers meaning "no shift / unit scale". sq_norms (sq_dot only) are the squared norms
// of those packed rows.
template <class T>
struct Operand {
    MatrixView<T> m;
    const T* col_shift = nullptr;
    const T* col_scale = nullptr;
    const T* row_shift = nullptr;
    const T* row_scale = nullptr;
    const T* sq_norms = nullptr;
    // issue 16 part 1: added to every finished distance of the row (0, or +inf for a row scipy's
    // jensenshannon calls infinitely far from everything: a negative entry or a zero sum); null: none
    const T* row_penalty = nullptr;
    // issue 16 part 1: sums of the packed rows, for braycurtis on non-negative data (its denominator
    // sum |x+y| is then sum x + sum y: one micro-kernel instead of two); null: the second tile
    const T* row_sum = nullptr;
};

template <class T>
struct Problem {
    Operand<T> x, y;
    Reduce reduce = Reduce::sq_dot;
    Post post = Post::none;
    double p = 2, gamma = 1, coef0 = 0;
    int degree = 1;
    bool symmetric = false;      // y is x: compute tiles with j >= i only
    bool zero_diagonal = false;  // symmetric distances: d(i, i) = 0 exactly (before post)
    bool skip_post = false;      // reductions (top-k, radius) compare before the monotone post
    // sq_dot problems whose squares would overflow / underflow run on data scaled by a power of two
    // (folded into col_scale); the driver multiplies the finished distance by dist_scale (squared
    // distances by its square) to undo it. 1 for ordinary data.
    double dist_scale = 1;
    int n_threads = 1;
    const T* kw = nullptr;  // issue 16 part 1: per-feature weights inside the canberra kernel (length d)
};

// Where finished tile rows go. Called concurrently from several threads, each with its own tid;
// a sink must only touch state that is private to tid or to the rows it is given.
//
// Two ways to hand out work (Sink::slots):
//  * slots() == 0: one task per (row tile, column tile); any thread may write any row (dense and
//    condensed outputs, where every element is written exactly once).
//  * slots() == P >= 1: the columns are cut into P contiguous parts and a task is (row tile, part),
//    sweeping its part's column tiles in increasing order. Row i of part p is then only ever touched
//    by one thread, in increasing column order: reductions keep per-(part, row) state without locks,
//    and merging the P parts in order makes the answer independent of the thread count.
template <class T>
struct Sink {
    virtual ~Sink() = default;
    virtual int slots() const { return 0; }
    // Row i of a tile: values for columns j0 .. j0+n-1 after the epilogue (and after the post unless
    // pb.skip_post). vals is scratch the sink may modify. slot is the column part (0 if slots()==0).
    virtual void row(int tid, int slot, index_t i, index_t j0, T* vals, index_t n) = 0;
    // Optional fused path for Reduce::sq_dot: receives the raw dot products of the row instead, so a
    // reduction can filter before computing anything else. Return false to get row() instead.
    virtual bool raw_sq_row(int tid, int slot, index_t i, index_t j0, const T* dots, index_t n) { return false; }
};

// Rows of X per task (the MC block of the loop nest) for this problem.
template <class T>
index_t row_block_rows(const Problem<T>& pb);

// Exact squared distance of one pair of a sq_dot problem (the driver's rare recompute path).
template <class T>
T exact_sq_distance(const Problem<T>& pb, index_t i, index_t j);
// Cancellation threshold tau of the sq_dot / cos_dot epilogues for feature count d.
template <class T>
T cancellation_threshold(index_t d);

template <class T>
const KernelTable<T>& active_kernels();

// Run the loop nest. Throws std::invalid_argument / std::bad_alloc before any thread starts;
// nothing throws inside the parallel region.
template <class T>
void run_pairwise(const Problem<T>& pb, Sink<T>& sink);

// Dense output (n x m, row stride ldo). With pb.symmetric the lower triangle is mirrored.
template <class T>
void pairwise_dense(const Problem<T>& pb, T* out, index_t ldo);
// scipy's condensed vector (symmetric problems only), 64-bit offsets.
template <class T>
void pairwise_condensed(const Problem<T>& pb, T* out);

// Helpers that fill the per-row / per-column arrays of an Operand.
template <class T>
void row_sq_norms(const Operand<T>& op, T* out, int n_threads);
// row_shift = row mean (when want_mean), row_scale = 1/|row - shift| (0 for a zero row)
template <class T>
void row_unit_scale(const MatrixView<T>& m, bool want_mean, T* shift, T* scale, int n_threads);

// Interruption (Ctrl-C). The binding installs a check that looks at Python's pending signals; the
// driver calls it from the calling thread (team thread 0) at most every ~50 ms between tasks. When
// it returns true the remaining tasks are skipped and run_pairwise throws `interrupted`.
struct interrupted : std::runtime_error {
    interrupted() : std::runtime_error("interrupted") {}
};
using interrupt_check_fn = bool (*)();
void set_interrupt_check(interrupt_check_fn fn);  // parallel.cpp
interrupt_check_fn interrupt_check();              // the installed check, or null


// ISA selection: "generic", "avx2", "avx512"; best available by default or via FASTMETRIC_ISA.
const char* isa_name();
std::vector<std::string> available_isas();
void set_isa(const std::string& name);  // throws std::invalid_argument if not available

}  // namespace fastmetric
