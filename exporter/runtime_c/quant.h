// exporter runtime: linear quantisation (QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear) and the
// integer products ONNX Runtime's quantiser emits (MatMulInteger, QLinearMatMul, ConvInteger, QLinearConv).
// Pure functions; no allocation. Integer products accumulate exactly in int32; requantisation rounds half
// to even (the current rounding mode, nearest by default) and saturates, as ONNX's reference does.
#ifndef EXPORTER_QUANT_H
#define EXPORTER_QUANT_H

#include <cstdint>

namespace exporter_rt {

struct Conv2dShape;  // exporter_runtime.h

// Where the scale (and zero point) of element (o, k, i) of x viewed as [outer, n, inner] is read:
// scale[o * so + (k / block) * sn + i * si]. Per tensor: all strides 0; per axis: sn = 1; blocked
// (block > 1): scale is x's shape with the axis divided into ceil(n / block) blocks, so = blocks * inner,
// sn = inner, si = 1.
struct QuantAxis {
    int64_t outer, n, inner, block, so, sn, si;
};

// y = saturate(round_half_even(x / scale) + zero_point); zp may be null (zero). Q: int8, uint8, int16,
// uint16, int4, uint4, int2, uint2 (clamped to their range). Float Q, as ONNX's reference: float8 types
// convert x / scale (zero point ignored: it must be 0), saturating unless `saturate` is false; float4_e2m1fn
// converts x / scale + zero_point (always saturating: it has no infinity).
template <typename Q>
void quantize_linear(const QuantAxis& a, const float* x, const float* scale, const Q* zp, Q* y, bool saturate = true);
// y = (x - zero_point) * scale, with x and zp converted to float first (as ONNX's reference does; exact
// below 2^24), rounded once to S (float, or float16 scales and output). Q: int8, uint8, int16, uint16,
// int32, int4, uint4, int2, uint2, and the float8 types and float4_e2m1fn, whose zero point ONNX's reference
// ignores (it must be 0 for float8).
template <typename Q, typename S = float>
void dequantize_linear(const QuantAxis& a, const Q* x, const S* scale, const Q* zp, S* y);
// DynamicQuantizeLinear: uint8 with the scale and zero point that map [min(0, x), max(0, x)] onto [0, 255].
void dynamic_quantize_linear(const float* x, int64_t count, uint8_t* y, float* y_scale, uint8_t* y_zero_point);

// What an integer product does with its exact int32 result r[i, j] when the output is 8-bit: with
// m = a_scale[i * a_scale_rs] * b_scale[j * b_scale_cs] / y_scale (float), the output is
// saturate(round_half_even(double(r + bias[i]) * m) + y_zero_point). bias (per row) may be null.
struct Requant {
    const float* a_scale = nullptr;
    int64_t a_scale_rs = 0;
    const float* b_scale = nullptr;
    int64_t b_scale_cs = 0;
    // float16 scales (QLinearMatMul): read from these instead of a_scale/b_scale, and m computed as ONNX's
    // reference computes it from float16 arrays: the product and the quotient each rounded to float16
    const _Float16* a_scale_h = nullptr;
    const _Float16* b_scale_h = nullptr;
    float y_scale = 1.0f;
    int32_t y_zero_point = 0;
    const int32_t* bias = nullptr;
};

// The integer GEMM's B operand, packed (by qpack_b at run time, or by the exporter for constant B: see
// pack_int_panels in exporter/native/ops/quant.py): panels of kQPanel columns, each [ceil(K/2)][kQPanel][2]
// int16 holding b[k][j] - b_zp[j] for the pair of rows (2p, 2p+1), zero past K and N. Pairs of int16
// products summed in int32 (x86's vpmaddwd) are exact for 8-bit data: |2 * 255 * 255| < 2^31.
constexpr int64_t kQPanel = 32;
inline int64_t qpacked_size(int64_t K, int64_t N) {  // int16 elements
    return (N + kQPanel - 1) / kQPanel * ((K + 1) / 2) * 2 * kQPanel;
}
// b_zp may be null (0); b_zp_cs: 0 for one zero point, 1 for one per column.
template <typename TB>
void qpack_b(int64_t K, int64_t N, const TB* B, int64_t ldb, const TB* b_zp, int64_t b_zp_cs, int16_t* packed);

// C[M, N] = sum_k (A[i, k] - a_zp[i * a_zp_rs]) * B'[k, j] in int32, B' packed by qpack_b (row-major A with
// leading dimension lda; a null zero point is 0). TC = int32_t stores the sums (rq ignored); TC = int8_t /
// uint8_t requantises them through rq. TA: int8_t or uint8_t.
template <typename TA, typename TC>
void qgemm(int64_t M, int64_t N, int64_t K, const TA* A, int64_t lda, const TA* a_zp, int64_t a_zp_rs,
           const int16_t* packed_B, TC* C, int64_t ldc, const Requant* rq);

// ConvInteger (TY = int32_t) and QLinearConv (TY = TX's 8-bit output type, through rq, whose a_scale is
// w_scale per output channel and b_scale x_scale): y = conv(x - x_zp, w - w_zp[m * w_zp_stride]), NCHW,
// 1-D as 2-D with height 1. x_zp is a scalar (null: 0); the padding adds nothing (it is x_zp before the
// subtraction). scratch: qconv2d_scratch_size int16 elements, the im2col columns of one image and group,
// written straight into qpack_b's layout.
inline int64_t qconv2d_scratch_size(int64_t c, int64_t groups, int64_t kh, int64_t kw, int64_t oh, int64_t ow) {
    return qpacked_size(c / groups * kh * kw, oh * ow);
}
template <typename TX, typename TW, typename TY>
void qconv2d(const Conv2dShape& s, const TX* x, const TX* x_zp, const TW* w, const TW* w_zp, int64_t w_zp_stride,
             TY* y, const Requant* rq, int16_t* scratch);

}  // namespace exporter_rt

#endif  // EXPORTER_QUANT_H
