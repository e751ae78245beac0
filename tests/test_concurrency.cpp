// One Recommender shared by many threads (DESIGN.md "Threading and memory"): 8 threads x 500
// queries, each result compared with the one computed sequentially, with the same op-thread
// setting, for the same query. Built as its own executable so that a ThreadSanitizer tree can build
// just this test (README "Using gptrec as a library").
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "gptrec/error.hpp"
#include "gptrec/history.hpp"
#include "gptrec/model.hpp"
#include "gptrec/recommender.hpp"

using namespace gptrec;

namespace {

constexpr int kThreads = 8;
constexpr int kQueriesPerThread = 500;

struct Query {
  const History* history = nullptr;
  RecommendOptions options;
};

// Real customers (examples/online-retail-sample.jsonl), plus one without purchases (the
// popularity fallback).
std::vector<History> load_histories() {
  const std::string path = GPTREC_EXAMPLES_DIR "/online-retail-sample.jsonl";
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::vector<History> out;
  std::string line;
  for (int n = 1; std::getline(in, line); ++n)
    if (!line.empty()) out.push_back(parse_history(line, path + ":" + std::to_string(n)));
  out.push_back(History{"no-purchases", {}, {}, std::nullopt});
  return out;
}

// Query i: history i mod H with options varied by i; every 3rd explains (like --explain), a few
// filter on a category or ask for top 0 (an error, which must also be the same every time).
std::vector<Query> make_queries(const std::vector<History>& histories, std::size_t count) {
  static const int kTop[] = {1, 5, 10, 40};
  std::vector<Query> queries(count);
  for (std::size_t i = 0; i < count; ++i) {
    Query& q = queries[i];
    q.history = &histories[(i * 7) % histories.size()];
    q.options.top_n = i % 53 == 52 ? 0 : kTop[i % 4];
    q.options.exclude_purchased = (i / 4) % 2 == 1;
    q.options.explain = i % 3 == 0;
    q.options.explain_reasons = 1 + static_cast<int>(i % 5);
    q.options.explain_min_effect = i % 2 == 0 ? kDefaultExplainMinEffect : 0;
    if (i % 11 == 10) q.options.category = "home";
  }
  return queries;
}

// Every field of the result, scores in hexadecimal floating point so that equal means bit-equal.
std::string describe(const Recommendations& r) {
  std::string s = "customer " + r.customer_id + " score " + std::string(to_string(r.score_kind)) +
                  " fallback " + r.fallback_reason.value_or("-") + " used " +
                  std::to_string(r.history_items_used) + " dropped " +
                  std::to_string(r.dropped_baskets) + " unknown";
  for (const std::string& u : r.unknown_items) s += " " + u;
  char number[64];
  for (const Suggestion& sug : r.suggestions) {
    std::snprintf(number, sizeof number, "%a", sug.score);
    s += "\n" + std::to_string(sug.rank) + " " + sug.item->id + " " + number +
         (sug.purchased_before ? " again" : " new");
    for (const Reason& why : sug.because) {
      std::snprintf(number, sizeof number, "%a", why.effect);
      s += " [" + why.item_id + " " + why.name + " " + number + "]";
    }
  }
  return s;
}

std::string run_query(const Recommender& rec, const Query& q) {
  try {
    return describe(rec.recommend(*q.history, q.options));
  } catch (const Error& e) {
    return "error " + std::to_string(static_cast<int>(e.code())) + ": " + e.what();
  }
}

class Concurrency : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    rec_ = new Recommender(Recommender::load(GPTREC_TEST_DATA "/models/tiny-items"));
    histories_ = new std::vector<History>(load_histories());
    queries_ = new std::vector<Query>(make_queries(*histories_, kThreads * kQueriesPerThread));
  }
  static void TearDownTestSuite() {
    delete expected_single_;
    delete expected_default_;
    expected_single_ = expected_default_ = nullptr;
    delete queries_;
    delete histories_;
    delete rec_;
  }

  // The sequential results with the given op-thread setting, computed on first use (ctest runs
  // each test in its own process: each computes only the one it needs).
  static const std::vector<std::string>& expected(bool single_op_thread) {
    std::vector<std::string>*& cached = single_op_thread ? expected_single_ : expected_default_;
    if (cached == nullptr)
      cached = new std::vector<std::string>(run_sequentially(single_op_thread));
    return *cached;
  }

  // Every query in order on one new thread (a fresh thread starts with the default op threads).
  // A matrix product may split its work differently with another number of op threads, so each
  // concurrent run is compared with the sequential run of its own setting.
  static std::vector<std::string> run_sequentially(bool single_op_thread) {
    std::vector<std::string> results;
    std::thread worker([&results, single_op_thread] {
      if (single_op_thread) set_op_threads(1);
      for (const Query& q : *queries_) results.push_back(run_query(*rec_, q));
    });
    worker.join();
    return results;
  }

  // Runs every query on kThreads threads sharing one Recommender. Thread t takes queries t,
  // t + kThreads, ...; odd threads walk their share backwards, so threads run different histories
  // and options at the same moment. Returns the results by query index.
  static std::vector<std::string> run_concurrently(bool single_op_thread) {
    std::vector<std::string> results(queries_->size());
    std::vector<std::thread> workers;
    for (int t = 0; t < kThreads; ++t) {
      workers.emplace_back([&results, t, single_op_thread] {
        if (single_op_thread) set_op_threads(1);  // a query service parallel across queries
        std::vector<std::size_t> mine;
        for (std::size_t i = static_cast<std::size_t>(t); i < queries_->size(); i += kThreads)
          mine.push_back(i);
        if (t % 2 == 1) std::reverse(mine.begin(), mine.end());
        for (const std::size_t i : mine) results[i] = run_query(*rec_, (*queries_)[i]);
      });
    }
    for (std::thread& w : workers) w.join();
    return results;
  }

  static void expect_equal(const std::vector<std::string>& results,
                           const std::vector<std::string>& expected) {
    ASSERT_EQ(results.size(), expected.size());
    int mismatches = 0;
    for (std::size_t i = 0; i < results.size(); ++i) {
      if (results[i] == expected[i]) continue;
      if (++mismatches <= 3)
        ADD_FAILURE() << "query " << i << " differs from its sequential result\nsequential:\n"
                      << expected[i] << "\nconcurrent:\n"
                      << results[i];
    }
    EXPECT_EQ(mismatches, 0) << "of " << results.size() << " queries";
  }

  static Recommender* rec_;
  static std::vector<History>* histories_;
  static std::vector<Query>* queries_;
  static std::vector<std::string>* expected_default_;  // sequential, default op threads
  static std::vector<std::string>* expected_single_;   // sequential, set_op_threads(1)
};

