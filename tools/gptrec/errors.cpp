#include "errors.hpp"

#include <exception>
#include <iostream>
#include <new>

#include "gptrec/error.hpp"

namespace gptrec::cli {

void print_error(const std::string& message) {
  std::string line = message;
  for (char& ch : line)
    if (ch == '\n' || ch == '\r') ch = ' ';
  std::cerr << "gptrec: error: " << line << "\n";
}

int run_reporting_errors(const std::function<int()>& body) {
  try {
    return body();
  } catch (const Error& e) {
    print_error(e.what());
    return static_cast<int>(e.code());
  } catch (const std::bad_alloc&) {
    print_error("out of memory");
    return 1;
  } catch (const std::exception& e) {
    print_error(std::string("internal error: ") + e.what());
    return 1;
  }
}

}  // namespace gptrec::cli
