// The evaluation's metrics and baselines on cases small enough to work out by hand.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "gptrec/error.hpp"
#include "gptrec/evaluation.hpp"

using namespace gptrec;

namespace {

// The discount of rank r (0 = first): 1 / log2(r + 2).
double discount(int r) { return 1.0 / std::log2(r + 2.0); }

}  // namespace

TEST(RankingMetrics, HandComputedValues) {
  // Items 0..9; the targets are 1, 2 and 9; the ranking starts 5, 2, 7, 1.
  std::vector<bool> in_target(10, false);
  in_target[1] = in_target[2] = in_target[9] = true;
  const std::vector<int> top = {5, 2, 7, 1};

  // K = 3: one hit (item 2, second). DCG = 1/log2(3); IDCG = 1 + 1/log2(3) + 1/2.
  RankingMetrics m = ranking_metrics(top, in_target, 3, 3);
  EXPECT_DOUBLE_EQ(m.hit, 1.0);
  EXPECT_DOUBLE_EQ(m.recall, 1.0 / 3.0);
  EXPECT_NEAR(m.ndcg, 0.2960819109658652, 1e-15);

  // K = 4: two hits (second and fourth). DCG = 1/log2(3) + 1/log2(5).
  m = ranking_metrics(top, in_target, 3, 4);
  EXPECT_DOUBLE_EQ(m.hit, 1.0);
  EXPECT_DOUBLE_EQ(m.recall, 2.0 / 3.0);
  EXPECT_NEAR(m.ndcg, 0.49818925746641285, 1e-15);

  // K = 10 with a 4-item list: the same hits; the ideal list still has the 3 targets first.
  m = ranking_metrics(top, in_target, 3, 10);
  EXPECT_DOUBLE_EQ(m.recall, 2.0 / 3.0);
  EXPECT_NEAR(m.ndcg, 0.49818925746641285, 1e-15);

  // K = 1: the first item misses.
  m = ranking_metrics(top, in_target, 3, 1);
  EXPECT_EQ(m.hit, 0.0);
  EXPECT_EQ(m.recall, 0.0);
  EXPECT_EQ(m.ndcg, 0.0);

  // A single target ranked first: every metric is 1.
  std::vector<bool> only_5(10, false);
  only_5[5] = true;
  m = ranking_metrics(top, only_5, 1, 10);
  EXPECT_DOUBLE_EQ(m.hit, 1.0);
  EXPECT_DOUBLE_EQ(m.recall, 1.0);
  EXPECT_DOUBLE_EQ(m.ndcg, 1.0);

  // Targets outside the ranked universe count in the recall's denominator: 1 of 2 found.
  m = ranking_metrics(top, only_5, 2, 10);
  EXPECT_DOUBLE_EQ(m.recall, 0.5);
  EXPECT_NEAR(m.ndcg, 1.0 / (1.0 + discount(1)), 1e-15);

  // No target: nothing to find, every metric 0.
  m = ranking_metrics(top, in_target, 0, 10);
  EXPECT_EQ(m.hit + m.recall + m.ndcg, 0.0);
}

TEST(RankingMetrics, OneTargetAtARank) {
  RankingMetrics m = metrics_at_rank(0, 10);
  EXPECT_DOUBLE_EQ(m.hit, 1.0);
  EXPECT_DOUBLE_EQ(m.recall, 1.0);
  EXPECT_DOUBLE_EQ(m.ndcg, 1.0);
  m = metrics_at_rank(3, 10);
  EXPECT_DOUBLE_EQ(m.hit, 1.0);
  EXPECT_NEAR(m.ndcg, 0.43067655807339306, 1e-15);  // 1 / log2(5)
  m = metrics_at_rank(10, 10);
  EXPECT_EQ(m.hit + m.recall + m.ndcg, 0.0);
}

