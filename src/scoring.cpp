#include "gptrec/scoring.hpp"

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>

#include "forward.hpp"
#include "gptrec/error.hpp"
#include "threads.hpp"

namespace gptrec {

namespace {

// Rows of logits a thread holds at once while scoring (32 x 50,257 floats: 6.4 MB for GPT-2).
constexpr Eigen::Index kHeadRows = 32;

// out[r] = log softmax(hidden.row(r) * head^T)[targets[r]] for every row with targets[r] >= 0
// (others are left alone). The head runs on slices of kHeadRows rows, the slices split across the
// op threads, each thread holding one slice of logits at a time: scoring never holds every row's
// logits.
void target_logprobs(const Model& model, ConstMatrixRef hidden, std::span<const int> targets,
                     std::span<double> out) {
  const Eigen::Index rows = hidden.rows(), V = model.config().vocab_size;
  const Eigen::Index slices = (rows + kHeadRows - 1) / kHeadRows;
  const int threads = static_cast<int>(std::min<Eigen::Index>(max_threads(), slices));
  const auto score_slices = [&](Eigen::Index begin, Eigen::Index end, int head_threads) {
    RowMatrix logits(std::min(kHeadRows, rows), V);
    for (Eigen::Index s = begin; s < end; ++s) {
      const Eigen::Index r0 = s * kHeadRows, n = std::min(kHeadRows, rows - r0);
      auto slice = logits.topRows(n);
      head_logits(model, hidden.middleRows(r0, n), slice, head_threads);
      for (Eigen::Index r = 0; r < n; ++r) {
        const int target = targets[static_cast<std::size_t>(r0 + r)];
        if (target < 0) continue;
        out[static_cast<std::size_t>(r0 + r)] =
            static_cast<double>(slice(r, target)) -
            log_sum_exp(std::span<const float>(&slice(r, 0), static_cast<std::size_t>(V)));
      }
    }
  };
  if (threads <= 1) {
    score_slices(0, slices, max_threads());  // one slice: its head on all the op threads
    return;
  }
  split_range(slices, threads,
              [&](Eigen::Index begin, Eigen::Index end) { score_slices(begin, end, 1); });
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
