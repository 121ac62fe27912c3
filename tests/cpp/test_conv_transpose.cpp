// conv_transpose.cpp: ConvTranspose (GEMM + col2im) against the scatter form of its definition
// (every input pixel adds its weighted kernel window into the output); integer-valued data (exact).
#include "check.h"
#include "exporter_runtime.h"

namespace rt = exporter_rt;

template <typename T>
static void test_conv_transpose(std::mt19937& rng) {
    // n, c, h, w, m, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr, output padding (h, w), groups
    struct Case { int64_t n, c, h, w, m, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr, oph, opw, groups; };
    const Case cases[] = {{1, 2, 3, 3, 3, 3, 3, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 1},
                          {2, 4, 5, 4, 6, 3, 2, 2, 3, 1, 1, 1, 0, 1, 1, 1, 2, 2},   // strides, pads, output padding, groups
                          {1, 3, 4, 6, 2, 2, 3, 2, 1, 2, 3, 0, 2, 1, 0, 0, 0, 1},   // dilations, uneven pads
                          {1, 6, 1, 9, 6, 1, 4, 1, 2, 1, 1, 0, 1, 0, 1, 0, 1, 6},   // 1-D (height 1) depthwise
                          {1, 40, 7, 5, 17, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 0, 0, 1}}; // several GEMM tiles
    for (const Case& t : cases) {
        const int64_t oh = (t.h - 1) * t.sh - t.pt - t.pb + (t.kh - 1) * t.dh + 1 + t.oph;
        const int64_t ow = (t.w - 1) * t.sw - t.pl - t.pr + (t.kw - 1) * t.dw + 1 + t.opw;
        const rt::ConvTranspose2dShape s{t.n, t.c, t.h, t.w, t.m, t.kh, t.kw, oh, ow, t.sh, t.sw, t.dh, t.dw, t.pt, t.pl, t.groups};
        const int64_t cg = t.c / t.groups, mg = t.m / t.groups;
        auto x = random_ints<T>(t.n * t.c * t.h * t.w, rng);
        auto w = random_ints<T>(t.c * mg * t.kh * t.kw, rng);
        auto b = random_ints<T>(t.m, rng);
        for (bool with_bias : {false, true}) {
            std::vector<T> want(t.n * t.m * oh * ow);
            for (int64_t n = 0; n < t.n; ++n)
                for (int64_t m = 0; m < t.m; ++m)
                    for (int64_t e = 0; e < oh * ow; ++e) want[(n * t.m + m) * oh * ow + e] = with_bias ? b[m] : T(0);
            for (int64_t n = 0; n < t.n; ++n)
                for (int64_t ci = 0; ci < t.c; ++ci) {
                    const int64_t g = ci / cg;
                    for (int64_t i = 0; i < t.h; ++i)
                        for (int64_t j = 0; j < t.w; ++j)
                            for (int64_t mm = 0; mm < mg; ++mm)
                                for (int64_t ki = 0; ki < t.kh; ++ki)
                                    for (int64_t kj = 0; kj < t.kw; ++kj) {
                                        const int64_t y = i * t.sh - t.pt + ki * t.dh, z = j * t.sw - t.pl + kj * t.dw;
                                        if (y < 0 || y >= oh || z < 0 || z >= ow) continue;
                                        want[((n * t.m + g * mg + mm) * oh + y) * ow + z] +=
                                            x[((n * t.c + ci) * t.h + i) * t.w + j] * w[((ci * mg + mm) * t.kh + ki) * t.kw + kj];
                                    }
                }
            const int64_t scratch_size = rt::conv_transpose2d_scratch_size(s);
            std::vector<T> scratch(scratch_size + 16, T(123));  // guard elements past the documented size
            std::vector<T> y(want.size(), T(-77));
            rt::conv_transpose2d<T>(s, x.data(), w.data(), with_bias ? b.data() : nullptr, y.data(), scratch.data());
            CHECK(y == want, "conv_transpose2d c=%lld m=%lld k=%lldx%lld s=%lldx%lld groups=%lld bias=%d", (long long)t.c,
                  (long long)t.m, (long long)t.kh, (long long)t.kw, (long long)t.sh, (long long)t.sw, (long long)t.groups,
                  int(with_bias));
            bool guard = true;
            for (int64_t e = scratch_size; e < scratch_size + 16; ++e) guard = guard && scratch[e] == T(123);
            CHECK(guard, "conv_transpose2d wrote past conv_transpose2d_scratch_size");
        }
    }
}

