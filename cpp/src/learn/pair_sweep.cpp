// The pair sweep over an embedding: see fastmetric/learn/pair_sweep.hpp for the contract, the two
// modes, the schedule and the memory bound.
#include "fastmetric/learn/pair_sweep.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <exception>
#include <limits>
#include <memory>
#include <mutex>
#include <new>
#include <numeric>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "fastmetric/engine.hpp"
#include "fastmetric/kernels.hpp"
#include "fastmetric/learn/mlkr.hpp"
#include "fastmetric/learn/nca.hpp"
#include "fastmetric/learn/pair_block.hpp"
#include "fastmetric/learn/streaming_lse.hpp"
#include "fastmetric/learn/sweep_util.hpp"

namespace fastmetric {
namespace learn {
namespace {

// The tile side wanted before rounding to the micro-kernels' multiple: dense n / 32, sparse n / 6,
// both within [96, 288]. Measured per evaluation (sparse), 192 against 96: digits at its learned
// metric (5% of pairs kept) 3.8 -> 3.2 ms, 10000 x 64 138 -> 120 ms; below ~6 tiles per side the
// wavefront starves the second thread. Larger tiles spread each tile's fixed work (factors, the
// double accumulators) over more pairs: 10000 x 16 float32 NCA, 1 thread, CPU time per evaluation,
// dense tile 96 / 192 / 288: 0.30 / 0.25 / 0.23 s; sparse 96 / 192 / 288 / 384: 0.11 / 0.085 /
// 0.055 / 0.054 s (20000: dense 288 against 384 0.67 / 0.78 s).
inline index_t tile_width(bool dense, index_t n) {
    return std::min<index_t>(288, std::max<index_t>(96, dense ? n / 32 : n / 6));
}

// Lowest exp argument used: exp stays on the vector path and returns a normal number.
template <class T>
constexpr T exp_lo() { return sizeof(T) == 4 ? T(-87) : T(-708); }
// Largest spread of shifts for which one exponential serves a whole tile (factors <= e^span).
template <class T>
constexpr double shift_span() { return sizeof(T) == 4 ? 40.0 : 300.0; }
// Above this fraction of non-negligible S entries in a tile, the S Z products use the dense
// micro-kernels (a kept pair costs about two AXPYs of length k pair by pair; a dense tile 2 TB^2 k
// multiply-adds at the micro-kernel's much higher rate, plus packing): numerator / denominator.
constexpr index_t dense_num() { return 2; }
constexpr index_t dense_den() { return 5; }
bool dense_products_pay(index_t kept, index_t ni, index_t nj) { return kept * dense_den() > ni * nj * dense_num(); }

template <class T>
T clamp_lo(T v) { return v > exp_lo<T>() ? v : exp_lo<T>(); }

// Vectors on 64-byte boundaries: the row ops' full-width loads and stores of tile rows and of Z's
// rows (k = 16 floats: one cache line each) never split a cache line.
template <class T>
struct Aligned64 {
    using value_type = T;
    Aligned64() = default;
    template <class U>
    Aligned64(const Aligned64<U>&) {}
    T* allocate(std::size_t n) { return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t(64))); }
    void deallocate(T* p, std::size_t) { ::operator delete(p, std::align_val_t(64)); }
    template <class U>
    bool operator==(const Aligned64<U>&) const { return true; }
    template <class U>
    bool operator!=(const Aligned64<U>&) const { return false; }
};
template <class T>
using AlignedVector = std::vector<T, Aligned64<T>>;

// The pairs of one tile that can weigh anything, row by row (row r: [row_start[r], row_start[r+1]))
// with their squared distances; the first `count` entries of col / d are used (the arrays only grow).
template <class T>
struct KeptPairs {
    std::vector<std::int32_t> row_start, col;
    std::vector<T> d;
    index_t count = 0;
};

// Per-thread scratch of one tile.
template <class T>
struct Scratch {
    AlignedVector<T> dist, st, sa, sc, prod, prod2, v1, v2, sv;
    AlignedVector<T> colsum, colysum, mu, nu, ra, rb, rt, ca, cb, ct, tmp, ccT;
    AlignedVector<T> qa, qb;  // the T panels of one tile (exact_tile)
    AlignedVector<T> ones;    // tb ones (the class-weight rows of S)
    AlignedVector<float> dist32, tmp32, cc32;
    std::vector<double> rmin, cmin, rcd, ccd, fexp, fneg;
    KeptPairs<T> kp;  // this tile's kept pairs when they are not cached
    void init(index_t tb, index_t kpad, bool screen) {
        const size_t t2 = size_t(tb * tb);
        for (auto* v : {&dist, &st, &sa, &sc, &v1, &v2, &sv}) v->resize(t2);
        prod.resize(size_t(tb * kpad));
        prod2.resize(size_t(tb * kpad));
        for (auto* v : {&colsum, &colysum, &mu, &nu, &ra, &rb, &rt, &ca, &cb, &ct, &tmp, &ccT})
            v->resize(size_t(tb));
        for (auto* v : {&tmp32, &cc32}) v->resize(size_t(tb));
        for (auto* v : {&rmin, &cmin, &rcd, &ccd, &fexp, &fneg}) v->resize(size_t(tb));
        ones.assign(size_t(tb), T(1));
        if (screen) dist32.resize(t2);
    }
};

// The driver for one objective O (NcaObjective, MlkrObjective).
template <class T, class O>
struct Driver {
    using Objective = O;
    index_t n = 0;
    // Internal row r is row perm[r] of Z: the order of y (stable) when the objective asks for it
    // (NCA: sorted classes put the pairs that weigh something into blocks near the diagonal, so
    // more off-diagonal tiles keep no pair or are skipped as negligible), else the caller's.
    std::vector<index_t> perm;
    std::vector<double> y;  // in the internal order
    // per-row weights of the loss (internal order; empty: all 1): loss = sum_i w_i loss_i, and
    // alpha_i, beta_i scale with w_i (class_weight / sample_weight of the learners)
    std::vector<double> rw;
    // class_weights objectives: internal rows [cls_lo[i], cls_hi[i]) share row i's class
    std::vector<index_t> cls_lo, cls_hi;
    // the columns [a, b) of tile J (nj columns) in row i's class
    void class_cols(index_t i, index_t J, index_t nj, index_t& a, index_t& b) const {
        a = std::clamp<index_t>(cls_lo[size_t(i)] - J * tb, 0, nj);
        b = std::clamp<index_t>(cls_hi[size_t(i)] - J * tb, 0, nj);
    }
    std::size_t cache_bytes = 0;
    index_t tile_override = 0;

    // per evaluation (buffers reused)
    const KernelTable<T>* kt = nullptr;
    const KernelTable<float>* kf = nullptr;
    const KernelTable<double>* kd = nullptr;  // the shifts' exponentials
    int nt = 1;
    bool dense = false;
    index_t k = 0, tb = 0, n_tiles = 0, n_pad = 0, kpad = 0, mr = 0, nr = 0;
    AlignedVector<T> z;     // n x k, centred
    std::vector<T> pa, pb;  // Z in A micro-panels (MR rows) and B micro-panels (NR columns), K = k
    // sparse float64 sweeps screen pairs with float32 distances (twice the micro-kernel rate), then
    // compute the distances of the kept pairs exactly: see screen_margin()
    bool screen = false;
    std::vector<float> pa32, pb32, norms32;
    std::vector<double> tile_norm_max;  // largest |z_i|^2 of each row tile
    std::vector<T> zt;                  // feature panel f: n_pad rows x NR, for the dense S Z products
    bool zt_ready = false;
    std::vector<T> norms;  // |z_i|^2 (0 on padding)
    std::vector<T> yT;     // y in T, 0 on padding
    std::vector<Scratch<T>> scratch;
    std::vector<StreamingLse> lse_row, lse_col;
    std::vector<double> off, q, alpha, beta, mfinal;
    std::vector<T> alphaT, betaT;
    std::vector<double> rs_row, rs_col, sz_row, sz_col;
    // sparse mode: kept pairs of the I <= J tiles, each cached when it fits its share (keep_for_pass2)
    double kept_quota = 0;               // bytes per tile
    std::vector<unsigned char> kept_ok;  // tile (I, J) cached
    std::vector<KeptPairs<T>> kept;
    // dense mode: pass 1's exponentials of every tile, cached while they fit, with their shifts
    bool exp_cached = false;
    std::vector<T> ecache;
    std::vector<std::size_t> pair_off;
    std::vector<double> rowshift, colshift;  // (n_pad x n_tiles), dual tiles only
    std::vector<unsigned char> tile_mode;     // 1: single exponential (shift tile_shift), 2: dual
    std::vector<double> tile_shift, tile_dmin;

    // Block-pair mode (pair_block.hpp, a rectangle of tiles): internal rows [0, a_rows) are block A
    // (a_tiles tiles, zero rows up to a_tiles tb), rows [a_tiles tb, n) block B; the tiles swept are
    // (I, J), I < a_tiles <= J. rect false: the whole-Z triangle I <= J.
    bool rect = false;
    index_t a_tiles = 0, a_rows = 0;
    // pass 2 run without this driver's pass 1 (block pairs): no tile minima from pass 1
    bool pass2_alone = false;

    index_t rows_in(index_t I) const {
        return rect && I < a_tiles ? std::min(tb, a_rows - I * tb) : std::min(tb, n - I * tb);
    }

