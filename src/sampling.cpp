#include "gptrec/sampling.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "gptrec/error.hpp"

namespace gptrec {

namespace {

void check(const SamplingOptions& o) {
  if (!(o.temperature >= 0.0f) || !std::isfinite(o.temperature))
    throw Error(ErrorCode::kInvalidArgument, "temperature must be 0 or more");
  if (o.top_k < 0) throw Error(ErrorCode::kInvalidArgument, "top-k must be 0 or more");
  if (!(o.top_p > 0.0f && o.top_p <= 1.0f))
    throw Error(ErrorCode::kInvalidArgument, "top-p must be in (0, 1]");
}

std::size_t argmax(std::span<const float> logits) {
  std::size_t best = 0;
  for (std::size_t i = 1; i < logits.size(); ++i)
    if (logits[i] > logits[best]) best = i;
  return best;
}

void fill_distribution(std::span<const float> logits, const SamplingOptions& o,
                       std::vector<double>& probs) {
  check(o);
  if (logits.empty()) throw Error(ErrorCode::kInvalidArgument, "no logits to sample from");
  const std::size_t n = logits.size();
  probs.assign(n, 0.0);
  if (o.temperature == 0.0f) {
    probs[argmax(logits)] = 1.0;
    return;
  }
  const double m = logits[argmax(logits)];
  for (std::size_t i = 0; i < n; ++i) probs[i] = std::exp((logits[i] - m) / o.temperature);

  // Top-k, then top-p, over the tokens in descending probability (ties: lower id first).
  const bool use_k = o.top_k > 0 && static_cast<std::size_t>(o.top_k) < n;
  const bool use_p = o.top_p < 1.0f;
  if (use_k || use_p) {
    std::vector<std::size_t> order(n);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](std::size_t a, std::size_t b) { return probs[a] > probs[b]; });
    std::size_t keep = use_k ? static_cast<std::size_t>(o.top_k) : n;
    if (use_p) {
      double total = 0;
      for (std::size_t r = 0; r < keep; ++r) total += probs[order[r]];
      double cumulative = 0;
      std::size_t r = 0;
      while (r < keep) {
        cumulative += probs[order[r]];
        ++r;
        if (cumulative >= o.top_p * total) break;
      }
      keep = r;
    }
    for (std::size_t r = keep; r < n; ++r) probs[order[r]] = 0.0;
  }
  const double sum = std::accumulate(probs.begin(), probs.end(), 0.0);
  for (double& p : probs) p /= sum;
}

}  // namespace

std::vector<double> sampling_distribution(std::span<const float> logits, const SamplingOptions& o) {
  std::vector<double> probs;
  fill_distribution(logits, o, probs);
  return probs;
}

Sampler::Sampler(const SamplingOptions& options) : options_(options), rng_(options.seed) {
  check(options);
}

int Sampler::sample(std::span<const float> logits) {
  if (options_.temperature == 0.0f) {
    if (logits.empty()) throw Error(ErrorCode::kInvalidArgument, "no logits to sample from");
    return static_cast<int>(argmax(logits));
  }
  fill_distribution(logits, options_, probs_);
  // A uniform double in [0, 1) from the top 53 bits: portable, unlike
  // std::uniform_real_distribution.
  const double u = static_cast<double>(rng_() >> 11) * 0x1.0p-53;
  double cumulative = 0;
  std::size_t last_nonzero = 0;
  for (std::size_t i = 0; i < probs_.size(); ++i) {
    if (probs_[i] == 0.0) continue;
    last_nonzero = i;
    cumulative += probs_[i];
    if (u < cumulative) return static_cast<int>(i);
  }
  return static_cast<int>(last_nonzero);  // rounding left u just above the total
}

StopMatcher::StopMatcher(std::vector<std::string> stops) : stops_(std::move(stops)) {
  std::erase_if(stops_, [](const std::string& s) { return s.empty(); });
}

bool StopMatcher::append(std::string_view bytes) {
  if (stopped_) return true;
  const std::size_t old_size = text_.size();
  text_.append(bytes);
  // A stop string can only end inside the new bytes, so start searching just before them.
  std::size_t cut = std::string::npos;
  for (const auto& s : stops_) {
    const std::size_t from = old_size >= s.size() ? old_size - s.size() + 1 : 0;
    const std::size_t at = text_.find(s, from);
    if (at != std::string::npos) cut = std::min(cut, at);
  }
  if (cut != std::string::npos) {
    text_.resize(cut);
    stopped_ = true;
  }
  return stopped_;
}

std::string StopMatcher::take_ready() {
  std::size_t ready = text_.size();
  if (!stopped_) {
    // Hold back the longest tail that is a proper prefix of some stop string.
    for (const auto& s : stops_)
      for (std::size_t len = std::min(s.size() - 1, text_.size()); len > 0; --len)
        if (text_.compare(text_.size() - len, len, s, 0, len) == 0) {
          ready = std::min(ready, text_.size() - len);
          break;
        }
  }
  ready = std::max(ready, emitted_);
  std::string out = text_.substr(emitted_, ready - emitted_);
  emitted_ = ready;
  return out;
}

std::string StopMatcher::take_rest() {
  std::string out = text_.substr(emitted_);
  emitted_ = text_.size();
  return out;
}

GenerationResult generate(Session& session, std::span<const int> prompt,
                          const GenerationOptions& options,
                          const std::function<bool(int)>& on_token) {
  if (options.max_new_tokens < 0)
    throw Error(ErrorCode::kInvalidArgument, "max tokens must be 0 or more");
  Sampler sampler(options.sampling);
  GenerationResult result;
  if (options.max_new_tokens == 0) {
    if (!prompt.empty()) session.append(prompt, Logits::kLast);
    return result;
  }
  const int context = std::min(session.capacity(), session.model().config().n_ctx);
  result.ids.reserve(static_cast<std::size_t>(std::min(options.max_new_tokens, context)));
  // The last row of a row-major logits block is contiguous; it stays valid until the next append.
  auto last_row = [](ConstMatrixRef logits) {
    return std::span<const float>(logits.data(), static_cast<std::size_t>(logits.cols()));
  };
  std::span<const float> logits = last_row(session.append(prompt, Logits::kLast));
  while (true) {
    const int next = sampler.sample(logits);
    if (options.eos_id && next == *options.eos_id) {
      result.reason = StopReason::kEos;
      break;
    }
    result.ids.push_back(next);
    if (on_token && !on_token(next)) {
      result.reason = StopReason::kCallback;
      break;
    }
    if (static_cast<int>(result.ids.size()) >= options.max_new_tokens) {
      result.reason = StopReason::kMaxTokens;
      break;
    }
    if (session.size() >= context) {
      result.reason = StopReason::kContextFull;
      break;
    }
    logits = last_row(session.append(std::span<const int>(&result.ids.back(), 1), Logits::kLast));
  }
  return result;
}

}  // namespace gptrec
