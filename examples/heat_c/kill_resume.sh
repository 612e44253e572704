#!/usr/bin/env bash
# heat_c (the C API): runs uninterrupted, then killed at step 35 (one rank SIGKILLed) and resumed with
# the same command; the final checksums must be equal. The trigger (every 10 steps) comes from a TOML
# file given with --config when MODE is "file", from STRATA_TRIGGER_EVERY_N_N when it is "env".
# usage: kill_resume.sh EXE NP WORK MODE
set -u
exe=$1; np=$2; work=$3; mode=${4:-env}
mpirun=${MPIEXEC:-mpiexec}
flags=${MPIEXEC_FLAGS:---oversubscribe}
rm -rf "$work"; mkdir -p "$work"
crash_rank=$(( np - 1 ))
args=(--n 96 --steps 60)
if [ "$mode" = file ]; then
  printf 'log_level = "warnings"\n[trigger]\nkind = "every_n"\nevery_n.n = 10\n' > "$work/heat_c.toml"
  args+=(--config "$work/heat_c.toml")
else
  export STRATA_TRIGGER=every_n STRATA_TRIGGER_EVERY_N_N=10
fi

$mpirun -n "$np" $flags "$exe" "${args[@]}" --dir "$work/clean" > "$work/clean.out" 2>&1 || { cat "$work/clean.out"; echo "FAIL: uninterrupted run failed"; exit 1; }
want=$(tail -n 1 "$work/clean.out")
[[ $want =~ ^checksum\ [0-9a-f]{16}$ ]] || { cat "$work/clean.out"; echo "FAIL: last line is not a checksum"; exit 1; }
grep -q "resumed from" "$work/clean.out" && { cat "$work/clean.out"; echo "FAIL: the first run resumed"; exit 1; }

cmd=("$mpirun" -n "$np" $flags "$exe" "${args[@]}" --dir "$work/ckpt" --crash-at-step 35 --crash-rank "$crash_rank")
if "${cmd[@]}" > "$work/killed.out" 2>&1; then cat "$work/killed.out"; echo "FAIL: the run that should die succeeded"; exit 1; fi
grep -q "rank $crash_rank killing itself with SIGKILL at step 35" "$work/killed.out" || { cat "$work/killed.out"; echo "FAIL: no kill"; exit 1; }
grep -q "^checksum" "$work/killed.out" && { cat "$work/killed.out"; echo "FAIL: the killed run printed a checksum"; exit 1; }

"${cmd[@]}" > "$work/resumed.out" 2>&1 || { cat "$work/resumed.out"; echo "FAIL: resumed run failed"; exit 1; }
grep -q "^resumed from version 3 at step 30$" "$work/resumed.out" || { cat "$work/resumed.out"; echo "FAIL: did not resume from version 3 at step 30"; exit 1; }
got=$(tail -n 1 "$work/resumed.out")
echo "uninterrupted: $want"
echo "resumed:       $got"
[ "$got" = "$want" ] || { echo "FAIL: checksums differ"; exit 1; }
echo "PASS"
