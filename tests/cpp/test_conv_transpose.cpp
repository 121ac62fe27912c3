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

int main() {
    std::mt19937 rng(1234);
    test_conv_transpose<float>(rng);
    test_conv_transpose<double>(rng);
    return finish("conv_transpose");
}
