// Fuzz target: config.json text through parse_model_config.
//
// Properties: a bad document is an Error(kBadModel) naming the source; an accepted config passes
// validate() and its sizes are positive and consistent (n_embd a multiple of n_head).
#include <cstdint>
#include <string_view>

#include "../fuzz_check.hpp"
#include "gptrec/config.hpp"

using namespace gptrec;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    const ModelConfig c = parse_model_config(text, "config.json");
    c.validate("config.json");
    FUZZ_CHECK(c.vocab_size > 0 && c.n_ctx > 0 && c.n_embd > 0 && c.n_layer > 0 && c.n_head > 0 &&
               c.n_inner > 0);
    FUZZ_CHECK(c.n_embd % c.n_head == 0 && c.head_dim() > 0);
    FUZZ_CHECK(c.layer_norm_epsilon > 0.0f && c.layer_norm_epsilon < 1.0f);
  } catch (const Error& e) {
    fuzz::check_error(e, ErrorCode::kBadModel, "config.json");
  }
  return 0;
}
