// The next-basket ranker and the TIFU-KNN neighbour search (basket_ranker.hpp). The arithmetic
// follows tools/gptrec_tools/basket_ranker.py and last_basket.py operation for operation, so that
// the evaluation's cross-check can compare rankings exactly.
#include "gptrec/basket_ranker.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "gptrec/error.hpp"
#include "io.hpp"
#include "json_document.hpp"

namespace gptrec {

void tifu_vector(std::span<const std::vector<int>> baskets, double within_decay, double group_decay,
                 int groups, std::vector<double>& u, std::vector<double>& scratch) {
  const std::size_t U = u.size();
  std::fill(u.begin(), u.end(), 0.0);
  const int n = static_cast<int>(baskets.size());
  if (n == 0) return;
  std::vector<int> sizes;
  if (n < groups) {
    sizes.assign(static_cast<std::size_t>(n), 1);
  } else {
    const int base = n / groups, extra = n % groups;
    sizes.assign(static_cast<std::size_t>(groups - extra), base);
    sizes.insert(sizes.end(), static_cast<std::size_t>(extra), base + 1);
  }
  int t = 0;
  for (std::size_t j = 0; j < sizes.size(); ++j) {
    scratch.assign(U, 0.0);
    for (int b = 0; b < sizes[j]; ++b) {
      ++t;
      const double w = std::pow(within_decay, static_cast<double>(n - t));
      for (const int i : baskets[static_cast<std::size_t>(t - 1)])
        scratch[static_cast<std::size_t>(i)] += w;
    }
    const double gw =
        std::pow(group_decay, static_cast<double>(groups - 1) - static_cast<double>(j));
    for (std::size_t i = 0; i < U; ++i) u[i] += gw * scratch[i] / sizes[j];
  }
  for (double& x : u) x /= static_cast<double>(sizes.size());
}

TifuNeighbors::TifuNeighbors(std::vector<std::string> ids, std::span<const IndexBaskets> baskets,
                             int n_items, double within_decay, double group_decay, int groups)
    : n_items_(n_items),
      within_decay_(within_decay),
      group_decay_(group_decay),
      groups_(groups),
      by_item_(static_cast<std::size_t>(n_items)) {
  for (std::size_t r = 0; r < ids.size(); ++r) row_.emplace(std::move(ids[r]), static_cast<int>(r));
  std::vector<double> u(static_cast<std::size_t>(n_items)), scratch;
  for (std::size_t r = 0; r < baskets.size(); ++r) {
    tifu_vector(baskets[r], within_decay, group_decay, groups, u, scratch);
    auto& v = vectors_.emplace_back();
    double norm = 0;
    for (std::size_t i = 0; i < u.size(); ++i)
      if (u[i] != 0) {
        v.emplace_back(static_cast<int>(i), u[i]);
        norm += u[i] * u[i];
        by_item_[i].emplace_back(static_cast<int>(r), u[i]);
      }
    squared_norm_.push_back(norm);
  }
}

void TifuNeighbors::vector_of(std::span<const std::vector<int>> baskets,
                              std::vector<double>& q) const {
  std::vector<double> scratch;
  q.assign(static_cast<std::size_t>(n_items_), 0.0);
  tifu_vector(baskets, within_decay_, group_decay_, groups_, q, scratch);
}

int TifuNeighbors::sum_nearest(const std::vector<double>& q, std::string_view exclude, int k,
                               std::vector<double>& sum) const {
  const std::size_t R = vectors_.size();
  double qq = 0;
  // Per-thread scratch, reused by the thread's next customer (no allocation per search).
  thread_local std::vector<double> dot, dist;
  thread_local std::vector<int> order;
  dot.assign(R, 0.0);
  for (std::size_t i = 0; i < q.size(); ++i)
    if (q[i] != 0) {
      qq += q[i] * q[i];
      for (const auto& [r, w] : by_item_[i]) dot[static_cast<std::size_t>(r)] += q[i] * w;
    }
  int self = -1;
  if (!exclude.empty())
    if (auto it = row_.find(std::string(exclude)); it != row_.end()) self = it->second;
  order.clear();
  dist.resize(R);
  for (std::size_t r = 0; r < R; ++r) {
    dist[r] = qq + squared_norm_[r] - 2.0 * dot[r];
    if (static_cast<int>(r) != self) order.push_back(static_cast<int>(r));
  }
  const std::size_t n = std::min(static_cast<std::size_t>(std::max(k, 0)), order.size());
  std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(n), order.end(),
                    [&](int a, int b) {
                      const double da = dist[static_cast<std::size_t>(a)],
                                   db = dist[static_cast<std::size_t>(b)];
                      return da != db ? da < db : a < b;
                    });
  sum.assign(static_cast<std::size_t>(n_items_), 0.0);
  for (std::size_t m = 0; m < n; ++m)
    for (const auto& [i, w] : vectors_[static_cast<std::size_t>(order[m])])
      sum[static_cast<std::size_t>(i)] += w;
  return static_cast<int>(n);
}

