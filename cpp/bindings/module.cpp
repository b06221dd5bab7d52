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
void pairwise_impl(const py::array& X, const py::object& Y, py::array& out, const std::string& metric,
                   bool condensed, double p, double gamma, double coef0, double degree, const py::object& V,
                   const py::object& L, int n_threads) {
    MetricArgs<T> args;
    args.metric = metric;
    args.p = p;
    args.gamma = gamma;
    args.coef0 = coef0;
    args.degree = degree;
    args.n_threads = resolve_threads(n_threads);
    MatrixView<T> x = view2d<T>(X, "X");
    const bool y_is_x = Y.is_none();
    MatrixView<T> y = y_is_x ? x : view2d<T>(py::cast<py::array>(Y), "Y");
    if (x.cols != y.cols) throw std::invalid_argument("X and Y have different numbers of features");
    py::array v_arr, l_arr;
    if (!V.is_none()) {
        v_arr = py::cast<py::array>(V);
        if (v_arr.ndim() != 1 || v_arr.shape(0) != x.cols || v_arr.itemsize() != index_t(sizeof(T)) || v_arr.dtype().kind() != 'f' || !native_order(v_arr) ||
            v_arr.strides(0) != index_t(sizeof(T)))
            throw std::invalid_argument("V must be a contiguous 1-D array of length n_features");
        args.V = static_cast<const T*>(v_arr.data());
    }
    if (!L.is_none()) {
        l_arr = py::cast<py::array>(L);
        args.L = view2d<T>(l_arr, "L");
        if (args.L.cols != x.cols) throw std::invalid_argument("L must have n_features columns");
    }
    if (condensed && !y_is_x) throw std::invalid_argument("condensed output needs Y=None");
    index_t ldo = 0;
    T* o = writable_out<T>(out, x.rows, y.rows, condensed, ldo);
    py::gil_scoped_release release;
    PreparedProblem<T> pp;
    prepare_problem(pp, args, x, y, y_is_x);
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

}  // namespace

PYBIND11_MODULE(_core, m) {
    m.doc() = "fastmetric C++ engine (tiled SIMD/OpenMP pairwise kernels)";
    m.def("pairwise", &pairwise, py::arg("X"), py::arg("Y"), py::arg("out"), py::arg("metric"),
          py::arg("condensed") = false, py::arg("p") = 2.0, py::arg("gamma") = 1.0, py::arg("coef0") = 1.0,
          py::arg("degree") = 3.0, py::arg("V") = py::none(), py::arg("L") = py::none(), py::arg("n_threads") = 0,
          "Fill out with metric(X[i], Y[j]) (dense) or the condensed upper triangle when Y is None.");
    m.def("linear_map", &linear_map_py, py::arg("X"), py::arg("shift"), py::arg("L"), py::arg("out"),
          py::arg("n_threads") = 0, "out = (X - shift) @ L.T");
    m.def("isa", &isa_name, "Instruction set in use");
    m.def("available_isas", &available_isas);
    m.def("set_isa", &set_isa, py::arg("name"), "Force an instruction set: generic, avx2, avx512 or best");
    m.def("have_openmp", &have_openmp);
    m.def("max_threads", &max_threads);
    register_learn1(m);
    register_learn2(m);
}
