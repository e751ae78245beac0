// End-to-end tests of gptrec tokenize, detokenize and logprobs --text with GPT-2's tokenizer.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "gptrec/safetensors.hpp"
#include "gptrec/tokenizer.hpp"
#include "test_util.hpp"

using namespace gptrec;
using test::run_cli;
using namespace std::string_literals;

namespace {

std::string join_ids(const std::vector<int>& ids) {
  std::string s;
  for (const int id : ids) s += (s.empty() ? "" : ",") + std::to_string(id);
  return s;
}

void expect_one_line_error(const test::CliResult& r, int status, const std::string& needle) {
  EXPECT_EQ(r.status, status) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_EQ(r.err.rfind("gptrec: error: ", 0), 0u) << r.err;
  EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
}

// A directory with GPT-2's tokenizer files and nothing else.
class TokenizeCommand : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* f : {"vocab.json", "merges.txt"})
      std::filesystem::copy_file(test::data_dir() / "gpt2" / f, dir_ / f);
  }
  std::string dir() const { return dir_.path().string(); }
  test::TempDir dir_;
};

}  // namespace

TEST_F(TokenizeCommand, TextToIdsAsTiktokenGivesThem) {
  // Rows of the tiktoken vectors, e.g. {"text": "Hello world", "ids": [15496, 995]}.
  std::ifstream in(test::data_dir() / "gpt2" / "tokenizer_vectors.jsonl");
  std::string line;
  int checked = 0;
  while (std::getline(in, line) && checked < 40) {
    const auto v = nlohmann::json::parse(line);
    const auto text = v["text"].get<std::string>();
    if (text.empty() || text.find('\0') != std::string::npos) continue;  // argv cannot carry NUL
    const auto r = run_cli({"tokenize", dir(), "--text", text});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out, join_ids(v["ids"].get<std::vector<int>>()) + "\n") << text;
    ++checked;
  }
  EXPECT_EQ(checked, 40);
}

TEST_F(TokenizeCommand, FilesAndStdinKeepEveryByte) {
  // A BOM, CRLF, a NUL and bytes that are not UTF-8.
  const std::string text = "\xEF\xBB\xBFhello\r\nworld\x00 caf\xC3\xA9 \xFF\xFE end\n"s;
  test::write_file(dir_ / "in.txt", text);
  const auto t = load_tokenizer(dir_.path());
  const std::string want = join_ids(t->encode(text)) + "\n";
  EXPECT_EQ(t->decode(t->encode(text)), text);

  const auto from_file = run_cli({"tokenize", dir(), "--file", (dir_ / "in.txt").string()});
  ASSERT_EQ(from_file.status, 0) << from_file.err;
  EXPECT_EQ(from_file.out, want);
  EXPECT_EQ(from_file.out.rfind("171,119,123,", 0), 0u);  // the BOM's three byte tokens
  EXPECT_EQ(run_cli({"tokenize", dir(), "-"}, text).out, want);
  EXPECT_EQ(run_cli({"tokenize", dir(), "--file", "-"}, text).out, want);

  // detokenize writes the same bytes back, without a newline of its own.
  const std::string ids = want.substr(0, want.size() - 1);
  const auto back = run_cli({"detokenize", dir(), "--ids", ids});
  ASSERT_EQ(back.status, 0) << back.err;
  EXPECT_EQ(back.out, text);
}

