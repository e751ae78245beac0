// What a request to `gptrec serve` asks for, read from its body and query string. Pure functions:
// no sockets, no model. Errors are Error(kBadInput) whose message names the field, parameter or
// JSON path at fault (the server answers them with 400).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "gptrec/history.hpp"
#include "gptrec/recommender.hpp"

namespace gptrec::cli {

struct SuggestRequest {
  RecommendOptions options;
  std::optional<History> history;  // the request sent the events
  std::string customer_id;         // otherwise: the customer to look up
};

// A /v1/suggest request. `body` is a history document as `gptrec suggest --history` reads it (an
// object with "events", or an array of events), or {"customer_id": ...} to look the customer up.
// Options (request_options.hpp) are top-level fields of an object body or query parameters
// (`query`, the raw query string without "?"); an option may not be given both ways. A lookup body
// has no other field; a history body's other fields are ignored, as the CLI ignores them.
SuggestRequest parse_suggest_request(std::string_view body, std::string_view query);

// The options of a /v1/score request, from its query string (the body is the records). Options of
// one customer's suggestions only (explain) are refused.
RecommendOptions parse_score_options(std::string_view query);

}  // namespace gptrec::cli
