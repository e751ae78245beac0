#include "result_json.hpp"

#include "gptrec/error.hpp"

namespace gptrec::batch {

namespace {

nlohmann::ordered_json optional_price(const CatalogItem& item) {
  return item.price ? nlohmann::ordered_json(*item.price) : nlohmann::ordered_json();
}

// What the customer did with the item: bought before, how often, last when; returns.
void add_activity(const Suggestion& s, nlohmann::ordered_json& e) {
  e["purchased_before"] = s.purchased_before;
  e["times_bought"] = s.times_bought;
  e["last_bought"] =
      s.last_bought.empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(s.last_bought);
  e["times_returned"] = s.times_returned;
}

}  // namespace

nlohmann::ordered_json suggestions_json(const Recommendations& r, const std::string& model_dir,
                                        const Recommender& rec, const RecommendOptions& options,
                                        bool explain) {
  nlohmann::ordered_json j;
  j["customer_id"] = r.customer_id;
  j["model"] = model_dir;
  j["model_kind"] = to_string(rec.kind());
  j["score"] = to_string(r.score_kind);
  j["mode"] = to_string(options.exclude_purchased ? SuggestMode::kDiscover : options.mode);
  j["fallback"] =
      r.fallback_reason ? nlohmann::ordered_json(*r.fallback_reason) : nlohmann::ordered_json();
  j["history"] = {{"items_used", r.history_items_used},
                  {"dropped_baskets", r.dropped_baskets},
                  {"unknown_items", r.unknown_items}};
  if (r.need)
    j["need"] = {{"text", r.need->text},
                 {"words", r.need->words},
                 {"fallback", r.need_fallback ? nlohmann::ordered_json(*r.need_fallback)
                                              : nlohmann::ordered_json()},
                 {"every_word", r.need_fallback ? nlohmann::ordered_json()
                                                : nlohmann::ordered_json(r.need_every_word)}};
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  for (const Suggestion& s : r.suggestions) {
    nlohmann::ordered_json e;
    e["rank"] = s.rank;
    e["item"] = s.item->id;
    e["name"] = s.item->name;
    e["price"] = optional_price(*s.item);
    e["category"] = s.item->category.empty() ? nlohmann::ordered_json()
                                             : nlohmann::ordered_json(s.item->category);
    e["score"] = s.score;
    add_activity(s, e);
    if (r.need && !r.need_fallback) {
      e["need_words"] = s.need_words;
      e["need_match"] = s.need_match;
    }
    if (explain) {
      nlohmann::ordered_json because = nlohmann::ordered_json::array();
      for (const Reason& b : s.because)
        because.push_back({{"item", b.item_id}, {"name", b.name}, {"effect", b.effect}});
      e["because"] = std::move(because);
    }
    list.push_back(std::move(e));
  }
  j["suggestions"] = std::move(list);
  return j;
}

std::string suggestions_document(const Recommendations& r, const std::string& model_dir,
                                 const Recommender& rec, const RecommendOptions& options) {
  return suggestions_json(r, model_dir, rec, options, options.explain).dump(2) + "\n";
}

nlohmann::ordered_json error_record(long long line_number, const std::string& customer_id,
                                    const std::string& message) {
  nlohmann::ordered_json err;
  err["line"] = line_number;
  err["customer_id"] =
      customer_id.empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(customer_id);
  err["error"] = message;
  return err;
}

ScoredRecord score_record(const Recommender& rec, const RecommendOptions& options,
                          std::string_view text, long long line_number, std::string_view source) {
  ScoredRecord result;
  nlohmann::ordered_json& out = result.json;
  out["line"] = line_number;
  std::string customer_id;
  try {
    const History h = parse_history(text, std::string(source) + ":" + std::to_string(line_number));
    customer_id = h.customer_id;
    out["customer_id"] = customer_id;
    RecommendOptions record_options = options;
    if (h.need) record_options.need = h.need;  // the record's need wins over the run's
    const Recommendations recs = rec.recommend(h, record_options);
    out["score"] = to_string(recs.score_kind);
    out["fallback"] = recs.fallback_reason ? nlohmann::ordered_json(*recs.fallback_reason)
                                           : nlohmann::ordered_json();
    if (recs.need) {
      out["need_fallback"] = recs.need_fallback ? nlohmann::ordered_json(*recs.need_fallback)
                                                : nlohmann::ordered_json();
      out["need_every_word"] = recs.need_fallback ? nlohmann::ordered_json()
                                                  : nlohmann::ordered_json(recs.need_every_word);
    }
    if (!recs.unknown_items.empty()) out["unknown_items"] = recs.unknown_items;
    if (!h.warnings.empty()) out["warnings"] = h.warnings;
    nlohmann::ordered_json list = nlohmann::ordered_json::array();
    for (const Suggestion& s : recs.suggestions) {
      nlohmann::ordered_json e = {{"item", s.item->id},
                                  {"name", s.item->name},
                                  {"price", optional_price(*s.item)},
                                  {"score", s.score}};
      add_activity(s, e);
      list.push_back(std::move(e));
    }
    out["suggestions"] = std::move(list);
  } catch (const Error& e) {
    result.json = error_record(line_number, customer_id, e.what());
    result.failed = true;
  }
  return result;
}

std::string score_line(const nlohmann::ordered_json& record) {
  return record.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace gptrec::batch
