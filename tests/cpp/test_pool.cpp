// pool.cpp: max / average / global pooling against naive window loops: padding (symmetric and uneven:
// count_include_pad counts the padded area up to the end padding pb/pr), strides, dilations, ceil-mode
// output sizes (windows that run past the padded input), the unpadded fast path of avg_pool2d, 8-bit max.
#include <cmath>
#include <limits>

#include "check.h"
#include "exporter_runtime.h"

namespace rt = exporter_rt;

struct PoolCase { int64_t n, c, h, w, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr; bool ceil; };

static const PoolCase kCases[] = {
    {1, 1, 4, 4, 2, 2, 2, 2, 1, 1, 0, 0, 0, 0, false},   // unpadded, non-overlapping
    {2, 3, 7, 9, 3, 3, 1, 1, 1, 1, 0, 0, 0, 0, false},   // unpadded, overlapping (fast path)
    {1, 2, 8, 8, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, false},   // padded, strided
    {1, 2, 7, 7, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, true},    // ceil mode: last window past the padding
    {2, 2, 9, 10, 3, 2, 2, 3, 2, 2, 2, 1, 2, 1, false},  // dilations, different pads per axis
    {1, 3, 6, 5, 2, 3, 3, 2, 1, 1, 0, 1, 0, 1, true},    // ceil mode without top padding
    {1, 1, 1, 11, 1, 4, 1, 3, 1, 1, 0, 2, 0, 2, false},  // 1-D (height 1)
    {1, 2, 5, 5, 5, 5, 1, 1, 1, 1, 2, 2, 2, 2, false},   // window as large as the image, every output padded
    {1, 1, 4, 5, 3, 3, 1, 1, 1, 1, 0, 0, 1, 2, false},   // end padding only (SAME_UPPER-style, uneven)
    {2, 2, 6, 7, 2, 3, 2, 2, 1, 1, 1, 2, 0, 1, true},    // begin padding larger than the end padding, ceil mode
    {3, 4, 20, 23, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, false}, // large enough to run on several threads
    {1, 2, 12, 13, 9, 8, 1, 2, 1, 1, 4, 3, 4, 4, false}, // over 64 taps (offsets computed, not tabulated)
    {1, 2, 7, 7, 2, 2, 1, 1, 1, 1, 1, 1, 0, 0, false},   // 2x2 stride 1 (unrolled taps over the flat plane)
    {4, 8, 8, 8, 2, 2, 2, 2, 1, 1, 0, 0, 0, 0, false},   // LeNet-sized planes: 2x2 / 2 over all planes at once
    {8, 16, 56, 56, 2, 2, 2, 2, 1, 1, 0, 0, 0, 0, false}, // the same in row chunks shared among threads
    {3, 8, 9, 7, 3, 2, 3, 2, 1, 1, 0, 1, 0, 0, false},   // stacked: 3-row windows tiling 9 rows, left padding
    {2, 8, 9, 6, 2, 2, 2, 2, 1, 1, 0, 0, 1, 0, true},    // not stacked: ceil mode's last window in the padding
    {2, 8, 8, 6, 3, 2, 2, 2, 1, 1, 0, 0, 1, 0, false},   // not stacked: windows overlap the next plane's rows
    // 3x3 / 2 (pool_row_3x2): rows split into even and odd columns from 16 column pairs, chunks overlapping at the end
    {1, 3, 35, 35, 3, 3, 2, 2, 1, 1, 0, 0, 0, 0, false}, // odd width (17 pairs), no padding
    {2, 2, 36, 40, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, false}, // padded by 1, even width
    {1, 2, 37, 41, 3, 3, 2, 2, 1, 1, 1, 1, 0, 1, true},  // ceil mode: the last window in the right padding
    {1, 2, 33, 69, 3, 3, 2, 2, 1, 1, 0, 1, 1, 0, false}, // left padding only, several chunks and a partial one
    {1, 2, 11, 27, 3, 3, 2, 2, 1, 1, 0, 0, 0, 0, false}, // short rows (13 pairs): combined whole, columns at stride 2
    {1, 2, 9, 40, 3, 3, 2, 2, 1, 1, 2, 2, 2, 2, false},  // padding 2: the general path
    // short unpadded rows (pool_plane_flat): the plane as one flat run, columns then rows, outputs picked at the strides
    {2, 3, 13, 13, 3, 3, 2, 2, 1, 1, 0, 0, 0, 0, false}, // SqueezeNet's 3x3 / 2 on small planes
    {1, 2, 15, 17, 2, 3, 3, 2, 2, 2, 0, 0, 1, 1, false}, // dilated, strides 3 and 2, end padding no window reaches
    {1, 2, 10, 12, 5, 5, 1, 1, 1, 1, 0, 0, 0, 0, false}, // stride 1 with 25 taps
    {2, 3, 7, 7, 7, 7, 1, 1, 1, 1, 0, 0, 0, 0, false},   // one window per whole plane: the global pools
    {1, 2, 9, 11, 9, 11, 1, 1, 1, 1, 0, 0, 0, 0, false}, // the same over 99 values (running maxima in lanes)
    {1, 300, 14, 14, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, false}, // stride 1: planes stacked in groups of 64, a partial last
    {2, 5, 10, 9, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2, false},   // stride 1, dilated, stacked
    {1, 2, 140, 130, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, false}, // stride 1, planes too large to stack (one at a time)
    {2, 6, 7, 7, 7, 7, 1, 1, 1, 1, 0, 0, 1, 1, false},     // stride 1, 49 taps: rows then columns (Inception-v1's)
};

