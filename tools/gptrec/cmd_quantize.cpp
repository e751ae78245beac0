// gptrec quantize IN_DIR OUT_DIR --type int8: int8 weights (gptrec/quantize.hpp).
#include <cstdio>
#include <string>

#include "commands.hpp"
#include "gptrec/quantize.hpp"

namespace gptrec::cli {

namespace {

struct QuantizeOptions {
  std::string in_dir;
  std::string out_dir;
  std::string type = "int8";
};

int run_quantize(const QuantizeOptions& o) {
  const QuantizationReport r = quantize_model_dir(o.in_dir, o.out_dir, QuantizationType::kInt8);
  std::printf("%s: %d matrices as int8, model.safetensors %.1f MB -> %.1f MB\n", o.out_dir.c_str(),
              r.tensors_quantized, static_cast<double>(r.weights_bytes_before) / 1e6,
              static_cast<double>(r.weights_bytes_after) / 1e6);
  return 0;
}

}  // namespace

Runner add_quantize(CLI::App& app) {
  auto o = std::make_shared<QuantizeOptions>();
  CLI::App* sub = app.add_subcommand(
      "quantize", "Write a copy of a model with int8 weights (per-output-channel scales)");
  sub->add_option("--model,IN_DIR", o->in_dir,
                  "Model directory to quantize (--model or the first argument)")
      ->required();
  sub->add_option("OUT_DIR", o->out_dir, "Output model directory (created)")->required();
  sub->add_option("--type", o->type, "Weight type")
      ->check(CLI::IsMember({"int8"}))
      ->capture_default_str();
  return [o] { return run_quantize(*o); };
}

}  // namespace gptrec::cli
