// Contrastive, triplet-margin (with miners) and multi-similarity losses on an embedding: see
// fastmetric/learn/embedding_losses.hpp for the driver and python/fastmetric/losses.py for the
// definitions.
#include "fastmetric/learn/embedding_losses.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "fastmetric/engine.hpp"
#include "fastmetric/kernels.hpp"
#include "fastmetric/parallel.hpp"

namespace fastmetric {
namespace learn {
namespace {

constexpr double kNormEps = 1e-12;  // torch.nn.functional.normalize's eps, as PML uses it

// U (double), its copy in the input's type W for the engine, the row norms and the n x n matrix of
// distances (euclidean) or similarities (cosine) in W.
template <class W>
struct Batch {
    index_t n = 0, d = 0;
    bool euclid = true, normalize = true;
    std::vector<double> U, norm;
    std::vector<W> Uw;
    std::unique_ptr<W[]> M;  // n x n, every entry written by the engine (no zero fill)
};

template <class T>
void prepare(MatrixView<T> Z, EmbeddingDistance dist, bool normalize, int nt, Batch<T>& b) {
    const index_t n = Z.rows, d = Z.cols;
    if (n < 2) throw std::invalid_argument("Z must have at least 2 rows");
    if (d < 1) throw std::invalid_argument("Z must have at least 1 column");
    b.n = n;
    b.d = d;
    b.euclid = dist == EmbeddingDistance::euclidean;
    b.normalize = normalize;
    b.U.resize(size_t(n * d));
    b.norm.assign(size_t(n), 1.0);
    for (index_t i = 0; i < n; ++i) {
        const T* z = Z.row(i);
        double* u = b.U.data() + i * d;
        double s = 0;
        for (index_t k = 0; k < d; ++k) {
            u[k] = double(z[k * Z.col_stride]);
            s += u[k] * u[k];
        }
        if (!normalize) continue;
        s = std::sqrt(s);
        if (!(s > kNormEps))
            throw std::invalid_argument("row " + std::to_string(i) +
                                        " of Z has (near-)zero norm and cannot be normalised (norm <= 1e-12)");
        b.norm[size_t(i)] = s;
        for (index_t k = 0; k < d; ++k) u[k] /= s;
    }
    b.Uw.assign(b.U.begin(), b.U.end());
    Problem<T> pb;
    MatrixView<T> uv;
    uv.data = b.Uw.data();
    uv.rows = n;
    uv.cols = d;
    uv.row_stride = d;
    uv.col_stride = 1;
    pb.x.m = pb.y.m = uv;
    // every row in full (not the symmetric problem: its mirrored writes cost more than the second
    // half of the products at these sizes); anchor a reads row a only, so no symmetry is needed
    pb.symmetric = false;
    pb.n_threads = nt;
    std::vector<T> sq;
    if (b.euclid) {
        pb.reduce = Reduce::sq_dot;
        pb.post = Post::sqrt;
        sq.resize(size_t(n));
        row_sq_norms(pb.x, sq.data(), nt);
        pb.x.sq_norms = pb.y.sq_norms = sq.data();
    } else {
        pb.reduce = Reduce::dot;
    }
    b.M.reset(new T[size_t(n * n)]);
    pairwise_dense(pb, b.M.get(), n);
}

struct RowStats {
    double loss[2] = {0, 0};
    std::int64_t count[2] = {0, 0};
};

// Per-thread scratch, sized before the parallel region.
struct Scratch {
    std::vector<std::pair<double, index_t>> pos, neg;
    std::vector<double> prefix, buf, xn;
    std::vector<std::int64_t> diff;
    std::vector<double> c_lo, c_up, c_act;  // small exact counts, as doubles so the loops vectorise
    void reserve(index_t n) {
        xn.reserve(size_t(n));
        c_lo.reserve(size_t(n));
        c_up.reserve(size_t(n));
        c_act.reserve(size_t(n));
        pos.reserve(size_t(n));
        neg.reserve(size_t(n));
        prefix.reserve(size_t(n + 1));
        buf.reserve(size_t(n));
        diff.reserve(size_t(n + 1));
    }
};

// Row a of M: split into positives and negatives as (x, j), x = distance (euclidean) or -similarity
// (cosine), so that "smaller x = closer" for both; the row is then zeroed for the coefficients.
template <class W>
void split_row(const Batch<W>& b, const std::int64_t* labels, index_t a, W* row, Scratch& s) {
    s.pos.resize(size_t(b.n));
    s.neg.resize(size_t(b.n));
    std::size_t np = 0, nn = 0;
    const std::int64_t la = labels[a];
    for (index_t j = 0; j < b.n; ++j) {
        if (j == a) continue;
        const double x = b.euclid ? double(row[j]) : -double(row[j]);
        if (labels[j] == la)
            s.pos[np++] = {x, j};
        else
            s.neg[nn++] = {x, j};
    }
    s.pos.resize(np);
    s.neg.resize(nn);
    std::fill(row, row + b.n, W(0));
}

// Length of the true prefix of a predicate that is true, then false, along a[0 .. n): a binary
// search whose steps are selects, not branches (the searches of different negatives overlap).
// (A uniform-grid hint with exact local steps measured within 10 % of it at 4096 x 128, 32
// classes; both are latency-bound at ~3 ns a step.)
template <class P>
std::size_t prefix_length(const double* a, std::size_t n, P pred) {
    if (n == 0) return 0;
    const double* base = a;
    while (n > 1) {
        const std::size_t half = n / 2;
        base = pred(base[half]) ? base + half : base;
        n -= half;
    }
    return std::size_t(base - a) + std::size_t(pred(*base));
}
// The coefficient stored for a pair: dloss/dx turned into dloss/dD / D (euclidean, 0 at D = 0) or
// dloss/dS = -dloss/dx (cosine).
inline double coef(bool euclid, double dloss_dx, double x) {
    if (euclid) return x > 0 ? dloss_dx / x : 0.0;
    return -dloss_dx;
}

// Runs fn(a, row, scratch) -> RowStats on every anchor and adds the stats in anchor order.
template <class W, class F>
RowStats sweep_rows(Batch<W>& b, int nt, F&& fn) {
    const index_t n = b.n;
    std::vector<RowStats> st(static_cast<size_t>(n));
    const int team = std::max(1, std::min<int>(nt, int(std::min<index_t>(n, 1 << 20))));
    std::vector<Scratch> scratch(static_cast<size_t>(team));
    for (auto& s : scratch) s.reserve(n);
    const index_t chunk = std::max<index_t>(1, std::min<index_t>(16, n / (4 * team) + 1));
    parallel_for_dynamic(team, n, chunk,
                         [&](int tid, index_t a) { st[size_t(a)] = fn(a, b.M.get() + a * n, scratch[size_t(tid)]); });
    RowStats tot;
    for (const RowStats& r : st)
        for (int k = 0; k < 2; ++k) {
            tot.loss[k] += r.loss[k];
            tot.count[k] += r.count[k];
        }
    return tot;
}

// From the coefficient rows in M to G: K = s (M + M^T) in place (s = s_same for pairs of one class,
// s_diff otherwise), then dloss/dU and the chain rule through the normalisation.
template <class T>
void finish(Batch<T>& b, const std::int64_t* labels, double s_same, double s_diff, T* G, int nt) {
    const index_t n = b.n, d = b.d;
    T* M = b.M.get();
    constexpr index_t B = 64;
    const index_t nb = (n + B - 1) / B;
    // block (I, J), I <= J, touches only M[I rows][J cols] and M[J rows][I cols]: disjoint over I
    parallel_for_dynamic(nt, nb, 1, [&](int, index_t I) {
        const index_t i0 = I * B, i1 = std::min(n, i0 + B);
        for (index_t J = I; J < nb; ++J) {
            const index_t j0 = J * B, j1 = std::min(n, j0 + B);
            for (index_t i = i0; i < i1; ++i) {
                T* ri = M + i * n;
                if (s_same == s_diff) {
                    for (index_t j = std::max(j0, i + 1); j < j1; ++j) {
                        const T v = T((double(ri[j]) + double(M[j * n + i])) * s_same);
                        ri[j] = v;
                        M[j * n + i] = v;
                    }
                    continue;
                }
                const std::int64_t li = labels[i];
                for (index_t j = std::max(j0, i + 1); j < j1; ++j) {
                    const T v = T((double(ri[j]) + double(M[j * n + i])) * (li == labels[j] ? s_same : s_diff));
                    ri[j] = v;
                    M[j * n + i] = v;
                }
            }
        }
        for (index_t i = i0; i < i1; ++i) M[i * n + i] = T(0);
    });
    // K U on the engine: rows of K against the rows of U^T (d x n), in T
    std::vector<T> ut(static_cast<size_t>(d * n)), ku(static_cast<size_t>(n * d));
    for (index_t i = 0; i < n; ++i)
        for (index_t k = 0; k < d; ++k) ut[size_t(k * n + i)] = b.Uw[size_t(i * d + k)];
    Problem<T> pb;
    pb.x.m.data = M;
    pb.x.m.rows = n;
    pb.x.m.cols = n;
    pb.x.m.row_stride = n;
    pb.y.m.data = ut.data();
    pb.y.m.rows = d;
    pb.y.m.cols = n;
    pb.y.m.row_stride = n;
    pb.reduce = Reduce::dot;
    pb.n_threads = nt;
    pairwise_dense(pb, ku.data(), d);
    // the rest in double: dloss/du_i = r_i u_i - (K U)_i (euclidean, r_i = sum_j K_ij) or (K U)_i
    parallel_for_static(nt, n, [&](int, index_t i) {
        const double* u = b.U.data() + i * d;
        const T* kr = ku.data() + i * d;
        double r = 0;
        if (b.euclid) {
            const T* ki = M + i * n;
            for (index_t j = 0; j < n; ++j) r += double(ki[j]);
        }
        auto g = [&](index_t k) { return b.euclid ? r * u[k] - double(kr[k]) : double(kr[k]); };
        T* out = G + i * d;
        if (b.normalize) {
            double ug = 0;
            for (index_t k = 0; k < d; ++k) ug += u[k] * g(k);
            const double inv = 1.0 / b.norm[size_t(i)];
            for (index_t k = 0; k < d; ++k) out[k] = T((g(k) - u[k] * ug) * inv);
        } else {
            for (index_t k = 0; k < d; ++k) out[k] = T(g(k));
        }
    });
}

int threads_of(int n_threads) { return resolve_threads(n_threads); }

}  // namespace

template <class T>
EmbeddingLossResult triplet_margin_loss(MatrixView<T> Z, const std::int64_t* labels, EmbeddingDistance dist,
                                        bool normalize, double margin, TripletMiner miner, double miner_margin, T* G,
                                        int n_threads) {
    const int nt = threads_of(n_threads);
    Batch<T> b;
    prepare(Z, dist, normalize, nt, b);
    const bool euclid = b.euclid;
    // the miner's window on m = x_n - x_p: lower (strict) and upper (inclusive) bounds
    const bool has_lower = miner == TripletMiner::semihard;
    const double lower = 0.0;
    const bool has_upper = miner == TripletMiner::all || miner == TripletMiner::hard || miner == TripletMiner::semihard;
    const double upper = miner == TripletMiner::hard ? std::min(miner_margin, 0.0) : miner_margin;
    auto row_fn = [&](index_t a, T* row, Scratch& s) -> RowStats {
        RowStats r;
        split_row(b, labels, a, row, s);
        if (s.pos.empty() || s.neg.empty()) return r;
        if (miner == TripletMiner::batch_hard) {
            // hardest positive: largest x (first at ties); hardest negative: smallest x (first at ties)
            auto hp = s.pos[0], hn = s.neg[0];
            for (const auto& p : s.pos)
                if (p.first > hp.first) hp = p;
            for (const auto& q : s.neg)
                if (q.first < hn.first) hn = q;
            r.count[1] = 1;
            const double v = (hp.first - hn.first) + margin;
            if (v > 0) {
                r.loss[0] = v;
                r.count[0] = 1;
                row[hp.second] = coef(euclid, 1.0, hp.first);
                row[hn.second] = coef(euclid, -1.0, hn.first);
            }
            return r;
        }
        // Positives sorted by x once (few per anchor); each negative finds the contiguous range of
        // positives it forms a used triplet with by binary search on the exact predicates of the
        // reference, all monotone in x_p for a fixed x_n:
        //   lower  (semihard)   (x_n - x_p) > 0              true, then false along ascending x_p
        //   upper  (miners)     (x_n - x_p) <= upper         false, then true
        //   active (loss > 0)   ((x_p - x_n) + margin) > 0   false, then true
        // so a negative's range is [max(first upper, first active), first not lower). Prefix sums
        // of the sorted x_p give the hinge sums; a difference array the positives' counts.
        std::vector<std::pair<double, index_t>>& pos = s.pos;
        std::sort(pos.begin(), pos.end());
        const std::size_t np = pos.size();
        s.prefix.assign(np + 1, 0.0);
        for (std::size_t k = 0; k < np; ++k) s.prefix[k + 1] = s.prefix[k] + pos[k].first;
        s.diff.assign(np + 1, 0);
        std::int64_t mined = 0, active = 0;
        double loss = 0;
        // Small classes: the partition points as counts (the predicates are monotone in x_p, so the
        // number of positives where one is false / true is its partition point), accumulated over
        // the positives for all negatives at once in branch-free loops the compiler vectorises;
        // large classes: binary search per negative.
        const std::size_t nn = s.neg.size();
        const bool linear = np <= 48;  // measured at 1024 x 128, 16 per class: 45 against 50 ms
        s.buf.resize(np);
        for (std::size_t k = 0; k < np; ++k) s.buf[k] = pos[k].first;
        const double* px = s.buf.data();
        if (linear) {
            s.xn.resize(nn);
            s.c_lo.assign(nn, 0);
            s.c_up.assign(nn, 0);
            s.c_act.assign(nn, 0);
            for (std::size_t q = 0; q < nn; ++q) s.xn[q] = s.neg[q].first;
            const double* xn = s.xn.data();
            double *cl = s.c_lo.data(), *cu = s.c_up.data(), *ca = s.c_act.data();
            for (std::size_t k = 0; k < np; ++k) {
                const double p = px[k];
                if (has_lower)
                    for (std::size_t q = 0; q < nn; ++q) cl[q] += double((xn[q] - p) > lower);
                if (has_upper)
                    for (std::size_t q = 0; q < nn; ++q) cu[q] += double((xn[q] - p) > upper);  // = !(m <= upper): values are finite
                for (std::size_t q = 0; q < nn; ++q) ca[q] += double(((p - xn[q]) + margin) <= 0);
            }
        }
        for (std::size_t qi = 0; qi < nn; ++qi) {
            const auto& q = s.neg[qi];
            const double xn = q.first;
            std::size_t k1 = np, km = 0, ka;
            if (linear) {
                if (has_lower) k1 = std::size_t(s.c_lo[qi]);
                if (has_upper) km = std::min(std::size_t(s.c_up[qi]), k1);
                ka = std::min(std::max(std::size_t(s.c_act[qi]), km), k1);
            } else {
                if (has_lower) k1 = prefix_length(px, np, [&](double x) { return (xn - x) > lower; });
                if (has_upper) km = std::min(prefix_length(px, np, [&](double x) { return (xn - x) > upper; }), k1);
                ka = std::min(std::max(prefix_length(px, np, [&](double x) { return ((x - xn) + margin) <= 0; }), km), k1);
            }
            if (k1 > km) mined += std::int64_t(k1 - km);
            if (k1 <= ka) continue;
            const std::int64_t c = std::int64_t(k1 - ka);
            active += c;
            loss += (s.prefix[k1] - s.prefix[ka]) - double(c) * (xn - margin);
            s.diff[ka] += 1;
            s.diff[k1] -= 1;
            row[q.second] = coef(euclid, -double(c), xn);
        }
        std::int64_t run = 0;
        for (std::size_t k = 0; k < np; ++k) {
            run += s.diff[k];
            if (run) row[pos[k].second] = coef(euclid, double(run), pos[k].first);
        }
        r.loss[0] = loss;
        r.count[0] = active;
        r.count[1] = mined;
        return r;
    };
    RowStats tot = sweep_rows(b, nt, row_fn);
    if (miner == TripletMiner::none) {  // no miner: every triplet (a, p, n) is "mined"
        tot.count[1] = 0;
        // sum over anchors of n_pos(a) * n_neg(a), from the class sizes
        std::vector<std::int64_t> lab(labels, labels + b.n);
        std::sort(lab.begin(), lab.end());
        for (std::size_t i = 0; i < lab.size();) {
            std::size_t j = i;
            while (j < lab.size() && lab[j] == lab[i]) ++j;
            const std::int64_t c = std::int64_t(j - i);
            tot.count[1] += c * (c - 1) * (std::int64_t(b.n) - c);
            i = j;
        }
    }
    EmbeddingLossResult res;
    res.count[0] = tot.count[0];
    res.count[1] = tot.count[1];
    const double scale = tot.count[0] > 0 ? 1.0 / double(tot.count[0]) : 0.0;
    res.loss = tot.loss[0] * scale;
    finish(b, labels, scale, scale, G, nt);
    return res;
}

template <class T>
EmbeddingLossResult contrastive_loss(MatrixView<T> Z, const std::int64_t* labels, EmbeddingDistance dist,
                                     bool normalize, double pos_margin, double neg_margin, T* G, int n_threads) {
    const int nt = threads_of(n_threads);
    Batch<T> b;
    prepare(Z, dist, normalize, nt, b);
    const bool euclid = b.euclid;
    auto row_fn = [&](index_t a, T* row, Scratch&) -> RowStats {
        RowStats r;
        const std::int64_t la = labels[a];
        for (index_t j = 0; j < b.n; ++j) {
            const double v = row[j];
            row[j] = T(0);
            if (j == a) continue;
            if (labels[j] == la) {  // PML pos_calc: relu(d - pos_margin), cosine relu(pos_margin - s)
                const double l = euclid ? v - pos_margin : pos_margin - v;
                if (l > 0) {
                    r.loss[0] += l;
                    r.count[0] += 1;
                    row[j] = euclid ? (v > 0 ? 1.0 / v : 0.0) : -1.0;
                }
            } else {  // PML neg_calc: relu(neg_margin - d), cosine relu(s - neg_margin)
                const double l = euclid ? neg_margin - v : v - neg_margin;
                if (l > 0) {
                    r.loss[1] += l;
                    r.count[1] += 1;
                    row[j] = euclid ? (v > 0 ? -1.0 / v : 0.0) : 1.0;
                }
            }
        }
        return r;
    };
    const RowStats tot = sweep_rows(b, nt, row_fn);
    const double sp = tot.count[0] > 0 ? 1.0 / double(tot.count[0]) : 0.0;
    const double sn = tot.count[1] > 0 ? 1.0 / double(tot.count[1]) : 0.0;
    EmbeddingLossResult res;
    res.loss = tot.loss[0] * sp + tot.loss[1] * sn;
    res.count[0] = tot.count[0];
    res.count[1] = tot.count[1];
    finish(b, labels, sp, sn, G, nt);
    return res;
}

template <class T>
EmbeddingLossResult multi_similarity_loss(MatrixView<T> Z, const std::int64_t* labels, EmbeddingDistance dist,
                                          bool normalize, double alpha, double beta, double base, T* G,
                                          int n_threads) {
    const int nt = threads_of(n_threads);
    Batch<T> b;
    prepare(Z, dist, normalize, nt, b);
    const bool euclid = b.euclid;
    const KernelTable<double>& kd = active_kernels<double>();
    // dense class codes 0 .. C-1 as doubles (exact), so the row loops compare in SIMD registers
    std::vector<std::int64_t> uniq(labels, labels + b.n);
    std::sort(uniq.begin(), uniq.end());
    uniq.erase(std::unique(uniq.begin(), uniq.end()), uniq.end());
    std::vector<double> code(size_t(b.n));
    std::vector<std::int64_t> class_size(uniq.size(), 0);
    for (index_t i = 0; i < b.n; ++i) {
        const std::size_t c = std::size_t(std::lower_bound(uniq.begin(), uniq.end(), labels[i]) - uniq.begin());
        code[size_t(i)] = double(c);
        class_size[c] += 1;
    }
    // Per row, branch-free over the whole row (masks instead of gathers, so the loops vectorise):
    // t_j = alpha * pos_exp_j (positives) or beta * neg_exp_j (negatives), PML's pos_exp =
    // margin(mat, base), neg_exp = margin(base, mat); each side's (1/w) log(1 + sum exp(t)) with its
    // largest exponent (0 for the "+1") taken out, and the weights exp(t_j) / (1 + sum).
    auto row_fn = [&](index_t a, T* row, Scratch& s) -> RowStats {
        RowStats r;
        const index_t n = b.n;
        const double la = code[size_t(a)];
        const double* lab = code.data();
        s.xn.resize(size_t(n));
        s.buf.resize(size_t(n));
        s.c_lo.resize(size_t(n));
        s.c_up.resize(size_t(n));
        double *dist = s.xn.data(), *t = s.buf.data(), *mp = s.c_lo.data(), *mn = s.c_up.data();
        // pos_exp = sg (v - base) (base - v = -(v - base) exactly), neg_exp = -pos_exp; the weight
        // alpha or -beta is selected arithmetically (exact), so the loop has no branch
        const double sg = euclid ? 1.0 : -1.0;
        for (index_t j = 0; j < n; ++j) {
            const double v = double(row[j]);
            dist[j] = v;
            const double same = double(lab[j] == la);
            mp[j] = same;
            mn[j] = 1.0 - same;
            t[j] = (sg * (v - base)) * (same * alpha - (1.0 - same) * beta);
        }
        mp[a] = 0.0;
        t[a] = 0.0;
        const std::int64_t np = class_size[size_t(la)] - 1, nn = n - class_size[size_t(la)];
        double mx_p = 0, mx_n = 0;
        for (index_t j = 0; j < n; ++j) {
            mx_p = std::max(mx_p, mp[j] > 0 ? t[j] : 0.0);
            mx_n = std::max(mx_n, mn[j] > 0 ? t[j] : 0.0);
        }
        for (index_t j = 0; j < n; ++j) t[j] -= mp[j] > 0 ? mx_p : mx_n;
        t[a] = -1.0;
        kd.exp_scaled(t, n, 1.0);
        double sp = 0, sn = 0;
        for (index_t j = 0; j < n; ++j) {
            sp += mp[j] * t[j];
            sn += mn[j] * t[j];
        }
        sp += std::exp(-mx_p);
        sn += std::exp(-mx_n);
        if (np > 0) r.loss[0] += (mx_p + std::log(sp)) / alpha;
        if (nn > 0) r.loss[0] += (mx_n + std::log(sn)) / beta;
        // d(loss)/d(pos_exp) = weight: dloss/dD = +w_p, -w_n (euclidean); dloss/dS = -w_p, +w_n
        const double ip = 1.0 / sp, in = 1.0 / sn;
        for (index_t j = 0; j < n; ++j) {
            const double w = t[j] * (mp[j] * ip - mn[j] * in);  // signed: + positives, - negatives
            double c;
            if (euclid)
                c = dist[j] > 0 ? w / dist[j] : 0.0;
            else
                c = -w;
            row[j] = T(c);
        }
        row[a] = T(0);
        r.count[0] = np;
        r.count[1] = nn;
        return r;
    };
    const RowStats tot = sweep_rows(b, nt, row_fn);
    const double scale = 1.0 / double(b.n);  // MeanReducer over the n rows
    EmbeddingLossResult res;
    res.loss = tot.loss[0] * scale;
    res.count[0] = tot.count[0];
    res.count[1] = tot.count[1];
    finish(b, labels, scale, scale, G, nt);
    return res;
}

#define FM_EMB_INSTANTIATE(T)                                                                                      \
    template EmbeddingLossResult triplet_margin_loss<T>(MatrixView<T>, const std::int64_t*, EmbeddingDistance, bool, \
                                                        double, TripletMiner, double, T*, int);                    \
    template EmbeddingLossResult contrastive_loss<T>(MatrixView<T>, const std::int64_t*, EmbeddingDistance, bool,    \
                                                     double, double, T*, int);                                     \
    template EmbeddingLossResult multi_similarity_loss<T>(MatrixView<T>, const std::int64_t*, EmbeddingDistance,     \
                                                          bool, double, double, double, T*, int);
FM_EMB_INSTANTIATE(float)
FM_EMB_INSTANTIATE(double)
#undef FM_EMB_INSTANTIATE

}  // namespace learn
}  // namespace fastmetric
