// GPT-2 byte-level BPE: loading vocab.json + merges.txt or tokenizer.json, encode, decode.
//
// Encoding a pre-token (src/pretokenizer.hpp):
//   1. one byte: its byte token;
//   2. the whole pre-token is a vocabulary token that BPE would produce from its own bytes (this
//      is checked for every token at load): that token, with one hash lookup;
//   3. otherwise BPE: repeatedly merge the adjacent pair of lowest merge rank (leftmost on ties).
//      Short pre-tokens use a flat array; long ones a heap over a linked list, O(n log n), so a
//      100 KB run of punctuation costs about as much per byte as a word.
// The tables are built once and never change; encode keeps its scratch space per thread.
#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "gptrec/error.hpp"
#include "gptrec/tokenizer.hpp"
#include "io.hpp"
#include "json_document.hpp"
#include "pretokenizer.hpp"

namespace gptrec {

namespace {

using json = nlohmann::json;

constexpr std::uint32_t kNoRank = std::numeric_limits<std::uint32_t>::max();
// Ids are stored as int32 and offsets as uint32; real vocabularies are far smaller.
constexpr int kMaxTokenId = (1 << 24) - 1;

[[noreturn]] void fail(std::string_view source, const std::string& what) {
  throw Error(ErrorCode::kBadModel, std::string(source) + ": " + what);
}

// GPT-2's byte-to-unicode map: printable Latin-1 bytes stand for themselves, the other 68 bytes
// (controls, space, 0x7F..0xA0, 0xAD) for U+0100.. in byte order.
struct ByteAlphabet {
  std::array<char32_t, 256> char_of_byte{};
  std::array<std::int16_t, 324> byte_of_char{};  // -1: not in the alphabet
  ByteAlphabet() {
    byte_of_char.fill(-1);
    char32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
      char_of_byte[b] = printable ? static_cast<char32_t>(b) : next++;
      byte_of_char[char_of_byte[b]] = static_cast<std::int16_t>(b);
    }
  }
};

const ByteAlphabet& byte_alphabet() {
  static const ByteAlphabet alphabet;
  return alphabet;
}

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    // The byte alphabet stays below U+0800.
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// The bytes a vocabulary string stands for, or false when a character is outside the byte
// alphabet. `text` is valid UTF-8 (the JSON parser checks it).
bool byte_level_bytes(std::string_view text, std::string& bytes) {
  const ByteAlphabet& alphabet = byte_alphabet();
  bytes.clear();
  for (std::size_t i = 0; i < text.size();) {
    const auto b0 = static_cast<unsigned char>(text[i]);
    char32_t cp = 0;
    std::size_t len = 1;
    if (b0 < 0x80) {
      cp = b0;
    } else if ((b0 & 0xE0) == 0xC0 && i + 1 < text.size()) {
      cp = (char32_t{b0} & 0x1F) << 6 | (static_cast<unsigned char>(text[i + 1]) & 0x3F);
      len = 2;
    } else {
      return false;  // three or more bytes: beyond U+07FF, not in the alphabet
    }
    if (cp >= alphabet.byte_of_char.size() || alphabet.byte_of_char[cp] < 0) return false;
    bytes += static_cast<char>(alphabet.byte_of_char[cp]);
    i += len;
  }
  return true;
}

// A token for an error message: in quotes, control bytes escaped, long ones cut.
std::string quote_token(std::string_view s) {
  std::string out = "\"";
  for (std::size_t i = 0; i < s.size() && i < 60; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7F) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02X", c);
      out += hex;
    } else {
      out += static_cast<char>(c);
    }
  }
  if (s.size() > 60) out += "...";
  return out + "\"";
}

std::uint64_t hash_bytes(const unsigned char* p, std::size_t n) {
  std::uint64_t h = 0x9E3779B97F4A7C15ull ^ (n * 0xFF51AFD7ED558CCDull);
  while (n >= 8) {
    std::uint64_t v;
    std::memcpy(&v, p, 8);
    h = (h ^ v) * 0xBF58476D1CE4E5B9ull;
    h ^= h >> 31;
    p += 8;
    n -= 8;
  }
  std::uint64_t v = 0;
  for (std::size_t k = 0; k < n; ++k) v |= std::uint64_t{p[k]} << (8 * k);
  h = (h ^ v) * 0x94D049BB133111EBull;
  return h ^ (h >> 29);
}

