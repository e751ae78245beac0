#include "gptrec/need.hpp"

#include <algorithm>
#include <cmath>
#include <iterator>
#include <unordered_set>

#include "gptrec/error.hpp"

namespace gptrec {

namespace {

constexpr std::string_view kStopWords[] = {
    "a",     "about", "all",     "an",   "and",     "any",   "are",       "as",   "at",
    "be",    "buy",   "but",     "by",   "can",     "for",   "from",      "get",  "have",
    "her",   "him",   "his",     "i",    "im",      "in",    "into",      "is",   "it",
    "its",   "like",  "looking", "me",   "my",      "need",  "needs",     "of",   "on",
    "or",    "our",   "please",  "she",  "so",      "some",  "something", "that", "the",
    "their", "them",  "these",   "they", "this",    "those", "to",        "us",   "want",
    "wants", "we",    "what",    "with", "without", "would", "you",       "your", "he"};

constexpr std::string_view kColourSizeWords[] = {
    "beige",    "big",     "black",     "blue",   "bright", "brown",   "colour",
    "coloured", "colours", "cream",     "dark",   "extra",  "giant",   "gold",
    "green",    "grey",    "gray",      "huge",   "ivory",  "jumbo",   "large",
    "lilac",    "little",  "long",      "medium", "mini",   "natural", "orange",
    "pastel",   "pink",    "purple",    "red",    "short",  "silver",  "small",
    "tall",     "tiny",    "turquoise", "violet", "white",  "yellow",  "multicolour"};

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

bool is_word_byte(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80;
}

// Length of the UTF-8 sequence at s[i], or 0 when it is not a valid one (overlong forms,
// surrogates and code points above U+10FFFF are invalid).
std::size_t utf8_sequence(std::string_view s, std::size_t i) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = byte(i);
  if (c < 0x80) return 1;
  std::size_t n = 0;
  std::uint32_t cp = 0;
  if ((c & 0xE0) == 0xC0) {
    n = 2;
    cp = c & 0x1F;
  } else if ((c & 0xF0) == 0xE0) {
    n = 3;
    cp = c & 0x0F;
  } else if ((c & 0xF8) == 0xF0) {
    n = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (std::size_t k = 1; k < n; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (byte(i + k) & 0x3F);
  }
  static constexpr std::uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return n;
}

// The distinct content words of `text` in order, and their distinct stems in order.
void content_words(std::string_view text, std::vector<std::string>& words,
                   std::vector<std::string>& stems) {
  words.clear();
  stems.clear();
  for (std::string& w : text_words(text)) {
    if (!is_content_word(w) || std::find(words.begin(), words.end(), w) != words.end()) continue;
    std::string s = stem_word(w);
    if (std::find(stems.begin(), stems.end(), s) == stems.end()) stems.push_back(std::move(s));
    words.push_back(std::move(w));
  }
}

}  // namespace

std::vector<std::string> text_words(std::string_view text) {
  std::vector<std::string> out;
  std::string word;
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (is_word_byte(c)) {
      word += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : ch;
    } else if (!word.empty()) {
      out.push_back(std::move(word));
      word.clear();
    }
  }
  if (!word.empty()) out.push_back(std::move(word));
  return out;
}

bool is_stop_word(std::string_view word) {
  return std::find(std::begin(kStopWords), std::end(kStopWords), word) != std::end(kStopWords);
}

bool is_colour_or_size_word(std::string_view word) {
  return std::find(std::begin(kColourSizeWords), std::end(kColourSizeWords), word) !=
         std::end(kColourSizeWords);
}

bool is_content_word(std::string_view word) {
  return word.size() >= 3 &&
         std::none_of(word.begin(), word.end(), [](char c) { return c >= '0' && c <= '9'; }) &&
         !is_stop_word(word);
}

std::string stem_word(std::string_view word) {
  std::string w(word);
  if (w.size() <= 3) return w;
  if (ends_with(w, "ies") && !ends_with(w, "eies") && !ends_with(w, "aies"))
    return w.substr(0, w.size() - 3) + "y";
  if (ends_with(w, "sses") || ends_with(w, "xes") || ends_with(w, "ches") || ends_with(w, "shes"))
    return w.substr(0, w.size() - 2);
  if (ends_with(w, "es") && !ends_with(w, "aes") && !ends_with(w, "ees") && !ends_with(w, "oes"))
    return w.substr(0, w.size() - 1);
  if (ends_with(w, "s") && !ends_with(w, "ss") && !ends_with(w, "us") && !ends_with(w, "is"))
    return w.substr(0, w.size() - 1);
  return w;
}

