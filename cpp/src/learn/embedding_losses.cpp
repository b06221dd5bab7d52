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

// U, the row norms and the n x n matrix of distances (euclidean) or similarities (cosine).
struct Batch {
    index_t n = 0, d = 0;
    bool euclid = true, normalize = true;
    std::vector<double> U, norm;
    std::unique_ptr<double[]> M;  // n x n, every entry written by the engine (no zero fill)
};

template <class T>
void prepare(MatrixView<T> Z, EmbeddingDistance dist, bool normalize, int nt, Batch& b) {
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
    Problem<double> pb;
    MatrixView<double> uv;
    uv.data = b.U.data();
    uv.rows = n;
    uv.cols = d;
    uv.row_stride = d;
    uv.col_stride = 1;
    pb.x.m = pb.y.m = uv;
    pb.symmetric = true;
    pb.n_threads = nt;
    std::vector<double> sq;
    if (b.euclid) {
        pb.reduce = Reduce::sq_dot;
        pb.post = Post::sqrt;
        pb.zero_diagonal = true;
        sq.resize(size_t(n));
        row_sq_norms(pb.x, sq.data(), nt);
        pb.x.sq_norms = pb.y.sq_norms = sq.data();
    } else {
        pb.reduce = Reduce::dot;
    }
    b.M.reset(new double[size_t(n * n)]);
    pairwise_dense(pb, b.M.get(), n);
}

struct RowStats {
    double loss[2] = {0, 0};
    std::int64_t count[2] = {0, 0};
};

// Per-thread scratch, sized before the parallel region.
struct Scratch {
    std::vector<std::pair<double, index_t>> pos, neg;
    std::vector<double> prefix, buf;
    std::vector<std::int64_t> diff;
    void reserve(index_t n) {
        pos.reserve(size_t(n));
        neg.reserve(size_t(n));
        prefix.reserve(size_t(n + 1));
        buf.reserve(size_t(n));
        diff.reserve(size_t(n + 1));
    }
};

// Row a of M: split into positives and negatives as (x, j), x = distance (euclidean) or -similarity
// (cosine), so that "smaller x = closer" for both; the row is then zeroed for the coefficients.
void split_row(const Batch& b, const std::int64_t* labels, index_t a, double* row, Scratch& s) {
    s.pos.clear();
    s.neg.clear();
    const std::int64_t la = labels[a];
    for (index_t j = 0; j < b.n; ++j) {
        if (j == a) continue;
        const double x = b.euclid ? row[j] : -row[j];
        (labels[j] == la ? s.pos : s.neg).emplace_back(x, j);
    }
    std::fill(row, row + b.n, 0.0);
}

// The coefficient stored for a pair: dloss/dx turned into dloss/dD / D (euclidean, 0 at D = 0) or
// dloss/dS = -dloss/dx (cosine).
inline double coef(bool euclid, double dloss_dx, double x) {
    if (euclid) return x > 0 ? dloss_dx / x : 0.0;
    return -dloss_dx;
}