static rt::Pool2dShape shape_of(const PoolCase& t) {
    const int64_t oh = rt::conv_out(t.h, t.kh, t.sh, t.dh, t.pt, t.pb, t.ceil);
    const int64_t ow = rt::conv_out(t.w, t.kw, t.sw, t.dw, t.pl, t.pr, t.ceil);
    return {t.n, t.c, t.h, t.w, t.kh, t.kw, oh, ow, t.sh, t.sw, t.dh, t.dw, t.pt, t.pl, t.pb, t.pr};
}

template <typename T>
static void test_max_pool(std::mt19937& rng) {
    for (const PoolCase& t : kCases) {
        const rt::Pool2dShape s = shape_of(t);
        auto x = random_ints<T>(s.n * s.c * s.h * s.w, rng, -50, 50);
        std::vector<T> want(s.n * s.c * s.oh * s.ow), y(want.size());
        for (int64_t nc = 0; nc < s.n * s.c; ++nc)
            for (int64_t i = 0; i < s.oh; ++i)
                for (int64_t j = 0; j < s.ow; ++j) {
                    T best = std::numeric_limits<T>::lowest();
                    for (int64_t ki = 0; ki < s.kh; ++ki)
                        for (int64_t kj = 0; kj < s.kw; ++kj) {
                            const int64_t iy = i * s.sh - s.pt + ki * s.dh, ix = j * s.sw - s.pl + kj * s.dw;
                            if (iy >= 0 && iy < s.h && ix >= 0 && ix < s.w) best = std::max(best, x[(nc * s.h + iy) * s.w + ix]);
                        }
                    want[(nc * s.oh + i) * s.ow + j] = best;
                }
        rt::max_pool2d<T>(s, x.data(), y.data());
        CHECK(y == want, "max_pool2d h=%lld w=%lld k=%lldx%lld s=%lldx%lld d=%lldx%lld p=%lld,%lld,%lld,%lld ceil=%d", (long long)s.h,
              (long long)s.w, (long long)s.kh, (long long)s.kw, (long long)s.sh, (long long)s.sw, (long long)s.dh,
              (long long)s.dw, (long long)s.pt, (long long)s.pl, (long long)s.pb, (long long)s.pr, int(t.ceil));
    }
    // NaN propagates (floats): a window holding a NaN gives NaN
    if constexpr (std::is_floating_point_v<T>) {
        const rt::Pool2dShape s{1, 1, 2, 3, 2, 2, 1, 2, 1, 1, 1, 1, 0, 0, 0, 0};
        const T nan = std::numeric_limits<T>::quiet_NaN();
        const T x[] = {1, nan, 3, 4, 5, 6};
        T y[2];
        rt::max_pool2d<T>(s, x, y);
        CHECK(std::isnan(y[0]) && std::isnan(y[1]), "max_pool2d propagates NaN");
        // and through the 3x3 / 2 split rows (a NaN in an even and in an odd column, left padding 1)
        const rt::Pool2dShape r{1, 1, 5, 40, 3, 3, 2, 20, 2, 2, 1, 1, 0, 1, 0, 0};
        std::vector<T> xr(5 * 40, T(1)), yr(2 * 20);
        xr[2 * 40 + 33] = nan;  // padded column 34 (an even position): windows ox = 16 and 17, both rows
        xr[0 * 40 + 8] = nan;   // padded column 9 (odd): window ox = 4 of the first row
        rt::max_pool2d<T>(r, xr.data(), yr.data());
        for (int64_t oy = 0; oy < 2; ++oy)
            for (int64_t ox = 0; ox < 20; ++ox) {
                bool any = false;
                for (int64_t ky = 0; ky < 3; ++ky)
                    for (int64_t kx = 0; kx < 3; ++kx) {
                        const int64_t iy = oy * 2 + ky, ix = ox * 2 - 1 + kx;
                        if (iy >= 0 && iy < 5 && ix >= 0 && ix < 40) any = any || std::isnan(xr[iy * 40 + ix]);
                    }
                CHECK(bool(std::isnan(yr[oy * 20 + ox])) == any && (any || yr[oy * 20 + ox] == T(1)),
                      "max_pool2d 3x3/2 NaN at (%lld, %lld)", (long long)oy, (long long)ox);
            }
        // and through the stacked stride-1 planes (3x3/1, padding 1): a NaN in plane 1 of 3 reaches only its windows
        {
            const rt::Pool2dShape p{1, 3, 6, 7, 3, 3, 6, 7, 1, 1, 1, 1, 1, 1, 1, 1};
            std::vector<T> xs(3 * 42, T(1)), ys(3 * 42);
            xs[42 + 2 * 7 + 4] = nan;  // plane 1, row 2, column 4
            rt::max_pool2d<T>(p, xs.data(), ys.data());
            for (int64_t c = 0; c < 3; ++c)
                for (int64_t oy = 0; oy < 6; ++oy)
                    for (int64_t ox = 0; ox < 7; ++ox) {
                        const bool hit = c == 1 && std::abs(oy - 2) <= 1 && std::abs(ox - 4) <= 1;
                        const T v = ys[(c * 6 + oy) * 7 + ox];
                        CHECK(hit ? std::isnan(v) : v == T(1), "max_pool2d 3x3/1 NaN at (%lld, %lld, %lld)", (long long)c,
                              (long long)oy, (long long)ox);
                    }
        }
        // and through global_max_pool's running maxima (planes of 40: 32 in lanes, 8 in the tail)
        std::vector<T> g(3 * 40, T(2)), gy(3);
        g[5] = nan;
        g[40 + 37] = nan;
        rt::global_max_pool<T>(3, 40, g.data(), gy.data());
        CHECK(std::isnan(gy[0]) && std::isnan(gy[1]) && gy[2] == T(2), "global_max_pool propagates NaN");
    }
}

