// Bindings of the block-pair calls of fastmetric.dask (issue 14); registered from module.cpp.
//
// A Dask task holds one row block of X and one of Y. These entry points are the engine's pairwise,
// k-NN and radius calls with one extra argument, the column shift the whole problem would centre on
// (MetricArgs::shift): the packed values, norms and recompute decisions of a block pair are then
// those of the single-machine call, so every distance is bit for bit the one the in-memory call
// computes. The Python layer (python/fastmetric/dask.py) passes C-contiguous float32 / float64
// blocks of one dtype; here only cheap checks, then the GIL is released.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "fastmetric/engine.hpp"
#include "fastmetric/metrics.hpp"
#include "fastmetric/parallel.hpp"
#include "fastmetric/topk.hpp"

namespace py = pybind11;
using namespace fastmetric;

namespace {

bool native(const py::array& a) {
    const char b = a.dtype().byteorder();
    const uint16_t probe = 1;
    const bool little = *reinterpret_cast<const uint8_t*>(&probe) == 1;
    return b == '=' || b == '|' || b == (little ? '<' : '>');
}

int float_size(const py::array& a) { return a.dtype().kind() == 'f' && native(a) ? int(a.itemsize()) : 0; }

template <class T>
MatrixView<T> block_view(const py::array& a, const char* what) {
    if (a.ndim() != 2) throw std::invalid_argument(std::string(what) + " must be 2-D");
    if (float_size(a) != int(sizeof(T)))
        throw std::invalid_argument(std::string(what) + " must have the dtype of X");
    if (!(a.flags() & py::array::c_style)) throw std::invalid_argument(std::string(what) + " must be C-contiguous");
    return MatrixView<T>::dense(static_cast<const T*>(a.data()), a.shape(0), a.shape(1));
}

template <class T>
const T* vector_of(const py::object& o, index_t d, const char* what, py::array& keep) {
    if (o.is_none()) return nullptr;
    keep = py::cast<py::array>(o);
    if (keep.ndim() != 1 || keep.shape(0) != d || float_size(keep) != int(sizeof(T)) ||
        !(keep.flags() & py::array::c_style))
        throw std::invalid_argument(std::string(what) + " must be a contiguous 1-D array of length n_features");
    return static_cast<const T*>(keep.data());
}

// What a block call needs beyond the blocks, kept alive while the views are used.
template <class T>
struct BlockCall {
    MetricArgs<T> args;
    MatrixView<T> x, y;
    bool y_is_x = false;
    py::array v_keep, l_keep, s_keep;
};

// Below this many multiply-adds a call runs on the calling thread (the rule of module.cpp's calls;
// the thread count never changes a result).
constexpr double kSerialWork = 2e5;

template <class T>
void bind_block(BlockCall<T>& c, const py::array& X, const py::object& Y, const std::string& metric,
                const py::object& shift, double p, double gamma, double coef0, double degree, const py::object& V,
                const py::object& L, int n_threads) {
    c.x = block_view<T>(X, "X block");
    c.y_is_x = Y.is_none();
    c.y = c.y_is_x ? c.x : block_view<T>(py::cast<py::array>(Y), "Y block");
    if (c.x.cols != c.y.cols) throw std::invalid_argument("X and Y blocks have different numbers of features");
    MetricArgs<T>& a = c.args;
    a.metric = metric;
    a.p = p;
    a.gamma = gamma;
    a.coef0 = coef0;
    a.degree = degree;
    const double work = double(c.x.rows) * double(c.y.rows) * double(c.x.cols);
    a.n_threads = work < kSerialWork ? 1 : resolve_threads(n_threads);
    a.V = vector_of<T>(V, c.x.cols, "V", c.v_keep);
    a.shift = vector_of<T>(shift, c.x.cols, "shift", c.s_keep);
    if (!L.is_none()) {
        c.l_keep = py::cast<py::array>(L);
        a.L = block_view<T>(c.l_keep, "L");
        if (a.L.cols != c.x.cols) throw std::invalid_argument("L must have n_features columns");
    }
}

template <class T>
void pairwise_block(const py::array& X, const py::object& Y, py::array& out, const std::string& metric,
                    const py::object& shift, double p, double gamma, double coef0, double degree,
                    const py::object& V, const py::object& L, int n_threads) {
    BlockCall<T> c;
    bind_block<T>(c, X, Y, metric, shift, p, gamma, coef0, degree, V, L, n_threads);
    if (out.ndim() != 2 || out.shape(0) != c.x.rows || out.shape(1) != c.y.rows || float_size(out) != int(sizeof(T)) ||
        !(out.flags() & py::array::c_style) || !out.writeable())
        throw std::invalid_argument("out must be a writable C-contiguous (rows of X, rows of Y) array of X's dtype");
    T* o = static_cast<T*>(out.mutable_data());
    if (out.size() == 0) return;
    py::gil_scoped_release release;
    PreparedProblem<T> pp;
    prepare_problem(pp, c.args, c.x, c.y, c.y_is_x);
    pairwise_dense(pp.pb, o, c.y.rows);
}

template <class T>
py::tuple kneighbors_block(const py::array& X, const py::object& Y, index_t k, const std::string& metric,
                           const py::object& shift, bool exclude_self, double p, const py::object& V,
                           const py::object& L, int n_threads) {
    BlockCall<T> c;
    bind_block<T>(c, X, Y, metric, shift, p, 1.0, 1.0, 3.0, V, L, n_threads);
    c.args.centre_on_x = true;
    if (k <= 0 || k > c.y.rows - (exclude_self ? 1 : 0))
        throw std::invalid_argument("k must be in [1, rows of the Y block]");
    py::array_t<T> dist({c.x.rows, k});
    py::array_t<std::int64_t> idx({c.x.rows, k});
    T* d = dist.mutable_data();
    std::int64_t* ix = idx.mutable_data();
    if (c.x.rows > 0) {
        py::gil_scoped_release release;
        PreparedProblem<T> pp;
        prepare_problem(pp, c.args, c.x, c.y, c.y_is_x);
        if (!pp.is_distance) throw std::invalid_argument("kneighbors needs a distance metric");
        knn_search(pp.pb, k, exclude_self, d, ix);
    }
    return py::make_tuple(dist, idx);
}

template <class T>
py::tuple radius_block(const py::array& X, const py::object& Y, const py::object& radius_obj,
                       const std::string& metric, const py::object& shift, bool exclude_self, bool sort_results,
                       double p, const py::object& V, const py::object& L, int n_threads) {
    BlockCall<T> c;
    bind_block<T>(c, X, Y, metric, shift, p, 1.0, 1.0, 3.0, V, L, n_threads);
    c.args.centre_on_x = true;
    double radius = 0;
    const double* radii = nullptr;
    py::array radii_arr;
    if (py::isinstance<py::array>(radius_obj)) {
        radii_arr = radius_obj.cast<py::array>();
        if (radii_arr.ndim() != 1 || radii_arr.shape(0) != c.x.rows || float_size(radii_arr) != 8 ||
            !(radii_arr.flags() & py::array::c_style))
            throw std::invalid_argument("radius array must be a contiguous float64 vector with one entry per query");
        radii = static_cast<const double*>(radii_arr.data());
    } else {
        radius = radius_obj.cast<double>();
    }
    std::vector<T> dist;
    std::vector<std::int64_t> idx, offsets;
    if (c.x.rows > 0) {
        py::gil_scoped_release release;
        PreparedProblem<T> pp;
        prepare_problem(pp, c.args, c.x, c.y, c.y_is_x);
        if (!pp.is_distance) throw std::invalid_argument("radius_neighbors needs a distance metric");
        radius_search(pp.pb, radius, exclude_self, sort_results, dist, idx, offsets, radii);
    } else {
        offsets.assign(1, 0);
    }
    py::array_t<T> d(py::ssize_t(dist.size()));
    py::array_t<std::int64_t> ix(py::ssize_t(idx.size()));
    py::array_t<std::int64_t> off(py::ssize_t(offsets.size()));
    std::copy(dist.begin(), dist.end(), d.mutable_data());
    std::copy(idx.begin(), idx.end(), ix.mutable_data());
    std::copy(offsets.begin(), offsets.end(), off.mutable_data());
    return py::make_tuple(d, ix, off);
}

// acc[k] += double(x[i][k]) for every row in order: the summation of the engine's stacked mean
// (metrics.cpp), so a chain of blocks through this gives the single-machine mean bit for bit.
template <class T>
void add_column_sums(const py::array& X, py::array& acc) {
    const MatrixView<T> x = block_view<T>(X, "X block");
    if (acc.ndim() != 1 || acc.shape(0) != x.cols || float_size(acc) != 8 || !(acc.flags() & py::array::c_style) ||
        !acc.writeable())
        throw std::invalid_argument("acc must be a writable contiguous float64 vector of length n_features");
    double* a = static_cast<double*>(acc.mutable_data());
    py::gil_scoped_release release;
    for (index_t i = 0; i < x.rows; ++i) {
        const T* r = x.row(i);
        for (index_t k = 0; k < x.cols; ++k) a[k] += double(r[k]);
    }
}

}  // namespace

