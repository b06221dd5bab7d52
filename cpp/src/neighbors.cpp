// Top-k and radius sinks for the tiled driver (see topk.hpp).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <stdexcept>
#include <type_traits>

#include "fastmetric/topk.hpp"

namespace fastmetric {
namespace {


template <class T>
inline bool key_less(T d1, std::int64_t i1, T d2, std::int64_t i2) {
    return d1 < d2 || (d1 == d2 && i1 < i2);
}

// The vector filters (sq_below, sq_candidates) evaluate nx + ny - 2 dot with a fused multiply-add;
// the sinks then compute the value they keep without one. The two can differ by about
// eps (nx + ny): a filter threshold raised by filter_slack lets through every column whose final
// value can still pass, and the final comparison on that value decides (without it, a column an ulp
// below the k-th best could be dropped: a small k was then not always the head of a larger k).
template <class T>
inline T filter_slack(T nx, T ny_max) {
    return T(4) * std::numeric_limits<T>::epsilon() * (nx + ny_max);
}

// Monotone map from the value the driver reduces on to the reported distance.
// Rescaled data (pb.dist_scale != 1: sq_dot metrics, or Minkowski in a search) are scaled back
// here; Minkowski rows of large p arrive finished (pb.skip_post false, see search_problem).
template <class T>
T finish(const Problem<T>& pb, T v) {
    if (!pb.skip_post) return v;
    const double s = pb.dist_scale;
    switch (pb.post) {
        case Post::sqrt: return s == 1 ? std::sqrt(v) : T(std::sqrt(double(v)) * s);
        case Post::root_p: return T(std::pow(double(v), 1.0 / pb.p) * s);
        case Post::js_root: return std::sqrt(v > T(0) ? v * T(pb.gamma) : T(0));  // issue 16 part 1
        default: return s == 1 ? v : T(double(v) * s * s);
    }
}
// Inverse of finish, for a radius given in reported units.
template <class T>
double unfinish(const Problem<T>& pb, double r) {
    if (!pb.skip_post) return r;
    const double s = pb.dist_scale;
    switch (pb.post) {
        case Post::sqrt: return (r / s) * (r / s);
        case Post::root_p: return std::pow(r / s, pb.p);
        case Post::js_root: return r * r / pb.gamma;  // issue 16 part 1
        default: return r / s / s;
    }
}

// The top-k filter threshold, in the units the driver reduces on, of a k-th best *reported* distance
// F: a value t with finish(t) >= F. finish is monotone non-decreasing, so every v that finishes
// strictly below F has v < t: filtering on v < t keeps every candidate that can still enter, and the
// exact test on (finished value, index) decides. Starts from the inverse (accurate to a few ulps) and
// steps up until it holds (zero or one step in practice).
template <class T>
T admission_threshold(const Problem<T>& pb, T F) {
    constexpr T inf = std::numeric_limits<T>::infinity();
    if (!(F < inf)) return inf;
    T t = T(unfinish(pb, double(F)));
    if (!(t >= T(0))) t = T(0);
    for (int s = 0; s < 64; ++s) {
        if (finish(pb, t) >= F) return t;
        t = std::nextafter(t, inf);
    }
    return inf;  // not reached for the searches' posts; inf keeps every candidate (still exact)
}

// The radius threshold, in the driver's units, of a radius r in reported units: the largest v whose
// reported distance finish(v) is <= r (r taken in the output type, as the distances are compared),
// so that the inclusive filter v <= t keeps exactly the pairs whose reported distance is within r
// (finish is monotone). A rounded inverse alone could drop a pair an ulp above it in the driver's
// units whose reported distance still equals r. Steps by ulps from the inverse (a few at most).
template <class T>
T radius_threshold(const Problem<T>& pb, double r) {
    constexpr T inf = std::numeric_limits<T>::infinity();
    const T t0 = T(unfinish(pb, r));
    const T rr = T(r);
    auto within = [&](T v) { return finish(pb, v) <= rr; };
    T t = t0;
    if (within(t)) {
        for (int s = 0; s < 64 && t < inf; ++s) {
            const T u = std::nextafter(t, inf);
            if (!within(u)) return t;
            t = u;
        }
        return t;
    }
    for (int s = 0; s < 64 && t > T(0); ++s) {
        t = std::nextafter(t, -inf);
        if (within(t)) return t;
    }
    return t0;  // not reached for the searches' posts
}

// The search's copy of the problem. Top-k and radius filters compare before the monotone post. For
// Minkowski that means comparing sums of |x - y|^p, which overflow or underflow for large p: with
// p <= 8 the data are scaled by a power of two to a largest magnitude in [1, 2) when they lie outside
// [2^-8, 2^8] (sums then stay below d 4^p; the driver recomputes underflowed ones exactly, in
// double), and larger p compares finished distances (one pow per pair, against d in the kernel).
template <class T>
Problem<T> search_problem(const Problem<T>& pb_in, std::vector<T>& col_scale) {
    Problem<T> pb = pb_in;
    pb.symmetric = false;
    pb.zero_diagonal = false;
    pb.skip_post = true;
    if (pb.reduce != Reduce::lp) return pb;
    if (!(pb.p <= 8)) {
        pb.skip_post = false;
        return pb;
    }
    T mx[4] = {T(0), T(0), T(0), T(0)};  // four independent maxima: no latency chain
    for (const MatrixView<T>* m : {&pb.x.m, &pb.y.m})
        for (index_t i = 0; i < m->rows; ++i) {
            const T* r = m->row(i);
            const index_t st = m->col_stride, d = m->cols;
            index_t k = 0;
            if (st == 1) {  // the common layout: unit stride, a loop the compiler vectorises
                for (; k + 4 <= d; k += 4)
                    for (int u = 0; u < 4; ++u) {
                        const T a = std::fabs(r[k + u]);
                        mx[u] = a > mx[u] ? a : mx[u];
                    }
            }
            for (; k < d; ++k) mx[0] = std::max(mx[0], T(std::fabs(r[k * st])));
        }
    double M = double(std::max(std::max(mx[0], mx[1]), std::max(mx[2], mx[3])));
    // scipy's weights (issue 16 part 1) arrive as a column scale w^(1/p): bound the scaled values
    double cmax = 1;
    if (pb.x.col_scale) {
        cmax = 0;
        for (index_t k = 0; k < pb.x.m.cols; ++k) cmax = std::max(cmax, double(pb.x.col_scale[k]));
        M *= cmax;
    }
    if (!(M > 0) || !std::isfinite(M) || (M >= 0x1p-8 && M <= 0x1p8)) return pb;
    const int e = std::ilogb(M);
    col_scale.assign(size_t(pb.x.m.cols), T(std::ldexp(1.0, -e)));
    if (pb.x.col_scale)
        for (index_t k = 0; k < pb.x.m.cols; ++k) col_scale[size_t(k)] = T(std::ldexp(double(pb.x.col_scale[k]), -e));
    pb.x.col_scale = pb.y.col_scale = col_scale.data();
    pb.dist_scale = std::ldexp(1.0, e);
    return pb;
}

// Parts for slotted sinks: few row tiles -> split the references so every thread has work.
// Parts for slotted sinks. Every part keeps its own top-k (or radius list) per query and they are
// merged at the end, which costs selection work and memory that grow with k; measured (2 threads,
// 100k refs, k = 10..1000), splitting the references only pays when there are fewer row tiles than
// threads, and then into as few parts as there are threads.
template <class T>
int choose_parts(const Problem<T>& pb) {
    const index_t mc = row_block_rows(pb);
    const index_t row_tiles = (pb.x.m.rows + mc - 1) / mc;
    const int nt = std::max(1, pb.n_threads);
    if (row_tiles >= index_t(nt)) return 1;
    const index_t col_tiles = std::max<index_t>(1, (pb.y.m.rows + 255) / 256);
    return int(std::max<index_t>(1, std::min<index_t>(nt, col_tiles)));
}

constexpr index_t kChunk = 1024;  // candidate scratch per call, in columns

// Per (part, query row) state: k <= kSortedMax keeps the k best sorted on (distance, index) (an
// insertion is a vectorised count and two memmoves; 5-13% faster searches than the binary heap it
// replaced, k = 10..50); larger k keeps an unsorted buffer of up to 2k candidates and, when it fills,
// keeps the k best with nth_element (amortised O(1) per candidate). Either way the current k-th best
// is the filter threshold, so after the first tiles almost every column is rejected by one vector
// compare.
// Candidates are kept and compared on (reported distance, index): finish (a sqrt, a p-th root, the
// scale put back) can map values an ulp apart in the driver's units to one reported distance, and the
// smaller index must then win, also at the k-th boundary. The vector filters stay in the driver's
// units (admission_threshold: never rejects a candidate that finishes below the k-th best); only the
// few candidates they let through are finished, once each.
constexpr index_t kSortedMax = 64;

template <class T>
class TopKSink final : public Sink<T> {
  public:
    TopKSink(const Problem<T>& pb, index_t k, bool exclude_self, int parts)
        : pb_(pb), kt_(active_kernels<T>()), n_(pb.x.m.rows), k_(k), cap_(k <= kSortedMax ? k : 2 * k), parts_(parts),
          exclude_self_(exclude_self), kind_(key_kind(pb)),
          tau_(cancellation_threshold<T>(pb.x.m.cols)) {
        if (pb.reduce == Reduce::sq_dot) {
            ny_max_ = T(0);
            for (index_t j = 0; j < pb.y.m.rows; ++j) ny_max_ = std::max(ny_max_, pb.y.sq_norms[j]);
        }
        const size_t cells = size_t(parts) * size_t(n_);
        e_.reset(new Entry[cells * size_t(cap_)]);
        if (cap_ == k_) sd_.reset(new T[cells * size_t(k_)]);
        cnt_.assign(cells, 0);
        thr_.assign(cells, std::numeric_limits<T>::infinity());
        if (cap_ != k_) kth_.assign(cells, std::numeric_limits<T>::infinity());
        scratch_.resize(size_t(std::max(1, pb.n_threads)) * size_t(kChunk));
    }
    int slots() const override { return parts_; }

