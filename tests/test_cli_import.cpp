// gptrec import: histories from JSONL and from CSV order lines into the SQLite events table, read
// back by the database readers (histories_db.hpp) as the same histories.
#include <gtest/gtest.h>
#include <zlib.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "gptrec/error.hpp"
#include "gptrec/history.hpp"
#include "histories_db.hpp"
#include "test_util.hpp"

using gptrec::test::run_cli;
using json = nlohmann::json;

namespace {

std::filesystem::path sample() {
  return gptrec::test::source_dir() / "examples" / "online-retail-sample.jsonl";
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(line);
  return out;
}

// Every field of a parsed history, for comparing two.
std::string describe(const gptrec::History& h) {
  std::ostringstream s;
  s << h.customer_id << "\n";
  for (const gptrec::Event& e : h.events)
    s << e.item << " " << gptrec::to_string(e.type) << " " << (e.time ? *e.time : -1) << " "
      << e.date << " " << e.quantity << " " << e.order << " " << (e.rating ? *e.rating : -1)
      << "\n";
  return s.str();
}

std::vector<std::string> database_histories(const std::string& path) {
  gptrec::cli::HistoriesCursor cursor(path);
  std::vector<std::string> out;
  for (std::string doc; cursor.next(doc);)
    out.push_back(describe(gptrec::parse_history(doc, "db:" + std::to_string(cursor.count()))));
  return out;
}

}  // namespace

// Every customer reads back from the database as the same history, in customer_id order.
TEST(CliImport, JsonlReadsBackAsTheSameHistories) {
  gptrec::test::TempDir tmp;
  const auto db = tmp / "events.sqlite";
  const auto r = run_cli({"import", "--from", sample().string(), "--db", db.string()});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.err.find("imported 300 customers"), std::string::npos) << r.err;
  const auto lines = lines_of(gptrec::test::read_file(sample()));
  std::vector<std::pair<std::string, std::string>> expected;  // customer id, history
  for (const std::string& line : lines) {
    const auto h = gptrec::parse_history(line, "sample");
    expected.emplace_back(h.customer_id, describe(h));
  }
  std::sort(expected.begin(), expected.end());
  const auto got = database_histories(db.string());
  ASSERT_EQ(got.size(), expected.size());
  for (std::size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i], expected[i].second);
  // One lookup reads the same.
  gptrec::cli::HistoriesDb lookup(db.string());
  EXPECT_TRUE(lookup.indexed());
  const auto doc = lookup.history_document(expected[17].first);
  ASSERT_TRUE(doc);
  EXPECT_EQ(describe(gptrec::parse_history(*doc, "db")), expected[17].second);
  EXPECT_FALSE(lookup.history_document("no-such-customer"));
}

