#include "gptrec/layers.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "threads.hpp"
#if defined(__AVX2__) || defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace gptrec {

void embed_tokens(ConstMatrixRef wte, std::span<const int> ids, MatrixRef out) {
  for (std::size_t t = 0; t < ids.size(); ++t)
    out.row(static_cast<Eigen::Index>(t)) = wte.row(ids[t]);
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
      const double angle =
          pos / std::pow(10000.0, static_cast<double>(i) / static_cast<double>(dims));
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

namespace {

// Output columns split across threads at multiples of kColumnGrain. In Eigen's product for these
// row-major layouts the output columns are the rows of its kernel, which takes them in panels of
// `mr` rows from the first, the last n % mr by other code paths that sum in another order; so
// bounds at multiples of `mr` (3 packets: 48 with AVX-512, 24 with AVX2, 12 with SSE) give every
// output the panel, and the sums, it gets without the split. (Multiples of 16 did not: a 5 x 256 x
// 256 product on 2 threads differed from one thread in the last bits.) Also whole 64-byte lines.
constexpr Eigen::Index kColumnGrain = 48;
static_assert(kColumnGrain % Eigen::internal::gebp_traits<float, float>::mr == 0 &&
              kColumnGrain % 16 == 0);

template <typename Part>
void split_columns(Eigen::Index n, int threads, const Part& part) {
  split_range((n + kColumnGrain - 1) / kColumnGrain, threads,
              [&](Eigen::Index begin, Eigen::Index end) {
                part(begin * kColumnGrain, std::min(n, end * kColumnGrain));
              });
}

}  // namespace

void linear(ConstMatrixRef x, ConstMatrixRef w, ConstRowVectorMap b, MatrixRef out, int threads) {
  const SerialEigenScope serial;
  const double macs = static_cast<double>(x.rows()) * static_cast<double>(w.size());
  threads = x.rows() == 1 ? threads : product_threads(threads, macs);
  // Split by output columns: each thread runs Eigen's one-thread product on its columns, every
  // output summed in the same order as on one thread (split_columns).
  split_columns(w.cols(), threads, [&](Eigen::Index begin, Eigen::Index end) {
    auto part = out.middleCols(begin, end - begin);
    part.noalias() = x * w.middleCols(begin, end - begin);
    part.rowwise() += b.segment(begin, end - begin);
  });
}

void matmul_transposed(ConstMatrixRef x, ConstMatrixRef w_t, MatrixRef out, int threads) {
  const SerialEigenScope serial;
  const double macs = static_cast<double>(x.rows()) * static_cast<double>(w_t.size());
  threads = x.rows() == 1 ? threads : product_threads(threads, macs);
  split_columns(w_t.rows(), threads, [&](Eigen::Index begin, Eigen::Index end) {
    out.middleCols(begin, end - begin).noalias() =
        x * w_t.middleRows(begin, end - begin).transpose();
  });
}

namespace {

// The rows of x quantized for linear_int8: per row and block of kInt8Block inputs, the int8
// values, their scale, and the int32 sum the block's products start from, -128 * sum(xq), which
// cancels the +128 of the unsigned weights.
struct QuantizedRows {
  std::vector<std::int8_t> q;       // (rows, k_padded)
  std::vector<float> scale;         // (rows, blocks)
  std::vector<std::int32_t> start;  // (rows, blocks)
};

void quantize_rows(ConstMatrixRef x, Eigen::Index k_padded, QuantizedRows& out) {
  const Eigen::Index rows = x.rows(), k = x.cols(), blocks = k_padded / kInt8Block;
  out.q.assign(static_cast<std::size_t>(rows * k_padded), 0);
  out.scale.resize(static_cast<std::size_t>(rows * blocks));
  out.start.resize(static_cast<std::size_t>(rows * blocks));
  for (Eigen::Index r = 0; r < rows; ++r) {
    const float* in = x.data() + r * x.outerStride();
    std::int8_t* q = out.q.data() + r * k_padded;
    for (Eigen::Index blk = 0; blk < blocks; ++blk) {
      const Eigen::Index begin = blk * kInt8Block, end = std::min(k, begin + kInt8Block);
      float m = 0.0f;
      for (Eigen::Index i = begin; i < end; ++i) m = std::max(m, std::fabs(in[i]));
      const float inv = m > 0.0f ? 127.0f / m : 0.0f;
      std::int32_t sum = 0;
      for (Eigen::Index i = begin; i < end; ++i) {
        const auto v = static_cast<std::int32_t>(std::nearbyint(in[i] * inv));
        q[i] = static_cast<std::int8_t>(std::clamp(v, -127, 127));
        sum += q[i];
      }
      out.scale[static_cast<std::size_t>(r * blocks + blk)] = m / 127.0f;
      out.start[static_cast<std::size_t>(r * blocks + blk)] = -128 * sum;
    }
  }
}

// One panel (64 output channels) for one quantized row: acc[c] = sum over blocks of
// scale_blk * (start_blk + sum_i (w[c][i] + 128) * xq[i]) = sum_i x~[i] * q[c][i].
inline void panel_product(const std::uint8_t* panel, const std::int8_t* xq, const float* xscale,
                          const std::int32_t* xstart, Eigen::Index blocks, float* acc) {
#if defined(__AVX512VNNI__) && defined(__AVX512BW__)
  __m512 f0 = _mm512_setzero_ps(), f1 = f0, f2 = f0, f3 = f0;
  for (Eigen::Index blk = 0; blk < blocks; ++blk) {
    __m512i a0 = _mm512_set1_epi32(xstart[blk]), a1 = a0, a2 = a0, a3 = a0;
    const std::uint8_t* w = panel + blk * (kInt8Block / 4) * 256;
    const std::int8_t* xb = xq + blk * kInt8Block;
    for (int g = 0; g < kInt8Block / 4; ++g, w += 256) {
      std::int32_t four;
      std::memcpy(&four, xb + 4 * g, 4);
      const __m512i xv = _mm512_set1_epi32(four);
      a0 = _mm512_dpbusd_epi32(a0, _mm512_load_si512(w), xv);
      a1 = _mm512_dpbusd_epi32(a1, _mm512_load_si512(w + 64), xv);
      a2 = _mm512_dpbusd_epi32(a2, _mm512_load_si512(w + 128), xv);
      a3 = _mm512_dpbusd_epi32(a3, _mm512_load_si512(w + 192), xv);
    }
    const __m512 s = _mm512_set1_ps(xscale[blk]);
    f0 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(a0), s, f0);
    f1 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(a1), s, f1);
    f2 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(a2), s, f2);
    f3 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(a3), s, f3);
  }
  _mm512_store_ps(acc, f0);
  _mm512_store_ps(acc + 16, f1);
  _mm512_store_ps(acc + 32, f2);
  _mm512_store_ps(acc + 48, f3);
