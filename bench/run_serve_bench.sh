#!/usr/bin/env bash
# Load benchmark of `gptrec serve`: Debian's wrk (apt-get install wrk curl) drives POST /v1/suggest
# {"customer_id": ...} on 127.0.0.1 only, for SECONDS per point, at 1, 8 and 64 connections, with
# the real Online Retail customers looked up in a histories database. Beside it, in the same run,
# `gptrec score` on the same customers and threads (the ceiling: no HTTP, no per-request lookup),
# before and after the server points.
#
#   bench/run_serve_bench.sh [BUILD_DIR] [SECONDS] [THREADS]
#
# Defaults: build, 20 s per point, 2 model threads. GPTREC_BENCH_CONNECTIONS (default "1 8 64")
# lists the points ("64 64 64 64 64 64": memory over two minutes at 64 connections). Input:
# ../shared/data/online-retail/histories.jsonl.gz (4,372 customers), or $GPTREC_BENCH_INPUT.
# Model: models/online-retail. Prints requests/s, p50/p99 latency and statuses per point, the
# server's own count of answers (nothing lost: it answered at least what wrk completed), its
# resident memory before and after each point, and the ratio of requests/s to score's customers/s.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
seconds=${2:-20}
threads=${3:-2}
gptrec="$build/gptrec"
[ -x "$gptrec" ] || { echo "no $gptrec: build first" >&2; exit 2; }
for tool in wrk curl bc; do
  command -v $tool > /dev/null || { echo "$tool is missing: apt-get install $tool" >&2; exit 2; }
done
input=${GPTREC_BENCH_INPUT:-../shared/data/online-retail/histories.jsonl.gz}
[ -f "$input" ] || { echo "no $input: set GPTREC_BENCH_INPUT" >&2; exit 2; }
model=models/online-retail
tmp=$(mktemp -d)
server_pid=
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2> /dev/null || true; wait "$server_pid" 2> /dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

"$gptrec" import --from "$input" --db "$tmp/events.sqlite" --quiet
# The customers, in the order score reads them from the database (customer_id order).
zcat -f "$input" | grep -o '"customer_id": *"[^"]*"' | sed 's/.*"\([^"]*\)"$/\1/' | LC_ALL=C sort > "$tmp/ids"
customers=$(wc -l < "$tmp/ids")
echo "customers: $customers; model: $model; $threads threads; $(nproc) cores; load average $(cut -d' ' -f1-3 /proc/loadavg)"

score_rate() {
  local start end
  start=$(date +%s.%N)
  "$gptrec" score --model "$model" --db "$tmp/events.sqlite" --output /dev/null --threads "$threads" --quiet
  end=$(date +%s.%N)
  echo "$customers / ($end - $start)" | bc -l
}

rss_kib() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status"; }
answered() {  # the server's count of /v1/suggest responses, any status
  curl -s "http://127.0.0.1:$port/metrics" 2> /dev/null |
    awk -F'} ' '/^gptrec_http_requests_total\{endpoint="\/v1\/suggest"/ { n += $2 } END { print n + 0 }'
}

score_before=$(score_rate)
printf 'score --db, %d threads: %.0f customers/s\n' "$threads" "$score_before"

"$build/gptrec" serve --model "$model" --histories "$tmp/events.sqlite" --threads "$threads" \
  --port 0 > "$tmp/serve.out" 2> "$tmp/serve.err" &
server_pid=$!
for _ in $(seq 600); do grep -q listening "$tmp/serve.out" 2> /dev/null && break; sleep 0.1; done
port=$(sed -n 's/^listening on http:\/\/127.0.0.1:\([0-9]*\)$/\1/p' "$tmp/serve.out")
[ -n "$port" ] || { cat "$tmp/serve.err" >&2; exit 1; }
# Warm-up at the most connections a point uses: the database pages, the allocator and the
# connection threads are in use before the first point.
wrk -t1 -c64 -d5s -s bench/wrk_suggest.lua "http://127.0.0.1:$port/v1/suggest" -- "$tmp/ids" > /dev/null

points=(${GPTREC_BENCH_CONNECTIONS:-1 8 64})
rate=()
for connections in "${points[@]}"; do
  before=$(answered)
  rss_before=$(rss_kib "$server_pid")
  # Resident memory sampled every second over the point (memory flat: its range stays small).
  (while kill -0 "$server_pid" 2> /dev/null; do rss_kib "$server_pid"; sleep 1; done) > "$tmp/rss" &
  sampler=$!
  wrk -t1 -c"$connections" -d"${seconds}s" --timeout 30s -s bench/wrk_suggest.lua \
    "http://127.0.0.1:$port/v1/suggest" -- "$tmp/ids" > "$tmp/wrk.out"
  kill "$sampler" 2> /dev/null || true
  wait "$sampler" 2> /dev/null || true
  after=$(answered)
  rss_after=$(rss_kib "$server_pid")
  rate+=("$(awk '/^Requests\/sec/ { print $2 }' "$tmp/wrk.out")")
  echo "--- $connections connection(s), ${seconds} s"
  grep -E '^(status|completed|latency|Requests/sec)' "$tmp/wrk.out"
  echo "server answered $((after - before)) /v1/suggest requests; RSS ${rss_before} KiB -> ${rss_after} KiB" \
    "(sampled each second: $(sort -n "$tmp/rss" | sed -n '1p;$p' | paste -sd' ') KiB min max)"
done

kill -TERM "$server_pid"
wait "$server_pid" || { echo "the server exited with status $?" >&2; exit 1; }
server_pid=
tail -1 "$tmp/serve.err"

score_after=$(score_rate)
printf 'score --db, %d threads: %.0f customers/s (after)\n' "$threads" "$score_after"
score_mean=$(echo "($score_before + $score_after) / 2" | bc -l)
for p in "${!points[@]}"; do
  printf '%d connection(s): %.0f requests/s = %.2f x score (%.0f customers/s)\n' "${points[$p]}" \
    "${rate[$p]}" "$(echo "${rate[$p]} / $score_mean" | bc -l)" "$score_mean"
done
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
