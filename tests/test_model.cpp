#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <functional>

#include "gptrec/error.hpp"
#include "gptrec/model.hpp"
#include "test_util.hpp"

using namespace gptrec;

namespace {

struct Expected {
  std::vector<int> ids;
  std::vector<double> logits;  // (T, V) row-major
  int vocab = 0;
};

// Reads expected.safetensors, written by tools/make_fixtures.py from the PyTorch reference.
Expected read_expected(const std::string& name) {
  const auto f = SafetensorsFile::open(test::model_dir(name) / "expected.safetensors");
  Expected e;
  const TensorInfo* ids = f.find("ids");
  const TensorInfo* logits = f.find("logits");
  if (ids == nullptr || logits == nullptr || ids->dtype != DType::kI64 ||
      logits->dtype != DType::kF64)
    throw std::runtime_error("bad expected.safetensors in " + name);
  std::vector<std::int64_t> raw(static_cast<std::size_t>(ids->numel()));
  std::memcpy(raw.data(), f.data(*ids).data(), raw.size() * 8);
  e.ids.assign(raw.begin(), raw.end());
  e.logits.resize(static_cast<std::size_t>(logits->numel()));
  std::memcpy(e.logits.data(), f.data(*logits).data(), e.logits.size() * 8);
  e.vocab = static_cast<int>(logits->shape[1]);
  return e;
}

double max_abs_diff(ConstMatrixRef got, const std::vector<double>& want,
                    Eigen::Index first_row = 0) {
  double worst = 0;
  for (Eigen::Index r = 0; r < got.rows(); ++r)
    for (Eigen::Index c = 0; c < got.cols(); ++c)
      worst = std::max(worst,
                       std::fabs(static_cast<double>(got(r, c)) -
                                 want[static_cast<std::size_t>((first_row + r) * got.cols() + c)]));
  return worst;
}

double max_abs_diff(ConstMatrixRef a, ConstMatrixRef b) {
  EXPECT_EQ(a.rows(), b.rows());
  EXPECT_EQ(a.cols(), b.cols());
  return (a - b).cwiseAbs().maxCoeff();
}

}  // namespace

class GoldenLogits : public ::testing::TestWithParam<std::pair<std::string, double>> {};

TEST_P(GoldenLogits, MatchPyTorchReference) {
  const auto& [name, tolerance] = GetParam();
  const Model model = Model::load(test::model_dir(name));
  const Expected e = read_expected(name);
  ASSERT_EQ(e.vocab, model.config().vocab_size);
  Session session(model);
  const RowMatrix logits = session.append(e.ids);
  ASSERT_EQ(logits.rows(), static_cast<Eigen::Index>(e.ids.size()));
  const double diff = max_abs_diff(logits, e.logits);
  EXPECT_LE(diff, tolerance) << name;
  // The fixture must be able to fail: logits vary by several units across the vocabulary.
  EXPECT_GT(logits.row(0).maxCoeff() - logits.row(0).minCoeff(), 1.0f);
  std::printf("%s: max |logit - reference| = %.3g over %td x %td logits\n", name.c_str(), diff,
              logits.rows(), logits.cols());
}

INSTANTIATE_TEST_SUITE_P(Fixtures, GoldenLogits,
                         ::testing::Values(std::make_pair("tiny-learned", 1e-4),
                                           std::make_pair("tiny-sinusoidal", 1e-4),
                                           std::make_pair("tiny-learned-f16", 1e-3),
                                           std::make_pair("tiny-bf16", 1e-3),
                                           std::make_pair("tiny-items", 1e-4)),
                         [](const auto& info) {
                           std::string n = info.param.first;
                           for (char& ch : n)
                             if (ch == '-') ch = '_';
                           return n;
                         });

