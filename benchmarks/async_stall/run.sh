#!/usr/bin/env bash
# Regenerates docs/figures/async_stall.{json,png}: sync and async side by side, 1/2/4 ranks.
# Usage: benchmarks/async_stall/run.sh [build dir, default build-inc]
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd); build=${1:-$root/build-inc}
exe=$build/benchmarks/async_stall/bench_async_stall
work=${TMPDIR:-/tmp}/strata_async_stall; out=$root/docs/figures
mpirun=${MPIEXEC:-mpiexec}
{
  echo '{"benchmark": "async_stall", "runs": ['
  $mpirun -n 1 --oversubscribe "$exe" --sizes 64,128,256,512 --reps 7 --dir "$work"; echo ','
  $mpirun -n 2 --oversubscribe "$exe" --sizes 64,128,256,512 --reps 7 --dir "$work"; echo ','
  $mpirun -n 4 --oversubscribe "$exe" --sizes 64,128,256 --reps 7 --dir "$work"
  echo ']}'
} > "$out/async_stall.json"
rm -rf "$work"
bash "$root/benchmarks/async_stall/plot.sh" "$out/async_stall.json" "$out/async_stall.png"
