#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "gptrec/error.hpp"
#include "gptrec/recommender.hpp"
#include "test_util.hpp"

using namespace gptrec;

namespace {

// An item model made from the tiny-sinusoidal fixture: vocab 500 = 4 special tokens + items
// "i4".."i499"; every tenth item is in category "garden", i499 is unavailable.
void make_item_model(const std::filesystem::path& dir,
                     const std::string& sequence_format = "baskets") {
  test::copy_dir(test::model_dir("tiny-sinusoidal"), dir);
  auto config = nlohmann::json::parse(test::read_file(dir / "config.json"));
  config["gptrec"] = {{"kind", "items"}, {"sequence_format", sequence_format}};
  test::write_file(dir / "config.json", config.dump());
  nlohmann::json items = nlohmann::json::array();
  for (int id = 4; id < 500; ++id) {
    nlohmann::json item = {{"id", "i" + std::to_string(id)},
                           {"name", "Item " + std::to_string(id)},
                           {"price", id / 10.0},
                           {"count", 1000 - id}};
    if (id % 10 == 0) item["category"] = "garden";
    if (id == 499) item["available"] = false;
    items.push_back(item);
  }
  test::write_file(dir / "items.json",
                   nlohmann::json{{"format", "gptrec-items"},
                                  {"version", 1},
                                  {"special_tokens", {"<pad>", "<bos>", "<sep>", "<unk>"}},
                                  {"items", items}}
                       .dump());
}

History history_of(const std::vector<std::vector<std::string>>& baskets) {
  nlohmann::json events = nlohmann::json::array();
  for (std::size_t b = 0; b < baskets.size(); ++b)
    for (const auto& item : baskets[b])
      events.push_back(
          {{"item", item},
           {"order", "o" + std::to_string(b)},
           {"timestamp", "2011-01-" + std::string(b < 9 ? "0" : "") + std::to_string(b + 1)}});
  return parse_history(nlohmann::json{{"customer_id", "c1"}, {"events", events}}.dump(), "h");
}

// log softmax over the item tokens of the last position, computed directly with a Session.
std::vector<double> item_log_probs(const Model& model, const std::vector<int>& tokens) {
  Session s(model);
  const RowMatrix logits = s.append(tokens, Logits::kLast);
  const auto items = logits.row(0).segment(4, 496).cast<double>();
  const double lse = items.maxCoeff() + std::log((items.array() - items.maxCoeff()).exp().sum());
  std::vector<double> out(496);
  for (int j = 0; j < 496; ++j) out[static_cast<std::size_t>(j)] = items(j) - lse;
  return out;
}

class ItemRecommender : public ::testing::Test {
 protected:
  void SetUp() override { make_item_model(dir_.path()); }
  test::TempDir dir_;
};

}  // namespace

TEST_F(ItemRecommender, SequencesFollowTheDocumentedFormat) {
  const auto vocab = ItemVocabulary::load(dir_ / "items.json");
  const auto h = history_of({{"i10", "i11", "i10"}, {"zzz"}, {"i12", "nope"}});
  const auto baskets = purchase_baskets(h);
  auto seq = build_item_sequence(vocab, baskets, SequenceFormat::kBaskets, 64);
  // <bos> i10 i11 <sep> i12 <sep>; the all-unknown basket disappears.
  EXPECT_EQ(seq.tokens, (std::vector<int>{1, 10, 11, 2, 12, 2}));
  EXPECT_EQ(seq.item_index, (std::vector<int>{-1, 0, 1, -1, 2, -1}));
  EXPECT_EQ(seq.items, (std::vector<std::string>{"i10", "i11", "i12"}));
  EXPECT_EQ(seq.unknown_items, (std::vector<std::string>{"zzz", "nope"}));
  EXPECT_EQ(seq.dropped_baskets, 0);

  seq = build_item_sequence(vocab, baskets, SequenceFormat::kBaskets, 4);  // room for one basket
  EXPECT_EQ(seq.tokens, (std::vector<int>{1, 12, 2}));
  EXPECT_EQ(seq.dropped_baskets, 1);
  EXPECT_EQ(seq.dropped_items, 2);

  seq = build_item_sequence(vocab, baskets, SequenceFormat::kItems, 64);
  EXPECT_EQ(seq.tokens, (std::vector<int>{1, 10, 11, 12}));
  seq = build_item_sequence(vocab, baskets, SequenceFormat::kItems, 3);
  EXPECT_EQ(seq.tokens, (std::vector<int>{1, 11, 12}));
  EXPECT_EQ(seq.dropped_items, 1);

  // One basket larger than the whole context keeps its most recent items.
  const auto big = purchase_baskets(history_of({{"i20", "i21", "i22", "i23", "i24"}}));
  seq = build_item_sequence(vocab, big, SequenceFormat::kBaskets, 4);
  EXPECT_EQ(seq.tokens, (std::vector<int>{1, 23, 24, 2}));
}

