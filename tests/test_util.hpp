// Helpers shared by the tests: fixture paths, temporary directories, running the CLI.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace gptrec::test {

std::filesystem::path data_dir();                          // tests/data
std::filesystem::path source_dir();                        // the repository root
std::filesystem::path model_dir(const std::string& name);  // tests/data/models/<name>

// A fresh directory under the system temp dir, removed when the object dies.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

// Copies a model directory into `dest` (created).
void copy_dir(const std::filesystem::path& from, const std::filesystem::path& dest);

std::string read_file(const std::filesystem::path& path);
void write_file(const std::filesystem::path& path, const std::string& contents);

// A random model with GPT-2's vocabulary (50257) small enough to write in a test: width 16, one
// layer, learned positions, `n_positions` long, weights drawn with a fixed seed. Writes
// config.json and model.safetensors into `dir` (tokenizer files are the caller's).
void write_random_gpt2_model(const std::filesystem::path& dir, int n_positions = 32);

struct CliResult {
  int status = -1;  // exit status, or 128 + signal number
  std::string out;
  std::string err;
};

// Runs the gptrec CLI with `args`, feeding `stdin_text` to its standard input.
CliResult run_cli(const std::vector<std::string>& args, const std::string& stdin_text = "");

// How run_cli_with runs the CLI.
struct CliOptions {
  std::string stdin_text;
  bool close_stdin = false;               // run with fd 0 closed
  bool close_stdout = false;              // run with fd 1 closed
  std::uint64_t address_space_limit = 0;  // bytes (RLIMIT_AS in the child); 0: no limit
};
CliResult run_cli_with(const std::vector<std::string>& args, const CliOptions& options);

}  // namespace gptrec::test
