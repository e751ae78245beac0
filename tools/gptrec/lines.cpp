#include "lines.hpp"

#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

#include "gptrec/error.hpp"

namespace gptrec::cli {

struct LineReader::Impl {
  gzFile file = nullptr;
  std::string buffer;     // bytes read but not yet returned
  std::size_t start = 0;  // first unreturned byte of buffer
  bool eof = false;
};

LineReader::LineReader(const std::string& path, std::size_t max_line_bytes)
    : impl_(std::make_unique<Impl>()), path_(path), max_line_bytes_(max_line_bytes) {
  // zlib reads uncompressed input transparently.
  impl_->file = path == "-" ? gzdopen(::dup(0), "rb") : gzopen(path.c_str(), "rb");
  if (impl_->file == nullptr)
    throw Error(ErrorCode::kIo,
                (path == "-" ? "<stdin>" : path) + ": cannot open (" + std::strerror(errno) + ")");
  gzbuffer(impl_->file, 1 << 17);
  struct stat st {};
  const int fd = path == "-" ? 0 : -1;
  if ((fd == 0 ? ::fstat(0, &st) : ::stat(path.c_str(), &st)) == 0 && S_ISREG(st.st_mode))
    size_ = static_cast<std::uint64_t>(st.st_size);
}

std::uint64_t LineReader::bytes_read() const {
  const auto offset = gzoffset(impl_->file);
  return offset > 0 ? static_cast<std::uint64_t>(offset) : 0;
}

LineReader::~LineReader() {
  if (impl_->file != nullptr) gzclose(impl_->file);
}

bool LineReader::next(std::string& line) {
  // Lines are cut at "\n" by hand (not gzgets) so that a NUL byte stays part of its line.
  Impl& s = *impl_;
  std::uint64_t skipped = 0;  // bytes of an over-long line dropped so far
  while (true) {
    const auto newline = s.buffer.find('\n', s.start);
    const std::size_t available =
        (newline == std::string::npos ? s.buffer.size() : newline) - s.start;
    if (skipped > 0 || available > max_line_bytes_ + 1) {
      // Too long (the +1 allows a "\r" before the "\n"): drop what is buffered and read on to its
      // end, so the line never has to fit in memory.
      skipped += available;
      s.start += available;
      if (newline != std::string::npos || s.eof) {
        if (newline != std::string::npos) ++s.start;
        ++line_number_;
        throw Error(ErrorCode::kBadInput, path_ + ":" + std::to_string(line_number_) +
                                              ": line of " + std::to_string(skipped) +
                                              " bytes, longer than the limit of " +
                                              std::to_string(max_line_bytes_) + " bytes");
      }
    } else if (newline != std::string::npos || (s.eof && s.start < s.buffer.size())) {
      const std::size_t end = newline == std::string::npos ? s.buffer.size() : newline;
      line.assign(s.buffer, s.start, end - s.start);
      s.start = newline == std::string::npos ? s.buffer.size() : newline + 1;
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.size() > max_line_bytes_) {  // max_line_bytes_ + 1 bytes without a "\r"
        ++line_number_;
        throw Error(ErrorCode::kBadInput, path_ + ":" + std::to_string(line_number_) +
                                              ": line of " + std::to_string(line.size()) +
                                              " bytes, longer than the limit of " +
                                              std::to_string(max_line_bytes_) + " bytes");
      }
      ++line_number_;
      return true;
    }
    if (s.eof) return false;
    s.buffer.erase(0, s.start);
    s.start = 0;
    char chunk[1 << 16];
    const int n = gzread(s.file, chunk, sizeof chunk);
    if (n < 0) {
      int code = 0;
      const char* message = gzerror(s.file, &code);
      throw Error(ErrorCode::kIo, path_ + ": read failed at line " +
                                      std::to_string(line_number_ + 1) + " (" + message + ")");
    }
    if (n == 0) {
      // zlib ends a gzip stream that is cut short like a complete one, and only gzerror() tells
      // (Z_BUF_ERROR): a cut input is a read error, not a last line.
      int code = Z_OK;
      const char* message = gzerror(s.file, &code);
      if (code == Z_BUF_ERROR)
        throw Error(ErrorCode::kIo, path_ + ": read failed at line " +
                                        std::to_string(line_number_ + 1) + " (" + message +
                                        ": the compressed input is cut short)");
      s.eof = true;
    }
    s.buffer.append(chunk, static_cast<std::size_t>(n));
  }
}

}  // namespace gptrec::cli
