// exporter runtime: normalisation kernels over NCHW-style tensors viewed as [n, c, spatial]
// (LRN, InstanceNormalization, GroupNormalization, LpNormalization). Pure functions; no allocation.
#ifndef EXPORTER_NORM_H
#define EXPORTER_NORM_H

#include <cstdint>

namespace exporter_rt {

// ONNX LRN: y = x / (bias + alpha / size * sum of x^2 over channels [c - floor((size-1)/2),
// c + ceil((size-1)/2)] clipped to [0, C-1]) ^ beta.
template <typename T>
void lrn(const T* x, T* y, int64_t n, int64_t c, int64_t spatial, int64_t size, double alpha, double beta, double bias);

// Per (image, group): y = (x - mean) / sqrt(var + eps) * scale + bias over `c / groups` channels x `spatial`.
// scale/bias hold one value per channel, or per group when `per_group` (GroupNormalization before opset 21).
// InstanceNormalization is the case groups == c.
template <typename T>
void group_norm(const T* x, const T* scale, const T* bias, T* y, int64_t n, int64_t c, int64_t spatial,
                int64_t groups, bool per_group, double eps);

// ONNX LpNormalization (p = 1 or 2) along the middle axis of [outer, n, inner]: y = x / ||x||_p, and 0
// where the norm is 0 (as ONNX's reference does, instead of 0/0).
template <typename T>
void lp_norm(const T* x, T* y, int64_t outer, int64_t n, int64_t inner, int p);

}  // namespace exporter_rt

#endif  // EXPORTER_NORM_H