    // The schedule of pair_sweep.hpp: tiles claimed in round order, each waiting for its two
    // predecessors on its accumulators; claiming in that order means a tile's predecessors are always
    // claimed by running threads, so no wait can deadlock.
    std::vector<std::pair<index_t, index_t>> round_order;
    template <class F>
    void in_rounds(F&& f) {
        if (rect) {
            // the rectangle: round r = (a_tiles - 1 - I) + (J - a_tiles); a tile's predecessors on its
            // accumulators are (I, J - 1) and (I + 1, J), one round earlier
            round_order.clear();
            const index_t nb = n_tiles - a_tiles;
            for (index_t r = 0; r < a_tiles + nb - 1; ++r)
                for (index_t I = a_tiles - 1; I >= 0; --I) {
                    const index_t J = a_tiles + r - (a_tiles - 1 - I);
                    if (J >= a_tiles && J < n_tiles) round_order.emplace_back(I, J);
                }
        } else if (index_t(round_order.size()) != n_tiles * (n_tiles + 1) / 2 ||
                   (!round_order.empty() && round_order.back().second != n_tiles - 1)) {
            round_order.clear();
            for (index_t r = 0; r < n_tiles; ++r)
                for (index_t I = 0; I < n_tiles - r; ++I) round_order.emplace_back(I, I + r);
        }
        const index_t total = index_t(round_order.size());
        if (nt <= 1 || total <= 1) {
            detail::FlushDenormals ftz;
            for (const auto& t : round_order) f(t.first, t.second, scratch[0]);
            return;
        }
        std::unique_ptr<std::atomic<unsigned char>[]> done(new std::atomic<unsigned char>[size_t(n_tiles * n_tiles)]);
        for (index_t t = 0; t < n_tiles * n_tiles; ++t) done[size_t(t)].store(0, std::memory_order_relaxed);
        auto finished = [&](index_t I, index_t J) {
            return done[size_t(I * n_tiles + J)].load(std::memory_order_acquire) != 0;
        };
        std::atomic<index_t> next{0};
        std::atomic<bool> failed{false};
        std::exception_ptr error;
        std::mutex error_mu;
        run_team(nt, [&](int tid) {
            detail::FlushDenormals ftz;
            for (;;) {
                const index_t g = next.fetch_add(1, std::memory_order_relaxed);
                if (g >= total) return;
                const index_t I = round_order[size_t(g)].first, J = round_order[size_t(g)].second;
                unsigned spins = 0;
                const index_t first_col = rect ? a_tiles : I, row_end = rect ? a_tiles : J;
                while (!((J == first_col || finished(I, J - 1)) && (I + 1 >= row_end || finished(I + 1, J))))
                    fastmetric::detail::spin_pause(++spins);
                if (!failed.load(std::memory_order_relaxed)) {
                    try {
                        f(I, J, scratch[size_t(tid)]);
                    } catch (...) {
                        std::lock_guard<std::mutex> lock(error_mu);
                        if (!error) error = std::current_exception();
                        failed.store(true);
                    }
                }
                done[size_t(I * n_tiles + J)].store(1, std::memory_order_release);
            }
        });
        if (error) std::rethrow_exception(error);
    }

    // Z copied and centred: distances and b_i = sum_j S_ij (z_i - z_j) do not change when Z is
    // shifted, and small |z|^2 make the expansion |z_i|^2 + |z_j|^2 - 2 z_i.z_j lose fewer digits.
    // Returns the mean squared distance over all pairs, 2/n sum_i |z_i|^2 (centred), summed per
    // column then over the columns; top receives the largest |z_ic|. Per column so that the loops
    // over a row vectorise (one running sum over all entries cost 0.1 ms at 1257 x 64, serial).
    double load_z(MatrixView<T> Z, double& top) {
        z.resize(size_t(n * k));
        std::vector<double> mean(size_t(k), 0.0), ssc(size_t(k), 0.0), topc(size_t(k), 0.0);
        double* __restrict mu = mean.data();
        double* __restrict sc = ssc.data();
        double* __restrict tc = topc.data();
        const bool rows_contiguous = Z.col_stride == 1;
        for (index_t i = 0; i < n; ++i) {
            if (rows_contiguous) {
                const T* zr = Z.row(i);
                for (index_t c = 0; c < k; ++c) mu[c] += double(zr[c]);
            } else {
                for (index_t c = 0; c < k; ++c) mu[c] += double(Z.at(i, c));
            }
        }
        for (index_t c = 0; c < k; ++c) mu[c] /= double(n);
        for (index_t i = 0; i < n; ++i) {
            T* zi = z.data() + i * k;
            const index_t src = perm[size_t(i)];
            if (rows_contiguous) {
                const T* zr = Z.row(src);
                for (index_t c = 0; c < k; ++c) zi[c] = T(double(zr[c]) - mu[c]);
            } else {
                for (index_t c = 0; c < k; ++c) zi[c] = T(double(Z.at(src, c)) - mu[c]);
            }
            for (index_t c = 0; c < k; ++c) {
                const double v = double(zi[c]);
                sc[c] += v * v;
                const double a = std::fabs(v);
                tc[c] = tc[c] < a ? a : tc[c];
            }
        }
        double ss = 0;
        top = 0;
        for (index_t c = 0; c < k; ++c) {
            ss += sc[c];
            top = std::max(top, tc[c]);
        }
        // a non-finite entry makes its column's sum inf or NaN (a finite sum that overflows is
        // told apart by the scan)
        if (!std::isfinite(ss))
            for (index_t t = 0; t < n * k; ++t)
                if (!std::isfinite(double(z[size_t(t)]))) throw std::invalid_argument("pair sweep: Z must be finite");
        return 2.0 * ss / double(n);
    }

    // Tile side: tile_width(); a multiple of the micro-kernels' MR and NR (and of float32's when
    // screening).
    index_t tile_multiple() const {
        index_t l = mr / std::gcd(mr, nr) * nr;
        if (screen) {
            l = l / std::gcd(l, index_t(kf->mr)) * kf->mr;
            l = l / std::gcd(l, index_t(kf->nr)) * kf->nr;
        }
        return l;
    }
    void pack_z(int nt_pack) {
        if (!rect) {  // (a rectangle's side is chosen with its layout: block_layout)
            const index_t l = tile_multiple();
            const index_t tbw = tile_override > 0 ? tile_override : tile_width(dense, n);
            const index_t want = std::max<index_t>(1, (tbw + l / 2) / l) * l;
            tb = std::min(want, (n + l - 1) / l * l);
        }
        n_tiles = (n + tb - 1) / tb;
        n_pad = n_tiles * tb;
        kpad = (k + nr - 1) / nr * nr;
        zt_ready = false;
        norms.assign(size_t(n_pad), T(0));
        // pure data movement: parallel without changing any value. Written panel by panel in
        // memory order (padding rows as zeros) rather than zero-filled and then scattered row by row
        // (0.2 ms of a 2.5 ms evaluation at 1257 x 64); a team only when the copy is large.
        const int pt = n * k > (index_t(1) << 18) ? nt_pack : 1;
        row_norms<T>(pt, norms.data());
        if (!screen) {  // with screening a tile that needs exact distances packs its own: exact_tile
            pa.resize(size_t(n_pad * k));
            pb.resize(size_t(n_pad * k));
            pack_panels<T>(pt, mr, pa.data());
            pack_panels<T>(pt, nr, pb.data());
        }
        tile_norm_max.assign(size_t(n_tiles), 0.0);
        for (index_t i = 0; i < n; ++i)
            tile_norm_max[size_t(i / tb)] = std::max(tile_norm_max[size_t(i / tb)], double(norms[size_t(i)]));
        if (!screen) return;
        pa32.resize(size_t(n_pad * k));
        pb32.resize(size_t(n_pad * k));
        pack_panels<float>(pt, kf->mr, pa32.data());
        pack_panels<float>(pt, kf->nr, pb32.data());
        norms32.assign(size_t(n_pad), 0.0f);
        row_norms<float>(pt, norms32.data());
    }
    // out[i] = |z_i|^2 (z_i's entries rounded to U), each summed over c in order in double; eight
    // rows side by side, so that their eight dependent chains overlap (one row at a time: 0.1 ms at
    // 1257 x 64).
    template <class U>
    void row_norms(int pt, U* out) const {
        constexpr index_t R = 8;
        parallel_for_static(pt, (n + R - 1) / R, [&](int, index_t b) {
            const index_t i0 = b * R, cnt = std::min(R, n - i0);
            double s[R] = {};
            const T* zb = z.data() + i0 * k;
            if (cnt == R) {
                for (index_t c = 0; c < k; ++c)
                    for (index_t r = 0; r < R; ++r) {
                        const double v = double(U(zb[r * k + c]));
                        s[r] += v * v;
                    }
            } else {
                for (index_t r = 0; r < cnt; ++r)
                    for (index_t c = 0; c < k; ++c) {
                        const double v = double(U(zb[r * k + c]));
                        s[r] += v * v;
                    }
            }
            for (index_t r = 0; r < cnt; ++r) out[i0 + r] = U(s[r]);
        });
    }
    // Z (n_pad rows, zero beyond n) in micro-panels of m rows: panel p holds rows [p m, p m + m) with
    // entry (r, c) at p k m + c m + r.
    template <class U>
    void pack_panels(int pt, index_t m, U* dst) const {
        parallel_for_static(pt, n_pad / m, [&](int, index_t p) {
            U* out = dst + p * k * m;
            const index_t r_end = std::min(m, n - p * m);
            for (index_t c = 0; c < k; ++c) {
                const T* src = z.data() + p * m * k + c;
                index_t r = 0;
                for (; r < r_end; ++r) out[c * m + r] = U(src[r * k]);
                for (; r < m; ++r) out[c * m + r] = U(0);
            }
        });
    }

    // Z in feature panels of NR columns (n_pad rows each) for the dense S Z products.
    void build_zt() {
        zt.resize(size_t(kpad * n_pad));
        for (index_t f = 0; f < kpad / nr; ++f) {  // in memory order, padding as zeros
            T* out = zt.data() + f * n_pad * nr;
            const index_t c0 = f * nr, cw = std::min(nr, k - c0);
            for (index_t i = 0; i < n_pad; ++i) {
                T* o = out + i * nr;
                index_t cc = 0;
                if (i < n)
                    for (const T* zi = z.data() + i * k + c0; cc < cw; ++cc) o[cc] = zi[cc];
                for (; cc < nr; ++cc) o[cc] = T(0);
            }
        }
        zt_ready = true;
    }

    // Bound on |d32 - d| for the pairs of tiles I and J: the float32 expansion of the rounded rows errs
    // by at most about (k + 3) eps32 (|a|^2 + |b|^2), the rounding of the rows themselves by
    // 2 eps32 sqrt(d (|a|^2 + |b|^2)) <= eps32 (1 + d + |a|^2 + |b|^2); a factor 4 on top.
    double screen_margin(index_t I, index_t J) const {
        if (!screen) return 0.0;
        const double nsum = tile_norm_max[size_t(I)] + tile_norm_max[size_t(J)];
        const double eps32 = 5.960464477539063e-08;
        return 4.0 * eps32 * (double(k + 4) * nsum + 1.0);
    }

