// The per-instruction-set kernel table.
//
// Everything that runs per element lives behind this table: the register-blocked micro-kernels
// over packed panels and the row epilogues. Each instruction set (generic, AVX2+FMA, AVX-512)
// fills one table from the same templates (kernels_impl.hpp) in its own translation unit, compiled
// with that ISA's flags only. The driver (engine.cpp, baseline flags) picks a table once per call.
//
// Packed panel layout (BLIS): an A micro-panel is K x MR values stored k-major
// (a[k*MR + i]); a B micro-panel is K x NR values (b[k*NR + j]). The driver zero-pads edges, so
// a micro-kernel always computes a full MR x NR tile and writes it to c[i*ldc + j].
#pragma once
#include <cstdint>

#include "fastmetric/types.hpp"

namespace fastmetric {

template <class T>
struct KernelTable {
    const char* name;
    int mr;
    int nr;

    // ---- micro-kernels: c (MR x NR) = [c +] reduce_k f(a[k, i], b[k, j]) ----
    // accumulate=false overwrites c; true combines with the partial result already in c
    // (sum, or max for linf), used when K is split into several KC blocks.
    using micro_fn = void (*)(index_t K, const T* a, const T* b, T* c, index_t ldc, bool accumulate);
    micro_fn dot;   // sum a*b
    micro_fn l1;    // sum |a-b|
    micro_fn linf;  // max |a-b|
    micro_fn sqd;   // sum (a-b)^2   (direct squared euclidean: no cancellation)
    micro_fn chi2;  // sum (a-b)^2/(a+b), 0 where a+b == 0
    // sum |a-b|^p for the integral p = 3 .. kMaxIntegralP by repeated multiplication (minkowski);
    // other p use the scalar pow path of the driver
    static constexpr int kMaxIntegralP = 8;
    micro_fn lp_int[kMaxIntegralP + 1];  // lp_int[p] for p in 3 .. kMaxIntegralP, null elsewhere

