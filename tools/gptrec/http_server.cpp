#include "http_server.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>
#include <vector>

#include "batch_scoring.hpp"
#include "gptrec/error.hpp"
#include "gptrec/model.hpp"
#include "gptrec/recommender.hpp"
#include "histories_db.hpp"
#include "input.hpp"
#include "lines.hpp"
#include "result_json.hpp"
#include "serve_metrics.hpp"
#include "serve_request.hpp"

// Last: <resolv.h>, which httplib.h includes, defines _res, a name Eigen's headers use.
#include <httplib.h>

namespace gptrec::cli {

namespace {

using Clock = std::chrono::steady_clock;

// The model's work runs on `threads` worker threads of the server's own, first come, first
// served: a request never overtakes one that has waited longer, so the latency tail stays near
// (queue length / threads) x service time. The engine keeps its scratch (a Session, its KV cache,
// widened weight slices) per calling thread, so running every forward pass on these few threads
// keeps the server's memory flat however many connection threads hand them work.
class ModelWorkers {
 public:
  explicit ModelWorkers(int threads) {
    for (int i = 0; i < threads; ++i) workers_.emplace_back([this] { work(); });
  }
  ~ModelWorkers() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    wake_.notify_all();
    for (std::thread& t : workers_) t.join();
  }
  ModelWorkers(const ModelWorkers&) = delete;
  ModelWorkers& operator=(const ModelWorkers&) = delete;

  // Runs `job` on a worker and returns once it is done, rethrowing what it threw; false, without
  // running it, when no worker took it up before `deadline`.
  bool run(Clock::time_point deadline, const std::function<void()>& job) {
    Job me;
    me.work = &job;
    std::unique_lock<std::mutex> lock(mutex_);
    queue_.push_back(&me);
    wake_.notify_one();
    while (!me.started)
      if (me.changed.wait_until(lock, deadline) == std::cv_status::timeout && !me.started) {
        queue_.erase(std::find(queue_.begin(), queue_.end(), &me));
        return false;
      }
    me.changed.wait(lock, [&] { return me.done; });
    lock.unlock();
    if (me.error) std::rethrow_exception(me.error);
    return true;
  }

 private:
  struct Job {
    const std::function<void()>* work = nullptr;
    bool started = false;
    bool done = false;
    std::exception_ptr error;
    std::condition_variable changed;
  };

  void work() {
    set_op_threads(1);  // parallel across requests, single-threaded ops inside
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      wake_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and nothing is waiting
      Job* job = queue_.front();
      queue_.pop_front();
      job->started = true;
      lock.unlock();
      try {
        (*job->work)();
      } catch (...) {
        job->error = std::current_exception();
      }
      lock.lock();
      job->done = true;
      job->changed.notify_one();  // under the lock: the job lives on its caller's stack
    }
  }

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Job*> queue_;
  bool stop_ = false;
  std::vector<std::thread> workers_;
};

// One admitted request (counted in flight) for as long as the object lives.
class Admission {
 public:
  Admission(std::atomic<long long>& in_flight, long long limit) : in_flight_(in_flight) {
    admitted_ = in_flight_.fetch_add(1) < limit;
    if (!admitted_) in_flight_.fetch_sub(1);
  }
  ~Admission() {
    if (admitted_) in_flight_.fetch_sub(1);
  }
  Admission(const Admission&) = delete;
  Admission& operator=(const Admission&) = delete;
  explicit operator bool() const { return admitted_; }

 private:
  std::atomic<long long>& in_flight_;
  bool admitted_ = false;
};

// cpp-httplib 0.11 listens with a backlog of 5: a burst of new connections beyond it waits for the
// client's SYN retry (a second or more). listen() again on the bound socket sets a longer one.
class HttpListener : public httplib::Server {
 public:
  void widen_backlog() { ::listen(svr_sock_, SOMAXCONN); }
};

// The state of the request the calling thread is answering: cpp-httplib runs one request at a
// time per connection thread, from the pre-routing handler to the logger.
struct RequestState {
  Clock::time_point start;
  bool started = false;
  std::string customer;  // for the access log, only with log_customers
};
thread_local RequestState t_request;

