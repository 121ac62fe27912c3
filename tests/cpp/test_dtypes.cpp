// The storage-only element types of exporter_runtime.h: bfloat16's conversions. Every one of the 65536
// codes goes to float and back unchanged (NaNs stay NaNs); float -> bfloat16 matches a reference that
// picks the nearer of the two neighbouring codes (ties to the even code) on random and boundary floats;
// double -> bfloat16 rounds once (the halfway-plus-a-little doubles that float-then-bfloat16 gets wrong).
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

int main() {
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