TEST(Model, ReportsWhatItLoaded) {
  const Model learned = Model::load(test::model_dir("tiny-learned"));
  EXPECT_TRUE(learned.info().tied_head);
  EXPECT_EQ(learned.info().tensor_prefix, "transformer.");
  EXPECT_EQ(learned.info().dtypes, std::vector<std::string>{"F32"});
  // wte + wpe + 2 blocks x (2 LN + qkv + proj + fc + proj) + ln_f.
  const std::int64_t block =
      2 * 64 * 2 + (64 * 192 + 192) + (64 * 64 + 64) + (64 * 256 + 256) + (256 * 64 + 64);
  EXPECT_EQ(learned.info().parameter_count, 500 * 64 + 64 * 64 + 2 * block + 2 * 64);
  const Model sinus = Model::load(test::model_dir("tiny-sinusoidal"));
  EXPECT_FALSE(sinus.info().tied_head);
  EXPECT_EQ(sinus.config().position_encoding, PositionEncoding::kSinusoidal);
  EXPECT_EQ(Model::load(test::model_dir("tiny-bf16")).info().dtypes,
            std::vector<std::string>{"BF16"});
}

class Incremental : public ::testing::TestWithParam<std::string> {};

TEST_P(Incremental, KvCachedDecodeEqualsFullForward) {
  const Model model = Model::load(test::model_dir(GetParam()));
  const Expected e = read_expected(GetParam());
  Session full(model);
  const RowMatrix all = full.append(e.ids);

  // Prefill 10 tokens, then one token at a time.
  Session step(model);
  const std::span<const int> ids(e.ids);
  RowMatrix prefix = step.append(ids.first(10));
  EXPECT_LE(max_abs_diff(prefix, all.topRows(10)), 1e-5);
  for (std::size_t t = 10; t < ids.size(); ++t) {
    const RowMatrix one = step.append(ids.subspan(t, 1));
    ASSERT_LE(max_abs_diff(one, all.row(static_cast<Eigen::Index>(t))), 1e-5) << "position " << t;
  }
  EXPECT_EQ(step.size(), static_cast<int>(ids.size()));

  // Uneven chunks, asking for the last row only.
  Session chunks(model);
  for (std::size_t t = 0; t < ids.size(); t += 7) {
    const auto n = std::min<std::size_t>(7, ids.size() - t);
    const RowMatrix last = chunks.append(ids.subspan(t, n), Logits::kLast);
    ASSERT_EQ(last.rows(), 1);
    ASSERT_LE(max_abs_diff(last, all.row(static_cast<Eigen::Index>(t + n - 1))), 1e-5);
  }

  // The last few rows only.
  Session last3(model);
  const RowMatrix tail = last3.append_last(ids.first(30), 3);
  EXPECT_LE(max_abs_diff(tail, all.middleRows(27, 3)), 1e-5);
  EXPECT_THROW(last3.append_last(ids.subspan(30, 2), 3), Error);
  EXPECT_EQ(last3.size(), 30);

  // Truncating rewinds: re-running the tail gives the same logits.
  step.truncate(20);
  const RowMatrix again = step.append(ids.subspan(20, 5));
  EXPECT_LE(max_abs_diff(again, all.middleRows(20, 5)), 1e-5);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, Incremental,
                         ::testing::Values("tiny-learned", "tiny-sinusoidal"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& ch : n)
                             if (ch == '-') ch = '_';
                           return n;
                         });

TEST(Model, BatchEqualsOneByOne) {
  const Model model = Model::load(test::model_dir("tiny-sinusoidal"));
  const Expected e = read_expected("tiny-sinusoidal");
  const std::vector<std::vector<int>> seqs = {
      {e.ids.begin(), e.ids.begin() + 5},
      {e.ids.begin() + 3, e.ids.end()},
      {e.ids[7]},
      {e.ids.begin() + 10, e.ids.begin() + 40},
  };
  for (const Logits which : {Logits::kAll, Logits::kLast}) {
    const auto batch = forward_batch(model, seqs, which);
    ASSERT_EQ(batch.size(), seqs.size());
    for (std::size_t i = 0; i < seqs.size(); ++i) {
      Session s(model);
      const RowMatrix alone = s.append(seqs[i], which);
      EXPECT_LE(max_abs_diff(batch[i], alone), 1e-5) << "sequence " << i;
    }
  }
}

