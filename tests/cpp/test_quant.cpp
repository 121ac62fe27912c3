// quant.cpp: quantise / dequantise (per tensor, per axis, blocked; ties round to even; saturation),
// DynamicQuantizeLinear, the integer GEMM (zero points per tensor / row / column, int32 and requantised
// outputs, sizes across the panel, row-pair and odd-K edges) and the integer convolution (padding holds the zero
// point, strides, dilations, groups, pointwise) against naive references written here.
#include <algorithm>
#include <limits>

#include "check.h"
#include "exporter_runtime.h"

namespace rt = exporter_rt;

template <typename Q> static Q saturate(double v) {
    v = std::max(v, double(std::numeric_limits<Q>::min()));
    return Q(std::min(v, double(std::numeric_limits<Q>::max())));
}

template <typename Q>
static void test_quantize_roundtrip(std::mt19937& rng) {
    // [outer=2, n=5, inner=3]: per tensor, per axis, blocked (block 2: the last block is short)
    const int64_t outer = 2, n = 5, inner = 3, block = 2, blocks = 3;
    auto x = random_reals<float>(outer * n * inner, rng, -300, 300);
    x[0] = 2.5f, x[1] = 3.5f, x[2] = -2.5f, x[3] = 1e9f, x[4] = -1e9f;  // ties to even, saturation
    struct Mode { rt::QuantAxis a; int64_t scales; };
    const Mode modes[] = {{{1, 1, outer * n * inner, 1, 0, 0, 0}, 1},
                          {{outer, n, inner, 1, 0, 1, 0}, n},
                          {{outer, n, inner, block, blocks * inner, inner, 1}, outer * blocks * inner}};
    for (const auto& mode : modes) {
        std::vector<float> scale(size_t(mode.scales));
        for (auto& s : scale) s = mode.scales == 1 ? 1.0f : float(std::uniform_real_distribution<>(0.5, 3)(rng));
        auto zp = random_ints<Q>(size_t(mode.scales), rng, 0, 4);
        std::vector<Q> y(x.size());
        std::vector<float> back(x.size());
        rt::quantize_linear<Q>(mode.a, x.data(), scale.data(), zp.data(), y.data());
        rt::dequantize_linear<Q>(mode.a, y.data(), scale.data(), zp.data(), back.data());
        bool ok = true, back_ok = true;
        const auto& a = mode.a;
        for (int64_t o = 0; o < a.outer; ++o)
            for (int64_t k = 0; k < a.n; ++k)
                for (int64_t i = 0; i < a.inner; ++i) {
                    const int64_t at = (o * a.n + k) * a.inner + i, q = o * a.so + (k / a.block) * a.sn + i * a.si;
                    const Q want = saturate<Q>(std::nearbyint(x[at] / scale[q]) + double(zp[q]));
                    ok = ok && y[at] == want;
                    back_ok = back_ok && back[at] == (float(y[at]) - float(zp[q])) * scale[q];
                }
        CHECK(ok, "quantize_linear<%d bytes> block=%lld", int(sizeof(Q)), (long long)mode.a.block);
        CHECK(back_ok, "dequantize_linear<%d bytes> block=%lld", int(sizeof(Q)), (long long)mode.a.block);
    }
    if constexpr (sizeof(Q) == 1) {  // scale 1: 2.5 -> 2, 3.5 -> 4, -2.5 -> -2 (+ zero point), 1e9 saturates
        const rt::QuantAxis a{1, 1, 5, 1, 0, 0, 0};
        const float one = 1.0f;
        const Q z = 10;
        Q y[5];
        rt::quantize_linear<Q>(a, x.data(), &one, &z, y);
        CHECK(y[0] == 12 && y[1] == 14 && y[2] == 8 && y[3] == std::numeric_limits<Q>::max() &&
                  y[4] == std::numeric_limits<Q>::min(), "quantize_linear ties and saturation");
        rt::quantize_linear<Q>(a, x.data(), &one, nullptr, y);
        CHECK(y[0] == 2 && y[1] == 4, "quantize_linear without a zero point");
    }
}

static void test_dequantize_int32() {
    const int32_t x[] = {-7, 0, 1 << 20, -(1 << 20)}, zp = 3;
    const float scale = 0.5f;
    float y[4];
    rt::dequantize_linear<int32_t>({1, 1, 4, 1, 0, 0, 0}, x, &scale, &zp, y);
    CHECK(y[0] == -5.0f && y[1] == -1.5f && y[2] == float((1 << 20) - 3) * 0.5f, "dequantize_linear<int32>");
}

