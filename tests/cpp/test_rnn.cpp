// rnn.cpp: ONNX LSTM, GRU and RNN (layout 0) against the equations of the ONNX operator spec written out
// naively in double: forward, reverse and bidirectional, with and without bias and initial state, GRU in
// both linear_before_reset modes. Scratch is sized by the formula in exporter_runtime.h, with guard
// elements after it that must stay untouched.
#include "check.h"
#include "exporter_runtime.h"

namespace rt = exporter_rt;

static double sigmoid(double v) { return 1 / (1 + std::exp(-v)); }

// x [seq, batch, input], W [dirs, G*H, input], R [dirs, G*H, H], B [dirs, 2*G*H] (may be empty),
// h0/c0 [dirs, batch, H] (may be empty) -> y [seq, dirs, batch, H], yh/yc [dirs, batch, H].
struct RnnData {
    std::vector<double> x, W, R, B, h0, c0;
};

// dot(row `gate*H + j` of M [G*H, cols] for direction dir, v)
static double row_dot(const std::vector<double>& M, int64_t dir, int64_t G, int64_t H, int64_t cols, int64_t row,
                      const double* v) {
    const double* m = M.data() + (dir * G * H + row) * cols;
    double acc = 0;
    for (int64_t k = 0; k < cols; ++k) acc += m[k] * v[k];
    return acc;
}

enum class Cell { lstm, gru, rnn };
static const char* name_of(Cell cell) { return cell == Cell::lstm ? "lstm" : cell == Cell::gru ? "gru" : "rnn"; }
static int64_t gates_of(Cell cell) { return cell == Cell::lstm ? 4 : cell == Cell::gru ? 3 : 1; }

static void rnn_reference(Cell cell, bool lbr, const rt::RnnShape& s, const RnnData& d, std::vector<double>& y,
                          std::vector<double>& yh, std::vector<double>& yc) {
    const bool is_lstm = cell == Cell::lstm;
    const int64_t H = s.hidden, G = gates_of(cell), I = s.input;
    y.assign(s.seq * s.directions * s.batch * H, 0);
    yh.assign(s.directions * s.batch * H, 0);
    yc.assign(s.directions * s.batch * H, 0);
    for (int64_t dir = 0; dir < s.directions; ++dir) {
        const bool backwards = dir == 1 || s.reverse;
        auto bias = [&](int64_t which, int64_t row) {  // which: 0 = W's bias, 1 = R's bias
            return d.B.empty() ? 0.0 : d.B[dir * 2 * G * H + which * G * H + row];
        };
        for (int64_t b = 0; b < s.batch; ++b) {
            std::vector<double> h(H, 0), c(H, 0), next_h(H);
            if (!d.h0.empty()) for (int64_t j = 0; j < H; ++j) h[j] = d.h0[(dir * s.batch + b) * H + j];
            if (!d.c0.empty()) for (int64_t j = 0; j < H; ++j) c[j] = d.c0[(dir * s.batch + b) * H + j];
            for (int64_t step = 0; step < s.seq; ++step) {
                const int64_t t = backwards ? s.seq - 1 - step : step;
                const double* xt = d.x.data() + (t * s.batch + b) * I;
                auto pre = [&](int64_t gate, int64_t j, const double* hv) {  // X W^T + H R^T + Wb + Rb
                    const int64_t row = gate * H + j;
                    return row_dot(d.W, dir, G, H, I, row, xt) + row_dot(d.R, dir, G, H, H, row, hv) + bias(0, row) + bias(1, row);
                };
                if (cell == Cell::rnn) {
                    for (int64_t j = 0; j < H; ++j) next_h[j] = std::tanh(pre(0, j, h.data()));
                } else if (is_lstm) {  // gates i, o, f, c
                    for (int64_t j = 0; j < H; ++j) {
                        const double it = sigmoid(pre(0, j, h.data())), ot = sigmoid(pre(1, j, h.data()));
                        const double ft = sigmoid(pre(2, j, h.data())), ct = std::tanh(pre(3, j, h.data()));
                        c[j] = ft * c[j] + it * ct;
                        next_h[j] = ot * std::tanh(c[j]);
                    }
                } else {  // gates z, r, h
                    std::vector<double> z(H), r(H), rh(H);
                    for (int64_t j = 0; j < H; ++j) {
                        z[j] = sigmoid(pre(0, j, h.data()));
                        r[j] = sigmoid(pre(1, j, h.data()));
                        rh[j] = r[j] * h[j];
                    }
                    for (int64_t j = 0; j < H; ++j) {
                        const int64_t row = 2 * H + j;
                        const double xw = row_dot(d.W, dir, G, H, I, row, xt) + bias(0, row);
                        const double cand = lbr ? xw + r[j] * (row_dot(d.R, dir, G, H, H, row, h.data()) + bias(1, row))
                                                : xw + row_dot(d.R, dir, G, H, H, row, rh.data()) + bias(1, row);
                        next_h[j] = (1 - z[j]) * std::tanh(cand) + z[j] * h[j];
                    }
                }
                h = next_h;
                for (int64_t j = 0; j < H; ++j) y[((t * s.directions + dir) * s.batch + b) * H + j] = h[j];
            }
            for (int64_t j = 0; j < H; ++j) {
                yh[(dir * s.batch + b) * H + j] = h[j];
                yc[(dir * s.batch + b) * H + j] = c[j];
            }
        }
    }
}

