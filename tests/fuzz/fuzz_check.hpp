// What every fuzz target checks, and the one way a target reports a broken property.
//
// A target feeds its input to a parser; the only acceptable failure is a gptrec::Error of the
// documented code whose message names the input. Any other exception escapes the target (libFuzzer
// and the replay test both report it as a crash), and a broken property aborts through
// FUZZ_CHECK, which works the same in the libFuzzer build and in the ordinary (GCC, NDEBUG) replay
// build, where assert() would be compiled out.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "gptrec/error.hpp"

namespace gptrec::fuzz {

[[noreturn]] inline void check_failed(const char* what, const char* file, int line) {
  std::fprintf(stderr, "fuzz check failed: %s (%s:%d)\n", what, file, line);
  std::abort();
}

#define FUZZ_CHECK(cond) \
  ((cond) ? void(0) : ::gptrec::fuzz::check_failed(#cond, __FILE__, __LINE__))

// An error must be of the parser's documented kind and start with "<source>: ".
inline void check_error(const Error& e, ErrorCode expected_code, std::string_view source) {
  const std::string_view message = e.what();
  if (e.code() != expected_code || !message.starts_with(source) ||
      message.substr(source.size()).substr(0, 2) != ": ") {
    std::fprintf(stderr, "unexpected error (code %d): %.*s\n", static_cast<int>(e.code()),
                 static_cast<int>(message.size()), message.data());
    check_failed("error of the documented code naming the input", __FILE__, __LINE__);
  }
}

}  // namespace gptrec::fuzz
