// End-to-end tests of needs: `suggest --need`, the "need" field of `score` records, the library
// and `eval --protocol need`, on the tiny-items model with the names of tests/data/need and on the
// shipped online-retail model.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>

#include "gptrec/history.hpp"
#include "gptrec/recommender.hpp"
#include "test_util.hpp"

using gptrec::test::run_cli;

namespace {

std::string tiny_items() { return gptrec::test::model_dir("tiny-items").string(); }

// The "method" of each row of an `eval --format json` report, in order.
std::vector<std::string> method_names(const nlohmann::json& report) {
  std::vector<std::string> names;
  for (const auto& m : report["methods"]) names.push_back(m["method"].get<std::string>());
  return names;
}

std::string need_catalog() { return (gptrec::test::data_dir() / "need" / "catalog.json").string(); }
std::string fixture_history() {
  return (gptrec::test::model_dir("tiny-items") / "history.json").string();
}
std::filesystem::path repo() { return gptrec::test::source_dir(); }

std::vector<std::string> suggest_args(const std::string& need,
                                      std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {"suggest",         "--model",      tiny_items(),
                                   "--catalog",       need_catalog(), "--history",
                                   fixture_history(), "--need",       need};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

std::vector<std::string> items_of(const nlohmann::json& suggestions) {
  std::vector<std::string> out;
  for (const auto& s : suggestions) out.push_back(s["item"].get<std::string>());
  return out;
}

}  // namespace

TEST(CliNeed, TableSaysHowEachSuggestionFitsTheNeed) {
  const auto r = run_cli(suggest_args("cake", {"--explain", "--top", "5"}));
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("Need: \"cake\": only products whose name has every word of it."),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("Score: probability among the products that fit the need"),
            std::string::npos);
  const auto header = r.out.find("\nrank  item");
  ASSERT_NE(header, std::string::npos) << r.out;
  std::istringstream rows(r.out.substr(header + 1));
  std::string line;
  std::getline(rows, line);
  int listed = 0;
  while (std::getline(rows, line)) {
    const auto first = line.find_first_not_of(' ');
    if (first == std::string::npos || !std::isdigit(static_cast<unsigned char>(line[first])))
      continue;  // a section heading of the mixed list ("Buy again", "New for you")
    ++listed;
    EXPECT_NE(line.find("fits \"cake"), std::string::npos) << line;
    EXPECT_NE(line.find("CAKE"), std::string::npos) << line;
  }
  EXPECT_EQ(listed, 5);
}

TEST(CliNeed, JsonCarriesTheNeedAndTheFittingWords) {
  const auto r = run_cli(suggest_args("cake stand", {"--format", "json"}));
  ASSERT_EQ(r.status, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["score"], "need_probability");
  EXPECT_EQ(j["need"]["text"], "cake stand");
  EXPECT_EQ(j["need"]["words"], nlohmann::json::array({"cake", "stand"}));
  EXPECT_TRUE(j["need"]["fallback"].is_null());
  EXPECT_EQ(j["need"]["every_word"], true);
  ASSERT_FALSE(j["suggestions"].empty());
  auto has = [](const nlohmann::json& s, const std::string& word) {
    for (const auto& w : s["need_words"])
      if (w == word || w == word + "s") return true;
    return false;
  };
  for (const auto& s : j["suggestions"]) {
    EXPECT_TRUE(has(s, "cake") && has(s, "stand")) << s;  // only the names with both words
    EXPECT_GT(s["need_match"].get<double>(), 0);
  }
  // No name has both words: the ones with either are listed, and the output says so.
  const auto some = run_cli(suggest_args("lunch parasol", {"--format", "json", "--top", "20"}));
  ASSERT_EQ(some.status, 0) << some.err;
  const auto k = nlohmann::json::parse(some.out);
  EXPECT_EQ(k["need"]["every_word"], false);
  bool lunch = false, parasol = false;
  for (const auto& s : k["suggestions"]) {
    EXPECT_NE(has(s, "lunch"), has(s, "parasol")) << s;
    lunch |= has(s, "lunch");
    parasol |= has(s, "parasol");
  }
  EXPECT_TRUE(lunch && parasol) << some.out;
  const auto table = run_cli(suggest_args("lunch parasol"));
  EXPECT_NE(table.out.find("Need: \"lunch parasol\": no product has every word of it, so "
                           "products whose name has one of them."),
            std::string::npos)
      << table.out;
}

