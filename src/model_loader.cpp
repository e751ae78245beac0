// Model loading: the model directory's config and weights bound to the canonical GPT-2 tensor
// names (checked against the config), int8 matrices packed for the int8 products, large float32
// matrices copied into huge pages.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <set>
#include <sstream>
#include <unordered_map>

#include "gptrec/error.hpp"
#include "gptrec/model.hpp"
#include "gptrec/model_directory.hpp"
#include "huge_pages.hpp"
#include "threads.hpp"

namespace gptrec {

namespace {

// A buffer of `bytes` rounded up to whole 2 MiB pages, asked to be backed by huge pages before it
// is first written; null when it cannot be allocated.
std::unique_ptr<std::uint8_t, void (*)(void*)> allocate_on_huge_pages(std::size_t bytes) {
  constexpr std::size_t kHuge = std::size_t{2} << 20;
  bytes = (bytes + kHuge - 1) / kHuge * kHuge;
  std::unique_ptr<std::uint8_t, void (*)(void*)> buffer(
      static_cast<std::uint8_t*>(std::aligned_alloc(kHuge, bytes)), &std::free);
  if (buffer) advise_huge_pages(buffer.get(), bytes);
  return buffer;
}

// The file's tensors by the address of their first byte (models may have thousands of tensors).
class TensorsByStart {
 public:
  explicit TensorsByStart(const SafetensorsFile& file) {
    for (const TensorInfo& t : file.tensors())
      if (t.end > t.begin) by_start_.emplace(file.data(t).data(), &t);
  }
  // The tensor of that dtype whose bytes start at `data`, or nullptr (e.g. a converted copy).
  const TensorInfo* find(const void* data, DType dtype) const {
    const auto it = by_start_.find(data);
    return it != by_start_.end() && it->second->dtype == dtype ? it->second : nullptr;
  }

