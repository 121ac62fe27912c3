// conv.cpp: convolution as the packed GEMM over im2col blocks (plain and pre-packed weights, the fused
// epilogue), the direct depthwise kernel and 3-D convolution over them, against naive loops; integer-valued
// data (exact).
#include <algorithm>

#include "check.h"
#include "exporter_runtime.h"

namespace rt = exporter_rt;

template <typename T> static void test_conv(std::mt19937& rng) {
    struct Case { int64_t n, c, h, w, m, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr, groups; };
    const Case cases[] = {{1, 3, 8, 8, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1}, {2, 4, 7, 9, 6, 3, 2, 2, 1, 1, 2, 0, 1, 1, 0, 2},
                          {1, 8, 5, 5, 8, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1}, {1, 4, 6, 6, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 4},
                          {2, 6, 9, 7, 12, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 6},     // depthwise, multiplier 2, stride 2
                          {1, 16, 12, 11, 40, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1},  // several MR tiles and NR panels
                          {1, 32, 9, 9, 24, 1, 1, 2, 2, 1, 1, 0, 0, 0, 0, 1},    // strided 1x1 (ResNet downsample)
                          {1, 300, 6, 6, 13, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1},   // K spans several KC blocks
                          {1, 5, 1, 17, 5, 1, 3, 1, 2, 1, 2, 0, 2, 0, 1, 5},     // 1-D depthwise, dilated, uneven pads
                          {3, 2, 10, 10, 3, 5, 5, 3, 3, 2, 2, 4, 3, 2, 1, 1},    // dilated 5x5, strides 3, uneven pads
                          {1, 4, 50, 50, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1},    // 2500 pixels: two NC blocks of columns
                          {2, 8, 9, 8, 8, 5, 5, 1, 1, 1, 1, 2, 2, 2, 2, 8},      // depthwise 5x5 (unrolled taps)
                          {1, 3, 7, 7, 3, 2, 4, 1, 1, 2, 1, 1, 0, 2, 3, 3},      // depthwise, run-time tap count
                          {1, 2, 12, 12, 2, 9, 8, 1, 1, 1, 1, 4, 4, 4, 3, 2},    // depthwise over 64 taps (offsets computed)
                          {1, 2, 21, 20, 2, 9, 8, 2, 3, 1, 1, 4, 4, 4, 3, 2},    // strided depthwise over 64 taps
                          {2, 4, 9, 11, 4, 3, 3, 2, 1, 2, 1, 2, 1, 0, 1, 4},     // depthwise, strided rows only, dilated
                          {8, 4, 6, 6, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1},      // batch 8: images shared among threads
                          {2, 3, 11, 13, 7, 3, 3, 1, 1, 2, 2, 2, 1, 2, 3, 1},    // direct (few channels): dilated, uneven pads
                          {1, 1, 28, 28, 16, 5, 5, 1, 1, 1, 1, 0, 0, 0, 0, 1},   // direct, LeNet's first layer
                          {1, 6, 9, 10, 5, 2, 4, 1, 1, 1, 1, 1, 0, 0, 2, 1},     // direct, run-time tap count
                          {1, 3, 40, 70, 24, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1},   // stride-2 stem: strided panel copies
                          {1, 2, 20, 100, 5, 3, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1},   // stride 3: the same, any stride
                          {2, 3, 30, 29, 22, 7, 7, 2, 2, 1, 1, 3, 3, 3, 2, 1},   // 7x7/2 stem: direct over polyphase planes
                          {1, 5, 13, 13, 14, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1},   // direct: rows wrap into the next row's padding
                          {1, 4, 9, 10, 7, 3, 3, 1, 1, 1, 1, 0, 2, 1, 0, 1},     // direct: left padding only (pl 2, pr 0)
                          {1, 4, 9, 10, 7, 3, 3, 1, 1, 1, 1, 1, 0, 0, 2, 1},     // direct: right padding only
                          {1, 3, 8, 12, 5, 3, 3, 1, 1, 1, 1, 0, 0, 0, -2, 1},    // direct: columns no window reaches
                          {2, 6, 80, 9, 13, 5, 5, 1, 1, 1, 1, 2, 2, 2, 2, 1},    // direct: several row chunks, 13 channels
                          {1, 37, 6, 7, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1},     // direct: 3 channel blocks, the last partial
                          {1, 2, 12, 12, 3, 9, 9, 1, 1, 1, 1, 4, 4, 4, 4, 1},    // direct over 81 taps (offsets computed)
                          {1, 20, 15, 14, 26, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1},  // strided 3x3, 20 channels (AVX-512: direct)
                          // direct, 64 channels (full tiles written to the output with their epilogue, a partial one
                          // through the buffer), two channel blocks, rows of 23 ending mid-vector
                          {1, 20, 14, 23, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1}};
    for (const Case& t : cases) {
        const int64_t oh = (t.h + t.pt + t.pb - ((t.kh - 1) * t.dh + 1)) / t.sh + 1;
        const int64_t ow = (t.w + t.pl + t.pr - ((t.kw - 1) * t.dw + 1)) / t.sw + 1;
        const rt::Conv2dShape s{t.n, t.c, t.h, t.w, t.m, t.kh, t.kw, oh, ow, t.sh, t.sw, t.dh, t.dw, t.pt, t.pl, t.groups};
        const int64_t cg = t.c / t.groups, mg = t.m / t.groups, kdim = cg * t.kh * t.kw;
        auto x = random_ints<T>(t.n * t.c * t.h * t.w, rng);
        auto w = random_ints<T>(t.m * cg * t.kh * t.kw, rng);
        auto b = random_ints<T>(t.m, rng);
        auto res = random_ints<T>(t.n * t.m * oh * ow, rng);
        std::vector<T> want(t.n * t.m * oh * ow);
        for (int64_t n = 0; n < t.n; ++n)
            for (int64_t m = 0; m < t.m; ++m)
                for (int64_t i = 0; i < oh; ++i)
                    for (int64_t j = 0; j < ow; ++j) {
                        const int64_t g = m / mg;
                        T acc = b[m];
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
        std::vector<T> y(want.size());
        rt::conv2d<T>(s, x.data(), w.data(), b.data(), y.data());
        const char* type = sizeof(T) == 4 ? "float" : "double";
        CHECK(y == want, "conv2d<%s> c=%lld m=%lld k=%lldx%lld groups=%lld", type, (long long)t.c, (long long)t.m,
              (long long)t.kh, (long long)t.kw, (long long)t.groups);
        // pre-packed weights (each group's matrix in the A panel layout) with a residual + ReLU epilogue
        std::vector<T> packed(rt::conv2d_packed_group_size(s) * t.groups);
        for (int64_t g = 0; g < t.groups; ++g)
            rt::pack_a_panels<T>(mg, kdim, w.data() + g * mg * kdim, packed.data() + g * rt::conv2d_packed_group_size(s));
        rt::Epilogue<T> ep;
        ep.bias = b.data();
        ep.residual = res.data();
        ep.act = rt::Act::Relu;
        for (bool use_packed : {false, true}) {
            rt::conv2d_ex<T>(s, x.data(), use_packed ? packed.data() : w.data(), use_packed, y.data(), ep);
            bool ok = true;
            for (size_t e = 0; e < y.size(); ++e) ok = ok && y[e] == std::max(want[e] + res[e], T(0));
            CHECK(ok, "conv2d_ex<%s> packed=%d c=%lld m=%lld groups=%lld", type, int(use_packed), (long long)t.c,
                  (long long)t.m, (long long)t.groups);
        }
    }
}

// 1x1 over small planes as the transposed product (conv2d_pointwise_t): weights w^T in the B panel layout, bias,
// residual and ReLU applied while transposing; K over several KC blocks, one-pixel planes, 1 and 2 threads.
static void test_pointwise_transposed(std::mt19937& rng) {
    struct Case { int64_t n, c, h, w, m; };
    const Case cases[] = {{2, 40, 7, 7, 48}, {1, 300, 5, 5, 64}, {1, 8, 1, 1, 16}, {3, 24, 3, 7, 128}};
    for (int threads : {1, 2}) {
        rt::set_num_threads(threads);
        for (const Case& t : cases) {
            const rt::Conv2dShape s{t.n, t.c, t.h, t.w, t.m, 1, 1, t.h, t.w, 1, 1, 1, 1, 0, 0, 1};
            const int64_t plane = t.h * t.w;
            auto x = random_ints<float>(t.n * t.c * plane, rng);
            auto w = random_ints<float>(t.m * t.c, rng);
            auto b = random_ints<float>(t.m, rng);
            auto res = random_ints<float>(t.n * t.m * plane, rng);
            std::vector<float> wt(t.c * t.m), packed((t.m + rt::panel_width<float>() - 1) / rt::panel_width<float>() *
                                                     rt::panel_width<float>() * t.c);
            for (int64_t m = 0; m < t.m; ++m)
                for (int64_t c = 0; c < t.c; ++c) wt[c * t.m + m] = w[m * t.c + c];
            rt::pack_b_panels<float>(t.c, t.m, wt.data(), packed.data());
            rt::Epilogue<float> ep;
            ep.bias = b.data();
            ep.residual = res.data();
            ep.act = rt::Act::Relu;
            std::vector<float> y(t.n * t.m * plane, -1.0f);
            rt::conv2d_pointwise_t<float>(s, x.data(), packed.data(), y.data(), ep);
            bool ok = true;
            for (int64_t n = 0; n < t.n; ++n)
                for (int64_t m = 0; m < t.m; ++m)
                    for (int64_t p = 0; p < plane; ++p) {
                        float acc = 0;
                        for (int64_t c = 0; c < t.c; ++c) acc += w[m * t.c + c] * x[(n * t.c + c) * plane + p];
                        const int64_t at = (n * t.m + m) * plane + p;
                        ok = ok && y[at] == std::max(acc + b[m] + res[at], 0.0f);
                    }
            CHECK(ok, "conv2d_pointwise_t threads=%d n=%lld c=%lld %lldx%lld m=%lld", threads, (long long)t.n,
                  (long long)t.c, (long long)t.h, (long long)t.w, (long long)t.m);
        }
    }
    rt::set_num_threads(0);
}

// Conv + MaxPool in bands (conv2d_max_pool) against the convolution's whole output pooled (conv2d_ex or Winograd,
// then max_pool2d): every kernel path (im2col GEMM, 1x1 GEMM, direct over shifted rows and polyphase planes,
// Winograd), pools that overlap bands (3x3/2, padded) or not (2x2/2), a bottom window past the convolution's rows,
// several bands per image and per thread, batch 2, 1 and 2 threads.
static void test_conv_max_pool(std::mt19937& rng) {
    struct Case { int64_t n, c, h, w, m, k, s, pad, winograd, pk, ps, ppad, pextra; };
    const Case cases[] = {{1, 3, 160, 150, 64, 3, 2, 0, 0, 3, 2, 0, 0},    // SqueezeNet's stem: im2col GEMM
                          {1, 3, 150, 140, 32, 7, 2, 3, 0, 3, 2, 1, 0},    // ResNet's 7x7/2 stem: direct, polyphase
                          {2, 8, 70, 90, 24, 3, 1, 1, 0, 2, 2, 0, 0},      // direct over shifted rows, 2x2/2 pool
                          {1, 16, 64, 80, 48, 3, 1, 1, 2, 2, 2, 0, 0},     // Winograd F(2x2)
                          {1, 32, 66, 72, 40, 3, 1, 1, 4, 3, 2, 1, 0},     // Winograd F(4x4)
                          {1, 24, 90, 64, 40, 1, 1, 0, 0, 3, 2, 0, 1},     // 1x1: plain GEMM; a window past the bottom
                          {1, 20, 90, 70, 36, 3, 2, 1, 0, 3, 1, 1, 0},     // strided 3x3, 20 channels; 3x3/1 pool
                          {1, 2, 9, 9, 4, 3, 1, 1, 0, 3, 2, 1, 0}};        // one band
    for (int threads : {1, 2}) {
        rt::set_num_threads(threads);
        for (const Case& t : cases) {
            const int64_t oh = (t.h + 2 * t.pad - t.k) / t.s + 1, ow = (t.w + 2 * t.pad - t.k) / t.s + 1;
            const rt::Conv2dShape s{t.n, t.c, t.h, t.w, t.m, t.k, t.k, oh, ow, t.s, t.s, 1, 1, t.pad, t.pad, 1};
            // pextra: one more bottom padding row (a ceil_mode pool), so the last window reaches past the rows
            const int64_t poh = (oh + 2 * t.ppad + t.pextra - t.pk) / t.ps + 1, pow = (ow + 2 * t.ppad - t.pk) / t.ps + 1;
            const rt::Pool2dShape p{t.n, t.m, oh, ow, t.pk, t.pk, poh, pow, t.ps, t.ps, 1, 1, t.ppad, t.ppad,
                                    t.ppad + t.pextra, t.ppad};
            auto x = random_ints<float>(t.n * t.c * t.h * t.w, rng);
            auto w = random_ints<float>(t.m * t.c * t.k * t.k, rng);
            auto b = random_ints<float>(t.m, rng);
            std::vector<float> packed;
            if (t.winograd) {
                packed.resize(rt::winograd_weights_size(s, int(t.winograd)));
                rt::winograd_weights<float>(s, int(t.winograd), w.data(), packed.data());
            } else {
                packed.resize(rt::conv2d_packed_group_size(s));
                rt::pack_a_panels<float>(t.m, t.c * t.k * t.k, w.data(), packed.data());
            }
            rt::Epilogue<float> ep;
            ep.bias = b.data();
            ep.act = rt::Act::Relu;
            std::vector<float> full(t.n * t.m * oh * ow), want(t.n * t.m * poh * pow), got(want.size(), -1.0f);
            if (t.winograd) rt::conv2d_winograd<float>(s, int(t.winograd), x.data(), packed.data(), full.data(), ep);
            else rt::conv2d_ex<float>(s, x.data(), packed.data(), true, full.data(), ep);
            rt::max_pool2d<float>(p, full.data(), want.data());
            rt::conv2d_max_pool<float>(s, int(t.winograd), x.data(), packed.data(), true, ep, p, got.data());
            // integer data: exact, except Winograd's transforms, whose rounding depends on where a band's tiles start
            const float tol = t.winograd ? 1e-3f * float(t.c * 9 * 16) : 0.0f;
            float worst = 0.0f;
            for (size_t e = 0; e < want.size(); ++e) worst = std::max(worst, std::fabs(got[e] - want[e]));
            CHECK(worst <= tol, "conv2d_max_pool threads=%d c=%lld m=%lld %lldx%lld/%lld winograd=%lld pool %lldx%lld/%lld: "
                  "off by %g", threads, (long long)t.c, (long long)t.m, (long long)t.k, (long long)t.k, (long long)t.s,
                  (long long)t.winograd, (long long)t.pk, (long long)t.pk, (long long)t.ps, double(worst));
        }
    }
    rt::set_num_threads(0);
}

// 3-D: per output depth, 2-D convolutions of the covered input slices summed (depth padding, stride, dilation,
// groups, every tap of an output slice in the padding), plain and pre-packed kernel slices.
static void test_conv3d(std::mt19937& rng) {
    // n, c, d, h, w, m, kd, kh, kw, sd, sh, sw, dd, dh, dw, pf, pt, pl, pk (back), groups
    struct Case { int64_t n, c, d, h, w, m, kd, kh, kw, sd, sh, sw, dd, dh, dw, pf, pt, pl, pk, groups; };
    const Case cases[] = {{1, 2, 4, 5, 5, 3, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1},
                          {2, 4, 7, 6, 5, 6, 2, 3, 2, 2, 1, 2, 2, 1, 1, 2, 0, 1, 2, 2},   // groups, depth dilation
                          {1, 3, 2, 4, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 3, 0, 0, 3, 3}};  // depthwise, padded slices
    for (const Case& t : cases) {
        const int64_t od = (t.d + t.pf + t.pk - ((t.kd - 1) * t.dd + 1)) / t.sd + 1;
        const int64_t oh = (t.h + 2 * t.pt - ((t.kh - 1) * t.dh + 1)) / t.sh + 1;
        const int64_t ow = (t.w + 2 * t.pl - ((t.kw - 1) * t.dw + 1)) / t.sw + 1;
        const rt::Conv3dShape s{t.n, t.c, t.d, t.h, t.w, t.m, t.kd, t.kh, t.kw, od, oh, ow, t.sd, t.sh, t.sw,
                                t.dd, t.dh, t.dw, t.pf, t.pt, t.pl, t.groups};
        const int64_t cg = t.c / t.groups, mg = t.m / t.groups, kdim = cg * t.kh * t.kw;
        auto x = random_ints<float>(t.n * t.c * t.d * t.h * t.w, rng);
        auto w = random_ints<float>(t.m * cg * t.kd * t.kh * t.kw, rng);
        auto b = random_ints<float>(t.m, rng);
        std::vector<float> want(t.n * t.m * od * oh * ow);
        for (int64_t n = 0; n < t.n; ++n)
            for (int64_t m = 0; m < t.m; ++m)
                for (int64_t z = 0; z < od; ++z)
                    for (int64_t i = 0; i < oh; ++i)
                        for (int64_t j = 0; j < ow; ++j) {
                            const int64_t g = m / mg;
                            float acc = b[m];
                            for (int64_t c = 0; c < cg; ++c)
                                for (int64_t kz = 0; kz < t.kd; ++kz)
                                    for (int64_t ki = 0; ki < t.kh; ++ki)
                                        for (int64_t kj = 0; kj < t.kw; ++kj) {
                                            const int64_t iz = z * t.sd - t.pf + kz * t.dd, iy = i * t.sh - t.pt + ki * t.dh,
                                                          ix = j * t.sw - t.pl + kj * t.dw;
                                            if (iz < 0 || iz >= t.d || iy < 0 || iy >= t.h || ix < 0 || ix >= t.w) continue;
                                            acc += x[(((n * t.c + g * cg + c) * t.d + iz) * t.h + iy) * t.w + ix] *
                                                   w[(((m * cg + c) * t.kd + kz) * t.kh + ki) * t.kw + kj];
                                        }
                            want[(((n * t.m + m) * od + z) * oh + i) * ow + j] = acc;
                        }
        // kernel slices [kd][m, cg, kh, kw], plain and (not for depthwise) packed per group
        const rt::Conv2dShape s2{1, t.c, t.h, t.w, t.m, t.kh, t.kw, oh, ow, t.sh, t.sw, t.dh, t.dw, t.pt, t.pl, t.groups};
        const int64_t plain_slice = t.m * kdim, packed_slice = rt::conv2d_packed_group_size(s2) * t.groups;
        std::vector<float> slices(t.kd * plain_slice), packed(t.kd * packed_slice);
        for (int64_t kz = 0; kz < t.kd; ++kz)
            for (int64_t m = 0; m < t.m; ++m)
                for (int64_t r = 0; r < kdim; ++r) {
                    const int64_t c = r / (t.kh * t.kw), hw = r % (t.kh * t.kw);
                    slices[kz * plain_slice + m * kdim + r] = w[((m * cg + c) * t.kd + kz) * t.kh * t.kw + hw];
                }
        for (int64_t kz = 0; kz < t.kd; ++kz)
            for (int64_t g = 0; g < t.groups; ++g)
                rt::pack_a_panels<float>(mg, kdim, slices.data() + kz * plain_slice + g * mg * kdim,
                                         packed.data() + kz * packed_slice + g * rt::conv2d_packed_group_size(s2));
        std::vector<float> scratch(rt::conv3d_scratch_size(s)), y(want.size());
        for (bool use_packed : {false, true}) {
            if (use_packed && cg == 1 && t.groups > 1) continue;  // depthwise kernels read plain weights
            rt::conv3d<float>(s, x.data(), use_packed ? packed.data() : slices.data(), use_packed,
                              use_packed ? packed_slice : plain_slice, b.data(), y.data(), scratch.data());
            CHECK(y == want, "conv3d packed=%d c=%lld m=%lld k=%lldx%lldx%lld groups=%lld", int(use_packed),
                  (long long)t.c, (long long)t.m, (long long)t.kd, (long long)t.kh, (long long)t.kw, (long long)t.groups);
        }
    }
}

// DeformConv: zero offsets and no mask give the plain convolution; whole-pixel offsets read shifted pixels
// (zeros past the edge); a half-pixel offset mixes two neighbours equally; the mask scales each tap.
static void test_deform_conv(std::mt19937& rng) {
    const int64_t n = 2, c = 4, h = 6, w = 7, m = 6, k = 3, groups = 2, offset_groups = 2;
    const int64_t oh = h, ow = w;  // pads 1, stride 1
    const rt::Conv2dShape cs{n, c, h, w, m, k, k, oh, ow, 1, 1, 1, 1, 1, 1, groups};
    const rt::DeformConvShape s{n, c, h, w, m, k, k, oh, ow, 1, 1, 1, 1, 1, 1, groups, offset_groups};
    auto x = random_ints<float>(n * c * h * w, rng);
    auto wt = random_ints<float>(m * (c / groups) * k * k, rng);
    auto b = random_ints<float>(m, rng);
    std::vector<float> offset(n * offset_groups * k * k * 2 * oh * ow, 0.0f), scratch(c * k * k * oh * ow);
    std::vector<float> want(n * m * oh * ow), got(want.size());
    rt::conv2d<float>(cs, x.data(), wt.data(), b.data(), want.data());
    rt::deform_conv2d<float>(s, x.data(), wt.data(), offset.data(), nullptr, b.data(), got.data(), scratch.data());
    CHECK(got == want, "deform_conv2d with zero offsets is conv2d");
    // a 1 x 1 kernel on one channel: offsets (dy, dx) = (0, 1) read the right neighbour, (0.5, 0) the mean of
    // the pixel and the one below; the mask halves the result
    const rt::DeformConvShape one{1, 1, 2, 2, 1, 1, 1, 2, 2, 1, 1, 1, 1, 0, 0, 1, 1};
    const float img[4] = {1, 2, 3, 4}, w1[1] = {1}, mask[4] = {0.5f, 0.5f, 0.5f, 0.5f};
    const float shifts[8] = {0, 0.5f, 0, 0, 1, 0, 1, 1};  // dy for the 4 outputs, then dx
    float y[4], cols[4];
    rt::deform_conv2d<float>(one, img, w1, shifts, mask, nullptr, y, cols);
    // pixel (0, 1) = 2, the mean of (0, 1) and (1, 1) = 3, pixel (1, 1) = 4, (1, 2) past the edge = 0; halved
    CHECK(y[0] == 1.0f && std::fabs(y[1] - 1.5f) < 1e-6f && y[2] == 2.0f && y[3] == 0.0f,
          "deform_conv2d offsets: got %g %g %g %g", y[0], y[1], y[2], y[3]);
}

int main() {
    std::mt19937 rng(1234);
    test_conv<float>(rng);
    test_conv<double>(rng);  // float64: the materialised columns and gemm.cpp's GEMM
    test_deform_conv(rng);
    test_conv3d(rng);
    test_conv_max_pool(rng);
    test_pointwise_transposed(rng);
    return finish("conv");
}