TEST(CliNeed, NoFitExitsSixWithTheListWithoutTheNeed) {
  const auto plain = run_cli({"suggest", "--model", tiny_items(), "--catalog", need_catalog(),
                              "--history", fixture_history(), "--format", "json"});
  ASSERT_EQ(plain.status, 0) << plain.err;
  const auto r = run_cli(suggest_args("zzzqqq", {"--format", "json"}));
  EXPECT_EQ(r.status, 6);
  EXPECT_NE(r.err.find("gptrec: warning: no product fits the need \"zzzqqq\"; the suggestions are "
                       "the ones without the need"),
            std::string::npos)
      << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["need"]["fallback"], "no product fits the need \"zzzqqq\"");
  EXPECT_EQ(items_of(j["suggestions"]), items_of(nlohmann::json::parse(plain.out)["suggestions"]));
  const auto table = run_cli(suggest_args("the for and"));
  EXPECT_EQ(table.status, 6);
  EXPECT_NE(table.out.find("Need: the need \"the for and\" has no word to look for"),
            std::string::npos)
      << table.out;
}

TEST(CliNeed, SuggestScoreAndLibraryRankTheSame) {
  const auto suggested = run_cli(suggest_args("bag", {"--format", "json", "--top", "8"}));
  ASSERT_EQ(suggested.status, 0) << suggested.err;
  const auto expected = items_of(nlohmann::json::parse(suggested.out)["suggestions"]);
  ASSERT_EQ(expected.size(), 8u);

  // score: the need as a field of the record, and as --need for the whole run.
  gptrec::test::TempDir dir;
  auto record = nlohmann::json::parse(gptrec::test::read_file(fixture_history()));
  gptrec::test::write_file(dir / "plain.jsonl", record.dump() + "\n");
  record["need"] = "bag";
  gptrec::test::write_file(dir / "in.jsonl", record.dump() + "\n");
  for (const auto& [input, extra] :
       {std::pair{"in.jsonl", std::vector<std::string>{}},
        std::pair{"plain.jsonl", std::vector<std::string>{"--need", "bag"}},
        std::pair{"in.jsonl", std::vector<std::string>{"--need", "zzz"}}}) {  // the record wins
    std::vector<std::string> args = {"score",
                                     "--model",
                                     tiny_items(),
                                     "--catalog",
                                     need_catalog(),
                                     "--input",
                                     (dir / input).string(),
                                     "--output",
                                     (dir / "out.jsonl").string(),
                                     "--top",
                                     "8",
                                     "--quiet"};
    args.insert(args.end(), extra.begin(), extra.end());
    const auto scored = run_cli(args);
    ASSERT_EQ(scored.status, 0) << scored.err;
    const auto line = nlohmann::json::parse(gptrec::test::read_file(dir / "out.jsonl"));
    EXPECT_EQ(line["score"], "need_probability");
    EXPECT_TRUE(line["need_fallback"].is_null());
    EXPECT_EQ(items_of(line["suggestions"]), expected) << input;
  }

  // The library, with the need in RecommendOptions.
  const auto rec = gptrec::Recommender::load(tiny_items(), gptrec::Catalog::load(need_catalog()));
  gptrec::RecommendOptions options;
  options.top_n = 8;
  options.need = "bag";
  const auto r = rec.recommend(
      gptrec::parse_history(gptrec::test::read_file(fixture_history()), "h"), options);
  std::vector<std::string> library;
  for (const auto& s : r.suggestions) library.push_back(s.item->id);
  EXPECT_EQ(library, expected);
}

TEST(CliNeed, ScoreRecordWithABadNeedIsAnErrorRecord) {
  gptrec::test::TempDir dir;
  auto record = nlohmann::json::parse(gptrec::test::read_file(fixture_history()));
  std::string lines = record.dump() + "\n";
  record["need"] = "";
  lines += record.dump() + "\n";
  record["need"] = 7;
  lines += record.dump() + "\n";
  record["need"] = "zzzqqq";
  lines += record.dump() + "\n";
  gptrec::test::write_file(dir / "in.jsonl", lines);
  const auto r =
      run_cli({"score", "--model", tiny_items(), "--catalog", need_catalog(), "--input",
               (dir / "in.jsonl").string(), "--output", (dir / "out.jsonl").string(), "--quiet"});
  EXPECT_EQ(r.status, 3) << r.err;
  std::istringstream out(gptrec::test::read_file(dir / "out.jsonl"));
  std::vector<nlohmann::json> got;
  for (std::string line; std::getline(out, line);) got.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(got.size(), 4u);
  EXPECT_FALSE(got[0].contains("need_fallback"));
  EXPECT_EQ(got[1]["error"], "need: empty (say what the customer is looking for)");
  EXPECT_NE(got[2]["error"].get<std::string>().find("need: expected a string, got a number"),
            std::string::npos)
      << got[2];
  EXPECT_EQ(got[3]["need_fallback"], "no product fits the need \"zzzqqq\"");
  EXPECT_EQ(got[3]["suggestions"], got[0]["suggestions"]);
}

