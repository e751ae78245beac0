#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "gptrec/error.hpp"
#include "gptrec/model.hpp"
#include "gptrec/quantize.hpp"
#include "gptrec/scoring.hpp"
#include "test_util.hpp"

using namespace gptrec;

namespace {

// log P(ids[t] | ids[0..t)) for t >= 1 from one from-scratch forward pass of the whole sequence.
std::vector<double> from_scratch(const Model& model, const std::vector<int>& ids) {
  Session s(model);
  const RowMatrix logits = s.append(ids);
  std::vector<double> out;
  for (std::size_t t = 1; t < ids.size(); ++t) {
    const auto row = logits.row(static_cast<Eigen::Index>(t) - 1).cast<double>();
    const double lse = row.maxCoeff() + std::log((row.array() - row.maxCoeff()).exp().sum());
    out.push_back(row(ids[t]) - lse);
  }
  return out;
}

std::vector<int> random_ids(std::mt19937& rng, int n, int vocab) {
  std::uniform_int_distribution<int> d(0, vocab - 1);
  std::vector<int> ids(static_cast<std::size_t>(n));
  for (int& id : ids) id = d(rng);
  return ids;
}

}  // namespace

TEST(Scoring, SharedPrefixEqualsScoringEachSequenceFromScratch) {
  for (const char* name : {"tiny-learned", "tiny-sinusoidal"}) {
    const Model model = Model::load(test::model_dir(name));
    std::mt19937 rng(5);
    const std::vector<int> prompt = random_ids(rng, 20, 500);
    std::vector<std::vector<int>> conts;
    for (int n : {1, 5, 3, 12, 7, 1, 30}) conts.push_back(random_ids(rng, n, 500));
    for (const int batch_tokens : {2048, 8, 1}) {  // one batch; several; one continuation each
      const auto scores = score_continuations(model, prompt, conts, {batch_tokens});
      ASSERT_EQ(scores.size(), conts.size());
      for (std::size_t c = 0; c < conts.size(); ++c) {
        std::vector<int> full = prompt;
        full.insert(full.end(), conts[c].begin(), conts[c].end());
        const auto ref = from_scratch(model, full);
        ASSERT_EQ(scores[c].token_logprobs.size(), conts[c].size());
        double sum = 0;
        for (std::size_t t = 0; t < conts[c].size(); ++t) {
          const double want = ref[prompt.size() - 1 + t];
          EXPECT_NEAR(scores[c].token_logprobs[t], want, 1e-4) << name << " continuation " << c;
          sum += want;
        }
        EXPECT_NEAR(scores[c].logprob, sum, 1e-4);
      }
    }
  }
}

