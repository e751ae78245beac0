// gptrec side of bench/run_speed_bench.sh, and the machine's limits.
//
//   gptrec_bench_speed MODEL_DIR --task prefill128|prefill512|decode|score --threads N
//                      [--runs 5] [--warmup 1] [--batch-tokens N]
//   gptrec_bench_speed --task gemm|bandwidth --threads N [--runs 5]
//
// Prints one JSON line, like bench/speed_torch.py (the PyTorch side, same tasks, same token ids):
//   prefill128, prefill512  Session::append of a T-token prompt, logits of the last token;
//                           rate = T / seconds
//   decode                  a 32-token prompt, then 128 tokens one at a time (greedy) with the KV
//                           cache; rate = 128 / seconds of the 128 steps
//   score                   64 sequences x 64 tokens (sequence_logprobs, in passes of
//                           --batch-tokens tokens, default the library's), the log-probability
//                           of every next token (the head and log-softmax in chunks of the
//                           vocabulary, never a row's logits at once); rate = 4096 / seconds
//   gemm                    Eigen fp32 GEMM GFLOP/s (row-major, as gptrec calls it) at
//                           512x768x2304 and 1024^3
//   bandwidth               read bandwidth (GB/s, 10^9 bytes): a sum over a 2 GiB buffer, split
//                           over the threads (STREAM-like, read only), on 4 KiB and on 2 MiB
//                           pages; "gbs" is the better of the two
// Rates are per run after `warmup` runs; peak_rss_mb is getrusage's ru_maxrss of this process.
#include <sys/mman.h>
#include <sys/resource.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "bench_util.hpp"
#include "gptrec/model.hpp"
#include "gptrec/scoring.hpp"

#ifdef _OPENMP
#include <omp.h>
#endif

using namespace gptrec;
using gptrec::bench::arg;
using gptrec::bench::now;

namespace {

// The same ids as speed_torch.py: a linear congruential sequence.
std::vector<int> token_ids(int n, long long seed, int vocab) {
  std::vector<int> out;
  long long s = seed;
  for (int i = 0; i < n; ++i) {
    s = (s * 1103515245LL + 12345LL) % 2147483648LL;
    out.push_back(static_cast<int>(s % vocab));
  }
  return out;
}

double peak_rss_mb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;
}

int argmax(const float* row, Eigen::Index n) {
  return static_cast<int>(std::max_element(row, row + n) - row);
}

std::string json_list(const std::vector<double>& v) {
  std::string s = "[";
  for (std::size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + "]";
}

void print_rates(const std::string& task, int threads, std::vector<double> rates) {
  std::vector<double> sorted = rates;
  std::sort(sorted.begin(), sorted.end());
  const std::size_t n = sorted.size();
  const double median = n % 2 ? sorted[n / 2] : 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]);
  std::printf(
      "{\"side\": \"gptrec\", \"task\": \"%s\", \"threads\": %d, \"rates\": %s, \"median\": %f, "
      "\"min\": %f, \"max\": %f, \"peak_rss_mb\": %.1f}\n",
      task.c_str(), threads, json_list(rates).c_str(), median, sorted.front(), sorted.back(),
      peak_rss_mb());
}

double gemm_gflops(int m, int k, int n, int runs) {
  RowMatrix a = RowMatrix::Random(m, k), b = RowMatrix::Random(k, n), c(m, n);
  for (int i = 0; i < 3; ++i) c.noalias() = a * b;
  double best = 1e30;
  for (int r = 0; r < runs; ++r) {
    const double t0 = now();
    for (int i = 0; i < 10; ++i) c.noalias() = a * b;
    best = std::min(best, (now() - t0) / 10);
  }
  return 2.0 * m * k * n / best / 1e9;
}

