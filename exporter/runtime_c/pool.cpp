// exporter runtime: pooling over NCHW (max, average, Lp, global). See exporter_runtime.h for the contracts.
#include "exporter_runtime.h"
#include "window.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace exporter_rt {

// Work (window elements read) from which a pool runs on all threads: an eighth of kParallelWork. A pool's input was
// just written by the threads of the convolution before it, each into its own cache; read by one thread, half of it
// crosses between cores (the small CNN's 2x2 max pool at batch 16, 2 threads: 19.9 us on one thread, 9.9 on two).
constexpr int64_t kPoolParallelWork = kParallelWork / 8;

namespace {

// Stride-1 pools run over the padded plane (window.h); others use its sizes only.
detail::WindowPlane window_of(const Pool2dShape& s) {
    return detail::WindowPlane(s.h, s.w, s.kh, s.kw, s.oh, s.ow, s.sh, s.sw, s.dh, s.dw, s.pt, s.pl);
}

// How many of the taps kj * d (kj < k) of the window at `start` fall in [lo, hi).
inline int64_t taps_in(int64_t start, int64_t k, int64_t d, int64_t lo, int64_t hi) {
    int64_t count = 0;
    for (int64_t j = 0; j < k; ++j) count += start + j * d >= lo && start + j * d < hi;
    return count;
}

// out[ox] = combine of row[ox * sw + kj * dw] over kj, with the common window widths and strides fixed at
// compile time so that the loop vectorises (KW > 0 means dw == 1).
template <int KW, int SW, typename T, typename Combine>
void combine_columns(const T* row, const Pool2dShape& s, Combine combine, T* out) {
    const int64_t kw = KW > 0 ? KW : s.kw, sw = SW > 0 ? SW : s.sw, dw = KW > 0 ? 1 : s.dw;
    for (int64_t ox = 0; ox < s.ow; ++ox) {
        const T* at = row + ox * sw;
        T acc = at[0];
        for (int64_t kj = 1; kj < kw; ++kj) acc = combine(acc, at[kj * dw]);
        out[ox] = acc;
    }
}

// 3-wide windows at stride 2 (the common strided pool: ResNet, SqueezeNet, Inception, DenseNet) without stride-2
// reads in the column pass: an output row's three input rows are combined into the padded row's even and odd
// positions, E[k] = row[2k] and O[k] = row[2k + 1], then out[i] = combine(E[i], O[i], E[i + 1]) reads all three
// contiguously. (The plain stride-2 loop vectorised only from 17 outputs on and left up to 16 in scalar code, which
// with the NaN-propagating max cost more than the vectors: 64 x 111 x 111 took 3.5x ORT's time.) Each pass runs
// over whole chunks of kChunk elements, then one last chunk ending at n that overlaps the one before (shorter rows:
// the plain loop): the outputs are pure functions of the inputs, so the overlap recomputes equal values and AVX-512
// runs no scalar remainder. Out of line with run-time lengths: a constant 16 unrolled the loops unvectorised.
constexpr int64_t kChunk = 16;

template <typename Pass> inline void chunked(int64_t n, Pass pass) {
    if (n < kChunk) return pass(0, n);
    const int64_t whole = n / kChunk * kChunk;
    pass(0, whole);
    if (whole < n) pass(n - kChunk, kChunk);
}

// first[k] = combine(a, b, c at 2k), second[k] = the same at 2k + 1, for k < n
template <typename T, typename Combine>
__attribute__((noinline)) void rows3_split(const T* __restrict a, const T* __restrict b, const T* __restrict c,
                                           int64_t n, Combine combine, T* __restrict first, T* __restrict second) {
    for (int64_t k = 0; k < n; ++k) {
        first[k] = combine(combine(a[2 * k], b[2 * k]), c[2 * k]);
        second[k] = combine(combine(a[2 * k + 1], b[2 * k + 1]), c[2 * k + 1]);
    }
}

template <typename T, typename Combine>
__attribute__((noinline)) void cols3x2(const T* __restrict e, const T* __restrict o, int64_t n, Combine combine,
                                       T* __restrict out) {
    for (int64_t i = 0; i < n; ++i) out[i] = combine(combine(e[i], o[i]), e[i + 1]);
}

// mid[x] = combine(a[x], b[x], c[x]) for x < n: rows too short to split (fewer than kChunk pairs) are combined
// whole (vectorised from kChunk columns), then their columns read at stride 2
template <typename T, typename Combine>
__attribute__((noinline)) void rows3(const T* __restrict a, const T* __restrict b, const T* __restrict c, int64_t n,
                                     Combine combine, T* __restrict mid) {
    for (int64_t x = 0; x < n; ++x) mid[x] = combine(combine(a[x], b[x]), c[x]);
}

// One output row of a 3x3/2 pool whose three input rows a, b, c (width w) lie in the image, left padding pl <= 1.
// `row`: the padded row (pool_row: fill around the image columns); E and O: room for ow + 1 entries each.
template <typename T, typename Combine>
void pool_row_3x2(const Pool2dShape& s, const T* a, const T* b, const T* c, T fill, Combine combine, T* row, T* E,
                  T* O, T* out) {
    const int64_t w = s.w, pl = s.pl, ow = s.ow, pairs = w / 2;
    if (pairs < kChunk) {
        chunked(w, [&](int64_t x0, int64_t n) { rows3(a + x0, b + x0, c + x0, n, combine, row + pl + x0); });
        return combine_columns<3, 2>(row, s, combine, out);
    }
    // input column x is padded position x + pl: with pl = 1 the even inputs land in O and the odd ones in E[1..]
    T* first = pl == 0 ? E : O;
    T* second = pl == 0 ? O : E + 1;
    chunked(pairs, [&](int64_t k0, int64_t n) {
        rows3_split(a + 2 * k0, b + 2 * k0, c + 2 * k0, n, combine, first + k0, second + k0);
    });
    if (w % 2) first[pairs] = combine(combine(a[w - 1], b[w - 1]), c[w - 1]);
    if (pl == 1) E[0] = fill;
    // padded positions past the row's end (right padding) hold fill
    const int64_t e_valid = pl == 0 ? (w + 1) / 2 : w / 2 + 1, o_valid = pl == 0 ? w / 2 : (w + 1) / 2;
    for (int64_t k = e_valid; k <= ow; ++k) E[k] = fill;
    for (int64_t k = o_valid; k < ow; ++k) O[k] = fill;
    chunked(ow, [&](int64_t i0, int64_t n) { cols3x2(E + i0, O + i0, n, combine, out + i0); });
}

inline bool windows_3x2(const Pool2dShape& s) {
    return s.kh == 3 && s.kw == 3 && s.sh == 2 && s.sw == 2 && s.dh == 1 && s.dw == 1 && s.pl <= 1;
}

// dst[i] = combine(a[i], b[i]) and dst[i] = combine(dst[i], b[i]), i < n: pool_plane_flat's passes
template <typename T, typename Combine>
__attribute__((noinline)) void combine_runs(const T* __restrict a, const T* __restrict b, int64_t n, Combine combine,
                                            T* __restrict dst) {
    for (int64_t i = 0; i < n; ++i) dst[i] = combine(a[i], b[i]);
}
template <typename T, typename Combine>
__attribute__((noinline)) void combine_into(T* __restrict dst, const T* __restrict b, int64_t n, Combine combine) {
    for (int64_t i = 0; i < n; ++i) dst[i] = combine(dst[i], b[i]);
}

// Planes of short rows (under 2 * kChunk columns, where pool_row_3x2 does not split them and a row's outputs are
// fewer than a vector or two) with no top or left padding and every window inside the plane: the whole plane is one
// flat run, combined over the columns first (H[j] over in[j + kx * dw]) and then over the rows (V[j] over
// H[j + ky * dh * w]); output (oy, ox) is V at oy * sh * w + ox * sw. Positions whose window runs past a row's end get
// values no output reads. SqueezeNet's 256 x 27 x 27 3x3/2 pool: 172 -> 69 us (1 thread; ORT 65 with its NCHWc reorder).
inline bool flat_short(const Pool2dShape& s) {
    return s.w < 2 * kChunk && s.pt == 0 && s.pl == 0 && (s.oh - 1) * s.sh + (s.kh - 1) * s.dh < s.h &&
           (s.ow - 1) * s.sw + (s.kw - 1) * s.dw < s.w;
}

template <typename T, typename Combine>
void pool_plane_flat(const Pool2dShape& s, const T* in, Combine combine, T* out, T* buf) {
    const int64_t nh = s.h * s.w - (s.kw - 1) * s.dw, nv = nh - (s.kh - 1) * s.dh * s.w;
    const T* H = in;
    if (s.kw > 1) {
        combine_runs(in, in + s.dw, nh, combine, buf);
        for (int64_t kx = 2; kx < s.kw; ++kx) combine_into(buf, in + kx * s.dw, nh, combine);
        H = buf;
    }
    const T* V = H;
    if (s.kh > 1) {
        T* v = buf + nh;
        combine_runs(H, H + s.dh * s.w, nv, combine, v);
        for (int64_t ky = 2; ky < s.kh; ++ky) combine_into(v, H + ky * s.dh * s.w, nv, combine);
        V = v;
    }
    for (int64_t oy = 0; oy < s.oh; ++oy) detail::every(V + oy * s.sh * s.w, s.sw, out + oy * s.ow, s.ow);
}

// Max and average pools are separable. Strided: each output row first combines its kh input rows elementwise
// into one padded row (contiguous, vectorised), then each output combines kw entries of that row: no gathers,
// 2-3x faster than kh x kw taps per output. Rows outside the image are skipped; the row's padding columns hold
// `fill` (the lowest value for max, zero for sums). Stride-1 windows of up to 9 taps run over whole padded planes
// instead (pool_stride1), whose long flat loops beat row-by-row passes over short rows.
template <typename T, typename Combine>
void pool_plane(const Pool2dShape& s, const detail::WindowPlane& win, const T* in, T fill, Combine combine, T* out,
                T* row) {
    if (flat_short(s)) return pool_plane_flat(s, in, combine, out, row);
    T* mid = row + s.pl;
    const bool split = windows_3x2(s);
    T* E = row + win.wp;
    T* O = E + s.ow + 1;
    for (int64_t oy = 0; oy < s.oh; ++oy) {
        const int64_t iy0 = oy * s.sh - s.pt;
        T* o = out + oy * s.ow;
        if (split && iy0 >= 0 && iy0 + 2 < s.h) {  // the window's three rows inside the image
            const T* a = in + iy0 * s.w;
            pool_row_3x2(s, a, a + s.w, a + 2 * s.w, fill, combine, row, E, O, o);
            continue;
        }
        bool any = false;
        for (int64_t ki = 0; ki < s.kh; ++ki) {
            const int64_t iy = iy0 + ki * s.dh;
            if (iy < 0 || iy >= s.h) continue;
            const T* src = in + iy * s.w;
            if (!any)
                std::copy(src, src + s.w, mid);
            else
                for (int64_t x = 0; x < s.w; ++x) mid[x] = combine(mid[x], src[x]);
            any = true;
        }
        if (!any) std::fill(mid, mid + s.w, fill);
        if (s.dw == 1 && s.kw == 2 && s.sw == 2) combine_columns<2, 2>(row, s, combine, o);
        else if (s.dw == 1 && s.kw == 3 && s.sw == 2) combine_columns<3, 2>(row, s, combine, o);
        else if (s.dw == 1 && s.kw == 3 && s.sw == 1) combine_columns<3, 1>(row, s, combine, o);
        else if (s.sw == 1) combine_columns<0, 1>(row, s, combine, o);
        else combine_columns<0, 0>(row, s, combine, o);
    }
}

// Whether x[0, n) holds a NaN (false for integer types): a compare and an or per element, vectorised.
template <typename T> bool has_nan(const T* x, int64_t n) {
    if constexpr (std::is_floating_point_v<T>) {
        int any = 0;
        for (int64_t i = 0; i < n; ++i) any |= x[i] != x[i];
        return any != 0;
    }
    return false;
}

// Stride 1 over planes [begin, end) of x: small planes (Inception's 3x3/1 pools over 256-576 planes of 14x14 or 28x28)
// cost more in per-plane setup than in arithmetic, so up to ~16 K elements of padded planes are stacked hp * wp apart
// in this thread's buffer and reduced in one flat pass (WindowPlane::reduce_flat), each plane's results then copied
// out: 576 x 14 x 14 3x3/1 averages took 108 us plane by plane.
// `fast`: the combine for groups without a NaN (max: one vmaxps where the NaN-propagating maximum, a compare, a NaN test and
// a blend per tap, made 3x3 max pools 2x slower than averages), when `fast_without_nan`; checking costs a compare and
// an or per input element.
template <bool fast_without_nan, typename T, typename Combine, typename Fast>
void pool_stride1(const Pool2dShape& s, const detail::WindowPlane& win, const T* x, int64_t begin, int64_t end, T fill,
                  Combine combine, Fast fast, T* y) {
    const int64_t block = win.hp * win.wp, group = std::clamp<int64_t>((int64_t(1) << 14) / block, 1, end - begin);
    T* pad = static_cast<T*>(detail::thread_buffer(0, sizeof(T) * size_t(2 * group * block + win.flat_len())));
    T* flat = pad + group * block;
    auto identity = [](int64_t, T v) { return v; };
    for (int64_t nc = begin; nc < end; nc += group) {
        const int64_t g = std::min(group, end - nc), len = (g - 1) * block + win.flat_len();
        for (int64_t k = 0; k < g; ++k) win.pad_into(pad + k * block, x + (nc + k) * s.h * s.w, fill);
        const bool nan = !fast_without_nan || has_nan(x + nc * s.h * s.w, g * s.h * s.w);
        if (nan) win.reduce_flat_any(pad, len, fill, identity, combine, flat);
        else win.reduce_flat_any(pad, len, fill, identity, fast, flat);
        for (int64_t k = 0; k < g; ++k) win.unflatten(flat + k * block, y + (nc + k) * s.oh * s.ow);
    }
}

// Stride 1 through pool_stride1 for windows of up to 9 taps; larger ones (Inception's 7x7 average over 7x7 planes:
// 49 passes over the stack for 4 outputs a plane) take pool_plane's separable rows-then-columns path.
inline bool flat_stride1(const Pool2dShape& s) { return s.sh == 1 && s.sw == 1 && s.kh * s.kw <= 9; }

// This thread's row buffer for pool_plane (the padded plane's width, every window of an output row fits), its
// padding columns set to `fill` (pool_stride1 needs none: it pads whole planes in thread buffer 0).
template <typename T> T* pool_row(const Pool2dShape& s, const detail::WindowPlane& win, T fill) {
    if (flat_stride1(s)) return nullptr;
    // then pool_row_3x2's even and odd positions (ow + 1 each)
    // (pool_plane_flat: its two passes' runs, under two planes)
    const int64_t size = flat_short(s) ? 2 * s.h * s.w : win.wp + 2 * (s.ow + 1);
    T* row = static_cast<T*>(detail::thread_buffer(0, sizeof(T) * size_t(size)));
    if (flat_short(s)) return row;
    std::fill(row, row + s.pl, fill);
    std::fill(row + s.pl + s.w, row + win.wp, fill);
    return row;
}

// Small planes (LeNet's 24x24, 8x8) cost more in per-plane and per-row overhead than in arithmetic. When the
// windows tile each plane's rows exactly (no top or bottom padding, oh * sh == h, the last window inside the
// plane), consecutive planes stacked vertically form one taller plane with the same windows: pooled as such,
// in groups of up to 16 K elements (at least two groups per thread stay to share out).
Pool2dShape stacked(const Pool2dShape& s) {
    const int64_t planes = s.n * s.c;
    if (s.pt != 0 || s.oh * s.sh != s.h || (s.oh - 1) * s.sh + (s.kh - 1) * s.dh + 1 > s.h) return s;
    int64_t g = 1;
    while (planes % (2 * g) == 0 && 2 * g * s.h * s.w <= (1 << 14) && planes / (2 * g) >= 4) g *= 2;
    if (g == 1) return s;
    Pool2dShape t = s;
    t.n = 1;
    t.c = planes / g;
    t.h = s.h * g;
    t.oh = s.oh * g;
    t.pb = 0;
    return t;
}

// 2x2 windows at stride 2 tiling the planes exactly (no padding, even sizes: LeNet's and VGG's pools). All planes
// together are one tall plane: each output row combines its two input rows elementwise, then the combined rows'
// column pairs, in long flat loops with no per-plane or per-row setup (LeNet's 8x8 planes cost 66 ns each through
// pool_plane). Combine as pool_plane does (rows, then columns), then `finish` (the average's division).
bool tiles_2x2(const Pool2dShape& s) {
    return s.kh == 2 && s.kw == 2 && s.sh == 2 && s.sw == 2 && s.dh == 1 && s.dw == 1 && s.pt == 0 && s.pl == 0 &&
           s.h == 2 * s.oh && s.w == 2 * s.ow;
}

template <typename T, typename Combine>
void pair_rows(const T* __restrict a, const T* __restrict b, T* __restrict v, int64_t n, Combine combine) {
    for (int64_t x = 0; x < n; ++x) v[x] = combine(a[x], b[x]);
}

template <typename T, typename Combine, typename Finish>
void pair_columns(const T* __restrict v, T* __restrict out, int64_t n, Combine combine, Finish finish) {
    for (int64_t i = 0; i < n; ++i) out[i] = finish(combine(v[2 * i], v[2 * i + 1]));
}

template <typename T, typename Combine, typename Finish>
void pool_2x2(const Pool2dShape& s, const T* x, T* y, Combine combine, Finish finish) {
    const int64_t rows = s.n * s.c * s.oh, w = s.w;  // output rows of all planes, input row width
    const int64_t chunk = std::max<int64_t>(1, 4096 / w), chunks = (rows + chunk - 1) / chunk;
    const bool parallel = chunks > 1 && rows * w * 2 >= kPoolParallelWork;
    parallel_for(chunks, parallel, [&](int64_t k_begin, int64_t k_end) {
        for (int64_t k = k_begin; k < k_end; ++k) {
            const int64_t r0 = k * chunk, r1 = std::min(rows, r0 + chunk);
            T* v = static_cast<T*>(detail::thread_buffer(0, sizeof(T) * size_t(chunk * w)));
            for (int64_t r = r0; r < r1; ++r) pair_rows(x + 2 * r * w, x + (2 * r + 1) * w, v + (r - r0) * w, w, combine);
            pair_columns(v, y + r0 * s.ow, (r1 - r0) * s.ow, combine, finish);
        }
    });
}

// One window covering each whole plane, no padding (Inception's final 7x7 average): the global pools, whose plane-long
// reductions vectorise (the windowed path ran 49 one-element passes per plane: 19x ORT's time).
bool whole_plane(const Pool2dShape& s) {
    return s.oh == 1 && s.ow == 1 && s.kh == s.h && s.kw == s.w && s.pt == 0 && s.pl == 0 && s.pb == 0 && s.pr == 0;
}

}  // namespace