Recommender* Concurrency::rec_ = nullptr;
std::vector<History>* Concurrency::histories_ = nullptr;
std::vector<Query>* Concurrency::queries_ = nullptr;
std::vector<std::string>* Concurrency::expected_default_ = nullptr;
std::vector<std::string>* Concurrency::expected_single_ = nullptr;

// The queries exercise what they should: suggestions, explanations, the fallback, errors.
TEST_F(Concurrency, QueriesCoverEveryPath) {
  int with_reasons = 0, fallbacks = 0, errors = 0, empty = 0;
  for (const std::string& e : expected(/*single_op_thread=*/true)) {
    with_reasons += e.find(" [") != std::string::npos;
    fallbacks += e.find("score popularity") != std::string::npos;
    errors += e.starts_with("error ");
    empty += !e.starts_with("error ") && e.find('\n') == std::string::npos;
  }
  EXPECT_GT(with_reasons, 500);
  EXPECT_GT(fallbacks, 0);
  EXPECT_GT(errors, 0);
  EXPECT_GT(empty, 0);  // the category filter leaves nothing (tiny-items has no categories)
  EXPECT_EQ(histories_->size(), 301u);
}

// Ops may use OpenMP inside each query (the library's default).
TEST_F(Concurrency, ThreadsWithDefaultOpThreadsMatchSequential) {
  expect_equal(run_concurrently(/*single_op_thread=*/false), expected(false));
}

// Each worker keeps its ops single-threaded (set_op_threads(1)), as a query service should.
TEST_F(Concurrency, ThreadsWithSingleOpThreadMatchSequential) {
  expect_equal(run_concurrently(/*single_op_thread=*/true), expected(true));
}

}  // namespace
