// GPT-2 byte-level BPE: golden vectors from tiktoken, round trips, special tokens, file errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
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

namespace {

// GPT-2's files as a Hugging Face tokenizer.json (the layout `save_pretrained` writes).
std::string gpt2_tokenizer_json(bool merges_as_pairs) {
  const auto vocab = nlohmann::json::parse(read_file(data_dir() / "gpt2" / "vocab.json"));
  nlohmann::json merges = nlohmann::json::array();
  std::istringstream lines(read_file(data_dir() / "gpt2" / "merges.txt"));
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty() || line.starts_with("#version")) continue;
    const auto space = line.find(' ');
    if (merges_as_pairs)
      merges.push_back({line.substr(0, space), line.substr(space + 1)});
    else
      merges.push_back(line);
  }
  nlohmann::json j;
  j["version"] = "1.0";
  j["truncation"] = nullptr;
  j["padding"] = nullptr;
  j["added_tokens"] = {{{"id", 50256},
                        {"content", "<|endoftext|>"},
                        {"single_word", false},
                        {"lstrip", false},
                        {"rstrip", false},
                        {"normalized", true},
                        {"special", true}}};
  j["normalizer"] = nullptr;
  j["pre_tokenizer"] = {{"type", "ByteLevel"},
                        {"add_prefix_space", false},
                        {"trim_offsets", true},
                        {"use_regex", true}};
  j["post_processor"] = {
      {"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", false}};
  j["decoder"] = {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}};
  j["model"] = {{"type", "BPE"},
                {"dropout", nullptr},
                {"unk_token", nullptr},
                {"continuing_subword_prefix", ""},
                {"end_of_word_suffix", ""},
                {"fuse_unk", false},
                {"byte_fallback", false},
                {"vocab", vocab},
                {"merges", merges}};
  return j.dump();
}

}  // namespace

TEST(Gpt2Tokenizer, TokenizerJsonGivesTheSameIds) {
  auto vectors = read_vectors("tokenizer_vectors.jsonl");
  const auto extra = read_vectors("extra_vectors.jsonl");
  vectors.insert(vectors.end(), extra.begin(), extra.end());
  for (const bool pairs : {false, true}) {
    SCOPED_TRACE(pairs ? "merges as pairs" : "merges as strings");
    TempDir dir;
    write_file(dir / "tokenizer.json", gpt2_tokenizer_json(pairs));
    const auto t = load_tokenizer(dir.path());
    ASSERT_EQ(t->kind(), "gpt2-bpe");
    EXPECT_EQ(t->vocab_size(), 50257);
    EXPECT_EQ(check_vectors(*t, vectors, "vectors"), static_cast<int>(vectors.size()));
  }
}

TEST(Gpt2Tokenizer, LoadTokenizerFindsEachLayout) {
  TempDir dir;
  std::filesystem::copy_file(data_dir() / "gpt2" / "vocab.json", dir / "vocab.json");
  try {
    load_tokenizer(dir.path());
    ADD_FAILURE() << "loaded without merges.txt";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kBadModel);
    EXPECT_NE(std::string(e.what()).find("merges.txt: missing"), std::string::npos) << e.what();
  }
  std::filesystem::copy_file(data_dir() / "gpt2" / "merges.txt", dir / "merges.txt");
  EXPECT_EQ(load_tokenizer(dir.path())->encode(" hello"), std::vector<int>{23748});
  // tokenizer.json wins over the pair: a broken one is reported, not skipped.
  write_file(dir / "tokenizer.json", "{");
  try {
    load_tokenizer(dir.path());
    ADD_FAILURE() << "a broken tokenizer.json was ignored";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kBadModel);
    EXPECT_NE(std::string(e.what()).find("tokenizer.json: not valid JSON"), std::string::npos)
        << e.what();
  }
}

