// Needs (need.hpp): the words, the stemmer, BM25 against values computed by hand from the formula,
// the evaluation's query rule, and the recommender's need path on the tiny-items model with the
// names of tests/data/need/catalog.json.
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <set>

#include "gptrec/error.hpp"
#include "gptrec/history.hpp"
#include "gptrec/need.hpp"
#include "gptrec/recommender.hpp"
#include "test_util.hpp"

namespace {

using gptrec::ErrorCode;
using Words = std::vector<std::string>;

gptrec::ErrorCode code_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const gptrec::Error& e) {
    return e.code();
  }
  return gptrec::ErrorCode::kInternal;  // no error: fails the EXPECT_EQ that uses it
}

std::filesystem::path need_catalog() { return gptrec::test::data_dir() / "need" / "catalog.json"; }

const gptrec::Recommender& recommender() {
  static const gptrec::Recommender rec = gptrec::Recommender::load(
      gptrec::test::model_dir("tiny-items"), gptrec::Catalog::load(need_catalog()));
  return rec;
}

gptrec::History fixture_history() {
  const auto path = gptrec::test::model_dir("tiny-items") / "history.json";
  return gptrec::parse_history(gptrec::test::read_file(path), path.string());
}

// The fixture history without its returns (which scale an item's score down after the
// normalization), and options that list every item in mode all: then a need's scores are exactly
// p(j | history, need). `p` receives the model's probabilities without a need.
gptrec::History history_for_exact_scores(const gptrec::Recommender& rec,
                                         gptrec::RecommendOptions& all,
                                         std::unordered_map<std::string, double>& p) {
  gptrec::History h = fixture_history();
  std::erase_if(h.events,
                [](const gptrec::Event& e) { return e.type == gptrec::EventType::kReturn; });
  all.top_n = 1 << 20;
  all.mode = gptrec::SuggestMode::kAll;
  for (const auto& s : rec.recommend(h, all).suggestions) p[s.item->id] = s.score;
  return h;
}

}  // namespace

TEST(NeedWords, CutLowercaseAndKeepNonAscii) {
  EXPECT_EQ(gptrec::text_words("LUNCH BAG  BLACK SKULL."),
            (Words{"lunch", "bag", "black", "skull"}));
  EXPECT_EQ(gptrec::text_words("T-LIGHT holder, 3 x12"),
            (Words{"t", "light", "holder", "3", "x12"}));
  EXPECT_EQ(gptrec::text_words("Crème Brûlée"), (Words{"crème", "brûlée"}));
  EXPECT_EQ(gptrec::text_words("  ...  "), Words{});
  EXPECT_TRUE(gptrec::is_content_word("bag"));
  EXPECT_FALSE(gptrec::is_content_word("the"));   // stop word
  EXPECT_FALSE(gptrec::is_content_word("want"));  // a word of asking
  EXPECT_FALSE(gptrec::is_content_word("3d"));    // digits
  EXPECT_FALSE(gptrec::is_content_word("t"));     // short
  EXPECT_TRUE(gptrec::is_colour_or_size_word("pink"));
  EXPECT_TRUE(gptrec::is_colour_or_size_word("jumbo"));
  EXPECT_FALSE(gptrec::is_colour_or_size_word("bag"));
}

TEST(NeedWords, PluralStemmer) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"cakes", "cake"},  {"boxes", "box"},     {"glasses", "glass"},  {"berries", "berry"},
      {"dishes", "dish"}, {"matches", "match"}, {"candles", "candle"}, {"shoes", "shoe"},
      {"trees", "tree"},  {"cactus", "cactus"}, {"tennis", "tennis"},  {"bus", "bus"},
      {"bag", "bag"},     {"bags", "bag"},      {"dress", "dress"},    {"series", "sery"}};
  for (const auto& [word, stem] : cases) EXPECT_EQ(gptrec::stem_word(word), stem) << word;
}

TEST(NeedParse, ContentWordsAndStems) {
  const gptrec::Need n = gptrec::parse_need("I want to buy LUNCH bags for the kids");
  EXPECT_EQ(n.words, (Words{"lunch", "bags", "kids"}));
  EXPECT_EQ(n.stems, (Words{"lunch", "bag", "kid"}));
  EXPECT_TRUE(gptrec::parse_need("the and for").stems.empty());  // valid, fits nothing
  EXPECT_TRUE(gptrec::parse_need("12 3").stems.empty());
}

