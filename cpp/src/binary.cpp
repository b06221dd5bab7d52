// Drivers of the boolean metrics on packed rows (binary.hpp): tiles of X rows x Y rows on the
// team, the popcount tile kernel of the active ISA, then counts -> distances while in cache.
#include "fastmetric/binary.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>

#include "fastmetric/cpu_features.hpp"
#include "fastmetric/engine.hpp"
#include "fastmetric/parallel.hpp"

namespace fastmetric {

BinaryMetric binary_metric_from_name(const char* name) {
    const std::string s(name);
    if (s == "hamming") return BinaryMetric::hamming;
    if (s == "dice") return BinaryMetric::dice;
    if (s == "jaccard") return BinaryMetric::jaccard;
    if (s == "rogerstanimoto") return BinaryMetric::rogerstanimoto;
    if (s == "russellrao") return BinaryMetric::russellrao;
    if (s == "sokalsneath") return BinaryMetric::sokalsneath;
    if (s == "yule") return BinaryMetric::yule;
    throw std::invalid_argument("unknown boolean metric '" + s + "'");
}

const BinaryKernels& active_binary_kernels() {
#if defined(FASTMETRIC_HAVE_X86_ISAS)
    const std::string isa = isa_name();
    if (isa == "avx512" && cpu_has_avx512_vpopcntdq()) return binary_kernels_avx512();
    if (isa == "avx512" || isa == "avx2") return binary_kernels_avx2();
#endif
    return binary_kernels_generic();
}

namespace {

constexpr index_t kRowBlock = 64;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Distance from the counts of one pair (exact integers; one rounding in the final division).
template <BinaryMetric M>
inline double from_counts(std::int64_t tt, std::int64_t px, std::int64_t py, std::int64_t n) {
    const std::int64_t tf = px - tt, ft = py - tt, diff = tf + ft;
    if constexpr (M == BinaryMetric::hamming) return double(diff) / double(n);
    if constexpr (M == BinaryMetric::dice) return double(diff) / double(2 * tt + diff);  // 0/0 -> NaN
    if constexpr (M == BinaryMetric::jaccard) {
        const std::int64_t den = tt + diff;
        return den != 0 ? double(diff) / double(den) : 0.0;
    }
    if constexpr (M == BinaryMetric::rogerstanimoto) return double(2 * diff) / double(n + diff);
    if constexpr (M == BinaryMetric::russellrao) return double(n - tt) / double(n);
    if constexpr (M == BinaryMetric::sokalsneath) {
        const std::int64_t den = 2 * diff + tt;
        return den != 0 ? double(2 * diff) / double(den) : kNaN;
    }
    if constexpr (M == BinaryMetric::yule) {
        const std::int64_t ff = n - tt - diff;
        const double half_r = double(tf) * double(ft);
        return 2.0 * half_r / (double(tt) * double(ff) + half_r + (half_r == 0 ? 1.0 : 0.0));
    }
    return kNaN;
}

template <class F>
void with_metric(BinaryMetric m, F&& f) {
    switch (m) {
        case BinaryMetric::hamming: f(std::integral_constant<BinaryMetric, BinaryMetric::hamming>{}); break;
        case BinaryMetric::dice: f(std::integral_constant<BinaryMetric, BinaryMetric::dice>{}); break;
        case BinaryMetric::jaccard: f(std::integral_constant<BinaryMetric, BinaryMetric::jaccard>{}); break;
        case BinaryMetric::rogerstanimoto:
            f(std::integral_constant<BinaryMetric, BinaryMetric::rogerstanimoto>{});
            break;
        case BinaryMetric::russellrao: f(std::integral_constant<BinaryMetric, BinaryMetric::russellrao>{}); break;
        case BinaryMetric::sokalsneath: f(std::integral_constant<BinaryMetric, BinaryMetric::sokalsneath>{}); break;
        case BinaryMetric::yule: f(std::integral_constant<BinaryMetric, BinaryMetric::yule>{}); break;
    }
}

// Problems under ~2^18 word-pairs run on the calling thread (the result does not depend on it).
int threads_for(int requested, index_t n, index_t m, index_t words) {
    const int nt = resolve_threads(requested);
    return double(n) * double(m) * double(words) < double(1 << 18) ? 1 : nt;
}

std::vector<std::int64_t> row_popcounts(const BinaryKernels& kt, const PackedRows& r, int nt) {
    std::vector<std::int64_t> p(std::size_t(r.rows));
    parallel_for_static(nt, r.rows, [&](int, index_t i) { p[std::size_t(i)] = std::int64_t(kt.popcount_row(r.data + i * r.ld, r.words)); });
    return p;
}

// Column block: enough Y rows to fill ~128 KiB (L2) of packed words, a multiple of 4.
index_t column_block(index_t words) {
    index_t nb = std::max<index_t>(16, (index_t(128) << 10) / std::max<index_t>(1, words * 8));
    return std::min<index_t>(1024, (nb + 3) / 4 * 4);
}

// counts[(i - i0) * ldc + (j - j0)] = |x_i & y_j| for i in [i0, i1), j in [j0, j1)
void count_block(const BinaryKernels& kt, const PackedRows& x, const PackedRows& y, index_t i0, index_t i1,
                 index_t j0, index_t j1, std::uint32_t* counts, index_t ldc) {
    for (index_t i = i0; i < i1; i += 4) {
        const int mr = int(std::min<index_t>(4, i1 - i));
        for (index_t j = j0; j < j1; j += 4) {
            const int nr = int(std::min<index_t>(4, j1 - j));
            kt.and_popcount_tile(x.data + i * x.ld, x.ld, mr, y.data + j * y.ld, y.ld, nr, x.words,
                                 counts + (i - i0) * ldc + (j - j0), ldc);
        }
    }
}

// Total order of the searches: (distance, index), NaN after every number.
inline bool before(double da, std::int64_t ia, double db, std::int64_t ib) {
    const bool na = std::isnan(da), nb = std::isnan(db);
    if (na != nb) return nb;
    if (!na && da != db) return da < db;
    return ia < ib;
}

// Ctrl-C: the calling thread (team thread 0) asks the installed check at most every ~50 ms, between
// tasks; `interrupted` then stops the loop (parallel_for_dynamic rethrows it after the team is done).
struct InterruptPoll {
    interrupt_check_fn check = interrupt_check();
    std::chrono::steady_clock::time_point next = std::chrono::steady_clock::now() + std::chrono::milliseconds(50);
    void poll(int tid) {
        if (!check || tid != 0) return;
        const auto now = std::chrono::steady_clock::now();
        if (now < next) return;
        next = now + std::chrono::milliseconds(50);
        if (check()) throw interrupted();
    }
};

void check_rows(const PackedRows& x, const PackedRows& y, index_t n_bits) {
    if (x.words != y.words) throw std::invalid_argument("packed X and Y have different widths");
    if (n_bits <= 0 || n_bits > x.words * 64) throw std::invalid_argument("n_bits out of range for the packed width");
    if (x.words > (index_t(1) << 26)) throw std::invalid_argument("packed rows wider than 2^32 bits");
}

}  // namespace

void binary_pairwise(const PackedRows& x, const PackedRows& y, bool symmetric, BinaryMetric metric, index_t n_bits,
                     bool condensed, double* out, index_t ldo, int n_threads) {
    check_rows(x, y, n_bits);
    if (condensed && !symmetric) throw std::invalid_argument("condensed output needs a symmetric problem");
    const BinaryKernels& kt = active_binary_kernels();
    const int nt = threads_for(n_threads, x.rows, y.rows, x.words);
    const auto px = row_popcounts(kt, x, nt);
    const auto py = symmetric ? px : row_popcounts(kt, y, nt);
    const index_t n = x.rows, m = y.rows;
    const index_t nb = column_block(x.words);
    const index_t n_rb = (n + kRowBlock - 1) / kRowBlock, n_cb = (m + nb - 1) / nb;
    std::vector<std::vector<std::uint32_t>> scratch(std::size_t(std::max(nt, 1)));
    with_metric(metric, [&](auto mc) {
        constexpr BinaryMetric M = decltype(mc)::value;
        InterruptPoll ctrl_c;
        parallel_for_dynamic(nt, n_rb * n_cb, 1, [&](int tid, index_t task) {
            ctrl_c.poll(tid);
            const index_t rb = task / n_cb, cb = task % n_cb;
            const index_t i0 = rb * kRowBlock, i1 = std::min(n, i0 + kRowBlock);
            index_t j0 = cb * nb;
            const index_t j1 = std::min(m, j0 + nb);
            if (symmetric) {
                if (j1 <= i0 + (condensed ? 1 : 0)) return;  // entirely below the diagonal
                j0 = std::max(j0, i0 / 4 * 4);               // keep 4-aligned sub-tiles
            }
            auto& cbuf = scratch[std::size_t(tid)];
            const index_t ldc = j1 - j0;
            cbuf.resize(std::size_t((i1 - i0) * ldc));
            count_block(kt, x, y, i0, i1, j0, j1, cbuf.data(), ldc);
            for (index_t i = i0; i < i1; ++i) {
                const std::uint32_t* c = cbuf.data() + (i - i0) * ldc;
                const index_t js = symmetric ? std::max(j0, condensed ? i + 1 : i) : j0;
                if (condensed) {
                    // entry n*i - i*(i+1)/2 + (j - i - 1)
                    const index_t base = n * i - i * (i + 1) / 2 - i - 1;
                    for (index_t j = js; j < j1; ++j)
                        out[base + j] = from_counts<M>(c[j - j0], px[i], py[j], n_bits);
                } else {
                    double* o = out + i * ldo;
                    for (index_t j = js; j < j1; ++j) {
                        const double d = from_counts<M>(c[j - j0], px[i], py[j], n_bits);
                        o[j] = d;
                        if (symmetric) out[j * ldo + i] = d;
                    }
                }
            }
        });
    });
}

namespace {

// The searches' sweep: blocks of kQueryBlock queries on the team, each task owning its queries for
// the whole sweep over the references (column blocks of column_block() rows). For each task,
// make_task(i0, i1) builds the task's state; state.row(i, j0, j1, d) sees query i's distances to
// references [j0, j1) (d[j - j0]); state.finish() runs once the task has seen every reference.
constexpr index_t kQueryBlock = 16;

template <class MakeTask>
void search_sweep(const PackedRows& x, const PackedRows& y, BinaryMetric metric, index_t n_bits, int n_threads,
                  MakeTask&& make_task) {
    check_rows(x, y, n_bits);
    const BinaryKernels& kt = active_binary_kernels();
    const int nt = threads_for(n_threads, x.rows, y.rows, x.words);
    const auto px = row_popcounts(kt, x, nt);
    const auto py = row_popcounts(kt, y, nt);
    const index_t n = x.rows, m = y.rows;
    const index_t nb = column_block(x.words);
    const index_t n_qb = (n + kQueryBlock - 1) / kQueryBlock;
    with_metric(metric, [&](auto mc) {
        constexpr BinaryMetric M = decltype(mc)::value;
        InterruptPoll ctrl_c;
        parallel_for_dynamic(nt, n_qb, 1, [&](int tid, index_t t) {
            ctrl_c.poll(tid);
            const index_t i0 = t * kQueryBlock, i1 = std::min(n, i0 + kQueryBlock);
            std::vector<std::uint32_t> cbuf(std::size_t((i1 - i0) * nb));
            std::vector<double> dbuf(static_cast<std::size_t>(nb));
            auto task = make_task(i0, i1);
            for (index_t j0 = 0; j0 < m; j0 += nb) {
                const index_t j1 = std::min(m, j0 + nb);
                count_block(kt, x, y, i0, i1, j0, j1, cbuf.data(), nb);
                for (index_t i = i0; i < i1; ++i) {
                    // the row's distances first (independent divisions), then the caller's tests
                    const std::uint32_t* c = cbuf.data() + (i - i0) * nb;
                    const std::int64_t pxi = px[std::size_t(i)];
                    for (index_t j = j0; j < j1; ++j)
                        dbuf[std::size_t(j - j0)] = from_counts<M>(c[j - j0], pxi, py[std::size_t(j)], n_bits);
                    task.row(i, j0, j1, dbuf.data());
                }
            }
            task.finish();
        });
    });
}

struct Entry {
    double d;
    std::int64_t i;
};

// One k-NN task: its queries' max-heaps on (distance, index), written out sorted at the end.
struct HeapTask {
    index_t i0, i1, k;
    bool exclude_self;
    double* dist;
    std::int64_t* ind;
    std::vector<std::vector<Entry>> heaps;

