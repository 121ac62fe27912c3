// exporter runtime: 2-D convolution (NCHW). A convolution is the GEMM
//   y[n, group's channels, pixels] = W_g [mg, cg*kh*kw] @ im2col(x_n,g) [cg*kh*kw, oh*ow]
// with the weights as A (pre-packed at export time) and the im2col matrix as B, which for float is never
// materialised: the driver asks for one [KC x NC] block at a time and Im2colB packs it from x straight
// into NR-column micro-panels (the block stays in L2); float64 materialises it for gemm.cpp's GEMM. 1x1 stride-1
// unpadded convolutions read x as a plain strided B (over planes of at most 63 pixels, transposed:
// conv2d_pointwise_t). One input channel per group (depthwise) runs a direct sliding-window kernel; stride-1
// convolutions and large-kernel stems run the GEMM's register tile directly over shifted copies of the input rows
// (conv_tiled: no packing). 3x3 stride-1 layers with enough channels run Winograd's algorithm instead
// (winograd.cpp, chosen by the exporter).
#include "gemm_driver.h"
#include "window.h"
#include <cmath>

namespace exporter_rt {

namespace {

bool is_pointwise(const Conv2dShape& s) {
    return s.kh == 1 && s.kw == 1 && s.sh == 1 && s.sw == 1 && s.pt == 0 && s.pl == 0 && s.oh == s.h && s.ow == s.w;
}

template <typename T> struct Im2colB {
    static constexpr int64_t rs = 0;
    const T* direct() const { return nullptr; }  // always packed: the columns do not exist in memory
    const T* x;  // this image's and group's first input channel
    const Conv2dShape* s;
    // Out of line: inlined into the driver it competes with the tile loops for registers. One micro-panel
    // (NR output pixels) at a time: each pixel's input position for tap (0, 0) is computed once, then every
    // row k of the panel is NR bounds-checked loads (vectorised as masked gathers), or a plain copy when
    // the NR pixels are consecutive input columns well inside the image.
    __attribute__((noinline)) void pack(int64_t k0, int64_t kc, int64_t j0, int64_t nc, T* dst) const {
        constexpr int NR = detail::tile_nr<T>();
#ifdef EXPORTER_GEMM_AVX512
        constexpr bool kGather = std::is_same_v<T, float> && NR % 16 == 0;
#else
        constexpr bool kGather = false;
#endif
        const int32_t h = int32_t(s->h), w = int32_t(s->w), ow = int32_t(s->ow);
        const int64_t plane = input_plane(*s);
        alignas(64) int32_t ybase[NR], xbase[NR];
        // output pixel j0 + jj is (oy, ox), stepped along (one division per block, not per pixel)
        int32_t oy = int32_t(j0 / ow), ox = int32_t(j0 % ow);
        for (int64_t p = 0; p * NR < nc; ++p) {
            for (int u = 0; u < NR; ++u) {
                if (p * NR + u < nc) {
                    ybase[u] = oy * int32_t(s->sh) - int32_t(s->pt);
                    xbase[u] = ox * int32_t(s->sw) - int32_t(s->pl);
                    if (++ox == ow) { ox = 0; ++oy; }
                } else {
                    ybase[u] = -(1 << 28);  // zero padding of the last panel: never inside the image
                    xbase[u] = 0;
                }
            }
            // the NR pixels in one output row: input columns xbase[0] + u * sw
            const int32_t sw = int32_t(s->sw);
            const bool one_row = ybase[0] == ybase[NR - 1] && xbase[NR - 1] - xbase[0] == (NR - 1) * sw;
            T* panel = dst + p * kc * NR;
            int64_t c = k0 / (s->kh * s->kw), ki = (k0 / s->kw) % s->kh, kj = k0 % s->kw;
            for (int64_t k = 0; k < kc; ++k) {
                const T* in = x + c * plane;
                const int32_t dy = int32_t(ki * s->dh), dx = int32_t(kj * s->dw);
                T* d = panel + k * NR;
                const int32_t iy0 = ybase[0] + dy, ix0 = xbase[0] + dx;
                if (one_row && iy0 >= 0 && iy0 < h && ix0 >= 0 && ix0 + (NR - 1) * sw < w) {
                    const T* src = in + iy0 * w + ix0;
                    if (sw == 1)
                        for (int u = 0; u < NR; ++u) d[u] = src[u];
                    else if (sw == 2)  // stems and downsampling layers: a constant stride the compiler can shuffle
                        for (int u = 0; u < NR; ++u) d[u] = src[2 * u];
                    else
                        for (int u = 0; u < NR; ++u) d[u] = src[u * sw];
                } else {
                    if constexpr (kGather) {  // 16 masked gathers at a time
#ifdef EXPORTER_GEMM_AVX512
                        const __m512i vh = _mm512_set1_epi32(h), vw = _mm512_set1_epi32(w);
                        const __m512i vdy = _mm512_set1_epi32(dy), vdx = _mm512_set1_epi32(dx);
                        for (int u = 0; u < NR; u += 16) {
                            const __m512i iy = _mm512_add_epi32(_mm512_load_si512(ybase + u), vdy);
                            const __m512i ix = _mm512_add_epi32(_mm512_load_si512(xbase + u), vdx);
                            const __mmask16 inside = _mm512_cmplt_epu32_mask(iy, vh) & _mm512_cmplt_epu32_mask(ix, vw);
                            const __m512i at = _mm512_add_epi32(_mm512_mullo_epi32(iy, vw), ix);
                            _mm512_storeu_ps(d + u, _mm512_mask_i32gather_ps(_mm512_setzero_ps(), inside, at, in, 4));
                        }
#endif
                    } else {
                        for (int u = 0; u < NR; ++u) {
                            const int32_t iy = ybase[u] + dy, ix = xbase[u] + dx;
                            const bool inside = uint32_t(iy) < uint32_t(h) && uint32_t(ix) < uint32_t(w);
                            d[u] = inside ? in[inside ? iy * w + ix : 0] : T(0);
                        }
                    }
                }
                if (++kj == s->kw) {
                    kj = 0;
                    if (++ki == s->kh) { ki = 0; ++c; }
                }
            }
        }
    }
};

// The epilogue (bias, residual, activation) over output plane (n, m) of a kernel that computes whole planes.
template <typename T>
void plane_epilogue(const Conv2dShape& s, const Epilogue<T>& ep, int64_t n, int64_t m, T* out) {
    if (detail::epilogue_empty(ep)) return;
    const int64_t plane = s.oh * s.ow;
    Epilogue<T> e = ep;
    if (e.residual) e.residual += n * s.m * plane;
    e.ldr = plane;
    e.bias_rs = 1;
    e.bias_cs = 0;
    detail::apply_epilogue(e, out, plane, m, 0, 1, plane);
}

// dst[t] = src[t], t < n: in vectors, for rows of a few vectors where a memcpy call (which GCC makes of a plain
// loop) costs more than the copy
template <typename T> inline void copy_row(const T* __restrict src, T* __restrict dst, int64_t n) {
    using S = typename detail::Tile<T>::S;
    int64_t t = 0;
    for (; t + S::L <= n; t += S::L) S::store(dst + t, S::load(src + t));
    for (; t < n; ++t) dst[t] = src[t];
}

// dst[t] = src[t] / dst[t] = 0, t < n, for runs of a few elements: the empty asm keeps GCC from making memmove /
// memset calls of these loops (ShiftedRows::fill's 8-56 element rows spent more in the calls than in the copies)
template <typename T> inline void copy_short(const T* __restrict src, T* __restrict dst, int64_t n) {
    using S = typename detail::Tile<T>::S;
    int64_t t = 0;
    for (; t + S::L <= n; t += S::L) {
        S::store(dst + t, S::load(src + t));
        asm volatile("" ::: "memory");
    }
    for (; t < n; ++t) {
        dst[t] = src[t];
        asm volatile("" ::: "memory");
    }
}
template <typename T> inline void zero_short(T* dst, int64_t n) {
    for (int64_t t = 0; t < n; ++t) {
        dst[t] = T(0);
        asm volatile("" ::: "memory");
    }
}

// A channel's zero-padded plane split into its sh x sw polyphase planes: plane (qy, qx) holds the padded rows qy,
// qy + sh, ... and columns qx, qx + sw, ... (stride 1: the padded plane itself). Output (oy, ox) of tap (ki, kj)
// reads padded row oy * sh + ki * dh, column ox * sw + kj * dw, i.e. row oy + ki * dh / sh, lane ox + kj * dw / sw
// of plane (ki * dh % sh, kj * dw % sw): so every tap reads the same flat run j = oy * lanes + ox at its own
// offset, whatever the stride, as window.h's stride-1 planes do (a strided window loop gathers instead). A channel
// takes `stride` elements: the planes, then `block` elements of slack for a vector loop's last block.
struct Polyphase {
    int64_t sh, sw, rows, lanes, phase, stride, len;
    int64_t off[detail::kWindowTable];  // offset(t) of the first taps
    Polyphase(const Conv2dShape& s, const detail::WindowPlane& win, int64_t block)
        : sh(s.sh), sw(s.sw), rows((win.hp + sh - 1) / sh), lanes((win.wp + sw - 1) / sw), phase(rows * lanes),
          stride(sh * sw * phase + block), len(((s.oh - 1) * lanes + s.ow + block - 1) / block * block), kw(s.kw),
          kh(s.kh), dh(s.dh), dw(s.dw) {
        for (int64_t t = 0; t < s.kh * s.kw && t < detail::kWindowTable; ++t) off[t] = offset(t);
    }
    int64_t offset(int64_t t) const {
        const int64_t y = t / kw * dh, x = t % kw * dw;
        return (y % sh * sw + x % sw) * phase + y / sh * lanes + x / sw;
    }
    // channel `in`'s planes into `dst`, zeroing it first if `zero` (else only the positions inside the image are
    // written: padding zeroed once stays zero for every later channel of the same shape); only rows [lo, hi) of
    // each plane (output rows [oy0, oy1) read rows [oy0, oy1 + reach()))
    template <typename T>
    void fill(const Conv2dShape& s, const T* in, T* dst, bool zero, int64_t lo = 0, int64_t hi = INT64_MAX) const {
        lo = std::clamp<int64_t>(lo, 0, rows);
        hi = std::clamp<int64_t>(hi, lo, rows);
        if (zero) {
            for (int64_t q = 0; q < sh * sw; ++q)
                std::fill(dst + q * phase + lo * lanes, dst + q * phase + hi * lanes, T(0));
            std::fill(dst + sh * sw * phase, dst + stride, T(0));
        }
        for (int64_t qy = 0; qy < sh; ++qy)
            for (int64_t qx = 0; qx < sw; ++qx) {
                T* d = dst + (qy * sw + qx) * phase;
                const int64_t first = std::clamp<int64_t>((s.pl - qx + sw - 1) / sw, 0, lanes);
                const int64_t end = std::clamp<int64_t>((s.w + s.pl - qx + sw - 1) / sw, first, lanes);
                const int64_t r0 = std::clamp<int64_t>((s.pt - qy + sh - 1) / sh, lo, hi);
                const int64_t r1 = std::clamp<int64_t>((s.h + s.pt - qy + sh - 1) / sh, r0, hi);
                for (int64_t r = r0; r < r1; ++r)
                    detail::every(in + (r * sh + qy - s.pt) * s.w + first * sw + qx - s.pl, sw, d + r * lanes + first, end - first);
            }
    }
    // rows below an output row that its taps read, in each plane
    int64_t reach() const { return (kh - 1) * dh / sh + 1; }
    // out[oy * ow + ox] = flat[oy * lanes + ox]
    template <typename T> void unflatten(const Conv2dShape& s, const T* flat, T* out) const {
        for (int64_t oy = 0; oy < s.oh; ++oy) copy_row(flat + oy * lanes, out + oy * s.ow, s.ow);
    }