    // Squared distances between the rows of tiles I and J (tb x tb, row stride tb) into out, from the
    // packed panels of the kernel table ku; on a diagonal tile a row's own entry is +inf. With rowmin
    // (pass 1) also the tile's row minima and, off the diagonal, its column minima (into colmin,
    // through cm), fused with the expansion.
    template <class U>
    void tile_of(const KernelTable<U>& ku, const U* ta, const U* tb_, const std::vector<U>& qn, index_t I, index_t J,
                 U* out, double* rowmin = nullptr, double* colmin = nullptr, U* cm = nullptr) const {
        const index_t um = ku.mr, un = ku.nr;
        for (index_t p = 0; p < tb / um; ++p)
            for (index_t c = 0; c < tb / un; ++c)
                ku.dot(k, ta + p * k * um, tb_ + c * k * un, out + p * um * tb + c * un, tb, false);
        const index_t ni = rows_in(I), nj = rows_in(J);
        const bool diag = I == J;
        if (rowmin && !diag) std::fill(cm, cm + nj, std::numeric_limits<U>::infinity());
        for (index_t r = 0; r < ni; ++r) {
            U* row = out + r * tb;
            const U m = ku.sq_from_dot_min(row, nj, qn[size_t(I * tb + r)], qn.data() + J * tb, diag ? r : -1, row,
                                           rowmin && !diag ? cm : nullptr);
            if (rowmin) rowmin[r] = double(m);
        }
        if (rowmin && !diag)
            for (index_t j = 0; j < nj; ++j) colmin[j] = double(cm[j]);
    }

    // Exact T distances of tile (I, J) into w.dist when screening: the two row blocks packed into the
    // thread's own panels (2 TB k copies against the TB^2 k of the product), then tile_of.
    void exact_tile(index_t I, index_t J, Scratch<T>& w) const {
        w.qa.assign(size_t(tb * k), T(0));
        w.qb.assign(size_t(tb * k), T(0));
        for (index_t r = 0; r < tb; ++r) {
            const index_t i = I * tb + r, j = J * tb + r;
            T* a = w.qa.data() + (r / mr) * k * mr + r % mr;
            T* b = w.qb.data() + (r / nr) * k * nr + r % nr;
            if (i < n)
                for (index_t c = 0; c < k; ++c) a[c * mr] = z[size_t(i * k + c)];
            if (j < n)
                for (index_t c = 0; c < k; ++c) b[c * nr] = z[size_t(j * k + c)];
        }
        tile_of<T>(*kt, w.qa.data(), w.qb.data(), norms, I, J, w.dist.data());
    }

    // The tile's distances: float32 when screening (approximate: see screen_margin), else exact T;
    // with minima (pass 1) also its row and column minima into w.rmin / w.cmin.
    void tile_distances(index_t I, index_t J, Scratch<T>& w, bool minima = false) const {
        double* rm = minima ? w.rmin.data() : nullptr;
        if (screen)
            tile_of<float>(*kf, pa32.data() + I * tb * k, pb32.data() + J * tb * k, norms32, I, J, w.dist32.data(), rm,
                           w.cmin.data(), w.cc32.data());
        else
            tile_of<T>(*kt, pa.data() + I * tb * k, pb.data() + J * tb * k, norms, I, J, w.dist.data(), rm,
                       w.cmin.data(), w.ccT.data());
    }

    // Lowers the running row (and column) states by the tile's minima (w.rmin / w.cmin from
    // tile_distances; less delta when screening, so a shift never exceeds a true distance); mu / nu
    // receive the shifts, [c, top] their range.
    void lower_states(index_t I, index_t J, index_t ni, index_t nj, double delta, Scratch<T>& w, double& c,
                      double& top) {
        const bool diag = I == J;
        c = std::numeric_limits<double>::infinity();
        top = -c;
        for (index_t r = 0; r < ni; ++r) {
            StreamingLse& st = lse_row[size_t(I * tb + r)];
            st.lower_to(double(T(w.rmin[size_t(r)] - delta)));  // shifts representable in T
            w.mu[size_t(r)] = T(st.m);
            c = std::min(c, st.m);
            top = std::max(top, st.m);
        }
        if (!diag)
            for (index_t j = 0; j < nj; ++j) {
                StreamingLse& st = lse_col[size_t(J * tb + j)];
                st.lower_to(double(T(w.cmin[size_t(j)] - delta)));
                w.nu[size_t(j)] = T(st.m);
                c = std::min(c, st.m);
                top = std::max(top, st.m);
            }
    }

    // The pairs (r, j) of the distance tile with d <= max(rcut[r], ccut[j]) + margin (the table's
    // select_within_cut, skipped for a row whose minimum w.rmin exceeds every cut; the +inf diagonal
    // never qualifies). With screening the kept distances are
    // then recomputed exactly: pair by pair, or from the whole tile through the float64 micro-kernel
    // when the tile keeps at least half of its pairs (per-pair sums took 25% of an NCA evaluation on
    // broad kernels).
    template <class U>
    void compact_of(const KernelTable<U>& ku, index_t I, index_t J, const U* D, index_t ni, index_t nj,
                    const double* rcut, const double* ccut, double margin, KeptPairs<T>& kp, Scratch<T>& w, U* tmp,
                    U* cc) const {
        kp.row_start.resize(size_t(ni + 1));
        // (sized separately: the dense pass 2 grows only col of the scratch pairs)
        if (index_t(kp.col.size()) < ni * nj) kp.col.resize(size_t(ni * nj));
        if (index_t(kp.d.size()) < ni * nj) kp.d.resize(size_t(ni * nj));
        std::int32_t* col = kp.col.data();
        T* dd = kp.d.data();
        // cuts are +inf while a row has met no other point: clamp, so that +inf never qualifies
        const double big = double(std::numeric_limits<U>::max()) / 4;
        U ccmax = -std::numeric_limits<U>::infinity();
        for (index_t j = 0; j < nj; ++j) {
            cc[j] = U(std::min(ccut[j] + margin, big));
            ccmax = std::max(ccmax, cc[j]);
        }
        const double* rowmin = w.rmin.data();  // the tile's row minima (tile_distances with minima)
        std::int32_t m = 0;
        for (index_t r = 0; r < ni; ++r) {
            kp.row_start[size_t(r)] = m;
            const U rc = U(std::min(rcut[r] + margin, big));
            // no entry of the row within its cuts when its smallest exceeds them all (peaked kernels:
            // most rows of most tiles)
            if (U(rowmin[r]) > std::max(rc, ccmax)) continue;
            // the kept distances straight into kp.d (U = T), or (screening) into scratch: recomputed below
            U* val = tmp;
            if constexpr (std::is_same_v<U, T>)
                if (!screen) val = dd + m;
            m += std::int32_t(ku.select_within_cut(D + r * tb, nj, rc, cc, col + m, val));
        }
        kp.row_start[size_t(ni)] = m;
        kp.count = m;
        if (!screen || m == 0) return;
        if (index_t(m) * 2 >= ni * nj) {
            exact_tile(I, J, w);
            for (index_t r = 0; r < ni; ++r) {
                const T* row = w.dist.data() + r * tb;
                for (std::int32_t t = kp.row_start[size_t(r)]; t < kp.row_start[size_t(r) + 1]; ++t) dd[t] = row[col[t]];
            }
            return;
        }
        for (index_t r = 0; r < ni; ++r) {
            const T* zi = z.data() + (I * tb + r) * k;
            const T* zJ = z.data() + J * tb * k;
            for (std::int32_t t = kp.row_start[size_t(r)]; t < kp.row_start[size_t(r) + 1]; ++t)
                dd[t] = kt->sqdist(zi, zJ + col[t] * k, k);
        }
    }
    void compact(index_t I, index_t J, index_t ni, index_t nj, const double* rcut, const double* ccut, double margin,
                 KeptPairs<T>& kp, Scratch<T>& w) const {
        if (screen)
            compact_of<float>(*kf, I, J, w.dist32.data(), ni, nj, rcut, ccut, margin, kp, w, w.tmp32.data(),
                              w.cc32.data());
        else
            compact_of<T>(*kt, I, J, w.dist.data(), ni, nj, rcut, ccut, margin, kp, w, w.tmp.data(), w.ccT.data());
    }

    // v[t] = exp(shift[row of t] - d[t]) / exp(shift[column of t] - d[t]) for the kept pairs
    void exp_rows(const KeptPairs<T>& kp, index_t ni, const T* shift, T* v) const {
        for (index_t r = 0; r < ni; ++r) {
            const std::int32_t t0 = kp.row_start[size_t(r)];
            kt->exp_diff(kp.d.data() + t0, kp.row_start[size_t(r) + 1] - t0, shift[r], v + t0);
        }
    }
    void exp_cols(const KeptPairs<T>& kp, const T* shift, T* v) const {
        for (index_t t = 0; t < kp.count; ++t) v[t] = clamp_lo<T>(shift[kp.col[size_t(t)]] - kp.d[size_t(t)]);
        kt->exp_scaled(v, kp.count, T(1));
    }

