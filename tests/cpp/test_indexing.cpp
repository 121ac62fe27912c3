// The index-driven kernels (gather, gather_elements, gather_nd in exporter_runtime.h; scatter_elements,
// scatter_nd in indexing.h): against naive loops, with int32 and int64 indices, negative indices (counted
// from the end) and the documented bounds checks: an index outside [-n, n) returns false, and nothing is
// written outside the output (guard elements after it stay untouched).
#include <algorithm>

#include "check.h"
#include "exporter_runtime.h"

namespace rt = exporter_rt;

constexpr int kGuard = 8;
constexpr int32_t kGuardValue = -999;

// Every element of v from `size` on still holds the guard value.
template <typename T> static bool guard_intact(const std::vector<T>& v, size_t size) {
    for (size_t e = size; e < v.size(); ++e)
        if (v[e] != T(kGuardValue)) return false;
    return true;
}

template <typename I>
static void test_gather(std::mt19937& rng) {
    const int64_t outer = 3, n = 5, inner = 4;
    auto in = random_ints<int32_t>(outer * n * inner, rng, -100, 100);
    const std::vector<I> indices = {0, 4, -1, -5, 2, 2};
    const int64_t count = int64_t(indices.size());
    std::vector<int32_t> out(outer * count * inner + kGuard, kGuardValue), want(outer * count * inner);
    for (int64_t o = 0; o < outer; ++o)
        for (int64_t c = 0; c < count; ++c) {
            const int64_t k = indices[c] < 0 ? indices[c] + n : indices[c];
            for (int64_t i = 0; i < inner; ++i) want[(o * count + c) * inner + i] = in[(o * n + k) * inner + i];
        }
    CHECK(rt::gather<I>(in.data(), out.data(), 4, outer, n, inner, indices.data(), count), "gather accepts [-n, n)");
    CHECK(std::equal(want.begin(), want.end(), out.begin()) && guard_intact(out, want.size()), "gather values");
    for (I bad : {I(5), I(-6)}) {
        std::vector<int32_t> untouched(out.size(), kGuardValue);
        const I idx[] = {0, bad};
        CHECK(!rt::gather<I>(in.data(), untouched.data(), 4, outer, n, inner, idx, 2), "gather refuses index %lld",
              (long long)bad);
        CHECK(guard_intact(untouched, 0), "gather writes nothing when an index is out of range");
    }
}

template <typename I>
static void test_gather_elements(std::mt19937& rng) {
    const int64_t data_shape[] = {3, 4, 5}, index_shape[] = {3, 2, 5};
    auto data = random_ints<int64_t>(60, rng, -100, 100);
    for (int axis = 0; axis < 3; ++axis) {
        int64_t ishape[3] = {index_shape[0], index_shape[1], index_shape[2]};
        ishape[axis] = 2;  // fewer entries than the data along the gathered axis
        const int64_t total = ishape[0] * ishape[1] * ishape[2];
        std::vector<I> indices(total);
        std::uniform_int_distribution<int64_t> pick(-data_shape[axis], data_shape[axis] - 1);
        for (auto& v : indices) v = I(pick(rng));
        std::vector<int64_t> out(total + kGuard, kGuardValue), want(total);
        for (int64_t a = 0; a < ishape[0]; ++a)
            for (int64_t b = 0; b < ishape[1]; ++b)
                for (int64_t c = 0; c < ishape[2]; ++c) {
                    const int64_t e = (a * ishape[1] + b) * ishape[2] + c;
                    int64_t at[3] = {a, b, c};
                    at[axis] = indices[e] < 0 ? indices[e] + data_shape[axis] : indices[e];
                    want[e] = data[(at[0] * 4 + at[1]) * 5 + at[2]];
                }
        CHECK(rt::gather_elements<I>(data.data(), indices.data(), out.data(), 8, 3, data_shape, ishape, axis),
              "gather_elements axis=%d", axis);
        CHECK(std::equal(want.begin(), want.end(), out.begin()) && guard_intact(out, total), "gather_elements values axis=%d",
              axis);
        indices[total - 1] = I(data_shape[axis]);
        CHECK(!rt::gather_elements<I>(data.data(), indices.data(), out.data(), 8, 3, data_shape, ishape, axis),
              "gather_elements refuses index n (axis=%d)", axis);
        CHECK(guard_intact(out, total), "gather_elements writes nothing past the output");
        indices[total - 1] = I(-data_shape[axis] - 1);
        CHECK(!rt::gather_elements<I>(data.data(), indices.data(), out.data(), 8, 3, data_shape, ishape, axis),
              "gather_elements refuses index -n-1 (axis=%d)", axis);
    }
}

