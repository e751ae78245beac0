#include "gptrec/model_directory.hpp"

#include "gptrec/error.hpp"

namespace gptrec {

namespace {

bool file_exists(const std::filesystem::path& path) {
  std::error_code ec;
  return std::filesystem::exists(path, ec);
}

}  // namespace

void ModelDirectory::check_is_directory() const {
  std::error_code ec;
  if (!std::filesystem::is_directory(path_, ec))
    throw Error(ErrorCode::kBadModel,
                path_.string() + ": not a model directory (" +
                    (file_exists(path_) ? "not a directory" : "does not exist") + ")");
}

TokenizerFiles ModelDirectory::tokenizer_files() const {
  if (file_exists(tokenizer_json_file())) return TokenizerFiles::kTokenizerJson;
  const bool vocab = file_exists(vocab_file()), merges = file_exists(merges_file());
  if (vocab && merges) return TokenizerFiles::kVocabAndMerges;
  if (vocab != merges) return TokenizerFiles::kIncomplete;
  if (file_exists(items_file())) return TokenizerFiles::kItems;
  return TokenizerFiles::kNone;
}

std::string ModelDirectory::tokenizer_description() const {
  switch (tokenizer_files()) {
    case TokenizerFiles::kTokenizerJson:
      return "gpt2-bpe (tokenizer.json)";
    case TokenizerFiles::kVocabAndMerges:
      return "gpt2-bpe (vocab.json + merges.txt)";
    case TokenizerFiles::kItems:
      return "items (items.json)";
    case TokenizerFiles::kIncomplete:
    case TokenizerFiles::kNone:
      break;
  }
  return "none";
}

ModelConfig ModelDirectory::read_config() const { return load_model_config(config_file()); }

SafetensorsFile ModelDirectory::open_weights() const {
  const auto path = weights_file();
  if (!file_exists(path)) {
    std::string hint;
    if (file_exists(path_ / "pytorch_model.bin"))
      hint = " (pytorch_model.bin found: convert it with tools/convert.py)";
    throw Error(ErrorCode::kBadModel, path.string() + ": missing" + hint);
  }
  return SafetensorsFile::open(path);
}

ItemVocabulary ModelDirectory::read_items(const ModelConfig& config) const {
  const auto path = items_file();
  if (!file_exists(path))
    throw Error(ErrorCode::kBadModel,
                path.string() + ": missing (an item model needs its item vocabulary)");
  ItemVocabulary vocab = ItemVocabulary::load(path);
  if (vocab.vocab_size() > config.vocab_size)
    throw Error(ErrorCode::kBadModel, path.string() + ": " + std::to_string(vocab.vocab_size()) +
                                          " tokens, more than the model's vocab_size of " +
                                          std::to_string(config.vocab_size));
  return vocab;
}

std::shared_ptr<const BasketRanker> ModelDirectory::read_ranker(const ModelConfig& config,
                                                                const ItemVocabulary& vocab) const {
  if (!config.ranker) return nullptr;
  const auto path = path_ / config.ranker->neighbors_file;
  if (!file_exists(path))
    throw Error(ErrorCode::kBadModel, path.string() + ": missing (the ranker of " +
                                          config_file().string() +
                                          " names it as its neighbours file)");
  return std::make_shared<const BasketRanker>(*config.ranker, vocab, path);
}

std::unique_ptr<Tokenizer> load_tokenizer(const std::filesystem::path& model_dir) {
  const ModelDirectory dir(model_dir);
  switch (dir.tokenizer_files()) {
    case TokenizerFiles::kTokenizerJson:
      return std::make_unique<Gpt2Tokenizer>(
          Gpt2Tokenizer::load_tokenizer_json(dir.tokenizer_json_file()));
    case TokenizerFiles::kVocabAndMerges:
      return std::make_unique<Gpt2Tokenizer>(
          Gpt2Tokenizer::load(dir.vocab_file(), dir.merges_file()));
    case TokenizerFiles::kIncomplete: {
      const bool has_vocab = file_exists(dir.vocab_file());
      throw Error(ErrorCode::kBadModel,
                  (has_vocab ? dir.merges_file() : dir.vocab_file()).string() + ": missing (" +
                      dir.vocab_file().filename().string() + " and " +
                      dir.merges_file().filename().string() + " go together)");
    }
    case TokenizerFiles::kItems:
      return std::make_unique<ItemVocabulary>(ItemVocabulary::load(dir.items_file()));
    case TokenizerFiles::kNone:
      break;
  }
  std::error_code ec;
  if (!std::filesystem::is_directory(model_dir, ec))
    throw Error(ErrorCode::kBadModel, model_dir.string() + ": not a directory");
  throw Error(ErrorCode::kBadModel, model_dir.string() +
                                        ": no tokenizer (expected tokenizer.json, vocab.json + "
                                        "merges.txt, or items.json)");
}

}  // namespace gptrec