template <typename T>
void max_pool2d(const Pool2dShape& shape, const T* x, T* y) {
    if (whole_plane(shape)) return global_max_pool(shape.n * shape.c, shape.h * shape.w, x, y);
    if (tiles_2x2(shape))
        return pool_2x2(shape, x, y, [](T a, T b) { return maximum(a, b); }, [](T v) { return v; });
    const Pool2dShape s = stacked(shape);
    const bool parallel = s.n * s.c * s.oh * s.ow * s.kh * s.kw >= kPoolParallelWork;
    T lowest = std::numeric_limits<T>::lowest();
    if constexpr (std::numeric_limits<T>::has_infinity) lowest = -std::numeric_limits<T>::infinity();
    // the padding holds the lowest value, so it never wins
    parallel_for(s.n * s.c, parallel, [&](int64_t begin, int64_t end) {
        const detail::WindowPlane win = window_of(s);
        if (flat_stride1(s))
            return pool_stride1<true>(s, win, x, begin, end, lowest, [](T a, T b) { return maximum(a, b); },
                                      [](T a, T b) { return a > b ? a : b; }, y);
        T* row = pool_row(s, win, lowest);
        for (int64_t nc = begin; nc < end; ++nc)
            pool_plane(s, win, x + nc * s.h * s.w, lowest, [](T a, T b) { return maximum(a, b); },
                       y + nc * s.oh * s.ow, row);
    });
}

