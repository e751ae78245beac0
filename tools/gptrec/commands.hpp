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
Runner add_import(CLI::App& app);
Runner add_serve(CLI::App& app);

// The flags of a request's options (request_options.hpp: --top, --mode, ..., written into
// `options` when given); with suggest false, only the options of every record of a batch (score).
void add_request_flags(CLI::App* sub, gptrec::RecommendOptions& options, bool suggest);

// `suggest`'s exit status when no product fits --need: the suggestions without the need were
// printed, flagged (README "Exit status").
inline constexpr int kExitNeedFallback = 6;

}  // namespace gptrec::cli
