// Internal to the runtime (gemm.cpp, conv.cpp): the packed GEMM in the BLIS/GotoBLAS structure.
//
//   for jc (NC columns of C)            B block [KC x NC] packed into NR-column micro-panels (L3/L2)
//     for pc (KC of the shared dim)
//       for ic (MC rows of C)           A block [MC x KC] packed into MR-row micro-panels (L2)
//         for jr (NR)  for ir (MR)      micro-kernel: an MR x NR tile of C in registers, streaming
//                                       one B micro-panel (kept in L1) against A micro-panels
//
// The micro-kernel is written once over a small SIMD traits type (AVX-512, AVX2+FMA, or a portable
// C++ "vector" of scalars that also serves the integer dtypes); which one is chosen at compile time by
// the target macros. Constant operands may come pre-packed (by the exporter): A in kPackRows-row panels,
// B in panel_width<T>() column panels; MR divides kPackRows and NR divides the panel width, so the
// kernels read pre-packed panels in place with a k-stride of the panel size.
#ifndef EXPORTER_GEMM_DRIVER_H
#define EXPORTER_GEMM_DRIVER_H

#include <algorithm>
#include <cstdlib>
#include <utility>

#include "exporter_runtime.h"

#if !defined(EXPORTER_PORTABLE_KERNELS) && (defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__)))
#include <immintrin.h>
#endif

