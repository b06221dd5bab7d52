// Exact k-nearest-neighbour and radius search as reductions of the tiled driver.
//
// The n x m distance matrix never exists: each finished tile row is filtered against the row's
// current k-th best (or the radius) and only the survivors touch a heap. For the Euclidean family
// the filter runs on the raw dot products (KernelTable::sq_candidates), before any epilogue, and
// pairs whose expansion cancels are recomputed exactly, as in the dense path. Results are ordered by
// (distance, index): ties go to the smaller index, and the answer does not depend on the number of
// threads or on how the references are split (merge_topk gives the same result as one search).
#pragma once
#include <cstdint>
#include <vector>

#include "fastmetric/engine.hpp"

namespace fastmetric {

// dist/idx: n x k, row-major. The problem must not be symmetric; exclude_self drops j == i
// (the query set searching itself). Distances are final (post applied: sqrt, ^(1/p)).
template <class T>
void knn_search(const Problem<T>& pb, index_t k, bool exclude_self, T* dist, std::int64_t* idx);

// Every pair with distance <= radius. CSR output: offsets has n+1 entries. radius is in the final
// (post-applied) units. sort_results orders each row by (distance, index); otherwise by index.
// radii (optional, one per query row, same units) replaces radius with a radius per query.
// query_labels / ref_labels (optional, both or neither; one per query / reference row): only the
// references whose label differs from the query's are returned (LMNN's impostor search).
template <class T>
void radius_search(const Problem<T>& pb, double radius, bool exclude_self, bool sort_results, std::vector<T>& dist,
                   std::vector<std::int64_t>& idx, std::vector<std::int64_t>& offsets,
                   const double* radii = nullptr, const std::int64_t* query_labels = nullptr,
                   const std::int64_t* ref_labels = nullptr);

}  // namespace fastmetric