// The storage types: int4 clamps to [-8, 7] after rounding half to even and adding the zero point; float8
// converts x / scale (saturating, or to NaN without saturate); float4 converts x / scale + zero point; a float
// zero point is not subtracted by DequantizeLinear (ONNX's reference); float16 scales give float16.
static void test_storage_types() {
    const rt::QuantAxis a{1, 1, 5, 1, 0, 0, 0};
    const float x[] = {2.5f, 3.5f, -100.0f, 100.0f, -0.6f}, scale = 1.0f;
    rt::int4 q4[5];
    const rt::int4 z4 = 1;
    rt::quantize_linear<rt::int4>(a, x, &scale, &z4, q4);
    CHECK(int(q4[0]) == 3 && int(q4[1]) == 5 && int(q4[2]) == -8 && int(q4[3]) == 7 && int(q4[4]) == 0,
          "quantize_linear<int4>");
    rt::uint2 q2[5];
    rt::quantize_linear<rt::uint2>(a, x, &scale, nullptr, q2);
    CHECK(int(q2[0]) == 2 && int(q2[1]) == 3 && int(q2[2]) == 0 && int(q2[3]) == 3, "quantize_linear<uint2>");
    float back[5];
    rt::dequantize_linear<rt::int4>(a, q4, &scale, &z4, back);
    CHECK(back[0] == 2.0f && back[2] == -9.0f && back[3] == 6.0f, "dequantize_linear<int4>");
    rt::float8e4m3fn f8[5];
    const float two = 2.0f;
    rt::quantize_linear<rt::float8e4m3fn>(a, x, &two, nullptr, f8);
    CHECK(float(f8[0]) == 1.25f && float(f8[1]) == 1.75f && float(f8[2]) == -48.0f, "quantize_linear<float8e4m3fn>");
    const float tiny = 1e-3f;
    rt::quantize_linear<rt::float8e4m3fn>(a, x, &tiny, nullptr, f8, true);
    CHECK(float(f8[3]) == 448.0f, "quantize_linear<float8e4m3fn> saturates");
    rt::quantize_linear<rt::float8e4m3fn>(a, x, &tiny, nullptr, f8, false);
    CHECK(std::isnan(float(f8[3])), "quantize_linear<float8e4m3fn> without saturate");
    rt::float4e2m1fn f4[5];
    const rt::float4e2m1fn z = 1.0f;
    rt::quantize_linear<rt::float4e2m1fn>(a, x, &scale, &z, f4);
    CHECK(float(f4[0]) == 4.0f && float(f4[1]) == 4.0f && float(f4[2]) == -6.0f && float(f4[4]) == 0.5f,
          "quantize_linear<float4e2m1fn>");
    rt::dequantize_linear<rt::float4e2m1fn>(a, f4, &two, &z, back);
    CHECK(back[0] == 8.0f && back[4] == 1.0f, "dequantize_linear<float4e2m1fn> ignores the zero point");
    const _Float16 half_scale = _Float16(0.5f);
    _Float16 h[5];
    rt::dequantize_linear<rt::int4>(a, q4, &half_scale, nullptr, h);
    CHECK(float(h[0]) == 1.5f && float(h[2]) == -4.0f, "dequantize_linear<int4, float16>");
}

static void test_dynamic_quantize(std::mt19937& rng) {
    for (auto [lo, hi] : {std::pair{-3.0, 5.0}, std::pair{1.0, 4.0}, std::pair{-4.0, -1.0}, std::pair{0.0, 0.0}}) {
        auto x = random_reals<float>(37, rng, lo, hi);
        float mn = 0, mx = 0;
        for (float v : x) mn = std::min(mn, v), mx = std::max(mx, v);
        const float scale = (mx == mn ? 1.0f : mx - mn) / 255.0f;
        const float zp = std::nearbyint(std::clamp(0.0f - mn / scale, 0.0f, 255.0f));
        std::vector<uint8_t> y(x.size());
        float got_scale;
        uint8_t got_zp;
        rt::dynamic_quantize_linear(x.data(), int64_t(x.size()), y.data(), &got_scale, &got_zp);
        bool ok = got_scale == scale && got_zp == uint8_t(zp);
        for (size_t i = 0; i < x.size(); ++i) ok = ok && y[i] == saturate<uint8_t>(std::nearbyint(x[i] / scale) + zp);
        CHECK(ok, "dynamic_quantize_linear over [%g, %g)", lo, hi);
    }
}