// memcmp for the short strings of pre-tokens, without a library call.
inline bool same_bytes(const unsigned char* a, const char* b, std::size_t n) {
  for (; n >= 8; a += 8, b += 8, n -= 8) {
    std::uint64_t x, y;
    std::memcpy(&x, a, 8);
    std::memcpy(&y, b, 8);
    if (x != y) return false;
  }
  for (std::size_t i = 0; i < n; ++i)
    if (a[i] != static_cast<unsigned char>(b[i])) return false;
  return true;
}

std::size_t table_capacity(std::size_t entries) {
  std::size_t capacity = 16;
  while (capacity < entries * 2) capacity *= 2;
  return capacity;
}

// Open-addressing map from a token pair (left id, right id) to its merge rank and result.
class PairTable {
 public:
  struct Slot {
    std::uint64_t key = kEmptyKey;
    std::uint32_t rank = kNoRank;
    std::int32_t merged = -1;
  };

  void reserve(std::size_t entries) {
    slots_.assign(table_capacity(entries), Slot{});
    mask_ = slots_.size() - 1;
  }
  // A later merge of the same pair replaces the earlier one, as in Hugging Face's tokenizers and
  // OpenAI's encoder.py (both build a dictionary from the list).
  void insert(int left, int right, std::uint32_t rank, int merged) {
    const std::uint64_t key = make_key(left, right);
    std::size_t i = index(key);
    while (slots_[i].key != kEmptyKey && slots_[i].key != key) i = (i + 1) & mask_;
    slots_[i] = Slot{key, rank, merged};
  }
  const Slot* find(int left, int right) const {
    const std::uint64_t key = make_key(left, right);
    for (std::size_t i = index(key);; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.key == key) return &s;
      if (s.key == kEmptyKey) return nullptr;
    }
  }

 private:
  static constexpr std::uint64_t kEmptyKey = ~std::uint64_t{0};
  static std::uint64_t make_key(int left, int right) {
    return std::uint64_t{static_cast<std::uint32_t>(left)} << 32 |
           static_cast<std::uint32_t>(right);
  }
  std::size_t index(std::uint64_t key) const {
    return static_cast<std::size_t>((key * 0x9E3779B97F4A7C15ull) >> 32) & mask_;
  }
  std::vector<Slot> slots_;
  std::size_t mask_ = 0;
};

}  // namespace

struct Gpt2Tokenizer::Tables {
  std::vector<std::string> text;           // per id: the vocabulary string ("" for an unused id)
  std::vector<std::uint8_t> used;          // per id: 1 when the id has a token
  std::vector<std::uint32_t> bytes_begin;  // per id + 1: offsets of each token's bytes in `bytes`
  std::string bytes;
  std::array<std::int32_t, 256> byte_token{};
  PairTable merges;

  struct Special {
    std::string text;
    int id = -1;
    bool needs_allow = true;  // false: matched even when special tokens are not allowed
  };
  std::vector<Special> specials;
  bool any_always_matched = false;

  // Whole pre-token -> token id, for the tokens that BPE makes from their own bytes.
  struct WholeSlot {
    std::uint32_t hash = 0;
    std::int32_t id = -1;
  };
  std::vector<WholeSlot> whole;
  std::size_t whole_mask = 0;

  int vocab_size() const { return static_cast<int>(text.size()); }
  std::string_view token_bytes(int id) const {
    return std::string_view(bytes).substr(bytes_begin[id], bytes_begin[id + 1] - bytes_begin[id]);
  }

  void insert_whole(int id) {
    const std::string_view b = token_bytes(id);
    const std::uint64_t h = hash_bytes(reinterpret_cast<const unsigned char*>(b.data()), b.size());
    std::size_t i = static_cast<std::size_t>(h) & whole_mask;
    while (whole[i].id >= 0) i = (i + 1) & whole_mask;
    whole[i] = WholeSlot{static_cast<std::uint32_t>(h >> 32), id};
  }
  int find_whole(const unsigned char* p, std::size_t n) const {
    const std::uint64_t h = hash_bytes(p, n);
    const auto tag = static_cast<std::uint32_t>(h >> 32);
    for (std::size_t i = static_cast<std::size_t>(h) & whole_mask;; i = (i + 1) & whole_mask) {
      const WholeSlot& s = whole[i];
      if (s.id < 0) return -1;
      if (s.hash == tag) {
        const std::uint32_t b = bytes_begin[s.id], e = bytes_begin[s.id + 1];
        if (e - b == n && same_bytes(p, bytes.data() + b, n)) return s.id;
      }
    }
  }

