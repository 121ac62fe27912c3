// exporter runtime: Resize along one axis. See resize.h for the contract; the tap selection and the
// coefficients follow ONNX's reference implementation (onnx/reference/ops/op_resize.py) exactly.
#include "resize.h"

#include <cmath>

namespace exporter_rt {

namespace {

// Source coordinate of output index y; sets `outside` for tf_crop_and_resize positions outside the input.
double source_coordinate(const ResizeParams& p, int64_t y, int64_t in_len, int64_t out_len, double scale, double roi0,
                         double roi1, bool& outside) {
    const double out_width = scale * double(in_len);  // fractional for scales that do not divide evenly
    outside = false;
    switch (p.coord) {
    case ResizeCoord::AlignCorners:
        return out_width == 1 ? 0.0 : double(y) * double(in_len - 1) / (out_width - 1);
    case ResizeCoord::Asymmetric:
        return double(y) / scale;
    case ResizeCoord::TfCropAndResize: {
        double x = out_width == 1 ? (roi1 - roi0) * double(in_len - 1) / 2
                                  : double(y) * (roi1 - roi0) * double(in_len - 1) / (out_width - 1);
        x += roi0 * double(in_len - 1);
        outside = x < 0 || x > double(in_len - 1);
        return x;
    }
    case ResizeCoord::PytorchHalfPixel:
        return out_width == 1 ? -0.5 : (double(y) + 0.5) / scale - 0.5;
    case ResizeCoord::HalfPixelSymmetric: {
        const double adjustment = double(out_len) / out_width, center = double(in_len) / 2;
        return center * (1 - adjustment) + (double(y) + 0.5) / scale - 0.5;
    }
    case ResizeCoord::HalfPixel:
    default:
        return (double(y) + 0.5) / scale - 0.5;
    }
}

// Taps (first index, up to 4 coefficients) for source coordinate x; returns the number of taps.
int taps_for(const ResizeParams& p, double x, int64_t in_len, int64_t* index, double* coeff) {
    const double fl = std::floor(x);
    const bool integer = x == fl;
    const double ratio = integer ? 1.0 : x - fl;        // in (0, 1]: an exact integer takes the left window
    const int64_t base = integer ? int64_t(fl) - 1 : int64_t(fl);
    int n;
    if (p.mode == ResizeMode::Nearest) {
        n = 2;
        bool right = true;  // ratio == 1 (exact integer): the right tap is x itself
        if (!integer) {
            switch (p.nearest) {
            case NearestMode::RoundPreferFloor: right = ratio > 0.5; break;
            case NearestMode::RoundPreferCeil: right = ratio >= 0.5; break;
            case NearestMode::Floor: right = false; break;
            case NearestMode::Ceil: right = true; break;
            }
        }
        coeff[0] = right ? 0.0 : 1.0;
        coeff[1] = right ? 1.0 : 0.0;
        index[0] = base;
    } else if (p.mode == ResizeMode::Linear) {
        n = 2;
        coeff[0] = 1 - ratio;
        coeff[1] = ratio;
        index[0] = base;
    } else {
        n = 4;
        const double A = p.cubic_a, r = ratio, s = 1 - ratio;
        coeff[0] = ((A * (r + 1) - 5 * A) * (r + 1) + 8 * A) * (r + 1) - 4 * A;
        coeff[1] = ((A + 2) * r - (A + 3)) * r * r + 1;
        coeff[2] = ((A + 2) * s - (A + 3)) * s * s + 1;
        coeff[3] = ((A * (s + 1) - 5 * A) * (s + 1) + 8 * A) * (s + 1) - 4 * A;
        index[0] = base - 1;
    }
    for (int t = 1; t < n; ++t) index[t] = index[0] + t;
    if (p.exclude_outside) {
        double sum = 0;
        for (int t = 0; t < n; ++t) {
            if (index[t] < 0 || index[t] >= in_len) coeff[t] = 0;
            sum += coeff[t];
        }
        if (sum != 0)
            for (int t = 0; t < n; ++t) coeff[t] /= sum;
    }
    for (int t = 0; t < n; ++t) index[t] = index[t] < 0 ? 0 : (index[t] >= in_len ? in_len - 1 : index[t]);  // edge
    return n;
}

}  // namespace

template <typename T>
void resize_axis(const ResizeParams& p, const T* in, T* out, int64_t outer, int64_t in_len, int64_t out_len,
                 int64_t inner, double scale, double roi_start, double roi_end) {
    const bool parallel = outer * out_len * inner >= (1 << 15);
#pragma omp parallel for collapse(2) schedule(static) if (parallel)
    for (int64_t o = 0; o < outer; ++o)
        for (int64_t y = 0; y < out_len; ++y) {
            bool outside;
            const double x = source_coordinate(p, y, in_len, out_len, scale, roi_start, roi_end, outside);
            T* dst = out + (o * out_len + y) * inner;
            if (outside || in_len == 0) {
                for (int64_t i = 0; i < inner; ++i) dst[i] = T(p.extrapolation);
                continue;
            }
            int64_t index[4];
            double coeff[4];
            const int n = taps_for(p, x, in_len, index, coeff);
            const T* src = in + o * in_len * inner;
            for (int64_t i = 0; i < inner; ++i) {
                double sum = 0;
                for (int t = 0; t < n; ++t) sum += coeff[t] * double(src[index[t] * inner + i]);
                dst[i] = T(sum);
            }
        }
}

#include "dtypes.inc"  // EXPORTER_FLOATS

#define EXPORTER_RESIZE_INSTANTIATE(T)                                                                  \
    template void resize_axis<T>(const ResizeParams&, const T*, T*, int64_t, int64_t, int64_t, int64_t, double, \
                                 double, double);
EXPORTER_FLOATS(EXPORTER_RESIZE_INSTANTIATE)
#undef EXPORTER_RESIZE_INSTANTIATE

}  // namespace exporter_rt
