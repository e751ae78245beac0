// Offline evaluation (docs/EVALUATION.md): the last-basket protocol (src/eval_last_basket.cpp),
// the need protocol (src/eval_need.cpp) and the SASRec protocol (src/eval_sasrec.cpp), the classic
// baselines they compare against (src/baselines.cpp: popularity, repeat-then-popularity, item-kNN,
// first-order Markov, personal top-frequency, Markov with popularity back-off, TIFU-KNN), and the
// ranking metrics HR, Recall and NDCG at K (src/ranking_metrics.cpp). Models are scored by
// item_log_probs (recommender.hpp), the scoring `gptrec suggest` serves.
//
// Thread-safety: ranking_metrics is pure; a BasketStatistics is immutable after construction and
// its const methods may run on many threads at once (each with its own `out`). The evaluate_*
// functions parallelize across customers themselves (OpenMP, ops single-threaded per worker);
// they only read their inputs, so a Model may be shared with other threads meanwhile.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "gptrec/basket_ranker.hpp"
#include "gptrec/history.hpp"
#include "gptrec/model.hpp"
#include "gptrec/need.hpp"
#include "gptrec/tokenizer.hpp"

namespace gptrec {

// One customer's purchase baskets, oldest first, each a list of distinct item ids.
struct CustomerBaskets {
  std::string customer_id;
  std::vector<std::vector<std::string>> baskets;
};

// HR, Recall and NDCG at k of one ranked list against a target set (binary relevance): `top`
// holds item indices, in_target[i] says whether item i is relevant, target_size counts them.
struct RankingMetrics {
  double hit = 0, recall = 0, ndcg = 0;
};
RankingMetrics ranking_metrics(std::span<const int> top, const std::vector<bool>& in_target,
                               int target_size, int k);
// The same for one target ranked at `rank` (0 = first): HR = Recall = 1 and NDCG =
// 1 / log2(rank + 2) when rank < k, else 0.
RankingMetrics metrics_at_rank(int rank, int k);

// The items of the training baskets, indexed in id order, with their popularity (training baskets
// containing them) and the statistics the baselines use.
class BasketStatistics {
 public:
  explicit BasketStatistics(std::span<const CustomerBaskets> training);

  int size() const { return static_cast<int>(ids_.size()); }
  const std::vector<std::string>& ids() const { return ids_; }
  const std::vector<double>& popularity() const { return popularity_; }
  // Universe index of an item id, or -1.
  int index(const std::string& id) const;
  // Distinct universe indices of the items of `baskets` (unknown items skipped), first seen first.
  std::vector<int> indices(std::span<const std::vector<std::string>> baskets) const;

  // Baseline scores over the universe for a customer's input baskets (see docs/EVALUATION.md).
  void repeat_scores(std::span<const std::vector<std::string>> input,
                     std::vector<double>& out) const;
  void item_knn_scores(std::span<const std::vector<std::string>> input,
                       std::vector<double>& out) const;
  void markov_scores(std::span<const std::vector<std::string>> input,
                     std::vector<double>& out) const;

  // All universe indices ranked by score (higher first), then popularity, then id; items with
  // excluded[j] set are left out. Only the first k are produced.
  void top_k(const std::vector<double>& scores, const std::vector<bool>* excluded, int k,
             std::vector<int>& out) const;

