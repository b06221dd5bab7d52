// The one binding file: the only translation unit that includes pybind11. Inputs arrive validated by the Python layer
// (python/fastmetric/_validation.py); here we only check what is cheap (ndim, dtype, strides,
// out= shape), build views without copying (except arrays whose strides are not whole items or whose
// data is unaligned: those are copied once, see whole_items), release the GIL and call the engine.
// std::invalid_argument -> ValueError, std::bad_alloc -> MemoryError (pybind11's translators).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <mutex>
#include <type_traits>
#include <stdexcept>
#include <string>
#include <vector>

#include "fastmetric/engine.hpp"
#include "fastmetric/metrics.hpp"
#include "fastmetric/topk.hpp"
#include "fastmetric/linalg.hpp"
#include "fastmetric/output_pool.hpp"
#include "fastmetric/learn/lmnn.hpp"
#include "fastmetric/learn/itml.hpp"
#include "fastmetric/learn/linear_sweep.hpp"
#include "fastmetric/learn/pair_sweep.hpp"
#include <cstdint>
#include <memory>

namespace py = pybind11;
using namespace fastmetric;


namespace {

// dtype tests by kind and size (descriptor identity differs for byte-swapped or unpickled dtypes)
bool native_order(const py::array& a) {
    const char b = a.dtype().byteorder();
    const uint16_t probe = 1;
    const bool little = *reinterpret_cast<const uint8_t*>(&probe) == 1;
    return b == '=' || b == '|' || b == (little ? '<' : '>');
}
bool is_f32(const py::array& a) { return a.dtype().kind() == 'f' && a.itemsize() == 4 && native_order(a); }
bool is_f64(const py::array& a) { return a.dtype().kind() == 'f' && a.itemsize() == 8 && native_order(a); }

// True when every stride of `a` is a whole number of items and its data is aligned to the item size:
// what a typed pointer into it assumes. A field of a structured array, a view of an interleaved buffer
// or np.frombuffer at an odd offset is not.
bool whole_items(const py::array& a, py::ssize_t item) {
    if (item <= 1) return true;
    if (reinterpret_cast<std::uintptr_t>(a.data()) % std::uintptr_t(item)) return false;
    for (py::ssize_t i = 0; i < a.ndim(); ++i)
        if (a.strides(i) % item) return false;
    return true;
}
bool whole_items(const py::array& a) { return whole_items(a, a.itemsize()); }

// `a` itself when whole_items(a), else a C-contiguous (hence aligned) copy: such arrays are accepted by
// copying them once, as scikit-learn does, instead of being refused.
py::array items_aligned(const py::array& a) {
    if (whole_items(a)) return a;
    return py::array(a.attr("copy")("C"));
}

template <class T>
MatrixView<T> matrix_view(const py::array& a) {
    MatrixView<T> v;
    v.data = static_cast<const T*>(a.data());
    v.rows = a.shape(0);
    v.cols = a.shape(1);
    v.row_stride = a.strides(0) / index_t(sizeof(T));
    v.col_stride = a.strides(1) / index_t(sizeof(T));
    return v;
}

// A 2-D float view of `a`, or of an aligned copy of it when !whole_items(a); the copy is kept alive by
// `keep` (left untouched, and nothing allocated, in the common case).
template <class T>
MatrixView<T> view2d(const py::array& a, const char* what, py::object& keep) {
    if (a.ndim() != 2) throw std::invalid_argument(std::string(what) + " must be 2-D");
    if (a.dtype().kind() != 'f' || a.itemsize() != index_t(sizeof(T)) || !native_order(a))
        throw std::invalid_argument(std::string(what) + " has the wrong dtype (expected native-order " +
                                    (sizeof(T) == 4 ? "float32)" : "float64)"));
    if (whole_items(a, index_t(sizeof(T)))) return matrix_view<T>(a);
    py::array c = items_aligned(a);
    keep = c;
    return matrix_view<T>(c);
}

template <class T>
T* writable_out(py::array& out, index_t rows, index_t cols, bool condensed, index_t& ldo) {
    if (out.dtype().kind() != 'f' || out.itemsize() != index_t(sizeof(T)) || !native_order(out))
        throw std::invalid_argument("out has the wrong dtype");
    if (!out.writeable()) throw std::invalid_argument("out is read-only");
    if (reinterpret_cast<std::uintptr_t>(out.data()) % sizeof(T))
        throw std::invalid_argument("out is not aligned to its item size");
    if (condensed) {
        if (out.ndim() != 1 || out.shape(0) != rows * (rows - 1) / 2 || (rows > 1 && out.strides(0) != index_t(sizeof(T))))
            throw std::invalid_argument("out must be a contiguous 1-D array of length n*(n-1)/2");
        ldo = 0;
    } else {
        if (out.ndim() != 2 || out.shape(0) != rows || out.shape(1) != cols)
            throw std::invalid_argument("out has the wrong shape");
        if ((cols > 1 && out.strides(1) != index_t(sizeof(T))) || out.strides(0) % index_t(sizeof(T)))
            throw std::invalid_argument("out must have contiguous rows");
        ldo = out.strides(0) / index_t(sizeof(T));
    }
    return static_cast<T*>(out.mutable_data());
}

// Below this many multiply-adds (n * m * d) a call runs on the calling thread: waking a thread team
// costs more than the whole computation. Results do not depend on the thread count, so this only
// changes the time.
constexpr double kSerialWork = 2e5;
int threads_for(index_t n, index_t m, index_t d, int requested) {
    if (double(n) * double(m) * double(d) < kSerialWork) return 1;
    return resolve_threads(requested);
}

template <class T>
struct BoundArgs {
    MetricArgs<T> args;
    MatrixView<T> x, y;
    bool y_is_x = false;
    py::array v_arr, l_arr;  // keep V / L alive while the views are used
    py::object x_copy, y_copy, l_copy;  // aligned copies of X / Y / L, made only when needed (see view2d)
    py::array w_arr;  // issue 16 part 1: keeps w alive
};

// issue 16 part 1: scipy's w= (contiguous, n_features long, the input dtype; checked in Python) and
// jensenshannon's base= (0: natural log)
template <class T>
void bind_scipy_extras(BoundArgs<T>& b, const py::object& w, double base) {
    b.args.js_base = base;
    if (w.is_none()) return;
    b.w_arr = items_aligned(py::cast<py::array>(w));
    if (b.w_arr.ndim() != 1 || b.w_arr.shape(0) != b.x.cols || b.w_arr.itemsize() != index_t(sizeof(T)) ||
        b.w_arr.dtype().kind() != 'f' || !native_order(b.w_arr) || b.w_arr.strides(0) != index_t(sizeof(T)))
        throw std::invalid_argument("w must be a contiguous 1-D array of length n_features in the inputs' dtype");
    b.args.w = static_cast<const T*>(b.w_arr.data());
}

template <class T>
void bind_args(BoundArgs<T>& b, const py::array& X, const py::object& Y, const std::string& metric, double p,
               double gamma, double coef0, double degree, const py::object& V, const py::object& L, int n_threads) {
    MetricArgs<T>& args = b.args;
    args.metric = metric;
    args.p = p;
    args.gamma = gamma;
    args.coef0 = coef0;
    args.degree = degree;
    b.x = view2d<T>(X, "X", b.x_copy);
    b.y_is_x = Y.is_none();
    b.y = b.y_is_x ? b.x : view2d<T>(py::cast<py::array>(Y), "Y", b.y_copy);
    if (b.x.cols != b.y.cols) throw std::invalid_argument("X and Y have different numbers of features");
    args.n_threads = threads_for(b.x.rows, b.y.rows, b.x.cols, n_threads);
    if (!V.is_none()) {
        b.v_arr = items_aligned(py::cast<py::array>(V));
        if (b.v_arr.ndim() != 1 || b.v_arr.shape(0) != b.x.cols || b.v_arr.itemsize() != index_t(sizeof(T)) ||
            b.v_arr.dtype().kind() != 'f' || !native_order(b.v_arr) || b.v_arr.strides(0) != index_t(sizeof(T)))
            throw std::invalid_argument("V must be a contiguous 1-D array of length n_features");
        args.V = static_cast<const T*>(b.v_arr.data());
    }
    if (!L.is_none()) {
        b.l_arr = py::cast<py::array>(L);
        args.L = view2d<T>(b.l_arr, "L", b.l_copy);
        if (args.L.cols != b.x.cols) throw std::invalid_argument("L must have n_features columns");
    }
}

template <class T>
py::tuple kneighbors_impl(const py::array& X, const py::object& Y, index_t k, const std::string& metric,
                          bool exclude_self, double p, const py::object& V, const py::object& L, int n_threads,
                          const py::object& w, double base) {
    BoundArgs<T> b;
    bind_args<T>(b, X, Y, metric, p, 1.0, 1.0, 3.0, V, L, n_threads);
    bind_scipy_extras(b, w, base);
    b.args.centre_on_x = true;
    if (k <= 0) throw std::invalid_argument("k must be positive");
    py::array_t<T> dist({b.x.rows, k});
    py::array_t<std::int64_t> idx({b.x.rows, k});
    T* d = dist.mutable_data();
    std::int64_t* ix = idx.mutable_data();
    {
        py::gil_scoped_release release;
        PreparedProblem<T> pp;
        prepare_problem(pp, b.args, b.x, b.y, b.y_is_x);
        if (!pp.is_distance) throw std::invalid_argument("kneighbors needs a distance metric");
        knn_search(pp.pb, k, exclude_self, d, ix);
    }
    return py::make_tuple(dist, idx);
}

template <class T>
py::tuple radius_impl(const py::array& X, const py::object& Y, const py::object& radius_obj,
                      const std::string& metric, bool exclude_self, bool sort_results, double p, const py::object& V,
                      const py::object& L, int n_threads, const py::object& qlab_obj, const py::object& rlab_obj,
                      const py::object& w, double base) {
    BoundArgs<T> b;
    bind_args<T>(b, X, Y, metric, p, 1.0, 1.0, 3.0, V, L, n_threads);
    bind_scipy_extras(b, w, base);
    b.args.centre_on_x = true;
    // radius: a number, or a C-contiguous float64 array with one radius per query row
    double radius = 0;
    const double* radii = nullptr;
    py::array radii_arr;
    if (py::isinstance<py::array>(radius_obj)) {
        radii_arr = items_aligned(radius_obj.cast<py::array>());
        if (radii_arr.ndim() != 1 || !is_f64(radii_arr) || !(radii_arr.flags() & py::array::c_style) ||
            radii_arr.shape(0) != b.x.rows)
            throw std::invalid_argument("radius array must be a contiguous float64 vector with one entry per query");
        radii = static_cast<const double*>(radii_arr.data());
    } else {
        radius = radius_obj.cast<double>();
    }
    // labels: both or neither, C-contiguous int64, one per query / reference row
    const std::int64_t* qlab = nullptr;
    const std::int64_t* rlab = nullptr;
    py::array qlab_arr, rlab_arr;
    if (!qlab_obj.is_none() || !rlab_obj.is_none()) {
        if (qlab_obj.is_none() || rlab_obj.is_none())
            throw std::invalid_argument("query_labels and ref_labels go together");
        qlab_arr = items_aligned(qlab_obj.cast<py::array>());
        rlab_arr = items_aligned(rlab_obj.cast<py::array>());
        const index_t n_ref = b.y_is_x ? b.x.rows : b.y.rows;
        for (const auto* a : {&qlab_arr, &rlab_arr})
            if (a->ndim() != 1 || !a->dtype().is(py::dtype::of<std::int64_t>()) || !(a->flags() & py::array::c_style))
                throw std::invalid_argument("labels must be contiguous int64 vectors");
        if (qlab_arr.shape(0) != b.x.rows || rlab_arr.shape(0) != n_ref)
            throw std::invalid_argument("query_labels / ref_labels must have one entry per query / reference row");
        qlab = static_cast<const std::int64_t*>(qlab_arr.data());
        rlab = static_cast<const std::int64_t*>(rlab_arr.data());
    }
    std::vector<T> dist;
    std::vector<std::int64_t> idx, offsets;
    {
        py::gil_scoped_release release;
        PreparedProblem<T> pp;
        prepare_problem(pp, b.args, b.x, b.y, b.y_is_x);
        if (!pp.is_distance) throw std::invalid_argument("radius_neighbors needs a distance metric");
        radius_search(pp.pb, radius, exclude_self, sort_results, dist, idx, offsets, radii, qlab, rlab);
    }
    py::array_t<T> d(py::ssize_t(dist.size()));
    py::array_t<std::int64_t> ix(py::ssize_t(idx.size()));
    py::array_t<std::int64_t> off(py::ssize_t(offsets.size()));
    std::copy(dist.begin(), dist.end(), d.mutable_data());
    std::copy(idx.begin(), idx.end(), ix.mutable_data());
    std::copy(offsets.begin(), offsets.end(), off.mutable_data());
    return py::make_tuple(d, ix, off);
}

py::tuple kneighbors_py(const py::array& X, const py::object& Y, index_t k, const std::string& metric,
                        bool exclude_self, double p, const py::object& V, const py::object& L, int n_threads,
                        const py::object& w, double base) {
    if (is_f32(X)) return kneighbors_impl<float>(X, Y, k, metric, exclude_self, p, V, L, n_threads, w, base);
    if (is_f64(X)) return kneighbors_impl<double>(X, Y, k, metric, exclude_self, p, V, L, n_threads, w, base);
    throw py::type_error("X must be float32 or float64");
}
py::tuple radius_py(const py::array& X, const py::object& Y, const py::object& radius, const std::string& metric,
                    bool exclude_self, bool sort_results, double p, const py::object& V, const py::object& L,
                    int n_threads, const py::object& query_labels, const py::object& ref_labels, const py::object& w,
                    double base) {
    if (is_f32(X))
        return radius_impl<float>(X, Y, radius, metric, exclude_self, sort_results, p, V, L, n_threads, query_labels,
                                  ref_labels, w, base);
    if (is_f64(X))
        return radius_impl<double>(X, Y, radius, metric, exclude_self, sort_results, p, V, L, n_threads, query_labels,
                                   ref_labels, w, base);
    throw py::type_error("X must be float32 or float64");
}

template <class T>
void pairwise_impl(const py::array& X, const py::object& Y, py::array& out, const std::string& metric,
                   bool condensed, double p, double gamma, double coef0, double degree, const py::object& V,
                   const py::object& L, int n_threads, const py::object& w, double base) {
    BoundArgs<T> b;
    bind_args<T>(b, X, Y, metric, p, gamma, coef0, degree, V, L, n_threads);
    bind_scipy_extras(b, w, base);
    if (condensed && !b.y_is_x) throw std::invalid_argument("condensed output needs Y=None");
    index_t ldo = 0;
    T* o = writable_out<T>(out, b.x.rows, b.y.rows, condensed, ldo);
    py::gil_scoped_release release;
    PreparedProblem<T> pp;
    prepare_problem(pp, b.args, b.x, b.y, b.y_is_x);
    if (condensed)
        pairwise_condensed(pp.pb, o);
    else
        pairwise_dense(pp.pb, o, ldo);
}

void pairwise(const py::array& X, const py::object& Y, py::array& out, const std::string& metric, bool condensed,
              double p, double gamma, double coef0, double degree, const py::object& V, const py::object& L,
              int n_threads, const py::object& w, double base) {
    if (is_f32(X))
        pairwise_impl<float>(X, Y, out, metric, condensed, p, gamma, coef0, degree, V, L, n_threads, w, base);
    else if (is_f64(X))
        pairwise_impl<double>(X, Y, out, metric, condensed, p, gamma, coef0, degree, V, L, n_threads, w, base);
    else
        throw py::type_error("X must be float32 or float64");
}

// ----------------------------------------------------------------------------- the plain fast path
// Most calls pass native float32/float64 ndarrays of one dtype and no out= or metric parameters. For
// them the checks of the Python layer (_validation.py) are made here, in one call: exact ndarray type,
// 2-D, at least one feature, the same dtype and feature count, strides in whole items, aliasing
// (Y is X, or the same view of the same memory) and the finite scan. Any other input -- lists,
// other dtypes, mixed dtypes, non-finite values, k too large -- returns None and the Python layer
// takes its full path, which converts what it may and raises the documented errors. None is never a
// result, so the caller can tell the two apart.
PyObject* g_ndarray_type = nullptr;  // numpy.ndarray, set when the module loads

// 4 or 8 for a plain 2-D native float ndarray with d >= 1, aligned data and whole-item strides; 0 otherwise.
int plain_bytes(const py::handle& h) {
    if (h.ptr() == nullptr || reinterpret_cast<PyObject*>(Py_TYPE(h.ptr())) != g_ndarray_type) return 0;
    const auto a = py::reinterpret_borrow<py::array>(h);
    if (a.ndim() != 2 || a.shape(1) <= 0 || a.dtype().kind() != 'f' || !native_order(a)) return 0;
    const py::ssize_t size = a.itemsize();
    if ((size != 4 && size != 8) || !whole_items(a, size)) return 0;  // odd strides / unaligned: full path copies
    return int(size);
}

template <class T>
MatrixView<T> plain_view(const py::handle& h) {
    return matrix_view<T>(py::reinterpret_borrow<py::array>(h));
}

// The finite scan (KernelTable::any_nonfinite, at the active instruction set's width).
template <class T>
bool all_finite(const MatrixView<T>& m) {
    if (m.rows == 0 || m.cols == 0) return true;
    // runs along the dimension with the smaller stride (rows of a C array, columns of a Fortran one)
    index_t runs = m.rows, len = m.cols, run_stride = m.row_stride, step = m.col_stride;
    if (m.rows > 1 && m.cols > 1 && std::abs(m.row_stride) < std::abs(m.col_stride)) {
        std::swap(runs, len);
        std::swap(run_stride, step);
    }
    if (runs == 1 || len == 1) {  // a single run (one row or one column)
        len = runs * len;
        step = runs == 1 ? step : run_stride;
        runs = 1;
    }
    const KernelTable<T>& kt = active_kernels<T>();
    if (step == 1 && run_stride == len) return !kt.any_nonfinite(m.data, runs * len, 1);  // one block
    for (index_t r = 0; r < runs; ++r)
        if (kt.any_nonfinite(m.data + r * run_stride, len, step)) return false;
    return true;
}

// A result array as the Python layer's new_output makes it: numpy's allocator for small results,
// the output pool from 4 MiB on. A result that cannot be allocated gives false (the full path then
// raises its MemoryError naming the shape).
constexpr std::size_t kPoolMinBytes = std::size_t(4) << 20;
py::array empty_output(const std::vector<py::ssize_t>& shape, const py::dtype& dtype);
template <class T>
bool new_result(const std::vector<py::ssize_t>& shape, py::array& out) {
    std::size_t bytes = sizeof(T);
    for (py::ssize_t s : shape) {
        if (s != 0 && bytes > (std::size_t(1) << 62) / std::size_t(s)) return false;
        bytes *= std::size_t(s);
    }
    if (bytes < kPoolMinBytes) {
        out = py::array_t<T>(shape);
        return true;
    }
    try {
        out = empty_output(shape, py::dtype::of<T>());
    } catch (const std::bad_alloc&) {
        return false;
    }
    return true;
}

// The views of plain inputs X (already known to hold T) and Y (None: X alone); false when the fast
// path does not apply.
template <class T>
bool plain_pair(const py::handle& X, const py::handle& Y, MatrixView<T>& x, MatrixView<T>& y, bool& y_is_x) {
    x = plain_view<T>(X);
    y_is_x = Y.is_none();
    if (!y_is_x) {
        if (plain_bytes(Y) != int(sizeof(T))) return false;
        y = plain_view<T>(Y);
        if (y.cols != x.cols) return false;
        y_is_x = X.ptr() == Y.ptr() || x.same_as(y);
    }
    if (y_is_x) y = x;
    return true;
}
template <class T>
bool finite_pair(const MatrixView<T>& x, const MatrixView<T>& y, bool y_is_x) {
    return all_finite(x) && (y_is_x || all_finite(y));
}

template <class T>
py::object plain_pairwise_impl(const py::handle& X, const py::handle& Y, const std::string& metric, bool condensed,
                               bool check_finite, double gamma, double coef0, double degree, int n_threads) {
    MatrixView<T> x, y;
    bool y_is_x = false;
    if (!plain_pair<T>(X, Y, x, y, y_is_x) || (condensed && !Y.is_none())) return py::none();
    MetricArgs<T> args;
    args.metric = metric;
    args.gamma = std::isnan(gamma) ? 1.0 / double(x.cols) : gamma;
    args.coef0 = coef0;
    args.degree = degree;
    args.n_threads = threads_for(x.rows, y.rows, x.cols, n_threads);
    py::array out;
    const std::vector<py::ssize_t> shape = condensed ? std::vector<py::ssize_t>{x.rows * (x.rows - 1) / 2}
                                                     : std::vector<py::ssize_t>{x.rows, y.rows};
    if (!new_result<T>(shape, out)) return py::none();
    T* o = static_cast<T*>(out.mutable_data());
    bool finite = true;
    {
        py::gil_scoped_release release;
        finite = !check_finite || finite_pair(x, y, y_is_x);
        if (finite && out.size() != 0) {
            PreparedProblem<T> pp;
            prepare_problem(pp, args, x, y, y_is_x);
            if (condensed)
                pairwise_condensed(pp.pb, o);
            else
                pairwise_dense(pp.pb, o, y.rows);
        }
    }
    if (!finite) return py::none();  // the full path names the culprit
    return std::move(out);
}

// pairwise for plain inputs: the result array, or None (see above). gamma NaN means 1 / n_features.
py::object plain_pairwise(const py::handle& X, const py::handle& Y, const std::string& metric, bool condensed,
                          bool check_finite, double gamma, double coef0, double degree, int n_threads) {
    switch (plain_bytes(X)) {
        case 4: return plain_pairwise_impl<float>(X, Y, metric, condensed, check_finite, gamma, coef0, degree, n_threads);
        case 8: return plain_pairwise_impl<double>(X, Y, metric, condensed, check_finite, gamma, coef0, degree, n_threads);
        default: return py::none();
    }
}

template <class T>
py::object plain_kneighbors_impl(const py::handle& X, const py::handle& Y, index_t k, const std::string& metric,
                                 bool exclude_self, bool check_finite, int n_threads) {
    MatrixView<T> x, y;
    bool y_is_x = false;
    if (!plain_pair<T>(X, Y, x, y, y_is_x)) return py::none();
    if (k <= 0 || k > y.rows - (exclude_self ? 1 : 0) || x.rows == 0) return py::none();
    MetricArgs<T> args;
    args.metric = metric;
    args.centre_on_x = true;
    args.n_threads = threads_for(x.rows, y.rows, x.cols, n_threads);
    py::array_t<T> dist({x.rows, k});
    py::array_t<std::int64_t> idx({x.rows, k});
    T* d = dist.mutable_data();
    std::int64_t* ix = idx.mutable_data();
    bool finite = true;
    {
        py::gil_scoped_release release;
        finite = !check_finite || finite_pair(x, y, y_is_x);
        if (finite) {
            PreparedProblem<T> pp;
            prepare_problem(pp, args, x, y, y_is_x);
            if (!pp.is_distance) throw std::invalid_argument("kneighbors needs a distance metric");
            knn_search(pp.pb, k, exclude_self, d, ix);
        }
    }
    if (!finite) return py::none();
    return py::make_tuple(dist, idx);
}

// kneighbors for plain inputs: (distances, indices), or None (see above; also for k out of range).
py::object plain_kneighbors(const py::handle& X, const py::handle& Y, index_t k, const std::string& metric,
                            bool exclude_self, bool check_finite, int n_threads) {
    switch (plain_bytes(X)) {
        case 4: return plain_kneighbors_impl<float>(X, Y, k, metric, exclude_self, check_finite, n_threads);
        case 8: return plain_kneighbors_impl<double>(X, Y, k, metric, exclude_self, check_finite, n_threads);
        default: return py::none();
    }
}

template <class T>
void linear_map_impl(const py::array& X, const py::object& shift, const py::array& L, py::array& out, int n_threads) {
    py::object x_copy, l_copy;
    MatrixView<T> x = view2d<T>(X, "X", x_copy);
    MatrixView<T> l = view2d<T>(L, "L", l_copy);
    if (l.cols != x.cols) throw std::invalid_argument("L must have n_features columns");
    py::array s_arr;
    const T* s = nullptr;
    if (!shift.is_none()) {
        s_arr = items_aligned(py::cast<py::array>(shift));
        if (s_arr.ndim() != 1 || s_arr.shape(0) != x.cols || s_arr.itemsize() != index_t(sizeof(T)) || s_arr.dtype().kind() != 'f' || !native_order(s_arr) ||
            s_arr.strides(0) != index_t(sizeof(T)))
            throw std::invalid_argument("shift must be a contiguous 1-D array of length n_features");
        s = static_cast<const T*>(s_arr.data());
    }
    index_t ldo = 0;
    T* o = writable_out<T>(out, x.rows, l.rows, false, ldo);
    if (ldo != l.rows && x.rows > 1) throw std::invalid_argument("out must be C-contiguous");
    const int nt = resolve_threads(n_threads);
    py::gil_scoped_release release;
    linear_map(x, s, l, o, nt);
}

void linear_map_py(const py::array& X, const py::object& shift, const py::array& L, py::array& out, int n_threads) {
    if (is_f32(X))
        linear_map_impl<float>(X, shift, L, out, n_threads);
    else if (is_f64(X))
        linear_map_impl<double>(X, shift, L, out, n_threads);
    else
        throw py::type_error("X must be float32 or float64");
}

// R (upper) with R^T R = A for a symmetric positive-definite A, or None.
py::object cholesky_py(const py::array_t<double, py::array::c_style | py::array::forcecast>& A) {
    if (A.ndim() != 2 || A.shape(0) != A.shape(1)) throw std::invalid_argument("A must be a square matrix");
    const index_t d = A.shape(0);
    py::array_t<double> R({d, d});
    std::copy(A.data(), A.data() + d * d, R.mutable_data());
    bool ok;
    {
        py::gil_scoped_release release;
        ok = cholesky_upper(R.mutable_data(), d);
    }
    if (!ok) return py::none();
    return std::move(R);
}

// L = R^{-T} with L^T L = A^{-1}, for a symmetric positive-definite A (e.g. a covariance), or None.
py::object inverse_factor_py(const py::array_t<double, py::array::c_style | py::array::forcecast>& A) {
    if (A.ndim() != 2 || A.shape(0) != A.shape(1)) throw std::invalid_argument("A must be a square matrix");
    const index_t d = A.shape(0);
    py::array_t<double> L({d, d});
    double* l = L.mutable_data();
    std::vector<double> R(A.data(), A.data() + d * d);
    bool ok;
    {
        py::gil_scoped_release release;
        ok = cholesky_upper(R.data(), d);
        if (ok) {
            invert_upper(R.data(), d);
            for (index_t i = 0; i < d; ++i)
                for (index_t j = 0; j < d; ++j) l[i * d + j] = R[size_t(j * d + i)];
        }
    }
    if (!ok) return py::none();
    return std::move(L);
}

// (w, V) or w: the eigenvalues (ascending) and orthonormal eigenvectors (columns) of the symmetric A
// (its upper triangle is read), by fastmetric's own solver (linalg.hpp; LSML's descent uses it).
py::object symmetric_eigen_py(const py::array_t<double, py::array::c_style | py::array::forcecast>& A, bool vectors) {
    if (A.ndim() != 2 || A.shape(0) != A.shape(1))
        throw std::invalid_argument("A must be a square matrix, got " + std::to_string(A.ndim()) + " dimensions of sizes " +
                                    std::to_string(A.ndim() ? A.shape(0) : 0) + ", " +
                                    std::to_string(A.ndim() > 1 ? A.shape(1) : 0));
    const index_t d = A.shape(0);
    for (index_t i = 0; i < d * d; ++i)
        if (!std::isfinite(A.data()[i])) throw std::invalid_argument("A must be finite");
    std::vector<double> work(A.data(), A.data() + d * d);
    py::array_t<double> w(d);
    py::array_t<double> V(vectors ? std::vector<py::ssize_t>{d, d} : std::vector<py::ssize_t>{0, 0});
    bool ok;
    {
        py::gil_scoped_release release;
        ok = symmetric_eigen(work.data(), d, w.mutable_data(), vectors ? V.mutable_data() : nullptr);
    }
    if (!ok) throw std::runtime_error("symmetric_eigen: the QL iteration did not converge");
    if (vectors) return py::make_tuple(w, V);
    return std::move(w);
}

// An uninitialised C-ordered array whose memory comes from the output pool and goes back to it
// when the array (and every view of it) is gone.
struct PooledBlock {
    void* p;
    std::size_t capacity;
};
py::array empty_output(const std::vector<py::ssize_t>& shape, const py::dtype& dtype) {
    std::size_t bytes = std::size_t(dtype.itemsize());
    for (py::ssize_t s : shape) {
        if (s < 0) throw std::invalid_argument("negative dimension");
        if (s != 0 && bytes > std::numeric_limits<std::size_t>::max() / std::size_t(s)) throw std::bad_alloc();
        bytes *= std::size_t(s);
    }
    std::size_t capacity = 0;
    void* p = pool_acquire(bytes, &capacity);
    auto* block = new PooledBlock{p, capacity};
    py::capsule owner(block, [](void* b) {
        auto* blk = static_cast<PooledBlock*>(b);
        pool_release(blk->p, blk->capacity);
        delete blk;
    });
    return py::array(dtype, shape, p, owner);
}

py::dict output_pool(py::object max_bytes) {
    if (!max_bytes.is_none()) {
        const long long v = max_bytes.cast<long long>();
        if (v < 0) throw std::invalid_argument("max_bytes must be >= 0");
        pool_set_max_bytes(std::size_t(v));
    }
    const PoolStats st = pool_stats();
    py::dict d;
    d["held_bytes"] = st.held_bytes;
    d["held_buffers"] = st.held_buffers;
    d["max_bytes"] = st.max_bytes;
    d["hits"] = st.hits;
    d["misses"] = st.misses;
    return d;
}

// Called by the driver from the thread that released the GIL (OpenMP thread 0): take the GIL for a
// moment and let Python run its signal handlers. A pending KeyboardInterrupt stops the kernel.
bool python_signal_pending() {
    if (!Py_IsInitialized()) return false;
    py::gil_scoped_acquire acquire;
    if (PyErr_CheckSignals() != 0) {
        PyErr_Clear();  // re-raised as KeyboardInterrupt by the translator below
        return true;
    }
    return false;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Helpers shared by the learner bindings below.
namespace bind_learn_common {
using fastmetric::MatrixView;

// float kind and item size (not dtype identity: unpickled arrays carry equal, distinct dtype objects)
// (byte-swapped arrays count as no float: the sweeps read native values only)
int float_bytes(const py::array& a) { return a.dtype().kind() == 'f' && native_order(a) ? int(a.itemsize()) : 0; }

bool c_contiguous(const py::array& a) { return (a.flags() & py::array::c_style) != 0; }

template <class T>
MatrixView<T> c_matrix(const py::array& a, const char* what) {
    if (a.ndim() != 2) throw std::invalid_argument(std::string(what) + " must be 2-D");
    if (float_bytes(a) != int(sizeof(T)))
        throw std::invalid_argument(std::string(what) + " has the wrong dtype (expected native-order " +
                                    (sizeof(T) == 4 ? "float32)" : "float64)"));
    if (!c_contiguous(a)) throw std::invalid_argument(std::string(what) + " must be C-contiguous");
    if (!whole_items(a))  // callers pass items_aligned(...) handles; this only guards the typed pointer
        throw std::invalid_argument(std::string(what) + " is not aligned to its item size");
    return MatrixView<T>::dense(static_cast<const T*>(a.data()), a.shape(0), a.shape(1));
}

// A contiguous float64 array of the given total size, optionally writable.
double* f64_buffer(py::array& a, const char* what, fastmetric::index_t size, bool writable) {
    if (float_bytes(a) != 8 || !c_contiguous(a) || !whole_items(a))
        throw std::invalid_argument(std::string(what) + " must be a C-contiguous, aligned float64 array");
    if (fastmetric::index_t(a.size()) != size)
        throw std::invalid_argument(std::string(what) + " has " + std::to_string(a.size()) + " elements, expected " +
                                    std::to_string(size));
    if (writable && !a.writeable()) throw std::invalid_argument(std::string(what) + " must be writable");
    return static_cast<double*>(a.mutable_data());
}

}  // namespace bind_learn_common

// ---------------------------------------------------------------------------------------------
// Metric learners' sweeps (LMNN). Inputs are validated and laid out by python/fastmetric/learn/*.py;
// here only cheap checks (ndim, dtype, contiguity, shapes), then the GIL is released around the sweep.
namespace bind_learn1 {
using fastmetric::index_t;
using fastmetric::MatrixView;
using namespace bind_learn_common;
namespace {

const std::int64_t* c_int64(const py::array& a, const char* what, index_t len) {
    if (a.ndim() != 1 || a.dtype().kind() != 'i' || a.itemsize() != 8 || !(a.flags() & py::array::c_style) ||
        !whole_items(a))
        throw std::invalid_argument(std::string(what) + " must be a contiguous, aligned 1-D int64 array");
    if (len >= 0 && a.shape(0) != len)
        throw std::invalid_argument(std::string(what) + " has length " + std::to_string(a.shape(0)) + ", expected " +
                                    std::to_string(len));
    return static_cast<const std::int64_t*>(a.data());
}

// LMNN data kept across the evaluations of one fit (X packed once for the gradient's U^T X).
class PyLmnnProblem {
  public:
    PyLmnnProblem(py::array X, py::array targets, py::array labels, const py::object& sample_weight)
        : X_(items_aligned(X)), targets_(items_aligned(targets)), labels_(items_aligned(labels)) {
        bytes_ = float_bytes(X_);
        if (bytes_ != 4 && bytes_ != 8) throw py::type_error("X must be float32 or float64");
        if (X_.ndim() != 2) throw std::invalid_argument("X must be 2-D");
        if (targets_.ndim() != 2 || targets_.shape(0) != X_.shape(0) || targets_.dtype().kind() != 'i' ||
            targets_.itemsize() != 8 || !(targets_.flags() & py::array::c_style))
            throw std::invalid_argument("targets must be a C-contiguous int64 array of shape (n_samples, k)");
        c_int64(labels_, "labels", X_.shape(0));
        if (!sample_weight.is_none()) {
            py::array w = items_aligned(py::array::ensure(sample_weight));
            const double* wp = f64_buffer(w, "sample_weight", X_.shape(0), false);
            for (index_t i = 0; i < X_.shape(0); ++i)
                if (!std::isfinite(wp[i]) || wp[i] < 0)
                    throw std::invalid_argument("sample_weight must be finite and >= 0");
            w_.assign(wp, wp + X_.shape(0));
        }
    }

    py::array_t<double> margins(const py::array& Z_in, int n_threads) {
        const py::array Z = items_aligned(Z_in);
        py::array_t<double> out(X_.shape(0));
        double* o = out.mutable_data();
        const std::int64_t* tg = static_cast<const std::int64_t*>(targets_.data());
        const index_t kt = targets_.shape(1);
        if (bytes_ == 4) {
            MatrixView<float> z = z_view<float>(Z);
            py::gil_scoped_release release;
            fastmetric::learn::lmnn_margins<float>(z, tg, kt, o, n_threads);
        } else {
            MatrixView<double> z = z_view<double>(Z);
            py::gil_scoped_release release;
            fastmetric::learn::lmnn_margins<double>(z, tg, kt, o, n_threads);
        }
        return out;
    }

    // hits: (rows, hits) pairs of an impostor search, any order, same-label pairs included; kept as
    // the candidate lists of the following loss_grad calls. Returns the number of candidates.
    std::int64_t set_hits(const py::array& rows_in, const py::array& hits_in) {
        const py::array rows = items_aligned(rows_in), hits = items_aligned(hits_in);
        const index_t n = X_.shape(0);
        const std::int64_t* r = c_int64(rows, "rows", -1);
        const std::int64_t* h = c_int64(hits, "hits", rows.shape(0));
        const std::int64_t* lab = static_cast<const std::int64_t*>(labels_.data());
        {
            py::gil_scoped_release release;
            fastmetric::learn::lmnn_candidates_csr(n, r, h, rows.shape(0), lab, off_, idx_);
        }
        return std::int64_t(idx_.size());
    }

    py::tuple loss_grad(const py::array& Z_in, double pull_weight, int n_threads) {
        return evaluate(Z_in, pull_weight, n_threads, false);
    }
    py::tuple loss_coefficients(const py::array& Z_in, double pull_weight, int n_threads) {
        return evaluate(Z_in, pull_weight, n_threads, true);
    }

  private:
    py::tuple evaluate(const py::array& Z_in, double pull_weight, int n_threads, bool coefficients) {
        if (off_.empty()) throw std::invalid_argument("set_hits must be called before loss_grad");
        const py::array Z = items_aligned(Z_in);
        return bytes_ == 4 ? run<float>(Z, off_, idx_, pull_weight, n_threads, coefficients)
                           : run<double>(Z, off_, idx_, pull_weight, n_threads, coefficients);
    }

    template <class T>
    MatrixView<T> z_view(const py::array& Z) const {
        if (float_bytes(Z) != bytes_) throw std::invalid_argument("Z must have the dtype of X");
        MatrixView<T> z = c_matrix<T>(Z, "Z");
        if (z.rows != X_.shape(0)) throw std::invalid_argument("Z must have one row per sample");
        return z;
    }

    template <class T>
    py::tuple run(const py::array& Z, const std::vector<std::int64_t>& off, const std::vector<std::int64_t>& idx,
                  double pull_weight, int n_threads, bool coefficients) {
        MatrixView<T> x = c_matrix<T>(X_, "X");
        MatrixView<T> z = z_view<T>(Z);
        const std::int64_t* tg = static_cast<const std::int64_t*>(targets_.data());
        const index_t kt = targets_.shape(1);
        // the gradient (k x d) or its coefficients U (n x k, grad = 2 U^T X)
        py::array_t<double> out = coefficients ? py::array_t<double>({z.rows, z.cols}) : py::array_t<double>({z.cols, x.cols});
        double* o = out.mutable_data();
        fastmetric::learn::LmnnResult res;
        {
            py::gil_scoped_release release;
            res = fastmetric::learn::lmnn_loss_grad<T>(x, z, tg, kt, off.data(), idx.data(), pull_weight,
                                                       coefficients ? nullptr : o, n_threads, ws_,
                                                       w_.empty() ? nullptr : w_.data(), coefficients ? o : nullptr);
        }
        return py::make_tuple(res.loss, out, res.n_active, res.pull, res.push, std::int64_t(idx.size()));
    }

    py::array X_, targets_, labels_;
    int bytes_ = 0;
    fastmetric::learn::BtXWorkspace ws_;
    std::vector<std::int64_t> off_, idx_;
    std::vector<double> w_;  // per-row weights (empty: all 1)
};

}  // namespace

void register_learn1(py::module_& m) {
    py::class_<PyLmnnProblem>(m, "LmnnProblem", "LMNN data (X, target neighbours, labels) for many evaluations")
        .def(py::init<py::array, py::array, py::array, const py::object&>(), py::arg("X"), py::arg("targets"),
             py::arg("labels"), py::arg("sample_weight") = py::none())
        .def("margins", &PyLmnnProblem::margins, py::arg("Z"), py::arg("n_threads") = 0,
             "Squared margin max_j d_ij + 1 of every row (-inf without target neighbours).")
        .def("set_hits", &PyLmnnProblem::set_hits, py::arg("rows"), py::arg("hits"),
             "Impostor candidates from search hits (rows[e], hits[e]) (same-label hits dropped); returns their count.")
        .def("loss_grad", &PyLmnnProblem::loss_grad, py::arg("Z"), py::arg("pull_weight"), py::arg("n_threads") = 0,
             "Returns (loss, grad (k x d, float64), n_active_triplets, pull, push, n_candidates) for Z = X L^T "
             "and the candidates of the last set_hits.")
        .def("loss_coefficients", &PyLmnnProblem::loss_coefficients, py::arg("Z"), py::arg("pull_weight"),
             py::arg("n_threads") = 0,
             "As loss_grad, with U (n x k, float64; grad = 2 U^T X) in place of the gradient: for callers "
             "that hold X elsewhere (the Dask fit).");
}
}  // namespace bind_learn1

// ---------------------------------------------------------------------------------------------
// Metric learners' sweeps (the pair sweep of NCA / MLKR, ITML). Inputs are validated and laid out by python/fastmetric/learn/*.py;
// here only cheap checks (ndim, dtype, contiguity, shapes), then the GIL is released around the sweep.
namespace bind_learn2 {
using fastmetric::index_t;
using fastmetric::MatrixView;
using namespace bind_learn_common;
namespace {

fastmetric::learn::PairObjective objective_of(const std::string& name) {
    if (name == "nca") return fastmetric::learn::PairObjective::nca;
    if (name == "mlkr") return fastmetric::learn::PairObjective::mlkr;
    throw std::invalid_argument("objective must be 'nca' or 'mlkr', got '" + name + "'");
}

fastmetric::learn::SweepMode mode_of(const std::string& name) {
    if (name == "auto") return fastmetric::learn::SweepMode::automatic;
    if (name == "dense") return fastmetric::learn::SweepMode::dense;
    if (name == "sparse") return fastmetric::learn::SweepMode::sparse;
    throw std::invalid_argument("mode must be 'auto', 'dense' or 'sparse', got '" + name + "'");
}

const char* mode_name(fastmetric::learn::SweepMode m) {
    return m == fastmetric::learn::SweepMode::dense ? "dense" : m == fastmetric::learn::SweepMode::sparse ? "sparse" : "auto";
}

// The pair sweep on an embedding Z (y copied, buffers reused across evaluations): (loss, G[, pred]).
class PyPairSweep {
  public:
    PyPairSweep(py::array y, const std::string& objective, std::size_t cache_bytes, std::int64_t tile,
                const py::object& sample_weight)
        : objective_(objective_of(objective)), cache_bytes_(cache_bytes), tile_(tile) {
        y = items_aligned(y);
        const index_t n = y.ndim() == 1 ? y.shape(0) : -1;
        if (n < 0) throw std::invalid_argument("y must be 1-D");
        const double* yp = f64_buffer(y, "y", n, false);
        y_.assign(yp, yp + n);
        if (!sample_weight.is_none()) {
            py::array w = items_aligned(py::array::ensure(sample_weight));
            const double* wp = f64_buffer(w, "sample_weight", n, false);
            w_.assign(wp, wp + n);
        }
        // the sweep of the dtype met first is built now (its checks of y run here); the other one
        // only if Z of that dtype ever comes
        sweep<double>();
    }

    py::tuple evaluate(const py::array& Z, int n_threads, bool want_pred, const std::string& mode) {
        if (float_bytes(Z) == 4) return run<float>(Z, n_threads, want_pred, mode_of(mode));
        if (float_bytes(Z) == 8) return run<double>(Z, n_threads, want_pred, mode_of(mode));
        throw py::type_error("Z must be a native-order float32 or float64 array");
    }
    std::string last_mode() const {
        return mode_name(last_bytes_ == 4 ? f32_->last_mode() : f64_->last_mode());
    }

  private:
    template <class T>
    fastmetric::learn::PairSweep<T>& sweep() {
        auto& slot = slot_of<T>();
        if (!slot) {
            slot.reset(new fastmetric::learn::PairSweep<T>(y_.data(), index_t(y_.size()), objective_, cache_bytes_));
            slot->set_tile(tile_);
            if (!w_.empty()) slot->set_row_weights(w_.data());
        }
        return *slot;
    }
    template <class T>
    std::unique_ptr<fastmetric::learn::PairSweep<T>>& slot_of() {
        if constexpr (std::is_same_v<T, float>)
            return f32_;
        else
            return f64_;
    }

    template <class T>
    py::tuple run(const py::array& Z, int n_threads, bool want_pred, fastmetric::learn::SweepMode mode) {
        fastmetric::learn::PairSweep<T>& sw = sweep<T>();
        const py::array Za = items_aligned(Z);
        MatrixView<T> z = c_matrix<T>(Za, "Z");
        if (z.rows != sw.n_samples())
            throw std::invalid_argument("Z has " + std::to_string(z.rows) + " rows; y has " +
                                        std::to_string(sw.n_samples()));
        // the sweep writes G in double: straight into the result for float64, through a buffer
        // rounded once to float32 otherwise
        py::array_t<T> G({z.rows, z.cols});
        std::vector<double> g(std::is_same_v<T, double> ? 0 : size_t(z.rows * z.cols));
        double* gd = std::is_same_v<T, double> ? reinterpret_cast<double*>(G.mutable_data()) : g.data();
        py::array_t<double> pred(want_pred ? z.rows : 0);
        double* pp = want_pred ? pred.mutable_data() : nullptr;
        double loss;
        {
            py::gil_scoped_release release;
            loss = sw.evaluate(z, gd, pp, n_threads, mode);
        }
        last_bytes_ = int(sizeof(T));
        if constexpr (!std::is_same_v<T, double>) {
            T* gp = G.mutable_data();
            for (size_t i = 0; i < g.size(); ++i) gp[i] = T(g[i]);
        }
        if (want_pred) return py::make_tuple(loss, G, pred);
        return py::make_tuple(loss, G);
    }

    std::vector<double> y_, w_;  // w_ empty: unweighted
    fastmetric::learn::PairObjective objective_;
    std::size_t cache_bytes_;
    std::int64_t tile_;
    int last_bytes_ = 8;
    std::unique_ptr<fastmetric::learn::PairSweep<float>> f32_;
    std::unique_ptr<fastmetric::learn::PairSweep<double>> f64_;
};

// A linear learner's problem (X referenced, y copied, buffers reused): Z = X L^T, the sweep, G^T X.
class PyLinearPairProblem {
  public:
    PyLinearPairProblem(py::array X, py::array y, const std::string& objective, std::size_t cache_bytes,
                        std::int64_t tile, const py::object& sample_weight)
        : X_(items_aligned(X)) {
        y = items_aligned(y);
        bytes_ = float_bytes(X_);
        if (bytes_ != 4 && bytes_ != 8) throw py::type_error("X must be a native-order float32 or float64 array");
        if (X_.ndim() != 2) throw std::invalid_argument("X must be 2-D");
        const double* yp = f64_buffer(y, "y", X_.shape(0), false);
        if (bytes_ == 4) {
            f32_.reset(new fastmetric::learn::LinearSweep<float>(c_matrix<float>(X_, "X"), yp, objective_of(objective),
                                                                 cache_bytes));
            f32_->sweep().set_tile(tile);
        } else {
            f64_.reset(new fastmetric::learn::LinearSweep<double>(c_matrix<double>(X_, "X"), yp,
                                                                  objective_of(objective), cache_bytes));
            f64_->sweep().set_tile(tile);
        }
        if (!sample_weight.is_none()) {
            py::array w = items_aligned(py::array::ensure(sample_weight));
            const double* wp = f64_buffer(w, "sample_weight", X_.shape(0), false);
            if (bytes_ == 4)
                f32_->sweep().set_row_weights(wp);
            else
                f64_->sweep().set_row_weights(wp);
        }
    }

    py::tuple loss_grad(const py::array& L, int n_threads, bool want_pred, const std::string& mode) {
        if (float_bytes(L) != bytes_) throw std::invalid_argument("L must have the dtype of X (native-order)");
        const auto md = mode_of(mode);
        return bytes_ == 4 ? run<float>(*f32_, L, n_threads, want_pred, md) : run<double>(*f64_, L, n_threads, want_pred, md);
    }
    std::string last_mode() const { return mode_name(bytes_ == 4 ? f32_->sweep().last_mode() : f64_->sweep().last_mode()); }
    bool dense_cache_fits() const {
        return bytes_ == 4 ? f32_->sweep().dense_cache_fits() : f64_->sweep().dense_cache_fits();
    }

  private:
    template <class T>
    py::tuple run(fastmetric::learn::LinearSweep<T>& prob, const py::array& L, int n_threads, bool want_pred,
                  fastmetric::learn::SweepMode mode) {
        const py::array La = items_aligned(L);
        MatrixView<T> l = c_matrix<T>(La, "L");
        py::array_t<double> grad({l.rows, l.cols});
        py::array_t<double> pred(want_pred ? prob.n_samples() : 0);
        double* g = grad.mutable_data();
        double* pp = want_pred ? pred.mutable_data() : nullptr;
        double loss;
        {
            py::gil_scoped_release release;
            loss = prob.loss_grad(l, g, pp, n_threads, mode);
        }
        if (want_pred) return py::make_tuple(loss, grad, pred);
        return py::make_tuple(loss, grad);
    }

    py::array X_;
    int bytes_ = 0;
    std::unique_ptr<fastmetric::learn::LinearSweep<float>> f32_;
    std::unique_ptr<fastmetric::learn::LinearSweep<double>> f64_;
};

py::tuple itml_sweep(py::array A, const py::array& U_in, const py::array& sign, py::array lam, py::array bhat,
                     double gamma, bool use_simd) {
    const py::array U = items_aligned(U_in);
    if (A.ndim() != 2 || A.shape(0) != A.shape(1)) throw std::invalid_argument("A must be a square 2-D array");
    const index_t d = A.shape(0);
    double* a = f64_buffer(A, "A", d * d, true);
    MatrixView<double> u = c_matrix<double>(U, "U");
    if (u.cols != d) throw std::invalid_argument("U must have as many columns as A");
    const index_t m = u.rows;
    if (sign.ndim() != 1 || sign.dtype().kind() != 'i' || sign.itemsize() != 1 || !c_contiguous(sign) ||
        sign.shape(0) != m)
        throw std::invalid_argument("sign must be a contiguous int8 array with one entry per row of U");
    const std::int8_t* s = static_cast<const std::int8_t*>(sign.data());
    double* l = f64_buffer(lam, "lambda", m, true);
    double* b = f64_buffer(bhat, "bhat", m, true);
    fastmetric::learn::ItmlSweepStats st;
    {
        py::gil_scoped_release release;
        st = fastmetric::learn::itml_sweep(a, d, u.data, m, s, l, b, gamma, use_simd);
    }
    return py::make_tuple(st.l1_change, st.norm_before, st.norm_after, st.skipped);
}

}  // namespace

void register_learn2(py::module_& m) {
    py::class_<PyPairSweep>(m, "PairSweep", "Pairwise-softmax objective (nca, mlkr) on embeddings Z for many evaluations")
        .def(py::init<py::array, const std::string&, std::size_t, std::int64_t, const py::object&>(), py::arg("y"),
             py::arg("objective"), py::arg("cache_bytes") = std::size_t(64) << 20, py::arg("tile") = 0,
             py::arg("sample_weight") = py::none())
        .def("evaluate", &PyPairSweep::evaluate, py::arg("Z"), py::arg("n_threads") = 0, py::arg("return_pred") = false,
             py::arg("mode") = "auto",
             "(loss, G) or (loss, G, pred) for Z (n x k, C-contiguous float32/float64): G = dloss/dZ in Z's dtype; "
             "nca: loss = -sum_i p_i (scikit-learn's objective), pred = p_i; mlkr: loss = sum_i (yhat_i - y_i)^2, "
             "pred = yhat.")
        .def_property_readonly("last_mode", &PyPairSweep::last_mode);
    py::class_<PyLinearPairProblem>(m, "LinearPairProblem",
                                    "NCA / MLKR loss of a linear map x -> L x (X, y kept) for many evaluations")
        .def(py::init<py::array, py::array, const std::string&, std::size_t, std::int64_t, const py::object&>(),
             py::arg("X"), py::arg("y"), py::arg("objective"), py::arg("cache_bytes") = std::size_t(64) << 20,
             py::arg("tile") = 0, py::arg("sample_weight") = py::none())
        .def("loss_grad", &PyLinearPairProblem::loss_grad, py::arg("L"), py::arg("n_threads") = 0,
             py::arg("return_pred") = false, py::arg("mode") = "auto",
             "(loss, grad) or (loss, grad, pred) for Z = X L^T: grad = dloss/dL (float64, k x d).")
        .def_property_readonly("last_mode", &PyLinearPairProblem::last_mode)
        .def_property_readonly("dense_cache_fits", &PyLinearPairProblem::dense_cache_fits);
    m.def("itml_sweep", &itml_sweep, py::arg("A"), py::arg("U"), py::arg("sign"), py::arg("lam"), py::arg("bhat"),
          py::arg("gamma"), py::arg("use_simd") = true,
          "One pass of ITML's Bregman projections over the constraints (rows of U = pair differences, sign +1 "
          "similar / -1 dissimilar), updating A, lam and bhat in place. Returns (sum |delta lambda|, "
          "|lambda_before|, |lambda_after|, n_skipped).");
}
}  // namespace bind_learn2

// --- boolean metrics on packed rows (binary_bindings.cpp)
namespace fastmetric {
void register_binary(py::module_& m);
}
// sparse inputs (issue 16 part 3): cpp/bindings/sparse_bindings.cpp
void register_sparse(py::module_& m);
// issue 16 part 1: cpp/bindings/scipy_metrics_bindings.cpp (the vector log)
void register_scipy_metrics(py::module_& m);
// embedding losses (issue 15 part 2): cpp/bindings/losses_bindings.cpp
namespace fastmetric {
void register_embedding_losses(py::module_& m);
}
void register_dask(py::module_& m);  // fastmetric.dask block-pair calls (issue 14): cpp/bindings/dask_bindings.cpp
// SCML's AdaGrad steps and LSML's comparison work (issue 17): cpp/bindings/tuple_learners_bindings.cpp
namespace fastmetric {
void register_tuple_learners(py::module_& m);
}
void register_dask_learn(py::module_& m);  // NCA / MLKR block pairs (issue 14): cpp/bindings/dask_learn_bindings.cpp

PYBIND11_MODULE(_core, m) {
    fastmetric::register_binary(m);  // boolean metrics (binary_bindings.cpp)
    register_scipy_metrics(m);       // issue 16 part 1 (scipy_metrics_bindings.cpp)
    m.doc() = "fastmetric C++ engine (tiled SIMD/OpenMP pairwise kernels)";
    set_interrupt_check(&python_signal_pending);
    py::register_exception_translator([](std::exception_ptr p) {
        try {
            if (p) std::rethrow_exception(p);
        } catch (const interrupted&) {
            PyErr_SetNone(PyExc_KeyboardInterrupt);
        }
    });
    m.def("pairwise", &pairwise, py::arg("X"), py::arg("Y"), py::arg("out"), py::arg("metric"),
          py::arg("condensed") = false, py::arg("p") = 2.0, py::arg("gamma") = 1.0, py::arg("coef0") = 1.0,
          py::arg("degree") = 3.0, py::arg("V") = py::none(), py::arg("L") = py::none(), py::arg("n_threads") = 0,
          py::arg("w") = py::none(), py::arg("base") = 0.0,
          "Fill out with metric(X[i], Y[j]) (dense) or the condensed upper triangle when Y is None.");
    g_ndarray_type = py::object(py::module_::import("numpy").attr("ndarray")).release().ptr();
    m.def("plain_pairwise", &plain_pairwise, py::arg("X"), py::arg("Y"), py::arg("metric"), py::arg("condensed"),
          py::arg("check_finite"), py::arg("gamma"), py::arg("coef0"), py::arg("degree"), py::arg("n_threads"),
          "pairwise for plain inputs (native float32/float64 ndarrays of one dtype): a new result array, or None "
          "when the inputs need the Python layer's full path. gamma NaN means 1 / n_features.");
    m.def("plain_kneighbors", &plain_kneighbors, py::arg("X"), py::arg("Y"), py::arg("k"), py::arg("metric"),
          py::arg("exclude_self"), py::arg("check_finite"), py::arg("n_threads"),
          "kneighbors for plain inputs: (distances, indices), or None when the full path is needed");
    m.def("linear_map", &linear_map_py, py::arg("X"), py::arg("shift"), py::arg("L"), py::arg("out"),
          py::arg("n_threads") = 0, "out = (X - shift) @ L.T");
    m.def("kneighbors", &kneighbors_py, py::arg("X"), py::arg("Y"), py::arg("k"), py::arg("metric"),
          py::arg("exclude_self") = false, py::arg("p") = 2.0, py::arg("V") = py::none(), py::arg("L") = py::none(),
          py::arg("n_threads") = 0, py::arg("w") = py::none(), py::arg("base") = 0.0,
          "(distances, indices) of the k nearest rows of Y (or X when Y is None)");
    m.def("radius_neighbors", &radius_py, py::arg("X"), py::arg("Y"), py::arg("radius"), py::arg("metric"),
          py::arg("exclude_self") = false, py::arg("sort_results") = false, py::arg("p") = 2.0,
          py::arg("V") = py::none(), py::arg("L") = py::none(), py::arg("n_threads") = 0,
          py::arg("query_labels") = py::none(), py::arg("ref_labels") = py::none(), py::arg("w") = py::none(),
          py::arg("base") = 0.0, "(distances, indices, offsets): CSR lists of the rows within radius (a number, or one float64 "
          "radius per query); with int64 query_labels / ref_labels only rows of a different label");
    m.def("cholesky_upper", &cholesky_py, py::arg("A"),
          "R (upper triangular) with R.T @ R = A for symmetric positive-definite A, else None");
    m.def("inverse_factor", &inverse_factor_py, py::arg("A"),
          "L with L.T @ L = inv(A) for symmetric positive-definite A, else None");
    m.def("symmetric_eigen", &symmetric_eigen_py, py::arg("A"), py::arg("vectors") = false,
          "Eigenvalues (ascending) of the symmetric A, and with vectors=True (w, V) with A = V diag(w) V.T");
    m.def("isa", &isa_name, "Instruction set in use");
    m.def("available_isas", &available_isas);
    m.def("set_isa", &set_isa, py::arg("name"), "Force an instruction set: generic, avx2, avx512 or best");
    m.def("have_openmp", &have_openmp);
    m.def("empty_output", &empty_output, py::arg("shape"), py::arg("dtype"),
          "Uninitialised C-ordered array from the output-buffer pool (returned to it when freed)");
    m.def("output_pool", &output_pool, py::arg("max_bytes") = py::none(),
          "Pool statistics; with max_bytes, set the bound first (0 disables and frees the pool)");
    m.def("max_threads", &max_threads);
    m.def("team_workers", &team_workers);
    m.def("team_resets_after_fork", &team_resets_after_fork);
    m.def(
        "team_selftest",
        [](int nt, int throw_tid, bool nested) {
            // every tid in [0, nt) records itself (and, nested, an inner team of 2 inside it);
            // tid == throw_tid throws after recording. Returns the recorded tids, sorted.
            std::vector<int> seen;
            std::mutex mu;
            std::string error;
            {
                py::gil_scoped_release nogil;
                try {
                    run_team(nt, [&](int tid) {
                        {
                            std::lock_guard<std::mutex> lock(mu);
                            seen.push_back(tid);
                        }
                        if (nested)
                            run_team(2, [&](int inner) {
                                std::lock_guard<std::mutex> lock(mu);
                                seen.push_back(1000 + inner);
                            });
                        if (tid == throw_tid) throw std::runtime_error("team_selftest failure in tid " + std::to_string(tid));
                    });
                } catch (const std::exception& e) {
                    error = e.what();
                }
            }
            std::sort(seen.begin(), seen.end());
            return py::make_tuple(seen, error);
        },
        py::arg("nt"), py::arg("throw_tid") = -1, py::arg("nested") = false,
        "Test hook of the thread team: (sorted tids that ran, first error message or '')");
    bind_learn1::register_learn1(m);
    bind_learn2::register_learn2(m);
    register_sparse(m);  // sparse inputs (issue 16 part 3)
    fastmetric::register_embedding_losses(m);  // embedding losses (issue 15 part 2)
    register_dask(m);  // fastmetric.dask (issue 14)
    fastmetric::register_tuple_learners(m);  // SCML, LSML (issue 17)
    register_dask_learn(m);  // NCA / MLKR block pairs (issue 14)
}
