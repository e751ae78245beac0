// The bad-input catalogue: one table of hostile or broken inputs run through the real CLI, each
// under a 4 GiB address-space limit (ulimit -v), so that "bounded memory" is a checked property.
//
// Every case must: exit with its documented status (non-zero, or 0 for a documented fallback)
// below 128 (no crash), print exactly one line on stderr naming the problem, leave no output file
// behind when it fails before writing (score writes complete lines only), and stay inside the
// memory limit (an allocation failure would be exit 1 "out of memory" and fail the case).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

#include "gptrec/safetensors.hpp"
#include "test_util.hpp"

namespace fs = std::filesystem;
using gptrec::test::read_file;
using gptrec::test::write_file;

namespace {

constexpr rlim_t kAddressSpaceLimit = rlim_t{4} << 30;
// A sanitizer build reserves terabytes of address space for its shadow memory: there the cases
// run without the limit (memory is bounded in the ordinary build) and the case that needs it is
// skipped.
#ifdef GPTREC_TEST_SANITIZED
constexpr bool kLimitAddressSpace = false;
#else
constexpr bool kLimitAddressSpace = true;
#endif

// How one case runs the CLI. Paths are made by the case inside its own temporary directory.
struct Invocation {
  std::vector<std::string> args;
  std::string stdin_text;     // fed through a file
  bool close_stdin = false;   // run with fd 0 closed
  bool close_stdout = false;  // run with fd 1 closed
};

Invocation command(std::vector<std::string> args) {
  Invocation inv;
  inv.args = std::move(args);
  return inv;
}

using Outcome = gptrec::test::CliResult;

Outcome run_limited(const Invocation& inv) {
  gptrec::test::CliOptions options;
  options.stdin_text = inv.stdin_text;
  options.close_stdin = inv.close_stdin;
  options.close_stdout = inv.close_stdout;
  if (kLimitAddressSpace) options.address_space_limit = kAddressSpaceLimit;
  return gptrec::test::run_cli_with(inv.args, options);
}

fs::path fixture_model() { return gptrec::test::model_dir("tiny-items"); }
fs::path fixture_history() { return fixture_model() / "history.json"; }

// A writable copy of the tiny-items model in dir/model.
fs::path copy_model(const fs::path& dir) {
  gptrec::test::copy_dir(fixture_model(), dir / "model");
  return dir / "model";
}

// The 8-byte little-endian header length of a safetensors file, then the header text.
std::string safetensors_prefix(std::uint64_t header_length, const std::string& header) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i)
    out[static_cast<std::size_t>(i)] = static_cast<char>((header_length >> (8 * i)) & 0xff);
  return out + header;
}

// Rewrites the tiny model's wte.weight element 0 (F32) to `value`.
void poison_first_weight(const fs::path& model, float value) {
  const auto file = gptrec::SafetensorsFile::open(model / "model.safetensors");
  const gptrec::TensorInfo* wte = file.find("wte.weight");
  if (wte == nullptr || wte->dtype != gptrec::DType::kF32)
    throw std::runtime_error("unexpected fixture");
  std::uint64_t header = 0;
  std::string bytes = read_file(model / "model.safetensors");
  for (int i = 7; i >= 0; --i)
    header = (header << 8) | static_cast<unsigned char>(bytes[static_cast<std::size_t>(i)]);
  std::memcpy(bytes.data() + 8 + header + wte->begin, &value, sizeof value);
  write_file(model / "model.safetensors", bytes);
}

// A file of `size` bytes that starts with `head` and is a hole after it (no disk space used).
void write_sparse(const fs::path& path, const std::string& head, std::uint64_t size) {
  write_file(path, head);
  fs::resize_file(path, size);
}

// Compact one-line JSON of the fixture history, and a second good record.
std::string good_line() { return nlohmann::json::parse(read_file(fixture_history())).dump(); }
std::string other_good_line() {
  return R"({"customer_id": "c2", "events": [{"item": "22423"}, {"item": "85123A"}]})";
}

std::string nested(std::size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); }

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

using Prepare = std::function<Invocation(const fs::path& dir)>;
using Check = std::function<void(const Outcome&, const fs::path& dir)>;

