// Log-likelihood of continuations given a prompt, with the prompt computed once: its KV cache is
// shared, read-only, by every continuation, and the continuations run together as one batch.
// Cost grows with prompt + sum of continuation tokens, not with candidates x prompt.
//
// Thread-safety: the functions keep no shared state and only read the Model (and the prompt
// Session), so many threads may score over one Model at once; a Session passed in must not be
// used by another thread during the call.
#pragma once

#include <span>
#include <vector>

#include "gptrec/model.hpp"

namespace gptrec {

struct ContinuationScore {
  double logprob = 0.0;                // sum of token_logprobs
  std::vector<double> token_logprobs;  // log P(token t | prompt, tokens before t)
};

struct ScoringOptions {
  // Tokens per batched forward pass (bounds the scratch memory: the pass's activations and KV
  // cache). GPT-2-124M scored 64 x 64 tokens 1.1x faster in passes of 512 than in one pass of
  // 4,096, at 0.6x the peak memory (docs/BENCHMARKS.md).
  int batch_tokens = 512;
};

// Scores each continuation after `prompt` (non-empty). Throws Error(kInvalidArgument) naming the
// continuation when one is empty, holds an id outside the vocabulary, or does not fit the context
// after the prompt.
std::vector<ContinuationScore> score_continuations(const Model& model, std::span<const int> prompt,
                                                   std::span<const std::vector<int>> continuations,
                                                   const ScoringOptions& options = {});

// The same, starting from a session that already holds the prompt and the logits of its last
// position (as returned by Session::append(prompt, Logits::kLast)); the continuations run in a
// workspace of their own (the head in chunks, as sequence_logprobs), reading the session's KV
// cache: the session and `prompt_last_logits` (which may be a view into it) are left unchanged.
// Throws Error(kInvalidArgument) as above, and for an empty session or logits whose size is not
// the vocabulary size.
std::vector<ContinuationScore> score_continuations(const Session& prompt_session,
                                                   std::span<const float> prompt_last_logits,
                                                   std::span<const std::vector<int>> continuations,
                                                   const ScoringOptions& options = {});

// The log-probability of every next token of each sequence: out[i][t] = log P(sequences[i][t + 1]
// | sequences[i][0..t]), T_i - 1 values (none for a one-token sequence). The sequences run packed,
// options.batch_tokens tokens per pass, and the head runs on blocks of 256 rows times chunks of
// 1,536 vocabulary columns split across the op threads, each chunk leaving per row only its
// maximum and sum of exponentials (an online log-sum-exp): memory holds the weights, one pass's
// KV cache and activations and one chunk of logits per thread, never a row's whole logits (GPT-2,
// 64 sequences x 64 tokens: 0.8 GB of logits avoided). Throws Error(kInvalidArgument) naming the
// sequence when one is empty, holds an id outside the vocabulary or exceeds the context.
std::vector<std::vector<double>> sequence_logprobs(const Model& model,
                                                   std::span<const std::vector<int>> sequences,
                                                   const ScoringOptions& options = {});

// Perplexity of `ids`: every token after the first is scored exactly once. Windows of `context`
// tokens (0: the model's) advance by `stride` (0: context / 2; at most context - 1), so every
// scored token has at least context - stride tokens of left context (the sliding-window method).
struct PerplexityResult {
  double total_nll = 0.0;  // sum of -log p over scored tokens
  long long tokens = 0;    // scored tokens (ids.size() - 1)
  double perplexity() const;
};
// Fewer than 2 ids give tokens = 0. Throws Error(kInvalidArgument) for a context outside
// [2, n_ctx], a stride outside [1, context - 1], or an id outside the vocabulary.
PerplexityResult perplexity(const Model& model, std::span<const int> ids, int context = 0,
                            int stride = 0);

}  // namespace gptrec