namespace exporter_rt {
namespace detail {

// ---- SIMD traits ------------------------------------------------------------------------------------
// Portable: an array of L scalars; GCC/Clang vectorise the fixed-length loops for whatever the target
// has (SSE2 on baseline x86-64, NEON on ARM). Also the kernel of the integer dtypes (exact arithmetic).
template <typename T, int Lanes> struct PortableSimd {
    static constexpr int L = Lanes;
    struct V { T v[L]; };
    static V zero() { V r; for (int i = 0; i < L; ++i) r.v[i] = T(0); return r; }
    static V set1(T a) { V r; for (int i = 0; i < L; ++i) r.v[i] = a; return r; }
    static V load(const T* p) { V r; for (int i = 0; i < L; ++i) r.v[i] = p[i]; return r; }
    static void store(T* p, const V& a) { for (int i = 0; i < L; ++i) p[i] = a.v[i]; }
    static V fma(const V& a, const V& b, const V& c) { V r; for (int i = 0; i < L; ++i) r.v[i] = c.v[i] + a.v[i] * b.v[i]; return r; }
    static V add(const V& a, const V& b) { V r; for (int i = 0; i < L; ++i) r.v[i] = a.v[i] + b.v[i]; return r; }
    static V relu(const V& a) { V r; for (int i = 0; i < L; ++i) r.v[i] = a.v[i] < T(0) ? T(0) : a.v[i]; return r; }
};

#if !defined(EXPORTER_PORTABLE_KERNELS) && defined(__AVX512F__)
struct SimdF {
    static constexpr int L = 16;
    using V = __m512;
    static V zero() { return _mm512_setzero_ps(); }
    static V set1(float a) { return _mm512_set1_ps(a); }
    static V load(const float* p) { return _mm512_loadu_ps(p); }
    static void store(float* p, V a) { _mm512_storeu_ps(p, a); }
    static V fma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
    static V add(V a, V b) { return _mm512_add_ps(a, b); }
    static V relu(V a) { return _mm512_max_ps(_mm512_setzero_ps(), a); }  // NaN and -0 pass, as v < 0 ? 0 : v
};
struct SimdD {
    static constexpr int L = 8;
    using V = __m512d;
    static V zero() { return _mm512_setzero_pd(); }
    static V set1(double a) { return _mm512_set1_pd(a); }
    static V load(const double* p) { return _mm512_loadu_pd(p); }
    static void store(double* p, V a) { _mm512_storeu_pd(p, a); }
    static V fma(V a, V b, V c) { return _mm512_fmadd_pd(a, b, c); }
    static V add(V a, V b) { return _mm512_add_pd(a, b); }
    static V relu(V a) { return _mm512_max_pd(_mm512_setzero_pd(), a); }
};
// 12 x 2 vectors: 24 accumulators + 2 B vectors + 1 broadcast of the 32 zmm registers.
constexpr int kFloatMR = 12;
#define EXPORTER_GEMM_ISA "avx512"
#define EXPORTER_GEMM_AVX512 1
#elif !defined(EXPORTER_PORTABLE_KERNELS) && defined(__AVX2__) && defined(__FMA__)
struct SimdF {
    static constexpr int L = 8;
    using V = __m256;
    static V zero() { return _mm256_setzero_ps(); }
    static V set1(float a) { return _mm256_set1_ps(a); }
    static V load(const float* p) { return _mm256_loadu_ps(p); }
    static void store(float* p, V a) { _mm256_storeu_ps(p, a); }
    static V fma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
    static V add(V a, V b) { return _mm256_add_ps(a, b); }
    static V relu(V a) { return _mm256_max_ps(_mm256_setzero_ps(), a); }  // NaN and -0 pass, as v < 0 ? 0 : v
};
struct SimdD {
    static constexpr int L = 4;
    using V = __m256d;
    static V zero() { return _mm256_setzero_pd(); }
    static V set1(double a) { return _mm256_set1_pd(a); }
    static V load(const double* p) { return _mm256_loadu_pd(p); }
    static void store(double* p, V a) { _mm256_storeu_pd(p, a); }
    static V fma(V a, V b, V c) { return _mm256_fmadd_pd(a, b, c); }
    static V add(V a, V b) { return _mm256_add_pd(a, b); }
    static V relu(V a) { return _mm256_max_pd(_mm256_setzero_pd(), a); }
};
// 6 x 2 vectors: 12 accumulators + 2 B vectors + 1 broadcast of the 16 ymm registers.
constexpr int kFloatMR = 6;
#define EXPORTER_GEMM_ISA "avx2"
#else
using SimdF = PortableSimd<float, 4>;
using SimdD = PortableSimd<double, 4>;
constexpr int kFloatMR = 4;
#define EXPORTER_GEMM_ISA "portable"
#endif

// Per dtype: SIMD traits, MR rows x NV vectors per tile, and cache blocks (elements).
template <typename T> struct Tile {
    using S = PortableSimd<T, 4>;
    static constexpr int MR = 4, NV = 2, KC = 256, MC = 96, NC = 2048;
};
template <> struct Tile<float> {
    using S = SimdF;
    // KC: one B micro-panel (KC x NR) stays in the 48 KiB L1 next to the streamed A micro-panel;
    // MC x KC of A fits the 1 MiB L2 with room for B; NC x KC of B stays in L2/L3.
    static constexpr int MR = kFloatMR, NV = 2, KC = 256, MC = kFloatMR * 16, NC = 2048;
};
template <> struct Tile<double> {
    using S = SimdD;
    static constexpr int MR = kFloatMR, NV = 2, KC = 192, MC = kFloatMR * 12, NC = 1024;
};

template <typename T> constexpr int tile_nr() { return Tile<T>::S::L * Tile<T>::NV; }
static_assert(kPackRows % Tile<float>::MR == 0 && kPackRows % Tile<double>::MR == 0 && kPackRows % Tile<int32_t>::MR == 0,
              "MR must divide the pre-packed A panel height");
static_assert(panel_width<float>() % tile_nr<float>() == 0 && panel_width<double>() % tile_nr<double>() == 0 &&
                  panel_width<int32_t>() % tile_nr<int32_t>() == 0 && panel_width<int64_t>() % tile_nr<int64_t>() == 0,
              "NR must divide the pre-packed B panel width");

// Sum of x[0, n) over four vector accumulators (reduce.cpp's sums and means, pool.cpp's global average): one
// accumulator is one long dependency chain (an add latency per element), and the compiler may not reorder float
// sums itself (a GlobalAveragePool of 1000 x 13 x 13: 102 us as a scalar loop, 40 us with eight scalar
// accumulators, 17 us so).
template <typename T> T vector_sum(const T* x, int64_t n) {
    using S = typename Tile<T>::S;
    constexpr int L = S::L;
    typename S::V acc[4] = {S::zero(), S::zero(), S::zero(), S::zero()};
    int64_t p = 0;
    for (; p + 4 * L <= n; p += 4 * L)
        for (int a = 0; a < 4; ++a) acc[a] = S::add(acc[a], S::load(x + p + a * L));
    for (; p + L <= n; p += L) acc[0] = S::add(acc[0], S::load(x + p));
    alignas(64) T lanes[L];
    S::store(lanes, S::add(S::add(acc[0], acc[1]), S::add(acc[2], acc[3])));
    T sum = T(0);
    for (int l = 0; l < L; ++l) sum += lanes[l];
    for (; p < n; ++p) sum += x[p];
    return sum;
}

// What the micro-kernel applies to a finished tile while it is still in registers (the common epilogues: a
// per-row or per-column bias, a residual, ReLU; the rest go through apply_epilogue after the store), in
// apply_epilogue's order, so the results are the same bit for bit.
template <typename T> struct TileEpilogue {
    const T* row_bias = nullptr;  // row r adds row_bias[r * row_bias_stride]
    int64_t row_bias_stride = 0;
    const T* col_bias = nullptr;  // column c adds col_bias[c]
    const T* residual = nullptr;  // element (r, c) adds residual[r * ldr + c]
    int64_t ldr = 0;
    bool relu = false;
};

// A finished tile's accumulators with `te` applied; its columns start `col` columns into te's column bias and
// residual rows. Shared by the GEMM micro-kernel and the direct convolution kernel (conv.cpp).
template <typename T, int R, int NV>
__attribute__((always_inline)) inline void epilogue_in_registers(typename Tile<T>::S::V (&acc)[R][NV],
                                                                 const TileEpilogue<T>& te, int64_t col) {
    using S = typename Tile<T>::S;
    constexpr int L = S::L;
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
        const typename S::V rb = S::set1(te.row_bias ? te.row_bias[r * te.row_bias_stride] : T(0));
#pragma GCC unroll 8
        for (int v = 0; v < NV; ++v) {
            typename S::V x = acc[r][v];
            if (te.row_bias) x = S::add(x, rb);
            if (te.col_bias) x = S::add(x, S::load(te.col_bias + col + v * L));
            if (te.residual) x = S::add(x, S::load(te.residual + r * te.ldr + col + v * L));
            acc[r][v] = te.relu ? S::relu(x) : x;
        }
    }
}

// ---- the micro-kernel -------------------------------------------------------------------------------
// One row (batch-1 GEMV): NV accumulators alone would wait on the FMA latency; U k-interleaved sets (8
// accumulators in all) keep both FMA pipes busy while B streams from L2.
template <int R, int NV> constexpr int k_interleave() { return R > 1 || NV >= 8 ? 1 : NV >= 4 ? 2 : 8 / NV; }

// Software prefetch distance (k steps) of the A stream: pre-packed weights larger than the caches (ResNet-50's 7x7
// stage: 4-9 MB per layer, 100 MB per inference) come from memory, where the hardware prefetcher alone left the
// micro-kernel waiting (AVX-512, 12 1x1 layers 512 <-> 2048 on 7x7: 13.8 -> 8.1 ms; distance 16: 9.9, 128: 8.8).
constexpr int kPrefetchA = 64;
constexpr int kPrefetchB = 16;  // k steps: one row's B stream (the weights of a batch-1 layer, from L2) into L1
// C[R x NR] (=, or += when load_c) sum over k of a(r, k) * b(k, :), where a(r, k) = a[r * ars + k * aks]
// (packed panels: ars = 1, aks = panel height; an unpacked row-major A: ars = lda, aks = 1) and b(k, :)
// is NR contiguous elements at b + k * bks. R <= MR rows are all valid; all NR columns are written. U is the
// k-interleave: a column's sum must not depend on where the column falls (a right-edge tile runs NV = 1), or
// output columns with equal weights give unequal outputs (a model zoo classifier's tied logits did), so edge
// tiles take the full tiles' U.
template <typename T, int R, int NV = Tile<T>::NV, int U = k_interleave<R, NV>()>
__attribute__((always_inline)) inline void micro_kernel(int64_t kc, const T* __restrict a, int64_t ars, int64_t aks,
                                                         const T* __restrict b, int64_t bks, T* c, int64_t ldc,
                                                         bool load_c, const TileEpilogue<T>* te = nullptr) {
    using S = typename Tile<T>::S;
    constexpr int L = S::L;
    typename S::V acc[R][NV];
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
        for (int v = 0; v < NV; ++v) acc[r][v] = S::zero();
    // The tile of C is read (load_c) and written after the k loop: fetch it now, so that its cache misses (a C
    // larger than L2 is streamed once per KC block) overlap the multiply-adds (2048^3: 53-62 -> 67-78 GFLOP/s).
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
        __builtin_prefetch(c + r * ldc, 1, 3);
        __builtin_prefetch(c + r * ldc + NV * L - 1, 1, 3);
    }
    // and so is the residual the epilogue adds: R rows a whole plane apart, which no hardware prefetcher follows
    // (ResNet-50's 1x1 64 -> 256 layers with their Sum: 0.96-1.05 ms in the model, 0.50 ms without the residual)
    if (te && te->residual) {
#pragma GCC unroll 16
        for (int r = 0; r < R; ++r) {
            __builtin_prefetch(te->residual + r * te->ldr, 0, 3);
            __builtin_prefetch(te->residual + r * te->ldr + NV * L - 1, 0, 3);
        }
    }
    int64_t k = 0;
    if constexpr (U > 1) {
        typename S::V part[U][NV];
#pragma GCC unroll 8
        for (int u = 0; u < U; ++u)
#pragma GCC unroll 8
            for (int v = 0; v < NV; ++v) part[u][v] = S::zero();
        for (; k + U <= kc; k += U) {
#pragma GCC unroll 8
            for (int u = 0; u < U; ++u) {
                const typename S::V av = S::set1(a[u * aks]);
#pragma GCC unroll 8
                for (int v = 0; v < NV; ++v) {
                    __builtin_prefetch(b + (u + kPrefetchB) * bks + v * L);
                    part[u][v] = S::fma(av, S::load(b + u * bks + v * L), part[u][v]);
                }
            }
            a += U * aks;
            b += U * bks;
        }
#pragma GCC unroll 8
        for (int u = 0; u < U; ++u)
#pragma GCC unroll 8
            for (int v = 0; v < NV; ++v) acc[0][v] = S::add(acc[0][v], part[u][v]);
    }
    for (; k < kc; ++k) {
        __builtin_prefetch(a + kPrefetchA * aks);
#pragma GCC unroll 8
        for (int v = 0; v < NV; ++v) __builtin_prefetch(b + kPrefetchB * bks + v * L);
        typename S::V bv[NV];
#pragma GCC unroll 8
        for (int v = 0; v < NV; ++v) bv[v] = S::load(b + v * L);
#pragma GCC unroll 16
        for (int r = 0; r < R; ++r) {
            const typename S::V av = S::set1(a[r * ars]);
#pragma GCC unroll 8
            for (int v = 0; v < NV; ++v) acc[r][v] = S::fma(av, bv[v], acc[r][v]);
        }
        a += aks;
        b += bks;
    }
    if (load_c) {
#pragma GCC unroll 16
        for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
            for (int v = 0; v < NV; ++v) acc[r][v] = S::add(acc[r][v], S::load(c + r * ldc + v * L));
    }
    if (te) epilogue_in_registers<T, R, NV>(acc, *te, 0);
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
        for (int v = 0; v < NV; ++v) S::store(c + r * ldc + v * L, acc[r][v]);
}

