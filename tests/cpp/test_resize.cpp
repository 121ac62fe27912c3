// resize.cpp: Resize along one axis against the ONNX operator's definition written out independently:
// the coordinate transformation of every mode, the taps as "the n input positions nearest to x, the
// smaller on a tie" (edge-clamped), tap weights from the kernel functions (nearest rounding, the linear
// hat, Keys' cubic with cubic_coeff_a), exclude_outside renormalisation and tf_crop_and_resize's
// extrapolation value. Upsampling, downsampling, non-integer scales and an output of length 1.
#include <algorithm>

#include "check.h"
#include "exporter_runtime.h"

namespace rt = exporter_rt;

static double source_x(rt::ResizeCoord coord, int64_t y, int64_t in_len, int64_t out_len, double scale, double roi0,
                       double roi1, bool& outside) {
    const double width = scale * double(in_len);
    outside = false;
    switch (coord) {
        case rt::ResizeCoord::AlignCorners: return width == 1 ? 0 : double(y) * double(in_len - 1) / (width - 1);
        case rt::ResizeCoord::Asymmetric: return double(y) / scale;
        case rt::ResizeCoord::PytorchHalfPixel: return width == 1 ? -0.5 : (double(y) + 0.5) / scale - 0.5;
        case rt::ResizeCoord::HalfPixelSymmetric:
            return double(in_len) / 2 * (1 - double(out_len) / width) + (double(y) + 0.5) / scale - 0.5;
        case rt::ResizeCoord::TfCropAndResize: {
            const double x = (width == 1 ? (roi1 - roi0) * double(in_len - 1) / 2
                                         : double(y) * (roi1 - roi0) * double(in_len - 1) / (width - 1)) +
                             roi0 * double(in_len - 1);
            outside = x < 0 || x > double(in_len - 1);
            return x;
        }
        default: return (double(y) + 0.5) / scale - 0.5;  // half_pixel
    }
}

static double keys_cubic(double d, double a) {
    d = std::fabs(d);
    if (d <= 1) return ((a + 2) * d - (a + 3)) * d * d + 1;
    if (d < 2) return ((a * d - 5 * a) * d + 8 * a) * d - 4 * a;
    return 0;
}

static double resize_reference(const rt::ResizeParams& p, const std::vector<double>& line, double x) {
    const int64_t n = int64_t(line.size());
    auto at = [&](int64_t i) { return line[std::min(std::max<int64_t>(i, 0), n - 1)]; };
    if (p.mode == rt::ResizeMode::Nearest) {
        const double fl = std::floor(x), frac = x - fl;
        double pick = x;
        if (frac != 0) {
            switch (p.nearest) {
                case rt::NearestMode::RoundPreferFloor: pick = frac > 0.5 ? fl + 1 : fl; break;
                case rt::NearestMode::RoundPreferCeil: pick = frac >= 0.5 ? fl + 1 : fl; break;
                case rt::NearestMode::Floor: pick = fl; break;
                case rt::NearestMode::Ceil: pick = fl + 1; break;
            }
        }
        return at(int64_t(pick));
    }
    const int taps = p.mode == rt::ResizeMode::Linear ? 2 : 4;
    std::vector<int64_t> candidates;  // the `taps` positions nearest to x, the smaller one on a tie
    for (int64_t i = int64_t(std::floor(x)) - 4; i <= int64_t(std::floor(x)) + 4; ++i) candidates.push_back(i);
    std::stable_sort(candidates.begin(), candidates.end(),
                     [&](int64_t a, int64_t b) { return std::fabs(x - double(a)) < std::fabs(x - double(b)); });
    candidates.resize(taps);
    double sum = 0, weights = 0;
    for (int64_t i : candidates) {
        double w = p.mode == rt::ResizeMode::Linear ? std::max(0.0, 1 - std::fabs(x - double(i))) : keys_cubic(x - double(i), p.cubic_a);
        if (p.exclude_outside && (i < 0 || i >= n)) w = 0;
        sum += w * at(i);
        weights += w;
    }
    return p.exclude_outside && weights != 0 ? sum / weights : sum;
}

