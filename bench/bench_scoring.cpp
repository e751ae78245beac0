// Shared-prefix continuation scoring vs re-scoring every full sequence, side by side in one run.
//
//   build/bench/gptrec_bench_scoring [--layers 12 --width 768 --heads 12 --vocab 50257
//                                     --prompt 200 --candidates 100 --length 5 --repeats 3]
//
// A random model of the given shape (GPT-2 small by default) is built in memory. Both methods
// compute the same log-probabilities (checked) for `candidates` continuations of `length` tokens
// after a `prompt`-token prompt:
//   shared    score_continuations: the prompt once, its KV cache shared by all continuations,
//             the continuations in one batch;
//   separate  for each candidate, a fresh Session over prompt + continuation, logits only for the
//             continuation's positions (what a caller without prefix sharing would do).
// Reported: best wall time of each over the repeats (interleaved), and the ratio.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "gptrec/model.hpp"
#include "gptrec/scoring.hpp"

using namespace gptrec;

namespace {

int arg(int argc, char** argv, const char* name, int fallback) {
  for (int i = 1; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], name) == 0) return std::atoi(argv[i + 1]);
  return fallback;
}

Model random_model(const ModelConfig& c) {
  std::mt19937 rng(1);
  std::normal_distribution<float> normal(0.0f, 0.02f);
  std::vector<std::vector<float>> storage;
  std::vector<TensorToWrite> tensors;
  auto add = [&](const std::string& name, std::vector<std::int64_t> shape, float constant = NAN) {
    std::size_t n = 1;
    for (auto d : shape) n *= static_cast<std::size_t>(d);
    storage.emplace_back(n);
    for (float& v : storage.back()) v = std::isnan(constant) ? normal(rng) : constant;
    tensors.push_back(
        {name, DType::kF32, shape, std::as_bytes(std::span<const float>(storage.back()))});
  };
  const std::int64_t C = c.n_embd, V = c.vocab_size;
  add("wte.weight", {V, C});
  add("wpe.weight", {c.n_ctx, C});
  for (int l = 0; l < c.n_layer; ++l) {
    const std::string p = "h." + std::to_string(l) + ".";
    add(p + "ln_1.weight", {C}, 1.0f);
    add(p + "ln_1.bias", {C}, 0.0f);
    add(p + "attn.c_attn.weight", {C, 3 * C});
    add(p + "attn.c_attn.bias", {3 * C}, 0.0f);
    add(p + "attn.c_proj.weight", {C, C});
    add(p + "attn.c_proj.bias", {C}, 0.0f);
    add(p + "ln_2.weight", {C}, 1.0f);
    add(p + "ln_2.bias", {C}, 0.0f);
    add(p + "mlp.c_fc.weight", {C, 4 * C});
    add(p + "mlp.c_fc.bias", {4 * C}, 0.0f);
    add(p + "mlp.c_proj.weight", {4 * C, C});
    add(p + "mlp.c_proj.bias", {C}, 0.0f);
  }
  add("ln_f.weight", {C}, 1.0f);
  add("ln_f.bias", {C}, 0.0f);
  return Model::from_parts(c,
                           SafetensorsFile::from_bytes(serialize_safetensors(tensors), "random"));
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// log softmax(row)[token]
double token_logprob(const float* row, Eigen::Index n, int token) {
  float m = row[0];
  for (Eigen::Index i = 1; i < n; ++i) m = std::max(m, row[i]);
  double sum = 0;
  for (Eigen::Index i = 0; i < n; ++i) sum += std::exp(static_cast<double>(row[i] - m));
  return static_cast<double>(row[token] - m) - std::log(sum);
}

}  // namespace

int main(int argc, char** argv) {
  ModelConfig c;
  c.n_layer = arg(argc, argv, "--layers", 12);
  c.n_embd = arg(argc, argv, "--width", 768);
  c.n_head = arg(argc, argv, "--heads", 12);
  c.vocab_size = arg(argc, argv, "--vocab", 50257);
  c.n_ctx = 1024;
  c.n_inner = 4 * c.n_embd;
  const int prompt_len = arg(argc, argv, "--prompt", 200);
  const int n_cand = arg(argc, argv, "--candidates", 100);
  const int cand_len = arg(argc, argv, "--length", 5);
  const int repeats = arg(argc, argv, "--repeats", 3);

  std::printf("model: %d layers, width %d, %d heads, vocab %d (random weights)\n", c.n_layer,
              c.n_embd, c.n_head, c.vocab_size);
  const Model model = random_model(c);
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> token(0, c.vocab_size - 1);
  std::vector<int> prompt(static_cast<std::size_t>(prompt_len));
  for (int& t : prompt) t = token(rng);
  std::vector<std::vector<int>> conts(static_cast<std::size_t>(n_cand),
                                      std::vector<int>(static_cast<std::size_t>(cand_len)));
  for (auto& cont : conts)
    for (int& t : cont) t = token(rng);
  std::printf("task: %d candidates of %d tokens after a %d-token prompt\n", n_cand, cand_len,
              prompt_len);

  double best_shared = 1e30, best_separate = 1e30, worst_diff = 0;
  for (int r = 0; r < repeats; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    const auto shared = score_continuations(model, prompt, conts);
    best_shared = std::min(best_shared, seconds_since(t0));

    t0 = std::chrono::steady_clock::now();
    std::vector<double> separate(conts.size());
    for (std::size_t k = 0; k < conts.size(); ++k) {
      std::vector<int> full = prompt;
      full.insert(full.end(), conts[k].begin(), conts[k].end());
      Session s(model, static_cast<int>(full.size()));
      const auto P = static_cast<std::size_t>(prompt_len);
      s.append(std::span<const int>(full).first(P - 1), Logits::kLast);
      // Rows for positions P-1 .. P+len-2 predict the continuation's tokens.
      const ConstMatrixRef logits =
          s.append(std::span<const int>(full).subspan(P - 1, conts[k].size()));
      double sum = 0;
      for (std::size_t t = 0; t < conts[k].size(); ++t)
        sum += token_logprob(logits.row(static_cast<Eigen::Index>(t)).data(), logits.cols(),
                             conts[k][t]);
      separate[k] = sum;
    }
    best_separate = std::min(best_separate, seconds_since(t0));
    for (std::size_t k = 0; k < conts.size(); ++k)
      worst_diff = std::max(worst_diff, std::fabs(shared[k].logprob - separate[k]));
  }
  const double tokens_shared = prompt_len + static_cast<double>(n_cand) * cand_len;
  const double tokens_separate = static_cast<double>(n_cand) * (prompt_len + cand_len);
  std::printf("shared prefix : %8.3f s  (%.0f tokens through the model)\n", best_shared,
              tokens_shared);
  std::printf("separate      : %8.3f s  (%.0f tokens through the model)\n", best_separate,
              tokens_separate);
  std::printf("speed-up      : %8.1fx   (max |difference| of the log-likelihoods: %.2g)\n",
              best_separate / best_shared, worst_diff);
  return worst_diff <= 1e-3 ? 0 : 1;
}
