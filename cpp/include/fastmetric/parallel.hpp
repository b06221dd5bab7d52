// Threads: the thread-count policy and a fork-safe team of worker threads.
//
// Every parallel loop of the library runs on this team, not on OpenMP's: GNU libgomp keeps its
// worker threads across calls and, after fork(), a child that enters a parallel region waits
// forever for workers that were not copied (libgomp has no fork handler). Our team registers one:
// in a forked child the parent's team is dropped (its threads do not exist there) and the next
// parallel call starts a new one, so a child keeps every core.
//
//   run_team(nt, body)      body(tid) on nt threads, tid 0 being the caller; returns when all have
//                           returned and rethrows the first exception any of them threw.
//   parallel_for(...)       a loop on run_team: chunks handed out in increasing order (dynamic) or
//                           one contiguous block per thread (static); an exception stops the
//                           remaining iterations and is rethrown after the loop.
//
// One team serves one call at a time. A call made while the team is busy (another Python thread
// calling concurrently, or a nested parallel call from inside a team body) runs on its calling
// thread alone; results are bitwise the same for any thread count, so only the speed differs.
// Workers spin for ~0.1 ms after a job (back-to-back calls start in a few microseconds), then sleep.
//
// Thread count: max_threads() is OpenMP's omp_get_max_threads() when the build has OpenMP (so
// OMP_NUM_THREADS and threadpoolctl's limits apply as they did), otherwise OMP_NUM_THREADS or the
// CPUs this process may run on.
#pragma once
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <exception>
#include <type_traits>
#include <utility>

#include "fastmetric/types.hpp"

namespace fastmetric {

int max_threads();
// requested <= 0: max_threads(); otherwise requested.
int resolve_threads(int requested);
// The calling thread's index in the team running it (0 outside a team and on the calling thread).
int team_thread();
// Whether the build links OpenMP (only its thread-count setting is used, see above).
bool have_openmp();
// Worker threads of this process's team (0 before the first parallel call).
int team_workers();
// How many times a fork replaced an inherited team, in this process and its ancestors.
int team_resets_after_fork();

namespace detail {
using team_fn = void (*)(void* ctx, int tid);
void run_team_raw(int nt, team_fn fn, void* ctx);
// One step of a short wait on another team thread: a CPU pause, a yield every 1024 steps.
void spin_pause(unsigned step);
}  // namespace detail

template <class F>
void run_team(int nt, F&& body) {
    auto call = [](void* ctx, int tid) { (*static_cast<std::remove_reference_t<F>*>(ctx))(tid); };
    detail::run_team_raw(nt, call, const_cast<void*>(static_cast<const void*>(&body)));
}

// f(tid, i) for i in [0, n); chunks of `chunk` consecutive indices handed out in increasing order.
template <class F>
void parallel_for_dynamic(int nt, index_t n, index_t chunk, F&& f) {
    if (n <= 0) return;
    if (chunk < 1) chunk = 1;
    const index_t nchunks = (n + chunk - 1) / chunk;
    if (nt > nchunks) nt = int(nchunks);
    if (nt <= 1) {
        for (index_t i = 0; i < n; ++i) f(0, i);
        return;
    }
    std::atomic<index_t> next{0};
    std::atomic<bool> failed{false};
    run_team(nt, [&](int tid) {
        try {
            for (;;) {
                if (failed.load(std::memory_order_relaxed)) return;
                const index_t c = next.fetch_add(1, std::memory_order_relaxed);
                if (c >= nchunks) return;
                const index_t e = std::min(n, (c + 1) * chunk);
                for (index_t i = c * chunk; i < e; ++i) f(tid, i);
            }
        } catch (...) {
            failed.store(true);
            throw;  // run_team keeps the first and rethrows it
        }
    });
}

// f(tid, i) for i in [0, n); thread tid takes the tid-th of nt contiguous blocks.
template <class F>
void parallel_for_static(int nt, index_t n, F&& f) {
    if (n <= 0) return;
    if (nt > n) nt = int(n);
    if (nt <= 1) {
        for (index_t i = 0; i < n; ++i) f(0, i);
        return;
    }
    std::atomic<bool> failed{false};
    run_team(nt, [&](int tid) {
        const index_t b = n * tid / nt, e = n * (tid + 1) / nt;
        try {
            for (index_t i = b; i < e; ++i) {
                if (failed.load(std::memory_order_relaxed)) return;
                f(tid, i);
            }
        } catch (...) {
            failed.store(true);
            throw;
        }
    });
}

}  // namespace fastmetric
