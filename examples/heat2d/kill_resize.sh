#!/usr/bin/env bash
# N→M restore: heat2d killed on N ranks resumes on M ranks (same directory, the
# command otherwise unchanged) and prints the checksum of an uninterrupted run.
#   kill_resize.sh HEAT2D WORKDIR N:M[:snapshot] ...
set -u
exe=$1; work=$2; shift 2
mpirun=${MPIEXEC:-mpiexec}
flags=${MPIEXEC_FLAGS:---oversubscribe}
rm -rf "$work"; mkdir -p "$work"
args=(--n 96 --steps 60 --every 10 --quiet)
$mpirun -n 3 $flags "$exe" "${args[@]}" --dir "$work/clean" > "$work/clean.out" 2>&1 || { cat "$work/clean.out"; echo "FAIL: uninterrupted run"; exit 1; }
want=$(tail -n 1 "$work/clean.out")
fail=0
for case in "$@"; do
  IFS=: read -r from to snap <<< "$case"; snap=${snap:-full}
  d="$work/$from-$to-$snap"
  $mpirun -n "$from" $flags "$exe" "${args[@]}" --snapshot "$snap" --dir "$d" --crash-at-step 35 --crash-rank $((from - 1)) > "$d.killed" 2>&1 && { cat "$d.killed"; echo "FAIL [$case]: survived its kill"; fail=1; continue; }
  $mpirun -n "$to" $flags "$exe" "${args[@]}" --snapshot "$snap" --dir "$d" > "$d.resumed" 2>&1 || { cat "$d.resumed"; echo "FAIL [$case]: resume on $to ranks failed"; fail=1; continue; }
  grep -q "^resumed from version 3 at step 30$" "$d.resumed" || { cat "$d.resumed"; echo "FAIL [$case]: did not resume from version 3 at step 30"; fail=1; continue; }
  got=$(tail -n 1 "$d.resumed")
  [ "$got" = "$want" ] || { echo "FAIL [$case]: $got, uninterrupted $want"; fail=1; continue; }
  echo "ok [$case]: killed on $from ranks, resumed on $to, $got"
done
exit $fail