TEST(Gpt2Tokenizer, SpecialTokensOnlyWhenAllowed) {
  const auto& t = gpt2();
  const std::string text = "a<|endoftext|>b";
  const auto ordinary = t.encode(text);
  EXPECT_EQ(std::count(ordinary.begin(), ordinary.end(), 50256), 0);
  const auto special = t.encode(text, true);
  EXPECT_EQ(std::count(special.begin(), special.end(), 50256), 1);
  // The spans around the special token are encoded on their own.
  std::vector<int> expected = t.encode("a");
  expected.push_back(50256);
  for (int id : t.encode("b")) expected.push_back(id);
  EXPECT_EQ(special, expected);
  EXPECT_EQ(t.decode(special), text);
  EXPECT_EQ(t.decode(ordinary), text);
  EXPECT_EQ(t.token_text(50256), "<|endoftext|>");
  EXPECT_FALSE(t.special_token("<|endoftext|"));
}

TEST(Gpt2Tokenizer, AnyByteStringRoundTrips) {
  const auto& t = gpt2();
  std::mt19937 rng(1234);
  auto uniform = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  // Code points from every range, weighted toward the ones the pattern treats specially.
  auto random_code_point = [&]() -> char32_t {
    switch (uniform(0, 7)) {
      case 0:
        return static_cast<char32_t>(uniform(0, 0x7F));
      case 1:
        return U" \t\n\r\u000B\u000C\u0085\u00A0\u1680\u2028\u3000\uFEFF\u200B\u001C"[uniform(0,
                                                                                              13)];
      case 2:
        return static_cast<char32_t>(uniform(0x80, 0x7FF));
      case 3:
        return static_cast<char32_t>(uniform(0x800, 0xD7FF));
      case 4:
        return static_cast<char32_t>(uniform(0xE000, 0xFFFF));
      case 5:
        return static_cast<char32_t>(uniform(0x10000, 0x10FFFF));
      case 6:
        return U"'sStrvmld"[uniform(0, 8)];
      default:
        return static_cast<char32_t>(uniform(0x1F300, 0x1FAFF));
    }
  };
  auto append_utf8 = [](std::string& s, char32_t c) {
    if (c < 0x80) {
      s += static_cast<char>(c);
    } else if (c < 0x800) {
      s += static_cast<char>(0xC0 | (c >> 6));
      s += static_cast<char>(0x80 | (c & 0x3F));
    } else if (c < 0x10000) {
      s += static_cast<char>(0xE0 | (c >> 12));
      s += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
      s += static_cast<char>(0x80 | (c & 0x3F));
    } else {
      s += static_cast<char>(0xF0 | (c >> 18));
      s += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
      s += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
      s += static_cast<char>(0x80 | (c & 0x3F));
    }
  };
  for (int round = 0; round < 3000; ++round) {
    std::string s;
    const int length = uniform(0, round % 10 == 0 ? 600 : 40);
    const int kind = round % 3;
    for (int i = 0; i < length; ++i) {
      if (kind == 0 || (kind == 2 && uniform(0, 9) == 0))
        s += static_cast<char>(uniform(0, 255));  // any byte: mostly not UTF-8
      else
        append_utf8(s, random_code_point());  // surrogates included: not UTF-8 either
    }
    SCOPED_TRACE("round " + std::to_string(round));
    for (const bool special : {false, true}) {
      const auto ids = t.encode(s, special);
      ASSERT_EQ(t.decode(ids), s);
      for (const int id : ids) ASSERT_TRUE(id >= 0 && id < 50256) << id;
    }
    std::string joined;
    for (const auto piece : Gpt2Tokenizer::pretokenize(s)) {
      ASSERT_FALSE(piece.empty());
      joined += piece;
    }
    ASSERT_EQ(joined, s);
  }
}

