// Small helpers of the benchmark programs (bench_speed.cpp, bench_recommend.cpp).
#pragma once

#include <chrono>
#include <cstring>

namespace gptrec::bench {

// The value after `name` on the command line, or `fallback`.
inline const char* arg(int argc, char** argv, const char* name, const char* fallback) {
  for (int i = 1; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], name) == 0) return argv[i + 1];
  return fallback;
}

// Seconds on the steady clock.
inline double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace gptrec::bench
