// exporter runtime: recurrent cells (ONNX LSTM, GRU and RNN, layout 0). See exporter_runtime.h for the contracts.
#include "exporter_runtime.h"

#include <cmath>
#include <cstring>

namespace exporter_rt {

template <typename T> static inline T sigmoid(T v) { return T(1) / (T(1) + std::exp(-v)); }

// Transposes the [rows, cols] matrix m into t ([cols, rows]).
template <typename T> static void transpose_matrix(const T* m, T* t, int64_t rows, int64_t cols) {
    for (int64_t i = 0; i < rows; ++i)
        for (int64_t j = 0; j < cols; ++j) t[j * rows + i] = m[i * cols + j];
}

// One direction's setup, shared by the cells: W and R transposed into wt / rt (G = gates * hidden columns) and
// the input projections of every step at once, xw = x W^T ([seq*batch, G]).
template <typename T>
static void project_inputs(const RnnShape& s, const T* x, const T* W, const T* R, int64_t dir, int64_t G, T* wt, T* rt,
                           T* xw) {
    transpose_matrix(W + dir * G * s.input, wt, G, s.input);
    transpose_matrix(R + dir * G * s.hidden, rt, G, s.hidden);
    gemm<T>(s.seq * s.batch, G, s.input, x, s.input, wt, G, xw, G, false);
}

template <typename T>
bool lstm_ex(const RnnShape& s, const T* x, const T* W, const T* R, const T* B, const int32_t* seq_lens, const T* h0,
             const T* c0, const T* P, T* y, T* yh, T* yc, T* scratch) {
    const int64_t H = s.hidden, G = 4 * H, batch = s.batch;
    if (seq_lens)
        for (int64_t b = 0; b < batch; ++b)
            if (seq_lens[b] < 0 || seq_lens[b] > s.seq) return false;
    T* wt = scratch;                        // [input, 4H]
    T* rt = wt + s.input * G;               // [H, 4H]
    T* xw = rt + H * G;                     // [seq*batch, 4H]
    T* gates = xw + s.seq * batch * G;      // [batch, 4H]
    T* h = gates + batch * G;               // [batch, H]
    T* c = h + batch * H;                   // [batch, H]
    for (int64_t dir = 0; dir < s.directions; ++dir) {
        project_inputs(s, x, W, R, dir, G, wt, rt, xw);
        const T* bias = B ? B + dir * 2 * G : nullptr;
        const T* peep = P ? P + dir * 3 * H : nullptr;  // input, output, forget
        for (int64_t i = 0; i < batch * H; ++i) {
            h[i] = h0 ? h0[dir * batch * H + i] : T(0);
            c[i] = c0 ? c0[dir * batch * H + i] : T(0);
        }
        for (int64_t step = 0; step < s.seq; ++step) {
            const int64_t t = (dir == 1 || s.reverse) ? s.seq - 1 - step : step;
            gemm<T>(batch, G, H, h, H, rt, G, gates, G, false);
            for (int64_t b = 0; b < batch; ++b) {
                if (seq_lens && t >= seq_lens[b]) continue;  // past this sequence's end: its state stays
                T* g = gates + b * G;
                const T* xg = xw + (t * batch + b) * G;
                for (int64_t j = 0; j < G; ++j) g[j] += xg[j] + (bias ? bias[j] + bias[G + j] : T(0));
                for (int64_t j = 0; j < H; ++j) {  // ONNX gate order: input, output, forget, cell
                    T& cell = c[b * H + j];
                    const T it = sigmoid(g[j] + (peep ? peep[j] * cell : T(0)));
                    const T ft = sigmoid(g[2 * H + j] + (peep ? peep[2 * H + j] * cell : T(0)));
                    const T ct = std::tanh(g[3 * H + j]);
                    cell = ft * cell + it * ct;
                    const T ot = sigmoid(g[H + j] + (peep ? peep[H + j] * cell : T(0)));
                    h[b * H + j] = ot * std::tanh(cell);
                }
            }
            if (y)
                for (int64_t b = 0; b < batch; ++b) {
                    T* dst = y + ((t * s.directions + dir) * batch + b) * H;
                    if (seq_lens && t >= seq_lens[b]) std::memset(dst, 0, H * sizeof(T));
                    else std::memcpy(dst, h + b * H, H * sizeof(T));
                }
        }
        if (yh) std::memcpy(yh + dir * batch * H, h, batch * H * sizeof(T));
        if (yc) std::memcpy(yc + dir * batch * H, c, batch * H * sizeof(T));
    }
    return true;
}

template <typename T>
void lstm(const RnnShape& s, const T* x, const T* W, const T* R, const T* B, const T* h0, const T* c0, T* y, T* yh,
          T* yc, T* scratch) {
    lstm_ex<T>(s, x, W, R, B, nullptr, h0, c0, nullptr, y, yh, yc, scratch);
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
        project_inputs(s, x, W, R, dir, G, wt, rt, xw);
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

template <typename T>
void simple_rnn(const RnnShape& s, const T* x, const T* W, const T* R, const T* B, const T* h0, T* y, T* yh,
                T* scratch) {
    const int64_t H = s.hidden, batch = s.batch;
    T* wt = scratch;                   // [input, H]
    T* rt = wt + s.input * H;          // [H, H]
    T* xw = rt + H * H;                // [seq*batch, H]
    T* pre = xw + s.seq * batch * H;   // [batch, H]: h @ R^T
    T* h = pre + batch * H;            // [batch, H]
    for (int64_t dir = 0; dir < s.directions; ++dir) {
        project_inputs(s, x, W, R, dir, H, wt, rt, xw);
        const T* bias = B ? B + dir * 2 * H : nullptr;
        for (int64_t i = 0; i < batch * H; ++i) h[i] = h0 ? h0[dir * batch * H + i] : T(0);
        for (int64_t step = 0; step < s.seq; ++step) {
            const int64_t t = (dir == 1 || s.reverse) ? s.seq - 1 - step : step;
            gemm<T>(batch, H, H, h, H, rt, H, pre, H, false);
            for (int64_t b = 0; b < batch; ++b)
                for (int64_t j = 0; j < H; ++j)
                    h[b * H + j] = std::tanh(pre[b * H + j] + xw[(t * batch + b) * H + j] +
                                             (bias ? bias[j] + bias[H + j] : T(0)));
            if (y)
                for (int64_t b = 0; b < batch; ++b)
                    std::memcpy(y + ((t * s.directions + dir) * batch + b) * H, h + b * H, H * sizeof(T));
        }
        if (yh) std::memcpy(yh + dir * batch * H, h, batch * H * sizeof(T));
    }
}

#include "dtypes.inc"  // EXPORTER_ALL_NUMERIC, EXPORTER_FLOATS

#define EXPORTER_RNN_FLOAT(T) \
    template void lstm<T>(const RnnShape&, const T*, const T*, const T*, const T*, const T*, const T*, T*, T*, T*, T*); \
    template bool lstm_ex<T>(const RnnShape&, const T*, const T*, const T*, const T*, const int32_t*, const T*, const T*, \
                             const T*, T*, T*, T*, T*); \
    template void gru<T>(const RnnShape&, const T*, const T*, const T*, const T*, const T*, bool, T*, T*, T*); \
    template void simple_rnn<T>(const RnnShape&, const T*, const T*, const T*, const T*, const T*, T*, T*, T*);
EXPORTER_FLOATS(EXPORTER_RNN_FLOAT)
#undef EXPORTER_RNN_FLOAT

}  // namespace exporter_rt
