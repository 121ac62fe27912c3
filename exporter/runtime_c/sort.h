// Sorting kernels (sort.cpp): TopK, which NumPy's sort and argsort lower to.
#ifndef EXPORTER_SORT_H
#define EXPORTER_SORT_H

#include <cstdint>

namespace exporter_rt {

// For each of the outer*inner lines of n elements (stride `inner`) of `in`: the k largest (or smallest)
// in order, largest first (smallest first), into values/indices ([outer, k, inner]; either may be null).
// Equal values keep their index order; NaN counts as larger than every number, as in NumPy's sort.
// `scratch` holds n indices.
template <typename T>
void topk(const T* in, T* values, int64_t* indices, int64_t outer, int64_t n, int64_t inner, int64_t k, bool largest,
          int64_t* scratch);

}  // namespace exporter_rt

#endif