IndexBaskets BasketRanker::known_baskets(const ItemVocabulary& vocab,
                                         std::span<const std::vector<std::string>> baskets) {
  IndexBaskets out;
  const int first = vocab.first_item_id();
  for (const auto& b : baskets) {
    std::vector<int> idx;
    for (const auto& item : b)
      if (auto t = vocab.find(item)) {
        const int j = *t - first;
        if (j >= 0 && std::find(idx.begin(), idx.end(), j) == idx.end()) idx.push_back(j);
      }
    if (!idx.empty()) out.push_back(std::move(idx));
  }
  return out;
}

namespace {

// The neighbours file: ids and baskets (item indices of `vocab`).
TifuNeighbors read_neighbors(const RankerConfig& config, const ItemVocabulary& vocab,
                             const std::filesystem::path& file) {
  const std::string source = file.string();
  const nlohmann::json j =
      parse_json_document(read_text_file(file, ErrorCode::kBadModel), source, ErrorCode::kBadModel);
  auto fail = [&](const std::string& where, const std::string& what) -> void {
    throw Error(ErrorCode::kBadModel, source + ": " + where + ": " + what);
  };
  if (!j.is_object() || !j.contains("customers") || !j["customers"].is_array())
    throw Error(ErrorCode::kBadModel,
                source + ": expected an object with a \"customers\" array (docs/FORMATS.md)");
  const nlohmann::json& customers = j["customers"];
  std::vector<std::string> ids;
  std::vector<IndexBaskets> baskets;
  std::unordered_map<std::string, bool> seen;
  for (std::size_t c = 0; c < customers.size(); ++c) {
    const std::string at = "customers[" + std::to_string(c) + "]";
    const nlohmann::json& e = customers[c];
    if (!e.is_object()) fail(at, "expected an object");
    if (!e.contains("id") || !e["id"].is_string()) fail(at + ".id", "expected a string");
    if (!e.contains("baskets") || !e["baskets"].is_array())
      fail(at + ".baskets", "expected an array of baskets");
    std::string id = e["id"].get<std::string>();
    if (!seen.emplace(id, true).second) fail(at + ".id", "\"" + id + "\" appears twice");
    std::vector<std::vector<std::string>> items;
    for (std::size_t b = 0; b < e["baskets"].size(); ++b) {
      const nlohmann::json& basket = e["baskets"][b];
      const std::string bat = at + ".baskets[" + std::to_string(b) + "]";
      if (!basket.is_array()) fail(bat, "expected an array of item ids");
      auto& out = items.emplace_back();
      for (std::size_t i = 0; i < basket.size(); ++i) {
        if (!basket[i].is_string())
          fail(bat + "[" + std::to_string(i) + "]", "expected an item id string");
        out.push_back(basket[i].get<std::string>());
      }
    }
    ids.push_back(std::move(id));
    baskets.push_back(BasketRanker::known_baskets(vocab, items));
  }
  return TifuNeighbors(std::move(ids), baskets, static_cast<int>(vocab.items().size()),
                       config.within_decay, config.group_decay, config.groups);
}

}  // namespace

BasketRanker::BasketRanker(const RankerConfig& config, const ItemVocabulary& vocab,
                           const std::filesystem::path& neighbors_file)
    : BasketRanker(config, read_neighbors(config, vocab, neighbors_file)) {}

void BasketRanker::apply(std::span<const std::vector<int>> baskets, std::string_view customer_id,
                         std::vector<double>& log_probs) const {
  const RankerConfig& k = config_;
  const std::size_t U = log_probs.size();
  // n(j): the neighbours' summed vectors, normalized to sum 1.
  std::vector<double> q, share;
  neighbors_.vector_of(baskets, q);
  neighbors_.sum_nearest(q, customer_id, k.neighbors, share);
  share.resize(U, 0.0);
  const double total = std::accumulate(share.begin(), share.end(), 0.0);
  if (total > 0)
    for (double& x : share) x /= total;
  // The customer's own purchases of each item.
  const int n = static_cast<int>(baskets.size());
  std::vector<double> count(U, 0.0), decayed(U, 0.0), last(U, 0.0);
  for (int t = 0; t < n; ++t) {
    const double weight = std::pow(k.decay, static_cast<double>(n - 1 - t));
    for (const int j : baskets[static_cast<std::size_t>(t)]) {
      count[static_cast<std::size_t>(j)] += 1;
      decayed[static_cast<std::size_t>(j)] += weight;
    }
  }
  if (n > 0)
    for (const int j : baskets.back()) last[static_cast<std::size_t>(j)] = 1;
  const double log_baskets = std::log1p(static_cast<double>(n));
  // z(j), then its log-softmax.
  double top = -INFINITY;
  for (std::size_t j = 0; j < U; ++j) {
    const double m = std::log((1 - k.mix) * std::exp(log_probs[j]) + k.mix * share[j]);
    double z = k.explore * m;
    if (count[j] > 0)
      z += k.repeat + k.count * std::log1p(count[j]) + k.decayed * decayed[j] + k.last * last[j] +
           k.baskets * log_baskets + k.repeat_explore * m;
    log_probs[j] = z;
    top = std::max(top, z);
  }
  double sum = 0;
  for (const double z : log_probs) sum += std::exp(z - top);
  const double lse = top + std::log(sum);
  for (double& z : log_probs) z -= lse;
}

}  // namespace gptrec
