// exporter runtime: the team of threads every parallel kernel runs on.
//
// One process-wide pool of workers, created on first use and never destroyed (a worker blocked in a
// condition variable while static destructors run would be undefined; the process exit ends them). A
// region posts its task to the workers it needs, each in its own cache line, runs thread 0 itself and
// waits for the others. Workers spin for a short while after a region, so that the next one (the next
// layer, the next call from Python) starts in ~0.1 us, then sleep. After fork() the child has no
// workers: it forgets them and starts new ones on demand (libgomp hangs there instead).
#include "exporter_runtime.h"
#include "gemm_driver.h"  // EXPORTER_GEMM_ISA

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <new>
#include <thread>

#if defined(__linux__)
#include <pthread.h>
#include <sched.h>
#endif
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace exporter_rt {

// Here rather than in gemm.cpp: every program links this file, and each one's --help names the micro-kernel.
const char* gemm_isa() { return EXPORTER_GEMM_ISA; }

namespace {

constexpr int kMaxThreads = 4096;  // the binary's --threads bound
// How long a thread polls (for the next region, for its workers) before it sleeps: the first kBusy with pause
// only, then yielding the CPU between polls, so that where threads outnumber cores (two processes, a busy
// machine) the thread being waited for gets to run (pure spinning made a 2-process test run 2x slower).
constexpr auto kBusy = std::chrono::microseconds(20);
constexpr auto kSpin = std::chrono::microseconds(100);

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
    _mm_pause();
#elif defined(__aarch64__)
    asm volatile("yield");
#endif
}

// Polls ready() (pause, then yield) for up to kSpin; false if it never held (the caller then sleeps).
template <typename Ready> bool poll(Ready ready) {
    const auto start = std::chrono::steady_clock::now();
    for (int polls = 1;; ++polls) {
        if (ready()) return true;
        cpu_relax();
        if (polls % 32 == 0) {
            const auto waited = std::chrono::steady_clock::now() - start;
            if (waited > kSpin) return false;
            if (waited > kBusy) std::this_thread::yield();
        }
    }
}

int cpus_available() {
#if defined(__linux__)
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) return CPU_COUNT(&set);
#endif
    const unsigned n = std::thread::hardware_concurrency();
    return n > 0 ? int(n) : 1;
}

int default_threads() {
    // OMP_NUM_THREADS keeps working for users who set it for the OpenMP builds (its first value)
    if (const char* env = std::getenv("OMP_NUM_THREADS")) {
        const int n = std::atoi(env);
        if (n > 0) return std::min(n, kMaxThreads);
    }
    return cpus_available();
}

bool spin_allowed() {  // OMP_WAIT_POLICY=passive (a busy machine, the test suites): sleep at once
    const char* env = std::getenv("OMP_WAIT_POLICY");
    return !(env && (env[0] == 'p' || env[0] == 'P'));
}

struct alignas(64) Slot {  // one worker's mailbox; `posted` changes last (release) when a task is posted
    std::atomic<uint64_t> posted{0};
    detail::TeamTask task = nullptr;
    void* context = nullptr;
    int thread = 0, threads = 1;
};

struct Pool {
    std::mutex team;                 // one region at a time; a caller that finds it taken runs alone
    std::atomic<int> workers{0};     // started so far
    Slot* slots[kMaxThreads] = {};   // slots[k] belongs to worker k (thread k of a team), k >= 1
    alignas(64) std::atomic<int> pending{0};  // workers of the current region still running
    std::atomic<bool> caller_sleeps{false};   // the region's caller stopped polling `pending`
    std::mutex done_mutex;
    std::condition_variable done;
    alignas(64) std::atomic<int> sleepers{0};
    std::mutex sleep_mutex;
    std::condition_variable wake;
    uint64_t region = 0;             // regions posted so far (written under `team`)
    bool spin = spin_allowed();
};

std::atomic<int> requested_threads{0};  // 0: default_threads()
thread_local bool inside_region = false;

Pool& pool() {
    static Pool* p = new Pool;  // never deleted: see the top of the file
    return *p;
}

