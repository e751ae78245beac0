#include "gptrec/tokenizer.hpp"

#include "gptrec/error.hpp"

namespace gptrec {

std::unique_ptr<Tokenizer> load_tokenizer(const std::filesystem::path& model_dir) {
  std::error_code ec;
  auto has = [&](const char* name) { return std::filesystem::exists(model_dir / name, ec); };
  if (has("tokenizer.json"))
    return std::make_unique<Gpt2Tokenizer>(
        Gpt2Tokenizer::load_tokenizer_json(model_dir / "tokenizer.json"));
  const bool vocab = has("vocab.json"), merges = has("merges.txt");
  if (vocab && merges)
    return std::make_unique<Gpt2Tokenizer>(
        Gpt2Tokenizer::load(model_dir / "vocab.json", model_dir / "merges.txt"));
  if (vocab != merges)
    throw Error(ErrorCode::kBadModel, (model_dir / (vocab ? "merges.txt" : "vocab.json")).string() +
                                          ": missing (vocab.json and merges.txt go together)");
  if (has("items.json"))
    return std::make_unique<ItemVocabulary>(ItemVocabulary::load(model_dir / "items.json"));
  if (!std::filesystem::is_directory(model_dir, ec))
    throw Error(ErrorCode::kBadModel, model_dir.string() + ": not a directory");
  throw Error(ErrorCode::kBadModel, model_dir.string() +
                                        ": no tokenizer (expected tokenizer.json, vocab.json + "
                                        "merges.txt, or items.json)");
}

}  // namespace gptrec
