// gptrec import: customer histories into a SQLite database (histories_db.hpp), from history JSONL
// (the format `score` reads) or from a CSV of order lines as shops export them.
//
// Every record is checked as `score` would check it; a bad one is reported and skipped, the good
// ones are kept (exit 3 at the end). The database is built in a temporary file renamed into place,
// so a failed import leaves the previous database as it was.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <optional>

#include "commands.hpp"
#include "csv.hpp"
#include "format.hpp"
#include "gptrec/error.hpp"
#include "gptrec/history.hpp"  // parse_timestamp
#include "histories_db.hpp"
#include "lines.hpp"

namespace gptrec::cli {

namespace {

struct ImportOptions {
  std::string from;
  std::string db;
  std::string format = "auto";
  std::string delimiter = ",";
  // CSV columns, by header name (the events table's names by default).
  std::string customer_column = "customer_id";
  std::string item_column = "item";
  std::string type_column = "type";
  std::string timestamp_column = "timestamp";
  std::string quantity_column = "quantity";
  std::string order_column = "order_id";
  std::string rating_column = "rating";
  std::map<std::string, bool> given;  // which column flags were on the command line
  bool quiet = false;
};

// Bad records: the first few are named on stderr, the rest counted.
class BadRecords {
 public:
  void add(const std::string& message) {
    if (++count_ <= kShown) warn("skipped: " + message);
  }
  long long count() const { return count_; }
  void summary() const {
    if (count_ > kShown)
      warn(std::to_string(count_ - kShown) + " more bad records skipped (" +
           std::to_string(count_) + " in all)");
  }

