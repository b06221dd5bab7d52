#include "fastmetric/linalg.hpp"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <vector>

namespace fastmetric {

bool cholesky_upper(double* A, index_t d, double rel_tol) {
    double max_diag = 0;
    for (index_t i = 0; i < d; ++i) max_diag = std::fmax(max_diag, std::fabs(A[i * d + i]));
    const double tol = rel_tol * double(d) * max_diag;
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
    // row by row from the last: X = R^{-1} is upper triangular, and row i of X is
    // X[i][i] = 1 / R[i][i], X[i][j] = -(sum_{k=i+1..j} R[i][k] X[k][j]) / R[i][i] for j > i: a sum of the
    // rows k > i of X (already computed) scaled by R[i][k], contiguous for the compiler to vectorise
    std::vector<double> row(std::size_t(d > 0 ? d : 0));
    for (index_t i = d - 1; i >= 0; --i) {
        const double inv = 1.0 / R[i * d + i];
        std::fill(row.begin() + i, row.end(), 0.0);
        for (index_t k = i + 1; k < d; ++k) {
            const double rik = R[i * d + k];
            const double* xk = R + k * d;
            for (index_t j = k; j < d; ++j) row[std::size_t(j)] += rik * xk[j];
        }
        R[i * d + i] = inv;
        for (index_t j = i + 1; j < d; ++j) R[i * d + j] = -row[std::size_t(j)] * inv;
    }
}

namespace {

// sqrt(a^2 + b^2) without overflow or underflow; std::hypot's extra half-ulp accuracy costs ~5x
// (measured: a third of the eigenvalue solve at d = 64)
inline double pythag(double a, double b) {
    a = std::fabs(a);
    b = std::fabs(b);
    const double hi = a > b ? a : b, lo = a > b ? b : a;  // std::fmax is a library call here
    if (hi == 0.0) return 0.0;
    const double t = lo / hi;
    return hi * std::sqrt(1.0 + t * t);
}

// x . y in four interleaved partial sums (the baseline flags keep a single sum serial)
inline double dot4(const double* x, const double* y, index_t n) {
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    index_t j = 0;
    for (; j + 4 <= n; j += 4) {
        s0 += x[j] * y[j];
        s1 += x[j + 1] * y[j + 1];
        s2 += x[j + 2] * y[j + 2];
        s3 += x[j + 3] * y[j + 3];
    }
    for (; j < n; ++j) s0 += x[j] * y[j];
    return (s0 + s2) + (s1 + s3);
}

// Householder reduction of the symmetric A (row-major n x n, full) to the tridiagonal T = Q^T A Q:
// diag[i] = T[i][i], off[i] = T[i][i+1] (i < n - 1). Step k reflects the entries below the
// diagonal of column k (= row k right of the diagonal) onto off[k] e_1 with H_k = I - beta_k v v^T
// over the indices k+1 .. n-1, and updates the trailing block S <- H_k S H_k as
// S - v w^T - w v^T, w = p - (beta/2)(v.p) v, p = beta S v. v is left in row k (right of the
// diagonal) and beta_k in beta[k], for the accumulation of Q.
void tridiagonalize(double* A, index_t n, double* diag, double* off, double* beta, std::vector<double>& work) {
    work.assign(std::size_t(2 * n), 0.0);
    double* p = work.data();
    double* w = p + n;
    for (index_t k = 0; k + 2 < n; ++k) {
        double* v = A + k * n + k + 1;  // length L, the column below the diagonal by symmetry
        const index_t L = n - k - 1;
        double tail = 0;
        for (index_t i = 1; i < L; ++i) tail += v[i] * v[i];
        if (tail == 0.0) {  // already tridiagonal in this column: H_k = I
            off[k] = v[0];
            beta[k] = 0.0;
            continue;
        }
        const double norm = std::sqrt(v[0] * v[0] + tail);
        const double alpha = v[0] > 0 ? -norm : norm;  // v0 - alpha without cancellation
        v[0] -= alpha;
        const double b = 2.0 / (v[0] * v[0] + tail);
        off[k] = alpha;
        beta[k] = b;
        double* S = A + (k + 1) * n + k + 1;  // trailing block, row stride n
        double vp = 0;
        for (index_t i = 0; i < L; ++i) {
            p[i] = b * dot4(S + i * n, v, L);
            vp += v[i] * p[i];
        }
        const double half = 0.5 * b * vp;
        for (index_t i = 0; i < L; ++i) w[i] = p[i] - half * v[i];
        for (index_t i = 0; i < L; ++i) {
            double* si = S + i * n;
            const double vi = v[i], wi = w[i];
            for (index_t j = 0; j < L; ++j) si[j] -= vi * w[j] + wi * v[j];
        }
    }
    for (index_t i = 0; i < n; ++i) diag[i] = A[i * n + i];
    if (n >= 2) off[n - 2] = A[(n - 2) * n + n - 1];
}

// V = Q = H_0 H_1 ... H_{n-3} from the reflectors tridiagonalize left in A, applied right to left
// to the identity: H_k touches only the rows and columns k+1 .. n-1 of the partial product.
void accumulate_reflectors(const double* A, index_t n, const double* beta, double* V, std::vector<double>& work) {
    std::fill(V, V + n * n, 0.0);
    for (index_t i = 0; i < n; ++i) V[i * n + i] = 1.0;
    work.assign(std::size_t(n), 0.0);
    double* u = work.data();
    for (index_t k = n - 3; k >= 0; --k) {
        if (beta[k] == 0.0) continue;
        const double* v = A + k * n + k + 1;
        const index_t L = n - k - 1, c0 = k + 1;
        std::fill(u, u + L, 0.0);  // u = v^T V[c0.., c0..]
        for (index_t i = 0; i < L; ++i) {
            const double* vi = V + (c0 + i) * n + c0;
            for (index_t j = 0; j < L; ++j) u[j] += v[i] * vi[j];
        }
        for (index_t i = 0; i < L; ++i) {
            double* vi = V + (c0 + i) * n + c0;
            const double s = beta[k] * v[i];
            for (index_t j = 0; j < L; ++j) vi[j] -= s * u[j];
        }
    }
}

// Implicit QL with Wilkinson shifts on the symmetric tridiagonal (diag, off; off[i] couples i and
// i + 1, off has n entries, the last one scratch); each plane rotation is applied to the columns
// of V (n x n) when V is non-null. Returns false if an eigenvalue needs more than 30 n sweeps.
bool tridiagonal_ql(double* diag, double* off, index_t n, double* V) {
    if (n < 1) return true;
    off[n - 1] = 0.0;
    for (index_t l = 0; l < n; ++l) {
        index_t sweeps = 0;
        while (true) {
            index_t m = l;
            for (; m + 1 < n; ++m) {  // the first negligible coupling at or after l
                const double dd = std::fabs(diag[m]) + std::fabs(diag[m + 1]);
                if (std::fabs(off[m]) <= DBL_EPSILON * dd) break;
            }
            if (m == l) break;  // diag[l] has converged
            if (++sweeps > 30 * n) return false;
            // shift: the eigenvalue of the leading 2 x 2 block nearer diag[l]
            double g = (diag[l + 1] - diag[l]) / (2.0 * off[l]);
            double r = pythag(g, 1.0);
            g = diag[m] - diag[l] + off[l] / (g + std::copysign(r, g));
            double s = 1.0, c = 1.0, p = 0.0;
            bool split = false;
            for (index_t i = m - 1; i >= l; --i) {
                const double f = s * off[i], b = c * off[i];
                r = pythag(f, g);
                off[i + 1] = r;
                if (r == 0.0) {  // the rotation underflowed: the matrix splits here, restart
                    diag[i + 1] -= p;
                    off[m] = 0.0;
                    split = true;
                    break;
                }
                s = f / r;
                c = g / r;
                g = diag[i + 1] - p;
                r = (diag[i] - g) * s + 2.0 * c * b;
                p = s * r;
                diag[i + 1] = g + p;
                g = c * r - b;
                if (V)
                    for (index_t k = 0; k < n; ++k) {
                        double* row = V + k * n;
                        const double t = row[i + 1];
                        row[i + 1] = s * row[i] + c * t;
                        row[i] = c * row[i] - s * t;
                    }
            }
            if (split) continue;
            diag[l] -= p;
            off[l] = g;
            off[m] = 0.0;
        }
    }
    return true;
}

}  // namespace

void symmetric_tridiagonal(double* A, index_t d, double* diag, double* off) {
    if (d < 1) return;
    for (index_t i = 0; i < d; ++i)
        for (index_t j = 0; j < i; ++j) A[i * d + j] = A[j * d + i];
    std::vector<double> off_full(std::size_t(d), 0.0), beta(std::size_t(d), 0.0), work;
    tridiagonalize(A, d, diag, off_full.data(), beta.data(), work);
    std::copy_n(off_full.data(), d - 1, off);
}

double tridiagonal_max_eigenvalue(const double* diag, const double* off, index_t d) {
    if (d < 1) return 0.0;
    // Gershgorin: every eigenvalue lies in [lo, hi]
    double lo = diag[0], hi = diag[0], scale = 0, pivmin = DBL_MIN;
    for (index_t i = 0; i < d; ++i) {
        const double r = (i > 0 ? std::fabs(off[i - 1]) : 0.0) + (i + 1 < d ? std::fabs(off[i]) : 0.0);
        lo = std::min(lo, diag[i] - r);
        hi = std::max(hi, diag[i] + r);
        if (i + 1 < d) pivmin = std::max(pivmin, off[i] * off[i] * DBL_MIN);
    }
    scale = std::max(std::fabs(lo), std::fabs(hi));
    if (scale == 0.0) return 0.0;
    // count(x) = number of eigenvalues < x (negative pivots of T - x I, zero pivots nudged)
    auto count_below = [&](double x) {
        index_t neg = 0;
        double q = diag[0] - x;
        if (std::fabs(q) < pivmin) q = -pivmin;
        if (q < 0) ++neg;
        for (index_t i = 1; i < d; ++i) {
            q = (diag[i] - x) - off[i - 1] * off[i - 1] / q;
            if (std::fabs(q) < pivmin) q = -pivmin;
            if (q < 0) ++neg;
        }
        return neg;
    };
    // the largest eigenvalue is in (lo, hi]: keep count(lo) < d <= count(hi + tiny)
    lo -= 2 * DBL_EPSILON * scale;
    hi += 2 * DBL_EPSILON * scale;
    for (int it = 0; it < 200 && hi - lo > 2 * DBL_EPSILON * scale; ++it) {
        const double mid = 0.5 * (lo + hi);
        if (mid <= lo || mid >= hi) break;
        if (count_below(mid) == d)
            hi = mid;  // all eigenvalues below mid
        else
            lo = mid;
    }
    return 0.5 * (lo + hi);
}

bool symmetric_eigen(double* A, index_t d, double* w, double* V) {
    if (d < 1) return true;
    for (index_t i = 0; i < d; ++i)  // the upper triangle is the matrix
        for (index_t j = 0; j < i; ++j) A[i * d + j] = A[j * d + i];
    std::vector<double> off(std::size_t(d), 0.0), beta(std::size_t(d), 0.0), work;
    tridiagonalize(A, d, w, off.data(), beta.data(), work);
    if (V) accumulate_reflectors(A, d, beta.data(), V, work);
    if (!tridiagonal_ql(w, off.data(), d, V)) return false;
    // ascending, the vectors' columns along (selection sort: d swaps at most)
    for (index_t i = 0; i + 1 < d; ++i) {
        index_t k = i;
        for (index_t j = i + 1; j < d; ++j)
            if (w[j] < w[k]) k = j;
        if (k == i) continue;
        std::swap(w[i], w[k]);
        if (V)
            for (index_t r = 0; r < d; ++r) std::swap(V[r * d + i], V[r * d + k]);
    }
    return true;
}

}  // namespace fastmetric