TEST(CliNeed, ShippedModelSuggestsCakeProductsForCustomer12352) {
  const auto r = run_cli({"suggest", "--model", (repo() / "models" / "online-retail").string(),
                          "--history", (repo() / "examples" / "customers" / "12352.json").string(),
                          "--need", "cake", "--explain", "--format", "json"});
  ASSERT_EQ(r.status, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["suggestions"].size(), 10u);
  int explained = 0;
  for (const auto& s : j["suggestions"]) {
    EXPECT_NE(s["name"].get<std::string>().find("CAKE"), std::string::npos) << s;
    explained += !s["because"].empty();
  }
  EXPECT_GT(explained, 0);
}

TEST(CliNeed, EvalNeedProtocolReportsEveryMethodAndWritesTheQueries) {
  gptrec::test::TempDir dir;
  const auto r = run_cli(
      {"eval", "--protocol", "need", "--model", tiny_items(), "--catalog", need_catalog(), "--data",
       (repo() / "examples" / "online-retail-sample.jsonl").string(), "--need-weight", "0,gptrec=2",
       "--write-queries", (dir / "q.jsonl").string(), "--format", "json", "--quiet"});
  ASSERT_EQ(r.status, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  const std::vector<std::string> methods = method_names(j);
  const std::string model = "gptrec " + tiny_items();
  EXPECT_EQ(methods,
            (std::vector<std::string>{model + " w=0", model + " w=2", "BM25 (text alone)",
                                      "BM25 + popularity w=0", "BM25 + own frequency w=0"}));
  EXPECT_GT(j["queries"]["all"].get<int>(), 100);
  EXPECT_GT(j["mean_fitting_any"].get<double>(), j["mean_fitting_all"].get<double>());
  for (const auto& m : j["methods"])
    for (const char* setting : {"all", "never_bought"}) {
      const auto& x = m[setting];
      EXPECT_GE(x["hr"].get<double>(), x["ndcg"].get<double>()) << m;
      EXPECT_GE(x["ndcg"].get<double>(), 0) << m;
      EXPECT_GT(x["mrr"].get<double>(), 0) << m;
    }
  std::istringstream queries(gptrec::test::read_file(dir / "q.jsonl"));
  int n = 0;
  for (std::string line; std::getline(queries, line); ++n) {
    const auto q = nlohmann::json::parse(line);
    EXPECT_FALSE(q["targets"].empty()) << q;
    EXPECT_GE(q["fitting_any"].get<int>(), q["fitting_all"].get<int>());
  }
  EXPECT_EQ(n, j["queries"]["all"].get<int>());
}

TEST(CliNeed, EvalNeedGivesARowPerTextWeightAndPopularityExponent) {
  const std::string data = (repo() / "examples" / "online-retail-sample.jsonl").string();
  const auto r = run_cli({"eval", "--protocol", "need", "--model", tiny_items(), "--catalog",
                          need_catalog(), "--data", data, "--need-weight",
                          "gptrec=0,gptrec=1,gptrec-popularity=0,gptrec-popularity=4,popularity=0",
                          "--format", "json", "--quiet"});
  ASSERT_EQ(r.status, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  const std::vector<std::string> methods = method_names(j);
  const std::string model = "gptrec " + tiny_items();
  EXPECT_EQ(methods,
            (std::vector<std::string>{model + " w=0 popularity=0", model + " w=0 popularity=4",
                                      model + " w=1 popularity=0", model + " w=1 popularity=4",
                                      "BM25 (text alone)", "BM25 + popularity w=0",
                                      "BM25 + own frequency w=0"}));
  // The exponent changes the ranking.
  EXPECT_NE(j["methods"][0]["all"]["ndcg"], j["methods"][1]["all"]["ndcg"]);
  for (const char* bad : {"gptrec-popularity=-1", "gptrec-popularity=x", "gptrec-pop=1"}) {
    const auto e = run_cli({"eval", "--protocol", "need", "--model", tiny_items(), "--catalog",
                            need_catalog(), "--data", data, "--need-weight", bad, "--quiet"});
    EXPECT_EQ(e.status, 2) << bad;
    EXPECT_NE(e.err.find("--need-weight"), std::string::npos) << e.err;
    EXPECT_EQ(std::count(e.err.begin(), e.err.end(), '\n'), 1) << e.err;
  }
}
