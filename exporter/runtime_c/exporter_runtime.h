// exporter runtime: the kernels generated models call. Pure functions over pointers and sizes; none of
// them allocates (scratch space comes from the model's planned arena). Compiled once per project.
#ifndef EXPORTER_RUNTIME_H
#define EXPORTER_RUNTIME_H

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

namespace exporter_rt {

// bfloat16 (ONNX BFLOAT16): storage only. It converts to float exactly and from any arithmetic type with one
// round-to-nearest-even (NaN stays a quiet NaN), so Cast and the data-movement ops work on it and generated
// arithmetic widens it to float32 (exporter/dtypes.py, column `compute`).
struct bfloat16 {
    uint16_t bits = 0;

    bfloat16() = default;
    template <typename T, typename = std::enable_if_t<std::is_convertible_v<T, double>>>
    bfloat16(T v) {  // implicit: a computed float is stored as bfloat16 like any narrowing assignment
        if constexpr (std::is_same_v<T, float> || std::is_same_v<T, _Float16>) bits = from_float(float(v));
        else bits = from_float(to_odd_float(double(v)));
    }
    operator float() const {
        uint32_t u = uint32_t(bits) << 16;
        float f;
        std::memcpy(&f, &u, sizeof f);
        return f;
    }

    static uint16_t from_float(float f) {
        uint32_t u;
        std::memcpy(&u, &f, sizeof u);
        if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x40u);  // NaN: keep it quiet
        return uint16_t((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);                   // nearest, ties to even
    }
    // A double rounded to float toward zero with the inexact bit kept in the last place (round to odd): the
    // second rounding, to bfloat16's 8 bits, then gives the same result as rounding the double directly.
    static float to_odd_float(double d) {
        float f = float(d);
        if (!(std::isfinite(d) && std::isfinite(f)) || double(f) == d) return f;
        if (std::fabs(double(f)) > std::fabs(d)) f = std::nextafter(f, 0.0f);
        uint32_t u;
        std::memcpy(&u, &f, sizeof u);
        u |= 1u;
        std::memcpy(&f, &u, sizeof f);
        return f;
    }
};

// Small float formats (float8, float4): a finite magnitude `a` >= 0 rounded to nearest even on the grid of a
// format with `m` mantissa bits whose smallest normal exponent is `min_exponent` (subnormals below it), and
// the exponent/mantissa bits of such a rounded, nonzero, in-range value (`bias`: the format's exponent bias).
inline double round_to_format(double a, int min_exponent, int m) {
    int exponent = a > 0 ? std::ilogb(a) : min_exponent;
    if (exponent < min_exponent) exponent = min_exponent;
    const double quantum = std::ldexp(1.0, exponent - m);  // the spacing of representable values around a
    return std::nearbyint(a / quantum) * quantum;          // a / quantum is exact: ties to even
}
inline int finite_code(double rounded, int bias, int m) {
    const int e = std::ilogb(rounded);
    if (e < 1 - bias) return int(std::ldexp(rounded, bias - 1 + m));  // subnormal
    return ((e + bias) << m) | (int(std::ldexp(rounded, m - e)) - (1 << m));
}

// The four float8 types of ONNX (storage only: Cast, CastLike and data movement), written from the Cast
// spec's table. Layout: sign, E exponent bits, M mantissa bits. "fn" types have no infinity (E4M3FN: the
// all-ones code S.1111.111 is NaN); "fnuz" types have no infinity and no -0, and their one NaN is 0x80 (bias
// one more than IEEE's). Conversions round to nearest even. saturate (ONNX's default) clamps out-of-range
// values and infinities to the largest finite value first; without it they become infinity (E5M2) or NaN.
template <int E, int M, bool FNUZ> struct float8 {
    static constexpr int kBias = (1 << (E - 1)) - 1 + (FNUZ ? 1 : 0);
    static constexpr bool kHasInf = !FNUZ && E == 5;  // only E5M2 keeps IEEE infinities
    uint8_t bits = 0;

    float8() = default;
    template <typename T, typename = std::enable_if_t<std::is_convertible_v<T, double>>>
    float8(T v) : bits(encode(double(v), true)) {}  // implicit: ONNX's Cast saturates unless told not to
    static float8 from(double v, bool saturate) { float8 r; r.bits = encode(v, saturate); return r; }

    operator float() const {
        const int exponent = (bits >> M) & ((1 << E) - 1), mantissa = bits & ((1 << M) - 1);
        const bool negative = bits & 0x80;
        if (FNUZ ? bits == 0x80 : (E == 4 ? (bits & 0x7f) == 0x7f : exponent == (1 << E) - 1 && mantissa))
            return std::numeric_limits<float>::quiet_NaN();
        if (kHasInf && exponent == (1 << E) - 1)
            return negative ? -std::numeric_limits<float>::infinity() : std::numeric_limits<float>::infinity();
        const float magnitude = exponent == 0 ? std::ldexp(float(mantissa), 1 - kBias - M)
                                              : std::ldexp(float((1 << M) + mantissa), exponent - kBias - M);
        return negative ? -magnitude : magnitude;
    }

    static constexpr double max_finite() {  // E4M3FN gives its top mantissa code to NaN; E5M2 its top exponent to inf
        const int top = (1 << E) - 1 - (kHasInf ? 1 : 0);
        const int mantissa = (E == 4 && !FNUZ) ? (1 << M) - 2 : (1 << M) - 1;
        double v = double((1 << M) + mantissa);
        for (int k = 0; k < top - kBias - M; ++k) v *= 2;
        return v;
    }

    static uint8_t encode(double v, bool saturate) {
        const uint8_t sign = std::signbit(v) ? 0x80 : 0;
        const uint8_t nan = FNUZ ? 0x80 : uint8_t(sign | (E == 4 ? 0x7f : 0x7e));
        if (std::isnan(v)) return nan;
        double a = std::fabs(v);
        if (saturate && a > max_finite()) a = max_finite();
        if (std::isinf(a)) return kHasInf ? uint8_t(sign | 0x7c) : nan;
        const double rounded = round_to_format(a, 1 - kBias, M);
        if (rounded > max_finite()) return kHasInf ? uint8_t(sign | 0x7c) : nan;
        if (rounded == 0) return FNUZ ? 0 : sign;  // fnuz has no -0
        return uint8_t(sign | finite_code(rounded, kBias, M));
    }
};
using float8e4m3fn = float8<4, 3, false>;
using float8e4m3fnuz = float8<4, 3, true>;
using float8e5m2 = float8<5, 2, false>;
using float8e5m2fnuz = float8<5, 2, true>;

// float4_e2m1fn (ONNX FLOAT4E2M1), one code per byte (bits 0-3, as ml_dtypes holds it; ONNX files pack two
// per byte and the exporter unpacks them): sign, 2 exponent bits (bias 1), 1 mantissa bit; values 0, 0.5,
// 1, 1.5, 2, 3, 4, 6 and their negatives; no infinity and no NaN. Conversions round to nearest even and
// saturate (infinities too) to +-6; NaN becomes a zero whose sign is the NaN's sign flipped (-0 for the
// usual positive NaN), as ml_dtypes (the reference of ONNX's node tests) converts it.
struct float4e2m1fn {
    uint8_t bits = 0;

