// Products with half-precision weights (F16, BF16) as they are stored: the weights are widened to
// float32 as they are read and all arithmetic is float32 (layers.hpp, HalfMatrix).
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "gptrec/layers.hpp"
#include "threads.hpp"

#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__F16C__))
#include <immintrin.h>
#endif

namespace gptrec {

namespace {

// Up to kStreamRows rows stream the half weights directly, kStreamGroup rows at a time (a group's
// sums stay in registers; later groups read the block's weights again, from cache); more rows widen
// slices of the matrix and use Eigen's GEMM (the widening then costs under 2/kStreamRows of the
// products: widening a 16-value vector takes about the time of two 16-wide FMAs of the GEMM).
constexpr Eigen::Index kStreamGroup = 4;
constexpr Eigen::Index kStreamRows = 32;
// Columns (or, for (n, k) matrices, rows) of a widened slice.
constexpr Eigen::Index kSlice = 128;
// Rows of the half weights read ahead by the streaming columns (stream_columns).
constexpr Eigen::Index kPrefetchRows = 32;

inline float widen_one(std::uint16_t h, bool bf16) {
  if (bf16) {
    const std::uint32_t bits = static_cast<std::uint32_t>(h) << 16;
    float f;
    std::memcpy(&f, &bits, sizeof f);
    return f;
  }
  return static_cast<float>(Eigen::numext::bit_cast<Eigen::half>(h));
}

#if defined(__AVX512F__)
// 16 half values at `p` widened to float32.
inline __m512 widen16(const std::uint16_t* p, bool bf16) {
  const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  return bf16 ? _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16))
              : _mm512_cvtph_ps(h);
}
#endif

// n half values widened to float32.
void widen(const std::uint16_t* in, bool bf16, Eigen::Index n, float* out) {
  Eigen::Index i = 0;
#if defined(__AVX512F__)
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(out + i, widen16(in + i, bf16));
#elif defined(__AVX2__) && defined(__F16C__)
  for (; i + 8 <= n; i += 8) {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(in + i));
    _mm256_storeu_ps(out + i,
                     bf16 ? _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16))
                          : _mm256_cvtph_ps(h));
  }
#endif
  for (; i < n; ++i) out[i] = widen_one(in[i], bf16);
}

// out[:, c0:c1] = x * w[:, c0:c1] + b[c0:c1] for x of at most kStreamRows rows: the columns' half
// weights are read once, row by row of w. With AVX-512, 64 columns at a time in registers.
template <int R>
void stream_columns(ConstMatrixRef x, const HalfMatrix& w, const float* b, MatrixRef out,
                    Eigen::Index c0, Eigen::Index c1) {
  const Eigen::Index k = x.cols(), n = w.cols;
  Eigen::Index c = c0;
#if defined(__AVX512F__)
  for (; c + 64 <= c1; c += 64) {
    __m512 acc[R][4];
    for (int r = 0; r < R; ++r)
      for (int j = 0; j < 4; ++j)
        acc[r][j] = b != nullptr ? _mm512_loadu_ps(b + c + 16 * j) : _mm512_setzero_ps();
    const std::uint16_t* wi = w.data + c;
    for (Eigen::Index i = 0; i < k; ++i, wi += n) {
      // The block walks down the rows with a stride of n halves: the hardware prefetchers do not
      // follow it, so the two cache lines kPrefetchRows rows ahead are asked for here.
      if (i + kPrefetchRows < k) {
        _mm_prefetch(reinterpret_cast<const char*>(wi + kPrefetchRows * n), _MM_HINT_T0);
        _mm_prefetch(reinterpret_cast<const char*>(wi + kPrefetchRows * n + 32), _MM_HINT_T0);
      }
      const __m512 w0 = widen16(wi, w.bf16), w1 = widen16(wi + 16, w.bf16);
      const __m512 w2 = widen16(wi + 32, w.bf16), w3 = widen16(wi + 48, w.bf16);
      for (int r = 0; r < R; ++r) {
        const __m512 xv = _mm512_set1_ps(x(r, i));
        acc[r][0] = _mm512_fmadd_ps(w0, xv, acc[r][0]);
        acc[r][1] = _mm512_fmadd_ps(w1, xv, acc[r][1]);
        acc[r][2] = _mm512_fmadd_ps(w2, xv, acc[r][2]);
        acc[r][3] = _mm512_fmadd_ps(w3, xv, acc[r][3]);
      }
    }
    for (int r = 0; r < R; ++r)
      for (int j = 0; j < 4; ++j) _mm512_storeu_ps(&out(r, c + 16 * j), acc[r][j]);
  }
#endif
  if (c >= c1) return;
  // The remaining columns (all of them without AVX-512): row by row of w, into out.
  thread_local std::vector<float> wide;
  wide.resize(static_cast<std::size_t>(c1 - c));
  for (int r = 0; r < R; ++r)
    for (Eigen::Index j = c; j < c1; ++j) out(r, j) = b != nullptr ? b[j] : 0.0f;
  for (Eigen::Index i = 0; i < k; ++i) {
    widen(w.data + i * n + c, w.bf16, c1 - c, wide.data());
    for (int r = 0; r < R; ++r) {
      const float xi = x(r, i);
      float* o = &out(r, c);
      for (Eigen::Index j = 0; j < c1 - c; ++j) o[j] += xi * wide[static_cast<std::size_t>(j)];
    }
  }
}

