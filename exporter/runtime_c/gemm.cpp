// exporter runtime: matrix products. The packed GEMM itself is in gemm_driver.h (shared with conv.cpp).
#include "gemm_driver.h"

namespace exporter_rt {

// Integer products (index arithmetic, counts; rarely a model's hot spot): row by row, C's row accumulated over k
// (contiguous in j, which the compiler vectorises), the rows shared by the threads. The packed driver's
// micro-kernels are instantiated for the floating types only, which keeps this file's compile time down.
template <typename T>
void gemm_rows(int64_t M, int64_t N, int64_t K, const T* A, int64_t rsa, int64_t csa, bool a_packed, const T* B,
               int64_t rsb, int64_t csb, bool b_packed, T* C, int64_t ldc, const Epilogue<T>& ep) {
    const int64_t W = panel_width<T>();
    const bool parallel = M > 1 && M * N * K >= detail::kGemmParallelWork;
    parallel_for(M, parallel, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) {
            T* c = C + i * ldc;
            if (!ep.accumulate)
                for (int64_t j = 0; j < N; ++j) c[j] = T(0);
            for (int64_t k = 0; k < K; ++k) {
                const T a = a_packed ? A[(i / kPackRows) * K * kPackRows + k * kPackRows + i % kPackRows]
                                     : A[i * rsa + k * csa];
                if (b_packed) {
                    for (int64_t j = 0; j < N; ++j) c[j] += a * B[(j / W) * K * W + k * W + j % W];
                } else if (csb == 1) {
                    const T* b = B + k * rsb;
                    for (int64_t j = 0; j < N; ++j) c[j] += a * b[j];
                } else {
                    for (int64_t j = 0; j < N; ++j) c[j] += a * B[k * rsb + j * csb];
                }
            }
            if (!detail::epilogue_empty(ep)) detail::apply_epilogue(ep, c, ldc, i, 0, 1, N);
        }
    });
}

template <typename T>
void gemm_ex(int64_t M, int64_t N, int64_t K, const T* A, int64_t rsa, int64_t csa, bool a_packed, const T* B,
             int64_t rsb, int64_t csb, bool b_packed, T* C, int64_t ldc, const Epilogue<T>& ep) {
    if constexpr (std::is_integral_v<T>) {
        gemm_rows(M, N, K, A, rsa, csa, a_packed, B, rsb, csb, b_packed, C, ldc, ep);
    } else {
        const detail::AOperand<T> a{A, rsa, csa, a_packed};
        const detail::StridedB<T> b{B, rsb, csb};
        detail::gemm_run(M, N, K, a, b_packed ? B : nullptr, b, C, ldc, ep);
    }
}

template <typename T>
void gemm(int64_t M, int64_t N, int64_t K, const T* A, int64_t lda, const T* B, int64_t ldb, T* C, int64_t ldc,
          bool accumulate) {
    Epilogue<T> ep;
    ep.accumulate = accumulate;
    gemm_ex<T>(M, N, K, A, lda, 1, false, B, ldb, 1, false, C, ldc, ep);
}

template <typename T>
void gemm_packed(int64_t M, int64_t N, int64_t K, const T* A, int64_t lda, const T* packed_B, T* C, int64_t ldc,
                 bool accumulate) {
    Epilogue<T> ep;
    ep.accumulate = accumulate;
    gemm_ex<T>(M, N, K, A, lda, 1, false, packed_B, 0, 0, true, C, ldc, ep);
}

template <typename T> void pack_b_panels(int64_t K, int64_t N, const T* B, T* packed) {
    const int64_t W = panel_width<T>();
    for (int64_t p = 0; p * W < N; ++p)
        for (int64_t k = 0; k < K; ++k)
            for (int64_t j = 0; j < W; ++j)
                packed[(p * K + k) * W + j] = p * W + j < N ? B[k * N + p * W + j] : T(0);
}

template <typename T> void pack_a_panels(int64_t M, int64_t K, const T* A, T* packed) {
    for (int64_t p = 0; p * kPackRows < M; ++p)
        for (int64_t k = 0; k < K; ++k)
            for (int64_t r = 0; r < kPackRows; ++r)
                packed[(p * K + k) * kPackRows + r] = p * kPackRows + r < M ? A[(p * kPackRows + r) * K + k] : T(0);
}

#include "dtypes.inc"  // EXPORTER_ALL_NUMERIC

#define INSTANTIATE_GEMM(T)                                                                                    \
    template void gemm_ex<T>(int64_t, int64_t, int64_t, const T*, int64_t, int64_t, bool, const T*, int64_t,  \
                             int64_t, bool, T*, int64_t, const Epilogue<T>&);                                 \
    template void gemm<T>(int64_t, int64_t, int64_t, const T*, int64_t, const T*, int64_t, T*, int64_t, bool); \
    template void gemm_packed<T>(int64_t, int64_t, int64_t, const T*, int64_t, const T*, T*, int64_t, bool);   \
    template void pack_b_panels<T>(int64_t, int64_t, const T*, T*);                                            \
    template void pack_a_panels<T>(int64_t, int64_t, const T*, T*);
EXPORTER_ALL_NUMERIC(INSTANTIATE_GEMM)

}  // namespace exporter_rt
