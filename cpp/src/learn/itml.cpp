// ITML Bregman projections: see fastmetric/learn/itml.hpp for the formulas and the guarantees.
#include "fastmetric/learn/itml.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "fastmetric/engine.hpp"
#include "fastmetric/kernels.hpp"

namespace fastmetric {
namespace learn {

ItmlSweepStats itml_sweep(double* A, std::int64_t d, const double* U, std::int64_t m, const std::int8_t* sign,
                          double* lambda, double* bhat, double gamma, bool use_simd) {
    if (d < 1) throw std::invalid_argument("itml: d must be >= 1");
    if (m < 0) throw std::invalid_argument("itml: negative number of constraints");
    if (!(gamma > 0)) throw std::invalid_argument("itml: gamma must be > 0");
    for (std::int64_t c = 0; c < m; ++c) {
        if (sign[c] != 1 && sign[c] != -1) throw std::invalid_argument("itml: constraint signs must be +1 or -1");
        if (!(bhat[c] > 0) || !std::isfinite(bhat[c]))
            throw std::invalid_argument("itml: bounds must be positive and finite");
    }
    // the engine's double table (the instruction set it chose), or the portable one
    const KernelTable<double>& kern = use_simd ? active_kernels<double>() : kernels_generic_f64();
    const bool hard = std::isinf(gamma);
    const double gp = hard ? 1.0 : gamma / (gamma + 1.0);
    ItmlSweepStats st;
    double nb = 0, na = 0, l1 = 0;
    std::vector<double> v(static_cast<std::size_t>(d)), vnext(static_cast<std::size_t>(d));
    if (m > 0) {  // v = A u_0
        kern.rank1_apply(A, d, 0.0, v.data(), U, vnext.data());
        v.swap(vnext);
    }
    for (std::int64_t c = 0; c < m; ++c) {
        const double* u = U + c * d;
        const double lam = lambda[c];
        nb += lam * lam;
        const double p = kern.vdot(u, v.data(), d);
        double beta = 0.0;
        if (p > 0 && std::isfinite(p)) {
            const double inv_b = 1.0 / bhat[c];
            double alpha;
            if (sign[c] > 0) {
                alpha = std::min(lam, gp * (1.0 / p - inv_b));
                beta = alpha / (1.0 - alpha * p);
                if (!hard) bhat[c] = 1.0 / (inv_b + alpha / gamma);
            } else {
                alpha = std::min(lam, gp * (inv_b - 1.0 / p));
                beta = -alpha / (1.0 + alpha * p);
                if (!hard) bhat[c] = 1.0 / (inv_b - alpha / gamma);
            }
            lambda[c] = lam - alpha;
            if (!std::isfinite(beta)) beta = 0.0;  // cannot happen in exact arithmetic; keeps A finite
        } else {
            ++st.skipped;
        }
        na += lambda[c] * lambda[c];
        l1 += std::fabs(lambda[c] - lam);
        const double* unext = c + 1 < m ? U + (c + 1) * d : nullptr;
        kern.rank1_apply(A, d, beta, v.data(), unext, vnext.data());
        v.swap(vnext);
    }
    st.l1_change = l1;
    st.norm_before = std::sqrt(nb);
    st.norm_after = std::sqrt(na);
    return st;
}

}  // namespace learn
}  // namespace fastmetric
