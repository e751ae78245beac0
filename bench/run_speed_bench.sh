#!/usr/bin/env bash
# gptrec against PyTorch 1.13 at its best on a GPT-2-124M-shaped random model, in one run, with
# the machine's limits (fp32 GEMM GFLOP/s, read bandwidth). docs/BENCHMARKS.md#speed has results.
#
#   bench/run_speed_bench.sh [BUILD_DIR] [-- driver options]
#
# BUILD_DIR (default build-bench) is configured with -DGPTREC_BUILD_BENCHMARKS=ON and built if
# its gptrec_bench_speed is missing. The model is written once by tools/make_fixtures.py
# --gpt2-shaped to $GPTREC_BENCH_MODEL (default /tmp/gptrec-bench-gpt2, ~500 MB, not committed).
# Driver options (bench/run_speed_bench.py): --threads 1,2 --runs 5 --warmup 1 --rounds 1
# --tasks prefill128,prefill512,decode,score --torch-blas openmp|pthread|auto --json FILE.
# PyTorch uses OpenBLAS-openmp by default: with the pthread build, OpenBLAS's threads and torch's
# OpenMP threads oversubscribe the cores (2-thread prefill 512 fell from 1,148 to 409 tok/s), even
# though the two builds' bare GEMMs are equally fast ("auto" picks the faster bare GEMM).
# The int8, F16 and BF16 copies of the model ($GPTREC_BENCH_MODEL-int8 by `gptrec quantize`,
# -f16 and -bf16 by bench/make_half_copy.py) are timed on every task too (gptrec only), against
# gptrec's float32. The PyTorch side's OpenBLAS kernel is checked (bench/openblas_check.py):
# OPENBLAS_CORETYPE is set for it when OpenBLAS misdetects the CPU, and no ratio is printed when
# its bare GEMM is below half of the machine's measured peak.
#
# Needs Debian's python3-torch and OpenBLAS (libopenblas0-openmp and/or libopenblas0-pthread;
# see --torch-blas above).
set -euo pipefail
cd "$(dirname "$0")/.."
build=build-bench
if [ $# -gt 0 ] && [ "$1" != "--" ]; then build=$1; shift; fi
[ "${1:-}" = "--" ] && shift
model=${GPTREC_BENCH_MODEL:-/tmp/gptrec-bench-gpt2}

if [ ! -x "$build/bench/gptrec_bench_speed" ] || [ ! -x "$build/gptrec" ]; then
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DGPTREC_BUILD_BENCHMARKS=ON \
    -DGPTREC_BUILD_TESTS=OFF >/dev/null
  cmake --build "$build" -j"$(nproc)" --target gptrec_bench_speed gptrec_cli
fi
if [ ! -f "$model/model.safetensors" ]; then
  /usr/bin/python3 tools/make_fixtures.py --gpt2-shaped "$model"
fi
if [ ! -f "$model-int8/model.safetensors" ]; then
  "$build/gptrec" quantize "$model" "$model-int8" --type int8
fi
for half in f16 bf16; do
  if [ ! -f "$model-$half/model.safetensors" ]; then
    /usr/bin/python3 bench/make_half_copy.py "$model" "$model-$half" "$half"
  fi
done
exec /usr/bin/python3 bench/run_speed_bench.py --build "$build" --model "$model" \
  --int8-model "$model-int8" --f16-model "$model-f16" --bf16-model "$model-bf16" "$@"
