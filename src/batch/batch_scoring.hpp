// The batch engine of `gptrec score` and of the Python module's score(): records are read a chunk
// at a time and scored in parallel across records (one OpenMP thread per record, the model's ops
// single-threaded inside: no oversubscription); results come back in input order. A bad record
// becomes an error record and the run goes on.
//
// Internal (not installed): the CLI and the Python module link it (target gptrec_batch).
#pragma once

#include <atomic>
#include <cstddef>
#include <exception>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>

#include "gptrec/recommender.hpp"

namespace gptrec::batch {

// A chunk holds at most this many records, or this many bytes of record text (the record that
// passes the limit included): memory stays bounded whatever the length of the input and of its
// records.
inline constexpr std::size_t kChunkRecords = 4096;
inline constexpr std::size_t kChunkBytes = std::size_t{64} << 20;

struct Record {
  long long line_number = 0;
  std::string text;                  // a history document (JSON text)
  std::optional<std::string> error;  // set by the reader: the record is this error, not scored
  nlohmann::ordered_json result;     // after scoring: the result or an error record
  std::string line;                  // ... and with BatchOptions::lines, its output line instead
  bool failed = false;               // the result is an error record
};

// What an exception other than a bad record (gptrec::Error) does, e.g. out of memory.
enum class OnUnexpected {
  kErrorRecord,  // it becomes that record's error record and the run goes on (`gptrec score`)
  kRethrow,      // the first is rethrown once the chunk's other records are scored (Python)
};

struct BatchOptions {
  RecommendOptions recommend;
  std::string source;  // names the input in error messages: "<source>:<line>: ..."
  int threads = 0;     // records scored at once; 0: OpenMP's default (all cores)
  OnUnexpected on_unexpected = OnUnexpected::kErrorRecord;
  // Render each result as its output line (score_line, result_json.hpp) while scoring in parallel,
  // into Record::line (Record::result is then left empty).
  bool lines = false;
  // Runs the parallel scoring of a chunk, given as a function (the Python module releases the GIL
  // around it). Unset: called directly.
  std::function<void(const std::function<void()>&)> run_scoring;
  // Set (e.g. by a signal handler) to stop early: no more records are read, and no block of
  // kBlockRecords records is started once it is seen; the chunk's records scored before the
  // first unscored one still go to `done`.
  const std::atomic<bool>* stop = nullptr;
  // Called on the calling thread after each record it scores (it scores too), with how many of
  // the chunk's records are scored so far and the chunk's size: progress within long chunks.
  std::function<void(std::size_t scored, std::size_t chunk_size)> on_progress;
};

// Records are handed to the threads in blocks of this many (a block is scored whole or not at
// all when `stop` is set).
inline constexpr std::size_t kBlockRecords = 16;

// Scores one record as score_records does: Record::result (or Record::line with options.lines)
// and Record::failed; a record with `error` set becomes that error record. Returns the exception
// that options.on_unexpected hands back, if any. Thread-safe (`gptrec serve` scores the records of
// a request one at a time with it).
std::exception_ptr score_one(const Recommender& rec, const BatchOptions& options, Record& r);

// Scores a stream of records. `next` fills the next record and returns true, or returns false at
// the end of the input; `done` receives each scored chunk, in input order. Both run on the calling
// thread, never during the scoring; an exception from either ends the run (the records of a chunk
// not yet handed to `done` are lost). Returns true when the input was scored to its end, false
// when options.stop ended the run (every record handed to `done` is complete, in order).
bool score_records(const Recommender& rec, const BatchOptions& options,
                   const std::function<bool(Record&)>& next,
                   const std::function<void(std::span<const Record>)>& done);

}  // namespace gptrec::batch
