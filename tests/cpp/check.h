// Shared by the runtime's C++ unit tests (one program per kernel family, tests/cpp/test_<family>.cpp):
// CHECK records a failure and carries on, so one run lists every broken case; random data helpers; and
// finish() for main's exit code. Each test program is one translation unit, so the statics are its own.
#ifndef EXPORTER_TESTS_CHECK_H
#define EXPORTER_TESTS_CHECK_H

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <random>
#include <vector>

static int failures = 0;

#define CHECK(cond, ...)                                              \
    do {                                                              \
        if (!(cond)) {                                                \
            std::fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
            std::fprintf(stderr, __VA_ARGS__);                        \
            std::fprintf(stderr, "\n");                               \
            ++failures;                                               \
        }                                                             \
    } while (0)

// Small integers (default -4..4): exact in every dtype and through sums of a few thousand products, so
// kernels that only add and multiply must match a naive loop exactly.
template <typename T>
static std::vector<T> random_ints(size_t n, std::mt19937& rng, int lo = -4, int hi = 4) {
    std::uniform_int_distribution<int> dist(lo, hi);
    std::vector<T> v(n);
    for (auto& x : v) x = T(dist(rng));
    return v;
}

// Uniform reals in [lo, hi), for kernels whose results are compared with a tolerance.
template <typename T>
static std::vector<T> random_reals(size_t n, std::mt19937& rng, double lo = -2.0, double hi = 2.0) {
    std::uniform_real_distribution<double> dist(lo, hi);
    std::vector<T> v(n);
    for (auto& x : v) x = T(dist(rng));
    return v;
}

// |got - want| <= atol + rtol * |want| elementwise (NaN only where want is NaN).
template <typename T, typename U>
static bool all_close(const std::vector<T>& got, const std::vector<U>& want, double rtol, double atol) {
    if (got.size() != want.size()) return false;
    for (size_t i = 0; i < got.size(); ++i) {
        const double g = double(got[i]), w = double(want[i]);
        if (std::isnan(w) || std::isnan(g)) {
            if (!(std::isnan(w) && std::isnan(g))) return false;
            continue;
        }
        if (std::fabs(g - w) > atol + rtol * std::fabs(w)) return false;
    }
    return true;
}

// Tolerances for results computed in T against a reference computed in double.
template <typename T> constexpr double tol() { return sizeof(T) == 4 ? 2e-5 : 1e-11; }

// main's exit code: 0 when every check passed.
static int finish(const char* family) {
    if (failures) {
        std::fprintf(stderr, "%s: %d check(s) failed\n", family, failures);
        return 1;
    }
    std::printf("%s: all checks passed\n", family);
    return 0;
}

#endif  // EXPORTER_TESTS_CHECK_H
