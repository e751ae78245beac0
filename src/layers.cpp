#include "gptrec/layers.hpp"

#include <cmath>
#include <limits>

namespace gptrec {

void embed_tokens(ConstMatrixRef wte, std::span<const int> ids, MatrixRef out) {
  for (std::size_t t = 0; t < ids.size(); ++t) out.row(static_cast<Eigen::Index>(t)) = wte.row(ids[t]);
}

void add_learned_positions(ConstMatrixRef wpe, int first_pos, MatrixRef x) {
  x += wpe.middleRows(first_pos, x.rows());
}

void add_sinusoidal_positions(int first_pos, MatrixRef x) {
  const Eigen::Index dims = x.cols();
  for (Eigen::Index t = 0; t < x.rows(); ++t) {
    const double pos = static_cast<double>(first_pos + t);
    for (Eigen::Index i = 0; i + 1 < dims; i += 2) {
      // Computed in double: float32 loses the phase of sin(pos * freq) for large positions.
      const double angle = pos / std::pow(10000.0, static_cast<double>(i) / static_cast<double>(dims));
      x(t, i) += static_cast<float>(std::sin(angle));
      x(t, i + 1) += static_cast<float>(std::cos(angle));
    }
  }
}

void layer_norm(ConstMatrixRef x, ConstRowVectorMap weight, ConstRowVectorMap bias, float eps,
                MatrixRef out) {
  const float inv_c = 1.0f / static_cast<float>(x.cols());
  for (Eigen::Index t = 0; t < x.rows(); ++t) {
    const float mean = x.row(t).sum() * inv_c;
    const float var = (x.row(t).array() - mean).square().sum() * inv_c;
    const float rstd = 1.0f / std::sqrt(var + eps);
    out.row(t) = ((x.row(t).array() - mean) * rstd * weight.array() + bias.array()).matrix();
  }
}

void linear(ConstMatrixRef x, ConstMatrixRef w, ConstRowVectorMap b, MatrixRef out) {
  out.noalias() = x * w;
  out.rowwise() += b;
}

void gelu_tanh(MatrixRef x) {
  constexpr float kSqrt2OverPi = 0.7978845608028654f;
  // Eigen's vectorised tanh (a rational approximation within a few float ulps); the scalar libm
  // call was most of the time of small models.
  for (Eigen::Index t = 0; t < x.rows(); ++t) {
    auto v = x.row(t).array();
    v = 0.5f * v * (1.0f + (kSqrt2OverPi * (v + 0.044715f * v.cube())).tanh());
  }
}

void gelu_exact(MatrixRef x) {
  constexpr float kInvSqrt2 = 0.7071067811865476f;
  x = x.unaryExpr([](float v) { return 0.5f * v * (1.0f + std::erf(v * kInvSqrt2)); });
}

void softmax_rows(MatrixRef x) {
  for (Eigen::Index t = 0; t < x.rows(); ++t) {
    auto row = x.row(t);
    const float m = row.maxCoeff();
    row = (row.array() - m).exp().matrix();
    row /= row.sum();
  }
}

void causal_attention_head(ConstMatrixRef q, ConstMatrixRef shared_k, ConstMatrixRef shared_v,
                           ConstMatrixRef k, ConstMatrixRef v, int past, MatrixRef scores,
                           MatrixRef out) {
  const Eigen::Index T = q.rows();
  const Eigen::Index P = shared_k.rows();
  const Eigen::Index own = past + T;
  const float scale = 1.0f / std::sqrt(static_cast<float>(q.cols()));
  auto s = scores.topLeftCorner(T, P + own);
  if (P > 0) s.leftCols(P).noalias() = q * shared_k.transpose();
  s.rightCols(own).noalias() = q * k.topRows(own).transpose();
  s *= scale;
  // Query t sees its own rows [0, past + t]: only the upper triangle of the last T columns is
  // masked.
  for (Eigen::Index t = 0; t + 1 < T; ++t)
    s.row(t).tail(T - 1 - t).setConstant(-std::numeric_limits<float>::infinity());
  softmax_rows(s);
  out.noalias() = s.rightCols(own) * v.topRows(own);
  if (P > 0) out.noalias() += s.leftCols(P) * shared_v;
}

}  // namespace gptrec
