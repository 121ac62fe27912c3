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
#include <type_traits>

#include "gemm_driver.h"  // thread_buffer

namespace exporter_rt {
namespace detail {

constexpr int64_t kWindowTable = 64;  // taps whose offsets are tabulated; the rest are computed

// dst[t] = src[t], t < n, for the short rows of small planes (Inception's pools: 14 elements), where a memcpy call
// costs more than the copy and an element loop is a compare and branch per element: fixed-size copies (inlined as
// one or two moves each), the last overlapping the one before, as memcpy itself does for small sizes
template <typename T> inline void copy_run(const T* __restrict src, T* __restrict dst, int64_t n) {
    const char* s = reinterpret_cast<const char*>(src);
    char* d = reinterpret_cast<char*>(dst);
    const size_t bytes = size_t(n) * sizeof(T);
    auto pair = [&](auto size) {  // bytes in [size, 2 * size]
        std::memcpy(d, s, size);
        std::memcpy(d + bytes - size, s + bytes - size, size);
    };
    if (bytes >= 64) {
        for (size_t b = 0; b + 64 <= bytes; b += 64) std::memcpy(d + b, s + b, 64);
        if (bytes % 64) std::memcpy(d + bytes - 64, s + bytes - 64, 64);
    } else if (bytes >= 32) {
        pair(std::integral_constant<size_t, 32>());
    } else if (bytes >= 16) {
        pair(std::integral_constant<size_t, 16>());
    } else if (bytes >= 8) {
        pair(std::integral_constant<size_t, 8>());
    } else if (bytes >= 4) {
        pair(std::integral_constant<size_t, 4>());
    } else {
        for (size_t b = 0; b < bytes; ++b) d[b] = s[b];
    }
}

// dst[t] = src[t * stride], t < n; strides 1 and 2 (the common ones) with constants the compiler vectorises (a
// run-time stride compiles to gathers): the polyphase planes of strided convolutions, pools' outputs picked from
// combined planes
template <typename T> inline void every(const T* __restrict src, int64_t stride, T* __restrict dst, int64_t n) {
    if (stride == 1)
        copy_run(src, dst, n);
    else if (stride == 2)
        for (int64_t t = 0; t < n; ++t) dst[t] = src[2 * t];
    else
        for (int64_t t = 0; t < n; ++t) dst[t] = src[t * stride];
}

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
        for (int64_t iy = 0; iy < h; ++iy) copy_run(in + iy * w, p + (pt + iy) * wp + pl, w);
    }

    // This thread's buffer holding the plane `in` padded with `fill`, followed by room for the flat results.
    template <typename T> T* pad(const T* in, T fill) const {
        T* p = static_cast<T*>(thread_buffer(0, sizeof(T) * size_t(hp * wp + flat_len())));
        pad_into(p, in, fill);
        return p;
    }

    // out[oy * ow + ox] = flat[oy * wp + ox]: results over the flat padded plane, its discarded columns dropped.
    template <typename T> void unflatten(const T* flat, T* out) const {
        for (int64_t oy = 0; oy < oh; ++oy) copy_run(flat + oy * wp, out + oy * ow, ow);
    }

    // combine over taps [LO, HI) of tap(t, at[off(t)]), as a balanced tree of expressions (which GCC vectorises)
    template <int LO, int HI, typename T, typename Tap, typename Combine>
    T tree(const T* at, Tap& tap, Combine& combine) const {
        if constexpr (HI - LO == 1) {
            return tap(LO, at[table[LO]]);
        } else {
            constexpr int MID = (LO + HI) / 2;
            return combine(tree<LO, MID>(at, tap, combine), tree<MID, HI>(at, tap, combine));
        }
    }

    // Stride 1: flat[j] = combine over t of tap(t, pad[j + off(t)]) for j < len, over one padded plane (len =
    // flat_len()) or several stacked hp * wp apart (whose windows starting in a plane's last hp - oh rows are
    // discarded, like its last wp - ow columns).
    template <int TAPS, typename T, typename Tap, typename Combine>
    void reduce_flat(const T* pad, int64_t len, T init, Tap tap, Combine combine, T* flat) const {
        if constexpr (TAPS > 0) {
            // the taps combined pairwise (a tree, depth log2 TAPS), not in a chain: the vector loop runs one vector
            // at a time, so a chain of 9 NaN-propagating maxima (compare, mask, blend each) was latency-bound at
            // 2-3x ONNX Runtime's time
            static_assert(TAPS <= kWindowTable, "unrolled taps read the offset table");
            for (int64_t j = 0; j < len; ++j) flat[j] = combine(init, tree<0, TAPS>(pad + j, tap, combine));
        } else {  // a run-time tap count: one vectorised pass per tap
            for (int64_t j = 0; j < len; ++j) flat[j] = combine(init, tap(0, pad[j + off(0)]));
            for (int64_t t = 1; t < taps; ++t) {
                const int64_t o = off(t);
                for (int64_t j = 0; j < len; ++j) flat[j] = combine(flat[j], tap(t, pad[j + o]));
            }
        }
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
            reduce_flat<TAPS>(pad, flat_len(), init, tap, combine, flat);
            unflatten(flat, out);
            return;
        }
        for (int64_t oy = 0; oy < oh; ++oy)
            for (int64_t ox = 0; ox < ow; ++ox) out[oy * ow + ox] = window(oy * sh * wp + ox * sw);
    }

    // reduce_flat() and reduce() with the common window sizes (3x3, 2x2, 5x5) unrolled
    template <typename T, typename Tap, typename Combine>
    void reduce_flat_any(const T* pad, int64_t len, T init, Tap tap, Combine combine, T* flat) const {
        switch (taps) {
            case 9: return reduce_flat<9>(pad, len, init, tap, combine, flat);
            case 4: return reduce_flat<4>(pad, len, init, tap, combine, flat);
            case 25: return reduce_flat<25>(pad, len, init, tap, combine, flat);
            default: return reduce_flat<0>(pad, len, init, tap, combine, flat);
        }
    }
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