template <typename T, int R, int NV, int U = k_interleave<R, NV>()>
__attribute__((noinline)) void micro_kernel_rows(int64_t kc, const T* a, int64_t ars, int64_t aks, const T* b,
                                                 int64_t bks, T* c, int64_t ldc, bool load_c,
                                                 const TileEpilogue<T>* te = nullptr) {
    micro_kernel<T, R, NV, U>(kc, a, ars, aks, b, bks, c, ldc, load_c, te);
}

// rows <= MR; NV = 1 computes only the first vector of columns (right edges at most one vector wide)
template <typename T, int NV = Tile<T>::NV, int R = Tile<T>::MR>
inline void kernel_dispatch(int rows, int64_t kc, const T* a, int64_t ars, int64_t aks, const T* b, int64_t bks, T* c,
                            int64_t ldc, bool load_c, const TileEpilogue<T>* te = nullptr) {
    if constexpr (R > 1) {
        if (rows < R) return kernel_dispatch<T, NV, R - 1>(rows, kc, a, ars, aks, b, bks, c, ldc, load_c, te);
    }
    micro_kernel_rows<T, R, NV, k_interleave<R, Tile<T>::NV>()>(kc, a, ars, aks, b, bks, c, ldc, load_c, te);
}

// ---- epilogue over a finished tile (still in L1) ----------------------------------------------------
template <typename T> inline T activate(Act act, T v, T p0, T p1) {
    switch (act) {
        // the same formulas (and NaN behaviour) as the unfused elementwise ops in ops/elementwise.py
        case Act::Relu: return v < T(0) ? T(0) : v;
        case Act::Clip: return minimum(maximum(v, p0), p1);
        case Act::LeakyRelu: return v < T(0) ? v * p0 : v;
        case Act::HardSigmoid: return std::max(T(0), std::min(T(1), p0 * v + p1));
        case Act::HardSwish: return v * std::max(T(0), std::min(T(1), v / T(6) + T(0.5)));
        default: break;
    }
    if constexpr (std::is_floating_point_v<T>) {
        switch (act) {
            case Act::Sigmoid: return vm::sigmoid<T>(v);
            case Act::Tanh: return vm::tanh<T>(v);
            default: break;
        }
    }
    return v;
}

