// The HTTP server in this process (http_server.hpp), on an ephemeral 127.0.0.1 port: each
// endpoint, every kind of bad request, the bearer token, the in-flight cap, metrics, reload, the
// log, and stopping with requests in flight. Responses are compared with what the library and the
// CLI's rendering functions give for the same input.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <nlohmann/json.hpp>
#include <regex>

#include "gptrec/error.hpp"
#include "gptrec/history.hpp"
#include "gptrec/model.hpp"
#include "gptrec/recommender.hpp"
#include "histories_db.hpp"
#include "result_json.hpp"
#include "server_test_util.hpp"
#include "test_util.hpp"

using gptrec::cli::ServerConfig;
using gptrec::test::RunningServer;
using json = nlohmann::json;

namespace {

const bool kIgnoreSigpipe = [] {
  ::signal(SIGPIPE, SIG_IGN);  // a client the test drops must not end the test
  return true;
}();

std::string tiny_items() { return gptrec::test::test_model("tiny-items").string(); }

// The `suggest --format json` text for `history_json` with `options`, from the library, with
// single-threaded ops as the server runs them (more op threads may sum a product in another order).
std::string expected_suggestion(const std::string& model_dir, const std::string& history_json,
                                const gptrec::RecommendOptions& options) {
  gptrec::set_op_threads(1);
  const auto rec = gptrec::Recommender::load(model_dir);
  const auto r = rec.recommend(gptrec::parse_history(history_json, "expected"), options);
  return gptrec::batch::suggestions_document(r, model_dir, rec, options);
}

// A histories database of the online-retail sample.
std::string sample_database(const gptrec::test::TempDir& tmp) {
  const std::string path = (tmp / "histories.sqlite").string();
  gptrec::cli::HistoriesWriter writer(path);
  for (const std::string& line : gptrec::test::sample_lines()) writer.add_document(line, "sample");
  writer.commit();
  return path;
}

ServerConfig config_for(const std::string& model, const std::string& histories = "") {
  ServerConfig c;
  c.model_dir = model;
  c.histories = histories;
  c.port = 0;
  c.threads = 2;
  c.log = [](const std::string&) {};
  return c;
}

std::string error_of(const httplib::Result& r) {
  if (!r) return "no response: " + httplib::to_string(r.error());
  const json j = json::parse(r->body, nullptr, false);
  return j.is_object() && j.contains("error") ? j["error"].get<std::string>()
                                              : "not a JSON error: " + r->body;
}

const char* kJson = "application/json";

}  // namespace

TEST(Server, HealthAndReadiness) {
  RunningServer s(config_for(tiny_items()));
  auto c = s.client();
  auto health = c->Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(json::parse(health->body)["status"], "ok");
  auto ready = c->Get("/readyz");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 200);
  EXPECT_EQ(json::parse(ready->body)["status"], "ready");
}

TEST(Server, SuggestWithEventsIsTheSuggestDocument) {
  const std::string model =
      (gptrec::test::examples_dir().parent_path() / "models" / "online-retail").string();
  RunningServer s(config_for(model));
  auto c = s.client();
  for (const char* customer : {"12352", "12494", "12910"}) {
    const std::string history = gptrec::test::read_file(gptrec::test::examples_dir() / "customers" /
                                                        (std::string(customer) + ".json"));
    gptrec::RecommendOptions options;
    auto r = c->Post("/v1/suggest", history, kJson);
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    EXPECT_EQ(r->get_header_value("Content-Type"), kJson);
    EXPECT_EQ(r->body, expected_suggestion(model, history, options));
    // Options as query parameters.
    options.top_n = 3;
    options.explain = true;
    options.exclude_purchased = true;
    r = c->Post("/v1/suggest?top=3&explain=true&exclude_purchased=1", history, kJson);
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    EXPECT_EQ(r->body, expected_suggestion(model, history, options));
    EXPECT_NE(r->body.find("\"because\""), std::string::npos);
  }
}

