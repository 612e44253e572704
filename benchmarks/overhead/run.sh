#!/usr/bin/env bash
# Regenerates docs/figures/overhead.{json,png}. Default scale (a few minutes on 2 cores): 2 ranks,
# 4096 x 4096 grid (64 MiB of field per rank), a checkpoint every 10 s of compute, 2 intervals per
# run (one checkpoint), 2 rounds over the 4 configurations (median).
# Usage: benchmarks/overhead/run.sh [build dir, default build-inc]
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd); build=${1:-$root/build-inc}
out=$root/docs/figures; work=${TMPDIR:-/tmp}/strata_overhead
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
${MPIEXEC:-mpiexec} -n ${RANKS:-2} --oversubscribe "$build/benchmarks/overhead/bench_overhead" \
  --n ${N:-4096} --interval ${INTERVAL:-10} --intervals ${INTERVALS:-2} --rounds ${ROUNDS:-2} --dir "$work" > "$out/overhead.json"
rm -rf "$work"
bash "$root/benchmarks/overhead/plot.sh" "$out/overhead.json" "$out/overhead.png"
