#include "gptrec/history.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <nlohmann/json.hpp>
#include <unordered_set>

#include "gptrec/error.hpp"
#include "io.hpp"

namespace gptrec {

using json = nlohmann::json;

std::string_view to_string(EventType t) {
  switch (t) {
    case EventType::kPurchase: return "purchase";
    case EventType::kView: return "view";
    case EventType::kCart: return "cart";
    case EventType::kReturn: return "return";
    case EventType::kRating: return "rating";
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
  if (month < 1 || month > 12 || day < 1 || day > kDays[month - 1] || (month == 2 && day == 29 && !leap))
    return std::nullopt;
  std::int64_t seconds = days_from_civil(year, static_cast<unsigned>(month), static_cast<unsigned>(day)) * 86400;
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

History parse_history(std::string_view json_text, std::string_view source, std::size_t max_events) {
  json doc;
  try {
    doc = json::parse(json_text);
  } catch (const json::parse_error& e) {
    throw Error(ErrorCode::kBadInput, std::string(source) + ": not valid JSON (" + e.what() + ")");
  }
  History h;
  const json* events = &doc;
  std::string prefix;  // JSON path of the events array
  if (doc.is_object()) {
    auto id = doc.find("customer_id");
    if (id != doc.end() && !id->is_null()) {
      auto text = id_text(*id);
      if (!text) fail(source, "customer_id", "expected a string, got " + type_name(*id));
      h.customer_id = *text;
    }
    auto ev = doc.find("events");
    if (ev == doc.end()) fail(source, "events", "missing");
    events = &*ev;
    prefix = "events";
  } else if (!doc.is_array()) {
    throw Error(ErrorCode::kBadInput, std::string(source) +
                                          ": expected a history object or an array of events, got " +
                                          type_name(doc));
  }
  if (!events->is_array())
    fail(source, prefix.empty() ? "(root)" : prefix, "expected an array, got " + type_name(*events));

  // Only the most recent max_events are kept; with timestamps, "recent" is decided after sorting.
  const std::size_t n = events->size();
  std::optional<bool> timed;
  h.events.reserve(std::min(n, max_events));
  for (std::size_t i = 0; i < n; ++i) {
    const json& e = (*events)[i];
    const std::string path = prefix + "[" + std::to_string(i) + "]";
    if (!e.is_object()) fail(source, path, "expected an object, got " + type_name(e));
    Event event;
    auto item = e.find("item");
    if (item == e.end()) fail(source, path + ".item", "missing");
    auto item_text = id_text(*item);
    if (!item_text || item_text->empty())
      fail(source, path + ".item", "expected a non-empty string, got " + type_name(*item));
    event.item = std::move(*item_text);

    if (auto t = e.find("type"); t != e.end() && !t->is_null()) {
      if (!t->is_string()) fail(source, path + ".type", "expected a string, got " + type_name(*t));
      const auto& name = t->get_ref<const std::string&>();
      if (name == "purchase") event.type = EventType::kPurchase;
      else if (name == "view") event.type = EventType::kView;
      else if (name == "cart") event.type = EventType::kCart;
      else if (name == "return") event.type = EventType::kReturn;
      else if (name == "rating") event.type = EventType::kRating;
      else
        fail(source, path + ".type",
             "unknown event type \"" + name + "\" (expected purchase, view, cart, return or rating)");
    }

    auto ts = e.find("timestamp");
    std::string ts_key = "timestamp";
    if (ts == e.end() || ts->is_null()) {
      ts = e.find("date");
      ts_key = "date";
    }
    const bool has_time = ts != e.end() && !ts->is_null();
    if (has_time) {
      if (!ts->is_string()) fail(source, path + "." + ts_key, "not a date (got " + type_name(*ts) + ")");
      auto parsed = parse_timestamp(ts->get_ref<const std::string&>());
      if (!parsed)
        fail(source, path + "." + ts_key,
             "not a date (\"" + ts->get<std::string>() + "\"; expected ISO 8601 like 2011-01-18 or 2011-01-18T10:01:00)");
      event.time = parsed->first;
      event.date = std::move(parsed->second);
    }
    if (timed && *timed != has_time)
      fail(source, path + ".timestamp",
           has_time ? "present, but earlier events have none" : "missing, but earlier events have one");
    timed = has_time;

    if (auto q = e.find("quantity"); q != e.end() && !q->is_null()) {
      if (!q->is_number() || !std::isfinite(q->get<double>()))
        fail(source, path + ".quantity", "expected a number, got " + type_name(*q));
      event.quantity = q->get<double>();
    }
    if (auto o = e.find("order"); o != e.end() && !o->is_null()) {
      auto text = id_text(*o);
      if (!text) fail(source, path + ".order", "expected a string, got " + type_name(*o));
      event.order = std::move(*text);
    }
    if (auto r = e.find("rating"); r != e.end() && !r->is_null()) {
      if (!r->is_number() || !std::isfinite(r->get<double>()))
        fail(source, path + ".rating", "expected a number, got " + type_name(*r));
      event.rating = r->get<double>();
    }
    h.events.push_back(std::move(event));
    // Without timestamps input order is time order: drop the oldest as soon as there are too many.
    if (!has_time && h.events.size() > max_events) h.events.erase(h.events.begin());
  }
  std::stable_sort(h.events.begin(), h.events.end(),
                   [](const Event& a, const Event& b) { return a.time < b.time; });
  if (h.events.size() > max_events)
    h.events.erase(h.events.begin(), h.events.end() - static_cast<std::ptrdiff_t>(max_events));
  return h;
}

std::vector<Basket> purchase_baskets(const History& history) {
  std::vector<Basket> baskets;
  std::unordered_map<std::string, std::size_t> by_key;
  std::vector<std::unordered_set<std::string>> seen;
  for (std::size_t i = 0; i < history.events.size(); ++i) {
    const Event& e = history.events[i];
    if (e.type != EventType::kPurchase) continue;
    std::string key = !e.order.empty() ? "order:" + e.order
                      : !e.date.empty() ? "date:" + e.date
                                        : "event:" + std::to_string(i);
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

Catalog::Catalog(std::vector<CatalogItem> items) : items_(std::move(items)) {
  for (std::size_t i = 0; i < items_.size(); ++i) index_.emplace(items_[i].id, i);
}

Catalog Catalog::parse(std::string_view json_text, std::string_view source) {
  json doc;
  try {
    doc = json::parse(json_text);
  } catch (const json::parse_error& e) {
    throw Error(ErrorCode::kBadInput, std::string(source) + ": not valid JSON (" + e.what() + ")");
  }
  const json* list = &doc;
  std::string prefix;
  if (doc.is_object()) {
    auto it = doc.find("items");
    if (it == doc.end()) fail(source, "items", "missing");
    list = &*it;
    prefix = "items";
  }
  if (!list->is_array())
    fail(source, prefix.empty() ? "(root)" : prefix, "expected an array of items, got " + type_name(*list));
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
    if (!text || text->empty()) fail(source, path + "." + id_key, "expected a non-empty string, got " + type_name(*id));
    item.id = std::move(*text);
    if (!ids.insert(item.id).second) fail(source, path + "." + id_key, "\"" + item.id + "\" appears twice");
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
      if (!v->is_string()) fail(source, path + ".category", "expected a string, got " + type_name(*v));
      item.category = v->get<std::string>();
    }
    if (auto v = e.find("available"); v != e.end() && !v->is_null()) {
      if (!v->is_boolean()) fail(source, path + ".available", "expected true or false, got " + type_name(*v));
      item.available = v->get<bool>();
    }
    auto count = e.find("count");
    std::string count_key = "count";
    if (count == e.end()) {
      count = e.find("purchases");
      count_key = "purchases";
    }
    if (count != e.end() && !count->is_null()) {
      if (!count->is_number_integer() || count->get<std::int64_t>() < 0)
        fail(source, path + "." + count_key, "expected a non-negative integer, got " + count->dump());
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