struct Case {
  Case(std::string name_, int status_, std::string stderr_has_, Prepare prepare_,
       std::string no_output_file_ = "",
       std::string stderr_prefix_ = "gptrec: error: ", Check check_ = nullptr)
      : name(std::move(name_)),
        status(status_),
        stderr_has(std::move(stderr_has_)),
        prepare(std::move(prepare_)),
        no_output_file(std::move(no_output_file_)),
        stderr_prefix(std::move(stderr_prefix_)),
        check(std::move(check_)) {}

  std::string name;
  int status;              // the documented exit status
  std::string stderr_has;  // the one stderr line contains this ("": stderr is empty)
  Prepare prepare;
  std::string no_output_file;  // an output file the command must not leave behind (relative to dir)
  std::string stderr_prefix;
  Check check;  // extra checks, optional
  bool needs_address_limit = false;
};

Invocation suggest(const fs::path& model, const std::string& history,
                   std::vector<std::string> extra = {}) {
  Invocation inv = command({"suggest", "--model", model.string(), "--history", history});
  inv.args.insert(inv.args.end(), extra.begin(), extra.end());
  return inv;
}

Invocation suggest_fixture(std::vector<std::string> extra) {
  return suggest(fixture_model(), fixture_history().string(), std::move(extra));
}

// suggest with a history document written by the case.
std::function<Invocation(const fs::path&)> suggest_history(std::string text) {
  return [text](const fs::path& dir) {
    write_file(dir / "history.json", text);
    return suggest(fixture_model(), (dir / "history.json").string());
  };
}

// suggest on a copy of the model that `spoil` damages.
std::function<Invocation(const fs::path&)> spoiled_model(
    std::function<void(const fs::path&)> spoil) {
  return [spoil](const fs::path& dir) {
    const fs::path model = copy_model(dir);
    spoil(model);
    return suggest(model, fixture_history().string());
  };
}

std::function<Invocation(const fs::path&)> suggest_catalog(std::string text) {
  return [text](const fs::path& dir) {
    write_file(dir / "catalog.json", text);
    return suggest_fixture({"--catalog", (dir / "catalog.json").string()});
  };
}

Invocation score(const fs::path& dir, const std::string& input,
                 std::vector<std::string> extra = {}) {
  Invocation inv = command({"score", "--model", fixture_model().string(), "--input", input,
                            "--output", (dir / "out.jsonl").string(), "--quiet"});
  inv.args.insert(inv.args.end(), extra.begin(), extra.end());
  return inv;
}

// score's output for a run with one bad record among good ones: every input line has its output
// line, in order; the good ones are complete results, the bad one an error record.
void expect_good_records_kept(const fs::path& dir, std::size_t bad_index, std::size_t total,
                              const std::string& error_has) {
  const auto lines = lines_of(read_file(dir / "out.jsonl"));
  ASSERT_EQ(lines.size(), total);
  for (std::size_t k = 0; k < total; ++k) {
    const auto record = nlohmann::json::parse(lines[k]);
    EXPECT_EQ(record["line"], k + 1);
    if (k == bad_index) {
      EXPECT_NE(record["error"].get<std::string>().find(error_has), std::string::npos) << record;
    } else {
      EXPECT_FALSE(record.contains("error")) << record;
      EXPECT_EQ(record["suggestions"].size(), 10u) << record;
    }
  }
}

