#include "gptrec/history.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string_view>
#include <unordered_set>

#include "gptrec/error.hpp"
#include "io.hpp"
#include "json_document.hpp"

namespace gptrec {

using json = nlohmann::json;

std::string_view to_string(EventType t) {
  switch (t) {
    case EventType::kPurchase:
      return "purchase";
    case EventType::kView:
      return "view";
    case EventType::kCart:
      return "cart";
    case EventType::kReturn:
      return "return";
    case EventType::kRating:
      return "rating";
  }
  return "?";
}

namespace {

[[noreturn]] void fail(std::string_view source, const std::string& path, const std::string& what) {
  throw Error(ErrorCode::kBadInput, std::string(source) + ": " + path + ": " + what);
}

std::string type_name(const json& v) {
  if (v.is_null()) return "null";
  if (v.is_boolean()) return "a boolean";
  if (v.is_number()) return "a number";
  if (v.is_string()) return "a string";
  if (v.is_array()) return "an array";
  return "an object";
}

// A string, or an integer written as a string (ids are often numbers in exported data).
std::optional<std::string> id_text(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_integer()) return std::to_string(v.get<std::int64_t>());
  if (v.is_number_unsigned()) return std::to_string(v.get<std::uint64_t>());
  return std::nullopt;
}

// Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar (Howard Hinnant's formula).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

bool read_digits(std::string_view s, std::size_t pos, std::size_t n, int& out) {
  if (pos + n > s.size()) return false;
  out = 0;
  for (std::size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    out = out * 10 + (s[i] - '0');
  }
  return true;
}

}  // namespace

std::optional<std::pair<std::int64_t, std::string>> parse_timestamp(std::string_view s) {
  int year, month, day;
  if (!read_digits(s, 0, 4, year) || s.size() < 10 || s[4] != '-' || !read_digits(s, 5, 2, month) ||
      s[7] != '-' || !read_digits(s, 8, 2, day))
    return std::nullopt;
  static constexpr int kDays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  if (month < 1 || month > 12 || day < 1 || day > kDays[month - 1] ||
      (month == 2 && day == 29 && !leap))
    return std::nullopt;
  std::int64_t seconds =
      days_from_civil(year, static_cast<unsigned>(month), static_cast<unsigned>(day)) * 86400;
  std::size_t pos = 10;
  if (pos < s.size()) {
    if (s[pos] != 'T' && s[pos] != 't' && s[pos] != ' ') return std::nullopt;
    int hour, minute, second = 0;
    if (!read_digits(s, pos + 1, 2, hour) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
        !read_digits(s, pos + 4, 2, minute))
      return std::nullopt;
    pos += 6;
    if (pos < s.size() && s[pos] == ':') {
      if (!read_digits(s, pos + 1, 2, second)) return std::nullopt;
      pos += 3;
      if (pos < s.size() && (s[pos] == '.' || s[pos] == ',')) {
        ++pos;
        const std::size_t start = pos;
        while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') ++pos;
        if (pos == start) return std::nullopt;
      }
    }
    if (hour > 23 || minute > 59 || second > 60) return std::nullopt;
    seconds += hour * 3600 + minute * 60 + second;
    if (pos < s.size()) {
      if ((s[pos] == 'Z' || s[pos] == 'z') && pos + 1 == s.size()) {
        ++pos;
      } else if (s[pos] == '+' || s[pos] == '-') {
        int oh, om;
        if (!read_digits(s, pos + 1, 2, oh) || pos + 6 != s.size() || s[pos + 3] != ':' ||
            !read_digits(s, pos + 4, 2, om) || oh > 23 || om > 59)
          return std::nullopt;
        const int offset = (oh * 3600 + om * 60) * (s[pos] == '+' ? 1 : -1);
        seconds -= offset;
        pos = s.size();
      } else {
        return std::nullopt;
      }
    }
  }
  if (pos != s.size()) return std::nullopt;
  return std::make_pair(seconds, std::string(s.substr(0, 10)));
}

namespace {

// What a field of the document held, as much as validation needs (containers are skipped).
struct FieldValue {
  enum class Kind {
    kAbsent,
    kNull,
    kBoolean,
    kInteger,
    kUnsigned,
    kFloat,
    kString,
    kArray,
    kObject
  };
  Kind kind = Kind::kAbsent;
  std::int64_t integer = 0;
  std::uint64_t unsigned_integer = 0;
  double number = 0;  // any number, as a double
  std::string text;