TEST(NeedParse, BadNeedsAreArgumentErrors) {
  for (const std::string& bad :
       {std::string(""), std::string("   \t"), std::string(100 * 1024, 'a'),
        std::string("cake \xff"), std::string("\xc3\x28"),
        std::string("\xed\xa0\x80"),  // a UTF-16 surrogate
        std::string("cake\x01"), std::string("cake\nbag")})
    EXPECT_EQ(code_of([&] { gptrec::parse_need(bad); }), ErrorCode::kInvalidArgument) << bad.size();
  EXPECT_NO_THROW(gptrec::parse_need(std::string(gptrec::kMaxNeedBytes, 'a')));
  EXPECT_NO_THROW(gptrec::parse_need("crème brûlée"));
}

TEST(NeedIndex, Bm25AsTheFormulaSays) {
  const std::vector<std::string> names = {"LUNCH BAG RED", "JUMBO BAG", "CAKE STAND",
                                          "CAKESTAND 3 TIER REGENCY"};
  // Content words per name: 3, 2, 2, 3 (the "3" is not one): mean 2.5.
  const double k1 = 1.2, b = 0.75, mean = 2.5, n_docs = 4;
  const auto term = [&](double n, double tf, double length) {
    const double idf = std::log(1 + (n_docs - n + 0.5) / (n + 0.5));
    return idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * length / mean));
  };
  const gptrec::NameIndex exact(names, gptrec::NeedMatch::kExact);
  const gptrec::NameIndex compound(names, gptrec::NeedMatch::kCompound);
  std::vector<double> s;
  std::vector<int> fitted;
  exact.score(Words{"bag"}, s, &fitted);
  EXPECT_NEAR(s[0], term(2, 1, 3), 1e-12);
  EXPECT_NEAR(s[1], term(2, 1, 2), 1e-12);
  EXPECT_EQ(s[2], 0);
  EXPECT_EQ(s[3], 0);
  EXPECT_EQ(fitted, (std::vector<int>{1, 1, 0, 0}));

  exact.score(Words{"cake"}, s);
  EXPECT_NEAR(s[2], term(1, 1, 2), 1e-12);
  EXPECT_EQ(s[3], 0);  // exact: "cakestand" is another word
  compound.score(Words{"cake"}, s);
  EXPECT_NEAR(s[2], term(2, 1, 2), 1e-12);
  EXPECT_NEAR(s[3], term(2, 1, 3), 1e-12);
  EXPECT_EQ(compound.fitting_words(3, Words{"cake"}), Words{"cakestand"});

  // Two words: the terms add; a repeated stem counts once; stems under 4 bytes never compound.
  compound.score(Words{"lunch", "bag", "bag"}, s, &fitted);
  EXPECT_NEAR(s[0], term(1, 1, 3) + term(2, 1, 3), 1e-12);
  EXPECT_EQ(fitted[0], 2);
  EXPECT_EQ(fitted[1], 1);
  compound.score(Words{"cak"}, s);
  EXPECT_EQ(s, (std::vector<double>{0, 0, 0, 0}));
}

TEST(NeedQuery, SplitMix64ReferenceValues) {
  // The first outputs of SplitMix64 seeded with 0 (Vigna's reference implementation).
  std::uint64_t state = 0;
  EXPECT_EQ(gptrec::splitmix64(state), 0xE220A8397B1DCDAFull);
  EXPECT_EQ(gptrec::splitmix64(state), 0x6E789E6AA1B965F4ull);
  EXPECT_EQ(gptrec::fnv1a64(""), 0xCBF29CE484222325ull);
  EXPECT_EQ(gptrec::fnv1a64("a"), 0xAF63DC4C8601EC8Cull);
}

TEST(NeedQuery, DeterministicOneOrTwoContentWordsNeverOnlyColourOrSize) {
  const std::string name = "JUMBO BAG PINK POLKADOT";
  std::set<std::string> seen;
  for (std::uint64_t seed = 0; seed < 200; ++seed) {
    const std::string q = gptrec::need_query(name, "12352", "22386", seed);
    EXPECT_EQ(q, gptrec::need_query(name, "12352", "22386", seed));  // deterministic
    const auto words = gptrec::text_words(q);
    ASSERT_GE(words.size(), 1u) << q;
    ASSERT_LE(words.size(), 2u) << q;
    EXPECT_TRUE(std::any_of(words.begin(), words.end(), [](const std::string& w) {
      return !gptrec::is_colour_or_size_word(w);
    })) << q;
    seen.insert(q);
  }
  EXPECT_GE(seen.size(), 5u);                                        // the seed changes the query
  EXPECT_EQ(gptrec::need_query("RED PINK SMALL", "c", "i", 0), "");  // no anchor: no query
  EXPECT_EQ(gptrec::need_query("12 34", "c", "i", 0), "");
}

