// threads.cpp: the team every parallel kernel runs on. Each index of a parallel_for runs exactly once for
// any size and thread count (more threads than CPUs too), shares are contiguous and in thread order, a
// region inside a region and a region while another thread's runs go serial, many short regions in a row
// stay correct, and a forked child (whose workers do not exist) still runs parallel regions.
#include <atomic>
#include <thread>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "exporter_runtime.h"

namespace rt = exporter_rt;

static void test_each_index_once() {
    for (int threads : {1, 2, 3, 8}) {
        rt::set_num_threads(threads);
        CHECK(rt::num_threads() == threads, "num_threads %d after set_num_threads(%d)", rt::num_threads(), threads);
        for (int64_t n : {0, 1, 2, 3, 7, 64, 1000, 100003}) {
            std::vector<std::atomic<int>> hits(size_t(n) + 1);
            std::atomic<int> calls{0};
            rt::parallel_for(n, true, [&](int64_t begin, int64_t end) {
                CHECK(0 <= begin && begin < end && end <= n, "share [%lld, %lld) of %lld", (long long)begin,
                      (long long)end, (long long)n);
                ++calls;
                for (int64_t i = begin; i < end; ++i) ++hits[size_t(i)];
            });
            int wrong = 0;
            for (int64_t i = 0; i < n; ++i) wrong += hits[size_t(i)] != 1;
            CHECK(wrong == 0, "%d of %lld indices not run exactly once at %d threads", wrong, (long long)n, threads);
            CHECK(calls <= std::max<int64_t>(1, std::min<int64_t>(n, threads)), "%d shares of %lld at %d threads",
                  calls.load(), (long long)n, threads);
        }
    }
}

static void test_team_positions() {
    rt::set_num_threads(3);
    std::vector<std::atomic<int>> seen(3);
    std::atomic<int> team{0};
    rt::parallel(true, [&](int t, int nt) {
        team = nt;
        if (t >= 0 && t < 3) ++seen[size_t(t)];
        CHECK(rt::detail::in_parallel(), "in_parallel() false inside a region (thread %d)", t);
    });
    CHECK(team == 3 && seen[0] == 1 && seen[1] == 1 && seen[2] == 1, "team of %d: %d %d %d", team.load(),
          seen[0].load(), seen[1].load(), seen[2].load());
    CHECK(!rt::detail::in_parallel(), "in_parallel() true after the region");
    int alone = 0;
    rt::parallel(false, [&](int t, int nt) { alone += t == 0 && nt == 1; });
    CHECK(alone == 1, "parallel(false) did not run once on the caller");
}

static void test_nested_region_is_serial() {
    rt::set_num_threads(2);
    std::atomic<int> inner_teams{0}, inner_calls{0};
    rt::parallel(true, [&](int, int) {
        rt::parallel(true, [&](int t, int nt) {
            ++inner_calls;
            if (t != 0 || nt != 1) ++inner_teams;
        });
    });
    CHECK(inner_teams == 0 && inner_calls == 2, "nested regions: %d teams, %d calls", inner_teams.load(),
          inner_calls.load());
}

static void test_many_short_regions() {
    rt::set_num_threads(2);
    int64_t total = 0;
    std::vector<int64_t> part(2);
    for (int round = 0; round < 20000; ++round) {
        part[0] = part[1] = 0;
        rt::parallel(true, [&](int t, int) { part[size_t(t)] = round + t; });  // written by its own thread
        total += part[0] + part[1];
    }
    const int64_t want = 2 * (int64_t(19999) * 20000 / 2) + 20000;
    CHECK(total == want, "20000 regions summed %lld, want %lld", (long long)total, (long long)want);
}

static void test_concurrent_callers() {
    rt::set_num_threads(2);
    std::atomic<int> wrong{0};
    auto caller = [&] {
        for (int round = 0; round < 2000; ++round) {
            std::vector<int> out(37, 0);
            rt::parallel_for(37, true, [&](int64_t b, int64_t e) {
                for (int64_t i = b; i < e; ++i) out[size_t(i)] += int(i);
            });
            for (int i = 0; i < 37; ++i) wrong += out[size_t(i)] != i;
        }
    };
    std::thread a(caller), b(caller);
    a.join();
    b.join();
    CHECK(wrong == 0, "%d wrong elements with two threads starting regions at once", wrong.load());
}

static void test_fork_child_runs_regions() {
    rt::set_num_threads(2);
    rt::parallel(true, [](int, int) {});  // the parent's workers exist before the fork
    const pid_t child = fork();
    if (child == 0) {
        alarm(20);  // a hang (waiting on workers that do not exist in the child) fails instead of blocking
        std::vector<int> out(1000, 0);
        rt::parallel_for(1000, true, [&](int64_t b, int64_t e) {
            for (int64_t i = b; i < e; ++i) out[size_t(i)] = 1;
        });
        int sum = 0;
        for (int v : out) sum += v;
        _exit(sum == 1000 ? 0 : 1);
    }
    int status = 0;
    CHECK(child > 0 && waitpid(child, &status, 0) == child, "fork/waitpid failed");
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the forked child's region failed (status %d)", status);
}

int main() {
    test_each_index_once();
    test_team_positions();
    test_nested_region_is_serial();
    test_many_short_regions();
    test_concurrent_callers();
    test_fork_child_runs_regions();
    rt::set_num_threads(0);
    CHECK(rt::num_threads() >= 1, "default thread count %d", rt::num_threads());
    return finish("threads");
}