// Three customers: A buys {x, y} then {x}; B buys {y}, {z}, then {y, w}; C has one basket and is
// neither evaluated nor training data. Training popularity: y 2, x 1, z 1, so popularity ranks
// y, x, z (ties: smaller id first).
TEST(LastBasket, BaselinesByHand) {
  const std::vector<CustomerBaskets> customers = {
      {"A", {{"x", "y"}, {"x"}}},
      {"B", {{"y"}, {"z"}, {"y", "w"}}},
      {"C", {{"z"}}},
  };
  const LastBasketReport r = evaluate_last_basket(customers, 2, nullptr, nullptr, "");
  EXPECT_EQ(r.customers, 3);
  EXPECT_EQ(r.evaluated_next, 2);
  EXPECT_EQ(r.evaluated_discovery, 1);  // B's w is new; A's x is not
  EXPECT_EQ(r.universe, 3);             // w is in no training basket
  ASSERT_EQ(r.methods.size(), 7u);

  // Popularity, top 2 = y, x. A: x second, NDCG = 1/log2(3). B: y first of targets {y, w}:
  // recall 1/2, NDCG = 1 / (1 + 1/log2(3)). Discovery (B only, y and z excluded): x, a miss.
  const MethodResult& pop = r.methods[0];
  EXPECT_EQ(pop.method, "popularity");
  EXPECT_DOUBLE_EQ(pop.next_basket.hit, 1.0);
  EXPECT_DOUBLE_EQ(pop.next_basket.recall, 0.75);
  EXPECT_NEAR(pop.next_basket.ndcg, 0.622038473168458, 1e-15);
  EXPECT_EQ(pop.discovery.hit + pop.discovery.recall + pop.discovery.ndcg, 0.0);

  // Repeat-then-popularity: count + (last basket's position) / (baskets + 1). A: x 1.5, y 1.5
  // (tie: y is more popular), so y, x as above. B: z 1 + 2/3 above y 1 + 1/3: y second,
  // NDCG = (1/log2(3)) / (1 + 1/log2(3)).
  const MethodResult& repeat = r.methods[1];
  EXPECT_EQ(repeat.method, "repeat-then-popularity");
  EXPECT_DOUBLE_EQ(repeat.next_basket.hit, 1.0);
  EXPECT_DOUBLE_EQ(repeat.next_basket.recall, 0.75);
  EXPECT_NEAR(repeat.next_basket.ndcg, 0.5088912804029996, 1e-15);

  EXPECT_EQ(r.methods[2].method, "item-knn");
  EXPECT_EQ(r.methods[3].method, "markov");
  EXPECT_EQ(r.methods[4].method, "top-frequency");
  EXPECT_EQ(r.methods[5].method, "markov-backoff");
  EXPECT_EQ(r.methods[6].method, "tifu-knn");
  EXPECT_EQ(r.methods[6].parameters.size(), 5u);
}

TEST(LastBasket, BaselineListMatchesTheReport) {
  const std::vector<CustomerBaskets> training = {{"A", {{"x", "y"}}}, {"B", {{"y"}, {"z"}}}};
  const BasketStatistics stats(training);
  const std::vector<BasketBaseline> baselines = last_basket_baselines(stats, training);
  ASSERT_EQ(baselines.size(), 7u);
  // Markov from the last input basket {y}: y starts one transition, B's {y} -> {z} (A's {x, y}
  // has no next basket), so P(z | y) = 1.
  std::vector<double> scores;
  const std::vector<std::vector<std::string>> input = {{"y"}};
  baselines[3].score("", input, scores);
  ASSERT_EQ(scores.size(), 3u);
  EXPECT_DOUBLE_EQ(scores[static_cast<std::size_t>(stats.index("z"))], 1.0);
  EXPECT_DOUBLE_EQ(scores[static_cast<std::size_t>(stats.index("x"))], 0.0);
  // Item-kNN from {x}: cosine(x, y) = 1 co-occurrence / sqrt(1 * 2).
  const std::vector<std::vector<std::string>> x_only = {{"x"}};
  baselines[2].score("", x_only, scores);
  EXPECT_NEAR(scores[static_cast<std::size_t>(stats.index("y"))], 1.0 / std::sqrt(2.0), 1e-15);
  EXPECT_DOUBLE_EQ(scores[static_cast<std::size_t>(stats.index("z"))], 0.0);
}

TEST(LastBasket, RejectsBadArguments) {
  const std::vector<CustomerBaskets> customers = {{"A", {{"x"}, {"y"}}}};
  EXPECT_THROW(evaluate_last_basket(customers, 0, nullptr, nullptr, ""), Error);
}
