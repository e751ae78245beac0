// Cross-checks GPT-2's pre-tokenizer against an independent implementation: PCRE2 (Debian's
// libpcre2) running the pattern itself. Both the character classes (every code point) and the
// splits (random strings) must agree. `\s` is written \p{White_Space}: PCRE2's own \s also
// matches U+180E, which is not White_Space.
//
// Debian 12's PCRE2 (10.42) has Unicode 14 tables and our tables are Unicode 15.0, so code points
// that PCRE2 calls unassigned (\p{Cn}) but that Unicode 15.0 assigned are left out (about 4,500,
// the 15.0 additions); every code point assigned in both must agree.
#define PCRE2_CODE_UNIT_WIDTH 8
#include <gtest/gtest.h>
#include <pcre2.h>

#include <random>
#include <string>
#include <vector>

#include "gptrec/tokenizer.hpp"
#include "unicode_classes.hpp"

namespace {

std::string utf8(char32_t c) {
  std::string s;
  if (c < 0x80) {
    s += static_cast<char>(c);
  } else if (c < 0x800) {
    s += static_cast<char>(0xC0 | (c >> 6));
    s += static_cast<char>(0x80 | (c & 0x3F));
  } else if (c < 0x10000) {
    s += static_cast<char>(0xE0 | (c >> 12));
    s += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (c & 0x3F));
  } else {
    s += static_cast<char>(0xF0 | (c >> 18));
    s += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
    s += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (c & 0x3F));
  }
  return s;
}

class Regex {
 public:
  explicit Regex(const std::string& pattern) {
    int error = 0;
    PCRE2_SIZE offset = 0;
    code_ = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.c_str()), pattern.size(),
                          PCRE2_UTF | PCRE2_UCP, &error, &offset, nullptr);
    if (code_ == nullptr) {
      PCRE2_UCHAR message[256];
      pcre2_get_error_message(error, message, sizeof message);
      throw std::runtime_error(pattern + ": " + reinterpret_cast<char*>(message));
    }
    match_ = pcre2_match_data_create_from_pattern(code_, nullptr);
  }
  ~Regex() {
    pcre2_match_data_free(match_);
    pcre2_code_free(code_);
  }
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // The match at or after `start`, as [begin, end), or nothing.
  std::optional<std::pair<std::size_t, std::size_t>> find(const std::string& s, std::size_t start,
                                                          bool anchored = false) const {
    const int rc = pcre2_match(code_, reinterpret_cast<PCRE2_SPTR>(s.data()), s.size(), start,
                               anchored ? PCRE2_ANCHORED : 0, match_, nullptr);
    if (rc < 0) return std::nullopt;
    const PCRE2_SIZE* v = pcre2_get_ovector_pointer(match_);
    return std::make_pair(static_cast<std::size_t>(v[0]), static_cast<std::size_t>(v[1]));
  }

 private:
  pcre2_code* code_ = nullptr;
  pcre2_match_data* match_ = nullptr;
};

}  // namespace

// Assigned after PCRE2's Unicode version: PCRE2 says unassigned, our tables say otherwise.
bool newer_than_pcre2(char32_t c) {
  static const Regex unassigned("\\p{Cn}");
  return unassigned.find(utf8(c), 0, true) &&
         gptrec::unicode::char_class(c) != gptrec::unicode::CharClass::kOther;
}

TEST(Pcre2CrossCheck, CharacterClassesOfEveryCodePoint) {
  using gptrec::unicode::CharClass;
  const Regex letter("\\p{L}"), number("\\p{N}"), space("\\p{White_Space}");
  int letters = 0, mismatches = 0, newer = 0;
  for (char32_t c = 0; c <= 0x10FFFF; ++c) {
    if (c >= 0xD800 && c <= 0xDFFF) continue;
    if (newer_than_pcre2(c)) {
      ++newer;
      continue;
    }
    const std::string s = utf8(c);
    const CharClass want = letter.find(s, 0, true)   ? CharClass::kLetter
                           : number.find(s, 0, true) ? CharClass::kNumber
                           : space.find(s, 0, true)  ? CharClass::kSpace
                                                     : CharClass::kOther;
    letters += want == CharClass::kLetter;
    if (gptrec::unicode::char_class(c) != want && ++mismatches <= 20)
      ADD_FAILURE() << "U+" << std::hex << static_cast<std::uint32_t>(c) << ": ours "
                    << static_cast<int>(gptrec::unicode::char_class(c)) << ", PCRE2 "
                    << static_cast<int>(want);
  }
  EXPECT_EQ(mismatches, 0);
  EXPECT_GT(letters, 130000);  // PCRE2 really answered
  EXPECT_LT(newer, 5000) << "more than Unicode 15.0's additions were left out";
}

TEST(Pcre2CrossCheck, SplitsEqualThePatternOnRandomText) {
  const Regex gpt2(
      "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\p{White_Space}\\p{L}\\p{N}]+|"
      "\\p{White_Space}+(?!\\P{White_Space})|\\p{White_Space}+");
  const std::vector<std::u32string> pools = {
      U"abcxyzABCXYZ",
      U"0123456789",
      U"!?.,;:-_()[]{}\"#$%&*+/<=>@\\^`|~",
      U"'''sstrevmld",
      U"     \t\n\n\r\v\f\u0085\u00A0\u1680\u2000\u2009\u200A\u2028\u2029\u202F\u205F\u3000",
      U"\u200B\u200D\u2060\uFEFF\u180E\u001C\u001F",  // look like spaces, are not White_Space
      U"éüßÆœĳǅαβΩжЯ한글日本語ひらカタ",
      U"\u0301\u0308\u0327\u093F\u0BCD\u20DD",
      U"٠١٢३४೫²³¼Ⅻↂ〇𝟘🄀",
      U"😀👍🏽❤️🇯🇵✅"};
  std::mt19937 rng(99);
  auto uniform = [&](std::size_t hi) {
    return std::uniform_int_distribution<std::size_t>(0, hi)(rng);
  };
  int checked = 0;
  for (int round = 0; round < 20000; ++round) {
    std::string s;
    const std::size_t length = uniform(round % 100 == 0 ? 300 : 12);
    for (std::size_t i = 0; i < length; ++i) {
      if (uniform(19) == 0) {
        char32_t c;
        do c = static_cast<char32_t>(uniform(0x10FFFF));
        while ((c >= 0xD800 && c <= 0xDFFF) || newer_than_pcre2(c));
        s += utf8(c);
      } else {
        const auto& pool = pools[uniform(pools.size() - 1)];
        s += utf8(pool[uniform(pool.size() - 1)]);
      }
    }
    std::vector<std::string_view> want;
    for (std::size_t pos = 0; pos < s.size();) {
      const auto m = gpt2.find(s, pos);
      ASSERT_TRUE(m && m->first == pos && m->second > pos) << "PCRE2 skipped text in " << s;
      want.emplace_back(s.data() + pos, m->second - pos);
      pos = m->second;
    }
    ASSERT_EQ(gptrec::Gpt2Tokenizer::pretokenize(s), want) << s;
    ++checked;
  }
  EXPECT_EQ(checked, 20000);
}
