#!/usr/bin/env bash
# SPEC R9 end to end: a ledger appends one log entry per step and checkpoints every 5 steps.
# A rank is SIGKILLed during the commit of version 5 (step 25: entries 21-25 are in the logs, not
# in a version); the restart restores version 4 and replays them, and is itself killed while a
# rank replays entry 23; the third run replays again and finishes. Its ledger (an order-sensitive
# digest of every entry applied, on every rank) must equal an uninterrupted run's: each entry
# applied once, in order. Sync and async (--async) checkpoints.
set -u
exe=$1; np=$2; work=$3
mpirun=${MPIEXEC:-mpiexec}
flags=${MPIEXEC_FLAGS:---oversubscribe}
victim=$(( np - 1 ))
fail=0
run() { "$mpirun" -n "$np" $flags "$exe" "$@" 2>&1; }
for mode in sync async; do
  extra=(); [ "$mode" = async ] && extra=(--async)
  d="$work/$mode"; rm -rf "$d"; mkdir -p "$d"
  clean=$(run --dir "$d/clean" --steps 40 "${extra[@]}") || { echo "$clean"; echo "FAIL [$mode]: uninterrupted run failed"; fail=1; continue; }
  want=$(echo "$clean" | tail -n 1)
  [[ $want =~ ^ledger\ [0-9a-f]{16}$ ]] || { echo "$clean"; echo "FAIL [$mode]: last line is not a ledger"; fail=1; continue; }

  # 1. killed during the commit of version 5 (async: as soon as it is staged, before the writer
  # thread has written it)
  point=after_shard; [ "$mode" = async ] && point=writer_staged
  out=$(STRATA_FAULT="$point@$victim:5" run --dir "$d/ckpt" --steps 40 "${extra[@]}")
  if [ $? -eq 0 ]; then echo "$out"; echo "FAIL [$mode]: the run survived its SIGKILL"; fail=1; continue; fi
  echo "$out" | grep -q "fault injection: SIGKILL at $point of version 5" || { echo "$out"; echo "FAIL [$mode]: no kill during version 5"; fail=1; continue; }

  # 2. the restart replays entries 21-25 and is killed while the victim applies entry 23
  out=$(STRATA_FAULT="replaying_log@$victim:23" run --dir "$d/ckpt" --steps 40 "${extra[@]}")
  if [ $? -eq 0 ]; then echo "$out"; echo "FAIL [$mode]: the replay survived its SIGKILL"; fail=1; continue; fi
  echo "$out" | grep -q "fault injection: SIGKILL at replaying_log of version 23" || { echo "$out"; echo "FAIL [$mode]: no kill during the replay"; fail=1; continue; }

  # 3. the replay redone from version 4, then the run to the end
  out=$(run --dir "$d/ckpt" --steps 40 "${extra[@]}") || { echo "$out"; echo "FAIL [$mode]: the last restart failed"; fail=1; continue; }
  # Sync: version 4 (step 20) is committed when version 5's commit is killed. Async: version 5 was
  # staged behind version 4, whose background write may not have committed yet; a writer slower
  # than the steps (a loaded node, a sanitizer) has had waiting periodic versions superseded, so
  # the newest committed one can be older still: any of 1-4, with the replay that goes with it.
  v=$(echo "$out" | sed -n 's/^resumed from version \([0-9]*\) at step 25, replayed [0-9]* log entries$/\1/p')
  ok_versions="4"; [ "$mode" = async ] && ok_versions="1 2 3 4"
  [[ " $ok_versions " == *" $v "* ]] && echo "$out" | grep -q "^resumed from version $v at step 25, replayed $(( (25 - 5 * v) * np )) log entries$" ||
    { echo "$out"; echo "FAIL [$mode]: expected version $ok_versions and (25 - 5 x version) x $np entries replayed"; fail=1; continue; }
  got=$(echo "$out" | tail -n 1)
  echo "[$mode] uninterrupted: $want"
  echo "[$mode] resumed:       $got"
  [ "$got" = "$want" ] || { echo "$out"; echo "FAIL [$mode]: ledgers differ"; fail=1; continue; }
done
[ $fail -eq 0 ] && echo PASS
exit $fail
