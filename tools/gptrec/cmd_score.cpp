// gptrec score: batch suggestions for many customers, one JSONL line in, one line out, in order.
//
// Records are read in chunks and scored in parallel across customers by the batch engine
// (src/batch/batch_scoring.hpp, shared with the Python module). Output lines are written whole, in
// input order; --resume continues a killed run from the complete lines already written.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "batch_scoring.hpp"
#include "commands.hpp"
#include "format.hpp"
#include "gptrec/error.hpp"
#include "gptrec/model_directory.hpp"
#include "gptrec/need.hpp"
#include "gptrec/recommender.hpp"
#include "histories_db.hpp"
#include "input.hpp"
#include "lines.hpp"
#include "request_options.hpp"

namespace gptrec::cli {

namespace {

struct ScoreOptions {
  std::string model_dir;
  std::string input;
  std::string db;  // instead of input: a histories database (histories_db.hpp)
  std::string output;
  std::string catalog;
  int threads = 0;
  std::string shard;
  bool resume = false;
  bool quiet = false;
  RecommendOptions request;  // --top, --mode, ... (request_options.hpp)
};

struct Shard {
  std::uint64_t index = 0, count = 1;
};

Shard parse_shard(const std::string& text) {
  Shard s;
  if (text.empty()) return s;
  const auto slash = text.find('/');
  try {
    if (slash == std::string::npos) throw std::invalid_argument("no slash");
    std::size_t used = 0;
    const long long i = std::stoll(text.substr(0, slash), &used);
    if (used != slash) throw std::invalid_argument("index");
    const std::string n_text = text.substr(slash + 1);
    const long long n = std::stoll(n_text, &used);
    if (used != n_text.size() || n < 1 || i < 0 || i >= n) throw std::invalid_argument("range");
    s.index = static_cast<std::uint64_t>(i);
    s.count = static_cast<std::uint64_t>(n);
  } catch (const std::exception&) {
    throw Error(ErrorCode::kInvalidArgument,
                "--shard: expected i/n with 0 <= i < n, got \"" + text + "\"");
  }
  return s;
}

// The customer id a shard is chosen by: the record's customer_id, or for a line without one (or
// that is not JSON) its line number, so that exactly one shard reports it.
std::string shard_key(const std::string& line, long long line_number) {
  try {
    const auto j = nlohmann::json::parse(line);
    if (j.is_object()) {
      auto id = j.find("customer_id");
      if (id != j.end() && id->is_string()) return "id:" + id->get<std::string>();
      if (id != j.end() && id->is_number_integer())
        return "id:" + std::to_string(id->get<long long>());
    }
  } catch (const nlohmann::json::exception&) {
  }
  return "line:" + std::to_string(line_number);
}

// The records: the lines of a JSONL file (--input), or the customers of a histories database
// (--db) in customer_id order, each as its history document; line_number() is then the customer's
// position in that order.
class RecordSource {
 public:
  explicit RecordSource(const ScoreOptions& o) {
    if (o.db.empty())
      lines_.emplace(o.input);
    else
      customers_.emplace(o.db);
  }
  bool next(std::string& line) {
    if (lines_) return lines_->next(line);
    try {
      return customers_->next(line);
    } catch (const Error& e) {
      throw Error(ErrorCode::kIo, e.what());  // the table cannot be read on: the run ends
    }
  }
  long long line_number() const { return lines_ ? lines_->line_number() : customers_->count(); }
  // The input's size and the bytes read so far, when known (0 otherwise).
  std::uint64_t size() const { return lines_ ? lines_->size() : 0; }
  std::uint64_t bytes_read() const { return lines_ ? lines_->bytes_read() : 0; }

