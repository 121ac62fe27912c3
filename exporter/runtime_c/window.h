// Internal to the runtime (conv.cpp, pool.cpp): sliding-window reductions over one 2-D plane, as the
// depthwise convolution and the pools compute them.
//
// The plane is first copied into a per-thread buffer with its padding materialised (zeros, or the lowest
// value for max), so no window needs a bounds test; then output (oy, ox) combines the taps
// pad[oy * sh * wp + ox * sw + off(t)]. With a compile-time tap count the tap loop unrolls inside the pixel
// loop and the pixel loop vectorises; stride 1 runs over the flat padded plane (rows of wp, of which the
// last wp - ow columns are discarded), so even 7x7 planes make long vector loops.
#ifndef EXPORTER_WINDOW_H
#define EXPORTER_WINDOW_H

#include <algorithm>
#include <cstring>

#include "gemm_driver.h"  // thread_buffer

namespace exporter_rt {
namespace detail {

constexpr int64_t kWindowTable = 64;  // taps whose offsets are tabulated; the rest are computed

struct WindowPlane {
    int64_t h, w, oh, ow, sh, sw, pt, pl;
    int64_t hp, wp;  // the padded plane, large enough for every window
    int64_t taps, kw, dh, dw;
    int64_t table[kWindowTable];

    WindowPlane(int64_t h_, int64_t w_, int64_t kh, int64_t kw_, int64_t oh_, int64_t ow_, int64_t sh_, int64_t sw_,
                int64_t dh_, int64_t dw_, int64_t pt_, int64_t pl_)
        : h(h_), w(w_), oh(oh_), ow(ow_), sh(sh_), sw(sw_), pt(pt_), pl(pl_), taps(kh * kw_), kw(kw_), dh(dh_), dw(dw_) {
        wp = std::max(pl + w, (ow - 1) * sw + (kw - 1) * dw + 1);
        hp = std::max(pt + h, (oh - 1) * sh + (kh - 1) * dh + 1);
        for (int64_t t = 0; t < taps && t < kWindowTable; ++t) table[t] = (t / kw) * dh * wp + (t % kw) * dw;
    }
    // tap t's offset from its window's corner in the padded plane
    int64_t off(int64_t t) const { return t < kWindowTable ? table[t] : (t / kw) * dh * wp + (t % kw) * dw; }
    int64_t flat_len() const { return sh == 1 && sw == 1 ? (oh - 1) * wp + ow : 0; }

    // Writes the plane `in` padded with `fill` to p[0, hp * wp).
    template <typename T> void pad_into(T* p, const T* in, T fill) const {
        std::fill(p, p + hp * wp, fill);
        for (int64_t iy = 0; iy < h; ++iy) std::memcpy(p + (pt + iy) * wp + pl, in + iy * w, size_t(w) * sizeof(T));
    }

    // This thread's buffer holding the plane `in` padded with `fill`, followed by room for the flat results.
    template <typename T> T* pad(const T* in, T fill) const {
        T* p = static_cast<T*>(thread_buffer(0, sizeof(T) * size_t(hp * wp + flat_len())));
        pad_into(p, in, fill);
        return p;
    }

    // out[oy * ow + ox] = flat[oy * wp + ox]: results over the flat padded plane, its discarded columns dropped.
    template <typename T> void unflatten(const T* flat, T* out) const {
        for (int64_t oy = 0; oy < oh; ++oy) std::memcpy(out + oy * ow, flat + oy * wp, size_t(ow) * sizeof(T));
    }

    // out[oy * ow + ox] = combine over t of tap(t, value at tap t), starting from `init`.
    template <int TAPS, typename T, typename Tap, typename Combine>
    void reduce(T* pad, T init, Tap tap, Combine combine, T* out) const {
        const int64_t n_taps = TAPS > 0 ? TAPS : taps;
        auto window = [&](int64_t base) {
            T acc = init;
            for (int64_t t = 0; t < n_taps; ++t) acc = combine(acc, tap(t, pad[base + off(t)]));
            return acc;
        };
        if (sh == 1 && sw == 1) {
            T* flat = pad + hp * wp;  // the room pad() left after the plane
            const int64_t len = flat_len();
            if constexpr (TAPS > 0) {
                for (int64_t j = 0; j < len; ++j) flat[j] = window(j);
            } else {  // a run-time tap count: one vectorised pass per tap
                for (int64_t j = 0; j < len; ++j) flat[j] = combine(init, tap(0, pad[j + off(0)]));
                for (int64_t t = 1; t < taps; ++t) {
                    const int64_t o = off(t);
                    for (int64_t j = 0; j < len; ++j) flat[j] = combine(flat[j], tap(t, pad[j + o]));
                }
            }
            unflatten(flat, out);
            return;
        }
        for (int64_t oy = 0; oy < oh; ++oy)
            for (int64_t ox = 0; ox < ow; ++ox) out[oy * ow + ox] = window(oy * sh * wp + ox * sw);
    }

    // reduce() with the common window sizes (3x3, 2x2, 5x5) unrolled
    template <typename T, typename Tap, typename Combine>
    void reduce_any(T* pad, T init, Tap tap, Combine combine, T* out) const {
        switch (taps) {
            case 9: return reduce<9>(pad, init, tap, combine, out);
            case 4: return reduce<4>(pad, init, tap, combine, out);
            case 25: return reduce<25>(pad, init, tap, combine, out);
            default: return reduce<0>(pad, init, tap, combine, out);
        }
    }
};

}  // namespace detail
}  // namespace exporter_rt

#endif  // EXPORTER_WINDOW_H
