// File helpers shared by the loaders (private to the library).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>

#include "gptrec/error.hpp"

namespace gptrec {

// Reads a whole file; errors name the path and use `code`. Files above `max_bytes` are refused.
std::string read_text_file(const std::filesystem::path& path, ErrorCode code,
                           std::uint64_t max_bytes = std::uint64_t{1} << 31);

// A read-only memory mapping of a whole file (empty files map to an empty span).
class MappedFile {
 public:
  explicit MappedFile(const std::filesystem::path& path, ErrorCode code = ErrorCode::kBadModel);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  std::span<const std::byte> bytes() const { return {data_, size_}; }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  const std::byte* data_ = nullptr;
  std::size_t size_ = 0;
};

// Writes `contents` to `path` through a temporary file in the same directory and a rename, so a
// reader never sees a half-written file.
void write_file_atomically(const std::filesystem::path& path, std::span<const std::byte> contents);

}  // namespace gptrec