TEST(NeedHistory, RecordNeedField) {
  EXPECT_EQ(gptrec::parse_history(R"({"need": "cake", "events": []})", "h").need, "cake");
  EXPECT_FALSE(gptrec::parse_history(R"({"need": null, "events": []})", "h").need);
  EXPECT_FALSE(gptrec::parse_history(R"({"events": []})", "h").need);
  try {
    gptrec::parse_history(R"({"need": 5, "events": []})", "h");
    FAIL();
  } catch (const gptrec::Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kBadInput);
    EXPECT_NE(std::string(e.what()).find("h: need: expected a string"), std::string::npos);
  }
}

TEST(NeedRecommend, OnlyFittingProductsRankedByTheNeedConditionedProbability) {
  const gptrec::Recommender& rec = recommender();
  gptrec::RecommendOptions all;
  std::unordered_map<std::string, double> p;  // the model's probabilities without a need
  const gptrec::History h = history_for_exact_scores(rec, all, p);

  gptrec::RecommendOptions o = all;
  o.need = "cakes";
  const gptrec::Recommendations r = rec.recommend(h, o);
  EXPECT_EQ(r.score_kind, gptrec::ScoreKind::kNeedProbability);
  ASSERT_TRUE(r.need);
  EXPECT_FALSE(r.need_fallback);
  ASSERT_GE(r.suggestions.size(), 3u);
  // Every available product with "cake" or "cakes" in its name is listed, and only those.
  std::size_t fitting = 0;
  for (const auto& item : rec.catalog())
    for (const auto& w : gptrec::text_words(item.name))
      if ((w == "cake" || w == "cakes") && item.available) {
        ++fitting;
        break;
      }
  EXPECT_EQ(r.suggestions.size(), fitting);
  const double w = rec.model().config().need_weight;
  double total = 0, previous = 2;
  for (const auto& s : r.suggestions) {
    ASSERT_FALSE(s.need_words.empty()) << s.item->name;
    for (const auto& w : s.need_words) EXPECT_TRUE(w == "cake" || w == "cakes") << s.item->name;
    EXPECT_LE(s.score, previous);
    previous = s.score;
    total += s.score;
  }
  EXPECT_NEAR(total, 1.0, 1e-9);
  // p(j | history, need) / p(k | history, need) = p(j) e^(w bm25_j) / (p(k) e^(w bm25_k)).
  const auto& a = r.suggestions.front();
  const auto& z = r.suggestions.back();
  EXPECT_NEAR(std::log(a.score / z.score),
              std::log(p[a.item->id] / p[z.item->id]) + w * (a.need_match - z.need_match), 1e-9);
}

TEST(NeedIndex, EveryWordFitsWhenOneEligibleItemHasThemAll) {
  const std::vector<std::string> names = {"LUNCH BAG RED", "JUMBO BAG", "LUNCH BOX", "CAKE STAND"};
  const gptrec::NameIndex index(names);
  std::vector<double> bm25, all;
  std::vector<int> fitted;
  index.score(Words{"lunch", "bag"}, all, &fitted);
  // Name 0 has both words: only it stays.
  bm25 = all;
  EXPECT_TRUE(gptrec::keep_every_word_fits(fitted, 2, {}, bm25));
  EXPECT_EQ(bm25, (std::vector<double>{all[0], 0, 0, 0}));
  // Name 0 is not eligible (a filter drops it): nothing has both, every fitting name stays.
  bm25 = all;
  EXPECT_FALSE(gptrec::keep_every_word_fits(fitted, 2, {false, true, true, true}, bm25));
  EXPECT_EQ(bm25, all);
  EXPECT_GT(bm25[1], 0);
  EXPECT_GT(bm25[2], 0);
  // No name has every word.
  index.score(Words{"cake", "bag"}, all, &fitted);
  bm25 = all;
  EXPECT_FALSE(gptrec::keep_every_word_fits(fitted, 2, {}, bm25));
  EXPECT_EQ(bm25, all);
  // One word: every fitting name has it.
  index.score(Words{"bag"}, all, &fitted);
  bm25 = all;
  EXPECT_TRUE(gptrec::keep_every_word_fits(fitted, 1, {}, bm25));
  EXPECT_EQ(bm25, all);
}