template <typename TA, typename TB, typename TC>
static void test_qgemm(std::mt19937& rng) {
    const int64_t sizes[][3] = {{1, 1, 1}, {3, 5, 7}, {4, 64, 8}, {5, 600, 9}, {17, 97, 33}, {2, 3, 600}};
    for (const auto& sz : sizes)
        for (int zps = 0; zps < 3; ++zps)  // none; per tensor; per row of A and per column of B
        for (int half = 0; half < (std::is_same_v<TC, int32_t> ? 1 : 2); ++half) {  // float32 or float16 scales
            const int64_t M = sz[0], N = sz[1], K = sz[2];
            const int lo_a = std::is_signed_v<TA> ? -128 : 0, lo_b = std::is_signed_v<TB> ? -128 : 0;
            auto A = random_ints<TA>(M * K, rng, lo_a, lo_a + 255), B = random_ints<TB>(K * N, rng, lo_b, lo_b + 255);
            auto azp = random_ints<TA>(M, rng, lo_a, lo_a + 255);
            auto bzp = random_ints<TB>(N, rng, lo_b, lo_b + 255);
            const int64_t a_rs = zps == 2 ? 1 : 0, b_cs = zps == 2 ? 1 : 0;
            auto a_scale = random_reals<float>(M, rng, 0.001, 0.01), b_scale = random_reals<float>(N, rng, 0.001, 0.01);
            rt::Requant rq;
            rq.a_scale = a_scale.data(), rq.a_scale_rs = a_rs, rq.b_scale = b_scale.data(), rq.b_scale_cs = b_cs;
            rq.y_scale = 0.37f, rq.y_zero_point = 3;
            std::vector<_Float16> a_half(a_scale.begin(), a_scale.end()), b_half(b_scale.begin(), b_scale.end());
            if (half) {  // m as ONNX's reference gets it from float16 arrays: product and quotient rounded to float16
                rq.a_scale = nullptr, rq.b_scale = nullptr, rq.a_scale_h = a_half.data(), rq.b_scale_h = b_half.data();
                rq.y_scale = float(_Float16(0.37f));
            }
            std::vector<TC> C(M * N), want(M * N);
            for (int64_t i = 0; i < M; ++i)
                for (int64_t j = 0; j < N; ++j) {
                    int32_t acc = 0;
                    for (int64_t k = 0; k < K; ++k)
                        acc += (int32_t(A[i * K + k]) - (zps ? int32_t(azp[i * a_rs]) : 0)) *
                               (int32_t(B[k * N + j]) - (zps ? int32_t(bzp[j * b_cs]) : 0));
                    if constexpr (std::is_same_v<TC, int32_t>) {
                        want[i * N + j] = acc;
                    } else {
                        const float m = half ? float(_Float16(double(_Float16(double(a_half[i * a_rs]) * double(b_half[j * b_cs]))) /
                                                              double(rq.y_scale)))
                                             : a_scale[i * a_rs] * b_scale[j * b_cs] / rq.y_scale;
                        want[i * N + j] = saturate<TC>(std::nearbyint(double(acc) * double(m)) + rq.y_zero_point);
                    }
                }
            std::vector<int16_t> packed(rt::qpacked_size(K, N));
            rt::qpack_b<TB>(K, N, B.data(), N, zps ? bzp.data() : nullptr, b_cs, packed.data());
            rt::qgemm<TA, TC>(M, N, K, A.data(), K, zps ? azp.data() : nullptr, a_rs, packed.data(), C.data(), N, &rq);
            CHECK(C == want, "qgemm<%s, %s, %d bytes> M=%lld N=%lld K=%lld zero points %d float16 scales %d",
                  std::is_signed_v<TA> ? "int8" : "uint8", std::is_signed_v<TB> ? "int8" : "uint8", int(sizeof(TC)),
                  (long long)M, (long long)N, (long long)K, zps, half);
        }
}

