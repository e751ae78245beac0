// gptrec eval: offline evaluation of a model against the classic baselines on held-out baskets
// (docs/EVALUATION.md).
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "commands.hpp"
#include "format.hpp"
#include "gptrec/error.hpp"
#include "gptrec/evaluation.hpp"
#include "gptrec/model_directory.hpp"
#include "input.hpp"
#include "lines.hpp"

namespace gptrec::cli {

namespace {

struct EvalOptions {
  std::string model_dir;
  std::string data;
  std::string protocol = "last-basket";
  int k = 10;
  long long limit = 0;
  bool baselines_only = false;
  std::uint64_t seed = 0;
  std::string candidates;
  std::string format = "table";
  bool quiet = false;
  std::vector<double> repeat_weights, repeat_decays;  // last-basket: model rows, one per pair
  std::vector<std::string> need_weights;              // need: "W" or "METHOD=W" entries
  std::string need_match = "exact";
  std::string catalog;        // need: item names (default: the model's items.json)
  std::string write_queries;  // need: the queries as JSONL
};

std::string format_number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

// The model rows asked for by --repeat-weight / --repeat-decay (a grid; the config's value for a
// list not given); empty when neither is given.
std::vector<RepeatVariant> repeat_variants(const EvalOptions& o, const ModelConfig& config) {
  if (o.repeat_weights.empty() && o.repeat_decays.empty()) return {};
  const std::vector<double> weights =
      o.repeat_weights.empty() ? std::vector{config.repeat.weight} : o.repeat_weights;
  const std::vector<double> decays =
      o.repeat_decays.empty() ? std::vector{config.repeat.decay} : o.repeat_decays;
  std::vector<RepeatVariant> out;
  for (const double w : weights)
    for (const double d : decays) {
      if (!(w >= 0 && w < 1))
        throw Error(ErrorCode::kInvalidArgument,
                    "--repeat-weight must be in [0, 1), got " + format_number(w));
      if (!(d > 0 && d <= 1))
        throw Error(ErrorCode::kInvalidArgument,
                    "--repeat-decay must be in (0, 1], got " + format_number(d));
      out.push_back(RepeatVariant{
          "gptrec " + o.model_dir + " repeat " + format_number(w) + "/" + format_number(d),
          RepeatMix{w, d}});
    }
  return out;
}

// One warning line for the histories that had warnings (History::warnings).
void warn_histories(long long warned, const std::string& first_warning) {
  if (warned > 0)
    warn(std::to_string(warned) + " histor" + (warned == 1 ? "y has" : "ies have") +
         " warnings; the first: " + first_warning);
}

std::vector<CustomerBaskets> read_customers(const EvalOptions& o) {
  std::vector<CustomerBaskets> customers;
  LineReader reader(o.data);
  std::string line;
  long long bad = 0, warned = 0;
  std::string first_error, first_warning;
  ProgressBar bar("reading", !o.quiet);
  while (reader.next(line)) {
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    try {
      const History h = parse_history(line, o.data + ":" + std::to_string(reader.line_number()));
      if (!h.warnings.empty() && warned++ == 0) first_warning = h.warnings.front();
      CustomerBaskets c{h.customer_id, {}};
      for (auto& b : purchase_baskets(h)) c.baskets.push_back(std::move(b.items));
      customers.push_back(std::move(c));
    } catch (const Error& e) {
      if (bad++ == 0) first_error = e.what();
    }
    if (customers.size() % 1000 == 0) bar.update(customers.size(), customers.size());
    if (o.limit > 0 && static_cast<long long>(customers.size()) >= o.limit) break;
  }
  bar.finish();
  if (bad > 0)
    warn(std::to_string(bad) + " bad line" + (bad == 1 ? "" : "s") +
         " skipped; the first: " + first_error);
  warn_histories(warned, first_warning);
  if (customers.empty()) throw Error(ErrorCode::kBadInput, o.data + ": no customer histories");
  return customers;
}

// Sequences for the SASRec protocol: "user item [item ...]" lines (the SASRec paper's files have
// one item a line, the S3-Rec files a user's whole sequence; a user's items in time order) or
// histories JSONL (purchases in time order).
std::vector<CustomerSequence> read_sequences(const EvalOptions& o) {
  std::vector<CustomerSequence> users;
  std::unordered_map<std::string, std::size_t> by_id;
  LineReader reader(o.data);
  std::string line;
  long long bad = 0;
  std::string first_error;
  while (reader.next(line)) {
    const auto start = line.find_first_not_of(" \t");
    if (start == std::string::npos) continue;
    if (line[start] == '{' || line[start] == '[') {
      try {
        const History h = parse_history(line, o.data + ":" + std::to_string(reader.line_number()));
        CustomerSequence c{h.customer_id, {}};
        for (const Event& e : h.events)
          if (e.type == EventType::kPurchase) c.items.push_back(e.item);
        users.push_back(std::move(c));
      } catch (const Error& e) {
        if (bad++ == 0) first_error = e.what();
      }
    } else {
      std::istringstream fields(line);
      std::string user, item;
      if (!(fields >> user >> item)) {
        if (bad++ == 0)
          first_error = o.data + ":" + std::to_string(reader.line_number()) +
                        ": expected \"user item [item ...]\"";
        continue;
      }
      auto [it, inserted] = by_id.emplace(user, users.size());
      if (inserted) users.push_back(CustomerSequence{user, {}});
      auto& items = users[it->second].items;
      items.push_back(item);
      while (fields >> item) items.push_back(item);
    }
    if (o.limit > 0 && static_cast<long long>(users.size()) > o.limit) {
      users.pop_back();
      break;
    }
  }
  if (bad > 0)
    warn(std::to_string(bad) + " bad line" + (bad == 1 ? "" : "s") +
         " skipped; the first: " + first_error);
  if (users.empty()) throw Error(ErrorCode::kBadInput, o.data + ": no sequences");
  return users;
}

// Fixed candidate lists: {"customer_id", "target", "negatives": [...], "in_util_subset"} per line.
std::unordered_map<std::string, SampledCandidates> read_candidates(const std::string& path) {
  std::unordered_map<std::string, SampledCandidates> out;
  LineReader reader(path);
  std::string line;
  while (reader.next(line)) {
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    const std::string where = path + ":" + std::to_string(reader.line_number());
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {
      throw Error(ErrorCode::kBadInput, where + ": not valid JSON (" + e.what() + ")");
    }
    try {
      if (j.value("split", "test") != "test") continue;
      SampledCandidates c;
      c.target = j.at("target").get<std::string>();
      c.negatives = j.at("negatives").get<std::vector<std::string>>();
      c.in_subset = j.value("in_util_subset", false);
      out[j.at("customer_id").get<std::string>()] = std::move(c);
    } catch (const nlohmann::json::exception& e) {
      throw Error(ErrorCode::kBadInput,
                  where + ": expected customer_id, target and negatives (" + e.what() + ")");
    }
  }
  return out;
}

int run_sasrec(const EvalOptions& o, const Model* model, const ItemVocabulary* vocab) {
  const std::vector<CustomerSequence> users = read_sequences(o);
  std::optional<std::unordered_map<std::string, SampledCandidates>> fixed;
  if (!o.candidates.empty()) fixed = read_candidates(o.candidates);
  ProgressBar bar("evaluating", !o.quiet);
  const SasrecReport r = evaluate_sasrec(
      users, o.k, model, vocab, "gptrec " + o.model_dir, o.seed, fixed ? &*fixed : nullptr,
      [&](std::size_t done, std::size_t total) { bar.update(done, total); });
  bar.finish();
  auto metrics = [](const RankingMetrics& x) {
    return nlohmann::ordered_json{{"hr", x.hit}, {"ndcg", x.ndcg}};
  };
  // One target: Recall@k = HR@k.
  auto headline = [](const RankingMetrics& x) {
    return nlohmann::ordered_json{{"recall", x.hit}, {"hr", x.hit}, {"ndcg", x.ndcg}};
  };
  if (o.format == "json") {
    nlohmann::ordered_json j;
    j["protocol"] = o.protocol;
    j["data"] = o.data;
    j["k"] = r.k;
    j["users"] = r.users;
    j["evaluated"] = r.evaluated;
    j["subset_evaluated"] = r.subset_evaluated;
    j["items"] = r.items;
    j["negatives"] = fixed ? "file " + o.candidates : "seed " + std::to_string(o.seed);
    nlohmann::ordered_json methods = nlohmann::ordered_json::array();
    for (const auto& m : r.methods) {
      nlohmann::ordered_json e{{"method", m.method}, {"full_excl", headline(m.full_excl)}};
      e["full"] = metrics(m.full);
      e["sampled"] = metrics(m.sampled);
      if (r.subset_evaluated > 0) e["sampled_subset"] = metrics(m.subset);
      methods.push_back(std::move(e));
    }
    j["methods"] = std::move(methods);
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  std::printf(
      "Protocol sasrec on %s: %d users, %d evaluated; %d items; negatives: %s.\n\n", o.data.c_str(),
      r.users, r.evaluated, r.items,
      fixed ? ("from " + o.candidates).c_str() : ("seed " + std::to_string(o.seed)).c_str());
  const std::string k = std::to_string(r.k);
  std::vector<std::string> header = {"method",       "Recall@" + k,    "NDCG@" + k,
                                     "full HR@" + k, "full NDCG@" + k, "sampled HR@" + k,
                                     "NDCG@" + k};
  if (r.subset_evaluated > 0) {
    header.push_back("subset HR@" + k);
    header.push_back("NDCG@" + k);
  }
  std::vector<bool> right(header.size(), true);
  right[0] = false;
  Table t(header, right);
  auto f = [](double v) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "%.4f", v);
    return std::string(buf);
  };
  for (const auto& m : r.methods) {
    std::vector<std::string> row = {m.method,         f(m.full_excl.hit), f(m.full_excl.ndcg),
                                    f(m.full.hit),    f(m.full.ndcg),     f(m.sampled.hit),
                                    f(m.sampled.ndcg)};
    if (r.subset_evaluated > 0) {
      row.push_back(f(m.subset.hit));
      row.push_back(f(m.subset.ndcg));
    }
    t.add(row);
  }
  t.print(stdout);
  std::printf(
      "\nRecall@%s, NDCG@%s: the test item ranked against every item but the input's (the "
      "full-ranking convention of S3-Rec and its successors; one target, so Recall = HR).\n"
      "full: against every item. sampled: against 100 negatives (the SASRec paper's).\n",
      k.c_str(), k.c_str());
  if (r.subset_evaluated > 0)
    std::printf("subset: the %d users of the seeded 10,000-user subset, as in the paper's code.\n",
                r.subset_evaluated);
  return 0;
}

// --need-weight entries: "W" (every text weight) or "gptrec=W", "popularity=W", "own=W", and
// gptrec's popularity exponent "gptrec-popularity=B".
NeedWeights parse_need_weights(const std::vector<std::string>& entries) {
  NeedWeights w;
  for (const std::string& entry : entries) {
    const auto eq = entry.find('=');
    const std::string method = eq == std::string::npos ? "" : entry.substr(0, eq);
    const std::string value = eq == std::string::npos ? entry : entry.substr(eq + 1);
    double v = 0;
    try {
      std::size_t used = 0;
      v = std::stod(value, &used);
      if (used != value.size()) throw std::invalid_argument("trailing text");
    } catch (const std::exception&) {
      throw Error(ErrorCode::kInvalidArgument,
                  "--need-weight: expected W or METHOD=W with a number W, got \"" + entry + "\"");
    }
    if (!(v >= 0 && std::isfinite(v)))
      throw Error(ErrorCode::kInvalidArgument,
                  "--need-weight: weights must be finite and >= 0, got \"" + entry + "\"");
    if (method.empty() || method == "gptrec") w.model.push_back(v);
    if (method.empty() || method == "popularity") w.popularity.push_back(v);
    if (method.empty() || method == "own") w.own.push_back(v);
    if (method == "gptrec-popularity") w.model_popularity.push_back(v);
    if (!method.empty() && method != "gptrec" && method != "popularity" && method != "own" &&
        method != "gptrec-popularity")
      throw Error(ErrorCode::kInvalidArgument,
                  "--need-weight: unknown method \"" + method +
                      "\" (expected gptrec, popularity, own or gptrec-popularity)");
  }
  return w;
}

int run_need(const EvalOptions& o, const Model* model, const ItemVocabulary* vocab,
             const BasketRanker* ranker, const std::vector<RepeatVariant>& variants) {
  std::vector<CatalogItem> items;
  if (!o.catalog.empty()) {
    items = Catalog::parse(read_input(o.catalog, kMaxCatalogBytes), o.catalog).items();
  } else if (vocab != nullptr) {
    items = vocab->items();
  } else {
    throw Error(ErrorCode::kInvalidArgument,
                "the need protocol needs item names: --catalog or a --model");
  }
  const NeedWeights weights = parse_need_weights(o.need_weights);
  const std::vector<CustomerBaskets> customers = read_customers(o);
  std::vector<NeedQuery> queries;
  ProgressBar bar("evaluating", !o.quiet);
  const NeedReport r = evaluate_need(
      customers, o.k, model, vocab, "gptrec " + o.model_dir, items, o.seed,
      o.need_match == "exact" ? NeedMatch::kExact : NeedMatch::kCompound, weights, variants,
      o.write_queries.empty() ? nullptr : &queries,
      [&](std::size_t done, std::size_t total) { bar.update(done, total); }, ranker);
  bar.finish();
  if (!o.write_queries.empty()) {
    std::ofstream out(o.write_queries, std::ios::binary);
    for (const NeedQuery& q : queries)
      out << nlohmann::ordered_json{{"customer_id", q.customer_id},
                                    {"need", q.text},
                                    {"targets", q.targets},
                                    {"never_bought_targets", q.new_targets},
                                    {"fitting_any", q.fitting_any},
                                    {"fitting_all", q.fitting_all}}
                 .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
          << "\n";
    out.close();
    if (!out) throw Error(ErrorCode::kIo, o.write_queries + ": write failed");
  }
  auto metrics = [](const NeedMetrics& x) {
    return nlohmann::ordered_json{{"hr", x.hit}, {"ndcg", x.ndcg}, {"mrr", x.mrr}};
  };
  if (o.format == "json") {
    nlohmann::ordered_json j;
    j["protocol"] = o.protocol;
    j["data"] = o.data;
    j["k"] = r.k;
    j["seed"] = o.seed;
    j["match"] = o.need_match;
    j["customers"] = r.customers;
    j["evaluated_customers"] = r.evaluated_customers;
    j["queries"] = {{"all", r.queries}, {"never_bought", r.never_bought_queries}};
    j["universe"] = r.universe;
    j["mean_fitting_any"] = r.mean_fitting_any;
    j["mean_fitting_all"] = r.mean_fitting_all;
    j["mean_targets"] = r.mean_targets;
    nlohmann::ordered_json methods = nlohmann::ordered_json::array();
    for (const auto& m : r.methods)
      methods.push_back({{"method", m.method},
                         {"all", metrics(m.all)},
                         {"never_bought", metrics(m.never_bought)}});
    j["methods"] = std::move(methods);
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  std::printf(
      "Protocol need on %s: %d customers, %d evaluated; %d queries (%d with a never-bought "
      "target); %d items; seed %llu, %s match.\nA query fits %.1f items on average (any word; "
      "%.1f every word) and has %.2f targets.\n\n",
      o.data.c_str(), r.customers, r.evaluated_customers, r.queries, r.never_bought_queries,
      r.universe, static_cast<unsigned long long>(o.seed), o.need_match.c_str(), r.mean_fitting_any,
      r.mean_fitting_all, r.mean_targets);
  const std::string k = std::to_string(r.k);
  Table t({"method", "all HR@" + k, "NDCG@" + k, "MRR", "never-bought HR@" + k, "NDCG@" + k, "MRR"},
          {false, true, true, true, true, true, true});
  auto f = [](double v) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "%.4f", v);
    return std::string(buf);
  };
  for (const auto& m : r.methods)
    t.add({m.method, f(m.all.hit), f(m.all.ndcg), f(m.all.mrr), f(m.never_bought.hit),
           f(m.never_bought.ndcg), f(m.never_bought.mrr)});
  t.print(stdout);
  return 0;
}

