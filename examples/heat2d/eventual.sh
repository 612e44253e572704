#!/usr/bin/env bash
# SPEC R4, eventual protocol end to end: heat2d --consistency eventual with one rank 3x slower per
# step, killed at random steps on random ranks (sync and async writes). Before each restart the
# script reads the per-rank records (DIR/.strata.ranks/vV.rR) to find the newest version that every
# rank holds; the restart must resume from exactly that version and end with the checksum of an
# uninterrupted run.
set -u
exe=$1; np=$2; work=$3
mpirun=${MPIEXEC:-mpiexec}
flags=${MPIEXEC_FLAGS:---oversubscribe}
rm -rf "$work"; mkdir -p "$work"
slow=$(( np - 1 ))
args=(--n 64 --steps 60 --every 5 --quiet --consistency eventual --preemption off --step-delay-ms 4 --slow-rank "$slow")
$mpirun -n "$np" $flags "$exe" "${args[@]}" --dir "$work/clean" > "$work/clean.out" 2>&1 || { cat "$work/clean.out"; echo "FAIL: uninterrupted run failed"; exit 1; }
want=$(tail -n 1 "$work/clean.out")
[[ $want =~ ^checksum\ [0-9a-f]{16}$ ]] || { cat "$work/clean.out"; echo "FAIL: last line is not a checksum"; exit 1; }

# The newest version with a record from every rank (0: none).
newest_complete() {
  local d=$1/.strata.ranks best=0 v
  [ -d "$d" ] || { echo 0; return; }
  for v in $(ls "$d" | sed -n 's/^v0*\([0-9][0-9]*\)\.r[0-9]*$/\1/p' | sort -n | uniq); do
    local n; n=$(ls "$d" | grep -c "^v$(printf %08d "$v")\.r[0-9]*$")
    [ "$n" -eq "$np" ] && best=$v
  done
  echo $best
}

RANDOM=$(( 7 * np ))
fail=0
for trial in 1 2 3; do
  step=$(( 12 + RANDOM % 40 )); victim=$(( RANDOM % np )); async=off; [ "$trial" -eq 2 ] && async=on
  d="$work/t$trial"
  cmd=("$mpirun" -n "$np" $flags "$exe" "${args[@]}" --async "$async" --dir "$d")
  if "${cmd[@]}" --crash-at-step "$step" --crash-rank "$victim" > "$d.killed" 2>&1; then cat "$d.killed"; echo "FAIL [$trial]: the run that should die succeeded"; fail=1; continue; fi
  grep -q "killing itself with SIGKILL at step $step" "$d.killed" || { cat "$d.killed"; echo "FAIL [$trial]: no kill"; fail=1; continue; }
  exp=$(newest_complete "$d")
  "${cmd[@]}" > "$d.resumed" 2>&1 || { cat "$d.resumed"; echo "FAIL [$trial]: resumed run failed"; fail=1; continue; }
  if [ "$exp" -gt 0 ]; then
    grep -q "^resumed from version $exp at step" "$d.resumed" || { cat "$d.resumed"; ls "$d/.strata.ranks"; echo "FAIL [$trial]: expected a resume from version $exp (newest every rank held)"; fail=1; continue; }
  elif grep -q "^resumed from" "$d.resumed"; then
    cat "$d.resumed"; echo "FAIL [$trial]: no version was complete everywhere, yet it resumed"; fail=1; continue
  fi
  got=$(tail -n 1 "$d.resumed")
  [ "$got" = "$want" ] || { cat "$d.resumed"; echo "FAIL [$trial]: checksum $got, uninterrupted $want"; fail=1; continue; }
  echo "ok [trial $trial: rank $victim killed at step $step, async $async]: resumed from version $exp (newest every rank held), $got"
done
[ $fail -eq 0 ] && echo PASS
exit $fail
