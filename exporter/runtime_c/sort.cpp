#include "sort.h"

#include <algorithm>
#include <cmath>
#include <type_traits>

namespace exporter_rt {

namespace {

// a < b in NumPy's sort order: NaN after everything (so descending order puts it first)
template <typename T>
inline bool before(T a, T b) {
    if constexpr (std::is_floating_point_v<T>) {
        if (std::isnan(a)) return false;
        if (std::isnan(b)) return true;
    }
    return a < b;
}

}  // namespace

template <typename T>
void topk(const T* in, T* values, int64_t* indices, int64_t outer, int64_t n, int64_t inner, int64_t k, bool largest,
          int64_t* scratch) {
    for (int64_t o = 0; o < outer; ++o) {
        for (int64_t i = 0; i < inner; ++i) {
            const T* line = in + o * n * inner + i;
            for (int64_t j = 0; j < n; ++j) scratch[j] = j;
            // ties broken by index, so the order is total and partial_sort gives the stable order
            auto order = [&](int64_t a, int64_t b) {
                const T va = line[a * inner], vb = line[b * inner];
                if (largest ? before(vb, va) : before(va, vb)) return true;
                if (largest ? before(va, vb) : before(vb, va)) return false;
                return a < b;
            };
            std::partial_sort(scratch, scratch + k, scratch + n, order);
            const int64_t base = o * k * inner + i;
            for (int64_t j = 0; j < k; ++j) {
                if (values) values[base + j * inner] = line[scratch[j] * inner];
                if (indices) indices[base + j * inner] = scratch[j];
            }
        }
    }
}

#include "dtypes.inc"  // EXPORTER_ALL_NUMERIC

#define EXPORTER_TOPK_INSTANTIATE(T) \
    template void topk<T>(const T*, T*, int64_t*, int64_t, int64_t, int64_t, int64_t, bool, int64_t*);
EXPORTER_ALL_NUMERIC(EXPORTER_TOPK_INSTANTIATE)
// the narrow and unsigned integers (ops/sort.py: SMALL_INTS)
EXPORTER_TOPK_INSTANTIATE(int8_t) EXPORTER_TOPK_INSTANTIATE(uint8_t) EXPORTER_TOPK_INSTANTIATE(int16_t)
EXPORTER_TOPK_INSTANTIATE(uint16_t) EXPORTER_TOPK_INSTANTIATE(uint32_t) EXPORTER_TOPK_INSTANTIATE(uint64_t)
#undef EXPORTER_TOPK_INSTANTIATE

}  // namespace exporter_rt
