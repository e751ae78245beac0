// The baselines the evaluation protocols compare a model against (docs/EVALUATION.md): their
// statistics, fitted on the training data, and the list of baselines each protocol reports.
// A new baseline is a scoring function (fitted state captured by it) and one entry in
// last_basket_baselines or sasrec_baselines.
#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <string_view>
#include <unordered_map>

#include "evaluation_internal.hpp"
#include "gptrec/basket_ranker.hpp"
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

namespace {

using Input = std::span<const std::vector<std::string>>;
using Scorer =
    std::function<void(std::string_view customer, Input input, std::vector<double>& out)>;

// A hyper-parameter of a tuned baseline: its grid and where the search starts.
struct Parameter {
  std::string name;
  std::vector<double> grid;
  double start;
};

// A baseline with hyper-parameters. `fit` fits it on training baskets (`stats` built from them)
// and returns a function that makes the scorer for given parameter values (in `parameters`
// order); it is called from one thread, the scorers it returns may run on many.
struct TunedBaseline {
  std::string name;
  std::vector<Parameter> parameters;
  std::function<std::function<Scorer(const std::vector<double>&)>(
      const BasketStatistics& stats, std::span<const CustomerBaskets> training)>
      fit;
};

// The distinct universe indices of each basket.
IndexBaskets basket_indices(const BasketStatistics& stats, Input baskets) {
  IndexBaskets out;
  out.reserve(baskets.size());
  for (const auto& b : baskets) out.push_back(stats.indices(std::span(&b, 1)));
  return out;
}

// ---- Personal top-frequency with time decay ----

TunedBaseline top_frequency() {
  return {"top-frequency",
          {{"decay", {0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0}, 1.0}},
          [](const BasketStatistics& stats, std::span<const CustomerBaskets>) {
            const BasketStatistics* s = &stats;
            return [s](const std::vector<double>& p) -> Scorer {
              const double decay = p[0];
              return [s, decay](std::string_view, Input input, std::vector<double>& out) {
                out.assign(s->ids().size(), 0.0);
                const std::size_t n = input.size();
                for (std::size_t t = 0; t < n; ++t)
                  for (const int j : s->indices(input.subspan(t, 1)))
                    out[static_cast<std::size_t>(j)] +=
                        std::pow(decay, static_cast<double>(n - 1 - t));
              };
            };
          }};
}

// ---- First-order Markov with popularity back-off ----

struct MarkovCounts {
  std::vector<std::vector<std::pair<int, double>>> pairs;  // c(i, j), sorted by j
  std::vector<double> starts;                              // c(i)
  std::vector<double> p;                                   // popularity / training baskets
};

TunedBaseline markov_backoff() {
  return {"markov-backoff",
          {{"beta", {0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000}, 10}},
          [](const BasketStatistics& stats, std::span<const CustomerBaskets> training) {
            const std::size_t U = stats.ids().size();
            auto m = std::make_shared<MarkovCounts>();
            std::vector<std::unordered_map<int, double>> pairs(U);
            m->starts.assign(U, 0.0);
            double baskets = 0;
            for (const auto& c : training) {
              baskets += static_cast<double>(c.baskets.size());
              const auto idx = basket_indices(stats, c.baskets);
              for (std::size_t t = 0; t + 1 < idx.size(); ++t)
                for (const int i : idx[t]) {
                  m->starts[static_cast<std::size_t>(i)] += 1;
                  for (const int j : idx[t + 1]) pairs[static_cast<std::size_t>(i)][j] += 1;
                }
            }
            m->pairs.resize(U);
            for (std::size_t i = 0; i < U; ++i) {
              m->pairs[i].assign(pairs[i].begin(), pairs[i].end());
              std::sort(m->pairs[i].begin(), m->pairs[i].end());
            }
            m->p.resize(U);
            for (std::size_t j = 0; j < U; ++j)
              m->p[j] = stats.popularity()[j] / std::max(baskets, 1.0);
            const BasketStatistics* s = &stats;
            return [m, s](const std::vector<double>& params) -> Scorer {
              const double beta = params[0];
              return [m, s, beta](std::string_view, Input input, std::vector<double>& out) {
                const std::size_t U = m->p.size();
                const std::vector<int> last =
                    input.empty() ? std::vector<int>{} : s->indices(input.last(1));
                if (last.empty()) {
                  out = m->p;
                  return;
                }
                out.assign(U, 0.0);
                std::vector<double> c(U);
                for (const int i : last) {
                  const auto ui = static_cast<std::size_t>(i);
                  if (m->starts[ui] + beta > 0) {
                    std::fill(c.begin(), c.end(), 0.0);
                    for (const auto& [j, n] : m->pairs[ui]) c[static_cast<std::size_t>(j)] = n;
                    for (std::size_t j = 0; j < U; ++j)
                      out[j] += (c[j] + beta * m->p[j]) / (m->starts[ui] + beta);
                  } else {
                    for (std::size_t j = 0; j < U; ++j) out[j] += m->p[j];
                  }
                }
                for (double& x : out) x /= static_cast<double>(last.size());
              };
            };
          }};
}

// ---- TIFU-KNN (Hu, He, Gao and Zhang, SIGIR 2020) ----

TunedBaseline tifu_knn() {
  const std::vector<double> tenths = {0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0};
  return {"tifu-knn",
          {{"neighbors", {100, 300, 500, 700, 900, 1100, 1300}, 300},
           {"within_decay", tenths, 0.9},
           {"group_decay", tenths, 0.7},
           {"groups", {1, 3, 5, 7, 9}, 7},
           {"alpha", {0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0}, 0.7}},
          [](const BasketStatistics& stats, std::span<const CustomerBaskets> training) {
            auto ids = std::make_shared<std::vector<std::string>>();
            auto baskets = std::make_shared<std::vector<IndexBaskets>>();
            for (const auto& c : training) {
              ids->push_back(c.customer_id);
              baskets->push_back(basket_indices(stats, c.baskets));
            }
            // The vectors of the last (within_decay, group_decay, groups) asked for: the search
            // asks for the same ones with every k and alpha.
            auto last = std::make_shared<std::shared_ptr<const TifuNeighbors>>();
            const BasketStatistics* s = &stats;
            return [s, ids, baskets, last](const std::vector<double>& p) -> Scorer {
              const int k = static_cast<int>(p[0]), groups = static_cast<int>(p[3]);
              const double alpha = p[4];
              if (!*last || (*last)->within_decay() != p[1] || (*last)->group_decay() != p[2] ||
                  (*last)->groups() != groups)
                *last = std::make_shared<const TifuNeighbors>(*ids, *baskets, s->size(), p[1], p[2],
                                                              groups);
              std::shared_ptr<const TifuNeighbors> pool = *last;
              return [s, pool, k, alpha](std::string_view customer, Input input,
                                         std::vector<double>& out) {
                std::vector<double> q, mean;
                pool->vector_of(basket_indices(*s, input), q);
                const int n = pool->sum_nearest(q, customer, k, mean);
                if (n > 0)
                  for (double& x : mean) x /= static_cast<double>(n);
                out.resize(q.size());
                for (std::size_t i = 0; i < q.size(); ++i)
                  out[i] = alpha * q[i] + (1 - alpha) * mean[i];
              };
            };
          }};
}

// selection_score of tools/gptrec_tools/last_basket.py: the mean of Recall@k and NDCG@k over the
// two settings, for `scorer` on the validation customers.
double validation_score(const BasketStatistics& stats, std::span<const CustomerBaskets> customers,
                        std::span<const std::size_t> cases, const Scorer& scorer, int k) {
  std::vector<std::pair<RankingMetrics, RankingMetrics>> per_case(cases.size());
  std::vector<char> has_discovery(cases.size());
#pragma omp parallel
  {
    HeldOutTargets targets;
    std::vector<double> scores;
    std::vector<int> top;
#pragma omp for schedule(dynamic, 8)
    for (std::size_t e = 0; e < cases.size(); ++e) {
      const CustomerBaskets& c = customers[cases[e]];
      const auto input = std::span(c.baskets).first(c.baskets.size() - 1);
      targets.set(stats, input, c.baskets.back());
      scorer(c.customer_id, input, scores);
      per_case[e] = score_held_out(stats, scores, targets, k, top);
      has_discovery[e] = targets.discovery > 0;
    }
  }
  RankingMetrics next, discovery;
  int n_discovery = 0;
  for (std::size_t e = 0; e < cases.size(); ++e) {
    add_to(next, per_case[e].first);
    if (has_discovery[e]) {
      add_to(discovery, per_case[e].second);
      ++n_discovery;
    }
  }
  next = mean_of(next, static_cast<int>(cases.size()));
  discovery = mean_of(discovery, n_discovery);
  return (next.recall + next.ndcg + discovery.recall + discovery.ndcg) / 4;
}

// Chooses a tuned baseline's parameters on validation baskets (each training customer with at
// least 2 training baskets holds out the last; the method is fitted on the rest), searching the
// grid one parameter at a time from the start values until no change raises validation_score.
std::vector<double> choose_parameters(const TunedBaseline& method,
                                      std::span<const CustomerBaskets> training, int k) {
  std::vector<CustomerBaskets> fit;
  std::vector<std::size_t> cases;
  for (std::size_t c = 0; c < training.size(); ++c) {
    if (training[c].baskets.size() < 2) continue;
    cases.push_back(c);
    CustomerBaskets f{training[c].customer_id, training[c].baskets};
    f.baskets.pop_back();
    fit.push_back(std::move(f));
  }
  std::vector<double> params;
  for (const Parameter& p : method.parameters) params.push_back(p.start);
  if (cases.empty()) return params;
  const BasketStatistics stats(fit);
  const auto make = method.fit(stats, fit);
  std::map<std::vector<double>, double> seen;
  auto score = [&](const std::vector<double>& values) {
    auto it = seen.find(values);
    if (it == seen.end())
      it = seen.emplace(values, validation_score(stats, training, cases, make(values), k)).first;
    return it->second;
  };
  double best = score(params);
  for (bool changed = true; changed;) {
    changed = false;
    for (std::size_t i = 0; i < method.parameters.size(); ++i)
      for (const double v : method.parameters[i].grid) {
        std::vector<double> trial = params;
        trial[i] = v;
        const double s = score(trial);
        if (s > best) {
          best = s;
          params = trial;
          changed = true;
        }
      }
  }
  return params;
}

}  // namespace