    // ---- row epilogues on contiguous arrays of length n ----
    // out[j] = max(nx + ny[j] - 2*dot[j], 0). Columns where out[j] < tau*(nx + ny[j]) -- where the
    // expansion has lost too many digits -- are written to flagged[]; returns their count.
    index_t (*sq_from_dot)(const T* dot, index_t n, T nx, const T* ny, T tau, T* out, index_t* flagged);
    // out[j] = clamp(1 - dot[j], 0, 2) for rows normalised before packing; flags out[j] < tau.
    index_t (*one_minus)(const T* dot, index_t n, T tau, T* out, index_t* flagged);
    // out[j] = a*v[j] + b (in place allowed)
    void (*affine)(T* v, index_t n, T a, T b);
    void (*sqrt_inplace)(T* v, index_t n);
    void (*exp_scaled)(T* v, index_t n, T s);                      // v = exp(s*v)
    void (*tanh_affine)(T* v, index_t n, T a, T b);                // v = tanh(a*v + b)
    void (*powi_affine)(T* v, index_t n, T a, T b, int degree);    // v = (a*v + b)^degree
    // indices j with v[j] < thr (or <= thr when inclusive) -> idx[]; returns count
    index_t (*select_below)(const T* v, index_t n, T thr, bool inclusive, index_t* idx);
    // how many v[j] <= x (no NaN expected)
    index_t (*count_le)(const T* v, index_t n, T x);
    // Top-k / radius filter fused with the expansion: indices j where v = nx + ny[j] - 2*dot[j]
    // is below thr (<= thr when inclusive) or where the expansion cancels (v < tau*(nx + ny[j])).
    index_t (*sq_candidates)(const T* dot, index_t n, T nx, const T* ny, T tau, T thr, bool inclusive, index_t* idx);
    // The same filter when the threshold is known to dominate the cancellation test: indices j with
    // ny[j] - 2*dot[j] < t (t = thr - nx). One FMA and one compare per element.
    index_t (*sq_below)(const T* dot, index_t n, const T* ny, T t, index_t* idx);
    // dst[0..n) = src[0..n) with non-temporal stores where dst is aligned (outputs far larger than
    // the caches: no read-for-ownership of lines that are only written); stream_fence() after.
    void (*stream_copy)(T* dst, const T* src, index_t n);
    void (*stream_fence)();
    // direct sum_k (x[k]-y[k])^2 over contiguous rows
    T (*sqdist)(const T* x, const T* y, index_t d);
    // whether one of v[0], v[s], ..., v[(n-1) s] is NaN or inf (exponent bits all ones: integer
    // tests, no float compare); the input checks' finite scan
    bool (*any_nonfinite)(const T* v, index_t n, index_t s);
    // --- the learners' vector loops (learn/*.cpp), on the same dispatch as everything above
    // y[0..k) += a * x[0..k) into double accumulators (axpy2: the same a also for x2 into y2)
    void (*axpy_acc)(index_t k, double a, const T* x, double* y);
    void (*axpy2_acc)(index_t k, double a, const T* x, double* y, const T* x2, double* y2);
    // sum_k a[k] * b[k] over contiguous vectors
    T (*vdot)(const T* a, const T* b, index_t d);
    // A (d x d, symmetric, row-major) += beta v v^T unless beta == 0; then, when u is given,
    // out = A u (ITML's Bregman projections: one pass over A for the update and the next product)
    void (*rank1_apply)(T* A, index_t d, T beta, const T* v, const T* u, T* out);
    // --- the pair sweep's row loops (learn/pair_sweep.cpp); lo = -87 (float32) / -708 (float64),
    // the lowest argument the vector exp takes
    // out[j] = exp(max(s - d[j], lo))
    void (*exp_diff)(const T* d, index_t n, T s, T* out);
    // one row of S: out[j] = e_j ((a v[j] - ab) + (r u[j] - w[j])) with e_j = exp(max(s - d[j], lo))
    // (do_exp) or e_j = d[j] (exponentials already formed); returns how many |out[j]| > thr
    index_t (*s_row)(const T* d, index_t n, bool do_exp, T s, T a, T ab, const T* v, T r, const T* u, const T* w,
                     T thr, T* out);
    // how many |v[j]| > thr (NaN never)
    index_t (*count_abs_above)(const T* v, index_t n, T thr);
    // the j with |v[j]| > thr, in order: j -> col[], v[j] -> val[]; the other v[j] set to 0 (NaN: 0);
    // returns their count. Both arrays need room for n entries (the scalar path writes past the count).
    index_t (*select_abs_above)(T* v, index_t n, T thr, std::int32_t* col, T* val);
    // out[0..k) = sum_t val[t] Z[col[t] ldz + (0..k)] over t < cnt, in T (a fixed order: four
    // interleaved partial sums); returns sum_t val[t] (likewise)
    T (*gather_gemv)(index_t cnt, const std::int32_t* col, const T* val, const T* Z, index_t ldz, index_t k, T* out);
    // C[col[t] ldc + (0..k)] += val[t] x[0..k) and (csum given) csum[col[t]] += val[t] for t < cnt,
    // in order (the col[t] of one call distinct)
    void (*scatter_axpy)(index_t cnt, const std::int32_t* col, const T* val, const T* x, index_t k, T* C,
                         index_t ldc, T* csum);
    // the j with !(d[j] > max(rc, cc[j])) (d[j] within the larger of its row's and its column's cut;
    // NaN d qualifies), in order: j -> col[], d[j] -> val[]; returns their count (room for n entries)
    index_t (*select_within_cut)(const T* d, index_t n, T rc, const T* cc, std::int32_t* col, T* val);
    // out[j] = max(nx + ny[j] - 2*dot[j], 0) (sq_from_dot without the cancellation flags; in place
    // allowed), out[self] = +inf when 0 <= self < n; returns min_j out[j] (+inf for n == 0) and, cm
    // given, cm[j] = min(cm[j], out[j])
    T (*sq_from_dot_min)(const T* dot, index_t n, T nx, const T* ny, index_t self, T* out, T* cm);
    // sum_j v[j] in a fixed order (W-lane partial sums, then the lanes, then the tail)
    T (*vsum)(const T* v, index_t n);
    // y[0..n) += a * x[0..n) (one multiply-add per element; a = 1 adds exactly)
    void (*vaxpy)(T* y, T a, const T* x, index_t n);

    // ---- issue 16 part 1: scipy's remaining float metrics (braycurtis, canberra, jensenshannon) ----
    // micro-kernels over the same packed panels as above
    micro_fn l1_sum;  // sum |a+b|: braycurtis's denominator (its numerator is l1)
    // sum w[k] |a-b| / (|a|+|b|), a term 0 where |a|+|b| == 0 (scipy's 0/0 -> 0); w null: unit weights.
    // w points at the weights of the K features of this KC block. checked: every value of both panels
    // passed in_recip_range (then no per-term range test is needed).
    using microw_fn = void (*)(index_t K, const T* a, const T* b, const T* w, T* c, index_t ldc, bool accumulate,
                               bool checked);
    microw_fn canberra;
    // every v[j] is 0 or |v[j]| in [min normal, max/16] (NaN: false): canberra's fast reciprocal is exact there
    bool (*in_recip_range)(const T* v, index_t n);
    // sum p log(2p/(p+q)) + q log(2q/(p+q)) over rows p, q normalised to sum 1 (packed with the row
    // scale 1/sum), 0 log 0 = 0: twice the Jensen-Shannon divergence, one term exactly 0 where p == q
    micro_fn js;
    // out[j] = log(v[j]) (natural log, ~1 ulp; lanes that are 0, subnormal, negative, inf or NaN go
    // through libm)
    void (*vlog)(const T* v, index_t n, T* out);
};

const KernelTable<float>& kernels_generic_f32();
const KernelTable<double>& kernels_generic_f64();
#if defined(FASTMETRIC_HAVE_X86_ISAS)
const KernelTable<float>& kernels_avx2_f32();
const KernelTable<double>& kernels_avx2_f64();
const KernelTable<float>& kernels_avx512_f32();
const KernelTable<double>& kernels_avx512_f64();
#endif

}  // namespace fastmetric
