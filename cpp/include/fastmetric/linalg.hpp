// Small dense linear algebra for metric matrices (d x d, d up to a few thousand), in double.
//
// Done here rather than with numpy/LAPACK on purpose: a LAPACK call right before a kernel leaves
// OpenBLAS's worker threads spinning, and they steal the cores our OpenMP threads are about to
// use (measured: +15 ms on a 30 ms Mahalanobis cdist). These loops are O(d^3/3) and tiny next to
// the pairwise work they prepare.
#pragma once
#include "fastmetric/types.hpp"

namespace fastmetric {

// In-place Cholesky A = R^T R of a symmetric matrix (row-major d x d; only the upper triangle is
// read). On success the upper triangle holds R, the strict lower triangle is zeroed, and the
// function returns true. Returns false (A partly overwritten) when a pivot is not clearly positive:
// the matrix is not positive definite to working precision.
// rel_tol: a pivot must exceed rel_tol * d * max |A[i][i]| (default 1e-12); 0 accepts every
// positive pivot, as LAPACK's dpotrf does.
bool cholesky_upper(double* A, index_t d, double rel_tol = 1e-12);

// In-place inverse of an upper-triangular, non-singular R (row-major d x d).
void invert_upper(double* R, index_t d);

// Eigenvalues w (ascending) of the symmetric A (row-major d x d; both triangles read as one, the
// upper used): Householder reduction to tridiagonal form, then the implicit QL iteration with
// Wilkinson shifts (Golub & Van Loan, sections 8.3); backward stable, like LAPACK's dsyev. With V
// non-null, V (d x d, row-major) gets the orthonormal eigenvectors as columns: A = V diag(w) V^T.
// A is overwritten. O(4/3 d^3) flops without vectors, about 3x more with. Returns false when the
// QL iteration did not converge in 30 d sweeps (never seen; the caller reports it).
bool symmetric_eigen(double* A, index_t d, double* w, double* V = nullptr);

// The first half of symmetric_eigen: A (symmetric, upper triangle read, overwritten) = Q T Q^T with
// T tridiagonal, diag[i] = T[i][i] (d entries) and off[i] = T[i][i+1] (d - 1 entries): the
// eigenvalues of T are A's.
void symmetric_tridiagonal(double* A, index_t d, double* diag, double* off);

// The largest eigenvalue of the symmetric tridiagonal (diag, off), to within a few ulps of
// max |eigenvalue|, by bisection on Sturm counts from the Gershgorin bound (O(60 d)).
double tridiagonal_max_eigenvalue(const double* diag, const double* off, index_t d);

}  // namespace fastmetric
