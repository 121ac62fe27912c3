// norm.cpp: softmax / log-softmax (edge sizes: a single element, a strided axis, large and -inf inputs),
// layer norm (with and without scale/bias), LRN, instance and group norm, against double references.
#include <limits>

#include "check.h"
#include "exporter_runtime.h"

namespace rt = exporter_rt;

template <typename T>
static void test_softmax(std::mt19937& rng) {
    // rows of 16 and 9: attention-sized rows (whole vectors, then a vector and a padded tail), enough of
    // them to run on threads
    const int64_t extents[][3] = {{1, 1, 1}, {4, 1, 3}, {2, 5, 1}, {3, 17, 4}, {1, 1000, 1}, {300, 600, 1},
                                  {1024, 16, 1}, {1000, 9, 1}};
    for (const auto& e : extents)
        for (bool log : {false, true})
            for (double scale : {1.0, 1000.0}) {  // 1000: exp would overflow without the max shift
                const int64_t outer = e[0], n = e[1], inner = e[2];
                auto x = random_reals<T>(outer * n * inner, rng, -3 * scale, 3 * scale);
                std::vector<double> want(x.size());
                for (int64_t o = 0; o < outer; ++o)
                    for (int64_t i = 0; i < inner; ++i) {
                        const T* p = x.data() + o * n * inner + i;
                        double m = -std::numeric_limits<double>::infinity(), sum = 0;
                        for (int64_t k = 0; k < n; ++k) m = std::max(m, double(p[k * inner]));
                        for (int64_t k = 0; k < n; ++k) sum += std::exp(double(p[k * inner]) - m);
                        for (int64_t k = 0; k < n; ++k) {
                            const double v = double(p[k * inner]) - m;
                            want[(o * n + k) * inner + i] = log ? v - std::log(sum) : std::exp(v) / sum;
                        }
                    }
                std::vector<T> y(x.size());
                rt::softmax<T>(x.data(), y.data(), outer, n, inner, log);
                // log-softmax of values near -6000 keeps float's absolute rounding of the input
                const double atol = log ? tol<T>() * 3 * scale : tol<T>();
                CHECK(all_close(y, want, 10 * tol<T>(), atol), "softmax log=%d outer=%lld n=%lld inner=%lld scale=%g",
                      int(log), (long long)outer, (long long)n, (long long)inner, scale);
            }
    // -inf entries (masked attention) get probability 0 / log-probability -inf; the rest still sum to 1
    const T inf = std::numeric_limits<T>::infinity();
    const T x[] = {1, -inf, 2, -inf};
    T y[4], ly[4];
    rt::softmax<T>(x, y, 1, 4, 1, false);
    rt::softmax<T>(x, ly, 1, 4, 1, true);
    CHECK(y[1] == 0 && y[3] == 0 && std::fabs(double(y[0] + y[2]) - 1) < 1e-6, "softmax with -inf");
    CHECK(ly[1] == -inf && std::fabs(double(ly[2]) - (2 - std::log(std::exp(1.0) + std::exp(2.0)))) < 1e-6,
          "log_softmax with -inf");
    // a NaN makes its row NaN (as exp(NaN - max) does in the scalar loop); the other rows are untouched
    std::vector<T> nx(3 * 20, T(0.5)), ny(nx.size());
    nx[20 + 13] = std::numeric_limits<T>::quiet_NaN();
    rt::softmax<T>(nx.data(), ny.data(), 3, 20, 1, false);
    bool nan_row = true, clean = true;
    for (int k = 0; k < 20; ++k) {
        nan_row = nan_row && std::isnan(ny[20 + k]);
        clean = clean && std::fabs(double(ny[k]) - 0.05) < 1e-6 && std::fabs(double(ny[40 + k]) - 0.05) < 1e-6;
    }
    CHECK(nan_row && clean, "softmax with a NaN");
}