template <typename T>
static void test_avg_pool(std::mt19937& rng) {
    for (const PoolCase& t : kCases)
        for (bool include_pad : {false, true}) {
            const rt::Pool2dShape s = shape_of(t);
            auto x = random_ints<T>(s.n * s.c * s.h * s.w, rng, -50, 50);
            std::vector<double> want(s.n * s.c * s.oh * s.ow);
            std::vector<T> y(want.size());
            for (int64_t nc = 0; nc < s.n * s.c; ++nc)
                for (int64_t i = 0; i < s.oh; ++i)
                    for (int64_t j = 0; j < s.ow; ++j) {
                        double sum = 0;
                        int64_t count = 0;
                        for (int64_t ki = 0; ki < s.kh; ++ki)
                            for (int64_t kj = 0; kj < s.kw; ++kj) {
                                const int64_t iy = i * s.sh - s.pt + ki * s.dh, ix = j * s.sw - s.pl + kj * s.dw;
                                if (iy >= 0 && iy < s.h && ix >= 0 && ix < s.w) {
                                    sum += double(x[(nc * s.h + iy) * s.w + ix]);
                                    ++count;
                                } else if (include_pad && iy >= -s.pt && iy < s.h + s.pb && ix >= -s.pl && ix < s.w + s.pr) {
                                    ++count;  // ONNX: padded positions count, taps past the padded input do not
                                }
                            }
                        want[(nc * s.oh + i) * s.ow + j] = count ? sum / double(count) : 0.0;
                    }
            rt::avg_pool2d<T>(s, x.data(), y.data(), include_pad);
            CHECK(all_close(y, want, tol<T>(), tol<T>()),
                  "avg_pool2d h=%lld w=%lld k=%lldx%lld s=%lldx%lld d=%lldx%lld p=%lld,%lld,%lld,%lld ceil=%d include_pad=%d",
                  (long long)s.h, (long long)s.w, (long long)s.kh, (long long)s.kw, (long long)s.sh, (long long)s.sw,
                  (long long)s.dh, (long long)s.dw, (long long)s.pt, (long long)s.pl, (long long)s.pb, (long long)s.pr, int(t.ceil),
                  int(include_pad));
        }
}

