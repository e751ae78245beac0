#include "gptrec/evaluation.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <numeric>
#include <optional>
#include <random>
#include <unordered_set>

#include "gptrec/error.hpp"
#include "gptrec/recommender.hpp"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace gptrec {

namespace {

// Calls `progress` from one thread only (the callback need not be thread-safe).
void report_progress(const std::function<void(std::size_t, std::size_t)>& progress,
                     std::size_t done, std::size_t total) {
  if (!progress) return;
#ifdef _OPENMP
  if (omp_get_thread_num() != 0) return;
#endif
  progress(done, total);
}

void add_to(RankingMetrics& sum, const RankingMetrics& x) {
  sum.hit += x.hit;
  sum.recall += x.recall;
  sum.ndcg += x.ndcg;
}

RankingMetrics mean_of(const RankingMetrics& sum, int n) {
  const double d = std::max(1, n);
  return {sum.hit / d, sum.recall / d, sum.ndcg / d};
}

}  // namespace

RankingMetrics ranking_metrics(std::span<const int> top, const std::vector<bool>& in_target,
                               int target_size, int k) {
  RankingMetrics m;
  if (target_size <= 0) return m;
  int hits = 0;
  double dcg = 0, idcg = 0;
  for (int r = 0; r < k && r < static_cast<int>(top.size()); ++r)
    if (in_target[static_cast<std::size_t>(top[static_cast<std::size_t>(r)])]) {
      ++hits;
      dcg += 1.0 / std::log2(r + 2.0);
    }
  for (int r = 0; r < std::min(target_size, k); ++r) idcg += 1.0 / std::log2(r + 2.0);
  m.hit = hits > 0 ? 1.0 : 0.0;
  m.recall = static_cast<double>(hits) / target_size;
  m.ndcg = dcg / idcg;
  return m;
}

BasketStatistics::BasketStatistics(std::span<const CustomerBaskets> training) {
  std::unordered_map<std::string, int> counts;
  for (const auto& c : training)
    for (const auto& b : c.baskets)
      for (const auto& item : b) ++counts[item];  // baskets hold distinct items
  ids_.reserve(counts.size());
  for (const auto& [id, n] : counts) ids_.push_back(id);
  std::sort(ids_.begin(), ids_.end());
  popularity_.resize(ids_.size());
  for (std::size_t i = 0; i < ids_.size(); ++i) {
    index_.emplace(ids_[i], static_cast<int>(i));
    popularity_[i] = counts[ids_[i]];
  }

  // Co-occurrence and transition counts, sparse per row.
  const std::size_t n = ids_.size();
  std::vector<std::unordered_map<int, double>> co(n), pairs(n);
  std::vector<double> starts(n, 0.0);
  std::vector<int> current, next;
  for (const auto& c : training) {
    for (std::size_t t = 0; t < c.baskets.size(); ++t) {
      current = indices(std::span(&c.baskets[t], 1));
      for (const int i : current)
        for (const int j : current)
          if (i != j) co[static_cast<std::size_t>(i)][j] += 1;
      if (t + 1 < c.baskets.size()) {
        next = indices(std::span(&c.baskets[t + 1], 1));
        for (const int i : current) {
          starts[static_cast<std::size_t>(i)] += 1;
          for (const int j : next) pairs[static_cast<std::size_t>(i)][j] += 1;
        }
      }
    }
  }
  cosine_.resize(n);
  transition_.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    for (const auto& [j, count] : co[i])
      cosine_[i].emplace_back(j, count / (std::sqrt(popularity_[i]) *
                                          std::sqrt(popularity_[static_cast<std::size_t>(j)])));
    for (const auto& [j, count] : pairs[i]) transition_[i].emplace_back(j, count / starts[i]);
    // A fixed order keeps sums reproducible.
    std::sort(cosine_[i].begin(), cosine_[i].end());
    std::sort(transition_[i].begin(), transition_[i].end());
  }
}

int BasketStatistics::index(const std::string& id) const {
  auto it = index_.find(id);
  return it == index_.end() ? -1 : it->second;
}