template <typename T>
void max_pool2d_indices(const Pool2dShape& s, const T* x, T* y, int64_t* indices, bool column_major) {
    const bool parallel = s.n * s.c * s.oh * s.ow * s.kh * s.kw >= kPoolParallelWork;
    parallel_for(s.n * s.c, parallel, [&](int64_t nc_begin, int64_t nc_end) {
        for (int64_t nc = nc_begin; nc < nc_end; ++nc) {
            const T* in = x + nc * s.h * s.w;
            for (int64_t oy = 0; oy < s.oh; ++oy)
                for (int64_t ox = 0; ox < s.ow; ++ox) {
                    T best = T(0);
                    int64_t at = -1;  // no tap in the image: 0 and index -1
                    for (int64_t ki = 0; ki < s.kh; ++ki) {
                        const int64_t iy = oy * s.sh - s.pt + ki * s.dh;
                        if (iy < 0 || iy >= s.h) continue;
                        for (int64_t kj = 0; kj < s.kw; ++kj) {
                            const int64_t ix = ox * s.sw - s.pl + kj * s.dw;
                            if (ix < 0 || ix >= s.w) continue;
                            const T v = in[iy * s.w + ix];
                            if (at < 0 || v > best) {
                                best = v;
                                at = column_major ? ix * s.h + iy : iy * s.w + ix;
                            }
                        }
                    }
                    const int64_t o = (nc * s.oh + oy) * s.ow + ox;
                    y[o] = best;
                    indices[o] = at < 0 ? -1 : nc * s.h * s.w + at;
                }
        }
    });
}

