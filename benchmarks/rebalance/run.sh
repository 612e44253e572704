#!/usr/bin/env bash
# Runs bench_rebalance on 4 ranks (2 slowed) and plots max/avg - 1 against LB steps.
#   benchmarks/rebalance/run.sh BUILD_DIR [OUT_DIR]
set -euo pipefail
build=${1:?build dir}; out=${2:-$build/benchmarks/rebalance/results}
mkdir -p "$out"
: "${MPIEXEC:=mpiexec}"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
"$MPIEXEC" -n 4 ${MPIEXEC_FLAGS:---oversubscribe} "$build/benchmarks/rebalance/bench_rebalance" \
  --slow-ranks 1,2 --slowdown 2 --out "$out/rebalance" "${@:3}"
gnuplot <<GP
set terminal pngcairo size 800,500 noenhanced
set output '$out/rebalance.png'
set datafile separator ','
set title 'max/avg - 1 of step time, 4 ranks with 2 slowed x2'
set xlabel 'LB steps'; set ylabel 'max/avg - 1'; set xtics 1; set key top right
set yrange [0:*]
plot for [p in 'none greedy refine'] '$out/rebalance.csv' using 2:(strcol(1) eq p ? \$3 : 1/0) with linespoints title p, \
     0.05 with lines dashtype 2 title 'goal 0.05'
GP
echo "wrote $out/rebalance.json $out/rebalance.csv $out/rebalance.png"
