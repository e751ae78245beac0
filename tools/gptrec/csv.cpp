#include "csv.hpp"

#include "gptrec/error.hpp"

namespace gptrec::cli {

CsvReader::CsvReader(const std::string& path, char delimiter)
    : lines_(path), delimiter_(delimiter) {}

bool CsvReader::next(std::vector<std::string>& fields) {
  fields.clear();
  std::string line;
  if (!lines_.next(line)) return false;
  record_line_ = lines_.line_number();
  std::string field;
  bool quoted = false;      // inside a quoted part of the field
  bool was_quoted = false;  // the field started with a quote
  std::size_t record_bytes = line.size();
  for (std::size_t i = 0;; ++i) {
    if (i == line.size()) {
      if (!quoted) break;
      // A line break inside quotes belongs to the field: the record goes on on the next line.
      if (!lines_.next(line))
        throw Error(ErrorCode::kBadInput, path() + ":" + std::to_string(record_line_) +
                                              ": a quoted field is not closed before the end");
      record_bytes += line.size() + 1;
      if (record_bytes > kMaxLineBytes)
        throw Error(ErrorCode::kBadInput, path() + ":" + std::to_string(record_line_) +
                                              ": record longer than " +
                                              std::to_string(kMaxLineBytes) + " bytes");
      field += '\n';
      i = static_cast<std::size_t>(-1);
      continue;
    }
    const char c = line[i];
    if (quoted) {
      if (c != '"') {
        field += c;
      } else if (i + 1 < line.size() && line[i + 1] == '"') {
        field += '"';
        ++i;
      } else {
        quoted = false;
      }
    } else if (c == delimiter_) {
      fields.push_back(std::move(field));
      field.clear();
      was_quoted = false;
    } else if (c == '"' && field.empty() && !was_quoted) {
      quoted = was_quoted = true;
    } else {
      field += c;
    }
  }
  fields.push_back(std::move(field));
  return true;
}

}  // namespace gptrec::cli
