// ModelConfig: the sizes and numerical choices of a GPT model, read from a model directory's
// config.json. Both gptrec's own keys and Hugging Face GPT-2 keys are understood (see
// docs/FORMATS.md); unknown keys are ignored, known keys with bad values are errors.
// Thread-safety: plain values and pure functions; a ModelConfig may be read from many threads.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace gptrec {

enum class PositionEncoding { kLearned, kSinusoidal };
enum class Activation { kGeluTanh, kGeluExact };
// A text model reads tokenized text; an item model has one token per catalog item (items.json).
enum class ModelKind { kText, kItems };
// How an item model's history becomes tokens (docs/FORMATS.md).
enum class SequenceFormat { kBaskets, kItems };

// The config.json spelling ("learned", "gelu_new", "items", "baskets", ...).
std::string_view to_string(PositionEncoding p);
std::string_view to_string(Activation a);
std::string_view to_string(ModelKind k);
std::string_view to_string(SequenceFormat f);

// An item model's repeat (copy) component, config.json "gptrec": {"repeat": {"weight": w,
// "decay": d}}: the next-unit distribution is (1 - w) x the GPT's softmax + w x the copy
// distribution over the items of the input, each occurrence weighted d^age (age = the number of
// units after it: baskets, or items in the items format). w = 0 (the default) is the plain GPT.
// A pointer to the customer's own past purchases, which a softmax through one C-dim vector cannot
// rank as sharply as exact counts (docs/EVALUATION.md).
struct RepeatMix {
  double weight = 0;  // in [0, 1)
  double decay = 1;   // in (0, 1]
};

// An item model's next-basket ranker, config.json "gptrec": {"ranker": {...}}
// (docs/EVALUATION.md "The ranker", docs/FORMATS.md): the final scores are a log-softmax over the
// items of z(j) = explore M(j) + H(j) (repeat + count log(1 + c(j)) + decayed d(j) + last L(j) +
// baskets log(1 + n) + repeat_explore M(j)), where M(j) = log((1 - mix) p(j) + mix n(j)) mixes
// the GPT's probability p with the purchases n of the customer's nearest neighbours in
// `neighbors_file` (TIFU-KNN vectors), and H, c, d, L describe the customer's own purchases of j.
struct RankerConfig {
  double mix = 0;    // in [0, 1)
  double decay = 1;  // of d(j), in (0, 1]
  double explore = 0, repeat = 0, count = 0, decayed = 0, last = 0, baskets = 0,
         repeat_explore = 0;                 // the weights
  std::string neighbors_file;                // in the model directory
  int neighbors = 1;                         // k, >= 1
  double within_decay = 1, group_decay = 1;  // TIFU's r_b and r_g, in (0, 1]
  int groups = 1;                            // TIFU's G, >= 1
};

struct ModelConfig {
  int vocab_size = 0;
  int n_ctx = 0;   // longest sequence the model accepts (n_positions)
  int n_embd = 0;  // width C
  int n_layer = 0;
  int n_head = 0;
  int n_inner = 0;  // MLP hidden width, 4 * n_embd unless the config says otherwise
  float layer_norm_epsilon = 1e-5f;
  Activation activation = Activation::kGeluTanh;
  PositionEncoding position_encoding = PositionEncoding::kLearned;
  // From the optional "gptrec" object: {"kind": "items", "sequence_format": "baskets", "repeat":
  // ...}.
  ModelKind kind = ModelKind::kText;
  SequenceFormat sequence_format = SequenceFormat::kBaskets;
  RepeatMix repeat;  // "gptrec": {"repeat": {...}}; item models only
  // "gptrec": {"need": {"weight": w, "popularity": β}}: how much the text match of a need and the
  // products' popularity count against the model's probability, p(j | history, need) ∝
  // p(j | history) (1 + count_j)^β exp(w BM25(need, j)) (need.hpp; count_j: items.json's
  // "count"); both >= 0, chosen on validation (docs/EVALUATION.md, "The need protocol").
  double need_weight = kDefaultNeedWeight;
  double need_popularity = 0;  // β; 0 (no popularity expert) when the config has none
  // Chosen on the Online Retail validation orders (docs/EVALUATION.md).
  static constexpr double kDefaultNeedWeight = 1.0;
  std::optional<RankerConfig> ranker;  // "gptrec": {"ranker": {...}}; baskets item models only

  int head_dim() const { return n_embd / n_head; }  // valid after validate()

  // Throws Error(kBadModel) naming `source` and the key when a value is out of range.
  void validate(std::string_view source) const;
};

// Parses and validates config.json text; `source` names the file in error messages. Throws
// Error(kBadModel) naming `source` and the key for invalid JSON, a missing or bad value, or an
// option gptrec does not implement.
ModelConfig parse_model_config(std::string_view json_text, std::string_view source);
// The same from a file; an unreadable file is also Error(kBadModel), naming the path.
ModelConfig load_model_config(const std::filesystem::path& path);

}  // namespace gptrec
