// gptrec logprobs MODEL_DIR (--ids ... | --text T): per position, the log-probability of the next
// given token and the most likely next tokens. JSON output carries full float precision so that
// others can compare gptrec with a reference implementation. With --text, the model directory's
// tokenizer makes the ids, and each token's text is shown beside its id.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <numeric>

#include "commands.hpp"
#include "gptrec/error.hpp"
#include "gptrec/model.hpp"
#include "gptrec/tokenizer.hpp"

namespace gptrec::cli {

namespace {

struct LogprobsOptions {
  std::string model_dir;
  std::vector<int> ids;
  std::string text;
  bool has_text = false;
  bool allow_special = false;
  int top = 5;
  std::string format = "table";
};

int run_logprobs(LogprobsOptions o) {
  if (o.top < 0) throw Error(ErrorCode::kInvalidArgument, "--top: must be 0 or more");
  std::unique_ptr<Tokenizer> tokenizer;
  if (o.has_text) {
    tokenizer = load_tokenizer(o.model_dir);
    o.ids = tokenizer->encode(o.text, o.allow_special || tokenizer->kind() == "items");
    if (o.ids.empty()) throw Error(ErrorCode::kInvalidArgument, "--text: the text has no tokens");
  }
  if (o.ids.empty()) throw Error(ErrorCode::kInvalidArgument, "--ids: no token ids given");
  const Model model = Model::load(o.model_dir);
  if (tokenizer && tokenizer->vocab_size() > model.config().vocab_size)
    throw Error(ErrorCode::kBadModel, o.model_dir + ": the tokenizer has " +
                                          std::to_string(tokenizer->vocab_size()) +
                                          " tokens, more than the model's vocab_size " +
                                          std::to_string(model.config().vocab_size));
  Session session(model, std::min<int>(model.config().n_ctx, static_cast<int>(o.ids.size())));
  const ConstMatrixRef logits = session.append(o.ids, Logits::kAll);
  // A token's text for display, or "" for ids of a padded vocabulary that the tokenizer lacks.
  auto text_of = [&](int id) {
    if (id >= tokenizer->vocab_size()) return std::string();
    try {
      return tokenizer->token_text(id);
    } catch (const Error&) {
      return std::string();
    }
  };

  const auto top_n = static_cast<std::size_t>(std::min(o.top, model.config().vocab_size));
  nlohmann::ordered_json positions = nlohmann::ordered_json::array();
  std::vector<int> order(static_cast<std::size_t>(model.config().vocab_size));
  std::vector<double> log_probs;  // log-probabilities of the next token
  for (std::size_t t = 0; t < o.ids.size(); ++t) {
    log_softmax(std::span<const float>(logits.row(static_cast<Eigen::Index>(t)).data(),
                                       static_cast<std::size_t>(logits.cols())),
                log_probs);
    std::iota(order.begin(), order.end(), 0);
    std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(top_n),
                      order.end(), [&](int a, int b) {
                        return log_probs[a] > log_probs[b] ||
                               (log_probs[a] == log_probs[b] && a < b);
                      });
    nlohmann::ordered_json p;
    p["position"] = t;
    p["token"] = o.ids[t];
    if (tokenizer) p["token_text"] = text_of(o.ids[t]);
    if (t + 1 < o.ids.size()) {
      p["next_token"] = o.ids[t + 1];
      p["next_logprob"] = log_probs[static_cast<std::size_t>(o.ids[t + 1])];
    } else {
      p["next_token"] = nullptr;
      p["next_logprob"] = nullptr;
    }
    nlohmann::ordered_json top = nlohmann::ordered_json::array();
    for (std::size_t k = 0; k < top_n; ++k) {
      nlohmann::ordered_json e = {{"token", order[k]},
                                  {"logprob", log_probs[static_cast<std::size_t>(order[k])]}};
      if (tokenizer) e["token_text"] = text_of(order[k]);
      top.push_back(std::move(e));
    }
    p["top"] = std::move(top);
    positions.push_back(std::move(p));
  }

  if (o.format == "json") {
    nlohmann::ordered_json j;
    j["model_dir"] = o.model_dir;
    j["tokens"] = o.ids;
    if (tokenizer) j["text"] = o.text;
    j["positions"] = std::move(positions);
    std::cout << j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return 0;
  }
  std::printf("%5s %8s %8s %12s  %s\n", "pos", "token", "next", "logprob", "top next tokens");
  // With --text, each token's text follows on its own line; strings may hold any bytes, so they
  // are shown as JSON strings.
  auto shown = [](const nlohmann::ordered_json& e) {
    return e["token_text"].dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  };
  for (const auto& p : positions) {
    char next[16] = "-", lp[24] = "-";
    if (!p["next_token"].is_null()) {
      std::snprintf(next, sizeof next, "%d", p["next_token"].get<int>());
      std::snprintf(lp, sizeof lp, "%.6f", p["next_logprob"].get<double>());
    }
    std::string top;
    for (const auto& e : p["top"]) {
      char buf[48];
      std::snprintf(buf, sizeof buf, "%s%d:%.4f", top.empty() ? "" : "  ", e["token"].get<int>(),
                    e["logprob"].get<double>());
      top += buf;
      if (tokenizer) top += " " + shown(e);
    }
    std::printf("%5zu %8d %8s %12s  %s\n", p["position"].get<std::size_t>(), p["token"].get<int>(),
                next, lp, top.c_str());
    if (tokenizer) std::printf("%5s %s\n", "", shown(p).c_str());
  }
  return 0;
}

}  // namespace

Runner add_logprobs(CLI::App& app) {
  auto o = std::make_shared<LogprobsOptions>();
  CLI::App* sub = app.add_subcommand(
      "logprobs", "Log-probabilities of each next token and the top next tokens, per position");
  sub->add_option("--model,MODEL_DIR", o->model_dir,
                  "Model directory (--model or the first argument)")
      ->required();
  auto* ids =
      sub->add_option("--ids", o->ids, "Token ids, comma- or space-separated")->delimiter(',');
  auto* text = sub->add_option("--text", o->text, "Text, tokenized with the model's tokenizer");
  ids->excludes(text);
  sub->add_flag("--allow-special", o->allow_special,
                "With --text: read \"<|endoftext|>\" as the special token");
  sub->add_option("--top", o->top, "How many most likely next tokens to list per position")
      ->capture_default_str();
  sub->add_option("--format", o->format, "Output format")
      ->check(CLI::IsMember({"table", "json"}))
      ->capture_default_str();
  return [o, sub] {
    o->has_text = sub->count("--text") > 0;
    if (!o->has_text && sub->count("--ids") == 0)
      throw Error(ErrorCode::kInvalidArgument, "give the tokens with --ids or --text");
    return run_logprobs(*o);
  };
}

}  // namespace gptrec::cli
