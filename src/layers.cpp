#include "gptrec/layers.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#ifdef _OPENMP
#include <omp.h>
#endif
#if defined(__AVX2__) || defined(__AVX512F__)
#include <immintrin.h>
#endif

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

namespace {

#if defined(__AVX512F__)
// 16 int8 at p as 16 floats.
inline __m512 widen16(const std::int8_t* p) {
  return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))));
}
#endif
#if defined(__AVX2__)
// 8 int8 at p as 8 floats.
inline __m256 widen8(const std::int8_t* p) {
  return _mm256_cvtepi32_ps(
      _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))));
}
#endif

// Calls part(begin, end) on `threads` contiguous ranges of [0, n) whose bounds are multiples of 16
// (whole 64-byte lines of float columns), one range per thread.
template <typename Part>
void split_columns(Eigen::Index n, int threads, const Part& part) {
#ifdef _OPENMP
  const Eigen::Index blocks = (n + 15) / 16;
  threads = static_cast<int>(std::min<Eigen::Index>(threads, blocks));
  if (threads > 1) {
#pragma omp parallel num_threads(threads)
    {
      const Eigen::Index t = omp_get_thread_num(), nt = omp_get_num_threads();
      const Eigen::Index begin = std::min(n, blocks * t / nt * 16);
      const Eigen::Index end = std::min(n, blocks * (t + 1) / nt * 16);
      if (end > begin) part(begin, end);
    }
    return;
  }
#else
  (void)threads;
#endif
  part(0, n);
}

}  // namespace

void linear(ConstMatrixRef x, ConstMatrixRef w, ConstRowVectorMap b, MatrixRef out, int threads) {
  if (x.rows() == 1 && threads > 1) {
    split_columns(w.cols(), threads, [&](Eigen::Index begin, Eigen::Index end) {
      auto part = out.middleCols(begin, end - begin);
      part.noalias() = x * w.middleCols(begin, end - begin);
      part += b.segment(begin, end - begin);
    });
    return;
  }
  out.noalias() = x * w;
  out.rowwise() += b;
}

void matmul_transposed(ConstMatrixRef x, ConstMatrixRef w_t, MatrixRef out, int threads) {
  if (x.rows() == 1 && threads > 1) {
    split_columns(w_t.rows(), threads, [&](Eigen::Index begin, Eigen::Index end) {
      out.middleCols(begin, end - begin).noalias() =
          x * w_t.middleRows(begin, end - begin).transpose();
    });
    return;
  }
  out.noalias() = x * w_t.transpose();
}

void linear_int8(const float* x, const std::int8_t* q, const float* scale, Eigen::Index k,
                 Eigen::Index n, const float* b, float* out, int threads) {
  split_columns(n, threads, [&](Eigen::Index begin, Eigen::Index end) {
    // Columns in chunks whose float sums stay in L1; four rows of q per pass over the sums.
    constexpr Eigen::Index kChunk = 2048;
    alignas(64) float acc[kChunk];
    for (Eigen::Index c0 = begin; c0 < end; c0 += kChunk) {
      const Eigen::Index w = std::min(kChunk, end - c0);
      for (Eigen::Index j = 0; j < w; ++j) acc[j] = 0.0f;
      Eigen::Index i = 0;
      for (; i + 4 <= k; i += 4) {
        const std::int8_t* r0 = q + i * n + c0;
        const std::int8_t* r1 = r0 + n;
        const std::int8_t* r2 = r1 + n;
        const std::int8_t* r3 = r2 + n;
        const float x0 = x[i], x1 = x[i + 1], x2 = x[i + 2], x3 = x[i + 3];
        // The compiler's vectorization of this loop (AVX-512 or AVX2 with -march=native) ran
        // faster than hand-written intrinsics that widen 16 bytes at a time.
#pragma omp simd
        for (Eigen::Index j = 0; j < w; ++j)
          acc[j] += x0 * static_cast<float>(r0[j]) + x1 * static_cast<float>(r1[j]) +
                    x2 * static_cast<float>(r2[j]) + x3 * static_cast<float>(r3[j]);
      }
      for (; i < k; ++i) {
        const std::int8_t* r = q + i * n + c0;
        const float xi = x[i];
#pragma omp simd
        for (Eigen::Index j = 0; j < w; ++j) acc[j] += xi * static_cast<float>(r[j]);
      }
      for (Eigen::Index j = 0; j < w; ++j) out[c0 + j] = acc[j] * scale[c0 + j] + b[c0 + j];
    }
  });
}

