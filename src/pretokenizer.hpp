// GPT-2's pre-tokenizer as a hand-written scanner (private to the library).
//
// It finds the same matches as the regular expression
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// applied leftmost-first, without a regex engine: one pass over the bytes, one table lookup per
// code point. Bytes that do not start a well-formed UTF-8 sequence count as one character of
// "other" class each, so any byte string is split and nothing is lost.
#pragma once

#include <cstddef>
#include <string_view>

#include "unicode_classes.hpp"

namespace gptrec::pretokenizer {

using unicode::CharClass;

inline bool is_continuation(unsigned char b) { return (b & 0xC0u) == 0x80u; }

// Class of the character at p (p < end) and its length in bytes. Well-formed UTF-8 per the
// Unicode standard (table 3-7): no overlong forms, no surrogates, nothing above U+10FFFF.
inline CharClass class_at(const unsigned char* p, const unsigned char* end, std::size_t& len) {
  const unsigned char b0 = p[0];
  if (b0 < 0x80u) {
    len = 1;
    return static_cast<CharClass>(unicode::kClassStage2[b0]);  // block 0 holds U+0000..U+00FF
  }
  const std::ptrdiff_t avail = end - p;
  char32_t cp = 0;
  if (b0 >= 0xC2u && b0 <= 0xDFu) {
    if (avail >= 2 && is_continuation(p[1])) {
      len = 2;
      cp = (char32_t{b0} & 0x1Fu) << 6 | (p[1] & 0x3Fu);
      return unicode::char_class(cp);
    }
  } else if (b0 >= 0xE0u && b0 <= 0xEFu) {
    if (avail >= 3 && is_continuation(p[1]) && is_continuation(p[2])) {
      const unsigned char lo = b0 == 0xE0u ? 0xA0u : 0x80u;
      const unsigned char hi = b0 == 0xEDu ? 0x9Fu : 0xBFu;
      if (p[1] >= lo && p[1] <= hi) {
        len = 3;
        cp = (char32_t{b0} & 0x0Fu) << 12 | char32_t{p[1] & 0x3Fu} << 6 | (p[2] & 0x3Fu);
        return unicode::char_class(cp);
      }
    }
  } else if (b0 >= 0xF0u && b0 <= 0xF4u) {
    if (avail >= 4 && is_continuation(p[1]) && is_continuation(p[2]) && is_continuation(p[3])) {
      const unsigned char lo = b0 == 0xF0u ? 0x90u : 0x80u;
      const unsigned char hi = b0 == 0xF4u ? 0x8Fu : 0xBFu;
      if (p[1] >= lo && p[1] <= hi) {
        len = 4;
        cp = (char32_t{b0} & 0x07u) << 18 | char32_t{p[1] & 0x3Fu} << 12 |
             char32_t{p[2] & 0x3Fu} << 6 | (p[3] & 0x3Fu);
        return unicode::char_class(cp);
      }
    }
  }
  len = 1;
  return CharClass::kOther;
}

// Calls emit(begin, length) for each pre-token of `text`, in order; byte offsets into text.
template <class Emit>
void for_each_pretoken(std::string_view text, Emit&& emit) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const unsigned char* const end = s + text.size();
  const std::size_t n = text.size();
  std::size_t i = 0;
  // End of the run of characters of class `cls` that starts at byte j.
  auto run_end = [&](std::size_t j, CharClass cls) {
    std::size_t len = 0;
    while (j < n && class_at(s + j, end, len) == cls) j += len;
    return j;
  };
  while (i < n) {
    const std::size_t start = i;
    const unsigned char b = s[i];
    // 's 't 're 've 'm 'll 'd: ASCII apostrophe and lower-case letters only.
    if (b == '\'' && i + 1 < n) {
      const unsigned char c = s[i + 1];
      if (c == 's' || c == 't' || c == 'm' || c == 'd') {
        emit(start, std::size_t{2});
        i += 2;
        continue;
      }
      if (i + 2 < n) {
        const unsigned char d = s[i + 2];
        if ((c == 'r' && d == 'e') || (c == 'v' && d == 'e') || (c == 'l' && d == 'l')) {
          emit(start, std::size_t{3});
          i += 3;
          continue;
        }
      }
    }
    std::size_t len = 0;
    CharClass cls = class_at(s + i, end, len);
    if (cls == CharClass::kSpace) {
      // " ?\p{L}+", " ?\p{N}+" and " ?[^\s\p{L}\p{N}]+" take a single U+0020 in front.
      if (b == ' ' && i + 1 < n) {
        std::size_t next_len = 0;
        const CharClass next = class_at(s + i + 1, end, next_len);
        if (next != CharClass::kSpace) {
          i = run_end(i + 1 + next_len, next);
          emit(start, i - start);
          continue;
        }
      }
      // "\s+(?!\S)": the whole run at the end of the text, otherwise the run without its last
      // character (which then starts the next pre-token); "\s+" when the run is one character.
      std::size_t j = i + len, last = i;
      while (j < n) {
        std::size_t l = 0;
        if (class_at(s + j, end, l) != CharClass::kSpace) break;
        last = j;
        j += l;
      }
      i = (j == n || last == start) ? j : last;
      emit(start, i - start);
      continue;
    }
    i = run_end(i + len, cls);
    emit(start, i - start);
  }
}

}  // namespace gptrec::pretokenizer
