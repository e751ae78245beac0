#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "gptrec/error.hpp"
#include "gptrec/model.hpp"
#include "gptrec/sampling.hpp"
#include "test_util.hpp"

using namespace gptrec;

namespace {

std::vector<int> read_ints(const SafetensorsFile& f, const std::string& name) {
  const TensorInfo* t = f.find(name);
  if (t == nullptr || t->dtype != DType::kI64) throw std::runtime_error("missing " + name);
  std::vector<std::int64_t> raw(static_cast<std::size_t>(t->numel()));
  std::memcpy(raw.data(), f.data(*t).data(), raw.size() * 8);
  return {raw.begin(), raw.end()};
}

}  // namespace

TEST(Sampling, TemperatureScalesTheSoftmax) {
  const std::vector<float> logits = {0.0f, 1.0f, 2.0f};
  const auto p1 = sampling_distribution(logits, {1.0f, 0, 1.0f, 0});
  const double z1 = 1 + std::exp(1.0) + std::exp(2.0);
  EXPECT_NEAR(p1[0], 1 / z1, 1e-12);
  EXPECT_NEAR(p1[2], std::exp(2.0) / z1, 1e-12);
  const auto p05 = sampling_distribution(logits, {0.5f, 0, 1.0f, 0});
  const double z05 = 1 + std::exp(2.0) + std::exp(4.0);
  EXPECT_NEAR(p05[1], std::exp(2.0) / z05, 1e-12);
  const auto greedy = sampling_distribution(logits, {0.0f, 0, 1.0f, 0});
  EXPECT_EQ(greedy, (std::vector<double>{0, 0, 1}));
}

TEST(Sampling, TopKKeepsTheKMostLikely) {
  const std::vector<float> logits = {1.0f, 3.0f, 2.0f, 0.0f};
  const auto p = sampling_distribution(logits, {1.0f, 2, 1.0f, 0});
  EXPECT_EQ(p[0], 0.0);
  EXPECT_EQ(p[3], 0.0);
  EXPECT_NEAR(p[1], std::exp(3.0) / (std::exp(3.0) + std::exp(2.0)), 1e-12);
  EXPECT_NEAR(p[1] + p[2], 1.0, 1e-12);
}

TEST(Sampling, TopPKeepsTheSmallestSetReachingP) {
  // Probabilities 0.5, 0.3, 0.15, 0.05 (from their logs).
  const std::vector<float> logits = {std::log(0.15f), std::log(0.5f), std::log(0.05f),
                                     std::log(0.3f)};
  auto p = sampling_distribution(logits, {1.0f, 0, 0.75f, 0});  // 0.5 + 0.3 reaches 0.75
  EXPECT_NEAR(p[1], 0.5 / 0.8, 1e-6);
  EXPECT_NEAR(p[3], 0.3 / 0.8, 1e-6);
  EXPECT_EQ(p[0], 0.0);
  EXPECT_EQ(p[2], 0.0);
  p = sampling_distribution(logits, {1.0f, 0, 0.85f, 0});  // needs the third token too
  EXPECT_NEAR(p[0], 0.15 / 0.95, 1e-6);
  EXPECT_EQ(p[2], 0.0);
  p = sampling_distribution(logits, {1.0f, 0, 0.1f, 0});  // always at least the top token
  EXPECT_EQ(p[1], 1.0);
  // top-k first, then top-p within the k: k = 2 leaves 0.5, 0.3 -> renormalised 0.625, 0.375.
  p = sampling_distribution(logits, {1.0f, 2, 0.6f, 0});
  EXPECT_EQ(p[1], 1.0);
}

TEST(Sampling, RejectsBadOptions) {
  const std::vector<float> logits = {0.0f, 1.0f};
  EXPECT_THROW(sampling_distribution(logits, {-1.0f, 0, 1.0f, 0}), Error);
  EXPECT_THROW(sampling_distribution(logits, {1.0f, -1, 1.0f, 0}), Error);
  EXPECT_THROW(sampling_distribution(logits, {1.0f, 0, 0.0f, 0}), Error);
  EXPECT_THROW(sampling_distribution(logits, {1.0f, 0, 1.5f, 0}), Error);
}