TEST(Server, SuggestOptionsInTheBody) {
  RunningServer s(config_for(tiny_items()));
  auto c = s.client();
  const std::string line = gptrec::test::sample_lines()[5];
  json body = json::parse(line);
  body["top"] = 2;
  body["category"] = nullptr;
  body["explain"] = true;
  gptrec::RecommendOptions options;
  options.top_n = 2;
  options.explain = true;
  auto r = c->Post("/v1/suggest", body.dump(), kJson);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(r->body, expected_suggestion(tiny_items(), line, options));
  EXPECT_EQ(json::parse(r->body)["suggestions"].size(), 2u);
}

TEST(Server, SuggestByCustomerIdFromTheHistoriesDatabase) {
  gptrec::test::TempDir tmp;
  RunningServer s(config_for(tiny_items(), sample_database(tmp)));
  auto c = s.client();
  const auto lines = gptrec::test::sample_lines();
  for (std::size_t i = 0; i < lines.size(); i += 37) {
    const std::string id = json::parse(lines[i])["customer_id"];
    gptrec::RecommendOptions options;
    options.top_n = 4;
    auto r = c->Post("/v1/suggest", json({{"customer_id", id}, {"top", 4}}).dump(), kJson);
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    EXPECT_EQ(r->body, expected_suggestion(tiny_items(), lines[i], options)) << "customer " << id;
  }
  auto missing = c->Post("/v1/suggest", R"({"customer_id": "no-such-customer"})", kJson);
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  EXPECT_NE(error_of(missing).find("no customer \"no-such-customer\""), std::string::npos);
}

