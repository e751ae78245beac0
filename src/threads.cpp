#include "threads.hpp"

#include "gptrec/model.hpp"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace gptrec {

int max_threads() {
#ifdef _OPENMP
  // Inside an enclosing parallel region (even a one-thread team), the caller parallelizes.
  return omp_get_level() > 0 ? 1 : omp_get_max_threads();
#else
  return 1;
#endif
}

void set_op_threads(int n) {
#ifdef _OPENMP
  omp_set_num_threads(n > 0 ? n : omp_get_num_procs());
#else
  (void)n;
#endif
}

}  // namespace gptrec
