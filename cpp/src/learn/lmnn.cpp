// LMNN loss and gradient from the active triplets: see fastmetric/learn/lmnn.hpp.
#include "fastmetric/learn/lmnn.hpp"

#include <algorithm>
#include <limits>
#include <stdexcept>
#include <vector>

#include "fastmetric/engine.hpp"

namespace fastmetric {
namespace learn {
namespace {

template <class T>
double sq_dist(const T* a, const T* b, index_t k) {
    double s = 0;
    for (index_t c = 0; c < k; ++c) {
        const double t = double(a[c]) - double(b[c]);
        s += t * t;
    }
    return s;
}

template <class F>
void parallel_rows(index_t n, int nt, F&& f) {
    parallel_for_dynamic(n > 256 ? nt : 1, n, 64, [&](int, index_t i) { f(i); });
}

}  // namespace

template <class T>
LmnnResult lmnn_loss_grad(MatrixView<T> X, MatrixView<T> Z, const std::int64_t* targets, std::int64_t n_targets,
                          const std::int64_t* cand_offsets, const std::int64_t* cand_idx, double pull_weight,
                          double* grad, int n_threads, BtXWorkspace& ws, const double* row_weight,
                          double* coef) {
    const index_t n = X.rows, k = Z.cols, kt = n_targets;
    if (Z.rows != n) throw std::invalid_argument("lmnn: Z must have one row per sample");
    if (Z.col_stride != 1) throw std::invalid_argument("lmnn: Z must have contiguous rows");
    if (cand_offsets[0] != 0) throw std::invalid_argument("lmnn: candidate offsets must start at 0");
    for (index_t i = 0; i < n; ++i) {
        if (cand_offsets[i + 1] < cand_offsets[i]) throw std::invalid_argument("lmnn: candidate offsets must not decrease");
        for (index_t t = 0; t < kt; ++t) {
            const std::int64_t j = targets[i * kt + t];
            if (j >= n || j == i) throw std::invalid_argument("lmnn: target neighbour index out of range");
        }
    }
    const index_t nnz = cand_offsets[n];
    for (index_t e = 0; e < nnz; ++e)
        if (cand_idx[e] < 0 || cand_idx[e] >= n) throw std::invalid_argument("lmnn: candidate index out of range");
    const int nt = resolve_threads(n_threads);
    const double mu = pull_weight, nu = 1.0 - pull_weight;

    // 1. per row: target distances, active triplets, pair weights, loss terms
    std::vector<double> wt(size_t(n * kt), 0.0), wc(size_t(nnz), 0.0), pull_i(size_t(n), 0.0), push_i(size_t(n), 0.0);
    std::vector<std::int64_t> act_i(size_t(n), 0);
    parallel_rows(n, nt, [&](index_t i) {
        const T* zi = Z.row(i);
        double dt[64];
        std::vector<double> dt_heap;
        double* dtp = dt;
        if (kt > 64) {
            dt_heap.resize(size_t(kt));
            dtp = dt_heap.data();
        }
        // anchor i's terms (its pulls and the triplets it anchors) carry its weight
        const double wi = row_weight ? row_weight[i] : 1.0, mu_i = mu * wi, nu_i = nu * wi;
        double pull = 0;
        for (index_t t = 0; t < kt; ++t) {
            const std::int64_t j = targets[i * kt + t];
            dtp[t] = j < 0 ? -1.0 : sq_dist(zi, Z.row(j), k);
            if (j >= 0) {
                pull += dtp[t];
                wt[size_t(i * kt + t)] = mu_i;
            }
        }
        double push = 0;
        std::int64_t act = 0;
        for (index_t e = cand_offsets[i]; e < cand_offsets[i + 1]; ++e) {
            const double dl = sq_dist(zi, Z.row(cand_idx[e]), k);
            int cnt = 0;
            for (index_t t = 0; t < kt; ++t) {
                if (targets[i * kt + t] < 0) continue;
                const double h = 1.0 + dtp[t] - dl;
                if (h > 0) {
                    push += h;
                    ++cnt;
                    wt[size_t(i * kt + t)] += nu_i;
                }
            }
            wc[size_t(e)] = -nu_i * cnt;
            act += cnt;
        }
        pull_i[size_t(i)] = row_weight ? wi * pull : pull;
        push_i[size_t(i)] = row_weight ? wi * push : push;
        act_i[size_t(i)] = act;
    });

    // 2. incoming pairs of every row, by a stable counting sort in row order
    std::vector<index_t> in_off(size_t(n + 1), 0);
    for (index_t i = 0; i < n; ++i) {
        for (index_t t = 0; t < kt; ++t) {
            const std::int64_t j = targets[i * kt + t];
            if (j >= 0) ++in_off[size_t(j + 1)];
        }
        for (index_t e = cand_offsets[i]; e < cand_offsets[i + 1]; ++e)
            if (wc[size_t(e)] != 0.0) ++in_off[size_t(cand_idx[e] + 1)];
    }
    for (index_t r = 0; r < n; ++r) in_off[size_t(r + 1)] += in_off[size_t(r)];
    const size_t n_in = static_cast<size_t>(in_off[size_t(n)]);
    std::vector<index_t> in_src(n_in);
    std::vector<double> in_w(n_in);
    {
        std::vector<index_t> fill(in_off.begin(), in_off.end() - 1);
        for (index_t i = 0; i < n; ++i) {
            for (index_t t = 0; t < kt; ++t) {
                const std::int64_t j = targets[i * kt + t];
                if (j < 0) continue;
                const index_t pos = fill[size_t(j)]++;
                in_src[size_t(pos)] = i;
                in_w[size_t(pos)] = wt[size_t(i * kt + t)];
            }
            for (index_t e = cand_offsets[i]; e < cand_offsets[i + 1]; ++e) {
                if (wc[size_t(e)] == 0.0) continue;
                const index_t pos = fill[size_t(cand_idx[e])]++;
                in_src[size_t(pos)] = i;
                in_w[size_t(pos)] = wc[size_t(e)];
            }
        }
    }

    // 3. u_r = sum_out w (z_r - z_q) + sum_in w (z_r - z_p)
    std::vector<double> U(size_t(n * k), 0.0);
    parallel_rows(n, nt, [&](index_t r) {
        const T* zr = Z.row(r);
        double* u = U.data() + r * k;
        double wsum = 0;
        auto add = [&](index_t q, double w) {
            const T* zq = Z.row(q);
            wsum += w;
            for (index_t c = 0; c < k; ++c) u[c] -= w * double(zq[c]);
        };
        for (index_t t = 0; t < kt; ++t) {
            const std::int64_t j = targets[r * kt + t];
            if (j >= 0) add(j, wt[size_t(r * kt + t)]);
        }
        for (index_t e = cand_offsets[r]; e < cand_offsets[r + 1]; ++e)
            if (wc[size_t(e)] != 0.0) add(cand_idx[e], wc[size_t(e)]);
        for (index_t e = in_off[size_t(r)]; e < in_off[size_t(r + 1)]; ++e) add(in_src[size_t(e)], in_w[size_t(e)]);
        for (index_t c = 0; c < k; ++c) u[c] += wsum * double(zr[c]);
    });

    // 4. grad = 2 U^T X
    if (coef) std::copy(U.begin(), U.end(), coef);
    if (grad) scaled_bt_x<T>(U.data(), k, X, 2.0, grad, nt, ws);

    LmnnResult res;
    for (index_t i = 0; i < n; ++i) {
        res.pull += pull_i[size_t(i)];
        res.push += push_i[size_t(i)];
        res.n_active += act_i[size_t(i)];
    }
    res.loss = mu * res.pull + nu * res.push;
    return res;
}

template <class T>
void lmnn_margins(MatrixView<T> Z, const std::int64_t* targets, std::int64_t n_targets, double* margin,
                  int n_threads) {
    const index_t n = Z.rows, k = Z.cols, kt = n_targets;
    for (index_t i = 0; i < n * kt; ++i)
        if (targets[i] >= n) throw std::invalid_argument("lmnn: target neighbour index out of range");
    parallel_rows(n, resolve_threads(n_threads), [&](index_t i) {
        double m = -std::numeric_limits<double>::infinity();
        for (index_t t = 0; t < kt; ++t) {
            const std::int64_t j = targets[i * kt + t];
            if (j >= 0) m = std::max(m, sq_dist(Z.row(i), Z.row(j), k) + 1.0);
        }
        margin[i] = m;
    });
}

void lmnn_candidates_csr(std::int64_t n, const std::int64_t* rows, const std::int64_t* hits, std::int64_t n_pairs,
                         const std::int64_t* labels, std::vector<std::int64_t>& cand_offsets,
                         std::vector<std::int64_t>& cand_idx) {
    cand_offsets.assign(size_t(n + 1), 0);
    for (index_t e = 0; e < n_pairs; ++e) {
        const std::int64_t r = rows[e], h = hits[e];
        if (r < 0 || r >= n || h < 0 || h >= n) throw std::invalid_argument("lmnn: search hit index out of range");
        if (labels[r] != labels[h]) ++cand_offsets[size_t(r + 1)];
    }
    for (index_t r = 0; r < n; ++r) cand_offsets[size_t(r + 1)] += cand_offsets[size_t(r)];
    cand_idx.resize(size_t(cand_offsets[size_t(n)]));
    std::vector<std::int64_t> fill(cand_offsets.begin(), cand_offsets.end() - 1);
    for (index_t e = 0; e < n_pairs; ++e) {
        const std::int64_t r = rows[e], h = hits[e];
        if (labels[r] != labels[h]) cand_idx[size_t(fill[size_t(r)]++)] = h;
    }
}

template void lmnn_margins<float>(MatrixView<float>, const std::int64_t*, std::int64_t, double*, int);
template void lmnn_margins<double>(MatrixView<double>, const std::int64_t*, std::int64_t, double*, int);

template LmnnResult lmnn_loss_grad<float>(MatrixView<float>, MatrixView<float>, const std::int64_t*, std::int64_t,
                                          const std::int64_t*, const std::int64_t*, double, double*, int,
                                          BtXWorkspace&, const double*, double*);
template LmnnResult lmnn_loss_grad<double>(MatrixView<double>, MatrixView<double>, const std::int64_t*, std::int64_t,
                                           const std::int64_t*, const std::int64_t*, double, double*, int,
                                           BtXWorkspace&, const double*, double*);

}  // namespace learn
}  // namespace fastmetric