template <typename T>
static void test_lp_pool(std::mt19937& rng) {
    for (const PoolCase& t : kCases)
        for (double p : {1.0, 2.0, 3.0}) {
            const rt::Pool2dShape s = shape_of(t);
            auto x = random_reals<T>(s.n * s.c * s.h * s.w, rng, -3, 3);
            std::vector<double> want(s.n * s.c * s.oh * s.ow);
            std::vector<T> y(want.size());
            for (int64_t nc = 0; nc < s.n * s.c; ++nc)
                for (int64_t i = 0; i < s.oh; ++i)
                    for (int64_t j = 0; j < s.ow; ++j) {
                        double sum = 0;
                        for (int64_t ki = 0; ki < s.kh; ++ki)
                            for (int64_t kj = 0; kj < s.kw; ++kj) {
                                const int64_t iy = i * s.sh - s.pt + ki * s.dh, ix = j * s.sw - s.pl + kj * s.dw;
                                if (iy >= 0 && iy < s.h && ix >= 0 && ix < s.w)
                                    sum += std::pow(std::fabs(double(x[(nc * s.h + iy) * s.w + ix])), p);
                            }
                        want[(nc * s.oh + i) * s.ow + j] = std::pow(sum, 1 / p);
                    }
            rt::lp_pool2d<T>(s, x.data(), y.data(), p);
            CHECK(all_close(y, want, 10 * tol<T>(), 10 * tol<T>()), "lp_pool2d p=%g h=%lld w=%lld k=%lldx%lld ceil=%d", p,
                  (long long)s.h, (long long)s.w, (long long)s.kh, (long long)s.kw, int(t.ceil));
        }
}

template <typename T>
static void test_global_pool(std::mt19937& rng) {
    for (int64_t nc : {1, 6, 800})              // 800 x 169: the threads share the channels
        for (int64_t hw : {1, 7, 64, 169}) {    // 169: whole 4-vector blocks, one vector, a scalar tail
            auto x = random_ints<T>(nc * hw, rng, -50, 50);
            std::vector<T> mx(nc), want_max(nc);
            std::vector<double> want_avg(nc);
            for (int64_t i = 0; i < nc; ++i) {
                T best = x[i * hw];
                double sum = 0;
                for (int64_t p = 0; p < hw; ++p) {
                    best = std::max(best, x[i * hw + p]);
                    sum += double(x[i * hw + p]);
                }
                want_max[i] = best;
                want_avg[i] = sum / double(hw);
            }
            rt::global_max_pool<T>(nc, hw, x.data(), mx.data());
            CHECK(mx == want_max, "global_max_pool nc=%lld hw=%lld", (long long)nc, (long long)hw);
            if constexpr (std::is_floating_point_v<T>) {
                std::vector<T> avg(nc);
                rt::global_avg_pool<T>(nc, hw, x.data(), avg.data());
                CHECK(all_close(avg, want_avg, tol<T>(), tol<T>()), "global_avg_pool nc=%lld hw=%lld", (long long)nc,
                      (long long)hw);
            }
        }
}

