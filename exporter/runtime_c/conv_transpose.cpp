// exporter runtime: transposed convolution. See conv_transpose.h for the contract.
#include "conv_transpose.h"

#include "exporter_runtime.h"

namespace exporter_rt {

template <typename T>
void conv_transpose3d(const ConvTranspose3dShape& s, const T* x, const T* w, const T* bias, T* y, T* scratch) {
    const int64_t cg = s.c / s.groups, mg = s.m / s.groups, in = s.d * s.h * s.w, out = s.od * s.oh * s.ow;
    const int64_t taps = s.kd * s.kh * s.kw, cols_n = mg * taps;
    T* xt = scratch;                // [in, cg]
    T* cols = scratch + in * cg;    // [in, mg, kd, kh, kw]
    for (int64_t b = 0; b < s.n; ++b)
        for (int64_t g = 0; g < s.groups; ++g) {
            const T* xg = x + (b * s.c + g * cg) * in;
            for (int64_t r = 0; r < in; ++r)
                for (int64_t ci = 0; ci < cg; ++ci) xt[r * cg + ci] = xg[ci * in + r];
            // w's rows g*cg .. are [cg, mg*taps] contiguous: columns = x^T @ w_g
            gemm<T>(in, cols_n, cg, xt, cg, w + g * cg * cols_n, cols_n, cols, cols_n, false);
            T* yg = y + (b * s.m + g * mg) * out;
            const bool parallel = mg * in * taps >= (1 << 15) && mg > 1;
            // one output volume per thread: no two threads add into the same element
            parallel_for(mg, parallel, [&](int64_t m_begin, int64_t m_end) {
                for (int64_t m = m_begin; m < m_end; ++m) {
                    T* vol = yg + m * out;
                    const T init = bias ? bias[g * mg + m] : T(0);
                    for (int64_t o = 0; o < out; ++o) vol[o] = init;
                    for (int64_t id = 0; id < s.d; ++id)
                        for (int64_t ih = 0; ih < s.h; ++ih)
                            for (int64_t iw = 0; iw < s.w; ++iw) {
                                const T* col = cols + ((id * s.h + ih) * s.w + iw) * cols_n + m * taps;
                                for (int64_t kz = 0; kz < s.kd; ++kz) {
                                    const int64_t od = id * s.sd - s.pf + kz * s.dd;
                                    if (od < 0 || od >= s.od) continue;
                                    for (int64_t ki = 0; ki < s.kh; ++ki) {
                                        const int64_t oh = ih * s.sh - s.pt + ki * s.dh;
                                        if (oh < 0 || oh >= s.oh) continue;
                                        T* row = vol + (od * s.oh + oh) * s.ow;
                                        const T* tap = col + (kz * s.kh + ki) * s.kw;
                                        for (int64_t kj = 0; kj < s.kw; ++kj) {
                                            const int64_t ow = iw * s.sw - s.pl + kj * s.dw;
                                            if (ow >= 0 && ow < s.ow) row[ow] += tap[kj];
                                        }
                                    }
                                }
                            }
                }
            });
        }
}

template <typename T>
void conv_transpose2d(const ConvTranspose2dShape& s, const T* x, const T* w, const T* bias, T* y, T* scratch) {
    const ConvTranspose3dShape d{s.n,  s.c,  1, s.h,  s.w,  s.m,  1,    s.kh, s.kw, 1,      s.oh,
                                 s.ow, 1,    s.sh, s.sw, 1,    s.dh, s.dw, 0,    s.pt, s.pl, s.groups};
    conv_transpose3d(d, x, w, bias, y, scratch);
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
    template void conv_transpose3d<T>(const ConvTranspose3dShape&, const T*, const T*, const T*, T*, T*); \
    template void col2im<T>(const T*, T*, int64_t, int64_t, int, const int64_t*, const int64_t*, const int64_t*, \
                            const int64_t*, const int64_t*);
EXPORTER_FLOATS(EXPORTER_CONV_TRANSPOSE_INSTANTIATE)
#undef EXPORTER_CONV_TRANSPOSE_INSTANTIATE

}  // namespace exporter_rt
