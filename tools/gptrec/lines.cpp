#include "lines.hpp"

#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <unistd.h>

#include "gptrec/error.hpp"

namespace gptrec::cli {

struct LineReader::Impl {
  gzFile file = nullptr;
  char buffer[1 << 16];
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
  line.clear();
  bool any = false;
  while (true) {
    if (gzgets(impl_->file, impl_->buffer, sizeof impl_->buffer) == nullptr) {
      int code = 0;
      const char* message = gzerror(impl_->file, &code);
      if (code != Z_OK && code != Z_BUF_ERROR)
        throw Error(ErrorCode::kIo, path_ + ": read failed at line " + std::to_string(line_number_ + 1) +
                                        " (" + message + ")");
      if (!any) return false;
      break;
    }
    any = true;
    line += impl_->buffer;
    if (!line.empty() && line.back() == '\n') break;
  }
  if (!line.empty() && line.back() == '\n') line.pop_back();
  if (!line.empty() && line.back() == '\r') line.pop_back();
  ++line_number_;
  return true;
}

}  // namespace gptrec::cli
