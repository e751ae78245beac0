#include "forward.hpp"

#include <algorithm>
#include <cstdlib>
#include <string>

#include "gptrec/error.hpp"
#include "huge_pages.hpp"
#include "threads.hpp"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace gptrec {

namespace {

// The op threads of a pass: pass_op_threads (threads.hpp) with this machine's 1-minute load
// average.
int pass_threads() {
#ifdef _OPENMP
  double load = -1;
  if (getloadavg(&load, 1) != 1) load = -1;
  return pass_op_threads(max_threads(), omp_get_num_procs(), load);
#else
  return 1;
#endif
}

int thread_index() {
#ifdef _OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

// Grows a buffer to at least (rows, cols); never shrinks, so steady-state calls do not allocate.
void ensure(RowMatrix& m, Eigen::Index rows, Eigen::Index cols) {
  if (m.rows() < rows || m.cols() != cols) {
    m.resize(std::max(rows, m.rows()), cols);
    advise_huge_pages(m.data(), static_cast<std::size_t>(m.size()) * sizeof(float));
  }
}

void validate(const Model& model, std::span<const Segment> segments) {
  const ModelConfig& c = model.config();
  for (std::size_t s = 0; s < segments.size(); ++s) {
    const Segment& seg = segments[s];
    const std::string which =
        segments.size() > 1 ? "sequence " + std::to_string(s) + ": " : std::string();
    if (seg.tokens.empty()) throw Error(ErrorCode::kInvalidArgument, which + "no tokens to run");
    for (std::size_t t = 0; t < seg.tokens.size(); ++t) {
      const int id = seg.tokens[t];
      if (id < 0 || id >= c.vocab_size)
        throw Error(ErrorCode::kInvalidArgument,
                    which + "token id " + std::to_string(id) + " at position " + std::to_string(t) +
                        " is outside the vocabulary [0, " + std::to_string(c.vocab_size) + ")");
    }
    const auto T = static_cast<long long>(seg.tokens.size());
    if (seg.last_rows < 1 || seg.last_rows > T)
      throw Error(ErrorCode::kInvalidArgument, which + "logits for the last " +
                                                   std::to_string(seg.last_rows) + " of " +
                                                   std::to_string(T) + " tokens");
    const long long end = seg.shared_size + seg.cache->size() + T;
    if (end > c.n_ctx)
      throw Error(ErrorCode::kInvalidArgument,
                  which + "sequence of " + std::to_string(end) +
                      " tokens is longer than the model's context of " + std::to_string(c.n_ctx));
    if (seg.cache->size() + T > seg.cache->capacity())
      throw Error(ErrorCode::kInvalidArgument,
                  which + "sequence of " + std::to_string(seg.cache->size() + T) +
                      " tokens does not fit the session's capacity of " +
                      std::to_string(seg.cache->capacity()));
  }
}

// out = x * w + b for float32, F16/BF16 or int8 weights (Conv1D layout). Int8 weights are used
// as they are, for any number of rows: the int8 products beat widening the matrix to float32 for
// the GEMM (prefill of 512 tokens went from 859 to 1,815 tokens/s on one thread) and need no
// scratch. Half weights are widened as they are read (linear_half).
void apply_linear(ConstMatrixRef x, const WeightTensor& w, ConstRowVectorMap b, MatrixRef out,
                  int threads) {
  if (w.quantized())
    linear_int8(x, w.packed, b.data(), out, threads);
  else if (w.half_precision())
    linear_half(x, w.half_matrix(), b.data(), out, threads);
  else
    linear(x, w.matrix(), b, out, threads);
}

void embed(const WeightTensor& wte, std::span<const int> ids, MatrixRef out) {
  if (wte.half_precision()) {
    for (std::size_t t = 0; t < ids.size(); ++t)
      widen_half_row(wte.half_matrix(), ids[t], &out(static_cast<Eigen::Index>(t), 0));
    return;
  }
  if (!wte.quantized()) {
    embed_tokens(wte.matrix(), ids, out);
    return;
  }
  for (std::size_t t = 0; t < ids.size(); ++t)
    dequantize_int8_rows(wte.q + static_cast<Eigen::Index>(ids[t]) * wte.cols, wte.scale + ids[t],
                         1, wte.cols, out.row(static_cast<Eigen::Index>(t)));
}

}  // namespace

ConstMatrixRef run_forward_hidden(const Model& model, std::span<const Segment> segments,
                                  Workspace& ws, Logits which) {
  validate(model, segments);
  const ModelConfig& c = model.config();
  const ModelWeights& w = model.weights();
  const Eigen::Index C = c.n_embd;
  const int hd = c.head_dim();
  const int n_seg = static_cast<int>(segments.size());

  // Reused buffers only: a decode step allocates nothing.
  std::vector<Eigen::Index>& first_row = ws.first_row;
  first_row.assign(segments.size() + 1, 0);
  Eigen::Index max_t = 0, max_keys = 0;
  for (int s = 0; s < n_seg; ++s) {
    const auto T = static_cast<Eigen::Index>(segments[s].tokens.size());
    first_row[s + 1] = first_row[s] + T;
    max_t = std::max(max_t, T);
    max_keys =
        std::max<Eigen::Index>(max_keys, segments[s].shared_size + segments[s].cache->size() + T);
  }
  const Eigen::Index N = first_row[n_seg];

  ensure(ws.x, N, C);
  ensure(ws.h, N, C);
  ensure(ws.qkv, N, 3 * C);
  ensure(ws.attn, N, C);
  ensure(ws.mlp, N, c.n_inner);
  const int threads = pass_threads();
  const SerialEigenScope serial;  // the pass's products split themselves over `threads`
  if (static_cast<int>(ws.scores.size()) < threads) ws.scores.resize(threads);
  for (int i = 0; i < threads; ++i)
    ensure(ws.scores[i], std::min(max_t, kAttentionBlock), max_keys);

  auto x = ws.x.topRows(N);
  auto h = ws.h.topRows(N);
  auto qkv = ws.qkv.topRows(N);
  auto attn = ws.attn.topRows(N);
  auto mlp = ws.mlp.topRows(N);

  for (int s = 0; s < n_seg; ++s) {
    const Segment& seg = segments[s];
    auto rows = x.middleRows(first_row[s], static_cast<Eigen::Index>(seg.tokens.size()));
    embed(w.wte, seg.tokens, rows);
    const int first_pos = seg.shared_size + seg.cache->size();
    add_learned_positions(w.wpe.matrix(), first_pos, rows);  // learned or the sinusoidal table
  }

  // With Logits::kLast the last block needs keys and values at every position (the cache and
  // the attention of the wanted rows read them) but its attention, projection and MLP only at the
  // rows whose logits are wanted: those rows are gathered at the top of the buffers before them.
  // (An item model of 2 blocks does 38% fewer products per customer.)
  Eigen::Index out_rows = N;
  std::vector<Eigen::Index>& out_row = ws.out_row;
  out_row.assign(segments.size() + 1, 0);
  for (int s = 0; s < n_seg; ++s)
    out_row[s + 1] = out_row[s] + (which == Logits::kLast
                                       ? segments[s].last_rows
                                       : static_cast<Eigen::Index>(segments[s].tokens.size()));
  if (which == Logits::kLast) out_rows = out_row[n_seg];

  const int pairs = n_seg * c.n_head;
  for (int l = 0; l < c.n_layer; ++l) {
    const BlockWeights& b = w.blocks[l];
    layer_norm(x, b.ln_1_weight.vector(), b.ln_1_bias.vector(), c.layer_norm_epsilon, h);
    apply_linear(h, b.attn_qkv_weight, b.attn_qkv_bias.vector(), qkv, threads);

    for (int s = 0; s < n_seg; ++s) {
      const Segment& seg = segments[s];
      const auto T = static_cast<Eigen::Index>(seg.tokens.size());
      const int past = seg.cache->size();
      for (int hh = 0; hh < c.n_head; ++hh) {
        seg.cache->keys(l, hh).middleRows(past, T) = qkv.block(first_row[s], C + hh * hd, T, hd);
        seg.cache->values(l, hh).middleRows(past, T) =
            qkv.block(first_row[s], 2 * C + hh * hd, T, hd);
      }
    }

    // The rows this block's attention and MLP run on: all, or in the last block with
    // Logits::kLast only the wanted ones (segment s's queries are its last `queries` rows).
    const bool last_only = which == Logits::kLast && l == c.n_layer - 1;
    const Eigen::Index rows = last_only ? out_rows : N;
    const auto queries = [&](int s) {
      return last_only ? static_cast<Eigen::Index>(segments[s].last_rows)
                       : static_cast<Eigen::Index>(segments[s].tokens.size());
    };
    const auto query_row = [&](int s) { return last_only ? out_row[s] : first_row[s]; };
    // Work units: a (segment, head) pair's queries in blocks of kAttentionBlock rows, each the
    // same rows of the pair's whole attention (layers.hpp), so units split across threads.
    std::vector<std::pair<int, Eigen::Index>>& units = ws.attention_units;
    units.clear();
    for (int p = 0; p < pairs; ++p)
      for (Eigen::Index b = 0; b < queries(p / c.n_head); b += kAttentionBlock)
        units.emplace_back(p, b);
    long long attention_work = 0;  // multiply-adds of the scores, about
    for (int s = 0; s < n_seg; ++s)
      attention_work += static_cast<long long>(queries(s)) *
                        (segments[s].shared_size + segments[s].cache->size() +
                         static_cast<long long>(segments[s].tokens.size())) *
                        hd * c.n_head;
    [[maybe_unused]] const int unit_threads =
        std::min<int>(static_cast<int>(units.size()),
                      product_threads(threads, static_cast<double>(attention_work)));
    const auto n_units = static_cast<int>(units.size());
#pragma omp parallel for schedule(dynamic) num_threads(unit_threads) if (unit_threads > 1)
    for (int u = 0; u < n_units; ++u) {
      const int p = units[static_cast<std::size_t>(u)].first;
      const Eigen::Index b = units[static_cast<std::size_t>(u)].second;
      const int s = p / c.n_head;
      const int hh = p % c.n_head;
      const Segment& seg = segments[s];
      const auto T = static_cast<Eigen::Index>(seg.tokens.size());
      const Eigen::Index nq = queries(s);
      const Eigen::Index rows = std::min(kAttentionBlock, nq - b);
      const KVCache* cache = seg.cache;
      const Eigen::Index P = seg.shared_size;
      // With no shared prefix, a zero-row view of the segment's own cache stands in for it.
      const KVCache* shared = seg.shared != nullptr ? seg.shared : cache;
      causal_attention_head(qkv.block(first_row[s] + T - nq + b, hh * hd, rows, hd),
                            shared->keys(l, hh).topRows(P), shared->values(l, hh).topRows(P),
                            cache->keys(l, hh), cache->values(l, hh),
                            cache->size() + static_cast<int>(T - nq + b), ws.scores[thread_index()],
                            attn.block(query_row(s) + b, hh * hd, rows, hd));
    }
    if (last_only) {
      // The residual rows of the queries, moved up in order (a row never moves down, so no row
      // is overwritten before it is read).
      for (int s = 0; s < n_seg; ++s)
        for (Eigen::Index r = 0; r < queries(s); ++r)
          x.row(out_row[s] + r) = x.row(first_row[s + 1] - queries(s) + r);
    }

    auto xr = x.topRows(rows);
    auto hr = h.topRows(rows);
    auto mr = mlp.topRows(rows);
    apply_linear(attn.topRows(rows), b.attn_proj_weight, b.attn_proj_bias.vector(), hr, threads);
    xr += hr;
    layer_norm(xr, b.ln_2_weight.vector(), b.ln_2_bias.vector(), c.layer_norm_epsilon, hr);
    apply_linear(hr, b.mlp_fc_weight, b.mlp_fc_bias.vector(), mr, threads);
    if (c.activation == Activation::kGeluTanh)
      gelu_tanh(mr);
    else
      gelu_exact(mr);
    apply_linear(mr, b.mlp_proj_weight, b.mlp_proj_bias.vector(), hr, threads);
    xr += hr;
  }
  for (const Segment& seg : segments)
    seg.cache->set_size(seg.cache->size() + static_cast<int>(seg.tokens.size()));

  // Final LayerNorm, only on the rows whose logits are wanted (the top out_rows rows of x: with
  // Logits::kLast the last block gathered them there).
  auto final_rows = h.topRows(out_rows);
  layer_norm(x.topRows(out_rows), w.ln_f_weight.vector(), w.ln_f_bias.vector(),
             c.layer_norm_epsilon, final_rows);
  return final_rows;
}

void head_logits(const Model& model, ConstMatrixRef hidden, Eigen::Index first, MatrixRef logits,
                 int threads) {
  const WeightTensor& head = model.weights().head;
  const Eigen::Index n = logits.cols();
  if (first % kInt8Panel != 0 || n <= 0 || first + n > head.rows)
    throw Error(ErrorCode::kInvalidArgument,
                "head columns [" + std::to_string(first) + ", " + std::to_string(first + n) +
                    ") are not a slice of the head's " + std::to_string(head.rows));
  if (head.quantized()) {
    // Whole panels of 64 output channels, so the slice is itself a PackedInt8.
    PackedInt8 slice = head.packed;
    slice.data += static_cast<std::size_t>(first / kInt8Panel) *
                  static_cast<std::size_t>(slice.k_padded() * kInt8Panel);
    slice.scale += first;
    slice.n = n;
    linear_int8(hidden, slice, nullptr, logits, threads);
  } else if (head.half_precision()) {
    const HalfMatrix h = head.half_matrix();
    matmul_transposed_half(hidden, HalfMatrix{h.data + first * h.cols, n, h.cols, h.bf16}, logits,
                           threads);
  } else {
    matmul_transposed(hidden, head.matrix().middleRows(first, n), logits, threads);
  }
}

ConstMatrixRef run_forward(const Model& model, std::span<const Segment> segments, Workspace& ws,
                           Logits which) {
  const ConstMatrixRef hidden = run_forward_hidden(model, segments, ws, which);
  ensure(ws.logits, hidden.rows(), model.config().vocab_size);
  auto logits = ws.logits.topRows(hidden.rows());
  head_logits(model, hidden, 0, logits, pass_threads());
  return logits;
}

}  // namespace gptrec
