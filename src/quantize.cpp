#include "gptrec/quantize.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "gptrec/error.hpp"
#include "gptrec/model.hpp"
#include "gptrec/model_directory.hpp"
#include "gptrec/safetensors.hpp"

namespace gptrec {

namespace {

// The canonical name's scale axis when the tensor is quantized: 1 = per column (Conv1D
// (in, out)), 0 = per row ((vocab, C)), -1 = not quantized.
int scale_axis(std::string name) {
  if (name.rfind("transformer.", 0) == 0) name = name.substr(12);
  if (name == "wte.weight" || name == "lm_head.weight") return 0;
  if (name.rfind("h.", 0) != 0) return -1;
  for (const char* suffix :
       {".attn.c_attn.weight", ".attn.c_proj.weight", ".mlp.c_fc.weight", ".mlp.c_proj.weight"}) {
    const std::string s = suffix;
    if (name.size() > s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0) return 1;
  }
  return -1;
}

}  // namespace

QuantizationReport quantize_model_dir(const std::filesystem::path& in_dir,
                                      const std::filesystem::path& out_dir, QuantizationType type) {
  (void)type;  // int8 is the only type
  std::error_code ec;
  if (std::filesystem::exists(out_dir, ec) && std::filesystem::equivalent(in_dir, out_dir, ec))
    throw Error(ErrorCode::kInvalidArgument,
                out_dir.string() + ": the output directory must not be the input directory");
  // Loading checks config, names, shapes, dtypes and values before anything is written.
  const Model model = Model::load(in_dir);
  const auto& dtypes = model.info().dtypes;
  if (std::find(dtypes.begin(), dtypes.end(), "I8") != dtypes.end())
    throw Error(ErrorCode::kBadModel, in_dir.string() + ": the model is already quantized (I8)");

  const ModelDirectory in(in_dir), out_files(out_dir);
  const SafetensorsFile file = in.open_weights();
  QuantizationReport report;
  report.weights_bytes_before = file.file_size();
  std::vector<std::vector<std::int8_t>> q_storage;
  std::vector<std::vector<float>> scale_storage;
  std::vector<TensorToWrite> out;
  q_storage.reserve(file.tensors().size());
  scale_storage.reserve(file.tensors().size());
  for (const TensorInfo& t : file.tensors()) {
    const int axis = t.shape.size() == 2 ? scale_axis(t.name) : -1;
    if (axis < 0) {
      out.push_back({t.name, t.dtype, t.shape, file.data(t)});
      continue;
    }
    const auto rows = static_cast<std::size_t>(t.shape[0]);
    const auto cols = static_cast<std::size_t>(t.shape[1]);
    std::vector<float> w(rows * cols);
    file.read_as_float32(t, w);
    std::vector<float>& scale = scale_storage.emplace_back(axis == 0 ? rows : cols, 0.0f);
    for (std::size_t r = 0; r < rows; ++r)
      for (std::size_t c = 0; c < cols; ++c) {
        float& m = scale[axis == 0 ? r : c];
        m = std::max(m, std::fabs(w[r * cols + c]));
      }
    for (float& s : scale) s /= 127.0f;
    std::vector<std::int8_t>& q = q_storage.emplace_back(rows * cols);
    for (std::size_t r = 0; r < rows; ++r)
      for (std::size_t c = 0; c < cols; ++c) {
        const float s = scale[axis == 0 ? r : c];
        const float v = s > 0.0f ? std::nearbyint(w[r * cols + c] / s) : 0.0f;
        q[r * cols + c] = static_cast<std::int8_t>(std::clamp(v, -127.0f, 127.0f));
      }
    out.push_back({t.name, DType::kI8, t.shape, std::as_bytes(std::span<const std::int8_t>(q))});
    out.push_back({t.name + "_scale",
                   DType::kF32,
                   {static_cast<std::int64_t>(scale.size())},
                   std::as_bytes(std::span<const float>(scale))});
    ++report.tensors_quantized;
  }

  std::filesystem::create_directories(out_dir, ec);
  if (ec)
    throw Error(ErrorCode::kIo,
                out_dir.string() + ": cannot create directory (" + ec.message() + ")");
  for (const auto& entry : std::filesystem::directory_iterator(in_dir)) {
    if (!entry.is_regular_file() || entry.path().filename() == in.weights_file().filename())
      continue;
    std::filesystem::copy_file(entry.path(), out_dir / entry.path().filename(),
                               std::filesystem::copy_options::overwrite_existing, ec);
    if (ec)
      throw Error(ErrorCode::kIo, (out_dir / entry.path().filename()).string() + ": cannot copy (" +
                                      ec.message() + ")");
  }
  std::map<std::string, std::string> metadata = file.metadata();
  metadata["gptrec_quantization"] = "int8, symmetric, per output channel";
  write_safetensors(out_files.weights_file(), out, metadata);
  report.weights_bytes_after = std::filesystem::file_size(out_files.weights_file(), ec);
  return report;
}

}  // namespace gptrec
