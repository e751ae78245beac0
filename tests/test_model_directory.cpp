// ModelDirectory: the model directory's file names and the readers shared by the loaders.
#include <gtest/gtest.h>

#include <functional>

#include "gptrec/basket_ranker.hpp"
#include "gptrec/error.hpp"
#include "gptrec/model_directory.hpp"
#include "test_util.hpp"

using namespace gptrec;

namespace {

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kBadModel);
    return e.what();
  }
  return "no error";
}

}  // namespace

TEST(ModelDirectory, FindsTheTokenizerFiles) {
  test::TempDir dir;
  const ModelDirectory d(dir.path());
  EXPECT_EQ(d.tokenizer_files(), TokenizerFiles::kNone);
  EXPECT_EQ(d.tokenizer_description(), "none");
  test::write_file(dir / "items.json", "{}");
  EXPECT_EQ(d.tokenizer_files(), TokenizerFiles::kItems);
  EXPECT_EQ(d.tokenizer_description(), "items (items.json)");
  test::write_file(dir / "vocab.json", "{}");
  EXPECT_EQ(d.tokenizer_files(), TokenizerFiles::kIncomplete);
  EXPECT_EQ(d.tokenizer_description(), "none");
  EXPECT_NE(error_of([&] {
              load_tokenizer(dir.path());
            }).find("merges.txt: missing (vocab.json and merges.txt go together)"),
            std::string::npos);
  test::write_file(dir / "merges.txt", "#version: 0.2\n");
  EXPECT_EQ(d.tokenizer_files(), TokenizerFiles::kVocabAndMerges);
  EXPECT_EQ(d.tokenizer_description(), "gpt2-bpe (vocab.json + merges.txt)");
  test::write_file(dir / "tokenizer.json", "{}");
  EXPECT_EQ(d.tokenizer_files(), TokenizerFiles::kTokenizerJson);
  EXPECT_EQ(d.tokenizer_description(), "gpt2-bpe (tokenizer.json)");
}

TEST(ModelDirectory, ReadsTheConfigWeightsAndItems) {
  const ModelDirectory d(test::model_dir("tiny-items"));
  d.check_is_directory();
  const ModelConfig config = d.read_config();
  EXPECT_EQ(config.kind, ModelKind::kItems);
  EXPECT_NE(d.open_weights().find("wte.weight"), nullptr);
  EXPECT_LE(d.read_items(config).vocab_size(), config.vocab_size);
}

TEST(ModelDirectory, NamesWhatIsWrong) {
  test::TempDir dir;
  test::copy_dir(test::model_dir("tiny-items"), dir.path());
  const ModelDirectory d(dir.path());
  EXPECT_NE(error_of([&] {
              ModelDirectory(dir / "nope").check_is_directory();
            }).find("nope: not a model directory (does not exist)"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              ModelDirectory(dir / "items.json").check_is_directory();
            }).find("items.json: not a model directory (not a directory)"),
            std::string::npos);

  ModelConfig small = d.read_config();
  small.vocab_size = 10;
  EXPECT_NE(error_of([&] {
              d.read_items(small);
            }).find("items.json: 454 tokens, more than the model's vocab_size of 10"),
            std::string::npos);
  std::filesystem::remove(dir / "items.json");
  EXPECT_NE(error_of([&] {
              d.read_items(d.read_config());
            }).find("items.json: missing (an item model needs its item vocabulary)"),
            std::string::npos);

  // A ranker's neighbours file: missing, then malformed (the JSON path of the fault is named).
  ModelConfig ranked = d.read_config();
  ranked.ranker = RankerConfig{};
  ranked.ranker->neighbors_file = "nb.json";
  test::copy_dir(test::model_dir("tiny-items"), dir / "ranked");
  const ModelDirectory r(dir / "ranked");
  const ItemVocabulary vocab = r.read_items(ranked);
  EXPECT_NE(error_of([&] { r.read_ranker(ranked, vocab); }).find("nb.json: missing (the ranker of"),
            std::string::npos);
  EXPECT_EQ(r.read_ranker(d.read_config(), vocab), nullptr);  // no ranker, no file read
  auto fault = [&](const std::string& contents) {
    test::write_file(dir / "ranked" / "nb.json", contents);
    return error_of([&] { r.read_ranker(ranked, vocab); });
  };
  EXPECT_NE(fault(R"({"customers": 1})").find("nb.json: expected an object with a \"customers\""),
            std::string::npos);
  EXPECT_NE(fault(R"({"customers": [{"id": "a", "baskets": [["22423"], ["x", 5]]}]})")
                .find("nb.json: customers[0].baskets[1][1]: expected an item id string"),
            std::string::npos);
  EXPECT_NE(fault(R"({"customers": [{"id": "a", "baskets": []}, {"id": "a", "baskets": []}]})")
                .find("customers[1].id: \"a\" appears twice"),
            std::string::npos);
  EXPECT_NE(fault(R"({"customers": [{"id": 5, "baskets": []}]})").find("customers[0].id"),
            std::string::npos);
  EXPECT_NE(fault("{\"customers\": [").find("nb.json"), std::string::npos);
  EXPECT_NE(fault(R"({"format": "gptrec-neighbors"})").find("nb.json: expected an object with a"),
            std::string::npos);
  EXPECT_NE(fault(R"([{"customers": []}])").find("nb.json: expected an object with a"),
            std::string::npos);
  EXPECT_NE(fault(R"({"customers": [{"id": "a"}]})")
                .find("nb.json: customers[0].baskets: expected an array of baskets"),
            std::string::npos);
  EXPECT_NE(fault(R"({"customers": [{"id": "a", "baskets": [["22423", ["x"]]]}]})")
                .find("nb.json: customers[0].baskets[0][1]: expected an item id string"),
            std::string::npos);
  EXPECT_NE(fault(R"({"customers": [{"id": "a", "baskets": [{"x": 1}]}]})")
                .find("nb.json: customers[0].baskets[0]: expected an array of item ids"),
            std::string::npos);
  EXPECT_NE(fault(R"({"customers": [{"id": "a", "baskets": [], "baskets": []}]})")
                .find("customers[0]: key \"baskets\" appears twice"),
            std::string::npos);
  EXPECT_NE(fault(R"({"customers": [[]]})").find("nb.json: customers[0]: expected an object"),
            std::string::npos);
  {
    // Keys the reader does not use are skipped whatever they hold, at any level.
    test::write_file(dir / "ranked" / "nb.json",
                     R"({"format": "gptrec-neighbors", "version": 1, "meta": {"a": [1, {"b": [2]}]},
                         "customers": [{"extra": [["22423"], {"id": 3}], "id": "a",
                                        "baskets": [["22423", "85123A", "22423"], [], ["x"]]},
                                       {"id": "b", "baskets": [["85123A"]], "note": null}]})");
    const auto two = r.read_ranker(ranked, vocab);
    ASSERT_NE(two, nullptr);
    EXPECT_EQ(two->neighbors().size(), 2);
  }
  const auto ok = [&] {
    test::write_file(
        dir / "ranked" / "nb.json",
        R"({"customers": [{"id": "a", "baskets": [["22423", "unknown"], ["85123A"]]}]})");
    return r.read_ranker(ranked, vocab);
  }();
  ASSERT_NE(ok, nullptr);
  EXPECT_EQ(ok->neighbors().size(), 1);

  std::filesystem::rename(dir / "model.safetensors", dir / "pytorch_model.bin");
  EXPECT_NE(error_of([&] { d.open_weights(); })
                .find("model.safetensors: missing (pytorch_model.bin found: convert it with "
                      "tools/convert.py)"),
            std::string::npos);
}