int run_eval(const EvalOptions& o) {
  if (o.k < 1) throw Error(ErrorCode::kInvalidArgument, "--k must be at least 1");
  if (o.model_dir.empty() && !o.baselines_only)
    throw Error(ErrorCode::kInvalidArgument, "--model is required (or --baselines-only)");
  std::optional<Model> model;
  std::optional<ItemVocabulary> vocab;
  std::shared_ptr<const BasketRanker> ranker;
  if (!o.baselines_only) {
    model.emplace(Model::load(o.model_dir));
    if (model->config().kind != ModelKind::kItems)
      throw Error(ErrorCode::kInvalidArgument, o.model_dir + ": eval needs an item model");
    vocab.emplace(ModelDirectory(o.model_dir).read_items(model->config()));
    ranker = ModelDirectory(o.model_dir).read_ranker(model->config(), *vocab);
  }
  if (o.protocol == "sasrec" && (!o.repeat_weights.empty() || !o.repeat_decays.empty()))
    throw Error(ErrorCode::kInvalidArgument,
                "--repeat-weight and --repeat-decay are for the last-basket protocol");
  if (o.protocol != "need" &&
      (!o.need_weights.empty() || !o.catalog.empty() || !o.write_queries.empty()))
    throw Error(ErrorCode::kInvalidArgument,
                "--need-weight, --catalog and --write-queries are for the need protocol");
  if (o.protocol == "sasrec")
    return run_sasrec(o, model ? &*model : nullptr, vocab ? &*vocab : nullptr);
  if (!model && (!o.repeat_weights.empty() || !o.repeat_decays.empty()))
    throw Error(ErrorCode::kInvalidArgument, "--repeat-weight and --repeat-decay need a model");
  const std::vector<RepeatVariant> variants =
      model ? repeat_variants(o, model->config()) : std::vector<RepeatVariant>{};
  if (o.protocol == "need")
    return run_need(o, model ? &*model : nullptr, vocab ? &*vocab : nullptr, ranker.get(),
                    variants);
  const std::vector<CustomerBaskets> customers = read_customers(o);

  ProgressBar bar("evaluating", !o.quiet);
  const LastBasketReport r = evaluate_last_basket(
      customers, o.k, model ? &*model : nullptr, vocab ? &*vocab : nullptr, "gptrec " + o.model_dir,
      [&](std::size_t done, std::size_t total) { bar.update(done, total); }, variants,
      [&](const std::string& baseline) {
        if (!o.quiet) std::fprintf(stderr, "choosing %s on validation baskets\n", baseline.c_str());
      },
      ranker.get());
  bar.finish();

  if (o.format == "json") {
    nlohmann::ordered_json j;
    j["protocol"] = o.protocol;
    j["data"] = o.data;
    j["k"] = r.k;
    j["customers"] = r.customers;
    j["evaluated"] = {{"next_basket", r.evaluated_next}, {"discovery", r.evaluated_discovery}};
    j["universe"] = r.universe;
    nlohmann::ordered_json methods = nlohmann::ordered_json::array();
    for (const auto& m : r.methods) {
      auto metrics = [](const RankingMetrics& x) {
        return nlohmann::ordered_json{{"hr", x.hit}, {"recall", x.recall}, {"ndcg", x.ndcg}};
      };
      nlohmann::ordered_json e{{"method", m.method},
                               {"next_basket", metrics(m.next_basket)},
                               {"discovery", metrics(m.discovery)}};
      if (!m.parameters.empty()) {
        nlohmann::ordered_json p = nlohmann::ordered_json::object();
        for (const auto& [name, value] : m.parameters) p[name] = value;
        e["parameters"] = std::move(p);
      }
      methods.push_back(std::move(e));
    }
    j["methods"] = std::move(methods);
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  std::printf(
      "Protocol %s on %s: %d customers; %d evaluated (next basket), %d (discovery); %d items.\n\n",
      o.protocol.c_str(), o.data.c_str(), r.customers, r.evaluated_next, r.evaluated_discovery,
      r.universe);
  const std::string k = std::to_string(r.k);
  Table t({"method", "next HR@" + k, "Recall@" + k, "NDCG@" + k, "discovery HR@" + k, "Recall@" + k,
           "NDCG@" + k},
          {false, true, true, true, true, true, true});
  for (const auto& m : r.methods) {
    auto f = [](double v) {
      char buf[16];
      std::snprintf(buf, sizeof buf, "%.4f", v);
      return std::string(buf);
    };
    t.add({m.method, f(m.next_basket.hit), f(m.next_basket.recall), f(m.next_basket.ndcg),
           f(m.discovery.hit), f(m.discovery.recall), f(m.discovery.ndcg)});
  }
  t.print(stdout);
  bool note = false;
  for (const auto& m : r.methods) {
    if (m.parameters.empty()) continue;
    if (!note) std::printf("\nChosen on validation baskets (docs/EVALUATION.md):\n");
    note = true;
    std::string line = "  " + m.method + ":";
    for (const auto& [name, value] : m.parameters) line += " " + name + " " + format_number(value);
    std::printf("%s\n", line.c_str());
  }
  return 0;
}

}  // namespace

