// Sparse inputs (issue 16, part 3): pairwise metrics, kernels and k-NN on CSR operands.
//
// X is a canonical CSR matrix (sorted, duplicate-free int32 column indices per row, int64 row
// pointers); the references Y come twice: as CSR (for the rare exact recompute, a merge of two
// sorted index lists) and as CSC (the inverted index by feature used for the products).
// For each query row the scores against every reference are accumulated in a dense buffer of
// length m (Gustavson's row-by-row product): for each nonzero (c, v) of the query, walk the
// references that have feature c. The work is sum_c nnz_X(c) nnz_Y(c) multiply-adds.
// Each query row is computed by one thread in a fixed order, so results are bit-identical for
// any thread count.
#pragma once
#include <cstdint>

#include "fastmetric/types.hpp"

namespace fastmetric {
namespace sparse {

// What a finished score means; the values match _sparse.py's table.
enum class Op : int {
    linear = 0,
    sqeuclidean = 1,
    euclidean = 2,
    cosine = 3,      // distance 1 - cos, clipped to [0, 2]; a zero row has cos 0 (scikit-learn)
    cityblock = 4,
    polynomial = 5,  // (gamma <x,y> + coef0)^degree
    rbf = 6,         // exp(-gamma |x-y|^2)
    sigmoid = 7,     // tanh(gamma <x,y> + coef0)
    cosine_similarity = 8,
};

struct Csr {
    const std::int64_t* ptr = nullptr;  // rows + 1
    const std::int32_t* idx = nullptr;
    index_t rows = 0;
    index_t cols = 0;
};

struct Params {
    Op op = Op::linear;
    double gamma = 1.0, coef0 = 1.0, degree = 3.0;
    bool zero_diagonal = false;  // Y is X: d(x_i, x_i) = 0 exactly (distances only)
};

// out (X.rows x Y.rows, row-major) = op(X[i], Y[j]).
template <class T>
void pairwise(const Csr& X, const T* xd, const Csr& Y, const T* yd, const Csr& Yt, const T* ytd, const Params& p,
              T* out, int n_threads);

// The same result (bit for bit) by tiles of references: each reference row scattered through the
// inverted index of the queries Xt (X transposed) into an n x 16 tile kept in cache, finished and
// written 16 entries a row. Chosen when X has fewer nonzeros than Y: transposing X is then the
// cheaper index to build (the references' transpose was 0.10 of 0.25 s of cosine_similarity
// 2000 x 20000 at 0.2 % of 50,000 features).
template <class T>
void pairwise_by_references(const Csr& X, const T* xd, const Csr& Y, const T* yd, const Csr& Xt, const T* xtd,
                            const Params& p, T* out, int n_threads);

// k smallest op(X[i], Y[j]) per query (distance ops only), ordered by (distance, index);
// exclude_self skips j == i (Y is X).
template <class T>
void kneighbors(const Csr& X, const T* xd, const Csr& Y, const T* yd, const Csr& Yt, const T* ytd, const Params& p,
                index_t k, bool exclude_self, T* dist, std::int64_t* ind, int n_threads);

}  // namespace sparse
}  // namespace fastmetric
