#include "input.hpp"

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

#include "gptrec/error.hpp"

namespace gptrec::cli {

std::string read_input(const std::string& path) {
  if (path == "-") {
    std::ostringstream s;
    s << std::cin.rdbuf();
    if (std::cin.bad()) throw Error(ErrorCode::kIo, "<stdin>: read failed");
    return s.str();
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorCode::kIo, path + ": cannot open (" + std::strerror(errno) + ")");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw Error(ErrorCode::kIo, path + ": read failed");
  return text;
}

}  // namespace gptrec::cli

namespace gptrec::cli {

std::string default_model_dir() {
  if (const char* env = std::getenv("GPTREC_MODEL"); env != nullptr && *env != '\0') return env;
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    const auto installed = exe.parent_path().parent_path() / "share" / "gptrec" / "models" / "online-retail";
    if (std::filesystem::exists(installed / "config.json", ec)) return installed.string();
  }
  return GPTREC_SOURCE_MODELS_DIR "/online-retail";
}

}  // namespace gptrec::cli