Runner add_eval(CLI::App& app) {
  auto o = std::make_shared<EvalOptions>();
  CLI::App* sub =
      app.add_subcommand("eval", "Evaluate a model and the classic baselines on held-out baskets");
  sub->add_option("--model", o->model_dir, "Item model directory");
  sub->add_option(
         "--data", o->data,
         "Histories, one JSON per line (.jsonl or .jsonl.gz; - for stdin); sasrec also reads "
         "\"user item [item ...]\" lines")
      ->required();
  sub->add_option("--protocol", o->protocol, "Evaluation protocol (docs/EVALUATION.md)")
      ->check(CLI::IsMember({"last-basket", "need", "sasrec"}))
      ->capture_default_str();
  sub->add_option("--k", o->k, "Cut-off of the ranking metrics")->capture_default_str();
  sub->add_option("--limit", o->limit, "Read only the first N customers");
  sub->add_flag("--baselines-only", o->baselines_only, "Score only the baselines");
  sub->add_option("--seed", o->seed,
                  "sasrec: seed of the sampled negatives; need: seed of the queries")
      ->capture_default_str();
  sub->add_option("--candidates", o->candidates,
                  "sasrec: fixed candidate lists (JSONL[.gz] of customer_id, target, negatives)");
  sub->add_option("--format", o->format, "Output format")
      ->check(CLI::IsMember({"table", "json"}))
      ->capture_default_str();
  sub->add_option("--repeat-weight", o->repeat_weights,
                  "last-basket: score the model with these repeat weights instead of its config's "
                  "ranker or repeat component (one row per weight and decay; 0 = the GPT alone)")
      ->delimiter(',');
  sub->add_option("--repeat-decay", o->repeat_decays,
                  "last-basket: ... and these repeat decays (docs/EVALUATION.md)")
      ->delimiter(',');
  sub->add_option("--need-weight", o->need_weights,
                  "need: text-match weights w, one row each: W for every method, or gptrec=W, "
                  "popularity=W, own=W; gptrec-popularity=B: gptrec's popularity exponent "
                  "(default: the model's config and the baselines' defaults)")
      ->delimiter(',');
  sub->add_option("--need-match", o->need_match,
                  "need: how a name word fits a query word (docs/EVALUATION.md)")
      ->check(CLI::IsMember({"exact", "compound"}))
      ->capture_default_str();
  sub->add_option("--catalog", o->catalog, "need: item names (default: the model's items.json)");
  sub->add_option("--write-queries", o->write_queries, "need: write the queries to this JSONL");
  sub->add_flag("--quiet", o->quiet, "No progress bar");
  return [o] { return run_eval(*o); };
}

}  // namespace gptrec::cli
