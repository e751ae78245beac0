// gptrec eval: offline evaluation of a model against the classic baselines on held-out baskets
// (docs/EVALUATION.md).
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "format.hpp"
#include "gptrec/error.hpp"
#include "gptrec/evaluation.hpp"
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
  std::string format = "table";
  bool quiet = false;
};

std::vector<CustomerBaskets> read_customers(const EvalOptions& o) {
  std::vector<CustomerBaskets> customers;
  LineReader reader(o.data);
  std::string line;
  long long bad = 0;
  std::string first_error;
  ProgressBar bar("reading", !o.quiet);
  while (reader.next(line)) {
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    try {
      const History h = parse_history(line, o.data + ":" + std::to_string(reader.line_number()));
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
    warn(std::to_string(bad) + " bad line" + (bad == 1 ? "" : "s") + " skipped; the first: " + first_error);
  if (customers.empty()) throw Error(ErrorCode::kBadInput, o.data + ": no customer histories");
  return customers;
}

int run_eval(const EvalOptions& o) {
  if (o.k < 1) throw Error(ErrorCode::kInvalidArgument, "--k must be at least 1");
  if (o.model_dir.empty() && !o.baselines_only)
    throw Error(ErrorCode::kInvalidArgument, "--model is required (or --baselines-only)");
  std::optional<Model> model;
  std::optional<ItemVocabulary> vocab;
  if (!o.baselines_only) {
    model.emplace(Model::load(o.model_dir));
    if (model->config().kind != ModelKind::kItems)
      throw Error(ErrorCode::kInvalidArgument, o.model_dir + ": eval needs an item model");
    vocab.emplace(ItemVocabulary::load(std::filesystem::path(o.model_dir) / "items.json"));
  }
  const std::vector<CustomerBaskets> customers = read_customers(o);

  ProgressBar bar("evaluating", !o.quiet);
  const LastBasketReport r = evaluate_last_basket(
      customers, o.k, model ? &*model : nullptr, vocab ? &*vocab : nullptr, "gptrec " + o.model_dir,
      [&](std::size_t done, std::size_t total) { bar.update(done, total); });
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
      methods.push_back({{"method", m.method}, {"next_basket", metrics(m.next_basket)},
                         {"discovery", metrics(m.discovery)}});
    }
    j["methods"] = std::move(methods);
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  std::printf("Protocol %s on %s: %d customers; %d evaluated (next basket), %d (discovery); %d items.\n\n",
              o.protocol.c_str(), o.data.c_str(), r.customers, r.evaluated_next, r.evaluated_discovery,
              r.universe);
  const std::string k = std::to_string(r.k);
  Table t({"method", "next HR@" + k, "Recall@" + k, "NDCG@" + k, "discovery HR@" + k, "Recall@" + k, "NDCG@" + k},
          {false, true, true, true, true, true, true});
  for (const auto& m : r.methods) {
    auto f = [](double v) {
      char buf[16];
      std::snprintf(buf, sizeof buf, "%.4f", v);
      return std::string(buf);
    };
    t.add({m.method, f(m.next_basket.hit), f(m.next_basket.recall), f(m.next_basket.ndcg), f(m.discovery.hit),
           f(m.discovery.recall), f(m.discovery.ndcg)});
  }
  t.print(stdout);
  return 0;
}

}  // namespace

Runner add_eval(CLI::App& app) {
  auto o = std::make_shared<EvalOptions>();
  CLI::App* sub = app.add_subcommand("eval", "Evaluate a model and the classic baselines on held-out baskets");
  sub->add_option("--model", o->model_dir, "Item model directory");
  sub->add_option("--data", o->data, "Histories, one JSON per line (.jsonl or .jsonl.gz; - for stdin)")
      ->required();
  sub->add_option("--protocol", o->protocol, "Evaluation protocol (docs/EVALUATION.md)")
      ->check(CLI::IsMember({"last-basket"}))
      ->capture_default_str();
  sub->add_option("--k", o->k, "Cut-off of the ranking metrics")->capture_default_str();
  sub->add_option("--limit", o->limit, "Read only the first N customers");
  sub->add_flag("--baselines-only", o->baselines_only, "Score only the baselines");
  sub->add_option("--format", o->format, "Output format")
      ->check(CLI::IsMember({"table", "json"}))
      ->capture_default_str();
  sub->add_flag("--quiet", o->quiet, "No progress bar");
  return [o] { return run_eval(*o); };
}

}  // namespace gptrec::cli
