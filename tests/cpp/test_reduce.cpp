// reduce.cpp: every Reduce kind over [outer, n, inner] (the contiguous inner == 1 path with its eight
// accumulators and the strided path), ArgMax/ArgMin (first/last index of ties, NaN wins like NumPy) and
// CumSum (exclusive, reverse). Integer-valued data: exact except where a square root or exp is involved.
#include <array>
#include <limits>

#include "check.h"
#include "exporter_runtime.h"

namespace rt = exporter_rt;

template <typename T>
static double reduce_reference(rt::Reduce kind, const T* p, int64_t n, int64_t inner) {
    double acc = kind == rt::Reduce::Prod ? 1 : 0;
    if (kind == rt::Reduce::Max) acc = -std::numeric_limits<double>::infinity();
    if (kind == rt::Reduce::Min) acc = std::numeric_limits<double>::infinity();
    double m = -std::numeric_limits<double>::infinity();
    for (int64_t k = 0; k < n; ++k) m = std::max(m, double(p[k * inner]));
    for (int64_t k = 0; k < n; ++k) {
        const double v = double(p[k * inner]);
        switch (kind) {
            case rt::Reduce::Max: acc = std::max(acc, v); break;
            case rt::Reduce::Min: acc = std::min(acc, v); break;
            case rt::Reduce::Prod: acc *= v; break;
            case rt::Reduce::SumSquare: case rt::Reduce::L2: acc += v * v; break;
            case rt::Reduce::L1: acc += std::fabs(v); break;
            case rt::Reduce::LogSumExp: acc += std::exp(v - m); break;
            default: acc += v;
        }
    }
    if (kind == rt::Reduce::Mean) {
        if constexpr (std::is_integral_v<T>) return double(T(acc) / T(n));  // integer division, as the kernel
        return acc / double(n);
    }
    if (kind == rt::Reduce::L2) return std::is_integral_v<T> ? double(T(std::sqrt(acc))) : std::sqrt(acc);
    if (kind == rt::Reduce::LogSumExp) return m + std::log(acc);
    return acc;
}

template <typename T>
static void test_reduce(std::mt19937& rng) {
    const rt::Reduce kinds[] = {rt::Reduce::Sum, rt::Reduce::Mean, rt::Reduce::Max, rt::Reduce::Min, rt::Reduce::Prod,
                                rt::Reduce::SumSquare, rt::Reduce::L1, rt::Reduce::L2, rt::Reduce::LogSumExp};
    const int64_t extents[][3] = {{1, 1, 1}, {3, 5, 1}, {2, 8, 1}, {4, 19, 1}, {3, 5, 4}, {1, 7, 9}, {2, 1, 3}, {70, 2000, 1}};
    for (rt::Reduce kind : kinds) {
        if (std::is_integral_v<T> && kind == rt::Reduce::LogSumExp) continue;  // float-only in ONNX
        for (const auto& e : extents) {
            const int64_t outer = e[0], n = e[1], inner = e[2];
            if (kind == rt::Reduce::Prod && n > 19) continue;  // 2^19 at most: exact in every dtype
            auto x = kind == rt::Reduce::Prod ? random_ints<T>(outer * n * inner, rng, -2, 2)
                                              : random_ints<T>(outer * n * inner, rng, -9, 9);
            std::vector<T> y(outer * inner);
            std::vector<double> want(outer * inner);
            for (int64_t o = 0; o < outer; ++o)
                for (int64_t i = 0; i < inner; ++i)
                    want[o * inner + i] = reduce_reference(kind, x.data() + o * n * inner + i, n, inner);
            rt::reduce<T>(kind, x.data(), y.data(), outer, n, inner);
            const bool exact = kind != rt::Reduce::L2 && kind != rt::Reduce::LogSumExp &&
                               !(kind == rt::Reduce::Mean && std::is_floating_point_v<T>);
            CHECK(exact ? all_close(y, want, 0, 0) : all_close(y, want, tol<T>(), tol<T>()),
                  "reduce kind=%d outer=%lld n=%lld inner=%lld", int(kind), (long long)outer, (long long)n,
                  (long long)inner);
        }
    }
    if constexpr (std::is_floating_point_v<T>) {  // NaN propagates through Max/Min
        const T nan = std::numeric_limits<T>::quiet_NaN();
        const T x[] = {1, nan, 3, 4, 5, 6, 7, 8, 9, 10};
        T mx, mn;
        rt::reduce<T>(rt::Reduce::Max, x, &mx, 1, 10, 1);
        rt::reduce<T>(rt::Reduce::Min, x, &mn, 1, 10, 1);
        CHECK(std::isnan(mx) && std::isnan(mn), "reduce max/min propagate NaN");
    }
}