// The item scoring shared by the recommender and the evaluation: the log-softmax over the item
// tokens, then each repeat component.
TEST_F(ItemRecommender, ItemLogProbsAreTheSoftmaxOverItemsWithEachRepeatMix) {
  const auto rec = Recommender::load(dir_.path());
  const ItemVocabulary vocab = ItemVocabulary::load(dir_ / "items.json");
  const std::vector<int> tokens = {1, 10, 11, 2, 12, 2};
  const auto want = item_log_probs(rec.model(), tokens);
  const std::vector<RepeatMix> repeats = {RepeatMix{0.0, 1.0}, RepeatMix{0.5, 0.8}};
  Session session(rec.model());
  session.append(std::vector<int>{1, 7, 7});  // cleared first
  std::vector<std::vector<double>> got;
  item_log_probs(session, vocab, SequenceFormat::kBaskets, tokens, repeats, got);
  EXPECT_EQ(session.size(), static_cast<int>(tokens.size()));
  ASSERT_EQ(got.size(), 2u);
  ASSERT_EQ(got[0].size(), want.size());
  std::vector<double> mixed = want;
  mix_repeat(tokens, vocab.first_item_id(), vocab.sep_id(), SequenceFormat::kBaskets, repeats[1],
             mixed);
  for (std::size_t j = 0; j < want.size(); ++j) {
    EXPECT_NEAR(got[0][j], want[j], 1e-6) << j;
    EXPECT_NEAR(got[1][j], mixed[j], 1e-6) << j;
  }
  // The repeat component moves mass to the history's items (tokens 10, 11, 12).
  EXPECT_GT(got[1][6], got[0][6]);
  EXPECT_LT(got[1][100], got[0][100]);
}

TEST_F(ItemRecommender, ScoresAreTheModelsProbabilitiesRanked) {
  const auto rec = Recommender::load(dir_.path());
  EXPECT_EQ(rec.kind(), ModelKind::kItems);
  const auto h = history_of({{"i10", "i11"}, {"i12"}});
  RecommendOptions o;
  o.top_n = 20;
  const auto r = rec.recommend(h, o);
  EXPECT_EQ(r.customer_id, "c1");
  EXPECT_EQ(r.score_kind, ScoreKind::kProbability);
  EXPECT_FALSE(r.fallback_reason.has_value());
  ASSERT_EQ(r.suggestions.size(), 20u);
  const auto lp = item_log_probs(rec.model(), {1, 10, 11, 2, 12, 2});
  // The best available item is first; scores are the softmax probabilities, descending.
  std::size_t best = 0;
  for (std::size_t j = 0; j < lp.size() - 1; ++j)  // i499 (last) is unavailable
    if (lp[j] > lp[best]) best = j;
  EXPECT_EQ(r.suggestions[0].item->id, "i" + std::to_string(best + 4));
  for (std::size_t k = 0; k < r.suggestions.size(); ++k) {
    const auto& s = r.suggestions[k];
    EXPECT_EQ(s.rank, static_cast<int>(k) + 1);
    const int token = std::stoi(s.item->id.substr(1));
    EXPECT_NEAR(s.score, std::exp(lp[static_cast<std::size_t>(token - 4)]), 1e-6);
    if (k > 0) {
      EXPECT_LE(s.score, r.suggestions[k - 1].score);
    }
    EXPECT_EQ(s.purchased_before,
              s.item->id == "i10" || s.item->id == "i11" || s.item->id == "i12");
    EXPECT_NE(s.item->id, "i499");
  }
}

