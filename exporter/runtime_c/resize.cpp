// exporter runtime: Resize along one axis. See resize.h for the contract; the tap selection and the
// coefficients follow ONNX's reference implementation (onnx/reference/ops/op_resize.py) exactly.
#include "resize.h"
#include "exporter_runtime.h"

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

// Antialiased linear / cubic downsampling: the filter stretched by 1 / scale over `n` taps (even); the
// weights are the filter at (first tap - ratio) * scale onwards, normalised to sum 1.
int antialias_taps(const ResizeParams& p, double scale) {
    const double s = std::min(scale, 1.0);
    const double reach = p.mode == ResizeMode::Cubic ? 2.0 : 1.0;
    return 2 - 2 * int(std::floor(-reach / s) + 1);
}

double antialias_weight(const ResizeParams& p, double d) {  // the unstretched filter at distance d
    d = std::fabs(d);
    if (p.mode == ResizeMode::Linear) return d < 1 ? 1 - d : 0.0;
    const double A = p.cubic_a;
    if (d <= 1) return ((A + 2) * d - (A + 3)) * d * d + 1;
    if (d < 2) return ((A * d - 5 * A) * d + 8 * A) * d - 4 * A;
    return 0.0;
}

// One output line [inner] of an antialiased pass at source coordinate x (n taps, the filter stretched by 1 / s),
// accumulated in the output one weight at a time (n is unbounded).
template <typename T>
void antialias_line(const ResizeParams& p, double x, int n, double s, const T* src, T* dst, int64_t in_len,
                    int64_t inner) {
    const double fl = std::floor(x);
    const bool integer = x == fl;
    const double ratio = integer ? 1.0 : x - fl;
    const int64_t first = (integer ? int64_t(fl) - 1 : int64_t(fl)) - (n / 2 - 1);
    const int64_t offset = 1 - n / 2;  // the filter's first tap relative to the left neighbour
    auto skipped = [&](int64_t k) { return p.exclude_outside && (k < 0 || k >= in_len); };
    double sum = 0;  // the weights' total (taps outside the input count unless exclude_outside)
    for (int t = 0; t < n; ++t)
        if (!skipped(first + t)) sum += antialias_weight(p, (double(offset + t) - ratio) * s);
    if (sum == 0) sum = 1;
    for (int64_t i = 0; i < inner; ++i) dst[i] = T(0);
    for (int t = 0; t < n; ++t) {
        const int64_t k = first + t;
        const double w = skipped(k) ? 0.0 : antialias_weight(p, (double(offset + t) - ratio) * s) / sum;
        if (w == 0) continue;
        const T* line = src + (k < 0 ? 0 : (k >= in_len ? in_len - 1 : k)) * inner;  // edge
        for (int64_t i = 0; i < inner; ++i) dst[i] = T(double(dst[i]) + w * double(line[i]));
    }
}

}  // namespace

