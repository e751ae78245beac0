#!/usr/bin/env bash
# Batch throughput of `gptrec score` with the groceries model, 1 thread vs 2 (or N) threads, side
# by side in one run (turns interleaved, best of each).
#
#   bench/run_batch_bench.sh [BUILD_DIR] [ROUNDS] [COPIES]
#
# Input: ../shared/data/groceries/histories.jsonl (3,898 customers) repeated COPIES times
# (default 26: 101,348 records), or $GPTREC_BENCH_INPUT. Output goes to a temporary file.
# Prints records/s per thread count and the speed-up.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
rounds=${2:-3}
copies=${3:-26}
threads_max=${GPTREC_BENCH_THREADS:-$(nproc)}
gptrec="$build/gptrec"
[ -x "$gptrec" ] || { echo "no $gptrec: build first" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
input=${GPTREC_BENCH_INPUT:-}
if [ -z "$input" ]; then
  src=../shared/data/groceries/histories.jsonl
  [ -f "$src" ] || { echo "no $src: set GPTREC_BENCH_INPUT" >&2; exit 2; }
  input="$tmp/input.jsonl"
  for _ in $(seq "$copies"); do cat "$src"; done > "$input"
fi
records=$(grep -c . "$input")
echo "input: $records records; model: models/groceries; $(nproc) cores; load average $(cut -d' ' -f1-3 /proc/loadavg)"

declare -A best
for round in $(seq "$rounds"); do
  for t in 1 "$threads_max"; do
    start=$(date +%s.%N)
    "$gptrec" score --model models/groceries --input "$input" --output "$tmp/out.jsonl" --threads "$t" --quiet
    end=$(date +%s.%N)
    rate=$(echo "$records / ($end - $start)" | bc -l)
    printf 'round %d, %d thread(s): %.0f records/s\n' "$round" "$t" "$rate"
    if [ -z "${best[$t]:-}" ] || [ "$(echo "$rate > ${best[$t]}" | bc -l)" = 1 ]; then best[$t]=$rate; fi
  done
done
printf 'best: 1 thread %.0f records/s, %d threads %.0f records/s, speed-up %.2fx\n' \
  "${best[1]}" "$threads_max" "${best[$threads_max]}" "$(echo "${best[$threads_max]} / ${best[1]}" | bc -l)"