    static bool worse(const Entry& a, const Entry& b) { return before(a.d, a.i, b.d, b.i); }

    HeapTask(index_t i0_, index_t i1_, index_t k_, bool exclude_self_, double* dist_, std::int64_t* ind_)
        : i0(i0_), i1(i1_), k(k_), exclude_self(exclude_self_), dist(dist_), ind(ind_), heaps(std::size_t(i1_ - i0_)) {
        for (auto& h : heaps) h.reserve(std::size_t(k) + 1);
    }
    void row(index_t i, index_t j0, index_t j1, const double* drow) {
        auto& h = heaps[std::size_t(i - i0)];
        for (index_t j = j0; j < j1; ++j) {
            const double d = drow[j - j0];
            // a full heap rejects anything above its worst entry without the NaN-aware compare
            if (index_t(h.size()) == k && d > h.front().d) continue;
            if (exclude_self && j == i) continue;
            if (index_t(h.size()) < k) {
                h.push_back({d, j});
                std::push_heap(h.begin(), h.end(), worse);
            } else if (before(d, j, h.front().d, h.front().i)) {
                std::pop_heap(h.begin(), h.end(), worse);
                h.back() = {d, j};
                std::push_heap(h.begin(), h.end(), worse);
            }
        }
    }
    void finish() {
        for (index_t i = i0; i < i1; ++i) {
            auto& h = heaps[std::size_t(i - i0)];
            std::sort_heap(h.begin(), h.end(), worse);
            for (index_t q = 0; q < k; ++q) {
                dist[i * k + q] = h[std::size_t(q)].d;
                ind[i * k + q] = h[std::size_t(q)].i;
            }
        }
    }
};

// One radius task: each query's hits within its radius, sorted at the end when asked.
struct RadiusTask {
    index_t i0, i1;
    const double* r;
    index_t r_len;
    bool exclude_self, sort_results;
    std::vector<std::vector<Entry>>* hits;

