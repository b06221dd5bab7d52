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
bool cholesky_upper(double* A, index_t d);

// In-place inverse of an upper-triangular, non-singular R (row-major d x d).
void invert_upper(double* R, index_t d);

}  // namespace fastmetric
