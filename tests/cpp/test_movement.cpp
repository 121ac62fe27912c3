// movement.cpp: transpose (every permutation of ranks 1-5, 1/2/4/8-byte elements, the blocked 2-D path),
// strided_copy (negative strides, offsets), pad in all four modes (NumPy's constant/edge/reflect/wrap,
// pads past the input size, negative pads = crop), tile; and the dimension helpers of exporter_runtime.h.
#include <algorithm>
#include <cstring>
#include <numeric>

#include "check.h"
#include "exporter_runtime.h"

namespace rt = exporter_rt;

static std::vector<int64_t> strides_of(const std::vector<int64_t>& shape) {
    std::vector<int64_t> s(shape.size());
    int64_t acc = 1;
    for (size_t d = shape.size(); d-- > 0;) { s[d] = acc; acc *= shape[d]; }
    return s;
}

// Calls f(index) for every multi-index of `shape` in C order.
template <typename F> static void for_each_index(const std::vector<int64_t>& shape, F f) {
    int64_t total = 1;
    for (int64_t d : shape) total *= d;
    std::vector<int64_t> index(shape.size(), 0);
    for (int64_t e = 0; e < total; ++e) {
        f(index);
        for (size_t d = shape.size(); d-- > 0;) {
            if (++index[d] < shape[d]) break;
            index[d] = 0;
        }
    }
}

template <typename T>
static void test_transpose(std::mt19937& rng) {
    const std::vector<std::vector<int64_t>> shapes = {{7}, {3, 5}, {33, 70}, {2, 3, 4}, {2, 40, 3}, {2, 1, 3, 5}, {3, 2, 34, 33},
                                                      {1, 3, 4, 2, 5}};  // rank 5: a channel shuffle among its permutations
    for (const auto& shape : shapes) {
        const int rank = int(shape.size());
        const auto strides = strides_of(shape);
        const int64_t total = strides[0] * shape[0];
        auto x = random_ints<T>(total, rng, -100, 100);
        std::vector<int64_t> perm(rank);
        std::iota(perm.begin(), perm.end(), 0);
        do {
            std::vector<int64_t> out_shape(rank);
            for (int d = 0; d < rank; ++d) out_shape[d] = shape[perm[d]];
            std::vector<T> want, got(total);
            for_each_index(out_shape, [&](const std::vector<int64_t>& index) {
                int64_t at = 0;
                for (int d = 0; d < rank; ++d) at += index[d] * strides[perm[d]];
                want.push_back(x[at]);
            });
            rt::transpose(x.data(), got.data(), sizeof(T), rank, shape.data(), perm.data());
            CHECK(got == want, "transpose rank=%d elem=%d", rank, int(sizeof(T)));
        } while (std::next_permutation(perm.begin(), perm.end()));
    }
}

static void test_strided_copy() {
    std::vector<int32_t> x(60);
    std::iota(x.begin(), x.end(), 0);
    // x viewed as [3, 4, 5]: x[::-1, 1:4, ::2] -> [3, 3, 3]
    const int64_t shape[] = {3, 3, 3}, strides[] = {-20, 5, 2}, offset = 40 + 5;
    std::vector<int32_t> got(27), want;
    for (int64_t a = 0; a < 3; ++a)
        for (int64_t b = 0; b < 3; ++b)
            for (int64_t c = 0; c < 3; ++c) want.push_back(x[(2 - a) * 20 + (1 + b) * 5 + 2 * c]);
    rt::strided_copy(x.data(), got.data(), 4, 3, shape, strides, offset);
    CHECK(got == want, "strided_copy with a negative stride");
    // a contiguous last axis (memcpy rows) and a rank-0 copy
    const int64_t rows_shape[] = {2, 5}, rows_strides[] = {20, 1};
    std::vector<int32_t> rows(10);
    rt::strided_copy(x.data(), rows.data(), 4, 2, rows_shape, rows_strides, 3);
    CHECK(rows[0] == 3 && rows[4] == 7 && rows[5] == 23 && rows[9] == 27, "strided_copy rows");
    int32_t scalar = 0;
    rt::strided_copy(x.data(), &scalar, 4, 0, nullptr, nullptr, 17);
    CHECK(scalar == 17, "strided_copy rank 0");
}

static int64_t numpy_pad_source(int64_t i, int64_t n, rt::PadMode mode) {  // -1: the constant
    if (i >= 0 && i < n) return i;
    switch (mode) {
        case rt::PadMode::Edge: return std::min(std::max<int64_t>(i, 0), n - 1);
        case rt::PadMode::Wrap: return ((i % n) + n) % n;
        case rt::PadMode::Reflect:  // mirror without repeating the edge, as often as it takes
            while (i < 0 || i >= n) {
                if (n == 1) return 0;
                i = i < 0 ? -i : 2 * (n - 1) - i;
            }
            return i;
        default: return -1;
    }
}

