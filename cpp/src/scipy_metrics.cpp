// scipy's remaining float metrics and its weights (issue 16 part 1), as Problems for the tiled driver.
//
//  braycurtis     sum |x-y| / sum |x+y|          reduce braycurtis (l1 and l1_sum micro-kernels into two
//                                                tiles, divided in the epilogue; on non-negative data
//                                                l1 over sum x + sum y, the row sums in double);
//                                                0/0 -> NaN, x/0 -> inf
//  canberra       sum |x-y| / (|x|+|y|)          reduce canberra; 0/0 terms are 0 (scipy)
//  jensenshannon  sqrt(JSD / log(base))          reduce js on rows packed as p = x / sum x (row_scale),
//                                                post js_root: sqrt(v / (2 log base)). scipy's cdist
//                                                gives inf for a row with a negative entry or a zero
//                                                sum: those rows get row_penalty +inf.
//
// scipy's w= (validated non-negative and finite by the Python layer):
//  euclidean, sqeuclidean, minkowski p=2   column scale sqrt(w) on the Gram path: sum w (x-y)^2 =
//                                          sum (sqrt(w) x - sqrt(w) y)^2 (one extra rounding per value)
//  cityblock, braycurtis, minkowski p      column scale w^(1/p): |w^(1/p) (x-y)|^p = w |x-y|^p
//  chebyshev, minkowski p=inf              column scale [w > 0]: scipy takes the max over w > 0 only
//  cosine, correlation                     copies sqrt(w) x (correlation: sqrt(w) (x - weighted mean))
//                                          then the unweighted cosine of the copies
//  canberra                                the weights go into the kernel (the terms are scale-free)
#include <cmath>
#include <limits>
#include <stdexcept>

#include "fastmetric/metrics.hpp"