#else
  for (Eigen::Index c = 0; c < kInt8Panel; ++c) acc[c] = 0.0f;
  alignas(64) std::int32_t a[kInt8Panel];
  for (Eigen::Index blk = 0; blk < blocks; ++blk) {
    for (Eigen::Index c = 0; c < kInt8Panel; ++c) a[c] = xstart[blk];
    const std::uint8_t* w = panel + blk * (kInt8Block / 4) * 256;
    const std::int8_t* xb = xq + blk * kInt8Block;
    for (int g = 0; g < kInt8Block / 4; ++g, w += 256)
      for (Eigen::Index c = 0; c < kInt8Panel; ++c)
        for (int j = 0; j < 4; ++j)
          a[c] +=
              static_cast<std::int32_t>(w[c * 4 + j]) * static_cast<std::int32_t>(xb[4 * g + j]);
    for (Eigen::Index c = 0; c < kInt8Panel; ++c) acc[c] += xscale[blk] * static_cast<float>(a[c]);
  }
#endif
}

}  // namespace

void pack_int8(const std::int8_t* q, bool output_rows, const PackedInt8& w, std::uint8_t* out,
               int threads) {
  const Eigen::Index k = w.k, n = w.n, groups = w.k_padded() / 4;
  split_range(w.n_padded() / kInt8Panel, threads, [&](Eigen::Index begin, Eigen::Index end) {
    for (Eigen::Index p = begin; p < end; ++p) {
      std::uint8_t* panel = out + p * groups * 256;
      for (Eigen::Index g = 0; g < groups; ++g)
        for (Eigen::Index c = 0; c < kInt8Panel; ++c)
          for (Eigen::Index j = 0; j < 4; ++j) {
            const Eigen::Index col = p * kInt8Panel + c, i = 4 * g + j;
            const std::int8_t v =
                col < n && i < k ? (output_rows ? q[col * k + i] : q[i * n + col]) : 0;
            panel[g * 256 + c * 4 + j] = static_cast<std::uint8_t>(v + 128);
          }
    }
  });
}

