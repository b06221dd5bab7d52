#include "fastmetric/linalg.hpp"

#include <cmath>

namespace fastmetric {

bool cholesky_upper(double* A, index_t d) {
    double max_diag = 0;
    for (index_t i = 0; i < d; ++i) max_diag = std::fmax(max_diag, std::fabs(A[i * d + i]));
    const double tol = 1e-12 * double(d) * max_diag;
    for (index_t j = 0; j < d; ++j) {
        // R[j][j] = sqrt(A[j][j] - sum_k<j R[k][j]^2); R[j][i] = (A[j][i] - sum_k<j R[k][j] R[k][i]) / R[j][j]
        double s = A[j * d + j];
        for (index_t k = 0; k < j; ++k) s -= A[k * d + j] * A[k * d + j];
        if (!(s > tol)) return false;
        const double r = std::sqrt(s);
        A[j * d + j] = r;
        double* row_j = A + j * d;
        for (index_t k = 0; k < j; ++k) {
            const double rkj = A[k * d + j];
            const double* row_k = A + k * d;
            for (index_t i = j + 1; i < d; ++i) row_j[i] -= rkj * row_k[i];
        }
        const double inv = 1.0 / r;
        for (index_t i = j + 1; i < d; ++i) row_j[i] *= inv;
    }
    for (index_t i = 1; i < d; ++i)
        for (index_t k = 0; k < i; ++k) A[i * d + k] = 0.0;
    return true;
}

void invert_upper(double* R, index_t d) {
    // column by column from the last: R^{-1} is upper triangular as well
    for (index_t j = d - 1; j >= 0; --j) {
        const double rjj = 1.0 / R[j * d + j];
        R[j * d + j] = rjj;
        // entries (i, j) for i < j: -(sum_{k=i+1..j} R[i][k] X[k][j]) / R[i][i]
        for (index_t i = j - 1; i >= 0; --i) {
            double s = 0;
            for (index_t k = i + 1; k <= j; ++k) s += R[i * d + k] * R[k * d + j];
            R[i * d + j] = -s / R[i * d + i];
        }
    }
}

}  // namespace fastmetric
