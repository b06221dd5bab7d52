// Bindings of the relative-comparison learners' kernels, registered by module.cpp: SCML's steps and
// pair forms (learn/scml.hpp) and LSML's work over its comparisons (learn/lsml.hpp). Inputs are laid
// out by python/fastmetric/learn/scml.py / lsml.py (C-contiguous float64 / int64); they are checked
// again here so a wrong call raises a ValueError instead of reading out of bounds. The GIL is
// released around the work.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>

#include "fastmetric/learn/lsml.hpp"
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

// SCML's AdaGrad steps with their state (learn::ScmlSteps); keeps XB and the triplets alive.
class PyScmlSteps {
public:
    PyScmlSteps(const py::array& XB, const py::array& triplets, std::int64_t batch_size, double beta, double gamma,
                bool use_simd)
        : XB_(XB), tri_(triplets) {
        const double* xb = f64_in(XB_, "XB", 2);
        const std::int64_t* tri = i64_in(tri_, "triplets", 3);
        steps_ = std::make_unique<learn::ScmlSteps>(xb, XB_.shape(0), XB_.shape(1), tri, tri_.shape(0), batch_size, beta,
                                                    gamma, use_simd);
    }

    std::int64_t run(const py::array& batches, py::array w) {
        const index_t bs = steps_->batch_size();
        const std::int64_t* bat = i64_in(batches, "batches", bs);
        double* pw = f64_out(w, "w", steps_->n_bases());
        std::int64_t active;
        {
            py::gil_scoped_release release;
            active = steps_->run(bat, batches.shape(0), pw);
        }
        return active;
    }

    py::array_t<double> copy_of(const double* p) const {
        py::array_t<double> out(steps_->n_bases());
        std::copy(p, p + steps_->n_bases(), out.mutable_data());
        return out;
    }

    py::array_t<double> S() const { return copy_of(steps_->gradient_sums()); }
    py::array_t<double> Q() const { return copy_of(steps_->ada_norms()); }
    std::int64_t iterations() const { return steps_->iterations(); }

private:
    py::array XB_, tri_;
    std::unique_ptr<learn::ScmlSteps> steps_;
};

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

const double* f64_vec(const py::array& a, const char* what, index_t size) {
    const double* p = f64_in(a, what, 1);
    if (a.shape(0) != size)
        throw std::invalid_argument(std::string(what) + " must have length " + std::to_string(size) + ", got " +
                                    std::to_string(a.shape(0)));
    return p;
}

// LSML's comparisons (learn::LsmlProblem); keeps the points P alive (the problem reads them in place).
// The problem's work buffers are shared by its calls: one call at a time (mu_), whatever the Python threads do.
class PyLsmlProblem {
public:
    PyLsmlProblem(const py::array& P, const py::array& pairs, const py::array& w, int n_threads) : P_(P) {
        const double* p = f64_in(P_, "P", 2);
        const std::int64_t* pr = i64_in(pairs, "pairs", 2);
        if (pairs.shape(0) % 2 != 0)
            throw std::invalid_argument("pairs must hold 2 m rows (the (a, b) pairs, then the (c, d) pairs), got " +
                                        std::to_string(pairs.shape(0)));
        const index_t m = pairs.shape(0) / 2;
        const double* pw = f64_vec(w, "w", m);
        problem_ = std::make_unique<learn::LsmlProblem>(p, P.shape(0), P.shape(1), pr, m, pw, n_threads);
    }

    py::array_t<double> forms(const py::array& M) {
        const index_t d = problem_->n_features();
        const double* pm = square_in(M, "M", d);
        py::array_t<double> q(2 * problem_->n_comparisons());
        double* pq = q.mutable_data();
        {
            py::gil_scoped_release release;
            std::lock_guard<std::mutex> lock(mu_);
            problem_->forms(pm, pq);
        }
        return q;
    }

    py::tuple gradient(const py::array& q) {
        const index_t d = problem_->n_features();
        const double* pq = f64_vec(q, "q", 2 * problem_->n_comparisons());
        py::array_t<double> G({d, d});
        double* pg = G.mutable_data();
        double loss;
        {
            py::gil_scoped_release release;
            std::lock_guard<std::mutex> lock(mu_);
            loss = problem_->gradient(pq, pg);
        }
        return py::make_tuple(G, loss);
    }

    py::tuple descent_direction(const py::array& q, const py::array& H) {
        const index_t d = problem_->n_features();
        const double* pq = f64_vec(q, "q", 2 * problem_->n_comparisons());
        const double* ph = square_in(H, "H", d);
        py::array_t<double> G({d, d});
        py::array_t<double> g(2 * problem_->n_comparisons());
        double* pG = G.mutable_data();
        double* pg = g.mutable_data();
        double loss;
        {
            py::gil_scoped_release release;
            std::lock_guard<std::mutex> lock(mu_);
            loss = problem_->descent_direction(pq, ph, pG, pg);
        }
        return py::make_tuple(G, g, loss);
    }

    py::array_t<double> step_losses(const py::array& q, const py::object& g, const py::array& ts) const {
        const index_t m2 = 2 * problem_->n_comparisons();
        const double* pq = f64_vec(q, "q", m2);
        const double* pg = nullptr;
        py::array ga;
        if (!g.is_none()) {
            ga = py::array(g);
            pg = f64_vec(ga, "g", m2);
        }
        const double* pt = f64_in(ts, "ts", 1);
        const index_t n_steps = ts.shape(0);
        py::array_t<double> out(n_steps);
        double* po = out.mutable_data();
        {
            py::gil_scoped_release release;
            std::lock_guard<std::mutex> lock(mu_);
            problem_->step_losses(pq, pg, pt, n_steps, po);
        }
        return out;
    }