std::vector<int> BasketStatistics::indices(
    std::span<const std::vector<std::string>> baskets) const {
  std::vector<int> out;
  for (const auto& b : baskets)
    for (const auto& item : b) {
      const int j = index(item);
      if (j >= 0 && std::find(out.begin(), out.end(), j) == out.end()) out.push_back(j);
    }
  return out;
}

void BasketStatistics::repeat_scores(std::span<const std::vector<std::string>> input,
                                     std::vector<double>& out) const {
  out.assign(ids_.size(), 0.0);
  std::vector<double> last(ids_.size(), 0.0);
  for (std::size_t t = 0; t < input.size(); ++t)
    for (const int j : indices(input.subspan(t, 1))) {
      out[static_cast<std::size_t>(j)] += 1;
      last[static_cast<std::size_t>(j)] = static_cast<double>(t + 1);
    }
  const double denominator = static_cast<double>(input.size() + 1);
  for (std::size_t j = 0; j < out.size(); ++j)
    if (out[j] > 0) out[j] += last[j] / denominator;
}

void BasketStatistics::item_knn_scores(std::span<const std::vector<std::string>> input,
                                       std::vector<double>& out) const {
  out.assign(ids_.size(), 0.0);
  for (const int i : indices(input))
    for (const auto& [j, cos] : cosine_[static_cast<std::size_t>(i)])
      out[static_cast<std::size_t>(j)] += cos;
}

void BasketStatistics::markov_scores(std::span<const std::vector<std::string>> input,
                                     std::vector<double>& out) const {
  out.assign(ids_.size(), 0.0);
  if (input.empty()) return;
  for (const int i : indices(input.last(1)))
    for (const auto& [j, p] : transition_[static_cast<std::size_t>(i)])
      out[static_cast<std::size_t>(j)] += p;
}

void BasketStatistics::top_k(const std::vector<double>& scores, const std::vector<bool>* excluded,
                             int k, std::vector<int>& out) const {
  out.clear();
  for (int j = 0; j < size(); ++j)
    if (excluded == nullptr || !(*excluded)[static_cast<std::size_t>(j)]) out.push_back(j);
  const auto n = std::min(out.size(), static_cast<std::size_t>(k));
  // Ids are in string order, so a smaller index is a smaller id.
  std::partial_sort(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(n), out.end(),
                    [&](int a, int b) {
                      const auto ua = static_cast<std::size_t>(a), ub = static_cast<std::size_t>(b);
                      if (scores[ua] != scores[ub]) return scores[ua] > scores[ub];
                      if (popularity_[ua] != popularity_[ub])
                        return popularity_[ua] > popularity_[ub];
                      return a < b;
                    });
  out.resize(n);
}

