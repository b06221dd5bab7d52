// Output-buffer cache: see output_pool.hpp.
#include "fastmetric/output_pool.hpp"

#include <cstdlib>
#include <mutex>
#include <new>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace fastmetric {
namespace {

constexpr std::size_t kMaxBuffers = 4;
constexpr std::size_t kDefaultMaxBytes = std::size_t(512) << 20;

struct Block {
    void* p;
    std::size_t capacity;
};

struct Pool {
    std::mutex mu;
    std::vector<Block> free_blocks;
    std::size_t held = 0;
    std::size_t max_bytes = kDefaultMaxBytes;
    std::size_t hits = 0, misses = 0;
    Pool() {
        if (const char* e = std::getenv("FASTMETRIC_OUTPUT_POOL_BYTES")) {
            char* end = nullptr;
            const double v = std::strtod(e, &end);
            if (end != e && v >= 0) max_bytes = std::size_t(v);
        }
    }
};

Pool& pool() {
    static Pool* p = new Pool();  // never destroyed: buffers may be released during interpreter exit
    return *p;
}

void* raw_alloc(std::size_t bytes) {
#if defined(__linux__)
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
#if defined(MADV_HUGEPAGE)
    if (bytes >= (std::size_t(4) << 20)) madvise(p, bytes, MADV_HUGEPAGE);
#endif
    return p;
#else
    return ::operator new(bytes, std::align_val_t(64));
#endif
}

void raw_free(void* p, std::size_t bytes) noexcept {
#if defined(__linux__)
    munmap(p, bytes);
#else
    (void)bytes;
    ::operator delete(p, std::align_val_t(64));
#endif
}

}  // namespace

void* pool_acquire(std::size_t bytes, std::size_t* capacity) {
    if (bytes == 0) bytes = 64;
    bytes = (bytes + 4095) & ~std::size_t(4095);
    Pool& P = pool();
    {
        std::lock_guard<std::mutex> lock(P.mu);
        // best fit among the kept buffers, wasting at most a quarter of one
        std::size_t best = P.free_blocks.size();
        for (std::size_t i = 0; i < P.free_blocks.size(); ++i) {
            const std::size_t c = P.free_blocks[i].capacity;
            if (c >= bytes && c - bytes <= c / 4 &&
                (best == P.free_blocks.size() || c < P.free_blocks[best].capacity))
                best = i;
        }
        if (best < P.free_blocks.size()) {
            const Block b = P.free_blocks[best];
            P.free_blocks.erase(P.free_blocks.begin() + std::ptrdiff_t(best));
            P.held -= b.capacity;
            ++P.hits;
            *capacity = b.capacity;
            return b.p;
        }
        ++P.misses;
    }
    void* p = raw_alloc(bytes);
    *capacity = bytes;
    return p;
}

void pool_release(void* p, std::size_t capacity) noexcept {
    Pool& P = pool();
    std::vector<Block> drop;
    {
        std::lock_guard<std::mutex> lock(P.mu);
        if (capacity <= P.max_bytes) {
            try {
                P.free_blocks.push_back({p, capacity});  // newest last
                P.held += capacity;
                p = nullptr;
            } catch (...) {
            }
            // over the bounds: free the oldest kept buffers
            while (!P.free_blocks.empty() && (P.held > P.max_bytes || P.free_blocks.size() > kMaxBuffers)) {
                drop.push_back(P.free_blocks.front());
                P.held -= P.free_blocks.front().capacity;
                P.free_blocks.erase(P.free_blocks.begin());
            }
        }
    }
    if (p) raw_free(p, capacity);
    for (const Block& b : drop) raw_free(b.p, b.capacity);
}

std::size_t pool_set_max_bytes(std::size_t max_bytes) {
    Pool& P = pool();
    std::vector<Block> drop;
    std::size_t previous;
    {
        std::lock_guard<std::mutex> lock(P.mu);
        previous = P.max_bytes;
        P.max_bytes = max_bytes;
        while (!P.free_blocks.empty() && P.held > P.max_bytes) {
            drop.push_back(P.free_blocks.front());
            P.held -= P.free_blocks.front().capacity;
            P.free_blocks.erase(P.free_blocks.begin());
        }
    }
    for (const Block& b : drop) raw_free(b.p, b.capacity);
    return previous;
}

PoolStats pool_stats() {
    Pool& P = pool();
    std::lock_guard<std::mutex> lock(P.mu);
    return {P.held, P.free_blocks.size(), P.max_bytes, P.hits, P.misses};
}

}  // namespace fastmetric
