#include "gptrec/recommender.hpp"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <unordered_map>
#include <unordered_set>

#include "gptrec/error.hpp"
#include "gptrec/model_directory.hpp"
#include "gptrec/scoring.hpp"
#include "io.hpp"
#include "json_document.hpp"

namespace gptrec {

using json = nlohmann::json;

std::string_view to_string(ScoreKind k) {
  switch (k) {
    case ScoreKind::kProbability:
      return "probability";
    case ScoreKind::kMeanLogprob:
      return "mean_logprob";
    case ScoreKind::kPopularity:
      return "popularity";
    case ScoreKind::kNeedProbability:
      return "need_probability";
  }
  return "?";
}

std::string_view to_string(SuggestMode m) {
  switch (m) {
    case SuggestMode::kMixed:
      return "mixed";
    case SuggestMode::kBuyAgain:
      return "buy-again";
    case SuggestMode::kDiscover:
      return "discover";
    case SuggestMode::kAll:
      return "all";
  }
  return "?";
}

std::optional<SuggestMode> parse_suggest_mode(std::string_view text) {
  for (const SuggestMode m :
       {SuggestMode::kMixed, SuggestMode::kBuyAgain, SuggestMode::kDiscover, SuggestMode::kAll})
    if (text == to_string(m)) return m;
  return std::nullopt;
}

namespace {

SuggestMode effective_mode(const RecommendOptions& options) {
  return options.exclude_purchased ? SuggestMode::kDiscover : options.mode;
}

// Replaces every "{key}" in `text` by its value, in one pass: a value is never read as a template
// (a product name or a need that holds "{history}" stays as it is).
std::string render(std::string_view text,
                   std::initializer_list<std::pair<std::string_view, std::string_view>> values) {
  std::string out;
  std::size_t at = 0;
  while (at < text.size()) {
    const std::size_t open = text.find('{', at);
    if (open == std::string_view::npos) break;
    out.append(text.substr(at, open - at));
    at = open + 1;
    bool replaced = false;
    for (const auto& [key, value] : values)
      if (text.substr(open + 1, key.size()) == key && open + 1 + key.size() < text.size() &&
          text[open + 1 + key.size()] == '}') {
        out.append(value);
        at = open + key.size() + 2;
        replaced = true;
        break;
      }
    if (!replaced) out.push_back('{');
  }
  if (at < text.size()) out.append(text.substr(at));
  return out;
}

bool same_text_ignoring_case(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// An item model's log-probabilities of its items (index = token - first_item_id) from a logits
// row of the positions after `tokens`: the GPT's softmax over the item tokens, mixed with the
// repeat component. Every item score of the recommender and of the evaluation comes from here.
void item_log_probs_from_logits(const float* logits, const ItemVocabulary& vocab,
                                SequenceFormat format, std::span<const int> tokens,
                                const RepeatMix& repeat, const RankerInput& ranker,
                                std::vector<double>& out) {
  log_softmax(std::span<const float>(logits + vocab.first_item_id(), vocab.items().size()), out);
  mix_repeat(tokens, vocab.first_item_id(), vocab.sep_id(), format, repeat, out);
  if (ranker.ranker != nullptr) ranker.ranker->apply(ranker.baskets, ranker.customer_id, out);
}

// The item lists of purchase baskets.
std::vector<std::vector<std::string>> basket_items(std::span<const Basket> baskets) {
  std::vector<std::vector<std::string>> out;
  out.reserve(baskets.size());
  for (const Basket& b : baskets) out.push_back(b.items);
  return out;
}

// The tokens of `seq` without every occurrence of item `drop` (an index into seq.items); baskets
// left empty lose their <sep> too.
std::vector<int> without_item(const ItemSequence& seq, int drop, int sep_id) {
  std::vector<int> out;
  out.reserve(seq.tokens.size());
  std::size_t basket_start = 0;
  bool basket_has_items = false;
  for (std::size_t t = 0; t < seq.tokens.size(); ++t) {
    const int token = seq.tokens[t];
    if (t == 0) {
      out.push_back(token);  // <bos>
      basket_start = out.size();
      continue;
    }
    if (token == sep_id) {
      if (basket_has_items)
        out.push_back(token);
      else
        out.resize(basket_start);
      basket_start = out.size();
      basket_has_items = false;
      continue;
    }
    if (seq.item_index[t] == drop) continue;
    out.push_back(token);
    basket_has_items = true;
  }
  return out;
}

}  // namespace

void mix_repeat(std::span<const int> tokens, int first_item_id, int sep_id, SequenceFormat format,
                const RepeatMix& repeat, std::vector<double>& log_probs) {
  if (repeat.weight <= 0) return;
  // Copy mass per item token: d^age per occurrence, age counted in units from the most recent.
  std::unordered_map<int, double> mass;
  double total = 0, w = 1;
  const bool baskets = format == SequenceFormat::kBaskets;
  bool unit_open = false;  // baskets format: the current (most recent first) basket has items
  for (std::size_t t = tokens.size(); t-- > 0;) {
    const int token = tokens[t];
    if (token == sep_id) {
      if (unit_open) w *= repeat.decay;
      unit_open = false;
      continue;
    }
    const int j = token - first_item_id;
    if (j < 0 || j >= static_cast<int>(log_probs.size())) continue;  // <bos> and other specials
    mass[j] += w;
    total += w;
    if (baskets)
      unit_open = true;
    else
      w *= repeat.decay;
  }
  if (total <= 0) return;
  const double keep = std::log1p(-repeat.weight);
  for (double& lp : log_probs) lp += keep;
  for (const auto& [j, m] : mass) {
    double& lp = log_probs[static_cast<std::size_t>(j)];
    // log(e^lp + w m / total), computed without underflow.
    const double copy = std::log(repeat.weight * m / total);
    const double hi = std::max(lp, copy), lo = std::min(lp, copy);
    lp = hi + std::log1p(std::exp(lo - hi));
  }
}

void item_log_probs(Session& session, const ItemVocabulary& vocab, SequenceFormat format,
                    std::span<const int> tokens, std::span<const RepeatMix> repeats,
                    std::vector<std::vector<double>>& out, const RankerInput& ranker) {
  session.clear();
  const ConstMatrixRef logits = session.append(tokens, Logits::kLast);
  out.resize(repeats.size());
  for (std::size_t r = 0; r < repeats.size(); ++r)
    item_log_probs_from_logits(logits.data(), vocab, format, tokens, repeats[r], ranker, out[r]);
}

ItemSequence build_item_sequence(const ItemVocabulary& vocab, std::span<const Basket> baskets,
                                 SequenceFormat format, int max_tokens) {
  ItemSequence seq;
  if (max_tokens < 1) throw Error(ErrorCode::kInvalidArgument, "max_tokens must be at least 1");
  // Known tokens per basket, and the unknown items (distinct, first seen first).
  std::vector<std::vector<std::pair<int, const std::string*>>> known(baskets.size());
  std::unordered_set<std::string> unknown_seen;
  for (std::size_t b = 0; b < baskets.size(); ++b)
    for (const std::string& item : baskets[b].items) {
      if (auto id = vocab.find(item))
        known[b].emplace_back(*id, &item);
      else if (unknown_seen.insert(item).second)
        seq.unknown_items.push_back(item);
    }

  // In the items format every item is a unit; in the baskets format a basket and its <sep> are.
  const bool baskets_format = format == SequenceFormat::kBaskets;
  std::vector<std::pair<int, const std::string*>> units_flat;  // items format
  std::size_t first_kept = known.size();                       // baskets format: first basket kept
  int budget = max_tokens - 1;                                 // after <bos>
  std::size_t first_item_kept = 0;  // items format: first (flattened) item kept
  if (baskets_format) {
    for (std::size_t b = known.size(); b-- > 0;) {
      if (known[b].empty()) continue;
      const int need = static_cast<int>(known[b].size()) + 1;
      if (need > budget) {
        // The most recent basket alone is longer than the context: keep its last items.
        if (first_kept == known.size() && budget >= 2) {
          const auto keep = static_cast<std::size_t>(budget - 1);
          seq.dropped_items += static_cast<int>(known[b].size() - keep);
          known[b].erase(known[b].begin(), known[b].end() - static_cast<std::ptrdiff_t>(keep));
          first_kept = b;
          budget = 0;
        }
        break;
      }
      budget -= need;
      first_kept = b;
    }
    for (std::size_t b = 0; b < first_kept; ++b)
      if (!known[b].empty()) {
        ++seq.dropped_baskets;
        seq.dropped_items += static_cast<int>(known[b].size());
      }
  } else {
    for (const auto& basket : known)
      units_flat.insert(units_flat.end(), basket.begin(), basket.end());
    if (static_cast<int>(units_flat.size()) > budget) {
      first_item_kept = units_flat.size() - static_cast<std::size_t>(budget);
      seq.dropped_baskets = static_cast<int>(first_item_kept);
      seq.dropped_items = static_cast<int>(first_item_kept);
    }
  }

  std::unordered_map<std::string_view, int> index_of;
  auto push_item = [&](int token, const std::string* item) {
    auto [it, inserted] = index_of.emplace(*item, static_cast<int>(seq.items.size()));
    if (inserted) seq.items.push_back(*item);
    seq.tokens.push_back(token);
    seq.item_index.push_back(it->second);
  };
  seq.tokens.push_back(vocab.bos_id());
  seq.item_index.push_back(-1);
  if (baskets_format) {
    for (std::size_t b = first_kept; b < known.size(); ++b) {
      if (known[b].empty()) continue;
      for (const auto& [token, item] : known[b]) push_item(token, item);
      seq.tokens.push_back(vocab.sep_id());
      seq.item_index.push_back(-1);
    }
  } else {
    for (std::size_t i = first_item_kept; i < units_flat.size(); ++i)
      push_item(units_flat[i].first, units_flat[i].second);
  }
  return seq;
}

PromptTemplate PromptTemplate::parse(std::string_view json_text, std::string_view source) {
  const json j = parse_json_document(json_text, source, ErrorCode::kBadModel);
  if (!j.is_object())
    throw Error(ErrorCode::kBadModel, std::string(source) + ": expected an object");
  PromptTemplate t;
  auto text = [&](const char* key, std::string& out) {
    auto it = j.find(key);
    if (it == j.end()) return;
    if (!it->is_string())
      throw Error(ErrorCode::kBadModel, std::string(source) + ": " + key + ": expected a string");
    out = it->get<std::string>();
  };
  text("prompt", t.prompt);
  text("history_item", t.history_item);
  text("separator", t.separator);
  text("candidate", t.candidate);
  text("need_prompt", t.need_prompt);
  if (auto it = j.find("max_history_items"); it != j.end()) {
    if (!it->is_number_integer() || it->get<int>() < 1)
      throw Error(ErrorCode::kBadModel,
                  std::string(source) + ": max_history_items: expected a positive integer");
    t.max_history_items = it->get<int>();
  }
  if (t.prompt.find("{history}") == std::string::npos)
    throw Error(ErrorCode::kBadModel, std::string(source) + ": prompt: must contain {history}");
  if (t.need_prompt.find("{history}") == std::string::npos ||
      t.need_prompt.find("{need}") == std::string::npos)
    throw Error(ErrorCode::kBadModel,
                std::string(source) + ": need_prompt: must contain {history} and {need}");
  return t;
}

Recommender Recommender::load(const std::filesystem::path& model_dir,
                              std::optional<Catalog> catalog) {
  Recommender r;
  r.directory_ = model_dir;
  r.model_ = std::make_shared<const Model>(Model::load(model_dir));
  const ModelConfig& config = r.model_->config();
  std::error_code ec;
  const ModelDirectory dir(model_dir);
  if (config.kind == ModelKind::kItems) {
    auto vocab = std::make_shared<const ItemVocabulary>(dir.read_items(config));
    r.vocab_ = vocab.get();
    r.ranker_ = dir.read_ranker(config, *vocab);
    r.tokenizer_ = vocab;
    if (catalog) {
      for (const CatalogItem& item : catalog->items()) {
        if (auto token = vocab->find(item.id)) {
          CatalogItem merged = item;
          const CatalogItem& known = *vocab->item_of(*token);
          if (merged.count == 0) merged.count = known.count;
          merged.product = item.product && known.product;  // either source can mark a service
          r.catalog_.push_back(std::move(merged));
          r.candidate_token_.push_back(*token);
        } else {
          r.unscorable_.push_back(item.id);
        }
      }
    } else {
      for (std::size_t j = 0; j < vocab->items().size(); ++j) {
        r.catalog_.push_back(vocab->items()[j]);
        r.candidate_token_.push_back(vocab->first_item_id() + static_cast<int>(j));
      }
    }
  } else {
    r.tokenizer_ = load_tokenizer(model_dir);
    if (r.tokenizer_->kind() == "items")
      throw Error(ErrorCode::kBadModel, dir.config_file().string() + ": the directory has " +
                                            dir.items_file().filename().string() + " but " +
                                            dir.config_file().filename().string() +
                                            " does not say \"gptrec\": {\"kind\": \"items\"}");
    const auto template_path = dir.prompt_template_file();
    if (std::filesystem::exists(template_path, ec))
      r.template_ = PromptTemplate::parse(read_text_file(template_path, ErrorCode::kBadModel),
                                          template_path.string());
    if (!catalog)
      throw Error(
          ErrorCode::kInvalidArgument,
          model_dir.string() + " is a text model: it suggests from a catalog (--catalog FILE)");
    r.catalog_ = catalog->items();
    for (const CatalogItem& item : r.catalog_) {
      auto tokens = r.tokenizer_->encode(
          render(r.template_.candidate, {{"name", item.name}, {"id", item.id}}));
      if (tokens.empty() || static_cast<int>(tokens.size()) >= config.n_ctx)
        throw Error(ErrorCode::kBadInput,
                    "catalog item " + item.id + ": its text has " + std::to_string(tokens.size()) +
                        " tokens; it must have 1 to " + std::to_string(config.n_ctx - 1));
      r.candidate_tokens_.push_back(std::move(tokens));
    }
  }
  for (std::size_t i = 0; i < r.catalog_.size(); ++i)
    r.candidate_index_.emplace(r.catalog_[i].id, i);
  std::vector<std::string> names;
  for (const CatalogItem& item : r.catalog_) names.push_back(item.name);
  r.name_index_ = NameIndex(names);
  return r;
}

std::string Recommender::item_name(const std::string& item_id) const {
  std::string name;
  if (auto it = candidate_index_.find(item_id); it != candidate_index_.end())
    name = catalog_[it->second].name;
  else if (vocab_ != nullptr)
    if (auto token = vocab_->find(item_id)) name = vocab_->item_of(*token)->name;
  return name.empty() ? item_id : name;
}

bool Recommender::is_product(const std::string& item_id) const {
  if (auto it = candidate_index_.find(item_id); it != candidate_index_.end())
    return catalog_[it->second].product;
  if (vocab_ != nullptr)
    if (auto token = vocab_->find(item_id)) return vocab_->item_of(*token)->product;
  return true;
}

std::vector<bool> Recommender::allowed_candidates(const RecommendOptions& options) const {
  std::vector<bool> allowed(catalog_.size());
  for (std::size_t i = 0; i < catalog_.size(); ++i) {
    const CatalogItem& item = catalog_[i];
    allowed[i] = item.available && item.product &&
                 (!options.category || same_text_ignoring_case(item.category, *options.category)) &&
                 (!options.min_price || (item.price && *item.price >= *options.min_price)) &&
                 (!options.max_price || (item.price && *item.price <= *options.max_price));
  }
  return allowed;
}

bool Recommender::fit_need(const RecommendOptions& options, const std::vector<bool>& allowed,
                           const std::unordered_map<std::string, ItemActivity>& activity,
                           std::vector<double>& bm25, Recommendations& out) const {
  if (!options.need) return false;
  out.need = parse_need(*options.need);
  const Need& need = *out.need;
  if (need.stems.empty()) {
    out.need_fallback = "the need \"" + need.text +
                        "\" has no word to look for (only stop words, numbers or short words)";
    return false;
  }
  std::vector<int> fitted;
  name_index_.score(need.stems, bm25, &fitted);
  // The mode's side counts: discover needs a fitting item never bought, buy-again one bought.
  const SuggestMode mode = effective_mode(options);
  auto listable = [&](std::size_t i) {
    if (mode == SuggestMode::kMixed || mode == SuggestMode::kAll) return true;
    auto it = activity.find(catalog_[i].id);
    const bool bought = it != activity.end() && it->second.times_bought > 0;
    return mode == SuggestMode::kBuyAgain ? bought : !bought;
  };
  // Products holding every word of the need, when one can be listed; else those holding any.
  // Only fitting products can be listed, so only they are looked up.
  std::vector<bool> eligible(catalog_.size());
  for (std::size_t i = 0; i < catalog_.size(); ++i)
    eligible[i] = bm25[i] > 0 && allowed[i] && listable(i);
  out.need_every_word = keep_every_word_fits(fitted, need.stems.size(), eligible, bm25);
  for (std::size_t i = 0; i < catalog_.size(); ++i)
    if (eligible[i] && bm25[i] > 0) return true;
  out.need_fallback = "no product fits the need \"" + need.text + "\"" +
                      (std::any_of(bm25.begin(), bm25.end(), [](double v) { return v > 0; })
                           ? " and the other filters"
                           : "");
  return false;
}

void Recommender::describe_need_fit(const std::vector<double>& bm25, Recommendations& out) const {
  for (Suggestion& s : out.suggestions) {
    const auto i = static_cast<std::size_t>(s.item - catalog_.data());
    s.need_match = bm25[i];
    s.need_words = name_index_.fitting_words(i, out.need->stems);
  }
}

namespace {

// The items to suggest, best first (ties: more popular, then smaller id). `bought[i]` says whether
// the customer bought candidate i before; `mode` decides which kinds are listed (SuggestMode).
std::vector<std::size_t> choose_candidates(const std::vector<double>& scores,
                                           const std::vector<bool>& allowed,
                                           const std::vector<bool>& bought,
                                           const std::vector<CatalogItem>& catalog,
                                           SuggestMode mode, int top_n) {
  auto better = [&](std::size_t a, std::size_t b) {
    if (scores[a] != scores[b]) return scores[a] > scores[b];
    if (catalog[a].count != catalog[b].count) return catalog[a].count > catalog[b].count;
    return catalog[a].id < catalog[b].id;
  };
  // The best `n` of `order`, best first.
  auto best = [&](std::vector<std::size_t> order, std::size_t n) {
    n = std::min(n, order.size());
    std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(n), order.end(),
                      better);
    order.resize(n);
    return order;
  };
  const auto want = static_cast<std::size_t>(top_n);
  std::vector<std::size_t> again, fresh;  // allowed re-buys and new items
  for (std::size_t i = 0; i < scores.size(); ++i)
    if (allowed[i]) (bought[i] ? again : fresh).push_back(i);
  if (mode == SuggestMode::kBuyAgain) return best(std::move(again), want);
  if (mode == SuggestMode::kDiscover) return best(std::move(fresh), want);
  if (mode == SuggestMode::kAll) {
    again.insert(again.end(), fresh.begin(), fresh.end());
    return best(std::move(again), want);
  }
  // Mixed: half the list (rounded down) for re-buys, the rest for new items; a side without
  // enough candidates of positive score leaves its places to the other; items of score 0 (e.g.
  // returned as often as bought) come last.
  again = best(std::move(again), want);
  fresh = best(std::move(fresh), want);
  auto positive = [&](const std::vector<std::size_t>& order) {
    return static_cast<std::size_t>(
        std::count_if(order.begin(), order.end(), [&](std::size_t i) { return scores[i] > 0; }));
  };
  const std::size_t again_positive = positive(again), fresh_positive = positive(fresh);
  std::size_t n_again = std::min(want / 2, again_positive);
  const std::size_t n_fresh = std::min(want - n_again, fresh_positive);
  n_again = std::min(want - n_fresh, again_positive);
  std::vector<std::size_t> chosen(again.begin(),
                                  again.begin() + static_cast<std::ptrdiff_t>(n_again));
  chosen.insert(chosen.end(), fresh.begin(), fresh.begin() + static_cast<std::ptrdiff_t>(n_fresh));
  std::vector<std::size_t> rest(again.begin() + static_cast<std::ptrdiff_t>(n_again), again.end());
  rest.insert(rest.end(), fresh.begin() + static_cast<std::ptrdiff_t>(n_fresh), fresh.end());
  for (const std::size_t i : best(std::move(rest), want - chosen.size())) chosen.push_back(i);
  std::sort(chosen.begin(), chosen.end(), better);
  return chosen;
}

}  // namespace

void Recommender::add_suggestions(std::vector<double>& scores, const std::vector<bool>& allowed,
                                  const std::unordered_map<std::string, ItemActivity>& activity,
                                  const RecommendOptions& options, Recommendations& out) const {
  // Returns count against an item: its score is multiplied by the share the customer kept. (The
  // customer's few items are looked up in the catalog, not the catalog's items in the history.)
  std::vector<bool> bought(catalog_.size(), false);
  for (const auto& [item, a] : activity) {
    auto it = candidate_index_.find(item);
    if (it == candidate_index_.end()) continue;
    const std::size_t i = it->second;
    bought[i] = a.times_bought > 0;
    const double kept = a.kept_share();
    if (kept < 1)
      scores[i] =
          out.score_kind == ScoreKind::kMeanLogprob ? scores[i] + std::log(kept) : scores[i] * kept;
  }
  for (const std::size_t i : choose_candidates(scores, allowed, bought, catalog_,
                                               effective_mode(options), options.top_n)) {
    Suggestion s;
    s.rank = static_cast<int>(out.suggestions.size()) + 1;
    s.item = &catalog_[i];
    s.score = scores[i];
    if (auto it = activity.find(catalog_[i].id); it != activity.end()) {
      s.purchased_before = it->second.times_bought > 0;
      s.times_bought = it->second.times_bought;
      s.times_returned = it->second.times_returned;
      s.last_bought = it->second.last_bought;
    }
    out.suggestions.push_back(std::move(s));
  }
}

namespace {

// The calling thread's Session for `model`, emptied: its KV cache and scratch buffers are reused
// by the thread's next query on the same model, so a steady stream of queries allocates little.
Session& thread_session(const Model& model) {
  struct Cached {
    const Model* model = nullptr;
    std::uint64_t id = 0;
    std::unique_ptr<Session> session;
  };
  thread_local Cached cached;
  if (cached.model != &model || cached.id != model.id()) {
    cached.session = std::make_unique<Session>(model);
    cached.model = &model;
    cached.id = model.id();
  }
  cached.session->clear();
  return *cached.session;
}

// Scratch memory of one batch of occlusion variants (their forward rows and KV caches).
constexpr std::size_t kOcclusionBatchBytes = std::size_t{32} << 20;

// Keeps the options.explain_reasons largest effects of at least options.explain_min_effect,
// largest first (ties: by item id).
void keep_strongest(std::vector<Reason>& reasons, const RecommendOptions& options) {
  std::erase_if(reasons, [&](const Reason& r) {
    return !(r.effect > 0 && r.effect >= options.explain_min_effect);
  });
  std::sort(reasons.begin(), reasons.end(), [](const Reason& a, const Reason& b) {
    return a.effect != b.effect ? a.effect > b.effect : a.item_id < b.item_id;
  });
  if (static_cast<int>(reasons.size()) > options.explain_reasons)
    reasons.resize(static_cast<std::size_t>(std::max(0, options.explain_reasons)));
}

}  // namespace

void Recommender::add_popular_suggestions(
    const std::vector<bool>& allowed, const std::unordered_map<std::string, ItemActivity>& activity,
    const RecommendOptions& options, Recommendations& out) const {
  out.score_kind = ScoreKind::kPopularity;
  std::vector<double> scores(catalog_.size());
  for (std::size_t i = 0; i < catalog_.size(); ++i)
    scores[i] = static_cast<double>(catalog_[i].count);
  add_suggestions(scores, allowed, activity, options, out);
}

void check_options(const RecommendOptions& options) {
  if (options.top_n < 1)
    throw Error(ErrorCode::kInvalidArgument,
                "top must be at least 1, got " + std::to_string(options.top_n));
  if (options.exclude_purchased && options.mode != SuggestMode::kMixed &&
      options.mode != SuggestMode::kDiscover)
    throw Error(ErrorCode::kInvalidArgument,
                "exclude_purchased (--exclude-purchased, the same as mode discover) contradicts "
                "mode " +
                    std::string(to_string(options.mode)));
  for (const auto& [name, bound] :
       {std::pair{"min_price", options.min_price}, std::pair{"max_price", options.max_price}})
    if (bound && !(std::isfinite(*bound) && *bound >= 0))
      throw Error(
          ErrorCode::kInvalidArgument,
          std::string(name) + " must be a finite number >= 0, got " + std::to_string(*bound));
  if (options.min_price && options.max_price && *options.min_price > *options.max_price)
    throw Error(ErrorCode::kInvalidArgument, "min_price is above max_price");
  if (options.need) parse_need(*options.need);
  if (options.explain_reasons < 0)
    throw Error(ErrorCode::kInvalidArgument, "explain_reasons must be at least 0, got " +
                                                 std::to_string(options.explain_reasons));
  if (!(std::isfinite(options.explain_min_effect) && options.explain_min_effect >= 0))
    throw Error(ErrorCode::kInvalidArgument,
                "explain_min_effect must be a finite number >= 0, got " +
                    std::to_string(options.explain_min_effect));
}

Recommendations Recommender::recommend(const History& history,
                                       const RecommendOptions& options) const {
  check_options(options);
  return kind() == ModelKind::kItems ? recommend_items(history, options)
                                     : recommend_text(history, options);
}

Recommendations Recommender::recommend_items(const History& history,
                                             const RecommendOptions& options) const {
  const ModelConfig& config = model_->config();
  Recommendations out;
  out.customer_id = history.customer_id;
  const std::vector<Basket> baskets = purchase_baskets(history);
  const ItemSequence seq =
      build_item_sequence(*vocab_, baskets, config.sequence_format, config.n_ctx);
  out.unknown_items = seq.unknown_items;
  out.dropped_baskets = seq.dropped_baskets;
  out.history_items_used = static_cast<int>(seq.items.size());
  std::vector<bool> allowed = allowed_candidates(options);
  const auto activity = item_activity(history);
  std::vector<double> bm25;
  const bool by_need = fit_need(options, allowed, activity, bm25, out);
  if (by_need)
    for (std::size_t i = 0; i < catalog_.size(); ++i) allowed[i] = allowed[i] && bm25[i] > 0;

  if (seq.items.empty()) {
    out.fallback_reason = baskets.empty() ? "the history has no purchases"
                                          : "none of the purchased items is known to the model";
    add_popular_suggestions(allowed, activity, options, out);
    if (by_need) describe_need_fit(bm25, out);
    return out;
  }

  Session& session = thread_session(*model_);
  std::vector<std::vector<double>> model_log_probs;
  const IndexBaskets known =
      ranker_ ? BasketRanker::known_baskets(*vocab_, basket_items(baskets)) : IndexBaskets{};
  item_log_probs(session, *vocab_, config.sequence_format, seq.tokens,
                 std::span<const RepeatMix>(&config.repeat, 1), model_log_probs,
                 RankerInput{ranker_.get(), known, history.customer_id});
  const std::vector<double>& log_probs = model_log_probs[0];
  const int first = vocab_->first_item_id();
  std::vector<double> scores(catalog_.size());
  for (std::size_t i = 0; i < catalog_.size(); ++i)
    scores[i] = log_probs[static_cast<std::size_t>(candidate_token_[i] - first)];
  if (by_need) {
    const std::vector<double> candidate_log_probs = std::move(scores);
    std::vector<double> log_popularity;
    if (config.need_popularity != 0) {
      log_popularity.resize(catalog_.size());
      for (std::size_t i = 0; i < catalog_.size(); ++i)
        log_popularity[i] = std::log1p(static_cast<double>(catalog_[i].count));
    }
    need_log_scores(candidate_log_probs, bm25, config.need_weight, log_popularity,
                    config.need_popularity, allowed, scores);
    need_probabilities(scores);
    out.score_kind = ScoreKind::kNeedProbability;
  } else {
    for (double& v : scores) v = std::exp(v);
    out.score_kind = ScoreKind::kProbability;
  }
  add_suggestions(scores, allowed, activity, options, out);
  if (by_need) describe_need_fit(bm25, out);
  if (!options.explain || out.suggestions.empty()) return out;

  explain_items(session, seq, RankerInput{ranker_.get(), known, history.customer_id}, log_probs,
                options, out);
  return out;
}

void Recommender::explain_items(Session& session, const ItemSequence& seq,
                                const RankerInput& ranker, const std::vector<double>& log_probs,
                                const RecommendOptions& options, Recommendations& out) const {
  // Occlusion over every distinct product of the history (non-products are never a reason, so
  // their variants are not computed): the history without all occurrences of item u is re-scored.
  // A variant equals the history up to u's first occurrence, so it continues the history's KV
  // cache from there and only its suffix is computed; the suffixes run through
  // Session::continue_batch in batches whose scratch memory stays bounded.
  const ModelConfig& config = model_->config();
  const int first = vocab_->first_item_id();
  struct Variant {
    int item = 0;             // index into seq.items
    std::vector<int> tokens;  // the history without the item
    int shared = 0;           // leading positions equal to the history's
  };
  std::vector<Variant> variants;
  std::vector<int> first_use(seq.items.size(), -1);
  for (std::size_t t = 0; t < seq.item_index.size(); ++t) {
    const int u = seq.item_index[t];
    if (u >= 0 && first_use[static_cast<std::size_t>(u)] < 0)
      first_use[static_cast<std::size_t>(u)] = static_cast<int>(t);
  }
  for (int u = 0; u < static_cast<int>(seq.items.size()); ++u) {
    if (!is_product(seq.items[static_cast<std::size_t>(u)])) continue;
    Variant v{u, without_item(seq, u, vocab_->sep_id()), 0};
    // Keep at least one own token: the variant's logits come from its last own row.
    v.shared =
        std::min(first_use[static_cast<std::size_t>(u)], static_cast<int>(v.tokens.size()) - 1);
    variants.push_back(std::move(v));
  }
  // Scratch of a batch: per token the forward pass's rows and its own KV cache (float32).
  const auto bytes_per_token = static_cast<std::size_t>(
      4 * (6 * config.n_embd + config.n_inner + 2 * config.n_layer * config.n_embd));
  const std::size_t batch_tokens = std::max<std::size_t>(1, kOcclusionBatchBytes / bytes_per_token);

  std::vector<std::size_t> suggested_token(out.suggestions.size());
  for (std::size_t k = 0; k < out.suggestions.size(); ++k)
    suggested_token[k] = static_cast<std::size_t>(
        candidate_token_[static_cast<std::size_t>(out.suggestions[k].item - catalog_.data())] -
        first);
  std::vector<std::vector<Reason>> reasons(out.suggestions.size());
  std::vector<double> variant_log_probs;
  std::vector<Continuation> batch;
  for (std::size_t next = 0; next < variants.size();) {
    std::size_t end = next, tokens = 0;
    batch.clear();
    while (end < variants.size()) {
      const Variant& v = variants[end];
      const std::size_t own = v.tokens.size() - static_cast<std::size_t>(v.shared);
      if (end > next && tokens + own > batch_tokens) break;
      tokens += own;
      batch.push_back(Continuation{
          std::span<const int>(v.tokens).subspan(static_cast<std::size_t>(v.shared)), v.shared});
      ++end;
    }
    const ConstMatrixRef logits = session.continue_batch(batch, Logits::kLast);
    for (std::size_t b = next; b < end; ++b) {
      const Variant& v = variants[b];
      const std::string& item_id = seq.items[static_cast<std::size_t>(v.item)];
      // The ranker reads the baskets without the item too.
      IndexBaskets variant_known;
      if (ranker.ranker != nullptr) {
        const int dropped = *vocab_->find(item_id) - first;
        for (const auto& basket : ranker.baskets) {
          std::vector<int> kept;
          for (const int j : basket)
            if (j != dropped) kept.push_back(j);
          if (!kept.empty()) variant_known.push_back(std::move(kept));
        }
      }
      item_log_probs_from_logits(logits.row(static_cast<Eigen::Index>(b - next)).data(), *vocab_,
                                 config.sequence_format, v.tokens, config.repeat,
                                 RankerInput{ranker.ranker, variant_known, ranker.customer_id},
                                 variant_log_probs);
      for (std::size_t k = 0; k < out.suggestions.size(); ++k) {
        if (out.suggestions[k].item->id == item_id) continue;  // never its own reason
        const std::size_t j = suggested_token[k];
        reasons[k].push_back(Reason{item_id, {}, log_probs[j] - variant_log_probs[j]});
      }
    }
    next = end;
  }
  for (std::size_t k = 0; k < out.suggestions.size(); ++k) {
    keep_strongest(reasons[k], options);
    for (Reason& reason : reasons[k]) reason.name = item_name(reason.item_id);
    out.suggestions[k].because = std::move(reasons[k]);
  }
}

Recommendations Recommender::recommend_text(const History& history,
                                            const RecommendOptions& options) const {
  const ModelConfig& config = model_->config();
  Recommendations out;
  out.customer_id = history.customer_id;
  out.score_kind = ScoreKind::kMeanLogprob;
  std::vector<bool> allowed = allowed_candidates(options);
  const auto activity = item_activity(history);
  std::vector<double> bm25;
  const bool by_need = fit_need(options, allowed, activity, bm25, out);
  if (by_need)
    for (std::size_t i = 0; i < catalog_.size(); ++i) allowed[i] = allowed[i] && bm25[i] > 0;

  // Distinct purchased items known to the catalog, ordered by their last purchase.
  std::vector<std::size_t> known;  // catalog indices, oldest last-purchase first
  std::unordered_set<std::string_view> purchased, unknown_seen;
  for (auto e = history.events.rbegin(); e != history.events.rend(); ++e) {
    if (e->type != EventType::kPurchase || !purchased.insert(e->item).second) continue;
    auto it = candidate_index_.find(e->item);
    if (it != candidate_index_.end())
      known.push_back(it->second);
    else if (unknown_seen.insert(e->item).second)
      out.unknown_items.push_back(e->item);
  }
  std::reverse(known.begin(), known.end());
  std::reverse(out.unknown_items.begin(), out.unknown_items.end());
  if (static_cast<int>(known.size()) > template_.max_history_items) {
    out.dropped_baskets = static_cast<int>(known.size()) - template_.max_history_items;
    known.erase(known.begin(), known.begin() + out.dropped_baskets);
  }
  if (known.empty()) {
    out.fallback_reason = purchased.empty() ? "the history has no purchases"
                                            : "none of the purchased items is in the catalog";
    add_popular_suggestions(allowed, activity, options, out);
    if (by_need) describe_need_fit(bm25, out);
    return out;
  }

  std::size_t longest = 0;
  for (std::size_t i = 0; i < catalog_.size(); ++i)
    if (allowed[i]) longest = std::max(longest, candidate_tokens_[i].size());
  auto prompt_tokens = [&](const std::vector<std::size_t>& items, std::size_t skip) {
    std::string history_text;
    bool first = true;
    for (std::size_t k = 0; k < items.size(); ++k) {
      if (k == skip) continue;
      if (!first) history_text += template_.separator;
      first = false;
      const CatalogItem& item = catalog_[items[k]];
      history_text += render(template_.history_item, {{"name", item.name}, {"id", item.id}});
    }
    if (by_need)
      return tokenizer_->encode(
          render(template_.need_prompt, {{"history", history_text}, {"need", out.need->text}}));
    return tokenizer_->encode(render(template_.prompt, {{"history", history_text}}));
  };
  // Oldest items go first when the prompt and the longest candidate do not fit the context.
  std::vector<int> prompt = prompt_tokens(known, SIZE_MAX);
  while (prompt.size() + longest > static_cast<std::size_t>(config.n_ctx) && known.size() > 1) {
    known.erase(known.begin());
    ++out.dropped_baskets;
    prompt = prompt_tokens(known, SIZE_MAX);
  }
  if (prompt.empty() || prompt.size() + longest > static_cast<std::size_t>(config.n_ctx))
    throw Error(ErrorCode::kBadInput,
                "the prompt and the longest candidate do not fit the model's context of " +
                    std::to_string(config.n_ctx) + " tokens");
  out.history_items_used = static_cast<int>(known.size());

  // Mean log-probability per token of candidates `which` after `prompt_ids`. One Session serves
  // the prompt and every occlusion variant: it keeps the leading tokens a prompt shares with the
  // one before and computes only the rest (then the candidates, batched, on its KV cache).
  Session& session = thread_session(*model_);
  std::vector<int> cached;  // the tokens the session holds
  auto mean_scores = [&](const std::vector<int>& prompt_ids,
                         const std::vector<std::size_t>& which) {
    auto shared = static_cast<std::size_t>(
        std::mismatch(cached.begin(), cached.end(), prompt_ids.begin(), prompt_ids.end()).first -
        cached.begin());
    shared = std::min(shared, prompt_ids.size() - 1);  // run one token at least: its logits
    session.truncate(static_cast<int>(shared));
    cached.resize(shared);
    const ConstMatrixRef last =
        session.append(std::span<const int>(prompt_ids).subspan(shared), Logits::kLast);
    cached = prompt_ids;
    std::vector<std::vector<int>> conts;
    conts.reserve(which.size());
    for (std::size_t i : which) conts.push_back(candidate_tokens_[i]);
    const auto scored = score_continuations(
        session, std::span<const float>(last.data(), static_cast<std::size_t>(last.cols())), conts);
    std::vector<double> means(which.size());
    for (std::size_t k = 0; k < which.size(); ++k)
      means[k] = scored[k].logprob / static_cast<double>(scored[k].token_logprobs.size());
    return means;
  };
  std::vector<std::size_t> candidates;
  for (std::size_t i = 0; i < catalog_.size(); ++i)
    if (allowed[i]) candidates.push_back(i);
  std::vector<double> scores(catalog_.size(), -INFINITY);
  const auto means = mean_scores(prompt, candidates);
  for (std::size_t k = 0; k < candidates.size(); ++k) scores[candidates[k]] = means[k];
  const std::vector<double> model_scores = scores;  // before returns count against an item

  add_suggestions(scores, allowed, activity, options, out);
  if (by_need) describe_need_fit(bm25, out);
  if (!options.explain || out.suggestions.empty()) return out;

  // Occlusion over every product of the prompt: the prompt is rendered without it and the
  // suggested candidates re-scored. Newest item first, so that each variant shares the most
  // leading tokens with the one before.
  std::vector<std::size_t> suggested;
  for (const Suggestion& s : out.suggestions)
    suggested.push_back(static_cast<std::size_t>(s.item - catalog_.data()));
  std::vector<std::vector<Reason>> reasons(out.suggestions.size());
  for (std::size_t k = known.size(); k-- > 0;) {
    const CatalogItem& item = catalog_[known[k]];
    if (!item.product) continue;  // never given as a reason
    const std::vector<int> variant = prompt_tokens(known, k);
    if (variant.empty()) continue;
    const auto without = mean_scores(variant, suggested);
    for (std::size_t s = 0; s < suggested.size(); ++s)
      if (suggested[s] != known[k])  // never its own reason
        reasons[s].push_back(Reason{item.id, item.name, model_scores[suggested[s]] - without[s]});
  }
  for (std::size_t s = 0; s < suggested.size(); ++s) {
    keep_strongest(reasons[s], options);
    out.suggestions[s].because = std::move(reasons[s]);
  }
  return out;
}

}  // namespace gptrec