// Applies one fixed activation along a row: with `act` a constant the switch above folds away and the
// loop vectorises (vmath.h's scalar functions are branch-free).
template <Act act, typename T> inline void activate_row(T* row, int64_t cols, T p0, T p1) {
    for (int64_t j = 0; j < cols; ++j) row[j] = activate(act, row[j], p0, p1);
}

template <typename T>
void apply_epilogue(const Epilogue<T>& ep, T* c, int64_t ldc, int64_t i0, int64_t j0, int64_t rows, int64_t cols) {
    for (int64_t r = 0; r < rows; ++r) {
        T* row = c + r * ldc;
        const int64_t i = i0 + r;
        if (ep.alpha != T(1))
            for (int64_t j = 0; j < cols; ++j) row[j] *= ep.alpha;
        if (ep.bias) {
            const T* bias = ep.bias + i * ep.bias_rs + j0 * ep.bias_cs;
            if (ep.bias_cs == 0) {
                const T add = ep.beta * bias[0];
                for (int64_t j = 0; j < cols; ++j) row[j] += add;
            } else if (ep.bias_cs == 1 && ep.beta == T(1)) {
                for (int64_t j = 0; j < cols; ++j) row[j] += bias[j];
            } else {
                for (int64_t j = 0; j < cols; ++j) row[j] += ep.beta * bias[j * ep.bias_cs];
            }
        }
        if (ep.residual) {
            const T* res = ep.residual + i * ep.ldr + j0;
            for (int64_t j = 0; j < cols; ++j) row[j] += res[j];
        }
        switch (ep.act) {
            case Act::None: break;
            case Act::Relu:
                for (int64_t j = 0; j < cols; ++j) row[j] = row[j] < T(0) ? T(0) : row[j];
                break;
            case Act::Clip:
                for (int64_t j = 0; j < cols; ++j) row[j] = minimum(maximum(row[j], ep.p0), ep.p1);
                break;
            case Act::Sigmoid: activate_row<Act::Sigmoid>(row, cols, ep.p0, ep.p1); break;
            case Act::Tanh: activate_row<Act::Tanh>(row, cols, ep.p0, ep.p1); break;
            default:
                for (int64_t j = 0; j < cols; ++j) row[j] = activate(ep.act, row[j], ep.p0, ep.p1);
        }
    }
}

