// Needs: what a customer says they want ("lunch bag", "cake"), matched against product names.
//
// A need and every product name are cut into the same words (docs/EVALUATION.md, "The words of a
// need"): ASCII letters are lowercased; a word is a run of letters, digits or bytes >= 0x80
// (UTF-8 text outside ASCII); everything else separates words. Content words are the words of at
// least 3 bytes without a digit that are not stop words ("i", "want", "the", "for", ...); each is
// reduced by a plural stemmer (stem_word). The products that fit a need are those whose name
// shares a stem with it (the exact rule, chosen on validation; the compound rule also lets a
// word that starts with a need stem of 4 or more bytes fit it: "cake" fits "CAKESTAND");
// NameIndex ranks them by BM25.
//
// The recommender (recommender.hpp) ranks the products that fit by the personalized model: the
// need-conditioned probability p(j | history, need) ∝ p(j | history) · exp(w · BM25(need, j)),
// normalized over the products that fit (need_log_scores). The evaluation (evaluation.hpp,
// evaluate_need) scores with the same functions.
//
// Thread-safety: the functions are pure; a NameIndex is immutable after construction.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace gptrec {

// The longest need accepted, in bytes (longer: Error(kInvalidArgument)).
inline constexpr std::size_t kMaxNeedBytes = 1024;

// The words of `text` as defined above, in order (lowercased, not stemmed, stop words kept).
std::vector<std::string> text_words(std::string_view text);
// True for a word of the stop list (function words and words of asking: "i", "want", "the").
bool is_stop_word(std::string_view word);
// True for a colour or size word ("red", "pink", "small", "jumbo", ...): the evaluation's queries
// never consist of these alone.
bool is_colour_or_size_word(std::string_view word);
// True when `word` (from text_words) is a content word: >= 3 bytes, no digit, not a stop word.
bool is_content_word(std::string_view word);
// The plural stemmer: "ies" -> "y" (not after "e" or "a"); "sses", "xes", "ches", "shes" lose
// "es"; other "es" -> "e" (not after "a", "e", "o"); a final "s" is dropped unless the word ends
// in "ss", "us" or "is"; words of 3 bytes or less are kept as they are.
std::string stem_word(std::string_view word);

// A need, checked and cut into words.
struct Need {
  std::string text;                // as given
  std::vector<std::string> words;  // its distinct content words, in order (lowercase)
  std::vector<std::string> stems;  // their distinct stems, in order
};
// Throws Error(kInvalidArgument) "need: ..." for a need that is empty or only spaces, longer than
// kMaxNeedBytes, not valid UTF-8, or with control characters. A need without content words (only
// stop words, digits or short words) is valid: nothing fits it (the recommender's fallback).
Need parse_need(std::string_view text);

// How a name word fits a need stem.
enum class NeedMatch {
  kExact,     // the word's stem equals the need's stem
  kCompound,  // ... or the word starts with the need's stem and the stem has 4 bytes or more
};

// BM25 (k1 = 1.2, b = 0.75) over a list of product names, each a document of its content-word
// stems: BM25(q, d) = Σ over the distinct stems s of q that fit d of idf(s) · tf(s, d) · (k1 + 1)
// / (tf(s, d) + k1 · (1 − b + b · |d| / avg|d|)), idf(s) = ln(1 + (N − n(s) + 0.5) / (n(s) +
// 0.5)), with tf(s, d) the words of d that fit s, n(s) the documents with such a word, |d| the
// content words of d and N the documents.
class NameIndex {
 public:
  NameIndex() = default;
  explicit NameIndex(std::span<const std::string> names, NeedMatch match = NeedMatch::kExact);

  std::size_t size() const { return lengths_.size(); }
  NeedMatch match() const { return match_; }
  // out[d] = BM25(stems, name d), 0 for a name that no stem fits; fitted[d] (when not null) the
  // number of distinct stems that fit name d.
  void score(std::span<const std::string> stems, std::vector<double>& out,
             std::vector<int>* fitted = nullptr) const;
  // The words of name d (as text_words gives them) that fit one of `stems`, in name order.
  std::vector<std::string> fitting_words(std::size_t d, std::span<const std::string> stems) const;

 private:
  // Every distinct name stem (sorted) with its documents: (document, words of it with this stem).
  std::vector<std::string> stems_;
  std::vector<std::vector<std::pair<std::uint32_t, std::uint32_t>>> postings_;
  std::vector<std::vector<std::string>> words_;  // per document: its content words
  std::vector<double> lengths_;                  // per document: its content-word count
  double mean_length_ = 1;
  NeedMatch match_ = NeedMatch::kExact;
  // Indices into stems_ of the stems that `stem` fits.
  std::vector<std::size_t> fitting_stems(const std::string& stem) const;
};

// The retrieval rule of a need: when some eligible item (eligible empty: every item) fits every
// one of the need's `n_stems` distinct stems, the items that fit fewer get bm25 = 0, so that only
// the products holding every word of the need are listed; otherwise bm25 is left as it is (any
// word fits). Returns whether the every-word rule applied. fitted: NameIndex::score's counts.
bool keep_every_word_fits(std::span<const int> fitted, std::size_t n_stems,
                          const std::vector<bool>& eligible, std::vector<double>& bm25);

// The need-conditioned log scores: out[j] = log_probs[j] + popularity · log_popularity[j] +
// weight · bm25[j] for the items that fit (bm25[j] > 0) and are allowed (allowed empty: all are),
// -infinity for the others; log_popularity[j] = ln(1 + count_j) (empty: popularity must be 0).
// need_probabilities turns them into p(j | history, need): softmax over the finite entries.
void need_log_scores(std::span<const double> log_probs, std::span<const double> bm25, double weight,
                     std::span<const double> log_popularity, double popularity,
                     const std::vector<bool>& allowed, std::vector<double>& out);
void need_probabilities(std::vector<double>& log_scores);

// ---- The queries of the evaluation (docs/EVALUATION.md, "The need protocol") ----

// splitmix64: the evaluation's seeded generator (a reference implementation is a few lines in any
// language, so the queries can be rebuilt outside gptrec: tools/need_queries.py).
std::uint64_t splitmix64(std::uint64_t& state);
// FNV-1a 64-bit of `text`.
std::uint64_t fnv1a64(std::string_view text);

// The query built from a product name for (customer, item), or "" when the name has no content
// word that is not a colour or size word. The rule: the name's distinct content words in order
// are C, the anchors A = those that are not colour or size words. With state = seed ^
// fnv1a64(customer_id) ^ (fnv1a64(item_id) * 3) and three draws r1, r2, r3 of splitmix64: the
// anchor is A[r1 mod |A|]; when |C| > 1 and r2 is odd a second word C'[r3 mod |C'|] joins it
// (C' = C without the anchor); the query is the chosen words in name order, joined by a space.
std::string need_query(std::string_view name, std::string_view customer_id,
                       std::string_view item_id, std::uint64_t seed);

}  // namespace gptrec
