// What the evaluation protocols share (private; src/eval_common.cpp): argument checks, the
// last-basket split, the model's scores over the universe, progress reporting, metric sums, and
// the SASRec protocol's baselines over item indices.
#pragma once

#include <algorithm>
#include <cstddef>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "gptrec/error.hpp"
#include "gptrec/evaluation.hpp"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace gptrec {

// Calls `progress` from one thread only (the callback need not be thread-safe).
inline void report_progress(const std::function<void(std::size_t, std::size_t)>& progress,
                            std::size_t done, std::size_t total) {
  if (!progress) return;
#ifdef _OPENMP
  if (omp_get_thread_num() != 0) return;
#endif
  progress(done, total);
}

// Throws Error(kInvalidArgument) for a repeat variant whose weight or decay is out of range.
void check_repeat_variants(std::span<const RepeatVariant> variants);

// The last-basket split: customers with >= 2 baskets are evaluated (indices into the customers)
// on their last basket; the training data is their other baskets.
struct LastBasketSplit {
  std::vector<CustomerBaskets> training;
  std::vector<std::size_t> evaluated;
};
LastBasketSplit split_last_baskets(std::span<const CustomerBaskets> customers);

// The model's rows of a report: its own repeat component, named `model_name`, or the variants.
std::vector<RepeatVariant> model_rows(const Model* model, const std::string& model_name,
                                      std::span<const RepeatVariant> variants);

// Universe index -> the item's token in `vocab` (-1 when it lacks the item, or vocab is null).
std::vector<int> universe_tokens(std::span<const std::string> ids, const ItemVocabulary* vocab);

// out[r][j]: the model's log-probability of universe item j (token token_of[j]) after the
// `input` baskets, under repeats[r] (item_log_probs, recommender.hpp); -infinity for the items
// the model lacks. With `ranker`, the ranker of the model (basket_ranker.hpp) is applied as
// Recommender::recommend applies it, for the customer `customer_id`. `log_probs` is scratch. Uses
// `session` (cleared first).
void universe_log_probs(Session& session, const Model& model, const ItemVocabulary& vocab,
                        std::span<const std::vector<std::string>> input,
                        std::span<const RepeatMix> repeats, const std::vector<int>& token_of,
                        std::vector<std::vector<double>>& log_probs,
                        std::vector<std::vector<double>>& out, const BasketRanker* ranker = nullptr,
                        std::string_view customer_id = {});

inline void add_to(RankingMetrics& sum, const RankingMetrics& x) {
  sum.hit += x.hit;
  sum.recall += x.recall;
  sum.ndcg += x.ndcg;
}

inline RankingMetrics mean_of(const RankingMetrics& sum, int n) {
  const double d = std::max(1, n);
  return {sum.hit / d, sum.recall / d, sum.ndcg / d};
}

// The checks both protocols make: k >= 1, the model and its vocabulary given together, an item
// model. Throws Error(kInvalidArgument) naming `protocol` ("the last-basket protocol").
inline void check_protocol_arguments(int k, const Model* model, const ItemVocabulary* vocab,
                                     const std::string& protocol) {
  if (k < 1) throw Error(ErrorCode::kInvalidArgument, "k must be at least 1");
  if ((model == nullptr) != (vocab == nullptr))
    throw Error(ErrorCode::kInvalidArgument,
                "evaluation needs both the model and its item vocabulary");
  if (model != nullptr && model->config().kind != ModelKind::kItems)
    throw Error(ErrorCode::kInvalidArgument, protocol + " evaluates item models");
}
// The targets of one evaluated customer of the last-basket protocol over the universe of `stats`:
// the held-out basket's distinct items (next basket) and those not in the input (discovery); items
// never seen in training count in the sizes but cannot be hit. input_mask marks the input's items.
struct HeldOutTargets {
  std::vector<bool> in_next, in_new, input_mask;
  int next = 0, discovery = 0;
  void set(const BasketStatistics& stats, std::span<const std::vector<std::string>> input,
           const std::vector<std::string>& held_out);
};

// Next-basket and discovery metrics at k of one score vector (BasketStatistics::top_k order);
// `top` is scratch.
std::pair<RankingMetrics, RankingMetrics> score_held_out(const BasketStatistics& stats,
                                                         const std::vector<double>& scores,
                                                         const HeldOutTargets& targets, int k,
                                                         std::vector<int>& top);

// A baseline of the SASRec protocol: scores every item of the universe (indices 0..U-1) for a
// user's input items (indices, oldest first, not empty). Thread-safe.
struct SequenceBaseline {
  std::string name;
  std::function<void(std::span<const int> input, std::vector<double>& out)> score;
};

// The SASRec protocol's baselines, in report order, fitted on the users' training parts (item
// indices, oldest first) over a universe of `universe` items (docs/EVALUATION.md).
std::vector<SequenceBaseline> sasrec_baselines(std::span<const std::vector<int>> training,
                                               std::size_t universe);

}  // namespace gptrec
