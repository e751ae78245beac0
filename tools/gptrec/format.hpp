// Small text-formatting helpers shared by the subcommands.
#pragma once

#include <cstdint>
#include <string>

namespace gptrec::cli {

// 1234567 -> "1,234,567"
std::string with_thousands(std::int64_t n);
// 1536 -> "1.5 KiB"
std::string human_bytes(std::uint64_t n);

}  // namespace gptrec::cli
