// NCA loss and gradient sweeps: see fastmetric/learn/nca.hpp for the formulas and the guarantees.
#include "fastmetric/learn/nca.hpp"
#include "fastmetric/learn/mlkr.hpp"
#include "fastmetric/learn/streaming_lse.hpp"
#include "fastmetric/learn/sweep_util.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

#include "fastmetric/engine.hpp"
#include "fastmetric/kernels.hpp"


namespace fastmetric {
namespace learn {
namespace {

// exp arguments are clamped here so the table's exp stays on its vector path (its out-of-range
// lanes go through libm one by one); exp(lo) is a normal number far below any sum it joins (>= 1).
template <class T>
constexpr T exp_floor();
template <>
constexpr float exp_floor<float>() { return -87.0f; }
template <>
constexpr double exp_floor<double>() { return -708.0; }

// Z = X L^T packed three ways for the micro-kernels. The tile size TB is a multiple of MR and NR,
// fixed by the instruction set and n only (never by the thread count).
template <class T>
struct PackedZ {
    index_t n = 0, k = 0, tb = 0, n_tiles = 0, n_pad = 0, kpad = 0;
    int mr = 0, nr = 0;
    std::vector<T> z;      // n x k, row-major (filled by the caller)
    std::vector<T> a;      // A micro-panels (K = k, MR rows): panel p at p * k * mr, a[kk * mr + r]
    std::vector<T> b;      // B micro-panels (K = k, NR columns): panel q at q * k * nr, b[kk * nr + c]
    std::vector<T> zt;     // per feature panel f: n_pad x NR rows, zt[(f * n_pad + j) * nr + c]
    std::vector<T> norms;  // |z_i|^2, n_pad (0 on padding)

    void build(const KernelTable<T>& kt, index_t n_, index_t k_, index_t target_tile) {
        n = n_;
        k = k_;
        mr = kt.mr;
        nr = kt.nr;
        const index_t l = index_t(mr) / std::gcd(mr, nr) * index_t(nr);
        const index_t want = std::max<index_t>(1, (target_tile + l / 2) / l) * l;
        const index_t need = (n + l - 1) / l * l;  // no larger than n rounded up
        tb = std::min(want, need);
        n_tiles = (n + tb - 1) / tb;
        n_pad = n_tiles * tb;
        kpad = (k + nr - 1) / nr * nr;
        a.assign(size_t(n_pad * k), T(0));
        b.assign(size_t(n_pad * k), T(0));
        zt.assign(size_t(kpad / nr * n_pad * nr), T(0));
        norms.assign(size_t(n_pad), T(0));
        for (index_t i = 0; i < n; ++i) {
            const T* zi = z.data() + i * k;
            const index_t p = i / mr, r = i % mr, q = i / nr, c = i % nr;
            double s = 0;
            for (index_t kk = 0; kk < k; ++kk) {
                a[size_t(p * k * mr + kk * mr + r)] = zi[kk];
                b[size_t(q * k * nr + kk * nr + c)] = zi[kk];
                zt[size_t(((kk / nr) * n_pad + i) * nr + kk % nr)] = zi[kk];
                s += double(zi[kk]) * double(zi[kk]);
            }
            norms[size_t(i)] = T(s);
        }
    }
};

// Per-thread scratch for one tile.
template <class T>
struct TileWork {
    std::vector<T> d, e, s, sa, sc, c2, colv, colw, shift, va, vb, vc, vd, sfull;
    index_t kept = 0;  // pass 2: entries of the current tile's S that are not negligible
    std::vector<index_t> flagged;
    bool swapped = false;  // this tile's row / column sides go to the other accumulators (run_rounds)
    void init(index_t tb, index_t kpad) {
        const size_t t2 = size_t(tb * tb);
        for (auto* v : {&va, &vb, &vc, &vd}) v->resize(size_t(tb));
        d.resize(t2);
        sfull.resize(t2);
        e.resize(t2);
        s.resize(t2);
        sa.resize(t2);
        sc.resize(t2);
        c2.resize(size_t(tb * kpad));
        colv.resize(size_t(tb));
        colw.resize(size_t(tb));
        shift.resize(size_t(tb));
        flagged.resize(size_t(tb));
    }
};

template <class T>
T sum_range(const T* v, index_t lo, index_t hi) {
    // four interleaved partial sums: vectorisable without reassociation flags, fixed order
    T a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    index_t j = lo;
    for (; j + 4 <= hi; j += 4) {
        a0 += v[j];
        a1 += v[j + 1];
        a2 += v[j + 2];
        a3 += v[j + 3];
    }
    for (; j < hi; ++j) a0 += v[j];
    return (a0 + a1) + (a2 + a3);
}

}  // namespace

template <class T>
void scaled_bt_x(const double* B, index_t k, MatrixView<T> X, double scale, double* out, int n_threads,
                 BtXWorkspace& ws) {
    const KernelTable<double>& kd = active_kernels<double>();
    const index_t n = X.rows, d = X.cols, mr = kd.mr, nr = kd.nr;
    const index_t kp = (k + mr - 1) / mr, dp = (d + nr - 1) / nr;
    if (ws.x_nr != kd.nr || ws.x_rows != n || ws.x_data != static_cast<const void*>(X.data)) {
        // X (K = n) in NR-column panels of doubles, kept for the next calls on the same X
        ws.xpack.assign(size_t(dp * nr * n), 0.0);
        for (index_t q = 0; q < dp; ++q)
            for (index_t i = 0; i < n; ++i) {
                const T* xi = X.row(i);
                double* dst = ws.xpack.data() + (q * n + i) * nr;
                for (index_t c = 0; c < nr && q * nr + c < d; ++c) dst[c] = double(xi[(q * nr + c) * X.col_stride]);
            }
        ws.x_nr = kd.nr;
        ws.x_rows = n;
        ws.x_data = X.data;
    }
    ws.bpack.assign(size_t(kp * mr * n), 0.0);
    for (index_t pp = 0; pp < kp; ++pp)
        for (index_t i = 0; i < n; ++i) {
            double* dst = ws.bpack.data() + (pp * n + i) * mr;
            for (index_t r = 0; r < mr && pp * mr + r < k; ++r) dst[r] = B[i * k + pp * mr + r];
        }
    const index_t ldg = dp * nr;
    ws.gbuf.assign(size_t(kp * mr * ldg), 0.0);
    // each output tile is one micro-kernel call over all n rows: no cross-thread reduction
    auto tile = [&](index_t t) {
        const index_t pp = t / dp, q = t % dp;
        kd.dot(n, ws.bpack.data() + pp * n * mr, ws.xpack.data() + q * n * nr, ws.gbuf.data() + pp * mr * ldg + q * nr,
               ldg, false);
    };
    const index_t ntile = kp * dp;
    const int nt = resolve_threads(n_threads);
    parallel_for_dynamic(n * k * d > 500000 ? nt : 1, ntile, 1, [&](int, index_t t) { tile(t); });
    for (index_t r = 0; r < k; ++r)
        for (index_t c = 0; c < d; ++c) out[r * d + c] = scale * ws.gbuf[size_t(r * ldg + c)];
}

template void scaled_bt_x<float>(const double*, index_t, MatrixView<float>, double, double*, int, BtXWorkspace&);
template void scaled_bt_x<double>(const double*, index_t, MatrixView<double>, double, double*, int, BtXWorkspace&);

template <class T>
struct NcaProblem<T>::Impl {
    MatrixView<T> X;
    index_t n = 0, d = 0;
    std::vector<index_t> cls;
    std::vector<std::int64_t> offsets;
    std::size_t cache_bytes = 0;

