#include "histories_db.hpp"

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <vector>

#include "gptrec/error.hpp"
#include "gptrec/history.hpp"

namespace gptrec::cli {

namespace {

using json = nlohmann::ordered_json;

constexpr const char* kCreateTable =
    "CREATE TABLE events (\n"
    "  customer_id TEXT NOT NULL,\n"
    "  item        TEXT NOT NULL,\n"
    "  type        TEXT NOT NULL DEFAULT 'purchase',\n"
    "  timestamp   TEXT,\n"
    "  quantity    REAL NOT NULL DEFAULT 1,\n"
    "  order_id    TEXT,\n"
    "  rating      REAL)";
constexpr const char* kCreateIndex = "CREATE INDEX events_customer_id ON events (customer_id)";

// The columns a history is read from, in this order after customer_id; rating may be missing (read
// as NULL).
constexpr const char* kRequiredColumns[] = {"customer_id", "item",     "type",
                                            "timestamp",   "quantity", "order_id"};

[[noreturn]] void fail(sqlite3* db, const std::string& path, const std::string& what) {
  const int code = db != nullptr ? sqlite3_errcode(db) : SQLITE_ERROR;
  const std::string why = db != nullptr ? sqlite3_errmsg(db) : "out of memory";
  // A file that is not a database is bad input; anything else is the file system's.
  throw Error(
      code == SQLITE_NOTADB || code == SQLITE_CORRUPT ? ErrorCode::kBadInput : ErrorCode::kIo,
      path + ": " + what + " (" + why + ")");
}

struct Statement {
  sqlite3_stmt* stmt = nullptr;
  Statement() = default;
  Statement(sqlite3* db, const std::string& path, const std::string& sql) {
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK)
      fail(db, path, "cannot read the events table");
  }
  ~Statement() { sqlite3_finalize(stmt); }
  Statement(Statement&& o) noexcept : stmt(o.stmt) { o.stmt = nullptr; }
  Statement& operator=(Statement&& o) noexcept {
    std::swap(stmt, o.stmt);
    return *this;
  }
};

struct Connection {
  sqlite3* db = nullptr;
  std::string path;
  ~Connection() { sqlite3_close_v2(db); }
};

// Opens `path` read-only and checks that it holds an events table; returns whether it has a rating
// column and an index on customer_id.
std::unique_ptr<Connection> open_read_only(const std::string& path, bool* has_rating,
                                           bool* indexed) {
  auto c = std::make_unique<Connection>();
  c->path = path;
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    throw Error(ErrorCode::kIo,
                path + ": cannot open (" +
                    (std::filesystem::exists(path, ec) ? "not a regular file" : "no such file") +
                    ")");
  if (sqlite3_open_v2(path.c_str(), &c->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nullptr) !=
      SQLITE_OK)
    fail(c->db, path, "cannot open");
  sqlite3_busy_timeout(c->db, 5000);  // another process may be writing to it
  // A lookup reads a few index and table pages; the operating system caches the file for every
  // connection at once, so each connection's own page cache stays small (SQLite's default is 2 MB,
  // and a server holds one connection per concurrent lookup).
  sqlite3_exec(c->db, "PRAGMA cache_size = -256", nullptr, nullptr, nullptr);
  std::set<std::string> columns;
  {
    Statement info(c->db, path, "SELECT name FROM pragma_table_info('events')");
    int rc;
    while ((rc = sqlite3_step(info.stmt)) == SQLITE_ROW)
      columns.insert(reinterpret_cast<const char*>(sqlite3_column_text(info.stmt, 0)));
    if (rc != SQLITE_DONE) fail(c->db, path, "cannot read the schema");
  }
  if (columns.empty())
    throw Error(ErrorCode::kBadInput,
                path + ": no events table (not a histories database; gptrec import makes one)");
  for (const char* name : kRequiredColumns)
    if (columns.count(name) == 0)
      throw Error(ErrorCode::kBadInput, path + ": the events table has no column " + name);
  if (has_rating != nullptr) *has_rating = columns.count("rating") > 0;
  if (indexed != nullptr) {
    Statement index(c->db, path,
                    "SELECT 1 FROM pragma_index_list('events') AS l, pragma_index_info(l.name) "
                    "AS i WHERE i.seqno = 0 AND i.name = 'customer_id'");
    const int rc = sqlite3_step(index.stmt);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) fail(c->db, path, "cannot read the schema");
    *indexed = rc == SQLITE_ROW;
  }
  return c;
}

std::string event_columns(bool has_rating) {
  return std::string("item, type, timestamp, quantity, order_id, ") +
         (has_rating ? "rating" : "NULL");
}

// A column's value as JSON, by its storage class.
json column_value(sqlite3_stmt* stmt, int column) {
  switch (sqlite3_column_type(stmt, column)) {
    case SQLITE_INTEGER:
      return json(static_cast<std::int64_t>(sqlite3_column_int64(stmt, column)));
    case SQLITE_FLOAT:
      return json(sqlite3_column_double(stmt, column));
    case SQLITE_NULL:
      return json();
    default: {
      const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt, column));
      return json(std::string(text, static_cast<std::size_t>(sqlite3_column_bytes(stmt, column))));
    }
  }
}