const std::vector<Case>& cases() {
  static const std::vector<Case> all = [] {
    std::vector<Case> all = {
        // ---- model directory (exit 4)
        {"model_dir_missing", 4, "does not exist",
         [](const fs::path& dir) { return suggest(dir / "nope", fixture_history().string()); }},
        {"model_weights_truncated", 4, "model.safetensors: tensor",
         spoiled_model([](const fs::path& m) {
           const std::string bytes = read_file(m / "model.safetensors");
           write_file(m / "model.safetensors", bytes.substr(0, bytes.size() / 2));
         })},
        {"model_weights_empty", 4, "model.safetensors: truncated: 0 bytes",
         spoiled_model([](const fs::path& m) { write_file(m / "model.safetensors", ""); })},
        {"model_header_corrupt", 4, "model.safetensors: header: not valid JSON",
         spoiled_model([](const fs::path& m) {
           std::string bytes = read_file(m / "model.safetensors");
           bytes.replace(8, 6, "\xff{]\x01\"x");
           write_file(m / "model.safetensors", bytes);
         })},
        {"model_header_length_near_2_64", 4, "header length 18446744073709551608 runs past the end",
         spoiled_model([](const fs::path& m) {
           write_file(m / "model.safetensors", safetensors_prefix(~std::uint64_t{7}, "{}      "));
         })},
        {"model_header_over_100MB", 4, "is larger than the limit of 104857600",
         spoiled_model([](const fs::path& m) {
           write_sparse(m / "model.safetensors",
                        safetensors_prefix((std::uint64_t{100} << 20) + 8, "{"),
                        (std::uint64_t{100} << 20) + 64);
         })},
        {"model_shape_overflows", 4, "holds more elements than the file",
         spoiled_model([](const fs::path& m) {
           const std::string header =
               R"({"wte.weight": {"dtype": "F32", "shape": [4294967296, 4294967296, 16], "data_offsets": [0, 64]}})";
           write_file(m / "model.safetensors",
                      safetensors_prefix(header.size(), header) + std::string(64, '\0'));
         })},
        {"model_weight_nan", 4, "tensor wte.weight: element 0 is NaN",
         spoiled_model([](const fs::path& m) { poison_first_weight(m, std::nanf("")); })},
        {"model_weight_inf", 4, "tensor wte.weight: element 0 is infinite",
         spoiled_model([](const fs::path& m) { poison_first_weight(m, -INFINITY); })},
        // A 5 GiB weights file (sparse) cannot be mapped under the 4 GiB limit: a clean error.
        {"model_weights_larger_than_memory", 4, "model.safetensors: cannot map",
         spoiled_model([](const fs::path& m) {
           const std::string header =
               R"({"wte.weight": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}})";
           write_sparse(m / "model.safetensors", safetensors_prefix(header.size(), header),
                        std::uint64_t{5} << 30);
         })},
        {"config_not_json", 4, "config.json: not valid JSON", spoiled_model([](const fs::path& m) {
           write_file(m / "config.json", "{\"vocab_size\": 454,");
         })},
        {"config_not_utf8", 4, "config.json: not valid JSON", spoiled_model([](const fs::path& m) {
           write_file(m / "config.json", "{\"vocab_\xc0\xafsize\": 454}");
         })},
        {"config_nested_100000_deep", 4, "config.json: gptrec[0][0]",
         spoiled_model([](const fs::path& m) {
           write_file(m / "config.json", "{\"gptrec\": " + nested(100'000) + "}");
         }),
         "", "gptrec: error: ",
         [](const Outcome& o, const fs::path&) {
           EXPECT_NE(o.err.find(": nested deeper than 64 levels"), std::string::npos);
         }},
        {"config_duplicate_key", 4, "config.json: key \"n_embd\" appears twice",
         spoiled_model([](const fs::path& m) {
           std::string text = read_file(m / "config.json");
           text.insert(text.find('{') + 1, "\"n_embd\": 64, ");
           write_file(m / "config.json", text);
         })},
        {"config_wrong_type", 4, "\"n_layer\": expected an integer, got \"2\"",
         spoiled_model([](const fs::path& m) {
           auto j = nlohmann::json::parse(read_file(m / "config.json"));
           j["n_layer"] = "2";
           write_file(m / "config.json", j.dump());
         })},
        {"config_disagrees_with_weights", 4,
         "tensor wte.weight: shape [454, 32], expected [454, 64]",
         spoiled_model([](const fs::path& m) {
           auto j = nlohmann::json::parse(read_file(m / "config.json"));
           j["n_embd"] = 64;
           write_file(m / "config.json", j.dump());
         })},
        {"items_json_missing", 4, "items.json: missing",
         spoiled_model([](const fs::path& m) { fs::remove(m / "items.json"); })},
        {"items_json_duplicate_id", 4, "items.json: items[1].id: \"22423\" appears twice",
         spoiled_model([](const fs::path& m) {
           auto j = nlohmann::json::parse(read_file(m / "items.json"));
           j["items"][1]["id"] = "22423";
           write_file(m / "items.json", j.dump());
         })},

        // ---- customer history (exit 3; files that cannot be read: 5)
        {"history_not_utf8", 3, "history.json: not valid JSON",
         suggest_history("{\"events\": [{\"item\": \"224\xff\xfe\"}]}")},
        {"history_nested_100000_deep", 3, "history.json: events[0].item[0][0]",
         suggest_history("{\"events\": [{\"item\": " + nested(100'000) + "}]}"), "",
         "gptrec: error: ",
         [](const Outcome& o, const fs::path&) {
           EXPECT_NE(o.err.find(": nested deeper than 64 levels"), std::string::npos);
         }},
        {"history_duplicate_key", 3, "history.json: events[0]: key \"item\" appears twice",
         suggest_history(R"({"events": [{"item": "22423", "item": "85123A"}]})")},
        {"history_wrong_type", 3,
         "history.json: events[0].item: expected a non-empty string, got a boolean",
         suggest_history(R"({"events": [{"item": true}]})")},
        {"history_number_overflow", 3, "history.json: not valid JSON",
         suggest_history(R"({"events": [{"item": "22423", "quantity": 1e400}]})")},
        {"history_empty_file", 3, "history.json: not valid JSON", suggest_history("")},
        {"history_bad_date", 3, "history.json: [1].timestamp: not a date (\"2011-02-30\"",
         suggest_history(
             R"([{"item": "22423", "timestamp": "2011-02-01"}, {"item": "1", "timestamp": "2011-02-30"}])")},
        // Documented: the most recent 1,000,000 events are kept (the unit test
        // Hardening.LongHistoriesKeepExactlyTheMostRecentEvents checks which), and of those the
        // baskets that fit the model's context are used.
        {"history_1100000_events", 0, "",
         [](const fs::path& dir) {
           std::string text = R"({"customer_id": "big", "events": [)";
           for (int i = 0; i < 1'100'000; ++i)
             text += i == 0 ? R"({"item": "22423"})" : R"(,{"item": "85123A"})";
           write_file(dir / "history.json", text + "]}");
           return suggest(fixture_model(), (dir / "history.json").string(), {"--format", "json"});
         },
         "", "",
         [](const Outcome& o, const fs::path&) {
           const auto j = nlohmann::json::parse(o.out);
           EXPECT_EQ(j["suggestions"].size(), 10u);
           EXPECT_EQ(j["history"]["items_used"], 1);
           EXPECT_GT(j["history"]["dropped_baskets"].get<int>(), 0);
         }},
        {"history_endless", 3, "/dev/zero: larger than 256 MiB",
         [](const fs::path&) { return suggest(fixture_model(), "/dev/zero"); }},
        // Documented fallback: unknown items are skipped with one warning; with none known, the
        // most popular items are suggested and the output says so.
        {"history_only_unknown_items", 0,
         "2 purchased items are unknown to the model and skipped: nope, zzz",
         [](const fs::path& dir) {
           write_file(dir / "history.json", R"({"events": [{"item": "nope"}, {"item": "zzz"}]})");
           return suggest(fixture_model(), (dir / "history.json").string(), {"--format", "json"});
         },
         "", "gptrec: warning: ",
         [](const Outcome& o, const fs::path&) {
           const auto j = nlohmann::json::parse(o.out);
           EXPECT_EQ(j["score"], "popularity");
           EXPECT_EQ(j["fallback"], "none of the purchased items is known to the model");
         }},
        {"history_is_a_directory", 5, "read failed (Is a directory)",
         [](const fs::path& dir) { return suggest(fixture_model(), dir.string()); }},
        {"history_missing", 5, "cannot open (No such file or directory)",
         [](const fs::path& dir) {
           return suggest(fixture_model(), (dir / "nope.json").string());
         }},
        {"history_stdin_closed", 5, "<stdin>: read failed (Bad file descriptor)",
         [](const fs::path&) {
           Invocation inv = suggest(fixture_model(), "-");
           inv.close_stdin = true;
           return inv;
         }},

        // ---- catalog (exit 3)
        {"catalog_empty", 3, "catalog.json: no item to suggest", suggest_catalog("[]")},
        {"catalog_unknown_to_the_model", 3, "catalog.json: no item to suggest",
         suggest_catalog(R"([{"id": "nope"}, {"id": "zzz"}])")},
        {"catalog_duplicate_id", 3, "catalog.json: [1].id: \"22423\" appears twice",
         suggest_catalog(R"([{"id": "22423"}, {"id": "22423"}])")},
        {"catalog_wrong_type", 3, "catalog.json: [0].price: expected a number, got a string",
         suggest_catalog(R"([{"id": "22423", "price": "12.75"}])")},
        {"catalog_endless", 3, "/dev/zero: larger than 64 MiB",
         [](const fs::path&) {
           return suggest_fixture({"--catalog", "/dev/zero"});
         }},

        // ---- command line (exit 2)
        {"top_zero", 2, "--top must be at least 1, got 0",
         [](const fs::path&) {
           return suggest_fixture({"--top", "0"});
         }},
        {"top_negative", 2, "--top must be at least 1, got -5",
         [](const fs::path&) {
           return suggest_fixture({"--top", "-5"});
         }},
        {"top_beyond_int", 2, "--top",
         [](const fs::path&) {
           return suggest_fixture({"--top", "99999999999999"});
         }},
        // Documented: a --top above the number of candidates lists them all.
        {"top_huge", 0, "purchased items are unknown to the model",
         [](const fs::path&) {
           return suggest_fixture({"--top", "2147483647", "--format", "json"});
         },
         "", "gptrec: warning: ",
         [](const Outcome& o, const fs::path&) {
           const auto j = nlohmann::json::parse(o.out);
           // Every product of tiny-items: its 450 items less POST and M ("product": false).
           EXPECT_EQ(j["suggestions"].size(), 448u);
         }},
        // ---- needs: a bad need is a bad argument (exit 2); one that nothing fits gets the
        // documented fallback (exit 6: the suggestions without the need, flagged)
        {"need_empty", 2, "need: empty (say what the customer is looking for)",
         [](const fs::path&) {
           return suggest_fixture({"--need", ""});
         }},
        {"need_100KB", 2, "need: 102400 bytes; at most 1024 are accepted",
         [](const fs::path&) {
           return suggest_fixture({"--need", std::string(100 * 1024, 'a')});
         }},
        {"need_invalid_utf8", 2, "need: not valid UTF-8 (byte 5)",
         [](const fs::path&) {
           return suggest_fixture({"--need", "cake \xff\xfe"});
         }},
        {"need_control_character", 2, "need: control character at byte 4",
         [](const fs::path&) {
           return suggest_fixture({"--need", "cake\x1b[2J"});
         }},
        {"need_only_stop_words", 6, "has no word to look for",
         [](const fs::path& dir) {
           write_file(dir / "history.json", R"({"events": [{"item": "22423"}]})");
           return suggest(fixture_model(), (dir / "history.json").string(),
                          {"--need", "i want the"});
         },
         "", "gptrec: warning: ",
         [](const Outcome& o, const fs::path&) {
           EXPECT_NE(o.out.find("Need: the need \"i want the\" has no word"), std::string::npos)
               << o.out;
         }},
        {"need_fits_nothing", 6, "no product fits the need \"velvet armchair\"",
         [](const fs::path& dir) {
           write_file(dir / "history.json", R"({"events": [{"item": "22423"}]})");
           return suggest(fixture_model(), (dir / "history.json").string(),
                          {"--need", "velvet armchair", "--format", "json"});
         },
         "", "gptrec: warning: ",
         [](const Outcome& o, const fs::path&) {
           const auto j = nlohmann::json::parse(o.out);
           EXPECT_EQ(j["need"]["fallback"], "no product fits the need \"velvet armchair\"");
           EXPECT_EQ(j["suggestions"].size(), 10u);
         }},
        {"min_price_negative", 2, "min_price must be a finite number >= 0",
         [](const fs::path&) {
           return suggest_fixture({"--min-price", "-1"});
         }},
        {"min_price_above_max_price", 2, "min_price is above max_price",
         [](const fs::path&) {
           return suggest_fixture({"--min-price", "5", "--max-price", "1"});
         }},
        {"score_need_empty", 2, "need: empty",
         [](const fs::path& dir) {
           write_file(dir / "in.jsonl", good_line() + "\n");
           return score(dir, (dir / "in.jsonl").string(), {"--need", "  "});
         },
         "out.jsonl"},
        {"score_record_need_not_a_string", 3, "gptrec: scored 3 records (1 errors",
         [](const fs::path& dir) {
           write_file(dir / "in.jsonl",
                      good_line() +
                          "\n{\"need\": [\"cake\"], \"events\": [{\"item\": \"22423\"}]}\n" +
                          other_good_line() + "\n");
           return score(dir, (dir / "in.jsonl").string());
         },
         "", "",
         [](const Outcome&, const fs::path& dir) {
           expect_good_records_kept(dir, 1, 3, "in.jsonl:2: need: expected a string, got an array");
         }},
        {"unknown_command", 2, "unknown command 'sugest'",
         [](const fs::path&) { return command({"sugest"}); }},
        {"stdout_closed", 5, "<stdout>: write failed",
         [](const fs::path&) {
           Invocation inv = suggest(fixture_model(), "-");
           inv.stdin_text = R"({"events": [{"item": "22423"}]})";
           inv.close_stdout = true;
           return inv;
         }},

        // ---- batch scoring: bad records become error records, good ones are all kept
        {"score_bad_record_among_good", 3, "gptrec: scored 3 records (1 errors",
         [](const fs::path& dir) {
           write_file(dir / "in.jsonl", good_line() + "\n{\"events\": [{\"item\": 5e999}]}\n" +
                                            other_good_line() + "\n");
           return score(dir, (dir / "in.jsonl").string());
         },
         "", "",
         [](const Outcome&, const fs::path& dir) {
           expect_good_records_kept(dir, 1, 3, "not valid JSON");
         }},
        {"score_line_over_16MiB", 3, "gptrec: scored 3 records (1 errors",
         [](const fs::path& dir) {
           write_file(dir / "in.jsonl", good_line() + "\n[" +
                                            std::string((std::size_t{16} << 20) + 10, ' ') + "]\n" +
                                            other_good_line() + "\n");
           return score(dir, (dir / "in.jsonl").string());
         },
         "", "",
         [](const Outcome&, const fs::path& dir) {
           expect_good_records_kept(
               dir, 1, 3, "in.jsonl:2: line of 16777228 bytes, longer than the limit of 16777216");
         }},
        {"score_output_unwritable", 5, "cannot write (No such file or directory)",
         [](const fs::path& dir) {
           write_file(dir / "in.jsonl", good_line() + "\n");
           Invocation inv = score(dir, (dir / "in.jsonl").string());
           inv.args[6] = (dir / "no-such-dir" / "out.jsonl").string();
           return inv;
         }},
        {"score_output_is_a_directory", 5, "cannot write (Is a directory)",
         [](const fs::path& dir) {
           write_file(dir / "in.jsonl", good_line() + "\n");
           fs::create_directory(dir / "out.jsonl");
           return score(dir, (dir / "in.jsonl").string());
         }},
        {"score_top_zero", 2, "--top must be at least 1, got 0",
         [](const fs::path& dir) {
           write_file(dir / "in.jsonl", good_line() + "\n");
           return score(dir, (dir / "in.jsonl").string(), {"--top", "0"});
         },
         "out.jsonl"},
        {"score_input_missing", 5, "nope.jsonl: cannot open",
         [](const fs::path& dir) { return score(dir, (dir / "nope.jsonl").string()); },
         "out.jsonl"},
        {"score_stdin_closed", 5, "<stdin>: cannot open (Bad file descriptor)",
         [](const fs::path& dir) {
           Invocation inv = score(dir, "-");
           inv.close_stdin = true;
           return inv;
         },
         "out.jsonl"},
        {"score_catalog_empty", 3, "catalog.json: no item to suggest",
         [](const fs::path& dir) {
           write_file(dir / "in.jsonl", good_line() + "\n");
           write_file(dir / "catalog.json", R"({"items": []})");
           return score(dir, (dir / "in.jsonl").string(),
                        {"--catalog", (dir / "catalog.json").string()});
         },
         "out.jsonl"},
        // A gzip stream cut short: the records before the cut are scored and written, then exit 5.
        {"score_gzip_truncated", 5, "the compressed input is cut short",
         [](const fs::path& dir) {
           std::string text;
           for (int i = 0; i < 3000; ++i) text += good_line() + "\n";
           const fs::path gz = dir / "in.jsonl.gz";
           gzFile f = gzopen(gz.c_str(), "wb");
           gzwrite(f, text.data(), static_cast<unsigned>(text.size()));
           gzclose(f);
           const std::string bytes = read_file(gz);
           write_file(gz, bytes.substr(0, bytes.size() * 3 / 4));
           return score(dir, gz.string());
         },
         "", "gptrec: error: ",
         [](const Outcome&, const fs::path& dir) {
           const std::string out = read_file(dir / "out.jsonl");
           ASSERT_FALSE(out.empty());
           EXPECT_EQ(out.back(), '\n');
           const auto lines = lines_of(out);
           EXPECT_GT(lines.size(), 1000u);
           EXPECT_LT(lines.size(), 3000u);
           for (std::size_t k = 0; k < lines.size(); ++k) {
             const auto record = nlohmann::json::parse(lines[k]);
             ASSERT_EQ(record["line"], k + 1);
             ASSERT_EQ(record["suggestions"].size(), 10u);
           }
         }},
        {"score_shard_out_of_range", 2, "--shard: expected i/n with 0 <= i < n, got \"3/2\"",
         [](const fs::path& dir) {
           write_file(dir / "in.jsonl", good_line() + "\n");
           return score(dir, (dir / "in.jsonl").string(), {"--shard", "3/2"});
         },
         "out.jsonl"},

        // ---- text: any bytes are text (documented), ids outside the vocabulary are refused
        {"tokenize_invalid_utf8", 0, "",
         [](const fs::path& dir) {
           write_file(dir / "text.bin", "ok \x80\xc0\xaf\xed\xa0\x80\xf4\x90\x80\x80 end\xff");
           return command({"tokenize", (gptrec::test::data_dir() / "gpt2").string(), "--file",
                           (dir / "text.bin").string()});
         }},
        {"detokenize_id_outside_vocabulary", 2, "token id 50257 is outside the vocabulary",
         [](const fs::path&) {
           return command(
               {"detokenize", (gptrec::test::data_dir() / "gpt2").string(), "--ids", "1,50257"});
         }},
    };
    for (Case& c : all) c.needs_address_limit = c.name == "model_weights_larger_than_memory";
    return all;
  }();
  return all;
}

// Test names and failure messages show the case by its name.
void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

class BadInput : public ::testing::TestWithParam<Case> {};

TEST_P(BadInput, FailsCleanly) {
  const Case& c = GetParam();
  if (c.needs_address_limit && !kLimitAddressSpace) GTEST_SKIP() << "needs the address-space limit";
  gptrec::test::TempDir tmp;
  const Invocation inv = c.prepare(tmp.path());
  const Outcome o = run_limited(inv);

  EXPECT_LT(o.status, 128) << "crashed: " << o.err;
  EXPECT_EQ(o.status, c.status) << o.err;
  const auto err_lines = lines_of(o.err);
  if (c.stderr_has.empty()) {
    EXPECT_TRUE(o.err.empty()) << o.err;
  } else {
    ASSERT_EQ(err_lines.size(), 1u) << o.err;
    EXPECT_EQ(o.err.back(), '\n');
    EXPECT_EQ(err_lines[0].rfind(c.stderr_prefix, 0), 0u) << err_lines[0];
    EXPECT_NE(err_lines[0].find(c.stderr_has), std::string::npos) << err_lines[0];
  }
  // Exit 6 (suggest: nothing fits the need) prints the suggestions without the need.
  if (c.status != 0 && c.status != 6 && c.no_output_file.empty()) {
    EXPECT_TRUE(o.out.empty()) << o.out.substr(0, 200);
  }
  if (!c.no_output_file.empty()) {
    EXPECT_FALSE(fs::exists(tmp / c.no_output_file));
  }
  if (c.check) c.check(o, tmp.path());
}

INSTANTIATE_TEST_SUITE_P(Catalogue, BadInput, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<Case>& info) {
                           return info.param.name;
                         });

TEST(BadInputCatalogue, HasAtLeastThirtyCases) { EXPECT_GE(cases().size(), 30u); }

}  // namespace