    // --------------------------------------------------------------- pass 1, sparse mode
    void sparse_pass1(index_t I, index_t J, Scratch<T>& w) {
        const index_t ni = rows_in(I), nj = rows_in(J);
        const bool diag = I == J;
        tile_distances(I, J, w, true);
        const T* ycol = yT.data() + J * tb;
        const T* yrow = yT.data() + I * tb;
        const double delta = screen_margin(I, J);
        double c, top;
        lower_states(I, J, ni, nj, delta, w, c, top);
        // a pair weighs something for row i only if d <= m_i + gap, for column j if d <= m_j + gap
        const double gap = pair_softmax_drop_gap<T>();
        double* rcut = w.rcd.data();
        double* ccut = w.ccd.data();
        for (index_t r = 0; r < ni; ++r) rcut[r] = lse_row[size_t(I * tb + r)].m + gap;
        for (index_t j = 0; j < nj; ++j)
            ccut[j] = (diag ? lse_row[size_t(J * tb + j)].m : lse_col[size_t(J * tb + j)].m) + gap;
        KeptPairs<T>& kp = w.kp;
        // the true running minimum is at most 2 delta above the shift, a distance at most delta off
        compact(I, J, ni, nj, rcut, ccut, 3 * delta, kp, w);
        const index_t m = kp.count;
        keep_for_pass2(I, J, ni, kp);
        if (m == 0) return;
        T* er = w.v1.data();  // exp(mu_i - d) up to the factor fr[r]
        T* ec = w.v2.data();  // exp(nu_j - d) up to the factor fc[j]
        T* fr = w.ra.data();
        T* fc = w.ca.data();
        if (top - c <= shift_span<T>()) {
            // one exponential E = exp(c - d) serves both sides: exp(mu_i - d) = E exp(mu_i - c)
            const double* F = shift_factors(w.mu.data(), ni, c, w);
            for (index_t r = 0; r < ni; ++r) fr[r] = T(F[r]);
            kt->exp_diff(kp.d.data(), m, T(c), er);  // all rows: one call
            ec = er;
            if (!diag) {
                F = shift_factors(w.nu.data(), nj, c, w);
                for (index_t j = 0; j < nj; ++j) fc[j] = T(F[j]);
            }
        } else {
            for (index_t r = 0; r < ni; ++r) fr[r] = T(1);
            exp_rows(kp, ni, w.mu.data(), er);
            if (!diag) {
                for (index_t j = 0; j < nj; ++j) fc[j] = T(1);
                exp_cols(kp, w.nu.data(), ec);
            }
        }
        for (index_t r = 0; r < ni; ++r) {
            T sum = 0, ysum = 0;
            const T yr = yrow[r];
            for (std::int32_t t = kp.row_start[size_t(r)]; t < kp.row_start[size_t(r) + 1]; ++t) {
                sum += er[t];
                ysum += er[t] * O::weight(yr, ycol[kp.col[size_t(t)]]);
            }
            StreamingLse& st = lse_row[size_t(I * tb + r)];
            st.s += double(fr[r]) * double(sum);
            st.w += double(fr[r]) * double(ysum);
        }
        if (diag) return;
        T* cs = w.colsum.data();
        T* cy = w.colysum.data();
        std::fill(cs, cs + nj, T(0));
        std::fill(cy, cy + nj, T(0));
        for (index_t r = 0; r < ni; ++r) {
            const T yr = yrow[r];
            for (std::int32_t t = kp.row_start[size_t(r)]; t < kp.row_start[size_t(r) + 1]; ++t) {
                const std::int32_t j = kp.col[size_t(t)];
                cs[j] += ec[t];
                cy[j] += ec[t] * O::weight(ycol[j], yr);
            }
        }
        add_col_states(J, nj, fc, cs, cy);
    }

    // exp(mu[r] - c) for r < cnt (mu - c in [0, span]) by the float64 table's vector exp, into scratch
    const double* shift_factors(const T* mu, index_t cnt, double c, Scratch<T>& w) const {
        double* neg = w.fneg.data();
        double* F = w.fexp.data();
        for (index_t r = 0; r < cnt; ++r) neg[r] = -double(mu[r]);
        kd->exp_diff(neg, cnt, -c, F);
        return F;
    }

    // A tile's kept pairs stay for pass 2 when they fit its share of cache_bytes (the same share for
    // every tile: whether a tile is cached depends only on its own count, never on the schedule).
    void keep_for_pass2(index_t I, index_t J, index_t ni, const KeptPairs<T>& kp) {
        const size_t t = size_t(I * n_tiles + J);
        const double bytes = double(kp.count) * double(sizeof(T) + 4) + double(ni + 1) * 4.0;
        kept_ok[t] = bytes <= kept_quota;
        if (!kept_ok[t]) return;
        KeptPairs<T>& dst = kept[t];
        dst.row_start.assign(kp.row_start.begin(), kp.row_start.begin() + (ni + 1));
        dst.col.assign(kp.col.begin(), kp.col.begin() + kp.count);
        dst.d.assign(kp.d.begin(), kp.d.begin() + kp.count);
        dst.count = kp.count;
    }

    void add_col_states(index_t J, index_t nj, const T* fc, const T* cs, const T* cy) {
        for (index_t j = 0; j < nj; ++j) {
            StreamingLse& st = lse_col[size_t(J * tb + j)];
            st.s += double(fc[j]) * double(cs[j]);
            st.w += double(fc[j]) * double(cy[j]);
        }
    }

    // --------------------------------------------------------------- pass 1, dense mode
    T* cache_block(index_t I, index_t J, int side) {
        return ecache.data() + pair_off[size_t(I * n_tiles + J)] + size_t(side) * size_t(tb * tb);
    }

    // After the tile's minima lowered the shifts, one exp per pair serves both sides when all shifts
    // lie within the span of their minimum c: exp(mu_i - d) = exp(c - d) exp(mu_i - c). Otherwise
    // ("dual" tile) rows and columns get their own exponentials.
    void dense_pass1(index_t I, index_t J, Scratch<T>& w) {
        const index_t ni = rows_in(I), nj = rows_in(J), nT = n_tiles;
        const bool diag = I == J;
        tile_distances(I, J, w, true);
        const T* D = w.dist.data();
        double c, top;
        lower_states(I, J, ni, nj, 0.0, w, c, top);
        double tmin = std::numeric_limits<double>::infinity();
        for (index_t r = 0; r < ni; ++r) tmin = std::min(tmin, w.rmin[size_t(r)]);
        tile_dmin[size_t(I * nT + J)] = tmin;
        const bool single = top - c <= shift_span<T>() && !std::isinf(c);
        if (exp_cached) {
            tile_mode[size_t(I * nT + J)] = single ? 1 : 2;
            tile_shift[size_t(I * nT + J)] = c;
        }
        const T* ycol = yT.data() + J * tb;
        T* cs = w.colsum.data();
        T* cy = w.colysum.data();
        std::fill(cs, cs + nj, T(0));
        std::fill(cy, cy + nj, T(0));
        T* fc = w.ca.data();
        // row r's exponentials of one side into e: exp(shift - d), the own entry 0
        auto exps = [&](index_t r, T shift, T* e) {
            kt->exp_diff(D + r * tb, nj, shift, e);
            if (diag) e[r] = T(0);
        };
        auto row_state = [&](index_t r, const T* e, double f) {
            const T yi = yT[size_t(I * tb + r)];
            StreamingLse& st = lse_row[size_t(I * tb + r)];
            st.s += f * double(kt->vsum(e, nj));
            if constexpr (O::class_weights) {
                index_t a, b;
                class_cols(I * tb + r, J, nj, a, b);
                st.w += f * double(kt->vsum(e + a, b - a));
            } else {
                static_assert(std::is_same_v<O, MlkrObjective>, "weighted row sums written for w(i, j) = y_j");
                (void)yi;
                st.w += f * double(kt->vdot(e, ycol, nj));
            }
        };
        auto col_sums = [&](index_t r, const T* e) {
            const T yi = yT[size_t(I * tb + r)];
            kt->vaxpy(cs, T(1), e, nj);
            if constexpr (O::class_weights) {
                index_t a, b;
                class_cols(I * tb + r, J, nj, a, b);
                kt->vaxpy(cy + a, T(1), e + a, b - a);
            } else {
                kt->vaxpy(cy, yi, e, nj);  // w(j, i) = y_i
            }
        };
        T* E = exp_cached ? cache_block(I, J, 0) : w.v1.data();
        const index_t estride = exp_cached ? tb : 0;  // without the cache, one row at a time
        if (single) {
            const double* F = shift_factors(w.mu.data(), ni, c, w);
            for (index_t r = 0; r < ni; ++r) {
                T* e = E + r * estride;
                exps(r, T(c), e);
                row_state(r, e, F[r]);
                if (!diag) col_sums(r, e);
            }
            if (diag) return;
            F = shift_factors(w.nu.data(), nj, c, w);
            for (index_t j = 0; j < nj; ++j) fc[j] = T(F[j]);
            add_col_states(J, nj, fc, cs, cy);
            return;
        }
        for (index_t r = 0; r < ni; ++r) {
            T* e = E + r * estride;
            if (exp_cached) rowshift[size_t((I * tb + r) * nT + J)] = double(w.mu[size_t(r)]);
            exps(r, w.mu[size_t(r)], e);
            row_state(r, e, 1.0);
        }
        if (diag) return;
        T* E2 = exp_cached ? cache_block(I, J, 1) : w.v1.data();
        if (exp_cached)
            for (index_t j = 0; j < nj; ++j) colshift[size_t((J * tb + j) * nT + I)] = double(w.nu[size_t(j)]);
        for (index_t r = 0; r < ni; ++r) {
            T* e = E2 + r * estride;
            const T* row = D + r * tb;
            for (index_t j = 0; j < nj; ++j) e[j] = clamp_lo<T>(w.nu[size_t(j)] - row[j]);
            kt->exp_scaled(e, nj, T(1));
            col_sums(r, e);
        }
        for (index_t j = 0; j < nj; ++j) fc[j] = T(1);
        add_col_states(J, nj, fc, cs, cy);
    }

