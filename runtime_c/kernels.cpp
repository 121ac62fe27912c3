// exporter runtime kernels. See exporter_runtime.h for the contracts.
#include "exporter_runtime.h"

#include <algorithm>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace exporter_rt {

void set_num_threads(int threads) {
#ifdef _OPENMP
    omp_set_num_threads(threads > 0 ? threads : omp_get_num_procs());
#else
    (void)threads;
#endif
}

int num_threads() {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

// Work (in multiply-adds) below which a kernel stays on one thread: forking costs more than it saves.
static constexpr int64_t kParallelWork = 1 << 17;

// =====================================================================================================
// Pooling

template <typename T>
void max_pool2d(const Pool2dShape& s, const T* x, T* y) {
    const bool parallel = s.n * s.c * s.oh * s.ow * s.kh * s.kw >= kParallelWork;
    T lowest = std::numeric_limits<T>::lowest();
    if constexpr (std::numeric_limits<T>::has_infinity) lowest = -std::numeric_limits<T>::infinity();
#pragma omp parallel for schedule(static) if (parallel)
    for (int64_t nc = 0; nc < s.n * s.c; ++nc) {
        const T* in = x + nc * s.h * s.w;
        T* out = y + nc * s.oh * s.ow;
        for (int64_t oy = 0; oy < s.oh; ++oy) {
            // a whole output row per window tap, with the in-image column range hoisted out of the loop;
            // every output still sees its taps in (ki, kj) order, so NaN handling is unchanged
            T* row = out + oy * s.ow;
            for (int64_t ox = 0; ox < s.ow; ++ox) row[ox] = lowest;
            for (int64_t ki = 0; ki < s.kh; ++ki) {
                const int64_t iy = oy * s.sh - s.pt + ki * s.dh;
                if (iy < 0 || iy >= s.h) continue;
                const T* src = in + iy * s.w;
                for (int64_t kj = 0; kj < s.kw; ++kj) {
                    const int64_t ix0 = kj * s.dw - s.pl;
                    const int64_t lo = ix0 >= 0 ? 0 : (-ix0 + s.sw - 1) / s.sw;
                    const int64_t hi = s.w - ix0 <= 0 ? 0 : std::min(s.ow, (s.w - ix0 + s.sw - 1) / s.sw);
                    for (int64_t ox = lo; ox < hi; ++ox) row[ox] = maximum(row[ox], src[ox * s.sw + ix0]);
                }
            }
        }
    }
}

template <typename T>
void avg_pool2d(const Pool2dShape& s, const T* x, T* y, bool count_include_pad) {
    const bool parallel = s.n * s.c * s.oh * s.ow * s.kh * s.kw >= kParallelWork;
    const bool unpadded = s.pt == 0 && s.pl == 0 && (s.oh - 1) * s.sh + (s.kh - 1) * s.dh < s.h &&
                          (s.ow - 1) * s.sw + (s.kw - 1) * s.dw < s.w;
    if (unpadded) {  // every window inside the image: no bounds tests, one divisor; taps summed in (ki, kj) order
        const T divisor = T(s.kh * s.kw);
#pragma omp parallel for schedule(static) if (parallel)
        for (int64_t nc = 0; nc < s.n * s.c; ++nc) {
            const T* in = x + nc * s.h * s.w;
            T* out = y + nc * s.oh * s.ow;
            for (int64_t oy = 0; oy < s.oh; ++oy) {
                T* row = out + oy * s.ow;
                for (int64_t ox = 0; ox < s.ow; ++ox) row[ox] = T(0);
                for (int64_t ki = 0; ki < s.kh; ++ki) {
                    const T* src = in + (oy * s.sh + ki * s.dh) * s.w;
                    for (int64_t kj = 0; kj < s.kw; ++kj)
                        for (int64_t ox = 0; ox < s.ow; ++ox) row[ox] += src[ox * s.sw + kj * s.dw];
                }
                for (int64_t ox = 0; ox < s.ow; ++ox) row[ox] /= divisor;
            }
        }
        return;
    }
#pragma omp parallel for schedule(static) if (parallel)
    for (int64_t nc = 0; nc < s.n * s.c; ++nc) {
        const T* in = x + nc * s.h * s.w;
        T* out = y + nc * s.oh * s.ow;
        for (int64_t oy = 0; oy < s.oh; ++oy)
            for (int64_t ox = 0; ox < s.ow; ++ox) {
                T sum = 0;
                int64_t count = 0, padded = 0;
                for (int64_t ki = 0; ki < s.kh; ++ki) {
                    const int64_t iy = oy * s.sh - s.pt + ki * s.dh;
                    for (int64_t kj = 0; kj < s.kw; ++kj) {
                        const int64_t ix = ox * s.sw - s.pl + kj * s.dw;
                        // the padded area ends at the input edge plus the (end) padding
                        const bool inside_pad = iy >= -s.pt && ix >= -s.pl && iy < s.h + s.pt && ix < s.w + s.pl;
                        if (iy < 0 || iy >= s.h || ix < 0 || ix >= s.w) { padded += inside_pad; continue; }
                        sum += in[iy * s.w + ix];
                        ++count;
                    }
                }
                const int64_t divisor = count_include_pad ? count + padded : count;
                out[oy * s.ow + ox] = divisor ? sum / T(divisor) : T(0);
            }
    }
}

template <typename T>
void global_avg_pool(int64_t nc, int64_t hw, const T* x, T* y) {
    for (int64_t i = 0; i < nc; ++i) {
        T sum = 0;
        for (int64_t p = 0; p < hw; ++p) sum += x[i * hw + p];
        y[i] = sum / T(hw);
    }
}

template <typename T>
void global_max_pool(int64_t nc, int64_t hw, const T* x, T* y) {
    for (int64_t i = 0; i < nc; ++i) {
        T best = x[i * hw];
        for (int64_t p = 1; p < hw; ++p) best = maximum(best, x[i * hw + p]);
        y[i] = best;
    }
}

// =====================================================================================================
// Reductions over [outer, n, inner]

template <typename T> static inline T reduce_init(Reduce kind) {
    switch (kind) {
        case Reduce::Max:
            if constexpr (std::numeric_limits<T>::has_infinity) return -std::numeric_limits<T>::infinity();
            else return std::numeric_limits<T>::lowest();
        case Reduce::Min:
            if constexpr (std::numeric_limits<T>::has_infinity) return std::numeric_limits<T>::infinity();
            else return std::numeric_limits<T>::max();
        case Reduce::Prod: return T(1);
        default: return T(0);
    }
}

template <typename T> static inline T reduce_step(Reduce kind, T acc, T v) {
    switch (kind) {
        case Reduce::Max: return maximum(acc, v);
        case Reduce::Min: return minimum(acc, v);
        case Reduce::Prod: return acc * v;
        case Reduce::SumSquare: case Reduce::L2: return acc + v * v;
        case Reduce::L1: return acc + (v < T(0) ? T(0) - v : v);
        default: return acc + v;
    }
}

template <typename T> static inline T reduce_finish(Reduce kind, T acc, int64_t n) {
    if (kind == Reduce::Mean) return n ? acc / T(n) : acc;
    if constexpr (std::is_floating_point_v<T>) {
        if (kind == Reduce::L2) return std::sqrt(acc);
    } else {
        if (kind == Reduce::L2) return T(std::sqrt(double(acc)));
    }
    return acc;
}

template <typename T>
void reduce(Reduce kind, const T* x, T* y, int64_t outer, int64_t n, int64_t inner) {
    if (kind == Reduce::LogSumExp) {
        for (int64_t o = 0; o < outer; ++o)
            for (int64_t i = 0; i < inner; ++i) {
                const T* p = x + o * n * inner + i;
                T m = reduce_init<T>(Reduce::Max);
                for (int64_t k = 0; k < n; ++k) m = maximum(m, p[k * inner]);
                double s = 0;
                for (int64_t k = 0; k < n; ++k) s += std::exp(double(p[k * inner] - m));
                y[o * inner + i] = T(double(m) + std::log(s));
            }
        return;
    }
    const bool parallel = outer * n * inner >= kParallelWork && outer > 1;
    if (inner == 1) {
#pragma omp parallel for schedule(static) if (parallel)
        for (int64_t o = 0; o < outer; ++o) {
            const T* p = x + o * n;
            // eight independent accumulators let the compiler vectorize without reassociating
            constexpr int L = 8;
            T acc[L];
            for (int l = 0; l < L; ++l) acc[l] = reduce_init<T>(kind);
            int64_t k = 0;
            for (; k + L <= n; k += L)
                for (int l = 0; l < L; ++l) acc[l] = reduce_step(kind, acc[l], p[k + l]);
            T total = reduce_init<T>(kind);
            for (int l = 0; l < L; ++l) {
                if (kind == Reduce::Max || kind == Reduce::Min || kind == Reduce::Prod) total = reduce_step(kind, total, acc[l]);
                else total = total + acc[l];
            }
            for (; k < n; ++k) total = reduce_step(kind, total, p[k]);
            y[o] = reduce_finish(kind, total, n);
        }
        return;
    }
#pragma omp parallel for schedule(static) if (parallel)
    for (int64_t o = 0; o < outer; ++o) {
        T* out = y + o * inner;
        for (int64_t i = 0; i < inner; ++i) out[i] = reduce_init<T>(kind);
        for (int64_t k = 0; k < n; ++k) {
            const T* p = x + (o * n + k) * inner;
            for (int64_t i = 0; i < inner; ++i) out[i] = reduce_step(kind, out[i], p[i]);
        }
        for (int64_t i = 0; i < inner; ++i) out[i] = reduce_finish(kind, out[i], n);
    }
}

template <typename T>
void arg_reduce(bool is_max, bool select_last, const T* x, int64_t* y, int64_t outer, int64_t n, int64_t inner) {
    for (int64_t o = 0; o < outer; ++o)
        for (int64_t i = 0; i < inner; ++i) {
            const T* p = x + o * n * inner + i;
            int64_t best = 0;
            T value = p[0];
            for (int64_t k = 1; k < n; ++k) {
                const T v = p[k * inner];
                if constexpr (std::is_floating_point_v<T>) {
                    if (value != value) break;  // NumPy: the first NaN wins
                    if (v != v) { best = k; value = v; break; }
                }
                const bool better = is_max ? (select_last ? v >= value : v > value)
                                           : (select_last ? v <= value : v < value);
                if (better) { best = k; value = v; }
            }
            y[o * inner + i] = best;
        }
}

template <typename T>
void cumsum(const T* x, T* y, int64_t outer, int64_t n, int64_t inner, bool exclusive, bool reverse) {
    for (int64_t o = 0; o < outer; ++o)
        for (int64_t i = 0; i < inner; ++i) {
            T acc = 0;
            for (int64_t s = 0; s < n; ++s) {
                const int64_t k = reverse ? n - 1 - s : s;
                const int64_t at = (o * n + k) * inner + i;
                const T v = x[at];
                if (exclusive) { y[at] = acc; acc += v; }
                else { acc += v; y[at] = acc; }
            }
        }
}

// =====================================================================================================
// Softmax and layer normalization

template <typename T>
void softmax(const T* x, T* y, int64_t outer, int64_t n, int64_t inner, bool log) {
    const bool parallel = outer * n * inner >= kParallelWork && outer > 1;
#pragma omp parallel for schedule(static) if (parallel)
    for (int64_t o = 0; o < outer; ++o)
        for (int64_t i = 0; i < inner; ++i) {
            const T* p = x + o * n * inner + i;
            T* q = y + o * n * inner + i;
            T m = p[0];
            for (int64_t k = 1; k < n; ++k) m = maximum(m, p[k * inner]);
            T sum = 0;
            for (int64_t k = 0; k < n; ++k) {
                const T e = std::exp(p[k * inner] - m);
                if (!log) q[k * inner] = e;
                sum += e;
            }
            if (log) {
                const T shift = m + std::log(sum);
                for (int64_t k = 0; k < n; ++k) q[k * inner] = p[k * inner] - shift;
            } else {
                const T inv = T(1) / sum;
                for (int64_t k = 0; k < n; ++k) q[k * inner] *= inv;
            }
        }
}

template <typename T>
void layer_norm(const T* x, const T* scale, const T* bias, T* y, int64_t rows, int64_t n, T eps) {
    const bool parallel = rows * n >= kParallelWork && rows > 1;
#pragma omp parallel for schedule(static) if (parallel)
    for (int64_t r = 0; r < rows; ++r) {
        const T* p = x + r * n;
        T* q = y + r * n;
        T mean = 0;
        for (int64_t k = 0; k < n; ++k) mean += p[k];
        mean /= T(n);
        T var = 0;
        for (int64_t k = 0; k < n; ++k) var += (p[k] - mean) * (p[k] - mean);
        var /= T(n);
        const T inv = T(1) / std::sqrt(var + eps);
        for (int64_t k = 0; k < n; ++k) {
            T v = (p[k] - mean) * inv;
            if (scale) v *= scale[k];
            if (bias) v += bias[k];
            q[k] = v;
        }
    }
}

// =====================================================================================================
// Data movement

void strided_copy(const void* in, void* out, size_t elem, int rank, const int64_t* shape, const int64_t* in_strides,
                  int64_t offset) {
    int64_t total = 1;
    for (int d = 0; d < rank; ++d) total *= shape[d];
    if (total == 0) return;
    const char* src = static_cast<const char*>(in);
    char* dst = static_cast<char*>(out);
    if (rank == 0) { std::memcpy(dst, src + offset * elem, elem); return; }
    int64_t index[8] = {0};
    const int64_t inner = shape[rank - 1], inner_stride = in_strides[rank - 1];
    for (int64_t done = 0; done < total; done += inner) {
        int64_t at = offset;
        for (int d = 0; d < rank - 1; ++d) at += index[d] * in_strides[d];
        if (inner_stride == 1) {
            std::memcpy(dst, src + at * elem, inner * elem);
            dst += inner * elem;
        } else {
            for (int64_t i = 0; i < inner; ++i, dst += elem) std::memcpy(dst, src + (at + i * inner_stride) * elem, elem);
        }
        for (int d = rank - 2; d >= 0; --d) {
            if (++index[d] < shape[d]) break;
            index[d] = 0;
        }
    }
}

template <typename T>
static void transpose_2d(const T* in, T* out, int64_t rows, int64_t cols, int64_t batch) {
    constexpr int64_t B = 32;  // cache blocking
    for (int64_t b = 0; b < batch; ++b) {
        const T* src = in + b * rows * cols;
        T* dst = out + b * rows * cols;
        for (int64_t i0 = 0; i0 < rows; i0 += B)
            for (int64_t j0 = 0; j0 < cols; j0 += B)
                for (int64_t i = i0; i < std::min(rows, i0 + B); ++i)
                    for (int64_t j = j0; j < std::min(cols, j0 + B); ++j) dst[j * rows + i] = src[i * cols + j];
    }
}

void transpose(const void* in, void* out, size_t elem, int rank, const int64_t* shape, const int64_t* perm) {
    int64_t strides[8], out_shape[8], in_strides[8];
    int64_t s = 1;
    for (int d = rank - 1; d >= 0; --d) { strides[d] = s; s *= shape[d]; }
    for (int d = 0; d < rank; ++d) { out_shape[d] = shape[perm[d]]; in_strides[d] = strides[perm[d]]; }
    // [batch, rows, cols] -> [batch, cols, rows] gets the blocked kernel
    if (rank >= 2 && perm[rank - 1] == rank - 2 && perm[rank - 2] == rank - 1) {
        bool leading = true;
        for (int d = 0; d < rank - 2; ++d) leading = leading && perm[d] == d;
        if (leading) {
            int64_t batch = 1;
            for (int d = 0; d < rank - 2; ++d) batch *= shape[d];
            const int64_t rows = shape[rank - 2], cols = shape[rank - 1];
            switch (elem) {
                case 4: transpose_2d(static_cast<const int32_t*>(in), static_cast<int32_t*>(out), rows, cols, batch); return;
                case 8: transpose_2d(static_cast<const int64_t*>(in), static_cast<int64_t*>(out), rows, cols, batch); return;
                default: break;
            }
        }
    }
    strided_copy(in, out, elem, rank, out_shape, in_strides, 0);
}

static inline int64_t pad_source(int64_t i, int64_t n, PadMode mode) {
    if (i >= 0 && i < n) return i;
    switch (mode) {
        case PadMode::Edge: return i < 0 ? 0 : n - 1;
        case PadMode::Wrap: return ((i % n) + n) % n;
        case PadMode::Reflect: {
            if (n == 1) return 0;
            const int64_t period = 2 * (n - 1);
            int64_t m = ((i % period) + period) % period;
            return m < n ? m : period - m;
        }
        default: return -1;
    }
}

void pad(const void* in, void* out, size_t elem, int rank, const int64_t* in_shape, const int64_t* pads, PadMode mode,
         const void* value) {
    int64_t out_shape[8], total = 1;
    for (int d = 0; d < rank; ++d) { out_shape[d] = in_shape[d] + pads[d] + pads[rank + d]; total *= out_shape[d]; }
    int64_t in_strides[8], s = 1;
    for (int d = rank - 1; d >= 0; --d) { in_strides[d] = s; s *= in_shape[d]; }
    const char* src = static_cast<const char*>(in);
    char* dst = static_cast<char*>(out);
    int64_t index[8] = {0};
    for (int64_t e = 0; e < total; ++e, dst += elem) {
        int64_t at = 0;
        bool inside = true;
        for (int d = 0; d < rank && inside; ++d) {
            const int64_t src_i = pad_source(index[d] - pads[d], in_shape[d], mode);
            if (src_i < 0 || in_shape[d] == 0) inside = false;
            else at += src_i * in_strides[d];
        }
        std::memcpy(dst, inside ? src + at * elem : static_cast<const char*>(value), elem);
        for (int d = rank - 1; d >= 0; --d) {
            if (++index[d] < out_shape[d]) break;
            index[d] = 0;
        }
    }
}

void tile(const void* in, void* out, size_t elem, int rank, const int64_t* in_shape, const int64_t* repeats) {
    int64_t out_shape[8], in_strides[8], total = 1, s = 1;
    for (int d = rank - 1; d >= 0; --d) { in_strides[d] = s; s *= in_shape[d]; }
    for (int d = 0; d < rank; ++d) { out_shape[d] = in_shape[d] * repeats[d]; total *= out_shape[d]; }
    const char* src = static_cast<const char*>(in);
    char* dst = static_cast<char*>(out);
    int64_t index[8] = {0};
    for (int64_t e = 0; e < total; ++e, dst += elem) {
        int64_t at = 0;
        for (int d = 0; d < rank; ++d) at += (index[d] % in_shape[d]) * in_strides[d];
        std::memcpy(dst, src + at * elem, elem);
        for (int d = rank - 1; d >= 0; --d) {
            if (++index[d] < out_shape[d]) break;
            index[d] = 0;
        }
    }
}

// =====================================================================================================
// Recurrent cells

int64_t rnn_scratch_size(const RnnShape& s, int gates) {
    const int64_t g = gates * s.hidden;
    return s.input * g + s.hidden * g + s.seq * s.batch * g + s.batch * g + 2 * s.batch * s.hidden;
}

template <typename T> static inline T sigmoid(T v) { return T(1) / (T(1) + std::exp(-v)); }

// Transposes the [rows, cols] matrix m into t ([cols, rows]).
template <typename T> static void transpose_matrix(const T* m, T* t, int64_t rows, int64_t cols) {
    for (int64_t i = 0; i < rows; ++i)
        for (int64_t j = 0; j < cols; ++j) t[j * rows + i] = m[i * cols + j];
}

template <typename T>
void lstm(const RnnShape& s, const T* x, const T* W, const T* R, const T* B, const T* h0, const T* c0, T* y, T* yh,
          T* yc, T* scratch) {
    const int64_t H = s.hidden, G = 4 * H, batch = s.batch;
    T* wt = scratch;                        // [input, 4H]
    T* rt = wt + s.input * G;               // [H, 4H]
    T* xw = rt + H * G;                     // [seq*batch, 4H]
    T* gates = xw + s.seq * batch * G;      // [batch, 4H]
    T* h = gates + batch * G;               // [batch, H]
    T* c = h + batch * H;                   // [batch, H]
    for (int64_t dir = 0; dir < s.directions; ++dir) {
        transpose_matrix(W + dir * G * s.input, wt, G, s.input);
        transpose_matrix(R + dir * G * H, rt, G, H);
        gemm<T>(s.seq * batch, G, s.input, x, s.input, wt, G, xw, G, false);
        const T* bias = B ? B + dir * 2 * G : nullptr;
        for (int64_t i = 0; i < batch * H; ++i) {
            h[i] = h0 ? h0[dir * batch * H + i] : T(0);
            c[i] = c0 ? c0[dir * batch * H + i] : T(0);
        }
        for (int64_t step = 0; step < s.seq; ++step) {
            const int64_t t = (dir == 1 || s.reverse) ? s.seq - 1 - step : step;
            gemm<T>(batch, G, H, h, H, rt, G, gates, G, false);
            for (int64_t b = 0; b < batch; ++b) {
                T* g = gates + b * G;
                const T* xg = xw + (t * batch + b) * G;
                for (int64_t j = 0; j < G; ++j) g[j] += xg[j] + (bias ? bias[j] + bias[G + j] : T(0));
                for (int64_t j = 0; j < H; ++j) {  // ONNX gate order: input, output, forget, cell
                    const T it = sigmoid(g[j]), ot = sigmoid(g[H + j]), ft = sigmoid(g[2 * H + j]);
                    const T ct = std::tanh(g[3 * H + j]);
                    T& cell = c[b * H + j];
                    cell = ft * cell + it * ct;
                    h[b * H + j] = ot * std::tanh(cell);
                }
            }
            if (y)
                for (int64_t b = 0; b < batch; ++b)
                    std::memcpy(y + ((t * s.directions + dir) * batch + b) * H, h + b * H, H * sizeof(T));
        }
        if (yh) std::memcpy(yh + dir * batch * H, h, batch * H * sizeof(T));
        if (yc) std::memcpy(yc + dir * batch * H, c, batch * H * sizeof(T));
    }
}

template <typename T>
void gru(const RnnShape& s, const T* x, const T* W, const T* R, const T* B, const T* h0, bool linear_before_reset,
         T* y, T* yh, T* scratch) {
    const int64_t H = s.hidden, G = 3 * H, batch = s.batch;
    T* wt = scratch;
    T* rt = wt + s.input * G;
    T* xw = rt + H * G;
    T* rec = xw + s.seq * batch * G;  // [batch, 3H]: h @ R^T
    T* h = rec + batch * G;
    T* hr = h + batch * H;            // r * h, for linear_before_reset = 0
    for (int64_t dir = 0; dir < s.directions; ++dir) {
        transpose_matrix(W + dir * G * s.input, wt, G, s.input);
        transpose_matrix(R + dir * G * H, rt, G, H);
        gemm<T>(s.seq * batch, G, s.input, x, s.input, wt, G, xw, G, false);
        const T* wb = B ? B + dir * 2 * G : nullptr;
        const T* rb = B ? wb + G : nullptr;
        for (int64_t i = 0; i < batch * H; ++i) h[i] = h0 ? h0[dir * batch * H + i] : T(0);
        for (int64_t step = 0; step < s.seq; ++step) {
            const int64_t t = (dir == 1 || s.reverse) ? s.seq - 1 - step : step;
            gemm<T>(batch, G, H, h, H, rt, G, rec, G, false);  // z and r use h; h-gate below
            for (int64_t b = 0; b < batch; ++b) {
                const T* xg = xw + (t * batch + b) * G;
                T* rg = rec + b * G;
                for (int64_t j = 0; j < H; ++j) {
                    const T z = sigmoid(xg[j] + rg[j] + (wb ? wb[j] + rb[j] : T(0)));
                    const T r = sigmoid(xg[H + j] + rg[H + j] + (wb ? wb[H + j] + rb[H + j] : T(0)));
                    rg[j] = z;      // keep z
                    rg[H + j] = r;  // keep r
                    hr[b * H + j] = r * h[b * H + j];
                }
            }
            if (!linear_before_reset) {
                // h~ = tanh(x Wh + (r * h) Rh^T + Rbh + Wbh): needs a second product with r * h
                for (int64_t b = 0; b < batch; ++b)
                    for (int64_t j = 0; j < H; ++j) {
                        T acc = 0;
                        for (int64_t k = 0; k < H; ++k) acc += hr[b * H + k] * rt[k * G + 2 * H + j];
                        rec[b * G + 2 * H + j] = acc;
                    }
            }
            for (int64_t b = 0; b < batch; ++b) {
                const T* xg = xw + (t * batch + b) * G;
                const T* rg = rec + b * G;
                for (int64_t j = 0; j < H; ++j) {
                    const T z = rg[j], r = rg[H + j];
                    T cand;
                    if (linear_before_reset) cand = xg[2 * H + j] + (wb ? wb[2 * H + j] : T(0)) + r * (rg[2 * H + j] + (rb ? rb[2 * H + j] : T(0)));
                    else cand = xg[2 * H + j] + rg[2 * H + j] + (wb ? wb[2 * H + j] + rb[2 * H + j] : T(0));
                    const T ht = std::tanh(cand);
                    h[b * H + j] = (T(1) - z) * ht + z * h[b * H + j];
                }
            }
            if (y)
                for (int64_t b = 0; b < batch; ++b)
                    std::memcpy(y + ((t * s.directions + dir) * batch + b) * H, h + b * H, H * sizeof(T));
        }
        if (yh) std::memcpy(yh + dir * batch * H, h, batch * H * sizeof(T));
    }
}

// =====================================================================================================
// Explicit instantiations

#include "dtypes.inc"  // EXPORTER_ALL_NUMERIC, EXPORTER_FLOATS

#define INSTANTIATE_NUMERIC(T)                                                                                  \
    template void max_pool2d<T>(const Pool2dShape&, const T*, T*);                                             \
    template void global_max_pool<T>(int64_t, int64_t, const T*, T*);                                          \
    template void reduce<T>(Reduce, const T*, T*, int64_t, int64_t, int64_t);                                  \
    template void arg_reduce<T>(bool, bool, const T*, int64_t*, int64_t, int64_t, int64_t);                    \
    template void cumsum<T>(const T*, T*, int64_t, int64_t, int64_t, bool, bool);
EXPORTER_ALL_NUMERIC(INSTANTIATE_NUMERIC)

#define INSTANTIATE_FLOAT(T)                                                                                    \
    template void avg_pool2d<T>(const Pool2dShape&, const T*, T*, bool);                                       \
    template void global_avg_pool<T>(int64_t, int64_t, const T*, T*);                                          \
    template void softmax<T>(const T*, T*, int64_t, int64_t, int64_t, bool);                                   \
    template void layer_norm<T>(const T*, const T*, const T*, T*, int64_t, int64_t, T);                        \
    template void lstm<T>(const RnnShape&, const T*, const T*, const T*, const T*, const T*, const T*, T*, T*, T*, T*); \
    template void gru<T>(const RnnShape&, const T*, const T*, const T*, const T*, const T*, bool, T*, T*, T*);
EXPORTER_FLOATS(INSTANTIATE_FLOAT)

}  // namespace exporter_rt