    void row(int tid, int slot, index_t i, index_t j0, T* vals, index_t n) override {
        index_t* cand = scratch_.data() + size_t(tid) * kChunk;
        const size_t cell = size_t(slot) * size_t(n_) + size_t(i);
        for (index_t q0 = 0; q0 < n; q0 += kChunk) {
            const index_t len = std::min(kChunk, n - q0);
            const T thr = thr_[cell];
            const index_t nc = kt_.select_below(vals + q0, len, thr, std::isinf(thr), cand);
            for (index_t t = 0; t < nc; ++t) {
                const index_t q = q0 + cand[t];
                offer(cell, vals[q], j0 + q, i);
            }
        }
    }

    bool raw_sq_row(int tid, int slot, index_t i, index_t j0, const T* dots, index_t n) override {
        index_t* cand = scratch_.data() + size_t(tid) * kChunk;
        const size_t cell = size_t(slot) * size_t(n_) + size_t(i);
        const T nx = pb_.x.sq_norms[i];
        const T* ny = pb_.y.sq_norms + j0;
        const T slack = filter_slack(nx, ny_max_);
        auto value = [&](index_t q) {
            const T s = nx + ny[q];
            T v = s - T(2) * dots[q];
            if (v < tau_ * s) v = exact_sq_distance(pb_, i, j0 + q);
            return v < T(0) ? T(0) : v;
        };
        index_t q0 = 0;
        while (std::isinf(thr_[cell]) && q0 < n) {  // until a threshold exists, take every column
            offer(cell, value(q0), j0 + q0, i);
            ++q0;
        }
        while (q0 < n) {
            const index_t len = std::min(kChunk, n - q0);
            const T thr = thr_[cell];
            index_t nc;
            if (thr >= tau_ * (nx + ny_max_) * T(1.01)) {
                // every pair that could cancel is below thr already: one compare per element
                nc = kt_.sq_below(dots + q0, len, ny + q0, thr - nx + slack, cand);
            } else {
                nc = kt_.sq_candidates(dots + q0, len, nx, ny + q0, tau_, thr + slack, false, cand);
            }
            for (index_t t = 0; t < nc; ++t) {
                const index_t q = q0 + cand[t];
                offer(cell, value(q), j0 + q, i);
            }
            q0 += len;
        }
        return true;
    }

