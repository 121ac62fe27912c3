// exporter runtime: the worker-thread count every parallel kernel uses (OpenMP when built with it).
#include "exporter_runtime.h"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace exporter_rt {

void set_num_threads(int threads) {
#ifdef _OPENMP
    omp_set_num_threads(threads > 0 ? threads : omp_get_num_procs());
#else
    (void)threads;
#endif
}

int num_threads() {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

}  // namespace exporter_rt