// Every kind of bad request gets a 4xx with a JSON error naming the problem, and the server
// answers the next request, on the same connection where HTTP allows it.
TEST(Server, BadRequestsAreAnsweredWithJsonErrors) {
  gptrec::test::TempDir tmp;
  ServerConfig config = config_for(tiny_items(), sample_database(tmp));
  config.max_body_bytes = 64 << 10;
  RunningServer s(config);
  auto c = s.client();
  c->set_keep_alive(true);
  const std::string good = gptrec::test::sample_lines()[0];
  struct Case {
    std::string target, body;
    int status;
    std::string error;  // a part of the error message
  };
  const std::vector<Case> cases = {
      {"/v1/suggest", "{\"customer_id\": ", 400, "not valid JSON"},
      {"/v1/suggest", "", 400, "empty"},
      {"/v1/suggest", "42", 400, "expected a history object"},
      {"/v1/suggest", R"({"customer_id": "12348", "topp": 3})", 400, "unknown field \"topp\""},
      {"/v1/suggest", R"({"customer_id": "12348", "top": "three"})", 400,
       "top: expected an integer, got a string"},
      {"/v1/suggest", R"({"customer_id": "12348", "top": 1e99})", 400, "top: expected an integer"},
      {"/v1/suggest", R"({"customer_id": "12348", "explain": 1})", 400,
       "explain: expected true or false"},
      {"/v1/suggest", R"({"customer_id": "12348", "top": 0})", 400, "top must be at least 1"},
      {"/v1/suggest", R"({"customer_id": "12348", "mode": "sometimes"})", 400,
       "mode: expected \"mixed\", \"buy-again\", \"discover\" or \"all\", got \"sometimes\""},
      {"/v1/suggest", R"({"customer_id": "12348", "mode": 2})", 400,
       "mode: expected \"mixed\", \"buy-again\", \"discover\" or \"all\", got a number"},
      {"/v1/suggest?mode=Mixed", R"({"customer_id": "12348"})", 400, "query parameter mode"},
      {"/v1/suggest", R"({"customer_id": "12348", "mode": "buy-again", "exclude_purchased": true})",
       400, "contradicts mode buy-again"},
      {"/v1/suggest", R"({"customer_id": "12348", "min_price": 5, "max_price": 1})", 400,
       "min_price is above max_price"},
      {"/v1/suggest", R"({"customer_id": "12348", "max_price": "cheap"})", 400,
       "max_price: expected a number, got a string"},
      {"/v1/suggest", R"({"customer_id": "12348", "need": "   "})", 400, "need: empty"},
      {"/v1/suggest", R"({"customer_id": "12348", "need": ["bag"]})", 400,
       "need: expected a string, got an array"},
      {"/v1/suggest", R"({"customer_id": ["12348"]})", 400, "customer_id: expected a string"},
      {"/v1/suggest", R"({"customer_id": "12348", "customer_id": "x"})", 400, "appears twice"},
      {"/v1/suggest", R"({"top": 3})", 400, "events: missing"},
      {"/v1/suggest?top=2", R"({"customer_id": "12348", "top": 3})", 400,
       "given both in the query and in the body"},
      {"/v1/suggest?topp=2", R"({"customer_id": "12348"})", 400, "unknown query parameter topp"},
      {"/v1/suggest?top=x", R"({"customer_id": "12348"})", 400,
       "query parameter top: expected an integer"},
      {"/v1/suggest", R"({"events": [{"item": "85123A", "timestamp": "yesterday"}]})", 400,
       "request body: events[0].timestamp: not a date"},
      {"/v1/suggest", R"({"events": [{"type": "purchase"}]})", 400, "events[0].item"},
      {"/v1/suggest", R"({"customer_id": "nobody"})", 404, "no customer \"nobody\""},
      {"/v1/suggest", std::string(70 << 10, ' '), 413, "larger than the limit of 65536 bytes"},
      {"/v1/score?explain=true", good, 400, "explain: not an option of /v1/score"},
      {"/v1/score?top=0", good, 400, "top must be at least 1"},
      {"/v1/score?min_price=-1", good, 400, "min_price must be a finite number >= 0"},
      {"/v1/score?mode=never", good, 400, "query parameter mode: expected"},
      {"/v1/score?need=", good, 400, "need: empty"},
      {"/v1/nothing", good, 404, "no such endpoint: POST /v1/nothing"},
  };
  for (const Case& k : cases) {
    auto r = c->Post(k.target.c_str(), k.body, kJson);
    ASSERT_TRUE(r) << k.target << " " << k.body.substr(0, 80);
    EXPECT_EQ(r->status, k.status) << k.body.substr(0, 80) << " -> " << r->body;
    EXPECT_EQ(r->get_header_value("Content-Type"), kJson) << k.body.substr(0, 80);
    EXPECT_NE(error_of(r).find(k.error), std::string::npos)
        << k.body.substr(0, 80) << " -> " << error_of(r);
    auto next = c->Post("/v1/suggest", good, kJson);  // the server keeps serving
    ASSERT_TRUE(next);
    EXPECT_EQ(next->status, 200);
  }
  auto get = c->Get("/v1/suggest");
  ASSERT_TRUE(get);
  EXPECT_EQ(get->status, 405);
  EXPECT_EQ(get->get_header_value("Allow"), "POST");
  EXPECT_NE(error_of(get).find("use POST"), std::string::npos);

  // Without a histories database, a lookup cannot be answered.
  RunningServer no_db(config_for(tiny_items()));
  auto r = no_db.client()->Post("/v1/suggest", R"({"customer_id": "12348"})", kJson);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(error_of(r).find("no histories database"), std::string::npos);
}

// A curl --data-binary body (form-encoded content type) over 8 KiB is read as it is.
TEST(Server, ContentTypeDoesNotChangeTheBody) {
  RunningServer s(config_for(tiny_items()));
  auto c = s.client();
  json doc = json::parse(gptrec::test::sample_lines()[1]);
  doc["note"] = std::string(10000, 'x');  // a field the history format ignores
  const std::string history = doc.dump();
  auto r = c->Post("/v1/suggest", history, "application/x-www-form-urlencoded");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(r->body, expected_suggestion(tiny_items(), history, {}));
}

