#!/usr/bin/env bash
# Runs heat2d uninterrupted, then killed at a step (one rank SIGKILLed) and
# resumed with the same command; the final checksums must be equal.
set -u
exe=$1; np=$2; work=$3
mpirun=${MPIEXEC:-mpiexec}
flags=${MPIEXEC_FLAGS:---oversubscribe}
rm -rf "$work"; mkdir -p "$work"
crash_rank=$(( np - 1 ))
args=(--n 96 --steps 60 --every 10 --quiet)

$mpirun -n "$np" $flags "$exe" "${args[@]}" --dir "$work/clean" > "$work/clean.out" 2>&1 || { cat "$work/clean.out"; echo "FAIL: uninterrupted run failed"; exit 1; }
want=$(tail -n 1 "$work/clean.out")
[[ $want =~ ^checksum\ [0-9a-f]{16}$ ]] || { cat "$work/clean.out"; echo "FAIL: last line is not a checksum"; exit 1; }

cmd=("$mpirun" -n "$np" $flags "$exe" "${args[@]}" --dir "$work/ckpt" --crash-at-step 35 --crash-rank "$crash_rank")
if "${cmd[@]}" > "$work/killed.out" 2>&1; then cat "$work/killed.out"; echo "FAIL: the run that should die succeeded"; exit 1; fi
grep -q "killing itself with SIGKILL at step 35" "$work/killed.out" || { cat "$work/killed.out"; echo "FAIL: no kill"; exit 1; }

"${cmd[@]}" > "$work/resumed.out" 2>&1 || { cat "$work/resumed.out"; echo "FAIL: resumed run failed"; exit 1; }
grep -q "^resumed from version 3 at step 30$" "$work/resumed.out" || { cat "$work/resumed.out"; echo "FAIL: did not resume from version 3 at step 30"; exit 1; }
got=$(tail -n 1 "$work/resumed.out")
echo "uninterrupted: $want"
echo "resumed:       $got"
[ "$got" = "$want" ] || { echo "FAIL: checksums differ"; exit 1; }
echo "PASS"