template <typename T>
bool max_unpool(const T* x, const int64_t* indices, int64_t n, T* y, int rank, const int64_t* grid, const int64_t* out) {
    int64_t count = 1, cells = 1;
    for (int a = 0; a < rank; ++a) {
        if (grid[a] > out[a]) return false;
        count *= out[a];
        cells *= grid[a];
    }
    std::fill(y, y + count, T(0));
    for (int64_t i = 0; i < n; ++i) {
        int64_t rest = indices[i], at = 0, stride = 1;
        if (rest < 0 || rest >= cells) return false;
        for (int a = rank - 1; a >= 0; --a) {  // the coordinates in `grid`, re-flattened over `out`
            at += (rest % grid[a]) * stride;
            rest /= grid[a];
            stride *= out[a];
        }
        y[at] = x[i];
    }
    return true;
}

template <typename T>
void avg_pool2d(const Pool2dShape& shape, const T* x, T* y, bool count_include_pad) {
    if (whole_plane(shape)) return global_avg_pool(shape.n * shape.c, shape.h * shape.w, x, y);
    if (tiles_2x2(shape))  // every window inside the image: 4 taps counted, with or without count_include_pad
        return pool_2x2(shape, x, y, [](T a, T b) { return a + b; }, [](T v) { return v / T(4); });
    const Pool2dShape s = stacked(shape);
    const bool parallel = s.n * s.c * s.oh * s.ow * s.kh * s.kw >= kPoolParallelWork;
    // The divisor of window (oy, ox) is (its taps' rows counted) x (their columns counted): inside the image,
    // or with count_include_pad inside the padded area, which ends at the input edge plus the end padding.
    const int64_t row_end = count_include_pad ? s.h + s.pb : s.h, col_end = count_include_pad ? s.w + s.pr : s.w;
    const int64_t row_begin = count_include_pad ? -s.pt : 0, col_begin = count_include_pad ? -s.pl : 0;
    // window sums (padding adds zeros), then each divided by its count
    parallel_for(s.n * s.c, parallel, [&](int64_t begin, int64_t end) {
        const detail::WindowPlane win = window_of(s);
        T* row = pool_row(s, win, T(0));
        // every output's count, once, as T (small integers, exact), so that each plane's division is one vector loop
        // over the plane (int64 products and conversions per element took 3/4 of a 14x14 pool's time; per-row loops
        // of 14 left it to scalar code). A window with no tap counted sums nothing: divided by 1, it gives 0.
        const int64_t plane = s.oh * s.ow;
        T* counts = static_cast<T*>(detail::thread_buffer(1, sizeof(T) * size_t(plane)));
        for (int64_t oy = 0; oy < s.oh; ++oy) {
            const int64_t rows = taps_in(oy * s.sh - s.pt, s.kh, s.dh, row_begin, row_end);
            for (int64_t ox = 0; ox < s.ow; ++ox) {
                const int64_t count = rows * taps_in(ox * s.sw - s.pl, s.kw, s.dw, col_begin, col_end);
                counts[oy * s.ow + ox] = T(count > 0 ? count : 1);
            }
        }
        const bool flat = flat_stride1(s);
        auto add = [](T a, T b) { return a + b; };
        if (flat) pool_stride1<false>(s, win, x, begin, end, T(0), add, add, y);
        for (int64_t nc = begin; nc < end; ++nc) {
            T* out = y + nc * plane;
            if (!flat) pool_plane(s, win, x + nc * s.h * s.w, T(0), add, out, row);
            for (int64_t i = 0; i < plane; ++i) out[i] /= counts[i];
        }
    });
}

