// The recommender over a text model: GPT-2 tokenizer, random weights, a small named catalog.
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "gptrec/error.hpp"
#include "gptrec/recommender.hpp"
#include "test_util.hpp"

using namespace gptrec;

namespace {

const char* kCatalog = R"([
  {"id": "milk", "name": "Whole milk", "price": 1.1, "category": "dairy", "count": 50},
  {"id": "rye", "name": "Rye bread", "price": 2.4, "category": "bakery", "count": 30},
  {"id": "beans", "name": "Espresso beans", "price": 8.0, "count": 70},
  {"id": "cheese", "name": "Aged cheddar cheese", "category": "dairy", "count": 20},
  {"id": "soap", "name": "Lavender soap", "available": false, "count": 99},
  {"id": "tea", "name": "Green tea", "count": 10}])";

History history() {
  return parse_history(R"({"customer_id": "t1", "events": [
      {"item": "rye", "timestamp": "2024-01-01"}, {"item": "milk", "timestamp": "2024-01-02"},
      {"item": "mystery", "timestamp": "2024-01-03"}, {"item": "rye", "timestamp": "2024-01-04"},
      {"item": "tea", "type": "view", "timestamp": "2024-01-05"}]})",
                       "h");
}

// Mean log-probability of `candidate` after `prompt`, from one from-scratch forward pass.
double mean_logprob(const Model& model, const Tokenizer& tok, const std::string& prompt,
                    const std::string& candidate) {
  const auto p = tok.encode(prompt), c = tok.encode(candidate);
  std::vector<int> all = p;
  all.insert(all.end(), c.begin(), c.end());
  Session s(model);
  const RowMatrix logits = s.append(all);
  double sum = 0;
  for (std::size_t t = 0; t < c.size(); ++t) {
    const auto row = logits.row(static_cast<Eigen::Index>(p.size() + t) - 1).cast<double>();
    const double lse = row.maxCoeff() + std::log((row.array() - row.maxCoeff()).exp().sum());
    sum += row(c[t]) - lse;
  }
  return sum / static_cast<double>(c.size());
}

class TextRecommender : public ::testing::Test {
 protected:
  void SetUp() override {
    test::write_random_gpt2_model(dir_.path(), 128);
    for (const char* f : {"vocab.json", "merges.txt"})
      std::filesystem::copy_file(test::data_dir() / "gpt2" / f, dir_ / f);
  }
  test::TempDir dir_;
};

}  // namespace

TEST_F(TextRecommender, NeedsACatalog) {
  try {
    Recommender::load(dir_.path());
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("--catalog"), std::string::npos);
  }
}

TEST_F(TextRecommender, ScoresAreMeanLogprobsOfNamesAfterThePrompt) {
  const auto rec = Recommender::load(dir_.path(), Catalog::parse(kCatalog, "cat.json"));
  EXPECT_EQ(rec.kind(), ModelKind::kText);
  RecommendOptions o;
  o.top_n = 10;
  const auto r = rec.recommend(history(), o);
  EXPECT_EQ(r.score_kind, ScoreKind::kMeanLogprob);
  EXPECT_EQ(r.unknown_items, std::vector<std::string>{"mystery"});
  EXPECT_EQ(r.history_items_used, 2);
  ASSERT_EQ(r.suggestions.size(), 5u);  // soap is unavailable
  // The default template; history items oldest first by their last purchase: milk, then rye.
  const std::string prompt =
      "A shopper's past purchases, oldest first: Whole milk; Rye bread.\nTheir next purchase:";
  const auto tok = load_tokenizer(dir_.path());
  for (std::size_t k = 0; k < r.suggestions.size(); ++k) {
    const auto& s = r.suggestions[k];
    EXPECT_NEAR(s.score, mean_logprob(rec.model(), *tok, prompt, " " + s.item->name), 1e-4)
        << s.item->id;
    if (k > 0) {
      EXPECT_LE(s.score, r.suggestions[k - 1].score);
    }
    EXPECT_NE(s.item->id, "soap");
    EXPECT_EQ(s.purchased_before, s.item->id == "milk" || s.item->id == "rye");
  }
  o.category = "dairy";
  o.exclude_purchased = true;
  const auto dairy = rec.recommend(history(), o);
  ASSERT_EQ(dairy.suggestions.size(), 1u);
  EXPECT_EQ(dairy.suggestions[0].item->id, "cheese");
}