    // --------------------------------------------------------------- pass 2
    // S_ij = p_ij (alpha_i w_ij - beta_i) + p_ji (alpha_j w_ji - beta_j). When the offsets of the tile
    // lie within the span, one exponential E = exp(-(d + o)) serves both: p_ij = E F_i with
    // F_i = exp(o - off_i), and S_ij = E ((a_i w_ij - ab_i) + (a_j w_ji - ab_j)), a = F alpha, ab = F beta.
    // Row factors go to ra, rb, rt (rt: E below it makes p_i. < tau), column factors to ca, cb, ct.
    void shared_factors(index_t I, index_t J, double o, Scratch<T>& w) const {
        const double tau = pair_softmax_drop_tau<T>();
        // F = exp(o - off_i) by the float64 table's vector exp (o - off_i lies in [-span, 0])
        auto side = [&](index_t i0, index_t cnt, T* a, T* ab, T* thr) {
            double* F = w.fexp.data();
            kd->exp_diff(off.data() + i0, cnt, o, F);
            for (index_t r = 0; r < cnt; ++r) {
                a[r] = T(F[r] * alpha[size_t(i0 + r)]);
                ab[r] = T(F[r] * beta[size_t(i0 + r)]);
                thr[r] = T(tau / F[r]);
            }
        };
        side(I * tb, rows_in(I), w.ra.data(), w.rb.data(), w.rt.data());
        side(J * tb, rows_in(J), w.ca.data(), w.cb.data(), w.ct.data());
    }
    // from separate p_ij and p_ji (global rows i and jj)
    T s_dual(index_t i, index_t jj, T pij, T pji) const {
        const T yi = yT[size_t(i)], yj = yT[size_t(jj)];
        return pij * (alphaT[size_t(i)] * O::weight(yi, yj) - betaT[size_t(i)]) +
               pji * (alphaT[size_t(jj)] * O::weight(yj, yi) - betaT[size_t(jj)]);
    }

    void sparse_pass2(index_t I, index_t J, Scratch<T>& w) {
        const index_t ni = rows_in(I), nj = rows_in(J);
        KeptPairs<T>* kpp;
        if (kept_ok[size_t(I * n_tiles + J)]) {
            kpp = &kept[size_t(I * n_tiles + J)];
        } else {  // recompute the tile and keep what the final minima allow
            tile_distances(I, J, w, true);  // the minima: compact skips rows
            const double gap = pair_softmax_drop_gap<T>();
            for (index_t r = 0; r < ni; ++r) w.rcd[size_t(r)] = mfinal[size_t(I * tb + r)] + gap;
            for (index_t j = 0; j < nj; ++j) w.ccd[size_t(j)] = mfinal[size_t(J * tb + j)] + gap;
            compact(I, J, ni, nj, w.rcd.data(), w.ccd.data(), 2 * screen_margin(I, J), w.kp, w);
            kpp = &w.kp;
        }
        const KeptPairs<T>& kp = *kpp;
        const index_t m = kp.count;
        if (m == 0) return;
        double omin, omax;
        detail::offset_range(off.data(), I * tb, ni, J * tb, nj, omin, omax);
        T* sv = w.sv.data();
        const T* ycol = yT.data() + J * tb;
        const T* yrow = yT.data() + I * tb;
        if (omax - omin <= shift_span<T>()) {
            omax = double(T(omax));  // the exps below use it as T: the factors must use the same value
            shared_factors(I, J, omax, w);
            T* E = w.v1.data();
            const T o = T(omax);
            kt->exp_diff(kp.d.data(), m, -o, E);  // exp(max(-(d + o), lo))
            const T* ca = w.ca.data();
            const T* cb = w.cb.data();
            const T* ct = w.ct.data();
            for (index_t r = 0; r < ni; ++r) {
                const T yi = yrow[r], tr = w.rt[size_t(r)], a = w.ra[size_t(r)], ab = w.rb[size_t(r)];
                for (std::int32_t t = kp.row_start[size_t(r)]; t < kp.row_start[size_t(r) + 1]; ++t) {
                    const std::int32_t j = kp.col[size_t(t)];
                    const T v = O::s_shared(E[t], a, ab, yi, ca[j], cb[j], ycol[j]);
                    sv[t] = E[t] >= (tr < ct[j] ? tr : ct[j]) ? v : T(0);
                }
            }
        } else {
            // offsets too far apart for one exponential: p_ij and p_ji separately
            T* P1 = w.v1.data();
            T* P2 = w.v2.data();
            for (index_t r = 0; r < ni; ++r) w.rb[size_t(r)] = T(-off[size_t(I * tb + r)]);
            for (index_t j = 0; j < nj; ++j) w.cb[size_t(j)] = T(-off[size_t(J * tb + j)]);
            exp_rows(kp, ni, w.rb.data(), P1);
            exp_cols(kp, w.cb.data(), P2);
            const T tau = T(pair_softmax_drop_tau<T>());
            for (index_t r = 0; r < ni; ++r)
                for (std::int32_t t = kp.row_start[size_t(r)]; t < kp.row_start[size_t(r) + 1]; ++t) {
                    const index_t jj = J * tb + kp.col[size_t(t)];
                    sv[t] = (P1[t] >= tau || P2[t] >= tau) ? s_dual(I * tb + r, jj, P1[t], P2[t]) : T(0);
                }
        }
        if (!dense_products_pay(m, ni, nj)) {
            pair_products(I, J, ni, nj, kp, sv, w);
            return;
        }
        T* St = w.st.data();
        std::fill(St, St + tb * tb, T(0));
        for (index_t r = 0; r < ni; ++r)
            for (std::int32_t t = kp.row_start[size_t(r)]; t < kp.row_start[size_t(r) + 1]; ++t)
                St[r * tb + kp.col[size_t(t)]] = sv[t];
        dense_tile_products(I, J, ni, nj, St, w);
    }

    // Pass 2 skips an off-diagonal tile whose every p_ij and p_ji is below tau: p_ij <= exp(-(dmin +
    // off_i)) with dmin the tile's smallest distance. A skipped term changes S_ij by less than 2 tau.
    bool negligible_tile(index_t I, index_t J) const {
        double omin, omax;
        detail::offset_range(off.data(), I * tb, rows_in(I), J * tb, rows_in(J), omin, omax);
        return tile_dmin[size_t(I * n_tiles + J)] + omin > pair_softmax_drop_gap<T>();
    }

    void dense_pass2(index_t I, index_t J, Scratch<T>& w) {
        const index_t ni = rows_in(I), nj = rows_in(J), nT = n_tiles;
        const bool diag = I == J;
        // without this driver's pass 1 the tile's smallest distance comes from its distances here
        const bool have_d = !diag && pass2_alone;
        if (have_d) {
            tile_distances(I, J, w, true);
            double tmin = std::numeric_limits<double>::infinity();
            for (index_t r = 0; r < ni; ++r) tmin = std::min(tmin, w.rmin[size_t(r)]);
            tile_dmin[size_t(I * nT + J)] = tmin;
        }
        if (!diag && negligible_tile(I, J)) return;
        T* St = w.st.data();
        const T* ycol = yT.data() + J * tb;
        const T thr = T(2.0 * pair_softmax_drop_tau<T>());
        // shared exponential rows (p_ij = e F_i, p_ji = e F_j): row r of S from e (do_exp false) or
        // from the distances d, e = exp(-(d + o)), through the table's fused row op; returns how many
        // of its entries are above thr
        auto shared_row = [&](index_t r, const T* src, bool do_exp, T o) -> index_t {
            T* s = St + r * tb;
            const T yi = yT[size_t(I * tb + r)], a = w.ra[size_t(r)], ab = w.rb[size_t(r)];
            const T* ca = w.ca.data();
            const T* cb = w.cb.data();
            if constexpr (O::class_weights) {
                // S_ij = E ((a_i - ab_i) + (a_j - ab_j)) in the class range, E (-ab_i - ab_j) outside
                index_t lo, hi;
                class_cols(I * tb + r, J, nj, lo, hi);
                const T* one = w.ones.data();
                return kt->s_row(src, lo, do_exp, -o, T(0), ab, one, T(0), ca, cb, thr, s) +
                       kt->s_row(src + lo, hi - lo, do_exp, -o, a, ab, one, T(1), ca + lo, cb + lo, thr, s + lo) +
                       kt->s_row(src + hi, nj - hi, do_exp, -o, T(0), ab, one, T(0), ca + hi, cb + hi, thr, s + hi);
            } else {
                // S_ij = E ((a_i w_ij - ab_i) + (w_ji a_j - ab_j)), w_ij = y_j, w_ji = y_i
                return kt->s_row(src, nj, do_exp, -o, a, ab, ycol, yi, ca, cb, thr, s);
            }
        };
        auto dual_row = [&](index_t r, const T* e1, const T* e2) {
            T* s = St + r * tb;
            for (index_t j = 0; j < nj; ++j) s[j] = s_dual(I * tb + r, J * tb + j, e1[j], e2[j]);
            return kt->count_abs_above(s, nj, thr);
        };
        index_t kcount = 0;
        if (exp_cached && tile_mode[size_t(I * nT + J)] == 1) {
            // pass 1 stored e = exp(c - d): p_ij = e exp(-(c + off_i))
            shared_factors(I, J, -tile_shift[size_t(I * nT + J)], w);
            const T* E = cache_block(I, J, 0);
            for (index_t r = 0; r < ni; ++r) kcount += shared_row(r, E + r * tb, false, T(0));
        } else if (exp_cached) {
            // dual tile: p_ij = R exp(-(mu_i + off_i)), p_ji = C exp(-(nu_j + off_j)) (diagonal: R^T)
            const T* R = cache_block(I, J, 0);
            const T* C = diag ? nullptr : cache_block(I, J, 1);
            T* F = w.ra.data();
            T* G = w.ca.data();
            for (index_t r = 0; r < ni; ++r) {
                const index_t i = I * tb + r;
                F[r] = T(std::exp(-(rowshift[size_t(i * nT + J)] + off[size_t(i)])));
            }
            if (!diag)
                for (index_t j = 0; j < nj; ++j) {
                    const index_t jj = J * tb + j;
                    G[j] = T(std::exp(-(colshift[size_t(jj * nT + I)] + off[size_t(jj)])));
                }
            T* e1 = w.v1.data();
            T* e2 = w.v2.data();
            for (index_t r = 0; r < ni; ++r) {
                for (index_t j = 0; j < nj; ++j) e1[j] = R[r * tb + j] * F[r];
                for (index_t j = 0; j < nj; ++j) e2[j] = diag ? R[j * tb + r] * F[j] : C[r * tb + j] * G[j];
                kcount += dual_row(r, e1, e2);
            }
        } else {
            if (!have_d) tile_distances(I, J, w);
            const T* D = w.dist.data();
            double omin, omax;
            detail::offset_range(off.data(), I * tb, ni, J * tb, nj, omin, omax);
            if (omax - omin <= shift_span<T>()) {
                // e = exp(-(d + c)), c the largest offset: p = e exp(c - off), factors in [1, e^span]
                shared_factors(I, J, omax, w);
                const T cT = T(omax);
                for (index_t r = 0; r < ni; ++r) kcount += shared_row(r, D + r * tb, true, cT);
            } else {
                T* e = w.v1.data();
                T* e2 = w.v2.data();
                for (index_t r = 0; r < ni; ++r) {
                    const T* row = D + r * tb;
                    const T oi = T(off[size_t(I * tb + r)]);
                    for (index_t j = 0; j < nj; ++j) {
                        e[j] = clamp_lo<T>(-(row[j] + oi));
                        e2[j] = clamp_lo<T>(-(row[j] + T(off[size_t(J * tb + j)])));
                    }
                    kt->exp_scaled(e, nj, T(1));
                    kt->exp_scaled(e2, nj, T(1));
                    kcount += dual_row(r, e, e2);
                }
            }
        }
        // the own entries are 0
        if (diag)
            for (index_t r = 0; r < ni; ++r) {
                T& x = St[r * tb + r];
                kcount -= (x > thr || x < -thr) ? 1 : 0;
                x = T(0);
            }
        if (dense_products_pay(kcount, ni, nj)) {
            // the micro-kernels take the whole tb x tb tile: zero the padding
            for (index_t r = 0; r < tb; ++r) {
                T* s = St + r * tb;
                if (r >= ni)
                    std::fill(s, s + tb, T(0));
                else
                    std::fill(s + nj, s + tb, T(0));
            }
            dense_tile_products(I, J, ni, nj, St, w);
            return;
        }
        // mostly negligible (well-separated classes): the entries above 2 tau as kept pairs
        KeptPairs<T>& kp = w.kp;
        kp.row_start.resize(size_t(ni + 1));
        if (index_t(kp.col.size()) < ni * nj) kp.col.resize(size_t(ni * nj));
        T* sv = w.sv.data();
        std::int32_t cnt = 0;
        for (index_t r = 0; r < ni; ++r) {
            kp.row_start[size_t(r)] = cnt;
            cnt += std::int32_t(kt->select_abs_above(St + r * tb, nj, thr, kp.col.data() + cnt, sv + cnt));
        }
        kp.row_start[size_t(ni)] = cnt;
        kp.count = cnt;
        pair_products(I, J, ni, nj, kp, sv, w, St);
    }