    // per evaluation, reused across evaluations
    const KernelTable<T>* kt = nullptr;
    int nt = 1;
    PackedZ<T> P;
    std::vector<TileWork<T>> work;
    std::vector<StreamingLse> row1, col1;
    std::vector<double> off, p;
    std::vector<T> offT, pT;
    std::vector<double> rs_row, rs_col, sz_row, sz_col, bmat;
    // pass-1 cache: exp values of every tile pair and the shifts they were computed with
    bool cache_on = false;
    std::vector<T> cache;
    std::vector<std::size_t> pair_off;
    std::vector<double> rowshift, colshift;  // (n_pad x n_tiles), dual tiles only
    std::vector<unsigned char> tile_mode;     // 1: single exponential (shift tile_shift), 2: dual
    std::vector<double> tile_shift;
    std::vector<double> tile_dmin;  // smallest squared distance of each tile (pass 1), for pass 2's skip
    // grad = -2 B^T X through the double dot micro-kernel (X packed once per instruction set)
    BtXWorkspace btx;

    // Two sweeps evaluate the same objective (equal to rounding; each bitwise independent of the
    // thread count): the dense one below, and the sparse one of mlkr.hpp in its NCA mode (float32
    // screening, only the pairs within exp's reach of a row's nearest neighbour). Which one is a
    // function of L alone: the mean squared distance over all pairs in the learned space,
    // 2 tr(L C L^T) (C the covariance of X), against the drop gap g (36.8 in float64, 23.0 in
    // float32). Measured per evaluation (2 threads), dense / sparse time: digits at L = s I with mean
    // distance 19 / 43 / 77 / 120 / 203 -> 0.68 / 0.71 / 1.09 / 1.23 / 1.66; 3000 x 32 normal data
    // at 10 / 41 / 64 / 108 -> 0.68 / 0.66 / 0.82 / 1.41 (float32 alike, relative to its gap). So the
    // sparse sweep runs above a mean distance of 2.5 g. Env FM_NCA_SWEEP=dense|sparse forces one.
    std::unique_ptr<MlkrProblem<T>> sparse;
    std::vector<double> cov;  // d x d, of the rows of X
    bool sparse_sweep(MatrixView<T> L) {
        if (const char* e = std::getenv("FM_NCA_SWEEP")) {
            if (std::string(e) == "dense") return false;
            if (std::string(e) == "sparse") return true;
        }
        if (cov.empty()) {
            std::vector<double> mean(static_cast<size_t>(d), 0.0);
            for (index_t i = 0; i < n; ++i)
                for (index_t c = 0; c < d; ++c) mean[size_t(c)] += double(X.at(i, c));
            for (auto& v : mean) v /= double(n);
            cov.assign(size_t(d * d), 0.0);
            std::vector<double> xc(static_cast<size_t>(d));
            for (index_t i = 0; i < n; ++i) {
                for (index_t c = 0; c < d; ++c) xc[size_t(c)] = double(X.at(i, c)) - mean[size_t(c)];
                for (index_t a = 0; a < d; ++a) {
                    const double xa = xc[size_t(a)];
                    double* row = cov.data() + a * d;
                    for (index_t b = a; b < d; ++b) row[b] += xa * xc[size_t(b)];
                }
            }
            for (index_t a = 0; a < d; ++a)
                for (index_t b = a; b < d; ++b) {
                    cov[size_t(a * d + b)] /= double(n);
                    cov[size_t(b * d + a)] = cov[size_t(a * d + b)];
                }
        }
        double tr = 0;
        std::vector<double> lr(static_cast<size_t>(d));
        for (index_t r = 0; r < L.rows; ++r) {
            for (index_t c = 0; c < d; ++c) lr[size_t(c)] = double(L.at(r, c));
            for (index_t a = 0; a < d; ++a) {
                const double* row = cov.data() + a * d;
                double s = 0;
                for (index_t b = 0; b < d; ++b) s += row[b] * lr[size_t(b)];
                tr += lr[size_t(a)] * s;
            }
        }
        return 2.0 * tr > 2.5 * pair_softmax_drop_gap<T>();
    }

