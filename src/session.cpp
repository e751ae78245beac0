// Running a Model: Session (one sequence, and batches of continuations of it) and forward_batch,
// all over the one packed forward pass of forward.cpp.
#include <algorithm>
#include <string>

#include "forward.hpp"
#include "gptrec/error.hpp"
#include "gptrec/model.hpp"

namespace gptrec {

Session::Session(const Model& model, int capacity)
    : model_(&model),
      cache_(model.config(), capacity == 0 ? model.config().n_ctx : capacity),
      workspace_(std::make_unique<Workspace>()) {}

Session::~Session() = default;
Session::Session(Session&&) noexcept = default;
Session& Session::operator=(Session&&) noexcept = default;

ConstMatrixRef Session::append(std::span<const int> tokens, Logits which) {
  const Segment segment{tokens, &cache_, nullptr, 0};
  return run_forward(*model_, std::span<const Segment>(&segment, 1), *workspace_, which);
}

ConstMatrixRef Session::append_last(std::span<const int> tokens, int rows) {
  Segment segment{tokens, &cache_, nullptr, 0};
  segment.last_rows = rows;
  return run_forward(*model_, std::span<const Segment>(&segment, 1), *workspace_, Logits::kLast);
}

ConstMatrixRef Session::continue_batch(std::span<const Continuation> continuations,
                                       Logits which) const {
  const ModelConfig& config = model_->config();
  std::vector<KVCache> caches;
  caches.reserve(continuations.size());
  std::vector<Segment> segments;
  segments.reserve(continuations.size());
  for (std::size_t i = 0; i < continuations.size(); ++i) {
    const Continuation& c = continuations[i];
    if (c.prefix < 0 || c.prefix > cache_.size())
      throw Error(ErrorCode::kInvalidArgument, "continuation " + std::to_string(i) +
                                                   ": prefix of " + std::to_string(c.prefix) +
                                                   " positions outside the session's [0, " +
                                                   std::to_string(cache_.size()) + "]");
    // Capped so that an over-long continuation reaches run_forward's message about the context.
    caches.emplace_back(config, static_cast<int>(std::min<std::size_t>(
                                    c.tokens.size(), static_cast<std::size_t>(config.n_ctx))));
    Segment segment{c.tokens, &caches.back(), &cache_, c.prefix};
    segment.last_rows = c.last_rows;
    segments.push_back(segment);
  }
  if (segments.empty()) return workspace_->logits.topRows(0);
  return run_forward(*model_, segments, *workspace_, which);
}

void Session::truncate(int n) {
  if (n < 0 || n > cache_.size())
    throw Error(ErrorCode::kInvalidArgument, "cannot truncate a session of " +
                                                 std::to_string(cache_.size()) + " positions to " +
                                                 std::to_string(n));
  cache_.set_size(n);
}

std::vector<RowMatrix> forward_batch(const Model& model,
                                     std::span<const std::vector<int>> sequences, Logits which) {
  std::vector<KVCache> caches;
  caches.reserve(sequences.size());
  std::vector<Segment> segments;
  segments.reserve(sequences.size());
  for (const auto& seq : sequences) {
    const int n = static_cast<int>(
        std::min<std::size_t>(seq.size(), static_cast<std::size_t>(model.config().n_ctx)));
    caches.emplace_back(model.config(), n);
    segments.push_back(Segment{seq, &caches.back(), nullptr, 0});
  }
  std::vector<RowMatrix> out;
  if (sequences.empty()) return out;
  Workspace ws;
  const ConstMatrixRef logits = run_forward(model, segments, ws, which);
  Eigen::Index row = 0;
  for (const auto& seq : sequences) {
    const Eigen::Index rows = which == Logits::kAll ? static_cast<Eigen::Index>(seq.size()) : 1;
    out.emplace_back(logits.middleRows(row, rows));
    row += rows;
  }
  return out;
}

}  // namespace gptrec