// reduce_axes (axes read at run time): every non-empty subset of a rank-4 input's axes, given in any order
// and with negative spellings, against the [outer, n, inner] reference over a transposed copy.
template <typename T>
static void test_reduce_axes(std::mt19937& rng) {
    const int64_t shapes[][4] = {{2, 3, 4, 5}, {3, 1, 2, 2}, {2, 0, 3, 2}};
    const rt::Reduce kinds[] = {rt::Reduce::Sum, rt::Reduce::Max, rt::Reduce::Prod, rt::Reduce::L1, rt::Reduce::Mean};
    for (const auto& shape : shapes)
        for (int mask = 1; mask < 16; ++mask)
            for (rt::Reduce kind : kinds) {
                const bool empty = shape[0] * shape[1] * shape[2] * shape[3] == 0;
                if (empty && (kind == rt::Reduce::Max || kind == rt::Reduce::Mean)) continue;  // +-inf, 0/0
                int64_t numel = 1, outer = 1, n = 1, axes[4], perm[4];
                int n_axes = 0, k = 0;
                for (int d = 0; d < 4; ++d) numel *= shape[d];
                for (int d = 3; d >= 0; --d)  // descending, every other one negative
                    if (mask >> d & 1) { axes[n_axes] = n_axes % 2 ? d - 4 : d; ++n_axes; }
                for (int d = 0; d < 4; ++d)
                    if (!(mask >> d & 1)) { perm[k++] = d; outer *= shape[d]; }
                for (int d = 0; d < 4; ++d)
                    if (mask >> d & 1) { perm[k++] = d; n *= shape[d]; }
                auto x = random_ints<T>(numel, rng, -2, 2);
                std::vector<T> moved(numel), scratch(numel), y(outer);
                rt::transpose(x.data(), moved.data(), sizeof(T), 4, shape, perm);
                std::vector<double> want(outer);
                for (int64_t o = 0; o < outer; ++o) want[o] = reduce_reference(kind, moved.data() + o * n, n, 1);
                rt::reduce_axes<T>(kind, x.data(), y.data(), scratch.data(), 4, shape, n_axes, axes);
                CHECK(all_close(y, want, tol<T>(), tol<T>()), "reduce_axes kind=%d mask=%d shape=%lldx%lldx%lldx%lld",
                      int(kind), mask, (long long)shape[0], (long long)shape[1], (long long)shape[2],
                      (long long)shape[3]);
            }
}

template <typename T>
static void test_arg_reduce(std::mt19937& rng) {
    for (bool is_max : {false, true})
        for (bool last : {false, true})
            for (const auto& e : {std::array<int64_t, 3>{1, 1, 1}, {3, 6, 1}, {2, 5, 4}, {1, 33, 2}}) {
                const int64_t outer = e[0], n = e[1], inner = e[2];
                auto x = random_ints<T>(outer * n * inner, rng, -2, 2);  // many ties
                std::vector<int64_t> y(outer * inner), want(outer * inner);
                for (int64_t o = 0; o < outer; ++o)
                    for (int64_t i = 0; i < inner; ++i) {
                        const T* p = x.data() + o * n * inner + i;
                        int64_t best = 0;
                        for (int64_t k = 1; k < n; ++k) {
                            const T v = p[k * inner], b = p[best * inner];
                            if (is_max ? (v > b || (last && v == b)) : (v < b || (last && v == b))) best = k;
                        }
                        want[o * inner + i] = best;
                    }
                rt::arg_reduce<T>(is_max, last, x.data(), y.data(), outer, n, inner);
                CHECK(y == want, "arg_reduce max=%d select_last=%d outer=%lld n=%lld inner=%lld", int(is_max), int(last),
                      (long long)outer, (long long)n, (long long)inner);
            }
    if constexpr (std::is_floating_point_v<T>) {  // NumPy: the first NaN is both the argmax and the argmin
        const T nan = std::numeric_limits<T>::quiet_NaN();
        const T x[] = {1, 9, nan, -3, nan};
        int64_t amax, amin;
        rt::arg_reduce<T>(true, false, x, &amax, 1, 5, 1);
        rt::arg_reduce<T>(false, true, x, &amin, 1, 5, 1);
        CHECK(amax == 2 && amin == 2, "arg_reduce: the first NaN wins (got %lld, %lld)", (long long)amax, (long long)amin);
    }
}

