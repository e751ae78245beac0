// Encode and decode speed of the GPT-2 tokenizer, one thread.
//
//   GPTREC_BENCH_TEXT=FILE build/bench/gptrec_bench_tokenizer [benchmark flags]
//
// Gpt2Encode/text encodes FILE (bench/make_bench_text.py writes the standard mixed text); its
// "bytes/s" counter is MB/s in units of 10^6 bytes of input, and "tokens" and "ids_hash" (FNV-1a
// over the ids) let bench/run_tokenizer_bench.sh check that tiktoken produced the same ids.
// The long-run cases time 100 KB pre-tokens that no space breaks up.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>

#include "gptrec/tokenizer.hpp"

namespace {

const gptrec::Gpt2Tokenizer& gpt2() {
  static const gptrec::Gpt2Tokenizer t =
      gptrec::Gpt2Tokenizer::load(GPTREC_GPT2_DIR "/vocab.json", GPTREC_GPT2_DIR "/merges.txt");
  return t;
}

std::string read_text() {
  const char* path = std::getenv("GPTREC_BENCH_TEXT");
  if (path == nullptr) return {};
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::cerr << path << ": cannot open\n";
    std::exit(2);
  }
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

const std::string& bench_text() {
  static const std::string text = read_text();
  return text;
}

std::uint32_t fnv1a(const std::vector<int>& ids) {
  std::uint32_t h = 0x811C9DC5u;
  for (const int id : ids) h = (h ^ static_cast<std::uint32_t>(id)) * 0x01000193u;
  return h;
}

void encode_bench(benchmark::State& state, const std::string& text) {
  const auto& t = gpt2();
  std::vector<int> ids;
  for (auto _ : state) {
    ids = t.encode(text);
    benchmark::DoNotOptimize(ids.data());
  }
  state.counters["bytes/s"] =
      benchmark::Counter(static_cast<double>(text.size()) * static_cast<double>(state.iterations()),
                         benchmark::Counter::kIsRate, benchmark::Counter::kIs1000);
  state.counters["tokens"] = static_cast<double>(ids.size());
  state.counters["ids_hash"] = static_cast<double>(fnv1a(ids));
}

void BM_Gpt2EncodeText(benchmark::State& state) {
  if (bench_text().empty()) {
    state.SkipWithError("set GPTREC_BENCH_TEXT to a text file (bench/make_bench_text.py)");
    return;
  }
  encode_bench(state, bench_text());
}
// Wall-clock time, as bench/bench_tiktoken.mjs measures it.
BENCHMARK(BM_Gpt2EncodeText)->Name("Gpt2Encode/text")->Unit(benchmark::kMillisecond)->UseRealTime();

std::string repeated(std::string_view unit, std::size_t bytes) {
  std::string s;
  while (s.size() < bytes) s += unit;
  return s;
}

void BM_Gpt2EncodeLongRun(benchmark::State& state, std::string_view unit) {
  encode_bench(state, repeated(unit, 100000));
}
BENCHMARK_CAPTURE(BM_Gpt2EncodeLongRun, punctuation_100KB, "!?.,;:-=+*/#@&%$")
    ->Name("Gpt2Encode/punctuation_100KB")
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Gpt2EncodeLongRun, emoji_100KB,
                  "\U0001F600\U0001F44D\U0001F3FD\u2764\uFE0F\U0001F680\U0001F1EF\U0001F1F5")
    ->Name("Gpt2Encode/emoji_100KB")
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Gpt2EncodeLongRun, letters_100KB, "a")
    ->Name("Gpt2Encode/same_letter_100KB")
    ->Unit(benchmark::kMillisecond);

void BM_Gpt2Decode(benchmark::State& state) {
  const std::string text =
      bench_text().empty() ? repeated("Hello, world! ", 1000000) : bench_text();
  const std::vector<int> ids = gpt2().encode(text);
  for (auto _ : state) {
    std::string back = gpt2().decode(ids);
    benchmark::DoNotOptimize(back.data());
  }
  state.counters["bytes/s"] =
      benchmark::Counter(static_cast<double>(text.size()) * static_cast<double>(state.iterations()),
                         benchmark::Counter::kIsRate, benchmark::Counter::kIs1000);
}
BENCHMARK(BM_Gpt2Decode)->Name("Gpt2Decode/text")->Unit(benchmark::kMillisecond);

void BM_Gpt2Load(benchmark::State& state) {
  for (auto _ : state) {
    auto t =
        gptrec::Gpt2Tokenizer::load(GPTREC_GPT2_DIR "/vocab.json", GPTREC_GPT2_DIR "/merges.txt");
    benchmark::DoNotOptimize(&t);
  }
}
BENCHMARK(BM_Gpt2Load)->Name("Gpt2Load/vocab_merges")->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