// What a constant-time comparison guards: a wrong token must not answer faster the more of its
// first bytes are right. Every byte of `expected` is read whatever `given` holds; only given's
// length, which its sender knows, shapes the timing.
bool same_token(std::string_view expected, std::string_view given) {
  volatile unsigned char diff = expected.size() != given.size() ? 1 : 0;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const unsigned char g = i < given.size() ? static_cast<unsigned char>(given[i]) : 0;
    diff = diff | static_cast<unsigned char>(static_cast<unsigned char>(expected[i]) ^ g);
  }
  return diff == 0;
}

// A path or address as it may appear in a log line: printable ASCII, at most 200 bytes.
std::string loggable(std::string_view s) {
  std::string out;
  for (const char c : s.substr(0, 200)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  if (s.size() > 200) out += "...";
  return out;
}

std::string utc_now() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

void set_json_error(httplib::Response& res, int status, const std::string& message) {
  res.status = status;
  nlohmann::json body = {{"error", message}};
  res.set_content(body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n",
                  "application/json");
}

const char* const kEndpoints =
    "POST /v1/suggest, POST /v1/score, POST /v1/admin/reload, GET /healthz, GET /readyz, "
    "GET /metrics";

}  // namespace

struct Snapshot {
  Recommender recommender;
  std::shared_ptr<const HistoriesDb> histories;  // null without --histories
};

struct SuggestionServer::Impl {
  ServerConfig config;
  std::string model_label;  // "model" in responses: the directory as given
  ModelWorkers workers;
  ServerMetrics metrics;
  HttpListener http;

  std::mutex snapshot_mutex;
  std::shared_ptr<const Snapshot> snapshot;
  std::mutex reload_mutex;
  std::mutex log_mutex;

  std::atomic<long long> in_flight{0};
  std::atomic<long long> requests{0};
  std::atomic<long long> responses{0};
  std::atomic<bool> stopping{false};
  std::mutex run_mutex;  // guards `serving` and the start of stopping
  bool serving = false;  // serve() is running

  explicit Impl(ServerConfig c)
      : config(std::move(c)),
        model_label(config.model_dir.empty() ? default_model_dir() : config.model_dir),
        workers(config.threads) {}

  void log(const std::string& line) {
    const std::string text = "gptrec serve: " + utc_now() + " " + line;
    std::lock_guard<std::mutex> lock(log_mutex);
    if (config.log)
      config.log(text);
    else
      std::fprintf(stderr, "%s\n", text.c_str());
  }

  std::shared_ptr<const Snapshot> current() {
    std::lock_guard<std::mutex> lock(snapshot_mutex);
    return snapshot;
  }

  // Loads everything a snapshot holds, without touching the one serving.
  std::shared_ptr<const Snapshot> load() const {
    std::optional<Catalog> catalog;
    if (!config.catalog.empty())
      catalog = Catalog::parse(read_input(config.catalog, kMaxCatalogBytes), config.catalog);
    Recommender rec = Recommender::load(model_label, std::move(catalog));
    check_has_candidates(rec, config.catalog);
    std::shared_ptr<const HistoriesDb> histories;
    if (!config.histories.empty()) histories = std::make_shared<HistoriesDb>(config.histories);
    return std::make_shared<const Snapshot>(Snapshot{std::move(rec), std::move(histories)});
  }

  void install(std::shared_ptr<const Snapshot> next, double seconds) {
    const std::string_view kind = to_string(next->recommender.kind());
    {
      std::lock_guard<std::mutex> lock(snapshot_mutex);
      snapshot = std::move(next);
    }
    metrics.model_loaded(
        model_label, kind,
        std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count(),
        seconds);
  }

  bool authorized(const httplib::Request& req, httplib::Response& res) {
    if (config.token.empty()) return true;
    const std::string header = req.get_header_value("Authorization");
    const bool bearer = header.size() > 7 && (header.compare(0, 7, "Bearer ") == 0 ||
                                              header.compare(0, 7, "bearer ") == 0);
    if (bearer && same_token(config.token, std::string_view(header).substr(7))) return true;
    set_json_error(res, 401,
                   bearer ? "wrong bearer token"
                          : "this server needs a bearer token (Authorization: Bearer <token>)");
    res.set_header("WWW-Authenticate", "Bearer");
    return false;
  }

