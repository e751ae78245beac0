#include <gtest/gtest.h>

#include "gptrec/error.hpp"
#include "gptrec/history.hpp"

using namespace gptrec;

namespace {

std::string error_of(const std::string& text) {
  try {
    parse_history(text, "alice.json");
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kBadInput);
    return e.what();
  }
  ADD_FAILURE() << "accepted " << text;
  return "";
}

}  // namespace

TEST(Timestamp, ParsesIsoDatesAndDateTimes) {
  EXPECT_EQ(parse_timestamp("1970-01-01")->first, 0);
  EXPECT_EQ(parse_timestamp("1970-01-02")->first, 86400);
  EXPECT_EQ(parse_timestamp("2011-01-18T10:01:00")->first, 1295344860);
  EXPECT_EQ(parse_timestamp("2011-01-18 10:01")->first, 1295344860);
  EXPECT_EQ(parse_timestamp("2011-01-18T10:01:00Z")->first, 1295344860);
  EXPECT_EQ(parse_timestamp("2011-01-18T12:01:00+02:00")->first, 1295344860);
  EXPECT_EQ(parse_timestamp("2011-01-18T10:01:00.250")->first, 1295344860);
  EXPECT_EQ(parse_timestamp("2011-01-18T10:01:00")->second, "2011-01-18");
  EXPECT_EQ(parse_timestamp("2000-02-29")->first, 951782400);
  for (const char* bad :
       {"", "2011", "2011-13-01", "2011-02-29", "2011-04-31", "18/01/2011", "2011-01-18T25:00",
        "2011-01-18T10:01:00+2", "2011-01-18Tx", "2011-01-18 "})
    EXPECT_FALSE(parse_timestamp(bad).has_value()) << bad;
}

TEST(History, ParsesAndSortsByTimeStably) {
  const auto h = parse_history(R"({"customer_id": 12347, "events": [
      {"item": "B", "type": "purchase", "timestamp": "2011-02-01T09:00:00", "order": 2},
      {"item": "A", "timestamp": "2011-01-01T09:00:00", "order": "1", "quantity": 3},
      {"item": 42, "type": "view", "timestamp": "2011-01-01T09:00:00"},
      {"item": "C", "type": "rating", "timestamp": "2011-01-01", "rating": 4.5, "extra": [1, 2]}]})",
                               "h.json");
  EXPECT_EQ(h.customer_id, "12347");
  ASSERT_EQ(h.events.size(), 4u);
  EXPECT_EQ(h.events[0].item, "C");  // midnight first
  EXPECT_EQ(h.events[1].item, "A");  // A before "42": same time, input order
  EXPECT_EQ(h.events[2].item, "42");
  EXPECT_EQ(h.events[2].type, EventType::kView);
  EXPECT_EQ(h.events[3].item, "B");
  EXPECT_EQ(h.events[3].order, "2");
  EXPECT_EQ(h.events[1].quantity, 3);
  EXPECT_EQ(*h.events[0].rating, 4.5);
}

TEST(History, AcceptsABareArrayAndDateKeys) {
  const auto h = parse_history(
      R"([{"item": "milk", "date": "2014-06-24"}, {"item": "bread", "date": "2014-06-20"}])",
      "h.json");
  EXPECT_EQ(h.customer_id, "");
  ASSERT_EQ(h.events.size(), 2u);
  EXPECT_EQ(h.events[0].item, "bread");
  EXPECT_EQ(h.events[0].type, EventType::kPurchase);
}

TEST(History, KeepsTheMostRecentEventsBeyondTheLimit) {
  std::string text = "[";
  for (int i = 0; i < 10; ++i)
    text += std::string(i ? "," : "") + R"({"item": "i)" + std::to_string(i) + "\"}";
  const auto h = parse_history(text + "]", "h.json", 4);
  ASSERT_EQ(h.events.size(), 4u);
  EXPECT_EQ(h.events[0].item, "i6");
  EXPECT_EQ(h.events[3].item, "i9");
}