  void bpe(const unsigned char* p, std::size_t n, std::vector<int>& out) const;
  void bpe_small(const unsigned char* p, std::size_t n, std::vector<int>& out) const;
  void bpe_large(const unsigned char* p, std::size_t n, std::vector<int>& out) const;
  void encode_piece(const unsigned char* p, std::size_t n, std::vector<int>& out) const {
    if (n == 1) {
      out.push_back(byte_token[*p]);
      return;
    }
    if (const int id = find_whole(p, n); id >= 0) {
      out.push_back(id);
      return;
    }
    bpe(p, n, out);
  }
};

namespace {

// Up to this many bytes, BPE scans a flat array for the lowest rank (quadratic, but cache-friendly
// and allocation-free); longer pre-tokens go to the heap version.
constexpr std::size_t kSmallPiece = 48;
// Per-thread scratch space for long pre-tokens is kept up to this many symbols (12 bytes each).
constexpr std::size_t kKeepScratchSymbols = std::size_t{1} << 20;

struct LargeScratch {
  struct Symbol {
    std::int32_t id;
    std::int32_t prev;  // index of the previous live symbol, -1 at the start
    std::int32_t next;  // index of the next live symbol, n at the end
  };
  struct Candidate {
    std::uint32_t rank;
    std::uint32_t pos;  // index of the left symbol; ranks tie -> leftmost first
    std::int32_t left, right, merged;
    bool operator>(const Candidate& o) const {
      return rank != o.rank ? rank > o.rank : pos > o.pos;
    }
  };
  std::vector<Symbol> symbols;
  std::vector<Candidate> heap;
};

}  // namespace

void Gpt2Tokenizer::Tables::bpe(const unsigned char* p, std::size_t n,
                                std::vector<int>& out) const {
  if (n <= kSmallPiece)
    bpe_small(p, n, out);
  else
    bpe_large(p, n, out);
}

void Gpt2Tokenizer::Tables::bpe_small(const unsigned char* p, std::size_t n,
                                      std::vector<int>& out) const {
  std::int32_t ids[kSmallPiece];
  std::uint32_t ranks[kSmallPiece];  // ranks[i]: rank of the pair (ids[i], ids[i + 1])
  std::int32_t merged[kSmallPiece];
  std::size_t m = n;
  for (std::size_t i = 0; i < n; ++i) ids[i] = byte_token[p[i]];
  ranks[n - 1] = kNoRank;  // no pair starts at the last symbol
  merged[n - 1] = -1;
  auto update = [&](std::size_t i) {
    const PairTable::Slot* s = merges.find(ids[i], ids[i + 1]);
    ranks[i] = s ? s->rank : kNoRank;
    merged[i] = s ? s->merged : -1;
  };
  for (std::size_t i = 0; i + 1 < m; ++i) update(i);
  while (m > 1) {
    std::size_t best = 0;
    for (std::size_t i = 1; i + 1 < m; ++i)
      if (ranks[i] < ranks[best]) best = i;
    if (ranks[best] == kNoRank) break;
    ids[best] = merged[best];
    for (std::size_t i = best + 1; i + 1 < m; ++i) {
      ids[i] = ids[i + 1];
      ranks[i] = ranks[i + 1];
      merged[i] = merged[i + 1];
    }
    --m;
    if (best > 0) update(best - 1);
    if (best + 1 < m) update(best);
  }
  out.insert(out.end(), ids, ids + m);
}

