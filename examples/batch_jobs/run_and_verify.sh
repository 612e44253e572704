#!/usr/bin/env bash
# run_and_verify.sh <batch_jobs> <np> <workdir>: one clean run, then --verify on its output.
set -euo pipefail
exe=$1 np=$2 work=$3
rm -rf "$work" && mkdir -p "$work"
args=(--items 150 --out "$work/out.txt" --dir "$work/state" --priority weighted --select ewma --metrics "$work/m.prom")
"$MPIEXEC" -n "$np" $MPIEXEC_FLAGS "$exe" "${args[@]}"
"$exe" "${args[@]}" --verify
grep -q '^strata_sched_tasks_succeeded_total 150$' "$work/m.prom"
echo "example.batch_jobs np=$np: OK"
