// The transformer's building blocks as plain functions on Eigen matrices.
//
// Activations are row-major (T, C) matrices: one row per token, so a sequence grows by rows and a
// KV cache appends rows. Weights use the Hugging Face GPT-2 (Conv1D) layout, (in, out), so a
// linear layer is `out = x * W + b` with no transpose. Shapes are in the comment of each function.
//
// Errors: none. These are kernels: shapes and ids are the caller's contract, not checked (Eigen
// asserts in debug builds); Session and forward_batch (model.hpp) validate before calling them.
// Thread-safety: no shared state; concurrent calls are safe as long as no output is another
// call's input or output.
#pragma once

#include <Eigen/Core>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace gptrec {

using RowMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using MatrixRef = Eigen::Ref<RowMatrix>;
using ConstMatrixRef = Eigen::Ref<const RowMatrix>;
using ConstMatrixMap = Eigen::Map<const RowMatrix>;
using ConstRowVectorMap = Eigen::Map<const Eigen::RowVectorXf>;

// out (T, C) = wte[ids] (rows of the (V, C) table). ids must already be checked against V.
void embed_tokens(ConstMatrixRef wte, std::span<const int> ids, MatrixRef out);

// x (T, C) += wpe[first_pos : first_pos + T] (learned positions, (n_ctx, C) table).
void add_learned_positions(ConstMatrixRef wpe, int first_pos, MatrixRef x);

// x (T, C) += PE[first_pos + t], PE[p, 2i] = sin(p / 10000^(2i/C)), PE[p, 2i+1] = cos(same).
void add_sinusoidal_positions(int first_pos, MatrixRef x);

// out (T, C) = (x - mean) / sqrt(var + eps) * weight + bias, per row; weight and bias are (C).
// out may alias x.
void layer_norm(ConstMatrixRef x, ConstRowVectorMap weight, ConstRowVectorMap bias, float eps,
                MatrixRef out);

// out (T, out) = x (T, in) * w (in, out) + b (out). Uses up to `threads` OpenMP threads, split by
// output columns, each thread streaming its columns once (one row, decode: always; more rows:
// when each thread gets at least 2^17 multiply-adds); the result does not depend on `threads`.
// Eigen's own threading is not used (the calling thread's OpenMP count does not matter).
void linear(ConstMatrixRef x, ConstMatrixRef w, ConstRowVectorMap b, MatrixRef out,
            int threads = 1);

// out (T, n) = x (T, k) * w_t (n, k)^T: a product with a row-major (n, k) matrix such as the
// (vocab, C) head. Split by output rows of w_t across `threads` as above.
void matmul_transposed(ConstMatrixRef x, ConstMatrixRef w_t, MatrixRef out, int threads = 1);

// Int8 weights (gptrec quantize): w = q * scale with q in [-127, 127], symmetric, one float scale
// per output channel.
//
// For the products, Model::load arranges every int8 matrix once as a PackedInt8: the bytes are
// q + 128 (unsigned), in panels of 64 output channels, each panel holding its channels' inputs
// four at a time: [n_padded / 64][k_padded / 4][64 channels][4 inputs]. k_padded is k rounded up
// to kInt8Block and n_padded is n rounded up to 64; the padding holds zero weights (128).
inline constexpr Eigen::Index kInt8Block = 32;  // inputs per activation scale
inline constexpr Eigen::Index kInt8Panel = 64;  // output channels per panel

struct PackedInt8 {
  const std::uint8_t* data = nullptr;
  const float* scale = nullptr;  // (n): the channel's scale
  Eigen::Index k = 0;            // inputs
  Eigen::Index n = 0;            // outputs

  Eigen::Index k_padded() const { return (k + kInt8Block - 1) / kInt8Block * kInt8Block; }
  Eigen::Index n_padded() const { return (n + kInt8Panel - 1) / kInt8Panel * kInt8Panel; }
  std::size_t bytes() const { return static_cast<std::size_t>(k_padded() * n_padded()); }
};

// Arranges q into `out` (w.bytes() bytes; w.data is not read). q is (k, n) row-major, the
// Conv1D layout, or with `output_rows` (n, k), the (vocab, C) embedding and head layout.
void pack_int8(const std::int8_t* q, bool output_rows, const PackedInt8& w, std::uint8_t* out,
               int threads = 1);