template <typename T> inline bool epilogue_empty(const Epilogue<T>& ep) {
    return ep.alpha == T(1) && !ep.bias && !ep.residual && ep.act == Act::None;
}

// ---- per-thread packing buffers ---------------------------------------------------------------------
// Grown once per thread to the largest block it has packed, then reused: nothing is allocated per call
// after the first inference. 64-byte aligned.
inline void* thread_buffer(int which, size_t bytes) {
    struct Buffers {  // 0, 1: the kernels' (packing, padded planes); 2, 3: a caller's around kernels (conv2d_max_pool);
                      // 4: conv.cpp's columns of a float64 convolution (conv_gemm), conv2d_pointwise_t's product
        void* p[5] = {nullptr, nullptr, nullptr, nullptr, nullptr};
        size_t size[5] = {0, 0, 0, 0, 0};
        ~Buffers() { for (void* q : p) std::free(q); }
    };
    static thread_local Buffers buffers;
    if (buffers.size[which] < bytes) {
        std::free(buffers.p[which]);
        const size_t rounded = (bytes + 4095) / 4096 * 4096;
        buffers.p[which] = std::aligned_alloc(64, rounded);
        buffers.size[which] = buffers.p[which] ? rounded : 0;
    }
    return buffers.p[which];
}

// ---- operands ---------------------------------------------------------------------------------------
// A: element (i, k) at p[i * rs + k * cs], or pre-packed in kPackRows-row panels [K][kPackRows].
template <typename T> struct AOperand {
    const T* p;
    int64_t rs, cs;
    bool packed;
};