TEST(Sampling, SeededDrawsAreReproducibleAndFollowTheDistribution) {
  const std::vector<float> logits = {std::log(0.1f), std::log(0.2f), std::log(0.7f)};
  Sampler a({1.0f, 0, 1.0f, 42}), b({1.0f, 0, 1.0f, 42}), c({1.0f, 0, 1.0f, 43});
  std::vector<int> counts(3, 0);
  int differ = 0;
  const int n = 20000;
  for (int i = 0; i < n; ++i) {
    const int x = a.sample(logits);
    ASSERT_EQ(x, b.sample(logits));
    differ += x != c.sample(logits);
    ++counts[static_cast<std::size_t>(x)];
  }
  EXPECT_GT(differ, 0);
  // 20000 draws: each frequency within 5 standard deviations of its probability.
  const double p[] = {0.1, 0.2, 0.7};
  for (int k = 0; k < 3; ++k)
    EXPECT_NEAR(counts[static_cast<std::size_t>(k)] / static_cast<double>(n), p[k],
                5 * std::sqrt(p[k] * (1 - p[k]) / n));
}

TEST(Sampling, GreedyDecodingMatchesThePyTorchArgmaxSequence) {
  const Model model = Model::load(test::model_dir("tiny-sinusoidal"));
  const auto expected =
      SafetensorsFile::open(test::model_dir("tiny-sinusoidal") / "expected.safetensors");
  const std::vector<int> prompt = read_ints(expected, "greedy_prompt");
  const std::vector<int> want = read_ints(expected, "greedy_ids");
  Session session(model);
  GenerationOptions o;
  o.max_new_tokens = static_cast<int>(want.size());
  o.sampling.temperature = 0.0f;
  std::vector<int> streamed;
  const auto result = generate(session, prompt, o, [&](int id) {
    streamed.push_back(id);
    return true;
  });
  EXPECT_EQ(result.ids, want);
  EXPECT_EQ(streamed, want);
  EXPECT_EQ(result.reason, StopReason::kMaxTokens);
  // The session holds the prompt and every generated token but the last (never fed back).
  EXPECT_EQ(session.size(), static_cast<int>(prompt.size() + want.size() - 1));
}

TEST(Sampling, GenerationStops) {
  const Model model = Model::load(test::model_dir("tiny-sinusoidal"));
  const auto expected =
      SafetensorsFile::open(test::model_dir("tiny-sinusoidal") / "expected.safetensors");
  const std::vector<int> prompt = read_ints(expected, "greedy_prompt");
  const std::vector<int> want = read_ints(expected, "greedy_ids");
  GenerationOptions o;
  o.max_new_tokens = 100;
  o.sampling.temperature = 0.0f;
  // The first greedy token that differs from the ones before it ends generation, unreturned.
  std::size_t k = 1;
  while (std::find(want.begin(), want.begin() + static_cast<std::ptrdiff_t>(k), want[k]) !=
         want.begin() + static_cast<std::ptrdiff_t>(k))
    ++k;
  o.eos_id = want[k];
  Session s1(model);
  auto r = generate(s1, prompt, o);
  EXPECT_EQ(r.reason, StopReason::kEos);
  EXPECT_EQ(r.ids, std::vector<int>(want.begin(), want.begin() + static_cast<std::ptrdiff_t>(k)));

  o.eos_id.reset();
  Session s2(model);
  // 8 prompt tokens + 56 fed-back new ones fill the 64-token context; the last position's logits
  // give one more token.
  r = generate(s2, prompt, o);
  EXPECT_EQ(r.reason, StopReason::kContextFull);
  EXPECT_EQ(r.ids.size(), 57u);

  Session s3(model);
  int calls = 0;
  r = generate(s3, prompt, o, [&](int) { return ++calls < 2; });
  EXPECT_EQ(r.reason, StopReason::kCallback);
  EXPECT_EQ(r.ids.size(), 2u);

  // Same seed, same sampled text.
  o.sampling = {0.9f, 20, 0.95f, 7};
  Session s4(model), s5(model);
  EXPECT_EQ(generate(s4, prompt, o).ids, generate(s5, prompt, o).ids);
}

TEST(StopMatcher, HoldsBackPossibleStopPrefixes) {
  StopMatcher m({"\n\n", "END"});
  EXPECT_FALSE(m.append("Hello E"));
  EXPECT_EQ(m.take_ready(), "Hello ");  // "E" could start "END"
  EXPECT_FALSE(m.append("Nx"));
  EXPECT_EQ(m.take_ready(), "ENx");
  EXPECT_FALSE(m.append("y\n"));
  EXPECT_EQ(m.take_ready(), "y");
  EXPECT_TRUE(m.append("\nmore"));
  EXPECT_EQ(m.take_ready(), "");
  EXPECT_EQ(m.take_rest(), "");

  StopMatcher k({"END"});
  EXPECT_FALSE(k.append("abcEN"));
  EXPECT_TRUE(k.append("Dtail"));
  EXPECT_EQ(k.take_ready(), "abc");
  StopMatcher none({});
  EXPECT_FALSE(none.append("abc"));
  EXPECT_EQ(none.take_ready(), "abc");
}