// Col2Im in 2-D against the loops written out per axis (strides, dilations, uneven pads), and a 1-D case.
template <typename T>
static void test_col2im(std::mt19937& rng) {
    const int64_t n = 2, c = 3, image[2] = {5, 6}, block[2] = {2, 3}, strides[2] = {2, 1}, dilations[2] = {1, 2};
    const int64_t pads[4] = {1, 0, 0, 2};
    int64_t win[2];
    for (int d = 0; d < 2; ++d)
        win[d] = (image[d] + pads[d] + pads[2 + d] - (dilations[d] * (block[d] - 1) + 1)) / strides[d] + 1;
    const int64_t B = block[0] * block[1], L = win[0] * win[1];
    auto x = random_reals<T>(n * c * B * L, rng);
    std::vector<double> want(n * c * image[0] * image[1], 0.0);
    for (int64_t nc = 0; nc < n * c; ++nc)
        for (int64_t ki = 0; ki < block[0]; ++ki)
            for (int64_t kj = 0; kj < block[1]; ++kj)
                for (int64_t li = 0; li < win[0]; ++li)
                    for (int64_t lj = 0; lj < win[1]; ++lj) {
                        const int64_t r = li * strides[0] - pads[0] + ki * dilations[0];
                        const int64_t q = lj * strides[1] - pads[1] + kj * dilations[1];
                        if (r < 0 || r >= image[0] || q < 0 || q >= image[1]) continue;
                        want[(nc * image[0] + r) * image[1] + q] +=
                            double(x[((nc * B) + ki * block[1] + kj) * L + li * win[1] + lj]);
                    }
    std::vector<T> y(want.size(), T(9));
    rt::col2im<T>(x.data(), y.data(), n, c, 2, image, block, strides, dilations, pads);
    CHECK(all_close(y, want, 4 * tol<T>(), 4 * tol<T>()), "col2im 2-D");
    // 1-D: image 4, block 2, stride 2: the windows tile the image, so the result is x rearranged
    const T cols[4] = {T(1), T(3), T(2), T(4)};  // [1, 2 (block), 2 (windows)]
    const int64_t im1[1] = {4}, bl1[1] = {2}, one[1] = {1}, two[1] = {2}, nopad[2] = {0, 0};
    T out[4];
    rt::col2im<T>(cols, out, 1, 1, 1, im1, bl1, two, one, nopad);
    CHECK(out[0] == T(1) && out[1] == T(2) && out[2] == T(3) && out[3] == T(4), "col2im 1-D tiling");
}

// 3-D: a 1 x 1 x 1 kernel with strides 2 spreads x * w over every other voxel (zeros and the bias between);
// a 2 x 2 x 2 kernel of ones with stride 2 gives each input voxel a 2 x 2 x 2 block of its value.
static void test_conv_transpose3d() {
    const float x[8] = {1, 2, 3, 4, 5, 6, 7, 8}, w1[1] = {3}, bias[1] = {0.5f};
    std::vector<float> y(27), scratch(16);
    const rt::ConvTranspose3dShape s{1, 1, 2, 2, 2, 1, 1, 1, 1, 3, 3, 3, 2, 2, 2, 1, 1, 1, 0, 0, 0, 1};
    rt::conv_transpose3d<float>(s, x, w1, bias, y.data(), scratch.data());
    bool ok = true;
    for (int i = 0; i < 27; ++i) {
        const int d = i / 9, h = i / 3 % 3, ww = i % 3;
        const bool hit = d % 2 == 0 && h % 2 == 0 && ww % 2 == 0;
        ok = ok && y[i] == (hit ? 3 * x[(d / 2 * 2 + h / 2) * 2 + ww / 2] + 0.5f : 0.5f);
    }
    CHECK(ok, "conv_transpose3d 1x1x1 stride 2");
    const float ones[8] = {1, 1, 1, 1, 1, 1, 1, 1};
    std::vector<float> z(64), scratch2(2 * 2 * 2 * (1 + 8));
    const rt::ConvTranspose3dShape t{1, 1, 2, 2, 2, 1, 2, 2, 2, 4, 4, 4, 2, 2, 2, 1, 1, 1, 0, 0, 0, 1};
    rt::conv_transpose3d<float>(t, x, ones, nullptr, z.data(), scratch2.data());
    ok = true;
    for (int i = 0; i < 64; ++i) ok = ok && z[i] == x[((i / 16 / 2) * 2 + (i / 4 % 4) / 2) * 2 + (i % 4) / 2];
    CHECK(ok, "conv_transpose3d 2x2x2 blocks");
}

int main() {
    std::mt19937 rng(1234);
    test_conv_transpose3d();
    test_conv_transpose<float>(rng);
    test_conv_transpose<double>(rng);
    test_col2im<float>(rng);
    test_col2im<double>(rng);
    return finish("conv_transpose");
}
