// gemm.cpp + gemm_driver.h: the packed GEMM against a naive triple loop, on sizes around the tile and
// cache-block edges of every ISA (AVX-512 12x32, AVX2 6x16, portable), integer-valued data (exact).
#include <algorithm>

#include "check.h"
#include "exporter_runtime.h"

namespace rt = exporter_rt;

// The epilogue's activation, as exporter_runtime.h documents it, in double.
static double activate_reference(rt::Act act, double v, double p0, double p1) {
    switch (act) {
        case rt::Act::Relu: return v > 0 ? v : 0;
        case rt::Act::Clip: return std::min(std::max(v, p0), p1);
        case rt::Act::LeakyRelu: return v < 0 ? v * p0 : v;
        case rt::Act::Sigmoid: return 1 / (1 + std::exp(-v));
        case rt::Act::HardSigmoid: return std::max(0.0, std::min(1.0, p0 * v + p1));
        case rt::Act::HardSwish: return v * std::max(0.0, std::min(1.0, v / 6 + 0.5));
        case rt::Act::Tanh: return std::tanh(v);
        default: return v;
    }
}

template <typename T>
static std::vector<T> matmul_reference(int64_t M, int64_t N, int64_t K, const std::vector<T>& A, const std::vector<T>& B) {
    std::vector<T> C(M * N, T(0));
    for (int64_t i = 0; i < M; ++i)
        for (int64_t k = 0; k < K; ++k)
            for (int64_t j = 0; j < N; ++j) C[i * N + j] += A[i * K + k] * B[k * N + j];
    return C;
}

template <typename T>
static std::vector<T> packed_b(int64_t K, int64_t N, const std::vector<T>& B) {
    const int64_t W = rt::panel_width<T>();
    std::vector<T> packed((N + W - 1) / W * W * K);
    rt::pack_b_panels<T>(K, N, B.data(), packed.data());
    return packed;
}

template <typename T>
static std::vector<T> packed_a(int64_t M, int64_t K, const std::vector<T>& A) {
    const int64_t R = rt::kPackRows;
    std::vector<T> packed((M + R - 1) / R * R * K);
    rt::pack_a_panels<T>(M, K, A.data(), packed.data());
    return packed;
}

template <typename T>
static void test_gemm(std::mt19937& rng) {
    for (int64_t M : {1, 5, 6, 7, 13, 50, 97})
        for (int64_t N : {1, 2, 31, 32, 33, 70, 257})
            for (int64_t K : {1, 3, 64, 300}) {
                auto A = random_ints<T>(M * K, rng), B = random_ints<T>(K * N, rng), C = random_ints<T>(M * N, rng);
                const auto AB = matmul_reference(M, N, K, A, B);
                for (bool accumulate : {false, true}) {
                    std::vector<T> got = C, want = AB;
                    if (accumulate)
                        for (size_t e = 0; e < want.size(); ++e) want[e] += C[e];
                    rt::gemm<T>(M, N, K, A.data(), K, B.data(), N, got.data(), N, accumulate);
                    CHECK(got == want, "gemm M=%lld N=%lld K=%lld accumulate=%d", (long long)M, (long long)N,
                          (long long)K, int(accumulate));
                }
            }
}

// The pre-packed layouts exactly as exporter_runtime.h (and exporter/native/target.py) documents them:
// B in panels of panel_width<T>() columns, [K][width] each; A in panels of kPackRows rows, [K][kPackRows]
// each; the last panel zero-padded.
template <typename T>
static void test_pack_layout(std::mt19937& rng) {
    const int64_t W = rt::panel_width<T>(), R = rt::kPackRows;
    for (int64_t rows : {1, 11, 12, 13, 40})
        for (int64_t K : {1, 5, 17}) {
            auto B = random_ints<T>(K * rows, rng, 1, 9);  // nonzero: padding must be the only zeros
            const auto pb = packed_b(K, rows, B);
            bool ok = true;
            for (int64_t p = 0; p < (rows + W - 1) / W; ++p)
                for (int64_t k = 0; k < K; ++k)
                    for (int64_t c = 0; c < W; ++c) {
                        const int64_t j = p * W + c;
                        ok = ok && pb[(p * K + k) * W + c] == (j < rows ? B[k * rows + j] : T(0));
                    }
            CHECK(ok, "pack_b_panels layout K=%lld N=%lld", (long long)K, (long long)rows);
            auto A = random_ints<T>(rows * K, rng, 1, 9);
            const auto pa = packed_a(rows, K, A);
            ok = true;
            for (int64_t p = 0; p < (rows + R - 1) / R; ++p)
                for (int64_t k = 0; k < K; ++k)
                    for (int64_t r = 0; r < R; ++r) {
                        const int64_t i = p * R + r;
                        ok = ok && pa[(p * K + k) * R + r] == (i < rows ? A[i * K + k] : T(0));
                    }
            CHECK(ok, "pack_a_panels layout M=%lld K=%lld", (long long)rows, (long long)K);
        }
}