 private:
  std::optional<LineReader> lines_;
  std::optional<HistoriesCursor> customers_;
};

// The next line; a line the reader refuses (longer than the limit) comes back empty with its
// error, so that it becomes that record's error and the run goes on. A read error that ends the
// input (a cut or corrupt gzip stream) is kept in `fatal` and ends the input: the records read
// before it are still scored and written, then the run fails with it.
bool next_line(RecordSource& reader, std::string& line, std::optional<std::string>& error,
               std::optional<Error>& fatal) {
  error.reset();
  try {
    return reader.next(line);
  } catch (const Error& e) {
    if (e.code() != ErrorCode::kBadInput) {
      fatal = e;
      return false;
    }
    line.clear();
    error = e.what();
    return true;
  }
}

// Complete lines already in `path` (a resumed run's output); a partial last line is cut off. The
// file is scanned in chunks: an output of any size is resumed in constant memory.
long long complete_lines(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return 0;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(ErrorCode::kIo, path + ": cannot open (" + std::strerror(errno) + ")");
  long long lines = 0;
  std::uintmax_t size = 0, keep = 0;  // bytes read; bytes up to the last "\n"
  try {
    read_chunks(fd, path, [&](std::string_view chunk) {
      for (std::size_t at = chunk.find('\n'); at != std::string_view::npos;
           at = chunk.find('\n', at + 1)) {
        ++lines;
        keep = size + at + 1;
      }
      size += chunk.size();
    });
  } catch (...) {
    ::close(fd);
    throw;
  }
  ::close(fd);
  if (keep != size) {
    std::filesystem::resize_file(path, keep, ec);
    if (ec)
      throw Error(ErrorCode::kIo,
                  path + ": cannot cut its partial last line (" + ec.message() + ")");
  }
  return lines;
}

void write_all(int fd, const std::string& data, const std::string& path) {
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw Error(ErrorCode::kIo, path + ": write failed (" + std::strerror(errno) + ")");
    }
    done += static_cast<std::size_t>(n);
  }
}

// ---- --resume: the run an output belongs to ------------------------------------------------

// A file's identity: its size and an FNV-1a hash of its first and last MiB (cheap for a file of
// any size; a different file, or the same one changed, gets another). "" for standard input and
// anything else that is not a regular file (a pipe cannot be read twice).
std::string fingerprint(const std::string& path) {
  if (path == "-") return "";
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  struct stat st {};
  if (fd < 0 || ::fstat(fd, &st) != 0) {
    if (fd >= 0) ::close(fd);
    throw Error(ErrorCode::kIo, path + ": cannot open (" + std::strerror(errno) + ")");
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return "";
  }
  constexpr std::size_t kPart = std::size_t{1} << 20;
  const auto size = static_cast<std::uint64_t>(st.st_size);
  std::string bytes(static_cast<std::size_t>(std::min<std::uint64_t>(size, 2 * kPart)), '\0');
  std::size_t got = 0;
  while (got < bytes.size()) {
    // The first MiB, then the last (or the rest of a file under 2 MiB).
    const std::uint64_t at = got < kPart ? got : size - (bytes.size() - got);
    const ssize_t n = ::pread(fd, bytes.data() + got, bytes.size() - got, static_cast<off_t>(at));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  ::close(fd);
  bytes.resize(got);
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(fnv1a64(bytes)));
  return std::to_string(size) + ":" + hex;
}

// What --resume checks: the input, the model and catalog (by their files), and the options that
// change the output. Written beside the output as <output>.resume (README "Batch scoring").
nlohmann::ordered_json describe_run(const ScoreOptions& o, const std::string& model_dir) {
  nlohmann::ordered_json j;
  j["format"] = "gptrec-score-run";
  j["version"] = 1;
  const std::string& input = o.db.empty() ? o.input : o.db;
  j["input"] = {{"path", input}, {"fingerprint", fingerprint(input)}};
  j["model"] = {{"path", model_dir},
                {"fingerprint", fingerprint(ModelDirectory(model_dir).weights_file().string())}};
  j["catalog"] =
      o.catalog.empty()
          ? nlohmann::ordered_json()
          : nlohmann::ordered_json{{"path", o.catalog}, {"fingerprint", fingerprint(o.catalog)}};
  visit_request_options(o.request,
                        [&](const char* name, const auto& member, const char*, OptionScope scope) {
                          if (scope == OptionScope::kAll) j[name] = request_option_json(member);
                        });
  j["shard"] = o.shard;
  return j;
}

