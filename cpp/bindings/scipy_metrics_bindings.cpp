// Bindings for issue 16 part 1 (scipy's remaining float metrics); registered from module.cpp. The
// metrics themselves go through module.cpp's pairwise / kneighbors / radius_neighbors; this file
// exposes the vector log of the active kernel table, so that tests can hold it against numpy.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "fastmetric/engine.hpp"

namespace py = pybind11;
using namespace fastmetric;

namespace {
template <class T>
py::array_t<T> vector_log_impl(const py::array_t<T, py::array::c_style>& x) {
    if (x.ndim() != 1) throw std::invalid_argument("vector_log takes a 1-D array");
    py::array_t<T> out(x.shape(0));
    const T* src = x.data();
    T* dst = out.mutable_data();
    const index_t n = x.shape(0);
    {
        py::gil_scoped_release release;
        active_kernels<T>().vlog(src, n, dst);
    }
    return out;
}
}  // namespace

void register_scipy_metrics(py::module_& m) {
    m.def(
        "vector_log",
        [](const py::array& x) -> py::object {
            if (x.dtype().is(py::dtype::of<float>()))
                return vector_log_impl<float>(py::array_t<float, py::array::c_style>::ensure(x));
            if (x.dtype().is(py::dtype::of<double>()))
                return vector_log_impl<double>(py::array_t<double, py::array::c_style>::ensure(x));
            throw py::type_error("vector_log takes a float32 or float64 array");
        },
        py::arg("x"), "Natural log of a 1-D float32 / float64 array with the active ISA's vector log (tests).");
}