    void finalize(T* out_d, std::int64_t* out_i) {
        const int nt = std::max(1, pb_.n_threads);
        std::vector<std::vector<Entry>> scratch(static_cast<size_t>(nt));
        for (auto& v : scratch) v.reserve(size_t(parts_) * size_t(cap_));
        parallel_for_static(n_ * k_ > 20000 ? nt : 1, n_, [&](int tid, index_t i) {
            std::vector<Entry>& all = scratch[size_t(tid)];
            all.clear();  // capacity reserved above: no allocation inside the parallel region
            for (int p = 0; p < parts_; ++p) {
                const size_t cell = size_t(p) * size_t(n_) + size_t(i);
                const Entry* e = e_.get() + cell * size_t(cap_);
                all.insert(all.end(), e, e + cnt_[cell]);
            }
            if (index_t(all.size()) > k_) {
                std::nth_element(all.begin(), all.begin() + (k_ - 1), all.end(), entry_less);
                all.resize(size_t(k_));
            }
            std::sort(all.begin(), all.end(), entry_less);
            for (index_t t = 0; t < k_; ++t) {
                if (t < index_t(all.size())) {
                    out_d[i * k_ + t] = all[size_t(t)].first;
                    out_i[i * k_ + t] = all[size_t(t)].second;
                } else {
                    out_d[i * k_ + t] = std::numeric_limits<T>::infinity();
                    out_i[i * k_ + t] = -1;
                }
            }
        });
    }