std::vector<BasketBaseline> last_basket_baselines(
    const BasketStatistics& stats, std::span<const CustomerBaskets> training, int k,
    const std::function<void(const std::string&)>& progress) {
  const BasketStatistics* s = &stats;
  std::vector<BasketBaseline> out = {
      // Every score 0: BasketStatistics::top_k's tie-break ranks by popularity.
      {"popularity",
       [s](std::string_view, Input, std::vector<double>& out) { out.assign(s->ids().size(), 0.0); },
       {}},
      {"repeat-then-popularity",
       [s](std::string_view, Input input, std::vector<double>& out) {
         s->repeat_scores(input, out);
       },
       {}},
      {"item-knn",
       [s](std::string_view, Input input, std::vector<double>& out) {
         s->item_knn_scores(input, out);
       },
       {}},
      {"markov",
       [s](std::string_view, Input input, std::vector<double>& out) {
         s->markov_scores(input, out);
       },
       {}},
  };
  for (const TunedBaseline& method : {top_frequency(), markov_backoff(), tifu_knn()}) {
    if (progress) progress(method.name);
    const std::vector<double> chosen = choose_parameters(method, training, k);
    BasketBaseline b{method.name, method.fit(stats, training)(chosen), {}};
    for (std::size_t i = 0; i < chosen.size(); ++i)
      b.parameters.emplace_back(method.parameters[i].name, chosen[i]);
    out.push_back(std::move(b));
  }
  return out;
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
