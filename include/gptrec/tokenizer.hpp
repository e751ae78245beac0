// Tokenizers: text (or item ids) to token ids and back.
//
//   Tokenizer         the common interface
//   Gpt2Tokenizer     GPT-2 byte-level BPE, identical to OpenAI's encoding (src/tokenizer_bpe.cpp)
//   ItemVocabulary    one token per catalog item plus special tokens (items.json, docs/FORMATS.md)
//
// Tokenizers are immutable after loading; every method is const and safe to call from many
// threads at once. Loading errors are Error(kBadModel) naming the file and the entry; an id
// outside the vocabulary is Error(kInvalidArgument).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace gptrec {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // "gpt2-bpe" or "items".
  virtual std::string_view kind() const = 0;
  // Number of ids the tokenizer can produce (the model's vocab_size may be larger).
  virtual int vocab_size() const = 0;
  // Text to ids. With allow_special, special-token texts (e.g. "<|endoftext|>") become their
  // special ids; otherwise they are ordinary text. Throws Error(kBadInput) for text it cannot
  // encode (an unknown item id without <unk>; a GPT-2 pre-token over 1 GiB).
  virtual std::vector<int> encode(std::string_view text, bool allow_special = false) const = 0;
  // Ids back to text (bytes). Throws Error(kInvalidArgument) for an id outside the vocabulary.
  virtual std::string decode(std::span<const int> ids) const = 0;
  // A printable form of one token, for listings (e.g. "Ġthe" for GPT-2, an item id for items).
  // Throws Error(kInvalidArgument) for an id outside the vocabulary.
  virtual std::string token_text(int id) const = 0;
};

// GPT-2 byte-level BPE, identical to OpenAI's GPT-2 encoding (tiktoken "gpt2").
//
// encode: the text is split at special tokens (only when allowed), each remaining span is cut
// into pre-tokens by GPT-2's pattern
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// (Unicode letters, numbers and White_Space; no normalisation), and each pre-token's bytes are
// merged by rank. Any byte string is accepted: bytes that are not valid UTF-8 are pre-tokenized
// one by one as punctuation, and decode gives back the exact bytes.
class Gpt2Tokenizer final : public Tokenizer {
 public:
  // Hugging Face layout: vocab.json (token string -> id, strings in GPT-2's byte-to-unicode
  // alphabet) and merges.txt (optional "#version" line, then one "A B" merge per line, by rank).
  // Vocabulary entries that are neither single bytes nor made by a merge are special tokens
  // (GPT-2: "<|endoftext|>" = 50256). Throws Error(kBadModel) naming the file and line or entry.
  static Gpt2Tokenizer load(const std::filesystem::path& vocab_json,
                            const std::filesystem::path& merges_txt);
  // A Hugging Face tokenizer.json of a byte-level BPE model (pre_tokenizer ByteLevel, no
  // normalizer). Its added_tokens marked special are special tokens; others are always matched.
  static Gpt2Tokenizer load_tokenizer_json(const std::filesystem::path& tokenizer_json);
  // The same from memory; `*_source` names the documents in errors.
  static Gpt2Tokenizer parse(std::string_view vocab_json, std::string_view merges_txt,
                             std::string_view vocab_source = "vocab.json",
                             std::string_view merges_source = "merges.txt");
  static Gpt2Tokenizer parse_tokenizer_json(std::string_view json_text,
                                            std::string_view source = "tokenizer.json");

  std::string_view kind() const override { return "gpt2-bpe"; }
  int vocab_size() const override;
  std::vector<int> encode(std::string_view text, bool allow_special = false) const override;
  // Appends the ids of `text` to `ids` (no special tokens), reusing its capacity.
  void encode_ordinary(std::string_view text, std::vector<int>& ids) const;
  std::string decode(std::span<const int> ids) const override;
  // The vocabulary string, e.g. "Ġthe" for " the"; a special token's text.
  std::string token_text(int id) const override;
  // The exact bytes of one token.
  std::string_view token_bytes(int id) const;
  // Id of a special token's text (e.g. "<|endoftext|>"), if it is one.
  std::optional<int> special_token(std::string_view text) const;

  // GPT-2's pre-tokens of `text`, as views into it (concatenated, they give back `text`).
  static std::vector<std::string_view> pretokenize(std::string_view text);

  struct Tables;  // private, in src/tokenizer_bpe.cpp

 private:
  explicit Gpt2Tokenizer(std::shared_ptr<const Tables> tables) : tables_(std::move(tables)) {}
  std::shared_ptr<const Tables> tables_;  // immutable, shared by copies
};

// Finds and loads the tokenizer of a model directory: tokenizer.json, vocab.json + merges.txt, or
// items.json. Throws Error(kBadModel) when there is none, it is unreadable or it is malformed.
std::unique_ptr<Tokenizer> load_tokenizer(const std::filesystem::path& model_dir);

// One entry of a catalog: an item that can be suggested.
struct CatalogItem {
  std::string id;
  std::string name;  // the id when the source gives no name
  std::optional<double> price;
  std::string category;
  bool available = true;
  // False for an order line that is not merchandise (postage, fees, discounts, adjustments): it is
  // read in histories but never suggested and never given as a reason (docs/FORMATS.md).
  bool product = true;
  std::int64_t count = 0;  // purchases in the training data (popularity)
};

// The item vocabulary of an item model (items.json). Tokens: the special tokens first, then one
// per item in file order.
class ItemVocabulary final : public Tokenizer {
 public:
  // Throws Error(kBadModel) naming the file and JSON path (docs/FORMATS.md lists the rules).
  static ItemVocabulary load(const std::filesystem::path& items_json);
  // `source` names the document in errors (e.g. "items.json: items[3].id: ...").
  static ItemVocabulary parse(std::string_view json_text, std::string_view source);

  std::string_view kind() const override { return "items"; }
  int vocab_size() const override;
  // Whitespace-separated item ids and special-token names ("<sep>"), e.g. "85123A 22423 <sep>".
  // An unknown item id becomes <unk> if the vocabulary has one; otherwise it is an error.
  std::vector<int> encode(std::string_view text, bool allow_special = true) const override;
  std::string decode(std::span<const int> ids) const override;
  std::string token_text(int id) const override;

  // Special token ids; -1 when the vocabulary has none.
  int pad_id() const { return pad_; }
  int bos_id() const { return bos_; }
  int sep_id() const { return sep_; }
  int unk_id() const { return unk_; }
  // Id of items()[0]; items()[j] has id first_item_id() + j.
  int first_item_id() const { return static_cast<int>(special_tokens_.size()); }

  const std::vector<CatalogItem>& items() const { return items_; }
  const std::vector<std::string>& special_tokens() const { return special_tokens_; }
  // Token id of an item id, if the vocabulary has it.
  std::optional<int> find(std::string_view item_id) const;
  // The item of a token id, or nullptr for special tokens and ids out of range.
  const CatalogItem* item_of(int token_id) const;

 private:
  std::vector<std::string> special_tokens_;
  std::vector<CatalogItem> items_;
  std::unordered_map<std::string, int> token_of_item_;
  int pad_ = -1, bos_ = -1, sep_ = -1, unk_ = -1;
};

}  // namespace gptrec
