// Fuzz target: the input bytes as text (any bytes: invalid UTF-8 included) through the GPT-2
// tokenizer of tests/data/gpt2, with and without special tokens.
//
// Properties: encode never fails on text under 1 GiB; every id is in the vocabulary; decode gives
// back exactly the input bytes; the pre-tokens concatenate to the input.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "../fuzz_check.hpp"
#include "gptrec/tokenizer.hpp"

using namespace gptrec;

namespace {

std::unique_ptr<Gpt2Tokenizer> tokenizer;

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const std::string dir = GPTREC_TEST_DATA "/gpt2";
  tokenizer = std::make_unique<Gpt2Tokenizer>(
      Gpt2Tokenizer::load(dir + "/vocab.json", dir + "/merges.txt"));
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  for (const bool allow_special : {false, true}) {
    const std::vector<int> ids = tokenizer->encode(text, allow_special);
    for (const int id : ids) FUZZ_CHECK(id >= 0 && id < tokenizer->vocab_size());
    FUZZ_CHECK(tokenizer->decode(ids) == text);
    if (!allow_special) {
      std::vector<int> appended = {7};
      tokenizer->encode_ordinary(text, appended);
      FUZZ_CHECK(appended.size() == ids.size() + 1 &&
                 std::equal(ids.begin(), ids.end(), appended.begin() + 1));
    }
  }
  std::string joined;
  for (const std::string_view piece : Gpt2Tokenizer::pretokenize(text)) {
    FUZZ_CHECK(!piece.empty());
    joined += piece;
  }
  FUZZ_CHECK(joined == text);
  return 0;
}