TEST(Server, BearerToken) {
  ServerConfig config = config_for(tiny_items());
  config.token = "s3cret-token-0123456789";
  RunningServer s(config);
  auto c = s.client();
  const std::string body = gptrec::test::sample_lines()[0];
  auto none = c->Post("/v1/suggest", body, kJson);
  ASSERT_TRUE(none);
  EXPECT_EQ(none->status, 401);
  EXPECT_EQ(none->get_header_value("WWW-Authenticate"), "Bearer");
  for (const std::string wrong : {"s3cret-token-0123456788", "s3cret", "s3cret-token-01234567890",
                                  "", "S3CRET-TOKEN-0123456789"}) {
    auto r = c->Post("/v1/suggest", {{"Authorization", "Bearer " + wrong}}, body, kJson);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 401) << wrong;
  }
  auto basic = c->Post("/v1/suggest", {{"Authorization", "Basic czNjcmV0"}}, body, kJson);
  ASSERT_TRUE(basic);
  EXPECT_EQ(basic->status, 401);
  const httplib::Headers right = {{"Authorization", "Bearer s3cret-token-0123456789"}};
  auto ok = c->Post("/v1/suggest", right, body, kJson);
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
  // Probes need no token; metrics, scoring and reload do.
  EXPECT_EQ(c->Get("/healthz")->status, 200);
  EXPECT_EQ(c->Get("/readyz")->status, 200);
  EXPECT_EQ(c->Get("/metrics")->status, 401);
  EXPECT_EQ(c->Get("/metrics", right)->status, 200);
  EXPECT_EQ(c->Post("/v1/score", body, "application/x-ndjson")->status, 401);
  EXPECT_EQ(c->Post("/v1/admin/reload", "", kJson)->status, 401);
  EXPECT_EQ(c->Post("/v1/admin/reload", right, "", kJson)->status, 200);
}

// /v1/score answers `gptrec score` lines, one per record in order, bad records included.
TEST(Server, ScoreStreamsOneLinePerRecord) {
  RunningServer s(config_for(tiny_items()));
  auto c = s.client();
  const auto lines = gptrec::test::sample_lines();
  std::string body;
  for (std::size_t i = 0; i < 20; ++i) body += lines[i] + (i == 7 ? "\n\n{broken\r\n" : "\n");
  auto r = c->Post("/v1/score?top=3", body, "application/x-ndjson");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("Content-Type"), "application/x-ndjson");
  gptrec::set_op_threads(1);
  const auto rec = gptrec::Recommender::load(tiny_items());
  gptrec::RecommendOptions options;
  options.top_n = 3;
  std::string expected;
  long long line_number = 0;
  for (std::size_t i = 0; i < 20; ++i) {
    ++line_number;
    expected +=
        gptrec::batch::score_line(
            gptrec::batch::score_record(rec, options, lines[i], line_number, "request body").json) +
        "\n";
    if (i == 7) {
      line_number += 2;  // a blank line, then a bad record
      expected += gptrec::batch::score_line(gptrec::batch::score_record(rec, options, "{broken",
                                                                        line_number, "request body")
                                                .json) +
                  "\n";
    }
  }
  EXPECT_EQ(r->body, expected);
  EXPECT_NE(r->body.find("\"line\":10,\"customer_id\":null,\"error\":\"request body:10: not valid "
                         "JSON"),
            std::string::npos);
}

