// exporter runtime: transposed convolution (ONNX ConvTranspose), NCHW; 1-D runs as 2-D with height 1. And
// ONNX Col2Im, the scatter-add half of it on its own.
#ifndef EXPORTER_CONV_TRANSPOSE_H
#define EXPORTER_CONV_TRANSPOSE_H

#include <cstdint>

namespace exporter_rt {

struct ConvTranspose2dShape {
    int64_t n, c, h, w;        // input
    int64_t m, kh, kw;         // output channels (all groups), kernel
    int64_t oh, ow;            // output spatial size
    int64_t sh, sw, dh, dw;    // strides, dilations
    int64_t pt, pl;            // top / left padding (cropped from the full output)
    int64_t groups;
};

// Scratch elements: the input of one group transposed ([h*w, c/groups]) plus the columns
// ([h*w, m/groups * kh * kw]) of one image and group.
inline int64_t conv_transpose2d_scratch_size(const ConvTranspose2dShape& s) {
    return s.h * s.w * (s.c / s.groups + s.m / s.groups * s.kh * s.kw);
}

// y = ConvTranspose(x, w [c, m/groups, kh, kw]) + bias (bias may be null): per image and group one GEMM
// (columns = x^T @ w) and a col2im that adds every column into the output window it came from.
template <typename T>
void conv_transpose2d(const ConvTranspose2dShape& s, const T* x, const T* w, const T* bias, T* y, T* scratch);

// The same over 3-D windows (NCDHW; w [c, m/groups, kd, kh, kw]); conv_transpose2d is its depth-1 case.
struct ConvTranspose3dShape {
    int64_t n, c, d, h, w;
    int64_t m, kd, kh, kw;
    int64_t od, oh, ow;
    int64_t sd, sh, sw, dd, dh, dw;
    int64_t pf, pt, pl;  // front / top / left padding (cropped from the full output)
    int64_t groups;
};
inline int64_t conv_transpose3d_scratch_size(const ConvTranspose3dShape& s) {
    return s.d * s.h * s.w * (s.c / s.groups + s.m / s.groups * s.kd * s.kh * s.kw);
}
template <typename T>
void conv_transpose3d(const ConvTranspose3dShape& s, const T* x, const T* w, const T* bias, T* y, T* scratch);

// ONNX Col2Im over `rank` spatial axes (at most 8): x [n, c * prod(block), L] -> y [n, c, image...], every column
// entry added into the image position its block offset and sliding-window position give (positions in the
// padding are dropped). pads: the rank begin pads, then the rank end pads.
template <typename T>
void col2im(const T* x, T* y, int64_t n, int64_t c, int rank, const int64_t* image, const int64_t* block,
            const int64_t* strides, const int64_t* dilations, const int64_t* pads);

}  // namespace exporter_rt

#endif  // EXPORTER_CONV_TRANSPOSE_H
