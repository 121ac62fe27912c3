// exporter runtime: float32 exp, erf, tanh, sigmoid and GELU, vectorised (AVX-512, AVX2+FMA) with a
// portable scalar twin. Each function is written once over a small SIMD traits type, as gemm_driver.h
// does; the target macros pick the traits (EXPORTER_PORTABLE_KERNELS forces the scalar ones).
//
//   vm::exp(x), vm::erf(x), ...          one float: the scalar algorithm (branch-free, so loops of it
//                                        vectorise); other dtypes go to std::
//   vm::exp(x, y, n), vm::gelu(x, y, n)  arrays, with the ISA traits and a padded tail
//   vm::exp_v<S>(v), ...                 one vector, for kernels (softmax) that fuse it with more work
//
// Accuracy (tests/cpp/test_vmath.cpp sweeps every 1021st float of the range that matters against the
// double functions): exp <= 1 ulp, erf, tanh, sigmoid <= 2 ulp; inf, NaN, overflow to inf and gradual
// underflow to subnormals and 0 as std:: does. The polynomial coefficients are least-squares fits of our own,
// reweighted toward minimax (scripts/fit_vmath.py prints them).
#ifndef EXPORTER_VMATH_H
#define EXPORTER_VMATH_H

#include <cmath>
#include <cstdint>
#include <cstring>

#if !defined(EXPORTER_PORTABLE_KERNELS) && (defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__)))
#include <immintrin.h>
#endif