    index_t rows_in(index_t I) const { return std::min(P.tb, n - I * P.tb); }

    void class_cols(index_t i, index_t J, index_t nj, index_t& lo, index_t& hi) const {
        const index_t c = cls[size_t(i)];
        const index_t j0 = J * P.tb;
        lo = std::clamp<index_t>(index_t(offsets[size_t(c)]) - j0, 0, nj);
        hi = std::clamp<index_t>(index_t(offsets[size_t(c) + 1]) - j0, 0, nj);
    }

    // Accumulators of a tile's two sides. A tile (I, J), I <= J, normally adds its row-side sums
    // (rows of I) to the row_* arrays and its column-side sums (rows of J) to the col_* arrays; a
    // "swapped" tile (see run_rounds) sends them to the other arrays. Each point's final value merges
    // both arrays, so only the fixed order of the additions changes, not the result's meaning.
    StreamingLse& lse_row(const TileWork<T>& w, size_t i) { return w.swapped ? col1[i] : row1[i]; }
    StreamingLse& lse_col(const TileWork<T>& w, size_t j) { return w.swapped ? row1[j] : col1[j]; }
    double& rsum_row(const TileWork<T>& w, size_t i) { return w.swapped ? rs_col[i] : rs_row[i]; }
    double& rsum_col(const TileWork<T>& w, size_t j) { return w.swapped ? rs_row[j] : rs_col[j]; }
    double* zsum_row(const TileWork<T>& w) { return w.swapped ? sz_col.data() : sz_row.data(); }
    double* zsum_col(const TileWork<T>& w) { return w.swapped ? sz_row.data() : sz_col.data(); }

    // Runs f on every tile (I, J), I <= J, in phases whose tiles touch disjoint accumulators, so a
    // phase runs in parallel and the order of additions into every accumulator is fixed by the
    // phase order alone: results do not depend on the thread count. Phase 0 is the diagonal. Then
    // diagonal r -- tiles (I, I+r): row-side accumulators of tiles [0, nT-r), column-side ones of
    // [r, nT) -- shares a phase with diagonal nT-r run swapped: its tiles (I, I+nT-r) add the sums
    // of rows I (I in [0, r)) to column-side accumulators and those of rows I+nT-r (in [nT-r, nT))
    // to row-side ones, disjoint from the first diagonal's. Every phase then holds about nT tiles
    // (measured: one diagonal per phase spent 13% of an NCA evaluation waiting at the barriers of
    // its nearly empty last phases).
    struct PhaseTile {
        index_t I, J;
        bool swapped;
    };
    std::vector<std::vector<PhaseTile>> phases() const {
        const index_t nT = P.n_tiles;
        std::vector<std::vector<PhaseTile>> ph;
        std::vector<PhaseTile> diag;
        for (index_t I = 0; I < nT; ++I) diag.push_back({I, I, false});
        ph.push_back(std::move(diag));
        for (index_t r = 1; r < nT; ++r) {
            const index_t r2 = nT - r;
            if (r2 < r) break;
            std::vector<PhaseTile> t;
            for (index_t I = 0; I + r < nT; ++I) t.push_back({I, I + r, false});
            if (r2 != r)
                for (index_t I = 0; I + r2 < nT; ++I) t.push_back({I, I + r2, true});
            ph.push_back(std::move(t));
        }
        return ph;
    }

    template <class F>
    void run_rounds(F&& f) {
        const std::vector<std::vector<PhaseTile>> ph = phases();
        // one team call per phase: the end of a call is the phase barrier
        for (const auto& tiles : ph)
            parallel_for_dynamic(nt, index_t(tiles.size()), 1, [&](int tid, index_t t) {
                detail::FlushDenormals ftz;
                TileWork<T>& w = work[size_t(tid)];
                w.swapped = tiles[size_t(t)].swapped;
                f(tiles[size_t(t)].I, tiles[size_t(t)].J, w);
            });
    }

    // D (tb x tb, row stride tb) = squared distances between the rows of tiles I and J
    void distances(index_t I, index_t J, TileWork<T>& w) const {
        const index_t tb = P.tb, k = P.k, mr = P.mr, nr = P.nr;
        T* D = w.d.data();
        for (index_t pp = 0; pp < tb / mr; ++pp) {
            const T* ap = P.a.data() + (I * tb / mr + pp) * k * mr;
            for (index_t q = 0; q < tb / nr; ++q) {
                const T* bp = P.b.data() + (J * tb / nr + q) * k * nr;
                kt->dot(k, ap, bp, D + pp * mr * tb + q * nr, tb, false);
            }
        }
        const index_t ni = rows_in(I), nj = rows_in(J);
        const T* ny = P.norms.data() + J * tb;
        for (index_t r = 0; r < ni; ++r) {
            T* row = D + r * tb;
            kt->sq_from_dot(row, nj, P.norms[size_t(I * tb + r)], ny, T(0), row, w.flagged.data());
        }
    }

    T* cache_block(index_t I, index_t J, int side) {
        return cache.data() + pair_off[size_t(I * P.n_tiles + J)] + size_t(side) * size_t(P.tb * P.tb);
    }
    static constexpr double max_span() { return sizeof(T) == 4 ? 40.0 : 300.0; }
    // Pass 2 skips an off-diagonal tile whose every p_ij and p_ji is below tau (1e-16 in float64,
    // 1e-10 in float32): p_ij <= exp(-(dmin + off_i)) with dmin the tile's smallest distance, so the
    // test is dmin + min(off over the tile's rows and columns) > -log(tau). A skipped term changes
    // S_ij by less than 2 tau, the gradient by less than ~2 n tau relative -- far under the 1e-10
    // agreement with scikit-learn -- and removes the tile's S build, packing and two products
    // (after the first iterations most tiles of well-separated classes are skipped).
    bool negligible_tile(index_t I, index_t J) const {
        const index_t tb = P.tb, nT = P.n_tiles;
        const double dmin = tile_dmin[size_t(I * nT + J)];
        double omin, omax;
        detail::offset_range(off.data(), I * tb, rows_in(I), J * tb, rows_in(J), omin, omax);
        return dmin + omin > pair_softmax_drop_gap<T>();
    }

