// exporter runtime: normalisation kernels. See norm.h for the contracts.
#include "norm.h"
#include "exporter_runtime.h"

#include <cmath>

namespace exporter_rt {

// Work (elements) below which a kernel stays on one thread: forking costs more than it saves.
static constexpr int64_t kNormParallelWork = 1 << 15;

template <typename T>
void lrn(const T* x, T* y, int64_t n, int64_t c, int64_t spatial, int64_t size, double alpha, double beta, double bias) {
    const int64_t before = (size - 1) / 2, after = size - 1 - before;  // floor / ceil of (size-1)/2
    const double scale = alpha / double(size);
    const bool parallel = n * c * spatial * size >= kNormParallelWork;
#pragma omp parallel for collapse(2) schedule(static) if (parallel)
    for (int64_t b = 0; b < n; ++b)
        for (int64_t ch = 0; ch < c; ++ch) {
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
}

template <typename T>
void group_norm(const T* x, const T* scale, const T* bias, T* y, int64_t n, int64_t c, int64_t spatial,
                int64_t groups, bool per_group, double eps) {
    const int64_t per = c / groups, count = per * spatial;
    const bool parallel = n * c * spatial >= kNormParallelWork && n * groups > 1;
#pragma omp parallel for collapse(2) schedule(static) if (parallel)
    for (int64_t b = 0; b < n; ++b)
        for (int64_t g = 0; g < groups; ++g) {
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
}

template <typename T>
void softmax(const T* x, T* y, int64_t outer, int64_t n, int64_t inner, bool log) {
    const bool parallel = outer * n * inner >= kParallelWork && outer > 1;
#pragma omp parallel for schedule(static) if (parallel)
    for (int64_t o = 0; o < outer; ++o)
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
}

template <typename T>
void layer_norm(const T* x, const T* scale, const T* bias, T* y, int64_t rows, int64_t n, T eps, float* mean_out,
                float* inv_std_out) {
    const bool parallel = rows * n >= kParallelWork && rows > 1;
#pragma omp parallel for schedule(static) if (parallel)
    for (int64_t r = 0; r < rows; ++r) {
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