template <typename I>
static void test_gather_nd(std::mt19937& rng) {
    const int64_t shape[] = {3, 4, 2};
    auto data = random_ints<float>(24, rng, -100, 100);
    for (int k = 1; k <= 3; ++k) {
        const int64_t count = 5, block = k == 1 ? 8 : k == 2 ? 2 : 1;
        std::vector<I> indices(count * k);
        for (int64_t c = 0; c < count; ++c)
            for (int d = 0; d < k; ++d) indices[c * k + d] = I(std::uniform_int_distribution<int64_t>(-shape[d], shape[d] - 1)(rng));
        std::vector<float> out(count * block + kGuard, float(kGuardValue)), want(count * block);
        for (int64_t c = 0; c < count; ++c) {
            int64_t at = 0, stride = 24;
            for (int d = 0; d < k; ++d) {
                stride /= shape[d];
                at += (indices[c * k + d] < 0 ? indices[c * k + d] + shape[d] : indices[c * k + d]) * stride;
            }
            for (int64_t j = 0; j < block; ++j) want[c * block + j] = data[at + j];
        }
        CHECK(rt::gather_nd<I>(data.data(), indices.data(), out.data(), 4, 3, shape, count, k), "gather_nd k=%d", k);
        CHECK(std::equal(want.begin(), want.end(), out.begin()) && guard_intact(out, count * block), "gather_nd values k=%d", k);
        indices[(count - 1) * k + k - 1] = I(shape[k - 1]);
        CHECK(!rt::gather_nd<I>(data.data(), indices.data(), out.data(), 4, 3, shape, count, k), "gather_nd refuses index n (k=%d)", k);
        CHECK(guard_intact(out, count * block), "gather_nd writes nothing past the output");
    }
}

template <typename T> static T apply(rt::ScatterReduce r, T dst, T v) {
    switch (r) {
        case rt::ScatterReduce::Add: return T(dst + v);
        case rt::ScatterReduce::Mul: return T(dst * v);
        case rt::ScatterReduce::Max: return std::max(dst, v);
        case rt::ScatterReduce::Min: return std::min(dst, v);
        default: return v;
    }
}

template <typename T, typename I>
static void test_scatter_elements(std::mt19937& rng) {
    const int64_t data_shape[] = {4, 3, 5};
    const rt::ScatterReduce reductions[] = {rt::ScatterReduce::None, rt::ScatterReduce::Add, rt::ScatterReduce::Mul,
                                            rt::ScatterReduce::Max, rt::ScatterReduce::Min};
    for (int axis = 0; axis < 3; ++axis)
        for (rt::ScatterReduce r : reductions) {
            int64_t ishape[3] = {2, 3, 4};
            const int64_t total = ishape[0] * ishape[1] * ishape[2];
            auto data = random_ints<T>(60, rng, -3, 3);
            auto updates = random_ints<T>(total, rng, -3, 3);
            std::vector<I> indices(total);
            // None: distinct targets along the axis (duplicates have no defined order); the reductions: any
            for (int64_t e = 0; e < total; ++e) {
                const int64_t pos[3] = {e / 12, e / 4 % 3, e % 4};
                const int64_t v = r == rt::ScatterReduce::None ? (pos[axis] + 1) % data_shape[axis]
                                                               : std::uniform_int_distribution<int64_t>(0, data_shape[axis] - 1)(rng);
                indices[e] = I(e % 2 ? v - data_shape[axis] : v);  // half of them negative
            }
            std::vector<T> want = data;
            for (int64_t e = 0; e < total; ++e) {
                int64_t at[3] = {e / 12, e / 4 % 3, e % 4};
                at[axis] = indices[e] < 0 ? indices[e] + data_shape[axis] : indices[e];
                T& dst = want[(at[0] * 3 + at[1]) * 5 + at[2]];
                dst = apply(r, dst, updates[e]);
            }
            std::vector<T> out(60 + kGuard, T(kGuardValue));
            CHECK((rt::scatter_elements<T, I>(data.data(), indices.data(), updates.data(), out.data(), 3, data_shape, ishape,
                                              axis, r)),
                  "scatter_elements axis=%d reduce=%d", axis, int(r));
            CHECK(std::equal(want.begin(), want.end(), out.begin()) && guard_intact(out, 60),
                  "scatter_elements values axis=%d reduce=%d", axis, int(r));
            std::vector<T> in_place = data;  // out == data: updated in place
            rt::scatter_elements<T, I>(in_place.data(), indices.data(), updates.data(), in_place.data(), 3, data_shape,
                                       ishape, axis, r);
            CHECK(in_place == want, "scatter_elements in place axis=%d reduce=%d", axis, int(r));
            indices[5] = I(data_shape[axis]);
            CHECK(!(rt::scatter_elements<T, I>(data.data(), indices.data(), updates.data(), out.data(), 3, data_shape,
                                               ishape, axis, r)),
                  "scatter_elements refuses index n");
            CHECK(guard_intact(out, 60), "scatter_elements writes nothing past the output");
        }
}

