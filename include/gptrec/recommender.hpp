// The recommender: a customer's history in, ranked, filtered and explained catalog suggestions
// out. One API over two kinds of model:
//   item models  one token per catalog item; one forward pass over the history scores every item
//                (score = probability, softmax over the item tokens);
//   text models  any GPT-2 checkpoint; the history is rendered into a prompt and every candidate's
//                name is scored by its mean token log-probability after the prompt (the prompt is
//                computed once and shared by all candidates).
// Suggestions are always catalog items.
//
// Thread-safety: a Recommender is immutable after loading; recommend() is const and may be called
// from many threads at once on one shared Recommender. Each calling thread keeps its own Session
// and scratch buffers, reused by its next call (a few MB per thread for the shipped models), so a
// service calls recommend() from a fixed pool of worker threads, not from one thread per
// connection. Each call's forward passes use the calling thread's op threads (set_op_threads,
// model.hpp): a service answering queries in parallel calls set_op_threads(1) in each worker. The
// other functions here are pure.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "gptrec/basket_ranker.hpp"
#include "gptrec/config.hpp"
#include "gptrec/history.hpp"
#include "gptrec/model.hpp"
#include "gptrec/need.hpp"
#include "gptrec/tokenizer.hpp"

namespace gptrec {

// The tokens an item model sees for a history (docs/FORMATS.md "Sequences of an item model").
struct ItemSequence {
  std::vector<int> tokens;         // starts with <bos>
  std::vector<int> item_index;     // per token: index into `items`, or -1 for special tokens
  std::vector<std::string> items;  // distinct known purchased items in the kept part, oldest first
  int dropped_baskets = 0;         // oldest baskets (events, in the items format) left out to fit
  int dropped_items = 0;           // item tokens left out with them
  std::vector<std::string> unknown_items;  // distinct purchased items the vocabulary lacks
};

// Builds the sequence from purchase baskets, skipping unknown items (and baskets left empty) and
// keeping the most recent baskets whose tokens fit in max_tokens (<bos> always kept). Throws
// Error(kInvalidArgument) for max_tokens < 1.
ItemSequence build_item_sequence(const ItemVocabulary& vocab, std::span<const Basket> baskets,
                                 SequenceFormat format, int max_tokens);

// Applies an item model's repeat component (RepeatMix, config.hpp) to `log_probs`, the GPT's
// log-softmax over the item tokens (index = token - first_item_id) after `tokens` (an item
// sequence: <bos>, items, and <sep> between baskets in the baskets format). Afterwards log_probs
// holds log((1 - w) p + w copy). With weight 0, or no item in `tokens`, it is left unchanged.
void mix_repeat(std::span<const int> tokens, int first_item_id, int sep_id, SequenceFormat format,
                const RepeatMix& repeat, std::vector<double>& log_probs);

// What an item model's ranker (BasketRanker, basket_ranker.hpp) reads for one customer, besides
// the GPT's output: its known baskets (BasketRanker::known_baskets) and id. No ranker: nullptr.
struct RankerInput {
  const BasketRanker* ranker = nullptr;
  std::span<const std::vector<int>> baskets;
  std::string_view customer_id;
};

// An item model's log-probabilities of its items after an item sequence `tokens` (as
// build_item_sequence makes it): one forward pass in `session` (cleared first; it holds `tokens`
// afterwards), the GPT's log-softmax over the item tokens, then for each of `repeats` the repeat
// component (mix_repeat), then the ranker when `ranker.ranker` is set. out[r][j] is the
// log-probability of item token first_item_id + j under repeats[r]. Recommender::recommend (item
// models) and the evaluation (evaluation.hpp) score items with it. Throws Error(kInvalidArgument)
// as Session::append.
void item_log_probs(Session& session, const ItemVocabulary& vocab, SequenceFormat format,
                    std::span<const int> tokens, std::span<const RepeatMix> repeats,
                    std::vector<std::vector<double>>& out, const RankerInput& ranker = {});

// How a text model's prompt is written (recommender.json in the model directory; all optional).
struct PromptTemplate {
  std::string prompt = "A shopper's past purchases, oldest first: {history}.\nTheir next purchase:";
  std::string history_item = "{name}";
  std::string separator = "; ";
  std::string candidate = " {name}";
  // The prompt of a request with a need (RecommendOptions::need): {need} is the need as given.
  std::string need_prompt =
      "A shopper's past purchases, oldest first: {history}.\nWhat they are looking for: "
      "{need}.\nTheir next purchase:";
  int max_history_items = 50;  // most recent distinct items rendered

