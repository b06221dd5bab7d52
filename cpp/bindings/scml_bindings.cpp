// Bindings of SCML's kernels (learn/scml.hpp), registered by module.cpp. Inputs are laid out by
// python/fastmetric/learn/scml.py (C-contiguous float64 / int64); they are checked again here so a
// wrong call raises a ValueError instead of reading out of bounds. The GIL is released around the work.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "fastmetric/learn/scml.hpp"

namespace py = pybind11;

namespace fastmetric {
namespace {

bool is_c_array(const py::array& a, char kind, std::size_t itemsize) {
    return a.dtype().kind() == kind && std::size_t(a.itemsize()) == itemsize &&
           (a.flags() & py::array::c_style) != 0 && a.dtype().byteorder() != '>';
}

const double* f64_in(const py::array& a, const char* what, int ndim) {
    if (a.ndim() != ndim || !is_c_array(a, 'f', 8))
        throw std::invalid_argument(std::string(what) + " must be a C-contiguous float64 array with " +
                                    std::to_string(ndim) + " dimension(s)");
    return static_cast<const double*>(a.data());
}

double* f64_out(py::array& a, const char* what, index_t size) {
    if (a.ndim() != 1 || !is_c_array(a, 'f', 8) || a.shape(0) != size || !a.writeable())
        throw std::invalid_argument(std::string(what) + " must be a writeable C-contiguous float64 vector of length " +
                                    std::to_string(size));
    return static_cast<double*>(a.mutable_data());
}

const std::int64_t* i64_in(const py::array& a, const char* what, index_t cols) {
    if (a.ndim() != 2 || !is_c_array(a, 'i', 8) || a.shape(1) != cols)
        throw std::invalid_argument(std::string(what) + " must be a C-contiguous int64 array with " +
                                    std::to_string(cols) + " columns");
    return static_cast<const std::int64_t*>(a.data());
}

std::int64_t scml_steps(const py::array& XB, const py::array& triplets, const py::array& batches,
                        std::int64_t first_iter, double beta, double gamma, py::array S, py::array Q, py::array w,
                        bool use_simd) {
    const double* xb = f64_in(XB, "XB", 2);
    const std::int64_t* tri = i64_in(triplets, "triplets", 3);
    if (batches.ndim() != 2) throw std::invalid_argument("batches must be a 2-D int64 array");
    const std::int64_t* bat = i64_in(batches, "batches", batches.shape(1));
    const index_t n = XB.shape(0), K = XB.shape(1);
    double* ps = f64_out(S, "S", K);
    double* pq = f64_out(Q, "Q", K);
    double* pw = f64_out(w, "w", K);
    std::int64_t active;
    {
        py::gil_scoped_release release;
        active = learn::scml_steps(xb, n, K, tri, triplets.shape(0), bat, batches.shape(0), batches.shape(1),
                                   first_iter, beta, gamma, ps, pq, pw, use_simd);
    }
    return active;
}

py::array_t<double> scml_pair_forms(const py::array& X, const py::array& Y, const py::array& pairs, int n_threads) {
    const double* x = f64_in(X, "X", 2);
    const double* y = f64_in(Y, "Y", 2);
    if (Y.shape(0) != X.shape(0) || Y.shape(1) != X.shape(1)) throw std::invalid_argument("X and Y must have one shape");
    const std::int64_t* pr = i64_in(pairs, "pairs", 2);
    const index_t m = pairs.shape(0);
    py::array_t<double> out(m);
    double* po = out.mutable_data();
    {
        py::gil_scoped_release release;
        learn::scml_pair_forms(x, y, X.shape(0), X.shape(1), pr, m, po, n_threads);
    }
    return out;
}

}  // namespace

void register_scml(py::module_& m) {
    m.def("scml_steps", &scml_steps, py::arg("XB"), py::arg("triplets"), py::arg("batches"), py::arg("first_iter"),
          py::arg("beta"), py::arg("gamma"), py::arg("S"), py::arg("Q"), py::arg("w"), py::arg("use_simd") = true,
          "SCML's AdaGrad steps (metric-learn 0.7) over the batch rows of `batches` (indices into the triplets), "
          "iterations first_iter, first_iter + 1, ...; XB = X B^T (n x K). Updates the gradient sums S and AdaGrad "
          "norms Q (K) in place, writes the weights after the last step into w and returns the number of batch "
          "triplets with positive slack.");
    m.def("scml_pair_forms", &scml_pair_forms, py::arg("X"), py::arg("Y"), py::arg("pairs"), py::arg("n_threads") = 0,
          "(Y[i] - Y[j]) . (X[i] - X[j]) per pair (i, j): the squared distance d_M(x_i, x_j) when Y = X M.");
}

}  // namespace fastmetric