    float4e2m1fn() = default;
    template <typename T, typename = std::enable_if_t<std::is_convertible_v<T, double>>>
    float4e2m1fn(T v) : bits(encode(double(v))) {}

    operator float() const {
        const int exponent = (bits >> 1) & 3, mantissa = bits & 1;
        const float magnitude = exponent == 0 ? 0.5f * float(mantissa) : std::ldexp(float(2 + mantissa), exponent - 2);
        return bits & 0x8 ? -magnitude : magnitude;
    }

    static uint8_t encode(double v) {
        if (std::isnan(v)) return std::signbit(v) ? 0 : 0x8;
        const uint8_t sign = std::signbit(v) ? 0x8 : 0;
        const double rounded = round_to_format(std::fmin(std::fabs(v), 6.0), 0, 1);
        return rounded == 0 ? sign : uint8_t(sign | finite_code(rounded, 1, 1));
    }
};

// float8_e8m0fnu (ONNX FLOAT8E8M0, the scales of MX formats): a bare exponent, 2^(code - 127); no sign, no
// zero, 0xff is NaN. From other types, Cast reads the float32 value's exponent and rounds by `round_mode`
// (up: any fraction bumps it, ONNX's default; down: drops it; nearest: on the guard/round/sticky bits, as
// ONNX's reference to_float8e8m0 does); saturate (the default) keeps 2^127 from rounding up into NaN.
// Infinities and NaN become NaN; the sign is ignored (negative inputs are undefined in ONNX).
struct float8e8m0fnu {
    enum Round { kUp, kDown, kNearest };
    uint8_t bits = 0;

    float8e8m0fnu() = default;
    template <typename T, typename = std::enable_if_t<std::is_convertible_v<T, double>>>
    float8e8m0fnu(T v) : bits(encode(float(v), true, kUp)) {}
    static float8e8m0fnu from(float v, bool saturate, Round mode) {
        float8e8m0fnu r;
        r.bits = encode(v, saturate, mode);
        return r;
    }

    operator float() const {
        return bits == 0xff ? std::numeric_limits<float>::quiet_NaN() : std::ldexp(1.0f, int(bits) - 127);
    }

