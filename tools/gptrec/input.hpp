// Reading command inputs: a file path, or "-" for standard input, byte for byte.
#pragma once

#include <string>

namespace gptrec::cli {

// The whole content of `path` ("-" = stdin), unchanged (a BOM or invalid UTF-8 is kept).
// Throws Error(kIo) naming the file when it cannot be read.
std::string read_input(const std::string& path);

}  // namespace gptrec::cli
