// Bindings of the boolean metrics on packed rows (binary.hpp), registered by module.cpp.
// Inputs: 2-D uint8 arrays as np.packbits(..., axis=1) makes them (C-contiguous, checked here).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "fastmetric/binary.hpp"

namespace py = pybind11;

namespace fastmetric {
namespace {

using bytes_t = py::array_t<std::uint8_t, py::array::c_style | py::array::forcecast>;

// Packed bytes -> rows of 64-bit words, bits past n_bits cleared. Zero-copy when the rows already
// are whole aligned words with no padding bits.
struct Words {
    PackedRows rows;
    std::vector<std::uint64_t> own;
};

void to_words(const py::array& a, const char* name, index_t n_bits, Words& w) {
    if (a.ndim() != 2) throw std::invalid_argument(std::string(name) + " must be a 2-D uint8 array");
    const index_t n = a.shape(0), nbytes = a.shape(1);
    const auto* src = static_cast<const std::uint8_t*>(a.data());
    const index_t words = (nbytes + 7) / 8;
    w.rows.rows = n;
    w.rows.words = std::max<index_t>(words, 1);
    if (nbytes % 8 == 0 && n_bits == nbytes * 8 && reinterpret_cast<std::uintptr_t>(src) % 8 == 0 && nbytes > 0) {
        w.rows.data = reinterpret_cast<const std::uint64_t*>(src);
        w.rows.ld = words;
        return;
    }
    w.own.assign(std::size_t(std::max<index_t>(n, 1) * w.rows.words), 0);
    const index_t full = n_bits / 8, rem = n_bits % 8;
    for (index_t i = 0; i < n; ++i) {
        auto* dst = reinterpret_cast<std::uint8_t*>(w.own.data() + i * w.rows.words);
        const std::uint8_t* s = src + i * nbytes;
        std::memcpy(dst, s, std::size_t(std::min(full, nbytes)));
        if (rem && full < nbytes) dst[full] = std::uint8_t(s[full] & (0xFFu << (8 - rem)));
    }
    w.rows.data = w.own.data();
    w.rows.ld = w.rows.words;
}

// X's words and Y's (Y = None: X against itself, y() is X's rows).
struct PackedPair {
    Words wx, wy;
    bool sym;
    PackedPair(const bytes_t& X, const py::object& Y, index_t n_bits) : sym(Y.is_none()) {
        to_words(X, "X", n_bits, wx);
        if (!sym) to_words(bytes_t::ensure(Y), "Y", n_bits, wy);
    }
    const PackedRows& x() const { return wx.rows; }
    const PackedRows& y() const { return sym ? wx.rows : wy.rows; }
};

}  // namespace

void register_binary(py::module_& m) {
    m.def(
        "binary_pairwise",
        [](const bytes_t& X, const py::object& Y, const std::string& metric, index_t n_bits, py::array_t<double> out,
           bool condensed, int n_threads) {
            const BinaryMetric bm = binary_metric_from_name(metric.c_str());
            const PackedPair pp(X, Y, n_bits);
            const index_t n_rows = pp.x().rows, m_rows = pp.y().rows;
            const index_t want = condensed ? n_rows * (n_rows - 1) / 2 : n_rows * m_rows;
            if (out.size() != want || !(out.flags() & py::array::c_style))
                throw std::invalid_argument("binary_pairwise: out has the wrong size or is not C-contiguous");
            double* o = out.mutable_data();
            py::gil_scoped_release release;
            binary_pairwise(pp.x(), pp.y(), pp.sym, bm, n_bits, condensed, o, m_rows, n_threads);
        },
        py::arg("X"), py::arg("Y"), py::arg("metric"), py::arg("n_bits"), py::arg("out"), py::arg("condensed") = false,
        py::arg("n_threads") = 0);
    m.def(
        "binary_kneighbors",
        [](const bytes_t& X, const py::object& Y, const std::string& metric, index_t n_bits, index_t k,
           bool exclude_self, int n_threads) {
            const BinaryMetric bm = binary_metric_from_name(metric.c_str());
            const PackedPair pp(X, Y, n_bits);
            py::array_t<double> dist({pp.x().rows, k});
            py::array_t<std::int64_t> ind({pp.x().rows, k});
            double* d = dist.mutable_data();
            std::int64_t* ix = ind.mutable_data();
            {
                py::gil_scoped_release release;
                binary_kneighbors(pp.x(), pp.y(), bm, n_bits, k, exclude_self, d, ix, n_threads);
            }
            return py::make_tuple(dist, ind);
        },
        py::arg("X"), py::arg("Y"), py::arg("metric"), py::arg("n_bits"), py::arg("k"), py::arg("exclude_self") = false,
        py::arg("n_threads") = 0);
    m.def(
        "binary_radius_neighbors",
        [](const bytes_t& X, const py::object& Y, const std::string& metric, index_t n_bits,
           const py::array_t<double, py::array::c_style | py::array::forcecast>& r, bool exclude_self,
           bool sort_results, int n_threads) {
            const BinaryMetric bm = binary_metric_from_name(metric.c_str());
            const PackedPair pp(X, Y, n_bits);
            if (r.size() != 1 && r.size() != pp.x().rows)
                throw std::invalid_argument("radius must be one number or one per query");
            std::vector<double> dist;
            std::vector<std::int64_t> ind, offsets;
            {
                py::gil_scoped_release release;
                binary_radius(pp.x(), pp.y(), bm, n_bits, r.data(), r.size(), exclude_self,
                              sort_results, dist, ind, offsets, n_threads);
            }
            return py::make_tuple(py::array_t<double>(py::ssize_t(dist.size()), dist.data()),
                                  py::array_t<std::int64_t>(py::ssize_t(ind.size()), ind.data()),
                                  py::array_t<std::int64_t>(py::ssize_t(offsets.size()), offsets.data()));
        },
        py::arg("X"), py::arg("Y"), py::arg("metric"), py::arg("n_bits"), py::arg("radius"),
        py::arg("exclude_self") = false, py::arg("sort_results") = false, py::arg("n_threads") = 0);
    m.def("binary_isa", [] { return std::string(active_binary_kernels().name); },
          "the popcount table in use: generic, avx2 or avx512 (VPOPCNTDQ)");
}

}  // namespace fastmetric
