// LSML's work over the comparisons: see fastmetric/learn/lsml.hpp for the formulas.
#include "fastmetric/learn/lsml.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <utility>

#include "fastmetric/cpu_features.hpp"
#include "fastmetric/engine.hpp"
#include "fastmetric/kernels.hpp"
#include "fastmetric/learn/bt_x.hpp"
#include "fastmetric/learn/scml.hpp"
#include "fastmetric/linalg.hpp"
#include "fastmetric/parallel.hpp"

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define FM_LSML_X86 1
#define FM_LSML_INLINE inline __attribute__((always_inline))
#else
#define FM_LSML_INLINE inline
#endif

namespace fastmetric {
namespace learn {
namespace {

inline double clamped_sqrt(double q) { return std::sqrt(std::max(q, 0.0)); }

// R[a] += c (x_a - x_b), R[b] -= c (x_a - x_b) on the columns [c0, c0 + width) of one NR-column
// panel Rc (row stride nr), for the active pairs in order
FM_LSML_INLINE void scatter_body(const double* P, index_t d, const LsmlProblem::Active* act, index_t na, index_t c0,
                                 index_t width, index_t nr, double* Rc) {
    for (index_t t = 0; t < na; ++t) {
        const LsmlProblem::Active& e = act[t];
        const double* xa = P + e.a * d + c0;
        const double* xb = P + e.b * d + c0;
        double* ra = Rc + e.a * nr;
        double* rb = Rc + e.b * nr;
        for (index_t j = 0; j < width; ++j) {
            const double v = e.coef * (xa[j] - xb[j]);
            ra[j] += v;
            rb[j] -= v;
        }
    }
}

void scatter_generic(const double* P, index_t d, const LsmlProblem::Active* act, index_t na, index_t c0, index_t width,
                     index_t nr, double* Rc) {
    scatter_body(P, d, act, na, c0, width, nr, Rc);
}

#ifdef FM_LSML_X86
__attribute__((target("avx2,fma"))) void scatter_avx2(const double* P, index_t d, const LsmlProblem::Active* act,
                                                      index_t na, index_t c0, index_t width, index_t nr, double* Rc) {
    scatter_body(P, d, act, na, c0, width, nr, Rc);
}
#endif

// below this many multiply-adds a GEMM runs on the calling thread
constexpr double kParallelWork = 5e5;
// below this many pair x feature products the pair forms run on the calling thread
constexpr index_t kParallelPairs = index_t(1) << 16;

}  // namespace

LsmlProblem::LsmlProblem(const double* P, index_t n, index_t d, const std::int64_t* pairs, index_t m, const double* w,
                         int n_threads)
    : n_(n), d_(d), m_(m), threads_(resolve_threads(n_threads)) {
    if (n < 1 || d < 1) throw std::invalid_argument("lsml: the points must be a non-empty n x d array with d >= 1");
    if (m < 0) throw std::invalid_argument("lsml: the number of comparisons must be >= 0");
    for (index_t p = 0; p < 4 * m; ++p)
        if (pairs[p] < 0 || pairs[p] >= n)
            throw std::invalid_argument("lsml: pair index " + std::to_string(pairs[p]) + " out of range for " +
                                        std::to_string(n) + " points");
    for (index_t i = 0; i < m; ++i)
        if (!(w[i] >= 0.0) || !std::isfinite(w[i]))
            throw std::invalid_argument("lsml: weights must be finite and non-negative");
    // the kernel table of the packing, kept for every call (a set_isa between two calls changes nothing)
    kd_ = &active_kernels<double>();
    mr_ = kd_->mr;
    nr_ = kd_->nr;
    P_ = P;
    w_.assign(w, w + m);
    // the pairs as (min, max) -- a form and a gradient term do not change when a pair is swapped --
    // visited in increasing order: consecutive pairs share their first rows (measured on digits:
    // pair forms 1.6x faster than in comparison order). A counting sort on the first index, then
    // (second index, pair index) within each bucket by insertion.
    const index_t m2 = 2 * m;
    std::vector<index_t> start(std::size_t(n + 1), 0);
    for (index_t p = 0; p < m2; ++p) ++start[std::size_t(std::min(pairs[2 * p], pairs[2 * p + 1]) + 1)];
    for (index_t i = 0; i < n; ++i) start[std::size_t(i + 1)] += start[std::size_t(i)];
    order_.resize(std::size_t(m2));
    pairs_.resize(std::size_t(2 * m2));
    {
        std::vector<index_t> fill(start.begin(), start.end() - 1);
        for (index_t p = 0; p < m2; ++p) {
            const std::int64_t lo = std::min(pairs[2 * p], pairs[2 * p + 1]);
            const index_t k = fill[std::size_t(lo)]++;
            order_[std::size_t(k)] = p;
            pairs_[std::size_t(2 * k)] = lo;
            pairs_[std::size_t(2 * k + 1)] = std::max(pairs[2 * p], pairs[2 * p + 1]);
        }
    }
    // within a bucket: by (hi, pair index), the pair indices having arrived increasing
    std::vector<std::pair<std::int64_t, index_t>> bucket;
    for (index_t i = 0; i < n; ++i) {
        const index_t b = start[std::size_t(i)], e = start[std::size_t(i + 1)];
        if (e - b < 2) continue;
        bucket.clear();
        for (index_t k = b; k < e; ++k) bucket.emplace_back(pairs_[std::size_t(2 * k + 1)], order_[std::size_t(k)]);
        std::sort(bucket.begin(), bucket.end());
        for (index_t k = b; k < e; ++k) {
            pairs_[std::size_t(2 * k + 1)] = bucket[std::size_t(k - b)].first;
            order_[std::size_t(k)] = bucket[std::size_t(k - b)].second;
        }
    }
    qs_.resize(std::size_t(2 * m));
    cp_.resize(std::size_t(2 * m));
    // A panels of Y = P M: rows = points (MR per panel), k = features: p_rows_[(pp d + k) MR + r] = P[pp MR + r][k]
    const index_t np = (n + mr_ - 1) / mr_, dp = (d + mr_ - 1) / mr_;
    p_rows_.assign(std::size_t(np * mr_ * d), 0.0);
    for (index_t pp = 0; pp < np; ++pp)
        for (index_t k = 0; k < d; ++k)
            for (index_t r = 0; r < mr_ && pp * mr_ + r < n; ++r)
                p_rows_[std::size_t((pp * d + k) * mr_ + r)] = P[(pp * mr_ + r) * d + k];
    // A panels of G = P^T R: rows = features, k = points: p_cols_[(pp n + k) MR + r] = P[k][pp MR + r]
    p_cols_.assign(std::size_t(dp * mr_ * n), 0.0);
    for (index_t pp = 0; pp < dp; ++pp)
        for (index_t k = 0; k < n; ++k)
            for (index_t r = 0; r < mr_ && pp * mr_ + r < d; ++r)
                p_cols_[std::size_t((pp * n + k) * mr_ + r)] = P[k * d + pp * mr_ + r];
}

void LsmlProblem::forms(const double* M, double* q) {
    const KernelTable<double>& kd = *kd_;
    const index_t n = n_, d = d_;
    const index_t np = (n + mr_ - 1) / mr_, cq = (d + nr_ - 1) / nr_, ldt = cq * nr_;
    // M in NR-column panels: b_pack_[(c d + k) NR + j] = M[k][c NR + j]
    b_pack_.assign(std::size_t(cq * nr_ * d), 0.0);
    for (index_t c = 0; c < cq; ++c)
        for (index_t k = 0; k < d; ++k)
            for (index_t j = 0; j < nr_ && c * nr_ + j < d; ++j)
                b_pack_[std::size_t((c * d + k) * nr_ + j)] = M[k * d + c * nr_ + j];
    tiles_.resize(std::size_t(np * mr_ * ldt));
    const int nt = double(n) * double(d) * double(d) > kParallelWork ? threads_ : 1;
    // a task is a row panel (all its tiles): short tiles (k = d) in chunks of panels, so that the
    // threads do not queue on the shared counter (chunks of one tile measured no faster on 2 threads
    // than on one)
    parallel_for_dynamic(nt, np, std::max<index_t>(1, np / (8 * index_t(nt))), [&](int, index_t pp) {
        for (index_t c = 0; c < cq; ++c)
            kd.dot(d, p_rows_.data() + pp * d * mr_, b_pack_.data() + c * d * nr_,
                   tiles_.data() + pp * mr_ * ldt + c * nr_, ldt, false);
    });
    const double* Y = tiles_.data();  // Y = P M, row stride ldt
    if (ldt != d) {
        Y_.resize(std::size_t(n * d));
        for (index_t i = 0; i < n; ++i) std::copy_n(tiles_.data() + i * ldt, d, Y_.data() + i * d);
        Y = Y_.data();
    }
    scml_pair_forms(P_, Y, n, d, pairs_.data(), 2 * m_, qs_.data(), 2 * m_ * d > kParallelPairs ? threads_ : 1);
    for (index_t k = 0; k < 2 * m_; ++k) q[order_[std::size_t(k)]] = qs_[std::size_t(k)];
}

double LsmlProblem::gradient(const double* q, double* G) {
    const KernelTable<double>& kd = *kd_;
    const index_t n = n_, d = d_, m = m_, nr = nr_;
    const index_t cq = (d + nr - 1) / nr, dp = (d + mr_ - 1) / mr_, ldt = cq * nr;
    // the coefficient of every pair (0: not in a violated comparison) and the loss, in comparison order
    std::fill(cp_.begin(), cp_.end(), 0.0);
    double loss = 0.0;
    for (index_t i = 0; i < m; ++i) {
        const double qab = q[i], qcd = q[m + i];
        if (!(qab > qcd) || w_[i] == 0.0) continue;
        const double sab = clamped_sqrt(qab), scd = clamped_sqrt(qcd);  // sab > scd >= 0
        const double r = sab - scd;
        loss += w_[i] * r * r;
        cp_[std::size_t(i)] = w_[i] * (1.0 - scd / sab);
        if (scd > 0.0) cp_[std::size_t(m + i)] = w_[i] * (1.0 - sab / scd);
    }
    // the pairs with a coefficient, in their sorted order
    active_.clear();
    for (index_t k = 0; k < 2 * m; ++k) {
        const double coef = cp_[std::size_t(order_[std::size_t(k)])];
        if (coef != 0.0) active_.push_back({pairs_[std::size_t(2 * k)], pairs_[std::size_t(2 * k + 1)], coef});
    }
    const double* P = P_;
    const int nt = double(n) * double(d) * double(d) > kParallelWork ? threads_ : 1;
    const index_t na = index_t(active_.size());
    if (na == 0) {
        std::fill(G, G + d * d, 0.0);
        return loss;
    }
    // G = sum over the active pairs of c u u^T (u = x_a - x_b) is a GEMM either over the pairs
    // (D^T diag(c) D, K = na: the differences packed) or over the points (P^T R, K = n: the rows R
    // scattered); the shorter K wins (digits: 700-850 active pairs against 1,257 points)
    const bool over_pairs = na < n;
    const index_t kk = over_pairs ? na : n;
    const double* a_panels = p_cols_.data();  // K-major MR-row panels of the features
    if (over_pairs) {
        // A: D^T in MR-row panels, diff_rows_[(pp na + t) MR + r] = u_t[pp MR + r]; B: (c u_t) in
        // NR-column panels, diff_cols_[(c na + t) NR + j] = c_t u_t[c NR + j]; zero-padded past d
        diff_rows_.resize(std::size_t(dp * mr_ * na));
        diff_cols_.resize(std::size_t(cq * nr * na));
        double* A = diff_rows_.data();
        double* B = diff_cols_.data();
        const index_t mr = mr_, chunk = 64, padded = std::max(dp * mr, cq * nr);
        parallel_for_dynamic(nt, (na + chunk - 1) / chunk, 1, [&](int, index_t ch) {
            std::vector<double> u(std::size_t(padded), 0.0);  // u_t, zero past d
            for (index_t t = ch * chunk; t < std::min(na, (ch + 1) * chunk); ++t) {
                const Active& e = active_[std::size_t(t)];
                const double* xa = P + e.a * d;
                const double* xb = P + e.b * d;
                for (index_t f = 0; f < d; ++f) u[std::size_t(f)] = xa[f] - xb[f];
                for (index_t pp = 0; pp < dp; ++pp) std::copy_n(u.data() + pp * mr, mr, A + (pp * na + t) * mr);
                const double coef = e.coef;
                for (index_t c = 0; c < cq; ++c) {
                    const double* src = u.data() + c * nr;
                    double* dst = B + (c * na + t) * nr;
                    for (index_t j = 0; j < nr; ++j) dst[j] = coef * src[j];
                }
            }
        });
        a_panels = A;
    } else {
        // R in NR-column panels, written in place: R[k][c NR + j] at b_pack_[(c n + k) NR + j]; each
        // thread owns whole panels and adds the pairs in their sorted order
        b_pack_.assign(std::size_t(cq * nr * n), 0.0);
        double* R = b_pack_.data();
        auto scatter = &scatter_generic;
#ifdef FM_LSML_X86
        // the AVX2 loop when the engine's instruction set is AVX2 or AVX-512 (FASTMETRIC_ISA=generic keeps it portable)
        if (std::strcmp(kd.name, "generic") != 0 && cpu_has_avx2()) scatter = &scatter_avx2;
#endif
        parallel_for_dynamic(nt, cq, 1, [&](int, index_t c) {
            scatter(P, d, active_.data(), na, c * nr, std::min<index_t>(nr, d - c * nr), nr, R + c * n * nr);
        });
    }
    // symmetric: only the tiles reaching the upper triangle (column >= row), mirrored after
    grad_tiles_.resize(std::size_t(dp * mr_ * ldt));
    upper_.clear();
    for (index_t pp = 0; pp < dp; ++pp)
        for (index_t c = 0; c < cq; ++c)
            if ((c + 1) * nr - 1 >= pp * mr_) upper_.push_back(pp * cq + c);
    const double* bp = over_pairs ? diff_cols_.data() : b_pack_.data();
    parallel_for_dynamic(nt, index_t(upper_.size()), 1, [&](int, index_t u) {
        const index_t t = upper_[std::size_t(u)], pp = t / cq, c = t % cq;
        kd.dot(kk, a_panels + pp * kk * mr_, bp + c * kk * nr, grad_tiles_.data() + pp * mr_ * ldt + c * nr, ldt, false);
    });
    for (index_t i = 0; i < d; ++i)
        for (index_t j = i; j < d; ++j) G[i * d + j] = G[j * d + i] = grad_tiles_[std::size_t(i * ldt + j)];
    return loss;
}

double LsmlProblem::descent_direction(const double* q, const double* H, double* G, double* g) {
    const index_t d = d_;
    const double loss = gradient(q, G);
    for (index_t i = 0; i < d * d; ++i) G[i] += H[i];
    for (index_t i = 0; i < d; ++i)
        for (index_t j = 0; j < i; ++j) {
            const double s = 0.5 * (G[i * d + j] + G[j * d + i]);
            G[i * d + j] = s;
            G[j * d + i] = s;
        }
    forms(G, g);
    return loss;
}

void LsmlProblem::step_losses(const double* q, const double* g, const double* ts, index_t n_steps,
                              double* out) const {
    if (n_steps < 0) throw std::invalid_argument("lsml: the number of steps must be >= 0");
    std::fill(out, out + n_steps, 0.0);
    const index_t m = m_;
    double t_lo = n_steps > 0 ? ts[0] : 0.0, t_hi = t_lo;
    bool interval = n_steps > 2;  // the skip below; off with a NaN step
    for (index_t s = 0; s < n_steps; ++s) {
        interval = interval && ts[s] == ts[s];
        t_lo = std::min(t_lo, ts[s]);
        t_hi = std::max(t_hi, ts[s]);
    }
    for (index_t i = 0; i < m; ++i) {
        const double wi = w_[i];
        if (wi == 0.0) continue;
        const double qab = q[i], qcd = q[m + i];
        const double gab = g ? g[i] : 0.0, gcd = g ? g[m + i] : 0.0;
        // ab - cd is linear in t: a comparison satisfied at the smallest and the largest step is
        // satisfied at every step between -- most comparisons, skipped
        if (interval && !(qab - t_lo * gab > qcd - t_lo * gcd) && !(qab - t_hi * gab > qcd - t_hi * gcd)) continue;
        for (index_t s = 0; s < n_steps; ++s) {
            const double ab = qab - ts[s] * gab, cd = qcd - ts[s] * gcd;
            if (ab > cd) {
                const double r = clamped_sqrt(ab) - clamped_sqrt(cd);
                out[s] += wi * r * r;
            }
        }
    }
}

void LsmlProblem::bt_x(const double* B, MatrixView<double> X, double* out) {
    small_ws_.x_data = nullptr;  // the same buffers come back with new contents: never reuse a packing
    scaled_bt_x<double>(B, d_, X, 1.0, out, 1, small_ws_);
}

LsmlProblem::Descent LsmlProblem::descend(const double* M0, const double* prior_inv, const double* steps,
                                          index_t n_steps, double floor, double tol, index_t max_iter) {
    if (n_steps < 1) throw std::invalid_argument("lsml: at least one step length is needed");
    if (max_iter < 0) throw std::invalid_argument("lsml: max_iter must be >= 0");
    const index_t d = d_, dd = d * d, m2 = 2 * m_;
    const double nan = std::numeric_limits<double>::quiet_NaN();
    Descent out;
    const std::size_t sdd = std::size_t(dd), sd = std::size_t(d), sm2 = std::size_t(m2), sns = std::size_t(n_steps);
    std::vector<double> M(M0, M0 + dd), Ri(sdd), H(sdd), G(sdd), K(sdd), T(sdd), mu(sd), off(sd), q(sm2), g(sm2);
    std::vector<double> ts(sns), f_min(sns), logdets(sns), traces(sns), comparison(sns);
    std::vector<char> certified(sns);
    struct Projected {  // an uncertified candidate, decided by its eigendecomposition
        index_t step;
        std::vector<double> M, q;  // q empty: the projection left it unchanged (forms q - t g)
        double lam_min;
    };
    std::vector<Projected> projected;
    auto frob = [dd](const double* A, const double* B) {
        double s = 0;
        for (index_t i = 0; i < dd; ++i) s += A[i] * B[i];
        return s;
    };
    // Ri = R^-1 for M = R^T R; returns log det M
    auto factor = [&](bool start) {
        std::copy(M.begin(), M.end(), Ri.begin());
        if (!cholesky_upper(Ri.data(), d, 0.0)) {
            if (start) throw std::invalid_argument("lsml: M0 must be symmetric positive definite (Cholesky failed)");
            throw std::runtime_error("lsml: the metric is no longer positive definite (Cholesky failed)");
        }
        double half = 0;
        for (index_t i = 0; i < d; ++i) half += std::log(Ri[std::size_t(i * d + i)]);
        invert_upper(Ri.data(), d);
        return 2.0 * half;
    };
    auto eigen = [&](double* A, double* w, double* V) {
        if (!symmetric_eigen(A, d, w, V)) throw std::runtime_error("lsml: the eigenvalue iteration did not converge");
    };
    const double zero = 0.0;
    auto loss_of = [&](const double* qq) {
        double l;
        step_losses(qq, nullptr, &zero, 1, &l);
        return l;
    };

    forms(M.data(), q.data());
    double logdet_M = factor(true);
    std::copy(M.begin(), M.end(), T.begin());
    eigen(T.data(), mu.data(), nullptr);
    double lam_low = mu[0];
    double best = loss_of(q.data()) + frob(M.data(), prior_inv) - logdet_M;
    out.losses.push_back(best);
    out.grad_norms.push_back(nan);
    index_t it = 0;
    bool stopped = false;
    for (it = 1; it <= max_iter; ++it) {
        // the rest of the gradient, prior_inv - M^-1 with M^-1 = Ri Ri^T; then G and its forms g
        for (index_t i = 0; i < d; ++i)  // T = Ri^T, so that M^-1 = T^T T
            for (index_t j = 0; j < d; ++j) T[std::size_t(i * d + j)] = Ri[std::size_t(j * d + i)];
        bt_x(T.data(), MatrixView<double>::dense(T.data(), d, d), H.data());
        for (index_t i = 0; i < dd; ++i) H[std::size_t(i)] = prior_inv[i] - H[std::size_t(i)];
        descent_direction(q.data(), H.data(), G.data(), g.data());
        const double g_norm = std::sqrt(frob(G.data(), G.data()));
        if (g_norm < tol) {
            stopped = true;
            break;
        }
        const double trace_M = frob(M.data(), prior_inv), trace_G = frob(G.data(), prior_inv);
        // K = Ri^T G Ri, symmetrised, and its eigenvalues
        bt_x(G.data(), MatrixView<double>::dense(Ri.data(), d, d), T.data());  // G Ri (G symmetric)
        bt_x(Ri.data(), MatrixView<double>::dense(T.data(), d, d), K.data());
        for (index_t i = 0; i < d; ++i)
            for (index_t j = 0; j < i; ++j) {
                const double s = 0.5 * (K[std::size_t(i * d + j)] + K[std::size_t(j * d + i)]);
                K[std::size_t(i * d + j)] = K[std::size_t(j * d + i)] = s;
            }
        // K's eigenvalues mu through its tridiagonal form T: lambda_min(I - tK) = 1 - t mu_max, and for
        // the candidates this certifies, log det(I - tK) is the sum of the logs of the (positive)
        // pivots of I - tT, an O(d) recurrence
        symmetric_tridiagonal(K.data(), d, mu.data(), off.data());
        const double mu_max = tridiagonal_max_eigenvalue(mu.data(), off.data(), d);
        for (index_t s = 0; s < n_steps; ++s) {
            const double t = steps[s] / g_norm;
            ts[std::size_t(s)] = t;
            const double fm = 1.0 - t * mu_max;
            f_min[std::size_t(s)] = fm;
            bool ok = fm > 0 && lam_low * fm >= floor;
            double ld = logdet_M, p = 1.0;
            for (index_t k = 0; ok && k < d; ++k) {
                p = (1.0 - t * mu[std::size_t(k)]) -
                    (k > 0 ? t * t * off[std::size_t(k - 1)] * off[std::size_t(k - 1)] / p : 0.0);
                ok = p > 0;
                if (ok) ld += std::log(p);
            }
            certified[std::size_t(s)] = ok;
            logdets[std::size_t(s)] = ld;
            traces[std::size_t(s)] = trace_M - t * trace_G;
        }
        step_losses(q.data(), g.data(), ts.data(), n_steps, comparison.data());
        projected.clear();
        for (index_t s = 0; s < n_steps; ++s) {
            if (certified[std::size_t(s)]) continue;
            Projected pc{s, std::vector<double>(sdd), {}, 0.0};
            const double t = ts[std::size_t(s)];
            for (index_t i = 0; i < dd; ++i) pc.M[std::size_t(i)] = M[std::size_t(i)] - t * G[std::size_t(i)];
            std::copy(pc.M.begin(), pc.M.end(), T.begin());
            std::vector<double> V(sdd), wc(sd);
            eigen(T.data(), wc.data(), V.data());
            if (wc[0] < floor) {  // metric-learn's projection: the eigenvalues raised to the floor
                for (double& x : wc) x = std::max(x, floor);
                // V diag(wc) V^T = B^T V^T with B = diag(wc) V^T; V^T read as a strided view of V
                for (index_t k = 0; k < d; ++k)
                    for (index_t i = 0; i < d; ++i) T[std::size_t(k * d + i)] = wc[std::size_t(k)] * V[std::size_t(i * d + k)];
                MatrixView<double> Vt = MatrixView<double>::dense(V.data(), d, d);
                Vt.row_stride = 1;
                Vt.col_stride = d;
                bt_x(T.data(), Vt, pc.M.data());
                pc.q.resize(sm2);
                forms(pc.M.data(), pc.q.data());
                comparison[std::size_t(s)] = loss_of(pc.q.data());
                traces[std::size_t(s)] = frob(pc.M.data(), prior_inv);
            }
            double ld = 0;
            for (double x : wc) ld += std::log(x);
            logdets[std::size_t(s)] = ld;
            pc.lam_min = wc[0];
            projected.push_back(std::move(pc));
        }
        index_t found = -1;
        for (index_t s = 0; s < n_steps; ++s) {
            const double l = comparison[std::size_t(s)] + traces[std::size_t(s)] - logdets[std::size_t(s)];
            if (l < best) {  // metric-learn: the best step that lowers the loss
                best = l;
                found = s;
            }
        }
        out.losses.push_back(best);
        out.grad_norms.push_back(g_norm);
        if (found < 0) {
            stopped = true;
            break;
        }
        const Projected* pf = nullptr;
        for (const Projected& pc : projected)
            if (pc.step == found) pf = &pc;
        const double t = ts[std::size_t(found)];
        if (pf) {
            M = pf->M;
            lam_low = pf->lam_min;
        } else {
            for (index_t i = 0; i < dd; ++i) M[std::size_t(i)] -= t * G[std::size_t(i)];
            lam_low *= f_min[std::size_t(found)];
        }
        if (pf && !pf->q.empty())
            q = pf->q;
        else
            for (index_t k = 0; k < m2; ++k) q[std::size_t(k)] -= t * g[std::size_t(k)];
        for (index_t i = 0; i < d; ++i)
            for (index_t j = 0; j < i; ++j) {
                const double s = 0.5 * (M[std::size_t(i * d + j)] + M[std::size_t(j * d + i)]);
                M[std::size_t(i * d + j)] = M[std::size_t(j * d + i)] = s;
            }
        logdet_M = factor(false);
    }
    out.n_iter = stopped ? it : max_iter;
    out.converged = stopped;
    out.M = std::move(M);
    return out;
}

}  // namespace learn
}  // namespace fastmetric
