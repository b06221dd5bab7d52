// The main binding file (cpp/bindings/ is the only directory that includes pybind11). Inputs arrive validated by the Python layer
// (python/fastmetric/_validation.py); here we only check what is cheap (ndim, dtype, strides,
// out= shape), build views without copying, release the GIL and call the engine.
// std::invalid_argument -> ValueError, std::bad_alloc -> MemoryError (pybind11's translators).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <stdexcept>
#include <string>

#include "fastmetric/engine.hpp"
#include "fastmetric/metrics.hpp"
#include "fastmetric/topk.hpp"
#include "fastmetric/linalg.hpp"

namespace py = pybind11;
using namespace fastmetric;

// learner sweeps live in their own binding files (cpp/bindings/learn*.cpp)
void register_learn1(py::module_& m);
void register_learn2(py::module_& m);

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

template <class T>
MatrixView<T> view2d(const py::array& a, const char* what) {
    if (a.ndim() != 2) throw std::invalid_argument(std::string(what) + " must be 2-D");
    if (a.dtype().kind() != 'f' || a.itemsize() != index_t(sizeof(T)) || !native_order(a))
        throw std::invalid_argument(std::string(what) + " has the wrong dtype (expected native-order " +
                                    (sizeof(T) == 4 ? "float32)" : "float64)"));
    if (a.strides(0) % index_t(sizeof(T)) || a.strides(1) % index_t(sizeof(T)))
        throw std::invalid_argument(std::string(what) + " has strides that are not a multiple of its item size");
    MatrixView<T> v;
    v.data = static_cast<const T*>(a.data());
    v.rows = a.shape(0);
    v.cols = a.shape(1);
    v.row_stride = a.strides(0) / index_t(sizeof(T));
    v.col_stride = a.strides(1) / index_t(sizeof(T));
    return v;
}