// B sources pack a [kc x nc] block starting at (k0, j0) into NR-wide panels [kc][NR] (zero-padded).
template <typename T> struct StridedB {
    const T* p;
    int64_t rs, cs;
    // row-major B read in place (no packing) when it is used by a few rows of A only
    const T* direct() const { return cs == 1 ? p : nullptr; }
    void pack(int64_t k0, int64_t kc, int64_t j0, int64_t nc, T* dst) const {
        constexpr int NR = tile_nr<T>();
        for (int64_t j = 0; j < nc; j += NR) {
            const int64_t w = std::min<int64_t>(NR, nc - j);
            T* panel = dst + j * kc;
            if (cs == 1) {
                for (int64_t k = 0; k < kc; ++k) {
                    const T* src = p + (k0 + k) * rs + j0 + j;
                    T* out = panel + k * NR;
                    for (int64_t jj = 0; jj < w; ++jj) out[jj] = src[jj];
                    for (int64_t jj = w; jj < NR; ++jj) out[jj] = T(0);
                }
            } else {  // a transposed B (rows of B^T contiguous): read along k, write down the panel
                for (int64_t jj = 0; jj < NR; ++jj) {
                    if (jj >= w) {
                        for (int64_t k = 0; k < kc; ++k) panel[k * NR + jj] = T(0);
                        continue;
                    }
                    const T* src = p + k0 * rs + (j0 + j + jj) * cs;
                    for (int64_t k = 0; k < kc; ++k) panel[k * NR + jj] = src[k * rs];
                }
            }
        }
    }
};

template <typename T>
void pack_a(const AOperand<T>& A, int64_t i0, int64_t mc, int64_t k0, int64_t kc, T* dst) {
    constexpr int MR = Tile<T>::MR;
    for (int64_t i = 0; i < mc; i += MR) {
        const int64_t h = std::min<int64_t>(MR, mc - i);
        T* panel = dst + i * kc;
        if (A.cs == 1) {
            for (int64_t r = 0; r < MR; ++r) {
                if (r >= h) {
                    for (int64_t k = 0; k < kc; ++k) panel[k * MR + r] = T(0);
                    continue;
                }
                const T* src = A.p + (i0 + i + r) * A.rs + k0;
                for (int64_t k = 0; k < kc; ++k) panel[k * MR + r] = src[k];
            }
        } else {
            for (int64_t k = 0; k < kc; ++k) {
                const T* src = A.p + (i0 + i) * A.rs + (k0 + k) * A.cs;
                T* out = panel + k * MR;
                for (int64_t r = 0; r < h; ++r) out[r] = src[r * A.rs];
                for (int64_t r = h; r < MR; ++r) out[r] = T(0);
            }
        }
    }
}

// ---- the driver -------------------------------------------------------------------------------------
// Rows of C (in MR tiles) up to which a row-major B is read in place rather than packed. 1x1 convolutions, AVX-512
// (Emerald Rapids), 1 thread: 128 -> 16 at 55x55 172 -> 102 us, 256 -> 32 at 27x27 109 -> 89, 16 -> 64 at 55x55 67 ->
// 63, 512 -> 64 at 13x13 94 -> 87; at 128 rows it was mixed (K = 256 at 27x27 2-3% slower, K = 512 at 13x13 3% faster).
constexpr int64_t kInPlaceTiles = 6;

