// Signal-processing kernels (signal.cpp; not "signal.h", which would shadow the C header for code built with
// the runtime on its include path): the discrete Fourier transform of ONNX's DFT and STFT, and the
// mel filter bank of MelWeightMatrix. Transforms run in double precision: a radix-2 FFT for power-of-two
// lengths, a direct O(n^2) sum (exact twiddle indices) for other lengths.
#ifndef EXPORTER_SIGNAL_H
#define EXPORTER_SIGNAL_H

#include <cstdint>

namespace exporter_rt {

// Doubles of scratch dft/stft need for a transform of `length` points.
inline int64_t dft_scratch_doubles(int64_t length) { return 6 * length; }

// DFT of each of the outer*inner lines of n points (stride `inner`) of x ([outer, n, inner, c_in], c_in 1:
// real, 2: complex) over `length` points (the line truncated or zero-padded), into y ([outer, n_out, inner,
// c_out]). Forward: n_out bins (length, or length/2+1 when onesided), c_out 2. Inverse: divided by length;
// onesided (c_out 1) takes the first length/2+1 bins as a Hermitian spectrum and gives the real signal.
template <typename T>
void dft(const T* x, T* y, int64_t outer, int64_t n, int64_t inner, int64_t c_in, int64_t length, int64_t n_out,
         bool inverse, bool onesided, double* scratch);

// STFT of x ([batch, signal_length, c_in]): frames of frame_length points every frame_step points, each
// multiplied by `window` (null: ones), transformed into y ([batch, frames, bins, 2], bins frame_length or
// frame_length/2+1 when onesided).
template <typename T>
void stft(const T* x, const T* window, T* y, int64_t batch, int64_t signal_length, int64_t c_in, int64_t frame_step,
          int64_t frame_length, int64_t frames, bool onesided, double* scratch);

// MelWeightMatrix: [dft_length/2+1, num_mel_bins] triangular filters between lower and upper (Hz, of type E).
template <typename T, typename E>
void mel_weight_matrix(T* y, int64_t num_mel_bins, int64_t dft_length, int64_t sample_rate, E lower, E upper);

}  // namespace exporter_rt

#endif
