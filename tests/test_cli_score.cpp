// End-to-end tests of batch scoring: order, error records, shards, and resuming a killed run.
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "test_util.hpp"

using gptrec::test::run_cli;

extern char** environ;

namespace {

std::string tiny_items() { return gptrec::test::model_dir("tiny-items").string(); }
std::filesystem::path sample() {
  return gptrec::test::source_dir() / "examples" / "online-retail-sample.jsonl";
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// The sample, repeated `times`, with a few bad lines in between.
std::string big_input(int times) {
  const std::string base = gptrec::test::read_file(sample());
  std::string out;
  for (int i = 0; i < times; ++i) {
    out += base;
    if (i % 7 == 0) out += "{not json\n";
  }
  return out;
}

}  // namespace

TEST(CliScore, OneResultLinePerInputLineInOrder) {
  gptrec::test::TempDir tmp;
  const auto out = tmp / "out.jsonl";
  const auto r = run_cli({"score", "--model", tiny_items(), "--input", sample().string(),
                          "--output", out.string(), "--top", "3", "--threads", "2", "--quiet"});
  ASSERT_EQ(r.status, 0) << r.err;
  const auto in_lines = lines_of(gptrec::test::read_file(sample()));
  const auto out_lines = lines_of(gptrec::test::read_file(out));
  ASSERT_EQ(out_lines.size(), in_lines.size());
  for (std::size_t i = 0; i < out_lines.size(); ++i) {
    const auto j = nlohmann::json::parse(out_lines[i]);
    EXPECT_EQ(j["line"], i + 1);
    EXPECT_EQ(j["customer_id"], nlohmann::json::parse(in_lines[i])["customer_id"]);
    EXPECT_EQ(j["suggestions"].size(), 3u);
  }
  // A record's suggestions are the ones `suggest` gives for that customer.
  const auto single = run_cli(
      {"suggest", "--model", tiny_items(), "--history", "-", "--top", "3", "--format", "json"},
      in_lines[17]);
  ASSERT_EQ(single.status, 0) << single.err;
  const auto want = nlohmann::json::parse(single.out)["suggestions"];
  const auto got = nlohmann::json::parse(out_lines[17])["suggestions"];
  for (std::size_t k = 0; k < 3; ++k) {
    EXPECT_EQ(got[k]["item"], want[k]["item"]);
    EXPECT_DOUBLE_EQ(got[k]["score"].get<double>(), want[k]["score"].get<double>());
  }
}

TEST(CliScore, BadLinesBecomeErrorRecordsAndTheRunGoesOn) {
  const std::string input =
      R"({"customer_id": "a", "events": [{"item": "22423"}]})"
      "\n"
      "{oops\n"
      R"({"customer_id": "b", "events": [{"item": "22423", "timestamp": "someday"}]})"
      "\n"
      "\n"
      R"({"customer_id": "c", "events": []})"
      "\n";
  const auto r =
      run_cli({"score", "--model", tiny_items(), "--input", "-", "--output", "-"}, input);
  EXPECT_EQ(r.status, 3);  // some records failed
  const auto out = lines_of(r.out);
  ASSERT_EQ(out.size(), 4u);  // the blank line is not a record
  EXPECT_EQ(nlohmann::json::parse(out[0])["customer_id"], "a");
  const auto bad = nlohmann::json::parse(out[1]);
  EXPECT_EQ(bad["line"], 2);
  EXPECT_TRUE(bad["customer_id"].is_null());
  EXPECT_NE(bad["error"].get<std::string>().find("<stdin>:2: not valid JSON"), std::string::npos)
      << bad;
  const auto bad2 = nlohmann::json::parse(out[2]);
  EXPECT_EQ(bad2["line"], 3);
  EXPECT_NE(bad2["error"].get<std::string>().find("events[0].timestamp: not a date"),
            std::string::npos);
  EXPECT_EQ(nlohmann::json::parse(out[3])["fallback"], "the history has no purchases");
  EXPECT_NE(r.err.find("scored 4 records (2 errors)"), std::string::npos) << r.err;
}

TEST(CliScore, ShardsPartitionTheInput) {
  gptrec::test::TempDir tmp;
  gptrec::test::write_file(tmp / "in.jsonl", big_input(2));
  const auto full = run_cli({"score", "--model", tiny_items(), "--input",
                             (tmp / "in.jsonl").string(), "--output", "-", "--quiet"});
  ASSERT_EQ(full.status, 3) << full.err;  // the input holds bad lines
  std::map<long long, std::string> by_line;
  for (int i = 0; i < 3; ++i) {
    const auto part =
        run_cli({"score", "--model", tiny_items(), "--input", (tmp / "in.jsonl").string(),
                 "--output", "-", "--shard", std::to_string(i) + "/3", "--quiet"});
    const auto lines = lines_of(part.out);
    EXPECT_GT(lines.size(), 100u);  // a fair split
    for (const auto& l : lines) {
      const long long n = nlohmann::json::parse(l)["line"].get<long long>();
      EXPECT_TRUE(by_line.emplace(n, l).second) << "line " << n << " in two shards";
    }
  }
  const auto all = lines_of(full.out);
  ASSERT_EQ(by_line.size(), all.size());
  std::size_t i = 0;
  for (const auto& [n, l] : by_line) EXPECT_EQ(l, all[i++]);
  EXPECT_EQ(
      run_cli({"score", "--model", tiny_items(), "--input", "-", "--output", "-", "--shard", "3/3"})
          .status,
      2);
}

// The shard of a record is FNV-1a-64("id:" + customer_id) mod n (README), the same on every
// machine. Expected shards from an independent computation:
//   python3 -c 'h=14695981039346656037
//   for c in b"id:12347": h=((h^c)*1099511628211)%2**64
//   print(h%3)'   -> 0; likewise 12348 -> 1, 12349 -> 2, 12350 -> 2, 13047 -> 0.
TEST(CliScore, ShardIsFnv1aOfTheCustomerId) {
  const std::vector<std::pair<std::string, int>> expected = {
      {"12347", 0}, {"12348", 1}, {"12349", 2}, {"12350", 2}, {"13047", 0}};
  std::string input;
  for (const auto& [id, shard] : expected)
    input += R"({"customer_id": ")" + id + R"(", "events": [{"item": "22423"}]})" + "\n";
  for (int i = 0; i < 3; ++i) {
    const auto part = run_cli({"score", "--model", tiny_items(), "--input", "-", "--output", "-",
                               "--shard", std::to_string(i) + "/3", "--quiet"},
                              input);
    ASSERT_EQ(part.status, 0) << part.err;
    std::vector<std::string> got, want;
    for (const auto& l : lines_of(part.out))
      got.push_back(nlohmann::json::parse(l)["customer_id"].get<std::string>());
    for (const auto& [id, shard] : expected)
      if (shard == i) want.push_back(id);
    EXPECT_EQ(got, want) << "shard " << i;
  }
}

TEST(CliScore, ResumeAfterACutOutputGivesEveryRecordOnce) {
  gptrec::test::TempDir tmp;
  gptrec::test::write_file(tmp / "in.jsonl", big_input(2));
  const auto out = tmp / "out.jsonl";
  std::vector<std::string> args = {
      "score",    "--model",    tiny_items(), "--input", (tmp / "in.jsonl").string(),
      "--output", out.string(), "--quiet"};
  run_cli(args);
  const std::string complete = gptrec::test::read_file(out);
  // A run killed in the middle of a line: resume must drop the partial line and finish.
  for (const std::size_t cut : {std::size_t{0}, complete.size() / 3 + 17, complete.size() - 5}) {
    std::filesystem::resize_file(out, cut);
    auto resumed = args;
    resumed.push_back("--resume");
    const auto r = run_cli(resumed);
    // 3 when the resumed part holds the bad line, else 0.
    EXPECT_TRUE(r.status == 0 || r.status == 3) << r.err;
    EXPECT_EQ(gptrec::test::read_file(out), complete) << "cut at " << cut;
  }
}

TEST(CliScore, ResumeAfterKill9) {
  gptrec::test::TempDir tmp;
  gptrec::test::write_file(tmp / "in.jsonl", big_input(30));
  const auto out = tmp / "out.jsonl";
  const std::string cli = GPTREC_CLI;
  std::vector<std::string> args = {
      cli,        "score",      "--model", tiny_items(), "--input", (tmp / "in.jsonl").string(),
      "--output", out.string(), "--quiet", "--threads",  "1"};
  // The reference: one uninterrupted run.
  const auto reference = tmp / "reference.jsonl";
  run_cli({"score", "--model", tiny_items(), "--input", (tmp / "in.jsonl").string(), "--output",
           reference.string(), "--quiet", "--threads", "1"});
  const std::string complete = gptrec::test::read_file(reference);
  ASSERT_FALSE(complete.empty());

  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  ASSERT_EQ(::posix_spawn(&pid, cli.c_str(), nullptr, nullptr, argv.data(), environ), 0);
  // Kill it once some output exists (or after 5 s at most).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  std::error_code ec;
  while (std::chrono::steady_clock::now() < deadline &&
         (!std::filesystem::exists(out, ec) || std::filesystem::file_size(out, ec) < 20000))
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  const auto partial = std::filesystem::file_size(out, ec);
  std::printf("killed after %ju of %zu bytes\n", static_cast<std::uintmax_t>(partial),
              complete.size());

  std::vector<std::string> resumed(args.begin() + 1, args.end());
  resumed.push_back("--resume");
  const auto r = run_cli(resumed);
  EXPECT_TRUE(r.status == 0 || r.status == 3) << r.err;
  EXPECT_EQ(gptrec::test::read_file(out), complete);
}

namespace {

// Starts `gptrec args...`, waits until `out` holds some output (the first chunk is written, so the
// signal handlers are in place) and a little more (the next chunk is being scored), sends `sig`,
// and returns the exit status (-1 if it did not exit).
int interrupt_when_writing(const std::vector<std::string>& args, const std::filesystem::path& out,
                           int sig) {
  const std::string cli = GPTREC_CLI;
  std::vector<std::string> argv_text = {cli};
  argv_text.insert(argv_text.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_text) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  if (::posix_spawn(&pid, cli.c_str(), nullptr, nullptr, argv.data(), environ) != 0) return -1;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  std::error_code ec;
  while (std::chrono::steady_clock::now() < deadline &&
         (!std::filesystem::exists(out, ec) || std::filesystem::file_size(out, ec) == 0))
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ::kill(pid, sig);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace

// Ctrl-C (SIGINT) or SIGTERM: every record scored so far is written, whole and in input order,
// the exit status is 128 + the signal, and --resume completes the output.
TEST(CliScore, InterruptedRunKeepsEveryFinishedRecord) {
  gptrec::test::TempDir tmp;
  gptrec::test::write_file(tmp / "in.jsonl", big_input(60));  // 18,000+ records
  const std::vector<std::string> args = {
      "score",   "--model",   tiny_items(), "--input", (tmp / "in.jsonl").string(),
      "--quiet", "--threads", "2"};
  auto with_output = [&](const std::filesystem::path& out) {
    auto a = args;
    a.insert(a.end(), {"--output", out.string()});
    return a;
  };
  const auto reference = tmp / "reference.jsonl";
  run_cli(with_output(reference));
  const std::string complete = gptrec::test::read_file(reference);
  ASSERT_FALSE(complete.empty());

  for (const int sig : {SIGINT, SIGTERM}) {
    const auto out = tmp / ("out" + std::to_string(sig) + ".jsonl");
    const int status = interrupt_when_writing(with_output(out), out, sig);
    EXPECT_EQ(status, 128 + sig);
    const std::string partial = gptrec::test::read_file(out);
    ASSERT_FALSE(partial.empty());
    EXPECT_LT(partial.size(), complete.size()) << "the run ended before the signal";
    EXPECT_EQ(partial.back(), '\n');
    EXPECT_EQ(complete.compare(0, partial.size(), partial), 0) << "not a prefix of the full run";
    std::printf("signal %d: %zu of %zu bytes written\n", sig, partial.size(), complete.size());

    auto resumed = with_output(out);
    resumed.push_back("--resume");
    const auto r = run_cli(resumed);
    EXPECT_TRUE(r.status == 0 || r.status == 3) << r.err;
    EXPECT_EQ(gptrec::test::read_file(out), complete);
  }
}

TEST(CliScore, ResumeRefusesAnotherRunsOutput) {
  gptrec::test::TempDir tmp;
  gptrec::test::write_file(tmp / "in.jsonl", big_input(1));
  gptrec::test::write_file(tmp / "other.jsonl", big_input(2));
  const auto out = tmp / "out.jsonl";
  auto args = [&](const std::string& input, const std::string& top) {
    return std::vector<std::string>{"score",    "--model",    tiny_items(), "--input", input,
                                    "--output", out.string(), "--top",      top,       "--quiet"};
  };
  const std::string input = (tmp / "in.jsonl").string();
  run_cli(args(input, "10"));
  const std::string written = gptrec::test::read_file(out);
  ASSERT_FALSE(written.empty());
  ASSERT_TRUE(std::filesystem::exists(tmp / "out.jsonl.resume"));

  auto resume = [&](std::vector<std::string> a) {
    a.push_back("--resume");
    return run_cli(a);
  };
  auto r = resume(args(input, "2"));
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("was written by another run"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--top 10 then, 2 now"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("rerun without --resume"), std::string::npos) << r.err;

  r = resume(args((tmp / "other.jsonl").string(), "10"));
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("the input differs"), std::string::npos) << r.err;

  r = resume(args(input, "10"));  // the same run: nothing left to do
  EXPECT_TRUE(r.status == 0 || r.status == 3) << r.err;
  EXPECT_EQ(gptrec::test::read_file(out), written);

  std::filesystem::remove(tmp / "out.jsonl.resume");
  r = resume(args(input, "10"));
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("cannot check that"), std::string::npos) << r.err;
  EXPECT_EQ(gptrec::test::read_file(out), written);  // refused before anything was changed
}

// The run file is written beside output files only: never beside a device such as /dev/null.
TEST(CliScore, NoRunFileBesideADevice) {
  const auto r = run_cli({"score", "--model", tiny_items(), "--input", sample().string(),
                          "--output", "/dev/null", "--quiet"});
  EXPECT_EQ(r.status, 0) << r.err;
  std::error_code ec;
  EXPECT_FALSE(std::filesystem::exists("/dev/null.resume", ec));
}
