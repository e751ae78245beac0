#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "gptrec/layers.hpp"

using namespace gptrec;

TEST(Layers, SinusoidalPositionsFollowTheFormula) {
  const int d = 16, n = 300, first = 1000;
  RowMatrix x = RowMatrix::Zero(n, d);
  add_sinusoidal_positions(first, x);
  double worst = 0;
  for (int t = 0; t < n; ++t)
    for (int i = 0; i < d / 2; ++i) {
      const long double pos = first + t;
      const long double angle = pos / std::pow(10000.0L, (2.0L * i) / d);
      worst =
          std::max<double>(worst, std::fabs(x(t, 2 * i) - static_cast<double>(std::sin(angle))));
      worst = std::max<double>(worst,
                               std::fabs(x(t, 2 * i + 1) - static_cast<double>(std::cos(angle))));
    }
  EXPECT_LE(worst, 1e-6);
  // Position 0: sin 0 = 0 in even columns, cos 0 = 1 in odd ones.
  RowMatrix zero = RowMatrix::Zero(1, d);
  add_sinusoidal_positions(0, zero);
  for (int i = 0; i < d; ++i) EXPECT_FLOAT_EQ(zero(0, i), i % 2 == 0 ? 0.0f : 1.0f);
}

TEST(Layers, GeluForms) {
  RowMatrix a(1, 3), b(1, 3);
  a << -1.0f, 0.0f, 1.0f;
  b = a;
  gelu_tanh(a);
  gelu_exact(b);
  // Reference values: 0.5 x (1 + tanh(sqrt(2/pi)(x + 0.044715 x^3))) and 0.5 x (1 + erf(x/sqrt 2)).
  EXPECT_NEAR(a(0, 2), 0.8411920071, 1e-6);
  EXPECT_NEAR(a(0, 0), -0.1588079929, 1e-6);
  EXPECT_NEAR(b(0, 2), 0.8413447461, 1e-6);
  EXPECT_NEAR(b(0, 0), -0.1586552539, 1e-6);
  EXPECT_EQ(a(0, 1), 0.0f);
}

TEST(Layers, LayerNormNormalisesEachRow) {
  RowMatrix x(2, 4);
  x << 1, 2, 3, 4, -10, 0, 10, 20;
  Eigen::RowVectorXf w = Eigen::RowVectorXf::Constant(4, 2.0f),
                     b = Eigen::RowVectorXf::Constant(4, 0.5f);
  RowMatrix out(2, 4);
  layer_norm(x, ConstRowVectorMap(w.data(), 4), ConstRowVectorMap(b.data(), 4), 1e-5f, out);
  for (int r = 0; r < 2; ++r) {
    const Eigen::ArrayXf y = (out.row(r).array() - 0.5f) / 2.0f;
    EXPECT_NEAR(y.mean(), 0.0, 1e-6);
    EXPECT_NEAR((y - y.mean()).square().mean(), 1.0, 1e-3);
  }
  // Row 0: mean 2.5, variance 1.25.
  EXPECT_NEAR(out(0, 0), 0.5 + 2.0 * (1 - 2.5) / std::sqrt(1.25 + 1e-5), 1e-5);
}

TEST(Layers, SoftmaxGivesMaskedEntriesZero) {
  RowMatrix x(1, 3);
  x << 1000.0f, 1000.0f, -std::numeric_limits<float>::infinity();
  softmax_rows(x);
  EXPECT_FLOAT_EQ(x(0, 0), 0.5f);
  EXPECT_FLOAT_EQ(x(0, 1), 0.5f);
  EXPECT_EQ(x(0, 2), 0.0f);
}

