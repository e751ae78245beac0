// gptrec::Error — the one exception type of the library.
//
// Every failure that comes from outside the program (a file, a JSON document, a tensor, a command
// line) is reported as an Error whose message names the thing that was wrong and what was
// expected, e.g. "model.safetensors: tensor h.0.attn.c_attn.weight: shape [64, 190], expected
// [64, 192]". The code says which kind of input was at fault; the CLI maps it to its exit status.
// An Error is an ordinary value: copy it, rethrow it, or pass it to another thread freely.
#pragma once

#include <stdexcept>
#include <string>

namespace gptrec {

enum class ErrorCode : int {
  kInvalidArgument = 2,  // a bad call or command-line value
  kBadInput = 3,         // history, catalog, text or other user data
  kBadModel = 4,         // model directory: config, weights, tokenizer files
  kIo = 5,               // a file that cannot be opened, read or written
  kInternal = 1,         // a broken invariant inside gptrec (a bug)
};

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ErrorCode code() const noexcept { return code_; }

 private:
  ErrorCode code_;
};

}  // namespace gptrec
