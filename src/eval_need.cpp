// The need protocol (docs/EVALUATION.md): personalized product search. Every customer's last basket
// is held out; each held-out item's name gives a short query (need_query), and the model and the
// text baselines rank the universe for it from the customer's earlier baskets.
#include <atomic>
#include <cmath>
#include <optional>
#include <unordered_set>

#include "evaluation_internal.hpp"
#include "gptrec/error.hpp"
#include "gptrec/evaluation.hpp"
#include "gptrec/recommender.hpp"

namespace gptrec {

namespace {

// How a method's equal scores are ordered: by popularity then id (the protocols' rule), or by id
// alone (text match alone: no popularity in it).
enum class Ties { kPopularityThenId, kId };

struct NeedMethod {
  std::string name;
  enum class Kind { kText, kPopularity, kOwn, kModel } kind;
  double weight = 0;
  std::size_t model_row = 0;  // kModel: which repeat variant
  double popularity = 0;      // kModel: β, the popularity expert's exponent
};

// Metrics of one query from the ranks (0-based) of its relevant items.
NeedMetrics metrics_from_ranks(const std::vector<int>& ranks, int k) {
  NeedMetrics m;
  if (ranks.empty()) return m;
  int best = ranks[0];
  double dcg = 0, idcg = 0;
  for (const int r : ranks) {
    best = std::min(best, r);
    if (r < k) dcg += 1.0 / std::log2(r + 2.0);
  }
  for (int r = 0; r < std::min(static_cast<int>(ranks.size()), k); ++r)
    idcg += 1.0 / std::log2(r + 2.0);
  m.hit = best < k ? 1.0 : 0.0;
  m.ndcg = dcg / idcg;
  m.mrr = 1.0 / (best + 1.0);
  return m;
}

void add_need(NeedMetrics& sum, const NeedMetrics& x) {
  sum.hit += x.hit;
  sum.ndcg += x.ndcg;
  sum.mrr += x.mrr;
}

std::string weight_text(double w) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", w);
  return buf;
}

}  // namespace

NeedWeights default_need_weights() { return NeedWeights{{}, {}, {0.5}, {0.0}}; }