template <class T>
T* writable_out(py::array& out, index_t rows, index_t cols, bool condensed, index_t& ldo) {
    if (out.dtype().kind() != 'f' || out.itemsize() != index_t(sizeof(T)) || !native_order(out))
        throw std::invalid_argument("out has the wrong dtype");
    if (!out.writeable()) throw std::invalid_argument("out is read-only");
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

template <class T>
struct BoundArgs {
    MetricArgs<T> args;
    MatrixView<T> x, y;
    bool y_is_x = false;
    py::array v_arr, l_arr;  // keep V / L alive while the views are used
};

template <class T>
void bind_args(BoundArgs<T>& b, const py::array& X, const py::object& Y, const std::string& metric, double p,
               double gamma, double coef0, double degree, const py::object& V, const py::object& L, int n_threads) {
    MetricArgs<T>& args = b.args;
    args.metric = metric;
    args.p = p;
    args.gamma = gamma;
    args.coef0 = coef0;
    args.degree = degree;
    args.n_threads = resolve_threads(n_threads);
    b.x = view2d<T>(X, "X");
    b.y_is_x = Y.is_none();
    b.y = b.y_is_x ? b.x : view2d<T>(py::cast<py::array>(Y), "Y");
    if (b.x.cols != b.y.cols) throw std::invalid_argument("X and Y have different numbers of features");
    if (!V.is_none()) {
        b.v_arr = py::cast<py::array>(V);
        if (b.v_arr.ndim() != 1 || b.v_arr.shape(0) != b.x.cols || b.v_arr.itemsize() != index_t(sizeof(T)) ||
            b.v_arr.dtype().kind() != 'f' || !native_order(b.v_arr) || b.v_arr.strides(0) != index_t(sizeof(T)))
            throw std::invalid_argument("V must be a contiguous 1-D array of length n_features");
        args.V = static_cast<const T*>(b.v_arr.data());
    }
    if (!L.is_none()) {
        b.l_arr = py::cast<py::array>(L);
        args.L = view2d<T>(b.l_arr, "L");
        if (args.L.cols != b.x.cols) throw std::invalid_argument("L must have n_features columns");
    }
}

template <class T>
py::tuple kneighbors_impl(const py::array& X, const py::object& Y, index_t k, const std::string& metric,
                          bool exclude_self, double p, const py::object& V, const py::object& L, int n_threads) {
    BoundArgs<T> b;
    bind_args<T>(b, X, Y, metric, p, 1.0, 1.0, 3.0, V, L, n_threads);
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
py::tuple radius_impl(const py::array& X, const py::object& Y, double radius, const std::string& metric,
                      bool exclude_self, bool sort_results, double p, const py::object& V, const py::object& L,
                      int n_threads) {
    BoundArgs<T> b;
    bind_args<T>(b, X, Y, metric, p, 1.0, 1.0, 3.0, V, L, n_threads);
    b.args.centre_on_x = true;
    std::vector<T> dist;
    std::vector<std::int64_t> idx, offsets;
    {
        py::gil_scoped_release release;
        PreparedProblem<T> pp;
        prepare_problem(pp, b.args, b.x, b.y, b.y_is_x);
        if (!pp.is_distance) throw std::invalid_argument("radius_neighbors needs a distance metric");
        radius_search(pp.pb, radius, exclude_self, sort_results, dist, idx, offsets);
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
                        bool exclude_self, double p, const py::object& V, const py::object& L, int n_threads) {
    if (is_f32(X)) return kneighbors_impl<float>(X, Y, k, metric, exclude_self, p, V, L, n_threads);
    if (is_f64(X)) return kneighbors_impl<double>(X, Y, k, metric, exclude_self, p, V, L, n_threads);
    throw py::type_error("X must be float32 or float64");
}
py::tuple radius_py(const py::array& X, const py::object& Y, double radius, const std::string& metric,
                    bool exclude_self, bool sort_results, double p, const py::object& V, const py::object& L,
                    int n_threads) {
    if (is_f32(X)) return radius_impl<float>(X, Y, radius, metric, exclude_self, sort_results, p, V, L, n_threads);
    if (is_f64(X)) return radius_impl<double>(X, Y, radius, metric, exclude_self, sort_results, p, V, L, n_threads);
    throw py::type_error("X must be float32 or float64");
}

template <class T>
void pairwise_impl(const py::array& X, const py::object& Y, py::array& out, const std::string& metric,
                   bool condensed, double p, double gamma, double coef0, double degree, const py::object& V,
                   const py::object& L, int n_threads) {
    BoundArgs<T> b;
    bind_args<T>(b, X, Y, metric, p, gamma, coef0, degree, V, L, n_threads);
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
              int n_threads) {
    if (is_f32(X))
        pairwise_impl<float>(X, Y, out, metric, condensed, p, gamma, coef0, degree, V, L, n_threads);
    else if (is_f64(X))
        pairwise_impl<double>(X, Y, out, metric, condensed, p, gamma, coef0, degree, V, L, n_threads);
    else
        throw py::type_error("X must be float32 or float64");
}

template <class T>
void linear_map_impl(const py::array& X, const py::object& shift, const py::array& L, py::array& out, int n_threads) {
    MatrixView<T> x = view2d<T>(X, "X");
    MatrixView<T> l = view2d<T>(L, "L");
    if (l.cols != x.cols) throw std::invalid_argument("L must have n_features columns");
    py::array s_arr;
    const T* s = nullptr;
    if (!shift.is_none()) {
        s_arr = py::cast<py::array>(shift);
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

PYBIND11_MODULE(_core, m) {
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
          "Fill out with metric(X[i], Y[j]) (dense) or the condensed upper triangle when Y is None.");
    m.def("linear_map", &linear_map_py, py::arg("X"), py::arg("shift"), py::arg("L"), py::arg("out"),
          py::arg("n_threads") = 0, "out = (X - shift) @ L.T");
    m.def("kneighbors", &kneighbors_py, py::arg("X"), py::arg("Y"), py::arg("k"), py::arg("metric"),
          py::arg("exclude_self") = false, py::arg("p") = 2.0, py::arg("V") = py::none(), py::arg("L") = py::none(),
          py::arg("n_threads") = 0, "(distances, indices) of the k nearest rows of Y (or X when Y is None)");
    m.def("radius_neighbors", &radius_py, py::arg("X"), py::arg("Y"), py::arg("radius"), py::arg("metric"),
          py::arg("exclude_self") = false, py::arg("sort_results") = false, py::arg("p") = 2.0,
          py::arg("V") = py::none(), py::arg("L") = py::none(), py::arg("n_threads") = 0,
          "(distances, indices, offsets): CSR lists of the rows within radius");
    m.def("cholesky_upper", &cholesky_py, py::arg("A"),
          "R (upper triangular) with R.T @ R = A for symmetric positive-definite A, else None");
    m.def("inverse_factor", &inverse_factor_py, py::arg("A"),
          "L with L.T @ L = inv(A) for symmetric positive-definite A, else None");
    m.def("isa", &isa_name, "Instruction set in use");
    m.def("available_isas", &available_isas);
    m.def("set_isa", &set_isa, py::arg("name"), "Force an instruction set: generic, avx2, avx512 or best");
    m.def("have_openmp", &have_openmp);
    m.def("max_threads", &max_threads);
    register_learn1(m);
    register_learn2(m);
}