TEST_F(ItemRecommender, FiltersApply) {
  const auto rec = Recommender::load(dir_.path());
  const auto h = history_of({{"i10", "i11"}, {"i12"}});
  RecommendOptions o;
  o.top_n = 500;
  auto r = rec.recommend(h, o);
  EXPECT_EQ(r.suggestions.size(), 495u);  // every available item
  o.exclude_purchased = true;
  r = rec.recommend(h, o);
  EXPECT_EQ(r.suggestions.size(), 492u);
  for (const auto& s : r.suggestions) EXPECT_FALSE(s.purchased_before);
  o.exclude_purchased = false;
  o.category = "Garden";
  r = rec.recommend(h, o);
  EXPECT_EQ(r.suggestions.size(), 49u);  // i10, i20, ..., i490
  for (const auto& s : r.suggestions) EXPECT_EQ(s.item->category, "garden");
  o.top_n = 0;
  EXPECT_THROW(rec.recommend(h, o), Error);
}

TEST_F(ItemRecommender, ExplanationsEqualBruteForceOcclusion) {
  const auto rec = Recommender::load(dir_.path());
  const auto h = history_of({{"i30", "i31"}, {"i32", "i30"}, {"i33"}, {"i34", "i35"}});
  RecommendOptions o;
  o.top_n = 5;
  o.explain = true;
  o.explain_reasons = 6;     // every raising item
  o.explain_min_effect = 0;  // however little
  const auto r = rec.recommend(h, o);
  // Full sequence and each variant without one item (all occurrences; empty baskets vanish).
  const std::vector<int> full = {1, 30, 31, 2, 32, 30, 2, 33, 2, 34, 35, 2};
  const std::map<std::string, std::vector<int>> without = {
      {"i30", {1, 31, 2, 32, 2, 33, 2, 34, 35, 2}},
      {"i31", {1, 30, 2, 32, 30, 2, 33, 2, 34, 35, 2}},
      {"i32", {1, 30, 31, 2, 30, 2, 33, 2, 34, 35, 2}},
      {"i33", {1, 30, 31, 2, 32, 30, 2, 34, 35, 2}},
      {"i34", {1, 30, 31, 2, 32, 30, 2, 33, 2, 35, 2}},
      {"i35", {1, 30, 31, 2, 32, 30, 2, 33, 2, 34, 2}}};
  const auto lp_full = item_log_probs(rec.model(), full);
  int reasons = 0;
  for (const auto& s : r.suggestions) {
    const auto j = static_cast<std::size_t>(std::stoi(s.item->id.substr(1)) - 4);
    std::vector<std::pair<double, std::string>> want;
    for (const auto& [item, tokens] : without) {
      const double effect = lp_full[j] - item_log_probs(rec.model(), tokens)[j];
      if (effect > 0 && item != s.item->id) want.emplace_back(effect, item);  // never itself
    }
    std::sort(want.rbegin(), want.rend());
    ASSERT_EQ(s.because.size(), want.size()) << s.item->id;
    for (std::size_t k = 0; k < want.size(); ++k) {
      EXPECT_EQ(s.because[k].item_id, want[k].second);
      EXPECT_NEAR(s.because[k].effect, want[k].first, 1e-4);
      EXPECT_EQ(s.because[k].name, "Item " + want[k].second.substr(1));
      ++reasons;
    }
  }
  EXPECT_GT(reasons, 0);
}

