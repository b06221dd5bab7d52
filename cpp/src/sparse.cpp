// Sparse pairwise metrics / kernels / k-NN (see fastmetric/sparse.hpp).
#include "fastmetric/sparse.hpp"

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "fastmetric/engine.hpp"
#include "fastmetric/parallel.hpp"

namespace fastmetric {
namespace sparse {
namespace {

bool is_l1(Op op) { return op == Op::cityblock; }
bool is_cos(Op op) { return op == Op::cosine || op == Op::cosine_similarity; }

// Per-row statistic: |x|^2 (squared ops), |x| (cosine), sum |x| (cityblock), unused otherwise.
template <class T>
std::vector<T> row_stats(const Csr& A, const T* ad, Op op) {
    std::vector<T> s(size_t(A.rows), T(0));
    for (index_t i = 0; i < A.rows; ++i) {
        double acc = 0;
        for (std::int64_t q = A.ptr[i]; q < A.ptr[i + 1]; ++q) {
            const double v = double(ad[q]);
            acc += is_l1(op) ? std::fabs(v) : v * v;
        }
        s[size_t(i)] = T(is_cos(op) ? std::sqrt(acc) : acc);
    }
    return s;
}

// Exact merges of two sorted rows (the recompute path of cancelling pairs).
template <class T>
double merge_exact(const Csr& X, const T* xd, index_t i, const Csr& Y, const T* yd, index_t j, Op op, double sx,
                   double sy) {
    std::int64_t a = X.ptr[i], ae = X.ptr[i + 1], b = Y.ptr[j], be = Y.ptr[j + 1];
    const double ux = is_cos(op) ? (sx > 0 ? 1.0 / sx : 0.0) : 1.0;
    const double uy = is_cos(op) ? (sy > 0 ? 1.0 / sy : 0.0) : 1.0;
    double acc = 0;
    auto add = [&](double diff) { acc += is_l1(op) ? std::fabs(diff) : diff * diff; };
    while (a < ae || b < be) {
        if (b >= be || (a < ae && X.idx[a] < Y.idx[b])) {
            add(double(xd[a++]) * ux);
        } else if (a >= ae || Y.idx[b] < X.idx[a]) {
            add(-double(yd[b++]) * uy);
        } else {
            add(double(xd[a++]) * ux - double(yd[b++]) * uy);
        }
    }
    return is_cos(op) ? acc / 2 : acc;  // 1 - cos = |x^ - y^|^2 / 2
}

template <class T>
struct Finisher {
    const Csr &X, &Y;
    const T *xd, *yd;
    const Params& p;
    const std::vector<T>&xs, &ys;
    T tau;

