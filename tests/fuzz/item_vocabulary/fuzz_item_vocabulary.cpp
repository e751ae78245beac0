// Fuzz target: an items.json document through ItemVocabulary::parse, then the vocabulary's
// lookups and its encode/decode.
//
// Properties: a bad document is an Error(kBadModel) naming the source; in an accepted vocabulary
// every item's id maps to its token and back, special tokens come first, <bos> and <sep> exist,
// and decode then encode gives back the ids when no id contains whitespace (encode splits on it).
#include <cstdint>
#include <string_view>
#include <vector>

#include "../fuzz_check.hpp"
#include "gptrec/tokenizer.hpp"

using namespace gptrec;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    const ItemVocabulary v = ItemVocabulary::parse(text, "items.json");
    FUZZ_CHECK(v.bos_id() >= 0 && v.sep_id() >= 0);
    FUZZ_CHECK(v.first_item_id() == static_cast<int>(v.special_tokens().size()));
    FUZZ_CHECK(v.vocab_size() == v.first_item_id() + static_cast<int>(v.items().size()));
    std::vector<int> ids;
    bool spaced = false;
    for (int id = 0; id < v.vocab_size(); ++id) {
      const std::string token = v.token_text(id);
      FUZZ_CHECK(!token.empty());
      if (id >= v.first_item_id()) {
        const CatalogItem* item = v.item_of(id);
        FUZZ_CHECK(item != nullptr && item->id == token && !item->name.empty());
        FUZZ_CHECK(v.find(token) == id);
      } else {
        FUZZ_CHECK(v.item_of(id) == nullptr);
      }
      spaced |= token.find_first_of(" \t\r\n") != std::string::npos;
      ids.push_back(id);
    }
    FUZZ_CHECK(v.item_of(-1) == nullptr && v.item_of(v.vocab_size()) == nullptr);
    if (!spaced) FUZZ_CHECK(v.encode(v.decode(ids)) == ids);
    try {
      v.token_text(v.vocab_size());
      FUZZ_CHECK(false);  // an id outside the vocabulary must be refused
    } catch (const Error& e) {
      FUZZ_CHECK(e.code() == ErrorCode::kInvalidArgument);
    }
  } catch (const Error& e) {
    fuzz::check_error(e, ErrorCode::kBadModel, "items.json");
  }
  return 0;
}