    // Row and column sums of S and the products S Z_J (rows), S^T Z_I (columns) over the kept pairs:
    // per tile in T (a row's pairs through the table's gather product, the columns' by scatter, row
    // by row in order), then added to the double accumulators.
    // St (optional): the tile's S rows with the entries not kept zeroed; then the column sums are its
    // rows added in order (the same sums as pair by pair: the zeros add nothing), vectorised.
    void pair_products(index_t I, index_t J, index_t ni, index_t nj, const KeptPairs<T>& kp, const T* sv,
                       Scratch<T>& w, const T* St = nullptr) {
        const bool diag = I == J;
        T* cs = w.colsum.data();
        T* racc = w.prod.data();   // one row's S Z_J, in T
        T* cacc = w.prod2.data();  // the tile's S^T Z_I (nj x k), in T
        if (!diag) {
            std::fill(cs, cs + nj, T(0));
            std::fill(cacc, cacc + nj * k, T(0));
            if (St)
                for (index_t r = 0; r < ni; ++r) kt->vaxpy(cs, T(1), St + r * tb, nj);
        }
        T* csum = St ? nullptr : cs;
        const T* zI = z.data() + I * tb * k;
        const T* zJ = z.data() + J * tb * k;
        double* acc_r = sz_row.data() + I * tb * k;
        double* acc_c = sz_col.data() + J * tb * k;
        for (index_t r = 0; r < ni; ++r) {
            const std::int32_t t0 = kp.row_start[size_t(r)];
            const index_t cnt = kp.row_start[size_t(r) + 1] - t0;
            if (cnt == 0) continue;
            const std::int32_t* col = kp.col.data() + t0;
            rs_row[size_t(I * tb + r)] += double(kt->gather_gemv(cnt, col, sv + t0, zJ, k, k, racc));
            kt->axpy_acc(k, 1.0, racc, acc_r + r * k);  // exact: acc += double(racc)
            if (!diag) kt->scatter_axpy(cnt, col, sv + t0, zI + r * k, k, cacc, k, csum);
        }
        if (!diag) {
            for (index_t j = 0; j < nj; ++j) rs_col[size_t(J * tb + j)] += double(cs[j]);
            kt->axpy_acc(nj * k, 1.0, cacc, acc_c);
        }
    }

    // The same from a dense S tile St (tb x tb, zero outside the tile's rows and columns) through the
    // micro-kernels: w.prod = S Z_J, w.prod2 = S^T Z_I.
    void dense_tile_products(index_t I, index_t J, index_t ni, index_t nj, const T* St, Scratch<T>& w) {
        const bool diag = I == J;
        T* cs = w.colsum.data();
        for (index_t r = 0; r < ni; ++r) rs_row[size_t(I * tb + r)] += double(kt->vsum(St + r * tb, nj));
        if (!diag) {
            std::fill(cs, cs + nj, T(0));
            for (index_t r = 0; r < ni; ++r) kt->vaxpy(cs, T(1), St + r * tb, nj);
            for (index_t j = 0; j < nj; ++j) rs_col[size_t(J * tb + j)] += double(cs[j]);
        }
        T* sa = w.sa.data();  // A panels of S: row panel r / mr, K = column j
        for (index_t r = 0; r < tb; ++r) {
            T* dst = sa + (r / mr) * tb * mr + r % mr;
            const T* s = St + r * tb;
            for (index_t j = 0; j < tb; ++j) dst[j * mr] = s[j];
        }
        product_into(sa, J, ni, sz_row.data() + I * tb * k, w);
        if (diag) return;
        T* sc = w.sc.data();  // A panels of S^T: row panel j / mr, K = row r
        for (index_t r = 0; r < tb; ++r)
            for (index_t c = 0; c < tb / mr; ++c) std::copy_n(St + r * tb + c * mr, mr, sc + (c * tb + r) * mr);
        product_into(sc, I, nj, sz_col.data() + J * tb * k, w);
    }
    // acc (rows x k, double) += (panels S) Z_B for the row block B of Z
    void product_into(const T* panels, index_t B, index_t rows, double* acc, Scratch<T>& w) {
        T* prod = w.prod.data();
        for (index_t p = 0; p < tb / mr; ++p)
            for (index_t f = 0; f < kpad / nr; ++f)
                kt->dot(tb, panels + p * tb * mr, zt.data() + (f * n_pad + B * tb) * nr, prod + p * mr * kpad + f * nr,
                        kpad, false);
        for (index_t r = 0; r < rows; ++r) kt->axpy_acc(k, 1.0, prod + r * kpad, acc + r * k);
    }

    // The row order (perm), targets and class ranges for y (n rows).
    void setup_rows(const double* yv, index_t rows) {
        n = rows;
        perm.resize(size_t(n));
        std::iota(perm.begin(), perm.end(), index_t(0));
        if (O::sort_rows)
            std::stable_sort(perm.begin(), perm.end(), [&](index_t a, index_t b) { return yv[a] < yv[b]; });
        y.resize(size_t(n));
        for (index_t i = 0; i < n; ++i) y[size_t(i)] = yv[perm[size_t(i)]];
        if (O::class_weights) {  // sorted: each class is one run of rows
            cls_lo.resize(size_t(n));
            cls_hi.resize(size_t(n));
            for (index_t i = 0, e; i < n; i = e) {
                for (e = i + 1; e < n && y[size_t(e)] == y[size_t(i)];) ++e;
                for (index_t r = i; r < e; ++r) {
                    cls_lo[size_t(r)] = i;
                    cls_hi[size_t(r)] = e;
                }
            }
        }
    }

    // --------------------------------------------------------------- block pairs (pair_block.hpp)
    void bind_kernels(index_t cols) {
        if (cols < 1) throw std::invalid_argument("pair sweep: Z must have at least one column");
        k = cols;
        kt = &active_kernels<T>();
        kf = &active_kernels<float>();
        kd = &active_kernels<double>();
        mr = kt->mr;
        nr = kt->nr;
    }

    // Block A alone (the diagonal block pair): the whole-Z layout of A.
    void diag_layout(MatrixView<T> za, const double* ya, SweepMode mode) {
        setup_rows(ya, za.rows);
        double top = 0;
        const double mean_d = load_z(za, top);
        choose_mode(mode, mean_d, top);
    }