  private:
    // Trivially constructible, so the 2k-entry buffers are allocated without being zeroed: pages are
    // touched by the thread that fills them (a serial memset of parts x n x 2k entries cost more
    // than the search itself at k = 1000).
    struct Entry {
        T first;
        std::int64_t second;
    };
    // a function object (not a function pointer) so nth_element / sort inline the comparison
    struct EntryLess {
        bool operator()(const Entry& a, const Entry& b) const { return key_less(a.first, a.second, b.first, b.second); }
    };
    static constexpr EntryLess entry_less{};

    // How the key (the reported distance) is made from a value in the driver's units: as it is, by a
    // plain sqrt (euclidean, unscaled: inline, the common case), or by finish().
    enum class Kind { ident, sqrt, other };
    static Kind key_kind(const Problem<T>& pb) {
        if (!pb.skip_post || (pb.post == Post::none && pb.dist_scale == 1)) return Kind::ident;
        return pb.post == Post::sqrt && pb.dist_scale == 1 ? Kind::sqrt : Kind::other;
    }
    T key(T v) const {
        if (kind_ == Kind::ident) return v;
        return kind_ == Kind::sqrt ? std::sqrt(v) : finish(pb_, v);
    }
    // The filter threshold of a k-th best key F (see admission_threshold). For a plain sqrt it is
    // the float after F*F rounded (F*F is exact in double for float, within half an ulp for double):
    // at least the exact square, so its sqrt is >= F. A few instructions, since in sorted mode it
    // runs at every insertion (admission_threshold there cost 10-15% of small searches).
    T threshold_of(T F) const {
        if (kind_ == Kind::ident) return F;
        if (kind_ == Kind::other) return admission_threshold(pb_, F);
        constexpr T inf = std::numeric_limits<T>::infinity();
        const T sq = F < inf ? T(double(F) * double(F)) : inf;
        return sq < inf ? next_up(sq) : inf;
    }
    static T next_up(T x) {  // x finite and >= 0
        using U = std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>;
        U u;
        std::memcpy(&u, &x, sizeof(T));
        ++u;  // +0 -> the smallest subnormal; the largest finite -> inf
        std::memcpy(&x, &u, sizeof(T));
        return x;
    }

    void offer(size_t cell, T v, std::int64_t j, index_t i) {
        if (exclude_self_ && j == i) return;
        Entry* e = e_.get() + cell * size_t(cap_);
        index_t& c = cnt_[cell];
        if (cap_ == k_) {
            // full: v < thr_ is necessary (see admission_threshold), the key decides
            if (c == k_ && !(v < thr_[cell])) return;
            T* d = sd_.get() + cell * size_t(k_);
            if (sorted_offer(e, d, c, key(v), j) && c == k_) thr_[cell] = threshold_of(d[k_ - 1]);
            return;
        }
        // buffer mode. Columns arrive in increasing order within a part, so a key equal to the k-th
        // best's can never beat it (smaller index): strict < is exact.
        if (!(v < thr_[cell])) return;
        const T f = key(v);
        if (!(f < kth_[cell])) return;
        e[c] = Entry{f, j};
        if (++c == cap_) {
            std::nth_element(e, e + (k_ - 1), e + cap_, entry_less);
            c = k_;
            kth_[cell] = e[k_ - 1].first;
            thr_[cell] = threshold_of(kth_[cell]);
        }
    }
    // Sorted array on (distance, index), distances mirrored in d (contiguous, so the position is one
    // vector count, at the instruction set's width): e[c - 1] is the current k-th best. Columns arrive in increasing order
    // within a part, so x goes after every entry of equal distance, and when full it enters only if
    // strictly closer than the k-th best. Measured against a binary max-heap at k = 50 (1257 x 1257,
    // d = 64): the heap's sift-down took 48% of the search at ~38 ns per insertion.
    // Returns whether x entered.
    bool sorted_offer(Entry* e, T* d, index_t& c, T v, std::int64_t j) {
        if (c == k_ && !(v < d[k_ - 1])) return false;
        const index_t pos = kt_.count_le(d, c, v);
        const index_t last = c < k_ ? c : k_ - 1;  // entries [pos, last) move up by one
        if (last > pos) {
            std::memmove(d + pos + 1, d + pos, size_t(last - pos) * sizeof(T));
            std::memmove(static_cast<void*>(e + pos + 1), e + pos, size_t(last - pos) * sizeof(Entry));
        }
        d[pos] = v;
        e[pos] = Entry{v, j};
        if (c < k_) ++c;
        return true;
    }