template <typename T>
void lp_pool2d(const Pool2dShape& s, const T* x, T* y, double p) {
    const bool parallel = s.n * s.c * s.oh * s.ow * s.kh * s.kw >= kPoolParallelWork;
    parallel_for(s.n * s.c, parallel, [&](int64_t nc_begin, int64_t nc_end) {
        for (int64_t nc = nc_begin; nc < nc_end; ++nc) {
            const T* in = x + nc * s.h * s.w;
            T* out = y + nc * s.oh * s.ow;
            for (int64_t oy = 0; oy < s.oh; ++oy)
                for (int64_t ox = 0; ox < s.ow; ++ox) {
                    double sum = 0;  // double: |x|^p of float32 values overflows or loses digits early
                    for (int64_t ki = 0; ki < s.kh; ++ki) {
                        const int64_t iy = oy * s.sh - s.pt + ki * s.dh;
                        if (iy < 0 || iy >= s.h) continue;
                        for (int64_t kj = 0; kj < s.kw; ++kj) {
                            const int64_t ix = ox * s.sw - s.pl + kj * s.dw;
                            if (ix >= 0 && ix < s.w) sum += std::pow(std::fabs(double(in[iy * s.w + ix])), p);
                        }
                    }
                    out[oy * s.ow + ox] = T(std::pow(sum, 1.0 / p));
                }
        }
    });
}

