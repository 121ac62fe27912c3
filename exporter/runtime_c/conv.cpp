// exporter runtime: 2-D convolution (NCHW). A convolution is the GEMM
//   y[n, group's channels, pixels] = W_g [mg, cg*kh*kw] @ im2col(x_n,g) [cg*kh*kw, oh*ow]
// with the weights as A (pre-packed at export time) and the im2col matrix as B, which is never
// materialised: the driver asks for one [KC x NC] block at a time and Im2colB packs it from x straight
// into NR-column micro-panels (the block stays in L2). 1x1 stride-1 unpadded convolutions read x as a
// plain strided B. One input channel per group (depthwise) runs a direct sliding-window kernel, and so do
// stride-1 convolutions with few output channels and large-kernel stems (conv_direct: there packing would cost as
// much as the product). 3x3 stride-1 layers with enough channels run Winograd's algorithm instead (winograd.cpp).
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
        const int64_t plane = s->h * s->w;
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

// dst[t] = src[t * stride], t < n; strides 1 and 2 (the common ones) with constants the compiler vectorises
template <typename T> inline void every(const T* __restrict src, int64_t stride, T* __restrict dst, int64_t n) {
    if (stride == 1)  // (a run-time stride compiles to gathers)
        copy_row(src, dst, n);
    else if (stride == 2)
        for (int64_t t = 0; t < n; ++t) dst[t] = src[2 * t];
    else
        for (int64_t t = 0; t < n; ++t) dst[t] = src[t * stride];
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
          dh(s.dh), dw(s.dw) {
        for (int64_t t = 0; t < s.kh * s.kw && t < detail::kWindowTable; ++t) off[t] = offset(t);
    }
    int64_t offset(int64_t t) const {
        const int64_t y = t / kw * dh, x = t % kw * dw;
        return (y % sh * sw + x % sw) * phase + y / sh * lanes + x / sw;
    }
    // channel `in`'s planes into `dst`, zeroing it first if `zero` (else only the positions inside the image are
    // written: padding zeroed once stays zero for every later channel of the same shape)
    template <typename T> void fill(const Conv2dShape& s, const T* in, T* dst, bool zero) const {
        if (zero) std::fill(dst, dst + stride, T(0));
        for (int64_t qy = 0; qy < sh; ++qy)
            for (int64_t qx = 0; qx < sw; ++qx) {
                T* d = dst + (qy * sw + qx) * phase;
                const int64_t first = std::clamp<int64_t>((s.pl - qx + sw - 1) / sw, 0, lanes);
                const int64_t end = std::clamp<int64_t>((s.w + s.pl - qx + sw - 1) / sw, first, lanes);
                const int64_t r0 = std::clamp<int64_t>((s.pt - qy + sh - 1) / sh, 0, rows);
                const int64_t r1 = std::clamp<int64_t>((s.h + s.pt - qy + sh - 1) / sh, r0, rows);
                for (int64_t r = r0; r < r1; ++r)
                    every(in + (r * sh + qy - s.pt) * s.w + first * sw + qx - s.pl, sw, d + r * lanes + first, end - first);
            }
    }
    // out[oy * ow + ox] = flat[oy * lanes + ox]
    template <typename T> void unflatten(const Conv2dShape& s, const T* flat, T* out) const {
        for (int64_t oy = 0; oy < s.oh; ++oy) copy_row(flat + oy * lanes, out + oy * s.ow, s.ow);
    }

  private:
    int64_t kw, dh, dw;
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
            const T* in = x + (n * s.c + m / mg) * s.h * s.w;
            if (strided)
                depthwise_strided_plane(s, poly, in, wm, out, nm == begin);
            else
                win.reduce_any(win.pad(in, T(0)), T(0), [wm](int64_t k, T v) { return wm[k] * v; },
                               [](T a, T b) { return a + b; }, out);
            plane_epilogue(s, ep, n, m, out);
        }
    });
}