    // ---------------------------------------------------------------- pass 1: streaming log-sum-exp
    // After the tile's minima have lowered the row shifts mu_i and column shifts nu_j, one exp per
    // pair suffices when all shifts of the tile lie within max_span of their minimum c:
    //   exp(mu_i - d_ij) = exp(c - d_ij) * exp(mu_i - c),  exp(nu_j - d_ij) = exp(c - d_ij) * exp(nu_j - c)
    // (factors in [1, e^span]; exp(c - d) underflows only for terms below e^(lo + span), negligible).
    // Otherwise ("dual" tile) rows and columns get their own exponentials.
    void tile1(index_t I, index_t J, TileWork<T>& w) {
        const index_t tb = P.tb, ni = rows_in(I), nj = rows_in(J), nT = P.n_tiles;
        const bool diag = I == J;
        const T lo = exp_floor<T>();
        const T inf = std::numeric_limits<T>::infinity();
        distances(I, J, w);
        const T* D = w.d.data();
        T* mu = w.va.data();
        T* nu = w.vb.data();
        double c = std::numeric_limits<double>::infinity(), top = -c, tmin = c;
        for (index_t r = 0; r < ni; ++r) {
            const T* row = D + r * tb;
            T mn = inf;
            for (index_t j = 0; j < nj; ++j) mn = row[j] < mn ? row[j] : mn;
            if (diag) {  // the row's own (zero) distance does not count
                mn = inf;
                for (index_t j = 0; j < nj; ++j)
                    if (j != r) mn = row[j] < mn ? row[j] : mn;
            }
            StreamingLse& st = lse_row(w, size_t(I * tb + r));
            st.lower_to(double(mn));
            tmin = std::min(tmin, double(mn));
            mu[r] = T(st.m);
            c = std::min(c, st.m);
            top = std::max(top, st.m);
        }
        if (!diag) {
            for (index_t j = 0; j < nj; ++j) nu[j] = inf;
            for (index_t r = 0; r < ni; ++r) {
                const T* row = D + r * tb;
                for (index_t j = 0; j < nj; ++j) nu[j] = row[j] < nu[j] ? row[j] : nu[j];
            }
            for (index_t j = 0; j < nj; ++j) {
                StreamingLse& st = lse_col(w, size_t(J * tb + j));
                st.lower_to(double(nu[j]));
                nu[j] = T(st.m);
                c = std::min(c, st.m);
                top = std::max(top, st.m);
            }
        }
        tile_dmin[size_t(I * nT + J)] = tmin;
        const bool single = top - c <= max_span() && !std::isinf(c);
        if (cache_on) {
            tile_mode[size_t(I * nT + J)] = single ? 1 : 2;
            tile_shift[size_t(I * nT + J)] = c;
        }
        T* E = cache_on ? cache_block(I, J, 0) : w.e.data();
        T* cs = w.colv.data();
        T* cq = w.colw.data();
        std::fill(cs, cs + nj, T(0));
        std::fill(cq, cq + nj, T(0));
        if (single) {
            const T cT = T(c);
            for (index_t r = 0; r < ni; ++r) {
                const index_t i = I * tb + r;
                const T* row = D + r * tb;
                T* e = E + r * tb;
                for (index_t j = 0; j < nj; ++j) {
                    const T v = cT - row[j];
                    e[j] = v > lo ? v : lo;
                }
                kt->exp_scaled(e, nj, T(1));
                if (diag) e[r] = T(0);
                index_t a, b;
                class_cols(i, J, nj, a, b);
                StreamingLse& st = lse_row(w, size_t(i));
                const double f = std::exp(double(mu[r]) - c);
                st.s += f * double(sum_range(e, 0, nj));
                st.w += f * double(sum_range(e, a, b));
                if (!diag) {
                    for (index_t j = 0; j < nj; ++j) cs[j] += e[j];
                    for (index_t j = a; j < b; ++j) cq[j] += e[j];
                }
            }
            if (!diag)
                for (index_t j = 0; j < nj; ++j) {
                    StreamingLse& st = lse_col(w, size_t(J * tb + j));
                    const double f = std::exp(double(nu[j]) - c);
                    st.s += f * double(cs[j]);
                    st.w += f * double(cq[j]);
                }
            return;
        }
        // dual tile: row side with mu_i, column side with nu_j
        for (index_t r = 0; r < ni; ++r) {
            const index_t i = I * tb + r;
            const T* row = D + r * tb;
            T* e = E + r * tb;
            const T m = mu[r];
            if (cache_on) rowshift[size_t(i * nT + J)] = double(m);
            for (index_t j = 0; j < nj; ++j) {
                const T v = m - row[j];
                e[j] = v > lo ? v : lo;
            }
            kt->exp_scaled(e, nj, T(1));
            if (diag) e[r] = T(0);
            index_t a, b;
            class_cols(i, J, nj, a, b);
            StreamingLse& st = lse_row(w, size_t(i));
            st.s += double(sum_range(e, 0, nj));
            st.w += double(sum_range(e, a, b));
        }
        if (diag) return;
        T* E2 = cache_on ? cache_block(I, J, 1) : w.e.data();
        for (index_t j = 0; j < nj; ++j)
            if (cache_on) colshift[size_t((J * tb + j) * nT + I)] = double(nu[j]);
        for (index_t r = 0; r < ni; ++r) {
            const T* row = D + r * tb;
            T* e = E2 + r * tb;
            for (index_t j = 0; j < nj; ++j) {
                const T v = nu[j] - row[j];
                e[j] = v > lo ? v : lo;
            }
            kt->exp_scaled(e, nj, T(1));
            for (index_t j = 0; j < nj; ++j) cs[j] += e[j];
            index_t a, b;
            class_cols(I * tb + r, J, nj, a, b);
            for (index_t j = a; j < b; ++j) cq[j] += e[j];
        }
        for (index_t j = 0; j < nj; ++j) {
            StreamingLse& st = lse_col(w, size_t(J * tb + j));
            st.s += double(cs[j]);
            st.w += double(cq[j]);
        }
    }

