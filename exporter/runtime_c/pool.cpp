// exporter runtime: pooling over NCHW (max, average, Lp, global). See exporter_runtime.h for the contracts.
#include "exporter_runtime.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace exporter_rt {

template <typename T>
void max_pool2d(const Pool2dShape& s, const T* x, T* y) {
    const bool parallel = s.n * s.c * s.oh * s.ow * s.kh * s.kw >= kParallelWork;
    T lowest = std::numeric_limits<T>::lowest();
    if constexpr (std::numeric_limits<T>::has_infinity) lowest = -std::numeric_limits<T>::infinity();
#pragma omp parallel for schedule(static) if (parallel)
    for (int64_t nc = 0; nc < s.n * s.c; ++nc) {
        const T* in = x + nc * s.h * s.w;
        T* out = y + nc * s.oh * s.ow;
        for (int64_t oy = 0; oy < s.oh; ++oy) {
            // a whole output row per window tap, with the in-image column range hoisted out of the loop;
            // every output still sees its taps in (ki, kj) order, so NaN handling is unchanged
            T* row = out + oy * s.ow;
            for (int64_t ox = 0; ox < s.ow; ++ox) row[ox] = lowest;
            for (int64_t ki = 0; ki < s.kh; ++ki) {
                const int64_t iy = oy * s.sh - s.pt + ki * s.dh;
                if (iy < 0 || iy >= s.h) continue;
                const T* src = in + iy * s.w;
                for (int64_t kj = 0; kj < s.kw; ++kj) {
                    const int64_t ix0 = kj * s.dw - s.pl;
                    const int64_t lo = ix0 >= 0 ? 0 : (-ix0 + s.sw - 1) / s.sw;
                    const int64_t hi = s.w - ix0 <= 0 ? 0 : std::min(s.ow, (s.w - ix0 + s.sw - 1) / s.sw);
                    for (int64_t ox = lo; ox < hi; ++ox) row[ox] = maximum(row[ox], src[ox * s.sw + ix0]);
                }
            }
        }
    }
}

template <typename T>
void max_pool2d_indices(const Pool2dShape& s, const T* x, T* y, int64_t* indices, bool column_major) {
    const bool parallel = s.n * s.c * s.oh * s.ow * s.kh * s.kw >= kParallelWork;
#pragma omp parallel for schedule(static) if (parallel)
    for (int64_t nc = 0; nc < s.n * s.c; ++nc) {
        const T* in = x + nc * s.h * s.w;
        for (int64_t oy = 0; oy < s.oh; ++oy)
            for (int64_t ox = 0; ox < s.ow; ++ox) {
                T best = T(0);
                int64_t at = -1;  // no tap in the image: 0 and index -1
                for (int64_t ki = 0; ki < s.kh; ++ki) {
                    const int64_t iy = oy * s.sh - s.pt + ki * s.dh;
                    if (iy < 0 || iy >= s.h) continue;
                    for (int64_t kj = 0; kj < s.kw; ++kj) {
                        const int64_t ix = ox * s.sw - s.pl + kj * s.dw;
                        if (ix < 0 || ix >= s.w) continue;
                        const T v = in[iy * s.w + ix];
                        if (at < 0 || v > best) {
                            best = v;
                            at = column_major ? ix * s.h + iy : iy * s.w + ix;
                        }
                    }
                }
                const int64_t o = (nc * s.oh + oy) * s.ow + ox;
                y[o] = best;
                indices[o] = at < 0 ? -1 : nc * s.h * s.w + at;
            }
    }
}

template <typename T>
bool max_unpool(const T* x, const int64_t* indices, int64_t n, T* y, int rank, const int64_t* grid, const int64_t* out) {
    int64_t count = 1, cells = 1;
    for (int a = 0; a < rank; ++a) {
        if (grid[a] > out[a]) return false;
        count *= out[a];
        cells *= grid[a];
    }
    std::fill(y, y + count, T(0));
    for (int64_t i = 0; i < n; ++i) {
        int64_t rest = indices[i], at = 0, stride = 1;
        if (rest < 0 || rest >= cells) return false;
        for (int a = rank - 1; a >= 0; --a) {  // the coordinates in `grid`, re-flattened over `out`
            at += (rest % grid[a]) * stride;
            rest /= grid[a];
            stride *= out[a];
        }
        y[at] = x[i];
    }
    return true;
}

