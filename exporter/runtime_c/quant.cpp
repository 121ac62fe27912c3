// exporter runtime: linear quantisation and integer products (see quant.h). The integer GEMM runs on B
// packed into int16 pairs of rows (zero point already subtracted): two rows of A by one 32-column panel at a
// time, their sums in registers for the whole of K, one multiply-add of int16 pairs per 8 sums and 2 k
// (vpmaddwd on AVX2; the portable loop is the same arithmetic).
#include <algorithm>
#include <limits>

#if !defined(EXPORTER_PORTABLE_KERNELS) && defined(__AVX2__)
#include <immintrin.h>
#endif

#include "exporter_runtime.h"

namespace exporter_rt {

namespace {

template <typename Q> constexpr float qmin() {
    if constexpr (is_small_int<Q>::value) return float(Q::kMin);
    else return float(std::numeric_limits<Q>::min());
}
template <typename Q> constexpr float qmax() {
    if constexpr (is_small_int<Q>::value) return float(Q::kMax);
    else return float(std::numeric_limits<Q>::max());
}
template <typename Q> constexpr bool kFloat8 = std::is_same_v<Q, float8e4m3fn> || std::is_same_v<Q, float8e4m3fnuz> ||
                                               std::is_same_v<Q, float8e5m2> || std::is_same_v<Q, float8e5m2fnuz>;
template <typename Q> constexpr bool kFloatQ = kFloat8<Q> || std::is_same_v<Q, float4e2m1fn>;

// In float: for 8- and 16-bit Q every sum that can land inside [qmin, qmax] is exact, and one that does not
// saturates the same either way. NaN goes to qmin, as ONNX's reference gets it (NaN -> int32 min -> clip).
template <typename Q> inline Q quantize_one(float x, float scale, float zp, bool saturate = true) {
    if constexpr (kFloat8<Q>) {
        return Q::from(double(x / scale), saturate);
    } else if constexpr (kFloatQ<Q>) {
        return Q(x / scale + zp);
    } else {
        float v = std::nearbyint(x / scale) + zp;
        v = v >= qmin<Q>() ? v : qmin<Q>();
        v = v <= qmax<Q>() ? v : qmax<Q>();
        return Q(v);
    }
}

}  // namespace

template <typename Q>
void quantize_linear(const QuantAxis& a, const float* x, const float* scale, const Q* zp, Q* y, bool saturate) {
    for (int64_t o = 0; o < a.outer; ++o)
        for (int64_t k = 0; k < a.n; ++k) {
            const int64_t at = (o * a.n + k) * a.inner, s_at = o * a.so + (k / a.block) * a.sn;
            if (a.si == 0) {  // one scale for the whole row: a flat loop the compiler vectorises
                const float s = scale[s_at], z = zp ? float(zp[s_at]) : 0.0f;
                for (int64_t i = 0; i < a.inner; ++i) y[at + i] = quantize_one<Q>(x[at + i], s, z, saturate);
            } else {
                for (int64_t i = 0; i < a.inner; ++i)
                    y[at + i] = quantize_one<Q>(x[at + i], scale[s_at + i * a.si],
                                                zp ? float(zp[s_at + i * a.si]) : 0.0f, saturate);
            }
        }
}

template <typename Q, typename S>
void dequantize_linear(const QuantAxis& a, const Q* x, const S* scale, const Q* zp, S* y) {
    if (kFloatQ<Q>) zp = nullptr;  // ONNX's reference ignores a float zero point
    for (int64_t o = 0; o < a.outer; ++o)
        for (int64_t k = 0; k < a.n; ++k) {
            const int64_t at = (o * a.n + k) * a.inner, s_at = o * a.so + (k / a.block) * a.sn;
            if (a.si == 0) {
                const float s = float(scale[s_at]), z = zp ? float(zp[s_at]) : 0.0f;
                for (int64_t i = 0; i < a.inner; ++i) y[at + i] = S((float(x[at + i]) - z) * s);
            } else {
                for (int64_t i = 0; i < a.inner; ++i) {
                    const int64_t q = s_at + i * a.si;
                    y[at + i] = S((float(x[at + i]) - (zp ? float(zp[q]) : 0.0f)) * float(scale[q]));
                }
            }
        }
}

void dynamic_quantize_linear(const float* x, int64_t count, uint8_t* y, float* y_scale, uint8_t* y_zero_point) {
    float lo = 0.0f, hi = 0.0f;  // the range always holds 0, so that 0 is exactly representable
    for (int64_t i = 0; i < count; ++i) {
        lo = x[i] < lo ? x[i] : lo;
        hi = x[i] > hi ? x[i] : hi;
    }
    const float scale = (hi == lo ? 1.0f : hi - lo) / 255.0f;
    float zp = 0.0f - lo / scale;
    zp = std::nearbyint(zp < 0.0f ? 0.0f : (zp > 255.0f ? 255.0f : zp));
    for (int64_t i = 0; i < count; ++i) y[i] = quantize_one<uint8_t>(x[i], scale, zp);
    *y_scale = scale;
    *y_zero_point = uint8_t(zp);
}

template <typename TB>
void qpack_b(int64_t K, int64_t N, const TB* B, int64_t ldb, const TB* b_zp, int64_t b_zp_cs, int16_t* packed) {
    const int64_t K2 = (K + 1) / 2, panels = (N + kQPanel - 1) / kQPanel;
    for (int64_t panel = 0; panel < panels; ++panel)
        for (int64_t p = 0; p < K2; ++p) {
            int16_t* dst = packed + (panel * K2 + p) * 2 * kQPanel;
            for (int64_t u = 0; u < kQPanel; ++u) {
                const int64_t j = panel * kQPanel + u;
                const int16_t zp = b_zp && j < N ? int16_t(b_zp[j * b_zp_cs]) : int16_t(0);
                for (int64_t h = 0; h < 2; ++h) {
                    const int64_t k = 2 * p + h;
                    dst[2 * u + h] = j < N && k < K ? int16_t(int16_t(B[k * ldb + j]) - zp) : int16_t(0);
                }
            }
        }
}

namespace {

// (lo, hi) as one 32-bit word: the pair of A values that multiplies a pair of packed B rows.
inline int32_t pair16(int32_t lo, int32_t hi) { return int32_t(uint32_t(uint16_t(lo)) | (uint32_t(uint16_t(hi)) << 16)); }

// acc[r][u] = sum_k (a[r][k] - az[r]) * B'[k][panel column u] for R rows of A and one packed panel.
template <int R, typename TA>
void qpanel(int64_t K, const TA* const* a, const int32_t* az, const int16_t* bp, int32_t (*acc)[kQPanel]) {
    const int64_t K2 = (K + 1) / 2, full = K / 2;
    auto pair = [&](int r, int64_t p) {
        const int32_t lo = int32_t(a[r][2 * p]) - az[r], hi = p < full ? int32_t(a[r][2 * p + 1]) - az[r] : 0;
        return pair16(lo, hi);
    };
#if !defined(EXPORTER_PORTABLE_KERNELS) && defined(__AVX2__)
    // R rows x 4 vectors of 8 int32 sums stay in registers for the whole of K
    __m256i sum[R][4];
    for (int r = 0; r < R; ++r)
        for (int v = 0; v < 4; ++v) sum[r][v] = _mm256_setzero_si256();
    for (int64_t p = 0; p < K2; ++p) {
        const int16_t* b = bp + p * 2 * kQPanel;
        __m256i bv[4];
        for (int v = 0; v < 4; ++v) bv[v] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + 16 * v));
        for (int r = 0; r < R; ++r) {
            const __m256i av = _mm256_set1_epi32(pair(r, p));
            for (int v = 0; v < 4; ++v) sum[r][v] = _mm256_add_epi32(sum[r][v], _mm256_madd_epi16(av, bv[v]));
        }
    }
    for (int r = 0; r < R; ++r)
        for (int v = 0; v < 4; ++v) _mm256_storeu_si256(reinterpret_cast<__m256i*>(acc[r] + 8 * v), sum[r][v]);
#else
    for (int r = 0; r < R; ++r) std::fill(acc[r], acc[r] + kQPanel, 0);
    for (int64_t p = 0; p < K2; ++p) {
        const int16_t* b = bp + p * 2 * kQPanel;
        for (int r = 0; r < R; ++r) {
            const int32_t w = pair(r, p), lo = int16_t(w & 0xffff), hi = int16_t(uint32_t(w) >> 16);
            for (int64_t u = 0; u < kQPanel; ++u) acc[r][u] += lo * int32_t(b[2 * u]) + hi * int32_t(b[2 * u + 1]);
        }
    }
#endif
}