TEST_F(ItemRecommender, FallsBackToPopularityWithoutKnownPurchases) {
  const auto rec = Recommender::load(dir_.path());
  RecommendOptions o;
  o.top_n = 3;
  for (const auto& h : {history_of({}), history_of({{"x1", "x2"}}),
                        parse_history(R"([{"item": "i10", "type": "view"}])", "h")}) {
    const auto r = rec.recommend(h, o);
    ASSERT_TRUE(r.fallback_reason.has_value());
    EXPECT_EQ(r.score_kind, ScoreKind::kPopularity);
    ASSERT_EQ(r.suggestions.size(), 3u);
    EXPECT_EQ(r.suggestions[0].item->id, "i4");  // count 996, the highest
    EXPECT_EQ(r.suggestions[2].item->id, "i6");
  }
  EXPECT_EQ(rec.recommend(history_of({{"x1", "x2"}}), o).unknown_items,
            (std::vector<std::string>{"x1", "x2"}));
}

TEST_F(ItemRecommender, LongHistoriesKeepTheMostRecentBaskets) {
  const auto rec = Recommender::load(dir_.path());
  std::vector<std::vector<std::string>> baskets;
  for (int b = 0; b < 30; ++b)
    baskets.push_back({"i" + std::to_string(100 + 2 * b), "i" + std::to_string(101 + 2 * b)});
  RecommendOptions o;
  o.top_n = 3;
  const auto r = rec.recommend(history_of(baskets), o);
  // 64 tokens = <bos> + 21 baskets of 3 tokens.
  EXPECT_EQ(r.dropped_baskets, 9);
  EXPECT_EQ(r.history_items_used, 42);
}

TEST_F(ItemRecommender, CatalogRestrictsAndRenames) {
  const auto catalog = Catalog::parse(R"([{"id": "i50", "name": "Fifty", "price": 5}, {"id": "i51"},
                                          {"id": "unknown-to-model"}])",
                                      "cat.json");
  const auto rec = Recommender::load(dir_.path(), catalog);
  EXPECT_EQ(rec.catalog().size(), 2u);
  EXPECT_EQ(rec.unscorable_items(), std::vector<std::string>{"unknown-to-model"});
  RecommendOptions o;
  o.top_n = 10;
  const auto r = rec.recommend(history_of({{"i10"}}), o);
  ASSERT_EQ(r.suggestions.size(), 2u);
  for (const auto& s : r.suggestions) {
    EXPECT_EQ(s.item->name, s.item->id == "i50" ? "Fifty" : "i51");
  }
}

// tests/data/models/tiny-items was exported by tools/train.py, with the token ids the trainer
// built for a real customer (history.json): the engine must build the same sequence.
TEST(Recommender, SequenceEqualsTheTrainersForARealCustomer) {
  const auto dir = test::model_dir("tiny-items");
  const auto vocab = ItemVocabulary::load(dir / "items.json");
  const Model model = Model::load(dir);
  const auto history = parse_history(test::read_file(dir / "history.json"), "history.json");
  const auto seq = build_item_sequence(vocab, purchase_baskets(history),
                                       model.config().sequence_format, model.config().n_ctx);
  const auto expected = SafetensorsFile::open(dir / "expected.safetensors");
  const TensorInfo* ids = expected.find("ids");
  ASSERT_NE(ids, nullptr);
  std::vector<std::int64_t> want(static_cast<std::size_t>(ids->numel()));
  std::memcpy(want.data(), expected.data(*ids).data(), want.size() * 8);
  EXPECT_EQ(std::vector<std::int64_t>(seq.tokens.begin(), seq.tokens.end()), want);
}

TEST(Recommender, ItemModelWithoutItemsJsonIsAnError) {
  test::TempDir dir;
  make_item_model(dir.path());
  std::filesystem::remove(dir / "items.json");
  try {
    Recommender::load(dir.path());
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kBadModel);
    EXPECT_NE(std::string(e.what()).find("items.json: missing"), std::string::npos);
  }
}

