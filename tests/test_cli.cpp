// End-to-end tests of the gptrec command line.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>

#include "gptrec/safetensors.hpp"
#include "gptrec/version.hpp"
#include "test_util.hpp"

using gptrec::test::run_cli;

namespace {

int count_lines(const std::string& s) {
  return static_cast<int>(std::count(s.begin(), s.end(), '\n'));
}

void expect_one_line_error(const gptrec::test::CliResult& r, int status,
                           const std::string& needle) {
  EXPECT_EQ(r.status, status) << r.err;
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  EXPECT_EQ(r.err.rfind("gptrec: error: ", 0), 0u) << r.err;
  EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
}

}  // namespace

TEST(Cli, Version) {
  const auto r = run_cli({"--version"});
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.out.find(std::string("gptrec ") + gptrec::kVersion), std::string::npos);
}

TEST(Cli, HelpOnEveryCommand) {
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"--help"}, {"info", "--help"}, {"logprobs", "--help"}}) {
    const auto r = run_cli(args);
    EXPECT_EQ(r.status, 0) << args[0];
    EXPECT_NE(r.out.find("Usage"), std::string::npos) << r.out;
  }
}

TEST(Cli, InfoDescribesTheModel) {
  const auto r = run_cli({"info", gptrec::test::model_dir("tiny-sinusoidal").string()});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("2 layers, 4 heads, width 64, MLP 256, gelu"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("sinusoidal"), std::string::npos);
  EXPECT_NE(r.out.find("lm_head.weight"), std::string::npos);

  const auto j =
      run_cli({"info", gptrec::test::model_dir("tiny-learned-f16").string(), "--format", "json"});
  ASSERT_EQ(j.status, 0) << j.err;
  const auto info = nlohmann::json::parse(j.out);
  EXPECT_EQ(info["n_layer"], 2);
  EXPECT_EQ(info["dtypes"], nlohmann::json::array({"F16"}));
  EXPECT_EQ(info["n_ctx"], 64);
  EXPECT_EQ(info["tied_head"], true);
}

TEST(Cli, LogprobsMatchThePyTorchReference) {
  const auto dir = gptrec::test::model_dir("tiny-learned");
  const auto expected = gptrec::SafetensorsFile::open(dir / "expected.safetensors");
  const gptrec::TensorInfo& ids_t = *expected.find("ids");
  const gptrec::TensorInfo& logits_t = *expected.find("logits");
  std::vector<std::int64_t> ids(static_cast<std::size_t>(ids_t.numel()));
  std::memcpy(ids.data(), expected.data(ids_t).data(), ids.size() * 8);
  std::vector<double> logits(static_cast<std::size_t>(logits_t.numel()));
  std::memcpy(logits.data(), expected.data(logits_t).data(), logits.size() * 8);
  const auto V = static_cast<std::size_t>(logits_t.shape[1]);

  std::string id_list;
  for (auto id : ids) {
    if (!id_list.empty()) id_list += ',';
    id_list += std::to_string(id);
  }
  const auto r =
      run_cli({"logprobs", dir.string(), "--ids", id_list, "--top", "3", "--format", "json"});
  ASSERT_EQ(r.status, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["positions"].size(), ids.size());
  double worst = 0;
  for (std::size_t t = 0; t + 1 < ids.size(); ++t) {
    const double* row = logits.data() + t * V;
    double m = row[0], sum = 0;
    for (std::size_t v = 0; v < V; ++v) m = std::max(m, row[v]);
    for (std::size_t v = 0; v < V; ++v) sum += std::exp(row[v] - m);
    const auto lp = [&](std::size_t v) { return row[v] - m - std::log(sum); };
    const auto& p = j["positions"][t];
    EXPECT_EQ(p["next_token"], ids[t + 1]);
    worst = std::max(worst, std::fabs(p["next_logprob"].get<double>() -
                                      lp(static_cast<std::size_t>(ids[t + 1]))));
    ASSERT_EQ(p["top"].size(), 3u);
    // The top list is the reference's argmax, in order.
    std::size_t best = 0;
    for (std::size_t v = 1; v < V; ++v)
      if (row[v] > row[best]) best = v;
    EXPECT_EQ(p["top"][0]["token"], best);
    worst = std::max(worst, std::fabs(p["top"][0]["logprob"].get<double>() - lp(best)));
  }
  EXPECT_LE(worst, 1e-4);
  EXPECT_TRUE(j["positions"].back()["next_token"].is_null());

  const auto table = run_cli({"logprobs", dir.string(), "--ids", "1,2,3"});
  ASSERT_EQ(table.status, 0) << table.err;
  EXPECT_EQ(count_lines(table.out), 4);  // header + 3 positions
}