// out (T, n) = x (T, k) * W + b, b (n) or null. Each row of x is quantized to int8 in blocks of
// kInt8Block inputs (scale max |x| / 127 per block, round to nearest), the products are exact in
// int32 (AVX-512 VNNI when the build targets it, portable C++ otherwise) and each block's sum is
// rescaled in float32. Any number of rows: each panel is read from memory once and serves every
// row while it is in cache. Split by panels across `threads`.
void linear_int8(ConstMatrixRef x, const PackedInt8& w, const float* b, MatrixRef out,
                 int threads = 1);
// out = W in float32: (k, n), or (n, k) with `output_rows`.
void dequantize_int8(const PackedInt8& w, bool output_rows, MatrixRef out, int threads = 1);
// out (rows, cols) = q * scale for a (rows, cols) row-major q with one scale per row (the
// embedding rows of the tokens).
void dequantize_int8_rows(const std::int8_t* q, const float* scale, Eigen::Index rows,
                          Eigen::Index cols, MatrixRef out);

// Half-precision weights (F16 or BF16) used as they are stored, at half the bytes of float32:
// every product widens the weights to float32 as it reads them (AVX-512 or F16C for F16, a shift
// for BF16; portable C++ otherwise) and multiplies and adds in float32, so the results equal those
// of the widened float32 matrix up to float32 rounding (the order of the additions differs).
// (AVX512_BF16's dot products are not used: they would round the activations to BF16 too.)
struct HalfMatrix {
  const std::uint16_t* data = nullptr;  // (rows, cols) row-major, the stored bits
  Eigen::Index rows = 0;
  Eigen::Index cols = 0;
  bool bf16 = false;  // BF16, else F16 (IEEE binary16)
};

// out (T, n) = x (T, k) * w (k, n) + b, b (n) or null; w in the Conv1D (in, out) layout. A few
// rows stream the half weights once, split by output columns across `threads`; more rows widen
// slices of columns into a float32 scratch and multiply them with Eigen's GEMM, the slices split
// across the threads.
void linear_half(ConstMatrixRef x, const HalfMatrix& w, const float* b, MatrixRef out,
                 int threads = 1);
// out (T, n) = x (T, k) * w_t (n, k)^T for a half (n, k) matrix such as the (vocab, C) head.
void matmul_transposed_half(ConstMatrixRef x, const HalfMatrix& w_t, MatrixRef out,
                            int threads = 1);
// out (n) = w's row r widened to float32 (an embedding row); n = w.cols.
void widen_half_row(const HalfMatrix& w, Eigen::Index r, float* out);

// In place, elementwise: GPT-2's tanh approximation 0.5x(1 + tanh(sqrt(2/pi)(x + 0.044715x^3))).
void gelu_tanh(MatrixRef x);
// In place, elementwise: the exact form 0.5x(1 + erf(x / sqrt(2))).
void gelu_exact(MatrixRef x);

// In place: each row becomes softmax(row), computed as exp(x - max) / sum in float32.
// Entries equal to -infinity get probability 0.
void softmax_rows(MatrixRef x);

// log(sum_i exp(x_i)) of a non-empty x, in double with the maximum subtracted first; then
// log_softmax(x)_i = x_i - log_sum_exp(x). The one log-softmax of the library: token
// log-probabilities, item scores and `gptrec logprobs` all use it.
double log_sum_exp(std::span<const float> x);
// out (n) = log_softmax(x) for a non-empty x (n), in double.
void log_softmax(std::span<const float> x, std::vector<double>& out);

// causal_attention_head works on its queries in blocks of this many rows; a call on the rows
// [b, b + kAttentionBlock) of the queries, with `past` + b, gives exactly those rows of the whole
// call (so callers may split the queries at multiples of it across threads).
inline constexpr Eigen::Index kAttentionBlock = 64;

// One head of causal attention for T new queries.
//   q (T, d): the queries.
//   shared_k, shared_v (P, d): a read-only context every query sees in full (a shared prompt);
//     P may be 0.
//   k, v (past + T, d): rows [0, past) are the sequence's earlier positions, row past + t is query
//     t's own position; query t sees rows [0, past + t].
//   scores: scratch of at least (min(T, kAttentionBlock), P + past + T).
//   out (T, d) = softmax(q [shared_k; k]^T / sqrt(d), causal) [shared_v; v].
void causal_attention_head(ConstMatrixRef q, ConstMatrixRef shared_k, ConstMatrixRef shared_v,
                           ConstMatrixRef k, ConstMatrixRef v, int past, MatrixRef scores,
                           MatrixRef out);

}  // namespace gptrec
