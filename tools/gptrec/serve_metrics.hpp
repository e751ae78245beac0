// The server's metrics, rendered in the Prometheus text exposition format (version 0.0.4):
// requests by endpoint and status, a latency histogram per endpoint, requests in flight, the model
// being served and its reloads. Safe to use from any number of threads.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

namespace gptrec::cli {

class ServerMetrics {
 public:
  // Endpoints are the known paths; anything else is "other", so that a scan of random paths does
  // not grow the label set.
  static std::string_view endpoint_of(std::string_view path);

  // A response written: its endpoint (endpoint_of), status and time since its headers were read.
  void record(std::string_view endpoint, int status, double seconds);
  void model_loaded(const std::string& model, std::string_view kind, double unix_time,
                    double load_seconds);
  void reload_result(bool success);

  // The exposition text, with the gauges the caller knows.
  std::string render(long long in_flight, long long in_flight_limit, int model_threads) const;

 private:
  // Upper bounds of the latency buckets, in seconds (+Inf is implied).
  static constexpr std::array<double, 14> kBuckets = {
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
  struct Histogram {
    std::array<std::uint64_t, kBuckets.size() + 1> counts{};  // per bucket, not cumulative
    double sum = 0;
    std::uint64_t count = 0;
  };
  mutable std::mutex mutex_;
  std::map<std::pair<std::string, int>, std::uint64_t> requests_;
  std::map<std::string, Histogram> latency_;
  std::string model_, kind_;
  double loaded_at_ = 0, load_seconds_ = 0;
  std::uint64_t reloads_ok_ = 0, reloads_failed_ = 0;
};

}  // namespace gptrec::cli