// The mean over each plane, as reduce.cpp's ReduceMean computes it (vector accumulators, planes shared among
// threads), without a call into reduce.cpp: a convnet's program then needs no reduce.cpp (see kernels_used)
template <typename T>
void global_avg_pool(int64_t nc, int64_t hw, const T* x, T* y) {
    parallel_for(nc, nc * hw >= kPoolParallelWork && nc > 1, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) y[i] = hw ? detail::vector_sum(x + i * hw, hw) / T(hw) : T(0);
    });
}

// kChunk running maxima per plane (an elementwise loop that vectorises; one running maximum was a scalar chain)
template <typename T>
void global_max_pool(int64_t nc, int64_t hw, const T* x, T* y) {
    for (int64_t i = 0; i < nc; ++i) {
        const T* plane = x + i * hw;
        T best = plane[0];
        int64_t p = 0;
        if (hw >= 2 * kChunk) {
            T lanes[kChunk];
            for (int64_t l = 0; l < kChunk; ++l) lanes[l] = plane[l];
            for (p = kChunk; p + kChunk <= hw; p += kChunk)
                for (int64_t l = 0; l < kChunk; ++l) lanes[l] = maximum(lanes[l], plane[p + l]);
            for (int64_t l = 0; l < kChunk; ++l) best = maximum(best, lanes[l]);
        }
        for (; p < hw; ++p) best = maximum(best, plane[p]);
        y[i] = best;
    }
}

