// A small cache of large output buffers (dense distance / kernel matrices).
//
// Why: on the machines we measured, the first write to freshly mapped memory costs more than the
// computation for outputs of tens of MB (4000 x 4000 float32 = 64 MB: ~10 ms of page faults against
// ~22 ms of euclidean d=128 and ~7 ms of euclidean d=16). Memory that numpy frees is unmapped at once
// (glibc serves blocks above 32 MB with mmap/munmap), so a loop that computes one such matrix per
// iteration pays the faults every time. The pool keeps a few freed output buffers, already faulted
// in (and advised as huge pages on Linux), and hands them to the next call of a similar size -- the
// way PyTorch's caching allocator reuses device memory.
//
// Bounded: at most kMaxBuffers buffers and max_bytes in total (default 512 MiB, 0 disables; env
// FASTMETRIC_OUTPUT_POOL_BYTES or fastmetric.set_output_pool). A buffer larger than the bound is
// never kept. Thread-safe.
#pragma once
#include <cstddef>

namespace fastmetric {

struct PoolStats {
    std::size_t held_bytes, held_buffers, max_bytes, hits, misses;
};

// A buffer of at least `bytes` bytes (64-byte aligned); its true capacity in *capacity.
// Throws std::bad_alloc when the memory cannot be had.
void* pool_acquire(std::size_t bytes, std::size_t* capacity);
// Gives a buffer from pool_acquire back (kept if within the bounds, else freed).
void pool_release(void* p, std::size_t capacity) noexcept;
// Sets the bound (frees what no longer fits); returns the previous bound.
std::size_t pool_set_max_bytes(std::size_t max_bytes);
PoolStats pool_stats();

}  // namespace fastmetric