    // acc: the accumulated dot product (or the L1 overlap correction) of (i, j).
    T operator()(index_t i, index_t j, T acc) const {
        const T sx = xs[size_t(i)], sy = ys[size_t(j)];
        switch (p.op) {
            case Op::linear:
                return acc;
            case Op::polynomial:
                return T(std::pow(p.gamma * double(acc) + p.coef0, p.degree));
            case Op::sigmoid:
                return T(std::tanh(p.gamma * double(acc) + p.coef0));
            case Op::cosine_similarity:
                return (sx > 0 && sy > 0) ? T(acc / sx / sy) : T(0);
            case Op::cosine: {
                if (p.zero_diagonal && i == j) return T(0);
                if (!(sx > 0 && sy > 0)) return T(1);
                T d = T(1) - acc / sx / sy;
                if (d < tau) d = T(merge_exact(X, xd, i, Y, yd, j, p.op, sx, sy));
                return std::min(std::max(d, T(0)), T(2));
            }
            case Op::cityblock: {
                if (p.zero_diagonal && i == j) return T(0);
                const T s = sx + sy;
                T d = s - acc;
                if (d < tau * s) d = T(merge_exact(X, xd, i, Y, yd, j, p.op, sx, sy));
                return std::max(d, T(0));
            }
            default: {  // squared ops
                T d2;
                if (p.zero_diagonal && i == j) {
                    d2 = T(0);
                } else {
                    const T s = sx + sy;
                    d2 = s - T(2) * acc;
                    if (d2 < tau * s) d2 = T(merge_exact(X, xd, i, Y, yd, j, p.op, sx, sy));
                    d2 = std::max(d2, T(0));
                }
                if (p.op == Op::sqeuclidean) return d2;
                if (p.op == Op::euclidean) return std::sqrt(d2);
                return T(std::exp(-p.gamma * double(d2)));
            }
        }
    }
};

// Scatter query row i against the inverted index of the references into acc[0..m).
template <class T>
void scatter_row(const Csr& X, const T* xd, index_t i, const Csr& Yt, const T* ytd, Op op, T* acc) {
    for (std::int64_t q = X.ptr[i]; q < X.ptr[i + 1]; ++q) {
        const std::int32_t c = X.idx[q];
        const T v = xd[q];
        const std::int64_t b = Yt.ptr[c], e = Yt.ptr[c + 1];
        const std::int32_t* rows = Yt.idx;
        if (is_l1(op)) {
            const T av = std::fabs(v);
            for (std::int64_t r = b; r < e; ++r) {
                const T w = ytd[r];
                acc[rows[r]] += av + std::fabs(w) - std::fabs(v - w);
            }
        } else {
            for (std::int64_t r = b; r < e; ++r) acc[rows[r]] += v * ytd[r];
        }
    }
}

constexpr index_t kRowsPerChunk = 8;  // query rows per dynamic chunk
constexpr index_t kRefBlock = 16;     // pairwise_by_references: references per tile (one line of floats a row)

}  // namespace

template <class T>
void pairwise(const Csr& X, const T* xd, const Csr& Y, const T* yd, const Csr& Yt, const T* ytd, const Params& p,
              T* out, int n_threads) {
    const std::vector<T> xs = row_stats(X, xd, p.op), ys = row_stats(Y, yd, p.op);
    const Finisher<T> fin{X, Y, xd, yd, p, xs, ys, cancellation_threshold<T>(X.cols)};
    const index_t m = Y.rows;
    // cosine_similarity: a product with the precomputed inverse norms (0 for a zero row), in a loop
    // the compiler vectorises; linear needs no finishing at all
    std::vector<T> inv_y;
    if (p.op == Op::cosine_similarity) {
        inv_y.resize(size_t(m));
        for (index_t j = 0; j < m; ++j) inv_y[size_t(j)] = ys[size_t(j)] > 0 ? T(1) / ys[size_t(j)] : T(0);
    }
    parallel_for_dynamic(n_threads, X.rows, kRowsPerChunk, [&](int, index_t i) {
        T* row = out + i * m;
        std::fill(row, row + m, T(0));
        scatter_row(X, xd, i, Yt, ytd, p.op, row);
        if (p.op == Op::linear) return;
        if (p.op == Op::cosine_similarity) {
            const T ix = xs[size_t(i)] > 0 ? T(1) / xs[size_t(i)] : T(0);
            const T* iy = inv_y.data();
            for (index_t j = 0; j < m; ++j) row[j] = row[j] * ix * iy[j];
            return;
        }
        for (index_t j = 0; j < m; ++j) row[j] = fin(i, j, row[j]);
    });
}

template <class T>
void pairwise_by_references(const Csr& X, const T* xd, const Csr& Y, const T* yd, const Csr& Xt, const T* xtd,
                            const Params& p, T* out, int n_threads) {
    const std::vector<T> xs = row_stats(X, xd, p.op), ys = row_stats(Y, yd, p.op);
    const Finisher<T> fin{X, Y, xd, yd, p, xs, ys, cancellation_threshold<T>(X.cols)};
    const index_t n = X.rows, m = Y.rows;
    std::vector<T> inv_x, inv_y;  // cosine_similarity: the same products as pairwise()'s
    if (p.op == Op::cosine_similarity) {
        inv_x.resize(size_t(n));
        inv_y.resize(size_t(m));
        for (index_t i = 0; i < n; ++i) inv_x[size_t(i)] = xs[size_t(i)] > 0 ? T(1) / xs[size_t(i)] : T(0);
        for (index_t j = 0; j < m; ++j) inv_y[size_t(j)] = ys[size_t(j)] > 0 ? T(1) / ys[size_t(j)] : T(0);
    }
    const index_t n_blocks = (m + kRefBlock - 1) / kRefBlock;
    const int nt = std::max(1, n_threads);
    std::vector<std::vector<T>> tiles(static_cast<size_t>(nt));
    parallel_for_dynamic(nt, n_blocks, 1, [&](int tid, index_t blk) {
        const index_t j0 = blk * kRefBlock, j1 = std::min(m, j0 + kRefBlock), nj = j1 - j0;
        std::vector<T>& acc = tiles[size_t(tid)];
        acc.assign(size_t(n * kRefBlock), T(0));
        for (index_t j = j0; j < j1; ++j) {
            T* col = acc.data() + (j - j0);
            for (std::int64_t e = Y.ptr[j]; e < Y.ptr[j + 1]; ++e) {
                const std::int32_t c = Y.idx[e];
                const T w = yd[e];
                if (is_l1(p.op)) {
                    const T aw = std::fabs(w);
                    for (std::int64_t r = Xt.ptr[c]; r < Xt.ptr[c + 1]; ++r) {
                        const T v = xtd[r];
                        col[Xt.idx[r] * kRefBlock] += std::fabs(v) + aw - std::fabs(v - w);
                    }
                } else {
                    for (std::int64_t r = Xt.ptr[c]; r < Xt.ptr[c + 1]; ++r) col[Xt.idx[r] * kRefBlock] += xtd[r] * w;
                }
            }
        }
        for (index_t i = 0; i < n; ++i) {
            const T* a = acc.data() + i * kRefBlock;
            T* o = out + i * m + j0;
            if (p.op == Op::linear) {
                for (index_t t = 0; t < nj; ++t) o[t] = a[t];
            } else if (p.op == Op::cosine_similarity) {
                const T ix = inv_x[size_t(i)];
                for (index_t t = 0; t < nj; ++t) o[t] = a[t] * ix * inv_y[size_t(j0 + t)];
            } else {
                for (index_t t = 0; t < nj; ++t) o[t] = fin(i, j0 + t, a[t]);
            }
        }
    });
}

template <class T>
void kneighbors(const Csr& X, const T* xd, const Csr& Y, const T* yd, const Csr& Yt, const T* ytd, const Params& p,
                index_t k, bool exclude_self, T* dist, std::int64_t* ind, int n_threads) {
    const std::vector<T> xs = row_stats(X, xd, p.op), ys = row_stats(Y, yd, p.op);
    const Finisher<T> fin{X, Y, xd, yd, p, xs, ys, cancellation_threshold<T>(X.cols)};
    const index_t m = Y.rows;
    const int nt = std::max(1, std::min<int>(n_threads, int(std::max<index_t>(X.rows, 1))));
    std::vector<std::vector<T>> bufs(static_cast<size_t>(nt), std::vector<T>(static_cast<size_t>(m)));
    std::vector<std::vector<std::pair<T, std::int64_t>>> heaps(static_cast<size_t>(nt));
    parallel_for_dynamic(nt, X.rows, 1, [&](int tid, index_t i) {
        T* acc = bufs[size_t(tid)].data();
        std::fill(acc, acc + m, T(0));
        scatter_row(X, xd, i, Yt, ytd, p.op, acc);
        auto& h = heaps[size_t(tid)];
        h.clear();
        // a max-heap on (distance, index): the worst kept neighbour on top
        for (index_t j = 0; j < m; ++j) {
            if (exclude_self && j == i) continue;
            const T d = fin(i, j, acc[j]);
            if (index_t(h.size()) < k) {
                h.emplace_back(d, j);
                std::push_heap(h.begin(), h.end());
            } else if (d < h.front().first) {  // j is larger than every kept index: ties keep the old
                std::pop_heap(h.begin(), h.end());
                h.back() = {d, j};
                std::push_heap(h.begin(), h.end());
            }
        }
        std::sort_heap(h.begin(), h.end());
        for (index_t t = 0; t < k; ++t) {
            dist[i * k + t] = h[size_t(t)].first;
            ind[i * k + t] = h[size_t(t)].second;
        }
    });
}

template void pairwise<float>(const Csr&, const float*, const Csr&, const float*, const Csr&, const float*,
                              const Params&, float*, int);
template void pairwise<double>(const Csr&, const double*, const Csr&, const double*, const Csr&, const double*,
                               const Params&, double*, int);
template void pairwise_by_references<float>(const Csr&, const float*, const Csr&, const float*, const Csr&,
                                           const float*, const Params&, float*, int);
template void pairwise_by_references<double>(const Csr&, const double*, const Csr&, const double*, const Csr&,
                                            const double*, const Params&, double*, int);
template void kneighbors<float>(const Csr&, const float*, const Csr&, const float*, const Csr&, const float*,
                                const Params&, index_t, bool, float*, std::int64_t*, int);
template void kneighbors<double>(const Csr&, const double*, const Csr&, const double*, const Csr&, const double*,
                                 const Params&, index_t, bool, double*, std::int64_t*, int);

}  // namespace sparse
}  // namespace fastmetric