template <typename T>
void avg_pool2d(const Pool2dShape& s, const T* x, T* y, bool count_include_pad) {
    const bool parallel = s.n * s.c * s.oh * s.ow * s.kh * s.kw >= kParallelWork;
    const bool unpadded = s.pt == 0 && s.pl == 0 && (s.oh - 1) * s.sh + (s.kh - 1) * s.dh < s.h &&
                          (s.ow - 1) * s.sw + (s.kw - 1) * s.dw < s.w;
    if (unpadded) {  // every window inside the image: no bounds tests, one divisor; taps summed in (ki, kj) order
        const T divisor = T(s.kh * s.kw);
#pragma omp parallel for schedule(static) if (parallel)
        for (int64_t nc = 0; nc < s.n * s.c; ++nc) {
            const T* in = x + nc * s.h * s.w;
            T* out = y + nc * s.oh * s.ow;
            for (int64_t oy = 0; oy < s.oh; ++oy) {
                T* row = out + oy * s.ow;
                for (int64_t ox = 0; ox < s.ow; ++ox) row[ox] = T(0);
                for (int64_t ki = 0; ki < s.kh; ++ki) {
                    const T* src = in + (oy * s.sh + ki * s.dh) * s.w;
                    for (int64_t kj = 0; kj < s.kw; ++kj)
                        for (int64_t ox = 0; ox < s.ow; ++ox) row[ox] += src[ox * s.sw + kj * s.dw];
                }
                for (int64_t ox = 0; ox < s.ow; ++ox) row[ox] /= divisor;
            }
        }
        return;
    }
#pragma omp parallel for schedule(static) if (parallel)
    for (int64_t nc = 0; nc < s.n * s.c; ++nc) {
        const T* in = x + nc * s.h * s.w;
        T* out = y + nc * s.oh * s.ow;
        for (int64_t oy = 0; oy < s.oh; ++oy)
            for (int64_t ox = 0; ox < s.ow; ++ox) {
                T sum = 0;
                int64_t count = 0, padded = 0;
                for (int64_t ki = 0; ki < s.kh; ++ki) {
                    const int64_t iy = oy * s.sh - s.pt + ki * s.dh;
                    for (int64_t kj = 0; kj < s.kw; ++kj) {
                        const int64_t ix = ox * s.sw - s.pl + kj * s.dw;
                        // the padded area ends at the input edge plus the (end) padding
                        const bool inside_pad = iy >= -s.pt && ix >= -s.pl && iy < s.h + s.pb && ix < s.w + s.pr;
                        if (iy < 0 || iy >= s.h || ix < 0 || ix >= s.w) { padded += inside_pad; continue; }
                        sum += in[iy * s.w + ix];
                        ++count;
                    }
                }
                const int64_t divisor = count_include_pad ? count + padded : count;
                out[oy * s.ow + ox] = divisor ? sum / T(divisor) : T(0);
            }
    }
}

template <typename T>
void lp_pool2d(const Pool2dShape& s, const T* x, T* y, double p) {
    const bool parallel = s.n * s.c * s.oh * s.ow * s.kh * s.kw >= kParallelWork;
#pragma omp parallel for schedule(static) if (parallel)
    for (int64_t nc = 0; nc < s.n * s.c; ++nc) {
        const T* in = x + nc * s.h * s.w;
        T* out = y + nc * s.oh * s.ow;
        for (int64_t oy = 0; oy < s.oh; ++oy)
            for (int64_t ox = 0; ox < s.ow; ++ox) {
                double sum = 0;  // double: |x|^p of float32 values overflows or loses digits early
                for (int64_t ki = 0; ki < s.kh; ++ki) {
                    const int64_t iy = oy * s.sh - s.pt + ki * s.dh;
                    if (iy < 0 || iy >= s.h) continue;
                    for (int64_t kj = 0; kj < s.kw; ++kj) {
                        const int64_t ix = ox * s.sw - s.pl + kj * s.dw;
                        if (ix >= 0 && ix < s.w) sum += std::pow(std::fabs(double(in[iy * s.w + ix])), p);
                    }
                }
                out[oy * s.ow + ox] = T(std::pow(sum, 1.0 / p));
            }
    }
}

template <typename T>
void global_avg_pool(int64_t nc, int64_t hw, const T* x, T* y) {
    for (int64_t i = 0; i < nc; ++i) {
        T sum = 0;
        for (int64_t p = 0; p < hw; ++p) sum += x[i * hw + p];
        y[i] = sum / T(hw);
    }
}

template <typename T>
void global_max_pool(int64_t nc, int64_t hw, const T* x, T* y) {
    for (int64_t i = 0; i < nc; ++i) {
        T best = x[i * hw];
        for (int64_t p = 1; p < hw; ++p) best = maximum(best, x[i * hw + p]);
        y[i] = best;
    }
}

#include "dtypes.inc"  // EXPORTER_ALL_NUMERIC, EXPORTER_FLOATS

#define EXPORTER_POOL_NUMERIC(T) \
    template void max_pool2d<T>(const Pool2dShape&, const T*, T*); \
    template void max_pool2d_indices<T>(const Pool2dShape&, const T*, T*, int64_t*, bool); \
    template bool max_unpool<T>(const T*, const int64_t*, int64_t, T*, int, const int64_t*, const int64_t*); \
    template void global_max_pool<T>(int64_t, int64_t, const T*, T*);
EXPORTER_ALL_NUMERIC(EXPORTER_POOL_NUMERIC)
#undef EXPORTER_POOL_NUMERIC
// quantised models (ONNX Runtime's QOperator format) keep MaxPool on their 8-bit data
template void max_pool2d<int8_t>(const Pool2dShape&, const int8_t*, int8_t*);
template void max_pool2d<uint8_t>(const Pool2dShape&, const uint8_t*, uint8_t*);

#define EXPORTER_POOL_FLOAT(T) \
    template void avg_pool2d<T>(const Pool2dShape&, const T*, T*, bool); \
    template void lp_pool2d<T>(const Pool2dShape&, const T*, T*, double); \
    template void global_avg_pool<T>(int64_t, int64_t, const T*, T*);
EXPORTER_FLOATS(EXPORTER_POOL_FLOAT)
#undef EXPORTER_POOL_FLOAT

}  // namespace exporter_rt