#include "dtypes.inc"  // EXPORTER_ALL_NUMERIC, EXPORTER_FLOATS

#define EXPORTER_POOL_NUMERIC(T) \
    template void max_pool2d<T>(const Pool2dShape&, const T*, T*); \
    template void max_pool2d_indices<T>(const Pool2dShape&, const T*, T*, int64_t*, bool); \
    template bool max_unpool<T>(const T*, const int64_t*, int64_t, T*, int, const int64_t*, const int64_t*); \
    template void global_max_pool<T>(int64_t, int64_t, const T*, T*);
EXPORTER_ALL_NUMERIC(EXPORTER_POOL_NUMERIC)
#undef EXPORTER_POOL_NUMERIC
// quantised models (ONNX Runtime's QOperator format) keep MaxPool on their 8-bit data
template void max_pool2d<int8_t>(const Pool2dShape&, const int8_t*, int8_t*);
template void max_pool2d<uint8_t>(const Pool2dShape&, const uint8_t*, uint8_t*);

#define EXPORTER_POOL_FLOAT(T) \
    template void avg_pool2d<T>(const Pool2dShape&, const T*, T*, bool); \
    template void lp_pool2d<T>(const Pool2dShape&, const T*, T*, double); \
    template void global_avg_pool<T>(int64_t, int64_t, const T*, T*);
EXPORTER_FLOATS(EXPORTER_POOL_FLOAT)
#undef EXPORTER_POOL_FLOAT

}  // namespace exporter_rt
