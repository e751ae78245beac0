// gptrec perplexity MODEL_DIR --file F: perplexity of a text, with sliding windows when it is
// longer than the context.
#include <cmath>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "gptrec/error.hpp"
#include "gptrec/model.hpp"
#include "gptrec/scoring.hpp"
#include "gptrec/tokenizer.hpp"
#include "input.hpp"

namespace gptrec::cli {

namespace {

struct PerplexityOptions {
  std::string model_dir;
  std::string file;
  int context = 0;
  int stride = 0;
  std::string format = "table";
};

int run_perplexity(const PerplexityOptions& o) {
  const Model model = Model::load(o.model_dir);
  const auto tokenizer = load_tokenizer(o.model_dir);
  const std::vector<int> ids = tokenizer->encode(read_input(o.file));
  if (ids.size() < 2)
    throw Error(ErrorCode::kBadInput, o.file + ": fewer than 2 tokens, nothing to score");
  const int context = o.context == 0 ? model.config().n_ctx : o.context;
  const int stride = o.stride == 0 ? context / 2 : o.stride;
  const PerplexityResult r = perplexity(model, ids, context, stride);
  const double mean_nll = r.total_nll / static_cast<double>(r.tokens);
  if (o.format == "json") {
    nlohmann::ordered_json j;
    j["file"] = o.file;
    j["tokens"] = ids.size();
    j["scored_tokens"] = r.tokens;
    j["context"] = context;
    j["stride"] = stride;
    j["mean_nll"] = mean_nll;
    j["perplexity"] = r.perplexity();
    std::cout << j.dump(2) << "\n";
  } else {
    std::printf("tokens        %zu (%lld scored)\n", ids.size(), r.tokens);
    std::printf("window        %d tokens, stride %d\n", context, stride);
    std::printf("mean NLL      %.6f nats/token\n", mean_nll);
    std::printf("perplexity    %.4f\n", r.perplexity());
  }
  return 0;
}

}  // namespace

Runner add_perplexity(CLI::App& app) {
  auto o = std::make_shared<PerplexityOptions>();
  CLI::App* sub = app.add_subcommand("perplexity", "Perplexity of a text file");
  sub->add_option("--model,MODEL_DIR", o->model_dir,
                  "Model directory with a tokenizer (--model or the first argument)")
      ->required();
  sub->add_option("--file", o->file, "Text file, or - for standard input")->required();
  sub->add_option("--context", o->context, "Window length in tokens (default: the model's)")
      ->check(CLI::NonNegativeNumber);
  sub->add_option("--stride", o->stride, "Window step in tokens (default: half the window)")
      ->check(CLI::NonNegativeNumber);
  sub->add_option("--format", o->format, "Output format")
      ->check(CLI::IsMember({"table", "json"}))
      ->capture_default_str();
  return [o] { return run_perplexity(*o); };
}

}  // namespace gptrec::cli
