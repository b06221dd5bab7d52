// The tiled pairwise driver (baseline flags): packing, the task loop, the epilogues and the prologue
// helpers. See engine.hpp for the loop nest and the numerics; the ISA choice is isa_dispatch.cpp, the
// dense / condensed sinks sinks.cpp, threads and interrupts parallel.cpp.
#include "fastmetric/engine.hpp"
#include "fastmetric/parallel.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <mutex>
#include <new>
#include <string>


namespace fastmetric {

// ----------------------------------------------------------------------------- numerics
// Relative error of d^2 that the expansion |x|^2+|y|^2-2x.y is allowed to contribute. Its rounding
// error is about u*(1 + sqrt(d)/2)*(|x|^2+|y|^2) for typical data (float accumulation in k-order,
// random-sign rounding); pairs whose d^2 is below tau*(|x|^2+|y|^2) are recomputed directly.
template <class T>
T cancellation_threshold(index_t d) {
    const double u = std::numeric_limits<T>::epsilon() / 2;
    const double target = sizeof(T) == 4 ? 1e-5 : 1e-13;
    double tau = 4.0 * (1.0 + std::sqrt(double(d)) / 2.0) * u / target;
    return T(std::min(tau, 0.5));
}
template float cancellation_threshold<float>(index_t);
template double cancellation_threshold<double>(index_t);
namespace {

template <class T>
struct Blocking {
    index_t mc, nc, kc;
};
// Tuning knobs FM_MC / FM_NC / FM_KC (benchmarks/README.md), read once per process: a getenv per
// call cost ~0.1 us each on the 10 x 8 calls that trackers make per frame.
struct BlockingOverride {
    index_t mc = 0, nc = 0, kc = 0;
};
const BlockingOverride& blocking_override() {
    static const BlockingOverride o = [] {
        BlockingOverride r;
        if (const char* e = std::getenv("FM_MC")) r.mc = std::max(0, std::atoi(e));
        if (const char* e = std::getenv("FM_NC")) r.nc = std::max(0, std::atoi(e));
        if (const char* e = std::getenv("FM_KC")) r.kc = std::max(0, std::atoi(e));
        return r;
    }();
    return o;
}

template <class T>
Blocking<T> blocking_for(const KernelTable<T>& kt, index_t d) {
    Blocking<T> b;
    // Measured on Zen 4 (README): B packing costs ~1/MC of the work, so MC is large; the packed
    // A block (MC x KC) and the C block (MC x NC) share L2.
    b.kc = std::min<index_t>(d, 256);
    const index_t mc_target = sizeof(T) == 4 ? 384 : 192;
    b.mc = kt.mr * std::max<index_t>(1, mc_target / kt.mr);
    const index_t nc_target = sizeof(T) == 4 ? 512 : 256;
    b.nc = kt.nr * std::max<index_t>(1, nc_target / kt.nr);
    const BlockingOverride& o = blocking_override();
    if (o.mc > 0) b.mc = kt.mr * std::max<index_t>(1, o.mc / kt.mr);
    if (o.nc > 0) b.nc = kt.nr * std::max<index_t>(1, o.nc / kt.nr);
    if (o.kc > 0) b.kc = std::min<index_t>(d, o.kc);
    return b;
}

template <class T>
inline T packed_value(const Operand<T>& op, index_t row, const T* src, index_t k) {
    T v = src[k * op.m.col_stride];
    if (op.col_shift) v -= op.col_shift[k];
    if (op.col_scale) v *= op.col_scale[k];
    if (op.row_shift) v -= op.row_shift[row];
    if (op.row_scale) v *= op.row_scale[row];
    return v;
}

// Pack rows r0 .. r0+nrows-1, features k0 .. k0+kc-1 into micro-panels of w rows:
// dst[p*kc*w + k*w + r]; rows past the edge are zero.
template <class T>
void pack(const Operand<T>& op, index_t r0, index_t nrows, index_t k0, index_t kc, int w, T* dst) {
    const index_t panels = (nrows + w - 1) / w;
    const bool plain = !op.col_shift && !op.col_scale && !op.row_shift && !op.row_scale && op.m.col_stride == 1;
    const bool centred = op.col_shift && !op.col_scale && !op.row_shift && !op.row_scale && op.m.col_stride == 1;
    for (index_t p = 0; p < panels; ++p) {
        T* panel = dst + p * kc * w;
        for (int r = 0; r < w; ++r) {
            const index_t local = p * w + r;
            if (local >= nrows) {
                for (index_t k = 0; k < kc; ++k) panel[k * w + r] = T(0);
                continue;
            }
            const index_t row = r0 + local;
            const T* src = op.m.row(row) + k0 * op.m.col_stride;
            if (plain) {
                for (index_t k = 0; k < kc; ++k) panel[k * w + r] = src[k];
            } else if (centred) {  // the common case (euclidean family): the same values as below
                const T* cs = op.col_shift + k0;
                for (index_t k = 0; k < kc; ++k) panel[k * w + r] = src[k] - cs[k];
            } else {
                const T* cs = op.col_shift ? op.col_shift + k0 : nullptr;
                const T* cl = op.col_scale ? op.col_scale + k0 : nullptr;
                const T rs = op.row_shift ? op.row_shift[row] : T(0);
                const T rl = op.row_scale ? op.row_scale[row] : T(1);
                const index_t st = op.m.col_stride;
                for (index_t k = 0; k < kc; ++k) {
                    T v = src[k * st];
                    if (cs) v -= cs[k];
                    if (cl) v *= cl[k];
                    panel[k * w + r] = (v - rs) * rl;
                }
            }
        }
    }
}

// sum |a-b|^p over packed panels: the general-p Minkowski micro-kernel (libm pow per element).
template <class T>
void lp_tile(index_t K, const T* a, const T* b, T* c, index_t ldc, bool acc, int mr, int nr, double p) {
    for (int i = 0; i < mr; ++i)
        for (int j = 0; j < nr; ++j) {
            T s = acc ? c[i * ldc + j] : T(0);
            for (index_t k = 0; k < K; ++k) s += T(std::pow(std::fabs(double(a[k * mr + i]) - b[k * nr + j]), p));
            c[i * ldc + j] = s;
        }
}

// Exact recomputation of one flagged pair (rare path).
// sum_k term(x_ik, y_jk, k) over the feature columns of one pair, in double.
template <class T, class Term>
double pair_sum(const Problem<T>& pb, index_t i, index_t j, Term&& term) {
    const T* xr = pb.x.m.row(i);
    const T* yr = pb.y.m.row(j);
    const index_t xs = pb.x.m.col_stride, ys = pb.y.m.col_stride;
    double s = 0;
    for (index_t k = 0; k < pb.x.m.cols; ++k) s += term(double(xr[k * xs]), double(yr[k * ys]), k);
    return s;
}
template <class T>
T exact_sq_pair(const KernelTable<T>& kt, const Problem<T>& pb, index_t i, index_t j) {
    const Operand<T>& X = pb.x;
    if (!X.col_scale && X.m.col_stride == 1 && pb.y.m.col_stride == 1)
        return kt.sqdist(X.m.row(i), pb.y.m.row(j), X.m.cols);
    return T(pair_sum(pb, i, j, [&](double a, double b, index_t k) {
        const double t = X.col_scale ? (a - b) * double(X.col_scale[k]) : a - b;
        return t * t;
    }));
}
template <class T>
T exact_cos_pair(const Problem<T>& pb, index_t i, index_t j) {
    const Operand<T>& X = pb.x;
    const Operand<T>& Y = pb.y;
    const double xs = X.row_shift ? X.row_shift[i] : 0, xl = X.row_scale ? X.row_scale[i] : 1;
    const double ys = Y.row_shift ? Y.row_shift[j] : 0, yl = Y.row_scale ? Y.row_scale[j] : 1;
    const double s = 0.5 * pair_sum(pb, i, j, [&](double a, double b, index_t) {
        const double t = (a - xs) * xl - (b - ys) * yl;
        return t * t;
    });
    return T(s < 2 ? s : 2);
}

// Minkowski value of one pair whose tile sum overflowed or underflowed, recomputed in double.
//  * finished distance (dense / condensed outputs): m * (sum (|x_k - y_k| / m)^p)^(1/p), with
//    m = max_k |x_k - y_k|, which no intermediate can overflow;
//  * sum (reductions that compare sums, pb.skip_post): sum_k (|x_k - y_k| c_k)^p (c the column
//    scale of the scaled search), exact wherever the sum itself is representable.
template <class T>
T exact_lp_value(const Problem<T>& pb, index_t i, index_t j) {
    const Operand<T>& X = pb.x;
    const Operand<T>& Y = pb.y;
    const T* xr = X.m.row(i);
    const T* yr = Y.m.row(j);
    const bool sum = pb.skip_post;
    auto diff = [&](index_t k) {
        const double t = std::fabs(double(xr[k * X.m.col_stride]) - double(yr[k * Y.m.col_stride]));
        // the column scale: a scaled search's 2^-e, or scipy's weights w^(1/p) (issue 16 part 1)
        return X.col_scale ? t * double(X.col_scale[k]) : t;
    };
    double m = 1;
    if (!sum) {
        m = 0;
        for (index_t k = 0; k < X.m.cols; ++k) m = std::max(m, diff(k));
        if (m == 0 || std::isinf(m)) return T(m);
    }
    double s = 0;
    for (index_t k = 0; k < X.m.cols; ++k) s += std::pow(diff(k) / m, pb.p);
    return T(sum ? s : m * std::pow(s, 1.0 / pb.p));
}

}  // namespace
template <class T>
index_t row_block_rows(const Problem<T>& pb) {
    return blocking_for(active_kernels<T>(), pb.x.m.cols).mc;
}
template index_t row_block_rows<float>(const Problem<float>&);
template index_t row_block_rows<double>(const Problem<double>&);

template <class T>
T exact_sq_distance(const Problem<T>& pb, index_t i, index_t j) {
    return exact_sq_pair(active_kernels<T>(), pb, i, j);
}
template float exact_sq_distance<float>(const Problem<float>&, index_t, index_t);
template double exact_sq_distance<double>(const Problem<double>&, index_t, index_t);
namespace {

// Per-thread scratch, sized to the problem (not to the maximal tile) and left uninitialised: the
// packers and micro-kernels write every element before reading it. Zeroing ~1.7 MB per thread per
// call cost more than the whole computation for small inputs (measured: 100 x 1000 x 8 took 0.6 ms
// on 2 threads vs 0.12 ms on one).
template <class U>
struct RawBuffer {
    std::unique_ptr<U[]> p;
    void resize(size_t n) { p.reset(new U[n == 0 ? 1 : n]); }
    U* data() { return p.get(); }
};
template <class T>
struct Workspace {
    RawBuffer<T> a, b, c;
    RawBuffer<T> c2;  // issue 16 part 1: braycurtis's second accumulator tile (its denominators)
    RawBuffer<index_t> flagged;
    // which (row block, k block) the packed A currently holds: consecutive tiles of one thread
    // mostly share the row block, so A is packed once per row block instead of once per tile
    index_t a_bi = -1, a_k0 = -1;
    bool a_recip_ok = false;  // issue 16 part 1: the packed A block passed in_recip_range (canberra)
};

}  // namespace

// ----------------------------------------------------------------------------- the driver
template <class T>
void run_pairwise(const Problem<T>& pb, Sink<T>& sink) {
    const KernelTable<T>& kt = active_kernels<T>();
    const index_t n = pb.x.m.rows, m = pb.y.m.rows, d = pb.x.m.cols;
    if (n == 0 || m == 0) return;
    if (d <= 0) throw std::invalid_argument("pairwise: inputs need at least one feature");
    if (pb.y.m.cols != d) throw std::invalid_argument("pairwise: feature counts differ");
    const Blocking<T> bl = blocking_for(kt, d);
    const T tau = cancellation_threshold<T>(d);
    const int mr = kt.mr, nr = kt.nr;
    // Minkowski tile sums outside [lp_lo, max] overflowed, or lost digits to underflowed terms
    // (each below the smallest normal); those pairs are recomputed with per-pair scaling
    const T lp_lo = T(double(d) * double(std::numeric_limits<T>::min()) / double(std::numeric_limits<T>::epsilon()));
    const T lp_hi = std::numeric_limits<T>::max();

    const index_t nbi = (n + bl.mc - 1) / bl.mc, nbj = (m + bl.nc - 1) / bl.nc;
    struct Task {
        index_t bi, bj_begin, bj_end;
        int slot;
    };
    std::vector<Task> tasks;
    const int parts = sink.slots();
    if (parts == 0) {
        tasks.reserve(size_t(nbi * nbj));
        for (index_t bi = 0; bi < nbi; ++bi)
            for (index_t bj = 0; bj < nbj; ++bj) {
                const index_t j_last = std::min(m, (bj + 1) * bl.nc) - 1;
                if (pb.symmetric && j_last < bi * bl.mc) continue;  // tile entirely below the diagonal
                tasks.push_back({bi, bj, bj + 1, 0});
            }
    } else {
        if (pb.symmetric) throw std::invalid_argument("slotted sinks need a non-symmetric problem");
        for (index_t bi = 0; bi < nbi; ++bi)
            for (int p = 0; p < parts; ++p) {
                const index_t b0 = nbj * p / parts, b1 = nbj * (p + 1) / parts;
                if (b1 > b0) tasks.push_back({bi, b0, b1, p});
            }
    }
    const index_t ntasks = index_t(tasks.size());
    int nt = std::max(1, pb.n_threads);
    if (double(n) * double(m) * double(d) < 2e5) nt = 1;  // not worth waking threads
    nt = int(std::min<index_t>(nt, ntasks));

    // all allocation happens here, before any thread starts
    std::vector<Workspace<T>> ws(static_cast<size_t>(nt));
    const index_t np_max = (std::min(bl.nc, m) + nr - 1) / nr, mp_max = (std::min(bl.mc, n) + mr - 1) / mr;
    const index_t kc_max = std::min(bl.kc, d);
    // C tile rows are padded by one cache line so the MR rows a micro-kernel stores are not a
    // power-of-two stride apart (they would share L1 sets)
    const index_t c_pad = index_t(64 / sizeof(T));
    for (auto& w : ws) {
        w.a.resize(size_t(mp_max * mr * kc_max));
        w.b.resize(size_t(np_max * nr * kc_max));
        w.c.resize(size_t(mp_max * mr * (np_max * nr + c_pad)));
        w.flagged.resize(size_t(np_max * nr));
        if (pb.reduce == Reduce::braycurtis && !pb.x.row_sum) w.c2.resize(size_t(mp_max * mr * (np_max * nr + c_pad)));
    }

    std::atomic<bool> failed{false}, stop{false};
    std::string error;
    std::mutex error_mutex;
    const interrupt_check_fn check = interrupt_check();
    using clock = std::chrono::steady_clock;
    auto next_check = clock::now() + std::chrono::milliseconds(50);

    auto do_tile = [&](int tid, int slot, index_t bi, index_t bj) {
        Workspace<T>& w = ws[size_t(tid)];
        const index_t i0 = bi * bl.mc, j0 = bj * bl.nc;
        const index_t ni = std::min(bl.mc, n - i0), nj = std::min(bl.nc, m - j0);
        const index_t mp = (ni + mr - 1) / mr, np = (nj + nr - 1) / nr;
        const index_t ldc = np * nr + c_pad;
        T* C = w.c.data();
        for (index_t k0 = 0; k0 < d; k0 += bl.kc) {
            const index_t kc = std::min(bl.kc, d - k0);
            const bool acc = k0 > 0;
            if (w.a_bi != bi || w.a_k0 != k0) {
                pack(pb.x, i0, ni, k0, kc, mr, w.a.data());
                w.a_bi = bi;
                w.a_k0 = k0;
                if (pb.reduce == Reduce::canberra) w.a_recip_ok = kt.in_recip_range(w.a.data(), mp * mr * kc);
            }
            pack(pb.y, j0, nj, k0, kc, nr, w.b.data());
            const bool recip_ok = pb.reduce == Reduce::canberra && w.a_recip_ok &&
                                  kt.in_recip_range(w.b.data(), np * nr * kc);  // issue 16 part 1
            typename KernelTable<T>::micro_fn micro = nullptr;
            switch (pb.reduce) {
                case Reduce::dot:
                case Reduce::sq_dot:
                case Reduce::cos_dot: micro = kt.dot; break;
                case Reduce::l1: micro = kt.l1; break;
                case Reduce::linf: micro = kt.linf; break;
                case Reduce::chi2: micro = kt.chi2; break;
                case Reduce::lp: {
                    const int ip = int(pb.p);
                    micro = (double(ip) == pb.p && ip >= 3 && ip <= KernelTable<T>::kMaxIntegralP) ? kt.lp_int[ip]
                                                                                                   : nullptr;
                    break;
                }
                // issue 16 part 1 (canberra has its own signature, below)
                case Reduce::braycurtis: micro = kt.l1; break;
                case Reduce::js: micro = kt.js; break;
                case Reduce::canberra: break;
            }
            if (pb.reduce == Reduce::canberra || pb.reduce == Reduce::braycurtis) {  // issue 16 part 1
                const T* kw = pb.kw ? pb.kw + k0 : nullptr;
                for (index_t jp = 0; jp < np; ++jp) {
                    const T* bp = w.b.data() + jp * kc * nr;
                    for (index_t ip = 0; ip < mp; ++ip) {
                        const T* ap = w.a.data() + ip * kc * mr;
                        const index_t off = ip * mr * ldc + jp * nr;
                        if (pb.reduce == Reduce::canberra) {
                            kt.canberra(kc, ap, bp, kw, C + off, ldc, acc, recip_ok);
                        } else {
                            kt.l1(kc, ap, bp, C + off, ldc, acc);
                            if (!pb.x.row_sum) kt.l1_sum(kc, ap, bp, w.c2.data() + off, ldc, acc);
                        }
                    }
                }
                continue;
            }
            for (index_t jp = 0; jp < np; ++jp) {
                const T* bp = w.b.data() + jp * kc * nr;
                for (index_t ip = 0; ip < mp; ++ip) {
                    const T* ap = w.a.data() + ip * kc * mr;
                    T* cp = C + ip * mr * ldc + jp * nr;
                    if (micro)
                        micro(kc, ap, bp, cp, ldc, acc);
                    else
                        lp_tile(kc, ap, bp, cp, ldc, acc, mr, nr, pb.p);
                }
            }
        }
        // epilogue, row by row while the tile is in cache
        for (index_t r = 0; r < ni; ++r) {
            const index_t i = i0 + r;
            index_t js = j0;
            if (pb.symmetric) js = std::max(j0, i);
            if (js >= j0 + nj) continue;
            T* v = C + r * ldc + (js - j0);
            const index_t cnt = nj - (js - j0);
            index_t* fl = w.flagged.data();
            if (pb.reduce == Reduce::sq_dot && sink.raw_sq_row(tid, slot, i, js, v, cnt)) continue;
            switch (pb.reduce) {
                case Reduce::sq_dot: {
                    const index_t nf = kt.sq_from_dot(v, cnt, pb.x.sq_norms[i], pb.y.sq_norms + js, tau, v, fl);
                    for (index_t f = 0; f < nf; ++f) v[fl[f]] = exact_sq_pair(kt, pb, i, js + fl[f]);
                    break;
                }
                case Reduce::cos_dot: {
                    const index_t nf = kt.one_minus(v, cnt, tau, v, fl);
                    for (index_t f = 0; f < nf; ++f) v[fl[f]] = exact_cos_pair(pb, i, js + fl[f]);
                    break;
                }
                default: break;
            }
            index_t n_lp = 0;  // Reduce::lp: pairs to recompute after the post, their columns in fl[]
            if (pb.reduce == Reduce::lp) {
                const index_t q0 = (pb.symmetric && js == i) ? 1 : 0;  // not the diagonal
                // a search's sums cannot overflow (p <= 8 on scaled data, see neighbors.cpp): one pass
                if (pb.skip_post || kt.count_le(v + q0, cnt - q0, lp_hi) == cnt - q0) {
                    n_lp = kt.select_below(v + q0, cnt - q0, lp_lo, false, fl);
                    for (index_t f = 0; f < n_lp; ++f) fl[f] += q0;
                } else {
                    for (index_t q = q0; q < cnt; ++q)
                        if (!(v[q] >= lp_lo && v[q] <= lp_hi)) fl[n_lp++] = q;
                }
            }
            if (pb.reduce == Reduce::braycurtis && pb.x.row_sum) {  // issue 16 part 1: / (sum x + sum y)
                const T sx = pb.x.row_sum[i];
                const T* sy = pb.y.row_sum + js;
                for (index_t q = 0; q < cnt; ++q) v[q] = v[q] / (sx + sy[q]);
            } else if (pb.reduce == Reduce::braycurtis) {  // numerator / denominator tile
                const T* den = w.c2.data() + r * ldc + (js - j0);
                for (index_t q = 0; q < cnt; ++q) v[q] = v[q] / den[q];
            }
            if (pb.reduce == Reduce::braycurtis && pb.skip_post) {  // a search: 0/0 (NaN) ranks last, as +inf
                const T inf = std::numeric_limits<T>::infinity();
                for (index_t q = 0; q < cnt; ++q) v[q] = v[q] == v[q] ? v[q] : inf;
            }
            if (pb.symmetric && pb.zero_diagonal && js == i) v[0] = T(0);
            switch (pb.skip_post ? Post::none : pb.post) {
                case Post::none: break;
                case Post::sqrt: kt.sqrt_inplace(v, cnt); break;
                case Post::root_p: {
                    const double inv = 1.0 / pb.p;
                    for (index_t q = 0; q < cnt; ++q) v[q] = T(std::pow(double(v[q]), inv));
                    break;
                }
                case Post::exp_neg: kt.exp_scaled(v, cnt, T(-pb.gamma)); break;
                case Post::poly:
                    if (pb.degree >= 0) {
                        kt.powi_affine(v, cnt, T(pb.gamma), T(pb.coef0), pb.degree);
                    } else {  // non-integral degree: degree field is -1, exponent in p
                        for (index_t q = 0; q < cnt; ++q)
                            v[q] = T(std::pow(pb.gamma * double(v[q]) + pb.coef0, pb.p));
                    }
                    break;
                case Post::tanh: kt.tanh_affine(v, cnt, T(pb.gamma), T(pb.coef0)); break;
                case Post::negate: kt.affine(v, cnt, T(-1), T(0)); break;
                case Post::js_root: {  // issue 16 part 1
                    const T g = T(pb.gamma);
                    for (index_t q = 0; q < cnt; ++q) v[q] = v[q] > T(0) ? v[q] * g : T(0);
                    kt.sqrt_inplace(v, cnt);
                    break;
                }
            }
            if (pb.x.row_penalty) {  // issue 16 part 1: +inf for scipy's undefined jensenshannon rows
                const T px = pb.x.row_penalty[i];
                const T* py = pb.y.row_penalty + js;
                for (index_t q = 0; q < cnt; ++q) v[q] += px + py[q];
            }
            // Reduce::lp: the finished distance, or the exact sum where the sink compares sums
            for (index_t f = 0; f < n_lp; ++f)
                v[fl[f]] = exact_lp_value(pb, i, js + fl[f]);
            if (pb.dist_scale != 1 && !pb.skip_post) {
                if (pb.post == Post::sqrt) {
                    kt.affine(v, cnt, T(pb.dist_scale), T(0));
                } else if (pb.post == Post::none) {  // squared distances: two steps, no overflow of scale^2
                    for (index_t q = 0; q < cnt; ++q) v[q] = T(double(v[q]) * pb.dist_scale * pb.dist_scale);
                }
            }
            sink.row(tid, slot, i, js, v, cnt);
        }
    };
    auto do_task = [&](int tid, index_t t) {
        const Task& task = tasks[size_t(t)];
        for (index_t bj = task.bj_begin; bj < task.bj_end; ++bj) do_tile(tid, task.slot, task.bi, bj);
    };

    parallel_for_dynamic(nt, ntasks, 1, [&](int tid, index_t t) {
        if (failed.load(std::memory_order_relaxed) || stop.load(std::memory_order_relaxed)) return;
        if (check && tid == 0 && clock::now() >= next_check) {  // only the calling thread may look
            if (check()) {
                stop.store(true);
                return;
            }
            next_check = clock::now() + std::chrono::milliseconds(50);
        }
        try {
            do_task(tid, t);
        } catch (const std::exception& e) {
            std::lock_guard<std::mutex> lock(error_mutex);
            if (!failed.exchange(true)) error = e.what();
        } catch (...) {
            std::lock_guard<std::mutex> lock(error_mutex);
            if (!failed.exchange(true)) error = "unknown error in pairwise kernel";
        }
    });
    if (failed.load()) throw std::runtime_error(error);
    if (stop.load()) throw interrupted();
}

// ----------------------------------------------------------------------------- prologue helpers
template <class T>
void row_sq_norms(const Operand<T>& op, T* out, int n_threads) {
    const index_t n = op.m.rows, d = op.m.cols;
    const int nt = (double(n) * double(d) < 1e6) ? 1 : std::max(1, n_threads);
    const bool centred = op.col_shift && !op.col_scale && !op.row_shift && !op.row_scale && op.m.col_stride == 1;
    parallel_for_static(nt, n, [&](int, index_t i) {
        const T* src = op.m.row(i);
        double s = 0;
        if (centred) {  // the common case, the same values as packed_value
            const T* cs = op.col_shift;
            for (index_t k = 0; k < d; ++k) {
                const double v = double(T(src[k] - cs[k]));
                s += v * v;
            }
        } else {
            for (index_t k = 0; k < d; ++k) {
                const double v = double(packed_value(op, i, src, k));
                s += v * v;
            }
        }
        out[i] = T(s);
    });
}

// Sums of squares in which no square can have overflowed or underflowed (computed in double).
constexpr double kUnitLo = 1e-280, kUnitHi = 1e280;

template <class T>
void row_unit_scale(const MatrixView<T>& m, bool want_mean, T* shift, T* scale, int n_threads) {
    const index_t n = m.rows, d = m.cols;
    const int nt = (double(n) * double(d) < 1e6) ? 1 : std::max(1, n_threads);
    parallel_for_static(nt, n, [&](int, index_t i) {
        const T* r = m.row(i);
        double mu = 0;
        if (want_mean) {
            for (index_t k = 0; k < d; ++k) mu += double(r[k * m.col_stride]);
            mu /= double(d);
        }
        // shift rounded to T first: the packed value is computed as (x - T(mu)) in T
        const T mu_t = T(mu);
        double s = 0;
        for (index_t k = 0; k < d; ++k) {
            const double v = double(r[k * m.col_stride]) - double(mu_t);
            s += v * v;
        }
        if (shift) shift[i] = mu_t;
        double inv_norm = s > 0 ? 1.0 / std::sqrt(s) : 0.0;
        if (!(s >= kUnitLo && s <= kUnitHi)) {
            // squares overflowed (|x| ~ 1e160) or underflowed (|x| ~ 1e-170; a tiny non-zero row is
            // not a zero row): the norm of the row divided by a power of two near its largest entry
            double mx = 0;
            for (index_t k = 0; k < d; ++k) mx = std::max(mx, std::fabs(double(r[k * m.col_stride]) - double(mu_t)));
            inv_norm = 0;  // a zero row
            if (mx > 0 && std::isfinite(mx)) {
                const int e = std::ilogb(mx);
                double s2 = 0;
                for (index_t k = 0; k < d; ++k) {
                    const double v = std::ldexp(double(r[k * m.col_stride]) - double(mu_t), -e);
                    s2 += v * v;
                }
                inv_norm = std::ldexp(1.0 / std::sqrt(s2), -e);
            }
        }
        scale[i] = T(inv_norm);
    });
}

#define FM_INSTANTIATE(T)                                                                   \
    template void run_pairwise<T>(const Problem<T>&, Sink<T>&);                            \
    template void row_sq_norms<T>(const Operand<T>&, T*, int);                             \
    template void row_unit_scale<T>(const MatrixView<T>&, bool, T*, T*, int);
FM_INSTANTIATE(float)
FM_INSTANTIATE(double)
#undef FM_INSTANTIATE

}  // namespace fastmetric
