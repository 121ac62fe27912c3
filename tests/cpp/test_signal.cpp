// signal.cpp: dft against the direct sum in long double for lengths 1..17 and powers of two (the radix-2 and
// the direct paths), real and complex input, truncated and zero-padded lines, one-sided output, inverse and
// one-sided inverse (a real signal back from its half spectrum), strided lines (inner > 1); stft against
// framed direct sums with and without a window; mel_weight_matrix's triangles.
#include <vector>

#include "check.h"
#include "exporter_runtime.h"

namespace rt = exporter_rt;

// want[k] = sum_t z[t] e^(sign 2 pi i k t / length), t < min(n, length), for k < length (complex, interleaved)
static std::vector<long double> direct(const std::vector<long double>& z, int64_t n, int64_t length, int sign) {
    std::vector<long double> out(2 * length, 0.0L);
    const long double two_pi = 6.283185307179586476925286766559L;
    for (int64_t k = 0; k < length; ++k)
        for (int64_t t = 0; t < n && t < length; ++t) {
            const long double a = two_pi * ((k * t) % length) / length;
            out[2 * k] += z[2 * t] * std::cos(a) - sign * z[2 * t + 1] * std::sin(a);
            out[2 * k + 1] += z[2 * t] * sign * std::sin(a) + z[2 * t + 1] * std::cos(a);
        }
    return out;
}

template <typename T>
static void test_dft(std::mt19937& rng) {
    std::vector<int64_t> lengths;
    for (int64_t l = 1; l <= 17; ++l) lengths.push_back(l);
    lengths.push_back(32);
    lengths.push_back(64);
    const double rtol = sizeof(T) == 4 ? 1e-5 : 1e-11, atol = sizeof(T) == 4 ? 1e-4 : 1e-10;
    for (int64_t length : lengths)
        for (int64_t n : {length, length - 1 > 0 ? length - 1 : 1, length + 2})
            for (int64_t c_in : {1, 2})
                for (int64_t inner : {1, 3})
                    for (bool onesided : {false, true}) {
                        const int64_t outer = 2;
                        auto x = random_reals<T>(outer * n * inner * c_in, rng);
                        std::vector<double> scratch(rt::dft_scratch_doubles(length));
                        // forward
                        const int64_t n_out = onesided ? length / 2 + 1 : length;
                        std::vector<T> y(outer * n_out * inner * 2), want(y.size());
                        for (int64_t o = 0; o < outer; ++o)
                            for (int64_t i = 0; i < inner; ++i) {
                                std::vector<long double> z(2 * n);
                                for (int64_t t = 0; t < n; ++t) {
                                    z[2 * t] = x[((o * n + t) * inner + i) * c_in];
                                    z[2 * t + 1] = c_in == 2 ? x[((o * n + t) * inner + i) * c_in + 1] : 0;
                                }
                                auto w = direct(z, n, length, -1);
                                for (int64_t k = 0; k < n_out; ++k)
                                    for (int c = 0; c < 2; ++c) want[((o * n_out + k) * inner + i) * 2 + c] = T(w[2 * k + c]);
                            }
                        rt::dft<T>(x.data(), y.data(), outer, n, inner, c_in, length, n_out, false, onesided, scratch.data());
                        CHECK(all_close(y, want, rtol, atol), "dft length %lld n %lld c_in %lld inner %lld onesided %d",
                              (long long)length, (long long)n, (long long)c_in, (long long)inner, int(onesided));
                        // inverse of the full spectrum: the complex signal back (over length points)
                        if (!onesided && n == length) {
                            std::vector<T> back(outer * length * inner * 2);
                            rt::dft<T>(y.data(), back.data(), outer, length, inner, 2, length, length, true, false, scratch.data());
                            std::vector<T> signal(back.size());
                            for (size_t e = 0; e < signal.size(); ++e)
                                signal[e] = (e % 2 == 1 && c_in == 1) ? T(0) : x[c_in == 2 ? e : e / 2];
                            CHECK(all_close(back, signal, rtol, atol), "inverse dft length %lld", (long long)length);
                        }
                        // one-sided inverse of a real signal's half spectrum: the signal back
                        if (onesided && c_in == 1 && n == length) {
                            std::vector<T> back(outer * length * inner);
                            rt::dft<T>(y.data(), back.data(), outer, n_out, inner, 2, length, length, true, true, scratch.data());
                            CHECK(all_close(back, x, rtol, atol), "irfft length %lld inner %lld", (long long)length, (long long)inner);
                        }
                    }
}

template <typename T>
static void test_stft(std::mt19937& rng) {
    const double rtol = sizeof(T) == 4 ? 1e-5 : 1e-11, atol = sizeof(T) == 4 ? 1e-4 : 1e-10;
    const int64_t batch = 2, signal_length = 40;
    for (int64_t frame_length : {8, 9})
        for (int64_t step : {3, 8})
            for (int64_t c_in : {1, 2})
                for (bool onesided : {false, true})
                    for (bool windowed : {false, true}) {
                        const int64_t frames = (signal_length - frame_length) / step + 1;
                        const int64_t bins = onesided ? frame_length / 2 + 1 : frame_length;
                        auto x = random_reals<T>(batch * signal_length * c_in, rng);
                        auto window = random_reals<T>(frame_length, rng, 0, 1);
                        std::vector<T> y(batch * frames * bins * 2), want(y.size());
                        std::vector<double> scratch(rt::dft_scratch_doubles(frame_length));
                        for (int64_t b = 0; b < batch; ++b)
                            for (int64_t f = 0; f < frames; ++f) {
                                std::vector<long double> z(2 * frame_length);
                                for (int64_t t = 0; t < frame_length; ++t) {
                                    const int64_t at = (b * signal_length + f * step + t) * c_in;
                                    const long double w = windowed ? window[t] : 1;
                                    z[2 * t] = x[at] * w;
                                    z[2 * t + 1] = c_in == 2 ? x[at + 1] * w : 0;
                                }
                                auto d = direct(z, frame_length, frame_length, -1);
                                for (int64_t k = 0; k < 2 * bins; ++k) want[(b * frames + f) * bins * 2 + k] = T(d[k]);
                            }
                        rt::stft<T>(x.data(), windowed ? window.data() : nullptr, y.data(), batch, signal_length, c_in,
                                    step, frame_length, frames, onesided, scratch.data());
                        CHECK(all_close(y, want, rtol, atol), "stft frame %lld step %lld c_in %lld onesided %d window %d",
                              (long long)frame_length, (long long)step, (long long)c_in, int(onesided), int(windowed));
                    }
}

static void test_mel() {
    // ONNX's node test: 8 bins, dft_length 16, 8192 Hz, 0..4096 Hz; each filter rises to 1 and falls back
    const int64_t bins = 8, length = 16, rows = length / 2 + 1;
    std::vector<float> y(rows * bins);
    rt::mel_weight_matrix<float, float>(y.data(), bins, length, 8192, 0.0f, 4096.0f);
    for (int64_t i = 0; i < bins; ++i) {
        float peak = 0;
        for (int64_t r = 0; r < rows; ++r) {
            const float v = y[r * bins + i];
            CHECK(v >= 0 && v <= 1, "mel weight in [0, 1]");
            peak = v > peak ? v : peak;
        }
        CHECK(peak == 1.0f, "mel filter %lld peaks at 1", (long long)i);
    }
}

int main() {
    std::mt19937 rng(1234);
    test_dft<float>(rng);
    test_dft<double>(rng);
    test_stft<float>(rng);
    test_stft<double>(rng);
    test_mel();
    return finish("signal");
}