Need parse_need(std::string_view text) {
  if (text.size() > kMaxNeedBytes)
    throw Error(ErrorCode::kInvalidArgument, "need: " + std::to_string(text.size()) +
                                                 " bytes; at most " +
                                                 std::to_string(kMaxNeedBytes) + " are accepted");
  for (std::size_t i = 0; i < text.size();) {
    const std::size_t n = utf8_sequence(text, i);
    if (n == 0)
      throw Error(ErrorCode::kInvalidArgument,
                  "need: not valid UTF-8 (byte " + std::to_string(i) + ")");
    const auto c = static_cast<unsigned char>(text[i]);
    if (n == 1 && (c < 0x20 || c == 0x7F) && c != '\t')
      throw Error(ErrorCode::kInvalidArgument,
                  "need: control character at byte " + std::to_string(i));
    i += n;
  }
  if (text.find_first_not_of(" \t") == std::string_view::npos)
    throw Error(ErrorCode::kInvalidArgument, "need: empty (say what the customer is looking for)");
  Need need;
  need.text = std::string(text);
  content_words(text, need.words, need.stems);
  return need;
}

NameIndex::NameIndex(std::span<const std::string> names, NeedMatch match) : match_(match) {
  std::unordered_map<std::string, std::size_t> stem_slot;
  std::vector<std::string> stems;
  std::vector<std::vector<std::pair<std::uint32_t, std::uint32_t>>> postings;
  words_.resize(names.size());
  lengths_.resize(names.size());
  double total = 0;
  std::vector<std::string> doc_stems;
  for (std::size_t d = 0; d < names.size(); ++d) {
    for (std::string& w : text_words(names[d]))
      if (is_content_word(w)) words_[d].push_back(std::move(w));
    lengths_[d] = static_cast<double>(words_[d].size());
    total += lengths_[d];
    for (const std::string& w : words_[d]) {
      const std::string s = stem_word(w);
      auto [it, inserted] = stem_slot.emplace(s, stems.size());
      if (inserted) {
        stems.push_back(s);
        postings.emplace_back();
      }
      auto& list = postings[it->second];
      if (!list.empty() && list.back().first == d)
        ++list.back().second;
      else
        list.emplace_back(static_cast<std::uint32_t>(d), 1);
    }
  }
  mean_length_ = names.empty() ? 1 : std::max(total / static_cast<double>(names.size()), 1e-9);
  // Sorted stems, so that the stems a compound need stem fits are one range.
  std::vector<std::size_t> order(stems.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(),
            [&](std::size_t a, std::size_t b) { return stems[a] < stems[b]; });
  for (const std::size_t i : order) {
    stems_.push_back(std::move(stems[i]));
    postings_.push_back(std::move(postings[i]));
  }
}

std::vector<std::size_t> NameIndex::fitting_stems(const std::string& stem) const {
  std::vector<std::size_t> out;
  auto it = std::lower_bound(stems_.begin(), stems_.end(), stem);
  if (match_ == NeedMatch::kExact || stem.size() < 4) {
    if (it != stems_.end() && *it == stem)
      out.push_back(static_cast<std::size_t>(it - stems_.begin()));
    return out;
  }
  for (; it != stems_.end() && it->compare(0, stem.size(), stem) == 0; ++it)
    out.push_back(static_cast<std::size_t>(it - stems_.begin()));
  return out;
}

void NameIndex::score(std::span<const std::string> stems, std::vector<double>& out,
                      std::vector<int>* fitted) const {
  constexpr double k1 = 1.2, b = 0.75;
  out.assign(size(), 0.0);
  if (fitted != nullptr) fitted->assign(size(), 0);
  const double n_docs = static_cast<double>(size());
  std::unordered_map<std::uint32_t, std::uint32_t> tf;
  for (std::size_t q = 0; q < stems.size(); ++q) {
    if (std::find(stems.begin(), stems.begin() + static_cast<std::ptrdiff_t>(q), stems[q]) !=
        stems.begin() + static_cast<std::ptrdiff_t>(q))
      continue;  // a repeated stem counts once
    tf.clear();
    for (const std::size_t s : fitting_stems(stems[q]))
      for (const auto& [d, count] : postings_[s]) tf[d] += count;
    if (tf.empty()) continue;
    const double n = static_cast<double>(tf.size());
    const double idf = std::log(1 + (n_docs - n + 0.5) / (n + 0.5));
    for (const auto& [d, count] : tf) {
      const double f = count;
      out[d] += idf * f * (k1 + 1) / (f + k1 * (1 - b + b * lengths_[d] / mean_length_));
      if (fitted != nullptr) ++(*fitted)[d];
    }
  }
}