// Direct convolution for few output channels at stride 1 (LeNet-style layers, small CNNs). Through the GEMM each
// packed im2col column serves only M output rows, so packing costs as much as multiplying. Here every input
// channel of the image is copied once with its zero padding (Polyphase: output j reads plane[j + off(t)]), and
// each block of kDirectVectors pixel vectors sums w[m, c, t] * plane_c[j + off(t)] over all (c, t) for
// kDirectRows output channels at once, in registers: one vector load feeds kDirectRows FMAs. Measured on
// Zen 3 against the GEMM path: LeNet's 1->8 5x5 2.0x, 8->16 5x5 1.3x, 16->16 3x3 56x56 1.2x, 48->16 3x3 1.2-1.4x
// faster; from 24 output channels the GEMM wins (0.6-0.9x), hence the bounds below.
// 8 accumulators (4 x 3 measured 1.1x faster at 16 channels 56x56 but 1.15-1.2x slower on LeNet's layers; 6 x 2 and
// 2 x 6 spill: 2x slower)
constexpr int kDirectRows = 4, kDirectVectors = 2;
#ifndef EXPORTER_DIRECT_MAX_CHANNELS
#define EXPORTER_DIRECT_MAX_CHANNELS 16
#endif
#ifndef EXPORTER_DIRECT_MAX_DEPTH
#define EXPORTER_DIRECT_MAX_DEPTH 512
#endif
constexpr int64_t kDirectMaxChannels = EXPORTER_DIRECT_MAX_CHANNELS, kDirectMaxDepth = EXPORTER_DIRECT_MAX_DEPTH;

// Stems with large kernels (a few input channels, 5x5 and up, any stride): through the GEMM each packed im2col
// column (k = c * taps <= 160) feeds too few multiply-adds to pay for its gather. Measured against the GEMM path on
// 224x224 inputs: 3->64 7x7/2 1.13-1.15x and 3->96 7x7/2 1.04-1.08x faster, while 3x3 stems (3->24 3x3/2:
// 0.7x, 3->64 3x3/1: 0.6x) stay GEMMs.
constexpr int64_t kDirectStemChannels = 4, kDirectStemMinTaps = 25, kDirectStemDepth = 160;

template <typename T> bool direct_applies(const Conv2dShape& s) {
    const int64_t taps = s.kh * s.kw;
    if (!std::is_floating_point_v<T> || s.groups != 1 || taps <= 1 || taps > detail::kWindowTable || s.oh * s.ow < 16)
        return false;
    if (s.c <= kDirectStemChannels && taps >= kDirectStemMinTaps && s.c * taps <= kDirectStemDepth)
        return true;
    // (1x1 kernels stay GEMMs: their columns are the input itself, nothing to pack; measured 2-2.5x faster)
    return s.sh == 1 && s.sw == 1 && s.m <= kDirectMaxChannels && s.c * taps <= kDirectMaxDepth;
}

template <int TAPS, typename T>
void direct_unit(const Conv2dShape& s, const Polyphase& lay, const T* planes, const T* wt, int64_t rows, T* flat) {
    using S = typename detail::Tile<T>::S;
    constexpr int L = S::L, R = kDirectRows, NV = kDirectVectors;
    const int64_t taps = TAPS > 0 ? TAPS : s.kh * s.kw, len = lay.len;
    for (int64_t j = 0; j < len; j += NV * L) {
        typename S::V acc[R][NV];
        for (int r = 0; r < R; ++r)
            for (int v = 0; v < NV; ++v) acc[r][v] = S::zero();
        for (int64_t c = 0; c < s.c; ++c) {
            const T* p = planes + c * lay.stride + j;
            const T* wc = wt + c * taps * R;
#pragma GCC unroll 25
            for (int64_t t = 0; t < taps; ++t) {
                const T* q = p + lay.off[t];
                typename S::V in[NV];
#pragma GCC unroll 4
                for (int v = 0; v < NV; ++v) in[v] = S::load(q + v * L);
#pragma GCC unroll 4
                for (int r = 0; r < R; ++r) {
                    const typename S::V wv = S::set1(wc[t * R + r]);
#pragma GCC unroll 4
                    for (int v = 0; v < NV; ++v) acc[r][v] = S::fma(wv, in[v], acc[r][v]);
                }
            }
        }
        for (int64_t r = 0; r < rows; ++r)
            for (int v = 0; v < NV; ++v) S::store(flat + r * len + j + v * L, acc[r][v]);
    }
}

