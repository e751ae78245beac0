#include "json_document.hpp"

#include <algorithm>

namespace gptrec {

namespace {

// Keys, paths and values quoted in messages are cut: an error line names the problem, it does
// not echo a megabyte of input.
constexpr std::size_t kMaxQuoted = 80;

std::string cut(std::string_view s) {
  return s.size() <= kMaxQuoted ? std::string(s) : std::string(s.substr(0, kMaxQuoted)) + "...";
}

// Objects with more keys than this check duplicates with a hash set instead of a linear scan.
constexpr std::size_t kSmallObject = 16;

}  // namespace

void JsonStructure::open(bool is_array) {
  if (depth_ >= kMaxJsonDepth)
    fail_at(path(), "nested deeper than " + std::to_string(kMaxJsonDepth) + " levels");
  if (depth_ == frames_.size()) frames_.emplace_back();
  Frame& f = frames_[depth_++];
  f.is_array = is_array;
  f.next_index = 0;
  f.key.clear();
  f.small_keys.clear();
  f.many_keys.reset();
}

void JsonStructure::key(const std::string& key) {
  Frame& f = frames_[depth_ - 1];
  bool duplicate = false;
  if (f.many_keys) {
    duplicate = !f.many_keys->insert(key).second;
  } else {
    duplicate = std::find(f.small_keys.begin(), f.small_keys.end(), key) != f.small_keys.end();
    if (!duplicate) f.small_keys.push_back(key);
    if (f.small_keys.size() > kSmallObject) {
      f.many_keys = std::make_unique<std::unordered_set<std::string>>(
          std::make_move_iterator(f.small_keys.begin()),
          std::make_move_iterator(f.small_keys.end()));
      f.small_keys.clear();
    }
  }
  if (duplicate) fail_at(path(depth_ - 1), "key \"" + cut(key) + "\" appears twice");
  f.key = key;
}

std::string JsonStructure::path(std::size_t levels) const {
  std::string p;
  for (std::size_t i = 0; i < levels && i < depth_; ++i) {
    const Frame& f = frames_[i];
    if (f.is_array) {
      p += "[" + std::to_string(f.next_index == 0 ? 0 : f.next_index - 1) + "]";
    } else {
      if (!p.empty()) p += '.';
      p += f.key;
    }
  }
  return p;
}

void JsonStructure::fail_at(const std::string& path, const std::string& what) const {
  throw Error(code_, source_ + ": " + (path.empty() ? "" : cut(path) + ": ") + what);
}

void JsonStructure::fail_syntax(const std::exception& e) const {
  std::string message = e.what();
  std::replace(message.begin(), message.end(), '\n', ' ');
  throw Error(code_, source_ + ": not valid JSON (" + message + ")");
}

namespace {

using json = nlohmann::json;

// nlohmann's DOM construction (json_sax_dom_parser) with the structure checks added.
class CheckedDomBuilder {
 public:
  CheckedDomBuilder(std::string_view source, ErrorCode code) : structure_(source, code) {}

  bool null() { return place(json(nullptr)); }
  bool boolean(bool v) { return place(json(v)); }
  bool number_integer(json::number_integer_t v) { return place(json(v)); }
  bool number_unsigned(json::number_unsigned_t v) { return place(json(v)); }
  bool number_float(json::number_float_t v, const json::string_t&) { return place(json(v)); }
  // The lexer clears its buffer before the next token, so the string can be moved out.
  bool string(json::string_t& v) { return place(json(std::move(v))); }
  bool binary(json::binary_t& v) { return place(json::binary(std::move(v))); }
  bool start_object(std::size_t) { return open(json::value_t::object); }
  bool start_array(std::size_t) { return open(json::value_t::array); }
  bool key(json::string_t& k) {
    structure_.key(k);
    slot_ = &open_.back()->get_ref<json::object_t&>()[k];
    return true;
  }
  bool end_object() { return close(); }
  bool end_array() { return close(); }
  bool parse_error(std::size_t, const std::string&, const json::exception& e) {
    structure_.fail_syntax(e);
  }

  json& root() { return root_; }

 private:
  // Puts a value where the parser is: the root, the next array element or the current key's slot.
  json* put(json&& value) {
    structure_.child();
    if (open_.empty()) {
      root_ = std::move(value);
      return &root_;
    }
    if (open_.back()->is_array()) {
      auto& array = open_.back()->get_ref<json::array_t&>();
      array.push_back(std::move(value));
      return &array.back();
    }
    *slot_ = std::move(value);
    return slot_;
  }
  bool place(json&& value) {
    put(std::move(value));
    return true;
  }
  bool open(json::value_t type) {
    json* container = put(json(type));
    structure_.open(type == json::value_t::array);
    open_.push_back(container);
    return true;
  }
  bool close() {
    structure_.close();
    open_.pop_back();
    return true;
  }

  JsonStructure structure_;
  json root_;
  std::vector<json*> open_;  // the containers being filled, outermost first
  json* slot_ = nullptr;     // the value of the current key in the innermost object
};

}  // namespace

json parse_json_document(std::string_view text, std::string_view source, ErrorCode code) {
  CheckedDomBuilder builder(source, code);
  json::sax_parse(text.data(), text.data() + text.size(), &builder);
  return std::move(builder.root());
}

}  // namespace gptrec
