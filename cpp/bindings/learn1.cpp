// Bindings of the metric learners' C++ sweeps (group 1). Registered from module.cpp.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

namespace py = pybind11;

void register_learn1(py::module_& m) {
    (void)m;
}
