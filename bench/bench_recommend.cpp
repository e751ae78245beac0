// Warm library latency for bench/run_main_bench.sh: one customer at a time through
// Recommender::recommend, in a process that has loaded the model and parsed the histories.
//
//   gptrec_bench_recommend MODEL_DIR HISTORIES.jsonl --threads N [--limit K] [--top 10]
//
// Each history (one JSON per line, uncompressed) is parsed first; then each customer's
// recommend() call is timed alone (its forward pass on N op threads), after one untimed pass over
// all customers (the warm-up). Prints one JSON line {"side": "gptrec", "threads", "customers",
// "median_ms", "p90_ms", "mean_ms"}.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <numeric>
#include <string>
#include <vector>

#include "bench_util.hpp"
#include "gptrec/history.hpp"
#include "gptrec/model.hpp"
#include "gptrec/recommender.hpp"

using namespace gptrec;
using gptrec::bench::arg;
using gptrec::bench::now;

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s MODEL_DIR HISTORIES.jsonl --threads N [--limit K]\n", argv[0]);
    return 2;
  }
  const int threads = std::atoi(arg(argc, argv, "--threads", "1"));
  const long limit = std::atol(arg(argc, argv, "--limit", "0"));
  RecommendOptions options;
  options.top_n = std::atoi(arg(argc, argv, "--top", "10"));
  set_op_threads(threads);
  const Recommender rec = Recommender::load(argv[1]);
  std::ifstream in(argv[2]);
  std::vector<History> histories;
  std::string line;
  while (std::getline(in, line) && (limit == 0 || static_cast<long>(histories.size()) < limit))
    if (!line.empty()) histories.push_back(parse_history(line, argv[2]));
  std::size_t sink = 0;
  for (const History& h : histories) sink += rec.recommend(h, options).suggestions.size();
  std::vector<double> ms;
  ms.reserve(histories.size());
  for (const History& h : histories) {
    const double t0 = now();
    const Recommendations r = rec.recommend(h, options);
    ms.push_back(1e3 * (now() - t0));
    sink += r.suggestions.size();
  }
  const double mean = std::accumulate(ms.begin(), ms.end(), 0.0) / static_cast<double>(ms.size());
  std::sort(ms.begin(), ms.end());
  std::printf(
      "{\"side\": \"gptrec\", \"threads\": %d, \"customers\": %zu, \"median_ms\": %.4f, "
      "\"p90_ms\": %.4f, \"mean_ms\": %.4f, \"suggestions\": %zu}\n",
      threads, ms.size(), ms[ms.size() / 2], ms[(ms.size() - 1) * 9 / 10], mean, sink);
  return 0;
}