void matvec_int8_rows(const float* x, const std::int8_t* q, const float* scale, Eigen::Index n,
                      Eigen::Index k, float* out, int threads) {
  split_columns(n, threads, [&](Eigen::Index begin, Eigen::Index end) {
    // Each row is a contiguous stream; its sum is kept in four vectors of partial sums (one
    // chain of FMAs is bound by their latency, below the memory bandwidth).
    for (Eigen::Index r = begin; r < end; ++r) {
      const std::int8_t* row = q + r * k;
      Eigen::Index j = 0;
      float sum = 0.0f;
#if defined(__AVX512F__)
      __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
      for (; j + 64 <= k; j += 64) {
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(x + j), widen16(row + j), s0);
        s1 = _mm512_fmadd_ps(_mm512_loadu_ps(x + j + 16), widen16(row + j + 16), s1);
        s2 = _mm512_fmadd_ps(_mm512_loadu_ps(x + j + 32), widen16(row + j + 32), s2);
        s3 = _mm512_fmadd_ps(_mm512_loadu_ps(x + j + 48), widen16(row + j + 48), s3);
      }
      sum = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
#elif defined(__AVX2__) && defined(__FMA__)
      __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
      for (; j + 32 <= k; j += 32) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + j), widen8(row + j), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + j + 8), widen8(row + j + 8), s1);
        s2 = _mm256_fmadd_ps(_mm256_loadu_ps(x + j + 16), widen8(row + j + 16), s2);
        s3 = _mm256_fmadd_ps(_mm256_loadu_ps(x + j + 24), widen8(row + j + 24), s3);
      }
      const __m256 t = _mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3));
      __m128 h = _mm_add_ps(_mm256_castps256_ps128(t), _mm256_extractf128_ps(t, 1));
      h = _mm_add_ps(h, _mm_movehl_ps(h, h));
      h = _mm_add_ss(h, _mm_movehdup_ps(h));
      sum = _mm_cvtss_f32(h);
#endif
      for (; j < k; ++j) sum += x[j] * static_cast<float>(row[j]);
      out[r] = sum * scale[r];
    }
  });
}

void dequantize_int8(const std::int8_t* q, const float* scale, Eigen::Index rows,
                     Eigen::Index cols, bool scale_per_row, MatrixRef out, int threads) {
  split_columns(rows, threads, [&](Eigen::Index begin, Eigen::Index end) {
    for (Eigen::Index r = begin; r < end; ++r) {
      const std::int8_t* in = q + r * cols;
      float* o = &out(r, 0);
      if (scale_per_row) {
        const float s = scale[r];
        for (Eigen::Index j = 0; j < cols; ++j) o[j] = static_cast<float>(in[j]) * s;
      } else {
        for (Eigen::Index j = 0; j < cols; ++j) o[j] = static_cast<float>(in[j]) * scale[j];
      }
    }
  });
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
  const float scale = 1.0f / std::sqrt(static_cast<float>(q.cols()));
  // Queries in blocks of kBlock rows: a block's last query sees own rows [0, past + end), so
  // the keys after that are neither multiplied nor exponentiated (a long prompt skips almost
  // half of the T x T products that the causal mask would zero).
  constexpr Eigen::Index kBlock = 64;
  for (Eigen::Index begin = 0; begin < T; begin += kBlock) {
    const Eigen::Index rows = std::min(kBlock, T - begin);
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
