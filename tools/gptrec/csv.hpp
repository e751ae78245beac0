// Reading CSV as spreadsheets and order systems export it (RFC 4180): fields separated by a
// delimiter, optionally in double quotes, where a quoted field may hold delimiters, doubled quotes
// ("") and line breaks. Plain or gzip-compressed, through LineReader. Lenient where exports are
// sloppy: a quote inside an unquoted field, or text after a closing quote, is kept as it is.
#pragma once

#include <string>
#include <vector>

#include "lines.hpp"

namespace gptrec::cli {

class CsvReader {
 public:
  // Throws Error(kIo) naming the file when it cannot be opened.
  explicit CsvReader(const std::string& path, char delimiter = ',');

  // The next record's fields; false at the end. Throws Error(kBadInput) "<path>:<line>: ..." for a
  // quoted field still open at the end of the input or a record longer than kMaxLineBytes (the
  // next call continues after it), and Error(kIo) for a read error.
  bool next(std::vector<std::string>& fields);
  // 1-based line number where the last record returned (or refused) starts.
  long long line_number() const { return record_line_; }
  const std::string& path() const { return lines_.path(); }

 private:
  LineReader lines_;
  char delimiter_;
  long long record_line_ = 0;
};

}  // namespace gptrec::cli