    // ---------------------------------------------------------------- pass 2: S and b
    // S_ij = p_ij (m_ij - p_i) + p_ji (m_ij - p_j). Whenever p_ij = e_ij * F_i and p_ji = e_ij * G_j
    // share one exponential e, S_ij = e_ij * (A_i + B_j) with A, B chosen by m_ij:
    //   same class: A_i = F_i (1 - p_i), B_j = G_j (1 - p_j);  other: A_i = -F_i p_i, B_j = -G_j p_j.
    // The S rows are written straight into the two packed layouts of the micro-kernel.
    void shared_factors(index_t I, index_t J, double c, TileWork<T>& w) {
        const index_t tb = P.tb, ni = rows_in(I), nj = rows_in(J);
        for (index_t r = 0; r < ni; ++r) {
            const index_t i = I * tb + r;
            const double F = std::exp(-(c + off[size_t(i)]));
            w.va[size_t(r)] = T(F * (1.0 - p[size_t(i)]));
            w.vb[size_t(r)] = T(-F * p[size_t(i)]);
        }
        for (index_t j = 0; j < nj; ++j) {
            const index_t jj = J * tb + j;
            const double G = std::exp(-(c + off[size_t(jj)]));
            w.vc[size_t(j)] = T(G * (1.0 - p[size_t(jj)]));
            w.vd[size_t(j)] = T(-G * p[size_t(jj)]);
        }
    }

    // S row r of tile (I, J) from a shared exponential row e
    void s_row_shared(index_t r, index_t i, index_t J, index_t nj, const T* e, TileWork<T>& w) const {
        T* s = w.sfull.data() + r * P.tb;
        index_t a, b;
        class_cols(i, J, nj, a, b);
        const T as = w.va[size_t(r)], ad = w.vb[size_t(r)];
        const T* bs = w.vc.data();
        const T* bd = w.vd.data();
        for (index_t j = 0; j < a; ++j) s[j] = e[j] * (ad + bd[j]);
        for (index_t j = a; j < b; ++j) s[j] = e[j] * (as + bs[j]);
        for (index_t j = b; j < nj; ++j) s[j] = e[j] * (ad + bd[j]);
    }

    // S row r from separate p_ij (e1) and p_ji (e2) rows
    void s_row_dual(index_t i, index_t J, index_t nj, const T* e1, const T* e2, TileWork<T>& w) const {
        T* s = w.sfull.data() + (i % P.tb) * P.tb;  // row i - I tb of the tile
        const T pi = pT[size_t(i)];
        const T* pc = pT.data() + J * P.tb;
        index_t a, b;
        class_cols(i, J, nj, a, b);
        for (index_t j = 0; j < a; ++j) s[j] = -(e1[j] * pi + e2[j] * pc[j]);
        for (index_t j = a; j < b; ++j) s[j] = e1[j] * (T(1) - pi) + e2[j] * (T(1) - pc[j]);
        for (index_t j = b; j < nj; ++j) s[j] = -(e1[j] * pi + e2[j] * pc[j]);
    }

    // the finished S row r: row sum, column sums, and the two packed layouts
    // S row r of the tile, built in w.sfull: zero its diagonal entry and padding, count its entries
    // above the drop threshold
    void stash_s_row(index_t r, index_t nj, bool diag, TileWork<T>& w) const {
        const index_t tb = P.tb;
        T* s = w.sfull.data() + r * tb;
        if (diag) s[r] = T(0);
        std::fill(s + nj, s + tb, T(0));
        const T thr = T(2.0 * pair_softmax_drop_tau<T>());
        index_t c = 0;
        for (index_t j = 0; j < nj; ++j) c += (s[j] > thr || s[j] < -thr) ? 1 : 0;
        w.kept += c;
    }

    void emit_s_row(index_t I, index_t r, index_t nj, bool diag, TileWork<T>& w) {
        const index_t tb = P.tb, mr = P.mr;
        T* s = w.sfull.data() + r * tb;
        rsum_row(w, size_t(I * tb + r)) += double(sum_range(s, 0, nj));
        T* dst = w.sa.data() + ((r / mr) * tb) * mr + (r % mr);  // row panel r/mr, K index j
        for (index_t j = 0; j < tb; ++j) dst[j * mr] = s[j];
        if (diag) return;
        T* cs = w.colv.data();
        for (index_t j = 0; j < nj; ++j) cs[j] += s[j];
        for (index_t q = 0; q < tb / mr; ++q) {  // column panel q, K index r
            T* out = w.sc.data() + (q * tb + r) * mr;
            const T* in = s + q * mr;
            for (index_t cc = 0; cc < mr; ++cc) out[cc] = in[cc];
        }
    }

