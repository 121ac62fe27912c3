// exporter runtime: reductions over [outer, n, inner] (Reduce*, ArgMax/ArgMin, CumSum). See exporter_runtime.h for the contracts.
#include "exporter_runtime.h"
#include "gemm_driver.h"  // SIMD traits

#include <algorithm>
#include <cmath>
#include <limits>

namespace exporter_rt {

template <typename T> static inline T reduce_init(Reduce kind) {
    switch (kind) {
        case Reduce::Max:
            if constexpr (std::numeric_limits<T>::has_infinity) return -std::numeric_limits<T>::infinity();
            else return std::numeric_limits<T>::lowest();
        case Reduce::Min:
            if constexpr (std::numeric_limits<T>::has_infinity) return std::numeric_limits<T>::infinity();
            else return std::numeric_limits<T>::max();
        case Reduce::Prod: return T(1);
        default: return T(0);
    }
}

template <typename T> static inline T reduce_step(Reduce kind, T acc, T v) {
    if constexpr (std::is_same_v<T, bool>) {
        return kind == Reduce::Max ? (acc || v) : (acc && v);  // bool: Max and Min only
    } else if constexpr (std::is_class_v<T>) {
        return T(float(acc) + float(v));  // bfloat16: Sum only
    } else {
        switch (kind) {
            case Reduce::Max: return maximum(acc, v);
            case Reduce::Min: return minimum(acc, v);
            case Reduce::Prod: return acc * v;
            case Reduce::SumSquare: case Reduce::L2: return acc + v * v;
            case Reduce::L1: return acc + (v < T(0) ? T(0) - v : v);
            default: return acc + v;
        }
    }
}

template <typename T> static inline T reduce_finish(Reduce kind, T acc, int64_t n) {
    if constexpr (std::is_class_v<T>) {
        return acc;  // bfloat16: Sum only
    } else {
        if (kind == Reduce::Mean) return n ? acc / T(n) : acc;
        if constexpr (std::is_floating_point_v<T>) {
            if (kind == Reduce::L2) return std::sqrt(acc);
        } else {
            if (kind == Reduce::L2) return T(std::sqrt(double(acc)));
        }
        return acc;
    }
}

template <typename T>
void reduce(Reduce kind, const T* x, T* y, int64_t outer, int64_t n, int64_t inner) {
    if (kind == Reduce::LogSumExp) {
        for (int64_t o = 0; o < outer; ++o)
            for (int64_t i = 0; i < inner; ++i) {
                const T* p = x + o * n * inner + i;
                T m = reduce_init<T>(Reduce::Max);
                for (int64_t k = 0; k < n; ++k) m = maximum(m, p[k * inner]);
                double s = 0;
                for (int64_t k = 0; k < n; ++k) s += std::exp(double(p[k * inner] - m));
                y[o * inner + i] = T(double(m) + std::log(s));
            }
        return;
    }
    const bool parallel = outer * n * inner >= kParallelWork && outer > 1;
    if constexpr (std::is_same_v<T, bfloat16>) {  // Sum only: in order, each addition rounded to bfloat16
        (void)parallel;
        for (int64_t o = 0; o < outer; ++o)
            for (int64_t i = 0; i < inner; ++i) {
                T acc = T(0.0f);
                for (int64_t k = 0; k < n; ++k) acc = T(float(acc) + float(x[(o * n + k) * inner + i]));
                y[o * inner + i] = acc;
            }
        return;
    }
    if constexpr (std::is_floating_point_v<T>) {
        if (inner == 1 && (kind == Reduce::Sum || kind == Reduce::Mean)) {
            parallel_for(outer, parallel, [&](int64_t o_begin, int64_t o_end) {
                for (int64_t o = o_begin; o < o_end; ++o) y[o] = reduce_finish(kind, detail::vector_sum(x + o * n, n), n);
            });
            return;
        }
    }
    if (inner == 1) {
        parallel_for(outer, parallel, [&](int64_t o_begin, int64_t o_end) {
            for (int64_t o = o_begin; o < o_end; ++o) {
                const T* p = x + o * n;
                // eight independent accumulators let the compiler vectorize without reassociating
                constexpr int L = 8;
                T acc[L];
                for (int l = 0; l < L; ++l) acc[l] = reduce_init<T>(kind);
                int64_t k = 0;
                for (; k + L <= n; k += L)
                    for (int l = 0; l < L; ++l) acc[l] = reduce_step(kind, acc[l], p[k + l]);
                T total = reduce_init<T>(kind);
                for (int l = 0; l < L; ++l) {
                    if (kind == Reduce::Max || kind == Reduce::Min || kind == Reduce::Prod) total = reduce_step(kind, total, acc[l]);
                    else total = total + acc[l];
                }
                for (; k < n; ++k) total = reduce_step(kind, total, p[k]);
                y[o] = reduce_finish(kind, total, n);
            }
        });
        return;
    }
    parallel_for(outer, parallel, [&](int64_t o_begin, int64_t o_end) {
        for (int64_t o = o_begin; o < o_end; ++o) {
            T* out = y + o * inner;
            for (int64_t i = 0; i < inner; ++i) out[i] = reduce_init<T>(kind);
            for (int64_t k = 0; k < n; ++k) {
                const T* p = x + (o * n + k) * inner;
                for (int64_t i = 0; i < inner; ++i) out[i] = reduce_step(kind, out[i], p[i]);
            }
            for (int64_t i = 0; i < inner; ++i) out[i] = reduce_finish(kind, out[i], n);
        }
    });
}

template <typename T>
void reduce_axes(Reduce kind, const T* x, T* y, T* scratch, int rank, const int64_t* shape, int n_axes,
                 const int64_t* axes) {
    bool reduced[8] = {};
    for (int i = 0; i < n_axes; ++i) {
        const int64_t a = axes[i] < 0 ? axes[i] + rank : axes[i];
        if (a >= 0 && a < rank && rank <= 8) reduced[a] = true;
    }
    int first = rank, last = -1, count = 0;
    for (int d = 0; d < rank; ++d)
        if (reduced[d]) { first = d < first ? d : first; last = d; ++count; }
    if (count == 0) {  // no axis to reduce (not reachable through the checks): y is x
        int64_t numel = 1;
        for (int d = 0; d < rank; ++d) numel *= shape[d];
        for (int64_t i = 0; i < numel; ++i) y[i] = x[i];
        return;
    }
    int64_t outer = 1, n = 1, inner = 1;
    if (last - first + 1 == count) {  // one block: [outer, n, inner] over x as it is
        for (int d = 0; d < rank; ++d) (d < first ? outer : d > last ? inner : n) *= shape[d];
        reduce(kind, x, y, outer, n, inner);
        return;
    }
    int64_t perm[8];
    int k = 0;
    for (int d = 0; d < rank; ++d)
        if (!reduced[d]) { perm[k++] = d; outer *= shape[d]; }
    for (int d = 0; d < rank; ++d)
        if (reduced[d]) { perm[k++] = d; n *= shape[d]; }
    transpose(x, scratch, sizeof(T), rank, shape, perm);
    reduce(kind, static_cast<const T*>(scratch), y, outer, n, int64_t(1));
}

template <typename T>
void arg_reduce(bool is_max, bool select_last, const T* x, int64_t* y, int64_t outer, int64_t n, int64_t inner) {
    for (int64_t o = 0; o < outer; ++o)
        for (int64_t i = 0; i < inner; ++i) {
            const T* p = x + o * n * inner + i;
            int64_t best = 0;
            T value = p[0];
            for (int64_t k = 1; k < n; ++k) {
                const T v = p[k * inner];
                if constexpr (std::is_floating_point_v<T>) {
                    if (value != value) break;  // NumPy: the first NaN wins
                    if (v != v) { best = k; value = v; break; }
                }
                const bool better = is_max ? (select_last ? v >= value : v > value)
                                           : (select_last ? v <= value : v < value);
                if (better) { best = k; value = v; }
            }
            y[o * inner + i] = best;
        }
}

template <typename T>
void cumulative(bool product, const T* x, T* y, int64_t outer, int64_t n, int64_t inner, bool exclusive,
                bool reverse) {
    for (int64_t o = 0; o < outer; ++o)
        for (int64_t i = 0; i < inner; ++i) {
            T acc = product ? T(1) : T(0);
            for (int64_t s = 0; s < n; ++s) {
                const int64_t k = reverse ? n - 1 - s : s;
                const int64_t at = (o * n + k) * inner + i;
                const T v = x[at];
                if (exclusive) y[at] = acc;
                acc = product ? T(acc * v) : T(acc + v);
                if (!exclusive) y[at] = acc;
            }
        }
}

#include "dtypes.inc"  // EXPORTER_ALL_NUMERIC, EXPORTER_FLOATS

#define EXPORTER_REDUCE_NUMERIC(T) \
    template void reduce<T>(Reduce, const T*, T*, int64_t, int64_t, int64_t); \
    template void reduce_axes<T>(Reduce, const T*, T*, T*, int, const int64_t*, int, const int64_t*); \
    template void arg_reduce<T>(bool, bool, const T*, int64_t*, int64_t, int64_t, int64_t); \
    template void cumulative<T>(bool, const T*, T*, int64_t, int64_t, int64_t, bool, bool);
EXPORTER_ALL_NUMERIC(EXPORTER_REDUCE_NUMERIC)
#undef EXPORTER_REDUCE_NUMERIC
// bool: ReduceMax (any; false over nothing) and ReduceMin (all; true over nothing) only (ops/reduce.py)
template void reduce<bool>(Reduce, const bool*, bool*, int64_t, int64_t, int64_t);
template void reduce_axes<bool>(Reduce, const bool*, bool*, bool*, int, const int64_t*, int, const int64_t*);
// bfloat16: ReduceSum only (ops/__init__.py: BF16_WIDENED_KERNELS)
template void reduce<bfloat16>(Reduce, const bfloat16*, bfloat16*, int64_t, int64_t, int64_t);
template void reduce_axes<bfloat16>(Reduce, const bfloat16*, bfloat16*, bfloat16*, int, const int64_t*, int,
                                    const int64_t*);

}  // namespace exporter_rt