TEST(Gpt2Tokenizer, LongRunsWithoutSpaces) {
  const auto& t = gpt2();
  for (const std::string unit : {"!", "!?.,;:-=+*/#@&%$", "\U0001F600\U0001F44D\U0001F3FD", "a",
                                 "ab", "\xE4\xB8\xAD", "1", "\xFF"}) {
    std::string text;
    while (text.size() < 100000) text += unit;
    const auto ids = t.encode(text);
    EXPECT_EQ(t.decode(ids), text);
    // Bytes that are not UTF-8 are punctuation to the pattern; GPT-2 has no merge of 0xFF 0xFF.
    if (unit == "\xFF")
      EXPECT_EQ(ids, std::vector<int>(text.size(), 187));  // 187: "ÿ", the token of byte 0xFF
    else
      EXPECT_LT(ids.size(), text.size());
    // A run split in two at a pre-token boundary (a space) encodes as its halves.
    const std::string half = text.substr(0, 50000 - 50000 % unit.size());
    auto joined = t.encode(half);
    const auto rest = t.encode(" " + half);
    joined.insert(joined.end(), rest.begin(), rest.end());
    EXPECT_EQ(t.encode(half + " " + half), joined);
  }
}

TEST(Gpt2Tokenizer, ConcurrentEncodesAgree) {
  const auto& t = gpt2();
  auto vectors = read_vectors("extra_vectors.jsonl");
  std::vector<std::thread> threads;
  std::vector<int> mismatches(4, 0);
  for (int k = 0; k < 4; ++k)
    threads.emplace_back([&, k] {
      for (int round = 0; round < 3; ++round)
        for (std::size_t i = k; i < vectors.size() + k; ++i) {
          const Vector& v = vectors[i % vectors.size()];
          mismatches[k] += t.encode(v.text) != v.ids;
        }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(mismatches, std::vector<int>(4, 0));
}

TEST(Gpt2Tokenizer, DecodeRejectsIdsOutsideTheVocabulary) {
  for (const int id : {-1, 50257, 1 << 30}) {
    try {
      gpt2().decode(std::vector<int>{1, id});
      ADD_FAILURE() << id;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
      EXPECT_NE(std::string(e.what()).find(std::to_string(id)), std::string::npos);
    }
  }
}

namespace {

// A tiny byte-level vocabulary: GPT-2's 256 byte tokens (ids 0..255) and `extra` after them.
nlohmann::json byte_vocab(const std::vector<std::string>& extra = {}) {
  const auto gpt2_vocab = nlohmann::json::parse(read_file(data_dir() / "gpt2" / "vocab.json"));
  nlohmann::json v = nlohmann::json::object();
  for (auto it = gpt2_vocab.begin(); it != gpt2_vocab.end(); ++it)
    if (it.value().get<int>() < 256) v[it.key()] = it.value();
  for (std::size_t i = 0; i < extra.size(); ++i) v[extra[i]] = 256 + static_cast<int>(i);
  return v;
}

int id_of_byte(const nlohmann::json& vocab, char c) {
  // Printable ASCII bytes stand for themselves in GPT-2's byte alphabet.
  return vocab.at(std::string(1, c)).get<int>();
}

}  // namespace

TEST(Gpt2Tokenizer, WholePreTokenShortcutKeepsBpeSemantics) {
  // "abc" is in the vocabulary but BPE does not build it from its own bytes: (b c) merges first,
  // and no merge joins a + bc.
  const auto vocab = byte_vocab({"bc", "ab", "abc"});
  const std::string merges = "#version: 0.2\nb c\na b\nab c\n";
  const int a = id_of_byte(vocab, 'a');
  const auto pair = Gpt2Tokenizer::parse(vocab.dump(), merges);
  EXPECT_EQ(pair.encode("abc"), (std::vector<int>{a, 256}));
  EXPECT_EQ(pair.encode("ab"), std::vector<int>{257});
  EXPECT_EQ(pair.encode("abbc"), (std::vector<int>{257, 256}));

  nlohmann::json j;
  j["pre_tokenizer"] = {{"type", "ByteLevel"}};
  j["model"] = {{"type", "BPE"}, {"vocab", vocab}, {"merges", {"b c", "a b", "ab c"}}};
  EXPECT_EQ(Gpt2Tokenizer::parse_tokenizer_json(j.dump()).encode("abc"),
            (std::vector<int>{a, 256}));
  // Hugging Face's ignore_merges: a pre-token found in the vocabulary is that token.
  j["model"]["ignore_merges"] = true;
  EXPECT_EQ(Gpt2Tokenizer::parse_tokenizer_json(j.dump()).encode("abc"), std::vector<int>{258});
}

TEST(Gpt2Tokenizer, AddedTokensOfTokenizerJson) {
  nlohmann::json j;
  j["pre_tokenizer"] = {{"type", "ByteLevel"}};
  j["model"] = {{"type", "BPE"}, {"vocab", byte_vocab()}, {"merges", nlohmann::json::array()}};
  j["added_tokens"] = {{{"id", 256}, {"content", "<|special|>"}, {"special", true}},
                       {{"id", 257}, {"content", "[always]"}, {"special", false}}};
  const auto t = Gpt2Tokenizer::parse_tokenizer_json(j.dump());
  EXPECT_EQ(t.vocab_size(), 258);
  const auto plain = t.encode("x[always]<|special|>");
  EXPECT_EQ(std::count(plain.begin(), plain.end(), 257), 1);
  EXPECT_EQ(std::count(plain.begin(), plain.end(), 256), 0);
  const auto special = t.encode("x[always]<|special|>", true);
  EXPECT_EQ(special.size(), 3u);
  EXPECT_EQ(special[1], 257);
  EXPECT_EQ(special[2], 256);
  EXPECT_EQ(t.decode(special), "x[always]<|special|>");
}

namespace {

// The message of the Error that parsing throws (and that it is kBadModel).
template <class Parse>
std::string error_of(Parse parse) {
  try {
    parse();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kBadModel) << e.what();
    const std::string what = e.what();
    EXPECT_EQ(what.find('\n'), std::string::npos) << what;
    return what;
  }
  ADD_FAILURE() << "no error";
  return "";
}

std::string vocab_error(const std::string& vocab, const std::string& merges = "#version: 0.2\n") {
  return error_of([&] { Gpt2Tokenizer::parse(vocab, merges, "m/vocab.json", "m/merges.txt"); });
}

std::string json_error(const nlohmann::json& j) {
  return error_of([&] { Gpt2Tokenizer::parse_tokenizer_json(j.dump(), "m/tokenizer.json"); });
}

}  // namespace

TEST(Gpt2Tokenizer, BadVocabJsonIsAnErrorNamingTheFile) {
  EXPECT_NE(vocab_error("{\"a\": ").find("m/vocab.json: not valid JSON"), std::string::npos);
  EXPECT_NE(vocab_error("[1, 2]").find("m/vocab.json: top level: expected an object"),
            std::string::npos);
  EXPECT_NE(vocab_error("{}").find("m/vocab.json: top level: no tokens"), std::string::npos);
  auto v = byte_vocab();
  v["xy"] = "256";
  EXPECT_NE(vocab_error(v.dump()).find("m/vocab.json: \"xy\": expected a token id"),
            std::string::npos);
  v["xy"] = -3;
  EXPECT_NE(vocab_error(v.dump()).find("\"xy\": expected a token id"), std::string::npos);
  v["xy"] = 1.5;
  EXPECT_NE(vocab_error(v.dump()).find("\"xy\": expected a token id"), std::string::npos);
  v["xy"] = 7;
  EXPECT_NE(vocab_error(v.dump()).find("m/vocab.json: id 7 is used by both"), std::string::npos);
  v = byte_vocab();
  v.erase("\xC4\x8A");  // "Ċ", the token of byte 0x0A
  EXPECT_NE(vocab_error(v.dump()).find("m/vocab.json: no token for byte 0x0A"), std::string::npos);
}

TEST(Gpt2Tokenizer, BadMergesTxtIsAnErrorNamingTheLine) {
  const std::string v = byte_vocab({"ab", "abc"}).dump();
  EXPECT_NE(vocab_error(v, "#version: 0.2\na b\nab zz\n")
                .find("m/merges.txt: line 3: \"zz\" is not in vocab.json"),
            std::string::npos);
  EXPECT_NE(vocab_error(v, "#version: 0.2\na b\nb c\n")
                .find("m/merges.txt: line 3: the merged token \"bc\" is not in vocab.json"),
            std::string::npos);
  EXPECT_NE(vocab_error(v, "a b\nab c d\n")
                .find("m/merges.txt: line 2: expected two tokens separated by one space"),
            std::string::npos);
  EXPECT_NE(vocab_error(v, "a b\nabc\n").find("m/merges.txt: line 2"), std::string::npos);
  // A merge that makes a token outside the byte alphabet.
  EXPECT_NE(vocab_error(byte_vocab({"\xE2\x82\xAC", "a\xE2\x82\xAC"}).dump(), "a \xE2\x82\xAC\n")
                .find("m/vocab.json: \"a\xE2\x82\xAC\" (id 257) has characters outside GPT-2's "
                      "byte alphabet"),
            std::string::npos);
  // Windows line ends and blank lines are fine.
  EXPECT_EQ(Gpt2Tokenizer::parse(v, "#version: 0.2\r\na b\r\n\r\nab c\r\n").encode("abc"),
            std::vector<int>{257});
}

TEST(Gpt2Tokenizer, BadTokenizerJsonIsAnErrorNamingThePath) {
  nlohmann::json good;
  good["pre_tokenizer"] = {{"type", "ByteLevel"}};
  good["model"] = {{"type", "BPE"}, {"vocab", byte_vocab({"ab"})}, {"merges", {"a b"}}};
  EXPECT_NO_THROW(Gpt2Tokenizer::parse_tokenizer_json(good.dump()));

  auto j = good;
  j["normalizer"] = {{"type", "NFC"}};
  EXPECT_NE(json_error(j).find("m/tokenizer.json: normalizer: not supported"), std::string::npos);
  j = good;
  j["pre_tokenizer"] = {{"type", "Metaspace"}};
  EXPECT_NE(json_error(j).find("m/tokenizer.json: pre_tokenizer: expected"), std::string::npos);
  j = good;
  j["pre_tokenizer"]["add_prefix_space"] = "yes";
  EXPECT_NE(json_error(j).find("pre_tokenizer.add_prefix_space: expected true or false"),
            std::string::npos);
  j = good;
  j["model"]["type"] = "WordPiece";
  EXPECT_NE(json_error(j).find("model.type: expected \"BPE\""), std::string::npos);
  j = good;
  j["model"]["merges"] = "a b";
  EXPECT_NE(json_error(j).find("model.merges: expected an array"), std::string::npos);
  j = good;
  j["model"]["merges"] = {"a b", 3};
  EXPECT_NE(json_error(j).find("model.merges[1]: expected"), std::string::npos);
  j = good;
  j["model"]["merges"] = {"a b", "ab q"};
  EXPECT_NE(json_error(j).find("m/tokenizer.json: model.merges[1]: the merged token \"abq\" is "
                               "not in model.vocab"),
            std::string::npos);
  j = good;
  j["model"]["vocab"]["ab"] = "x";
  EXPECT_NE(json_error(j).find("model.vocab[\"ab\"]: expected a token id"), std::string::npos);
  j = good;
  j.erase("model");
  EXPECT_NE(json_error(j).find("model: expected an object"), std::string::npos);
  j = good;
  j["added_tokens"] = {{{"id", 3}, {"content", "<x>"}, {"special", true}}};
  EXPECT_NE(json_error(j).find("added_tokens[0]: id 3 is"), std::string::npos);
  j = good;
  j["added_tokens"] = {{{"content", "<x>"}}};
  EXPECT_NE(json_error(j).find("added_tokens[0].id: missing"), std::string::npos);
}

TEST(Gpt2Tokenizer, MissingFilesAreErrorsNamingThem) {
  TempDir dir;
  const std::string what =
      error_of([&] { Gpt2Tokenizer::load(dir / "vocab.json", dir / "merges.txt"); });
  EXPECT_NE(what.find((dir / "vocab.json").string()), std::string::npos) << what;
  EXPECT_NE(error_of([&] { load_tokenizer(dir.path()); }).find("no tokenizer"), std::string::npos);
  EXPECT_NE(error_of([&] { load_tokenizer(dir / "nowhere"); }).find("not a directory"),
            std::string::npos);
}
