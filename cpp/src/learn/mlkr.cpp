// MLKR loss and gradient: see fastmetric/learn/mlkr.hpp for the formulas and the guarantees.
#include "fastmetric/learn/mlkr.hpp"
#include "fastmetric/learn/streaming_lse.hpp"
#include "fastmetric/learn/sweep_util.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <exception>
#include <limits>
#include <memory>
#include <mutex>
#include <numeric>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "fastmetric/engine.hpp"
#include "fastmetric/kernels.hpp"
#include "fastmetric/learn/nca.hpp"  // scaled_bt_x: grad = scale * B^T X, shared by the learners
#include "fastmetric/metrics.hpp"    // linear_map: Z = X L^T

#if defined(FASTMETRIC_HAVE_X86_ISAS) && (defined(__GNUC__) || defined(__clang__))
#define FM_MLKR_AVX2 1
#endif

namespace fastmetric {
namespace learn {
namespace {

// Lowest exp argument used: exp stays on the vector path and returns a normal number.
template <class T>
constexpr T exp_lo() { return sizeof(T) == 4 ? T(-87) : T(-708); }
// Largest spread of shifts for which one exponential serves a whole tile (factors <= e^span).
template <class T>
constexpr double shift_span() { return sizeof(T) == 4 ? 40.0 : 300.0; }
// drop_tau / drop_gap: see mlkr.hpp (shared with NCA's choice of sweep)
template <class T>
constexpr double drop_tau() { return pair_softmax_drop_tau<T>(); }
template <class T>
constexpr double drop_gap() { return pair_softmax_drop_gap<T>(); }
// Above this fraction of kept pairs in a tile, the S Z products use the dense micro-kernels (a kept
// pair costs about two AXPYs of length k pair by pair; a dense tile 2 TB^2 k multiply-adds at the
// micro-kernel's much higher rate, plus packing): numerator / denominator.
constexpr index_t dense_num() { return 2; }
constexpr index_t dense_den() { return 5; }



// y += a x (and y2 += a x2) into double accumulators: the pair-by-pair products of sparse S tiles.
// The same loops are compiled for the baseline and, under a function-level target attribute (no
// global flags), for AVX2; the engine's instruction-set choice picks one per evaluation.
template <class T>
void axpy_portable(index_t k, double a, const T* x, double* y) {
    for (index_t c = 0; c < k; ++c) y[c] += a * double(x[c]);
}
template <class T>
void axpy2_portable(index_t k, double a, const T* x, double* y, const T* x2, double* y2) {
    for (index_t c = 0; c < k; ++c) y[c] += a * double(x[c]);
    for (index_t c = 0; c < k; ++c) y2[c] += a * double(x2[c]);
}
#if defined(FM_MLKR_AVX2)
template <class T>
__attribute__((target("avx2,fma"))) void axpy_avx2(index_t k, double a, const T* x, double* y) {
    for (index_t c = 0; c < k; ++c) y[c] += a * double(x[c]);
}
template <class T>
__attribute__((target("avx2,fma"))) void axpy2_avx2(index_t k, double a, const T* x, double* y, const T* x2,
                                                    double* y2) {
    for (index_t c = 0; c < k; ++c) y[c] += a * double(x[c]);
    for (index_t c = 0; c < k; ++c) y2[c] += a * double(x2[c]);
}
#endif

// The pairs of one tile that can weigh anything, row by row (row r: [row_start[r], row_start[r+1]))
// with their squared distances; the first `count` entries of col / d are used (the arrays only grow,
// so evaluations after the first allocate nothing). Kept from pass 1 to pass 2 when the cache is on.
template <class T>
struct KeptPairs {
    std::vector<std::int32_t> row_start, col;
    std::vector<T> d;
    index_t count = 0;
};

// Per-thread scratch of one tile.
template <class T>
struct Scratch {
    std::vector<T> dist, st, sa, sc, prod, prod2, colsum, colysum, mu, nu;
    std::vector<T> ra, rb, rt, ca, cb, ct;  // per-row / per-column factors of S and drop thresholds
    std::vector<T> v1, v2, sv;              // per kept pair: exponentials and S values
    std::vector<T> tmp, ccT, qa, qb;  // qa, qb: the T panels of one tile (MlkrProblem::exact_tile)
    std::vector<float> dist32, tmp32, cc32;
    std::vector<double> rmin, cmin, rcd, ccd;  // tile minima and cuts, in double
    std::vector<index_t> flagged, idx;
    KeptPairs<T> kp;  // this tile's kept pairs when the cache is off
    void init(index_t tb, index_t kpad) {
        const size_t t2 = size_t(tb * tb);
        for (auto* v : {&dist, &st, &sa, &sc, &v1, &v2, &sv}) v->resize(t2);
        prod.resize(size_t(tb * kpad));
        prod2.resize(size_t(tb * kpad));
        for (auto* v : {&colsum, &colysum, &mu, &nu, &ra, &rb, &rt, &ca, &cb, &ct}) v->resize(size_t(tb));
        flagged.resize(size_t(tb));
        idx.resize(size_t(tb));
        for (auto* v : {&tmp, &ccT}) v->resize(size_t(tb));
        for (auto* v : {&tmp32, &cc32}) v->resize(size_t(tb));
        for (auto* v : {&rmin, &cmin, &rcd, &ccd}) v->resize(size_t(tb));
        dist32.resize(t2);
    }
};

}  // namespace

template <class T>
struct MlkrProblem<T>::Impl {
    MatrixView<T> X;
    index_t n = 0, d = 0;
    std::vector<double> y;  // targets (MLKR) or class codes (NCA)
    std::size_t cache_bytes = 0;
    bool nca = false;  // PairSoftmaxObjective::nca: see mlkr.hpp

