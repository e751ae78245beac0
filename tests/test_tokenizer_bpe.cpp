// GPT-2 byte-level BPE: golden vectors from tiktoken, round trips, special tokens, file errors.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "gptrec/error.hpp"
#include "gptrec/tokenizer.hpp"
#include "test_util.hpp"

using namespace gptrec;
using gptrec::test::data_dir;
using gptrec::test::read_file;
using gptrec::test::TempDir;
using gptrec::test::write_file;

namespace {

const Gpt2Tokenizer& gpt2() {
  static const Gpt2Tokenizer t =
      Gpt2Tokenizer::load(data_dir() / "gpt2" / "vocab.json", data_dir() / "gpt2" / "merges.txt");
  return t;
}

struct Vector {
  std::string text;
  std::vector<int> ids;
  std::optional<std::vector<int>> ids_if_special_allowed;
  std::string category;
  int line = 0;
};

std::vector<Vector> read_vectors(const std::string& name) {
  std::vector<Vector> out;
  const std::string text = read_file(data_dir() / "gpt2" / name);
  std::size_t pos = 0;
  int line = 0;
  while (pos < text.size()) {
    std::size_t eol = text.find('\n', pos);
    if (eol == std::string::npos) eol = text.size();
    const std::string row = text.substr(pos, eol - pos);
    pos = eol + 1;
    ++line;
    if (row.empty()) continue;
    const auto j = nlohmann::json::parse(row);
    Vector v;
    v.text = j.at("text").get<std::string>();
    v.ids = j.at("ids").get<std::vector<int>>();
    if (j.contains("ids_if_special_allowed"))
      v.ids_if_special_allowed = j["ids_if_special_allowed"].get<std::vector<int>>();
    v.category = j.value("category", "");
    v.line = line;
    out.push_back(std::move(v));
  }
  return out;
}

std::string show(const std::vector<int>& ids) {
  std::string s = "[";
  for (std::size_t i = 0; i < ids.size(); ++i) s += (i ? "," : "") + std::to_string(ids[i]);
  return s + "]";
}

// Checks every vector; returns how many passed.
int check_vectors(const Tokenizer& t, const std::vector<Vector>& vectors, const std::string& file) {
  int passed = 0;
  for (const Vector& v : vectors) {
    SCOPED_TRACE(file + ":" + std::to_string(v.line) + " (" + v.category + ")");
    const std::vector<int> ids = t.encode(v.text);
    EXPECT_EQ(ids, v.ids) << "got " << show(ids) << " expected " << show(v.ids);
    bool ok = ids == v.ids;
    if (v.ids_if_special_allowed) {
      const std::vector<int> special = t.encode(v.text, true);
      EXPECT_EQ(special, *v.ids_if_special_allowed);
      ok = ok && special == *v.ids_if_special_allowed;
    }
    const std::string back = t.decode(v.ids);
    EXPECT_EQ(back, v.text);
    ok = ok && back == v.text;
    passed += ok;
  }
  return passed;
}

}  // namespace

TEST(Gpt2Tokenizer, LoadsOpenAisFiles) {
  const auto& t = gpt2();
  EXPECT_EQ(t.kind(), "gpt2-bpe");
  EXPECT_EQ(t.vocab_size(), 50257);
  EXPECT_EQ(t.special_token("<|endoftext|>"), 50256);
  EXPECT_EQ(t.token_text(0), "!");
  EXPECT_EQ(t.token_text(262), "\xC4\xA0the");  // "Ġthe"
  EXPECT_EQ(t.token_bytes(262), " the");
}

TEST(Gpt2Tokenizer, SharedVectorsFromTiktoken) {
  const auto vectors = read_vectors("tokenizer_vectors.jsonl");
  ASSERT_EQ(vectors.size(), 439u);  // the file as documented in tests/data/gpt2/README.md
  EXPECT_EQ(check_vectors(gpt2(), vectors, "tokenizer_vectors.jsonl"), 439);
}

TEST(Gpt2Tokenizer, ExtraVectorsFromTiktoken) {
  const auto vectors = read_vectors("extra_vectors.jsonl");
  ASSERT_GE(vectors.size(), 700u);
  EXPECT_EQ(check_vectors(gpt2(), vectors, "extra_vectors.jsonl"),
            static_cast<int>(vectors.size()));
}