  void busy(httplib::Response& res, const std::string& why) {
    set_json_error(res, 503, why + "; retry later");
    res.set_header("Retry-After", "1");
  }

  // Seconds since the calling thread's request was read (0 before the pre-routing handler ran).
  static double request_seconds() {
    return t_request.started ? std::chrono::duration<double>(Clock::now() - t_request.start).count()
                             : 0;
  }

  Clock::time_point deadline() const {
    const auto start = t_request.started ? t_request.start : Clock::now();
    return start + std::chrono::duration_cast<Clock::duration>(
                       std::chrono::duration<double>(config.timeout_seconds));
  }

  void handle_suggest(const httplib::Request& req, const std::string& body,
                      httplib::Response& res) {
    if (!authorized(req, res)) return;
    Admission admission(in_flight, config.max_in_flight);
    if (!admission)
      return busy(res, std::to_string(config.max_in_flight) +
                           " requests in flight already (--max-in-flight)");
    SuggestRequest request;
    try {
      request = parse_suggest_request(body, query_of(req));
    } catch (const Error& e) {
      return set_json_error(res, 400, e.what());
    }
    const std::shared_ptr<const Snapshot> snap = current();
    if (!request.history) {
      const std::string& id = request.customer_id;
      if (config.log_customers) t_request.customer = id;
      if (!snap->histories)
        return set_json_error(res, 400,
                              "customer_id: this server has no histories database (--histories): "
                              "send the customer's events");
      std::optional<std::string> document;
      try {
        document = snap->histories->history_document(id);
      } catch (const Error& e) {
        log(std::string("histories database: ") + e.what());
        return set_json_error(res, 500, "the histories database cannot be read");
      }
      if (!document)
        return set_json_error(res, 404,
                              "customer_id: no customer \"" + id + "\" in the histories database");
      try {
        request.history = parse_history(*document, "histories database: customer " + id);
      } catch (const Error& e) {
        // The stored history is bad: the server's data, not the request. The message quotes the
        // bad value, so it goes to the client only, never to the log.
        log("histories database: a stored history is invalid" +
            (config.log_customers ? " (customer " + loggable(id) + ")" : std::string()));
        return set_json_error(res, 500, e.what());
      }
    } else if (config.log_customers) {
      t_request.customer = request.history->customer_id;
    }

    Recommendations r;
    try {
      if (!workers.run(deadline(),
                       [&] { r = snap->recommender.recommend(*request.history, request.options); }))
        return busy(res, "no model thread became free within " +
                             std::to_string(config.timeout_seconds) + " s (--timeout)");
    } catch (const Error& e) {
      if (e.code() == ErrorCode::kInvalidArgument || e.code() == ErrorCode::kBadInput)
        return set_json_error(res, 400, e.what());
      throw;
    }
    res.set_content(batch::suggestions_document(r, model_label, snap->recommender, request.options),
                    "application/json");
  }

  // The records of a /v1/score body, scored one at a time (each goes to a model thread in turn, so
  // a batch shares the model fairly with single suggestions) and streamed back as they are done.
  struct ScoreStream {
    Impl* server;
    std::shared_ptr<const Snapshot> snapshot;
    batch::BatchOptions options;  // one record at a time, each rendered as its line
    std::string body;
    std::unique_ptr<Admission> admission;

    bool write(httplib::DataSink& sink) {
      std::size_t at = 0;
      long long line_number = 0;
      while (at < body.size()) {
        std::size_t end = body.find('\n', at);
        if (end == std::string::npos) end = body.size();
        std::string_view line(body.data() + at, end - at);
        at = end + 1;
        ++line_number;
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.find_first_not_of(" \t") == std::string_view::npos) continue;  // not a record
        const std::string out = score(line, line_number) + "\n";
        if (!sink.write(out.data(), out.size())) return false;  // the client has gone
      }
      sink.done();
      return true;
    }

