// What the evaluation protocols share (evaluation_internal.hpp).
#include <cmath>

#include "evaluation_internal.hpp"
#include "gptrec/error.hpp"
#include "gptrec/recommender.hpp"

namespace gptrec {

void check_repeat_variants(std::span<const RepeatVariant> variants) {
  for (const RepeatVariant& v : variants)
    if (!(v.repeat.weight >= 0 && v.repeat.weight < 1) ||
        !(v.repeat.decay > 0 && v.repeat.decay <= 1))
      throw Error(ErrorCode::kInvalidArgument,
                  v.name + ": the repeat weight must be in [0, 1) and the decay in (0, 1]");
}

LastBasketSplit split_last_baskets(std::span<const CustomerBaskets> customers) {
  LastBasketSplit split;
  for (std::size_t c = 0; c < customers.size(); ++c) {
    if (customers[c].baskets.size() < 2) continue;
    split.evaluated.push_back(c);
    CustomerBaskets t{customers[c].customer_id, customers[c].baskets};
    t.baskets.pop_back();
    split.training.push_back(std::move(t));
  }
  return split;
}

std::vector<RepeatVariant> model_rows(const Model* model, const std::string& model_name,
                                      std::span<const RepeatVariant> variants) {
  if (model == nullptr) return {};
  if (variants.empty()) return {RepeatVariant{model_name, model->config().repeat}};
  return {variants.begin(), variants.end()};
}

std::vector<int> universe_tokens(std::span<const std::string> ids, const ItemVocabulary* vocab) {
  std::vector<int> token_of(ids.size(), -1);
  if (vocab != nullptr)
    for (std::size_t j = 0; j < ids.size(); ++j)
      if (auto t = vocab->find(ids[j])) token_of[j] = *t;
  return token_of;
}

void universe_log_probs(Session& session, const Model& model, const ItemVocabulary& vocab,
                        std::span<const std::vector<std::string>> input,
                        std::span<const RepeatMix> repeats, const std::vector<int>& token_of,
                        std::vector<std::vector<double>>& log_probs,
                        std::vector<std::vector<double>>& out, const BasketRanker* ranker,
                        std::string_view customer_id) {
  std::vector<Basket> baskets;
  for (const auto& b : input) baskets.push_back(Basket{{}, std::nullopt, b});
  const ModelConfig& config = model.config();
  const ItemSequence seq =
      build_item_sequence(vocab, baskets, config.sequence_format, config.n_ctx);
  const IndexBaskets known =
      ranker != nullptr ? BasketRanker::known_baskets(vocab, input) : IndexBaskets{};
  item_log_probs(session, vocab, config.sequence_format, seq.tokens, repeats, log_probs,
                 RankerInput{ranker, known, customer_id});
  const int first = vocab.first_item_id();
  out.resize(repeats.size());
  for (std::size_t r = 0; r < repeats.size(); ++r) {
    out[r].assign(token_of.size(), -INFINITY);  // items the model lacks rank last
    for (std::size_t j = 0; j < token_of.size(); ++j)
      if (token_of[j] >= 0) out[r][j] = log_probs[r][static_cast<std::size_t>(token_of[j] - first)];
  }
}

}  // namespace gptrec
