// F16 and BF16 weights kept half-size and widened as the products read them: the results equal
// those of the same weights widened to float32 at load, to float32 rounding (the order of the
// additions differs). The kernels are checked against float32 products on shapes that exercise
// every path (streamed rows, widened slices, column and row remainders, one and two threads);
// the models against a float32 copy of the same weights; the shipped F16 item models against
// their float32 copy, suggestion by suggestion.
#include <gtest/gtest.h>

#include <fstream>
#include <random>

#include "gptrec/history.hpp"
#include "gptrec/layers.hpp"
#include "gptrec/model.hpp"
#include "gptrec/recommender.hpp"
#include "gptrec/safetensors.hpp"
#include "test_util.hpp"

using namespace gptrec;

namespace {

std::filesystem::path repo() { return test::data_dir() / ".." / ".."; }

// Half bits of x (round to nearest even) as stored in an F16 or BF16 file.
std::uint16_t to_half(float x, bool bf16) {
  if (bf16) return Eigen::numext::bit_cast<std::uint16_t>(Eigen::bfloat16(x));
  return Eigen::numext::bit_cast<std::uint16_t>(Eigen::half(x));
}

float from_half(std::uint16_t h, bool bf16) {
  return bf16 ? static_cast<float>(Eigen::numext::bit_cast<Eigen::bfloat16>(h))
              : static_cast<float>(Eigen::numext::bit_cast<Eigen::half>(h));
}

RowMatrix random_matrix(Eigen::Index rows, Eigen::Index cols, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  RowMatrix m(rows, cols);
  for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = normal(rng);
  return m;
}

// |a - b| <= 1e-5 * (1 + the largest |b|): float32 rounding of sums of a few hundred products.
void expect_float32_equal(const RowMatrix& a, const RowMatrix& b, const std::string& what) {
  ASSERT_EQ(a.rows(), b.rows()) << what;
  ASSERT_EQ(a.cols(), b.cols()) << what;
  const float tolerance = 1e-5f * (1.0f + b.cwiseAbs().maxCoeff());
  EXPECT_LE((a - b).cwiseAbs().maxCoeff(), tolerance) << what;
}

// A copy of a model directory whose half tensors are widened to F32 (what loading did before
// half weights were kept).
void write_float32_copy(const std::filesystem::path& from, const std::filesystem::path& to) {
  test::copy_dir(from, to);
  const SafetensorsFile file = SafetensorsFile::open(from / "model.safetensors");
  std::vector<std::vector<float>> widened;
  std::vector<TensorToWrite> tensors;
  widened.reserve(file.tensors().size());
  for (const TensorInfo& t : file.tensors()) {
    TensorToWrite w{t.name, t.dtype, t.shape, file.data(t)};
    if (t.dtype == DType::kF16 || t.dtype == DType::kBF16) {
      widened.emplace_back(static_cast<std::size_t>(t.numel()));
      file.read_as_float32(t, widened.back());
      w.dtype = DType::kF32;
      w.data = std::as_bytes(std::span<const float>(widened.back()));
    }
    tensors.push_back(w);
  }
  write_safetensors(to / "model.safetensors", tensors, file.metadata());
}

}  // namespace

class HalfKernels : public ::testing::TestWithParam<bool> {};

TEST_P(HalfKernels, LinearEqualsTheWidenedFloat32Product) {
  const bool bf16 = GetParam();
  // n = 200: three blocks of 64 columns and a remainder of 8; k = 37: no multiple of 16.
  for (const auto& [k, n] : {std::pair<Eigen::Index, Eigen::Index>{37, 200}, {64, 128}}) {
    const RowMatrix w32 = random_matrix(k, n, 1);
    std::vector<std::uint16_t> bits(static_cast<std::size_t>(k * n));
    RowMatrix widened(k, n);
    for (Eigen::Index i = 0; i < k * n; ++i) {
      bits[static_cast<std::size_t>(i)] = to_half(w32.data()[i], bf16);
      widened.data()[i] = from_half(bits[static_cast<std::size_t>(i)], bf16);
    }
    const Eigen::RowVectorXf bias = random_matrix(1, n, 2);
    const HalfMatrix w{bits.data(), k, n, bf16};
    for (const Eigen::Index rows : {1, 2, 3, 4, 5, 9, 130}) {
      const RowMatrix x = random_matrix(rows, k, 3 + static_cast<unsigned>(rows));
      RowMatrix expected = x * widened;
      expected.rowwise() += bias;
      for (const int threads : {1, 2}) {
        RowMatrix out(rows, n);
        linear_half(x, w, bias.data(), out, threads);
        expect_float32_equal(out, expected,
                             "rows " + std::to_string(rows) + " threads " +
                                 std::to_string(threads) + " k " + std::to_string(k));
        linear_half(x, w, nullptr, out, threads);
        expect_float32_equal(out, x * widened, "no bias, rows " + std::to_string(rows));
      }
    }
  }
}