    const Problem<T>& pb_;
    const KernelTable<T>& kt_;
    index_t n_, k_, cap_;
    int parts_;
    bool exclude_self_;
    Kind kind_;
    T tau_;
    T ny_max_ = T(0);
    std::unique_ptr<Entry[]> e_;
    std::unique_ptr<T[]> sd_;  // sorted mode: the keys of e_, contiguous
    std::vector<index_t> cnt_;
    std::vector<T> thr_;  // filter threshold, driver's units (admission_threshold of the k-th key)
    std::vector<T> kth_;  // buffer mode: the k-th best key once the buffer has been cut
    std::vector<index_t> scratch_;
};

template <class T>
class RadiusSink final : public Sink<T> {
  public:
    // thr: each query's threshold, in the reduced units the driver hands over
    RadiusSink(const Problem<T>& pb, std::vector<T> thr, bool exclude_self, int parts, const std::int64_t* qlab,
               const std::int64_t* rlab)
        : pb_(pb), kt_(active_kernels<T>()), n_(pb.x.m.rows), parts_(parts), exclude_self_(exclude_self),
          tau_(cancellation_threshold<T>(pb.x.m.cols)), thr_(std::move(thr)), qlab_(qlab), rlab_(rlab) {
        if (pb.reduce == Reduce::sq_dot)
            for (index_t j = 0; j < pb.y.m.rows; ++j) ny_max_ = std::max(ny_max_, pb.y.sq_norms[j]);
        lists_.resize(size_t(parts) * size_t(n_));
        scratch_.resize(size_t(std::max(1, pb.n_threads)) * size_t(kChunk));
    }
    int slots() const override { return parts_; }

    void row(int tid, int slot, index_t i, index_t j0, T* vals, index_t n) override {
        index_t* cand = scratch_.data() + size_t(tid) * kChunk;
        auto& list = lists_[size_t(slot) * size_t(n_) + size_t(i)];
        const T thr = thr_[size_t(i)];
        for (index_t q0 = 0; q0 < n; q0 += kChunk) {
            const index_t len = std::min(kChunk, n - q0);
            const index_t nc = kt_.select_below(vals + q0, len, thr, true, cand);
            for (index_t t = 0; t < nc; ++t) {
                const index_t j = j0 + q0 + cand[t];
                if (skip(i, j)) continue;
                list.emplace_back(vals[q0 + cand[t]], j);
            }
        }
    }
    bool raw_sq_row(int tid, int slot, index_t i, index_t j0, const T* dots, index_t n) override {
        index_t* cand = scratch_.data() + size_t(tid) * kChunk;
        auto& list = lists_[size_t(slot) * size_t(n_) + size_t(i)];
        const T nx = pb_.x.sq_norms[i];
        const T* ny = pb_.y.sq_norms + j0;
        const T slack = filter_slack(nx, ny_max_);
        const T thr = thr_[size_t(i)];
        for (index_t q0 = 0; q0 < n; q0 += kChunk) {
            const index_t len = std::min(kChunk, n - q0);
            const index_t nc = kt_.sq_candidates(dots + q0, len, nx, ny + q0, tau_, thr + slack, true, cand);
            for (index_t t = 0; t < nc; ++t) {
                const index_t q = q0 + cand[t];
                const index_t j = j0 + q;
                if (skip(i, j)) continue;
                const T s = nx + ny[q];
                T v = s - T(2) * dots[q];
                if (v < tau_ * s) v = exact_sq_distance(pb_, i, j);
                if (v < T(0)) v = T(0);
                if (v <= thr) list.emplace_back(v, j);
            }
        }
        return true;
    }
    void finalize(bool sort_results, std::vector<T>& dist, std::vector<std::int64_t>& idx,
                  std::vector<std::int64_t>& offsets) {
        offsets.assign(size_t(n_) + 1, 0);
        size_t total = 0;
        for (index_t i = 0; i < n_; ++i) {
            for (int p = 0; p < parts_; ++p) total += lists_[size_t(p) * size_t(n_) + size_t(i)].size();
            offsets[size_t(i) + 1] = std::int64_t(total);
        }
        dist.resize(total);
        idx.resize(total);
        std::vector<std::pair<T, std::int64_t>> row;
        for (index_t i = 0; i < n_; ++i) {
            row.clear();
            for (int p = 0; p < parts_; ++p) {  // parts hold increasing column ranges: concatenation is sorted by index
                auto& l = lists_[size_t(p) * size_t(n_) + size_t(i)];
                row.insert(row.end(), l.begin(), l.end());
                std::vector<std::pair<T, std::int64_t>>().swap(l);
            }
            for (auto& e : row) e.first = finish(pb_, e.first);  // ties on the reported distance
            if (sort_results)
                std::sort(row.begin(), row.end(), [](const auto& a, const auto& b) {
                    return key_less(a.first, a.second, b.first, b.second);
                });
            size_t o = size_t(offsets[size_t(i)]);
            for (const auto& e : row) {
                dist[o] = e.first;
                idx[o] = e.second;
                ++o;
            }
        }
    }