    // per evaluation (buffers reused)
    const KernelTable<T>* kt = nullptr;
    int nt = 1;
    index_t k = 0, tb = 0, n_tiles = 0, n_pad = 0, kpad = 0, mr = 0, nr = 0;
    std::vector<T> z;       // n x k, centred
    std::vector<T> pa, pb;  // Z in A micro-panels (MR rows) and B micro-panels (NR columns), K = k
    // float64 problems screen pairs with float32 distances (twice the micro-kernel rate), then
    // compute the distances of the kept pairs exactly: see screen_margin()
    bool screen = false;
    const KernelTable<float>* kf = nullptr;
    std::vector<float> pa32, pb32, norms32;
    std::vector<double> tile_norm_max;  // largest |z_i|^2 of each row tile
    std::vector<T> zt;      // feature panel f: n_pad rows x NR, for the dense S Z products
    std::vector<T> norms;   // |z_i|^2 (0 on padding)
    std::vector<T> yT;      // y in T, 0 on padding
    std::vector<Scratch<T>> scratch;
    std::vector<StreamingLse> lse_row, lse_col;
    std::vector<double> off, yhat, err, mfinal;
    std::vector<double> rs_row, rs_col, sz_row, sz_col, bmat;
    bool cache_on = false;
    std::vector<KeptPairs<T>> kept;  // tile (I, J), I <= J, at I * n_tiles + J
    BtXWorkspace btx;
    void (*axpy_fn)(index_t, double, const T*, double*) = &axpy_portable<T>;
    void (*axpy2_fn)(index_t, double, const T*, double*, const T*, double*) = &axpy2_portable<T>;

    void pick_axpy() {
        axpy_fn = &axpy_portable<T>;
        axpy2_fn = &axpy2_portable<T>;
#if defined(FM_MLKR_AVX2)
        const std::string isa = isa_name();
        if (isa == "avx2" || isa == "avx512") {
            axpy_fn = &axpy_avx2<T>;
            axpy2_fn = &axpy2_avx2<T>;
        }
#endif
    }

    index_t rows_in(index_t I) const { return std::min(tb, n - I * tb); }