TEST_P(HalfKernels, TransposedProductEqualsTheWidenedFloat32Product) {
  const bool bf16 = GetParam();
  // A (n, k) head: n = 150 outputs (no multiple of 16), k = 40 inputs (16 + 16 + 8).
  const Eigen::Index n = 150, k = 40;
  const RowMatrix w32 = random_matrix(n, k, 5);
  std::vector<std::uint16_t> bits(static_cast<std::size_t>(n * k));
  RowMatrix widened(n, k);
  for (Eigen::Index i = 0; i < n * k; ++i) {
    bits[static_cast<std::size_t>(i)] = to_half(w32.data()[i], bf16);
    widened.data()[i] = from_half(bits[static_cast<std::size_t>(i)], bf16);
  }
  const HalfMatrix w{bits.data(), n, k, bf16};
  for (const Eigen::Index rows : {1, 3, 4, 7, 300}) {
    const RowMatrix x = random_matrix(rows, k, 6 + static_cast<unsigned>(rows));
    for (const int threads : {1, 2}) {
      RowMatrix out(rows, n);
      matmul_transposed_half(x, w, out, threads);
      expect_float32_equal(out, x * widened.transpose(), "rows " + std::to_string(rows));
    }
  }
  std::vector<float> row(static_cast<std::size_t>(k));
  widen_half_row(w, 17, row.data());
  for (Eigen::Index i = 0; i < k; ++i) EXPECT_EQ(row[static_cast<std::size_t>(i)], widened(17, i));
}

INSTANTIATE_TEST_SUITE_P(Types, HalfKernels, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "BF16" : "F16"; });

class HalfModels : public ::testing::TestWithParam<std::string> {};

// Every pass (a prompt, decode steps, chunks of 2-4 rows that take the streaming path, packed
// sequences, last rows only) equals the float32 copy's.
TEST_P(HalfModels, EqualTheirFloat32Copy) {
  const test::TempDir tmp;
  write_float32_copy(test::model_dir(GetParam()), tmp / "f32");
  const Model half = Model::load(test::model_dir(GetParam()));
  const Model f32 = Model::load(tmp / "f32");
  const ModelWeights& w = half.weights();
  EXPECT_TRUE(w.wte.half_precision());
  EXPECT_TRUE(w.head.half_precision());
  EXPECT_TRUE(w.blocks[0].attn_qkv_weight.half_precision());
  EXPECT_TRUE(w.blocks[0].mlp_proj_weight.half_precision());
  EXPECT_FALSE(f32.weights().wte.half_precision());

  std::vector<int> ids;
  for (int i = 0; i < 40; ++i) ids.push_back((i * 37 + 11) % half.config().vocab_size);
  Session a(half), b(f32);
  expect_float32_equal(a.append(std::span(ids).first(9)), b.append(std::span(ids).first(9)),
                       "prompt");
  for (std::size_t t = 9; t < 14; ++t)
    expect_float32_equal(a.append(std::span(ids).subspan(t, 1)),
                         b.append(std::span(ids).subspan(t, 1)), "decode " + std::to_string(t));
  for (std::size_t t = 14, n = 2; n <= 4; t += n, ++n)
    expect_float32_equal(a.append(std::span(ids).subspan(t, n)),
                         b.append(std::span(ids).subspan(t, n)), "chunk of " + std::to_string(n));
  const std::vector<std::vector<int>> seqs = {{ids.begin(), ids.begin() + 30}, {ids[3], ids[5]}};
  for (const Logits which : {Logits::kAll, Logits::kLast}) {
    const auto x = forward_batch(half, seqs, which), y = forward_batch(f32, seqs, which);
    for (std::size_t i = 0; i < seqs.size(); ++i)
      expect_float32_equal(x[i], y[i], "packed sequence " + std::to_string(i));
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, HalfModels, ::testing::Values("tiny-learned-f16", "tiny-bf16"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& ch : n)
                             if (ch == '-') ch = '_';
                           return n;
                         });

// The shipped F16 item model suggests what its float32 copy suggests (the same items in the same
// order, probabilities equal to float32 rounding) to every customer of the shipped sample.
TEST(HalfModels, ShippedItemModelSuggestsAsItsFloat32Copy) {
  const test::TempDir tmp;
  const auto shipped = repo() / "models" / "online-retail";
  write_float32_copy(shipped, tmp / "f32");
  const Recommender half = Recommender::load(shipped);
  const Recommender f32 = Recommender::load(tmp / "f32");
  ASSERT_TRUE(half.model().weights().head.half_precision());
  std::ifstream in(repo() / "examples" / "online-retail-sample.jsonl");
  std::string line;
  int customers = 0;
  RecommendOptions options;
  options.top_n = 10;
  while (std::getline(in, line)) {
    const History h = parse_history(line, "sample");
    const Recommendations a = half.recommend(h, options), b = f32.recommend(h, options);
    ASSERT_EQ(a.suggestions.size(), b.suggestions.size()) << h.customer_id;
    for (std::size_t k = 0; k < a.suggestions.size(); ++k) {
      EXPECT_EQ(a.suggestions[k].item->id, b.suggestions[k].item->id)
          << h.customer_id << " rank " << k + 1;
      EXPECT_NEAR(a.suggestions[k].score, b.suggestions[k].score, 1e-4 * b.suggestions[k].score)
          << h.customer_id << " rank " << k + 1;
    }
    ++customers;
  }
  EXPECT_EQ(customers, 300);
}