void Gpt2Tokenizer::Tables::bpe_large(const unsigned char* p, std::size_t n,
                                      std::vector<int>& out) const {
  if (n > static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max() / 2))
    throw Error(ErrorCode::kBadInput, "text has a pre-token of " + std::to_string(n) +
                                          " bytes without a space; at most 1 GiB is supported");
  thread_local LargeScratch scratch;
  auto& symbols = scratch.symbols;
  auto& heap = scratch.heap;
  const auto count = static_cast<std::int32_t>(n);
  symbols.resize(n);
  heap.clear();
  for (std::int32_t i = 0; i < count; ++i) symbols[i] = {byte_token[p[i]], i - 1, i + 1};
  const auto greater = std::greater<LargeScratch::Candidate>{};
  auto consider = [&](std::int32_t left) {
    if (left < 0) return;
    const std::int32_t right = symbols[left].next;
    if (right >= count) return;
    if (const PairTable::Slot* s = merges.find(symbols[left].id, symbols[right].id)) {
      heap.push_back({s->rank, static_cast<std::uint32_t>(left), symbols[left].id,
                      symbols[right].id, s->merged});
      std::push_heap(heap.begin(), heap.end(), greater);
    }
  };
  for (std::int32_t i = 0; i + 1 < count; ++i) consider(i);
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), greater);
    const LargeScratch::Candidate c = heap.back();
    heap.pop_back();
    auto& left = symbols[c.pos];
    // A candidate is stale when either side has been merged since it was pushed.
    if (left.id != c.left || left.next >= count || symbols[left.next].id != c.right) continue;
    auto& right = symbols[left.next];
    left.id = c.merged;
    left.next = right.next;
    if (right.next < count) symbols[right.next].prev = static_cast<std::int32_t>(c.pos);
    right.id = -1;
    consider(left.prev);
    consider(static_cast<std::int32_t>(c.pos));
  }
  for (std::int32_t i = 0; i < count; i = symbols[i].next) out.push_back(symbols[i].id);
  // Give back the memory of an exceptionally long pre-token instead of keeping it per thread.
  if (symbols.capacity() > kKeepScratchSymbols) {
    std::vector<LargeScratch::Symbol>().swap(symbols);
    std::vector<LargeScratch::Candidate>().swap(heap);
  }
}

