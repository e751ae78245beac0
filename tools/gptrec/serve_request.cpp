#include "serve_request.hpp"

#include <charconv>
#include <climits>
#include <map>
#include <nlohmann/json.hpp>
#include <type_traits>

#include "gptrec/error.hpp"
#include "request_options.hpp"

namespace gptrec::cli {

namespace {

using json = nlohmann::json;

[[noreturn]] void bad_request(const std::string& message) {
  throw Error(ErrorCode::kBadInput, message);
}

// The top-level fields of a JSON document, read in one SAX pass without building the nested
// values (a history body's events are parsed by parse_history, not here): scalars are kept,
// arrays and objects are recorded as empty ones, for type errors.
class TopLevelFields {
 public:
  bool root_is_object = false;
  bool root_is_array = false;
  std::map<std::string, json> fields;

  bool null() { return value(json()); }
  bool boolean(bool v) { return value(json(v)); }
  bool number_integer(json::number_integer_t v) { return value(json(v)); }
  bool number_unsigned(json::number_unsigned_t v) { return value(json(v)); }
  bool number_float(json::number_float_t v, const json::string_t&) { return value(json(v)); }
  bool string(json::string_t& v) { return value(json(std::move(v))); }
  bool binary(json::binary_t&) { return value(json()); }
  bool start_object(std::size_t) { return open(json::object()); }
  bool start_array(std::size_t) { return open(json::array()); }
  bool key(json::string_t& k) {
    if (depth_ == 1) {
      if (fields.count(k) > 0) bad_request("request body: key \"" + k + "\" appears twice");
      key_ = std::move(k);
    }
    return true;
  }
  bool end_object() { return close(); }
  bool end_array() { return close(); }
  bool parse_error(std::size_t, const std::string&, const json::exception& e) {
    bad_request(std::string("request body: not valid JSON (") + e.what() + ")");
  }

 private:
  bool value(json v) {
    if (depth_ == 1 && root_is_object) fields.emplace(key_, std::move(v));
    return true;
  }
  bool open(json empty) {
    if (depth_ == 0) {
      root_is_object = empty.is_object();
      root_is_array = empty.is_array();
    } else {
      value(std::move(empty));
    }
    ++depth_;
    return true;
  }
  bool close() {
    --depth_;
    return true;
  }
  std::size_t depth_ = 0;
  std::string key_;
};

const std::string kModes = "\"mixed\", \"buy-again\", \"discover\" or \"all\"";

const char* type_name(const json& v) {
  if (v.is_object()) return "an object";
  if (v.is_array()) return "an array";
  if (v.is_string()) return "a string";
  if (v.is_boolean()) return "a boolean";
  if (v.is_null()) return "null";
  return "a number";
}

template <class T>
void set_from_text(T& member, const std::string& text, const std::string& where);

// Sets an option from its JSON value; `where` names it in errors.
template <class T>
void set_from_json(T& member, const json& v, const std::string& where) {
  if constexpr (is_optional_v<T>) {
    if (v.is_null()) {
      member.reset();
    } else {
      typename T::value_type inner{};
      set_from_json(inner, v, where);
      member = std::move(inner);
    }
  } else if constexpr (std::is_same_v<T, bool>) {
    if (!v.is_boolean()) bad_request(where + ": expected true or false, got " + type_name(v));
    member = v.get<bool>();
  } else if constexpr (std::is_same_v<T, int>) {
    if (!v.is_number_integer() || v.get<long long>() < INT_MIN || v.get<long long>() > INT_MAX ||
        (v.is_number_unsigned() && v.get<unsigned long long>() > INT_MAX))
      bad_request(where + ": expected an integer, got " +
                  (v.is_number() ? "a number out of range" : type_name(v)));
    member = v.get<int>();
  } else if constexpr (std::is_same_v<T, double>) {
    if (!v.is_number()) bad_request(where + ": expected a number, got " + type_name(v));
    member = v.get<double>();
  } else if constexpr (std::is_same_v<T, SuggestMode>) {
    if (!v.is_string()) bad_request(where + ": expected " + kModes + ", got " + type_name(v));
    set_from_text(member, v.get<std::string>(), where);
  } else {
    static_assert(std::is_same_v<T, std::string>, "unsupported option type");
    if (!v.is_string()) bad_request(where + ": expected a string, got " + type_name(v));
    member = v.get<std::string>();
  }
}

// Sets an option from a query parameter's text.
template <class T>
void set_from_text(T& member, const std::string& text, const std::string& where) {
  if constexpr (is_optional_v<T>) {
    typename T::value_type inner{};
    set_from_text(inner, text, where);
    member = std::move(inner);
  } else if constexpr (std::is_same_v<T, bool>) {
    if (text == "true" || text == "1" || text.empty())
      member = true;
    else if (text == "false" || text == "0")
      member = false;
    else
      bad_request(where + ": expected true or false");
  } else if constexpr (std::is_same_v<T, SuggestMode>) {
    const std::optional<SuggestMode> mode = parse_suggest_mode(text);
    if (!mode) bad_request(where + ": expected " + kModes + ", got \"" + text + "\"");
    member = *mode;
  } else if constexpr (std::is_same_v<T, int> || std::is_same_v<T, double>) {
    T value{};
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size() || text.empty())
      bad_request(where +
                  (std::is_same_v<T, int> ? ": expected an integer" : ": expected a number"));
    member = value;
  } else {
    member = text;
  }
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// application/x-www-form-urlencoded decoding: "+" is a space, "%XX" a byte.
std::string percent_decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%' && i + 2 < s.size() && hex_value(s[i + 1]) >= 0 &&
               hex_value(s[i + 2]) >= 0) {
      out += static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::map<std::string, std::string> query_parameters(std::string_view query) {
  std::map<std::string, std::string> params;
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty()) continue;
    const auto eq = pair.find('=');
    std::string name = percent_decode(pair.substr(0, eq));
    std::string value = eq == std::string_view::npos ? "" : percent_decode(pair.substr(eq + 1));
    if (params.count(name) > 0) bad_request("query parameter " + name + " appears twice");
    params.emplace(std::move(name), std::move(value));
  }
  return params;
}

