// Customer histories and catalogs: parsing, validation (errors name the JSON path), and the
// grouping of purchases into baskets. Nothing here touches a model.
// Thread-safety: the functions are pure; a Catalog is immutable after construction and its const
// methods may be called from many threads at once.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "gptrec/tokenizer.hpp"  // CatalogItem

namespace gptrec {

enum class EventType { kPurchase, kView, kCart, kReturn, kRating };
std::string_view to_string(EventType t);

struct Event {
  std::string item;
  EventType type = EventType::kPurchase;
  // Seconds since 1970-01-01T00:00:00 of the written date-time, converted to UTC when the
  // timestamp has an offset; absent when the event has no timestamp.
  std::optional<std::int64_t> time;
  std::string date;  // "YYYY-MM-DD" as written ("" without a timestamp)
  double quantity = 1;
  std::string order;  // "" when absent
  std::optional<double> rating;
};

// A customer's events, sorted by time (stable: events at the same time keep their input order).
struct History {
  std::string customer_id;
  std::vector<Event> events;
  // What looks wrong but does not stop the parse, one line each naming the source and the first
  // event at fault (README "History format"): an unknown event field one or two edits from a
  // known one ("timestmap"), and quantities of 0 or less.
  std::vector<std::string> warnings;
  // The document's "need" (a string; null or absent: none): what the customer asks for, in a
  // record of `gptrec score` (RecommendOptions::need).
  std::optional<std::string> need;
};

// Parses a history document: {"customer_id": "...", "events": [...]} or a bare array of events.
// Each event: "item" (string or integer, required), "type" (purchase|view|cart|return|rating,
// default purchase), "timestamp" or "date" (ISO 8601 date or date-time), "quantity", "order"
// (string or integer), "rating". A top-level "need" (a string or null) is kept in History::need.
// Other fields are ignored. Either every event has a timestamp or
// none has (then input order is time order). At most `max_events` events are accepted: a longer
// history keeps its most recent ones. The document is read in one pass without a JSON tree, holding
// at most about 2 * max_events events. Errors: Error(kBadInput) "<source>: events[3].timestamp:
// not a date (...)"; also for JSON nested deeper than 64 levels or a key given twice in an object.
History parse_history(std::string_view json_text, std::string_view source,
                      std::size_t max_events = 1'000'000);

// Parses "YYYY-MM-DD", "YYYY-MM-DDTHH:MM[:SS[.frac]]" (or a space for T) with an optional "Z" or
// "+HH:MM" / "-HH:MM" offset. Returns seconds since the epoch and the written date, or nullopt
// (never throws).
std::optional<std::pair<std::int64_t, std::string>> parse_timestamp(std::string_view text);

// A basket: the distinct items of one order (or one calendar date when events have no order;
// one event when they have neither), in order of first appearance.
struct Basket {
  std::string key;
  std::optional<std::int64_t> time;  // time of its first event
  std::vector<std::string> items;
};

// The purchase events grouped into baskets, ordered by their first event (stable).
std::vector<Basket> purchase_baskets(const History& history);

// What a customer did with one item, counted in occasions: an occasion is an order (or a calendar
// date when events have no order; an event when they have neither), as baskets are.
struct ItemActivity {
  int times_bought = 0;     // purchase occasions (baskets) with the item
  int times_returned = 0;   // return occasions with the item (events of type "return")
  std::string last_bought;  // "YYYY-MM-DD" of the last purchase; "" without dates or purchases

  // The share of the item the customer kept, in [0, 1]: 1 - times_returned / times_bought,
  // clamped at 0 (and 0 for an item returned but never bought in the history). Suggestion scores
  // are multiplied by it (README, "Returns").
  double kept_share() const;
};

// Every item the history bought or returned, with its activity.
std::unordered_map<std::string, ItemActivity> item_activity(const History& history);

// A list of items that can be suggested. Parsed from [{...}, ...] or {"items": [...]}: "id" (or
// "item"), "name" (default: the id), "price", "category", "available" (default true), "product"
// (default true; false: not merchandise, never suggested), "count" (or "purchases"). Errors name
// the path: "catalog.json: [4].price: expected a number".
class Catalog {
 public:
  Catalog() = default;
  // Takes the items as they are (ids are expected unique; the first of duplicates is found).
  explicit Catalog(std::vector<CatalogItem> items);
  // Throws Error(kBadInput) naming `source` and the JSON path: invalid JSON, a wrong type, a
  // missing or duplicate id, a negative count.
  static Catalog parse(std::string_view json_text, std::string_view source);
  // The same from a file; an unreadable file is also Error(kBadInput), naming the path.
  static Catalog load(const std::filesystem::path& path);

  const std::vector<CatalogItem>& items() const { return items_; }
  // The item with this id, or nullptr.
  const CatalogItem* find(std::string_view id) const;
  bool empty() const { return items_.empty(); }

 private:
  std::vector<CatalogItem> items_;
  std::unordered_map<std::string, std::size_t> index_;
};

}  // namespace gptrec