template <typename T>
void conv_direct(const Conv2dShape& s, const T* x, const T* w, bool w_packed, T* y, const Epilogue<T>& ep) {
    constexpr int L = detail::Tile<T>::S::L, R = kDirectRows;
    const detail::WindowPlane win(s.h, s.w, s.kh, s.kw, s.oh, s.ow, s.sh, s.sw, s.dh, s.dw, s.pt, s.pl);
    const Polyphase lay(s, win, kDirectVectors * L);  // the last block of pixel vectors reads into the slack
    const int64_t taps = s.kh * s.kw, kdim = s.c * taps, plane = s.oh * s.ow;
    const int64_t blocks = (s.m + R - 1) / R, units = s.n * blocks;
    const bool parallel = units > 1 && s.n * s.m * plane * kdim >= detail::kGemmParallelWork;
    // weight (m, k): row-major [M, kdim], or pre-packed in kPackRows-row panels [kdim][kPackRows]
    auto weight = [&](int64_t m, int64_t k) {
        return w_packed ? w[(m / kPackRows) * kdim * kPackRows + k * kPackRows + m % kPackRows] : w[m * kdim + k];
    };
    // each thread a contiguous range of units (image-major): an image's planes are built once per thread
    parallel_for(units, parallel, [&](int64_t first_unit, int64_t end_unit) {
        const size_t elements = size_t(s.c * lay.stride + R * lay.len + blocks * kdim * R);
        T* planes = static_cast<T*>(detail::thread_buffer(0, sizeof(T) * elements));
        T* flat = planes + s.c * lay.stride;
        T* weights = flat + R * lay.len;  // per block of R output channels [c][t][R], zeros for the rows past M
        for (int64_t b = 0; b < blocks; ++b)
            for (int64_t k = 0; k < kdim; ++k)
                for (int r = 0; r < R; ++r)
                    weights[(b * kdim + k) * R + r] = b * R + r < s.m ? weight(b * R + r, k) : T(0);
        int64_t built = -1;  // the image whose planes are in `planes`
        for (int64_t u = first_unit; u < end_unit; ++u) {
            const int64_t n = u / blocks, m0 = u % blocks * R, rows = std::min<int64_t>(R, s.m - m0);
            if (n != built) {
                for (int64_t c = 0; c < s.c; ++c)
                    lay.fill(s, x + (n * s.c + c) * s.h * s.w, planes + c * lay.stride, true);
                built = n;
            }
            const T* wt = weights + u % blocks * kdim * R;
            switch (taps) {
                case 9: direct_unit<9>(s, lay, planes, wt, rows, flat); break;
                case 25: direct_unit<25>(s, lay, planes, wt, rows, flat); break;
                case 49: direct_unit<49>(s, lay, planes, wt, rows, flat); break;
                default: direct_unit<0>(s, lay, planes, wt, rows, flat);
            }
            for (int64_t r = 0; r < rows; ++r) {
                const int64_t m = m0 + r;
                T* out = y + (n * s.m + m) * plane;
                lay.unflatten(s, flat + r * lay.len, out);
                plane_epilogue(s, ep, n, m, out);
            }
        }
    });
}

}  // namespace

template <typename T>
void conv2d_ex(const Conv2dShape& s, const T* x, const T* w, bool w_packed, T* y, const Epilogue<T>& ep) {
    const int64_t cg = s.c / s.groups, mg = s.m / s.groups, plane = s.oh * s.ow, kdim = cg * s.kh * s.kw;
    if (cg == 1 && !w_packed && s.groups > 1) return depthwise(s, x, w, y, ep);
    if (direct_applies<T>(s)) return conv_direct(s, x, w, w_packed, y, ep);
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
        const T* xin = x + (n * s.c + g * cg) * s.h * s.w;
        T* out = y + (n * s.m + g * mg) * plane;
        Epilogue<T> e = ep;
        e.accumulate = false;
        if (e.bias) { e.bias += g * mg; e.bias_rs = 1; e.bias_cs = 0; }
        if (e.residual) { e.residual += (n * s.m + g * mg) * plane; e.ldr = plane; }
        const detail::AOperand<T> a = w_packed ? detail::AOperand<T>{w + g * conv2d_packed_group_size(s), 0, 0, true}
                                               : detail::AOperand<T>{w + g * mg * kdim, kdim, 1, false};
        if (pointwise)
            detail::gemm_run(mg, plane, kdim, a, static_cast<const T*>(nullptr), detail::StridedB<T>{xin, plane, 1},
                             out, plane, e);
        else
            detail::gemm_run(mg, plane, kdim, a, static_cast<const T*>(nullptr), Im2colB<T>{xin, &s}, out, plane, e);
    };
    // a one-thread region (across == false) leaves the GEMMs free to split themselves
    parallel_for(units, across, [&](int64_t begin, int64_t end) {
        for (int64_t u = begin; u < end; ++u) unit(u);
    });
}

template <typename T>
void conv2d(const Conv2dShape& s, const T* x, const T* w, const T* bias, T* y) {
    Epilogue<T> ep;
    ep.bias = bias;
    conv2d_ex<T>(s, x, w, false, y, ep);
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
    template void conv3d<T>(const Conv3dShape&, const T*, const T*, bool, int64_t, const T*, T*, T*);          \
    template void deform_conv2d<T>(const DeformConvShape&, const T*, const T*, const T*, const T*, const T*, T*, T*);
EXPORTER_FLOATS(EXPORTER_CONV_INSTANTIATE)
#undef EXPORTER_CONV_INSTANTIATE

}  // namespace exporter_rt
