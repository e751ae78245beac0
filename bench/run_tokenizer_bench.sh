#!/usr/bin/env bash
# GPT-2 encode speed, gptrec against tiktoken (npm, WASM), on the same ~4 MB mixed text, one thread
# each, in one run. The two sides take turns ROUNDS times (the machine may be busy); each side's
# best round counts. Also checks that both produced the same token ids (count and hash).
#
# Usage: bench/run_tokenizer_bench.sh [BUILD_DIR] [ROUNDS]
#   BUILD_DIR  a build configured with -DGPTREC_BUILD_BENCHMARKS=ON (default: build-bench, which
#              is configured and built here if missing)
#   ROUNDS     default 5
# Needs node and npm (tiktoken is installed into bench/node_modules from bench/package-lock.json).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build-bench}"
rounds="${2:-5}"
bench_bin="$build/bench/gptrec_bench_tokenizer"

if [ ! -x "$bench_bin" ]; then
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DGPTREC_BUILD_BENCHMARKS=ON \
    -DGPTREC_BUILD_TESTS=OFF >/dev/null
  cmake --build "$build" -j"$(nproc)" --target gptrec_bench_tokenizer >/dev/null
fi
[ -d "$root/bench/node_modules/tiktoken" ] || (cd "$root/bench" && npm ci --no-audit --no-fund >/dev/null)

text="$build/bench_text.txt"
/usr/bin/python3 "$root/bench/make_bench_text.py" "$text"

export OMP_NUM_THREADS=1
results="$(mktemp)"
trap 'rm -f "$results"' EXIT
for round in $(seq "$rounds"); do
  GPTREC_BENCH_TEXT="$text" "$bench_bin" --benchmark_filter='^Gpt2Encode/text/' \
    --benchmark_repetitions=3 --benchmark_format=json 2>/dev/null |
    /usr/bin/python3 -c '
import json, sys
runs = [b for b in json.load(sys.stdin)["benchmarks"] if b.get("run_type") == "iteration"]
best = max(runs, key=lambda b: b["bytes/s"])
print(json.dumps({"impl": "gptrec", "tokens": int(best["tokens"]), "ids_hash": int(best["ids_hash"]),
                  "mb_per_s": best["bytes/s"] / 1e6}))' >>"$results"
  node "$root/bench/bench_tiktoken.mjs" "$text" --repeats 3 >>"$results"
  echo "round $round/$rounds done" >&2
done

/usr/bin/python3 - "$results" "$rounds" <<'EOF'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
ours = [r for r in rows if r["impl"] == "gptrec"]
ref = [r for r in rows if r["impl"] == "tiktoken-wasm"]
same = {(r["tokens"], r["ids_hash"]) for r in ours + ref}
if len(same) != 1:
    sys.exit(f"token ids differ between gptrec and tiktoken: {sorted(same)}")
a = max(r["mb_per_s"] for r in ours)
b = max(r["mb_per_s"] for r in ref)
print(f"same ids on both sides: {ours[0]['tokens']} tokens")
print(f"gptrec        {a:8.1f} MB/s  (best of {sys.argv[2]} rounds; all: " +
      ", ".join(f"{r['mb_per_s']:.1f}" for r in ours) + ")")
print(f"tiktoken wasm {b:8.1f} MB/s  (best of {sys.argv[2]} rounds; all: " +
      ", ".join(f"{r['mb_per_s']:.2f}" for r in ref) + ")")
print(f"ratio         {a / b:8.1f}x")
EOF
