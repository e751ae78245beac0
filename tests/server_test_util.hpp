// Helpers of the server tests: a SuggestionServer running in this process on an ephemeral
// loopback port, and the expected responses computed with the library directly.
#pragma once

#include <httplib.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "http_server.hpp"

namespace gptrec::test {

inline std::filesystem::path examples_dir() { return GPTREC_EXAMPLES_DIR; }
inline std::filesystem::path test_model(const std::string& name) {
  return std::filesystem::path(GPTREC_TEST_DATA) / "models" / name;
}

// The lines of the online-retail sample (300 real customers).
inline std::vector<std::string> sample_lines() {
  std::ifstream in(examples_dir() / "online-retail-sample.jsonl");
  if (!in) throw std::runtime_error("cannot read the online-retail sample");
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) lines.push_back(line);
  return lines;
}

// serve() on its own thread from construction; stop() and join on destruction.
class RunningServer {
 public:
  explicit RunningServer(cli::ServerConfig config) : server_(std::move(config)) {
    config_port_ = server_.bind();
    thread_ = std::thread([this] { server_.serve(); });
  }
  ~RunningServer() {
    server_.stop();
    thread_.join();
  }
  RunningServer(const RunningServer&) = delete;
  RunningServer& operator=(const RunningServer&) = delete;

  int port() const { return config_port_; }
  cli::SuggestionServer& server() { return server_; }
  std::unique_ptr<httplib::Client> client() const {
    auto c = std::make_unique<httplib::Client>("127.0.0.1", config_port_);
    c->set_read_timeout(120);
    c->set_write_timeout(120);
    return c;
  }

 private:
  cli::SuggestionServer server_;
  int config_port_ = 0;
  std::thread thread_;
};

}  // namespace gptrec::test
