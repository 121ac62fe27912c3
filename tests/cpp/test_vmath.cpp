// vmath.h: exp, erf, tanh, sigmoid (and GELU) in ulp against the double functions, over a dense sweep of
// every float range where the result is not a constant, plus the edges (0, -0, inf, NaN, the overflow and
// underflow thresholds, the branch points of each algorithm). Both the scalar algorithm (what generated
// loops call) and the array functions (this build's ISA traits: AVX-512, AVX2 or the scalar ones).
#include <cfloat>
#include <limits>

#include "check.h"
#include "exporter_runtime.h"
#include "vmath.h"

namespace vm = exporter_rt::vm;

// Distance in representable floats (0 when both are NaN; huge when only one is).
static int64_t ulp_distance(float a, float b) {
    if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b) ? 0 : INT64_MAX;
    auto ordered = [](float v) {
        int32_t i;
        std::memcpy(&i, &v, 4);
        return i < 0 ? int64_t(INT32_MIN) - int64_t(i) : int64_t(i);  // monotonic; -0 and 0 meet at 0
    };
    const int64_t d = ordered(a) - ordered(b);
    return d < 0 ? -d : d;
}

struct Case {
    const char* name;
    double (*ref)(double);
    float (*scalar)(float);
    void (*array)(const float*, float*, int64_t);
    int64_t max_ulp;
    float lo, hi;  // the sweep: every 1021st float in [lo, hi]
};

static double sigmoid_ref(double x) { return x < 0 ? std::exp(x) / (1 + std::exp(x)) : 1 / (1 + std::exp(-x)); }
static double exp_ref(double x) { return std::exp(x); }
static double erf_ref(double x) { return std::erf(x); }
static double tanh_ref(double x) { return std::tanh(x); }

static std::vector<float> sweep(float lo, float hi) {
    std::vector<float> xs;
    // positive and negative halves separately, each by bit pattern: dense near 0 as well as far away
    for (int sign : {1, -1}) {
        const float a = sign > 0 ? std::max(lo, 0.0f) : std::max(-hi, 0.0f);
        const float b = sign > 0 ? hi : -lo;
        if (b < a || b < 0) continue;
        uint32_t ia, ib;
        std::memcpy(&ia, &a, 4);
        std::memcpy(&ib, &b, 4);
        for (uint64_t i = ia; i <= ib; i += 1021) {  // ~8000 points per binade
            float v;
            const uint32_t u = uint32_t(i);
            std::memcpy(&v, &u, 4);
            xs.push_back(float(sign) * v);
        }
    }
    const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
    for (float v : {0.0f, -0.0f, inf, -inf, nan, -nan, FLT_MAX, -FLT_MAX, FLT_MIN, -FLT_MIN, FLT_TRUE_MIN,
                    -FLT_TRUE_MIN, 1.0f, -1.0f, 0.625f, -0.625f, 3.93f, -3.93f, 3.92f, 10.0f, -10.0f, 9.0f,
                    88.7228394f, 88.72284f, 88.8f, 89.0f, 89.5f, 100.0f, -87.33654f, -87.4f, -100.0f,
                    -103.97208f, -103.98f, -104.0f, -104.5f, -120.0f, 1e-30f, -1e-30f, 1e-40f, 0.34657f})
        xs.push_back(v);
    return xs;
}

static void check_case(const Case& c) {
    const std::vector<float> xs = sweep(c.lo, c.hi);
    std::vector<float> ys(xs.size());
    c.array(xs.data(), ys.data(), int64_t(xs.size()));
    int64_t worst_scalar = 0, worst_array = 0;
    float at_scalar = 0, at_array = 0;
    for (size_t i = 0; i < xs.size(); ++i) {
        const float want = float(c.ref(double(xs[i])));
        const int64_t ds = ulp_distance(c.scalar(xs[i]), want), da = ulp_distance(ys[i], want);
        if (ds > worst_scalar) { worst_scalar = ds; at_scalar = xs[i]; }
        if (da > worst_array) { worst_array = da; at_array = xs[i]; }
    }
    std::printf("%-8s %zu values: max %lld ulp scalar (at %.9g), %lld ulp %s (at %.9g)\n", c.name, xs.size(),
                (long long)worst_scalar, at_scalar, (long long)worst_array, EXPORTER_VMATH_ISA, at_array);
    CHECK(worst_scalar <= c.max_ulp, "%s scalar: %lld ulp at x=%.9g", c.name, (long long)worst_scalar, at_scalar);
    CHECK(worst_array <= c.max_ulp, "%s %s: %lld ulp at x=%.9g", c.name, EXPORTER_VMATH_ISA, (long long)worst_array,
          at_array);
}

