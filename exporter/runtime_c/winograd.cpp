// exporter runtime: 3x3 stride-1 convolutions by Winograd's minimal filtering F(mo x mo, 3x3) (Lavin & Gray,
// "Fast Algorithms for Convolutional Neural Networks", 2016). Each a x a input tile d (a = mo + 2, tiles
// overlapping by 2) gives an mo x mo output tile
//     Y = A^T [ sum over c of (G g_c G^T) . (B^T d_c B) ] A        (. elementwise)
// so the a^2 elementwise products over the channels are a^2 independent GEMMs
//     Y_xi [M, tiles] = U_xi [M, C] @ V_xi [C, tiles],   U = G g G^T (the exporter's, at export time), V = B^T d B
// with 9 * mo^2 / a^2 of the multiply-adds of the direct product: 2.25x fewer for F(2x2), 4x for F(4x4).
//
// Work is cut into units of whole tile rows of one image, sized so that a unit's V and Y blocks stay in L2;
// the threads share the units (or, on few-tile layers with many channels, split each unit's output channels).
// Per unit: the input rows are split once into column phases, the input transform writes the rows of V_xi
// (row-major [C][tiles]; the GEMM packs them per cache block), the a^2 GEMMs run over the pre-packed U_xi, and
// the output transform writes the unit's rows of y with the epilogue applied while they are in cache.
#include "gemm_driver.h"

