#!/usr/bin/env bash
# Runs bench_dag_cholesky on NP (default 2) MPI ranks: strata dynamic (task flow, WORKERS threads per rank,
# default 1), the same with work stealing and with a progress thread, strata HEFT / eager / round robin over MPI and,
# when built with StarPU, StarPU dmda / eager with NP CPU workers, side by side in one run; plots
# makespan and makespan / lower bound.
#   benchmarks/dag_cholesky/run.sh BUILD_DIR [OUT_DIR] [extra args]
#   e.g. benchmarks/dag_cholesky/run.sh build-lb docs/figures
# PLOT_ONLY=1 redraws the PNG from an existing OUT_DIR/dag_cholesky.csv.
set -euo pipefail
build=${1:?build dir}; out=${2:-$build/benchmarks/dag_cholesky/results}
mkdir -p "$out"
: "${MPIEXEC:=mpiexec}"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
# StarPU keeps its bus calibration there (not in $HOME); quiet, workers not pinned (nor are the ranks).
export STARPU_HOME=${STARPU_HOME:-$build/benchmarks/dag_cholesky/starpu_home}
export STARPU_SILENT=${STARPU_SILENT:-1} STARPU_WORKERS_NOBIND=${STARPU_WORKERS_NOBIND:-1}
# --bind-to none: with 2 ranks on 2 cores Open MPI would pin rank 0 to one core, and StarPU's
# workers (started inside rank 0) would then share that core.
[ -n "${PLOT_ONLY:-}" ] || "$MPIEXEC" -n "${NP:-2}" ${MPIEXEC_FLAGS:---oversubscribe --bind-to none} "$build/benchmarks/dag_cholesky/bench_dag_cholesky" \
  --tiles 4,6,8,10,12,14,16 --tile-size 64 --reps 15 --workers "${WORKERS:-1}" --out "$out/dag_cholesky" "${@:3}"

csv="$out/dag_cholesky.csv"
col() { head -1 "$csv" | tr ',' '\n' | grep -nx "$1" | cut -d: -f1; }
ms="" ratio="" best=""
for s in strata_dynamic strata_dynamic_heft strata_dynamic_steal strata_dynamic_progress_thread strata_heft strata_eager strata_round_robin starpu_dmda starpu_eager starpu_mpi_eager; do
  c=$(col "${s}_ms" || true)
  [ -n "$c" ] || continue
  title=${s//_/ }
  ms+="'$csv' using 1:$c skip 1 with linespoints title '$title', "
  ratio+="'$csv' using 1:$(col "${s}_ratio") skip 1 with linespoints title '$title', "
  best+="'$csv' using 1:$(col "${s}_ratio_min") skip 1 with linespoints title '$title', "
done
gnuplot <<GP
set terminal pngcairo size 1500,520 noenhanced
set output '$out/dag_cholesky.png'
set datafile separator ','
set multiplot layout 1,3 title 'tiled Cholesky, b = 64, ${NP:-2} ranks x ${WORKERS:-1} workers (strata: NP MPI ranks; StarPU dmda / eager: NP x WORKERS CPU workers in one process; StarPU-MPI: NP ranks x WORKERS)'
set xlabel 'tiles per dimension'; set grid
set title 'makespan, median of runs'
set ylabel 'ms'; set logscale y; set key top left
plot ${ms}'$csv' using 1:3 skip 1 with lines dashtype 2 lc rgb 'black' title 'lower bound'
unset logscale y
set ylabel 'makespan / max(critical path, work / P)'; set key top right; set logscale y; set yrange [0.8:200]
set title 'makespan / lower bound, median of runs'
plot ${ratio}'$csv' using 1:4 skip 1 with linespoints dashtype 3 lc rgb 'gray40' title 'strata HEFT planned (model)', \
     1 with lines dashtype 2 lc rgb 'black' title 'bound'
set title 'makespan / lower bound, best run'; set yrange [0.8:30]
plot ${best}'$csv' using 1:4 skip 1 with linespoints dashtype 3 lc rgb 'gray40' title 'strata HEFT planned (model)', \
     1 with lines dashtype 2 lc rgb 'black' title 'bound'
unset multiplot
GP
echo "wrote $out/dag_cholesky.png"