  // Parses recommender.json; `source` names it in errors. Throws Error(kBadModel) for invalid
  // JSON, a non-string field, a bad max_history_items, a prompt without {history} or a
  // need_prompt without {history} and {need}.
  static PromptTemplate parse(std::string_view json_text, std::string_view source);
};

// Which items a list of suggestions holds (README, "suggest").
enum class SuggestMode {
  kMixed,     // the customer's best re-buys and the best items new to them: half the list (rounded
              // down) for re-buys, the rest for new items; a side short of candidates (of positive
              // score) leaves its places to the other; listed together by score
  kBuyAgain,  // only items the customer bought before
  kDiscover,  // only items the customer never bought
  kAll,       // every item by score alone, as the model ranks them
};
// "mixed", "buy-again", "discover", "all"; parse_suggest_mode returns nullopt for other text.
std::string_view to_string(SuggestMode m);
std::optional<SuggestMode> parse_suggest_mode(std::string_view text);

// log(1.1): the default RecommendOptions::explain_min_effect.
inline constexpr double kDefaultExplainMinEffect = 0.09531017980432493;

struct RecommendOptions {
  int top_n = 10;
  SuggestMode mode = SuggestMode::kMixed;
  bool exclude_purchased = false;       // the same as mode kDiscover (kept for compatibility)
  std::optional<std::string> category;  // only items of this category
  // What the customer says they need ("lunch bag"): only the products whose name fits it
  // (need.hpp), ranked for the customer by p(j | history, need). When no allowed product fits,
  // the suggestions are the ones without the need and Recommendations::need_fallback says why.
  std::optional<std::string> need;
  std::optional<double> min_price, max_price;  // only items with a catalog price in the range
  // Explanations (README, `because`): every distinct product of the history the model reads is
  // left out in turn and the suggestions re-scored (occlusion); a suggestion's reasons are the
  // past items whose removal lowers its score most, never the suggested item itself.
  bool explain = false;
  int explain_reasons = 2;  // most past items named per suggestion
  // Smallest effect named as a reason (Reason::effect, log scale): by default log 1.1, i.e. the
  // past item raised the suggestion's score by 10% at least; 0 names every item that raised it.
  double explain_min_effect = kDefaultExplainMinEffect;
};

// Throws Error(kInvalidArgument) for top_n < 1, exclude_purchased with a mode other than kMixed
// or kDiscover, a price bound that is negative or not finite, min_price > max_price, a need
// parse_need refuses, explain_reasons < 0 or an explain_min_effect that is negative or not finite.
// recommend() checks its options so; callers may check them earlier (the CLI does, before loading
// the model).
void check_options(const RecommendOptions& options);

struct Reason {
  std::string item_id;
  std::string name;
  // The model's log score of the suggestion with the whole history minus without this item
  // (item models: log-probability; text models: mean log-probability per token).
  double effect = 0;
};

struct Suggestion {
  int rank = 0;                       // 1 = best
  const CatalogItem* item = nullptr;  // into the Recommender's catalog: valid while it lives
  double score = 0;
  bool purchased_before = false;  // times_bought > 0
  int times_bought = 0;           // the customer's orders (baskets) with the item
  int times_returned = 0;         // the customer's returns of it (ItemActivity, history.hpp)
  std::string last_bought;        // date of the last order with it ("" without dates)
  std::vector<Reason> because;    // with options.explain: items that raised the score most
  // With a need: the words of the item's name that fit it (lowercase), and BM25(need, name).
  std::vector<std::string> need_words;
  double need_match = 0;
};

// kNeedProbability: p(j | history, need), the model's probability times (1 + count_j)^β
// exp(w * BM25(need, j)), normalized over the allowed products that fit the need (w, β:
// ModelConfig::need_weight, need_popularity).
enum class ScoreKind { kProbability, kMeanLogprob, kPopularity, kNeedProbability };
// "probability", "mean_logprob", "popularity", "need_probability".
std::string_view to_string(ScoreKind k);

struct Recommendations {
  std::string customer_id;
  ScoreKind score_kind = ScoreKind::kProbability;
  // Set when the model could not be used (no known purchases): suggestions by popularity.
  std::optional<std::string> fallback_reason;
  std::vector<std::string> unknown_items;  // skipped history items
  int history_items_used = 0;              // distinct purchased items the model saw
  int dropped_baskets = 0;                 // oldest baskets left out to fit the context
  std::vector<Suggestion> suggestions;
  // With a need: its content words, and when no allowed product fits it, why (the suggestions
  // are then the ones without the need).
  std::optional<Need> need;
  std::optional<std::string> need_fallback;
  // With a need that fits: true when the products listed hold every word of it, false when no
  // allowed product holds them all and the ones holding some are listed (need.hpp,
  // keep_every_word_fits).
  bool need_every_word = false;
};

class Recommender {
 public:
  // Loads a model directory. Item models use their items.json as catalog unless `catalog` is
  // given: then the candidates are the catalog's items that the model knows, with the catalog's
  // names, prices, categories and availability. Text models need a catalog.
  // Errors: Error(kBadModel) for the model directory (config, weights, tokenizer, items.json,
  // recommender.json), Error(kInvalidArgument) for a text model without a catalog,
  // Error(kBadInput) for a catalog item whose text does not fit the context.
  static Recommender load(const std::filesystem::path& model_dir,
                          std::optional<Catalog> catalog = std::nullopt);