TEST(NeedRecommend, ProductsWithEveryWordFirstElseAnyWord) {
  const gptrec::Recommender& rec = recommender();
  const gptrec::History h = fixture_history();
  gptrec::RecommendOptions o;
  o.top_n = 1 << 20;
  o.mode = gptrec::SuggestMode::kAll;
  // "cake stand": names with both words exist, and only they are listed.
  o.need = "cake stand";
  auto r = rec.recommend(h, o);
  ASSERT_FALSE(r.need_fallback);
  EXPECT_TRUE(r.need_every_word);
  ASSERT_FALSE(r.suggestions.empty());
  auto stems_of = [](const gptrec::Suggestion& s) {
    std::set<std::string> out;
    for (const auto& w : s.need_words) out.insert(gptrec::stem_word(w));
    return out;
  };
  for (const auto& s : r.suggestions)
    EXPECT_EQ(stems_of(s), (std::set<std::string>{"cake", "stand"})) << s.item->name;
  // "lunch parasol": no name has both; the names with either are listed.
  o.need = "lunch parasol";
  r = rec.recommend(h, o);
  ASSERT_FALSE(r.need_fallback);
  EXPECT_FALSE(r.need_every_word);
  std::set<std::string> seen;
  for (const auto& s : r.suggestions) {
    const auto stems = stems_of(s);
    ASSERT_EQ(stems.size(), 1u) << s.item->name;
    seen.insert(*stems.begin());
  }
  EXPECT_EQ(seen, (std::set<std::string>{"lunch", "parasol"}));
}

TEST(NeedRecommend, KeepsTheOtherFilters) {
  const gptrec::Recommender& rec = recommender();
  const gptrec::History h = fixture_history();
  std::set<std::string> bought;
  for (const auto& e : h.events) bought.insert(e.item);
  gptrec::RecommendOptions o;
  o.top_n = 100;
  o.need = "bag";
  o.exclude_purchased = true;
  o.max_price = 2.0;
  o.min_price = 0.5;
  const auto r = rec.recommend(h, o);
  ASSERT_FALSE(r.need_fallback);
  ASSERT_FALSE(r.suggestions.empty());
  for (const auto& s : r.suggestions) {
    EXPECT_FALSE(bought.contains(s.item->id));
    ASSERT_TRUE(s.item->price);
    EXPECT_GE(*s.item->price, 0.5);
    EXPECT_LE(*s.item->price, 2.0);
    EXPECT_TRUE(s.item->available);
  }
}

TEST(NeedRecommend, NoFitFallsBackToTheListWithoutTheNeed) {
  const gptrec::Recommender& rec = recommender();
  const gptrec::History h = fixture_history();
  gptrec::RecommendOptions plain;
  const auto expected = rec.recommend(h, plain);
  for (const std::string need : {"zzzqqq", "the and for", "42"}) {
    gptrec::RecommendOptions o;
    o.need = need;
    const auto r = rec.recommend(h, o);
    ASSERT_TRUE(r.need_fallback) << need;
    EXPECT_NE(r.need_fallback->find(need), std::string::npos) << *r.need_fallback;
    EXPECT_EQ(r.score_kind, gptrec::ScoreKind::kProbability);
    ASSERT_EQ(r.suggestions.size(), expected.suggestions.size());
    for (std::size_t k = 0; k < r.suggestions.size(); ++k)
      EXPECT_EQ(r.suggestions[k].item, expected.suggestions[k].item);
  }
  // Products fit, but not with the other filters: the fallback says so.
  gptrec::RecommendOptions o;
  o.need = "cake";
  o.max_price = 0.0;
  const auto r = rec.recommend(h, o);
  ASSERT_TRUE(r.need_fallback);
  EXPECT_NE(r.need_fallback->find("and the other filters"), std::string::npos);
}

