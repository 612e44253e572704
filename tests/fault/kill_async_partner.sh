#!/usr/bin/env bash
# SIGKILL a rank (a) right after version 3 was staged for the background writer (the writer is
# mid-version) and (b) just before rank's shard copy of version 3 is sent to its partner; the
# restarted run must resume from the newest version committed before the kill (2, at step 20,
# unless a writer that fell behind under load superseded a version: the kill then comes at the
# first later version that is written, ":3+") and end with the checksum of an uninterrupted run.
set -u
exe=$1; np=$2; work=$3
mpirun=${MPIEXEC:-mpiexec}
flags=${MPIEXEC_FLAGS:---oversubscribe}
rm -rf "$work"; mkdir -p "$work"
victims="0"; [ "$np" -gt 1 ] && victims="0 $((np - 1))"
base=(--n 64 --steps 40 --every 10 --quiet --step-delay-ms 20)
$mpirun -n "$np" $flags "$exe" "${base[@]}" --dir "$work/clean" > "$work/clean.out" 2>&1 || { cat "$work/clean.out"; echo "FAIL: clean run"; exit 1; }
want=$(tail -n 1 "$work/clean.out")
fail=0
for case in "writer_staged:--async on --snapshot incremental" "sending_partner:--storage partner --async off" "sending_partner:--storage partner --async on"; do
  phase=${case%%:*}; extra=(${case#*:})
  for victim in $victims; do
    d="$work/$phase-$victim-${extra[1]}-${extra[3]}"; rm -rf "$d"
    out=$(STRATA_FAULT="$phase@$victim:3+" $mpirun -n "$np" $flags "$exe" "${base[@]}" "${extra[@]}" --dir "$d" 2>&1)
    if [ $? -eq 0 ]; then echo "$out"; echo "FAIL [$case@$victim]: survived its SIGKILL"; fail=1; continue; fi
    killed=$(echo "$out" | sed -n "s/.*fault injection: SIGKILL at $phase of version \([0-9]*\)$/\1/p" | head -n 1)
    [ -n "$killed" ] || { echo "$out"; echo "FAIL [$case@$victim]: no kill seen"; fail=1; continue; }
    # The newest commit record on disk before the restart: the version the restart must choose.
    newest=$(ls "$d" | sed -n 's/^v0*\([0-9][0-9]*\)\.manifest\.json$/\1/p' | sort -n | tail -n 1)
    # With --async the writer may not have committed any earlier version yet when the victim dies
    # (a loaded machine): then none exists, and the restart must start afresh.
    [ -z "$newest" ] || [ "$newest" -lt "$killed" ] || { echo "$out"; ls "$d"; echo "FAIL [$case@$victim]: killed in version $killed, newest commit record '$newest'"; fail=1; continue; }
    [ -n "$newest" ] || [[ " ${extra[*]} " == *" --async on "* ]] || { echo "$out"; ls "$d"; echo "FAIL [$case@$victim]: killed in version $killed with no version committed (synchronous)"; fail=1; continue; }
    out=$($mpirun -n "$np" $flags "$exe" "${base[@]}" "${extra[@]}" --dir "$d" 2>&1)
    rc=$?
    if [ -n "$newest" ]; then
      step=$((newest * 10))
      expect="^resumed from version $newest at step $step$"
      ok=$(echo "$out" | grep -c "$expect")
    else
      expect="no 'resumed from' (nothing was committed)"
      ok=$(( $(echo "$out" | grep -c "^resumed from") == 0 ))
    fi
    if [ $rc -ne 0 ] || [ "$ok" -eq 0 ] || [ "$(echo "$out" | tail -n 1)" != "$want" ]; then
      echo "$out"; echo "FAIL [$case@$victim]: expected $expect and $want (rc $rc)"; fail=1; continue
    fi
    echo "ok [$case@$victim, np $np]: killed during version $killed, resumed from ${newest:-nothing (fresh start)}, $want"
  done
done
exit $fail