TEST(History, ErrorsNameTheJsonPath) {
  EXPECT_EQ(error_of(R"({"events": [{"item": "a", "timestamp": "2011-01-01"}, {"item": "b"},
      {"item": "c"}, {"item": "d", "timestamp": "yesterday"}]})"),
            "alice.json: events[1].timestamp: missing, but earlier events have one");
  EXPECT_NE(error_of(R"({"events": [{"item": "d", "timestamp": "yesterday"}]})")
                .find("alice.json: events[0].timestamp: not a date (\"yesterday\""),
            std::string::npos);
  EXPECT_EQ(error_of(R"({"events": [{"item": "a"}, {"type": "purchase"}]})"),
            "alice.json: events[1].item: missing");
  EXPECT_EQ(error_of(R"({"events": [{"item": "a", "type": "wishlist"}]})"),
            "alice.json: events[0].type: unknown event type \"wishlist\" (expected purchase, view, "
            "cart, return or rating)");
  EXPECT_EQ(error_of(R"({"events": [{"item": ["a"]}]})"),
            "alice.json: events[0].item: expected a non-empty string, got an array");
  EXPECT_EQ(error_of(R"({"events": [{"item": "a", "quantity": "two"}]})"),
            "alice.json: events[0].quantity: expected a number, got a string");
  EXPECT_EQ(error_of(R"({"events": {}})"), "alice.json: events: expected an array, got an object");
  EXPECT_EQ(error_of(R"({"customer_id": "x"})"), "alice.json: events: missing");
  EXPECT_EQ(error_of(R"("hello")"),
            "alice.json: expected a history object or an array of events, got a string");
  EXPECT_NE(error_of("{\"events\": [").find("alice.json: not valid JSON"), std::string::npos);
}

TEST(Baskets, GroupByOrderThenDateThenEvent) {
  const auto by_order = purchase_baskets(parse_history(R"([
      {"item": "a", "timestamp": "2011-01-01T09:00", "order": "1"},
      {"item": "b", "timestamp": "2011-01-01T09:00", "order": "1"},
      {"item": "a", "timestamp": "2011-01-01T09:00", "order": "1"},
      {"item": "x", "type": "return", "timestamp": "2011-01-01T09:30", "order": "C1"},
      {"item": "c", "timestamp": "2011-01-01T10:00", "order": "2"},
      {"item": "d", "type": "view", "timestamp": "2011-01-02T10:00", "order": "3"}])",
                                                       "h"));
  ASSERT_EQ(by_order.size(), 2u);
  EXPECT_EQ(by_order[0].items, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(by_order[1].items, (std::vector<std::string>{"c"}));

  const auto by_date = purchase_baskets(parse_history(R"([
      {"item": "a", "date": "2014-01-02"}, {"item": "b", "date": "2014-01-01"},
      {"item": "c", "timestamp": "2014-01-02T23:00"}])",
                                                      "h"));
  ASSERT_EQ(by_date.size(), 2u);
  EXPECT_EQ(by_date[0].items, (std::vector<std::string>{"b"}));
  EXPECT_EQ(by_date[1].items, (std::vector<std::string>{"a", "c"}));

  const auto by_event =
      purchase_baskets(parse_history(R"([{"item": "a"}, {"item": "b"}, {"item": "a"}])", "h"));
  ASSERT_EQ(by_event.size(), 3u);
  EXPECT_EQ(by_event[2].items, (std::vector<std::string>{"a"}));
}

// Purchases and returns are counted per occasion (order, else date, else event), as baskets are.
TEST(ItemActivity, CountsPurchasesAndReturnsPerOccasion) {
  const auto h = parse_history(R"([
      {"item": "cake", "order": "o1", "timestamp": "2011-01-03T10:00"},
      {"item": "cake", "order": "o1", "timestamp": "2011-01-03T10:00"},
      {"item": "cake", "type": "return", "order": "C1", "timestamp": "2011-01-04"},
      {"item": "cake", "order": "o2", "timestamp": "2011-02-07T09:00"},
      {"item": "cake", "type": "return", "order": "C2", "timestamp": "2011-02-09"},
      {"item": "cake", "type": "return", "order": "C2", "timestamp": "2011-02-09"},
      {"item": "mug", "timestamp": "2011-03-01"}, {"item": "mug", "timestamp": "2011-03-01"},
      {"item": "mug", "timestamp": "2011-03-02"}, {"item": "mug", "type": "view", "timestamp": "2011-04-01"},
      {"item": "vase", "type": "return", "timestamp": "2011-01-01"}])",
                               "h");
  const auto a = item_activity(h);
  ASSERT_EQ(a.size(), 3u);  // views do not count
  EXPECT_EQ(a.at("cake").times_bought, 2);
  EXPECT_EQ(a.at("cake").times_returned, 2);
  EXPECT_EQ(a.at("cake").last_bought, "2011-02-07");
  EXPECT_EQ(a.at("cake").kept_share(), 0.0);
  EXPECT_EQ(a.at("mug").times_bought, 2);  // two dates
  EXPECT_EQ(a.at("mug").times_returned, 0);
  EXPECT_EQ(a.at("mug").last_bought, "2011-03-02");
  EXPECT_EQ(a.at("mug").kept_share(), 1.0);
  EXPECT_EQ(a.at("vase").times_bought, 0);  // returned, bought before the history began
  EXPECT_EQ(a.at("vase").kept_share(), 0.0);
  EXPECT_TRUE(a.at("vase").last_bought.empty());
  // Without orders or dates every event is an occasion; 1 - 1/4 of the item is kept.
  const auto untimed = item_activity(parse_history(
      R"([{"item": "a"}, {"item": "a"}, {"item": "a"}, {"item": "a"}, {"item": "a", "type": "return"}])",
      "h"));
  EXPECT_EQ(untimed.at("a").times_bought, 4);
  EXPECT_EQ(untimed.at("a").times_returned, 1);
  EXPECT_DOUBLE_EQ(untimed.at("a").kept_share(), 0.75);
  EXPECT_TRUE(untimed.at("a").last_bought.empty());
}

