// exporter runtime: 2-D convolution (NCHW). A convolution is the GEMM
//   y[n, group's channels, pixels] = W_g [mg, cg*kh*kw] @ im2col(x_n,g) [cg*kh*kw, oh*ow]
// with the weights as A (pre-packed at export time) and the im2col matrix as B, which is never
// materialised: the driver asks for one [KC x NC] block at a time and Im2colB packs it from x straight
// into NR-column micro-panels (the block stays in L2). 1x1 stride-1 unpadded convolutions read x as a
// plain strided B. One input channel per group (depthwise) runs a direct sliding-window kernel.
#include "gemm_driver.h"

namespace exporter_rt {

namespace {

bool is_pointwise(const Conv2dShape& s) {
    return s.kh == 1 && s.kw == 1 && s.sh == 1 && s.sw == 1 && s.pt == 0 && s.pl == 0 && s.oh == s.h && s.ow == s.w;
}

template <typename T> struct Im2colB {
    static constexpr int64_t rs = 0;
    const T* direct() const { return nullptr; }  // always packed: the columns do not exist in memory
    const T* x;  // this image's and group's first input channel
    const Conv2dShape* s;
    // out of line: inlined into the driver it competes with the tile loops for registers
    __attribute__((noinline)) void pack(int64_t k0, int64_t kc, int64_t j0, int64_t nc, T* dst) const {
        constexpr int64_t NR = detail::tile_nr<T>();
        const int64_t taps = s->kh * s->kw, ow = s->ow, sw = s->sw, padded = (nc + NR - 1) / NR * NR;
        for (int64_t k = 0; k < kc; ++k) {
            const int64_t kk = k0 + k, c = kk / taps, ki = (kk % taps) / s->kw, kj = kk % s->kw;
            const T* in = x + c * s->h * s->w;
            const int64_t iy0 = ki * s->dh - s->pt, ix0 = kj * s->dw - s->pl;
            // output columns whose input column is inside the image (the rest read the zero padding)
            const int64_t lo = ix0 >= 0 ? 0 : (-ix0 + sw - 1) / sw;
            const int64_t hi = s->w - ix0 <= 0 ? 0 : std::min(ow, (s->w - ix0 + sw - 1) / sw);
            T* out = dst + k * NR;
            int64_t oy = j0 / ow, ox = j0 % ow;
            for (int64_t jj = 0; jj < nc;) {  // one output row (a run of ox) at a time ...
                const int64_t run = std::min(ow - ox, nc - jj), iy = oy * s->sh + iy0;
                const bool row_inside = iy >= 0 && iy < s->h;
                const T* src = in + (row_inside ? iy : 0) * s->w + ix0;
                for (int64_t t = 0; t < run;) {  // ... split where it crosses into the next micro-panel
                    const int64_t p = jj + t, chunk = std::min(run - t, NR - p % NR);
                    T* d = out + (p / NR) * kc * NR + p % NR;
                    const int64_t x0 = ox + t;
                    if (!row_inside) {
                        for (int64_t u = 0; u < chunk; ++u) d[u] = T(0);
                    } else if (sw == 1 && x0 >= lo && x0 + chunk <= hi) {
                        for (int64_t u = 0; u < chunk; ++u) d[u] = src[x0 + u];
                    } else {
                        for (int64_t u = 0; u < chunk; ++u) {
                            const int64_t xo = x0 + u;
                            d[u] = (xo >= lo && xo < hi) ? src[xo * sw] : T(0);
                        }
                    }
                    t += chunk;
                }
                jj += run;
                ox = 0;
                ++oy;
            }
            for (int64_t jj = nc; jj < padded; ++jj) out[(jj / NR) * kc * NR + jj % NR] = T(0);
        }
    }
};

// One input channel per group: y[n, m] = sum over the window of x[n, m / mg] * w[m] (mg = multiplier).
template <typename T>
void depthwise(const Conv2dShape& s, const T* x, const T* w, T* y, const Epilogue<T>& ep) {
    const int64_t mg = s.m / s.groups, plane = s.oh * s.ow, taps = s.kh * s.kw;
    const bool parallel = s.n * s.m * plane * taps >= detail::kGemmParallelWork;
#pragma omp parallel for schedule(static) if (parallel)
    for (int64_t nm = 0; nm < s.n * s.m; ++nm) {
        const int64_t n = nm / s.m, m = nm % s.m;
        const T* in = x + (n * s.c + m / mg) * s.h * s.w;
        const T* wm = w + m * taps;
        T* out = y + nm * plane;
        for (int64_t oy = 0; oy < s.oh; ++oy) {
            T* row = out + oy * s.ow;
            for (int64_t ox = 0; ox < s.ow; ++ox) row[ox] = T(0);
            for (int64_t ki = 0; ki < s.kh; ++ki) {
                const int64_t iy = oy * s.sh - s.pt + ki * s.dh;
                if (iy < 0 || iy >= s.h) continue;
                const T* src = in + iy * s.w;
                for (int64_t kj = 0; kj < s.kw; ++kj) {
                    const T wv = wm[ki * s.kw + kj];
                    const int64_t ix0 = kj * s.dw - s.pl;
                    // output columns whose input column is inside the image: no bounds test in the loop
                    const int64_t lo = ix0 >= 0 ? 0 : (-ix0 + s.sw - 1) / s.sw;
                    const int64_t hi = s.w - ix0 <= 0 ? 0 : std::min(s.ow, (s.w - ix0 + s.sw - 1) / s.sw);
                    if (s.sw == 1)
                        for (int64_t ox = lo; ox < hi; ++ox) row[ox] += wv * src[ox + ix0];
                    else
                        for (int64_t ox = lo; ox < hi; ++ox) row[ox] += wv * src[ox * s.sw + ix0];
                }
            }
        }
        if (!detail::epilogue_empty(ep)) {
            Epilogue<T> e = ep;
            if (e.residual) e.residual += n * s.m * plane;
            e.ldr = plane;
            e.bias_rs = 1;
            e.bias_cs = 0;
            detail::apply_epilogue(e, out, plane, m, 0, 1, plane);
        }
    }
}

}  // namespace

template <typename T>
void conv2d_ex(const Conv2dShape& s, const T* x, const T* w, bool w_packed, T* y, const Epilogue<T>& ep) {
    const int64_t cg = s.c / s.groups, mg = s.m / s.groups, plane = s.oh * s.ow, kdim = cg * s.kh * s.kw;
    if (cg == 1 && !w_packed && s.groups > 1) return depthwise(s, x, w, y, ep);
    const bool pointwise = is_pointwise(s);
    for (int64_t n = 0; n < s.n; ++n) {
        for (int64_t g = 0; g < s.groups; ++g) {
            const T* xin = x + (n * s.c + g * cg) * s.h * s.w;
            T* out = y + (n * s.m + g * mg) * plane;
            Epilogue<T> e = ep;
            e.accumulate = false;
            if (e.bias) { e.bias += g * mg; e.bias_rs = 1; e.bias_cs = 0; }
            if (e.residual) { e.residual += (n * s.m + g * mg) * plane; e.ldr = plane; }
            const detail::AOperand<T> a = w_packed ? detail::AOperand<T>{w + g * conv2d_packed_group_size(s), 0, 0, true}
                                                   : detail::AOperand<T>{w + g * mg * kdim, kdim, 1, false};
            if (pointwise)
                detail::gemm_run(mg, plane, kdim, a, static_cast<const T*>(nullptr), detail::StridedB<T>{xin, plane, 1},
                                 out, plane, e);
            else
                detail::gemm_run(mg, plane, kdim, a, static_cast<const T*>(nullptr), Im2colB<T>{xin, &s}, out, plane, e);
        }
    }
}

template <typename T>
void conv2d(const Conv2dShape& s, const T* x, const T* w, const T* bias, T* y) {
    Epilogue<T> ep;
    ep.bias = bias;
    conv2d_ex<T>(s, x, w, false, y, ep);
}

template void conv2d_ex<float>(const Conv2dShape&, const float*, const float*, bool, float*, const Epilogue<float>&);
template void conv2d_ex<double>(const Conv2dShape&, const double*, const double*, bool, double*, const Epilogue<double>&);
template void conv2d<float>(const Conv2dShape&, const float*, const float*, const float*, float*);
template void conv2d<double>(const Conv2dShape&, const double*, const double*, const double*, double*);

}  // namespace exporter_rt
