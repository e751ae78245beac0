#include "gptrec/error.hpp"
#include "gptrec/tokenizer.hpp"

namespace gptrec {

std::unique_ptr<Tokenizer> load_tokenizer(const std::filesystem::path& model_dir) {
  std::error_code ec;
  if (std::filesystem::exists(model_dir / "items.json", ec))
    return std::make_unique<ItemVocabulary>(ItemVocabulary::load(model_dir / "items.json"));
  throw Error(ErrorCode::kBadModel,
              model_dir.string() + ": no tokenizer (expected items.json, tokenizer.json, or "
                                   "vocab.json + merges.txt)");
}

}  // namespace gptrec
