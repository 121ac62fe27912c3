// exporter runtime: data movement (strided copies, Transpose, Pad, Tile): bytes, any dtype. See exporter_runtime.h for the contracts.
#include "exporter_runtime.h"

#include <algorithm>
#include <cstring>
#include <vector>

namespace exporter_rt {

// Elements of one inner run at a stride; a compile-time size makes each memcpy one load and one store.
template <size_t E> static void gather_run(const char* src, int64_t stride, int64_t n, char* dst) {
    for (int64_t i = 0; i < n; ++i) std::memcpy(dst + i * E, src + i * stride * int64_t(E), E);
}

void strided_copy(const void* in, void* out, size_t elem, int rank, const int64_t* shape_in, const int64_t* strides_in,
                  int64_t offset) {
    int64_t total = 1;
    for (int d = 0; d < rank; ++d) total *= shape_in[d];
    if (total == 0) return;
    const char* src = static_cast<const char*>(in);
    char* dst = static_cast<char*>(out);
    if (rank == 0) { std::memcpy(dst, src + offset * elem, elem); return; }
    // Merge each axis into the next one where the source walks them as one (a transpose that keeps the inner
    // axes in order, e.g. a channel shuffle, copies whole planes), and drop axes of size 1.
    int64_t shape[8], in_strides[8];
    int r = 0;
    for (int d = 0; d < rank; ++d) {
        if (shape_in[d] == 1) continue;
        if (r > 0 && in_strides[r - 1] == strides_in[d] * shape_in[d]) {
            shape[r - 1] *= shape_in[d];
            in_strides[r - 1] = strides_in[d];
        } else {
            shape[r] = shape_in[d];
            in_strides[r] = strides_in[d];
            ++r;
        }
    }
    if (r == 0) { shape[0] = 1; in_strides[0] = 1; r = 1; }
    int64_t index[8] = {0};
    const int64_t inner = shape[r - 1], inner_stride = in_strides[r - 1];
    for (int64_t done = 0; done < total; done += inner) {
        int64_t at = offset;
        for (int d = 0; d < r - 1; ++d) at += index[d] * in_strides[d];
        if (inner_stride == 1) {
            std::memcpy(dst, src + at * elem, inner * elem);
        } else {
            switch (elem) {
                case 1: gather_run<1>(src + at * elem, inner_stride, inner, dst); break;
                case 2: gather_run<2>(src + at * elem, inner_stride, inner, dst); break;
                case 4: gather_run<4>(src + at * elem, inner_stride, inner, dst); break;
                case 8: gather_run<8>(src + at * elem, inner_stride, inner, dst); break;
                default:
                    for (int64_t i = 0; i < inner; ++i) std::memcpy(dst + i * elem, src + (at + i * inner_stride) * elem, elem);
            }
        }
        dst += inner * elem;
        for (int d = r - 2; d >= 0; --d) {
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
    if (n <= 0) return -1;  // an empty axis has nothing to repeat: the pad value (and no i % 0)
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

#include "dtypes.inc"  // EXPORTER_ALL_NUMERIC, EXPORTER_FLOATS



}  // namespace exporter_rt
