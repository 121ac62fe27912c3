// conv.cpp: convolution as the packed GEMM over im2col blocks (plain and pre-packed weights, the fused
// epilogue) and the direct depthwise kernel, against a naive 7-deep loop; integer-valued data (exact).
#include <algorithm>

#include "check.h"
#include "exporter_runtime.h"

namespace rt = exporter_rt;

static void test_conv(std::mt19937& rng) {
    struct Case { int64_t n, c, h, w, m, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr, groups; };
    const Case cases[] = {{1, 3, 8, 8, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1}, {2, 4, 7, 9, 6, 3, 2, 2, 1, 1, 2, 0, 1, 1, 0, 2},
                          {1, 8, 5, 5, 8, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1}, {1, 4, 6, 6, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 4},
                          {2, 6, 9, 7, 12, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 6},     // depthwise, multiplier 2, stride 2
                          {1, 16, 12, 11, 40, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1},  // several MR tiles and NR panels
                          {1, 32, 9, 9, 24, 1, 1, 2, 2, 1, 1, 0, 0, 0, 0, 1},    // strided 1x1 (ResNet downsample)
                          {1, 300, 6, 6, 13, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1},   // K spans several KC blocks
                          {1, 5, 1, 17, 5, 1, 3, 1, 2, 1, 2, 0, 2, 0, 1, 5},     // 1-D depthwise, dilated, uneven pads
                          {3, 2, 10, 10, 3, 5, 5, 3, 3, 2, 2, 4, 3, 2, 1, 1}};   // dilated 5x5, strides 3, uneven pads
    for (const Case& t : cases) {
        const int64_t oh = (t.h + t.pt + t.pb - ((t.kh - 1) * t.dh + 1)) / t.sh + 1;
        const int64_t ow = (t.w + t.pl + t.pr - ((t.kw - 1) * t.dw + 1)) / t.sw + 1;
        const rt::Conv2dShape s{t.n, t.c, t.h, t.w, t.m, t.kh, t.kw, oh, ow, t.sh, t.sw, t.dh, t.dw, t.pt, t.pl, t.groups};
        const int64_t cg = t.c / t.groups, mg = t.m / t.groups, kdim = cg * t.kh * t.kw;
        auto x = random_ints<float>(t.n * t.c * t.h * t.w, rng);
        auto w = random_ints<float>(t.m * cg * t.kh * t.kw, rng);
        auto b = random_ints<float>(t.m, rng);
        auto res = random_ints<float>(t.n * t.m * oh * ow, rng);
        std::vector<float> want(t.n * t.m * oh * ow);
        for (int64_t n = 0; n < t.n; ++n)
            for (int64_t m = 0; m < t.m; ++m)
                for (int64_t i = 0; i < oh; ++i)
                    for (int64_t j = 0; j < ow; ++j) {
                        const int64_t g = m / mg;
                        float acc = b[m];
                        for (int64_t c = 0; c < cg; ++c)
                            for (int64_t ki = 0; ki < t.kh; ++ki)
                                for (int64_t kj = 0; kj < t.kw; ++kj) {
                                    const int64_t iy = i * t.sh - t.pt + ki * t.dh, ix = j * t.sw - t.pl + kj * t.dw;
                                    if (iy < 0 || iy >= t.h || ix < 0 || ix >= t.w) continue;
                                    acc += x[((n * t.c + g * cg + c) * t.h + iy) * t.w + ix] *
                                           w[((m * cg + c) * t.kh + ki) * t.kw + kj];
                                }
                        want[((n * t.m + m) * oh + i) * ow + j] = acc;
                    }
        std::vector<float> y(want.size());
        rt::conv2d<float>(s, x.data(), w.data(), b.data(), y.data());
        CHECK(y == want, "conv2d c=%lld m=%lld k=%lldx%lld groups=%lld", (long long)t.c, (long long)t.m, (long long)t.kh,
              (long long)t.kw, (long long)t.groups);
        // pre-packed weights (each group's matrix in the A panel layout) with a residual + ReLU epilogue
        std::vector<float> packed(rt::conv2d_packed_group_size(s) * t.groups);
        for (int64_t g = 0; g < t.groups; ++g)
            rt::pack_a_panels<float>(mg, kdim, w.data() + g * mg * kdim,
                                              packed.data() + g * rt::conv2d_packed_group_size(s));
        rt::Epilogue<float> ep;
        ep.bias = b.data();
        ep.residual = res.data();
        ep.act = rt::Act::Relu;
        for (bool use_packed : {false, true}) {
            rt::conv2d_ex<float>(s, x.data(), use_packed ? packed.data() : w.data(), use_packed, y.data(), ep);
            bool ok = true;
            for (size_t e = 0; e < y.size(); ++e) ok = ok && y[e] == std::max(want[e] + res[e], 0.0f);
            CHECK(ok, "conv2d_ex packed=%d c=%lld m=%lld groups=%lld", int(use_packed), (long long)t.c, (long long)t.m,
                  (long long)t.groups);
        }
    }
}

int main() {
    std::mt19937 rng(1234);
    test_conv(rng);
    return finish("conv");
}