    std::string score(std::string_view line, long long line_number) {
      batch::Record record;
      record.line_number = line_number;
      if (line.size() > kMaxLineBytes)
        record.error = "request body:" + std::to_string(line_number) + ": line of " +
                       std::to_string(line.size()) + " bytes, longer than the limit of " +
                       std::to_string(kMaxLineBytes) + " bytes";
      else
        record.text = line;
      // A batch is expected to take long: its records wait for a model thread as long as needed.
      std::exception_ptr error;
      server->workers.run(Clock::now() + std::chrono::hours(24), [&] {
        error = batch::score_one(snapshot->recommender, options, record);
      });
      if (error) std::rethrow_exception(error);
      return record.line;
    }
  };

  void handle_score(const httplib::Request& req, const std::string& body, httplib::Response& res) {
    if (!authorized(req, res)) return;
    auto admission = std::make_unique<Admission>(in_flight, config.max_in_flight);
    if (!*admission)
      return busy(res, std::to_string(config.max_in_flight) +
                           " requests in flight already (--max-in-flight)");
    RecommendOptions options;
    try {
      options = parse_score_options(query_of(req));
    } catch (const Error& e) {
      return set_json_error(res, 400, e.what());
    }
    try {
      check_options(options);  // top, mode, prices, need: before the first record
    } catch (const Error& e) {
      return set_json_error(res, 400, e.what());
    }
    batch::BatchOptions batch_options;
    batch_options.recommend = options;
    batch_options.source = "request body";
    batch_options.lines = true;
    auto stream = std::make_shared<ScoreStream>(
        ScoreStream{this, current(), std::move(batch_options), body, std::move(admission)});
    res.set_chunked_content_provider(
        "application/x-ndjson",
        [stream](std::size_t, httplib::DataSink& sink) { return stream->write(sink); },
        [stream](bool) { stream->admission.reset(); });
  }

  void handle_reload(const httplib::Request& req, httplib::Response& res) {
    if (!authorized(req, res)) return;
    const ReloadResult r = reload();
    if (!r.ok)
      return set_json_error(res, 500,
                            "reload failed, the previous model keeps serving: " + r.message);
    nlohmann::ordered_json body = {
        {"reloaded", true}, {"model", model_label}, {"load_seconds", r.seconds}};
    res.set_content(body.dump() + "\n", "application/json");
  }

  ReloadResult reload() {
    std::lock_guard<std::mutex> lock(reload_mutex);
    const auto start = Clock::now();
    ReloadResult result;
    try {
      auto next = load();
      result.seconds = std::chrono::duration<double>(Clock::now() - start).count();
      install(std::move(next), result.seconds);
      result.ok = true;
      log("reloaded " + model_label + " in " + std::to_string(result.seconds) + " s");
    } catch (const std::exception& e) {
      // Model and database errors name files and tensors, never history contents.
      result.seconds = std::chrono::duration<double>(Clock::now() - start).count();
      result.message = e.what();
      log("reload failed, the previous model keeps serving: " + result.message);
    }
    metrics.reload_result(result.ok);
    return result;
  }

  static std::string query_of(const httplib::Request& req) {
    const auto q = req.target.find('?');
    return q == std::string::npos ? std::string() : req.target.substr(q + 1);
  }

  void route() {
    using httplib::Request;
    using httplib::Response;
    // Every method has a handler on a known path: a wrong one is 405, not 404.
    auto refuse_others = [&](const std::string& path, const std::string& method) {
      const httplib::Server::Handler not_allowed = [method](const Request& req, Response& res) {
        set_json_error(res, 405, req.method + " " + req.path + ": use " + method);
        res.set_header("Allow", method);
      };
      if (method != "GET") http.Get(path, not_allowed);
      if (method != "POST") http.Post(path, not_allowed);
      http.Put(path, not_allowed);
      http.Patch(path, not_allowed);
      http.Delete(path, not_allowed);
      http.Options(path, not_allowed);
    };
    auto endpoint = [&](const std::string& path, const std::string& method,
                        httplib::Server::Handler handler) {
      http.Get(path, std::move(handler));
      refuse_others(path, method);
    };
    using BodyHandler = std::function<void(const Request&, const std::string&, Response&)>;
    auto post_endpoint = [&](const std::string& path, BodyHandler handler) {
      // The body is read here rather than by cpp-httplib, which would refuse a form-encoded body
      // over 8 KiB (curl --data-binary sends that content type) and parse it as a form.
      http.Post(path,
                [handler](const Request& req, Response& res, const httplib::ContentReader& read) {
                  std::string body;
                  if (!read([&](const char* data, std::size_t size) {
                        body.append(data, size);
                        return true;
                      }))
                    return;  // cpp-httplib has set the status (413: over --max-body)
                  handler(req, body, res);
                });
      refuse_others(path, "POST");
    };
    post_endpoint("/v1/suggest", [this](const Request& req, const std::string& body,
                                        Response& res) { handle_suggest(req, body, res); });
    post_endpoint("/v1/score", [this](const Request& req, const std::string& body, Response& res) {
      handle_score(req, body, res);
    });
    post_endpoint("/v1/admin/reload", [this](const Request& req, const std::string&,
                                             Response& res) { handle_reload(req, res); });
    endpoint("/healthz", "GET", [](const Request&, Response& res) {
      res.set_content("{\"status\":\"ok\"}\n", "application/json");
    });
    endpoint("/readyz", "GET", [this](const Request&, Response& res) {
      if (stopping) return set_json_error(res, 503, "stopping: finishing the requests in flight");
      res.set_content("{\"status\":\"ready\"}\n", "application/json");
    });
    endpoint("/metrics", "GET", [this](const Request& req, Response& res) {
      if (!authorized(req, res)) return;
      res.set_content(metrics.render(in_flight.load(), config.max_in_flight, config.threads),
                      "text/plain; version=0.0.4; charset=utf-8");
    });

    http.set_pre_routing_handler([this](const Request&, Response&) {
      requests.fetch_add(1);
      t_request = RequestState{Clock::now(), true, {}};
      return httplib::Server::HandlerResponse::Unhandled;
    });
    // Errors that cpp-httplib answers itself (no route, body over the limit, a malformed request)
    // get the same JSON body as ours; responses that have a body already are left alone.
    httplib::Server::HandlerWithResponse on_error = [this](const Request& req, Response& res) {
      if (!res.body.empty() || res.has_header("Content-Type"))
        return httplib::Server::HandlerResponse::Unhandled;
      std::string message;
      switch (res.status) {
        case 404:
          message = "no such endpoint: " + req.method + " " + loggable(req.path) + " (" +
                    kEndpoints + ")";
          break;
        case 413:
          message = "request body larger than the limit of " +
                    std::to_string(config.max_body_bytes) + " bytes (--max-body)";
          break;
        case 414:
          message = "request target too long";
          break;
        default:
          message = "malformed request (HTTP status " + std::to_string(res.status) + ")";
      }
      set_json_error(res, res.status, message);
      return httplib::Server::HandlerResponse::Handled;
    };
    http.set_error_handler(on_error);
    http.set_exception_handler([this](const Request&, Response& res, std::exception_ptr ep) {
      std::string what = "unknown exception";
      try {
        std::rethrow_exception(ep);
      } catch (const std::bad_alloc&) {
        what = "out of memory";
      } catch (const std::exception& e) {
        what = e.what();
      } catch (...) {
      }
      log("internal error: " + what);
      set_json_error(res, 500, "internal error: " + what);
    });
    // A response is counted before it is written, so a client that has it finds it in /metrics
    // (its latency: until the response is ready; a streamed /v1/score, until its stream starts).
    http.set_post_routing_handler([this](const Request& req, Response& res) {
      metrics.record(ServerMetrics::endpoint_of(req.path), res.status, request_seconds());
    });
    http.set_logger([this](const Request& req, const Response& res) {
      const double seconds = request_seconds();
      responses.fetch_add(1);
      if (config.access_log) {
        char ms[32];
        std::snprintf(ms, sizeof ms, "%.3f", seconds * 1e3);
        log(loggable(req.remote_addr) + " " + loggable(req.method) + " " + loggable(req.path) +
            " " + std::to_string(res.status) + " " + ms + " ms" +
            (t_request.customer.empty() ? "" : " customer=" + loggable(t_request.customer)));
      }
      t_request = RequestState{};
    });
  }
};

