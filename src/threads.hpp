// How many OpenMP threads the calling thread's ops may use (private; set_op_threads, model.hpp,
// is the public setting).
#pragma once

namespace gptrec {

// The calling thread's set_op_threads / OpenMP setting, or 1 inside an enclosing parallel region
// (then the caller parallelizes); 1 in a build without OpenMP.
int max_threads();

}  // namespace gptrec
