#include "format.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>

namespace gptrec::cli {

std::string with_thousands(std::int64_t n) {
  std::string digits = std::to_string(n < 0 ? -n : n);
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return n < 0 ? "-" + out : out;
}

std::string human_bytes(std::uint64_t n) {
  const char* units[] = {"bytes", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(n);
  int u = 0;
  while (v >= 1024.0 && u < 4) {
    v /= 1024.0;
    ++u;
  }
  char buf[32];
  if (u == 0)
    std::snprintf(buf, sizeof buf, "%llu bytes", static_cast<unsigned long long>(n));
  else
    std::snprintf(buf, sizeof buf, "%.1f %s", v, units[u]);
  return buf;
}

std::size_t display_width(std::string_view s) {
  return static_cast<std::size_t>(std::count_if(
      s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

std::string truncate_display(std::string_view s, std::size_t width) {
  if (display_width(s) <= width) return std::string(s);
  std::string out;
  std::size_t chars = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const bool starts_char = (static_cast<unsigned char>(s[i]) & 0xC0) != 0x80;
    if (starts_char && ++chars > width - 1) break;
    out += s[i];
  }
  return out + "\u2026";
}

std::string join_limited(const std::vector<std::string>& items, std::size_t limit) {
  std::string out;
  for (std::size_t i = 0; i < items.size() && i < limit; ++i) out += (i ? ", " : "") + items[i];
  if (items.size() > limit) out += " and " + std::to_string(items.size() - limit) + " more";
  return out;
}

void warn(const std::string& message) {
  std::string line = message;
  std::replace(line.begin(), line.end(), '\n', ' ');
  std::fprintf(stderr, "gptrec: warning: %s\n", line.c_str());
}

namespace {

double seconds_now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

ProgressBar::ProgressBar(std::string label, bool enabled)
    : label_(std::move(label)), enabled_(enabled && ::isatty(2) == 1), start_(seconds_now()) {}

ProgressBar::~ProgressBar() { finish(); }

void ProgressBar::update(std::size_t done, std::size_t total) {
  const double fraction = total > 0 ? static_cast<double>(done) / static_cast<double>(total) : 1.0;
  draw(done, fraction, std::to_string(done) + "/" + std::to_string(total), done >= total);
}

void ProgressBar::update_fraction(std::size_t done, double fraction) {
  draw(done, std::min(fraction, 1.0), with_thousands(static_cast<std::int64_t>(done)), false);
}

void ProgressBar::draw(std::size_t done, double fraction, const std::string& count, bool final) {
  if (!enabled_) return;
  const double now = seconds_now();
  if (drawn_ && now - last_draw_ < 0.1 && !final) return;
  last_draw_ = now;
  drawn_ = true;
  const double elapsed = now - start_;
  const double rate = elapsed > 0 ? static_cast<double>(done) / elapsed : 0.0;
  if (fraction < 0) {
    std::fprintf(stderr, "\r%s %s %.0f/s ", label_.c_str(), count.c_str(), rate);
    std::fflush(stderr);
    return;
  }
  const int width = 30;
  const int filled = static_cast<int>(fraction * width);
  const double eta = fraction > 0 ? elapsed * (1 - fraction) / fraction : 0.0;
  std::fprintf(stderr, "\r%s [%s%s] %s %3.0f%% %.0f/s ETA %d:%02d ", label_.c_str(),
               std::string(static_cast<std::size_t>(filled), '#').c_str(),
               std::string(static_cast<std::size_t>(width - filled), '.').c_str(), count.c_str(),
               100 * fraction, rate, static_cast<int>(eta) / 60, static_cast<int>(eta) % 60);
  std::fflush(stderr);
}

void ProgressBar::finish() {
  if (!enabled_ || !drawn_) return;
  std::fprintf(stderr, "\n");
  drawn_ = false;
}

Table::Table(std::vector<std::string> header, std::vector<bool> right) : right_(std::move(right)) {
  rows_.push_back(std::move(header));
  heading_.push_back(false);
}

void Table::add(std::vector<std::string> row) {
  rows_.push_back(std::move(row));
  heading_.push_back(false);
}

void Table::add_heading(std::string text) {
  rows_.push_back({std::move(text)});
  heading_.push_back(true);
}

void Table::print(std::FILE* out) const {
  std::vector<std::size_t> widths(rows_[0].size(), 0);
  for (std::size_t r = 0; r < rows_.size(); ++r)
    for (std::size_t c = 0; c < rows_[r].size() && c < widths.size() && !heading_[r]; ++c)
      widths[c] = std::max(widths[c], display_width(rows_[r][c]));
  for (std::size_t r = 0; r < rows_.size(); ++r) {
    const auto& row = rows_[r];
    if (heading_[r]) {
      std::fprintf(out, "%s\n", row[0].c_str());
      continue;
    }
    std::string line;
    for (std::size_t c = 0; c < row.size() && c < widths.size(); ++c) {
      const std::string pad(widths[c] - display_width(row[c]), ' ');
      const bool last = c + 1 == row.size();
      if (c > 0) line += "  ";
      if (c < right_.size() && right_[c])
        line += pad + row[c];
      else
        line += last ? row[c] : row[c] + pad;
    }
    std::fprintf(out, "%s\n", line.c_str());
  }
}

}  // namespace gptrec::cli
