// The baselines the evaluation protocols compare a model against (docs/EVALUATION.md): their
// statistics, fitted on the training data, and the list of baselines each protocol reports.
// A new baseline is a scoring function (fitted state captured by it) and one entry in
// last_basket_baselines or sasrec_baselines.
#include <algorithm>
#include <cmath>
#include <memory>
#include <unordered_map>

#include "evaluation_internal.hpp"
#include "gptrec/evaluation.hpp"

namespace gptrec {

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

std::vector<BasketBaseline> last_basket_baselines(const BasketStatistics& stats,
                                                  std::span<const CustomerBaskets> training) {
  (void)training;  // the baselines so far need only the statistics
  using Input = std::span<const std::vector<std::string>>;
  const BasketStatistics* s = &stats;
  return {
      // Every score 0: BasketStatistics::top_k's tie-break ranks by popularity.
      {"popularity", [s](Input, std::vector<double>& out) { out.assign(s->ids().size(), 0.0); }},
      {"repeat-then-popularity",
       [s](Input input, std::vector<double>& out) { s->repeat_scores(input, out); }},
      {"item-knn", [s](Input input, std::vector<double>& out) { s->item_knn_scores(input, out); }},
      {"markov", [s](Input input, std::vector<double>& out) { s->markov_scores(input, out); }},
  };
}

namespace {

// The sequence statistics of the SASRec baselines, over the training parts.
struct SequenceStatistics {
  std::vector<double> popularity;                               // training events
  std::vector<std::vector<std::pair<int, double>>> cosine;      // users containing both
  std::vector<std::vector<std::pair<int, double>>> transition;  // P(next = j | i)
};

SequenceStatistics sequence_statistics(std::span<const std::vector<int>> training, std::size_t U) {
  SequenceStatistics stats;
  stats.popularity.assign(U, 0.0);
  std::vector<std::unordered_map<int, double>> co(U), pairs(U);
  std::vector<double> users_with(U, 0.0), starts(U, 0.0);
  for (const std::vector<int>& seq : training) {
    for (const int j : seq) stats.popularity[static_cast<std::size_t>(j)] += 1;
    for (std::size_t t = 0; t + 1 < seq.size(); ++t) {
      starts[static_cast<std::size_t>(seq[t])] += 1;
      pairs[static_cast<std::size_t>(seq[t])][seq[t + 1]] += 1;
    }
    // Co-occurrence over the distinct items of the most recent 50 (long histories would
    // otherwise dominate the pair counts quadratically).
    std::vector<int> recent(
        seq.end() - static_cast<std::ptrdiff_t>(std::min<std::size_t>(seq.size(), 50)), seq.end());
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
  return stats;
}

}  // namespace

std::vector<SequenceBaseline> sasrec_baselines(std::span<const std::vector<int>> training,
                                               std::size_t universe) {
  const auto stats =
      std::make_shared<const SequenceStatistics>(sequence_statistics(training, universe));
  using Input = std::span<const int>;
  return {
      {"popularity",
       [stats](Input, std::vector<double>& out) {
         out.assign(stats->popularity.begin(), stats->popularity.end());
       }},
      {"item-knn",
       [stats](Input input, std::vector<double>& out) {
         out.assign(stats->popularity.size(), 0.0);
         std::vector<int> distinct(input.begin(), input.end());
         std::sort(distinct.begin(), distinct.end());
         distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
         for (const int i : distinct)
           for (const auto& [j, c] : stats->cosine[static_cast<std::size_t>(i)])
             out[static_cast<std::size_t>(j)] += c;
       }},
      {"markov",
       [stats](Input input, std::vector<double>& out) {
         out.assign(stats->popularity.size(), 0.0);
         for (const auto& [j, p] : stats->transition[static_cast<std::size_t>(input.back())])
           out[static_cast<std::size_t>(j)] = p;
       }},
  };
}

}  // namespace gptrec
