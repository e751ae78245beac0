// gptrec serve: runs gptrec-serve, the HTTP server installed beside gptrec, with the same
// arguments. The server is its own executable so that gptrec contains no socket code.
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "commands.hpp"
#include "gptrec/error.hpp"

namespace gptrec::cli {

Runner add_serve(CLI::App& app) {
  CLI::App* sub = app.add_subcommand(
      "serve", "Suggestions over HTTP (gptrec serve --help lists the server's options)");
  sub->prefix_command();  // every argument after "serve" is the server's,
  sub->set_help_flag();   // --help included
  return [sub] {
    std::error_code ec;
    const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
    const auto server = (ec ? std::filesystem::path(".") : exe.parent_path()) / "gptrec-serve";
    std::vector<std::string> args = sub->remaining();
    std::vector<char*> argv;
    std::string name = "gptrec-serve";
    argv.push_back(name.data());
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(server.c_str(), argv.data());
    throw Error(ErrorCode::kIo, server.string() + ": cannot run the server (" +
                                    std::strerror(errno) +
                                    "; it is built with libcpp-httplib-dev installed)");
    return 1;
  };
}

}  // namespace gptrec::cli
