// gptrec: command-line front end of the library. It uses only the public API.
//
// Exit status: 0 success; 1 internal error; 2 bad command line; 3 bad input data;
// 4 bad model directory; 5 file I/O error.
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <new>
#include <string>

#include "commands.hpp"
#include "errors.hpp"
#include "gptrec/error.hpp"
#include "gptrec/model.hpp"
#include "gptrec/version.hpp"

namespace {

using gptrec::cli::print_error;

// A command-line error as one line: the first unknown option when there is one (CLI11 reports a
// missing required option first, which would hide a misspelt one), and the help to run.
int report_parse_error(CLI::App& app, const CLI::ParseError& e) {
  const CLI::App* command = nullptr;
  for (const CLI::App* sub : app.get_subcommands()) command = sub;
  const std::string name = command != nullptr ? "gptrec " + command->get_name() : "gptrec";
  const std::string help = " (run '" + name + " --help')";
  for (const std::string& arg : command != nullptr ? command->remaining() : app.remaining())
    if (arg.size() > 1 && arg[0] == '-' && !std::isdigit(static_cast<unsigned char>(arg[1]))) {
      print_error("unknown option '" + arg.substr(0, arg.find('=')) + "' for '" + name + "'" +
                  help);
      return 2;
    }
  print_error(e.what() + help);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"gptrec: personalized shopping suggestions from a GPT model"};
  app.set_version_flag("--version", std::string("gptrec ") + gptrec::kVersion);
  app.require_subcommand(1);
  app.footer(
      "Exit status: 0 success, 1 internal error, 2 bad command line, 3 bad input data,\n"
      "4 bad model directory, 5 file I/O error.");

  std::map<CLI::App*, gptrec::cli::Runner> runners;
  auto add = [&](gptrec::cli::Runner (*adder)(CLI::App&)) {
    const std::size_t before = app.get_subcommands({}).size();
    auto runner = adder(app);
    runners[app.get_subcommands({})[before]] = std::move(runner);
  };
  add(gptrec::cli::add_suggest);
  add(gptrec::cli::add_score);
  add(gptrec::cli::add_eval);
  add(gptrec::cli::add_info);
  add(gptrec::cli::add_logprobs);
  add(gptrec::cli::add_generate);
  add(gptrec::cli::add_perplexity);
  add(gptrec::cli::add_tokenize);
  add(gptrec::cli::add_detokenize);
  add(gptrec::cli::add_quantize);
  add(gptrec::cli::add_import);
  add(gptrec::cli::add_serve);

  // Threads inside each forward pass: --threads on the commands that run one query at a time (score
  // has its own --threads, its worker count), else GPTREC_THREADS, else all cores.
  int op_threads = -1;
  for (CLI::App* sub : app.get_subcommands({}))
    if (sub->get_name() != "score" && sub->get_name() != "tokenize" &&
        sub->get_name() != "detokenize" && sub->get_name() != "info" &&
        sub->get_name() != "quantize" && sub->get_name() != "import" && sub->get_name() != "serve")
      sub->add_option("--threads", op_threads,
                      "Threads inside each forward pass (default: GPTREC_THREADS, else all cores)")
          ->check(CLI::NonNegativeNumber);

  auto is_command = [&](const std::string& name) {
    for (const CLI::App* sub : app.get_subcommands({}))
      if (sub->get_name() == name) return true;
    return false;
  };
  if (argc > 1 && argv[1][0] != '-' && !is_command(argv[1])) {
    print_error(std::string("unknown command '") + argv[1] + "' (run 'gptrec --help')");
    return 2;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return report_parse_error(app, e);
  }

  if (op_threads < 0) {
    op_threads = 0;
    if (const char* env = std::getenv("GPTREC_THREADS"); env != nullptr && *env != '\0') {
      char* end = nullptr;
      const long n = std::strtol(env, &end, 10);
      if (*end != '\0' || n < 0 || n > 4096) {
        print_error(std::string("GPTREC_THREADS=") + env +
                    ": expected a thread count (0 = all cores)");
        return 2;
      }
      op_threads = static_cast<int>(n);
    }
  }
  gptrec::set_op_threads(op_threads);

  return gptrec::cli::run_reporting_errors([&] {
    for (CLI::App* sub : app.get_subcommands()) return runners.at(sub)();
    return 2;
  });
}
