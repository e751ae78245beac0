#include "test_util.hpp"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <stdexcept>

#include "gptrec/safetensors.hpp"

namespace gptrec::test {

using gptrec::DType;
using gptrec::TensorToWrite;

std::filesystem::path data_dir() { return GPTREC_TEST_DATA; }

std::filesystem::path source_dir() { return data_dir().parent_path().parent_path(); }

std::filesystem::path model_dir(const std::string& name) { return data_dir() / "models" / name; }

TempDir::TempDir() {
  std::random_device rd;
  path_ = std::filesystem::temp_directory_path() /
          ("gptrec-test-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
  std::filesystem::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

void copy_dir(const std::filesystem::path& from, const std::filesystem::path& dest) {
  std::filesystem::create_directories(dest);
  std::filesystem::copy(
      from, dest,
      std::filesystem::copy_options::recursive | std::filesystem::copy_options::overwrite_existing);
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path.string());
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_file(const std::filesystem::path& path, const std::string& contents) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << contents;
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

void write_random_gpt2_model(const std::filesystem::path& dir, int n_positions) {
  constexpr int V = 50257, C = 16, I = 4 * C;
  const int N = n_positions;
  nlohmann::json config = {{"vocab_size", V}, {"n_positions", N}, {"n_embd", C},
                           {"n_layer", 1},    {"n_head", 2},      {"model_type", "gpt2"}};
  write_file(dir / "config.json", config.dump());
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 0.3f);
  std::vector<std::vector<float>> storage;
  std::vector<TensorToWrite> tensors;
  auto add = [&](const std::string& name, std::vector<std::int64_t> shape, float fill = NAN) {
    std::int64_t n = 1;
    for (auto d : shape) n *= d;
    auto& data = storage.emplace_back(static_cast<std::size_t>(n));
    for (float& x : data) x = std::isnan(fill) ? normal(rng) : fill;
    tensors.push_back({name, DType::kF32, shape, std::as_bytes(std::span(data))});
  };
  storage.reserve(16);
  add("wte.weight", {V, C});
  add("wpe.weight", {N, C});
  add("h.0.ln_1.weight", {C}, 1.0f);
  add("h.0.ln_1.bias", {C}, 0.0f);
  add("h.0.attn.c_attn.weight", {C, 3 * C});
  add("h.0.attn.c_attn.bias", {3 * C});
  add("h.0.attn.c_proj.weight", {C, C});
  add("h.0.attn.c_proj.bias", {C});
  add("h.0.ln_2.weight", {C}, 1.0f);
  add("h.0.ln_2.bias", {C}, 0.0f);
  add("h.0.mlp.c_fc.weight", {C, I});
  add("h.0.mlp.c_fc.bias", {I});
  add("h.0.mlp.c_proj.weight", {I, C});
  add("h.0.mlp.c_proj.bias", {C});
  add("ln_f.weight", {C}, 1.0f);
  add("ln_f.bias", {C}, 0.0f);
  write_safetensors(dir / "model.safetensors", tensors);
}

CliResult run_cli(const std::vector<std::string>& args, const std::string& stdin_text) {
  CliOptions options;
  options.stdin_text = stdin_text;
  return run_cli_with(args, options);
}

CliResult run_cli_with(const std::vector<std::string>& args, const CliOptions& options) {
  const std::string cli = GPTREC_CLI;
  if (cli.empty()) throw std::runtime_error("the CLI was not built");
  TempDir tmp;
  const auto in_path = tmp / "stdin", out_path = tmp / "stdout", err_path = tmp / "stderr";
  write_file(in_path, options.stdin_text);
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    if (options.address_space_limit != 0) {
      const rlimit limit{options.address_space_limit, options.address_space_limit};
      if (::setrlimit(RLIMIT_AS, &limit) != 0) ::_exit(126);
    }
    const int in = ::open(in_path.c_str(), O_RDONLY);
    const int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(in, 0);
    ::dup2(out, 1);
    ::dup2(err, 2);
    ::close(in);
    ::close(out);
    ::close(err);
    if (options.close_stdin) ::close(0);
    if (options.close_stdout) ::close(1);
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(cli.c_str()));
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(cli.c_str(), argv.data());
    ::_exit(127);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  CliResult r;
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = read_file(out_path);
  r.err = read_file(err_path);
  return r;
}

}  // namespace gptrec::test
