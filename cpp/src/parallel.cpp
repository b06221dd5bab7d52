// The fork-safe worker team (see parallel.hpp for the contract).
//
// State of one team: workers 1 .. size-1 wait for a new job generation. A job is (fn, ctx, nt):
// workers with index < nt run fn(ctx, index) and count themselves done; the caller runs tid 0 and
// then waits for the count. Workers spin ~0.1 ms after each job (a learner's next evaluation, a
// loop of small calls, start without a wake-up), then block on a condition variable.
//
// fork(): the child holds a copy of the team's memory but none of its threads. A pthread_atfork
// child handler drops the team pointer (the object is leaked on purpose: its mutex may have been
// held by a parent thread, and its std::thread objects must not be destroyed), so the next
// parallel call in the child builds a new team with new threads.
#include "fastmetric/parallel.hpp"

#include "fastmetric/engine.hpp"  // interrupt_check_fn

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

#if defined(FASTMETRIC_HAVE_OPENMP)
#include <omp.h>
#endif
#if defined(__unix__) || defined(__APPLE__)
#include <pthread.h>
#define FM_HAVE_PTHREAD_ATFORK 1
#endif
#if defined(__linux__)
#include <sched.h>
#endif
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define FM_CPU_RELAX() _mm_pause()
#elif defined(__aarch64__)
#define FM_CPU_RELAX() asm volatile("yield" ::: "memory")
#else
#define FM_CPU_RELAX() ((void)0)
#endif

namespace fastmetric {

namespace {

thread_local int t_tid = 0;

using clock = std::chrono::steady_clock;
constexpr auto kSpin = std::chrono::microseconds(100);
constexpr int kMaxTeam = 1024;  // larger requests run serially (still correct)

class Team {
  public:
    // Runs fn on nt threads if the team is free; returns false (nothing run) if it is busy.
    bool try_run(int nt, detail::team_fn fn, void* ctx) {
        if (busy_.exchange(true, std::memory_order_acquire)) return false;
        struct Release {
            std::atomic<bool>& b;
            ~Release() { b.store(false, std::memory_order_release); }
        } release{busy_};
        try {
            grow(nt - 1);  // thread creation may fail (resource limits): then run serially
        } catch (...) {
            return false;
        }
        fn_ = fn;
        ctx_ = ctx;
        first_error_ = nullptr;
        done_.store(0, std::memory_order_relaxed);
        // one word carries the job's sequence number and its thread count, so a worker that wakes
        // late never pairs one job's generation with another job's size
        const std::uint64_t seq = (job_.load(std::memory_order_relaxed) >> kNtBits) + 1;
        job_.store((seq << kNtBits) | std::uint64_t(nt), std::memory_order_seq_cst);
        if (sleepers_.load(std::memory_order_seq_cst) > 0) {
            std::lock_guard<std::mutex> lock(mu_);
            cv_.notify_all();
        }
        run_one(0);
        // wait for workers 1 .. nt-1
        const int want = nt - 1;
        unsigned spins = 0;
        while (done_.load(std::memory_order_acquire) < want) {
            if (++spins < 4096)
                FM_CPU_RELAX();
            else
                std::this_thread::yield();
        }
        if (first_error_) std::rethrow_exception(first_error_);
        return true;
    }

  private:
    void run_one(int tid) {
        const int saved = t_tid;
        t_tid = tid;
        try {
            fn_(ctx_, tid);
        } catch (...) {
            std::lock_guard<std::mutex> lock(error_mu_);
            if (!first_error_) first_error_ = std::current_exception();
        }
        t_tid = saved;
    }

    void grow(int workers) {
        while (int(threads_.size()) < workers) {
            const int index = int(threads_.size()) + 1;
            // the job word as it is now, before this call publishes its job: the new worker must
            // see that job as new (it may start running only after the publication)
            const std::uint64_t now = job_.load(std::memory_order_relaxed);
            threads_.emplace_back([this, index, now] { worker(index, now); });
            workers_.store(int(threads_.size()), std::memory_order_relaxed);
        }
    }

