// End-to-end tests of generate and perplexity, on a fixture model given an item vocabulary (the
// commands work with any tokenizer; item tokens print as space-separated ids).
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "gptrec/model.hpp"
#include "gptrec/sampling.hpp"
#include "gptrec/scoring.hpp"
#include "gptrec/tokenizer.hpp"
#include "test_util.hpp"

using namespace gptrec;
using test::run_cli;

namespace {

// tiny-sinusoidal (vocab 500) + items.json naming tokens 4..499 "i4".."i499".
class TextCommands : public ::testing::Test {
 protected:
  void SetUp() override {
    test::copy_dir(test::model_dir("tiny-sinusoidal"), dir_.path());
    nlohmann::json items = nlohmann::json::array();
    for (int id = 4; id < 500; ++id) items.push_back({{"id", "i" + std::to_string(id)}});
    test::write_file(dir_ / "items.json",
                     nlohmann::json{{"format", "gptrec-items"},
                                    {"version", 1},
                                    {"special_tokens", {"<pad>", "<bos>", "<sep>", "<unk>"}},
                                    {"items", items}}
                         .dump());
  }
  std::string dir() const { return dir_.path().string(); }
  test::TempDir dir_;
};

}  // namespace

TEST_F(TextCommands, GreedyGenerateEqualsTheLibrary) {
  const Model model = Model::load(dir_.path());
  const auto tok = load_tokenizer(dir_.path());
  const std::string prompt = "<bos> i10 i20 i30";
  GenerationOptions o;
  o.max_new_tokens = 12;
  o.sampling.temperature = 0;
  Session s(model);
  const auto ids = generate(s, tok->encode(prompt), o).ids;

  const auto r =
      run_cli({"generate", dir(), "--prompt", prompt, "--max-tokens", "12", "--temperature", "0"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, tok->decode(ids) + "\n");
}

TEST_F(TextCommands, SeededGenerateIsReproducibleAndStopsAtAStopString) {
  const std::vector<std::string> args = {"generate",     dir(), "--prompt",      "<bos> i10",
                                         "--max-tokens", "30",  "--temperature", "1.5",
                                         "--top-k",      "50",  "--seed",        "11"};
  const auto a = run_cli(args), b = run_cli(args);
  ASSERT_EQ(a.status, 0) << a.err;
  EXPECT_EQ(a.out, b.out);
  auto other = args;
  other.back() = "12";
  EXPECT_NE(run_cli(other).out, a.out);

  // Stop at the third generated token's text: the output is what came before it.
  std::istringstream words(a.out);
  std::string w1, w2, w3;
  words >> w1 >> w2 >> w3;
  auto stopped = args;
  stopped.insert(stopped.end(), {"--stop", " " + w3 + " "});
  const auto s = run_cli(stopped);
  ASSERT_EQ(s.status, 0) << s.err;
  EXPECT_EQ(s.out, a.out.substr(0, a.out.find(" " + w3 + " ")) + "\n");
}

TEST_F(TextCommands, PerplexityEqualsTheLibrary) {
  std::string text = "<bos>";
  for (int i = 0; i < 150; ++i) text += " i" + std::to_string(4 + (i * 37) % 496);
  test::write_file(dir_ / "text.txt", text);
  const Model model = Model::load(dir_.path());
  const auto ids = load_tokenizer(dir_.path())->encode(text);
  const auto want = perplexity(model, ids, 40, 10);
  const auto r = run_cli({"perplexity", dir(), "--file", (dir_ / "text.txt").string(), "--context",
                          "40", "--stride", "10", "--format", "json"});
  ASSERT_EQ(r.status, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["scored_tokens"], 150);
  EXPECT_NEAR(j["perplexity"].get<double>(), want.perplexity(), 1e-9 * want.perplexity());
  // From standard input too.
  const auto piped = run_cli(
      {"perplexity", dir(), "--file", "-", "--context", "40", "--stride", "10", "--format", "json"},
      text);
  ASSERT_EQ(piped.status, 0) << piped.err;
  EXPECT_EQ(nlohmann::json::parse(piped.out)["perplexity"], j["perplexity"]);
}

TEST_F(TextCommands, BadArgumentsAreOneLineErrors) {
  auto r = run_cli({"generate", dir(), "--prompt", "<bos>", "--top-p", "1.5"});
  EXPECT_EQ(r.status, 2);
  r = run_cli({"perplexity", dir(), "--file", (dir_ / "missing.txt").string()});
  EXPECT_EQ(r.status, 5);
  EXPECT_NE(r.err.find("missing.txt: cannot open"), std::string::npos) << r.err;
  r = run_cli({"perplexity", test::model_dir("tiny-learned").string(), "--file", "-"}, "x y");
  EXPECT_EQ(r.status, 4);
  EXPECT_NE(r.err.find("no tokenizer"), std::string::npos) << r.err;
}