TEST(Layers, LogSoftmaxByHand) {
  // log(e^1 + e^2 + e^3) = 3 + log(1 + e^-1 + e^-2) = 3.40760596444438.
  const std::vector<float> x = {1.0f, 2.0f, 3.0f};
  EXPECT_NEAR(log_sum_exp(x), 3.40760596444438, 1e-12);
  std::vector<double> out;
  log_softmax(x, out);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_NEAR(out[0], -2.40760596444438, 1e-12);
  EXPECT_NEAR(out[2], -0.40760596444438, 1e-12);
  // Large logits do not overflow: only the differences matter.
  const std::vector<float> big = {1000.0f, 1000.0f};
  log_softmax(big, out);
  EXPECT_NEAR(out[0], -std::log(2.0), 1e-12);
  EXPECT_NEAR(out[1], -std::log(2.0), 1e-12);
  // A masked entry has log-probability -infinity.
  const std::vector<float> masked = {0.0f, -std::numeric_limits<float>::infinity()};
  log_softmax(masked, out);
  EXPECT_EQ(out[0], 0.0);
  EXPECT_TRUE(std::isinf(out[1]) && out[1] < 0);
}

TEST(Layers, AttentionIsCausal) {
  // Two positions: the first query may only see itself, so its output is its own value.
  RowMatrix q(2, 2), k(2, 2), v(2, 2), scores(2, 2), out(2, 2);
  q << 1, 0, 0, 1;
  k << 1, 0, 0, 1;
  v << 3, 4, 5, 6;
  const RowMatrix none(0, 2);
  causal_attention_head(q, none, none, k, v, 0, scores, out);
  EXPECT_FLOAT_EQ(out(0, 0), 3.0f);
  EXPECT_FLOAT_EQ(out(0, 1), 4.0f);
  // Second query sees both: weights softmax([0, 1] / sqrt 2).
  const double w1 = 1.0 / (1.0 + std::exp(-1.0 / std::sqrt(2.0)));
  EXPECT_NEAR(out(1, 0), (1 - w1) * 3 + w1 * 5, 1e-6);
}

namespace {

// Attention of T queries after `past` cached positions (and P shared ones), in double, the
// straightforward way: every query against every key it may see.
RowMatrix reference_attention(const RowMatrix& q, const RowMatrix& shared_k,
                              const RowMatrix& shared_v, const RowMatrix& k, const RowMatrix& v,
                              int past) {
  const Eigen::Index T = q.rows(), d = q.cols(), P = shared_k.rows();
  RowMatrix out(T, d);
  for (Eigen::Index t = 0; t < T; ++t) {
    std::vector<double> logits;
    for (Eigen::Index j = 0; j < P; ++j)
      logits.push_back(q.row(t).cast<double>().dot(shared_k.row(j).cast<double>()) / std::sqrt(d));
    for (Eigen::Index j = 0; j <= past + t; ++j)
      logits.push_back(q.row(t).cast<double>().dot(k.row(j).cast<double>()) / std::sqrt(d));
    const double m = *std::max_element(logits.begin(), logits.end());
    double sum = 0;
    for (double& l : logits) sum += (l = std::exp(l - m));
    Eigen::RowVectorXd o = Eigen::RowVectorXd::Zero(d);
    for (Eigen::Index j = 0; j < static_cast<Eigen::Index>(logits.size()); ++j)
      o += logits[j] / sum * (j < P ? shared_v.row(j) : v.row(j - P)).cast<double>();
    out.row(t) = o.cast<float>();
  }
  return out;
}

}  // namespace

TEST(Layers, LongAttentionInQueryBlocksMatchesTheReference) {
  // More queries than one block (64), after cached and shared positions: every block sees
  // exactly the keys its queries may.
  const int T = 150, past = 7, P = 5, d = 16;
  const RowMatrix q = RowMatrix::Random(T, d), k = RowMatrix::Random(past + T, d),
                  v = RowMatrix::Random(past + T, d), sk = RowMatrix::Random(P, d),
                  sv = RowMatrix::Random(P, d);
  RowMatrix scores(T, P + past + T), out(T, d);
  causal_attention_head(q, sk, sv, k, v, past, scores, out);
  const RowMatrix expected = reference_attention(q, sk, sv, k, v, past);
  EXPECT_LT((out - expected).cwiseAbs().maxCoeff(), 1e-5f);
  const RowMatrix none(0, d);
  causal_attention_head(q, none, none, k, v, past, scores, out);
  EXPECT_LT((out - reference_attention(q, none, none, k, v, past)).cwiseAbs().maxCoeff(), 1e-5f);
}