void linear_int8(ConstMatrixRef x, const PackedInt8& w, const float* b, MatrixRef out,
                 int threads) {
  // The caller's thread quantizes x once; its buffers are reused by later calls on the thread.
  // (A reference: inside the parallel region the name of a thread_local would mean each worker's
  // own.)
  thread_local QuantizedRows caller_rows;
  QuantizedRows& xq = caller_rows;
  const Eigen::Index kp = w.k_padded(), blocks = kp / kInt8Block, rows = x.rows();
  quantize_rows(x, kp, xq);
  const std::size_t panel_bytes = static_cast<std::size_t>(kp) * kInt8Panel;
  split_range(w.n_padded() / kInt8Panel, threads, [&](Eigen::Index begin, Eigen::Index end) {
    alignas(64) float acc[kInt8Panel];
    for (Eigen::Index p = begin; p < end; ++p) {
      const Eigen::Index col0 = p * kInt8Panel, width = std::min(kInt8Panel, w.n - col0);
      // Every row uses the panel while it is in cache: the weights are read from memory once.
      for (Eigen::Index r = 0; r < rows; ++r) {
        panel_product(w.data + p * panel_bytes, xq.q.data() + r * kp, xq.scale.data() + r * blocks,
                      xq.start.data() + r * blocks, blocks, acc);
        float* o = &out(r, col0);
        if (b != nullptr) {
          for (Eigen::Index c = 0; c < width; ++c) o[c] = acc[c] * w.scale[col0 + c] + b[col0 + c];
        } else {
          for (Eigen::Index c = 0; c < width; ++c) o[c] = acc[c] * w.scale[col0 + c];
        }
      }
    }
  });
}

void dequantize_int8(const PackedInt8& w, bool output_rows, MatrixRef out, int threads) {
  const Eigen::Index groups = w.k_padded() / 4;
  split_range(w.n_padded() / kInt8Panel, threads, [&](Eigen::Index begin, Eigen::Index end) {
    for (Eigen::Index p = begin; p < end; ++p) {
      const std::uint8_t* panel = w.data + p * groups * 256;
      const Eigen::Index col0 = p * kInt8Panel, width = std::min(kInt8Panel, w.n - col0);
      for (Eigen::Index g = 0; g < groups; ++g)
        for (Eigen::Index j = 0; j < 4 && 4 * g + j < w.k; ++j) {
          const Eigen::Index i = 4 * g + j;
          for (Eigen::Index c = 0; c < width; ++c) {
            const float v = static_cast<float>(static_cast<int>(panel[g * 256 + c * 4 + j]) - 128) *
                            w.scale[col0 + c];
            if (output_rows)
              out(col0 + c, i) = v;
            else
              out(i, col0 + c) = v;
          }
        }
    }
  });
}

void dequantize_int8_rows(const std::int8_t* q, const float* scale, Eigen::Index rows,
                          Eigen::Index cols, MatrixRef out) {
  for (Eigen::Index r = 0; r < rows; ++r) {
    const std::int8_t* in = q + r * cols;
    const float s = scale[r];
    for (Eigen::Index j = 0; j < cols; ++j) out(r, j) = static_cast<float>(in[j]) * s;
  }
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

double log_sum_exp(std::span<const float> x) {
  double m = -INFINITY;
  for (const float v : x) m = std::max(m, static_cast<double>(v));
  double sum = 0;
  for (const float v : x) sum += std::exp(v - m);
  return m + std::log(sum);
}

void log_softmax(std::span<const float> x, std::vector<double>& out) {
  const double lse = log_sum_exp(x);
  out.resize(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) out[i] = x[i] - lse;
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
  const SerialEigenScope serial;
  const Eigen::Index T = q.rows();
  const Eigen::Index P = shared_k.rows();
  const float scale = 1.0f / std::sqrt(static_cast<float>(q.cols()));
  // Queries in blocks of kAttentionBlock rows: a block's last query sees own rows [0, past + end),
  // so the keys after that are neither multiplied nor exponentiated (a long prompt skips almost
  // half of the T x T products that the causal mask would zero).
  for (Eigen::Index begin = 0; begin < T; begin += kAttentionBlock) {
    const Eigen::Index rows = std::min(kAttentionBlock, T - begin);
    const Eigen::Index own = past + begin + rows;
    auto s = scores.topLeftCorner(rows, P + own);
    const auto qb = q.middleRows(begin, rows);
    if (P > 0) s.leftCols(P).noalias() = qb * shared_k.transpose();
    s.rightCols(own).noalias() = qb * k.topRows(own).transpose();
    s *= scale;
    // Query begin + t sees its own rows [0, past + begin + t]: only the upper triangle of the
    // block's last `rows` columns is masked.
    for (Eigen::Index t = 0; t + 1 < rows; ++t)
      s.row(t).tail(rows - 1 - t).setConstant(-std::numeric_limits<float>::infinity());
    softmax_rows(s);
    auto ob = out.middleRows(begin, rows);
    ob.noalias() = s.rightCols(own) * v.topRows(own);
    if (P > 0) ob.noalias() += s.leftCols(P) * shared_v;
  }
}

}  // namespace gptrec