// Applies the options found in `fields` (JSON, may be null) and `params` (query), taking each
// one it uses out of them. `endpoint` names the request in errors about options out of scope.
void apply_options(RecommendOptions& options, std::map<std::string, json>* fields,
                   std::map<std::string, std::string>& params, bool suggest, const char* endpoint) {
  visit_request_options(
      options, [&](const char* name, auto& member, const char*, OptionScope scope) {
        const auto param = params.find(name);
        const auto field =
            fields != nullptr ? fields->find(name) : std::map<std::string, json>::iterator();
        const bool in_body = fields != nullptr && field != fields->end();
        const bool in_query = param != params.end();
        if (!in_body && !in_query) return;
        if (!suggest && scope == OptionScope::kSuggestOnly)
          bad_request(std::string(name) + ": not an option of " + endpoint);
        if (in_body && in_query)
          bad_request(std::string(name) + ": given both in the query and in the body");
        if (in_body) {
          set_from_json(member, field->second, std::string(name));
          fields->erase(field);
        } else {
          set_from_text(member, param->second, "query parameter " + std::string(name));
          params.erase(param);
        }
      });
  if (!params.empty())
    bad_request("unknown query parameter " + params.begin()->first + " (options: " + [&] {
      std::string names;
      visit_request_options(options, [&](const char* name, auto&, const char*, OptionScope scope) {
        if (suggest || scope == OptionScope::kAll)
          names += (names.empty() ? "" : ", ") + std::string(name);
      });
      return names;
    }() + ")");
}

}  // namespace

SuggestRequest parse_suggest_request(std::string_view body, std::string_view query) {
  SuggestRequest request;
  auto params = query_parameters(query);
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos)
    bad_request("request body: empty (expected a history, or {\"customer_id\": ...})");
  TopLevelFields top;
  json::sax_parse(body.data(), body.data() + body.size(), &top);
  if (!top.root_is_object && !top.root_is_array)
    bad_request(
        "request body: expected a history object, an array of events, or "
        "{\"customer_id\": ...}");
  apply_options(request.options, top.root_is_object ? &top.fields : nullptr, params, true,
                "/v1/suggest");
  if (top.root_is_array || top.fields.count("events") > 0) {
    request.history = parse_history(body, "request body");
    return request;
  }
  const auto id = top.fields.find("customer_id");
  if (id == top.fields.end())
    bad_request(
        "request body: events: missing (or give only customer_id, to look the customer "
        "up in the histories database)");
  if (id->second.is_string())
    request.customer_id = id->second.get<std::string>();
  else if (id->second.is_number_integer())
    request.customer_id = id->second.dump();
  else
    bad_request(std::string("request body: customer_id: expected a string, got ") +
                type_name(id->second));
  if (request.customer_id.empty()) bad_request("request body: customer_id: empty");
  top.fields.erase(id);
  if (!top.fields.empty())
    bad_request("request body: unknown field \"" + top.fields.begin()->first +
                "\" (a lookup has customer_id and options; a history has events)");
  return request;
}

RecommendOptions parse_score_options(std::string_view query) {
  RecommendOptions options;
  auto params = query_parameters(query);
  apply_options(options, nullptr, params, false, "/v1/score");
  return options;
}

}  // namespace gptrec::cli