    void worker(int index, std::uint64_t seen) {
        for (;;) {
            // wait for the next job: spin a little, then sleep
            const auto until = clock::now() + kSpin;
            unsigned spins = 0;
            std::uint64_t g;
            while ((g = job_.load(std::memory_order_acquire)) == seen) {
                FM_CPU_RELAX();
                if ((++spins & 255) == 0 && clock::now() >= until) {
                    std::unique_lock<std::mutex> lock(mu_);
                    sleepers_.fetch_add(1, std::memory_order_seq_cst);
                    while ((g = job_.load(std::memory_order_seq_cst)) == seen) cv_.wait(lock);
                    sleepers_.fetch_sub(1, std::memory_order_relaxed);
                    break;
                }
            }
            seen = g;
            if (index < int(g & kNtMask)) {
                run_one(index);
                done_.fetch_add(1, std::memory_order_release);
            }
        }
    }

  public:
    int workers() const { return workers_.load(std::memory_order_relaxed); }

  private:
    std::atomic<bool> busy_{false};
    std::atomic<int> workers_{0};
    std::vector<std::thread> threads_;  // never joined: workers live as long as the process
    std::mutex mu_, error_mu_;
    std::condition_variable cv_;
    static constexpr int kNtBits = 20;
    static constexpr std::uint64_t kNtMask = (std::uint64_t(1) << kNtBits) - 1;
    std::atomic<std::uint64_t> job_{0};
    std::atomic<int> sleepers_{0}, done_{0};
    detail::team_fn fn_ = nullptr;
    void* ctx_ = nullptr;
    std::exception_ptr first_error_;
};

std::atomic<Team*> g_team{nullptr};
std::atomic<int> g_resets{0};

#if defined(FM_HAVE_PTHREAD_ATFORK)
void forget_team_in_child() {
    // only async-signal-safe work here: two atomic stores
    if (g_team.exchange(nullptr, std::memory_order_relaxed)) g_resets.fetch_add(1, std::memory_order_relaxed);
}
#endif

Team& team() {
    Team* t = g_team.load(std::memory_order_acquire);
    if (t) return *t;
#if defined(FM_HAVE_PTHREAD_ATFORK)
    static const bool registered = [] { return pthread_atfork(nullptr, nullptr, forget_team_in_child) == 0; }();
    (void)registered;
#endif
    Team* fresh = new Team();
    if (g_team.compare_exchange_strong(t, fresh, std::memory_order_acq_rel)) return *fresh;
    delete fresh;  // another thread won; it has no threads yet
    return *t;
}

[[maybe_unused]] int cpus_available() {
#if defined(__linux__)
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) == 0) {
        const int c = CPU_COUNT(&set);
        if (c > 0) return c;
    }
#endif
    const unsigned h = std::thread::hardware_concurrency();
    return h > 0 ? int(h) : 1;
}

}  // namespace

bool have_openmp() {
#if defined(FASTMETRIC_HAVE_OPENMP)
    return true;
#else
    return false;
#endif
}

int max_threads() {
#if defined(FASTMETRIC_HAVE_OPENMP)
    return std::max(1, omp_get_max_threads());  // reads OpenMP's settings only; starts no thread
#else
    if (const char* s = std::getenv("OMP_NUM_THREADS")) {
        const int v = std::atoi(s);
        if (v > 0) return v;
    }
    return cpus_available();
#endif
}

int resolve_threads(int requested) { return requested <= 0 ? max_threads() : requested; }

int team_thread() { return t_tid; }

// Interruption (engine.hpp): the binding installs the check, the driver's thread 0 calls it.
namespace {
std::atomic<interrupt_check_fn> g_interrupt_check{nullptr};
}
void set_interrupt_check(interrupt_check_fn fn) { g_interrupt_check.store(fn); }
interrupt_check_fn interrupt_check() { return g_interrupt_check.load(); }

int team_resets_after_fork() { return g_resets.load(); }

int team_workers() {
    const Team* t = g_team.load(std::memory_order_acquire);
    return t ? t->workers() : 0;
}

namespace detail {
void spin_pause(unsigned step) {
    if (step % 1024 == 0)
        std::this_thread::yield();
    else
        FM_CPU_RELAX();
}

void run_team_raw(int nt, team_fn fn, void* ctx) {
    if (nt > 1 && nt <= kMaxTeam && team().try_run(nt, fn, ctx)) return;
    // On the calling thread alone (one thread, or the team is busy with a concurrent or nested
    // call): every tid in turn, so a body written for nt threads still does all of its work.
    const int saved = t_tid;
    try {
        for (int tid = 0; tid < std::max(1, nt); ++tid) {
            t_tid = tid;
            fn(ctx, tid);
        }
    } catch (...) {
        t_tid = saved;
        throw;
    }
    t_tid = saved;
}
}  // namespace detail

}  // namespace fastmetric
