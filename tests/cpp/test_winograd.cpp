// winograd.cpp: 3x3 stride-1 convolutions by Winograd's F(2x2, 3x3) and F(4x4, 3x3) against naive loops, with
// the fused epilogue, odd output sizes (partial tiles), asymmetric and no padding, several units and batches.
// F(2x2)'s transforms only halve and add, so integer data stays exact; F(4x4)'s (1/6, 1/24) get a tolerance.
#include <algorithm>

#include "check.h"
#include "exporter_runtime.h"

namespace rt = exporter_rt;

template <typename T> static void test_winograd(std::mt19937& rng) {
    struct Case { int64_t n, c, h, w, m, pt, pl, pb, pr; };
    const Case cases[] = {{1, 3, 8, 8, 4, 1, 1, 1, 1},       {2, 16, 13, 11, 20, 1, 1, 1, 1},  // odd sizes: partial tiles
                          {1, 8, 9, 7, 13, 0, 0, 0, 0},       {1, 5, 10, 12, 6, 2, 0, 1, 2},    // no / asymmetric padding
                          {3, 70, 30, 33, 40, 1, 1, 1, 1},    // several panels of tiles, K > one KC block of 64
                          {1, 4, 3, 3, 2, 1, 1, 1, 1},        // one tile
                          {2, 32, 56, 56, 16, 1, 1, 1, 1},    // many units: the threads share them
                          {1, 20, 4, 5, 60, 1, 1, 1, 1}};     // many channels, few tiles: the threads split M
    for (int tile : {2, 4}) {
        for (const Case& t : cases) {
            const int64_t oh = t.h + t.pt + t.pb - 2, ow = t.w + t.pl + t.pr - 2;
            const rt::Conv2dShape s{t.n, t.c, t.h, t.w, t.m, 3, 3, oh, ow, 1, 1, 1, 1, t.pt, t.pl, 1};
            CHECK(rt::winograd_applies(s), "winograd_applies");
            auto x = random_ints<T>(t.n * t.c * t.h * t.w, rng);
            auto w = random_ints<T>(t.m * t.c * 9, rng);
            auto b = random_ints<T>(t.m, rng);
            auto res = random_ints<T>(t.n * t.m * oh * ow, rng);
            std::vector<T> want(t.n * t.m * oh * ow);
            for (int64_t n = 0; n < t.n; ++n)
                for (int64_t m = 0; m < t.m; ++m)
                    for (int64_t i = 0; i < oh; ++i)
                        for (int64_t j = 0; j < ow; ++j) {
                            T acc = b[m];
                            for (int64_t c = 0; c < t.c; ++c)
                                for (int64_t ki = 0; ki < 3; ++ki)
                                    for (int64_t kj = 0; kj < 3; ++kj) {
                                        const int64_t iy = i - t.pt + ki, ix = j - t.pl + kj;
                                        if (iy < 0 || iy >= t.h || ix < 0 || ix >= t.w) continue;
                                        acc += x[((n * t.c + c) * t.h + iy) * t.w + ix] * w[((m * t.c + c) * 3 + ki) * 3 + kj];
                                    }
                            const int64_t at = ((n * t.m + m) * oh + i) * ow + j;
                            want[at] = std::max(T(0), acc + res[at]);  // + residual, then ReLU
                        }
            std::vector<T> u(rt::winograd_weights_size(s, tile));
            rt::winograd_weights<T>(s, tile, w.data(), u.data());
            rt::Epilogue<T> ep;
            ep.bias = b.data();
            ep.residual = res.data();
            ep.act = rt::Act::Relu;
            std::vector<T> y(want.size(), T(-7));
            rt::conv2d_winograd<T>(s, tile, x.data(), u.data(), y.data(), ep);
            double worst = 0;
            for (size_t i = 0; i < y.size(); ++i) worst = std::max(worst, std::fabs(double(y[i]) - double(want[i])));
            // F(4x4)'s fractions round: a relative tolerance on sums of up to c * 9 * 16 in magnitude
            const double tol = tile == 2 ? 0 : 1e-5 * double(t.c * 9 * 16) * (sizeof(T) == 4 ? 1 : 1e-8);
            CHECK(worst <= tol, "winograd F(%dx%d) %s n=%lld c=%lld %lldx%lld m=%lld: max error %g", tile, tile,
                  sizeof(T) == 4 ? "float" : "double", (long long)t.n, (long long)t.c, (long long)t.h, (long long)t.w,
                  (long long)t.m, worst);
        }
    }
    // what the selection rule needs: 3x3, stride 1, no dilation, one group
    const rt::Conv2dShape strided{1, 4, 8, 8, 4, 3, 3, 4, 4, 2, 2, 1, 1, 1, 1, 1};
    const rt::Conv2dShape grouped{1, 4, 8, 8, 4, 3, 3, 8, 8, 1, 1, 1, 1, 1, 1, 2};
    const rt::Conv2dShape five{1, 4, 8, 8, 4, 5, 5, 4, 4, 1, 1, 1, 1, 0, 0, 1};
    CHECK(!rt::winograd_applies(strided) && !rt::winograd_applies(grouped) && !rt::winograd_applies(five),
          "winograd_applies accepts a strided, grouped or 5x5 convolution");
}

int main() {
    std::mt19937 rng(7);
    test_winograd<float>(rng);
    return finish("winograd");
}