template <typename T>
static void test_resize(std::mt19937& rng) {
    const rt::ResizeCoord coords[] = {rt::ResizeCoord::HalfPixel, rt::ResizeCoord::HalfPixelSymmetric,
                                      rt::ResizeCoord::PytorchHalfPixel, rt::ResizeCoord::AlignCorners,
                                      rt::ResizeCoord::Asymmetric, rt::ResizeCoord::TfCropAndResize};
    const rt::NearestMode nearest_modes[] = {rt::NearestMode::RoundPreferFloor, rt::NearestMode::RoundPreferCeil,
                                             rt::NearestMode::Floor, rt::NearestMode::Ceil};
    const std::pair<int64_t, double> sizes[] = {{5, 2.0}, {5, 0.5}, {5, 1.7}, {7, 0.6}, {4, 1.0}, {1, 3.0}, {4, 0.25}, {6, 3.5}};
    const int64_t outer = 2, inner = 3;
    for (const auto& [in_len, scale] : sizes) {
        const int64_t out_len = rt::resize_out(in_len, scale);
        auto x = random_reals<T>(outer * in_len * inner, rng, -4, 4);
        for (rt::ResizeCoord coord : coords)
            for (int mode = 0; mode < 3; ++mode)
                for (int variant = 0; variant < (mode == 0 ? 4 : 2); ++variant) {  // nearest mode / exclude_outside
                    rt::ResizeParams p{rt::ResizeMode(mode), coord, mode == 0 ? nearest_modes[variant] : rt::NearestMode::RoundPreferFloor,
                                       -0.75, mode != 0 && variant == 1, 10.0};
                    if (mode == 2 && variant == 1) p.cubic_a = -0.5;  // PyTorch's coefficient with exclude_outside
                    const double roi0 = 0.2, roi1 = 1.3;  // tf_crop_and_resize: partly outside the input
                    std::vector<double> want(outer * out_len * inner);
                    for (int64_t o = 0; o < outer; ++o)
                        for (int64_t i = 0; i < inner; ++i) {
                            std::vector<double> line(in_len);
                            for (int64_t k = 0; k < in_len; ++k) line[k] = double(x[(o * in_len + k) * inner + i]);
                            for (int64_t y = 0; y < out_len; ++y) {
                                bool outside;
                                const double sx = source_x(coord, y, in_len, out_len, scale, roi0, roi1, outside);
                                want[(o * out_len + y) * inner + i] = outside ? p.extrapolation : resize_reference(p, line, sx);
                            }
                        }
                    std::vector<T> got(want.size());
                    rt::resize_axis<T>(p, x.data(), got.data(), outer, in_len, out_len, inner, scale, roi0, roi1);
                    CHECK(all_close(got, want, tol<T>(), tol<T>()), "resize in=%lld scale=%g coord=%d mode=%d variant=%d",
                          (long long)in_len, scale, int(coord), mode, variant);
                }
    }
    CHECK(rt::resize_out(5, 1.7) == 8 && rt::resize_out(4, 0.25) == 1 && rt::resize_out(3, 0.3) == 0, "resize_out floors");
}

// GridSample: with align_corners, grid points on pixel centres give back the image in every mode; points
// outside read 0 (zeros), the edge pixel (border) or the mirrored pixel (reflection); a midpoint is the mean.
template <typename T>
static void test_grid_sample(std::mt19937& rng) {
    const int64_t n = 2, c = 3, h = 4, w = 5;
    auto x = random_reals<T>(n * c * h * w, rng, -2, 2);
    std::vector<T> grid(n * h * w * 2);
    for (int64_t b = 0; b < n; ++b)
        for (int64_t i = 0; i < h; ++i)
            for (int64_t j = 0; j < w; ++j) {
                grid[((b * h + i) * w + j) * 2] = T(2.0 * double(j) / double(w - 1) - 1);
                grid[((b * h + i) * w + j) * 2 + 1] = T(2.0 * double(i) / double(h - 1) - 1);
            }
    for (auto mode : {rt::ResizeMode::Nearest, rt::ResizeMode::Linear, rt::ResizeMode::Cubic}) {
        std::vector<T> y(x.size());
        const int64_t dims[2] = {h, w};
        rt::grid_sample<T>(x.data(), grid.data(), y.data(), n, c, 2, dims, dims, mode, rt::GridPadding::Zeros, true);
        CHECK(all_close(y, x, 10 * tol<T>(), 10 * tol<T>()), "grid_sample 2-D identity grid mode=%d", int(mode));
    }
    // one image [1, 1, 1, 2] = {1, 3}: x = 3 (a pixel right of the last one), x = 0.5 (between the two)
    const T img[2] = {T(1), T(3)};
    const T points[4] = {T(5), T(0), T(0), T(0)};  // normalised x = 5 -> pixel 3; x = 0 -> pixel 0.5
    struct Want { rt::GridPadding padding; double outside; };
    for (Want t : {Want{rt::GridPadding::Zeros, 0.0}, Want{rt::GridPadding::Border, 3.0},
                   Want{rt::GridPadding::Reflection, 3.0}}) {  // reflection folds 3 over [0, 1]: 3 -> -1 -> 1
        T y[2];
        const int64_t in[2] = {1, 2}, out[2] = {1, 2};
        rt::grid_sample<T>(img, points, y, 1, 1, 2, in, out, rt::ResizeMode::Linear, t.padding, true);
        CHECK(std::fabs(double(y[0]) - t.outside) < 1e-6 && std::fabs(double(y[1]) - 2.0) < 1e-6,
              "grid_sample padding=%d: got %g %g", int(t.padding), double(y[0]), double(y[1]));
    }
    // 3-D: an identity grid over [d, h, w] gives back the volume; the centre of a 2 x 2 x 2 cube is its mean
    const int64_t d = 3, vol[3] = {d, h, w};
    auto v = random_reals<T>(d * h * w, rng, -2, 2);
    std::vector<T> g3(d * h * w * 3), y3(v.size());
    for (int64_t k = 0; k < d; ++k)
        for (int64_t i = 0; i < h; ++i)
            for (int64_t j = 0; j < w; ++j) {
                T* p = &g3[((k * h + i) * w + j) * 3];
                p[0] = T(2.0 * double(j) / double(w - 1) - 1);
                p[1] = T(2.0 * double(i) / double(h - 1) - 1);
                p[2] = T(2.0 * double(k) / double(d - 1) - 1);
            }
    for (auto mode : {rt::ResizeMode::Nearest, rt::ResizeMode::Linear}) {
        rt::grid_sample<T>(v.data(), g3.data(), y3.data(), 1, 1, 3, vol, vol, mode, rt::GridPadding::Zeros, true);
        CHECK(all_close(y3, v, 10 * tol<T>(), 10 * tol<T>()), "grid_sample 3-D identity grid mode=%d", int(mode));
    }
    const T cube[8] = {T(1), T(2), T(3), T(4), T(5), T(6), T(7), T(8)}, centre[3] = {T(0), T(0), T(0)};
    const int64_t cube_dims[3] = {2, 2, 2}, one[3] = {1, 1, 1};
    T mean;
    rt::grid_sample<T>(cube, centre, &mean, 1, 1, 3, cube_dims, one, rt::ResizeMode::Linear, rt::GridPadding::Zeros, true);
    CHECK(std::fabs(double(mean) - 4.5) < 1e-6, "grid_sample 3-D centre: got %g", double(mean));
}

