#include <gtest/gtest.h>

#include "gptrec/error.hpp"
#include "gptrec/tokenizer.hpp"

using namespace gptrec;

namespace {

const char* kItems = R"({
  "format": "gptrec-items", "version": 1,
  "special_tokens": ["<pad>", "<bos>", "<sep>", "<unk>"],
  "items": [
    {"id": "85123A", "name": "WHITE HANGING HEART T-LIGHT HOLDER", "price": 2.55, "count": 2270},
    {"id": "22423", "name": "REGENCY CAKESTAND 3 TIER", "price": 12.75, "category": "kitchen"},
    {"id": "POST", "available": false, "product": false}
  ]})";

std::string error_of(const std::string& text) {
  try {
    ItemVocabulary::parse(text, "items.json");
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kBadModel);
    return e.what();
  }
  ADD_FAILURE() << "accepted " << text;
  return "";
}

}  // namespace

TEST(ItemVocabulary, ParsesTheDocumentedFormat) {
  const auto v = ItemVocabulary::parse(kItems, "items.json");
  EXPECT_EQ(v.kind(), "items");
  EXPECT_EQ(v.vocab_size(), 7);
  EXPECT_EQ(v.pad_id(), 0);
  EXPECT_EQ(v.bos_id(), 1);
  EXPECT_EQ(v.sep_id(), 2);
  EXPECT_EQ(v.unk_id(), 3);
  EXPECT_EQ(v.first_item_id(), 4);
  EXPECT_EQ(v.find("22423"), 5);
  EXPECT_EQ(v.find("nope"), std::nullopt);
  ASSERT_NE(v.item_of(4), nullptr);
  EXPECT_EQ(v.item_of(4)->name, "WHITE HANGING HEART T-LIGHT HOLDER");
  EXPECT_DOUBLE_EQ(*v.item_of(4)->price, 2.55);
  EXPECT_EQ(v.item_of(4)->count, 2270);
  EXPECT_EQ(v.item_of(5)->category, "kitchen");
  EXPECT_FALSE(v.item_of(6)->available);
  EXPECT_FALSE(v.item_of(6)->product);
  EXPECT_TRUE(v.item_of(5)->product);  // the default
  EXPECT_FALSE(v.item_of(6)->price.has_value());
  EXPECT_EQ(v.item_of(2), nullptr);
  EXPECT_EQ(v.item_of(7), nullptr);
}

TEST(ItemVocabulary, EncodesAndDecodes) {
  const auto v = ItemVocabulary::parse(kItems, "items.json");
  EXPECT_EQ(v.encode("<bos> 85123A 22423 <sep>\nPOST missing"),
            (std::vector<int>{1, 4, 5, 2, 6, 3}));
  EXPECT_EQ(v.decode(std::vector<int>{1, 4, 5, 2}), "<bos> 85123A 22423 <sep>");
  EXPECT_THROW(v.decode(std::vector<int>{7}), Error);
  EXPECT_THROW(v.token_text(-1), Error);
}

TEST(ItemVocabulary, RejectsMalformedFilesNamingThePath) {
  EXPECT_NE(error_of("{").find("not valid JSON"), std::string::npos);
  EXPECT_NE(error_of(R"({"format": "x", "version": 1})").find("\"format\""), std::string::npos);
  const std::string head = R"({"format": "gptrec-items", "version": 1, )";
  EXPECT_NE(
      error_of(head + R"("special_tokens": ["<bos>"], "items": []})").find("<sep> is required"),
      std::string::npos);
  EXPECT_NE(error_of(head + R"("special_tokens": ["<bos>", "<sep>", "<mask>"], "items": []})")
                .find("special_tokens[2]: unknown special token \"<mask>\""),
            std::string::npos);
  EXPECT_NE(
      error_of(head +
               R"("special_tokens": ["<bos>", "<sep>"], "items": [{"id": "a"}, {"id": "a"}]})")
          .find("items[1].id: \"a\" appears twice"),
      std::string::npos);
  EXPECT_NE(
      error_of(head +
               R"("special_tokens": ["<bos>", "<sep>"], "items": [{"id": "a", "product": 0}]})")
          .find("items[0].product: expected true or false"),
      std::string::npos);
  EXPECT_NE(
      error_of(head +
               R"("special_tokens": ["<bos>", "<sep>"], "items": [{"id": "a", "price": "cheap"}]})")
          .find("items[0].price: expected a number"),
      std::string::npos);
  EXPECT_NE(error_of(head + R"("special_tokens": ["<bos>", "<sep>"], "items": [{"name": "x"}]})")
                .find("items[0].id"),
            std::string::npos);
}