void worker_loop(Pool* p, Slot* mine, uint64_t seen) {
    Slot& slot = *mine;
    inside_region = true;  // a worker only ever runs region tasks
    for (;;) {
        uint64_t now = seen;
        auto posted = [&] { return (now = slot.posted.load(std::memory_order_acquire)) != seen; };
        if (!posted() && !(p->spin && poll(posted))) {
            // sleepers++ and the poster's posted-then-sleepers read are both seq_cst: either it sees a
            // sleeper and notifies under the mutex, or this thread sees the new task before waiting
            std::unique_lock<std::mutex> lock(p->sleep_mutex);
            p->sleepers.fetch_add(1);
            p->wake.wait(lock, [&] { return (now = slot.posted.load()) != seen; });
            p->sleepers.fetch_sub(1);
        }
        seen = now;
        slot.task(slot.context, slot.thread, slot.threads);
        // seq_cst, like caller_sleeps: either the caller sees pending reach 0 or this thread sees it asleep
        if (p->pending.fetch_sub(1) == 1 && p->caller_sleeps.load()) {
            std::lock_guard<std::mutex> lock(p->done_mutex);
            p->done.notify_one();
        }
    }
}

// The caller polls for the workers to finish, then sleeps: a worker that lost its CPU to another process
// (a busy machine, more threads than cores) gets it back sooner than if the caller kept spinning.
void wait_for_workers(Pool& p) {
    auto finished = [&] { return p.pending.load(std::memory_order_acquire) == 0; };
    if (finished() || (p.spin && poll(finished))) return;
    std::unique_lock<std::mutex> lock(p.done_mutex);
    p.caller_sleeps.store(true);
    p.done.wait(lock, [&] { return p.pending.load() == 0; });
    p.caller_sleeps.store(false);
}

void forget_workers_after_fork() {
    // the child runs only the thread that called fork(): rebuild the pool's state in place
    Pool& p = pool();
    new (&p.team) std::mutex;
    new (&p.sleep_mutex) std::mutex;
    new (&p.wake) std::condition_variable;
    new (&p.done_mutex) std::mutex;
    new (&p.done) std::condition_variable;
    p.workers.store(0);
    p.pending.store(0);
    p.sleepers.store(0);
    p.caller_sleeps.store(false);
}

bool start_workers(Pool& p, int count) {  // under p.team
    static const bool hooked = [] {
#if defined(__linux__)
        pthread_atfork(nullptr, nullptr, forget_workers_after_fork);
#endif
        return true;
    }();
    (void)hooked;
    for (int k = p.workers.load() + 1; k < count; ++k) {
        if (!p.slots[k]) p.slots[k] = new (std::nothrow) Slot;
        if (!p.slots[k]) return false;
        try {  // `seen` is read here, before any region is posted to the new worker
            std::thread(worker_loop, &p, p.slots[k], p.slots[k]->posted.load()).detach();
        } catch (...) {  // no more threads (a container's limit): use those already running
            return false;
        }
        p.workers.store(k);
    }
    return true;
}

}  // namespace

void set_num_threads(int threads) {
    requested_threads.store(threads > 0 ? std::min(threads, kMaxThreads) : 0);
}

int num_threads() {
    static const int fallback = default_threads();
    const int n = requested_threads.load(std::memory_order_relaxed);
    return n > 0 ? n : fallback;
}

namespace detail {

bool in_parallel() { return inside_region; }

void run_team(int threads, TeamTask task, void* context) {
    Pool& p = pool();
    int nt = std::min(threads, num_threads());
    std::unique_lock<std::mutex> team(p.team, std::try_to_lock);
    if (nt <= 1 || inside_region || !team.owns_lock()) return task(context, 0, 1);
    if (p.workers.load() + 1 < nt) start_workers(p, nt);
    nt = std::min(nt, p.workers.load() + 1);
    if (nt <= 1) return task(context, 0, 1);
    const uint64_t region = ++p.region;
    p.pending.store(nt - 1, std::memory_order_relaxed);
    for (int k = 1; k < nt; ++k) {
        Slot& slot = *p.slots[k];
        slot.task = task;
        slot.context = context;
        slot.thread = k;
        slot.threads = nt;
        slot.posted.store(region);  // seq_cst: ordered before the sleepers read below
    }
    if (p.sleepers.load() > 0) {
        std::lock_guard<std::mutex> lock(p.sleep_mutex);  // a sleeper is either waiting or will see `posted`
        p.wake.notify_all();
    }
    inside_region = true;
    task(context, 0, nt);
    inside_region = false;
    wait_for_workers(p);
}

}  // namespace detail
}  // namespace exporter_rt