    // Pass 2 of a tile whose S is mostly negligible (at most 2/5 of the entries above 2 tau, the
    // measured case of well-separated classes: ~6% of all pairs on digits): exact row and column sums
    // of S, and S Z products pair by pair over the kept entries only, in double, in a fixed order.
    // Dropped entries are below 2 tau (tau = 1e-16 in float64, 1e-10 in float32).
    void sparse_products(index_t I, index_t J, index_t ni, index_t nj, bool diag, TileWork<T>& w) {
        const index_t tb = P.tb, k = P.k;
        const T thr = T(2.0 * pair_softmax_drop_tau<T>());
        T* cs = w.colv.data();  // zeroed at the start of tile2 when !diag
        double* zr = zsum_row(w);
        double* zc = zsum_col(w);
        for (index_t r = 0; r < ni; ++r) {
            const index_t i = I * tb + r;
            const T* srow = w.sfull.data() + r * tb;
            rsum_row(w, size_t(i)) += double(sum_range(srow, 0, nj));
            if (!diag)
                for (index_t j = 0; j < nj; ++j) cs[j] += srow[j];
            double* acc_i = zr + i * k;
            const T* zi = P.z.data() + i * k;
            for (index_t j = 0; j < nj; ++j) {
                const T v = srow[j];
                if (!(v > thr || v < -thr)) continue;
                const double sv = double(v);
                const index_t jj = J * tb + j;
                const T* zj = P.z.data() + jj * k;
                for (index_t c = 0; c < k; ++c) acc_i[c] += sv * double(zj[c]);
                if (!diag) {
                    double* acc_j = zc + jj * k;
                    for (index_t c = 0; c < k; ++c) acc_j[c] += sv * double(zi[c]);
                }
            }
        }
        if (!diag)
            for (index_t j = 0; j < nj; ++j) rsum_col(w, size_t(J * tb + j)) += double(cs[j]);
    }

    void tile2(index_t I, index_t J, TileWork<T>& w) {
        const index_t tb = P.tb, ni = rows_in(I), nj = rows_in(J), k = P.k, kpad = P.kpad, nT = P.n_tiles;
        const index_t mr = P.mr, nr = P.nr;
        const bool diag = I == J;
        if (!diag && negligible_tile(I, J)) return;
        w.kept = 0;
        const T lo = exp_floor<T>();
        if (!diag) std::fill(w.colv.begin(), w.colv.begin() + nj, T(0));
        // padding rows of the packed S panels must be zero
        for (index_t r = ni; r < tb; ++r) {
            T* dst = w.sa.data() + ((r / mr) * tb) * mr + (r % mr);
            for (index_t j = 0; j < tb; ++j) dst[j * mr] = T(0);
            if (!diag)
                for (index_t q = 0; q < tb / mr; ++q) std::fill_n(w.sc.data() + (q * tb + r) * mr, mr, T(0));
        }
        if (cache_on && tile_mode[size_t(I * nT + J)] == 1) {
            // pass 1 stored e = exp(c - d): p_ij = e exp(-(c + off_i)), p_ji = e exp(-(c + off_j))
            const double c = tile_shift[size_t(I * nT + J)];
            shared_factors(I, J, c, w);
            const T* E = cache_block(I, J, 0);
            for (index_t r = 0; r < ni; ++r) {
                s_row_shared(r, I * tb + r, J, nj, E + r * tb, w);
                stash_s_row(r, nj, diag, w);
            }
        } else if (cache_on) {
            // dual tile: p_ij = R exp(-(mu_i + off_i)), p_ji = C exp(-(nu_j + off_j)) (diagonal: R^T)
            const T* R = cache_block(I, J, 0);
            const T* C = diag ? nullptr : cache_block(I, J, 1);
            T* F = w.va.data();
            T* G = w.vb.data();
            for (index_t r = 0; r < ni; ++r) {
                const index_t i = I * tb + r;
                F[r] = T(std::exp(-(rowshift[size_t(i * nT + J)] + off[size_t(i)])));
            }
            if (!diag)
                for (index_t j = 0; j < nj; ++j) {
                    const index_t jj = J * tb + j;
                    G[j] = T(std::exp(-(colshift[size_t(jj * nT + I)] + off[size_t(jj)])));
                }
            T* e1 = w.e.data();
            T* e2 = w.s.data();
            for (index_t r = 0; r < ni; ++r) {
                const T* rr = R + r * tb;
                for (index_t j = 0; j < nj; ++j) e1[j] = rr[j] * F[r];
                if (diag)
                    for (index_t j = 0; j < nj; ++j) e2[j] = R[j * tb + r] * F[j];
                else
                    for (index_t j = 0; j < nj; ++j) e2[j] = C[r * tb + j] * G[j];
                s_row_dual(I * tb + r, J, nj, e1, e2, w);
                stash_s_row(r, nj, diag, w);
            }
        } else {
            distances(I, J, w);
            const T* D = w.d.data();
            double omin, omax;
            detail::offset_range(off.data(), I * tb, ni, J * tb, nj, omin, omax);
            T* e = w.e.data();
            if (omax - omin <= max_span()) {
                // e = exp(-(d + c)) with c the largest offset: p = e * exp(c - off) with factors in
                // [1, e^span]; e underflows only where both probabilities are negligible
                const double c = omax;
                shared_factors(I, J, -c, w);  // exp(-(-c + off)) = exp(c - off)
                const T cT = T(c);
                for (index_t r = 0; r < ni; ++r) {
                    const T* row = D + r * tb;
                    for (index_t j = 0; j < nj; ++j) {
                        const T v = -(row[j] + cT);
                        e[j] = v > lo ? v : lo;
                    }
                    kt->exp_scaled(e, nj, T(1));
                    s_row_shared(r, I * tb + r, J, nj, e, w);
                    stash_s_row(r, nj, diag, w);
                }
            } else {
                T* e2 = w.s.data();
                const T* offc = offT.data() + J * tb;
                for (index_t r = 0; r < ni; ++r) {
                    const T* row = D + r * tb;
                    const T oi = offT[size_t(I * tb + r)];
                    for (index_t j = 0; j < nj; ++j) {
                        const T v1 = -(row[j] + oi), v2 = -(row[j] + offc[j]);
                        e[j] = v1 > lo ? v1 : lo;
                        e2[j] = v2 > lo ? v2 : lo;
                    }
                    kt->exp_scaled(e, nj, T(1));
                    kt->exp_scaled(e2, nj, T(1));
                    s_row_dual(I * tb + r, J, nj, e, e2, w);
                    stash_s_row(r, nj, diag, w);
                }
            }
        }
        if (w.kept * 5 <= 2 * ni * nj) {
            sparse_products(I, J, ni, nj, diag, w);
            return;
        }
        for (index_t r = 0; r < ni; ++r) emit_s_row(I, r, nj, diag, w);
        // row side: sz_row[I] += S Z_J
        T* c2 = w.c2.data();
        const T* sa = w.sa.data();
        for (index_t pp = 0; pp < tb / mr; ++pp)
            for (index_t f = 0; f < kpad / nr; ++f)
                kt->dot(tb, sa + pp * tb * mr, P.zt.data() + (f * P.n_pad + J * tb) * nr, c2 + pp * mr * kpad + f * nr,
                        kpad, false);
        for (index_t r = 0; r < ni; ++r) {
            double* acc = zsum_row(w) + (I * tb + r) * k;
            const T* cr = c2 + r * kpad;
            for (index_t cc = 0; cc < k; ++cc) acc[cc] += double(cr[cc]);
        }
        if (diag) return;
        // column side: rs_col[J] += column sums of S, sz_col[J] += S^T Z_I
        const T* cs = w.colv.data();
        for (index_t j = 0; j < nj; ++j) rsum_col(w, size_t(J * tb + j)) += double(cs[j]);
        const T* sc = w.sc.data();
        for (index_t q = 0; q < tb / mr; ++q)
            for (index_t f = 0; f < kpad / nr; ++f)
                kt->dot(tb, sc + q * tb * mr, P.zt.data() + (f * P.n_pad + I * tb) * nr, c2 + q * mr * kpad + f * nr,
                        kpad, false);
        for (index_t j = 0; j < nj; ++j) {
            double* acc = zsum_col(w) + (J * tb + j) * k;
            const T* cr = c2 + j * kpad;
            for (index_t cc = 0; cc < k; ++cc) acc[cc] += double(cr[cc]);
        }
    }

