#include "fastmetric/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace fastmetric {

template <class T>
void linear_map(MatrixView<T> X, const T* shift, MatrixView<T> L, T* out, int n_threads) {
    Problem<T> pb;
    pb.x.m = X;
    pb.x.col_shift = shift;
    pb.y.m = L;
    pb.reduce = Reduce::dot;
    pb.post = Post::none;
    pb.n_threads = n_threads;
    pairwise_dense(pb, out, L.rows);
}

namespace {
// mean of the stacked rows of X and Y (Y skipped when it aliases X), accumulated in double
template <class T>
void stacked_mean(MatrixView<T> X, MatrixView<T> Y, bool y_is_x, std::vector<T>& mean) {
    const index_t d = X.cols;
    std::vector<double> acc(size_t(d), 0.0);
    auto add = [&](const MatrixView<T>& m) {
        for (index_t i = 0; i < m.rows; ++i) {
            const T* r = m.row(i);
            for (index_t k = 0; k < d; ++k) acc[size_t(k)] += double(r[k * m.col_stride]);
        }
    };
    add(X);
    index_t cnt = X.rows;
    if (!y_is_x) {
        add(Y);
        cnt += Y.rows;
    }
    mean.resize(size_t(d));
    for (index_t k = 0; k < d; ++k) mean[size_t(k)] = T(cnt ? acc[size_t(k)] / double(cnt) : 0.0);
}
// Squared norms beyond max/16 overflow the expansion |x|^2 + |y|^2 - 2 x.y (1e160-magnitude float64
// rows, 1e20 float32 ones), and below min/eps they have lost digits to underflow: then the data are
// scaled by a power of two (exact) to a largest magnitude in [1, 2), folded into the column scale,
// and the driver scales the finished distances back (pb.dist_scale). Ordinary data pay one max over
// the norms.
template <class T>
void rescale_if_needed(PreparedProblem<T>& pp, MatrixView<T> X, MatrixView<T> Y, bool y_is_x, int n_threads) {
    Problem<T>& pb = pp.pb;
    double nmax = 0;
    for (index_t i = 0; i < X.rows; ++i) nmax = std::max(nmax, double(pb.x.sq_norms[i]));
    if (!y_is_x)
        for (index_t i = 0; i < Y.rows; ++i) nmax = std::max(nmax, double(pb.y.sq_norms[i]));
    const double hi = double(std::numeric_limits<T>::max()) / 16;
    const double lo = double(std::numeric_limits<T>::min()) / double(std::numeric_limits<T>::epsilon());
    const bool huge = !(nmax <= hi);  // also NaN / inf norms
    if (!huge && !(nmax < lo)) return;  // nmax == 0 too: every square may have underflowed
    const index_t d = X.cols;
    double M = 0;  // largest magnitude of a packed value (shifted, column-scaled)
    auto scan = [&](const MatrixView<T>& m) {
        for (index_t i = 0; i < m.rows; ++i) {
            const T* r = m.row(i);
            for (index_t k = 0; k < d; ++k) {
                double v = double(r[k * m.col_stride]);
                if (pb.x.col_shift) v -= double(pb.x.col_shift[k]);
                if (pb.x.col_scale) v *= double(pb.x.col_scale[k]);
                M = std::max(M, std::fabs(v));
            }
        }
    };
    scan(X);
    if (!y_is_x) scan(Y);
    if (!(M > 0) || !std::isfinite(M)) return;
    // a subnormal M (centred rows that agree to the last bits: 1e-303 values differ by 1e-318) would
    // need a scale 2^-e beyond T's range: capped, the largest value lands below 1 but far above
    // min / eps, and the scale stays finite (it made every distance NaN)
    const int e = std::max(std::ilogb(M), -(std::numeric_limits<T>::max_exponent - 2));
    if (pp.col_scale.empty()) pp.col_scale.assign(size_t(d), T(1));
    for (index_t k = 0; k < d; ++k) pp.col_scale[size_t(k)] = T(std::ldexp(double(pp.col_scale[size_t(k)]), -e));
    pb.x.col_scale = pb.y.col_scale = pp.col_scale.data();
    row_sq_norms(pb.x, pp.x_norm.data(), n_threads);
    if (!y_is_x) row_sq_norms(pb.y, pp.y_norm.data(), n_threads);
    pb.dist_scale = std::ldexp(1.0, e);
}
// fastmetric.dask (issue 14): the caller's column shift when one is given (input space only, so
// not after the L-map), else the stacked mean.
template <class T>
void centre_of(const MetricArgs<T>& a, bool mapped, MatrixView<T> X, MatrixView<T> Y, bool y_is_x,
               std::vector<T>& c) {
    if (a.shift && !mapped) {
        c.assign(a.shift, a.shift + X.cols);
        return;
    }
    stacked_mean(X, Y, y_is_x, c);
}
}  // namespace

