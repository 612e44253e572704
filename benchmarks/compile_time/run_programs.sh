#!/usr/bin/env bash
# benchmark.compile_time.programs: each of the three programs of benchmarks/compile_time runs 100
# steps on 2 ranks (checkpoints every 10), then again to 150: the second run must resume at step 100
# and finish at 150, the first must start fresh.
# usage: run_programs.sh MPIEXEC WORKDIR PLAIN HEADER_ONLY SEPARATE
set -euo pipefail
mpiexec=$1 work=$2
shift 2
rm -rf "$work"
mkdir -p "$work"
for exe in "$@"; do
  name=$(basename "$exe")
  first=$("$mpiexec" -n 2 --oversubscribe "$exe" "$work/$name" 100)
  echo "$first"
  grep -q "fresh, step 100$" <<< "$first" || { echo "run_programs: $name did not start fresh and reach step 100"; exit 1; }
  second=$("$mpiexec" -n 2 --oversubscribe "$exe" "$work/$name" 150)
  echo "$second"
  grep -q "resumed, step 150$" <<< "$second" || { echo "run_programs: $name did not resume and reach step 150"; exit 1; }
done
echo "run_programs: all three checkpoint and resume"
