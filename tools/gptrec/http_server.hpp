// `gptrec serve`: suggestions over HTTP (cpp-httplib), from one loaded model shared by every
// request. README "Serving over HTTP" documents the endpoints, limits and signals.
//
// Threads: each connection is served by a thread of a pool of `max_connections`; requests that
// run the model (/v1/suggest, each record of /v1/score) hand that work to one of `threads` model
// threads, first come first served, which run it with single-threaded ops (no oversubscription;
// the engine's per-thread scratch exists on these threads only). Requests admitted but not
// finished are "in flight"; beyond `max_in_flight` a new one is answered 503 with Retry-After at
// once, and one that waits longer than `timeout_seconds` for a model thread too.
//
// Reload: the model (and the histories database) are loaded again beside the ones serving and
// swapped in at once; requests already running finish on the old ones, which are freed after them.
// A reload that fails leaves the old ones serving and says why.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>

namespace gptrec::cli {

struct ServerConfig {
  std::string model_dir;  // as given: shown in every response's "model"
  std::string catalog;    // optional catalog file (restricts or provides the candidates)
  std::string histories;  // optional histories database (histories_db.hpp)
  std::string host = "127.0.0.1";
  int port = 8080;                        // 0: any free port (bind() returns it)
  int threads = 1;                        // model threads
  int max_connections = 256;              // connection threads
  long long max_in_flight = 32;           // admitted requests at once
  std::size_t max_body_bytes = 16 << 20;  // larger bodies are answered 413
  double timeout_seconds = 10;  // socket reads and writes, and the wait for a model thread
  std::string token;            // when set, requests need "Authorization: Bearer <token>"
  bool log_customers = false;   // access log lines name the customer
  bool access_log = false;      // one line per request on the log
  // Where log lines go (default: standard error). Lines never hold history contents.
  std::function<void(const std::string&)> log;
};

struct ReloadResult {
  bool ok = false;
  std::string message;  // what failed
  double seconds = 0;   // time spent loading
};

class SuggestionServer {
 public:
  // Loads the model and opens the histories database. Throws Error as `gptrec suggest` would
  // (kBadModel, kBadInput for the catalog or the database, kIo).
  explicit SuggestionServer(ServerConfig config);
  ~SuggestionServer();
  SuggestionServer(const SuggestionServer&) = delete;
  SuggestionServer& operator=(const SuggestionServer&) = delete;

  // Binds the listening socket; returns the port. Throws Error(kIo) when it cannot.
  int bind();
  // Serves until stop(), then finishes the requests in flight and returns.
  void serve();
  // Stops accepting connections; serve() returns once the requests in flight are answered.
  // Thread-safe; a second call does nothing.
  void stop();
  // Loads the model (and histories) again and swaps them in. Thread-safe; reloads run one at a
  // time.
  ReloadResult reload();

  // Requests read so far (their headers: routed to an endpoint or refused as unknown), and
  // responses written (any endpoint, any status; also to requests too malformed to route).
  long long requests() const;
  long long responses() const;
  const ServerConfig& config() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace gptrec::cli
