// Reading a text file line by line: plain or gzip-compressed (detected from the content), or
// standard input with "-".
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace gptrec::cli {

// The longest line a LineReader returns (README "Limits"): one batch record.
constexpr std::size_t kMaxLineBytes = std::size_t{16} << 20;

class LineReader {
 public:
  // Throws Error(kIo) naming the file when it cannot be opened.
  explicit LineReader(const std::string& path, std::size_t max_line_bytes = kMaxLineBytes);
  ~LineReader();
  LineReader(const LineReader&) = delete;
  LineReader& operator=(const LineReader&) = delete;

  // The next line without its "\n" (and "\r"); false at the end. Throws Error(kIo) on a read
  // error or a corrupt gzip stream, and Error(kBadInput) "<path>:<n>: ..." for a line longer than
  // max_line_bytes: that line is skipped without being held in memory, line_number() counts it,
  // and the next call continues after it.
  bool next(std::string& line);
  // 1-based number of the line last returned.
  long long line_number() const { return line_number_; }
  // Bytes of the file read so far (compressed bytes for a gzip file, read ahead included), and the
  // file's size when known (a regular file, standard input included), else 0: the fraction read.
  std::uint64_t bytes_read() const;
  std::uint64_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string path_;
  std::size_t max_line_bytes_;
  long long line_number_ = 0;
  std::uint64_t size_ = 0;
};

}  // namespace gptrec::cli