namespace {

// What both file layouts provide, before checking and indexing.
struct RawBpe {
  std::vector<std::pair<std::string, int>> vocab;  // string, id
  std::vector<std::array<std::string, 2>> merges;  // by rank
  // Error prefixes: "DIR/vocab.json" or "DIR/tokenizer.json: model.vocab"; for merge k
  // "DIR/merges.txt: line 12" or "DIR/tokenizer.json: model.merges[11]".
  std::string vocab_label;
  std::function<std::string(std::size_t)> merge_label;
  std::string vocab_name;  // how merge errors name the vocabulary: "vocab.json", "model.vocab"
  struct Added {
    std::string content;
    int id = -1;
    bool special = true;
  };
  std::vector<Added> added;  // tokenizer.json only
  std::string added_label;   // "DIR/tokenizer.json: added_tokens"
  bool ignore_merges = false;
  bool unreachable_are_special = true;  // vocab.json: tokens no merge makes are special tokens
};

std::shared_ptr<Gpt2Tokenizer::Tables> build_tables(RawBpe& raw) {
  auto t = std::make_shared<Gpt2Tokenizer::Tables>();
  int max_id = -1;
  for (const auto& [s, id] : raw.vocab) max_id = std::max(max_id, id);
  for (const auto& a : raw.added) max_id = std::max(max_id, a.id);
  const auto size = static_cast<std::size_t>(max_id + 1);
  t->text.assign(size, std::string());
  t->used.assign(size, 0);

  std::unordered_map<std::string_view, int> id_of;
  id_of.reserve(raw.vocab.size() * 2);
  for (auto& [s, id] : raw.vocab) {
    if (s.empty()) fail(raw.vocab_label, "empty token string (id " + std::to_string(id) + ")");
    if (t->used[id])
      fail(raw.vocab_label, "id " + std::to_string(id) + " is used by both " +
                                quote_token(t->text[id]) + " and " + quote_token(s));
    t->used[id] = 1;
    t->text[id] = std::move(s);
    id_of.emplace(t->text[id], id);
  }

  const ByteAlphabet& alphabet = byte_alphabet();
  std::string one;
  for (int b = 0; b < 256; ++b) {
    one.clear();
    append_utf8(one, alphabet.char_of_byte[b]);
    auto it = id_of.find(one);
    if (it == id_of.end()) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "0x%02X", b);
      fail(raw.vocab_label,
           std::string("no token for byte ") + hex + " (" + quote_token(one) + ")");
    }
    t->byte_token[b] = it->second;
  }

  // Tokens that BPE can produce: the bytes and every merge result.
  std::vector<std::uint8_t> reachable(size, 0);
  for (const int id : t->byte_token) reachable[id] = 1;
  t->merges.reserve(raw.merges.size());
  std::string joined;
  for (std::size_t k = 0; k < raw.merges.size(); ++k) {
    const auto& [a, b] = raw.merges[k];
    auto ia = id_of.find(a), ib = id_of.find(b);
    if (ia == id_of.end())
      fail(raw.merge_label(k), quote_token(a) + " is not in " + raw.vocab_name);
    if (ib == id_of.end())
      fail(raw.merge_label(k), quote_token(b) + " is not in " + raw.vocab_name);
    joined = a;
    joined += b;
    auto im = id_of.find(joined);
    if (im == id_of.end())
      fail(raw.merge_label(k),
           "the merged token " + quote_token(joined) + " is not in " + raw.vocab_name);
    t->merges.insert(ia->second, ib->second, static_cast<std::uint32_t>(k), im->second);
    reachable[im->second] = 1;
  }

  // Added tokens (tokenizer.json) are literal text; they may extend the vocabulary.
  std::vector<std::uint8_t> is_added(size, 0);
  for (std::size_t k = 0; k < raw.added.size(); ++k) {
    const auto& a = raw.added[k];
    const std::string where = raw.added_label + "[" + std::to_string(k) + "]";
    if (a.content.empty()) fail(where, "content: empty");
    if (t->used[a.id] && t->text[a.id] != a.content)
      fail(where, "id " + std::to_string(a.id) + " is " + quote_token(t->text[a.id]) + " in " +
                      raw.vocab_name + ", not " + quote_token(a.content));
    if (is_added[a.id]) fail(where, "id " + std::to_string(a.id) + " appears twice");
    if (reachable[a.id] && a.special)
      fail(where, quote_token(a.content) + " is also made by the merges");
    t->used[a.id] = 1;
    t->text[a.id] = a.content;
    is_added[a.id] = 1;
    t->specials.push_back({a.content, a.id, a.special});
    t->any_always_matched |= !a.special;
  }

  t->bytes_begin.assign(size + 1, 0);
  std::string token;
  for (std::size_t id = 0; id < size; ++id) {
    t->bytes_begin[id] = static_cast<std::uint32_t>(t->bytes.size());
    if (!t->used[id]) continue;
    const std::string& s = t->text[id];
    if (is_added[id]) {
      t->bytes += s;
    } else if (byte_level_bytes(s, token)) {
      t->bytes += token;
      if (!reachable[id] && raw.unreachable_are_special)
        t->specials.push_back({s, static_cast<int>(id), true});
    } else if (reachable[id]) {
      fail(raw.vocab_label, quote_token(s) + " (id " + std::to_string(id) +
                                ") has characters outside GPT-2's byte alphabet");
    } else {
      // Text no merge can make and not in the byte alphabet: a special token written plainly.
      t->bytes += s;
      if (raw.unreachable_are_special) t->specials.push_back({s, static_cast<int>(id), true});
    }
    if (t->bytes.size() > std::numeric_limits<std::uint32_t>::max() / 2)
      fail(raw.vocab_label, "tokens too long");
  }
  t->bytes_begin[size] = static_cast<std::uint32_t>(t->bytes.size());
  // Longest first, so that a special token that starts another one loses to it.
  std::stable_sort(t->specials.begin(), t->specials.end(),
                   [](const auto& x, const auto& y) { return x.text.size() > y.text.size(); });

  // The whole-pre-token shortcut must give what BPE gives: keep only the tokens that BPE builds
  // back from their own bytes (all of GPT-2's). With Hugging Face's ignore_merges, a pre-token
  // that is in the vocabulary is that token, whatever the merges say.
  std::vector<int> shortcut;
  std::vector<int> ids;
  for (std::size_t id = 0; id < size; ++id) {
    if (!t->used[id] || is_added[id] || (!reachable[id] && !raw.ignore_merges)) continue;
    const std::string_view b = t->token_bytes(static_cast<int>(id));
    if (b.size() < 2) continue;
    if (!raw.ignore_merges) {
      ids.clear();
      t->bpe(reinterpret_cast<const unsigned char*>(b.data()), b.size(), ids);
      if (ids.size() != 1 || ids[0] != static_cast<int>(id)) continue;
    }
    shortcut.push_back(static_cast<int>(id));
  }
  t->whole.assign(table_capacity(shortcut.size()), {});
  t->whole_mask = t->whole.size() - 1;
  for (const int id : shortcut) t->insert_whole(id);
  return t;
}