// Every length up to a few vectors (the padded tail), in place and out of place: the same bits as the
// element computed alone.
static void test_tails(std::mt19937& rng) {
    for (int64_t n = 0; n <= 70; ++n) {
        auto x = random_reals<float>(size_t(n), rng, -6, 6);
        std::vector<float> y(size_t(n) + 1, 12345.0f);
        vm::erf(x.data(), y.data(), n);
        bool same = y[size_t(n)] == 12345.0f;  // nothing written past the end
        std::vector<float> one(1);
        for (int64_t i = 0; i < n; ++i) {
            vm::erf(x.data() + i, one.data(), 1);
            same = same && one[0] == y[size_t(i)];
        }
        vm::erf(x.data(), x.data(), n);  // in place
        for (int64_t i = 0; i < n; ++i) same = same && x[size_t(i)] == y[size_t(i)];
        CHECK(same, "erf over %lld elements: tail or in-place results differ", (long long)n);
    }
}

// GELU has no single reference function: compare with the double formula (the cancellation of 1 + erf for
// very negative x makes ulp meaningless there, so absolute + relative, as the op table compares).
static void test_gelu() {
    const std::vector<float> xs = sweep(-12.0f, 12.0f);
    std::vector<float> y(xs.size()), yt(xs.size());
    vm::gelu(xs.data(), y.data(), int64_t(xs.size()));
    vm::gelu_tanh(xs.data(), yt.data(), int64_t(xs.size()));
    std::vector<double> want(xs.size()), want_t(xs.size());
    for (size_t i = 0; i < xs.size(); ++i) {
        const double x = xs[i];
        want[i] = 0.5 * x * (1 + std::erf(x / std::sqrt(2.0)));
        want_t[i] = 0.5 * x * (1 + std::tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)));
    }
    CHECK(all_close(y, want, 1e-6, 1e-7), "gelu differs from the double formula");
    CHECK(all_close(yt, want_t, 1e-6, 1e-7), "gelu (tanh) differs from the double formula");
    std::vector<float> ys(xs.size());
    for (size_t i = 0; i < xs.size(); ++i) ys[i] = vm::gelu(xs[i]);
    CHECK(all_close(ys, want, 1e-6, 1e-7), "scalar gelu differs from the double formula");
}

int main() {
    const float inf = std::numeric_limits<float>::infinity();
    // sweeps stop where the result is a constant (or NaN) for every wider input; the edges list covers those
    const Case cases[] = {
        {"exp", exp_ref, vm::exp<float>, vm::exp, 1, -105.0f, 90.0f},
        {"erf", erf_ref, vm::erf<float>, vm::erf, 2, -4.5f, 4.5f},
        {"tanh", tanh_ref, vm::tanh<float>, vm::tanh, 2, -11.0f, 11.0f},
        {"sigmoid", sigmoid_ref, vm::sigmoid<float>, vm::sigmoid, 2, -105.0f, 105.0f},
    };
    for (const Case& c : cases) check_case(c);
    // exact values IEEE and std:: give
    CHECK(vm::exp(-inf) == 0.0f && vm::exp(inf) == inf && vm::exp(0.0f) == 1.0f, "exp edge values");
    CHECK(vm::exp(88.8f) == inf && vm::exp(-104.0f) == 0.0f && vm::exp(-100.0f) > 0.0f, "exp overflow / underflow");
    CHECK(vm::erf(inf) == 1.0f && vm::erf(-inf) == -1.0f && std::signbit(vm::erf(-0.0f)), "erf edge values");
    CHECK(vm::tanh(inf) == 1.0f && vm::tanh(-inf) == -1.0f && std::signbit(vm::tanh(-0.0f)), "tanh edge values");
    CHECK(vm::sigmoid(inf) == 1.0f && vm::sigmoid(-inf) == 0.0f && vm::sigmoid(0.0f) == 0.5f, "sigmoid edge values");
    CHECK(std::isnan(vm::exp(std::nanf(""))) && std::isnan(vm::erf(std::nanf(""))) &&
              std::isnan(vm::tanh(std::nanf(""))) && std::isnan(vm::sigmoid(std::nanf(""))),
          "NaN in, NaN out");
    std::mt19937 rng(1234);
    test_tails(rng);
    test_gelu();
    // other dtypes keep the std:: functions
    CHECK(vm::exp(1.0) == std::exp(1.0) && vm::erf(0.5) == std::erf(0.5), "double goes to std::");
    return finish("vmath");
}