    void row(index_t i, index_t j0, index_t j1, const double* drow) {
        const double ri = r[r_len == 1 ? 0 : i];
        auto& hv = (*hits)[std::size_t(i)];
        for (index_t j = j0; j < j1; ++j)
            if (drow[j - j0] <= ri && !(exclude_self && j == i)) hv.push_back({drow[j - j0], j});
    }
    void finish() {
        if (!sort_results) return;
        for (index_t i = i0; i < i1; ++i) {
            auto& hv = (*hits)[std::size_t(i)];
            std::sort(hv.begin(), hv.end(), [](const Entry& a, const Entry& b) { return before(a.d, a.i, b.d, b.i); });
        }
    }
};

}  // namespace

void binary_kneighbors(const PackedRows& x, const PackedRows& y, BinaryMetric metric, index_t n_bits, index_t k,
                       bool exclude_self, double* dist, std::int64_t* ind, int n_threads) {
    check_rows(x, y, n_bits);
    const index_t avail = y.rows - (exclude_self ? 1 : 0);
    if (k < 1 || k > avail) throw std::invalid_argument("k out of range for the number of references");
    search_sweep(x, y, metric, n_bits, n_threads,
                 [&](index_t i0, index_t i1) { return HeapTask(i0, i1, k, exclude_self, dist, ind); });
}

void binary_radius(const PackedRows& x, const PackedRows& y, BinaryMetric metric, index_t n_bits, const double* r,
                   index_t r_len, bool exclude_self, bool sort_results, std::vector<double>& dist,
                   std::vector<std::int64_t>& ind, std::vector<std::int64_t>& offsets, int n_threads) {
    const index_t n = x.rows;
    std::vector<std::vector<Entry>> hits(static_cast<std::size_t>(n));
    search_sweep(x, y, metric, n_bits, n_threads, [&](index_t i0, index_t i1) {
        return RadiusTask{i0, i1, r, r_len, exclude_self, sort_results, &hits};
    });
    offsets.assign(std::size_t(n) + 1, 0);
    for (index_t i = 0; i < n; ++i) offsets[std::size_t(i) + 1] = offsets[std::size_t(i)] + std::int64_t(hits[std::size_t(i)].size());
    dist.resize(std::size_t(offsets.back()));
    ind.resize(std::size_t(offsets.back()));
    for (index_t i = 0; i < n; ++i) {
        std::size_t o = std::size_t(offsets[std::size_t(i)]);
        for (const auto& e : hits[std::size_t(i)]) {
            dist[o] = e.d;
            ind[o++] = e.i;
        }
    }
}

}  // namespace fastmetric