// The event of the row `stmt` is on, its columns from `first` on in event_columns' order. NULL
// optional columns are left out (the history format's defaults); a NULL item stays, so that the
// parser names it.
json event_of_row(sqlite3_stmt* stmt, int first) {
  static const char* const kKeys[] = {"item", "type", "timestamp", "quantity", "order", "rating"};
  json event = json::object();
  for (int k = 0; k < 6; ++k) {
    json value = column_value(stmt, first + k);
    if (!value.is_null() || k == 0) event[kKeys[k]] = std::move(value);
  }
  return event;
}

std::string document_text(json customer_id, json events) {
  json doc = json::object();
  doc["customer_id"] = std::move(customer_id);
  doc["events"] = std::move(events);
  return doc.dump(-1, ' ', false, json::error_handler_t::replace);
}

void fsync_path(const std::string& path, bool directory) {
  const int fd = ::open(path.c_str(), (directory ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

}  // namespace

// ---- HistoriesWriter ----

struct HistoriesWriter::Impl {
  sqlite3* db = nullptr;
  std::string temp;
  Statement insert;
  bool committed = false;

  // Also when the writer's constructor throws: the connection (opened or not, SQLite allocates
  // it) is closed and the temporary file removed.
  ~Impl() {
    insert = Statement();
    sqlite3_close_v2(db);
    if (!committed) {
      std::error_code ec;
      std::filesystem::remove(temp, ec);
    }
  }
};

HistoriesWriter::HistoriesWriter(const std::string& path)
    : impl_(std::make_unique<Impl>()), path_(path) {
  Impl& s = *impl_;
  s.temp = path + ".tmp-" + std::to_string(::getpid());
  std::error_code ec;
  std::filesystem::remove(s.temp, ec);
  if (sqlite3_open_v2(s.temp.c_str(), &s.db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                      nullptr) != SQLITE_OK)
    fail(s.db, path, "cannot create");
  // A new file renamed into place at the end: no journal needed while it is built.
  for (const char* sql :
       {"PRAGMA journal_mode = OFF", "PRAGMA synchronous = OFF", kCreateTable, "BEGIN"})
    if (sqlite3_exec(s.db, sql, nullptr, nullptr, nullptr) != SQLITE_OK)
      fail(s.db, path, "cannot create");
  s.insert = Statement(s.db, path,
                       "INSERT INTO events (customer_id, item, type, timestamp, quantity, "
                       "order_id, rating) VALUES (?, ?, ?, ?, ?, ?, ?)");
}

HistoriesWriter::~HistoriesWriter() = default;

void HistoriesWriter::add(std::string_view customer_id, const EventRow& row) {
  sqlite3_stmt* st = impl_->insert.stmt;
  auto bind_text = [&](int i, std::string_view text) {
    sqlite3_bind_text(st, i, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
  };
  bind_text(1, customer_id);
  bind_text(2, row.item);
  bind_text(3, row.type);
  if (row.timestamp)
    bind_text(4, *row.timestamp);
  else
    sqlite3_bind_null(st, 4);
  sqlite3_bind_double(st, 5, row.quantity);
  if (row.order_id)
    bind_text(6, *row.order_id);
  else
    sqlite3_bind_null(st, 6);
  if (row.rating)
    sqlite3_bind_double(st, 7, *row.rating);
  else
    sqlite3_bind_null(st, 7);
  if (sqlite3_step(st) != SQLITE_DONE) fail(impl_->db, path_, "cannot write");
  sqlite3_reset(st);
  ++rows_;
}

namespace {

std::optional<std::string> id_text(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_integer()) return std::to_string(v.get<std::int64_t>());
  if (v.is_number_unsigned()) return std::to_string(v.get<std::uint64_t>());
  return std::nullopt;
}

}  // namespace

std::string HistoriesWriter::add_document(std::string_view text, const std::string& where) {
  parse_history(text, where);  // the checks of `score`, with their messages
  const auto doc = json::parse(text);
  std::optional<std::string> customer;
  if (doc.is_object() && doc.contains("customer_id")) customer = id_text(doc["customer_id"]);
  if (!customer || customer->empty())
    throw Error(ErrorCode::kBadInput,
                where + ": customer_id: missing (the database keeps histories by customer)");
  std::vector<EventRow> rows;
  for (const auto& e : doc.at("events")) {
    EventRow row;
    row.item = *id_text(e.at("item"));
    if (auto t = e.find("type"); t != e.end()) row.type = t->get<std::string>();
    auto ts = e.find("timestamp");  // parse_history reads "date" when there is no "timestamp"
    if (ts == e.end()) ts = e.find("date");
    if (ts != e.end()) row.timestamp = ts->get<std::string>();
    if (auto q = e.find("quantity"); q != e.end()) row.quantity = q->get<double>();
    if (auto o = e.find("order"); o != e.end()) row.order_id = id_text(*o);
    if (auto r = e.find("rating"); r != e.end()) row.rating = r->get<double>();
    rows.push_back(std::move(row));
  }
  for (const EventRow& row : rows) add(*customer, row);
  return *customer;
}

void HistoriesWriter::commit() {
  Impl& s = *impl_;
  s.insert = Statement();
  for (const char* sql : {kCreateIndex, "COMMIT"})
    if (sqlite3_exec(s.db, sql, nullptr, nullptr, nullptr) != SQLITE_OK)
      fail(s.db, path_, "cannot write");
  if (sqlite3_close_v2(s.db) != SQLITE_OK) fail(s.db, path_, "cannot write");
  s.db = nullptr;
  fsync_path(s.temp, false);
  std::error_code ec;
  std::filesystem::rename(s.temp, path_, ec);
  if (ec) throw Error(ErrorCode::kIo, path_ + ": cannot write (" + ec.message() + ")");
  s.committed = true;
  const auto dir = std::filesystem::absolute(path_, ec).parent_path();
  fsync_path(dir.string(), true);
}

// ---- HistoriesDb ----

struct HistoriesDb::Pool {
  std::mutex mutex;
  std::vector<std::unique_ptr<Connection>> idle;
  std::vector<std::unique_ptr<Statement>> idle_lookups;  // idle_lookups[i] belongs to idle[i]
  bool has_rating = false;
};

HistoriesDb::HistoriesDb(const std::string& path) : pool_(std::make_unique<Pool>()), path_(path) {
  auto first = open_read_only(path, &pool_->has_rating, &indexed_);
  auto lookup =
      std::make_unique<Statement>(first->db, path,
                                  "SELECT " + event_columns(pool_->has_rating) +
                                      " FROM events WHERE customer_id = ? ORDER BY rowid");
  pool_->idle.push_back(std::move(first));
  pool_->idle_lookups.push_back(std::move(lookup));
}

HistoriesDb::~HistoriesDb() {
  pool_->idle_lookups.clear();  // statements before their connections
}

std::optional<std::string> HistoriesDb::history_document(std::string_view customer_id) const {
  std::unique_ptr<Connection> c;
  std::unique_ptr<Statement> lookup;
  {
    std::lock_guard<std::mutex> lock(pool_->mutex);
    if (!pool_->idle.empty()) {
      c = std::move(pool_->idle.back());
      lookup = std::move(pool_->idle_lookups.back());
      pool_->idle.pop_back();
      pool_->idle_lookups.pop_back();
    }
  }
  if (!c) {
    c = open_read_only(path_, nullptr, nullptr);
    lookup = std::make_unique<Statement>(c->db, path_,
                                         "SELECT " + event_columns(pool_->has_rating) +
                                             " FROM events WHERE customer_id = ? ORDER BY rowid");
  }
  sqlite3_stmt* st = lookup->stmt;
  sqlite3_bind_text(st, 1, customer_id.data(), static_cast<int>(customer_id.size()), SQLITE_STATIC);
  json events = json::array();
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) events.push_back(event_of_row(st, 0));
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  if (rc != SQLITE_DONE) fail(c->db, path_, "cannot read the events table");
  {
    std::lock_guard<std::mutex> lock(pool_->mutex);
    pool_->idle.push_back(std::move(c));
    pool_->idle_lookups.push_back(std::move(lookup));
  }
  if (events.empty()) return std::nullopt;
  return document_text(json(std::string(customer_id)), std::move(events));
}

// ---- HistoriesCursor ----

struct HistoriesCursor::Impl {
  std::unique_ptr<Connection> connection;
  Statement rows;
  bool on_row = false;  // rows is on the first row of the next customer
  bool done = false;
};

HistoriesCursor::HistoriesCursor(const std::string& path) : impl_(std::make_unique<Impl>()) {
  bool has_rating = false;
  impl_->connection = open_read_only(path, &has_rating, nullptr);
  impl_->rows = Statement(impl_->connection->db, path,
                          "SELECT customer_id, " + event_columns(has_rating) +
                              " FROM events ORDER BY customer_id, rowid");
}

HistoriesCursor::~HistoriesCursor() { impl_->rows = Statement(); }

bool HistoriesCursor::next(std::string& document) {
  Impl& s = *impl_;
  sqlite3_stmt* st = s.rows.stmt;
  auto step = [&] {
    const int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
      fail(s.connection->db, s.connection->path, "cannot read the events table");
    s.on_row = rc == SQLITE_ROW;
    s.done = rc == SQLITE_DONE;
  };
  if (!s.on_row && !s.done) step();
  if (s.done) return false;
  const json customer = column_value(st, 0);
  json events = json::array();
  while (s.on_row && column_value(st, 0) == customer) {
    events.push_back(event_of_row(st, 1));
    step();
  }
  document = document_text(customer, std::move(events));
  ++count_;
  return true;
}

}  // namespace gptrec::cli
