// Bindings of the sparse-input kernels (fastmetric/sparse.hpp); registered from module.cpp.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <stdexcept>
#include <string>

#include "fastmetric/parallel.hpp"
#include "fastmetric/sparse.hpp"

namespace py = pybind11;
using namespace fastmetric;

namespace {

using i64 = py::array_t<std::int64_t, py::array::c_style>;
using i32 = py::array_t<std::int32_t, py::array::c_style>;

sparse::Csr csr_of(const i64& ptr, const i32& idx, index_t rows, index_t cols, const char* name) {
    if (ptr.ndim() != 1 || ptr.shape(0) != rows + 1)
        throw std::invalid_argument(std::string(name) + ": indptr must have rows + 1 entries");
    const std::int64_t* p = ptr.data();
    const std::int64_t nnz = idx.ndim() == 1 ? idx.shape(0) : -1;
    if (p[0] != 0 || p[rows] != nnz) throw std::invalid_argument(std::string(name) + ": indptr does not match nnz");
    return sparse::Csr{p, idx.data(), rows, cols};
}

template <class T>
py::tuple run(const py::tuple& x, const py::tuple& y, const py::tuple& yt, int op, double gamma, double coef0,
              double degree, bool zero_diagonal, py::object out_or_k, bool exclude_self, int n_threads,
              bool by_references) {
    using arr = py::array_t<T, py::array::c_style>;
    auto get = [](const py::tuple& t, const char* name, index_t& rows, index_t& cols) {
        rows = t[3].cast<index_t>();
        cols = t[4].cast<index_t>();
        return std::make_tuple(t[0].cast<i64>(), t[1].cast<i32>(), t[2].cast<arr>());
    };
    index_t xr, xc, yr, yc, tr, tc;
    auto [xp, xi, xd] = get(x, "X", xr, xc);
    auto [yp, yi, yd] = get(y, "Y", yr, yc);
    auto [tp, ti, td] = get(yt, "Yt", tr, tc);
    const sparse::Csr X = csr_of(xp, xi, xr, xc, "X"), Y = csr_of(yp, yi, yr, yc, "Y"), Yt = csr_of(tp, ti, tr, tc, "Yt");
    // the third operand is Y transposed, or X transposed with by_references (dense outputs only)
    if (xc != yc || tr != yc || tc != (by_references ? xr : yr))
        throw std::invalid_argument("sparse operands have inconsistent shapes");
    if (xd.shape(0) != xi.shape(0) || yd.shape(0) != yi.shape(0) || td.shape(0) != ti.shape(0))
        throw std::invalid_argument("sparse data and indices differ in length");
    sparse::Params p;
    p.op = sparse::Op(op);
    p.gamma = gamma;
    p.coef0 = coef0;
    p.degree = degree;
    p.zero_diagonal = zero_diagonal;
    const int nt = resolve_threads(n_threads);
    if (py::isinstance<py::int_>(out_or_k)) {
        if (by_references) throw std::invalid_argument("by_references is for dense outputs only");
        const index_t k = out_or_k.cast<index_t>();
        if (k < 1 || k > yr) throw std::invalid_argument("k out of range");
        arr dist({xr, k});
        py::array_t<std::int64_t> ind({xr, k});
        T* dp = dist.mutable_data();
        std::int64_t* ip = ind.mutable_data();
        {
            py::gil_scoped_release release;
            sparse::kneighbors<T>(X, xd.data(), Y, yd.data(), Yt, td.data(), p, k, exclude_self, dp, ip, nt);
        }
        return py::make_tuple(dist, ind);
    }
    arr out = out_or_k.cast<arr>();
    if (out.ndim() != 2 || out.shape(0) != xr || out.shape(1) != yr || !out.writeable())
        throw std::invalid_argument("out must be a writeable C-contiguous (n, m) array of the operands' dtype");
    T* op_ = out.mutable_data();
    {
        py::gil_scoped_release release;
        if (by_references)
            sparse::pairwise_by_references<T>(X, xd.data(), Y, yd.data(), Yt, td.data(), p, op_, nt);
        else
            sparse::pairwise<T>(X, xd.data(), Y, yd.data(), Yt, td.data(), p, op_, nt);
    }
    return py::make_tuple(out);
}

}  // namespace

void register_sparse(py::module_& m) {
    m.def("sparse_pairwise_f32", &run<float>, py::arg("X"), py::arg("Y"), py::arg("Yt"), py::arg("op"),
          py::arg("gamma"), py::arg("coef0"), py::arg("degree"), py::arg("zero_diagonal"), py::arg("out_or_k"),
          py::arg("exclude_self"), py::arg("n_threads"), py::arg("by_references") = false,
          "Sparse (CSR) metric / kernel / k-NN, float32. X, Y: (indptr int64, indices int32, data, rows, cols) "
          "canonical CSR; Yt: the same for Y transposed (for X transposed with by_references: the dense result by tiles of references). out_or_k: an (n, m) output array to fill, or k.");
    m.def("sparse_pairwise_f64", &run<double>, py::arg("X"), py::arg("Y"), py::arg("Yt"), py::arg("op"),
          py::arg("gamma"), py::arg("coef0"), py::arg("degree"), py::arg("zero_diagonal"), py::arg("out_or_k"),
          py::arg("exclude_self"), py::arg("n_threads"), py::arg("by_references") = false,
          "As sparse_pairwise_f32, float64.");
}