template <typename T, typename I>
static void test_scatter_nd(std::mt19937& rng) {
    const int64_t shape[] = {3, 4, 2};
    const rt::ScatterReduce reductions[] = {rt::ScatterReduce::None, rt::ScatterReduce::Add, rt::ScatterReduce::Mul,
                                            rt::ScatterReduce::Max, rt::ScatterReduce::Min};
    for (int k = 1; k <= 3; ++k)
        for (rt::ScatterReduce r : reductions) {
            const int64_t block = k == 1 ? 8 : k == 2 ? 2 : 1, count = r == rt::ScatterReduce::None ? 3 : 6;
            auto data = random_ints<T>(24, rng, -3, 3);
            auto updates = random_ints<T>(count * block, rng, -3, 3);
            std::vector<I> indices(count * k);
            for (int64_t c = 0; c < count; ++c)
                for (int d = 0; d < k; ++d) {
                    // None: distinct rows (the first index is c itself, c < 3); the reductions: any
                    int64_t v = d == 0 && r == rt::ScatterReduce::None
                                    ? c : std::uniform_int_distribution<int64_t>(0, shape[d] - 1)(rng);
                    indices[c * k + d] = I((c + d) % 2 ? v - shape[d] : v);
                }
            std::vector<T> want = data;
            for (int64_t c = 0; c < count; ++c) {
                int64_t at = 0, stride = 24;
                for (int d = 0; d < k; ++d) {
                    stride /= shape[d];
                    at += (indices[c * k + d] < 0 ? indices[c * k + d] + shape[d] : indices[c * k + d]) * stride;
                }
                for (int64_t j = 0; j < block; ++j) want[at + j] = apply(r, want[at + j], updates[c * block + j]);
            }
            std::vector<T> out(24 + kGuard, T(kGuardValue));
            CHECK((rt::scatter_nd<T, I>(data.data(), indices.data(), updates.data(), out.data(), 3, shape, count, k, r)),
                  "scatter_nd k=%d reduce=%d", k, int(r));
            CHECK(std::equal(want.begin(), want.end(), out.begin()) && guard_intact(out, 24), "scatter_nd values k=%d reduce=%d",
                  k, int(r));
            indices[0] = I(-shape[0] - 1);
            CHECK(!(rt::scatter_nd<T, I>(data.data(), indices.data(), updates.data(), out.data(), 3, shape, count, k, r)),
                  "scatter_nd refuses index -n-1");
            CHECK(guard_intact(out, 24), "scatter_nd writes nothing past the output");
        }
}

int main() {
    std::mt19937 rng(1234);
    test_gather<int32_t>(rng);
    test_gather<int64_t>(rng);
    test_gather_elements<int32_t>(rng);
    test_gather_elements<int64_t>(rng);
    test_gather_nd<int32_t>(rng);
    test_gather_nd<int64_t>(rng);
    test_scatter_elements<float, int64_t>(rng);
    test_scatter_elements<int32_t, int32_t>(rng);
    test_scatter_elements<uint8_t, int64_t>(rng);
    test_scatter_nd<double, int64_t>(rng);
    test_scatter_nd<int64_t, int32_t>(rng);
    return finish("indexing");
}
