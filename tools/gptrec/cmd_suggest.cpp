// gptrec suggest: a customer's history in, ranked and explained catalog suggestions out.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "format.hpp"
#include "gptrec/error.hpp"
#include "gptrec/recommender.hpp"
#include "input.hpp"
#include "request_options.hpp"
#include "result_json.hpp"

namespace gptrec::cli {

namespace {

struct SuggestOptions {
  std::string model_dir;
  std::string history;
  std::string catalog;
  RecommendOptions request;  // --top, --mode, ... (request_options.hpp)
  std::string format = "table";
};

// by_popularity: the need's popularity expert is in use (ModelConfig::need_popularity > 0).
std::string score_meaning(ScoreKind k, bool by_popularity) {
  switch (k) {
    case ScoreKind::kProbability:
      return "probability (the model's share of the next purchase for each item)";
    case ScoreKind::kMeanLogprob:
      return "mean log-probability per token of the item's name after the history prompt";
    case ScoreKind::kPopularity:
      return "popularity (purchases in the training data)";
    case ScoreKind::kNeedProbability:
      return by_popularity ? "probability among the products that fit the need (the model's, "
                             "weighted by how well the name fits and by how often the product "
                             "was bought)"
                           : "probability among the products that fit the need (the model's, "
                             "weighted by how well the name fits)";
  }
  return "";
}

std::string times(int n) { return n == 1 ? "once" : std::to_string(n) + " times"; }

// "bought 7 times, last on 2011-11-03, returned once; because you bought A, B", or for an item
// new to the customer "new for you; because ..." ("because ..." alone under a section heading);
// with a need, first the words of the name that fit it: 'fits "lunch bag"; ...'.
std::string reason_text(const Suggestion& s, bool explain, bool in_section, bool by_need) {
  std::string text = in_section ? "" : "new for you";
  if (s.purchased_before) {
    text = "bought " + times(s.times_bought);
    if (!s.last_bought.empty()) text += ", last on " + s.last_bought;
  }
  auto append = [&text](const std::string& part, const char* separator) {
    text += (text.empty() ? "" : separator) + part;
  };
  if (s.times_returned > 0) append("returned " + times(s.times_returned), ", ");
  if (explain) {
    if (!s.because.empty()) {
      std::string names;
      for (std::size_t i = 0; i < s.because.size(); ++i)
        names += (i ? ", " : "") + s.because[i].name;
      append("because you bought " + names, "; ");
    } else if (!s.purchased_before) {
      append("no single past item raised it by 10%", "; ");
    }
  }
  if (by_need) {
    std::string fits = "fits \"";
    for (std::size_t i = 0; i < s.need_words.size(); ++i) fits += (i ? " " : "") + s.need_words[i];
    fits += "\"";
    text = text.empty() ? fits : fits + "; " + text;
  }
  return text;
}

void print_table(const Recommendations& r, const std::string& model_dir, const Recommender& rec,
                 SuggestMode mode, bool explain) {
  const bool by_need = r.need && !r.need_fallback;
  std::printf("Suggestions for customer %s from %s (%s model)\n",
              r.customer_id.empty() ? "(no id)" : r.customer_id.c_str(), model_dir.c_str(),
              rec.kind() == ModelKind::kItems ? "item" : "text");
  if (r.need && r.need_fallback)
    std::printf("Need: %s, so these are the suggestions without the need.\n",
                r.need_fallback->c_str());
  else if (r.need && r.need_every_word)
    std::printf("Need: \"%s\": only products whose name has every word of it.\n",
                r.need->text.c_str());
  else if (r.need)
    std::printf(
        "Need: \"%s\": no product has every word of it, so products whose name has one "
        "of them.\n",
        r.need->text.c_str());
  if (r.fallback_reason)
    std::printf("Fallback: %s, so these are the most popular items.\n", r.fallback_reason->c_str());
  std::printf("Score: %s.\n",
              score_meaning(r.score_kind, rec.model().config().need_popularity > 0).c_str());
  if (r.dropped_baskets > 0)
    std::printf("History: the %d oldest %s did not fit the model's context and were left out.\n",
                r.dropped_baskets, rec.kind() == ModelKind::kItems ? "baskets" : "items");
  std::printf("\n");

  Table t({"rank", "item", "name", "price", "score", "reason"},
          {true, false, false, true, true, false});
  auto add_row = [&](const Suggestion& s, bool in_section) {
    char price[32] = "";
    if (s.item->price) std::snprintf(price, sizeof price, "%.2f", *s.item->price);
    char score[32];
    if (r.score_kind == ScoreKind::kPopularity)
      std::snprintf(score, sizeof score, "%.0f", s.score);
    else if (r.score_kind == ScoreKind::kProbability || r.score_kind == ScoreKind::kNeedProbability)
      std::snprintf(score, sizeof score, "%.4f", s.score);
    else
      std::snprintf(score, sizeof score, "%.3f", s.score);
    t.add({std::to_string(s.rank), s.item->id, truncate_display(s.item->name, 40), price, score,
           reason_text(s, explain, in_section, by_need)});
  };
  // Mixed lists show their two kinds as sections (ranks stay those of the whole list).
  const bool both = std::any_of(r.suggestions.begin(), r.suggestions.end(),
                                [](const Suggestion& s) { return s.purchased_before; }) &&
                    std::any_of(r.suggestions.begin(), r.suggestions.end(),
                                [](const Suggestion& s) { return !s.purchased_before; });
  if (mode == SuggestMode::kMixed && both) {
    for (const bool again : {true, false}) {
      t.add_heading(again ? "Buy again" : "New for you");
      for (const Suggestion& s : r.suggestions)
        if (s.purchased_before == again) add_row(s, true);
    }
  } else {
    for (const Suggestion& s : r.suggestions) add_row(s, false);
  }
  t.print(stdout);
  if (r.suggestions.empty()) std::printf("(no catalog item passes the filters)\n");
}

int run_suggest(const SuggestOptions& o) {
  if (o.request.top_n < 1)
    throw Error(ErrorCode::kInvalidArgument,
                "--top must be at least 1, got " + std::to_string(o.request.top_n));
  const RecommendOptions& options = o.request;
  check_options(options);
  const std::string model_dir = o.model_dir.empty() ? default_model_dir() : o.model_dir;
  // Inputs are read and checked before the model is loaded: bad input fails fast.
  const std::string history_text = read_input(o.history);
  const History history = parse_history(history_text, o.history == "-" ? "<stdin>" : o.history);
  for (const std::string& w : history.warnings) warn(w);
  std::optional<Catalog> catalog;
  if (!o.catalog.empty())
    catalog = Catalog::parse(read_input(o.catalog, kMaxCatalogBytes), o.catalog);

  const Recommender rec = Recommender::load(model_dir, std::move(catalog));
  check_has_candidates(rec, o.catalog);
  const Recommendations r = rec.recommend(history, options);

  if (!r.unknown_items.empty())
    warn(std::to_string(r.unknown_items.size()) + " purchased item" +
         (r.unknown_items.size() == 1 ? " is" : "s are") +
         " unknown to the model and skipped: " + join_limited(r.unknown_items, 10));
  if (o.format == "json")
    std::cout << batch::suggestions_document(r, model_dir, rec, options);
  else
    print_table(r, model_dir, rec, options.mode, options.explain);
  std::cout.flush();
  if (!std::cout || std::ferror(stdout)) throw Error(ErrorCode::kIo, "<stdout>: write failed");
  if (r.need_fallback) {
    warn(*r.need_fallback + "; the suggestions are the ones without the need");
    return kExitNeedFallback;
  }
  return 0;
}

}  // namespace

void add_request_flags(CLI::App* sub, RecommendOptions& options, bool suggest) {
  visit_request_options(
      options, [&](const char* name, auto& member, const char* help, OptionScope scope) {
        if (!suggest && scope == OptionScope::kSuggestOnly) return;
        using T = std::decay_t<decltype(member)>;
        std::string flag = std::string("--") + name;
        std::replace(flag.begin(), flag.end(), '_', '-');
        if constexpr (std::is_same_v<T, bool>) {
          sub->add_flag(flag, member, help);
        } else if constexpr (std::is_same_v<T, SuggestMode>) {
          sub->add_option_function<std::string>(
                 flag, [&member](const std::string& v) { member = *parse_suggest_mode(v); }, help)
              ->check(CLI::IsMember({"mixed", "buy-again", "discover", "all"}))
              ->default_str(std::string(to_string(member)));
        } else if constexpr (is_optional_v<T>) {
          sub->add_option_function<typename T::value_type>(
              flag, [&member](const typename T::value_type& v) { member = v; }, help);
        } else {
          sub->add_option(flag, member, help)->capture_default_str();
        }
      });
}

Runner add_suggest(CLI::App& app) {
  auto o = std::make_shared<SuggestOptions>();
  CLI::App* sub =
      app.add_subcommand("suggest", "Personalized suggestions for one customer's history");
  sub->add_option(
      "--model", o->model_dir,
      "Model directory (default: $GPTREC_MODEL, else the shipped models/online-retail)");
  sub->add_option("--history", o->history, "Customer history JSON file, or - for standard input")
      ->required();
  sub->add_option("--catalog", o->catalog,
                  "Catalog JSON: restricts (item models) or provides (text models) the candidates");
  add_request_flags(sub, o->request, true);
  sub->add_option("--format", o->format, "Output format")
      ->check(CLI::IsMember({"table", "json"}))
      ->capture_default_str();
  return [o] { return run_suggest(*o); };
}

}  // namespace gptrec::cli
