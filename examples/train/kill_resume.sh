#!/usr/bin/env bash
# SPEC R10b: train killed at step 35 (its last rank SIGKILLed) and run again with the same command
# resumes exactly: for each policy (full, full written in the background, incremental) the resumed
# run must say where it resumed from and print the same `params` hash as an uninterrupted run.
set -u
exe=$1; np=$2; work=$3
mpirun=${MPIEXEC:-mpiexec}
flags=${MPIEXEC_FLAGS:---oversubscribe}
rm -rf "$work"; mkdir -p "$work"
crash_rank=$(( np - 1 ))
args=(--params 4096 --samples 256 --batch 8 --steps 60 --every 10 --quiet)
fail=0
# Ranks share cores: OpenMP threads that spin at Thrust's barriers would starve the other ranks.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}

# The reference, twice: bit-identical run to run, whatever the checkpoint policy and the number of
# OpenMP threads (the gradient sums run in a fixed order).
OMP_NUM_THREADS=1 $mpirun -n "$np" $flags "$exe" "${args[@]}" --dir "$work/clean" > "$work/clean.out" 2>&1 || { cat "$work/clean.out"; echo "FAIL: uninterrupted run failed"; exit 1; }
want=$(tail -n 1 "$work/clean.out")
[[ $want =~ ^params\ [0-9a-f]{16}$ ]] || { cat "$work/clean.out"; echo "FAIL: last line is not a params hash"; exit 1; }
OMP_NUM_THREADS=3 $mpirun -n "$np" $flags "$exe" "${args[@]}" --snapshot incremental --async --dir "$work/clean2" > "$work/clean2.out" 2>&1 || { cat "$work/clean2.out"; echo "FAIL: second uninterrupted run failed"; exit 1; }
again=$(tail -n 1 "$work/clean2.out")
[ "$again" = "$want" ] || { echo "FAIL: two uninterrupted runs differ ($want vs $again)"; exit 1; }

for policy in full async incremental; do
  case $policy in
    full) extra=(--snapshot full) ;;
    async) extra=(--snapshot full --async --step-delay-ms 15) ;;  # time for the writer to commit a version
    incremental) extra=(--snapshot incremental) ;;
  esac
  d="$work/$policy"; mkdir -p "$d"
  cmd=("$mpirun" -n "$np" $flags "$exe" "${args[@]}" "${extra[@]}" --dir "$d/ckpt" --crash-at-step 35 --crash-rank "$crash_rank")
  if "${cmd[@]}" > "$d/killed.out" 2>&1; then cat "$d/killed.out"; echo "FAIL [$policy]: the run that should die succeeded"; fail=1; continue; fi
  grep -q "^train: rank $crash_rank killing itself with SIGKILL at step 35$" "$d/killed.out" || { cat "$d/killed.out"; echo "FAIL [$policy]: no kill"; fail=1; continue; }
  if grep -q "^params " "$d/killed.out"; then cat "$d/killed.out"; echo "FAIL [$policy]: the killed run finished"; fail=1; continue; fi

  "${cmd[@]}" > "$d/resumed.out" 2>&1 || { cat "$d/resumed.out"; echo "FAIL [$policy]: resumed run failed"; fail=1; continue; }
  resumed=$(grep -E "^resumed from version [0-9]+ at step [0-9]+$" "$d/resumed.out")
  # Synchronous: version 3 (step 30) was committed before the kill. In the background the kill may
  # come before version 3 is committed: then an earlier one, still version = step / 10.
  if [ "$policy" = async ]; then
    [[ $resumed =~ ^resumed\ from\ version\ ([123])\ at\ step\ ([0-9]+)$ ]] && [ "${BASH_REMATCH[2]}" = "${BASH_REMATCH[1]}0" ] \
      || { cat "$d/resumed.out"; echo "FAIL [$policy]: did not resume from version 1, 2 or 3 at step 10, 20 or 30"; fail=1; continue; }
  else
    [ "$resumed" = "resumed from version 3 at step 30" ] || { cat "$d/resumed.out"; echo "FAIL [$policy]: did not resume from version 3 at step 30"; fail=1; continue; }
  fi
  got=$(tail -n 1 "$d/resumed.out")
  [ "$got" = "$want" ] || { cat "$d/resumed.out"; echo "FAIL [$policy]: params differ (uninterrupted: $want, resumed: $got)"; fail=1; continue; }
  echo "ok [$policy, np $np]: $resumed, $got"
done
[ $fail -eq 0 ] && echo PASS
exit $fail
