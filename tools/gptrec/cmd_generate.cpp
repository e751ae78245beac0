// gptrec generate MODEL_DIR --prompt TEXT: text generation that streams tokens as they come.
#include <cstdio>
#include <iostream>

#include "commands.hpp"
#include "gptrec/error.hpp"
#include "gptrec/model.hpp"
#include "gptrec/sampling.hpp"
#include "gptrec/tokenizer.hpp"

namespace gptrec::cli {

namespace {

struct GenerateOptions {
  std::string model_dir;
  std::string prompt;
  int max_tokens = 64;
  float temperature = 1.0f;
  int top_k = 0;
  float top_p = 1.0f;
  std::uint64_t seed = 0;
  std::vector<std::string> stops;
};

int run_generate(const GenerateOptions& o) {
  const Model model = Model::load(o.model_dir);
  const auto tokenizer = load_tokenizer(o.model_dir);
  const std::vector<int> prompt = tokenizer->encode(o.prompt);
  if (prompt.empty()) throw Error(ErrorCode::kInvalidArgument, "--prompt: the prompt is empty");
  if (static_cast<int>(prompt.size()) >= model.config().n_ctx)
    throw Error(ErrorCode::kInvalidArgument,
                "--prompt: " + std::to_string(prompt.size()) +
                    " tokens leave no room in the model's context of " +
                    std::to_string(model.config().n_ctx));

  GenerationOptions g;
  g.max_new_tokens = o.max_tokens;
  g.sampling = {o.temperature, o.top_k, o.top_p, o.seed};
  // GPT-2's end-of-text token ends generation.
  if (tokenizer->kind() == "gpt2-bpe") {
    const auto eos = tokenizer->encode("<|endoftext|>", true);
    if (eos.size() == 1) g.eos_id = eos[0];
  }
  const bool spaced = tokenizer->kind() == "items";  // item tokens print as space-separated ids

  StopMatcher stops(o.stops);
  Session session(model);
  bool first = true;
  generate(session, prompt, g, [&](int id) {
    std::string piece = spaced ? (first ? "" : " ") + tokenizer->token_text(id)
                               : tokenizer->decode(std::span<const int>(&id, 1));
    first = false;
    const bool stop = stops.append(piece);
    const std::string ready = stops.take_ready();
    std::fwrite(ready.data(), 1, ready.size(), stdout);
    std::fflush(stdout);
    return !stop;
  });
  const std::string rest = stops.take_rest();
  std::fwrite(rest.data(), 1, rest.size(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
  if (std::ferror(stdout)) throw Error(ErrorCode::kIo, "<stdout>: write failed");
  return 0;
}

}  // namespace

Runner add_generate(CLI::App& app) {
  auto o = std::make_shared<GenerateOptions>();
  CLI::App* sub = app.add_subcommand("generate", "Generate text after a prompt, streaming tokens");
  sub->add_option("--model,MODEL_DIR", o->model_dir,
                  "Model directory with a tokenizer (--model or the first argument)")
      ->required();
  sub->add_option("--prompt", o->prompt, "Prompt text")->required();
  sub->add_option("--max-tokens", o->max_tokens, "Most tokens to generate")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  sub->add_option("--temperature", o->temperature, "Sampling temperature; 0 = greedy")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  sub->add_option("--top-k", o->top_k, "Sample from the k most likely tokens; 0 = all")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  sub->add_option("--top-p", o->top_p, "Sample from the smallest set reaching probability p")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  sub->add_option("--seed", o->seed, "Random seed: the same seed gives the same output")
      ->capture_default_str();
  sub->add_option("--stop", o->stops, "Stop when this text appears (not printed); repeatable");
  return [o] { return run_generate(*o); };
}

}  // namespace gptrec::cli