 private:
  std::unordered_map<const void*, const TensorInfo*> by_start_;
};

std::string shape_text(const std::vector<std::int64_t>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// Resolves checkpoint tensor names to the canonical Hugging Face GPT-2 names, checks shapes and
// values, and produces float32 views. This is the only place that knows checkpoint naming.
class WeightBinder {
 public:
  WeightBinder(const SafetensorsFile& file, std::vector<std::vector<float>>& owned,
               std::vector<std::vector<std::uint16_t>>& owned_half, std::set<std::string>& dtypes,
               std::int64_t& params)
      : file_(file), owned_(owned), owned_half_(owned_half), dtypes_(dtypes), params_(params) {
    // GPT2LMHeadModel.save_pretrained writes "transformer.h.0...", GPT2Model writes "h.0...".
    prefix_ = file.find("wte.weight") == nullptr && file.find("transformer.wte.weight") != nullptr
                  ? "transformer."
                  : "";
  }

  const std::string& prefix() const { return prefix_; }

  const TensorInfo* lookup(const std::string& name) const {
    if (const TensorInfo* t = file_.find(prefix_ + name)) return t;
    return file_.find(name);
  }

  // `expected` is the shape; `meaning` explains it in errors, e.g. "(n_embd, 3 * n_embd)".
  WeightTensor bind(const std::string& name, std::vector<std::int64_t> expected,
                    const char* meaning) {
    const TensorInfo* t = lookup(name);
    if (t == nullptr)
      throw Error(ErrorCode::kBadModel, file_.source() + ": missing tensor " + prefix_ + name);
    return bind(*t, expected, meaning);
  }

  // Like bind, and also accepts int8 weights (gptrec quantize): then `<tensor>_scale` holds
  // one F32 scale per output channel, per column of (in, out) Conv1D weights or per row of the
  // (vocab, C) embedding and head (scale_per_row). F16 and BF16 matrices are kept as stored.
  WeightTensor bind_quantizable(const std::string& name, std::vector<std::int64_t> expected,
                                const char* meaning, bool scale_per_row) {
    const TensorInfo* t = lookup(name);
    if (t == nullptr)
      throw Error(ErrorCode::kBadModel, file_.source() + ": missing tensor " + prefix_ + name);
    return bind_quantizable(*t, expected, meaning, scale_per_row);
  }

  WeightTensor bind_quantizable(const TensorInfo& t, const std::vector<std::int64_t>& expected,
                                const char* meaning, bool scale_per_row) {
    if (t.dtype == DType::kF16 || t.dtype == DType::kBF16) return bind_half(t, expected, meaning);
    if (t.dtype != DType::kI8) return bind(t, expected, meaning);
    const std::string where = file_.source() + ": tensor " + t.name + ": ";
    if (t.shape != expected)
      throw Error(ErrorCode::kBadModel, where + "shape " + shape_text(t.shape) + ", expected " +
                                            shape_text(expected) + " " + meaning);
    const std::string scale_name = t.name + "_scale";
    const TensorInfo* s = file_.find(scale_name);
    if (s == nullptr)
      throw Error(ErrorCode::kBadModel,
                  where + "I8 weights need their scales, but tensor " + scale_name + " is missing");
    const std::int64_t channels = scale_per_row ? expected[0] : expected[1];
    if (s->dtype != DType::kF32 || s->shape != std::vector<std::int64_t>{channels})
      throw Error(ErrorCode::kBadModel,
                  file_.source() + ": tensor " + scale_name + ": expected F32 " +
                      shape_text({channels}) + " (one scale per output channel), got " +
                      std::string(to_string(s->dtype)) + " " + shape_text(s->shape));
    const auto scale_bytes = file_.data(*s);
    const float* scale = nullptr;
    if (reinterpret_cast<std::uintptr_t>(scale_bytes.data()) % alignof(float) == 0) {
      scale = reinterpret_cast<const float*>(scale_bytes.data());
    } else {
      owned_.emplace_back(static_cast<std::size_t>(channels));
      file_.read_as_float32(*s, owned_.back());
      scale = owned_.back().data();
    }
    for (std::int64_t i = 0; i < channels; ++i)
      if (!std::isfinite(scale[i]) || scale[i] < 0.0f)
        throw Error(ErrorCode::kBadModel, file_.source() + ": tensor " + scale_name + ": element " +
                                              std::to_string(i) +
                                              " is not a finite, non-negative scale");
    dtypes_.insert("I8");
    params_ += t.numel();
    WeightTensor w;
    w.rows = expected[0];
    w.cols = expected[1];
    w.q = reinterpret_cast<const std::int8_t*>(file_.data(t).data());
    w.scale = scale;
    w.scale_per_row = scale_per_row;
    return w;
  }

  // An F16 or BF16 matrix as stored (copied only when the file leaves it misaligned).
  WeightTensor bind_half(const TensorInfo& t, const std::vector<std::int64_t>& expected,
                         const char* meaning) {
    const std::string where = file_.source() + ": tensor " + t.name + ": ";
    if (t.shape != expected)
      throw Error(ErrorCode::kBadModel, where + "shape " + shape_text(t.shape) + ", expected " +
                                            shape_text(expected) + " " + meaning);
    const auto n = static_cast<std::size_t>(t.numel());
    const auto bytes = file_.data(t);
    const std::uint16_t* half = nullptr;
    if (reinterpret_cast<std::uintptr_t>(bytes.data()) % alignof(std::uint16_t) == 0) {
      half = reinterpret_cast<const std::uint16_t*>(bytes.data());
    } else {
      owned_half_.emplace_back(n);
      std::memcpy(owned_half_.back().data(), bytes.data(), n * sizeof(std::uint16_t));
      half = owned_half_.back().data();
    }
    const bool bf16 = t.dtype == DType::kBF16;
    // All exponent bits set: infinity or NaN.
    const std::uint16_t exponent = bf16 ? 0x7F80 : 0x7C00;
    for (std::size_t i = 0; i < n; ++i)
      if ((half[i] & exponent) == exponent)
        throw Error(ErrorCode::kBadModel,
                    where + "element " + std::to_string(i) + " is " +
                        ((half[i] & (exponent ^ 0x7FFF)) != 0 ? "NaN" : "infinite") +
                        "; weights must be finite");
    dtypes_.insert(std::string(to_string(t.dtype)));
    params_ += t.numel();
    WeightTensor w;
    w.half = half;
    w.bf16 = bf16;
    w.rows = expected[0];
    w.cols = expected[1];
    return w;
  }

  WeightTensor bind(const TensorInfo& t, const std::vector<std::int64_t>& expected,
                    const char* meaning) {
    const std::string where = file_.source() + ": tensor " + t.name + ": ";
    if (t.shape != expected)
      throw Error(ErrorCode::kBadModel, where + "shape " + shape_text(t.shape) + ", expected " +
                                            shape_text(expected) + " " + meaning);
    if (t.dtype != DType::kF32 && t.dtype != DType::kF16 && t.dtype != DType::kBF16)
      throw Error(ErrorCode::kBadModel, where + "dtype " + std::string(to_string(t.dtype)) +
                                            " is not supported here (expected F32, F16 or BF16)");
    const auto n = static_cast<std::size_t>(t.numel());
    const float* data = nullptr;
    const auto bytes = file_.data(t);
    if (t.dtype == DType::kF32 &&
        reinterpret_cast<std::uintptr_t>(bytes.data()) % alignof(float) == 0) {
      data = reinterpret_cast<const float*>(bytes.data());
    } else {
      owned_.emplace_back(n);
      file_.read_as_float32(t, owned_.back());
      data = owned_.back().data();
    }
    for (std::size_t i = 0; i < n; ++i)
      if (!std::isfinite(data[i]))
        throw Error(ErrorCode::kBadModel, where + "element " + std::to_string(i) + " is " +
                                              (std::isnan(data[i]) ? "NaN" : "infinite") +
                                              "; weights must be finite");
    dtypes_.insert(std::string(to_string(t.dtype)));
    params_ += t.numel();
    WeightTensor w;
    w.data = data;
    w.rows = expected.size() == 2 ? expected[0] : 1;
    w.cols = expected.size() == 2 ? expected[1] : expected[0];
    return w;
  }

 private:
  const SafetensorsFile& file_;
  std::vector<std::vector<float>>& owned_;
  std::vector<std::vector<std::uint16_t>>& owned_half_;
  std::set<std::string>& dtypes_;
  std::int64_t& params_;
  std::string prefix_;
};

}  // namespace

Model::~Model() = default;

Model Model::load(const std::filesystem::path& directory) {
  const ModelDirectory dir(directory);
  dir.check_is_directory();
  ModelConfig config = dir.read_config();
  return from_parts(std::move(config), dir.open_weights(), directory);
}

Model Model::from_parts(ModelConfig config, SafetensorsFile file,
                        const std::filesystem::path& directory) {
  config.validate(file.source());
  static std::atomic<std::uint64_t> next_id{1};
  Model m;
  m.id_ = next_id++;
  m.config_ = config;
  m.file_ = std::make_unique<SafetensorsFile>(std::move(file));
  std::set<std::string> dtypes;
  WeightBinder bind(*m.file_, m.owned_buffers_, m.owned_half_, dtypes, m.info_.parameter_count);

  const std::int64_t V = config.vocab_size, C = config.n_embd, I = config.n_inner;
  ModelWeights& w = m.weights_;
  w.wte = bind.bind_quantizable("wte.weight", {V, C}, "(vocab_size, n_embd)", true);
  if (config.position_encoding == PositionEncoding::kLearned) {
    w.wpe = bind.bind("wpe.weight", {config.n_ctx, C}, "(n_positions, n_embd)");
  } else if (bind.lookup("wpe.weight") != nullptr) {
    throw Error(ErrorCode::kBadModel,
                m.file_->source() + ": tensor " + bind.prefix() +
                    "wpe.weight is present but config.json says position_encoding "
                    "\"sinusoidal\"");
  } else {
    // The fixed table, once: computing sin/cos for every token of every query cost more than
    // the rest of a small model's forward pass.
    auto& table = m.owned_buffers_.emplace_back(static_cast<std::size_t>(config.n_ctx * C), 0.0f);
    Eigen::Map<RowMatrix> pe(table.data(), config.n_ctx, C);
    add_sinusoidal_positions(0, pe);
    w.wpe.data = table.data();
    w.wpe.rows = config.n_ctx;
    w.wpe.cols = C;
  }
  w.blocks.resize(static_cast<std::size_t>(config.n_layer));
  for (int i = 0; i < config.n_layer; ++i) {
    const std::string p = "h." + std::to_string(i) + ".";
    BlockWeights& b = w.blocks[static_cast<std::size_t>(i)];
    b.ln_1_weight = bind.bind(p + "ln_1.weight", {C}, "(n_embd)");
    b.ln_1_bias = bind.bind(p + "ln_1.bias", {C}, "(n_embd)");
    b.attn_qkv_weight =
        bind.bind_quantizable(p + "attn.c_attn.weight", {C, 3 * C}, "(n_embd, 3 * n_embd)", false);
    b.attn_qkv_bias = bind.bind(p + "attn.c_attn.bias", {3 * C}, "(3 * n_embd)");
    b.attn_proj_weight =
        bind.bind_quantizable(p + "attn.c_proj.weight", {C, C}, "(n_embd, n_embd)", false);
    b.attn_proj_bias = bind.bind(p + "attn.c_proj.bias", {C}, "(n_embd)");
    b.ln_2_weight = bind.bind(p + "ln_2.weight", {C}, "(n_embd)");
    b.ln_2_bias = bind.bind(p + "ln_2.bias", {C}, "(n_embd)");
    b.mlp_fc_weight =
        bind.bind_quantizable(p + "mlp.c_fc.weight", {C, I}, "(n_embd, n_inner)", false);
    b.mlp_fc_bias = bind.bind(p + "mlp.c_fc.bias", {I}, "(n_inner)");
    b.mlp_proj_weight =
        bind.bind_quantizable(p + "mlp.c_proj.weight", {I, C}, "(n_inner, n_embd)", false);
    b.mlp_proj_bias = bind.bind(p + "mlp.c_proj.bias", {C}, "(n_embd)");
  }
  w.ln_f_weight = bind.bind("ln_f.weight", {C}, "(n_embd)");
  w.ln_f_bias = bind.bind("ln_f.bias", {C}, "(n_embd)");
  // The head is never prefixed: GPT2LMHeadModel keeps lm_head beside "transformer.".
  if (const TensorInfo* head = m.file_->find("lm_head.weight")) {
    w.head = bind.bind_quantizable(*head, {V, C}, "(vocab_size, n_embd)", true);
    m.info_.tied_head = false;
  } else {
    w.head = w.wte;
    m.info_.tied_head = true;
  }

  m.pack_int8_weights();
  m.copy_matrices_to_huge_pages();

  m.info_.directory = directory;
  m.info_.weights_file = m.file_->source();
  m.info_.weights_file_bytes = m.file_->file_size();
  m.info_.dtypes.assign(dtypes.begin(), dtypes.end());
  m.info_.tensor_prefix = bind.prefix();
  return m;
}

void Model::pack_int8_weights() {
  // The int8 matrices the products read (every block's four and the head; the embedding's rows
  // are read as stored), in one buffer of huge pages.
  std::vector<WeightTensor*> matrices;
  for (BlockWeights& b : weights_.blocks)
    for (WeightTensor* t :
         {&b.attn_qkv_weight, &b.attn_proj_weight, &b.mlp_fc_weight, &b.mlp_proj_weight})
      if (t->quantized()) matrices.push_back(t);
  if (weights_.head.quantized()) matrices.push_back(&weights_.head);
  if (matrices.empty()) return;
  std::size_t total = 0;
  for (WeightTensor* t : matrices) {
    // Conv1D (in, out): inputs are rows; the (V, C) head: outputs are rows.
    t->packed.k = t->scale_per_row ? t->cols : t->rows;
    t->packed.n = t->scale_per_row ? t->rows : t->cols;
    t->packed.scale = t->scale;
    total += t->packed.bytes();  // a multiple of 64 * 32
  }
  packed_int8_ = allocate_on_huge_pages(total);
  if (!packed_int8_)
    throw Error(ErrorCode::kBadModel, file_->source() + ": cannot allocate " +
                                          std::to_string(total) + " bytes for the int8 weights");
  const TensorsByStart tensors(*file_);
  std::uint8_t* next = packed_int8_.get();
  for (WeightTensor* t : matrices) {
    const TensorInfo* info = tensors.find(t->q, DType::kI8);
    // The file's copy is read no more (a tied head's rows only when a token is embedded): its
    // memory goes back to the system as soon as it is packed, so that loading never holds both
    // copies. A (V, C) head goes in slices of rows, each a contiguous part of the file.
    const Eigen::Index rows = t->rows;
    const Eigen::Index slice = t->scale_per_row ? 16 * kInt8Panel : rows;
    for (Eigen::Index r0 = 0; r0 < rows; r0 += slice) {
      PackedInt8 part = t->packed;
      if (t->scale_per_row) part.n = std::min(slice, rows - r0);
      pack_int8(t->q + r0 * t->cols, t->scale_per_row, part,
                next + (t->scale_per_row ? r0 / kInt8Panel * part.k_padded() * kInt8Panel : 0),
                max_threads());
      if (info != nullptr)
        file_->release(*info, static_cast<std::uint64_t>(r0 * t->cols),
                       static_cast<std::uint64_t>(std::min(slice, rows - r0) * t->cols));
    }
    t->packed.data = next;
    next += t->packed.bytes();
  }
}

void Model::copy_matrices_to_huge_pages() {
  // Float32, F16 and BF16 matrices of 1 MiB or more that point into the weights file, copied as
  // they are. A decode step streams every matrix once; over the file's 4 KiB pages a single
  // thread read them at 79% of the machine's read bandwidth (the hardware prefetchers stop at
  // each page boundary and every page is a TLB miss), from 2 MiB pages at ~86%.
  std::vector<std::pair<WeightTensor*, const TensorInfo*>> matrices;
  const TensorsByStart tensors(*file_);
  const auto stored = [](const WeightTensor& t) -> const void* {
    return t.half_precision() ? static_cast<const void*>(t.half) : static_cast<const void*>(t.data);
  };
  const auto consider = [&](WeightTensor& t) {
    if (t.quantized() || stored(t) == nullptr) return;
    const Eigen::Index element = t.half_precision() ? 2 : 4;
    if (t.rows * t.cols * element < (Eigen::Index{1} << 20)) return;
    if (&t == &weights_.head && stored(t) == stored(weights_.wte)) return;  // tied: one copy
    const DType dtype = !t.half_precision() ? DType::kF32 : t.bf16 ? DType::kBF16 : DType::kF16;
    if (const TensorInfo* info = tensors.find(stored(t), dtype)) matrices.emplace_back(&t, info);
  };
  consider(weights_.wte);
  consider(weights_.wpe);
  for (BlockWeights& b : weights_.blocks)
    for (WeightTensor* t :
         {&b.attn_qkv_weight, &b.attn_proj_weight, &b.mlp_fc_weight, &b.mlp_proj_weight})
      consider(*t);
  consider(weights_.head);
  if (matrices.empty()) return;
  std::size_t total = 0;
  for (const auto& [t, info] : matrices) total += (info->end - info->begin + 63) / 64 * 64;
  // Unlike the file's pages, the copy cannot be evicted: a model that would take more than half
  // of the physical memory stays mapped (as it does when the allocation fails).
  const long pages = ::sysconf(_SC_PHYS_PAGES), page_size = ::sysconf(_SC_PAGESIZE);
  if (pages <= 0 || page_size <= 0 ||
      total > static_cast<std::size_t>(pages) / 2 * static_cast<std::size_t>(page_size))
    return;
  float_matrices_ = allocate_on_huge_pages(total);
  if (!float_matrices_) return;  // the matrices stay where they are
  constexpr std::size_t kAlign = std::size_t{2} << 20;
  std::uint8_t* next = float_matrices_.get();
  for (const auto& [t, info] : matrices) {
    // In slices, each slice's file pages handed back once copied: loading never holds both.
    const auto bytes = file_->data(*info);
    for (std::size_t done = 0; done < bytes.size(); done += kAlign) {
      const std::size_t n = std::min(kAlign, bytes.size() - done);
      std::memcpy(next + done, bytes.data() + done, n);
      file_->release(*info, done, n);
    }
    const void* old = stored(*t);
    for (WeightTensor* w : {&weights_.wte, &weights_.wpe, &weights_.head, t})
      if (stored(*w) == old) {
        if (w->half_precision())
          w->half = reinterpret_cast<const std::uint16_t*>(next);
        else
          w->data = reinterpret_cast<const float*>(next);
      }
    next += (bytes.size() + 63) / 64 * 64;
  }
}

}  // namespace gptrec
