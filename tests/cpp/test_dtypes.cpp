// The storage-only element types of exporter_runtime.h: bfloat16's conversions. Every one of the 65536
// codes goes to float and back unchanged (NaNs stay NaNs); float -> bfloat16 matches a reference that
// picks the nearer of the two neighbouring codes (ties to the even code) on random and boundary floats;
// double -> bfloat16 rounds once (the halfway-plus-a-little doubles that float-then-bfloat16 gets wrong).
// float8: the Cast spec's table (largest values, NaN and infinity codes, -0 of the fnuz types, saturate
// against not), every finite code round-trips, ties go to the even code. (tests/test_dtypes.py checks all
// codes and a sweep of floats against ONNX's reference.)
#include <cstring>

#include "check.h"
#include "exporter_runtime.h"

namespace rt = exporter_rt;

static float from_bits(uint32_t u) { float f; std::memcpy(&f, &u, sizeof f); return f; }
static uint32_t to_bits(float f) { uint32_t u; std::memcpy(&u, &f, sizeof u); return u; }
static float bf16_value(uint16_t code) { return from_bits(uint32_t(code) << 16); }

// Nearest bfloat16 code of a finite float by comparing distances in double (exact for these values).
static uint16_t reference(float f) {
    const uint16_t lo = uint16_t(to_bits(f) >> 16), hi = uint16_t(lo + 1);  // toward zero, and away from it
    const double d_lo = std::fabs(double(f) - double(bf16_value(lo)));
    // one past the largest finite magnitude is infinity: its "value" for rounding is 2^128
    const double v_hi = (hi & 0x7fff) == 0x7f80 ? std::ldexp(f < 0 ? -1.0 : 1.0, 128) : double(bf16_value(hi));
    const double d_hi = std::fabs(double(f) - v_hi);
    if (d_lo != d_hi) return d_lo < d_hi ? lo : hi;
    return (lo & 1) ? hi : lo;
}

static void check_float(float f) {
    const uint16_t got = rt::bfloat16(f).bits, want = reference(f);
    CHECK(got == want, "bfloat16(%a) = 0x%04x, want 0x%04x", double(f), unsigned(got), unsigned(want));
}

template <typename T> static T code(int c) { T t; t.bits = uint8_t(c); return t; }

template <typename T>
static void test_float8(const char* name, float max, int nan, int inf /* -1: none */, bool fnuz) {
    const float inf_f = std::numeric_limits<float>::infinity();
    for (int c = 0; c < 256; ++c) {
        const float f = code<T>(c);
        if (std::isnan(f)) continue;
        // (an infinity saturates to the largest value unless saturate is off)
        CHECK((std::isinf(f) ? T::from(f, false) : T(f)).bits == c, "%s: 0x%02x does not round-trip", name, c);
        CHECK(std::isinf(f) || std::fabs(f) <= max, "%s: 0x%02x = %g over the largest value", name, c, double(f));
    }
    CHECK(std::isnan(float(code<T>(nan))), "%s: 0x%02x is not NaN", name, nan);
    CHECK(T(std::nanf("")).bits == nan || (!fnuz && std::isnan(float(T(std::nanf(""))))), "%s: NaN code", name);
    CHECK(float(T(max)) == max && float(T(-max)) == -max, "%s: largest value", name);
    // saturate (the default): infinities and overflow clamp to the largest value
    CHECK(float(T(inf_f)) == max && float(T(-inf_f)) == -max && float(T(4 * max)) == max, "%s: saturate", name);
    const float over = float(T::from(4.0 * max, false)), over_inf = float(T::from(inf_f, false));
    if (inf >= 0) {
        CHECK(std::isinf(over) && std::isinf(over_inf) && T::from(inf_f, false).bits == inf, "%s: overflow to inf", name);
    } else {
        CHECK(std::isnan(over) && std::isnan(over_inf), "%s: overflow to NaN without saturate", name);
    }
    CHECK(T(-0.0f).bits == (fnuz ? 0 : 0x80) && T(-1e-30f).bits == (fnuz ? 0 : 0x80), "%s: -0", name);
    // 1 + half an ulp is a tie: to 1 (even mantissa); 1 + 3/2 ulp goes up to 1 + 2 ulp
    const float ulp = float(code<T>(T(1.0f).bits + 1)) - 1.0f;
    CHECK(float(T(1.0f + ulp / 2)) == 1.0f && float(T(1.0f + 1.5f * ulp)) == 1.0f + 2 * ulp, "%s: ties to even", name);
}

int main() {
    test_float8<rt::float8e4m3fn>("e4m3fn", 448.0f, 0x7f, -1, false);
    test_float8<rt::float8e4m3fnuz>("e4m3fnuz", 240.0f, 0x80, -1, true);
    test_float8<rt::float8e5m2>("e5m2", 57344.0f, 0x7e, 0x7c, false);
    test_float8<rt::float8e5m2fnuz>("e5m2fnuz", 57344.0f, 0x80, -1, true);
    for (uint32_t code = 0; code < 0x10000; ++code) {
        rt::bfloat16 b;
        b.bits = uint16_t(code);
        const float f = b;
        if (std::isnan(f)) {
            CHECK(std::isnan(float(rt::bfloat16(f))), "NaN 0x%04x lost", unsigned(code));
            continue;
        }
        CHECK(rt::bfloat16(f).bits == code, "0x%04x does not round-trip", unsigned(code));
        CHECK(rt::bfloat16(double(f)).bits == code, "0x%04x does not round-trip through double", unsigned(code));
        if (std::isinf(f)) continue;
        // the neighbours of the halfway point: exactly halfway, one float ulp either side
        const uint32_t half = (uint32_t(code) << 16) | 0x8000u;
        for (uint32_t u : {half - 1, half, half + 1}) {
            if (!std::isnan(from_bits(u)) && !std::isinf(from_bits(u))) check_float(from_bits(u));
        }
    }
    std::mt19937 rng(7);
    for (int k = 0; k < 1 << 20; ++k) {
        const float f = from_bits(uint32_t(rng()));
        if (std::isfinite(f)) check_float(f);
    }
    // 1 + 2^-8 is halfway between 1 and the next bfloat16 (even: 1); a double just above it must round up,
    // although rounding it to float first lands exactly on the halfway point
    CHECK(float(rt::bfloat16(1.0 + std::ldexp(1.0, -8) + std::ldexp(1.0, -40))) == 1.0f + 0x1p-7f,
          "double rounded twice");
    CHECK(float(rt::bfloat16(1.0 + std::ldexp(1.0, -8))) == 1.0f, "tie not to even");
    CHECK(float(rt::bfloat16(int64_t(257))) == 256.0f && float(rt::bfloat16(int64_t(259))) == 260.0f,
          "integers round to nearest even");
    CHECK(std::isinf(float(rt::bfloat16(1e39))) && float(rt::bfloat16(-1e-50)) == 0.0f &&
              std::signbit(float(rt::bfloat16(-1e-50))), "overflow to inf, underflow to signed zero");
    return finish("dtypes");
}