int parse_id(const json& value, std::string_view source, const std::string& where) {
  if (!value.is_number_integer() || value.get<std::int64_t>() < 0 ||
      value.get<std::int64_t>() > kMaxTokenId)
    fail(source, where + ": expected a token id (an integer from 0 to " +
                     std::to_string(kMaxTokenId) + ")");
  return value.get<int>();
}

// `where` is "" for vocab.json (the whole document) or "model.vocab" in tokenizer.json.
void read_vocab_object(const json& vocab, std::string_view source, const std::string& where,
                       RawBpe& raw) {
  const std::string what = where.empty() ? "top level" : where;
  if (!vocab.is_object()) fail(source, what + ": expected an object of token -> id");
  raw.vocab.reserve(vocab.size());
  for (auto it = vocab.begin(); it != vocab.end(); ++it)
    raw.vocab.emplace_back(it.key(),
                           parse_id(it.value(), source,
                                    where.empty() ? quote_token(it.key())
                                                  : where + "[" + quote_token(it.key()) + "]"));
  if (raw.vocab.empty()) fail(source, what + ": no tokens");
}

// A field that must be a boolean (or a string) when present and not null; `fallback` otherwise.
bool optional_bool(const json& object, const char* key, bool fallback, std::string_view source,
                   const std::string& where) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return fallback;
  if (!it->is_boolean()) fail(source, where + "." + key + ": expected true or false");
  return it->get<bool>();
}

std::string optional_string(const json& object, const char* key, std::string_view source,
                            const std::string& where) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return "";
  if (!it->is_string()) fail(source, where + "." + key + ": expected a string");
  return it->get<std::string>();
}

json parse_json(std::string_view text, std::string_view source) {
  return parse_json_document(text, source, ErrorCode::kBadModel);
}

}  // namespace

Gpt2Tokenizer Gpt2Tokenizer::parse(std::string_view vocab_json, std::string_view merges_txt,
                                   std::string_view vocab_source, std::string_view merges_source) {
  RawBpe raw;
  raw.vocab_label = std::string(vocab_source);
  raw.vocab_name = std::filesystem::path(vocab_source).filename().string();
  read_vocab_object(parse_json(vocab_json, vocab_source), vocab_source, "", raw);
  std::vector<std::size_t> line_of_merge;
  std::size_t line_no = 0;
  for (std::size_t pos = 0; pos < merges_txt.size();) {
    std::size_t eol = merges_txt.find('\n', pos);
    if (eol == std::string_view::npos) eol = merges_txt.size();
    std::string_view line = merges_txt.substr(pos, eol - pos);
    pos = eol + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || (line_no == 1 && line.starts_with("#version"))) continue;
    const std::size_t space = line.find(' ');
    if (space == std::string_view::npos || space == 0 || space + 1 == line.size() ||
        line.find(' ', space + 1) != std::string_view::npos)
      fail(merges_source, "line " + std::to_string(line_no) +
                              ": expected two tokens separated by one space, got " +
                              quote_token(line));
    raw.merges.push_back({std::string(line.substr(0, space)), std::string(line.substr(space + 1))});
    line_of_merge.push_back(line_no);
  }
  raw.merge_label = [&](std::size_t k) {
    return std::string(merges_source) + ": line " + std::to_string(line_of_merge[k]);
  };
  return Gpt2Tokenizer(build_tables(raw));
}

