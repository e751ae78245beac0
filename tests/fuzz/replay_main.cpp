// Replays fuzz inputs through a target's entry function without libFuzzer, so that the ordinary
// (GCC) build checks every committed seed and crash reproducer as a test.
//
//   gptrec_fuzz_replay_<target> PATH...   (files, or directories whose files are replayed)
//
// Exit status 0 when every input passed; a failing input aborts (the last "replaying" line names
// it) or lets an exception escape, which terminates the program.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);
// Optional in a target: one-time setup (loading fixtures). Weak, so targets without it link.
extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) __attribute__((weak));

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s PATH... (files or directories of fuzz inputs)\n", argv[0]);
    return 2;
  }
  std::vector<std::filesystem::path> inputs;
  for (int i = 1; i < argc; ++i) {
    const std::filesystem::path path = argv[i];
    if (std::filesystem::is_directory(path)) {
      std::vector<std::filesystem::path> files;
      for (const auto& entry : std::filesystem::directory_iterator(path))
        if (entry.is_regular_file() && entry.path().filename() != "README.md")
          files.push_back(entry.path());
      std::sort(files.begin(), files.end());  // a stable order, so failures reproduce
      inputs.insert(inputs.end(), files.begin(), files.end());
    } else if (std::filesystem::is_regular_file(path)) {
      inputs.push_back(path);
    } else {
      std::fprintf(stderr, "%s: not a file or directory\n", path.c_str());
      return 2;
    }
  }
  if (inputs.empty()) {
    std::fprintf(stderr, "no inputs to replay\n");
    return 2;
  }
  if (LLVMFuzzerInitialize != nullptr) LLVMFuzzerInitialize(&argc, &argv);
  for (const auto& path : inputs) {
    std::fprintf(stderr, "replaying %s\n", path.c_str());
    std::ifstream in(path, std::ios::binary);
    const std::vector<char> bytes((std::istreambuf_iterator<char>(in)),
                                  std::istreambuf_iterator<char>());
    if (!in.eof() && in.fail()) {
      std::fprintf(stderr, "%s: cannot read\n", path.c_str());
      return 2;
    }
    // A copy of exactly `size` bytes on the heap, as libFuzzer passes it: ASan then sees a read
    // past the end.
    std::vector<std::uint8_t> data(bytes.begin(), bytes.end());
    static std::uint8_t empty_input = 0;  // never a null pointer, as with libFuzzer
    LLVMFuzzerTestOneInput(data.empty() ? &empty_input : data.data(), data.size());
  }
  std::fprintf(stderr, "%zu inputs replayed\n", inputs.size());
  return 0;
}
