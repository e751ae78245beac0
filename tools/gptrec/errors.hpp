// How the gptrec executables (gptrec, gptrec-serve) report an error: one line on standard error,
// and the exit status of main.cpp's table (gptrec::ErrorCode; 1 for anything else).
#pragma once

#include <functional>
#include <string>

namespace gptrec::cli {

// "gptrec: error: MESSAGE" on standard error, line breaks in MESSAGE turned into spaces.
void print_error(const std::string& message);

// Runs `body` and returns its exit status; an exception it throws is printed as one line and
// mapped to an exit status (gptrec::Error: its code; out of memory and anything else: 1).
int run_reporting_errors(const std::function<int()>& body);

}  // namespace gptrec::cli