namespace exporter_rt {
namespace vm {

// ---- SIMD traits ------------------------------------------------------------------------------------
// max/min follow x86's rule (the second operand when either is NaN) on every path, so clamp(lo, x, hi)
// written as min(hi, max(lo, x)) keeps a NaN x: NaN handling costs nothing extra.
// The scalar traits select with bit masks, not `?:`: GCC (by default, -ftrapping-math) will not if-convert
// float compares, and a loop with branches is not vectorised (~8x slower).
struct ScalarF {
    static constexpr int L = 1;
    using V = float;
    using M = uint32_t;  // all ones or zero, like a vector compare
    static V set1(float a) { return a; }
    static V load(const float* p) { return *p; }
    static void store(float* p, V a) { *p = a; }
    static V add(V a, V b) { return a + b; }
    static V sub(V a, V b) { return a - b; }
    static V mul(V a, V b) { return a * b; }
    static V div(V a, V b) { return a / b; }
    static V fma(V a, V b, V c) { return a * b + c; }
    static V sqrt(V a) { return __builtin_sqrtf(a); }
    static V max(V a, V b) { return select(lt(b, a), a, b); }
    static V min(V a, V b) { return select(lt(a, b), a, b); }
    static V abs(V a) { return bits_to(to_bits(a) & 0x7fffffffu); }
    static V copysign(V magnitude, V sign) { return bits_to((to_bits(sign) & 0x80000000u) | to_bits(magnitude)); }
    static M lt(V a, V b) { return 0u - uint32_t(a < b); }
    static V select(M m, V a, V b) { return bits_to((to_bits(a) & m) | (to_bits(b) & ~m)); }
    // Round to nearest by the 1.5 * 2^23 shift (no libm call, so it vectorises; |a| < 2^22 here; needs
    // IEEE arithmetic, i.e. no -ffast-math, which would fold the shift away), and
    // 2^n from a whole-valued float n (|n| <= 127) through the same shift: unsigned arithmetic, no float
    // to int conversion, so a NaN lane is garbage but never undefined behaviour.
    static V round(V a) { return (a + 12582912.0f) - 12582912.0f; }
    static V pow2(V n) { return bits_to((to_bits(n + 12582912.0f) + (127u - 0x4B400000u)) << 23); }
    static float reduce_add(V a) { return a; }
    static float reduce_max(V a) { return a; }
    static uint32_t to_bits(float a) { uint32_t u; std::memcpy(&u, &a, 4); return u; }
    static float bits_to(uint32_t u) { float a; std::memcpy(&a, &u, 4); return a; }
};

#if !defined(EXPORTER_PORTABLE_KERNELS) && defined(__AVX512F__)
struct Avx512F {
    static constexpr int L = 16;
    using V = __m512;
    using M = __mmask16;
    static V set1(float a) { return _mm512_set1_ps(a); }
    static V load(const float* p) { return _mm512_loadu_ps(p); }
    static void store(float* p, V a) { _mm512_storeu_ps(p, a); }
    static V add(V a, V b) { return _mm512_add_ps(a, b); }
    static V sub(V a, V b) { return _mm512_sub_ps(a, b); }
    static V mul(V a, V b) { return _mm512_mul_ps(a, b); }
    static V div(V a, V b) { return _mm512_div_ps(a, b); }
    static V fma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
    static V sqrt(V a) { return _mm512_sqrt_ps(a); }
    static V max(V a, V b) { return _mm512_max_ps(a, b); }
    static V min(V a, V b) { return _mm512_min_ps(a, b); }
    static V abs(V a) {
        return _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(a), _mm512_set1_epi32(0x7fffffff)));
    }
    static V copysign(V magnitude, V sign) {
        const __m512i s = _mm512_and_si512(_mm512_castps_si512(sign), _mm512_set1_epi32(int(0x80000000u)));
        return _mm512_castsi512_ps(_mm512_or_si512(s, _mm512_castps_si512(magnitude)));
    }
    static M lt(V a, V b) { return _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ); }
    static V select(M m, V a, V b) { return _mm512_mask_blend_ps(m, b, a); }
    static V round(V a) { return _mm512_roundscale_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
    static V pow2(V n) {
        const __m512i e = _mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127));
        return _mm512_castsi512_ps(_mm512_slli_epi32(e, 23));
    }
    static float reduce_add(V a) { return _mm512_reduce_add_ps(a); }
    static float reduce_max(V a) { return _mm512_reduce_max_ps(a); }
};
using NativeF = Avx512F;
#define EXPORTER_VMATH_ISA "avx512"
#elif !defined(EXPORTER_PORTABLE_KERNELS) && defined(__AVX2__) && defined(__FMA__)
struct Avx2F {
    static constexpr int L = 8;
    using V = __m256;
    using M = __m256;
    static V set1(float a) { return _mm256_set1_ps(a); }
    static V load(const float* p) { return _mm256_loadu_ps(p); }
    static void store(float* p, V a) { _mm256_storeu_ps(p, a); }
    static V add(V a, V b) { return _mm256_add_ps(a, b); }
    static V sub(V a, V b) { return _mm256_sub_ps(a, b); }
    static V mul(V a, V b) { return _mm256_mul_ps(a, b); }
    static V div(V a, V b) { return _mm256_div_ps(a, b); }
    static V fma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
    static V sqrt(V a) { return _mm256_sqrt_ps(a); }
    static V max(V a, V b) { return _mm256_max_ps(a, b); }
    static V min(V a, V b) { return _mm256_min_ps(a, b); }
    static V abs(V a) { return _mm256_and_ps(a, _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff))); }
    static V copysign(V magnitude, V sign) {
        return _mm256_or_ps(_mm256_and_ps(sign, _mm256_castsi256_ps(_mm256_set1_epi32(int(0x80000000u)))), magnitude);
    }
    static M lt(V a, V b) { return _mm256_cmp_ps(a, b, _CMP_LT_OQ); }
    static V select(M m, V a, V b) { return _mm256_blendv_ps(b, a, m); }
    static V round(V a) { return _mm256_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
    static V pow2(V n) {
        const __m256i e = _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127));
        return _mm256_castsi256_ps(_mm256_slli_epi32(e, 23));
    }
    static float reduce_add(V a) {
        __m128 v = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
        v = _mm_add_ps(v, _mm_movehl_ps(v, v));
        return _mm_cvtss_f32(_mm_add_ss(v, _mm_movehdup_ps(v)));
    }
    static float reduce_max(V a) {
        __m128 v = _mm_max_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
        v = _mm_max_ps(v, _mm_movehl_ps(v, v));
        return _mm_cvtss_f32(_mm_max_ss(v, _mm_movehdup_ps(v)));
    }
};
using NativeF = Avx2F;
#define EXPORTER_VMATH_ISA "avx2"
#else
using NativeF = ScalarF;
#define EXPORTER_VMATH_ISA "portable"
#endif

// ---- the algorithms, once ------------------------------------------------------------------------------

