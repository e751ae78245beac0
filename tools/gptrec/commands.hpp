// The subcommands of the gptrec CLI. Each `add_*` registers a subcommand on the app and returns
// the function that runs it once the command line is parsed (and returns the exit status).
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

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

}  // namespace gptrec::cli