TEST_F(TextRecommender, ExplanationsEqualRescoringWithoutEachItem) {
  const auto rec = Recommender::load(dir_.path(), Catalog::parse(kCatalog, "cat.json"));
  RecommendOptions o;
  o.top_n = 3;
  o.explain = true;
  o.explain_min_effect = 0;  // every item that raised a suggestion
  const auto r = rec.recommend(history(), o);
  const auto tok = load_tokenizer(dir_.path());
  const std::map<std::string, std::string> without = {
      {"milk", "A shopper's past purchases, oldest first: Rye bread.\nTheir next purchase:"},
      {"rye", "A shopper's past purchases, oldest first: Whole milk.\nTheir next purchase:"}};
  for (const auto& s : r.suggestions) {
    std::vector<std::pair<double, std::string>> want;
    for (const auto& [item, prompt] : without) {
      const double effect = s.score - mean_logprob(rec.model(), *tok, prompt, " " + s.item->name);
      if (effect > 0 && item != s.item->id) want.emplace_back(effect, item);  // never itself
    }
    std::sort(want.rbegin(), want.rend());
    ASSERT_EQ(s.because.size(), want.size());
    for (std::size_t k = 0; k < want.size(); ++k) {
      EXPECT_EQ(s.because[k].item_id, want[k].second);
      EXPECT_NEAR(s.because[k].effect, want[k].first, 1e-4);
    }
  }
}

TEST_F(TextRecommender, TemplateFromTheModelDirectoryAndPopularityFallback) {
  test::write_file(
      dir_ / "recommender.json",
      R"({"prompt": "Bought: {history}. Next:", "separator": ", ", "candidate": " {name}!"})");
  const auto rec = Recommender::load(dir_.path(), Catalog::parse(kCatalog, "cat.json"));
  RecommendOptions o;
  o.top_n = 2;
  const auto r = rec.recommend(history(), o);
  const auto tok = load_tokenizer(dir_.path());
  EXPECT_NEAR(r.suggestions[0].score,
              mean_logprob(rec.model(), *tok, "Bought: Whole milk, Rye bread. Next:",
                           " " + r.suggestions[0].item->name + "!"),
              1e-4);
  const auto fallback = rec.recommend(parse_history(R"([{"item": "mystery"}])", "h"), o);
  EXPECT_EQ(fallback.score_kind, ScoreKind::kPopularity);
  ASSERT_EQ(fallback.suggestions.size(), 2u);
  EXPECT_EQ(fallback.suggestions[0].item->id, "beans");  // soap (99) is unavailable
  EXPECT_EQ(fallback.suggestions[1].item->id, "milk");

  test::write_file(dir_ / "recommender.json", R"({"prompt": "no placeholder"})");
  EXPECT_THROW(Recommender::load(dir_.path(), Catalog::parse(kCatalog, "cat.json")), Error);
}

TEST_F(TextRecommender, NeedGoesIntoThePromptAndOnlyFittingNamesAreScored) {
  test::write_file(
      dir_ / "recommender.json",
      R"({"need_prompt": "Bought: {history}. Wants: {need}. Next:", "separator": ", "})");
  const auto rec = Recommender::load(dir_.path(), Catalog::parse(kCatalog, "cat.json"));
  RecommendOptions o;
  o.need = "dairy milk or cheese {history}";  // a placeholder in the need stays text
  const auto r = rec.recommend(history(), o);
  EXPECT_EQ(r.score_kind, ScoreKind::kMeanLogprob);
  EXPECT_FALSE(r.need_fallback);
  ASSERT_EQ(r.suggestions.size(), 2u);  // Whole milk, Aged cheddar cheese
  const auto tok = load_tokenizer(dir_.path());
  for (const auto& s : r.suggestions) {
    EXPECT_TRUE(s.item->id == "milk" || s.item->id == "cheese") << s.item->id;
    EXPECT_NEAR(s.score,
                mean_logprob(rec.model(), *tok,
                             "Bought: Whole milk, Rye bread. Wants: dairy milk or cheese "
                             "{history}. Next:",
                             " " + s.item->name),
                1e-4);
  }
  o.need = "espresso machine";
  o.category = "dairy";
  const auto none = rec.recommend(history(), o);
  ASSERT_TRUE(none.need_fallback);
  EXPECT_EQ(*none.need_fallback,
            "no product fits the need \"espresso machine\" and the other filters");

  test::write_file(dir_ / "recommender.json", R"({"need_prompt": "Bought: {history}. Next:"})");
  EXPECT_THROW(Recommender::load(dir_.path(), Catalog::parse(kCatalog, "cat.json")), Error);
}