template <typename T> static std::vector<T> as(const std::vector<double>& v) { return std::vector<T>(v.begin(), v.end()); }

template <typename T>
static void test_rnn(std::mt19937& rng) {
    struct Case { int64_t seq, batch, input, hidden, directions; bool reverse; };
    const Case cases[] = {{1, 1, 1, 1, 1, false}, {5, 2, 3, 4, 1, false}, {4, 3, 5, 2, 1, true},
                          {6, 2, 4, 3, 2, false}, {3, 1, 7, 17, 2, false}, {2, 5, 33, 20, 1, false}};
    for (const Case& t : cases)
        for (Cell cell : {Cell::lstm, Cell::gru, Cell::rnn})
            for (int options = 0; options < 4; ++options) {  // bit 0: bias, bit 1: initial state
                const bool with_bias = options & 1, with_state = options & 2, is_lstm = cell == Cell::lstm;
                for (bool lbr : {false, true}) {
                    if (cell != Cell::gru && lbr) continue;
                    const rt::RnnShape s{t.seq, t.batch, t.input, t.hidden, t.directions, t.reverse};
                    const int64_t G = gates_of(cell), H = t.hidden, D = t.directions;
                    RnnData d;
                    d.x = random_reals<double>(t.seq * t.batch * t.input, rng, -1, 1);
                    d.W = random_reals<double>(D * G * H * t.input, rng, -0.7, 0.7);
                    d.R = random_reals<double>(D * G * H * H, rng, -0.7, 0.7);
                    if (with_bias) d.B = random_reals<double>(D * 2 * G * H, rng, -0.5, 0.5);
                    if (with_state) {
                        d.h0 = random_reals<double>(D * t.batch * H, rng, -1, 1);
                        d.c0 = random_reals<double>(D * t.batch * H, rng, -1, 1);
                    }
                    std::vector<double> want_y, want_yh, want_yc;
                    rnn_reference(cell, lbr, s, d, want_y, want_yh, want_yc);
                    const auto x = as<T>(d.x), W = as<T>(d.W), R = as<T>(d.R), B = as<T>(d.B), h0 = as<T>(d.h0), c0 = as<T>(d.c0);
                    // the scratch formula documented in exporter_runtime.h
                    const int64_t scratch_size = (t.input + H + t.seq * t.batch + t.batch) * G * H + 2 * t.batch * H;
                    std::vector<T> scratch(scratch_size + 32, T(7));
                    std::vector<T> y(want_y.size()), yh(want_yh.size()), yc(want_yc.size());
                    const T* b = with_bias ? B.data() : nullptr;
                    const T* h = with_state ? h0.data() : nullptr;
                    if (is_lstm)
                        rt::lstm<T>(s, x.data(), W.data(), R.data(), b, h, with_state ? c0.data() : nullptr, y.data(),
                                    yh.data(), yc.data(), scratch.data());
                    else if (cell == Cell::gru)
                        rt::gru<T>(s, x.data(), W.data(), R.data(), b, h, lbr, y.data(), yh.data(), scratch.data());
                    else
                        rt::simple_rnn<T>(s, x.data(), W.data(), R.data(), b, h, y.data(), yh.data(), scratch.data());
                    const double tolerance = sizeof(T) == 4 ? 2e-5 : 1e-12;
                    const bool ok = all_close(y, want_y, tolerance, tolerance) && all_close(yh, want_yh, tolerance, tolerance) &&
                                    (!is_lstm || all_close(yc, want_yc, tolerance, tolerance));
                    CHECK(ok, "%s seq=%lld batch=%lld input=%lld hidden=%lld directions=%lld reverse=%d bias=%d state=%d lbr=%d",
                          name_of(cell), (long long)t.seq, (long long)t.batch, (long long)t.input, (long long)H,
                          (long long)D, int(t.reverse), int(with_bias), int(with_state), int(lbr));
                    bool guard = true;
                    for (int64_t e = scratch_size; e < scratch_size + 32; ++e) guard = guard && scratch[e] == T(7);
                    CHECK(guard, "%s wrote past the documented scratch size", name_of(cell));
                    // the optional outputs may be null
                    std::vector<T> yh_only(yh.size());
                    if (is_lstm)
                        rt::lstm<T>(s, x.data(), W.data(), R.data(), b, h, with_state ? c0.data() : nullptr, nullptr,
                                    yh_only.data(), nullptr, scratch.data());
                    else if (cell == Cell::gru)
                        rt::gru<T>(s, x.data(), W.data(), R.data(), b, h, lbr, nullptr, yh_only.data(), scratch.data());
                    else
                        rt::simple_rnn<T>(s, x.data(), W.data(), R.data(), b, h, nullptr, yh_only.data(), scratch.data());
                    CHECK(yh_only == yh, "%s with only Y_h requested", name_of(cell));
                }
            }
}