TEST(Scoring, RejectsBadContinuations) {
  const Model model = Model::load(test::model_dir("tiny-learned"));
  const std::vector<int> prompt(60, 3);
  auto error_of = [&](const std::vector<std::vector<int>>& conts) -> std::string {
    try {
      score_continuations(model, prompt, conts);
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_NE(error_of({{1}, {}}).find("continuation 1: no tokens"), std::string::npos);
  EXPECT_NE(
      error_of({{1, 2, 3, 4, 5}}).find("continuation 0: 5 tokens after a prompt of 60 exceed"),
      std::string::npos);
  EXPECT_NE(error_of({{1}, {2, 500}}).find("continuation 1: token id 500"), std::string::npos);
  EXPECT_THROW(score_continuations(model, std::vector<int>{}, std::vector<std::vector<int>>{{1}}),
               Error);
  EXPECT_TRUE(score_continuations(model, prompt, std::vector<std::vector<int>>{}).empty());
}

TEST(Perplexity, OneWindowEqualsTheFullForwardPass) {
  const Model model = Model::load(test::model_dir("tiny-sinusoidal"));
  std::mt19937 rng(9);
  const auto ids = random_ids(rng, 64, 500);
  const auto ref = from_scratch(model, ids);
  double nll = 0;
  for (double lp : ref) nll -= lp;
  const auto r = perplexity(model, ids);
  EXPECT_EQ(r.tokens, 63);
  EXPECT_NEAR(r.total_nll, nll, 1e-3);
  EXPECT_NEAR(r.perplexity(), std::exp(nll / 63), 1e-3 * r.perplexity());
}

TEST(Perplexity, SlidingWindowsScoreEveryTokenOnceWithItsWindowContext) {
  const Model model = Model::load(test::model_dir("tiny-sinusoidal"));
  std::mt19937 rng(10);
  const auto ids = random_ids(rng, 150, 500);
  const int context = 32, stride = 12;
  const auto r = perplexity(model, ids, context, stride);
  EXPECT_EQ(r.tokens, 149);
  // Windows end at 32, 44, ..., 150; token t is scored in the first window whose end exceeds t,
  // with that window's (end - 32 ..) tokens as context.
  double nll = 0;
  int prev_end = 1;
  for (int end = context;; end = std::min(end + stride, 150)) {
    const int begin = std::max(0, end - context);
    const std::vector<int> window(ids.begin() + begin, ids.begin() + end);
    const auto lp = from_scratch(model, window);
    for (int t = prev_end; t < end; ++t) nll -= lp[static_cast<std::size_t>(t - begin - 1)];
    prev_end = end;
    if (end == 150) break;
  }
  EXPECT_NEAR(r.total_nll, nll, 1e-3);
  EXPECT_THROW(perplexity(model, ids, 65), Error);
  EXPECT_THROW(perplexity(model, ids, 32, 32), Error);
  EXPECT_EQ(perplexity(model, std::vector<int>{1}).tokens, 0);
}

// The head in slices of rows (never every position's logits) gives the log-softmax of the full
// logits at every next token, for packed sequences of any length, on one or two op threads.
TEST(SequenceLogprobs, EqualTheLogSoftmaxOfTheFullLogits) {
  const Model model = Model::load(test::model_dir("tiny-sinusoidal"));
  std::mt19937 rng(9);
  std::vector<std::vector<int>> seqs;
  for (int n : {40, 1, 7, 64, 33}) seqs.push_back(random_ids(rng, n, 500));
  for (const int threads : {1, 2}) {
    set_op_threads(threads);
    for (const int batch_tokens : {4096, 50, 1}) {  // one pass; several; one sequence each
      const auto got = sequence_logprobs(model, seqs, {batch_tokens});
      ASSERT_EQ(got.size(), seqs.size());
      for (std::size_t i = 0; i < seqs.size(); ++i) {
        const auto want = from_scratch(model, seqs[i]);
        ASSERT_EQ(got[i].size(), seqs[i].size() - 1);
        for (std::size_t t = 0; t < want.size(); ++t)
          EXPECT_NEAR(got[i][t], want[t], 1e-4) << "sequence " << i << " token " << t + 1;
      }
    }
  }
  set_op_threads(0);
  EXPECT_TRUE(sequence_logprobs(model, std::vector<std::vector<int>>{}).empty());
}

// The head in blocks of 256 rows times chunks of 1,536 vocabulary columns, each chunk leaving a
// maximum and a sum of exponentials per row, gives the log-softmax of the whole row of logits:
// the shipped item model (3,612 tokens: two whole chunks and a part that ends inside an int8
// panel), as shipped (F16 head) and quantized (int8 head, sliced by panels), for a pass of more
// than 256 rows and for one sequence per pass, on one and two op threads.
TEST(SequenceLogprobs, TheHeadInVocabularyChunksEqualsTheLogSoftmaxOfWholeRows) {
  const test::TempDir tmp;
  const auto shipped = test::source_dir() / "models" / "online-retail";
  quantize_model_dir(shipped, tmp.path() / "int8");
  for (const auto& dir : {shipped, tmp.path() / "int8"}) {
    const Model model = Model::load(dir);
    SCOPED_TRACE(dir.string());
    ASSERT_GT(model.config().vocab_size, 2 * 1536);
    ASSERT_NE(model.config().vocab_size % 64, 0);
    std::mt19937 rng(11);
    std::vector<std::vector<int>> seqs;
    for (int n : {300, 2, 45}) seqs.push_back(random_ids(rng, n, model.config().vocab_size));
    std::vector<std::vector<double>> want;
    for (const auto& seq : seqs) want.push_back(from_scratch(model, seq));
    for (const int threads : {1, 2}) {
      set_op_threads(threads);
      for (const int batch_tokens : {4096, 1}) {
        const auto got = sequence_logprobs(model, seqs, {batch_tokens});
        ASSERT_EQ(got.size(), seqs.size());
        for (std::size_t i = 0; i < seqs.size(); ++i) {
          ASSERT_EQ(got[i].size(), want[i].size());
          for (std::size_t t = 0; t < want[i].size(); ++t)
            ASSERT_NEAR(got[i][t], want[i][t], 1e-5)
                << threads << " threads, batch " << batch_tokens << ", sequence " << i << " token "
                << t + 1;
        }
      }
    }
    set_op_threads(0);
  }
}

TEST(SequenceLogprobs, NamesTheBadSequence) {
  const Model model = Model::load(test::model_dir("tiny-learned"));
  auto error_of = [&](const std::vector<std::vector<int>>& seqs) -> std::string {
    try {
      sequence_logprobs(model, seqs);
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
      return e.what();
    }
    return "";
  };
  EXPECT_NE(error_of({{1}, {}}).find("sequence 1: no tokens"), std::string::npos);
  EXPECT_NE(error_of({{1, 500}}).find("sequence 0: token id 500"), std::string::npos);
  EXPECT_NE(error_of({{1}, std::vector<int>(65, 1)}).find("sequence 1: 65 tokens"),
            std::string::npos);
}