TEST(Catalog, ParsesItemsAndAliases) {
  const auto c =
      Catalog::parse(R"([{"id": "85123A", "name": "HEART", "price": 2.55, "purchases": 7},
      {"item": "milk", "count": 3, "category": "dairy", "available": false},
      {"id": 7, "name": "POSTAGE", "product": false}])",
                     "cat.json");
  ASSERT_EQ(c.items().size(), 3u);
  EXPECT_EQ(c.find("85123A")->count, 7);
  EXPECT_EQ(*c.find("85123A")->price, 2.55);
  EXPECT_EQ(c.find("milk")->name, "milk");  // name defaults to the id
  EXPECT_FALSE(c.find("milk")->available);
  EXPECT_TRUE(c.find("milk")->product);
  EXPECT_FALSE(c.find("7")->product);
  EXPECT_EQ(c.find("7")->name, "POSTAGE");
  EXPECT_EQ(c.find("nope"), nullptr);
  EXPECT_EQ(Catalog::parse(R"({"items": [{"id": "a"}]})", "c").items().size(), 1u);
}

TEST(Catalog, ErrorsNameTheJsonPath) {
  auto error_of_catalog = [](const std::string& text) -> std::string {
    try {
      Catalog::parse(text, "cat.json");
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_EQ(error_of_catalog(R"([{"id": "a"}, {"id": "b", "price": "cheap"}])"),
            "cat.json: [1].price: expected a number, got a string");
  EXPECT_EQ(error_of_catalog(R"([{"id": "a"}, {"id": "a"}])"),
            "cat.json: [1].id: \"a\" appears twice");
  EXPECT_EQ(error_of_catalog(R"([{"id": "a", "product": "no"}])"),
            "cat.json: [0].product: expected true or false, got a string");
  EXPECT_EQ(error_of_catalog(R"([{"name": "x"}])"), "cat.json: [0].id: missing");
  EXPECT_EQ(error_of_catalog(R"({"items": 3})"),
            "cat.json: items: expected an array of items, got a number");
}

TEST(History, WarnsAboutLookalikeFieldsAndNonPositiveQuantities) {
  const History h = parse_history(R"({"customer_id": "c", "events": [
      {"item": "a", "timestmap": "2011-01-01", "quantity": 0, "price": 2.5},
      {"item": "b", "timestmap": "2011-01-02", "quantity": -5, "Order": "o1"},
      {"item": "c", "quantity": 2, "data": 1, "category": "x", "qty": 3}]})",
                                  "h.json");
  ASSERT_EQ(h.events.size(), 3u);
  EXPECT_EQ(h.events[1].quantity, -5);
  ASSERT_EQ(h.warnings.size(), 4u);
  EXPECT_EQ(h.warnings[0],
            "h.json: events[0].timestmap: unknown field, ignored: did you mean \"timestamp\"? (2 "
            "events)");
  EXPECT_EQ(h.warnings[1],
            "h.json: events[1].Order: unknown field, ignored: did you mean \"order\"? (1 event)");
  EXPECT_EQ(h.warnings[2],
            "h.json: events[2].data: unknown field, ignored: did you mean \"date\"? (1 event)");
  EXPECT_NE(h.warnings[3].find("h.json: events[0].quantity: 0 is not a positive quantity (2 "
                               "events)"),
            std::string::npos)
      << h.warnings[3];
  // Known fields, and unknown ones far from every known name, give no warning.
  const History clean = parse_history(
      R"([{"item": "a", "type": "purchase", "timestamp": "2011-01-01", "quantity": 1,
           "order": "o", "rating": 5, "price": 3, "country": "UK", "category": "x"}])",
      "clean.json");
  EXPECT_TRUE(clean.warnings.empty());
}