// lstm_ex: zero peepholes and full lengths give lstm; a sequence of length 1 keeps its first state (Y_h) and
// writes zeros to Y after it; a length past the sequence is refused.
static void test_lstm_ex(std::mt19937& rng) {
    const rt::RnnShape s{3, 2, 2, 3, 1, false};
    const int64_t G = 12;
    auto x = random_reals<float>(3 * 2 * 2, rng, -1, 1), W = random_reals<float>(G * 2, rng, -1, 1);
    auto R = random_reals<float>(G * 3, rng, -1, 1);
    std::vector<float> P(9, 0.0f), scratch((2 + 3 + 6 + 2) * G + 2 * 2 * 3);
    std::vector<float> y(18), yh(6), yc(6), y2(18), yh2(6), yc2(6), y1(18), yh1(6), yc1(6);
    rt::lstm<float>(s, x.data(), W.data(), R.data(), nullptr, nullptr, nullptr, y.data(), yh.data(), yc.data(), scratch.data());
    const int32_t full[2] = {3, 3}, short_[2] = {3, 1}, bad[2] = {4, 1};
    CHECK(rt::lstm_ex<float>(s, x.data(), W.data(), R.data(), nullptr, full, nullptr, nullptr, P.data(), y2.data(),
                             yh2.data(), yc2.data(), scratch.data()) && y2 == y && yh2 == yh && yc2 == yc,
          "lstm_ex with zero peepholes and full lengths is lstm");
    rt::lstm_ex<float>(s, x.data(), W.data(), R.data(), nullptr, short_, nullptr, nullptr, nullptr, y1.data(), yh1.data(),
                       yc1.data(), scratch.data());
    bool ok = true;
    for (int j = 0; j < 3; ++j) {
        ok = ok && yh1[j] == yh[j] && yh1[3 + j] == y[3 + j];             // batch 0 full; batch 1 its step-0 state
        ok = ok && y1[6 + 3 + j] == 0.0f && y1[12 + 3 + j] == 0.0f;        // batch 1 past its length: zeros
    }
    CHECK(ok, "lstm_ex sequence lengths");
    CHECK(!rt::lstm_ex<float>(s, x.data(), W.data(), R.data(), nullptr, bad, nullptr, nullptr, nullptr, y1.data(),
                              yh1.data(), yc1.data(), scratch.data()), "lstm_ex refuses a length past the sequence");
}

int main() {
    std::mt19937 rng(1234);
    test_lstm_ex(rng);
    test_rnn<float>(rng);
    test_rnn<double>(rng);
    return finish("rnn");
}
