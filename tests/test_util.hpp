// Helpers shared by the tests: fixture paths, temporary directories, running the CLI.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace gptrec::test {

std::filesystem::path data_dir();                        // tests/data
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

struct CliResult {
  int status = -1;  // exit status, or 128 + signal number
  std::string out;
  std::string err;
};

// Runs the gptrec CLI with `args`, feeding `stdin_text` to its standard input.
CliResult run_cli(const std::vector<std::string>& args, const std::string& stdin_text = "");

}  // namespace gptrec::test
