// A model directory (DESIGN.md "Model directory", docs/FORMATS.md): config.json, model.safetensors,
// the tokenizer files and, for an item model, items.json; for a text model an optional
// recommender.json, and the neighbours file of an item model's ranker. This is the one place that
// knows those names: the loaders (Model::load, load_tokenizer, Recommender::load), quantize, eval
// and info read a directory through it.
//
// Thread-safety: a ModelDirectory is a path; every method is const and touches only the files.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "gptrec/basket_ranker.hpp"
#include "gptrec/config.hpp"
#include "gptrec/safetensors.hpp"
#include "gptrec/tokenizer.hpp"

namespace gptrec {

// The tokenizer files a model directory holds, in the order they are looked for.
enum class TokenizerFiles {
  kTokenizerJson,   // tokenizer.json: GPT-2 byte-level BPE in Hugging Face's one-file form
  kVocabAndMerges,  // vocab.json + merges.txt: GPT-2 byte-level BPE
  kItems,           // items.json: an item model's vocabulary
  kIncomplete,      // vocab.json or merges.txt without the other
  kNone,
};

class ModelDirectory {
 public:
  explicit ModelDirectory(std::filesystem::path path) : path_(std::move(path)) {}

  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path config_file() const { return path_ / "config.json"; }
  std::filesystem::path weights_file() const { return path_ / "model.safetensors"; }
  std::filesystem::path items_file() const { return path_ / "items.json"; }
  std::filesystem::path tokenizer_json_file() const { return path_ / "tokenizer.json"; }
  std::filesystem::path vocab_file() const { return path_ / "vocab.json"; }
  std::filesystem::path merges_file() const { return path_ / "merges.txt"; }
  // A text model's prompt template (PromptTemplate, recommender.hpp); optional.
  std::filesystem::path prompt_template_file() const { return path_ / "recommender.json"; }

  // Throws Error(kBadModel) "<path>: not a model directory (does not exist | not a directory)".
  void check_is_directory() const;
  // Which tokenizer files are there (never throws).
  TokenizerFiles tokenizer_files() const;
  // What `gptrec info` shows: "gpt2-bpe (tokenizer.json)", "gpt2-bpe (vocab.json + merges.txt)",
  // "items (items.json)" or "none".
  std::string tokenizer_description() const;

  // config.json, parsed and validated (load_model_config, config.hpp).
  ModelConfig read_config() const;
  // model.safetensors, memory-mapped. Throws Error(kBadModel) when it is missing (saying so when
  // the directory holds a PyTorch checkpoint instead) or malformed.
  SafetensorsFile open_weights() const;
  // items.json of an item model whose config is `config`. Throws Error(kBadModel) when it is
  // missing, malformed, or has more tokens than config.vocab_size.
  ItemVocabulary read_items(const ModelConfig& config) const;
  // The next-basket ranker of an item model whose config has one (config.ranker), with its
  // neighbours file; nullptr when the config has none. Throws Error(kBadModel) when the file is
  // missing or malformed.
  std::shared_ptr<const BasketRanker> read_ranker(const ModelConfig& config,
                                                  const ItemVocabulary& vocab) const;

 private:
  std::filesystem::path path_;
};

}  // namespace gptrec