Gpt2Tokenizer Gpt2Tokenizer::parse_tokenizer_json(std::string_view json_text,
                                                  std::string_view source) {
  const json j = parse_json(json_text, source);
  if (!j.is_object()) fail(source, "expected a JSON object");
  if (auto it = j.find("normalizer"); it != j.end() && !it->is_null())
    fail(source, "normalizer: not supported (GPT-2 byte-level BPE has none)");
  auto pre = j.find("pre_tokenizer");
  if (pre == j.end() || !pre->is_object() ||
      optional_string(*pre, "type", source, "pre_tokenizer") != "ByteLevel")
    fail(source, "pre_tokenizer: expected {\"type\": \"ByteLevel\"} (GPT-2 byte-level BPE)");
  if (optional_bool(*pre, "add_prefix_space", false, source, "pre_tokenizer"))
    fail(source, "pre_tokenizer.add_prefix_space: only false is supported");
  if (!optional_bool(*pre, "use_regex", true, source, "pre_tokenizer"))
    fail(source, "pre_tokenizer.use_regex: only true (GPT-2's pattern) is supported");

  auto model = j.find("model");
  if (model == j.end() || !model->is_object()) fail(source, "model: expected an object");
  if (model->contains("type") && optional_string(*model, "type", source, "model") != "BPE")
    fail(source, "model.type: expected \"BPE\"");
  if (auto it = model->find("dropout"); it != model->end() && !it->is_null() && *it != 0)
    fail(source, "model.dropout: not supported");
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"})
    if (!optional_string(*model, key, source, "model").empty())
      fail(source, std::string("model.") + key + ": not supported");
  if (optional_bool(*model, "byte_fallback", false, source, "model"))
    fail(source, "model.byte_fallback: not supported");

  RawBpe raw;
  raw.vocab_label = std::string(source) + ": model.vocab";
  raw.vocab_name = "model.vocab";
  raw.unreachable_are_special = false;
  raw.ignore_merges = optional_bool(*model, "ignore_merges", false, source, "model");
  auto vocab = model->find("vocab");
  if (vocab == model->end()) fail(source, "model.vocab: missing");
  read_vocab_object(*vocab, source, "model.vocab", raw);

  auto merges = model->find("merges");
  if (merges == model->end() || !merges->is_array())
    fail(source, "model.merges: expected an array");
  raw.merges.reserve(merges->size());
  for (std::size_t k = 0; k < merges->size(); ++k) {
    const json& m = (*merges)[k];
    const std::string where = "model.merges[" + std::to_string(k) + "]";
    if (m.is_string()) {
      const auto& s = m.get_ref<const std::string&>();
      const std::size_t space = s.find(' ');
      if (space == std::string::npos || space == 0 || space + 1 == s.size() ||
          s.find(' ', space + 1) != std::string::npos)
        fail(source, where + ": expected two tokens separated by one space, got " + quote_token(s));
      raw.merges.push_back({s.substr(0, space), s.substr(space + 1)});
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      raw.merges.push_back({m[0].get<std::string>(), m[1].get<std::string>()});
    } else {
      fail(source, where + ": expected \"A B\" or [\"A\", \"B\"]");
    }
  }
  raw.merge_label = [&](std::size_t k) {
    return std::string(source) + ": model.merges[" + std::to_string(k) + "]";
  };

  raw.added_label = std::string(source) + ": added_tokens";
  if (auto added = j.find("added_tokens"); added != j.end() && !added->is_null()) {
    if (!added->is_array()) fail(source, "added_tokens: expected an array");
    for (std::size_t k = 0; k < added->size(); ++k) {
      const json& a = (*added)[k];
      const std::string where = "added_tokens[" + std::to_string(k) + "]";
      if (!a.is_object()) fail(source, where + ": expected an object");
      auto content = a.find("content");
      if (content == a.end() || !content->is_string())
        fail(source, where + ".content: expected a string");
      auto id = a.find("id");
      if (id == a.end()) fail(source, where + ".id: missing");
      RawBpe::Added entry;
      entry.content = content->get<std::string>();
      entry.id = parse_id(*id, source, where + ".id");
      entry.special = optional_bool(a, "special", false, source, where);
      raw.added.push_back(std::move(entry));
    }
  }
  return Gpt2Tokenizer(build_tables(raw));
}

