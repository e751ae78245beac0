// Fuzz target: a customer history document through everything before and including the model:
// parse_history -> purchase_baskets -> build_item_sequence (tests/data/models/tiny-items's item
// vocabulary, both sequence formats, several context sizes) -> Recommender::recommend (with and
// without explanations and filters). The same bytes also go through Catalog::parse, the other
// customer-supplied document.
//
// Properties: bad documents are Error(kBadInput) naming the source; a history keeps its most
// recent events (a cap of 8 keeps the last 8 of the uncapped history), sorted by time; baskets hold
// distinct items; a sequence starts with <bos> and fits its budget; suggestions are ranked catalog
// items with finite scores, best first.
#include <cmath>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>

#include "../fuzz_check.hpp"
#include "gptrec/history.hpp"
#include "gptrec/recommender.hpp"

using namespace gptrec;

namespace {

std::unique_ptr<Recommender> recommender;
std::unique_ptr<ItemVocabulary> vocab;
constexpr std::size_t kSmallCap = 8;

bool same_event(const Event& a, const Event& b) {
  return a.item == b.item && a.type == b.type && a.time == b.time && a.date == b.date &&
         a.order == b.order && a.quantity == b.quantity && a.rating == b.rating;
}

void check_history(std::string_view text) {
  const History full = parse_history(text, "history.json");
  // Once the full document parsed, a capped parse must succeed and keep the most recent events.
  const History capped = parse_history(text, "history.json", kSmallCap);
  FUZZ_CHECK(capped.customer_id == full.customer_id);
  FUZZ_CHECK(capped.events.size() == std::min(full.events.size(), kSmallCap));
  const std::size_t skip = full.events.size() - capped.events.size();
  for (std::size_t i = 0; i < capped.events.size(); ++i)
    FUZZ_CHECK(same_event(capped.events[i], full.events[skip + i]));
  for (std::size_t i = 0; i < full.events.size(); ++i) {
    FUZZ_CHECK(!full.events[i].item.empty());
    FUZZ_CHECK(std::isfinite(full.events[i].quantity));
    if (i > 0) FUZZ_CHECK(!(full.events[i].time < full.events[i - 1].time));
  }

  const std::vector<Basket> baskets = purchase_baskets(full);
  for (const Basket& b : baskets) {
    FUZZ_CHECK(!b.items.empty());
    FUZZ_CHECK(std::unordered_set<std::string>(b.items.begin(), b.items.end()).size() ==
               b.items.size());
  }
  const int n_ctx = recommender->model().config().n_ctx;
  for (const SequenceFormat format : {SequenceFormat::kBaskets, SequenceFormat::kItems})
    for (const int max_tokens : {1, 2, 3, 7, n_ctx}) {
      const ItemSequence seq = build_item_sequence(*vocab, baskets, format, max_tokens);
      FUZZ_CHECK(!seq.tokens.empty() && seq.tokens[0] == vocab->bos_id());
      FUZZ_CHECK(static_cast<int>(seq.tokens.size()) <= max_tokens);
      FUZZ_CHECK(seq.item_index.size() == seq.tokens.size());
      for (std::size_t t = 0; t < seq.tokens.size(); ++t) {
        FUZZ_CHECK(seq.tokens[t] >= 0 && seq.tokens[t] < vocab->vocab_size());
        const int index = seq.item_index[t];
        FUZZ_CHECK(index >= -1 && index < static_cast<int>(seq.items.size()));
        if (index >= 0)
          FUZZ_CHECK(vocab->find(seq.items[static_cast<std::size_t>(index)]) == seq.tokens[t]);
      }
    }

  for (const bool explain : {false, true}) {
    RecommendOptions options;
    options.top_n = explain ? 3 : 10;
    options.explain = explain;
    options.exclude_purchased = explain;
    const Recommendations r = recommender->recommend(full, options);
    FUZZ_CHECK(r.customer_id == full.customer_id);
    FUZZ_CHECK(static_cast<int>(r.suggestions.size()) <= options.top_n);
    for (std::size_t k = 0; k < r.suggestions.size(); ++k) {
      const Suggestion& s = r.suggestions[k];
      FUZZ_CHECK(s.rank == static_cast<int>(k) + 1 && s.item != nullptr && std::isfinite(s.score));
      if (k > 0) FUZZ_CHECK(s.score <= r.suggestions[k - 1].score);
      for (const Reason& reason : s.because) FUZZ_CHECK(reason.effect > 0 && !reason.name.empty());
    }
    FUZZ_CHECK(r.fallback_reason.has_value() == (r.score_kind == ScoreKind::kPopularity));
  }
}

void check_catalog(std::string_view text) {
  const Catalog c = Catalog::parse(text, "catalog.json");
  for (const CatalogItem& item : c.items()) {
    FUZZ_CHECK(!item.id.empty() && !item.name.empty() && item.count >= 0);
    FUZZ_CHECK(c.find(item.id) == &item);  // ids are unique
    if (item.price) FUZZ_CHECK(std::isfinite(*item.price));
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const std::string dir = GPTREC_TEST_DATA "/models/tiny-items";
  recommender = std::make_unique<Recommender>(Recommender::load(dir));
  vocab = std::make_unique<ItemVocabulary>(ItemVocabulary::load(dir + "/items.json"));
  set_op_threads(1);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    check_history(text);
  } catch (const Error& e) {
    fuzz::check_error(e, ErrorCode::kBadInput, "history.json");
  }
  try {
    check_catalog(text);
  } catch (const Error& e) {
    fuzz::check_error(e, ErrorCode::kBadInput, "catalog.json");
  }
  return 0;
}