// e^x = 2^n * e^r, n = round(x / ln 2), |r| <= ln2 / 2, e^r = 1 + r + r^2 q(r). x is clamped to
// [-104, 89] first: beyond it the result is 0 or inf anyway, and 2^n then stays within two normal
// factors 2^n1 * 2^n2 (n1, n2 in [-75, 64]), which gives overflow to inf and gradual underflow through
// the subnormals with a single rounding.
template <class S> inline typename S::V exp_v(typename S::V x) {
    using V = typename S::V;
    x = S::min(S::set1(89.0f), S::max(S::set1(-104.0f), x));
    const V n = S::round(S::mul(x, S::set1(1.44269504088896341f)));
    V r = S::fma(n, S::set1(-0.693145751953125f), x);   // ln 2 in two parts: n * hi is exact
    r = S::fma(n, S::set1(-1.42860682030941723212e-6f), r);
    V q = S::set1(0.00019790363148786128f);
    q = S::fma(q, r, S::set1(0.001394465914927423f));
    q = S::fma(q, r, S::set1(0.008333496749401093f));
    q = S::fma(q, r, S::set1(0.04166629537940025f));
    q = S::fma(q, r, S::set1(0.1666666567325592f));
    q = S::fma(q, r, S::set1(0.5f));
    // 1 + (r + r^2 q): the one rounding of the sum with 1 comes last
    const V p = S::add(S::fma(S::mul(r, r), q, r), S::set1(1.0f));
    const V n1 = S::round(S::mul(n, S::set1(0.5f)));
    return S::mul(S::mul(p, S::pow2(n1)), S::pow2(S::sub(n, n1)));
}

// erf(x) = sign(x) erf(|x|), erf(a) = a P(a^2) for a < 1, 1 - e^Q(a) above (Q fits log erfc on [1, 3.93],
// in powers of a - 2.5 to keep the terms small). a is clamped to 3.93, where erf rounds to 1.
template <class S> inline typename S::V erf_v(typename S::V x) {
    using V = typename S::V;
    const V a = S::min(S::set1(3.93f), S::abs(x));
    const V x2 = S::mul(a, a);
    V p = S::set1(7.854218711145222e-05f);
    p = S::fma(p, x2, S::set1(-0.0008010310702957213f));
    p = S::fma(p, x2, S::set1(0.005188342183828354f));
    p = S::fma(p, x2, S::set1(-0.02685382030904293f));
    p = S::fma(p, x2, S::set1(0.1128358542919159f));
    p = S::fma(p, x2, S::set1(-0.3761262595653534f));
    p = S::fma(p, x2, S::set1(1.1283791065216064f));
    const V small = S::mul(a, p);
    const V u = S::sub(a, S::set1(2.5f));
    V q = S::set1(-4.402797415536952e-08f);
    q = S::fma(q, u, S::set1(1.6282415344903711e-06f));
    q = S::fma(q, u, S::set1(-1.3074540220259223e-05f));
    q = S::fma(q, u, S::set1(7.734082464594394e-05f));
    q = S::fma(q, u, S::set1(-0.0004205592558719218f));
    q = S::fma(q, u, S::set1(0.00216522254049778f));
    q = S::fma(q, u, S::set1(-0.010858247056603432f));
    q = S::fma(q, u, S::set1(-0.9438936710357666f));
    q = S::fma(q, u, S::set1(-5.352680683135986f));
    q = S::fma(q, u, S::set1(-7.806815147399902f));
    const V large = S::sub(S::set1(1.0f), exp_v<S>(q));
    // a NaN x fails the comparison and takes `large`, which is NaN (NaN propagates through the clamp)
    return S::copysign(S::select(S::lt(a, S::set1(1.0f)), small, large), x);
}

// tanh(x) = sign(x) tanh(|x|), tanh(a) = a + a^3 P(a^2) for a < 0.625 (no cancellation), 1 - 2 / (e^2a + 1)
// above, a clamped to 10, where tanh rounds to 1. The sign goes on last, so tanh(-0) = -0.
template <class S> inline typename S::V tanh_v(typename S::V x) {
    using V = typename S::V;
    const V a = S::min(S::set1(10.0f), S::abs(x));
    const V x2 = S::mul(a, a);
    V p = S::set1(-0.0057050003670156f);
    p = S::fma(p, x2, S::set1(0.020639101043343544f));
    p = S::fma(p, x2, S::set1(-0.05373971909284592f));
    p = S::fma(p, x2, S::set1(0.13331441581249237f));
    p = S::fma(p, x2, S::set1(-0.3333328068256378f));
    const V small = S::fma(S::mul(a, x2), p, a);
    const V e = exp_v<S>(S::add(a, a));
    const V large = S::sub(S::set1(1.0f), S::div(S::set1(2.0f), S::add(e, S::set1(1.0f))));
    return S::copysign(S::select(S::lt(a, S::set1(0.625f)), small, large), x);
}

