// Int8 weights for a model directory (`gptrec quantize IN_DIR OUT_DIR --type int8`).
//
// The matrices that dominate a decode step's memory traffic are stored as I8 with one F32 scale
// per output channel, symmetric: w ~= q * scale, scale = max |w| / 127 over the channel,
// q = round(w / scale) in [-127, 127]. Quantized: every block's attn.c_attn, attn.c_proj,
// mlp.c_fc and mlp.c_proj weights (Conv1D (in, out): one scale per column, `<name>_scale` of
// shape (out)), and the (vocab, C) token embedding and head (one scale per row, shape (vocab)).
// Everything else (positions, LayerNorms, biases) is copied as it is. Model::load reads the
// result; the forward pass computes with the int8 weights directly, its activations quantized to
// int8 in blocks of 32 inputs for the products (layers.hpp, linear_int8).
//
// Thread-safety: no shared state.
#pragma once

#include <cstdint>
#include <filesystem>

namespace gptrec {

enum class QuantizationType { kInt8 };

struct QuantizationReport {
  int tensors_quantized = 0;
  std::uint64_t weights_bytes_before = 0;  // model.safetensors sizes
  std::uint64_t weights_bytes_after = 0;
};

// Writes OUT_DIR (created if needed): the quantized model.safetensors and a copy of every other
// regular file of IN_DIR (config.json, tokenizer files, items.json, ...). IN_DIR must load as a
// model (Error(kBadModel) as Model::load) and hold no I8 weights yet (Error(kBadModel));
// OUT_DIR must not be IN_DIR (Error(kInvalidArgument)); write failures are Error(kIo).
QuantizationReport quantize_model_dir(const std::filesystem::path& in_dir,
                                      const std::filesystem::path& out_dir,
                                      QuantizationType type = QuantizationType::kInt8);

}  // namespace gptrec