    // ---------------------------------------------------------------- Z = X L^T
    // X is packed into A micro-panels once per instruction set; each output tile comes from one
    // micro-kernel call over all n_features, so Z does not depend on the thread count.
    std::vector<T> xa, lb, zbuf;
    int xa_mr = 0;
    void embed(MatrixView<T> L, int nthreads) {
        const index_t k = L.rows, mr = kt->mr, nr = kt->nr;
        const index_t mp = (n + mr - 1) / mr, kq = (k + nr - 1) / nr;
        if (xa_mr != kt->mr) {
            xa.assign(size_t(mp * mr * d), T(0));
            for (index_t i = 0; i < n; ++i) {
                const T* xi = X.row(i);
                T* dst = xa.data() + (i / mr) * d * mr + i % mr;
                for (index_t t = 0; t < d; ++t) dst[t * mr] = xi[t * X.col_stride];
            }
            xa_mr = kt->mr;
        }
        lb.assign(size_t(kq * nr * d), T(0));
        for (index_t r = 0; r < k; ++r) {
            const T* lr = L.row(r);
            T* dst = lb.data() + (r / nr) * d * nr + r % nr;
            for (index_t t = 0; t < d; ++t) dst[t * nr] = lr[t * L.col_stride];
        }
        const index_t ldz = kq * nr;
        zbuf.resize(size_t(mp * mr * ldz));
        auto panel = [&](index_t pp) {
            for (index_t q = 0; q < kq; ++q)
                kt->dot(d, xa.data() + pp * d * mr, lb.data() + q * d * nr, zbuf.data() + pp * mr * ldz + q * nr, ldz,
                        false);
        };
        parallel_for_static(n * k * d > 1000000 ? nthreads : 1, mp, [&](int, index_t pp) { panel(pp); });
        P.z.resize(size_t(n * k));
        for (index_t i = 0; i < n; ++i) std::copy_n(zbuf.data() + i * ldz, k, P.z.data() + i * k);
    }

