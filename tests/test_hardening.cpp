// Regression tests for what fuzzing and the bad-input catalogue found (tests/fuzz/README.md), and
// for the limits every JSON reader shares (src/json_document.hpp).
#include <gtest/gtest.h>

#include <climits>
#include <cstring>
#include <functional>
#include <random>
#include <string>

#include "gptrec/config.hpp"
#include "gptrec/error.hpp"
#include "gptrec/history.hpp"
#include "gptrec/recommender.hpp"
#include "gptrec/safetensors.hpp"
#include "gptrec/tokenizer.hpp"

using namespace gptrec;

namespace {

// The message of the Error `parse` throws, after checking its code; "" (and a failure) when it
// throws nothing. Any other exception fails the test when it escapes.
std::string error_of(const std::function<void()>& parse, ErrorCode code) {
  try {
    parse();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), code) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "accepted";
  return "";
}

std::string history_error(const std::string& text) {
  return error_of([&] { parse_history(text, "alice.json"); }, ErrorCode::kBadInput);
}

std::string config_error(const std::string& text) {
  return error_of([&] { parse_model_config(text, "config.json"); }, ErrorCode::kBadModel);
}

// A safetensors image whose header is `header` (no data).
std::vector<std::byte> safetensors_image(const std::string& header) {
  std::vector<std::byte> out(8 + header.size());
  for (int i = 0; i < 8; ++i)
    out[static_cast<std::size_t>(i)] = static_cast<std::byte>((header.size() >> (8 * i)) & 0xff);
  std::memcpy(out.data() + 8, header.data(), header.size());
  return out;
}

std::string nested(std::size_t depth, const std::string& inner = "1") {
  return std::string(depth, '[') + inner + std::string(depth, ']');
}

const char* kConfigTail = R"("n_positions": 4, "n_embd": 4, "n_layer": 1, "n_head": 1)";

}  // namespace

// Fuzzing (config): 4 * n_embd overflowed int for the default n_inner (undefined behaviour),
// and the config was then refused for a negative n_inner instead of its real problem.
TEST(Hardening, HugeEmbeddingWidthIsOutOfRangeWithoutOverflow) {
  const auto message = config_error(R"({"vocab_size": 1, "n_positions": 1, "n_embd": 2147483647,
                                        "n_layer": 1, "n_head": 1})");
  EXPECT_NE(message.find("out of the supported range"), std::string::npos) << message;
  EXPECT_EQ(message.find("n_inner"), std::string::npos) << message;
  EXPECT_NE(config_error(std::string(R"({"vocab_size": 5, "layer_norm_epsilon": 1e300, )") +
                         kConfigTail + "}")
                .find("layer_norm_epsilon"),
            std::string::npos);
}

// Fuzzing (history, config): a number beyond double's range made nlohmann throw out_of_range,
// which no reader caught: the CLI reported an internal error (exit 1), a fuzzer a crash.
TEST(Hardening, NumberOverflowIsAnErrorOfEveryReader) {
  EXPECT_NE(history_error(R"({"events": [{"item": "a", "quantity": 1e999}]})")
                .find("alice.json: not valid JSON"),
            std::string::npos);
  EXPECT_NE(config_error("1e364").find("config.json: not valid JSON"), std::string::npos);
  EXPECT_NE(error_of([] { Catalog::parse(R"([{"id": "a", "price": -1e999}])", "catalog.json"); },
                     ErrorCode::kBadInput)
                .find("catalog.json: not valid JSON"),
            std::string::npos);
  EXPECT_NE(error_of([] { ItemVocabulary::parse("[1e999]", "items.json"); }, ErrorCode::kBadModel)
                .find("items.json: not valid JSON"),
            std::string::npos);
  EXPECT_NE(error_of(
                [] {
                  SafetensorsFile::from_bytes(safetensors_image(R"({"a": 1e999})"),
                                              "w.safetensors");
                },
                ErrorCode::kBadModel)
                .find("w.safetensors: header: not valid JSON"),
            std::string::npos);
  EXPECT_NE(
      error_of([] { PromptTemplate::parse(R"({"max_history_items": 1e999})", "recommender.json"); },
               ErrorCode::kBadModel)
          .find("recommender.json: not valid JSON"),
      std::string::npos);
  EXPECT_NE(
      error_of([] { Gpt2Tokenizer::parse_tokenizer_json(R"({"model": 1e999})", "tokenizer.json"); },
               ErrorCode::kBadModel)
          .find("tokenizer.json: not valid JSON"),
      std::string::npos);
}