  // Ranks the catalog for `history` (best first, at most options.top_n, after the filters).
  // Items unknown to the model are skipped; with no known purchase the suggestions fall back to
  // popularity (fallback_reason says why). With a need, only the products that fit it are ranked
  // (need_fallback when none does). Throws Error(kInvalidArgument) as check_options, and for a
  // text model Error(kBadInput) when the prompt and the longest candidate cannot fit the context.
  // Thread-safe (const).
  Recommendations recommend(const History& history, const RecommendOptions& options) const;

  ModelKind kind() const { return model_->config().kind; }
  const Model& model() const { return *model_; }
  const std::filesystem::path& directory() const { return directory_; }
  // Candidate items (the catalog the recommender suggests from).
  const std::vector<CatalogItem>& catalog() const { return catalog_; }
  // Catalog items that could not be scored (unknown to an item model).
  const std::vector<std::string>& unscorable_items() const { return unscorable_; }
  // False when the catalog or the item vocabulary marks the item "product": false (postage, fees:
  // never suggested, never a reason); true for products and for items neither knows.
  bool is_product(const std::string& item_id) const;
  // The index of the candidates' names that needs are matched against (in catalog() order).
  const NameIndex& name_index() const { return name_index_; }

 private:
  Recommender() = default;
  Recommendations recommend_items(const History& history, const RecommendOptions& options) const;
  Recommendations recommend_text(const History& history, const RecommendOptions& options) const;
  // Candidates that may be suggested: available products of the requested category.
  std::vector<bool> allowed_candidates(const RecommendOptions& options) const;
  // Applies the return rule to `scores` (per candidate; out.score_kind says their scale) and
  // appends the suggestions options.mode chooses.
  void add_suggestions(std::vector<double>& scores, const std::vector<bool>& allowed,
                       const std::unordered_map<std::string, ItemActivity>& activity,
                       const RecommendOptions& options, Recommendations& out) const;
  void add_popular_suggestions(const std::vector<bool>& allowed,
                               const std::unordered_map<std::string, ItemActivity>& activity,
                               const RecommendOptions& options, Recommendations& out) const;
  // With a need: BM25 of every candidate into `bm25` and true when an allowed candidate that the
  // mode lists fits it; false (and out.need_fallback set) when none does. Sets out.need.
  bool fit_need(const RecommendOptions& options, const std::vector<bool>& allowed,
                const std::unordered_map<std::string, ItemActivity>& activity,
                std::vector<double>& bm25, Recommendations& out) const;
  void describe_need_fit(const std::vector<double>& bm25, Recommendations& out) const;
  // Item models: the reasons of out.suggestions by occlusion (RecommendOptions::explain), from
  // `session` holding seq.tokens and `log_probs`, the model's item log-probabilities after them.
  // `ranker` is the ranker and baskets log_probs were computed with (its baskets without the
  // left-out item score each variant).
  void explain_items(Session& session, const ItemSequence& seq, const RankerInput& ranker,
                     const std::vector<double>& log_probs, const RecommendOptions& options,
                     Recommendations& out) const;
  // The name of a catalog or vocabulary item (its id when neither names it).
  std::string item_name(const std::string& item_id) const;

  std::filesystem::path directory_;
  std::shared_ptr<const Model> model_;
  std::shared_ptr<const Tokenizer> tokenizer_;
  const ItemVocabulary* vocab_ = nullptr;           // item models: tokenizer_ as ItemVocabulary
  std::vector<CatalogItem> catalog_;                // candidates
  std::vector<int> candidate_token_;                // item models: token id per candidate
  std::vector<std::vector<int>> candidate_tokens_;  // text models: tokens of each candidate text
  std::unordered_map<std::string, std::size_t> candidate_index_;
  std::vector<std::string> unscorable_;
  PromptTemplate template_;
  NameIndex name_index_;
  std::shared_ptr<const BasketRanker> ranker_;  // item models with a ranker
};

}  // namespace gptrec
