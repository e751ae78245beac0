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

// The op threads of a forward pass, given the calling thread's op threads, the machine's cores
// and its 1-minute load average (negative: unknown). A pass is many short products, each a fork
// and join (~50 per decode step); when more threads are runnable than there are cores (the load
// average, our own spinning threads included, above cores + 0.5) each join waits for a thread the
// scheduler has parked behind other work, so then the pass runs on the calling thread alone. This
// holds for prompts as for decode steps (measured with other jobs running, docs/BENCHMARKS.md:
// 2-thread decode 3.8 tok/s against 43 on one thread; a GPT-2-shaped 128-token prefill 67 tok/s
// against 604). Splitting a product never changes its result, so this changes only the speed.
inline int pass_op_threads(int threads, int cores, double load_average) {
  const bool oversubscribed = load_average > cores + 0.5;
  return threads > 1 && oversubscribed ? 1 : threads;
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