NeedReport evaluate_need(std::span<const CustomerBaskets> customers, int k, const Model* model,
                         const ItemVocabulary* vocab, const std::string& model_name,
                         std::span<const CatalogItem> items, std::uint64_t seed, NeedMatch match,
                         const NeedWeights& weights, std::span<const RepeatVariant> variants,
                         std::vector<NeedQuery>* queries,
                         const std::function<void(std::size_t, std::size_t)>& progress,
                         const BasketRanker* ranker) {
  check_protocol_arguments(k, model, vocab, "the need protocol");
  check_repeat_variants(variants);
  for (const auto* list :
       {&weights.model, &weights.model_popularity, &weights.popularity, &weights.own})
    for (const double w : *list)
      if (!(w >= 0 && std::isfinite(w)))
        throw Error(ErrorCode::kInvalidArgument,
                    "need weights must be finite and >= 0, got " + weight_text(w));

  const auto [training, evaluated] = split_last_baskets(customers);
  const BasketStatistics stats(training);
  const std::size_t U = static_cast<std::size_t>(stats.size());
  std::unordered_map<std::string_view, const CatalogItem*> by_id;
  for (const CatalogItem& item : items) by_id.emplace(item.id, &item);
  std::vector<std::string> universe_names(U);
  std::vector<bool> available(U, true);
  for (std::size_t j = 0; j < U; ++j) {
    auto it = by_id.find(stats.ids()[j]);
    universe_names[j] = it != by_id.end() ? it->second->name : stats.ids()[j];
    if (it != by_id.end()) available[j] = it->second->available && it->second->product;
  }
  const NameIndex index(universe_names, match);
  std::vector<double> log_popularity(U);
  for (std::size_t j = 0; j < U; ++j) log_popularity[j] = std::log1p(stats.popularity()[j]);

  const std::vector<int> token_of = universe_tokens(stats.ids(), vocab);

  // The methods, in report order.
  const std::vector<RepeatVariant> rows = model_rows(model, model_name, variants);
  std::vector<RepeatMix> repeats;
  for (const RepeatVariant& v : rows) repeats.push_back(v.repeat);
  std::vector<NeedMethod> methods;
  const std::vector<double> model_weights = weights.model.empty() && model != nullptr
                                                ? std::vector{model->config().need_weight}
                                                : weights.model;
  const std::vector<double> model_popularity =
      weights.model_popularity.empty()
          ? std::vector{model != nullptr ? model->config().need_popularity : 0.0}
          : weights.model_popularity;
  for (std::size_t r = 0; r < rows.size(); ++r)
    for (const double w : model_weights)
      for (const double b : model_popularity) {
        // β shows in the name when it is in use or a grid of it is asked for.
        const bool show = b != 0 || !weights.model_popularity.empty();
        methods.push_back({rows[r].name + " w=" + weight_text(w) +
                               (show ? " popularity=" + weight_text(b) : std::string()),
                           NeedMethod::Kind::kModel, w, r, b});
      }
  methods.push_back({"BM25 (text alone)", NeedMethod::Kind::kText, 1, 0});
  const NeedWeights defaults = default_need_weights();
  for (const double w : weights.popularity.empty() ? defaults.popularity : weights.popularity)
    methods.push_back(
        {"BM25 + popularity w=" + weight_text(w), NeedMethod::Kind::kPopularity, w, 0});
  for (const double w : weights.own.empty() ? defaults.own : weights.own)
    methods.push_back({"BM25 + own frequency w=" + weight_text(w), NeedMethod::Kind::kOwn, w, 0});
  const std::size_t M = methods.size();

  struct PerCustomer {
    std::vector<NeedMetrics> all, never_bought;  // sums per method
    int queries = 0, never_bought_queries = 0;
    double fitting_any = 0, fitting_all = 0, targets = 0;
    std::vector<NeedQuery> listed;
  };
  std::vector<PerCustomer> results(evaluated.size());
  std::atomic<std::size_t> done{0};

#pragma omp parallel
  {
    set_op_threads(1);  // parallel across customers, single-threaded ops inside
    std::optional<Session> session;
    if (model != nullptr) session.emplace(*model);
    std::vector<std::vector<double>> log_probs;  // per model row, over the model's items
    std::vector<std::vector<double>> model_scores;
    std::vector<double> bm25, own(U), score(U);
    std::vector<int> fitted, ranks, new_ranks;
    std::vector<std::size_t> fitting;
#pragma omp for schedule(dynamic, 4)
    for (std::size_t e = 0; e < evaluated.size(); ++e) {
      const CustomerBaskets& c = customers[evaluated[e]];
      const auto input = std::span(c.baskets).first(c.baskets.size() - 1);
      const auto& held_out = c.baskets.back();
      PerCustomer& r = results[e];
      r.all.assign(M, {});
      r.never_bought.assign(M, {});

      std::unordered_set<std::string_view> bought_before;
      std::fill(own.begin(), own.end(), 0.0);
      for (const auto& b : input)
        for (const auto& item : b) {
          bought_before.insert(item);
          if (const int j = stats.index(item); j >= 0) own[static_cast<std::size_t>(j)] += 1;
        }
      for (double& v : own) v = std::log1p(v);

      // The customer's queries, in held-out order, equal ones once.
      std::vector<std::string> texts;
      std::vector<int> held;  // universe indices of the held-out items
      for (const auto& item : held_out) {
        const int j = stats.index(item);
        if (j < 0 || !available[static_cast<std::size_t>(j)]) continue;
        held.push_back(j);
        std::string q =
            need_query(universe_names[static_cast<std::size_t>(j)], c.customer_id, item, seed);
        if (!q.empty() && std::find(texts.begin(), texts.end(), q) == texts.end())
          texts.push_back(std::move(q));
      }
      if (texts.empty()) {
        report_progress(progress, ++done, evaluated.size());
        continue;
      }

      if (model != nullptr)
        universe_log_probs(*session, *model, *vocab, input, repeats, token_of, log_probs,
                           model_scores, variants.empty() ? ranker : nullptr, c.customer_id);

      for (const std::string& text : texts) {
        const Need need = parse_need(text);
        index.score(need.stems, bm25, &fitted);
        for (std::size_t j = 0; j < U; ++j)
          if (!available[j]) bm25[j] = 0, fitted[j] = 0;
        int fitting_any = 0, fitting_all = 0;
        for (std::size_t j = 0; j < U; ++j)
          if (bm25[j] > 0) {
            ++fitting_any;
            fitting_all += fitted[j] == static_cast<int>(need.stems.size());
          }
        // The ranked items: those with every word of the query (the item that gave it has all).
        keep_every_word_fits(fitted, need.stems.size(), {}, bm25);
        fitting.clear();
        for (std::size_t j = 0; j < U; ++j)
          if (bm25[j] > 0) fitting.push_back(j);
        NeedQuery q{c.customer_id, text, {}, {}, fitting_any, fitting_all};
        std::vector<int> targets, new_targets;
        for (const int j : held)
          if (fitted[static_cast<std::size_t>(j)] == static_cast<int>(need.stems.size())) {
            targets.push_back(j);
            q.targets.push_back(stats.ids()[static_cast<std::size_t>(j)]);
            if (!bought_before.contains(stats.ids()[static_cast<std::size_t>(j)])) {
              new_targets.push_back(j);
              q.new_targets.push_back(q.targets.back());
            }
          }
        ++r.queries;
        r.never_bought_queries += !new_targets.empty();
        r.fitting_any += q.fitting_any;
        r.fitting_all += q.fitting_all;
        r.targets += static_cast<double>(targets.size());

        for (std::size_t m = 0; m < M; ++m) {
          const NeedMethod& method = methods[m];
          const Ties ties =
              method.kind == NeedMethod::Kind::kText ? Ties::kId : Ties::kPopularityThenId;
          for (const std::size_t j : fitting) {
            const double text_score = method.weight * bm25[j];
            switch (method.kind) {
              case NeedMethod::Kind::kText:
                score[j] = text_score;
                break;
              case NeedMethod::Kind::kPopularity:
                score[j] = text_score + log_popularity[j];
                break;
              case NeedMethod::Kind::kOwn:
                score[j] = text_score + own[j];
                break;
              case NeedMethod::Kind::kModel:
                score[j] = text_score + model_scores[method.model_row][j] +
                           (method.popularity != 0 ? method.popularity * log_popularity[j] : 0.0);
                break;
            }
          }
          // Items that fit no word rank after every fitting one, and every target fits; so a
          // target's rank is the number of fitting items ranked above it.
          auto above = [&](std::size_t a, std::size_t b) {
            if (score[a] != score[b]) return score[a] > score[b];
            if (ties == Ties::kPopularityThenId && stats.popularity()[a] != stats.popularity()[b])
              return stats.popularity()[a] > stats.popularity()[b];
            return a < b;  // universe indices are in id order
          };
          auto rank_of = [&](int t) {
            int rank = 0;
            for (const std::size_t j : fitting)
              rank += above(j, static_cast<std::size_t>(t)) ? 1 : 0;
            return rank;
          };
          ranks.clear();
          for (const int t : targets) ranks.push_back(rank_of(t));
          add_need(r.all[m], metrics_from_ranks(ranks, k));
          if (!new_targets.empty()) {
            new_ranks.clear();
            for (const int t : new_targets) new_ranks.push_back(rank_of(t));
            add_need(r.never_bought[m], metrics_from_ranks(new_ranks, k));
          }
        }
        if (queries != nullptr) r.listed.push_back(std::move(q));
      }
      report_progress(progress, ++done, evaluated.size());
    }
  }
  if (progress) progress(evaluated.size(), evaluated.size());

  NeedReport report;
  report.k = k;
  report.customers = static_cast<int>(customers.size());
  report.universe = stats.size();
  std::vector<NeedMetrics> all(M), never_bought(M);
  for (PerCustomer& r : results) {
    if (r.queries == 0) continue;
    ++report.evaluated_customers;
    report.queries += r.queries;
    report.never_bought_queries += r.never_bought_queries;
    report.mean_fitting_any += r.fitting_any;
    report.mean_fitting_all += r.fitting_all;
    report.mean_targets += r.targets;
    for (std::size_t m = 0; m < M; ++m) {
      add_need(all[m], r.all[m]);
      add_need(never_bought[m], r.never_bought[m]);
    }
    if (queries != nullptr)
      for (NeedQuery& q : r.listed) queries->push_back(std::move(q));
  }
  const double n = std::max(1, report.queries), n_new = std::max(1, report.never_bought_queries);
  report.mean_fitting_any /= n;
  report.mean_fitting_all /= n;
  report.mean_targets /= n;
  for (std::size_t m = 0; m < M; ++m) {
    auto mean = [](NeedMetrics x, double d) {
      return NeedMetrics{x.hit / d, x.ndcg / d, x.mrr / d};
    };
    report.methods.push_back({methods[m].name, mean(all[m], n), mean(never_bought[m], n_new)});
  }
  return report;
}

}  // namespace gptrec
