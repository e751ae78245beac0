// gptrec info MODEL_DIR: what a model directory holds.
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "format.hpp"
#include "gptrec/model.hpp"
#include "gptrec/model_directory.hpp"

namespace gptrec::cli {

namespace {

struct InfoOptions {
  std::string model_dir;
  std::string format = "table";
};

int run_info(const InfoOptions& o) {
  const Model model = Model::load(o.model_dir);
  const ModelConfig& c = model.config();
  const ModelInfo& info = model.info();
  const std::string tokenizer = ModelDirectory(o.model_dir).tokenizer_description();
  std::string dtypes;
  for (const auto& d : info.dtypes) dtypes += (dtypes.empty() ? "" : ", ") + d;

  if (o.format == "json") {
    nlohmann::ordered_json j;
    j["model_dir"] = o.model_dir;
    j["n_layer"] = c.n_layer;
    j["n_head"] = c.n_head;
    j["n_embd"] = c.n_embd;
    j["n_inner"] = c.n_inner;
    j["n_ctx"] = c.n_ctx;
    j["vocab_size"] = c.vocab_size;
    j["activation_function"] = to_string(c.activation);
    j["position_encoding"] = to_string(c.position_encoding);
    j["layer_norm_epsilon"] = c.layer_norm_epsilon;
    j["tied_head"] = info.tied_head;
    j["parameters"] = info.parameter_count;
    j["dtypes"] = info.dtypes;
    j["weights_file"] = info.weights_file.string();
    j["weights_file_bytes"] = info.weights_file_bytes;
    j["tokenizer"] = tokenizer;
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  auto line = [](const char* key, const std::string& value) {
    std::cout << key << std::string(14 - std::string(key).size(), ' ') << value << "\n";
  };
  line("model", o.model_dir);
  line("architecture", "GPT-2 (pre-LayerNorm), " + std::to_string(c.n_layer) + " layers, " +
                           std::to_string(c.n_head) + " heads, width " + std::to_string(c.n_embd) +
                           ", MLP " + std::to_string(c.n_inner) + ", " +
                           std::string(to_string(c.activation)));
  line("positions", std::string(to_string(c.position_encoding)));
  line("context", with_thousands(c.n_ctx) + " tokens");
  line("vocabulary", with_thousands(c.vocab_size) + " tokens");
  line("head", info.tied_head ? "tied to wte" : "lm_head.weight");
  line("parameters", with_thousands(info.parameter_count));
  line("dtypes", dtypes);
  line("weights", info.weights_file.string() + ", " + human_bytes(info.weights_file_bytes));
  line("tokenizer", tokenizer);
  return 0;
}

}  // namespace

Runner add_info(CLI::App& app) {
  auto o = std::make_shared<InfoOptions>();
  CLI::App* sub = app.add_subcommand("info", "Describe a model directory");
  sub->add_option(
         "--model,MODEL_DIR", o->model_dir,
         "Model directory, config.json + model.safetensors (--model or the first argument)")
      ->required();
  sub->add_option("--format", o->format, "Output format")
      ->check(CLI::IsMember({"table", "json"}))
      ->capture_default_str();
  return [o] { return run_info(*o); };
}

}  // namespace gptrec::cli
