// Small pieces of the learners' tiled pair sweep (pair_sweep.cpp). Internal: not part of the
// library's interface. (The thread index is fastmetric::team_thread(), engine.hpp.)
#pragma once
#include <algorithm>
#include <limits>

#include "fastmetric/types.hpp"

#if defined(__SSE2__) || defined(_M_X64)
#include <xmmintrin.h>
#define FM_SWEEP_HAVE_MXCSR 1
#endif

namespace fastmetric {
namespace learn {
namespace detail {

// Flush subnormals to zero (FTZ + DAZ) on the calling thread for the lifetime of the guard.
// Softmax weights far below the largest one -- products like exp(mu - d) * exp(-(mu + off)) --
// land in the subnormal range, where x86 arithmetic can take a slow microcode path; they are
// below 1e-38 (float) / 1e-308 (double) next to sums >= 1, so flushing them changes nothing that
// matters. Every thread of a sweep sets the same mode: results stay independent of n_threads.
class FlushDenormals {
  public:
    FlushDenormals() {
#if defined(FM_SWEEP_HAVE_MXCSR)
        saved_ = _mm_getcsr();
        _mm_setcsr(saved_ | 0x8040u);  // FTZ (bit 15) | DAZ (bit 6)
#endif
    }
    ~FlushDenormals() {
#if defined(FM_SWEEP_HAVE_MXCSR)
        _mm_setcsr(saved_);
#endif
    }
    FlushDenormals(const FlushDenormals&) = delete;
    FlushDenormals& operator=(const FlushDenormals&) = delete;

  private:
    unsigned saved_ = 0;
};

// Smallest and largest offset over the rows [i0, i0 + ni) and [j0, j0 + nj) of a tile pair: one
// exponential serves the tile when they lie within the sweep's span.
inline void offset_range(const double* off, index_t i0, index_t ni, index_t j0, index_t nj, double& lo, double& hi) {
    lo = std::numeric_limits<double>::infinity();
    hi = -lo;
    for (index_t r = 0; r < ni; ++r) {
        lo = std::min(lo, off[i0 + r]);
        hi = std::max(hi, off[i0 + r]);
    }
    for (index_t j = 0; j < nj; ++j) {
        lo = std::min(lo, off[j0 + j]);
        hi = std::max(hi, off[j0 + j]);
    }
}

}  // namespace detail
}  // namespace learn
}  // namespace fastmetric