TEST(MixRepeat, MixesTheDecayedCopyDistributionIntoTheSoftmax) {
  const double u = std::log(0.25);
  // Baskets format, first item token 4, <sep> = 2: <bos> {i0 i1} <sep> {i0} <sep>. With decay 0.5
  // the newest basket's i0 weighs 1, the older basket's i0 and i1 0.5 each: copy = 0.75, 0.25.
  std::vector<double> lp(4, u);
  mix_repeat(std::vector<int>{1, 4, 5, 2, 4, 2}, 4, 2, SequenceFormat::kBaskets,
             RepeatMix{0.5, 0.5}, lp);
  const std::vector<double> want = {0.5 * 0.25 + 0.5 * 0.75, 0.5 * 0.25 + 0.5 * 0.25, 0.125, 0.125};
  for (std::size_t j = 0; j < 4; ++j) EXPECT_NEAR(std::exp(lp[j]), want[j], 1e-12) << j;
  // Items format: every item is a unit. i0 (newest) 1, i1 0.5, i0 0.25: copy = 1.25/1.75, 0.5/1.75.
  lp.assign(4, u);
  mix_repeat(std::vector<int>{1, 4, 5, 4}, 4, 2, SequenceFormat::kItems, RepeatMix{0.2, 0.5}, lp);
  EXPECT_NEAR(std::exp(lp[0]), 0.8 * 0.25 + 0.2 * 1.25 / 1.75, 1e-12);
  EXPECT_NEAR(std::exp(lp[1]), 0.8 * 0.25 + 0.2 * 0.5 / 1.75, 1e-12);
  EXPECT_NEAR(std::exp(lp[2]), 0.8 * 0.25, 1e-12);
  // Weight 0, or no item in the sequence: unchanged. An item of probability 0 gets the copy mass.
  lp.assign(4, u);
  mix_repeat(std::vector<int>{1, 4, 2}, 4, 2, SequenceFormat::kBaskets, RepeatMix{0, 0.5}, lp);
  mix_repeat(std::vector<int>{1}, 4, 2, SequenceFormat::kBaskets, RepeatMix{0.5, 0.5}, lp);
  for (const double v : lp) EXPECT_EQ(v, u);
  lp = {-INFINITY, 0, -INFINITY, -INFINITY};
  mix_repeat(std::vector<int>{1, 4, 2}, 4, 2, SequenceFormat::kBaskets, RepeatMix{0.25, 1}, lp);
  EXPECT_NEAR(lp[0], std::log(0.25), 1e-12);
  EXPECT_NEAR(lp[1], std::log(0.75), 1e-12);
  EXPECT_EQ(lp[2], -INFINITY);
}

TEST_F(ItemRecommender, RepeatComponentOfTheConfigIsApplied) {
  auto config = nlohmann::json::parse(test::read_file(dir_.path() / "config.json"));
  config["gptrec"]["repeat"] = {{"weight", 0.3}, {"decay", 0.8}};
  test::write_file(dir_.path() / "config.json", config.dump());
  const auto rec = Recommender::load(dir_.path());
  const auto h = history_of({{"i10", "i11"}, {"i12"}});
  RecommendOptions o;
  o.top_n = 495;
  const auto r = rec.recommend(h, o);
  const auto lp = item_log_probs(rec.model(), {1, 10, 11, 2, 12, 2});
  // Newest basket {i12} weighs 1, {i10 i11} 0.8 each.
  auto copy = [](const std::string& id) {
    return id == "i12" ? 1 / 2.6 : (id == "i10" || id == "i11") ? 0.8 / 2.6 : 0.0;
  };
  ASSERT_EQ(r.suggestions.size(), 495u);
  for (const auto& s : r.suggestions) {
    const auto j = static_cast<std::size_t>(std::stoi(s.item->id.substr(1)) - 4);
    EXPECT_NEAR(s.score, 0.7 * std::exp(lp[j]) + 0.3 * copy(s.item->id), 1e-6) << s.item->id;
  }
  for (std::size_t k = 1; k < r.suggestions.size(); ++k)
    EXPECT_LE(r.suggestions[k].score, r.suggestions[k - 1].score);
  // i12 (copy share 1 / 2.6) rises above the items the GPT alone preferred to it.
  const auto rank_of = [&](const std::string& id) {
    for (const auto& s : r.suggestions)
      if (s.item->id == id) return s.rank;
    return 0;
  };
  EXPECT_LE(rank_of("i12"), 3);
}

