// exporter runtime: ONNX Resize / Upsample and GridSample; one axis at a time (nearest, linear and cubic interpolation
// are separable, as in ONNX's reference). Pure functions; no allocation.
#ifndef EXPORTER_RESIZE_H
#define EXPORTER_RESIZE_H

#include <cstdint>

namespace exporter_rt {

enum class ResizeMode { Nearest, Linear, Cubic };
enum class ResizeCoord { HalfPixel, HalfPixelSymmetric, PytorchHalfPixel, AlignCorners, Asymmetric, TfCropAndResize };
enum class NearestMode { RoundPreferFloor, RoundPreferCeil, Floor, Ceil };

struct ResizeParams {
    ResizeMode mode;
    ResizeCoord coord;
    NearestMode nearest;
    double cubic_a;          // cubic_coeff_a
    bool exclude_outside;    // taps outside the input get weight 0 (the rest renormalised)
    double extrapolation;    // tf_crop_and_resize: value where the source lies outside the input
    bool antialias = false;  // linear / cubic downsampling: the filter widened by 1 / scale (more taps)
};

// Resizes the middle axis of [outer, in_len, inner] to [outer, out_len, inner]. `scale` is the scale of
// this axis (given, or out_len / in_len for sizes); roi_start/roi_end are used by tf_crop_and_resize.
template <typename T>
void resize_axis(const ResizeParams& p, const T* in, T* out, int64_t outer, int64_t in_len, int64_t out_len,
                 int64_t inner, double scale, double roi_start, double roi_end);

// Output length for a given scale: floor(in * scale), as ONNX defines it.
inline int64_t resize_out(int64_t in, double scale) { return static_cast<int64_t>(double(in) * scale); }

// ONNX GridSample over 2-D or 3-D images (`rank` spatial axes): x [n, c, *in], grid [n, *out, rank] of
// (x, y[, z]) in [-1, 1] (x indexes the last axis) -> y [n, c, *out]. Nearest rounds ties to even; cubic
// (a = -0.75) is 2-D only in ONNX. in / out hold `rank` extents each.
enum class GridPadding { Zeros, Border, Reflection };
template <typename T>
void grid_sample(const T* x, const T* grid, T* y, int64_t n, int64_t c, int rank, const int64_t* in,
                 const int64_t* out, ResizeMode mode, GridPadding padding, bool align_corners);

// ONNX RoiAlign: x [n, c, h, w], rois [num_rois, 4] of (x1, y1, x2, y2) in input units times spatial_scale,
// batch_indices [num_rois] -> y [num_rois, c, oh, ow]. Each output bin averages (or takes the largest
// weighted tap of) a sampling grid of bilinear samples; sampling_ratio 0 picks ceil(roi size / bins).
// half_pixel shifts coordinates by -0.5 (output_half_pixel, the opset-10 behaviour, makes rois at least 1 x 1).
// Returns false on a batch index out of range.
template <typename T>
bool roi_align(const T* x, const T* rois, const int64_t* batch_indices, T* y, int64_t n, int64_t c, int64_t h,
               int64_t w, int64_t num_rois, int64_t oh, int64_t ow, int64_t sampling_ratio, double spatial_scale,
               bool half_pixel, bool max_mode);

}  // namespace exporter_rt

#endif  // EXPORTER_RESIZE_H
