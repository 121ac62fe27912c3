// exporter runtime: Resize along one axis. See resize.h for the contract; the tap selection and the
// coefficients follow ONNX's reference implementation (onnx/reference/ops/op_resize.py) exactly.
#include "resize.h"

#include <algorithm>
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

namespace {

// Folds v into [lo, hi] by reflecting at the borders, as often as it takes (GridSample's reflection padding).
double reflect(double v, double lo, double hi) {
    const double range = hi - lo;
    if (range <= 0) return lo;
    if (v >= lo && v <= hi) return v;
    const bool below = v < lo;
    const double d = below ? lo - v : v - hi;
    const int64_t flips = static_cast<int64_t>(d / range);
    const double r = d - double(flips) * range;
    return (flips % 2 == 0) == below ? lo + r : hi - r;
}

// GridSample's weights of the 4 cubic taps at offsets -1..2 from floor(x), t = x - floor(x) (Keys, a = -0.75).
void grid_cubic_weights(double t, double* wt) {
    const double a = -0.75;
    auto near = [&](double d) { return ((a + 2) * d - (a + 3)) * d * d + 1; };         // |d| <= 1
    auto far = [&](double d) { return ((a * d - 5 * a) * d + 8 * a) * d - 4 * a; };    // 1 < |d| < 2
    wt[0] = far(t + 1);
    wt[1] = near(t);
    wt[2] = near(1 - t);
    wt[3] = far(2 - t);
}

}  // namespace

template <typename T>
void grid_sample2d(const T* x, const T* grid, T* y, int64_t n, int64_t c, int64_t h, int64_t w, int64_t oh,
                   int64_t ow, ResizeMode mode, GridPadding padding, bool align_corners) {
    // the sampling area: pixel centres with align_corners, pixel edges without
    const double lo_x = align_corners ? 0 : -0.5, hi_x = align_corners ? double(w - 1) : double(w) - 0.5;
    const double lo_y = align_corners ? 0 : -0.5, hi_y = align_corners ? double(h - 1) : double(h) - 0.5;
    auto denormalize = [&](double v, int64_t len) {
        return align_corners ? (v + 1) / 2 * double(len - 1) : ((v + 1) * double(len) - 1) / 2;
    };
    // a source coordinate outside the area, moved in by the padding mode (zeros leaves it: its taps read 0)
    auto pad_coord = [&](double v, double lo, double hi, int64_t len) {
        if (v >= lo && v <= hi) return v;
        if (padding == GridPadding::Border) return std::min(std::max(v, 0.0), double(len - 1));
        if (padding == GridPadding::Reflection) return reflect(v, lo, hi);
        return v;
    };
    // one tap's index along an axis, or -1 for a zero (zeros padding outside the image)
    auto tap = [&](int64_t i, double lo, double hi, int64_t len) -> int64_t {
        if (i >= 0 && i < len) return i;
        if (padding == GridPadding::Zeros) return -1;
        if (padding == GridPadding::Border) return i < 0 ? 0 : len - 1;
        return static_cast<int64_t>(reflect(double(i), lo, hi));
    };
    for (int64_t b = 0; b < n; ++b)
        for (int64_t p = 0; p < oh * ow; ++p) {
            const T* g = grid + (b * oh * ow + p) * 2;
            // coordinates in float, as ONNX's reference keeps them
            double sx = float(denormalize(double(g[0]), w)), sy = float(denormalize(double(g[1]), h));
            if (mode == ResizeMode::Nearest) { sx = std::nearbyint(sx); sy = std::nearbyint(sy); }
            sx = pad_coord(sx, lo_x, hi_x, w);
            sy = pad_coord(sy, lo_y, hi_y, h);
            int64_t ix[4], iy[4];
            double wx[4], wy[4];
            int taps;
            if (mode == ResizeMode::Nearest) {
                taps = 1;
                ix[0] = tap(static_cast<int64_t>(sx), lo_x, hi_x, w);
                iy[0] = tap(static_cast<int64_t>(sy), lo_y, hi_y, h);
                wx[0] = wy[0] = 1;
            } else {
                const double fx = std::floor(sx), fy = std::floor(sy);
                const int64_t first = mode == ResizeMode::Linear ? 0 : -1;
                taps = mode == ResizeMode::Linear ? 2 : 4;
                if (mode == ResizeMode::Linear) {
                    wx[0] = 1 - (sx - fx); wx[1] = sx - fx;
                    wy[0] = 1 - (sy - fy); wy[1] = sy - fy;
                } else {
                    grid_cubic_weights(sx - fx, wx);
                    grid_cubic_weights(sy - fy, wy);
                }
                for (int k = 0; k < taps; ++k) {
                    ix[k] = tap(static_cast<int64_t>(fx) + first + k, lo_x, hi_x, w);
                    iy[k] = tap(static_cast<int64_t>(fy) + first + k, lo_y, hi_y, h);
                }
            }
            for (int64_t ch = 0; ch < c; ++ch) {
                const T* img = x + (b * c + ch) * h * w;
                double acc = 0;
                for (int r = 0; r < taps; ++r) {
                    if (iy[r] < 0) continue;
                    double row = 0;
                    for (int k = 0; k < taps; ++k)
                        if (ix[k] >= 0) row += wx[k] * double(img[iy[r] * w + ix[k]]);
                    acc += wy[r] * row;
                }
                y[(b * c + ch) * oh * ow + p] = T(acc);
            }
        }
}

#include "dtypes.inc"  // EXPORTER_FLOATS

#define EXPORTER_RESIZE_INSTANTIATE(T)                                                                  \
    template void resize_axis<T>(const ResizeParams&, const T*, T*, int64_t, int64_t, int64_t, int64_t, double, \
                                 double, double); \
    template void grid_sample2d<T>(const T*, const T*, T*, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, \
                                   ResizeMode, GridPadding, bool);
EXPORTER_FLOATS(EXPORTER_RESIZE_INSTANTIATE)
#undef EXPORTER_RESIZE_INSTANTIATE

}  // namespace exporter_rt
