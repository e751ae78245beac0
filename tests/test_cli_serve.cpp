// `gptrec serve` as a user runs it: a process started on an ephemeral 127.0.0.1 port (it prints
// the port), answering exactly what `gptrec suggest --format json` prints, stopping cleanly on
// SIGTERM under load and reloading on SIGHUP.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "test_util.hpp"

using gptrec::test::run_cli;
using json = nlohmann::json;

namespace {

const bool kIgnoreSigpipe = [] {
  ::signal(SIGPIPE, SIG_IGN);
  return true;
}();

using gptrec::test::source_dir;
std::string online_retail() { return (source_dir() / "models" / "online-retail").string(); }

// `gptrec serve --port 0 ARGS...` in a child process; killed (SIGKILL) if still running when the
// object dies.
class ServerProcess {
 public:
  explicit ServerProcess(const std::vector<std::string>& args) {
    int out[2];
    if (::pipe(out) != 0) throw std::runtime_error("pipe failed");
    err_path_ = tmp_ / "stderr";
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      const int err = ::open(err_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(out[1], 1);
      ::dup2(err, 2);
      ::close(out[0]);
      ::close(out[1]);
      ::close(err);
      const std::string cli = GPTREC_CLI;
      std::vector<std::string> all = {cli, "serve", "--port", "0"};
      all.insert(all.end(), args.begin(), args.end());
      std::vector<char*> argv;
      for (auto& a : all) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(cli.c_str(), argv.data());
      ::_exit(127);
    }
    ::close(out[1]);
    out_ = out[0];
    // The first line on stdout says where it listens: "listening on http://127.0.0.1:PORT".
    std::string line;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    while (line.find('\n') == std::string::npos && std::chrono::steady_clock::now() < deadline) {
      pollfd p{out_, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      char c;
      if (::read(out_, &c, 1) != 1) break;
      line += c;
    }
    const auto colon = line.rfind(':');
    if (line.rfind("listening on http://127.0.0.1:", 0) != 0 || colon == std::string::npos)
      return;  // port_ stays 0: the test reports stderr
    port_ = std::stoi(line.substr(colon + 1));
  }
  ~ServerProcess() {
    if (pid_ > 0 && status_ < 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    ::close(out_);
  }

  int port() const { return port_; }
  void signal(int s) const { ::kill(pid_, s); }
  // Waits for the exit (at most `seconds`, then SIGKILL); the exit status, or 128 + signal.
  int wait(double seconds = 120) {
    const auto deadline = std::chrono::steady_clock::now() +
                          std::chrono::milliseconds(static_cast<int>(seconds * 1e3));
    int status = 0;
    while (::waitpid(pid_, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return status_;
  }
  std::string err() const { return gptrec::test::read_file(err_path_); }
  std::unique_ptr<httplib::Client> client() const {
    auto c = std::make_unique<httplib::Client>("127.0.0.1", port_);
    c->set_read_timeout(120);
    return c;
  }

 private:
  gptrec::test::TempDir tmp_;
  std::filesystem::path err_path_;
  pid_t pid_ = -1;
  int out_ = -1;
  int port_ = 0;
  int status_ = -1;
};

}  // namespace

// /v1/suggest answers, byte for byte, what `gptrec suggest --format json` prints for the same
// history and options, whether the history is sent or looked up in the database.
TEST(CliServe, SuggestEqualsSuggestFormatJsonByteForByte) {
  gptrec::test::TempDir tmp;
  const auto db = tmp / "events.sqlite";
  const auto sample = source_dir() / "examples" / "online-retail-sample.jsonl";
  ASSERT_EQ(run_cli({"import", "--from", sample.string(), "--db", db.string(), "--quiet"}).status,
            0);
  ServerProcess server({"--model", online_retail(), "--histories", db.string(), "--threads", "2"});
  ASSERT_NE(server.port(), 0) << server.err();
  auto c = server.client();
  // The targets below are sent as written: the client would otherwise send "+" as "%2B".
  c->set_url_encode(false);
  const std::vector<std::pair<std::string, std::vector<std::string>>> option_sets = {
      {"", {}},
      {"?top=3&explain=true", {"--top", "3", "--explain"}},
      {"?exclude_purchased=true&top=20", {"--exclude-purchased", "--top", "20"}},
      {"?category=none", {"--category", "none"}},
      {"?mode=buy-again&top=5", {"--mode", "buy-again", "--top", "5"}},
      {"?mode=all&need=lunch+bags&max_price=3",
       {"--mode", "all", "--need", "lunch bags", "--max-price", "3"}},
      {"?need=lunch%20bag&min_price=1.5&explain=1",
       {"--need", "lunch bag", "--min-price", "1.5", "--explain"}}};
  for (const char* customer : {"12352", "12494", "12594", "12910", "13113"}) {
    const auto file = source_dir() / "examples" / "customers" / (std::string(customer) + ".json");
    for (const auto& [query, flags] : option_sets) {
      // The server runs each request on one thread: with more, a product may sum in another
      // order and change the last digits of a score.
      std::vector<std::string> args = {"suggest",   "--model",     online_retail(),
                                       "--history", file.string(), "--format",
                                       "json",      "--threads",   "1"};
      args.insert(args.end(), flags.begin(), flags.end());
      const auto cli = run_cli(args);
      ASSERT_EQ(cli.status, 0) << cli.err;
      auto r = c->Post(("/v1/suggest" + query).c_str(), gptrec::test::read_file(file),
                       "application/json");
      ASSERT_TRUE(r);
      EXPECT_EQ(r->status, 200);
      EXPECT_EQ(r->body, cli.out) << customer << query;
    }
  }
  // A customer looked up in the database: the same as suggest on its line of the sample.
  std::ifstream in(sample);
  std::string line;
  for (int i = 0; i < 40 && std::getline(in, line); ++i) {
    if (i % 13 != 0) continue;
    gptrec::test::write_file(tmp / "one.json", line);
    const auto cli =
        run_cli({"suggest", "--model", online_retail(), "--history", (tmp / "one.json").string(),
                 "--format", "json", "--top", "5", "--threads", "1"});
    ASSERT_EQ(cli.status, 0) << cli.err;
    const std::string id = json::parse(line)["customer_id"];
    auto r =
        c->Post("/v1/suggest", json({{"customer_id", id}, {"top", 5}}).dump(), "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body, cli.out) << id;
    // Options in the body, as JSON fields.
    const auto discover = run_cli({"suggest", "--model", online_retail(), "--history",
                                   (tmp / "one.json").string(), "--format", "json", "--mode",
                                   "discover", "--need", "christmas", "--threads", "1"});
    ASSERT_EQ(discover.status, 0) << discover.err;
    r = c->Post("/v1/suggest",
                json({{"customer_id", id}, {"mode", "discover"}, {"need", "christmas"}}).dump(),
                "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body, discover.out) << id;
  }
  server.signal(SIGTERM);
  EXPECT_EQ(server.wait(), 0) << server.err();
}

// SIGTERM while clients keep sending: every request the server read is answered in full, and the
// server exits 0. The server counts the requests it read and the responses it wrote; both equal
// the complete answers the clients received. The clients' other requests were never read: their
// connection was refused, or reset while the kernel held it for an accept() that did not come
// (the listening socket closes with it).
TEST(CliServe, SigtermUnderLoadLosesNoRequest) {
  ServerProcess server({"--model", gptrec::test::model_dir("tiny-items").string(), "--threads", "2",
                        "--access-log"});
  ASSERT_NE(server.port(), 0) << server.err();
  const std::string history =
      gptrec::test::read_file(gptrec::test::model_dir("tiny-items") / "history.json");
  const std::string expected =
      server.client()->Post("/v1/suggest", history, "application/json")->body;
  ASSERT_NE(expected.find("\"suggestions\""), std::string::npos) << expected;
  std::atomic<int> answered{1}, refused{0}, reset{0}, wrong{0};
  std::mutex mutex;
  std::string problems;
  std::vector<std::thread> clients;
  for (int t = 0; t < 6; ++t)
    clients.emplace_back([&] {
      for (int k = 0; k < 100000; ++k) {
        // A new connection per request, so that the server's closing meets requests at every
        // stage: connecting, queued for accept, being read, answered.
        httplib::Client c("127.0.0.1", server.port());
        c.set_read_timeout(120);
        auto r = c.Post("/v1/suggest", history, "application/json");
        if (r && r->status == 200 && r->body == expected) {
          ++answered;
          continue;
        }
        if (!r && r.error() == httplib::Error::Connection) {
          ++refused;  // the listening socket is closed: the server has stopped accepting
          return;
        }
        if (!r && (r.error() == httplib::Error::Read || r.error() == httplib::Error::Write)) {
          ++reset;  // checked against the server's count below
          continue;
        }
        ++wrong;
        std::lock_guard<std::mutex> lock(mutex);
        problems += (r ? "status " + std::to_string(r->status) + " " + r->body
                       : "error " + httplib::to_string(r.error())) +
                    "\n";
      }
    });
  while (answered < 60) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  server.signal(SIGTERM);
  for (auto& c : clients) c.join();
  EXPECT_EQ(server.wait(), 0) << server.err();
  EXPECT_EQ(wrong, 0) << problems;
  EXPECT_EQ(refused, 6);
  const std::string err = server.err();
  EXPECT_NE(err.find("stopping"), std::string::npos) << err;
  const std::string n = std::to_string(answered.load());
  EXPECT_NE(err.find("stopped: read " + n + " requests, wrote " + n + " responses"),
            std::string::npos)
      << err << "(" << reset << " connections reset before the server read them)";
  EXPECT_EQ(err.find("\"item\""), std::string::npos);  // the access log holds no history
}

// SIGHUP reloads the model from its directory; a model that fails to load leaves the old one
// serving, and the log says why.
TEST(CliServe, SighupReloads) {
  gptrec::test::TempDir tmp;
  const auto dir = tmp / "model";
  gptrec::test::copy_dir(gptrec::test::model_dir("tiny-items"), dir);
  ServerProcess server({"--model", dir.string(), "--threads", "1"});
  ASSERT_NE(server.port(), 0) << server.err();
  const std::string history =
      gptrec::test::read_file(source_dir() / "examples" / "customers" / "12352.json");
  auto c = server.client();
  const std::string before = c->Post("/v1/suggest", history, "application/json")->body;
  std::filesystem::remove_all(dir);
  gptrec::test::copy_dir(online_retail(), dir);
  server.signal(SIGHUP);
  std::string after = before;
  for (int i = 0; i < 600 && after == before; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    after = c->Post("/v1/suggest", history, "application/json")->body;
  }
  ASSERT_NE(after, before) << server.err();
  const auto cli = run_cli({"suggest", "--model", dir.string(), "--history",
                            (source_dir() / "examples" / "customers" / "12352.json").string(),
                            "--format", "json", "--threads", "1"});
  EXPECT_EQ(after, cli.out);
  EXPECT_NE(server.err().find("reloaded " + dir.string()), std::string::npos) << server.err();

  std::filesystem::remove(dir / "model.safetensors");
  server.signal(SIGHUP);
  for (int i = 0; i < 600 && server.err().find("reload failed") == std::string::npos; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_NE(server.err().find("reload failed, the previous model keeps serving"), std::string::npos)
      << server.err();
  EXPECT_NE(server.err().find("model.safetensors"), std::string::npos) << server.err();
  EXPECT_EQ(c->Post("/v1/suggest", history, "application/json")->body, after);
  server.signal(SIGINT);
  EXPECT_EQ(server.wait(), 0) << server.err();
}

TEST(CliServe, CommandLineErrors) {
  gptrec::test::TempDir tmp;
  const std::string model = gptrec::test::model_dir("tiny-items").string();
  // The port is taken.
  ServerProcess first({"--model", model});
  ASSERT_NE(first.port(), 0) << first.err();
  auto r = run_cli({"serve", "--model", model, "--port", std::to_string(first.port())});
  EXPECT_EQ(r.status, 5) << r.err;
  EXPECT_NE(r.err.find("gptrec: error: cannot listen on 127.0.0.1:" + std::to_string(first.port())),
            std::string::npos)
      << r.err;
  first.signal(SIGTERM);
  EXPECT_EQ(first.wait(), 0);

  r = run_cli({"serve", "--model", (tmp / "none").string(), "--port", "0"});
  EXPECT_EQ(r.status, 4) << r.err;
  r = run_cli({"serve", "--model", model, "--histories", (tmp / "none.sqlite").string()});
  EXPECT_EQ(r.status, 5) << r.err;
  EXPECT_NE(r.err.find("none.sqlite"), std::string::npos) << r.err;
  r = run_cli({"serve", "--model", model, "--token-file", (tmp / "none.txt").string()});
  EXPECT_EQ(r.status, 5) << r.err;
  gptrec::test::write_file(tmp / "empty.txt", "\n");
  r = run_cli({"serve", "--model", model, "--token-file", (tmp / "empty.txt").string()});
  EXPECT_EQ(r.status, 2) << r.err;
  EXPECT_NE(r.err.find("the token file is empty"), std::string::npos) << r.err;
  r = run_cli({"serve", "--model", model, "--port", "70000"});
  EXPECT_EQ(r.status, 2) << r.err;
  r = run_cli({"serve", "--help"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("--histories"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("POST /v1/suggest"), std::string::npos) << r.out;
}
