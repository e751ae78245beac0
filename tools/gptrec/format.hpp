// Text-formatting helpers shared by the subcommands.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

namespace gptrec::cli {

// 1234567 -> "1,234,567"
std::string with_thousands(std::int64_t n);
// 1536 -> "1.5 KiB"
std::string human_bytes(std::uint64_t n);
// Characters on screen of UTF-8 text (one per code point).
std::size_t display_width(std::string_view s);
// At most `width` code points, ending in "…" when cut.
std::string truncate_display(std::string_view s, std::size_t width);
// "a, b, c and 4 more"
std::string join_limited(const std::vector<std::string>& items, std::size_t limit);
// One line on stderr: "gptrec: warning: ..."
void warn(const std::string& message);

// A progress bar on stderr (done/total, rate, ETA), drawn only when stderr is a terminal and
// `enabled`; redrawn at most ten times a second.
class ProgressBar {
 public:
  ProgressBar(std::string label, bool enabled);
  ~ProgressBar();
  void update(std::size_t done, std::size_t total);
  // `done` items of an input of unknown count of which the fraction `fraction` (0..1) is read,
  // e.g. by bytes; a negative fraction is unknown: then the count and rate only.
  void update_fraction(std::size_t done, double fraction);
  void finish();

 private:
  void draw(std::size_t done, double fraction, const std::string& count, bool final);

  std::string label_;
  bool enabled_;
  bool drawn_ = false;
  double start_ = 0, last_draw_ = 0;
};

// A table with aligned columns; `right` says which columns are right-aligned.
class Table {
 public:
  Table(std::vector<std::string> header, std::vector<bool> right);
  void add(std::vector<std::string> row);
  // A line of its own between rows (e.g. a section title), not aligned and not counted in widths.
  void add_heading(std::string text);
  void print(std::FILE* out) const;

 private:
  std::vector<std::vector<std::string>> rows_;
  std::vector<bool> heading_;  // per row
  std::vector<bool> right_;
};

}  // namespace gptrec::cli
