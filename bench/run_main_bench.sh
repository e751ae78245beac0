#!/usr/bin/env bash
# The main job, gptrec against PyTorch at its best, in one run: `gptrec score` with the shipped
# item model (models/online-retail) over every Online Retail customer, top 10, against the same
# job in Python and PyTorch (bench/main_job_torch.py), 1 and 2 threads, with the roofline from the
# job's FLOPs and the measured GEMM peak, and the latency of one customer (`suggest` as a whole
# process, one warm library call). docs/BENCHMARKS.md#the-main-job has results.
#
#   bench/run_main_bench.sh [BUILD_DIR] [-- driver options]
#
# BUILD_DIR (default build-bench) is configured with -DGPTREC_BUILD_BENCHMARKS=ON and built if its
# benchmark programs are missing. Driver options (bench/run_main_bench.py): --threads 1,2
# --rounds 3 --suggest-runs 10 --latency-customers 1000 --data FILE --model DIR --json FILE.
# The data is ../shared/data/online-retail/histories.jsonl.gz beside the repository.
# Needs Debian's python3-torch and OpenBLAS (libopenblas0-openmp).
set -euo pipefail
cd "$(dirname "$0")/.."
build=build-bench
if [ $# -gt 0 ] && [ "$1" != "--" ]; then build=$1; shift; fi
[ "${1:-}" = "--" ] && shift

if [ ! -x "$build/bench/gptrec_bench_recommend" ] || [ ! -x "$build/bench/gptrec_bench_speed" ] ||
  [ ! -x "$build/gptrec" ]; then
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DGPTREC_BUILD_BENCHMARKS=ON \
    -DGPTREC_BUILD_TESTS=OFF >/dev/null
  cmake --build "$build" -j"$(nproc)" --target gptrec_bench_recommend gptrec_bench_speed gptrec_cli
fi
exec /usr/bin/python3 bench/run_main_bench.py --build "$build" "$@"
