// The last-basket protocol (docs/EVALUATION.md): every customer's last basket is held out, the
// model and the baselines rank the items for it from the earlier baskets.
#include <atomic>
#include <cmath>
#include <optional>
#include <string_view>
#include <unordered_map>

#include "evaluation_internal.hpp"
#include "gptrec/error.hpp"
#include "gptrec/evaluation.hpp"
#include "gptrec/recommender.hpp"

namespace gptrec {

LastBasketReport evaluate_last_basket(std::span<const CustomerBaskets> customers, int k,
                                      const Model* model, const ItemVocabulary* vocab,
                                      const std::string& model_name,
                                      const std::function<void(std::size_t, std::size_t)>& progress,
                                      std::span<const RepeatVariant> variants) {
  check_protocol_arguments(k, model, vocab, "the last-basket protocol");
  check_repeat_variants(variants);
  const auto [training, evaluated] = split_last_baskets(customers);
  const BasketStatistics stats(training);
  const std::size_t U = static_cast<std::size_t>(stats.size());
  const std::vector<int> token_of = universe_tokens(stats.ids(), vocab);
  const std::vector<RepeatVariant> rows = model_rows(model, model_name, variants);
  std::vector<RepeatMix> repeats;
  for (const RepeatVariant& v : rows) repeats.push_back(v.repeat);
  const std::vector<BasketBaseline> baselines = last_basket_baselines(stats, training);
  std::vector<std::string> names;
  for (const RepeatVariant& v : rows) names.push_back(v.name);
  for (const BasketBaseline& b : baselines) names.push_back(b.name);
  const std::size_t M = names.size();

  // Per customer, per method: next-basket and discovery metrics (and whether discovery applies).
  struct PerCustomer {
    std::vector<RankingMetrics> next, discovery;
    bool has_discovery = false;
  };
  std::vector<PerCustomer> results(evaluated.size());
  std::atomic<std::size_t> done{0};

#pragma omp parallel
  {
    set_op_threads(1);  // parallel across customers, single-threaded ops inside
    std::optional<Session> session;
    if (model != nullptr) session.emplace(*model);
    std::vector<double> scores;
    std::vector<std::vector<double>> log_probs, model_scores;  // per model row
    std::vector<int> top;
    std::vector<bool> in_next(U), in_new(U), input_mask(U);
#pragma omp for schedule(dynamic, 4)
    for (std::size_t e = 0; e < evaluated.size(); ++e) {
      const CustomerBaskets& c = customers[evaluated[e]];
      const auto input = std::span(c.baskets).first(c.baskets.size() - 1);
      const auto& held_out = c.baskets.back();

      std::fill(in_next.begin(), in_next.end(), false);
      std::fill(in_new.begin(), in_new.end(), false);
      std::fill(input_mask.begin(), input_mask.end(), false);
      for (const int j : stats.indices(input)) input_mask[static_cast<std::size_t>(j)] = true;
      // Targets: held-out distinct items; those never seen in training cannot be hit but count.
      std::unordered_map<std::string_view, bool> bought_before;
      for (const auto& b : input)
        for (const auto& item : b) bought_before[item] = true;
      int target_next = 0, target_new = 0;
      for (const auto& item : held_out) {
        ++target_next;
        const bool is_new = !bought_before.contains(item);
        target_new += is_new;
        const int j = stats.index(item);
        if (j < 0) continue;
        in_next[static_cast<std::size_t>(j)] = true;
        if (is_new) in_new[static_cast<std::size_t>(j)] = true;
      }

      PerCustomer& r = results[e];
      r.has_discovery = target_new > 0;
      auto score_method = [&](const std::vector<double>& s) {
        stats.top_k(s, nullptr, k, top);
        r.next.push_back(ranking_metrics(top, in_next, target_next, k));
        stats.top_k(s, &input_mask, k, top);
        r.discovery.push_back(ranking_metrics(top, in_new, target_new, k));
      };
      if (model != nullptr) {
        universe_log_probs(*session, *model, *vocab, input, repeats, token_of, log_probs,
                           model_scores);
        for (const std::vector<double>& s : model_scores) score_method(s);
      }
      for (const BasketBaseline& b : baselines) {
        b.score(input, scores);
        score_method(scores);
      }

      report_progress(progress, ++done, evaluated.size());
    }
  }
  if (progress) progress(evaluated.size(), evaluated.size());

  LastBasketReport report;
  report.k = k;
  report.customers = static_cast<int>(customers.size());
  report.evaluated_next = static_cast<int>(evaluated.size());
  report.universe = stats.size();
  for (const auto& r : results) report.evaluated_discovery += r.has_discovery;
  for (std::size_t m = 0; m < M; ++m) {
    MethodResult mr;
    mr.method = names[m];
    for (const auto& r : results) {
      add_to(mr.next_basket, r.next[m]);
      if (r.has_discovery) add_to(mr.discovery, r.discovery[m]);
    }
    mr.next_basket = mean_of(mr.next_basket, report.evaluated_next);
    mr.discovery = mean_of(mr.discovery, report.evaluated_discovery);
    report.methods.push_back(mr);
  }
  return report;
}

}  // namespace gptrec