  private:
    int64_t kw, kh, dh, dw;
};

// flat[j] = sum over taps t of wm[t] * base[j + off[t]], j < len (TAPS > 0: unrolled, the j loop one vector loop)
template <int TAPS, typename T>
void taps_flat(const T* __restrict base, const int64_t* off, int64_t taps, const T* wm, T* __restrict flat, int64_t len) {
    const int64_t n = TAPS > 0 ? TAPS : taps;
    for (int64_t j = 0; j < len; ++j) {
        T acc = T(0);
        for (int64_t t = 0; t < n; ++t) acc += wm[t] * base[j + off[t]];
        flat[j] = acc;
    }
}

// A strided depthwise plane over its polyphase copy (ShuffleNet's 3x3 / 2 depthwise layers ran at 3-6 GFLOP/s as a
// gathering window loop). `first_plane`: this thread's first plane of the convolution, which zeroes the buffer.
template <typename T>
void depthwise_strided_plane(const Conv2dShape& s, const Polyphase& poly, const T* in, const T* wm, T* out,
                             bool first_plane) {
    const int64_t taps = s.kh * s.kw;
    T* planes = static_cast<T*>(detail::thread_buffer(1, sizeof(T) * size_t(poly.stride + poly.len)));
    T* flat = planes + poly.stride;
    poly.fill(s, in, planes, first_plane);
    if (taps == 9) taps_flat<9>(planes, poly.off, taps, wm, flat, poly.len);
    else if (taps <= detail::kWindowTable) taps_flat<0>(planes, poly.off, taps, wm, flat, poly.len);
    else  // more taps than the table holds: one at a time
        for (int64_t t = 0; t < taps; ++t) {
            const int64_t o = poly.offset(t);
            for (int64_t j = 0; j < poly.len; ++j) flat[j] = (t ? flat[j] : T(0)) + wm[t] * planes[j + o];
        }
    poly.unflatten(s, flat, out);
}

// One input channel per group: y[n, m] = sum over the window of x[n, m / mg] * w[m] (mg = multiplier),
// each plane a weighted window sum over its zero-padded copy (window.h), or its column phases when strided.
template <typename T>
void depthwise(const Conv2dShape& s, const T* x, const T* w, T* y, const Epilogue<T>& ep) {
    const int64_t mg = s.m / s.groups, plane = s.oh * s.ow, taps = s.kh * s.kw;
    const detail::WindowPlane win(s.h, s.w, s.kh, s.kw, s.oh, s.ow, s.sh, s.sw, s.dh, s.dw, s.pt, s.pl);
    const bool strided = s.sh > 1 || s.sw > 1;
    const Polyphase poly(s, win, 1);
    const bool parallel = s.n * s.m * plane * taps >= detail::kGemmParallelWork;
    // each thread a contiguous range of planes (its padded buffer set up once: see depthwise_strided_plane)
    parallel_for(s.n * s.m, parallel, [&](int64_t begin, int64_t end) {
        for (int64_t nm = begin; nm < end; ++nm) {
            const int64_t n = nm / s.m, m = nm % s.m;
            const T* wm = w + m * taps;
            T* out = y + nm * plane;
            const T* in = x + (n * s.c + m / mg) * input_plane(s);
            if (strided)
                depthwise_strided_plane(s, poly, in, wm, out, nm == begin);
            else
                win.reduce_any(win.pad(in, T(0)), T(0), [wm](int64_t k, T v) { return wm[k] * v; },
                               [](T a, T b) { return a + b; }, out);
            plane_epilogue(s, ep, n, m, out);
        }
    });
}

// Direct convolution ("tiled"): the GEMM's register tile without the GEMM's packing. The input is laid out so that
// every tap t of output pixel j reads element j + off(t) (ShiftedRows at stride 1, Polyphase planes for strided
// stems); a tile of MR output channels (a half of a pre-packed kPackRows weight panel, read in place) by 2 pixel
// vectors is summed in registers over all (channel, tap) pairs: per pair, 2 unaligned vector loads of input, MR
// weight broadcasts, 2 MR FMAs, as in the GEMM's micro-kernel. Channels go in blocks of kTileDepth (the block's
// input and weights stay in L1; partial sums wait in the flat buffer), output rows in chunks of ~512 pixels (a
// chunk's input stays in L2 while every weight panel passes over it). Measured against the im2col GEMM on Zen 3
// (1 thread): LeNet's 5x5 layers 2.2-3.1x, 16 -> 16 3x3 on 56x56 1.7x, 48 -> 16 on 28x28 1.9x, SqueezeNet's
// 48 -> 192 / 64 -> 256 on 13x13 1.06-1.08x, 64-512 channels 0.97-1.18x (76-85 GFLOP/s; Winograd, chosen by the
// exporter, is faster there), 3 -> 64 7x7/2 stems 1.04-1.12x; strided 3x3 layers (ResNet's downsampling, 0.85-0.9x)
// and 3-channel 3x3/2 stems (0.93x) stay GEMMs.
constexpr int kTileVectors = 2;
constexpr int64_t kTileDepth = 16;
template <typename T> constexpr int kTileRows = detail::Tile<T>::MR;
// The last rows of M take a half tile, or with AVX-512's 12 rows a third (4 rows: 8 accumulators still cover the
// FMA latency): 64 channels are 5 x 12 + 4, and 6 rows computed for those 4 cost 9% of a 16 -> 64 layer.
template <typename T> constexpr int kSmallRows = kTileRows<T> >= 12 ? kTileRows<T> / 3 : kTileRows<T> / 2;

template <typename T> bool direct_applies(const Conv2dShape& s) {
    const int64_t taps = s.kh * s.kw;
    if (!std::is_floating_point_v<T> || s.groups != 1 || taps <= 1 || s.oh * s.ow < 16) return false;
    if (s.sh == 1 && s.sw == 1) return true;
    // strided: large-kernel stems (few channels), where a packed column is short; with AVX-512 also the strided 3x3
    // layers of many channels (ResNet-50's 128-512 channels: 1.06-1.1x the im2col GEMM, which measured 1.1-1.15x
    // the direct kernel with AVX2), not 3-channel 3x3 stems (0.82x)
#if defined(EXPORTER_GEMM_AVX512)
    if (s.c >= 16) return true;
#endif
    return s.c <= 4 && taps >= 25;
}

// flat[r * ldf + j - j0] (+= when `accumulate`) for j in [j0, j1) (whole tiles), rows r < R from `wp` (weights
// [c][t][kPackRows], this tile's first row), over C channels of `planes` (cstride apart); off(t): tap t's offset.
// `te`: the epilogue applied in registers before the store (its residual is indexed like flat), or none.
// Out of line: inlined into conv_tiled's loops, GCC spilled the accumulators to the stack. The row loops unroll fully
// (up to 16: AVX-512's MR is 12): unrolled 8 times, acc[r] was indexed at run time and lived in memory (2.2x slower).
template <int TAPS, int R, typename T, typename Offset>
__attribute__((noinline)) void tiled_rows(const T* __restrict planes, int64_t cstride, int64_t C, int64_t taps, Offset off, const T* __restrict wp,
                int64_t j0, int64_t j1, T* __restrict flat, int64_t ldf, bool accumulate,
                const detail::TileEpilogue<T>* te) {
    using S = typename detail::Tile<T>::S;
    using V = typename S::V;
    constexpr int L = S::L, NV = kTileVectors;
    const int64_t nt = TAPS > 0 ? TAPS : taps;
    for (int64_t j = j0; j < j1; j += NV * L) {
        V acc[R][NV];
        T* f = flat + (j - j0);
#pragma GCC unroll 16
        for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
            for (int v = 0; v < NV; ++v) acc[r][v] = accumulate ? S::load(f + r * ldf + v * L) : S::zero();
        const T* p = planes + j;
        const T* w = wp;
        for (int64_t c = 0; c < C; ++c, p += cstride, w += nt * kPackRows) {
#pragma GCC unroll 25
            for (int64_t t = 0; t < nt; ++t) {
                const T* q = p + off(t);
                __builtin_prefetch(w + t * kPackRows + detail::kPrefetchA * kPackRows);  // weights stream from memory
                V in[NV];
#pragma GCC unroll 4
                for (int v = 0; v < NV; ++v) in[v] = S::load(q + v * L);
#pragma GCC unroll 16
                for (int r = 0; r < R; ++r) {
                    const V wv = S::set1(w[t * kPackRows + r]);
#pragma GCC unroll 4
                    for (int v = 0; v < NV; ++v) acc[r][v] = S::fma(wv, in[v], acc[r][v]);
                }
            }
        }
        if (te) detail::epilogue_in_registers<T, R, NV>(acc, *te, j - j0);
#pragma GCC unroll 16
        for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
            for (int v = 0; v < NV; ++v) S::store(f + r * ldf + v * L, acc[r][v]);
    }
}

// Stride 1: a chunk of output rows reads kw copies of each input channel's rows, copy kx shifted left by kx * dw
// columns and cut to ow: tap (ky, kx) of output (oy, ox) is row oy + ky * dh, column ox of copy kx, so every tap reads
// the flat run j = oy * ow + ox at offset kx * pstride + ky * dh * ow and no lane is wasted (over a padded plane a
// vector also covers its kw - 1 padding columns: 12 lanes for LeNet's 8 outputs).
struct ShiftedRows {
    int64_t kw, dw, dh, ow, rows_per, pstride;
    template <typename T>
    void fill(const Conv2dShape& s, const T* img, int64_t oy0, int64_t rows, T* dst, int64_t block) const {
        const int64_t need = rows + (s.kh - 1) * dh;
        for (int64_t c = 0; c < s.c; ++c)
            for (int64_t kx = 0; kx < kw; ++kx) {
                T* plane = dst + (c * kw + kx) * pstride;
                const int64_t shift = kx * dw - s.pl;  // input column of output column 0
                const int64_t a = std::clamp<int64_t>(-shift, 0, ow), b = std::clamp<int64_t>(s.w - shift, a, ow);
                for (int64_t py = 0; py < need; ++py) {
                    T* row = plane + py * ow;
                    const int64_t iy = oy0 + py - s.pt;
                    const bool inside = iy >= 0 && iy < s.h;
                    const int64_t ra = inside ? a : ow, rb = inside ? b : ow;
                    zero_short(row, ra);
                    if (rb > ra) copy_short(img + c * input_plane(s) + iy * s.w + ra + shift, row + ra, rb - ra);
                    zero_short(row + rb, ow - rb);
                }
                zero_short(plane + need * ow, block);  // the last tile reads past the rows
            }
    }
};

// a tile of R rows (MR, or MR / 2 or kSmallRows for the last rows of M, e.g. LeNet's 8 channels as 6 + 3 rather than
// 6 + 6). Taps unrolled for the full float tiles (3x3, 5x5; 7x7 stems) and 3x3 for every float tile: every
// instantiation adds to the runtime's compile time, which every first export on a machine pays.
template <int R, typename T>
void tiled_dispatch(const Conv2dShape& s, const Polyphase* poly, const ShiftedRows* rows, const T* planes, int64_t C,
                    const T* wh, int64_t j0, int64_t j1, T* f, int64_t ldf, bool acc, const detail::TileEpilogue<T>* te) {
    constexpr bool unroll = std::is_same_v<T, float> && R == kTileRows<T>;
    const int64_t taps = s.kh * s.kw;
    if (rows) {
        const int64_t ps = rows->pstride, ow = rows->ow, cs = s.kw * ps, kw = s.kw, dh = s.dh;
        if constexpr (std::is_same_v<T, float>)  // 3x3 also for half tiles: 64 channels end in one (11% of 16 -> 64)
            if (s.kh == 3 && s.kw == 3 && dh == 1)
                return tiled_rows<9, R>(planes, cs, C, taps, [ps, ow](int64_t t) { return t % 3 * ps + t / 3 * ow; }, wh, j0, j1, f, ldf, acc, te);
        if constexpr (unroll) {
            if (s.kh == 5 && s.kw == 5 && dh == 1)
                return tiled_rows<25, R>(planes, cs, C, taps, [ps, ow](int64_t t) { return t % 5 * ps + t / 5 * ow; }, wh, j0, j1, f, ldf, acc, te);
        }
        return tiled_rows<0, R>(planes, cs, C, taps, [ps, ow, kw, dh](int64_t t) { return t % kw * ps + t / kw * dh * ow; },
                                wh, j0, j1, f, ldf, acc, te);
    }
    const Polyphase& lay = *poly;
    auto table = [&lay](int64_t t) { return t < detail::kWindowTable ? lay.off[t] : lay.offset(t); };
    if constexpr (unroll)
        if (taps == 49) return tiled_rows<49, R>(planes, lay.stride, C, taps, table, wh, j0, j1, f, ldf, acc, te);
    return tiled_rows<0, R>(planes, lay.stride, C, taps, table, wh, j0, j1, f, ldf, acc, te);
}

// Work units (image, chunk of output rows, weight panel), chunk-major: a chunk's input (L2-sized) serves every panel.
// Stride 1 builds each chunk's ShiftedRows; strided stems build the whole image's polyphase planes once per thread.
template <typename T>
void conv_tiled(const Conv2dShape& s, const T* x, const T* w, T* y, const Epilogue<T>& ep) {
    constexpr int L = detail::Tile<T>::S::L, BL = kTileVectors * L;
    const bool shifted = s.sh == 1 && s.sw == 1;
    const detail::WindowPlane win(s.h, s.w, s.kh, s.kw, s.oh, s.ow, s.sh, s.sw, s.dh, s.dw, s.pt, s.pl);
    const Polyphase lay(s, win, BL);
    const int64_t lanes = shifted ? s.ow : lay.lanes;  // the flat run's row pitch
    const int64_t taps = s.kh * s.kw, kdim = s.c * taps, plane = s.oh * s.ow;
    const int64_t panels = (s.m + kPackRows - 1) / kPackRows;
    const int64_t rows_per = std::max<int64_t>(1, std::min<int64_t>(s.oh, 512 / lanes));  // ~512 pixels a chunk
    const int64_t chunks = (s.oh + rows_per - 1) / rows_per;
    const ShiftedRows rows_layout{s.kw, s.dw, s.dh, s.ow, rows_per, (rows_per + (s.kh - 1) * s.dh) * s.ow + BL};
    const int64_t input = shifted ? s.c * s.kw * rows_layout.pstride : s.c * lay.stride;
    const int64_t units = s.n * panels * chunks;
    const bool parallel = units > 1 && s.n * s.m * plane * kdim >= detail::kGemmParallelWork;
    const int64_t ldf = (rows_per * lanes + BL - 1) / BL * BL + BL;
    // the common epilogues (channel bias, residual, ReLU) run in the kernel on the blocks it writes to the output
    const bool in_registers = !detail::epilogue_empty(ep) && ep.alpha == T(1) &&
                              (ep.act == Act::None || ep.act == Act::Relu) && (!ep.bias || ep.beta == T(1));
    parallel_for(units, parallel, [&](int64_t first_unit, int64_t end_unit) {
        T* planes = static_cast<T*>(detail::thread_buffer(0, sizeof(T) * size_t(input + kPackRows * ldf)));
        T* flat = planes + input;
        int64_t built = -1;  // the (image, chunk) or image whose input is in `planes`
        for (int64_t u = first_unit; u < end_unit; ++u) {
            const int64_t n = u / (panels * chunks), ch = u / panels % chunks, pnl = u % panels;
            const int64_t oy0 = ch * rows_per, oy1 = std::min(s.oh, oy0 + rows_per);
            if (shifted && u / panels != built) {
                rows_layout.fill(s, x + n * s.c * input_plane(s), oy0, oy1 - oy0, planes, BL);
                built = u / panels;
            } else if (!shifted && n != built) {
                // the rows this thread's chunks of image n read (with 2 threads, each builds half the planes)
                const int64_t lo = (n == first_unit / (panels * chunks) ? first_unit / panels % chunks : 0) * rows_per;
                const int64_t last = end_unit - 1;
                const int64_t hi = (n == last / (panels * chunks) ? last / panels % chunks + 1 : chunks) * rows_per;
                for (int64_t c = 0; c < s.c; ++c)
                    lay.fill(s, x + (n * s.c + c) * input_plane(s), planes + c * lay.stride, true, lo, hi + lay.reach());
                built = n;
            }
            const int64_t j0 = shifted ? 0 : oy0 * lanes, jend = j0 + (oy1 - oy0 - 1) * lanes + s.ow;
            const int64_t j1 = j0 + (jend - j0 + BL - 1) / BL * BL;
            const int64_t cstride = shifted ? s.kw * rows_layout.pstride : lay.stride;
            const T* wp = w + pnl * kdim * kPackRows;
            const int64_t m0 = pnl * kPackRows, rows = std::min<int64_t>(kPackRows, s.m - m0);
            // stride 1: the flat run is the output's own layout, so a tile's whole blocks go straight to the output
            // rows and only the last, partial block goes through `flat` (copying every block cost ~10% on 16 -> 64 at
            // 55x55); not a tile with rows past the panel's (they would land in other channels' planes)
            auto tile_rows = [&](int64_t r0) {
                const int64_t left = rows - r0;
                return left > kTileRows<T> / 2 ? kTileRows<T> : left > kSmallRows<T> ? kTileRows<T> / 2 : kSmallRows<T>;
            };
            auto direct = [&](int64_t r) {
                const int64_t r0 = r / kTileRows<T> * kTileRows<T>;
                return shifted && rows - r0 >= tile_rows(r0) ? (jend - j0) / BL * BL : 0;
            };
            for (int64_t c0 = 0; c0 < s.c; c0 += kTileDepth)
                for (int64_t r0 = 0; r0 < rows; r0 += kTileRows<T>) {
                    const T* planes_c = planes + c0 * cstride;
                    const T* w_c = wp + c0 * taps * kPackRows + r0;
                    const int64_t depth = std::min(kTileDepth, s.c - c0);
                    const Polyphase* p = shifted ? nullptr : &lay;
                    const ShiftedRows* q = shifted ? &rows_layout : nullptr;
                    auto tile = [&](int64_t a, int64_t b, T* f, int64_t ld, const detail::TileEpilogue<T>* te) {
                        if (a >= b) return;
                        if (tile_rows(r0) == kTileRows<T>)
                            tiled_dispatch<kTileRows<T>>(s, p, q, planes_c, depth, w_c, a, b, f, ld, c0 > 0, te);
                        else if (tile_rows(r0) == kTileRows<T> / 2)
                            tiled_dispatch<kTileRows<T> / 2>(s, p, q, planes_c, depth, w_c, a, b, f, ld, c0 > 0, te);
                        else
                            tiled_dispatch<kSmallRows<T>>(s, p, q, planes_c, depth, w_c, a, b, f, ld, c0 > 0, te);
                    };
                    const int64_t jd = direct(r0), at = (n * s.m + m0 + r0) * plane + oy0 * s.ow;
                    detail::TileEpilogue<T> te;
                    if (ep.bias) { te.row_bias = ep.bias + m0 + r0; te.row_bias_stride = 1; }
                    if (ep.residual) { te.residual = ep.residual + at; te.ldr = plane; }
                    te.relu = ep.act == Act::Relu;
                    const bool last = c0 + kTileDepth >= s.c;
                    tile(j0, j0 + jd, y + at, plane, in_registers && last ? &te : nullptr);
                    tile(j0 + jd, j1, flat + r0 * ldf, ldf, nullptr);
                }
            for (int64_t r = 0; r < rows; ++r) {
                const int64_t m = m0 + r;
                T* out = y + (n * s.m + m) * plane + oy0 * s.ow;
                if (shifted)
                    copy_row(flat + r * ldf, out + direct(r), (oy1 - oy0) * s.ow - direct(r));
                else
                    for (int64_t oy = oy0; oy < oy1; ++oy)
                        copy_row(flat + r * ldf + (oy - oy0) * lanes, out + (oy - oy0) * s.ow, s.ow);
                if (!detail::epilogue_empty(ep)) {  // what the kernel did not apply: all, or the row's last block
                    Epilogue<T> e = ep;
                    const int64_t done = in_registers ? direct(r) : 0, cnt = (oy1 - oy0) * s.ow - done;
                    if (e.residual) { e.residual += (n * s.m) * plane + oy0 * s.ow; e.ldr = plane; }
                    e.bias_rs = 1; e.bias_cs = 0;
                    detail::apply_epilogue(e, out + done, plane, m, done, 1, cnt);
                }
            }
        }
    });
}

// The columns of one image and group, [cg * kh * kw, oh * ow] row-major (zeros where a tap falls in the padding).
template <typename T> void im2col(const Conv2dShape& s, const T* x, T* cols) {
    const int64_t cg = s.c / s.groups, plane = s.oh * s.ow;
    for (int64_t c = 0; c < cg; ++c)
        for (int64_t ki = 0; ki < s.kh; ++ki)
            for (int64_t kj = 0; kj < s.kw; ++kj) {
                T* row = cols + ((c * s.kh + ki) * s.kw + kj) * plane;
                for (int64_t oy = 0; oy < s.oh; ++oy) {
                    const int64_t iy = oy * s.sh - s.pt + ki * s.dh;
                    for (int64_t ox = 0; ox < s.ow; ++ox) {
                        const int64_t ix = ox * s.sw - s.pl + kj * s.dw;
                        row[oy * s.ow + ox] = iy >= 0 && iy < s.h && ix >= 0 && ix < s.w
                                                  ? x[c * input_plane(s) + iy * s.w + ix] : T(0);
                    }
                }
            }
}

template <typename T>
void conv_gemm(const Conv2dShape& s, const T* x, const T* w, bool w_packed, T* y, const Epilogue<T>& ep) {
    const int64_t cg = s.c / s.groups, mg = s.m / s.groups, plane = s.oh * s.ow, kdim = cg * s.kh * s.kw;
    const bool pointwise = is_pointwise(s);
    // Images and groups are independent GEMMs. When they share out evenly among the threads, each thread
    // takes whole ones (no fork/join per GEMM, and small images keep both cores busy); otherwise each GEMM
    // is split inside (gemm_run stays on one thread when called in a parallel region).
    const int64_t units = s.n * s.groups;
    const int threads = detail::in_parallel() ? 1 : num_threads();
    const bool across = threads > 1 && units > 1 && (units % threads == 0 || units >= 4 * threads) &&
                        units * mg * plane * kdim >= detail::kGemmParallelWork;
    auto unit = [&](int64_t u) {
        const int64_t n = u / s.groups, g = u % s.groups;
        const T* xin = x + (n * s.c + g * cg) * input_plane(s);
        T* out = y + (n * s.m + g * mg) * plane;
        Epilogue<T> e = ep;
        e.accumulate = false;
        if (e.bias) { e.bias += g * mg; e.bias_rs = 1; e.bias_cs = 0; }
        if (e.residual) { e.residual += (n * s.m + g * mg) * plane; e.ldr = plane; }
        if constexpr (!std::is_same_v<T, float>) {
            // float64: the columns materialised, then gemm.cpp's GEMM (the driver instantiated here for float only:
            // each type's instantiations cost the runtime compile time)
            const T* wg = w_packed ? w + g * conv2d_packed_group_size(s) : w + g * mg * kdim;
            if (pointwise)
                return gemm_ex<T>(mg, plane, kdim, wg, kdim, 1, w_packed, xin, input_plane(s), 1, false, out, plane, e);
            T* cols = static_cast<T*>(detail::thread_buffer(4, sizeof(T) * size_t(kdim * plane)));
            im2col(s, xin, cols);
            return gemm_ex<T>(mg, plane, kdim, wg, kdim, 1, w_packed, cols, plane, 1, false, out, plane, e);
        }
        const detail::AOperand<T> a = w_packed ? detail::AOperand<T>{w + g * conv2d_packed_group_size(s), 0, 0, true}
                                               : detail::AOperand<T>{w + g * mg * kdim, kdim, 1, false};
        if (pointwise)
            detail::gemm_run(mg, plane, kdim, a, static_cast<const T*>(nullptr), detail::StridedB<T>{xin, input_plane(s), 1},
                             out, plane, e);
        else
            detail::gemm_run(mg, plane, kdim, a, static_cast<const T*>(nullptr), Im2colB<T>{xin, &s}, out, plane, e);
    };
    // a one-thread region (across == false) leaves the GEMMs free to split themselves
    parallel_for(units, across, [&](int64_t begin, int64_t end) {
        for (int64_t u = begin; u < end; ++u) unit(u);
    });
}

}  // namespace

template <typename T>
void conv2d_ex(const Conv2dShape& s, const T* x, const T* w, bool w_packed, T* y, const Epilogue<T>& ep) {
    if (s.c == s.groups && !w_packed && s.groups > 1) return depthwise(s, x, w, y, ep);
    if constexpr (std::is_same_v<T, float>) {  // float only: each type's instantiations cost the runtime compile time
        if (direct_applies<T>(s)) {
            if (w_packed) return conv_tiled(s, x, w, y, ep);
            // weights computed at run time: packed here, in the caller's second buffer (conv_tiled's threads use their
            // first)
            T* packed = static_cast<T*>(detail::thread_buffer(1, sizeof(T) * size_t(conv2d_packed_group_size(s))));
            pack_a_panels<T>(s.m, s.c * s.kh * s.kw, w, packed);
            return conv_tiled(s, x, packed, y, ep);
        }
    }
    conv_gemm(s, x, w, w_packed, y, ep);
}

template <typename T>
void conv2d_pointwise_t(const Conv2dShape& s, const T* x, const T* wt, T* y, const Epilogue<T>& ep) {
    const int64_t plane = s.oh * s.ow;
    for (int64_t n = 0; n < s.n; ++n) {
        // x^T: element (pixel p, channel k) at x[k * plane + p]; the driver packs it into MR-row panels
        const detail::AOperand<T> a{x + n * s.c * input_plane(s), 1, input_plane(s), false};
        T* t = static_cast<T*>(detail::thread_buffer(4, sizeof(T) * size_t(plane * s.m)));
        detail::gemm_run(plane, s.m, s.c, a, wt, detail::StridedB<T>{nullptr, 0, 0}, t, s.m, Epilogue<T>{});
        // transposed into y's channel rows, each row then given the epilogue while it is in L1
        Epilogue<T> e = ep;
        e.accumulate = false;
        if (e.bias) { e.bias_rs = 1; e.bias_cs = 0; }
        if (e.residual) { e.residual += n * s.m * plane; e.ldr = plane; }
        T* out = y + n * s.m * plane;
        constexpr int64_t B = 16;  // channels per block: each pixel's B values are one cache line of t
        parallel_for((s.m + B - 1) / B, s.m * plane >= kParallelWork, [&](int64_t b0, int64_t b1) {
            for (int64_t m0 = b0 * B; m0 < std::min(s.m, b1 * B); m0 += B) {
                const int64_t rows = std::min(B, s.m - m0);
                for (int64_t p = 0; p < plane; ++p)
                    for (int64_t r = 0; r < rows; ++r) out[(m0 + r) * plane + p] = t[p * s.m + m0 + r];
                if (!detail::epilogue_empty(e)) detail::apply_epilogue(e, out + m0 * plane, plane, m0, 0, rows, plane);
            }
        });
    }
}

template <typename T>
void conv2d(const Conv2dShape& s, const T* x, const T* w, const T* bias, T* y) {
    Epilogue<T> ep;
    ep.bias = bias;
    conv2d_ex<T>(s, x, w, false, y, ep);
}

// The convolution's output rows per band: ~kBandBytes of it (all channels), so that a band and the kernel's own blocks
// stay in L2 until the pool has read it.
constexpr int64_t kBandBytes = int64_t(256) << 10;

template <typename T>
void conv2d_max_pool(const Conv2dShape& s, int winograd, const T* x, const T* w, bool w_packed, const Epilogue<T>& ep,
                     const Pool2dShape& p, T* y) {
    // pool rows [py0, py1) read convolution rows [first(py0), last(py1)); those read input rows [in_first, in_last)
    auto first = [&](int64_t py) { return std::max<int64_t>(0, py * p.sh - p.pt); };
    auto last = [&](int64_t py) { return std::min<int64_t>(s.oh, (py - 1) * p.sh - p.pt + (p.kh - 1) * p.dh + 1); };
    const int64_t row_bytes = int64_t(sizeof(T)) * s.m * s.ow * p.sh;
    int64_t bands = std::max<int64_t>(1, (p.oh * row_bytes + kBandBytes - 1) / kBandBytes);
    const int threads = detail::in_parallel() ? 1 : num_threads();
    if (s.n < threads) bands = (bands + threads - 1) / threads * threads;  // every thread a band of each image
    const int64_t band = (p.oh + std::min(bands, p.oh) - 1) / std::min(bands, p.oh);
    bands = (p.oh + band - 1) / band;
    const int64_t in_image = s.c * input_plane(s), out_plane = p.oh * p.ow;
    const bool parallel = s.n * bands > 1;
    parallel_for(s.n * bands, parallel, [&](int64_t begin, int64_t end) {
        for (int64_t u = begin; u < end; ++u) {
            const int64_t n = u / bands, py0 = u % bands * band, py1 = std::min(p.oh, py0 + band);
            const int64_t cy0 = first(py0), cy1 = last(py1);
            // this band's convolution: the input rows it reads, as an image of its own whose channels keep x's pitch
            const int64_t iy0 = std::max<int64_t>(0, cy0 * s.sh - s.pt);
            const int64_t iy1 = std::min<int64_t>(s.h, (cy1 - 1) * s.sh - s.pt + (s.kh - 1) * s.dh + 1);
            Conv2dShape b = s;
            b.n = 1;
            b.h = iy1 - iy0;
            b.oh = cy1 - cy0;
            b.pt = s.pt - cy0 * s.sh + iy0;
            b.xc = input_plane(s);
            T* conv = static_cast<T*>(detail::thread_buffer(2, sizeof(T) * size_t(s.m * b.oh * s.ow)));
            const T* xb = x + n * in_image + iy0 * s.w;
            if constexpr (std::is_same_v<T, float>) {  // (Winograd is compiled for float only)
                if (winograd) conv2d_winograd<T>(b, winograd, xb, w, conv, ep);
                else conv2d_ex<T>(b, xb, w, w_packed, conv, ep);
            } else {
                conv2d_ex<T>(b, xb, w, w_packed, conv, ep);
            }
            // its pool rows, into a buffer, then each channel's rows to their place in y
            Pool2dShape q = p;
            q.n = 1;
            q.h = b.oh;
            q.oh = py1 - py0;
            q.pt = p.pt + cy0 - py0 * p.sh;
            q.pb = std::max<int64_t>(0, (q.oh - 1) * q.sh + (q.kh - 1) * q.dh + 1 - q.pt - q.h);
            T* pooled = static_cast<T*>(detail::thread_buffer(3, sizeof(T) * size_t(s.m * q.oh * q.ow)));
            max_pool2d<T>(q, conv, pooled);
            const int64_t rows = q.oh * q.ow;
            for (int64_t k = 0; k < s.m; ++k)
                std::memcpy(y + (n * s.m + k) * out_plane + py0 * p.ow, pooled + k * rows, size_t(rows) * sizeof(T));
        }
    });
}

template <typename T>
void conv3d(const Conv3dShape& s, const T* x, const T* w, bool w_packed, int64_t w_slice, const T* bias, T* y,
            T* scratch) {
    const Conv2dShape s2{1, s.c, s.h, s.w, s.m, s.kh, s.kw, s.oh, s.ow, s.sh, s.sw, s.dh, s.dw, s.pt, s.pl, s.groups};
    const int64_t plane = s.h * s.w, oplane = s.oh * s.ow;
    T* xs = scratch;              // one input depth slice, [c, h, w] contiguous as conv2d_ex reads it
    T* ys = scratch + s.c * plane;  // its 2-D convolution, [m, oh, ow]
    const Epilogue<T> plain;
    for (int64_t n = 0; n < s.n; ++n)
        for (int64_t od = 0; od < s.od; ++od) {
            T* out = y + (n * s.m * s.od + od) * oplane;  // channel k of this output slice: out + k * od * oplane
            bool first = true;
            for (int64_t kd = 0; kd < s.kd; ++kd) {
                const int64_t id = od * s.sd - s.pf + kd * s.dd;
                if (id < 0 || id >= s.d) continue;  // a padded slice adds nothing
                for (int64_t c = 0; c < s.c; ++c)
                    std::memcpy(xs + c * plane, x + ((n * s.c + c) * s.d + id) * plane, size_t(plane) * sizeof(T));
                conv2d_ex<T>(s2, xs, w + kd * w_slice, w_packed, ys, plain);
                for (int64_t k = 0; k < s.m; ++k) {
                    T* o = out + k * s.od * oplane;
                    const T* src = ys + k * oplane;
                    if (first) std::memcpy(o, src, size_t(oplane) * sizeof(T));
                    else for (int64_t p = 0; p < oplane; ++p) o[p] += src[p];
                }
                first = false;
            }
            for (int64_t k = 0; k < s.m; ++k) {
                T* o = out + k * s.od * oplane;
                const T b = bias ? bias[k] : T(0);
                if (first) std::fill(o, o + oplane, b);  // every tap in the padding
                else if (bias) for (int64_t p = 0; p < oplane; ++p) o[p] += b;
            }
        }
}

template <typename T>
void deform_conv2d(const DeformConvShape& s, const T* x, const T* w, const T* offset, const T* mask, const T* bias, T* y,
                   T* scratch) {
    const int64_t plane = s.oh * s.ow, taps = s.kh * s.kw, cg = s.c / s.groups, mg = s.m / s.groups;
    const int64_t c_per_og = s.c / s.offset_groups;
    for (int64_t b = 0; b < s.n; ++b) {
        // columns [c * kh * kw, oh * ow]: each tap's bilinear sample (zeros outside the image) times its mask
        parallel_for(s.c, s.c * taps * plane >= (1 << 15), [&](int64_t c_begin, int64_t c_end) {
            for (int64_t ch = c_begin; ch < c_end; ++ch) {
                const T* img = x + (b * s.c + ch) * s.h * s.w;
                const int64_t og = ch / c_per_og;
                for (int64_t t = 0; t < taps; ++t) {
                    const int64_t ki = t / s.kw, kj = t % s.kw;
                    const T* dy = offset + ((b * s.offset_groups + og) * taps + t) * 2 * plane;
                    const T* dx = dy + plane;
                    const T* mk = mask ? mask + ((b * s.offset_groups + og) * taps + t) * plane : nullptr;
                    T* col = scratch + (ch * taps + t) * plane;
                    for (int64_t i = 0; i < s.oh; ++i)
                        for (int64_t j = 0; j < s.ow; ++j) {
                            const int64_t p = i * s.ow + j;
                            const double py = double(i * s.sh - s.pt + ki * s.dh) + double(dy[p]);
                            const double px = double(j * s.sw - s.pl + kj * s.dw) + double(dx[p]);
                            const double fy = std::floor(py), fx = std::floor(px);
                            const int64_t y0 = int64_t(fy), x0 = int64_t(fx);
                            const double ly = py - fy, lx = px - fx;
                            double v = 0;
                            for (int64_t a = 0; a < 2; ++a) {
                                const int64_t yy = y0 + a;
                                if (yy < 0 || yy >= s.h) continue;
                                const double wy = a ? ly : 1 - ly;
                                if (x0 >= 0 && x0 < s.w) v += wy * (1 - lx) * double(img[yy * s.w + x0]);
                                if (x0 + 1 >= 0 && x0 + 1 < s.w) v += wy * lx * double(img[yy * s.w + x0 + 1]);
                            }
                            col[p] = T(mk ? v * double(mk[p]) : v);
                        }
                }
            }
        });
        for (int64_t g = 0; g < s.groups; ++g)
            gemm<T>(mg, plane, cg * taps, w + g * mg * cg * taps, cg * taps, scratch + g * cg * taps * plane, plane,
                    y + (b * s.m + g * mg) * plane, plane, false);
        if (bias)
            for (int64_t k = 0; k < s.m; ++k) {
                T* o = y + (b * s.m + k) * plane;
                for (int64_t p = 0; p < plane; ++p) o[p] += bias[k];
            }
    }
}

#include "dtypes.inc"  // EXPORTER_FLOATS

#define EXPORTER_CONV_INSTANTIATE(T)                                                           \
    template void conv2d_ex<T>(const Conv2dShape&, const T*, const T*, bool, T*, const Epilogue<T>&); \
    template void conv2d<T>(const Conv2dShape&, const T*, const T*, const T*, T*);              \
    template void conv2d_max_pool<T>(const Conv2dShape&, int, const T*, const T*, bool, const Epilogue<T>&,       \
                                     const Pool2dShape&, T*);                                                   \
    template void conv3d<T>(const Conv3dShape&, const T*, const T*, bool, int64_t, const T*, T*, T*);          \
    template void deform_conv2d<T>(const DeformConvShape&, const T*, const T*, const T*, const T*, const T*, T*, T*);
EXPORTER_FLOATS(EXPORTER_CONV_INSTANTIATE)
#undef EXPORTER_CONV_INSTANTIATE
template void conv2d_pointwise_t<float>(const Conv2dShape&, const float*, const float*, float*, const Epilogue<float>&);

}  // namespace exporter_rt