Gpt2Tokenizer Gpt2Tokenizer::load(const std::filesystem::path& vocab_json,
                                  const std::filesystem::path& merges_txt) {
  const std::string vocab = read_text_file(vocab_json, ErrorCode::kBadModel);
  const std::string merges = read_text_file(merges_txt, ErrorCode::kBadModel);
  return parse(vocab, merges, vocab_json.string(), merges_txt.string());
}

Gpt2Tokenizer Gpt2Tokenizer::load_tokenizer_json(const std::filesystem::path& tokenizer_json) {
  return parse_tokenizer_json(read_text_file(tokenizer_json, ErrorCode::kBadModel),
                              tokenizer_json.string());
}

int Gpt2Tokenizer::vocab_size() const { return tables_->vocab_size(); }

void Gpt2Tokenizer::encode_ordinary(std::string_view text, std::vector<int>& ids) const {
  const Tables& t = *tables_;
  const auto* base = reinterpret_cast<const unsigned char*>(text.data());
  pretokenizer::for_each_pretoken(
      text, [&](std::size_t begin, std::size_t len) { t.encode_piece(base + begin, len, ids); });
}

std::vector<int> Gpt2Tokenizer::encode(std::string_view text, bool allow_special) const {
  const Tables& t = *tables_;
  std::vector<int> ids;
  ids.reserve(text.size() / 3 + 1);
  if (t.specials.empty() || (!allow_special && !t.any_always_matched)) {
    encode_ordinary(text, ids);
    return ids;
  }
  // Split at the leftmost matchable special token (the longest at one position); the spans in
  // between are pre-tokenized on their own, as tiktoken does.
  std::vector<std::size_t> next(t.specials.size(), std::string_view::npos);
  for (std::size_t k = 0; k < t.specials.size(); ++k)
    if (allow_special || !t.specials[k].needs_allow) next[k] = text.find(t.specials[k].text);
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t best_at = std::string_view::npos, best = 0;
    for (std::size_t k = 0; k < t.specials.size(); ++k) {
      if (next[k] != std::string_view::npos && next[k] < pos)
        next[k] = text.find(t.specials[k].text, pos);
      if (next[k] < best_at) {
        best_at = next[k];
        best = k;
      }
    }
    if (best_at == std::string_view::npos) break;
    encode_ordinary(text.substr(pos, best_at - pos), ids);
    ids.push_back(t.specials[best].id);
    pos = best_at + t.specials[best].text.size();
  }
  if (pos < text.size()) encode_ordinary(text.substr(pos), ids);
  return ids;
}

namespace {

[[noreturn]] void bad_id(int id, int vocab_size) {
  throw Error(ErrorCode::kInvalidArgument, "token id " + std::to_string(id) +
                                               " is outside the vocabulary [0, " +
                                               std::to_string(vocab_size) + ")");
}

}  // namespace

std::string_view Gpt2Tokenizer::token_bytes(int id) const {
  const Tables& t = *tables_;
  if (id < 0 || id >= t.vocab_size() || !t.used[id]) bad_id(id, t.vocab_size());
  return t.token_bytes(id);
}

std::string Gpt2Tokenizer::decode(std::span<const int> ids) const {
  const Tables& t = *tables_;
  std::size_t total = 0;
  for (const int id : ids) {
    if (id < 0 || id >= t.vocab_size() || !t.used[id]) bad_id(id, t.vocab_size());
    total += t.bytes_begin[id + 1] - t.bytes_begin[id];
  }
  std::string out;
  out.reserve(total);
  for (const int id : ids) out.append(t.token_bytes(id));
  return out;
}

std::string Gpt2Tokenizer::token_text(int id) const {
  const Tables& t = *tables_;
  if (id < 0 || id >= t.vocab_size() || !t.used[id]) bad_id(id, t.vocab_size());
  return t.text[id];
}

std::optional<int> Gpt2Tokenizer::special_token(std::string_view text) const {
  for (const auto& s : tables_->specials)
    if (s.text == text) return s.id;
  return std::nullopt;
}

std::vector<std::string_view> Gpt2Tokenizer::pretokenize(std::string_view text) {
  std::vector<std::string_view> pieces;
  pretokenizer::for_each_pretoken(
      text, [&](std::size_t begin, std::size_t len) { pieces.push_back(text.substr(begin, len)); });
  return pieces;
}

}  // namespace gptrec