    // (M, n_iter, converged, loss, losses, grad_norms): the whole descent (LsmlProblem::descend)
    py::tuple descend(const py::array& M0, const py::array& prior_inv, const py::array& steps, double floor,
                      double tol, std::int64_t max_iter) {
        const index_t d = problem_->n_features();
        const double* pm = square_in(M0, "M0", d);
        const double* pp = square_in(prior_inv, "prior_inv", d);
        const double* ps = f64_in(steps, "steps", 1);
        const index_t n_steps = steps.shape(0);
        for (index_t s = 0; s < n_steps; ++s)
            if (!(ps[s] > 0) || !std::isfinite(ps[s])) throw std::invalid_argument("steps must be positive numbers");
        if (!(floor > 0) || !std::isfinite(floor)) throw std::invalid_argument("floor must be a positive number");
        if (!(tol >= 0)) throw std::invalid_argument("tol must be >= 0");
        learn::LsmlProblem::Descent r;
        {
            py::gil_scoped_release release;
            std::lock_guard<std::mutex> lock(mu_);
            r = problem_->descend(pm, pp, ps, n_steps, floor, tol, max_iter);
        }
        py::array_t<double> M({d, d});
        std::copy(r.M.begin(), r.M.end(), M.mutable_data());
        py::array_t<double> losses(py::ssize_t(r.losses.size())), norms(py::ssize_t(r.grad_norms.size()));
        std::copy(r.losses.begin(), r.losses.end(), losses.mutable_data());
        std::copy(r.grad_norms.begin(), r.grad_norms.end(), norms.mutable_data());
        return py::make_tuple(M, std::int64_t(r.n_iter), r.converged, r.losses.back(), losses, norms);
    }

private:
    static const double* square_in(const py::array& a, const char* what, index_t d) {
        const double* p = f64_in(a, what, 2);
        if (a.shape(0) != d || a.shape(1) != d)
            throw std::invalid_argument(std::string(what) + " must be " + std::to_string(d) + " x " +
                                        std::to_string(d) + ", got " + std::to_string(a.shape(0)) + " x " +
                                        std::to_string(a.shape(1)));
        return p;
    }

    py::array P_;
    std::unique_ptr<learn::LsmlProblem> problem_;
    mutable std::mutex mu_;
};

}  // namespace

void register_tuple_learners(py::module_& m) {
    py::class_<PyScmlSteps>(m, "ScmlSteps",
                            "SCML's AdaGrad steps (metric-learn 0.7) over index triplets on XB = X B^T (n x K), "
                            "with their state (gradient sums S, AdaGrad norms Q) kept between run() calls")
        .def(py::init<const py::array&, const py::array&, std::int64_t, double, double, bool>(), py::arg("XB"),
             py::arg("triplets"), py::arg("batch_size"), py::arg("beta"), py::arg("gamma"), py::arg("use_simd") = true)
        .def("run", &PyScmlSteps::run, py::arg("batches"), py::arg("w"),
             "The next len(batches) steps (rows: batch_size triplet indices); writes the weights after the last one "
             "into w (K) and returns the number of batch triplets with positive slack.")
        .def_property_readonly("S", &PyScmlSteps::S, "gradient sums (K), a copy")
        .def_property_readonly("Q", &PyScmlSteps::Q, "AdaGrad norms (K), a copy")
        .def_property_readonly("iterations", &PyScmlSteps::iterations, "steps run so far");
    m.def("scml_pair_forms", &scml_pair_forms, py::arg("X"), py::arg("Y"), py::arg("pairs"), py::arg("n_threads") = 0,
          "(Y[i] - Y[j]) . (X[i] - X[j]) per pair (i, j): the squared distance d_M(x_i, x_j) when Y = X M.");
    py::class_<PyLsmlProblem>(m, "LsmlProblem",
                              "LSML's comparisons d(a_i, b_i) < d(c_i, d_i) as index pairs into points P (n x d): "
                              "pairs (2m x 2 int64) holds the (a, b) pairs, then the (c, d) pairs; w (m) the weights")
        .def(py::init<const py::array&, const py::array&, const py::array&, int>(), py::arg("P"), py::arg("pairs"),
             py::arg("w"), py::arg("n_threads") = 0)
        .def("forms", &PyLsmlProblem::forms, py::arg("M"), "d_M^2 of every pair (2m) for the symmetric M (d x d)")
        .def("gradient", &PyLsmlProblem::gradient, py::arg("q"),
             "(G, loss): the gradient (d x d) of the comparison loss with respect to M at the forms q, and its value")
        .def("descent_direction", &PyLsmlProblem::descent_direction, py::arg("q"), py::arg("H"),
             "(G, g, loss): G = the symmetrised H + the gradient at the forms q, g = the forms of G, loss the "
             "comparison loss at q -- one iteration's passes over the points in one call")
        .def("step_losses", &PyLsmlProblem::step_losses, py::arg("q"), py::arg("g"), py::arg("ts"),
             "the comparison loss of the forms q - t g for each step t of ts (g None: of q)")
        .def("descend", &PyLsmlProblem::descend, py::arg("M0"), py::arg("prior_inv"), py::arg("steps"),
             py::arg("floor"), py::arg("tol"), py::arg("max_iter"),
             "(M, n_iter, converged, loss, losses, grad_norms): metric-learn's projected gradient descent from M0 "
             "with the LogDet prior prior_inv, the step lengths steps / |G|_F and the eigenvalue floor, "
             "stopping at |G|_F < tol, no lowering step or max_iter; losses / grad_norms per iteration (0: start)");
}

}  // namespace fastmetric