// An item marked "product": false (postage, a fee) stays in the sequence the model reads, but is
// never suggested and never given as a reason; a catalog can mark items too.
TEST_F(ItemRecommender, NonProductsAreReadButNeverSuggestedNorGivenAsReasons) {
  const auto h = history_of({{"i10", "i11"}, {"i12", "i10"}, {"i13"}});
  RecommendOptions o;
  o.top_n = 500;
  o.explain = true;
  o.explain_reasons = 10;    // every item that raised a suggestion
  o.explain_min_effect = 0;  // however little
  auto cites = [](const Recommendations& r, const std::string& id) {
    for (const auto& s : r.suggestions)
      for (const auto& b : s.because)
        if (b.item_id == id) return true;
    return false;
  };
  const auto as_product = Recommender::load(dir_.path()).recommend(h, o);
  ASSERT_TRUE(cites(as_product, "i10"));  // so that the check below means something

  auto items = nlohmann::json::parse(test::read_file(dir_ / "items.json"));
  items["items"][6]["product"] = false;  // i10
  test::write_file(dir_ / "items.json", items.dump());
  const auto rec = Recommender::load(dir_.path());
  EXPECT_FALSE(rec.is_product("i10"));
  EXPECT_TRUE(rec.is_product("i11"));
  const auto r = rec.recommend(h, o);
  EXPECT_EQ(r.history_items_used, 4);  // the model still reads i10
  ASSERT_EQ(r.suggestions.size(), as_product.suggestions.size() - 1);
  const auto lp = item_log_probs(rec.model(), {1, 10, 11, 2, 12, 10, 2, 13, 2});
  for (const auto& s : r.suggestions) {
    EXPECT_NE(s.item->id, "i10");
    const auto j = static_cast<std::size_t>(std::stoi(s.item->id.substr(1)) - 4);
    EXPECT_NEAR(s.score, std::exp(lp[j]), 1e-6) << s.item->id;
  }
  EXPECT_FALSE(cites(r, "i10"));
  EXPECT_TRUE(cites(r, "i11") || cites(r, "i12") || cites(r, "i13"));

  // A catalog marks i20; i10 stays marked by items.json.
  const auto catalog = Catalog::parse(
      R"([{"id": "i10"}, {"id": "i20", "product": false}, {"id": "i21"}])", "cat.json");
  const auto restricted = Recommender::load(dir_.path(), catalog);
  EXPECT_FALSE(restricted.is_product("i10"));
  EXPECT_FALSE(restricted.is_product("i20"));
  const auto only = restricted.recommend(h, o);
  ASSERT_EQ(only.suggestions.size(), 1u);
  EXPECT_EQ(only.suggestions[0].item->id, "i21");
}