TEST(Cli, ErrorsAreOneLineWithAnExitCode) {
  gptrec::test::TempDir tmp;
  expect_one_line_error(run_cli({"info", (tmp / "missing").string()}), 4, "not a model directory");
  gptrec::test::copy_dir(gptrec::test::model_dir("tiny-learned"), tmp / "m");
  std::filesystem::resize_file(tmp / "m" / "model.safetensors", 3);
  expect_one_line_error(run_cli({"info", (tmp / "m").string()}), 4, "model.safetensors: truncated");
  expect_one_line_error(
      run_cli({"logprobs", gptrec::test::model_dir("tiny-learned").string(), "--ids", "1,999"}), 2,
      "token id 999 at position 1");
  expect_one_line_error(run_cli({"logprobs", gptrec::test::model_dir("tiny-learned").string()}), 2,
                        "--ids");
  expect_one_line_error(run_cli({"frobnicate"}), 2, "unknown command 'frobnicate'");
  expect_one_line_error(run_cli({}), 2, "subcommand is required");
}

TEST(Cli, ThreadsOptionAndEnvironmentGiveTheSameLogprobs) {
  const std::string dir = gptrec::test::model_dir("tiny-learned").string();
  const std::vector<std::string> base = {"logprobs",    dir,        "--ids",
                                         "1,2,3,4,5,6", "--format", "json"};
  auto with = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = base;
    args.insert(args.end(), extra.begin(), extra.end());
    return gptrec::test::run_cli(args);
  };
  const auto one = with({"--threads", "1"});
  ASSERT_EQ(one.status, 0) << one.err;
  const auto two = with({"--threads", "2"});
  ASSERT_EQ(two.status, 0) << two.err;
  EXPECT_EQ(one.out, two.out);
  const auto bad = with({"--threads", "-1"});
  EXPECT_EQ(bad.status, 2);
  // GPTREC_THREADS is read at start-up; a value that is not a count is a command-line error.
  ::setenv("GPTREC_THREADS", "two", 1);
  const auto env_bad = gptrec::test::run_cli(base);
  ::setenv("GPTREC_THREADS", "1", 1);
  const auto env_one = gptrec::test::run_cli(base);
  ::unsetenv("GPTREC_THREADS");
  EXPECT_EQ(env_bad.status, 2);
  EXPECT_NE(env_bad.err.find("GPTREC_THREADS"), std::string::npos) << env_bad.err;
  ASSERT_EQ(env_one.status, 0) << env_one.err;
  EXPECT_EQ(env_one.out, one.out);
}

TEST(Cli, QuantizeWritesAnInt8ModelThatLoads) {
  gptrec::test::TempDir tmp;
  const std::string out = (tmp.path() / "int8").string();
  const auto q = run_cli({"quantize", gptrec::test::model_dir("tiny-learned").string(), out});
  ASSERT_EQ(q.status, 0) << q.err;
  const auto info = run_cli({"info", out, "--format", "json"});
  ASSERT_EQ(info.status, 0) << info.err;
  EXPECT_NE(info.out.find("\"I8\""), std::string::npos) << info.out;
  const auto lp = run_cli({"logprobs", out, "--ids", "1,2,3"});
  EXPECT_EQ(lp.status, 0) << lp.err;
  EXPECT_EQ(run_cli({"quantize", out, (tmp.path() / "again").string()}).status, 4);
  EXPECT_EQ(run_cli({"quantize", out, (tmp.path() / "x").string(), "--type", "int4"}).status, 2);
}

TEST(Cli, UnknownOptionsAreNamedWithTheCommandsHelp) {
  // A missing required option must not hide the misspelt one.
  auto r = run_cli({"suggest", "--histroy", "x.json"});
  expect_one_line_error(r, 2, "unknown option '--histroy' for 'gptrec suggest'");
  EXPECT_NE(r.err.find("(run 'gptrec suggest --help')"), std::string::npos) << r.err;
  r = run_cli({"score", "--input", "-", "--output", "-", "--bogus=3"});
  expect_one_line_error(r, 2, "unknown option '--bogus' for 'gptrec score'");
  r = run_cli({"info"});
  expect_one_line_error(r, 2, "--model is required (run 'gptrec info --help')");
}

TEST(Cli, ModelDirectoryAsOptionOrFirstArgument) {
  const std::string model = gptrec::test::model_dir("tiny-learned").string();
  const auto positional = run_cli({"info", model, "--format", "json"});
  const auto option = run_cli({"info", "--model", model, "--format", "json"});
  EXPECT_EQ(positional.status, 0) << positional.err;
  EXPECT_EQ(option.status, 0) << option.err;
  EXPECT_EQ(positional.out, option.out);
  const auto logprobs = run_cli({"logprobs", "--model", model, "--ids", "1,2,3"});
  EXPECT_EQ(logprobs.status, 0) << logprobs.err;
}
