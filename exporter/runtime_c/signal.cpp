#include "signal_ops.h"

#include <cmath>

namespace exporter_rt {

namespace {

constexpr double kTwoPi = 6.283185307179586476925286766559;

// In place transform of the `length` complex points z (interleaved re, im): sum_t z[t] e^(sign 2 pi i k t / length).
// tw and out hold 2*length doubles each.
void transform(double* z, int64_t length, int sign, double* tw, double* out) {
    if (length <= 1) return;
    for (int64_t j = 0; j < length; ++j) {
        const double angle = kTwoPi * double(j) / double(length);
        tw[2 * j] = std::cos(angle);
        tw[2 * j + 1] = sign * std::sin(angle);
    }
    if ((length & (length - 1)) == 0) {  // radix 2: bit reversal, then butterflies
        for (int64_t i = 1, j = 0; i < length; ++i) {
            int64_t bit = length >> 1;
            for (; j & bit; bit >>= 1) j ^= bit;
            j ^= bit;
            if (i < j) {
                std::swap(z[2 * i], z[2 * j]);
                std::swap(z[2 * i + 1], z[2 * j + 1]);
            }
        }
        for (int64_t half = 1; half < length; half <<= 1) {
            const int64_t stride = length / (2 * half);
            for (int64_t start = 0; start < length; start += 2 * half)
                for (int64_t k = 0; k < half; ++k) {
                    const double wr = tw[2 * k * stride], wi = tw[2 * k * stride + 1];
                    double* a = z + 2 * (start + k);
                    double* b = z + 2 * (start + k + half);
                    const double br = b[0] * wr - b[1] * wi, bi = b[0] * wi + b[1] * wr;
                    b[0] = a[0] - br;
                    b[1] = a[1] - bi;
                    a[0] += br;
                    a[1] += bi;
                }
        }
        return;
    }
    for (int64_t k = 0; k < length; ++k) {  // any other length: the direct sum
        double re = 0, im = 0;
        int64_t j = 0;  // k * t mod length
        for (int64_t t = 0; t < length; ++t) {
            const double wr = tw[2 * j], wi = tw[2 * j + 1];
            re += z[2 * t] * wr - z[2 * t + 1] * wi;
            im += z[2 * t] * wi + z[2 * t + 1] * wr;
            j += k;
            if (j >= length) j -= length;
        }
        out[2 * k] = re;
        out[2 * k + 1] = im;
    }
    for (int64_t i = 0; i < 2 * length; ++i) z[i] = out[i];
}

}  // namespace

template <typename T>
void dft(const T* x, T* y, int64_t outer, int64_t n, int64_t inner, int64_t c_in, int64_t length, int64_t n_out,
         bool inverse, bool onesided, double* scratch) {
    double* z = scratch;
    double* tw = scratch + 2 * length;
    double* out = scratch + 4 * length;
    const int64_t c_out = inverse && onesided ? 1 : 2;
    const double scale = inverse && length > 0 ? 1.0 / double(length) : 1.0;
    for (int64_t o = 0; o < outer; ++o)
        for (int64_t i = 0; i < inner; ++i) {
            const T* line = x + (o * n * inner + i) * c_in;
            for (int64_t k = 0; k < 2 * length; ++k) z[k] = 0;
            if (inverse && onesided) {  // the first length/2+1 bins, completed as a Hermitian spectrum
                const int64_t half = length / 2 + 1, m = n < half ? n : half;
                for (int64_t k = 0; k < m; ++k) {
                    z[2 * k] = double(line[k * inner * c_in]);
                    z[2 * k + 1] = c_in == 2 ? double(line[k * inner * c_in + 1]) : 0.0;
                }
                z[1] = 0;  // the imaginary parts of the DC and Nyquist bins do not enter a real signal
                if (length % 2 == 0 && length > 0) z[2 * (length / 2) + 1] = 0;
                for (int64_t k = 1; 2 * k < length; ++k) {
                    z[2 * (length - k)] = z[2 * k];
                    z[2 * (length - k) + 1] = -z[2 * k + 1];
                }
            } else {
                const int64_t m = n < length ? n : length;
                for (int64_t t = 0; t < m; ++t) {
                    z[2 * t] = double(line[t * inner * c_in]);
                    z[2 * t + 1] = c_in == 2 ? double(line[t * inner * c_in + 1]) : 0.0;
                }
            }
            transform(z, length, inverse ? 1 : -1, tw, out);
            T* dst = y + (o * n_out * inner + i) * c_out;
            for (int64_t k = 0; k < n_out; ++k) {
                dst[k * inner * c_out] = T(z[2 * k] * scale);
                if (c_out == 2) dst[k * inner * c_out + 1] = T(z[2 * k + 1] * scale);
            }
        }
}

template <typename T>
void stft(const T* x, const T* window, T* y, int64_t batch, int64_t signal_length, int64_t c_in, int64_t frame_step,
          int64_t frame_length, int64_t frames, bool onesided, double* scratch) {
    double* z = scratch;
    double* tw = scratch + 2 * frame_length;
    double* out = scratch + 4 * frame_length;
    const int64_t bins = onesided ? frame_length / 2 + 1 : frame_length;
    for (int64_t b = 0; b < batch; ++b)
        for (int64_t f = 0; f < frames; ++f) {
            const T* frame = x + (b * signal_length + f * frame_step) * c_in;
            for (int64_t t = 0; t < frame_length; ++t) {
                const double w = window ? double(window[t]) : 1.0;
                z[2 * t] = double(frame[t * c_in]) * w;
                z[2 * t + 1] = c_in == 2 ? double(frame[t * c_in + 1]) * w : 0.0;
            }
            transform(z, frame_length, -1, tw, out);
            T* dst = y + (b * frames + f) * bins * 2;
            for (int64_t k = 0; k < 2 * bins; ++k) dst[k] = T(z[k]);
        }
}

template <typename T, typename E>
void mel_weight_matrix(T* y, int64_t num_mel_bins, int64_t dft_length, int64_t sample_rate, E lower, E upper) {
    const int64_t rows = dft_length / 2 + 1;
    for (int64_t i = 0; i < rows * num_mel_bins; ++i) y[i] = T(0);
    const double ln10 = std::log(10.0);
    // the mel range in the edges' type (as ONNX's reference), the points in double
    const E low_mel = E(2595) * std::log1p(lower / E(700)) / E(ln10);
    const E high_mel = E(2595) * std::log1p(upper / E(700)) / E(ln10);
    const double step = double((high_mel - low_mel) / E(num_mel_bins + 2));
    auto bin = [&](int64_t i) {  // the spectrogram bin of mel point i
        const double hz = 700 * std::expm1((double(i) * step + double(low_mel)) / 2595 * ln10);
        return int64_t(std::floor(double(dft_length + 1) * hz / double(sample_rate)));
    };
    auto set = [&](int64_t row, int64_t col, double v) {
        if (row >= 0 && row < rows) y[row * num_mel_bins + col] = T(v);
    };
    for (int64_t i = 0; i < num_mel_bins; ++i) {
        const int64_t lo = bin(i), center = bin(i + 1), hi = bin(i + 2);
        if (center == lo) {
            set(center, i, 1);
        } else {
            for (int64_t j = lo; j <= center; ++j) set(j, i, double(j - lo) / double(center - lo));
        }
        for (int64_t j = center; j < hi; ++j) set(j, i, double(hi - j) / double(hi - center));
    }
}

#define EXPORTER_SIGNAL_INSTANTIATE(T)                                                                      \
    template void dft<T>(const T*, T*, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, bool, bool, double*); \
    template void stft<T>(const T*, const T*, T*, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, bool,      \
                          double*);                                                                           \
    template void mel_weight_matrix<T, float>(T*, int64_t, int64_t, int64_t, float, float);                   \
    template void mel_weight_matrix<T, double>(T*, int64_t, int64_t, int64_t, double, double);
EXPORTER_SIGNAL_INSTANTIATE(float)
EXPORTER_SIGNAL_INSTANTIATE(double)
#undef EXPORTER_SIGNAL_INSTANTIATE

}  // namespace exporter_rt