 private:
  static constexpr long long kShown = 10;
  long long count_ = 0;
};

long long import_jsonl(const ImportOptions& o, HistoriesWriter& writer, BadRecords& bad) {
  LineReader reader(o.from);
  const std::string source = o.from == "-" ? "<stdin>" : o.from;
  std::string line;
  long long customers = 0;
  while (true) {
    try {
      if (!reader.next(line)) break;
      if (line.find_first_not_of(" \t") == std::string::npos) continue;
      writer.add_document(line, source + ":" + std::to_string(reader.line_number()));
      ++customers;
    } catch (const Error& e) {
      if (e.code() != ErrorCode::kBadInput) throw;
      bad.add(e.what());
    }
  }
  return customers;
}

// Where each field of an event is in a CSV record.
struct CsvColumns {
  int customer = -1, item = -1, type = -1, timestamp = -1, quantity = -1, order = -1, rating = -1;
};

CsvColumns find_columns(const ImportOptions& o, const std::vector<std::string>& header,
                        const std::string& source) {
  auto find = [&](const std::string& flag, const std::string& name, bool required) {
    for (std::size_t i = 0; i < header.size(); ++i)
      if (header[i] == name) return static_cast<int>(i);
    if (required || o.given.at(flag))
      throw Error(ErrorCode::kBadInput, source + ":1: no column \"" + name + "\" in the header" +
                                            (o.given.at(flag) ? " (--" + flag + ")" : ""));
    return -1;
  };
  CsvColumns c;
  c.customer = find("customer-column", o.customer_column, true);
  c.item = find("item-column", o.item_column, true);
  c.type = find("type-column", o.type_column, false);
  c.timestamp = find("timestamp-column", o.timestamp_column, false);
  c.quantity = find("quantity-column", o.quantity_column, false);
  c.order = find("order-column", o.order_column, false);
  c.rating = find("rating-column", o.rating_column, false);
  return c;
}

std::optional<double> parse_number(const std::string& text) {
  if (text.empty()) return std::nullopt;
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (end != text.c_str() + text.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

// One order line as an event. Without a type column, a negative quantity is a return of that
// many (shops export cancellations as negative order lines).
EventRow csv_row(const CsvColumns& c, const std::vector<std::string>& f,
                 const std::vector<std::string>& header, const std::string& where) {
  auto bad = [&](int column, const std::string& what) {
    return Error(ErrorCode::kBadInput, where + ": column " + header[column] + ": " + what);
  };
  EventRow row;
  row.item = f[c.item];
  if (row.item.empty()) throw bad(c.item, "empty");
  if (c.quantity >= 0 && !f[c.quantity].empty()) {
    const auto q = parse_number(f[c.quantity]);
    if (!q) throw bad(c.quantity, "not a number");
    row.quantity = *q;
  }
  if (c.type >= 0 && !f[c.type].empty()) {
    row.type = f[c.type];
    if (row.type != "purchase" && row.type != "view" && row.type != "cart" &&
        row.type != "return" && row.type != "rating")
      throw bad(c.type, "unknown event type (expected purchase, view, cart, return or rating)");
  } else if (row.quantity < 0) {
    row.type = "return";
    row.quantity = -row.quantity;
  }
  if (c.timestamp >= 0) {
    if (!parse_timestamp(f[c.timestamp]))
      throw bad(c.timestamp, "not a date (expected ISO 8601 like 2011-01-18 10:01:00)");
    row.timestamp = f[c.timestamp];
  }
  if (c.order >= 0 && !f[c.order].empty()) row.order_id = f[c.order];
  if (c.rating >= 0 && !f[c.rating].empty()) {
    row.rating = parse_number(f[c.rating]);
    if (!row.rating) throw bad(c.rating, "not a number");
  }
  return row;
}

long long import_csv(const ImportOptions& o, HistoriesWriter& writer, BadRecords& bad,
                     long long& anonymous) {
  if (o.delimiter.size() != 1)
    throw Error(ErrorCode::kInvalidArgument,
                "--delimiter must be one character, got \"" + o.delimiter + "\"");
  CsvReader reader(o.from, o.delimiter[0]);
  const std::string source = o.from == "-" ? "<stdin>" : o.from;
  std::vector<std::string> header, fields;
  if (!reader.next(header)) throw Error(ErrorCode::kBadInput, source + ": empty (no header)");
  const CsvColumns columns = find_columns(o, header, source);
  long long lines = 0;
  while (true) {
    try {
      if (!reader.next(fields)) break;
      const std::string where = source + ":" + std::to_string(reader.line_number());
      if (fields.size() == 1 && fields[0].empty()) continue;  // a blank line
      if (fields.size() != header.size())
        throw Error(ErrorCode::kBadInput, where + ": " + std::to_string(fields.size()) +
                                              " fields, the header has " +
                                              std::to_string(header.size()));
      if (fields[columns.customer].empty()) {
        ++anonymous;  // a sale to no known customer: no history to add it to
        continue;
      }
      writer.add(fields[columns.customer], csv_row(columns, fields, header, where));
      ++lines;
    } catch (const Error& e) {
      if (e.code() != ErrorCode::kBadInput) throw;
      bad.add(e.what());
    }
  }
  return lines;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

int run_import(const ImportOptions& o) {
  std::string format = o.format;
  if (format == "auto") {
    const std::string name =
        ends_with(o.from, ".gz") ? o.from.substr(0, o.from.size() - 3) : o.from;
    if (ends_with(name, ".csv"))
      format = "csv";
    else if (ends_with(name, ".jsonl") || ends_with(name, ".json") || ends_with(name, ".ndjson"))
      format = "jsonl";
    else
      throw Error(ErrorCode::kInvalidArgument,
                  o.from + ": cannot tell the format from the name: give --format jsonl or csv");
  }
  const auto start = std::chrono::steady_clock::now();
  BadRecords bad;
  long long anonymous = 0;
  HistoriesWriter writer(o.db);
  const long long records =
      format == "csv" ? import_csv(o, writer, bad, anonymous) : import_jsonl(o, writer, bad);
  writer.commit();
  bad.summary();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!o.quiet || bad.count() > 0) {
    std::string what = format == "csv" ? with_thousands(records) + " order lines"
                                       : with_thousands(records) + " customers";
    if (anonymous > 0)
      what += ", " + with_thousands(anonymous) + " lines without a customer skipped";
    std::fprintf(stderr, "gptrec: imported %s (%s events, %lld bad records) into %s in %.2f s\n",
                 what.c_str(), with_thousands(writer.rows()).c_str(), bad.count(), o.db.c_str(),
                 seconds);
  }
  return bad.count() > 0 ? static_cast<int>(ErrorCode::kBadInput) : 0;
}

}  // namespace

Runner add_import(CLI::App& app) {
  auto o = std::make_shared<ImportOptions>();
  CLI::App* sub = app.add_subcommand(
      "import", "Customer histories (JSONL, or CSV order lines) into a SQLite database");
  sub->add_option("--from", o->from,
                  "History JSONL (.jsonl[.gz]) or order lines (.csv[.gz]); - for stdin")
      ->required();
  sub->add_option("--db", o->db, "The SQLite database to write (replaced when it exists)")
      ->required();
  sub->add_option("--format", o->format, "Input format (auto: from the file name)")
      ->check(CLI::IsMember({"auto", "jsonl", "csv"}))
      ->capture_default_str();
  sub->add_option("--delimiter", o->delimiter, "CSV field delimiter")->capture_default_str();
  const std::pair<const char*, std::string*> columns[] = {
      {"customer-column", &o->customer_column}, {"item-column", &o->item_column},
      {"type-column", &o->type_column},         {"timestamp-column", &o->timestamp_column},
      {"quantity-column", &o->quantity_column}, {"order-column", &o->order_column},
      {"rating-column", &o->rating_column}};
  std::vector<std::pair<std::string, CLI::Option*>> flags;
  for (const auto& [flag, member] : columns)
    flags.emplace_back(flag,
                       sub->add_option(std::string("--") + flag, *member,
                                       "CSV column of the event's " +
                                           std::string(flag).substr(0, std::string(flag).find('-')))
                           ->capture_default_str());
  sub->add_flag("--quiet", o->quiet, "No summary");
  return [o, flags] {
    for (const auto& [flag, option] : flags) o->given[flag] = option->count() > 0;
    return run_import(*o);
  };
}

}  // namespace gptrec::cli
