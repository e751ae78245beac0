// Reading the JSON documents gptrec is given (config.json, safetensors headers, items.json,
// vocab.json, tokenizer.json, histories, catalogs) with the limits they all share (private to the
// library):
//   - at most kMaxJsonDepth levels of arrays and objects. Real documents have at most 5; nlohmann's
//     parser is iterative, but dump(), comparisons and the code that walks a document recurse, so
//     a document nested 100,000 deep would overflow the stack;
//   - no key twice in one object: RFC 8259 leaves the meaning open (nlohmann keeps the last value,
//     other readers the first), so a document that says two things is refused, naming the key;
//   - any parse failure, number overflow (1e999) included, is one Error naming the source.
#pragma once

#include <cstddef>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "gptrec/error.hpp"

namespace gptrec {

constexpr std::size_t kMaxJsonDepth = 64;

// The structure checks of a SAX pass: depth, duplicate keys, and the JSON path of the value being
// parsed ("events[3].item"), for error messages. A SAX handler calls child() before every value
// (scalar or container), open()/close() around containers and key() for each key.
class JsonStructure {
 public:
  JsonStructure(std::string_view source, ErrorCode code) : source_(source), code_(code) {}

  void child() {
    if (depth_ > 0 && frames_[depth_ - 1].is_array) ++frames_[depth_ - 1].next_index;
  }
  void open(bool is_array);
  void close() { --depth_; }
  void key(const std::string& key);

  std::size_t depth() const { return depth_; }
  // The last key read in the innermost open object (depth() > 0).
  const std::string& current_key() const { return frames_[depth_ - 1].key; }
  // The path of the value being parsed; of its container with `levels` = depth() - 1; "" at the
  // root.
  std::string path(std::size_t levels) const;
  std::string path() const { return path(depth_); }

  // Throws Error(code) "<source>: <path>: <what>" ("<source>: <what>" at the root).
  [[noreturn]] void fail_at(const std::string& path, const std::string& what) const;
  // "<source>: not valid JSON (<nlohmann's message>)".
  [[noreturn]] void fail_syntax(const std::exception& e) const;

 private:
  struct Frame {
    bool is_array = false;
    std::size_t next_index = 0;  // arrays: elements seen (the current one is next_index - 1)
    std::string key;             // objects: the current key
    std::vector<std::string> small_keys;  // objects: keys seen, while there are few
    std::unique_ptr<std::unordered_set<std::string>> many_keys;
  };
  std::string source_;
  ErrorCode code_;
  std::vector<Frame> frames_;  // frames_[0, depth_) are open; the rest are kept for reuse
  std::size_t depth_ = 0;
};

// Parses a whole document into a DOM under the limits above. Throws Error(code) naming `source`.
nlohmann::json parse_json_document(std::string_view text, std::string_view source, ErrorCode code);

}  // namespace gptrec
