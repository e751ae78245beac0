// Reading command inputs: a file path, or "-" for standard input, byte for byte.
#pragma once

#include <string>

namespace gptrec::cli {

// The whole content of `path` ("-" = stdin), unchanged (a BOM or invalid UTF-8 is kept).
// Throws Error(kIo) naming the file when it cannot be read.
std::string read_input(const std::string& path);

}  // namespace gptrec::cli

namespace gptrec::cli {

// The model `suggest` and `score` use without --model: $GPTREC_MODEL if set, else the installed
// share/gptrec/models/online-retail beside the executable, else the source tree's
// models/online-retail.
std::string default_model_dir();

}  // namespace gptrec::cli