// Fuzzing (item_vocabulary): an item called "<bos>" took the special token's place in encode(),
// so decode then encode changed the ids.
TEST(Hardening, ItemCannotBeNamedLikeASpecialToken) {
  for (const char* name : {"<pad>", "<bos>", "<sep>", "<unk>"}) {
    const std::string text =
        std::string(
            R"({"format": "gptrec-items", "version": 1, "special_tokens": ["<bos>", "<sep>"],
                                             "items": [{"id": "a"}, {"id": ")") +
        name + R"("}]})";
    const auto message =
        error_of([&] { ItemVocabulary::parse(text, "items.json"); }, ErrorCode::kBadModel);
    EXPECT_NE(message.find("items.json: items[1].id: \"" + std::string(name) +
                           "\" is the name of a special token"),
              std::string::npos)
        << message;
  }
}

// A key given twice: nlohmann kept the last value silently; every reader now refuses the
// document, naming the object and the key.
TEST(Hardening, DuplicateKeysAreRefusedNamingTheKey) {
  EXPECT_NE(
      history_error(R"({"events": [{"item": "a"}, {"item": "a", "type": "view", "item": "b"}]})")
          .find("alice.json: events[1]: key \"item\" appears twice"),
      std::string::npos);
  EXPECT_NE(history_error(R"({"events": [], "customer_id": 1, "events": []})")
                .find("alice.json: key \"events\" appears twice"),
            std::string::npos);
  EXPECT_NE(config_error(std::string(R"({"vocab_size": 5, "vocab_size": 6, )") + kConfigTail + "}")
                .find("config.json: key \"vocab_size\" appears twice"),
            std::string::npos);
  EXPECT_NE(error_of(
                [] {
                  Catalog::parse(R"({"items": [{"id": "a", "name": "x", "name": "y"}]})",
                                 "catalog.json");
                },
                ErrorCode::kBadInput)
                .find("catalog.json: items[0]: key \"name\" appears twice"),
            std::string::npos);
  const std::string tensor = R"({"dtype": "F32", "shape": [0], "data_offsets": [0, 0]})";
  EXPECT_NE(error_of(
                [&] {
                  SafetensorsFile::from_bytes(
                      safetensors_image("{\"a\": " + tensor + ", \"a\": " + tensor + "}"),
                      "w.safetensors");
                },
                ErrorCode::kBadModel)
                .find("w.safetensors: header: key \"a\" appears twice"),
            std::string::npos);
  // Keys of ignored fields count too, in small and in large objects.
  std::string many = R"({"events": [], "x": {)";
  for (int k = 0; k < 40; ++k) many += "\"k" + std::to_string(k) + "\": 0, ";
  EXPECT_NE(history_error(many + R"("k7": 1}})").find("alice.json: x: key \"k7\" appears twice"),
            std::string::npos);
  // The same key in different objects is fine.
  EXPECT_EQ(parse_history(R"({"events": [{"item": "a"}, {"item": "b"}]})", "h").events.size(), 2u);
}

