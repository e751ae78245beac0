// The op-thread decisions (src/threads.hpp): every pass runs on the calling thread alone when the
// machine is oversubscribed, and keeps its threads otherwise; a product forks only for enough
// work; and splitting a product or the attention across threads never changes a bit of the result.
// The decisions' purpose (speed) is measured in docs/BENCHMARKS.md, not here.
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "gptrec/layers.hpp"
#include "gptrec/model.hpp"
#include "threads.hpp"

using gptrec::pass_op_threads;

TEST(PassOpThreads, AnOversubscribedMachineRunsThePassOnTheCallingThread) {
  // 2 cores: oversubscribed above a load average of 2.5.
  EXPECT_EQ(pass_op_threads(2, 2, 2.51), 1);
  EXPECT_EQ(pass_op_threads(2, 2, 16.0), 1);
  EXPECT_EQ(pass_op_threads(8, 8, 9.0), 1);
  EXPECT_EQ(pass_op_threads(4, 2, 16.0), 1);
}

TEST(PassOpThreads, KeepsItsThreadsOtherwise) {
  EXPECT_EQ(pass_op_threads(2, 2, 2.5), 2);   // not above cores + 0.5
  EXPECT_EQ(pass_op_threads(2, 2, 0.1), 2);   // a quiet machine
  EXPECT_EQ(pass_op_threads(2, 2, -1.0), 2);  // load average unknown
  EXPECT_EQ(pass_op_threads(8, 8, 8.4), 8);
  EXPECT_EQ(pass_op_threads(1, 2, 16.0), 1);
}

TEST(ProductThreads, ForksOnlyForEnoughWorkPerThread) {
  using gptrec::kMinMacsPerThread;
  using gptrec::product_threads;
  EXPECT_EQ(product_threads(2, 0.0), 1);
  EXPECT_EQ(product_threads(2, kMinMacsPerThread), 1);
  EXPECT_EQ(product_threads(2, 2 * kMinMacsPerThread - 1), 1);
  EXPECT_EQ(product_threads(2, 2 * kMinMacsPerThread), 2);
  EXPECT_EQ(product_threads(2, 1e12), 2);
  EXPECT_EQ(product_threads(8, 3.5 * kMinMacsPerThread), 3);
  EXPECT_EQ(product_threads(1, 1e12), 1);
}

namespace {

using gptrec::MatrixRef;
using gptrec::RowMatrix;

RowMatrix random_matrix(Eigen::Index rows, Eigen::Index cols, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  RowMatrix m(rows, cols);
  for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = normal(rng);
  return m;
}

// Every product on 2 threads, and on 1 thread with the caller's OpenMP count at 2 (which Eigen's
// own threading would read), equals the product on 1 thread bit for bit; `product(threads, out)`
// computes it.
template <typename Product>
void expect_thread_invariant(Eigen::Index rows, Eigen::Index cols, const Product& product,
                             const std::string& what) {
  RowMatrix one(rows, cols), two(rows, cols), one_under_two(rows, cols);
  gptrec::set_op_threads(1);
  product(1, MatrixRef(one));
  product(2, MatrixRef(two));
  gptrec::set_op_threads(2);
  product(1, MatrixRef(one_under_two));
  gptrec::set_op_threads(0);
  EXPECT_TRUE(one == two) << what << ": 2 threads";
  EXPECT_TRUE(one == one_under_two) << what << ": 1 thread, the caller's OpenMP count at 2";
}

}  // namespace

// Splitting a product by output columns across threads sums every output in the same order as
// one thread does (so 1 and 2 op threads give the same suggestions), and the sums are right.
TEST(ProductThreads, LinearAndTheHeadProductGiveTheSameBitsOnAnyThreadCount) {
  std::mt19937 rng(3);
  for (const Eigen::Index rows : {1, 5, 33, 70})
    for (const Eigen::Index k : {64, 256})
      for (const Eigen::Index n : {100, 256, 768, 3612}) {
        const RowMatrix x = random_matrix(rows, k, rng);
        const RowMatrix w = random_matrix(k, n, rng);
        const RowMatrix w_t = w.transpose();
        const RowMatrix b = random_matrix(1, n, rng);
        const std::string shape =
            std::to_string(rows) + "x" + std::to_string(k) + "x" + std::to_string(n);
        expect_thread_invariant(
            rows, n,
            [&](int threads, MatrixRef out) {
              gptrec::linear(x, w, gptrec::ConstRowVectorMap(b.data(), n), out, threads);
            },
            "linear " + shape);
        expect_thread_invariant(
            rows, n,
            [&](int threads, MatrixRef out) { gptrec::matmul_transposed(x, w_t, out, threads); },
            "matmul_transposed " + shape);
        // The values themselves, against a double-precision product.
        RowMatrix out(rows, n);
        gptrec::linear(x, w, gptrec::ConstRowVectorMap(b.data(), n), out, 2);
        const Eigen::MatrixXd want =
            (x.cast<double>() * w.cast<double>()).rowwise() + b.cast<double>().row(0);
        EXPECT_LT((out.cast<double>() - want).cwiseAbs().maxCoeff(), 1e-3) << shape;
      }
}

// The forward pass splits a head's queries at multiples of kAttentionBlock across threads: each
// block, called alone with its offset, gives exactly those rows of the whole call.
TEST(ProductThreads, AttentionBlocksCalledAloneEqualTheWholeCall) {
  std::mt19937 rng(4);
  constexpr Eigen::Index d = 16, past = 10, shared_rows = 5;
  for (const Eigen::Index T : {1, 64, 150}) {
    const RowMatrix q = random_matrix(T, d, rng);
    const RowMatrix k = random_matrix(past + T, d, rng), v = random_matrix(past + T, d, rng);
    const RowMatrix sk = random_matrix(shared_rows, d, rng),
                    sv = random_matrix(shared_rows, d, rng);
    RowMatrix scores(T, shared_rows + past + T), whole(T, d), blocks(T, d);
    gptrec::causal_attention_head(q, sk, sv, k, v, past, scores, whole);
    for (Eigen::Index b = 0; b < T; b += gptrec::kAttentionBlock) {
      const Eigen::Index rows = std::min(gptrec::kAttentionBlock, T - b);
      RowMatrix block_scores(rows, shared_rows + past + T);
      gptrec::causal_attention_head(q.middleRows(b, rows), sk, sv, k, v, static_cast<int>(past + b),
                                    block_scores, blocks.middleRows(b, rows));
    }
    EXPECT_TRUE(whole == blocks) << "T " << T;
  }
}
