// Fuzz target: a safetensors image (header length, JSON header, data) through
// SafetensorsFile::from_bytes, every floating-point tensor through read_as_float32, then
// Model::from_parts with a tiny config (learned and sinusoidal positions) so that names, shapes,
// dtypes and values are checked as a model load checks them, and one forward pass on success.
//
// Properties: a bad image is an Error(kBadModel) naming the source; an accepted tensor lies inside
// the data and its byte size is numel * dtype size; tensors never overlap.
#include <cstdint>
#include <span>
#include <vector>

#include "../fuzz_check.hpp"
#include "gptrec/model.hpp"
#include "gptrec/safetensors.hpp"

using namespace gptrec;

namespace {

constexpr const char* kSource = "model.safetensors";

// The shapes the seeds in corpus/ are written for (tests/fuzz/make_seeds.py): V=5, N=3, C=4, I=8.
ModelConfig tiny_config(PositionEncoding positions) {
  ModelConfig c;
  c.vocab_size = 5;
  c.n_ctx = 3;
  c.n_embd = 4;
  c.n_layer = 1;
  c.n_head = 2;
  c.n_inner = 8;
  c.position_encoding = positions;
  return c;
}

void check_tensors(const SafetensorsFile& f, std::size_t image_size) {
  std::uint64_t data_bytes = 0;
  for (const TensorInfo& t : f.tensors()) {
    FUZZ_CHECK(t.begin <= t.end);
    FUZZ_CHECK(t.end <= image_size);
    FUZZ_CHECK(t.numel() >= 0);
    FUZZ_CHECK(t.end - t.begin == static_cast<std::uint64_t>(t.numel()) * dtype_size(t.dtype));
    FUZZ_CHECK(f.data(t).size() == t.end - t.begin);
    data_bytes += t.end - t.begin;
    if (t.dtype == DType::kF32 || t.dtype == DType::kF16 || t.dtype == DType::kBF16 ||
        t.dtype == DType::kF64) {
      std::vector<float> values(static_cast<std::size_t>(t.numel()));
      f.read_as_float32(t, values);
    }
  }
  FUZZ_CHECK(data_bytes <= image_size);  // no two tensors share bytes
}

void try_model(std::span<const std::byte> bytes, PositionEncoding positions) {
  try {
    Model m =
        Model::from_parts(tiny_config(positions), SafetensorsFile::from_bytes(bytes, kSource));
    Session s(m);
    const int ids[] = {0, 4, 2};
    const ConstMatrixRef logits = s.append(ids, Logits::kAll);
    FUZZ_CHECK(logits.rows() == 3 && logits.cols() == 5);
  } catch (const Error& e) {
    fuzz::check_error(e, ErrorCode::kBadModel, kSource);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto bytes = std::as_bytes(std::span<const std::uint8_t>(data, size));
  try {
    const SafetensorsFile f = SafetensorsFile::from_bytes(bytes, kSource);
    check_tensors(f, size);
  } catch (const Error& e) {
    fuzz::check_error(e, ErrorCode::kBadModel, kSource);
    return 0;
  }
  try_model(bytes, PositionEncoding::kLearned);
  try_model(bytes, PositionEncoding::kSinusoidal);
  return 0;
}