template <typename T>
static void test_layer_norm(std::mt19937& rng) {
    for (int64_t rows : {1, 3, 200})
        for (int64_t n : {1, 2, 7, 64, 1000})
            for (int affine = 0; affine < 3; ++affine) {  // none, scale only, scale and bias
                auto x = random_reals<T>(rows * n, rng, -5, 5);
                auto scale = random_reals<T>(n, rng), bias = random_reals<T>(n, rng);
                const double eps = 1e-5;
                std::vector<double> want(x.size()), want_mean(rows), want_inv(rows);
                for (int64_t r = 0; r < rows; ++r) {
                    double mean = 0, var = 0;
                    for (int64_t k = 0; k < n; ++k) mean += double(x[r * n + k]);
                    mean /= double(n);
                    for (int64_t k = 0; k < n; ++k) var += (double(x[r * n + k]) - mean) * (double(x[r * n + k]) - mean);
                    var /= double(n);
                    want_mean[r] = mean;
                    want_inv[r] = 1 / std::sqrt(var + eps);
                    for (int64_t k = 0; k < n; ++k) {
                        double v = (double(x[r * n + k]) - mean) / std::sqrt(var + eps);
                        if (affine >= 1) v *= double(scale[k]);
                        if (affine >= 2) v += double(bias[k]);
                        want[r * n + k] = v;
                    }
                }
                std::vector<T> y(x.size());
                std::vector<float> mean(rows), inv(rows);
                rt::layer_norm<T>(x.data(), affine >= 1 ? scale.data() : nullptr, affine >= 2 ? bias.data() : nullptr,
                                  y.data(), rows, n, T(eps), mean.data(), affine == 1 ? nullptr : inv.data());
                CHECK(all_close(mean, want_mean, 20 * tol<float>(), 20 * tol<float>()), "layer_norm mean rows=%lld n=%lld",
                      (long long)rows, (long long)n);
                if (affine != 1)
                    CHECK(all_close(inv, want_inv, 20 * tol<float>(), 20 * tol<float>()), "layer_norm inv_std rows=%lld",
                          (long long)rows);
                CHECK(all_close(y, want, 20 * tol<T>(), 20 * tol<T>()), "layer_norm rows=%lld n=%lld affine=%d",
                      (long long)rows, (long long)n, affine);
            }
}

template <typename T>
static void test_lp_norm(std::mt19937& rng) {
    const int64_t outer = 3, n = 5, inner = 4;
    auto x = random_reals<T>(outer * n * inner, rng, -5, 5);
    for (int64_t k = 0; k < n; ++k) x[k * inner] = T(0);  // one all-zero lane: ONNX gives 0, not 0/0
    for (int p : {1, 2}) {
        std::vector<double> want(x.size());
        for (int64_t o = 0; o < outer; ++o)
            for (int64_t i = 0; i < inner; ++i) {
                double norm = 0;
                for (int64_t k = 0; k < n; ++k) {
                    const double v = double(x[(o * n + k) * inner + i]);
                    norm += p == 1 ? std::fabs(v) : v * v;
                }
                if (p == 2) norm = std::sqrt(norm);
                for (int64_t k = 0; k < n; ++k)
                    want[(o * n + k) * inner + i] = norm == 0 ? 0.0 : double(x[(o * n + k) * inner + i]) / norm;
            }
        std::vector<T> y(x.size());
        rt::lp_norm<T>(x.data(), y.data(), outer, n, inner, p);
        CHECK(all_close(y, want, 4 * tol<T>(), 4 * tol<T>()), "lp_norm p=%d", p);
    }
}

