// suggest: prints a customer's product suggestions with an installed gptrec.
//
//   suggest [--model DIR] [--top N] HISTORY.json
//
// DIR defaults to the installed default model (GPTREC_DEFAULT_MODEL, set by CMakeLists.txt).
// Output: one line per suggestion, "rank<TAB>item id<TAB>score<TAB>name". Exit status: 0, or the
// gptrec::ErrorCode of the failure (2 bad arguments, 3 bad history, 4 bad model, 5 I/O).
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <gptrec/gptrec.hpp>
#include <iterator>
#include <string>

#ifndef GPTREC_DEFAULT_MODEL
#define GPTREC_DEFAULT_MODEL ""
#endif

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw gptrec::Error(gptrec::ErrorCode::kIo, path + ": cannot open");
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

int usage() {
  std::fprintf(stderr, "usage: suggest [--model DIR] [--top N] HISTORY.json\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string model_dir = GPTREC_DEFAULT_MODEL;
  std::string history_path;
  int top = 10;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--model" && i + 1 < argc) {
      model_dir = argv[++i];
    } else if (arg == "--top" && i + 1 < argc) {
      top = std::atoi(argv[++i]);
    } else if (!arg.starts_with("-") && history_path.empty()) {
      history_path = arg;
    } else {
      return usage();
    }
  }
  if (history_path.empty()) return usage();
  if (model_dir.empty()) {
    std::fprintf(stderr, "suggest: error: no default model was installed; pass --model DIR\n");
    return 2;
  }

  try {
    const gptrec::History history = gptrec::parse_history(read_file(history_path), history_path);
    // Load once; a service would share `recommender` between threads (recommend() is const).
    const gptrec::Recommender recommender = gptrec::Recommender::load(model_dir);
    gptrec::RecommendOptions options;
    options.top_n = top;
    const gptrec::Recommendations result = recommender.recommend(history, options);

    if (result.fallback_reason)
      std::fprintf(stderr, "suggest: %s: most popular items instead\n",
                   result.fallback_reason->c_str());
    for (const gptrec::Suggestion& s : result.suggestions)
      std::printf("%d\t%s\t%.6g\t%s\n", s.rank, s.item->id.c_str(), s.score, s.item->name.c_str());
    return 0;
  } catch (const gptrec::Error& e) {
    std::fprintf(stderr, "suggest: error: %s\n", e.what());
    return static_cast<int>(e.code());
  }
}