  private:
    bool skip(index_t i, index_t j) const {
        return (exclude_self_ && j == i) || (qlab_ && qlab_[i] == rlab_[j]);
    }
    const Problem<T>& pb_;
    const KernelTable<T>& kt_;
    index_t n_;
    int parts_;
    bool exclude_self_;
    T tau_;
    std::vector<T> thr_;
    const std::int64_t* qlab_;  // with rlab_: keep only pairs of different labels (null: keep all)
    const std::int64_t* rlab_;
    T ny_max_ = T(0);
    std::vector<std::vector<std::pair<T, std::int64_t>>> lists_;
    std::vector<index_t> scratch_;
};

}  // namespace

template <class T>
void knn_search(const Problem<T>& pb_in, index_t k, bool exclude_self, T* dist, std::int64_t* idx) {
    if (k <= 0) throw std::invalid_argument("k must be positive");
    std::vector<T> col_scale;
    const Problem<T> pb = search_problem(pb_in, col_scale);
    TopKSink<T> sink(pb, k, exclude_self, choose_parts(pb));
    run_pairwise(pb, sink);
    sink.finalize(dist, idx);
}

template <class T>
void radius_search(const Problem<T>& pb_in, double radius, bool exclude_self, bool sort_results, std::vector<T>& dist,
                   std::vector<std::int64_t>& idx, std::vector<std::int64_t>& offsets, const double* radii,
                   const std::int64_t* query_labels, const std::int64_t* ref_labels) {
    if ((query_labels == nullptr) != (ref_labels == nullptr))
        throw std::invalid_argument("radius_search: give both query and reference labels, or neither");
    if (!radii && !(radius >= 0)) throw std::invalid_argument("radius must be >= 0");
    std::vector<T> col_scale;
    const Problem<T> pb = search_problem(pb_in, col_scale);
    std::vector<T> thr(size_t(pb.x.m.rows), radii ? T(0) : radius_threshold(pb, radius));
    if (radii)
        for (index_t i = 0; i < pb.x.m.rows; ++i) {
            if (!(radii[i] >= 0)) throw std::invalid_argument("every radius must be >= 0");
            thr[size_t(i)] = radius_threshold(pb, radii[i]);
        }
    RadiusSink<T> sink(pb, std::move(thr), exclude_self, choose_parts(pb), query_labels, ref_labels);
    run_pairwise(pb, sink);
    sink.finalize(sort_results, dist, idx, offsets);
}

template void knn_search<float>(const Problem<float>&, index_t, bool, float*, std::int64_t*);
template void knn_search<double>(const Problem<double>&, index_t, bool, double*, std::int64_t*);
template void radius_search<float>(const Problem<float>&, double, bool, bool, std::vector<float>&,
                                   std::vector<std::int64_t>&, std::vector<std::int64_t>&, const double*,
                                   const std::int64_t*, const std::int64_t*);
template void radius_search<double>(const Problem<double>&, double, bool, bool, std::vector<double>&,
                                    std::vector<std::int64_t>&, std::vector<std::int64_t>&, const double*,
                                    const std::int64_t*, const std::int64_t*);

}  // namespace fastmetric