    // The rectangle of blocks A and B (see rect): each block in its own class order (NCA), both
    // centred on the mean of their rows, zero rows after A up to its last tile's end; the mode from
    // the mean squared distance over the two blocks' rows; the tile side by the sweep's rule for
    // nA + nB rows, then the smallest multiple of the micro-kernels' that splits each block into
    // as many tiles.
    void rect_layout(MatrixView<T> za, const double* ya, MatrixView<T> zb, const double* yb, SweepMode mode) {
        const index_t na = za.rows, nb = zb.rows, both = na + nb;
        rect = true;
        a_rows = na;
        auto order = [](const double* yv, index_t rows) {
            std::vector<index_t> o(static_cast<size_t>(rows));
            std::iota(o.begin(), o.end(), index_t(0));
            if (O::sort_rows)
                std::stable_sort(o.begin(), o.end(), [&](index_t a, index_t b) { return yv[a] < yv[b]; });
            return o;
        };
        const std::vector<index_t> pa_ = order(ya, na), pb_ = order(yb, nb);
        auto value = [&](index_t i, index_t c) -> double {  // row i of A then B, caller's order
            return i < na ? double(za.at(i, c)) : double(zb.at(i - na, c));
        };
        std::vector<double> mean(size_t(k), 0.0);
        for (index_t i = 0; i < both; ++i)
            for (index_t c = 0; c < k; ++c) mean[size_t(c)] += value(i, c);
        for (index_t c = 0; c < k; ++c) mean[size_t(c)] /= double(both);
        double ss = 0, top = 0;
        for (index_t i = 0; i < both; ++i)
            for (index_t c = 0; c < k; ++c) {
                const double v = double(T(value(i, c) - mean[size_t(c)]));
                if (!std::isfinite(v)) throw std::invalid_argument("pair sweep: Z must be finite");
                ss += v * v;
                top = std::max(top, std::fabs(v));
            }
        choose_mode(mode, 2.0 * ss / double(both), top);
        const index_t l = tile_multiple();
        const index_t tbw = tile_override > 0 ? tile_override : tile_width(dense, both);
        auto side = [&](index_t rows) {
            const index_t cnt = std::max<index_t>(1, (rows + tbw - 1) / tbw);
            return ((rows + cnt - 1) / cnt + l - 1) / l * l;
        };
        tb = std::max(side(na), side(nb));
        a_tiles = (na + tb - 1) / tb;
        const index_t b0 = a_tiles * tb;
        n = b0 + nb;
        perm.assign(size_t(n), -1);  // A rows: their row in A; B rows: their row in B; fill: -1
        y.assign(size_t(n), 0.0);
        z.assign(size_t(n * k), T(0));
        auto put = [&](index_t i, index_t src, const double* yv, MatrixView<T> zs) {
            perm[size_t(i)] = src;
            y[size_t(i)] = yv[src];
            T* zi = z.data() + i * k;
            for (index_t c = 0; c < k; ++c) zi[c] = T(double(zs.at(src, c)) - mean[size_t(c)]);
        };
        for (index_t i = 0; i < na; ++i) put(i, pa_[size_t(i)], ya, za);
        for (index_t j = 0; j < nb; ++j) put(b0 + j, pb_[size_t(j)], yb, zb);
        if (O::class_weights) {  // a row of A: the columns of B in its class (B sorted by class)
            cls_lo.assign(size_t(n), 0);
            cls_hi.assign(size_t(n), 0);
            const double* yB = y.data() + b0;
            for (index_t i = 0; i < na; ++i) {
                cls_lo[size_t(i)] = b0 + index_t(std::lower_bound(yB, yB + nb, y[size_t(i)]) - yB);
                cls_hi[size_t(i)] = b0 + index_t(std::upper_bound(yB, yB + nb, y[size_t(i)]) - yB);
            }
        }
    }

    // Pass 1 of a block pair into the callers' (3 x rows) states.
    void block_lse(double* state_a, index_t na, double* state_b, index_t nb) {
        run_pass1();
        auto out = [](double* st, index_t rows, index_t src, const StreamingLse& v) {
            st[src] = v.m;
            st[rows + src] = v.s;
            st[2 * rows + src] = v.w;
        };
        if (!rect) {
            for (index_t i = 0; i < n; ++i) {
                StreamingLse v = lse_row[size_t(i)];
                v.merge(lse_col[size_t(i)]);
                out(state_a, na, perm[size_t(i)], v);
            }
            return;
        }
        for (index_t i = 0; i < a_rows; ++i) out(state_a, na, perm[size_t(i)], lse_row[size_t(i)]);
        for (index_t i = a_tiles * tb; i < n; ++i) out(state_b, nb, perm[size_t(i)], lse_col[size_t(i)]);
    }

    // Pass 2 of a block pair from the rows' merged values into the callers' b (rows x k).
    void block_grad(const PairBlockRows& a, const PairBlockRows& b, double* b_a, double* b_b) {
        for (auto* v : {&off, &alpha, &beta, &mfinal}) v->assign(size_t(n_pad), 0.0);
        alphaT.assign(size_t(n_pad), T(0));
        betaT.assign(size_t(n_pad), T(0));
        const index_t b0 = rect ? a_tiles * tb : n;
        for (index_t i = 0; i < n; ++i) {
            const index_t src = perm[size_t(i)];
            if (src < 0) continue;
            const PairBlockRows& r = i < b0 ? a : b;
            off[size_t(i)] = r.off[src];
            alpha[size_t(i)] = r.alpha[src];
            beta[size_t(i)] = r.beta[src];
            mfinal[size_t(i)] = r.m[src];
            alphaT[size_t(i)] = T(alpha[size_t(i)]);
            betaT[size_t(i)] = T(beta[size_t(i)]);
        }
        pass2_alone = true;
        build_zt();
        run_pass2();
        for (index_t i = 0; i < n; ++i) {
            const index_t src = perm[size_t(i)];
            if (src < 0) continue;
            // diag: both sides are A's rows; rect: the row side is A, the column side B
            const bool in_a = i < b0;
            const double rs = in_a ? rs_row[size_t(i)] + (rect ? 0.0 : rs_col[size_t(i)]) : rs_col[size_t(i)];
            const T* zi = z.data() + i * k;
            double* bi = (in_a ? b_a : b_b) + src * k;
            for (index_t c = 0; c < k; ++c) {
                const double sz = in_a ? sz_row[size_t(i * k + c)] + (rect ? 0.0 : sz_col[size_t(i * k + c)])
                                       : sz_col[size_t(i * k + c)];
                bi[c] = rs * double(zi[c]) - sz;
            }
        }
    }

    // --------------------------------------------------------------- one evaluation
    double evaluate(MatrixView<T> Z, double* G, double* pred, int n_threads, SweepMode mode) {
        if (Z.rows != n)
            throw std::invalid_argument("pair sweep: Z has " + std::to_string(Z.rows) + " rows, y has " +
                                        std::to_string(n));
        bind_kernels(Z.cols);
        const int nt_req = resolve_threads(n_threads);
        double top = 0;
        const double mean_d = load_z(Z, top);
        choose_mode(mode, mean_d, top);
        prepare(nt_req);
        const index_t nT = n_tiles;

        // pass 1
        run_pass1();
        for (auto* v : {&off, &q, &alpha, &beta, &mfinal}) v->assign(size_t(n_pad), 0.0);
        alphaT.assign(size_t(n_pad), T(0));
        betaT.assign(size_t(n_pad), T(0));
        double loss = 0;
        for (index_t i = 0; i < n; ++i) {
            StreamingLse st = lse_row[size_t(i)];
            st.merge(lse_col[size_t(i)]);
            mfinal[size_t(i)] = st.m;
            off[size_t(i)] = std::log(st.s) - st.m;
            q[size_t(i)] = st.w / st.s;
            double term;
            O::finish(q[size_t(i)], y[size_t(i)], term, alpha[size_t(i)], beta[size_t(i)]);
            if (!rw.empty()) {
                term *= rw[size_t(i)];
                alpha[size_t(i)] *= rw[size_t(i)];
                beta[size_t(i)] *= rw[size_t(i)];
            }
            loss += term;
            alphaT[size_t(i)] = T(alpha[size_t(i)]);
            betaT[size_t(i)] = T(beta[size_t(i)]);
        }
        if (pred)
            for (index_t i = 0; i < n; ++i) pred[perm[size_t(i)]] = q[size_t(i)];

        // pass 2 (the dense products need zt: in the dense mode or for a tile not cached always
        // possible, else only if a cached tile kept enough pairs)
        bool need_zt = dense;
        for (index_t I = 0; I < nT && !need_zt; ++I)
            for (index_t J = I; J < nT && !need_zt; ++J)
                need_zt = !kept_ok[size_t(I * nT + J)] ||
                          dense_products_pay(kept[size_t(I * nT + J)].count, rows_in(I), rows_in(J));
        if (need_zt) build_zt();
        run_pass2();
        // G = scale * b, b_i = rowsum(S)_i z_i - (S Z)_i
        for (index_t i = 0; i < n; ++i) {
            const double rs = rs_row[size_t(i)] + rs_col[size_t(i)];
            const T* zi = z.data() + i * k;
            double* gi = G + perm[size_t(i)] * k;
            for (index_t c = 0; c < k; ++c)
                gi[c] = O::scale * (rs * double(zi[c]) - (sz_row[size_t(i * k + c)] + sz_col[size_t(i * k + c)]));
        }
        return loss;
    }

    // The mode of an evaluation from the mean squared distance and the largest |z_ic| (pair_sweep.hpp).
    void choose_mode(SweepMode mode, double mean_d, double top) {
        dense = mode == SweepMode::dense ||
                (mode == SweepMode::automatic && !(mean_d > 2.0 * pair_softmax_drop_gap<T>()));
        screen = false;
        // float32 screening unless the rows are too large for float32
        if (sizeof(T) == 8 && !dense) screen = top * top * double(k) < 1e30;
    }

    // Everything between loading Z and pass 1: packing, targets, threads, scratch and the caches.
    void prepare(int nt_req) {
        pack_z(nt_req);
        yT.assign(size_t(n_pad), T(0));
        for (index_t i = 0; i < n; ++i) yT[size_t(i)] = T(y[size_t(i)]);
        // threads share the tiles of one round; serial when the problem is tiny
        nt = int(std::min<index_t>(nt_req, n_tiles));
        if (double(n) * double(n) * double(k) < 2e6) nt = 1;
        nt = std::max(1, nt);
        if (scratch.size() < size_t(nt)) scratch.resize(size_t(nt));
        for (int t = 0; t < nt; ++t) scratch[size_t(t)].init(tb, kpad, screen);
        const index_t nT = n_tiles;
        if (dense) {
            exp_cached = double(n_pad) * double(n_pad) * double(sizeof(T)) <= double(cache_bytes);
            if (exp_cached) {
                pair_off.assign(size_t(nT * nT), 0);
                std::size_t o = 0;
                for (index_t I = 0; I < nT; ++I)
                    for (index_t J = I; J < nT; ++J) {
                        pair_off[size_t(I * nT + J)] = o;
                        o += size_t(I == J ? 1 : 2) * size_t(tb * tb);
                    }
                ecache.resize(o);
                rowshift.assign(size_t(n_pad * nT), 0.0);
                colshift.assign(size_t(n_pad * nT), 0.0);
                tile_mode.assign(size_t(nT * nT), 0);
                tile_shift.assign(size_t(nT * nT), 0.0);
            }
            tile_dmin.assign(size_t(nT * nT), std::numeric_limits<double>::infinity());
        } else {
            // kept pairs of the I <= J tiles: at most n_pad^2 / 2 of (T, int32), in practice a small
            // fraction, the kernel being peaked
            // kept pairs of the I <= J tiles, each tile within an equal share of cache_bytes (in
            // practice a small fraction of its pairs, the kernel being peaked)
            kept_quota = double(cache_bytes) / (double(nT) * double(nT + 1) / 2.0);
            if (kept.size() != size_t(nT * nT)) kept.assign(size_t(nT * nT), {});
            kept_ok.assign(size_t(nT * nT), 0);
        }
    }