std::vector<std::string> NameIndex::fitting_words(std::size_t d,
                                                  std::span<const std::string> stems) const {
  std::vector<std::string> out;
  if (d >= words_.size()) return out;
  for (const std::string& w : words_[d]) {
    const std::string s = stem_word(w);
    const bool fits = std::any_of(stems.begin(), stems.end(), [&](const std::string& q) {
      return s == q || (match_ == NeedMatch::kCompound && q.size() >= 4 && s.starts_with(q));
    });
    if (fits && std::find(out.begin(), out.end(), w) == out.end()) out.push_back(w);
  }
  return out;
}

bool keep_every_word_fits(std::span<const int> fitted, std::size_t n_stems,
                          const std::vector<bool>& eligible, std::vector<double>& bm25) {
  auto fits_all = [&](std::size_t j) {
    return bm25[j] > 0 && static_cast<std::size_t>(fitted[j]) == n_stems;
  };
  bool any = false;
  for (std::size_t j = 0; j < bm25.size() && !any; ++j)
    any = fits_all(j) && (eligible.empty() || eligible[j]);
  if (!any) return false;
  for (std::size_t j = 0; j < bm25.size(); ++j)
    if (!fits_all(j)) bm25[j] = 0;
  return true;
}

void need_log_scores(std::span<const double> log_probs, std::span<const double> bm25, double weight,
                     std::span<const double> log_popularity, double popularity,
                     const std::vector<bool>& allowed, std::vector<double>& out) {
  if (popularity != 0 && log_popularity.size() != log_probs.size())
    throw Error(ErrorCode::kInvalidArgument,
                "need_log_scores: log_popularity has " + std::to_string(log_popularity.size()) +
                    " entries for " + std::to_string(log_probs.size()) + " items");
  out.assign(log_probs.size(), -INFINITY);
  for (std::size_t j = 0; j < log_probs.size(); ++j)
    if (bm25[j] > 0 && (allowed.empty() || allowed[j]))
      out[j] = log_probs[j] + weight * bm25[j] +
               (popularity != 0 ? popularity * log_popularity[j] : 0.0);
}

void need_probabilities(std::vector<double>& log_scores) {
  double top = -INFINITY;
  for (const double v : log_scores) top = std::max(top, v);
  if (!std::isfinite(top)) return;
  double sum = 0;
  for (const double v : log_scores) sum += std::isfinite(v) ? std::exp(v - top) : 0.0;
  for (double& v : log_scores) v = std::isfinite(v) ? std::exp(v - top) / sum : 0.0;
}

std::uint64_t splitmix64(std::uint64_t& state) {
  state += 0x9E3779B97F4A7C15ull;
  std::uint64_t z = state;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

std::uint64_t fnv1a64(std::string_view text) {
  std::uint64_t h = 14695981039346656037ull;
  for (const unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

std::string need_query(std::string_view name, std::string_view customer_id,
                       std::string_view item_id, std::uint64_t seed) {
  std::vector<std::string> words, stems;
  content_words(name, words, stems);
  std::vector<std::size_t> anchors;
  for (std::size_t i = 0; i < words.size(); ++i)
    if (!is_colour_or_size_word(words[i])) anchors.push_back(i);
  if (anchors.empty()) return "";
  std::uint64_t state = seed ^ fnv1a64(customer_id) ^ (fnv1a64(item_id) * 3);
  const std::uint64_t r1 = splitmix64(state), r2 = splitmix64(state), r3 = splitmix64(state);
  const std::size_t anchor = anchors[r1 % anchors.size()];
  std::vector<std::size_t> chosen = {anchor};
  if (words.size() > 1 && (r2 & 1) == 1) {
    std::vector<std::size_t> others;
    for (std::size_t i = 0; i < words.size(); ++i)
      if (i != anchor) others.push_back(i);
    chosen.push_back(others[r3 % others.size()]);
    std::sort(chosen.begin(), chosen.end());
  }
  std::string query;
  for (const std::size_t i : chosen) query += (query.empty() ? "" : " ") + words[i];
  return query;
}

}  // namespace gptrec