// Beyond --max-in-flight, a request is answered 503 with Retry-After at once; the one in flight
// goes on.
TEST(Server, RequestsBeyondTheInFlightLimitAre503) {
  ServerConfig config = config_for(tiny_items());
  config.max_in_flight = 1;
  config.max_body_bytes = std::size_t{64} << 20;
  RunningServer s(config);
  std::string batch;
  for (int k = 0; k < 20; ++k)
    for (const std::string& line : gptrec::test::sample_lines()) batch += line + "\n";
  int busy_status = 0;
  std::string retry_after;
  std::string received;
  auto reader = s.client();
  httplib::Request req;
  req.method = "POST";
  req.path = "/v1/score";
  req.body = batch;
  req.set_header("Content-Type", "application/x-ndjson");
  req.content_receiver = [&](const char* data, std::size_t length, std::uint64_t, std::uint64_t) {
    if (received.empty()) {
      auto busy = s.client()->Post("/v1/suggest", gptrec::test::sample_lines()[0], kJson);
      if (busy) {
        busy_status = busy->status;
        retry_after = busy->get_header_value("Retry-After");
      }
    }
    received.append(data, length);
    return true;
  };
  auto stream = reader->send(req);
  ASSERT_TRUE(stream);
  EXPECT_EQ(stream->status, 200);
  EXPECT_EQ(busy_status, 503);
  EXPECT_EQ(retry_after, "1");
  // Every record of the stream was answered.
  std::size_t records = 0;
  for (std::size_t at = 0; (at = received.find('\n', at)) != std::string::npos; ++at) ++records;
  EXPECT_EQ(records, 20 * gptrec::test::sample_lines().size());
  // And the limit frees up afterwards.
  auto after = s.client()->Post("/v1/suggest", gptrec::test::sample_lines()[0], kJson);
  ASSERT_TRUE(after);
  EXPECT_EQ(after->status, 200);
}

// A client that stops sending is dropped after --timeout; the server goes on serving.
TEST(Server, SlowClientIsDroppedAfterTheTimeout) {
  ServerConfig config = config_for(tiny_items());
  config.timeout_seconds = 0.5;
  RunningServer s(config);
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(s.port()));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  const std::string partial =
      "POST /v1/suggest HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{\"custo";
  ASSERT_EQ(::send(fd, partial.data(), partial.size(), 0), static_cast<ssize_t>(partial.size()));
  const auto start = std::chrono::steady_clock::now();
  timeval wait{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof wait);
  char buffer[4096];
  const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ::close(fd);
  ASSERT_GT(n, 0);  // answered, not left hanging
  EXPECT_EQ(std::string(buffer, static_cast<std::size_t>(n)).rfind("HTTP/1.1 400", 0), 0u);
  EXPECT_LT(seconds, 5.0);
  auto r = s.client()->Post("/v1/suggest", gptrec::test::sample_lines()[0], kJson);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

TEST(Server, MetricsInThePrometheusTextFormat) {
  RunningServer s(config_for(tiny_items()));
  auto c = s.client();
  const std::string good = gptrec::test::sample_lines()[0];
  for (int i = 0; i < 5; ++i) ASSERT_EQ(c->Post("/v1/suggest", good, kJson)->status, 200);
  for (int i = 0; i < 2; ++i) ASSERT_EQ(c->Post("/v1/suggest", "{", kJson)->status, 400);
  ASSERT_EQ(c->Get("/no/such/path")->status, 404);
  auto m = c->Get("/metrics");
  ASSERT_TRUE(m);
  ASSERT_EQ(m->status, 200);
  EXPECT_EQ(m->get_header_value("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
  // Every line is a comment or `name{labels} value` (text format 0.0.4).
  const std::regex sample(R"([a-z_]+(\{([a-z_]+="[^"\\]*",?)*\})? [-+0-9.eInf]+)");
  const std::regex comment(R"(# (HELP|TYPE) [a-z_]+ .+)");
  std::istringstream lines(m->body);
  for (std::string line; std::getline(lines, line);)
    EXPECT_TRUE(std::regex_match(line, sample) || std::regex_match(line, comment)) << line;
  const std::string& t = m->body;
  EXPECT_NE(t.find("gptrec_http_requests_total{endpoint=\"/v1/suggest\",status=\"200\"} 5\n"),
            std::string::npos);
  EXPECT_NE(t.find("gptrec_http_requests_total{endpoint=\"/v1/suggest\",status=\"400\"} 2\n"),
            std::string::npos);
  EXPECT_NE(t.find("gptrec_http_requests_total{endpoint=\"other\",status=\"404\"} 1\n"),
            std::string::npos);
  EXPECT_NE(t.find("gptrec_http_request_duration_seconds_count{endpoint=\"/v1/suggest\"} 7\n"),
            std::string::npos);
  EXPECT_NE(t.find("gptrec_http_request_duration_seconds_bucket{endpoint=\"/v1/suggest\",le=\"+"
                   "Inf\"} 7\n"),
            std::string::npos);
  EXPECT_NE(t.find("# TYPE gptrec_http_request_duration_seconds histogram\n"), std::string::npos);
  EXPECT_NE(t.find("gptrec_http_requests_in_flight 0\n"), std::string::npos);
  EXPECT_NE(t.find("gptrec_model_info{model=\"" + tiny_items() + "\",kind=\"items\"} 1\n"),
            std::string::npos);
  EXPECT_NE(t.find("gptrec_model_loaded_timestamp_seconds 1"), std::string::npos);
  EXPECT_NE(t.find("gptrec_model_reloads_total{result=\"failure\"} 0\n"), std::string::npos);
}