// Antialiased downsampling: a constant line stays constant; halving a line with the linear filter widened
// to 4 taps weights the taps (1, 3, 3, 1) / 8 around each output point.
template <typename T>
static void test_antialias() {
    rt::ResizeParams p{rt::ResizeMode::Linear, rt::ResizeCoord::HalfPixel, rt::NearestMode::RoundPreferFloor, -0.75,
                       false, 0.0, true};
    const T line[8] = {T(0), T(8), T(16), T(24), T(32), T(40), T(48), T(56)};
    T got[4];
    rt::resize_axis<T>(p, line, got, 1, 8, 4, 1, 0.5, 0.0, 1.0);
    // output 1 sits at x = 2.5: taps 1..4 = 8, 16, 24, 32 -> (8 + 48 + 72 + 32) / 8 = 20
    CHECK(std::fabs(double(got[1]) - 20.0) < 1e-4, "antialias linear: got %g", double(got[1]));
    for (auto mode : {rt::ResizeMode::Linear, rt::ResizeMode::Cubic}) {
        p.mode = mode;
        const T flat[8] = {T(3), T(3), T(3), T(3), T(3), T(3), T(3), T(3)};
        T out[3];
        rt::resize_axis<T>(p, flat, out, 1, 8, 3, 1, 3.0 / 8.0, 0.0, 1.0);
        for (T v : out) CHECK(std::fabs(double(v) - 3.0) < 1e-4, "antialias constant mode=%d: got %g", int(mode), double(v));
    }
}

// RoiAlign: a roi covering a constant image averages to the constant; max mode gives the largest weighted
// tap; a batch index out of range is reported.
template <typename T>
static void test_roi_align() {
    T x[32];
    for (int i = 0; i < 32; ++i) x[i] = T(i < 16 ? 2 : 5);  // batch 0 all 2, batch 1 all 5
    const T rois[8] = {T(0.5), T(0.5), T(3), T(3), T(1), T(1), T(2), T(2)};
    const int64_t batch[2] = {1, 0};
    T y[2 * 2 * 2];
    CHECK(rt::roi_align<T>(x, rois, batch, y, 2, 1, 4, 4, 2, 2, 2, 2, 1.0, true, false), "roi_align ran");
    for (int i = 0; i < 8; ++i)
        CHECK(std::fabs(double(y[i]) - (i < 4 ? 5.0 : 2.0)) < 1e-5, "roi_align avg [%d]: got %g", i, double(y[i]));
    const int64_t bad[2] = {0, 2};
    CHECK(!rt::roi_align<T>(x, rois, bad, y, 2, 1, 4, 4, 2, 2, 2, 2, 1.0, true, false), "roi_align bad batch index");
}

int main() {
    std::mt19937 rng(1234);
    test_resize<float>(rng);
    test_resize<double>(rng);
    test_grid_sample<float>(rng);
    test_grid_sample<double>(rng);
    test_antialias<float>();
    test_antialias<double>();
    test_roi_align<float>();
    test_roi_align<double>();
    return finish("resize");
}
