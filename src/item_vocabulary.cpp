#include <nlohmann/json.hpp>

#include "gptrec/error.hpp"
#include "gptrec/tokenizer.hpp"
#include "io.hpp"
#include "json_document.hpp"

namespace gptrec {

using json = nlohmann::json;

namespace {

[[noreturn]] void fail(std::string_view source, const std::string& what) {
  throw Error(ErrorCode::kBadModel, std::string(source) + ": " + what);
}

}  // namespace

ItemVocabulary ItemVocabulary::load(const std::filesystem::path& items_json) {
  return parse(read_text_file(items_json, ErrorCode::kBadModel), items_json.string());
}

ItemVocabulary ItemVocabulary::parse(std::string_view json_text, std::string_view source) {
  const json j = parse_json_document(json_text, source, ErrorCode::kBadModel);
  if (!j.is_object()) fail(source, "expected a JSON object");
  auto format = j.find("format");
  if (format == j.end() || *format != "gptrec-items")
    fail(source, "\"format\": expected \"gptrec-items\"");
  auto version = j.find("version");
  if (version == j.end() || *version != 1) fail(source, "\"version\": expected 1");

  ItemVocabulary v;
  auto specials = j.find("special_tokens");
  if (specials == j.end() || !specials->is_array())
    fail(source, "\"special_tokens\": expected an array of names");
  for (std::size_t k = 0; k < specials->size(); ++k) {
    const json& s = (*specials)[k];
    const std::string where = "special_tokens[" + std::to_string(k) + "]";
    if (!s.is_string()) fail(source, where + ": expected a string");
    const auto name = s.get<std::string>();
    int* slot = name == "<pad>"   ? &v.pad_
                : name == "<bos>" ? &v.bos_
                : name == "<sep>" ? &v.sep_
                : name == "<unk>" ? &v.unk_
                                  : nullptr;
    if (slot == nullptr)
      fail(source, where + ": unknown special token \"" + name +
                       "\" (expected <pad>, <bos>, <sep> or <unk>)");
    if (*slot != -1) fail(source, where + ": \"" + name + "\" appears twice");
    *slot = static_cast<int>(k);
    v.special_tokens_.push_back(name);
  }
  if (v.bos_ < 0) fail(source, "\"special_tokens\": <bos> is required");
  if (v.sep_ < 0) fail(source, "\"special_tokens\": <sep> is required");

  auto items = j.find("items");
  if (items == j.end() || !items->is_array()) fail(source, "\"items\": expected an array");
  v.items_.reserve(items->size());
  for (std::size_t i = 0; i < items->size(); ++i) {
    const json& e = (*items)[i];
    const std::string where = "items[" + std::to_string(i) + "]";
    if (!e.is_object()) fail(source, where + ": expected an object");
    CatalogItem item;
    auto id = e.find("id");
    if (id == e.end() || !id->is_string() || id->get_ref<const std::string&>().empty())
      fail(source, where + ".id: expected a non-empty string");
    item.id = id->get<std::string>();
    // encode() reads these names as special tokens, so an item called "<sep>" could not be encoded.
    if (item.id == "<pad>" || item.id == "<bos>" || item.id == "<sep>" || item.id == "<unk>")
      fail(source, where + ".id: \"" + item.id + "\" is the name of a special token");
    if (auto it = e.find("name"); it != e.end() && !it->is_null()) {
      if (!it->is_string()) fail(source, where + ".name: expected a string");
      item.name = it->get<std::string>();
    }
    if (item.name.empty()) item.name = item.id;
    if (auto it = e.find("price"); it != e.end() && !it->is_null()) {
      if (!it->is_number()) fail(source, where + ".price: expected a number");
      item.price = it->get<double>();
    }
    if (auto it = e.find("category"); it != e.end() && !it->is_null()) {
      if (!it->is_string()) fail(source, where + ".category: expected a string");
      item.category = it->get<std::string>();
    }
    if (auto it = e.find("available"); it != e.end() && !it->is_null()) {
      if (!it->is_boolean()) fail(source, where + ".available: expected true or false");
      item.available = it->get<bool>();
    }
    if (auto it = e.find("product"); it != e.end() && !it->is_null()) {
      if (!it->is_boolean()) fail(source, where + ".product: expected true or false");
      item.product = it->get<bool>();
    }
    if (auto it = e.find("count"); it != e.end() && !it->is_null()) {
      if (!it->is_number_integer() || it->get<std::int64_t>() < 0)
        fail(source, where + ".count: expected a non-negative integer");
      item.count = it->get<std::int64_t>();
    }
    const int token = v.first_item_id() + static_cast<int>(i);
    if (!v.token_of_item_.emplace(item.id, token).second)
      fail(source, where + ".id: \"" + item.id + "\" appears twice");
    v.items_.push_back(std::move(item));
  }
  return v;
}

int ItemVocabulary::vocab_size() const {
  return static_cast<int>(special_tokens_.size() + items_.size());
}

std::vector<int> ItemVocabulary::encode(std::string_view text, bool allow_special) const {
  std::vector<int> ids;
  std::size_t pos = 0;
  auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  while (pos < text.size()) {
    while (pos < text.size() && is_space(text[pos])) ++pos;
    std::size_t end = pos;
    while (end < text.size() && !is_space(text[end])) ++end;
    if (end == pos) break;
    const std::string_view word = text.substr(pos, end - pos);
    pos = end;
    if (allow_special) {
      bool special = false;
      for (std::size_t k = 0; k < special_tokens_.size(); ++k)
        if (special_tokens_[k] == word) {
          ids.push_back(static_cast<int>(k));
          special = true;
          break;
        }
      if (special) continue;
    }
    if (auto id = find(word)) {
      ids.push_back(*id);
    } else if (unk_ >= 0) {
      ids.push_back(unk_);
    } else {
      throw Error(ErrorCode::kBadInput, "unknown item \"" + std::string(word) + "\"");
    }
  }
  return ids;
}

std::string ItemVocabulary::token_text(int id) const {
  if (id >= 0 && id < first_item_id()) return special_tokens_[static_cast<std::size_t>(id)];
  if (const CatalogItem* item = item_of(id)) return item->id;
  throw Error(ErrorCode::kInvalidArgument, "token id " + std::to_string(id) +
                                               " is outside the item vocabulary [0, " +
                                               std::to_string(vocab_size()) + ")");
}

std::string ItemVocabulary::decode(std::span<const int> ids) const {
  std::string out;
  for (const int id : ids) {
    if (!out.empty()) out += ' ';
    out += token_text(id);
  }
  return out;
}

std::optional<int> ItemVocabulary::find(std::string_view item_id) const {
  auto it = token_of_item_.find(std::string(item_id));
  if (it == token_of_item_.end()) return std::nullopt;
  return it->second;
}

const CatalogItem* ItemVocabulary::item_of(int token_id) const {
  const int j = token_id - first_item_id();
  if (j < 0 || j >= static_cast<int>(items_.size())) return nullptr;
  return &items_[static_cast<std::size_t>(j)];
}

}  // namespace gptrec
