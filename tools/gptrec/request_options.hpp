// The options of a suggestion request, listed once. The `suggest` and `score` commands' flags
// (--top, --mode, ...), and the fields and query parameters of the server's requests ("top",
// "mode", ...) are all made from visit_request_options: a new option is its member in
// RecommendOptions and one line below.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <type_traits>

#include "gptrec/recommender.hpp"

namespace gptrec::cli {

template <class T>
inline constexpr bool is_optional_v = false;
template <class T>
inline constexpr bool is_optional_v<std::optional<T>> = true;

// Which requests an option applies to.
enum class OptionScope {
  kAll,          // one customer's suggestions and every record of a batch (`score`, /v1/score)
  kSuggestOnly,  // one customer's suggestions only
};

// Calls visit(name, member, help, scope) for each option of `o` (a RecommendOptions, const or
// not). `name` is the JSON field and query parameter; the command-line flag is "--" + name with
// '_' written '-'. Members are int, double, bool, std::string, SuggestMode (written as
// to_string(SuggestMode) writes it) or std::optional of one of them.
template <class Options, class Visitor>
void visit_request_options(Options& o, Visitor&& visit) {
  visit("top", o.top_n, "How many suggestions", OptionScope::kAll);
  visit("mode", o.mode,
        "mixed: the best re-buys and new items, half each; buy-again: only items bought before; "
        "discover: only new items; all: by score alone",
        OptionScope::kAll);
  visit("exclude_purchased", o.exclude_purchased,
        "Only items the customer has not bought (the same as mode discover)", OptionScope::kAll);
  visit("category", o.category, "Only items of this category", OptionScope::kAll);
  visit("need", o.need,
        "What the customer is looking for (\"lunch bag\"): only products whose name has every "
        "word of it (when none has, one of them), ranked for the customer",
        OptionScope::kAll);
  visit("min_price", o.min_price, "Only items with a catalog price of at least this",
        OptionScope::kAll);
  visit("max_price", o.max_price, "Only items with a catalog price of at most this",
        OptionScope::kAll);
  visit("explain", o.explain,
        "Name the past purchases that raised each suggestion most (occlusion)",
        OptionScope::kSuggestOnly);
}

// An option's value as JSON, as a request would give it: null for an unset optional, a mode as its
// name.
template <class T>
nlohmann::ordered_json request_option_json(const T& member) {
  if constexpr (is_optional_v<T>) {
    return member ? request_option_json(*member) : nlohmann::ordered_json();
  } else if constexpr (std::is_same_v<T, SuggestMode>) {
    return std::string(to_string(member));
  } else {
    return member;
  }
}

}  // namespace gptrec::cli