// A return counts against the item: its score is multiplied by the share the customer kept
// (1 - returns / purchases, per order; README "Returns"). Returned as often as bought: score 0,
// listed after every other item.
TEST_F(ItemRecommender, ReturnsCountAgainstAnItem) {
  const auto h = parse_history(R"({"customer_id": "c1", "events": [
      {"item": "i10", "order": "o1", "timestamp": "2011-01-01"},
      {"item": "i11", "order": "o1", "timestamp": "2011-01-01"},
      {"item": "i10", "type": "return", "order": "C1", "timestamp": "2011-01-02"},
      {"item": "i10", "order": "o2", "timestamp": "2011-01-05"},
      {"item": "i11", "order": "o2", "timestamp": "2011-01-05"},
      {"item": "i11", "type": "return", "order": "C2", "timestamp": "2011-01-06"},
      {"item": "i10", "type": "return", "order": "C3", "timestamp": "2011-01-07"},
      {"item": "i40", "type": "return", "order": "C3", "timestamp": "2011-01-07"}]})",
                               "h");
  const auto rec = Recommender::load(dir_.path());
  RecommendOptions o;
  o.top_n = 495;
  o.mode = SuggestMode::kAll;
  const auto r = rec.recommend(h, o);
  ASSERT_EQ(r.suggestions.size(), 495u);
  // The model reads the purchases only: <bos> i10 i11 <sep> i10 i11 <sep>.
  const auto lp = item_log_probs(rec.model(), {1, 10, 11, 2, 10, 11, 2});
  for (const auto& s : r.suggestions) {
    const auto j = static_cast<std::size_t>(std::stoi(s.item->id.substr(1)) - 4);
    const double kept = s.item->id == "i10" || s.item->id == "i40" ? 0.0
                        : s.item->id == "i11"                      ? 0.5
                                                                   : 1.0;
    EXPECT_NEAR(s.score, kept * std::exp(lp[j]), 1e-7) << s.item->id;
    if (s.item->id == "i11") {
      EXPECT_EQ(s.times_bought, 2);
      EXPECT_EQ(s.times_returned, 1);
      EXPECT_EQ(s.last_bought, "2011-01-05");
    }
  }
  // Of the two items of score 0 the more popular (i10) comes first; both come last.
  EXPECT_EQ(r.suggestions[493].item->id, "i10");
  EXPECT_EQ(r.suggestions[494].item->id, "i40");
  EXPECT_EQ(r.suggestions[494].times_returned, 1);
  EXPECT_FALSE(r.suggestions[494].purchased_before);
  // Without the returns, i10 and i11 rank as the model says, above their demoted places.
  std::string no_returns = R"({"customer_id": "c1", "events": [
      {"item": "i10", "order": "o1", "timestamp": "2011-01-01"},
      {"item": "i11", "order": "o1", "timestamp": "2011-01-01"},
      {"item": "i10", "order": "o2", "timestamp": "2011-01-05"},
      {"item": "i11", "order": "o2", "timestamp": "2011-01-05"}]})";
  const auto plain = rec.recommend(parse_history(no_returns, "h"), o);
  auto rank_of = [](const Recommendations& x, const std::string& id) {
    for (const auto& s : x.suggestions)
      if (s.item->id == id) return s.rank;
    return 0;
  };
  EXPECT_LT(rank_of(plain, "i10"), rank_of(r, "i10"));
  EXPECT_LE(rank_of(plain, "i11"), rank_of(r, "i11"));
  // A mixed list of 10 offers i11 again (half its score), never i10 (returned as often as bought).
  o.top_n = 10;
  o.mode = SuggestMode::kMixed;
  const auto mixed = rec.recommend(h, o);
  EXPECT_EQ(rank_of(mixed, "i10"), 0);
  EXPECT_NE(rank_of(mixed, "i11"), 0);
}