template <typename T>
static void test_lrn(std::mt19937& rng) {
    // beta 0.75 runs float32's vector path (whole vectors, a tail, two chunks of 1024 pixels), 0.6 the general one
    struct Case { int64_t c, size, spatial; double beta; };
    const Case cases[] = {{1, 1, 6, 0.75}, {4, 2, 6, 0.75}, {9, 3, 6, 0.75}, {9, 5, 6, 0.75}, {4, 3, 37, 0.75},
                          {7, 5, 1100, 0.75}, {4, 5, 37, 0.6}, {9, 2, 20, 0.6}};
    for (const Case& t : cases) {
        {
            const int64_t n = 2, c = t.c, size = t.size, spatial = t.spatial;
            const double alpha = 1e-2, beta = t.beta, bias = 1.5;
            auto x = random_reals<T>(n * c * spatial, rng, -3, 3);
            std::vector<double> want(x.size());
            for (int64_t b = 0; b < n; ++b)
                for (int64_t ch = 0; ch < c; ++ch)
                    for (int64_t s = 0; s < spatial; ++s) {
                        double sum = 0;  // channels [ch - floor((size-1)/2), ch + ceil((size-1)/2)], clipped
                        for (int64_t k = ch - (size - 1) / 2; k <= ch + size / 2; ++k)
                            if (k >= 0 && k < c) sum += double(x[(b * c + k) * spatial + s]) * double(x[(b * c + k) * spatial + s]);
                        want[(b * c + ch) * spatial + s] = double(x[(b * c + ch) * spatial + s]) / std::pow(bias + alpha / double(size) * sum, beta);
                    }
            std::vector<T> y(x.size());
            rt::lrn<T>(x.data(), y.data(), n, c, spatial, size, alpha, beta, bias);
            CHECK(all_close(y, want, tol<T>(), tol<T>()), "lrn c=%lld size=%lld spatial=%lld beta=%g", (long long)c,
                  (long long)size, (long long)spatial, beta);
        }
    }
}

template <typename T>
static void test_group_norm(std::mt19937& rng) {
    // (n, c, spatial, groups): instance norm is groups == c, a single group normalises whole images
    const int64_t cases[][4] = {{2, 6, 5, 6}, {2, 6, 5, 3}, {1, 4, 1, 2}, {3, 8, 49, 1}, {1, 32, 300, 8}};
    for (const auto& t : cases)
        for (bool per_group : {false, true}) {
            const int64_t n = t[0], c = t[1], spatial = t[2], groups = t[3], per = c / groups;
            const double eps = 1e-5;
            auto x = random_reals<T>(n * c * spatial, rng, -4, 6);
            auto scale = random_reals<T>(per_group ? groups : c, rng), bias = random_reals<T>(per_group ? groups : c, rng);
            std::vector<double> want(x.size());
            for (int64_t b = 0; b < n; ++b)
                for (int64_t g = 0; g < groups; ++g) {
                    const T* src = x.data() + (b * c + g * per) * spatial;
                    double mean = 0, var = 0;
                    for (int64_t i = 0; i < per * spatial; ++i) mean += double(src[i]);
                    mean /= double(per * spatial);
                    for (int64_t i = 0; i < per * spatial; ++i) var += (double(src[i]) - mean) * (double(src[i]) - mean);
                    var /= double(per * spatial);
                    for (int64_t k = 0; k < per; ++k) {
                        const int64_t param = per_group ? g : g * per + k;
                        for (int64_t s = 0; s < spatial; ++s)
                            want[(b * c + g * per + k) * spatial + s] =
                                (double(src[k * spatial + s]) - mean) / std::sqrt(var + eps) * double(scale[param]) + double(bias[param]);
                    }
                }
            std::vector<T> y(x.size());
            rt::group_norm<T>(x.data(), scale.data(), bias.data(), y.data(), n, c, spatial, groups, per_group, eps);
            CHECK(all_close(y, want, 10 * tol<T>(), 10 * tol<T>()), "group_norm n=%lld c=%lld spatial=%lld groups=%lld per_group=%d",
                  (long long)n, (long long)c, (long long)spatial, (long long)groups, int(per_group));
        }
}

int main() {
    std::mt19937 rng(1234);
    test_softmax<float>(rng);
    test_softmax<double>(rng);
    test_lp_norm<float>(rng);
    test_lp_norm<double>(rng);
    test_layer_norm<float>(rng);
    test_layer_norm<double>(rng);
    test_lrn<float>(rng);
    test_lrn<double>(rng);
    test_group_norm<float>(rng);
    test_group_norm<double>(rng);
    return finish("norm");
}