// Computes rows [m0, m1) x columns [n0, n1) of C on the calling thread. B is either pre-packed
// (b_packed != nullptr: panel_width<T>()-column panels over the full K) or packed per block by `bsrc`.
template <typename T, typename BSource>
void gemm_serial(int64_t m0, int64_t m1, int64_t n0, int64_t n1, int64_t K, const AOperand<T>& A, const T* b_packed,
                 const BSource& bsrc, T* C, int64_t ldc, const Epilogue<T>& ep) {
    constexpr int MR = Tile<T>::MR, NR = tile_nr<T>();
    constexpr int64_t KC = Tile<T>::KC, MC = Tile<T>::MC, NC = Tile<T>::NC, W = panel_width<T>();
    const int64_t M = m1 - m0;
    // A is packed when it is reused across enough columns to pay for the copy; a few rows, or rows used by
    // only a few column tiles (attention's narrow products), are read in place
    const bool pack_a_block = !A.packed && M >= MR && (n1 - n0 > 4 * NR || A.cs != 1);
    const bool has_epilogue = !epilogue_empty(ep);
    // the common epilogues run in the micro-kernel, on full tiles of the last K block (1x1 convolutions with
    // bias and ReLU: a separate pass over each tile cost them a quarter of their time)
    const bool in_registers = has_epilogue && ep.alpha == T(1) && (ep.act == Act::None || ep.act == Act::Relu) &&
                              (!ep.bias || (ep.beta == T(1) && (ep.bias_cs == 0 || (ep.bias_cs == 1 && ep.bias_rs == 0))));
    // a few rows against a row-major B (a GEMV on activations): packing B would cost as much as the product
    const T* b_direct = !b_packed && M < MR ? bsrc.direct() : nullptr;
    // a few tiles of rows (1x1 convolutions with 16-64 output channels): each packed B panel would serve only those,
    // so whole panels are read in place (row stride bsrc.rs) and only a partial last panel is packed
    const T* b_inplace = !b_packed && !b_direct && M <= kInPlaceTiles * MR ? bsrc.direct() : nullptr;
    alignas(64) T edge[MR * NR];
    if (b_packed && M < MR) {
        // a few rows (batch-1..5 inference) against pre-packed weights: each row runs down whole panels, so that
        // every k reads one contiguous panel row (W columns) and B streams at the cache's speed; n0 starts a panel
        constexpr int NVP = int(W / Tile<T>::S::L);
        alignas(64) T row_edge[W];
        for (int64_t i = m0; i < m1; ++i) {
            const T* arow = A.packed ? A.p + (i / kPackRows) * K * kPackRows + i % kPackRows : A.p + i * A.rs;
            const int64_t astep = A.packed ? kPackRows : A.cs;
            for (int64_t j = n0; j < n1; j += W) {
                const int64_t width = std::min(W, n1 - j);
                T* c = C + i * ldc + j;
                const T* b = b_packed + (j / W) * K * W;
                if (width == W) {
                    micro_kernel_rows<T, 1, NVP>(K, arow, 0, astep, b, W, c, ldc, ep.accumulate);
                } else {
                    micro_kernel_rows<T, 1, NVP>(K, arow, 0, astep, b, W, row_edge, W, false);
                    for (int64_t jj = 0; jj < width; ++jj) c[jj] = ep.accumulate ? c[jj] + row_edge[jj] : row_edge[jj];
                }
                if (has_epilogue) apply_epilogue(ep, c, ldc, i, j, 1, width);
            }
        }
        return;
    }
    if (b_direct) {
        // a few rows times an unpacked row-major B: row-by-row axpy over whole rows of B, which streams B
        // once in memory order (a k-inner tile would walk B down its columns, one cache line per row)
        for (int64_t i = m0; i < m1; ++i) {
            T* c = C + i * ldc + n0;
            const int64_t width = n1 - n0;
            if (!ep.accumulate)
                for (int64_t j = 0; j < width; ++j) c[j] = T(0);
            // element (i, k) of A: pre-packed panels or strides
            const T* arow = A.packed ? A.p + (i / kPackRows) * K * kPackRows + i % kPackRows : A.p + i * A.rs;
            const int64_t astep = A.packed ? kPackRows : A.cs;
            for (int64_t k = 0; k < K; ++k) {
                const T av = arow[k * astep];
                const T* b = b_direct + k * bsrc.rs + n0;
                for (int64_t j = 0; j < width; ++j) c[j] += av * b[j];
            }
            if (has_epilogue) apply_epilogue(ep, c, ldc, i, n0, 1, width);
        }
        return;
    }
    for (int64_t jc = n0; jc < n1; jc += NC) {
        const int64_t nc = std::min(NC, n1 - jc);
        for (int64_t pc = 0; pc < K; pc += KC) {
            const int64_t kc = std::min(KC, K - pc);
            const bool first = pc == 0, last = pc + kc == K;
            const bool load_c = !first || ep.accumulate;
            T* bbuf = nullptr;
            const int64_t whole = b_inplace ? nc / NR * NR : 0;  // columns of this block read in place
            if (!b_packed && whole < nc) {
                bbuf = static_cast<T*>(thread_buffer(1, sizeof(T) * size_t(kc) * size_t((nc - whole + NR - 1) / NR * NR)));
                bsrc.pack(pc, kc, jc + whole, nc - whole, bbuf);
            }
            for (int64_t ic = m0; ic < m1; ic += MC) {
                const int64_t mc = std::min(MC, m1 - ic);
                T* abuf = nullptr;
                if (pack_a_block) {
                    abuf = static_cast<T*>(thread_buffer(0, sizeof(T) * size_t(kc) * size_t((mc + MR - 1) / MR * MR)));
                    pack_a(A, ic, mc, pc, kc, abuf);
                }
                for (int64_t jr = 0; jr < nc; jr += NR) {
                    const int64_t j = jc + jr, nr = std::min<int64_t>(NR, nc - jr);
                    const T* b = b_packed ? b_packed + (j / W) * K * W + pc * W + (j % W)
                                 : jr < whole ? b_inplace + pc * bsrc.rs + j : bbuf + (jr - whole) * kc;
                    const int64_t bks = b_packed ? W : jr < whole ? bsrc.rs : NR;
                    for (int64_t ir = 0; ir < mc; ir += MR) {
                        const int64_t i = ic + ir;
                        const int rows = int(std::min<int64_t>(MR, mc - ir));
                        const T* a;
                        int64_t ars, aks;
                        if (abuf) { a = abuf + ir * kc; ars = 1; aks = MR; }
                        else if (A.packed) { a = A.p + (i / kPackRows) * K * kPackRows + pc * kPackRows + (i % kPackRows); ars = 1; aks = kPackRows; }
                        else { a = A.p + i * A.rs + pc * A.cs; ars = A.rs; aks = A.cs; }
                        T* c = C + i * ldc + j;
                        if (nr == NR && last && in_registers) {
                            TileEpilogue<T> te;
                            if (ep.bias && ep.bias_cs == 0) {
                                te.row_bias = ep.bias + i * ep.bias_rs;
                                te.row_bias_stride = ep.bias_rs;
                            } else if (ep.bias) {
                                te.col_bias = ep.bias + j;
                            }
                            if (ep.residual) {
                                te.residual = ep.residual + i * ep.ldr + j;
                                te.ldr = ep.ldr;
                            }
                            te.relu = ep.act == Act::Relu;
                            kernel_dispatch<T>(rows, kc, a, ars, aks, b, bks, c, ldc, load_c, &te);
                            continue;
                        }
                        if (nr == NR) {
                            kernel_dispatch<T>(rows, kc, a, ars, aks, b, bks, c, ldc, load_c);
                        } else {  // right edge: the tile goes through a buffer, only nr columns reach C
                            if (nr <= Tile<T>::S::L)  // half the FMAs of a full tile
                                kernel_dispatch<T, 1>(rows, kc, a, ars, aks, b, bks, edge, NR, false);
                            else
                                kernel_dispatch<T>(rows, kc, a, ars, aks, b, bks, edge, NR, false);
                            for (int r = 0; r < rows; ++r)
                                for (int64_t jj = 0; jj < nr; ++jj)
                                    c[r * ldc + jj] = load_c ? c[r * ldc + jj] + edge[r * NR + jj] : edge[r * NR + jj];
                        }
                        if (last && has_epilogue) apply_epilogue(ep, c, ldc, i, j, rows, nr);
                    }
                }
            }
        }
    }
}

