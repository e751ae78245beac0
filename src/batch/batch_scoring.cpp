#include "batch_scoring.hpp"

#include <algorithm>
#include <exception>
#include <new>
#include <vector>

#include "gptrec/model.hpp"
#include "result_json.hpp"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace gptrec::batch {

namespace {

// The error record that replaces a record whose scoring failed unexpectedly (kErrorRecord).
nlohmann::ordered_json unexpected_error(long long line_number) {
  try {
    throw;
  } catch (const std::bad_alloc&) {
    return error_record(line_number, "", "out of memory scoring this record");
  } catch (const std::exception& e) {
    return error_record(line_number, "", std::string("internal error: ") + e.what());
  } catch (...) {
    return error_record(line_number, "", "internal error");
  }
}

bool stop_requested(const BatchOptions& options) {
  return options.stop != nullptr && options.stop->load(std::memory_order_relaxed);
}

// Scores the chunk in parallel, a block of records at a time; returns how many of its first
// records are scored (all of them unless options.stop was set).
std::size_t score_chunk(const Recommender& rec, const BatchOptions& options,
                        std::vector<Record>& chunk) {
#ifdef _OPENMP
  const int team = options.threads > 0 ? options.threads : omp_get_max_threads();
#else
  [[maybe_unused]] const int team = 1;  // read only by the OpenMP pragma below
#endif
  const std::size_t blocks = (chunk.size() + kBlockRecords - 1) / kBlockRecords;
  std::vector<char> block_scored(blocks, 0);
  std::atomic<std::size_t> scored{0};
  std::exception_ptr failure;
#pragma omp parallel num_threads(team) if (team > 1 && chunk.size() > 1)
  {
    set_op_threads(1);  // parallel across records, single-threaded ops inside
#ifdef _OPENMP
    const bool reports = omp_get_thread_num() == 0 && options.on_progress;
#else
    const bool reports = static_cast<bool>(options.on_progress);
#endif
#pragma omp for schedule(dynamic, 1)
    for (std::size_t b = 0; b < blocks; ++b) {
      if (stop_requested(options)) continue;
      const std::size_t end = std::min(chunk.size(), (b + 1) * kBlockRecords);
      for (std::size_t i = b * kBlockRecords; i < end; ++i) {
        if (std::exception_ptr e = score_one(rec, options, chunk[i])) {
#pragma omp critical(gptrec_batch_failure)
          if (!failure) failure = e;
        }
        const std::size_t now = ++scored;
        if (reports) options.on_progress(now, chunk.size());
      }
      block_scored[b] = 1;
    }
  }
  if (failure) std::rethrow_exception(failure);
  std::size_t b = 0;
  while (b < blocks && block_scored[b]) ++b;
  return std::min(chunk.size(), b * kBlockRecords);
}

}  // namespace

// An exception other than a bad record becomes an error record here (kErrorRecord) or is handed
// back (kRethrow): none may leave the parallel region.
std::exception_ptr score_one(const Recommender& rec, const BatchOptions& options, Record& r) {
  try {
    try {
      ScoredRecord scored =
          r.error ? ScoredRecord{error_record(r.line_number, "", *r.error), true}
                  : score_record(rec, options.recommend, r.text, r.line_number, options.source);
      r.result = std::move(scored.json);
      r.failed = scored.failed;
    } catch (...) {
      if (options.on_unexpected == OnUnexpected::kRethrow) return std::current_exception();
      r.result = unexpected_error(r.line_number);
      r.failed = true;
    }
    if (options.lines) {
      r.line = score_line(r.result);
      r.result = nullptr;
    }
  } catch (...) {  // out of memory building the error record or the line
    return std::current_exception();
  }
  return nullptr;
}

bool score_records(const Recommender& rec, const BatchOptions& options,
                   const std::function<bool(Record&)>& next,
                   const std::function<void(std::span<const Record>)>& done) {
  std::vector<Record> chunk;
  bool more = true;
  while (more) {
    chunk.clear();
    std::size_t bytes = 0;
    while (chunk.size() < kChunkRecords && bytes < kChunkBytes) {
      if (stop_requested(options)) return false;
      Record r;
      if (!(more = next(r))) break;
      bytes += r.text.size();
      chunk.push_back(std::move(r));
    }
    if (chunk.empty()) break;
    std::size_t scored = 0;
    const auto score = [&] { scored = score_chunk(rec, options, chunk); };
    if (options.run_scoring)
      options.run_scoring(score);
    else
      score();
    done(std::span<const Record>(chunk).first(scored));
    if (scored < chunk.size()) return false;
  }
  return true;
}

}  // namespace gptrec::batch
