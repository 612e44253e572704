#!/usr/bin/env bash
# Runs bench_dag_cholesky (model: 4 ranks; measured: 2 MPI ranks) and plots makespan / lower bound.
#   benchmarks/dag_cholesky/run.sh BUILD_DIR [OUT_DIR] [extra args]
set -euo pipefail
build=${1:?build dir}; out=${2:-$build/benchmarks/dag_cholesky/results}
mkdir -p "$out"
: "${MPIEXEC:=mpiexec}"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
"$MPIEXEC" -n "${NP:-2}" ${MPIEXEC_FLAGS:---oversubscribe} "$build/benchmarks/dag_cholesky/bench_dag_cholesky" \
  --tiles 4,6,8,10,12,14,16 --tile-size 64 --model-ranks 4 --out "$out/dag_cholesky" "${@:3}"
gnuplot <<GP
set terminal pngcairo size 800,500 noenhanced
set output '$out/dag_cholesky.png'
set datafile separator ','
set title 'tiled Cholesky (b = 64): makespan / lower bound'
set xlabel 'tiles per dimension'; set ylabel 'makespan / max(critical path, work / P)'
set key top right; set yrange [0.9:*]
plot '$out/dag_cholesky.csv' using 1:3 skip 1 with linespoints title 'HEFT planned (4 ranks)', \
     '' using 1:4 skip 1 with linespoints title 'eager planned (4 ranks)', \
     '' using 1:5 skip 1 with linespoints title 'round robin planned (4 ranks)', \
     '' using 1:6 skip 1 with linespoints title 'HEFT run over MPI, vs calibrated bound', \
     '' using 1:7 skip 1 with linespoints title 'HEFT run over MPI, vs measured busy time', \
     1 with lines dashtype 2 title 'bound'
GP
echo "wrote $out/dag_cholesky.json $out/dag_cholesky.csv $out/dag_cholesky.png"