// Work (multiply-adds) below which a GEMM stays on one thread (a region costs ~0.1 us to start).
constexpr int64_t kGemmParallelWork = int64_t(1) << 15;

// Splits C between the threads: along N (in NR-column strips) when there are enough columns, so that
// each thread streams its own share of B (weights stay in that core's L2 across calls); otherwise along M.
template <typename T, typename BSource>
void gemm_run(int64_t M, int64_t N, int64_t K, const AOperand<T>& A, const T* b_packed, const BSource& bsrc, T* C,
              int64_t ldc, const Epilogue<T>& ep) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0) {
        for (int64_t i = 0; i < M; ++i)
            for (int64_t j = 0; j < N; ++j) C[i * ldc + j] = ep.accumulate ? C[i * ldc + j] : T(0);
        if (!epilogue_empty(ep)) apply_epilogue(ep, C, ldc, 0, 0, M, N);
        return;
    }
    constexpr int MR = Tile<T>::MR, NR = tile_nr<T>();
    int threads = M * N * K >= kGemmParallelWork && !in_parallel() ? num_threads() : 1;
    // the few-rows path over pre-packed B (gemm_serial) works in whole panels: split N in panels there
    const int64_t strip = b_packed && M < MR ? panel_width<T>() : NR;
    const int64_t m_units = (M + MR - 1) / MR, n_units = (N + strip - 1) / strip;
    if (threads > 1 && std::max(m_units, n_units) < 2) threads = 1;
    if (threads <= 1) return gemm_serial(0, M, 0, N, K, A, b_packed, bsrc, C, ldc, ep);
    // along N when each thread gets >= 2 strips and M is small (or N offers the better balance)
    const bool split_n = (n_units >= 2 * threads || M < MR) && (m_units < 4 * threads || n_units >= m_units);
    parallel_for(split_n ? n_units : m_units, true, [&](int64_t begin, int64_t end) {
        if (split_n)
            gemm_serial(0, M, begin * strip, std::min(N, end * strip), K, A, b_packed, bsrc, C, ldc, ep);
        else
            gemm_serial(begin * MR, std::min(M, end * MR), 0, N, K, A, b_packed, bsrc, C, ldc, ep);
    });
}

}  // namespace detail
}  // namespace exporter_rt

#endif  // EXPORTER_GEMM_DRIVER_H
