// exporter runtime: transposed convolution. See conv_transpose.h for the contract.
#include "conv_transpose.h"

#include "exporter_runtime.h"

namespace exporter_rt {

template <typename T>
void conv_transpose2d(const ConvTranspose2dShape& s, const T* x, const T* w, const T* bias, T* y, T* scratch) {
    const int64_t cg = s.c / s.groups, mg = s.m / s.groups, hw = s.h * s.w, ohw = s.oh * s.ow;
    const int64_t cols_n = mg * s.kh * s.kw;
    T* xt = scratch;                // [hw, cg]
    T* cols = scratch + hw * cg;    // [hw, mg, kh, kw]
    for (int64_t b = 0; b < s.n; ++b)
        for (int64_t g = 0; g < s.groups; ++g) {
            const T* xg = x + (b * s.c + g * cg) * hw;
            for (int64_t r = 0; r < hw; ++r)
                for (int64_t ci = 0; ci < cg; ++ci) xt[r * cg + ci] = xg[ci * hw + r];
            // w's rows g*cg .. are [cg, mg*kh*kw] contiguous: columns = x^T @ w_g
            gemm<T>(hw, cols_n, cg, xt, cg, w + g * cg * cols_n, cols_n, cols, cols_n, false);
            T* yg = y + (b * s.m + g * mg) * ohw;
            const bool parallel = mg * hw * s.kh * s.kw >= (1 << 15) && mg > 1;
            // one output plane per thread: no two threads add into the same element
#pragma omp parallel for schedule(static) if (parallel)
            for (int64_t m = 0; m < mg; ++m) {
                T* plane = yg + m * ohw;
                const T init = bias ? bias[g * mg + m] : T(0);
                for (int64_t o = 0; o < ohw; ++o) plane[o] = init;
                for (int64_t ih = 0; ih < s.h; ++ih)
                    for (int64_t iw = 0; iw < s.w; ++iw) {
                        const T* col = cols + (ih * s.w + iw) * cols_n + m * s.kh * s.kw;
                        for (int64_t ki = 0; ki < s.kh; ++ki) {
                            const int64_t oh = ih * s.sh - s.pt + ki * s.dh;
                            if (oh < 0 || oh >= s.oh) continue;
                            for (int64_t kj = 0; kj < s.kw; ++kj) {
                                const int64_t ow = iw * s.sw - s.pl + kj * s.dw;
                                if (ow >= 0 && ow < s.ow) plane[oh * s.ow + ow] += col[ki * s.kw + kj];
                            }
                        }
                    }
            }
        }
}

template <typename T>
void col2im(const T* x, T* y, int64_t n, int64_t c, int rank, const int64_t* image, const int64_t* block,
            const int64_t* strides, const int64_t* dilations, const int64_t* pads) {
    int64_t windows[8], image_size = 1, block_size = 1, columns = 1;
    for (int d = 0; d < rank; ++d) {
        const int64_t span = dilations[d] * (block[d] - 1) + 1;
        windows[d] = (image[d] + pads[d] + pads[rank + d] - span) / strides[d] + 1;
        image_size *= image[d];
        block_size *= block[d];
        columns *= windows[d] > 0 ? windows[d] : 0;
    }
    for (int64_t i = 0; i < n * c * image_size; ++i) y[i] = T(0);
    if (block_size == 0 || columns == 0) return;  // run-time shapes with no window: nothing to add
    for (int64_t nc = 0; nc < n * c; ++nc)
        for (int64_t k = 0; k < block_size; ++k)
            for (int64_t l = 0; l < columns; ++l) {
                // block offset k and window l as multi-indices (last axis fastest), giving the image position
                int64_t at = 0, kr = k, lr = l, stride_k = block_size, stride_l = columns;
                bool inside = true;
                for (int d = 0; d < rank; ++d) {
                    stride_k /= block[d];
                    stride_l /= windows[d];
                    const int64_t kd = kr / stride_k, ld = lr / stride_l;
                    kr %= stride_k;
                    lr %= stride_l;
                    const int64_t pos = ld * strides[d] - pads[d] + kd * dilations[d];
                    inside = inside && pos >= 0 && pos < image[d];
                    at = at * image[d] + pos;
                }
                if (inside) y[nc * image_size + at] += x[(nc * block_size + k) * columns + l];
            }
}

#include "dtypes.inc"  // EXPORTER_FLOATS

#define EXPORTER_CONV_TRANSPOSE_INSTANTIATE(T) \
    template void conv_transpose2d<T>(const ConvTranspose2dShape&, const T*, const T*, const T*, T*, T*); \
    template void col2im<T>(const T*, T*, int64_t, int64_t, int, const int64_t*, const int64_t*, const int64_t*, \
                            const int64_t*, const int64_t*);
EXPORTER_FLOATS(EXPORTER_CONV_TRANSPOSE_INSTANTIATE)
#undef EXPORTER_CONV_TRANSPOSE_INSTANTIATE

}  // namespace exporter_rt
