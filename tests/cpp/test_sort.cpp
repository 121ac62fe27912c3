// sort.cpp: TopK against a stable sort of each line: largest and smallest, k from 1 to n, ties kept in
// index order, NaN larger than every number (NumPy's sort order), strided lines (inner > 1), and either
// output left out.
#include <algorithm>
#include <limits>
#include <numeric>

#include "check.h"
#include "exporter_runtime.h"

namespace rt = exporter_rt;

template <typename T> static bool numpy_less(T a, T b) {  // NaN after everything
    if constexpr (std::is_floating_point_v<T>) {
        if (std::isnan(a)) return false;
        if (std::isnan(b)) return true;
    }
    return a < b;
}

template <typename T>
static void test_topk(std::mt19937& rng) {
    const int64_t extents[][3] = {{1, 1, 1}, {3, 8, 1}, {2, 9, 3}, {1, 100, 2}};
    for (const auto& e : extents)
        for (bool largest : {true, false})
            for (bool with_nan : {false, true}) {
                if (with_nan && !std::is_floating_point_v<T>) continue;
                const int64_t outer = e[0], n = e[1], inner = e[2];
                auto x = random_ints<T>(outer * n * inner, rng, -3, 3);  // many ties
                if constexpr (std::is_floating_point_v<T>)
                    if (with_nan)
                        for (size_t i = 0; i < x.size(); i += 3) x[i] = std::numeric_limits<T>::quiet_NaN();
                for (int64_t k : {int64_t(1), (n + 1) / 2, n}) {
                    std::vector<T> values(outer * k * inner), want_values(values.size());
                    std::vector<int64_t> indices(values.size()), want_indices(values.size()), scratch(n);
                    for (int64_t o = 0; o < outer; ++o)
                        for (int64_t i = 0; i < inner; ++i) {
                            const T* line = x.data() + o * n * inner + i;
                            std::vector<int64_t> order(n);
                            std::iota(order.begin(), order.end(), 0);
                            std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
                                return largest ? numpy_less(line[b * inner], line[a * inner]) : numpy_less(line[a * inner], line[b * inner]);
                            });
                            for (int64_t j = 0; j < k; ++j) {
                                want_values[(o * k + j) * inner + i] = line[order[j] * inner];
                                want_indices[(o * k + j) * inner + i] = order[j];
                            }
                        }
                    rt::topk<T>(x.data(), values.data(), indices.data(), outer, n, inner, k, largest, scratch.data());
                    CHECK(indices == want_indices && all_close(values, want_values, 0, 0),
                          "topk outer=%lld n=%lld inner=%lld k=%lld largest=%d nan=%d", (long long)outer, (long long)n,
                          (long long)inner, (long long)k, int(largest), int(with_nan));
                    std::vector<T> only_values(values.size());
                    std::vector<int64_t> only_indices(indices.size());
                    rt::topk<T>(x.data(), only_values.data(), nullptr, outer, n, inner, k, largest, scratch.data());
                    rt::topk<T>(x.data(), nullptr, only_indices.data(), outer, n, inner, k, largest, scratch.data());
                    CHECK(only_indices == want_indices && all_close(only_values, want_values, 0, 0), "topk with one output");
                }
            }
}

int main() {
    std::mt19937 rng(1234);
    test_topk<float>(rng);
    test_topk<double>(rng);
    test_topk<int32_t>(rng);
    test_topk<int64_t>(rng);
    test_topk<uint64_t>(rng);  // (-3..3 wrap to the top of the range: unsigned order)
    test_topk<uint8_t>(rng);
    test_topk<int16_t>(rng);
    return finish("sort");
}