template <class T>
void prepare_problem(PreparedProblem<T>& pp, const MetricArgs<T>& a, MatrixView<T> X, MatrixView<T> Y,
                     bool y_is_x) {
    Problem<T>& pb = pp.pb;
    pb = Problem<T>{};
    pb.n_threads = a.n_threads;
    pb.symmetric = y_is_x;
    pb.p = a.p;
    pb.gamma = a.gamma;
    pb.coef0 = a.coef0;
    const std::string& name = a.metric;
    const bool with_map = a.L.data != nullptr;

    // 1. optional linear map x -> L (x - c), c the stacked mean (removes the offset before rounding)
    if (with_map) {
        if (a.L.cols != X.cols) throw std::invalid_argument("L must have as many columns as X has features");
        centre_of(a, false, X, Y, y_is_x || a.centre_on_x, pp.col_shift);
        const index_t k = a.L.rows;
        pp.xt.resize(size_t(X.rows * k));
        linear_map(X, pp.col_shift.data(), a.L, pp.xt.data(), a.n_threads);
        X = MatrixView<T>::dense(pp.xt.data(), X.rows, k);
        if (y_is_x) {
            Y = X;
        } else {
            pp.yt.resize(size_t(Y.rows * k));
            linear_map(Y, pp.col_shift.data(), a.L, pp.yt.data(), a.n_threads);
            Y = MatrixView<T>::dense(pp.yt.data(), Y.rows, k);
        }
        pp.col_shift.clear();
    }
    pb.x.m = X;
    pb.y.m = Y;
    // issue 16 part 1: braycurtis / canberra / jensenshannon and scipy's w= (scipy_metrics.cpp)
    if (prepare_scipy_metric(pp, a, X, Y, y_is_x)) return;

    auto setup_sq = [&](bool centre) {
        pb.reduce = Reduce::sq_dot;
        if (centre) {
            centre_of(a, with_map, X, Y, y_is_x || a.centre_on_x, pp.col_shift);
            pb.x.col_shift = pb.y.col_shift = pp.col_shift.data();
        }
        if (!pp.col_scale.empty()) pb.x.col_scale = pb.y.col_scale = pp.col_scale.data();
        pp.x_norm.resize(size_t(X.rows));
        row_sq_norms(pb.x, pp.x_norm.data(), a.n_threads);
        pb.x.sq_norms = pp.x_norm.data();
        if (y_is_x) {
            pb.y.sq_norms = pb.x.sq_norms;
        } else {
            pp.y_norm.resize(size_t(Y.rows));
            row_sq_norms(pb.y, pp.y_norm.data(), a.n_threads);
            pb.y.sq_norms = pp.y_norm.data();
        }
        rescale_if_needed(pp, X, Y, y_is_x, a.n_threads);
    };
    auto setup_unit = [&](bool centre_rows) {
        pp.x_scale.resize(size_t(X.rows));
        if (centre_rows) pp.x_shift.resize(size_t(X.rows));
        row_unit_scale(X, centre_rows, centre_rows ? pp.x_shift.data() : nullptr, pp.x_scale.data(), a.n_threads);
        pb.x.row_scale = pp.x_scale.data();
        pb.x.row_shift = centre_rows ? pp.x_shift.data() : nullptr;
        if (y_is_x) {
            pb.y.row_scale = pb.x.row_scale;
            pb.y.row_shift = pb.x.row_shift;
        } else {
            pp.y_scale.resize(size_t(Y.rows));
            if (centre_rows) pp.y_shift.resize(size_t(Y.rows));
            row_unit_scale(Y, centre_rows, centre_rows ? pp.y_shift.data() : nullptr, pp.y_scale.data(),
                           a.n_threads);
            pb.y.row_scale = pp.y_scale.data();
            pb.y.row_shift = centre_rows ? pp.y_shift.data() : nullptr;
        }
    };

    pp.is_distance = true;
    if (name == "sqeuclidean") {
        setup_sq(!with_map);
    } else if (name == "euclidean" || name == "mahalanobis") {
        if (name == "mahalanobis" && !with_map) throw std::invalid_argument("mahalanobis needs L");
        setup_sq(!with_map);
        pb.post = Post::sqrt;
    } else if (name == "seuclidean") {
        if (!a.V) throw std::invalid_argument("seuclidean needs V");
        pp.col_scale.resize(size_t(X.cols));
        for (index_t k = 0; k < X.cols; ++k) pp.col_scale[size_t(k)] = T(1.0 / std::sqrt(double(a.V[k])));
        setup_sq(true);
        pb.post = Post::sqrt;
    } else if (name == "cosine" || name == "correlation") {
        setup_unit(name == "correlation");
        pb.reduce = Reduce::cos_dot;
    } else if (name == "cityblock") {
        pb.reduce = Reduce::l1;
    } else if (name == "chebyshev") {
        pb.reduce = Reduce::linf;
    } else if (name == "minkowski") {
        if (!(a.p > 0)) throw std::invalid_argument("minkowski needs p > 0");
        if (std::isinf(a.p)) {
            pb.reduce = Reduce::linf;
        } else if (a.p == 1) {
            pb.reduce = Reduce::l1;
        } else if (a.p == 2) {
            setup_sq(true);
            pb.post = Post::sqrt;
        } else {
            pb.reduce = Reduce::lp;
            pb.post = Post::root_p;
        }
    } else {
        pp.is_distance = false;
        if (name == "linear") {
            pb.reduce = Reduce::dot;
        } else if (name == "polynomial") {
            pb.reduce = Reduce::dot;
            pb.post = Post::poly;
            if (a.degree == std::floor(a.degree) && a.degree >= 0 && a.degree < 1e6) {
                pb.degree = int(a.degree);
            } else {
                pb.degree = -1;
                pb.p = a.degree;
            }
        } else if (name == "sigmoid") {
            pb.reduce = Reduce::dot;
            pb.post = Post::tanh;
        } else if (name == "rbf") {
            setup_sq(!with_map);
            pb.post = Post::exp_neg;
            if (pb.dist_scale != 1) {  // rescaled data: exp(-gamma s^2 |x' - y'|^2), gamma s^2 capped at max
                pb.gamma = std::min(pb.gamma * pb.dist_scale * pb.dist_scale, double(std::numeric_limits<T>::max()));
                pb.dist_scale = 1;
            }
        } else if (name == "laplacian") {
            pb.reduce = Reduce::l1;
            pb.post = Post::exp_neg;
        } else if (name == "cosine_similarity") {
            setup_unit(false);
            pb.reduce = Reduce::dot;
        } else if (name == "chi2") {
            pb.reduce = Reduce::chi2;
            pb.post = Post::exp_neg;
        } else if (name == "additive_chi2") {
            pb.reduce = Reduce::chi2;
            pb.post = Post::negate;
        } else {
            throw std::invalid_argument("unknown metric '" + name + "'");
        }
    }
    finish_scipy_weights(pp, a);  // issue 16 part 1
    // The diagonal of a symmetric distance is exactly 0; for rbf/laplacian/chi2 (distance-shaped
    // before exp) the same zero gives exactly 1.
    pb.zero_diagonal = y_is_x && (pp.is_distance || name == "rbf" || name == "laplacian" || name == "chi2" ||
                                  name == "additive_chi2");
}

template void linear_map<float>(MatrixView<float>, const float*, MatrixView<float>, float*, int);
template void linear_map<double>(MatrixView<double>, const double*, MatrixView<double>, double*, int);
template void prepare_problem<float>(PreparedProblem<float>&, const MetricArgs<float>&, MatrixView<float>,
                                     MatrixView<float>, bool);
template void prepare_problem<double>(PreparedProblem<double>&, const MetricArgs<double>&, MatrixView<double>,
                                      MatrixView<double>, bool);

}  // namespace fastmetric