    // Runs f(I, J, scratch) on every tile I <= J. Tile (I, J) adds to the row accumulators of block I
    // and (I < J) to the column accumulators of block J. Each accumulator must receive its terms in
    // a fixed order -- row block I from J = I, I+1, ...; column block J from I = J-1, J-2, ... -- which
    // is the order of the anti-diagonal rounds r = J - I = 0, 1, ... Threads claim tiles in that
    // order from one counter and wait (briefly: the predecessor is already running) until the two
    // tiles before it on its accumulators, (I, J-1) and (I+1, J), are done. Any thread count thus
    // gives bitwise-identical results without a barrier per round; claiming in that order means a
    // tile's predecessors are always claimed by running threads, so no wait can deadlock.
    // No exception leaves a tile: the first one is kept, the remaining tiles are skipped (but still
    // marked done), and it is rethrown after the team returns.
    std::vector<std::pair<index_t, index_t>> round_order;
    template <class F>
    void in_rounds(F&& f) {
        if (index_t(round_order.size()) != n_tiles * (n_tiles + 1) / 2) {
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
        for (index_t q = 0; q < n_tiles * n_tiles; ++q) done[size_t(q)].store(0, std::memory_order_relaxed);
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
                while (!((J == I || finished(I, J - 1)) && (I + 1 >= J || finished(I + 1, J))))
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

    // Distances and b_i = sum_j S_ij (z_i - z_j) do not change when Z is shifted; centring it first
    // keeps |z|^2 small, so the expansion |z_i|^2 + |z_j|^2 - 2 z_i.z_j loses fewer digits.
    void centre_z() {
        std::vector<double> mean(size_t(k), 0.0);
        for (index_t i = 0; i < n; ++i)
            for (index_t c = 0; c < k; ++c) mean[size_t(c)] += double(z[size_t(i * k + c)]);
        for (index_t c = 0; c < k; ++c) mean[size_t(c)] /= double(n);
        for (index_t i = 0; i < n; ++i)
            for (index_t c = 0; c < k; ++c) z[size_t(i * k + c)] = T(double(z[size_t(i * k + c)]) - mean[size_t(c)]);
    }

    int nt_pack = 1;
    void pack_z() {
        index_t l = mr / std::gcd(mr, nr) * nr;
        if (screen) {  // tiles must also hold whole float32 micro-panels
            l = l / std::gcd(l, kf->mr) * kf->mr;
            l = l / std::gcd(l, kf->nr) * kf->nr;
        }
        // tile side n / 6 within [96, 192] (tuning: env FM_MLKR_TB). Measured per evaluation, 192
        // against 96: digits at its learned metric (5% of pairs kept) 3.8 -> 3.2 ms, 10000 x 64
        // sparse 138 -> 120 ms, broad kernels within noise -- fewer, larger tiles halve the per-tile
        // work (minima, cuts, task hand-offs) that sparse tiles are dominated by; but below ~6 tiles
        // per side the wavefront of rounds starves the second thread (breast_cancer, n = 398: 25%
        // slower fits with 192).
        const char* tbe = std::getenv("FM_MLKR_TB");
        const index_t tbw = tbe && std::atoi(tbe) > 0 ? std::atoi(tbe) : std::min<index_t>(192, std::max<index_t>(96, n / 6));
        const index_t want = std::max<index_t>(1, (tbw + l / 2) / l) * l;
        tb = std::min(want, (n + l - 1) / l * l);
        n_tiles = (n + tb - 1) / tb;
        n_pad = n_tiles * tb;
        kpad = (k + nr - 1) / nr * nr;
        // the T panels only without screening (with it, a tile that needs exact distances packs its
        // own: exact_tile); zt (dense S Z products) on demand: build_zt()
        if (!screen) {
            pa.assign(size_t(n_pad * k), T(0));
            pb.assign(size_t(n_pad * k), T(0));
        }
        zt_ready = false;
        norms.assign(size_t(n_pad), T(0));
        // pure data movement, row by row: parallel without changing any value
        const int pt = n * k > 20000 ? nt_pack : 1;
        parallel_for_static(pt, n, [&](int, index_t i) {
            const T* zi = z.data() + i * k;
            double s = 0;
            for (index_t c = 0; c < k; ++c) s += double(zi[c]) * double(zi[c]);
            norms[size_t(i)] = T(s);
            if (screen) return;
            T* a = pa.data() + (i / mr) * k * mr + i % mr;
            T* b = pb.data() + (i / nr) * k * nr + i % nr;
            for (index_t c = 0; c < k; ++c) {
                a[c * mr] = zi[c];
                b[c * nr] = zi[c];
            }
        });
        tile_norm_max.assign(size_t(n_tiles), 0.0);
        for (index_t i = 0; i < n; ++i)
            tile_norm_max[size_t(i / tb)] = std::max(tile_norm_max[size_t(i / tb)], double(norms[size_t(i)]));
        if (!screen) return;
        const index_t fm = kf->mr, fn = kf->nr;
        pa32.assign(size_t(n_pad * k), 0.0f);
        pb32.assign(size_t(n_pad * k), 0.0f);
        norms32.assign(size_t(n_pad), 0.0f);
        parallel_for_static(pt, n, [&](int, index_t i) {
            const T* zi = z.data() + i * k;
            float* a = pa32.data() + (i / fm) * k * fm + i % fm;
            float* b = pb32.data() + (i / fn) * k * fn + i % fn;
            double s = 0;
            for (index_t c = 0; c < k; ++c) {
                const float v = float(zi[c]);
                a[c * fm] = v;
                b[c * fn] = v;
                s += double(v) * double(v);
            }
            norms32[size_t(i)] = float(s);
        });
    }

    // Z in feature panels of NR columns (n_pad rows each) for the dense S Z products; built before
    // pass 2 when some tile may need them.
    bool zt_ready = false;
    void build_zt() {
        zt.assign(size_t(kpad * n_pad), T(0));
        for (index_t i = 0; i < n; ++i) {
            const T* zi = z.data() + i * k;
            for (index_t c = 0; c < k; ++c) zt[size_t(((c / nr) * n_pad + i) * nr + c % nr)] = zi[c];
        }
        zt_ready = true;
    }

    // Bound on |d32 - d| for the pairs of tiles I and J: the float32 expansion |a|^2 + |b|^2 - 2 a.b
    // of the rounded rows errs by at most about (k + 3) eps32 (|a|^2 + |b|^2), the rounding of the rows
    // themselves by 2 eps32 sqrt(d (|a|^2 + |b|^2)) <= eps32 (1 + d + |a|^2 + |b|^2); a factor 4 on top.
    double screen_margin(index_t I, index_t J) const {
        if (!screen) return 0.0;
        const double nsum = tile_norm_max[size_t(I)] + tile_norm_max[size_t(J)];
        const double eps32 = 5.960464477539063e-08;
        return 4.0 * eps32 * (double(k + 4) * nsum + 1.0);
    }

    // Squared distances between the rows of tiles I and J (tb x tb, row stride tb) into out, from the
    // packed panels of the kernel table ku (ta, tb_: the first A / B micro-panel of the two tiles; qn
    // the squared norms of all rows); on a diagonal tile a row's own entry is +inf (a point is not
    // its own neighbour).
    template <class U>
    void tile_of(const KernelTable<U>& ku, const U* ta, const U* tb_, const std::vector<U>& qn, index_t I, index_t J,
                 U* out, Scratch<T>& w) const {
        const index_t um = ku.mr, un = ku.nr;
        for (index_t p = 0; p < tb / um; ++p)
            for (index_t q = 0; q < tb / un; ++q)
                ku.dot(k, ta + p * k * um, tb_ + q * k * un, out + p * um * tb + q * un, tb, false);
        const index_t ni = rows_in(I), nj = rows_in(J);
        for (index_t r = 0; r < ni; ++r) {
            U* row = out + r * tb;
            ku.sq_from_dot(row, nj, qn[size_t(I * tb + r)], qn.data() + J * tb, U(0), row, w.flagged.data());
        }
        if (I == J)
            for (index_t r = 0; r < ni; ++r) out[r * tb + r] = std::numeric_limits<U>::infinity();
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
            if (i < n) {
                const T* zi = z.data() + i * k;
                for (index_t c = 0; c < k; ++c) a[c * mr] = zi[c];
            }
            if (j < n) {
                const T* zj = z.data() + j * k;
                for (index_t c = 0; c < k; ++c) b[c * nr] = zj[c];
            }
        }
        tile_of<T>(*kt, w.qa.data(), w.qb.data(), norms, I, J, w.dist.data(), w);
    }

    // The tile's distances: float32 when screening (approximate: see screen_margin), else exact T.
    void tile_distances(index_t I, index_t J, Scratch<T>& w) const {
        if (screen)
            tile_of<float>(*kf, pa32.data() + I * tb * k, pb32.data() + J * tb * k, norms32, I, J, w.dist32.data(), w);
        else
            tile_of<T>(*kt, pa.data() + I * tb * k, pb.data() + J * tb * k, norms, I, J, w.dist.data(), w);
    }

    // Row minima of the tile (and, off the diagonal, column minima into colmin) in one pass.
    template <class U>
    void tile_minima(const U* D, index_t ni, index_t nj, bool diag, double* rowmin, double* colmin, U* cm) const {
        const U inf = std::numeric_limits<U>::infinity();
        std::fill(cm, cm + nj, inf);
        for (index_t r = 0; r < ni; ++r) {
            const U* row = D + r * tb;
            U m0 = inf, m1 = inf, m2 = inf, m3 = inf;
            index_t j = 0;
            for (; j + 4 <= nj; j += 4) {
                m0 = row[j] < m0 ? row[j] : m0;
                m1 = row[j + 1] < m1 ? row[j + 1] : m1;
                m2 = row[j + 2] < m2 ? row[j + 2] : m2;
                m3 = row[j + 3] < m3 ? row[j + 3] : m3;
            }
            for (; j < nj; ++j) m0 = row[j] < m0 ? row[j] : m0;
            if (!diag)
                for (index_t jj = 0; jj < nj; ++jj) cm[jj] = row[jj] < cm[jj] ? row[jj] : cm[jj];
            rowmin[r] = double(std::min(std::min(m0, m1), std::min(m2, m3)));
        }
        if (!diag)
            for (index_t j = 0; j < nj; ++j) colmin[j] = double(cm[j]);
    }

    // The pairs (r, j) of the distance tile with d <= max(rcut[r], ccut[j]) + margin: per row, the
    // engine's vectorised selection on d - (max(rcut[r], ccut[j]) + margin) <= 0 (the +inf diagonal
    // never qualifies). With screening the kept distances are then recomputed exactly: pair by pair
    // as a direct sum of squared differences of the float64 rows, or -- when the tile keeps at least
    // half of its pairs -- from the whole tile through the float64 micro-kernel (the expansion
    // of the centred rows, as without screening): per-pair sums took 25% of an NCA evaluation on
    // broad kernels, where nearly every pair is kept.
    template <class U>
    void compact_of(const KernelTable<U>& ku, index_t I, index_t J, const U* D, index_t ni, index_t nj,
                    const double* rcut, const double* ccut, double margin, KeptPairs<T>& kp, Scratch<T>& w,
                    U* tmp, U* cc) const {
        kp.row_start.resize(size_t(ni + 1));
        if (index_t(kp.col.size()) < ni * nj) {
            kp.col.resize(size_t(ni * nj));
            kp.d.resize(size_t(ni * nj));
        }
        std::int32_t* col = kp.col.data();
        T* dd = kp.d.data();
        index_t* idx = w.idx.data();
        // cuts are +inf while a row has met no other point: clamp, so that +inf (a row's own entry)
        // never qualifies and inf - inf never makes a NaN
        const double big = double(std::numeric_limits<U>::max()) / 4;
        for (index_t j = 0; j < nj; ++j) cc[j] = U(std::min(ccut[j] + margin, big));
        std::int32_t m = 0;
        for (index_t r = 0; r < ni; ++r) {
            kp.row_start[size_t(r)] = m;
            const U* row = D + r * tb;
            const U rc = U(std::min(rcut[r] + margin, big));
            for (index_t j = 0; j < nj; ++j) tmp[j] = row[j] - (rc > cc[j] ? rc : cc[j]);
            const index_t cnt = ku.select_below(tmp, nj, U(0), true, idx);
            for (index_t q = 0; q < cnt; ++q) col[m + q] = std::int32_t(idx[q]);
            if (!screen)
                for (index_t q = 0; q < cnt; ++q) dd[m + q] = T(row[idx[q]]);
            m += std::int32_t(cnt);
        }
        kp.row_start[size_t(ni)] = m;
        kp.count = m;
        if (!screen || m == 0) return;
        if (index_t(m) * 2 >= ni * nj) {
            exact_tile(I, J, w);
            for (index_t r = 0; r < ni; ++r) {
                const T* row = w.dist.data() + r * tb;
                for (std::int32_t q = kp.row_start[size_t(r)]; q < kp.row_start[size_t(r) + 1]; ++q) dd[q] = row[col[q]];
            }
            return;
        }
        for (index_t r = 0; r < ni; ++r) {
            const T* zi = z.data() + (I * tb + r) * k;
            const T* zJ = z.data() + J * tb * k;
            for (std::int32_t q = kp.row_start[size_t(r)]; q < kp.row_start[size_t(r) + 1]; ++q)
                dd[q] = kt->sqdist(zi, zJ + col[q] * k, k);
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

    void minima(index_t ni, index_t nj, bool diag, double* rowmin, double* colmin, Scratch<T>& w) const {
        if (screen)
            tile_minima<float>(w.dist32.data(), ni, nj, diag, rowmin, colmin, w.cc32.data());
        else
            tile_minima<T>(w.dist.data(), ni, nj, diag, rowmin, colmin, w.ccT.data());
    }

    // v[q] = exp(shift_of_row(q) - d[q]) for the kept pairs, row shifts given per row
    void exp_rows(const KeptPairs<T>& kp, index_t ni, const T* shift, T* v) const {
        const T lo = exp_lo<T>();
        for (index_t r = 0; r < ni; ++r) {
            const T s = shift[r];
            for (std::int32_t q = kp.row_start[size_t(r)]; q < kp.row_start[size_t(r) + 1]; ++q) {
                const T a = s - kp.d[size_t(q)];
                v[q] = a > lo ? a : lo;
            }
        }
        kt->exp_scaled(v, kp.count, T(1));
    }
    // v[q] = exp(shift_of_column(q) - d[q])
    void exp_cols(const KeptPairs<T>& kp, const T* shift, T* v) const {
        const T lo = exp_lo<T>();
        const index_t m = kp.count;
        for (index_t q = 0; q < m; ++q) {
            const T a = shift[kp.col[size_t(q)]] - kp.d[size_t(q)];
            v[q] = a > lo ? a : lo;
        }
        kt->exp_scaled(v, m, T(1));
    }

    // ------------------------------------------------------------------ pass 1
    void pass1_tile(index_t I, index_t J, Scratch<T>& w) {
        const index_t ni = rows_in(I), nj = rows_in(J);
        const bool diag = I == J;
        tile_distances(I, J, w);
        const T* ycol = yT.data() + J * tb;
        const T* yrow = yT.data() + I * tb;
        T* mu = w.mu.data();
        T* nu = w.nu.data();
        // row minima and (off the diagonal) column minima lower the running states; with screening
        // they are lowered by the margin delta, so that a shift never exceeds a true distance
        const double delta = screen_margin(I, J);
        double* rmin = w.rmin.data();
        double* cmin = w.cmin.data();
        minima(ni, nj, diag, rmin, cmin, w);
        double c = std::numeric_limits<double>::infinity(), top = -c;
        for (index_t r = 0; r < ni; ++r) {
            StreamingLse& st = lse_row[size_t(I * tb + r)];
            st.lower_to(double(T(rmin[r] - delta)));  // shifts representable in T: the exps use them as T
            mu[r] = T(st.m);
            c = std::min(c, st.m);
            top = std::max(top, st.m);
        }
        if (!diag)
            for (index_t j = 0; j < nj; ++j) {
                StreamingLse& st = lse_col[size_t(J * tb + j)];
                st.lower_to(double(T(cmin[j] - delta)));
                nu[j] = T(st.m);
                c = std::min(c, st.m);
                top = std::max(top, st.m);
            }
        // a pair weighs something for row i only if d <= m_i + gap, for column j if d <= m_j + gap
        const double gap = drop_gap<T>();
        double* rcut = w.rcd.data();
        double* ccut = w.ccd.data();
        for (index_t r = 0; r < ni; ++r) rcut[r] = lse_row[size_t(I * tb + r)].m + gap;
        for (index_t j = 0; j < nj; ++j)
            ccut[j] = (diag ? lse_row[size_t(J * tb + j)].m : lse_col[size_t(J * tb + j)].m) + gap;
        KeptPairs<T>& kp = cache_on ? kept[size_t(I * n_tiles + J)] : w.kp;
        // the true running minimum is at most 2 delta above the shift, a distance at most delta off
        compact(I, J, ni, nj, rcut, ccut, 3 * delta, kp, w);
        const index_t m = kp.count;
        if (m == 0) return;
        T* er = w.v1.data();  // exp(mu_i - d) up to the factor fr[r]
        T* ec = w.v2.data();  // exp(nu_j - d) up to the factor fc[j]
        T* fr = w.ra.data();
        T* fc = w.ca.data();
        const bool shared = top - c <= shift_span<T>();
        if (shared) {
            // one exponential E = exp(c - d) serves both sides: exp(mu_i - d) = E exp(mu_i - c), with
            // factors in [1, e^span] and E <= 1 (d >= mu_i >= c)
            T* shift = w.rb.data();
            for (index_t r = 0; r < ni; ++r) {
                shift[r] = T(c);
                fr[r] = T(std::exp(double(mu[r]) - c));
            }
            exp_rows(kp, ni, shift, er);
            ec = er;
            if (!diag)
                for (index_t j = 0; j < nj; ++j) fc[j] = T(std::exp(double(nu[j]) - c));
        } else {
            for (index_t r = 0; r < ni; ++r) fr[r] = T(1);
            exp_rows(kp, ni, mu, er);
            if (!diag) {
                for (index_t j = 0; j < nj; ++j) fc[j] = T(1);
                exp_cols(kp, nu, ec);
            }
        }
        for (index_t r = 0; r < ni; ++r) {
            T sum = 0, ysum = 0;
            if (nca) {  // weight of the pair: same class
                const T yr = yrow[r];
                for (std::int32_t q = kp.row_start[size_t(r)]; q < kp.row_start[size_t(r) + 1]; ++q) {
                    sum += er[q];
                    ysum += ycol[kp.col[size_t(q)]] == yr ? er[q] : T(0);
                }
            } else {  // weight of the pair: the other point's target
                for (std::int32_t q = kp.row_start[size_t(r)]; q < kp.row_start[size_t(r) + 1]; ++q) {
                    sum += er[q];
                    ysum += er[q] * ycol[kp.col[size_t(q)]];
                }
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
            for (std::int32_t q = kp.row_start[size_t(r)]; q < kp.row_start[size_t(r) + 1]; ++q) {
                const std::int32_t j = kp.col[size_t(q)];
                cs[j] += ec[q];
                cy[j] += nca ? (ycol[j] == yr ? ec[q] : T(0)) : ec[q] * yr;
            }
        }
        for (index_t j = 0; j < nj; ++j) {
            StreamingLse& st = lse_col[size_t(J * tb + j)];
            st.s += double(fc[j]) * double(cs[j]);
            st.w += double(fc[j]) * double(cy[j]);
        }
    }

    // ------------------------------------------------------------------ pass 2
    // For each kept pair, with p_ij = exp(-(d + off_i)):
    //   S_ij = p_ij e_i (y_j - yhat_i) + p_ji e_j (y_i - yhat_j)
    // When the offsets of the tile lie within the span of their maximum o, one exponential
    // E = exp(-(d + o)) <= p serves both: p_ij = E F_i, F_i = exp(o - off_i) in [1, e^span], and
    //   S_ij = E ((a_i y_j - a_i yhat_i) + (y_i a_j - a_j yhat_j)),  a_i = F_i e_i.
    // Pairs with p_ij < tau and p_ji < tau are dropped (S_ij = 0).
    void pass2_tile(index_t I, index_t J, Scratch<T>& w) {
        const index_t ni = rows_in(I), nj = rows_in(J);
        const bool diag = I == J;
        const T lo = exp_lo<T>();
        KeptPairs<T>* kpp;
        if (cache_on) {
            kpp = &kept[size_t(I * n_tiles + J)];
        } else {  // recompute the tile and keep what the final minima allow
            tile_distances(I, J, w);
            const double gap = drop_gap<T>();
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
            const double tau = drop_tau<T>();
            // MLKR: a_i = F_i e_i, ay_i = F_i e_i yhat_i; NCA: a_i = F_i, ay_i = F_i p_i
            auto factors = [&](index_t i, T* a, T* ay, T* thr) {
                const double F = std::exp(omax - off[size_t(i)]);
                const double g = nca ? 1.0 : err[size_t(i)];
                *a = T(F * g);
                *ay = T(F * g * yhat[size_t(i)]);
                *thr = T(tau / F);  // E below this: p_i. < tau
            };
            for (index_t r = 0; r < ni; ++r) factors(I * tb + r, &w.ra[size_t(r)], &w.rb[size_t(r)], &w.rt[size_t(r)]);
            for (index_t j = 0; j < nj; ++j) factors(J * tb + j, &w.ca[size_t(j)], &w.cb[size_t(j)], &w.ct[size_t(j)]);
            T* E = w.v1.data();
            const T o = T(omax);
            for (index_t q = 0; q < m; ++q) {
                const T a = -(kp.d[size_t(q)] + o);
                E[q] = a > lo ? a : lo;
            }
            kt->exp_scaled(E, m, T(1));
            const T* ca = w.ca.data();
            const T* cb = w.cb.data();
            const T* ct = w.ct.data();
            for (index_t r = 0; r < ni; ++r) {
                const T a = w.ra[size_t(r)], ab = w.rb[size_t(r)], yi = yrow[r], tr = w.rt[size_t(r)];
                if (nca) {  // S_ij = E ([y_i == y_j] (a_i + a_j) - ay_i - ay_j)
                    for (std::int32_t q = kp.row_start[size_t(r)]; q < kp.row_start[size_t(r) + 1]; ++q) {
                        const std::int32_t j = kp.col[size_t(q)];
                        const T v = E[q] * ((ycol[j] == yi ? a + ca[j] : T(0)) - (ab + cb[j]));
                        sv[q] = E[q] >= (tr < ct[j] ? tr : ct[j]) ? v : T(0);
                    }
                    continue;
                }
                for (std::int32_t q = kp.row_start[size_t(r)]; q < kp.row_start[size_t(r) + 1]; ++q) {
                    const std::int32_t j = kp.col[size_t(q)];
                    const T v = E[q] * ((a * ycol[j] - ab) + (yi * ca[j] - cb[j]));
                    sv[q] = E[q] >= (tr < ct[j] ? tr : ct[j]) ? v : T(0);
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
            const T tau = T(drop_tau<T>());
            for (index_t r = 0; r < ni; ++r) {
                const index_t i = I * tb + r;
                const T ei = T(err[size_t(i)]), eyi = T(err[size_t(i)] * yhat[size_t(i)]), yi = yrow[r];
                for (std::int32_t q = kp.row_start[size_t(r)]; q < kp.row_start[size_t(r) + 1]; ++q) {
                    const index_t jj = J * tb + kp.col[size_t(q)];
                    T v;
                    if (nca) {  // S_ij = p_ij (m_ij - p_i) + p_ji (m_ij - p_j)
                        const T mij = yT[size_t(jj)] == yi ? T(1) : T(0);
                        v = P1[q] * (mij - T(yhat[size_t(i)])) + P2[q] * (mij - T(yhat[size_t(jj)]));
                    } else {
                        const T ej = T(err[size_t(jj)]), eyj = T(err[size_t(jj)] * yhat[size_t(jj)]);
                        v = P1[q] * (ei * yT[size_t(jj)] - eyi) + P2[q] * (yi * ej - eyj);
                    }
                    sv[q] = (P1[q] >= tau || P2[q] >= tau) ? v : T(0);
                }
            }
        }
        // row sums, column sums, and the products S Z_J (rows) and S^T Z_I (columns)
        T* prow = w.prod.data();
        T* pcol = w.prod2.data();
        T* cs = w.colsum.data();
        if (!diag) std::fill(cs, cs + nj, T(0));
        for (index_t r = 0; r < ni; ++r) {
            T rsum = 0;
            for (std::int32_t q = kp.row_start[size_t(r)]; q < kp.row_start[size_t(r) + 1]; ++q) rsum += sv[q];
            rs_row[size_t(I * tb + r)] += double(rsum);
        }
        if (!diag) {
            for (index_t q = 0; q < m; ++q) cs[kp.col[size_t(q)]] += sv[q];
            for (index_t j = 0; j < nj; ++j) rs_col[size_t(J * tb + j)] += double(cs[j]);
        }
        if (m * dense_den() < ni * nj * dense_num()) {
            // pair by pair, straight into the double accumulators (row r, then its pairs in order)
            const T* zI = z.data() + I * tb * k;
            const T* zJ = z.data() + J * tb * k;
            double* acc_r = sz_row.data() + I * tb * k;
            double* acc_c = sz_col.data() + J * tb * k;
            for (index_t r = 0; r < ni; ++r)
                for (std::int32_t q = kp.row_start[size_t(r)]; q < kp.row_start[size_t(r) + 1]; ++q) {
                    const T v = sv[q];
                    if (v == T(0)) continue;
                    const std::int32_t j = kp.col[size_t(q)];
                    if (diag)
                        axpy_fn(k, double(v), zJ + j * k, acc_r + r * k);
                    else
                        axpy2_fn(k, double(v), zJ + j * k, acc_r + r * k, zI + r * k, acc_c + j * k);
                }
            return;
        }
        dense_products(I, J, ni, nj, diag, kp, w);
        for (index_t r = 0; r < ni; ++r) {
            double* acc = sz_row.data() + (I * tb + r) * k;
            const T* pr = prow + r * kpad;
            for (index_t cc = 0; cc < k; ++cc) acc[cc] += double(pr[cc]);
        }
        if (diag) return;
        for (index_t j = 0; j < nj; ++j) {
            double* acc = sz_col.data() + (J * tb + j) * k;
            const T* pr = pcol + j * kpad;
            for (index_t cc = 0; cc < k; ++cc) acc[cc] += double(pr[cc]);
        }
    }

    // Many kept pairs: the S tile is laid out densely for the micro-kernels (w.prod = S Z_J,
    // w.prod2 = S^T Z_I).
    void dense_products(index_t I, index_t J, index_t ni, index_t nj, bool diag, const KeptPairs<T>& kp,
                        Scratch<T>& w) {
        T* St = w.st.data();
        std::fill(St, St + tb * tb, T(0));
        const T* sv = w.sv.data();
        for (index_t r = 0; r < ni; ++r)
            for (std::int32_t q = kp.row_start[size_t(r)]; q < kp.row_start[size_t(r) + 1]; ++q)
                St[r * tb + kp.col[size_t(q)]] = sv[q];
        T* sa = w.sa.data();  // A panels of S: row panel r / mr, K = column j
        for (index_t r = 0; r < tb; ++r) {
            T* dst = sa + (r / mr) * tb * mr + r % mr;
            const T* s = St + r * tb;
            for (index_t j = 0; j < tb; ++j) dst[j * mr] = s[j];
        }
        for (index_t p = 0; p < tb / mr; ++p)
            for (index_t f = 0; f < kpad / nr; ++f)
                kt->dot(tb, sa + p * tb * mr, zt.data() + (f * n_pad + J * tb) * nr, w.prod.data() + p * mr * kpad + f * nr,
                        kpad, false);
        if (diag) return;
        T* sc = w.sc.data();  // A panels of S^T: row panel j / mr, K = row r
        for (index_t r = 0; r < tb; ++r)
            for (index_t q = 0; q < tb / mr; ++q) std::copy_n(St + r * tb + q * mr, mr, sc + (q * tb + r) * mr);
        for (index_t q = 0; q < tb / mr; ++q)
            for (index_t f = 0; f < kpad / nr; ++f)
                kt->dot(tb, sc + q * tb * mr, zt.data() + (f * n_pad + I * tb) * nr, w.prod2.data() + q * mr * kpad + f * nr,
                        kpad, false);
    }

    double evaluate(MatrixView<T> L, double* grad, double* yhat_out, int n_threads) {
        k = L.rows;
        if (L.cols != d) throw std::invalid_argument("mlkr: L must have n_features columns");
        if (k < 1) throw std::invalid_argument("mlkr: L must have at least one row");
        const int nt_req = resolve_threads(n_threads);
        kt = &active_kernels<T>();
        kf = &active_kernels<float>();
        pick_axpy();
        mr = kt->mr;
        nr = kt->nr;
        z.resize(size_t(n * k));
        linear_map<T>(X, nullptr, L, z.data(), nt_req);
        centre_z();
        nt_pack = nt_req;
        screen = false;
        if (sizeof(T) == 8) {  // float32 screening unless the rows are too large for float32
            double top = 0;
            for (index_t i = 0; i < n * k; ++i) top = std::max(top, std::fabs(double(z[size_t(i)])));
            screen = top * top * double(k) < 1e30;
        }
        pack_z();
        yT.assign(size_t(n_pad), T(0));
        for (index_t i = 0; i < n; ++i) yT[size_t(i)] = T(y[size_t(i)]);
        // threads share the tiles of one round; serial when the problem is tiny
        nt = int(std::min<index_t>(nt_req, n_tiles));
        if (double(n) * double(n) * double(k) < 2e6) nt = 1;
        nt = std::max(1, nt);
        if (scratch.size() < size_t(nt)) scratch.resize(size_t(nt));
        for (int t = 0; t < nt; ++t) scratch[size_t(t)].init(tb, kpad);
        // kept pairs of the I <= J tiles: at most n_pad^2 / 2 of (T, int32) -- in practice a small
        // fraction, the kernel being peaked
        cache_on = double(n_pad) * double(n_pad) * 0.5 * double(sizeof(T) + 4) <= double(cache_bytes);
        if (cache_on && kept.size() != size_t(n_tiles * n_tiles)) kept.assign(size_t(n_tiles * n_tiles), {});

        // pass 1
        lse_row.assign(size_t(n_pad), StreamingLse{});
        lse_col.assign(size_t(n_pad), StreamingLse{});
        in_rounds([this](index_t I, index_t J, Scratch<T>& w) { pass1_tile(I, J, w); });
        off.assign(size_t(n_pad), 0.0);
        yhat.assign(size_t(n_pad), 0.0);
        err.assign(size_t(n_pad), 0.0);
        mfinal.assign(size_t(n_pad), 0.0);
        double loss = 0;
        for (index_t i = 0; i < n; ++i) {
            StreamingLse st = lse_row[size_t(i)];
            st.merge(lse_col[size_t(i)]);
            mfinal[size_t(i)] = st.m;
            off[size_t(i)] = std::log(st.s) - st.m;
            yhat[size_t(i)] = st.w / st.s;  // NCA: p_i, the probability of the own class
            if (nca) {
                loss += yhat[size_t(i)];
            } else {
                err[size_t(i)] = yhat[size_t(i)] - y[size_t(i)];
                loss += err[size_t(i)] * err[size_t(i)];
            }
        }
        if (yhat_out)
            for (index_t i = 0; i < n; ++i) yhat_out[i] = yhat[size_t(i)];

        // pass 2 (the dense products need zt: always possible without the cache, else only if a
        // tile kept enough pairs)
        bool need_zt = !cache_on;
        if (cache_on)
            for (index_t I = 0; I < n_tiles && !need_zt; ++I)
                for (index_t J = I; J < n_tiles && !need_zt; ++J)
                    need_zt = kept[size_t(I * n_tiles + J)].count * dense_den() >= rows_in(I) * rows_in(J) * dense_num();
        if (need_zt) build_zt();
        rs_row.assign(size_t(n_pad), 0.0);
        rs_col.assign(size_t(n_pad), 0.0);
        sz_row.assign(size_t(n_pad * k), 0.0);
        sz_col.assign(size_t(n_pad * k), 0.0);
        in_rounds([this](index_t I, index_t J, Scratch<T>& w) { pass2_tile(I, J, w); });
        bmat.resize(size_t(n * k));
        for (index_t i = 0; i < n; ++i) {
            const double rs = rs_row[size_t(i)] + rs_col[size_t(i)];
            const T* zi = z.data() + i * k;
            for (index_t c = 0; c < k; ++c)
                bmat[size_t(i * k + c)] = rs * double(zi[c]) - (sz_row[size_t(i * k + c)] + sz_col[size_t(i * k + c)]);
        }
        scaled_bt_x<T>(bmat.data(), k, X, nca ? -2.0 : -4.0, grad, nt_req, btx);
        return loss;
    }
};

template <class T>
MlkrProblem<T>::MlkrProblem(MatrixView<T> X, const double* y, std::size_t cache_bytes, PairSoftmaxObjective objective)
    : impl_(new Impl) {
    Impl& m = *impl_;
    m.nca = objective == PairSoftmaxObjective::nca;
    m.X = X;
    m.n = X.rows;
    m.d = X.cols;
    m.cache_bytes = cache_bytes;
    if (m.n < 2) throw std::invalid_argument("mlkr: at least 2 samples are needed");
    if (m.d < 1) throw std::invalid_argument("mlkr: at least 1 feature is needed");
    if (m.n > index_t(std::numeric_limits<std::int32_t>::max()))
        throw std::invalid_argument("mlkr: too many samples");
    m.y.assign(y, y + m.n);
    for (double v : m.y)
        if (!std::isfinite(v)) throw std::invalid_argument("mlkr: targets must be finite");
}

template <class T>
MlkrProblem<T>::~MlkrProblem() = default;

template <class T>
double MlkrProblem<T>::loss_grad(MatrixView<T> L, double* grad, double* yhat_out, int n_threads) {
    return impl_->evaluate(L, grad, yhat_out, n_threads);
}

template <class T>
std::int64_t MlkrProblem<T>::n_samples() const { return impl_->n; }
template <class T>
std::int64_t MlkrProblem<T>::n_features() const { return impl_->d; }

template class MlkrProblem<float>;
template class MlkrProblem<double>;

}  // namespace learn
}  // namespace fastmetric
