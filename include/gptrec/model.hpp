// Model: a GPT's configuration and weights, immutable after loading and safe to share between
// threads. Session: one sequence's state (the KV cache and scratch buffers) over a Model.
//
// The forward pass is DESIGN.md's pre-LayerNorm GPT-2 block stack:
//   x = wte[ids] + positions;  per block: x += attn(ln_1(x)); x += mlp(ln_2(x));  logits = ln_f(x)
//   head^T
//
// Thread-safety: load a Model once and share it (by const reference) with every thread; give each
// thread its own Session. A forward pass uses up to the calling thread's op threads (OpenMP,
// set_op_threads below) inside itself.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "gptrec/config.hpp"
#include "gptrec/layers.hpp"
#include "gptrec/safetensors.hpp"

namespace gptrec {

// A read-only tensor of rank 1 or 2, row-major, pointing into the mapped weights file or into a
// buffer owned by the Model: float32 (`data`); F16 or BF16 as stored (`half`, the embedding, the
// head and the block matrices of an F16 or BF16 file: the products widen them as they read them);
// or int8 with one float scale per output channel (`q` and `scale`, from gptrec quantize). Only
// float32 tensors have `data`, and only they may call matrix() and vector().
struct WeightTensor {
  const float* data = nullptr;
  Eigen::Index rows = 0;
  Eigen::Index cols = 0;
  const std::int8_t* q = nullptr;
  const float* scale = nullptr;  // per column (Conv1D (in, out) layout) or per row (the head)
  bool scale_per_row = false;
  PackedInt8 packed;  // int8 matrices the products use: q arranged once at load (layers.hpp)
  const std::uint16_t* half = nullptr;
  bool bf16 = false;  // `half` holds BF16, else F16

  bool quantized() const { return q != nullptr; }
  bool half_precision() const { return half != nullptr; }
  HalfMatrix half_matrix() const { return HalfMatrix{half, rows, cols, bf16}; }
  ConstMatrixMap matrix() const { return ConstMatrixMap(data, rows, cols); }
  ConstRowVectorMap vector() const { return ConstRowVectorMap(data, rows * cols); }
};

struct BlockWeights {
  WeightTensor ln_1_weight, ln_1_bias;  // (C)
  WeightTensor attn_qkv_weight;         // (C, 3C)  Conv1D layout: q | k | v along columns
  WeightTensor attn_qkv_bias;           // (3C)
  WeightTensor attn_proj_weight;        // (C, C)
  WeightTensor attn_proj_bias;          // (C)
  WeightTensor ln_2_weight, ln_2_bias;  // (C)
  WeightTensor mlp_fc_weight;           // (C, n_inner)
  WeightTensor mlp_fc_bias;             // (n_inner)
  WeightTensor mlp_proj_weight;         // (n_inner, C)
  WeightTensor mlp_proj_bias;           // (C)
};

struct ModelWeights {
  WeightTensor wte;  // (V, C)
  WeightTensor wpe;  // (n_ctx, C): learned, or the sinusoidal table built at load
  std::vector<BlockWeights> blocks;
  WeightTensor ln_f_weight, ln_f_bias;  // (C)
  WeightTensor head;                    // (V, C): wte when tied, else lm_head.weight
};

// What `gptrec info` reports about a loaded model.
struct ModelInfo {
  std::filesystem::path directory;
  std::filesystem::path weights_file;
  std::uint64_t weights_file_bytes = 0;
  std::int64_t parameter_count = 0;  // every weight the forward pass uses, the head once if tied
  std::vector<std::string> dtypes;   // stored dtypes of those weights, sorted
  bool tied_head = true;
  std::string tensor_prefix;  // "" or "transformer."
};

// A GPT's weights and configuration. Immutable after load: every method is const and may be
// called from many threads at once. Move-only; a moved-from Model must not be used.
class Model {
 public:
  // Loads a model directory: config.json + model.safetensors (memory-mapped; float32, F16 and BF16
  // matrices of 1 MiB or more are copied as they are into huge pages and int8 matrices arranged
  // for the int8 products, the file's pages of each handed back once copied, see
  // docs/FORMATS.md; F16 and BF16 matrices stay half-size in memory). Throws
  // Error(kBadModel) naming the file and tensor when anything is missing, unreadable, malformed or
  // inconsistent with the config.
  static Model load(const std::filesystem::path& directory);
  // Builds a model from a parsed config and weights file (`directory` is informational). Throws
  // Error(kBadModel) as load() does.
  static Model from_parts(ModelConfig config, SafetensorsFile weights,
                          const std::filesystem::path& directory = {});

  Model(Model&&) noexcept = default;
  Model& operator=(Model&&) noexcept = default;
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;
  ~Model();

  const ModelConfig& config() const { return config_; }
  const ModelWeights& weights() const { return weights_; }
  const ModelInfo& info() const { return info_; }
  // A number no other Model loaded by this process has (it moves with the Model), so that
  // per-thread caches can tell models apart even when one is freed and another takes its address.
  std::uint64_t id() const { return id_; }

 private:
  Model() = default;
  void pack_int8_weights();
  void copy_matrices_to_huge_pages();

