#!/usr/bin/env bash
# The cost of `suggest --explain` (occlusion over every product of the history) on the example
# customers with the shipped model: `suggest` without and with --explain, turns interleaved, the
# best wall time of each; optionally a second build (e.g. an older one) in the same run.
#
#   bench/run_explain_bench.sh [BUILD_DIR] [ROUNDS] [OTHER_BUILD_DIR]
#
# Prints per customer the distinct items the model reads, the best wall and CPU (user + system)
# times in ms and the explanation's own cost (with - without --explain), for each build, and the
# ratio of the CPU costs; --threads 1 (GPTREC_BENCH_THREADS to change). On a loaded machine the
# CPU times are the steadier figures.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
rounds=${2:-15}
other=${3:-}
threads=${GPTREC_BENCH_THREADS:-1}
for b in "$build" ${other:+"$other"}; do
  [ -x "$b/gptrec" ] || { echo "no $b/gptrec: build first" >&2; exit 2; }
done
echo "model: models/online-retail; --threads $threads; $rounds rounds; $(nproc) cores;" \
  "load average $(cut -d' ' -f1-3 /proc/loadavg)"

declare -A best cpu
timing=$(mktemp)
trap 'rm -f "$timing"' EXIT
time_run() {  # key, command...: keeps the key's best wall and CPU (user + system) time in ms
  local key=$1
  shift
  /usr/bin/time -f '%e %U %S' -o "$timing" "$@" > /dev/null
  read -r wall user sys < "$timing"
  local w c
  w=$(echo "$wall * 1000" | bc -l)
  c=$(echo "($user + $sys) * 1000" | bc -l)
  if [ -z "${best[$key]:-}" ] || (($(echo "$w < ${best[$key]}" | bc -l))); then best[$key]=$w; fi
  if [ -z "${cpu[$key]:-}" ] || (($(echo "$c < ${cpu[$key]}" | bc -l))); then cpu[$key]=$c; fi
}
customers=(examples/customers/*.json)
builds=("$build" ${other:+"$other"})
for _ in $(seq "$rounds"); do
  for c in "${customers[@]}"; do
    args=(suggest --model models/online-retail --history "$c" --threads "$threads")
    for b in "${builds[@]}"; do
      time_run "plain $b $c" "$b/gptrec" "${args[@]}"
      time_run "explain $b $c" "$b/gptrec" "${args[@]}" --explain
    done
  done
done
# Per build: wall ms without / with --explain and the difference; the same in CPU ms.
header="$(printf '%-10s %6s' customer items)"
for b in "${builds[@]}"; do header+=" | $b: wall plain, explain, cost; cpu plain, explain, cost"; done
[ -n "$other" ] && header+=" | cpu cost ratio"
echo "$header"
for c in "${customers[@]}"; do
  items=$("$build/gptrec" suggest --model models/online-retail --history "$c" --format json |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["history"]["items_used"])')
  line="$(printf '%-10s %6s' "$(basename "$c" .json)" "$items")"
  costs=()
  for b in "${builds[@]}"; do
    p=${best["plain $b $c"]} e=${best["explain $b $c"]}
    cp=${cpu["plain $b $c"]} ce=${cpu["explain $b $c"]}
    costs+=("$(echo "$ce - $cp" | bc -l)")
    line+="$(printf ' | %6.0f %6.0f %6.0f; %5.0f %5.0f %5.0f' "$p" "$e" "$(echo "$e - $p" | bc -l)" \
      "$cp" "$ce" "${costs[-1]}")"
  done
  [ -n "$other" ] && line+="$(printf ' | %6.2f' "$(echo "${costs[0]} / ${costs[1]}" | bc -l)")"
  echo "$line"
done
