// The next-basket ranker of an item model (RankerConfig, config.hpp; docs/EVALUATION.md "The
// ranker"): the GPT's probabilities combined with the customer's own purchase counts and recency
// per item and with the purchases of the customers most like them, the nearest neighbours by
// TIFU-KNN vector (Hu et al., SIGIR 2020) among the customers of the model's neighbours file.
// Also the TIFU-KNN vectors and neighbour search that the tifu-knn baseline uses.
//
// Thread-safety: TifuNeighbors and BasketRanker are immutable after construction; their const
// methods may run on many threads at once.
#pragma once

#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "gptrec/config.hpp"
#include "gptrec/tokenizer.hpp"

namespace gptrec {

// Item baskets: per basket the distinct item indices (0..n_items-1), oldest basket first.
using IndexBaskets = std::vector<std::vector<int>>;

// A customer's TIFU-KNN vector over n_items = u.size() items (docs/EVALUATION.md, tifu-knn):
// baskets cut into min(n, groups) groups, basket t (1-based) weighted within_decay^(n - t), group j
// group_decay^(groups - j), group means averaged. `scratch` is reused.
void tifu_vector(std::span<const std::vector<int>> baskets, double within_decay, double group_decay,
                 int groups, std::vector<double>& u, std::vector<double>& scratch);

// Customers' TIFU-KNN vectors and the search for the ones nearest to a vector.
class TifuNeighbors {
 public:
  // ids[r] and baskets[r] describe customer r (their order breaks distance ties).
  TifuNeighbors(std::vector<std::string> ids, std::span<const IndexBaskets> baskets, int n_items,
                double within_decay, double group_decay, int groups);

  int size() const { return static_cast<int>(vectors_.size()); }
  int n_items() const { return n_items_; }
  double within_decay() const { return within_decay_; }
  double group_decay() const { return group_decay_; }
  int groups() const { return groups_; }

  // The TIFU vector of `baskets` with these settings (dense, n_items()).
  void vector_of(std::span<const std::vector<int>> baskets, std::vector<double>& q) const;
  // Adds, nearest first, the vectors of the k customers nearest to `q` (squared Euclidean
  // distance |q|^2 + |p|^2 - 2 q.p, ties by customer order) into `sum` (resized to n_items() and
  // zeroed first), leaving out the customer whose id is `exclude` (none when empty or absent).
  // Returns how many were added (fewer than k when there are fewer customers).
  int sum_nearest(const std::vector<double>& q, std::string_view exclude, int k,
                  std::vector<double>& sum) const;

 private:
  int n_items_;
  double within_decay_, group_decay_;
  int groups_;
  std::unordered_map<std::string, int> row_;
  std::vector<std::vector<std::pair<int, double>>> vectors_;  // sparse, by item index
  std::vector<double> squared_norm_;
  std::vector<std::vector<std::pair<int, double>>> by_item_;  // item -> (customer, weight)
};

class BasketRanker {
 public:
  // Loads `config`'s neighbours file (a JSON object {"customers": [{"id": "...", "baskets":
  // [["item id", ...], ...]}, ...]}, docs/FORMATS.md) for an item model with vocabulary `vocab`;
  // items the vocabulary lacks are skipped. Throws Error(kBadModel) naming the file and the JSON
  // path of what is wrong.
  BasketRanker(const RankerConfig& config, const ItemVocabulary& vocab,
               const std::filesystem::path& neighbors_file);

  // The customer's baskets as the ranker reads them: each purchase basket's items that the
  // vocabulary knows, as item indices (token - first_item_id), distinct; empty baskets dropped.
  static IndexBaskets known_baskets(const ItemVocabulary& vocab,
                                    std::span<const std::vector<std::string>> baskets);

  // Turns `log_probs`, the GPT's log-softmax over the item tokens (index = token - first_item_id),
  // into the ranker's log-softmax, for a customer with these baskets (known_baskets) and id
  // (left out of its own neighbours; may be empty).
  void apply(std::span<const std::vector<int>> baskets, std::string_view customer_id,
             std::vector<double>& log_probs) const;

  const RankerConfig& config() const { return config_; }
  const TifuNeighbors& neighbors() const { return neighbors_; }

 private:
  BasketRanker(const RankerConfig& config, TifuNeighbors neighbors)
      : config_(config), neighbors_(std::move(neighbors)) {}
  RankerConfig config_;
  TifuNeighbors neighbors_;
};

}  // namespace gptrec