    void run_pass1() {
        lse_row.assign(size_t(n_pad), StreamingLse{});
        lse_col.assign(size_t(n_pad), StreamingLse{});
        if (dense)
            in_rounds([this](index_t I, index_t J, Scratch<T>& w) { dense_pass1(I, J, w); });
        else
            in_rounds([this](index_t I, index_t J, Scratch<T>& w) { sparse_pass1(I, J, w); });
    }

    // (the per-row factors off, alpha, beta, mfinal and zt set)
    void run_pass2() {
        rs_row.assign(size_t(n_pad), 0.0);
        rs_col.assign(size_t(n_pad), 0.0);
        sz_row.assign(size_t(n_pad * k), 0.0);
        sz_col.assign(size_t(n_pad * k), 0.0);
        if (dense)
            in_rounds([this](index_t I, index_t J, Scratch<T>& w) { dense_pass2(I, J, w); });
        else
            in_rounds([this](index_t I, index_t J, Scratch<T>& w) { sparse_pass2(I, J, w); });
    }
};

}  // namespace

template <class T>
struct PairSweep<T>::Impl {
    PairObjective objective;
    std::unique_ptr<Driver<T, NcaObjective>> nca;
    std::unique_ptr<Driver<T, MlkrObjective>> mlkr;
    SweepMode last = SweepMode::automatic;
    template <class D>
    void setup(D& d, const double* y, index_t n, std::size_t cache_bytes) {
        d.setup_rows(y, n);
        d.cache_bytes = cache_bytes;
    }
};

template <class T>
PairSweep<T>::PairSweep(const double* y, std::int64_t n, PairObjective objective, std::size_t cache_bytes)
    : impl_(new Impl) {
    if (n < 2) throw std::invalid_argument("pair sweep: at least 2 samples are needed, got " + std::to_string(n));
    if (n > index_t(std::numeric_limits<std::int32_t>::max()))
        throw std::invalid_argument("pair sweep: too many samples");
    for (index_t i = 0; i < n; ++i)
        if (!std::isfinite(y[i])) throw std::invalid_argument("pair sweep: y must be finite");
    impl_->objective = objective;
    if (objective == PairObjective::nca) {
        impl_->nca.reset(new Driver<T, NcaObjective>);
        impl_->setup(*impl_->nca, y, n, cache_bytes);
    } else {
        impl_->mlkr.reset(new Driver<T, MlkrObjective>);
        impl_->setup(*impl_->mlkr, y, n, cache_bytes);
    }
}

template <class T>
PairSweep<T>::~PairSweep() = default;

template <class T>
double PairSweep<T>::evaluate(MatrixView<T> Z, double* G, double* pred, int n_threads, SweepMode mode) {
    Impl& m = *impl_;
    const double loss = m.nca ? m.nca->evaluate(Z, G, pred, n_threads, mode) : m.mlkr->evaluate(Z, G, pred, n_threads, mode);
    m.last = (m.nca ? m.nca->dense : m.mlkr->dense) ? SweepMode::dense : SweepMode::sparse;
    return loss;
}

template <class T>
void PairSweep<T>::set_row_weights(const double* w) {
    auto apply = [w](auto& d) {
        d.rw.clear();
        if (!w) return;
        for (index_t i = 0; i < d.n; ++i)
            if (!std::isfinite(w[i]) || w[i] < 0)
                throw std::invalid_argument("pair sweep: row weights must be finite and non-negative");
        d.rw.resize(size_t(d.n));
        for (index_t i = 0; i < d.n; ++i) d.rw[size_t(i)] = w[d.perm[size_t(i)]];
    };
    if (impl_->nca) apply(*impl_->nca);
    if (impl_->mlkr) apply(*impl_->mlkr);
}

template <class T>
void PairSweep<T>::set_tile(std::int64_t rows) {
    if (impl_->nca) impl_->nca->tile_override = rows;
    if (impl_->mlkr) impl_->mlkr->tile_override = rows;
}

template <class T>
std::int64_t PairSweep<T>::n_samples() const { return impl_->nca ? impl_->nca->n : impl_->mlkr->n; }
template <class T>
SweepMode PairSweep<T>::last_mode() const { return impl_->last; }
template <class T>
bool PairSweep<T>::dense_cache_fits() const {
    const KernelTable<T>& kt = active_kernels<T>();
    const index_t n = n_samples();
    const std::size_t bytes = impl_->nca ? impl_->nca->cache_bytes : impl_->mlkr->cache_bytes;
    const index_t l = index_t(kt.mr) / std::gcd(kt.mr, kt.nr) * index_t(kt.nr);
    const index_t ov = impl_->nca ? impl_->nca->tile_override : impl_->mlkr->tile_override;
    const index_t tw = ov > 0 ? ov : tile_width(true, n);
    const index_t tb = std::min(std::max<index_t>(1, (tw + l / 2) / l) * l, (n + l - 1) / l * l);
    const index_t np = (n + tb - 1) / tb * tb;
    return double(np) * double(np) * double(sizeof(T)) <= double(bytes);
}

template class PairSweep<float>;
template class PairSweep<double>;

// ------------------------------------------------------------------- block pairs (pair_block.hpp)
namespace {

template <class T, class O>
void block_pass(MatrixView<T> za, const PairBlockRows& a, MatrixView<T> zb, const PairBlockRows& b, bool diag,
                double* out_a, double* out_b, int n_threads, SweepMode mode, std::int64_t tile, bool grad) {
    const index_t na = za.rows, nb = diag ? 0 : zb.rows;
    // nothing to sweep: empty states (m = +inf, s = w = 0) and zero shares of b
    if ((diag && na < 2) || (!diag && (na == 0 || nb == 0))) {
        auto empty = [&](double* o, index_t rows) {
            if (grad) {
                std::fill(o, o + rows * za.cols, 0.0);
                return;
            }
            std::fill(o, o + rows, std::numeric_limits<double>::infinity());
            std::fill(o + rows, o + 3 * rows, 0.0);
        };
        empty(out_a, na);
        if (!diag) empty(out_b, zb.rows);
        return;
    }
    if (!diag && zb.cols != za.cols)
        throw std::invalid_argument("pair block: the two blocks of Z have different numbers of columns");
    for (const PairBlockRows* r : {&a, &b}) {
        if (r == &b && diag) break;
        const index_t rows = r == &a ? na : nb;
        for (index_t i = 0; i < rows; ++i)
            if (!std::isfinite(r->y[i])) throw std::invalid_argument("pair block: y must be finite");
    }
    // One driver per thread and objective, its buffers reused by the thread's next block pairs (fresh
    // ones cost ~1,500 page faults -- about a quarter of the time -- per 1,250-row block pair); every
    // value a call reads is set by the call, the mode flags below first.
    thread_local Driver<T, O> d;
    d.rect = false;
    d.a_tiles = d.a_rows = 0;
    d.pass2_alone = false;
    d.round_order.clear();
    d.rw.clear();
    d.exp_cached = false;
    d.cache_bytes = 0;  // the passes run in separate calls: nothing kept between them
    d.tile_override = tile;
    d.bind_kernels(za.cols);
    if (diag)
        d.diag_layout(za, a.y, mode);
    else
        d.rect_layout(za, a.y, zb, b.y, mode);
    d.prepare(resolve_threads(n_threads));
    if (grad)
        d.block_grad(a, b, out_a, out_b);
    else
        d.block_lse(out_a, na, out_b, nb);
}

template <class T>
void block_dispatch(PairObjective objective, MatrixView<T> za, const PairBlockRows& a, MatrixView<T> zb,
                    const PairBlockRows& b, bool diag, double* out_a, double* out_b, int n_threads, SweepMode mode,
                    std::int64_t tile, bool grad) {
    if (objective == PairObjective::nca)
        block_pass<T, NcaObjective>(za, a, zb, b, diag, out_a, out_b, n_threads, mode, tile, grad);
    else
        block_pass<T, MlkrObjective>(za, a, zb, b, diag, out_a, out_b, n_threads, mode, tile, grad);
}

}  // namespace

template <class T>
void pair_block_lse(PairObjective objective, MatrixView<T> za, const PairBlockRows& a, MatrixView<T> zb,
                    const PairBlockRows& b, bool diag, double* state_a, double* state_b, int n_threads, SweepMode mode,
                    std::int64_t tile) {
    block_dispatch<T>(objective, za, a, zb, b, diag, state_a, state_b, n_threads, mode, tile, false);
}

template <class T>
void pair_block_grad(PairObjective objective, MatrixView<T> za, const PairBlockRows& a, MatrixView<T> zb,
                     const PairBlockRows& b, bool diag, double* b_a, double* b_b, int n_threads, SweepMode mode,
                     std::int64_t tile) {
    block_dispatch<T>(objective, za, a, zb, b, diag, b_a, b_b, n_threads, mode, tile, true);
}

template void pair_block_lse<float>(PairObjective, MatrixView<float>, const PairBlockRows&, MatrixView<float>,
                                    const PairBlockRows&, bool, double*, double*, int, SweepMode, std::int64_t);
template void pair_block_lse<double>(PairObjective, MatrixView<double>, const PairBlockRows&, MatrixView<double>,
                                     const PairBlockRows&, bool, double*, double*, int, SweepMode, std::int64_t);
template void pair_block_grad<float>(PairObjective, MatrixView<float>, const PairBlockRows&, MatrixView<float>,
                                     const PairBlockRows&, bool, double*, double*, int, SweepMode, std::int64_t);
template void pair_block_grad<double>(PairObjective, MatrixView<double>, const PairBlockRows&, MatrixView<double>,
                                      const PairBlockRows&, bool, double*, double*, int, SweepMode, std::int64_t);

}  // namespace learn
}  // namespace fastmetric