void register_dask(py::module_& m) {
    m.def(
        "block_column_sums",
        [](const py::array& X, py::array& acc) {
            if (float_size(X) == 4)
                add_column_sums<float>(X, acc);
            else if (float_size(X) == 8)
                add_column_sums<double>(X, acc);
            else
                throw py::type_error("X block must be float32 or float64");
        },
        py::arg("X"), py::arg("acc"),
        "acc += column sums of X, row by row in double (the engine's stacked-mean order)");
    m.def(
        "block_pairwise",
        [](const py::array& X, const py::object& Y, py::array& out, const std::string& metric,
           const py::object& shift, double p, double gamma, double coef0, double degree, const py::object& V,
           const py::object& L, int n_threads) {
            if (float_size(X) == 4)
                pairwise_block<float>(X, Y, out, metric, shift, p, gamma, coef0, degree, V, L, n_threads);
            else if (float_size(X) == 8)
                pairwise_block<double>(X, Y, out, metric, shift, p, gamma, coef0, degree, V, L, n_threads);
            else
                throw py::type_error("X block must be float32 or float64");
        },
        py::arg("X"), py::arg("Y"), py::arg("out"), py::arg("metric"), py::arg("shift") = py::none(),
        py::arg("p") = 2.0, py::arg("gamma") = 1.0, py::arg("coef0") = 1.0, py::arg("degree") = 3.0,
        py::arg("V") = py::none(), py::arg("L") = py::none(), py::arg("n_threads") = 0,
        "pairwise of one block pair (C-contiguous blocks of one dtype), centred on `shift` when given");
    m.def(
        "block_kneighbors",
        [](const py::array& X, const py::object& Y, index_t k, const std::string& metric, const py::object& shift,
           bool exclude_self, double p, const py::object& V, const py::object& L, int n_threads) {
            if (float_size(X) == 4)
                return kneighbors_block<float>(X, Y, k, metric, shift, exclude_self, p, V, L, n_threads);
            if (float_size(X) == 8)
                return kneighbors_block<double>(X, Y, k, metric, shift, exclude_self, p, V, L, n_threads);
            throw py::type_error("X block must be float32 or float64");
        },
        py::arg("X"), py::arg("Y"), py::arg("k"), py::arg("metric"), py::arg("shift") = py::none(),
        py::arg("exclude_self") = false, py::arg("p") = 2.0, py::arg("V") = py::none(), py::arg("L") = py::none(),
        py::arg("n_threads") = 0, "kneighbors of one block pair, centred on `shift` when given (block-local indices)");
    m.def(
        "block_radius_neighbors",
        [](const py::array& X, const py::object& Y, const py::object& radius, const std::string& metric,
           const py::object& shift, bool exclude_self, bool sort_results, double p, const py::object& V,
           const py::object& L, int n_threads) {
            if (float_size(X) == 4)
                return radius_block<float>(X, Y, radius, metric, shift, exclude_self, sort_results, p, V, L,
                                           n_threads);
            if (float_size(X) == 8)
                return radius_block<double>(X, Y, radius, metric, shift, exclude_self, sort_results, p, V, L,
                                            n_threads);
            throw py::type_error("X block must be float32 or float64");
        },
        py::arg("X"), py::arg("Y"), py::arg("radius"), py::arg("metric"), py::arg("shift") = py::none(),
        py::arg("exclude_self") = false, py::arg("sort_results") = false, py::arg("p") = 2.0,
        py::arg("V") = py::none(), py::arg("L") = py::none(), py::arg("n_threads") = 0,
        "radius_neighbors of one block pair (CSR triple, block-local indices), centred on `shift` when given");
}
