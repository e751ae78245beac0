// Many clients at once against one server in this process: suggestions with events, lookups in
// the histories database, explanations, batches, bad requests and metrics scrapes, while the model
// is reloaded. Every answer must equal the one computed alone. CI also runs this under
// ThreadSanitizer (.ci/run), like tests/test_concurrency.cpp.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <nlohmann/json.hpp>

#include "gptrec/history.hpp"
#include "gptrec/model.hpp"
#include "gptrec/recommender.hpp"
#include "histories_db.hpp"
#include "result_json.hpp"
#include "server_test_util.hpp"
#include "test_util.hpp"

using json = nlohmann::json;

namespace {

constexpr int kClients = 8;
constexpr int kRequestsPerClient = 30;

struct Call {
  std::string target, body, content_type;
  int status = 200;
  std::string expected;  // the whole body for 200s, a part of the error otherwise
};

// Request i of the mix, with its expected answer computed by the library alone.
std::vector<Call> make_calls(const std::string& model, const std::vector<std::string>& lines) {
  gptrec::set_op_threads(1);  // as the server runs requests
  const auto rec = gptrec::Recommender::load(model);
  auto suggestion = [&](const std::string& history, const gptrec::RecommendOptions& options) {
    return gptrec::batch::suggestions_document(
        rec.recommend(gptrec::parse_history(history, "expected"), options), model, rec, options);
  };
  std::vector<Call> calls;
  for (std::size_t i = 0; i < kClients * kRequestsPerClient; ++i) {
    const std::string& line = lines[(i * 7) % lines.size()];
    Call c;
    c.target = "/v1/suggest";
    c.content_type = "application/json";
    gptrec::RecommendOptions options;
    switch (i % 5) {
      case 0:
        c.body = line;
        c.expected = suggestion(line, options);
        break;
      case 1:
        options.top_n = 5;
        c.body = json({{"customer_id", json::parse(line)["customer_id"]}, {"top", 5}}).dump();
        c.expected = suggestion(line, options);
        break;
      case 2:
        options.top_n = 3;
        options.explain = true;
        c.target += "?top=3&explain=true";
        c.body = line;
        c.expected = suggestion(line, options);
        break;
      case 3: {
        c.target = "/v1/score?top=2";
        c.content_type = "application/x-ndjson";
        options.top_n = 2;
        for (long long k = 1; k <= 3; ++k) {
          const std::string& record = lines[(i * 7 + static_cast<std::size_t>(k)) % lines.size()];
          c.body += record + "\n";
          c.expected +=
              gptrec::batch::score_line(
                  gptrec::batch::score_record(rec, options, record, k, "request body").json) +
              "\n";
        }
        break;
      }
      default:
        c.body = "{\"customer_id\": \"" + std::to_string(i) + "-nobody\"}";
        c.status = 404;
        c.expected = "no customer";
    }
    calls.push_back(std::move(c));
  }
  return calls;
}

}  // namespace

TEST(ServerConcurrency, ManyClientsWhileReloadingMatchTheAnswersComputedAlone) {
  ::signal(SIGPIPE, SIG_IGN);
  const std::string model = gptrec::test::test_model("tiny-items").string();
  const auto lines = gptrec::test::sample_lines();
  gptrec::test::TempDir tmp;
  const std::string db = (tmp / "histories.sqlite").string();
  {
    gptrec::cli::HistoriesWriter writer(db);
    for (const std::string& line : lines) writer.add_document(line, "sample");
    writer.commit();
  }
  const std::vector<Call> calls = make_calls(model, lines);

  gptrec::cli::ServerConfig config;
  config.model_dir = model;
  config.histories = db;
  config.port = 0;
  config.threads = 3;
  config.max_in_flight = 1000;
  config.log = [](const std::string&) {};
  gptrec::test::RunningServer server(config);

  std::atomic<int> mismatches{0}, done{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < kClients; ++t)
    clients.emplace_back([&, t] {
      auto client = server.client();
      client->set_keep_alive(t % 2 == 0);
      for (int k = 0; k < kRequestsPerClient; ++k) {
        // Client t takes calls t, t + kClients, ...; odd clients walk backwards.
        const int n = t % 2 == 0 ? k : kRequestsPerClient - 1 - k;
        const Call& c = calls[static_cast<std::size_t>(n * kClients + t)];
        auto r = client->Post(c.target.c_str(), c.body, c.content_type.c_str());
        const bool ok = r && r->status == c.status &&
                        (c.status == 200 ? r->body == c.expected
                                         : r->body.find(c.expected) != std::string::npos);
        if (!ok && ++mismatches <= 3)
          ADD_FAILURE() << c.target << " " << c.body.substr(0, 60) << " -> "
                        << (r ? std::to_string(r->status) + " " + r->body.substr(0, 300)
                              : "no response");
      }
      ++done;
    });
  // Reloads and metrics scrapes while the clients run.
  auto admin = server.client();
  int reloads = 0, scrapes = 0;
  while (done < kClients) {
    if (reloads < 3) reloads += server.server().reload().ok;
    auto m = admin->Get("/metrics");
    scrapes += m && m->status == 200;
  }
  for (auto& c : clients) c.join();
  EXPECT_EQ(mismatches, 0);
  EXPECT_EQ(reloads, 3);
  EXPECT_GT(scrapes, 0);
  const std::string metrics = admin->Get("/metrics")->body;
  // Every answer was counted: 4 of 5 calls are 200s (suggestions and batches), 1 of 5 is a 404.
  const int total = kClients * kRequestsPerClient;
  EXPECT_NE(metrics.find("gptrec_http_requests_total{endpoint=\"/v1/suggest\",status=\"404\"} " +
                         std::to_string(total / 5) + "\n"),
            std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("gptrec_http_requests_total{endpoint=\"/v1/score\",status=\"200\"} " +
                         std::to_string(total / 5) + "\n"),
            std::string::npos);
  EXPECT_NE(metrics.find("gptrec_http_requests_in_flight 0\n"), std::string::npos);
}
