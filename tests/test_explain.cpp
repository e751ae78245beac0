// Explanations (README, `because`) with the shipped online-retail model: the occlusion reasons
// against suggestions recomputed from scratch without each past item, and what every example
// customer (examples/customers) sees by default with suggest --explain.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "gptrec/recommender.hpp"
#include "test_util.hpp"

namespace gptrec {
namespace {

std::filesystem::path repo() { return test::source_dir(); }
std::filesystem::path shipped_model() { return repo() / "models" / "online-retail"; }

std::vector<std::filesystem::path> example_customers() {
  std::vector<std::filesystem::path> paths;
  for (const auto& entry : std::filesystem::directory_iterator(repo() / "examples" / "customers"))
    if (entry.path().extension() == ".json") paths.push_back(entry.path());
  std::sort(paths.begin(), paths.end());
  return paths;
}

// The items the shipped items.json marks "product": false, read from the file itself.
std::set<std::string> non_products() {
  const auto doc = nlohmann::json::parse(test::read_file(shipped_model() / "items.json"));
  std::set<std::string> ids;
  for (const auto& item : doc["items"])
    if (!item.value("product", true)) ids.insert(item["id"].get<std::string>());
  return ids;
}

// Every item's score (mode all, the whole catalog) for `history`.
std::map<std::string, double> all_scores(const Recommender& rec, const History& history) {
  RecommendOptions o;
  o.mode = SuggestMode::kAll;
  o.top_n = 1 << 20;
  const Recommendations r = rec.recommend(history, o);
  EXPECT_EQ(r.dropped_baskets, 0);  // the history without an item is the sequence without it
  std::map<std::string, double> scores;
  for (const Suggestion& s : r.suggestions) scores[s.item->id] = s.score;
  return scores;
}

// An explanation's effect, the suggestion's log score with the whole history minus without every
// event of the past item, equals that difference computed by two separate recommend() calls: the
// second on the history with the item's events deleted (returns count per item, so the ratio of
// two scores of another item is the ratio of its model probabilities). Every past product but the
// suggestion itself is considered, non-products never are, and the default keeps the two
// strongest of at least log 1.1.
TEST(Explanations, EqualTwoFullRecommendCallsWithAndWithoutTheItem) {
  const auto rec = Recommender::load(shipped_model());
  const std::filesystem::path path = repo() / "examples" / "customers" / "12352.json";
  const History history = parse_history(test::read_file(path), path.string());
  const std::set<std::string> marked = non_products();

  RecommendOptions every;
  every.explain = true;
  every.explain_reasons = 1000;
  every.explain_min_effect = 0;
  const Recommendations r = rec.recommend(history, every);
  ASSERT_EQ(r.dropped_baskets, 0);
  ASSERT_EQ(r.suggestions.size(), 10u);
  const std::map<std::string, double> full = all_scores(rec, history);

  std::set<std::string> past;
  for (const Event& e : history.events)
    if (e.type == EventType::kPurchase) past.insert(e.item);
  const bool reads_non_product = std::any_of(
      past.begin(), past.end(), [&](const std::string& id) { return marked.contains(id); });
  ASSERT_TRUE(reads_non_product) << "the check below that none is cited would mean nothing";

  // effect[u][j]: log score of j with the history minus without u's events.
  std::map<std::string, std::map<std::string, double>> effect;
  for (const std::string& u : past) {
    History without = history;
    std::erase_if(without.events, [&](const Event& e) { return e.item == u; });
    const std::map<std::string, double> scores = all_scores(rec, without);
    for (const Suggestion& s : r.suggestions) {
      const std::string& j = s.item->id;
      ASSERT_GT(full.at(j), 0) << j;
      effect[u][j] = std::log(full.at(j)) - std::log(scores.at(j));
    }
  }

  RecommendOptions defaults;
  defaults.explain = true;
  const Recommendations d = rec.recommend(history, defaults);
  ASSERT_EQ(d.suggestions.size(), r.suggestions.size());

  // Effects within this of 0 or of the threshold may fall either side (rounding of the batched
  // continuations against the full passes).
  constexpr double kTolerance = 1e-4;
  bool self_would_rise = false;
  int reasons = 0;
  for (std::size_t i = 0; i < r.suggestions.size(); ++i) {
    const Suggestion& s = r.suggestions[i];
    const std::string& j = s.item->id;
    if (past.contains(j) && effect[j][j] > kDefaultExplainMinEffect) self_would_rise = true;
    std::set<std::string> cited;
    for (std::size_t k = 0; k < s.because.size(); ++k) {
      const Reason& b = s.because[k];
      cited.insert(b.item_id);
      EXPECT_NE(b.item_id, j) << "cites itself";
      EXPECT_FALSE(marked.contains(b.item_id)) << j << " cites the non-product " << b.item_id;
      ASSERT_TRUE(effect.contains(b.item_id)) << b.item_id << " was not bought";
      EXPECT_NEAR(b.effect, effect[b.item_id][j], kTolerance) << j << " because of " << b.item_id;
      EXPECT_GT(effect[b.item_id][j], -kTolerance) << j << " because of " << b.item_id;
      if (k > 0) {
        EXPECT_LE(b.effect, s.because[k - 1].effect);
      }
      ++reasons;
    }
    // Every past product that raised the suggestion is cited, wherever it is in the history.
    for (const std::string& u : past) {
      if (u != j && !marked.contains(u) && effect[u][j] > kTolerance) {
        EXPECT_TRUE(cited.contains(u)) << j << " does not cite " << u;
      }
    }

    // The defaults: the two strongest of those with an effect of log 1.1 at least.
    std::vector<double> strong;
    std::size_t surely = 0;
    for (const std::string& u : past) {
      if (u == j || marked.contains(u)) continue;
      if (effect[u][j] >= kDefaultExplainMinEffect - kTolerance) strong.push_back(effect[u][j]);
      if (effect[u][j] >= kDefaultExplainMinEffect + kTolerance) ++surely;
    }
    std::sort(strong.rbegin(), strong.rend());
    const Suggestion& ds = d.suggestions[i];
    ASSERT_EQ(ds.item->id, j);
    EXPECT_GE(ds.because.size(), std::min<std::size_t>(2, surely)) << j;
    EXPECT_LE(ds.because.size(), std::min<std::size_t>(2, strong.size())) << j;
    for (std::size_t k = 0; k < ds.because.size(); ++k) {
      EXPECT_NEAR(ds.because[k].effect, strong[k], kTolerance) << j;
      EXPECT_GE(ds.because[k].effect, kDefaultExplainMinEffect) << j;
    }
  }
  EXPECT_GT(reasons, 0);
  EXPECT_TRUE(self_would_rise) << "no re-buy raises itself: the self-citing check means nothing";
}

// What a shopper sees: `suggest --explain` with the defaults, as a table and as JSON, on every
// example customer: both re-buys and new products, no non-product listed or cited, no suggestion
// citing itself, and the table saying what the JSON says.
TEST(Explanations, ExampleCustomersSeeRebuysDiscoveriesAndSoundReasons) {
  const std::set<std::string> marked = non_products();
  const auto paths = example_customers();
  ASSERT_GE(paths.size(), 5u);
  bool some_history_holds_a_non_product = false;
  for (const auto& path : paths) {
    SCOPED_TRACE(path.filename().string());
    const auto history = nlohmann::json::parse(test::read_file(path));
    for (const auto& e : history["events"])
      if (marked.contains(e["item"].get<std::string>())) some_history_holds_a_non_product = true;

    const std::vector<std::string> args = {"suggest",   "--model",     shipped_model().string(),
                                           "--history", path.string(), "--explain"};
    auto json_args = args;
    json_args.insert(json_args.end(), {"--format", "json"});
    const auto j = test::run_cli(json_args);
    ASSERT_EQ(j.status, 0) << j.err;
    const auto doc = nlohmann::json::parse(j.out);
    EXPECT_EQ(doc["mode"], "mixed");
    const auto t = test::run_cli(args);
    ASSERT_EQ(t.status, 0) << t.err;
    EXPECT_NE(t.out.find("\nBuy again\n"), std::string::npos) << t.out;
    EXPECT_NE(t.out.find("\nNew for you\n"), std::string::npos) << t.out;

    int rebuys = 0, discoveries = 0, reasons = 0;
    for (const auto& s : doc["suggestions"]) {
      const std::string id = s["item"].get<std::string>();
      EXPECT_FALSE(marked.contains(id)) << id;
      (s["purchased_before"].get<bool>() ? rebuys : discoveries) += 1;
      std::string names;
      for (const auto& b : s["because"]) {
        const std::string cited = b["item"].get<std::string>();
        EXPECT_FALSE(marked.contains(cited)) << id << " cites " << cited;
        EXPECT_NE(cited, id) << id << " cites itself";
        EXPECT_GE(b["effect"].get<double>(), kDefaultExplainMinEffect);
        names += (names.empty() ? "" : ", ") + b["name"].get<std::string>();
        ++reasons;
      }
      // The table's row of this rank names the same item and the same reasons.
      const std::string rank = std::to_string(s["rank"].get<int>());
      const auto row = t.out.find("\n" + std::string(4 - rank.size(), ' ') + rank + "  " + id);
      ASSERT_NE(row, std::string::npos) << id << "\n" << t.out;
      const std::string line = t.out.substr(row + 1, t.out.find('\n', row + 1) - row - 1);
      if (!names.empty()) {
        EXPECT_NE(line.find("because you bought " + names), std::string::npos) << line;
      } else {
        EXPECT_EQ(line.find("because"), std::string::npos) << line;
      }
    }
    EXPECT_GE(rebuys, 1);
    EXPECT_GE(discoveries, 1);
    EXPECT_GT(reasons, 0);
  }
  EXPECT_TRUE(some_history_holds_a_non_product) << "the non-product checks would mean nothing";
}

// The README's example outputs of suggest are what the binary prints (from the second line on: the
// first names the model directory as given).
TEST(Explanations, ReadmeExamplesAreWhatSuggestPrints) {
  const std::string readme = test::read_file(repo() / "README.md");
  const std::string history = (repo() / "examples" / "customers" / "12352.json").string();
  const std::vector<std::vector<std::string>> examples = {
      {"--explain"}, {"--need", "cake", "--top", "4", "--explain"}};
  for (const auto& extra : examples) {
    std::string command =
        "$ build/gptrec suggest --model models/online-retail --history "
        "examples/customers/12352.json";
    for (const std::string& arg : extra) command += " " + arg;
    SCOPED_TRACE(command);
    const auto start = readme.find(command + "\n");
    ASSERT_NE(start, std::string::npos);
    const auto first_line_end = readme.find('\n', readme.find('\n', start) + 1);
    const std::string shown =
        readme.substr(first_line_end + 1, readme.find("```", start) - first_line_end - 1);
    std::vector<std::string> args = {"suggest", "--model", shipped_model().string(), "--history",
                                     history};
    args.insert(args.end(), extra.begin(), extra.end());
    const auto r = test::run_cli(args);
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out.substr(r.out.find('\n') + 1), shown);
  }
}

}  // namespace
}  // namespace gptrec