TEST(NeedRecommend, BadOptionsAreArgumentErrors) {
  const gptrec::Recommender& rec = recommender();
  const gptrec::History h = fixture_history();
  auto code = [&](const std::function<void(gptrec::RecommendOptions&)>& set) {
    gptrec::RecommendOptions o;
    set(o);
    return code_of([&] { rec.recommend(h, o); });
  };
  EXPECT_EQ(code([](auto& o) { o.need = ""; }), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code([](auto& o) { o.need = std::string(100 * 1024, 'x'); }),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(code([](auto& o) { o.need = "\xff"; }), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code([](auto& o) { o.min_price = -1; }), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code([](auto& o) { o.max_price = NAN; }), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code([](auto& o) {
              o.min_price = 5;
              o.max_price = 1;
            }),
            ErrorCode::kInvalidArgument);
}

TEST(NeedConfig, WeightFromConfigJson) {
  const std::string base =
      R"({"vocab_size": 8, "n_positions": 4, "n_embd": 4, "n_layer": 1, "n_head": 1, "gptrec": {"kind": "items", )";
  EXPECT_EQ(gptrec::parse_model_config(base + R"("need": {"weight": 0.5}}})", "c").need_weight,
            0.5);
  EXPECT_EQ(gptrec::parse_model_config(base + R"("sequence_format": "baskets"}})", "c").need_weight,
            gptrec::ModelConfig::kDefaultNeedWeight);
  EXPECT_EQ(code_of([&] { gptrec::parse_model_config(base + R"("need": {"weight": -1}}})", "c"); }),
            ErrorCode::kBadModel);
  EXPECT_EQ(
      code_of([&] { gptrec::parse_model_config(base + R"("need": {"weight": "1"}}})", "c"); }),
      ErrorCode::kBadModel);
  // The popularity expert's exponent β: 0 when absent, >= 0 and finite.
  const auto both =
      gptrec::parse_model_config(base + R"("need": {"weight": 0.5, "popularity": 0.25}}})", "c");
  EXPECT_EQ(both.need_weight, 0.5);
  EXPECT_EQ(both.need_popularity, 0.25);
  EXPECT_EQ(gptrec::parse_model_config(base + R"("need": {"weight": 2}}})", "c").need_popularity,
            0.0);
  EXPECT_EQ(
      code_of([&] { gptrec::parse_model_config(base + R"("need": {"popularity": -1}}})", "c"); }),
      ErrorCode::kBadModel);
  EXPECT_EQ(
      code_of([&] { gptrec::parse_model_config(base + R"("need": {"popularity": true}}})", "c"); }),
      ErrorCode::kBadModel);
}

TEST(NeedRecommend, PopularityExpertMultipliesByOnePlusCountToTheBeta) {
  // The tiny-items model with "need": {"weight": 0.5, "popularity": 1.5}: p(j | history, need) /
  // p(k | history, need) = p(j) (1 + count_j)^β e^(w bm25_j) / (p(k) (1 + count_k)^β e^(w bm25_k)).
  gptrec::test::TempDir dir;
  gptrec::test::copy_dir(gptrec::test::model_dir("tiny-items"), dir / "m");
  auto config = nlohmann::json::parse(gptrec::test::read_file(dir / "m" / "config.json"));
  config["gptrec"]["need"] = {{"weight", 0.5}, {"popularity", 1.5}};
  gptrec::test::write_file(dir / "m" / "config.json", config.dump());
  const gptrec::Recommender rec =
      gptrec::Recommender::load(dir / "m", gptrec::Catalog::load(need_catalog()));
  ASSERT_EQ(rec.model().config().need_popularity, 1.5);
  gptrec::RecommendOptions all;
  std::unordered_map<std::string, double> p;
  const gptrec::History h = history_for_exact_scores(rec, all, p);
  gptrec::RecommendOptions o = all;
  o.need = "cakes";
  const gptrec::Recommendations r = rec.recommend(h, o);
  ASSERT_GE(r.suggestions.size(), 3u);
  std::set<std::int64_t> counts;
  double total = 0;
  for (const auto& a : r.suggestions) {
    counts.insert(a.item->count);
    total += a.score;
    const auto& z = r.suggestions.back();
    EXPECT_NEAR(std::log(a.score / z.score),
                std::log(p[a.item->id] / p[z.item->id]) +
                    1.5 * (std::log1p(static_cast<double>(a.item->count)) -
                           std::log1p(static_cast<double>(z.item->count))) +
                    0.5 * (a.need_match - z.need_match),
                1e-9)
        << a.item->id;
  }
  EXPECT_NEAR(total, 1.0, 1e-9);
  EXPECT_GT(counts.size(), 1u);  // the counts differ, so the term is in play
}