// Reload swaps the model: the next requests get the new one; a model that fails to load leaves
// the old one serving, and the answer says why.
TEST(Server, ReloadSwapsTheModelAndAFailedReloadKeepsTheOldOne) {
  gptrec::test::TempDir tmp;
  const auto dir = tmp / "model";
  const std::string online_retail =
      (gptrec::test::examples_dir().parent_path() / "models" / "online-retail").string();
  gptrec::test::copy_dir(tiny_items(), dir);
  RunningServer s(config_for(dir.string()));
  auto c = s.client();
  const std::string history = gptrec::test::sample_lines()[3];
  const std::string from_tiny = expected_suggestion(tiny_items(), history, {});
  auto before = c->Post("/v1/suggest", history, kJson);
  ASSERT_TRUE(before);
  // The expected text names the directory the server was given.
  const std::string dir_label = "\"model\": \"" + dir.string() + "\"";
  auto relabel = [&](std::string text, const std::string& model) {
    text.replace(text.find("\"model\": \"" + model + "\""), model.size() + 11, dir_label);
    return text;
  };
  EXPECT_EQ(before->body, relabel(from_tiny, tiny_items()));

  std::filesystem::remove_all(dir);
  gptrec::test::copy_dir(online_retail, dir);
  auto reload = c->Post("/v1/admin/reload", "", kJson);
  ASSERT_TRUE(reload);
  ASSERT_EQ(reload->status, 200) << reload->body;
  EXPECT_EQ(json::parse(reload->body)["reloaded"], true);
  auto after = c->Post("/v1/suggest", history, kJson);
  ASSERT_TRUE(after);
  EXPECT_EQ(after->body, relabel(expected_suggestion(online_retail, history, {}), online_retail));

  gptrec::test::write_file(dir / "config.json", "{\"n_embd\": ");
  auto failed = c->Post("/v1/admin/reload", "", kJson);
  ASSERT_TRUE(failed);
  EXPECT_EQ(failed->status, 500);
  EXPECT_NE(error_of(failed).find("the previous model keeps serving"), std::string::npos);
  EXPECT_NE(error_of(failed).find("config.json"), std::string::npos);
  auto still = c->Post("/v1/suggest", history, kJson);
  ASSERT_TRUE(still);
  EXPECT_EQ(still->body, after->body);
  const std::string metrics = c->Get("/metrics")->body;
  EXPECT_NE(metrics.find("gptrec_model_reloads_total{result=\"success\"} 1\n"), std::string::npos);
  EXPECT_NE(metrics.find("gptrec_model_reloads_total{result=\"failure\"} 1\n"), std::string::npos);
}

