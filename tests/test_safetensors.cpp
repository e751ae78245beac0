#include <gtest/gtest.h>

#include <cstring>
#include <nlohmann/json.hpp>

#include "gptrec/error.hpp"
#include "gptrec/safetensors.hpp"
#include "test_util.hpp"

using namespace gptrec;

namespace {

std::span<const std::byte> as_bytes(const std::vector<float>& v) {
  return std::as_bytes(std::span<const float>(v));
}

// A hand-made image: 8-byte length, the header text as given, then `data_bytes` zero bytes.
std::vector<std::byte> image(const std::string& header, std::size_t data_bytes,
                             std::uint64_t declared_length = UINT64_MAX) {
  const std::uint64_t n = declared_length == UINT64_MAX ? header.size() : declared_length;
  std::vector<std::byte> out(8 + header.size() + data_bytes, std::byte{0});
  for (int i = 0; i < 8; ++i) out[i] = static_cast<std::byte>((n >> (8 * i)) & 0xff);
  std::memcpy(out.data() + 8, header.data(), header.size());
  return out;
}

std::string error_of(const std::vector<std::byte>& bytes) {
  try {
    SafetensorsFile::from_bytes(bytes, "weights.safetensors");
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kBadModel);
    EXPECT_EQ(std::string(e.what()).rfind("weights.safetensors: ", 0), 0u) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "accepted a bad file";
  return "";
}

}  // namespace

TEST(Safetensors, WritesAndReadsBack) {
  const std::vector<float> a = {1.0f, -2.5f, 3.25f, 0.0f, 5.0f, 6.0f};
  const std::vector<float> b = {7.0f};
  const std::vector<TensorToWrite> tensors = {{"a", DType::kF32, {2, 3}, as_bytes(a)},
                                              {"b.bias", DType::kF32, {1}, as_bytes(b)}};
  test::TempDir tmp;
  write_safetensors(tmp / "w.safetensors", tensors, {{"format", "pt"}});
  const auto f = SafetensorsFile::open(tmp / "w.safetensors");
  ASSERT_EQ(f.tensors().size(), 2u);
  EXPECT_EQ(f.metadata().at("format"), "pt");
  const TensorInfo* t = f.find("a");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->shape, (std::vector<std::int64_t>{2, 3}));
  std::vector<float> out(6);
  f.read_as_float32(*t, out);
  EXPECT_EQ(out, a);
  EXPECT_EQ(f.find("missing"), nullptr);
}

TEST(Safetensors, ConvertsHalfAndBfloat16) {
  // 1.0, -2.0, 0.5, 65504 (largest half) in F16; 1.0, -2.0, 3.140625 in BF16.
  const std::uint16_t half_bits[] = {0x3C00, 0xC000, 0x3800, 0x7BFF};
  const std::uint16_t bf16_bits[] = {0x3F80, 0xC000, 0x4049};
  const std::vector<TensorToWrite> tensors = {
      {"h", DType::kF16, {4}, std::as_bytes(std::span(half_bits))},
      {"b", DType::kBF16, {3}, std::as_bytes(std::span(bf16_bits))}};
  const auto bytes = serialize_safetensors(tensors);
  const auto f = SafetensorsFile::from_bytes(bytes, "mem");
  std::vector<float> h(4), b(3);
  f.read_as_float32(*f.find("h"), h);
  f.read_as_float32(*f.find("b"), b);
  EXPECT_EQ(h, (std::vector<float>{1.0f, -2.0f, 0.5f, 65504.0f}));
  EXPECT_EQ(b, (std::vector<float>{1.0f, -2.0f, 3.140625f}));
}

TEST(Safetensors, MissingFile) {
  try {
    SafetensorsFile::open("/nonexistent/model.safetensors");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/model.safetensors: cannot open"),
              std::string::npos);
  }
}

TEST(Safetensors, TruncatedBeforeHeaderLength) {
  EXPECT_NE(error_of(std::vector<std::byte>(5)).find("truncated"), std::string::npos);
}

TEST(Safetensors, HeaderLengthBeyondFile) {
  EXPECT_NE(error_of(image("{}", 0, 1000)).find("runs past the end"), std::string::npos);
  EXPECT_NE(error_of(image("{}", 0, UINT64_MAX - 1)).find("runs past the end"), std::string::npos);
}

TEST(Safetensors, MalformedHeaderJson) {
  EXPECT_NE(error_of(image("{\"a\": [", 0)).find("not valid JSON"), std::string::npos);
  EXPECT_NE(error_of(image("[1,2]", 0)).find("not a JSON object"), std::string::npos);
}

TEST(Safetensors, UnknownDtype) {
  const auto e =
      error_of(image(R"({"w": {"dtype": "F8", "shape": [1], "data_offsets": [0, 1]}})", 1));
  EXPECT_NE(e.find("tensor w: unknown dtype \"F8\""), std::string::npos) << e;
}

TEST(Safetensors, OffsetsOutOfRange) {
  const auto e =
      error_of(image(R"({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}})", 8));
  EXPECT_NE(e.find("tensor w: data_offsets [0,16] run past the end"), std::string::npos) << e;
  EXPECT_NE(error_of(image(R"({"w": {"dtype": "F32", "shape": [0], "data_offsets": [8, 4]}})", 8))
                .find("end before they begin"),
            std::string::npos);
}

TEST(Safetensors, SizeNotMatchingShape) {
  const auto e =
      error_of(image(R"({"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}})", 8));
  EXPECT_NE(e.find("tensor w: holds 8 bytes, but dtype F32 and shape [3] need 12"),
            std::string::npos)
      << e;
}

TEST(Safetensors, ShapeWhoseProductOverflows) {
  const auto e = error_of(image(
      R"({"w": {"dtype": "F32", "shape": [4294967296, 4294967296, 16], "data_offsets": [0, 0]}})",
      0));
  EXPECT_NE(e.find("holds more elements than the file"), std::string::npos) << e;
}

TEST(Safetensors, OverlappingTensors) {
  const auto e = error_of(image(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                                    "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})",
                                12));
  EXPECT_NE(e.find("tensors a and b overlap"), std::string::npos) << e;
}

TEST(Safetensors, NonFloatTensorCannotBeReadAsFloat) {
  const std::int32_t v[] = {1, 2};
  const std::vector<TensorToWrite> t = {{"i", DType::kI32, {2}, std::as_bytes(std::span(v))}};
  const auto f = SafetensorsFile::from_bytes(serialize_safetensors(t), "mem");
  std::vector<float> out(2);
  EXPECT_THROW(f.read_as_float32(*f.find("i"), out), Error);
}

TEST(Safetensors, ReleasedPagesReadBackFromTheFile) {
  std::vector<float> a(100000);
  for (std::size_t i = 0; i < a.size(); ++i) a[i] = static_cast<float>(i) * 0.5f;
  const std::vector<TensorToWrite> tensors = {{"a", DType::kF32, {100000}, as_bytes(a)}};
  test::TempDir tmp;
  write_safetensors(tmp / "w.safetensors", tensors);
  const auto f = SafetensorsFile::open(tmp / "w.safetensors");
  const TensorInfo* t = f.find("a");
  ASSERT_NE(t, nullptr);
  std::vector<float> before(a.size()), after(a.size());
  f.read_as_float32(*t, before);
  f.release(*t, 4096, 200000);
  f.release(*t);
  f.release(*t, 1u << 30, 10);  // past the end: nothing
  f.read_as_float32(*t, after);
  EXPECT_EQ(before, a);
  EXPECT_EQ(after, a);
}