namespace exporter_rt {

namespace {

template <int MO> struct Transform;
// F(2x2, 3x3): interpolation points 0, 1, -1 (and infinity); exact in float arithmetic up to rounding
template <> struct Transform<2> {
    static constexpr int A = 4;
    static constexpr double BT[4][4] = {{1, 0, -1, 0}, {0, 1, 1, 0}, {0, -1, 1, 0}, {0, 1, 0, -1}};
    static constexpr double G[4][3] = {{1, 0, 0}, {.5, .5, .5}, {.5, -.5, .5}, {0, 0, 1}};
    static constexpr double AT[2][4] = {{1, 1, 1, 0}, {0, 1, -1, -1}};
};
// F(4x4, 3x3): points 0, 1, -1, 2, -2 (and infinity)
template <> struct Transform<4> {
    static constexpr int A = 6;
    static constexpr double BT[6][6] = {{4, 0, -5, 0, 1, 0}, {0, -4, -4, 1, 1, 0}, {0, 4, -4, -1, 1, 0},
                                        {0, -2, -1, 2, 1, 0}, {0, 2, -1, -2, 1, 0}, {0, 4, 0, -5, 0, 1}};
    static constexpr double G[6][3] = {{1. / 4, 0, 0},           {-1. / 6, -1. / 6, -1. / 6}, {-1. / 6, 1. / 6, -1. / 6},
                                       {1. / 24, 1. / 12, 1. / 6}, {1. / 24, -1. / 12, 1. / 6},  {0, 0, 1}};
    static constexpr double AT[4][6] = {{1, 1, 1, 1, 1, 0}, {0, 1, -1, 2, -2, 0}, {0, 1, 1, 4, 4, 0}, {0, 1, -1, 8, -8, 1}};
};

// Lane loops run over whole vectors: buffers are padded to whole chunks of kChunk elements (64 bytes, a
// multiple of every SIMD width here), rows being only a few vectors long.
template <typename T> constexpr int64_t kChunk = 64 / int64_t(sizeof(T));
template <typename T> constexpr int64_t chunks(int64_t n) { return (n + kChunk<T> - 1) / kChunk<T> * kChunk<T>; }

// out(i, j) = sum over k of Mx[i][k] * in(k, j), i < R, j < C: every entry a row of n lanes (tiles side by side),
// found through the functions in(k, j) and out(i, j); n a multiple of kChunk. The matrix is a constant and the
// loops unroll, so its zeros vanish and its ones cost no multiply.
template <typename T, int R, int K, int C, typename In, typename Out>
inline void combine(const double (&Mx)[R][K], In in, Out out, int64_t n) {
    using S = typename detail::Tile<T>::S;
#pragma GCC unroll 8
    for (int i = 0; i < R; ++i)
#pragma GCC unroll 8
        for (int j = 0; j < C; ++j) {
            T* o = out(i, j);
            for (int64_t u = 0; u < n; u += S::L) {
                typename S::V acc = S::zero();
#pragma GCC unroll 8
                for (int k = 0; k < K; ++k)
                    if (Mx[i][k] != 0) {
                        const typename S::V x = S::load(in(k, j) + u);
                        acc = Mx[i][k] == 1 ? S::add(acc, x) : S::fma(S::set1(T(Mx[i][k])), x, acc);
                    }
                S::store(o + u, acc);
            }
        }
}

// How the work is cut: tiles of mo x mo outputs, each image's th tile rows shared out evenly among `units` units
// (unit k: tile rows th * k / units .. th * (k + 1) / units), which the threads share.
struct Plan {
    int64_t th, tw, units;
    int64_t begin(int64_t k) const { return th * k / units; }
};

template <typename T, int MO> Plan plan(const Conv2dShape& s, int threads) {
    constexpr int A = Transform<MO>::A;
    Plan p;
    p.th = (s.oh + MO - 1) / MO;
    p.tw = (s.ow + MO - 1) / MO;
    // V [A*A, C, tiles] and Y [A*A, M, tiles] of one unit within the L2, and at least 2 micro-panels of tiles
    const int64_t budget = (int64_t(512) << 10) / int64_t(sizeof(T));
    const int64_t tiles = std::max<int64_t>(2 * detail::tile_nr<T>(), budget / (A * A * (s.c + s.m)));
    const int64_t rows = std::clamp<int64_t>((tiles + p.tw - 1) / p.tw, 1, p.th);
    p.units = (p.th + rows - 1) / rows;
    // every thread the same number of units (a batch-1 image's few tile rows would otherwise leave a core idle)
    while (p.units < p.th && s.n * p.units % threads != 0) ++p.units;
    return p;
}

// Buffer sizes (elements): lanes per tile row (its tw tiles and one more for the tiles' overlap, in whole chunks),
// the input rows of a unit split into column phases (split_rows), and the scratch of input_row / output_row.
template <typename T, int MO> struct RowSizes {
    static constexpr int A = MO + 2;
    int64_t lanes, split, scratch;
    RowSizes(int64_t tw, int64_t rows)
        : lanes(chunks<T>(tw + 1)), split((rows * MO + 2) * MO * lanes), scratch((A + MO) * MO * lanes + kChunk<T>) {}
};

// dst[t] = src[t * MO] (restrict, in a function of its own: so the compiler vectorises it with permutes)
template <typename T, int MO> inline void every_mo(const T* __restrict src, T* __restrict dst, int64_t n) {
    for (int64_t t = 0; t < n; ++t) dst[t] = src[t * MO];
}
// row[t * MO + b] = o[b * lanes + t] for b < MO, t < n
template <typename T, int MO> inline void interleave(const T* __restrict o, int64_t lanes, T* __restrict row, int64_t n) {
    for (int64_t t = 0; t < n; ++t)
#pragma GCC unroll 4
        for (int b = 0; b < MO; ++b) row[t * MO + b] = o[b * lanes + t];
}

// Channel `in`'s input rows iy0 .. iy0 + nrows, each split into its MO column phases: out[r][q][t] = input column
// t * MO + q - pl of row iy0 + r. Only the positions inside the image are written: the rest (the padding) is zeroed
// once per unit by the caller and stays zero for every channel.
template <typename T, int MO>
void split_rows(const Conv2dShape& s, const T* in, int64_t iy0, int64_t nrows, int64_t lanes, T* out) {
    for (int64_t r = 0; r < nrows; ++r) {
        const int64_t iy = iy0 + r;
        if (iy < 0 || iy >= s.h) continue;
        for (int q = 0; q < MO; ++q) {
            // lanes t with 0 <= t * MO + q - pl < w
            const int64_t first = std::max<int64_t>(0, (s.pl - q + MO - 1) / MO);
            const int64_t end = std::min<int64_t>(lanes, (s.w + s.pl - q + MO - 1) / MO);
            if (first < end)
                every_mo<T, MO>(in + iy * s.w + first * MO + q - s.pl, out + (r * MO + q) * lanes + first, end - first);
        }
    }
}

// Input transform of one channel's tile row: vt[xi * vstride + t] = (B^T d_t B)[xi] for the tiles t of the row
// whose input rows start at `split` (split_rows' layout), t < lanes (those past the row's tiles are garbage).
// scratch: RowSizes::scratch.
template <typename T, int MO>
void input_row(const T* split, int64_t lanes, T* scratch, T* vt, int64_t vstride) {
    using Tr = Transform<MO>;
    constexpr int A = Tr::A;
    // down the columns, every phase at once: mid[i][q][t] = sum over k of BT[i][k] * split[k][q][t]
    T* mid = scratch;
    const int64_t row = MO * lanes;
    combine<T, A, A, 1>(
        Tr::BT, [&](int k, int) { return split + k * row; }, [&](int i, int) { return mid + i * row; }, row);
    // along the row: tile t's column k is mid[i][k % MO][t + k / MO]
    for (int i = 0; i < A; ++i) {
        const T* m = mid + i * row;
        combine<T, A, A, 1>(
            Tr::BT, [&](int k, int) { return m + (k % MO) * lanes + k / MO; },
            [&](int j, int) { return vt + (i * A + j) * vstride; }, lanes);
    }
}

// Output transform of channel m's tile row: out rows ty * MO .. (clipped) = A^T Y A over the tw tiles, Y_xi[t] at
// y + xi * ystride + t (read up to RowSizes::lanes). scratch: RowSizes::scratch elements.
template <typename T, int MO>
void output_row(const Conv2dShape& s, const T* y, int64_t ystride, int64_t ty, const RowSizes<T, MO>& z, T* scratch,
                T* out) {
    using Tr = Transform<MO>;
    constexpr int A = Tr::A;
    const int64_t lanes = z.lanes;
    T* mid = scratch;               // [MO][A][lanes]
    T* o = mid + MO * A * lanes;    // [MO][MO][lanes]
    combine<T, MO, A, A>(
        Tr::AT, [&](int k, int j) { return y + (k * A + j) * ystride; },
        [&](int i, int j) { return mid + (i * A + j) * lanes; }, lanes);
    // o[a][b][t] = sum over k of AT[b][k] * mid[a][k][t]
    for (int a = 0; a < MO; ++a)
        combine<T, MO, A, 1>(
            Tr::AT, [&](int k, int) { return mid + (a * A + k) * lanes; },
            [&](int b, int) { return o + (a * MO + b) * lanes; }, lanes);
    const int64_t oy = ty * MO, rows = std::min<int64_t>(MO, s.oh - oy), full = s.ow / MO;
    for (int64_t a = 0; a < rows; ++a) {
        T* row = out + (oy + a) * s.ow;
        interleave<T, MO>(o + a * MO * lanes, lanes, row, full);
        for (int64_t x = full * MO; x < s.ow; ++x) row[x] = o[(a * MO + x % MO) * lanes + full];
    }
}

template <typename T, int MO>
void winograd_unit(const Conv2dShape& s, const Plan& p, int64_t n, int64_t ty0, int64_t ty1, int64_t m0, int64_t m1,
                   const T* x, const T* u, T* y,
                   const Epilogue<T>& ep) {
    using Tr = Transform<MO>;
    constexpr int A = Tr::A, AA = A * A;
    const int64_t tw = p.tw, tiles = (ty1 - ty0) * tw;
    const RowSizes<T, MO> z(tw, ty1 - ty0);
    // V_xi [C][ldv] (a row's store runs z.lanes - tw past its tiles into the next row's, or the slack), Y_xi [M][ld]
    // (read up to z.lanes past a row's first tile: slack), the split input rows, a row's scratch
    const int64_t ld = (tiles + 15) / 16 * 16, ldv = ld + z.lanes, vsize = s.c * ldv, ysize = AA * s.m * ld + z.lanes;
    T* v = static_cast<T*>(detail::thread_buffer(0, sizeof(T) * size_t(AA * vsize + ysize + z.split + z.scratch)));
    T* yt = v + AA * vsize;
    T* split = yt + ysize;
    T* scratch = split + z.split;

    // input transform, one tile row of one channel at a time, straight into the rows of V_xi
    const T* xn = x + n * s.c * input_plane(s);
    std::fill(split, split + z.split, T(0));
    for (int64_t c = 0; c < s.c; ++c) {
        split_rows<T, MO>(s, xn + c * input_plane(s), ty0 * MO - s.pt, (ty1 - ty0) * MO + 2, z.lanes, split);
        for (int64_t ty = ty0; ty < ty1; ++ty)
            input_row<T, MO>(split + (ty - ty0) * MO * MO * z.lanes, z.lanes, scratch, v + c * ldv + (ty - ty0) * tw, vsize);
    }

    // the a^2 products: U_xi pre-packed (kPackRows-row panels over K = C), V_xi packed by the GEMM per cache block
    const int64_t usize = (s.m + kPackRows - 1) / kPackRows * kPackRows * s.c;
    const Epilogue<T> plain;
    for (int xi = 0; xi < AA; ++xi)
        detail::gemm_serial<T>(m0, m1, 0, tiles, s.c, detail::AOperand<T>{u + xi * usize, 0, 0, true},
                               static_cast<const T*>(nullptr), detail::StridedB<T>{v + xi * vsize, ldv, 1},
                               yt + xi * s.m * ld, ld, plain);

    // output transform, then the epilogue over this unit's output rows of each channel
    const int64_t oy0 = ty0 * MO, oy1 = std::min(s.oh, ty1 * MO), plane = s.oh * s.ow;
    const bool has_epilogue = !detail::epilogue_empty(ep);
    Epilogue<T> e = ep;
    if (e.residual) e.residual += n * s.m * plane + oy0 * s.ow;
    e.ldr = plane;
    e.bias_rs = 1;
    e.bias_cs = 0;
    for (int64_t m = m0; m < m1; ++m) {
        T* out = y + (n * s.m + m) * plane;
        for (int64_t ty = ty0; ty < ty1; ++ty)
            output_row<T, MO>(s, yt + m * ld + (ty - ty0) * tw, s.m * ld, ty, z, scratch, out);
        if (has_epilogue) detail::apply_epilogue(e, out + oy0 * s.ow, s.ow, m, 0, 1, (oy1 - oy0) * s.ow);
    }
}

template <typename T, int MO>
void winograd(const Conv2dShape& s, const T* x, const T* u, T* y, const Epilogue<T>& ep) {
    const int threads = detail::in_parallel() ? 1 : num_threads();
    // A batch smaller than the thread count with few tiles per image against many output channels (late layers:
    // 7x7 and 256+ channels): the threads split each unit's output channels instead of sharing the units, so that
    // U (a^2 M C elements) is read once per unit rather than once per thread; each repeats the unit's input
    // transform (a^2 C tiles elements). Measured on 7x7 at 2 threads: 512 channels 0.81x -> 1.37x of the GEMM
    // path, 256 channels 1.03x -> 1.46x; at 14x14 (M / tiles ~ 5) sharing units stays faster.
    const int64_t tiles = ((s.oh + MO - 1) / MO) * ((s.ow + MO - 1) / MO);
    const bool split_m = threads > 1 && s.n < threads && s.m >= 8 * tiles && s.m >= 2 * kPackRows * threads;
    const Plan p = plan<T, MO>(s, split_m ? 1 : threads);
    const int64_t units = s.n * p.units, parts = split_m ? threads : 1;
    const bool enough = units * parts > 1 && s.n * s.m * s.oh * s.ow * s.c >= detail::kGemmParallelWork;
    // part r of a unit: output channels [m(r), m(r + 1)), boundaries on kPackRows (U's pre-packed panels)
    auto m_at = [&](int64_t r) { return std::min(s.m, (s.m + kPackRows - 1) / kPackRows * r / parts * kPackRows); };
    parallel(enough, [&](int t, int nt) {  // round robin: thread t takes k = t, t + nt, ...
        for (int64_t k = t; k < units * parts; k += nt) {
            const int64_t unit = k / parts, r = k % parts, row = unit % p.units;
            winograd_unit<T, MO>(s, p, unit / p.units, p.begin(row), p.begin(row + 1), m_at(r), m_at(r + 1), x, u, y, ep);
        }
    });
}

template <int MO, typename T> void transform_weights(const Conv2dShape& s, const T* w, T* u) {
    using Tr = Transform<MO>;
    constexpr int A = Tr::A;
    const int64_t usize = (s.m + kPackRows - 1) / kPackRows * kPackRows * s.c;
    std::fill(u, u + A * A * usize, T(0));
    for (int64_t m = 0; m < s.m; ++m)
        for (int64_t c = 0; c < s.c; ++c) {
            const T* g = w + (m * s.c + c) * 9;
            double gg[A][3];  // G g
            for (int i = 0; i < A; ++i)
                for (int k = 0; k < 3; ++k) gg[i][k] = Tr::G[i][0] * g[k] + Tr::G[i][1] * g[3 + k] + Tr::G[i][2] * g[6 + k];
            for (int i = 0; i < A; ++i)
                for (int j = 0; j < A; ++j) {
                    const double v = gg[i][0] * Tr::G[j][0] + gg[i][1] * Tr::G[j][1] + gg[i][2] * Tr::G[j][2];
                    // U_xi in the pre-packed A layout: panel m / kPackRows, [C][kPackRows]
                    u[(i * A + j) * usize + (m / kPackRows) * s.c * kPackRows + c * kPackRows + m % kPackRows] = T(v);
                }
        }
}

}  // namespace

bool winograd_applies(const Conv2dShape& s) {
    return s.kh == 3 && s.kw == 3 && s.sh == 1 && s.sw == 1 && s.dh == 1 && s.dw == 1 && s.groups == 1;
}

int64_t winograd_weights_size(const Conv2dShape& s, int tile) {
    const int64_t a = tile + 2;
    return a * a * ((s.m + kPackRows - 1) / kPackRows * kPackRows) * s.c;
}

template <typename T> void winograd_weights(const Conv2dShape& s, int tile, const T* w, T* u) {
    if (tile == 4) transform_weights<4>(s, w, u);
    else transform_weights<2>(s, w, u);
}

template <typename T>
void conv2d_winograd(const Conv2dShape& s, int tile, const T* x, const T* u, T* y, const Epilogue<T>& ep) {
    if (tile == 4) winograd<T, 4>(s, x, u, y, ep);
    else winograd<T, 2>(s, x, u, y, ep);
}

// float only: float64 convolutions take the im2col GEMM (exact to float64's own rounding, where Winograd's
// transforms lose digits), and a second instantiation doubled this file's compile time
template void winograd_weights<float>(const Conv2dShape&, int, const float*, float*);
template void conv2d_winograd<float>(const Conv2dShape&, int, const float*, const float*, float*, const Epilogue<float>&);

}  // namespace exporter_rt