SuggestionServer::SuggestionServer(ServerConfig config)
    : impl_(std::make_unique<Impl>(std::move(config))) {
  Impl& s = *impl_;
  const ServerConfig& c = s.config;
  if (c.threads < 1 || c.max_connections < 1 || c.max_in_flight < 1 || c.max_body_bytes < 1 ||
      !(c.timeout_seconds > 0))
    throw Error(ErrorCode::kInvalidArgument,
                "threads, connections, requests in flight, body size and timeout must be positive");
  const auto start = Clock::now();
  auto first = s.load();
  s.install(std::move(first), std::chrono::duration<double>(Clock::now() - start).count());
  if (s.current()->histories && !s.current()->histories->indexed())
    s.log("warning: " + c.histories +
          " has no index on events(customer_id): every lookup reads the whole table");

  const auto seconds = static_cast<time_t>(c.timeout_seconds);
  const auto micros = static_cast<time_t>((c.timeout_seconds - static_cast<double>(seconds)) * 1e6);
  s.http.set_read_timeout(seconds, micros);
  s.http.set_write_timeout(seconds, micros);
  s.http.set_keep_alive_timeout(5);
  s.http.set_keep_alive_max_count(100000);
  s.http.set_payload_max_length(c.max_body_bytes);
  s.http.set_tcp_nodelay(true);  // small responses: no Nagle delay waiting for an ACK
  // cpp-httplib's default also sets SO_REUSEPORT, with which a second server (anyone's) could bind
  // the same port and take a share of the connections; a port in use must be an error.
  s.http.set_socket_options([](socket_t sock) {
    const int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  const std::size_t connections = static_cast<std::size_t>(c.max_connections);
  s.http.new_task_queue = [connections] { return new httplib::ThreadPool(connections); };
  s.route();
}

SuggestionServer::~SuggestionServer() = default;

int SuggestionServer::bind() {
  Impl& s = *impl_;
  errno = 0;
  const int port = s.config.port == 0
                       ? s.http.bind_to_any_port(s.config.host)
                       : (s.http.bind_to_port(s.config.host, s.config.port) ? s.config.port : -1);
  if (port < 0) {
    const std::string why = errno != 0 ? std::strerror(errno) : "cannot bind";
    throw Error(ErrorCode::kIo, "cannot listen on " + s.config.host + ":" +
                                    std::to_string(s.config.port) + " (" + why + ")");
  }
  s.http.widen_backlog();
  return port;
}

void SuggestionServer::serve() {
  Impl& s = *impl_;
  {
    std::lock_guard<std::mutex> lock(s.run_mutex);
    if (s.stopping) return;
    s.serving = true;
  }
  s.http.listen_after_bind();
  std::lock_guard<std::mutex> lock(s.run_mutex);
  s.serving = false;
}

void SuggestionServer::stop() {
  Impl& s = *impl_;
  {
    std::lock_guard<std::mutex> lock(s.run_mutex);
    if (s.stopping.exchange(true) || !s.serving) return;
  }
  // cpp-httplib's stop() does nothing until its accept loop runs: wait for it (serve() may have
  // been called a moment ago), unless serve() has returned meanwhile.
  while (!s.http.is_running()) {
    {
      std::lock_guard<std::mutex> lock(s.run_mutex);
      if (!s.serving) return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  s.http.stop();
}

ReloadResult SuggestionServer::reload() { return impl_->reload(); }

long long SuggestionServer::requests() const { return impl_->requests.load(); }

long long SuggestionServer::responses() const { return impl_->responses.load(); }

const ServerConfig& SuggestionServer::config() const { return impl_->config; }

}  // namespace gptrec::cli