TEST_F(TokenizeCommand, CountTokensAndSpecialTokens) {
  auto r = run_cli({"tokenize", dir(), "--text", "Hello world", "--count"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "2\n");
  r = run_cli({"tokenize", dir(), "--text", "Hello world", "--tokens"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "15496\tHello\n995\t\xC4\xA0world\n");  // "Ġworld"
  r = run_cli({"tokenize", dir(), "--text", "<|endoftext|>"});
  EXPECT_EQ(r.out, "27,91,437,1659,5239,91,29\n");
  r = run_cli({"tokenize", dir(), "--text", "<|endoftext|>", "--allow-special"});
  EXPECT_EQ(r.out, "50256\n");
  r = run_cli({"tokenize", dir(), "--text", ""});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "\n");
  r = run_cli({"detokenize", dir(), "--ids", "15496,995,50256"});
  EXPECT_EQ(r.out, "Hello world<|endoftext|>");
}

TEST_F(TokenizeCommand, BadArgumentsAreOneLineErrors) {
  expect_one_line_error(run_cli({"tokenize", dir()}), 2, "--text T, --file F, or -");
  expect_one_line_error(run_cli({"tokenize", dir(), "--text", "a", "-"}, "b"), 2, "one way");
  expect_one_line_error(run_cli({"tokenize", dir(), "--text", "a", "--count", "--ids"}), 2,
                        "excludes");
  expect_one_line_error(run_cli({"tokenize", dir(), "--file", (dir_ / "none.txt").string()}), 5,
                        "none.txt: cannot open");
  expect_one_line_error(run_cli({"detokenize", dir(), "--ids", "1,50257"}), 2,
                        "token id 50257 is outside the vocabulary");
  std::filesystem::remove(dir_ / "merges.txt");
  expect_one_line_error(run_cli({"tokenize", dir(), "--text", "a"}), 4, "merges.txt: missing");
  test::write_file(dir_ / "merges.txt", "#version: 0.2\nx y z\n");
  expect_one_line_error(run_cli({"tokenize", dir(), "--text", "a"}), 4,
                        "merges.txt: line 2: expected two tokens");
  test::TempDir empty;
  expect_one_line_error(run_cli({"detokenize", empty.path().string(), "--ids", "1"}), 4,
                        "no tokenizer");
}

TEST_F(TokenizeCommand, LogprobsOfTextEqualLogprobsOfItsIds) {
  test::write_random_gpt2_model(dir_.path());
  const std::string text = "Hello, world! It's a caf\xC3\xA9 \xF0\x9F\x98\x80<|endoftext|>";
  for (const bool special : {false, true}) {
    const auto ids = load_tokenizer(dir_.path())->encode(text, special);
    std::vector<std::string> by_text = {"logprobs", dir(),  "--text", text,
                                        "--format", "json", "--top",  "3"};
    if (special) by_text.push_back("--allow-special");
    const auto a = run_cli(by_text);
    const auto b =
        run_cli({"logprobs", dir(), "--ids", join_ids(ids), "--format", "json", "--top", "3"});
    ASSERT_EQ(a.status, 0) << a.err;
    ASSERT_EQ(b.status, 0) << b.err;
    auto ja = nlohmann::json::parse(a.out), jb = nlohmann::json::parse(b.out);
    EXPECT_EQ(ja["tokens"], nlohmann::json(ids));
    EXPECT_EQ(ja["tokens"], jb["tokens"]);
    EXPECT_EQ(ja["text"], text);
    ASSERT_EQ(ja["positions"].size(), ids.size());
    EXPECT_EQ(ja["positions"][0]["token_text"], "Hello");
    // Same numbers; --text only adds the token strings.
    for (auto& p : ja["positions"]) {
      p.erase("token_text");
      for (auto& e : p["top"]) e.erase("token_text");
    }
    EXPECT_EQ(ja["positions"], jb["positions"]);
    EXPECT_EQ(ja["positions"].back()["token"], special ? 50256 : 29);
  }
  const auto table = run_cli({"logprobs", dir(), "--text", "Hello world"});
  ASSERT_EQ(table.status, 0) << table.err;
  EXPECT_NE(table.out.find("\"\xC4\xA0world\""), std::string::npos) << table.out;

  expect_one_line_error(run_cli({"logprobs", dir(), "--text", "a", "--ids", "1"}), 2, "excludes");
  expect_one_line_error(run_cli({"logprobs", dir()}), 2, "--ids or --text");
  expect_one_line_error(run_cli({"logprobs", dir(), "--text", ""}), 2, "no tokens");
}