  bool present() const { return kind != Kind::kAbsent && kind != Kind::kNull; }
  bool is_number() const {
    return kind == Kind::kInteger || kind == Kind::kUnsigned || kind == Kind::kFloat;
  }
  std::string type_name() const {
    switch (kind) {
      case Kind::kAbsent:
      case Kind::kNull:
        return "null";
      case Kind::kBoolean:
        return "a boolean";
      case Kind::kInteger:
      case Kind::kUnsigned:
      case Kind::kFloat:
        return "a number";
      case Kind::kString:
        return "a string";
      case Kind::kArray:
        return "an array";
      case Kind::kObject:
        return "an object";
    }
    return "?";
  }
  // A string, or an integer written as a string (ids are often numbers in exported data).
  std::optional<std::string> id_text() const {
    if (kind == Kind::kString) return text;
    if (kind == Kind::kInteger) return std::to_string(integer);
    if (kind == Kind::kUnsigned) return std::to_string(unsigned_integer);
    return std::nullopt;
  }
};

// Values quoted in messages are cut: an error line names the problem, it does not echo the input.
std::string quoted_value(std::string_view s) {
  return s.size() <= 80 ? std::string(s) : std::string(s.substr(0, 80)) + "...";
}

// A history read in one SAX pass, without building the document: memory stays near the size of
// the events kept (a DOM costs about ten times the text), and at most about 2 * max_events events
// are held at any time. Validation errors are remembered and thrown after the whole document has
// parsed, in the order a reader of the document would meet them, so a syntax error anywhere wins.
class HistoryReader {
 public:
  using json = nlohmann::json;

  HistoryReader(std::string_view source, std::size_t max_events)
      : source_(source), structure_(source, ErrorCode::kBadInput), max_events_(max_events) {}

  bool null() { return scalar(FieldValue{}, FieldValue::Kind::kNull); }
  bool boolean(bool) { return scalar(FieldValue{}, FieldValue::Kind::kBoolean); }
  bool number_integer(json::number_integer_t v) {
    FieldValue f;
    f.integer = v;
    f.number = static_cast<double>(v);
    return scalar(std::move(f), FieldValue::Kind::kInteger);
  }
  bool number_unsigned(json::number_unsigned_t v) {
    FieldValue f;
    f.unsigned_integer = v;
    f.number = static_cast<double>(v);
    return scalar(std::move(f), FieldValue::Kind::kUnsigned);
  }
  bool number_float(json::number_float_t v, const json::string_t&) {
    FieldValue f;
    f.number = v;
    return scalar(std::move(f), FieldValue::Kind::kFloat);
  }
  bool string(json::string_t& v) {
    FieldValue f;
    f.text = std::move(v);  // the lexer clears its buffer before the next token
    return scalar(std::move(f), FieldValue::Kind::kString);
  }
  bool binary(json::binary_t&) {
    return scalar(FieldValue{}, FieldValue::Kind::kNull);
  }  // not in JSON text
  bool start_object(std::size_t) { return open(false); }
  bool start_array(std::size_t) { return open(true); }
  bool key(json::string_t& k) {
    structure_.key(k);
    if (!roles_.empty() && roles_.back() == Role::kEvent && !is_event_field(k))
      note_unknown_field(k);
    return true;
  }
  bool end_object() { return close(); }
  bool end_array() { return close(); }
  bool parse_error(std::size_t, const std::string&, const json::exception& e) {
    structure_.fail_syntax(e);
  }

  History finish();

 private:
  // What an open container is to the history.
  enum class Role { kRootObject, kEvents, kEvent, kIgnored };
  // What the value about to be read is.
  enum class Slot { kRoot, kCustomerId, kNeed, kEvents, kEvent, kEventField, kIgnored };

  Slot slot_of_next_value() const {
    if (roles_.empty()) return Slot::kRoot;
    switch (roles_.back()) {
      case Role::kRootObject: {
        const std::string& key = structure_.current_key();
        return key == "customer_id" ? Slot::kCustomerId
               : key == "need"      ? Slot::kNeed
               : key == "events"    ? Slot::kEvents
                                    : Slot::kIgnored;
      }
      case Role::kEvents:
        return Slot::kEvent;
      case Role::kEvent:
        return is_event_field(structure_.current_key()) ? Slot::kEventField : Slot::kIgnored;
      case Role::kIgnored:
        return Slot::kIgnored;
    }
    return Slot::kIgnored;
  }