// Reloads while clients send a stream of requests: every request is answered 200 with the
// result of one model or the other, none fails.
TEST(Server, ReloadDuringAStreamOfRequestsLosesNone) {
  gptrec::test::TempDir tmp;
  const auto dir = tmp / "model";
  gptrec::test::copy_dir(tiny_items(), dir);
  RunningServer s(config_for(dir.string()));
  const auto lines = gptrec::test::sample_lines();
  std::vector<std::string> expected;
  for (std::size_t i = 0; i < 8; ++i)
    expected.push_back(expected_suggestion(dir.string(), lines[i], {}));
  std::atomic<bool> done{false};
  std::atomic<int> answered{0}, failed{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < 4; ++t)
    clients.emplace_back([&, t] {
      auto c = s.client();
      c->set_keep_alive(t % 2 == 0);  // half reuse connections, half open one per request
      for (std::size_t i = static_cast<std::size_t>(t); !done || i < 40; ++i) {
        auto r = c->Post("/v1/suggest", lines[i % 8], kJson);
        if (r && r->status == 200 && r->body == expected[i % 8])
          ++answered;
        else
          ++failed;
        if (i > 100000) break;
      }
    });
  int reloads = 0;
  while (answered < 40) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  for (int k = 0; k < 5; ++k) {
    const auto r = s.server().reload();
    EXPECT_TRUE(r.ok) << r.message;
    reloads += r.ok;
  }
  const int before_end = answered;
  while (answered < before_end + 40) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  done = true;
  for (auto& t : clients) t.join();
  EXPECT_EQ(reloads, 5);
  EXPECT_EQ(failed, 0);
  EXPECT_GT(answered, 80);
}

// The log names requests, statuses and (only when asked) customers; never history contents,
// error messages that quote them included.
TEST(Server, LogsHoldNoHistoryContents) {
  for (const bool log_customers : {false, true}) {
    gptrec::test::TempDir tmp;
    std::mutex mutex;
    std::string log;
    ServerConfig config = config_for(tiny_items(), sample_database(tmp));
    config.access_log = true;
    config.log_customers = log_customers;
    config.log = [&](const std::string& line) {
      std::lock_guard<std::mutex> lock(mutex);
      log += line + "\n";
    };
    {
      RunningServer s(config);
      auto c = s.client();
      json history = json::parse(gptrec::test::sample_lines()[0]);
      history["customer_id"] = "customer-SECRET-1";
      history["events"][0]["item"] = "item-SECRET-2";
      ASSERT_EQ(c->Post("/v1/suggest", history.dump(), kJson)->status, 200);
      history["events"][1]["timestamp"] = "date-SECRET-3";
      auto bad = c->Post("/v1/suggest", history.dump(), kJson);
      ASSERT_EQ(bad->status, 400);
      EXPECT_NE(bad->body.find("date-SECRET-3"), std::string::npos);  // the client is told
      ASSERT_EQ(c->Post("/v1/suggest", R"({"customer_id": "12348"})", kJson)->status, 200);
      ASSERT_EQ(c->Post("/v1/score", history.dump(), "application/x-ndjson")->status, 200);
    }
    EXPECT_EQ(log.find("item-SECRET"), std::string::npos) << log;
    EXPECT_EQ(log.find("date-SECRET"), std::string::npos) << log;
    EXPECT_EQ(log.find("SECRET") != std::string::npos, log_customers) << log;
    EXPECT_EQ(log.find("customer=12348") != std::string::npos, log_customers) << log;
    EXPECT_NE(log.find("POST /v1/suggest 400"), std::string::npos) << log;
  }
}

// stop() while a batch streams: the stream is finished, then serve() returns.
TEST(Server, StopFinishesTheRequestInFlight) {
  auto s = std::make_unique<RunningServer>(config_for(tiny_items()));
  std::string batch;
  for (int k = 0; k < 3; ++k)
    for (const std::string& line : gptrec::test::sample_lines()) batch += line + "\n";
  auto c = s->client();
  httplib::Request req;
  req.method = "POST";
  req.path = "/v1/score";
  req.body = batch;
  req.set_header("Content-Type", "application/x-ndjson");
  std::thread stopper;
  std::string received;
  req.content_receiver = [&](const char* data, std::size_t length, std::uint64_t, std::uint64_t) {
    if (received.empty()) stopper = std::thread([&] { s->server().stop(); });
    received.append(data, length);
    return true;
  };
  auto r = c->send(req);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  stopper.join();
  std::size_t records = 0;
  for (std::size_t at = 0; (at = received.find('\n', at)) != std::string::npos; ++at) ++records;
  EXPECT_EQ(records, 3 * gptrec::test::sample_lines().size());
  s.reset();  // serve() has returned: joins at once
}