// Runs fn(a, row, scratch) -> RowStats on every anchor and adds the stats in anchor order.
template <class F>
RowStats sweep_rows(Batch& b, int nt, F&& fn) {
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
void finish(Batch& b, const std::int64_t* labels, double s_same, double s_diff, T* G, int nt) {
    const index_t n = b.n, d = b.d;
    double* M = b.M.get();
    constexpr index_t B = 64;
    const index_t nb = (n + B - 1) / B;
    // block (I, J), I <= J, touches only M[I rows][J cols] and M[J rows][I cols]: disjoint over I
    parallel_for_dynamic(nt, nb, 1, [&](int, index_t I) {
        const index_t i0 = I * B, i1 = std::min(n, i0 + B);
        for (index_t J = I; J < nb; ++J) {
            const index_t j0 = J * B, j1 = std::min(n, j0 + B);
            for (index_t i = i0; i < i1; ++i) {
                double* ri = M + i * n;
                for (index_t j = std::max(j0, i + 1); j < j1; ++j) {
                    const double v = (ri[j] + M[j * n + i]) * (labels[i] == labels[j] ? s_same : s_diff);
                    ri[j] = v;
                    M[j * n + i] = v;
                }
            }
        }
        for (index_t i = i0; i < i1; ++i) M[i * n + i] = 0.0;
    });
    // K U on the engine: rows of K against the rows of U^T (d x n)
    std::vector<double> ut(static_cast<size_t>(d * n)), ku(static_cast<size_t>(n * d));
    for (index_t i = 0; i < n; ++i)
        for (index_t k = 0; k < d; ++k) ut[size_t(k * n + i)] = b.U[size_t(i * d + k)];
    Problem<double> pb;
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
    parallel_for_static(nt, n, [&](int, index_t i) {
        const double* u = b.U.data() + i * d;
        double* g = ku.data() + i * d;
        if (b.euclid) {  // dloss/du_i = sum_j K_ij (u_i - u_j)
            const double* ki = M + i * n;
            double r = 0;
            for (index_t j = 0; j < n; ++j) r += ki[j];
            for (index_t k = 0; k < d; ++k) g[k] = r * u[k] - g[k];
        }
        T* out = G + i * d;
        if (b.normalize) {
            double ug = 0;
            for (index_t k = 0; k < d; ++k) ug += u[k] * g[k];
            const double inv = 1.0 / b.norm[size_t(i)];
            for (index_t k = 0; k < d; ++k) out[k] = T((g[k] - u[k] * ug) * inv);
        } else {
            for (index_t k = 0; k < d; ++k) out[k] = T(g[k]);
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
    Batch b;
    prepare(Z, dist, normalize, nt, b);
    const bool euclid = b.euclid;
    // the miner's window on m = x_n - x_p: lower (strict) and upper (inclusive) bounds
    const bool has_lower = miner == TripletMiner::semihard;
    const double lower = 0.0;
    const bool has_upper = miner == TripletMiner::all || miner == TripletMiner::hard || miner == TripletMiner::semihard;
    const double upper = miner == TripletMiner::hard ? std::min(miner_margin, 0.0) : miner_margin;
    auto row_fn = [&](index_t a, double* row, Scratch& s) -> RowStats {
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
        // negatives that some positive's window can reach (a superset: the predicates decide below)
        double pmin = s.pos[0].first, pmax = pmin, amax = 0;
        for (const auto& p : s.pos) {
            pmin = std::min(pmin, p.first);
            pmax = std::max(pmax, p.first);
            amax = std::max(amax, std::fabs(p.first));
        }
        const double reach = has_upper ? upper : margin;  // largest x_n - x_p that matters
        const double slack = 1e-9 * (1.0 + amax + std::fabs(reach) + std::fabs(margin));
        const double keep_lo = has_lower ? pmin + lower - slack : -std::numeric_limits<double>::infinity();
        const double keep_hi = pmax + reach + slack;
        std::vector<std::pair<double, index_t>>& neg = s.neg;
        std::size_t m = 0;
        for (std::size_t k = 0; k < neg.size(); ++k)
            if (neg[k].first >= keep_lo && neg[k].first <= keep_hi) neg[m++] = neg[k];
        neg.resize(m);
        std::sort(neg.begin(), neg.end());
        s.prefix.assign(m + 1, 0.0);
        for (std::size_t k = 0; k < m; ++k) s.prefix[k + 1] = s.prefix[k] + neg[k].first;
        s.diff.assign(m + 1, 0);
        std::int64_t mined = 0, active = 0;
        double loss = 0;
        for (const auto& p : s.pos) {
            const double xp = p.first;
            // lower predicate (false, then true along the sorted negatives): m = x_n - x_p > 0
            const auto lo_it = !has_lower ? neg.begin()
                                          : std::partition_point(neg.begin(), neg.end(), [&](const auto& q) {
                                                return !((q.first - xp) > lower);
                                            });
            // mined upper predicate (true, then false): m <= upper
            const auto mined_it = !has_upper ? neg.end()
                                             : std::partition_point(lo_it, neg.end(), [&](const auto& q) {
                                                   return (q.first - xp) <= upper;
                                               });
            // positive loss (PML: relu((x_p - x_n) + margin) > 0) among the mined
            const auto act_it = std::partition_point(lo_it, mined_it, [&](const auto& q) {
                return ((xp - q.first) + margin) > 0;
            });
            const std::size_t i0 = std::size_t(lo_it - neg.begin()), ia = std::size_t(act_it - neg.begin());
            mined += std::int64_t(mined_it - lo_it);
            const std::int64_t c = std::int64_t(ia - i0);
            if (c > 0) {
                active += c;
                loss += double(c) * (xp + margin) - (s.prefix[ia] - s.prefix[i0]);
                s.diff[i0] += 1;
                s.diff[ia] -= 1;
                row[p.second] = coef(euclid, double(c), xp);
            }
        }
        std::int64_t run = 0;
        for (std::size_t k = 0; k < m; ++k) {
            run += s.diff[k];
            if (run) row[neg[k].second] = coef(euclid, -double(run), neg[k].first);
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
    Batch b;
    prepare(Z, dist, normalize, nt, b);
    const bool euclid = b.euclid;
    auto row_fn = [&](index_t a, double* row, Scratch&) -> RowStats {
        RowStats r;
        const std::int64_t la = labels[a];
        for (index_t j = 0; j < b.n; ++j) {
            const double v = row[j];
            row[j] = 0.0;
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
    Batch b;
    prepare(Z, dist, normalize, nt, b);
    const bool euclid = b.euclid;
    const KernelTable<double>& kd = active_kernels<double>();
    // one side's (1/w) log(1 + sum_k exp(w e_k)) and its weights exp(w e_k) / (1 + sum) into buf
    auto side = [&](Scratch& s, const std::vector<std::pair<double, index_t>>& v, double w, double& out) {
        const std::size_t c = v.size();
        s.buf.resize(c);
        double mx = 0;  // the "+1" term's exponent
        for (std::size_t k = 0; k < c; ++k) {
            s.buf[k] = w * v[k].first;
            mx = std::max(mx, s.buf[k]);
        }
        for (std::size_t k = 0; k < c; ++k) s.buf[k] -= mx;
        kd.exp_scaled(s.buf.data(), index_t(c), 1.0);
        double sum = std::exp(-mx);
        for (std::size_t k = 0; k < c; ++k) sum += s.buf[k];
        out += (mx + std::log(sum)) / w;
        const double inv = 1.0 / sum;
        for (std::size_t k = 0; k < c; ++k) s.buf[k] *= inv;
    };
    auto row_fn = [&](index_t a, double* row, Scratch& s) -> RowStats {
        RowStats r;
        const std::int64_t la = labels[a];
        s.pos.clear();
        s.neg.clear();
        // exponents before the weight: PML pos_exp = margin(mat, base), neg_exp = margin(base, mat)
        for (index_t j = 0; j < b.n; ++j) {
            if (j == a) continue;
            const double v = row[j];
            if (labels[j] == la)
                s.pos.emplace_back(euclid ? v - base : base - v, j);
            else
                s.neg.emplace_back(euclid ? base - v : v - base, j);
        }
        const double* vals = row;
        std::vector<double>& buf = s.buf;
        // keep the distances for the euclidean coefficients before zeroing the row
        s.prefix.resize(size_t(b.n));
        for (index_t j = 0; j < b.n; ++j) s.prefix[size_t(j)] = vals[j];
        std::fill(row, row + b.n, 0.0);
        if (!s.pos.empty()) {
            side(s, s.pos, alpha, r.loss[0]);
            for (std::size_t k = 0; k < s.pos.size(); ++k) {  // d(loss)/d(pos_exp) = weight
                const index_t j = s.pos[k].second;
                const double dv = s.prefix[size_t(j)];
                row[j] = euclid ? (dv > 0 ? buf[k] / dv : 0.0) : -buf[k];
            }
        }
        if (!s.neg.empty()) {
            side(s, s.neg, beta, r.loss[0]);
            for (std::size_t k = 0; k < s.neg.size(); ++k) {
                const index_t j = s.neg[k].second;
                const double dv = s.prefix[size_t(j)];
                row[j] = euclid ? (dv > 0 ? -buf[k] / dv : 0.0) : buf[k];
            }
        }
        r.count[0] = std::int64_t(s.pos.size());
        r.count[1] = std::int64_t(s.neg.size());
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
