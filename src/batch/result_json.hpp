// The JSON forms of recommendations that the CLI prints: the `gptrec suggest --format json`
// document and one `gptrec score` output line. The Python module builds the same objects from
// these functions, so that its results equal the CLI's byte for byte.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "gptrec/recommender.hpp"

namespace gptrec::batch {

// The `suggest --format json` document. `model_dir` is shown as given, "mode" is the options';
// `explain` adds "because".
nlohmann::ordered_json suggestions_json(const Recommendations& r, const std::string& model_dir,
                                        const Recommender& rec, const RecommendOptions& options,
                                        bool explain);
// The text `suggest --format json` prints (and the server's /v1/suggest answers): that document,
// with "because" when options.explain, indented by 2 spaces, ending in a newline.
std::string suggestions_document(const Recommendations& r, const std::string& model_dir,
                                 const Recommender& rec, const RecommendOptions& options);

struct ScoredRecord {
  nlohmann::ordered_json json;  // the result, or {"line", "customer_id", "error"}
  bool failed = false;          // json is an error record
};

// Scores one input record (a history document; its "need", when it has one, replaces
// options.need): the `score` result object, or an error record
// when the record is bad (a gptrec::Error: its message, prefixed "<source>:<line_number>:" by
// parse_history, becomes "error"). Errors other than gptrec::Error propagate. Thread-safe.
ScoredRecord score_record(const Recommender& rec, const RecommendOptions& options,
                          std::string_view text, long long line_number, std::string_view source);

// An error record for a record that never reached the parser (the Python module's records that
// are not JSON): same shape as score_record's.
nlohmann::ordered_json error_record(long long line_number, const std::string& customer_id,
                                    const std::string& message);

// The output line (without "\n"): compact, invalid UTF-8 replaced by U+FFFD.
std::string score_line(const nlohmann::ordered_json& record);

}  // namespace gptrec::batch