// out[:, j0:j1] = x * w_t[j0:j1, :]^T for x of at most kStreamRows rows: one dot product per
// output, each row of w_t read once.
template <int R>
void stream_rows(ConstMatrixRef x, const HalfMatrix& w_t, MatrixRef out, Eigen::Index j0,
                 Eigen::Index j1) {
  const Eigen::Index k = x.cols();
  thread_local std::vector<float> wide;
  wide.resize(static_cast<std::size_t>(k));
  for (Eigen::Index j = j0; j < j1; ++j) {
    const std::uint16_t* wj = w_t.data + j * k;
    Eigen::Index i = 0;
    float sum[R] = {};
#if defined(__AVX512F__)
    __m512 acc[R];
    for (int r = 0; r < R; ++r) acc[r] = _mm512_setzero_ps();
    for (; i + 16 <= k; i += 16) {
      const __m512 wv = widen16(wj + i, w_t.bf16);
      for (int r = 0; r < R; ++r)
        acc[r] = _mm512_fmadd_ps(wv, _mm512_loadu_ps(x.data() + r * x.outerStride() + i), acc[r]);
    }
    for (int r = 0; r < R; ++r) sum[r] = _mm512_reduce_add_ps(acc[r]);
#endif
    if (i < k) {
      widen(wj + i, w_t.bf16, k - i, wide.data());
      for (int r = 0; r < R; ++r)
        for (Eigen::Index t = i; t < k; ++t)
          sum[r] += x(r, t) * wide[static_cast<std::size_t>(t - i)];
    }
    for (int r = 0; r < R; ++r) out(r, j) = sum[r];
  }
}

// Calls f.template operator()<R>() with R = rows (1..kStreamGroup).
template <typename F>
void with_rows(Eigen::Index rows, const F& f) {
  switch (rows) {
    case 1:
      f.template operator()<1>();
      break;
    case 2:
      f.template operator()<2>();
      break;
    case 3:
      f.template operator()<3>();
      break;
    default:
      f.template operator()<4>();
      break;
  }
}

// The streaming paths (x of at most kStreamRows rows): the n outputs in blocks of `width`, the
// blocks split across `threads`. A block is the outer loop and the groups of kStreamGroup rows of
// x the inner one, so a block's weights come from memory once per call and stay in cache for the
// later groups; kernel.template operator()<R>(xg, og, j0, j1) computes the group's outputs
// [j0, j1).
template <typename Kernel>
void stream_by_blocks(ConstMatrixRef x, MatrixRef out, Eigen::Index n, Eigen::Index width,
                      int threads, const Kernel& kernel) {
  const Eigen::Index T = x.rows();
  split_range((n + width - 1) / width, threads, [&](Eigen::Index begin, Eigen::Index end) {
    for (Eigen::Index blk = begin; blk < end; ++blk)
      for (Eigen::Index r0 = 0; r0 < T; r0 += kStreamGroup) {
        const Eigen::Index rows = std::min(kStreamGroup, T - r0);
        const Eigen::Index j0 = blk * width, j1 = std::min(n, j0 + width);
        const ConstMatrixRef xg = x.middleRows(r0, rows);
        MatrixRef og = out.middleRows(r0, rows);
        with_rows(rows, [&]<int R>() { kernel.template operator()<R>(xg, og, j0, j1); });
      }
  });
}

}  // namespace

void linear_half(ConstMatrixRef x, const HalfMatrix& w, const float* b, MatrixRef out,
                 int threads) {
  const SerialEigenScope serial;
  const Eigen::Index T = x.rows(), k = w.rows, n = w.cols;
  if (T <= kStreamRows) {
    // Blocks of 64 columns: whole cache lines of the half weights and of out.
    stream_by_blocks(x, out, n, 64, threads,
                     [&]<int R>(ConstMatrixRef xg, MatrixRef og, Eigen::Index c0, Eigen::Index c1) {
                       stream_columns<R>(xg, w, b, og, c0, c1);
                     });
    return;
  }
  split_range((n + kSlice - 1) / kSlice, threads, [&](Eigen::Index begin, Eigen::Index end) {
    thread_local RowMatrix wide;  // the thread's widened slice, reused by later calls
    for (Eigen::Index s = begin; s < end; ++s) {
      const Eigen::Index c0 = s * kSlice, nb = std::min(kSlice, n - c0);
      if (wide.rows() != k || wide.cols() != nb) wide.resize(k, nb);
      for (Eigen::Index i = 0; i < k; ++i) widen(w.data + i * n + c0, w.bf16, nb, &wide(i, 0));
      auto o = out.middleCols(c0, nb);
      o.noalias() = x * wide;
      if (b != nullptr) o.rowwise() += ConstRowVectorMap(b + c0, nb);
    }
  });
}

void matmul_transposed_half(ConstMatrixRef x, const HalfMatrix& w_t, MatrixRef out, int threads) {
  const SerialEigenScope serial;
  const Eigen::Index T = x.rows(), n = w_t.rows, k = w_t.cols;
  if (T <= kStreamRows) {
    // Blocks of 16 rows of w_t (16 outputs).
    stream_by_blocks(x, out, n, 16, threads,
                     [&]<int R>(ConstMatrixRef xg, MatrixRef og, Eigen::Index j0, Eigen::Index j1) {
                       stream_rows<R>(xg, w_t, og, j0, j1);
                     });
    return;
  }
  split_range((n + kSlice - 1) / kSlice, threads, [&](Eigen::Index begin, Eigen::Index end) {
    thread_local RowMatrix wide;
    for (Eigen::Index s = begin; s < end; ++s) {
      const Eigen::Index j0 = s * kSlice, nb = std::min(kSlice, n - j0);
      if (wide.rows() != nb || wide.cols() != k) wide.resize(nb, k);
      widen(w_t.data + j0 * k, w_t.bf16, nb * k, wide.data());
      out.middleCols(j0, nb).noalias() = x * wide.transpose();
    }
  });
}

void widen_half_row(const HalfMatrix& w, Eigen::Index r, float* out) {
  widen(w.data + r * w.cols, w.bf16, w.cols, out);
}

}  // namespace gptrec
