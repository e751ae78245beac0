#include "input.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "gptrec/error.hpp"
#include "gptrec/model_directory.hpp"
#include "gptrec/recommender.hpp"

namespace gptrec::cli {

void read_chunks(int fd, const std::string& name,
                 const std::function<void(std::string_view)>& consume) {
  char chunk[1 << 16];
  while (true) {
    const ssize_t n = ::read(fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const std::string why = std::strerror(errno);
      throw Error(ErrorCode::kIo, name + ": read failed (" + why + ")");
    }
    if (n == 0) return;
    consume(std::string_view(chunk, static_cast<std::size_t>(n)));
  }
}

std::string read_input(const std::string& path, std::uint64_t max_bytes) {
  const bool is_stdin = path == "-";
  const std::string name = is_stdin ? "<stdin>" : path;
  // Plain read(2) rather than iostreams: a closed stdin (EBADF) or a directory (EISDIR) is an
  // error naming the input, not an empty document, and an endless input (/dev/zero, a pipe that
  // never ends) stops at the limit instead of exhausting memory.
  const int fd = is_stdin ? 0 : ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(ErrorCode::kIo, name + ": cannot open (" + std::strerror(errno) + ")");
  std::string text;
  try {
    read_chunks(fd, name, [&](std::string_view chunk) {
      if (text.size() + chunk.size() > max_bytes)
        throw Error(ErrorCode::kBadInput, name + ": larger than " +
                                              std::to_string(max_bytes >> 20) +
                                              " MiB, the limit for this input");
      text.append(chunk);
    });
  } catch (...) {
    if (!is_stdin) ::close(fd);
    throw;
  }
  if (!is_stdin) ::close(fd);
  return text;
}

}  // namespace gptrec::cli

namespace gptrec::cli {

void check_has_candidates(const Recommender& rec, const std::string& catalog_path) {
  if (!rec.catalog().empty()) return;
  if (catalog_path.empty())
    throw Error(ErrorCode::kBadModel,
                rec.directory().string() + ": the model has no items to suggest");
  throw Error(ErrorCode::kBadInput,
              catalog_path +
                  ": no item to suggest (the catalog is empty, or the model knows "
                  "none of its items)");
}

std::string default_model_dir() {
  if (const char* env = std::getenv("GPTREC_MODEL"); env != nullptr && *env != '\0') return env;
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    const auto installed =
        exe.parent_path().parent_path() / "share" / "gptrec" / "models" / "online-retail";
    if (std::filesystem::exists(ModelDirectory(installed).config_file(), ec))
      return installed.string();
  }
  return GPTREC_SOURCE_MODELS_DIR "/online-retail";
}

}  // namespace gptrec::cli