LastBasketReport evaluate_last_basket(std::span<const CustomerBaskets> customers, int k,
                                      const Model* model, const ItemVocabulary* vocab,
                                      const std::string& model_name,
                                      const std::function<void(std::size_t, std::size_t)>& progress,
                                      std::span<const RepeatVariant> variants) {
  if (k < 1) throw Error(ErrorCode::kInvalidArgument, "k must be at least 1");
  for (const RepeatVariant& v : variants)
    if (!(v.repeat.weight >= 0 && v.repeat.weight < 1) ||
        !(v.repeat.decay > 0 && v.repeat.decay <= 1))
      throw Error(ErrorCode::kInvalidArgument,
                  v.name + ": the repeat weight must be in [0, 1) and the decay in (0, 1]");
  if ((model == nullptr) != (vocab == nullptr))
    throw Error(ErrorCode::kInvalidArgument,
                "evaluation needs both the model and its item vocabulary");
  if (model != nullptr && model->config().kind != ModelKind::kItems)
    throw Error(ErrorCode::kInvalidArgument, "the last-basket protocol evaluates item models");

  // Split: every customer's baskets but the last are training data; customers with >= 2 baskets
  // are evaluated on their last.
  std::vector<CustomerBaskets> training;
  std::vector<std::size_t> evaluated;
  for (std::size_t c = 0; c < customers.size(); ++c) {
    if (customers[c].baskets.size() < 2) continue;
    evaluated.push_back(c);
    CustomerBaskets t{customers[c].customer_id, customers[c].baskets};
    t.baskets.pop_back();
    training.push_back(std::move(t));
  }
  const BasketStatistics stats(training);
  const std::size_t U = static_cast<std::size_t>(stats.size());

  // Universe index -> model token (or -1).
  std::vector<int> token_of(U, -1);
  if (vocab != nullptr)
    for (std::size_t j = 0; j < U; ++j)
      if (auto t = vocab->find(stats.ids()[j])) token_of[j] = *t;

  // The model rows: its own repeat component, or the variants.
  std::vector<RepeatVariant> model_rows;
  if (model != nullptr) {
    if (variants.empty())
      model_rows.push_back(RepeatVariant{model_name, model->config().repeat});
    else
      model_rows.assign(variants.begin(), variants.end());
  }
  std::vector<RepeatMix> repeats;
  for (const RepeatVariant& v : model_rows) repeats.push_back(v.repeat);
  std::vector<std::string> names;
  for (const RepeatVariant& v : model_rows) names.push_back(v.name);
  for (const char* b : {"popularity", "repeat-then-popularity", "item-knn", "markov"})
    names.push_back(b);
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
    std::vector<std::vector<double>> log_probs;  // per model row
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
        std::vector<Basket> baskets;
        for (const auto& b : input) baskets.push_back(Basket{{}, std::nullopt, b});
        const ItemSequence seq = build_item_sequence(
            *vocab, baskets, model->config().sequence_format, model->config().n_ctx);
        item_log_probs(*session, *vocab, model->config().sequence_format, seq.tokens, repeats,
                       log_probs);
        const int first = vocab->first_item_id();
        for (const std::vector<double>& lp : log_probs) {
          scores.assign(U, -INFINITY);  // items the model lacks rank last
          for (std::size_t j = 0; j < U; ++j)
            if (token_of[j] >= 0) scores[j] = lp[static_cast<std::size_t>(token_of[j] - first)];
          score_method(scores);
        }
      }
      scores.assign(U, 0.0);
      score_method(scores);
      stats.repeat_scores(input, scores);
      score_method(scores);
      stats.item_knn_scores(input, scores);
      score_method(scores);
      stats.markov_scores(input, scores);
      score_method(scores);

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