// Row i's finished sums for columns [j0, j0 + nb): stored, or requantised (double, as ONNX's reference
// multiplies the int32 sums by the float multiplier).
template <typename TC>
void finish_row(const int32_t* acc, int64_t i, int64_t j0, int64_t nb, TC* c, const Requant* rq) {
    if constexpr (std::is_same_v<TC, int32_t>) {
        for (int64_t u = 0; u < nb; ++u) c[u] = acc[u];
    } else {
        const bool half = rq->a_scale_h != nullptr;
        const float as = half ? float(rq->a_scale_h[i * rq->a_scale_rs]) : rq->a_scale[i * rq->a_scale_rs];
        const int32_t bias = rq->bias ? rq->bias[i] : 0;
        const double zp = double(rq->y_zero_point);
        constexpr double lo = double(std::numeric_limits<TC>::min()), hi = double(std::numeric_limits<TC>::max());
        for (int64_t u = 0; u < nb; ++u) {
            // float16: a float16 product is exact in float and a float quotient of float16 values rounds to
            // float16 as a float16 division would (24 >= 2 * 11 + 2 bits)
            const float m = half ? float(_Float16(float(_Float16(as * float(rq->b_scale_h[(j0 + u) * rq->b_scale_cs]))) /
                                                  rq->y_scale))
                                 : as * rq->b_scale[(j0 + u) * rq->b_scale_cs] / rq->y_scale;
            double v = std::nearbyint(double(acc[u] + bias) * double(m)) + zp;
            v = v >= lo ? v : lo;
            v = v <= hi ? v : hi;
            c[u] = TC(v);
        }
    }
}

}  // namespace