// Best-of-runs read bandwidth of a sum over 2 GiB split over the threads; with `huge`, the buffer
// asks for 2 MiB pages (as gptrec's weights do) before it is first written.
double read_bandwidth_gbs(int threads, int runs, bool huge) {
  const std::size_t bytes = std::size_t{2} << 30, n = bytes / sizeof(float);
  float* buf = static_cast<float*>(std::aligned_alloc(std::size_t{2} << 20, bytes));
  if (buf == nullptr) std::abort();
#ifdef MADV_HUGEPAGE
  ::madvise(buf, bytes, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
#endif
#pragma omp parallel for num_threads(threads) schedule(static)
  for (std::size_t i = 0; i < n; ++i) buf[i] = static_cast<float>(i & 7);
  double best = 1e30, sink = 0;
  for (int r = 0; r < runs + 1; ++r) {
    double total = 0;
    const double t0 = now();
#pragma omp parallel num_threads(threads) reduction(+ : total)
    {
      int t = 0, nt = 1;
#ifdef _OPENMP
      t = omp_get_thread_num();
      nt = omp_get_num_threads();
#endif
      const std::size_t begin = n * t / nt, end = n * (t + 1) / nt;
      total +=
          Eigen::Map<const Eigen::VectorXf>(buf + begin, static_cast<Eigen::Index>(end - begin))
              .sum();
    }
    const double dt = now() - t0;
    if (r > 0) best = std::min(best, dt);  // the first pass warms the TLB
    sink += total;
  }
  std::free(buf);
  if (sink == -1) std::puts("");
  return static_cast<double>(bytes) / best / 1e9;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string task = arg(argc, argv, "--task", "");
  const int threads = std::atoi(arg(argc, argv, "--threads", "1"));
  const int runs = std::atoi(arg(argc, argv, "--runs", "5"));
  const int warmup = std::atoi(arg(argc, argv, "--warmup", "1"));
  // score: tokens per pass (0: the library's default, ScoringOptions::batch_tokens).
  const int batch_tokens = std::atoi(arg(argc, argv, "--batch-tokens", "0"));
  set_op_threads(threads);

  if (task == "gemm") {
    std::printf(
        "{\"side\": \"eigen\", \"task\": \"gemm\", \"threads\": %d, \"gflops\": "
        "{\"512x768x2304\": %f, \"1024x1024x1024\": %f}}\n",
        threads, gemm_gflops(512, 768, 2304, runs), gemm_gflops(1024, 1024, 1024, runs));
    return 0;
  }
  if (task == "bandwidth") {
    const double small = read_bandwidth_gbs(threads, runs, false);
    const double huge = read_bandwidth_gbs(threads, runs, true);
    std::printf(
        "{\"side\": \"gptrec\", \"task\": \"bandwidth\", \"threads\": %d, \"gbs\": %f, "
        "\"gbs_4k_pages\": %f, \"gbs_huge_pages\": %f}\n",
        threads, std::max(small, huge), small, huge);
    return 0;
  }
  if (argc < 2 || argv[1][0] == '-') {
    std::fprintf(stderr, "usage: gptrec_bench_speed MODEL_DIR --task TASK --threads N\n");
    return 2;
  }
  const Model model = Model::load(argv[1]);
  const int V = model.config().vocab_size;
  std::function<double()> run;
  // What the runs use, alive until the end of main.
  std::vector<int> ids;
  std::vector<std::vector<int>> seqs;
  std::unique_ptr<Session> session;

  if (task == "prefill128" || task == "prefill512") {
    const int T = std::atoi(task.c_str() + 7);
    ids = token_ids(T, 1, V);
    session = std::make_unique<Session>(model, T);
    run = [&, T] {
      session->clear();
      const double t0 = now();
      session->append(ids, Logits::kLast);
      return T / (now() - t0);
    };
  } else if (task == "decode") {
    ids = token_ids(32, 2, V);
    session = std::make_unique<Session>(model, 32 + 128);
    run = [&] {
      session->clear();
      ConstMatrixRef logits = session->append(ids, Logits::kLast);
      int next = argmax(logits.data(), V);
      const double t0 = now();
      for (int i = 0; i < 128; ++i) {
        ConstMatrixRef step = session->append(std::span<const int>(&next, 1), Logits::kLast);
        next = argmax(step.data(), V);
      }
      return 128 / (now() - t0);
    };
  } else if (task == "score") {
    ids = token_ids(64 * 64, 3, V);
    for (int s = 0; s < 64; ++s)
      seqs.emplace_back(ids.begin() + s * 64, ids.begin() + (s + 1) * 64);
    run = [&] {
      const double t0 = now();
      ScoringOptions options;
      if (batch_tokens > 0) options.batch_tokens = batch_tokens;
      const std::vector<std::vector<double>> logprobs = sequence_logprobs(model, seqs, options);
      double total = 0;
      for (const auto& s : logprobs)
        for (const double lp : s) total += lp;
      if (!std::isfinite(total)) std::abort();
      return 64.0 * 64.0 / (now() - t0);
    };
  } else {
    std::fprintf(stderr, "unknown task %s\n", task.c_str());
    return 2;
  }

  for (int i = 0; i < warmup; ++i) run();
  std::vector<double> rates;
  for (int i = 0; i < runs; ++i) rates.push_back(run());
  print_rates(task, threads, rates);
  return 0;
}