// Timestamps are kept as written (an offset changes the calendar date that makes a basket);
// "date" stands in for "timestamp"; integer ids and orders, ratings and every type survive.
TEST(CliImport, JsonlKeepsEveryFieldAsWritten) {
  gptrec::test::TempDir tmp;
  const std::string input =
      R"({"customer_id": 7, "events": [)"
      R"({"item": 1, "timestamp": "2011-01-01T23:30:00-05:00", "quantity": 2.5, "order": 9},)"
      R"({"item": "b", "type": "rating", "rating": 4, "timestamp": "2011-01-02"},)"
      R"({"item": "c", "type": "view", "timestamp": "2011-01-02T00:00:00Z"},)"
      R"({"item": "d", "type": "return", "timestamp": "2011-01-01T10:00:00+01:00"}]})"
      "\n"
      R"({"customer_id": "x", "events": [{"item": "a", "date": "2011-02-03"}]})"
      "\n"
      R"({"customer_id": "y", "events": [{"item": "a"}, {"item": "b", "order": "o1"}]})"
      "\n";
  gptrec::test::write_file(tmp / "in.jsonl", input);
  const auto db = tmp / "events.sqlite";
  const auto r =
      run_cli({"import", "--from", (tmp / "in.jsonl").string(), "--db", db.string(), "--quiet"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.err, "");
  std::vector<std::string> expected;
  for (const std::string& line : lines_of(input))
    expected.push_back(describe(gptrec::parse_history(line, "in")));
  EXPECT_EQ(database_histories(db.string()), expected);  // "7" < "x" < "y"
}

// Bad records are named and skipped, the good ones kept, exit 3; an input that cannot be read to
// its end leaves the previous database as it was.
TEST(CliImport, BadRecordsAreSkippedAndAFailedImportChangesNothing) {
  gptrec::test::TempDir tmp;
  const auto lines = lines_of(gptrec::test::read_file(sample()));
  std::string input = lines[0] + "\n{\"events\": [{\"item\": \"a\"}]}\n" + lines[1] +
                      "\n{not json\n" + lines[2] +
                      "\n{\"customer_id\": \"z\", \"events\": [{\"item\": \"a\", \"type\": "
                      "\"stolen\"}]}\n";
  gptrec::test::write_file(tmp / "in.jsonl", input);
  const auto db = tmp / "events.sqlite";
  auto r = run_cli({"import", "--from", (tmp / "in.jsonl").string(), "--db", db.string()});
  EXPECT_EQ(r.status, 3) << r.err;
  const std::string in = (tmp / "in.jsonl").string();
  EXPECT_NE(r.err.find(in + ":2: customer_id: missing"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(in + ":4: not valid JSON"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(in + ":6: events[0].type: unknown event type"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("imported 3 customers"), std::string::npos) << r.err;
  EXPECT_EQ(database_histories(db.string()).size(), 3u);

  // A gzip stream cut in the middle: exit 5, the database of the run above untouched.
  gzFile gz = gzopen((tmp / "cut.jsonl.gz").c_str(), "wb");
  gzwrite(gz, gptrec::test::read_file(sample()).data(),
          static_cast<unsigned>(gptrec::test::read_file(sample()).size()));
  gzclose(gz);
  const std::string whole = gptrec::test::read_file(tmp / "cut.jsonl.gz");
  gptrec::test::write_file(tmp / "cut.jsonl.gz", whole.substr(0, whole.size() / 2));
  r = run_cli({"import", "--from", (tmp / "cut.jsonl.gz").string(), "--db", db.string()});
  EXPECT_EQ(r.status, 5) << r.err;
  EXPECT_EQ(database_histories(db.string()).size(), 3u);
  for (const auto& entry : std::filesystem::directory_iterator(tmp.path()))
    EXPECT_EQ(entry.path().filename().string().find(".tmp-"), std::string::npos)
        << "left behind: " << entry.path();

  // Not a file it can read or write.
  r = run_cli({"import", "--from", (tmp / "missing.jsonl").string(), "--db", db.string()});
  EXPECT_EQ(r.status, 5);
  r = run_cli({"import", "--from", in, "--db", (tmp / "no" / "dir.sqlite").string()});
  EXPECT_EQ(r.status, 5);
  r = run_cli({"import", "--from", (tmp / "in.txt").string(), "--db", db.string()});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("--format"), std::string::npos);
}

// Order lines as a shop exports them: columns named by flags, quoted fields, cancellations as
// negative quantities, sales without a customer.
TEST(CliImport, CsvOrderLines) {
  gptrec::test::TempDir tmp;
  const std::string csv =
      "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\r\n"
      "536365,85123A,\"WHITE HANGING HEART, T-LIGHT \"\"HOLDER\"\"\",6,2010-12-01 08:26:00,2.55,"
      "17850,United Kingdom\r\n"
      "536365,71053,WHITE METAL LANTERN,6,2010-12-01 08:26:00,3.39,17850,United Kingdom\r\n"
      "536366,22633,\"HAND WARMER\nUNION JACK\",6,2010-12-01 08:28:00,1.85,,United Kingdom\r\n"
      "C536379,71053,WHITE METAL LANTERN,-1,2010-12-01 09:41:00,3.39,17850,United Kingdom\r\n"
      "536370,22728,ALARM CLOCK,24,2010-12-01 08:45:00,3.75,12583,France\r\n"
      "536371,22729,ALARM CLOCK,x,2010-12-01 08:45:00,3.75,12583,France\r\n"
      "536372,22730,ALARM CLOCK,2,not a date,3.75,12583,France\r\n";
  gptrec::test::write_file(tmp / "orders.csv", csv);
  const auto db = tmp / "events.sqlite";
  const auto r =
      run_cli({"import", "--from", (tmp / "orders.csv").string(), "--db", db.string(),
               "--customer-column", "CustomerID", "--item-column", "StockCode", "--quantity-column",
               "Quantity", "--timestamp-column", "InvoiceDate", "--order-column", "InvoiceNo"});
  EXPECT_EQ(r.status, 3) << r.err;  // two bad lines
  const std::string path = (tmp / "orders.csv").string();
  EXPECT_NE(r.err.find(path + ":8: column Quantity: not a number"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(path + ":9: column InvoiceDate: not a date"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("imported 4 order lines, 1 lines without a customer skipped"),
            std::string::npos)
      << r.err;
  const std::vector<std::string> expected = {
      describe(gptrec::parse_history(
          R"({"customer_id": "12583", "events": [{"item": "22728", "timestamp": "2010-12-01 08:45:00", "quantity": 24, "order": "536370"}]})",
          "expected")),
      describe(gptrec::parse_history(
          R"({"customer_id": "17850", "events": [)"
          R"({"item": "85123A", "timestamp": "2010-12-01 08:26:00", "quantity": 6, "order": "536365"},)"
          R"({"item": "71053", "timestamp": "2010-12-01 08:26:00", "quantity": 6, "order": "536365"},)"
          R"({"item": "71053", "type": "return", "timestamp": "2010-12-01 09:41:00", "quantity": 1, "order": "C536379"}]})",
          "expected"))};
  EXPECT_EQ(database_histories(db.string()), expected);

  // A column named on the command line must be in the header.
  const auto missing =
      run_cli({"import", "--from", path, "--db", db.string(), "--customer-column", "CustomerID",
               "--item-column", "StockCode", "--order-column", "Invoice"});
  EXPECT_EQ(missing.status, 3);
  EXPECT_NE(missing.err.find(path + ":1: no column \"Invoice\" in the header (--order-column)"),
            std::string::npos)
      << missing.err;
}

// The readers refuse what is not a histories database, naming the file.
TEST(CliImport, ReadersRefuseOtherFiles) {
  gptrec::test::TempDir tmp;
  gptrec::test::write_file(tmp / "text.sqlite", "this is not a database, just some text\n");
  try {
    gptrec::cli::HistoriesDb db((tmp / "text.sqlite").string());
    ADD_FAILURE() << "opened a text file";
  } catch (const gptrec::Error& e) {
    EXPECT_EQ(e.code(), gptrec::ErrorCode::kBadInput);
    EXPECT_NE(std::string(e.what()).find("text.sqlite"), std::string::npos) << e.what();
  }
  try {
    gptrec::cli::HistoriesCursor db((tmp / "none.sqlite").string());
    ADD_FAILURE() << "opened a missing file";
  } catch (const gptrec::Error& e) {
    EXPECT_EQ(e.code(), gptrec::ErrorCode::kIo);
  }
}

// JSONL -> SQLite -> `score --db` gives the output of `score --input` on the JSONL (the sample is
// in customer_id order, the order --db reads customers in), with shards and --resume too.
TEST(CliImport, ScoreDbEqualsScoreInput) {
  gptrec::test::TempDir tmp;
  const auto db = tmp / "events.sqlite";
  ASSERT_EQ(run_cli({"import", "--from", sample().string(), "--db", db.string(), "--quiet"}).status,
            0);
  const std::string model = gptrec::test::model_dir("tiny-items").string();
  auto score = [&](const std::vector<std::string>& source, const std::string& out,
                   const std::vector<std::string>& more = {}) {
    std::vector<std::string> args = {"score", "--model", model,       "--output", out,
                                     "--top", "5",       "--threads", "2",        "--quiet"};
    args.insert(args.end(), source.begin(), source.end());
    args.insert(args.end(), more.begin(), more.end());
    const auto r = run_cli(args);
    EXPECT_EQ(r.status, 0) << r.err;
    return gptrec::test::read_file(out);
  };
  const std::string from_input = score({"--input", sample().string()}, (tmp / "a.jsonl").string());
  ASSERT_EQ(lines_of(from_input).size(), 300u);
  EXPECT_EQ(score({"--db", db.string()}, (tmp / "b.jsonl").string()), from_input);
  EXPECT_EQ(score({"--db", db.string()}, (tmp / "s.jsonl").string(), {"--shard", "1/3"}),
            score({"--input", sample().string()}, (tmp / "t.jsonl").string(), {"--shard", "1/3"}));
  // A run cut after 120 records and a partial line, resumed.
  const auto cut = tmp / "b.jsonl";
  std::size_t at = 0;
  for (int i = 0; i < 120; ++i) at = from_input.find('\n', at) + 1;
  std::filesystem::resize_file(cut, at + 10);
  EXPECT_EQ(score({"--db", db.string()}, cut.string(), {"--resume"}), from_input);

  const auto both = run_cli({"score", "--model", model, "--output", "-", "--input",
                             sample().string(), "--db", db.string()});
  EXPECT_EQ(both.status, 2);
  const auto neither = run_cli({"score", "--model", model, "--output", "-"});
  EXPECT_EQ(neither.status, 2);
  EXPECT_NE(neither.err.find("--input or as --db"), std::string::npos) << neither.err;
}