namespace gptrec {

namespace {

// "Lower item id": numerically when both ids are numbers, else byte-wise.
bool id_less(const std::string& a, const std::string& b) {
  const bool na = !a.empty() && a.size() < 19 && std::all_of(a.begin(), a.end(), ::isdigit);
  const bool nb = !b.empty() && b.size() < 19 && std::all_of(b.begin(), b.end(), ::isdigit);
  if (na && nb) return std::stoll(a) < std::stoll(b);
  return a < b;
}

// The sequence statistics of the SASRec baselines, over the training parts.
struct SequenceStatistics {
  std::vector<double> popularity;                               // training events
  std::vector<std::vector<std::pair<int, double>>> cosine;      // users containing both
  std::vector<std::vector<std::pair<int, double>>> transition;  // P(next = j | i)
};

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

RankingMetrics metrics_from_rank(int rank, int k) {
  RankingMetrics m;
  if (rank < k) {
    m.hit = 1;
    m.recall = 1;
    m.ndcg = 1.0 / std::log2(rank + 2.0);
  }
  return m;
}

}  // namespace

SasrecReport evaluate_sasrec(std::span<const CustomerSequence> users, int k, const Model* model,
                             const ItemVocabulary* vocab, const std::string& model_name,
                             std::uint64_t seed,
                             const std::unordered_map<std::string, SampledCandidates>* fixed,
                             const std::function<void(std::size_t, std::size_t)>& progress) {
  if (k < 1) throw Error(ErrorCode::kInvalidArgument, "k must be at least 1");
  if ((model == nullptr) != (vocab == nullptr))
    throw Error(ErrorCode::kInvalidArgument,
                "evaluation needs both the model and its item vocabulary");
  if (model != nullptr && model->config().kind != ModelKind::kItems)
    throw Error(ErrorCode::kInvalidArgument, "the SASRec protocol evaluates item models");
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
  SequenceStatistics stats;
  stats.popularity.assign(U, 0.0);
  {
    std::vector<std::unordered_map<int, double>> co(U), pairs(U);
    std::vector<double> users_with(U, 0.0), starts(U, 0.0);
    for (const auto& u : users) {
      const std::size_t n = u.items.size() >= 3 ? u.items.size() - 2 : u.items.size();
      const std::vector<int> seq = to_indices(std::span(u.items).first(n));
      for (const int j : seq) stats.popularity[static_cast<std::size_t>(j)] += 1;
      for (std::size_t t = 0; t + 1 < seq.size(); ++t) {
        starts[static_cast<std::size_t>(seq[t])] += 1;
        pairs[static_cast<std::size_t>(seq[t])][seq[t + 1]] += 1;
      }
      // Co-occurrence over the distinct items of the most recent 50 (long histories would
      // otherwise dominate the pair counts quadratically).
      std::vector<int> recent(
          seq.end() - static_cast<std::ptrdiff_t>(std::min<std::size_t>(seq.size(), 50)),
          seq.end());
      std::sort(recent.begin(), recent.end());
      recent.erase(std::unique(recent.begin(), recent.end()), recent.end());
      for (const int i : recent) {
        users_with[static_cast<std::size_t>(i)] += 1;
        for (const int j : recent)
          if (i != j) co[static_cast<std::size_t>(i)][j] += 1;
      }
    }
    stats.cosine.resize(U);
    stats.transition.resize(U);
    for (std::size_t i = 0; i < U; ++i) {
      for (const auto& [j, c] : co[i])
        stats.cosine[i].emplace_back(
            j, c / (std::sqrt(users_with[i]) * std::sqrt(users_with[static_cast<std::size_t>(j)])));
      for (const auto& [j, c] : pairs[i]) stats.transition[i].emplace_back(j, c / starts[i]);
      std::sort(stats.cosine[i].begin(), stats.cosine[i].end());
      std::sort(stats.transition[i].begin(), stats.transition[i].end());
    }
  }

  std::vector<int> token_of(U, -1);
  if (vocab != nullptr)
    for (std::size_t j = 0; j < U; ++j)
      if (auto t = vocab->find(names[j])) token_of[j] = *t;

  std::vector<std::string> methods;
  if (model != nullptr) methods.push_back(model_name);
  for (const char* b : {"popularity", "item-knn", "markov"}) methods.push_back(b);
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
        r.full.push_back(metrics_from_rank(rank_of(ts, target_id, all, score_at, names), k));
        int excl = 0;
        for (std::size_t j = 0; j < U; ++j) {
          if (in_input[j] || static_cast<int>(j) == target) continue;
          if (scores[j] > ts || (scores[j] == ts && id_less(names[j], target_id))) ++excl;
        }
        r.full_excl.push_back(
            metrics_from_rank(in_input[static_cast<std::size_t>(target)] ? k : excl, k));
        const auto score_neg = [&](std::size_t c) {
          return scores[static_cast<std::size_t>(negatives[e][c])];
        };
        r.sampled.push_back(
            metrics_from_rank(rank_of(ts, target_id, negatives[e], score_neg, names), k));
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
      for (std::size_t j = 0; j < U; ++j) scores[j] = stats.popularity[j];
      rank_all();
      std::fill(scores.begin(), scores.end(), 0.0);
      std::vector<int> distinct(input.begin(), input.end());
      std::sort(distinct.begin(), distinct.end());
      distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
      for (const int i : distinct)
        for (const auto& [j, c] : stats.cosine[static_cast<std::size_t>(i)])
          scores[static_cast<std::size_t>(j)] += c;
      rank_all();
      std::fill(scores.begin(), scores.end(), 0.0);
      for (const auto& [j, p] : stats.transition[static_cast<std::size_t>(input.back())])
        scores[static_cast<std::size_t>(j)] = p;
      rank_all();

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
