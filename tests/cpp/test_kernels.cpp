// Runtime kernels against naive reference loops, on sizes that hit every tile edge.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "exporter_runtime.h"
#include "npy.h"

namespace exporter_rt {
// Reference activations (exact for the integer-valued data of these tests).
template <typename T> static T detail_activate_reference(Act act, T v, T lo, T hi) {
    if (act == Act::Relu) return v > T(0) ? v : T(0);
    if (act == Act::Clip) return v < lo ? lo : (v > hi ? hi : v);
    return v;
}
}  // namespace exporter_rt

static int failures = 0;

#define CHECK(cond, ...)                                          \
    do {                                                          \
        if (!(cond)) {                                            \
            std::fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
            std::fprintf(stderr, __VA_ARGS__);                    \
            std::fprintf(stderr, "\n");                           \
            ++failures;                                           \
        }                                                         \
    } while (0)

template <typename T>
static std::vector<T> random_vector(size_t n, std::mt19937& rng) {
    std::uniform_int_distribution<int> dist(-4, 4);  // small integers: exact in every dtype
    std::vector<T> v(n);
    for (auto& x : v) x = T(dist(rng));
    return v;
}

template <typename T>
static void test_gemm(std::mt19937& rng) {
    for (int64_t M : {1, 5, 6, 7, 13, 50, 97})
        for (int64_t N : {1, 2, 31, 32, 33, 70, 257})
            for (int64_t K : {1, 3, 64, 300}) {
                auto A = random_vector<T>(M * K, rng), B = random_vector<T>(K * N, rng), C = random_vector<T>(M * N, rng);
                for (bool accumulate : {false, true}) {
                    std::vector<T> got = C, want = C;
                    exporter_rt::gemm<T>(M, N, K, A.data(), K, B.data(), N, got.data(), N, accumulate);
                    for (int64_t i = 0; i < M; ++i)
                        for (int64_t j = 0; j < N; ++j) {
                            T acc = accumulate ? want[i * N + j] : T(0);
                            for (int64_t k = 0; k < K; ++k) acc += A[i * K + k] * B[k * N + j];
                            want[i * N + j] = acc;
                        }
                    CHECK(got == want, "gemm M=%lld N=%lld K=%lld accumulate=%d", (long long)M, (long long)N,
                          (long long)K, int(accumulate));
                }
            }
}

// gemm_ex: both orientations of A and B, pre-packed A/B (packed by the runtime's reference packers),
// accumulate and every epilogue term, on sizes around the tile and cache-block edges of every ISA.
template <typename T>
static void test_gemm_ex(std::mt19937& rng) {
    for (int64_t M : {1, 4, 6, 11, 12, 13, 25, 200})
        for (int64_t N : {1, 8, 15, 16, 17, 33, 64, 100})
            for (int64_t K : {1, 7, 193, 520}) {
                auto A = random_vector<T>(M * K, rng), B = random_vector<T>(K * N, rng), C0 = random_vector<T>(M * N, rng);
                auto bias = random_vector<T>(M * N, rng), res = random_vector<T>(M * N, rng);
                std::vector<T> At(K * M), Bt(N * K);
                for (int64_t i = 0; i < M; ++i) for (int64_t k = 0; k < K; ++k) At[k * M + i] = A[i * K + k];
                for (int64_t k = 0; k < K; ++k) for (int64_t j = 0; j < N; ++j) Bt[j * K + k] = B[k * N + j];
                const int64_t W = exporter_rt::panel_width<T>(), R = exporter_rt::kPackRows;
                std::vector<T> Bp(((N + W - 1) / W) * W * K), Ap(((M + R - 1) / R) * R * K);
                exporter_rt::pack_b_panels<T>(K, N, B.data(), Bp.data());
                exporter_rt::pack_a_panels<T>(M, K, A.data(), Ap.data());
                for (int variant = 0; variant < 6; ++variant) {
                    exporter_rt::Epilogue<T> ep;
                    ep.accumulate = variant % 2 == 1;
                    if (variant >= 2) { ep.bias = bias.data(); ep.bias_rs = variant == 2 ? 1 : 0; ep.bias_cs = variant == 2 ? 0 : 1; }
                    if (variant >= 4) { ep.residual = res.data(); ep.ldr = N; ep.act = exporter_rt::Act::Relu; }
                    if (variant == 5) { ep.act = exporter_rt::Act::Clip; ep.p0 = T(-20); ep.p1 = T(30); }
                    std::vector<T> want = C0;
                    for (int64_t i = 0; i < M; ++i)
                        for (int64_t j = 0; j < N; ++j) {
                            T acc = 0;
                            for (int64_t k = 0; k < K; ++k) acc += A[i * K + k] * B[k * N + j];
                            T v = ep.accumulate ? want[i * N + j] + acc : acc;
                            if (ep.bias) v += bias[i * ep.bias_rs + j * ep.bias_cs];
                            if (ep.residual) v += res[i * N + j];
                            v = exporter_rt::detail_activate_reference(ep.act, v, ep.p0, ep.p1);
                            want[i * N + j] = v;
                        }
                    for (int orient = 0; orient < 9; ++orient) {  // A: plain, transposed, packed x B: the same three
                        const int ao = orient % 3, bo = orient / 3;
                        std::vector<T> got = C0;
                        const T* a = ao == 0 ? A.data() : ao == 1 ? At.data() : Ap.data();
                        const T* b = bo == 0 ? B.data() : bo == 1 ? Bt.data() : Bp.data();
                        exporter_rt::gemm_ex<T>(M, N, K, a, ao == 0 ? K : 1, ao == 0 ? 1 : M, ao == 2, b, bo == 0 ? N : 1,
                                                bo == 0 ? 1 : K, bo == 2, got.data(), N, ep);
                        CHECK(got == want, "gemm_ex %s M=%lld N=%lld K=%lld variant=%d a=%d b=%d", exporter_rt::gemm_isa(),
                              (long long)M, (long long)N, (long long)K, variant, ao, bo);
                    }
                }
            }
}

