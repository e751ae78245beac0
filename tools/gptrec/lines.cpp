#include "lines.hpp"

#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <unistd.h>

#include "gptrec/error.hpp"

namespace gptrec::cli {

struct LineReader::Impl {
  gzFile file = nullptr;
  std::string buffer;      // bytes read but not yet returned
  std::size_t start = 0;   // first unreturned byte of buffer
  bool eof = false;
};

LineReader::LineReader(const std::string& path) : impl_(std::make_unique<Impl>()), path_(path) {
  // zlib reads uncompressed input transparently.
  impl_->file = path == "-" ? gzdopen(::dup(0), "rb") : gzopen(path.c_str(), "rb");
  if (impl_->file == nullptr)
    throw Error(ErrorCode::kIo, path + ": cannot open (" + std::strerror(errno) + ")");
  gzbuffer(impl_->file, 1 << 17);
}

LineReader::~LineReader() {
  if (impl_->file != nullptr) gzclose(impl_->file);
}

bool LineReader::next(std::string& line) {
  // Lines are cut at "\n" by hand (not gzgets) so that a NUL byte stays part of its line.
  Impl& s = *impl_;
  while (true) {
    const auto newline = s.buffer.find('\n', s.start);
    if (newline != std::string::npos || (s.eof && s.start < s.buffer.size())) {
      const std::size_t end = newline == std::string::npos ? s.buffer.size() : newline;
      line.assign(s.buffer, s.start, end - s.start);
      s.start = newline == std::string::npos ? s.buffer.size() : newline + 1;
      if (!line.empty() && line.back() == '\r') line.pop_back();
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
      throw Error(ErrorCode::kIo, path_ + ": read failed at line " + std::to_string(line_number_ + 1) + " (" +
                                      message + ")");
    }
    if (n == 0) s.eof = true;
    s.buffer.append(chunk, static_cast<std::size_t>(n));
  }
}

}  // namespace gptrec::cli
