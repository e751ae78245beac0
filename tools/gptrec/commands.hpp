// The subcommands of the gptrec CLI. Each `add_*` registers a subcommand on the app and returns
// the function that runs it once the command line is parsed (and returns the exit status).
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

#include "gptrec/recommender.hpp"

namespace gptrec::cli {

using Runner = std::function<int()>;

Runner add_info(CLI::App& app);
Runner add_logprobs(CLI::App& app);
Runner add_generate(CLI::App& app);
Runner add_perplexity(CLI::App& app);
Runner add_tokenize(CLI::App& app);
Runner add_detokenize(CLI::App& app);
Runner add_suggest(CLI::App& app);
Runner add_eval(CLI::App& app);
Runner add_score(CLI::App& app);
Runner add_quantize(CLI::App& app);

// suggest's and score's --mode (mixed, buy-again, discover, all; README "suggest"), stored as text
// that parse_suggest_mode accepts.
CLI::Option* add_mode_option(CLI::App* sub, std::string& mode);

// The options of a request that `suggest` and `score` share: --need, --min-price, --max-price,
// written into `options` (RecommendOptions::need, min_price, max_price) when given.
void add_need_options(CLI::App* sub, gptrec::RecommendOptions& options);

// `suggest`'s exit status when no product fits --need: the suggestions without the need were
// printed, flagged (README "Exit status").
inline constexpr int kExitNeedFallback = 6;

}  // namespace gptrec::cli
