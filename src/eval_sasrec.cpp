// The SASRec protocol (Kang & McAuley, ICDM 2018; docs/EVALUATION.md): every user's last item is
// ranked against 100 sampled negatives and against every item, by the model and the baselines.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <numeric>
#include <optional>
#include <random>
#include <unordered_set>

#include "evaluation_internal.hpp"
#include "gptrec/error.hpp"
#include "gptrec/evaluation.hpp"
#include "gptrec/recommender.hpp"

namespace gptrec {

namespace {

// "Lower item id": numerically when both ids are numbers, else byte-wise.
bool id_less(const std::string& a, const std::string& b) {
  const bool na = !a.empty() && a.size() < 19 && std::all_of(a.begin(), a.end(), ::isdigit);
  const bool nb = !b.empty() && b.size() < 19 && std::all_of(b.begin(), b.end(), ::isdigit);
  if (na && nb) return std::stoll(a) < std::stoll(b);
  return a < b;
}

// Rank of `target_score` (0 = best) among `scores` of `ids`: a candidate ranks above the target
// when its score is higher, or equal with a lower id; the target's own id never does.
template <typename Ids>
int rank_of(double target_score, const std::string& target_id, const Ids& ids,
            const std::function<double(std::size_t)>& score_of,
            const std::vector<std::string>& names) {
  int rank = 0;
  for (std::size_t c = 0; c < ids.size(); ++c) {
    const auto& id = names[static_cast<std::size_t>(ids[c])];
    if (id == target_id) continue;
    const double s = score_of(c);
    if (s > target_score || (s == target_score && id_less(id, target_id))) ++rank;
  }
  return rank;
}

}  // namespace

SasrecReport evaluate_sasrec(std::span<const CustomerSequence> users, int k, const Model* model,
                             const ItemVocabulary* vocab, const std::string& model_name,
                             std::uint64_t seed,
                             const std::unordered_map<std::string, SampledCandidates>* fixed,
                             const std::function<void(std::size_t, std::size_t)>& progress) {
  check_protocol_arguments(k, model, vocab, "the SASRec protocol");
  if (model != nullptr && model->config().repeat.weight > 0)
    throw Error(ErrorCode::kInvalidArgument,
                "the SASRec protocol ranks by the GPT's logits; a model with a repeat component is "
                "not supported");

  // The universe: every item of the data, indexed in id order.
  std::vector<std::string> names;
  {
    std::unordered_map<std::string, int> seen;
    for (const auto& u : users)
      for (const auto& item : u.items) seen.emplace(item, 0);
    for (const auto& [id, unused] : seen) names.push_back(id);
    std::sort(names.begin(), names.end(), id_less);
  }
  std::unordered_map<std::string, int> index;
  for (std::size_t j = 0; j < names.size(); ++j) index.emplace(names[j], static_cast<int>(j));
  const std::size_t U = names.size();
  auto to_indices = [&](std::span<const std::string> items) {
    std::vector<int> out;
    out.reserve(items.size());
    for (const auto& item : items) out.push_back(index.at(item));
    return out;
  };

  // Training parts: all but the last two items of users with >= 3, everything of the others.
  std::vector<std::vector<int>> training;
  training.reserve(users.size());
  for (const auto& u : users) {
    const std::size_t n = u.items.size() >= 3 ? u.items.size() - 2 : u.items.size();
    training.push_back(to_indices(std::span(u.items).first(n)));
  }
  const std::vector<SequenceBaseline> baselines = sasrec_baselines(training, U);

  const std::vector<int> token_of = universe_tokens(names, vocab);

  std::vector<std::string> methods;
  if (model != nullptr) methods.push_back(model_name);
  for (const SequenceBaseline& b : baselines) methods.push_back(b.name);
  const std::size_t M = methods.size();

  std::vector<std::size_t> evaluated;
  for (std::size_t u = 0; u < users.size(); ++u)
    if (users[u].items.size() >= 3) evaluated.push_back(u);

  // Candidate lists, drawn up front in user order so that they do not depend on threading.
  std::vector<std::vector<int>> negatives(evaluated.size());
  std::vector<bool> in_subset(evaluated.size(), false);
  std::mt19937_64 rng(seed);
  for (std::size_t e = 0; e < evaluated.size(); ++e) {
    const CustomerSequence& u = users[evaluated[e]];
    if (fixed != nullptr) {
      auto it = fixed->find(u.customer_id);
      if (it == fixed->end())
        throw Error(ErrorCode::kBadInput,
                    "candidate lists: no entry for customer " + u.customer_id);
      if (it->second.target != u.items.back())
        throw Error(ErrorCode::kBadInput, "candidate lists: customer " + u.customer_id +
                                              ": target " + it->second.target +
                                              " is not the last item " + u.items.back());
      for (const auto& id : it->second.negatives) {
        auto j = index.find(id);
        if (j == index.end())
          throw Error(ErrorCode::kBadInput,
                      "candidate lists: customer " + u.customer_id + ": unknown item " + id);
        negatives[e].push_back(j->second);
      }
      in_subset[e] = it->second.in_subset;
      continue;
    }
    const std::vector<int> train = to_indices(std::span(u.items).first(u.items.size() - 2));
    const std::unordered_set<int> rated(train.begin(), train.end());
    if (rated.size() >= U)
      throw Error(ErrorCode::kBadInput, "customer " + u.customer_id + " rated every item");
    for (int n = 0; n < 100; ++n) {
      int j;
      do {
        j = static_cast<int>(rng() % U);  // U is far below 2^64: the modulo bias is negligible
      } while (rated.contains(j));
      negatives[e].push_back(j);
    }
  }

  struct PerUser {
    std::vector<RankingMetrics> sampled, full, full_excl;
  };
  std::vector<PerUser> results(evaluated.size());
  std::atomic<std::size_t> done{0};
#pragma omp parallel
  {
    set_op_threads(1);  // parallel across customers, single-threaded ops inside
    std::optional<Session> session;
    if (model != nullptr) session.emplace(*model);
    std::vector<double> scores(U);
    std::vector<std::vector<double>> log_probs;
    std::vector<int> all(U);
    std::iota(all.begin(), all.end(), 0);
    std::vector<bool> in_input(U, false);
#pragma omp for schedule(dynamic, 16)
    for (std::size_t e = 0; e < evaluated.size(); ++e) {
      const CustomerSequence& u = users[evaluated[e]];
      const std::vector<int> seq = to_indices(u.items);
      const std::span<const int> input(seq.data(), seq.size() - 1);
      const int target = seq.back();
      const std::string& target_id = names[static_cast<std::size_t>(target)];
      for (const int j : input) in_input[static_cast<std::size_t>(j)] = true;

      PerUser& r = results[e];
      auto rank_all = [&]() {
        const double ts = scores[static_cast<std::size_t>(target)];
        const auto score_at = [&](std::size_t c) { return scores[c]; };
        r.full.push_back(metrics_at_rank(rank_of(ts, target_id, all, score_at, names), k));
        int excl = 0;
        for (std::size_t j = 0; j < U; ++j) {
          if (in_input[j] || static_cast<int>(j) == target) continue;
          if (scores[j] > ts || (scores[j] == ts && id_less(names[j], target_id))) ++excl;
        }
        r.full_excl.push_back(
            metrics_at_rank(in_input[static_cast<std::size_t>(target)] ? k : excl, k));
        const auto score_neg = [&](std::size_t c) {
          return scores[static_cast<std::size_t>(negatives[e][c])];
        };
        r.sampled.push_back(
            metrics_at_rank(rank_of(ts, target_id, negatives[e], score_neg, names), k));
      };

      if (model != nullptr) {
        // <bos> and the most recent items that fit.
        std::vector<std::string> items;
        const std::size_t keep = std::min<std::size_t>(
            input.size(), static_cast<std::size_t>(model->config().n_ctx - 1));
        for (std::size_t t = input.size() - keep; t < input.size(); ++t)
          items.push_back(u.items[t]);
        std::vector<Basket> baskets;
        for (auto& item : items) baskets.push_back(Basket{{}, std::nullopt, {item}});
        const ItemSequence s =
            build_item_sequence(*vocab, baskets, SequenceFormat::kItems, model->config().n_ctx);
        // The GPT alone (the protocol refuses a repeat component): its log-softmax ranks the
        // items as its logits do.
        item_log_probs(*session, *vocab, SequenceFormat::kItems, s.tokens,
                       std::span<const RepeatMix>(&model->config().repeat, 1), log_probs);
        const int first = vocab->first_item_id();
        for (std::size_t j = 0; j < U; ++j)
          scores[j] = token_of[j] >= 0 ? log_probs[0][static_cast<std::size_t>(token_of[j] - first)]
                                       : -INFINITY;
        rank_all();
      }
      for (const SequenceBaseline& b : baselines) {
        b.score(input, scores);
        rank_all();
      }

      for (const int j : input) in_input[static_cast<std::size_t>(j)] = false;
      report_progress(progress, ++done, evaluated.size());
    }
  }
  if (progress) progress(evaluated.size(), evaluated.size());

  SasrecReport report;
  report.k = k;
  report.users = static_cast<int>(users.size());
  report.evaluated = static_cast<int>(evaluated.size());
  report.items = static_cast<int>(U);
  for (std::size_t e = 0; e < evaluated.size(); ++e) report.subset_evaluated += in_subset[e];
  for (std::size_t m = 0; m < M; ++m) {
    SasrecMethodResult mr;
    mr.method = methods[m];
    for (std::size_t e = 0; e < evaluated.size(); ++e) {
      add_to(mr.sampled, results[e].sampled[m]);
      add_to(mr.full, results[e].full[m]);
      add_to(mr.full_excl, results[e].full_excl[m]);
      if (in_subset[e]) add_to(mr.subset, results[e].sampled[m]);
    }
    mr.sampled = mean_of(mr.sampled, report.evaluated);
    mr.full = mean_of(mr.full, report.evaluated);
    mr.full_excl = mean_of(mr.full_excl, report.evaluated);
    mr.subset = mean_of(mr.subset, report.subset_evaluated);
    report.methods.push_back(mr);
  }
  return report;
}

}  // namespace gptrec