static void test_conv(std::mt19937& rng) {
    struct Case { int64_t n, c, h, w, m, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr, groups; };
    const Case cases[] = {{1, 3, 8, 8, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1}, {2, 4, 7, 9, 6, 3, 2, 2, 1, 1, 2, 0, 1, 1, 0, 2},
                          {1, 8, 5, 5, 8, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1}, {1, 4, 6, 6, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 4},
                          {2, 6, 9, 7, 12, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 6},     // depthwise, multiplier 2, stride 2
                          {1, 16, 12, 11, 40, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1},  // several MR tiles and NR panels
                          {1, 32, 9, 9, 24, 1, 1, 2, 2, 1, 1, 0, 0, 0, 0, 1},    // strided 1x1 (ResNet downsample)
                          {1, 300, 6, 6, 13, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1}};  // K spans several KC blocks
    for (const Case& t : cases) {
        const int64_t oh = (t.h + t.pt + t.pb - ((t.kh - 1) * t.dh + 1)) / t.sh + 1;
        const int64_t ow = (t.w + t.pl + t.pr - ((t.kw - 1) * t.dw + 1)) / t.sw + 1;
        const exporter_rt::Conv2dShape s{t.n, t.c, t.h, t.w, t.m, t.kh, t.kw, oh, ow, t.sh, t.sw, t.dh, t.dw, t.pt, t.pl, t.groups};
        const int64_t cg = t.c / t.groups, mg = t.m / t.groups, kdim = cg * t.kh * t.kw;
        auto x = random_vector<float>(t.n * t.c * t.h * t.w, rng);
        auto w = random_vector<float>(t.m * cg * t.kh * t.kw, rng);
        auto b = random_vector<float>(t.m, rng);
        auto res = random_vector<float>(t.n * t.m * oh * ow, rng);
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
        exporter_rt::conv2d<float>(s, x.data(), w.data(), b.data(), y.data());
        CHECK(y == want, "conv2d c=%lld m=%lld k=%lldx%lld groups=%lld", (long long)t.c, (long long)t.m, (long long)t.kh,
              (long long)t.kw, (long long)t.groups);
        // pre-packed weights (each group's matrix in the A panel layout) with a residual + ReLU epilogue
        std::vector<float> packed(exporter_rt::conv2d_packed_group_size(s) * t.groups);
        for (int64_t g = 0; g < t.groups; ++g)
            exporter_rt::pack_a_panels<float>(mg, kdim, w.data() + g * mg * kdim,
                                              packed.data() + g * exporter_rt::conv2d_packed_group_size(s));
        exporter_rt::Epilogue<float> ep;
        ep.bias = b.data();
        ep.residual = res.data();
        ep.act = exporter_rt::Act::Relu;
        for (bool use_packed : {false, true}) {
            exporter_rt::conv2d_ex<float>(s, x.data(), use_packed ? packed.data() : w.data(), use_packed, y.data(), ep);
            bool ok = true;
            for (size_t e = 0; e < y.size(); ++e) ok = ok && y[e] == std::max(want[e] + res[e], 0.0f);
            CHECK(ok, "conv2d_ex packed=%d c=%lld m=%lld groups=%lld", int(use_packed), (long long)t.c, (long long)t.m,
                  (long long)t.groups);
        }
    }
}