template <typename TA, typename TC>
void qgemm(int64_t M, int64_t N, int64_t K, const TA* A, int64_t lda, const TA* a_zp, int64_t a_zp_rs,
           const int16_t* packed_B, TC* C, int64_t ldc, const Requant* rq) {
    const int64_t panels = (N + kQPanel - 1) / kQPanel, K2 = (K + 1) / 2, row_pairs = (M + 1) / 2;
    const bool parallel = M * N * K >= kParallelWork;
    // one task per (panel, pair of rows): static chunks give each thread consecutive rows of one panel,
    // which stays in cache
    parallel_for(panels * row_pairs, parallel, [&](int64_t begin, int64_t end) {
        for (int64_t unit = begin; unit < end; ++unit) {
            const int64_t panel = unit / row_pairs, ip = unit % row_pairs;
            const int64_t i0 = 2 * ip, rows = std::min<int64_t>(2, M - i0);
            const int64_t j0 = panel * kQPanel, nb = std::min(kQPanel, N - j0);
            const TA* a[2] = {A + i0 * lda, A + (i0 + rows - 1) * lda};
            const int32_t az[2] = {a_zp ? int32_t(a_zp[i0 * a_zp_rs]) : 0,
                                   a_zp ? int32_t(a_zp[(i0 + rows - 1) * a_zp_rs]) : 0};
            alignas(32) int32_t acc[2][kQPanel];
            const int16_t* bp = packed_B + panel * K2 * 2 * kQPanel;
            if (rows == 2) qpanel<2, TA>(K, a, az, bp, acc);
            else qpanel<1, TA>(K, a, az, bp, acc);
            for (int64_t r = 0; r < rows; ++r) finish_row<TC>(acc[r], i0 + r, j0, nb, C + (i0 + r) * ldc + j0, rq);
        }
    });
}

template <typename TX, typename TW, typename TY>
void qconv2d(const Conv2dShape& s, const TX* x, const TX* x_zp, const TW* w, const TW* w_zp, int64_t w_zp_stride,
             TY* y, const Requant* rq, int16_t* scratch) {
    const int64_t cg = s.c / s.groups, mg = s.m / s.groups, K = cg * s.kh * s.kw, P = s.oh * s.ow, plane = s.h * s.w;
    const int64_t K2 = (K + 1) / 2;
    const int16_t xz = x_zp ? int16_t(x_zp[0]) : int16_t(0);
    for (int64_t n = 0; n < s.n; ++n)
        for (int64_t g = 0; g < s.groups; ++g) {
            const TX* xg = x + (n * s.c + g * cg) * plane;
            // im2col straight into the packed layout: row k = (channel, ki, kj) of column j = (oy, ox) goes to
            // panel j / kQPanel, pair k / 2; outside the image the padding is x's zero point, so 0 after it
            std::fill(scratch, scratch + qpacked_size(K, P), int16_t(0));
            for (int64_t cc = 0; cc < cg; ++cc)
                for (int64_t ki = 0; ki < s.kh; ++ki)
                    for (int64_t kj = 0; kj < s.kw; ++kj) {
                        const int64_t k = (cc * s.kh + ki) * s.kw + kj;
                        int16_t* rowk = scratch + (k / 2) * 2 * kQPanel + (k & 1);
                        const TX* in = xg + cc * plane;
                        for (int64_t oy = 0; oy < s.oh; ++oy) {
                            const int64_t iy = oy * s.sh - s.pt + ki * s.dh;
                            if (iy < 0 || iy >= s.h) continue;
                            for (int64_t ox = 0; ox < s.ow; ++ox) {
                                const int64_t ix = ox * s.sw - s.pl + kj * s.dw, j = oy * s.ow + ox;
                                if (ix >= 0 && ix < s.w)
                                    rowk[(j / kQPanel) * K2 * 2 * kQPanel + 2 * (j % kQPanel)] =
                                        int16_t(int16_t(in[iy * s.w + ix]) - xz);
                            }
                        }
                    }
            Requant group_rq;
            if (rq) {  // this group's output channels: its rows of the per-channel scales and bias
                group_rq = *rq;
                group_rq.a_scale += g * mg * rq->a_scale_rs;  // (QLinearConv: float32 scales only)
                if (rq->bias) group_rq.bias += g * mg;
            }
            qgemm<TW, TY>(mg, P, K, w + g * mg * K, K, w_zp ? w_zp + g * mg * w_zp_stride : nullptr, w_zp_stride,
                          scratch, y + (n * s.m + g * mg) * P, P, rq ? &group_rq : nullptr);
        }
}