static void test_pad(std::mt19937& rng) {
    const std::vector<int64_t> shape = {3, 4};
    const auto strides = strides_of(shape);
    auto x = random_ints<double>(12, rng, -100, 100);
    const double value = 0.5;
    const rt::PadMode modes[] = {rt::PadMode::Constant, rt::PadMode::Edge, rt::PadMode::Reflect, rt::PadMode::Wrap};
    const std::vector<std::vector<int64_t>> all_pads = {{1, 2, 1, 2}, {0, 0, 0, 0}, {5, 0, 0, 7}, {-1, 1, 2, -2}};
    for (rt::PadMode mode : modes)
        for (const auto& pads : all_pads) {
            const std::vector<int64_t> out_shape = {shape[0] + pads[0] + pads[2], shape[1] + pads[1] + pads[3]};
            std::vector<double> want, got(out_shape[0] * out_shape[1]);
            for_each_index(out_shape, [&](const std::vector<int64_t>& index) {
                int64_t at = 0;
                bool inside = true;
                for (int d = 0; d < 2; ++d) {
                    const int64_t src = numpy_pad_source(index[d] - pads[d], shape[d], mode);
                    inside = inside && src >= 0;
                    at += src * strides[d];
                }
                want.push_back(inside ? x[at] : value);
            });
            rt::pad(x.data(), got.data(), 8, 2, shape.data(), pads.data(), mode, &value);
            CHECK(got == want, "pad mode=%d pads=%lld,%lld,%lld,%lld", int(mode), (long long)pads[0], (long long)pads[1],
                  (long long)pads[2], (long long)pads[3]);
        }
    // NumPy's own example: reflect [1,2,3] by (2, 2) -> [3,2,1,2,3,2,1]
    const int32_t in[] = {1, 2, 3};
    int32_t out[7], zero = 0;
    const int64_t in_shape[] = {3}, pads[] = {2, 2};
    rt::pad(in, out, 4, 1, in_shape, pads, rt::PadMode::Reflect, &zero);
    const int32_t want[] = {3, 2, 1, 2, 3, 2, 1};
    CHECK(std::equal(out, out + 7, want), "reflect pad");
    // an empty axis padded in every mode gives the pad value (wrap and reflect computed i % 0 before)
    for (rt::PadMode mode : {rt::PadMode::Constant, rt::PadMode::Edge, rt::PadMode::Reflect, rt::PadMode::Wrap}) {
        const int64_t empty_shape[] = {0}, empty_pads[] = {1, 2};
        int32_t padded[3] = {1, 1, 1}, seven = 7;
        rt::pad(in, padded, 4, 1, empty_shape, empty_pads, mode, &seven);
        CHECK(padded[0] == 7 && padded[1] == 7 && padded[2] == 7, "pad of an empty axis, mode %d", int(mode));
    }
}

static void test_tile(std::mt19937& rng) {
    const std::vector<int64_t> shape = {2, 1, 3}, repeats = {2, 3, 1};
    const auto strides = strides_of(shape);
    auto x = random_ints<uint8_t>(6, rng, 0, 200);
    const std::vector<int64_t> out_shape = {4, 3, 3};
    std::vector<uint8_t> want, got(36);
    for_each_index(out_shape, [&](const std::vector<int64_t>& index) {
        int64_t at = 0;
        for (int d = 0; d < 3; ++d) at += (index[d] % shape[d]) * strides[d];
        want.push_back(x[at]);
    });
    rt::tile(x.data(), got.data(), 1, 3, shape.data(), repeats.data());
    CHECK(got == want, "tile");
}

static void test_dim_helpers() {
    // slice_len / slice_start agree with Python's slicing (len(range(dim)[start:end:step]))
    for (int64_t dim : {0, 1, 5, 10})
        for (int64_t start = -12; start <= 12; start += 3)
            for (int64_t end = -12; end <= 12; end += 4)
                for (int64_t step : {-3, -1, 1, 2}) {
                    // Python: normalise start/end, clamp, count
                    auto norm = [&](int64_t v, bool is_start) {
                        if (v < 0) v += dim;
                        if (step > 0) return std::min(std::max<int64_t>(v, 0), dim);
                        (void)is_start;
                        return std::min(std::max<int64_t>(v, -1), dim - 1);
                    };
                    const int64_t b = norm(start, true), e = norm(end, false);
                    int64_t count = 0;
                    for (int64_t i = b; step > 0 ? i < e : i > e; i += step) ++count;
                    CHECK(rt::slice_len(dim, start, end, step) == count, "slice_len(%lld, %lld, %lld, %lld)", (long long)dim,
                          (long long)start, (long long)end, (long long)step);
                }
    CHECK(rt::slice_len(10, -3, 1000000, 1) == 3, "slice_len positive step");
    CHECK(rt::slice_len(10, -1, -1000000, -2) == 5, "slice_len negative step");
    CHECK(rt::conv_out(7, 3, 2, 1, 0, 0, 1) == 3, "conv_out ceil mode");
    CHECK(rt::conv_out(7, 3, 2, 1, 1, 1, 0) == 4 && rt::conv_out(8, 3, 2, 2, 1, 1, 1) == 4, "conv_out");
    CHECK(rt::conv_out(4, 2, 2, 1, 0, 1, 1) == 2, "conv_out: a ceil-mode window starting in the end padding is dropped");
    CHECK(rt::range_count(0, 10, 3) == 4 && rt::range_count(10, 0, -3) == 4 && rt::range_count(5, 5, 1) == 0 &&
              rt::range_count(0, 10, -1) == 0,
          "range_count");
    CHECK(rt::dim_div(7, 2) == 3 && rt::dim_div(7, 0) == 0, "dim_div");
}

int main() {
    std::mt19937 rng(1234);
    test_transpose<uint8_t>(rng);
    test_transpose<int16_t>(rng);
    test_transpose<float>(rng);
    test_transpose<int64_t>(rng);
    test_strided_copy();
    test_pad(rng);
    test_tile(rng);
    test_dim_helpers();
    return finish("movement");
}