    static uint8_t encode(float f, bool saturate, Round mode) {
        uint32_t u;
        std::memcpy(&u, &f, sizeof u);
        const uint32_t exponent = (u >> 23) & 0xff;
        if (exponent == 0xff) return 0xff;
        bool up = false;
        if (mode == kUp) up = (u & 0x7fffffu) != 0;
        if (mode == kNearest) up = (u & 0x400000u) && ((u & 0x3fffffu) || exponent > 0);
        if (saturate && exponent == 0xfe) up = false;
        return uint8_t(exponent + (up ? 1 : 0));  // 0xfe rounded up without saturate: 0xff, NaN
    }
};

// int4, uint4, int2, uint2 (ONNX INT4, UINT4, INT2, UINT2), one value per byte in its low BITS bits (as
// ml_dtypes holds them; ONNX files pack two or four per byte and the exporter unpacks them). From integers
// and bool, Cast keeps the low bits (two's complement wrap, the Cast spec's rule for fixed point); from
// floating types it truncates toward zero, and a value out of range (or NaN), which the spec leaves
// undefined, becomes 0, as ml_dtypes (the reference of ONNX's node tests) does.
template <typename T, typename = void> struct is_small_int : std::false_type {};
template <typename T> struct is_small_int<T, std::void_t<decltype(T::kMask)>> : std::true_type {};
template <int BITS, bool SIGNED> struct small_int {
    static constexpr int kMin = SIGNED ? -(1 << (BITS - 1)) : 0;
    static constexpr int kMax = SIGNED ? (1 << (BITS - 1)) - 1 : (1 << BITS) - 1;
    static constexpr uint8_t kMask = uint8_t((1 << BITS) - 1);
    uint8_t bits = 0;

    small_int() = default;
    template <typename T, typename = std::enable_if_t<std::is_convertible_v<T, double>>>
    small_int(T v) {
        if constexpr (std::is_integral_v<T>) {
            bits = uint8_t(v) & kMask;
        } else if constexpr (is_small_int<T>::value) {
            bits = uint8_t(int(v)) & kMask;
        } else {
            const double t = std::trunc(double(v));
            bits = t >= kMin && t <= kMax ? uint8_t(int(t)) & kMask : 0;
        }
    }
    operator int() const { return SIGNED && (bits >> (BITS - 1)) ? int(bits) - (1 << BITS) : int(bits); }
};
using int4 = small_int<4, true>;
using uint4 = small_int<4, false>;
using int2 = small_int<2, true>;
using uint2 = small_int<2, false>;

// Cast with saturate=0: out-of-range values become infinity or NaN instead of the largest finite value
template <typename To, typename From> inline To cast_unsaturated(From a) {
    if constexpr (std::is_same_v<To, float8e4m3fn> || std::is_same_v<To, float8e4m3fnuz> ||
                  std::is_same_v<To, float8e5m2> || std::is_same_v<To, float8e5m2fnuz>)
        return To::from(double(float(a)), false);
    else
        return static_cast<To>(a);
}


// ---- threading (threads.cpp) -------------------------------------------------------------------------
// Kernels run their parallel parts on one process-wide team: the calling thread plus persistent workers
// that spin briefly for the next region, then sleep. Starting a region costs ~0.1 us (libgomp's fork/join
// cost ~0.6 us here, which a batch-1 MLP pays per layer).
void set_num_threads(int threads);  // <= 0: the CPUs this process may run on (or OMP_NUM_THREADS)
int num_threads();

namespace detail {
using TeamTask = void (*)(void* context, int thread, int threads);
// Runs task(context, t, nt) for t in [0, nt), t = 0 on the calling thread, and returns when all have
// finished. nt = min(threads, num_threads()); 1 inside a region, or while another thread's region runs.
void run_team(int threads, TeamTask task, void* context);
bool in_parallel();  // inside a region's task (kernels called from there stay on their thread)

// The share [begin, end) of `units` that thread t of nt takes: contiguous and even.
inline void share(int64_t units, int t, int nt, int64_t& begin, int64_t& end) {
    begin = units * t / nt;
    end = units * (t + 1) / nt;
}
}  // namespace detail

// Runs body(t, nt) on each thread of a team (nt = 1, on the caller alone, when `parallel` is false).
template <typename F> void parallel(bool parallel, F&& body) {
    if (!parallel || num_threads() <= 1 || detail::in_parallel()) return body(0, 1);
    detail::run_team(num_threads(), [](void* f, int t, int nt) { (*static_cast<F*>(f))(t, nt); }, &body);
}

// Runs body(begin, end) over contiguous, even shares of [0, n), one per thread (schedule(static)).
template <typename F> void parallel_for(int64_t n, bool parallel, F&& body) {
    exporter_rt::parallel(parallel && n > 1, [&](int t, int nt) {
        int64_t begin, end;
        detail::share(n, t, nt, begin, end);
        if (begin < end) body(begin, end);
    });
}
// Work (in multiply-adds) below which a kernel stays on one thread: forking costs more than it saves.
constexpr int64_t kParallelWork = 1 << 17;

// ---- matrix products (gemm.cpp) ------------------------------------------------------------------
// Layouts of operands packed ahead of time by the exporter (mirrored by PANEL_BYTES / PACK_ROWS in
// exporter/native/target.py; tests/native/test_packing.py fails when the two disagree):
//   B [K, N]: panels of panel_width<T>() = 128 bytes' worth of columns (32 floats, 16 doubles), each
//             panel [K][width] contiguous, the last one zero-padded;
//   A [M, K]: panels of kPackRows rows, each panel [K][kPackRows] contiguous, the last one zero-padded.
// Every ISA's micro-kernel reads them in place (its NR divides the width, its MR divides kPackRows).
constexpr int kPanelBytes = 128;
constexpr int kPackRows = 12;
template <typename T> constexpr int64_t panel_width() { return kPanelBytes / int64_t(sizeof(T)); }

// What the GEMM applies to each finished tile of C, in this order:
//   C = alpha * (A @ B [+ C if accumulate]) + beta * bias[i * bias_rs + j * bias_cs] + residual[i * ldr + j]
//   C = act(C)
// Sigmoid and Tanh are vmath.h's, as in the unfused elementwise loops.
enum class Act : int { None, Relu, Clip, LeakyRelu, Sigmoid, HardSigmoid, HardSwish, Tanh };
template <typename T> struct Epilogue {
    bool accumulate = false;
    T alpha = T(1), beta = T(1);
    const T* bias = nullptr;
    int64_t bias_rs = 0, bias_cs = 0;   // (0, 1): per column (Gemm), (1, 0): per row (Conv channel)
    const T* residual = nullptr;        // a skip connection's Add
    int64_t ldr = 0;
    Act act = Act::None;
    T p0 = T(0), p1 = T(0);             // Clip min/max, LeakyRelu alpha, HardSigmoid alpha/beta
};

// C[M,N] = op(A[M,K] @ B[K,N]) with general strides: A(i,k) = A[i*rsa + k*csa], B(k,j) = B[k*rsb + j*csb]
// (so transposed operands cost nothing extra). a_packed / b_packed: the operand is in the pre-packed
// layout above (its strides are ignored). Runs on all threads when the product is large enough.
template <typename T>
void gemm_ex(int64_t M, int64_t N, int64_t K, const T* A, int64_t rsa, int64_t csa, bool a_packed, const T* B,
             int64_t rsb, int64_t csb, bool b_packed, T* C, int64_t ldc, const Epilogue<T>& ep);

// Shorthands: row-major A [M,K] (lda) and B [K,N] (ldb), C (+)= A @ B.
template <typename T>
void gemm(int64_t M, int64_t N, int64_t K, const T* A, int64_t lda, const T* B, int64_t ldb, T* C, int64_t ldc,
          bool accumulate = false);
// The same with B pre-packed (panels of panel_width<T>() columns).
template <typename T>
void gemm_packed(int64_t M, int64_t N, int64_t K, const T* A, int64_t lda, const T* packed_B, T* C, int64_t ldc,
                 bool accumulate = false);
// Packs a row-major [K, N] B (or [M, K] A) into the pre-packed layout; the runtime's own reference for
// what the exporter writes (sizes: panels * K * width, panels * K * kPackRows elements).
template <typename T> void pack_b_panels(int64_t K, int64_t N, const T* B, T* packed);
template <typename T> void pack_a_panels(int64_t M, int64_t K, const T* A, T* packed);
// Which micro-kernel this build uses: "avx512", "avx2" or "portable".
const char* gemm_isa();

// ---- convolution and pooling (NCHW) ----------------------------------------------------------------
struct Conv2dShape {
    int64_t n, c, h, w;        // input
    int64_t m, kh, kw;         // output channels, kernel
    int64_t oh, ow;            // output spatial size
    int64_t sh, sw, dh, dw;    // strides, dilations
    int64_t pt, pl;            // top / left padding (bottom/right implied by oh/ow)
    int64_t groups;
    int64_t xc = 0;            // elements from one input channel to the next (0: h * w; a band of a taller image's rows)
};
inline int64_t input_plane(const Conv2dShape& s) { return s.xc ? s.xc : s.h * s.w; }
// conv.cpp. No scratch: im2col columns are packed straight into the GEMM's B micro-panels, one cache
// block at a time. Weights `w` are [m, c/groups, kh, kw], or (w_packed) each group's [m/groups, c/groups*kh*kw]
// matrix in the pre-packed A layout (pack_a_panels), groups one after the other. Per-channel bias,
// residual (a tensor shaped like y) and activation come in `ep` (bias_rs/bias_cs/ldr are set here).
// Depthwise-style convolutions (one input channel per group) run a direct kernel instead of a GEMM.
template <typename T>
void conv2d_ex(const Conv2dShape& s, const T* x, const T* w, bool w_packed, T* y, const Epilogue<T>& ep);
template <typename T>
void conv2d(const Conv2dShape& s, const T* x, const T* w, const T* bias, T* y);
// Conv (+ its epilogue) then MaxPool `p` (p.n == s.n, p.c == s.m, p.h == s.oh, p.w == s.ow) without the convolution's
// output in memory: bands of pool rows, each band's convolution rows computed into a per-thread buffer (the rows two
// bands share computed twice) and pooled from there into y. `winograd`: conv2d_winograd's tile (0: conv2d_ex).
struct Pool2dShape;
template <typename T>
void conv2d_max_pool(const Conv2dShape& s, int winograd, const T* x, const T* w, bool w_packed, const Epilogue<T>& ep,
                     const Pool2dShape& p, T* y);
// A 1x1 convolution (stride 1, no padding, one group) over a small plane (7x7: 49 pixels fill 64 vector lanes along
// the plane) as the transposed product y^T[pixel, m] = x^T w^T, vectors along the output channels: `wt` is the
// [c, m] matrix w^T in the pre-packed B layout (pack_b_panels). Each image's product goes through a per-thread
// buffer into y with `ep` (as conv2d_ex's). float only.
template <typename T>
void conv2d_pointwise_t(const Conv2dShape& s, const T* x, const T* wt, T* y, const Epilogue<T>& ep);
// Elements of one group's pre-packed weights.
inline int64_t conv2d_packed_group_size(const Conv2dShape& s) {
    const int64_t mg = s.m / s.groups;
    return (mg + kPackRows - 1) / kPackRows * kPackRows * (s.c / s.groups) * s.kh * s.kw;
}

// winograd.cpp: 3x3 stride-1 convolutions (groups 1, no dilation) by Winograd's F(tile x tile, 3x3), tile 2 or 4:
// 2.25x / 4x fewer multiply-adds than the GEMM over im2col. `u` holds the transformed weights (G g G^T), a^2
// matrices [m, c] (a = tile + 2), each in the pre-packed A layout: what winograd_weights writes and the exporter
// stores. The epilogue as in conv2d_ex. Compiled for float only.
bool winograd_applies(const Conv2dShape& s);
int64_t winograd_weights_size(const Conv2dShape& s, int tile);
template <typename T> void winograd_weights(const Conv2dShape& s, int tile, const T* w, T* u);
template <typename T>
void conv2d_winograd(const Conv2dShape& s, int tile, const T* x, const T* u, T* y, const Epilogue<T>& ep);

// 3-D (volumetric, NCDHW) convolution: per output depth, the 2-D convolutions (conv2d_ex) of the input slices
// its window covers by the matching kernel slices, summed, plus bias (may be null). w holds the kd kernel
// slices one after the other, w_slice elements apart, each as conv2d_ex takes it ([m, c/groups, kh, kw], or
// w_packed). scratch: conv3d_scratch_size(s) elements (one input slice and one 2-D result).
struct Conv3dShape {
    int64_t n, c, d, h, w;
    int64_t m, kd, kh, kw;
    int64_t od, oh, ow;
    int64_t sd, sh, sw, dd, dh, dw;
    int64_t pf, pt, pl;  // front / top / left padding
    int64_t groups;
};
inline int64_t conv3d_scratch_size(const Conv3dShape& s) { return s.c * s.h * s.w + s.m * s.oh * s.ow; }
template <typename T>
void conv3d(const Conv3dShape& s, const T* x, const T* w, bool w_packed, int64_t w_slice, const T* bias, T* y,
            T* scratch);

// ONNX DeformConv (2-D): every kernel tap samples the input bilinearly (zeros outside) at its position moved
// by `offset` ([n, offset_groups * kh * kw * 2, oh, ow], (dy, dx) per tap), scaled by `mask` ([n, offset_groups
// * kh * kw, oh, ow], or nullptr for ones); the sampled columns then meet the weights [m, c/groups, kh, kw] in
// one GEMM per group. `bias` may be nullptr. scratch: c * kh * kw * oh * ow elements (one image's columns).
struct DeformConvShape {
    int64_t n, c, h, w;
    int64_t m, kh, kw;
    int64_t oh, ow;
    int64_t sh, sw, dh, dw;
    int64_t pt, pl;
    int64_t groups, offset_groups;
};
template <typename T>
void deform_conv2d(const DeformConvShape& s, const T* x, const T* w, const T* offset, const T* mask, const T* bias, T* y,
                   T* scratch);

struct Pool2dShape {
    int64_t n, c, h, w, kh, kw, oh, ow, sh, sw, dh, dw, pt, pl;
    int64_t pb, pr;  // bottom / right padding: where count_include_pad's padded area ends
};
template <typename T> void max_pool2d(const Pool2dShape& s, const T* x, T* y);
template <typename T> void avg_pool2d(const Pool2dShape& s, const T* x, T* y, bool count_include_pad);
// MaxPool with its Indices output: each maximum's flat index into x ([n, c, h, w] row-major, or with
// column_major (storage_order 1) each plane counted column by column); the first of equal maxima wins.
template <typename T>
void max_pool2d_indices(const Pool2dShape& s, const T* x, T* y, int64_t* indices, bool column_major);
// MaxUnpool: y = 0, then x[i] at indices[i], a flat index into the pooling's inverse shape `grid` (rank
// extents), placed at the same coordinates of y (shape `out`, at least `grid` on every axis: ONNX pads the
// inverse shape's result at the end). False on an index out of range or a `grid` larger than `out`.
template <typename T>
bool max_unpool(const T* x, const int64_t* indices, int64_t n, T* y, int rank, const int64_t* grid, const int64_t* out);
// LpPool: (sum of |x|^p over the window's in-image taps)^(1/p); padding adds nothing.
template <typename T> void lp_pool2d(const Pool2dShape& s, const T* x, T* y, double p);
template <typename T> void global_avg_pool(int64_t nc, int64_t hw, const T* x, T* y);
template <typename T> void global_max_pool(int64_t nc, int64_t hw, const T* x, T* y);

// ---- reductions over [outer, n, inner] ---------------------------------------------------------------
enum class Reduce { Sum, Mean, Max, Min, Prod, SumSquare, L1, L2, LogSumExp };
template <typename T> void reduce(Reduce kind, const T* x, T* y, int64_t outer, int64_t n, int64_t inner);
// Reduce over axes known only at run time (n_axes of them, negative = from the end; distinct and in range,
// as checked when read: others are ignored). y holds the kept axes in order. Reduced axes forming one
// block are reduced in place; others are first transposed to (kept..., reduced...) into scratch (as many
// elements as x; rank <= 8).
template <typename T> void reduce_axes(Reduce kind, const T* x, T* y, T* scratch, int rank, const int64_t* shape,
                                       int n_axes, const int64_t* axes);
// argmax/argmin along the middle axis; first (or last) index of the extremum, like NumPy (select_last=false).
template <typename T> void arg_reduce(bool is_max, bool select_last, const T* x, int64_t* y, int64_t outer, int64_t n,
                                      int64_t inner);
// Running sums (product=false: CumSum) or products (CumProd) along the middle axis; exclusive starts from
// the identity, reverse runs from the end.
template <typename T> void cumulative(bool product, const T* x, T* y, int64_t outer, int64_t n, int64_t inner,
                                      bool exclusive, bool reverse);

// ---- normalization and softmax -----------------------------------------------------------------------
template <typename T> void softmax(const T* x, T* y, int64_t outer, int64_t n, int64_t inner, bool log);
// y = (x - mean) / sqrt(var + eps) * scale + bias over rows of length n; scale/bias may be null. mean_out and
// inv_std_out (one per row, ONNX's optional outputs with stash_type float32) are written when not null.
template <typename T> void layer_norm(const T* x, const T* scale, const T* bias, T* y, int64_t rows, int64_t n,
                                      T eps, float* mean_out = nullptr, float* inv_std_out = nullptr);

// ---- data movement -----------------------------------------------------------------------------------
// out = transpose(in, perm) for a tensor of `rank` dims (rank <= 8).
void transpose(const void* in, void* out, size_t elem, int rank, const int64_t* shape, const int64_t* perm);
// Strided copy: out[i...] = in[offset + sum(i_d * in_strides[d])] over `shape` (rank <= 8), in elements.
void strided_copy(const void* in, void* out, size_t elem, int rank, const int64_t* shape, const int64_t* in_strides,
                  int64_t offset);
// Pad (constant / edge / reflect / wrap); pads holds begins then ends (may be negative = crop).
enum class PadMode { Constant, Edge, Reflect, Wrap };
void pad(const void* in, void* out, size_t elem, int rank, const int64_t* in_shape, const int64_t* pads, PadMode mode,
         const void* value);

// ---- recurrent cells (ONNX LSTM / GRU / RNN, layout 0, gate order as in ONNX) -------------------------
struct RnnShape {
    int64_t seq, batch, input, hidden, directions;
    bool reverse;  // a single direction that runs backwards (direction="reverse")
};
// scratch: (input + hidden + seq * batch + batch) * gates * hidden + 2 * batch * hidden elements (gates: 4 for
// LSTM, 3 for GRU, 1 for RNN), as the op's scratch rule in exporter/native/ops/nn.py sizes it.
template <typename T>
void lstm(const RnnShape& s, const T* x, const T* W, const T* R, const T* B, const T* h0, const T* c0, T* y, T* yh,
          T* yc, T* scratch);
// The same with peepholes P [directions, 3 * hidden] (input, output, forget; may be null) and per-batch
// sequence lengths (may be null): steps past a sequence's length leave its state as it is and write zeros
// to y. False on a length outside [0, seq].
template <typename T>
bool lstm_ex(const RnnShape& s, const T* x, const T* W, const T* R, const T* B, const int32_t* seq_lens, const T* h0,
             const T* c0, const T* P, T* y, T* yh, T* yc, T* scratch);
template <typename T>
void gru(const RnnShape& s, const T* x, const T* W, const T* R, const T* B, const T* h0, bool linear_before_reset,
         T* y, T* yh, T* scratch);
// ONNX RNN with its default activation: H_t = tanh(X_t W^T + H_{t-1} R^T + Wb + Rb).
template <typename T>
void simple_rnn(const RnnShape& s, const T* x, const T* W, const T* R, const T* B, const T* h0, T* y, T* yh,
                T* scratch);

// ---- dimension helpers (mirrored in exporter/native/dims.py) ------------------------------------------
// a / b for sizes, 0 when b is a run-time size that is 0 (a batch of 0 must not trap)
inline int64_t dim_div(int64_t a, int64_t b) { return b != 0 ? a / b : 0; }
inline int64_t slice_start(int64_t dim, int64_t start, int64_t step) {
    if (start < 0) start += dim;
    if (step > 0) return start < 0 ? 0 : (start > dim ? dim : start);
    return start < -1 ? -1 : (start > dim - 1 ? dim - 1 : start);
}
inline int64_t slice_len(int64_t dim, int64_t start, int64_t end, int64_t step) {
    const int64_t begin = slice_start(dim, start, step);
    if (end < 0) end += dim;
    if (step > 0) {
        end = end < 0 ? 0 : (end > dim ? dim : end);
        return end > begin ? (end - begin + step - 1) / step : 0;
    }
    end = end < -1 ? -1 : (end > dim - 1 ? dim - 1 : end);
    return begin > end ? (begin - end - step - 1) / (-step) : 0;
}
inline int64_t conv_out(int64_t size, int64_t kernel, int64_t stride, int64_t dilation, int64_t pad_begin,
                        int64_t pad_end, int64_t ceil_mode) {
    const int64_t num = size + pad_begin + pad_end - ((kernel - 1) * dilation + 1);
    if (!ceil_mode) return num / stride + 1;  // num >= 0 for valid models
    int64_t out = (num + stride - 1) / stride + 1;
    if ((out - 1) * stride >= size + pad_begin) --out;
    return out;
}
// Elements of the integer Range(start, limit, delta): max(0, ceil((limit - start) / delta)).
inline int64_t range_count(int64_t start, int64_t limit, int64_t delta) {
    const int64_t span = limit - start;
    const int64_t n = delta > 0 ? (span + delta - 1) / delta : (span + delta + 1) / delta;
    return n > 0 ? n : 0;
}

// Sizes that follow from values read at run time (shape-defining inputs); -1 for values that give no
// valid size, which the generated program reports before planning. Mirrored in dims.py.
inline int64_t reshape_fix(int64_t target, int64_t dim, int64_t allowzero) {
    return target == 0 && !allowzero ? dim : target;
}
template <typename... T>
int64_t reshape_infer(int64_t entry, int64_t count, T... rest) {
    if (entry != -1) return entry;
    const int64_t e[sizeof...(T) + 1] = {int64_t(rest)...};
    int64_t product = 1, unknown = 0;
    for (size_t i = 0; i < sizeof...(T); ++i) {
        if (e[i] == -1) { ++unknown; continue; }
        if (__builtin_mul_overflow(product, e[i], &product)) return -1;
    }
    return unknown == 1 && product > 0 && count % product == 0 ? count / product : -1;
}
inline int64_t expand_dim(int64_t dim, int64_t target, int64_t broadcasts) {
    if (broadcasts) return target;
    return target == 1 || target == dim ? dim : -1;
}
// rest = n axes then n values: the value whose axis (negative = from the end) is `axis`, else `fallback`.
template <typename... T>
int64_t axis_pick(int64_t axis, int64_t rank, int64_t fallback, int64_t n, T... rest) {
    const int64_t e[sizeof...(T) + 1] = {int64_t(rest)...};
    for (int64_t i = 0; i < n; ++i)
        if ((e[i] < 0 ? e[i] + rank : e[i]) == axis) return e[n + i];
    return fallback;
}
template <typename... T>
int64_t axes_valid(int64_t rank, int64_t n, T... rest) {
    const int64_t e[sizeof...(T) + 1] = {int64_t(rest)...};
    for (int64_t i = 0; i < n; ++i) {
        if (e[i] < -rank || e[i] >= rank) return 0;
        for (int64_t j = 0; j < i; ++j)
            if ((e[j] + rank) % rank == (e[i] + rank) % rank) return 0;
    }
    return 1;
}
// rest = n axes, then the input dims (output rank `rank`).
template <typename... T>
int64_t unsqueeze_dim(int64_t axis, int64_t rank, int64_t n, T... rest) {
    if (!axes_valid(rank, n, rest...)) return -1;
    const int64_t e[sizeof...(T) + 1] = {int64_t(rest)...};
    int64_t before = 0;
    for (int64_t i = 0; i < n; ++i) {
        const int64_t a = e[i] < 0 ? e[i] + rank : e[i];
        if (a == axis) return 1;
        before += a < axis;
    }
    return e[n + axis - before];
}
// rest = n axes, then the input dims (input rank `rank`); -1 when a squeezed axis is not of size 1.
template <typename... T>
int64_t squeeze_dim(int64_t axis, int64_t rank, int64_t n, T... rest) {
    if (!axes_valid(rank, n, rest...)) return -1;
    const int64_t e[sizeof...(T) + 1] = {int64_t(rest)...};
    int64_t out = 0, result = -1;
    for (int64_t d = 0; d < rank; ++d) {
        bool squeezed = false;
        for (int64_t i = 0; i < n; ++i) squeezed = squeezed || (e[i] < 0 ? e[i] + rank : e[i]) == d;
        if (squeezed && e[n + d] != 1) return -1;
        if (!squeezed && out++ == axis) result = e[n + d];
    }
    return result;
}
// rest = n axes, then the input dims (input rank `rank`): output axis `axis` of a reduction over the axes,
// kept as 1 (keep) or dropped; -1 when the axes are not valid and distinct.
template <typename... T>
int64_t reduce_dim(int64_t axis, int64_t rank, int64_t keep, int64_t n, T... rest) {
    if (!axes_valid(rank, n, rest...)) return -1;
    const int64_t e[sizeof...(T) + 1] = {int64_t(rest)...};
    int64_t out = 0;
    for (int64_t d = 0; d < rank; ++d) {
        bool reduced = false;
        for (int64_t i = 0; i < n; ++i) reduced = reduced || (e[i] < 0 ? e[i] + rank : e[i]) == d;
        if (keep && d == axis) return reduced ? 1 : e[n + d];
        if (!keep && !reduced && out++ == axis) return e[n + d];
    }
    return -1;
}
// [outer, n, inner] around axis `axis` (negative = from the end, in range: checked when read).
inline void axis_extents(int rank, const int64_t* shape, int64_t axis, int64_t* outer, int64_t* n, int64_t* inner) {
    if (axis < 0) axis += rank;
    *outer = *n = *inner = 1;
    for (int d = 0; d < rank; ++d) *(d < axis ? outer : d == axis ? n : inner) *= shape[d];
}
// Resize's common scale under keep_aspect_ratio_policy (rest = n input sizes, then n target sizes): the
// smallest target/input ratio (larger = 0: not_larger) or the largest (not_smaller); -1 for an empty input.
template <typename... T>
double resize_keep_scale(int64_t larger, int64_t n, T... rest) {
    const int64_t e[sizeof...(T) + 1] = {int64_t(rest)...};
    double scale = 0;
    for (int64_t i = 0; i < n; ++i) {
        if (e[i] <= 0) return -1.0;
        const double ratio = double(e[n + i]) / double(e[i]);
        if (i == 0 || (larger ? ratio > scale : ratio < scale)) scale = ratio;
    }
    return scale;
}
// Output size of the k-th resized axis: round(scale * input size), half up; -1 when there is none.
template <typename... T>
int64_t resize_keep_size(int64_t k, int64_t larger, int64_t n, T... rest) {
    const double scale = resize_keep_scale(larger, n, rest...);
    const int64_t e[sizeof...(T) + 1] = {int64_t(rest)...};
    const double size = scale * double(e[k]) + 0.5;
    return scale >= 0 && size < 4611686018427387904.0 ? int64_t(size) : -1;
}
// A float read at run time as a number: its variable holds the double's bits.
inline double real_bits(int64_t bits) {
    double value;
    std::memcpy(&value, &bits, sizeof(value));
    return value;
}
// Resize's output size for a scale read at run time: floor(dim * scale); -1 when out of range.
inline int64_t resize_scaled(int64_t dim, int64_t scale_bits) {
    const double size = double(dim) * real_bits(scale_bits);
    return size >= 0 && size < 4611686018427387904.0 ? int64_t(size) : -1;
}
// Elements of a float Range read at run time: max(0, ceil((limit - start) / delta)) in double; -1 for a
// zero or non-finite delta or a count out of range.
inline int64_t range_count_real(int64_t start_bits, int64_t limit_bits, int64_t delta_bits) {
    const double delta = real_bits(delta_bits);
    if (delta == 0) return -1;
    const double n = (real_bits(limit_bits) - real_bits(start_bits)) / delta;
    if (!(n > -4611686018427387904.0 && n < 4611686018427387904.0)) return -1;
    const int64_t count = int64_t(std::ceil(n));
    return count > 0 ? count : 0;
}
inline int64_t at_most(int64_t value, int64_t limit) { return value <= limit ? value : -1; }
// Integer division toward zero (ONNX's Div of integers) of values computed at run time; 0 for a zero divisor.
inline int64_t div_trunc(int64_t a, int64_t b) { return b != 0 ? a / b : 0; }
// An index or step computed at run time, clamped past every size (as the read ones are).
inline int64_t clamp_value(int64_t v) {
    const int64_t limit = int64_t(1) << 56;
    return v < -limit ? -limit : (v > limit ? limit : v);
}
// The bits of the double nearest the integer v (a Cast to float of a value computed at run time).
inline int64_t real_of_int(int64_t v) {
    const double f = double(v);
    int64_t bits;
    std::memcpy(&bits, &f, sizeof(bits));
    return bits;
}
// A slice step no larger than the axis: a bigger one takes the same single element, and strides stay small.
inline int64_t slice_step(int64_t dim, int64_t step) {
    const int64_t bound = dim > 1 ? dim : 1;
    return step > bound ? bound : (step < -bound ? -bound : step);
}

// ---- index-driven gathers (templates on the index type; bounds-checked) -------------------------------
// Gather along an axis: in is [outer, n, inner], indices has `count` entries (negative = from the end).
// Returns false when an index is out of range.
template <typename I>
bool gather(const void* in, void* out, size_t elem, int64_t outer, int64_t n, int64_t inner, const I* indices,
            int64_t count) {
    for (int64_t c = 0; c < count; ++c)
        if (int64_t(indices[c]) < -n || int64_t(indices[c]) >= n) return false;
    const char* src = static_cast<const char*>(in);
    char* dst = static_cast<char*>(out);
    const size_t block = size_t(inner) * elem;
    for (int64_t o = 0; o < outer; ++o)
        for (int64_t c = 0; c < count; ++c) {
            const int64_t k = int64_t(indices[c]) < 0 ? int64_t(indices[c]) + n : int64_t(indices[c]);
            std::memcpy(dst, src + (o * n + k) * block, block);
            dst += block;
        }
    return true;
}

// GatherElements: out[i] = data[i with axis replaced by indices[i]] over `rank` dims.
template <typename I>
bool gather_elements(const void* data, const I* indices, void* out, size_t elem, int rank, const int64_t* data_shape,
                     const int64_t* index_shape, int axis) {
    int64_t data_strides[8], total = 1, s = 1;
    for (int d = rank - 1; d >= 0; --d) { data_strides[d] = s; s *= data_shape[d]; }
    for (int d = 0; d < rank; ++d) total *= index_shape[d];
    int64_t index[8] = {0};
    const char* src = static_cast<const char*>(data);
    char* dst = static_cast<char*>(out);
    for (int64_t e = 0; e < total; ++e, dst += elem) {
        int64_t k = static_cast<int64_t>(indices[e]);
        if (k < 0) k += data_shape[axis];
        if (k < 0 || k >= data_shape[axis]) return false;
        int64_t at = 0;
        for (int d = 0; d < rank; ++d) at += (d == axis ? k : index[d]) * data_strides[d];
        std::memcpy(dst, src + at * elem, elem);
        for (int d = rank - 1; d >= 0; --d) {
            if (++index[d] < index_shape[d]) break;
            index[d] = 0;
        }
    }
    return true;
}

// GatherND (batch_dims = 0): indices is [count, k]; each row picks a slice of `block` elements.
template <typename I>
bool gather_nd(const void* data, const I* indices, void* out, size_t elem, int rank, const int64_t* data_shape,
               int64_t count, int k) {
    int64_t strides[8] = {0}, s = 1;
    for (int d = rank - 1; d >= 0; --d) { strides[d] = s; s *= data_shape[d]; }
    const int64_t block = k < rank ? strides[k - 1] : 1;
    const char* src = static_cast<const char*>(data);
    char* dst = static_cast<char*>(out);
    for (int64_t c = 0; c < count; ++c, dst += block * elem) {
        int64_t at = 0;
        for (int d = 0; d < k; ++d) {
            int64_t v = static_cast<int64_t>(indices[c * k + d]);
            if (v < 0) v += data_shape[d];
            if (v < 0 || v >= data_shape[d]) return false;
            at += v * strides[d];
        }
        std::memcpy(dst, src + at * elem, block * elem);
    }
    return true;
}

// Tile: out has shape in_shape[d] * repeats[d].
void tile(const void* in, void* out, size_t elem, int rank, const int64_t* in_shape, const int64_t* repeats);

// ---- scalar helpers used by generated elementwise loops ---------------------------------------------
// NaN propagates. Written as a NaN test, then max/min's own select (maxss/minss): GCC turned the one-line form
// `(a > b || a != a) ? a : b` into a data-dependent branch in scalar code (pool rows' tails mispredicted half the time).
template <typename T> inline T maximum(T a, T b) {
    if (a != a) return a;
    return b < a ? a : b;
}
template <typename T> inline T minimum(T a, T b) {
    if (a != a) return a;
    return a < b ? a : b;
}
template <typename T> inline T sign(T a) {
    if constexpr (std::is_floating_point_v<T>) { if (a != a) return a; }
    return static_cast<T>((a > T(0)) - (a < T(0)));
}
template <typename T> inline T div(T a, T b) {
    if constexpr (std::is_integral_v<T>) { return b == 0 ? T(0) : a / b; }  // NumPy gives 0, not a trap
    else { return a / b; }
}
template <typename T> inline T mod_floor(T a, T b) {  // Python/NumPy remainder: sign of the divisor
    if constexpr (std::is_integral_v<T>) {
        if (b == 0) return T(0);
        T r = a % b;
        return (r != 0 && ((r < 0) != (b < 0))) ? r + b : r;
    } else {
        T r = std::fmod(a, b);
        return (r != 0 && ((r < 0) != (b < 0))) ? r + b : r;
    }
}
template <typename T> inline T mod_trunc(T a, T b) {  // C fmod: sign of the dividend
    if constexpr (std::is_integral_v<T>) { return b == 0 ? T(0) : a % b; }
    else { return std::fmod(a, b); }
}
template <typename T, typename E> inline T power(T a, E b) {
    if constexpr (std::is_integral_v<T> && std::is_integral_v<E>) {
        if (b < 0) return a == 1 ? T(1) : (a == -1 ? ((b & 1) ? T(-1) : T(1)) : T(0));
        T result = 1;
        for (T base = a; b; b >>= 1, base *= base) if (b & 1) result *= base;
        return result;
    } else {
        return static_cast<T>(std::pow(static_cast<double>(a), static_cast<double>(b)));
    }
}
inline float power(float a, float b) { return std::pow(a, b); }
template <typename T> inline T round_even(T a) { return std::nearbyint(a); }
template <typename To, typename From> inline To cast(From a) {
    if constexpr (std::is_same_v<To, bool> && std::is_class_v<From>) { return double(a) != 0; }  // e8m0 has no 0
    else if constexpr (std::is_same_v<To, bool>) { return a != From(0); }
    else { return static_cast<To>(a); }
}

}  // namespace exporter_rt

// Kernel families with a header of their own (runtime_c/<family>.h beside <family>.cpp): generated models
// include only this header, so a new family is added here once.
#include "conv_transpose.h"
#include "indexing.h"
#include "norm.h"
#include "quant.h"
#include "resize.h"
#include "signal_ops.h"
#include "sort.h"
#include "vmath.h"

#endif  // EXPORTER_RUNTIME_H