// --mode: mixed (the default) gives half the list to re-buys and half to new items, listed
// together by score; buy-again and discover keep one kind; all ranks by score alone.
TEST_F(ItemRecommender, ModesChooseReBuysAndNewItems) {
  const auto rec = Recommender::load(dir_.path());
  const auto h = history_of({{"i10", "i11", "i12"}, {"i13", "i14", "i15", "i16"}});
  const std::set<std::string> bought = {"i10", "i11", "i12", "i13", "i14", "i15", "i16"};
  RecommendOptions o;
  EXPECT_EQ(o.mode, SuggestMode::kMixed);
  o.top_n = 10;
  const auto lp = item_log_probs(rec.model(), {1, 10, 11, 12, 2, 13, 14, 15, 16, 2});
  // The expected lists, from the model's probabilities: available items by score.
  std::vector<std::pair<double, std::string>> again, fresh;
  for (int id = 4; id < 499; ++id) {
    const std::string item = "i" + std::to_string(id);
    (bought.contains(item) ? again : fresh)
        .emplace_back(lp[static_cast<std::size_t>(id - 4)], item);
  }
  std::sort(again.rbegin(), again.rend());
  std::sort(fresh.rbegin(), fresh.rend());
  auto ids = [](const Recommendations& r) {
    std::vector<std::string> out;
    for (const auto& s : r.suggestions) out.push_back(s.item->id);
    return out;
  };
  auto scores_descend = [](const Recommendations& r) {
    for (std::size_t k = 1; k < r.suggestions.size(); ++k)
      if (r.suggestions[k].score > r.suggestions[k - 1].score) return false;
    return true;
  };

  const auto mixed = rec.recommend(h, o);
  ASSERT_EQ(mixed.suggestions.size(), 10u);
  std::set<std::string> want;
  for (int k = 0; k < 5; ++k) want.insert({again[k].second, fresh[k].second});
  const auto got = ids(mixed);
  EXPECT_EQ(std::set<std::string>(got.begin(), got.end()), want);
  EXPECT_TRUE(scores_descend(mixed));
  for (std::size_t k = 0; k < 10; ++k)
    EXPECT_EQ(mixed.suggestions[k].rank, static_cast<int>(k) + 1);
  // An odd length gives the extra place to new items; fewer re-buys than half leave theirs.
  o.top_n = 5;
  const auto short_list = rec.recommend(h, o);
  EXPECT_EQ(std::count_if(short_list.suggestions.begin(), short_list.suggestions.end(),
                          [](const Suggestion& s) { return s.purchased_before; }),
            2);
  o.top_n = 20;
  const auto long_list = rec.recommend(h, o);
  EXPECT_EQ(std::count_if(long_list.suggestions.begin(), long_list.suggestions.end(),
                          [](const Suggestion& s) { return s.purchased_before; }),
            7);

  o.top_n = 10;
  o.mode = SuggestMode::kBuyAgain;
  const auto buy_again = rec.recommend(h, o);
  ASSERT_EQ(buy_again.suggestions.size(), 7u);  // every item bought, no more
  for (std::size_t k = 0; k < 7; ++k) {
    EXPECT_EQ(buy_again.suggestions[k].item->id, again[k].second);
    EXPECT_TRUE(buy_again.suggestions[k].purchased_before);
    EXPECT_EQ(buy_again.suggestions[k].times_bought, 1);
    const int id = std::stoi(buy_again.suggestions[k].item->id.substr(1));
    EXPECT_EQ(buy_again.suggestions[k].last_bought, id <= 12 ? "2011-01-01" : "2011-01-02");
  }
  o.mode = SuggestMode::kDiscover;
  const auto discover = rec.recommend(h, o);
  for (std::size_t k = 0; k < 10; ++k) EXPECT_EQ(discover.suggestions[k].item->id, fresh[k].second);
  o.mode = SuggestMode::kMixed;
  o.exclude_purchased = true;  // the same as discover
  EXPECT_EQ(ids(rec.recommend(h, o)), ids(discover));
  o.mode = SuggestMode::kBuyAgain;
  EXPECT_THROW(rec.recommend(h, o), Error);
  o.exclude_purchased = false;
  o.mode = SuggestMode::kAll;
  std::vector<std::pair<double, std::string>> all(again);
  all.insert(all.end(), fresh.begin(), fresh.end());
  std::sort(all.rbegin(), all.rend());
  const auto by_score = rec.recommend(h, o);
  for (std::size_t k = 0; k < 10; ++k) EXPECT_EQ(by_score.suggestions[k].item->id, all[k].second);

  EXPECT_EQ(to_string(SuggestMode::kBuyAgain), "buy-again");
  EXPECT_EQ(parse_suggest_mode("discover"), SuggestMode::kDiscover);
  EXPECT_EQ(parse_suggest_mode("Mixed"), std::nullopt);
}