  static bool is_event_field(const std::string& key) {
    return key == "item" || key == "type" || key == "timestamp" || key == "date" ||
           key == "quantity" || key == "order" || key == "rating";
  }
  // The event field a key names, or nullptr for the fields that are ignored.
  FieldValue* field_of(const std::string& key) {
    if (key == "item") return &item_;
    if (key == "type") return &type_;
    if (key == "timestamp") return &timestamp_;
    if (key == "date") return &date_;
    if (key == "quantity") return &quantity_;
    if (key == "order") return &order_;
    if (key == "rating") return &rating_;
    return nullptr;
  }

  // Remembers the first problem of a kind; later ones are not reported.
  static void remember(std::optional<std::string>& slot, std::string message) {
    if (!slot) slot = std::move(message);
  }
  void event_error(const std::string& field, const std::string& what) {
    remember(event_error_, std::string(source_) + ": " + event_path() + field + ": " + what);
  }
  std::string event_path() const {
    return events_prefix_ + "[" + std::to_string(event_index_) + "]";
  }

  bool scalar(FieldValue value, FieldValue::Kind kind) {
    structure_.child();
    value.kind = kind;
    take(slot_of_next_value(), std::move(value));
    return true;
  }
  bool open(bool is_array) {
    structure_.child();
    FieldValue value;
    value.kind = is_array ? FieldValue::Kind::kArray : FieldValue::Kind::kObject;
    const Slot slot = slot_of_next_value();
    Role role = Role::kIgnored;
    if (slot == Slot::kRoot && !is_array) {
      role = Role::kRootObject;
      root_is_object_ = true;
      events_prefix_ = "events";
    } else if ((slot == Slot::kRoot || slot == Slot::kEvents) && is_array) {
      role = Role::kEvents;
      events_found_ = true;
    } else if (slot == Slot::kEvent && !is_array) {
      role = Role::kEvent;
      for (FieldValue* f : {&item_, &type_, &timestamp_, &date_, &quantity_, &order_, &rating_})
        *f = FieldValue{};
    } else {
      take(slot, std::move(value));
    }
    structure_.open(is_array);
    roles_.push_back(role);
    return true;
  }
  bool close() {
    const Role role = roles_.back();
    roles_.pop_back();
    structure_.close();
    if (role == Role::kEvent) {
      if (!event_error_) finish_event();
      ++event_index_;
    }
    return true;
  }

  // A value that is not a container the reader descends into.
  void take(Slot slot, FieldValue value) {
    switch (slot) {
      case Slot::kRoot:
        remember(document_error_, std::string(source_) +
                                      ": expected a history object or an array of events, got " +
                                      value.type_name());
        break;
      case Slot::kCustomerId:
        customer_id_ = std::move(value);
        break;
      case Slot::kNeed:
        need_ = std::move(value);
        break;
      case Slot::kEvents:
        events_found_ = true;
        remember(document_error_,
                 std::string(source_) + ": events: expected an array, got " + value.type_name());
        break;
      case Slot::kEvent:
        event_error("", "expected an object, got " + value.type_name());
        ++event_index_;
        break;
      case Slot::kEventField:
        *field_of(structure_.current_key()) = std::move(value);
        break;
      case Slot::kIgnored:
        break;
    }
  }

  void finish_event();
  void keep_most_recent(std::size_t n);

  // An event field that is not one of the known ones but looks like one (a misspelling): noted
  // for a warning, with the first event that has it and how many do.
  struct Lookalike {
    std::string key, known, first_path;
    std::size_t events = 0;
  };
  void note_unknown_field(const std::string& key) {
    for (Lookalike& l : lookalikes_)
      if (l.key == key) {
        ++l.events;
        return;
      }
    // Every event repeats its fields: each unknown key is compared with the known names once.
    if (std::find(unrelated_keys_.begin(), unrelated_keys_.end(), key) != unrelated_keys_.end())
      return;
    if (const char* known = lookalike_of(key))
      lookalikes_.push_back({key, known, event_path() + "." + key, 1});
    else
      unrelated_keys_.push_back(key);
  }
  // The known event field `key` is most likely a misspelling of, or nullptr.
  static const char* lookalike_of(const std::string& key);

