#include "serve_metrics.hpp"

#include <algorithm>
#include <charconv>

namespace gptrec::cli {

namespace {

// A label value with \, " and newlines escaped, as the format requires.
std::string label(std::string_view value) {
  std::string out;
  for (const char c : value) {
    if (c == '\\' || c == '"')
      out += {'\\', c};
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

// The shortest text that reads back as `v`.
std::string number(double v) {
  char text[64];
  const auto end = std::to_chars(text, text + sizeof text, v).ptr;
  return std::string(text, end);
}

void header(std::string& out, const char* name, const char* type, const char* help) {
  out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

}  // namespace

std::string_view ServerMetrics::endpoint_of(std::string_view path) {
  for (const std::string_view known :
       {"/v1/suggest", "/v1/score", "/v1/admin/reload", "/healthz", "/readyz", "/metrics"})
    if (path == known) return known;
  return "other";
}

void ServerMetrics::record(std::string_view endpoint, int status, double seconds) {
  const auto bucket = static_cast<std::size_t>(
      std::lower_bound(kBuckets.begin(), kBuckets.end(), seconds) - kBuckets.begin());
  std::lock_guard<std::mutex> lock(mutex_);
  ++requests_[{std::string(endpoint), status}];
  Histogram& h = latency_[std::string(endpoint)];
  ++h.counts[bucket];
  h.sum += seconds;
  ++h.count;
}

void ServerMetrics::model_loaded(const std::string& model, std::string_view kind, double unix_time,
                                 double load_seconds) {
  std::lock_guard<std::mutex> lock(mutex_);
  model_ = model;
  kind_ = kind;
  loaded_at_ = unix_time;
  load_seconds_ = load_seconds;
}

void ServerMetrics::reload_result(bool success) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++(success ? reloads_ok_ : reloads_failed_);
}

std::string ServerMetrics::render(long long in_flight, long long in_flight_limit,
                                  int model_threads) const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::string out;
  header(out, "gptrec_http_requests_total", "counter",
         "HTTP responses written, by endpoint and status code.");
  for (const auto& [key, count] : requests_)
    out += "gptrec_http_requests_total{endpoint=\"" + label(key.first) + "\",status=\"" +
           std::to_string(key.second) + "\"} " + std::to_string(count) + "\n";
  header(out, "gptrec_http_request_duration_seconds", "histogram",
         "Time from reading a request's headers to the end of its response.");
  for (const auto& [endpoint, h] : latency_) {
    const std::string name = "gptrec_http_request_duration_seconds";
    const std::string ep = "endpoint=\"" + label(endpoint) + "\"";
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i <= kBuckets.size(); ++i) {
      cumulative += h.counts[i];
      out += name + "_bucket{" + ep + ",le=\"" +
             (i < kBuckets.size() ? number(kBuckets[i]) : std::string("+Inf")) + "\"} " +
             std::to_string(cumulative) + "\n";
    }
    out += name + "_sum{" + ep + "} " + number(h.sum) + "\n";
    out += name + "_count{" + ep + "} " + std::to_string(h.count) + "\n";
  }
  header(out, "gptrec_http_requests_in_flight", "gauge",
         "Requests to /v1/suggest and /v1/score being answered (waiting for or using a model "
         "thread).");
  out += "gptrec_http_requests_in_flight " + std::to_string(in_flight) + "\n";
  header(out, "gptrec_http_requests_in_flight_limit", "gauge",
         "Requests in flight beyond which new ones are answered 503.");
  out += "gptrec_http_requests_in_flight_limit " + std::to_string(in_flight_limit) + "\n";
  header(out, "gptrec_model_threads", "gauge", "Requests the model answers at once.");
  out += "gptrec_model_threads " + std::to_string(model_threads) + "\n";
  header(out, "gptrec_model_info", "gauge", "The model being served (always 1).");
  out += "gptrec_model_info{model=\"" + label(model_) + "\",kind=\"" + label(kind_) + "\"} 1\n";
  header(out, "gptrec_model_loaded_timestamp_seconds", "gauge",
         "When the model being served was loaded (Unix time).");
  out += "gptrec_model_loaded_timestamp_seconds " + number(loaded_at_) + "\n";
  header(out, "gptrec_model_load_duration_seconds", "gauge",
         "How long loading the model being served took.");
  out += "gptrec_model_load_duration_seconds " + number(load_seconds_) + "\n";
  header(out, "gptrec_model_reloads_total", "counter", "Model reloads, by result.");
  out += "gptrec_model_reloads_total{result=\"success\"} " + std::to_string(reloads_ok_) + "\n";
  out += "gptrec_model_reloads_total{result=\"failure\"} " + std::to_string(reloads_failed_) + "\n";
  return out;
}

}  // namespace gptrec::cli