// Continuations of a session's positions equal running the prefix and the continuation in a
// Session of their own; the session keeps its positions.
TEST(Model, ContinuationsEqualTheirOwnSessions) {
  const Model model = Model::load(test::model_dir("tiny-sinusoidal"));
  const Expected e = read_expected("tiny-sinusoidal");
  const std::vector<int> history(e.ids.begin(), e.ids.begin() + 20);
  Session base(model);
  base.append(history);
  const std::vector<std::vector<int>> tokens = {
      {e.ids.begin() + 20, e.ids.begin() + 25},  // after the whole history
      {e.ids[3], e.ids[9], e.ids[1]},            // after its first 7 positions
      {e.ids[30]},                               // after none of it
  };
  const std::vector<int> prefixes = {20, 7, 0};
  std::vector<Continuation> continuations;
  for (std::size_t i = 0; i < tokens.size(); ++i)
    continuations.push_back(Continuation{tokens[i], prefixes[i]});
  for (const Logits which : {Logits::kAll, Logits::kLast}) {
    const RowMatrix batch = base.continue_batch(continuations, which);
    Eigen::Index row = 0;
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      std::vector<int> whole(history.begin(), history.begin() + prefixes[i]);
      whole.insert(whole.end(), tokens[i].begin(), tokens[i].end());
      Session alone(model);
      const RowMatrix all = alone.append(whole, Logits::kAll);
      const auto rows = which == Logits::kAll ? static_cast<Eigen::Index>(tokens[i].size()) : 1;
      EXPECT_LE(max_abs_diff(batch.middleRows(row, rows), all.bottomRows(rows)), 1e-5)
          << "continuation " << i;
      row += rows;
    }
    EXPECT_EQ(row, batch.rows());
    EXPECT_EQ(base.size(), 20);
  }
  // The last two rows of one continuation.
  const std::vector<Continuation> two_rows = {{tokens[0], 20, 2}};
  const RowMatrix last_two = base.continue_batch(two_rows, Logits::kLast);
  const RowMatrix first_all = base.continue_batch(std::span(continuations).first(1), Logits::kAll);
  EXPECT_LE(max_abs_diff(last_two, first_all.bottomRows(2)), 1e-5);
}

TEST(Model, RejectsBadContinuations) {
  const Model model = Model::load(test::model_dir("tiny-learned"));
  Session base(model);
  base.append(std::vector<int>(10, 1));
  const std::vector<int> ok = {2, 3}, bad_id = {2, 500}, too_long(55, 1);
  auto error_of = [&](Continuation c) {
    try {
      base.continue_batch(std::span<const Continuation>(&c, 1));
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(error_of({ok, 11}).find("prefix of 11 positions outside the session's [0, 10]"),
            std::string::npos);
  EXPECT_NE(error_of({ok, -1}).find("prefix of -1"), std::string::npos);
  EXPECT_NE(error_of({bad_id, 10}).find("token id 500"), std::string::npos);
  EXPECT_NE(error_of({too_long, 10}).find("longer than the model's context of 64"),
            std::string::npos);
  EXPECT_NE(error_of({{}, 10}).find("no tokens"), std::string::npos);
  EXPECT_EQ(error_of({too_long, 9}), "no error");  // 9 + 55 = 64 fits
  EXPECT_EQ(base.size(), 10);
  EXPECT_EQ(base.continue_batch({}).rows(), 0);
}

TEST(Model, RejectsSequencesLongerThanTheContext) {
  const Model model = Model::load(test::model_dir("tiny-learned"));
  Session s(model);
  const std::vector<int> ids(65, 1);
  try {
    s.append(ids);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("longer than the model's context of 64"),
              std::string::npos)
        << e.what();
  }
  EXPECT_EQ(s.size(), 0);  // nothing changed
  s.append(std::vector<int>(60, 1));
  EXPECT_THROW(s.append(std::vector<int>(5, 1)), Error);
  EXPECT_EQ(s.size(), 60);
  EXPECT_NO_THROW(s.append(std::vector<int>(4, 1)));
}

TEST(Model, RejectsTokenIdsOutsideTheVocabulary) {
  const Model model = Model::load(test::model_dir("tiny-learned"));
  Session s(model);
  for (const int bad : {-1, 500}) {
    try {
      s.append(std::vector<int>{1, bad});
      FAIL();
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("token id " + std::to_string(bad) + " at position 1"),
                std::string::npos);
    }
  }
  EXPECT_THROW(s.append(std::vector<int>{}), Error);
}

