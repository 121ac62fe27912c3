// exporter runtime: linear quantisation and integer products (see quant.h). The products keep a block of
// one row's int32 sums on the stack (kBlockN columns: L1) while B's [K x kBlockN] slice stays in cache for
// every row; the inner loops are plain widening multiply-adds that the compiler vectorises.
#include <algorithm>
#include <limits>

#include "exporter_runtime.h"

namespace exporter_rt {

namespace {

constexpr int64_t kBlockN = 512;

template <typename Q> constexpr float qmin() { return float(std::numeric_limits<Q>::min()); }
template <typename Q> constexpr float qmax() { return float(std::numeric_limits<Q>::max()); }

// In float: for 8- and 16-bit Q every sum that can land inside [qmin, qmax] is exact, and one that does not
// saturates the same either way. NaN goes to qmin, as ONNX's reference gets it (NaN -> int32 min -> clip).
template <typename Q> inline Q quantize_one(float x, float scale, float zp) {
    float v = std::nearbyint(x / scale) + zp;
    v = v >= qmin<Q>() ? v : qmin<Q>();
    v = v <= qmax<Q>() ? v : qmax<Q>();
    return Q(v);
}

}  // namespace

template <typename Q>
void quantize_linear(const QuantAxis& a, const float* x, const float* scale, const Q* zp, Q* y) {
    for (int64_t o = 0; o < a.outer; ++o)
        for (int64_t k = 0; k < a.n; ++k) {
            const int64_t at = (o * a.n + k) * a.inner, s_at = o * a.so + (k / a.block) * a.sn;
            if (a.si == 0) {  // one scale for the whole row: a flat loop the compiler vectorises
                const float s = scale[s_at], z = zp ? float(zp[s_at]) : 0.0f;
                for (int64_t i = 0; i < a.inner; ++i) y[at + i] = quantize_one<Q>(x[at + i], s, z);
            } else {
                for (int64_t i = 0; i < a.inner; ++i)
                    y[at + i] = quantize_one<Q>(x[at + i], scale[s_at + i * a.si], zp ? float(zp[s_at + i * a.si]) : 0.0f);
            }
        }
}

template <typename Q>
void dequantize_linear(const QuantAxis& a, const Q* x, const float* scale, const Q* zp, float* y) {
    for (int64_t o = 0; o < a.outer; ++o)
        for (int64_t k = 0; k < a.n; ++k) {
            const int64_t at = (o * a.n + k) * a.inner, s_at = o * a.so + (k / a.block) * a.sn;
            if (a.si == 0) {
                const float s = scale[s_at], z = zp ? float(zp[s_at]) : 0.0f;
                for (int64_t i = 0; i < a.inner; ++i) y[at + i] = (float(x[at + i]) - z) * s;
            } else {
                for (int64_t i = 0; i < a.inner; ++i) {
                    const int64_t q = s_at + i * a.si;
                    y[at + i] = (float(x[at + i]) - (zp ? float(zp[q]) : 0.0f)) * scale[q];
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

template <typename TA, typename TB, typename TC>
void qgemm(int64_t M, int64_t N, int64_t K, const TA* A, int64_t lda, const TA* a_zp, int64_t a_zp_rs, const TB* B,
           int64_t ldb, const TB* b_zp, int64_t b_zp_cs, TC* C, int64_t ldc, const Requant* rq) {
    const int64_t blocks = (N + kBlockN - 1) / kBlockN;
    const bool parallel = M * N * K >= kParallelWork;
    // one task per (column block, row): static chunks give each thread consecutive rows of a block, which
    // reuse its B slice
#pragma omp parallel for collapse(2) schedule(static) if (parallel)
    for (int64_t jb = 0; jb < blocks; ++jb)
        for (int64_t i = 0; i < M; ++i) {
            const int64_t j0 = jb * kBlockN, nb = std::min(kBlockN, N - j0);
            alignas(64) int32_t acc[kBlockN];
            std::fill(acc, acc + nb, 0);
            const int32_t az = a_zp ? int32_t(a_zp[i * a_zp_rs]) : 0;
            const TA* a = A + i * lda;
            // b's zero point is applied once at the end: sum_k a'_k (b_kj - bz_j) = sum_k a'_k b_kj - bz_j sum_k a'_k
            int32_t row_sum = 0;
            int64_t k = 0;
            for (; k + 4 <= K; k += 4) {  // four rows of B per pass: a quarter of the loads and stores of acc
                const int32_t a0 = int32_t(a[k]) - az, a1 = int32_t(a[k + 1]) - az, a2 = int32_t(a[k + 2]) - az,
                              a3 = int32_t(a[k + 3]) - az;
                row_sum += a0 + a1 + a2 + a3;
                const TB* b0 = B + k * ldb + j0;
                const TB *b1 = b0 + ldb, *b2 = b1 + ldb, *b3 = b2 + ldb;
                for (int64_t j = 0; j < nb; ++j)
                    acc[j] += a0 * int32_t(b0[j]) + a1 * int32_t(b1[j]) + a2 * int32_t(b2[j]) + a3 * int32_t(b3[j]);
            }
            for (; k < K; ++k) {
                const int32_t a0 = int32_t(a[k]) - az;
                row_sum += a0;
                const TB* b0 = B + k * ldb + j0;
                for (int64_t j = 0; j < nb; ++j) acc[j] += a0 * int32_t(b0[j]);
            }
            if (b_zp) {
                if (b_zp_cs == 0) {
                    const int32_t shift = int32_t(b_zp[0]) * row_sum;
                    for (int64_t j = 0; j < nb; ++j) acc[j] -= shift;
                } else {
                    for (int64_t j = 0; j < nb; ++j) acc[j] -= int32_t(b_zp[(j0 + j) * b_zp_cs]) * row_sum;
                }
            }
            TC* c = C + i * ldc + j0;
            if constexpr (std::is_same_v<TC, int32_t>) {
                for (int64_t j = 0; j < nb; ++j) c[j] = acc[j];
            } else {
                // double, as ONNX's reference multiplies the int32 sums by the float multiplier
                const float as = rq->a_scale[i * rq->a_scale_rs];
                const int32_t bias = rq->bias ? rq->bias[i] : 0;
                const double zp = double(rq->y_zero_point);
                constexpr double lo = double(std::numeric_limits<TC>::min()), hi = double(std::numeric_limits<TC>::max());
                for (int64_t j = 0; j < nb; ++j) {
                    const float m = as * rq->b_scale[(j0 + j) * rq->b_scale_cs] / rq->y_scale;
                    double v = std::nearbyint(double(acc[j] + bias) * double(m)) + zp;
                    v = v >= lo ? v : lo;
                    v = v <= hi ? v : hi;
                    c[j] = TC(v);
                }
            }
        }
}

template <typename TX, typename TW, typename TY>
void qconv2d(const Conv2dShape& s, const TX* x, const TX* x_zp, const TW* w, const TW* w_zp, int64_t w_zp_stride,
             TY* y, const Requant* rq, TX* scratch) {
    const int64_t cg = s.c / s.groups, mg = s.m / s.groups, K = cg * s.kh * s.kw, P = s.oh * s.ow, plane = s.h * s.w;
    const TX xz = x_zp ? x_zp[0] : TX(0);
    const bool pointwise = s.kh == 1 && s.kw == 1 && s.sh == 1 && s.sw == 1 && s.pt == 0 && s.pl == 0 &&
                           s.oh == s.h && s.ow == s.w;
    for (int64_t n = 0; n < s.n; ++n)
        for (int64_t g = 0; g < s.groups; ++g) {
            const TX* xg = x + (n * s.c + g * cg) * plane;
            const TX* cols = xg;  // a pointwise convolution reads x as its columns
            if (!pointwise) {
                // im2col: row (channel, ki, kj), column (oy, ox); outside the image the padding is x's zero point
                for (int64_t cc = 0; cc < cg; ++cc)
                    for (int64_t ki = 0; ki < s.kh; ++ki)
                        for (int64_t kj = 0; kj < s.kw; ++kj) {
                            TX* row = scratch + ((cc * s.kh + ki) * s.kw + kj) * P;
                            const TX* in = xg + cc * plane;
                            for (int64_t oy = 0; oy < s.oh; ++oy) {
                                const int64_t iy = oy * s.sh - s.pt + ki * s.dh;
                                TX* out = row + oy * s.ow;
                                if (iy < 0 || iy >= s.h) {
                                    std::fill(out, out + s.ow, xz);
                                    continue;
                                }
                                for (int64_t ox = 0; ox < s.ow; ++ox) {
                                    const int64_t ix = ox * s.sw - s.pl + kj * s.dw;
                                    out[ox] = ix >= 0 && ix < s.w ? in[iy * s.w + ix] : xz;
                                }
                            }
                        }
                cols = scratch;
            }
            Requant group_rq;
            if (rq) {  // this group's output channels: its rows of the per-channel scales and bias
                group_rq = *rq;
                group_rq.a_scale += g * mg * rq->a_scale_rs;
                if (rq->bias) group_rq.bias += g * mg;
            }
            qgemm<TW, TX, TY>(mg, P, K, w + g * mg * K, K, w_zp ? w_zp + g * mg * w_zp_stride : nullptr, w_zp_stride,
                              cols, pointwise ? plane : P, x_zp, 0, y + (n * s.m + g * mg) * P, P,
                              rq ? &group_rq : nullptr);
        }
}

#define EXPORTER_QUANTIZE(Q)                                                                  \
    template void quantize_linear<Q>(const QuantAxis&, const float*, const float*, const Q*, Q*); \
    template void dequantize_linear<Q>(const QuantAxis&, const Q*, const float*, const Q*, float*);
EXPORTER_QUANTIZE(int8_t)
EXPORTER_QUANTIZE(uint8_t)
EXPORTER_QUANTIZE(int16_t)
EXPORTER_QUANTIZE(uint16_t)
#undef EXPORTER_QUANTIZE
template void dequantize_linear<int32_t>(const QuantAxis&, const int32_t*, const float*, const int32_t*, float*);

#define EXPORTER_QPRODUCT(TA, TB, TC)                                                                            \
    template void qgemm<TA, TB, TC>(int64_t, int64_t, int64_t, const TA*, int64_t, const TA*, int64_t, const TB*, \
                                    int64_t, const TB*, int64_t, TC*, int64_t, const Requant*);                  \
    template void qconv2d<TB, TA, TC>(const Conv2dShape&, const TB*, const TB*, const TA*, const TA*, int64_t, TC*, \
                                      const Requant*, TB*);
#define EXPORTER_QPRODUCT_OUT(TA, TB) \
    EXPORTER_QPRODUCT(TA, TB, int32_t) EXPORTER_QPRODUCT(TA, TB, int8_t) EXPORTER_QPRODUCT(TA, TB, uint8_t)
EXPORTER_QPRODUCT_OUT(int8_t, int8_t)
EXPORTER_QPRODUCT_OUT(int8_t, uint8_t)
EXPORTER_QPRODUCT_OUT(uint8_t, int8_t)
EXPORTER_QPRODUCT_OUT(uint8_t, uint8_t)
#undef EXPORTER_QPRODUCT_OUT
#undef EXPORTER_QPRODUCT

}  // namespace exporter_rt