// MaxPool's indices: the maxima of max_pool2d, each at its flat index (row- or column-major planes);
// MaxUnpool puts them back at those places (zeros elsewhere), also into a larger output.
static void test_max_pool_indices(std::mt19937& rng) {
    const rt::Pool2dShape s{2, 3, 5, 6, 2, 3, 3, 2, 2, 2, 1, 1, 1, 1, 1, 0};
    auto x = random_ints<float>(s.n * s.c * s.h * s.w, rng);
    std::vector<float> want(s.n * s.c * s.oh * s.ow), y(want.size()), back(x.size());
    std::vector<int64_t> at(want.size()), at_cm(want.size());
    rt::max_pool2d<float>(s, x.data(), want.data());
    rt::max_pool2d_indices<float>(s, x.data(), y.data(), at.data(), false);
    rt::max_pool2d_indices<float>(s, x.data(), y.data(), at_cm.data(), true);
    CHECK(y == want, "max_pool2d_indices values");
    bool ok = true;
    for (size_t i = 0; i < y.size(); ++i) {
        const int64_t plane = at[i] / (s.h * s.w), r = at[i] % (s.h * s.w);
        ok = ok && x[at[i]] == y[i] && at_cm[i] == plane * s.h * s.w + (r % s.w) * s.h + r / s.w;
    }
    CHECK(ok, "max_pool2d_indices: x at each index is the maximum; column-major indices agree");
    const int64_t grid[4] = {s.n, s.c, s.h, s.w}, bigger[4] = {s.n, s.c, s.h + 1, s.w + 2};
    CHECK(rt::max_unpool<float>(y.data(), at.data(), int64_t(y.size()), back.data(), 4, grid, grid), "max_unpool ran");
    ok = true;
    for (size_t i = 0; i < y.size(); ++i) ok = ok && back[at[i]] == y[i];
    CHECK(ok, "max_unpool puts the maxima back");
    std::vector<float> wide(s.n * s.c * (s.h + 1) * (s.w + 2));
    CHECK(rt::max_unpool<float>(y.data(), at.data(), int64_t(y.size()), wide.data(), 4, grid, bigger), "max_unpool wide");
    const int64_t last = at.back(), r = last % (s.h * s.w), plane = last / (s.h * s.w);
    CHECK(wide[(plane * (s.h + 1) + r / s.w) * (s.w + 2) + r % s.w] == y.back(), "max_unpool into a larger output");
    at[0] = int64_t(x.size());
    CHECK(!rt::max_unpool<float>(y.data(), at.data(), int64_t(y.size()), back.data(), 4, grid, grid), "max_unpool bad index");
}

int main() {
    std::mt19937 rng(1234);
    test_max_pool_indices(rng);
    test_max_pool<float>(rng);
    test_max_pool<double>(rng);
    test_max_pool<int32_t>(rng);
    test_max_pool<int64_t>(rng);
    test_max_pool<int8_t>(rng);   // quantised models pool 8-bit data
    test_max_pool<uint8_t>(rng);
    test_avg_pool<float>(rng);
    test_avg_pool<double>(rng);
    test_lp_pool<float>(rng);
    test_lp_pool<double>(rng);
    test_global_pool<float>(rng);
    test_global_pool<double>(rng);
    test_global_pool<int32_t>(rng);
    test_global_pool<int64_t>(rng);
    return finish("pool");
}
