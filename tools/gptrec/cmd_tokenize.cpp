// gptrec tokenize MODEL_DIR (--text T | --file F | -): text to token ids.
// gptrec detokenize MODEL_DIR --ids 1,2,3: token ids back to the exact bytes.
// Both need only the model directory's tokenizer files, not its weights.
#include <cstdio>
#include <iostream>

#include "commands.hpp"
#include "gptrec/error.hpp"
#include "gptrec/tokenizer.hpp"
#include "input.hpp"

namespace gptrec::cli {

namespace {

struct TokenizeOptions {
  std::string model_dir;
  std::string text;
  std::string file;
  std::string stdin_dash;
  bool ids = false;
  bool tokens = false;
  bool count = false;
  bool allow_special = false;
};

// The token's vocabulary form on one line: control bytes (possible in added tokens) escaped.
std::string printable(const std::string& s) {
  std::string out;
  for (const char c : s) {
    const auto b = static_cast<unsigned char>(c);
    if (b < 0x20 || b == 0x7F) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02X", b);
      out += hex;
    } else {
      out += c;
    }
  }
  return out;
}

int run_tokenize(CLI::App& sub, const TokenizeOptions& o) {
  const bool has_text = sub.count("--text") > 0, has_file = sub.count("--file") > 0;
  const bool has_dash = !o.stdin_dash.empty();
  if (has_dash && o.stdin_dash != "-")
    throw Error(ErrorCode::kInvalidArgument, "unexpected argument '" + o.stdin_dash +
                                                 "' (use --text, --file F, or - for stdin)");
  if (has_text + has_file + has_dash != 1)
    throw Error(ErrorCode::kInvalidArgument,
                "give the text one way: --text T, --file F, or - (standard input)");
  const auto tokenizer = load_tokenizer(o.model_dir);
  const std::string text = has_text ? o.text : read_input(has_file ? o.file : "-");
  // An item vocabulary's special tokens (<bos>, <sep>) are its structure, always read as such.
  const bool allow_special = o.allow_special || tokenizer->kind() == "items";
  const std::vector<int> ids = tokenizer->encode(text, allow_special);

  if (o.count) {
    std::printf("%zu\n", ids.size());
  } else if (o.tokens) {
    for (const int id : ids)
      std::printf("%d\t%s\n", id, printable(tokenizer->token_text(id)).c_str());
  } else {
    std::string line;
    for (const int id : ids) {
      if (!line.empty()) line += ',';
      line += std::to_string(id);
    }
    std::printf("%s\n", line.c_str());
  }
  return 0;
}

struct DetokenizeOptions {
  std::string model_dir;
  std::vector<int> ids;
};

int run_detokenize(const DetokenizeOptions& o) {
  const auto tokenizer = load_tokenizer(o.model_dir);
  const std::string bytes = tokenizer->decode(o.ids);
  if (std::fwrite(bytes.data(), 1, bytes.size(), stdout) != bytes.size() ||
      std::fflush(stdout) != 0)
    throw Error(ErrorCode::kIo, "<stdout>: write failed");
  return 0;
}

}  // namespace

Runner add_tokenize(CLI::App& app) {
  auto o = std::make_shared<TokenizeOptions>();
  CLI::App* sub =
      app.add_subcommand("tokenize", "Text to token ids (needs only the tokenizer files)");
  sub->add_option("--model,MODEL_DIR", o->model_dir,
                  "Model directory or a folder of tokenizer files (--model or the first argument)")
      ->required();
  sub->add_option("INPUT", o->stdin_dash, "- to read the text from standard input");
  auto* text = sub->add_option("--text", o->text, "The text");
  auto* file = sub->add_option("--file", o->file,
                               "Read the text from a file (- for stdin), bytes as they are");
  text->excludes(file);
  auto* ids = sub->add_flag("--ids", o->ids, "Print the ids, comma-separated (the default)");
  auto* tokens =
      sub->add_flag("--tokens", o->tokens, "Print one token per line: id, tab, token text");
  auto* count = sub->add_flag("--count", o->count, "Print the number of tokens");
  ids->excludes(tokens)->excludes(count);
  tokens->excludes(count);
  sub->add_flag("--allow-special", o->allow_special,
                "Read special-token text (\"<|endoftext|>\") as the special token");
  return [o, sub] { return run_tokenize(*sub, *o); };
}

Runner add_detokenize(CLI::App& app) {
  auto o = std::make_shared<DetokenizeOptions>();
  CLI::App* sub = app.add_subcommand("detokenize", "Token ids to text, written byte for byte");
  sub->add_option("--model,MODEL_DIR", o->model_dir,
                  "Model directory or a folder of tokenizer files (--model or the first argument)")
      ->required();
  sub->add_option("--ids", o->ids, "Token ids, comma- or space-separated")
      ->delimiter(',')
      ->required();
  return [o] { return run_detokenize(*o); };
}

}  // namespace gptrec::cli
