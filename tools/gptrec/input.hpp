// Reading command inputs: a file path, or "-" for standard input, byte for byte.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace gptrec::cli {

// Limits on one document a command reads whole (README "Limits"). A history is read in one pass
// without a document tree (about 1.5x its size in memory); a catalog is held as a JSON tree (about
// 10x), hence its smaller limit.
constexpr std::uint64_t kMaxDocumentBytes = std::uint64_t{256} << 20;  // a history, a text
constexpr std::uint64_t kMaxCatalogBytes = std::uint64_t{64} << 20;

// The whole content of `path` ("-" = stdin), unchanged (a BOM or invalid UTF-8 is kept).
// Throws Error(kIo) naming the file when it cannot be read (a directory, a closed stdin), and
// Error(kBadInput) when it is larger than max_bytes (without reading more than that).
std::string read_input(const std::string& path, std::uint64_t max_bytes = kMaxDocumentBytes);

// Reads `fd` to its end in chunks of 64 KiB, passing each to `consume` (EINTR is retried). Throws
// Error(kIo) naming `name` when a read fails; does not close `fd`.
void read_chunks(int fd, const std::string& name,
                 const std::function<void(std::string_view)>& consume);

}  // namespace gptrec::cli

namespace gptrec {
class Recommender;
}

namespace gptrec::cli {

// Throws when the recommender has no candidate at all, so nothing could ever be suggested: an
// empty catalog, or one the model knows none of (Error(kBadInput) naming `catalog_path`), or an
// item model without items ("" as catalog_path: Error(kBadModel)).
void check_has_candidates(const Recommender& rec, const std::string& catalog_path);

// The model `suggest` and `score` use without --model: $GPTREC_MODEL if set, else the installed
// share/gptrec/models/online-retail beside the executable, else the source tree's
// models/online-retail.
std::string default_model_dir();

}  // namespace gptrec::cli
