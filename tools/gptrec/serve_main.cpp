// gptrec-serve: the HTTP server that `gptrec serve` runs (http_server.hpp). It is its own
// executable so that `gptrec` itself contains no socket code (README "Limits and guarantees").
//
// Signals: SIGTERM and SIGINT stop accepting connections, finish the requests in flight and exit
// 0; SIGHUP reloads the model (and the histories database) as POST /v1/admin/reload does.
#include <malloc.h>
#include <pthread.h>
#include <signal.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <new>
#include <thread>

#include "errors.hpp"
#include "gptrec/error.hpp"
#include "gptrec/version.hpp"
#include "http_server.hpp"
#include "input.hpp"

namespace {

using gptrec::Error;
using gptrec::ErrorCode;

using gptrec::cli::print_error;

std::string read_token(const std::string& path) {
  std::string token = gptrec::cli::read_input(path, 64 << 10);
  while (!token.empty() && (token.back() == '\n' || token.back() == '\r' || token.back() == ' '))
    token.pop_back();
  if (token.empty()) throw Error(ErrorCode::kInvalidArgument, path + ": the token file is empty");
  for (const char c : token)
    if (c <= 0x20 || c >= 0x7f)
      throw Error(ErrorCode::kInvalidArgument,
                  path + ": a token is one line of visible ASCII characters");
  return token;
}

bool is_loopback(const std::string& host) {
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

int run(gptrec::cli::ServerConfig config, const std::string& token_file) {
  if (!token_file.empty()) config.token = read_token(token_file);
  if (config.model_dir.empty()) config.model_dir = gptrec::cli::default_model_dir();
  if (config.threads == 0) config.threads = static_cast<int>(std::thread::hardware_concurrency());
  if (config.threads < 1) config.threads = 1;
  if (config.max_in_flight == 0) config.max_in_flight = 64LL * config.threads;
  // Hundreds of connection threads would each get a malloc arena of their own (glibc: up to 8 per
  // core), and every arena keeps its high-water mark: a few arenas keep the resident memory flat
  // under load. MALLOC_ARENA_MAX in the environment still decides when set.
  if (std::getenv("MALLOC_ARENA_MAX") == nullptr) mallopt(M_ARENA_MAX, 2 * config.threads);

  // The signals are taken by one thread with sigwait: block them before any thread starts, so
  // that every thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  for (const int s : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&signals, s);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);  // a client that goes away is a failed write, not the end

  gptrec::cli::SuggestionServer server(config);
  const int port = server.bind();
  const std::string host =
      config.host.find(':') != std::string::npos ? "[" + config.host + "]" : config.host;
  if (!is_loopback(config.host) && config.token.empty())
    std::fprintf(stderr,
                 "gptrec serve: warning: listening on %s without --token-file: anyone who can "
                 "reach this address gets suggestions\n",
                 config.host.c_str());
  std::printf("listening on http://%s:%d\n", host.c_str(), port);
  std::fflush(stdout);
  std::fprintf(stderr,
               "gptrec serve: model %s, %d model threads, at most %lld requests in flight\n",
               config.model_dir.c_str(), config.threads, config.max_in_flight);

  std::atomic<bool> done{false};
  std::thread signal_thread([&] {
    while (!done) {
      const timespec wait{0, 200'000'000};
      const int s = sigtimedwait(&signals, nullptr, &wait);
      if (s == SIGHUP) {
        server.reload();  // logs its result
      } else if (s == SIGTERM || s == SIGINT) {
        std::fprintf(stderr,
                     "gptrec serve: stopping: no new connections; finishing the requests in "
                     "flight\n");
        server.stop();
      }
    }
  });
  server.serve();
  done = true;
  signal_thread.join();
  std::fprintf(stderr, "gptrec serve: stopped: read %lld requests, wrote %lld responses\n",
               server.requests(), server.responses());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"gptrec serve: personalized suggestions over HTTP"};
  app.name("gptrec serve");
  app.set_version_flag("--version", std::string("gptrec ") + gptrec::kVersion);
  app.footer(
      "Endpoints: POST /v1/suggest, POST /v1/score, POST /v1/admin/reload, GET /healthz,\n"
      "GET /readyz, GET /metrics. SIGTERM: finish the requests in flight and exit 0;\n"
      "SIGHUP: reload the model. Exit status: 0 stopped by a signal, 1 internal error,\n"
      "2 bad command line, 3 bad catalog or histories database, 4 bad model directory,\n"
      "5 file or network error (e.g. the port is taken).");
  gptrec::cli::ServerConfig config;
  std::string token_file;
  double max_body_mib = 16;
  config.threads = 0;
  config.max_in_flight = 0;
  app.add_option("--model", config.model_dir,
                 "Model directory (default: $GPTREC_MODEL, else the shipped models/online-retail)");
  app.add_option("--catalog", config.catalog,
                 "Catalog JSON: restricts (item models) or provides (text models) the candidates");
  app.add_option("--histories", config.histories,
                 "SQLite histories database (gptrec import) for requests that give only a "
                 "customer_id");
  app.add_option("--host", config.host, "Address to listen on")->capture_default_str();
  app.add_option("--port", config.port, "Port (0: any free port, printed at start)")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  app.add_option("--threads", config.threads,
                 "Requests the model answers at once, each on one core (0 = all cores)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--max-connections", config.max_connections,
                 "Connections served at once (one thread each); more wait for a free one")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--max-in-flight", config.max_in_flight,
                 "Requests admitted at once; beyond, 503 with Retry-After (0 = 64 per thread)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--max-body", max_body_mib, "Largest request body, in MiB (larger: 413)")
      ->check(CLI::Range(1.0 / 1024, 1024.0))
      ->capture_default_str();
  app.add_option("--timeout", config.timeout_seconds,
                 "Seconds a socket read or write, or the wait for a model thread, may take")
      ->check(CLI::Range(0.001, 3600.0))
      ->capture_default_str();
  app.add_option("--token-file", token_file,
                 "File holding a bearer token that every request but /healthz and /readyz must "
                 "send (Authorization: Bearer TOKEN)");
  app.add_flag("--access-log", config.access_log,
               "One line per request on stderr (method, path, status, time)");
  app.add_flag("--log-customers", config.log_customers,
               "Name the customer id in access log lines (never the history)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    print_error(std::string(e.what()) + " (run 'gptrec serve --help')");
    return 2;
  }
  config.max_body_bytes = static_cast<std::size_t>(max_body_mib * (1 << 20));
  return gptrec::cli::run_reporting_errors([&] { return run(config, token_file); });
}
