// Plain views over caller-owned memory. No Python, no ownership, no allocation.
//
// Strides are in elements (not bytes) and may be negative (numpy views with [::-1]).
// Every index is 64-bit: a condensed pdist index overflows 32 bits past n ~ 65,536.
#pragma once
#include <cstddef>
#include <cstdint>

namespace fastmetric {

using index_t = std::int64_t;

template <class T>
struct MatrixView {
    const T* data = nullptr;
    index_t rows = 0;
    index_t cols = 0;
    index_t row_stride = 0;  // elements between rows
    index_t col_stride = 1;  // elements between columns

    const T* row(index_t i) const { return data + i * row_stride; }
    T at(index_t i, index_t k) const { return data[i * row_stride + k * col_stride]; }
    bool same_as(const MatrixView& o) const {
        return data == o.data && rows == o.rows && cols == o.cols && row_stride == o.row_stride &&
               col_stride == o.col_stride;
    }
    // a row-major, contiguous rows x cols block at data
    static MatrixView dense(const T* data, index_t rows, index_t cols) {
        MatrixView v;
        v.data = data;
        v.rows = rows;
        v.cols = cols;
        v.row_stride = cols;
        v.col_stride = 1;
        return v;
    }
};

template <class T>
struct MutableMatrixView {
    T* data = nullptr;
    index_t rows = 0;
    index_t cols = 0;
    index_t row_stride = 0;
    T* row(index_t i) const { return data + i * row_stride; }
};

}  // namespace fastmetric