// gemm_packed: row-major A (with a leading dimension wider than K) times a pre-packed B.
template <typename T>
static void test_gemm_packed(std::mt19937& rng) {
    for (int64_t M : {1, 6, 12, 13, 61})
        for (int64_t N : {1, 15, 16, 17, 32, 33, 100})
            for (int64_t K : {1, 9, 257}) {
                const int64_t lda = K + 3, ldc = N + 2;
                auto A = random_ints<T>(M * K, rng), B = random_ints<T>(K * N, rng);
                std::vector<T> Awide(M * lda, T(99));
                for (int64_t i = 0; i < M; ++i) std::copy(&A[i * K], &A[i * K] + K, &Awide[i * lda]);
                const auto Bp = packed_b(K, N, B);
                const auto AB = matmul_reference(M, N, K, A, B);
                auto C0 = random_ints<T>(M * ldc, rng);
                for (bool accumulate : {false, true}) {
                    std::vector<T> got = C0, want = C0;
                    for (int64_t i = 0; i < M; ++i)
                        for (int64_t j = 0; j < N; ++j)
                            want[i * ldc + j] = AB[i * N + j] + (accumulate ? C0[i * ldc + j] : T(0));
                    rt::gemm_packed<T>(M, N, K, Awide.data(), lda, Bp.data(), got.data(), ldc, accumulate);
                    CHECK(got == want, "gemm_packed M=%lld N=%lld K=%lld accumulate=%d (columns past N untouched)",
                          (long long)M, (long long)N, (long long)K, int(accumulate));
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
                auto A = random_ints<T>(M * K, rng), B = random_ints<T>(K * N, rng), C0 = random_ints<T>(M * N, rng);
                auto bias = random_ints<T>(M * N, rng), res = random_ints<T>(M * N, rng);
                std::vector<T> At(K * M), Bt(N * K);
                for (int64_t i = 0; i < M; ++i) for (int64_t k = 0; k < K; ++k) At[k * M + i] = A[i * K + k];
                for (int64_t k = 0; k < K; ++k) for (int64_t j = 0; j < N; ++j) Bt[j * K + k] = B[k * N + j];
                const auto Bp = packed_b(K, N, B), Ap = packed_a(M, K, A);
                const auto AB = matmul_reference(M, N, K, A, B);
                for (int variant = 0; variant < 6; ++variant) {
                    rt::Epilogue<T> ep;
                    ep.accumulate = variant % 2 == 1;
                    if (variant >= 2) { ep.bias = bias.data(); ep.bias_rs = variant == 2 ? 1 : 0; ep.bias_cs = variant == 2 ? 0 : 1; }
                    if (variant >= 4) { ep.residual = res.data(); ep.ldr = N; ep.act = rt::Act::Relu; }
                    if (variant == 5) { ep.act = rt::Act::Clip; ep.p0 = T(-20); ep.p1 = T(30); }
                    std::vector<T> want = C0;
                    for (int64_t i = 0; i < M; ++i)
                        for (int64_t j = 0; j < N; ++j) {
                            T v = ep.accumulate ? want[i * N + j] + AB[i * N + j] : AB[i * N + j];
                            if (ep.bias) v += bias[i * ep.bias_rs + j * ep.bias_cs];
                            if (ep.residual) v += res[i * N + j];
                            want[i * N + j] = T(activate_reference(ep.act, double(v), double(ep.p0), double(ep.p1)));
                        }
                    for (int orient = 0; orient < 9; ++orient) {  // A: plain, transposed, packed x B: the same three
                        const int ao = orient % 3, bo = orient / 3;
                        std::vector<T> got = C0;
                        const T* a = ao == 0 ? A.data() : ao == 1 ? At.data() : Ap.data();
                        const T* b = bo == 0 ? B.data() : bo == 1 ? Bt.data() : Bp.data();
                        rt::gemm_ex<T>(M, N, K, a, ao == 0 ? K : 1, ao == 0 ? 1 : M, ao == 2, b, bo == 0 ? N : 1,
                                       bo == 0 ? 1 : K, bo == 2, got.data(), N, ep);
                        CHECK(got == want, "gemm_ex %s M=%lld N=%lld K=%lld variant=%d a=%d b=%d", rt::gemm_isa(),
                              (long long)M, (long long)N, (long long)K, variant, ao, bo);
                    }
                }
            }
}

// The floating-point epilogue: alpha, beta on a per-column bias and the smooth activations (Gemm's
// alpha/beta and the fused LeakyRelu/Sigmoid/HardSigmoid/HardSwish/Tanh), against double with a tolerance.
template <typename T>
static void test_gemm_ex_float_epilogue(std::mt19937& rng) {
    const rt::Act acts[] = {rt::Act::LeakyRelu, rt::Act::Sigmoid, rt::Act::HardSigmoid, rt::Act::HardSwish, rt::Act::Tanh};
    for (int64_t M : {3, 13, 40})
        for (int64_t N : {5, 33})
            for (int64_t K : {4, 70}) {
                auto A = random_reals<T>(M * K, rng, -0.5, 0.5), B = random_reals<T>(K * N, rng, -0.5, 0.5);
                auto bias = random_reals<T>(N, rng);
                const auto Bp = packed_b(K, N, B);
                for (rt::Act act : acts) {
                    rt::Epilogue<T> ep;
                    ep.alpha = T(0.75);
                    ep.beta = T(-1.5);
                    ep.bias = bias.data();
                    ep.bias_cs = 1;
                    ep.act = act;
                    ep.p0 = act == rt::Act::HardSigmoid ? T(0.2) : T(0.1);
                    ep.p1 = T(0.5);
                    std::vector<double> want(M * N);
                    for (int64_t i = 0; i < M; ++i)
                        for (int64_t j = 0; j < N; ++j) {
                            double acc = 0;
                            for (int64_t k = 0; k < K; ++k) acc += double(A[i * K + k]) * double(B[k * N + j]);
                            want[i * N + j] = activate_reference(act, 0.75 * acc - 1.5 * double(bias[j]), double(ep.p0), 0.5);
                        }
                    for (bool b_packed : {false, true}) {
                        std::vector<T> got(M * N);
                        rt::gemm_ex<T>(M, N, K, A.data(), K, 1, false, b_packed ? Bp.data() : B.data(), N, 1, b_packed,
                                       got.data(), N, ep);
                        CHECK(all_close(got, want, 1e-4 * (sizeof(T) == 4), sizeof(T) == 4 ? 1e-5 : 1e-12),
                              "gemm_ex act=%d M=%lld N=%lld K=%lld b_packed=%d", int(act), (long long)M, (long long)N,
                              (long long)K, int(b_packed));
                    }
                }
            }
}

// Equal columns of B give bitwise-equal columns of C, whatever tile a column falls in (full, right edge, GEMV
// panels): a classifier whose classes share weights must tie exactly (ONNX's zoo tests compare a softmax of
// ~1e21 logits, where one rounding difference picks a winner). Real data, so summation order shows.
template <typename T> static void test_equal_columns_tie(std::mt19937& rng) {
    for (int64_t M : {1, 3, 7})
        for (int64_t N : {9, 1000})
            for (int mode = 0; mode < 3; ++mode) {  // B row-major, B transposed, B pre-packed
                const int64_t K = 1024;
                auto a = random_reals<T>(M * K, rng);
                auto col = random_reals<T>(K, rng);
                std::vector<T> b(K * N), packed(rt::panel_width<T>() * ((N + rt::panel_width<T>() - 1) / rt::panel_width<T>()) * K);
                for (int64_t k = 0; k < K; ++k)
                    for (int64_t j = 0; j < N; ++j) b[mode == 1 ? j * K + k : k * N + j] = col[k];
                if (mode == 2) rt::pack_b_panels<T>(K, N, b.data(), packed.data());
                std::vector<T> c(M * N);
                rt::Epilogue<T> ep;
                if (mode == 2) rt::gemm_ex<T>(M, N, K, a.data(), K, 1, false, packed.data(), 0, 0, true, c.data(), N, ep);
                else if (mode == 1) rt::gemm_ex<T>(M, N, K, a.data(), K, 1, false, b.data(), 1, K, false, c.data(), N, ep);
                else rt::gemm_ex<T>(M, N, K, a.data(), K, 1, false, b.data(), N, 1, false, c.data(), N, ep);
                bool tied = true;
                for (int64_t i = 0; i < M; ++i)
                    for (int64_t j = 1; j < N; ++j) tied = tied && c[i * N + j] == c[i * N];
                CHECK(tied, "equal columns of B, unequal columns of C: M=%lld N=%lld mode=%d", (long long)M,
                      (long long)N, mode);
            }
}

int main() {
    std::mt19937 rng(1234);
    std::printf("gemm micro-kernel: %s\n", rt::gemm_isa());
    test_gemm<float>(rng);
    test_gemm<double>(rng);
    test_gemm<int32_t>(rng);
    test_gemm<int64_t>(rng);
    test_pack_layout<float>(rng);
    test_pack_layout<double>(rng);
    test_pack_layout<int64_t>(rng);
    test_gemm_packed<float>(rng);
    test_gemm_packed<double>(rng);
    test_gemm_packed<int32_t>(rng);
    test_gemm_ex<float>(rng);
    test_gemm_ex<double>(rng);
    test_gemm_ex<int32_t>(rng);
    test_gemm_ex_float_epilogue<float>(rng);
    test_gemm_ex_float_epilogue<double>(rng);
    test_equal_columns_tie<float>(rng);
    test_equal_columns_tie<double>(rng);
    return finish("gemm");
}