std::string run_file(const std::string& output) { return output + ".resume"; }

void write_run_file(const std::string& output, const nlohmann::ordered_json& run) {
  const std::string path = run_file(output), tmp = path + ".tmp";
  {
    std::FILE* f = std::fopen(tmp.c_str(), "wb");
    const std::string text = run.dump(2) + "\n";
    if (f == nullptr || std::fwrite(text.data(), 1, text.size(), f) != text.size() ||
        std::fclose(f) != 0)
      throw Error(ErrorCode::kIo, tmp + ": cannot write (" + std::strerror(errno) + ")");
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) throw Error(ErrorCode::kIo, path + ": cannot write (" + ec.message() + ")");
}

// Refuses to resume a run whose input, model, catalog or options differ from this one's.
void check_same_run(const std::string& output, const nlohmann::ordered_json& now) {
  const std::string path = run_file(output);
  const std::string again = "; rerun without --resume to start over";
  nlohmann::ordered_json then;
  try {
    then = nlohmann::ordered_json::parse(read_input(path, 1 << 20));
  } catch (const Error& e) {
    throw Error(ErrorCode::kInvalidArgument, "--resume: cannot check that " + output +
                                                 " was written by this run (" + e.what() + ")" +
                                                 again);
  } catch (const nlohmann::json::exception&) {
    throw Error(ErrorCode::kInvalidArgument, "--resume: " + path + " is not valid JSON" + again);
  }
  const auto shown = [](const nlohmann::ordered_json& v) {
    return v.is_null() ? std::string("none") : v.is_string() ? v.get<std::string>() : v.dump();
  };
  // A file's "fingerprint" or "path", or null when no file was given.
  const auto file_field = [](const nlohmann::ordered_json& run, const char* file, const char* key) {
    const auto it = run.find(file);
    return it != run.end() && it->is_object() ? it->value(key, nlohmann::ordered_json())
                                              : nlohmann::ordered_json();
  };
  const auto option = [](const nlohmann::ordered_json& run, const char* key) {
    return run.value(key, nlohmann::ordered_json());
  };
  std::vector<std::string> differences;
  for (const char* file : {"input", "model", "catalog"})
    if (file_field(then, file, "fingerprint") != file_field(now, file, "fingerprint"))
      differences.push_back(std::string("the ") + file + " differs (" +
                            shown(file_field(then, file, "path")) + " then, " +
                            shown(file_field(now, file, "path")) + " now)");
  std::vector<std::string> keys{"shard"};
  const RecommendOptions defaults;
  visit_request_options(defaults,
                        [&](const char* name, const auto&, const char*, OptionScope scope) {
                          if (scope == OptionScope::kAll) keys.push_back(name);
                        });
  for (const std::string& key : keys)
    if (option(then, key.c_str()) != option(now, key.c_str())) {
      std::string flag = "--" + key;
      std::replace(flag.begin(), flag.end(), '_', '-');
      differences.push_back(flag + " " + shown(option(then, key.c_str())) + " then, " +
                            shown(option(now, key.c_str())) + " now");
    }
  if (differences.empty()) return;
  std::string list;
  for (const auto& d : differences) list += (list.empty() ? "" : "; ") + d;
  throw Error(ErrorCode::kInvalidArgument, "--resume: " + output + " was written by another run (" +
                                               path + "): " + list + again);
}

// ---- Interruption ----------------------------------------------------------------------------

std::atomic<bool> g_stop{false};
std::atomic<int> g_stop_signal{0};

extern "C" void on_stop_signal(int sig) {
  g_stop_signal.store(sig);
  g_stop.store(true);
}

