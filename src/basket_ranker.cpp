// The next-basket ranker and the TIFU-KNN neighbour search (basket_ranker.hpp). The arithmetic
// follows tools/gptrec_tools/basket_ranker.py and last_basket.py operation for operation, so that
// the evaluation's cross-check can compare rankings exactly.
#include "gptrec/basket_ranker.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <unordered_set>

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
  // Each group's sums are added into u for the items its baskets hold (the others would add 0),
  // and their scratch entries are zeroed again: O(items) per group, not O(U). An item listed twice
  // adds its sum once, then 0.
  scratch.assign(U, 0.0);
  std::vector<int> in_group;
  int t = 0;
  for (std::size_t j = 0; j < sizes.size(); ++j) {
    in_group.clear();
    for (int b = 0; b < sizes[j]; ++b) {
      ++t;
      const double w = std::pow(within_decay, static_cast<double>(n - t));
      for (const int i : baskets[static_cast<std::size_t>(t - 1)]) {
        if (scratch[static_cast<std::size_t>(i)] == 0.0) in_group.push_back(i);
        scratch[static_cast<std::size_t>(i)] += w;
      }
    }
    const double gw =
        std::pow(group_decay, static_cast<double>(groups - 1) - static_cast<double>(j));
    for (const int i : in_group) {
      const auto k = static_cast<std::size_t>(i);
      u[k] += gw * scratch[k] / sizes[j];
      scratch[k] = 0.0;
    }
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

namespace {

// Adds `item`'s index (token - first_item_id) to `basket` when the vocabulary knows it and the
// basket does not hold it yet.
void add_known_item(const ItemVocabulary& vocab, std::string_view item, std::vector<int>& basket) {
  if (const auto token = vocab.find(item)) {
    const int j = *token - vocab.first_item_id();
    if (j >= 0 && std::find(basket.begin(), basket.end(), j) == basket.end()) basket.push_back(j);
  }
}

}  // namespace

IndexBaskets BasketRanker::known_baskets(const ItemVocabulary& vocab,
                                         std::span<const std::vector<std::string>> baskets) {
  IndexBaskets out;
  for (const auto& b : baskets) {
    std::vector<int> idx;
    for (const auto& item : b) add_known_item(vocab, item, idx);
    if (!idx.empty()) out.push_back(std::move(idx));
  }
  return out;
}

namespace {

// The neighbours file read in one SAX pass into ids and baskets (item indices of `vocab`), with
// the limits and messages of every JSON document gptrec reads (json_document.hpp). No DOM: the
// file holds hundreds of thousands of item ids, and building a DOM of them took most of a
// `suggest` process's time. Other keys (format, version, ...) are skipped whatever they hold.
class NeighborsReader {
 public:
  using json = nlohmann::json;

  NeighborsReader(const ItemVocabulary& vocab, const std::string& source)
      : vocab_(vocab), structure_(source, ErrorCode::kBadModel) {}

  bool null() { return scalar(); }
  bool boolean(bool) { return scalar(); }
  bool number_integer(json::number_integer_t) { return scalar(); }
  bool number_unsigned(json::number_unsigned_t) { return scalar(); }
  bool number_float(json::number_float_t, const json::string_t&) { return scalar(); }
  bool binary(json::binary_t&) { return scalar(); }
  bool string(json::string_t& s) {
    structure_.child();
    if (skip_ > 0) return true;
    switch (role()) {
      case Role::kId:
        id_ = std::move(s);
        has_id_ = true;
        return true;
      case Role::kItem:
        add_known_item(vocab_, s, basket_);
        return true;
      case Role::kSkipped:
        return true;
      default:
        wrong();
    }
  }
  bool start_object(std::size_t) {
    structure_.child();
    if (skip_ == 0) {
      const Role r = role();
      if (r == Role::kCustomer) {
        has_id_ = has_baskets_ = false;
        baskets_.clear();
      } else if (r == Role::kSkipped) {
        ++skip_;
      } else if (r != Role::kRoot) {
        wrong();
      }
    } else {
      ++skip_;
    }
    structure_.open(false);
    return true;
  }
  bool start_array(std::size_t) {
    structure_.child();
    if (skip_ == 0) {
      switch (role()) {
        case Role::kCustomers:
          has_customers_ = true;
          break;
        case Role::kBaskets:
          has_baskets_ = true;
          break;
        case Role::kBasket:
          basket_.clear();
          break;
        case Role::kSkipped:
          ++skip_;
          break;
        default:
          wrong();
      }
    } else {
      ++skip_;
    }
    structure_.open(true);
    return true;
  }
  bool key(json::string_t& k) {
    structure_.key(k);
    return true;
  }
  bool end_object() {
    structure_.close();
    if (skip_ > 0) {
      --skip_;
    } else if (structure_.depth() == 2) {
      end_customer();
    } else if (structure_.depth() == 0 && !has_customers_) {
      no_customers();
    }
    return true;
  }
  bool end_array() {
    structure_.close();
    if (skip_ > 0) {
      --skip_;
    } else if (structure_.depth() == 4 && !basket_.empty()) {
      baskets_.push_back(std::move(basket_));
      basket_.clear();
    }
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const json::exception& e) {
    structure_.fail_syntax(e);
  }

  std::vector<std::string> ids;
  std::vector<IndexBaskets> baskets;

 private:
  // What the value being parsed is, by its depth and key (the document's shape, docs/FORMATS.md).
  enum class Role { kRoot, kCustomers, kCustomer, kId, kBaskets, kBasket, kItem, kSkipped };

  Role role() const {
    switch (structure_.depth()) {
      case 0:
        return Role::kRoot;
      case 1:
        return structure_.current_key() == "customers" ? Role::kCustomers : Role::kSkipped;
      case 2:
        return Role::kCustomer;
      case 3:
        return structure_.current_key() == "id"        ? Role::kId
               : structure_.current_key() == "baskets" ? Role::kBaskets
                                                       : Role::kSkipped;
      case 4:
        return Role::kBasket;
      default:
        return Role::kItem;
    }
  }
  bool scalar() {
    structure_.child();
    if (skip_ == 0 && role() != Role::kSkipped) wrong();
    return true;
  }
  // The value being parsed has the wrong type for its place.
  [[noreturn]] void wrong() const {
    switch (role()) {
      case Role::kRoot:
      case Role::kCustomers:
        no_customers();
      case Role::kCustomer:
        structure_.fail_at(structure_.path(), "expected an object");
      case Role::kId:
        structure_.fail_at(structure_.path(), "expected a string");
      case Role::kBaskets:
        structure_.fail_at(structure_.path(), "expected an array of baskets");
      case Role::kBasket:
        structure_.fail_at(structure_.path(), "expected an array of item ids");
      default:
        structure_.fail_at(structure_.path(), "expected an item id string");
    }
  }
  [[noreturn]] void no_customers() const {
    structure_.fail_at("", "expected an object with a \"customers\" array (docs/FORMATS.md)");
  }
  void end_customer() {
    const std::string at = structure_.path();
    if (!has_id_) structure_.fail_at(at + ".id", "expected a string");
    if (!has_baskets_) structure_.fail_at(at + ".baskets", "expected an array of baskets");
    if (!seen_.insert(id_).second) structure_.fail_at(at + ".id", "\"" + id_ + "\" appears twice");
    ids.push_back(std::move(id_));
    baskets.push_back(std::move(baskets_));
    baskets_.clear();
  }

  const ItemVocabulary& vocab_;
  JsonStructure structure_;
  std::size_t skip_ = 0;  // containers open inside a skipped value
  bool has_customers_ = false;
  // The customer being read.
  std::string id_;
  bool has_id_ = false, has_baskets_ = false;
  IndexBaskets baskets_;
  std::vector<int> basket_;
  std::unordered_set<std::string> seen_;
};

TifuNeighbors read_neighbors(const RankerConfig& config, const ItemVocabulary& vocab,
                             const std::filesystem::path& file) {
  const std::string text = read_text_file(file, ErrorCode::kBadModel);
  NeighborsReader reader(vocab, file.string());
  nlohmann::json::sax_parse(text.data(), text.data() + text.size(), &reader);
  return TifuNeighbors(std::move(reader.ids), reader.baskets,
                       static_cast<int>(vocab.items().size()), config.within_decay,
                       config.group_decay, config.groups);
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
