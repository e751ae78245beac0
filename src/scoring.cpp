#include "gptrec/scoring.hpp"

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "forward.hpp"
#include "gptrec/error.hpp"
#include "threads.hpp"

namespace gptrec {

namespace {

// The head runs on blocks of rows times chunks of the vocabulary: a thread holds the logits of one
// block and one chunk at a time (256 x 1,536 floats: 1.5 MB), never a row's whole logits, and every
// product is a GEMM of 256 rows (the head's bytes are read once per block, not once per few rows).
// The chunk is a multiple of the int8 head's panels (64) and of the float32 products' column grain
// (48), so any head can be sliced and the split changes no result.
constexpr Eigen::Index kHeadRows = 256;
constexpr Eigen::Index kHeadColumns = 1536;
static_assert(kHeadColumns % kInt8Panel == 0 && kHeadColumns % 48 == 0);

// out[r] = log softmax(hidden.row(r) * head^T)[targets[r]] for every row with targets[r] >= 0
// (others are left alone). For each block of rows the vocabulary's chunks are split across the op
// threads; each chunk leaves, per row, its maximum and the sum of exp(logit - maximum) (and the
// target's logit when the target is in it), and the chunks are combined in their order:
// log-sum-exp = M + log(sum_c s_c exp(m_c - M)), M the largest m_c (the exponentials of a chunk
// in float32, every sum in double). The chunks, their order and the arithmetic do not depend on
// the number of threads.
void target_logprobs(const Model& model, ConstMatrixRef hidden, std::span<const int> targets,
                     std::span<double> out) {
  const Eigen::Index rows = hidden.rows(), V = model.config().vocab_size;
  const Eigen::Index chunks = (V + kHeadColumns - 1) / kHeadColumns;
  const int threads = static_cast<int>(std::min<Eigen::Index>(max_threads(), chunks));
  // Per chunk and row: the chunk's maximum and sum of exponentials.
  std::vector<double> chunk_max, chunk_sum, target_logit;
  for (Eigen::Index r0 = 0; r0 < rows; r0 += kHeadRows) {
    const Eigen::Index n = std::min(kHeadRows, rows - r0);
    const ConstMatrixRef block = hidden.middleRows(r0, n);
    chunk_max.assign(static_cast<std::size_t>(chunks * n), -INFINITY);
    chunk_sum.assign(static_cast<std::size_t>(chunks * n), 0.0);
    target_logit.assign(static_cast<std::size_t>(n), 0.0);
    split_range(chunks, threads, [&](Eigen::Index begin, Eigen::Index end) {
      thread_local std::vector<float> logits;
      thread_local Eigen::ArrayXf exps;
      logits.resize(static_cast<std::size_t>(kHeadRows * kHeadColumns));
      exps.resize(kHeadColumns);
      // One thread: its products on every op thread; several: one each.
      const int head_threads = threads > 1 ? 1 : max_threads();
      for (Eigen::Index ch = begin; ch < end; ++ch) {
        const Eigen::Index c0 = ch * kHeadColumns, w = std::min(kHeadColumns, V - c0);
        Eigen::Map<RowMatrix> part(logits.data(), n, w);
        head_logits(model, block, c0, part, head_threads);
        for (Eigen::Index r = 0; r < n; ++r) {
          const int target = targets[static_cast<std::size_t>(r0 + r)];
          if (target < 0) continue;
          // The chunk's maximum, and its exponentials in float32 (vectorized) summed in double.
          const auto row = part.row(r).array();
          const float m = row.maxCoeff();
          auto e = exps.head(w);
          e = (row - m).exp();
          double acc[8] = {};
          Eigen::Index j = 0;
          for (; j + 8 <= w; j += 8)
            for (int l = 0; l < 8; ++l) acc[l] += static_cast<double>(e[j + l]);
          for (; j < w; ++j) acc[0] += static_cast<double>(e[j]);
          const double sum =
              ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
          const auto at = static_cast<std::size_t>(ch * n + r);
          chunk_max[at] = static_cast<double>(m);
          chunk_sum[at] = sum;
          if (target >= c0 && target < c0 + w)
            target_logit[static_cast<std::size_t>(r)] = static_cast<double>(part(r, target - c0));
        }
      }
    });
    for (Eigen::Index r = 0; r < n; ++r) {
      if (targets[static_cast<std::size_t>(r0 + r)] < 0) continue;
      double m = -INFINITY;
      for (Eigen::Index ch = 0; ch < chunks; ++ch)
        m = std::max(m, chunk_max[static_cast<std::size_t>(ch * n + r)]);
      double sum = 0;
      for (Eigen::Index ch = 0; ch < chunks; ++ch) {
        const auto at = static_cast<std::size_t>(ch * n + r);
        sum += chunk_sum[at] * std::exp(chunk_max[at] - m);
      }
      out[static_cast<std::size_t>(r0 + r)] =
          target_logit[static_cast<std::size_t>(r)] - (m + std::log(sum));
    }
  }
}

// log softmax(row)[token].
double token_logprob(const float* row, Eigen::Index n, int token) {
  return static_cast<double>(row[token]) -
         log_sum_exp(std::span<const float>(row, static_cast<std::size_t>(n)));
}

// Runs `sequences` through the model in batches of at most `batch_tokens` tokens (at least one
// sequence each), each sequence attending to `prefix` (a prompt's cache of prefix_size positions,
// read-only; or nullptr) and to its own cache. For each batch [begin, end) it calls
// take(begin, end, logprobs): logprobs holds, for the batch's sequences one after the other, one
// row per token, row t of a sequence the log-probability of its token t + 1 (its last row 0).
template <class Take>
void next_token_logprobs_in_batches(const Model& model, std::span<const std::vector<int>> sequences,
                                    const KVCache* prefix, int prefix_size, int batch_tokens,
                                    Take&& take) {
  Workspace ws;
  std::vector<KVCache> caches;
  std::vector<Segment> segments;
  std::vector<int> targets;
  std::vector<double> logprobs;
  const auto budget = static_cast<std::size_t>(std::max(1, batch_tokens));
  std::size_t next = 0;
  while (next < sequences.size()) {
    // A batch: sequences until the token budget is used (at least one).
    std::size_t end = next, tokens = 0;
    while (end < sequences.size() && (end == next || tokens + sequences[end].size() <= budget))
      tokens += sequences[end++].size();
    caches.clear();
    caches.reserve(end - next);
    segments.clear();
    targets.clear();
    for (std::size_t i = next; i < end; ++i) {
      const auto& seq = sequences[i];
      caches.emplace_back(model.config(), static_cast<int>(seq.size()));
      segments.push_back(Segment{seq, &caches.back(), prefix, prefix_size});
      // Row t predicts token t + 1; the last row predicts nothing.
      targets.insert(targets.end(), seq.begin() + 1, seq.end());
      targets.push_back(-1);
    }
    const ConstMatrixRef hidden = run_forward_hidden(model, segments, ws, Logits::kAll);
    logprobs.assign(targets.size(), 0.0);
    target_logprobs(model, hidden, targets, logprobs);
    take(next, end, std::as_const(logprobs));
    next = end;
  }
}

void check_continuations(const Model& model, int prompt_size,
                         std::span<const std::vector<int>> continuations) {
  const ModelConfig& c = model.config();
  for (std::size_t i = 0; i < continuations.size(); ++i) {
    const auto& cont = continuations[i];
    const std::string which = "continuation " + std::to_string(i) + ": ";
    if (cont.empty()) throw Error(ErrorCode::kInvalidArgument, which + "no tokens");
    for (const int id : cont)
      if (id < 0 || id >= c.vocab_size)
        throw Error(ErrorCode::kInvalidArgument, which + "token id " + std::to_string(id) +
                                                     " is outside the vocabulary [0, " +
                                                     std::to_string(c.vocab_size) + ")");
    if (prompt_size + static_cast<long long>(cont.size()) > c.n_ctx)
      throw Error(ErrorCode::kInvalidArgument,
                  which + std::to_string(cont.size()) + " tokens after a prompt of " +
                      std::to_string(prompt_size) + " exceed the model's context of " +
                      std::to_string(c.n_ctx));
  }
}

}  // namespace

std::vector<ContinuationScore> score_continuations(const Session& prompt_session,
                                                   std::span<const float> prompt_last_logits,
                                                   std::span<const std::vector<int>> continuations,
                                                   const ScoringOptions& options) {
  const Model& model = prompt_session.model();
  const int P = prompt_session.size();
  const auto V = static_cast<Eigen::Index>(model.config().vocab_size);
  if (P == 0) throw Error(ErrorCode::kInvalidArgument, "scoring needs a non-empty prompt");
  if (static_cast<Eigen::Index>(prompt_last_logits.size()) != V)
    throw Error(ErrorCode::kInvalidArgument, "prompt logits do not match the vocabulary size");
  check_continuations(model, P, continuations);

  std::vector<ContinuationScore> scores(continuations.size());
  // Each continuation attends to the prompt's cache (read-only) and its own.
  next_token_logprobs_in_batches(
      model, continuations, &prompt_session.cache(), P, options.batch_tokens,
      [&](std::size_t begin, std::size_t end, const std::vector<double>& logprobs) {
        std::size_t row = 0;
        for (std::size_t i = begin; i < end; ++i) {
          const auto& cont = continuations[i];
          ContinuationScore& s = scores[i];
          s.token_logprobs.resize(cont.size());
          // Token 0 is predicted by the prompt's last position, token t by the continuation's t-1.
          s.token_logprobs[0] = token_logprob(prompt_last_logits.data(), V, cont[0]);
          for (std::size_t t = 1; t < cont.size(); ++t) s.token_logprobs[t] = logprobs[row + t - 1];
          for (const double lp : s.token_logprobs) s.logprob += lp;
          row += cont.size();
        }
      });
  return scores;
}

std::vector<std::vector<double>> sequence_logprobs(const Model& model,
                                                   std::span<const std::vector<int>> sequences,
                                                   const ScoringOptions& options) {
  const ModelConfig& c = model.config();
  for (std::size_t i = 0; i < sequences.size(); ++i) {
    const std::string which = "sequence " + std::to_string(i) + ": ";
    if (sequences[i].empty()) throw Error(ErrorCode::kInvalidArgument, which + "no tokens");
    for (const int id : sequences[i])
      if (id < 0 || id >= c.vocab_size)
        throw Error(ErrorCode::kInvalidArgument, which + "token id " + std::to_string(id) +
                                                     " is outside the vocabulary [0, " +
                                                     std::to_string(c.vocab_size) + ")");
    if (static_cast<long long>(sequences[i].size()) > c.n_ctx)
      throw Error(ErrorCode::kInvalidArgument,
                  which + std::to_string(sequences[i].size()) +
                      " tokens are longer than the model's context of " + std::to_string(c.n_ctx));
  }
  std::vector<std::vector<double>> out(sequences.size());
  next_token_logprobs_in_batches(
      model, sequences, nullptr, 0, options.batch_tokens,
      [&](std::size_t begin, std::size_t end, const std::vector<double>& logprobs) {
        std::size_t row = 0;
        for (std::size_t i = begin; i < end; ++i) {
          const std::size_t T = sequences[i].size();
          out[i].assign(logprobs.begin() + static_cast<std::ptrdiff_t>(row),
                        logprobs.begin() + static_cast<std::ptrdiff_t>(row + T - 1));
          row += T;
        }
      });
  return out;
}

std::vector<ContinuationScore> score_continuations(const Model& model, std::span<const int> prompt,
                                                   std::span<const std::vector<int>> continuations,
                                                   const ScoringOptions& options) {
  if (prompt.empty()) throw Error(ErrorCode::kInvalidArgument, "scoring needs a non-empty prompt");
  if (static_cast<long long>(prompt.size()) > model.config().n_ctx)
    throw Error(ErrorCode::kInvalidArgument, "prompt of " + std::to_string(prompt.size()) +
                                                 " tokens is longer than the model's context of " +
                                                 std::to_string(model.config().n_ctx));
  Session session(model, static_cast<int>(prompt.size()));
  const ConstMatrixRef last = session.append(prompt, Logits::kLast);
  const std::vector<float> last_logits(last.data(), last.data() + last.cols());
  return score_continuations(session, last_logits, continuations, options);
}

double PerplexityResult::perplexity() const {
  return tokens > 0 ? std::exp(total_nll / static_cast<double>(tokens)) : 0.0;
}

PerplexityResult perplexity(const Model& model, std::span<const int> ids, int context, int stride) {
  const int n_ctx = model.config().n_ctx;
  if (context == 0) context = n_ctx;
  if (context < 2 || context > n_ctx)
    throw Error(ErrorCode::kInvalidArgument, "context must be in [2, " + std::to_string(n_ctx) +
                                                 "], got " + std::to_string(context));
  if (stride == 0) stride = context / 2;
  if (stride < 1 || stride >= context)
    throw Error(ErrorCode::kInvalidArgument,
                "stride must be in [1, context - 1], got " + std::to_string(stride));
  PerplexityResult r;
  const auto n = static_cast<long long>(ids.size());
  if (n < 2) return r;
  Session session(model, context);
  const auto V = static_cast<Eigen::Index>(model.config().vocab_size);
  // Windows end at min(context, n), then advance by `stride`; a window is the `context` tokens
  // before its end, so the tokens it scores (those after the previous window's end) always have
  // context - stride >= 1 tokens of left context inside it.
  long long scored_until = 1;  // tokens [1, scored_until) are scored; token 0 has no context
  long long end = std::min<long long>(context, n);
  while (true) {
    const long long begin = std::max<long long>(0, end - context);
    session.clear();
    const ConstMatrixRef logits = session.append(
        ids.subspan(static_cast<std::size_t>(begin), static_cast<std::size_t>(end - begin)));
    for (long long t = scored_until; t < end; ++t) {
      // Token t is predicted by the window's row for position t - 1.
      r.total_nll -= token_logprob(logits.row(static_cast<Eigen::Index>(t - 1 - begin)).data(), V,
                                   ids[static_cast<std::size_t>(t)]);
      ++r.tokens;
    }
    scored_until = end;
    if (end == n) break;
    end = std::min(end + stride, n);
  }
  return r;
}

}  // namespace gptrec
