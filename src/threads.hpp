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

// The threads worth forking for a product of `macs` multiply-adds: at most `threads`, and at
// least kMinMacsPerThread multiply-adds each (a fork and join costs about as much as 10^5 of them;
// on one core a 16-row product of an item model's 256 x 256 matrix runs in a few microseconds).
inline constexpr double kMinMacsPerThread = 1 << 17;
inline int product_threads(int threads, double macs) {
  const double most = macs / kMinMacsPerThread;
  return most < threads ? std::max(1, static_cast<int>(most)) : threads;
}

// For its lifetime, the calling thread's OpenMP thread count is 1 (restored after), so Eigen's
// matrix products, which fork on that count when called outside a parallel region, run on the
// calling thread. Our products split their work themselves (split_range, an explicit count):
// Eigen's own parallel GEMM makes its threads wait for each other by spinning, and on this kind of
// machine (2 virtual cores) a 2-thread pass of the 3.6k-item model ran 4x slower than one thread
// (512-token prompt: 12.7-27.7k tokens/s against 42k; docs/BENCHMARKS.md). Cheap (two reads and
// writes of a thread-local setting), so every public product opens one.
class SerialEigenScope {
 public:
  SerialEigenScope() {
#ifdef _OPENMP
    const int current = omp_get_max_threads();
    if (current != 1) {
      omp_set_num_threads(1);
      restore_ = current;
    }
#endif
  }
  ~SerialEigenScope() {
#ifdef _OPENMP
    if (restore_ > 0) omp_set_num_threads(restore_);
#endif
  }
  SerialEigenScope(const SerialEigenScope&) = delete;
  SerialEigenScope& operator=(const SerialEigenScope&) = delete;

 private:
  int restore_ = 0;
};

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