namespace fastmetric {
namespace {


// rows of m times sqrt(w) (after subtracting the w-weighted row mean when centre), contiguous
template <class T>
void weighted_copy(const MatrixView<T>& m, const T* w, bool centre, std::vector<T>& out) {
    const index_t n = m.rows, d = m.cols;
    out.resize(size_t(n * d));
    double wsum = 0;
    for (index_t k = 0; k < d; ++k) wsum += double(w[k]);
    for (index_t i = 0; i < n; ++i) {
        const T* r = m.row(i);
        double mu = 0;
        if (centre && wsum > 0) {
            for (index_t k = 0; k < d; ++k) mu += double(w[k]) * double(r[k * m.col_stride]);
            mu /= wsum;
        }
        T* o = out.data() + i * d;
        for (index_t k = 0; k < d; ++k) o[k] = T((double(r[k * m.col_stride]) - mu) * std::sqrt(double(w[k])));
    }
}

// Jensen-Shannon row preparation: row_scale = 1 / sum, penalty 0; rows with a negative entry or a zero
// sum get scale 0 and penalty +inf (scipy's cdist returns inf for them). Rows whose 1/sum overflows T
// (sums below ~1/max, made of subnormal entries) are first scaled by a power of two (exact) into a
// copy, so that p = x / sum is still formed by one rounding.
template <class T>
MatrixView<T> js_rows(const MatrixView<T>& m, std::vector<T>& copy, std::vector<T>& scale, std::vector<T>& penalty) {
    const index_t n = m.rows, d = m.cols;
    scale.assign(size_t(n), T(0));
    penalty.assign(size_t(n), T(0));
    std::vector<double> sums(size_t(n), 0.0);
    bool tiny = false;
    for (index_t i = 0; i < n; ++i) {
        const T* r = m.row(i);
        double s = 0;
        bool neg = false;
        for (index_t k = 0; k < d; ++k) {
            const T v = r[k * m.col_stride];
            neg |= v < T(0);
            s += double(v);
        }
        sums[size_t(i)] = s;
        if (neg || !(s > 0)) {
            penalty[size_t(i)] = std::numeric_limits<T>::infinity();
            continue;
        }
        const double inv = 1.0 / s;
        if (!(inv <= double(std::numeric_limits<T>::max()))) tiny = true;
        scale[size_t(i)] = T(inv);
    }
    if (!tiny) return m;
    copy.resize(size_t(n * d));
    for (index_t i = 0; i < n; ++i) {
        const T* r = m.row(i);
        T* o = copy.data() + i * d;
        const double s = sums[size_t(i)];
        const bool scaled = penalty[size_t(i)] == T(0) && !(1.0 / s <= double(std::numeric_limits<T>::max()));
        const int e = scaled ? -std::ilogb(s) : 0;
        for (index_t k = 0; k < d; ++k) o[k] = scaled ? T(std::ldexp(double(r[k * m.col_stride]), e)) : r[k * m.col_stride];
        if (scaled) {
            double s2 = 0;
            for (index_t k = 0; k < d; ++k) s2 += double(o[k]);
            scale[size_t(i)] = T(1.0 / s2);
        }
    }
    return MatrixView<T>::dense(copy.data(), n, d);
}

// whether every entry of m is >= 0 (NaN: no)
template <class T>
bool non_negative(const MatrixView<T>& m) {
    for (index_t i = 0; i < m.rows; ++i) {
        const T* r = m.row(i);
        bool ok = true;
        for (index_t k = 0; k < m.cols; ++k) ok &= r[k * m.col_stride] >= T(0);
        if (!ok) return false;
    }
    return true;
}
// sums of the packed rows (times the column scale when given), accumulated in double
template <class T>
void packed_row_sums(const MatrixView<T>& m, const T* col_scale, std::vector<T>& out) {
    out.resize(size_t(m.rows));
    for (index_t i = 0; i < m.rows; ++i) {
        const T* r = m.row(i);
        double s = 0;
        for (index_t k = 0; k < m.cols; ++k) {
            const T v = r[k * m.col_stride];
            s += double(col_scale ? T(v * col_scale[k]) : v);
        }
        out[size_t(i)] = T(s);
    }
}

bool is_weighted_elsewhere(const std::string& name) {
    return name == "euclidean" || name == "sqeuclidean" || name == "cityblock" || name == "chebyshev" ||
           name == "minkowski";
}

}  // namespace

template <class T>
bool prepare_scipy_metric(PreparedProblem<T>& pp, const MetricArgs<T>& a, MatrixView<T> X, MatrixView<T> Y,
                          bool y_is_x) {
    Problem<T>& pb = pp.pb;
    const std::string& name = a.metric;
    const index_t d = X.cols;
    if (name == "braycurtis") {
        pb.reduce = Reduce::braycurtis;
        if (a.w) {
            pp.col_scale.assign(a.w, a.w + d);
            pb.x.col_scale = pb.y.col_scale = pp.col_scale.data();
        }
        if (non_negative(X) && (y_is_x || non_negative(Y))) {  // the usual case: abundances, counts
            packed_row_sums(X, pb.x.col_scale, pp.x_norm);
            pb.x.row_sum = pp.x_norm.data();
            if (y_is_x) {
                pb.y.row_sum = pb.x.row_sum;
            } else {
                packed_row_sums(Y, pb.y.col_scale, pp.y_norm);
                pb.y.row_sum = pp.y_norm.data();
            }
        }
        pp.is_distance = true;
        pb.zero_diagonal = false;  // scipy: two all-zero rows (also a row and itself) are 0/0 = NaN
        return true;
    }
    if (name == "canberra") {
        pb.reduce = Reduce::canberra;
        if (a.w) {
            pp.kw.assign(a.w, a.w + d);
            pb.kw = pp.kw.data();
        }
        pp.is_distance = true;
        pb.zero_diagonal = y_is_x;  // every term of d(x, x) is 0 (0/0 terms too)
        return true;
    }
    if (name == "jensenshannon") {
        if (a.w) throw std::invalid_argument("jensenshannon takes no weights");
        const double base = a.js_base;
        if (base != 0 && !(base > 1 && std::isfinite(base)))
            throw std::invalid_argument("jensenshannon's base must be a finite number > 1");
        pb.reduce = Reduce::js;
        pb.post = Post::js_root;
        pb.gamma = 0.5 / (base == 0 ? 1.0 : std::log(base));
        pb.x.m = js_rows(X, pp.xt, pp.x_scale, pp.x_penalty);
        pb.x.row_scale = pp.x_scale.data();
        pb.x.row_penalty = pp.x_penalty.data();
        if (y_is_x) {
            pb.y = pb.x;
        } else {
            pb.y.m = js_rows(Y, pp.yt, pp.y_scale, pp.y_penalty);
            pb.y.row_scale = pp.y_scale.data();
            pb.y.row_penalty = pp.y_penalty.data();
        }
        pp.is_distance = true;
        pb.zero_diagonal = false;  // exactly 0 for a valid row (every term p == q is 0), inf for the others
        return true;
    }
    if (!a.w) return false;
    if (name == "cosine" || name == "correlation") {
        const bool centre = name == "correlation";
        weighted_copy(X, a.w, centre, pp.xt);
        pb.x.m = MatrixView<T>::dense(pp.xt.data(), X.rows, d);
        pp.x_scale.resize(size_t(X.rows));
        row_unit_scale(pb.x.m, false, static_cast<T*>(nullptr), pp.x_scale.data(), a.n_threads);
        pb.x.row_scale = pp.x_scale.data();
        if (y_is_x) {
            pb.y = pb.x;
        } else {
            weighted_copy(Y, a.w, centre, pp.yt);
            pb.y.m = MatrixView<T>::dense(pp.yt.data(), Y.rows, d);
            pp.y_scale.resize(size_t(Y.rows));
            row_unit_scale(pb.y.m, false, static_cast<T*>(nullptr), pp.y_scale.data(), a.n_threads);
            pb.y.row_scale = pp.y_scale.data();
        }
        pb.reduce = Reduce::cos_dot;
        pp.is_distance = true;
        pb.zero_diagonal = y_is_x;
        return true;
    }
    if (!is_weighted_elsewhere(name)) throw std::invalid_argument("metric '" + name + "' takes no weights w");
    if (a.L.data) throw std::invalid_argument("w cannot be combined with L");
    const bool sq = name == "euclidean" || name == "sqeuclidean" || (name == "minkowski" && a.p == 2);
    if (sq) {  // read by setup_sq while the metric is configured
        pp.col_scale.resize(size_t(d));
        for (index_t k = 0; k < d; ++k) pp.col_scale[size_t(k)] = T(std::sqrt(double(a.w[k])));
    }
    return false;
}

template <class T>
void finish_scipy_weights(PreparedProblem<T>& pp, const MetricArgs<T>& a) {
    Problem<T>& pb = pp.pb;
    if (!a.w || pb.reduce == Reduce::sq_dot) return;  // the Gram path has its column scale already
    const index_t d = pb.x.m.cols;
    pp.col_scale.resize(size_t(d));
    for (index_t k = 0; k < d; ++k) {
        const double w = double(a.w[k]);
        double c = w;                                             // l1: w |x-y|
        if (pb.reduce == Reduce::linf) c = w > 0 ? 1.0 : 0.0;     // the max over the positive weights
        if (pb.reduce == Reduce::lp) c = std::pow(w, 1.0 / pb.p);  // w |x-y|^p
        pp.col_scale[size_t(k)] = T(c);
    }
    pb.x.col_scale = pb.y.col_scale = pp.col_scale.data();
}

template bool prepare_scipy_metric<float>(PreparedProblem<float>&, const MetricArgs<float>&, MatrixView<float>,
                                          MatrixView<float>, bool);
template bool prepare_scipy_metric<double>(PreparedProblem<double>&, const MetricArgs<double>&, MatrixView<double>,
                                           MatrixView<double>, bool);
template void finish_scipy_weights<float>(PreparedProblem<float>&, const MetricArgs<float>&);
template void finish_scipy_weights<double>(PreparedProblem<double>&, const MetricArgs<double>&);

}  // namespace fastmetric