static void test_reductions_and_softmax(std::mt19937& rng) {
    const int64_t outer = 3, n = 5, inner = 4;
    auto x = random_vector<double>(outer * n * inner, rng);
    std::vector<double> sum(outer * inner), mx(outer * inner), sm(x.size());
    std::vector<int64_t> arg(outer * inner);
    exporter_rt::reduce<double>(exporter_rt::Reduce::Sum, x.data(), sum.data(), outer, n, inner);
    exporter_rt::reduce<double>(exporter_rt::Reduce::Max, x.data(), mx.data(), outer, n, inner);
    exporter_rt::arg_reduce<double>(true, false, x.data(), arg.data(), outer, n, inner);
    exporter_rt::softmax<double>(x.data(), sm.data(), outer, n, inner, false);
    for (int64_t o = 0; o < outer; ++o)
        for (int64_t i = 0; i < inner; ++i) {
            double s = 0, m = -1e300, total = 0;
            int64_t a = 0;
            for (int64_t k = 0; k < n; ++k) {
                const double v = x[(o * n + k) * inner + i];
                s += v;
                if (v > m) { m = v; a = k; }
                total += sm[(o * n + k) * inner + i];
            }
            CHECK(sum[o * inner + i] == s, "reduce sum");
            CHECK(mx[o * inner + i] == m, "reduce max");
            CHECK(arg[o * inner + i] == a, "argmax (first index)");
            CHECK(std::fabs(total - 1.0) < 1e-12, "softmax sums to 1");
        }
}

static void test_movement() {
    // transpose [2,3,4] by (2,0,1) and back
    std::vector<int32_t> x(24), t(24), back(24);
    for (int i = 0; i < 24; ++i) x[i] = i;
    const int64_t shape[] = {2, 3, 4}, perm[] = {2, 0, 1}, tshape[] = {4, 2, 3}, inverse[] = {1, 2, 0};
    exporter_rt::transpose(x.data(), t.data(), 4, 3, shape, perm);
    CHECK(t[1] == 4 && t[3] == 12, "transpose values");
    exporter_rt::transpose(t.data(), back.data(), 4, 3, tshape, inverse);
    CHECK(back == x, "transpose round trip");
    // reflect pad of [1,2,3] by (2, 2) -> [3,2,1,2,3,2,1]
    const int32_t in[] = {1, 2, 3};
    int32_t out[7], zero = 0;
    const int64_t in_shape[] = {3}, pads[] = {2, 2};
    exporter_rt::pad(in, out, 4, 1, in_shape, pads, exporter_rt::PadMode::Reflect, &zero);
    const int32_t want[] = {3, 2, 1, 2, 3, 2, 1};
    CHECK(std::equal(out, out + 7, want), "reflect pad");
    // slice helpers agree with Python's slicing
    CHECK(exporter_rt::slice_len(10, -3, 1000000, 1) == 3, "slice_len positive step");
    CHECK(exporter_rt::slice_len(10, -1, -1000000, -2) == 5, "slice_len negative step");
    CHECK(exporter_rt::conv_out(7, 3, 2, 1, 0, 0, 1) == 3, "conv_out ceil mode");
}

static void test_npy() {
    const std::vector<int64_t> shape = {2, 3};
    const float data[] = {1, 2, 3, 4, 5, 6};
    std::string error;
    CHECK(exporter_npy::write("roundtrip.npy", "float32", shape, data, error), "npy write: %s", error.c_str());
    exporter_npy::Array back;
    CHECK(exporter_npy::read("roundtrip.npy", back, error), "npy read: %s", error.c_str());
    CHECK(back.dtype == "float32" && back.shape == shape && back.data.size() == sizeof(data), "npy round trip");
    CHECK(!exporter_npy::read("missing.npy", back, error) && error == "cannot open file", "missing file");
}

int main() {
    std::mt19937 rng(1234);
    test_gemm<float>(rng);
    test_gemm<double>(rng);
    test_gemm<int32_t>(rng);
    test_gemm<int64_t>(rng);
    test_gemm_ex<float>(rng);
    test_gemm_ex<double>(rng);
    test_gemm_ex<int32_t>(rng);
    test_conv(rng);
    test_reductions_and_softmax(rng);
    test_movement();
    test_npy();
    if (failures) {
        std::fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    std::printf("all runtime checks passed\n");
    return 0;
}
