// Customer histories in SQLite: one table of events, filled by `gptrec import`, read by
// `gptrec serve --histories` (one customer at a time) and `gptrec score --db` (every customer).
//
//   CREATE TABLE events (
//     customer_id TEXT NOT NULL,
//     item        TEXT NOT NULL,
//     type        TEXT NOT NULL DEFAULT 'purchase',  -- purchase, view, cart, return, rating
//     timestamp   TEXT,                              -- ISO 8601, as in a history document
//     quantity    REAL NOT NULL DEFAULT 1,
//     order_id    TEXT,
//     rating      REAL);
//   CREATE INDEX events_customer_id ON events (customer_id);
//
// A customer's history is its rows in rowid (insertion) order, which is the order a history
// document lists them in: events at the same time keep it. The readers turn the rows into a history
// document ({"customer_id", "events": [...]}) and parse that with parse_history, so a history from
// the database is checked exactly like one from a file. The readers open the file read-only and
// never write to it. docs/FORMATS.md describes the table.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace gptrec::cli {

// One row of the events table; absent optional values are NULL.
struct EventRow {
  std::string item;
  std::string type = "purchase";
  std::optional<std::string> timestamp;
  double quantity = 1;
  std::optional<std::string> order_id;
  std::optional<double> rating;
};

// Builds a new histories database. Rows go to a temporary file beside `path`; commit() adds the
// index and renames it over `path` (a reader that has the old file open keeps reading the old one).
// Without commit() (an error, an exception) the temporary file is removed and `path` is untouched.
class HistoriesWriter {
 public:
  // Throws Error(kIo) naming the file when it cannot be created.
  explicit HistoriesWriter(const std::string& path);
  ~HistoriesWriter();
  HistoriesWriter(const HistoriesWriter&) = delete;
  HistoriesWriter& operator=(const HistoriesWriter&) = delete;

  void add(std::string_view customer_id, const EventRow& row);
  // Adds the events of a history document (a line of `score` input), in its order, timestamps as
  // written; returns its customer id. Throws Error(kBadInput) "<where>: ..." for a document that
  // parse_history refuses or that has no customer_id, adding nothing.
  std::string add_document(std::string_view text, const std::string& where);
  // Rows added so far.
  long long rows() const { return rows_; }
  void commit();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string path_;
  long long rows_ = 0;
};

// Looks up one customer's history. Safe to call from many threads at once (each lookup takes a
// read-only connection from a pool that grows to the number of concurrent lookups).
class HistoriesDb {
 public:
  // Opens `path` read-only. Throws Error(kIo) when the file cannot be opened, Error(kBadInput) when
  // it is not a histories database (no events table, a column missing).
  explicit HistoriesDb(const std::string& path);
  ~HistoriesDb();
  HistoriesDb(const HistoriesDb&) = delete;
  HistoriesDb& operator=(const HistoriesDb&) = delete;

  // The customer's history document, or nullopt when the table has no row for the customer.
  // Throws Error(kIo) when the database cannot be read.
  std::optional<std::string> history_document(std::string_view customer_id) const;
  // False when the events table has no index on customer_id (every lookup scans the table).
  bool indexed() const { return indexed_; }
  const std::string& path() const { return path_; }

 private:
  struct Pool;
  std::unique_ptr<Pool> pool_;
  std::string path_;
  bool indexed_ = false;
};

// Every customer of a histories database, in customer_id order (SQLite's BINARY collation), one
// history document each; reads the table once, holding one customer's rows at a time.
class HistoriesCursor {
 public:
  // Errors as HistoriesDb's.
  explicit HistoriesCursor(const std::string& path);
  ~HistoriesCursor();
  HistoriesCursor(const HistoriesCursor&) = delete;
  HistoriesCursor& operator=(const HistoriesCursor&) = delete;

  // The next customer's history document; false after the last one.
  bool next(std::string& document);
  // Customers returned so far (the 1-based number of the last one).
  long long count() const { return count_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  long long count_ = 0;
};

}  // namespace gptrec::cli