  std::string_view source_;
  JsonStructure structure_;
  std::size_t max_events_;
  std::vector<Role> roles_;  // one per open container
  bool root_is_object_ = false;
  bool events_found_ = false;
  std::string events_prefix_;  // "events", or "" when the document is a bare array
  std::size_t event_index_ = 0;
  FieldValue customer_id_, need_;
  FieldValue item_, type_, timestamp_, date_, quantity_, order_, rating_;  // of the current event
  std::optional<bool> timed_;
  std::optional<std::string> document_error_, event_error_;
  std::vector<Event> events_;
  std::vector<Lookalike> lookalikes_;
  std::vector<std::string> unrelated_keys_;  // unknown event fields that resemble no known one
  std::size_t non_positive_quantities_ = 0;
  std::string first_non_positive_;  // "events[3].quantity: 0"
};

namespace {

// Edits (insertions, deletions, substitutions, swaps of neighbours) between two short strings.
std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
  for (std::size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i)
    for (std::size_t j = 1; j <= b.size(); ++j) {
      d[i][j] = std::min(
          {d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  return d[a.size()][b.size()];
}

}  // namespace

const char* HistoryReader::lookalike_of(const std::string& key) {
  if (key.size() > 32) return nullptr;
  std::string lower = key;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  // Case aside, one edit from a name of up to 5 letters, two from a longer one.
  for (const char* known : {"item", "type", "timestamp", "date", "quantity", "order", "rating"}) {
    const std::string_view k(known);
    const std::size_t allowed = k.size() <= 5 ? 1 : 2;
    if (lower == k || edit_distance(lower, k) <= allowed) return known;
  }
  return nullptr;
}

void HistoryReader::finish_event() {
  Event event;
  if (item_.kind == FieldValue::Kind::kAbsent) return event_error(".item", "missing");
  auto item_text = item_.id_text();
  if (!item_text || item_text->empty())
    return event_error(".item", "expected a non-empty string, got " + item_.type_name());
  event.item = std::move(*item_text);

  if (type_.present()) {
    if (type_.kind != FieldValue::Kind::kString)
      return event_error(".type", "expected a string, got " + type_.type_name());
    const std::string& name = type_.text;
    if (name == "purchase")
      event.type = EventType::kPurchase;
    else if (name == "view")
      event.type = EventType::kView;
    else if (name == "cart")
      event.type = EventType::kCart;
    else if (name == "return")
      event.type = EventType::kReturn;
    else if (name == "rating")
      event.type = EventType::kRating;
    else
      return event_error(".type", "unknown event type \"" + quoted_value(name) +
                                      "\" (expected purchase, view, cart, return or rating)");
  }

  const bool use_date = !timestamp_.present();
  const FieldValue& ts = use_date ? date_ : timestamp_;
  const std::string ts_key = use_date ? ".date" : ".timestamp";
  const bool has_time = ts.present();
  if (has_time) {
    if (ts.kind != FieldValue::Kind::kString)
      return event_error(ts_key, "not a date (got " + ts.type_name() + ")");
    auto parsed = parse_timestamp(ts.text);
    if (!parsed)
      return event_error(ts_key,
                         "not a date (\"" + quoted_value(ts.text) +
                             "\"; expected ISO 8601 like 2011-01-18 or 2011-01-18T10:01:00)");
    event.time = parsed->first;
    event.date = std::move(parsed->second);
  }
  if (timed_ && *timed_ != has_time)
    return event_error(".timestamp", has_time ? "present, but earlier events have none"
                                              : "missing, but earlier events have one");
  timed_ = has_time;

  if (quantity_.present()) {
    if (!quantity_.is_number() || !std::isfinite(quantity_.number))
      return event_error(".quantity", "expected a number, got " + quantity_.type_name());
    event.quantity = quantity_.number;
    if (event.quantity <= 0 && non_positive_quantities_++ == 0) {
      std::ostringstream q;
      q << event.quantity;
      first_non_positive_ = event_path() + ".quantity: " + q.str();
    }
  }
  if (order_.present()) {
    auto text = order_.id_text();
    if (!text) return event_error(".order", "expected a string, got " + order_.type_name());
    event.order = std::move(*text);
  }
  if (rating_.present()) {
    if (!rating_.is_number() || !std::isfinite(rating_.number))
      return event_error(".rating", "expected a number, got " + rating_.type_name());
    event.rating = rating_.number;
  }
  events_.push_back(std::move(event));
  // Sorting and cutting every time the buffer holds max_events more (at least 4096 more) keeps
  // memory near 2 * max_events events at a cost of O(log) per event. The result is the same as
  // cutting once at the end: an event dropped here already has max_events later ones.
  const std::size_t slack = std::max<std::size_t>(max_events_, 4096);
  if (events_.size() - std::min(events_.size(), max_events_) >= slack)
    keep_most_recent(max_events_);
}

void HistoryReader::keep_most_recent(std::size_t n) {
  // Stable: events at the same time (or all events, without timestamps) keep their input order.
  std::stable_sort(events_.begin(), events_.end(),
                   [](const Event& a, const Event& b) { return a.time < b.time; });
  if (events_.size() > n)
    events_.erase(events_.begin(), events_.end() - static_cast<std::ptrdiff_t>(n));
}

History HistoryReader::finish() {
  // The order of the checks is the document's: its shape, the customer id, then the events.
  if (document_error_ && !root_is_object_) throw Error(ErrorCode::kBadInput, *document_error_);
  History h;
  if (customer_id_.present()) {
    auto text = customer_id_.id_text();
    if (!text) fail(source_, "customer_id", "expected a string, got " + customer_id_.type_name());
    h.customer_id = std::move(*text);
  }
  if (need_.present()) {
    if (need_.kind != FieldValue::Kind::kString)
      fail(source_, "need", "expected a string, got " + need_.type_name());
    h.need = need_.text;
  }
  if (!events_found_) fail(source_, "events", "missing");
  if (document_error_) throw Error(ErrorCode::kBadInput, *document_error_);
  if (event_error_) throw Error(ErrorCode::kBadInput, *event_error_);
  keep_most_recent(max_events_);
  h.events = std::move(events_);
  for (const Lookalike& l : lookalikes_)
    h.warnings.push_back(std::string(source_) + ": " + l.first_path +
                         ": unknown field, ignored: did you mean \"" + l.known + "\"? (" +
                         std::to_string(l.events) + (l.events == 1 ? " event)" : " events)"));
  if (non_positive_quantities_ > 0)
    h.warnings.push_back(std::string(source_) + ": " + first_non_positive_ +
                         " is not a positive quantity (" +
                         std::to_string(non_positive_quantities_) +
                         (non_positive_quantities_ == 1 ? " event" : " events") +
                         "); the event still counts: write a return as \"type\": \"return\"");
  return h;
}

}  // namespace

History parse_history(std::string_view json_text, std::string_view source, std::size_t max_events) {
  HistoryReader reader(source, max_events);
  nlohmann::json::sax_parse(json_text.data(), json_text.data() + json_text.size(), &reader);
  return reader.finish();
}

namespace {

// The occasion (basket) an event belongs to: its order, else its date, else itself.
std::string occasion_key(const Event& e, std::size_t index) {
  return !e.order.empty()  ? "order:" + e.order
         : !e.date.empty() ? "date:" + e.date
                           : "event:" + std::to_string(index);
}

}  // namespace

std::vector<Basket> purchase_baskets(const History& history) {
  std::vector<Basket> baskets;
  std::unordered_map<std::string, std::size_t> by_key;
  std::vector<std::unordered_set<std::string>> seen;
  for (std::size_t i = 0; i < history.events.size(); ++i) {
    const Event& e = history.events[i];
    if (e.type != EventType::kPurchase) continue;
    std::string key = occasion_key(e, i);
    auto [it, inserted] = by_key.emplace(key, baskets.size());
    if (inserted) {
      baskets.push_back(Basket{std::move(key), e.time, {}});
      seen.emplace_back();
    }
    if (seen[it->second].insert(e.item).second) baskets[it->second].items.push_back(e.item);
  }
  // Events are time-sorted, so baskets are already in order of their first event.
  return baskets;
}

double ItemActivity::kept_share() const {
  if (times_returned == 0) return 1;
  if (times_returned >= times_bought) return 0;
  return 1 - static_cast<double>(times_returned) / times_bought;
}

std::unordered_map<std::string, ItemActivity> item_activity(const History& history) {
  std::unordered_map<std::string, ItemActivity> activity;
  std::unordered_set<std::string> counted;  // item + '\0' + type + occasion, counted once
  for (std::size_t i = 0; i < history.events.size(); ++i) {
    const Event& e = history.events[i];
    if (e.type != EventType::kPurchase && e.type != EventType::kReturn) continue;
    const bool purchase = e.type == EventType::kPurchase;
    ItemActivity& a = activity[e.item];
    if (purchase && !e.date.empty()) a.last_bought = e.date;  // events are in time order
    if (!counted.insert(e.item + '\0' + (purchase ? 'p' : 'r') + occasion_key(e, i)).second)
      continue;
    ++(purchase ? a.times_bought : a.times_returned);
  }
  return activity;
}

Catalog::Catalog(std::vector<CatalogItem> items) : items_(std::move(items)) {
  for (std::size_t i = 0; i < items_.size(); ++i) index_.emplace(items_[i].id, i);
}

Catalog Catalog::parse(std::string_view json_text, std::string_view source) {
  const json doc = parse_json_document(json_text, source, ErrorCode::kBadInput);
  const json* list = &doc;
  std::string prefix;
  if (doc.is_object()) {
    auto it = doc.find("items");
    if (it == doc.end()) fail(source, "items", "missing");
    list = &*it;
    prefix = "items";
  }
  if (!list->is_array())
    fail(source, prefix.empty() ? "(root)" : prefix,
         "expected an array of items, got " + type_name(*list));
  std::vector<CatalogItem> items;
  std::unordered_set<std::string> ids;
  for (std::size_t i = 0; i < list->size(); ++i) {
    const json& e = (*list)[i];
    const std::string path = prefix + "[" + std::to_string(i) + "]";
    if (!e.is_object()) fail(source, path, "expected an object, got " + type_name(e));
    CatalogItem item;
    auto id = e.find("id");
    std::string id_key = "id";
    if (id == e.end()) {
      id = e.find("item");
      id_key = "item";
    }
    if (id == e.end()) fail(source, path + ".id", "missing");
    auto text = id_text(*id);
    if (!text || text->empty())
      fail(source, path + "." + id_key, "expected a non-empty string, got " + type_name(*id));
    item.id = std::move(*text);
    if (!ids.insert(item.id).second)
      fail(source, path + "." + id_key, "\"" + item.id + "\" appears twice");
    if (auto v = e.find("name"); v != e.end() && !v->is_null()) {
      if (!v->is_string()) fail(source, path + ".name", "expected a string, got " + type_name(*v));
      item.name = v->get<std::string>();
    }
    if (item.name.empty()) item.name = item.id;
    if (auto v = e.find("price"); v != e.end() && !v->is_null()) {
      if (!v->is_number() || !std::isfinite(v->get<double>()))
        fail(source, path + ".price", "expected a number, got " + type_name(*v));
      item.price = v->get<double>();
    }
    if (auto v = e.find("category"); v != e.end() && !v->is_null()) {
      if (!v->is_string())
        fail(source, path + ".category", "expected a string, got " + type_name(*v));
      item.category = v->get<std::string>();
    }
    if (auto v = e.find("available"); v != e.end() && !v->is_null()) {
      if (!v->is_boolean())
        fail(source, path + ".available", "expected true or false, got " + type_name(*v));
      item.available = v->get<bool>();
    }
    if (auto v = e.find("product"); v != e.end() && !v->is_null()) {
      if (!v->is_boolean())
        fail(source, path + ".product", "expected true or false, got " + type_name(*v));
      item.product = v->get<bool>();
    }
    auto count = e.find("count");
    std::string count_key = "count";
    if (count == e.end()) {
      count = e.find("purchases");
      count_key = "purchases";
    }
    if (count != e.end() && !count->is_null()) {
      if (!count->is_number_integer() || count->get<std::int64_t>() < 0)
        fail(source, path + "." + count_key,
             "expected a non-negative integer, got " + count->dump());
      item.count = count->get<std::int64_t>();
    }
    items.push_back(std::move(item));
  }
  return Catalog(std::move(items));
}

Catalog Catalog::load(const std::filesystem::path& path) {
  return parse(read_text_file(path, ErrorCode::kIo), path.string());
}

const CatalogItem* Catalog::find(std::string_view id) const {
  auto it = index_.find(std::string(id));
  return it == index_.end() ? nullptr : &items_[it->second];
}

}  // namespace gptrec