// Nesting: at most 64 levels, anywhere in the document (ignored fields included); a document
// nested 100,000 deep is refused without recursing.
TEST(Hardening, DeepNestingIsRefusedAtAnyDepthLimit) {
  const std::string deep = nested(100'000);
  EXPECT_NE(history_error(deep).find("nested deeper than 64 levels"), std::string::npos);
  EXPECT_NE(history_error(R"({"events": [{"item": "a", "note": )" + deep + "}]}")
                .find("alice.json: events[0].note"),
            std::string::npos);
  EXPECT_NE(config_error(R"({"vocab_size": )" + deep + "}").find("nested deeper than 64 levels"),
            std::string::npos);
  EXPECT_NE(error_of([&] { Catalog::parse(deep, "catalog.json"); }, ErrorCode::kBadInput)
                .find("nested deeper"),
            std::string::npos);
  EXPECT_NE(error_of(
                [&] {
                  SafetensorsFile::from_bytes(safetensors_image(R"({"a": )" + deep + "}"),
                                              "w.safetensors");
                },
                ErrorCode::kBadModel)
                .find("nested deeper"),
            std::string::npos);
  // The limit itself: the events array and an event are levels 1 and 2 of a bare array history.
  const auto at_limit = "[{\"item\": \"a\", \"x\": " + nested(62) + "}]";
  EXPECT_EQ(parse_history(at_limit, "h").events.size(), 1u);
  EXPECT_NE(history_error("[{\"item\": \"a\", \"x\": " + nested(63) + "}]")
                .find("nested deeper than 64 levels"),
            std::string::npos);
}

// The catalogue's 10^6-event history: events were dropped one erase at a time (quadratic: a
// history of 2 million untimed events did not finish in a minute). Now the reader keeps about
// 2 * max_events and cuts in batches; the result must still be exactly the most recent events.
TEST(Hardening, LongHistoriesKeepExactlyTheMostRecentEvents) {
  for (const bool timed : {false, true}) {
    std::mt19937 rng(timed ? 3 : 4);
    const int n = 30'000;
    std::vector<std::pair<int, int>> events;  // (day, id); ids are the input order
    std::string text = R"({"customer_id": "c", "events": [)";
    for (int i = 0; i < n; ++i) {
      const int day = static_cast<int>(rng() % 28) + 1;
      events.emplace_back(timed ? day : 0, i);
      text += (i ? "," : "") + std::string(R"({"item": ")") + std::to_string(i) + "\"";
      if (timed)
        text += R"(, "date": "2011-02-)" + std::string(day < 10 ? "0" : "") + std::to_string(day) +
                "\"";
      text += "}";
    }
    text += "]}";
    std::stable_sort(events.begin(), events.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    for (const std::size_t cap : {std::size_t{0}, std::size_t{1}, std::size_t{777},
                                  std::size_t{5000}, std::size_t{29'999}, std::size_t{1'000'000}}) {
      const History h = parse_history(text, "h", cap);
      const std::size_t kept = std::min<std::size_t>(cap, n);
      ASSERT_EQ(h.events.size(), kept) << "cap " << cap << (timed ? " timed" : "");
      for (std::size_t k = 0; k < kept; ++k)
        ASSERT_EQ(h.events[k].item, std::to_string(events[n - kept + k].second))
            << "cap " << cap << " event " << k;
    }
  }
}

// The one-pass history reader reports what a reader of the whole document would: a syntax error
// anywhere before any validation error, then the shape, the customer id, the first bad event.
TEST(Hardening, HistoryErrorsComeInDocumentOrder) {
  EXPECT_NE(history_error(R"({"events": [{"type": 5}, )").find("not valid JSON"),
            std::string::npos);
  EXPECT_NE(history_error(R"({"events": [{"type": 5}], "customer_id": [1]})")
                .find("alice.json: customer_id: expected a string, got an array"),
            std::string::npos);
  EXPECT_NE(history_error(R"({"events": [{"item": "a"}, 7, {"type": 5}]})")
                .find("alice.json: events[1]: expected an object, got a number"),
            std::string::npos);
  EXPECT_NE(history_error(R"([{"item": "a"}, {"item": "b", "date": "2011-01-01"}])")
                .find("alice.json: [1].timestamp: present, but earlier events have none"),
            std::string::npos);
  EXPECT_NE(history_error(R"({"customer": 1})").find("alice.json: events: missing"),
            std::string::npos);
  EXPECT_NE(history_error(R"({"events": {"item": "a"}})")
                .find("alice.json: events: expected an array, got an object"),
            std::string::npos);
  EXPECT_NE(history_error(R"("events")")
                .find("alice.json: expected a history object or an array of events, got a string"),
            std::string::npos);
  // Fields it does not read may hold anything.
  const auto h = parse_history(
      R"({"x": {"events": 5}, "customer_id": 12, "events": [{"item": 7, "meta": [{"a": null}],
                                   "order": 9, "rating": 2.5, "quantity": 3}], "y": [true]})",
      "h");
  ASSERT_EQ(h.events.size(), 1u);
  EXPECT_EQ(h.customer_id, "12");
  EXPECT_EQ(h.events[0].item, "7");
  EXPECT_EQ(h.events[0].order, "9");
  EXPECT_EQ(*h.events[0].rating, 2.5);
  EXPECT_EQ(h.events[0].quantity, 3.0);
}

// Error lines quote what was wrong, not the whole of it.
TEST(Hardening, ErrorsQuoteLongValuesCut) {
  const std::string long_value(1 << 20, 'x');
  EXPECT_LT(history_error(R"([{"item": "a", "type": ")" + long_value + "\"}]").size(), 400u);
  EXPECT_LT(history_error(R"([{"item": "a", "date": ")" + long_value + "\"}]").size(), 400u);
  EXPECT_LT(config_error("{\"" + long_value + "\": 1, \"" + long_value + "\": 2}").size(), 400u);
}
