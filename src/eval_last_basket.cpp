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

void HeldOutTargets::set(const BasketStatistics& stats,
                         std::span<const std::vector<std::string>> input,
                         const std::vector<std::string>& held_out) {
  const auto U = static_cast<std::size_t>(stats.size());
  in_next.assign(U, false);
  in_new.assign(U, false);
  input_mask.assign(U, false);
  for (const int j : stats.indices(input)) input_mask[static_cast<std::size_t>(j)] = true;
  std::unordered_map<std::string_view, bool> bought_before;
  for (const auto& b : input)
    for (const auto& item : b) bought_before[item] = true;
  next = 0;
  discovery = 0;
  for (const auto& item : held_out) {
    ++next;
    const bool is_new = !bought_before.contains(item);
    discovery += is_new;
    const int j = stats.index(item);
    if (j < 0) continue;
    in_next[static_cast<std::size_t>(j)] = true;
    if (is_new) in_new[static_cast<std::size_t>(j)] = true;
  }
}

std::pair<RankingMetrics, RankingMetrics> score_held_out(const BasketStatistics& stats,
                                                         const std::vector<double>& scores,
                                                         const HeldOutTargets& targets, int k,
                                                         std::vector<int>& top) {
  stats.top_k(scores, nullptr, k, top);
  const RankingMetrics next = ranking_metrics(top, targets.in_next, targets.next, k);
  stats.top_k(scores, &targets.input_mask, k, top);
  return {next, ranking_metrics(top, targets.in_new, targets.discovery, k)};
}

LastBasketReport evaluate_last_basket(
    std::span<const CustomerBaskets> customers, int k, const Model* model,
    const ItemVocabulary* vocab, const std::string& model_name,
    const std::function<void(std::size_t, std::size_t)>& progress,
    std::span<const RepeatVariant> variants,
    const std::function<void(const std::string&)>& baseline_progress, const BasketRanker* ranker) {
  check_protocol_arguments(k, model, vocab, "the last-basket protocol");
  check_repeat_variants(variants);
  const auto [training, evaluated] = split_last_baskets(customers);
  const BasketStatistics stats(training);
  const std::vector<int> token_of = universe_tokens(stats.ids(), vocab);
  const std::vector<RepeatVariant> rows = model_rows(model, model_name, variants);
  std::vector<RepeatMix> repeats;
  for (const RepeatVariant& v : rows) repeats.push_back(v.repeat);
  const std::vector<BasketBaseline> baselines =
      last_basket_baselines(stats, training, k, baseline_progress);
  std::vector<std::string> names;
  std::vector<std::vector<std::pair<std::string, double>>> parameters;
  for (const RepeatVariant& v : rows) {
    names.push_back(v.name);
    parameters.emplace_back();
  }
  for (const BasketBaseline& b : baselines) {
    names.push_back(b.name);
    parameters.push_back(b.parameters);
  }
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
    HeldOutTargets targets;
#pragma omp for schedule(dynamic, 4)
    for (std::size_t e = 0; e < evaluated.size(); ++e) {
      const CustomerBaskets& c = customers[evaluated[e]];
      const auto input = std::span(c.baskets).first(c.baskets.size() - 1);
      const auto& held_out = c.baskets.back();

      targets.set(stats, input, held_out);
      PerCustomer& r = results[e];
      r.has_discovery = targets.discovery > 0;
      auto score_method = [&](const std::vector<double>& s) {
        const auto [next, discovery] = score_held_out(stats, s, targets, k, top);
        r.next.push_back(next);
        r.discovery.push_back(discovery);
      };
      if (model != nullptr) {
        // The model's own row gets its ranker; variants are the GPT with a repeat component.
        universe_log_probs(*session, *model, *vocab, input, repeats, token_of, log_probs,
                           model_scores, variants.empty() ? ranker : nullptr, c.customer_id);
        for (const std::vector<double>& s : model_scores) score_method(s);
      }
      for (const BasketBaseline& b : baselines) {
        b.score(c.customer_id, input, scores);
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
    mr.parameters = parameters[m];
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