// SIGINT and SIGTERM stop the run after the records being scored (a second one kills it at once,
// SA_RESETHAND); the previous handlers come back when this goes out of scope. The flag is checked
// before each record is read and each block is scored: a read waiting on a pipe is not cut short.
class StopOnSignals {
 public:
  StopOnSignals() {
    g_stop.store(false);
    g_stop_signal.store(0);
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESETHAND | SA_RESTART;  // reads and writes go on; the flag is checked
    ::sigaction(SIGINT, &sa, &old_int_);
    ::sigaction(SIGTERM, &sa, &old_term_);
  }
  ~StopOnSignals() {
    ::sigaction(SIGINT, &old_int_, nullptr);
    ::sigaction(SIGTERM, &old_term_, nullptr);
  }
  StopOnSignals(const StopOnSignals&) = delete;
  StopOnSignals& operator=(const StopOnSignals&) = delete;

 private:
  struct sigaction old_int_ {};
  struct sigaction old_term_ {};
};

int run_score(const ScoreOptions& o) {
  const Shard shard = parse_shard(o.shard);
  if (o.request.top_n < 1)
    throw Error(ErrorCode::kInvalidArgument,
                "--top must be at least 1, got " + std::to_string(o.request.top_n));
  if (o.threads < 0)
    throw Error(ErrorCode::kInvalidArgument, "--threads must be 0 (all cores) or more");
  if (o.input.empty() == o.db.empty())
    throw Error(ErrorCode::kInvalidArgument, "give the histories as --input or as --db");
  if (o.resume && o.output == "-")
    throw Error(ErrorCode::kInvalidArgument, "--resume needs an --output file");
  const RecommendOptions& options = o.request;
  check_options(options);
  const std::string model_dir = o.model_dir.empty() ? default_model_dir() : o.model_dir;
  std::optional<Catalog> catalog;
  if (!o.catalog.empty())
    catalog = Catalog::parse(read_input(o.catalog, kMaxCatalogBytes), o.catalog);
  const Recommender rec = Recommender::load(model_dir, std::move(catalog));
  check_has_candidates(rec, o.catalog);

  RecordSource reader(o);
  // The run is described beside an output file only (not beside /dev/null, a pipe or stdout).
  std::error_code ec;
  const bool output_exists = o.output != "-" && std::filesystem::exists(o.output, ec);
  const bool output_is_file =
      o.output != "-" && (!output_exists || std::filesystem::is_regular_file(o.output, ec));
  const nlohmann::ordered_json run =
      output_is_file ? describe_run(o, model_dir) : nlohmann::ordered_json();
  const bool has_output =
      output_is_file && output_exists && std::filesystem::file_size(o.output, ec) > 0 && !ec;
  if (o.resume && has_output) check_same_run(o.output, run);
  const long long already = o.resume ? complete_lines(o.output) : 0;
  int fd = 1;
  if (o.output != "-") {
    fd = ::open(o.output.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | (o.resume ? O_APPEND : O_TRUNC),
                0644);
    if (fd < 0)
      throw Error(ErrorCode::kIo, o.output + ": cannot write (" + std::strerror(errno) + ")");
  }
  if (output_is_file && !(o.resume && has_output)) write_run_file(o.output, run);
  batch::BatchOptions batch_options;
  batch_options.recommend = options;
  batch_options.source = !o.db.empty() ? o.db : o.input == "-" ? "<stdin>" : o.input;
  batch_options.threads = o.threads;
  batch_options.lines = true;

  const auto start = std::chrono::steady_clock::now();
  ProgressBar bar("scoring", !o.quiet);
  long long in_shard = 0, scored = 0, errors = 0;
  // Progress: the records written, and the fraction of the input read when its size is known,
  // moved within a chunk as its records are scored.
  std::uint64_t chunk_start_bytes = 0;
  const auto show_progress = [&](std::size_t scored_in_chunk, std::size_t chunk_size) {
    double fraction = -1;
    if (reader.size() > 0) {
      const double chunk_bytes = static_cast<double>(reader.bytes_read() - chunk_start_bytes);
      fraction = (static_cast<double>(chunk_start_bytes) +
                  chunk_bytes * static_cast<double>(scored_in_chunk) /
                      static_cast<double>(std::max<std::size_t>(chunk_size, 1))) /
                 static_cast<double>(reader.size());
    }
    bar.update_fraction(static_cast<std::size_t>(scored) + scored_in_chunk, fraction);
  };
  batch_options.on_progress = show_progress;
  const StopOnSignals stop_on_signals;
  batch_options.stop = &g_stop;
  std::string line;
  std::optional<std::string> read_error;
  std::optional<Error> fatal;
  const auto next_record = [&](batch::Record& r) {
    while (next_line(reader, line, read_error, fatal)) {
      // Blank lines are not records.
      if (!read_error && line.find_first_not_of(" \t") == std::string::npos) continue;
      if (shard.count > 1 &&
          fnv1a64(shard_key(line, reader.line_number())) % shard.count != shard.index)
        continue;
      if (in_shard++ < already) continue;  // written by the run being resumed
      r.line_number = reader.line_number();
      r.text = line;
      r.error = read_error;
      return true;
    }
    return false;
  };
  // Each chunk's lines are written whole, in input order, once the chunk is scored.
  const auto write_chunk = [&](std::span<const batch::Record> chunk) {
    std::string out;
    for (const batch::Record& r : chunk) {
      out += r.line;
      out += '\n';
      errors += r.failed;
    }
    write_all(fd, out, o.output);
    scored += static_cast<long long>(chunk.size());
    chunk_start_bytes = reader.bytes_read();
    show_progress(0, 0);
  };
  const bool finished = batch::score_records(rec, batch_options, next_record, write_chunk);
  bar.finish();
  if (fd != 1) {
    // Devices and pipes (e.g. /dev/null) cannot be synced: EINVAL there is not a failure.
    if ((::fsync(fd) != 0 && errno != EINVAL && errno != EROFS) || ::close(fd) != 0)
      throw Error(ErrorCode::kIo, o.output + ": cannot flush (" + std::strerror(errno) + ")");
  }
  if (!finished) {
    const int sig = g_stop_signal.load();
    std::fprintf(
        stderr,
        "gptrec: interrupted by %s: %lld records written in order%s; --resume "
        "continues\n",
        sig == SIGTERM ? "SIGTERM" : "SIGINT", scored,
        already > 0 ? (" after the " + std::to_string(already) + " done before").c_str() : "");
    return 128 + (sig == SIGTERM ? SIGTERM : SIGINT);
  }
  if (fatal) throw *fatal;  // the input ended in a read error; what came before it is written
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!o.quiet || errors > 0)
    std::fprintf(
        stderr, "gptrec: scored %lld records (%lld errors%s) in %.2f s, %.0f records/s\n", scored,
        errors,
        already > 0 ? (", " + std::to_string(already) + " done before resuming").c_str() : "",
        seconds, seconds > 0 ? static_cast<double>(scored) / seconds : 0.0);
  return errors > 0 ? static_cast<int>(ErrorCode::kBadInput) : 0;
}

}  // namespace