template <typename T>
void resize_axis(const ResizeParams& p, const T* in, T* out, int64_t outer, int64_t in_len, int64_t out_len,
                 int64_t inner, double scale, double roi_start, double roi_end) {
    // antialias (linear / cubic downsampling): more taps, from the filter widened by 1 / scale
    const bool antialias = p.antialias && p.mode != ResizeMode::Nearest && scale < 1.0;
    const int wide = antialias ? antialias_taps(p, scale) : 1;
    const bool parallel = outer * out_len * inner * wide >= (1 << 15);
    parallel_for(outer * out_len, parallel, [&](int64_t begin, int64_t end) {
        for (int64_t unit = begin; unit < end; ++unit) {
            const int64_t o = unit / out_len, y = unit % out_len;
            bool outside;
            const double x = source_coordinate(p, y, in_len, out_len, scale, roi_start, roi_end, outside);
            T* dst = out + (o * out_len + y) * inner;
            if (outside || in_len == 0) {
                for (int64_t i = 0; i < inner; ++i) dst[i] = T(p.extrapolation);
                continue;
            }
            const T* src = in + o * in_len * inner;
            if (antialias) {
                antialias_line(p, x, wide, scale, src, dst, in_len, inner);
                continue;
            }
            int64_t index[4];
            double coeff[4];
            const int n = taps_for(p, x, in_len, index, coeff);
            for (int64_t i = 0; i < inner; ++i) {
                double sum = 0;
                for (int t = 0; t < n; ++t) sum += coeff[t] * double(src[index[t] * inner + i]);
                dst[i] = T(sum);
            }
        }
    });
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
void grid_sample(const T* x, const T* grid, T* y, int64_t n, int64_t c, int rank, const int64_t* in,
                 const int64_t* out, ResizeMode mode, GridPadding padding, bool align_corners) {
    int64_t in_count = 1, out_count = 1, stride[3];
    for (int a = rank - 1; a >= 0; --a) {
        stride[a] = in_count;
        in_count *= in[a];
        out_count *= out[a];
    }
    const int taps = mode == ResizeMode::Nearest ? 1 : (mode == ResizeMode::Linear ? 2 : 4);
    int64_t combos = 1;  // taps^rank points mixed per output value
    for (int a = 0; a < rank; ++a) combos *= taps;
    for (int64_t b = 0; b < n; ++b)
        for (int64_t p = 0; p < out_count; ++p) {
            const T* g = grid + (b * out_count + p) * rank;
            int64_t index[3][4];  // per spatial axis: tap indices (-1: a zero of zeros padding) and weights
            double weight[3][4];
            for (int a = 0; a < rank; ++a) {
                const int64_t len = in[a];
                // the sampling area: pixel centres with align_corners, pixel edges without
                const double lo = align_corners ? 0 : -0.5, hi = align_corners ? double(len - 1) : double(len) - 0.5;
                const double v = double(g[rank - 1 - a]);  // grid components run x (last axis) first
                // coordinates in float, as ONNX's reference keeps them
                double s = float(align_corners ? (v + 1) / 2 * double(len - 1) : ((v + 1) * double(len) - 1) / 2);
                if (mode == ResizeMode::Nearest) s = std::nearbyint(s);
                if (!(s >= lo && s <= hi)) {  // outside the area: moved in by the padding mode (zeros leaves it)
                    if (padding == GridPadding::Border) s = std::min(std::max(s, 0.0), double(len - 1));
                    else if (padding == GridPadding::Reflection) s = reflect(s, lo, hi);
                }
                const double f = mode == ResizeMode::Nearest ? s : std::floor(s);
                const int64_t first = mode == ResizeMode::Cubic ? -1 : 0;
                if (mode == ResizeMode::Nearest) weight[a][0] = 1;
                else if (mode == ResizeMode::Linear) { weight[a][0] = 1 - (s - f); weight[a][1] = s - f; }
                else grid_cubic_weights(s - f, weight[a]);
                for (int k = 0; k < taps; ++k) {
                    int64_t i = static_cast<int64_t>(f) + first + k;
                    if (i < 0 || i >= len) {
                        if (padding == GridPadding::Zeros) i = -1;
                        else if (padding == GridPadding::Border) i = i < 0 ? 0 : len - 1;
                        else i = static_cast<int64_t>(reflect(double(i), lo, hi));
                    }
                    index[a][k] = i;
                }
            }
            for (int64_t ch = 0; ch < c; ++ch) {
                const T* img = x + (b * c + ch) * in_count;
                double acc = 0;
                for (int64_t k = 0; k < combos; ++k) {
                    int64_t offset = 0, rest = k;
                    double w = 1;
                    for (int a = rank - 1; a >= 0 && offset >= 0; --a) {
                        const int64_t t = rest % taps, i = index[a][t];
                        rest /= taps;
                        offset = i < 0 ? -1 : offset + i * stride[a];
                        w *= weight[a][t];
                    }
                    if (offset >= 0) acc += w * double(img[offset]);
                }
                y[(b * c + ch) * out_count + p] = T(acc);
            }
        }
}

template <typename T>
bool roi_align(const T* x, const T* rois, const int64_t* batch_indices, T* y, int64_t n, int64_t c, int64_t h,
               int64_t w, int64_t num_rois, int64_t oh, int64_t ow, int64_t sampling_ratio, double spatial_scale,
               bool half_pixel, bool max_mode) {
    for (int64_t r = 0; r < num_rois; ++r)
        if (batch_indices[r] < 0 || batch_indices[r] >= n) return false;
    const double shift = half_pixel ? 0.5 : 0.0;
    parallel_for(num_rois, num_rois * c * oh * ow >= (1 << 14), [&](int64_t r_begin, int64_t r_end) {
        for (int64_t r = r_begin; r < r_end; ++r) {
            const T* roi = rois + r * 4;
            const double x0 = double(roi[0]) * spatial_scale - shift, y0 = double(roi[1]) * spatial_scale - shift;
            double rw = double(roi[2]) * spatial_scale - shift - x0, rh = double(roi[3]) * spatial_scale - shift - y0;
            if (!half_pixel) { rw = std::max(rw, 1.0); rh = std::max(rh, 1.0); }
            const double bin_h = rh / double(oh), bin_w = rw / double(ow);
            const int64_t grid_h = sampling_ratio > 0 ? sampling_ratio : int64_t(std::ceil(rh / double(oh)));
            const int64_t grid_w = sampling_ratio > 0 ? sampling_ratio : int64_t(std::ceil(rw / double(ow)));
            const double count = double(std::max<int64_t>(grid_h * grid_w, 1));
            const T* image = x + batch_indices[r] * c * h * w;
            for (int64_t ph = 0; ph < oh; ++ph)
                for (int64_t pw = 0; pw < ow; ++pw) {
                    T* out = y + (r * c * oh + ph) * ow + pw;  // channel k at out[k * oh * ow]
                    for (int64_t k = 0; k < c; ++k) out[k * oh * ow] = T(0);
                    bool first = true;
                    for (int64_t iy = 0; iy < grid_h; ++iy)
                        for (int64_t ix = 0; ix < grid_w; ++ix) {
                            double sy = y0 + double(ph) * bin_h + (double(iy) + 0.5) * bin_h / double(grid_h);
                            double sx = x0 + double(pw) * bin_w + (double(ix) + 0.5) * bin_w / double(grid_w);
                            // the 4 taps and weights; a sample more than a pixel outside reads nothing (weights 0)
                            int64_t pos[4] = {0, 0, 0, 0};
                            double wt[4] = {0, 0, 0, 0};
                            if (!(sy < -1.0 || sy > double(h) || sx < -1.0 || sx > double(w))) {
                                sy = std::max(sy, 0.0);
                                sx = std::max(sx, 0.0);
                                int64_t ylo = int64_t(sy), xlo = int64_t(sx), yhi, xhi;
                                if (ylo >= h - 1) { ylo = yhi = h - 1; sy = double(ylo); } else yhi = ylo + 1;
                                if (xlo >= w - 1) { xlo = xhi = w - 1; sx = double(xlo); } else xhi = xlo + 1;
                                const double ly = sy - double(ylo), lx = sx - double(xlo);
                                pos[0] = ylo * w + xlo; pos[1] = ylo * w + xhi; pos[2] = yhi * w + xlo; pos[3] = yhi * w + xhi;
                                wt[0] = (1 - ly) * (1 - lx); wt[1] = (1 - ly) * lx; wt[2] = ly * (1 - lx); wt[3] = ly * lx;
                            }
                            for (int64_t k = 0; k < c; ++k) {
                                const T* plane = image + k * h * w;
                                T& o = out[k * oh * ow];
                                if (max_mode) {  // the largest weighted tap of all samples
                                    double v = wt[0] * double(plane[pos[0]]);
                                    for (int t = 1; t < 4; ++t) v = std::max(v, wt[t] * double(plane[pos[t]]));
                                    o = first ? T(v) : std::max(o, T(v));
                                } else {
                                    double v = 0;
                                    for (int t = 0; t < 4; ++t) v += wt[t] * double(plane[pos[t]]);
                                    o = T(double(o) + v / count);
                                }
                            }
                            first = false;
                        }
                }
        }
    });
    return true;
}

#include "dtypes.inc"  // EXPORTER_FLOATS

#define EXPORTER_RESIZE_INSTANTIATE(T)                                                                  \
    template void resize_axis<T>(const ResizeParams&, const T*, T*, int64_t, int64_t, int64_t, int64_t, double, \
                                 double, double); \
    template void grid_sample<T>(const T*, const T*, T*, int64_t, int64_t, int, const int64_t*, const int64_t*, \
                                 ResizeMode, GridPadding, bool);                                                   \
    template bool roi_align<T>(const T*, const T*, const int64_t*, T*, int64_t, int64_t, int64_t, int64_t, int64_t,  \
                               int64_t, int64_t, int64_t, double, bool, bool);
EXPORTER_FLOATS(EXPORTER_RESIZE_INSTANTIATE)
#undef EXPORTER_RESIZE_INSTANTIATE

}  // namespace exporter_rt