  ModelConfig config_;
  ModelWeights weights_;
  ModelInfo info_;
  std::uint64_t id_ = 0;
  std::unique_ptr<SafetensorsFile> file_;               // keeps the mapping alive
  std::vector<std::vector<float>> owned_buffers_;       // widened (F16/BF16 vectors) or realigned
  std::vector<std::vector<std::uint16_t>> owned_half_;  // realigned F16/BF16 matrices
  std::unique_ptr<std::uint8_t, void (*)(void*)> packed_int8_{nullptr, &std::free};
  std::unique_ptr<std::uint8_t, void (*)(void*)> float_matrices_{nullptr, &std::free};
};

// Keys and values of every layer and head for the positions a sequence has seen so far.
// Not thread-safe: one thread at a time (concurrent const reads are fine).
class KVCache {
 public:
  // Throws Error(kInvalidArgument) when capacity is outside [0, config.n_ctx].
  KVCache(const ModelConfig& config, int capacity);

  int size() const { return size_; }
  int capacity() const { return capacity_; }

  // (capacity, head_dim) views; rows [0, size()) are filled.
  MatrixRef keys(int layer, int head);
  MatrixRef values(int layer, int head);
  ConstMatrixRef keys(int layer, int head) const;
  ConstMatrixRef values(int layer, int head) const;

  void set_size(int size) { size_ = size; }

 private:
  int n_head_ = 0;
  int head_dim_ = 0;
  int capacity_ = 0;
  int size_ = 0;
  std::vector<RowMatrix> keys_;  // per layer: (n_head * capacity, head_dim), head-major
  std::vector<RowMatrix> values_;
};

// Which rows of logits a forward pass returns.
enum class Logits { kAll, kLast };

struct Workspace;  // scratch buffers of the forward pass (src/forward.hpp)

// A continuation of a Session's positions (Session::continue_batch): its own tokens, run after
// the session's first `prefix` cached positions.
struct Continuation {
  std::span<const int> tokens;
  int prefix = 0;     // 0 <= prefix <= session.size()
  int last_rows = 1;  // with Logits::kLast: how many of its last tokens get logits (1..tokens)
};

// One sequence being extended over a shared Model. Not thread-safe: use one Session per thread
// (many Sessions over one Model may run at once). The Model must outlive the Session.
class Session {
 public:
  // capacity: most positions the session will hold; 0 means the model's context length.
  // Throws Error(kInvalidArgument) when capacity is negative or above the context length.
  explicit Session(const Model& model, int capacity = 0);
  ~Session();
  Session(Session&&) noexcept;
  Session& operator=(Session&&) noexcept;

  // Runs `tokens` after the positions already cached and returns their logits: (T, V) for
  // Logits::kAll, (1, V) for the last token with Logits::kLast. The view stays valid until the
  // next call. Throws Error(kInvalidArgument) for an empty input, an id outside the vocabulary or
  // a sequence longer than the context (nothing is changed then).
  ConstMatrixRef append(std::span<const int> tokens, Logits which = Logits::kAll);
  // The same, returning the logits of the last `rows` tokens only, (rows, V); 1 <= rows <= T.
  ConstMatrixRef append_last(std::span<const int> tokens, int rows);

  // Runs continuations of the cached positions as one batch, reading the session's KV cache once
  // for all of them: continuation i sees the first prefix_i positions, then its own tokens (a
  // prompt scored against many candidates, or a history re-scored without one of its items).
  // The session's positions are not changed; its scratch buffers are (so, like every call on a
  // Session, one thread at a time). Returns the logits: one row per token of every continuation
  // with Logits::kAll, each continuation's last `last_rows` tokens with Logits::kLast, in order
  // (no rows for no continuations). The view stays valid until the next call on the session. Throws
  // Error(kInvalidArgument) naming the continuation when its prefix is outside [0, size()], it is
  // empty, holds an id outside the vocabulary, or does not fit the context after its prefix.
  ConstMatrixRef continue_batch(std::span<const Continuation> continuations,
                                Logits which = Logits::kAll) const;

  int size() const { return cache_.size(); }
  int capacity() const { return cache_.capacity(); }
  // Forgets positions from n on. Throws Error(kInvalidArgument) unless 0 <= n <= size().
  void truncate(int n);
  void clear() { truncate(0); }

  const Model& model() const { return *model_; }
  const KVCache& cache() const { return cache_; }

 private:
  const Model* model_;
  KVCache cache_;
  std::unique_ptr<Workspace> workspace_;
};

// How many OpenMP threads the calling thread's forward passes may use (0 = all cores, the default).
// Callers that already run queries in parallel set 1 in each worker so that the ops inside stay
// single-threaded (no oversubscription). The setting belongs to the calling thread only (it is
// OpenMP's per-thread nthreads-var, so it also sets omp_set_num_threads for that thread); calls
// from different threads do not affect each other. No-op in a build without OpenMP
// (GPTREC_OPENMP=OFF). Never throws.
void set_op_threads(int n);

// Runs independent sequences in one pass: the linear layers see all rows at once, attention stays
// within each sequence. Returns per sequence its (T_i, V) logits, or (1, V) with Logits::kLast.
// Equal to running each sequence through its own Session. Throws Error(kInvalidArgument) naming
// the sequence when one is empty, holds an id outside the vocabulary or exceeds the context.
// Thread-safe: uses its own scratch, so many threads may call it on one Model.
std::vector<RowMatrix> forward_batch(const Model& model,
                                     std::span<const std::vector<int>> sequences,
                                     Logits which = Logits::kAll);

}  // namespace gptrec
