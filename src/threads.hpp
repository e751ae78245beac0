// How many OpenMP threads the calling thread's ops may use (private; set_op_threads, model.hpp,
// is the public setting).
#pragma once

#include <Eigen/Core>
#include <algorithm>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace gptrec {

// The calling thread's set_op_threads / OpenMP setting, or 1 inside an enclosing parallel region
// (then the caller parallelizes); 1 in a build without OpenMP.
int max_threads();

// The op threads of a forward pass over `rows` rows, given the calling thread's op threads, the
// machine's cores and its 1-minute load average (negative: unknown). A decode step (one row) is
// ~50 short products, each a fork and join; when more threads are runnable than there are cores
// (the load average, our own spinning threads included, above cores + 0.5) each join waits for a
// thread the scheduler has parked behind other work (measured with other jobs running: 2-thread
// decode fell to 3.8 tok/s against 43 on one thread), so then a one-row pass runs on the calling
// thread alone. Splitting a product never changes its result, so this changes only the speed.
inline int decode_threads(Eigen::Index rows, int threads, int cores, double load_average) {
  const bool oversubscribed = load_average > cores + 0.5;
  return rows == 1 && threads > 1 && oversubscribed ? 1 : threads;
}

// Calls part(begin, end) on `threads` contiguous ranges of [0, n), one per OpenMP thread (on the
// calling thread alone when threads <= 1 or n <= 1).
template <typename Part>
void split_range(Eigen::Index n, int threads, const Part& part) {
#ifdef _OPENMP
  threads = static_cast<int>(std::min<Eigen::Index>(threads, n));
  if (threads > 1) {
#pragma omp parallel num_threads(threads)
    {
      const Eigen::Index t = omp_get_thread_num(), nt = omp_get_num_threads();
      const Eigen::Index begin = n * t / nt, end = n * (t + 1) / nt;
      if (end > begin) part(begin, end);
    }
    return;
  }
#else
  (void)threads;
#endif
  part(0, n);
}

}  // namespace gptrec
