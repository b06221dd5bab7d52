// Bindings of the pair sweep's block-pair partials (NCA / MLKR on Dask, issue 14:
// python/fastmetric/learn/_dask_fit.py; the C++ side is cpp/include/fastmetric/learn/pair_block.hpp).
// Registered from module.cpp. Z blocks C-contiguous float32 / float64 of one dtype, per-row vectors
// float64; the checks here name the argument and its shape, then the GIL is released.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "fastmetric/learn/pair_block.hpp"

namespace py = pybind11;
using namespace fastmetric;

namespace {

std::string shape_of(const py::array& a) {
    std::string s = "(";
    for (py::ssize_t d = 0; d < a.ndim(); ++d) s += (d ? ", " : "") + std::to_string(a.shape(d));
    return s + (a.ndim() == 1 ? ",)" : ")");
}

bool native_float(const py::array& a, int bytes) {
    const char b = a.dtype().byteorder();
    const uint16_t probe = 1;
    const bool little = *reinterpret_cast<const uint8_t*>(&probe) == 1;
    return a.dtype().kind() == 'f' && a.itemsize() == bytes && (b == '=' || b == '|' || b == (little ? '<' : '>'));
}

int z_bytes(const py::array& z, const char* what) {
    if (z.ndim() != 2) throw std::invalid_argument(std::string(what) + " must be 2-D, got shape " + shape_of(z));
    if (!(native_float(z, 4) || native_float(z, 8)))
        throw py::type_error(std::string(what) + " must be a native-order float32 or float64 array");
    if (!(z.flags() & py::array::c_style)) throw std::invalid_argument(std::string(what) + " must be C-contiguous");
    return int(z.itemsize());
}

template <class T>
MatrixView<T> view_of(const py::array& a) {
    return MatrixView<T>::dense(static_cast<const T*>(a.data()), a.shape(0), a.shape(1));
}

// a C-contiguous float64 array of the given shape (rows < 0: 1-D of length cols)
const double* f64_of(const py::array& a, const char* what, index_t rows, index_t cols) {
    const bool ok = native_float(a, 8) && (a.flags() & py::array::c_style) &&
                    (rows < 0 ? a.ndim() == 1 && a.shape(0) == cols
                              : a.ndim() == 2 && a.shape(0) == rows && a.shape(1) == cols);
    if (!ok) {
        const std::string want = rows < 0 ? "(" + std::to_string(cols) + ",)"
                                          : "(" + std::to_string(rows) + ", " + std::to_string(cols) + ")";
        throw std::invalid_argument(std::string(what) + " must be a C-contiguous float64 array of shape " + want +
                                    ", got shape " + shape_of(a) + " dtype " + std::string(py::str(a.dtype())));
    }
    return static_cast<const double*>(a.data());
}

learn::PairObjective objective_named(const std::string& s) {
    if (s == "nca") return learn::PairObjective::nca;
    if (s == "mlkr") return learn::PairObjective::mlkr;
    throw std::invalid_argument("objective must be 'nca' or 'mlkr', got '" + s + "'");
}

learn::SweepMode mode_named(const std::string& s) {
    if (s == "auto") return learn::SweepMode::automatic;
    if (s == "dense") return learn::SweepMode::dense;
    if (s == "sparse") return learn::SweepMode::sparse;
    throw std::invalid_argument("mode must be 'auto', 'dense' or 'sparse', got '" + s + "'");
}

// The two blocks' arrays checked; B's taken as A's when diag.
struct Pair {
    py::array za, zb, ya, yb;
    int bytes = 8;
    index_t na = 0, nb = 0, k = 0;
    bool diag = false;
    Pair(const py::array& za_, const py::array& ya_, const py::object& zb_, const py::object& yb_, bool diag_)
        : za(za_), ya(ya_), diag(diag_) {
        bytes = z_bytes(za, "ZA");
        na = za.shape(0);
        k = za.shape(1);
        if (diag) {
            zb = za;
            yb = ya;
        } else {
            if (zb_.is_none() || yb_.is_none()) throw std::invalid_argument("ZB and yB are needed when diag is False");
            zb = py::cast<py::array>(zb_);
            yb = py::cast<py::array>(yb_);
            if (z_bytes(zb, "ZB") != bytes)
                throw py::type_error("ZA and ZB must have one dtype, got " + std::string(py::str(za.dtype())) + " and " +
                                     std::string(py::str(zb.dtype())));
            if (zb.shape(1) != k)
                throw std::invalid_argument("ZA and ZB must have the same number of columns, got shapes " +
                                            shape_of(za) + " and " + shape_of(zb));
        }
        nb = zb.shape(0);
        if (k < 1 && na + nb > 0) throw std::invalid_argument("ZA must have at least one column, got shape " + shape_of(za));
        f64_of(ya, "yA", -1, na);
        f64_of(yb, "yB", -1, nb);
    }
    learn::PairBlockRows rows_a() const { return rows(ya); }
    learn::PairBlockRows rows_b() const { return rows(yb); }
    static learn::PairBlockRows rows(const py::array& y) {
        learn::PairBlockRows r;
        r.y = static_cast<const double*>(y.data());
        return r;
    }
};

void set_factors(learn::PairBlockRows& r, const py::array& f, const char* what, index_t rows) {
    const double* p = f64_of(f, what, 4, rows);
    r.m = p;
    r.off = p + rows;
    r.alpha = p + 2 * rows;
    r.beta = p + 3 * rows;
}

py::tuple block_lse(const std::string& objective, const py::array& za, const py::array& ya, const py::object& zb,
                    const py::object& yb, bool diag, int n_threads, const std::string& mode, std::int64_t tile) {
    const learn::PairObjective obj = objective_named(objective);
    const learn::SweepMode md = mode_named(mode);
    Pair p(za, ya, zb, yb, diag);
    py::array_t<double> sa({index_t(3), p.na});
    py::array_t<double> sb({index_t(3), diag ? index_t(0) : p.nb});
    double* a = sa.mutable_data();
    double* b = sb.mutable_data();
    const learn::PairBlockRows ra = p.rows_a(), rb = p.rows_b();
    {
        py::gil_scoped_release release;
        if (p.bytes == 4)
            learn::pair_block_lse<float>(obj, view_of<float>(p.za), ra, view_of<float>(p.zb), rb, diag, a, b, n_threads,
                                         md, tile);
        else
            learn::pair_block_lse<double>(obj, view_of<double>(p.za), ra, view_of<double>(p.zb), rb, diag, a, b,
                                          n_threads, md, tile);
    }
    if (diag) return py::make_tuple(sa, py::none());
    return py::make_tuple(sa, sb);
}

py::tuple block_grad(const std::string& objective, const py::array& za, const py::array& ya, const py::array& fa,
                     const py::object& zb, const py::object& yb, const py::object& fb, bool diag, int n_threads,
                     const std::string& mode, std::int64_t tile) {
    const learn::PairObjective obj = objective_named(objective);
    const learn::SweepMode md = mode_named(mode);
    Pair p(za, ya, zb, yb, diag);
    learn::PairBlockRows ra = p.rows_a(), rb = p.rows_b();
    set_factors(ra, fa, "factors_A", p.na);
    py::array fbk = fa;
    if (!diag) {
        if (fb.is_none()) throw std::invalid_argument("factors_B is needed when diag is False");
        fbk = py::cast<py::array>(fb);
        set_factors(rb, fbk, "factors_B", p.nb);
    } else {
        rb = ra;
    }
    py::array_t<double> ba({p.na, p.k});
    py::array_t<double> bb({diag ? index_t(0) : p.nb, p.k});
    double* a = ba.mutable_data();
    double* b = bb.mutable_data();
    {
        py::gil_scoped_release release;
        if (p.bytes == 4)
            learn::pair_block_grad<float>(obj, view_of<float>(p.za), ra, view_of<float>(p.zb), rb, diag, a, b,
                                          n_threads, md, tile);
        else
            learn::pair_block_grad<double>(obj, view_of<double>(p.za), ra, view_of<double>(p.zb), rb, diag, a, b,
                                           n_threads, md, tile);
    }
    if (diag) return py::make_tuple(ba, py::none());
    return py::make_tuple(ba, bb);
}

}  // namespace

void register_dask_learn(py::module_& m) {
    m.def("pair_block_lse", &block_lse, py::arg("objective"), py::arg("ZA"), py::arg("yA"), py::arg("ZB"),
          py::arg("yB"), py::arg("diag"), py::arg("n_threads") = 1, py::arg("mode") = "auto", py::arg("tile") = 0,
          "Pass 1 of the pair sweep on a block pair: the (3, rows) states (m, s, w) of A's rows over B's and of "
          "B's rows over A's (diag: A's rows over A, B None). See pair_block.hpp.");
    m.def("pair_block_grad", &block_grad, py::arg("objective"), py::arg("ZA"), py::arg("yA"), py::arg("factors_A"),
          py::arg("ZB"), py::arg("yB"), py::arg("factors_B"), py::arg("diag"), py::arg("n_threads") = 1,
          py::arg("mode") = "auto", py::arg("tile") = 0,
          "Pass 2 of the pair sweep on a block pair: A's and B's shares (rows x k, float64) of "
          "b_i = sum_j S_ij (z_i - z_j), given each block's (4, rows) merged m, log s - m, alpha, beta.");
}
