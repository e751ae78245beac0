// The packed forward pass behind Session and forward_batch (private: src/session.cpp is its one
// caller; everything else runs the model through Session, model.hpp).
#pragma once

#include <span>
#include <utility>
#include <vector>

#include "gptrec/model.hpp"

namespace gptrec {

// One sequence's part of a packed forward pass: `tokens` follow the `cache->size()` positions
// already in `cache`, which in turn follow `shared_size` positions of a read-only `shared` cache
// (a prompt several sequences continue). The new keys and values are written into `cache`.
struct Segment {
  std::span<const int> tokens;
  KVCache* cache = nullptr;
  const KVCache* shared = nullptr;
  int shared_size = 0;
  int last_rows = 1;  // with Logits::kLast: how many of the segment's last tokens get logits
};

struct Workspace {
  RowMatrix x;                    // (N, C) residual stream
  RowMatrix h;                    // (N, C) normalised input / sublayer output
  RowMatrix qkv;                  // (N, 3C)
  RowMatrix attn;                 // (N, C) attention output before the projection
  RowMatrix mlp;                  // (N, n_inner)
  RowMatrix logits;               // (rows, V)
  std::vector<RowMatrix> scores;  // per thread: (kAttentionBlock, keys)
  // The attention's work units: (segment * n_head + head, first query row of the block).
  std::vector<std::pair<int, Eigen::Index>> attention_units;
  std::vector<Eigen::Index> first_row;  // per segment: its first row in x; then the total
  std::vector<Eigen::Index> out_row;    // per segment: its first row of logits; then the total
};

// run_forward without the head: the final LayerNorm's output for the rows whose logits would be
// returned, (rows, C), a view into `ws` (valid until its next use). The caller applies the head
// (head_logits) to as many rows at a time as it likes: scoring never holds every row's logits.
ConstMatrixRef run_forward_hidden(const Model& model, std::span<const Segment> segments,
                                  Workspace& ws, Logits which);
// The logits of the vocabulary's columns [first, first + logits.cols()): logits = hidden (rows, C)
// * head[first:first + n]^T, on up to `threads` op threads. `first` is a multiple of kInt8Panel
// (an int8 head is sliced by whole panels); throws Error(kInvalidArgument) otherwise.
void head_logits(const Model& model, ConstMatrixRef hidden, Eigen::Index first, MatrixRef logits,
                 int threads);

// Checks every segment (ids in the vocabulary, positions within the context and the cache), runs
// the model over all of them, advances each cache, and returns the logits: one row per token with
// Logits::kAll, each segment's last `last_rows` tokens with Logits::kLast, in segment order.
ConstMatrixRef run_forward(const Model& model, std::span<const Segment> segments, Workspace& ws,
                           Logits which);

}  // namespace gptrec