// 1 / (1 + e^-x), from e = e^-|x| so that it never overflows: e / (1 + e) for negative x keeps the
// tiny results (down to the subnormals) that 1 / (1 + e^-x) would flush to 0.
template <class S> inline typename S::V sigmoid_v(typename S::V x) {
    using V = typename S::V;
    const V e = exp_v<S>(S::sub(S::set1(0.0f), S::abs(x)));
    const V one = S::set1(1.0f);
    return S::div(S::select(S::lt(x, S::set1(0.0f)), e, one), S::add(one, e));
}

// GELU as ONNX defines it: x/2 (1 + erf(x / sqrt 2)), or with tanh (approximate="tanh").
template <class S> inline typename S::V gelu_v(typename S::V x) {
    const auto t = erf_v<S>(S::mul(x, S::set1(0.7071067811865476f)));
    return S::mul(S::mul(S::set1(0.5f), x), S::add(S::set1(1.0f), t));
}
template <class S> inline typename S::V gelu_tanh_v(typename S::V x) {
    const auto inner = S::mul(S::set1(0.7978845608028654f), S::fma(S::mul(S::set1(0.044715f), x), S::mul(x, x), x));
    return S::mul(S::mul(S::set1(0.5f), x), S::add(S::set1(1.0f), tanh_v<S>(inner)));
}

// ---- one value: what generated elementwise loops call ----------------------------------------------
// float takes the scalar algorithm (the compiler vectorises loops of it); other dtypes keep std::.
template <typename T> inline T exp(T x) { return std::exp(x); }
template <typename T> inline T erf(T x) { return std::erf(x); }
template <typename T> inline T tanh(T x) { return std::tanh(x); }
template <typename T> inline T sigmoid(T x) { return T(1) / (T(1) + std::exp(-x)); }
template <typename T> inline T gelu(T x) { return T(0.5) * x * (T(1) + std::erf(x * T(0.7071067811865476))); }
template <typename T> inline T gelu_tanh(T x) {
    return T(0.5) * x * (T(1) + std::tanh(T(0.7978845608028654) * (x + T(0.044715) * x * x * x)));
}
template <> inline float exp<float>(float x) { return exp_v<ScalarF>(x); }
template <> inline float erf<float>(float x) { return erf_v<ScalarF>(x); }
template <> inline float tanh<float>(float x) { return tanh_v<ScalarF>(x); }
template <> inline float sigmoid<float>(float x) { return sigmoid_v<ScalarF>(x); }
template <> inline float gelu<float>(float x) { return gelu_v<ScalarF>(x); }
template <> inline float gelu_tanh<float>(float x) { return gelu_tanh_v<ScalarF>(x); }

// ---- arrays: y[i] = f(x[i]) with the ISA's traits (y may be x) ----------------------------------------
// The tail goes through the same vector code on a padded copy, so every element gets bit-identical
// results wherever it sits in the array.
template <class S, typename F> inline void apply(const float* x, float* y, int64_t n, F f) {
    int64_t i = 0;
    for (; i + S::L <= n; i += S::L) S::store(y + i, f(S::load(x + i)));
    if (i < n) {
        float buf[S::L] = {};
        std::memcpy(buf, x + i, size_t(n - i) * sizeof(float));
        S::store(buf, f(S::load(buf)));
        std::memcpy(y + i, buf, size_t(n - i) * sizeof(float));
    }
}
#define EXPORTER_VMATH_ARRAY(name)                                                        \
    inline void name(const float* x, float* y, int64_t n) {                               \
        apply<NativeF>(x, y, n, [](NativeF::V v) { return name##_v<NativeF>(v); });       \
    }
EXPORTER_VMATH_ARRAY(exp)
EXPORTER_VMATH_ARRAY(erf)
EXPORTER_VMATH_ARRAY(tanh)
EXPORTER_VMATH_ARRAY(sigmoid)
EXPORTER_VMATH_ARRAY(gelu)
EXPORTER_VMATH_ARRAY(gelu_tanh)
#undef EXPORTER_VMATH_ARRAY

}  // namespace vm
}  // namespace exporter_rt

#endif  // EXPORTER_VMATH_H