    double evaluate(MatrixView<T> L, double* grad, double* p_out, int n_threads) {
        const index_t k = L.rows;
        if (L.cols != d) throw std::invalid_argument("nca: L must have n_features columns");
        if (k < 1) throw std::invalid_argument("nca: L must have at least one row");
        const int nt_req = resolve_threads(n_threads);
        kt = &active_kernels<T>();
        P.z.resize(size_t(n * k));
        embed(L, nt_req);
        P.build(*kt, n, k, 96);
        const index_t nT = P.n_tiles, np = P.n_pad;
        // threads work on the tiles of one round: no more threads than tiles; serial when tiny
        nt = int(std::min<index_t>(nt_req, nT));
        if (n * n * k < 2000000) nt = 1;
        nt = std::max(1, nt);
        if (work.size() < size_t(nt)) work.resize(size_t(nt));
        for (int t = 0; t < nt; ++t) work[size_t(t)].init(P.tb, P.kpad);

        cache_on = double(np) * double(np) * double(sizeof(T)) <= double(cache_bytes);
        if (cache_on) {
            pair_off.assign(size_t(nT * nT), 0);
            std::size_t o = 0;
            for (index_t I = 0; I < nT; ++I)
                for (index_t J = I; J < nT; ++J) {
                    pair_off[size_t(I * nT + J)] = o;
                    o += size_t(I == J ? 1 : 2) * size_t(P.tb * P.tb);
                }
            cache.resize(o);
            rowshift.assign(size_t(np * nT), 0.0);
            colshift.assign(size_t(np * nT), 0.0);
            tile_mode.assign(size_t(nT * nT), 0);
            tile_shift.assign(size_t(nT * nT), 0.0);
        }

        // pass 1
        tile_dmin.assign(size_t(P.n_tiles * P.n_tiles), std::numeric_limits<double>::infinity());
        row1.assign(size_t(np), StreamingLse{});
        col1.assign(size_t(np), StreamingLse{});
        run_rounds([this](index_t I, index_t J, TileWork<T>& w) { tile1(I, J, w); });
        off.assign(size_t(np), 0.0);
        p.assign(size_t(np), 0.0);
        offT.assign(size_t(np), T(0));
        pT.assign(size_t(np), T(0));
        double loss = 0;
        for (index_t i = 0; i < n; ++i) {
            StreamingLse st = row1[size_t(i)];
            st.merge(col1[size_t(i)]);
            off[size_t(i)] = std::log(st.s) - st.m;
            p[size_t(i)] = st.w / st.s;
            offT[size_t(i)] = T(off[size_t(i)]);
            pT[size_t(i)] = T(p[size_t(i)]);
            loss += p[size_t(i)];
        }
        // pass 2
        rs_row.assign(size_t(np), 0.0);
        rs_col.assign(size_t(np), 0.0);
        sz_row.assign(size_t(np * k), 0.0);
        sz_col.assign(size_t(np * k), 0.0);
        run_rounds([this](index_t I, index_t J, TileWork<T>& w) { tile2(I, J, w); });
        bmat.resize(size_t(n * k));
        for (index_t i = 0; i < n; ++i) {
            const double rs = rs_row[size_t(i)] + rs_col[size_t(i)];
            const T* zi = P.z.data() + i * k;
            for (index_t c = 0; c < k; ++c)
                bmat[size_t(i * k + c)] = rs * double(zi[c]) - (sz_row[size_t(i * k + c)] + sz_col[size_t(i * k + c)]);
        }
        if (p_out)
            for (index_t i = 0; i < n; ++i) p_out[i] = p[size_t(i)];
        scaled_bt_x<T>(bmat.data(), k, X, -2.0, grad, nt_req, btx);
        return loss;
    }
};

template <class T>
NcaProblem<T>::NcaProblem(MatrixView<T> X, const std::int64_t* class_offsets, std::int64_t n_classes,
                          std::size_t cache_bytes)
    : impl_(new Impl) {
    Impl& m = *impl_;
    m.X = X;
    m.n = X.rows;
    m.d = X.cols;
    m.cache_bytes = cache_bytes;
    if (m.n < 2) throw std::invalid_argument("nca: at least 2 samples are needed");
    if (m.d < 1) throw std::invalid_argument("nca: at least 1 feature is needed");
    if (n_classes < 1 || class_offsets[0] != 0 || class_offsets[n_classes] != m.n)
        throw std::invalid_argument("nca: class_offsets must start at 0 and end at n_samples");
    m.offsets.assign(class_offsets, class_offsets + n_classes + 1);
    m.cls.assign(size_t(m.n), 0);
    for (std::int64_t c = 0; c < n_classes; ++c) {
        if (class_offsets[c + 1] < class_offsets[c]) throw std::invalid_argument("nca: class_offsets must not decrease");
        for (index_t i = class_offsets[c]; i < class_offsets[c + 1]; ++i) m.cls[size_t(i)] = c;
    }
}

template <class T>
NcaProblem<T>::~NcaProblem() = default;

template <class T>
double NcaProblem<T>::loss_grad(MatrixView<T> L, double* grad, double* p_out, int n_threads) {
    Impl& m = *impl_;
    if (L.cols != m.d) throw std::invalid_argument("nca: L must have n_features columns");
    if (L.rows < 1) throw std::invalid_argument("nca: L must have at least one row");
    if (!m.sparse_sweep(L)) return m.evaluate(L, grad, p_out, n_threads);
    if (!m.sparse) {
        std::vector<double> codes(size_t(m.n));
        for (index_t i = 0; i < m.n; ++i) codes[size_t(i)] = double(m.cls[size_t(i)]);
        m.sparse.reset(new MlkrProblem<T>(m.X, codes.data(), m.cache_bytes, PairSoftmaxObjective::nca));
    }
    return m.sparse->loss_grad(L, grad, p_out, n_threads);
}

template <class T>
std::int64_t NcaProblem<T>::n_samples() const { return impl_->n; }
template <class T>
std::int64_t NcaProblem<T>::n_features() const { return impl_->d; }
template <class T>
bool NcaProblem<T>::uses_cache(std::int64_t n_components) const {
    (void)n_components;
    const KernelTable<T>& kt = active_kernels<T>();
    const index_t l = index_t(kt.mr) / std::gcd(kt.mr, kt.nr) * index_t(kt.nr);
    const index_t tb = std::min(std::max<index_t>(1, (96 + l / 2) / l) * l, (impl_->n + l - 1) / l * l);
    const index_t np = (impl_->n + tb - 1) / tb * tb;
    return double(np) * double(np) * double(sizeof(T)) <= double(impl_->cache_bytes);
}

template <class T>
double nca_loss_grad(MatrixView<T> X, MatrixView<T> L, const std::int64_t* class_offsets, std::int64_t n_classes,
                     double* grad, double* p_out, int n_threads) {
    NcaProblem<T> prob(X, class_offsets, n_classes);
    return prob.loss_grad(L, grad, p_out, n_threads);
}

template class NcaProblem<float>;
template class NcaProblem<double>;
template double nca_loss_grad<float>(MatrixView<float>, MatrixView<float>, const std::int64_t*, std::int64_t, double*,
                                     double*, int);
template double nca_loss_grad<double>(MatrixView<double>, MatrixView<double>, const std::int64_t*, std::int64_t,
                                      double*, double*, int);

}  // namespace learn
}  // namespace fastmetric