// Bad model directories: each is a copy of tiny-learned with one thing broken.
class BadModel : public ::testing::Test {
 protected:
  void SetUp() override { test::copy_dir(test::model_dir("tiny-learned"), dir_.path()); }

  // Rewrites model.safetensors through `edit`, which may change or drop tensors.
  void rewrite(
      const std::function<void(std::vector<std::pair<TensorInfo, std::vector<std::byte>>>&)>&
          edit) {
    std::vector<std::pair<TensorInfo, std::vector<std::byte>>> tensors;
    {
      const auto f = SafetensorsFile::open(dir_ / "model.safetensors");
      for (const auto& t : f.tensors()) {
        const auto d = f.data(t);
        tensors.emplace_back(t, std::vector<std::byte>(d.begin(), d.end()));
      }
    }
    edit(tensors);
    std::vector<TensorToWrite> out;
    for (const auto& [t, bytes] : tensors) out.push_back({t.name, t.dtype, t.shape, bytes});
    write_safetensors(dir_ / "model.safetensors", out);
  }

  std::string load_error() {
    try {
      Model::load(dir_.path());
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kBadModel);
      const std::string what = e.what();
      EXPECT_EQ(what.find('\n'), std::string::npos);
      return what;
    }
    ADD_FAILURE() << "loaded a broken model";
    return "";
  }

  test::TempDir dir_;
};

TEST_F(BadModel, MissingDirectory) {
  try {
    Model::load(dir_ / "nope");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("nope: not a model directory"), std::string::npos);
  }
}

TEST_F(BadModel, MissingConfig) {
  std::filesystem::remove(dir_ / "config.json");
  EXPECT_NE(load_error().find("config.json: cannot open"), std::string::npos);
}

TEST_F(BadModel, MissingWeightsFile) {
  std::filesystem::remove(dir_ / "model.safetensors");
  EXPECT_NE(load_error().find("model.safetensors: missing"), std::string::npos);
}

TEST_F(BadModel, TruncatedWeightsFile) {
  const auto size = std::filesystem::file_size(dir_ / "model.safetensors");
  std::filesystem::resize_file(dir_ / "model.safetensors", size - 100);
  const std::string e = load_error();
  EXPECT_NE(e.find("model.safetensors: tensor "), std::string::npos) << e;
  EXPECT_NE(e.find("run past the end of the data"), std::string::npos) << e;
}

TEST_F(BadModel, MissingTensor) {
  rewrite([](auto& ts) {
    std::erase_if(ts,
                  [](const auto& t) { return t.first.name == "transformer.h.1.mlp.c_fc.bias"; });
  });
  EXPECT_NE(load_error().find("model.safetensors: missing tensor transformer.h.1.mlp.c_fc.bias"),
            std::string::npos);
}

