// gptrec score: batch suggestions for many customers, one JSONL line in, one line out, in order.
//
// Records are read in chunks and scored in parallel across customers by the batch engine
// (src/batch/batch_scoring.hpp, shared with the Python module). Output lines are written whole, in
// input order; --resume continues a killed run from the complete lines already written.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

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
#include "gptrec/recommender.hpp"
#include "input.hpp"
#include "lines.hpp"

namespace gptrec::cli {

namespace {

struct ScoreOptions {
  std::string model_dir;
  std::string input;
  std::string output;
  std::string catalog;
  int top = 10;
  int threads = 0;
  std::string shard;
  bool resume = false;
  bool exclude_purchased = false;
  bool quiet = false;
};

// FNV-1a, 64-bit: a fixed hash, so every machine splits the shards the same way.
std::uint64_t stable_hash(std::string_view s) {
  std::uint64_t h = 1469598103934665603ull;
  for (const unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

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

// The next line; a line the reader refuses (longer than the limit) comes back empty with its
// error, so that it becomes that record's error and the run goes on. A read error that ends the
// input (a cut or corrupt gzip stream) is kept in `fatal` and ends the input: the records read
// before it are still scored and written, then the run fails with it.
bool next_line(LineReader& reader, std::string& line, std::optional<std::string>& error,
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

int run_score(const ScoreOptions& o) {
  const Shard shard = parse_shard(o.shard);
  if (o.top < 1)
    throw Error(ErrorCode::kInvalidArgument,
                "--top must be at least 1, got " + std::to_string(o.top));
  if (o.threads < 0)
    throw Error(ErrorCode::kInvalidArgument, "--threads must be 0 (all cores) or more");
  if (o.resume && o.output == "-")
    throw Error(ErrorCode::kInvalidArgument, "--resume needs an --output file");
  const std::string model_dir = o.model_dir.empty() ? default_model_dir() : o.model_dir;
  std::optional<Catalog> catalog;
  if (!o.catalog.empty())
    catalog = Catalog::parse(read_input(o.catalog, kMaxCatalogBytes), o.catalog);
  const Recommender rec = Recommender::load(model_dir, std::move(catalog));
  check_has_candidates(rec, o.catalog);
  RecommendOptions options;
  options.top_n = o.top;
  options.exclude_purchased = o.exclude_purchased;

  LineReader reader(o.input);
  const long long already = o.resume ? complete_lines(o.output) : 0;
  int fd = 1;
  if (o.output != "-") {
    fd = ::open(o.output.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | (o.resume ? O_APPEND : O_TRUNC),
                0644);
    if (fd < 0)
      throw Error(ErrorCode::kIo, o.output + ": cannot write (" + std::strerror(errno) + ")");
  }
  batch::BatchOptions batch_options;
  batch_options.recommend = options;
  batch_options.source = o.input == "-" ? "<stdin>" : o.input;
  batch_options.threads = o.threads;
  batch_options.lines = true;

  const auto start = std::chrono::steady_clock::now();
  ProgressBar bar("scoring", !o.quiet);
  long long in_shard = 0, scored = 0, errors = 0;
  std::string line;
  std::optional<std::string> read_error;
  std::optional<Error> fatal;
  const auto next_record = [&](batch::Record& r) {
    while (next_line(reader, line, read_error, fatal)) {
      // Blank lines are not records.
      if (!read_error && line.find_first_not_of(" \t") == std::string::npos) continue;
      if (shard.count > 1 &&
          stable_hash(shard_key(line, reader.line_number())) % shard.count != shard.index)
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
    bar.update(static_cast<std::size_t>(scored), static_cast<std::size_t>(scored));
  };
  batch::score_records(rec, batch_options, next_record, write_chunk);
  bar.finish();
  if (fd != 1) {
    // Devices and pipes (e.g. /dev/null) cannot be synced: EINVAL there is not a failure.
    if ((::fsync(fd) != 0 && errno != EINVAL && errno != EROFS) || ::close(fd) != 0)
      throw Error(ErrorCode::kIo, o.output + ": cannot flush (" + std::strerror(errno) + ")");
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
  sub->add_option("--input", o->input,
                  "Histories, one JSON per line (.jsonl, .jsonl.gz, or - for stdin)")
      ->required();
  sub->add_option("--output", o->output, "Result lines (a file, or - for stdout)")->required();
  sub->add_option("--catalog", o->catalog, "Catalog JSON (restricts or provides the candidates)");
  sub->add_option("--top", o->top, "Suggestions per customer")->capture_default_str();
  sub->add_option("--threads", o->threads, "Worker threads (0 = all cores)")->capture_default_str();
  sub->add_option("--shard", o->shard, "Score only shard i of n (i/n, by customer id hash)");
  sub->add_flag("--resume", o->resume,
                "Continue a killed run: keep the complete lines of --output");
  sub->add_flag("--exclude-purchased", o->exclude_purchased,
                "Only items the customer has not bought");
  sub->add_flag("--quiet", o->quiet, "No progress bar and no summary");
  return [o] { return run_score(*o); };
}

}  // namespace gptrec::cli