template <typename TX, typename TW, typename TY>
static void test_qconv(std::mt19937& rng) {
    // n, c, h, w, m, kh, kw, oh, ow, sh, sw, dh, dw, pt, pl, groups (oh/ow from the padding on both sides)
    const rt::Conv2dShape shapes[] = {
        {2, 3, 7, 6, 4, 3, 3, 7, 6, 1, 1, 1, 1, 1, 1, 1},   // same padding
        {1, 4, 9, 8, 6, 3, 2, 4, 4, 2, 2, 1, 1, 1, 0, 2},   // strides, groups, uneven kernel
        {1, 2, 8, 8, 2, 3, 3, 4, 4, 1, 1, 2, 2, 0, 0, 1},   // dilation
        {2, 5, 4, 3, 3, 1, 1, 4, 3, 1, 1, 1, 1, 0, 0, 1},   // pointwise: x read in place
        {1, 3, 1, 10, 3, 1, 3, 1, 10, 1, 1, 1, 1, 0, 1, 3}, // 1-D (height 1), depthwise
    };
    for (const auto& s : shapes) {
        const int64_t cg = s.c / s.groups, mg = s.m / s.groups, P = s.oh * s.ow;
        const int lo_x = std::is_signed_v<TX> ? -128 : 0, lo_w = std::is_signed_v<TW> ? -128 : 0;
        auto x = random_ints<TX>(s.n * s.c * s.h * s.w, rng, lo_x, lo_x + 255);
        auto w = random_ints<TW>(s.m * cg * s.kh * s.kw, rng, lo_w, lo_w + 255);
        auto xz = random_ints<TX>(1, rng, lo_x, lo_x + 255);
        auto wz = random_ints<TW>(s.m, rng, lo_w, lo_w + 255);
        auto bias = random_ints<int32_t>(s.m, rng, -1000, 1000);
        auto w_scale = random_reals<float>(s.m, rng, 0.001, 0.01);
        const float x_scale = 0.05f;
        rt::Requant rq;
        rq.a_scale = w_scale.data(), rq.a_scale_rs = 1, rq.b_scale = &x_scale, rq.b_scale_cs = 0;
        rq.y_scale = 0.2f, rq.y_zero_point = 5, rq.bias = bias.data();
        std::vector<TY> y(s.n * s.m * P), want(y.size());
        for (int64_t n = 0; n < s.n; ++n)
            for (int64_t m = 0; m < s.m; ++m)
                for (int64_t oy = 0; oy < s.oh; ++oy)
                    for (int64_t ox = 0; ox < s.ow; ++ox) {
                        int32_t acc = 0;
                        const int64_t g = m / mg;
                        for (int64_t cc = 0; cc < cg; ++cc)
                            for (int64_t ki = 0; ki < s.kh; ++ki)
                                for (int64_t kj = 0; kj < s.kw; ++kj) {
                                    const int64_t iy = oy * s.sh - s.pt + ki * s.dh, ix = ox * s.sw - s.pl + kj * s.dw;
                                    if (iy < 0 || iy >= s.h || ix < 0 || ix >= s.w) continue;  // (x_zp - x_zp) = 0
                                    const int32_t xv = x[((n * s.c + g * cg + cc) * s.h + iy) * s.w + ix];
                                    const int32_t wv = w[((m * cg + cc) * s.kh + ki) * s.kw + kj];
                                    acc += (xv - int32_t(xz[0])) * (wv - int32_t(wz[m]));
                                }
                        TY out;
                        if constexpr (std::is_same_v<TY, int32_t>) {
                            out = acc;
                        } else {
                            const float mult = w_scale[m] * x_scale / rq.y_scale;
                            out = saturate<TY>(std::nearbyint(double(acc + bias[m]) * double(mult)) + rq.y_zero_point);
                        }
                        want[((n * s.m + m) * s.oh + oy) * s.ow + ox] = out;
                    }
        std::vector<int16_t> scratch(rt::qconv2d_scratch_size(s.c, s.groups, s.kh, s.kw, s.oh, s.ow));
        rt::qconv2d<TX, TW, TY>(s, x.data(), xz.data(), w.data(), wz.data(), 1, y.data(),
                                std::is_same_v<TY, int32_t> ? nullptr : &rq, scratch.data());
        CHECK(y == want, "qconv2d<%d bytes out> c=%lld k=%lldx%lld groups=%lld", int(sizeof(TY)), (long long)s.c,
              (long long)s.kh, (long long)s.kw, (long long)s.groups);
    }
}

int main() {
    std::mt19937 rng(20);
    test_quantize_roundtrip<int8_t>(rng);
    test_quantize_roundtrip<uint8_t>(rng);
    test_quantize_roundtrip<int16_t>(rng);
    test_quantize_roundtrip<uint16_t>(rng);
    test_dequantize_int32();
    test_storage_types();
    test_dynamic_quantize(rng);
    test_qgemm<uint8_t, uint8_t, int32_t>(rng);
    test_qgemm<uint8_t, int8_t, int32_t>(rng);
    test_qgemm<int8_t, int8_t, int8_t>(rng);
    test_qgemm<uint8_t, uint8_t, uint8_t>(rng);
    test_qgemm<int8_t, uint8_t, uint8_t>(rng);
    test_qconv<uint8_t, uint8_t, int32_t>(rng);
    test_qconv<uint8_t, int8_t, uint8_t>(rng);
    test_qconv<int8_t, int8_t, int8_t>(rng);
    return finish("quant");
}
