// gptrec suggest: a customer's history in, ranked and explained catalog suggestions out.
#include <cmath>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "format.hpp"
#include "gptrec/error.hpp"
#include "gptrec/recommender.hpp"
#include "input.hpp"
#include "result_json.hpp"

namespace gptrec::cli {

namespace {

struct SuggestOptions {
  std::string model_dir;
  std::string history;
  std::string catalog;
  int top = 10;
  bool exclude_purchased = false;
  std::string category;
  bool explain = false;
  std::string format = "table";
};

std::string score_meaning(ScoreKind k) {
  switch (k) {
    case ScoreKind::kProbability:
      return "probability (the model's share of the next purchase for each item)";
    case ScoreKind::kMeanLogprob:
      return "mean log-probability per token of the item's name after the history prompt";
    case ScoreKind::kPopularity:
      return "popularity (purchases in the training data)";
  }
  return "";
}

std::string reason_text(const Suggestion& s, bool explain) {
  std::string text = s.purchased_before ? "buy again" : "new for you";
  if (explain) {
    if (s.because.empty()) {
      text += "; no single past item raised it";
    } else {
      text += "; because you bought ";
      for (std::size_t i = 0; i < s.because.size(); ++i)
        text += (i ? ", " : "") + s.because[i].name;
    }
  }
  return text;
}

void print_table(const Recommendations& r, const std::string& model_dir, const Recommender& rec,
                 bool explain) {
  std::printf("Suggestions for customer %s from %s (%s model)\n",
              r.customer_id.empty() ? "(no id)" : r.customer_id.c_str(), model_dir.c_str(),
              rec.kind() == ModelKind::kItems ? "item" : "text");
  if (r.fallback_reason)
    std::printf("Fallback: %s, so these are the most popular items.\n", r.fallback_reason->c_str());
  std::printf("Score: %s.\n", score_meaning(r.score_kind).c_str());
  if (r.dropped_baskets > 0)
    std::printf("History: the %d oldest %s did not fit the model's context and were left out.\n",
                r.dropped_baskets, rec.kind() == ModelKind::kItems ? "baskets" : "items");
  std::printf("\n");

  Table t({"rank", "item", "name", "price", "score", "reason"},
          {true, false, false, true, true, false});
  for (const Suggestion& s : r.suggestions) {
    char price[32] = "";
    if (s.item->price) std::snprintf(price, sizeof price, "%.2f", *s.item->price);
    char score[32];
    if (r.score_kind == ScoreKind::kPopularity)
      std::snprintf(score, sizeof score, "%.0f", s.score);
    else if (r.score_kind == ScoreKind::kProbability)
      std::snprintf(score, sizeof score, "%.4f", s.score);
    else
      std::snprintf(score, sizeof score, "%.3f", s.score);
    t.add({std::to_string(s.rank), s.item->id, truncate_display(s.item->name, 40), price, score,
           reason_text(s, explain)});
  }
  t.print(stdout);
  if (r.suggestions.empty()) std::printf("(no catalog item passes the filters)\n");
}

int run_suggest(const SuggestOptions& o) {
  if (o.top < 1)
    throw Error(ErrorCode::kInvalidArgument,
                "--top must be at least 1, got " + std::to_string(o.top));
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
  RecommendOptions options;
  options.top_n = o.top;
  options.exclude_purchased = o.exclude_purchased;
  if (!o.category.empty()) options.category = o.category;
  options.explain = o.explain;
  const Recommendations r = rec.recommend(history, options);

  if (!r.unknown_items.empty())
    warn(std::to_string(r.unknown_items.size()) + " purchased item" +
         (r.unknown_items.size() == 1 ? " is" : "s are") +
         " unknown to the model and skipped: " + join_limited(r.unknown_items, 10));
  if (o.format == "json")
    std::cout << batch::suggestions_json(r, model_dir, rec, o.explain).dump(2) << "\n";
  else
    print_table(r, model_dir, rec, o.explain);
  std::cout.flush();
  if (!std::cout || std::ferror(stdout)) throw Error(ErrorCode::kIo, "<stdout>: write failed");
  return 0;
}

}  // namespace

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
  sub->add_option("--top", o->top, "How many suggestions")->capture_default_str();
  sub->add_flag("--exclude-purchased", o->exclude_purchased,
                "Only items the customer has not bought");
  sub->add_option("--category", o->category, "Only items of this category");
  sub->add_flag("--explain", o->explain,
                "Name the past purchases that raised each suggestion most (occlusion)");
  sub->add_option("--format", o->format, "Output format")
      ->check(CLI::IsMember({"table", "json"}))
      ->capture_default_str();
  return [o] { return run_suggest(*o); };
}

}  // namespace gptrec::cli