#define EXPORTER_QUANTIZE(Q)                                                                                   \
    template void quantize_linear<Q>(const QuantAxis&, const float*, const float*, const Q*, Q*, bool);            \
    template void dequantize_linear<Q, float>(const QuantAxis&, const Q*, const float*, const Q*, float*);          \
    template void dequantize_linear<Q, _Float16>(const QuantAxis&, const Q*, const _Float16*, const Q*, _Float16*);
EXPORTER_QUANTIZE(int8_t)
EXPORTER_QUANTIZE(uint8_t)
EXPORTER_QUANTIZE(int16_t)
EXPORTER_QUANTIZE(uint16_t)
EXPORTER_QUANTIZE(int4)
EXPORTER_QUANTIZE(uint4)
EXPORTER_QUANTIZE(int2)
EXPORTER_QUANTIZE(uint2)
EXPORTER_QUANTIZE(float4e2m1fn)
EXPORTER_QUANTIZE(float8e4m3fn)
EXPORTER_QUANTIZE(float8e4m3fnuz)
EXPORTER_QUANTIZE(float8e5m2)
EXPORTER_QUANTIZE(float8e5m2fnuz)
#undef EXPORTER_QUANTIZE
template void dequantize_linear<int32_t, float>(const QuantAxis&, const int32_t*, const float*, const int32_t*, float*);
template void dequantize_linear<int32_t, _Float16>(const QuantAxis&, const int32_t*, const _Float16*, const int32_t*,
                                                   _Float16*);

#define EXPORTER_QPRODUCT(TA, TX, TC)                                                                             \
    template void qconv2d<TX, TA, TC>(const Conv2dShape&, const TX*, const TX*, const TA*, const TA*, int64_t, TC*, \
                                      const Requant*, int16_t*);
#define EXPORTER_QPRODUCT_OUT(TA, TX) \
    EXPORTER_QPRODUCT(TA, TX, int32_t) EXPORTER_QPRODUCT(TA, TX, int8_t) EXPORTER_QPRODUCT(TA, TX, uint8_t)
EXPORTER_QPRODUCT_OUT(int8_t, int8_t)
EXPORTER_QPRODUCT_OUT(int8_t, uint8_t)
EXPORTER_QPRODUCT_OUT(uint8_t, int8_t)
EXPORTER_QPRODUCT_OUT(uint8_t, uint8_t)
#undef EXPORTER_QPRODUCT_OUT
#undef EXPORTER_QPRODUCT
#define EXPORTER_QGEMM(TA)                                                                                    \
    template void qpack_b<TA>(int64_t, int64_t, const TA*, int64_t, const TA*, int64_t, int16_t*);             \
    template void qgemm<TA, int32_t>(int64_t, int64_t, int64_t, const TA*, int64_t, const TA*, int64_t,        \
                                     const int16_t*, int32_t*, int64_t, const Requant*);                       \
    template void qgemm<TA, int8_t>(int64_t, int64_t, int64_t, const TA*, int64_t, const TA*, int64_t,         \
                                    const int16_t*, int8_t*, int64_t, const Requant*);                         \
    template void qgemm<TA, uint8_t>(int64_t, int64_t, int64_t, const TA*, int64_t, const TA*, int64_t,        \
                                     const int16_t*, uint8_t*, int64_t, const Requant*);
EXPORTER_QGEMM(int8_t)
EXPORTER_QGEMM(uint8_t)
#undef EXPORTER_QGEMM

}  // namespace exporter_rt