Runner add_score(CLI::App& app) {
  auto o = std::make_shared<ScoreOptions>();
  CLI::App* sub = app.add_subcommand(
      "score", "Batch suggestions: one history per JSONL line in, one result line out");
  sub->add_option("--model", o->model_dir,
                  "Model directory (default: $GPTREC_MODEL, else the shipped model)");
  CLI::Option* input = sub->add_option(
      "--input", o->input, "Histories, one JSON per line (.jsonl, .jsonl.gz, or - for stdin)");
  sub->add_option("--db", o->db,
                  "Or: a SQLite histories database (gptrec import); every customer, in customer_id "
                  "order")
      ->excludes(input);
  sub->add_option("--output", o->output, "Result lines (a file, or - for stdout)")->required();
  sub->add_option("--catalog", o->catalog, "Catalog JSON (restricts or provides the candidates)");
  sub->add_option("--threads", o->threads, "Worker threads (0 = all cores)")->capture_default_str();
  sub->add_option("--shard", o->shard, "Score only shard i of n (i/n, by customer id hash)");
  sub->add_flag("--resume", o->resume,
                "Continue a killed run: keep the complete lines of --output");
  add_request_flags(sub, o->request, false);
  sub->add_flag("--quiet", o->quiet, "No progress bar and no summary");
  return [o] { return run_score(*o); };
}

}  // namespace gptrec::cli