TEST_F(BadModel, ShapeNotMatchingConfig) {
  rewrite([](auto& ts) {
    for (auto& [t, bytes] : ts)
      if (t.name == "transformer.h.0.attn.c_attn.weight") {
        t.shape = {192, 64};  // [out, in]: a Linear layout where Conv1D's [in, out] is expected
      }
  });
  const std::string e = load_error();
  EXPECT_NE(
      e.find("tensor transformer.h.0.attn.c_attn.weight: shape [192, 64], expected [64, 192]"),
      std::string::npos)
      << e;
}

TEST_F(BadModel, ConfigDisagreeingWithWeights) {
  std::string config = test::read_file(dir_ / "config.json");
  config.replace(config.find("\"vocab_size\": 500"), 17, "\"vocab_size\": 501");
  test::write_file(dir_ / "config.json", config);
  EXPECT_NE(load_error().find("tensor transformer.wte.weight: shape [500, 64], expected [501, 64]"),
            std::string::npos);
}

TEST_F(BadModel, NonFloatWeights) {
  rewrite([](auto& ts) {
    for (auto& [t, bytes] : ts)
      if (t.name == "transformer.ln_f.bias") t.dtype = DType::kI32;
  });
  EXPECT_NE(load_error().find("tensor transformer.ln_f.bias: dtype I32 is not supported"),
            std::string::npos);
}

TEST_F(BadModel, NanWeights) {
  rewrite([](auto& ts) {
    for (auto& [t, bytes] : ts)
      if (t.name == "transformer.h.0.ln_2.weight") {
        const float nan = std::nanf("");
        std::memcpy(bytes.data() + 4 * 3, &nan, 4);
      }
  });
  EXPECT_NE(load_error().find("tensor transformer.h.0.ln_2.weight: element 3 is NaN"),
            std::string::npos);
}

TEST_F(BadModel, LearnedPositionsInASinusoidalModel) {
  std::string config = test::read_file(dir_ / "config.json");
  config.replace(config.find("\"learned\""), 9, "\"sinusoidal\"");
  test::write_file(dir_ / "config.json", config);
  EXPECT_NE(load_error().find("wpe.weight is present but config.json says position_encoding"),
            std::string::npos);
}

TEST_F(BadModel, UnknownActivation) {
  std::string config = test::read_file(dir_ / "config.json");
  config.replace(config.find("\"gelu_new\""), 10, "\"swish\"");
  test::write_file(dir_ / "config.json", config);
  EXPECT_NE(load_error().find("config.json: \"activation_function\": unsupported value \"swish\""),
            std::string::npos);
}

TEST(Model, LargeMatricesCopiedAtLoadKeepTheFilesValues) {
  // Width 16 with GPT-2's vocabulary: the tied embedding and head (50257 x 16 floats, 3.2 MB) is
  // above the 1 MiB from which float32 matrices are copied into huge pages at load.
  test::TempDir tmp;
  test::write_random_gpt2_model(tmp.path(), 32);
  const Model model = Model::load(tmp.path());
  const auto file = SafetensorsFile::open(tmp.path() / "model.safetensors");
  const TensorInfo* wte = file.find("wte.weight");
  ASSERT_NE(wte, nullptr);
  std::vector<float> want(static_cast<std::size_t>(wte->numel()));
  file.read_as_float32(*wte, want);
  const WeightTensor& got = model.weights().wte;
  EXPECT_EQ(model.weights().head.data, got.data);  // tied: one copy serves both
  EXPECT_NE(reinterpret_cast<const std::byte*>(got.data), file.data(*wte).data());
  ASSERT_EQ(static_cast<std::size_t>(got.rows * got.cols), want.size());
  EXPECT_EQ(std::memcmp(got.data, want.data(), want.size() * sizeof(float)), 0);
  // And the model computes from them: a session equals the batch path, which is checked against
  // the PyTorch reference on the fixtures.
  const std::vector<std::vector<int>> seqs = {{50256, 17, 4242, 9}};
  Session s(model);
  const RowMatrix one = s.append(seqs[0]);
  EXPECT_LE(max_abs_diff(one, forward_batch(model, seqs)[0]), 1e-5);
}