template <typename T>
static void test_cumulative(std::mt19937& rng) {
    const int64_t outer = 3, n = 7, inner = 2;
    auto x = random_ints<T>(outer * n * inner, rng);  // small integers: products stay exact
    for (bool product : {false, true})
        for (bool exclusive : {false, true})
            for (bool reverse : {false, true}) {
                std::vector<T> y(x.size()), want(x.size());
                for (int64_t o = 0; o < outer; ++o)
                    for (int64_t i = 0; i < inner; ++i)
                        for (int64_t k = 0; k < n; ++k) {
                            T acc = product ? T(1) : T(0);
                            for (int64_t j = 0; j < n; ++j) {
                                const bool before = reverse ? j > k : j < k;
                                if (before || (!exclusive && j == k))
                                    acc = product ? T(acc * x[(o * n + j) * inner + i]) : T(acc + x[(o * n + j) * inner + i]);
                            }
                            want[(o * n + k) * inner + i] = acc;
                        }
                rt::cumulative<T>(product, x.data(), y.data(), outer, n, inner, exclusive, reverse);
                CHECK(y == want, "cumulative product=%d exclusive=%d reverse=%d", int(product), int(exclusive),
                      int(reverse));
            }
}

// bool: ReduceMax is any (false over nothing), ReduceMin all (true over nothing); strided (inner > 1) too
static void test_reduce_bool() {
    const bool x[] = {false, true, false, false, false, false};  // [2, 3] rows: {f, t, f}, {f, f, f}
    bool mx[2], mn[2], cols[3], none[1];
    rt::reduce<bool>(rt::Reduce::Max, x, mx, 2, 3, 1);
    rt::reduce<bool>(rt::Reduce::Min, x, mn, 2, 3, 1);
    CHECK(mx[0] && !mx[1] && !mn[0] && !mn[1], "reduce<bool> Max/Min over rows");
    rt::reduce<bool>(rt::Reduce::Max, x, cols, 1, 2, 3);
    CHECK(!cols[0] && cols[1] && !cols[2], "reduce<bool> Max over columns");
    rt::reduce<bool>(rt::Reduce::Max, x, none, 1, 0, 1);
    CHECK(!none[0], "reduce<bool> Max over nothing");
    rt::reduce<bool>(rt::Reduce::Min, x, none, 1, 0, 1);
    CHECK(none[0], "reduce<bool> Min over nothing");
}

// bfloat16 Sum: in order, each addition rounded to bfloat16 (256 + 1 + 1 stays 256; 1 + 1 + 256 is 258)
static void test_reduce_bfloat16() {
    const rt::bfloat16 x[] = {256.0f, 1.0f, 1.0f, 1.0f, 1.0f, 256.0f};
    rt::bfloat16 rows[2], cols[3];
    rt::reduce<rt::bfloat16>(rt::Reduce::Sum, x, rows, 2, 3, 1);
    CHECK(float(rows[0]) == 256.0f && float(rows[1]) == 258.0f, "reduce<bfloat16> rounds each addition");
    rt::reduce<rt::bfloat16>(rt::Reduce::Sum, x, cols, 1, 2, 3);
    CHECK(float(cols[0]) == 256.0f && float(cols[1]) == 2.0f && float(cols[2]) == 256.0f, "reduce<bfloat16> strided");
}

int main() {
    std::mt19937 rng(1234);
    test_reduce_bool();
    test_reduce_bfloat16();
    test_reduce<float>(rng);
    test_reduce<double>(rng);
    test_reduce<int32_t>(rng);
    test_reduce<int64_t>(rng);
    test_reduce_axes<float>(rng);
    test_reduce_axes<int64_t>(rng);
    test_arg_reduce<float>(rng);
    test_arg_reduce<double>(rng);
    test_arg_reduce<int32_t>(rng);
    test_arg_reduce<int64_t>(rng);
    test_cumulative<float>(rng);
    test_cumulative<int32_t>(rng);
    test_cumulative<int64_t>(rng);
    return finish("reduce");
}