 private:
  std::vector<std::string> ids_;
  std::unordered_map<std::string, int> index_;
  std::vector<double> popularity_;
  // Sparse rows: cosine(i, j) for j != i, and P(j | i) of consecutive baskets.
  std::vector<std::vector<std::pair<int, double>>> cosine_;
  std::vector<std::vector<std::pair<int, double>>> transition_;
};

// A baseline of the last-basket protocol: scores every item of the universe (BasketStatistics::ids
// order; higher ranks first, ties by popularity then id) for a customer's input baskets. The
// function holds what it was fitted on and is thread-safe. `customer` is the customer's id (a
// neighbour-based baseline leaves the customer's own training history out of the neighbours).
struct BasketBaseline {
  std::string name;  // the report's method name
  std::function<void(std::string_view customer, std::span<const std::vector<std::string>> input,
                     std::vector<double>& out)>
      score;
  // Hyper-parameters chosen on validation baskets (name, value), in the method's order.
  std::vector<std::pair<std::string, double>> parameters;
};

// The baselines the last-basket protocol reports, in report order, fitted on the training baskets
// (`stats` is built from `training`; both must outlive the baselines). Baselines with
// hyper-parameters (top-frequency, markov-backoff, tifu-knn) choose them first on validation
// baskets: each customer's last training basket, predicted from the training baskets before it
// (docs/EVALUATION.md). A new baseline is one more entry here (src/baselines.cpp). `progress`, when
// given, is told which baseline is being chosen.
std::vector<BasketBaseline> last_basket_baselines(
    const BasketStatistics& stats, std::span<const CustomerBaskets> training, int k = 10,
    const std::function<void(const std::string&)>& progress = {});

struct MethodResult {
  std::string method;
  RankingMetrics next_basket, discovery;                   // means over the evaluated customers
  std::vector<std::pair<std::string, double>> parameters;  // chosen on validation (baselines)
};

struct LastBasketReport {
  int k = 10;
  int customers = 0;                  // in the data
  int evaluated_next = 0;             // with >= 2 baskets
  int evaluated_discovery = 0;        // ... and a held-out item never bought before
  int universe = 0;                   // items in the training data
  std::vector<MethodResult> methods;  // the model first (when given), then the baselines
};

// A model row of the evaluation with another repeat component than the model's config.json
// (an ablation, or the choice of weight and decay on validation data).
struct RepeatVariant {
  std::string name;  // the row's method name
  RepeatMix repeat;
};

// Runs the last-basket protocol. `model` and `vocab` (an item model) are optional: without them
// only the baselines are scored. The model is scored as its config says (repeat component
// included), as one row named `model_name`, or, when `variants` is not empty, as one row per
// variant (one forward pass per customer for all of them). `ranker` is the model's ranker
// (ModelDirectory::read_ranker), applied to the model's own row; the variants are scored without
// it (the GPT with a repeat component, an ablation). Customers are scored in parallel
// (OpenMP); `progress` is called now and then from one thread with (done, total);
// `baseline_progress` is told which baseline's hyper-parameters are being chosen. Throws
// Error(kInvalidArgument) for k < 1, a model without its vocabulary (or the reverse), a text model
// or a variant whose repeat weight or decay is out of range.
LastBasketReport evaluate_last_basket(
    std::span<const CustomerBaskets> customers, int k, const Model* model,
    const ItemVocabulary* vocab, const std::string& model_name,
    const std::function<void(std::size_t, std::size_t)>& progress = {},
    std::span<const RepeatVariant> variants = {},
    const std::function<void(const std::string&)>& baseline_progress = {},
    const BasketRanker* ranker = nullptr);

// ---- The SASRec protocol (Kang & McAuley, ICDM 2018; docs/EVALUATION.md) ----

// One user's items in time order.
struct CustomerSequence {
  std::string customer_id;
  std::vector<std::string> items;
};

// A fixed candidate list for one user (the sampled protocol's 100 negatives), e.g. from a task
// file, so that different tools rank the same lists.
struct SampledCandidates {
  std::string target;
  std::vector<std::string> negatives;
  bool in_subset = false;  // in the paper-style random 10,000-user subset
};

struct SasrecMethodResult {
  std::string method;
  RankingMetrics sampled;    // target vs 100 sampled negatives
  RankingMetrics subset;     // the same over the users marked in_subset (fixed lists only)
  RankingMetrics full;       // target vs every item
  RankingMetrics full_excl;  // target vs every item not in the input
};

struct SasrecReport {
  int k = 10;
  int users = 0;
  int evaluated = 0;  // users with >= 3 items
  int subset_evaluated = 0;
  int items = 0;  // the universe of the full ranking: every item in the data
  std::vector<SasrecMethodResult> methods;
};

// Runs the protocol: per user with >= 3 items, the last item is the test target, the input is
// every earlier item (the most recent the model's context holds); the target is ranked against
// 100 negatives drawn uniformly from the items not in the user's training part (all but the last
// two), with `seed`, or taken from `fixed` when given; and against all items. Baselines
// (popularity, item-kNN, Markov) are fitted on the training parts. Parallel and `progress` as
// above. Throws Error(kInvalidArgument) as evaluate_last_basket, and Error(kBadInput) when `fixed`
// lacks a user, has another target, names an item not in the data, or a user has every item.
SasrecReport evaluate_sasrec(std::span<const CustomerSequence> users, int k, const Model* model,
                             const ItemVocabulary* vocab, const std::string& model_name,
                             std::uint64_t seed,
                             const std::unordered_map<std::string, SampledCandidates>* fixed,
                             const std::function<void(std::size_t, std::size_t)>& progress = {});

// ---- The need protocol: personalized product search (docs/EVALUATION.md) ----

// HR and NDCG at k, and the reciprocal rank of the first relevant item (over the full ranking).
struct NeedMetrics {
  double hit = 0, ndcg = 0, mrr = 0;
};

struct NeedMethodResult {
  std::string method;
  NeedMetrics all;           // over every query
  NeedMetrics never_bought;  // over the queries with a target the customer never bought
};

// One query of the protocol: a customer's need and the held-out items that fit it.
struct NeedQuery {
  std::string customer_id;
  std::string text;                      // the need, as need_query built it
  std::vector<std::string> targets;      // held-out items whose name fits every word
  std::vector<std::string> new_targets;  // ... that the customer never bought before
  int fitting_any = 0, fitting_all = 0;  // universe items that fit a word, every word
};

struct NeedReport {
  int k = 10;
  int customers = 0;            // in the data
  int evaluated_customers = 0;  // with >= 2 baskets and at least one query
  int queries = 0;
  int never_bought_queries = 0;           // with a target never bought before
  int universe = 0;                       // items in the training data
  double mean_fitting_any = 0;            // universe items that fit at least one word of a query
  double mean_fitting_all = 0;            // ... every word
  double mean_targets = 0;                // relevant items per query
  std::vector<NeedMethodResult> methods;  // the model rows (when given), then the baselines
};

// The text-match weight w of each method's rows (docs/EVALUATION.md): a method scores an item
// that fits the query w · BM25 + its own score; one row per weight. gptrec's own score is
// log p(j | history) + β · log(1 + popularity_j); one row per (w, β).
struct NeedWeights {
  std::vector<double> model;             // gptrec: + log p(j | history); its default: the config's
  std::vector<double> model_popularity;  // gptrec's β; its default: the config's
  std::vector<double> popularity;        // BM25 + popularity: + log(1 + popularity)
  std::vector<double> own;               // BM25 + own frequency: + log(1 + input baskets with j)
};
// The baselines' weights when none are given: chosen on the Online Retail validation orders.
NeedWeights default_need_weights();

// Runs the need protocol. The split is the last-basket protocol's; per evaluated customer, each
// distinct held-out item of the universe gives the query need_query(name, customer, item, seed)
// (when its name has an anchor word); equal queries of a customer are one query, whose targets
// are the held-out items of the universe whose names fit all its words. `items` gives the names
// (an item without one is named by its id); the items it marks unavailable or "product": false
// (postage, fees) fit no query and give none. `model` and `vocab` are optional (then only
// the baselines); the model's rows use its repeat component or each of `variants`; `ranker` (the
// model's, ModelDirectory::read_ranker) is applied to the model's own row as in
// evaluate_last_basket (as `gptrec suggest --need` scores); their popularity expert uses the
// training baskets' popularity (what items.json's "count" holds for a model trained on the same
// baskets). When `queries` is not null it receives every query. Parallel and `progress` as
// evaluate_last_basket. Throws Error(kInvalidArgument) as evaluate_last_basket, and for a
// negative or non-finite weight.
NeedReport evaluate_need(std::span<const CustomerBaskets> customers, int k, const Model* model,
                         const ItemVocabulary* vocab, const std::string& model_name,
                         std::span<const CatalogItem> items, std::uint64_t seed, NeedMatch match,
                         const NeedWeights& weights, std::span<const RepeatVariant> variants = {},
                         std::vector<NeedQuery>* queries = nullptr,
                         const std::function<void(std::size_t, std::size_t)>& progress = {},
                         const BasketRanker* ranker = nullptr);

}  // namespace gptrec
