// exporter runtime: index-driven writes (ScatterElements, ScatterND), header-only because they are
// templates on both the element and the index type. Bounds-checked: they return false on an index out
// of range (the generated step then fails with the node's name) and never write out of bounds.
#ifndef EXPORTER_INDEXING_H
#define EXPORTER_INDEXING_H

#include <algorithm>
#include <cstdint>
#include <cstring>

namespace exporter_rt {

enum class ScatterReduce { None, Add, Mul, Max, Min };

template <typename T> inline void scatter_apply(T& dst, T v, ScatterReduce r) {
    switch (r) {
    case ScatterReduce::None: dst = v; break;
    case ScatterReduce::Add: dst = T(dst + v); break;
    case ScatterReduce::Mul: dst = T(dst * v); break;
    case ScatterReduce::Max: dst = std::max(dst, v); break;
    case ScatterReduce::Min: dst = std::min(dst, v); break;
    }
}

// out = data, then out[i with axis replaced by indices[i]] (op)= updates[i] over the indices' shape.
template <typename T, typename I>
bool scatter_elements(const T* data, const I* indices, const T* updates, T* out, int rank, const int64_t* data_shape,
                      const int64_t* index_shape, int axis, ScatterReduce reduce) {
    int64_t strides[8], size = 1, total = 1;
    for (int d = rank - 1; d >= 0; --d) { strides[d] = size; size *= data_shape[d]; }
    for (int d = 0; d < rank; ++d) total *= index_shape[d];
    if (out != data) std::memcpy(out, data, size_t(size) * sizeof(T));
    int64_t index[8] = {0};
    for (int64_t e = 0; e < total; ++e) {
        int64_t k = int64_t(indices[e]);
        if (k < 0) k += data_shape[axis];
        if (k < 0 || k >= data_shape[axis]) return false;
        int64_t at = 0;
        for (int d = 0; d < rank; ++d) at += (d == axis ? k : index[d]) * strides[d];
        scatter_apply(out[at], updates[e], reduce);
        for (int d = rank - 1; d >= 0; --d) {
            if (++index[d] < index_shape[d]) break;
            index[d] = 0;
        }
    }
    return true;
}

// out = data, then for each of `count` index rows of length k: the slice data[row] (op)= the next
// `block` updates (block = product of data_shape[k:]).
template <typename T, typename I>
bool scatter_nd(const T* data, const I* indices, const T* updates, T* out, int rank, const int64_t* data_shape,
                int64_t count, int k, ScatterReduce reduce) {
    int64_t strides[8] = {0}, size = 1;
    for (int d = rank - 1; d >= 0; --d) { strides[d] = size; size *= data_shape[d]; }
    const int64_t block = k < rank ? strides[k - 1] : 1;
    if (out != data) std::memcpy(out, data, size_t(size) * sizeof(T));
    for (int64_t c = 0; c < count; ++c) {
        int64_t at = 0;
        for (int d = 0; d < k; ++d) {
            int64_t v = int64_t(indices[c * k + d]);
            if (v < 0) v += data_shape[d];
            if (v < 0 || v >= data_shape[d]) return false;
            at += v * strides[d];
        }
        for (int64_t j = 0; j < block; ++j) scatter_apply(out[at + j], updates[c * block + j], reduce);
    }
    return true;
}

}  // namespace exporter_rt

#endif  // EXPORTER_INDEXING_H
