// exporter runtime: normalisation kernels. See norm.h for the contracts.
#include "norm.h"
#include "exporter_runtime.h"
#include "vmath.h"

#include <cmath>
#include <limits>
#include <type_traits>

namespace exporter_rt {

// Work (elements) below which a kernel stays on one thread: forking costs more than it saves.
static constexpr int64_t kNormParallelWork = 1 << 15;
// The same for the vectorised float32 softmax / layer norm rows (~1 ns per element): a fork/join of two
// threads costs ~1 us, so 8 K elements (4 us a thread) already gain.
static constexpr int64_t kRowParallelWork = 1 << 13;

namespace {
using S = vm::NativeF;
using V = S::V;

// One contiguous float32 softmax row: max, then exp(x - max) stored and summed, then the scale, each a
// vector pass. The partial last vector goes through a padded copy (-inf pads: exp gives 0, max ignores).
void softmax_row(const float* p, float* q, int64_t n, bool log) {
    const float ninf = -std::numeric_limits<float>::infinity();
    V vmax = S::set1(ninf);
    int64_t i = 0;
    for (; i + S::L <= n; i += S::L) vmax = S::max(S::load(p + i), vmax);
    float m = S::reduce_max(vmax);
    for (int64_t k = i; k < n; ++k) m = maximum(m, p[k]);
    // a NaN anywhere makes the sum NaN, so the row comes out NaN as with the scalar code
    const V vmax_all = S::set1(m);
    V acc = S::set1(0.0f);
    for (i = 0; i + S::L <= n; i += S::L) {
        const V e = vm::exp_v<S>(S::sub(S::load(p + i), vmax_all));
        if (!log) S::store(q + i, e);
        acc = S::add(acc, e);
    }
    if (i < n) {
        float buf[S::L];
        for (int k = 0; k < S::L; ++k) buf[k] = i + k < n ? p[i + k] : ninf;
        const V e = vm::exp_v<S>(S::sub(S::load(buf), vmax_all));
        S::store(buf, e);
        acc = S::add(acc, e);
        if (!log) for (int64_t k = i; k < n; ++k) q[k] = buf[k - i];
    }
    const float sum = S::reduce_add(acc);
    if (log) {
        const V shift = S::set1(m + std::log(sum));
        for (i = 0; i + S::L <= n; i += S::L) S::store(q + i, S::sub(S::load(p + i), shift));
        for (int64_t k = i; k < n; ++k) q[k] = p[k] - (m + std::log(sum));
    } else {
        const float inv = 1.0f / sum;
        const V vinv = S::set1(inv);
        for (i = 0; i + S::L <= n; i += S::L) S::store(q + i, S::mul(S::load(q + i), vinv));
        for (int64_t k = i; k < n; ++k) q[k] *= inv;
    }
}

// One float32 layer-norm row: mean, then variance about it (two passes: no cancellation), then the
// affine map, in vectors with a scalar tail.
void layer_norm_row(const float* p, const float* scale, const float* bias, float* q, int64_t n, float eps,
                    float* mean_out, float* inv_std_out) {
    V acc = S::set1(0.0f);
    int64_t i = 0;
    for (; i + S::L <= n; i += S::L) acc = S::add(acc, S::load(p + i));
    float sum = S::reduce_add(acc);
    for (int64_t k = i; k < n; ++k) sum += p[k];
    const float mean = sum / float(n);
    const V vmean = S::set1(mean);
    acc = S::set1(0.0f);
    for (i = 0; i + S::L <= n; i += S::L) {
        const V d = S::sub(S::load(p + i), vmean);
        acc = S::fma(d, d, acc);
    }
    float var = S::reduce_add(acc);
    for (int64_t k = i; k < n; ++k) var += (p[k] - mean) * (p[k] - mean);
    var /= float(n);
    const float inv = 1.0f / std::sqrt(var + eps);
    if (mean_out) *mean_out = mean;
    if (inv_std_out) *inv_std_out = inv;
    const V vinv = S::set1(inv);
    for (i = 0; i + S::L <= n; i += S::L) {
        V v = S::mul(S::sub(S::load(p + i), vmean), vinv);
        if (scale) v = S::mul(v, S::load(scale + i));
        if (bias) v = S::add(v, S::load(bias + i));
        S::store(q + i, v);
    }
    for (int64_t k = i; k < n; ++k) {
        float v = (p[k] - mean) * inv;
        if (scale) v *= scale[k];
        if (bias) v += bias[k];
        q[k] = v;
    }
}
}  // namespace

// float32 LRN with beta 0.75 (AlexNet's, GoogLeNet's, ZFNet's and ONNX's default): y = x / t^(3/4) as x / (r sqrt r),
// r = sqrt t, in vectors, over the window's sum of squares summed a chunk of pixels at a time (float: the sum of a
// few squares is well conditioned; ~3 ulp in all). The general path's scalar double pow took 14 ns an element
// (GoogLeNet: 11 of its 29 ms).
static void lrn_three_quarters(const float* x, float* y, int64_t n, int64_t c, int64_t spatial, int64_t before, int64_t after,
                        float scale, float bias) {
    constexpr int64_t kChunk = 1024;
    const bool parallel = n * c * spatial * (before + after + 1) >= kNormParallelWork;
    parallel_for(n * c, parallel, [&](int64_t begin, int64_t end) {
        alignas(64) float sq[kChunk + S::L];
        for (int64_t unit = begin; unit < end; ++unit) {
            const int64_t b = unit / c, ch = unit % c;
            const int64_t lo = std::max<int64_t>(0, ch - before), hi = std::min<int64_t>(c - 1, ch + after);
            const float* image = x + b * c * spatial;
            const float* src = image + ch * spatial;
            float* dst = y + (b * c + ch) * spatial;
            for (int64_t s0 = 0; s0 < spatial; s0 += kChunk) {
                const int64_t len = std::min(kChunk, spatial - s0);
                for (int64_t j = 0; j < len; ++j) sq[j] = 0.0f;
                for (int64_t k = lo; k <= hi; ++k) {
                    const float* p = image + k * spatial + s0;
                    for (int64_t j = 0; j < len; ++j) sq[j] += p[j] * p[j];
                }
                const V vs = S::set1(scale), vb = S::set1(bias);
                auto norm = [&](V v, V q) {
                    const V r = S::sqrt(S::fma(vs, q, vb));
                    return S::div(v, S::mul(r, S::sqrt(r)));
                };
                int64_t j = 0;
                for (; j + S::L <= len; j += S::L) S::store(dst + s0 + j, norm(S::load(src + s0 + j), S::load(sq + j)));
                if (j < len) {  // the tail through the same vector code (identical results wherever an element sits)
                    alignas(64) float buf[S::L] = {};
                    std::memcpy(buf, src + s0 + j, size_t(len - j) * sizeof(float));
                    for (int64_t k = len - j; k < S::L; ++k) sq[j + k] = 0.0f;
                    S::store(buf, norm(S::load(buf), S::load(sq + j)));
                    std::memcpy(dst + s0 + j, buf, size_t(len - j) * sizeof(float));
                }
            }
        }
    });
}

template <typename T>
void lrn(const T* x, T* y, int64_t n, int64_t c, int64_t spatial, int64_t size, double alpha, double beta, double bias) {
    const int64_t before = (size - 1) / 2, after = size - 1 - before;  // floor / ceil of (size-1)/2
    const double scale = alpha / double(size);
    if constexpr (std::is_same_v<T, float>)
        if (beta == 0.75) return lrn_three_quarters(x, y, n, c, spatial, before, after, float(scale), float(bias));
    const bool parallel = n * c * spatial * size >= kNormParallelWork;
    parallel_for(n * c, parallel, [&](int64_t begin, int64_t end) {
        for (int64_t unit = begin; unit < end; ++unit) {
            const int64_t b = unit / c, ch = unit % c;
            const int64_t lo = ch - before < 0 ? 0 : ch - before;
            const int64_t hi = ch + after > c - 1 ? c - 1 : ch + after;
            const T* image = x + b * c * spatial;
            const T* src = image + ch * spatial;
            T* dst = y + (b * c + ch) * spatial;
            for (int64_t s = 0; s < spatial; ++s) {
                double sum = 0;  // a few channels' squares: double keeps float32 results exact to rounding
                for (int64_t k = lo; k <= hi; ++k) {
                    const double v = double(image[k * spatial + s]);
                    sum += v * v;
                }
                dst[s] = T(double(src[s]) / std::pow(bias + scale * sum, beta));
            }
        }
    });
}

template <typename T>
void group_norm(const T* x, const T* scale, const T* bias, T* y, int64_t n, int64_t c, int64_t spatial,
                int64_t groups, bool per_group, double eps) {
    const int64_t per = c / groups, count = per * spatial;
    const bool parallel = n * c * spatial >= kNormParallelWork && n * groups > 1;
    parallel_for(n * groups, parallel, [&](int64_t begin, int64_t end) {
        for (int64_t unit = begin; unit < end; ++unit) {
            const int64_t b = unit / groups, g = unit % groups;
            const T* src = x + (b * c + g * per) * spatial;
            T* dst = y + (b * c + g * per) * spatial;
            double mean = 0;  // two passes in double: large groups (whole feature maps) lose no precision
            for (int64_t i = 0; i < count; ++i) mean += double(src[i]);
            mean /= double(count ? count : 1);
            double var = 0;
            for (int64_t i = 0; i < count; ++i) var += (double(src[i]) - mean) * (double(src[i]) - mean);
            var /= double(count ? count : 1);
            const double inv = 1.0 / std::sqrt(var + eps);
            for (int64_t k = 0; k < per; ++k) {
                const int64_t channel = g * per + k, param = per_group ? g : channel;
                const double a = inv * double(scale[param]), shift = double(bias[param]) - mean * a;
                for (int64_t s = 0; s < spatial; ++s) dst[k * spatial + s] = T(double(src[k * spatial + s]) * a + shift);
            }
        }
    });
}

template <typename T>
void softmax(const T* x, T* y, int64_t outer, int64_t n, int64_t inner, bool log) {
    if constexpr (std::is_same_v<T, float>) {
        if (inner == 1) {  // rows along the last axis: the vector kernel
            const bool parallel = outer * n >= kRowParallelWork && outer > 1;
            parallel_for(outer, parallel, [&](int64_t o_begin, int64_t o_end) {
                for (int64_t o = o_begin; o < o_end; ++o) softmax_row(x + o * n, y + o * n, n, log);
            });
            return;
        }
    }
    const bool parallel = outer * n * inner >= kParallelWork && outer > 1;
    parallel_for(outer, parallel, [&](int64_t o_begin, int64_t o_end) {
        for (int64_t o = o_begin; o < o_end; ++o)
            for (int64_t i = 0; i < inner; ++i) {
                const T* p = x + o * n * inner + i;
                T* q = y + o * n * inner + i;
                T m = p[0];
                for (int64_t k = 1; k < n; ++k) m = maximum(m, p[k * inner]);
                T sum = 0;
                for (int64_t k = 0; k < n; ++k) {
                    const T e = std::exp(p[k * inner] - m);
                    if (!log) q[k * inner] = e;
                    sum += e;
                }
                if (log) {
                    const T shift = m + std::log(sum);
                    for (int64_t k = 0; k < n; ++k) q[k * inner] = p[k * inner] - shift;
                } else {
                    const T inv = T(1) / sum;
                    for (int64_t k = 0; k < n; ++k) q[k * inner] *= inv;
                }
            }
    });
}

template <typename T>
void layer_norm(const T* x, const T* scale, const T* bias, T* y, int64_t rows, int64_t n, T eps, float* mean_out,
                float* inv_std_out) {
    if constexpr (std::is_same_v<T, float>) {
        const bool parallel = rows * n >= kRowParallelWork && rows > 1;
        parallel_for(rows, parallel, [&](int64_t r_begin, int64_t r_end) {
            for (int64_t r = r_begin; r < r_end; ++r)
                layer_norm_row(x + r * n, scale, bias, y + r * n, n, eps, mean_out ? mean_out + r : nullptr,
                               inv_std_out ? inv_std_out + r : nullptr);
        });
        return;
    }
    const bool parallel = rows * n >= kParallelWork && rows > 1;
    parallel_for(rows, parallel, [&](int64_t r_begin, int64_t r_end) {
        for (int64_t r = r_begin; r < r_end; ++r) {
            const T* p = x + r * n;
            T* q = y + r * n;
            T mean = 0;
            for (int64_t k = 0; k < n; ++k) mean += p[k];
            mean /= T(n);
            T var = 0;
            for (int64_t k = 0; k < n; ++k) var += (p[k] - mean) * (p[k] - mean);
            var /= T(n);
            const T inv = T(1) / std::sqrt(var + eps);
            if (mean_out) mean_out[r] = float(mean);
            if (inv_std_out) inv_std_out[r] = float(inv);
            for (int64_t k = 0; k < n; ++k) {
                T v = (p[k] - mean) * inv;
                if (scale) v *= scale[k];
                if (bias) v += bias[k];
                q[k] = v;
            }
        }
    });
}

template <typename T>
void lp_norm(const T* x, T* y, int64_t outer, int64_t n, int64_t inner, int p) {
    for (int64_t o = 0; o < outer; ++o)
        for (int64_t i = 0; i < inner; ++i) {
            const int64_t base = o * n * inner + i;
            double acc = 0;
            for (int64_t k = 0; k < n; ++k) {
                const double v = double(x[base + k * inner]);
                acc += p == 1 ? std::fabs(v) : v * v;
            }
            const double norm = p == 1 ? acc : std::sqrt(acc);
            for (int64_t k = 0; k < n; ++k) y[base + k * inner] = norm == 0 ? T(0) : T(double(x[base + k * inner]) / norm);
        }
}

#include "dtypes.inc"  // EXPORTER_FLOATS

#define EXPORTER_NORM_INSTANTIATE(T)                                                                 \
    template void lrn<T>(const T*, T*, int64_t, int64_t, int64_t, int64_t, double, double, double); \
    template void group_norm<T>(const T*, const T*, const T*, T*, int64_t, int64_t, int64_t, int64_t, bool, double); \
    template void lp_norm<T>(const T*, T*, int64_t, int64_t, int64_t, int);
EXPORTER_FLOATS(EXPORTER_NORM_INSTANTIATE)
#undef EXPORTER_NORM_INSTANTIATE

#define EXPORTER_SOFTMAX_FLOAT(T) \
    template void softmax<T>(const T*, T*, int64_t, int64_t, int64_t, bool); \
    template void layer_norm<T>(const T*, const T*, const T*, T*, int64_t, int64_t, T, float*, float*);
EXPORTER_FLOATS(EXPORTER_SOFTMAX_FLOAT)
#undef EXPORTER_SOFTMAX_FLOAT

}  // namespace exporter_rt
