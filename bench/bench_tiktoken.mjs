// Encode speed of OpenAI's tiktoken (npm, the WASM build of the Rust library), GPT-2 encoding,
// on one text file: the reference side of bench/run_tokenizer_bench.sh.
//
// Usage: node bench/bench_tiktoken.mjs TEXT_FILE [--repeats N]
// Prints one JSON line: {"impl", "bytes", "tokens", "ids_hash", "best_seconds", "mb_per_s"}
// (MB = 10^6 bytes of UTF-8 input; best of N timed encodes after one warm-up).
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, "package.json"));
const { get_encoding } = require("tiktoken");

const args = process.argv.slice(2);
if (args.length < 1) {
  console.error("usage: node bench/bench_tiktoken.mjs TEXT_FILE [--repeats N]");
  process.exit(2);
}
const repeats = args.includes("--repeats") ? Number(args[args.indexOf("--repeats") + 1]) : 5;
const bytes = readFileSync(args[0]);
const text = bytes.toString("utf8");

const enc = get_encoding("gpt2");
let ids = enc.encode_ordinary(text);  // warm-up
let best = Infinity;
for (let r = 0; r < repeats; r++) {
  const t0 = process.hrtime.bigint();
  ids = enc.encode_ordinary(text);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  best = Math.min(best, seconds);
}
// FNV-1a over the ids, so that the driver can check that both sides produced the same tokens.
let hash = 0x811c9dc5;
for (const id of ids) {
  hash ^= id;
  hash = Math.imul(hash, 0x01000193) >>> 0;
}
enc.free();
console.log(JSON.stringify({
  impl: "tiktoken-wasm",
  bytes: bytes.length,
  tokens: ids.length,
  ids_hash: hash,
  best_seconds: best,
  mb_per_s: bytes.length / 1e6 / best,
}));
